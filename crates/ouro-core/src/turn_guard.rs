//! Keeping a turn from going round in circles.
//!
//! A model that makes the same call and gets the same result will, decoding greedily, make
//! it again: nothing in its prompt changed but one more copy of the exchange. Small models
//! fall into that often (run the failing test, run it again, …). [`TurnGuard`] watches the
//! calls of one turn: a repeat gets a note appended to its result telling the model so,
//! which both informs it and changes the prompt; a call repeated [`MAX_REPEATS`] times with
//! the same result ends the turn.
//!
//! Small models also tend to give up after a failed step and explain to the user what
//! *they* should do, or to stop right after writing a file without running it. For them
//! ([`TurnGuard::new`] with `persistent`), a reply that ends the turn right after a failed
//! call, or with a file change no command has checked since, is answered with a reminder
//! to carry on, at most [`MAX_REMINDERS`] times a turn. (The verification loop to come
//! will make checking a rule for every model; this is the small-model stopgap.)

use std::collections::HashMap;

/// Identical call and result this many times in one turn ends the turn.
pub const MAX_REPEATS: u32 = 4;
/// Reminders to carry on after a failure, per turn.
pub const MAX_REMINDERS: u32 = 2;

/// What the harness tells a model that stopped right after a failed call.
pub const CARRY_ON: &str = "The last tool call failed, so the task is not done yet. Do not \
    explain it to me: find the cause, fix it with the tools, and check again.";

/// What the harness tells a model that stopped with files changed and nothing run since.
pub const CHECK_IT: &str = "You changed files but have not run anything since. Check your \
    work now: run the program or its tests with `shell`.";

/// The tools that change files; `shell` runs (and so checks) things.
const EDIT_TOOLS: [&str; 3] = ["apply_patch", "edit_file", "write_file"];

/// What becomes of one call's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Review {
    /// Send this output to the model.
    Output(String),
    /// The call has been repeated too often: end the turn.
    Stuck { tool: String, times: u32 },
}

/// The state of one turn.
#[derive(Debug, Default)]
pub struct TurnGuard {
    persistent: bool,
    /// How often each (tool, arguments, output, success) has been seen this turn.
    seen: HashMap<(String, String, String, bool), u32>,
    last_call_failed: bool,
    /// A file was changed and no command has run since.
    unchecked_edit: bool,
    reminders: u32,
}

impl TurnGuard {
    /// A guard for a new turn; `persistent` turns on the reminders to carry on.
    pub fn new(persistent: bool) -> TurnGuard {
        TurnGuard {
            persistent,
            ..TurnGuard::default()
        }
    }

    /// Looks at a call's result before it goes to the model.
    pub fn review(&mut self, tool: &str, arguments: &str, output: String, success: bool) -> Review {
        self.last_call_failed = !success;
        if tool == "shell" {
            self.unchecked_edit = false;
        } else if success && EDIT_TOOLS.contains(&tool) {
            self.unchecked_edit = true;
        }
        let key = (
            tool.to_string(),
            canonical_json(arguments),
            output.clone(),
            success,
        );
        let times = self.seen.entry(key).or_insert(0);
        *times += 1;
        match *times {
            1 => Review::Output(output),
            n if n >= MAX_REPEATS => Review::Stuck {
                tool: tool.to_string(),
                times: n,
            },
            n => Review::Output(format!(
                "{output}\n\n[ouro: this is call number {n} of exactly this, with exactly this \
                 result. Repeating it changes nothing: do something different.]"
            )),
        }
    }

    /// The model ended its reply without a call. Returns what to tell it if the turn should
    /// go on instead of ending.
    pub fn on_final_reply(&mut self) -> Option<&'static str> {
        if !self.persistent || self.reminders == MAX_REMINDERS {
            return None;
        }
        // Each reminder is for one failure or one unchecked change; the next needs a new one.
        let reminder = if std::mem::take(&mut self.last_call_failed) {
            CARRY_ON
        } else if std::mem::take(&mut self.unchecked_edit) {
            CHECK_IT
        } else {
            return None;
        };
        self.reminders += 1;
        Some(reminder)
    }
}

/// Arguments compared by meaning, not spacing: `{"a":1}` and `{ "a": 1 }` are one call.
fn canonical_json(arguments: &str) -> String {
    serde_json::from_str::<serde_json::Value>(arguments)
        .map(|value| value.to_string())
        .unwrap_or_else(|_| arguments.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_get_a_note_then_end_the_turn() {
        let mut guard = TurnGuard::new(false);
        let out = |s: &str| s.to_string();
        assert_eq!(
            guard.review("shell", r#"{"command":["ls"]}"#, out("a"), true),
            Review::Output(out("a"))
        );
        // Same meaning, other spacing: a repeat.
        let Review::Output(second) =
            guard.review("shell", "{ \"command\": [\"ls\"] }", out("a"), true)
        else {
            panic!("second call ended the turn");
        };
        assert!(
            second.starts_with("a\n\n[ouro: this is call number 2"),
            "{second}"
        );
        // Another result, or other arguments, are new calls.
        assert_eq!(
            guard.review("shell", r#"{"command":["ls"]}"#, out("b"), true),
            Review::Output(out("b"))
        );
        assert_eq!(
            guard.review("shell", r#"{"command":["ls","-a"]}"#, out("a"), true),
            Review::Output(out("a"))
        );
        assert!(matches!(
            guard.review("shell", r#"{"command":["ls"]}"#, out("a"), true),
            Review::Output(_)
        ));
        assert_eq!(
            guard.review("shell", r#"{"command":["ls"]}"#, out("a"), true),
            Review::Stuck {
                tool: "shell".into(),
                times: MAX_REPEATS
            }
        );
    }

    #[test]
    fn reminders_only_after_a_failure_and_only_so_often() {
        let mut quiet = TurnGuard::new(false);
        quiet.review("shell", "{}", "boom".into(), false);
        assert_eq!(quiet.on_final_reply(), None);

        let mut guard = TurnGuard::new(true);
        assert_eq!(guard.on_final_reply(), None, "nothing failed yet");
        guard.review("shell", "{}", "ok".into(), true);
        assert_eq!(guard.on_final_reply(), None, "the last call succeeded");
        for n in 0..MAX_REMINDERS {
            guard.review("shell", &format!("{{\"n\":{n}}}"), "boom".into(), false);
            assert_eq!(guard.on_final_reply(), Some(CARRY_ON));
            assert_eq!(guard.on_final_reply(), None, "one reminder per failure");
        }
        guard.review("shell", "{\"n\":99}", "boom".into(), false);
        assert_eq!(guard.on_final_reply(), None, "reminders used up");
    }

    #[test]
    fn a_change_nothing_has_run_since_gets_a_reminder_to_check_it() {
        let mut guard = TurnGuard::new(true);
        guard.review("write_file", "{}", "ok".into(), true);
        guard.review("read_file", "{}", "ok".into(), true);
        assert_eq!(guard.on_final_reply(), Some(CHECK_IT));
        assert_eq!(guard.on_final_reply(), None, "one reminder per change");

        guard.review("edit_file", "{}", "ok".into(), true);
        guard.review("shell", "{}", "ran".into(), true);
        assert_eq!(guard.on_final_reply(), None, "the change was run since");

        guard.review("edit_file", "{\"a\":1}", "no match".into(), false);
        assert_eq!(
            guard.on_final_reply(),
            Some(CARRY_ON),
            "a failed edit is a failure"
        );
    }
}
