//! Faults, cancellation, timeouts and a soak, through the V2 test host.
//!
//! These need a runner that fails on demand: the template's tests append fault injection to
//! the rendered runner (`tests/plugin_faults.py` and the extra faults of
//! `tests/test_native_bridge.py` there: args name `"<id>|<where>|<what>"`, and every run answer
//! carries the worker's pid as metadata `pid`) and set `JWP_BRIDGE_FAULTS=1`. Without it every
//! test here returns at once. The fault text travels as `support::plugin::args` puts any text:
//! in the args' first string field (the sample's `name`), whatever its field number.

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

/// Faults that end the worker process, and how the job's error names the end.
const DEADLY: &[(&str, &str)] = &[
    (
        "os._exit",
        "python worker died (exit status 7) while running 'run'",
    ),
    (
        "os.abort",
        "python worker died (SIGABRT) while running 'run'",
    ),
    (
        "segfault",
        "python worker died (SIGSEGV) while running 'run'",
    ),
];

/// A plain job works; returns the pid of the worker that answered it.
async fn works(instance: &mut Instance, name: &str) -> i32 {
    instance.new_token();
    let (result, metadata) = instance
        .run(&args("run", name), Metadata::new(), Some("run"))
        .await;
    assert_eq!(
        message_of(&result.expect("a plain job")),
        format!("Hello, {name}!")
    );
    metadata["pid"].parse().expect("the worker's pid")
}

fn running(pid: i32) -> bool {
    // SAFETY: signal 0 only asks whether the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Waits up to `limit` for the process to be gone (killed and reaped by the bridge).
async fn gone_within(pid: i32, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if !running(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    !running(pid)
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
            .run(&args("run", &name), Metadata::new(), Some("run"))
            .await;
        let error = result.expect_err(kind);
        assert!(
            !error.is_empty() && !error.contains('\n'),
            "{kind}: {error:?}"
        );
        if *kind == "os._exit" {
            assert_eq!(
                error, "python worker died (exit status 7) while running 'run'",
                "{kind}"
            );
        }
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
        if kind == "os._exit" {
            assert_eq!(
                error,
                "python worker died (exit status 7) while running 'load'"
            );
        }
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
            &args("run", "x|begin|raise:ValueError"),
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
            &args("run", "x|chunk1|raise:ValueError"),
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
            &args("run", "x|gap|sleep:300"),
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

/// A cancel in the middle of a runaway job ends the job at once and stops its worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_a_runaway_run_stops_its_worker() {
    if !enabled() {
        return;
    }
    let mut instance = plugin::loaded(b"").await;
    let pid = works(&mut instance, "before the loop").await;
    let handle = instance.new_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        handle.cancel();
        Instant::now()
    });
    let (result, _) = instance
        .run(&args("run", "x|run|loop"), Metadata::new(), Some("run"))
        .await;
    let ended = Instant::now();
    let cancelled_at = canceller.await.unwrap();
    assert_eq!(result, Err("cancelled".to_string()));
    println!(
        "cancel of a runaway run: the job ended {:?} after the cancel",
        ended.saturating_duration_since(cancelled_at)
    );
    assert!(
        gone_within(pid, Duration::from_secs(3)).await,
        "worker {pid} still runs"
    );
    let next = works(&mut instance, "after a cancelled run").await;
    assert_ne!(next, pid);
}

/// A cancel in the middle of a stream whose worker loops after its first chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_a_runaway_stream_stops_its_worker() {
    if !enabled() {
        return;
    }
    let mut instance = plugin::loaded(b"").await;
    let pid = works(&mut instance, "before the loop").await;
    let handle = Arc::new(instance.new_token());
    let canceller = handle.clone();
    let streamed = instance
        .run_stream(
            &args("run", "x|chunk1|loop"),
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
        gone_within(pid, Duration::from_secs(3)).await,
        "worker {pid} still runs"
    );
    works(&mut instance, "after a cancelled stream").await;
}

/// A worker that ends itself (exit, abort, segfault) fails only its own job: the instance's
/// next job gets a new worker, and another instance's job running meanwhile is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dying_worker_fails_only_its_own_job() {
    if !enabled() {
        return;
    }
    let mut bystander = plugin::loaded(b"").await;
    let slow = tokio::spawn(async move {
        bystander.new_token();
        let (result, _) = bystander
            .run(
                &args("run", "y|run|sleep:1500"),
                Metadata::new(),
                Some("run"),
            )
            .await;
        (result, bystander)
    });
    let mut instance = plugin::loaded(b"").await;
    for (kind, expected) in DEADLY {
        let pid = works(&mut instance, &format!("before {kind}")).await;
        instance.new_token();
        let (result, _) = instance
            .run(
                &args("run", &format!("x|run|raise:{kind}")),
                Metadata::new(),
                Some("run"),
            )
            .await;
        let error = result.expect_err(kind);
        assert!(error.starts_with(expected), "{kind}: {error}");
        assert!(!error.contains('\n'), "{error:?}");
        assert!(gone_within(pid, Duration::from_secs(2)).await, "{kind}");
        let next = works(&mut instance, &format!("after {kind}")).await;
        assert_ne!(next, pid, "{kind}");
    }
    let (result, mut bystander) = slow.await.unwrap();
    assert_eq!(message_of(&result.unwrap()), "Hello, y|run|sleep:1500!");
    works(&mut bystander, "the bystander again").await;
}

/// A worker's death is seen by its pid even when a child it forked keeps the channel open, and
/// the child goes with it (the worker's process group is killed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn death_is_seen_while_a_forked_child_holds_the_channel() {
    if !enabled() {
        return;
    }
    let mut instance = plugin::loaded(b"").await;
    works(&mut instance, "before the fork").await;
    instance.new_token();
    let started = Instant::now();
    let (result, _) = instance
        .run(
            &args("run", "x|run|raise:fork"),
            Metadata::new(),
            Some("run"),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let error = result.expect_err("the worker exits");
    let prefix = "python worker died (exit status 9) while running 'run'; last stderr: forked ";
    let child: i32 = error
        .strip_prefix(prefix)
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("{error}"));
    assert!(
        gone_within(child, Duration::from_secs(3)).await,
        "the forked child {child} still runs"
    );
    works(&mut instance, "after the fork").await;
}

/// The died error quotes the worker's last stderr lines, control bytes removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_died_error_quotes_the_last_stderr_lines() {
    if !enabled() {
        return;
    }
    let mut instance = plugin::loaded(b"").await;
    instance.new_token();
    let (result, _) = instance
        .run(
            &args("run", "x|run|raise:stderr"),
            Metadata::new(),
            Some("run"),
        )
        .await;
    assert_eq!(
        result,
        Err("python worker died (exit status 5) while running 'run'; \
             last stderr: first line | second [31mline"
            .to_string())
    );
}

/// A worker inherits no descriptor of the host but its channel (fd 3), not even one without
/// close-on-exec, as a server's socket could be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_inherits_only_its_channel() {
    if !enabled() {
        return;
    }
    // SAFETY: dup of this process's stderr; the copy has no close-on-exec flag.
    let leaked = unsafe { libc::dup(2) };
    assert!(leaked > 3);
    // Settings of its own: a worker started now, not one from the pool.
    let mut instance = plugin::loaded(&settings("descriptors")).await;
    instance.new_token();
    let (result, _) = instance
        .run(
            &args("run", "x|run|raise:fds"),
            Metadata::new(),
            Some("run"),
        )
        .await;
    // SAFETY: closes the copy made above.
    unsafe { libc::close(leaked) };
    let listing = result.expect_err("the listing comes back as the error");
    let numbers: Vec<i32> = listing
        .split(' ')
        .map(|entry| entry.split('=').next().unwrap().parse().expect(&listing))
        .collect();
    assert_eq!(numbers, vec![0, 1, 2, 3], "{listing}");
    assert!(listing.contains("3=socket:"), "{listing}");
}

/// A job that changes its environment and closes its stdout and stderr changes only its worker:
/// the host's environment is untouched and the worker goes on answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_changes_and_closed_output_stay_in_the_worker() {
    if !enabled() {
        return;
    }
    let path = std::env::var("PATH").expect("PATH");
    let mut instance = plugin::loaded(b"").await;
    let pid = works(&mut instance, "before").await;
    instance.new_token();
    let (result, _) = instance
        .run(
            &args("run", "x|run|hostile-env"),
            Metadata::new(),
            Some("run"),
        )
        .await;
    assert_eq!(
        message_of(&result.expect("the job")),
        "Hello, x|run|hostile-env!"
    );
    assert_eq!(std::env::var("PATH").expect("PATH"), path);
    assert_eq!(works(&mut instance, "after").await, pid, "the same worker");
}

/// A job the host drops at its timeout stops its runaway worker and frees the instance at
/// once: the next job starts on a new worker without waiting for the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_job_stops_its_worker_and_frees_the_instance() {
    if !enabled() {
        return;
    }
    let mut instance = plugin::loaded(b"").await;
    let pid = works(&mut instance, "before the loop").await;
    instance.new_token();
    let dropped = instance
        .run_with_timeout(
            &args("run", "x|run|loop"),
            Some("run"),
            Duration::from_millis(200),
        )
        .await;
    assert!(dropped.is_none(), "the job should have timed out");
    let started = Instant::now();
    let next = works(&mut instance, "after the timeout").await;
    println!(
        "next job after a dropped one (a new worker's start-up): {:?}",
        started.elapsed()
    );
    assert_ne!(next, pid);
    assert!(
        gone_within(pid, Duration::from_secs(3)).await,
        "worker {pid} still runs"
    );

    // A stream that times out while the host's sink is full releases the instance too.
    instance.new_token();
    let (end, mut receiver) = instance
        .run_stream_stalled(
            &args("run", "x|gap|sleep:50"),
            Some("run"),
            Duration::from_millis(300),
        )
        .await;
    assert!(end.is_none(), "the stream should have timed out");
    works(&mut instance, "after a stalled stream").await;
    // The sink is let go of: the reader sees the stream end.
    let drained = tokio::time::timeout(Duration::from_secs(3), async {
        while receiver.recv().await.is_some() {}
    })
    .await;
    assert!(
        drained.is_ok(),
        "the stalled stream's sink was never let go"
    );
}

/// Two CPU-bound jobs on two instances run in two processes at once. The ratio is reported,
/// not asserted (it depends on the machine's free cores).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cpu_bound_jobs_on_two_instances_run_in_parallel() {
    if !enabled() {
        return;
    }
    let spin = "x|run|spin:1000";
    let mut first = plugin::loaded(b"").await;
    let mut second = plugin::loaded(b"").await;
    works(&mut first, "warm").await;
    works(&mut second, "warm").await;
    let started = Instant::now();
    for instance in [&mut first, &mut second] {
        instance.new_token();
        let (result, _) = instance
            .run(&args("run", spin), Metadata::new(), Some("run"))
            .await;
        assert!(result.is_ok());
    }
    let sequential = started.elapsed();
    let started = Instant::now();
    let tasks: Vec<_> = [first, second]
        .into_iter()
        .map(|mut instance| {
            tokio::spawn(async move {
                instance.new_token();
                let (result, metadata) = instance
                    .run(&args("run", spin), Metadata::new(), Some("run"))
                    .await;
                assert!(result.is_ok());
                metadata["pid"].clone()
            })
        })
        .collect();
    let mut pids = Vec::new();
    for task in tasks {
        pids.push(task.await.unwrap());
    }
    let parallel = started.elapsed();
    assert_ne!(pids[0], pids[1], "two instances, two worker processes");
    println!(
        "two 1 s CPU-bound jobs: one after the other {sequential:?}, at once {parallel:?} \
         (ratio {:.2})",
        parallel.as_secs_f64() / sequential.as_secs_f64()
    );
}

/// Instances with the same settings reuse a warm worker from the pool; other settings get
/// another worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_reuses_warm_workers_across_instances() {
    if !enabled() {
        return;
    }
    // Settings no other test uses, so no other test takes the worker in between.
    let own = settings("pooled");
    let mut first = plugin::loaded(&own).await;
    let pid = pid_of(&mut first).await;
    drop(first);
    let started = Instant::now();
    let mut second = plugin::loaded(&own).await;
    let took = started.elapsed();
    assert_eq!(pid_of(&mut second).await, pid, "the warm worker is reused");
    println!("load() from the pool: {took:?}");
    let mut other = plugin::loaded(&settings("pooled other")).await;
    assert_ne!(pid_of(&mut other).await, pid);
    // While the second instance holds it, a third one with the same settings gets another.
    let mut third = plugin::loaded(&own).await;
    assert_ne!(pid_of(&mut third).await, pid);
}

async fn pid_of(instance: &mut Instance) -> i32 {
    instance.new_token();
    let (result, metadata) = instance
        .run(&args("run", "pid"), Metadata::new(), Some("run"))
        .await;
    assert!(result.is_ok(), "{result:?}");
    metadata["pid"].parse().expect("pid")
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
            &args("run", "x|run|sleep:5000"),
            Some("run"),
            Duration::from_millis(200),
        )
        .await;
    assert!(dropped.is_none(), "the job should have timed out");
    let started = Instant::now();
    instance.new_token();
    let (result, _) = instance
        .run(&args("run", "next"), Metadata::new(), Some("run"))
        .await;
    assert_eq!(
        message_of(&result.unwrap()),
        "Hi, next!",
        "the settings survive the swap"
    );
    // It runs on a new worker (started with the same settings), not after the overrun.
    assert!(
        started.elapsed() < Duration::from_millis(2500),
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
            .run(
                &args("run", "x|run|sleep:1500"),
                Metadata::new(),
                Some("run"),
            )
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
                                &args("run", &format!("{id}|run|raise:{kind}")),
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
                            .run(&args("echo", &id), Metadata::new(), Some("echo"))
                            .await;
                        assert_eq!(result, Err("cancelled".to_string()), "{id}");
                    }
                    4 if n % 200 == 4 => {
                        let name = format!("{id}|run|sleep:300");
                        let dropped = instance
                            .run_with_timeout(
                                &args("run", &name),
                                Some("run"),
                                Duration::from_millis(30),
                            )
                            .await;
                        assert!(dropped.is_none(), "{id}");
                    }
                    5 | 15 => {
                        let streamed = instance
                            .run_stream(
                                &args("echo", &id),
                                Metadata::new(),
                                Some("echo"),
                                16,
                                |_| {},
                            )
                            .await;
                        assert!(streamed.end.is_ok(), "{id}");
                        let last = streamed.chunks.last().expect("chunks");
                        assert_eq!(message_of(last), format!("Hello, {id}!"), "{id}");
                    }
                    6 => {
                        let name = format!("{id}|chunk1|raise:ValueError");
                        let streamed = instance
                            .run_stream(
                                &args("run", &name),
                                Metadata::new(),
                                Some("run"),
                                16,
                                |_| {},
                            )
                            .await;
                        assert_eq!(streamed.chunks.len(), 1, "{id}");
                        assert!(streamed.end.is_err(), "{id}");
                    }
                    _ => {
                        let using = if n % 2 == 0 { "run" } else { "echo" };
                        let (result, _) = instance
                            .run(&args(using, &id), Metadata::new(), Some(using))
                            .await;
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
