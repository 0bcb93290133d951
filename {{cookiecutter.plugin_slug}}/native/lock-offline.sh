{%- set crate_kind = "bridge" %}
{%- set script = "native/lock-offline.sh" %}
{%- set crate_from_script = "." %}
{%- set build = "cargo build --release --manifest-path native/Cargo.toml" %}
{%- include ["templates/shell/lock-offline.sh", "shell/lock-offline.sh"] -%}
