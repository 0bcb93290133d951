{% include ["templates/rust/v2_host.rs", "rust/v2_host.rs"] -%}
