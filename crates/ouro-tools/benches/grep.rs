//! The `grep` tool against ripgrep, on the same tree and pattern, measured in the same run.
//!
//! Generates (once; reused while its marker file matches) a deterministic tree of 60,000
//! source-like files in nested directories under `${TMPDIR:-/tmp}/ouro-bench-grep-tree`, with
//! a rare pattern in a handful of files. Then times `rg -n PATTERN DIR` (a child process, so
//! its start-up is included) and `ouro_tools::search::grep` (in process, including its thread
//! pool and matcher set-up), warm-up runs first, then alternating runs, and prints medians
//! and the ratio ours/rg.
//!
//! Run with `bench/grep` (a release build; it installs ripgrep when `rg` is missing).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ouro_tools::search::{grep, GrepArgs};

const FILES: usize = 60_000;
const TOP_DIRS: usize = 25;
const SUB_DIRS: usize = 20;
const NEEDLE_FILES: usize = 7;
const SEED: u64 = 0x5EED;
const PATTERN: &str = r"ouro_bench_needle_[0-9]+";
const MARKER: &str = "BENCH-TREE-COMPLETE";
const WARMUP: usize = 2;
const RUNS: usize = 11;
const TARGET_RATIO: f64 = 1.25;

fn tree_version() -> String {
    format!("ouro grep bench tree v2: files={FILES} dirs={TOP_DIRS}x{SUB_DIRS} needles={NEEDLE_FILES} seed={SEED}\n")
}

fn tree_dir() -> PathBuf {
    let tmp = std::env::var_os("TMPDIR")
        .filter(|t| !t.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    tmp.join("ouro-bench-grep-tree")
}

const WORDS: &[&str] = &[
    "config", "buffer", "request", "handler", "token", "stream", "parse", "session", "value",
    "index", "result", "error", "client", "server", "path", "entry", "state", "event", "item",
    "count", "limit", "offset", "cache", "model", "turn", "patch", "line", "file", "walk", "match",
];

fn word(rng: &mut fastrand::Rng) -> &'static str {
    WORDS[rng.usize(..WORDS.len())]
}

/// One line of plausible source in the language of `ext`.
fn source_line(rng: &mut fastrand::Rng, ext: &str) -> String {
    let (a, b, c) = (word(rng), word(rng), word(rng));
    let n = rng.u32(..1000);
    match (ext, rng.u8(..6)) {
        ("rs", 0) => format!("pub fn {a}_{b}(&self, {c}: usize) -> Result<(), Error> {{"),
        ("rs", 1) => format!("    let {a} = self.{b}.get({n}).ok_or(Error::{c})?;"),
        ("rs", 2) => format!("    // {a} the {b} before the {c} is read"),
        ("rs", _) => format!("    {a}.{b}_{c}({n});"),
        ("py", 0) => format!("def {a}_{b}(self, {c}={n}):"),
        ("py", 1) => format!("    {a} = self.{b}.get(\"{c}\", {n})"),
        ("py", _) => format!("    return {a}_{b}({c})  # {n}"),
        ("js", 0) => format!("export function {a}{b}({c}) {{"),
        ("js", 1) => format!("  const {a} = await {b}.{c}({n});"),
        ("js", _) => format!("  if ({a}.{b} > {n}) return {c};"),
        ("go", 0) => format!("func ({a} *{b}) {c}(n int) error {{"),
        ("go", _) => format!("\t{a} := {b}.{c}({n})"),
        ("md", _) => format!("The {a} keeps its {b} until the {c} is done ({n})."),
        (_, 0) => format!("static int {a}_{b}(struct {c} *p) {{"),
        (_, _) => format!("    p->{a} = {b}_{c}({n});"),
    }
}

/// Writes the tree into a scratch directory and renames it into place, so a half-written
/// tree is never taken for a complete one.
fn ensure_tree(dir: &Path) -> std::io::Result<()> {
    if std::fs::read_to_string(dir.join(MARKER)).ok().as_deref() == Some(&tree_version()) {
        return Ok(());
    }
    eprintln!("generating {FILES} files in {} (once) …", dir.display());
    let scratch = dir.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let mut rng = fastrand::Rng::with_seed(SEED);
    let exts = ["rs", "rs", "rs", "py", "js", "go", "c", "md"];
    let per_leaf = FILES / (TOP_DIRS * SUB_DIRS);
    let needles: Vec<usize> = (0..NEEDLE_FILES)
        .map(|i| i * (FILES / NEEDLE_FILES) + FILES / (3 * NEEDLE_FILES))
        .collect();
    let mut index = 0usize;
    for top in 0..TOP_DIRS {
        let top_dir = scratch.join(format!("{}_{top:02}", word(&mut rng)));
        for sub in 0..SUB_DIRS {
            let sub_dir = top_dir.join(format!("{}_{sub:02}", word(&mut rng)));
            // Vary nesting: some leaves are one level deeper.
            let leaf = if sub % 4 == 3 {
                sub_dir.join("imp")
            } else {
                sub_dir
            };
            std::fs::create_dir_all(&leaf)?;
            for k in 0..per_leaf {
                let ext = exts[rng.usize(..exts.len())];
                let lines = rng.usize(3..=20);
                let mut text = String::with_capacity(lines * 40);
                for _ in 0..lines {
                    text.push_str(&source_line(&mut rng, ext));
                    text.push('\n');
                }
                if needles.contains(&index) {
                    text.push_str(&format!("    let hit = ouro_bench_needle_{index}();\n"));
                }
                std::fs::write(leaf.join(format!("{}_{k:03}.{ext}", word(&mut rng))), text)?;
                index += 1;
            }
        }
    }
    std::fs::write(scratch.join(MARKER), tree_version())?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&scratch, dir)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn run_rg(dir: &Path) -> (Duration, usize) {
    let start = Instant::now();
    let output = Command::new("rg")
        .args(["-n", PATTERN])
        .arg(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run rg");
    let elapsed = start.elapsed();
    assert!(output.status.success(), "rg failed: {:?}", output.status);
    (
        elapsed,
        output
            .stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
    )
}

fn run_ours(dir: &Path) -> (Duration, usize) {
    let args = GrepArgs {
        pattern: PATTERN.into(),
        path: None,
        glob: None,
        case_insensitive: None,
        max_results: None,
    };
    let start = Instant::now();
    let output = grep(&args, dir).expect("grep");
    let elapsed = start.elapsed();
    (elapsed, output.lines().filter(|l| l.contains(':')).count())
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to configure.
    if Command::new("rg")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("`rg` not found: install ripgrep (bench/grep does it) and run again");
        std::process::exit(1);
    }
    let dir = tree_dir();
    ensure_tree(&dir).expect("generate the benchmark tree");
    let rg_version = Command::new("rg")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();

    for _ in 0..WARMUP {
        run_rg(&dir);
        run_ours(&dir);
    }
    let (mut rg_times, mut our_times) = (Vec::new(), Vec::new());
    let (mut rg_hits, mut our_hits) = (0, 0);
    for i in 0..RUNS {
        // Alternate which goes first so neither always runs on a warmer cache.
        let order = if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for rg_first in order {
            if rg_first {
                let (t, n) = run_rg(&dir);
                rg_times.push(t);
                rg_hits = n;
            } else {
                let (t, n) = run_ours(&dir);
                our_times.push(t);
                our_hits = n;
            }
        }
    }
    assert_eq!(rg_hits, NEEDLE_FILES, "rg should find every needle");
    assert_eq!(our_hits, NEEDLE_FILES, "grep should find every needle");

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (rg, ours) = (median(rg_times), median(our_times));
    let ratio = ours.as_secs_f64() / rg.as_secs_f64();
    println!(
        "grep benchmark: {FILES} files in {}, pattern `{PATTERN}` ({NEEDLE_FILES} matches), {threads} cores, {RUNS} runs each after {WARMUP} warm-ups",
        dir.display()
    );
    println!(
        "  rg -n PATTERN DIR ({rg_version}): median {:8.1} ms",
        ms(rg)
    );
    println!(
        "  ouro_tools::search::grep:           median {:8.1} ms",
        ms(ours)
    );
    println!(
        "  ratio ours/rg: {ratio:.2} (target <= {TARGET_RATIO}): {}",
        if ratio <= TARGET_RATIO {
            "ok"
        } else {
            "ABOVE TARGET"
        }
    );
}
