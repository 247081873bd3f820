//! Tests with a real model: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M), found through
//! `OURO_TEST_MODEL` (a path) or `$OURO_HOME/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf`.
//! Without one they skip, saying so, except under CI (`CI` set), where a missing model is a
//! failure.
#![cfg(feature = "local")]
// The lock only keeps model tests from running at once; each test has its own runtime.
#![allow(clippy::await_holding_lock)]

use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ouro_local::engine::{LocalModel, LocalOptions, StopReason};
use ouro_local::provider::LocalProvider;
use ouro_local::template::ChatTemplate;
use ouro_model::{ModelProvider, ResponseStream};
use ouro_protocol::{ModelEvent, Prompt, ResponseItem, TokenUsage};

const DEFAULT_FILE: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";

/// The test model, or `None` (after saying why) when the test should skip.
fn test_model() -> Option<PathBuf> {
    let path = match std::env::var_os("OURO_TEST_MODEL") {
        Some(path) => PathBuf::from(path),
        None => {
            let home = std::env::var_os("OURO_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ouro")))
                .unwrap_or_default();
            home.join("models").join(DEFAULT_FILE)
        }
    };
    if path.is_file() {
        return Some(path);
    }
    let message = format!(
        "no test model at {} (set OURO_TEST_MODEL, or run `ouro model pull qwen2.5-coder-0.5b`)",
        path.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    // Straight to stderr: the test harness would swallow `eprintln!` of a passing test.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {message}");
    None
}

/// One model test at a time: each uses every core, and they share the loaded weights.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn options() -> LocalOptions {
    LocalOptions {
        context_size: Some(4096),
        max_output_tokens: 256,
        ..LocalOptions::default()
    }
}

fn ouro_tools() -> Vec<ouro_protocol::ToolSpec> {
    ouro_tools::ToolRegistry::new(ouro_tools::EditTool::Edit).specs()
}

fn create_file_prompt() -> Prompt {
    Prompt {
        instructions: "You are ouro, a coding agent working in a git repository. Act with the \
                       tools; do not describe what you would do."
            .into(),
        tools: ouro_tools(),
        input: vec![ResponseItem::user(
            "Create a file named hello.txt containing the line `hi`.",
        )],
    }
}

async fn collect(mut stream: ResponseStream) -> (String, Vec<ResponseItem>, TokenUsage) {
    let (mut text, mut items) = (String::new(), Vec::new());
    while let Some(event) = stream.next().await {
        match event {
            Ok(ModelEvent::TextDelta(delta)) => text.push_str(&delta),
            Ok(ModelEvent::ItemDone(item)) => items.push(item),
            Ok(ModelEvent::Completed { usage }) => return (text, items, usage),
            Ok(other) => panic!("unexpected event {other:?}"),
            Err(err) => panic!("{err}"),
        }
    }
    panic!("the stream ended without Completed");
}

#[test]
fn the_models_template_renders_tools_and_tokenizes_prefix_stable() {
    let Some(path) = test_model() else { return };
    let _serial = serial();
    let metadata = ouro_local::gguf::read_file(&path).unwrap();
    let template = ChatTemplate::new(metadata.chat_template().unwrap()).unwrap();
    let mut prompt = create_file_prompt();
    let first = template.render(&prompt, true).unwrap();
    assert!(first.contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"shell\""));
    assert!(first.ends_with("<|im_start|>assistant\n"));

    let model = LocalModel::load(&path, options()).unwrap();
    let tokens_1 = model.tokenize(&first);
    prompt.input.push(ResponseItem::FunctionCall {
        call_id: "c1".into(),
        name: "shell".into(),
        arguments: r#"{"command": ["bash", "-lc", "echo hi > hello.txt"]}"#.into(),
    });
    prompt.input.push(ResponseItem::FunctionCallOutput {
        call_id: "c1".into(),
        output: "exit code 0".into(),
        success: true,
    });
    let second = template.render(&prompt, true).unwrap();
    assert!(second.starts_with(&first));
    let tokens_2 = model.tokenize(&second);
    assert_eq!(&tokens_2[..tokens_1.len()], &tokens_1[..]);
}

#[test]
fn the_grammar_for_ouros_tools_compiles_in_llama_cpp() {
    let Some(path) = test_model() else { return };
    let _serial = serial();
    let model = LocalModel::load(&path, options()).unwrap();
    for edit in [
        ouro_tools::EditTool::ApplyPatch,
        ouro_tools::EditTool::Edit,
        ouro_tools::EditTool::Whole,
    ] {
        let tools = ouro_tools::ToolRegistry::new(edit).specs();
        let accepts = |text: &str| model.grammar_accepts(&tools, text).unwrap();
        assert!(accepts(
            "<tool_call>\n{\"name\": \"shell\", \"arguments\": {\"command\": [\"ls\", \"-la\"]}}\n</tool_call>"
        ));
        assert!(accepts(
            "{\"name\": \"read_file\", \"arguments\": {\"path\": \"src/main.rs\"}}"
        ));
        assert!(accepts(
            "```json\n{\"name\": \"update_plan\", \"arguments\": {\"plan\": [{\"step\": \"a\", \"status\": \"pending\"}]}}\n```"
        ));
        // Free text is free; a call is held to the schema.
        assert!(accepts("All done: the tests pass."));
        assert!(!accepts("{\"name\": \"rm\", \"arguments\": {}}"));
        assert!(!accepts(
            "<tool_call>\n{\"name\": \"shell\", \"arguments\": {\"command\": \"ls\"}}\n</tool_call>"
        ));
        assert!(!accepts(
            "<tool_call>\n{\"name\": \"shell\", \"arguments\": {\"command\": [\"ls\"], \"sudo\": true}}\n</tool_call>"
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_to_create_a_file_yields_a_well_formed_call() {
    let Some(path) = test_model() else { return };
    let _serial = serial();
    let provider = LocalProvider::start(&path, options()).unwrap();
    let (_, items, usage) = collect(provider.stream(&create_file_prompt())).await;
    println!("{items:?}\n{usage:?}");
    let registry = ouro_tools::ToolRegistry::new(ouro_tools::EditTool::Edit);
    let calls: Vec<_> = items
        .iter()
        .filter_map(|item| match item {
            ResponseItem::FunctionCall {
                call_id,
                name,
                arguments,
            } => Some((call_id, name, arguments)),
            _ => None,
        })
        .collect();
    assert!(!calls.is_empty(), "no call in {items:?}");
    for (call_id, name, arguments) in calls {
        assert!(call_id.starts_with("call_"));
        assert!(
            ["shell", "write_file", "edit_file"].contains(&name.as_str()),
            "{name}"
        );
        let prepared = registry.prepare(name, arguments);
        assert!(
            prepared.approval_subject().is_some(),
            "{name} {arguments}: {:?}",
            prepared.declined("x").output
        );
    }
    assert!(usage.input_tokens > 1000 && usage.output_tokens > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kv_cache_carries_over_to_the_next_request() {
    let Some(path) = test_model() else { return };
    let _serial = serial();
    let provider = Arc::new(LocalProvider::start(&path, options()).unwrap());
    let mut prompt = create_file_prompt();

    let started = Instant::now();
    let (_, items, first) = collect(provider.stream(&prompt)).await;
    let first_time = started.elapsed();

    // The loop appends the reply and the tool results; the next prompt extends this one.
    for item in &items {
        prompt.input.push(item.clone());
        if let ResponseItem::FunctionCall { call_id, .. } = item {
            prompt.input.push(ResponseItem::FunctionCallOutput {
                call_id: call_id.clone(),
                output: "done".into(),
                success: true,
            });
        }
    }
    if !items
        .iter()
        .any(|i| matches!(i, ResponseItem::FunctionCall { .. }))
    {
        prompt.input.push(ResponseItem::user("Now run `ls`."));
    }
    let started = Instant::now();
    let (_, _, second) = collect(provider.stream(&prompt)).await;
    let second_time = started.elapsed();
    println!(
        "first: {first:?} in {first_time:?}\nsecond: {second:?} in {second_time:?} \
         ({:.0}% of the first prompt from the cache)",
        100.0 * second.cached_input_tokens as f64 / first.input_tokens as f64
    );
    assert_eq!(first.cached_input_tokens, 0);
    assert!(second.input_tokens > first.input_tokens);
    assert!(
        second.cached_input_tokens * 10 >= first.input_tokens * 9,
        "{second:?} reused less than 90% of {first:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_stops_generation() {
    let Some(path) = test_model() else { return };
    let _serial = serial();
    let long_answer = Prompt {
        instructions: "You are a helpful assistant.".into(),
        tools: Vec::new(),
        input: vec![ResponseItem::user(
            "Write a very long, detailed essay about the history of programming languages.",
        )],
    };

    // In the engine: the caller says stop, generation stops at once.
    let mut model = LocalModel::load(&path, options()).unwrap();
    let mut deltas = 0;
    let generation = model
        .generate(&long_answer, &mut |text| {
            if text.is_empty() {
                return ControlFlow::Continue(());
            }
            deltas += 1;
            if deltas == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(generation.stop, StopReason::Cancelled);
    assert!(
        generation.usage.output_tokens <= 4,
        "{:?}",
        generation.usage
    );
    drop(model);

    // Through the provider: dropping the stream frees the worker for the next request,
    // long before the essay (up to 2048 tokens) would have been finished.
    let provider = LocalProvider::start(
        &path,
        LocalOptions {
            max_output_tokens: 2048,
            ..options()
        },
    )
    .unwrap();
    let mut stream = provider.stream(&long_answer);
    match stream.next().await {
        Some(Ok(ModelEvent::TextDelta(_))) => {}
        Some(Ok(other)) => panic!("unexpected {other:?}"),
        Some(Err(err)) => panic!("{err}"),
        None => panic!("the stream ended before any text"),
    }
    drop(stream);
    let short = Prompt {
        instructions: "You are a helpful assistant.".into(),
        tools: Vec::new(),
        input: vec![ResponseItem::user("Say only: yes")],
    };
    let started = Instant::now();
    let (text, _, usage) =
        tokio::time::timeout(Duration::from_secs(120), collect(provider.stream(&short)))
            .await
            .expect("the worker is still busy with the dropped request");
    println!(
        "next request answered {text:?} ({usage:?}) after {:?}",
        started.elapsed()
    );
}

#[test]
fn a_missing_or_broken_model_file_is_a_clear_error() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.gguf");
    let err = LocalModel::load(&missing, LocalOptions::default()).unwrap_err();
    assert!(err.to_string().contains("no such file"), "{err}");

    let broken = dir.path().join("broken.gguf");
    std::fs::write(&broken, b"GGUF but not really").unwrap();
    let err = LocalProvider::start(&broken, LocalOptions::default()).unwrap_err();
    assert!(err.to_string().contains("broken.gguf"), "{err}");
}
