//! Chat Completions: `POST /chat/completions`, `data:` chunks of deltas, ended by `[DONE]`.
//!
//! The format most local servers (Ollama, LM Studio, llama.cpp, vLLM) and routers speak, each
//! with small liberties, so decoding is lenient: tool calls without an `index`, reasoning as
//! `reasoning_content` or `reasoning`, usage in any chunk, and no `[DONE]` after the finish.

use std::collections::BTreeMap;

use ouro_protocol::{ModelEvent, Prompt, ResponseItem, Role, TokenUsage, ToolSpec};
use serde_json::{json, Value};

use super::{arguments_or_empty_object, count, parse_json, DecodeError, Decoder, Progress};
use crate::sse::SseEvent;

pub(super) fn request_body(model: &str, prompt: &Prompt) -> Value {
    let mut messages = Vec::new();
    if !prompt.instructions.is_empty() {
        messages.push(json!({"role": "system", "content": prompt.instructions}));
    }
    messages.extend(history_messages(&prompt.input));
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if !prompt.tools.is_empty() {
        body["tools"] = prompt.tools.iter().map(tool).collect();
    }
    body
}

fn tool(spec: &ToolSpec) -> Value {
    json!({
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": spec.parameters,
        },
    })
}

/// The history as chat messages. An assistant message and the calls right after it form one
/// message, as the model produced them in one response; reasoning is not sent.
fn history_messages(items: &[ResponseItem]) -> Vec<Value> {
    let mut messages: Vec<Value> = Vec::new();
    // The assistant message that a following function call joins, if any.
    let mut open_assistant: Option<usize> = None;
    for item in items {
        match item {
            ResponseItem::Message {
                role: Role::User,
                text,
            } => {
                messages.push(json!({"role": "user", "content": text}));
                open_assistant = None;
            }
            ResponseItem::Message {
                role: Role::Assistant,
                text,
            } => {
                messages.push(json!({"role": "assistant", "content": text}));
                open_assistant = Some(messages.len() - 1);
            }
            ResponseItem::FunctionCall {
                call_id,
                name,
                arguments,
            } => {
                let call = json!({"id": call_id, "type": "function",
                    "function": {"name": name, "arguments": arguments}});
                match open_assistant {
                    Some(index) => match &mut messages[index]["tool_calls"] {
                        Value::Array(calls) => calls.push(call),
                        slot => *slot = Value::Array(vec![call]),
                    },
                    None => {
                        messages.push(
                            json!({"role": "assistant", "content": null, "tool_calls": [call]}),
                        );
                        open_assistant = Some(messages.len() - 1);
                    }
                }
            }
            ResponseItem::FunctionCallOutput {
                call_id, output, ..
            } => {
                messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
                open_assistant = None;
            }
            ResponseItem::Reasoning { .. } => {}
        }
    }
    messages
}

/// Accumulates a response: chunks carry only deltas, items are emitted at the finish.
#[derive(Default)]
pub(super) struct ChatDecoder {
    text: String,
    reasoning: String,
    /// Tool calls by their `index`, which orders them.
    calls: BTreeMap<u64, PartialCall>,
    usage: TokenUsage,
    /// Whether the finish was seen and the items emitted.
    finished: bool,
}

#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

impl Decoder for ChatDecoder {
    fn event(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<ModelEvent>,
    ) -> Result<Progress, DecodeError> {
        if event.data.trim() == "[DONE]" {
            return Ok(self.complete(out));
        }
        let json = parse_json(event)?;
        // Routers report upstream failures as a chunk with an `error` object.
        if let Some(error) = json.get("error").filter(|e| !e.is_null()) {
            let message = error["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| error.to_string());
            let code = error["code"].as_u64().unwrap_or(0);
            return Err(DecodeError::Provider {
                message,
                retryable: code == 429 || (500..600).contains(&code),
            });
        }
        let usage = &json["usage"];
        if usage.is_object() {
            self.usage = TokenUsage {
                input_tokens: count(&usage["prompt_tokens"]),
                cached_input_tokens: count(&usage["prompt_tokens_details"]["cached_tokens"]),
                output_tokens: count(&usage["completion_tokens"]),
            };
        }
        let choice = &json["choices"][0];
        if self.finished || choice.is_null() {
            return Ok(Progress::Continue);
        }
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            self.text.push_str(text);
            out.push(ModelEvent::TextDelta(text.to_string()));
        }
        let reasoning = delta["reasoning_content"]
            .as_str()
            .or_else(|| delta["reasoning"].as_str());
        if let Some(reasoning) = reasoning.filter(|r| !r.is_empty()) {
            self.reasoning.push_str(reasoning);
            out.push(ModelEvent::ReasoningDelta(reasoning.to_string()));
        }
        for (position, call) in delta["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let index = call["index"].as_u64().unwrap_or(position as u64);
            let partial = self.calls.entry(index).or_default();
            if let Some(id) = call["id"].as_str().filter(|id| !id.is_empty()) {
                partial.id = id.to_string();
            }
            let function = &call["function"];
            if let Some(name) = function["name"].as_str().filter(|n| !n.is_empty()) {
                partial.name = name.to_string();
            }
            if let Some(arguments) = function["arguments"].as_str() {
                partial.arguments.push_str(arguments);
            }
        }
        if choice["finish_reason"].is_string() {
            self.finish(out);
        }
        Ok(Progress::Continue)
    }

    fn end_of_stream(&mut self, out: &mut Vec<ModelEvent>) -> Progress {
        if self.finished {
            self.complete(out)
        } else {
            Progress::Continue
        }
    }
}

impl ChatDecoder {
    /// Emits the response's items, once: reasoning, then the message, then the calls.
    fn finish(&mut self, out: &mut Vec<ModelEvent>) {
        if self.finished {
            return;
        }
        self.finished = true;
        if !self.reasoning.is_empty() {
            let text = std::mem::take(&mut self.reasoning);
            out.push(ModelEvent::ItemDone(ResponseItem::Reasoning { text }));
        }
        if !self.text.is_empty() {
            let text = std::mem::take(&mut self.text);
            out.push(ModelEvent::ItemDone(ResponseItem::assistant(text)));
        }
        for (index, call) in std::mem::take(&mut self.calls) {
            let call_id = if call.id.is_empty() {
                format!("call_{index}")
            } else {
                call.id
            };
            out.push(ModelEvent::ItemDone(ResponseItem::FunctionCall {
                call_id,
                name: call.name,
                arguments: arguments_or_empty_object(call.arguments),
            }));
        }
    }

    fn complete(&mut self, out: &mut Vec<ModelEvent>) -> Progress {
        self.finish(out);
        out.push(ModelEvent::Completed { usage: self.usage });
        Progress::Completed
    }
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
            "llama-test",
            &Prompt {
                instructions: "be brief".into(),
                tools: tools(),
                input,
            },
        )
    }

    #[test]
    fn request_body_groups_an_assistant_turn_into_one_message() {
        assert_eq!(
            body(history()),
            json!({
                "model": "llama-test",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "fix the build"},
                    {"role": "assistant", "content": "Let me look.", "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "shell", "arguments": "{\"command\":[\"ls\"]}"}},
                        {"id": "c2", "type": "function", "function": {"name": "shell", "arguments": "{\"command\":[\"cat\",\"Cargo.toml\"]}"}},
                    ]},
                    {"role": "tool", "tool_call_id": "c1", "content": "Cargo.toml\nsrc"},
                    {"role": "tool", "tool_call_id": "c2", "content": "cat: denied"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "c3", "type": "function", "function": {"name": "shell", "arguments": "not json"}},
                    ]},
                    {"role": "tool", "tool_call_id": "c3", "content": ""},
                    {"role": "assistant", "content": "Fixed."},
                    {"role": "user", "content": "thanks; also run the tests"},
                    {"role": "user", "content": "[harness] sandbox is read-only"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "c4", "type": "function", "function": {"name": "shell", "arguments": "{\"command\":[\"cargo\",\"test\"]}"}},
                    ]},
                    {"role": "tool", "tool_call_id": "c4", "content": "ok"},
                    {"role": "assistant", "content": "All green."},
                ],
                "tools": [{"type": "function", "function": {"name": "shell", "description": "Run a command",
                    "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}}}],
                "stream": true,
                "stream_options": {"include_usage": true},
            })
        );
    }

    #[test]
    fn no_tools_no_tools_key() {
        let body = request_body(
            "m",
            &Prompt {
                instructions: "x".into(),
                tools: Vec::new(),
                input: vec![ResponseItem::user("hi")],
            },
        );
        assert!(body.get("tools").is_none());
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

    #[test]
    fn decodes_a_mock_stream() {
        let reply = Reply::text("On it.")
            .with_call("call_a", "shell", json!({"command": ["ls", "-la"]}))
            .with_call("call_b", "read_file", json!({"path": "x"}))
            .with_usage(900, 512, 40);
        let events = decode(Box::<ChatDecoder>::default(), &sse(Wire::Chat, &reply));
        let deltas: String = events
            .iter()
            .filter_map(|e| match e {
                ModelEvent::TextDelta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(deltas, "On it.");
        let items: Vec<&ModelEvent> = events
            .iter()
            .filter(|e| !matches!(e, ModelEvent::TextDelta(_)))
            .collect();
        assert_eq!(
            items,
            [
                &ModelEvent::ItemDone(ResponseItem::assistant("On it.")),
                &ModelEvent::ItemDone(call("call_a", r#"{"command":["ls","-la"]}"#)),
                &ModelEvent::ItemDone(ResponseItem::FunctionCall {
                    call_id: "call_b".into(),
                    name: "read_file".into(),
                    arguments: r#"{"path":"x"}"#.into()
                }),
                &ModelEvent::Completed {
                    usage: TokenUsage {
                        input_tokens: 900,
                        cached_input_tokens: 512,
                        output_tokens: 40
                    }
                },
            ]
        );
    }

    /// Shaped after local servers: reasoning deltas, interleaved calls with no ids for one,
    /// usage on the finish chunk, and no `[DONE]` before the connection closes.
    #[test]
    fn decodes_a_lenient_local_server_stream() {
        let stream = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"think\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"ing\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"name\":\"read_file\",\"arguments\":\"{\\\"pa\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"x0\",\"function\":{\"name\":\"shell\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"th\\\":1}\"}}]}}]}\n\n",
            ": keep-alive\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5}}\n\n",
        );
        assert_eq!(
            decode(Box::<ChatDecoder>::default(), stream),
            [
                ModelEvent::ReasoningDelta("think".into()),
                ModelEvent::ReasoningDelta("ing".into()),
                ModelEvent::ItemDone(ResponseItem::Reasoning {
                    text: "thinking".into()
                }),
                ModelEvent::ItemDone(call("x0", "{}")),
                ModelEvent::ItemDone(ResponseItem::FunctionCall {
                    call_id: "call_1".into(),
                    name: "read_file".into(),
                    arguments: r#"{"path":1}"#.into()
                }),
                ModelEvent::Completed {
                    usage: TokenUsage {
                        input_tokens: 10,
                        cached_input_tokens: 0,
                        output_tokens: 5
                    }
                },
            ]
        );
    }

    #[test]
    fn missing_usage_is_zero_and_unfinished_streams_are_incomplete() {
        let done = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n";
        assert_eq!(
            decode(Box::<ChatDecoder>::default(), done),
            [
                ModelEvent::TextDelta("hi".into()),
                ModelEvent::ItemDone(ResponseItem::assistant("hi")),
                ModelEvent::Completed {
                    usage: TokenUsage::default()
                },
            ]
        );

        let mut decoder = ChatDecoder::default();
        let mut out = Vec::new();
        let chunk = SseEvent {
            event: None,
            data: r#"{"choices":[{"index":0,"delta":{"content":"hi"}}]}"#.into(),
        };
        assert_eq!(decoder.event(&chunk, &mut out), Ok(Progress::Continue));
        assert_eq!(decoder.end_of_stream(&mut out), Progress::Continue);
    }

    #[test]
    fn error_chunks_are_provider_errors() {
        let mut decoder = ChatDecoder::default();
        let chunk = SseEvent {
            event: None,
            data: r#"{"error":{"code":502,"message":"upstream overloaded"}}"#.into(),
        };
        assert_eq!(
            decoder.event(&chunk, &mut Vec::new()),
            Err(DecodeError::Provider {
                message: "upstream overloaded".into(),
                retryable: true
            })
        );
    }

    #[test]
    fn tool_outputs_stay_separate_messages() {
        let messages =
            history_messages(&[call("a", "{}"), output("a", "1", true), call("b", "{}")]);
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[2]["tool_calls"][0]["id"], "b");
    }
}
