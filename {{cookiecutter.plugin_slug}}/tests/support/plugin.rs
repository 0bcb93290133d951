{%- set methods = cookiecutter.methods | method_names -%}
{%- set default = methods | sample_method -%}
{%- set mode = cookiecutter.streaming_mode -%}
{%- set runs = mode != 'streaming' -%}
{%- set streams = mode != 'non_streaming' -%}
{%- set output_type = {'both': 2, 'non_streaming': 0, 'streaming': 1}[mode] -%}
{%- set A = (default | pascal ~ 'Args') | rust_type -%}
{%- set T = (default | pascal ~ 'Result') | rust_type -%}
{%- set settings_type = (cookiecutter.runner_name ~ 'Settings') | rust_type -%}
//! What the tests expect of this plugin: its library, its messages, its sample work. Edit this
//! file (not `v2_host.rs`) when the runner's protos or sample work change.
#![allow(dead_code)]

use super::v2_host::{Instance, Library, Metadata, built_library};
use prost::Message;
use std::sync::OnceLock;

/// The crate's own messages, compiled by its build script.
pub mod protos {
    include!(concat!(env!("OUT_DIR"), "/{{ cookiecutter.package_name }}.rs"));
}
use protos::{ {{- A }}, {{ T }}, {{ settings_type -}} };

/// The methods in table order.
pub const METHODS: &[&str] = &[{% for m in methods %}"{{ m }}", {% endfor %}];
/// The method with the sample work: `run` when there is one (the method a job without `using`
/// gets), else the first.
pub const SAMPLE_METHOD: &str = "{{ default }}";
/// The output type every method declares (0 NON_STREAMING, 1 STREAMING, 2 BOTH).
pub const OUTPUT_TYPE: i32 = {{ output_type }};

/// JobWorkerP's `MethodSchema` and `MethodJsonSchema`, as the host decodes them.
#[derive(Clone, PartialEq, Message)]
pub struct MethodSchema {
    #[prost(string, tag = "1")]
    pub args_proto: String,
    #[prost(string, tag = "2")]
    pub result_proto: String,
    #[prost(string, optional, tag = "3")]
    pub description: Option<String>,
    #[prost(int32, tag = "4")]
    pub output_type: i32,
    #[prost(bool, tag = "5")]
    pub require_client_stream: bool,
    #[prost(string, optional, tag = "6")]
    pub client_stream_data_proto: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct MethodJsonSchema {
    #[prost(string, tag = "1")]
    pub args_schema: String,
    #[prost(string, optional, tag = "2")]
    pub result_schema: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub client_stream_data_schema: Option<String>,
}

pub fn library() -> Library {
    static OPENED: OnceLock<Library> = OnceLock::new();
    *OPENED.get_or_init(|| {
        let path = built_library("{{ cookiecutter.package_name }}");
        assert!(path.is_file(), "{} is missing: run `cargo build` first", path.display());
        Library::open(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    })
}

pub async fn loaded(greeting: &str) -> Instance {
    let mut instance = library().instance().expect("instance");
    let settings = {{ settings_type }} {
        greeting: greeting.to_string(),
    };
    instance.load(&settings.encode_to_vec()).await.expect("load");
    instance
}

pub fn args(name: &str) -> Vec<u8> {
    {{ A }} {
        name: name.to_string(),
    }
    .encode_to_vec()
}

pub fn decoded(bytes: &[u8]) -> {{ T }} {
    {{ T }}::decode(bytes).expect("a result message")
}

pub fn proto_file(name: &str) -> String {
    let path = format!("{}/protos/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}

/// The sample work's answer to `name`, for the sample method and for the placeholders.
pub fn expected(method: &str, greeting: &str, name: &str) -> String {
    if method != SAMPLE_METHOD {
        return name.to_string();
    }
    let hello = if greeting.is_empty() { "Hello" } else { greeting };
    let name = if name.is_empty() { "world" } else { name };
    format!("{hello}, {name}!")
}
/// One job of the sample method, plain or streamed as the method allows; its message.
pub async fn one_job(instance: &mut Instance, name: &str) -> Result<String, String> {
    instance.new_token();
{%- if runs %}
    let (result, _) = instance.run(&args(name), Metadata::new(), Some(SAMPLE_METHOD)).await;
    result.map(|bytes| decoded(&bytes).message)
{%- else %}
    let streamed = instance
        .run_stream(&args(name), Metadata::new(), Some(SAMPLE_METHOD), 16, |_| {})
        .await;
    streamed.end?;
    let last = streamed.chunks.last().ok_or("no chunk")?;
    Ok(decoded(last).message)
{%- endif %}
}

