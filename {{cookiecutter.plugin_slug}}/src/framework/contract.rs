//! The V2 contract suite, and a host in miniature for the author's own tests.
//!
//! [`Host`] drives the plugin in-process through the calls JobWorkerP makes (`PluginV2`: a
//! token before each job, `load`, `run`, `run_stream` into a sink), without the FFI layer; the
//! built `.so` is checked through that layer by `tests/library.rs`. [`Contract::check`] runs
//! the whole contract on a runner, with every expectation derived from its method table and
//! the compiled protos: identity and schemas, every method with sample args (each field of the
//! args message filled), output types from the rows, a stream's last chunk holding every field
//! of the plain answer, the default method, unknown methods and bad args refused (before the
//! first chunk), cancellation, a stalled stream's timeout, and concurrent instances.
//!
//! The sample args suit a method that accepts any value; give others with [`Contract::args`].

pub use super::host::{Host, Streamed};
use super::protos;
pub use super::samples::sample_args;
use super::samples::{holds_every_field, sample};
use super::table::{Row, Runner};
use super::{CANCELLED, DEFAULT_METHOD_NAME};
use jobworkerp_plugin_abi::futures::future::join_all;
use jobworkerp_plugin_abi::{HighLevelSink, OutputSink, PluginV2};
use prost::Message;
use prost_types::DescriptorProto;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::time::Duration;
use tokio::sync::mpsc;

type Metadata = HashMap<String, String>;

/// Bytes that are no message: a field 1 whose length runs past the end.
const GARBAGE: &[u8] = &[0x0a, 0x7f, 0x01];
const UNKNOWN_METHOD: &str = "no_such_method_in_the_table";
/// How long the suite waits for what must happen at once (generous for a busy machine).
const PATIENCE: Duration = Duration::from_secs(10);

/// The contract suite of a runner.
pub struct Contract<R: Runner> {
    settings: Vec<u8>,
    args: HashMap<String, Vec<u8>>,
    runner: PhantomData<R>,
}

impl<R: Runner> Default for Contract<R> {
    fn default() -> Self {
        Self {
            settings: Vec::new(),
            args: HashMap::new(),
            runner: PhantomData,
        }
    }
}

impl<R: Runner> Contract<R> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The settings the suite loads its instances with (default: none, all defaults).
    pub fn settings(mut self, settings: &R::Settings) -> Self {
        self.settings = settings.encode_to_vec();
        self
    }

    /// The args of `method`'s jobs, instead of the sample filled from its descriptor.
    pub fn args<A: Message>(mut self, method: &str, args: &A) -> Self {
        self.args.insert(method.to_string(), args.encode_to_vec());
        self
    }

    /// Runs the whole suite; panics with the first broken rule.
    pub fn check(self) {
        let host_runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the test host's runtime");
        host_runtime.block_on(async {
            let checks = [
                ("identity and schemas", self.identity().await),
                ("load", self.load().await),
                ("every method", self.every_method().await),
                ("the default method", self.default_method().await),
                ("refusals", self.refusals().await),
                ("cancellation", self.cancellation().await),
                ("a stalled stream's timeout", self.stalled_stream().await),
                ("concurrent instances", self.concurrency().await),
            ];
            for (name, outcome) in checks {
                if let Err(error) = outcome {
                    panic!("the V2 contract, {name}: {error}");
                }
            }
        });
    }

    fn rows() -> Vec<Row<R>> {
        R::methods().rows
    }

    fn args_of(&self, row: &Row<R>) -> Result<Vec<u8>, String> {
        if let Some(args) = self.args.get(&row.name) {
            return Ok(args.clone());
        }
        let (message, _) = protos::first_message(row.args_file())?;
        Ok(sample(message, 0))
    }

    async fn loaded(&self) -> Result<Host<R>, String> {
        let mut host = Host::new();
        host.load_bytes(self.settings.clone()).await?;
        Ok(host)
    }

    async fn identity(&self) -> Result<(), String> {
        let table = R::methods();
        table.check()?;
        let host = Host::<R>::new();
        let plugin = &host.plugin;
        expect(plugin.name() == table.name, "name() is the table's name")?;
        expect(plugin.description() == table.description, "description()")?;
        expect(
            plugin.runner_settings_proto() == protos::text("settings.proto")?,
            "settings",
        )?;
        let (settings, _) = protos::first_message("settings.proto")?;
        schema_fits(&plugin.settings_schema(), settings)?;
        let schemas = plugin.method_proto_map();
        let json_schemas = plugin.method_json_schema_map().unwrap_or_default();
        expect(schemas.len() == table.rows.len(), "a MethodSchema per row")?;
        for row in &table.rows {
            let found = schemas
                .get(&row.name)
                .ok_or("a row without a MethodSchema")?;
            let schema = super::schema::MethodSchema::decode(found.as_slice())
                .map_err(|error| error.to_string())?;
            expect(
                schema.args_proto == protos::text(row.args_file())?,
                "args_proto",
            )?;
            expect(
                schema.result_proto == protos::text(row.result_file())?,
                "result_proto",
            )?;
            expect(
                schema.output_type == row.output_type() as i32,
                "output_type",
            )?;
            expect(
                schema.description.as_ref() == Some(&row.description),
                "description",
            )?;
            expect(!schema.require_client_stream, "no client stream")?;
            let found = json_schemas
                .get(&row.name)
                .ok_or("a row without JSON Schemas")?;
            let json = super::schema::MethodJsonSchema::decode(found.as_slice())
                .map_err(|error| error.to_string())?;
            schema_fits(&json.args_schema, protos::first_message(row.args_file())?.0)?;
            let result = json.result_schema.unwrap_or_default();
            schema_fits(&result, protos::first_message(row.result_file())?.0)?;
        }
        Ok(())
    }

    async fn load(&self) -> Result<(), String> {
        let mut host = Host::<R>::new();
        let error = host.load_bytes(GARBAGE.to_vec()).await.err();
        let error = error.ok_or("settings that are no message were accepted")?;
        expect(error.contains("settings are not a valid"), &error)?;
        let mut host = Host::<R>::new();
        let row = &Self::rows()[0];
        host.new_token();
        let args = self.args_of(row)?;
        let (result, _) = host.run_bytes(args, Metadata::new(), Some(&row.name)).await;
        let error = result.err().ok_or("a job before load() ran")?;
        expect(error.contains("not loaded"), &error)
    }

    /// One job of `row`, plain when it answers, else streamed: the result, or the last chunk.
    async fn one_job(&self, host: &mut Host<R>, row: &Row<R>) -> Result<Vec<u8>, String> {
        host.new_token();
        let args = self.args_of(row)?;
        if row.answer.is_some() {
            return host
                .run_bytes(args, Metadata::new(), Some(&row.name))
                .await
                .0;
        }
        let streamed = host.stream_bytes(args, Some(&row.name), 16).await;
        streamed.end?;
        streamed
            .chunks
            .last()
            .cloned()
            .ok_or("a stream without a chunk".into())
    }

    async fn every_method(&self) -> Result<(), String> {
        let mut host = self.loaded().await?;
        for row in Self::rows() {
            let name = &row.name;
            let args = self.args_of(&row)?;
            let mut answer = None;
            if row.answer.is_some() {
                host.new_token();
                let metadata = Metadata::from([("trace".to_string(), "contract".to_string())]);
                let job = host.run_bytes(args.clone(), metadata.clone(), Some(name));
                let (result, back) = job.await;
                let result = result.map_err(|error| format!("'{name}' failed: {error}"))?;
                (row.decodes_result)(&result)?;
                expect(back == metadata, "run() gives the job's metadata back")?;
                answer = Some(result);
            } else {
                host.new_token();
                let (result, _) = host
                    .run_bytes(args.clone(), Metadata::new(), Some(name))
                    .await;
                let error = result
                    .err()
                    .ok_or("a STREAMING method answered a plain job")?;
                expect(error.contains("only streams"), &error)?;
            }
            host.new_token();
            let streamed = host.stream_bytes(args, Some(name), 16).await;
            if row.stream.is_none() {
                let error = streamed
                    .end
                    .err()
                    .ok_or("a NON_STREAMING method streamed")?;
                expect(error.contains("does not stream"), &error)?;
                expect(streamed.chunks.is_empty(), "no chunk of a refused stream")?;
                continue;
            }
            streamed
                .end
                .map_err(|error| format!("'{name}' streamed: {error}"))?;
            let last = streamed.chunks.last().ok_or("a stream without a chunk")?;
            for chunk in &streamed.chunks {
                (row.decodes_result)(chunk)?;
            }
            if let Some(answer) = answer {
                holds_every_field(last, &answer)
                    .map_err(|error| format!("'{name}': the last chunk is not whole: {error}"))?;
            }
        }
        Ok(())
    }

    async fn default_method(&self) -> Result<(), String> {
        let rows = Self::rows();
        let default = match rows.iter().position(|row| row.name == DEFAULT_METHOD_NAME) {
            Some(index) => Some(index),
            None if rows.len() == 1 => Some(0),
            None => None,
        };
        let mut host = self.loaded().await?;
        let row = &rows[default.unwrap_or(0)];
        let args = self.args_of(row)?;
        host.new_token();
        let answered = if row.answer.is_some() {
            host.run_bytes(args, Metadata::new(), None).await.0
        } else {
            let streamed = host.stream_bytes(args, None, 16).await;
            let last = streamed.chunks.last().cloned().unwrap_or_default();
            streamed.end.map(|_| last)
        };
        match default {
            Some(_) => {
                let result = answered.map_err(|error| format!("no method given: {error}"))?;
                (row.decodes_result)(&result)
            }
            None => {
                let error = answered.err().ok_or("a job without a method ran")?;
                expect(error.starts_with("no method given"), &error)
            }
        }
    }

    async fn refusals(&self) -> Result<(), String> {
        let mut host = self.loaded().await?;
        let row = &Self::rows()[0];
        let args = self.args_of(row)?;
        host.new_token();
        let job = host.run_bytes(args.clone(), Metadata::new(), Some(UNKNOWN_METHOD));
        let error = job.await.0.err().ok_or("an unknown method ran")?;
        expect(error.starts_with("Unknown method"), &error)?;
        host.new_token();
        let streamed = host.stream_bytes(args, Some(UNKNOWN_METHOD), 16).await;
        let error = streamed.end.err().ok_or("an unknown method streamed")?;
        expect(error.starts_with("Unknown method"), &error)?;
        for row in Self::rows() {
            let (_, expected) = &row.args;
            let short = expected.rsplit('.').next().unwrap_or(expected);
            let wanted = format!("args are not a valid {short}");
            if row.answer.is_some() {
                host.new_token();
                let run = host.run_bytes(GARBAGE.to_vec(), Metadata::new(), Some(&row.name));
                let error = run.await.0.err().ok_or("bad args were accepted")?;
                expect(error.contains(&wanted), &error)?;
            }
            if row.stream.is_some() {
                host.new_token();
                let streamed = host
                    .stream_bytes(GARBAGE.to_vec(), Some(&row.name), 16)
                    .await;
                let error = streamed.end.err().ok_or("bad args were streamed")?;
                expect(error.contains(&wanted), &error)?;
                expect(
                    streamed.chunks.is_empty(),
                    "a chunk before the args were checked",
                )?;
            }
        }
        self.one_job(&mut host, row).await.map(drop)
    }

    async fn cancellation(&self) -> Result<(), String> {
        let mut host = self.loaded().await?;
        for row in Self::rows() {
            let args = self.args_of(&row)?;
            if row.answer.is_some() {
                host.new_token().cancel();
                let job = host.run_bytes(args.clone(), Metadata::new(), Some(&row.name));
                expect(job.await.0 == Err(CANCELLED.into()), "a cancelled job")?;
            }
            if row.stream.is_some() {
                host.new_token().cancel();
                let streamed = host.stream_bytes(args, Some(&row.name), 16).await;
                expect(streamed.end == Err(CANCELLED.into()), "a cancelled stream")?;
                expect(streamed.chunks.is_empty(), "a chunk of a cancelled stream")?;
            }
            self.one_job(&mut host, &row).await?;
        }
        Ok(())
    }

    /// A reader that never reads: the host's timeout drops the job, which then lets go of
    /// the sink, and the instance runs the next job.
    async fn stalled_stream(&self) -> Result<(), String> {
        let mut host = self.loaded().await?;
        for row in Self::rows().iter().filter(|row| row.stream.is_some()) {
            let (sender, receiver) = mpsc::channel(1);
            let sink = HighLevelSink::from_ffi(OutputSink::from_sender(sender));
            let handle = host.new_token();
            let using = Some(row.name.clone());
            let args = self.args_of(row)?;
            let job = host.plugin.run_stream(args, Metadata::new(), using, sink);
            let ended = tokio::time::timeout(Duration::from_millis(300), job).await;
            handle.cancel();
            if ended.is_err() {
                let closed = tokio::time::timeout(PATIENCE, async {
                    while !receiver.is_closed() {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                });
                expect(
                    closed.await.is_ok(),
                    "the job kept the stream after its timeout",
                )?;
            }
            self.one_job(&mut host, row).await?;
        }
        Ok(())
    }

    async fn concurrency(&self) -> Result<(), String> {
        let mut hosts = Vec::new();
        for _ in 0..4 {
            hosts.push(self.loaded().await?);
        }
        let jobs = hosts.into_iter().map(|mut host| async move {
            for _ in 0..25 {
                for row in Self::rows() {
                    let result = self.one_job(&mut host, &row).await?;
                    (row.decodes_result)(&result)?;
                }
            }
            Ok::<(), String>(())
        });
        for outcome in join_all(jobs).await {
            outcome?;
        }
        Ok(())
    }
}

fn expect(holds: bool, what: &str) -> Result<(), String> {
    if holds { Ok(()) } else { Err(what.to_string()) }
}

/// A JSON Schema that names the message and each of its fields.
fn schema_fits(text: &str, message: &DescriptorProto) -> Result<(), String> {
    let schema: serde_json::Value =
        serde_json::from_str(text).map_err(|error| format!("not JSON ({error}): {text}"))?;
    expect(
        schema["title"] == message.name(),
        &format!("the title of {text}"),
    )?;
    for field in &message.field {
        let found = &schema["properties"][field.name()];
        expect(
            found.is_object(),
            &format!("field {} in {text}", field.name()),
        )?;
    }
    Ok(())
}
