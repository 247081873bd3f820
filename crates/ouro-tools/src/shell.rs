//! The `shell` tool: one command, as an argv array, run through the sandbox runner.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ouro_protocol::{ApprovalKind, CommandStatus, ThreadItemDetails, ToolSpec};
use ouro_sandbox::ExecRequest;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::edit_tools::FileEdit;
use crate::{
    apply_patch, is_known_read_only, parse_arguments, spec_for, BoxFuture, Invocation, ToolContext,
    ToolHandler, ToolResult,
};

const DESCRIPTION: &str = "Runs a command in the workspace and returns its exit code and \
    output (stdout and stderr interleaved; long output keeps its head and tail). Use \
    [\"bash\", \"-lc\", \"...\"] for pipes, redirections and globbing. Stdin is closed.";

/// Arguments of the `shell` tool.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellArgs {
    /// The program and its arguments, e.g. ["cargo", "test"].
    #[serde(deserialize_with = "argv_or_script")]
    pub command: Vec<String>,
    /// Directory to run in, relative to the workspace root. Defaults to the root.
    #[serde(default)]
    pub workdir: Option<String>,
    /// Kill the command, and everything it started, after this many milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Ask to run this command outside the sandbox (only when approval_policy is
    /// on-request; a person must approve). Say why in `justification`.
    #[serde(default)]
    pub with_escalated_permissions: Option<bool>,
    /// Why the command needs to run outside the sandbox, shown to the person asked.
    #[serde(default)]
    pub justification: Option<String>,
}

pub(crate) struct ShellTool {
    /// Offer the escalation fields (see [`crate::ToolSet::escalation`]).
    pub(crate) escalation: bool,
}

impl ToolHandler for ShellTool {
    fn spec(&self) -> ToolSpec {
        let mut spec = spec_for::<ShellArgs>("shell", DESCRIPTION);
        if !self.escalation {
            // Still accepted when sent (and then declined by the approval policy), but not
            // offered: a model shown them tends to fill them in.
            if let Some(properties) = spec
                .parameters
                .get_mut("properties")
                .and_then(|p| p.as_object_mut())
            {
                properties.remove("with_escalated_permissions");
                properties.remove("justification");
            }
        }
        spec
    }

    fn prepare(&self, arguments: &str) -> Result<Box<dyn Invocation>, String> {
        let args = parse_args(arguments)?;
        // `apply_patch <<'EOF' … EOF` through the shell goes through the patch engine, with
        // its checks and its events.
        if let Some(intercepted) = apply_patch::parse_shell_apply_patch(&args.command) {
            let workdir = [args.workdir, intercepted.workdir]
                .into_iter()
                .flatten()
                .map(PathBuf::from)
                .reduce(|a, b| a.join(b));
            return Ok(Box::new(FileEdit::Patch {
                patch: intercepted.patch,
                workdir,
            }));
        }
        Ok(Box::new(ShellCall(args)))
    }
}

#[derive(Debug)]
struct ShellCall(ShellArgs);

impl Invocation for ShellCall {
    fn is_read_only(&self) -> bool {
        is_known_read_only(&self.0.command)
    }

    fn started_item(&self) -> Option<ThreadItemDetails> {
        Some(command_item(
            &self.0.command,
            String::new(),
            None,
            CommandStatus::InProgress,
        ))
    }

    fn declined_item(&self, reason: &str) -> Option<ThreadItemDetails> {
        Some(command_item(
            &self.0.command,
            reason.to_string(),
            None,
            CommandStatus::Declined,
        ))
    }

    fn approval_subject(&self) -> (ApprovalKind, String) {
        let kind = if self.escalation().is_some() {
            ApprovalKind::Unsandboxed
        } else {
            ApprovalKind::Command
        };
        (kind, display_command(&self.0.command))
    }

    fn command_argv(&self) -> Option<&[String]> {
        Some(&self.0.command)
    }

    fn escalation(&self) -> Option<&str> {
        match self.0.with_escalated_permissions {
            Some(true) => Some(
                self.0
                    .justification
                    .as_deref()
                    .unwrap_or("(no justification given)"),
            ),
            _ => None,
        }
    }

    fn execute<'a>(&'a self, ctx: &'a ToolContext) -> BoxFuture<'a, ToolResult> {
        Box::pin(run(&self.0, ctx))
    }
}

fn command_item(
    argv: &[String],
    aggregated_output: String,
    exit_code: Option<i32>,
    status: CommandStatus,
) -> ThreadItemDetails {
    ThreadItemDetails::CommandExecution {
        command: display_command(argv),
        aggregated_output,
        exit_code,
        status,
    }
}

/// Small models often send `"command": "ls -la"`; run such a string through bash rather than
/// bouncing the call.
fn argv_or_script<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Command {
        Argv(Vec<String>),
        Script(String),
    }
    match Command::deserialize(d)? {
        Command::Argv(argv) => Ok(argv),
        Command::Script(script) => Ok(vec!["bash".into(), "-lc".into(), script]),
    }
}

fn parse_args(arguments: &str) -> Result<ShellArgs, String> {
    let args: ShellArgs = parse_arguments(
        "shell",
        arguments,
        r#"{"command": ["bash", "-lc", "ls -la"], "workdir": "optional/dir", "timeout_ms": 60000}"#,
    )?;
    if args.command.first().is_none_or(|p| p.trim().is_empty()) {
        return Err(
            "invalid arguments for `shell`: `command` is empty; give the program and its arguments, e.g. [\"ls\", \"-la\"]"
                .into(),
        );
    }
    Ok(args)
}

/// The command as a person would type it, for display.
fn display_command(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| quote(arg))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

async fn run(args: &ShellArgs, ctx: &ToolContext) -> ToolResult {
    let cwd = match &args.workdir {
        Some(dir) => ctx.cwd.join(Path::new(dir)),
        None => ctx.cwd.clone(),
    };
    let timeout = args
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(ctx.default_timeout);
    let request = ExecRequest {
        argv: args.command.clone(),
        cwd,
        env: ctx.env.clone(),
        timeout,
        output_cap: ctx.output_cap,
        policy: ctx.sandbox_policy.clone(),
        helper: ctx.sandbox_helper.clone(),
    };
    match ouro_sandbox::run(&request).await {
        Ok(out) => {
            let success = out.exit_code == Some(0);
            let mut text = String::new();
            match (out.exit_code, out.timed_out, out.signal) {
                (_, true, _) => text.push_str(&format!(
                    "Command timed out after {} ms and was killed (with everything it started).\n",
                    timeout.as_millis()
                )),
                (Some(code), _, _) => text.push_str(&format!("Exit code: {code}\n")),
                (None, _, Some(signal)) => text.push_str(&format!("Killed by signal {signal}\n")),
                (None, _, None) => text.push_str("Exit code: unknown\n"),
            }
            text.push_str(&format!(
                "Wall time: {:.1} seconds\nOutput:\n{}",
                out.duration.as_secs_f64(),
                out.output
            ));
            let status = if success {
                CommandStatus::Completed
            } else {
                CommandStatus::Failed
            };
            ToolResult {
                output: text,
                success,
                item: Some(command_item(
                    &args.command,
                    out.output,
                    out.exit_code,
                    status,
                )),
            }
        }
        Err(err) => ToolResult {
            output: format!("Command could not run: {err}"),
            success: false,
            item: Some(command_item(
                &args.command,
                err.to_string(),
                None,
                CommandStatus::Failed,
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_argv_and_script_forms() {
        let args = parse_args(r#"{"command":["ls","-la"],"timeout_ms":5}"#).unwrap();
        assert_eq!(args.command, ["ls", "-la"]);
        assert_eq!(args.timeout_ms, Some(5));
        let args = parse_args(r#"{"command":"echo hi | wc -c"}"#).unwrap();
        assert_eq!(args.command, ["bash", "-lc", "echo hi | wc -c"]);
    }

    #[test]
    fn bad_arguments_explain_the_expected_shape() {
        let err = parse_args(r#"{"cmd":["ls"]}"#).unwrap_err();
        assert!(err.contains("unknown field `cmd`"), "{err}");
        assert!(err.contains("\"command\""), "{err}");
        let err = parse_args(r#"{"command":[]}"#).unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let err = parse_args("not json").unwrap_err();
        assert!(err.contains("invalid arguments for `shell`"), "{err}");
    }

    #[test]
    fn schema_comes_from_the_argument_type() {
        let spec = ShellTool { escalation: true }.spec();
        assert_eq!(spec.name, "shell");
        assert_eq!(spec.parameters["required"], serde_json::json!(["command"]));
        assert_eq!(spec.parameters["additionalProperties"], false);
        assert_eq!(spec.parameters["properties"]["command"]["type"], "array");
        assert!(spec.parameters["properties"]["timeout_ms"]["description"]
            .as_str()
            .unwrap()
            .contains("milliseconds"));
        assert!(spec.parameters["properties"]["justification"].is_object());
    }

    #[test]
    fn escalation_fields_are_offered_only_when_asked_for() {
        let spec = ShellTool { escalation: false }.spec();
        let properties = spec.parameters["properties"].as_object().unwrap();
        let names: Vec<&str> = properties.keys().map(String::as_str).collect();
        assert_eq!(names, ["command", "timeout_ms", "workdir"]);
        // Sent anyway, they still parse (the approval policy then decides).
        let call = ShellTool { escalation: false }
            .prepare(r#"{"command": ["ls"], "with_escalated_permissions": true}"#)
            .unwrap();
        assert!(format!("{call:?}").contains("with_escalated_permissions: Some(true)"));
    }

    #[test]
    fn heredoc_patches_are_intercepted() {
        let call = ShellTool { escalation: true }
            .prepare(&serde_json::json!({"command": ["bash", "-lc", "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\nEOF\n"]}).to_string())
            .unwrap();
        assert!(format!("{call:?}").starts_with("Patch"), "{call:?}");
        assert!(!call.is_read_only());
    }

    #[test]
    fn display_quotes_only_what_needs_it() {
        let argv: Vec<String> = ["bash", "-lc", "echo 'hi' there"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            display_command(&argv),
            r#"bash -lc 'echo '\''hi'\'' there'"#
        );
    }
}
