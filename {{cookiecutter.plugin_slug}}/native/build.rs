//! Bakes the plugin's identity and schemas into the library.
//!
//! JobWorkerP builds a plugin instance for every schema read and every non-static job, and the
//! constructor must answer `name()` and the schemas without `load()`. So instead of starting
//! Python there, this script runs the build environment's Python once (`identity.py`, which
//! loads the plugin through its entry point) and writes the answers as Rust constants.
//! Which Python: `JOBWORKERP_PYTHON_VENV`, else the active `VIRTUAL_ENV`, else `PYTHON`, else
//! `python3` on PATH. That environment is also the library's default at run time: its
//! `bin/python` runs the worker processes.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    for variable in ["JOBWORKERP_PYTHON_VENV", "VIRTUAL_ENV", "PYTHON"] {
        println!("cargo:rerun-if-env-changed={variable}");
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let package = env::var("CARGO_PKG_NAME").expect("set by cargo");
    let sources = manifest.join("..").join("src").join(&package);
    println!("cargo:rerun-if-changed=identity.py");
    println!(
        "cargo:rerun-if-changed={}",
        sources.join("runner.py").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        sources.join("protos").display()
    );

    let python = build_python();
    let output = Command::new(&python)
        .arg(manifest.join("identity.py"))
        .arg(&package)
        .output()
        .unwrap_or_else(|error| fail(&format!("cannot run {}: {error}", python.display())));
    if !output.status.success() {
        fail(&format!(
            "{} identity.py failed: {}",
            python.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let text = String::from_utf8(output.stdout).unwrap_or_else(|_| fail("identity is not UTF-8"));
    let identity: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|error| fail(&format!("bad identity: {error}")));

    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));
    let json_path = out_dir.join("identity.json");
    fs::write(&json_path, &text).unwrap_or_else(|error| fail(&error.to_string()));
    fs::write(out_dir.join("identity.rs"), constants(&identity, &package))
        .unwrap_or_else(|error| fail(&error.to_string()));

    // Tests compare the library with the live Python runner through the same interpreter.
    println!("cargo:rustc-env=JWP_BUILD_PYTHON={}", python.display());
    println!("cargo:rustc-env=JWP_BUILD_IDENTITY={}", json_path.display());
}

fn build_python() -> PathBuf {
    let venv_python = |venv: String| PathBuf::from(venv).join("bin").join("python");
    if let Ok(venv) = env::var("JOBWORKERP_PYTHON_VENV") {
        return venv_python(venv);
    }
    if let Ok(venv) = env::var("VIRTUAL_ENV") {
        return venv_python(venv);
    }
    PathBuf::from(env::var("PYTHON").unwrap_or_else(|_| "python3".to_string()))
}

fn text_of(identity: &serde_json::Value, key: &str) -> String {
    identity[key].as_str().unwrap_or_default().to_string()
}

/// A Rust literal of an optional string.
fn optional(value: &serde_json::Value) -> String {
    match value.as_str() {
        Some(text) => format!("Some({text:?})"),
        None => "None".to_string(),
    }
}

fn constants(identity: &serde_json::Value, package: &str) -> String {
    let mut code = String::new();
    let mut constant = |name: &str, value: String| {
        code.push_str(&format!("pub const {name}: &str = {value:?};\n"));
    };
    constant("PACKAGE", package.to_string());
    constant("NAME", text_of(identity, "name"));
    constant("DESCRIPTION", text_of(identity, "description"));
    constant(
        "RUNNER_SETTINGS_PROTO",
        text_of(identity, "runner_settings_proto"),
    );
    constant("SETTINGS_SCHEMA", text_of(identity, "settings_schema"));
    constant("BUILD_VENV", text_of(identity, "venv"));

    code.push_str("pub const METHODS: &[MethodEntry] = &[\n");
    let empty = serde_json::Map::new();
    for (name, schema) in identity["methods"].as_object().unwrap_or(&empty) {
        code.push_str(&format!(
            "    MethodEntry {open} name: {name:?}, args_proto: {:?}, result_proto: {:?}, \
             description: {}, output_type: {}, require_client_stream: {}, \
             client_stream_data_proto: {} {close},\n",
            text_of(schema, "args_proto"),
            text_of(schema, "result_proto"),
            optional(&schema["description"]),
            match schema["output_type"].as_i64() {
                Some(number) => format!("Some({number})"),
                None => "None".to_string(),
            },
            schema["require_client_stream"].as_bool().unwrap_or(false),
            optional(&schema["client_stream_data_proto"]),
            open = '{',
            close = '}',
        ));
    }
    code.push_str("];\n");
    match identity["json_schemas"].as_object() {
        None => code.push_str("pub const JSON_SCHEMAS: Option<&[JsonSchemaEntry]> = None;\n"),
        Some(map) => {
            code.push_str("pub const JSON_SCHEMAS: Option<&[JsonSchemaEntry]> = Some(&[\n");
            for (name, schema) in map {
                code.push_str(&format!(
                    "    JsonSchemaEntry {open} name: {name:?}, args_schema: {:?}, \
                     result_schema: {}, client_stream_data_schema: {} {close},\n",
                    text_of(schema, "args_schema"),
                    optional(&schema["result_schema"]),
                    optional(&schema["client_stream_data_schema"]),
                    open = '{',
                    close = '}',
                ));
            }
            code.push_str("]);\n");
        }
    }
    code
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
