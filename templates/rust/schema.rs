//! JobWorkerP's schema messages (jobworkerp/data/runner.proto), with the host's field numbers:
//! the host decodes the bytes of `method_proto_map` and `method_json_schema_map` as these.

use prost::Message;

/// One method's protos and output type, a value of `method_proto_map`.
#[derive(Clone, PartialEq, Message)]
pub struct MethodSchema {
    #[prost(string, tag = "1")]
    pub args_proto: String,
    #[prost(string, tag = "2")]
    pub result_proto: String,
    #[prost(string, optional, tag = "3")]
    pub description: Option<String>,
    /// `StreamingOutputType`: NON_STREAMING 0, STREAMING 1, BOTH 2.
    #[prost(int32, tag = "4")]
    pub output_type: i32,
    #[prost(bool, tag = "5")]
    pub require_client_stream: bool,
    #[prost(string, optional, tag = "6")]
    pub client_stream_data_proto: Option<String>,
}

/// One method's JSON Schemas, a value of `method_json_schema_map`. Field 3 is reserved
/// upstream (it was `description`).
#[derive(Clone, PartialEq, Message)]
pub struct MethodJsonSchema {
    #[prost(string, tag = "1")]
    pub args_schema: String,
    #[prost(string, optional, tag = "2")]
    pub result_schema: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub client_stream_data_schema: Option<String>,
}
