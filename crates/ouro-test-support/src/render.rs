//! Scripted model replies, rendered as each provider streams them.
//!
//! The streams follow the providers' real event sequences, including the events a client
//! must skip (`response.created`, role-only chunks, `ping`), text and arguments split into
//! several deltas, and usage where each provider puts it, so that a decoder that passes
//! against these has met the shapes it meets in production.

use serde_json::{json, Value};

/// Which wire format to render: a mirror of `ouro_model::WireApi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Responses,
    Chat,
    Anthropic,
}

/// What a scripted model reply says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reply {
    /// The visible answer, streamed before any call.
    pub text: Option<String>,
    pub calls: Vec<Call>,
    /// (input tokens including cached ones, cached input tokens, output tokens).
    pub usage: (u64, u64, u64),
}

/// A function call in a [`Reply`].
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub call_id: String,
    pub name: String,
    pub arguments: Value,
}

impl Reply {
    /// A reply that only says `text`. Usage is zero until [`Reply::with_usage`].
    pub fn text(text: impl Into<String>) -> Self {
        Reply {
            text: Some(text.into()),
            ..Reply::default()
        }
    }

    /// A reply that only calls one tool.
    pub fn call(call_id: impl Into<String>, name: impl Into<String>, arguments: Value) -> Self {
        Reply::default().with_call(call_id, name, arguments)
    }

    /// Adds a call after the ones already there.
    pub fn with_call(
        mut self,
        call_id: impl Into<String>,
        name: impl Into<String>,
        arguments: Value,
    ) -> Self {
        self.calls.push(Call {
            call_id: call_id.into(),
            name: name.into(),
            arguments,
        });
        self
    }

    /// Sets usage: `input` counts all input tokens, `cached` the part of them served from
    /// cache.
    pub fn with_usage(mut self, input: u64, cached: u64, output: u64) -> Self {
        self.usage = (input, cached, output);
        self
    }
}

/// The complete SSE body a provider of `wire` would send for `reply`.
pub fn sse(wire: Wire, reply: &Reply) -> String {
    match wire {
        Wire::Responses => responses(reply),
        Wire::Chat => chat(reply),
        Wire::Anthropic => anthropic(reply),
    }
}

const MODEL: &str = "mock-model";
const CREATED: u64 = 1_700_000_000;

/// Splits `text` into token-sized pieces on character boundaries.
fn pieces(text: &str) -> Vec<String> {
    const PIECE_CHARS: usize = 6;
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(PIECE_CHARS)
        .map(|c| c.iter().collect())
        .collect()
}

fn push_event(out: &mut String, name: Option<&str>, data: &Value) {
    if let Some(name) = name {
        out.push_str("event: ");
        out.push_str(name);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&data.to_string());
    out.push_str("\n\n");
}

fn responses(reply: &Reply) -> String {
    let mut out = String::new();
    let mut seq = 0u64;
    // Every Responses event carries its own name as `type` and a sequence number.
    let mut event = |out: &mut String, mut data: Value| {
        data["sequence_number"] = json!(seq);
        seq += 1;
        let name = data["type"].as_str().unwrap_or_default().to_string();
        push_event(out, Some(&name), &data);
    };
    let response = |status: &str, output: Value, usage: Value| {
        json!({"id": "resp_mock", "object": "response", "created_at": CREATED, "status": status,
            "model": MODEL, "output": output, "usage": usage, "parallel_tool_calls": true,
            "tool_choice": "auto", "store": false})
    };

    event(
        &mut out,
        json!({"type": "response.created", "response": response("in_progress", json!([]), Value::Null)}),
    );
    event(
        &mut out,
        json!({"type": "response.in_progress", "response": response("in_progress", json!([]), Value::Null)}),
    );

    let mut output = Vec::new();
    if let Some(text) = &reply.text {
        let index = output.len();
        let id = "msg_mock_0";
        event(
            &mut out,
            json!({"type": "response.output_item.added", "output_index": index,
                "item": {"id": id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
        );
        event(
            &mut out,
            json!({"type": "response.content_part.added", "item_id": id, "output_index": index,
                "content_index": 0, "part": {"type": "output_text", "annotations": [], "text": ""}}),
        );
        for piece in pieces(text) {
            event(
                &mut out,
                json!({"type": "response.output_text.delta", "item_id": id, "output_index": index,
                    "content_index": 0, "delta": piece, "logprobs": []}),
            );
        }
        event(
            &mut out,
            json!({"type": "response.output_text.done", "item_id": id, "output_index": index,
                "content_index": 0, "text": text, "logprobs": []}),
        );
        let part = json!({"type": "output_text", "annotations": [], "text": text});
        event(
            &mut out,
            json!({"type": "response.content_part.done", "item_id": id, "output_index": index,
                "content_index": 0, "part": part}),
        );
        let item = json!({"id": id, "type": "message", "status": "completed", "role": "assistant",
            "content": [part]});
        event(
            &mut out,
            json!({"type": "response.output_item.done", "output_index": index, "item": item}),
        );
        output.push(item);
    }

    for (n, call) in reply.calls.iter().enumerate() {
        let index = output.len();
        let id = format!("fc_mock_{n}");
        let arguments = call.arguments.to_string();
        let item = |status: &str, arguments: &str| {
            json!({"id": id, "type": "function_call", "status": status, "arguments": arguments,
                "call_id": call.call_id, "name": call.name})
        };
        event(
            &mut out,
            json!({"type": "response.output_item.added", "output_index": index, "item": item("in_progress", "")}),
        );
        for piece in pieces(&arguments) {
            event(
                &mut out,
                json!({"type": "response.function_call_arguments.delta", "item_id": id,
                    "output_index": index, "delta": piece}),
            );
        }
        event(
            &mut out,
            json!({"type": "response.function_call_arguments.done", "item_id": id,
                "output_index": index, "arguments": arguments}),
        );
        let done = item("completed", &arguments);
        event(
            &mut out,
            json!({"type": "response.output_item.done", "output_index": index, "item": done}),
        );
        output.push(done);
    }

    let (input, cached, output_tokens) = reply.usage;
    let usage = json!({"input_tokens": input, "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output_tokens});
    event(
        &mut out,
        json!({"type": "response.completed", "response": response("completed", Value::Array(output), usage)}),
    );
    out
}

fn chat(reply: &Reply) -> String {
    let mut out = String::new();
    let chunk = |choices: Value, usage: Value| {
        json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": CREATED,
            "model": MODEL, "system_fingerprint": "fp_mock", "choices": choices, "usage": usage})
    };
    let delta = |delta: Value, finish_reason: Value| {
        chunk(
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]),
            Value::Null,
        )
    };

    push_event(
        &mut out,
        None,
        &delta(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        ),
    );
    if let Some(text) = &reply.text {
        for piece in pieces(text) {
            push_event(
                &mut out,
                None,
                &delta(json!({"content": piece}), Value::Null),
            );
        }
    }
    for (index, call) in reply.calls.iter().enumerate() {
        let first = json!({"tool_calls": [{"index": index, "id": call.call_id, "type": "function",
            "function": {"name": call.name, "arguments": ""}}]});
        push_event(&mut out, None, &delta(first, Value::Null));
        for piece in pieces(&call.arguments.to_string()) {
            let more = json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]});
            push_event(&mut out, None, &delta(more, Value::Null));
        }
    }
    let finish_reason = if reply.calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    push_event(&mut out, None, &delta(json!({}), json!(finish_reason)));

    let (input, cached, output) = reply.usage;
    let usage = json!({"prompt_tokens": input, "completion_tokens": output,
        "total_tokens": input + output, "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": 0}});
    push_event(&mut out, None, &chunk(json!([]), usage));
    out.push_str("data: [DONE]\n\n");
    out
}

fn anthropic(reply: &Reply) -> String {
    let mut out = String::new();
    // Anthropic names each event after its `type`.
    let event = |out: &mut String, data: Value| {
        let name = data["type"].as_str().unwrap_or_default().to_string();
        push_event(out, Some(&name), &data);
    };

    let (input, cached, output) = reply.usage;
    event(
        &mut out,
        json!({"type": "message_start", "message": {"id": "msg_mock", "type": "message",
            "role": "assistant", "model": MODEL, "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": {"input_tokens": input.saturating_sub(cached),
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached,
            "output_tokens": 1}}}),
    );

    let mut index = 0;
    if let Some(text) = &reply.text {
        event(
            &mut out,
            json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "text", "text": ""}}),
        );
        // Anthropic sends its keep-alive early in the stream, between real events.
        out.push_str("event: ping\ndata: {\"type\": \"ping\"}\n\n");
        for piece in pieces(text) {
            event(
                &mut out,
                json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "text_delta", "text": piece}}),
            );
        }
        event(
            &mut out,
            json!({"type": "content_block_stop", "index": index}),
        );
        index += 1;
    } else {
        out.push_str("event: ping\ndata: {\"type\": \"ping\"}\n\n");
    }

    for call in &reply.calls {
        event(
            &mut out,
            json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use",
                "id": call.call_id, "name": call.name, "input": {}}}),
        );
        // The first input delta is always empty.
        let mut partials = vec![String::new()];
        partials.extend(pieces(&call.arguments.to_string()));
        for partial in partials {
            event(
                &mut out,
                json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": partial}}),
            );
        }
        event(
            &mut out,
            json!({"type": "content_block_stop", "index": index}),
        );
        index += 1;
    }

    let stop_reason = if reply.calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    event(
        &mut out,
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": output}}),
    );
    event(&mut out, json!({"type": "message_stop"}));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `data:` payloads of an SSE body (these bodies have one data line per event).
    fn data(body: &str) -> Vec<String> {
        body.split("\n\n")
            .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(str::to_string)
            .collect()
    }

    fn json_events(body: &str) -> Vec<Value> {
        data(body)
            .iter()
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    fn reply() -> Reply {
        Reply::text("Hello there, world — ünïcode")
            .with_call("call_1", "shell", json!({"command": ["ls", "-la"]}))
            .with_call("call_2", "read_file", json!({"path": "src/main.rs"}))
            .with_usage(120, 100, 7)
    }

    #[test]
    fn every_event_is_complete_and_well_formed() {
        for wire in [Wire::Responses, Wire::Chat, Wire::Anthropic] {
            let body = sse(wire, &reply());
            assert!(body.ends_with("\n\n"), "{wire:?}");
            for event in body.trim_end().split("\n\n") {
                let data = event
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap();
                if data != "[DONE]" {
                    serde_json::from_str::<Value>(data).unwrap();
                }
                if wire != Wire::Chat {
                    let name = event
                        .lines()
                        .find_map(|l| l.strip_prefix("event: "))
                        .unwrap();
                    let data: Value = serde_json::from_str(data).unwrap();
                    assert_eq!(data["type"], name);
                }
            }
        }
    }

    #[test]
    fn responses_stream_carries_text_calls_and_usage() {
        let events = json_events(&sse(Wire::Responses, &reply()));
        let text: String = events
            .iter()
            .filter(|e| e["type"] == "response.output_text.delta")
            .map(|e| e["delta"].as_str().unwrap())
            .collect();
        assert_eq!(text, "Hello there, world — ünïcode");
        let arg_deltas = events
            .iter()
            .filter(|e| e["type"] == "response.function_call_arguments.delta")
            .count();
        assert!(arg_deltas > 2);
        let done: Vec<&Value> = events
            .iter()
            .filter(|e| e["type"] == "response.output_item.done")
            .map(|e| &e["item"])
            .collect();
        assert_eq!(done.len(), 3);
        assert_eq!(done[1]["call_id"], "call_1");
        assert_eq!(done[1]["arguments"], r#"{"command":["ls","-la"]}"#);
        let last = events.last().unwrap();
        assert_eq!(last["type"], "response.completed");
        assert_eq!(last["response"]["usage"]["input_tokens"], 120);
        assert_eq!(
            last["response"]["usage"]["input_tokens_details"]["cached_tokens"],
            100
        );
        assert_eq!(last["response"]["usage"]["output_tokens"], 7);
    }

    #[test]
    fn chat_stream_splits_calls_by_index_and_ends_with_done() {
        let body = sse(Wire::Chat, &reply());
        assert!(body.ends_with("data: [DONE]\n\n"));
        let events = json_events(&body);
        let mut arguments = [String::new(), String::new()];
        for event in &events {
            for call in event["choices"][0]["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let index = call["index"].as_u64().unwrap() as usize;
                arguments[index].push_str(call["function"]["arguments"].as_str().unwrap());
            }
        }
        assert_eq!(arguments[0], r#"{"command":["ls","-la"]}"#);
        assert_eq!(arguments[1], r#"{"path":"src/main.rs"}"#);
        let finish = &events[events.len() - 2];
        assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
        let usage = &events[events.len() - 1]["usage"];
        assert_eq!(usage["prompt_tokens"], 120);
        assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 100);
        assert_eq!(usage["completion_tokens"], 7);
    }

    #[test]
    fn anthropic_stream_has_blocks_ping_and_split_usage() {
        let events = json_events(&sse(Wire::Anthropic, &reply()));
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types[0], "message_start");
        assert!(types.contains(&"ping"));
        assert_eq!(
            types.iter().filter(|t| **t == "content_block_stop").count(),
            3
        );
        assert_eq!(&types[types.len() - 2..], ["message_delta", "message_stop"]);
        let usage = &events[0]["message"]["usage"];
        assert_eq!(usage["input_tokens"], 20);
        assert_eq!(usage["cache_read_input_tokens"], 100);
        let json: String = events
            .iter()
            .filter(|e| e["index"] == 2 && e["delta"]["type"] == "input_json_delta")
            .map(|e| e["delta"]["partial_json"].as_str().unwrap())
            .collect();
        assert_eq!(json, r#"{"path":"src/main.rs"}"#);
        assert_eq!(events[events.len() - 2]["usage"]["output_tokens"], 7);
    }
}
