//! The instructions of a session: the base prompt plus the environment it runs in.
//!
//! Computed once when a session is created and stored in its rollout; every request of the
//! session (including after a resume) sends exactly the same text, which keeps prompt caches
//! warm. Settings that change later are told to the model as new messages instead.

use chrono::{DateTime, Utc};

use crate::config::Config;

const BASE_INSTRUCTIONS: &str = include_str!("../prompts/base.md");

pub fn instructions(config: &Config, now: DateTime<Utc>) -> String {
    format!("{BASE_INSTRUCTIONS}\n{}", environment_context(config, now))
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
