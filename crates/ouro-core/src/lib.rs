//! ouro's core: configuration, sessions, the agent loop and the session records.
//!
//! Front ends (`ouro exec`, later the TUI and the web UI) create or resume a [`Session`],
//! hand it user input and render the [`ouro_protocol::Event`]s it emits.

pub mod approval;
pub mod config;
pub mod environment;
mod prompt;
pub mod rollout;
mod session;
mod turn_guard;

pub use approval::Approver;
pub use config::{Config, ConfigError, Overrides};
pub use ouro_model::WireApi;
pub use ouro_sandbox::SandboxMode;
pub use ouro_tools::ApprovalPolicy;
pub use session::{Session, SessionError, TurnOutcome};
