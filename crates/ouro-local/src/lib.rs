//! The embedded local-model provider.
//!
//! For now this crate holds the model files side: [`models`] downloads, verifies and manages
//! GGUF files under `$OURO_HOME/models/`, and [`gguf`] reads a GGUF file's metadata (name,
//! architecture, context length, quantization, chat template). Inference through llama.cpp
//! comes next and will sit behind the cargo feature `local`.

pub mod gguf;
pub mod models;
