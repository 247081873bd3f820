//! Recognising `apply_patch` run through the shell tool.
//!
//! Models trained on Codex often call `apply_patch` as a shell command with the patch in a
//! heredoc. There is no such binary in the sandbox; the harness intercepts the call and
//! applies the patch itself, with the same checks as the apply_patch tool. Only a command
//! that is *nothing but* an apply_patch invocation is intercepted: anything chained after
//! it would otherwise be silently dropped.

/// An `apply_patch` invocation found in a shell command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellApplyPatch {
    pub patch: String,
    /// The directory from a leading `cd <dir> &&`, if any (relative to the command's cwd).
    pub workdir: Option<String>,
}

const COMMANDS: [&str; 2] = ["apply_patch", "applypatch"];
const SHELLS: [&str; 4] = ["bash", "sh", "zsh", "dash"];

fn base_name(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

/// Recognises `["apply_patch", patch]`, `["bash", "-lc", script]` and `[script]` where the
/// script is `[cd <dir> &&] apply_patch <<'EOF' ... EOF` (or the patch as one quoted word).
pub fn parse_shell_apply_patch(argv: &[String]) -> Option<ShellApplyPatch> {
    match argv {
        [program, patch] if COMMANDS.contains(&base_name(program)) => Some(ShellApplyPatch {
            patch: patch.clone(),
            workdir: None,
        }),
        [script] => parse_script(script),
        [shell, flags @ .., script] if SHELLS.contains(&base_name(shell)) && !flags.is_empty() => {
            let flags_ok = flags.iter().all(|f| {
                f.len() > 1 && f.starts_with('-') && f[1..].chars().all(|c| c.is_ascii_alphabetic())
            });
            let has_c = flags.last().is_some_and(|f| f.contains('c'));
            if flags_ok && has_c {
                parse_script(script)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn unquote(word: &str) -> &str {
    for q in ['\'', '"'] {
        if word.len() >= 2 && word.starts_with(q) && word.ends_with(q) {
            return &word[1..word.len() - 1];
        }
    }
    word
}

fn parse_script(script: &str) -> Option<ShellApplyPatch> {
    let mut rest = script.trim_start();
    let mut workdir = None;
    if let Some(after_cd) = rest.strip_prefix("cd ") {
        let (dir, after) = after_cd.split_once("&&")?;
        let dir = unquote(dir.trim());
        if dir.is_empty() || dir.contains(['\n', ';', '|', '&']) {
            return None;
        }
        workdir = Some(dir.to_string());
        rest = after.trim_start();
    }
    let command = COMMANDS.iter().find(|c| rest.starts_with(**c))?;
    let args = &rest[command.len()..];
    if !args.starts_with([' ', '\t', '<']) {
        return None;
    }
    let args = args.trim_start_matches([' ', '\t']);
    let patch = if let Some(heredoc) = args.strip_prefix("<<") {
        parse_heredoc(heredoc)?
    } else {
        parse_quoted_word(args)?
    };
    Some(ShellApplyPatch { patch, workdir })
}

/// `heredoc` is what follows `<<`: `[-]DELIM` or a quoted delimiter, a newline, the body,
/// and a line holding only the delimiter.
fn parse_heredoc(heredoc: &str) -> Option<String> {
    let (strip_tabs, spec) = match heredoc.strip_prefix('-') {
        Some(spec) => (true, spec),
        None => (false, heredoc),
    };
    let spec = spec.trim_start_matches([' ', '\t']);
    let (delimiter, after) = match spec.chars().next()? {
        quote @ ('\'' | '"') => {
            let close = spec[1..].find(quote)? + 1;
            (&spec[1..close], &spec[close + 1..])
        }
        _ => {
            let end = spec
                .find(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '<' | '>'))
                .unwrap_or(spec.len());
            (&spec[..end], &spec[end..])
        }
    };
    if delimiter.is_empty() {
        return None;
    }
    let (first_line, body) = after.split_once('\n')?;
    if !first_line.trim().is_empty() {
        return None;
    }
    let mut patch = String::new();
    let mut pieces = body.split_inclusive('\n');
    for piece in pieces.by_ref() {
        let mut line = piece.trim_end_matches(['\n', '\r']);
        if strip_tabs {
            line = line.trim_start_matches('\t');
        }
        if line == delimiter {
            // Anything after the heredoc would be another command; leave those to the shell.
            let trailing: String = pieces.collect();
            return trailing.trim().is_empty().then_some(patch);
        }
        patch.push_str(piece);
    }
    // No closing delimiter: the shell would read to the end of the script.
    Some(patch)
}

/// The patch as one single- or double-quoted shell word, with nothing after it.
fn parse_quoted_word(args: &str) -> Option<String> {
    let mut chars = args.char_indices();
    let (_, quote) = chars.next()?;
    let mut word = String::new();
    let mut end = None;
    match quote {
        '\'' => {
            for (i, c) in chars {
                if c == '\'' {
                    end = Some(i + 1);
                    break;
                }
                word.push(c);
            }
        }
        '"' => {
            let mut escaped = false;
            for (i, c) in chars {
                if escaped {
                    if !matches!(c, '"' | '\\' | '$' | '`' | '\n') {
                        word.push('\\');
                    }
                    if c != '\n' {
                        word.push(c);
                    }
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    end = Some(i + 1);
                    break;
                } else {
                    word.push(c);
                }
            }
        }
        _ => return None,
    }
    let end = end?;
    args[end..].trim().is_empty().then_some(word)
}
