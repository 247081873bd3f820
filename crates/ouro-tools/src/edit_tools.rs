//! The file-editing tools. All of them go through the apply_patch engine, so they share its
//! guarantees: writable-roots checks, all-or-nothing atomic writes, kept permissions and
//! line endings, and errors written for the model.

use std::path::{Path, PathBuf};

use ouro_protocol::{ApprovalKind, FileUpdateChange, PatchStatus, ThreadItemDetails};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::apply_patch::{self, ApplyOutcome, PatchError};
use crate::SandboxMode;
use crate::{
    parse_arguments, spec_for, BoxFuture, EditTool, Invocation, ToolContext, ToolHandler,
    ToolResult,
};

const PATCH_DESCRIPTION: &str = r#"Edits files with a patch. The whole patch applies or nothing does.
Format:
*** Begin Patch
*** Add File: path/to/new.txt
+each line of the new file, prefixed with +
*** Update File: path/to/existing.rs
*** Move to: path/to/renamed.rs   (optional)
@@ fn name_of_enclosing_function   (optional anchor)
 unchanged context line (prefix: one space)
-line to remove
+line to add
*** Delete File: path/to/obsolete.txt
*** End Patch
Give about three lines of context around each change; paths are relative to the workspace root."#;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ApplyPatchArgs {
    /// The entire patch, from *** Begin Patch to *** End Patch.
    input: String,
}

/// The editing tools offered for an [`EditTool`] mode, in order.
pub(crate) fn for_mode(mode: EditTool) -> Vec<Box<dyn ToolHandler>> {
    match mode {
        EditTool::ApplyPatch => vec![Box::new(ApplyPatchTool)],
        EditTool::Edit => vec![Box::new(EditFileTool), Box::new(WriteFileTool)],
        EditTool::Whole => vec![Box::new(WriteFileTool)],
    }
}

pub(crate) struct ApplyPatchTool;

impl ToolHandler for ApplyPatchTool {
    fn spec(&self) -> ouro_protocol::ToolSpec {
        spec_for::<ApplyPatchArgs>("apply_patch", PATCH_DESCRIPTION)
    }

    fn prepare(&self, arguments: &str) -> Result<Box<dyn Invocation>, String> {
        let args: ApplyPatchArgs = parse_arguments(
            "apply_patch",
            arguments,
            r#"{"input": "*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch"}"#,
        )?;
        Ok(Box::new(FileEdit::Patch {
            patch: args.input,
            workdir: None,
        }))
    }
}

/// Replace an exact piece of text in a file. `old_string` must occur exactly once (give
/// enough surrounding lines to make it unique) unless `replace_all` is set. Read the file
/// first; copy the text exactly, indentation included.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EditFileArgs {
    /// The file to edit, relative to the workspace root.
    path: String,
    /// The exact text to replace.
    old_string: String,
    /// The text to put in its place.
    new_string: String,
    /// Replace every occurrence instead of exactly one (default false).
    #[serde(default)]
    replace_all: Option<bool>,
}

/// Write a whole file, creating it (and its directories) if it does not exist or replacing
/// all of its content if it does.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WriteFileArgs {
    /// The file to write, relative to the workspace root.
    path: String,
    /// The complete new content of the file.
    content: String,
}

pub(crate) struct EditFileTool;

impl ToolHandler for EditFileTool {
    fn spec(&self) -> ouro_protocol::ToolSpec {
        spec_for::<EditFileArgs>("edit_file", "")
    }

    fn prepare(&self, arguments: &str) -> Result<Box<dyn Invocation>, String> {
        let args: EditFileArgs = parse_arguments(
            "edit_file",
            arguments,
            r#"{"path": "src/lib.rs", "old_string": "let x = 1;", "new_string": "let x = 2;"}"#,
        )?;
        Ok(Box::new(FileEdit::Replace {
            path: args.path,
            old_string: args.old_string,
            new_string: args.new_string,
            replace_all: args.replace_all.unwrap_or(false),
        }))
    }
}

pub(crate) struct WriteFileTool;

impl ToolHandler for WriteFileTool {
    fn spec(&self) -> ouro_protocol::ToolSpec {
        spec_for::<WriteFileArgs>("write_file", "")
    }

    fn prepare(&self, arguments: &str) -> Result<Box<dyn Invocation>, String> {
        let args: WriteFileArgs = parse_arguments(
            "write_file",
            arguments,
            r#"{"path": "hello.py", "content": "print('hello')\n"}"#,
        )?;
        Ok(Box::new(FileEdit::Write {
            path: args.path,
            content: args.content,
        }))
    }
}

/// One checked file edit, of any of the editing tools.
#[derive(Debug)]
pub(crate) enum FileEdit {
    Patch {
        patch: String,
        /// Where the patch's paths start, relative to the workspace (from a shell `cd`).
        workdir: Option<PathBuf>,
    },
    Replace {
        path: String,
        old_string: String,
        new_string: String,
        replace_all: bool,
    },
    Write {
        path: String,
        content: String,
    },
}

impl FileEdit {
    /// The paths this edit writes, as written, with the directory they are relative to.
    fn targets(&self, ctx: &ToolContext) -> (PathBuf, Vec<String>) {
        match self {
            FileEdit::Patch { patch, workdir } => {
                let cwd = workdir
                    .as_deref()
                    .map_or(ctx.cwd.clone(), |dir| ctx.cwd.join(dir));
                let paths = apply_patch::parse_patch(patch)
                    .map(|parsed| {
                        parsed
                            .ops
                            .iter()
                            .flat_map(|op| {
                                let moved = match op {
                                    apply_patch::FileOp::Update { move_to, .. } => move_to.clone(),
                                    _ => None,
                                };
                                std::iter::once(op.path().to_string()).chain(moved)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (cwd, paths)
            }
            FileEdit::Replace { path, .. } | FileEdit::Write { path, .. } => {
                (ctx.cwd.clone(), vec![path.clone()])
            }
        }
    }

    fn apply(&self, ctx: &ToolContext) -> Result<ApplyOutcome, PatchError> {
        // What the sandbox keeps read-only for commands (a workspace's `.git`) stays
        // read-only for edits too.
        if ctx.sandbox_policy.mode == SandboxMode::WorkspaceWrite {
            let (cwd, paths) = self.targets(ctx);
            apply_patch::check_protected(
                paths.iter().map(String::as_str),
                &cwd,
                &ctx.sandbox_policy.read_only_paths,
            )?;
        }
        let roots = ctx.writable_roots();
        match self {
            FileEdit::Patch { patch, workdir } => {
                let cwd = workdir
                    .as_deref()
                    .map_or(ctx.cwd.clone(), |dir| ctx.cwd.join(dir));
                apply_patch::apply_patch(patch, &cwd, &roots)
            }
            FileEdit::Replace {
                path,
                old_string,
                new_string,
                replace_all,
            } => {
                apply_patch::edit_file(path, old_string, new_string, *replace_all, &ctx.cwd, &roots)
            }
            FileEdit::Write { path, content } => {
                apply_patch::write_file(path, content, &ctx.cwd, &roots)
            }
        }
    }

    fn tool_name(&self) -> &'static str {
        match self {
            FileEdit::Patch { .. } => "apply_patch",
            FileEdit::Replace { .. } => "edit_file",
            FileEdit::Write { .. } => "write_file",
        }
    }
}

impl Invocation for FileEdit {
    fn is_read_only(&self) -> bool {
        false
    }

    fn approval_subject(&self) -> (ApprovalKind, String) {
        let files = match self {
            FileEdit::Patch { patch, .. } => match apply_patch::parse_patch(patch) {
                Ok(parsed) => parsed
                    .ops
                    .iter()
                    .map(|op| op.path().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                Err(_) => "a patch that does not parse".to_string(),
            },
            FileEdit::Replace { path, .. } | FileEdit::Write { path, .. } => path.clone(),
        };
        (ApprovalKind::FileChange, format!("edit {files}"))
    }

    fn declined_item(&self, _reason: &str) -> Option<ThreadItemDetails> {
        Some(ThreadItemDetails::FileChange {
            changes: Vec::new(),
            status: PatchStatus::Failed,
        })
    }

    fn execute<'a>(&'a self, ctx: &'a ToolContext) -> BoxFuture<'a, ToolResult> {
        Box::pin(async move { outcome_result(self.tool_name(), self.apply(ctx), &ctx.cwd) })
    }
}

/// The model's view and the front ends' view of an edit's outcome.
fn outcome_result(tool: &str, outcome: Result<ApplyOutcome, PatchError>, cwd: &Path) -> ToolResult {
    match outcome {
        Ok(outcome) => ToolResult {
            output: outcome.summary(),
            success: true,
            item: Some(ThreadItemDetails::FileChange {
                changes: outcome
                    .changes
                    .iter()
                    .map(|change| {
                        let path = change.move_to.as_ref().unwrap_or(&change.path);
                        FileUpdateChange {
                            path: path.strip_prefix(cwd).unwrap_or(path).display().to_string(),
                            kind: change.kind,
                            diff: Some(change.unified_diff.clone()),
                        }
                    })
                    .collect(),
                status: PatchStatus::Completed,
            }),
        },
        Err(err) => ToolResult {
            output: format!("{tool} failed: {err}"),
            success: false,
            item: Some(ThreadItemDetails::FileChange {
                changes: Vec::new(),
                status: PatchStatus::Failed,
            }),
        },
    }
}
