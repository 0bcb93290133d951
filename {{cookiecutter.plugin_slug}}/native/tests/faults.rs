//! Faults, cancellation, timeouts and a soak, through the V2 test host.
//!
//! These need a runner that fails on demand: the template's tests append fault injection to
//! the rendered runner (`tests/plugin_faults.py` there: args name `"<id>|<where>|<what>"`) and
//! set `JWP_BRIDGE_FAULTS=1`. Without it every test here returns at once.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::plugin::{self, args, message_of, settings};
use support::v2_host::{Instance, Metadata, resident_kib};

fn enabled() -> bool {
    let on = std::env::var("JWP_BRIDGE_FAULTS").is_ok_and(|value| value == "1");
    if !on {
        eprintln!("skipped: set JWP_BRIDGE_FAULTS=1 with a fault-injecting runner");
    }
    on
}

const KINDS: &[&str] = &[
    "ValueError",
    "SystemExit",
    "KeyboardInterrupt",
    "RecursionError",
    "MemoryError",
    "GeneratorExit",
    "StopIteration",
    "OddBaseError",
    "UnprintableError",
    "PluginError",
    "os._exit",
];

async fn works(instance: &mut Instance, name: &str) {
    instance.new_token();
    let (result, _) = instance
        .run(&args(name), Metadata::new(), Some("run"))
        .await;
    assert_eq!(
        message_of(&result.expect("a plain job")),
        format!("Hello, {name}!")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_exceptions_in_run_fail_the_job_and_nothing_else() {
    if !enabled() {
        return;
    }
    let mut instance = plugin::loaded(b"").await;
    for kind in KINDS {
        instance.new_token();
        let name = format!("x|run|raise:{kind}");
        let (result, metadata) = instance
            .run(&args(&name), Metadata::new(), Some("run"))
            .await;
        let error = result.expect_err(kind);
        assert!(
            !error.is_empty() && !error.contains('\n'),
            "{kind}: {error:?}"
        );
        if *kind == "PluginError" {
            assert!(error.contains("refused on purpose"), "{error}");
            assert_eq!(
                metadata.get("kept").map(String::as_str),
                Some("yes"),
                "{metadata:?}"
            );
        }
        works(&mut instance, &format!("after {kind}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_exceptions_in_load_are_load_errors() {
    if !enabled() {
        return;
    }
    for kind in ["ValueError", "SystemExit", "os._exit", "PluginError"] {
        let mut instance = plugin::library().instance().unwrap();
        let error = instance
            .load(&settings(&format!("x|load|raise:{kind}")))
            .await
            .expect_err(kind);
        assert!(
            !error.is_empty() && !error.contains('\n'),
            "{kind}: {error:?}"
        );
    }
    works(&mut plugin::loaded(b"").await, "after load faults").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_faults_before_and_after_the_first_chunk() {
    if !enabled() {
        return;
    }
    let mut instance = plugin::loaded(b"").await;
    instance.new_token();
    let begin = instance
        .run_stream(
            &args("x|begin|raise:ValueError"),
            Metadata::new(),
            Some("run"),
            16,
            |_| {},
        )
        .await;
    assert!(begin.chunks.is_empty());
    assert!(begin.end.expect_err("begin fault").contains("ValueError"));

    instance.new_token();
    let later = instance
        .run_stream(
            &args("x|chunk1|raise:ValueError"),
            Metadata::new(),
            Some("run"),
            16,
            |_| {},
        )
        .await;
    assert_eq!(later.chunks.len(), 1);
    assert!(later.end.expect_err("chunk fault").contains("ValueError"));
    works(&mut instance, "after stream faults").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_a_slow_stream_ends_it_at_the_next_chunk() {
    if !enabled() {
        return;
    }
    let mut instance = plugin::loaded(b"").await;
    let handle = Arc::new(instance.new_token());
    let canceller = handle.clone();
    let started = Instant::now();
    let streamed = instance
        .run_stream(
            &args("x|gap|sleep:300"),
            Metadata::new(),
            Some("run"),
            16,
            move |count| {
                if count == 1 {
                    canceller.cancel();
                }
            },
        )
        .await;
    assert_eq!(streamed.end, Err("cancelled".to_string()));
    assert_eq!(streamed.chunks.len(), 1);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    works(&mut instance, "after a cancelled stream").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_a_run_reaches_the_runner_and_the_job_ends() {
    if !enabled() {
        return;
    }
    let mut instance = plugin::loaded(b"").await;
    let handle = instance.new_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        handle.cancel();
    });
    // The sample's sleep does not look at the cancel flag, so the job still ends normally.
    let (result, _) = instance
        .run(&args("x|run|sleep:400"), Metadata::new(), Some("run"))
        .await;
    canceller.await.unwrap();
    assert_eq!(message_of(&result.unwrap()), "Hello, x|run|sleep:400!");
    works(&mut instance, "after a cancelled run").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_timeout_the_same_instance_answers_the_next_job_at_once() {
    if !enabled() {
        return;
    }
    let mut instance = plugin::loaded(&settings("Hi")).await;
    instance.new_token();
    let dropped = instance
        .run_with_timeout(
            &args("x|run|sleep:2000"),
            Some("run"),
            Duration::from_millis(200),
        )
        .await;
    assert!(dropped.is_none(), "the job should have timed out");
    let started = Instant::now();
    instance.new_token();
    let (result, _) = instance
        .run(&args("next"), Metadata::new(), Some("run"))
        .await;
    assert_eq!(
        message_of(&result.unwrap()),
        "Hi, next!",
        "the settings survive the swap"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_sleeping_in_python_does_not_block_other_instances() {
    if !enabled() {
        return;
    }
    let mut sleeper = plugin::loaded(b"").await;
    let mut other = plugin::loaded(b"").await;
    let slow = tokio::spawn(async move {
        sleeper.new_token();
        sleeper
            .run(&args("x|run|sleep:1500"), Metadata::new(), Some("run"))
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    for n in 0..20 {
        works(&mut other, &format!("quick {n}")).await;
    }
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    assert!(slow.await.unwrap().0.is_ok());
}

/// `jobs` jobs over four pooled instances with injected faults: every plain job gets its own
/// answer (its id is in it), every faulty one its failure, and memory stays flat.
async fn soak(jobs: usize) {
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for worker in 0..4 {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut instance = plugin::loaded(b"").await;
            for n in (worker..jobs).step_by(4) {
                let id = format!("job{n}");
                let handle = instance.new_token();
                match n % 50 {
                    1 | 11 | 21 => {
                        let kind = KINDS[n % KINDS.len()];
                        let (result, _) = instance
                            .run(
                                &args(&format!("{id}|run|raise:{kind}")),
                                Metadata::new(),
                                Some("run"),
                            )
                            .await;
                        assert!(result.is_err(), "{id}");
                    }
                    2 => {
                        let (result, _) = instance
                            .run(&[0xff, 0xff], Metadata::new(), Some("run"))
                            .await;
                        assert!(result.is_err(), "{id}");
                    }
                    3 => {
                        handle.cancel();
                        let (result, _) = instance
                            .run(&args(&id), Metadata::new(), Some("echo"))
                            .await;
                        assert_eq!(result, Err("cancelled".to_string()), "{id}");
                    }
                    4 if n % 200 == 4 => {
                        let name = format!("{id}|run|sleep:300");
                        let dropped = instance
                            .run_with_timeout(&args(&name), Some("run"), Duration::from_millis(30))
                            .await;
                        assert!(dropped.is_none(), "{id}");
                    }
                    5 | 15 => {
                        let streamed = instance
                            .run_stream(&args(&id), Metadata::new(), Some("echo"), 16, |_| {})
                            .await;
                        assert!(streamed.end.is_ok(), "{id}");
                        let last = streamed.chunks.last().expect("chunks");
                        assert_eq!(message_of(last), format!("Hello, {id}!"), "{id}");
                    }
                    6 => {
                        let name = format!("{id}|chunk1|raise:ValueError");
                        let streamed = instance
                            .run_stream(&args(&name), Metadata::new(), Some("run"), 16, |_| {})
                            .await;
                        assert_eq!(streamed.chunks.len(), 1, "{id}");
                        assert!(streamed.end.is_err(), "{id}");
                    }
                    _ => {
                        let using = if n % 2 == 0 { "run" } else { "echo" };
                        let (result, _) =
                            instance.run(&args(&id), Metadata::new(), Some(using)).await;
                        assert_eq!(message_of(&result.expect(&id)), format!("Hello, {id}!"));
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    while done.load(Ordering::Relaxed) < jobs / 5 && !tasks.iter().any(|task| task.is_finished()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let warm = resident_kib();
    for task in tasks {
        task.await.expect("soak worker");
    }
    let grown = resident_kib().saturating_sub(warm);
    let took = started.elapsed();
    println!("soak: {jobs} jobs in {took:?}, resident +{grown} KiB after warm-up");
    assert_eq!(done.load(Ordering::Relaxed), jobs);
    assert!(grown < 16 * 1024, "resident memory grew by {grown} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_a_thousand_jobs_with_faults() {
    if enabled() {
        soak(1000).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "ten thousand jobs: the template's full lane runs it"]
async fn soak_ten_thousand_jobs_with_faults() {
    if enabled() {
        soak(10_000).await;
    }
}
