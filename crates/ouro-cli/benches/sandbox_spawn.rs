//! What the sandbox adds to running a command: `true` through the full sandbox
//! (re-exec'd helper, namespaces, mounts, pids cgroup, rlimits, Landlock) against `true`
//! through the same runner without a sandbox, measured in the same run.
//!
//! Run with `bench/sandbox-spawn` (a release build).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ouro_sandbox::{ExecRequest, SandboxMode, SandboxPolicy};

const RUNS: usize = 100;

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort();
    samples[(samples.len() * p / 100).min(samples.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn time_runs(mode: SandboxMode, workspace: &std::path::Path) -> Vec<Duration> {
    let policy = SandboxPolicy::new(
        mode,
        vec![workspace.to_path_buf(), std::env::temp_dir()],
        false,
        false,
        std::env::var_os("HOME")
            .map(|home| ouro_sandbox::sensitive_paths(&PathBuf::from(home)))
            .unwrap_or_default(),
    );
    let request = ExecRequest {
        argv: vec!["true".into()],
        cwd: workspace.to_path_buf(),
        env: std::env::vars_os().collect(),
        timeout: Duration::from_secs(10),
        output_cap: 10 * 1024,
        policy,
        helper: PathBuf::from(env!("CARGO_BIN_EXE_ouro")),
    };
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS + 5 {
        let start = Instant::now();
        let out = ouro_sandbox::run(&request).await.expect("run true");
        assert_eq!(out.exit_code, Some(0), "{}", out.output);
        samples.push(start.elapsed());
    }
    samples.split_off(5) // the first runs warm caches
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let workspace = tempfile::tempdir().expect("temp workspace");
    let (mut plain, mut sandboxed) = runtime.block_on(async {
        (
            time_runs(SandboxMode::DangerFullAccess, workspace.path()).await,
            time_runs(SandboxMode::WorkspaceWrite, workspace.path()).await,
        )
    });
    let (plain50, boxed50) = (percentile(&mut plain, 50), percentile(&mut sandboxed, 50));
    let (plain90, boxed90) = (percentile(&mut plain, 90), percentile(&mut sandboxed, 90));
    println!("spawning `true` ({RUNS} runs each):");
    println!(
        "  plain:     p50 {:6.2} ms   p90 {:6.2} ms",
        ms(plain50),
        ms(plain90)
    );
    println!(
        "  sandboxed: p50 {:6.2} ms   p90 {:6.2} ms   ({:.2}x plain)",
        ms(boxed50),
        ms(boxed90),
        ms(boxed50) / ms(plain50)
    );
    println!(
        "  added by the sandbox at p50: {:.2} ms (target < 5 ms)",
        ms(boxed50) - ms(plain50)
    );
}
