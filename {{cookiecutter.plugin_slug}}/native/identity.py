"""Print the plugin's identity and schemas as JSON, for the bridge's build script and tests.

Loads the plugin through its ``jobworkerp.plugins`` entry point (the function the bridge's
worker processes call to build their instance) and asks a fresh instance, so the library
answers exactly what the Python runner answers.
Usage: ``python identity.py PACKAGE_NAME``.
"""

import json
import sys
from importlib.metadata import entry_points


def main(package: str) -> None:
    found = [e for e in entry_points(group="jobworkerp.plugins") if e.module == package]
    if len(found) != 1:
        sys.exit(
            f"{sys.executable}: expected one jobworkerp.plugins entry point of package "
            f"'{package}', found {len(found)}; install the plugin first (pip install -e .)"
        )
    plugin = found[0].load()()
    methods = {
        name: {
            "args_proto": schema.args_proto,
            "result_proto": schema.result_proto,
            "description": schema.description,
            "output_type": None if schema.output_type is None else int(schema.output_type),
            "require_client_stream": bool(schema.require_client_stream),
            "client_stream_data_proto": schema.client_stream_data_proto,
        }
        for name, schema in plugin.method_proto_map().items()
    }
    json_map = plugin.method_json_schema_map()
    json_schemas = None
    if json_map is not None:
        json_schemas = {
            name: {
                "args_schema": schema.args_schema,
                "result_schema": schema.result_schema,
                "client_stream_data_schema": schema.client_stream_data_schema,
            }
            for name, schema in json_map.items()
        }
    print(
        json.dumps(
            {
                "name": plugin.name(),
                "description": plugin.description(),
                "runner_settings_proto": plugin.runner_settings_proto(),
                "settings_schema": plugin.settings_schema(),
                "methods": methods,
                "json_schemas": json_schemas,
                "venv": sys.prefix,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
