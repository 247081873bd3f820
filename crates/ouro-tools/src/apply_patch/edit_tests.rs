//! Tests of `edit_file` and `write_file`.

use std::fs;
use std::path::{Path, PathBuf};

use ouro_protocol::PatchChangeKind;

use super::tests::{err_text, listing, read, workspace, write};
use super::*;

fn roots(dir: &Path) -> Vec<PathBuf> {
    vec![dir.to_path_buf()]
}

fn edit(
    dir: &Path,
    path: &str,
    old: &str,
    new: &str,
    all: bool,
) -> Result<ApplyOutcome, PatchError> {
    edit_file(path, old, new, all, dir, &roots(dir))
}

fn write_in(dir: &Path, path: &str, content: &str) -> Result<ApplyOutcome, PatchError> {
    write_file(path, content, dir, &roots(dir))
}

fn numbered(n: usize) -> String {
    (1..=n).map(|i| format!("line {i}\n")).collect()
}

// ----------------------------------------------------------------------------- edit_file

#[test]
fn edit_replaces_the_single_occurrence_and_reports_like_a_patch() {
    let dir = workspace();
    let root = dir.path();
    write(root, "src/lib.rs", &numbered(20));
    let outcome = edit(
        root,
        "src/lib.rs",
        "line 10\n",
        "line ten\nline 10b\n",
        false,
    )
    .expect("edit");
    let mut expected = numbered(20);
    expected = expected.replace("line 10\n", "line ten\nline 10b\n");
    assert_eq!(read(root, "src/lib.rs"), expected);
    assert_eq!(
        outcome.summary(),
        "Success. Updated the following files:\nM src/lib.rs\n"
    );
    assert_eq!(outcome.changes.len(), 1);
    assert_eq!(outcome.changes[0].kind, PatchChangeKind::Update);
    assert_eq!(outcome.changes[0].path, PathBuf::from("src/lib.rs"));
    assert_eq!(
        outcome.changes[0].unified_diff,
        "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -7,7 +7,8 @@\n line 7\n line 8\n line 9\n-line 10\n+line ten\n+line 10b\n line 11\n line 12\n line 13\n"
    );
    assert_eq!(outcome.to_string(), outcome.summary());
}

#[test]
fn edit_diff_shows_only_the_changed_lines_even_inside_a_line() {
    let dir = workspace();
    let root = dir.path();
    let text = "fn main() {\n    let x = compute(1, 2);\n    println!(\"{x}\");\n}\n";
    write(root, "m.rs", text);
    // old_string is part of a line; new_string adds a line break.
    let outcome = edit(
        root,
        "m.rs",
        "compute(1, 2);",
        "compute(1, 3);\n    x += 1;",
        false,
    )
    .expect("edit");
    assert_eq!(
        read(root, "m.rs"),
        "fn main() {\n    let x = compute(1, 3);\n    x += 1;\n    println!(\"{x}\");\n}\n"
    );
    assert_eq!(
        outcome.changes[0].unified_diff,
        "--- a/m.rs\n+++ b/m.rs\n@@ -1,4 +1,5 @@\n fn main() {\n-    let x = compute(1, 2);\n+    let x = compute(1, 3);\n+    x += 1;\n     println!(\"{x}\");\n }\n"
    );

    // A multi-line old_string where only its middle line really changes: the diff is
    // trimmed to that line.
    let outcome = edit(
        root,
        "m.rs",
        "fn main() {\n    let x = compute(1, 3);\n    x += 1;\n",
        "fn main() {\n    let x = compute(1, 3);\n    x -= 1;\n",
        false,
    )
    .expect("edit");
    let diff = &outcome.changes[0].unified_diff;
    assert!(diff.contains("-    x += 1;\n+    x -= 1;\n"), "{diff}");
    assert_eq!(diff.matches("\n-").count(), 1, "{diff}");
    assert_eq!(diff.matches("\n+").count(), 2, "{diff}");
}

#[test]
fn edit_of_a_file_without_final_newline_keeps_it_that_way() {
    let dir = workspace();
    let root = dir.path();
    write(root, "f.txt", "a\nb");
    let outcome = edit(root, "f.txt", "b", "B", false).expect("edit");
    assert_eq!(read(root, "f.txt"), "a\nB");
    assert_eq!(
        outcome.changes[0].unified_diff,
        "--- a/f.txt\n+++ b/f.txt\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+B\n\\ No newline at end of file\n"
    );
}

#[test]
fn zero_matches_name_the_file_quote_old_string_and_show_the_closest_lines() {
    let dir = workspace();
    let root = dir.path();
    write(root, "f.txt", &numbered(30));
    let err = err_text(edit(
        root,
        "f.txt",
        "line 20\nline 21\nline TWENTY-TWO\nline 23\n",
        "x\n",
        false,
    ));
    assert!(
        err.starts_with("f.txt: old_string was not found in the file, so nothing was changed.\n"),
        "{err}"
    );
    assert!(
        err.contains(
            "The closest place is line 20 of f.txt, where 3 of old_string's 4 lines match."
        ),
        "{err}"
    );
    assert!(
        err.contains("Line 3 of old_string is:\n    line TWENTY-TWO\nbut line 22 of the file is:\n    line 22\n"),
        "{err}"
    );
    assert!(
        err.contains("Lines 18-25 of f.txt:\n18 | line 18\n"),
        "{err}"
    );
    assert!(err.contains("copy old_string exactly"), "{err}");
    assert_eq!(read(root, "f.txt"), numbered(30));

    // Whitespace-only differences are called out.
    write(
        root,
        "g.py",
        "def f():\n    return 1\n\ndef g():\n    pass\n",
    );
    let err = err_text(edit(root, "g.py", "def f():\n  return 1\n", "", false));
    assert!(
        err.contains("Line 2 of old_string is:\n      return 1\n"),
        "{err}"
    );
    assert!(err.contains("they differ only in whitespace"), "{err}");

    // Nothing like it: old_string is quoted, and loosely containing lines are offered.
    let err = err_text(edit(root, "g.py", "return  \u{201C}x\u{201D}", "y", false));
    assert!(
        err.contains("None of old_string's lines occurs as a whole line of g.py (5 lines). old_string begins:\n    return  \u{201C}x\u{201D}\n"),
        "{err}"
    );
    let err = err_text(edit(root, "g.py", "def  f():", "def h():", false));
    assert!(
        err.contains("Lines that contain its first line when whitespace and punctuation are ignored:\n1 | def f():\n"),
        "{err}"
    );
    // A single line that differs in whitespace only.
    let err = err_text(edit(root, "g.py", "return 1 ", "return 2", false));
    assert!(
        err.contains("The closest line is line 2 of g.py.\nLine 1 of old_string is:\n    return 1 \nbut line 2 of the file is (they differ only in whitespace"),
        "{err}"
    );
}

#[test]
fn several_matches_are_refused_with_their_line_numbers() {
    let dir = workspace();
    let root = dir.path();
    let text = "fn a() {\n    init();\n}\nfn b() {\n    init();\n}\nfn c() { init(); init(); }\n";
    write(root, "f.rs", text);
    let err = err_text(edit(root, "f.rs", "init();", "start();", false));
    assert_eq!(
        err,
        "f.rs: old_string occurs 4 times (on lines 2, 5, 7); include more of the surrounding lines in old_string so that it matches exactly one place, or set replace_all to true to change every occurrence"
    );
    assert_eq!(read(root, "f.rs"), text);

    // Overlapping occurrences count as several.
    write(root, "o.txt", "x aaa y\n");
    let err = err_text(edit(root, "o.txt", "aa", "b", false));
    assert!(err.contains("occurs 2 times (on line 1)"), "{err}");

    // Long lists are cut.
    let many: String = (0..30).map(|_| "same\n").collect();
    write(root, "many.txt", &many);
    let err = err_text(edit(root, "many.txt", "same", "other", false));
    assert!(
        err.contains("occurs 30 times (on lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, …)"),
        "{err}"
    );

    // More context makes it unique.
    edit(
        root,
        "f.rs",
        "fn b() {\n    init();",
        "fn b() {\n    start();",
        false,
    )
    .expect("unique");
    assert!(read(root, "f.rs").contains("fn b() {\n    start();\n}"));
}

#[test]
fn replace_all_changes_every_occurrence() {
    let dir = workspace();
    let root = dir.path();
    let text = "let a = old;\nkeep\nkeep\nkeep\nkeep\nkeep\nkeep\nkeep\nlet b = old + old;\n";
    write(root, "f.rs", text);
    let outcome = edit(root, "f.rs", "old", "new", true).expect("replace all");
    assert_eq!(read(root, "f.rs"), text.replace("old", "new"));
    let diff = &outcome.changes[0].unified_diff;
    assert_eq!(
        diff,
        "--- a/f.rs\n+++ b/f.rs\n@@ -1,4 +1,4 @@\n-let a = old;\n+let a = new;\n keep\n keep\n keep\n@@ -6,4 +6,4 @@\n keep\n keep\n keep\n-let b = old + old;\n+let b = new + new;\n"
    );
    // Several occurrences on one line, replaced by something shorter.
    write(root, "g.txt", "xyx\nx\n");
    let outcome = edit(root, "g.txt", "x", "", true).expect("shrink");
    assert_eq!(read(root, "g.txt"), "y\n\n");
    assert_eq!(
        outcome.changes[0].unified_diff,
        "--- a/g.txt\n+++ b/g.txt\n@@ -1,2 +1,2 @@\n-xyx\n-x\n+y\n+\n"
    );
    // A single occurrence is fine with replace_all; none is still an error.
    edit(root, "f.rs", "let a", "let z", true).expect("one");
    let err = err_text(edit(root, "f.rs", "absent", "x", true));
    assert!(err.contains("old_string was not found"), "{err}");
}

#[test]
fn argument_and_file_errors() {
    let dir = workspace();
    let root = dir.path();
    write(root, "f.txt", "a\n");
    let err = err_text(edit(root, "f.txt", "", "x", false));
    assert!(err.starts_with("f.txt: old_string is empty."), "{err}");
    assert!(err.contains("use write_file"), "{err}");
    let err = err_text(edit(root, "f.txt", "a", "a", false));
    assert_eq!(
        err,
        "f.txt: old_string and new_string are identical, so there is nothing to change"
    );
    let err = err_text(edit(root, " ", "a", "b", false));
    assert!(err.starts_with("edit_file: the path is empty"), "{err}");
    let err = err_text(edit(root, "nope.txt", "a", "b", false));
    assert_eq!(
        err,
        "nope.txt: cannot edit a file that does not exist (use write_file to create it; check the path)"
    );
    fs::create_dir(root.join("d")).expect("mkdir");
    let err = err_text(edit(root, "d", "a", "b", false));
    assert!(
        err.contains("d: is not a regular file (it is a directory)"),
        "{err}"
    );
    fs::write(root.join("bin.dat"), [0xff, 0xfe, b'a']).expect("write");
    let err = err_text(edit(root, "bin.dat", "a", "b", false));
    assert!(
        err.contains("bin.dat: the file is not valid UTF-8 text"),
        "{err}"
    );
}

#[test]
fn crlf_files_are_edited_with_bare_lf_strings_and_stay_crlf() {
    let dir = workspace();
    let root = dir.path();
    write(root, "w.txt", "one\r\ntwo\r\nthree\r\nfour\r\n");
    let outcome = edit(root, "w.txt", "two\nthree\n", "2\n3\n3b\n", false).expect("edit");
    assert_eq!(read(root, "w.txt"), "one\r\n2\r\n3\r\n3b\r\nfour\r\n");
    assert_eq!(
        outcome.changes[0].unified_diff,
        "--- a/w.txt\n+++ b/w.txt\n@@ -1,4 +1,5 @@\n one\n-two\n-three\n+2\n+3\n+3b\n four\n"
    );
    // Within a line, and ending just before a line break.
    edit(root, "w.txt", "3\n3b", "3\nthree-b", false).expect("edit");
    assert_eq!(read(root, "w.txt"), "one\r\n2\r\n3\r\nthree-b\r\nfour\r\n");
    // The exact CRLF form works too.
    edit(root, "w.txt", "one\r\n2", "1", false).expect("crlf strings");
    assert_eq!(read(root, "w.txt"), "1\r\n3\r\nthree-b\r\nfour\r\n");

    // A string starting with a line break takes the whole `\r\n`.
    edit(root, "w.txt", "\nfour", "\nFOUR", false).expect("leading newline");
    assert_eq!(read(root, "w.txt"), "1\r\n3\r\nthree-b\r\nFOUR\r\n");

    // A mixed file: lines not touched keep their own endings.
    write(root, "mixed.txt", "a\r\nb\nc\r\nd\r\n");
    edit(root, "mixed.txt", "b\nc\n", "B\nC\n", false).expect("mixed");
    assert_eq!(read(root, "mixed.txt"), "a\r\nB\r\nC\r\nd\r\n");

    // CRLF strings in an LF file are written as LF.
    write(root, "lf.txt", "x\ny\nz\n");
    edit(root, "lf.txt", "x\r\ny\r\n", "X\r\nY\r\n", false).expect("lf");
    assert_eq!(read(root, "lf.txt"), "X\nY\nz\n");
}

#[test]
fn trailing_whitespace_is_forgiven_only_when_unambiguous() {
    let dir = workspace();
    let root = dir.path();
    write(root, "f.py", "def f():   \n    return 1\t\n\nx = 2\n");
    edit(
        root,
        "f.py",
        "def f():\n    return 1\n",
        "def f():\n    return 10\n",
        false,
    )
    .expect("fallback");
    assert_eq!(read(root, "f.py"), "def f():\n    return 10\n\nx = 2\n");
    // Without a final line break, the last line's own line break is kept.
    edit(root, "f.py", "x = 2  ", "x = 3", false).expect("fallback, no newline");
    assert_eq!(read(root, "f.py"), "def f():\n    return 10\n\nx = 3\n");

    write(root, "g.txt", "a \nb\na\t\nb\n");
    let err = err_text(edit(root, "g.txt", "a\nb", "c", false));
    assert_eq!(
        err,
        "g.txt: old_string occurs 2 times (ignoring trailing whitespace) (on lines 1, 3); include more of the surrounding lines in old_string so that it matches exactly one place, or set replace_all to true to change every occurrence"
    );
    edit(root, "g.txt", "a\nb", "c", true).expect("replace all");
    assert_eq!(read(root, "g.txt"), "c\nc\n");
}

#[cfg(unix)]
#[test]
fn edit_and_write_keep_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = workspace();
    let root = dir.path();
    write(root, "run.sh", "echo a\n");
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o751)).expect("chmod");
    let mode = || {
        fs::metadata(root.join("run.sh"))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777
    };
    edit(root, "run.sh", "echo a", "echo b", false).expect("edit");
    assert_eq!(mode(), 0o751);
    write_in(root, "run.sh", "echo c\n").expect("write");
    assert_eq!(mode(), 0o751);
    assert_eq!(read(root, "run.sh"), "echo c\n");
}

#[test]
fn paths_outside_writable_roots_are_refused() {
    let dir = workspace();
    let outside = workspace();
    let root = dir.path().join("repo");
    fs::create_dir_all(&root).expect("mkdir");
    write(outside.path(), "secret.txt", "s\n");

    let err = err_text(write_in(&root, "../escape.txt", "x"));
    assert!(
        err.contains("../escape.txt: refusing to write outside the writable roots"),
        "{err}"
    );
    assert!(!dir.path().join("escape.txt").exists());
    let secret = outside.path().join("secret.txt");
    let err = err_text(edit(&root, &secret.display().to_string(), "s", "t", false));
    assert!(err.contains("refusing to write outside"), "{err}");
    let err = err_text(write_file("a.txt", "x", &root, &[]));
    assert!(err.contains("writing is not allowed"), "{err}");

    #[cfg(unix)]
    {
        // Through a symlinked directory, and through a symlinked file.
        std::os::unix::fs::symlink(outside.path(), root.join("link")).expect("symlink");
        std::os::unix::fs::symlink(&secret, root.join("secret-link")).expect("symlink");
        for path in ["link/secret.txt", "secret-link"] {
            let err = err_text(edit(&root, path, "s", "t", false));
            assert!(
                err.contains(&format!("{path}: refusing to write outside")),
                "{err}"
            );
            let err = err_text(write_in(&root, path, "t\n"));
            assert!(err.contains("refusing to write outside"), "{err}");
        }
        let err = err_text(write_in(&root, "link/new.txt", "x"));
        assert!(err.contains("refusing to write outside"), "{err}");
        assert_eq!(read(outside.path(), "secret.txt"), "s\n");
        assert!(!outside.path().join("new.txt").exists());

        // A symlink inside the root is edited through: the target changes, the link stays.
        write(&root, "real.txt", "r\n");
        std::os::unix::fs::symlink("real.txt", root.join("alias.txt")).expect("symlink");
        edit(&root, "alias.txt", "r", "R", false).expect("through link");
        assert_eq!(read(&root, "real.txt"), "R\n");
        assert!(root.join("alias.txt").is_symlink());
    }
}

#[test]
fn failed_edits_leave_no_trace() {
    let dir = workspace();
    let root = dir.path();
    write(root, "f.txt", "a\nb\n");
    let before = listing(root);
    for result in [
        edit(root, "f.txt", "zzz", "y", false),
        edit(root, "f.txt", "\n", "y", false),
        edit(root, "sub/none.txt", "a", "b", false),
    ] {
        assert!(result.is_err());
    }
    assert_eq!(listing(root), before);
    edit(root, "f.txt", "a", "A", false).expect("edit");
    assert_eq!(listing(root), before, "no temp files left after success");
}

// ----------------------------------------------------------------------------- write_file

#[test]
fn write_creates_files_and_parent_directories() {
    let dir = workspace();
    let root = dir.path();
    let outcome = write_in(root, "a/b/new.txt", "one\ntwo").expect("write");
    assert_eq!(read(root, "a/b/new.txt"), "one\ntwo");
    assert_eq!(
        outcome.summary(),
        "Success. Updated the following files:\nA a/b/new.txt\n"
    );
    assert_eq!(outcome.changes[0].kind, PatchChangeKind::Add);
    assert_eq!(
        outcome.changes[0].unified_diff,
        "--- /dev/null\n+++ b/a/b/new.txt\n@@ -0,0 +1,2 @@\n+one\n+two\n\\ No newline at end of file\n"
    );
    // Empty content creates an empty file.
    write_in(root, "empty.txt", "").expect("empty");
    assert_eq!(read(root, "empty.txt"), "");
}

#[test]
fn write_over_an_existing_file_reports_a_minimal_diff() {
    let dir = workspace();
    let root = dir.path();
    write(root, "f.txt", &numbered(40));
    let mut lines: Vec<String> = (1..=40).map(|i| format!("line {i}")).collect();
    lines[4] = "line five".into();
    lines.remove(19);
    lines.insert(30, "inserted".into());
    let content = lines.join("\n") + "\n";
    let outcome = write_in(root, "f.txt", &content).expect("write");
    assert_eq!(read(root, "f.txt"), content);
    assert_eq!(
        outcome.summary(),
        "Success. Updated the following files:\nM f.txt\n"
    );
    assert_eq!(outcome.changes[0].kind, PatchChangeKind::Update);
    assert_eq!(
        outcome.changes[0].unified_diff,
        "--- a/f.txt\n+++ b/f.txt\n\
         @@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n line 6\n line 7\n line 8\n\
         @@ -17,7 +17,6 @@\n line 17\n line 18\n line 19\n-line 20\n line 21\n line 22\n line 23\n\
         @@ -29,6 +28,7 @@\n line 29\n line 30\n line 31\n+inserted\n line 32\n line 33\n line 34\n"
    );
}

#[test]
fn write_keeps_crlf_and_handles_odd_targets() {
    let dir = workspace();
    let root = dir.path();
    write(root, "w.txt", "a\r\nb\r\n");
    let outcome = write_in(root, "w.txt", "a\nB\nc\n").expect("write");
    assert_eq!(read(root, "w.txt"), "a\r\nB\r\nc\r\n");
    assert_eq!(
        outcome.changes[0].unified_diff,
        "--- a/w.txt\n+++ b/w.txt\n@@ -1,2 +1,3 @@\n a\n-b\n+B\n+c\n"
    );
    // Content with its own CRLF is written as given.
    write_in(root, "w.txt", "x\r\ny\n").expect("as given");
    assert_eq!(read(root, "w.txt"), "x\r\ny\n");

    // Directories are refused; non-UTF-8 files are overwritten.
    fs::create_dir(root.join("d")).expect("mkdir");
    let err = err_text(write_in(root, "d", "x"));
    assert!(
        err.contains("d: is not a regular file (it is a directory)"),
        "{err}"
    );
    fs::write(root.join("bin.dat"), [0xff, 0x00]).expect("write");
    let outcome = write_in(root, "bin.dat", "text\n").expect("overwrite binary");
    assert_eq!(read(root, "bin.dat"), "text\n");
    assert_eq!(
        outcome.changes[0].unified_diff,
        "Binary files a/bin.dat and b/bin.dat differ\n"
    );
    let err = err_text(write_in(root, "", "x"));
    assert!(err.starts_with("write_file: the path is empty"), "{err}");
    let err = err_text(write_in(root, "newdir/", "x"));
    assert_eq!(
        err,
        "newdir/: the path ends with a separator, so it names a directory; write_file needs the path of a file"
    );
    assert!(!root.join("newdir").exists());
}

#[test]
fn writing_the_same_content_touches_nothing() {
    let dir = workspace();
    let root = dir.path();
    write(root, "f.txt", "same\n");
    let before = fs::metadata(root.join("f.txt"))
        .and_then(|m| m.modified())
        .expect("mtime");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let outcome = write_in(root, "f.txt", "same\n").expect("write");
    assert_eq!(outcome.changes[0].unified_diff, "");
    let after = fs::metadata(root.join("f.txt"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(before, after);
}
