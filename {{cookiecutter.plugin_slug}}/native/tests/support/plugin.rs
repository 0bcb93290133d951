//! What the tests expect of this plugin: its library, its Python twin, its args.
//! The tests take their expectations from the Python runner and the build's identity, and
//! their args and settings from the Python twin's samples of the plugin's own messages
//! (`support/expected.py samples`), so the author's protos and methods need no edit here.
#![allow(dead_code)]

use super::v2_host::{Instance, Library, built_library};
use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The Python that built the library, and the identity it recorded (see build.rs).
pub const BUILD_PYTHON: &str = env!("JWP_BUILD_PYTHON");
pub const BUILD_IDENTITY: &str = env!("JWP_BUILD_IDENTITY");
pub const PACKAGE: &str = env!("CARGO_PKG_NAME");

pub fn library() -> Library {
    static OPENED: OnceLock<Library> = OnceLock::new();
    *OPENED.get_or_init(|| {
        // `cargo test` does not build the cdylib itself: `cargo build` first.
        let path = built_library(PACKAGE);
        assert!(
            path.is_file(),
            "{} is missing: run `cargo build` first",
            path.display()
        );
        Library::open(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    })
}

pub async fn loaded(settings: &[u8]) -> Instance {
    let mut instance = library().instance().expect("instance");
    instance.load(settings).await.expect("load");
    instance
}

/// A message of the plugin's to build on: a sample, and where its first string field is.
struct Sample {
    /// The encoded sample.
    sample: Vec<u8>,
    /// Field numbers down to the first singular string field, nested messages first.
    text_path: Option<Vec<u32>>,
}

impl Sample {
    fn from_json(value: &serde_json::Value) -> Sample {
        let path = value["text_path"].as_array().map(|numbers| {
            let number = |n: &serde_json::Value| n.as_u64().expect("field number") as u32;
            numbers.iter().map(number).collect()
        });
        Sample {
            sample: unhex(value["sample"].as_str().expect("sample")),
            text_path: path,
        }
    }
}

struct Samples {
    /// The method a job without one runs (or the first, when there is none).
    default: String,
    settings: Sample,
    methods: HashMap<String, Sample>,
}

/// The Python twin's samples, asked once per test binary.
fn samples() -> &'static Samples {
    static SAMPLES: OnceLock<Samples> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/expected.py");
        let found: serde_json::Value =
            serde_json::from_slice(&build_python(&[script, PACKAGE, "samples"]))
                .expect("samples JSON");
        let methods = found["methods"].as_object().expect("methods");
        Samples {
            default: found["default"].as_str().expect("default").to_string(),
            settings: Sample::from_json(&found["settings"]),
            methods: methods
                .iter()
                .map(|(name, sample)| (name.clone(), Sample::from_json(sample)))
                .collect(),
        }
    })
}

/// Args of `method` that carry `text`: its sample args (every field filled, as the conformance
/// suite sends them) with `text` in their first string field, so that jobs of different texts
/// differ. Args without a string field are the sample, whatever the text. A method the plugin
/// lacks gets the default method's args.
pub fn args(method: &str, text: &str) -> Vec<u8> {
    let samples = samples();
    let sample = samples
        .methods
        .get(method)
        .unwrap_or_else(|| &samples.methods[&samples.default]);
    with_text(sample, text)
}

/// The method a job without one runs, by the Python runner's table.
pub fn default_method() -> String {
    samples().default.clone()
}

/// Settings that carry `text` in the settings message's first string field (empty settings
/// otherwise, as `load(b"")` gets).
pub fn settings(text: &str) -> Vec<u8> {
    with_text(&samples().settings, text)
}

/// The sample with `text` appended at its text path: a later value of a field replaces the
/// sample's, and a nested message given again is merged into the first.
fn with_text(sample: &Sample, text: &str) -> Vec<u8> {
    let mut encoded = sample.sample.clone();
    if let Some(path) = &sample.text_path {
        let mut field = text.as_bytes().to_vec();
        for number in path.iter().rev() {
            field = length_delimited(*number, &field);
        }
        encoded.extend(field);
    }
    encoded
}

fn length_delimited(number: u32, payload: &[u8]) -> Vec<u8> {
    let mut encoded = Vec::with_capacity(payload.len() + 10);
    varint(&mut encoded, u64::from(number) << 3 | 2);
    varint(&mut encoded, payload.len() as u64);
    encoded.extend_from_slice(payload);
    encoded
}

fn varint(encoded: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        encoded.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    encoded.push(value as u8);
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).expect("hex"))
        .collect()
}

/// The `message` field (1) of a result of the template's sample, or "" when absent (the fault
/// tests, which run on the sample, read it).
pub fn message_of(result: &[u8]) -> String {
    let mut at = 0;
    while at < result.len() {
        let key = result[at];
        at += 1;
        let mut length = 0usize;
        let mut shift = 0;
        loop {
            let byte = result[at];
            at += 1;
            length |= ((byte & 0x7f) as usize) << shift;
            shift += 7;
            if byte < 0x80 {
                break;
            }
        }
        if key == (1 << 3 | 2) {
            return String::from_utf8_lossy(&result[at..at + length]).into_owned();
        }
        at += length;
    }
    String::new()
}

/// The build's identity record (name, schemas, venv) written by `identity.py`.
pub fn identity() -> serde_json::Value {
    let text = std::fs::read_to_string(BUILD_IDENTITY).expect("identity.json of the build");
    serde_json::from_str(&text).expect("identity JSON")
}

/// The same identity asked of the Python runner now, not at build time.
pub fn live_identity() -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/identity.py");
    serde_json::from_slice(&build_python(&[script, PACKAGE])).expect("identity JSON")
}

/// What the build's Python prints when run with `arguments`; a failure fails the test.
pub fn build_python(arguments: &[&str]) -> Vec<u8> {
    let output = Command::new(BUILD_PYTHON)
        .args(arguments)
        .output()
        .expect("python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// One job for the Python runner: kind "run" or "stream".
pub struct Job<'a> {
    pub kind: &'a str,
    pub method: Option<&'a str>,
    pub args: Vec<u8>,
}

/// What the Python runner, loaded with `settings`, answers, job by job (see support/expected.py).
pub fn python_answers(settings: &[u8], jobs: &[Job<'_>]) -> Vec<serde_json::Value> {
    let jobs: Vec<serde_json::Value> = jobs
        .iter()
        .map(|job| {
            let args = hex(&job.args);
            serde_json::json!({"kind": job.kind, "method": job.method, "args": args})
        })
        .collect();
    let request = serde_json::json!({"settings": hex(settings), "jobs": jobs});
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/expected.py");
    let mut child = Command::new(BUILD_PYTHON)
        .arg(script)
        .arg(PACKAGE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(serde_json::to_string(&request).expect("json").as_bytes())
        .expect("write");
    drop(stdin);
    let output = child.wait_with_output().expect("python answers");
    assert!(output.status.success());
    serde_json::from_slice(&output.stdout).expect("answers JSON")
}

/// The Python runner's results (hex) of `run` jobs of `method`, one per args: what the bridge
/// must answer, whatever the plugin's protos and logic are.
pub fn python_results(settings: &[u8], method: &str, args: &[Vec<u8>]) -> Vec<String> {
    let jobs: Vec<Job<'_>> = args
        .iter()
        .map(|args| Job {
            kind: "run",
            method: Some(method),
            args: args.clone(),
        })
        .collect();
    python_answers(settings, &jobs)
        .iter()
        .map(|answer| {
            let result = answer["result"].as_str();
            result
                .unwrap_or_else(|| panic!("{method}: {}", answer["error"]))
                .to_string()
        })
        .collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
