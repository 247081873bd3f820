//! The apply_patch engine: parses the Codex patch format and applies it to files.
//!
//! Models edit files by sending a patch rather than whole files: it is shorter, it says what
//! changed, and a stale view of the file shows up as a failed match instead of silently
//! overwriting someone's edit. That only works if the engine is both lenient about harmless
//! slips (whitespace, curly quotes, heredoc wrappers) and strict about anything that could
//! put a change in the wrong place. So:
//!
//! - **Matching is fuzzy in levels but never guesses.** A hunk is looked up exactly, then
//!   ignoring trailing whitespace, then ignoring surrounding whitespace, then with Unicode
//!   punctuation normalised. The first level that finds it wins; if that level finds it in
//!   two or more places the patch is refused as ambiguous ([`matcher`]).
//! - **All or nothing.** The whole patch is parsed and every file's new content computed in
//!   memory before anything is written; writes are atomic renames, and a failure halfway
//!   through the writes rolls back the files already written ([`apply`]).
//! - **Errors are for the model.** They name the file, the hunk and the patch line, quote the
//!   line that did not match and show the closest lines of the file, so the next attempt can
//!   be right.
//! - **Files keep their shape.** Line endings, the final newline and permissions survive;
//!   context lines are kept as they are in the file even when they matched only fuzzily.
//!
//! Models not trained on the patch format edit through [`edit_file`] (exact-string
//! replacement) and [`write_file`] (whole file) instead. Both go through the same path
//! checks, in-memory planning and atomic commit, and report the same [`ApplyOutcome`]
//! with a unified diff ([`edit`] has the matching rules).

mod apply;
mod diff;
mod edit;
mod matcher;
mod parser;
mod shell;

#[cfg(test)]
mod edit_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use ouro_protocol::PatchChangeKind;

pub use parser::{FileOp, Hunk, HunkLine, HunkLineKind, Patch};
pub use shell::{parse_shell_apply_patch, ShellApplyPatch};

/// One file changed by a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedChange {
    /// The file as named in the patch: relative to the cwd when it lies inside it, else
    /// absolute (normalised, symlinks not resolved).
    pub path: PathBuf,
    pub kind: PatchChangeKind,
    /// Where an updated file was moved to (same form as `path`).
    pub move_to: Option<PathBuf>,
    /// A standard unified diff of this change (`---`/`+++`/`@@ -a,b +c,d @@`).
    pub unified_diff: String,
}

/// What a successful patch did, in patch order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplyOutcome {
    pub changes: Vec<AppliedChange>,
}

impl ApplyOutcome {
    /// The text the model reads after a successful patch (Codex wording): added, then
    /// modified, then deleted files, one per line.
    pub fn summary(&self) -> String {
        let mut out = String::from("Success. Updated the following files:\n");
        for (kind, letter) in [
            (PatchChangeKind::Add, 'A'),
            (PatchChangeKind::Update, 'M'),
            (PatchChangeKind::Delete, 'D'),
        ] {
            for change in self.changes.iter().filter(|c| c.kind == kind) {
                let shown = change.move_to.as_ref().unwrap_or(&change.path);
                out.push_str(&format!("{letter} {}\n", shown.display()));
            }
        }
        out
    }

    /// All changes' unified diffs, concatenated.
    pub fn unified_diff(&self) -> String {
        self.changes
            .iter()
            .map(|c| c.unified_diff.as_str())
            .collect()
    }
}

/// Why a patch was not applied. Nothing was changed on disk when one of these is returned.
///
/// The `Display` text is what the model reads, so each message says what was wrong, where,
/// and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch text is not in the expected format.
    #[error("invalid patch, line {line}: {message}")]
    Parse { line: usize, message: String },

    /// A hunk's lines were not found in the file.
    #[error("{}: hunk {hunk} (patch line {patch_line}) does not match the file.\n{details}", .path.display())]
    HunkNotFound {
        path: PathBuf,
        hunk: usize,
        patch_line: usize,
        details: String,
    },

    /// A hunk's lines were found in more than one place.
    #[error(
        "{}: hunk {hunk} (patch line {patch_line}) matches {} (lines {}){}; add more unchanged context lines around the change, or an `@@ <line>` naming the enclosing function or class, so that it matches exactly one place",
        .path.display(),
        places(*.lines_more, .lines.len()),
        join_numbers(.lines),
        .level_note
    )]
    AmbiguousHunk {
        path: PathBuf,
        hunk: usize,
        patch_line: usize,
        /// 1-based first lines of the matches found (at most a handful).
        lines: Vec<usize>,
        /// More matches exist than are listed.
        lines_more: bool,
        level_note: String,
    },

    /// The text after `@@` was not found.
    #[error("{}: hunk {hunk} (patch line {patch_line}): the line `{anchor}` given after @@ was not found in the file{}; the text after @@ must be a line of the file (e.g. a function or class header), copied exactly, that comes before the hunk", .path.display(), after_line(*.searched_from))]
    AnchorNotFound {
        path: PathBuf,
        hunk: usize,
        patch_line: usize,
        anchor: String,
        /// 0 when the whole file was searched, else the 1-based line after which it was.
        searched_from: usize,
    },

    #[error("{}: cannot add a file that already exists (use `*** Update File:` to change it, or `*** Delete File:` first)", .path.display())]
    FileExists { path: PathBuf },

    #[error("{}: cannot {action} a file that does not exist{}", .path.display(), missing_hint(.action))]
    FileMissing { path: PathBuf, action: &'static str },

    #[error("{}: is not a regular file (it is {what}); only regular files can be changed", .path.display())]
    NotAFile { path: PathBuf, what: &'static str },

    #[error("{}: cannot move to {}: that file already exists", .from.display(), .to.display())]
    MoveDestinationExists { from: PathBuf, to: PathBuf },

    #[error("{}: the file is not valid UTF-8 text; only text files can be edited", .path.display())]
    NotUtf8 { path: PathBuf },

    #[error("{}: refusing to write outside the writable roots (it resolves to {}); writable roots: {}", .path.display(), .resolved.display(), list_roots(.roots))]
    OutsideWritableRoots {
        path: PathBuf,
        resolved: PathBuf,
        roots: Vec<PathBuf>,
    },

    #[error("{}: is inside {}, which stays read-only (a workspace's .git is protected unless [sandbox_workspace_write] git_writable = true); nothing was changed", .path.display(), .protected.display())]
    ReadOnlyPath { path: PathBuf, protected: PathBuf },

    /// edit_file: old_string does not occur in the file.
    #[error("{}: old_string was not found in the file, so nothing was changed.\n{details}", .path.display())]
    EditNotFound { path: PathBuf, details: String },

    /// edit_file: old_string occurs more than once and replace_all is false.
    #[error(
        "{}: old_string occurs {count} times{level_note} ({}); include more of the surrounding lines in old_string so that it matches exactly one place, or set replace_all to true to change every occurrence",
        .path.display(),
        on_lines(.lines, *.lines_more)
    )]
    EditAmbiguous {
        path: PathBuf,
        /// How many occurrences there are.
        count: usize,
        /// Distinct 1-based lines where the first occurrences start (at most a handful).
        lines: Vec<usize>,
        /// More lines have occurrences than are listed.
        lines_more: bool,
        level_note: String,
    },

    /// edit_file or write_file arguments that cannot be acted on.
    #[error("{}: {message}", .path.display())]
    InvalidEdit { path: PathBuf, message: String },

    #[error("{tool}: the path is empty; give the file's path, relative to the working directory or absolute")]
    MissingPath { tool: &'static str },

    #[error("{}: could not {action}: {source}", .path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
}

fn places(more: bool, count: usize) -> String {
    if more {
        format!("at least {count} places")
    } else {
        format!("{count} places")
    }
}

fn join_numbers(numbers: &[usize]) -> String {
    let parts: Vec<String> = numbers.iter().map(|n| n.to_string()).collect();
    parts.join(", ")
}

fn on_lines(lines: &[usize], more: bool) -> String {
    let word = if lines.len() == 1 && !more {
        "line"
    } else {
        "lines"
    };
    let more = if more { ", …" } else { "" };
    format!("on {word} {}{more}", join_numbers(lines))
}

fn after_line(searched_from: usize) -> String {
    if searched_from == 0 {
        String::new()
    } else {
        format!(" after line {searched_from}")
    }
}

fn missing_hint(action: &str) -> &'static str {
    match action {
        "update" => " (use `*** Add File:` to create it; check the path)",
        "edit" => " (use write_file to create it; check the path)",
        _ => " (check the path)",
    }
}

fn list_roots(roots: &[PathBuf]) -> String {
    if roots.is_empty() {
        return "none (writing is not allowed in this sandbox mode)".to_string();
    }
    let parts: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    parts.join(", ")
}

/// Parses patch text without touching the file system.
pub fn parse_patch(text: &str) -> Result<Patch, PatchError> {
    parser::parse(text)
}

/// Parses and applies a patch. Relative paths are resolved against `cwd`; every path written
/// or deleted must resolve (symlinks included) inside one of `writable_roots` — an empty
/// slice allows no writes at all. Either every change is made or none is.
pub fn apply_patch(
    text: &str,
    cwd: &Path,
    writable_roots: &[PathBuf],
) -> Result<ApplyOutcome, PatchError> {
    let patch = parse_patch(text)?;
    let plan = apply::plan(&patch, cwd, writable_roots)?;
    plan.commit()
}

/// Computes what [`apply_patch`] would do — the same checks, errors and diffs — without
/// writing anything (for showing a diff before approval).
pub fn preview_patch(
    text: &str,
    cwd: &Path,
    writable_roots: &[PathBuf],
) -> Result<ApplyOutcome, PatchError> {
    let patch = parse_patch(text)?;
    let plan = apply::plan(&patch, cwd, writable_roots)?;
    Ok(plan.outcome())
}

/// When a model runs `apply_patch <<'EOF' ... EOF` (or `bash -lc "apply_patch <<'EOF'\n...\nEOF"`,
/// or argv `["apply_patch", "<patch>"]`) through the shell tool, return the patch text so
/// the harness applies it itself.
///
/// Invocations that change directory first (`cd dir && apply_patch ...`) return `None` here,
/// because the patch's relative paths would be resolved against the wrong directory; use
/// [`parse_shell_apply_patch`] to handle those too.
pub fn patch_from_shell_argv(argv: &[String]) -> Option<String> {
    match parse_shell_apply_patch(argv) {
        Some(ShellApplyPatch {
            patch,
            workdir: None,
        }) => Some(patch),
        _ => None,
    }
}

/// Replaces `old_string` with `new_string` in one file: exactly one occurrence must exist,
/// unless `replace_all`, which replaces every (non-overlapping) occurrence.
///
/// Lookup is exact first, then with `\r\n` read as `\n` (so bare-`\n` strings edit CRLF
/// files), then as whole lines ignoring trailing whitespace; more than one match at the
/// first step that finds any is an error naming the lines. Line breaks in `new_string` are
/// written in the file's style. Errors name the file, quote old_string and show the file's
/// closest lines. Paths, writes, permissions and all-or-nothing behave as in
/// [`apply_patch`]; the diff covers only the changed lines and their context.
pub fn edit_file(
    path: &str,
    old_string: &str,
    new_string: &str,
    replace_all: bool,
    cwd: &Path,
    writable_roots: &[PathBuf],
) -> Result<ApplyOutcome, PatchError> {
    edit::edit_file(
        path,
        old_string,
        new_string,
        replace_all,
        cwd,
        writable_roots,
    )
}

/// Writes the whole file: creates it (and its parent directories) when missing — an `Add`
/// change — else replaces its content — an `Update`, with a line diff against the old
/// content. Permissions are kept. If the file's lines mostly end in `\r\n` and `content`
/// uses bare `\n` only, the content is written with `\r\n`. Non-UTF-8 files can be
/// overwritten; directories, special files and paths outside the writable roots are
/// refused. Writing the content the file already has changes nothing on disk.
pub fn write_file(
    path: &str,
    content: &str,
    cwd: &Path,
    writable_roots: &[PathBuf],
) -> Result<ApplyOutcome, PatchError> {
    edit::write_file(path, content, cwd, writable_roots)
}

impl fmt::Display for ApplyOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

/// Refuses when one of `paths` (as a patch or edit names them, relative to `cwd`) lands in
/// one of `protected` (directories that stay read-only, such as a workspace's `.git`),
/// symlinks and `..` resolved.
pub(crate) fn check_protected<'a>(
    paths: impl IntoIterator<Item = &'a str>,
    cwd: &Path,
    protected: &[PathBuf],
) -> Result<(), PatchError> {
    for path in paths {
        let lexical = apply::normalize_lexically(&cwd.join(path));
        let real = apply::real_path(&lexical, true);
        for dir in protected {
            let real_dir = apply::real_path(&apply::normalize_lexically(dir), true);
            if real.starts_with(&real_dir) || lexical.starts_with(dir) {
                return Err(PatchError::ReadOnlyPath {
                    path: PathBuf::from(path),
                    protected: dir.clone(),
                });
            }
        }
    }
    Ok(())
}
