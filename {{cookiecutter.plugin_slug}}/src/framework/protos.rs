//! The crate's proto files as the build embedded them: texts and compiled descriptors.

use prost::Message;
use prost_types::{DescriptorProto, FileDescriptorProto, FileDescriptorSet};
use std::sync::LazyLock;

include!(concat!(env!("OUT_DIR"), "/proto_texts.rs"));

static DESCRIPTORS: LazyLock<FileDescriptorSet> = LazyLock::new(|| {
    let bytes = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));
    // protoc wrote these bytes during this build; they decode unless the build is broken,
    // and then an empty set makes every schema lookup report the missing file.
    FileDescriptorSet::decode(bytes.as_slice()).unwrap_or_default()
});

/// The text of `protos/<file>`.
pub fn text(file: &str) -> Result<&'static str, String> {
    PROTO_TEXTS
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, text)| *text)
        .ok_or_else(|| format!("protos/{file} is missing: the method table names it"))
}

pub fn descriptors() -> &'static FileDescriptorSet {
    &DESCRIPTORS
}

fn file(name: &str) -> Result<&'static FileDescriptorProto, String> {
    DESCRIPTORS
        .file
        .iter()
        .find(|file| file.name() == name)
        .ok_or_else(|| format!("protos/{name} is missing: the method table names it"))
}

/// The first message of `protos/<file>` (the one JobWorkerP uses) and its full name.
pub fn first_message(name: &str) -> Result<(&'static DescriptorProto, String), String> {
    let file = file(name)?;
    let message = file
        .message_type
        .first()
        .ok_or_else(|| format!("protos/{name} declares no message"))?;
    let full_name = match file.package() {
        "" => message.name().to_string(),
        package => format!("{package}.{}", message.name()),
    };
    Ok((message, full_name))
}
