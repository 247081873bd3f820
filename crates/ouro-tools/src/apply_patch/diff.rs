//! Unified diffs of applied changes.
//!
//! We already know exactly which lines each hunk kept, removed and added, so the diff is
//! written from that edit script rather than recomputed by a diff algorithm: it is linear,
//! and it shows the change the way the model expressed it.

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

    #[test]
    fn kept_last_line_that_gains_a_successor_is_shown_as_changed() {
        let script = [DiffLine::Same("a"), DiffLine::Same("b"), DiffLine::New("c")];
        assert_eq!(
            unified_diff("a/f", "b/f", &script, true, true),
            "--- a/f\n+++ b/f\n@@ -1,2 +1,3 @@\n a\n-b\n\\ No newline at end of file\n+b\n+c\n\\ No newline at end of file\n"
        );
    }
}
