//! The kernel sandbox, for real: `ouro sandbox` and commands run by the model.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;

use common::*;
use ouro_test_support::{Reply, Wire};
use serde_json::json;

/// A directory outside every writable root (the temp dir is one of them).
fn outside_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sandbox-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn read_only_writes_nowhere() {
    let env = TestEnv::new(Wire::Chat, &[]);
    let output = env.run(&["sandbox", "-s", "read-only", "--", "touch", "made.txt"]);
    assert!(!output.status.success());
    assert!(!env.path("made.txt").exists());
    assert!(
        stderr(&output).contains("Permission denied"),
        "{}",
        stderr(&output)
    );
    // Reading is fine, and so is /dev/null.
    let output = env.run(&[
        "sandbox",
        "-s",
        "read-only",
        "--",
        "bash",
        "-c",
        "cat /etc/hostname > /dev/null && echo ok",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "ok\n");
}

#[test]
fn workspace_write_writes_only_inside_the_roots() {
    let env = TestEnv::new(Wire::Chat, &[]);
    let outside = outside_dir("ww");
    let inside = env.run(&["sandbox", "--", "touch", "made.txt"]);
    assert!(inside.status.success(), "{}", stderr(&inside));
    assert!(env.path("made.txt").exists());

    let target = outside.join("escaped.txt");
    let escaped = env.run(&["sandbox", "--", "touch", target.to_str().unwrap()]);
    assert!(!escaped.status.success());
    assert!(!target.exists());

    // A symlink from the workspace to the outside does not help.
    std::os::unix::fs::symlink(&outside, env.path("link")).unwrap();
    let via_link = env.run(&["sandbox", "--", "touch", "link/escaped.txt"]);
    assert!(!via_link.status.success());
    assert!(!target.exists());

    let full = env.run(&[
        "sandbox",
        "-s",
        "danger-full-access",
        "--",
        "touch",
        target.to_str().unwrap(),
    ]);
    assert!(full.status.success(), "{}", stderr(&full));
    assert!(target.exists());
    std::fs::remove_dir_all(outside).unwrap();
}

#[test]
fn network_is_off_unless_allowed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connect = format!("echo hi > /dev/tcp/127.0.0.1/{port}");
    let env = TestEnv::new(Wire::Chat, &[]);
    let denied = env.run(&["sandbox", "--", "bash", "-c", &connect]);
    assert!(!denied.status.success());
    let allowed = env.run(&[
        "sandbox",
        "-c",
        "sandbox_workspace_write.network_access=true",
        "--",
        "bash",
        "-c",
        &connect,
    ]);
    assert!(allowed.status.success(), "{}", stderr(&allowed));
}

#[test]
fn the_models_commands_are_confined_and_the_failure_goes_back_to_it() {
    let outside = outside_dir("exec");
    let target = outside.join("escaped.txt");
    let env = TestEnv::new(
        Wire::Responses,
        &[
            Reply::call(
                "c1",
                "shell",
                json!({"command": ["touch", target.to_str().unwrap()]}),
            ),
            Reply::text("could not"),
        ],
    );
    let output = env.run(&["exec", "write outside"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!target.exists());
    let body = &env.server.requests()[1].body;
    let answer = body["input"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["type"] == "function_call_output")
        .and_then(|item| item["output"].as_str())
        .unwrap()
        .to_string();
    assert!(answer.contains("Permission denied"), "{answer}");
    assert!(!answer.contains("Exit code: 0"), "{answer}");
    std::fs::remove_dir_all(outside).unwrap();
}
