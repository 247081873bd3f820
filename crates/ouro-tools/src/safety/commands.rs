//! Judging one simple command: its program and arguments, and what it wraps.

use super::analyze::{
    dangerous_variable, decode_escapes, display_words, Analyzer, Ctx, Outcome, Output, Seg, Stdin,
    Verdict, Word,
};
use super::paths::{is_block_device, Zone};
use super::{sed, CommandTrace, Decision};

const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "yash", "posh", "fish", "csh", "tcsh",
];

const DOWNLOADERS: &[&str] = &[
    "curl",
    "wget",
    "fetch",
    "aria2c",
    "axel",
    "http",
    "https",
    "xh",
    "xhs",
    "lwp-download",
    "lwp-request",
    "GET",
    "nc",
    "ncat",
    "netcat",
    "socat",
    "ftp",
    "tftp",
];

/// Tools whose `--version` (or the like) only prints.
const VERSIONED_TOOLS: &[&str] = &[
    "cargo",
    "rustc",
    "rustup",
    "rustfmt",
    "clippy-driver",
    "python",
    "python3",
    "python2",
    "pip",
    "pip3",
    "node",
    "nodejs",
    "npm",
    "npx",
    "yarn",
    "pnpm",
    "bun",
    "deno",
    "go",
    "java",
    "javac",
    "gcc",
    "g++",
    "cc",
    "clang",
    "clang++",
    "make",
    "cmake",
    "ninja",
    "ruby",
    "perl",
    "php",
    "lua",
    "docker",
    "kubectl",
    "tsc",
    "uv",
    "poetry",
    "gradle",
    "mvn",
    "dotnet",
    "swift",
    "zig",
    "ghc",
    "stack",
    "elixir",
    "erl",
    "mix",
    "bash",
    "sh",
    "zsh",
    "git",
    "rg",
    "fd",
    "jq",
    "sqlite3",
    "psql",
    "gh",
];

fn is_interpreter(name: &str) -> bool {
    let versioned = |prefix: &str| {
        name.strip_prefix(prefix)
            .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
    };
    versioned("python")
        || versioned("pypy")
        || versioned("lua")
        || versioned("perl")
        || versioned("ruby")
        || versioned("php")
        || matches!(
            name,
            "node"
                | "nodejs"
                | "deno"
                | "bun"
                | "luajit"
                | "Rscript"
                | "tclsh"
                | "wish"
                | "osascript"
                | "irb"
                | "pwsh"
                | "powershell"
                | "julia"
                | "php-cgi"
        )
}

/// The letters that introduce inline code for an interpreter (`python -c`, `perl -e`, …).
fn code_flags(name: &str) -> (&'static str, &'static [&'static str]) {
    if name.starts_with("python") || name.starts_with("pypy") {
        ("c", &[])
    } else if name.starts_with("perl") {
        ("eE", &[])
    } else if name.starts_with("php") {
        ("r", &[])
    } else if matches!(name, "node" | "nodejs" | "bun" | "deno") {
        ("ep", &["--eval", "--print"])
    } else if matches!(name, "pwsh" | "powershell") {
        ("c", &["-Command", "-EncodedCommand", "-c", "-e"])
    } else {
        ("e", &[])
    }
}

/// The index of the first operand in `args`: options are skipped, including the value of
/// those listed (`value_short` letters, `value_long` names without `=`); `--` ends them.
fn operand_index(args: &[Word], value_short: &str, value_long: &[&str]) -> usize {
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let t = arg.text();
        if t == "--" {
            return i + 1;
        }
        if !arg.starts_with_dash() || t == "-" {
            return i;
        }
        if let Some(long) = t.strip_prefix("--") {
            i += if !long.contains('=') && value_long.contains(&t.as_str()) {
                2
            } else {
                1
            };
            continue;
        }
        let group: Vec<char> = t.chars().skip(1).collect();
        let mut takes_next = false;
        for (j, c) in group.iter().enumerate() {
            if value_short.contains(*c) {
                takes_next = j + 1 == group.len();
                break;
            }
        }
        i += if takes_next { 2 } else { 1 };
    }
    args.len()
}

/// Whether a short-option group (`-rf`) or its long form is present.
fn has_short(t: &[String], letter: char) -> bool {
    t.iter().any(|a| {
        a.len() > 1
            && a.starts_with('-')
            && !a.starts_with("--")
            && a[1..].chars().all(|c| c.is_ascii_alphabetic())
            && a[1..].contains(letter)
    })
}

fn has_any(t: &[String], flags: &[&str]) -> bool {
    t.iter().any(|a| {
        flags
            .iter()
            .any(|f| a == f || (f.starts_with("--") && a.starts_with(&format!("{f}="))))
    })
}

/// The same word with `prefix` removed from its start (`of=/dev/sda` → `/dev/sda`).
fn strip_word_prefix(word: &Word, prefix: &str) -> Word {
    let mut out = word.clone();
    if let Some(Seg::Lit { text, .. }) = out.segs.first_mut() {
        if let Some(rest) = text.strip_prefix(prefix) {
            *text = rest.to_string();
        }
    }
    if matches!(out.segs.first(), Some(Seg::Lit { text, .. }) if text.is_empty()) {
        out.segs.remove(0);
    }
    out
}

fn outcome(verdict: Verdict, output: Output) -> Outcome {
    Outcome { verdict, output }
}

impl Analyzer<'_> {
    /// Judges a simple command, then lets a matching rule decide.
    pub fn command(&mut self, words: Vec<Word>, ctx: &Ctx) -> Outcome {
        let display = display_words(&words);
        let argv: Vec<String> = words.iter().map(Word::text).collect();
        let slot = self.trace_slot();
        let classified = self.classify_command(&words, ctx, &display);
        let rule = self.rules.and_then(|rules| rules.check(&argv));
        let verdict = match &rule {
            None => classified.verdict.clone(),
            Some(m) => {
                if m.decision == Decision::Allow && classified.verdict.decision == Decision::Forbid
                {
                    Verdict::prompt(
                        &display,
                        format!(
                            "a rule ({}) allows it, but a rule cannot lift a forbid: {}",
                            m.location(),
                            classified.verdict.reason()
                        ),
                    )
                } else {
                    Verdict::new(
                        m.decision,
                        &display,
                        format!("{} (rule at {})", m.reason, m.location()),
                    )
                }
            }
        };
        self.fill_trace(
            slot,
            CommandTrace {
                argv,
                classifier: classified.verdict.assessment(),
                rule,
                decision: verdict.decision,
            },
        );
        Outcome {
            verdict,
            output: classified.output,
        }
    }

    /// The output of a command that passes its input (and its arguments) through.
    fn passthrough(ctx: &Ctx, args: &[Word]) -> Output {
        Output {
            taint: ctx
                .stdin
                .taint()
                .cloned()
                .or_else(|| args.iter().find_map(|a| a.taint.clone())),
            literal: None,
        }
    }

    fn classify_command(&mut self, words: &[Word], ctx: &Ctx, display: &str) -> Outcome {
        let Some((first, args)) = words.split_first() else {
            return outcome(Verdict::allow(display, "nothing to run"), Output::default());
        };
        let Some(name_text) = first.literal() else {
            if let Some(t) = &first.taint {
                let verdict = Verdict::forbid(display, format!("runs a command named by {t}"));
                return outcome(verdict, Self::passthrough(ctx, args));
            }
            let computed = Verdict::prompt(display, "the command name is only known when it runs");
            // `$(printf 'rm -rf /')`, `cmd=rm; $cmd`: when the value is known, judge what it
            // runs too — but never allow a computed name.
            let expanded = self.expand(first);
            let known = expanded
                .segs
                .iter()
                .all(|s| matches!(s, Seg::Lit { .. } | Seg::Dyn(_, Some(_))));
            if known {
                let mut words: Vec<Word> = expanded
                    .code_text()
                    .split_whitespace()
                    .map(Word::plain)
                    .collect();
                if !words.is_empty() {
                    words.extend(args.iter().cloned());
                    let inner = self.command(words, ctx);
                    return outcome(inner.verdict.max(computed), inner.output);
                }
            }
            return outcome(computed, Self::passthrough(ctx, args));
        };
        if name_text.contains('/') {
            if let Some(t) = self.downloaded_by(first) {
                return outcome(
                    Verdict::forbid(display, format!("runs {name_text}, which {t} wrote")),
                    Output::default(),
                );
            }
        }
        let name = name_text.rsplit('/').next().unwrap_or("").to_string();
        if name.is_empty() {
            return outcome(
                Verdict::prompt(display, "runs a directory"),
                Output::default(),
            );
        }
        self.program(&name, args, ctx, display)
    }

    fn program(&mut self, name: &str, args: &[Word], ctx: &Ctx, display: &str) -> Outcome {
        let t: Vec<String> = args.iter().map(Word::text).collect();
        // Builtins that set variables in ways not followed: forget what was known.
        match name {
            "read" | "mapfile" | "readarray" | "getopts" | "printf" | "let" | "declare"
            | "typeset" | "local" | "export" | "readonly" => {
                for arg in &t {
                    let var = arg.split(['=', '[']).next().unwrap_or("");
                    self.vars.remove(var);
                }
            }
            "eval" | "source" | "." => self.vars.clear(),
            _ => {}
        }
        let prompt =
            |why: &str| outcome(Verdict::prompt(display, why), Self::passthrough(ctx, args));
        let forbid = |why: String| outcome(Verdict::forbid(display, why), Output::default());
        if SHELLS.contains(&name) {
            return self.shell(name, args, ctx, display);
        }
        if is_interpreter(name) {
            return self.interpreter(name, args, ctx, display);
        }
        if DOWNLOADERS.contains(&name) {
            return self.downloader(name, args, display);
        }
        if name.starts_with("mkfs") {
            return forbid(format!("`{name}` formats a file system, erasing it"));
        }
        match name {
            "eval" => self.eval(args, display),
            "source" | "." => self.source(name, args, ctx, display),
            "trap" => match args.first().and_then(Word::literal) {
                Some(code) if !code.starts_with('-') && args.len() > 1 => {
                    let (inner, _) = self.script(&code);
                    outcome(
                        inner.max(Verdict::prompt(display, "sets a trap that runs shell code")),
                        Output::default(),
                    )
                }
                _ if args.is_empty() || t.iter().all(|a| a.starts_with('-')) => outcome(
                    Verdict::allow(display, "only lists traps"),
                    Output::default(),
                ),
                _ => prompt("sets a trap that runs shell code"),
            },
            "alias" => {
                let mut verdict = Verdict::allow(display, "only lists aliases");
                for arg in &t {
                    if let Some((_, value)) = arg.split_once('=') {
                        let (inner, _) = self.script(value);
                        verdict = verdict
                            .max(inner)
                            .max(Verdict::prompt(display, "defines an alias"));
                    }
                }
                outcome(verdict, Output::default())
            }
            "sudo" | "doas" | "run0" | "pkexec" => {
                if has_any(&t, &["-e", "--edit"]) {
                    return prompt("edits files as another user");
                }
                let at = operand_index(
                    args,
                    "ugpChrtTUD",
                    &[
                        "--user",
                        "--group",
                        "--prompt",
                        "--close-from",
                        "--host",
                        "--role",
                        "--type",
                        "--command-timeout",
                        "--other-user",
                        "--chdir",
                    ],
                );
                let floor = format!("`{name}` runs it as another user");
                self.wrapped(&args[at..], ctx, Some(&floor), display)
            }
            "su" | "runuser" => {
                let code = t
                    .iter()
                    .position(|a| a == "-c" || a == "--command")
                    .and_then(|i| args.get(i + 1));
                match code {
                    Some(code) => {
                        let verdict = self.script_word(code, "su -c", display);
                        outcome(
                            verdict.max(Verdict::prompt(display, "runs it as another user")),
                            Output::default(),
                        )
                    }
                    None => prompt("starts a shell as another user"),
                }
            }
            "env" => self.env(args, ctx, display),
            "command" => {
                if has_any(&t, &["-v", "-V"]) {
                    return outcome(
                        Verdict::allow(display, "only looks up a command"),
                        Output::default(),
                    );
                }
                let at = operand_index(args, "", &[]);
                self.wrapped(&args[at..], ctx, None, display)
            }
            "builtin" => self.wrapped(args, ctx, None, display),
            "exec" => {
                let at = operand_index(args, "a", &[]);
                if at >= args.len() {
                    return outcome(
                        Verdict::allow(display, "only redirects this shell's files"),
                        Output::default(),
                    );
                }
                self.wrapped(&args[at..], ctx, None, display)
            }
            "nice" => {
                let at = operand_index(args, "n", &["--adjustment"]);
                if at >= args.len() {
                    return outcome(Verdict::allow(display, "only prints"), Output::default());
                }
                self.wrapped(&args[at..], ctx, None, display)
            }
            "ionice" => {
                let at = operand_index(
                    args,
                    "cnpPu",
                    &["--class", "--classdata", "--pid", "--pgid", "--uid"],
                );
                if at >= args.len() {
                    return prompt("changes the I/O priority of running processes");
                }
                self.wrapped(&args[at..], ctx, None, display)
            }
            "timeout" => {
                let at = operand_index(args, "sk", &["--signal", "--kill-after"]);
                // The duration, then the command.
                self.wrapped(args.get(at + 1..).unwrap_or(&[]), ctx, None, display)
            }
            "nohup" | "setsid" | "busybox" | "toybox" => {
                let at = operand_index(args, "", &[]);
                self.wrapped(&args[at..], ctx, None, display)
            }
            "time" => {
                let at = operand_index(args, "fo", &["--format", "--output"]);
                let floor =
                    has_any(&t, &["-o", "--output"]).then_some("writes its timing to a file");
                self.wrapped(&args[at..], ctx, floor, display)
            }
            "stdbuf" => {
                let at = operand_index(args, "ioe", &["--input", "--output", "--error"]);
                self.wrapped(&args[at..], ctx, None, display)
            }
            "chroot" => {
                let at = operand_index(args, "", &[]);
                self.wrapped(
                    args.get(at + 1..).unwrap_or(&[]),
                    ctx,
                    Some("runs it in another root directory"),
                    display,
                )
            }
            "watch" => {
                let at = operand_index(args, "nd", &["--interval", "--differences"]);
                let rest = &args[at..];
                let script: Vec<String> = rest.iter().map(Word::text).collect();
                let (inner, _) = self.script(&script.join(" "));
                outcome(
                    inner.max(Verdict::prompt(display, "runs a command repeatedly")),
                    Output::default(),
                )
            }
            "xargs" => {
                let at = operand_index(
                    args,
                    "aEILnPsd",
                    &[
                        "--arg-file",
                        "--delimiter",
                        "--eof",
                        "--replace",
                        "--max-lines",
                        "--max-args",
                        "--max-procs",
                        "--max-chars",
                        "--process-slot-var",
                    ],
                );
                let inner = if at >= args.len() {
                    vec![Word::plain("echo")]
                } else {
                    args[at..].to_vec()
                };
                let inner_ctx = Ctx {
                    stdin: Stdin::Inherited,
                    appended_args: true,
                };
                let inner = self.command(inner, &inner_ctx);
                outcome(inner.verdict, Self::passthrough(ctx, args))
            }
            "find" => self.find(args, ctx, display),
            "rm" => self.rm(args, ctx, display),
            "rmdir" | "unlink" => {
                for arg in args.iter().filter(|a| !a.starts_with_dash()) {
                    let zone = self.resolve(arg).zone;
                    if matches!(zone, Zone::Root | Zone::System | Zone::Home) {
                        return forbid(format!("removes {}", zone.describe()));
                    }
                }
                prompt("removes files")
            }
            "git" => self.git(args, ctx, display),
            "dd" => {
                let mut verdict = Verdict::prompt(display, "copies raw data");
                for arg in args {
                    if arg.text().starts_with("of=") {
                        let target = strip_word_prefix(arg, "of=");
                        let written = self.write_target(&target, false, display);
                        if written.decision == Decision::Forbid {
                            verdict = verdict.max(written);
                        } else if !self.resolve(&target).zone.is_scratch()
                            && written.decision != Decision::Allow
                        {
                            verdict = verdict.max(Verdict::forbid(
                                display,
                                format!("overwrites {} outside the workspace", target.text()),
                            ));
                        }
                    }
                }
                outcome(verdict, Self::passthrough(ctx, args))
            }
            "mke2fs" | "mkswap" | "mkntfs" | "mkdosfs" | "wipefs" | "blkdiscard" | "cfdisk"
            | "gdisk" | "cgdisk" | "sgdisk" | "shred" | "lvremove" | "vgremove" | "pvremove"
            | "killall5" | "kexec" => forbid(format!("`{name}` destroys data or processes")),
            "fdisk" | "sfdisk" | "parted" => {
                let lists = !t.is_empty()
                    && t.iter().all(|a| {
                        matches!(a.as_str(), "-l" | "--list" | "print" | "-s" | "--show-size")
                            || a.starts_with("/dev/")
                    })
                    && t.iter()
                        .any(|a| matches!(a.as_str(), "-l" | "--list" | "print" | "-s"));
                if lists {
                    prompt("reads the partition table")
                } else {
                    forbid(format!("`{name}` rewrites a partition table"))
                }
            }
            "zpool" | "zfs" if t.first().is_some_and(|s| s == "destroy") => {
                forbid(format!("`{name} destroy` destroys a pool or data set"))
            }
            "cryptsetup"
                if t.iter().any(|a| {
                    matches!(
                        a.as_str(),
                        "luksFormat" | "erase" | "luksErase" | "reencrypt"
                    )
                }) =>
            {
                forbid("erases or reformats an encrypted volume".into())
            }
            "badblocks" if has_short(&t, 'w') => forbid("overwrites a whole disk".into()),
            "mdadm" if has_any(&t, &["--zero-superblock"]) => {
                forbid("erases a RAID superblock".into())
            }
            "hdparm"
                if t.iter().any(|a| {
                    a.starts_with("--security-erase")
                        || a.starts_with("--trim-sector")
                        || a.starts_with("--write-sector")
                }) =>
            {
                forbid("erases disk sectors".into())
            }
            "chmod" | "chown" | "chgrp" => self.change_owner_or_mode(name, args, ctx, display),
            "kill" => {
                if t.first()
                    .is_some_and(|a| matches!(a.as_str(), "-l" | "-L" | "--list" | "--table"))
                {
                    return outcome(
                        Verdict::allow(display, "only lists signals"),
                        Output::default(),
                    );
                }
                let mut i = 0;
                if let Some(first) = t.first() {
                    if matches!(first.as_str(), "-s" | "-n" | "--signal") {
                        i = 2;
                    } else if first.starts_with('-') && first != "--" && t.len() > 1 {
                        i = 1;
                    }
                }
                let pids: Vec<&String> = t.iter().skip(i).filter(|a| *a != "--").collect();
                if pids.iter().any(|p| p.as_str() == "-1") {
                    return forbid("signals every process the user can reach".into());
                }
                if pids.iter().any(|p| p.as_str() == "1") {
                    return forbid("signals init (process 1)".into());
                }
                prompt("signals processes")
            }
            "shutdown" | "reboot" | "halt" | "poweroff" => {
                forbid(format!("`{name}` shuts down or restarts the machine"))
            }
            "init" | "telinit"
                if t.first()
                    .is_some_and(|a| matches!(a.as_str(), "0" | "6" | "1" | "s" | "S")) =>
            {
                forbid("changes the run level (halt, reboot or single user)".into())
            }
            "systemctl" => {
                let verb = t.iter().find(|a| !a.starts_with('-')).map(String::as_str);
                match verb {
                    Some(
                        "poweroff"
                        | "reboot"
                        | "halt"
                        | "kexec"
                        | "suspend"
                        | "hibernate"
                        | "hybrid-sleep"
                        | "suspend-then-hibernate"
                        | "rescue"
                        | "emergency"
                        | "soft-reboot"
                        | "isolate"
                        | "default",
                    ) => forbid("shuts down, suspends or isolates the machine".into()),
                    Some(
                        "status" | "show" | "cat" | "list-units" | "list-unit-files"
                        | "list-timers" | "list-sockets" | "is-active" | "is-enabled" | "is-failed"
                        | "help",
                    ) => outcome(Verdict::allow(display, "only reads"), Output::default()),
                    None if has_any(&t, &["--version"]) => {
                        outcome(Verdict::allow(display, "only reads"), Output::default())
                    }
                    _ => prompt("changes system services"),
                }
            }
            "crontab" => {
                if has_short(&t, 'r') || has_any(&t, &["--remove"]) {
                    forbid("deletes the user's crontab".into())
                } else if t.iter().all(|a| a == "-l" || a.starts_with("-u")) && !t.is_empty() {
                    outcome(
                        Verdict::allow(display, "only lists the crontab"),
                        Output::default(),
                    )
                } else {
                    prompt("changes scheduled jobs")
                }
            }
            "mv" | "cp" | "install" | "ln" => self.copy_or_move(name, args, ctx, display),
            "tee" => {
                let append = has_short(&t, 'a') || has_any(&t, &["--append"]);
                let mut verdict = Verdict::prompt(display, "writes files");
                let targets: Vec<&Word> = args.iter().filter(|a| !a.starts_with_dash()).collect();
                if targets.is_empty() {
                    verdict = Verdict::allow(display, "only copies its input to its output");
                }
                for target in targets {
                    let written = self.write_target(target, append, display);
                    verdict = verdict.max(written);
                    if let (Some(taint), Some(path)) =
                        (ctx.stdin.taint(), self.resolve(target).path)
                    {
                        self.downloaded.push((path, taint.clone()));
                    }
                }
                outcome(
                    verdict,
                    Output {
                        taint: ctx.stdin.taint().cloned(),
                        literal: ctx.stdin.literal().cloned(),
                    },
                )
            }
            "truncate" => {
                let at = operand_index(args, "sr", &["--size", "--reference"]);
                let mut verdict = Verdict::prompt(display, "truncates files");
                for target in &args[at..] {
                    verdict = verdict.max(self.write_target(target, false, display));
                }
                outcome(verdict, Output::default())
            }
            "sed" => self.sed(args, ctx, display),
            "cd" | "pushd" => {
                let at = operand_index(args, "", &[]);
                self.cwd = match args.get(at) {
                    None => self.home.clone(),
                    Some(dir) if dir.text() == "-" => None,
                    Some(dir) => self.resolve(dir).path.filter(|_| !dir.has_glob()),
                };
                outcome(
                    Verdict::allow(display, "only changes directory"),
                    Output::default(),
                )
            }
            "mktemp" => {
                // Its output, a new path under /tmp unless told otherwise.
                let elsewhere = t.iter().any(|a| {
                    a.contains('/') || a == "-p" || a.starts_with("--tmpdir") || a == "-t"
                });
                let literal = (!elsewhere).then(|| "/tmp/tmp.XXXXXXXXXX\n".to_string());
                outcome(
                    Verdict::prompt(display, "creates a temporary file"),
                    Output {
                        taint: None,
                        literal,
                    },
                )
            }
            "popd" => {
                self.cwd = None;
                outcome(
                    Verdict::allow(display, "only changes directory"),
                    Output::default(),
                )
            }
            _ => self.reader_or_unknown(name, args, &t, ctx, display),
        }
    }

    /// `wrapper CMD…`: judges CMD; `floor` (a reason) makes it at least a prompt.
    fn wrapped(
        &mut self,
        inner: &[Word],
        ctx: &Ctx,
        floor: Option<&str>,
        display: &str,
    ) -> Outcome {
        if inner.is_empty() {
            return outcome(
                Verdict::prompt(display, floor.unwrap_or("runs nothing known")),
                Output::default(),
            );
        }
        let inner = self.command(inner.to_vec(), ctx);
        let verdict = match floor {
            Some(why) if inner.verdict.decision < Decision::Prompt => Verdict::prompt(display, why),
            _ => inner.verdict,
        };
        outcome(verdict, inner.output)
    }

    /// Judges a word used as shell code (`bash -c WORD`, `su -c WORD`).
    fn script_word(&mut self, word: &Word, what: &str, display: &str) -> Verdict {
        if let Some(taint) = &word.taint {
            return Verdict::forbid(display, format!("`{what}` runs code from {taint}"));
        }
        let (inner, _) = self.script(&word.code_text());
        if word.is_static() {
            inner
        } else {
            inner.max(Verdict::prompt(
                display,
                format!("`{what}` runs code that is only known when it runs"),
            ))
        }
    }

    /// A shell reading code from its standard input.
    fn code_from_stdin(&mut self, name: &str, ctx: &Ctx, display: &str, shell: bool) -> Verdict {
        match &ctx.stdin {
            Stdin::Data {
                taint: Some(taint), ..
            } => Verdict::forbid(display, format!("`{name}` runs code from {taint}")),
            Stdin::Data {
                literal: Some(code),
                what,
                ..
            } if shell => {
                let (inner, _) = self.script(code);
                inner.max(Verdict::prompt(
                    display,
                    format!("`{name}` runs code read from {what}"),
                ))
            }
            Stdin::Data { what, .. } => {
                Verdict::prompt(display, format!("`{name}` runs code read from {what}"))
            }
            Stdin::Inherited => Verdict::prompt(display, format!("starts `{name}` interactively")),
        }
    }

    fn shell(&mut self, name: &str, args: &[Word], ctx: &Ctx, display: &str) -> Outcome {
        if args.len() == 1 && matches!(args[0].text().as_str(), "--version" | "--help") {
            return outcome(Verdict::allow(display, "only prints"), Output::default());
        }
        let mut i = 0;
        let mut command_mode = false;
        let mut stdin_mode = false;
        while let Some(arg) = args.get(i) {
            let t = arg.text();
            if t == "--" || t == "-" {
                stdin_mode |= t == "-";
                i += 1;
                break;
            }
            if t.starts_with("--") {
                i += if matches!(t.as_str(), "--rcfile" | "--init-file") {
                    2
                } else {
                    1
                };
                continue;
            }
            if (t.starts_with('-') || t.starts_with('+')) && t.len() > 1 && arg.is_static() {
                let mut consumes = 0;
                for c in t.chars().skip(1) {
                    match c {
                        'c' => command_mode = true,
                        's' => stdin_mode = true,
                        'o' | 'O' => consumes += 1,
                        _ => {}
                    }
                }
                i += 1 + consumes;
                continue;
            }
            break;
        }
        let operands = args.get(i..).unwrap_or(&[]);
        let unusual = matches!(name, "fish" | "csh" | "tcsh");
        let floor = |v: Verdict| {
            if unusual {
                v.max(Verdict::prompt(
                    display,
                    format!("`{name}` syntax is not checked"),
                ))
            } else {
                v
            }
        };
        if command_mode {
            let Some(code) = operands.first() else {
                return outcome(
                    Verdict::prompt(display, "`-c` without code"),
                    Output::default(),
                );
            };
            let what = format!("{name} -c");
            let verdict = self.script_word(code, &what, display);
            return outcome(floor(verdict), Self::passthrough(ctx, &[]));
        }
        if let (Some(file), false) = (operands.first(), stdin_mode) {
            if let Some(taint) = &file.taint {
                return outcome(
                    Verdict::forbid(display, format!("`{name}` runs code from {taint}")),
                    Output::default(),
                );
            }
            if file.text() != "/dev/stdin" {
                if let Some(t) = self.downloaded_by(file) {
                    return outcome(
                        Verdict::forbid(display, format!("runs {}, which {t} wrote", file.text())),
                        Output::default(),
                    );
                }
                return outcome(
                    Verdict::prompt(display, format!("runs the shell script {}", file.text())),
                    Output::default(),
                );
            }
        }
        let verdict = self.code_from_stdin(name, ctx, display, true);
        outcome(floor(verdict), Output::default())
    }

    fn interpreter(&mut self, name: &str, args: &[Word], ctx: &Ctx, display: &str) -> Outcome {
        let t: Vec<String> = args.iter().map(Word::text).collect();
        if t.len() == 1 && matches!(t[0].as_str(), "--version" | "-V" | "-v" | "version") {
            return outcome(
                Verdict::allow(display, "only prints its version"),
                Output::default(),
            );
        }
        let (letters, long) = code_flags(name);
        let mut i = 0;
        while let Some(arg) = args.get(i) {
            let text = &t[i];
            if long.contains(&text.as_str()) {
                return self.inline_code(name, args.get(i + 1), display);
            }
            if text == "--" || text == "-" || !arg.starts_with_dash() {
                break;
            }
            if !text.starts_with("--") {
                let group: Vec<char> = text.chars().skip(1).collect();
                if let Some(at) = group.iter().position(|c| letters.contains(*c)) {
                    let attached: String = group[at + 1..].iter().collect();
                    if attached.is_empty() {
                        return self.inline_code(name, args.get(i + 1), display);
                    }
                    return self.inline_code(name, Some(&Word::plain(&attached)), display);
                }
                if group.first() == Some(&'m') && name.starts_with("py") {
                    // `python3 -m json.tool [FILE]` only pretty-prints.
                    let attached: String = group[1..].iter().collect();
                    let (module, rest) = if attached.is_empty() {
                        (t.get(i + 1).cloned().unwrap_or_default(), args.get(i + 2..))
                    } else {
                        (attached, args.get(i + 1..))
                    };
                    let rest = rest.unwrap_or(&[]);
                    if module == "json.tool"
                        && rest.iter().filter(|w| !w.starts_with_dash()).count() <= 1
                    {
                        let output = Self::passthrough(ctx, rest);
                        return self.allow_reader(rest, ctx, display, output);
                    }
                    return outcome(
                        Verdict::prompt(display, format!("runs a {name} module")),
                        Output::default(),
                    );
                }
            }
            i += 1;
        }
        let rest = args.get(i..).unwrap_or(&[]);
        let rest = match rest.first() {
            Some(w) if w.text() == "--" => &rest[1..],
            _ => rest,
        };
        let script = match (name, rest.first()) {
            ("deno", Some(sub)) if sub.text() == "run" => rest.get(1),
            (_, first) => first,
        };
        match script {
            Some(file) if file.text() != "-" && file.text() != "/dev/stdin" => {
                if let Some(taint) = &file.taint {
                    return outcome(
                        Verdict::forbid(display, format!("`{name}` runs code from {taint}")),
                        Output::default(),
                    );
                }
                let text = file.text();
                if text.starts_with("http://") || text.starts_with("https://") {
                    return outcome(
                        Verdict::forbid(
                            display,
                            format!("`{name}` runs code downloaded from {text}"),
                        ),
                        Output::default(),
                    );
                }
                if let Some(t) = self.downloaded_by(file) {
                    return outcome(
                        Verdict::forbid(display, format!("runs {text}, which {t} wrote")),
                        Output::default(),
                    );
                }
                outcome(
                    Verdict::prompt(display, format!("runs the {name} program {text}")),
                    Output::default(),
                )
            }
            _ => outcome(
                self.code_from_stdin(name, ctx, display, false),
                Output::default(),
            ),
        }
    }

    fn inline_code(&mut self, name: &str, code: Option<&Word>, display: &str) -> Outcome {
        let verdict = match code.and_then(|c| c.taint.clone()) {
            Some(taint) => Verdict::forbid(display, format!("`{name}` runs code from {taint}")),
            None => Verdict::prompt(display, format!("runs inline {name} code")),
        };
        outcome(verdict, Output::default())
    }

    fn eval(&mut self, args: &[Word], display: &str) -> Outcome {
        if let Some(taint) = args.iter().find_map(|a| a.taint.clone()) {
            return outcome(
                Verdict::forbid(display, format!("`eval` runs code from {taint}")),
                Output::default(),
            );
        }
        let code: Vec<String> = args.iter().map(Word::code_text).collect();
        let (inner, output) = self.script(&code.join(" "));
        outcome(
            inner.max(Verdict::prompt(
                display,
                "`eval` runs a string as shell code",
            )),
            output,
        )
    }

    fn source(&mut self, name: &str, args: &[Word], ctx: &Ctx, display: &str) -> Outcome {
        let Some(file) = args.first() else {
            return outcome(
                Verdict::prompt(display, "sources nothing"),
                Output::default(),
            );
        };
        if let Some(taint) = &file.taint {
            return outcome(
                Verdict::forbid(display, format!("`{name}` runs code from {taint}")),
                Output::default(),
            );
        }
        if file.text() == "/dev/stdin" {
            return outcome(
                self.code_from_stdin(name, ctx, display, true),
                Output::default(),
            );
        }
        if let Some(t) = self.downloaded_by(file) {
            return outcome(
                Verdict::forbid(display, format!("runs {}, which {t} wrote", file.text())),
                Output::default(),
            );
        }
        outcome(
            Verdict::prompt(
                display,
                format!("runs the shell file {} in this shell", file.text()),
            ),
            Output::default(),
        )
    }

    fn env(&mut self, args: &[Word], ctx: &Ctx, display: &str) -> Outcome {
        let mut floor: Option<String> = None;
        let mut split: Option<Word> = None;
        let mut i = 0;
        while let Some(arg) = args.get(i) {
            let t = arg.text();
            match t.as_str() {
                "--" => {
                    i += 1;
                    break;
                }
                "-u" | "-C" | "--unset" | "--chdir" => i += 2,
                "-S" | "--split-string" => {
                    split = args.get(i + 1).cloned();
                    i += 2;
                    break;
                }
                _ if t.starts_with("--split-string=") => {
                    split = Some(strip_word_prefix(arg, "--split-string="));
                    i += 1;
                    break;
                }
                _ if t.starts_with("-S") => {
                    split = Some(strip_word_prefix(arg, "-S"));
                    i += 1;
                    break;
                }
                _ if arg.starts_with_dash() => i += 1,
                _ => match t.split_once('=') {
                    Some((var, value))
                        if !var.is_empty()
                            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                    {
                        if let Some(why) = dangerous_variable(var, Some(&Word::plain(value))) {
                            floor = Some(why);
                        }
                        i += 1;
                    }
                    _ => break,
                },
            }
        }
        let rest = args.get(i..).unwrap_or(&[]);
        if let Some(split) = split {
            let mut code = split.text();
            for word in rest {
                code.push(' ');
                code.push_str(&word.text());
            }
            let (inner, _) = self.script(&code);
            return outcome(
                inner.max(Verdict::prompt(
                    display,
                    "`env -S` splits a string into a command",
                )),
                Output::default(),
            );
        }
        if rest.is_empty() {
            return match floor {
                Some(why) => outcome(Verdict::prompt(display, why), Output::default()),
                None => outcome(
                    Verdict::allow(display, "only prints the environment"),
                    Output::default(),
                ),
            };
        }
        self.wrapped(rest, ctx, floor.as_deref(), display)
    }

    fn downloader(&mut self, name: &str, args: &[Word], display: &str) -> Outcome {
        let t: Vec<String> = args.iter().map(Word::text).collect();
        let taint = format!("a download (`{name}`)");
        let mut files: Vec<Word> = Vec::new();
        let urls: Vec<&String> = t.iter().filter(|a| a.contains("://")).collect();
        let remote_name = |url: &str| {
            let name = url
                .split(['?', '#'])
                .next()
                .unwrap_or("")
                .rsplit('/')
                .next()
                .unwrap_or("");
            (!name.is_empty()).then(|| Word::plain(name))
        };
        // The option that names the output file, and whether curl saves under the remote name.
        let (output_letter, output_long) = match name {
            "curl" => ('o', "--output"),
            "wget" => ('O', "--output-document"),
            _ => ('\0', "--output"),
        };
        let mut named_output = false;
        for (i, a) in t.iter().enumerate() {
            if a == output_long {
                named_output = true;
                files.extend(args.get(i + 1).cloned());
            } else if let Some(file) = a.strip_prefix(&format!("{output_long}=")) {
                named_output = true;
                files.push(Word::plain(file));
            } else if a == "--remote-name" && name == "curl" {
                files.extend(urls.iter().filter_map(|u| remote_name(u)));
            } else if a.len() > 1 && a.starts_with('-') && !a.starts_with("--") {
                // A group of short options: `-sSLo file`, `-qO-`, `-sO`.
                let group: Vec<char> = a.chars().skip(1).collect();
                if name == "curl" && group.contains(&'O') {
                    files.extend(urls.iter().filter_map(|u| remote_name(u)));
                }
                if let Some(at) = group.iter().position(|c| *c == output_letter) {
                    named_output = true;
                    let attached: String = group[at + 1..].iter().collect();
                    if attached.is_empty() {
                        files.extend(args.get(i + 1).cloned());
                    } else {
                        files.push(Word::plain(&attached));
                    }
                }
            }
        }
        if name == "wget" && !named_output {
            files.extend(urls.iter().filter_map(|u| remote_name(u)));
        }
        let mut verdict = Verdict::prompt(display, format!("`{name}` uses the network"));
        for file in files.iter().filter(|f| f.text() != "-") {
            verdict = verdict.max(self.write_target(file, false, display));
            if let Some(path) = self.resolve(file).path {
                self.downloaded.push((path, taint.clone()));
            }
        }
        outcome(
            verdict,
            Output {
                taint: Some(taint),
                literal: None,
            },
        )
    }

    fn find(&mut self, args: &[Word], ctx: &Ctx, display: &str) -> Outcome {
        let mut i = 0;
        while let Some(arg) = args.get(i) {
            match arg.text().as_str() {
                "-H" | "-L" | "-P" => i += 1,
                "-D" => i += 2,
                t if t.starts_with("-O") => i += 1,
                _ => break,
            }
        }
        let roots_start = i;
        while let Some(arg) = args.get(i) {
            let t = arg.text();
            if arg.starts_with_dash() || matches!(t.as_str(), "(" | "!" | ")" | ",") {
                break;
            }
            i += 1;
        }
        let mut roots: Vec<Word> = args[roots_start..i].to_vec();
        if roots.is_empty() {
            roots.push(Word::plain("."));
        }
        let expr = &args[i..];
        let mut verdict = Verdict::allow(display, "only reads");
        let mut j = 0;
        while let Some(arg) = expr.get(j) {
            let t = arg.text();
            match t.as_str() {
                "-delete" => {
                    for root in &roots {
                        let target = self.resolve(root);
                        let v = if matches!(
                            target.zone,
                            Zone::Workspace | Zone::InWorkspace | Zone::Temp
                        ) {
                            Verdict::prompt(display, "deletes the files it finds")
                        } else {
                            Verdict::forbid(
                                display,
                                format!("deletes what it finds under {}", target.zone.describe()),
                            )
                        };
                        verdict = verdict.max(v);
                    }
                }
                "-exec" | "-execdir" | "-ok" | "-okdir" => {
                    let end = expr[j + 1..]
                        .iter()
                        .position(|w| matches!(w.text().as_str(), ";" | "+"))
                        .map_or(expr.len(), |p| j + 1 + p);
                    let inner = &expr[j + 1..end];
                    if inner.is_empty() {
                        verdict = verdict.max(Verdict::prompt(display, "an empty -exec"));
                    }
                    for root in &roots {
                        let words: Vec<Word> = inner
                            .iter()
                            .map(|w| {
                                if w.text() == "{}" {
                                    let mut found = root.clone();
                                    found.segs.push(Seg::Lit {
                                        text: "/{}".into(),
                                        quoted: true,
                                    });
                                    found
                                } else {
                                    w.clone()
                                }
                            })
                            .collect();
                        if !words.is_empty() {
                            let out = self.command(words, &Ctx::default());
                            verdict = verdict.max(out.verdict);
                        }
                    }
                    let program = inner
                        .first()
                        .map(|w| w.text().rsplit('/').next().unwrap_or("").to_string());
                    if matches!(
                        program.as_deref(),
                        Some("rm" | "shred" | "unlink" | "rmdir" | "truncate")
                    ) {
                        // It runs on everything found, at any depth: as `-delete` does.
                        for root in &roots {
                            let zone = self.resolve(root).zone;
                            if !matches!(zone, Zone::Workspace | Zone::InWorkspace | Zone::Temp) {
                                verdict = verdict.max(Verdict::forbid(
                                    display,
                                    format!("destroys what it finds under {}", zone.describe()),
                                ));
                            }
                        }
                    }
                    if t.starts_with("-ok") {
                        verdict = verdict.max(Verdict::prompt(display, "asks before each command"));
                    }
                    j = end + 1;
                    continue;
                }
                "-fprint" | "-fprint0" | "-fprintf" | "-fls" => {
                    if let Some(target) = expr.get(j + 1) {
                        verdict = verdict.max(self.write_target(target, false, display));
                    }
                }
                _ => {}
            }
            j += 1;
        }
        outcome(verdict, Self::passthrough(ctx, &[]))
    }

    fn rm(&mut self, args: &[Word], ctx: &Ctx, display: &str) -> Outcome {
        let mut recursive = false;
        let mut operands: Vec<&Word> = Vec::new();
        let mut options_done = false;
        for arg in args {
            let t = arg.text();
            if !options_done && t == "--" {
                options_done = true;
                continue;
            }
            if !options_done && arg.starts_with_dash() && t.len() > 1 {
                match t.as_str() {
                    "--recursive" => recursive = true,
                    "--no-preserve-root" => {
                        return outcome(
                            Verdict::forbid(display, "`--no-preserve-root` lets it delete /"),
                            Output::default(),
                        )
                    }
                    _ if !t.starts_with("--") && t[1..].contains(['r', 'R']) => recursive = true,
                    _ => {}
                }
                continue;
            }
            operands.push(arg);
        }
        let mut verdict = Verdict::prompt(display, "deletes files");
        let mut targets: Vec<(String, super::paths::Target)> = operands
            .iter()
            .map(|w| (w.text(), self.resolve(w)))
            .collect();
        if ctx.appended_args {
            targets.push((
                "(arguments xargs adds)".into(),
                super::paths::Target {
                    path: None,
                    zone: Zone::Unknown,
                    glob: false,
                    dot_glob: false,
                },
            ));
        }
        for (text, target) in targets {
            let zone = target.zone;
            let is_repository = target
                .path
                .as_ref()
                .is_some_and(|p| !target.glob && p.file_name().is_some_and(|n| n == ".git"));
            let v = if recursive && target.dot_glob {
                Verdict::forbid(display, format!("`{text}` also matches `..`"))
            } else if recursive && is_repository {
                Verdict::forbid(
                    display,
                    format!("deletes a git repository's history ({text})"),
                )
            } else if recursive {
                let fine = if target.glob {
                    matches!(zone, Zone::Workspace | Zone::InWorkspace | Zone::Temp)
                } else {
                    zone.is_scratch()
                };
                if fine {
                    continue;
                }
                Verdict::forbid(
                    display,
                    format!("deletes {} recursively ({text})", zone.describe()),
                )
            } else if matches!(zone, Zone::Root | Zone::System | Zone::Home) {
                Verdict::forbid(display, format!("deletes {} ({text})", zone.describe()))
            } else {
                continue;
            };
            verdict = verdict.max(v);
        }
        outcome(verdict, Output::default())
    }

    fn change_owner_or_mode(
        &mut self,
        name: &str,
        args: &[Word],
        ctx: &Ctx,
        display: &str,
    ) -> Outcome {
        let mut recursive = false;
        let mut reference = false;
        let mut operands: Vec<&Word> = Vec::new();
        for arg in args {
            let t = arg.text();
            match t.as_str() {
                "-R" | "--recursive" => recursive = true,
                "--no-preserve-root" => {
                    return outcome(
                        Verdict::forbid(display, "`--no-preserve-root` lets it change all of /"),
                        Output::default(),
                    )
                }
                _ if t.starts_with("--reference") => reference = true,
                _ if t.starts_with("--") => {}
                _ if arg.starts_with_dash()
                    && t.len() > 1
                    && t[1..].chars().all(|c| "RvcfhHLP".contains(c)) =>
                {
                    recursive |= t.contains('R');
                }
                _ => operands.push(arg),
            }
        }
        // The mode or owner comes first, unless taken from a reference file.
        let targets = if reference {
            &operands[..]
        } else {
            operands.get(1..).unwrap_or(&[])
        };
        let what = if name == "chmod" {
            "permissions"
        } else {
            "owner"
        };
        let mut verdict = Verdict::prompt(display, format!("changes {what}"));
        let appended = ctx.appended_args.then(|| Word::plain("$UNKNOWN"));
        for target in targets.iter().copied().chain(appended.as_ref()) {
            let resolved = if appended.as_ref() == Some(target) {
                super::paths::Target {
                    path: None,
                    zone: Zone::Unknown,
                    glob: false,
                    dot_glob: false,
                }
            } else {
                self.resolve(target)
            };
            let zone = resolved.zone;
            let bad = match zone {
                Zone::Root | Zone::System => true,
                Zone::Home | Zone::AboveWorkspace | Zone::InHome | Zone::Outside => recursive,
                Zone::Unknown | Zone::Workspace | Zone::InWorkspace | Zone::Temp => false,
            };
            if bad {
                verdict = verdict.max(Verdict::forbid(
                    display,
                    format!(
                        "changes the {what} of {}{}",
                        zone.describe(),
                        if recursive { " recursively" } else { "" }
                    ),
                ));
            }
        }
        outcome(verdict, Output::default())
    }

    fn copy_or_move(&mut self, name: &str, args: &[Word], ctx: &Ctx, display: &str) -> Outcome {
        let mut target_dir: Option<Word> = None;
        let mut operands: Vec<&Word> = Vec::new();
        let mut i = 0;
        let mut options_done = false;
        while let Some(arg) = args.get(i) {
            let t = arg.text();
            i += 1;
            if !options_done && t == "--" {
                options_done = true;
                continue;
            }
            if !options_done && arg.starts_with_dash() && t.len() > 1 {
                if t == "-t" || t == "--target-directory" {
                    target_dir = args.get(i).cloned();
                    i += 1;
                } else if let Some(dir) = t.strip_prefix("--target-directory=") {
                    target_dir = Some(Word::plain(dir));
                } else if matches!(
                    t.as_str(),
                    "-S" | "--suffix" | "-m" | "-o" | "-g" | "--mode" | "--owner" | "--group"
                ) {
                    i += 1;
                }
                continue;
            }
            operands.push(arg);
        }
        let (sources, dest): (Vec<&Word>, Option<Word>) = match target_dir {
            Some(dir) => (operands, Some(dir)),
            None => match operands.split_last() {
                Some((last, rest)) if !rest.is_empty() => (rest.to_vec(), Some((*last).clone())),
                _ => (Vec::new(), None),
            },
        };
        let verb = match name {
            "mv" => "moves",
            "ln" => "links",
            _ => "copies",
        };
        let mut verdict = Verdict::prompt(display, format!("{verb} files"));
        if name == "mv" {
            for source in &sources {
                let target = self.resolve(source);
                let gone = !target.glob
                    && matches!(
                        target.zone,
                        Zone::Root
                            | Zone::System
                            | Zone::Home
                            | Zone::AboveWorkspace
                            | Zone::Workspace
                    );
                if gone {
                    verdict = verdict.max(Verdict::forbid(
                        display,
                        format!("moves away {} ({})", target.zone.describe(), source.text()),
                    ));
                } else if self.is_secret(source) {
                    verdict = verdict.max(Verdict::forbid(
                        display,
                        format!("moves away credentials ({})", source.text()),
                    ));
                }
            }
        }
        if let Some(dest) = dest {
            if name == "mv" && dest.text() == "/dev/null" {
                verdict = verdict.max(Verdict::forbid(
                    display,
                    "moves files onto /dev/null, destroying them",
                ));
            } else {
                verdict = verdict.max(self.write_target(&dest, false, display));
            }
        }
        let _ = ctx;
        outcome(verdict, Output::default())
    }

    fn sed(&mut self, args: &[Word], ctx: &Ctx, display: &str) -> Outcome {
        let mut scripts: Vec<&Word> = Vec::new();
        let mut files: Vec<&Word> = Vec::new();
        let mut in_place = false;
        let mut script_file = false;
        let mut attached: Vec<Word> = Vec::new();
        let mut i = 0;
        let mut options_done = false;
        while let Some(arg) = args.get(i) {
            let t = arg.text();
            i += 1;
            if options_done || !arg.starts_with_dash() || t == "-" {
                if scripts.is_empty() && attached.is_empty() && !script_file {
                    scripts.push(arg);
                } else {
                    files.push(arg);
                }
                continue;
            }
            if t == "--" {
                options_done = true;
                continue;
            }
            if let Some(long) = t.strip_prefix("--") {
                if long == "expression" {
                    scripts.extend(args.get(i));
                    i += 1;
                } else if let Some(code) = long.strip_prefix("expression=") {
                    attached.push(Word::plain(code));
                } else if long == "file" || long.starts_with("file=") {
                    script_file = true;
                    i += usize::from(long == "file");
                } else if long.starts_with("in-place") {
                    in_place = true;
                } else if long == "line-length" {
                    i += 1;
                }
                continue;
            }
            for (j, c) in t.chars().enumerate().skip(1) {
                let rest: String = t.chars().skip(j + 1).collect();
                match c {
                    'i' => {
                        in_place = true;
                        break;
                    }
                    'e' | 'f' | 'l' => {
                        if c == 'f' {
                            script_file = true;
                        }
                        if rest.is_empty() {
                            if c == 'e' {
                                scripts.extend(args.get(i));
                            }
                            i += 1;
                        } else if c == 'e' {
                            attached.push(Word::plain(&rest));
                        }
                        break;
                    }
                    _ => {}
                }
            }
        }
        if in_place {
            let mut verdict = Verdict::prompt(display, "edits files in place");
            for file in files {
                verdict = verdict.max(self.write_target(file, true, display));
            }
            return outcome(verdict, Output::default());
        }
        if script_file {
            return outcome(
                Verdict::prompt(display, "runs a sed script file"),
                Self::passthrough(ctx, args),
            );
        }
        let all_read_only = scripts
            .iter()
            .map(|w| w.literal_with_numbers())
            .chain(attached.iter().map(|w| w.literal()))
            .all(|code| code.is_some_and(|c| sed::is_read_only(&c)));
        if !all_read_only || (scripts.is_empty() && attached.is_empty()) {
            return outcome(
                Verdict::prompt(display, "the sed script writes files or runs commands"),
                Self::passthrough(ctx, args),
            );
        }
        self.allow_reader(args, ctx, display, Self::passthrough(ctx, args))
    }

    /// Allows a reader, unless it reads credentials or a disk device.
    fn allow_reader(
        &mut self,
        args: &[Word],
        _ctx: &Ctx,
        display: &str,
        output: Output,
    ) -> Outcome {
        for arg in args {
            let text = arg.text();
            let path = text.split_once('=').map_or(text.as_str(), |(_, v)| v);
            if is_block_device(path) {
                return outcome(
                    Verdict::prompt(display, format!("reads the disk device {path}")),
                    output,
                );
            }
            if self.is_secret(arg) {
                return outcome(
                    Verdict::prompt(display, format!("reads credentials ({text})")),
                    output,
                );
            }
        }
        outcome(Verdict::allow(display, "only reads"), output)
    }

    fn reader_or_unknown(
        &mut self,
        name: &str,
        args: &[Word],
        t: &[String],
        ctx: &Ctx,
        display: &str,
    ) -> Outcome {
        if t.len() == 1
            && matches!(t[0].as_str(), "--version" | "-V" | "-v" | "version" | "-vV")
            && VERSIONED_TOOLS.contains(&name)
        {
            return outcome(
                Verdict::allow(display, "only prints its version"),
                Output::default(),
            );
        }
        match reader(name, args, t) {
            Some(Ok(())) => {
                let output = self.reader_output(name, args, t, ctx);
                self.allow_reader(args, ctx, display, output)
            }
            Some(Err(why)) => outcome(Verdict::prompt(display, why), Self::passthrough(ctx, args)),
            None => outcome(
                Verdict::prompt(display, format!("`{name}` is not known to be read-only")),
                Self::passthrough(ctx, args),
            ),
        }
    }

    /// What a reader prints, as far as it matters: decoders taint, `echo` and `printf` print
    /// known text.
    fn reader_output(&self, name: &str, args: &[Word], t: &[String], ctx: &Ctx) -> Output {
        let mut output = Self::passthrough(ctx, args);
        let decodes = match name {
            "base64" | "base32" | "basenc" => {
                has_short(t, 'd') || has_short(t, 'D') || has_any(t, &["--decode"])
            }
            "xxd" => has_short(t, 'r') || has_any(t, &["-revert"]),
            "rev" | "zcat" | "bzcat" | "xzcat" | "zstdcat" => true,
            _ => false,
        };
        if decodes {
            output.taint = Some(format!("decoded data (`{name}`)"));
            return output;
        }
        let static_args = args.iter().all(|a| a.is_static() && !a.has_glob());
        match name {
            "echo" if static_args => {
                let mut newline = true;
                let mut escapes = false;
                let mut words = t;
                while let Some(first) = words.first() {
                    let flags = first.strip_prefix('-').filter(|f| {
                        !f.is_empty() && f.chars().all(|c| matches!(c, 'n' | 'e' | 'E'))
                    });
                    let Some(flags) = flags else { break };
                    newline &= !flags.contains('n');
                    escapes = flags.contains('e');
                    words = &words[1..];
                }
                let mut text = words.join(" ");
                if escapes {
                    text = decode_escapes(&text);
                }
                if newline {
                    text.push('\n');
                }
                output.literal = Some(text);
            }
            "printf" if static_args => {
                if let Some((format, rest)) = t.split_first() {
                    output.literal = match format.as_str() {
                        f if !f.contains('%') => Some(decode_escapes(f)),
                        "%s" | "%b" => Some(rest.join("")),
                        "%s\\n" | "%b\\n" => Some(rest.iter().map(|r| format!("{r}\n")).collect()),
                        _ => None,
                    };
                    if format.starts_with("%b") {
                        output.literal = output.literal.map(|l| decode_escapes(&l));
                    }
                }
            }
            "cat" if t.iter().all(|a| a == "-") => {
                output.literal = ctx.stdin.literal().cloned();
            }
            _ => {}
        }
        output
    }
}

/// Programs that only read: `Some(Ok(()))` when these arguments keep them read-only,
/// `Some(Err(why))` when they make them write or run something, `None` for other programs.
fn reader(name: &str, args: &[Word], t: &[String]) -> Option<Result<(), String>> {
    let operands = || {
        t.iter()
            .filter(|a| !a.starts_with('-') || a.as_str() == "-")
            .count()
    };
    // Operands after options, the values of `value_options` skipped.
    let operands_after = |value_options: &[&str]| {
        let mut count = 0;
        let mut skip = false;
        for a in t {
            if std::mem::take(&mut skip) {
                continue;
            }
            if value_options.contains(&a.as_str()) {
                skip = true;
            } else if !a.starts_with('-') || a == "-" {
                count += 1;
            }
        }
        count
    };
    let deny = |cond: bool, why: &str| if cond { Err(why.to_string()) } else { Ok(()) };
    let result = match name {
        "ls" | "dir" | "vdir" | "cat" | "tac" | "head" | "tail" | "wc" | "pwd" | "echo"
        | "printf" | "which" | "whereis" | "type" | "stat" | "file" | "du" | "df" | "cut"
        | "tr" | "nl" | "diff" | "diff3" | "cmp" | "comm" | "jq" | "grep" | "egrep" | "fgrep"
        | "zgrep" | "zcat" | "bzcat" | "xzcat" | "zstdcat" | "basename" | "dirname"
        | "realpath" | "readlink" | "true" | "false" | ":" | "sleep" | "whoami" | "id"
        | "groups" | "uname" | "arch" | "nproc" | "printenv" | "locale" | "tty" | "test" | "["
        | "seq" | "expr" | "factor" | "column" | "fold" | "fmt" | "paste" | "join" | "rev"
        | "od" | "hexdump" | "strings" | "md5sum" | "sha1sum" | "sha224sum" | "sha256sum"
        | "sha384sum" | "sha512sum" | "b2sum" | "cksum" | "sum" | "expand" | "unexpand" | "ps"
        | "pgrep" | "free" | "uptime" | "cal" | "getconf" | "lscpu" | "lsblk" | "lsof" | "w"
        | "who" | "users" | "logname" | "hash" | "dirs" | "jobs" | "wait" | "set" | "shopt"
        | "shift" | "exit" | "return" | "break" | "continue" | "let" | "read" | "mapfile"
        | "readarray" | "getopts" | "umask" | "ulimit" | "unalias" | "history" | "bat"
        | "batcat" | "eza" | "exa" | "tokei" | "cloc" | "ag" | "numfmt" | "tsort" | "namei"
        | "lsattr" | "getfacl" | "pathchk" | "nm" | "objdump" | "readelf" | "size" | "ldd"
        | "locate" | "whatis" | "apropos" | "tput" | "stty" | "hostnamectl" | "timedatectl"
        | "lsmod" | "dmesg" | "vmstat" | "iostat" | "mpstat" | "pstree" | "lsusb" | "lspci"
        | "ip" | "ss" | "netstat" | "ifconfig" | "route" | "dig" | "nslookup" | "host" => {
            match name {
                "ldd" => Err("`ldd` may run the program it inspects".to_string()),
                "ip" | "route" | "ifconfig" => deny(
                    t.iter().any(|a| {
                        matches!(
                            a.as_str(),
                            "add"
                                | "del"
                                | "delete"
                                | "set"
                                | "flush"
                                | "change"
                                | "replace"
                                | "up"
                                | "down"
                                | "exec"
                                | "-b"
                                | "-batch"
                                | "-force"
                        )
                    }),
                    "changes network settings",
                ),
                "dmesg" => deny(
                    has_short(t, 'c')
                        || has_short(t, 'C')
                        || has_any(t, &["--clear", "--read-clear"]),
                    "clears the kernel log",
                ),
                "history" => deny(
                    t.iter().any(|a| a.starts_with('-')),
                    "changes or writes the shell history",
                ),
                "stty" => deny(operands() > 0, "changes terminal settings"),
                "ss" => deny(
                    has_short(t, 'K') || has_any(t, &["--kill"]),
                    "closes sockets",
                ),
                "hostnamectl" | "timedatectl" => deny(
                    t.iter().any(|a| {
                        !a.starts_with('-')
                            && !matches!(a.as_str(), "status" | "show" | "list-timezones")
                    }),
                    "changes system settings",
                ),
                "file" => deny(
                    has_short(t, 'C') || has_any(t, &["--compile"]),
                    "compiles a magic file",
                ),
                "bat" | "batcat" | "ag" => deny(has_any(t, &["--pager"]), "runs a pager"),
                "cloc" => deny(
                    t.iter().any(|a| {
                        a.starts_with("--report-file")
                            || a.starts_with("--out")
                            || a.starts_with("--sql")
                    }),
                    "writes a report file",
                ),
                _ => Ok(()),
            }
        }
        "sort" => deny(
            has_short(t, 'o') || has_any(t, &["--output", "--compress-program"]),
            "writes its output to a file",
        ),
        "shuf" => deny(
            has_short(t, 'o') || has_any(t, &["--output"]),
            "writes its output to a file",
        ),
        "uniq" => deny(
            operands_after(&["-f", "-s", "-w"]) > 1,
            "writes its output to a file",
        ),
        "tree" => deny(has_short(t, 'o'), "writes its output to a file"),
        "rg" => deny(
            has_any(t, &["--pre", "--hostname-bin", "--search-zip"]) || has_short(t, 'z'),
            "runs other programs (a preprocessor, decompressors or a host-name command)",
        ),
        "fd" | "fdfind" => deny(
            has_any(t, &["-x", "--exec", "-X", "--exec-batch"]),
            "runs a command for each file",
        ),
        "ack" => deny(has_any(t, &["--pager"]), "runs a pager"),
        "date" => deny(
            has_short(t, 's') || has_any(t, &["--set"]),
            "sets the system clock",
        ),
        "hostname" => deny(
            operands() > 0 || has_short(t, 'F') || has_any(t, &["--file"]),
            "sets the host name",
        ),
        "xxd" => deny(
            operands_after(&[
                "-l",
                "-len",
                "-s",
                "-seek",
                "-c",
                "-cols",
                "-g",
                "-groupsize",
                "-o",
                "-n",
                "-name",
            ]) > 1,
            "writes its output to a file",
        ),
        "yes" => Ok(()),
        "base64" | "base32" | "basenc" => deny(
            has_short(t, 'o') || has_any(t, &["--output"]),
            "writes its output to a file",
        ),
        "yq" => deny(
            has_short(t, 'i') || has_any(t, &["--inplace"]),
            "edits files in place",
        ),
        "awk" | "gawk" | "mawk" | "nawk" => awk_read_only(args, t),
        "tar" | "bsdtar" => tar_lists(t),
        "unzip" => deny(
            !t.first().is_some_and(|a| {
                a.starts_with('-')
                    && !a.starts_with("--")
                    && a.chars().skip(1).any(|c| "lZvtpc".contains(c))
            }),
            "extracts files",
        ),
        "pip" | "pip3" => deny(
            !t.first()
                .is_some_and(|a| matches!(a.as_str(), "list" | "show" | "freeze" | "check")),
            "`pip` changes packages",
        ),
        "npm" | "pnpm" | "yarn" => deny(
            !t.first()
                .is_some_and(|a| matches!(a.as_str(), "ls" | "list" | "view" | "why" | "explain")),
            "runs package scripts or changes packages",
        ),
        "go" => deny(
            !t.first()
                .is_some_and(|a| matches!(a.as_str(), "version" | "env" | "doc"))
                || (t.first().is_some_and(|a| a == "env") && has_short(t, 'w')),
            "builds, runs or changes modules",
        ),
        "rustup" => deny(
            !(t.first().is_some_and(|a| a == "show")
                || (t
                    .first()
                    .is_some_and(|a| matches!(a.as_str(), "toolchain" | "target" | "component"))
                    && t.get(1).is_some_and(|a| a == "list"))),
            "changes toolchains",
        ),
        "systemd-detect-virt" | "lsb_release" => Ok(()),
        _ => return None,
    };
    Some(result)
}

/// An awk program that only prints (no `system`, pipes, output redirection or `getline`).
fn awk_read_only(args: &[Word], t: &[String]) -> Result<(), String> {
    let mut i = 0;
    let mut program: Option<&Word> = None;
    while let Some(arg) = args.get(i) {
        let text = &t[i];
        match text.as_str() {
            "-F" | "-v" | "--assign" | "--field-separator" => i += 2,
            "-f" | "--file" | "-i" | "--include" | "-E" | "--exec" => {
                return Err("runs an awk program file".into())
            }
            "--" => {
                program = args.get(i + 1);
                break;
            }
            _ if text.starts_with("-F") || text.starts_with("-v") => i += 1,
            _ if arg.starts_with_dash() && text != "-" => i += 1,
            _ => {
                program = Some(arg);
                break;
            }
        }
    }
    let Some(code) = program.and_then(Word::literal) else {
        return Err("the awk program is only known when it runs".into());
    };
    // `>` writes a file only in a print statement (`print $1 > "out"`); elsewhere it
    // compares. `|` pipes, except in `||`.
    let redirects = code
        .split([';', '{', '}', '\n'])
        .any(|statement| statement.contains("print") && statement.replace(">=", "").contains('>'));
    if code.contains("system")
        || code.replace("||", "").contains('|')
        || code.contains("getline")
        || redirects
    {
        return Err("the awk program may write files or run commands".into());
    }
    Ok(())
}

/// `tar` listing an archive.
fn tar_lists(t: &[String]) -> Result<(), String> {
    let runs = t.iter().any(|a| {
        [
            "--to-command",
            "--use-compress-program",
            "--checkpoint-action",
            "--rsh-command",
            "--info-script",
            "--new-volume-script",
            "-I",
            "-F",
        ]
        .iter()
        .any(|f| a == f || a.starts_with(&format!("{f}=")))
    });
    if runs {
        return Err("`tar` runs a command".into());
    }
    let mode_letters: String = t
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            (a.starts_with('-') && !a.starts_with("--")) || (*i == 0 && !a.starts_with('-'))
        })
        .map(|(_, a)| a.trim_start_matches('-').to_string())
        .collect();
    let lists = mode_letters.contains('t') || t.iter().any(|a| a == "--list");
    let writes = mode_letters.contains(['x', 'c', 'r', 'u', 'A'])
        || t.iter().any(|a| {
            matches!(
                a.as_str(),
                "--extract"
                    | "--get"
                    | "--create"
                    | "--append"
                    | "--update"
                    | "--delete"
                    | "--concatenate"
            )
        });
    if lists && !writes {
        Ok(())
    } else {
        Err("`tar` writes files".into())
    }
}
