"""Rules for every answer of the template, checked before cookiecutter writes a file.

Each rule returns ``None`` when the value is fine, or a ``Problem`` that names the variable, the
value, the rule and a value that would pass. ``check_answers`` runs every rule and
``main`` prints the problems one per line, as the pre-generation hook shows them.
"""

from __future__ import annotations

import keyword
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from jwp_generator.naming import pascal_case, split_methods

# Names that JobWorkerP resolves before it looks at plugins: a plugin named like one is shadowed.
BUILT_IN_RUNNER_NAMES = frozenset(
    {"COMMAND", "DOCKER", "LLM", "PLUGIN", "WORKFLOW", "HTTP_REQUEST", "GRPC_UNARY", "PYTHON_COMMAND"}
)
# Methods of the runner contract itself; a plugin method named like one of them reads as a contract
# call in logs and code. ``run`` is the exception: it is the default method's name.
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
    }
)
# Tool names that JobWorkerP's MCP runner refuses; a method is also an MCP tool (MCP adapter).
MCP_RESERVED_TOOL_NAMES = frozenset({"all", "default", "none", "system"})
# Folder names that Windows cannot create, whatever the extension.
WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(1, 10)} | {f"lpt{i}" for i in range(1, 10)}
)
# Import names a plugin must not shadow: its own dependencies and the tools that load it.
DEPENDENCY_IMPORT_NAMES = frozenset(
    {
        "google",
        "grpc",
        "grpc_tools",
        "hatchling",
        "pytest",
        "mcp",
        "cookiecutter",
        "jinja2",
        "setuptools",
        "pip",
        "test",
        "tests",
    }
)
CHOICES = {
    "streaming_mode": ("both", "non_streaming", "streaming"),
    "license": ("MIT", "Apache-2.0", "BSD-3-Clause", "Proprietary"),
    "python_min": ("3.10", "3.11", "3.12", "3.13"),
}
# Long enough for real names, short enough that generated lines stay within 100 columns.
MAX_NAME_LENGTH = 40
MAX_METHOD_LENGTH = 30
MAX_TEXT_LENGTH = 200
MAX_METHODS = 32

SLUG_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
SNAKE_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
PASCAL_RE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
EMAIL_RE = re.compile(r"^[^@\s\"'<>\\]+@[^@\s\"'<>\\]+\.[^@\s\"'<>\\]+$")


@dataclass(frozen=True)
class Problem:
    """One refused answer."""

    variable: str
    value: str
    rule: str
    example: str

    def __str__(self) -> str:
        return f"{self.variable} = {self.value!r}: {self.rule}. Example: {self.example!r}"


Rule = Callable[[str, str], "str | None"]


def _one_line_text(value: str) -> str | None:
    if not value.strip():
        return "must not be empty"
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in value):
        return "must be one line of printable text (no newline, tab or other control character)"
    if len(value) > MAX_TEXT_LENGTH:
        return f"must be at most {MAX_TEXT_LENGTH} characters"
    return None


def _plugin_name(value: str) -> str | None:
    problem = _one_line_text(value)
    if problem:
        return problem
    if not re.search(r"[A-Za-z]", unicodedata.normalize("NFKD", value)):
        return "must contain a Latin letter, so that a folder name can be derived from it"
    return None


def _slug(value: str) -> str | None:
    if not SLUG_RE.match(value):
        return "must be lowercase ASCII letters and digits in words joined by single dashes, starting with a letter"
    if len(value) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters"
    if value in WINDOWS_RESERVED:
        return "is a device name Windows reserves and cannot be a folder"
    return None


def _package(value: str) -> str | None:
    if not SNAKE_RE.match(value):
        return "must be a Python identifier in lowercase snake_case (ASCII letters, digits, single underscores)"
    if len(value) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters"
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return "is a Python keyword"
    if value in sys.stdlib_module_names:
        return "is the name of a standard-library module, which it would shadow"
    if value in DEPENDENCY_IMPORT_NAMES:
        return "is the import name of a dependency or tool the plugin needs, which it would shadow"
    if value in WINDOWS_RESERVED:
        return "is a device name Windows reserves and cannot be a folder"
    return None


def _runner(value: str) -> str | None:
    if not PASCAL_RE.match(value):
        return "must be PascalCase ASCII letters and digits, starting with an uppercase letter"
    if len(value) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters"
    if value in BUILT_IN_RUNNER_NAMES:
        return "is the name of a JobWorkerP built-in runner, which would shadow the plugin"
    return None


def _method(value: str) -> str | None:
    if not SNAKE_RE.match(value):
        return "must be lowercase snake_case (ASCII letters, digits, single underscores), starting with a letter"
    if len(value) > MAX_METHOD_LENGTH:
        return f"must be at most {MAX_METHOD_LENGTH} characters"
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return "is a Python keyword"
    if value in CONTRACT_METHOD_NAMES:
        return "is the name of a method of the runner contract itself"
    if value in MCP_RESERVED_TOOL_NAMES:
        return "is a tool name JobWorkerP's MCP runner refuses"
    return None


def _methods(value: str) -> Iterator[str]:
    names = split_methods(value)
    if len(names) > MAX_METHODS:
        yield f"must list at most {MAX_METHODS} methods"
        return
    seen: dict[str, str] = {}
    for name in names:
        problem = _method(name)
        if problem:
            yield f"method {name!r} {problem}"
            continue
        stem = pascal_case(name)
        if stem in seen:
            yield f"methods {seen[stem]!r} and {name!r} give the same message names ({stem}Args)"
        seen.setdefault(stem, name)


def _email(value: str) -> str | None:
    if not EMAIL_RE.match(value) or len(value) > MAX_TEXT_LENGTH:
        return "must be an e-mail address: one '@', a dot in the domain, no spaces or quotes"
    return None


def _choice(variable: str) -> Rule:
    def check(value: str, _: str) -> str | None:
        allowed = CHOICES[variable]
        return None if value in allowed else f"must be one of {', '.join(allowed)}"

    return check


def _single(check: Callable[[str], str | None]) -> Rule:
    return lambda value, _: check(value)


EXAMPLES = {
    "plugin_name": "Hello World",
    "plugin_slug": "hello-world",
    "package_name": "hello_world",
    "runner_name": "HelloWorld",
    "description": "Greets whoever it is given.",
    "methods": "run, summarize_text",
    "streaming_mode": "both",
    "author_name": "Ada Lovelace",
    "author_email": "ada@example.com",
    "license": "MIT",
    "python_min": "3.10",
}

RULES: dict[str, Rule] = {
    "plugin_name": _single(_plugin_name),
    "plugin_slug": _single(_slug),
    "package_name": _single(_package),
    "runner_name": _single(_runner),
    "description": _single(_one_line_text),
    "author_name": _single(_one_line_text),
    "author_email": _single(_email),
    "streaming_mode": _choice("streaming_mode"),
    "license": _choice("license"),
    "python_min": _choice("python_min"),
}


def check_answers(answers: Mapping[str, object]) -> list[Problem]:
    """Every problem with the answers, in the order of ``cookiecutter.json``."""
    problems: list[Problem] = []
    for variable in EXAMPLES:
        value = answers.get(variable)
        if not isinstance(value, str):
            problems.append(Problem(variable, repr(value), "must be given as text", EXAMPLES[variable]))
        elif variable == "methods":
            problems.extend(Problem(variable, value, message, EXAMPLES[variable]) for message in _methods(value))
        else:
            message = RULES[variable](value, variable)
            if message:
                problems.append(Problem(variable, value, message, EXAMPLES[variable]))
    return problems


def main(answers: Mapping[str, object]) -> int:
    """Print each problem on one line to stderr; 0 when there are none."""
    problems = check_answers(answers)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print("Nothing was generated. Run cookiecutter again with corrected answers.", file=sys.stderr)
    return 1 if problems else 0
