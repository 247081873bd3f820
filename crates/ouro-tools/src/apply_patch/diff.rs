//! Unified diffs of applied changes.
//!
//! For a patch we already know exactly which lines each hunk kept, removed and added, so
//! the diff is written from that edit script rather than recomputed by a diff algorithm: it
//! is linear, and it shows the change the way the model expressed it. `edit_file` knows
//! which line ranges it touched and diffs only those; `write_file` has only the old and the
//! new text, so it gets a line diff ([`diff_lines`]: common prefix and suffix trimmed, Myers
//! in between, bounded in cost, split on unique lines beyond the bound).

/// One line of an edit script covering a whole file, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DiffLine<'a> {
    Same(&'a str),
    Old(&'a str),
    New(&'a str),
}

/// Lines of unchanged context around each change.
const CONTEXT: usize = 3;

#[derive(Clone, Copy)]
struct Row<'a> {
    /// ' ', '-' or '+'.
    sign: char,
    text: &'a str,
    /// Followed by `\ No newline at end of file`.
    no_newline: bool,
}

/// Writes a unified diff. `old_label`/`new_label` go after `---`/`+++` (e.g. `a/x`,
/// `/dev/null`); the `*_missing_newline` flags say the old/new text did not end with one.
pub(crate) fn unified_diff(
    old_label: &str,
    new_label: &str,
    script: &[DiffLine<'_>],
    old_missing_newline: bool,
    new_missing_newline: bool,
) -> String {
    let old_total = script
        .iter()
        .filter(|l| !matches!(l, DiffLine::New(_)))
        .count();
    let new_total = script
        .iter()
        .filter(|l| !matches!(l, DiffLine::Old(_)))
        .count();

    // Expand to rows; a kept line whose "no newline" status differs between old and new
    // is shown as removed and re-added, as `diff` does.
    let mut rows: Vec<Row<'_>> = Vec::with_capacity(script.len() + 2);
    let (mut old_seen, mut new_seen) = (0usize, 0usize);
    for line in script {
        match *line {
            DiffLine::Same(text) => {
                old_seen += 1;
                new_seen += 1;
                let old_flag = old_missing_newline && old_seen == old_total;
                let new_flag = new_missing_newline && new_seen == new_total;
                if old_flag == new_flag {
                    rows.push(Row {
                        sign: ' ',
                        text,
                        no_newline: old_flag,
                    });
                } else {
                    rows.push(Row {
                        sign: '-',
                        text,
                        no_newline: old_flag,
                    });
                    rows.push(Row {
                        sign: '+',
                        text,
                        no_newline: new_flag,
                    });
                }
            }
            DiffLine::Old(text) => {
                old_seen += 1;
                let no_newline = old_missing_newline && old_seen == old_total;
                rows.push(Row {
                    sign: '-',
                    text,
                    no_newline,
                });
            }
            DiffLine::New(text) => {
                new_seen += 1;
                let no_newline = new_missing_newline && new_seen == new_total;
                rows.push(Row {
                    sign: '+',
                    text,
                    no_newline,
                });
            }
        }
    }

    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    // Group changed rows into hunks, merging changes separated by <= 2 * CONTEXT kept rows.
    let changed: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].sign != ' ').collect();
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        match groups.last_mut() {
            Some((_, end)) if i <= *end + 2 * CONTEXT + 1 => *end = i,
            _ => groups.push((i, i)),
        }
    }
    // 1-based line numbers of the row at each index, counted as we walk.
    let (mut old_no, mut new_no, mut row) = (0usize, 0usize, 0usize);
    for (first, last) in groups {
        let start = first.saturating_sub(CONTEXT);
        let end = (last + CONTEXT + 1).min(rows.len());
        while row < start {
            advance(rows[row].sign, &mut old_no, &mut new_no);
            row += 1;
        }
        let slice = &rows[start..end];
        let old_len = slice.iter().filter(|r| r.sign != '+').count();
        let new_len = slice.iter().filter(|r| r.sign != '-').count();
        let old_start = if old_len == 0 { old_no } else { old_no + 1 };
        let new_start = if new_len == 0 { new_no } else { new_no + 1 };
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(old_start, old_len),
            range(new_start, new_len)
        ));
        for r in slice {
            out.push(r.sign);
            out.push_str(r.text);
            out.push('\n');
            if r.no_newline {
                out.push_str("\\ No newline at end of file\n");
            }
            advance(r.sign, &mut old_no, &mut new_no);
        }
        row = end;
    }
    out
}

/// The line's text without its terminator (`\n` or `\r\n`).
pub(crate) fn strip_terminator(line: &str) -> &str {
    line.strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(line)
}

/// `text` split into lines that keep their terminators; the last may have none.
pub(crate) fn lines_with_endings(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// Edit distance beyond which Myers' algorithm gives up on a range (see [`diff_lines`]).
/// Keeps one attempt at O((n + m) * D) time and O(D^2) memory for D up to this bound.
const MAX_EDIT_DISTANCE: usize = 1024;

/// How deep [`diff_range`] splits a range on unique lines before showing what is left as
/// removed then added.
const MAX_SPLIT_DEPTH: usize = 16;

/// Appends to `out` an edit script turning `old` into `new`, both lines as returned by
/// [`lines_with_endings`]. Lines are compared with their terminators (so a changed line
/// ending shows as a changed line) and written to the script without them. The common
/// prefix and suffix are trimmed and the rest is diffed with Myers' algorithm, which gives
/// a minimal script when at most [`MAX_EDIT_DISTANCE`] lines are removed + added. Beyond
/// that — and straight away for ranges of more than twice that many lines — the range is
/// split on lines that occur exactly once on each side (in order, as patience diff does)
/// and each piece is diffed the same way; what cannot be split is shown as removed then
/// added. Within each run of changes, removals come first.
pub(crate) fn diff_lines<'a>(old: &[&'a str], new: &[&'a str], out: &mut Vec<DiffLine<'a>>) {
    diff_lines_bounded(old, new, out, MAX_EDIT_DISTANCE);
}

/// [`diff_lines`] with Myers' algorithm bounded at `bound` instead.
fn diff_lines_bounded<'a>(
    old: &[&'a str],
    new: &[&'a str],
    out: &mut Vec<DiffLine<'a>>,
    bound: usize,
) {
    let start = out.len();
    diff_range(old, new, out, 0, bound);
    // Within each run of changed lines, removals first, as diff tools show them.
    let mut run_start = start;
    for i in start..=out.len() {
        if i == out.len() || matches!(out[i], DiffLine::Same(_)) {
            out[run_start..i].sort_by_key(|l| matches!(l, DiffLine::New(_)));
            run_start = i + 1;
        }
    }
}

fn diff_range<'a>(
    old: &[&'a str],
    new: &[&'a str],
    out: &mut Vec<DiffLine<'a>>,
    depth: usize,
    bound: usize,
) {
    let same = |l: &&'a str| DiffLine::Same(strip_terminator(l));
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let a = &old[prefix..old.len() - suffix];
    let b = &new[prefix..new.len() - suffix];
    out.extend(old[..prefix].iter().map(same));
    // A big range is split on unique lines first (Myers would likely exceed its bound, at
    // a cost of O((n + m) * bound)); a small one is tried with Myers first.
    let big = a.len() + b.len() > 2 * bound;
    let done = (big && split_on_unique_lines(a, b, out, depth, bound))
        || myers(a, b, out, bound)
        || (!big && split_on_unique_lines(a, b, out, depth, bound));
    if !done {
        out.extend(a.iter().map(|l| DiffLine::Old(strip_terminator(l))));
        out.extend(b.iter().map(|l| DiffLine::New(strip_terminator(l))));
    }
    out.extend(old[old.len() - suffix..].iter().map(same));
}

/// Diffs `a` and `b` piece by piece between their [`unique_anchors`]. Returns false
/// (having written nothing) when there are none or splits are already
/// [`MAX_SPLIT_DEPTH`] deep.
fn split_on_unique_lines<'a>(
    a: &[&'a str],
    b: &[&'a str],
    out: &mut Vec<DiffLine<'a>>,
    depth: usize,
    bound: usize,
) -> bool {
    if depth >= MAX_SPLIT_DEPTH {
        return false;
    }
    let anchors = unique_anchors(a, b);
    if anchors.is_empty() {
        return false;
    }
    let (mut i, mut j) = (0, 0);
    for (ai, bj) in anchors {
        diff_range(&a[i..ai], &b[j..bj], out, depth + 1, bound);
        out.push(DiffLine::Same(strip_terminator(a[ai])));
        (i, j) = (ai + 1, bj + 1);
    }
    diff_range(&a[i..], &b[j..], out, depth + 1, bound);
    true
}

/// Pairs `(i, j)` with `a[i] == b[j]`, each line occurring exactly once in `a` and once in
/// `b`, increasing in both: the longest such chain (patience diff's anchors).
fn unique_anchors(a: &[&str], b: &[&str]) -> Vec<(usize, usize)> {
    use std::collections::HashMap;
    // line -> (count in a, index in a, count in b, index in b)
    let mut seen: HashMap<&str, (u32, usize, u32, usize)> = HashMap::with_capacity(a.len());
    for (i, line) in a.iter().enumerate() {
        let entry = seen.entry(line).or_insert((0, i, 0, 0));
        entry.0 += 1;
    }
    for (j, line) in b.iter().enumerate() {
        if let Some(entry) = seen.get_mut(line) {
            entry.2 += 1;
            entry.3 = j;
        }
    }
    let mut pairs: Vec<(usize, usize)> = seen
        .values()
        .filter(|e| e.0 == 1 && e.2 == 1)
        .map(|e| (e.1, e.3))
        .collect();
    pairs.sort_unstable();
    // Longest increasing subsequence of the `j`s, by patience sorting: `tops[k]` is the
    // index (into `pairs`) of the smallest tail of an increasing chain of length k + 1.
    let mut tops: Vec<usize> = Vec::new();
    let mut previous: Vec<Option<usize>> = vec![None; pairs.len()];
    for (p, &(_, j)) in pairs.iter().enumerate() {
        let k = tops.partition_point(|&t| pairs[t].1 < j);
        previous[p] = k.checked_sub(1).map(|k| tops[k]);
        if k == tops.len() {
            tops.push(p);
        } else {
            tops[k] = p;
        }
    }
    let mut chain = Vec::with_capacity(tops.len());
    let mut at = tops.last().copied();
    while let Some(p) = at {
        chain.push(pairs[p]);
        at = previous[p];
    }
    chain.reverse();
    chain
}

/// Myers' greedy shortest edit script. Returns false (having written nothing) when the
/// edit distance exceeds `bound`.
fn myers<'a>(a: &[&'a str], b: &[&'a str], out: &mut Vec<DiffLine<'a>>, bound: usize) -> bool {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        out.extend(a.iter().map(|l| DiffLine::Old(strip_terminator(l))));
        out.extend(b.iter().map(|l| DiffLine::New(strip_terminator(l))));
        return true;
    }
    let max_d = (n + m).min(bound);
    // v[k + offset] is the furthest x reached on diagonal k = x - y.
    let offset = max_d + 1;
    let mut v = vec![0usize; 2 * max_d + 3];
    // trace[d] holds v[-(d+1) ..= d+1] as it was before round d.
    let mut trace: Vec<Vec<usize>> = Vec::new();
    let mut found = None;
    'rounds: for d in 0..=max_d {
        trace.push(v[offset - d - 1..=offset + d + 1].to_vec());
        for k in (0..=2 * d).step_by(2) {
            // k - d is the diagonal; index = k - d + offset.
            let i = k + offset - d;
            let down = k == 0 || (k != 2 * d && v[i - 1] < v[i + 1]);
            let mut x = if down { v[i + 1] } else { v[i - 1] + 1 };
            // y = x - (k - d), which is >= 0 on every reachable diagonal.
            let Some(mut y) = (x + d).checked_sub(k) else {
                continue;
            };
            while x < n && y < m && a[x] == b[y] {
                x += 1;
                y += 1;
            }
            v[i] = x;
            if x >= n && y >= m {
                found = Some(d);
                break 'rounds;
            }
        }
    }
    let Some(total) = found else {
        return false;
    };

    // Walk back from (n, m) through the recorded rounds to (0, 0).
    let mut script = Vec::with_capacity(n + m);
    let (mut x, mut y) = (n as isize, m as isize);
    for d in (1..=total).rev() {
        let row = &trace[d];
        let d = d as isize;
        // Diagonal k = x - y is at index k + d + 1 of the round's row.
        let at = |k: isize| row[(k + d + 1) as usize] as isize;
        let k = x - y;
        let down = k == -d || (k != d && at(k - 1) < at(k + 1));
        let prev_k = if down { k + 1 } else { k - 1 };
        let prev_x = at(prev_k);
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            x -= 1;
            y -= 1;
            script.push(DiffLine::Same(strip_terminator(a[x as usize])));
        }
        if down {
            y -= 1;
            script.push(DiffLine::New(strip_terminator(b[y as usize])));
        } else {
            x -= 1;
            script.push(DiffLine::Old(strip_terminator(a[x as usize])));
        }
        (x, y) = (prev_x, prev_y);
    }
    while x > 0 && y > 0 {
        x -= 1;
        y -= 1;
        script.push(DiffLine::Same(strip_terminator(a[x as usize])));
    }
    script.reverse();
    out.extend(script);
    true
}

fn advance(sign: char, old_no: &mut usize, new_no: &mut usize) {
    if sign != '+' {
        *old_no += 1;
    }
    if sign != '-' {
        *new_no += 1;
    }
}

fn range(start: usize, len: usize) -> String {
    if len == 1 {
        start.to_string()
    } else {
        format!("{start},{len}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_groups_changes_with_three_lines_of_context() {
        let old: Vec<String> = (1..=20).map(|i| format!("l{i}")).collect();
        let mut script: Vec<DiffLine<'_>> = old.iter().map(|l| DiffLine::Same(l)).collect();
        script[9] = DiffLine::Old("l10");
        script.insert(10, DiffLine::New("L10"));
        let diff = unified_diff("a/f", "b/f", &script, false, false);
        assert_eq!(
            diff,
            "--- a/f\n+++ b/f\n@@ -7,7 +7,7 @@\n l7\n l8\n l9\n-l10\n+L10\n l11\n l12\n l13\n"
        );
    }

    #[test]
    fn diff_of_added_file_and_missing_newline() {
        let script = [DiffLine::New("a"), DiffLine::New("b")];
        assert_eq!(
            unified_diff("/dev/null", "b/f", &script, false, true),
            "--- /dev/null\n+++ b/f\n@@ -0,0 +1,2 @@\n+a\n+b\n\\ No newline at end of file\n"
        );
    }

    /// The old and new sides of a script, and how many lines it removes or adds.
    fn sides(script: &[DiffLine<'_>]) -> (Vec<String>, Vec<String>, usize) {
        let (mut old, mut new, mut edits) = (Vec::new(), Vec::new(), 0);
        for line in script {
            match *line {
                DiffLine::Same(t) => {
                    old.push(t.to_string());
                    new.push(t.to_string());
                }
                DiffLine::Old(t) => {
                    old.push(t.to_string());
                    edits += 1;
                }
                DiffLine::New(t) => {
                    new.push(t.to_string());
                    edits += 1;
                }
            }
        }
        (old, new, edits)
    }

    fn lcs(a: &[&str], b: &[&str]) -> usize {
        let mut row = vec![0usize; b.len() + 1];
        for x in a {
            let mut diagonal = 0;
            for (j, y) in b.iter().enumerate() {
                let above = row[j + 1];
                row[j + 1] = if x == y {
                    diagonal + 1
                } else {
                    row[j + 1].max(row[j])
                };
                diagonal = above;
            }
        }
        row[b.len()]
    }

    #[test]
    fn line_diff_is_minimal_and_compares_line_endings() {
        let old = lines_with_endings("a\nb\nc\nd\ne\n");
        let new = lines_with_endings("a\nc\nd\nX\ne\n");
        let mut script = Vec::new();
        diff_lines(&old, &new, &mut script);
        assert_eq!(
            script,
            vec![
                DiffLine::Same("a"),
                DiffLine::Old("b"),
                DiffLine::Same("c"),
                DiffLine::Same("d"),
                DiffLine::New("X"),
                DiffLine::Same("e"),
            ]
        );
        // Only the line ending changed: shown as a changed line.
        let mut script = Vec::new();
        diff_lines(&["a\n", "b\n"], &["a\r\n", "b\n"], &mut script);
        assert_eq!(
            script,
            vec![DiffLine::Old("a"), DiffLine::New("a"), DiffLine::Same("b")]
        );
    }

    #[test]
    fn line_diff_beyond_the_bound_is_still_correct() {
        // Every other line differs: the edit distance is far above the bound.
        let old: Vec<String> = (0..3000).map(|i| format!("{i}\n")).collect();
        let new: Vec<String> = (0..3000)
            .map(|i| {
                if i % 2 == 0 {
                    format!("{i}\n")
                } else {
                    format!("x{i}\n")
                }
            })
            .collect();
        let old: Vec<&str> = old.iter().map(String::as_str).collect();
        let new: Vec<&str> = new.iter().map(String::as_str).collect();
        let mut script = Vec::new();
        diff_lines(&old, &new, &mut script);
        let (o, n, _) = sides(&script);
        let strip = |v: &[&str]| -> Vec<String> {
            v.iter().map(|l| strip_terminator(l).to_string()).collect()
        };
        assert_eq!(o, strip(&old));
        assert_eq!(n, strip(&new));
    }

    #[test]
    fn many_scattered_changes_beyond_the_bound_still_give_small_hunks() {
        let old: Vec<String> = (0..20_000).map(|i| format!("line {i}\n")).collect();
        let new: Vec<String> = (0..20_000)
            .map(|i| {
                if i % 20 == 10 {
                    format!("changed {i}\n")
                } else {
                    format!("line {i}\n")
                }
            })
            .collect();
        let old: Vec<&str> = old.iter().map(String::as_str).collect();
        let new: Vec<&str> = new.iter().map(String::as_str).collect();
        let mut script = Vec::new();
        diff_lines(&old, &new, &mut script);
        let (_, _, edits) = sides(&script);
        assert_eq!(edits, 2_000, "one line out, one line in, per change");
        let diff = unified_diff("a/f", "b/f", &script, false, false);
        assert_eq!(diff.matches("\n@@ ").count(), 1_000);
    }

    proptest::proptest! {
        #[test]
        fn line_diff_reproduces_both_sides_with_fewest_edits(
            old in proptest::collection::vec(0u8..4, 0..40),
            new in proptest::collection::vec(0u8..4, 0..40),
        ) {
            const WORDS: [&str; 4] = ["a\n", "b\n", "c\n", "d\n"];
            let old: Vec<&str> = old.iter().map(|&i| WORDS[i as usize]).collect();
            let new: Vec<&str> = new.iter().map(|&i| WORDS[i as usize]).collect();
            let mut script = Vec::new();
            diff_lines(&old, &new, &mut script);
            let (o, n, edits) = sides(&script);
            let strip = |v: &[&str]| -> Vec<String> {
                v.iter().map(|l| strip_terminator(l).to_string()).collect()
            };
            proptest::prop_assert_eq!(o, strip(&old));
            proptest::prop_assert_eq!(n, strip(&new));
            proptest::prop_assert_eq!(edits, old.len() + new.len() - 2 * lcs(&old, &new));
        }

        /// With Myers bounded very low, the split on unique lines and the last-resort
        /// block still give a script for exactly these two sides.
        #[test]
        fn bounded_line_diff_reproduces_both_sides(
            old in proptest::collection::vec(0u8..30, 0..60),
            new in proptest::collection::vec(0u8..30, 0..60),
            bound in 0usize..4,
        ) {
            let words: Vec<String> = (0..30).map(|i| format!("w{i}\n")).collect();
            let old: Vec<&str> = old.iter().map(|&i| words[i as usize].as_str()).collect();
            let new: Vec<&str> = new.iter().map(|&i| words[i as usize].as_str()).collect();
            let mut script = Vec::new();
            diff_lines_bounded(&old, &new, &mut script, bound);
            let (o, n, _) = sides(&script);
            let strip = |v: &[&str]| -> Vec<String> {
                v.iter().map(|l| strip_terminator(l).to_string()).collect()
            };
            proptest::prop_assert_eq!(o, strip(&old));
            proptest::prop_assert_eq!(n, strip(&new));
        }
    }

    #[test]
    fn kept_last_line_that_gains_a_successor_is_shown_as_changed() {
        let script = [DiffLine::Same("a"), DiffLine::Same("b"), DiffLine::New("c")];
        assert_eq!(
            unified_diff("a/f", "b/f", &script, true, true),
            "--- a/f\n+++ b/f\n@@ -1,2 +1,3 @@\n a\n-b\n\\ No newline at end of file\n+b\n+c\n\\ No newline at end of file\n"
        );
    }
}
