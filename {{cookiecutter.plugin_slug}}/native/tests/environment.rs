//! A missing Python environment fails `load()` with one line, and the process lives on.
//! Its own test binary: it changes the process environment the workers are started from.

mod support;

use support::plugin;
use support::v2_host::Metadata;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_venv_is_a_load_error() {
    // SAFETY: set before this binary's only test starts a worker; nothing reads the
    // environment concurrently.
    unsafe { std::env::set_var("JOBWORKERP_PYTHON_VENV", "/nonexistent/venv") };
    let mut instance = plugin::library().instance().expect("instance");
    let error = instance.load(b"").await.expect_err("no such venv");
    assert_eq!(error, "Python environment /nonexistent/venv does not exist");
    // A failed load leaves an instance that refuses jobs instead of crashing.
    let (result, _) = instance.run(b"", Metadata::new(), None).await;
    assert_eq!(
        result,
        Err("the plugin is not loaded: call load() first".to_string())
    );

    // The variable is read at every start: pointed at the build's venv, the next load works.
    unsafe {
        std::env::set_var(
            "JOBWORKERP_PYTHON_VENV",
            plugin::identity()["venv"].as_str().unwrap(),
        )
    };
    let mut instance = plugin::library().instance().expect("instance");
    instance
        .load(b"")
        .await
        .expect("load from the build's venv");
}
