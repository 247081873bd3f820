//! Chat templates: a [`Prompt`] rendered through the model's own Jinja template.
//!
//! GGUF files carry the template their model was trained with (`tokenizer.chat_template`).
//! Rendering that template, tools included, gives the model the exact prompt layout it knows;
//! for Qwen2.5 that is a `<tools>` block in the system turn, replies with
//! `<tool_call>{"name": …, "arguments": …}</tool_call>` and tool results as
//! `<tool_response>` blocks in a user turn.
//!
//! The template sees what Hugging Face's `apply_chat_template` passes: `messages` (OpenAI
//! style: `role`, `content`, `tool_calls`, and `name`/`tool_call_id` on tool results),
//! `tools` (OpenAI function specs), `add_generation_prompt`, `bos_token` and `eos_token`,
//! and the same whitespace rules (`trim_blocks`, `lstrip_blocks`). `tojson` writes JSON the
//! way Python's `json.dumps` does (`", "` and `": "` separators, keys in order), since that is
//! what the model saw in training; Python string methods come from minijinja's pycompat.
//!
//! Rendering is prefix-stable across the requests of a session (DESIGN.md's append-only
//! rule): the prompt for N items is a prefix of the prompt for N+k items, so the KV cache of
//! the first stays valid for the second. Two details make that hold for the model's own
//! replies: a function call's arguments are rendered from the exact JSON text the model
//! produced (not re-serialized), and an assistant message's text and its calls form one
//! assistant turn, as the template expects.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};
use ouro_protocol::{Prompt, ResponseItem, Role, ToolSpec};

const TEMPLATE_NAME: &str = "chat_template";

/// A template could not be compiled or rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chat template: {}", self.0)
    }
}

impl std::error::Error for TemplateError {}

impl From<Error> for TemplateError {
    fn from(err: Error) -> Self {
        // minijinja keeps the useful detail (line, expression) in the error's display and
        // its sources.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            let _ = write!(message, ": {cause}");
            source = cause.source();
        }
        TemplateError(message)
    }
}

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compiles a Jinja chat template, as found in a GGUF's `tokenizer.chat_template`.
    pub fn new(source: &str) -> Result<ChatTemplate, TemplateError> {
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .map_err(TemplateError::from)?,
        );
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", tojson);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned(TEMPLATE_NAME, source.to_string())?;
        Ok(ChatTemplate {
            env,
            bos_token: String::new(),
            eos_token: String::new(),
        })
    }

    /// Sets the texts of the model's BOS and EOS tokens, which some templates print.
    pub fn with_special_tokens(mut self, bos_token: &str, eos_token: &str) -> ChatTemplate {
        self.bos_token = bos_token.to_string();
        self.eos_token = eos_token.to_string();
        self
    }

    /// Renders `prompt`; with `add_generation_prompt` the text ends where the assistant's
    /// reply begins.
    pub fn render(
        &self,
        prompt: &Prompt,
        add_generation_prompt: bool,
    ) -> Result<String, TemplateError> {
        let template = self.env.get_template(TEMPLATE_NAME)?;
        let tools = if prompt.tools.is_empty() {
            Value::from(())
        } else {
            Value::from_iter(prompt.tools.iter().map(tool_value))
        };
        let ctx = Dict::value(vec![
            ("messages".into(), Value::from_iter(messages(prompt))),
            ("tools".into(), tools),
            (
                "add_generation_prompt".into(),
                Value::from(add_generation_prompt),
            ),
            ("bos_token".into(), Value::from(self.bos_token.as_str())),
            ("eos_token".into(), Value::from(self.eos_token.as_str())),
        ]);
        Ok(template.render(ctx)?)
    }
}

/// A tool as an OpenAI function spec: `{"type": "function", "function": {"name",
/// "description", "parameters"}}`, keys in that order.
fn tool_value(tool: &ToolSpec) -> Value {
    Dict::value(vec![
        ("type".into(), Value::from("function")),
        (
            "function".into(),
            Dict::value(vec![
                ("name".into(), Value::from(tool.name.as_str())),
                ("description".into(), Value::from(tool.description.as_str())),
                ("parameters".into(), json_value(&tool.parameters)),
            ]),
        ),
    ])
}

/// The conversation as the template's `messages`: the instructions as the system message,
/// then one message per turn. An assistant message's text and the function calls that
/// follow it are one message; reasoning is not sent back.
fn messages(prompt: &Prompt) -> Vec<Value> {
    struct Assistant {
        content: String,
        calls: Vec<Value>,
    }
    fn flush(pending: &mut Option<Assistant>, out: &mut Vec<Value>) {
        if let Some(assistant) = pending.take() {
            let mut fields = vec![
                ("role".into(), Value::from("assistant")),
                ("content".into(), Value::from(assistant.content)),
            ];
            if !assistant.calls.is_empty() {
                fields.push(("tool_calls".into(), Value::from(assistant.calls)));
            }
            out.push(Dict::value(fields));
        }
    }
    let message = |role: &str, content: &str| {
        Dict::value(vec![
            ("role".into(), Value::from(role)),
            ("content".into(), Value::from(content)),
        ])
    };

    let names: HashMap<&str, &str> = prompt
        .input
        .iter()
        .filter_map(|item| match item {
            ResponseItem::FunctionCall { call_id, name, .. } => {
                Some((call_id.as_str(), name.as_str()))
            }
            _ => None,
        })
        .collect();

    let mut out = Vec::new();
    if !prompt.instructions.is_empty() {
        out.push(message("system", &prompt.instructions));
    }
    let mut pending: Option<Assistant> = None;
    for item in &prompt.input {
        match item {
            ResponseItem::Message {
                role: Role::User,
                text,
            } => {
                flush(&mut pending, &mut out);
                out.push(message("user", text));
            }
            ResponseItem::Message {
                role: Role::Assistant,
                text,
            } => {
                // Text after calls, or a second text, starts a new assistant message.
                flush(&mut pending, &mut out);
                pending = Some(Assistant {
                    content: text.clone(),
                    calls: Vec::new(),
                });
            }
            ResponseItem::Reasoning { .. } => {}
            ResponseItem::FunctionCall {
                call_id,
                name,
                arguments,
            } => {
                let call = Dict::value(vec![
                    ("id".into(), Value::from(call_id.as_str())),
                    ("type".into(), Value::from("function")),
                    (
                        "function".into(),
                        Dict::value(vec![
                            ("name".into(), Value::from(name.as_str())),
                            ("arguments".into(), arguments_value(arguments)),
                        ]),
                    ),
                ]);
                pending
                    .get_or_insert_with(|| Assistant {
                        content: String::new(),
                        calls: Vec::new(),
                    })
                    .calls
                    .push(call);
            }
            ResponseItem::FunctionCallOutput {
                call_id, output, ..
            } => {
                flush(&mut pending, &mut out);
                let name = names.get(call_id.as_str()).copied().unwrap_or_default();
                out.push(Dict::value(vec![
                    ("role".into(), Value::from("tool")),
                    ("content".into(), Value::from(output.as_str())),
                    ("name".into(), Value::from(name)),
                    ("tool_call_id".into(), Value::from(call_id.as_str())),
                ]));
            }
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// A call's arguments: the parsed object (templates may walk it) that `tojson` prints as
/// the exact text the model wrote. Text that is not JSON stays a string.
fn arguments_value(arguments: &str) -> Value {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(serde_json::Value::Object(map)) => Value::from_object(Dict {
            entries: map
                .iter()
                .map(|(k, v)| (k.clone(), json_value(v)))
                .collect(),
            raw: Some(arguments.trim().to_string()),
        }),
        Ok(_) | Err(_) => Value::from(arguments),
    }
}

/// A JSON value for the template, object keys in their order.
pub(crate) fn json_value(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => Value::from_iter(items.iter().map(json_value)),
        serde_json::Value::Object(map) => Dict::value(
            map.iter()
                .map(|(k, v)| (k.clone(), json_value(v)))
                .collect(),
        ),
    }
}

/// A map that keeps its keys in insertion order (Python dicts do; the model was trained on
/// their JSON), optionally with the exact JSON text it was parsed from.
#[derive(Debug)]
struct Dict {
    entries: Vec<(String, Value)>,
    raw: Option<String>,
}

impl Dict {
    fn value(entries: Vec<(String, Value)>) -> Value {
        Value::from_object(Dict { entries, raw: None })
    }
}

impl Object for Dict {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        self.entries
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.entries
                .iter()
                .map(|(name, _)| Value::from(name.as_str()))
                .collect(),
        )
    }
}

/// `raise_exception(message)`, which templates call to reject a conversation.
fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// `tojson` as in Hugging Face's template environment: `json.dumps(value,
/// ensure_ascii=False, indent=indent)`.
fn tojson(value: &Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let indent = match indent {
        Some(indent) => Some(indent),
        None => kwargs.get::<Option<Value>>("indent")?,
    };
    // Other keyword arguments (separators, sort_keys) are accepted and ignored.
    let _ = kwargs.get::<Option<Value>>("separators");
    let _ = kwargs.get::<Option<Value>>("sort_keys");
    let _ = kwargs.get::<Option<Value>>("ensure_ascii");
    let indent = match indent {
        Some(v) if v.kind() == ValueKind::Number => Some(" ".repeat(v.as_usize().unwrap_or(0))),
        Some(v) if v.kind() == ValueKind::String => v.as_str().map(str::to_string),
        _ => None,
    };
    let mut out = String::new();
    write_json(value, indent.as_deref(), 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

fn write_json(
    value: &Value,
    indent: Option<&str>,
    depth: usize,
    out: &mut String,
) -> Result<(), Error> {
    if let Some(dict) = value.downcast_object_ref::<Dict>() {
        if let (Some(raw), None) = (&dict.raw, indent) {
            out.push_str(raw);
            return Ok(());
        }
    }
    let newline = |out: &mut String, depth: usize| {
        if let Some(unit) = indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str(unit);
            }
        }
    };
    let item_separator = if indent.is_some() { "," } else { ", " };
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            let number = value.to_string();
            // Python prints floats with a fraction ("1.0"), JSON-safe specials as words.
            match number.as_str() {
                "inf" => out.push_str("Infinity"),
                "-inf" => out.push_str("-Infinity"),
                "nan" | "NaN" => out.push_str("NaN"),
                _ => out.push_str(&number),
            }
        }
        ValueKind::String => out.push_str(&json_string(value.as_str().unwrap_or_default())),
        ValueKind::Map => {
            let keys: Vec<Value> = value.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_separator);
                }
                newline(out, depth + 1);
                let name = match key.as_str() {
                    Some(name) => name.to_string(),
                    None => key.to_string(),
                };
                out.push_str(&json_string(&name));
                out.push_str(": ");
                write_json(&value.get_item(key)?, indent, depth + 1, out)?;
            }
            newline(out, depth);
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_separator);
                }
                newline(out, depth + 1);
                write_json(item, indent, depth + 1, out)?;
            }
            newline(out, depth);
            out.push(']');
        }
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson: cannot serialize a {}", value.kind()),
            ))
        }
    }
    Ok(())
}

/// A JSON string literal as `json.dumps(ensure_ascii=False)` writes it (serde_json escapes
/// the same characters).
fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests;
