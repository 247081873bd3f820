//! OpenAI Responses: `POST /responses`, typed SSE events named after their `type`.
//!
//! Requests are stateless (`store: false`): the whole history goes every time, which keeps
//! ouro's history the single source of truth and lets the provider's prefix cache do the rest.

use ouro_protocol::{ModelEvent, Prompt, ResponseItem, Role, TokenUsage, ToolSpec};
use serde_json::{json, Value};

use super::{
    arguments_or_empty_object, count, event_type, parse_json, DecodeError, Decoder, Progress,
};
use crate::sse::SseEvent;

pub(super) fn request_body(model: &str, prompt: &Prompt) -> Value {
    json!({
        "model": model,
        "instructions": prompt.instructions,
        "input": prompt.input.iter().filter_map(input_item).collect::<Vec<_>>(),
        "tools": prompt.tools.iter().map(tool).collect::<Vec<_>>(),
        "tool_choice": "auto",
        "parallel_tool_calls": true,
        "stream": true,
        "store": false,
    })
}

fn tool(spec: &ToolSpec) -> Value {
    json!({
        "type": "function",
        "name": spec.name,
        "description": spec.description,
        "parameters": spec.parameters,
        "strict": false,
    })
}

/// One history item as Responses input; reasoning is not sent back.
fn input_item(item: &ResponseItem) -> Option<Value> {
    Some(match item {
        ResponseItem::Message {
            role: Role::User,
            text,
        } => json!({"type": "message", "role": "user",
            "content": [{"type": "input_text", "text": text}]}),
        ResponseItem::Message {
            role: Role::Assistant,
            text,
        } => json!({"type": "message", "role": "assistant",
            "content": [{"type": "output_text", "text": text}]}),
        ResponseItem::FunctionCall {
            call_id,
            name,
            arguments,
        } => json!({"type": "function_call", "call_id": call_id, "name": name,
            "arguments": arguments}),
        ResponseItem::FunctionCallOutput {
            call_id, output, ..
        } => json!({"type": "function_call_output", "call_id": call_id, "output": output}),
        ResponseItem::Reasoning { .. } => return None,
    })
}

/// Stateless: every Responses event stands on its own.
pub(super) struct ResponsesDecoder;

impl Decoder for ResponsesDecoder {
    fn event(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<ModelEvent>,
    ) -> Result<Progress, DecodeError> {
        let json = parse_json(event)?;
        match event_type(&json, event) {
            "response.output_text.delta" => {
                if let Some(delta) = json["delta"].as_str() {
                    out.push(ModelEvent::TextDelta(delta.to_string()));
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                if let Some(delta) = json["delta"].as_str() {
                    out.push(ModelEvent::ReasoningDelta(delta.to_string()));
                }
            }
            "response.output_item.done" => {
                if let Some(item) = output_item(&json["item"]) {
                    out.push(ModelEvent::ItemDone(item));
                }
            }
            "response.completed" => {
                let usage = &json["response"]["usage"];
                out.push(ModelEvent::Completed {
                    usage: TokenUsage {
                        input_tokens: count(&usage["input_tokens"]),
                        cached_input_tokens: count(&usage["input_tokens_details"]["cached_tokens"]),
                        output_tokens: count(&usage["output_tokens"]),
                    },
                });
                return Ok(Progress::Completed);
            }
            "response.failed" => return Err(provider_error(&json["response"]["error"])),
            "response.incomplete" => {
                let reason = json["response"]["incomplete_details"]["reason"]
                    .as_str()
                    .unwrap_or("unknown");
                return Err(DecodeError::Provider {
                    message: format!("the response is incomplete ({reason})"),
                    retryable: false,
                });
            }
            // Older servers nest the error; current ones put its fields at the top.
            "error" if json["error"].is_object() => return Err(provider_error(&json["error"])),
            "error" => return Err(provider_error(&json)),
            _ => {}
        }
        Ok(Progress::Continue)
    }
}

fn provider_error(error: &Value) -> DecodeError {
    let code = error["code"].as_str().unwrap_or_default();
    let message = error["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("the response failed ({})", error));
    DecodeError::Provider {
        message,
        retryable: matches!(code, "server_error" | "rate_limit_exceeded"),
    }
}

/// A finished output item, if it is one ouro keeps (messages and reasoning with text,
/// function calls).
fn output_item(item: &Value) -> Option<ResponseItem> {
    let texts = |parts: &Value, kind: &str| -> Vec<String> {
        parts
            .as_array()
            .into_iter()
            .flatten()
            .filter(|part| part["type"] == kind)
            .filter_map(|part| part["text"].as_str().map(str::to_string))
            .collect()
    };
    match item["type"].as_str()? {
        "message" => {
            let text = texts(&item["content"], "output_text").concat();
            (!text.is_empty()).then(|| ResponseItem::assistant(text))
        }
        "function_call" => Some(ResponseItem::FunctionCall {
            call_id: item["call_id"].as_str()?.to_string(),
            name: item["name"].as_str()?.to_string(),
            arguments: arguments_or_empty_object(
                item["arguments"].as_str().unwrap_or_default().to_string(),
            ),
        }),
        "reasoning" => {
            let mut parts = texts(&item["summary"], "summary_text");
            if parts.is_empty() {
                parts = texts(&item["content"], "reasoning_text");
            }
            let text = parts.join("\n\n");
            (!text.is_empty()).then_some(ResponseItem::Reasoning { text })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{call, decode, history, output, tools};
    use super::*;
    use ouro_test_support::{sse, Reply, Wire};

    fn body(input: Vec<ResponseItem>) -> Value {
        request_body(
            "gpt-test",
            &Prompt {
                instructions: "be brief".into(),
                tools: tools(),
                input,
            },
        )
    }

    #[test]
    fn request_body_shape() {
        let body = body(vec![
            ResponseItem::user("hi"),
            ResponseItem::Reasoning { text: "hmm".into() },
            ResponseItem::assistant("looking"),
            call("c1", r#"{"command":["ls"]}"#),
            output("c1", "a.txt", false),
        ]);
        assert_eq!(
            body,
            json!({
                "model": "gpt-test",
                "instructions": "be brief",
                "input": [
                    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "looking"}]},
                    {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"},
                    {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
                ],
                "tools": [{"type": "function", "name": "shell", "description": "Run a command",
                    "parameters": {"type": "object", "properties": {"command": {"type": "array"}}},
                    "strict": false}],
                "tool_choice": "auto",
                "parallel_tool_calls": true,
                "stream": true,
                "store": false,
            })
        );
    }

    #[test]
    fn every_history_prefix_serializes_to_a_prefix() {
        let items = history();
        let full = body(items.clone());
        for n in 0..=items.len() {
            let short = body(items[..n].to_vec());
            super::super::test_support::assert_prefix(&short, &full, "input");
            assert_eq!(short, body(items[..n].to_vec()));
        }
    }

    #[test]
    fn decodes_a_mock_stream() {
        let reply = Reply::text("Hello, world.")
            .with_call("call_1", "shell", json!({"command": ["ls"]}))
            .with_usage(1200, 1000, 30);
        let events = decode(Box::new(ResponsesDecoder), &sse(Wire::Responses, &reply));
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                ModelEvent::TextDelta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "Hello, world.");
        let tail: Vec<&ModelEvent> = events
            .iter()
            .filter(|e| !matches!(e, ModelEvent::TextDelta(_)))
            .collect();
        assert_eq!(
            tail,
            [
                &ModelEvent::ItemDone(ResponseItem::assistant("Hello, world.")),
                &ModelEvent::ItemDone(call("call_1", r#"{"command":["ls"]}"#)),
                &ModelEvent::Completed {
                    usage: TokenUsage {
                        input_tokens: 1200,
                        cached_input_tokens: 1000,
                        output_tokens: 30
                    }
                },
            ]
        );
    }

    /// Shaped after a recorded reasoning-model stream (trimmed to the events that matter).
    #[test]
    fn decodes_reasoning_and_multi_part_messages() {
        let stream = r#"event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","status":"in_progress","output":[]}}

event: response.output_item.added
data: {"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}

event: response.reasoning_summary_part.added
data: {"type":"response.reasoning_summary_part.added","sequence_number":2,"item_id":"rs_1","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":""}}

event: response.reasoning_summary_text.delta
data: {"type":"response.reasoning_summary_text.delta","sequence_number":3,"item_id":"rs_1","output_index":0,"summary_index":0,"delta":"**Plan**"}

event: response.reasoning_summary_text.delta
data: {"type":"response.reasoning_summary_text.delta","sequence_number":4,"item_id":"rs_1","output_index":0,"summary_index":1,"delta":"Check files."}

event: response.output_item.done
data: {"type":"response.output_item.done","sequence_number":5,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"**Plan**"},{"type":"summary_text","text":"Check files."}]}}

event: response.output_item.done
data: {"type":"response.output_item.done","sequence_number":6,"output_index":1,"item":{"id":"rs_2","type":"reasoning","summary":[],"encrypted_content":"gAAA"}}

event: response.output_item.done
data: {"type":"response.output_item.done","sequence_number":7,"output_index":2,"item":{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","annotations":[],"text":"Part one. "},{"type":"refusal","refusal":"no"},{"type":"output_text","annotations":[],"text":"Part two."}]}}

event: response.output_item.done
data: {"type":"response.output_item.done","sequence_number":8,"output_index":3,"item":{"id":"ws_1","type":"web_search_call","status":"completed"}}

event: response.completed
data: {"type":"response.completed","sequence_number":9,"response":{"id":"resp_1","status":"completed","usage":{"input_tokens":50,"output_tokens":9}}}

"#;
        assert_eq!(
            decode(Box::new(ResponsesDecoder), stream),
            [
                ModelEvent::ReasoningDelta("**Plan**".into()),
                ModelEvent::ReasoningDelta("Check files.".into()),
                ModelEvent::ItemDone(ResponseItem::Reasoning {
                    text: "**Plan**\n\nCheck files.".into()
                }),
                ModelEvent::ItemDone(ResponseItem::assistant("Part one. Part two.")),
                ModelEvent::Completed {
                    usage: TokenUsage {
                        input_tokens: 50,
                        cached_input_tokens: 0,
                        output_tokens: 9
                    }
                },
            ]
        );
    }

    #[test]
    fn failures_carry_the_providers_message() {
        let mut decoder = ResponsesDecoder;
        let mut out = Vec::new();
        let event = |data: &str| SseEvent {
            event: None,
            data: data.into(),
        };
        let failed = r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"The server had an error"}}}"#;
        assert_eq!(
            decoder.event(&event(failed), &mut out),
            Err(DecodeError::Provider {
                message: "The server had an error".into(),
                retryable: true
            })
        );
        let error =
            r#"{"type":"error","code":"invalid_prompt","message":"Bad prompt","param":null}"#;
        assert_eq!(
            decoder.event(&event(error), &mut out),
            Err(DecodeError::Provider {
                message: "Bad prompt".into(),
                retryable: false
            })
        );
        let nested = r#"{"type":"error","error":{"type":"tokens","code":"rate_limit_exceeded","message":"Slow down"}}"#;
        assert_eq!(
            decoder.event(&event(nested), &mut out),
            Err(DecodeError::Provider {
                message: "Slow down".into(),
                retryable: true
            })
        );
        let incomplete = r#"{"type":"response.incomplete","response":{"incomplete_details":{"reason":"max_output_tokens"}}}"#;
        assert!(matches!(
            decoder.event(&event(incomplete), &mut out),
            Err(DecodeError::Provider { message, retryable: false }) if message.contains("max_output_tokens")
        ));
        assert!(matches!(
            decoder.event(&event("{not json"), &mut out),
            Err(DecodeError::Invalid(_))
        ));
        assert!(out.is_empty());
    }
}
