use super::*;
use proptest::prelude::*;

const TOOLS: [&str; 2] = ["shell", "read_file"];

fn call(name: &str, arguments: &str) -> ParsedCall {
    ParsedCall {
        name: name.into(),
        arguments: arguments.into(),
    }
}

#[test]
fn plain_text_is_the_answer() {
    let reply = parse_reply("The tests pass.\n", &TOOLS);
    assert_eq!(reply.text, "The tests pass.\n");
    assert!(reply.calls.is_empty());
    assert_eq!(reply.format, CallFormat::None);
}

#[test]
fn tagged_calls_keep_their_arguments_verbatim() {
    let reply = parse_reply(
        "Let me look.\n<tool_call>\n{\"name\": \"shell\", \"arguments\": {\"command\":  [\"ls\"]}}\n</tool_call>\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"} }\n</tool_call>",
        &TOOLS,
    );
    assert_eq!(reply.text, "Let me look.");
    assert_eq!(
        reply.calls,
        vec![
            call("shell", r#"{"command":  ["ls"]}"#),
            call("read_file", r#"{"path": "a"}"#)
        ]
    );
    assert_eq!(reply.format, CallFormat::Tagged);
}

#[test]
fn odd_but_readable_calls() {
    // Arguments as a string holding JSON, missing arguments, an unknown tool (the harness
    // answers that one), no closing tag (cut off after the JSON).
    let reply = parse_reply(
        concat!(
            "<tool_call>{\"name\": \"shell\", \"arguments\": \"{\\\"command\\\": [\\\"ls\\\"]}\"}</tool_call>",
            "<tool_call>{\"name\": \"read_file\"}</tool_call>",
            "<tool_call>{\"name\": \"rm\", \"arguments\": {}}</tool_call>",
            "<tool_call>\n{\"name\": \"shell\", \"arguments\": {\"command\": [\"pwd\"]}}\n"
        ),
        &TOOLS,
    );
    assert_eq!(
        reply.calls,
        vec![
            call("shell", r#"{"command": ["ls"]}"#),
            call("read_file", "{}"),
            call("rm", "{}"),
            call("shell", r#"{"command": ["pwd"]}"#),
        ]
    );
    assert_eq!(reply.text, "");
}

#[test]
fn malformed_and_partial_blocks_stay_in_the_text() {
    let cut_off = "<tool_call>\n{\"name\": \"shell\", \"arguments\": {\"command\": [\"ec";
    let reply = parse_reply(&format!("Trying.\n{cut_off}"), &TOOLS);
    assert!(reply.calls.is_empty());
    assert_eq!(reply.format, CallFormat::None);
    assert_eq!(reply.text, format!("Trying.\n{cut_off}"));

    let reply = parse_reply(
        "<tool_call>not json</tool_call>\n<tool_call>{\"name\": \"shell\", \"arguments\": {}}</tool_call>\nextra",
        &TOOLS,
    );
    assert_eq!(reply.calls, vec![call("shell", "{}")]);
    assert_eq!(reply.text, "<tool_call>not json</tool_call>\n\nextra");

    let reply = parse_reply("<tool_call>{\"name\": \"\"}</tool_call>", &TOOLS);
    assert!(reply.calls.is_empty());
}

#[test]
fn bare_and_fenced_json_calls() {
    let fenced = "```json\n{\"name\": \"shell\", \"arguments\": {\"command\": [\"ls\"]}}\n```";
    let reply = parse_reply(fenced, &TOOLS);
    assert_eq!(reply.calls, vec![call("shell", r#"{"command": ["ls"]}"#)]);
    assert_eq!(reply.format, CallFormat::BareJson);
    assert_eq!(reply.text, "");

    let list = r#"[{"name": "read_file", "arguments": {"path": "a"}}, {"name": "shell", "arguments": {"command": []}}]"#;
    assert_eq!(parse_reply(list, &TOOLS).calls.len(), 2);
    let several = "{\"name\": \"read_file\", \"arguments\": {}}\n{\"name\":\"shell\",\"arguments\":{\"command\":[\"ls\"]}}";
    assert_eq!(
        parse_reply(several, &TOOLS).calls,
        vec![
            call("read_file", "{}"),
            call("shell", r#"{"command":["ls"]}"#)
        ]
    );
    let wrapped = "<tools>\n{\"name\": \"read_file\", \"arguments\": {}}\n</tools>";
    assert_eq!(
        parse_reply(wrapped, &TOOLS).calls,
        vec![call("read_file", "{}")]
    );
    let fenced_compact = "```{\"name\": \"read_file\", \"arguments\": {}}```";
    assert_eq!(parse_reply(fenced_compact, &TOOLS).calls.len(), 1);

    // Not calls: unknown names, JSON that is part of an answer, other JSON.
    for text in [
        r#"{"name": "rm", "arguments": {}}"#,
        "Run this:\n```json\n{\"name\": \"shell\", \"arguments\": {}}\n```",
        r#"{"a": 1}"#,
        "```\nfn main() {}\n```",
        r#"[{"name": "shell", "arguments": {}}, {"name": "rm", "arguments": {}}]"#,
        "{\"name\": \"shell\", \"arguments\": {}} and more",
    ] {
        let reply = parse_reply(text, &TOOLS);
        assert!(reply.calls.is_empty(), "{text}");
        assert_eq!(reply.text, text);
    }
}

#[test]
fn streaming_never_shows_a_partial_tag() {
    let mut parser = ReplyParser::new();
    let mut shown = String::new();
    for piece in [
        "Hi",
        " there",
        "\n",
        "<",
        "tool",
        "_call",
        ">\n{\"name\": \"shell\", ",
        "\"arguments\": {}}\n</tool_call>",
    ] {
        shown.push_str(&parser.push(piece));
        assert!(!shown.contains('<'), "{shown:?}");
    }
    assert_eq!(shown, "Hi there");
    let reply = parser.finish(&TOOLS);
    assert_eq!(reply.text, "Hi there");
    assert_eq!(reply.calls, vec![call("shell", "{}")]);
}

#[test]
fn streaming_releases_a_lookalike_tag() {
    let mut parser = ReplyParser::new();
    let mut shown = parser.push("a <tool");
    assert_eq!(shown, "a");
    shown.push_str(&parser.push("box> b"));
    assert_eq!(shown, "a <toolbox> b");
    assert_eq!(parser.held_back(), "");
    shown.push_str(&parser.push("\n\n"));
    assert_eq!(parser.held_back(), "\n\n");
    let reply = parser.finish(&TOOLS);
    assert_eq!(reply.text, "a <toolbox> b\n\n");
}

proptest! {
    /// However a reply is cut into pieces, the shown text is a prefix of the final text and
    /// the split is the same as in one go.
    #[test]
    fn pieces_do_not_matter(
        text in "[a-z <>_\n]{0,30}",
        with_call in any::<bool>(),
        cuts in proptest::collection::vec(0usize..80, 0..6),
    ) {
        let whole = if with_call {
            format!("{text}<tool_call>\n{{\"name\": \"shell\", \"arguments\": {{}}}}\n</tool_call>")
        } else {
            text.clone()
        };
        let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= whole.len()).collect();
        cuts.sort_unstable();
        let mut parser = ReplyParser::new();
        let mut shown = String::new();
        let mut last = 0;
        for cut in cuts.into_iter().chain([whole.len()]) {
            shown.push_str(&parser.push(&whole[last..cut]));
            last = cut;
        }
        let tail = parser.held_back().to_string();
        let reply = parser.finish(&TOOLS);
        let expected = parse_reply(&whole, &TOOLS);
        prop_assert_eq!(&reply, &expected);
        if reply.calls.is_empty() {
            prop_assert_eq!(format!("{shown}{tail}"), reply.text);
        } else {
            prop_assert!(reply.text.starts_with(&shown) || shown.starts_with(&reply.text));
        }
    }
}
