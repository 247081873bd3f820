//! The embedded model's speed against llama.cpp's own, on one GGUF file, in one process.
//!
//! `cargo bench -p ouro-local --bench local_model -- MODEL.gguf` (THREADS, default 2), or
//! `bench/local-model` for both Qwen2.5-Coder models.
//!
//! * prefill: ouro reading its real prompt (instructions + ouro's tools + a task:
//!   template, tokenization, evaluation, first token) against llama.cpp's `llama-bench`
//!   (`LLAMA_BENCH`, built by the script) processing as many tokens, and against llama.cpp
//!   decoding them in this process the way llama-bench does
//!   (`LocalModel::raw_decode_speed`);
//! * generation: ouro generating 128 tokens (sampling, detokenizing, parsing included)
//!   against both references generating 128 tokens at the same depth;
//! * KV-cache reuse over a scripted 6-turn session;
//! * peak RSS (VmHWM).
//!
//! Each measurement is taken three times, the three sides interleaved, and the best of each
//! compared: other work on the machine can only slow a run down, so the fastest run is the
//! closest to the true speed, and interleaving spreads the disturbance over all sides.

use std::ops::ControlFlow;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ouro_local::engine::{LocalModel, LocalOptions, Sampling};
use ouro_protocol::{Prompt, ResponseItem};

const ROUNDS: usize = 3;
const GENERATE: u32 = 128;

fn main() {
    let Some(path) = std::env::args().skip(1).find(|a| !a.starts_with('-')) else {
        eprintln!("usage: local_model MODEL.gguf   (the bench/local-model script passes it)");
        return;
    };
    let path = Path::new(&path);
    let threads = std::env::var("THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let options = LocalOptions {
        threads: Some(threads),
        context_size: Some(8192),
        max_output_tokens: GENERATE,
        ..LocalOptions::default()
    };
    let started = Instant::now();
    let mut model = match LocalModel::load(path, options) {
        Ok(model) => model,
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(1);
        }
    };
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    println!(
        "== {name}: {threads} threads, context {}, loaded in {:.2} s",
        model.context_size(),
        started.elapsed().as_secs_f64()
    );

    let quiet = &mut |_: &str| ControlFlow::Continue(());

    // Prefill: ouro's own prompt, from an empty cache, against the same number of tokens.
    let prompt = task_prompt();
    let n_prompt = model
        .render(&prompt)
        .map(|text| model.tokenize(&text).len())
        .unwrap_or(0);
    // Warm up: page the weights in, let the CPU clocks settle.
    let _ = model.raw_decode_speed(256, 16);
    let mut ouro_prefill = Vec::new();
    // Seconds of the whole first request.
    let mut ouro_request = Vec::new();
    let mut raw_prefill = Vec::new();
    let mut bench_prefill = Vec::new();
    model.set_constrain_tool_calls(true);
    for _ in 0..ROUNDS {
        bench_prefill.extend(llama_bench(path, threads, n_prompt, 0, 0));
        let raw = model.raw_decode_speed(n_prompt, 0).unwrap_or_default();
        raw_prefill.push(raw.prefill_per_second());
        model.clear_cache();
        model.set_max_output_tokens(1);
        let started = Instant::now();
        let result = model.generate(&prompt, quiet);
        let elapsed = started.elapsed();
        model.set_max_output_tokens(GENERATE);
        match result {
            Ok(generation) => {
                ouro_prefill.push(generation.timings.prefill_per_second());
                ouro_request.push(elapsed.as_secs_f64());
            }
            Err(err) => {
                eprintln!("{err}");
                std::process::exit(1);
            }
        }
    }
    let prefill = best(&ouro_prefill);
    report(
        &format!("prefill  {n_prompt:>5} tokens"),
        prefill,
        (!bench_prefill.is_empty()).then(|| best(&bench_prefill)),
        best(&raw_prefill),
    );
    // What a request costs around the prefill: template, tokens, grammar, the first token.
    let request = ouro_request.iter().copied().fold(f64::INFINITY, f64::min);
    if prefill > 0.0 && request.is_finite() {
        let around = request - n_prompt as f64 / prefill;
        println!(
            "  the whole first request: {:.1} tok/s, {:.0} ms besides the prefill (template, \
             tokenizing, grammar, first token)",
            n_prompt as f64 / request,
            around * 1000.0
        );
    }

    // Generation: free text, 128 tokens, at the depth of a short prompt.
    let essay = Prompt {
        instructions: "You are a helpful assistant.".into(),
        tools: Vec::new(),
        input: vec![ResponseItem::user(
            "Write a long, detailed essay on the history of the C programming language.",
        )],
    };
    let depth = model
        .render(&essay)
        .map(|text| model.tokenize(&text).len())
        .unwrap_or(0);
    let mut ouro_decode = Vec::new();
    let mut raw_decode = Vec::new();
    let mut bench_decode = Vec::new();
    for round in 0..ROUNDS {
        bench_decode.extend(llama_bench(path, threads, 0, GENERATE as usize, depth));
        let raw = model
            .raw_decode_speed(depth, GENERATE as usize)
            .unwrap_or_default();
        raw_decode.push(raw.decode_per_second());
        model.clear_cache();
        model.set_sampling(Sampling {
            seed: round as u32,
            // Sampled, so that each round is another draw.
            temperature: 0.7,
            ..Sampling::default()
        });
        match model.generate(&essay, quiet) {
            Ok(generation) => ouro_decode.push(generation.timings.decode_per_second()),
            Err(err) => {
                eprintln!("{err}");
                std::process::exit(1);
            }
        }
    }
    report(
        &format!("generate {GENERATE:>5} tokens"),
        best(&ouro_decode),
        (!bench_decode.is_empty()).then(|| best(&bench_decode)),
        best(&raw_decode),
    );

    kv_reuse_session(&mut model);

    println!(
        "peak RSS: {}",
        peak_rss().unwrap_or_else(|| "unknown".into())
    );
}

fn report(what: &str, ouro: f64, llama_bench: Option<f64>, raw: f64) {
    let ratio = |reference: f64| {
        if reference > 0.0 {
            ouro / reference
        } else {
            0.0
        }
    };
    let verdict = |r: f64| if r >= 0.95 { "ok" } else { "BELOW 0.95" };
    let bench = match llama_bench {
        Some(tps) => format!(
            "llama-bench {tps:>6.1} tok/s (ratio {:.2}, {})",
            ratio(tps),
            verdict(ratio(tps))
        ),
        None => "llama-bench not run".into(),
    };
    println!(
        "{what}: ouro {ouro:>6.1} tok/s | {bench} | in-process raw decode {raw:>6.1} tok/s (ratio {:.2}, {})",
        ratio(raw),
        verdict(ratio(raw))
    );
}

/// llama-bench's tokens/s on `model` for one test (`-p`, `-n`, `-d`), one repetition;
/// `None` without `LLAMA_BENCH` or when it fails.
fn llama_bench(
    model: &Path,
    threads: usize,
    prompt: usize,
    generate: usize,
    depth: usize,
) -> Option<f64> {
    let bin = std::env::var_os("LLAMA_BENCH")?;
    let number = |n: usize| n.to_string();
    let output = Command::new(&bin)
        .arg("-m")
        .arg(model)
        .args(["-t", &number(threads)])
        .args([
            "-p",
            &number(prompt),
            "-n",
            &number(generate),
            "-d",
            &number(depth),
        ])
        .args(["-r", "1", "-o", "json"])
        .output()
        .ok()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        eprintln!(
            "llama-bench failed: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        return None;
    }
    let results: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    results.as_array()?.first()?.get("avg_ts")?.as_f64()
}

fn best(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}

fn task_prompt() -> Prompt {
    Prompt {
        instructions: "You are ouro, a coding agent working in a git repository. Act with the \
                       tools; do not describe what you would do. When the task is done, say so \
                       in one short paragraph."
            .into(),
        tools: ouro_tools::ToolRegistry::new(ouro_tools::EditTool::Edit).specs(),
        input: vec![ResponseItem::user(
            "Add a file hello.txt containing `hi`, then show the files in the directory.",
        )],
    }
}

/// Six requests of one session, as ouro's loop makes them: each appends the model's reply
/// and scripted tool results (or a scripted follow-up) to the previous prompt.
fn kv_reuse_session(model: &mut LocalModel) {
    const OUTPUTS: [&str; 6] = [
        "exit code 0",
        "hello.txt\nREADME.md\nsrc\nCargo.toml",
        "hi",
        "   Compiling demo v0.1.0\n    Finished dev [unoptimized] target(s) in 0.52s\n     Running `target/debug/demo`\nHello, world!",
        "src/main.rs:1:fn main() {\nsrc/main.rs:2:    println!(\"Hello, world!\");\nsrc/main.rs:3:}",
        "ok",
    ];
    const FOLLOW_UPS: [&str; 6] = [
        "Now show the files in the directory.",
        "Print the contents of hello.txt.",
        "Build and run the project with cargo run.",
        "Find where main is defined.",
        "Summarize what you did.",
        "Thanks.",
    ];
    model.clear_cache();
    model.set_max_output_tokens(96);
    let mut prompt = task_prompt();
    let quiet = &mut |_: &str| ControlFlow::Continue(());
    let (mut later_input, mut later_cached) = (0u64, 0u64);
    let mut later_prefill = Duration::ZERO;
    let mut first_rate = 0.0;
    println!("kv reuse, scripted 6-turn session:");
    for turn in 0..6 {
        let started = Instant::now();
        let generation = match model.generate(&prompt, quiet) {
            Ok(generation) => generation,
            Err(err) => {
                println!("  turn {}: {err}", turn + 1);
                return;
            }
        };
        let usage = generation.usage;
        println!(
            "  turn {}: prompt {:>5} tokens, {:>5} from the cache ({:>3.0}%), {:>4} evaluated in {:>6.2} s; {} tokens out; {:.2} s in all",
            turn + 1,
            usage.input_tokens,
            usage.cached_input_tokens,
            100.0 * usage.cached_input_tokens as f64 / usage.input_tokens.max(1) as f64,
            generation.timings.prefill_tokens,
            generation.timings.prefill.as_secs_f64(),
            usage.output_tokens,
            started.elapsed().as_secs_f64(),
        );
        if turn == 0 {
            first_rate = generation.timings.prefill_per_second();
        } else {
            later_input += usage.input_tokens;
            later_cached += usage.cached_input_tokens;
            later_prefill += generation.timings.prefill;
        }
        // Append what ouro's loop would: the reply, then results or a follow-up.
        let reply = generation.reply;
        if !reply.text.is_empty() {
            prompt.input.push(ResponseItem::assistant(reply.text));
        }
        let mut called = false;
        for (i, call) in reply.calls.into_iter().enumerate() {
            let call_id = format!("call_{turn}_{i}");
            prompt.input.push(ResponseItem::FunctionCall {
                call_id: call_id.clone(),
                name: call.name,
                arguments: call.arguments,
            });
            prompt.input.push(ResponseItem::FunctionCallOutput {
                call_id,
                output: OUTPUTS[turn].into(),
                success: true,
            });
            called = true;
        }
        if !called {
            prompt.input.push(ResponseItem::user(FOLLOW_UPS[turn]));
        }
    }
    let share = 100.0 * later_cached as f64 / later_input.max(1) as f64;
    let without = if first_rate > 0.0 {
        later_input as f64 / first_rate
    } else {
        0.0
    };
    println!(
        "  turns 2-6: {later_cached} of {later_input} prompt tokens from the cache ({share:.1}%, target >= 90%) {}; prefill {:.1} s instead of ~{without:.0} s",
        if share >= 90.0 { "ok" } else { "BELOW target" },
        later_prefill.as_secs_f64(),
    );
}

/// Peak resident memory of this process (VmHWM).
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{} MiB", kib / 1024))
}
