//! `list_dir`: an indented tree of a directory, honouring ignore files, capped breadth-first
//! so that one huge subdirectory cannot hide its siblings.

use std::fmt::Write as _;
use std::path::Path;

use super::sensitive::Sensitive;
use super::{io_error, resolve_arg, walker, ListDirArgs};

pub(crate) const DEFAULT_DEPTH: usize = 2;
pub(crate) const MAX_ENTRIES: usize = 500;
/// Entries looked at in all; past this the count of what was left out is a lower bound.
const SCAN_LIMIT: usize = 200_000;

struct Entry {
    name: String,
    depth: usize,
    is_dir: bool,
    link: Option<String>,
    parent: Option<usize>,
    shown: bool,
    /// Entries below this one that were left out (when it is shown).
    hidden_below: usize,
}

pub(crate) fn list_dir(
    args: &ListDirArgs,
    cwd: &Path,
    guard: &Sensitive,
) -> Result<String, String> {
    list_dir_capped(args, cwd, guard, MAX_ENTRIES)
}

fn list_dir_capped(
    args: &ListDirArgs,
    cwd: &Path,
    guard: &Sensitive,
    cap: usize,
) -> Result<String, String> {
    let shown = args.path.as_deref().unwrap_or(".");
    let path = resolve_arg(shown, cwd, guard)?;
    let root = guard.check(&path, shown)?;
    let meta = std::fs::metadata(&root).map_err(|e| {
        io_error(
            &e,
            shown,
            &path,
            "Check the spelling, or list a parent directory first.",
        )
    })?;
    if !meta.is_dir() {
        return Err(format!(
            "`{shown}` is a file, not a directory. Use read_file to read it."
        ));
    }
    let depth = args.depth.unwrap_or(DEFAULT_DEPTH).max(1);

    let mut builder = walker(&root, guard);
    builder
        .max_depth(Some(depth))
        .sort_by_file_name(|a, b| a.cmp(b));
    let mut entries: Vec<Entry> = Vec::new();
    // Index of the last directory seen at each depth, for parent links.
    let mut open_dirs: Vec<usize> = Vec::new();
    let mut errors = 0usize;
    let mut scan_stopped = false;
    for result in builder.build() {
        let entry = match result {
            Ok(entry) => entry,
            Err(_) => {
                errors += 1;
                continue;
            }
        };
        let level = entry.depth();
        if level == 0 {
            continue;
        }
        if entries.len() >= SCAN_LIMIT {
            scan_stopped = true;
            break;
        }
        let file_type = entry.file_type();
        let is_link = file_type.is_some_and(|t| t.is_symlink());
        let is_dir = file_type.is_some_and(|t| t.is_dir());
        let link = is_link.then(|| {
            std::fs::read_link(entry.path())
                .map(|target| target.display().to_string())
                .unwrap_or_else(|_| "?".into())
        });
        open_dirs.truncate(level - 1);
        let parent = level.checked_sub(2).and_then(|i| open_dirs.get(i).copied());
        let index = entries.len();
        entries.push(Entry {
            name: entry.file_name().to_string_lossy().into_owned(),
            depth: level,
            is_dir,
            link,
            parent,
            shown: true,
            hidden_below: 0,
        });
        if is_dir {
            open_dirs.push(index);
        }
    }

    // Breadth-first cap: whole levels first, so every shown entry's parent is shown.
    let mut hidden_at_top = 0usize;
    let total = entries.len();
    if total > cap {
        let mut order: Vec<usize> = (0..total).collect();
        order.sort_by_key(|&i| (entries[i].depth, i));
        for &i in &order[cap..] {
            entries[i].shown = false;
        }
        for i in 0..total {
            if entries[i].shown {
                continue;
            }
            let mut up = entries[i].parent;
            while let Some(p) = up {
                if entries[p].shown {
                    entries[p].hidden_below += 1;
                    break;
                }
                up = entries[p].parent;
            }
            if up.is_none() {
                hidden_at_top += 1;
            }
        }
    }

    let mut out = format!("{}/\n", root.display().to_string().trim_end_matches('/'));
    for entry in entries.iter().filter(|e| e.shown) {
        let indent = "  ".repeat(entry.depth);
        let _ = write!(out, "{indent}{}", entry.name);
        if let Some(target) = &entry.link {
            let _ = write!(out, " -> {target}");
        } else if entry.is_dir {
            out.push('/');
        }
        if entry.hidden_below > 0 {
            let _ = write!(out, "  [{} more entries not shown]", entry.hidden_below);
        }
        out.push('\n');
    }
    if total == 0 {
        let empty = std::fs::read_dir(&root).map_or(true, |mut d| d.next().is_none());
        out.push_str(if empty {
            "  (empty directory)\n"
        } else {
            "  (nothing to show: every entry is ignored by .gitignore/.ignore rules or is a \
             version-control directory)\n"
        });
    }
    if hidden_at_top > 0 {
        let _ = writeln!(out, "  [{hidden_at_top} more entries not shown]");
    }
    if total > cap {
        let left_out = total - cap;
        let at_least = if scan_stopped { "at least " } else { "" };
        let _ = writeln!(
            out,
            "({cap} entries shown; {at_least}{left_out} more left out. List a subdirectory, or \
             use a smaller depth, to see the rest.)"
        );
    } else if scan_stopped {
        let _ = writeln!(out, "(The listing stopped after {SCAN_LIMIT} entries.)");
    }
    if errors > 0 {
        let _ = writeln!(out, "({errors} entries could not be read.)");
    }
    out.pop();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::search::fixture::{fixture, Fixture};

    impl Fixture {
        fn touch(&self, rel: &str) {
            let path = self.work().join(rel);
            if rel.ends_with('/') {
                std::fs::create_dir_all(path).expect("mkdir");
            } else {
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                std::fs::write(path, rel).expect("write");
            }
        }
        fn list(&self, path: Option<&str>, depth: Option<usize>) -> Result<String, String> {
            self.list_capped(path, depth, MAX_ENTRIES)
        }
        fn list_capped(
            &self,
            path: Option<&str>,
            depth: Option<usize>,
            cap: usize,
        ) -> Result<String, String> {
            let args = ListDirArgs {
                path: path.map(Into::into),
                depth,
            };
            list_dir_capped(&args, &self.work(), &self.guard, cap)
        }
        /// The listing without its header line.
        fn body(&self, path: Option<&str>, depth: Option<usize>) -> String {
            let out = self.list(path, depth).expect("list");
            out.split_once('\n')
                .map(|(_, body)| body.to_string())
                .unwrap_or_default()
        }
    }

    #[test]
    fn tree_is_sorted_indented_and_two_levels_deep_by_default() {
        let f = fixture();
        for rel in [
            "b.txt",
            "a/z.rs",
            "a/m/deep.rs",
            "a/m/deeper/x",
            "c/",
            ".github/ci.yml",
        ] {
            f.touch(rel);
        }
        let out = f.list(None, None).expect("list");
        let header = format!("{}/", f.work().display());
        assert_eq!(
            out,
            format!("{header}\n  .github/\n    ci.yml\n  a/\n    m/\n    z.rs\n  b.txt\n  c/")
        );
        assert_eq!(f.body(None, Some(1)), "  .github/\n  a/\n  b.txt\n  c/");
        assert_eq!(
            f.body(Some("a"), Some(5)),
            "  m/\n    deep.rs\n    deeper/\n      x\n  z.rs"
        );
        assert_eq!(
            f.body(Some("a"), Some(0)),
            "  m/\n  z.rs",
            "depth 0 acts as 1"
        );
    }

    #[test]
    fn ignore_files_are_respected_and_dot_git_hidden() {
        let f = fixture();
        for rel in [
            "src/main.rs",
            "target/debug/app",
            "notes.log",
            "secret.env",
            "skipme/x",
            ".env.example",
        ] {
            f.touch(rel);
        }
        std::fs::write(f.work().join(".gitignore"), "target/\n*.log\n").expect("write");
        std::fs::write(f.work().join(".ignore"), "skipme/\n").expect("write");
        std::fs::write(f.work().join(".git/info/exclude"), "secret.env\n").expect("write");
        let body = f.body(None, None);
        assert_eq!(
            body,
            "  .env.example\n  .gitignore\n  .ignore\n  src/\n    main.rs"
        );
    }

    #[test]
    fn symlinks_are_shown_with_their_target_and_not_followed() {
        let f = fixture();
        f.touch("real/inner.txt");
        std::os::unix::fs::symlink(f.work().join("real"), f.work().join("link")).expect("ln");
        let body = f.body(None, None);
        assert!(
            body.contains(&format!("  link -> {}\n", f.work().join("real").display())),
            "{body}"
        );
        assert_eq!(body.matches("inner.txt").count(), 1, "{body}");
    }

    #[test]
    fn cap_is_breadth_first_and_counts_what_was_left_out() {
        let f = fixture();
        for i in 0..30 {
            f.touch(&format!("big/f{i:02}"));
        }
        f.touch("small/one");
        f.touch("zzz.txt");
        // 3 top-level entries + 31 below = 34 entries; keep 10.
        let out = f.list_capped(None, None, 10).expect("list");
        let body: Vec<&str> = out.lines().skip(1).collect();
        assert_eq!(body[0], "  big/  [23 more entries not shown]");
        let firsts: Vec<String> = (0..7).map(|i| format!("    f{i:02}")).collect();
        assert_eq!(body[1..8], firsts);
        assert_eq!(body[8], "  small/  [1 more entries not shown]");
        assert_eq!(body[9], "  zzz.txt");
        assert_eq!(
            body[10],
            "(10 entries shown; 24 more left out. List a subdirectory, or use a smaller depth, \
             to see the rest.)"
        );
        assert_eq!(body.len(), 11);
    }

    #[test]
    fn default_cap_is_500() {
        let f = fixture();
        for i in 0..520 {
            f.touch(&format!("f{i:03}"));
        }
        let out = f.list(None, Some(1)).expect("list");
        assert_eq!(out.lines().filter(|l| l.starts_with("  f")).count(), 500);
        assert!(out.contains("  [20 more entries not shown]"), "{out}");
        assert!(out.ends_with("(500 entries shown; 20 more left out. List a subdirectory, or use a smaller depth, to see the rest.)"));
    }

    #[test]
    fn empty_and_fully_ignored_directories_say_so() {
        let f = fixture();
        f.touch("empty/");
        assert_eq!(f.body(Some("empty"), None), "  (empty directory)");
        f.touch("ign/a.log");
        std::fs::write(f.work().join("ign/.ignore"), "*\n").expect("write");
        assert!(f.body(Some("ign"), None).contains("nothing to show"));
    }

    #[test]
    fn files_missing_paths_and_sensitive_dirs() {
        let f = fixture();
        f.touch("a.txt");
        let err = f.list(Some("a.txt"), None).expect_err("file");
        assert!(
            err.contains("is a file") && err.contains("read_file"),
            "{err}"
        );
        let err = f.list(Some("nope"), None).expect_err("missing");
        assert!(err.contains("`nope` does not exist"), "{err}");

        let home = f.root.join("home");
        std::fs::create_dir_all(home.join(".ssh")).expect("mkdir");
        std::fs::write(home.join(".ssh/id_rsa"), "k").expect("write");
        std::fs::create_dir_all(home.join("code")).expect("mkdir");
        let err = f.list(Some("~/.ssh"), None).expect_err("sensitive");
        assert!(err.contains("Refusing"), "{err}");
        let out = f.list(Some("~"), Some(3)).expect("list home");
        assert!(!out.contains(".ssh") && !out.contains("id_rsa"), "{out}");
        assert!(out.contains("code/"), "{out}");
        // The walk from above the home directory does not descend into it either.
        let out = f.list(Some(".."), Some(4)).expect("list root");
        assert!(!out.contains("id_rsa"), "{out}");
    }
}
