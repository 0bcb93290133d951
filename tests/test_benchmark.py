"""The benchmark command runs on a fresh checkout and prints every row (no time is asserted).

The run itself renders, builds and installs a plugin (about 15 s), so it is in the full lane;
the default lane only checks that the command starts and lists its options.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import TEMPLATE

ROWS = ["render", "build", "plugin call", "host job", "stream", "tests"]


def benchmark(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TEMPLATE / "benchmarks" / "run.py"), *options],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_benchmark_command_starts() -> None:
    result = benchmark("--help")
    assert result.returncode == 0, result.stderr
    assert "--quick" in result.stdout


@pytest.mark.full
def test_quick_benchmark_prints_every_row() -> None:
    result = benchmark("--quick")
    assert result.returncode == 0, result.stderr
    first_cells = {line.split("|")[1].strip() for line in result.stdout.splitlines() if "|" in line}
    assert set(ROWS) <= first_cells
    assert "machine:" in result.stdout
