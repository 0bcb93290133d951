//! JSON Schemas of proto messages, following protobuf's JSON mapping, as the Python flavor
//! writes them: property names are the proto field names, 64-bit integers are strings, enums
//! are their value names. No `$ref`, `anyOf`, `oneOf` or `null`: JobWorkerP turns an MCP
//! tool's input schema back into a proto message and skips tools whose schemas use them.

use super::protos::descriptors;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FieldDescriptorProto};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::LazyLock;

/// A message that contains itself is cut off at this depth with a plain object.
const MAX_DEPTH: usize = 8;

/// Every message and enum of the embedded protos by full name (`.package.Outer.Inner`).
struct Types {
    messages: HashMap<String, &'static DescriptorProto>,
    enums: HashMap<String, &'static EnumDescriptorProto>,
}

static TYPES: LazyLock<Types> = LazyLock::new(|| {
    let mut types = Types {
        messages: HashMap::new(),
        enums: HashMap::new(),
    };
    for file in &descriptors().file {
        let scope = match file.package() {
            "" => String::new(),
            package => format!(".{package}"),
        };
        for message in &file.message_type {
            types.add_message(&scope, message);
        }
        for item in &file.enum_type {
            types.enums.insert(format!("{scope}.{}", item.name()), item);
        }
    }
    types
});

impl Types {
    fn add_message(&mut self, scope: &str, message: &'static DescriptorProto) {
        let name = format!("{scope}.{}", message.name());
        for nested in &message.nested_type {
            self.add_message(&name, nested);
        }
        for item in &message.enum_type {
            self.enums.insert(format!("{name}.{}", item.name()), item);
        }
        self.messages.insert(name, message);
    }
}

/// The JSON Schema of a message, as JSON text.
pub fn message_schema(message: &DescriptorProto) -> String {
    let mut schema = object(message, 0);
    schema.insert(
        "$schema".to_string(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    schema.insert("title".to_string(), json!(message.name()));
    Value::Object(schema).to_string()
}

fn object(message: &DescriptorProto, depth: usize) -> Map<String, Value> {
    let mut schema = Map::new();
    schema.insert("type".to_string(), json!("object"));
    if depth >= MAX_DEPTH {
        return schema;
    }
    let properties: Map<String, Value> = message
        .field
        .iter()
        .map(|field| (field.name().to_string(), field_schema(field, depth)))
        .collect();
    schema.insert("properties".to_string(), Value::Object(properties));
    schema.insert("additionalProperties".to_string(), json!(false));
    schema
}

fn field_schema(field: &FieldDescriptorProto, depth: usize) -> Value {
    if let Some(entry) = map_entry(field) {
        let value = entry.field.iter().find(|field| field.name() == "value");
        let values = value.map_or_else(|| json!({}), |value| single(value, depth));
        return json!({"type": "object", "additionalProperties": values});
    }
    if field.label() == Label::Repeated {
        return json!({"type": "array", "items": single(field, depth)});
    }
    single(field, depth)
}

/// The entry message of a `map<K, V>` field (protoc writes maps as repeated entries).
fn map_entry(field: &FieldDescriptorProto) -> Option<&'static DescriptorProto> {
    if field.r#type() != Type::Message {
        return None;
    }
    let entry = TYPES.messages.get(field.type_name())?;
    let is_map = entry
        .options
        .as_ref()
        .is_some_and(|options| options.map_entry());
    is_map.then_some(*entry)
}

fn single(field: &FieldDescriptorProto, depth: usize) -> Value {
    match field.r#type() {
        Type::Message => match TYPES.messages.get(field.type_name()) {
            Some(message) => Value::Object(object(message, depth + 1)),
            None => json!({"type": "object"}),
        },
        Type::Enum => match TYPES.enums.get(field.type_name()) {
            Some(item) => {
                let names: Vec<&str> = item.value.iter().map(|value| value.name()).collect();
                json!({"type": "string", "enum": names})
            }
            None => json!({"type": "string"}),
        },
        Type::Int32 | Type::Sint32 | Type::Sfixed32 | Type::Uint32 | Type::Fixed32 => {
            json!({"type": "integer"})
        }
        // protobuf's JSON mapping writes 64-bit integers as strings; parsers take either.
        Type::Int64 | Type::Sint64 | Type::Sfixed64 | Type::Uint64 | Type::Fixed64 => {
            json!({"type": "string", "pattern": "^-?[0-9]+$", "format": "int64"})
        }
        Type::Double | Type::Float => json!({"type": "number"}),
        Type::Bool => json!({"type": "boolean"}),
        Type::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        Type::String | Type::Group => json!({"type": "string"}),
    }
}

/// A message of the embedded protos by full name (`.package.Outer.Inner`).
pub(super) fn message_named(name: &str) -> Option<&'static DescriptorProto> {
    TYPES.messages.get(name).copied()
}

/// An enum of the embedded protos by full name.
pub(super) fn enum_named(name: &str) -> Option<&'static EnumDescriptorProto> {
    TYPES.enums.get(name).copied()
}
