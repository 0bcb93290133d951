//! JobWorkerP V2 plugin library that delegates every call to this project's Python runner.
//!
//! The constructor only builds an empty value: identity and schemas are constants baked in by
//! `build.rs` from the same protos and method table the Python package uses. `load()` starts
//! the interpreter (once per process), builds a Python runner and calls its `load(settings)`.
//! Each Python runner has its own long-lived thread (`worker.rs`) where its jobs run, holding
//! the GIL only while Python runs, so a job that waits (I/O, `time.sleep`) lets the others run.

mod identity;
mod python;
mod worker;

use jobworkerp_plugin_abi::{CancelToken, HighLevelSink, PluginV2, register_plugin_v2};
use pyo3::{Py, PyAny};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::runtime::Runtime;

/// The bridge's threads for loads and cancels: the host polls our futures on its runtime, which
/// a cdylib's copy of tokio cannot see, so blocking work goes to a runtime of our own, shared by
/// all instances. Jobs run on their runner's own thread (`Slot::worker`).
static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

fn runtime() -> Result<&'static Runtime, String> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("jobworkerp-python-bridge")
                .build()
                .map_err(|error| format!("cannot start the bridge's threads: {error}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// One Python runner, the thread its calls run on, and whether a call of it is still running.
struct Slot {
    runner: Py<PyAny>,
    busy: AtomicBool,
    worker: worker::Worker,
}

impl Slot {
    fn new(runner: Py<PyAny>) -> Result<Arc<Self>, String> {
        Ok(Arc::new(Self {
            worker: worker::Worker::start()?,
            runner,
            busy: AtomicBool::new(false),
        }))
    }
}

/// Marks a slot busy for the length of one Python call, also when the host dropped the job.
struct Busy(Arc<Slot>);

impl Busy {
    fn new(slot: Arc<Slot>) -> Self {
        slot.busy.store(true, Ordering::Release);
        Self(slot)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Release);
    }
}

struct Loaded {
    plugin: Arc<python::Plugin>,
    settings: Vec<u8>,
    slot: Arc<Slot>,
}

#[derive(Default)]
pub struct PythonBridge {
    token: Option<CancelToken>,
    loaded: Option<Loaded>,
}

fn join_failure(error: tokio::task::JoinError) -> String {
    format!("the bridge's Python call did not finish: {error}")
}

const UNFINISHED: &str = "the bridge's Python call did not finish";

impl PythonBridge {
    /// The runner for the next job. After a timeout the host drops the job's future while its
    /// Python call may still run; that runner is then asked to cancel and left to finish on
    /// its thread, and the job gets a fresh runner loaded with the same settings.
    async fn slot(&mut self) -> Result<(&'static Runtime, Arc<python::Plugin>, Arc<Slot>), String> {
        let rt = runtime()?;
        let loaded = self
            .loaded
            .as_mut()
            .ok_or("the plugin is not loaded: call load() first")?;
        if loaded.slot.busy.load(Ordering::Acquire) {
            let (plugin, settings) = (loaded.plugin.clone(), loaded.settings.clone());
            let runner = rt
                .spawn_blocking(move || python::new_runner(&plugin, &settings))
                .await
                .map_err(join_failure)??;
            let old = std::mem::replace(&mut loaded.slot, Slot::new(runner)?);
            rt.spawn_blocking(move || python::cancel(&old.runner));
        }
        Ok((rt, loaded.plugin.clone(), loaded.slot.clone()))
    }

    fn cancelled(&self) -> bool {
        self.token.as_ref().is_some_and(CancelToken::is_cancelled)
    }

    /// Awaits a Python call; if the job's token fires first, calls the runner's `cancel()`
    /// (on another thread: the runner's own is busy) and still awaits the call, which decides
    /// how the job ends.
    async fn watch<T: Send + 'static>(
        &self,
        rt: &'static Runtime,
        slot: &Arc<Slot>,
        answer: Option<worker::Answer<T>>,
    ) -> Result<T, String> {
        let mut running = match answer {
            Some(worker::Answer::Ready(value)) => return Ok(value),
            Some(worker::Answer::Running(running)) => running,
            None => return Err(UNFINISHED.to_string()),
        };
        if let Some(token) = &self.token {
            tokio::select! {
                biased;
                done = &mut running => return done.map_err(|_| UNFINISHED.to_string()),
                () = token.cancelled() => {
                    let slot = slot.clone();
                    rt.spawn_blocking(move || python::cancel(&slot.runner));
                }
            }
        }
        running.await.map_err(|_| UNFINISHED.to_string())
    }
}

impl Drop for PythonBridge {
    fn drop(&mut self) {
        // Released on the runner's thread: the host's thread must not wait for the GIL. The
        // thread ends after it (a job the host gave up on may still hold the runner until it
        // returns).
        if let Some(loaded) = self.loaded.take() {
            let worker = loaded.slot.worker.clone();
            let slot = loaded.slot;
            worker.post(move || {
                if let Ok(slot) = Arc::try_unwrap(slot) {
                    python::release(slot.runner);
                }
            });
        }
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

    fn set_cancellation_token(&mut self, token: CancelToken) {
        self.token = Some(token);
    }

    async fn load(&mut self, settings: Vec<u8>) -> Result<(), String> {
        let rt = runtime()?;
        let kept = settings.clone();
        let (plugin, runner) = rt
            .spawn_blocking(move || {
                let plugin = python::plugin()?;
                let runner = python::new_runner(&plugin, &settings)?;
                Ok::<_, String>((plugin, runner))
            })
            .await
            .map_err(join_failure)??;
        let slot = Slot::new(runner)?;
        self.loaded = Some(Loaded {
            plugin,
            settings: kept,
            slot,
        });
        Ok(())
    }

    async fn run(
        &mut self,
        args: Vec<u8>,
        metadata: HashMap<String, String>,
        using: Option<String>,
    ) -> (Result<Vec<u8>, String>, HashMap<String, String>) {
        if self.cancelled() {
            return (Err("cancelled".to_string()), metadata);
        }
        let (rt, plugin, slot) = match self.slot().await {
            Ok(found) => found,
            Err(error) => return (Err(error), metadata),
        };
        let busy = Busy::new(slot.clone());
        let input = metadata.clone();
        let call = slot.worker.call(move || {
            let _busy = busy;
            python::run(&plugin, &_busy.0.runner, &args, &input, using.as_deref())
        });
        match self.watch(rt, &slot, call).await {
            Ok(Ok((result, returned))) => (Ok(result), returned),
            Ok(Err(failure)) => (Err(failure.message), failure.metadata.unwrap_or(metadata)),
            Err(error) => (Err(error), metadata),
        }
    }

    async fn run_stream(
        &mut self,
        args: Vec<u8>,
        metadata: HashMap<String, String>,
        using: Option<String>,
        output: HighLevelSink,
    ) -> Result<HashMap<String, String>, String> {
        if self.cancelled() {
            return Err("cancelled".to_string());
        }
        let (rt, plugin, slot) = self.slot().await?;
        let begin = {
            let (plugin, busy, input) = (plugin.clone(), Busy::new(slot.clone()), metadata.clone());
            slot.worker.call(move || {
                python::begin_stream(&plugin, &busy.0.runner, &args, &input, using.as_deref())
            })
        };
        self.watch(rt, &slot, begin)
            .await?
            .map_err(|failure| failure.message)?;
        loop {
            if self.cancelled() {
                let slot = slot.clone();
                rt.spawn_blocking(move || python::cancel(&slot.runner));
                return Err("cancelled".to_string());
            }
            let next = {
                let (plugin, busy) = (plugin.clone(), Busy::new(slot.clone()));
                slot.worker
                    .call(move || python::receive_stream(&plugin, &busy.0.runner))
            };
            match self.watch(rt, &slot, next).await? {
                // A chunk that comes back after the cancel is not sent: the stream ends here.
                Ok(Some(_)) if self.cancelled() => return Err("cancelled".to_string()),
                Ok(Some(chunk)) => output.send(chunk).await?,
                Ok(None) => break,
                Err(failure) => return Err(failure.message),
            }
        }
        if self.cancelled() {
            return Err("cancelled".to_string());
        }
        Ok(metadata)
    }
}

register_plugin_v2!(PythonBridge, PythonBridge::default());
