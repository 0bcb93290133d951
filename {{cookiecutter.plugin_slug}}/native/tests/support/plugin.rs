//! What the tests expect of this plugin: its library, its Python twin, its args.
//! The tests take their expectations from the Python runner and the build's identity, so the
//! author's own protos and methods need no edit here. One assumption is left: `args` writes a
//! string in field 1, which the args messages must accept (edit `args` if yours do not).
#![allow(dead_code)]

use super::v2_host::{Instance, Library, built_library};
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

/// Args whose string field 1 is `name` (the sample's `string name = 1`).
pub fn args(name: &str) -> Vec<u8> {
    string_field(1, name)
}

/// The sample settings message: `string greeting = 1`.
pub fn settings(greeting: &str) -> Vec<u8> {
    string_field(1, greeting)
}

fn string_field(number: u8, text: &str) -> Vec<u8> {
    let mut encoded = Vec::new();
    if !text.is_empty() {
        encoded.push(number << 3 | 2);
        let mut length = text.len();
        while length >= 0x80 {
            encoded.push((length as u8 & 0x7f) | 0x80);
            length >>= 7;
        }
        encoded.push(length as u8);
        encoded.extend_from_slice(text.as_bytes());
    }
    encoded
}

/// The `message` field (1) of a sample result, or "" when absent.
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
    let output = Command::new(BUILD_PYTHON)
        .arg(script)
        .arg(PACKAGE)
        .output()
        .expect("python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("identity JSON")
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
