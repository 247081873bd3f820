//! Kernel confinement of a command, applied in a freshly exec'd helper process.
//!
//! The parent never restricts itself and never runs code between `fork` and `exec`: it runs
//! `HELPER --sandbox-exec-args… -- CMD…` where HELPER is the ouro binary, whose
//! `__sandbox-exec` entry point ([`helper_main`]) restricts *itself* with Landlock (and
//! `no_new_privs`) and then execs CMD, which inherits the restrictions for good.
//!
//! What each mode allows:
//! * `read-only`: read everything; write only `/dev/null`.
//! * `workspace-write`: additionally write beneath the writable roots (the workspace, the
//!   configured extra roots, the temp dir).
//! * Network (both modes, unless allowed): TCP bind and connect are denied by Landlock.
//!
//! When the kernel cannot enforce the filesystem rules, the helper refuses to run the
//! command at all: ouro never silently runs a command unsandboxed.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use crate::SandboxMode;

/// The hidden subcommand of the ouro binary that runs [`helper_main`].
pub const HELPER_SUBCOMMAND: &str = "__sandbox-exec";

/// Exit status of the helper when it could not confine or start the command.
pub const HELPER_FAILURE: i32 = 126;

/// What a confined command may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPolicy {
    pub mode: SandboxMode,
    /// Writable in `workspace-write` mode.
    pub writable_roots: Vec<PathBuf>,
    pub network_access: bool,
}

impl SandboxPolicy {
    /// The argv that runs `argv` under this policy through `helper` (the ouro binary), or
    /// `argv` itself when the mode confines nothing.
    pub fn wrap(&self, helper: &Path, argv: &[String]) -> Vec<String> {
        if self.mode == SandboxMode::DangerFullAccess {
            return argv.to_vec();
        }
        let mut wrapped = vec![
            helper.display().to_string(),
            HELPER_SUBCOMMAND.to_string(),
            "--mode".into(),
            self.mode.as_str().into(),
        ];
        if self.mode == SandboxMode::WorkspaceWrite {
            for root in &self.writable_roots {
                wrapped.push("--writable".into());
                wrapped.push(root.display().to_string());
            }
        }
        if self.network_access {
            wrapped.push("--network".into());
        }
        wrapped.push("--".into());
        wrapped.extend(argv.iter().cloned());
        wrapped
    }

    /// Reads back what [`SandboxPolicy::wrap`] wrote (after the subcommand name).
    fn parse(args: &[String]) -> Result<(SandboxPolicy, &[String]), String> {
        let mut policy = SandboxPolicy {
            mode: SandboxMode::ReadOnly,
            writable_roots: Vec::new(),
            network_access: false,
        };
        let mut rest = args;
        loop {
            match rest {
                [flag, mode, tail @ ..] if flag == "--mode" => {
                    policy.mode = mode.parse()?;
                    rest = tail;
                }
                [flag, root, tail @ ..] if flag == "--writable" => {
                    policy.writable_roots.push(PathBuf::from(root));
                    rest = tail;
                }
                [flag, tail @ ..] if flag == "--network" => {
                    policy.network_access = true;
                    rest = tail;
                }
                [separator, command @ ..] if separator == "--" => {
                    if command.is_empty() {
                        return Err("no command after --".into());
                    }
                    return Ok((policy, command));
                }
                _ => return Err(format!("unexpected arguments: {rest:?}")),
            }
        }
    }

    /// Restricts the calling process (and everything it will exec) to this policy.
    fn confine_self(&self) -> Result<(), String> {
        let abi = ABI::V6;
        let mut ruleset = Ruleset::default()
            .handle_access(AccessFs::from_all(abi))
            .map_err(|e| e.to_string())?;
        if !self.network_access {
            ruleset = ruleset
                .handle_access(AccessNet::from_all(abi))
                .map_err(|e| e.to_string())?;
        }
        // Signals and abstract sockets stay inside the sandbox, where the kernel can do it.
        let ruleset = ruleset
            .set_compatibility(CompatLevel::BestEffort)
            .scope(Scope::AbstractUnixSocket | Scope::Signal)
            .map_err(|e| e.to_string())?;
        let mut created = ruleset
            .create()
            .map_err(|e| e.to_string())?
            .add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi)))
            .map_err(|e| e.to_string())?
            .add_rules(path_beneath_rules(
                ["/dev/null"],
                AccessFs::ReadFile | AccessFs::WriteFile,
            ))
            .map_err(|e| e.to_string())?;
        if self.mode == SandboxMode::WorkspaceWrite {
            let roots: Vec<&PathBuf> = self.writable_roots.iter().filter(|r| r.exists()).collect();
            created = created
                .add_rules(path_beneath_rules(roots, AccessFs::from_all(abi)))
                .map_err(|e| e.to_string())?;
        }
        let status = created.restrict_self().map_err(|e| e.to_string())?;
        if status.ruleset == RulesetStatus::NotEnforced {
            return Err(
                "this kernel does not enforce Landlock (it is not built in or not \
                        enabled at boot), so the sandbox cannot be applied"
                    .into(),
            );
        }
        Ok(())
    }
}

/// The helper's entry point: `args` are what follows the subcommand name. Confines the
/// process, then execs the command. Returns only on failure, with the exit status to use.
pub fn helper_main(args: &[String]) -> i32 {
    let (policy, command) = match SandboxPolicy::parse(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("ouro sandbox: {e}");
            return HELPER_FAILURE;
        }
    };
    if let Err(e) = policy.confine_self() {
        eprintln!(
            "ouro sandbox: {e}; refusing to run `{}` unsandboxed. Run with -s danger-full-access \
             to allow commands without a sandbox.",
            command[0]
        );
        return HELPER_FAILURE;
    }
    let err = std::process::Command::new(&command[0])
        .args(&command[1..])
        .exec();
    eprintln!("ouro sandbox: cannot run `{}`: {err}", command[0]);
    if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        HELPER_FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_and_parse_round_trip() {
        let policy = SandboxPolicy {
            mode: SandboxMode::WorkspaceWrite,
            writable_roots: vec![PathBuf::from("/w"), PathBuf::from("/tmp")],
            network_access: true,
        };
        let argv = vec!["ls".to_string(), "--".to_string(), "-la".to_string()];
        let wrapped = policy.wrap(Path::new("/bin/ouro"), &argv);
        assert_eq!(wrapped[0], "/bin/ouro");
        assert_eq!(wrapped[1], HELPER_SUBCOMMAND);
        let (parsed, command) = SandboxPolicy::parse(&wrapped[2..]).unwrap();
        assert_eq!(parsed, policy);
        assert_eq!(command, argv.as_slice());
    }

    #[test]
    fn full_access_is_not_wrapped() {
        let policy = SandboxPolicy {
            mode: SandboxMode::DangerFullAccess,
            writable_roots: vec![],
            network_access: false,
        };
        let argv = vec!["true".to_string()];
        assert_eq!(policy.wrap(Path::new("/bin/ouro"), &argv), argv);
    }

    #[test]
    fn malformed_helper_arguments_are_rejected() {
        for args in [&["--mode", "nope", "--", "x"][..], &["--", ""][..1], &["x"]] {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert!(SandboxPolicy::parse(&args).is_err(), "{args:?}");
        }
    }
}
