"""How a refused cookiecutter run gets its answers back.

Cookiecutter asks every question first and only then names the project folder, where the
template checks the answers; a refusal there would lose every answer typed. Cookiecutter has
already saved them by then: it writes its replay file (``<replay_dir>/<template folder>.json``)
before it generates anything. The refusal names that file when it holds exactly these answers,
and always prints a command that asks again with the answers as the defaults.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path

# Cookiecutter renders every answer given on the command line as Jinja: text that looks like a
# template is wrapped so that it comes back as typed.
JINJA_MARKERS = ("{{", "{%", "{#")


def shown_path(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when that is shorter, else absolute."""
    absolute = str(path.resolve())
    try:
        relative = os.path.relpath(absolute, base.resolve())
    except ValueError:  # another drive (Windows)
        return absolute
    return relative if len(relative) < len(absolute) else absolute


def as_typed(value: str) -> str:
    if any(marker in value for marker in JINJA_MARKERS) and "{% endraw %}" not in value:
        return "{% raw %}" + value + "{% endraw %}"
    return value


def replay_file(answers: Mapping[str, object]) -> Path | None:
    """Cookiecutter's replay file of this run, if it holds these very answers.

    Found through the user config cookiecutter reads by default (``COOKIECUTTER_CONFIG`` or
    ``~/.cookiecutterrc``); a run given ``--config-file`` may have written elsewhere, and then
    no file is named rather than a wrong one.
    """
    repo_dir = answers.get("_repo_dir")
    if not isinstance(repo_dir, str):
        return None
    try:
        from cookiecutter.config import get_user_config

        replay_dir = Path(get_user_config()["replay_dir"])
    except Exception:  # no cookiecutter here, or a config it cannot read
        return None
    path = replay_dir / f"{Path(os.path.abspath(repo_dir)).name}.json"
    try:
        saved = json.loads(path.read_text("utf-8"))["cookiecutter"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    wanted = {key: value for key, value in answers.items() if not key.startswith("_")}
    kept = {key: value for key, value in saved.items() if not key.startswith("_")}
    return path if kept == wanted else None


def recovery(answers: Mapping[str, object], variables: tuple[str, ...], cwd: Path) -> str:
    """The lines that bring the answers back: the replay file, and a command to run again."""
    template = answers.get("_template")
    output_dir = answers.get("_output_dir")
    if not isinstance(template, str):
        return ""
    out = []
    if isinstance(output_dir, str) and Path(output_dir).resolve() != cwd.resolve():
        out = ["--output-dir", shown_path(Path(output_dir), cwd)]
    given = [
        f"{variable}={as_typed(value)}"
        for variable in variables
        if isinstance(value := answers.get(variable), str)
    ]
    ask_again = shlex.join(["cookiecutter", *out, template, *given])
    lines = []
    saved = replay_file(answers)
    if saved is not None:
        replay = shlex.join(["cookiecutter", *out, "--replay-file", str(saved), template])
        lines.append(f"Your answers are saved in {saved}: correct them there and run\n  {replay}")
    lines.append(
        "To be asked again with your answers as the defaults (add --no-input to take them "
        f"as they are), run\n  {ask_again}"
    )
    return "\n".join(lines)
