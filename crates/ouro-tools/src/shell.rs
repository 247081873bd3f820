//! The `shell` tool: one command, as an argv array, run through the sandbox runner.

use std::path::Path;
use std::time::Duration;

use ouro_protocol::{CommandStatus, ThreadItemDetails};
use ouro_sandbox::ExecRequest;
use serde::Deserialize;

use crate::{ToolContext, ToolResult};

/// Arguments of the `shell` tool.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellArgs {
    /// The program and its arguments; a plain string is run with `bash -lc`.
    #[serde(deserialize_with = "argv_or_script")]
    pub command: Vec<String>,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
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

pub(crate) fn parse_args(arguments: &str) -> Result<ShellArgs, String> {
    let args: ShellArgs = serde_json::from_str(arguments).map_err(|e| {
        format!(
            "invalid arguments for `shell`: {e}. Expected JSON like \
             {{\"command\": [\"bash\", \"-lc\", \"ls -la\"], \"workdir\": \"optional/dir\", \"timeout_ms\": 60000}}"
        )
    })?;
    if args.command.first().is_none_or(|p| p.trim().is_empty()) {
        return Err(
            "invalid arguments for `shell`: `command` is empty; give the program and its arguments, e.g. [\"ls\", \"-la\"]"
                .into(),
        );
    }
    Ok(args)
}

/// The command as a person would type it, for display.
pub(crate) fn display_command(argv: &[String]) -> String {
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

pub(crate) async fn run(args: &ShellArgs, ctx: &ToolContext) -> ToolResult {
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
        policy: ctx.sandbox_policy(),
        helper: ctx.sandbox_helper.clone(),
    };
    let command = display_command(&args.command);
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
            ToolResult {
                output: text,
                success,
                item: Some(ThreadItemDetails::CommandExecution {
                    command,
                    aggregated_output: out.output,
                    exit_code: out.exit_code,
                    status: if success {
                        CommandStatus::Completed
                    } else {
                        CommandStatus::Failed
                    },
                }),
            }
        }
        Err(err) => ToolResult {
            output: format!("Command could not run: {err}"),
            success: false,
            item: Some(ThreadItemDetails::CommandExecution {
                command,
                aggregated_output: err.to_string(),
                exit_code: None,
                status: CommandStatus::Failed,
            }),
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
