//! A plugin instance driven in-process as JobWorkerP drives one: a token before each job,
//! `load`, `run`, `run_stream` into a sink the host reads. Through `PluginV2`, without the FFI
//! layer (`tests/library.rs` checks that layer on the built `.so`).

use super::plugin::Plugin;
use super::table::Runner;
use jobworkerp_plugin_abi::{
    CancelToken, FfiCancellationToken, HighLevelSink, OutputSink, OwnedCancelHandle, PluginV2,
};
use prost::Message;
use std::collections::HashMap;
use tokio::sync::mpsc;

type Metadata = HashMap<String, String>;

/// A plugin instance, driven as JobWorkerP drives one.
pub struct Host<R: Runner> {
    pub(super) plugin: Plugin<R>,
}

/// A stream's chunks and how it ended.
pub struct Streamed {
    pub chunks: Vec<Vec<u8>>,
    pub end: Result<Metadata, String>,
}

impl<R: Runner> Host<R> {
    /// A new instance, not loaded (JobWorkerP reads the schemas of such instances).
    pub fn new() -> Self {
        Self {
            plugin: Plugin::default(),
        }
    }

    /// A new instance loaded with `settings`.
    pub async fn load(settings: &R::Settings) -> Result<Self, String> {
        let mut host = Self::new();
        host.load_bytes(settings.encode_to_vec()).await?;
        Ok(host)
    }

    pub async fn load_bytes(&mut self, settings: Vec<u8>) -> Result<(), String> {
        self.plugin.load(settings).await
    }

    /// A fresh token for the next job, as the host sets one before every job.
    pub fn new_token(&mut self) -> OwnedCancelHandle {
        let (token, handle) = FfiCancellationToken::new_owned();
        self.plugin
            .set_cancellation_token(CancelToken::from_ffi(token));
        handle
    }

    /// A plain job of `method`, its result decoded.
    pub async fn run<A: Message, T: Message + Default>(
        &mut self,
        method: &str,
        args: &A,
    ) -> Result<T, String> {
        self.new_token();
        let bytes = self.run_bytes(args.encode_to_vec(), Metadata::new(), Some(method));
        let bytes = bytes.await.0?;
        T::decode(bytes.as_slice()).map_err(|error| format!("not a result: {error}"))
    }

    /// A streamed job of `method`, its chunks decoded.
    pub async fn stream<A: Message, T: Message + Default>(
        &mut self,
        method: &str,
        args: &A,
    ) -> Result<Vec<T>, String> {
        self.new_token();
        let streamed = self.stream_bytes(args.encode_to_vec(), Some(method), 16);
        let streamed = streamed.await;
        streamed.end?;
        let chunks = streamed
            .chunks
            .iter()
            .map(|chunk| T::decode(chunk.as_slice()));
        let chunks: Result<Vec<T>, _> = chunks.collect();
        chunks.map_err(|error| format!("not a chunk: {error}"))
    }

    /// `run` as the host calls it: args bytes, metadata, `using`.
    pub async fn run_bytes(
        &mut self,
        args: Vec<u8>,
        metadata: Metadata,
        using: Option<&str>,
    ) -> (Result<Vec<u8>, String>, Metadata) {
        let using = using.map(str::to_string);
        self.plugin.run(args, metadata, using).await
    }

    /// `run_stream` into a sink of `capacity` chunks that the host reads.
    pub async fn stream_bytes(
        &mut self,
        args: Vec<u8>,
        using: Option<&str>,
        capacity: usize,
    ) -> Streamed {
        let (sender, mut receiver) = mpsc::channel(capacity);
        let reader = tokio::spawn(async move {
            let mut chunks = Vec::new();
            while let Some(chunk) = receiver.recv().await {
                chunks.push(chunk);
            }
            chunks
        });
        let sink = HighLevelSink::from_ffi(OutputSink::from_sender(sender));
        let using = using.map(str::to_string);
        let end = self.plugin.run_stream(args, Metadata::new(), using, sink);
        let end = end.await;
        let chunks = reader.await.unwrap_or_default();
        Streamed { chunks, end }
    }
}

impl<R: Runner> Default for Host<R> {
    fn default() -> Self {
        Self::new()
    }
}
