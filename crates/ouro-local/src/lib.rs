//! The embedded local-model provider.
//!
//! * [`models`] downloads, verifies and manages GGUF files under `$OURO_HOME/models/`, and
//!   [`gguf`] reads a GGUF file's metadata (name, architecture, context length, chat
//!   template).
//! * [`template`] renders a prompt through the model's own Jinja chat template, tools
//!   included; [`grammar`] turns the tools' JSON schemas into a GBNF grammar for tool
//!   calls; [`toolcall`] parses a reply into text and function calls.
//! * With the cargo feature `local` (on by default): [`engine`] runs llama.cpp in-process
//!   (constrained decoding, KV-cache reuse across requests) and [`provider`] serves it as an
//!   `ouro_model::ModelProvider`.

#[cfg(feature = "local")]
pub mod engine;
pub mod gguf;
pub mod grammar;
pub mod models;
#[cfg(feature = "local")]
pub mod provider;
pub mod template;
pub mod toolcall;
