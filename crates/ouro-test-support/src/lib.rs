//! Test helpers shared by ouro's crates: a mock model provider, and a file server for
//! download tests ([`FileServer`]).
//!
//! [`MockServer`] answers HTTP requests from a script and records every request, so a test
//! can both decide what "the model" says and check what it was sent. [`sse`] renders a
//! [`Reply`] into the event stream each wire format really produces, so tests exercise the
//! same decoding paths a live provider would.
//!
//! Nothing here depends on `ouro-model`: the model crate's own tests use this crate, and a
//! dependency back would be a cycle. [`Wire`] mirrors its `WireApi` for that reason.

mod file_server;
mod render;
mod server;

pub use file_server::{FileRequest, FileServer};
pub use render::{sse, Call, Reply, Wire};
pub use server::{MockResponse, MockServer, RecordedRequest};
