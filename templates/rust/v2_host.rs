//! A JobWorkerP V2 host in miniature, for tests of any V2 plugin library.
//!
//! It opens the library the way JobWorkerP's loader does (`RTLD_LAZY | RTLD_LOCAL`, handle
//! leaked), probes `load_multi_method_plugin_v2`, applies the loader's vtable checks (pointer,
//! ABI major and minor, vtable size) and then drives instances through the vtable only. Nothing
//! here knows the plugin: expectations live in the test files that use it.
#![allow(dead_code)]

use jobworkerp_plugin_abi::{
    FfiBytes, FfiCancellationToken, FfiResult, OutputSink, OwnedCancelHandle, PLUGIN_V2_ABI_MAJOR,
    PLUGIN_V2_ABI_MINOR, PluginInstanceRaw, PluginVtable, VTABLE_SIZE_MAX, VTABLE_SIZE_MIN,
    kv_to_string_map, option_str_to_ffi, string_map_to_kv,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub type Metadata = HashMap<String, String>;

/// An opened plugin library.
#[derive(Clone, Copy)]
pub struct Library {
    library: &'static libloading::Library,
    constructor: unsafe extern "C" fn() -> PluginInstanceRaw,
}

impl Library {
    /// Opens the library and checks one instance as the host's loader does.
    pub fn open(path: &Path) -> Result<Self, String> {
        // SAFETY: loading a plugin runs its initialisers, as in the host.
        let library = unsafe { libloading::Library::new(path) }
            .map_err(|error| format!("cannot open {}: {error}", path.display()))?;
        let library: &'static libloading::Library = Box::leak(Box::new(library));
        // SAFETY: the symbol's type is the V2 contract's.
        let constructor = unsafe {
            library.get::<unsafe extern "C" fn() -> PluginInstanceRaw>(
                b"load_multi_method_plugin_v2\0",
            )
        }
        .map(|symbol| *symbol)
        .map_err(|_| "Plugin missing all FFI symbols".to_string())?;
        let opened = Self {
            library,
            constructor,
        };
        drop(opened.instance()?);
        Ok(opened)
    }

    /// A new instance, checked like the loader checks it.
    pub fn instance(&self) -> Result<Instance, String> {
        self.timed_instance().map(|(instance, _)| instance)
    }

    /// A new instance and how long the constructor took.
    pub fn timed_instance(&self) -> Result<(Instance, Duration), String> {
        let started = Instant::now();
        // SAFETY: the constructor takes nothing and returns an owned instance.
        let raw = unsafe { (self.constructor)() };
        let took = started.elapsed();
        validate(&raw)?;
        if raw.state.is_null() {
            return Err("the constructor panicked (null state)".to_string());
        }
        Ok((
            Instance {
                state: raw.state,
                vtable: raw.vtable,
            },
            took,
        ))
    }
}

fn validate(raw: &PluginInstanceRaw) -> Result<(), String> {
    let vtable = raw.vtable as *const PluginVtable as usize;
    if vtable < 4096 {
        return Err(format!("vtable pointer {vtable:#x} looks invalid"));
    }
    let major = raw.vtable.abi_major();
    let minor = raw.vtable.abi_minor();
    let size = raw.vtable.vtable_size;
    let host_size = std::mem::size_of::<PluginVtable>() as u32;
    if major != PLUGIN_V2_ABI_MAJOR {
        return Err(format!("ABI major {major}, host {PLUGIN_V2_ABI_MAJOR}"));
    }
    if minor > PLUGIN_V2_ABI_MINOR {
        return Err(format!(
            "ABI minor {minor} newer than host {PLUGIN_V2_ABI_MINOR}"
        ));
    }
    if size > host_size || !(VTABLE_SIZE_MIN..=VTABLE_SIZE_MAX).contains(&size) {
        return Err(format!(
            "vtable_size {size} out of range (host {host_size})"
        ));
    }
    Ok(())
}

/// A plugin instance; dropping it calls the plugin's `drop_state`, as the host does.
pub struct Instance {
    state: *mut (),
    vtable: &'static PluginVtable,
}

// SAFETY: as in the host, an instance is used by one task at a time (`&mut self` for calls).
unsafe impl Send for Instance {}
unsafe impl Sync for Instance {}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: the state came from this vtable's constructor and is dropped once.
        unsafe { (self.vtable.drop_state)(self.state) };
    }
}

fn text(bytes: FfiBytes) -> String {
    bytes.into_string_lossy()
}

fn schema_map(list: jobworkerp_plugin_abi::FfiKvPairList) -> HashMap<String, Vec<u8>> {
    list.drain_into(|pair| (pair.key.into_string_lossy(), pair.value.copy_to_vec()))
        .into_iter()
        .collect()
}

/// What a stream gave: its chunks and how it ended (trailer metadata or error).
pub struct Streamed {
    pub chunks: Vec<Vec<u8>>,
    pub end: Result<Metadata, String>,
}

impl Instance {
    pub fn name(&self) -> String {
        text(unsafe { (self.vtable.name)(self.state) })
    }

    pub fn description(&self) -> String {
        text(unsafe { (self.vtable.description)(self.state) })
    }

    pub fn runner_settings_proto(&self) -> String {
        text(unsafe { (self.vtable.runner_settings_proto)(self.state) })
    }

    pub fn settings_schema(&self) -> String {
        text(unsafe { (self.vtable.settings_schema)(self.state) })
    }

    pub fn method_proto_map(&self) -> HashMap<String, Vec<u8>> {
        schema_map(unsafe { (self.vtable.method_proto_map)(self.state) })
    }

    pub fn method_json_schema_map(&self) -> HashMap<String, Vec<u8>> {
        schema_map(unsafe { (self.vtable.method_json_schema_map)(self.state) })
    }

    /// Gives the instance a fresh cancellation token, as the host does before every job.
    pub fn new_token(&mut self) -> OwnedCancelHandle {
        let (token, handle) = FfiCancellationToken::new_owned();
        unsafe { (self.vtable.set_cancellation_token)(self.state, token) };
        handle
    }

    pub async fn load(&mut self, settings: &[u8]) -> Result<(), String> {
        let settings = FfiBytes::from_vec(settings.to_vec());
        match unsafe { (self.vtable.load)(self.state, settings) }.await {
            FfiResult::Ok(()) => Ok(()),
            FfiResult::Err(error) => Err(text(error)),
        }
    }

    pub async fn run(
        &mut self,
        args: &[u8],
        metadata: Metadata,
        using: Option<&str>,
    ) -> (Result<Vec<u8>, String>, Metadata) {
        let future = unsafe {
            (self.vtable.run)(
                self.state,
                FfiBytes::from_vec(args.to_vec()),
                string_map_to_kv(metadata),
                option_str_to_ffi(using),
            )
        };
        let outcome = future.await;
        let metadata = kv_to_string_map(outcome.metadata);
        match outcome.result {
            FfiResult::Ok(bytes) => (Ok(bytes.copy_to_vec()), metadata),
            FfiResult::Err(error) => (Err(text(error)), metadata),
        }
    }

    /// `run` under a time limit: `None` when the host would have dropped the job.
    pub async fn run_with_timeout(
        &mut self,
        args: &[u8],
        using: Option<&str>,
        limit: Duration,
    ) -> Option<(Result<Vec<u8>, String>, Metadata)> {
        tokio::time::timeout(limit, self.run(args, Metadata::new(), using))
            .await
            .ok()
    }

    /// `run_stream` with a sink of `capacity` chunks, read as the host reads it. `on_chunk`
    /// sees each chunk as it arrives and may cancel the job through the handle.
    pub async fn run_stream(
        &mut self,
        args: &[u8],
        metadata: Metadata,
        using: Option<&str>,
        capacity: usize,
        on_chunk: impl FnMut(usize) + Send + 'static,
    ) -> Streamed {
        let (sender, mut receiver) = mpsc::channel::<Vec<u8>>(capacity);
        let mut on_chunk = on_chunk;
        let reader = tokio::spawn(async move {
            let mut chunks = Vec::new();
            while let Some(chunk) = receiver.recv().await {
                chunks.push(chunk);
                on_chunk(chunks.len());
            }
            chunks
        });
        let future = unsafe {
            (self.vtable.run_stream)(
                self.state,
                FfiBytes::from_vec(args.to_vec()),
                string_map_to_kv(metadata),
                option_str_to_ffi(using),
                OutputSink::from_sender(sender),
            )
        };
        let end = match future.await {
            FfiResult::Ok(metadata) => Ok(kv_to_string_map(metadata)),
            FfiResult::Err(error) => Err(text(error)),
        };
        let chunks = reader.await.unwrap_or_default();
        Streamed { chunks, end }
    }
}

impl Instance {
    /// `run_stream` to a reader that never reads (a sink of one chunk), under a time limit:
    /// `None` when the host would have dropped the job. The reader is handed back: it sees
    /// the end of the stream once the plugin lets go of the sink, that is once its task ends.
    pub async fn run_stream_stalled(
        &mut self,
        args: &[u8],
        using: Option<&str>,
        limit: Duration,
    ) -> (Option<Result<Metadata, String>>, mpsc::Receiver<Vec<u8>>) {
        let (sender, receiver) = mpsc::channel::<Vec<u8>>(1);
        let future = unsafe {
            (self.vtable.run_stream)(
                self.state,
                FfiBytes::from_vec(args.to_vec()),
                string_map_to_kv(Metadata::new()),
                option_str_to_ffi(using),
                OutputSink::from_sender(sender),
            )
        };
        let end = tokio::time::timeout(limit, future)
            .await
            .ok()
            .map(|end| match end {
                FfiResult::Ok(metadata) => Ok(kv_to_string_map(metadata)),
                FfiResult::Err(error) => Err(text(error)),
            });
        (end, receiver)
    }
}

/// The library built next to the test binary (`target/<profile>/lib<name>.so`).
pub fn built_library(lib_name: &str) -> PathBuf {
    if let Ok(path) = std::env::var("JWP_PLUGIN_LIBRARY") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    profile.join(format!("lib{lib_name}.{}", std::env::consts::DLL_EXTENSION))
}

/// Resident memory of this process, in KiB (Linux).
pub fn resident_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4
}
