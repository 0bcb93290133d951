{%- set library_kind = "bridge library" %}
{%- set script = "native/install.sh" %}
{%- set crate_folder = "native/" %}
{%- set crate_from_script = "." %}
{%- set build = "cargo build --release --manifest-path native/Cargo.toml" %}
{%- include ["templates/shell/install-library.sh", "shell/install-library.sh"] -%}
