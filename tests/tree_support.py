"""Helpers of the update and copier tests: a throwaway git copy of the template, file trees.

cruft and copier read a template from git, and cookiecutter reads a folder. To compare them
fairly, every tool reads the same throwaway repository: a copy of the template's files (those
git would take: tracked or new, never ignored caches) committed in a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from tests.support import TEMPLATE, run

# Who commits in the throwaway repositories (cruft and copier run git too, so this goes in the
# environment of every test that uses them).
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "template-tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "template-tests@example.com",
}
# Folders never copied when the template is not a git checkout.
CACHES = {
    ".git",
    ".venv",
    "__pycache__",
    ".ruff_cache",
    ".mypy_cache",
    ".pytest_cache",
    ".hypothesis",
}


def template_paths() -> list[str]:
    """The template's files, relative: tracked and new ones, without what git ignores."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=TEMPLATE,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return [
            path.relative_to(TEMPLATE).as_posix()
            for path in TEMPLATE.rglob("*")
            if path.is_file() and not CACHES & set(path.relative_to(TEMPLATE).parts)
        ]
    names = [name for name in listed.decode("utf-8").split("\0") if name]
    # A file deleted but not yet committed is still listed as tracked.
    return [name for name in names if (TEMPLATE / name).is_file()]


def git(repo: Path, *arguments: str) -> str:
    return run(["git", *arguments], cwd=repo, env={**os.environ, **GIT_IDENTITY}).stdout


def template_repo(path: Path) -> Path:
    """A git repository holding a copy of the template, committed as "old"."""
    for name in template_paths():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE / name, target)
    git(path, "init", "--quiet", "-b", "main")
    commit(path, "old")
    return path


def commit(repo: Path, message: str) -> str:
    """Commit everything in ``repo``; returns the new commit's hash."""
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--no-verify", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def tree(root: Path, leave_out: Iterable[str] = ()) -> dict[str, bytes]:
    """Every file under ``root`` (relative POSIX path -> bytes), but the names in ``leave_out``."""
    skipped = set(leave_out)
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts
        if path.relative_to(root).as_posix() not in skipped
    }


def differences(left: dict[str, bytes], right: dict[str, bytes]) -> list[str]:
    """Paths only in one tree or with other bytes; empty when the trees are identical."""
    return sorted(path for path in left.keys() | right.keys() if left.get(path) != right.get(path))
