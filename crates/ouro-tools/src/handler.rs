//! The one interface every tool implements, and the registry that offers tools to the model.
//!
//! A tool is a [`ToolHandler`]: it names itself, describes itself with a JSON schema that is
//! generated from the very type its arguments are parsed into (so the model's documentation
//! and the parser cannot drift apart), and turns the model's raw arguments into an
//! [`Invocation`]. Splitting "parse" from "run" lets the core decide in between: whether the
//! call needs approval, and whether it may run beside other calls.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use ouro_protocol::{ApprovalKind, ThreadItemDetails, ToolSpec};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::{EditTool, ToolContext};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A tool the model can call.
pub trait ToolHandler: Send + Sync {
    fn spec(&self) -> ToolSpec;
    /// Parses and checks the model's arguments. An error is a message for the model.
    fn prepare(&self, arguments: &str) -> Result<Box<dyn Invocation>, String>;
}

/// A checked call, ready to run.
pub trait Invocation: Send + Sync + fmt::Debug {
    /// True when running it cannot change anything, so it may run beside other such calls
    /// and needs no approval.
    fn is_read_only(&self) -> bool;
    /// The in-progress item front ends show while it runs.
    fn started_item(&self) -> Option<ThreadItemDetails> {
        None
    }
    /// The item front ends show when it was not run.
    fn declined_item(&self, _reason: &str) -> Option<ThreadItemDetails> {
        None
    }
    /// What a person is asked about when it needs approval: the kind and a one-line
    /// description (the command, or the files a change touches).
    fn approval_subject(&self) -> (ApprovalKind, String);
    /// The model asked to run this outside the sandbox, with this justification.
    fn escalation(&self) -> Option<&str> {
        None
    }
    /// The command line, for calls that run one (judged by the command-safety classifier).
    fn command_argv(&self) -> Option<&[String]> {
        None
    }
    fn execute<'a>(&'a self, ctx: &'a ToolContext) -> BoxFuture<'a, ToolResult>;
}

/// What a finished call produced.
#[derive(Debug, Clone)]
pub struct ToolResult {
    /// The text the model reads.
    pub output: String,
    pub success: bool,
    /// The completed item front ends show, if the call has one.
    pub item: Option<ThreadItemDetails>,
}

/// Parses a tool's JSON arguments into its argument type, or explains what was expected.
pub fn parse_arguments<T: DeserializeOwned>(
    tool: &str,
    arguments: &str,
    example: &str,
) -> Result<T, String> {
    // Some models send nothing at all for a tool without required arguments.
    let arguments = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    serde_json::from_str(arguments)
        .map_err(|e| format!("invalid arguments for `{tool}`: {e}. Expected JSON like {example}"))
}

/// The spec of a tool whose arguments are `T`: the schema comes from `T` and its doc
/// comments. An empty `description` takes the doc comment of `T` itself.
pub fn spec_for<T: JsonSchema>(name: &str, description: &str) -> ToolSpec {
    let settings = schemars::generate::SchemaSettings::draft07().with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
    });
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut parameters = schema.to_value();
    let mut type_doc = None;
    if let Some(map) = parameters.as_object_mut() {
        // The type's Rust name is ours, not the model's; its doc becomes the description.
        map.remove("title");
        type_doc = map.remove("description");
    }
    let description = match (description, type_doc) {
        ("", Some(serde_json::Value::String(doc))) => doc,
        (given, _) => given.to_string(),
    };
    ToolSpec {
        name: name.to_string(),
        description,
        parameters,
    }
}

/// A function call that has been parsed and checked, or the reason it cannot run.
#[derive(Debug)]
pub struct PreparedCall(Result<Box<dyn Invocation>, String>);

impl PreparedCall {
    pub fn is_read_only(&self) -> bool {
        // A call that cannot run changes nothing.
        self.0.as_ref().map_or(true, |call| call.is_read_only())
    }

    pub fn started_item(&self) -> Option<ThreadItemDetails> {
        self.0.as_ref().ok().and_then(|call| call.started_item())
    }

    /// What a person would be asked about; `None` for a call that cannot run.
    pub fn approval_subject(&self) -> Option<(ApprovalKind, String)> {
        self.0.as_ref().ok().map(|call| call.approval_subject())
    }

    pub fn escalation(&self) -> Option<&str> {
        self.0.as_ref().ok().and_then(|call| call.escalation())
    }

    pub fn command_argv(&self) -> Option<&[String]> {
        self.0.as_ref().ok().and_then(|call| call.command_argv())
    }

    /// The result of not running the call, for `reason`.
    pub fn declined(&self, reason: &str) -> ToolResult {
        ToolResult {
            output: reason.to_string(),
            success: false,
            item: self
                .0
                .as_ref()
                .ok()
                .and_then(|call| call.declined_item(reason)),
        }
    }

    pub async fn execute(&self, ctx: &ToolContext) -> ToolResult {
        match &self.0 {
            Ok(call) => call.execute(ctx).await,
            Err(message) => ToolResult {
                output: message.clone(),
                success: false,
                item: None,
            },
        }
    }
}

/// Which tools a session offers. Each tool costs prompt tokens on every request and is one
/// more choice to get wrong; a small model does better with fewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolSet {
    pub edit: EditTool,
    /// `shell`'s `with_escalated_permissions` and `justification`: only of use when a person
    /// can approve a command outside the sandbox (approval policy `on-request`).
    pub escalation: bool,
    /// `list_dir`, `grep`, `find_files` and `update_plan` besides `shell`, `read_file` and
    /// the edit tools.
    pub full: bool,
}

/// The tools of a session, in the fixed order the model sees them.
pub struct ToolRegistry {
    handlers: Vec<(String, Box<dyn ToolHandler>)>,
}

impl ToolRegistry {
    /// Every tool, with `edit` deciding how files are edited.
    pub fn new(edit: EditTool) -> ToolRegistry {
        ToolRegistry::with(ToolSet {
            edit,
            escalation: true,
            full: true,
        })
    }

    /// The tools of `set`.
    pub fn with(set: ToolSet) -> ToolRegistry {
        let shell = crate::shell::ShellTool {
            escalation: set.escalation,
        };
        let mut handlers: Vec<Box<dyn ToolHandler>> = vec![Box::new(shell)];
        handlers.extend(crate::edit_tools::for_mode(set.edit));
        let [read_file, rest @ ..] = crate::search_tools::all();
        handlers.push(read_file);
        if set.full {
            handlers.extend(rest);
            handlers.push(Box::new(crate::plan::UpdatePlanTool));
        }
        ToolRegistry {
            handlers: handlers
                .into_iter()
                .map(|handler| (handler.spec().name, handler))
                .collect(),
        }
    }

    pub fn specs(&self) -> Vec<ToolSpec> {
        self.handlers.iter().map(|(_, h)| h.spec()).collect()
    }

    /// Parses a model's function call.
    pub fn prepare(&self, name: &str, arguments: &str) -> PreparedCall {
        match self.handlers.iter().find(|(n, _)| n == name) {
            Some((_, handler)) => PreparedCall(handler.prepare(arguments)),
            None => PreparedCall(Err(format!(
                "unknown tool `{name}`; the available tools are: {}",
                self.handlers
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(registry: &ToolRegistry) -> Vec<String> {
        registry.specs().into_iter().map(|spec| spec.name).collect()
    }

    #[test]
    fn tool_sets_offer_what_they_say() {
        let full = ToolRegistry::new(EditTool::Edit);
        assert_eq!(
            names(&full),
            [
                "shell",
                "edit_file",
                "write_file",
                "read_file",
                "list_dir",
                "grep",
                "find_files",
                "update_plan"
            ]
        );
        let basic = ToolRegistry::with(ToolSet {
            edit: EditTool::Whole,
            escalation: false,
            full: false,
        });
        assert_eq!(names(&basic), ["shell", "write_file", "read_file"]);
        // A tool left out is unknown, and the model is told which there are.
        let err = format!("{:?}", basic.prepare("grep", "{}"));
        assert!(err.contains("shell, write_file, read_file"), "{err}");
    }
}
