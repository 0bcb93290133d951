"""A rendered plugin with faults on demand, for the robustness and soak tests.

``faulty_plugin`` renders a plugin (methods ``run`` and ``echo``, streaming mode ``both``),
appends ``FAULTS`` to its ``runner.py`` and imports it from its ``src`` folder. The appended
code wraps the sample work so that a job's args name says what goes wrong and where:
``"<identity>|<where>|<what>"``. The answer always carries the whole name, so every result
tells which job it belongs to.

``where``: ``run`` (in ``run()``), ``return`` (``run()`` returns a wrong type), ``begin`` (in
``begin_stream()``), ``chunk<N>`` (while producing chunk N, inside ``receive_stream()``),
``gap`` (before every chunk), ``collect`` (in ``collect_stream()``), ``load`` (the settings'
greeting, in ``load()``). ``what``:

* ``sleep:<ms>``; ``wait:<ms>`` (a sleep that sets the module's ``STARTED`` and ``FINISHED``
  events); ``burn:<ms>`` (that much CPU time of the calling thread, in a busy loop);
* ``raise:<exception>``: an exception of that name raised in the user's code
  (``SystemExit``, ``KeyboardInterrupt``, ``RecursionError`` and ``MemoryError`` real ones,
  ``PluginError``, a few odd ones, else a ``ValueError``), or a fault that ends the process
  outright: ``raise:os.abort`` (SIGABRT), ``raise:os._exit`` (exit status 7),
  ``raise:posix._exit`` (exit status 9), ``raise:segfault`` (a read of address 0: SIGSEGV),
  ``raise:c_recursion`` (a nested list's ``repr`` a million levels deep with the recursion
  limit lifted, which overflows the C stack: SIGSEGV on Python 3.11, where the interpreter does
  not guard C recursion separately; a ``RecursionError`` from 3.12 on);
* ``loop``: an endless busy loop;
* ``fork``: ``os.fork()``; the child names itself ``jwp-fault-fork`` (its ``comm``), sleeps
  60 s and exits, the parent returns normally;
* ``fork_exit``: ``os.fork()``; the child names itself ``jwp-fault-copy`` and, like the
  parent, returns normally: a copy of the process that runs on from the handler;
* ``environ``: sets ``PATH`` to ``/nonexistent`` and returns normally;
* ``close_fds``: closes file descriptors 1 and 2 and returns normally;
* ``big:<MB>`` (with ``where`` ``run``): returns normally, and the plain answer's ``message``
  gets that many MiB of ``x`` after the greeting.

The kinds that end or copy the process (``raise:os.*``, ``posix._exit``, ``segfault``,
``c_recursion``, ``fork*``), ``loop``, ``environ`` and ``close_fds`` are for a plugin that runs
in a process of its own (the native bridge's workers); an in-process test host can only run
the others, or must undo what ``environ`` and ``close_fds`` did.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from tests.support import imported_render, render

FAULTS = '''

# ---- Fault injection, appended by the template's robustness tests. --------------------
import os as _os

from .framework.runtime.contract import PluginError
import threading as _threading
import time as _time

# Set by a "wait:<ms>" fault when it starts and when it is over.
STARTED = _threading.Event()
FINISHED = _threading.Event()


class OddBaseError(BaseException):
    """Derives from BaseException only, as SystemExit and KeyboardInterrupt do."""


class UnprintableError(Exception):
    """An exception whose message cannot even be turned into text."""

    def __str__(self):
        raise RuntimeError("__str__ fails too")


def _recurse(depth):
    return _recurse(depth + 1) + 1


def _name_this_process(name):
    """Set the process's ``comm`` (what ``ps`` and ``/proc/PID/comm`` show), so tests find it."""
    import ctypes

    libc = ctypes.CDLL(None)
    libc.prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME


def _nested(depth):
    nested = []
    for _ in range(depth):
        nested = [nested]
    return nested


def _burn(milliseconds):
    end = _time.thread_time() + milliseconds / 1000
    spins = 0
    while _time.thread_time() < end:
        spins += 1
    return spins


def _process_fault(kind, arg):
    """The faults that end, copy or damage the whole process; False for any other kind."""
    if kind == "loop":
        while True:
            pass
    if kind == "fork":
        if _os.fork() == 0:
            _name_this_process("jwp-fault-fork")
            _time.sleep(60)
            _os._exit(0)
        return True
    if kind == "fork_exit":
        if _os.fork() == 0:
            _name_this_process("jwp-fault-copy")
        return True
    if kind == "environ":
        _os.environ["PATH"] = "/nonexistent"
        return True
    if kind == "close_fds":
        _os.close(1)
        _os.close(2)
        return True
    if kind == "big":
        return True  # the answer grows in _answering
    if arg == "os.abort":
        _os.abort()
    if arg == "os._exit":
        _os._exit(7)
    if arg == "posix._exit":
        import posix

        posix._exit(9)
    if arg == "segfault":
        import ctypes

        ctypes.string_at(0)
    if arg == "c_recursion":
        import sys

        sys.setrecursionlimit(10_000_000)
        repr(_nested(1_000_000))
    return False


def fault(what):
    kind, _, arg = what.partition(":")
    if kind == "sleep":
        _time.sleep(int(arg) / 1000)
        return
    if kind == "burn":
        _burn(int(arg))
        return
    if _process_fault(kind, arg):
        return
    if kind == "wait":
        STARTED.set()
        _time.sleep(int(arg) / 1000)
        FINISHED.set()
        return
    if arg == "SystemExit":
        raise SystemExit(3)
    if arg == "KeyboardInterrupt":
        raise KeyboardInterrupt
    if arg == "RecursionError":
        _recurse(0)  # a real one
    if arg == "MemoryError":
        bytearray(1 << 62)  # a real failed allocation
    if arg == "GeneratorExit":
        raise GeneratorExit
    if arg == "StopIteration":
        raise StopIteration
    if arg == "OddBaseError":
        raise OddBaseError("odd")
    if arg == "UnprintableError":
        raise UnprintableError()
    if arg == "PluginError":
        raise PluginError("refused on purpose", {"kept": "yes"})
    raise ValueError(f"fault {arg}")


def plan(text):
    parts = text.split("|")
    return (parts[1], parts[2]) if len(parts) >= 3 else ("", "")


def _name(args):
    """The name in decoded args, or in the encoded bytes run() gets."""
    if not isinstance(args, bytes):
        return args.name
    try:
        return RunArgs.FromString(args).name
    except Exception:
        return ""


def _answering(plain):
    def answer(settings, args):
        where, what = plan(_name(args))
        if where == "run":
            fault(what)
        answer = plain(settings, args)
        if where == "run" and what.startswith("big:"):
            answer.message += "x" * (int(what[4:]) << 20)
        return answer

    return answer


def _fail_at(chunks, index, what):
    for number, chunk in enumerate(chunks):
        if number == index:
            fault(what)
        yield chunk


def _slow(chunks, what):
    for chunk in chunks:
        fault(what)
        yield chunk


def _streaming(plain):
    def stream(settings, args):
        where, what = plan(_name(args))
        if where == "begin":
            fault(what)
        chunks = plain(settings, args)
        if where.startswith("chunk"):
            return _fail_at(chunks, int(where[5:]), what)
        if where == "gap":
            return _slow(chunks, what)
        return chunks

    return stream


def _collecting(plain, result_type):
    def collect(chunks):
        chunks = list(chunks)
        text = "".join(chunk.delta for chunk in chunks)
        where, what = plan(text.rstrip("!"))
        if where == "collect":
            fault(what)
        return plain(chunks)

    return collect


# echo is a placeholder in the render; give it the sample's greeting so that, like run, its
# answers carry the name and its streams have several chunks.
def _echo_answer(runner, args):
    return EchoResult(message=greeting(runner.settings, args.name))


def _echo_stream(runner, args):
    pieces = words(greeting(runner.settings, args.name))
    for piece in pieces[:-1]:
        yield EchoResult(delta=piece)
    yield EchoResult(delta=pieces[-1], message="".join(pieces))


_SAMPLE = {"echo": (_echo_answer, _echo_stream)}

# The table holds the functions: rebuild it with every function wrapped.
import dataclasses as _dataclasses

METHODS = MethodTable(
    METHODS.name,
    METHODS.description,
    Settings,
    [
        _dataclasses.replace(
            row,
            answer=_answering(_SAMPLE.get(row.name, (row.answer,))[0]),
            stream=_streaming(_SAMPLE.get(row.name, (None, row.stream))[1]),
            collect=_collecting(row.collect, row.result_type),
        )
        for row in map(METHODS.resolve, METHODS.names)
    ],
)

BAD_RETURNS = {
    "none": None,
    "text": "text",
    "list": [b"", {}],
    "triple": (b"", {}, None),
    "bad-map": (b"", {1: 2}),
}
_plain_run = RobustPluginRunner.run
_plain_load = RobustPluginRunner.load
_plain_init = RobustPluginRunner.__init__


def _run(self, args, metadata, using):
    where, what = plan(_name(args))
    if where == "return":
        return BAD_RETURNS[what]
    output, returned = _plain_run(self, args, metadata, using)
    return output, {**returned, "instance": str(id(self))}


def _load(self, settings):
    _plain_load(self, settings)
    where, what = plan(self.settings.greeting)
    if where == "load":
        fault(what)


def _init(self):
    what = _os.environ.get("ROBUST_CONSTRUCTOR_FAULT")
    if what:
        fault(what)
    _plain_init(self)


RobustPluginRunner.run = _run
RobustPluginRunner.load = _load
RobustPluginRunner.__init__ = _init
'''

ANSWERS = {
    "plugin_name": "Robust Plugin",
    "runner_name": "RobustPlugin",
    "methods": "run, echo",
    "streaming_mode": "both",
}


@contextmanager
def faulty_plugin(out: Path, package: str) -> Iterator[ModuleType]:
    """Render the plugin as ``package`` into ``out``, add the faults, import it for a while.

    Each test module uses its own package name, so their protos never meet in protobuf's
    descriptor pool.
    """
    project = render(out, plugin_slug=package.replace("_", "-"), package_name=package, **ANSWERS)
    runner = project / "src" / package / "runner.py"
    runner.write_text(runner.read_text("utf-8") + FAULTS, "utf-8")
    with imported_render(project, package, [""]) as modules:
        yield modules[""]
