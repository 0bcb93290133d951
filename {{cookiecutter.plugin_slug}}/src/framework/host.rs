//! A plugin instance driven in-process as JobWorkerP drives one: a token before each job,
//! `load`, `run`, `run_stream` into a sink the host reads, and for a feed method the feed
//! channel set up before `run_stream` with items sent into it while the job runs. Through
//! `PluginV2`, without the FFI layer (`tests/library.rs` checks that layer on the built `.so`).

use super::plugin::Plugin;
use super::table::Runner;
use jobworkerp_plugin_abi::{
    CancelToken, FfiCancellationToken, HighLevelSink, HighLevelSinkWithFinal, OutputSink,
    OwnedCancelHandle, PluginV2,
};
use prost::Message;
use std::collections::HashMap;
use std::time::Duration;
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

/// How a host feeds a job: its items, and how the input ends.
#[derive(Clone, Debug, Default)]
pub struct Feeding {
    /// The items' bytes, sent in order.
    pub items: Vec<Vec<u8>>,
    /// Whether the last item carries `is_final` (else the input ends only when the host lets
    /// go of the channel).
    pub last_is_final: bool,
    /// Whether the host keeps the channel open after the last item until the job ends (a
    /// plugin must then end the input by `is_final` alone).
    pub hold_open: bool,
    /// A pause before each item, as a client that sends while the job runs.
    pub pause: Duration,
}

impl Feeding {
    /// `items`, the last one final.
    pub fn of<F: Message>(items: &[F]) -> Self {
        Self {
            items: items.iter().map(Message::encode_to_vec).collect(),
            last_is_final: true,
            ..Self::default()
        }
    }
}

/// A fed job's chunks, how it ended, and how many items the host could deliver.
pub struct Fed {
    pub streamed: Streamed,
    pub delivered: usize,
}

impl<R: Runner> Host<R> {
    /// A streamed job of feed method `method`, its chunks decoded: the items are fed while it
    /// runs, the last one final.
    pub async fn feed<A: Message, F: Message, T: Message + Default>(
        &mut self,
        method: &str,
        args: &A,
        items: &[F],
    ) -> Result<Vec<T>, String> {
        self.new_token();
        let fed = self.feed_bytes(args.encode_to_vec(), Some(method), Feeding::of(items));
        let fed = fed.await;
        fed.streamed.end?;
        let chunks = fed.streamed.chunks.iter();
        let chunks: Result<Vec<T>, _> = chunks.map(|chunk| T::decode(chunk.as_slice())).collect();
        chunks.map_err(|error| format!("not a chunk: {error}"))
    }

    /// A fed job as JobWorkerP runs one: `supports_client_stream`, the channel set up, then
    /// `run_stream` while a task sends the items. Without a channel (a method that takes no
    /// feed) the job runs unfed, as the host would run it.
    pub async fn feed_bytes(
        &mut self,
        args: Vec<u8>,
        using: Option<&str>,
        feeding: Feeding,
    ) -> Fed {
        let channel = if self.plugin.supports_client_stream(using) {
            self.plugin.setup_client_stream_channel_v2(using).await
        } else {
            None
        };
        let feeder = channel.map(|channel| {
            let (done, ended) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(send_feed(
                HighLevelSinkWithFinal::from_ffi(channel),
                feeding,
                ended,
            ));
            (task, done)
        });
        let streamed = self.stream_bytes(args, using, 16).await;
        let delivered = match feeder {
            Some((task, done)) => {
                let _ = done.send(());
                task.await.unwrap_or_default()
            }
            None => 0,
        };
        Fed {
            streamed,
            delivered,
        }
    }
}

/// Sends the items; keeps the channel until the job has ended when asked to hold it open.
/// Returns how many items the plugin's channel took.
async fn send_feed(
    channel: HighLevelSinkWithFinal,
    feeding: Feeding,
    job_ended: tokio::sync::oneshot::Receiver<()>,
) -> usize {
    let count = feeding.items.len();
    let mut delivered = 0;
    for (index, item) in feeding.items.into_iter().enumerate() {
        tokio::time::sleep(feeding.pause).await;
        let is_final = feeding.last_is_final && index + 1 == count;
        if channel.send(item, is_final).await.is_err() {
            break;
        }
        delivered += 1;
    }
    if feeding.hold_open {
        let _ = job_ended.await;
    }
    delivered
}

impl<R: Runner> Default for Host<R> {
    fn default() -> Self {
        Self::new()
    }
}
