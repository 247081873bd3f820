//! The read-only tools (`read_file`, `list_dir`, `grep`, `find_files`) as handlers: each
//! parses its argument type, runs its blocking search off the async runtime, and shows up
//! in front ends as a `tool_call` item.

use std::fmt;
use std::path::Path;

use ouro_protocol::{ApprovalKind, ThreadItemDetails, ToolCallStatus, ToolSpec};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::search::{self, FindFilesArgs, GrepArgs, ListDirArgs, ReadFileArgs};
use crate::{
    parse_arguments, spec_for, BoxFuture, Invocation, ToolContext, ToolHandler, ToolResult,
};

type Search<A> = fn(&A, &Path) -> Result<String, String>;

/// One read-only tool: its name, an example of its arguments, and the search it runs.
pub(crate) struct SearchTool<A> {
    name: &'static str,
    example: &'static str,
    run: Search<A>,
}

pub(crate) fn all() -> [Box<dyn ToolHandler>; 4] {
    [
        Box::new(SearchTool::<ReadFileArgs> {
            name: "read_file",
            example: r#"{"path": "src/main.rs", "offset": 1, "limit": 200}"#,
            run: search::read_file,
        }),
        Box::new(SearchTool::<ListDirArgs> {
            name: "list_dir",
            example: r#"{"path": "src", "depth": 2}"#,
            run: search::list_dir,
        }),
        Box::new(SearchTool::<GrepArgs> {
            name: "grep",
            example: r#"{"pattern": "fn main", "glob": "*.rs"}"#,
            run: search::grep,
        }),
        Box::new(SearchTool::<FindFilesArgs> {
            name: "find_files",
            example: r#"{"query": "handler"}"#,
            run: search::find_files,
        }),
    ]
}

impl<A> ToolHandler for SearchTool<A>
where
    A: DeserializeOwned + JsonSchema + Clone + fmt::Debug + Send + Sync + 'static,
{
    fn spec(&self) -> ToolSpec {
        // The description is the argument type's doc comment.
        spec_for::<A>(self.name, "")
    }

    fn prepare(&self, arguments: &str) -> Result<Box<dyn Invocation>, String> {
        let args: A = parse_arguments(self.name, arguments, self.example)?;
        let shown = serde_json::from_str(arguments).unwrap_or(serde_json::Value::Null);
        Ok(Box::new(SearchCall {
            name: self.name,
            args,
            shown,
            run: self.run,
        }))
    }
}

struct SearchCall<A> {
    name: &'static str,
    args: A,
    /// The arguments as the model wrote them, for front ends.
    shown: serde_json::Value,
    run: Search<A>,
}

impl<A: fmt::Debug> fmt::Debug for SearchCall<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({:?})", self.name, self.args)
    }
}

impl<A> SearchCall<A> {
    fn item(&self, status: ToolCallStatus) -> ThreadItemDetails {
        ThreadItemDetails::ToolCall {
            tool: self.name.to_string(),
            arguments: self.shown.clone(),
            status,
        }
    }
}

impl<A> Invocation for SearchCall<A>
where
    A: Clone + fmt::Debug + Send + Sync + 'static,
{
    fn is_read_only(&self) -> bool {
        true
    }

    fn started_item(&self) -> Option<ThreadItemDetails> {
        Some(self.item(ToolCallStatus::InProgress))
    }

    fn approval_subject(&self) -> (ApprovalKind, String) {
        (
            ApprovalKind::Command,
            format!("{} {}", self.name, self.shown),
        )
    }

    fn execute<'a>(&'a self, ctx: &'a ToolContext) -> BoxFuture<'a, ToolResult> {
        let (args, cwd, run) = (self.args.clone(), ctx.cwd.clone(), self.run);
        Box::pin(async move {
            let outcome = tokio::task::spawn_blocking(move || run(&args, &cwd))
                .await
                .unwrap_or_else(|e| Err(format!("the {} tool failed: {e}", self.name)));
            let (output, success) = match outcome {
                Ok(text) => (text, true),
                Err(message) => (message, false),
            };
            let status = if success {
                ToolCallStatus::Completed
            } else {
                ToolCallStatus::Failed
            };
            ToolResult {
                output,
                success,
                item: Some(self.item(status)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_carry_the_argument_docs() {
        for handler in all() {
            let spec = handler.spec();
            assert!(
                spec.description.len() > 40,
                "{} has no description",
                spec.name
            );
            assert_eq!(
                spec.parameters["additionalProperties"], false,
                "{}",
                spec.name
            );
        }
    }
}
