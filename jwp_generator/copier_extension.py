"""Copier's way into the generator.

Copier imports Jinja extensions by dotted path and does not put the template's folder on
``sys.path`` (cookiecutter and cruft do). copier-template-extensions loads this file by its path
instead; the file then puts the template's folder first on ``sys.path`` and takes the
cookiecutter extension from there, so both tools render with the same filters.

Two additions for copier: ``slugify`` (built into cookiecutter; python-slugify, the library
cookiecutter uses, so derived slugs agree) and ``jwp_problem``, which lets each question of
``copier.yml`` refuse an answer with the rule the cookiecutter hooks apply.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from jinja2 import Environment, pass_context
from jinja2.runtime import Context

TEMPLATE_ROOT = str(Path(__file__).resolve().parent.parent)


def use_this_template() -> None:
    """Make ``jwp_generator`` import from this copy of the template.

    Copier renders two versions of a template in one process when it updates a project, so a
    generator package already imported from another copy is dropped first.
    """
    for name in [name for name in sys.modules if name.partition(".")[0] == "jwp_generator"]:
        origin = getattr(sys.modules[name], "__file__", None) or ""
        if not origin.startswith(TEMPLATE_ROOT + os.sep):
            del sys.modules[name]
    if TEMPLATE_ROOT in sys.path:
        sys.path.remove(TEMPLATE_ROOT)
    sys.path.insert(0, TEMPLATE_ROOT)


use_this_template()

from jwp_generator.jinja import GeneratorExtension  # noqa: E402  (needs the path set above)
from jwp_generator.validation import check_answers  # noqa: E402


def slugify(value: str) -> str:
    """What cookiecutter's ``slugify`` filter gives."""
    try:
        from slugify import slugify as python_slugify
    except ImportError:
        raise RuntimeError(
            "the template derives plugin_slug with python-slugify, which copier's environment "
            "lacks: install it next to copier (e.g. pipx inject copier python-slugify)"
        ) from None
    return python_slugify(value)


# Earlier answers a rule compares with: feed methods must be methods of a streaming plugin.
COMPARED_ANSWERS = {"feed_methods": ("methods", "streaming_mode")}


@pass_context
def answer_problem(context: Context, value: str, variable: str, language: str = "python") -> str:
    """The rule ``value`` breaks as ``variable``, or ``""`` (copier's validators want text).

    ``language`` brings in the Rust flavor's extra rules for names; the answers a rule compares
    with come from the question's context (copier renders a validator with the answers so far).
    """
    others = {name: context.get(name) for name in COMPARED_ANSWERS.get(variable, ())}
    given = {name: other for name, other in others.items() if isinstance(other, str)}
    problems = check_answers({**given, variable: value, "language": language})
    return "; ".join(str(problem) for problem in problems if problem.variable == variable)


class CopierExtension(GeneratorExtension):
    """The cookiecutter extension, plus ``slugify`` and ``jwp_problem``."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.setdefault("slugify", slugify)
        environment.filters["jwp_problem"] = answer_problem
