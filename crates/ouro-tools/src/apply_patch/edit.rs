//! `edit_file` and `write_file`: the editing tools for models not trained on the patch
//! format, built on the same engine as apply_patch (path rules, atomic commit, permissions,
//! line endings, model-facing errors, unified diffs).
//!
//! `edit_file` looks `old_string` up in three steps and stops at the first that finds it:
//!
//! 1. the exact text;
//! 2. with line endings normalised: `\r\n` read as `\n` in both the file and old_string, so
//!    a model that writes bare `\n` can edit a CRLF file (matches are mapped back to the
//!    file's own bytes, so untouched line endings stay as they are). When old_string has a
//!    bare `\n` and the file has `\r\n`, this step goes first, so that a match never
//!    splits a `\r\n`;
//! 3. as whole lines ignoring trailing whitespace: old_string's lines (minus one final line
//!    break) must equal consecutive lines of the file once trailing spaces and tabs are
//!    removed from both; the matched lines are replaced whole.
//!
//! At every step more than one match without `replace_all` is an error, never a guess. Line
//! breaks in new_string are written in the file's style: bare `\n` becomes `\r\n` in a
//! file whose lines mostly end in `\r\n`, and `\r\n` becomes `\n` in a file without any.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use ouro_protocol::PatchChangeKind;

use super::apply::{clip, show_lines, Existing, SingleFile};
use super::diff::{diff_lines, lines_with_endings, strip_terminator, unified_diff, DiffLine};
use super::matcher::{normalize_unicode, Level, LineIndex};
use super::{ApplyOutcome, PatchError};

/// Line numbers listed in an ambiguity error, at most.
const MAX_LISTED: usize = 10;

/// Refuses an empty path, and one ending in a separator (it names a directory; resolved
/// as is, it would become a file of that name).
fn check_path(path: &str, tool: &'static str) -> Result<(), PatchError> {
    if path.trim().is_empty() {
        return Err(PatchError::MissingPath { tool });
    }
    if path.ends_with('/') || path.ends_with(std::path::MAIN_SEPARATOR) {
        return Err(PatchError::InvalidEdit {
            path: PathBuf::from(path),
            message: format!("the path ends with a separator, so it names a directory; {tool} needs the path of a file"),
        });
    }
    Ok(())
}

pub(crate) fn edit_file(
    path: &str,
    old_string: &str,
    new_string: &str,
    replace_all: bool,
    cwd: &Path,
    writable_roots: &[PathBuf],
) -> Result<ApplyOutcome, PatchError> {
    check_path(path, "edit_file")?;
    let invalid = |message: &str| PatchError::InvalidEdit {
        path: PathBuf::from(path),
        message: message.to_string(),
    };
    if old_string.is_empty() {
        return Err(invalid(
            "old_string is empty. To create a file or replace all of its content, use write_file; to insert text, put the line(s) next to the insertion point in old_string and repeat them, with the new text, in new_string",
        ));
    }
    if old_string == new_string {
        return Err(invalid(
            "old_string and new_string are identical, so there is nothing to change",
        ));
    }
    let file = SingleFile::open(path, cwd, writable_roots)?;
    let text = match file.existing() {
        Existing::Text(text) => text,
        Existing::Missing => {
            return Err(PatchError::FileMissing {
                path: file.shown().to_path_buf(),
                action: "edit",
            })
        }
        Existing::Binary => {
            return Err(PatchError::NotUtf8 {
                path: file.shown().to_path_buf(),
            })
        }
    };
    let edited = apply_edit(file.shown(), text, old_string, new_string, replace_all)?;
    let diff = edit_diff(
        text,
        &edited.text,
        &edited.spans,
        &file.old_label(),
        &file.new_label(),
    );
    let new_text = edited.text;
    file.into_plan(new_text, PatchChangeKind::Update, diff)
        .commit()
}

pub(crate) fn write_file(
    path: &str,
    content: &str,
    cwd: &Path,
    writable_roots: &[PathBuf],
) -> Result<ApplyOutcome, PatchError> {
    check_path(path, "write_file")?;
    let file = SingleFile::open(path, cwd, writable_roots)?;
    let (text, kind, diff) = match file.existing() {
        Existing::Missing => {
            let script: Vec<DiffLine<'_>> = lines_with_endings(content)
                .into_iter()
                .map(|l| DiffLine::New(strip_terminator(l)))
                .collect();
            let diff = unified_diff(
                "/dev/null",
                &file.new_label(),
                &script,
                false,
                missing_final_newline(content),
            );
            (content.to_string(), PatchChangeKind::Add, diff)
        }
        Existing::Binary => {
            let diff = format!(
                "Binary files {} and {} differ\n",
                file.old_label(),
                file.new_label()
            );
            (content.to_string(), PatchChangeKind::Update, diff)
        }
        Existing::Text(old) => {
            let new = adapt_newlines(content, old, false).into_owned();
            let mut script = Vec::new();
            diff_lines(
                &lines_with_endings(old),
                &lines_with_endings(&new),
                &mut script,
            );
            let diff = if old == new {
                String::new()
            } else {
                unified_diff(
                    &file.old_label(),
                    &file.new_label(),
                    &script,
                    missing_final_newline(old),
                    missing_final_newline(&new),
                )
            };
            (new, PatchChangeKind::Update, diff)
        }
    };
    file.into_plan(text, kind, diff).commit()
}

fn missing_final_newline(text: &str) -> bool {
    !text.is_empty() && !text.ends_with('\n')
}

// ---------------------------------------------------------------------------------------
// Finding and replacing

/// The result of an edit: the new text and, for each replaced range of the old text, the
/// range that replaced it in the new one: `(old_start, old_end, new_start, new_end)`.
#[derive(Debug)]
pub(crate) struct Edited {
    pub(crate) text: String,
    pub(crate) spans: Vec<(usize, usize, usize, usize)>,
}

/// Where old_string was found.
enum Search {
    /// Byte ranges of the file's text, sorted and not overlapping.
    Found(Vec<(usize, usize)>),
    Ambiguous {
        /// Byte offsets in the file's text of the first matches.
        starts: Vec<usize>,
        count: usize,
        level_note: &'static str,
    },
    Absent,
}

/// Replaces `old` by `new` in `text` (see the module docs for how `old` is looked up).
/// `shown` names the file in errors.
pub(crate) fn apply_edit(
    shown: &Path,
    text: &str,
    old: &str,
    new: &str,
    replace_all: bool,
) -> Result<Edited, PatchError> {
    let ranges = match search(text, old, replace_all) {
        Search::Found(ranges) => ranges,
        Search::Ambiguous {
            starts,
            count,
            level_note,
        } => {
            let (lines, lines_more) = line_numbers(text, &starts);
            return Err(PatchError::EditAmbiguous {
                path: shown.to_path_buf(),
                count,
                lines,
                lines_more,
                level_note: level_note.to_string(),
            });
        }
        Search::Absent => {
            return Err(PatchError::EditNotFound {
                path: shown.to_path_buf(),
                details: explain_not_found(shown, text, old),
            })
        }
    };
    let replacement = adapt_newlines(new, text, true);
    let grown = replacement.len().saturating_sub(old.len()) * ranges.len();
    let mut out = String::with_capacity(text.len() + grown);
    let mut spans = Vec::with_capacity(ranges.len());
    let mut pos = 0;
    for (start, end) in ranges {
        out.push_str(&text[pos..start]);
        let new_start = out.len();
        out.push_str(&replacement);
        spans.push((start, end, new_start, out.len()));
        pos = end;
    }
    out.push_str(&text[pos..]);
    Ok(Edited { text: out, spans })
}

fn search(text: &str, old: &str, replace_all: bool) -> Search {
    let file_has_crlf = text.contains("\r\n");
    let normalised = || -> Option<Search> {
        if !file_has_crlf && !old.contains("\r\n") {
            return None;
        }
        let (normal_text, removed) = without_cr(text);
        let normal_old = old.replace("\r\n", "\n");
        // An offset in the normalised text, mapped back: add one for each `\r` removed
        // before it. An offset at a `\n` that lost its `\r` maps to the `\r`.
        let to_original = |p: usize| p + removed.partition_point(|&r| r < p);
        search_exact(&normal_text, &normal_old, replace_all, to_original)
    };
    // A bare `\n` of old_string stands for the file's `\r\n`; matched raw, it could split
    // a `\r\n` in two. So for such strings in a CRLF file, the normalised view comes first.
    let bare_lf = old
        .match_indices('\n')
        .any(|(i, _)| i == 0 || old.as_bytes()[i - 1] != b'\r');
    let found = if bare_lf && file_has_crlf {
        normalised().or_else(|| search_exact(text, old, replace_all, |p| p))
    } else {
        search_exact(text, old, replace_all, |p| p).or_else(normalised)
    };
    found.unwrap_or_else(|| search_trimmed_lines(text, old, replace_all))
}

/// `text` with every `\r\n` made `\n`, and the offsets (in the result) of those `\n`s.
fn without_cr(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut removed = Vec::new();
    for piece in text.split_inclusive('\n') {
        match piece.strip_suffix("\r\n") {
            Some(line) => {
                out.push_str(line);
                removed.push(out.len());
                out.push('\n');
            }
            None => out.push_str(piece),
        }
    }
    (out, removed)
}

/// Substring search of `needle` in `haystack`; `map` turns haystack offsets into offsets
/// of the file's text. `None` when there is no match.
fn search_exact(
    haystack: &str,
    needle: &str,
    replace_all: bool,
    map: impl Fn(usize) -> usize,
) -> Option<Search> {
    let mut starts: Vec<usize> = haystack.match_indices(needle).map(|(p, _)| p).collect();
    let first = *starts.first()?;
    if !replace_all {
        if starts.len() == 1 {
            // Overlapping occurrences ("aa" in "aaa") are ambiguous too.
            let step = needle.chars().next().map_or(1, char::len_utf8);
            if let Some(q) = haystack[first + step..].find(needle) {
                starts.push(first + step + q);
            }
        }
        if starts.len() > 1 {
            let count = starts.len();
            starts.truncate(MAX_LISTED * 4);
            return Some(Search::Ambiguous {
                starts: starts.into_iter().map(&map).collect(),
                count,
                level_note: "",
            });
        }
    }
    Some(Search::Found(
        starts
            .into_iter()
            .map(|p| (map(p), map(p + needle.len())))
            .collect(),
    ))
}

/// Step 3: `old`'s lines against whole lines of the file, ignoring trailing whitespace.
fn search_trimmed_lines(text: &str, old: &str, replace_all: bool) -> Search {
    let old = old.replace("\r\n", "\n");
    let through_line_end = old.ends_with('\n');
    let body = old.strip_suffix('\n').unwrap_or(&old);
    let pattern: Vec<&str> = body.split('\n').collect();
    // Blank lines alone would match far too loosely.
    if pattern.iter().all(|l| l.trim().is_empty()) {
        return Search::Absent;
    }
    let pieces = lines_with_endings(text);
    let mut offsets = Vec::with_capacity(pieces.len() + 1);
    let mut at = 0;
    for piece in &pieces {
        offsets.push(at);
        at += piece.len();
    }
    offsets.push(at);
    let lines: Vec<&str> = pieces.iter().map(|l| strip_terminator(l)).collect();
    let index = LineIndex::new(lines);
    let m = pattern.len();
    let mut starts: Vec<usize> = Vec::new();
    for s in index.find_all(Level::TrimEnd, &pattern, usize::MAX) {
        if starts.last().is_none_or(|&last| s >= last + m) {
            starts.push(s);
        }
    }
    if starts.is_empty() {
        return Search::Absent;
    }
    if !replace_all && starts.len() > 1 {
        return Search::Ambiguous {
            count: starts.len(),
            starts: starts
                .iter()
                .take(MAX_LISTED * 4)
                .map(|&s| offsets[s])
                .collect(),
            level_note: Level::TrimEnd.note(),
        };
    }
    let ranges = starts
        .into_iter()
        .map(|s| {
            let last = s + m - 1;
            let end = if through_line_end {
                offsets[last + 1]
            } else {
                offsets[last] + index.line(last).len()
            };
            (offsets[s], end)
        })
        .collect();
    Search::Found(ranges)
}

/// `new` with its line breaks in the style of `file`: bare `\n` becomes `\r\n` when most of
/// the file's lines end in `\r\n`; with `to_lf`, `\r\n` becomes `\n` when the file has none.
fn adapt_newlines<'n>(new: &'n str, file: &str, to_lf: bool) -> Cow<'n, str> {
    let newlines = file.matches('\n').count();
    let crlf = file.matches("\r\n").count();
    if crlf > newlines - crlf && new.contains('\n') && !new.contains('\r') {
        Cow::Owned(new.replace('\n', "\r\n"))
    } else if to_lf && crlf == 0 && new.contains("\r\n") {
        Cow::Owned(new.replace("\r\n", "\n"))
    } else {
        Cow::Borrowed(new)
    }
}

/// The distinct 1-based line numbers of the sorted byte offsets (at most [`MAX_LISTED`]),
/// and whether there were more.
fn line_numbers(text: &str, offsets: &[usize]) -> (Vec<usize>, bool) {
    let bytes = text.as_bytes();
    let (mut line, mut pos) = (1usize, 0usize);
    let mut out: Vec<usize> = Vec::new();
    let mut more = false;
    for &offset in offsets {
        let offset = offset.min(bytes.len());
        if offset > pos {
            line += bytes[pos..offset].iter().filter(|&&b| b == b'\n').count();
            pos = offset;
        }
        if out.last() != Some(&line) {
            if out.len() == MAX_LISTED {
                more = true;
                break;
            }
            out.push(line);
        }
    }
    (out, more)
}

// ---------------------------------------------------------------------------------------
// Errors for the model

/// Why old_string was not found: the closest lines of the file, or the lines that contain
/// it loosely, and what to do.
fn explain_not_found(shown: &Path, text: &str, old: &str) -> String {
    let old = old.replace("\r\n", "\n");
    let body = old.strip_suffix('\n').unwrap_or(&old);
    let pattern: Vec<&str> = body.split('\n').collect();
    let m = pattern.len();
    let lines: Vec<&str> = lines_with_endings(text)
        .into_iter()
        .map(strip_terminator)
        .collect();
    let total = lines.len();
    let index = LineIndex::new(lines);
    let mut out = String::new();

    match index.closest_window(&pattern, 0) {
        Some((start, shared)) => {
            if m == 1 {
                out.push_str(&format!(
                    "The closest line is line {} of {}.\n",
                    start + 1,
                    shown.display()
                ));
            } else {
                out.push_str(&format!(
                    "The closest place is line {} of {}, where {shared} of old_string's {m} lines match.\n",
                    start + 1,
                    shown.display()
                ));
            }
            // The first and last lines of old_string may be parts of lines.
            let fits = |j: usize, line: &str| match (j == 0, j + 1 == m) {
                (true, true) => line.contains(pattern[j]),
                (true, false) => line.ends_with(pattern[j]),
                (false, true) => line.starts_with(pattern[j]),
                (false, false) => line == pattern[j],
            };
            let first_bad = (0..m).find(|&j| start + j >= total || !fits(j, index.line(start + j)));
            if let Some(j) = first_bad {
                out.push_str(&format!(
                    "Line {} of old_string is:\n    {}\n",
                    j + 1,
                    clip(pattern[j])
                ));
                if start + j < total {
                    let loosely = if index.loosely_equal(start + j, pattern[j]) {
                        " (they differ only in whitespace or in punctuation such as quotes and dashes)"
                    } else {
                        ""
                    };
                    out.push_str(&format!(
                        "but line {} of the file is{loosely}:\n    {}\n",
                        start + j + 1,
                        clip(index.line(start + j))
                    ));
                } else {
                    out.push_str("but the file ends before it.\n");
                }
            }
            out.push_str(&show_lines(shown, &index, start, m));
        }
        None => {
            out.push_str(&format!(
                "None of old_string's lines occurs as a whole line of {} ({total} lines). old_string begins:\n    {}\n",
                shown.display(),
                clip(pattern[0])
            ));
            let similar = lines_containing_loosely(&index, &pattern);
            if !similar.is_empty() {
                let width = similar.last().map_or(1, |&i| (i + 1).to_string().len());
                out.push_str("Lines that contain its first line when whitespace and punctuation are ignored:\n");
                for i in similar {
                    out.push_str(&format!("{:>width$} | {}\n", i + 1, clip(index.line(i))));
                }
            }
        }
    }
    out.push_str("Read the file again and copy old_string exactly from it, including indentation and whitespace.");
    out
}

/// 0-based lines whose text contains `pattern`'s first non-blank line once whitespace is
/// removed and Unicode punctuation normalised (at most five).
fn lines_containing_loosely(index: &LineIndex<'_>, pattern: &[&str]) -> Vec<usize> {
    let loose = |s: &str| -> String {
        normalize_unicode(s)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect()
    };
    let Some(first) = pattern.iter().find(|l| !l.trim().is_empty()) else {
        return Vec::new();
    };
    let needle = loose(first);
    (0..index.len())
        .filter(|&i| loose(index.line(i)).contains(&needle))
        .take(5)
        .collect()
}

// ---------------------------------------------------------------------------------------
// The diff of an edit

/// The unified diff of an edit, built from the line ranges it touched: each span is widened
/// to whole lines of the old text (spans sharing a line are merged), and only those lines
/// are diffed against the lines that replaced them; everything else is unchanged context.
pub(crate) fn edit_diff(
    old: &str,
    new: &str,
    spans: &[(usize, usize, usize, usize)],
    old_label: &str,
    new_label: &str,
) -> String {
    let line_start = |p: usize| old[..p].rfind('\n').map_or(0, |i| i + 1);
    let line_end = |p: usize| old[p..].find('\n').map_or(old.len(), |i| p + i + 1);
    // (old_start, old_end, new_start, new_end), on line boundaries.
    let mut segments: Vec<(usize, usize, usize, usize)> = Vec::new();
    for &(start, end, new_start, new_end) in spans {
        let (from, to) = (line_start(start), line_end(end));
        // The text between spans is the same in both, so the widening is too.
        let new_to = new_end + (to - end);
        match segments.last_mut() {
            // Shares a line with the previous segment, or follows it directly: one segment
            // (so that its removed lines are shown before its added ones).
            Some(last) if from <= last.1 => {
                last.1 = to;
                last.3 = new_to;
            }
            _ => segments.push((from, to, new_start - (start - from), new_to)),
        }
    }
    fn same(text: &str) -> impl Iterator<Item = DiffLine<'_>> {
        text.split_inclusive('\n')
            .map(|l| DiffLine::Same(strip_terminator(l)))
    }
    let mut script: Vec<DiffLine<'_>> = Vec::new();
    let mut pos = 0;
    for (from, to, new_from, new_to) in segments {
        script.extend(same(&old[pos..from]));
        diff_lines(
            &lines_with_endings(&old[from..to]),
            &lines_with_endings(&new[new_from..new_to]),
            &mut script,
        );
        pos = to;
    }
    script.extend(same(&old[pos..]));
    unified_diff(
        old_label,
        new_label,
        &script,
        missing_final_newline(old),
        missing_final_newline(new),
    )
}
