//! Which shell commands only read.
//!
//! Read-only calls may run concurrently with each other and, under the `untrusted` approval
//! policy, without asking. The judgement is the command-safety classifier's ([`crate::safety`]):
//! anything it does not allow is treated as a writer, which only costs parallelism or a
//! question, never safety.

use std::path::PathBuf;

use crate::safety::{classify, Decision};

/// True when the classifier allows `argv`: a read-only program, or a script (`bash -lc …`)
/// made only of read-only commands.
pub fn is_known_read_only(argv: &[String]) -> bool {
    // Whether a command only reads does not depend on the workspace (only how dangerous a
    // writer is does), so the current directory serves.
    let workspace = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    classify(argv, &workspace).decision == Decision::Allow
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
            &["python3", "-c", "print(1)"],
            &[],
        ] {
            assert!(!is_known_read_only(&argv(words)), "{words:?}");
        }
    }
}
