//! Harness overhead of `ouro exec`, measured against the mock model server.
//!
//! * Per-turn overhead: from the moment the mock sent the last byte of a response that calls
//!   a tool, to the first byte of the next request — parsing the stream, recording the
//!   session, running the tool, building and sending the next request. Measured with an
//!   in-process tool (`apply_patch`) and with a sandboxed `shell` call of `true`; the latter
//!   is shown beside a plain spawn of `true` measured in the same run.
//! * Cold start: `ouro --version`, beside a spawn of `/bin/true`.
//!
//! Run with `bench/harness-overhead` (a release build).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ouro_test_support::{MockResponse, MockServer, Reply, Wire};
use serde_json::json;

const STEPS: usize = 40;
const SPAWNS: usize = 40;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn p90(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() * 9 / 10]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs one `ouro exec` session of `STEPS` tool calls and returns the gaps between each
/// answered response and the request that followed it.
fn turn_gaps(make_call: impl Fn(usize) -> Reply) -> Vec<Duration> {
    let mut script: Vec<MockResponse> = (0..STEPS)
        .map(|i| MockResponse::reply(Wire::Responses, &make_call(i)))
        .collect();
    script.push(MockResponse::reply(Wire::Responses, &Reply::text("done")));
    let server = MockServer::start(script);
    let home = tempfile::tempdir().expect("temp home");
    let work = tempfile::tempdir().expect("temp workspace");
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "model = \"bench\"\nmodel_provider = \"mock\"\n[model_providers.mock]\nname = \"mock\"\n\
             base_url = \"{}\"\nwire_api = \"responses\"\n",
            server.base_url()
        ),
    )
    .expect("write config");
    let status = Command::new(env!("CARGO_BIN_EXE_ouro"))
        .args(["exec", "benchmark"])
        .current_dir(work.path())
        .env("OURO_HOME", home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run ouro");
    assert!(status.success(), "ouro exec failed during the benchmark");
    let requests = server.requests();
    requests
        .windows(2)
        .filter_map(|pair| Some(pair[1].received_at.duration_since(pair[0].answered_at?)))
        .collect()
}

fn spawn_times(program: &str, args: &[&str]) -> Vec<Duration> {
    (0..SPAWNS)
        .map(|_| {
            let start = Instant::now();
            let status = Command::new(program)
                .args(args)
                .stdout(Stdio::null())
                .status()
                .expect("spawn");
            assert!(status.success());
            start.elapsed()
        })
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no options.
    let patch_gaps = turn_gaps(|i| {
        Reply::call(
            format!("c{i}"),
            "apply_patch",
            json!({"input": format!("*** Begin Patch\n*** Add File: f{i}.txt\n+{i}\n*** End Patch\n")}),
        )
    });
    let shell_gaps =
        turn_gaps(|i| Reply::call(format!("c{i}"), "shell", json!({"command": ["true"]})));
    let plain_true = median(spawn_times("true", &[]));
    let cold_start = median(spawn_times(env!("CARGO_BIN_EXE_ouro"), &["--version"]));

    let patch = median(patch_gaps.clone());
    let shell = median(shell_gaps.clone());
    println!("per-turn harness overhead ({STEPS} tool calls each, median / p90):");
    println!(
        "  apply_patch step:        {:7.2} ms / {:7.2} ms   (target < 5 ms: {:.2}x of target)",
        ms(patch),
        ms(p90(patch_gaps)),
        ms(patch) / 5.0
    );
    println!(
        "  sandboxed `true` step:   {:7.2} ms / {:7.2} ms   ({:.2}x a plain spawn of true, {:.2} ms)",
        ms(shell),
        ms(p90(shell_gaps)),
        ms(shell) / ms(plain_true),
        ms(plain_true)
    );
    println!(
        "cold start `ouro --version`: {:7.2} ms median   ({:.2}x a plain spawn of true; target < 20 ms)",
        ms(cold_start),
        ms(cold_start) / ms(plain_true)
    );
}
