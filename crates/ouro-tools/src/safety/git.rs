//! Judging `git` commands: which subcommands only read, and which lose work for good.

use super::analyze::{Analyzer, Ctx, Outcome, Output, Verdict, Word};
use super::paths::Zone;
use super::Decision;

/// `git -c KEY=…` keys that cannot make git run anything.
fn harmless_config(key_value: &str) -> bool {
    let key = key_value
        .split('=')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    key.starts_with("color.")
        || matches!(
            key.as_str(),
            "core.quotepath"
                | "log.showsignature"
                | "diff.noprefix"
                | "core.abbrev"
                | "advice.detachedhead"
        )
}

/// Pathspecs that mean the whole working tree.
fn is_whole_tree(text: &str) -> bool {
    matches!(
        text,
        "." | "./" | "*" | ":/" | ":/*" | ":/." | ":(top)" | ":(top)." | "-A" | "--all"
    )
}

/// Subcommands that only read, whatever their (non-output) options.
const READERS: &[&str] = &[
    "status",
    "log",
    "diff",
    "show",
    "blame",
    "annotate",
    "rev-parse",
    "rev-list",
    "ls-files",
    "ls-tree",
    "ls-remote",
    "cat-file",
    "describe",
    "shortlog",
    "grep",
    "merge-base",
    "name-rev",
    "for-each-ref",
    "show-ref",
    "show-branch",
    "count-objects",
    "var",
    "version",
    "help",
    "check-ignore",
    "check-attr",
    "check-ref-format",
    "whatchanged",
    "range-diff",
    "diff-tree",
    "diff-files",
    "diff-index",
    "cherry",
    "verify-commit",
    "verify-tag",
    "fsck",
];

impl Analyzer<'_> {
    pub(super) fn git(&mut self, args: &[Word], _ctx: &Ctx, display: &str) -> Outcome {
        let t: Vec<String> = args.iter().map(Word::text).collect();
        let allow = |why: &str| Outcome {
            verdict: Verdict::allow(display, why),
            output: Output::default(),
        };
        let decided = |decision: Decision, why: String| Outcome {
            verdict: Verdict::new(decision, display, why),
            output: Output::default(),
        };
        let mut floor: Option<String> = None;
        let mut i = 0;
        while let Some(arg) = t.get(i) {
            match arg.as_str() {
                "-C" | "--git-dir" | "--work-tree" | "--namespace" | "--super-prefix" => i += 2,
                "-c" => {
                    let value = t.get(i + 1).map_or("", String::as_str);
                    if !harmless_config(value) {
                        floor = Some(format!("`git -c {value}` can change what git runs"));
                    }
                    i += 2;
                }
                "--no-pager"
                | "-P"
                | "--paginate"
                | "-p"
                | "--bare"
                | "--no-replace-objects"
                | "--literal-pathspecs"
                | "--glob-pathspecs"
                | "--noglob-pathspecs"
                | "--icase-pathspecs"
                | "--no-optional-locks"
                | "--no-lazy-fetch"
                | "--no-advice"
                | "--exec-path" => i += 1,
                "--version" | "-v" | "--help" | "-h" | "--html-path" | "--man-path"
                | "--info-path" => return allow("only prints"),
                a if a.starts_with("--git-dir=")
                    || a.starts_with("--work-tree=")
                    || a.starts_with("--namespace=") =>
                {
                    i += 1
                }
                a if a.starts_with("--exec-path=") || a.starts_with("--config-env") => {
                    floor = Some(format!("`git {a}` can change what git runs"));
                    i += 1;
                }
                a if a.starts_with('-') => {
                    floor = Some(format!("unknown git option `{a}`"));
                    i += 1;
                }
                _ => break,
            }
        }
        let Some(sub) = t.get(i).cloned() else {
            return allow("only prints usage");
        };
        let rest = &t[i + 1..];
        let rest_words = &args[i + 1..];
        let (decision, why) = self.git_subcommand(&sub, rest, rest_words);
        match floor {
            Some(floor) if decision < Decision::Prompt => decided(Decision::Prompt, floor),
            _ => decided(decision, why),
        }
    }

    fn git_subcommand(&self, sub: &str, rest: &[String], words: &[Word]) -> (Decision, String) {
        use Decision::{Allow, Forbid, Prompt};
        let has = |flags: &[&str]| {
            rest.iter().any(|a| {
                flags
                    .iter()
                    .any(|f| a == f || (f.starts_with("--") && a.starts_with(&format!("{f}="))))
            })
        };
        // Letters of short-option groups (`-fdx`).
        let short = |letter: char| {
            rest.iter().any(|a| {
                a.len() > 1
                    && a.starts_with('-')
                    && !a.starts_with("--")
                    && a[1..].chars().all(|c| c.is_ascii_alphabetic())
                    && a[1..].contains(letter)
            })
        };
        let operands: Vec<&Word> = words.iter().filter(|w| !w.starts_with_dash()).collect();
        let whole_tree = |w: &&Word| {
            let text = w.text();
            is_whole_tree(&text)
                || matches!(
                    self.resolve(w).zone,
                    Zone::Workspace | Zone::AboveWorkspace | Zone::Root | Zone::Home
                )
        };
        let after_dashdash: Vec<&Word> = match rest.iter().position(|a| a == "--") {
            Some(p) => words[p + 1..].iter().collect(),
            None => Vec::new(),
        };
        let ok = |why: &str| (Allow, why.to_string());
        match sub {
            s if READERS.contains(&s) => {
                if has(&["--output"]) {
                    return (Prompt, "writes its output to a file".into());
                }
                if s == "grep" && (has(&["--open-files-in-pager"]) || short('O')) {
                    return (Prompt, "opens a pager".into());
                }
                if s == "fsck" && has(&["--lost-found"]) {
                    return (Prompt, "writes lost objects".into());
                }
                ok("only reads the repository")
            }
            "branch" => {
                if short('d')
                    || short('D')
                    || short('m')
                    || short('M')
                    || short('c')
                    || short('C')
                    || short('f')
                    || short('u')
                    || short('t')
                    || has(&[
                        "--delete",
                        "--move",
                        "--copy",
                        "--force",
                        "--set-upstream-to",
                        "--unset-upstream",
                        "--edit-description",
                        "--track",
                        "--no-track",
                    ])
                {
                    return (Prompt, "changes branches".into());
                }
                let listing = rest.is_empty()
                    || short('a')
                    || short('r')
                    || short('l')
                    || short('v')
                    || has(&[
                        "--list",
                        "--all",
                        "--remotes",
                        "--show-current",
                        "--contains",
                        "--no-contains",
                        "--merged",
                        "--no-merged",
                        "--points-at",
                        "--verbose",
                        "--format",
                        "--sort",
                    ]);
                if listing || operands.is_empty() {
                    ok("only lists branches")
                } else {
                    (Prompt, "creates a branch".into())
                }
            }
            "tag" => {
                if short('d')
                    || short('a')
                    || short('s')
                    || short('f')
                    || short('m')
                    || short('F')
                    || has(&[
                        "--delete",
                        "--annotate",
                        "--sign",
                        "--force",
                        "--message",
                        "--file",
                    ])
                {
                    return (Prompt, "changes tags".into());
                }
                if operands.is_empty()
                    || short('l')
                    || short('n')
                    || short('v')
                    || has(&[
                        "--list",
                        "--contains",
                        "--points-at",
                        "--merged",
                        "--no-merged",
                        "--sort",
                        "--format",
                        "--verify",
                    ])
                {
                    ok("only lists tags")
                } else {
                    (Prompt, "creates a tag".into())
                }
            }
            "remote" => match rest
                .iter()
                .find(|a| !a.starts_with('-'))
                .map(String::as_str)
            {
                None | Some("show" | "get-url") => ok("only lists remotes"),
                _ => (Prompt, "changes remotes".into()),
            },
            "config" => {
                let writes = has(&[
                    "--unset",
                    "--unset-all",
                    "--add",
                    "--replace-all",
                    "--edit",
                    "--rename-section",
                    "--remove-section",
                ]) || short('e')
                    || rest.first().is_some_and(|a| {
                        matches!(
                            a.as_str(),
                            "set" | "unset" | "edit" | "rename-section" | "remove-section"
                        )
                    });
                let reads = has(&[
                    "--get",
                    "--get-all",
                    "--get-regexp",
                    "--get-urlmatch",
                    "--list",
                    "--get-color",
                    "--get-colorbool",
                ]) || short('l')
                    || rest
                        .first()
                        .is_some_and(|a| matches!(a.as_str(), "get" | "list"));
                // `--file F` / `-f F`: F is not a key or value.
                let file_value = rest
                    .iter()
                    .filter(|a| matches!(a.as_str(), "--file" | "-f" | "--blob"))
                    .count();
                let positional = operands.len().saturating_sub(file_value);
                if !writes && (reads || positional <= 1) {
                    ok("only reads configuration")
                } else {
                    (Prompt, "changes configuration".into())
                }
            }
            "stash" => match rest.first().map(String::as_str) {
                Some("list" | "show") => ok("only lists stashes"),
                Some("clear") => (Forbid, "deletes every stash for good".into()),
                _ => (Prompt, "changes stashes".into()),
            },
            "worktree" if rest.first().is_some_and(|a| a == "list") => ok("only lists worktrees"),
            "reflog" => match rest.first().map(String::as_str) {
                None | Some("show") => ok("only reads the reflog"),
                Some(a) if a.starts_with('-') => ok("only reads the reflog"),
                _ => (Prompt, "changes the reflog".into()),
            },
            "notes"
                if rest
                    .first()
                    .is_some_and(|a| matches!(a.as_str(), "list" | "show")) =>
            {
                ok("only reads notes")
            }
            "submodule" if rest.first().is_some_and(|a| a == "status") => ok("only reads"),
            "push" => {
                if short('f')
                    || has(&[
                        "--force",
                        "--force-with-lease",
                        "--force-if-includes",
                        "--mirror",
                    ])
                {
                    return (
                        Forbid,
                        "force-pushes, overwriting the remote's history".into(),
                    );
                }
                if operands.iter().any(|w| w.text().starts_with('+')) {
                    return (
                        Forbid,
                        "force-pushes a `+` refspec, overwriting the remote's history".into(),
                    );
                }
                (Prompt, "pushes to a remote".into())
            }
            "reset" => {
                if has(&["--hard"]) {
                    (Forbid, "`reset --hard` discards uncommitted work".into())
                } else {
                    (Prompt, "moves the branch or the index".into())
                }
            }
            "clean" => {
                if short('n') || has(&["--dry-run"]) {
                    ok("only lists what it would delete")
                } else if short('f') || has(&["--force"]) {
                    (Forbid, "deletes untracked files for good".into())
                } else {
                    (Prompt, "deletes untracked files".into())
                }
            }
            "checkout" => {
                if short('f') || has(&["--force", "--discard-changes"]) {
                    return (Forbid, "discards uncommitted changes".into());
                }
                let paths: Vec<&Word> = if after_dashdash.is_empty() {
                    operands.clone()
                } else {
                    after_dashdash.clone()
                };
                if paths.iter().any(whole_tree) {
                    return (Forbid, "discards every uncommitted change".into());
                }
                if !after_dashdash.is_empty() {
                    return (Prompt, "discards uncommitted changes in these files".into());
                }
                (Prompt, "switches branches or restores files".into())
            }
            "restore" => {
                let staged_only =
                    (short('S') || has(&["--staged"])) && !(short('W') || has(&["--worktree"]));
                if staged_only {
                    return (Prompt, "unstages files".into());
                }
                let mut paths: Vec<&Word> = Vec::new();
                let mut skip = false;
                for (w, a) in words.iter().zip(rest) {
                    if skip {
                        skip = false;
                        continue;
                    }
                    if a == "-s" || a == "--source" {
                        skip = true;
                        continue;
                    }
                    if !w.starts_with_dash() {
                        paths.push(w);
                    }
                }
                if paths.iter().any(whole_tree) {
                    (Forbid, "discards every uncommitted change".into())
                } else {
                    (Prompt, "discards uncommitted changes in these files".into())
                }
            }
            "switch" => {
                if short('f') || has(&["--force", "--discard-changes"]) {
                    (Forbid, "discards uncommitted changes".into())
                } else {
                    (Prompt, "switches branches".into())
                }
            }
            "rm" => {
                if (short('f') || has(&["--force"])) && operands.iter().any(whole_tree) {
                    (
                        Forbid,
                        "deletes every file, uncommitted changes included".into(),
                    )
                } else {
                    (Prompt, "deletes files".into())
                }
            }
            _ => (
                Prompt,
                format!("`git {sub}` changes the repository or is not known"),
            ),
        }
    }
}
