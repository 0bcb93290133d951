"""{{ cookiecutter.plugin_name | python_text }}: a JobWorkerP runner plugin.

This module is the plugin's fixed contract surface, the one tools and hosts rely on: the
FFI-style entry points, ``PluginError``, ``MethodSchema``, ``StreamingOutputType`` and
``DEFAULT_METHOD_NAME``. Your code lives in ``runner.py`` and ``protos/``.
"""

from __future__ import annotations

from .framework.runtime.contract import (
    DEFAULT_METHOD_NAME,
    MethodJsonSchema,
    MethodSchema,
    MultiMethodPluginRunner,
    PluginError,
    StreamingOutputType,
)
from .framework.runtime.guard import GuardedPlugin, guarded

__all__ = [
    "DEFAULT_METHOD_NAME",
    "MethodJsonSchema",
    "MethodSchema",
    "MultiMethodPluginRunner",
    "PluginError",
    "StreamingOutputType",
    "free_multi_method_plugin",
    "load_multi_method_plugin",
]

# The name the entry point is registered under; the runner's name() returns the same.
ENTRY_POINT_NAME = "{{ cookiecutter.runner_name }}"


def _build_runner() -> object:
    # Imported on first use rather than at the top, so that ``import {{ cookiecutter.package_name }}``
    # stays cheap and still works when the protos have not been compiled yet.
    from .runner import {{ cookiecutter.runner_name }}Runner

    return {{ cookiecutter.runner_name }}Runner()


def load_multi_method_plugin() -> MultiMethodPluginRunner:
    """Return a new plugin instance. Takes no arguments, is cheap, and never raises.

    If the runner cannot be built, the instance still answers ``name()`` and every other call
    raises the reason as a ``PluginError``.
    """
    return guarded(_build_runner, ENTRY_POINT_NAME)


def free_multi_method_plugin(plugin: MultiMethodPluginRunner) -> None:
    """Release an instance; later calls on it raise ``PluginError``. JobWorkerP never calls this."""
    if isinstance(plugin, GuardedPlugin):
        plugin.release()
