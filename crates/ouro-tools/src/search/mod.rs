//! Read-only tools for looking around a code base: `read_file`, `list_dir`, `grep` and
//! `find_files`.
//!
//! Each takes its parsed arguments and the directory relative paths start from, blocks
//! (call it from `spawn_blocking`), and returns either the text the model reads or an error
//! message for the model. Reading is not confined to the workspace, but credential stores and
//! ouro's own home are never read, listed into or searched (see [`is_sensitive_path`]).
//!
//! Walks use ripgrep's `ignore` crate: `.gitignore` (inside a git repository), `.ignore`,
//! `.git/info/exclude` and the global git excludes are respected; hidden files are included;
//! version-control directories (`.git`, `.hg`, `.svn`, `.jj`) are skipped.

mod find;
#[cfg(test)]
mod fixture;
mod grep;
mod list;
mod read;
mod sensitive;

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

use sensitive::Sensitive;

/// Read a text file, with line numbers. Shows up to 2000 lines at a time; use `offset` and
/// `limit` to page through longer files. Binary files are described, not dumped.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFileArgs {
    /// The file to read: relative to the working directory, absolute, or starting with `~/`.
    pub path: String,
    /// The 1-based line number to start from (default 1). To continue a partial read, use
    /// the offset the previous result suggests.
    #[serde(default)]
    pub offset: Option<usize>,
    /// How many lines to show (default 2000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// List a directory as an indented tree (directories end with `/`), honouring .gitignore and
/// .ignore files. Hidden files are shown; `.git` is not.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDirArgs {
    /// The directory to list: relative to the working directory, absolute, or starting with
    /// `~/`. Defaults to the working directory.
    #[serde(default)]
    pub path: Option<String>,
    /// How many levels deep to list (default 2; 1 lists only the directory's own entries).
    #[serde(default)]
    pub depth: Option<usize>,
}

/// Search file contents with a regular expression (ripgrep syntax), honouring .gitignore and
/// .ignore files and skipping binary files. Prints `path:line:text`, sorted by path and line.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrepArgs {
    /// The regular expression to search for, in Rust/ripgrep syntax (e.g. `fn\s+main`,
    /// `TODO|FIXME`). Escape special characters such as `(`, `[`, `{`, `.`, `*`, `+`, `?`
    /// and `|` with a backslash to match them literally. Matches within single lines.
    pub pattern: String,
    /// A file or directory to search: relative to the working directory, absolute, or
    /// starting with `~/`. Defaults to the working directory.
    #[serde(default)]
    pub path: Option<String>,
    /// Only search files matching this glob, e.g. `*.rs`, `*.{ts,tsx}` or `src/**/*.py`. A
    /// glob without `/` matches file names at any depth; one with `/` matches paths relative
    /// to the searched directory. A leading `!` excludes matching files instead.
    #[serde(default)]
    pub glob: Option<String>,
    /// Ignore case when matching (default false: case-sensitive).
    #[serde(default)]
    pub case_insensitive: Option<bool>,
    /// The most matching lines to show (default 100). All matches are counted; the result
    /// says how many were left out.
    #[serde(default)]
    pub max_results: Option<usize>,
}

/// Find files by fuzzy matching their paths (like an editor's "go to file"), honouring
/// .gitignore and .ignore files. Best matches first.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindFilesArgs {
    /// Characters to look for in order in file paths relative to the working directory, e.g.
    /// `srchandler` finds `src/api/handler.rs`. Matches in file names rank higher. Several
    /// space-separated words must all match; `'word` matches literally, `^word` at the start,
    /// `word$` at the end, and `!word` excludes paths containing it. Case-insensitive unless
    /// the query contains an upper-case letter.
    pub query: String,
    /// The most paths to show (default 50).
    #[serde(default)]
    pub max_results: Option<usize>,
}

/// Reads a text file with numbered lines (`{number:>6}\t{text}`), a window at a time.
pub fn read_file(args: &ReadFileArgs, cwd: &Path) -> Result<String, String> {
    read::read_file(args, cwd, &Sensitive::from_env(), read::LIMITS)
}

/// Lists a directory as a tree, honouring ignore files.
pub fn list_dir(args: &ListDirArgs, cwd: &Path) -> Result<String, String> {
    list::list_dir(args, cwd, &Sensitive::from_env())
}

/// Searches file contents with a regex, honouring ignore files.
pub fn grep(args: &GrepArgs, cwd: &Path) -> Result<String, String> {
    grep::grep(args, cwd, &Sensitive::from_env())
}

/// Finds files by fuzzy path matching, honouring ignore files.
pub fn find_files(args: &FindFilesArgs, cwd: &Path) -> Result<String, String> {
    find::find_files(args, cwd, &Sensitive::from_env())
}

/// Paths the model must never read through these tools, even outside any sandbox: `~/.ssh`,
/// `~/.gnupg`, `~/.aws`, `~/.config/gcloud`, `~/.netrc`, `~/.docker/config.json`, and
/// `$OURO_HOME` (default `~/.ouro`). Checked on the resolved path, so symlinks and `..` don't
/// get around it. A relative `path` is taken relative to the process's working directory.
pub fn is_sensitive_path(path: &Path) -> bool {
    sensitive::is_sensitive_path(path)
}

/// Where a path argument points: `~` expanded, relative paths joined to `cwd`.
fn resolve_arg(raw: &str, cwd: &Path, guard: &Sensitive) -> Result<PathBuf, String> {
    if raw.is_empty() {
        return Err(
            "The path is empty. Give a file or directory path, e.g. `src/main.rs`, \
             or `.` for the working directory."
                .to_string(),
        );
    }
    let expanded = match (raw.strip_prefix('~'), guard.home()) {
        (Some(""), Some(home)) => home.to_path_buf(),
        (Some(rest), Some(home)) if rest.starts_with('/') => home.join(&rest[1..]),
        _ => PathBuf::from(raw),
    };
    Ok(cwd.join(expanded))
}

/// How a found path is shown: relative to the (resolved) working directory when inside it,
/// else absolute.
fn display_path(path: &Path, base: &Path) -> String {
    match path.strip_prefix(base) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.display().to_string(),
    }
}

/// A walk over `root` (already resolved) with the settings every tool shares.
fn walker(root: &Path, guard: &Sensitive) -> ignore::WalkBuilder {
    let mut builder = ignore::WalkBuilder::new(root);
    builder.hidden(false).follow_links(false);
    let off_limits = guard.inside(root);
    builder.filter_entry(move |entry| {
        if entry.depth() > 0 && sensitive::is_vcs_dir(entry.file_name()) {
            return false;
        }
        off_limits.is_empty() || !off_limits.iter().any(|p| entry.path().starts_with(p))
    });
    builder
}

/// A message for an I/O error on `shown`.
fn io_error(err: &std::io::Error, shown: &str, resolved: &Path, hint: &str) -> String {
    let location = if Path::new(shown) == resolved {
        String::new()
    } else {
        format!(" (resolved to {})", resolved.display())
    };
    match err.kind() {
        std::io::ErrorKind::NotFound => {
            let similar = similar_names(resolved);
            if similar.is_empty() {
                format!("`{shown}` does not exist{location}. {hint}")
            } else {
                let similar: Vec<String> = similar
                    .iter()
                    .map(|name| format!("`{}`", Path::new(shown).with_file_name(name).display()))
                    .collect();
                format!(
                    "`{shown}` does not exist{location}. Did you mean {}? {hint}",
                    similar.join(" or ")
                )
            }
        }
        std::io::ErrorKind::PermissionDenied => {
            format!("Permission denied for `{shown}`{location}.")
        }
        _ => format!("Could not access `{shown}`{location}: {err}."),
    }
}

/// Up to three entries next to the missing `path` whose names are a small edit away from its
/// name (a typo, another extension, other case). Empty when the parent does not exist.
fn similar_names(path: &Path) -> Vec<String> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let wanted: Vec<char> = name.to_string_lossy().to_lowercase().chars().collect();
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let threshold = (wanted.len() / 3).max(1);
    let mut close: Vec<(usize, String)> = entries
        .take(10_000)
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let candidate = entry.file_name().to_string_lossy().into_owned();
            let chars: Vec<char> = candidate.to_lowercase().chars().collect();
            let distance = edit_distance(&wanted, &chars, threshold)?;
            Some((distance, candidate))
        })
        .collect();
    close.sort();
    close.into_iter().take(3).map(|(_, name)| name).collect()
}

/// Levenshtein distance between `a` and `b`, or `None` when it is over `max`.
fn edit_distance(a: &[char], b: &[char], max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    let distance = previous[b.len()];
    (distance <= max).then_some(distance)
}

/// A byte count for people: `532 bytes`, `12.4 KiB`, `3.1 GiB`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_documented_and_unknown_fields_are_refused() {
        let schemas = [
            schemars::schema_for!(ReadFileArgs),
            schemars::schema_for!(ListDirArgs),
            schemars::schema_for!(GrepArgs),
            schemars::schema_for!(FindFilesArgs),
        ];
        for schema in schemas {
            let value = schema.as_value();
            assert_eq!(value["additionalProperties"], false, "{value}");
            assert!(value["description"].is_string(), "{value}");
            let properties = value["properties"].as_object().expect("properties");
            for (name, property) in properties {
                let doc = property["description"].as_str().unwrap_or_default();
                assert!(
                    doc.len() > 10,
                    "field `{name}` needs a doc comment: {value}"
                );
            }
        }
        let read = schemars::schema_for!(ReadFileArgs);
        assert_eq!(read.as_value()["required"], serde_json::json!(["path"]));
        let grep = schemars::schema_for!(GrepArgs);
        assert_eq!(grep.as_value()["required"], serde_json::json!(["pattern"]));
    }

    #[test]
    fn arguments_parse_from_json() {
        let args: GrepArgs =
            serde_json::from_str(r#"{"pattern": "fn main", "glob": "*.rs"}"#).expect("parse");
        assert_eq!(args.glob.as_deref(), Some("*.rs"));
        assert_eq!(args.max_results, None);
        let err = serde_json::from_str::<ReadFileArgs>(r#"{"path": "a", "lines": 3}"#)
            .expect_err("unknown field");
        assert!(err.to_string().contains("lines"), "{err}");
        let args: ListDirArgs = serde_json::from_str("{}").expect("parse");
        assert_eq!(args.path, None);
    }

    #[test]
    fn tilde_expands_to_home() {
        let guard = Sensitive::new(Some(Path::new("/home/u")), None);
        let cwd = Path::new("/work");
        let at = |raw| resolve_arg(raw, cwd, &guard).expect("path");
        assert_eq!(at("~"), PathBuf::from("/home/u"));
        assert_eq!(at("~/a/b"), PathBuf::from("/home/u/a/b"));
        assert_eq!(at("~user/x"), PathBuf::from("/work/~user/x"));
        assert_eq!(at("src"), PathBuf::from("/work/src"));
        assert_eq!(at("/etc/hosts"), PathBuf::from("/etc/hosts"));
        assert!(resolve_arg("", cwd, &guard).is_err());
    }

    #[test]
    fn missing_paths_suggest_similar_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in [
            "main.rs",
            "mail.rs",
            "lib.rs",
            "Cargo.toml",
            "unrelated.txt",
        ] {
            std::fs::write(dir.path().join(name), "").expect("write");
        }
        let err = std::io::Error::from(std::io::ErrorKind::NotFound);
        let message = io_error(&err, "src/mian.rs", &dir.path().join("mian.rs"), "Hint.");
        assert!(
            message.contains("Did you mean `src/main.rs`? Hint."),
            "{message}"
        );
        let message = io_error(&err, "cargo.tml", &dir.path().join("cargo.tml"), "Hint.");
        assert!(message.contains("Did you mean `Cargo.toml`?"), "{message}");
        let message = io_error(&err, "zzz", &dir.path().join("zzz"), "Hint.");
        assert!(!message.contains("Did you mean"), "{message}");
        let message = io_error(&err, "lib.r", &dir.path().join("lib.r"), "Hint.");
        assert!(message.contains("Did you mean `lib.rs`?"), "{message}");
        let message = io_error(&err, "mai.rs", &dir.path().join("mai.rs"), "Hint.");
        assert!(
            message.contains("Did you mean `mail.rs` or `main.rs`?"),
            "{message}"
        );
        let message = io_error(&err, "a/b", &dir.path().join("a/b"), "Hint.");
        assert!(!message.contains("Did you mean"), "{message}");
        assert_eq!(edit_distance(&['a', 'b'], &['b', 'a'], 2), Some(2));
        assert_eq!(edit_distance(&['a'; 9], &[], 3), None);
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(2048), "2.0 KiB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
