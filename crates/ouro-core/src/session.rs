//! A session and its turns: the agent loop.
//!
//! A turn sends the history to the model, records what it answers, runs the tools it calls,
//! appends their outputs and asks again, until the model answers without calling a tool.
//! History only grows (DESIGN.md's append-only rule): each request is the previous one plus
//! new items, and every item is in the rollout before the next request is sent.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use futures_util::future::join_all;
use ouro_model::{ModelClient, ModelError, ModelProvider, WireApi};
use ouro_protocol::{
    ApprovalDecision, ApprovalKind, ApprovalRequest, ErrorInfo, Event, ModelEvent, Prompt,
    ResponseItem, Role, ThreadItem, ThreadItemDetails, TokenUsage, ToolSpec,
};
use ouro_tools::safety::{self, Assessment, Decision, Rules};
use ouro_tools::{PreparedCall, ToolContext, ToolRegistry, ToolResult, ToolSet};

use crate::approval::{blocked_by_sandbox, Approver};
use crate::config::{Config, ToolSetSize};
use crate::prompt::{self, PromptFamily};
use crate::rollout::{self, Record, RolloutError, RolloutRecorder, SessionMeta};
use crate::turn_guard::{Review, TurnGuard};
use ouro_tools::{ApprovalPolicy, SandboxMode};

/// What a completed turn produced.
#[derive(Debug, Clone, Default)]
pub struct TurnOutcome {
    /// The model's final answer.
    pub last_message: Option<String>,
    pub usage: TokenUsage,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Rollout(#[from] RolloutError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("the model stream ended without completing the response")]
    IncompleteResponse,
    #[error("stopped by the user at an approval request")]
    Aborted,
    #[error(
        "the model made the same `{tool}` call with the same result {times} times; the turn was \
         stopped (a larger model, or a more specific task, may get further)"
    )]
    Stuck { tool: String, times: u32 },
}

/// Whether a call may run, settled before it does.
enum Gate {
    Run { sandboxed: bool },
    Decline(String),
    Abort,
}

pub struct Session {
    meta: SessionMeta,
    config: Config,
    model: Arc<dyn ModelProvider>,
    registry: ToolRegistry,
    /// The specs of `registry`, computed once: every request sends the same list.
    tools: Vec<ToolSpec>,
    history: Vec<ResponseItem>,
    /// The turn's plan as front ends see it, once the model has made one.
    plan_item: Option<ThreadItem>,
    /// Who answers approval requests; nobody in `ouro exec`.
    approver: Option<Box<dyn Approver>>,
    /// What a person approved for the rest of the session.
    session_approvals: HashSet<(ApprovalKind, String)>,
    /// The user's and the workspace's command rules.
    rules: Rules,
    recorder: RolloutRecorder,
    tool_ctx: ToolContext,
    next_item_id: u64,
}

impl Session {
    /// Starts a new session and its rollout file.
    pub fn create(config: Config) -> Result<Session, SessionError> {
        let model = connect(&config)?;
        let now = Utc::now();
        let meta = SessionMeta {
            id: uuid::Uuid::now_v7().to_string(),
            created_at: now,
            cwd: config.cwd.clone(),
            model: config.model.clone(),
            model_provider: config.provider_id.clone(),
            instructions: prompt::instructions(&config, now)?,
            ouro_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let recorder = RolloutRecorder::create(&config.ouro_home, &meta)?;
        Self::assemble(config, model, meta, Vec::new(), recorder)
    }

    /// Continues the session stored at `path` with its whole history. Returns warnings about
    /// lines that could not be read.
    pub fn resume(config: Config, path: &Path) -> Result<(Session, Vec<String>), SessionError> {
        let model = connect(&config)?;
        let loaded = rollout::load(path)?;
        let history: Vec<ResponseItem> = loaded.items().cloned().collect();
        let recorder = RolloutRecorder::reopen(path)?;
        let mut session = Self::assemble(config, model, loaded.meta, history, recorder)?;
        // A crash or interrupt may have left calls without outputs; providers reject that.
        session.answer_dangling_calls("the session ended before this call finished")?;
        let changes = prompt::changed_settings(
            &session.meta.instructions,
            &prompt::environment_context(&session.config, Utc::now()),
        );
        if !changes.is_empty() {
            // The instructions stay byte-identical; what changed is news, told as a message.
            session.push(ResponseItem::user(format!(
                "<environment_update>\nSettings changed since this session started:\n{}\n</environment_update>",
                changes.join("\n")
            )))?;
        }
        Ok((session, loaded.warnings))
    }

    fn assemble(
        config: Config,
        model: Arc<dyn ModelProvider>,
        meta: SessionMeta,
        history: Vec<ResponseItem>,
        recorder: RolloutRecorder,
    ) -> Result<Session, SessionError> {
        let rules = Rules::for_workspace(&config.ouro_home, &config.cwd)
            .map_err(|e| SessionError::Config(crate::config::ConfigError::Invalid(e)))?;
        let tool_ctx = ToolContext {
            cwd: config.cwd.clone(),
            sandbox_policy: config.sandbox_policy(),
            sandbox_helper: config.sandbox_helper.clone(),
            env: config
                .shell_environment_policy
                .apply(std::env::vars_os(), config.sandbox_mode.as_str()),
            output_cap: config.tool_output_max_bytes,
            default_timeout: config.shell_timeout,
        };
        let registry = ToolRegistry::with(ToolSet {
            edit: config.edit_tool,
            escalation: config.approval_policy == ApprovalPolicy::OnRequest,
            full: config.tool_set == ToolSetSize::Full,
        });
        Ok(Session {
            meta,
            config,
            model,
            tools: registry.specs(),
            registry,
            history,
            plan_item: None,
            approver: None,
            session_approvals: HashSet::new(),
            rules,
            recorder,
            tool_ctx,
            next_item_id: 0,
        })
    }

    /// Lets `approver` answer approval requests; without one they are denied.
    pub fn set_approver(&mut self, approver: Box<dyn Approver>) {
        self.approver = Some(approver);
    }

    pub fn id(&self) -> &str {
        &self.meta.id
    }

    pub fn rollout_path(&self) -> &Path {
        self.recorder.path()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs one turn for `input`. Events go to `emit` as they happen. Dropping the returned
    /// future cancels the model stream and kills any running command; call
    /// [`Session::abort_turn`] afterwards to record that.
    pub async fn run_turn(
        &mut self,
        input: &str,
        emit: &mut (dyn FnMut(Event) + Send),
    ) -> Result<TurnOutcome, SessionError> {
        emit(Event::TurnStarted {});
        self.plan_item = None;
        let result = self.turn_loop(input, emit).await;
        if let Some(plan) = self.plan_item.take() {
            emit(Event::ItemCompleted { item: plan });
        }
        match result {
            Ok(outcome) => {
                emit(Event::TurnCompleted {
                    usage: outcome.usage,
                });
                Ok(outcome)
            }
            Err(err) => {
                emit(Event::TurnFailed {
                    error: ErrorInfo {
                        message: err.to_string(),
                    },
                });
                self.abort_turn(&format!("failed: {err}"))?;
                Err(err)
            }
        }
    }

    async fn turn_loop(
        &mut self,
        input: &str,
        emit: &mut (dyn FnMut(Event) + Send),
    ) -> Result<TurnOutcome, SessionError> {
        self.push(ResponseItem::user(input))?;
        let mut outcome = TurnOutcome::default();
        let mut guard = TurnGuard::new(self.config.prompt_family == PromptFamily::Small);
        loop {
            let (items, usage) = self.sample(emit).await?;
            outcome.usage.add(&usage);
            let mut calls = Vec::new();
            // Each call's tool and arguments, in the same order.
            let mut called = Vec::new();
            for item in items {
                match &item {
                    ResponseItem::Message {
                        role: Role::Assistant,
                        text,
                    } => {
                        outcome.last_message = Some(text.clone());
                        let details = ThreadItemDetails::AgentMessage { text: text.clone() };
                        emit(Event::ItemCompleted {
                            item: self.new_item(details),
                        });
                    }
                    ResponseItem::Reasoning { text } => {
                        let details = ThreadItemDetails::Reasoning { text: text.clone() };
                        emit(Event::ItemCompleted {
                            item: self.new_item(details),
                        });
                    }
                    ResponseItem::FunctionCall {
                        call_id,
                        name,
                        arguments,
                    } => {
                        called.push((name.clone(), arguments.clone()));
                        calls.push((call_id.clone(), self.registry.prepare(name, arguments)));
                    }
                    _ => {}
                }
                self.push(item)?;
            }
            if calls.is_empty() {
                match guard.on_final_reply() {
                    Some(reminder) => {
                        self.push(ResponseItem::user(reminder))?;
                        continue;
                    }
                    None => return Ok(outcome),
                }
            }
            let results = self.run_calls(calls, emit).await?;
            let mut stuck = None;
            for ((call_id, result), (name, arguments)) in results.into_iter().zip(called) {
                let output = match guard.review(&name, &arguments, result.output, result.success) {
                    Review::Output(output) => output,
                    Review::Stuck { tool, times } => {
                        stuck = Some(SessionError::Stuck { tool, times });
                        format!("[ouro: the same `{name}` call with the same result {times} times; the turn ends here]")
                    }
                };
                self.push(ResponseItem::FunctionCallOutput {
                    call_id,
                    output,
                    success: result.success,
                })?;
            }
            if let Some(err) = stuck {
                return Err(err);
            }
        }
    }

    /// One model request: the items of the complete response and its usage.
    async fn sample(
        &mut self,
        emit: &mut (dyn FnMut(Event) + Send),
    ) -> Result<(Vec<ResponseItem>, TokenUsage), SessionError> {
        let prompt = Prompt {
            instructions: self.meta.instructions.clone(),
            tools: self.tools.clone(),
            input: self.history.clone(),
        };
        let mut stream = self.model.stream(&prompt);
        let mut items = Vec::new();
        while let Some(event) = stream.next().await {
            match event? {
                ModelEvent::TextDelta(_) | ModelEvent::ReasoningDelta(_) => {}
                ModelEvent::ItemDone(item) => items.push(item),
                ModelEvent::Retrying {
                    attempt,
                    max_attempts,
                    reason,
                } => {
                    // What the broken attempt produced is void; the retry produces it again.
                    items.clear();
                    emit(Event::Error {
                        message: format!("Reconnecting... {attempt}/{max_attempts}: {reason}"),
                    });
                }
                ModelEvent::Completed { usage } => return Ok((items, usage)),
            }
        }
        Err(SessionError::IncompleteResponse)
    }

    /// Runs the calls of one response: consecutive read-only calls together, anything that
    /// writes alone and in order. Each call passes its gate (approval) first. Results come
    /// back in call order.
    async fn run_calls(
        &mut self,
        calls: Vec<(String, PreparedCall)>,
        emit: &mut (dyn FnMut(Event) + Send),
    ) -> Result<Vec<(String, ToolResult)>, SessionError> {
        let mut results = Vec::with_capacity(calls.len());
        let mut rest = calls.as_slice();
        while !rest.is_empty() {
            let concurrent =
                |call: &PreparedCall| call.is_read_only() && call.escalation().is_none();
            let batch_len = if concurrent(&rest[0].1) {
                rest.iter().take_while(|(_, c)| concurrent(c)).count()
            } else {
                1
            };
            let (batch, tail) = rest.split_at(batch_len);
            rest = tail;

            let mut gates = Vec::with_capacity(batch.len());
            for (_, call) in batch {
                let id = self.allocate_item_id();
                let gate = self.gate(call, &id, emit).await;
                match &gate {
                    Gate::Abort => return Err(SessionError::Aborted),
                    Gate::Run { .. } => {
                        if let Some(details) = call.started_item() {
                            emit(Event::ItemStarted {
                                item: ThreadItem {
                                    id: id.clone(),
                                    details,
                                },
                            });
                        }
                    }
                    Gate::Decline(_) => {}
                }
                gates.push((id, gate));
            }
            let sandboxed = &self.tool_ctx;
            let unsandboxed = self.unsandboxed_context();
            let runs = batch.iter().zip(&gates).map(|((_, call), (_, gate))| {
                let unsandboxed = &unsandboxed;
                async move {
                    match gate {
                        Gate::Run { sandboxed: true } => call.execute(sandboxed).await,
                        Gate::Run { sandboxed: false } => call.execute(unsandboxed).await,
                        Gate::Decline(reason) => call.declined(reason),
                        Gate::Abort => call.declined("aborted"),
                    }
                }
            });
            let outputs = join_all(runs).await;
            for (((call_id, call), (id, gate)), mut result) in batch.iter().zip(gates).zip(outputs)
            {
                if matches!(gate, Gate::Run { sandboxed: true }) && !result.success {
                    result = self.retry_unsandboxed(call, &id, result, emit).await?;
                }
                match result.item.clone() {
                    Some(details @ ThreadItemDetails::TodoList { .. }) => {
                        self.show_plan(details, emit)
                    }
                    Some(details) => emit(Event::ItemCompleted {
                        item: ThreadItem { id, details },
                    }),
                    None => {}
                }
                results.push((call_id.clone(), result));
            }
        }
        Ok(results)
    }

    /// Decides whether `call` runs, asking a person where the policy says so.
    async fn gate(
        &mut self,
        call: &PreparedCall,
        id: &str,
        emit: &mut (dyn FnMut(Event) + Send),
    ) -> Gate {
        // A call that cannot run only produces its error message.
        let Some((kind, subject)) = call.approval_subject() else {
            return Gate::Run { sandboxed: true };
        };
        let policy = self.config.approval_policy;
        let unconfined = self.config.sandbox_mode == SandboxMode::DangerFullAccess;
        if let Some(justification) = call.escalation() {
            if policy != ApprovalPolicy::OnRequest {
                return Gate::Decline(format!(
                    "Not run: with_escalated_permissions needs approval_policy on-request, and it \
                     is {}. Run the command without it, inside the sandbox.",
                    policy.as_str()
                ));
            }
            if unconfined {
                return Gate::Run { sandboxed: true };
            }
            let reason = format!("the model asks to run this outside the sandbox: {justification}");
            return match self.ask(id, kind, subject, reason, emit).await {
                Ok(()) => Gate::Run { sandboxed: false },
                Err(gate) => gate,
            };
        }
        let verdict = match call.command_argv() {
            // Commands: the classifier and the rules, under the policy.
            Some(argv) => safety::decide(
                &safety::assess(argv, &self.config.cwd, &self.rules),
                policy,
                self.config.sandbox_mode,
            ),
            // Other tools: only `untrusted` asks, for anything that writes.
            None if policy == ApprovalPolicy::Untrusted && !call.is_read_only() => Assessment {
                decision: Decision::Prompt,
                reason: "approval_policy is untrusted and this changes files".into(),
            },
            None => Assessment {
                decision: Decision::Allow,
                reason: String::new(),
            },
        };
        match verdict.decision {
            Decision::Allow => Gate::Run { sandboxed: true },
            Decision::Forbid if policy == ApprovalPolicy::Never => Gate::Decline(format!(
                "Not run: {}. Such commands never run without a person's approval, and \
                 approval_policy is never.",
                verdict.reason
            )),
            Decision::Prompt | Decision::Forbid => {
                match self.ask(id, kind, subject, verdict.reason, emit).await {
                    Ok(()) => Gate::Run { sandboxed: true },
                    Err(gate) => gate,
                }
            }
        }
    }

    /// With `on-failure`, a command the sandbox blocked may run again outside it, if a
    /// person says so. Returns the result to keep.
    async fn retry_unsandboxed(
        &mut self,
        call: &PreparedCall,
        id: &str,
        failed: ToolResult,
        emit: &mut (dyn FnMut(Event) + Send),
    ) -> Result<ToolResult, SessionError> {
        let applies = self.config.approval_policy == ApprovalPolicy::OnFailure
            && self.config.sandbox_mode != SandboxMode::DangerFullAccess
            && blocked_by_sandbox(&failed.output);
        let Some((_, subject)) = call.approval_subject().filter(|_| applies) else {
            return Ok(failed);
        };
        let reason = "the sandbox blocked it; run it again without the sandbox?".to_string();
        match self
            .ask(id, ApprovalKind::Unsandboxed, subject, reason, emit)
            .await
        {
            Ok(()) => Ok(call.execute(&self.unsandboxed_context()).await),
            Err(Gate::Decline(why)) => Ok(ToolResult {
                output: format!(
                    "{}\n\n[ouro] Running it outside the sandbox was not allowed: {why}",
                    failed.output
                ),
                ..failed
            }),
            Err(_) => Err(SessionError::Aborted),
        }
    }

    /// Asks the approver, or declines when there is none. `Ok` means approved.
    async fn ask(
        &mut self,
        id: &str,
        kind: ApprovalKind,
        subject: String,
        reason: String,
        emit: &mut (dyn FnMut(Event) + Send),
    ) -> Result<(), Gate> {
        if self.session_approvals.contains(&(kind, subject.clone())) {
            return Ok(());
        }
        let request = ApprovalRequest {
            id: id.to_string(),
            kind,
            command: subject.clone(),
            cwd: self.config.cwd.display().to_string(),
            reason: reason.clone(),
        };
        emit(Event::ApprovalRequested(request.clone()));
        let Some(approver) = &self.approver else {
            return Err(Gate::Decline(format!(
                "Not run: it needs approval ({reason}), and nobody can approve in this \
                 session. Find another way, or tell the user it needs a run with `-a never` \
                 or `--full-auto`."
            )));
        };
        match approver.decide(&request).await {
            ApprovalDecision::ApprovedOnce => Ok(()),
            ApprovalDecision::ApprovedForSession => {
                self.session_approvals.insert((kind, subject));
                Ok(())
            }
            ApprovalDecision::Denied => Err(Gate::Decline(format!(
                "Not run: the user declined it ({reason})."
            ))),
            ApprovalDecision::Abort => Err(Gate::Abort),
        }
    }

    /// The plan is one item per turn: started by the first `update_plan`, updated by later
    /// ones, completed with the turn.
    fn show_plan(&mut self, details: ThreadItemDetails, emit: &mut (dyn FnMut(Event) + Send)) {
        match &mut self.plan_item {
            Some(plan) => {
                plan.details = details;
                emit(Event::ItemUpdated { item: plan.clone() });
            }
            None => {
                let plan = self.new_item(details);
                emit(Event::ItemStarted { item: plan.clone() });
                self.plan_item = Some(plan);
            }
        }
    }

    /// The tool context for calls a person allowed outside the sandbox.
    fn unsandboxed_context(&self) -> ToolContext {
        let mut ctx = self.tool_ctx.clone();
        ctx.sandbox_policy.mode = SandboxMode::DangerFullAccess;
        ctx
    }

    /// Records that the current turn ended early (interrupt or failure), answering any call
    /// left without an output so the session can continue.
    pub fn abort_turn(&mut self, reason: &str) -> Result<(), RolloutError> {
        self.answer_dangling_calls(&format!("aborted: {reason}"))?;
        self.recorder.append(&Record::TurnAborted {
            reason: reason.to_string(),
        })
    }

    fn answer_dangling_calls(&mut self, why: &str) -> Result<(), RolloutError> {
        let answered: HashSet<&str> = self
            .history
            .iter()
            .filter_map(|item| match item {
                ResponseItem::FunctionCallOutput { call_id, .. } => Some(call_id.as_str()),
                _ => None,
            })
            .collect();
        let dangling: Vec<String> = self
            .history
            .iter()
            .filter_map(|item| match item {
                ResponseItem::FunctionCall { call_id, .. }
                    if !answered.contains(call_id.as_str()) =>
                {
                    Some(call_id.clone())
                }
                _ => None,
            })
            .collect();
        for call_id in dangling {
            self.push(ResponseItem::FunctionCallOutput {
                call_id,
                output: why.to_string(),
                success: false,
            })?;
        }
        Ok(())
    }

    /// Appends to history and to the rollout, together.
    fn push(&mut self, item: ResponseItem) -> Result<(), RolloutError> {
        self.recorder.append(&Record::ResponseItem(item.clone()))?;
        self.history.push(item);
        Ok(())
    }

    fn allocate_item_id(&mut self) -> String {
        let id = format!("item_{}", self.next_item_id);
        self.next_item_id += 1;
        id
    }

    fn new_item(&mut self, details: ThreadItemDetails) -> ThreadItem {
        ThreadItem {
            id: self.allocate_item_id(),
            details,
        }
    }
}

/// The model the config names: an HTTP provider, or the embedded one.
fn connect(config: &Config) -> Result<Arc<dyn ModelProvider>, SessionError> {
    if config.provider.wire_api == WireApi::Local {
        return connect_local(config);
    }
    let client = ModelClient::new(config.provider.clone(), config.model.clone())?;
    Ok(Arc::new(client))
}

#[cfg(feature = "local")]
fn connect_local(config: &Config) -> Result<Arc<dyn ModelProvider>, SessionError> {
    use ouro_local::{engine::LocalOptions, provider};
    let path = crate::config::local_model_path(config)?;
    let settings = &config.local_model;
    let mut options = LocalOptions {
        threads: settings.threads,
        context_size: settings.context_size,
        ..LocalOptions::default()
    };
    if let Some(max) = settings.max_output_tokens {
        options.max_output_tokens = max;
    }
    let sampling = &mut options.sampling;
    sampling.temperature = settings.temperature.unwrap_or(sampling.temperature);
    sampling.top_p = settings.top_p.unwrap_or(sampling.top_p);
    sampling.top_k = settings.top_k.unwrap_or(sampling.top_k);
    sampling.seed = settings.seed.unwrap_or(sampling.seed);
    let local = provider::LocalProvider::start(&path, options)
        .map_err(|e| SessionError::Model(provider::model_error(&path, e)))?;
    Ok(Arc::new(local))
}

#[cfg(not(feature = "local"))]
fn connect_local(config: &Config) -> Result<Arc<dyn ModelProvider>, SessionError> {
    Err(SessionError::Model(ModelError::Config {
        provider: config.provider.name.clone(),
        message: "this build of ouro has no embedded model (it was built without the \
                  `local` feature, e.g. with --no-default-features). Set OPENAI_API_KEY or \
                  ANTHROPIC_API_KEY, configure a provider in $OURO_HOME/config.toml (e.g. a \
                  local Ollama or llama.cpp server), or build ouro with its default features \
                  after scripts/install-build-deps"
            .into(),
    }))
}
