//! The plugin's identity and schemas, baked in by `build.rs`, and their wire encodings.

use crate::schema::{MethodJsonSchema, MethodSchema};
use prost::Message;
use std::collections::HashMap;
use std::sync::LazyLock;

/// One method's `MethodSchema`, as the Python runner's `method_proto_map()` gives it.
pub struct MethodEntry {
    pub name: &'static str,
    pub args_proto: &'static str,
    pub result_proto: &'static str,
    pub description: Option<&'static str>,
    pub output_type: Option<i32>,
    pub require_client_stream: bool,
    pub client_stream_data_proto: Option<&'static str>,
}

/// One method's `MethodJsonSchema`, as the Python runner's `method_json_schema_map()` gives it.
pub struct JsonSchemaEntry {
    pub name: &'static str,
    pub args_schema: &'static str,
    pub result_schema: Option<&'static str>,
    pub client_stream_data_schema: Option<&'static str>,
}

include!(concat!(env!("OUT_DIR"), "/identity.rs"));

// Encoded once per process on first use, so the constructor itself does no work at all.
static PROTO_MAP: LazyLock<HashMap<String, Vec<u8>>> = LazyLock::new(|| {
    METHODS
        .iter()
        .map(|entry| {
            let schema = MethodSchema {
                args_proto: entry.args_proto.to_string(),
                result_proto: entry.result_proto.to_string(),
                description: entry.description.map(str::to_string),
                // A schema without an output type is NON_STREAMING (0) on the wire.
                output_type: entry.output_type.unwrap_or(0),
                require_client_stream: entry.require_client_stream,
                client_stream_data_proto: entry.client_stream_data_proto.map(str::to_string),
            };
            (entry.name.to_string(), schema.encode_to_vec())
        })
        .collect()
});

static JSON_SCHEMA_MAP: LazyLock<Option<HashMap<String, Vec<u8>>>> = LazyLock::new(|| {
    JSON_SCHEMAS.map(|entries| {
        entries
            .iter()
            .map(|entry| {
                let schema = MethodJsonSchema {
                    args_schema: entry.args_schema.to_string(),
                    result_schema: entry.result_schema.map(str::to_string),
                    client_stream_data_schema: entry.client_stream_data_schema.map(str::to_string),
                };
                (entry.name.to_string(), schema.encode_to_vec())
            })
            .collect()
    })
});

/// The method a job's `using` names: `None` means `run`, or the only method there is.
fn method(using: Option<&str>) -> Option<&'static MethodEntry> {
    match using {
        Some(name) => METHODS.iter().find(|entry| entry.name == name),
        None => METHODS
            .iter()
            .find(|entry| entry.name == "run")
            .or(match METHODS {
                [only] => Some(only),
                _ => None,
            }),
    }
}

/// The feed proto of a method that takes a client stream; `None` for the others.
pub fn feed_proto(using: Option<&str>) -> Option<&'static str> {
    method(using)
        .filter(|entry| entry.require_client_stream)
        .map(|entry| entry.client_stream_data_proto.unwrap_or(""))
}

pub fn method_proto_map() -> HashMap<String, Vec<u8>> {
    PROTO_MAP.clone()
}

pub fn method_json_schema_map() -> Option<HashMap<String, Vec<u8>>> {
    JSON_SCHEMA_MAP.clone()
}
