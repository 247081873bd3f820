//! Running one child process for ouro.
//!
//! Every command the model asks for runs through [`run`]: in a process group of its own (so a
//! timeout, an interrupt or the end of the command kills everything it started, not just the
//! shell), with stdin closed, stdout and stderr sharing one pipe (so the output reads in the
//! order it was produced), and a bounded capture that keeps the head and the tail of the
//! output — a command that prints a gigabyte costs a few kilobytes of memory.
//!
//! Unless the policy is `danger-full-access`, the command is confined by the kernel through a
//! re-exec'd helper (see the `confine` module).

mod capture;
mod confine;
mod mode;

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

pub use capture::HeadTailBuffer;
pub use confine::{helper_main, sensitive_paths, Limits, SandboxPolicy, HELPER_SUBCOMMAND};
pub use mode::SandboxMode;

/// What to run and how.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// The complete environment of the child; nothing else is inherited.
    pub env: Vec<(OsString, OsString)>,
    pub timeout: Duration,
    /// Bytes of output kept: half from the start, half from the end.
    pub output_cap: usize,
    pub policy: SandboxPolicy,
    /// The ouro binary, which confines itself and execs the command (see [`helper_main`]).
    pub helper: PathBuf,
}

/// How a command ended.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    /// The exit code, or `None` when the process was killed by a signal or timed out.
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub output: String,
    pub duration: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("empty command: `command` must hold at least the program name")]
    EmptyCommand,
    #[error("working directory {path} does not exist or is not a directory")]
    BadWorkdir { path: String },
    #[error("could not start `{program}`: {source}")]
    Spawn { program: String, source: io::Error },
    #[error("i/o error while running `{program}`: {source}")]
    Io { program: String, source: io::Error },
}

/// Kills the whole process group when dropped, so a cancelled or timed-out command leaves
/// nothing behind.
struct GroupGuard {
    pgid: Option<i32>,
}

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: killpg has no memory-safety preconditions; a stale id only yields ESRCH.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How long to keep reading after the command exited, for output still in the pipe.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);

/// Runs `request` to completion, timeout or cancellation (dropping the future kills the
/// process group).
pub async fn run(request: &ExecRequest) -> Result<ExecOutput, ExecError> {
    if request.argv.is_empty() {
        return Err(ExecError::EmptyCommand);
    }
    let argv = request.policy.wrap(&request.helper, &request.argv);
    let program = &argv[0];
    if !request.cwd.is_dir() {
        return Err(ExecError::BadWorkdir {
            path: request.cwd.display().to_string(),
        });
    }
    let io_err = |source| ExecError::Io {
        program: program.clone(),
        source,
    };
    let (reader, writer) = io::pipe().map_err(io_err)?;
    let writer_for_stderr = writer.try_clone().map_err(io_err)?;

    let mut command = tokio::process::Command::new(program);
    command
        .args(&argv[1..])
        .current_dir(&request.cwd)
        .env_clear()
        .envs(request.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(OwnedFd::from(writer)))
        .stderr(Stdio::from(OwnedFd::from(writer_for_stderr)))
        .process_group(0)
        .kill_on_drop(true);

    let start = Instant::now();
    let mut child = command.spawn().map_err(|source| ExecError::Spawn {
        program: program.clone(),
        source,
    })?;
    // Drop our copies of the write end (moved into `command`) so EOF arrives when the
    // group's last writer is gone.
    drop(command);
    let mut guard = GroupGuard {
        pgid: child.id().map(|id| id as i32),
    };

    let mut pipe =
        tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader)).map_err(io_err)?;
    let mut capture = HeadTailBuffer::new(request.output_cap);
    let mut chunk = vec![0u8; 64 * 1024];

    let deadline = tokio::time::sleep(request.timeout);
    tokio::pin!(deadline);
    let mut timed_out = false;
    let mut pipe_open = true;
    let status = loop {
        tokio::select! {
            status = child.wait() => break Some(status.map_err(io_err)?),
            read = pipe.read(&mut chunk), if pipe_open => match read {
                Ok(0) | Err(_) => pipe_open = false,
                Ok(n) => capture.push(&chunk[..n]),
            },
            _ = &mut deadline => {
                timed_out = true;
                guard.kill();
                break None;
            }
        }
    };
    // Whatever the command left running in its group dies with it.
    guard.kill();
    if pipe_open {
        let drain = async {
            while let Ok(n) = pipe.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                capture.push(&chunk[..n]);
            }
        };
        let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, drain).await;
    }
    let status = match status {
        Some(status) => Some(status),
        None => Some(child.wait().await.map_err(io_err)?),
    };
    use std::os::unix::process::ExitStatusExt;
    let (exit_code, signal) = match status {
        Some(s) if !timed_out => (s.code(), s.signal()),
        Some(s) => (None, s.signal()),
        None => (None, None),
    };
    Ok(ExecOutput {
        exit_code,
        signal,
        timed_out,
        output: capture.into_string(),
        duration: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(argv: &[&str], timeout_ms: u64) -> ExecRequest {
        ExecRequest {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            cwd: std::env::temp_dir(),
            env: std::env::vars_os().collect(),
            timeout: Duration::from_millis(timeout_ms),
            output_cap: 10 * 1024,
            policy: SandboxPolicy::new(
                SandboxMode::DangerFullAccess,
                Vec::new(),
                true,
                false,
                Vec::new(),
            ),
            helper: PathBuf::from("unused"),
        }
    }

    #[tokio::test]
    async fn captures_interleaved_output_and_exit_code() {
        let out = run(&request(
            &["bash", "-c", "echo one; echo two >&2; echo three; exit 3"],
            10_000,
        ))
        .await
        .unwrap();
        assert_eq!(out.exit_code, Some(3));
        assert_eq!(out.output, "one\ntwo\nthree\n");
        assert!(!out.timed_out);
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let marker = tempfile_path("ouro-sandbox-group-kill");
        let script = format!("(sleep 1; touch {}) & sleep 30", marker.display());
        let out = run(&request(&["bash", "-c", &script], 200)).await.unwrap();
        assert!(out.timed_out);
        assert_eq!(out.exit_code, None);
        assert!(out.duration < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!marker.exists(), "a grandchild outlived the timeout");
    }

    #[tokio::test]
    async fn background_children_do_not_keep_the_command_alive() {
        let out = run(&request(&["bash", "-c", "sleep 30 & echo started"], 10_000))
            .await
            .unwrap();
        assert_eq!(out.exit_code, Some(0));
        assert_eq!(out.output, "started\n");
        assert!(out.duration < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn huge_output_is_capped_with_head_and_tail() {
        let out = run(&request(&["bash", "-c", "seq 1 1000000"], 30_000))
            .await
            .unwrap();
        assert!(out.output.len() < 11 * 1024, "{}", out.output.len());
        assert!(out.output.starts_with("1\n2\n3\n"));
        assert!(out.output.ends_with("999999\n1000000\n"));
        assert!(out.output.contains("bytes and"), "{}", out.output);
    }

    #[tokio::test]
    async fn stdin_is_closed_and_missing_programs_are_reported() {
        let out = run(&request(&["cat"], 5_000)).await.unwrap();
        assert_eq!(out.exit_code, Some(0));
        let err = run(&request(&["definitely-not-a-program-ouro"], 5_000))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("definitely-not-a-program-ouro"));
    }

    fn tempfile_path(name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }
}
