"""Jinja extension of the template: the hooks' way home, and a sort that matches ruff's.

Cookiecutter renders hook scripts into a temporary file and runs them from the new project's
folder, so a hook cannot find its sibling modules by itself. Cookiecutter (and cruft) put the
template's folder on ``sys.path`` to load this extension; the extension hands that location to
the hook templates as ``generator_root``, and the folder cookiecutter was run from as
``invocation_dir`` (the summary's paths are relative to it).

``natural_sort`` orders names the way ruff's import sorter does (``step9`` before ``step10``),
so that generated import lists pass ``ruff check`` whatever the method names are.

``method_names`` and ``pascal`` are ``jwp_generator.naming``'s rules (the method list split at
commas and trimmed; a snake_case name in PascalCase, as message names are made), so templates,
the per-method protos and the answer checks derive names the same way. ``rust_type`` is the
name prost-build gives a message's Rust type (``HTTPArgs`` becomes ``HttpArgs``).
``default_method`` and ``sample_method`` say which method a job without ``using`` gets and
which one holds the sample work.

The tests ``python`` and ``rust`` (``{% if cookiecutter is rust %}Cargo.toml{% endif %}``) name
the files of one language flavor (see ``jwp_generator.flavors``).

``python_text``, ``rust_text`` and ``markdown_text`` write free-text answers into Python and Rust
string literals and Markdown as data (see ``jwp_generator.escaping``).

Cookiecutter creates the project folder before it would run a pre-generation hook, and a
refused hook only removes that one folder: a slug such as ``a/b`` would leave ``a/`` behind. So the
extension checks every answer when cookiecutter renders the project folder's name, before
anything exists, and refuses there, naming the way back to the answers typed
(``jwp_generator.recovery``). There is no pre-generation hook: it would only repeat this check
in a process of its own.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from jinja2 import Environment, pass_context
from jinja2.ext import Extension
from jinja2.runtime import Context

from jwp_generator.escaping import markdown_text, python_text, rust_text
from jwp_generator.flavors import LANGUAGES, language_of
from jwp_generator.naming import (
    default_method,
    pascal_case,
    rust_type_name,
    sample_method,
    split_methods,
)
from jwp_generator.recovery import recovery
from jwp_generator.validation import VARIABLES, check_answers, refusal

GENERATOR_ROOT = str(Path(__file__).resolve().parent.parent)
# Where the user ran cookiecutter: it imports this module (to build its first Jinja environment)
# before it changes folders, and hooks run inside the new project, so this is kept for them.
INVOCATION_DIR = os.getcwd()


def natural_key(name: str) -> list[tuple[int, int | str]]:
    """Sort key: digit runs compare as numbers, everything else as lowercase text."""
    return [
        (0, int(part)) if part.isdigit() else (1, part.lower())
        for part in re.split(r"(\d+)", name)
        if part
    ]


def natural_sort(names: Iterable[str]) -> list[str]:
    return sorted(names, key=natural_key)


# The name of the template's project folder, as cookiecutter renders it.
PROJECT_FOLDER_SOURCE = "{{cookiecutter.plugin_slug}}"
CHECKED_PROJECT_FOLDER_SOURCE = "{{ cookiecutter.plugin_slug | jwp_checked_folder_name }}"


class AnswersRefused(ValueError):
    """Answers refused while naming the project folder (outside cookiecutter)."""


def _refused(message: str) -> Exception:
    # Cookiecutter's command line prints a FailedHookException as one clean message and exits 1;
    # elsewhere (no cookiecutter installed) a plain ValueError carries the same text.
    try:
        exceptions = importlib.import_module("cookiecutter.exceptions")
    except ImportError:
        return AnswersRefused(message)
    error: Exception = exceptions.FailedHookException(message)
    return error


@pass_context
def checked_folder_name(context: Context, slug: str) -> str:
    """``slug`` unchanged when every answer passes; otherwise refuse before any folder exists."""
    answers = context.get("cookiecutter")
    if isinstance(answers, Mapping):
        problems = check_answers(answers)
        if problems:
            raise _refused(refusal(problems, recovery(answers, VARIABLES, Path(INVOCATION_DIR))))
    return slug


def _flavor_test(language: str) -> Callable[[object], bool]:
    """The Jinja test ``answers is <language>``, used in conditional file names."""

    def test(answers: object) -> bool:
        return isinstance(answers, Mapping) and language_of(answers) == language

    return test


class GeneratorExtension(Extension):
    """Adds ``generator_root``, the text filters, and the answer check on the folder name."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals["generator_root"] = GENERATOR_ROOT
        environment.globals["invocation_dir"] = INVOCATION_DIR
        environment.filters["natural_sort"] = natural_sort
        environment.filters["method_names"] = split_methods
        environment.filters["pascal"] = pascal_case
        environment.filters["default_method"] = default_method
        environment.filters["sample_method"] = sample_method
        environment.filters["rust_type"] = rust_type_name
        environment.filters["python_text"] = python_text
        environment.filters["markdown_text"] = markdown_text
        environment.filters["rust_text"] = rust_text
        environment.filters["jwp_checked_folder_name"] = checked_folder_name
        for language in LANGUAGES:
            environment.tests[language] = _flavor_test(language)

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        """Route the project folder's name through the answer check."""
        return CHECKED_PROJECT_FOLDER_SOURCE if source == PROJECT_FOLDER_SOURCE else source
