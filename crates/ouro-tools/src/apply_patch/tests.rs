use std::fs;
use std::path::{Path, PathBuf};

use ouro_protocol::PatchChangeKind;

use super::*;

pub(super) fn workspace() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn apply_in(dir: &Path, patch: &str) -> Result<ApplyOutcome, PatchError> {
    apply_patch(patch, dir, &[dir.to_path_buf()])
}

pub(super) fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(path, text).expect("write");
}

pub(super) fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).expect("read")
}

fn wrap(body: &str) -> String {
    format!("*** Begin Patch\n{body}*** End Patch\n")
}

pub(super) fn err_text(result: Result<ApplyOutcome, PatchError>) -> String {
    match result {
        Ok(outcome) => panic!("expected an error, got {outcome:?}"),
        Err(e) => e.to_string(),
    }
}

/// Names of all entries under `dir`, recursively, sorted (to spot stray temp files); a
/// symlinked directory is listed, not entered.
pub(super) fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            out.push(
                path.strip_prefix(dir)
                    .expect("prefix")
                    .display()
                    .to_string(),
            );
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

// ----------------------------------------------------------------------------- parsing

#[test]
fn parses_every_operation_kind() {
    let patch = parse_patch(&wrap(
        "*** Add File: a.txt\n+one\n+two\n*** Delete File: b.txt\n*** Update File: c.rs\n*** Move to: d.rs\n@@ fn main\n ctx\n-old\n+new\n*** End of File\n",
    ))
    .expect("parse");
    assert_eq!(patch.ops.len(), 3);
    assert_eq!(
        patch.ops[0],
        FileOp::Add {
            path: "a.txt".into(),
            contents: "one\ntwo\n".into(),
            line: 2
        }
    );
    assert_eq!(
        patch.ops[1],
        FileOp::Delete {
            path: "b.txt".into(),
            line: 5
        }
    );
    let FileOp::Update {
        path,
        move_to,
        hunks,
        line,
    } = &patch.ops[2]
    else {
        panic!("expected update")
    };
    assert_eq!(
        (path.as_str(), move_to.as_deref(), *line),
        ("c.rs", Some("d.rs"), 6)
    );
    assert_eq!(hunks.len(), 1);
    assert_eq!(hunks[0].anchors, vec!["fn main".to_string()]);
    assert!(hunks[0].end_of_file);
    let kinds: Vec<_> = hunks[0]
        .lines
        .iter()
        .map(|l| (l.kind, l.text.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (HunkLineKind::Context, "ctx"),
            (HunkLineKind::Remove, "old"),
            (HunkLineKind::Add, "new")
        ]
    );
}

#[test]
fn parsing_is_lenient_about_harmless_slips() {
    // Whitespace around markers, no final newline, CRLF, an empty context line.
    let text = "  \n  *** Begin Patch  \r\n*** Update File: f\r\n@@\r\n a\r\n\r\n-b\r\n+c\r\n   *** End Patch   ";
    let patch = parse_patch(text).expect("parse");
    let FileOp::Update { hunks, .. } = &patch.ops[0] else {
        panic!("expected update")
    };
    let kinds: Vec<_> = hunks[0]
        .lines
        .iter()
        .map(|l| (l.kind, l.text.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (HunkLineKind::Context, "a"),
            (HunkLineKind::Context, ""),
            (HunkLineKind::Remove, "b"),
            (HunkLineKind::Add, "c")
        ]
    );

    // A heredoc wrapper, with or without the command in front.
    for opener in ["<<'EOF'", "<<EOF", "apply_patch <<\"EOF\""] {
        let text = format!("{opener}\n*** Begin Patch\n*** Delete File: x\n*** End Patch\nEOF\n");
        let patch = parse_patch(&text).expect("heredoc");
        assert_eq!(patch.ops[0].path(), "x");
    }

    // Unified-diff style hunk headers, and several @@ lines narrowing the search.
    let patch = parse_patch(&wrap(
        "*** Update File: f\n@@ -3,4 +3,5 @@ fn main() {\n a\n+b\n@@ impl X\n@@ fn y\n c\n-d\n",
    ))
    .expect("parse");
    let FileOp::Update { hunks, .. } = &patch.ops[0] else {
        panic!("expected update")
    };
    assert_eq!(hunks[0].anchors, vec!["fn main() {".to_string()]);
    assert_eq!(
        hunks[1].anchors,
        vec!["impl X".to_string(), "fn y".to_string()]
    );
}

#[test]
fn parse_errors_name_the_line_and_what_was_expected() {
    let cases: [(&str, usize, &str); 6] = [
        ("hello\n*** End Patch", 1, "expected `*** Begin Patch`"),
        (
            "*** Begin Patch\n*** Delete File: x\n",
            2,
            "expected `*** End Patch`",
        ),
        (
            "*** Begin Patch\n*** Frobnicate: x\n*** End Patch",
            2,
            "expected a file header",
        ),
        (
            "*** Begin Patch\n*** Update File: f\n@@\n ok\nbad line\n*** End Patch",
            5,
            "every line must start with ' ' (context), '-' (remove) or '+' (add)",
        ),
        (
            "*** Begin Patch\n*** Add File: f\n+ok\nno plus\n*** End Patch",
            4,
            "every content line must start with '+'",
        ),
        (
            "*** Begin Patch\n*** Update File: f\n@@\n@@ x\n*** End Patch",
            5,
            "has no lines",
        ),
    ];
    for (text, line, expected) in cases {
        match parse_patch(text) {
            Err(PatchError::Parse { line: got, message }) => {
                assert_eq!(got, line, "{text:?}: {message}");
                assert!(message.contains(expected), "{text:?}: {message}");
            }
            other => panic!("{text:?}: expected parse error, got {other:?}"),
        }
    }
    let shown = parse_patch("").map(|_| ()).unwrap_err().to_string();
    assert!(shown.starts_with("invalid patch, line 1:"), "{shown}");
}

// ----------------------------------------------------------------------------- applying

#[test]
fn applies_add_update_delete_and_reports_like_codex() {
    let dir = workspace();
    let root = dir.path();
    write(root, "src/lib.rs", "fn a() {}\nfn b() {\n    1\n}\n");
    write(root, "old.txt", "bye\n");
    let outcome = apply_in(
        root,
        &wrap(
            "*** Add File: path/new.txt\n+line one\n+line two\n*** Update File: src/lib.rs\n@@ fn b() {\n-    1\n+    2\n*** Delete File: old.txt\n",
        ),
    )
    .expect("apply");
    assert_eq!(read(root, "path/new.txt"), "line one\nline two\n");
    assert_eq!(read(root, "src/lib.rs"), "fn a() {}\nfn b() {\n    2\n}\n");
    assert!(!root.join("old.txt").exists());
    assert_eq!(
        outcome.summary(),
        "Success. Updated the following files:\nA path/new.txt\nM src/lib.rs\nD old.txt\n"
    );
    let kinds: Vec<_> = outcome.changes.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            PatchChangeKind::Add,
            PatchChangeKind::Update,
            PatchChangeKind::Delete
        ]
    );
    assert_eq!(outcome.changes[1].path, PathBuf::from("src/lib.rs"));
}

#[test]
fn unified_diff_is_standard() {
    let dir = workspace();
    let root = dir.path();
    let original: String = (1..=12).map(|i| format!("line {i}\n")).collect();
    write(root, "f.txt", &original);
    write(root, "gone.txt", "x\ny");
    let outcome = apply_in(
        root,
        &wrap("*** Update File: f.txt\n line 5\n-line 6\n+line six\n+line 6b\n line 7\n*** Add File: n.txt\n+hi\n*** Delete File: gone.txt\n"),
    )
    .expect("apply");
    assert_eq!(
        outcome.changes[0].unified_diff,
        "--- a/f.txt\n+++ b/f.txt\n@@ -3,7 +3,8 @@\n line 3\n line 4\n line 5\n-line 6\n+line six\n+line 6b\n line 7\n line 8\n line 9\n"
    );
    assert_eq!(
        outcome.changes[1].unified_diff,
        "--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1 @@\n+hi\n"
    );
    assert_eq!(
        outcome.changes[2].unified_diff,
        "--- a/gone.txt\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-x\n-y\n\\ No newline at end of file\n"
    );
}

#[test]
fn matching_falls_back_through_whitespace_and_unicode_levels() {
    let dir = workspace();
    let root = dir.path();
    // Trailing whitespace in the file, indentation off in the patch, typographic punctuation.
    write(
        root,
        "f.txt",
        "alpha   \n    beta\nsay \u{201C}hi\u{201D} \u{2014} it\u{2019}s\u{00A0}fine\nomega\n",
    );
    apply_in(
        root,
        &wrap("*** Update File: f.txt\n alpha\n-beta\n+BETA\n"),
    )
    .expect("whitespace");
    apply_in(
        root,
        &wrap("*** Update File: f.txt\n say \"hi\" - it's fine\n-omega\n+OMEGA\n"),
    )
    .expect("unicode");
    // Context lines keep the file's own text; only '+' lines come from the patch.
    assert_eq!(
        read(root, "f.txt"),
        "alpha   \nBETA\nsay \u{201C}hi\u{201D} \u{2014} it\u{2019}s\u{00A0}fine\nOMEGA\n"
    );
}

#[test]
fn stricter_level_wins_over_looser_duplicates() {
    let dir = workspace();
    let root = dir.path();
    // Exactly one exact match; the trimmed form matches twice.
    write(root, "f.txt", "  x = 1\nx = 1\n");
    apply_in(root, &wrap("*** Update File: f.txt\n-x = 1\n+x = 2\n")).expect("apply");
    assert_eq!(read(root, "f.txt"), "  x = 1\nx = 2\n");
}

#[test]
fn ambiguous_hunk_is_an_error_not_a_guess() {
    let dir = workspace();
    let root = dir.path();
    let text = "fn a() {\n    init();\n    run();\n}\nfn b() {\n    init();\n    run();\n}\n";
    write(root, "f.rs", text);
    let err = err_text(apply_in(
        root,
        &wrap("*** Update File: f.rs\n     init();\n-    run();\n+    go();\n"),
    ));
    assert!(
        err.contains("f.rs: hunk 1 (patch line 3) matches 2 places (lines 2, 6)"),
        "{err}"
    );
    assert!(err.contains("add more unchanged context"), "{err}");
    assert_eq!(read(root, "f.rs"), text);

    // Ambiguous at a fuzzy level is reported as such.
    write(root, "g.rs", "  a\nb\n a\nb\n");
    let err = err_text(apply_in(root, &wrap("*** Update File: g.rs\n a\n-b\n")));
    assert!(
        err.contains("ignoring leading and trailing whitespace"),
        "{err}"
    );

    // An @@ anchor moves the search past the first occurrence.
    apply_in(
        root,
        &wrap("*** Update File: f.rs\n@@ fn b() {\n     init();\n-    run();\n+    go();\n"),
    )
    .expect("anchored");
    assert_eq!(
        read(root, "f.rs"),
        "fn a() {\n    init();\n    run();\n}\nfn b() {\n    init();\n    go();\n}\n"
    );
}

#[test]
fn hunks_are_searched_after_the_previous_hunk() {
    let dir = workspace();
    let root = dir.path();
    write(root, "f.txt", "start\nx\nmiddle\nx\nend\n");
    // Alone, `-x` would be ambiguous; after the first hunk it is not.
    apply_in(
        root,
        &wrap("*** Update File: f.txt\n start\n-x\n+X1\n middle\n@@\n-x\n+X2\n"),
    )
    .expect("apply");
    assert_eq!(read(root, "f.txt"), "start\nX1\nmiddle\nX2\nend\n");

    // Hunks out of order get a precise hint.
    let err = err_text(apply_in(
        root,
        &wrap("*** Update File: f.txt\n-middle\n+M\n@@\n-start\n+S\n"),
    ));
    assert!(err.contains("hunk 2"), "{err}");
    assert!(err.contains("must be in the order"), "{err}");
}

#[test]
fn anchor_handling() {
    let dir = workspace();
    let root = dir.path();
    write(
        root,
        "f.py",
        "class A:\n    def f(self):\n        pass\nclass B:\n    def f(self):\n        pass\n",
    );
    // Nested anchors, and the anchor repeated as the hunk's first context line.
    apply_in(
        root,
        &wrap("*** Update File: f.py\n@@ class B:\n@@ def f(self):\n     def f(self):\n-        pass\n+        return 1\n"),
    )
    .expect("apply");
    assert!(read(root, "f.py").ends_with("class B:\n    def f(self):\n        return 1\n"));
    // A pure insertion after an anchor goes right after the anchor line.
    apply_in(
        root,
        &wrap("*** Update File: f.py\n@@ class A:\n+    x = 1\n"),
    )
    .expect("insert");
    assert!(read(root, "f.py").starts_with("class A:\n    x = 1\n    def f(self):\n"));
    // A missing anchor is named.
    let err = err_text(apply_in(
        root,
        &wrap("*** Update File: f.py\n@@ class C:\n-        pass\n"),
    ));
    assert!(
        err.contains("the line `class C:` given after @@ was not found"),
        "{err}"
    );
}

#[test]
fn additions_without_context_append_to_the_file() {
    let dir = workspace();
    let root = dir.path();
    write(root, "f.txt", "a\nb\n");
    apply_in(root, &wrap("*** Update File: f.txt\n+c\n")).expect("apply");
    assert_eq!(read(root, "f.txt"), "a\nb\nc\n");
}

#[test]
fn end_of_file_hunks_must_match_at_the_end() {
    let dir = workspace();
    let root = dir.path();
    write(root, "f.txt", "x\ny\nx\ny\n");
    apply_in(
        root,
        &wrap("*** Update File: f.txt\n x\n-y\n+Y\n*** End of File\n"),
    )
    .expect("eof");
    assert_eq!(read(root, "f.txt"), "x\ny\nx\nY\n");
    write(root, "g.txt", "a\nb\nc\n");
    let err = err_text(apply_in(
        root,
        &wrap("*** Update File: g.txt\n-a\n+A\n*** End of File\n"),
    ));
    assert!(err.contains("End of File"), "{err}");
    assert_eq!(read(root, "g.txt"), "a\nb\nc\n");
}

#[test]
fn blank_context_lines_at_hunk_edges_are_forgiven() {
    let dir = workspace();
    let root = dir.path();
    write(root, "f.txt", "a\nb\nc\n");
    apply_in(root, &wrap("*** Update File: f.txt\n\n a\n-b\n+B\n\n\n")).expect("apply");
    assert_eq!(read(root, "f.txt"), "a\nB\nc\n");
}

#[test]
fn mismatch_error_quotes_the_line_and_shows_the_closest_lines() {
    let dir = workspace();
    let root = dir.path();
    let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
    write(root, "f.txt", &text);
    let patch =
        wrap("*** Update File: f.txt\n@@\n line 20\n line 21\n-line TWENTY-TWO\n+x\n line 23\n");
    let err = err_text(apply_in(root, &patch));
    assert!(
        err.starts_with("f.txt: hunk 1 (patch line 3) does not match the file."),
        "{err}"
    );
    assert!(
        err.contains(
            "The closest place is line 20 of f.txt, where 3 of the hunk's 4 expected lines match"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "(patch line 6) is:\n    line TWENTY-TWO\nbut line 22 of the file is:\n    line 22\n"
        ),
        "{err}"
    );
    assert!(
        err.contains("Lines 18-25 of f.txt:\n18 | line 18\n"),
        "{err}"
    );
    assert!(err.contains("22 | line 22\n"), "{err}");

    let err = err_text(apply_in(
        root,
        &wrap("*** Update File: f.txt\n-nothing like it\n"),
    ));
    assert!(
        err.contains("None of the hunk's lines occur in f.txt (30 lines)"),
        "{err}"
    );
    assert!(err.contains("nothing like it"), "{err}");
}

#[test]
fn failed_patch_changes_nothing() {
    let dir = workspace();
    let root = dir.path();
    write(root, "one.txt", "1\n");
    write(root, "two.txt", "2\n");
    write(root, "three.txt", "3\n");
    let before = listing(root);
    let err = err_text(apply_in(
        root,
        &wrap("*** Update File: one.txt\n-1\n+one\n*** Add File: sub/new.txt\n+new\n*** Delete File: two.txt\n*** Update File: three.txt\n-not there\n+x\n"),
    ));
    assert!(err.contains("three.txt: hunk 1"), "{err}");
    assert_eq!(read(root, "one.txt"), "1\n");
    assert_eq!(read(root, "two.txt"), "2\n");
    assert_eq!(
        listing(root),
        before,
        "no new files, directories or temp files"
    );
}

#[test]
fn failed_write_rolls_back_earlier_writes() {
    let dir = workspace();
    let root = dir.path();
    write(root, "a.txt", "a\n");
    // `blocker` is a file, so a file under it cannot be created.
    write(root, "blocker", "");
    let before = listing(root);
    let result = apply_in(
        root,
        &wrap("*** Update File: a.txt\n-a\n+A\n*** Add File: blocker/x.txt\n+x\n"),
    );
    assert!(matches!(result, Err(PatchError::Io { .. })), "{result:?}");
    assert_eq!(read(root, "a.txt"), "a\n");
    assert_eq!(listing(root), before);
}

#[test]
fn line_endings_and_final_newline_are_kept() {
    let dir = workspace();
    let root = dir.path();
    write(root, "crlf.txt", "a\r\nb\r\nc\r\n");
    write(root, "nonl.txt", "a\nb");
    write(root, "mixed.txt", "a\r\nb\nc\r\n");
    apply_in(
        root,
        &wrap("*** Update File: crlf.txt\n a\n-b\n+B\n+B2\n*** Update File: nonl.txt\n a\n-b\n+B\n+C\n*** Update File: mixed.txt\n a\n b\n-c\n+C\n"),
    )
    .expect("apply");
    assert_eq!(read(root, "crlf.txt"), "a\r\nB\r\nB2\r\nc\r\n");
    assert_eq!(read(root, "nonl.txt"), "a\nB\nC");
    assert_eq!(read(root, "mixed.txt"), "a\r\nb\nC\r\n");
    // Appending after a last line without newline keeps it without one at the new end.
    apply_in(root, &wrap("*** Update File: nonl.txt\n+D\n")).expect("append");
    assert_eq!(read(root, "nonl.txt"), "a\nB\nC\nD");
}

#[cfg(unix)]
#[test]
fn permissions_are_kept_including_across_moves() {
    use std::os::unix::fs::PermissionsExt;
    let dir = workspace();
    let root = dir.path();
    write(root, "run.sh", "echo a\n");
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o751)).expect("chmod");
    apply_in(root, &wrap("*** Update File: run.sh\n-echo a\n+echo b\n")).expect("apply");
    let mode = |p: &str| {
        fs::metadata(root.join(p))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("run.sh"), 0o751);
    apply_in(
        root,
        &wrap("*** Update File: run.sh\n*** Move to: bin/run2.sh\n-echo b\n+echo c\n"),
    )
    .expect("move");
    assert_eq!(mode("bin/run2.sh"), 0o751);
    assert_eq!(read(root, "bin/run2.sh"), "echo c\n");
    assert!(!root.join("run.sh").exists());
}

#[test]
fn file_existence_rules() {
    let dir = workspace();
    let root = dir.path();
    write(root, "a.txt", "a\n");
    write(root, "b.txt", "b\n");

    let err = err_text(apply_in(root, &wrap("*** Add File: a.txt\n+x\n")));
    assert!(
        err.contains("a.txt: cannot add a file that already exists"),
        "{err}"
    );
    let err = err_text(apply_in(root, &wrap("*** Update File: missing.txt\n-x\n")));
    assert!(
        err.contains("missing.txt: cannot update a file that does not exist"),
        "{err}"
    );
    let err = err_text(apply_in(root, &wrap("*** Delete File: missing.txt\n")));
    assert!(
        err.contains("missing.txt: cannot delete a file that does not exist"),
        "{err}"
    );
    let err = err_text(apply_in(
        root,
        &wrap("*** Update File: a.txt\n*** Move to: b.txt\n-a\n+A\n"),
    ));
    assert!(
        err.contains("a.txt: cannot move to b.txt: that file already exists"),
        "{err}"
    );
    assert_eq!(read(root, "a.txt"), "a\n");

    // A pure rename, with parent directories created.
    let outcome = apply_in(
        root,
        &wrap("*** Update File: a.txt\n*** Move to: x/y/a.txt\n"),
    )
    .expect("rename");
    assert_eq!(read(root, "x/y/a.txt"), "a\n");
    assert_eq!(
        outcome.summary(),
        "Success. Updated the following files:\nM x/y/a.txt\n"
    );
    assert_eq!(outcome.changes[0].move_to, Some(PathBuf::from("x/y/a.txt")));

    // Operations in one patch see each other.
    apply_in(
        root,
        &wrap("*** Delete File: b.txt\n*** Add File: b.txt\n+new b\n*** Update File: b.txt\n-new b\n+newer b\n"),
    )
    .expect("sequence");
    assert_eq!(read(root, "b.txt"), "newer b\n");
}

#[test]
fn paths_outside_writable_roots_are_refused() {
    let dir = workspace();
    let outside = workspace();
    let root = dir.path().join("repo");
    fs::create_dir_all(&root).expect("mkdir");
    write(outside.path(), "secret.txt", "s\n");

    let err = err_text(apply_in(&root, &wrap("*** Add File: ../escape.txt\n+x\n")));
    assert!(
        err.contains("../escape.txt: refusing to write outside the writable roots"),
        "{err}"
    );
    assert!(err.contains(&root.display().to_string()), "{err}");
    assert!(!dir.path().join("escape.txt").exists());

    let secret = outside.path().join("secret.txt");
    let err = err_text(apply_in(
        &root,
        &wrap(&format!("*** Delete File: {}\n", secret.display())),
    ));
    assert!(err.contains("refusing to write outside"), "{err}");
    assert!(secret.exists());

    // Absolute paths inside a root are fine.
    let inside = root.join("ok.txt");
    apply_in(
        &root,
        &wrap(&format!("*** Add File: {}\n+ok\n", inside.display())),
    )
    .expect("absolute inside");
    assert_eq!(read(&root, "ok.txt"), "ok\n");

    // A symlinked directory pointing outside is caught.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outside.path(), root.join("link")).expect("symlink");
        let err = err_text(apply_in(&root, &wrap("*** Add File: link/new.txt\n+x\n")));
        assert!(
            err.contains("link/new.txt: refusing to write outside"),
            "{err}"
        );
        let err = err_text(apply_in(
            &root,
            &wrap("*** Update File: link/secret.txt\n-s\n+t\n"),
        ));
        assert!(err.contains("refusing to write outside"), "{err}");
        assert_eq!(read(outside.path(), "secret.txt"), "s\n");
    }

    // No roots: nothing is writable.
    let err = err_text(apply_patch(&wrap("*** Add File: a.txt\n+x\n"), &root, &[]));
    assert!(err.contains("writing is not allowed"), "{err}");
}

#[test]
fn preview_computes_without_writing() {
    let dir = workspace();
    let root = dir.path();
    write(root, "f.txt", "a\n");
    let outcome = preview_patch(
        &wrap("*** Update File: f.txt\n-a\n+b\n"),
        root,
        &[root.to_path_buf()],
    )
    .expect("preview");
    assert!(outcome.changes[0].unified_diff.contains("-a\n+b\n"));
    assert_eq!(read(root, "f.txt"), "a\n");
}

#[test]
fn non_utf8_files_are_refused_for_update_but_deletable() {
    let dir = workspace();
    let root = dir.path();
    fs::write(root.join("bin.dat"), [0xff, 0xfe, 0x00]).expect("write");
    let err = err_text(apply_in(root, &wrap("*** Update File: bin.dat\n-x\n")));
    assert!(err.contains("not valid UTF-8"), "{err}");
    apply_in(root, &wrap("*** Delete File: bin.dat\n")).expect("delete");
    assert!(!root.join("bin.dat").exists());
}

#[test]
fn large_patch_applies_correctly() {
    let dir = workspace();
    let root = dir.path();
    let lines = 20_000;
    let original: String = (0..lines)
        .map(|i| format!("    value_{i} = compute({i});\n"))
        .collect();
    write(root, "big.rs", &original);
    let mut body = String::from("*** Update File: big.rs\n");
    let mut expected: Vec<String> = (0..lines)
        .map(|i| format!("    value_{i} = compute({i});"))
        .collect();
    for h in 0..1000 {
        let target = h * 20 + 10;
        body.push_str("@@\n");
        for c in target - 3..target {
            body.push_str(&format!("     value_{c} = compute({c});\n"));
        }
        body.push_str(&format!("-    value_{target} = compute({target});\n"));
        body.push_str(&format!("+    value_{target} = changed({target});\n"));
        for c in target + 1..target + 4 {
            body.push_str(&format!("     value_{c} = compute({c});\n"));
        }
        expected[target] = format!("    value_{target} = changed({target});");
    }
    let patch = wrap(&body);
    // Timing is measured by `bench/apply-patch`, not here.
    let outcome = apply_in(root, &patch).expect("apply");
    assert_eq!(read(root, "big.rs"), expected.join("\n") + "\n");
    assert_eq!(
        outcome.changes[0].unified_diff.matches("\n@@ ").count(),
        1000
    );
}

// ----------------------------------------------------------------------------- shell

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

#[test]
fn recognises_apply_patch_shell_invocations() {
    let patch = "*** Begin Patch\n*** Delete File: x\n*** End Patch\n";
    assert_eq!(
        patch_from_shell_argv(&argv(&["apply_patch", patch])).as_deref(),
        Some(patch)
    );
    let script = format!("apply_patch <<'EOF'\n{patch}EOF\n");
    assert_eq!(
        patch_from_shell_argv(&argv(&["bash", "-lc", &script])).as_deref(),
        Some(patch)
    );
    assert_eq!(
        patch_from_shell_argv(&argv(&["/bin/sh", "-c", &script])).as_deref(),
        Some(patch)
    );
    assert_eq!(
        patch_from_shell_argv(&argv(&[&script])).as_deref(),
        Some(patch)
    );
    let script = format!("applypatch <<\"PATCH\"\n{patch}PATCH");
    assert_eq!(
        patch_from_shell_argv(&argv(&["zsh", "-c", &script])).as_deref(),
        Some(patch)
    );
    let script = format!("apply_patch '{patch}'");
    assert_eq!(
        patch_from_shell_argv(&argv(&["bash", "-lc", &script])).as_deref(),
        Some(patch)
    );

    // A leading cd is reported separately; patch_from_shell_argv declines it.
    let script = format!("cd sub && apply_patch <<'EOF'\n{patch}EOF\n");
    assert_eq!(
        patch_from_shell_argv(&argv(&["bash", "-lc", &script])),
        None
    );
    assert_eq!(
        parse_shell_apply_patch(&argv(&["bash", "-lc", &script])),
        Some(ShellApplyPatch {
            patch: patch.to_string(),
            workdir: Some("sub".to_string())
        })
    );

    // Not (only) apply_patch: left to the shell.
    let chained = format!("apply_patch <<'EOF'\n{patch}EOF\ncargo test\n");
    for command in [
        argv(&["bash", "-lc", &chained]),
        argv(&["bash", "-lc", "echo apply_patch"]),
        argv(&["apply_patch_helper", patch]),
        argv(&["ls", "-la"]),
        argv(&["bash", "-lc"]),
        argv(&["python", "-c", &script]),
        argv(&[]),
    ] {
        assert_eq!(patch_from_shell_argv(&command), None, "{command:?}");
    }
}
