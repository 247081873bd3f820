//! The `ouro` binary.
//!
//! Exit status, for scripts: 0 the task's turn completed; 1 the turn failed (model or
//! provider error, or the session file could not be written); 2 bad usage or configuration;
//! 130 interrupted (Ctrl-C or SIGTERM) — the session is recorded and can be resumed.

mod exec;
mod model;
mod policy;
mod sessions;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ouro_core::{ApprovalPolicy, SandboxMode};

/// Exit statuses (see the module docs).
pub mod exit {
    pub const OK: u8 = 0;
    pub const TURN_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Parser)]
#[command(
    name = "ouro",
    version,
    about = "An autonomous coding agent for the terminal.",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one task to completion without interaction.
    Exec(exec::ExecArgs),
    /// List and inspect recorded sessions.
    Sessions {
        #[command(subcommand)]
        command: sessions::SessionsCommand,
    },
    /// Run a command under the sandbox the model's commands get, to see what it allows.
    Sandbox {
        #[command(flatten)]
        config: ConfigArgs,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Local model files: pull, list, rm, info.
    Model {
        #[command(subcommand)]
        command: model::ModelCommand,
    },
    /// What ouro would do with a command: allow, prompt or forbid, and why.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Rules from $OURO_HOME/rules.toml and .ouro/rules.toml: which one matches a command.
    Rules {
        #[command(subcommand)]
        command: policy::RulesCommand,
    },
    /// Apply a patch in the Codex patch format, read from stdin, to the current directory.
    ApplyPatch {
        /// Directory the patch's paths are relative to.
        #[arg(short = 'C', long = "cd")]
        cd: Option<PathBuf>,
    },
}

/// Options shared by everything that loads configuration.
#[derive(Args, Clone, Debug, Default)]
pub struct ConfigArgs {
    /// Model to use.
    #[arg(short, long, global = true)]
    model: Option<String>,
    /// Override a config key: -c key=value (value in TOML; dotted keys reach into tables).
    #[arg(short = 'c', long = "config", value_name = "key=value", global = true)]
    config: Vec<String>,
    /// Configuration profile from [profiles.NAME].
    #[arg(short = 'p', long, global = true)]
    profile: Option<String>,
    /// Sandbox for commands the model runs.
    #[arg(short = 's', long = "sandbox", value_name = "MODE", global = true, value_parser = parse_sandbox)]
    sandbox: Option<SandboxMode>,
    /// When to ask before running a command.
    #[arg(short = 'a', long = "ask-for-approval", value_name = "POLICY", global = true, value_parser = parse_approval)]
    approval: Option<ApprovalPolicy>,
    /// Low-friction automatic mode: sandbox workspace-write, approval on-request.
    #[arg(long, global = true)]
    full_auto: bool,
    /// Work in DIR instead of the current directory.
    #[arg(short = 'C', long = "cd", value_name = "DIR", global = true)]
    cd: Option<PathBuf>,
}

fn parse_sandbox(s: &str) -> Result<SandboxMode, String> {
    s.parse()
}

fn parse_approval(s: &str) -> Result<ApprovalPolicy, String> {
    s.parse()
}

impl ConfigArgs {
    fn overrides(&self) -> ouro_core::Overrides {
        let (full_auto_sandbox, full_auto_approval) = if self.full_auto {
            (
                Some(SandboxMode::WorkspaceWrite),
                Some(ApprovalPolicy::OnRequest),
            )
        } else {
            (None, None)
        };
        ouro_core::Overrides {
            model: self.model.clone(),
            profile: self.profile.clone(),
            sandbox_mode: self.sandbox.or(full_auto_sandbox),
            approval_policy: self.approval.or(full_auto_approval),
            raw: self.config.clone(),
        }
    }

    /// The working directory, made absolute.
    fn cwd(&self) -> Result<PathBuf, String> {
        let here = std::env::current_dir()
            .map_err(|e| format!("cannot read the current directory: {e}"))?;
        let dir = match &self.cd {
            Some(dir) => here.join(dir),
            None => here,
        };
        dir.canonicalize()
            .map_err(|e| format!("working directory {}: {e}", dir.display()))
    }

    fn load_config(&self) -> Result<ouro_core::Config, String> {
        let home = ouro_core::config::default_ouro_home().map_err(|e| e.to_string())?;
        ouro_core::Config::load(&home, &self.cwd()?, &self.overrides()).map_err(|e| e.to_string())
    }
}

fn main() -> ExitCode {
    // The sandbox helper: confine this process, then become the command (never returns on
    // success). Checked before anything else so a sandboxed command starts fast.
    let mut args = std::env::args_os();
    if args
        .nth(1)
        .is_some_and(|a| a == ouro_sandbox::HELPER_SUBCOMMAND)
    {
        let rest: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
        let code = ouro_sandbox::helper_main(&rest);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Exec(args) => exec::main(args),
        Command::Sessions { command } => sessions::main(command),
        Command::Sandbox { config, command } => sandbox_main(&config, &command),
        Command::Policy { command } => policy::policy_main(command),
        Command::Rules { command } => policy::rules_main(command),
        Command::ApplyPatch { cd } => apply_patch_main(cd),
        Command::Model { command } => model::main(command),
    };
    ExitCode::from(code)
}

/// Runs `command` confined exactly as a `shell` call would be, with the terminal's stdio.
fn sandbox_main(args: &ConfigArgs, command: &[String]) -> u8 {
    let config = match args.load_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("ouro: {message}");
            return exit::USAGE;
        }
    };
    let policy = config.sandbox_policy();
    let argv = policy.wrap(&config.sandbox_helper, command);
    match std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(&config.cwd)
        .env("OURO_SANDBOX", config.sandbox_mode.as_str())
        .status()
    {
        Ok(status) => status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(exit::TURN_FAILED),
        Err(e) => {
            eprintln!("ouro sandbox: cannot run `{}`: {e}", argv[0]);
            exit::TURN_FAILED
        }
    }
}

fn apply_patch_main(cd: Option<PathBuf>) -> u8 {
    let mut patch = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut patch) {
        eprintln!("ouro apply-patch: cannot read the patch from stdin: {e}");
        return exit::USAGE;
    }
    let cwd = match cd.map_or_else(std::env::current_dir, Ok) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("ouro apply-patch: cannot read the current directory: {e}");
            return exit::USAGE;
        }
    };
    match ouro_tools::apply_patch::apply_patch(&patch, &cwd, std::slice::from_ref(&cwd)) {
        Ok(outcome) => {
            print!("{}", outcome.summary());
            exit::OK
        }
        Err(e) => {
            eprintln!("ouro apply-patch: {e}");
            exit::TURN_FAILED
        }
    }
}
