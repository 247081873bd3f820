//! Interruptions and crashes: the session survives both and can be resumed.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ouro_test_support::{Reply, Wire};
use serde_json::{json, Value};

/// Waits until `check` holds, for at most 20 s.
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a process whose command line contains `marker` is running. (The command runs
/// in its own PID namespace, so its own idea of its PID means nothing out here.)
fn running(marker: &str) -> bool {
    Command::new("pgrep")
        .args(["-f", marker])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A `sleep` whose command line is unique to this test run.
fn unique_sleep(test: u32) -> String {
    format!("sleep 600.{}{test}", std::process::id())
}

fn slow_command_replies(sleep: &str) -> Vec<Reply> {
    vec![
        Reply::call(
            "slow",
            "shell",
            json!({"command": ["bash", "-lc", format!("echo started > shell.started; {sleep}")]}),
        ),
        Reply::text("resumed fine"),
    ]
}

fn function_output(body: &Value, call_id: &str) -> Option<String> {
    body["input"].as_array()?.iter().find_map(|item| {
        (item["type"] == "function_call_output" && item["call_id"] == call_id)
            .then(|| item["output"].as_str().unwrap_or_default().to_string())
    })
}

#[test]
fn ctrl_c_kills_the_command_records_the_interruption_and_exits_130() {
    let sleep = unique_sleep(1);
    let env = TestEnv::new(Wire::Responses, &slow_command_replies(&sleep));
    let child = env
        .command(&["exec", "run something slow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the command to start", || running(&sleep));

    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        stderr(&output).contains("ouro exec resume"),
        "{}",
        stderr(&output)
    );
    wait_for("the command's process to die", || !running(&sleep));

    let record = std::fs::read_to_string(&env.sessions()[0]).unwrap();
    assert!(record.contains("\"turn_aborted\""), "{record}");

    // The interrupted call got an answer, so the session continues cleanly.
    let resumed = env.run(&["exec", "resume", "--last", "carry on"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(stdout(&resumed), "resumed fine\n");
    let requests = env.server.requests();
    let answer = function_output(&requests[1].body, "slow").expect("the call was answered");
    assert!(answer.contains("interrupted"), "{answer}");
}

#[test]
fn kill_9_mid_turn_leaves_a_resumable_session() {
    let sleep = unique_sleep(2);
    let env = TestEnv::new(Wire::Responses, &slow_command_replies(&sleep));
    let mut child = env
        .command(&["exec", "run something slow"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the command to start", || running(&sleep));
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    // The sandbox dies with ouro: nothing the command started outlives it.
    wait_for("the orphaned command to die", || !running(&sleep));

    // Simulate the crash landing mid-write, too.
    let session = env.sessions()[0].clone();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&session)
        .unwrap();
    file.write_all(br#"{"timestamp":"2026-01-01T00:00:00Z","type":"response_it"#)
        .unwrap();
    drop(file);

    let resumed = env.run(&["exec", "resume", "--last", "carry on"]);
    let err = stderr(&resumed);
    assert!(resumed.status.success(), "{err}");
    assert!(
        err.contains("warning:") && err.contains("incomplete"),
        "{err}"
    );
    assert_eq!(stdout(&resumed), "resumed fine\n");
    let requests = env.server.requests();
    assert_eq!(requests.len(), 2);
    let body = &requests[1].body;
    let answer = function_output(body, "slow").expect("the dangling call was answered");
    assert!(answer.contains("session ended"), "{answer}");
    assert!(body.to_string().contains("carry on"));
    assert_append_only(Wire::Responses, &[requests[0].body.clone(), body.clone()]);
}

#[test]
fn ctrl_c_cancels_a_stalled_model_stream() {
    let stalled = ouro_test_support::sse(Wire::Chat, &Reply::text("never finished"));
    let script = vec![ouro_test_support::MockResponse::SseStall {
        stall_after_bytes: stalled.len() / 3,
        body: stalled,
        stall_for: Duration::from_secs(60),
    }];
    let env = TestEnv::with_script(Wire::Chat, script, "");
    let child = env
        .command(&["exec", "--json", "hello"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the request to arrive", || {
        !env.server.requests().is_empty()
    });
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    assert!(started.elapsed() < Duration::from_secs(5));
    let events = json_events(&output);
    assert_eq!(events.last().unwrap()["type"], "turn.failed");
    let record = std::fs::read_to_string(&env.sessions()[0]).unwrap();
    assert!(record.contains("interrupted by the user"), "{record}");
}
