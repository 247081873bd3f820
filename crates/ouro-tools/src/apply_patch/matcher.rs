//! Finding a hunk's lines in a file.
//!
//! Models copy context from memory, so lines may differ from the file in whitespace or in
//! typography (an em dash for `-`, curly quotes). We compare at increasingly loose
//! [`Level`]s and stop at the first level that finds anything; each level only merges lines
//! the previous one kept apart, so a looser level never hides a stricter match. A level that
//! finds more than one place reports all of them: picking one would be a guess.
//!
//! To stay linear on big files with many hunks, each level keeps an index from a line's
//! key to the (sorted) positions where it occurs. A search starts from the rarest line of
//! the hunk and checks only the places where that line occurs, so a 1,000-hunk patch on a
//! 20,000-line file does not rescan the file per hunk.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;

/// How loosely two lines are compared, strictest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Exact,
    TrimEnd,
    Trim,
    Unicode,
}

impl Level {
    pub(crate) const ALL: [Level; 4] = [Level::Exact, Level::TrimEnd, Level::Trim, Level::Unicode];

    fn slot(self) -> usize {
        self as usize
    }

    /// A note for error messages saying how the lines were compared.
    pub(crate) fn note(self) -> &'static str {
        match self {
            Level::Exact => "",
            Level::TrimEnd => " (ignoring trailing whitespace)",
            Level::Trim => " (ignoring leading and trailing whitespace)",
            Level::Unicode => " (ignoring whitespace and Unicode punctuation differences)",
        }
    }

    /// The form of `line` that is compared at this level.
    pub(crate) fn key(self, line: &str) -> Cow<'_, str> {
        match self {
            Level::Exact => Cow::Borrowed(line),
            Level::TrimEnd => Cow::Borrowed(line.trim_end()),
            Level::Trim => Cow::Borrowed(line.trim()),
            Level::Unicode => normalize_unicode(line.trim()),
        }
    }
}

/// Maps typographic punctuation and exotic spaces to their ASCII look-alikes.
pub(crate) fn normalize_unicode(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    let mapped: String = s
        .chars()
        .map(|c| match c {
            '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' => '-',
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' => '\'',
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' => '"',
            '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => ' ',
            other => other,
        })
        .collect();
    Cow::Owned(mapped.trim().to_string())
}

/// Where a hunk was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// Exactly one place, starting at this 0-based line.
    Unique(usize),
    /// Several places at the first level that found any.
    Ambiguous {
        starts: Vec<usize>,
        more: bool,
        level: Level,
    },
    Absent,
}

/// Matches listed in an ambiguity error, at most.
const MAX_REPORTED: usize = 8;

/// Per-level index: each line's key as a small id, and where each id occurs.
struct LevelIndex<'a> {
    ids: Vec<usize>,
    id_of: HashMap<Cow<'a, str>, usize>,
    positions: Vec<Vec<usize>>,
}

impl<'a> LevelIndex<'a> {
    fn build(level: Level, lines: &[&'a str]) -> Self {
        let mut id_of: HashMap<Cow<'a, str>, usize> = HashMap::with_capacity(lines.len());
        let mut positions: Vec<Vec<usize>> = Vec::new();
        let mut ids = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            let next = positions.len();
            let id = *id_of.entry(level.key(line)).or_insert(next);
            if id == next {
                positions.push(Vec::new());
            }
            positions[id].push(i);
            ids.push(id);
        }
        LevelIndex {
            ids,
            id_of,
            positions,
        }
    }

    /// The ids of `pattern`'s lines, or `None` if some line occurs nowhere in the file.
    fn pattern_ids(&self, level: Level, pattern: &[&str]) -> Option<Vec<usize>> {
        pattern
            .iter()
            .map(|p| self.id_of.get(level.key(p).as_ref()).copied())
            .collect()
    }
}

/// A file's lines (without line terminators), indexed lazily per level.
pub(crate) struct LineIndex<'a> {
    lines: Vec<&'a str>,
    levels: [OnceCell<LevelIndex<'a>>; 4],
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(lines: Vec<&'a str>) -> Self {
        LineIndex {
            lines,
            levels: Default::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lines.len()
    }

    pub(crate) fn line(&self, i: usize) -> &'a str {
        self.lines.get(i).copied().unwrap_or("")
    }

    fn level(&self, level: Level) -> &LevelIndex<'a> {
        self.levels[level.slot()].get_or_init(|| LevelIndex::build(level, &self.lines))
    }

    /// Start positions (>= `from`) where `pattern` matches at `level`, at most `limit`.
    /// With `at_end`, only a match ending at the last line counts.
    fn matches(
        &self,
        level: Level,
        pattern: &[&str],
        from: usize,
        at_end: bool,
        limit: usize,
    ) -> Vec<usize> {
        let m = pattern.len();
        let n = self.lines.len();
        if m == 0 || m > n || from > n - m {
            return Vec::new();
        }
        let index = self.level(level);
        let Some(wanted) = index.pattern_ids(level, pattern) else {
            return Vec::new();
        };
        let matches_at = |start: usize| index.ids[start..start + m] == wanted[..];
        if at_end {
            let start = n - m;
            return if matches_at(start) {
                vec![start]
            } else {
                Vec::new()
            };
        }
        // Check only where the hunk's rarest line occurs.
        let (offset, rarest) = wanted
            .iter()
            .enumerate()
            .min_by_key(|(_, id)| index.positions[**id].len())
            .map(|(j, id)| (j, &index.positions[*id]))
            .unwrap_or((0, &index.positions[wanted[0]]));
        let first = rarest.partition_point(|&p| p < from + offset);
        let mut found = Vec::new();
        for &p in &rarest[first..] {
            let start = p - offset;
            if start + m > n {
                break;
            }
            if matches_at(start) {
                found.push(start);
                if found.len() >= limit {
                    break;
                }
            }
        }
        found
    }

    /// Start positions where `pattern` matches at `level` (possibly overlapping), in order,
    /// at most `limit`.
    pub(crate) fn find_all(&self, level: Level, pattern: &[&str], limit: usize) -> Vec<usize> {
        self.matches(level, pattern, 0, false, limit)
    }

    /// Finds `pattern` at or after line `from`, at the strictest level that finds it.
    pub(crate) fn find(&self, pattern: &[&str], from: usize, at_end: bool) -> Found {
        for level in Level::ALL {
            let mut starts = self.matches(level, pattern, from, at_end, MAX_REPORTED + 1);
            match starts.len() {
                0 => continue,
                1 => return Found::Unique(starts[0]),
                _ => {
                    let more = starts.len() > MAX_REPORTED;
                    starts.truncate(MAX_REPORTED);
                    return Found::Ambiguous {
                        starts,
                        more,
                        level,
                    };
                }
            }
        }
        Found::Absent
    }

    /// The first line at or after `from` equal to `anchor` (at the strictest level that
    /// finds one), else the first line containing it.
    pub(crate) fn find_anchor(&self, anchor: &str, from: usize) -> Option<usize> {
        for level in Level::ALL {
            if let Some(&i) = self.matches(level, &[anchor], from, false, 1).first() {
                return Some(i);
            }
        }
        let needle = Level::Unicode.key(anchor);
        if needle.is_empty() {
            return None;
        }
        (from..self.lines.len()).find(|&i| Level::Unicode.key(self.lines[i]).contains(&*needle))
    }

    /// The window of `pattern.len()` lines sharing the most lines with `pattern` (compared
    /// loosely, line by line). Ties go to the first window at or after `prefer_from`.
    /// Returns the start and the number of equal lines, or `None` if no line is shared.
    pub(crate) fn closest_window(
        &self,
        pattern: &[&str],
        prefer_from: usize,
    ) -> Option<(usize, usize)> {
        let n = self.lines.len();
        if pattern.is_empty() || n == 0 {
            return None;
        }
        let index = self.level(Level::Unicode);
        let mut votes = vec![0u32; n];
        for (j, p) in pattern.iter().enumerate() {
            // Blank lines say nothing about where a hunk belongs.
            if p.trim().is_empty() {
                continue;
            }
            let Some(&id) = index.id_of.get(Level::Unicode.key(p).as_ref()) else {
                continue;
            };
            for &pos in &index.positions[id] {
                if let Some(start) = pos.checked_sub(j) {
                    votes[start] += 1;
                }
            }
        }
        let rank = |start: usize| (votes[start], start >= prefer_from, std::cmp::Reverse(start));
        let best = (0..n).max_by_key(|&s| rank(s))?;
        (votes[best] > 0).then_some((best, votes[best] as usize))
    }

    /// Whether line `i` equals `pattern_line` at the loosest level.
    pub(crate) fn loosely_equal(&self, i: usize, pattern_line: &str) -> bool {
        i < self.lines.len()
            && Level::Unicode.key(self.lines[i]) == Level::Unicode.key(pattern_line)
    }
}
