{% include ["templates/rust/schema.rs", "rust/schema.rs"] -%}
