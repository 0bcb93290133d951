//! A missing Python environment fails `load()` with one line, and the process lives on.
//! Its own test binary: the interpreter starts once per process, from the first `load()`.

mod support;

use support::plugin;
use support::v2_host::Metadata;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_venv_is_a_load_error() {
    // SAFETY: set before this binary's only test starts the interpreter; nothing reads the
    // environment concurrently.
    unsafe { std::env::set_var("JOBWORKERP_PYTHON_VENV", "/nonexistent/venv") };
    let mut instance = plugin::library().instance().expect("instance");
    let error = instance.load(b"").await.expect_err("no such venv");
    assert_eq!(error, "Python environment /nonexistent/venv does not exist");
    // The failure is kept for the process, and jobs on the instance fail cleanly.
    let again = plugin::library().instance().unwrap().load(b"").await;
    assert_eq!(again, Err(error));
    let (result, _) = instance.run(b"", Metadata::new(), None).await;
    assert!(result.is_err());
}
