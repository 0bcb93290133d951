//! JobWorkerP V2 plugin library that runs this project's Python runner in worker processes.
//!
//! No Python runs in the JobWorkerP process. The constructor only builds an empty value:
//! identity and schemas are constants baked in by `build.rs`. `load(settings)` takes a worker
//! process loaded with those settings from the process-wide pool (`pool.rs`), or starts one
//! (`process.rs`) and has it load them; each job is one call over the worker's private channel
//! (`frames.rs`). One worker serves one instance at a time, so the jobs JobWorkerP runs at
//! once run in as many processes, in parallel.
//!
//! Whatever a job does to its worker stays there: a worker that dies fails its own job with
//! one line naming the cause, and the instance's next job gets a new worker with the same
//! settings. A cancelled job, or one the host drops at its timeout, stops its worker (SIGTERM
//! to its process group, SIGKILL a second later) without waiting for it.
//!
//! A feed method's client stream (ABI minor 1, `setup_client_stream_channel_v2`) goes to the
//! worker on the same channel, as FEED frames written while the worker's chunks are read;
//! the client's `is_final`, or the host dropping the sink, ends it with FEED_END.
//!
//! The host polls our futures on its own tokio runtime, which this library's copy of tokio
//! cannot see: the channel I/O runs on the bridge's own runtime and its answers come back
//! through tokio's runtime-agnostic channels. Nothing panics on purpose, nothing blocks the
//! host's threads and nothing exits the JobWorkerP process.

mod frames;
mod identity;
mod pool;
mod process;
mod schema;

use frames::{ChannelError, Reply, Request};
use jobworkerp_plugin_abi::sink::FinalFeedChunk;
use jobworkerp_plugin_abi::{
    CancelToken, HighLevelSink, OutputSinkWithFinal, PluginV2, register_plugin_v2,
};
use process::{GRACE, Process, Worker};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

/// The bridge's own threads: channel I/O, output pumps, process start-up and stop timers.
static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

fn runtime() -> Result<&'static Runtime, String> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("jobworkerp-python-bridge")
                .enable_io()
                .enable_time()
                .build()
                .map_err(|error| format!("cannot start the bridge's threads: {error}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

const NOT_LOADED: &str = "the plugin is not loaded: call load() first";
const CANCELLED: &str = "cancelled";
const UNFINISHED: &str = "the bridge's call to the python worker did not finish";
/// Chunks of a stream read ahead of the host's sink.
const READ_AHEAD: usize = 4;
/// Feed pieces the host may send ahead of the worker (JobWorkerP's own feed channel holds 32).
const FEED_CAPACITY: usize = 32;

/// The receiving end of a job's feed: `(piece, is_final)` as the host sends them.
type Feed = mpsc::Receiver<FinalFeedChunk>;

/// What a call to a worker ended with.
enum Outcome {
    /// The worker's last reply; the worker is healthy and idle again.
    Done(Reply, Worker),
    /// The worker died or broke the channel: the job's error. The worker is gone.
    Failed(String),
    /// The job's future was dropped: nobody waits for the answer.
    Abandoned,
}

/// What a running call sends to the job's future, in order.
enum Event {
    Chunk(Vec<u8>),
    Finished(Outcome),
}

/// Writes the request and reads the replies up to the last one, forwarding stream chunks; a
/// fed stream's feed is written to the worker meanwhile.
async fn talk(
    channel: &mut tokio::net::UnixStream,
    request: &Request,
    events: &mpsc::Sender<Event>,
    feed: Option<Feed>,
) -> Result<Reply, Option<ChannelError>> {
    frames::write(channel, request).await.map_err(Some)?;
    let Some(feed) = feed else {
        return replies(channel, request, events).await;
    };
    let (mut reader, mut writer) = channel.split();
    let (ended, stream_over) = oneshot::channel::<()>();
    let replied = async {
        let replied = replies(&mut reader, request, events).await;
        let _ = ended.send(());
        replied
    };
    let (replied, forwarded) = tokio::join!(replied, forward(&mut writer, feed, stream_over));
    let reply = replied?;
    forwarded.map_err(Some)?;
    Ok(reply)
}

/// The worker's replies up to the last one; chunks go to `events`.
async fn replies<R: tokio::io::AsyncRead + Unpin>(
    channel: &mut R,
    request: &Request,
    events: &mpsc::Sender<Event>,
) -> Result<Reply, Option<ChannelError>> {
    loop {
        let reply = frames::read(channel).await.map_err(Some)?;
        if reply.kind != frames::CHUNK {
            return Ok(reply);
        }
        if request.kind != frames::STREAM && request.kind != frames::FEED_STREAM {
            return Err(Some(ChannelError::Malformed));
        }
        if events.send(Event::Chunk(reply.payload)).await.is_err() {
            return Err(None);
        }
    }
}

/// Writes the feed's pieces until the client's last one, the host dropping the sink or the
/// stream's end, then FEED_END: the worker reads its feed up to FEED_END before its next call.
async fn forward<W: tokio::io::AsyncWrite + Unpin>(
    channel: &mut W,
    mut feed: Feed,
    mut stream_over: oneshot::Receiver<()>,
) -> Result<(), ChannelError> {
    loop {
        // Only between frames: a frame is written whole or the worker is gone.
        let item = tokio::select! {
            biased;
            _ = &mut stream_over => None,
            item = feed.recv() => item,
        };
        let Some((piece, last)) = item else { break };
        // An empty last piece only marks the end of input.
        if !(last && piece.is_empty()) {
            let request = Request {
                kind: frames::FEED,
                payload: piece,
                ..Request::default()
            };
            frames::write(channel, &request).await?;
        }
        if last {
            break;
        }
    }
    let end = Request {
        kind: frames::FEED_END,
        ..Request::default()
    };
    frames::write(channel, &end).await
}

/// One call on the bridge's runtime: it ends with the worker's last reply, or with the
/// worker's death (seen by its pid, even while something it forked holds the channel open).
async fn exchange(
    mut worker: Worker,
    request: Request,
    during: &'static str,
    events: &mpsc::Sender<Event>,
    feed: Option<Feed>,
) -> Outcome {
    let process = worker.process.clone();
    let talked = tokio::select! {
        biased;
        talked = talk(&mut worker.channel, &request, events, feed) => Some(talked),
        _ = process.exited() => None,
        () = events.closed() => return Outcome::Abandoned,
    };
    match talked {
        Some(Ok(reply)) => Outcome::Done(reply, worker),
        Some(Err(None)) => Outcome::Abandoned,
        Some(Err(Some(error))) => {
            drop(worker);
            Outcome::Failed(broken(&process, &error, during).await)
        }
        None => Outcome::Failed(process.died(during).await),
    }
}

/// The error of a call whose channel broke: the worker's death if it is dying, else the
/// broken channel itself (and the worker is stopped).
async fn broken(process: &Arc<Process>, error: &ChannelError, during: &str) -> String {
    if tokio::time::timeout(GRACE, process.exited()).await.is_ok() {
        return process.died(during).await;
    }
    process.terminate();
    let what = match error {
        ChannelError::Closed => "closed its channel",
        ChannelError::Malformed => "sent a malformed frame",
    };
    format!(
        "python worker {what} while running '{during}'{}",
        process.last_stderr()
    )
}

/// Stops a worker whose job's future is dropped or cancelled before the call ended.
struct Abandon(Option<Arc<Process>>);

impl Abandon {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if let Some(process) = self.0.take() {
            process.terminate();
        }
    }
}

/// A call running on the bridge's runtime, seen from the job's future.
struct Running {
    events: mpsc::Receiver<Event>,
    abandon: Abandon,
}

fn dispatch(
    worker: Worker,
    request: Request,
    during: &'static str,
    feed: Option<Feed>,
) -> Result<Running, String> {
    let runtime = runtime()?;
    let (sender, events) = mpsc::channel(READ_AHEAD);
    let abandon = Abandon(Some(worker.process.clone()));
    runtime.spawn(async move {
        let outcome = exchange(worker, request, during, &sender, feed).await;
        let _ = sender.send(Event::Finished(outcome)).await;
    });
    Ok(Running { events, abandon })
}

/// A worker loaded with `settings`: from the pool, or a new one (started and loaded on the
/// bridge's runtime).
async fn start(settings: &[u8]) -> Result<Worker, String> {
    if let Some(worker) = pool::take(settings) {
        return Ok(worker);
    }
    let runtime = runtime()?;
    let (answer, answered) = oneshot::channel();
    let settings = settings.to_vec();
    runtime.spawn(async move {
        let started = start_new(settings.clone()).await;
        // Nobody waits any more (the load was dropped or cancelled): keep it for the next.
        if let Err(Ok(worker)) = answer.send(started) {
            pool::give_back(settings, worker);
        }
    });
    answered
        .await
        .unwrap_or_else(|_| Err(UNFINISHED.to_string()))
}

async fn start_new(settings: Vec<u8>) -> Result<Worker, String> {
    let (process, channel) = tokio::task::spawn_blocking(process::spawn)
        .await
        .map_err(|error| format!("the python worker did not start: {error}"))??;
    let worker = Worker { process, channel };
    let request = Request {
        kind: frames::LOAD,
        payload: settings,
        ..Request::default()
    };
    // Only stream chunks use the channel; a load has none.
    let (sender, _events) = mpsc::channel(1);
    match exchange(worker, request, "load", &sender, None).await {
        Outcome::Done(reply, worker) if reply.kind == frames::LOADED => Ok(worker),
        Outcome::Done(reply, _) if reply.kind == frames::ERROR => Err(reply.message),
        Outcome::Done(reply, _) => Err(unexpected(&reply, "load")),
        Outcome::Failed(error) => Err(error),
        Outcome::Abandoned => Err(UNFINISHED.to_string()),
    }
}

fn unexpected(reply: &Reply, during: &str) -> String {
    format!(
        "python worker answered '{during}' with a reply of kind {}",
        reply.kind
    )
}

async fn cancelled(token: Option<&CancelToken>) {
    match token {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

#[derive(Default)]
pub struct PythonBridge {
    token: Option<CancelToken>,
    /// The settings of the last successful `load()`.
    settings: Option<Vec<u8>>,
    /// The instance's worker while no job runs on it.
    worker: Option<Worker>,
    /// The feed set up for the next streaming job (`setup_client_stream_channel_v2`).
    feed: Option<Feed>,
}

impl PythonBridge {
    fn cancelled(&self) -> bool {
        self.token.as_ref().is_some_and(CancelToken::is_cancelled)
    }

    /// The worker for the next job: the instance's own, or (after a death, a cancel or a
    /// timeout took it) a new one loaded with the same settings.
    async fn worker(&mut self) -> Result<Worker, String> {
        let settings = self.settings.clone().ok_or(NOT_LOADED)?;
        if let Some(worker) = self.worker.take()
            && worker.process.alive()
        {
            return Ok(worker);
        }
        let token = self.token.clone();
        tokio::select! {
            biased;
            started = start(&settings) => started,
            () = cancelled(token.as_ref()) => Err(CANCELLED.to_string()),
        }
    }

    /// Gives the instance's idle worker to the pool.
    fn release(&mut self) {
        if let (Some(settings), Some(worker)) = (self.settings.take(), self.worker.take()) {
            pool::give_back(settings, worker);
        }
    }
}

impl Drop for PythonBridge {
    fn drop(&mut self) {
        self.release();
    }
}

#[jobworkerp_plugin_abi::async_trait::async_trait]
impl PluginV2 for PythonBridge {
    fn name(&self) -> String {
        identity::NAME.to_string()
    }

    fn description(&self) -> String {
        identity::DESCRIPTION.to_string()
    }

    fn runner_settings_proto(&self) -> String {
        identity::RUNNER_SETTINGS_PROTO.to_string()
    }

    fn settings_schema(&self) -> String {
        identity::SETTINGS_SCHEMA.to_string()
    }

    fn method_proto_map(&self) -> HashMap<String, Vec<u8>> {
        identity::method_proto_map()
    }

    fn method_json_schema_map(&self) -> Option<HashMap<String, Vec<u8>>> {
        identity::method_json_schema_map()
    }

    fn supports_client_stream(&self, using: Option<&str>) -> bool {
        identity::feed_proto(using).is_some()
    }

    fn client_stream_data_proto(&self, using: Option<&str>) -> Option<String> {
        identity::feed_proto(using).map(str::to_string)
    }

    /// A feed method's client stream: the host sends `(piece, is_final)` into the sink, the
    /// next `run_stream` forwards them to the worker. JobWorkerP calls this for streaming jobs
    /// of `use_static` workers only.
    async fn setup_client_stream_channel_v2(
        &mut self,
        using: Option<&str>,
    ) -> Option<OutputSinkWithFinal> {
        identity::feed_proto(using)?;
        let (sender, receiver) = mpsc::channel(FEED_CAPACITY);
        self.feed = Some(receiver);
        Some(OutputSinkWithFinal::from_sender(sender))
    }

    fn set_cancellation_token(&mut self, token: CancelToken) {
        self.token = Some(token);
    }

    async fn load(&mut self, settings: Vec<u8>) -> Result<(), String> {
        self.release();
        let worker = start(&settings).await?;
        self.settings = Some(settings);
        self.worker = Some(worker);
        Ok(())
    }

    async fn run(
        &mut self,
        args: Vec<u8>,
        metadata: HashMap<String, String>,
        using: Option<String>,
    ) -> (Result<Vec<u8>, String>, HashMap<String, String>) {
        self.feed = None; // a feed is for a stream
        if self.cancelled() {
            return (Err(CANCELLED.to_string()), metadata);
        }
        let worker = match self.worker().await {
            Ok(worker) => worker,
            Err(error) => return (Err(error), metadata),
        };
        let request = Request {
            kind: frames::RUN,
            payload: args,
            metadata: metadata.clone(),
            using,
        };
        let mut running = match dispatch(worker, request, "run", None) {
            Ok(running) => running,
            Err(error) => return (Err(error), metadata),
        };
        let token = self.token.clone();
        // A cancel stops the worker (dropping `running` does) and ends the job at once.
        let event = tokio::select! {
            biased;
            event = running.events.recv() => event,
            () = cancelled(token.as_ref()) => return (Err(CANCELLED.to_string()), metadata),
        };
        match event {
            Some(Event::Finished(Outcome::Done(reply, worker))) => {
                running.abandon.disarm();
                match reply.kind {
                    frames::RESULT => {
                        self.worker = Some(worker);
                        (Ok(reply.payload), reply.metadata)
                    }
                    frames::ERROR => {
                        self.worker = Some(worker);
                        (Err(reply.message), reply.metadata)
                    }
                    _ => (Err(unexpected(&reply, "run")), metadata),
                }
            }
            Some(Event::Finished(Outcome::Failed(error))) => (Err(error), metadata),
            _ => (Err(UNFINISHED.to_string()), metadata),
        }
    }

    async fn run_stream(
        &mut self,
        args: Vec<u8>,
        metadata: HashMap<String, String>,
        using: Option<String>,
        output: HighLevelSink,
    ) -> Result<HashMap<String, String>, String> {
        // The feed set up for this job, if any; never one left from an earlier job.
        let feed = self.feed.take();
        if self.cancelled() {
            return Err(CANCELLED.to_string());
        }
        let worker = self.worker().await?;
        let request = Request {
            kind: if feed.is_some() {
                frames::FEED_STREAM
            } else {
                frames::STREAM
            },
            payload: args,
            metadata: metadata.clone(),
            using,
        };
        let mut running = dispatch(worker, request, "run_stream", feed)?;
        let token = self.token.clone();
        loop {
            // A chunk that comes after the cancel is not sent: the stream ends here.
            let event = tokio::select! {
                biased;
                () = cancelled(token.as_ref()) => return Err(CANCELLED.to_string()),
                event = running.events.recv() => event,
            };
            match event {
                Some(Event::Chunk(chunk)) => {
                    tokio::select! {
                        biased;
                        () = cancelled(token.as_ref()) => return Err(CANCELLED.to_string()),
                        sent = output.send(chunk) => sent?,
                    }
                }
                Some(Event::Finished(Outcome::Done(reply, worker))) => {
                    running.abandon.disarm();
                    let ended = match reply.kind {
                        frames::END => Ok(metadata),
                        frames::ERROR => Err(reply.message),
                        _ => return Err(unexpected(&reply, "run_stream")),
                    };
                    self.worker = Some(worker);
                    if self.cancelled() {
                        return Err(CANCELLED.to_string());
                    }
                    return ended;
                }
                Some(Event::Finished(Outcome::Failed(error))) => return Err(error),
                _ => return Err(UNFINISHED.to_string()),
            }
        }
    }
}

register_plugin_v2!(PythonBridge, PythonBridge::default());
