"""The framework's parts keep their boundary: production code never imports development tools.

The production wheel needs ``framework/runtime/`` (what JobWorkerP calls) and
``framework/adapters/`` (the PYTHON_COMMAND script and the MCP server); ``framework/devtools/``
(the local host, the CLI, the conformance suite) is for development. So nothing in
``runtime/`` or ``adapters/`` imports ``devtools/``, ``runtime/`` imports neither of the others,
and ``devtools/`` does not reach back into ``adapters/``. The imports of a fresh render are read
with ``ast``, lazy imports inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import rendered_project

PARTS = ("runtime", "adapters", "devtools")
# What each part may import of the others.
ALLOWED = {"runtime": set(), "adapters": {"runtime"}, "devtools": {"runtime"}}


def imported_parts(module: Path, framework: Path) -> dict[str, int]:
    """The framework parts ``module`` imports, each with the line of its first import."""
    package = module.relative_to(framework.parent.parent).with_suffix("").parts[:-1]
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(module.read_text("utf-8"))):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            target = [*base, *(node.module or "").split(".")] if node.module else base
            names = [".".join(target)]
            names += [".".join([*target, alias.name]) for alias in node.names]
        else:
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if len(parts) > 2 and parts[1] == "framework" and parts[2] in PARTS:
                found.setdefault(parts[2], node.lineno)
    return found


def test_runtime_and_adapters_never_import_devtools() -> None:
    project = rendered_project(methods="run,summarize_text")
    framework = project / "src" / "hello_world" / "framework"
    modules = sorted(framework.glob("*/*.py"))
    assert {module.parent.name for module in modules} == set(PARTS)
    crossings = []
    for module in modules:
        part = module.parent.name
        for other, line in imported_parts(module, framework).items():
            if other != part and other not in ALLOWED[part]:
                crossings.append(f"{module.relative_to(framework)}:{line} imports {other}/")
    assert crossings == []


def test_the_checker_sees_a_crossing(tmp_path: Path) -> None:
    """The check is real: a relative import of devtools/ from adapters/ is found."""
    framework = tmp_path / "src" / "pkg" / "framework"
    (framework / "adapters").mkdir(parents=True)
    module = framework / "adapters" / "bad.py"
    module.write_text(
        "def f():\n    from ..devtools.host import Host\n    import pkg.framework.runtime\n",
        "utf-8",
    )
    assert imported_parts(module, framework) == {"devtools": 2, "runtime": 3}
