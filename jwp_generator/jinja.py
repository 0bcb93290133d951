"""Jinja extension of the template: the hooks' way home, and a sort that matches ruff's.

Cookiecutter renders hook scripts into a temporary file and runs them from the new project's
folder, so a hook cannot find its sibling modules by itself. Cookiecutter (and cruft) put the
template's folder on ``sys.path`` to load this extension; the extension hands that location to
the hook templates as ``generator_root``.

``natural_sort`` orders names the way ruff's import sorter does (``step9`` before ``step10``),
so that generated import lists pass ``ruff check`` whatever the method names are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from jinja2 import Environment
from jinja2.ext import Extension

GENERATOR_ROOT = str(Path(__file__).resolve().parent.parent)


def natural_key(name: str) -> list[tuple[int, int | str]]:
    """Sort key: digit runs compare as numbers, everything else as lowercase text."""
    return [
        (0, int(part)) if part.isdigit() else (1, part.lower())
        for part in re.split(r"(\d+)", name)
        if part
    ]


def natural_sort(names: Iterable[str]) -> list[str]:
    return sorted(names, key=natural_key)


class GeneratorExtension(Extension):
    """Adds the ``generator_root`` global and the ``natural_sort`` filter."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals["generator_root"] = GENERATOR_ROOT
        environment.filters["natural_sort"] = natural_sort
