//! Command safety: is a shell command read-only, does it need a person's yes, or must it never
//! run?
//!
//! [`classify`] parses the command the `shell` tool received with tree-sitter-bash — through
//! `bash -lc "…"` and `sh -c` recursively, pipelines, lists, subshells, command and process
//! substitutions, here-documents, wrappers such as `env`, `sudo`, `xargs`, `timeout` — into
//! simple commands, judges each one, and keeps the strictest judgement:
//!
//! - [`Decision::Allow`]: every part is known to only read (`ls`, `rg`, `git status`, …);
//! - [`Decision::Prompt`]: anything else, including whatever the parser cannot follow or whose
//!   shape is unusual (`eval`, a command name built at run time, a script read from a pipe);
//! - [`Decision::Forbid`]: destructive beyond the workspace or beyond recovery (`rm -rf ~`,
//!   `git push --force`, `dd of=/dev/sda`, `curl … | sh`, fork bombs, …).
//!
//! [`Rules`] from `rules.toml` files adjust the judgement of single simple commands;
//! [`assess`] combines both, and [`decide`] turns an assessment into what ouro does under an
//! approval policy and sandbox mode.

mod analyze;
mod commands;
mod git;
mod paths;
mod rules;
mod sed;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::{ApprovalPolicy, SandboxMode};
pub use rules::{RuleMatch, Rules};

/// What to do with a command, ordered by strictness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Run without asking.
    Allow,
    /// Ask a person first.
    Prompt,
    /// Never run.
    Forbid,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Prompt => "prompt",
            Decision::Forbid => "forbid",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Decision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "allow" => Ok(Decision::Allow),
            "prompt" => Ok(Decision::Prompt),
            "forbid" => Ok(Decision::Forbid),
            _ => Err(format!(
                "unknown decision `{s}`; expected one of: allow, prompt, forbid"
            )),
        }
    }
}

/// A decision and why: the reason names the simple command that decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub decision: Decision,
    pub reason: String,
}

/// One simple command found in a command line, as [`explain`] reports it.
#[derive(Debug, Clone)]
pub struct CommandTrace {
    /// Its words, quotes removed (expansions shown as written).
    pub argv: Vec<String>,
    /// What the classifier alone says about it (including what it wraps, for `sudo`,
    /// `bash -c`, …).
    pub classifier: Assessment,
    /// The rule that matched it, if any.
    pub rule: Option<RuleMatch>,
    /// The judgement of this command after the rule.
    pub decision: Decision,
}

/// Everything [`assess`] looked at, for `ouro rules check`.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub assessment: Assessment,
    /// Every simple command, outermost first within each (so `sudo rm x` lists `sudo rm x`
    /// and then `rm x`).
    pub commands: Vec<CommandTrace>,
}

/// Classifies `argv` as the `shell` tool receives it, in `workspace` (absolute).
pub fn classify(argv: &[String], workspace: &Path) -> Assessment {
    explain(argv, workspace, None).assessment
}

/// [`classify`], with `rules` deciding for the simple commands they match — except that a
/// rule's allow cannot lower a classifier forbid below prompt.
pub fn assess(argv: &[String], workspace: &Path, rules: &Rules) -> Assessment {
    explain(argv, workspace, Some(rules)).assessment
}

/// [`assess`] (or [`classify`] without rules), with every simple command it judged.
pub fn explain(argv: &[String], workspace: &Path, rules: Option<&Rules>) -> Explanation {
    let mut analyzer = analyze::Analyzer::new(workspace, rules);
    let assessment = analyzer.run(argv);
    Explanation {
        assessment,
        commands: analyzer.into_trace(),
    }
}

/// What ouro does with a command under an approval policy and sandbox mode:
///
/// - `untrusted`: allow only what the assessment allows; forbid stays forbid; else prompt;
/// - `on-request` / `on-failure`: forbid stays forbid (never auto-approved); everything else
///   is allowed, because it runs in the sandbox;
/// - `never`: forbid stays forbid, except with `danger-full-access`, where the user opted out
///   of every guard; everything else is allowed.
pub fn decide(assessment: &Assessment, policy: ApprovalPolicy, mode: SandboxMode) -> Assessment {
    let reason = &assessment.reason;
    let (decision, reason) = match (assessment.decision, policy) {
        (Decision::Forbid, ApprovalPolicy::Never) if mode == SandboxMode::DangerFullAccess => (
            Decision::Allow,
            format!(
                "{reason} (forbidden by the classifier, but approval policy `never` with \
                 `danger-full-access` turns every guard off)"
            ),
        ),
        (Decision::Forbid, _) => (Decision::Forbid, reason.clone()),
        (Decision::Allow, _) => (Decision::Allow, reason.clone()),
        (Decision::Prompt, ApprovalPolicy::Untrusted) => (Decision::Prompt, reason.clone()),
        (Decision::Prompt, policy) => (
            Decision::Allow,
            format!(
                "{reason} (allowed: approval policy `{}` runs it in the `{}` sandbox)",
                policy.as_str(),
                mode.as_str()
            ),
        ),
    };
    Assessment { decision, reason }
}
