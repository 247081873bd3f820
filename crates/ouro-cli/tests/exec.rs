//! `ouro exec` end to end: the real binary against the mock model server.

mod common;

use common::*;
use ouro_test_support::{MockResponse, Reply, Wire};
use serde_json::{json, Value};

/// A three-step task: look around, write a file, answer.
fn three_step_replies() -> Vec<Reply> {
    vec![
        Reply::text("Let me look first.")
            .with_call(
                "call_ls",
                "shell",
                json!({"command": ["bash", "-lc", "echo listing && ls"]}),
            )
            .with_usage(120, 0, 12),
        Reply::call(
            "call_patch",
            "apply_patch",
            json!({"input": "*** Begin Patch\n*** Add File: hello.txt\n+hello from ouro\n*** End Patch\n"}),
        )
        .with_usage(180, 100, 20),
        Reply::text("Created hello.txt.").with_usage(220, 160, 5),
    ]
}

fn output_of_call(wire: Wire, body: &Value, call_id: &str) -> Option<String> {
    conversation(wire, body)
        .iter()
        .find_map(|entry| match wire {
            Wire::Responses
                if entry["type"] == "function_call_output" && entry["call_id"] == call_id =>
            {
                entry["output"].as_str().map(String::from)
            }
            Wire::Chat if entry["role"] == "tool" && entry["tool_call_id"] == call_id => {
                entry["content"].as_str().map(String::from)
            }
            Wire::Anthropic
                if entry["block"]["type"] == "tool_result"
                    && entry["block"]["tool_use_id"] == call_id =>
            {
                entry["block"]["content"].as_str().map(String::from)
            }
            _ => None,
        })
}

#[test]
fn runs_tools_feeds_results_back_and_keeps_the_prompt_append_only() {
    for wire in WIRES {
        let env = TestEnv::new(wire, &three_step_replies());
        std::fs::write(env.path("existing.txt"), "x").unwrap();
        let output = env.run(&[
            "exec",
            "-c",
            "tools.edit=\"apply_patch\"",
            "create hello.txt",
        ]);
        let err = stderr(&output);
        assert!(output.status.success(), "{}: {err}", wire_name(wire));
        assert_eq!(stdout(&output), "Created hello.txt.\n");
        assert_eq!(
            std::fs::read_to_string(env.path("hello.txt")).unwrap(),
            "hello from ouro\n"
        );
        assert!(err.contains("exec bash -lc 'echo listing && ls'"), "{err}");
        assert!(err.contains("patch applied: A hello.txt"), "{err}");
        assert!(
            err.contains("tokens used: 520 input (260 cached), 37 output"),
            "{err}"
        );

        let requests = env.server.requests();
        assert_eq!(requests.len(), 3, "{}", wire_name(wire));
        let bodies: Vec<Value> = requests.iter().map(|r| r.body.clone()).collect();
        assert_append_only(wire, &bodies);

        let ls_output = output_of_call(wire, &bodies[1], "call_ls").expect("shell output sent");
        assert!(ls_output.contains("Exit code: 0"), "{ls_output}");
        assert!(ls_output.contains("listing\nexisting.txt"), "{ls_output}");
        let patch_output = output_of_call(wire, &bodies[2], "call_patch").expect("patch output");
        assert!(patch_output.contains("hello.txt"), "{patch_output}");

        let auth = match wire {
            Wire::Anthropic => requests[0].header("x-api-key"),
            _ => requests[0].header("authorization"),
        };
        let expected = match wire {
            Wire::Anthropic => "sk-test-123",
            _ => "Bearer sk-test-123",
        };
        assert_eq!(auth, Some(expected));
        let first = bodies[0].to_string();
        for needle in [
            "<environment_context>",
            "<sandbox_mode>",
            "\"shell\"",
            "\"apply_patch\"",
        ] {
            assert!(first.contains(needle), "{needle} missing from {first}");
        }
    }
}

#[test]
fn json_mode_prints_codex_shaped_events() {
    let env = TestEnv::new(Wire::Responses, &three_step_replies());
    let output = env.run(&["exec", "--json", "create hello.txt"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let events = json_events(&output);
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types[0], "thread.started");
    assert_eq!(types[1], "turn.started");
    assert_eq!(types.last(), Some(&"turn.completed"));

    let command_done = events
        .iter()
        .find(|e| e["type"] == "item.completed" && e["item"]["type"] == "command_execution")
        .expect("command item");
    assert_eq!(command_done["item"]["exit_code"], 0);
    assert_eq!(command_done["item"]["status"], "completed");
    assert!(command_done["item"]["aggregated_output"]
        .as_str()
        .unwrap()
        .contains("listing"));
    let command_started = events
        .iter()
        .find(|e| e["type"] == "item.started")
        .expect("started item");
    assert_eq!(command_started["item"]["id"], command_done["item"]["id"]);
    assert_eq!(command_started["item"]["status"], "in_progress");

    let patch = events
        .iter()
        .find(|e| e["item"]["type"] == "file_change")
        .expect("file change");
    assert_eq!(patch["item"]["changes"][0]["path"], "hello.txt");
    assert_eq!(patch["item"]["changes"][0]["kind"], "add");
    assert_eq!(
        patch["item"]["changes"][0]["diff"],
        "--- /dev/null\n+++ b/hello.txt\n@@ -0,0 +1 @@\n+hello from ouro\n"
    );
    assert_eq!(patch["item"]["status"], "completed");

    let messages: Vec<&str> = events
        .iter()
        .filter(|e| e["item"]["type"] == "agent_message")
        .filter_map(|e| e["item"]["text"].as_str())
        .collect();
    assert_eq!(messages, ["Let me look first.", "Created hello.txt."]);
    assert_eq!(
        events.last().unwrap()["usage"],
        json!({"input_tokens": 520, "cached_input_tokens": 260, "output_tokens": 37})
    );
}

#[test]
fn resume_continues_with_the_whole_history() {
    for wire in WIRES {
        let env = TestEnv::new(
            wire,
            &[
                Reply::call("c1", "shell", json!({"command": ["echo", "first"]})),
                Reply::text("first done"),
                Reply::text("second done"),
                Reply::text("third done"),
            ],
        );
        let first = env.run(&["exec", "first task"]);
        assert!(first.status.success(), "{}", stderr(&first));
        let second = env.run(&["exec", "resume", "--last", "second task"]);
        assert!(second.status.success(), "{}", stderr(&second));
        assert_eq!(stdout(&second), "second done\n");

        let session = env.sessions();
        assert_eq!(session.len(), 1, "resume appends to the same session file");
        let id = session[0]
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .get(20..)
            .unwrap()
            .to_string();
        let third = env.run(&["exec", "resume", &id[..8], "third task"]);
        assert!(third.status.success(), "{}", stderr(&third));

        let bodies: Vec<Value> = env
            .server
            .requests()
            .iter()
            .map(|r| r.body.clone())
            .collect();
        assert_eq!(bodies.len(), 4);
        // The resumed requests extend the original session's requests byte for byte.
        assert_append_only(wire, &bodies);
        let last = serde_json::to_string(&conversation(wire, &bodies[3])).unwrap();
        for text in [
            "first task",
            "first done",
            "second task",
            "second done",
            "third task",
        ] {
            assert!(last.contains(text), "{text} missing: {last}");
        }
    }
}

#[test]
fn provider_faults_are_retried() {
    let ok = |wire| MockResponse::reply(wire, &Reply::text("recovered"));
    for wire in WIRES {
        let full = ouro_test_support::sse(wire, &Reply::text("this reply is cut off"));
        let script = vec![
            MockResponse::Status {
                status: 500,
                headers: vec![],
                body: r#"{"error":{"message":"internal"}}"#.into(),
            },
            MockResponse::Status {
                status: 429,
                headers: vec![("Retry-After".into(), "1".into())],
                body: r#"{"error":{"message":"slow down"}}"#.into(),
            },
            MockResponse::SseCut {
                cut_after_bytes: full.len() / 2,
                body: full.clone(),
            },
            MockResponse::SseStall {
                body: full.clone(),
                stall_after_bytes: full.len() / 2,
                stall_for: std::time::Duration::from_secs(3),
            },
            ok(wire),
        ];
        let env = TestEnv::with_script(wire, script, "stream_idle_timeout_ms = 500\n");
        let started = std::time::Instant::now();
        let output = env.run(&["exec", "--json", "hi"]);
        assert!(
            output.status.success(),
            "{}: {}",
            wire_name(wire),
            stderr(&output)
        );
        let events = json_events(&output);
        let retries = events.iter().filter(|e| e["type"] == "error").count();
        assert_eq!(
            retries, 2,
            "one Reconnecting event per broken stream: {events:?}"
        );
        let message = events
            .iter()
            .find(|e| e["item"]["type"] == "agent_message")
            .expect("an answer");
        assert_eq!(message["item"]["text"], "recovered");
        assert_eq!(env.server.requests().len(), 5);
        // Retry-After: 1 was honoured.
        assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    }
}

#[test]
fn a_client_error_fails_the_turn_with_the_providers_message() {
    let script = vec![MockResponse::Status {
        status: 400,
        headers: vec![],
        body: r#"{"error":{"message":"model `mock-model` does not exist"}}"#.into(),
    }];
    let env = TestEnv::with_script(Wire::Chat, script, "");
    let output = env.run(&["exec", "hi"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("model `mock-model` does not exist"), "{err}");
    assert!(err.contains("400"), "{err}");
    assert_eq!(env.server.requests().len(), 1, "a 400 is not retried");
}

#[test]
fn bad_config_is_rejected_with_file_line_and_key() {
    let env = TestEnv::new(Wire::Chat, &[]);
    let config = env.home.path().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("approval_polcy = \"never\"\n{text}")).unwrap();
    let output = env.run(&["exec", "hi"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("config.toml"), "{err}");
    assert!(err.contains("line 1"), "{err}");
    assert!(err.contains("approval_polcy"), "{err}");

    std::fs::write(&config, text).unwrap();
    let output = env.run(&["exec", "-c", "sandbox_mode=\"everywhere\"", "hi"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("-c sandbox_mode"),
        "{}",
        stderr(&output)
    );
    assert!(env.server.requests().is_empty());
}

#[test]
fn missing_api_key_names_the_variable() {
    let env = TestEnv::new(Wire::Responses, &[]);
    let output = env
        .command(&["exec", "hi"])
        .env_remove("OURO_TEST_API_KEY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("OURO_TEST_API_KEY"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn prompt_from_stdin_and_last_message_file() {
    use std::io::Write;
    let env = TestEnv::new(Wire::Chat, &[Reply::text("from stdin")]);
    let last = env.path("last.txt");
    let mut child = env
        .command(&["exec", "--output-last-message", last.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"task from a pipe")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(std::fs::read_to_string(last).unwrap(), "from stdin");
    let body = &env.server.requests()[0].body;
    assert!(body.to_string().contains("task from a pipe"));
}

#[test]
fn untrusted_policy_declines_writes_and_tells_the_model() {
    let env = TestEnv::new(
        Wire::Responses,
        &[
            Reply::call("c1", "shell", json!({"command": ["touch", "made.txt"]})),
            Reply::text("ok"),
        ],
    );
    let output = env.run(&["exec", "-a", "untrusted", "make a file"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!env.path("made.txt").exists());
    let body = &env.server.requests()[1].body;
    let answer = output_of_call(Wire::Responses, body, "c1").unwrap();
    assert!(answer.contains("Not run"), "{answer}");
}

#[test]
fn read_only_calls_answer_in_call_order_and_bad_arguments_go_back_to_the_model() {
    let env = TestEnv::new(
        Wire::Chat,
        &[
            Reply::call("a", "shell", json!({"command": ["echo", "alpha"]}))
                .with_call("b", "shell", json!({"command": ["echo", "beta"]}))
                .with_call("c", "shell", json!({"cmd": "oops"}))
                .with_call("d", "no_such_tool", json!({})),
            Reply::text("done"),
        ],
    );
    let output = env.run(&["exec", "go"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let body = &env.server.requests()[1].body;
    let tool_ids: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| m["tool_call_id"].as_str())
        .collect();
    assert_eq!(tool_ids, ["a", "b", "c", "d"]);
    assert!(output_of_call(Wire::Chat, body, "a")
        .unwrap()
        .contains("alpha"));
    assert!(output_of_call(Wire::Chat, body, "c")
        .unwrap()
        .contains("unknown field `cmd`"));
    assert!(output_of_call(Wire::Chat, body, "d")
        .unwrap()
        .contains("unknown tool `no_such_tool`"));
}

#[test]
fn sessions_list_shows_recorded_sessions() {
    let env = TestEnv::new(Wire::Chat, &[Reply::text("done")]);
    assert!(env.run(&["exec", "list me please"]).status.success());
    let output = env.run(&["sessions", "list"]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("list me please"), "{text}");
    let cwd = env.work.path().canonicalize().unwrap();
    assert!(text.contains(&cwd.display().to_string()), "{text}");
}

#[test]
fn read_only_calls_run_concurrently() {
    // Two `cat`s of FIFOs. The test opens the second FIFO's writer first: if the calls ran
    // one after the other, the first `cat` would wait for a writer that never comes.
    let env = TestEnv::new(
        Wire::Chat,
        &[
            Reply::call(
                "a",
                "shell",
                json!({"command": ["cat", "fifo_a"], "timeout_ms": 10000}),
            )
            .with_call(
                "b",
                "shell",
                json!({"command": ["cat", "fifo_b"], "timeout_ms": 10000}),
            ),
            Reply::text("done"),
        ],
    );
    for fifo in ["fifo_a", "fifo_b"] {
        let status = std::process::Command::new("mkfifo")
            .arg(env.path(fifo))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let child = env
        .command(&["exec", "read both"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (path_a, path_b) = (env.path("fifo_a"), env.path("fifo_b"));
    let writer = std::thread::spawn(move || {
        write_fifo_when_read(&path_b, "from b\n");
        write_fifo_when_read(&path_a, "from a\n");
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let body = &env.server.requests()[1].body;
    assert!(output_of_call(Wire::Chat, body, "a")
        .unwrap()
        .contains("from a"));
    assert!(output_of_call(Wire::Chat, body, "b")
        .unwrap()
        .contains("from b"));
}

/// Writes to a FIFO once a reader has it open, giving up after 15 s.
fn write_fifo_when_read(path: &std::path::Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        // Non-blocking open fails with ENXIO until a reader is there.
        if let Ok(mut fifo) = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            let _ = fifo.write_all(text.as_bytes());
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn the_plan_is_one_todo_list_item_per_turn() {
    let plan = |first: &str, second: &str| json!({"plan": [{"step": "inspect", "status": first}, {"step": "fix", "status": second}]});
    let env = TestEnv::new(
        Wire::Responses,
        &[
            Reply::call("p1", "update_plan", plan("in_progress", "pending")),
            Reply::call("p2", "update_plan", plan("completed", "in_progress")),
            Reply::call(
                "p3",
                "update_plan",
                json!({"plan": [{"step": "a", "status": "in_progress"}, {"step": "b", "status": "in_progress"}]}),
            ),
            Reply::text("planned"),
        ],
    );
    let output = env.run(&["exec", "--json", "plan it"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let events = json_events(&output);
    let todo: Vec<&Value> = events
        .iter()
        .filter(|e| e["item"]["type"] == "todo_list")
        .collect();
    let kinds: Vec<&str> = todo.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds, ["item.started", "item.updated", "item.completed"]);
    assert!(todo
        .iter()
        .all(|e| e["item"]["id"] == todo[0]["item"]["id"]));
    assert_eq!(
        todo[2]["item"]["items"],
        json!([{"text": "inspect", "completed": true}, {"text": "fix", "completed": false}])
    );
    // The invalid plan went back to the model as an error.
    let body = &env.server.requests()[3].body;
    let answer = output_of_call(Wire::Responses, body, "p3").unwrap();
    assert!(answer.contains("at most one may be"), "{answer}");
}

#[test]
fn edit_mode_offers_edit_file_and_write_file() {
    let env = TestEnv::new(
        Wire::Anthropic,
        &[
            Reply::call(
                "w",
                "write_file",
                json!({"path": "src/app.py", "content": "def greet():\n    return 'hi'\n"}),
            ),
            Reply::call(
                "e",
                "edit_file",
                json!({"path": "src/app.py", "old_string": "'hi'", "new_string": "'hello'"}),
            ),
            Reply::call(
                "bad",
                "edit_file",
                json!({"path": "src/app.py", "old_string": "nope", "new_string": "x"}),
            ),
            Reply::text("done"),
        ],
    );
    let output = env.run(&["exec", "--json", "write and edit"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(env.path("src/app.py")).unwrap(),
        "def greet():\n    return 'hello'\n"
    );
    let tools: Vec<String> = env.server.requests()[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str().map(String::from))
        .collect();
    assert_eq!(
        tools,
        [
            "shell",
            "edit_file",
            "write_file",
            "read_file",
            "list_dir",
            "grep",
            "find_files",
            "update_plan"
        ]
    );
    let changes: Vec<(Value, Value)> = json_events(&output)
        .iter()
        .filter(|e| e["item"]["type"] == "file_change" && e["type"] == "item.completed")
        .map(|e| {
            (
                e["item"]["changes"][0]["kind"].clone(),
                e["item"]["status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            (json!("add"), json!("completed")),
            (json!("update"), json!("completed")),
            (Value::Null, json!("failed")),
        ]
    );
    let body = &env.server.requests()[3].body;
    let text = body.to_string();
    assert!(text.contains("edit_file failed"), "{text}");
}

#[test]
fn read_only_tools_read_search_and_show_as_tool_calls() {
    let env = TestEnv::new(
        Wire::Responses,
        &[
            Reply::call("r", "read_file", json!({"path": "notes.txt"}))
                .with_call("g", "grep", json!({"pattern": "needle"}))
                .with_call("l", "list_dir", json!({}))
                .with_call("f", "find_files", json!({"query": "nts"})),
            Reply::text("found it"),
        ],
    );
    std::fs::write(env.path("notes.txt"), "first\nthe needle is here\n").unwrap();
    let output = env.run(&["exec", "--json", "look"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let body = &env.server.requests()[1].body;
    assert!(output_of_call(Wire::Responses, body, "r")
        .unwrap()
        .contains("     2\tthe needle is here"));
    assert!(output_of_call(Wire::Responses, body, "g")
        .unwrap()
        .contains("notes.txt:2:the needle is here"));
    assert!(output_of_call(Wire::Responses, body, "l")
        .unwrap()
        .contains("notes.txt"));
    assert!(output_of_call(Wire::Responses, body, "f")
        .unwrap()
        .contains("notes.txt"));
    let events = json_events(&output);
    let tool_calls: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "item.completed" && e["item"]["type"] == "tool_call")
        .collect();
    assert_eq!(tool_calls.len(), 4);
    assert_eq!(tool_calls[0]["item"]["tool"], "read_file");
    assert_eq!(
        tool_calls[0]["item"]["arguments"],
        json!({"path": "notes.txt"})
    );
    assert_eq!(tool_calls[0]["item"]["status"], "completed");
}
