//! The tools ouro's model acts through.
//!
//! A model's function call becomes a [`PreparedCall`] in two steps so that the core can do
//! its part in between: [`prepare`] parses and checks the arguments (a bad call becomes an
//! error message for the model, never a failed turn) and tells whether the call only reads,
//! which decides whether it may run beside others; [`PreparedCall::execute`] then does the
//! work. Front-end items are derived from the same prepared call, so what a user sees is
//! exactly what ran.

pub mod apply_patch;
mod read_only;
pub mod search;
mod shell;
mod spec;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use ouro_protocol::{CommandStatus, FileUpdateChange, PatchStatus, ThreadItemDetails, ToolSpec};
pub use ouro_sandbox::SandboxMode;
pub use read_only::is_known_read_only;
pub use shell::ShellArgs;

/// What every tool needs to know about where and how it runs.
#[derive(Debug, Clone)]
pub struct ToolContext {
    pub cwd: PathBuf,
    pub sandbox: SandboxMode,
    /// Extra directories writable in `workspace-write` mode, besides `cwd`.
    pub writable_roots: Vec<PathBuf>,
    /// Whether sandboxed commands may use the network.
    pub network_access: bool,
    /// The ouro binary, which confines sandboxed commands (see `ouro_sandbox::helper_main`).
    pub sandbox_helper: PathBuf,
    /// The environment commands run with.
    pub env: Vec<(OsString, OsString)>,
    /// Bytes of command output sent back to the model.
    pub output_cap: usize,
    pub default_timeout: Duration,
}

impl ToolContext {
    /// Where files may be written in the current sandbox mode.
    pub fn writable_roots(&self) -> Vec<PathBuf> {
        match self.sandbox {
            SandboxMode::ReadOnly => Vec::new(),
            SandboxMode::WorkspaceWrite => {
                let mut roots = vec![self.cwd.clone()];
                roots.extend(self.writable_roots.iter().cloned());
                roots.push(std::env::temp_dir());
                roots
            }
            SandboxMode::DangerFullAccess => vec![PathBuf::from("/")],
        }
    }

    /// The kernel policy commands run under.
    pub fn sandbox_policy(&self) -> ouro_sandbox::SandboxPolicy {
        ouro_sandbox::SandboxPolicy {
            mode: self.sandbox,
            writable_roots: self.writable_roots(),
            network_access: self.network_access,
        }
    }
}

/// The tools offered to the model, always in this order (the prompt is append-only, so the
/// list must never change within a session).
pub fn specs() -> Vec<ToolSpec> {
    vec![spec::shell(), spec::apply_patch()]
}

/// A function call that has been parsed and checked, ready to run.
#[derive(Debug, Clone)]
pub enum PreparedCall {
    Shell(ShellArgs),
    ApplyPatch {
        patch: String,
        /// Where the patch's paths start, relative to the workspace (from a shell `cd`).
        workdir: Option<PathBuf>,
    },
    /// The call cannot run; the message goes back to the model.
    Invalid {
        message: String,
    },
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

/// Parses a model's function call.
pub fn prepare(name: &str, arguments: &str) -> PreparedCall {
    match name {
        "shell" => match shell::parse_args(arguments) {
            Ok(args) => match apply_patch::parse_shell_apply_patch(&args.command) {
                // `apply_patch <<'EOF' … EOF` through the shell goes through the same engine.
                Some(intercepted) => {
                    let dirs = [args.workdir, intercepted.workdir];
                    PreparedCall::ApplyPatch {
                        patch: intercepted.patch,
                        workdir: dirs
                            .into_iter()
                            .flatten()
                            .map(PathBuf::from)
                            .reduce(|a, b| a.join(b)),
                    }
                }
                None => PreparedCall::Shell(args),
            },
            Err(message) => PreparedCall::Invalid { message },
        },
        "apply_patch" => match spec::parse_apply_patch_args(arguments) {
            Ok(patch) => PreparedCall::ApplyPatch {
                patch,
                workdir: None,
            },
            Err(message) => PreparedCall::Invalid { message },
        },
        other => PreparedCall::Invalid {
            message: format!(
                "unknown tool `{other}`; the available tools are: {}",
                specs()
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    }
}

impl PreparedCall {
    /// True when running the call cannot change anything, so it may run concurrently with
    /// other read-only calls.
    pub fn is_read_only(&self) -> bool {
        match self {
            PreparedCall::Shell(args) => is_known_read_only(&args.command),
            PreparedCall::ApplyPatch { .. } => false,
            PreparedCall::Invalid { .. } => true,
        }
    }

    /// The in-progress item front ends show while the call runs.
    pub fn started_item(&self) -> Option<ThreadItemDetails> {
        match self {
            PreparedCall::Shell(args) => Some(ThreadItemDetails::CommandExecution {
                command: shell::display_command(&args.command),
                aggregated_output: String::new(),
                exit_code: None,
                status: CommandStatus::InProgress,
            }),
            PreparedCall::ApplyPatch { .. } | PreparedCall::Invalid { .. } => None,
        }
    }

    /// The item for a call that was not run because it was declined.
    pub fn declined(&self, reason: &str) -> ToolResult {
        let item = match self {
            PreparedCall::Shell(args) => Some(ThreadItemDetails::CommandExecution {
                command: shell::display_command(&args.command),
                aggregated_output: reason.to_string(),
                exit_code: None,
                status: CommandStatus::Declined,
            }),
            PreparedCall::ApplyPatch { .. } => Some(ThreadItemDetails::FileChange {
                changes: Vec::new(),
                status: PatchStatus::Failed,
            }),
            PreparedCall::Invalid { .. } => None,
        };
        ToolResult {
            output: reason.to_string(),
            success: false,
            item,
        }
    }

    pub async fn execute(&self, ctx: &ToolContext) -> ToolResult {
        match self {
            PreparedCall::Shell(args) => shell::run(args, ctx).await,
            PreparedCall::ApplyPatch { patch, workdir } => {
                let cwd = workdir
                    .as_ref()
                    .map_or(ctx.cwd.clone(), |dir| ctx.cwd.join(dir));
                run_apply_patch(patch, &cwd, ctx)
            }
            PreparedCall::Invalid { message } => ToolResult {
                output: message.clone(),
                success: false,
                item: None,
            },
        }
    }
}

fn run_apply_patch(patch: &str, cwd: &std::path::Path, ctx: &ToolContext) -> ToolResult {
    match apply_patch::apply_patch(patch, cwd, &ctx.writable_roots()) {
        Ok(outcome) => ToolResult {
            output: outcome.summary(),
            success: true,
            item: Some(ThreadItemDetails::FileChange {
                changes: outcome
                    .changes
                    .iter()
                    .map(|change| FileUpdateChange {
                        path: change
                            .move_to
                            .as_ref()
                            .unwrap_or(&change.path)
                            .display()
                            .to_string(),
                        kind: change.kind,
                    })
                    .collect(),
                status: PatchStatus::Completed,
            }),
        },
        Err(err) => ToolResult {
            output: format!("apply_patch failed: {err}"),
            success: false,
            item: Some(ThreadItemDetails::FileChange {
                changes: Vec::new(),
                status: PatchStatus::Failed,
            }),
        },
    }
}
