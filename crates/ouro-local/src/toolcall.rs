//! Turning a model's reply into text and tool calls.
//!
//! A reply is plain text (the answer, or a few words before acting), optionally followed by
//! `<tool_call>…</tool_call>` blocks, each holding `{"name": …, "arguments": {…}}`.
//! [`ReplyParser`] is fed the reply piece by piece as it is generated: it hands back the text
//! that is safe to show (never a half-written `<tool_call>` tag), and at the end splits the
//! reply into its text and calls.
//!
//! A call's arguments are kept as the exact JSON text the model wrote, so that the next
//! prompt renders them byte for byte as generated and the KV cache stays valid. A block that
//! cannot be read as a call (cut off at the token limit, not JSON, no name) is kept in the
//! text rather than dropped, so that the record shows what the model did.
//!
//! Small models often write calls as bare, fenced or `<tools>`-wrapped JSON objects instead
//! of `<tool_call>`
//! blocks (the grammar constrains those too). When the whole reply is such objects (or lists
//! of them) naming known tools, they are read as calls.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::grammar::{TOOL_CALL_CLOSE, TOOL_CALL_OPEN};

/// A tool call read from a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCall {
    pub name: String,
    /// The arguments as the model wrote them: JSON text, normally an object.
    pub arguments: String,
}

/// A whole reply, split.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    /// The text outside tool calls (trailing whitespace before the calls removed: the chat
    /// template puts it back).
    pub text: String,
    pub calls: Vec<ParsedCall>,
    /// How the calls were found.
    pub format: CallFormat,
}

/// Where a reply's calls came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallFormat {
    /// No calls.
    #[default]
    None,
    /// `<tool_call>` blocks, the format the chat template asks for.
    Tagged,
    /// A bare or fenced JSON object (or list) making up the whole reply.
    BareJson,
}

/// Splits a reply as it is generated. Feed it with [`ReplyParser::push`], then call
/// [`ReplyParser::finish`].
#[derive(Debug, Default)]
pub struct ReplyParser {
    /// Text received but not yet handed out: a possible start of `<tool_call>`, or trailing
    /// whitespace that may turn out to precede a call.
    pending: String,
    /// Everything before the first `<tool_call>`.
    text: String,
    /// Everything from the first `<tool_call>` on.
    calls: Option<String>,
}

impl ReplyParser {
    pub fn new() -> ReplyParser {
        ReplyParser::default()
    }

    /// Adds the next piece of the reply; returns the text that can be shown now.
    pub fn push(&mut self, piece: &str) -> String {
        if let Some(calls) = &mut self.calls {
            calls.push_str(piece);
            return String::new();
        }
        self.pending.push_str(piece);
        if let Some(at) = self.pending.find(TOOL_CALL_OPEN) {
            let rest = self.pending.split_off(at);
            self.calls = Some(rest);
            let before = std::mem::take(&mut self.pending);
            let shown = before.trim_end().to_string();
            self.text.push_str(&before);
            return shown;
        }
        // Hold back whatever could still become `<tool_call>`, and trailing whitespace.
        let mut keep = self.pending.len() - self.pending.trim_end().len();
        for len in (1..TOOL_CALL_OPEN.len()).rev() {
            if self.pending.ends_with(&TOOL_CALL_OPEN[..len]) {
                let before = &self.pending[..self.pending.len() - len];
                keep = len + before.len() - before.trim_end().len();
                break;
            }
        }
        let shown = self.pending[..self.pending.len() - keep].to_string();
        self.pending.drain(..shown.len());
        self.text.push_str(&shown);
        shown
    }

    /// Whether a `<tool_call>` block has been closed: the reply has said what it came to say
    /// (a reply holds one call), so generation can stop even if the grammar is not there to
    /// end it.
    pub fn call_closed(&self) -> bool {
        self.calls
            .as_ref()
            .is_some_and(|calls| calls.contains(TOOL_CALL_CLOSE))
    }

    /// Text still held back, for when the reply ended without a call. Shown only once the
    /// reply is known to be complete.
    pub fn held_back(&self) -> &str {
        if self.calls.is_some() {
            ""
        } else {
            &self.pending
        }
    }

    /// Splits the whole reply. `tool_names` are the tools the model was offered, used only to
    /// recognise calls written as bare JSON.
    pub fn finish(mut self, tool_names: &[&str]) -> Reply {
        let Some(calls_text) = self.calls else {
            self.text.push_str(&self.pending);
            if let Some(calls) = bare_json_calls(&self.text, tool_names) {
                return Reply {
                    text: String::new(),
                    calls,
                    format: CallFormat::BareJson,
                };
            }
            return Reply {
                text: self.text,
                calls: Vec::new(),
                format: CallFormat::None,
            };
        };
        let (calls, unread) = tagged_calls(&calls_text);
        let mut text = self.text.trim_end().to_string();
        if !unread.trim().is_empty() {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(unread.trim());
        }
        let format = if calls.is_empty() {
            CallFormat::None
        } else {
            CallFormat::Tagged
        };
        Reply {
            text,
            calls,
            format,
        }
    }
}

/// Splits a whole reply in one go.
pub fn parse_reply(reply: &str, tool_names: &[&str]) -> Reply {
    let mut parser = ReplyParser::new();
    parser.push(reply);
    parser.finish(tool_names)
}

#[derive(Deserialize)]
struct CallJson<'a> {
    name: String,
    #[serde(borrow)]
    arguments: Option<&'a RawValue>,
}

/// Reads one `{"name": …, "arguments": …}` object. Arguments given as a JSON string holding
/// an object (some models do that) are unwrapped; missing arguments are `{}`.
fn read_call(json: &str) -> Option<ParsedCall> {
    let call: CallJson = serde_json::from_str(json.trim()).ok()?;
    if call.name.is_empty() {
        return None;
    }
    let arguments = match call.arguments {
        None => "{}".to_string(),
        Some(raw) => {
            let text = raw.get();
            match serde_json::from_str::<String>(text) {
                Ok(inner) if inner.trim_start().starts_with('{') => inner,
                _ => text.to_string(),
            }
        }
    };
    Some(ParsedCall {
        name: call.name,
        arguments,
    })
}

/// The calls in `text` (which starts with `<tool_call>`), and what could not be read as one.
fn tagged_calls(text: &str) -> (Vec<ParsedCall>, String) {
    let mut calls = Vec::new();
    let mut unread = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(TOOL_CALL_OPEN) {
        unread.push_str(&rest[..start]);
        let body_start = start + TOOL_CALL_OPEN.len();
        let (body, block_end) = match rest[body_start..].find(TOOL_CALL_CLOSE) {
            Some(end) => (
                &rest[body_start..body_start + end],
                body_start + end + TOOL_CALL_CLOSE.len(),
            ),
            // Cut off: read what is there, in case only the closing tag is missing.
            None => (&rest[body_start..], rest.len()),
        };
        match read_call(body) {
            Some(call) => calls.push(call),
            None => unread.push_str(&rest[start..block_end]),
        }
        rest = &rest[block_end..];
    }
    unread.push_str(rest);
    (calls, unread)
}

/// Calls written as the whole reply: JSON objects (or lists of them) separated by
/// whitespace, possibly in a ```` ```json ```` fence or between `<tools>` and `</tools>`,
/// each naming one of `tool_names`.
fn bare_json_calls(text: &str, tool_names: &[&str]) -> Option<Vec<ParsedCall>> {
    let mut body = text.trim();
    if let Some(wrapped) = body.strip_prefix("<tools>") {
        body = wrapped.strip_suffix("</tools>")?.trim();
    } else if let Some(fenced) = body.strip_prefix("```") {
        let fenced = fenced.strip_suffix("```")?;
        // Drop the info string (`json`) before the first value.
        body = fenced
            .trim_start_matches(|c: char| c.is_ascii_alphanumeric())
            .trim();
    }
    if !body.starts_with(['{', '[']) {
        return None;
    }
    let mut calls = Vec::new();
    for value in serde_json::Deserializer::from_str(body).into_iter::<&RawValue>() {
        let value = value.ok()?;
        let text = value.get();
        if text.starts_with('[') {
            let items: Vec<&RawValue> = serde_json::from_str(text).ok()?;
            for item in items {
                calls.push(read_call(item.get())?);
            }
        } else {
            calls.push(read_call(text)?);
        }
    }
    let known = calls
        .iter()
        .all(|call| tool_names.contains(&call.name.as_str()));
    (known && !calls.is_empty()).then_some(calls)
}

#[cfg(test)]
mod tests;
