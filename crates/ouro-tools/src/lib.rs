//! The tools ouro's model acts through.
//!
//! Every tool implements [`ToolHandler`]; a [`ToolRegistry`] holds a session's tools in a
//! fixed order. A model's function call becomes a [`PreparedCall`] in two steps so that the
//! core can do its part in between: [`ToolRegistry::prepare`] parses and checks the
//! arguments (a bad call becomes an error message for the model, never a failed turn) and
//! tells whether the call only reads, which decides whether it may run beside others and
//! whether it needs approval; [`PreparedCall::execute`] then does the work. Front-end items
//! are derived from the same prepared call, so what a user sees is exactly what ran.

pub mod apply_patch;
mod approval;
mod edit_tools;
mod handler;
mod plan;
mod read_only;
pub mod safety;
pub mod search;
mod search_tools;
mod shell;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use approval::ApprovalPolicy;
pub use handler::{
    parse_arguments, spec_for, BoxFuture, Invocation, PreparedCall, ToolHandler, ToolRegistry,
    ToolResult, ToolSet,
};
pub use ouro_sandbox::{SandboxMode, SandboxPolicy};
pub use read_only::is_known_read_only;
pub use shell::ShellArgs;

/// How the model edits files. Model families are trained on different formats, so this is
/// chosen per family (and measured, not guessed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditTool {
    /// `apply_patch` with the Codex patch format (OpenAI's coding models).
    ApplyPatch,
    /// `edit_file` (exact string replacement) and `write_file` (whole files).
    Edit,
    /// `write_file` only: the model rewrites whole files.
    Whole,
}

/// What every tool needs to know about where and how it runs.
#[derive(Debug, Clone)]
pub struct ToolContext {
    pub cwd: PathBuf,
    /// The kernel policy commands run under; file edits honour its writable roots too.
    pub sandbox_policy: SandboxPolicy,
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
        match self.sandbox_policy.mode {
            SandboxMode::ReadOnly => Vec::new(),
            SandboxMode::WorkspaceWrite => self.sandbox_policy.writable_roots.clone(),
            SandboxMode::DangerFullAccess => vec![PathBuf::from("/")],
        }
    }
}
