//! The V2 contract suite, and a host in miniature for the author's own tests.
//!
//! [`Host`] drives the plugin in-process through the calls JobWorkerP makes (`PluginV2`: a
//! token before each job, `load`, `run`, `run_stream` into a sink), without the FFI layer; the
//! built `.so` is checked through that layer by `tests/library.rs`. [`Contract::check`] runs
//! the whole contract on a runner, with every expectation derived from its method table and
//! the compiled protos: identity and schemas, every method with sample args (each field of the
//! args message filled), output types from the rows, a stream's last chunk holding every field
//! of the plain answer, the default method, unknown methods and bad args refused (before the
//! first chunk), cancellation, a stalled stream's timeout, and concurrent instances. A feed
//! row (client stream) is fed sample items (each field of its feed message filled): its schema
//! carries the feed proto and only it accepts a feed channel; a job of it without one is
//! refused; its input ends by the final item and by the host closing the channel; it reads
//! every item; bad feed data fails it; a cancel during a feed ends it.
//!
//! The sample args suit a method that accepts any value; give others with [`Contract::args`].

pub use super::host::{Fed, Feeding, Host, Streamed};
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
                ("feeds", self.feeds().await),
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

    /// Sample feed items of a feed row, the last one final.
    fn feeding_of(row: &Row<R>, count: usize) -> Result<Feeding, String> {
        let file = row.feed_file().ok_or("a feed of a row that takes none")?;
        let (message, _) = protos::first_message(file)?;
        Ok(Feeding {
            items: vec![sample(message, 0); count],
            last_is_final: true,
            ..Feeding::default()
        })
    }

    /// A fed job of `row` with `feeding`, within the suite's patience.
    async fn fed(&self, host: &mut Host<R>, row: &Row<R>, feeding: Feeding) -> Result<Fed, String> {
        let args = self.args_of(row)?;
        let job = host.feed_bytes(args, Some(&row.name), feeding);
        tokio::time::timeout(PATIENCE, job)
            .await
            .map_err(|_| format!("'{}': a fed job did not end", row.name))
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
            let feed_text = row.feed_file().map(protos::text).transpose()?;
            expect(
                schema.require_client_stream == row.feed.is_some(),
                "require_client_stream is set for a feed row only",
            )?;
            expect(
                schema.client_stream_data_proto.as_deref() == feed_text,
                "client_stream_data_proto is the feed proto",
            )?;
            let using = Some(row.name.as_str());
            expect(
                plugin.supports_client_stream(using) == row.feed.is_some(),
                "supports_client_stream() for a feed row only",
            )?;
            expect(
                plugin.client_stream_data_proto(using).as_deref() == feed_text,
                "client_stream_data_proto() is the feed proto",
            )?;
            let found = json_schemas
                .get(&row.name)
                .ok_or("a row without JSON Schemas")?;
            let json = super::schema::MethodJsonSchema::decode(found.as_slice())
                .map_err(|error| error.to_string())?;
            schema_fits(&json.args_schema, protos::first_message(row.args_file())?.0)?;
            let result = json.result_schema.unwrap_or_default();
            schema_fits(&result, protos::first_message(row.result_file())?.0)?;
            match row.feed_file() {
                Some(file) => {
                    let feed = json.client_stream_data_schema.unwrap_or_default();
                    schema_fits(&feed, protos::first_message(file)?.0)?;
                }
                None => expect(
                    json.client_stream_data_schema.is_none(),
                    "no feed schema for a row without a feed",
                )?,
            }
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
        if row.feed.is_some() {
            let fed = self.fed(host, row, Self::feeding_of(row, 3)?).await?;
            fed.streamed.end?;
            let last = fed.streamed.chunks.last().cloned();
            return last.ok_or("a fed stream without a chunk".into());
        }
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
            if row.feed.is_some() {
                self.one_job(&mut host, &row).await?;
                continue;
            }
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
        let answered = if row.feed.is_some() {
            let fed = host
                .feed_bytes(args, None, Self::feeding_of(row, 3)?)
                .await
                .streamed;
            let last = fed.chunks.last().cloned().unwrap_or_default();
            fed.end.map(|_| last)
        } else if row.answer.is_some() {
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
            if row.feed.is_some() {
                host.new_token().cancel();
                let fed = self
                    .fed(&mut host, &row, Self::feeding_of(&row, 3)?)
                    .await?;
                expect(
                    fed.streamed.end == Err(CANCELLED.into()),
                    "a cancelled feed",
                )?;
                expect(
                    fed.streamed.chunks.is_empty(),
                    "a chunk of a cancelled feed",
                )?;
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

    /// The client-stream rules of every feed row, and no feed channel for any other row.
    async fn feeds(&self) -> Result<(), String> {
        let mut host = self.loaded().await?;
        for row in Self::rows() {
            let name = &row.name;
            let using = Some(name.as_str());
            if row.feed.is_none() {
                let channel = host.plugin.setup_client_stream_channel_v2(using).await;
                expect(
                    channel.is_none(),
                    "a feed channel for a method without a feed",
                )?;
                continue;
            }
            let refused = |error: Option<String>, what: &str| {
                let error = error.ok_or(format!("'{name}' ran {what}"))?;
                expect(error.contains("takes a client stream"), &error)
            };
            let args = self.args_of(&row)?;
            host.new_token();
            let streamed = host.stream_bytes(args.clone(), using, 16).await;
            refused(streamed.end.err(), "without a feed channel")?;
            expect(streamed.chunks.is_empty(), "a chunk of a refused feed job")?;
            host.new_token();
            let run = host.run_bytes(args.clone(), Metadata::new(), using).await;
            refused(run.0.err(), "as a plain job")?;
            // A channel another method's job set up does not serve this one.
            for other in Self::rows().iter().filter(|other| other.name != *name) {
                host.new_token();
                let set_up = host
                    .plugin
                    .setup_client_stream_channel_v2(Some(&other.name));
                let _channel = set_up.await;
                let streamed = host.stream_bytes(args.clone(), using, 16).await;
                refused(streamed.end.err(), "with another method's feed channel")?;
            }

            // The input ends by the final item while the host still holds the channel...
            host.new_token();
            let mut feeding = Self::feeding_of(&row, 3)?;
            feeding.hold_open = true;
            let fed = self.fed(&mut host, &row, feeding).await?;
            fed.streamed
                .end
                .map_err(|error| format!("'{name}' fed: {error}"))?;
            expect(fed.delivered == 3, "every item reaches the plugin")?;
            expect(
                !fed.streamed.chunks.is_empty(),
                "a fed stream without a chunk",
            )?;
            for chunk in &fed.streamed.chunks {
                (row.decodes_result)(chunk)?;
            }
            // ...and when the host lets go of the channel without a final item.
            host.new_token();
            let mut feeding = Self::feeding_of(&row, 3)?;
            feeding.last_is_final = false;
            let fed = self.fed(&mut host, &row, feeding).await?;
            fed.streamed
                .end
                .map_err(|error| format!("'{name}', feed closed: {error}"))?;
            expect(
                fed.delivered == 3,
                "every item of a closed feed reaches the plugin",
            )?;
            // A feed longer than every buffer on its way is read to its end.
            host.new_token();
            let fed = self
                .fed(&mut host, &row, Self::feeding_of(&row, 200)?)
                .await?;
            fed.streamed
                .end
                .map_err(|error| format!("'{name}', a long feed: {error}"))?;
            expect(fed.delivered == 200, "the handler reads the whole feed")?;

            // Bad feed data fails the job.
            host.new_token();
            let feeding = Feeding {
                items: vec![GARBAGE.to_vec()],
                last_is_final: true,
                ..Feeding::default()
            };
            let fed = self.fed(&mut host, &row, feeding).await?;
            let error = fed
                .streamed
                .end
                .err()
                .ok_or("bad feed data were accepted")?;
            expect(error.contains("feed data are not a valid"), &error)?;

            // A cancel while the job waits for more input ends it.
            let handle = host.new_token();
            let mut feeding = Self::feeding_of(&row, 1)?;
            feeding.last_is_final = false;
            feeding.hold_open = true;
            let cancel = async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                handle.cancel();
            };
            let (fed, ()) = tokio::join!(self.fed(&mut host, &row, feeding), cancel);
            expect(
                fed?.streamed.end == Err(CANCELLED.into()),
                "a feed cancelled midway",
            )?;
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
