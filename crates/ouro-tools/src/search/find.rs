//! `find_files`: fuzzy path search (nucleo's path-matching scoring) over the ignore-aware walk,
//! scored in parallel with one matcher per walking thread.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use ignore::{DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkState};
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};

use super::sensitive::Sensitive;
use super::{walker, FindFilesArgs};

pub(crate) const DEFAULT_MAX_RESULTS: usize = 50;

pub(crate) fn find_files(
    args: &FindFilesArgs,
    cwd: &Path,
    guard: &Sensitive,
) -> Result<String, String> {
    let query = args.query.trim();
    if query.is_empty() {
        return Err(
            "The query is empty. Give part of a file name or path, e.g. `main.rs` or \
             `src handler`; use list_dir to browse a directory instead."
                .into(),
        );
    }
    let root = guard.check(cwd, &cwd.display().to_string())?;
    if !root.is_dir() {
        return Err(format!(
            "The working directory {} does not exist or is not a directory.",
            cwd.display()
        ));
    }
    let pattern = Pattern::parse(query, CaseMatching::Smart, Normalization::Smart);
    let max = args.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
    let results = Mutex::new(Vec::new());
    walker(&root, guard)
        .build_parallel()
        .visit(&mut VisitorBuilder {
            pattern: &pattern,
            root: &root,
            max,
            out: &results,
        });
    let mut found = Found::default();
    for part in results.into_inner().unwrap_or_else(PoisonError::into_inner) {
        found.merge(part);
    }
    found.prune(max);

    let mut out = String::new();
    if found.matches == 0 {
        let _ = write!(
            out,
            "No file paths match `{query}` in the working directory ({} files looked at; \
             files excluded by .gitignore/.ignore rules are not included). Try fewer or \
             different characters, or use grep to search file contents.",
            found.files
        );
        return Ok(out);
    }
    for (_, path) in &found.best {
        let _ = writeln!(out, "{path}");
    }
    if max == 0 {
        let _ = write!(
            out,
            "{} files match (max_results is 0, so none are listed).",
            found.matches
        );
    } else if (found.best.len() as u64) < found.matches {
        let _ = write!(
            out,
            "[{} of {} matching files shown, best first. Make the query more specific, or raise \
             max_results, to see others.]",
            found.best.len(),
            found.matches
        );
    } else {
        out.pop();
    }
    Ok(out)
}

/// Best first: higher score, then shorter path, then alphabetical.
fn rank(a: &(u32, String), b: &(u32, String)) -> Ordering {
    b.0.cmp(&a.0)
        .then_with(|| a.1.len().cmp(&b.1.len()))
        .then_with(|| a.1.cmp(&b.1))
}

#[derive(Default)]
struct Found {
    best: Vec<(u32, String)>,
    matches: u64,
    files: u64,
}

impl Found {
    fn merge(&mut self, other: Found) {
        self.best.extend(other.best);
        self.matches += other.matches;
        self.files += other.files;
    }

    fn prune(&mut self, max: usize) {
        self.best.sort_unstable_by(rank);
        self.best.truncate(max);
    }
}

struct VisitorBuilder<'a> {
    pattern: &'a Pattern,
    root: &'a Path,
    max: usize,
    out: &'a Mutex<Vec<Found>>,
}

impl<'s> ParallelVisitorBuilder<'s> for VisitorBuilder<'s> {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 's> {
        Box::new(Visitor {
            pattern: self.pattern,
            root: self.root,
            matcher: Matcher::new(Config::DEFAULT.match_paths()),
            chars: Vec::new(),
            max: self.max,
            found: Found::default(),
            out: self.out,
        })
    }
}

struct Visitor<'a> {
    pattern: &'a Pattern,
    root: &'a Path,
    matcher: Matcher,
    /// Scratch space for non-ASCII paths.
    chars: Vec<char>,
    max: usize,
    found: Found,
    out: &'a Mutex<Vec<Found>>,
}

impl ParallelVisitor for Visitor<'_> {
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        let Ok(entry) = entry else {
            return WalkState::Continue;
        };
        let is_file = entry
            .file_type()
            .is_some_and(|t| t.is_file() || t.is_symlink());
        if !is_file || entry.depth() == 0 {
            return WalkState::Continue;
        }
        self.found.files += 1;
        let Ok(rel) = entry.path().strip_prefix(self.root) else {
            return WalkState::Continue;
        };
        let rel = rel.to_string_lossy();
        let haystack = Utf32Str::new(&rel, &mut self.chars);
        if let Some(score) = self.pattern.score(haystack, &mut self.matcher) {
            self.found.matches += 1;
            self.found.best.push((score, rel.into_owned()));
            if self.found.best.len() > self.max.saturating_mul(2).max(256) {
                self.found.prune(self.max);
            }
        }
        WalkState::Continue
    }
}

impl Drop for Visitor<'_> {
    fn drop(&mut self) {
        let found = std::mem::take(&mut self.found);
        self.out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::search::fixture::{fixture, Fixture};

    impl Fixture {
        fn find(&self, query: &str, max: Option<usize>) -> Result<String, String> {
            let args = FindFilesArgs {
                query: query.into(),
                max_results: max,
            };
            find_files(&args, &self.work(), &self.guard)
        }
    }

    #[test]
    fn best_matches_come_first() {
        let f = fixture();
        for rel in [
            "src/main.rs",
            "src/manifest.rs",
            "crates/ouro-cli/src/main.rs",
            "docs/domain/analysis.md",
            "src/search/grep.rs",
            "tests/grep_cli.rs",
            "README.md",
        ] {
            f.write_empty(rel);
        }
        let out = f.find("main.rs", None).expect("find");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[..2],
            ["src/main.rs", "crates/ouro-cli/src/main.rs"],
            "{out}"
        );
        let out = f.find("grep", None).expect("find");
        let mut lines: Vec<&str> = out.lines().collect();
        lines.sort();
        assert_eq!(lines, ["src/search/grep.rs", "tests/grep_cli.rs"], "{out}");
        let out = f.find("grep.rs", None).expect("find");
        assert!(out.starts_with("src/search/grep.rs\n"), "{out}");
        let out = f.find("srchgrep", None).expect("find");
        assert_eq!(out, "src/search/grep.rs");
        let out = f.find("readme", None).expect("smart case");
        assert_eq!(out, "README.md");
        let out = f.find("Readme", None).expect("upper case is exact");
        assert!(out.starts_with("No file paths match `Readme`"), "{out}");
        let out = f.find("main.rs !crates", None).expect("negation");
        assert_eq!(out, "src/main.rs");
    }

    #[test]
    fn ties_go_to_the_shorter_path_then_alphabetical() {
        let f = fixture();
        for rel in ["b/x/util.rs", "a/x/util.rs", "util.rs"] {
            f.write_empty(rel);
        }
        let out = f.find("'util.rs", None).expect("find");
        assert_eq!(out, "util.rs\na/x/util.rs\nb/x/util.rs");
    }

    #[test]
    fn cap_counts_the_rest_and_ignore_files_apply() {
        let f = fixture();
        for i in 0..80 {
            f.write_empty(&format!("mod{i:02}/file.rs"));
        }
        f.write_empty("target/file.rs");
        f.write_empty(".git/file.rs");
        std::fs::write(f.work().join(".gitignore"), "target/\n").expect("write");
        let out = f.find("file", None).expect("find");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), DEFAULT_MAX_RESULTS + 1);
        assert!(!out.contains("target") && !out.contains(".git/"), "{out}");
        assert_eq!(
            lines[DEFAULT_MAX_RESULTS],
            "[50 of 80 matching files shown, best first. Make the query more specific, or raise \
             max_results, to see others.]"
        );
        let out = f.find("file", Some(300)).expect("find");
        assert_eq!(out.lines().count(), 80);
        let out = f.find("file", Some(usize::MAX)).expect("find");
        assert_eq!(out.lines().count(), 80);
        let out = f.find("file", Some(0)).expect("find");
        assert_eq!(
            out,
            "80 files match (max_results is 0, so none are listed)."
        );
    }

    #[test]
    fn empty_query_and_sensitive_dirs() {
        let f = fixture();
        assert!(f.find("  ", None).is_err());
        let home = f.root.join("home");
        std::fs::create_dir_all(home.join(".ssh")).expect("mkdir");
        std::fs::write(home.join(".ssh/id_rsa"), "k").expect("write");
        std::fs::write(home.join("id_notes.txt"), "k").expect("write");
        let args = FindFilesArgs {
            query: "id".into(),
            max_results: None,
        };
        let out = find_files(&args, &home, &f.guard).expect("find");
        assert_eq!(out, "id_notes.txt");
        let err = find_files(&args, &home.join(".ssh"), &f.guard).expect_err("sensitive cwd");
        assert!(err.contains("Refusing"), "{err}");
    }
}
