"""Which folders of the template belong to one language flavor only.

The template holds both flavors in one tree. A file of one flavor only has a conditional name
(``{% if cookiecutter is rust %}Cargo.toml{% endif %}``, with the Jinja tests ``python`` and
``rust`` of ``jwp_generator.jinja``): cookiecutter and copier both skip a file whose name renders
empty. (A name must not hold quotes: Jinja puts template names into generated Python code, and
a quoted name breaks it.) A folder cannot be skipped that way in cookiecutter
(an empty folder name puts its files in the parent), so the folders of each flavor are listed
here: the post-generation hook deletes the other flavor's, and copier.yml's ``_exclude`` skips
them (``tests/test_copier.py`` keeps that list in step with this one).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

LANGUAGES = ("python", "rust")

# Folders (relative to the project, ``{package_name}`` filled in) that only one flavor has.
FLAVOR_FOLDERS: dict[str, tuple[str, ...]] = {
    # deploy/scalable is both flavors' (the Scalable-mode check); the other deploy paths are Python's.
    "python": ("src/{package_name}", "deploy/python_command", "deploy/mcp", "native"),
    "rust": ("protos", "src/framework", "tests/support"),
}


def language_of(answers: Mapping[str, object]) -> str:
    """The chosen flavor; answers recorded before the question existed are Python's."""
    language = answers.get("language", "python")
    return language if isinstance(language, str) else "python"


def proto_folder(answers: Mapping[str, str]) -> str:
    """Where the flavor keeps its proto files, relative to the project."""
    if language_of(answers) == "rust":
        return "protos"
    return f"src/{answers['package_name']}/protos"


def foreign_folders(answers: Mapping[str, str]) -> list[str]:
    """The folders of the flavors not chosen, as paths relative to the project."""
    chosen = language_of(answers)
    return [
        folder.format(package_name=answers["package_name"])
        for language, folders in FLAVOR_FOLDERS.items()
        if language != chosen
        for folder in folders
    ]


def remove_foreign_folders(project: Path, answers: Mapping[str, str]) -> None:
    """Delete the other flavors' folders from a new project (cookiecutter renders them all)."""
    for folder in foreign_folders(answers):
        path = project / folder
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
