//! `PluginV2` for any runner: what JobWorkerP calls through the vtable.
//!
//! The constructor (`Plugin::default()`) only makes an empty value: JobWorkerP builds an
//! instance for every schema read and every job of a non-static worker. Identity and schemas
//! come from the runner's table (built on first use) and the embedded protos; `load()` starts
//! the plugin's runtime, decodes the settings and builds the runner. Each job runs on a thread
//! of that runtime (see `runtime.rs`), raced against the job's cancellation token: a cancel or
//! the host's timeout releases the host at once and ends the job at its next await.

use super::json_schema::message_schema;
use super::protos;
use super::runtime::{run_job, runtime};
use super::schema::{MethodJsonSchema, MethodSchema};
use super::table::{Job, MethodTable, Row, Runner, decode};
use jobworkerp_plugin_abi::sink::FinalFeedChunk;
use jobworkerp_plugin_abi::{CancelToken, HighLevelSink, OutputSinkWithFinal, PluginV2};
use prost::Message;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;

/// Feed items the channel holds before the host's send waits (the host's own buffer is 32).
const FEED_CAPACITY: usize = 32;

pub struct Plugin<R: Runner> {
    table: OnceLock<MethodTable<R>>,
    runner: Option<Arc<R>>,
    token: Option<CancelToken>,
    /// The receiving end of the feed channel set up for the next job: (method, receiver).
    feed: Option<(String, mpsc::Receiver<FinalFeedChunk>)>,
}

impl<R: Runner> Default for Plugin<R> {
    fn default() -> Self {
        Self {
            table: OnceLock::new(),
            runner: None,
            token: None,
            feed: None,
        }
    }
}

impl<R: Runner> Plugin<R> {
    fn table(&self) -> &MethodTable<R> {
        self.table.get_or_init(R::methods)
    }

    /// The loaded runner and the row `using` names.
    fn prepare(&self, using: Option<&str>) -> Result<(Arc<R>, &Row<R>), String> {
        let runner = self
            .runner
            .clone()
            .ok_or("the plugin is not loaded: JobWorkerP calls load() before a job")?;
        Ok((runner, self.table().resolve(using)?))
    }

    /// The job's context for a handler: its metadata and token.
    fn job(&self, metadata: &HashMap<String, String>) -> Job {
        Job::new(metadata.clone(), self.token.clone())
    }

    fn schema_of(row: &Row<R>) -> MethodSchema {
        MethodSchema {
            // The table was checked by load(); an instance JobWorkerP never loads still
            // answers, and a missing file (which `cargo test` reports) reads as "".
            args_proto: protos::text(row.args_file())
                .unwrap_or_default()
                .to_string(),
            result_proto: protos::text(row.result_file())
                .unwrap_or_default()
                .to_string(),
            description: Some(row.description.clone()),
            output_type: row.output_type() as i32,
            require_client_stream: row.feed.is_some(),
            client_stream_data_proto: row
                .feed_file()
                .map(|file| protos::text(file).unwrap_or_default().to_string()),
        }
    }

    fn json_schema_of(row: &Row<R>) -> MethodJsonSchema {
        let schema = |file: &str| {
            protos::first_message(file)
                .map(|(message, _)| message_schema(message))
                .unwrap_or_default()
        };
        MethodJsonSchema {
            args_schema: schema(row.args_file()),
            result_schema: Some(schema(row.result_file())),
            client_stream_data_schema: row.feed_file().map(schema),
        }
    }

    /// The row `using` names when it is a feed row.
    fn feed_row(&self, using: Option<&str>) -> Option<&Row<R>> {
        let row = self.table().resolve(using).ok()?;
        row.feed.is_some().then_some(row)
    }
}

#[jobworkerp_plugin_abi::async_trait::async_trait]
impl<R: Runner> PluginV2 for Plugin<R> {
    fn name(&self) -> String {
        self.table().name.clone()
    }

    fn description(&self) -> String {
        self.table().description.clone()
    }

    fn runner_settings_proto(&self) -> String {
        protos::text("settings.proto")
            .unwrap_or_default()
            .to_string()
    }

    fn settings_schema(&self) -> String {
        protos::first_message("settings.proto")
            .map(|(message, _)| message_schema(message))
            .unwrap_or_default()
    }

    fn method_proto_map(&self) -> HashMap<String, Vec<u8>> {
        let rows = &self.table().rows;
        rows.iter()
            .map(|row| (row.name.clone(), Self::schema_of(row).encode_to_vec()))
            .collect()
    }

    fn method_json_schema_map(&self) -> Option<HashMap<String, Vec<u8>>> {
        let rows = &self.table().rows;
        let map = rows.iter().map(|row| {
            let schema = Self::json_schema_of(row).encode_to_vec();
            (row.name.clone(), schema)
        });
        Some(map.collect())
    }

    fn supports_client_stream(&self, using: Option<&str>) -> bool {
        self.feed_row(using).is_some()
    }

    fn client_stream_data_proto(&self, using: Option<&str>) -> Option<String> {
        let file = self.feed_row(using)?.feed_file()?;
        protos::text(file).ok().map(str::to_string)
    }

    async fn setup_client_stream_channel_v2(
        &mut self,
        using: Option<&str>,
    ) -> Option<OutputSinkWithFinal> {
        let name = self.feed_row(using)?.name.clone();
        let (sender, receiver) = mpsc::channel(FEED_CAPACITY);
        self.feed = Some((name, receiver));
        Some(OutputSinkWithFinal::from_sender(sender))
    }

    fn set_cancellation_token(&mut self, token: CancelToken) {
        self.token = Some(token);
    }

    async fn load(&mut self, settings: Vec<u8>) -> Result<(), String> {
        let runtime = runtime()?;
        self.table().check()?;
        let settings = decode::<R::Settings>(&settings, "settings")?;
        let runner = runtime
            .spawn_blocking(move || R::load(settings))
            .await
            .map_err(|error| format!("load() did not finish: {error}"))??;
        self.runner = Some(Arc::new(runner));
        Ok(())
    }

    async fn run(
        &mut self,
        args: Vec<u8>,
        metadata: HashMap<String, String>,
        using: Option<String>,
    ) -> (Result<Vec<u8>, String>, HashMap<String, String>) {
        let outcome = async {
            let (runner, row) = self.prepare(using.as_deref())?;
            if row.feed.is_some() {
                return Err(feed_only(&row.name));
            }
            let answer = row.answer.as_ref().ok_or_else(|| {
                format!(
                    "method '{}' only streams: send it a streaming request",
                    row.name
                )
            })?;
            let work = answer(runner, &args, self.job(&metadata))?;
            run_job(&row.name, work, self.token.clone()).await
        };
        (outcome.await, metadata)
    }

    async fn run_stream(
        &mut self,
        args: Vec<u8>,
        metadata: HashMap<String, String>,
        using: Option<String>,
        output: HighLevelSink,
    ) -> Result<HashMap<String, String>, String> {
        // A channel set up for this job is this job's alone, whatever happens to it.
        let feed = self.feed.take();
        let (runner, row) = self.prepare(using.as_deref())?;
        if let Some(handler) = &row.feed {
            let items = match feed {
                Some((method, items)) if method == row.name => items,
                _ => return Err(feed_only(&row.name)),
            };
            let work = handler(runner, &args, items, output, self.job(&metadata))?;
            run_job(&row.name, work, self.token.clone()).await?;
            return Ok(metadata);
        }
        let stream = row.stream.as_ref().ok_or_else(|| {
            format!(
                "method '{}' does not stream: send it a non-streaming request",
                row.name
            )
        })?;
        // The args are decoded before the first chunk: an error then fails the job itself.
        let work = stream(runner, &args, output, self.job(&metadata))?;
        run_job(&row.name, work, self.token.clone()).await?;
        Ok(metadata)
    }
}

/// Why a feed method's job was refused: it came without a feed channel.
fn feed_only(method: &str) -> String {
    format!(
        "method '{method}' takes a client stream (feed): enqueue it with \
         EnqueueWithClientStream, on a worker with use_static"
    )
}
