//! The three wire formats: how a [`Prompt`] becomes a request body, and how a provider's
//! SSE events become [`ModelEvent`]s.
//!
//! Request bodies are built from the history left to right, each item only ever adding to
//! the last message or starting a new one, so a longer history serializes to an extension
//! of a shorter one. That keeps provider prompt caches hot (DESIGN.md, principle 3).
//!
//! Decoders are fed one event at a time and push what it means onto `out`; the client
//! forwards those and stops at [`Progress::Completed`]. Unknown event types are skipped:
//! providers add new ones often, and none of them may break an old client.

mod anthropic;
mod chat;
mod responses;

use ouro_protocol::{ModelEvent, Prompt};
use serde_json::Value;

use crate::provider::WireApi;
use crate::sse::SseEvent;

/// The wire formats spoken over HTTP (every [`WireApi`] but the embedded model's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HttpWire {
    Responses,
    Chat,
    Anthropic,
}

impl HttpWire {
    pub(crate) fn of(api: WireApi) -> Option<HttpWire> {
        match api {
            WireApi::Responses => Some(HttpWire::Responses),
            WireApi::Chat => Some(HttpWire::Chat),
            WireApi::Anthropic => Some(HttpWire::Anthropic),
            WireApi::Local => None,
        }
    }
}

/// Where requests of `wire` go, relative to the provider's base URL.
pub(crate) fn path(wire: HttpWire) -> &'static str {
    match wire {
        HttpWire::Responses => "responses",
        HttpWire::Chat => "chat/completions",
        HttpWire::Anthropic => "messages",
    }
}

/// The JSON request body for `prompt`.
pub(crate) fn request_body(wire: HttpWire, model: &str, prompt: &Prompt) -> Value {
    match wire {
        HttpWire::Responses => responses::request_body(model, prompt),
        HttpWire::Chat => chat::request_body(model, prompt),
        HttpWire::Anthropic => anthropic::request_body(model, prompt),
    }
}

/// A fresh decoder for one response stream.
pub(crate) fn decoder(wire: HttpWire) -> Box<dyn Decoder> {
    match wire {
        HttpWire::Responses => Box::new(responses::ResponsesDecoder),
        HttpWire::Chat => Box::<chat::ChatDecoder>::default(),
        HttpWire::Anthropic => Box::<anthropic::AnthropicDecoder>::default(),
    }
}

/// Whether a response is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    Continue,
    /// [`ModelEvent::Completed`] has been pushed; nothing follows.
    Completed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The provider reported an error inside the stream.
    Provider { message: String, retryable: bool },
    /// An event the format does not allow, e.g. data that is not JSON.
    Invalid(String),
}

pub(crate) trait Decoder: Send {
    /// Decodes one event, pushing the resulting model events onto `out`.
    fn event(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<ModelEvent>,
    ) -> Result<Progress, DecodeError>;

    /// The connection ended cleanly after the last event. Formats whose streams may end
    /// without a terminal event finish the response here; the rest leave it incomplete.
    fn end_of_stream(&mut self, _out: &mut Vec<ModelEvent>) -> Progress {
        Progress::Continue
    }
}

fn parse_json(event: &SseEvent) -> Result<Value, DecodeError> {
    serde_json::from_str(&event.data).map_err(|err| {
        const MAX_CHARS: usize = 200;
        let data: String = event.data.chars().take(MAX_CHARS).collect();
        DecodeError::Invalid(format!("event data is not JSON ({err}): {data}"))
    })
}

/// The event's type: the JSON `type` field, else the SSE event name.
fn event_type<'a>(json: &'a Value, event: &'a SseEvent) -> &'a str {
    json["type"]
        .as_str()
        .or(event.event.as_deref())
        .unwrap_or_default()
}

/// A token count, zero when absent.
fn count(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}

/// Tool arguments as sent back in history: the model's JSON text, `{}` when it gave none.
fn arguments_or_empty_object(arguments: String) -> String {
    if arguments.trim().is_empty() {
        "{}".to_string()
    } else {
        arguments
    }
}

/// Test helpers shared by the format modules.
#[cfg(test)]
mod test_support {
    use ouro_protocol::{ModelEvent, ResponseItem, Role, ToolSpec};
    use serde_json::{json, Value};

    use super::{Decoder, Progress};
    use crate::sse::SseParser;

    /// Runs a whole SSE body through `decoder`, as the client would, until completion.
    pub fn decode(mut decoder: Box<dyn Decoder>, body: &str) -> Vec<ModelEvent> {
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        parser.feed(body.as_bytes(), &mut events);
        parser.finish(&mut events);
        let mut out = Vec::new();
        for event in &events {
            if decoder.event(event, &mut out).unwrap() == Progress::Completed {
                return out;
            }
        }
        assert_eq!(decoder.end_of_stream(&mut out), Progress::Completed);
        out
    }

    pub fn tools() -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: "shell".into(),
            description: "Run a command".into(),
            parameters: json!({"type": "object", "properties": {"command": {"type": "array"}}}),
        }]
    }

    pub fn call(id: &str, args: &str) -> ResponseItem {
        ResponseItem::FunctionCall {
            call_id: id.into(),
            name: "shell".into(),
            arguments: args.into(),
        }
    }

    pub fn output(id: &str, output: &str, success: bool) -> ResponseItem {
        ResponseItem::FunctionCallOutput {
            call_id: id.into(),
            output: output.into(),
            success,
        }
    }

    /// A realistic session: task, reasoning, text with parallel calls, outputs (one failed),
    /// calls without text, a final answer, a follow-up, and a harness note.
    pub fn history() -> Vec<ResponseItem> {
        vec![
            ResponseItem::user("fix the build"),
            ResponseItem::Reasoning {
                text: "look around first".into(),
            },
            ResponseItem::assistant("Let me look."),
            call("c1", r#"{"command":["ls"]}"#),
            call("c2", r#"{"command":["cat","Cargo.toml"]}"#),
            output("c1", "Cargo.toml\nsrc", true),
            output("c2", "cat: denied", false),
            call("c3", "not json"),
            output("c3", "", true),
            ResponseItem::assistant("Fixed."),
            ResponseItem::user("thanks; also run the tests"),
            ResponseItem::Message {
                role: Role::User,
                text: "[harness] sandbox is read-only".into(),
            },
            call("c4", r#"{"command":["cargo","test"]}"#),
            output("c4", "ok", true),
            ResponseItem::assistant("All green."),
        ]
    }

    /// Indices `n` at which the core sends a request with `history()[..n]`: after user
    /// input, and after the outputs of a round of tool calls.
    pub fn request_points(items: &[ResponseItem]) -> Vec<usize> {
        (1..=items.len())
            .filter(|&n| {
                let ends_turn_input = matches!(
                    items[n - 1],
                    ResponseItem::FunctionCallOutput { .. }
                        | ResponseItem::Message {
                            role: Role::User,
                            ..
                        }
                );
                let more_input_follows = matches!(
                    items.get(n),
                    Some(ResponseItem::FunctionCallOutput { .. })
                        | Some(ResponseItem::Message {
                            role: Role::User,
                            ..
                        })
                );
                ends_turn_input && !more_input_follows
            })
            .collect()
    }

    /// Asserts that `short`'s array at `key` is a prefix of `long`'s.
    pub fn assert_prefix(short: &Value, long: &Value, key: &str) {
        let short = short[key].as_array().unwrap();
        let long = long[key].as_array().unwrap();
        assert!(short.len() <= long.len());
        assert_eq!(short[..], long[..short.len()]);
    }
}
