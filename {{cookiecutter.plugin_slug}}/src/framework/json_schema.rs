//! JSON Schemas of proto messages, following protobuf's JSON mapping, as the Python flavor
//! writes them: property names are the proto field names, 64-bit integers are strings, enums
//! are their value names. No `$ref`, `anyOf`, `oneOf` or `null`: JobWorkerP turns an MCP
//! tool's input schema back into a proto message and skips tools whose schemas use them.
//!
//! A field's leading comment in its `.proto` file (the comment lines right above it, each
//! trimmed, joined with a space) becomes its `description`: what an LLM reads when it fills a
//! tool's args. Unsigned integer fields get `"minimum": 0`. The keys of a field's schema come
//! in a fixed order: `type`, then what the type adds, then `description`.

use super::protos::descriptors;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FieldDescriptorProto};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::LazyLock;

/// A message that contains itself is cut off at this depth with a plain object.
const MAX_DEPTH: usize = 8;

/// Every message and enum of the embedded protos by full name (`.package.Outer.Inner`), and
/// the leading comment of each field (`.package.Outer.field`).
struct Types {
    messages: HashMap<String, &'static DescriptorProto>,
    enums: HashMap<String, &'static EnumDescriptorProto>,
    comments: HashMap<String, String>,
}

static TYPES: LazyLock<Types> = LazyLock::new(|| {
    let mut types = Types {
        messages: HashMap::new(),
        enums: HashMap::new(),
        comments: HashMap::new(),
    };
    for file in &descriptors().file {
        let scope = match file.package() {
            "" => String::new(),
            package => format!(".{package}"),
        };
        // protoc's source info: a location's path is field numbers and indexes of the
        // descriptor (4 = a file's messages, 3 = a message's nested ones, 2 = its fields).
        let locations = file.source_code_info.iter().flat_map(|info| &info.location);
        let comments: HashMap<&[i32], &str> = locations
            .filter_map(|at| Some((at.path.as_slice(), at.leading_comments.as_deref()?)))
            .collect();
        for (index, message) in file.message_type.iter().enumerate() {
            types.add_message(&scope, message);
            types.add_comments(&scope, message, vec![4, index as i32], &comments);
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

    fn add_comments(
        &mut self,
        scope: &str,
        message: &DescriptorProto,
        path: Vec<i32>,
        comments: &HashMap<&[i32], &str>,
    ) {
        let name = format!("{scope}.{}", message.name());
        for (index, field) in message.field.iter().enumerate() {
            let at = [path.as_slice(), &[2, index as i32]].concat();
            if let Some(text) = comments.get(at.as_slice()).map(|text| one_line(text)) {
                if !text.is_empty() {
                    self.comments
                        .insert(format!("{name}.{}", field.name()), text);
                }
            }
        }
        for (index, nested) in message.nested_type.iter().enumerate() {
            let at = [path.as_slice(), &[3, index as i32]].concat();
            self.add_comments(&name, nested, at, comments);
        }
    }
}

/// A comment's lines, each trimmed, joined with a space.
fn one_line(comment: &str) -> String {
    let lines = comment
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty());
    lines.collect::<Vec<_>>().join(" ")
}

/// The full name of a message as the descriptor set's type names write it.
fn full_name(message: &DescriptorProto) -> Option<&'static str> {
    let found = TYPES
        .messages
        .iter()
        .find(|(_, known)| std::ptr::eq(**known, message));
    found.map(|(name, _)| -> &'static str { name.as_str() })
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
    let owner = full_name(message).unwrap_or_default();
    let properties: Map<String, Value> = message
        .field
        .iter()
        .map(|field| {
            let mut schema = field_schema(field, depth);
            let comment = TYPES.comments.get(&format!("{owner}.{}", field.name()));
            if let (Value::Object(keys), Some(comment)) = (&mut schema, comment) {
                keys.insert("description".to_string(), json!(comment));
            }
            (field.name().to_string(), schema)
        })
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
        Type::Int32 | Type::Sint32 | Type::Sfixed32 => json!({"type": "integer"}),
        Type::Uint32 | Type::Fixed32 => json!({"type": "integer", "minimum": 0}),
        // protobuf's JSON mapping writes 64-bit integers as strings; parsers take either.
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => {
            json!({"type": "string", "pattern": "^-?[0-9]+$", "format": "int64"})
        }
        Type::Uint64 | Type::Fixed64 => {
            json!({"type": "string", "pattern": "^[0-9]+$", "format": "uint64", "minimum": 0})
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
