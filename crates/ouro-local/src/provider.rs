//! The embedded model as an [`ouro_model::ModelProvider`].
//!
//! A llama.cpp context must stay on one thread, so the provider owns a worker thread that
//! owns the [`LocalModel`]; requests queue to it and are answered one at a time (the model
//! and its KV cache are one resource, as if behind a mutex). Each request streams its
//! events through [`ResponseStream::channel`]:
//!
//! * `TextDelta` for the visible text as it is generated (never part of a tool-call tag);
//! * `ItemDone(Message{Assistant, text})` when the reply has text;
//! * `ItemDone(FunctionCall{call_id, name, arguments})` for each call, with a fresh id;
//! * `Completed{usage}`, where `cached_input_tokens` is the prefix reused from the KV cache.
//!
//! Dropping the stream stops generation at the next token (or the next batch of a long
//! prompt); the worker then takes the next request.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use ouro_model::{ModelError, ModelProvider, ResponseSender, ResponseStream};
use ouro_protocol::{ModelEvent, Prompt, ResponseItem};

use crate::engine::{LocalError, LocalModel, LocalOptions, StopReason};

/// The provider name in errors.
pub const PROVIDER_NAME: &str = "local";

struct Job {
    prompt: Prompt,
    tx: ResponseSender,
}

/// What the worker tells about the model it loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedModel {
    pub path: PathBuf,
    pub context_size: u32,
    pub threads: usize,
}

/// The embedded model, served from its own thread. Cheap to share behind an `Arc`; the
/// worker stops when the provider is dropped (after the request in progress).
#[derive(Debug)]
pub struct LocalProvider {
    jobs: mpsc::Sender<Job>,
    model: LoadedModel,
}

impl LocalProvider {
    /// Loads the model on a new worker thread and returns once it is ready (or failed).
    pub fn start(path: &Path, options: LocalOptions) -> Result<LocalProvider, LocalError> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let load_path = path.to_path_buf();
        let spawned = thread::Builder::new()
            .name("ouro-local-model".into())
            .spawn(move || {
                let mut model = match LocalModel::load(&load_path, options) {
                    Ok(model) => {
                        let _ = ready_tx.send(Ok(LoadedModel {
                            path: load_path,
                            context_size: model.context_size(),
                            threads: model.threads(),
                        }));
                        model
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                while let Ok(job) = job_rx.recv() {
                    serve(&mut model, job);
                }
            });
        if let Err(err) = spawned {
            return Err(LocalError::Load {
                path: path.to_path_buf(),
                message: format!("cannot start the model thread: {err}"),
            });
        }
        let model = ready_rx.recv().map_err(|_| LocalError::Load {
            path: path.to_path_buf(),
            message: "the model thread died while loading".into(),
        })??;
        Ok(LocalProvider { jobs, model })
    }

    pub fn model(&self) -> &LoadedModel {
        &self.model
    }
}

impl ModelProvider for LocalProvider {
    fn stream(&self, prompt: &Prompt) -> ResponseStream {
        let (tx, stream) = ResponseStream::channel();
        let job = Job {
            prompt: prompt.clone(),
            tx,
        };
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            let _ = job.tx.try_send(Err(provider_error(
                &self.model.path,
                "the model thread has stopped".into(),
            )));
        }
        stream
    }
}

/// The error for a failed request, in the model crate's terms.
pub fn model_error(path: &Path, err: LocalError) -> ModelError {
    match err {
        LocalError::Load { .. } => ModelError::Config {
            provider: PROVIDER_NAME.into(),
            message: err.to_string(),
        },
        other => provider_error(path, other.to_string()),
    }
}

fn provider_error(path: &Path, message: String) -> ModelError {
    ModelError::Provider {
        provider: PROVIDER_NAME.into(),
        url: path.display().to_string(),
        message,
        retries: 0,
    }
}

/// Answers one request on the worker thread.
fn serve(model: &mut LocalModel, job: Job) {
    let Job { prompt, tx } = job;
    if tx.is_closed() {
        return;
    }
    let path = model.path().to_path_buf();
    let result = model.generate(&prompt, &mut |text| {
        if tx.is_closed() {
            return ControlFlow::Break(());
        }
        if !text.is_empty()
            && tx
                .blocking_send(Ok(ModelEvent::TextDelta(text.to_string())))
                .is_err()
        {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    let generation = match result {
        Ok(generation) => generation,
        Err(err) => {
            let _ = tx.blocking_send(Err(model_error(&path, err)));
            return;
        }
    };
    if generation.stop == StopReason::Cancelled {
        return;
    }
    let mut events = Vec::new();
    let reply = generation.reply;
    if !reply.text.is_empty() {
        events.push(ModelEvent::ItemDone(ResponseItem::assistant(reply.text)));
    }
    for call in reply.calls {
        events.push(ModelEvent::ItemDone(ResponseItem::FunctionCall {
            call_id: new_call_id(),
            name: call.name,
            arguments: call.arguments,
        }));
    }
    events.push(ModelEvent::Completed {
        usage: generation.usage,
    });
    for event in events {
        if tx.blocking_send(Ok(event)).is_err() {
            return;
        }
    }
}

/// A unique call id, in the style of OpenAI's (`call_…`).
pub fn new_call_id() -> String {
    format!("call_{}", uuid::Uuid::now_v7().simple())
}
