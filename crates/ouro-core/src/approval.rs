//! Asking a person before the harness runs something.
//!
//! Front ends that can ask (the TUI, the web UI) give the session an [`Approver`]; `ouro
//! exec` gives none, and then every request is denied and the model is told why. Either
//! way the request is emitted as an `approval.requested` event, so what was asked is
//! visible and recorded.

use ouro_protocol::{ApprovalDecision, ApprovalRequest};
use ouro_tools::BoxFuture;

/// Someone who can answer approval requests.
pub trait Approver: Send + Sync {
    fn decide<'a>(&'a self, request: &'a ApprovalRequest) -> BoxFuture<'a, ApprovalDecision>;
}

/// Outputs that mean the sandbox, not the command, stopped it.
const SANDBOX_DENIALS: [&str; 6] = [
    "Permission denied",
    "Operation not permitted",
    "Read-only file system",
    "Network is unreachable",
    "Could not resolve host",
    "Temporary failure in name resolution",
];

/// Whether a failed command's output looks like the sandbox blocked it.
pub(crate) fn blocked_by_sandbox(output: &str) -> bool {
    SANDBOX_DENIALS.iter().any(|denial| output.contains(denial))
}
