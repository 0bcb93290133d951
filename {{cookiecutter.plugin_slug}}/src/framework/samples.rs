//! Sample args filled from a message's descriptor, and the wire-level check that a stream's
//! last chunk holds every field of the plain answer: what the contract suite needs to judge a
//! runner it does not know.

use super::json_schema::{enum_named, message_named};
use super::protos;
use prost::encoding::{WireType, decode_key, decode_varint, encode_key, encode_varint};
use prost_types::field_descriptor_proto::Type;
use prost_types::{DescriptorProto, FieldDescriptorProto};

/// Sample args of `method` (the first message of `protos/<method>_args.proto`, every field
/// set), as the suite sends them.
pub fn sample_args(method: &str) -> Result<Vec<u8>, String> {
    let (message, _) = protos::first_message(&format!("{method}_args.proto"))?;
    Ok(sample(message, 0))
}

/// Nested messages are filled to this depth.
const SAMPLE_DEPTH: usize = 3;

/// A message with every field set: a repeated field or a map gets one element, written
/// unpacked (which every decoder takes).
pub(super) fn sample(message: &DescriptorProto, depth: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    if depth > SAMPLE_DEPTH {
        return bytes;
    }
    for field in &message.field {
        sample_field(field, depth, &mut bytes);
    }
    bytes
}

fn sample_field(field: &FieldDescriptorProto, depth: usize, bytes: &mut Vec<u8>) {
    let tag = u32::try_from(field.number()).unwrap_or(1);
    let length_delimited = |value: &[u8], bytes: &mut Vec<u8>| {
        encode_key(tag, WireType::LengthDelimited, bytes);
        encode_varint(value.len() as u64, bytes);
        bytes.extend_from_slice(value);
    };
    let varint = |value: u64, bytes: &mut Vec<u8>| {
        encode_key(tag, WireType::Varint, bytes);
        encode_varint(value, bytes);
    };
    match field.r#type() {
        Type::String => length_delimited(b"sample", bytes),
        Type::Bytes => length_delimited(b"\x00sample", bytes),
        Type::Message | Type::Group => {
            let inner = message_named(field.type_name())
                .map(|message| sample(message, depth + 1))
                .unwrap_or_default();
            length_delimited(&inner, bytes);
        }
        Type::Enum => {
            let values = enum_named(field.type_name()).map(|item| &item.value);
            let number = values
                .and_then(|values| values.iter().map(|v| v.number()).find(|n| *n != 0))
                .unwrap_or(0);
            varint(i64::from(number) as u64, bytes);
        }
        Type::Bool | Type::Int32 | Type::Int64 | Type::Uint32 | Type::Uint64 => varint(1, bytes),
        Type::Sint32 | Type::Sint64 => varint(2, bytes), // zigzag of 1
        Type::Fixed32 | Type::Sfixed32 | Type::Float => {
            encode_key(tag, WireType::ThirtyTwoBit, bytes);
            let value = if field.r#type() == Type::Float {
                1.0f32.to_bits()
            } else {
                1
            };
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        Type::Fixed64 | Type::Sfixed64 | Type::Double => {
            encode_key(tag, WireType::SixtyFourBit, bytes);
            let value = if field.r#type() == Type::Double {
                1.0f64.to_bits()
            } else {
                1
            };
            bytes.extend_from_slice(&value.to_le_bytes());
        }
    }
}

// "The last chunk is the whole result": every field of the answer, in the last chunk -------

/// The fields of an encoded message: (tag, value bytes), in order.
fn fields(mut bytes: &[u8]) -> Result<Vec<(u32, Vec<u8>)>, String> {
    let mut found = Vec::new();
    while !bytes.is_empty() {
        let (tag, wire) = decode_key(&mut bytes).map_err(|error| error.to_string())?;
        let size = match wire {
            WireType::Varint => {
                let start = bytes;
                decode_varint(&mut bytes).map_err(|error| error.to_string())?;
                found.push((tag, start[..start.len() - bytes.len()].to_vec()));
                continue;
            }
            WireType::SixtyFourBit => 8,
            WireType::ThirtyTwoBit => 4,
            WireType::LengthDelimited => {
                let size = decode_varint(&mut bytes).map_err(|error| error.to_string())?;
                usize::try_from(size).map_err(|error| error.to_string())?
            }
            WireType::StartGroup | WireType::EndGroup => return Err("groups".to_string()),
        };
        let value = bytes.get(..size).ok_or("a field runs past the end")?;
        found.push((tag, value.to_vec()));
        bytes = &bytes[size..];
    }
    Ok(found)
}

pub(super) fn holds_every_field(chunk: &[u8], answer: &[u8]) -> Result<(), String> {
    let (chunk, answer) = (fields(chunk)?, fields(answer)?);
    for (tag, _) in &answer {
        let of = |fields: &[(u32, Vec<u8>)]| -> Vec<Vec<u8>> {
            let values = fields.iter().filter(|(found, _)| found == tag);
            values.map(|(_, value)| value.clone()).collect()
        };
        if of(&chunk) != of(&answer) {
            return Err(format!("field {tag} differs from the plain answer's"));
        }
    }
    Ok(())
}
