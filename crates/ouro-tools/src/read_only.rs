//! Which shell commands only read.
//!
//! Read-only calls may run concurrently with each other. The judgement is deliberately
//! conservative: anything not understood is treated as a writer, which only costs
//! parallelism, never safety.

/// True when `argv` is known to change nothing: a read-only program, or `bash -lc` with a
/// script made only of read-only commands joined by `|`, `&&`, `||` or `;`.
pub fn is_known_read_only(argv: &[String]) -> bool {
    match argv {
        [shell, flag, script]
            if matches!(shell.as_str(), "bash" | "sh" | "zsh")
                && matches!(flag.as_str(), "-c" | "-lc") =>
        {
            match split_script(script) {
                Some(commands) => {
                    !commands.is_empty() && commands.iter().all(|c| is_read_only_simple(c))
                }
                None => false,
            }
        }
        _ => is_read_only_simple(argv),
    }
}

fn is_read_only_simple(argv: &[String]) -> bool {
    let Some((program, args)) = argv.split_first() else {
        return false;
    };
    let has = |flag: &str| args.iter().any(|a| a == flag || a.starts_with(flag));
    match program.as_str() {
        "ls" | "cat" | "head" | "tail" | "wc" | "pwd" | "echo" | "grep" | "rg" | "stat"
        | "file" | "tree" | "which" | "true" | "nl" | "uniq" | "cut" | "du" | "df" | "basename"
        | "dirname" | "realpath" => true,
        "find" => ![
            "-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fls",
        ]
        .iter()
        .any(|f| has(f)),
        "sort" => !has("-o") && !has("--output"),
        "sed" => {
            args.first().is_some_and(|a| a == "-n")
                && !args.iter().any(|a| a.starts_with("-i") || a.contains('w'))
        }
        "git" => matches!(
            args.first().map(String::as_str),
            Some("status" | "log" | "diff" | "show" | "blame" | "rev-parse")
        ),
        _ => false,
    }
}

/// Splits a script into simple commands at `|`, `&&`, `||` and `;`, understanding plain
/// words and single or double quotes without expansions. `None` for anything else
/// (redirections, substitutions, globs, variables, subshells, escapes).
fn split_script(script: &str) -> Option<Vec<Vec<String>>> {
    let mut commands = vec![Vec::new()];
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('$' | '`' | '\\') if c == '"' => return None,
                        Some(other) => word.push(other),
                        None => return None,
                    }
                }
            }
            ' ' | '\t' | '\n' | '|' | '&' | ';' => {
                if in_word {
                    commands.last_mut()?.push(std::mem::take(&mut word));
                    in_word = false;
                }
                let separator = match c {
                    '|' => {
                        if chars.peek() == Some(&'|') {
                            chars.next();
                        }
                        true
                    }
                    '&' => {
                        if chars.next() != Some('&') {
                            return None; // a background job
                        }
                        true
                    }
                    ';' | '\n' => true,
                    _ => false,
                };
                if separator {
                    if commands.last()?.is_empty() {
                        return None;
                    }
                    commands.push(Vec::new());
                }
            }
            '<' | '>' | '$' | '`' | '\\' | '(' | ')' | '*' | '?' | '[' | '{' | '~' | '#' | '!' => {
                return None
            }
            _ => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        commands.last_mut()?.push(word);
    }
    if commands.last().is_some_and(Vec::is_empty) {
        commands.pop();
    }
    Some(commands)
}

#[cfg(test)]
mod tests {
    use super::is_known_read_only;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_readers_are_read_only() {
        assert!(is_known_read_only(&argv(&["ls", "-la"])));
        assert!(is_known_read_only(&argv(&["git", "status"])));
        assert!(is_known_read_only(&argv(&["sed", "-n", "1,20p", "a.rs"])));
        assert!(is_known_read_only(&argv(&[
            "bash",
            "-lc",
            "grep -n 'fn main' src/main.rs | head -5 && git diff"
        ])));
    }

    #[test]
    fn writers_and_anything_unclear_are_not() {
        for words in [
            &["rm", "-rf", "x"][..],
            &["git", "commit", "-m", "x"],
            &["find", ".", "-delete"],
            &["sed", "-i", "s/a/b/", "f"],
            &["sort", "-o", "out", "in"],
            &["bash", "-lc", "cat a > b"],
            &["bash", "-lc", "echo $(rm -rf /)"],
            &["bash", "-lc", "ls; rm x"],
            &["bash", "-lc", "sleep 5 &"],
            &["bash", "-lc", "cat \"$HOME/x\""],
            &["python3", "-c", "print(1)"],
            &[],
        ] {
            assert!(!is_known_read_only(&argv(words)), "{words:?}");
        }
    }
}
