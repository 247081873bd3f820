//! Shared set-up for end-to-end tests: a temp `$OURO_HOME` whose config points at a mock
//! model server, a temp workspace, and a way to run the real `ouro` binary in it.

#![allow(dead_code)] // each test file uses a different part of this module

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ouro_test_support::{MockResponse, MockServer, Reply, Wire};
use serde_json::Value;
use tempfile::TempDir;

pub const WIRES: [Wire; 3] = [Wire::Responses, Wire::Chat, Wire::Anthropic];

pub fn wire_name(wire: Wire) -> &'static str {
    match wire {
        Wire::Responses => "responses",
        Wire::Chat => "chat",
        Wire::Anthropic => "anthropic",
    }
}

pub struct TestEnv {
    pub home: TempDir,
    pub work: TempDir,
    pub server: MockServer,
    pub wire: Wire,
}

impl TestEnv {
    /// A mock provider speaking `wire` that answers with `replies`, in order.
    pub fn new(wire: Wire, replies: &[Reply]) -> TestEnv {
        let script = replies
            .iter()
            .map(|r| MockResponse::reply(wire, r))
            .collect();
        Self::with_script(wire, script, "")
    }

    /// Full control over the responses, plus extra provider config lines.
    pub fn with_script(wire: Wire, script: Vec<MockResponse>, provider_extra: &str) -> TestEnv {
        let home = tempfile::tempdir().expect("temp home");
        let work = tempfile::tempdir().expect("temp workspace");
        let server = MockServer::start(script);
        let config = format!(
            "model = \"mock-model\"\nmodel_provider = \"mock\"\n\n[model_providers.mock]\n\
             name = \"Mock\"\nbase_url = \"{}\"\nwire_api = \"{}\"\nenv_key = \"OURO_TEST_API_KEY\"\n\
             {provider_extra}\n",
            server.base_url(),
            wire_name(wire)
        );
        std::fs::write(home.path().join("config.toml"), config).expect("write config");
        TestEnv {
            home,
            work,
            server,
            wire,
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ouro"));
        command
            .args(args)
            .current_dir(self.work.path())
            .env("OURO_HOME", self.home.path())
            .env("OURO_TEST_API_KEY", "sk-test-123")
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run ouro")
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.work.path().join(relative)
    }

    /// Every rollout file, newest first.
    pub fn sessions(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        collect_jsonl(&self.home.path().join("sessions"), &mut files);
        files.sort();
        files.reverse();
        files
    }
}

fn collect_jsonl(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_jsonl(&path, out);
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            out.push(path);
        }
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The conversation of a request, flattened so that prefix checks work for every wire
/// format: Responses `input` items; Chat `messages`; Anthropic content blocks with their role
/// (Anthropic merges a follow-up user text into the tool results' user message, which
/// extends that message at block level without changing any earlier token).
pub fn conversation(wire: Wire, body: &Value) -> Vec<Value> {
    match wire {
        Wire::Responses => body["input"].as_array().cloned().unwrap_or_default(),
        Wire::Chat => body["messages"].as_array().cloned().unwrap_or_default(),
        Wire::Anthropic => body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|message| {
                let role = message["role"].clone();
                let blocks = match &message["content"] {
                    Value::Array(blocks) => blocks.clone(),
                    text => vec![serde_json::json!({"type": "text", "text": text})],
                };
                blocks
                    .into_iter()
                    .map(move |block| serde_json::json!({"role": role, "block": block}))
            })
            .collect(),
    }
}

/// Everything of a request but its conversation: instructions, tools, model, options.
pub fn request_frame(wire: Wire, body: &Value) -> Value {
    let mut frame = body.clone();
    if let Some(map) = frame.as_object_mut() {
        match wire {
            Wire::Responses => map.remove("input"),
            Wire::Chat | Wire::Anthropic => map.remove("messages"),
        };
    }
    frame
}

/// Asserts that every request extends the previous one: same frame, and the earlier
/// conversation as an exact prefix.
pub fn assert_append_only(wire: Wire, bodies: &[Value]) {
    for pair in bodies.windows(2) {
        assert_eq!(
            request_frame(wire, &pair[0]),
            request_frame(wire, &pair[1]),
            "instructions/tools/options changed between requests"
        );
        let before = conversation(wire, &pair[0]);
        let after = conversation(wire, &pair[1]);
        assert!(
            after.len() > before.len(),
            "the conversation did not grow: {} -> {}",
            before.len(),
            after.len()
        );
        assert_eq!(
            &after[..before.len()],
            &before[..],
            "an earlier item changed between requests"
        );
    }
}

/// The JSON events `ouro exec --json` printed.
pub fn json_events(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}
