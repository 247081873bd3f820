//! `grep`: a regex search over files, built from ripgrep's crates — the parallel
//! `ignore` walk, one `grep-searcher` and one matcher per thread — with output sorted by
//! path and line so that the same tree always gives the same answer.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use grep_matcher::Matcher;
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkMatch};
use ignore::overrides::OverrideBuilder;
use ignore::{DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkState};

use super::sensitive::Sensitive;
use super::{display_path, io_error, resolve_arg, walker, GrepArgs};

pub(crate) const DEFAULT_MAX_RESULTS: usize = 100;
/// Characters of a matching line shown.
pub(crate) const MAX_LINE_CHARS: usize = 300;

pub(crate) fn grep(args: &GrepArgs, cwd: &Path, guard: &Sensitive) -> Result<String, String> {
    let pattern = args.pattern.as_str();
    if pattern.is_empty() {
        return Err("The pattern is empty; give a regular expression to search for.".into());
    }
    let case_insensitive = args.case_insensitive.unwrap_or(false);
    let matcher = RegexMatcherBuilder::new()
        .case_insensitive(case_insensitive)
        .line_terminator(Some(b'\n'))
        .build(pattern)
        .map_err(|e| {
            format!(
                "Invalid regex `{pattern}`: {e}\nFix the pattern and try again (to match \
                 characters such as ( ) [ ] {{ }} . * + ? | ^ $ \\ literally, put a backslash \
                 before them)."
            )
        })?;
    let shown = args.path.as_deref().unwrap_or(".");
    let path = resolve_arg(shown, cwd, guard)?;
    let root = guard.check(&path, shown)?;
    std::fs::metadata(&root).map_err(|e| {
        io_error(
            &e,
            shown,
            &path,
            "Check the spelling, or leave out `path` to search the working directory.",
        )
    })?;
    let base = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());

    let mut builder = walker(&root, guard);
    let glob = args
        .glob
        .as_deref()
        .map(str::trim)
        .filter(|g| !g.is_empty());
    if let Some(glob) = glob {
        let invalid = |e: ignore::Error| format!("Invalid glob `{glob}`: {e}");
        let mut overrides = OverrideBuilder::new(&root);
        overrides.add(glob).map_err(invalid)?;
        builder.overrides(overrides.build().map_err(invalid)?);
    }
    let max = args.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
    let searcher = SearcherBuilder::new()
        .line_number(true)
        .binary_detection(BinaryDetection::quit(0))
        .build();
    let results = Mutex::new(Vec::new());
    builder.build_parallel().visit(&mut VisitorBuilder {
        matcher: &matcher,
        searcher: &searcher,
        max,
        out: &results,
    });
    let mut tally = Tally::default();
    for part in results.into_inner().unwrap_or_else(PoisonError::into_inner) {
        tally.merge(part);
    }
    tally.prune(max);
    Ok(render(
        &tally,
        args,
        shown,
        &base,
        max,
        case_insensitive,
        glob,
    ))
}

fn render(
    tally: &Tally,
    args: &GrepArgs,
    shown: &str,
    base: &Path,
    max: usize,
    case_insensitive: bool,
    glob: Option<&str>,
) -> String {
    let mut out = String::new();
    let place = match args.path {
        Some(_) => format!("`{shown}`"),
        None => "the working directory".to_string(),
    };
    if tally.matches == 0 {
        let files = plural(tally.files_searched, "file");
        let _ = write!(
            out,
            "No matches for `{}` in {place} ({files} searched",
            args.pattern
        );
        match tally.binary_files {
            0 => {}
            n if n == tally.files_searched => out.push_str(if n == 1 {
                ", but it is binary and was skipped"
            } else {
                ", but all are binary and were skipped"
            }),
            n => {
                let _ = write!(out, ", {n} of them binary and skipped");
            }
        }
        if let Some(glob) = glob {
            let _ = write!(out, ", only those matching `{glob}`");
        }
        if !case_insensitive {
            out.push_str("; case-sensitive, set case_insensitive to true to ignore case");
        }
        out.push_str(
            "). Files excluded by .gitignore/.ignore rules and binary files are not searched.",
        );
    } else {
        let mut shown_hits = 0usize;
        for file in &tally.files {
            let path = display_path(&file.path, base);
            for (line, text) in &file.hits {
                let _ = writeln!(out, "{path}:{line}:{text}");
                shown_hits += 1;
            }
        }
        let lines = plural(tally.matches, "matching line");
        let files = plural(tally.files_matched, "file");
        if max == 0 {
            let _ = write!(
                out,
                "{lines} in {files} (max_results is 0, so none are listed)."
            );
        } else if (shown_hits as u64) < tally.matches {
            let more = tally.matches - shown_hits as u64;
            let _ = write!(
                out,
                "[{shown_hits} of {lines} (in {files}) shown; {more} more not shown. Narrow the \
                 pattern, path or glob, or raise max_results, to see others.]"
            );
        } else {
            out.pop();
        }
    }
    if tally.errors > 0 {
        let example = tally.first_error.as_deref().unwrap_or("unknown error");
        let _ = write!(
            out,
            "\n({} could not be read, e.g. {example}.)",
            plural(tally.errors, "file or directory")
        );
    }
    out
}

fn plural(n: u64, noun: &str) -> String {
    match (n, noun) {
        (1, _) => format!("1 {noun}"),
        (_, "file or directory") => format!("{n} files or directories"),
        _ => format!("{n} {noun}s"),
    }
}

/// Matching lines of one file, at most `max` of them kept.
struct FileHits {
    path: PathBuf,
    hits: Vec<(u64, String)>,
}

/// What one thread (or, merged, the whole search) found.
#[derive(Default)]
struct Tally {
    files: Vec<FileHits>,
    /// Lines in `files`.
    kept: usize,
    matches: u64,
    files_searched: u64,
    files_matched: u64,
    /// Files skipped because they turned out to be binary.
    binary_files: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.files.extend(other.files);
        self.kept += other.kept;
        self.matches += other.matches;
        self.files_searched += other.files_searched;
        self.files_matched += other.files_matched;
        self.binary_files += other.binary_files;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// Keeps only the first `max` lines in path order. Returns the last kept path when `max`
    /// lines are kept: a file after it can no longer make the cut.
    fn prune(&mut self, max: usize) -> Option<PathBuf> {
        self.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        let mut kept = 0usize;
        let mut files = 0usize;
        for file in &mut self.files {
            if kept >= max {
                break;
            }
            file.hits.truncate(max - kept);
            kept += file.hits.len();
            files += 1;
        }
        self.files.truncate(files);
        self.kept = kept;
        if kept >= max {
            self.files.last().map(|file| file.path.clone())
        } else {
            None
        }
    }

    fn error(&mut self, message: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(message);
        }
    }
}

struct VisitorBuilder<'a> {
    matcher: &'a RegexMatcher,
    searcher: &'a Searcher,
    max: usize,
    out: &'a Mutex<Vec<Tally>>,
}

impl<'s> ParallelVisitorBuilder<'s> for VisitorBuilder<'s> {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 's> {
        Box::new(Visitor {
            matcher: self.matcher.clone(),
            searcher: self.searcher.clone(),
            max: self.max,
            tally: Tally::default(),
            cutoff: None,
            out: self.out,
        })
    }
}

/// One thread's searcher and matcher, reused for every file the thread visits.
struct Visitor<'a> {
    matcher: RegexMatcher,
    searcher: Searcher,
    max: usize,
    tally: Tally,
    /// Files after this path cannot be among the lines shown: only count their matches.
    cutoff: Option<PathBuf>,
    out: &'a Mutex<Vec<Tally>>,
}

impl ParallelVisitor for Visitor<'_> {
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                self.tally.error(err.to_string());
                return WalkState::Continue;
            }
        };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            return WalkState::Continue;
        }
        self.tally.files_searched += 1;
        let store = match &self.cutoff {
            Some(cutoff) if entry.path() > cutoff.as_path() => 0,
            _ => self.max,
        };
        let mut sink = FileSink {
            matcher: &self.matcher,
            hits: Vec::new(),
            store,
            count: 0,
            binary: false,
        };
        if let Err(err) = self
            .searcher
            .search_path(&self.matcher, entry.path(), &mut sink)
        {
            self.tally
                .error(format!("{}: {err}", entry.path().display()));
            return WalkState::Continue;
        }
        if sink.binary {
            self.tally.binary_files += 1;
            return WalkState::Continue;
        }
        if sink.count == 0 {
            return WalkState::Continue;
        }
        self.tally.matches += sink.count;
        self.tally.files_matched += 1;
        if !sink.hits.is_empty() {
            self.tally.kept += sink.hits.len();
            self.tally.files.push(FileHits {
                path: entry.into_path(),
                hits: sink.hits,
            });
            if self.tally.kept > self.max.saturating_mul(2).max(256) {
                self.cutoff = self.tally.prune(self.max);
            }
        }
        WalkState::Continue
    }
}

impl Drop for Visitor<'_> {
    fn drop(&mut self) {
        let tally = std::mem::take(&mut self.tally);
        self.out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tally);
    }
}

/// Collects one file's matching lines.
struct FileSink<'m> {
    matcher: &'m RegexMatcher,
    hits: Vec<(u64, String)>,
    /// Lines to keep; the rest are only counted.
    store: usize,
    count: u64,
    binary: bool,
}

impl Sink for FileSink<'_> {
    type Error = io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, io::Error> {
        self.count += 1;
        if self.hits.len() < self.store {
            let line = mat.line_number().unwrap_or(0);
            self.hits.push((line, excerpt(self.matcher, mat.bytes())));
        }
        Ok(true)
    }

    fn binary_data(&mut self, _: &Searcher, _: u64) -> Result<bool, io::Error> {
        self.binary = true;
        Ok(false)
    }
}

/// The line as shown: at most `MAX_LINE_CHARS` characters, around the match when the line is
/// longer, with `…` where text was cut.
fn excerpt(matcher: &RegexMatcher, line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    if line.len() <= MAX_LINE_CHARS {
        return text.into_owned();
    }
    let total = text.chars().count();
    if total <= MAX_LINE_CHARS {
        return text.into_owned();
    }
    let match_at = match matcher.find(line) {
        Ok(Some(m)) => String::from_utf8_lossy(&line[..m.start()]).chars().count(),
        _ => 0,
    };
    let begin = match_at
        .saturating_sub(MAX_LINE_CHARS / 3)
        .min(total - MAX_LINE_CHARS);
    let mut out = String::with_capacity(MAX_LINE_CHARS + 8);
    if begin > 0 {
        out.push('…');
    }
    out.extend(text.chars().skip(begin).take(MAX_LINE_CHARS));
    if begin + MAX_LINE_CHARS < total {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::search::fixture::{fixture, Fixture};

    impl Fixture {
        fn grep(
            &self,
            pattern: &str,
            configure: impl FnOnce(&mut GrepArgs),
        ) -> Result<String, String> {
            let mut args = GrepArgs {
                pattern: pattern.into(),
                path: None,
                glob: None,
                case_insensitive: None,
                max_results: None,
            };
            configure(&mut args);
            grep(&args, &self.work(), &self.guard)
        }
    }

    #[test]
    fn matches_are_sorted_by_path_then_line_relative_to_cwd() {
        let f = fixture();
        f.write("src/b.rs", "fn b() {}\nlet x = 1;\nfn b2() {}\n");
        f.write("src/a.rs", "fn a() {}\n");
        f.write("README.md", "no functions here\n");
        f.write("src/sub/c.rs", "  fn c() {}\r\n");
        let out = f.grep(r"fn \w+\(", |_| {}).expect("grep");
        assert_eq!(
            out,
            "src/a.rs:1:fn a() {}\nsrc/b.rs:1:fn b() {}\nsrc/b.rs:3:fn b2() {}\nsrc/sub/c.rs:1:  fn c() {}"
        );
        let out = f
            .grep("fn", |a| a.path = Some("src/sub".into()))
            .expect("grep");
        assert_eq!(out, "src/sub/c.rs:1:  fn c() {}");
        let out = f
            .grep("fn", |a| a.path = Some("src/a.rs".into()))
            .expect("grep one file");
        assert_eq!(out, "src/a.rs:1:fn a() {}");
    }

    #[test]
    fn ignore_files_are_respected_and_hidden_files_searched() {
        let f = fixture();
        f.write(".gitignore", "target/\n*.log\n");
        f.write(".ignore", "vendor/\n");
        f.write("target/out.rs", "needle\n");
        f.write("debug.log", "needle\n");
        f.write("vendor/lib.rs", "needle\n");
        f.write(".github/workflow.yml", "needle\n");
        f.write(".git/config", "needle\n");
        f.write("src/lib.rs", "needle\n");
        let out = f.grep("needle", |_| {}).expect("grep");
        assert_eq!(out, ".github/workflow.yml:1:needle\nsrc/lib.rs:1:needle");
    }

    #[test]
    fn glob_filter_and_case_insensitivity() {
        let f = fixture();
        f.write("a.rs", "Hello\n");
        f.write("b.py", "hello\n");
        f.write("deep/er/c.rs", "HELLO\n");
        let out = f
            .grep("hello", |a| a.glob = Some("*.rs".into()))
            .expect("grep");
        assert!(out.starts_with("No matches for `hello` in the working directory (2 files searched, only those matching `*.rs`; case-sensitive"), "{out}");
        let out = f
            .grep("hello", |a| {
                a.glob = Some("*.rs".into());
                a.case_insensitive = Some(true);
            })
            .expect("grep");
        assert_eq!(out, "a.rs:1:Hello\ndeep/er/c.rs:1:HELLO");
        let out = f
            .grep("hello", |a| {
                a.glob = Some("!*.rs".into());
                a.case_insensitive = Some(true);
            })
            .expect("grep");
        assert_eq!(out, "b.py:1:hello");
        let out = f
            .grep("(?i)hello", |a| a.glob = Some("*.{py,rs}".into()))
            .expect("grep");
        assert_eq!(out.lines().count(), 3, "{out}");
        let err = f
            .grep("x", |a| a.glob = Some("a[".into()))
            .expect_err("bad glob");
        assert!(err.starts_with("Invalid glob `a[`"), "{err}");
    }

    #[test]
    fn bad_regex_is_an_error_quoting_the_regex_error() {
        let f = fixture();
        let err = f.grep("fn main(", |_| {}).expect_err("bad regex");
        assert!(err.starts_with("Invalid regex `fn main(`:"), "{err}");
        assert!(err.contains("unclosed group"), "{err}");
        assert!(f.grep("", |_| {}).is_err());
    }

    #[test]
    fn no_matches_is_a_plain_ok_line() {
        let f = fixture();
        f.write("a.txt", "abc\n");
        let out = f
            .grep("xyz", |a| a.case_insensitive = Some(true))
            .expect("ok");
        assert_eq!(
            out,
            "No matches for `xyz` in the working directory (1 file searched). Files excluded by \
             .gitignore/.ignore rules and binary files are not searched."
        );
        let err = f
            .grep("x", |a| a.path = Some("missing".into()))
            .expect_err("missing path");
        assert!(err.contains("`missing` does not exist"), "{err}");
    }

    #[test]
    fn binary_files_are_skipped() {
        let f = fixture();
        f.write("text.txt", "needle\n");
        f.write("blob.bin", b"needle\x00\x01\x02needle\n");
        let mut late = b"needle\n".repeat(20_000);
        late.extend_from_slice(b"\x00needle\n");
        f.write("late.bin", &late);
        let out = f.grep("needle", |_| {}).expect("grep");
        assert_eq!(out, "text.txt:1:needle");
        let out = f.grep("absent", |_| {}).expect("grep");
        assert!(out.starts_with("No matches for `absent` in the working directory (3 files searched, 2 of them binary and skipped;"), "{out}");
        let out = f
            .grep("needle", |a| a.path = Some("blob.bin".into()))
            .expect("grep");
        assert!(out.starts_with("No matches for `needle` in `blob.bin` (1 file searched, but it is binary and was skipped;"), "{out}");
    }

    /// All matches, sorted, computed the slow way.
    fn expected(files: &[(String, Vec<u64>)]) -> Vec<String> {
        let mut sorted = files.to_vec();
        sorted.sort_by(|a, b| Path::new(&a.0).cmp(Path::new(&b.0)));
        sorted
            .iter()
            .flat_map(|(path, lines)| lines.iter().map(move |l| format!("{path}:{l}:hit {l}")))
            .collect()
    }

    #[test]
    fn cap_shows_the_first_matches_in_order_and_counts_the_rest() {
        let f = fixture();
        let mut files = Vec::new();
        for i in 0..120 {
            let path = format!("d{}/f{i}.txt", i % 7);
            let lines: Vec<u64> = (1..=(i % 5) as u64 + 1).collect();
            let text: String = lines.iter().map(|l| format!("hit {l}\n")).collect();
            f.write(&path, text);
            files.push((path, lines));
        }
        let all = expected(&files);
        assert_eq!(all.len(), 360);
        for max in [1usize, 3, 100, 300] {
            let out = f.grep("hit", |a| a.max_results = Some(max)).expect("grep");
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(
                lines[..max],
                all[..max].iter().map(String::as_str).collect::<Vec<_>>()
            );
            assert_eq!(
                lines[max],
                format!(
                    "[{max} of 360 matching lines (in 120 files) shown; {} more not shown. \
                     Narrow the pattern, path or glob, or raise max_results, to see others.]",
                    360 - max
                )
            );
        }
        let out = f.grep("hit", |a| a.max_results = Some(1000)).expect("grep");
        assert_eq!(out.lines().collect::<Vec<_>>(), all);
        let out = f.grep("hit", |a| a.max_results = Some(0)).expect("grep");
        assert_eq!(
            out,
            "360 matching lines in 120 files (max_results is 0, so none are listed)."
        );
        let default = f.grep("hit", |_| {}).expect("grep");
        assert_eq!(default.lines().count(), DEFAULT_MAX_RESULTS + 1);
        let out = f
            .grep("hit", |a| a.max_results = Some(usize::MAX))
            .expect("grep");
        assert_eq!(out.lines().count(), 360);
    }

    #[test]
    fn many_matches_in_one_thread_are_pruned_correctly() {
        // Enough matches per file to force pruning inside the visitors.
        let f = fixture();
        let mut files = Vec::new();
        for i in 0..40 {
            let path = format!("f{i:02}.txt");
            let lines: Vec<u64> = (1..=50).collect();
            f.write(
                &path,
                lines
                    .iter()
                    .map(|l| format!("hit {l}\n"))
                    .collect::<String>(),
            );
            files.push((path, lines));
        }
        let all = expected(&files);
        let out = f.grep("hit", |a| a.max_results = Some(120)).expect("grep");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[..120],
            all[..120].iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert!(
            lines[120].starts_with("[120 of 2000 matching lines (in 40 files) shown; 1880 more")
        );
    }

    #[test]
    fn long_lines_are_clipped_around_the_match() {
        let f = fixture();
        let line = format!("{}NEEDLE{}", "a".repeat(5000), "b".repeat(5000));
        f.write("min.js", format!("{line}\nshort NEEDLE\n"));
        let out = f.grep("NEEDLE", |_| {}).expect("grep");
        let lines: Vec<&str> = out.lines().collect();
        let text = lines[0].strip_prefix("min.js:1:").expect("prefix");
        assert!(text.starts_with('…') && text.ends_with('…'), "{text}");
        assert!(text.contains("NEEDLE"), "{text}");
        assert_eq!(text.chars().count(), MAX_LINE_CHARS + 2);
        assert_eq!(lines[1], "min.js:2:short NEEDLE");
    }

    #[test]
    fn paths_outside_cwd_are_absolute_and_sensitive_ones_refused() {
        let f = fixture();
        std::fs::create_dir_all(f.root.join("other")).expect("mkdir");
        std::fs::write(f.root.join("other/x.txt"), "needle\n").expect("write");
        let out = f
            .grep("needle", |a| a.path = Some("../other".into()))
            .expect("grep");
        assert_eq!(
            out,
            format!("{}:1:needle", f.root.join("other/x.txt").display())
        );

        let home = f.root.join("home");
        std::fs::create_dir_all(home.join(".ssh")).expect("mkdir");
        std::fs::write(home.join(".ssh/id_rsa"), "needle\n").expect("write");
        std::fs::write(home.join("notes.txt"), "needle\n").expect("write");
        let err = f
            .grep("needle", |a| a.path = Some("~/.ssh".into()))
            .expect_err("refused");
        assert!(err.contains("Refusing"), "{err}");
        let out = f
            .grep("needle", |a| a.path = Some("~".into()))
            .expect("grep home");
        assert_eq!(
            out,
            format!("{}:1:needle", home.join("notes.txt").display())
        );
        std::os::unix::fs::symlink(home.join(".ssh"), f.work().join("keys")).expect("ln");
        let err = f
            .grep("needle", |a| a.path = Some("keys".into()))
            .expect_err("refused");
        assert!(err.contains("Refusing"), "{err}");
        let out = f.grep("needle", |_| {}).expect("symlinks are not followed");
        assert!(out.starts_with("No matches"), "{out}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn random_patterns_and_paths_never_panic(
            pattern in "[a-z.*+?()\\[\\]\\\\|^$]{0,6}",
            // Relative paths only: `~`, `/` or `../..` would search the whole machine.
            path in proptest::option::of("[a-z]{1,3}(/[a-z.]{0,3})?"),
            glob in proptest::option::of("[a-z*?.!{},\\[\\]/]{0,5}"),
            max in proptest::option::of(0usize..5),
        ) {
            let f = fixture();
            f.write("a/b.txt", "abc\ndef\n(x)\n");
            let _ = f.grep(&pattern, |a| {
                a.path = path;
                a.glob = glob;
                a.max_results = max;
            });
        }
    }
}
