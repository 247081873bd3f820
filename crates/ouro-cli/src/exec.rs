//! `ouro exec`: one task, no interaction. The final answer goes to stdout; progress goes to
//! stderr, or, with `--json`, one event per line on stdout in `codex exec --json` shapes.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use ouro_core::Session;
use ouro_protocol::{
    CommandStatus, Event, PatchChangeKind, PatchStatus, ThreadItemDetails, TodoItem, ToolCallStatus,
};

use crate::{exit, ConfigArgs};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ExecArgs {
    #[command(subcommand)]
    command: Option<ExecCommand>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    config: ConfigArgs,
    /// The task. Read from stdin when it is `-`, or when it is absent and stdin is not a
    /// terminal.
    prompt: Option<String>,
}

#[derive(Args, Debug, Clone)]
struct OutputArgs {
    /// Print events as JSON lines on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Also write the final message to FILE.
    #[arg(long, value_name = "FILE", global = true)]
    output_last_message: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum ExecCommand {
    /// Continue a recorded session with its whole history.
    Resume(ResumeArgs),
}

#[derive(Args, Debug)]
struct ResumeArgs {
    /// Resume the most recent session.
    #[arg(long)]
    last: bool,
    /// The session id (or a unique prefix of it); see `ouro sessions list`.
    session_id: Option<String>,
    /// The follow-up task (stdin as for `exec`).
    prompt: Option<String>,
}

pub fn main(args: ExecArgs) -> u8 {
    let (resume, prompt) = match args.command {
        Some(ExecCommand::Resume(resume)) => {
            // `resume --last "PROMPT"`: the one positional is the prompt.
            let (id, prompt) = match (resume.last, resume.session_id, resume.prompt) {
                (true, Some(first), None) => (None, Some(first)),
                (true, id, prompt) => (id, prompt),
                (false, Some(id), prompt) => (Some(id), prompt),
                (false, None, _) => {
                    eprintln!("ouro exec resume: give a session id or --last");
                    return exit::USAGE;
                }
            };
            if resume.last && id.is_some() {
                eprintln!("ouro exec resume: give either a session id or --last, not both");
                return exit::USAGE;
            }
            (Some(id), prompt)
        }
        None => (None, args.prompt),
    };
    let prompt = match read_prompt(prompt) {
        Ok(prompt) => prompt,
        Err(message) => {
            eprintln!("ouro exec: {message}");
            return exit::USAGE;
        }
    };
    let config = match args.config.load_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("ouro: {message}");
            return exit::USAGE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ouro: cannot start the async runtime: {e}");
            return exit::TURN_FAILED;
        }
    };
    runtime.block_on(run(config, resume, prompt, args.output))
}

fn read_prompt(prompt: Option<String>) -> Result<String, String> {
    let from_stdin = match prompt.as_deref() {
        Some("-") => true,
        Some(_) => false,
        None => !std::io::stdin().is_terminal(),
    };
    let text = if from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the prompt from stdin: {e}"))?;
        text
    } else {
        prompt.unwrap_or_default()
    };
    if text.trim().is_empty() {
        return Err("no prompt given: pass it as an argument, or pipe it on stdin".into());
    }
    Ok(text)
}

async fn run(
    config: ouro_core::Config,
    resume: Option<Option<String>>,
    prompt: String,
    output: OutputArgs,
) -> u8 {
    if let Err(message) = crate::model::ensure_local_model(&config) {
        eprintln!("ouro: {message}");
        return exit::TURN_FAILED;
    }
    let opened = match &resume {
        None => Session::create(config).map(|s| (s, Vec::new())),
        Some(id) => match ouro_core::rollout::find(&config.ouro_home, id.as_deref()) {
            Ok(path) => Session::resume(config, &path),
            Err(e) => {
                eprintln!("ouro exec resume: {e}");
                return exit::USAGE;
            }
        },
    };
    let (mut session, warnings) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("ouro: {e}");
            return exit::USAGE;
        }
    };
    for warning in warnings {
        eprintln!("warning: {warning}");
    }

    let mut printer = Printer::new(output.json);
    printer.header(&session);
    printer.event(&Event::ThreadStarted {
        thread_id: session.id().to_string(),
    });
    let result = {
        let mut emit = |event: Event| printer.event(&event);
        tokio::select! {
            result = session.run_turn(&prompt, &mut emit) => Some(result),
            signal = interrupted() => {
                // Leaving this block drops the turn: the stream is cancelled, commands killed.
                eprintln!("ouro: {signal}: stopping");
                None
            }
        }
    };
    match result {
        Some(Ok(outcome)) => {
            let message = outcome.last_message.unwrap_or_default();
            if let Some(path) = &output.output_last_message {
                if let Err(e) = std::fs::write(path, &message) {
                    eprintln!("ouro: cannot write {}: {e}", path.display());
                }
            }
            if !output.json {
                println!("{message}");
            }
            exit::OK
        }
        Some(Err(_)) => exit::TURN_FAILED,
        None => {
            if let Err(e) = session.abort_turn("interrupted by the user") {
                eprintln!("ouro: {e}");
            }
            printer.event(&Event::TurnFailed {
                error: ouro_protocol::ErrorInfo {
                    message: "interrupted".into(),
                },
            });
            eprintln!(
                "ouro: session saved; continue it with `ouro exec resume {}`",
                session.id()
            );
            exit::INTERRUPTED
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM, naming which.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "interrupted";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted",
        _ = term.recv() => "terminated",
    }
}

/// Renders events: JSON lines on stdout, or readable progress on stderr.
struct Printer {
    json: bool,
}

impl Printer {
    fn new(json: bool) -> Self {
        Printer { json }
    }

    fn header(&self, session: &Session) {
        if self.json {
            return;
        }
        let config = session.config();
        let sandbox = if config.sandbox_mode == ouro_core::SandboxMode::DangerFullAccess {
            "danger-full-access (NO SANDBOX)".to_string()
        } else {
            config.sandbox_mode.to_string()
        };
        eprintln!(
            "ouro {} · session {}\nmodel {} · provider {} · sandbox {sandbox} · approval {}\nworkdir {}",
            env!("CARGO_PKG_VERSION"),
            session.id(),
            config.model,
            config.provider_id,
            config.approval_policy.as_str(),
            config.cwd.display(),
        );
    }

    fn event(&mut self, event: &Event) {
        if self.json {
            match serde_json::to_string(event) {
                Ok(line) => {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                }
                Err(e) => eprintln!("ouro: cannot encode an event: {e}"),
            }
            return;
        }
        match event {
            Event::ItemStarted { item } => match &item.details {
                ThreadItemDetails::CommandExecution { command, .. } => eprintln!("exec {command}"),
                ThreadItemDetails::ToolCall {
                    tool, arguments, ..
                } => eprintln!("{tool} {arguments}"),
                ThreadItemDetails::TodoList { items } => print_plan("plan", items),
                _ => {}
            },
            Event::ItemUpdated { item } => {
                if let ThreadItemDetails::TodoList { items } = &item.details {
                    print_plan("plan updated", items);
                }
            }
            Event::ItemCompleted { item } => print_completed(&item.details),
            Event::TurnCompleted { usage } => eprintln!(
                "tokens used: {} input ({} cached), {} output",
                usage.input_tokens, usage.cached_input_tokens, usage.output_tokens
            ),
            Event::TurnFailed { error } => eprintln!("ERROR: {}", error.message),
            Event::Error { message } => eprintln!("{message}"),
            Event::ApprovalRequested(request) => eprintln!(
                "approval needed for `{}` ({}); nobody can approve in `ouro exec`: denied",
                request.command, request.reason
            ),
            Event::ThreadStarted { .. } | Event::TurnStarted {} => {}
        }
    }
}

/// Diff lines shown per file on stderr; `--json` carries the whole diff.
const MAX_DIFF_LINES: usize = 40;

fn print_completed(details: &ThreadItemDetails) {
    match details {
        ThreadItemDetails::AgentMessage { text } => eprintln!("assistant: {text}"),
        ThreadItemDetails::Reasoning { text } => eprintln!("thinking: {text}"),
        ThreadItemDetails::CommandExecution {
            aggregated_output,
            exit_code,
            status,
            ..
        } => {
            let verdict = match (status, exit_code) {
                (CommandStatus::Declined, _) => "declined".to_string(),
                (_, Some(code)) => format!("exit {code}"),
                (_, None) => "killed".to_string(),
            };
            let lines: Vec<&str> = aggregated_output.lines().collect();
            eprintln!("  {verdict}, {} lines of output", lines.len());
            for line in lines.iter().take(5) {
                eprintln!("  | {line}");
            }
            if lines.len() > 5 {
                eprintln!("  | …");
            }
        }
        ThreadItemDetails::FileChange { changes, status } => {
            let files: Vec<String> = changes
                .iter()
                .map(|c| {
                    let mark = match c.kind {
                        PatchChangeKind::Add => 'A',
                        PatchChangeKind::Delete => 'D',
                        PatchChangeKind::Update => 'M',
                    };
                    format!("{mark} {}", c.path)
                })
                .collect();
            match status {
                PatchStatus::Completed => eprintln!("patch applied: {}", files.join(", ")),
                PatchStatus::Failed => eprintln!("patch rejected"),
            }
            for diff in changes.iter().filter_map(|c| c.diff.as_deref()) {
                let lines: Vec<&str> = diff.lines().collect();
                for line in lines.iter().take(MAX_DIFF_LINES) {
                    eprintln!("  {line}");
                }
                if lines.len() > MAX_DIFF_LINES {
                    eprintln!("  … {} more diff lines", lines.len() - MAX_DIFF_LINES);
                }
            }
        }
        ThreadItemDetails::ToolCall { tool, status, .. } => {
            if *status == ToolCallStatus::Failed {
                eprintln!("  {tool} failed");
            }
        }
        // Shown as it was started and updated.
        ThreadItemDetails::TodoList { .. } => {}
        ThreadItemDetails::Error { message } => eprintln!("error: {message}"),
    }
}

fn print_plan(title: &str, items: &[TodoItem]) {
    eprintln!("{title}:");
    for item in items {
        eprintln!(
            "  [{}] {}",
            if item.completed { 'x' } else { ' ' },
            item.text
        );
    }
}
