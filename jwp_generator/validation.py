"""Rules for every answer of the template, checked before cookiecutter writes a file.

Each refused answer becomes one ``Problem``: the variable, the value, the rule (a sentence and a
short code in brackets) and a value that would pass, printed on one line. ``check_answers`` runs
every rule; ``main`` prints the problems (copier's task uses it), and the Jinja extension runs
the same check when cookiecutter names the project folder, so a refused answer leaves nothing
behind.

Names derived from other answers (the slug from ``plugin_name``, the package and runner names
from the slug) are checked like given ones; a refusal of a derived name says where it came from,
and names derived from an already refused name are not reported twice.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from jwp_generator.naming import message_names, pascal_case, split_methods

# Names that JobWorkerP resolves before it looks at plugins: a plugin named like one is shadowed.
BUILT_IN_RUNNER_NAMES = frozenset(
    {
        "COMMAND",
        "DOCKER",
        "LLM",
        "PLUGIN",
        "WORKFLOW",
        "HTTP_REQUEST",
        "GRPC_UNARY",
        "PYTHON_COMMAND",
        "MCP_SERVER",
    }
)
# Methods of the runner contract (V1, plus V2's and the entry points); a plugin method named like
# one of them reads as a contract call in logs, adapters and code. ``run`` is the exception: it is
# the default method's name.
CONTRACT_METHOD_NAMES = frozenset(
    {
        "name",
        "description",
        "load",
        "begin_stream",
        "receive_stream",
        "cancel",
        "is_canceled",
        "runner_settings_proto",
        "method_proto_map",
        "method_json_schema_map",
        "settings_schema",
        "collect_stream",
        "supports_client_stream",
        "client_stream_data_proto",
        "setup_client_stream_channel",
        "setup_client_stream_channel_v2",
        "run_stream",
        "set_cancellation_token",
        "load_multi_method_plugin",
        "free_multi_method_plugin",
    }
)
DEFAULT_METHOD = "run"
# JobWorkerP's FunctionService and LLM tools name a method "<runner>___<method>" and split there.
FUNCTION_SEPARATOR = "___"
# Tool names that JobWorkerP's MCP runner refuses; a method can also be served as an MCP tool.
MCP_RESERVED_TOOL_NAMES = frozenset({"all", "default", "none", "system"})
MCP_TOOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Names Windows cannot use for a file or folder, whatever the extension.
WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)
# Soft keywords of every Python the plugin may run on (``type`` since 3.12), whatever runs this.
SOFT_KEYWORDS = frozenset({"_", "case", "match", "type", *keyword.softkwlist})
# The standard library of every supported Python, not only the one running the generator:
# modules removed in 3.12 and 3.13 still exist on the oldest supported versions, and modules
# added after 3.10 exist on the newer ones.
STDLIB_NAMES = frozenset(
    {
        *sys.stdlib_module_names,
        # removed in 3.12
        "asynchat",
        "asyncore",
        "distutils",
        "imp",
        "smtpd",
        # removed in 3.13
        "aifc",
        "audioop",
        "cgi",
        "cgitb",
        "chunk",
        "crypt",
        "imghdr",
        "lib2to3",
        "mailcap",
        "msilib",
        "nis",
        "nntplib",
        "ossaudiodev",
        "pipes",
        "sndhdr",
        "spwd",
        "sunau",
        "telnetlib",
        "uu",
        "xdrlib",
        # added in 3.11 and 3.14
        "tomllib",
        "annotationlib",
        "compression",
    }
)
# Import names a plugin must not shadow: its dependencies, the tools that build and test it, and
# the files next to the package in the project.
DEPENDENCY_IMPORT_NAMES = frozenset(
    {
        "google",
        "grpc",
        "grpc_tools",
        "hatchling",
        "hatch_build",
        "pytest",
        "pluggy",
        "iniconfig",
        "packaging",
        "mypy",
        "mypy_extensions",
        "typing_extensions",
        "ruff",
        "mcp",
        "cookiecutter",
        "jinja2",
        "setuptools",
        "pkg_resources",
        "pip",
        "build",
        "wheel",
        "tomli",
        "exceptiongroup",
        "conftest",
        "test",
        "tests",
    }
)
# Rust's keywords, strict and reserved, in every edition (2018's `async`, `await`, `dyn`, `try`;
# 2024's `gen`): a crate, module or function so named needs `r#` everywhere, and Cargo refuses
# such a package name.
RUST_KEYWORDS = frozenset(
    {
        *("as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn"),
        *("for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref"),
        *("return", "self", "Self", "static", "struct", "super", "trait", "true", "type"),
        *("unsafe", "use", "where", "while", "async", "await", "dyn", "abstract", "become"),
        *("box", "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual"),
        *("yield", "try", "gen"),
    }
)
# Library names a Rust plugin must not take: the language's own crates (Cargo refuses them as
# package names) and the crates the generated plugin depends on, which it would shadow.
RUST_RESERVED_CRATES = frozenset(
    {
        *("std", "core", "alloc", "proc_macro", "test", "build", "deps", "examples"),
        *("incremental", "jobworkerp_plugin_abi", "jobworkerp_plugin_abi_macros", "async_ffi"),
        *("prost", "prost_build", "prost_types", "protoc_bin_vendored", "tokio", "libloading"),
        *("serde_json", "plugin", "framework", "runner", "protos"),
    }
)
# The generated package exports these; the runner class ``<runner_name>Runner`` must differ.
FRAMEWORK_EXPORTS = frozenset({"MultiMethodPluginRunner"})
# The choice variables and their values, read from the template's own questions: cookiecutter
# offers exactly these (copier.yml is kept in step by tests/test_copier.py).
QUESTIONS_FILE = Path(__file__).resolve().parent.parent / "cookiecutter.json"


def read_choices(questions_file: Path = QUESTIONS_FILE) -> dict[str, tuple[str, ...]]:
    """Every choice variable of ``cookiecutter.json`` (a list value) with its choices."""
    questions = json.loads(questions_file.read_text("utf-8"))
    return {
        variable: tuple(value)
        for variable, value in questions.items()
        if isinstance(value, list) and not variable.startswith("_")
    }


CHOICES = read_choices()
# Long enough for real names, short enough that generated lines stay within 100 columns.
MAX_NAME_LENGTH = 40
MAX_METHOD_LENGTH = 30
MAX_TEXT_LENGTH = 200
MAX_METHODS = 32
MAX_EMAIL_LENGTH = 254
# How much of a refused value a message repeats.
SHOWN_VALUE_LENGTH = 80

SLUG_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
SNAKE_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
PASCAL_RE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
# PEP 508 project names, and PEP 503 normalisation.
PROJECT_NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_RE = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$")
# Everything ``str.splitlines`` splits on: none of it may appear in a one-line answer.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
# Bidirectional controls make source text read differently from what runs (CVE-2021-42574).
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

EXAMPLES = {
    "plugin_name": "Hello World",
    "language": "python",
    "plugin_slug": "hello-world",
    "package_name": "hello_world",
    "runner_name": "HelloWorld",
    "description": "Greets whoever it is given.",
    "methods": "run, summarize_text",
    "streaming_mode": "both",
    "feed_methods": "",
    "author_name": "Ada Lovelace",
    "author_email": "ada@example.com",
    "license": "MIT",
    "python_min": "3.10",
}
VARIABLES = tuple(EXAMPLES)
# A Rust-refused name gets this suffix in the valid example (``fn`` -> ``fn-plugin``).
RUST_SUFFIXES = {"plugin_slug": "-plugin", "package_name": "_plugin"}


class Problem:
    """One refused answer: which, what it was, the rule it breaks and a value that passes.

    A plain class rather than a dataclass: copier's task imports this module in a process of its
    own on every render, and ``dataclasses`` (with ``inspect``) would double what that import
    costs.
    """

    __slots__ = ("code", "example", "rule", "value", "variable")

    def __init__(
        self, variable: str, value: str, rule: str, example: str, code: str = "invalid"
    ) -> None:
        self.variable = variable
        self.value = value
        self.rule = rule
        self.example = example
        self.code = code

    def _fields(self) -> tuple[str, str, str, str, str]:
        return (self.variable, self.value, self.rule, self.example, self.code)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Problem) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return "Problem({})".format(", ".join(map(repr, self._fields())))

    def __str__(self) -> str:
        shown = self.value
        if len(shown) > SHOWN_VALUE_LENGTH:
            shown = shown[:SHOWN_VALUE_LENGTH] + "..."
        return (
            f"{self.variable} = {shown!r}: {self.rule} [{self.code}]. "
            f"Valid example: {self.variable}={self.example!r}"
        )


# A failed rule: (code, sentence).
Failure = tuple[str, str]


def normalize_project_name(name: str) -> str:
    """PEP 503 normalisation of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_project_name(name: str) -> bool:
    """A valid PEP 508 project name, already in PEP 503 normal form."""
    return bool(PROJECT_NAME_RE.fullmatch(name)) and normalize_project_name(name) == name


def transliterate(text: str) -> str | None:
    """The folder name cookiecutter derives from ``plugin_name`` (its ``slugify`` filter).

    ``None`` when python-slugify, which cookiecutter brings, is not installed.
    """
    try:
        from slugify import slugify
    except ImportError:
        return None
    return slugify(text)


def text_failure(value: str) -> Failure | None:
    """A one-line free-text answer: plugin name, description, author."""
    if not value.strip():
        return "required", "must not be empty"
    if any(char in LINE_BREAKS for char in value):
        return (
            "one-line",
            "must be one line: a newline or other line break is refused, not folded",
        )
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        return (
            "control-character",
            "must be printable text: no tab, NUL, escape or other control character",
        )
    if any(char in BIDI_CONTROLS for char in value):
        return (
            "bidi-control",
            "must not contain bidirectional control characters, which make generated source "
            "read differently from what runs",
        )
    if value != value.strip():
        return "surrounding-blank", "must not start or end with a blank"
    if len(value) > MAX_TEXT_LENGTH:
        return "too-long", f"must be at most {MAX_TEXT_LENGTH} characters"
    return None


def slug_failure(value: str) -> Failure | None:
    """The project folder and distribution name."""
    if not value:
        return "required", "must not be empty"
    if not SLUG_RE.fullmatch(value):
        return (
            "slug-format",
            "must be lowercase ASCII letters and digits in words joined by single dashes, "
            "starting with a letter (a folder name and a normalised distribution name)",
        )
    if len(value) > MAX_NAME_LENGTH:
        return "too-long", f"must be at most {MAX_NAME_LENGTH} characters"
    if value in WINDOWS_RESERVED:
        return "windows-reserved", "is a device name Windows reserves and cannot be a folder"
    if not is_project_name(value):
        return "distribution-name", "must be a normalised distribution name (PEP 503 and 508)"
    return None


def package_failure(value: str) -> Failure | None:
    """The import name, which is also the proto package."""
    if not value:
        return "required", "must not be empty"
    if not SNAKE_RE.fullmatch(value):
        return (
            "identifier-format",
            "must be a Python identifier in lowercase snake_case (ASCII letters, digits, "
            "single underscores), starting with a letter",
        )
    if len(value) > MAX_NAME_LENGTH:
        return "too-long", f"must be at most {MAX_NAME_LENGTH} characters"
    if keyword.iskeyword(value):
        return "python-keyword", "is a Python keyword"
    if value in SOFT_KEYWORDS:
        return "soft-keyword", "is a Python soft keyword"
    if value in STDLIB_NAMES:
        return "stdlib-clash", "is the name of a standard-library module, which it would shadow"
    if value in DEPENDENCY_IMPORT_NAMES:
        return (
            "dependency-clash",
            "is the import name of a dependency, tool or project file, which it would shadow",
        )
    if value in WINDOWS_RESERVED:
        return "windows-reserved", "is a device name Windows reserves and cannot be a folder"
    return None


def runner_failure(value: str) -> Failure | None:
    """What ``name()`` returns; also the prefix of the runner class and settings message."""
    if not value:
        return "required", "must not be empty"
    if not PASCAL_RE.fullmatch(value):
        return (
            "pascal-format",
            "must be PascalCase ASCII letters and digits, starting with an uppercase letter",
        )
    if len(value) > MAX_NAME_LENGTH:
        return "too-long", f"must be at most {MAX_NAME_LENGTH} characters"
    if value in BUILT_IN_RUNNER_NAMES:
        return (
            "builtin-runner",
            "is the name of a JobWorkerP built-in runner, which would shadow the plugin",
        )
    if f"{value}Runner" in FRAMEWORK_EXPORTS:
        return (
            "framework-name",
            f"would name the runner class {value}Runner, which the framework already exports",
        )
    return None


def rust_name_failure(value: str, what: str) -> Failure | None:
    """The Rust flavor's extra rules for a crate, library or method name."""
    if value in RUST_KEYWORDS or value.replace("-", "_") in RUST_KEYWORDS:
        return "rust-keyword", f"is a Rust keyword, which cannot name a {what}"
    if what != "function" and value.replace("-", "_") in RUST_RESERVED_CRATES:
        return (
            "rust-reserved",
            f"is the name of a Rust built-in or dependency crate, which cannot name the {what}",
        )
    return None


def rust_failures(answers: Mapping[str, str]) -> Iterator[tuple[str, Failure]]:
    """(variable, failure) for every Rust rule the answers break (``language=rust`` only)."""
    if answers.get("language") != "rust":
        return
    for variable, what in (("plugin_slug", "Cargo package"), ("package_name", "library")):
        value = answers.get(variable)
        if isinstance(value, str) and (failure := rust_name_failure(value, what)):
            yield variable, failure
    methods = answers.get("methods")
    if isinstance(methods, str):
        for name in split_methods(methods):
            if failure := rust_name_failure(name, "function"):
                yield "methods", (failure[0], f"method {name!r} {failure[1]}")


def rust_example(variable: str, answers: Mapping[str, str]) -> str:
    """A value of ``variable`` that passes the Python and the Rust rules."""
    if variable == "methods":
        return "run"
    rule = slug_failure if variable == "plugin_slug" else package_failure
    candidate = answers[variable] + RUST_SUFFIXES[variable]
    passes = rule(candidate) is None and rust_name_failure(candidate, variable) is None
    return candidate if passes else EXAMPLES[variable]


def method_failure(value: str) -> Failure | None:
    """One method name: a ``using`` value, file stem, message-name stem and MCP tool name."""
    if not value:
        return "method-empty", "has an empty method name (two commas in a row or a trailing comma)"
    if FUNCTION_SEPARATOR in value:
        return (
            "function-separator",
            f"contains {FUNCTION_SEPARATOR!r}, which JobWorkerP's FunctionService uses to "
            "separate runner and method",
        )
    if not SNAKE_RE.fullmatch(value):
        return (
            "method-format",
            "must be lowercase snake_case (ASCII letters, digits, single underscores), "
            "starting with a letter",
        )
    if len(value) > MAX_METHOD_LENGTH:
        return "too-long", f"must be at most {MAX_METHOD_LENGTH} characters"
    if keyword.iskeyword(value):
        return "python-keyword", "is a Python keyword"
    if value in SOFT_KEYWORDS:
        return "soft-keyword", "is a Python soft keyword"
    if value in CONTRACT_METHOD_NAMES:
        return "contract-method", "is the name of a method of the runner contract itself"
    if value in MCP_RESERVED_TOOL_NAMES or not MCP_TOOL_RE.fullmatch(value):
        return "mcp-tool-name", "is a tool name JobWorkerP's MCP runner refuses"
    return None


def methods_failures(value: str) -> Iterator[Failure]:
    """The comma-separated method list: every name, then uniqueness of names and messages."""
    names = split_methods(value)
    if not any(names):
        yield "methods-empty", "must name at least one method"
        return
    if len(names) > MAX_METHODS:
        yield "methods-count", f"must list at most {MAX_METHODS} methods"
        return
    seen: set[str] = set()
    stems: dict[str, str] = {}
    for name in names:
        failure = method_failure(name)
        if failure:
            code, sentence = failure
            yield code, f"method {name!r} {sentence}"
            continue
        if name in seen:
            yield "duplicate-method", f"method {name!r} is listed twice"
            continue
        seen.add(name)
        stem = pascal_case(name)
        if stem in stems:
            args, result = message_names(name)
            yield (
                "message-collision",
                f"methods {stems[stem]!r} and {name!r} give the same message names "
                f"({args}, {result})",
            )
            continue
        stems[stem] = name


def feed_failures(value: str, methods: str, streaming_mode: str) -> Iterator[Failure]:
    """The comma-separated feed methods: each one of ``methods``, once; streaming output needed.

    A feed method (JobWorkerP's client stream) takes data while it runs and answers as a
    stream: the server sets up the feed channel for streaming jobs only, so a plugin that
    cannot stream cannot have one.
    """
    if not value.strip():
        return
    names = split_methods(value)
    listed = set(split_methods(methods))
    seen: set[str] = set()
    for name in names:
        if not name:
            yield (
                "method-empty",
                "has an empty method name (two commas in a row or a trailing comma)",
            )
        elif name not in listed:
            yield "feed-method-unknown", f"method {name!r} is not one of methods ({methods})"
        elif name in seen:
            yield "duplicate-method", f"method {name!r} is listed twice"
        seen.add(name)
    if streaming_mode == "non_streaming":
        yield (
            "feed-needs-stream",
            "needs a streaming_mode that streams (both or streaming): a feed method answers "
            "as a stream, the only way JobWorkerP runs a client stream",
        )


def feed_example(value: str, methods: str) -> str:
    """The listed feed methods that are methods, each once (may be empty: no feed method)."""
    listed = split_methods(methods)
    chosen = [name for name in dict.fromkeys(split_methods(value)) if name in listed]
    return ", ".join(chosen)


def email_failure(value: str) -> Failure | None:
    if len(value) > MAX_EMAIL_LENGTH or not EMAIL_RE.fullmatch(value):
        return (
            "email",
            "must be an ASCII e-mail address: one '@', a dotted domain, no blanks, quotes, "
            "angle brackets or backslashes",
        )
    return None


def choice_failure(variable: str, value: str) -> Failure | None:
    allowed = CHOICES[variable]
    return None if value in allowed else ("choice", f"must be one of {', '.join(allowed)}")


def _first_passing(candidates: Iterable[str], rule: Callable[[str], Failure | None]) -> str | None:
    for candidate in candidates:
        if candidate and rule(candidate) is None:
            return candidate
    return None


def _derived_slug(plugin_name: object) -> str | None:
    return transliterate(plugin_name) if isinstance(plugin_name, str) else None


def _derived_from_slug(slug: object) -> tuple[str, str] | None:
    """Package and runner names as ``cookiecutter.json`` derives them from a slug."""
    if not isinstance(slug, str):
        return None
    return slug.replace("-", "_"), pascal_case(slug.replace("-", "_"))


def _check_names(answers: Mapping[str, object]) -> Iterator[Problem]:
    """plugin_slug, package_name and runner_name, each with a note when it was derived."""
    name, slug = answers.get("plugin_name"), answers.get("plugin_slug")
    slug_refused = False
    if isinstance(slug, str):
        failure = slug_failure(slug)
        if failure:
            slug_refused = True
            code, sentence = failure
            example = _first_passing([transliterate(slug) or ""], slug_failure)
            if slug == _derived_slug(name):
                sentence += (
                    f"; it was derived from plugin_name {name!r} by transliteration, so change "
                    "plugin_name or give plugin_slug"
                )
            yield Problem("plugin_slug", slug, sentence, example or EXAMPLES["plugin_slug"], code)
    derived = _derived_from_slug(slug)
    for index, (variable, rule, suffixes) in enumerate(
        (
            ("package_name", package_failure, ("_plugin", "_runner")),
            ("runner_name", runner_failure, ("Plugin", "Runner")),
        )
    ):
        value = answers.get(variable)
        if not isinstance(value, str):
            continue
        from_slug = derived is not None and value == derived[index]
        if from_slug and slug_refused:
            continue  # fixing plugin_slug fixes this one
        failure = rule(value)
        if failure is None:
            continue
        code, sentence = failure
        if from_slug:
            sentence += f"; it was derived from plugin_slug {slug!r}, so give {variable}"
        example = _first_passing((value + suffix for suffix in suffixes), rule)
        yield Problem(variable, value, sentence, example or EXAMPLES[variable], code)


def check_answers(answers: Mapping[str, object]) -> list[Problem]:
    """Every problem with the answers, in the order of ``cookiecutter.json``."""
    problems: list[Problem] = []
    for variable in VARIABLES:
        value = answers.get(variable)
        if not isinstance(value, str):
            problems.append(
                Problem(variable, repr(value), "must be given as text", EXAMPLES[variable], "text")
            )
    texts = {key: value for key, value in answers.items() if isinstance(value, str)}
    for variable in ("plugin_name", "description", "author_name"):
        if variable in texts and (failure := text_failure(texts[variable])):
            problems.append(
                Problem(variable, texts[variable], failure[1], EXAMPLES[variable], failure[0])
            )
    problems.extend(_check_names(answers))
    if "methods" in texts:
        for code, sentence in methods_failures(texts["methods"]):
            problems.append(
                Problem("methods", texts["methods"], sentence, EXAMPLES["methods"], code)
            )
    if {"feed_methods", "methods", "streaming_mode"} <= texts.keys():
        for code, sentence in feed_failures(
            texts["feed_methods"], texts["methods"], texts["streaming_mode"]
        ):
            example = (
                ""
                if code == "feed-needs-stream"
                else feed_example(texts["feed_methods"], texts["methods"])
            )
            problems.append(Problem("feed_methods", texts["feed_methods"], sentence, example, code))
    if "author_email" in texts and (failure := email_failure(texts["author_email"])):
        problems.append(
            Problem(
                "author_email",
                texts["author_email"],
                failure[1],
                EXAMPLES["author_email"],
                failure[0],
            )
        )
    for variable in CHOICES:
        if variable in texts and (failure := choice_failure(variable, texts[variable])):
            problems.append(
                Problem(variable, texts[variable], failure[1], EXAMPLES[variable], failure[0])
            )
    refused = {problem.variable for problem in problems}
    derived = _derived_from_slug(texts.get("plugin_slug"))
    for variable, (code, sentence) in rust_failures(texts):
        # One problem per variable; a package name derived from a refused slug follows the slug.
        from_refused_slug = (
            variable == "package_name"
            and "plugin_slug" in refused
            and derived is not None
            and texts[variable] == derived[0]
        )
        if variable not in refused and not from_refused_slug:
            refused.add(variable)
            problems.append(
                Problem(variable, texts[variable], sentence, rust_example(variable, texts), code)
            )
    order = {variable: index for index, variable in enumerate(VARIABLES)}
    return sorted(problems, key=lambda problem: order[problem.variable])


def refusal(problems: Iterable[Problem], recovery: str = "") -> str:
    """What the user reads: one ``error:`` line per problem, then what to do.

    ``recovery`` says how to get the answers back (see ``jwp_generator.recovery``).
    """
    lines = [f"error: {problem}" for problem in problems]
    lines.append(
        "Nothing was generated. " + (recovery or "Run cookiecutter again with corrected answers.")
    )
    return "\n".join(lines)


def main(answers: Mapping[str, object]) -> int:
    """Print the problems to stderr, one per line; 0 when there are none."""
    problems = check_answers(answers)
    if problems:
        print(refusal(problems), file=sys.stderr)
    return 1 if problems else 0
