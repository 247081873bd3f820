//! Approval policies: when the model's actions need a person's yes.

use serde::de::value::StrDeserializer;
use serde::{Deserialize, Serialize};

/// When the model's actions need a person's yes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalPolicy {
    /// Only commands known to be read-only run without asking.
    Untrusted,
    /// Run in the sandbox; ask to re-run outside it when the sandbox blocked a command.
    OnFailure,
    /// Run in the sandbox; the model may ask for more.
    OnRequest,
    /// Never ask; failures go back to the model.
    #[default]
    Never,
}

impl ApprovalPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalPolicy::Untrusted => "untrusted",
            ApprovalPolicy::OnFailure => "on-failure",
            ApprovalPolicy::OnRequest => "on-request",
            ApprovalPolicy::Never => "never",
        }
    }
}

impl std::str::FromStr for ApprovalPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ApprovalPolicy::deserialize(StrDeserializer::<serde::de::value::Error>::new(s))
            .map_err(|_| {
                format!("unknown approval policy `{s}`; expected one of: untrusted, on-failure, on-request, never")
            })
    }
}
