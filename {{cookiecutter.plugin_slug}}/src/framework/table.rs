//! The method table: what a runner declares, and the typed handlers behind each row.
//!
//! A row names a method, its description, its args and result messages (the type parameters,
//! checked against the first messages of `protos/<method>_args.proto` and
//! `protos/<method>_result.proto`) and its handlers. The output type follows from the
//! handlers: `answer` only is NON_STREAMING, `stream` only is STREAMING, both are BOTH. A
//! handler of the wrong type is a compile error at its row. A handler that needs its job's
//! metadata or cancellation token takes a [`Job`] too (`answer_with_job`, `stream_with_job`).
//!
//! A feed row (`feed`, `feed_with_job`) takes JobWorkerP's client stream: data a client sends
//! while the job runs, each item the first message of `protos/<method>_feed.proto`. Its
//! handler reads the items from a [`Feed`] and streams its results, so the row is STREAMING
//! and has no other handler.

use super::protos;
use super::{CANCELLED, DEFAULT_METHOD_NAME};
use jobworkerp_plugin_abi::sink::FinalFeedChunk;
use jobworkerp_plugin_abi::{CancelToken, HighLevelSink};
use prost::{Message, Name};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What the author implements: settings handling and the method table.
pub trait Runner: Sized + Send + Sync + 'static {
    /// The first message of `protos/settings.proto`.
    type Settings: Message + Name + Default;

    /// Builds a runner from a worker's settings (all defaults when it has none). Runs once
    /// per instance, on a blocking thread of the plugin's runtime: heavy set-up belongs here.
    fn load(settings: Self::Settings) -> Result<Self, String>;

    /// The plugin's name, description and methods. Called without `load()` (JobWorkerP reads
    /// the schemas of an instance it never loads), so it must be cheap and must not fail.
    fn methods() -> MethodTable<Self>;
}

/// JobWorkerP's `StreamingOutputType`: only a guard at enqueue time; the job's streaming
/// type, not this, decides whether `run` or `run_stream` is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputType {
    NonStreaming = 0,
    Streaming = 1,
    Both = 2,
}

/// What a handler may know of its job besides its args: the metadata the job came with, and
/// whether it was cancelled (JobWorkerP also cancels a job that timed out).
#[derive(Clone, Default)]
pub struct Job {
    pub metadata: HashMap<String, String>,
    token: Option<CancelToken>,
}

impl Job {
    pub(super) fn new(metadata: HashMap<String, String>, token: Option<CancelToken>) -> Self {
        Self { metadata, token }
    }

    /// Whether the job was cancelled: a handler that blocks (a loop without `.await`) checks
    /// this between steps, since a cancel can only end a task at an `.await`.
    pub fn is_cancelled(&self) -> bool {
        self.token.as_ref().is_some_and(CancelToken::is_cancelled)
    }

    /// Resolves once the job is cancelled (never, for a job without a token).
    pub async fn cancelled(&self) {
        match &self.token {
            Some(token) => token.cancelled().await,
            None => std::future::pending().await,
        }
    }
}

/// The stream a `stream` handler writes its chunks to. JobWorkerP's LLM tool path keeps only
/// a stream's last chunk, so the last one must carry the complete result.
pub struct Chunks<T> {
    sink: HighLevelSink,
    token: Option<CancelToken>,
    chunk: PhantomData<fn(T)>,
}

impl<T: Message> Chunks<T> {
    /// Sends one chunk. Fails, ending the stream through `?`, once the job is cancelled (a
    /// reader that keeps up would otherwise let a whole stream pass between two checks of
    /// the token) or when the host stopped reading.
    pub async fn send(&self, chunk: T) -> Result<(), String> {
        if self.token.as_ref().is_some_and(CancelToken::is_cancelled) {
            return Err(CANCELLED.to_string());
        }
        self.sink.send(chunk.encode_to_vec()).await
    }
}

/// The items a client feeds a running job, decoded, in the order they were sent. The input
/// ends with the item the client marks final (`is_final`), or when the server closes the feed
/// without one; [`Feed::next`] then gives `Ok(None)`. A cancel ends the job at its next
/// `.await`, so a handler waiting for an item ends too.
pub struct Feed<F> {
    items: mpsc::Receiver<FinalFeedChunk>,
    ended: bool,
    item: PhantomData<fn() -> F>,
}

impl<F: Message + Name + Default> Feed<F> {
    pub(super) fn new(items: mpsc::Receiver<FinalFeedChunk>) -> Self {
        Self {
            items,
            ended: false,
            item: PhantomData,
        }
    }

    /// The next item; `Ok(None)` once the input has ended; an error for bytes that are not an
    /// `F` (the job then fails through `?`).
    pub async fn next(&mut self) -> Result<Option<F>, String> {
        if self.ended {
            return Ok(None);
        }
        match self.items.recv().await {
            Some((bytes, is_final)) => {
                if is_final {
                    self.end();
                }
                decode::<F>(&bytes, "feed data").map(Some)
            }
            None => {
                self.end();
                Ok(None)
            }
        }
    }

    /// After the final item nothing more is read: dropping the receiver tells the server at
    /// once that a late item has nowhere to go.
    fn end(&mut self) {
        self.ended = true;
        self.items.close();
    }
}

/// A job's work, ready to run as a task of the plugin's runtime.
pub type Work<T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'static>>;
type AnswerFn<R> = Arc<dyn Fn(Arc<R>, &[u8], Job) -> Result<Work<Vec<u8>>, String> + Send + Sync>;
type StreamFn<R> =
    Arc<dyn Fn(Arc<R>, &[u8], HighLevelSink, Job) -> Result<Work<()>, String> + Send + Sync>;
/// A feed row's handler, given its job's feed receiver.
pub type FeedFn<R> = Arc<
    dyn Fn(
            Arc<R>,
            &[u8],
            mpsc::Receiver<FinalFeedChunk>,
            HighLevelSink,
            Job,
        ) -> Result<Work<()>, String>
        + Send
        + Sync,
>;

/// One row of the table, with its args type `A` and result type `T`.
pub struct Method<R, A, T> {
    name: String,
    description: String,
    answer: Option<AnswerFn<R>>,
    stream: Option<StreamFn<R>>,
    feed: Option<(FeedFn<R>, String)>, // the handler, and the feed message it decodes
    messages: PhantomData<fn(A) -> T>,
}

impl<R: Runner, A: Message + Name + Default, T: Message + Name + Default + 'static>
    Method<R, A, T>
{
    pub fn new(name: &str, description: &str) -> Self {
        Self {
            name: name.to_string(),
            description: description.to_string(),
            answer: None,
            stream: None,
            feed: None,
            messages: PhantomData,
        }
    }

    /// The handler of a plain job: the whole result at once.
    pub fn answer<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Arc<R>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, String>> + Send + 'static,
    {
        self.answer_with_job(move |runner, args, _job| handler(runner, args))
    }

    /// Like `answer`, for a handler that also takes its [`Job`].
    pub fn answer_with_job<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Arc<R>, A, Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, String>> + Send + 'static,
    {
        self.answer = Some(Arc::new(move |runner, args, job| {
            let work = handler(runner, decode::<A>(args, "args")?, job);
            Ok(Box::pin(async move {
                work.await.map(|result| result.encode_to_vec())
            }))
        }));
        self
    }

    /// The handler of a streamed job: chunks sent one by one.
    pub fn stream<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Arc<R>, A, Chunks<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.stream_with_job(move |runner, args, chunks, _job| handler(runner, args, chunks))
    }

    /// Like `stream`, for a handler that also takes its [`Job`].
    pub fn stream_with_job<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Arc<R>, A, Chunks<T>, Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.stream = Some(Arc::new(move |runner, args, sink, job| {
            let chunks = Chunks {
                sink,
                token: job.token.clone(),
                chunk: PhantomData,
            };
            Ok(Box::pin(handler(
                runner,
                decode::<A>(args, "args")?,
                chunks,
                job,
            )))
        }));
        self
    }

    /// The handler of a feed method: the job's args, the items a client feeds it (each an `F`,
    /// the first message of `protos/<method>_feed.proto`) and the stream its chunks go to.
    pub fn feed<F, H, Fut>(self, handler: H) -> Self
    where
        F: Message + Name + Default + 'static,
        H: Fn(Arc<R>, A, Feed<F>, Chunks<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.feed_with_job(move |runner, args, feed, chunks, _job| {
            handler(runner, args, feed, chunks)
        })
    }

    /// Like `feed`, for a handler that also takes its [`Job`].
    pub fn feed_with_job<F, H, Fut>(mut self, handler: H) -> Self
    where
        F: Message + Name + Default + 'static,
        H: Fn(Arc<R>, A, Feed<F>, Chunks<T>, Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let handler: FeedFn<R> = Arc::new(move |runner, args, items, sink, job| {
            let chunks = Chunks {
                sink,
                token: job.token.clone(),
                chunk: PhantomData,
            };
            let args = decode::<A>(args, "args")?;
            Ok(Box::pin(handler(
                runner,
                args,
                Feed::new(items),
                chunks,
                job,
            )))
        });
        self.feed = Some((handler, F::full_name()));
        self
    }
}

/// Decodes a message or says what was wrong with the bytes.
pub fn decode<M: Message + Name + Default>(bytes: &[u8], what: &str) -> Result<M, String> {
    M::decode(bytes).map_err(|error| format!("{what} are not a valid {}: {error}", M::NAME))
}

/// A row without its types: what the plugin serves.
pub struct Row<R> {
    pub name: String,
    pub description: String,
    pub answer: Option<AnswerFn<R>>,
    pub stream: Option<StreamFn<R>>,
    pub feed: Option<FeedFn<R>>,
    pub(super) args: (String, String), // (proto file, full message name the row expects)
    result: (String, String),          // likewise for the result
    feed_message: Option<(String, String)>, // likewise for a feed row's items
    /// Whether bytes decode as the result message (the contract suite checks every answer).
    pub(super) decodes_result: fn(&[u8]) -> Result<(), String>,
}

impl<R> Row<R> {
    pub fn output_type(&self) -> OutputType {
        if self.feed.is_some() {
            return OutputType::Streaming;
        }
        match (&self.answer, &self.stream) {
            (Some(_), Some(_)) => OutputType::Both,
            (None, Some(_)) => OutputType::Streaming,
            _ => OutputType::NonStreaming,
        }
    }

    pub fn args_file(&self) -> &str {
        &self.args.0
    }

    pub fn result_file(&self) -> &str {
        &self.result.0
    }

    /// `protos/<method>_feed.proto` for a feed row.
    pub fn feed_file(&self) -> Option<&str> {
        self.feed_message.as_ref().map(|(file, _)| file.as_str())
    }
}

/// The plugin's identity and its methods, in order.
pub struct MethodTable<R> {
    pub name: String,
    pub description: String,
    pub rows: Vec<Row<R>>,
}

impl<R: Runner> MethodTable<R> {
    pub fn new(name: &str, description: &str) -> Self {
        Self {
            name: name.to_string(),
            description: description.to_string(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; its proto files are `protos/<name>_args.proto` and `<name>_result.proto`.
    pub fn method<A: Message + Name + Default, T: Message + Name + Default + 'static>(
        mut self,
        method: Method<R, A, T>,
    ) -> Self {
        let file = |role: &str| format!("{}_{role}.proto", method.name);
        let (feed, feed_message) = match method.feed {
            Some((handler, message)) => (Some(handler), Some((file("feed"), message))),
            None => (None, None),
        };
        self.rows.push(Row {
            args: (file("args"), A::full_name()),
            result: (file("result"), T::full_name()),
            feed,
            feed_message,
            decodes_result: |bytes| decode::<T>(bytes, "result bytes").map(drop),
            name: method.name,
            description: method.description,
            answer: method.answer,
            stream: method.stream,
        });
        self
    }

    /// The row `using` names. `None` is JobWorkerP's default method, else the only method.
    pub fn resolve(&self, using: Option<&str>) -> Result<&Row<R>, String> {
        let names = || {
            let names: Vec<&str> = self.rows.iter().map(|row| row.name.as_str()).collect();
            names.join(", ")
        };
        let wanted = match using {
            Some(name) => name,
            None if self.rows.len() == 1 => self.rows[0].name.as_str(),
            None => DEFAULT_METHOD_NAME,
        };
        match self.rows.iter().find(|row| row.name == wanted) {
            Some(row) => Ok(row),
            None if using.is_none() => Err(format!(
                "no method given and there is no '{DEFAULT_METHOD_NAME}' method; \
                 choose one of {} with 'using'",
                names()
            )),
            None => Err(format!("Unknown method '{wanted}'; methods: {}", names())),
        }
    }

    /// Whether the table agrees with the protos: every row has a handler and a unique name,
    /// and its messages are the first messages of its files (JobWorkerP reads the first).
    pub fn check(&self) -> Result<(), String> {
        let (_, settings) = protos::first_message("settings.proto")?;
        expect_first("settings.proto", &settings, &R::Settings::full_name())?;
        if self.rows.is_empty() {
            return Err("the method table has no methods".to_string());
        }
        let mut seen = HashSet::new();
        for row in &self.rows {
            if !seen.insert(row.name.as_str()) {
                return Err(format!("method '{}' is in the table twice", row.name));
            }
            let handlers = [row.answer.is_some(), row.stream.is_some()];
            if row.feed.is_some() && handlers.contains(&true) {
                return Err(format!(
                    "method '{}' has a feed and another handler: a feed method only streams \
                     its results, so its row has `feed` alone",
                    row.name
                ));
            }
            if row.feed.is_none() && !handlers.contains(&true) {
                return Err(format!(
                    "method '{}' has neither answer nor stream",
                    row.name
                ));
            }
            for (file, expected) in [&row.args, &row.result]
                .into_iter()
                .chain(&row.feed_message)
            {
                let (_, found) = protos::first_message(file)?;
                expect_first(file, &found, expected)?;
            }
        }
        Ok(())
    }
}

fn expect_first(file: &str, found: &str, expected: &str) -> Result<(), String> {
    if found == expected {
        return Ok(());
    }
    Err(format!(
        "protos/{file} starts with message {found}, but the table uses {expected}: \
         JobWorkerP takes a file's first message as its type"
    ))
}
