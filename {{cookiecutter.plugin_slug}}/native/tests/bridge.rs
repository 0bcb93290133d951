//! The bridge library driven through the V2 test host and compared with the Python runner.

// The schema messages the bridge encodes its maps with: the test compares against the same
// definition, compiled into this test.
#[path = "../src/schema.rs"]
mod schema;
mod support;

use prost::Message;
use schema::{MethodJsonSchema, MethodSchema};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use support::plugin::{self, Job, hex};
use support::v2_host::{Metadata, resident_kib};

fn optional(value: &serde_json::Value) -> Option<String> {
    value.as_str().map(str::to_string)
}

/// The methods and their output types (0 NON_STREAMING, 1 STREAMING, 2 BOTH).
fn methods() -> Vec<(String, i64)> {
    let identity = plugin::identity();
    let mut methods: Vec<(String, i64)> = identity["methods"]
        .as_object()
        .expect("methods")
        .iter()
        .map(|(name, schema)| (name.clone(), schema["output_type"].as_i64().unwrap_or(0)))
        .collect();
    methods.sort();
    methods
}

/// The method the single-method tests use: `run`, or else the first in the table.
/// The identity keeps the table's order (serde_json's `preserve_order`).
fn sample_method() -> (String, i64) {
    let identity = plugin::identity();
    let table = identity["methods"].as_object().expect("methods");
    let (name, schema) = table
        .get_key_value("run")
        .or_else(|| table.iter().next())
        .expect("at least one method");
    (name.clone(), schema["output_type"].as_i64().unwrap_or(0))
}

#[test]
fn identity_and_schemas_are_the_python_runners_byte_for_byte() {
    let live = plugin::live_identity();
    let (instance, took) = plugin::library().timed_instance().expect("instance");
    assert!(took < Duration::from_millis(5), "constructor took {took:?}");
    assert_eq!(instance.name(), live["name"].as_str().unwrap());
    assert_eq!(
        instance.description(),
        live["description"].as_str().unwrap()
    );
    assert_eq!(
        instance.runner_settings_proto(),
        live["runner_settings_proto"].as_str().unwrap()
    );
    assert_eq!(
        instance.settings_schema(),
        live["settings_schema"].as_str().unwrap()
    );

    let proto_map = instance.method_proto_map();
    let expected = live["methods"].as_object().unwrap();
    assert_eq!(proto_map.len(), expected.len());
    for (name, schema) in expected {
        let python = MethodSchema {
            args_proto: schema["args_proto"].as_str().unwrap().to_string(),
            result_proto: schema["result_proto"].as_str().unwrap().to_string(),
            description: optional(&schema["description"]),
            output_type: schema["output_type"].as_i64().unwrap_or(0) as i32,
            require_client_stream: schema["require_client_stream"].as_bool().unwrap(),
            client_stream_data_proto: optional(&schema["client_stream_data_proto"]),
        };
        assert_eq!(
            proto_map[name],
            python.encode_to_vec(),
            "MethodSchema of {name}"
        );
    }

    let json_map = instance.method_json_schema_map();
    match live["json_schemas"].as_object() {
        None => assert!(json_map.is_empty()),
        Some(expected) => {
            assert_eq!(json_map.len(), expected.len());
            for (name, schema) in expected {
                let python = MethodJsonSchema {
                    args_schema: schema["args_schema"].as_str().unwrap().to_string(),
                    result_schema: optional(&schema["result_schema"]),
                    client_stream_data_schema: optional(&schema["client_stream_data_schema"]),
                };
                assert_eq!(
                    json_map[name],
                    python.encode_to_vec(),
                    "MethodJsonSchema of {name}"
                );
            }
        }
    }
}

#[test]
fn constructor_is_cheap() {
    let library = plugin::library();
    let started = Instant::now();
    for _ in 0..1000 {
        let (instance, _) = library.timed_instance().expect("instance");
        assert!(!instance.method_proto_map().is_empty());
    }
    let each = started.elapsed() / 1000;
    println!("constructor + schema read + drop: {each:?}");
    assert!(each < Duration::from_millis(1), "{each:?}");
}

/// Every method by run and by stream, with sample, empty and garbage args, and a method
/// name the plugin does not have: the bridge answers exactly what the Python runner answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_answers_as_the_python_runner() {
    let mut jobs = Vec::new();
    for (method, _) in methods() {
        let inputs = [
            plugin::args(&method, "Ada"),
            Vec::new(),
            vec![0xff, 0xff, 0xff],
            plugin::args(&method, "two words"),
        ];
        for args in &inputs {
            for kind in ["run", "stream"] {
                let method = Some(method.clone());
                jobs.push((kind, method, args.clone()));
            }
        }
    }
    let default = plugin::args(&plugin::default_method(), "Ada");
    jobs.push(("run", None, default.clone()));
    jobs.push(("run", Some("no_such_method".to_string()), default.clone()));
    jobs.push(("stream", Some("no_such_method".to_string()), default));
    let requests: Vec<Job<'_>> = jobs
        .iter()
        .map(|(kind, method, args)| Job {
            kind,
            method: method.as_deref(),
            args: args.clone(),
        })
        .collect();
    let answers = plugin::python_answers(b"", &requests);

    let mut instance = plugin::loaded(b"").await;
    for ((kind, method, args), answer) in jobs.iter().zip(answers) {
        let label = format!("{kind} {method:?} {}", hex(args));
        instance.new_token();
        if *kind == "run" {
            let (result, metadata) = instance.run(args, Metadata::new(), method.as_deref()).await;
            match answer["error"].as_str() {
                Some(error) => assert_eq!(result, Err(error.to_string()), "{label}"),
                None => {
                    assert_eq!(
                        result.map(|r| hex(&r)),
                        Ok(answer["result"].as_str().unwrap().to_string()),
                        "{label}"
                    );
                    let expected: HashMap<String, String> =
                        serde_json::from_value(answer["metadata"].clone()).unwrap();
                    assert_eq!(metadata, expected, "{label}");
                }
            }
        } else {
            let streamed = instance
                .run_stream(args, Metadata::new(), method.as_deref(), 16, |_| {})
                .await;
            let chunks: Vec<String> = streamed.chunks.iter().map(|c| hex(c)).collect();
            let expected: Vec<String> = answer["chunks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_string())
                .collect();
            assert_eq!(chunks, expected, "{label}");
            match answer["error"].as_str() {
                Some(error) => assert_eq!(streamed.end, Err(error.to_string()), "{label}"),
                None => assert_eq!(streamed.end, Ok(Metadata::new()), "{label}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_reach_the_runner_and_bad_settings_fail_load() {
    let (method, output_type) = sample_method();
    let settings = plugin::settings("Hi");
    let mut instance = plugin::loaded(&settings).await;
    if output_type != 1 {
        let args = plugin::args(&method, "Ada");
        let expected = plugin::python_results(&settings, &method, std::slice::from_ref(&args));
        let (result, _) = instance.run(&args, Metadata::new(), Some(&method)).await;
        assert_eq!(result.map(|r| hex(&r)), Ok(expected[0].clone()));
    }
    let mut broken = plugin::library().instance().unwrap();
    let error = broken
        .load(&[0xff, 0xff, 0xff])
        .await
        .expect_err("garbage settings");
    assert!(!error.is_empty() && !error.contains('\n'), "{error:?}");
    // A failed load leaves an instance that refuses jobs instead of crashing.
    let (result, _) = broken.run(b"", Metadata::new(), None).await;
    assert!(result.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_comes_back_and_a_job_before_load_fails() {
    let mut fresh = plugin::library().instance().unwrap();
    let (result, _) = fresh.run(b"", Metadata::new(), None).await;
    assert_eq!(
        result,
        Err("the plugin is not loaded: call load() first".to_string())
    );

    let Some((method, _)) = methods().into_iter().find(|(_, kind)| *kind != 1) else {
        return;
    };
    let mut instance = plugin::loaded(b"").await;
    let metadata = Metadata::from([("trace".to_string(), "abc".to_string())]);
    let (_, returned) = instance
        .run(
            &plugin::args(&method, "Ada"),
            metadata.clone(),
            Some(&method),
        )
        .await;
    assert_eq!(returned, metadata);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_token_stops_the_job() {
    let mut instance = plugin::loaded(b"").await;
    for (method, kind) in methods() {
        let handle = instance.new_token();
        handle.cancel();
        if kind != 1 {
            let (result, _) = instance
                .run(
                    &plugin::args(&method, "Ada"),
                    Metadata::new(),
                    Some(&method),
                )
                .await;
            assert_eq!(result, Err("cancelled".to_string()));
        }
        if kind != 0 {
            let streamed = instance
                .run_stream(
                    &plugin::args(&method, "Ada"),
                    Metadata::new(),
                    Some(&method),
                    1,
                    |_| {},
                )
                .await;
            assert_eq!(streamed.end, Err("cancelled".to_string()));
            assert!(streamed.chunks.is_empty());
        }
    }
    // The next job, with the host's next token, works.
    let (method, kind) = methods().remove(0);
    instance.new_token();
    if kind != 1 {
        let (result, _) = instance
            .run(
                &plugin::args(&method, "Ada"),
                Metadata::new(),
                Some(&method),
            )
            .await;
        assert!(result.is_ok(), "{result:?}");
    }
}

/// Cancelled while the host holds back the second chunk: the stream ends there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_a_stream_stops_it_at_the_next_chunk() {
    // The first streaming method that streams these args in several chunks (the sample streams
    // word by word; placeholders stream a single chunk, which leaves nothing to cancel).
    let mut instance = plugin::loaded(b"").await;
    let name = "many words make many chunks for this test";
    let mut chosen = None;
    for (method, _) in methods().into_iter().filter(|(_, kind)| *kind != 0) {
        instance.new_token();
        let full = instance
            .run_stream(
                &plugin::args(&method, name),
                Metadata::new(),
                Some(&method),
                16,
                |_| {},
            )
            .await;
        if full.end.is_ok() && full.chunks.len() > 3 {
            chosen = Some((method, full));
            break;
        }
    }
    let Some((method, full)) = chosen else {
        return;
    };

    let handle = std::sync::Arc::new(instance.new_token());
    let canceller = handle.clone();
    let streamed = instance
        .run_stream(
            &plugin::args(&method, name),
            Metadata::new(),
            Some(&method),
            1,
            move |count| {
                if count == 1 {
                    canceller.cancel();
                }
            },
        )
        .await;
    assert_eq!(streamed.end, Err("cancelled".to_string()));
    assert!(
        streamed.chunks.len() < full.chunks.len(),
        "{} chunks",
        streamed.chunks.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_run_concurrently_without_mixing_results() {
    let (method, kind) = sample_method();
    if kind == 1 {
        return; // a streaming-only sample: the stream tests cover it
    }
    let mut tasks = Vec::new();
    for worker in 0..2 {
        let method = method.clone();
        tasks.push(tokio::spawn(async move {
            let settings = plugin::settings(&format!("W{worker}"));
            let args: Vec<Vec<u8>> = (0..200)
                .map(|job| plugin::args(&method, &format!("{worker}-{job}")))
                .collect();
            let expected = plugin::python_results(&settings, &method, &args);
            let mut instance = plugin::loaded(&settings).await;
            for (args, expected) in args.iter().zip(expected) {
                instance.new_token();
                let (result, _) = instance.run(args, Metadata::new(), Some(&method)).await;
                assert_eq!(result.map(|r| hex(&r)), Ok(expected));
            }
        }));
    }
    for task in tasks {
        task.await.expect("worker");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_jobs_on_one_instance_keep_memory_flat() {
    let (method, kind) = sample_method();
    let names: Vec<Vec<u8>> = (0..1000)
        .map(|n| plugin::args(&method, &format!("job {n}")))
        .collect();
    let expected = if kind == 1 {
        Vec::new()
    } else {
        plugin::python_results(b"", &method, &names)
    };
    let mut instance = plugin::loaded(b"").await;
    let job = async |instance: &mut support::v2_host::Instance, n: usize| {
        instance.new_token();
        let name = format!("job {n}");
        if kind == 1 {
            let streamed = instance
                .run_stream(
                    &plugin::args(&method, &name),
                    Metadata::new(),
                    Some(&method),
                    16,
                    |_| {},
                )
                .await;
            assert!(streamed.end.is_ok());
        } else {
            let (result, _) = instance
                .run(
                    &plugin::args(&method, &name),
                    Metadata::new(),
                    Some(&method),
                )
                .await;
            assert_eq!(result.map(|r| hex(&r)), Ok(expected[n].clone()));
        }
    };
    for n in 0..200 {
        job(&mut instance, n).await;
    }
    let warm = resident_kib();
    let started = Instant::now();
    for n in 0..1000 {
        job(&mut instance, n).await;
    }
    let took = started.elapsed();
    let grown = resident_kib().saturating_sub(warm);
    println!(
        "1000 jobs: {took:?} ({:?} each), resident +{grown} KiB",
        took / 1000
    );
    assert!(
        grown < 4096,
        "resident memory grew by {grown} KiB over 1000 jobs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_dropped_cleanly() {
    for _ in 0..20 {
        drop(plugin::loaded(b"").await);
    }
    let warm = resident_kib();
    for _ in 0..200 {
        let instance = plugin::loaded(b"").await;
        drop(instance);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let grown = resident_kib().saturating_sub(warm);
    assert!(
        grown < 4096,
        "resident memory grew by {grown} KiB over 200 instances"
    );
}

/// The benchmark row: a bridged job against the direct Python call of the runner's `run()`,
/// a worker's start-up and its resident memory. Run by the template's
/// `benchmarks/native_bridge.py` (release build, `--ignored`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: benchmarks/native_bridge.py runs it"]
async fn bench_bridged_job_against_the_direct_python_call() {
    let Some((method, _)) = methods().into_iter().find(|(_, kind)| *kind != 1) else {
        return;
    };
    let jobs = 2000;
    let code = format!(
        "import sys, time\nfrom importlib.metadata import entry_points\n\
         (p,) = [e for e in entry_points(group='jobworkerp.plugins') if e.module == '{}']\n\
         r = p.load()(); r.load(b'')\nargs = bytes.fromhex('{}')\n\
         for _ in range(200): r.run(args, dict(), '{method}')\n\
         t = time.perf_counter()\nfor _ in range({jobs}): r.run(args, dict(), '{method}')\n\
         print((time.perf_counter() - t) / {jobs} * 1e6)",
        plugin::PACKAGE,
        hex(&plugin::args(&method, "Ada")),
    );
    let direct: f64 = String::from_utf8_lossy(&plugin::build_python(&["-c", &code]))
        .trim()
        .parse()
        .expect("µs");

    let mut instance = plugin::loaded(b"").await;
    let args = plugin::args(&method, "Ada");
    for _ in 0..200 {
        instance.new_token();
        instance
            .run(&args, Metadata::new(), Some(&method))
            .await
            .0
            .expect("run");
    }
    let started = Instant::now();
    for _ in 0..jobs {
        instance.new_token();
        instance
            .run(&args, Metadata::new(), Some(&method))
            .await
            .0
            .expect("run");
    }
    let bridged = started.elapsed().as_secs_f64() / jobs as f64 * 1e6;

    // The host's own floor: the same calls on an instance that was never loaded, which the
    // bridge answers at once, without a worker.
    let mut empty = plugin::library().instance().expect("instance");
    let started = Instant::now();
    for _ in 0..jobs {
        empty.new_token();
        let (result, _) = empty.run(&args, Metadata::new(), Some(&method)).await;
        assert!(result.is_err());
    }
    let floor = started.elapsed().as_secs_f64() / jobs as f64 * 1e6;

    // A worker's start-up: `load()` with settings no worker has yet (process start, imports,
    // the runner's load), then `load()` of that warm worker from the pool.
    let mut starts = Vec::new();
    let mut takes = Vec::new();
    let mut held = Vec::new();
    for n in 0..5 {
        let settings = plugin::settings(&format!("bench start {n}"));
        let started = Instant::now();
        let fresh = plugin::loaded(&settings).await;
        starts.push(started.elapsed().as_secs_f64() * 1e3);
        drop(fresh);
        let started = Instant::now();
        held.push(plugin::loaded(&settings).await);
        takes.push(started.elapsed().as_secs_f64() * 1e6);
    }
    starts.sort_by(f64::total_cmp);
    takes.sort_by(f64::total_cmp);
    let workers = worker_resident_kib();
    let resident = workers.iter().sum::<u64>() / workers.len().max(1) as u64;
    println!(
        "bench: bridged {bridged:.1} us, direct {direct:.1} us, host floor {floor:.1} us, \
         worker start {:.0} ms, pool load {:.0} us, worker rss {resident} KiB ({} workers)",
        starts[starts.len() / 2],
        takes[takes.len() / 2],
        workers.len()
    );
}

/// Resident memory of each of this process's Python worker processes, in KiB (Linux).
fn worker_resident_kib() -> Vec<u64> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let path = entry.path();
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // The parent's pid is the second field after the command name in parentheses.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_string));
        let command = std::fs::read(path.join("cmdline")).unwrap_or_default();
        let is_worker = String::from_utf8_lossy(&command).contains("bridge_worker");
        if parent.as_deref() != Some(me.as_str()) || !is_worker {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        if let Some(kib) = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        {
            found.push(kib);
        }
    }
    found
}
