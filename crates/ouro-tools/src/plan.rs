//! `update_plan`: the model keeps an explicit, visible plan.
//!
//! The tool itself only validates and acknowledges; the core turns each accepted plan into
//! the turn's `todo_list` item (started on the first call, updated on later ones, completed
//! with the turn), so every front end shows the plan as it evolves.

use ouro_protocol::{ApprovalKind, ThreadItemDetails, TodoItem};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::{
    parse_arguments, spec_for, BoxFuture, Invocation, ToolContext, ToolHandler, ToolResult,
};

const DESCRIPTION: &str = "Records your plan for the task as a short list of steps, each \
    pending, in_progress or completed; at most one step is in progress. Call it when you \
    start a multi-step task and again whenever a step's status changes.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum StepStatus {
    Pending,
    InProgress,
    Completed,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PlanStep {
    /// What the step does, in a few words.
    step: String,
    status: StepStatus,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct UpdatePlanArgs {
    /// Why the plan changed, if it did.
    #[serde(default)]
    explanation: Option<String>,
    /// The whole plan, in order.
    plan: Vec<PlanStep>,
}

pub(crate) struct UpdatePlanTool;

impl ToolHandler for UpdatePlanTool {
    fn spec(&self) -> ouro_protocol::ToolSpec {
        spec_for::<UpdatePlanArgs>("update_plan", DESCRIPTION)
    }

    fn prepare(&self, arguments: &str) -> Result<Box<dyn Invocation>, String> {
        let args: UpdatePlanArgs = parse_arguments(
            "update_plan",
            arguments,
            r#"{"plan": [{"step": "Read the failing test", "status": "in_progress"}, {"step": "Fix the bug", "status": "pending"}]}"#,
        )?;
        if args.plan.is_empty() {
            return Err(
                "invalid arguments for `update_plan`: `plan` is empty; list at least one step"
                    .into(),
            );
        }
        if let Some(blank) = args.plan.iter().position(|s| s.step.trim().is_empty()) {
            return Err(format!(
                "invalid arguments for `update_plan`: step {} has no text",
                blank + 1
            ));
        }
        let in_progress = args
            .plan
            .iter()
            .filter(|s| s.status == StepStatus::InProgress)
            .count();
        if in_progress > 1 {
            return Err(format!(
                "invalid arguments for `update_plan`: {in_progress} steps are in_progress; at most one may be"
            ));
        }
        Ok(Box::new(PlanUpdate(args)))
    }
}

#[derive(Debug)]
struct PlanUpdate(UpdatePlanArgs);

impl Invocation for PlanUpdate {
    fn is_read_only(&self) -> bool {
        true
    }

    fn approval_subject(&self) -> (ApprovalKind, String) {
        (ApprovalKind::Command, "update_plan".into())
    }

    fn execute<'a>(&'a self, _ctx: &'a ToolContext) -> BoxFuture<'a, ToolResult> {
        let items = self
            .0
            .plan
            .iter()
            .map(|s| TodoItem {
                text: s.step.clone(),
                completed: s.status == StepStatus::Completed,
            })
            .collect();
        let done = self
            .0
            .plan
            .iter()
            .filter(|s| s.status == StepStatus::Completed)
            .count();
        let mut output = format!(
            "Plan updated: {done} of {} steps completed.",
            self.0.plan.len()
        );
        if let Some(explanation) = &self.0.explanation {
            output.push_str(&format!(" ({explanation})"));
        }
        Box::pin(async move {
            ToolResult {
                output,
                success: true,
                item: Some(ThreadItemDetails::TodoList { items }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepare(arguments: &str) -> Result<Box<dyn Invocation>, String> {
        UpdatePlanTool.prepare(arguments)
    }

    #[test]
    fn at_most_one_step_in_progress() {
        let err = prepare(
            r#"{"plan":[{"step":"a","status":"in_progress"},{"step":"b","status":"in_progress"}]}"#,
        )
        .unwrap_err();
        assert!(err.contains("2 steps are in_progress"), "{err}");
        assert!(prepare(r#"{"plan":[]}"#).unwrap_err().contains("empty"));
        let err = prepare(r#"{"plan":[{"step":"a","status":"done"}]}"#).unwrap_err();
        assert!(err.contains("unknown variant `done`"), "{err}");
    }

    #[test]
    fn schema_lists_the_statuses() {
        let spec = UpdatePlanTool.spec();
        let text = spec.parameters.to_string();
        for status in ["pending", "in_progress", "completed"] {
            assert!(text.contains(status), "{text}");
        }
        assert_eq!(spec.parameters["required"], serde_json::json!(["plan"]));
    }
}
