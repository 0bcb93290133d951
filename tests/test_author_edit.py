"""A plugin author replaces the sample with real work, and every generated check stays green.

The default Python render is edited the way a user edits it: the sample's protos make way for
two methods of the author's own (``price_order``, which answers at once, with a nested message
in a repeated field and another as its field 1; ``count_words``, which streams), new settings
(a nested message first), ``runner.py`` gets real logic, and the sample's tests
(``tests/test_runner.py``) are replaced by the author's own. Then the checks the
project generates run as its user runs them: ``pip install -e .[dev]`` in a fresh virtual
environment, the generated tests (the conformance suite included), ruff, and mypy --strict
through pre-commit (what CI runs too). The render's native bridge (``native/``) is built
against that environment and passes its crate tests and clippy. Last, the deploy scripts run
real jobs on a real JobWorkerP server with the args they derive from the new protos:
PYTHON_COMMAND and MCP.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.jobworkerp_server import JobWorkerP
from tests.native_support import VENDOR, Bridge, cargo, write_lockfile
from tests.support import Venv, build_wheel, render, run

PACKAGE = "author_edit"

PRICE_ORDER_ARGS = """\
// An order to price.
syntax = "proto3";

package author_edit;

message PriceOrderArgs {
  // Where the order goes.
  Address ship_to = 1;
  // Who ordered.
  string customer = 2;
  // What was ordered, one line per product.
  repeated Line lines = 3;

  message Address {
    string country = 1;
    string city = 2;
  }

  message Line {
    // The product's stock-keeping unit; required.
    string sku = 1;
    uint32 quantity = 2;
    // Price of one unit.
    double unit_price = 3;
  }
}
"""

# The author's settings: its first field is a nested message without a string field, so the
# settings' first string field is field 2.
SETTINGS = """\
// Settings of the AuthorEdit runner.
syntax = "proto3";

package author_edit;

message AuthorEditSettings {
  Rounding rounding = 1;
  // Put before every total.
  string currency = 2;

  message Rounding {
    uint32 decimals = 1;
  }
}
"""

PRICE_ORDER_RESULT = """\
// The price of an order.
syntax = "proto3";

package author_edit;

message PriceOrderResult {
  double total = 1;
  // Units over all lines.
  uint32 items = 2;
}
"""

COUNT_WORDS_ARGS = """\
// A text whose words to count.
syntax = "proto3";

package author_edit;

message CountWordsArgs {
  string text = 1;
  // Words not counted, in any case.
  repeated string stop_words = 2;
}
"""

COUNT_WORDS_RESULT = """\
// One counted word, or (the last chunk) the whole count.
syntax = "proto3";

package author_edit;

message CountWordsResult {
  // The word this chunk counted; empty in the last chunk.
  string word = 1;
  // Words counted so far.
  uint32 total = 2;
}
"""

RUNNER = '''\
"""Prices orders and counts words."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .framework.runtime.base import PluginRunner
from .framework.runtime.contract import PluginError, StreamingOutputType
from .framework.runtime.methods import Method, MethodTable, decode
from .protos.count_words_args_pb2 import CountWordsArgs
from .protos.count_words_result_pb2 import CountWordsResult
from .protos.price_order_args_pb2 import PriceOrderArgs
from .protos.price_order_result_pb2 import PriceOrderResult
from .protos.settings_pb2 import AuthorEditSettings as Settings


class AuthorEditRunner(PluginRunner):
    def __init__(self) -> None:
        super().__init__(METHODS)
        self.settings = Settings()

    def load(self, settings: bytes) -> None:
        self.settings = decode(Settings, settings, "settings")


def price_order(runner: AuthorEditRunner, args: PriceOrderArgs) -> PriceOrderResult:
    if any(not line.sku for line in args.lines):
        raise PluginError("every line needs a sku")
    total = sum(line.quantity * line.unit_price for line in args.lines)
    items = sum(line.quantity for line in args.lines)
    return PriceOrderResult(total=round(total, 2), items=items)


def count_words(runner: AuthorEditRunner, args: CountWordsArgs) -> Iterator[CountWordsResult]:
    """A chunk per counted word, then the whole count (JobWorkerP may keep only the last)."""
    ignored = {word.lower() for word in args.stop_words}
    total = 0
    for word in re.findall(r"\\w+", args.text):
        if word.lower() not in ignored:
            total += 1
            yield CountWordsResult(word=word, total=total)
    yield CountWordsResult(total=total)


def total_count(chunks: list[CountWordsResult]) -> CountWordsResult:
    return CountWordsResult(total=max((chunk.total for chunk in chunks), default=0))


METHODS = MethodTable(
    "AuthorEdit",
    "Prices orders and counts words.",
    Settings,
    [
        Method(
            "price_order",
            PriceOrderArgs,
            PriceOrderResult,
            StreamingOutputType.NON_STREAMING,
            "price_order: the total and the number of items of an order.",
            answer=price_order,
        ),
        Method(
            "count_words",
            CountWordsArgs,
            CountWordsResult,
            StreamingOutputType.STREAMING,
            "count_words: streams each counted word, then the count.",
            stream=count_words,
            collect=total_count,
        ),
    ],
)
'''

TESTS = """\
from __future__ import annotations

import pytest

from author_edit import MultiMethodPluginRunner, PluginError
from author_edit.framework.devtools.testing import drain
from author_edit.protos.count_words_args_pb2 import CountWordsArgs
from author_edit.protos.count_words_result_pb2 import CountWordsResult
from author_edit.protos.price_order_args_pb2 import PriceOrderArgs
from author_edit.protos.price_order_result_pb2 import PriceOrderResult

Line = PriceOrderArgs.Line


def test_an_order_is_priced(plugin: MultiMethodPluginRunner) -> None:
    order = PriceOrderArgs(
        customer="Ada",
        lines=[
            Line(sku="tea", quantity=2, unit_price=1.25),
            Line(sku="cup", quantity=1, unit_price=4),
        ],
    )
    result, _ = plugin.run(order.SerializeToString(), {}, "price_order")
    assert PriceOrderResult.FromString(result) == PriceOrderResult(total=6.5, items=3)


def test_a_line_without_sku_is_refused(plugin: MultiMethodPluginRunner) -> None:
    order = PriceOrderArgs(lines=[Line(quantity=1)])
    with pytest.raises(PluginError, match="sku"):
        plugin.run(order.SerializeToString(), {}, "price_order")


def test_words_are_counted_one_chunk_at_a_time(plugin: MultiMethodPluginRunner) -> None:
    text = CountWordsArgs(text="The cat and the hat", stop_words=["the"])
    plugin.begin_stream(text.SerializeToString(), {}, "count_words")
    chunks = [CountWordsResult.FromString(chunk) for chunk in drain(plugin)]
    assert [chunk.word for chunk in chunks] == ["cat", "and", "hat", ""]
    assert chunks[-1].total == 3
"""

# The results of the args the scripts derive from the protos (``sample-args``): every string is
# "Sample Text", every number 7 (a double 1.5), every repeated field holds one element.
SAMPLE_PRICE = {"total": 10.5, "items": 7}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")


def edit_like_an_author(project: Path) -> None:
    package = project / "src" / PACKAGE
    for sample in (package / "protos").glob("run_*"):
        sample.unlink()
    write(package / "protos" / "settings.proto", SETTINGS)
    write(package / "protos" / "price_order_args.proto", PRICE_ORDER_ARGS)
    write(package / "protos" / "price_order_result.proto", PRICE_ORDER_RESULT)
    write(package / "protos" / "count_words_args.proto", COUNT_WORDS_ARGS)
    write(package / "protos" / "count_words_result.proto", COUNT_WORDS_RESULT)
    write(package / "runner.py", RUNNER)
    write(project / "tests" / "test_runner.py", TESTS)


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Venv]:
    """The render, edited, installed with its dev and mcp extras into a fresh environment."""
    root = tmp_path_factory.mktemp("author-edit")
    # A package name of its own: the shared cargo target folder holds one library per name.
    project = render(root / "out", plugin_name="Author Edit")
    edit_like_an_author(project)
    venv = Venv(root / "venv")
    venv.install("-e", f"{project}[dev,mcp]")
    return project, venv


def in_venv(venv: Venv, project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """A command of the project's activated environment (pre-commit's hooks run `python`)."""
    path = f"{venv.python.parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, "VIRTUAL_ENV": str(venv.path)}
    env["PRE_COMMIT_HOME"] = str(venv.path.parent / "pre-commit")
    return run([venv.python, *arguments], cwd=project, env=env)


def test_the_generated_checks_stay_green(edited: tuple[Path, Venv]) -> None:
    project, venv = edited
    tests = in_venv(venv, project, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    # The conformance suite ran on the new methods, every rule of it.
    assert re.search(r"(\d+) passed", tests.stdout), tests.stdout
    assert "failed" not in tests.stdout and "error" not in tests.stdout.lower()
    in_venv(venv, project, "-m", "ruff", "check", "--no-cache", ".")
    in_venv(venv, project, "-m", "ruff", "format", "--check", "--no-cache", ".")
    # mypy --strict as pre-commit runs it (the same command as CI's), on a git checkout.
    run(["git", "init", "--quiet"], cwd=project)
    run(["git", "add", "-A"], cwd=project)
    hooks = in_venv(venv, project, "-m", "pre_commit", "run", "--all-files")
    assert "mypy --strict" in hooks.stdout and "Passed" in hooks.stdout


@pytest.mark.skipif(
    cargo() is None or not VENDOR.is_dir(), reason="needs cargo and ../shared/vendor"
)
def test_the_bridge_builds_and_passes_its_tests_on_the_new_methods(
    edited: tuple[Path, Venv],
) -> None:
    """The crate's tests compare the bridge with the edited runner, method by method.

    Neither message the tests build has a string in field 1 (the args' is a nested message,
    the settings' a nested message without any string): the tests take their args and settings
    from the runner's own messages."""
    project, venv = edited
    write_lockfile(project / "native")
    bridge = Bridge(project, venv.path, PACKAGE)
    bridge.test("--", "--test-threads=2")
    bridge.cargo("clippy", "--all-targets", "--", "-D", "warnings")


def test_sample_args_follow_the_new_protos(edited: tuple[Path, Venv]) -> None:
    project, venv = edited
    sample = in_venv(venv, project, "-m", PACKAGE, "sample-args", "price_order").stdout
    assert json.loads(sample) == {
        "ship_to": {"country": "Sample Text", "city": "Sample Text"},
        "customer": "Sample Text",
        "lines": [{"sku": "Sample Text", "quantity": 7, "unit_price": 1.5}],
    }
    default = in_venv(venv, project, "-m", PACKAGE, "sample-args", "--default-method").stdout
    assert default.strip() == "price_order"  # no `run` method: the first one
    ran = in_venv(
        venv, project, "-m", PACKAGE, "run", "--using", "price_order", "--args", sample, "--json"
    )
    (job,) = json.loads(ran.stdout)["jobs"]
    assert job["result"] == SAMPLE_PRICE


@pytest.mark.real_server
def test_the_deploy_scripts_run_the_new_methods_on_a_real_server(
    edited: tuple[Path, Venv], jobworkerp: JobWorkerP, tmp_path: Path
) -> None:
    project, venv = edited
    wheel = build_wheel(project, tmp_path / "dist")
    # The scripts ask the user's environment (PYTHON) for the method and the args.
    python = {"PYTHON": str(venv.python)}

    script = project / "deploy" / "python_command" / "jobworkerp-client.sh"
    chosen = {**python, "PLUGIN_PACKAGE": str(wheel), "WORKER": "author-python-command"}
    done = jobworkerp.run_script(script, chosen)
    assert done.returncode == 0, done.stdout + done.stderr + jobworkerp.log_tail()
    assert re.search(r"\| Status: SUCCESS", done.stdout), done.stdout
    output = re.search(r"^output: (.*)$", done.stdout, re.MULTILINE)
    assert output, done.stdout
    envelope = json.loads(output.group(1))
    assert (envelope["status"], envelope["result"]) == ("SUCCESS", SAMPLE_PRICE)

    # The streaming method through PYTHON_COMMAND: collected into one result.
    streamed = jobworkerp.run_script(script, {**chosen, "USING": "count_words"})
    output = re.search(r"^output: (.*)$", streamed.stdout, re.MULTILINE)
    assert output, streamed.stdout + streamed.stderr
    # "Sample Text" with the stop word "Sample Text": no word is a stop word.
    assert json.loads(output.group(1))["result"] == {"word": "", "total": 2}

    mcp = tmp_path / "mcp"
    shutil.copytree(project / "deploy" / "mcp", mcp)
    definition = mcp / "runner-definition.toml"
    text = definition.read_text("utf-8")
    # The one edit the file asks for: the Python that has the plugin installed.
    definition.write_text(
        re.sub(r'^command = ".*"$', f'command = "{venv.python}"', text, flags=re.MULTILINE),
        "utf-8",
    )
    # A runner name of its own: the session's server has other runners of this plugin name.
    names = {"RUNNER": "AuthorEditMcp", "WORKER": "author-mcp"}
    done = jobworkerp.run_script(mcp / "jobworkerp-client.sh", {**python, **names})
    assert done.returncode == 0, done.stdout + done.stderr + jobworkerp.log_tail()
    assert re.search(r"\| Status: SUCCESS", done.stdout), done.stdout
    text_content = re.search(r"text: text: (.*)$", done.stdout, re.MULTILINE)
    assert text_content, done.stdout
    assert json.loads(text_content.group(1)) == SAMPLE_PRICE
