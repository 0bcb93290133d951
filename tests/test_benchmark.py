"""The benchmark command runs on a fresh checkout and prints every row (no time is asserted)."""

from __future__ import annotations

import subprocess
import sys

from tests.support import TEMPLATE

ROWS = ["render", "build", "plugin call", "host job", "stream", "tests"]


def test_quick_benchmark_prints_every_row() -> None:
    result = subprocess.run(
        [sys.executable, str(TEMPLATE / "benchmarks" / "run.py"), "--quick"],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    first_cells = {line.split("|")[1].strip() for line in result.stdout.splitlines() if "|" in line}
    assert set(ROWS) <= first_cells
    assert "machine:" in result.stdout
