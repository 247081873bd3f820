//! The instructions of a session: the base prompt plus the environment it runs in.
//!
//! Computed once when a session is created and stored in its rollout; every request of the
//! session (including after a resume) sends exactly the same text, which keeps prompt caches
//! warm. Settings that change later are told to the model as new messages instead.

use chrono::{DateTime, Utc};
use ouro_tools::EditTool;
use serde::Deserialize;

use crate::config::{Config, ConfigError};

/// Which base prompt a model gets. Model families differ in what they follow well: small
/// local models need a short, concrete prompt. Chosen per wire format by default
/// (`instructions_family` overrides), to be settled by measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptFamily {
    Default,
    Small,
}

fn family_prompt(family: PromptFamily) -> &'static str {
    match family {
        PromptFamily::Default => include_str!("../prompts/default.md"),
        PromptFamily::Small => include_str!("../prompts/small.md"),
    }
}

/// How to edit files with the tools this session offers.
fn edit_hint(edit: EditTool) -> &'static str {
    match edit {
        EditTool::ApplyPatch => "Edit files with `apply_patch`.",
        EditTool::Edit => {
            "Edit files with `edit_file` (exact text replacement) and create them with `write_file`."
        }
        EditTool::Whole => "Create and change files with `write_file`, giving the whole file.",
    }
}

/// The session's instructions: the base prompt (the family's, or `instructions_file`), how
/// to edit, and the environment.
pub fn instructions(config: &Config, now: DateTime<Utc>) -> Result<String, ConfigError> {
    let base = match &config.instructions_file {
        Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?,
        None => family_prompt(config.prompt_family).to_string(),
    };
    Ok(format!(
        "{}\n{}\n\n{}",
        base.trim_end(),
        edit_hint(config.edit_tool),
        environment_context(config, now)
    ))
}

/// The settings the model must know to act sensibly, in a tagged block.
pub fn environment_context(config: &Config, now: DateTime<Utc>) -> String {
    let shell = std::env::var("SHELL").unwrap_or_else(|_| "bash".into());
    let network = if config.sandbox_workspace_write.network_access {
        "enabled"
    } else {
        "restricted"
    };
    format!(
        "<environment_context>\n  <cwd>{}</cwd>\n  <approval_policy>{}</approval_policy>\n  \
         <sandbox_mode>{}</sandbox_mode>\n  <network_access>{network}</network_access>\n  \
         <shell>{shell}</shell>\n  <os>{} {}</os>\n  <date>{}</date>\n</environment_context>\n",
        config.cwd.display(),
        config.approval_policy.as_str(),
        config.sandbox_mode,
        std::env::consts::OS,
        std::env::consts::ARCH,
        now.format("%Y-%m-%d"),
    )
}

/// The lines of the environment block that differ between two renderings, for telling a
/// resumed session what changed (the date is not news).
pub fn changed_settings(before: &str, after: &str) -> Vec<String> {
    let old: Vec<&str> = before.lines().collect();
    after
        .lines()
        .filter(|line| line.trim_start().starts_with('<') && !line.contains("<date>"))
        .filter(|line| !old.contains(line))
        .map(|line| line.trim().to_string())
        .collect()
}
