//! The plugin's own tokio runtime.
//!
//! The host polls the plugin's futures on its runtime, which this library's copy of tokio
//! cannot see: a timer or socket used there panics ("no reactor running"). So every job is
//! polled with this runtime entered: its threads drive the job's timers and sockets and wake
//! the host's task, and `tokio::task::spawn_blocking` in a job uses its blocking pool. One
//! runtime serves every instance of the process; the first `load()` starts it (the
//! constructor must stay cheap), and a failure to start it is that load's error, not a panic.

use std::sync::OnceLock;
use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

pub fn runtime() -> Result<&'static Runtime, String> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("jobworkerp-plugin")
                .build()
                .map_err(|error| format!("cannot start the plugin's runtime: {error}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}
