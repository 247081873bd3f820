//! The vocabulary every ouro crate shares.
//!
//! Three families of types live here, serde only, so that front ends and the core can talk
//! without depending on each other:
//!
//! * [`ResponseItem`] — one entry of the conversation history, provider-neutral. The model
//!   crate translates the history into each wire format; the core appends to it and never
//!   edits what it holds (the append-only rule of DESIGN.md).
//! * [`ModelEvent`] — what a model stream yields while a response is produced.
//! * [`Event`] and [`ThreadItem`] — what the core tells front ends, in the shapes of
//!   `codex exec --json` so that scripts written for Codex read ouro's output unchanged.

use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
}

/// One entry of a session's conversation history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseItem {
    /// Plain text from the user (task, follow-up, harness notes) or the assistant.
    Message { role: Role, text: String },
    /// The model's visible reasoning. Kept in the record; not sent back to providers.
    Reasoning { text: String },
    /// The model asked to run a tool. `arguments` is the raw JSON text the model produced.
    FunctionCall {
        call_id: String,
        name: String,
        arguments: String,
    },
    /// The harness's answer to a [`ResponseItem::FunctionCall`] with the same `call_id`.
    FunctionCallOutput {
        call_id: String,
        output: String,
        /// False when the tool failed (bad arguments, non-zero exit, patch rejected).
        success: bool,
    },
}

impl ResponseItem {
    pub fn user(text: impl Into<String>) -> Self {
        ResponseItem::Message {
            role: Role::User,
            text: text.into(),
        }
    }

    pub fn assistant(text: impl Into<String>) -> Self {
        ResponseItem::Message {
            role: Role::Assistant,
            text: text.into(),
        }
    }
}

/// A tool as the model sees it: a name, what it does and a JSON schema of its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// Everything one model request carries. Within a session each prompt extends the previous
/// one: same `instructions`, same `tools` in the same order, `input` a strict extension.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prompt {
    pub instructions: String,
    pub tools: Vec<ToolSpec>,
    pub input: Vec<ResponseItem>,
}

/// Token counts for one model response, or summed over a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
}

impl TokenUsage {
    pub fn add(&mut self, other: &TokenUsage) {
        self.input_tokens += other.input_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

/// What a model stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelEvent {
    /// A piece of the assistant's visible answer.
    TextDelta(String),
    /// A piece of the model's reasoning.
    ReasoningDelta(String),
    /// A finished output item: a message, reasoning, or a function call.
    ItemDone(ResponseItem),
    /// The stream broke and the request is being sent again: everything yielded since the
    /// request started is void and will be produced anew.
    Retrying {
        attempt: u32,
        max_attempts: u32,
        reason: String,
    },
    /// The response is complete.
    Completed { usage: TokenUsage },
}

/// An event the core emits to front ends (`ouro exec --json` prints one per line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "thread.started")]
    ThreadStarted { thread_id: String },
    #[serde(rename = "turn.started")]
    TurnStarted {},
    #[serde(rename = "item.started")]
    ItemStarted { item: ThreadItem },
    #[serde(rename = "item.updated")]
    ItemUpdated { item: ThreadItem },
    #[serde(rename = "item.completed")]
    ItemCompleted { item: ThreadItem },
    #[serde(rename = "turn.completed")]
    TurnCompleted { usage: TokenUsage },
    #[serde(rename = "turn.failed")]
    TurnFailed { error: ErrorInfo },
    #[serde(rename = "error")]
    Error { message: String },
    /// The harness needs a person's yes before it runs something; answered with an
    /// [`ApprovalDecision`].
    #[serde(rename = "approval.requested")]
    ApprovalRequested(ApprovalRequest),
}

/// A question for a person: may this run?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// The id of the item the request is about.
    pub id: String,
    pub kind: ApprovalKind,
    /// The command, or for a file change the files it touches.
    pub command: String,
    pub cwd: String,
    /// Why approval is needed.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalKind {
    /// Run a command (in the sandbox unless the request says otherwise).
    Command,
    /// Run a command outside the sandbox.
    Unsandboxed,
    /// Apply a file change.
    FileChange,
}

/// A person's answer to an [`ApprovalRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    ApprovedOnce,
    /// Approve this command and every identical one for the rest of the session.
    ApprovedForSession,
    Denied,
    /// Deny, and stop the turn.
    Abort,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub message: String,
}

/// Something that happened in a turn, as front ends show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadItem {
    pub id: String,
    #[serde(flatten)]
    pub details: ThreadItemDetails,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ThreadItemDetails {
    AgentMessage {
        text: String,
    },
    Reasoning {
        text: String,
    },
    CommandExecution {
        command: String,
        aggregated_output: String,
        exit_code: Option<i32>,
        status: CommandStatus,
    },
    FileChange {
        changes: Vec<FileUpdateChange>,
        status: PatchStatus,
    },
    TodoList {
        items: Vec<TodoItem>,
    },
    /// A call of a tool that is neither a command nor a file change (reading, searching).
    ToolCall {
        tool: String,
        arguments: serde_json::Value,
        status: ToolCallStatus,
    },
    Error {
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    InProgress,
    Completed,
    Failed,
    Declined,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolCallStatus {
    InProgress,
    Completed,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchStatus {
    Completed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileUpdateChange {
    pub path: String,
    pub kind: PatchChangeKind,
    /// The change as a unified diff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchChangeKind {
    Add,
    Delete,
    Update,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoItem {
    pub text: String,
    pub completed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_serialize_in_codex_exec_json_shapes() {
        let started = Event::ItemStarted {
            item: ThreadItem {
                id: "item_1".into(),
                details: ThreadItemDetails::CommandExecution {
                    command: "bash -lc ls".into(),
                    aggregated_output: String::new(),
                    exit_code: None,
                    status: CommandStatus::InProgress,
                },
            },
        };
        assert_eq!(
            serde_json::to_value(&started).unwrap(),
            json!({"type": "item.started", "item": {"id": "item_1", "type": "command_execution",
                "command": "bash -lc ls", "aggregated_output": "", "exit_code": null,
                "status": "in_progress"}})
        );
        let done = Event::TurnCompleted {
            usage: TokenUsage {
                input_tokens: 10,
                cached_input_tokens: 4,
                output_tokens: 2,
            },
        };
        assert_eq!(
            serde_json::to_value(&done).unwrap(),
            json!({"type": "turn.completed", "usage": {"input_tokens": 10,
                "cached_input_tokens": 4, "output_tokens": 2}})
        );
        let failed = Event::TurnFailed {
            error: ErrorInfo {
                message: "boom".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            json!({"type": "turn.failed", "error": {"message": "boom"}})
        );
        assert_eq!(
            serde_json::to_value(Event::TurnStarted {}).unwrap(),
            json!({"type": "turn.started"})
        );
        let approval = Event::ApprovalRequested(ApprovalRequest {
            id: "item_3".into(),
            kind: ApprovalKind::Command,
            command: "rm -rf build".into(),
            cwd: "/w".into(),
            reason: "not known to be read-only".into(),
        });
        assert_eq!(
            serde_json::to_value(&approval).unwrap(),
            json!({"type": "approval.requested", "id": "item_3", "kind": "command",
                "command": "rm -rf build", "cwd": "/w", "reason": "not known to be read-only"})
        );
    }

    #[test]
    fn response_items_round_trip() {
        let items = vec![
            ResponseItem::user("hi"),
            ResponseItem::FunctionCall {
                call_id: "c1".into(),
                name: "shell".into(),
                arguments: "{\"command\":[\"ls\"]}".into(),
            },
            ResponseItem::FunctionCallOutput {
                call_id: "c1".into(),
                output: "a\nb".into(),
                success: true,
            },
        ];
        for item in items {
            let text = serde_json::to_string(&item).unwrap();
            let back: ResponseItem = serde_json::from_str(&text).unwrap();
            assert_eq!(back, item);
        }
    }
}
