//! The approval flow: a session with someone to ask (driven through the core library, as the
//! TUI will) and `ouro exec`, where nobody can answer.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::*;
use ouro_core::{Approver, Config, Overrides, Session};
use ouro_protocol::{ApprovalDecision, ApprovalKind, ApprovalRequest, Event};
use ouro_test_support::{Reply, Wire};
use serde_json::{json, Value};

/// Answers from a script and remembers what it was asked.
#[derive(Clone)]
struct ScriptedApprover {
    answers: Arc<Mutex<Vec<ApprovalDecision>>>,
    asked: Arc<Mutex<Vec<ApprovalRequest>>>,
}

impl ScriptedApprover {
    fn new(answers: &[ApprovalDecision]) -> Self {
        ScriptedApprover {
            answers: Arc::new(Mutex::new(answers.iter().rev().copied().collect())),
            asked: Arc::default(),
        }
    }

    fn asked(&self) -> Vec<ApprovalRequest> {
        self.asked.lock().unwrap().clone()
    }
}

impl Approver for ScriptedApprover {
    fn decide<'a>(
        &'a self,
        request: &'a ApprovalRequest,
    ) -> ouro_tools::BoxFuture<'a, ApprovalDecision> {
        self.asked.lock().unwrap().push(request.clone());
        let answer = self
            .answers
            .lock()
            .unwrap()
            .pop()
            .expect("asked more often than scripted");
        Box::pin(async move { answer })
    }
}

fn session(env: &TestEnv, overrides: Overrides, approver: &ScriptedApprover) -> Session {
    std::env::set_var("OURO_TEST_API_KEY", "sk-test-123");
    let cwd = env.work.path().canonicalize().unwrap();
    let mut config = Config::load(env.home.path(), &cwd, &overrides).unwrap();
    config.sandbox_helper = PathBuf::from(env!("CARGO_BIN_EXE_ouro"));
    let mut session = Session::create(config).unwrap();
    session.set_approver(Box::new(approver.clone()));
    session
}

fn run_turn(session: &mut Session, prompt: &str) -> (Result<(), String>, Vec<Event>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut events = Vec::new();
    let result = runtime.block_on(async {
        let mut emit = |event: Event| events.push(event);
        session
            .run_turn(prompt, &mut emit)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    (result, events)
}

fn tool_output(body: &Value, call_id: &str) -> String {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool" && m["tool_call_id"] == call_id)
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn outside_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("approval-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn touch(call_id: &str, path: &str) -> Reply {
    Reply::call(call_id, "shell", json!({"command": ["touch", path]}))
}

#[test]
fn untrusted_asks_and_remembers_session_approvals() {
    let env = TestEnv::new(
        Wire::Chat,
        &[
            touch("c1", "once.txt"),
            touch("c2", "once.txt"),
            touch("c3", "always.txt"),
            touch("c4", "always.txt"),
            touch("c5", "denied.txt"),
            Reply::text("done"),
        ],
    );
    let approver = ScriptedApprover::new(&[
        ApprovalDecision::ApprovedOnce,
        ApprovalDecision::ApprovedOnce,
        ApprovalDecision::ApprovedForSession,
        ApprovalDecision::Denied,
    ]);
    let overrides = Overrides {
        approval_policy: Some(ouro_core::ApprovalPolicy::Untrusted),
        ..Overrides::default()
    };
    let mut session = session(&env, overrides, &approver);
    let (result, events) = run_turn(&mut session, "make files");
    assert_eq!(result, Ok(()));

    let asked = approver.asked();
    let commands: Vec<&str> = asked.iter().map(|r| r.command.as_str()).collect();
    // c4 repeats a command approved for the session: not asked again.
    assert_eq!(
        commands,
        [
            "touch once.txt",
            "touch once.txt",
            "touch always.txt",
            "touch denied.txt"
        ]
    );
    assert!(asked.iter().all(|r| r.kind == ApprovalKind::Command));
    assert!(env.path("once.txt").exists() && env.path("always.txt").exists());
    assert!(!env.path("denied.txt").exists());
    let requested = events
        .iter()
        .filter(|e| matches!(e, Event::ApprovalRequested(_)))
        .count();
    assert_eq!(requested, 4);
    let last = &env.server.requests()[5].body;
    assert!(tool_output(last, "c5").contains("the user declined"));
}

#[test]
fn abort_stops_the_turn_and_leaves_it_resumable() {
    let env = TestEnv::new(Wire::Chat, &[touch("c1", "x.txt"), Reply::text("unused")]);
    let approver = ScriptedApprover::new(&[ApprovalDecision::Abort]);
    let overrides = Overrides {
        approval_policy: Some(ouro_core::ApprovalPolicy::Untrusted),
        ..Overrides::default()
    };
    let mut session = session(&env, overrides, &approver);
    let (result, _) = run_turn(&mut session, "make a file");
    assert!(result.unwrap_err().contains("stopped by the user"));
    assert!(!env.path("x.txt").exists());
    let record = std::fs::read_to_string(session.rollout_path()).unwrap();
    assert!(record.contains("turn_aborted"), "{record}");
    assert!(record.contains("function_call_output"), "{record}");
}

#[test]
fn on_request_escalation_runs_outside_the_sandbox_once_approved() {
    let outside = outside_dir("escalate");
    let target = outside.join("made.txt");
    let escalate = |id: &str| {
        Reply::call(
            id,
            "shell",
            json!({"command": ["touch", target.to_str().unwrap()],
                   "with_escalated_permissions": true,
                   "justification": "write the build cache"}),
        )
    };
    let env = TestEnv::new(
        Wire::Chat,
        &[
            escalate("denied"),
            escalate("approved"),
            Reply::text("done"),
        ],
    );
    let approver =
        ScriptedApprover::new(&[ApprovalDecision::Denied, ApprovalDecision::ApprovedOnce]);
    let overrides = Overrides {
        approval_policy: Some(ouro_core::ApprovalPolicy::OnRequest),
        ..Overrides::default()
    };
    let mut session = session(&env, overrides, &approver);
    let (result, _) = run_turn(&mut session, "escalate");
    assert_eq!(result, Ok(()));
    let asked = approver.asked();
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[0].kind, ApprovalKind::Unsandboxed);
    assert!(asked[0].reason.contains("write the build cache"));
    assert!(
        target.exists(),
        "the approved escalation ran outside the sandbox"
    );
    let body = &env.server.requests()[1].body;
    assert!(tool_output(body, "denied").contains("the user declined"));
    std::fs::remove_dir_all(outside).unwrap();
}

#[test]
fn on_failure_offers_to_rerun_what_the_sandbox_blocked() {
    let outside = outside_dir("on-failure");
    let target = outside.join("made.txt");
    let env = TestEnv::new(
        Wire::Chat,
        &[touch("c1", target.to_str().unwrap()), Reply::text("done")],
    );
    let approver = ScriptedApprover::new(&[ApprovalDecision::ApprovedOnce]);
    let overrides = Overrides {
        approval_policy: Some(ouro_core::ApprovalPolicy::OnFailure),
        ..Overrides::default()
    };
    let mut session = session(&env, overrides, &approver);
    let (result, _) = run_turn(&mut session, "write outside");
    assert_eq!(result, Ok(()));
    let asked = approver.asked();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].kind, ApprovalKind::Unsandboxed);
    assert!(target.exists());
    let body = &env.server.requests()[1].body;
    assert!(tool_output(body, "c1").contains("Exit code: 0"));
    std::fs::remove_dir_all(outside).unwrap();
}

#[test]
fn exec_denies_what_needs_approval_and_says_so() {
    let outside = outside_dir("exec");
    let target = outside.join("made.txt");
    let env = TestEnv::new(
        Wire::Responses,
        &[
            Reply::call(
                "esc",
                "shell",
                json!({"command": ["touch", target.to_str().unwrap()],
                       "with_escalated_permissions": true, "justification": "why not"}),
            ),
            Reply::text("ok"),
        ],
    );
    let output = env.run(&["exec", "--json", "-a", "on-request", "escalate"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!target.exists());
    let events = json_events(&output);
    let request = events
        .iter()
        .find(|e| e["type"] == "approval.requested")
        .expect("the request is visible");
    assert_eq!(request["kind"], "unsandboxed");
    let declined = events
        .iter()
        .find(|e| e["type"] == "item.completed" && e["item"]["type"] == "command_execution")
        .unwrap();
    assert_eq!(declined["item"]["status"], "declined");
    let body = &env.server.requests()[1].body;
    let answer = body["input"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call_output")
        .unwrap()["output"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(answer.contains("nobody can approve"), "{answer}");
    std::fs::remove_dir_all(outside).unwrap();
}

fn call_output(env: &TestEnv, request: usize, call_id: &str) -> String {
    env.server.requests()[request].body["input"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call_output" && i["call_id"] == call_id)
        .and_then(|i| i["output"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn destructive_commands_never_run_unapproved_even_with_policy_never() {
    let home = tempfile::tempdir().unwrap();
    let victim = home.path().join("precious.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let env = TestEnv::new(
        Wire::Responses,
        &[
            Reply::call(
                "rm",
                "shell",
                json!({"command": ["bash", "-lc", "rm -rf ~"]}),
            ),
            Reply::text("ok"),
        ],
    );
    let output = env
        .command(&[
            "exec",
            "--json",
            "-s",
            "danger-full-access",
            "-a",
            "on-request",
            "clean up",
        ])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(victim.exists(), "rm -rf ~ ran");
    let answer = call_output(&env, 1, "rm");
    assert!(answer.contains("home directory"), "{answer}");
    assert!(json_events(&output)
        .iter()
        .any(|e| e["type"] == "approval.requested"));

    // With `never`, nobody is even asked.
    let env = TestEnv::new(
        Wire::Responses,
        &[
            Reply::call("rm", "shell", json!({"command": ["rm", "-rf", "/"]})),
            Reply::text("ok"),
        ],
    );
    let output = env.run(&["exec", "--json", "-a", "never", "clean up"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!json_events(&output)
        .iter()
        .any(|e| e["type"] == "approval.requested"));
    assert!(call_output(&env, 1, "rm").contains("approval_policy is never"));
}

#[test]
fn user_rules_apply_and_project_rules_can_only_tighten() {
    let env = TestEnv::new(
        Wire::Responses,
        &[
            Reply::call("push", "shell", json!({"command": ["git", "push"]}))
                .with_call("touch", "shell", json!({"command": ["touch", "made.txt"]}))
                .with_call("status", "shell", json!({"command": ["git", "status"]})),
            Reply::text("ok"),
        ],
    );
    std::fs::write(
        env.home.path().join("rules.toml"),
        "[[rule]]\npattern = [\"git\", \"push\"]\ndecision = \"forbid\"\nreason = \"we push by hand\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(env.path(".ouro")).unwrap();
    std::fs::write(
        env.path(".ouro/rules.toml"),
        "[[rule]]\npattern = [\"touch\"]\ndecision = \"allow\"\nreason = \"the repo says so\"\n\
         [[rule]]\npattern = [\"git\", \"status\"]\ndecision = \"prompt\"\nreason = \"the repo is shy\"\n",
    )
    .unwrap();
    let output = env.run(&["exec", "-a", "untrusted", "go"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(call_output(&env, 1, "push").contains("we push by hand"));
    // The repository's own allow rule is not honoured...
    assert!(!env.path("made.txt").exists());
    assert!(call_output(&env, 1, "touch").contains("Not run"));
    // ...but its stricter rule is.
    assert!(call_output(&env, 1, "status").contains("the repo is shy"));
}
