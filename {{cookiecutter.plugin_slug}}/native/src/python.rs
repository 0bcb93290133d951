//! The embedded interpreter and the calls into the Python runner.
//!
//! One CPython per process, started by the first `load()`: JobWorkerP opens plugin libraries
//! `RTLD_LOCAL`, so the venv's base `libpython` is re-opened `RTLD_GLOBAL` first (C extensions
//! such as protobuf's resolve their Python symbols through it), then the interpreter starts as
//! the venv's own `bin/python` would, so `sys.prefix` and `site-packages` are the venv's.
//! Every function here holds the GIL only for the Python call itself and returns failures as
//! one line of text; nothing panics on purpose and nothing exits the process.

use crate::identity;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The environment variable that names the venv the bridge runs; default: the build's venv.
pub const VENV_VARIABLE: &str = "JOBWORKERP_PYTHON_VENV";
const ENTRY_POINT_GROUP: &str = "jobworkerp.plugins";

/// The plugin's factory (`load_multi_method_plugin`) and its `PluginError` class.
pub struct Plugin {
    factory: Py<PyAny>,
    plugin_error: Py<PyAny>,
}

/// A job's failure: the error text and the metadata to return with it.
pub struct Failure {
    pub message: String,
    pub metadata: Option<HashMap<String, String>>,
}

impl Failure {
    fn text(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            metadata: None,
        }
    }
}

static INTERPRETER: OnceLock<Result<(), String>> = OnceLock::new();
static PLUGIN: Mutex<Option<Arc<Plugin>>> = Mutex::new(None);

fn venv() -> PathBuf {
    match std::env::var_os(VENV_VARIABLE) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(identity::BUILD_VENV),
    }
}

/// The plugin, imported through its entry point; starts the interpreter on first use.
/// Blocks: call it on a blocking thread.
pub fn plugin() -> Result<Arc<Plugin>, String> {
    INTERPRETER.get_or_init(start_interpreter).clone()?;
    let mut cached = PLUGIN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(plugin) = cached.as_ref() {
        return Ok(plugin.clone());
    }
    // Not cached on failure: a package installed later is found by the next load().
    let plugin = Arc::new(Python::attach(import_plugin)?);
    *cached = Some(plugin.clone());
    Ok(plugin)
}

/// A bridge thread's own Python thread state, made on its first call and kept until the
/// thread ends. `Python::attach` on a thread without one makes and deletes a thread state per
/// call, which made a short job's Python call some 4x slower (measured: 26 µs against 7 µs
/// with the state kept). Kept, a call only takes and releases the GIL.
struct ThreadState {
    state: *mut pyo3::ffi::PyThreadState,
    gil: pyo3::ffi::PyGILState_STATE,
}

impl Drop for ThreadState {
    fn drop(&mut self) {
        // SAFETY: `state` is this thread's, saved by `attach`; restoring it takes the GIL and
        // the matching release deletes it (the interpreter is never finalised).
        unsafe {
            pyo3::ffi::PyEval_RestoreThread(self.state);
            pyo3::ffi::PyGILState_Release(self.gil);
        }
    }
}

thread_local! {
    static THREAD_STATE: std::cell::OnceCell<ThreadState> = const { std::cell::OnceCell::new() };
}

/// `Python::attach` with this thread's kept thread state. The interpreter must be running and
/// the call must not nest inside another attach on this thread (none of this module's do).
fn attach<R>(call: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
    THREAD_STATE.with(|kept| {
        kept.get_or_init(|| {
            // SAFETY: the interpreter is initialised (callers run after `plugin()`) and this
            // thread holds no GIL: take a thread state, then release the GIL but keep it.
            unsafe {
                let gil = pyo3::ffi::PyGILState_Ensure();
                ThreadState {
                    state: pyo3::ffi::PyEval_SaveThread(),
                    gil,
                }
            }
        });
    });
    Python::attach(call)
}

/// `base prefix/lib/libpythonX.Y.so...` of a venv (its `pyvenv.cfg` `home`), or of a plain
/// installation when the folder is one.
fn libpython_of(venv: &Path) -> Result<PathBuf, String> {
    let soname = Path::new(identity::BUILD_LIBPYTHON)
        .file_name()
        .ok_or("the build recorded no libpython")?;
    let config = venv.join("pyvenv.cfg");
    let prefix = match fs::read_to_string(&config) {
        Ok(text) => {
            let value = |key: &str| {
                text.lines().find_map(|line| {
                    let (name, value) = line.split_once('=')?;
                    (name.trim() == key).then(|| value.trim().to_string())
                })
            };
            let version = value("version_info")
                .or_else(|| value("version"))
                .unwrap_or_default();
            let wanted = format!("{}.", identity::PYTHON_VERSION);
            if !version.starts_with(&wanted) {
                return Err(format!(
                    "{} is Python {version}, the bridge was built for Python {}",
                    venv.display(),
                    identity::PYTHON_VERSION
                ));
            }
            let home = value("home").ok_or_else(|| format!("{} has no home", config.display()))?;
            Path::new(&home)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        }
        Err(_) if venv.is_dir() => venv.to_path_buf(),
        Err(_) => {
            return Err(format!(
                "Python environment {} does not exist",
                venv.display()
            ));
        }
    };
    let library = prefix.join("lib").join(soname);
    if library.is_file() {
        Ok(library)
    } else {
        Err(format!(
            "{} not found (the base Python of {} must be built with --enable-shared)",
            library.display(),
            venv.display()
        ))
    }
}

/// The file the running copy of `Py_IsInitialized` comes from.
fn loaded_libpython() -> Option<PathBuf> {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let address = pyo3::ffi::Py_IsInitialized as *const libc::c_void;
    // SAFETY: dladdr only reads the loader's tables for an address of this process.
    if unsafe { libc::dladdr(address, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    Some(PathBuf::from(name.to_string_lossy().into_owned()))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn start_interpreter() -> Result<(), String> {
    let venv = venv();
    let library = libpython_of(&venv)?;
    // SAFETY: loading libpython runs no initialisers that depend on us; the handle is leaked
    // on purpose, as the interpreter lives until the process ends.
    let handle = unsafe {
        libloading::os::unix::Library::open(
            Some(&library),
            libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL,
        )
    }
    .map_err(|error| format!("cannot load {}: {error}", library.display()))?;
    std::mem::forget(handle);
    if let Some(loaded) = loaded_libpython()
        && !same_file(&loaded, &library)
    {
        return Err(format!(
            "the bridge runs {} but {}'s Python is {}; rebuild it with {VENV_VARIABLE}={}",
            loaded.display(),
            venv.display(),
            library.display(),
            venv.display()
        ));
    }
    // SAFETY: plain C API calls, serialised by the OnceLock; the config is cleared after use.
    unsafe {
        if pyo3::ffi::Py_IsInitialized() == 0 {
            let executable =
                CString::new(venv.join("bin").join("python").to_string_lossy().as_bytes())
                    .map_err(|_| "the venv path holds a NUL byte".to_string())?;
            let mut config: pyo3::ffi::PyConfig = std::mem::zeroed();
            pyo3::ffi::PyConfig_InitPythonConfig(&mut config);
            // The host owns its signals and its command line.
            config.install_signal_handlers = 0;
            config.parse_argv = 0;
            let status = pyo3::ffi::PyConfig_SetBytesString(
                &mut config,
                &mut config.executable,
                executable.as_ptr(),
            );
            let status = if pyo3::ffi::PyStatus_Exception(status) != 0 {
                status
            } else {
                pyo3::ffi::Py_InitializeFromConfig(&config)
            };
            pyo3::ffi::PyConfig_Clear(&mut config);
            if pyo3::ffi::PyStatus_Exception(status) != 0 {
                let message = if status.err_msg.is_null() {
                    "unknown error".to_string()
                } else {
                    CStr::from_ptr(status.err_msg)
                        .to_string_lossy()
                        .into_owned()
                };
                return Err(format!("Python did not start: {message}"));
            }
            // Initialisation leaves this thread holding the GIL; every call attaches on its own.
            pyo3::ffi::PyEval_SaveThread();
        }
    }
    Python::attach(|py| prepare(py, &venv).map_err(|error| describe(py, &error, None).message))
}

/// Site-packages of the venv (also when another bridge started the interpreter first) and an
/// `os._exit` that raises `SystemExit` instead of ending the JobWorkerP process.
fn prepare(py: Python<'_>, venv: &Path) -> PyResult<()> {
    let code = c"
import os, site, sys

def _bridge_setup(venv, version):
    packages = os.path.join(venv, 'lib', 'python' + version, 'site-packages')
    if os.path.isdir(packages) and packages not in sys.path:
        site.addsitedir(packages)

    def _exit(status=0):
        # os._exit would end the whole JobWorkerP process: in the bridge it fails the job.
        raise SystemExit(status)

    os._exit = _exit
";
    let globals = PyDict::new(py);
    py.run(code, Some(&globals), None)?;
    let setup = globals.get_item("_bridge_setup")?.ok_or_else(|| {
        pyo3::exceptions::PyRuntimeError::new_err("bridge setup code did not define its function")
    })?;
    setup.call1((
        venv.to_string_lossy().into_owned(),
        identity::PYTHON_VERSION,
    ))?;
    Ok(())
}

fn import_plugin(py: Python<'_>) -> Result<Plugin, String> {
    let found = (|| -> PyResult<Option<(Py<PyAny>, Py<PyAny>)>> {
        let metadata = py.import("importlib.metadata")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("group", ENTRY_POINT_GROUP)?;
        let points = metadata.call_method("entry_points", (), Some(&kwargs))?;
        for point in points.try_iter()? {
            let point = point?;
            let module: String = point.getattr("module")?.extract()?;
            if module == identity::PACKAGE {
                let factory = point.call_method0("load")?;
                let package = py.import(identity::PACKAGE)?;
                let plugin_error = package.getattr("PluginError")?;
                return Ok(Some((factory.unbind(), plugin_error.unbind())));
            }
        }
        Ok(None)
    })()
    .map_err(|error| {
        format!(
            "importing {}: {}",
            identity::PACKAGE,
            describe(py, &error, None).message
        )
    })?;
    match found {
        Some((factory, plugin_error)) => Ok(Plugin {
            factory,
            plugin_error,
        }),
        None => Err(format!(
            "package {} has no {ENTRY_POINT_GROUP} entry point in {}; install it there (pip install -e .)",
            identity::PACKAGE,
            venv().display()
        )),
    }
}

/// One line for a Python exception; a `PluginError` gives its message and metadata.
fn describe(py: Python<'_>, error: &PyErr, plugin: Option<&Plugin>) -> Failure {
    let value = error.value(py);
    if let Some(plugin) = plugin
        && error
            .matches(py, plugin.plugin_error.bind(py))
            .unwrap_or(false)
    {
        let message = value
            .getattr("message")
            .and_then(|message| message.str().map(|text| text.to_string()))
            .unwrap_or_else(|_| "PluginError".to_string());
        let metadata = value
            .getattr("metadata")
            .ok()
            .and_then(|m| m.extract().ok());
        return Failure {
            message: one_line(&message),
            metadata,
        };
    }
    let kind = error
        .get_type(py)
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "exception".to_string());
    let text = value
        .str()
        .map(|text| text.to_string())
        .unwrap_or_else(|_| "(its message could not be turned into text)".to_string());
    if text.is_empty() {
        Failure::text(kind)
    } else {
        Failure::text(one_line(&format!("{kind}: {text}")))
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A new Python runner of the plugin, loaded with the worker's settings.
pub fn new_runner(plugin: &Plugin, settings: &[u8]) -> Result<Py<PyAny>, String> {
    attach(|py| {
        let built = (|| -> PyResult<Py<PyAny>> {
            let runner = plugin.factory.bind(py).call0()?;
            runner.call_method1("load", (PyBytes::new(py, settings),))?;
            Ok(runner.unbind())
        })();
        built.map_err(|error| describe(py, &error, Some(plugin)).message)
    })
}

fn metadata_dict<'py>(
    py: Python<'py>,
    metadata: &HashMap<String, String>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in metadata {
        dict.set_item(key, value)?;
    }
    Ok(dict)
}

/// `runner.run(args, metadata, using)` → the result bytes and metadata.
pub fn run(
    plugin: &Plugin,
    runner: &Py<PyAny>,
    args: &[u8],
    metadata: &HashMap<String, String>,
    using: Option<&str>,
) -> Result<(Vec<u8>, HashMap<String, String>), Failure> {
    attach(|py| {
        let called = (|| -> PyResult<Bound<'_, PyAny>> {
            let dict = metadata_dict(py, metadata)?;
            runner
                .bind(py)
                .call_method1("run", (PyBytes::new(py, args), dict, using))
        })();
        let returned = called.map_err(|error| describe(py, &error, Some(plugin)))?;
        let pair = returned
            .extract::<(Bound<'_, PyBytes>, HashMap<String, String>)>()
            .map_err(|_| {
                Failure::text("run() returned something other than (bytes, dict[str, str])")
            })?;
        Ok((pair.0.as_bytes().to_vec(), pair.1))
    })
}

/// `runner.begin_stream(args, metadata, using)`.
pub fn begin_stream(
    plugin: &Plugin,
    runner: &Py<PyAny>,
    args: &[u8],
    metadata: &HashMap<String, String>,
    using: Option<&str>,
) -> Result<(), Failure> {
    attach(|py| {
        let called = (|| -> PyResult<()> {
            let dict = metadata_dict(py, metadata)?;
            runner
                .bind(py)
                .call_method1("begin_stream", (PyBytes::new(py, args), dict, using))?;
            Ok(())
        })();
        called.map_err(|error| describe(py, &error, Some(plugin)))
    })
}

/// `runner.receive_stream()`: the next chunk, or `None` at the end.
pub fn receive_stream(plugin: &Plugin, runner: &Py<PyAny>) -> Result<Option<Vec<u8>>, Failure> {
    attach(|py| {
        let chunk = runner
            .bind(py)
            .call_method0("receive_stream")
            .map_err(|error| describe(py, &error, Some(plugin)))?;
        if chunk.is_none() {
            return Ok(None);
        }
        let bytes = chunk.cast::<PyBytes>().map_err(|_| {
            Failure::text("receive_stream() returned something other than bytes or None")
        })?;
        Ok(Some(bytes.as_bytes().to_vec()))
    })
}

/// `runner.cancel()`; a failure there only means the job runs on.
pub fn cancel(runner: &Py<PyAny>) {
    attach(|py| {
        let _ = runner.bind(py).call_method0("cancel");
    });
}

/// Releases a runner with the GIL held (dropping a `Py` without it only defers the release).
pub fn release(runner: Py<PyAny>) {
    attach(|_py| drop(runner));
}
