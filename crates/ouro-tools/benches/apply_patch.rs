//! Speed of the apply_patch engine on a big file, against a reference measured in the same
//! run: reading the file and writing it back atomically (temporary file + rename) once —
//! the I/O any edit of that file costs at least.
//!
//! * `apply_patch`: a 1,000-hunk patch (3 context lines each side, one line changed per
//!   hunk) on a 20,000-line file. Target: < 50 ms.
//! * `edit_file` with `replace_all`: 1,000 occurrences on the same file.
//! * `write_file`: the whole file with the same 1,000 lines changed (a line diff of
//!   20,000 lines).
//!
//! Each figure is the median of several runs. Every run starts right after the file was
//! restored (not timed) — all four replace a just-written file by rename, which costs the
//! same writeback for each — and the order rotates from round to round so that load on
//! the machine hits all of them alike. Run with `bench/apply-patch` (a release build).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ouro_tools::apply_patch::{apply_patch, edit_file, write_file};

const LINES: usize = 20_000;
const HUNKS: usize = 1_000;
const RUNS: usize = 21;
const TARGET_MS: f64 = 50.0;

fn line(i: usize) -> String {
    if i % 20 == 10 {
        format!("    value_{i} = special({i});")
    } else {
        format!("    value_{i} = compute({i});")
    }
}

fn changed(i: usize) -> String {
    format!("    value_{i} = changed({i});")
}

fn original() -> String {
    (0..LINES).map(|i| line(i) + "\n").collect()
}

/// The file with every 20th line (from line 10) changed, as the patch, the edit and the
/// rewrite all leave it.
fn expected() -> String {
    (0..LINES)
        .map(|i| if i % 20 == 10 { changed(i) } else { line(i) } + "\n")
        .collect()
}

fn patch() -> String {
    let mut body = String::from("*** Begin Patch\n*** Update File: big.rs\n");
    for h in 0..HUNKS {
        let target = h * 20 + 10;
        body.push_str("@@\n");
        for c in target - 3..target {
            body.push_str(&format!(" {}\n", line(c)));
        }
        body.push_str(&format!("-{}\n+{}\n", line(target), changed(target)));
        for c in target + 1..target + 4 {
            body.push_str(&format!(" {}\n", line(c)));
        }
    }
    body.push_str("*** End Patch\n");
    body
}

/// The reference: read the file, write it to a temporary file beside it, rename it over.
fn read_and_write_back(path: &Path) {
    let text = fs::read_to_string(path).expect("read");
    let temp = path.with_extension("bench.tmp");
    let mut file = fs::File::create(&temp).expect("create temp");
    file.write_all(text.as_bytes()).expect("write temp");
    drop(file);
    fs::rename(&temp, path).expect("rename");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn timed(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let roots: Vec<PathBuf> = vec![root.to_path_buf()];
    let path = root.join("big.rs");
    let original = original();
    let expected = expected();
    let patch = patch();
    let restore = || fs::write(&path, &original).expect("restore");

    // [reference, apply_patch, edit_file, write_file]
    let mut samples: [Vec<Duration>; 4] = Default::default();
    // One untimed round first (page cache, allocator). Every run starts from a freshly
    // restored file, the order rotates from round to round, and every result is checked.
    for round in 0..=RUNS {
        for k in 0..4 {
            let which = (round + k) % 4;
            restore();
            let took = timed(|| match which {
                0 => read_and_write_back(&path),
                1 => {
                    apply_patch(&patch, root, &roots).expect("apply_patch");
                }
                2 => {
                    edit_file("big.rs", "special(", "changed(", true, root, &roots)
                        .expect("edit_file");
                }
                _ => {
                    write_file("big.rs", &expected, root, &roots).expect("write_file");
                }
            });
            let want = if which == 0 { &original } else { &expected };
            assert_eq!(&fs::read_to_string(&path).expect("read"), want);
            if round > 0 {
                samples[which].push(took);
            }
        }
    }
    let [reference, patched, edited, written] = samples;

    let reference = median(reference);
    let row = |name: &str, d: Duration| {
        println!(
            "  {name:<44} {:8.2} ms   {:6.1}x reference",
            ms(d),
            ms(d) / ms(reference)
        );
    };
    println!(
        "apply_patch engine, {LINES} lines ({} KB), median of {RUNS} runs:",
        original.len() / 1024
    );
    println!(
        "  {:<44} {:8.2} ms",
        "reference: read + atomic write back",
        ms(reference)
    );
    let patched = median(patched);
    row(&format!("apply_patch, {HUNKS} hunks"), patched);
    row(
        &format!("edit_file, replace_all, {HUNKS} occurrences"),
        median(edited),
    );
    row(
        &format!("write_file, {HUNKS} lines changed"),
        median(written),
    );
    let verdict = if ms(patched) < TARGET_MS {
        "met"
    } else {
        "MISSED"
    };
    println!(
        "target: apply_patch < {TARGET_MS} ms: {verdict} ({:.2} ms, {:.0}% of target)",
        ms(patched),
        ms(patched) / TARGET_MS * 100.0
    );
}
