"""The template's tests leave the user's cookiecutter folders alone.

tests/conftest.py points ``COOKIECUTTER_CONFIG`` at a config in a session temp folder. A render
through the command line, with ``HOME`` pointing at an empty folder, must leave that folder
empty and write its replay file into the session's replay folder instead. The control render,
without the session config, shows that the check can see a write to ``HOME``.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.support import CONFIG_VARIABLE, TEMPLATE, render_cli

SKIP = {"JWP_TEMPLATE_SKIP_CHECKS": "1"}


def home_files(home: Path) -> list[str]:
    return sorted(path.relative_to(home).as_posix() for path in home.rglob("*"))


def test_a_render_leaves_the_home_folder_untouched(
    tmp_path: Path, cookiecutter_config: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    replay = cookiecutter_config.parent / "replay" / f"{TEMPLATE.name}.json"
    replay.unlink(missing_ok=True)
    result = render_cli(tmp_path / "out", {}, env={"HOME": str(home), **SKIP})
    assert result.returncode == 0, result.stderr
    assert home_files(home) == []
    assert replay.is_file()


def test_without_the_session_config_cookiecutter_writes_to_home(tmp_path: Path) -> None:
    """The control: cookiecutter's default config puts the replay under ``HOME``."""
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if key != CONFIG_VARIABLE}
    result = render_cli(tmp_path / "out", {}, env={"HOME": str(home), **SKIP}, inherit=env)
    assert result.returncode == 0, result.stderr
    assert f".cookiecutter_replay/{TEMPLATE.name}.json" in home_files(home)
