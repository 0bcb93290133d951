//! The plugin's own tokio runtime, and how a job runs on it.
//!
//! The host polls the plugin's futures on its runtime, which this library's copy of tokio
//! cannot see, and on its own threads, which a handler that blocks would hold. So every job
//! runs on a thread of this runtime's blocking pool, which polls the handler's future with the
//! runtime entered (its timers and sockets work); the host's future only awaits that thread's
//! result, raced against the job's cancellation token. A handler that blocks (a long
//! computation, `std::thread::sleep`, a synchronous client) therefore holds only its own thread,
//! and the pool grows to as many threads as there are jobs (up to tokio's 512).
//!
//! A cancel, or a timeout (the host drops the job's future), releases the host at once: the
//! job is aborted, and its future is dropped at its next `.await`. A thread stuck in a blocking
//! call cannot be stopped from outside: it runs until the call returns, its result discarded.
//!
//! A panic in a handler becomes the job's error with its message and location (a panic hook
//! records them per thread, then calls the hook that was there before, which logs it).
//! `std::process::abort`, a stack overflow or a segfault cannot be contained in the process: a
//! Rust plugin is trusted native code of the server.
//!
//! One runtime serves every instance of the process; the first `load()` starts it (the
//! constructor must stay cheap), and a failure to start it is that load's error, not a panic.

use super::CANCELLED;
use super::table::Work;
use jobworkerp_plugin_abi::CancelToken;
use jobworkerp_plugin_abi::futures::future::{AbortHandle, Aborted, abortable};
use std::any::Any;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Once, OnceLock};
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

/// Runs `work` (the job of method `method`) on a thread of the plugin's runtime until it ends
/// or `token` is cancelled; dropping the returned future aborts the job.
pub async fn run_job<T: Send + 'static>(
    method: &str,
    work: Work<T>,
    token: Option<CancelToken>,
) -> Result<T, String> {
    let runtime = runtime()?;
    record_panics();
    let (work, abort) = abortable(work);
    let _abort = AbortOnDrop(abort);
    let handle = runtime.handle().clone();
    let method = method.to_string();
    let task = runtime.spawn_blocking(move || {
        LAST_PANIC.with(|last| last.borrow_mut().take());
        match panic::catch_unwind(AssertUnwindSafe(|| handle.block_on(work))) {
            Ok(Ok(done)) => done,
            Ok(Err(Aborted)) => Err(CANCELLED.to_string()),
            Err(payload) => Err(panicked(&method, payload.as_ref())),
        }
    });
    let ended = async {
        task.await
            .unwrap_or_else(|error| Err(format!("the job's thread failed: {error}")))
    };
    match token {
        Some(token) => tokio::select! {
            biased;
            () = token.cancelled() => Err(CANCELLED.to_string()),
            done = ended => done,
        },
        None => ended.await,
    }
}

/// Aborts the job when the host lets go of it (its timeout drops the future) or it ends.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

thread_local! {
    /// The last panic of this thread: "at <file>:<line>:<column>: <message>".
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs, once, a panic hook that records where each panic happened, then calls the hook
/// that was there before. (A cdylib has its own copy of std, so this is the plugin's hook.)
fn record_panics() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let place = info
                .location()
                .map(|at| format!(" at {}:{}:{}", at.file(), at.line(), at.column()))
                .unwrap_or_default();
            let text = format!("{place}: {}", message(info.payload()));
            LAST_PANIC.with(|last| *last.borrow_mut() = Some(text));
            previous(info);
        }));
    });
}

fn message(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "(a panic without a message)"
    }
}

/// The error of a job whose handler panicked: `method 'x' panicked at src/runner.rs:12:5: boom`.
fn panicked(method: &str, payload: &(dyn Any + Send)) -> String {
    let recorded = LAST_PANIC.with(|last| last.borrow_mut().take());
    let detail = recorded.unwrap_or_else(|| format!(": {}", message(payload)));
    format!("method '{method}' panicked{detail}")
}
