//! Parsing the patch text into file operations.
//!
//! The grammar is small; the work is in being lenient where a model's slip is unambiguous
//! (whitespace around markers, a heredoc wrapper, a blank context line written as an empty
//! line, unified-diff style `@@ -1,2 +1,3 @@` headers) and precise where it is not: every
//! error names the patch line and what was expected there.

use super::PatchError;

const BEGIN_PATCH: &str = "*** Begin Patch";
const END_PATCH: &str = "*** End Patch";
const ADD_FILE: &str = "*** Add File:";
const DELETE_FILE: &str = "*** Delete File:";
const UPDATE_FILE: &str = "*** Update File:";
const MOVE_TO: &str = "*** Move to:";
const END_OF_FILE: &str = "*** End of File";

/// A parsed patch: file operations in patch order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    pub ops: Vec<FileOp>,
}

/// One `*** Add/Delete/Update File:` section. `line` is its header's 1-based patch line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOp {
    Add {
        path: String,
        contents: String,
        line: usize,
    },
    Delete {
        path: String,
        line: usize,
    },
    Update {
        path: String,
        move_to: Option<String>,
        hunks: Vec<Hunk>,
        line: usize,
    },
}

impl FileOp {
    pub fn path(&self) -> &str {
        match self {
            FileOp::Add { path, .. }
            | FileOp::Delete { path, .. }
            | FileOp::Update { path, .. } => path,
        }
    }
}

/// One hunk of an update: optional `@@` anchors, then its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// Lines to find, in order, before the hunk (the text after each `@@`).
    pub anchors: Vec<String>,
    pub lines: Vec<HunkLine>,
    /// `*** End of File` followed the hunk: it must match at the end of the file.
    pub end_of_file: bool,
    /// 1-based patch line where the hunk starts.
    pub line: usize,
}

impl Hunk {
    /// The lines the hunk expects in the file (context and removed).
    pub fn old_lines(&self) -> impl Iterator<Item = &HunkLine> {
        self.lines.iter().filter(|l| l.kind != HunkLineKind::Add)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HunkLine {
    pub kind: HunkLineKind,
    pub text: String,
    /// 1-based patch line.
    pub line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HunkLineKind {
    Context,
    Remove,
    Add,
}

fn error(line: usize, message: impl Into<String>) -> PatchError {
    PatchError::Parse {
        line,
        message: message.into(),
    }
}

/// Shortens a patch line for quoting in an error.
fn quote(line: &str) -> String {
    const MAX: usize = 120;
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("`{}…`", &line[..cut]),
        None => format!("`{line}`"),
    }
}

pub(crate) fn parse(text: &str) -> Result<Patch, PatchError> {
    // (1-based line number, line without its line terminator)
    let all: Vec<(usize, &str)> = text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .collect();
    let lines = strip_heredoc(trim_blank(&all));

    let Some(&(first_no, first)) = lines.first() else {
        return Err(error(
            1,
            format!(
                "the patch is empty; it must start with `{BEGIN_PATCH}` and end with `{END_PATCH}`"
            ),
        ));
    };
    if first.trim() != BEGIN_PATCH {
        return Err(error(
            first_no,
            format!(
                "expected `{BEGIN_PATCH}` as the first line, found {}",
                quote(first)
            ),
        ));
    }
    let &(last_no, last) = lines.last().unwrap_or(&(first_no, first));
    if lines.len() < 2 || last.trim() != END_PATCH {
        return Err(error(
            last_no,
            format!(
                "expected `{END_PATCH}` as the last line, found {}; the patch may be truncated",
                quote(last)
            ),
        ));
    }

    let mut cursor = Cursor {
        lines: &lines[1..lines.len() - 1],
        pos: 0,
        end_line: last_no,
    };
    let mut ops = Vec::new();
    while let Some((line_no, line)) = cursor.peek() {
        let header = line.trim();
        if header.is_empty() {
            cursor.pos += 1;
        } else if let Some(path) = header.strip_prefix(ADD_FILE) {
            cursor.pos += 1;
            let path = parse_path(path, line_no, ADD_FILE)?;
            let contents = parse_add_contents(&mut cursor, &path)?;
            ops.push(FileOp::Add {
                path,
                contents,
                line: line_no,
            });
        } else if let Some(path) = header.strip_prefix(DELETE_FILE) {
            cursor.pos += 1;
            let path = parse_path(path, line_no, DELETE_FILE)?;
            ops.push(FileOp::Delete {
                path,
                line: line_no,
            });
        } else if let Some(path) = header.strip_prefix(UPDATE_FILE) {
            cursor.pos += 1;
            let path = parse_path(path, line_no, UPDATE_FILE)?;
            let move_to = match cursor.peek() {
                Some((move_no, move_line)) => match move_line.trim().strip_prefix(MOVE_TO) {
                    Some(dest) => {
                        cursor.pos += 1;
                        Some(parse_path(dest, move_no, MOVE_TO)?)
                    }
                    None => None,
                },
                None => None,
            };
            let hunks = parse_hunks(&mut cursor, &path)?;
            if hunks.is_empty() && move_to.is_none() {
                return Err(error(
                    line_no,
                    format!("`{UPDATE_FILE} {path}` has no hunks; add `@@` hunks with ' ', '-' and '+' lines, or remove the section"),
                ));
            }
            ops.push(FileOp::Update {
                path,
                move_to,
                hunks,
                line: line_no,
            });
        } else if header == BEGIN_PATCH || header == END_PATCH {
            return Err(error(
                line_no,
                format!(
                    "unexpected {}; send one patch with a single `{BEGIN_PATCH}` ... `{END_PATCH}`",
                    quote(header)
                ),
            ));
        } else {
            return Err(error(
                line_no,
                format!(
                    "expected a file header (`{ADD_FILE} <path>`, `{UPDATE_FILE} <path>` or `{DELETE_FILE} <path>`), found {}",
                    quote(line)
                ),
            ));
        }
    }
    if ops.is_empty() {
        return Err(error(first_no, "the patch contains no file operations"));
    }
    Ok(Patch { ops })
}

struct Cursor<'l, 'a> {
    lines: &'l [(usize, &'a str)],
    pos: usize,
    /// Line number of `*** End Patch`, for errors at the end of the body.
    end_line: usize,
}

impl<'a> Cursor<'_, 'a> {
    fn peek(&self) -> Option<(usize, &'a str)> {
        self.lines.get(self.pos).copied()
    }
}

fn trim_blank<'l, 'a>(lines: &'l [(usize, &'a str)]) -> &'l [(usize, &'a str)] {
    let start = lines
        .iter()
        .position(|(_, l)| !l.trim().is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|(_, l)| !l.trim().is_empty())
        .map_or(start, |i| i + 1);
    &lines[start..end.max(start)]
}

/// Accepts a patch still wrapped in the heredoc a model would have used in a shell:
/// `<<'EOF'` (optionally preceded by `apply_patch`) as first line and `EOF` as last.
fn strip_heredoc<'l, 'a>(lines: &'l [(usize, &'a str)]) -> &'l [(usize, &'a str)] {
    let Some((_, first)) = lines.first() else {
        return lines;
    };
    let mut opener = first.trim();
    for command in ["apply_patch", "applypatch"] {
        if let Some(rest) = opener.strip_prefix(command) {
            opener = rest.trim_start();
        }
    }
    let Some(rest) = opener.strip_prefix("<<") else {
        return lines;
    };
    let delimiter = rest
        .trim_start_matches('-')
        .trim()
        .trim_matches(|c| c == '\'' || c == '"');
    let body = &lines[1..];
    match body.last() {
        Some((_, last)) if !delimiter.is_empty() && last.trim() == delimiter => {
            trim_blank(&body[..body.len() - 1])
        }
        _ => trim_blank(body),
    }
}

fn parse_path(raw: &str, line: usize, header: &str) -> Result<String, PatchError> {
    let mut path = raw.trim();
    for q in ['"', '\'', '`'] {
        if path.len() >= 2 && path.starts_with(q) && path.ends_with(q) {
            path = &path[1..path.len() - 1];
        }
    }
    if path.is_empty() {
        return Err(error(line, format!("`{header}` needs a path after it")));
    }
    Ok(path.to_string())
}

fn is_section_header(line: &str) -> bool {
    let t = line.trim();
    [ADD_FILE, DELETE_FILE, UPDATE_FILE, END_PATCH]
        .iter()
        .any(|h| t.starts_with(h))
}

fn parse_add_contents(cursor: &mut Cursor<'_, '_>, path: &str) -> Result<String, PatchError> {
    let mut contents = String::new();
    while let Some((line_no, line)) = cursor.peek() {
        if let Some(text) = line.strip_prefix('+') {
            contents.push_str(text);
            contents.push('\n');
            cursor.pos += 1;
        } else if line.trim().is_empty() {
            // A blank line is an empty content line only if more content follows.
            let more = cursor.lines[cursor.pos..]
                .iter()
                .find(|(_, l)| !l.trim().is_empty())
                .is_some_and(|(_, l)| l.starts_with('+'));
            if !more {
                break;
            }
            contents.push('\n');
            cursor.pos += 1;
        } else if is_section_header(line) {
            break;
        } else {
            return Err(error(
                line_no,
                format!(
                    "in `{ADD_FILE} {path}` every content line must start with '+', found {}",
                    quote(line)
                ),
            ));
        }
    }
    Ok(contents)
}

/// Parses an `@@` header line; returns the anchor text, if any. Accepts unified-diff style
/// `@@ -12,5 +12,6 @@ fn name` by ignoring the line numbers.
fn parse_hunk_header(line: &str) -> Option<Option<String>> {
    let rest = line.trim().strip_prefix("@@")?;
    let mut anchor = rest.trim();
    if anchor.starts_with('-') {
        if let Some((numbers, after)) = anchor.split_once("@@") {
            if numbers
                .trim()
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | ',' | ' '))
            {
                anchor = after.trim();
            }
        }
    }
    if anchor == "@@" {
        anchor = "";
    }
    Some((!anchor.is_empty()).then(|| anchor.to_string()))
}

fn parse_hunks(cursor: &mut Cursor<'_, '_>, path: &str) -> Result<Vec<Hunk>, PatchError> {
    let mut hunks: Vec<Hunk> = Vec::new();
    while let Some((start_no, _)) = cursor.peek() {
        let mut anchors = Vec::new();
        let mut has_header = false;
        // Several `@@` lines in a row narrow the search step by step (class, then method).
        while let Some((_, line)) = cursor.peek() {
            match parse_hunk_header(line) {
                Some(anchor) => {
                    has_header = true;
                    anchors.extend(anchor);
                    cursor.pos += 1;
                }
                None => break,
            }
        }
        if !has_header {
            match cursor.peek() {
                None => break,
                Some((_, line)) if is_section_header(line) => break,
                Some((line_no, line)) if !hunks.is_empty() => {
                    return Err(error(
                        line_no,
                        format!(
                        "expected `@@` to start the next hunk of {path} or a file header, found {}",
                        quote(line)
                    ),
                    ))
                }
                // The first hunk of a file may omit its `@@` line.
                Some(_) => {}
            }
        }

        let mut lines = Vec::new();
        let mut end_of_file = false;
        while let Some((line_no, line)) = cursor.peek() {
            if line.trim() == END_OF_FILE {
                end_of_file = true;
                cursor.pos += 1;
                break;
            }
            if line.starts_with("@@") || is_section_header(line) || line.starts_with("***") {
                break;
            }
            let (kind, text) = match line.as_bytes().first() {
                Some(b' ') => (HunkLineKind::Context, &line[1..]),
                Some(b'-') => (HunkLineKind::Remove, &line[1..]),
                Some(b'+') => (HunkLineKind::Add, &line[1..]),
                // An empty context line whose leading space was lost.
                None => (HunkLineKind::Context, ""),
                _ if line.trim().is_empty() => (HunkLineKind::Context, line),
                _ => {
                    return Err(error(
                        line_no,
                        format!(
                            "in hunk {} of {path}, every line must start with ' ' (context), '-' (remove) or '+' (add); found {}",
                            hunks.len() + 1,
                            quote(line)
                        ),
                    ))
                }
            };
            lines.push(HunkLine {
                kind,
                text: text.to_string(),
                line: line_no,
            });
            cursor.pos += 1;
        }

        if lines.is_empty() {
            let at = cursor.peek().map_or(cursor.end_line, |(n, _)| n);
            let found = cursor
                .peek()
                .map_or_else(|| quote(END_PATCH), |(_, l)| quote(l));
            // `@@` followed directly by `*** End of File` is a stray marker, not a hunk.
            if !end_of_file || has_header {
                return Err(error(
                    at,
                    format!(
                        "hunk {} of {path} has no lines; expected ' ', '-' or '+' lines after `@@`, found {found}",
                        hunks.len() + 1
                    ),
                ));
            }
            if let Some(previous) = hunks.last_mut() {
                previous.end_of_file = true;
            }
            continue;
        }
        hunks.push(Hunk {
            anchors,
            lines,
            end_of_file,
            line: start_no,
        });
    }
    Ok(hunks)
}
