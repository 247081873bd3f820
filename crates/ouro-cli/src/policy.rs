//! `ouro policy check` and `ouro rules check`: what ouro would do with a command, and why.
//!
//! Both print data, not verdicts on themselves: they exit 0 whatever the decision, and 2 on
//! bad usage or a rules file that does not parse.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use ouro_core::{ApprovalPolicy, SandboxMode};
use ouro_tools::safety::{self, Rules};
use serde_json::json;

use crate::exit;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Print what ouro would do with a command (allow, prompt or forbid) and why.
    Check(PolicyCheckArgs),
}

#[derive(Args)]
pub struct PolicyCheckArgs {
    /// Print {"decision": "allow"|"prompt"|"forbid", "reason": …}.
    #[arg(long)]
    json: bool,
    /// Approval policy: untrusted, on-failure, on-request or never.
    #[arg(
        short = 'a',
        long = "ask-for-approval",
        value_name = "POLICY",
        default_value = "untrusted",
        value_parser = parse_approval
    )]
    approval: ApprovalPolicy,
    /// Sandbox mode: read-only, workspace-write or danger-full-access.
    #[arg(
        short = 's',
        long = "sandbox",
        value_name = "MODE",
        default_value = "workspace-write",
        value_parser = parse_sandbox
    )]
    sandbox: SandboxMode,
    /// The workspace (default: the current directory); its .ouro/rules.toml applies.
    #[arg(short = 'C', long = "cd", value_name = "DIR")]
    cd: Option<PathBuf>,
    /// The command as the shell tool receives it, e.g. `-- bash -lc 'ls | head'`; a single
    /// string with spaces is run through `bash -lc`, as the shell tool does.
    #[arg(last = true, required = true, value_name = "ARGV")]
    command: Vec<String>,
}

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Explain which rule matches a command, or what the classifier says when none does.
    Check(RulesCheckArgs),
}

#[derive(Args)]
pub struct RulesCheckArgs {
    /// Print the explanation as JSON.
    #[arg(long)]
    json: bool,
    /// The workspace (default: the current directory); its .ouro/rules.toml applies.
    #[arg(short = 'C', long = "cd", value_name = "DIR")]
    cd: Option<PathBuf>,
    /// The command, as for `ouro policy check`.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

fn parse_sandbox(s: &str) -> Result<SandboxMode, String> {
    s.parse()
}

fn parse_approval(s: &str) -> Result<ApprovalPolicy, String> {
    s.parse()
}

pub fn policy_main(command: PolicyCommand) -> u8 {
    match command {
        PolicyCommand::Check(args) => policy_check(&args),
    }
}

pub fn rules_main(command: RulesCommand) -> u8 {
    match command {
        RulesCommand::Check(args) => rules_check(&args),
    }
}

/// The argv the shell tool would see: a lone string with spaces becomes `bash -lc STRING`.
fn shell_argv(command: &[String]) -> Vec<String> {
    match command {
        [script] if script.contains(char::is_whitespace) => {
            vec!["bash".into(), "-lc".into(), script.clone()]
        }
        _ => command.to_vec(),
    }
}

/// The user's and the workspace's rules files, in that order.
fn rules_paths(workspace: &Path) -> Result<Vec<PathBuf>, String> {
    let home = ouro_core::config::default_ouro_home().map_err(|e| e.to_string())?;
    Ok(vec![
        home.join("rules.toml"),
        workspace.join(".ouro").join("rules.toml"),
    ])
}

/// The workspace (absolute) and the rules in force there.
fn load(cd: Option<&Path>) -> Result<(PathBuf, Vec<PathBuf>, Rules), String> {
    let here =
        std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let dir = match cd {
        Some(dir) => here.join(dir),
        None => here,
    };
    let workspace = dir
        .canonicalize()
        .map_err(|e| format!("workspace {}: {e}", dir.display()))?;
    let paths = rules_paths(&workspace)?;
    let home = ouro_core::config::default_ouro_home().map_err(|e| e.to_string())?;
    let rules = Rules::for_workspace(&home, &workspace)?;
    Ok((workspace, paths, rules))
}

fn policy_check(args: &PolicyCheckArgs) -> u8 {
    let (workspace, _, rules) = match load(args.cd.as_deref()) {
        Ok(loaded) => loaded,
        Err(message) => {
            eprintln!("ouro policy: {message}");
            return exit::USAGE;
        }
    };
    let argv = shell_argv(&args.command);
    let assessment = safety::assess(&argv, &workspace, &rules);
    let decided = safety::decide(&assessment, args.approval, args.sandbox);
    if args.json {
        println!(
            "{}",
            json!({"decision": decided.decision, "reason": decided.reason})
        );
    } else {
        println!("{}: {}", decided.decision, decided.reason);
    }
    exit::OK
}

fn rules_check(args: &RulesCheckArgs) -> u8 {
    let (workspace, paths, rules) = match load(args.cd.as_deref()) {
        Ok(loaded) => loaded,
        Err(message) => {
            eprintln!("ouro rules: {message}");
            return exit::USAGE;
        }
    };
    let argv = shell_argv(&args.command);
    let explanation = safety::explain(&argv, &workspace, Some(&rules));
    let classifier = safety::classify(&argv, &workspace);
    let matches: Vec<_> = explanation
        .commands
        .iter()
        .filter_map(|c| c.rule.as_ref().map(|rule| (c, rule)))
        .collect();
    if args.json {
        let matches: Vec<_> = matches
            .iter()
            .map(|(c, rule)| {
                json!({
                    "command": c.argv,
                    "source": rule.source.display().to_string(),
                    "line": rule.line,
                    "pattern": rule.pattern,
                    "decision": rule.decision,
                    "reason": rule.reason,
                    "classifier": c.classifier,
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "rules_files": paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                "rules": rules.rules().len(),
                "matches": matches,
                "classifier": classifier,
                "decision": explanation.assessment.decision,
                "reason": explanation.assessment.reason,
            })
        );
        return exit::OK;
    }
    let files: Vec<String> = paths
        .iter()
        .map(|p| {
            let count = rules.rules().iter().filter(|r| &r.source == p).count();
            if p.exists() {
                format!("{} ({count} rules)", p.display())
            } else {
                format!("{} (absent)", p.display())
            }
        })
        .collect();
    println!("rules files: {}", files.join(", "));
    if matches.is_empty() {
        println!(
            "no rule matched; the classifier says {}: {}",
            classifier.decision, classifier.reason
        );
    }
    for (command, rule) in &matches {
        println!(
            "`{}` matched the rule at {}:{}, pattern {}: {} ({}); the classifier alone says {}",
            command.argv.join(" "),
            rule.source.display(),
            rule.line,
            rule.pattern,
            rule.decision,
            rule.reason,
            command.classifier.decision,
        );
    }
    println!(
        "decision: {}: {}",
        explanation.assessment.decision, explanation.assessment.reason
    );
    exit::OK
}
