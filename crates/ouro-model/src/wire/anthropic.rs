//! Anthropic Messages: `POST /messages`, content blocks streamed as start/delta/stop events.
//!
//! Messages must alternate between user and assistant, so consecutive items of one side
//! share a message: an assistant's text and its tool uses, the tool results and any user
//! text that follows them. Blocks are only ever appended to the last message, so a longer
//! history still renders to an extension of a shorter one at the block level, which is what
//! Anthropic's prompt cache matches on.

use std::collections::BTreeMap;

use ouro_protocol::{ModelEvent, Prompt, ResponseItem, Role, TokenUsage, ToolSpec};
use serde_json::{json, Value};

use super::{
    arguments_or_empty_object, count, event_type, parse_json, DecodeError, Decoder, Progress,
};
use crate::sse::SseEvent;

/// Output budget per response; the API requires one.
const MAX_TOKENS: u32 = 8192;

pub(super) fn request_body(model: &str, prompt: &Prompt) -> Value {
    let mut body = json!({
        "model": model,
        "max_tokens": MAX_TOKENS,
        "messages": history_messages(&prompt.input),
        "stream": true,
    });
    if !prompt.instructions.is_empty() {
        body["system"] = json!(prompt.instructions);
    }
    if !prompt.tools.is_empty() {
        body["tools"] = prompt.tools.iter().map(tool).collect();
    }
    body
}

fn tool(spec: &ToolSpec) -> Value {
    json!({
        "name": spec.name,
        "description": spec.description,
        "input_schema": spec.parameters,
    })
}

fn history_messages(items: &[ResponseItem]) -> Vec<Value> {
    let mut messages: Vec<(&str, Vec<Value>)> = Vec::new();
    for item in items {
        let (role, block) = match item {
            // The API rejects empty text blocks.
            ResponseItem::Message { text, .. } if text.is_empty() => continue,
            ResponseItem::Message {
                role: Role::User,
                text,
            } => ("user", json!({"type": "text", "text": text})),
            ResponseItem::Message {
                role: Role::Assistant,
                text,
            } => ("assistant", json!({"type": "text", "text": text})),
            ResponseItem::FunctionCall {
                call_id,
                name,
                arguments,
            } => {
                // `input` must be an object; keep what the model meant when it is one.
                let input = serde_json::from_str::<Value>(arguments)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({}));
                (
                    "assistant",
                    json!({"type": "tool_use", "id": call_id, "name": name, "input": input}),
                )
            }
            ResponseItem::FunctionCallOutput {
                call_id,
                output,
                success,
            } => {
                let mut block =
                    json!({"type": "tool_result", "tool_use_id": call_id, "content": output});
                if !success {
                    block["is_error"] = json!(true);
                }
                ("user", block)
            }
            ResponseItem::Reasoning { .. } => continue,
        };
        match messages.last_mut() {
            Some((last_role, blocks)) if *last_role == role => blocks.push(block),
            _ => messages.push((role, vec![block])),
        }
    }
    messages
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect()
}

/// Content blocks in progress, by index; each becomes an item when it stops.
#[derive(Default)]
pub(super) struct AnthropicDecoder {
    blocks: BTreeMap<u64, Block>,
    usage: TokenUsage,
}

enum Block {
    Text(String),
    Thinking(String),
    ToolUse {
        id: String,
        name: String,
        json: String,
    },
    /// A block kind ouro does not keep (e.g. redacted thinking).
    Other,
}

impl Decoder for AnthropicDecoder {
    fn event(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<ModelEvent>,
    ) -> Result<Progress, DecodeError> {
        let json = parse_json(event)?;
        match event_type(&json, event) {
            "message_start" => {
                let usage = &json["message"]["usage"];
                let cache_read = count(&usage["cache_read_input_tokens"]);
                self.usage = TokenUsage {
                    input_tokens: count(&usage["input_tokens"])
                        + cache_read
                        + count(&usage["cache_creation_input_tokens"]),
                    cached_input_tokens: cache_read,
                    output_tokens: count(&usage["output_tokens"]),
                };
            }
            "content_block_start" => {
                let block = &json["content_block"];
                let text = |key: &str| block[key].as_str().unwrap_or_default().to_string();
                let block = match block["type"].as_str() {
                    Some("text") => {
                        let text = text("text");
                        if !text.is_empty() {
                            out.push(ModelEvent::TextDelta(text.clone()));
                        }
                        Block::Text(text)
                    }
                    Some("thinking") => {
                        let thinking = text("thinking");
                        if !thinking.is_empty() {
                            out.push(ModelEvent::ReasoningDelta(thinking.clone()));
                        }
                        Block::Thinking(thinking)
                    }
                    Some("tool_use") => Block::ToolUse {
                        id: text("id"),
                        name: text("name"),
                        json: String::new(),
                    },
                    _ => Block::Other,
                };
                self.blocks.insert(block_index(&json)?, block);
            }
            "content_block_delta" => {
                let index = block_index(&json)?;
                let block = self.blocks.get_mut(&index).ok_or_else(|| {
                    DecodeError::Invalid(format!("delta for content block {index}, never started"))
                })?;
                let delta = &json["delta"];
                match (block, delta["type"].as_str()) {
                    (Block::Text(text), Some("text_delta")) => {
                        let piece = delta["text"].as_str().unwrap_or_default();
                        text.push_str(piece);
                        out.push(ModelEvent::TextDelta(piece.to_string()));
                    }
                    (Block::Thinking(thinking), Some("thinking_delta")) => {
                        let piece = delta["thinking"].as_str().unwrap_or_default();
                        thinking.push_str(piece);
                        out.push(ModelEvent::ReasoningDelta(piece.to_string()));
                    }
                    (Block::ToolUse { json, .. }, Some("input_json_delta")) => {
                        json.push_str(delta["partial_json"].as_str().unwrap_or_default());
                    }
                    // Signatures and deltas of kinds ouro does not keep.
                    _ => {}
                }
            }
            "content_block_stop" => {
                let item = match self.blocks.remove(&block_index(&json)?) {
                    Some(Block::Text(text)) if !text.is_empty() => ResponseItem::assistant(text),
                    Some(Block::Thinking(text)) if !text.is_empty() => {
                        ResponseItem::Reasoning { text }
                    }
                    Some(Block::ToolUse { id, name, json }) => ResponseItem::FunctionCall {
                        call_id: id,
                        name,
                        arguments: arguments_or_empty_object(json),
                    },
                    _ => return Ok(Progress::Continue),
                };
                out.push(ModelEvent::ItemDone(item));
            }
            "message_delta" => {
                if let Some(output) = json["usage"]["output_tokens"].as_u64() {
                    self.usage.output_tokens = output;
                }
            }
            "message_stop" => {
                out.push(ModelEvent::Completed { usage: self.usage });
                return Ok(Progress::Completed);
            }
            "error" => {
                let error = &json["error"];
                let kind = error["type"].as_str().unwrap_or_default();
                let message = error["message"].as_str().unwrap_or(kind);
                return Err(DecodeError::Provider {
                    message: format!("{message} ({kind})"),
                    retryable: matches!(kind, "overloaded_error" | "api_error"),
                });
            }
            // `ping`, and event kinds added after this was written.
            _ => {}
        }
        Ok(Progress::Continue)
    }
}

fn block_index(json: &Value) -> Result<u64, DecodeError> {
    json["index"]
        .as_u64()
        .ok_or_else(|| DecodeError::Invalid(format!("content block event without index: {json}")))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{
        assert_prefix, call, decode, history, output, request_points, tools,
    };
    use super::*;
    use ouro_test_support::{sse, Reply, Wire};

    fn body(input: Vec<ResponseItem>) -> Value {
        request_body(
            "claude-test",
            &Prompt {
                instructions: "be brief".into(),
                tools: tools(),
                input,
            },
        )
    }

    #[test]
    fn request_body_alternates_roles() {
        let shell = |id: &str, input: Value| json!({"type": "tool_use", "id": id, "name": "shell", "input": input});
        assert_eq!(
            body(history()),
            json!({
                "model": "claude-test",
                "max_tokens": 8192,
                "system": "be brief",
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "fix the build"}]},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "Let me look."},
                        shell("c1", json!({"command": ["ls"]})),
                        shell("c2", json!({"command": ["cat", "Cargo.toml"]})),
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "c1", "content": "Cargo.toml\nsrc"},
                        {"type": "tool_result", "tool_use_id": "c2", "content": "cat: denied", "is_error": true},
                    ]},
                    {"role": "assistant", "content": [shell("c3", json!({}))]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c3", "content": ""}]},
                    {"role": "assistant", "content": [{"type": "text", "text": "Fixed."}]},
                    {"role": "user", "content": [
                        {"type": "text", "text": "thanks; also run the tests"},
                        {"type": "text", "text": "[harness] sandbox is read-only"},
                    ]},
                    {"role": "assistant", "content": [shell("c4", json!({"command": ["cargo", "test"]}))]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c4", "content": "ok"}]},
                    {"role": "assistant", "content": [{"type": "text", "text": "All green."}]},
                ],
                "tools": [{"name": "shell", "description": "Run a command",
                    "input_schema": {"type": "object", "properties": {"command": {"type": "array"}}}}],
                "stream": true,
            })
        );
    }

    #[test]
    fn user_text_after_tool_results_joins_their_message() {
        let messages = history_messages(&[
            ResponseItem::user("go"),
            call("a", "{}"),
            output("a", "done", true),
            ResponseItem::user("[harness] note"),
        ]);
        assert_eq!(messages.len(), 3);
        assert_eq!(
            messages[2]["content"],
            json!([
                {"type": "tool_result", "tool_use_id": "a", "content": "done"},
                {"type": "text", "text": "[harness] note"},
            ])
        );
    }

    #[test]
    fn requests_extend_earlier_requests() {
        let items = history();
        let points = request_points(&items);
        assert!(points.len() >= 4, "{points:?}");
        for (i, &n) in points.iter().enumerate() {
            let short = body(items[..n].to_vec());
            assert_eq!(short, body(items[..n].to_vec()));
            for &m in &points[i..] {
                assert_prefix(&short, &body(items[..m].to_vec()), "messages");
            }
        }
    }

    /// Even where a later item joins the last message, the earlier blocks stay as they were.
    #[test]
    fn every_history_prefix_renders_to_a_block_prefix() {
        let items = history();
        let full = body(items.clone());
        let full = full["messages"].as_array().unwrap();
        for n in 1..=items.len() {
            let short = body(items[..n].to_vec());
            let short = short["messages"].as_array().unwrap();
            let last = short.len() - 1;
            assert_eq!(short[..last], full[..last], "n = {n}");
            assert_eq!(short[last]["role"], full[last]["role"]);
            let blocks = short[last]["content"].as_array().unwrap();
            let full_blocks = full[last]["content"].as_array().unwrap();
            assert_eq!(blocks[..], full_blocks[..blocks.len()], "n = {n}");
        }
    }

    #[test]
    fn decodes_a_mock_stream() {
        let reply = Reply::text("Checking.")
            .with_call("toolu_1", "shell", json!({"command": ["ls"]}))
            .with_usage(2000, 1500, 25);
        let events = decode(
            Box::<AnthropicDecoder>::default(),
            &sse(Wire::Anthropic, &reply),
        );
        let deltas: String = events
            .iter()
            .filter_map(|e| match e {
                ModelEvent::TextDelta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(deltas, "Checking.");
        let items: Vec<&ModelEvent> = events
            .iter()
            .filter(|e| !matches!(e, ModelEvent::TextDelta(_)))
            .collect();
        assert_eq!(
            items,
            [
                &ModelEvent::ItemDone(ResponseItem::assistant("Checking.")),
                &ModelEvent::ItemDone(call("toolu_1", r#"{"command":["ls"]}"#)),
                &ModelEvent::Completed {
                    usage: TokenUsage {
                        input_tokens: 2000,
                        cached_input_tokens: 1500,
                        output_tokens: 25
                    }
                },
            ]
        );
    }

    /// Shaped after a recorded extended-thinking stream with a cache write and an argument-less
    /// tool call.
    #[test]
    fn decodes_thinking_cache_creation_and_empty_tool_input() {
        let stream = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-test","stop_reason":null,"usage":{"input_tokens":3,"cache_creation_input_tokens":400,"cache_read_input_tokens":100,"output_tokens":2}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The user wants"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":" a listing."}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_9","name":"list_dir","input":{}}}

event: ping
data: {"type": "ping"}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":61}}

event: message_stop
data: {"type":"message_stop"}

"#;
        assert_eq!(
            decode(Box::<AnthropicDecoder>::default(), stream),
            [
                ModelEvent::ReasoningDelta("The user wants".into()),
                ModelEvent::ReasoningDelta(" a listing.".into()),
                ModelEvent::ItemDone(ResponseItem::Reasoning {
                    text: "The user wants a listing.".into()
                }),
                ModelEvent::ItemDone(ResponseItem::FunctionCall {
                    call_id: "toolu_9".into(),
                    name: "list_dir".into(),
                    arguments: "{}".into()
                }),
                ModelEvent::Completed {
                    usage: TokenUsage {
                        input_tokens: 503,
                        cached_input_tokens: 100,
                        output_tokens: 61
                    }
                },
            ]
        );
    }

    #[test]
    fn error_events() {
        let mut decoder = AnthropicDecoder::default();
        let error = |data: &str| SseEvent {
            event: Some("error".into()),
            data: data.into(),
        };
        assert_eq!(
            decoder.event(
                &error(
                    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
                ),
                &mut Vec::new()
            ),
            Err(DecodeError::Provider {
                message: "Overloaded (overloaded_error)".into(),
                retryable: true
            })
        );
        assert!(matches!(
            decoder.event(
                &error(
                    r#"{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}"#
                ),
                &mut Vec::new()
            ),
            Err(DecodeError::Provider {
                retryable: false,
                ..
            })
        ));
        let orphan = SseEvent {
            event: None,
            data: r#"{"type":"content_block_delta","index":4,"delta":{"type":"text_delta","text":"x"}}"#.into(),
        };
        assert!(matches!(
            decoder.event(&orphan, &mut Vec::new()),
            Err(DecodeError::Invalid(_))
        ));
    }
}
