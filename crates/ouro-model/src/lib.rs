//! Model clients for ouro.
//!
//! [`ModelClient`] turns a provider-neutral [`Prompt`](ouro_protocol::Prompt) into a request
//! in the provider's wire format (OpenAI Responses, Chat Completions or Anthropic Messages),
//! streams the answer over SSE and hands back provider-neutral
//! [`ModelEvent`](ouro_protocol::ModelEvent)s. Everything that differs between providers
//! stays in this crate: URLs, headers, request shapes, event shapes, error shapes, and which
//! failures are worth a retry.
//!
//! The SSE parser and the formats are written here rather than taken from a crate because
//! their edge cases (events split across chunks, streams cut or stalled mid-way, each
//! provider's liberties with the format) are exactly where a coding agent must not fall over,
//! and they are tested against a mock server that reproduces them byte for byte.

mod client;
mod error;
mod provider;
mod sse;
mod wire;

pub use client::{ModelClient, ModelProvider, ResponseSender, ResponseStream};
pub use error::ModelError;
pub use provider::{built_in_providers, ProviderInfo, WireApi};
