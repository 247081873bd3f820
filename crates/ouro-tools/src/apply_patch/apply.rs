//! Applying a parsed patch: path checks, in-memory planning, then an all-or-nothing commit.
//!
//! Planning runs every operation against an in-memory overlay of the files it touches, so
//! later operations see earlier ones (add then update, delete then add, move chains) and
//! every failure happens before the first byte is written. Committing writes each new file
//! to a temporary file beside its target, then renames all of them into place and removes
//! deleted files; if any of that fails, what was already done is undone from the originals
//! kept in memory.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ouro_protocol::PatchChangeKind;

use super::diff::{unified_diff, DiffLine};
use super::matcher::{Found, LineIndex};
use super::parser::{FileOp, Hunk, HunkLine, HunkLineKind, Patch};
use super::{AppliedChange, ApplyOutcome, PatchError};

// ---------------------------------------------------------------------------------------
// Paths

/// Removes `.` and resolves `..` without touching the file system.
pub(crate) fn normalize_lexically(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                // `..` above the root stays at the root, as the kernel does.
                if !out.pop() && !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The path with symlinks resolved as far as the path exists: the nearest existing ancestor
/// is canonicalised and the rest appended. With `follow_final` false the last component is
/// not resolved (deleting a symlink deletes the link, not its target).
pub(crate) fn real_path(lexical: &Path, follow_final: bool) -> PathBuf {
    if !follow_final {
        if let (Some(parent), Some(name)) = (lexical.parent(), lexical.file_name()) {
            return real_path(parent, true).join(name);
        }
    }
    let mut existing = lexical.to_path_buf();
    let mut missing = Vec::new();
    loop {
        if let Ok(canonical) = fs::canonicalize(&existing) {
            return missing
                .iter()
                .rev()
                .fold(canonical, |path: PathBuf, name| path.join(name));
        }
        match existing.file_name() {
            Some(name) => {
                missing.push(name.to_os_string());
                existing.pop();
            }
            None => return lexical.to_path_buf(),
        }
    }
}

/// A patch path resolved against the cwd.
#[derive(Debug, Clone)]
struct Resolved {
    /// Relative to the cwd when inside it, else absolute; used in messages and outcomes.
    shown: PathBuf,
    /// Symlinks resolved; this is what is read, written and checked against the roots.
    real: PathBuf,
}

struct PathRules {
    cwd: PathBuf,
    roots_given: Vec<PathBuf>,
    roots_real: Vec<PathBuf>,
}

impl PathRules {
    fn new(cwd: &Path, roots: &[PathBuf]) -> Self {
        let cwd = if cwd.is_absolute() {
            normalize_lexically(cwd)
        } else {
            let base = std::env::current_dir().unwrap_or_default();
            normalize_lexically(&base.join(cwd))
        };
        let roots_real = roots
            .iter()
            .map(|root| real_path(&normalize_lexically(&cwd.join(root)), true))
            .collect();
        PathRules {
            cwd,
            roots_given: roots.to_vec(),
            roots_real,
        }
    }

    fn resolve(&self, raw: &str, follow_final: bool) -> Result<Resolved, PatchError> {
        let lexical = normalize_lexically(&self.cwd.join(raw));
        let shown = match lexical.strip_prefix(&self.cwd) {
            Ok(relative) if !relative.as_os_str().is_empty() => relative.to_path_buf(),
            _ => lexical.clone(),
        };
        let real = real_path(&lexical, follow_final);
        let inside = self
            .roots_real
            .iter()
            .any(|root| real.starts_with(root) && real != *root);
        if !inside {
            return Err(PatchError::OutsideWritableRoots {
                path: PathBuf::from(raw),
                resolved: real,
                roots: self.roots_given.clone(),
            });
        }
        Ok(Resolved { shown, real })
    }
}

fn diff_label(prefix: &str, shown: &Path) -> String {
    if shown.is_absolute() {
        shown.display().to_string()
    } else {
        format!("{prefix}/{}", shown.display())
    }
}

// ---------------------------------------------------------------------------------------
// Updating one file's text

/// A file's text split into lines, remembering each line's terminator.
struct SourceText<'a> {
    lines: Vec<&'a str>,
    endings: Vec<&'a str>,
    /// The terminator new lines get: the file's dominant one.
    newline: &'static str,
    ends_with_newline: bool,
}

impl<'a> SourceText<'a> {
    fn split(text: &'a str) -> Self {
        let mut lines = Vec::new();
        let mut endings = Vec::new();
        let (mut crlf, mut lf) = (0usize, 0usize);
        for piece in text.split_inclusive('\n') {
            let (line, ending) = if let Some(line) = piece.strip_suffix("\r\n") {
                crlf += 1;
                (line, "\r\n")
            } else if let Some(line) = piece.strip_suffix('\n') {
                lf += 1;
                (line, "\n")
            } else {
                (piece, "")
            };
            lines.push(line);
            endings.push(ending);
        }
        SourceText {
            lines,
            endings,
            newline: if crlf > lf { "\r\n" } else { "\n" },
            ends_with_newline: text.is_empty() || text.ends_with('\n'),
        }
    }
}

/// What happens to the file's lines, in order.
#[derive(Clone, Copy)]
enum Step<'h> {
    Keep(usize),
    Remove(usize),
    Insert(&'h str),
}

/// The new text and the unified diff of applying `hunks` to `original`.
pub(crate) fn apply_hunks(
    shown: &Path,
    original: &str,
    hunks: &[Hunk],
    old_label: &str,
    new_label: &str,
) -> Result<(String, String), PatchError> {
    let source = SourceText::split(original);
    let index = LineIndex::new(source.lines.clone());
    let total = index.len();
    let mut steps: Vec<Step<'_>> = Vec::with_capacity(total + hunks.len() * 2);
    // Lines before `next` are already accounted for in `steps`.
    let mut next = 0usize;
    for (i, hunk) in hunks.iter().enumerate() {
        let (lines, start) = locate_hunk(shown, &index, hunk, i + 1, next)?;
        steps.extend((next..start).map(Step::Keep));
        let mut position = start;
        for line in lines {
            match line.kind {
                HunkLineKind::Context => {
                    steps.push(Step::Keep(position));
                    position += 1;
                }
                HunkLineKind::Remove => {
                    steps.push(Step::Remove(position));
                    position += 1;
                }
                HunkLineKind::Add => steps.push(Step::Insert(&line.text)),
            }
        }
        next = position;
    }
    steps.extend((next..total).map(Step::Keep));

    let mut new_lines: Vec<(&str, &str)> = Vec::with_capacity(steps.len());
    for step in &steps {
        match *step {
            Step::Keep(i) => new_lines.push((source.lines[i], source.endings[i])),
            Step::Insert(text) => new_lines.push((text, source.newline)),
            Step::Remove(_) => {}
        }
    }
    let last = new_lines.len().saturating_sub(1);
    let mut text = String::with_capacity(original.len() + 64);
    for (i, (line, ending)) in new_lines.iter().enumerate() {
        text.push_str(line);
        let ending = match (i == last, ending.is_empty()) {
            (true, _) if !source.ends_with_newline => "",
            (_, true) => source.newline,
            _ => ending,
        };
        text.push_str(ending);
    }

    let script: Vec<DiffLine<'_>> = steps
        .iter()
        .map(|step| match *step {
            Step::Keep(i) => DiffLine::Same(source.lines[i]),
            Step::Remove(i) => DiffLine::Old(source.lines[i]),
            Step::Insert(t) => DiffLine::New(t),
        })
        .collect();
    let diff = unified_diff(
        old_label,
        new_label,
        &script,
        !original.is_empty() && !original.ends_with('\n'),
        !text.is_empty() && !text.ends_with('\n'),
    );
    Ok((text, diff))
}

/// Finds where `hunk` applies, searching from line `from`. Returns the hunk lines to apply
/// (possibly without blank context lines at its edges, see below) and the 0-based line
/// where its first context or removed line goes.
fn locate_hunk<'h>(
    shown: &Path,
    index: &LineIndex<'_>,
    hunk: &'h Hunk,
    hunk_no: usize,
    from: usize,
) -> Result<(&'h [HunkLine], usize), PatchError> {
    let mut search_from = from;
    let mut anchor_line = None;
    for anchor in &hunk.anchors {
        match index.find_anchor(anchor, search_from) {
            Some(i) => {
                anchor_line = Some(i);
                search_from = i + 1;
            }
            None => {
                return Err(PatchError::AnchorNotFound {
                    path: shown.to_path_buf(),
                    hunk: hunk_no,
                    patch_line: hunk.line,
                    anchor: anchor.clone(),
                    searched_from: search_from,
                })
            }
        }
    }

    let all = &hunk.lines[..];
    if hunk.old_lines().next().is_none() {
        // Only additions: after the anchor, else at the end of the file.
        let at = match anchor_line {
            Some(_) if !hunk.end_of_file => search_from,
            _ => index.len(),
        };
        return Ok((all, at));
    }

    // Models often pad a hunk with blank lines the file does not have at that spot; if the
    // hunk as written is not found, try once more without blank context at its edges.
    let is_blank_context =
        |l: &HunkLine| l.kind == HunkLineKind::Context && l.text.trim().is_empty();
    let lead = all.iter().take_while(|l| is_blank_context(l)).count();
    let trail = all[lead..]
        .iter()
        .rev()
        .take_while(|l| is_blank_context(l))
        .count();
    let trimmed = &all[lead..all.len() - trail];
    let mut candidates = vec![all];
    if trimmed.len() != all.len() && trimmed.iter().any(|l| l.kind != HunkLineKind::Add) {
        candidates.push(trimmed);
    }

    for lines in &candidates {
        let pattern: Vec<&str> = old_texts(lines);
        // If the hunk repeats its @@ line as first context line, it starts at the anchor.
        let mut starts = vec![search_from];
        if let Some(anchor) = anchor_line {
            starts.push(anchor);
        }
        for start in starts {
            match index.find(&pattern, start, hunk.end_of_file) {
                Found::Unique(at) => return Ok((lines, at)),
                Found::Ambiguous {
                    starts,
                    more,
                    level,
                } => {
                    return Err(PatchError::AmbiguousHunk {
                        path: shown.to_path_buf(),
                        hunk: hunk_no,
                        patch_line: hunk.line,
                        lines: starts.iter().map(|s| s + 1).collect(),
                        lines_more: more,
                        level_note: level.note().to_string(),
                    })
                }
                Found::Absent => {}
            }
        }
    }

    Err(PatchError::HunkNotFound {
        path: shown.to_path_buf(),
        hunk: hunk_no,
        patch_line: hunk.line,
        details: explain_mismatch(shown, index, hunk, search_from, anchor_line.is_some()),
    })
}

fn old_texts(lines: &[HunkLine]) -> Vec<&str> {
    lines
        .iter()
        .filter(|l| l.kind != HunkLineKind::Add)
        .map(|l| l.text.as_str())
        .collect()
}

/// Shortens a line for quoting in an error.
pub(crate) fn clip(line: &str) -> String {
    const MAX: usize = 160;
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// Says, for the model, why a hunk did not match and what the file has instead.
fn explain_mismatch(
    shown: &Path,
    index: &LineIndex<'_>,
    hunk: &Hunk,
    from: usize,
    after_anchor: bool,
) -> String {
    let expected: Vec<&HunkLine> = hunk.old_lines().collect();
    let pattern: Vec<&str> = expected.iter().map(|l| l.text.as_str()).collect();
    let total = index.len();
    let retry =
        "Read the file again and resend the patch with ' ' and '-' lines copied exactly from it.";

    let anywhere = match index.find(&pattern, 0, false) {
        Found::Unique(at) => Some(at),
        Found::Ambiguous { starts, .. } => starts.first().copied(),
        Found::Absent => None,
    };
    if let Some(at) = anywhere {
        if hunk.end_of_file {
            return format!(
                "The hunk is marked `*** End of File`, but its lines are at line {} while the file has {total} lines. Remove the marker or include the file's last lines in the hunk.",
                at + 1
            );
        }
        if at < from {
            let after = if after_anchor {
                "the @@ line"
            } else {
                "the previous hunk"
            };
            return format!(
                "Its lines occur at line {}, but this hunk is searched for after line {from} (after {after}). Hunks of a file must be in the order their lines appear in the file, and an @@ line must come before its hunk's lines.",
                at + 1
            );
        }
    }

    let mut out = String::new();
    match index.closest_window(&pattern, from) {
        Some((start, shared)) => {
            let first_bad = (0..pattern.len())
                .find(|&j| !index.loosely_equal(start + j, pattern[j]))
                .unwrap_or(0);
            let bad = expected[first_bad];
            out.push_str(&format!(
                "The closest place is line {} of {}, where {shared} of the hunk's {} expected lines match. The first expected line that does not match (patch line {}) is:\n    {}\n",
                start + 1,
                shown.display(),
                pattern.len(),
                bad.line,
                clip(&bad.text)
            ));
            let at = start + first_bad;
            if at < total {
                out.push_str(&format!(
                    "but line {} of the file is:\n    {}\n",
                    at + 1,
                    clip(index.line(at))
                ));
            } else {
                out.push_str("but the file ends before it.\n");
            }
            out.push_str(&show_lines(shown, index, start, pattern.len()));
        }
        None => {
            let first = expected[0];
            out.push_str(&format!(
                "None of the hunk's lines occur in {} ({total} lines). Its first expected line (patch line {}) is:\n    {}\n",
                shown.display(),
                first.line,
                clip(&first.text)
            ));
        }
    }
    if hunk.end_of_file {
        out.push_str(
            "The hunk is marked `*** End of File`, so it must match the file's last lines.\n",
        );
    }
    out.push_str(retry);
    out
}

/// The file's lines around the `len` lines starting at 0-based `start` (two more on each
/// side, at most 40), numbered, under a `Lines a-b of <file>:` heading.
pub(crate) fn show_lines(shown: &Path, index: &LineIndex<'_>, start: usize, len: usize) -> String {
    let total = index.len();
    let show_from = start.saturating_sub(2);
    let show_to = (start + len + 2).min(total).min(show_from + 40);
    if show_from >= show_to {
        return String::new();
    }
    let mut out = format!(
        "Lines {}-{} of {}:\n",
        show_from + 1,
        show_to,
        shown.display()
    );
    let width = show_to.to_string().len();
    for i in show_from..show_to {
        out.push_str(&format!("{:>width$} | {}\n", i + 1, clip(index.line(i))));
    }
    out
}

// ---------------------------------------------------------------------------------------
// The in-memory overlay

/// What was on disk before the patch (kept for undoing a failed commit).
#[derive(Debug)]
enum Disk {
    Missing,
    File {
        bytes: Vec<u8>,
        permissions: fs::Permissions,
    },
    Symlink {
        target: PathBuf,
    },
    Dir,
    Other,
}

/// What the patch has made of a path so far.
#[derive(Debug)]
enum State {
    Unchanged,
    Written {
        text: String,
        /// `None`: the permissions the file had on disk, else the default for new files.
        permissions: Option<fs::Permissions>,
    },
    Deleted,
}

#[derive(Debug)]
struct Entry {
    real: PathBuf,
    shown: PathBuf,
    disk: Disk,
    state: State,
}

impl Entry {
    fn exists(&self) -> bool {
        match self.state {
            State::Unchanged => !matches!(self.disk, Disk::Missing),
            State::Written { .. } => true,
            State::Deleted => false,
        }
    }

    fn not_a_file(&self) -> Option<PatchError> {
        let what = match (&self.state, &self.disk) {
            (State::Unchanged, Disk::Dir) => "a directory",
            (State::Unchanged, Disk::Symlink { .. }) => "a symbolic link to a missing file",
            (State::Unchanged, Disk::Other) => "a special file",
            _ => return None,
        };
        Some(PatchError::NotAFile {
            path: self.shown.clone(),
            what,
        })
    }

    /// The current text, for an update.
    fn text(&self) -> Result<String, PatchError> {
        if !self.exists() {
            return Err(PatchError::FileMissing {
                path: self.shown.clone(),
                action: "update",
            });
        }
        if let Some(err) = self.not_a_file() {
            return Err(err);
        }
        match (&self.state, &self.disk) {
            (State::Written { text, .. }, _) => Ok(text.clone()),
            (_, Disk::File { bytes, .. }) => match std::str::from_utf8(bytes) {
                Ok(text) => Ok(text.to_string()),
                Err(_) => Err(PatchError::NotUtf8 {
                    path: self.shown.clone(),
                }),
            },
            _ => Err(PatchError::FileMissing {
                path: self.shown.clone(),
                action: "update",
            }),
        }
    }

    /// The permissions a moved copy of this file should get.
    fn permissions(&self) -> Option<fs::Permissions> {
        match (&self.state, &self.disk) {
            (
                State::Written {
                    permissions: Some(p),
                    ..
                },
                _,
            ) => Some(p.clone()),
            (_, Disk::File { permissions, .. }) => Some(permissions.clone()),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Overlay {
    entries: Vec<Entry>,
    by_real: HashMap<PathBuf, usize>,
}

impl Overlay {
    /// The entry for `path`, reading the file from disk the first time it is touched.
    fn touch(&mut self, path: &Resolved) -> Result<usize, PatchError> {
        if let Some(&i) = self.by_real.get(&path.real) {
            return Ok(i);
        }
        let io_error = |action, source| PatchError::Io {
            path: path.shown.clone(),
            action,
            source,
        };
        let disk = match fs::symlink_metadata(&path.real) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Disk::Missing,
            Err(e) => return Err(io_error("inspect the file", e)),
            Ok(meta) if meta.is_file() => Disk::File {
                bytes: fs::read(&path.real).map_err(|e| io_error("read the file", e))?,
                permissions: meta.permissions(),
            },
            Ok(meta) if meta.is_dir() => Disk::Dir,
            Ok(meta) if meta.file_type().is_symlink() => Disk::Symlink {
                target: fs::read_link(&path.real).map_err(|e| io_error("read the link", e))?,
            },
            Ok(_) => Disk::Other,
        };
        let i = self.entries.len();
        self.entries.push(Entry {
            real: path.real.clone(),
            shown: path.shown.clone(),
            disk,
            state: State::Unchanged,
        });
        self.by_real.insert(path.real.clone(), i);
        Ok(i)
    }
}

// ---------------------------------------------------------------------------------------
// Planning

/// Every change of a patch, computed and checked, not yet written.
pub(crate) struct Plan {
    overlay: Overlay,
    changes: Vec<AppliedChange>,
}

fn lines_of(text: &str) -> Vec<&str> {
    text.lines().collect()
}

fn missing_final_newline(text: &str) -> bool {
    !text.is_empty() && !text.ends_with('\n')
}

pub(crate) fn plan(patch: &Patch, cwd: &Path, roots: &[PathBuf]) -> Result<Plan, PatchError> {
    let rules = PathRules::new(cwd, roots);
    let mut overlay = Overlay::default();
    let mut changes = Vec::with_capacity(patch.ops.len());
    for op in &patch.ops {
        match op {
            FileOp::Add { path, contents, .. } => {
                let target = rules.resolve(path, true)?;
                let i = overlay.touch(&target)?;
                let entry = &mut overlay.entries[i];
                if entry.exists() {
                    return Err(entry.not_a_file().unwrap_or(PatchError::FileExists {
                        path: target.shown.clone(),
                    }));
                }
                let script: Vec<DiffLine<'_>> =
                    lines_of(contents).into_iter().map(DiffLine::New).collect();
                let unified_diff = unified_diff(
                    "/dev/null",
                    &diff_label("b", &target.shown),
                    &script,
                    false,
                    missing_final_newline(contents),
                );
                entry.state = State::Written {
                    text: contents.clone(),
                    permissions: None,
                };
                changes.push(AppliedChange {
                    path: target.shown,
                    kind: PatchChangeKind::Add,
                    move_to: None,
                    unified_diff,
                });
            }
            FileOp::Delete { path, .. } => {
                let target = rules.resolve(path, false)?;
                let i = overlay.touch(&target)?;
                let entry = &mut overlay.entries[i];
                if !entry.exists() {
                    return Err(PatchError::FileMissing {
                        path: target.shown.clone(),
                        action: "delete",
                    });
                }
                if matches!((&entry.state, &entry.disk), (State::Unchanged, Disk::Dir)) {
                    return Err(PatchError::NotAFile {
                        path: target.shown.clone(),
                        what: "a directory",
                    });
                }
                let old_label = diff_label("a", &target.shown);
                let unified_diff = match entry.text() {
                    Ok(text) => {
                        let script: Vec<DiffLine<'_>> =
                            lines_of(&text).into_iter().map(DiffLine::Old).collect();
                        unified_diff(
                            &old_label,
                            "/dev/null",
                            &script,
                            missing_final_newline(&text),
                            false,
                        )
                    }
                    Err(_) => format!("Binary files {old_label} and /dev/null differ\n"),
                };
                entry.state = State::Deleted;
                changes.push(AppliedChange {
                    path: target.shown,
                    kind: PatchChangeKind::Delete,
                    move_to: None,
                    unified_diff,
                });
            }
            FileOp::Update {
                path,
                move_to,
                hunks,
                ..
            } => {
                let source = rules.resolve(path, true)?;
                let destination = match move_to {
                    Some(dest) => Some(rules.resolve(dest, true)?),
                    None => None,
                }
                .filter(|dest| dest.real != source.real);
                let i = overlay.touch(&source)?;
                let old_text = overlay.entries[i].text()?;
                let new_shown = destination.as_ref().unwrap_or(&source).shown.clone();
                let (new_text, unified_diff) = apply_hunks(
                    &source.shown,
                    &old_text,
                    hunks,
                    &diff_label("a", &source.shown),
                    &diff_label("b", &new_shown),
                )?;
                match &destination {
                    None => {
                        let entry = &mut overlay.entries[i];
                        let permissions = match &entry.state {
                            State::Written { permissions, .. } => permissions.clone(),
                            _ => None,
                        };
                        entry.state = State::Written {
                            text: new_text,
                            permissions,
                        };
                    }
                    Some(dest) => {
                        let permissions = overlay.entries[i].permissions();
                        let d = overlay.touch(dest)?;
                        if overlay.entries[d].exists() {
                            return Err(PatchError::MoveDestinationExists {
                                from: source.shown.clone(),
                                to: dest.shown.clone(),
                            });
                        }
                        overlay.entries[d].state = State::Written {
                            text: new_text,
                            permissions,
                        };
                        overlay.entries[i].state = State::Deleted;
                    }
                }
                changes.push(AppliedChange {
                    path: source.shown,
                    kind: PatchChangeKind::Update,
                    move_to: destination.map(|d| d.shown),
                    unified_diff,
                });
            }
        }
    }
    Ok(Plan { overlay, changes })
}

// ---------------------------------------------------------------------------------------
// Single-file rewrites (edit_file, write_file)

/// What a single-file tool finds at its path.
pub(crate) enum Existing<'a> {
    Missing,
    Text(&'a str),
    /// A regular file that is not valid UTF-8.
    Binary,
}

/// One file about to be rewritten whole by `edit_file` or `write_file`: resolved and
/// checked against the writable roots exactly like a patch path, read once, and committed
/// through the same [`Plan`] (temporary file + rename, permissions kept, rollback).
pub(crate) struct SingleFile {
    overlay: Overlay,
    entry: usize,
    shown: PathBuf,
}

impl SingleFile {
    /// Resolves `raw` and reads what is there. Directories, special files and dangling
    /// symlinks are refused here.
    pub(crate) fn open(raw: &str, cwd: &Path, roots: &[PathBuf]) -> Result<Self, PatchError> {
        let rules = PathRules::new(cwd, roots);
        let target = rules.resolve(raw, true)?;
        let mut overlay = Overlay::default();
        let entry = overlay.touch(&target)?;
        if let Some(err) = overlay.entries[entry].not_a_file() {
            return Err(err);
        }
        Ok(SingleFile {
            overlay,
            entry,
            shown: target.shown,
        })
    }

    /// The path for messages and outcomes (relative to the cwd when inside it).
    pub(crate) fn shown(&self) -> &Path {
        &self.shown
    }

    pub(crate) fn existing(&self) -> Existing<'_> {
        match &self.overlay.entries[self.entry].disk {
            Disk::File { bytes, .. } => match std::str::from_utf8(bytes) {
                Ok(text) => Existing::Text(text),
                Err(_) => Existing::Binary,
            },
            _ => Existing::Missing,
        }
    }

    /// `a/<path>` (or the absolute path) for the `---` line of a diff.
    pub(crate) fn old_label(&self) -> String {
        diff_label("a", &self.shown)
    }

    /// `b/<path>` (or the absolute path) for the `+++` line of a diff.
    pub(crate) fn new_label(&self) -> String {
        diff_label("b", &self.shown)
    }

    /// The plan that makes the file hold `text`. If it already holds exactly that, the
    /// plan writes nothing (the change is still reported).
    pub(crate) fn into_plan(
        mut self,
        text: String,
        kind: PatchChangeKind,
        unified_diff: String,
    ) -> Plan {
        let entry = &mut self.overlay.entries[self.entry];
        let unchanged =
            matches!(&entry.disk, Disk::File { bytes, .. } if bytes.as_slice() == text.as_bytes());
        if !unchanged {
            entry.state = State::Written {
                text,
                permissions: None,
            };
        }
        Plan {
            overlay: self.overlay,
            changes: vec![AppliedChange {
                path: self.shown,
                kind,
                move_to: None,
                unified_diff,
            }],
        }
    }
}

// ---------------------------------------------------------------------------------------
// Committing

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to a new temporary file next to `target` and returns its path.
fn write_temp(
    target: &Path,
    bytes: &[u8],
    permissions: Option<&fs::Permissions>,
) -> io::Result<PathBuf> {
    let dir = target.parent().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "path has no parent directory")
    })?;
    let name: String = target
        .file_name()
        .map(|n| n.to_string_lossy().chars().take(64).collect())
        .unwrap_or_default();
    loop {
        let temp = dir.join(format!(
            ".{name}.{}.{}.ouro-patch.tmp",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let mut file = match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let written = file.write_all(bytes).and_then(|()| match permissions {
            Some(p) => fs::set_permissions(&temp, p.clone()),
            None => Ok(()),
        });
        return match written {
            Ok(()) => Ok(temp),
            Err(e) => {
                let _ = fs::remove_file(&temp);
                Err(e)
            }
        };
    }
}

/// Creates `dir` and its missing ancestors, recording which were created.
fn create_dirs(dir: &Path, created: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut current = Some(dir);
    while let Some(path) = current {
        if path.as_os_str().is_empty() || fs::symlink_metadata(path).is_ok() {
            break;
        }
        missing.push(path.to_path_buf());
        current = path.parent();
    }
    fs::create_dir_all(dir)?;
    created.extend(missing.into_iter().rev());
    Ok(())
}

/// Puts back what was on disk before (best effort: used only when a commit fails midway).
fn restore(entry: &Entry) {
    match &entry.disk {
        Disk::Missing => {
            let _ = fs::remove_file(&entry.real);
        }
        Disk::File { bytes, permissions } => {
            if let Ok(temp) = write_temp(&entry.real, bytes, Some(permissions)) {
                if fs::rename(&temp, &entry.real).is_err() {
                    let _ = fs::remove_file(&temp);
                }
            }
        }
        Disk::Symlink { target } => {
            #[cfg(unix)]
            {
                let _ = std::os::unix::fs::symlink(target, &entry.real);
            }
            #[cfg(not(unix))]
            let _ = target;
        }
        Disk::Dir | Disk::Other => {}
    }
}

impl Plan {
    pub(crate) fn outcome(&self) -> ApplyOutcome {
        ApplyOutcome {
            changes: self.changes.clone(),
        }
    }

    /// Writes the plan: all new contents to temporary files first, then renames and
    /// deletions. On failure, everything already done is undone.
    pub(crate) fn commit(self) -> Result<ApplyOutcome, PatchError> {
        let entries = &self.overlay.entries;
        let mut created_dirs = Vec::new();
        let mut temps: Vec<Option<PathBuf>> = Vec::with_capacity(entries.len());
        let discard = |temps: &[Option<PathBuf>], created_dirs: &[PathBuf]| {
            for temp in temps.iter().flatten() {
                let _ = fs::remove_file(temp);
            }
            for dir in created_dirs.iter().rev() {
                let _ = fs::remove_dir(dir);
            }
        };

        for entry in entries {
            let State::Written { text, permissions } = &entry.state else {
                temps.push(None);
                continue;
            };
            let permissions = permissions.as_ref().or(match &entry.disk {
                Disk::File { permissions, .. } => Some(permissions),
                _ => None,
            });
            let staged = match entry.real.parent() {
                Some(parent) => create_dirs(parent, &mut created_dirs),
                None => Ok(()),
            }
            .and_then(|()| write_temp(&entry.real, text.as_bytes(), permissions));
            match staged {
                Ok(temp) => temps.push(Some(temp)),
                Err(source) => {
                    discard(&temps, &created_dirs);
                    return Err(PatchError::Io {
                        path: entry.shown.clone(),
                        action: "write the file",
                        source,
                    });
                }
            }
        }

        for i in 0..entries.len() {
            let entry = &entries[i];
            let result = match (&entry.state, &temps[i]) {
                (State::Written { .. }, Some(temp)) => fs::rename(temp, &entry.real),
                (State::Deleted, _) if !matches!(entry.disk, Disk::Missing) => {
                    fs::remove_file(&entry.real)
                }
                _ => continue,
            };
            if let Err(source) = result {
                for done in entries[..i].iter().rev() {
                    if !matches!(done.state, State::Unchanged) {
                        restore(done);
                    }
                }
                discard(&temps[i..], &created_dirs);
                let action = if matches!(entry.state, State::Deleted) {
                    "delete the file"
                } else {
                    "move the new file into place"
                };
                return Err(PatchError::Io {
                    path: entry.shown.clone(),
                    action,
                    source,
                });
            }
            temps[i] = None;
        }
        Ok(self.outcome())
    }
}
