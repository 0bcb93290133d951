"""copier.yml, generated from cookiecutter.json: ``python -m jwp_generator.copier_questions > copier.yml``.

Copier reads the same template as cookiecutter. Its questions are cookiecutter.json's (names,
order, defaults, choices and their labels, prompts), written out here instead of by hand, so
that the two cannot drift; ``tests/test_copier.py`` checks that the committed copier.yml is this
module's output. What only copier has (its settings, the validators, the questions it skips
with ``when``, the computed ``cookiecutter`` answer the template's files read) is in this file
and nowhere else. Cookiecutter cannot skip a question: it asks ``python_min`` of a Rust plugin
too, and the Rust flavor ignores the answer.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jwp_generator.flavors import FLAVOR_FOLDERS

TEMPLATE = Path(__file__).resolve().parent.parent

HEADER = """\
# GENERATED from cookiecutter.json by `python -m jwp_generator.copier_questions > copier.yml`:
# edit cookiecutter.json (questions) or jwp_generator/copier_questions.py (copier's own
# settings) and run that command again; tests/test_copier.py checks that this file is current.
#
# Copier reads the same template as cookiecutter. The template's files, which say
# cookiecutter.<name>, read the answers from the computed `cookiecutter` answer at the end.
#
#   copier copy --trust <this template> <new folder>
#
# --trust: the template loads its own Jinja extension and runs a task (the per-method protos,
# the proto compile and the smoke test, as cookiecutter's post-generation hook does). Copier's
# environment needs copier-template-extensions and python-slugify next to copier, and
# grpcio-tools for the checks (without it the task skips them and says so).
"""

# Copier's settings, in the order written.
SETTINGS: list[tuple[str, str, Any]] = [
    ("", "_min_copier_version", "9.3"),
    (
        "The project's files are those of cookiecutter's project folder; its own name is the answer.",
        "_subdirectory",
        "{% raw %}{{cookiecutter.plugin_slug}}{% endraw %}",
    ),
    ("Every file is a template, as with cookiecutter.", "_templates_suffix", ""),
    (
        "",
        "_jinja_extensions",
        [
            "copier_template_extensions.TemplateExtensionLoader",
            "jwp_generator/copier_extension.py:CopierExtension",
        ],
    ),
]
EXCLUDE_COMMENT = (
    "Each flavor's own folders (jwp_generator/flavors.py; cookiecutter's hook deletes them\n"
    "instead). Files of one flavor have conditional names, which copier skips when they render\n"
    "empty. A leading / anchors a pattern (copier reads .gitignore lines)."
)
TASKS = [
    {
        "command": [
            "{{ _copier_python }}",
            "{{ _copier_conf.src_path }}/hooks/copier_task.py",
            "{{ cookiecutter | to_json }}",
        ]
    }
]
# Questions copier skips, with the reason; a skipped question takes its default.
WHEN = {"python_min": ("{{ language == 'python' }}", "Python plugins only.")}
COMPUTED_COMMENT = (
    "Not a question: the answers under the name the template's files use. Computed answers are\n"
    "not recorded in .copier-answers.yml."
)


def _scalar(value: Any) -> str:
    """A YAML scalar: JSON's quoted strings, booleans and numbers are YAML too."""
    return json.dumps(value, ensure_ascii=False)


def _comment(text: str) -> Iterator[str]:
    for line in text.splitlines():
        yield f"# {line}".rstrip()


def _excludes() -> list[str]:
    return [
        "{% if cookiecutter.language != '"
        + language
        + "' %}/"
        + folder.replace("{package_name}", "{{ cookiecutter.package_name }}")
        + "{% endif %}"
        for language, folders in FLAVOR_FOLDERS.items()
        for folder in folders
    ]


def _question(key: str, value: Any, prompt: Any, after_language: bool) -> Iterator[str]:
    yield f"{key}:"
    yield "  type: str"
    labels = prompt if isinstance(prompt, Mapping) else {}
    yield f"  help: {_scalar(labels.get('__prompt__', prompt))}"
    if key in WHEN:
        condition, reason = WHEN[key]
        yield f"  # {reason}"
        yield f"  when: {_scalar(condition)}"
    if isinstance(value, list):
        yield "  choices:"
        for choice in value:
            if labels:
                yield f"    {_scalar(labels[choice])}: {_scalar(choice)}"
            else:
                yield f"    - {_scalar(choice)}"
        yield f"  default: {_scalar(value[0])}"
        return
    # Derived defaults: copier names the answers without "cookiecutter.".
    yield f"  default: {_scalar(value.replace('cookiecutter.', ''))}"
    flavored = ", language" if after_language else ""
    yield f"  validator: {_scalar('{{ ' + key + ' | jwp_problem(' + repr(key) + flavored + ') }}')}"


def copier_yml(cookiecutter_json: Mapping[str, Any]) -> str:
    """The text of copier.yml for the questions of ``cookiecutter_json``."""
    lines = [HEADER]
    for comment, key, value in SETTINGS:
        lines += _comment(comment)
        if isinstance(value, list):
            lines += [f"{key}:", *(f"  - {_scalar(item)}" for item in value)]
        else:
            lines.append(f"{key}: {_scalar(value)}")
    lines += _comment(EXCLUDE_COMMENT)
    lines += ["_exclude:", *(f"  - {_scalar(item)}" for item in _excludes())]
    lines.append("_tasks:")
    for task in TASKS:
        lines.append("  - command:")
        lines += [f"      - {_scalar(part)}" for part in task["command"]]
    questions = [key for key in cookiecutter_json if not key.startswith("_")]
    prompts = cookiecutter_json.get("__prompts__", {})
    for index, key in enumerate(questions):
        lines.append("")
        after_language = "language" in questions[:index]
        lines += _question(key, cookiecutter_json[key], prompts.get(key, key), after_language)
    lines.append("")
    lines += _comment(COMPUTED_COMMENT)
    lines += ["cookiecutter:", "  type: json", "  when: false", "  default: >-", "    {{ {"]
    lines += [f"    {_scalar(key)}: {key}," for key in questions]
    lines.append("    } | to_json }}")
    return "\n".join(lines) + "\n"


def main() -> None:
    data = json.loads((TEMPLATE / "cookiecutter.json").read_text("utf-8"))
    sys.stdout.write(copier_yml(data))


if __name__ == "__main__":
    main()
