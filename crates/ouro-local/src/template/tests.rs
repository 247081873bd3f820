use super::*;
use serde_json::json;

/// The template of the Qwen2.5-Coder-Instruct GGUFs, as stored in `tokenizer.chat_template`.
pub(crate) const QWEN25: &str = include_str!("qwen2.5-coder.jinja");

fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "shell".into(),
            description: "Runs a command.".into(),
            parameters: json!({
                "type": "object",
                "properties": {"command": {"type": "array", "items": {"type": "string"}}},
                "required": ["command"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "read_file".into(),
            description: "Reads a file.".into(),
            parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        },
    ]
}

fn call(id: &str, name: &str, arguments: &str) -> ResponseItem {
    ResponseItem::FunctionCall {
        call_id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
    }
}

fn output(id: &str, text: &str) -> ResponseItem {
    ResponseItem::FunctionCallOutput {
        call_id: id.into(),
        output: text.into(),
        success: true,
    }
}

#[test]
fn renders_tools_in_the_system_turn_as_python_json() {
    let template = ChatTemplate::new(QWEN25).unwrap();
    let prompt = Prompt {
        instructions: "You are ouro.".into(),
        tools: tools(),
        input: vec![ResponseItem::user("List the files.")],
    };
    let text = template.render(&prompt, true).unwrap();
    let expected = concat!(
        "<|im_start|>system\nYou are ouro.\n\n# Tools\n\nYou may call one or more functions to ",
        "assist with the user query.\n\nYou are provided with function signatures within ",
        "<tools></tools> XML tags:\n<tools>\n",
        r#"{"type": "function", "function": {"name": "shell", "description": "Runs a command.", "#,
        r#""parameters": {"additionalProperties": false, "properties": {"command": {"items": "#,
        r#"{"type": "string"}, "type": "array"}}, "required": ["command"], "type": "object"}}}"#,
        "\n",
        r#"{"type": "function", "function": {"name": "read_file", "description": "Reads a file.", "#,
        r#""parameters": {"properties": {"path": {"type": "string"}}, "type": "object"}}}"#,
        "\n</tools>\n\nFor each function call, return a json object with function name and ",
        "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n",
        "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n",
        "<|im_start|>user\nList the files.<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(text, expected);
}

#[test]
fn calls_and_results_render_as_the_model_writes_them() {
    let template = ChatTemplate::new(QWEN25).unwrap();
    let prompt = Prompt {
        instructions: "Be brief.".into(),
        tools: Vec::new(),
        input: vec![
            ResponseItem::user("Hi"),
            ResponseItem::assistant("Looking."),
            // Compact arguments stay compact: the exact text the model produced.
            call("c1", "shell", r#"{"command":["ls"]}"#),
            call("c2", "read_file", r#"{"path": "a.txt"}"#),
            output("c1", "a.txt"),
            output("c2", "hello"),
            ResponseItem::assistant("Done."),
            ResponseItem::user("Thanks"),
        ],
    };
    let text = template.render(&prompt, false).unwrap();
    let expected = concat!(
        "<|im_start|>system\nBe brief.<|im_end|>\n",
        "<|im_start|>user\nHi<|im_end|>\n",
        "<|im_start|>assistant\nLooking.\n<tool_call>\n",
        r#"{"name": "shell", "arguments": {"command":["ls"]}}"#,
        "\n</tool_call>\n<tool_call>\n",
        r#"{"name": "read_file", "arguments": {"path": "a.txt"}}"#,
        "\n</tool_call><|im_end|>\n",
        "<|im_start|>user\n<tool_response>\na.txt\n</tool_response>\n",
        "<tool_response>\nhello\n</tool_response><|im_end|>\n",
        "<|im_start|>assistant\nDone.<|im_end|>\n",
        "<|im_start|>user\nThanks<|im_end|>\n"
    );
    assert_eq!(text, expected);
}

#[test]
fn a_call_without_text_and_arguments_that_are_not_json() {
    let template = ChatTemplate::new(QWEN25).unwrap();
    let prompt = Prompt {
        instructions: String::new(),
        tools: tools(),
        input: vec![
            ResponseItem::user("go"),
            call("c1", "shell", "not json"),
            output("c1", "error: bad arguments"),
        ],
    };
    let text = template.render(&prompt, true).unwrap();
    // No instructions: the template's default system message.
    assert!(
        text.starts_with("<|im_start|>system\nYou are Qwen"),
        "{text}"
    );
    assert!(
        text.contains(concat!(
            "<|im_start|>assistant\n<tool_call>\n",
            r#"{"name": "shell", "arguments": "not json"}"#,
            "\n</tool_call><|im_end|>\n"
        )),
        "{text}"
    );
    assert!(text.ends_with(
        "<tool_response>\nerror: bad arguments\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
    ));
}

/// A session as ouro's loop builds it: every request's input extends the last one.
fn session() -> Vec<ResponseItem> {
    vec![
        ResponseItem::user("Create hello.txt saying hi, then show it."),
        // request 1 ends here
        call(
            "c1",
            "shell",
            r#"{"command": ["bash", "-lc", "echo hi > hello.txt"]}"#,
        ),
        output("c1", "exit code 0"),
        // request 2
        ResponseItem::assistant("Now reading it."),
        call("c2", "read_file", r#"{"path": "hello.txt"}"#),
        call("c3", "shell", r#"{"command": ["cat", "hello.txt"]}"#),
        output("c2", "hi"),
        output("c3", "hi\n"),
        // request 3
        ResponseItem::assistant("hello.txt says hi."),
        ResponseItem::Reasoning {
            text: "not sent".into(),
        },
        ResponseItem::user("Now delete it. Ünïcödé \"quotes\" and \\ backslashes."),
        // request 4
        call("c4", "shell", r#"{"command":["rm","hello.txt"]}"#),
        output("c4", ""),
        // request 5
    ]
}

const REQUEST_POINTS: [usize; 5] = [1, 3, 8, 11, 13];

#[test]
fn rendering_is_prefix_stable_across_a_session() {
    let template = ChatTemplate::new(QWEN25).unwrap();
    let items = session();
    let renders: Vec<String> = REQUEST_POINTS
        .iter()
        .map(|&n| {
            let prompt = Prompt {
                instructions: "You are ouro.".into(),
                tools: tools(),
                input: items[..n].to_vec(),
            };
            template.render(&prompt, true).unwrap()
        })
        .collect();
    for (i, earlier) in renders.iter().enumerate() {
        for later in &renders[i + 1..] {
            assert!(
                later.starts_with(earlier.as_str()),
                "request {} is not a prefix of a later one:\n{earlier}\n---\n{later}",
                i + 1
            );
        }
    }
}

#[test]
fn the_models_own_reply_extends_the_prompt_exactly() {
    // What the model generates after the generation prompt, followed by its end token, is
    // exactly what the next rendering puts there.
    let template = ChatTemplate::new(QWEN25).unwrap();
    let mut prompt = Prompt {
        instructions: "x".into(),
        tools: tools(),
        input: vec![ResponseItem::user("go")],
    };
    let before = template.render(&prompt, true).unwrap();
    let generated =
        "<tool_call>\n{\"name\": \"shell\", \"arguments\": {\"command\": [\"ls\"]}}\n</tool_call>";
    prompt
        .input
        .push(call("c1", "shell", r#"{"command": ["ls"]}"#));
    prompt.input.push(output("c1", "a"));
    let after = template.render(&prompt, true).unwrap();
    assert!(
        after.starts_with(&format!("{before}{generated}<|im_end|>")),
        "{after}"
    );
}

#[test]
fn python_string_methods_and_raise_exception() {
    let source = "{% for m in messages %}{{ m.content.strip().upper() }}|{% endfor %}\
                  {% if messages|length > 2 %}{{ raise_exception('too many') }}{% endif %}";
    let template = ChatTemplate::new(source).unwrap();
    let mut prompt = Prompt {
        instructions: String::new(),
        tools: Vec::new(),
        input: vec![ResponseItem::user("  hi  ")],
    };
    assert_eq!(template.render(&prompt, true).unwrap(), "HI|");
    prompt.input.push(ResponseItem::user("a"));
    prompt.input.push(ResponseItem::user("b"));
    let err = template.render(&prompt, true).unwrap_err();
    assert!(err.to_string().contains("too many"), "{err}");
}

#[test]
fn tojson_matches_python_json_dumps() {
    let template = ChatTemplate::new(
        "{{ tools[0].function.parameters | tojson }}\n{{ tools[0].function.parameters | tojson(indent=2) }}",
    )
    .unwrap();
    let prompt = Prompt {
        instructions: String::new(),
        tools: vec![ToolSpec {
            name: "t".into(),
            description: String::new(),
            parameters: json!({"b": [1, 2.5, true, null], "a": "é\n\"<>&", "c": {}, "d": []}),
        }],
        input: Vec::new(),
    };
    let text = template.render(&prompt, false).unwrap();
    assert_eq!(
        text,
        concat!(
            r#"{"a": "é\n\"<>&", "b": [1, 2.5, true, null], "c": {}, "d": []}"#,
            "\n{\n  \"a\": \"é\\n\\\"<>&\",\n  \"b\": [\n    1,\n    2.5,\n    true,\n    null\n  ],\n",
            "  \"c\": {},\n  \"d\": []\n}"
        )
    );
}

#[test]
fn broken_templates_are_errors_not_panics() {
    let err = ChatTemplate::new("{% for %}").unwrap_err();
    assert!(err.to_string().starts_with("chat template:"), "{err}");
    let template = ChatTemplate::new("{{ messages[0].content + 1 }}").unwrap();
    let prompt = Prompt {
        instructions: String::new(),
        tools: Vec::new(),
        input: vec![ResponseItem::user("x")],
    };
    assert!(template.render(&prompt, true).is_err());
}
