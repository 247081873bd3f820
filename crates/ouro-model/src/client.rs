//! [`ModelClient`]: sends a prompt to a provider and streams back [`ModelEvent`]s.
//!
//! Each [`ModelClient::stream`] call runs in its own task, which owns the whole life of the
//! request: sending it, retrying what is worth retrying, decoding the stream, and stopping
//! as soon as the [`ResponseStream`] is dropped. There are two layers of retry:
//!
//! * request: a failed connection, 429 or 5xx, before any event was produced. Silent, since
//!   the consumer has nothing to take back.
//! * stream: a stream that breaks, stalls or ends before its terminal event. Announced with
//!   [`ModelEvent::Retrying`], because the consumer must drop what the broken attempt gave.

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use ouro_protocol::{ModelEvent, Prompt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::StatusCode;
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout};

use crate::error::{provider_message, ModelError};
use crate::provider::ProviderInfo;
use crate::sse::SseParser;
use crate::wire::{self, DecodeError, HttpWire, Progress};

const USER_AGENT: &str = concat!("ouro/", env!("CARGO_PKG_VERSION"));
const ANTHROPIC_VERSION: &str = "2023-06-01";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// First retry delay; each further retry doubles it.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// No single wait, backoff or `Retry-After`, is longer than this.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);
/// Events buffered ahead of a slow consumer.
const CHANNEL_CAPACITY: usize = 64;

type EventSender = mpsc::Sender<Result<ModelEvent, ModelError>>;

/// A client for one model at one provider. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct ModelClient {
    inner: Arc<Inner>,
}

struct Inner {
    provider: ProviderInfo,
    wire: HttpWire,
    model: String,
    url: String,
    /// Every request's headers, the API key included.
    headers: HeaderMap,
    http: reqwest::Client,
}

impl fmt::Debug for ModelClient {
    /// Leaves out the headers: they hold the API key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelClient")
            .field("provider", &self.inner.provider.name)
            .field("model", &self.inner.model)
            .field("url", &self.inner.url)
            .finish()
    }
}

impl ModelClient {
    /// A client taking its API key from the provider's `env_key` variable, if it has one.
    /// Fails when that variable is unset or empty.
    pub fn new(provider: ProviderInfo, model: String) -> Result<Self, ModelError> {
        let api_key = match &provider.env_key {
            Some(var) => match std::env::var(var) {
                Ok(key) if !key.trim().is_empty() => Some(key.trim().to_string()),
                _ => {
                    return Err(ModelError::MissingApiKey {
                        provider: provider.name,
                        env_key: var.clone(),
                    })
                }
            },
            None => None,
        };
        Self::with_api_key(provider, model, api_key)
    }

    /// A client with an explicit API key (or none), ignoring `env_key`.
    pub fn with_api_key(
        provider: ProviderInfo,
        model: String,
        api_key: Option<String>,
    ) -> Result<Self, ModelError> {
        let config_error = |message: String| ModelError::Config {
            provider: provider.name.clone(),
            message,
        };
        let wire = HttpWire::of(provider.wire_api).ok_or_else(|| {
            config_error("wire_api \"local\" is the embedded model, not an HTTP provider".into())
        })?;
        let headers = request_headers(wire, &provider, api_key.as_deref()).map_err(config_error)?;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|err| config_error(error_chain(&err)))?;
        let url = format!(
            "{}/{}",
            provider.base_url.trim_end_matches('/'),
            wire::path(wire)
        );
        let parsed = reqwest::Url::parse(&url);
        if !parsed.is_ok_and(|url| matches!(url.scheme(), "http" | "https")) {
            return Err(config_error(format!(
                "invalid base_url {:?}: expected an http:// or https:// URL",
                provider.base_url
            )));
        }
        Ok(ModelClient {
            inner: Arc::new(Inner {
                provider,
                wire,
                model,
                url,
                headers,
                http,
            }),
        })
    }

    pub fn provider(&self) -> &ProviderInfo {
        &self.inner.provider
    }

    pub fn model(&self) -> &str {
        &self.inner.model
    }

    /// Starts streaming a response to `prompt` in a spawned task and returns at once.
    /// Failures arrive through the stream; dropping it cancels the request.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn stream(&self, prompt: &Prompt) -> ResponseStream {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let body = wire::request_body(self.inner.wire, &self.inner.model, prompt);
        let body = Bytes::from(body.to_string());
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            tokio::select! {
                () = tx.closed() => {}
                () = inner.run(body, &tx) => {}
            }
        });
        ResponseStream { rx }
    }
}

/// Anything that answers a prompt with a stream of events: an HTTP provider
/// ([`ModelClient`]) or the embedded model.
pub trait ModelProvider: Send + Sync {
    /// Starts answering `prompt`; dropping the stream cancels it.
    fn stream(&self, prompt: &Prompt) -> ResponseStream;
}

impl ModelProvider for ModelClient {
    fn stream(&self, prompt: &Prompt) -> ResponseStream {
        ModelClient::stream(self, prompt)
    }
}

/// The sending side of a [`ResponseStream`], for providers that produce events themselves.
pub type ResponseSender = mpsc::Sender<Result<ModelEvent, ModelError>>;

/// The events of one response, ending with [`ModelEvent::Completed`] or an error.
pub struct ResponseStream {
    rx: mpsc::Receiver<Result<ModelEvent, ModelError>>,
}

impl ResponseStream {
    /// A stream fed through the returned sender; it ends when the sender is dropped.
    pub fn channel() -> (ResponseSender, ResponseStream) {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        (tx, ResponseStream { rx })
    }

    /// The next event; `None` once the response completed or failed.
    pub async fn next(&mut self) -> Option<Result<ModelEvent, ModelError>> {
        self.rx.recv().await
    }
}

/// How one attempt at streaming a response ended.
enum StreamEnd {
    Completed,
    /// The [`ResponseStream`] was dropped.
    ReceiverGone,
    /// The connection broke, stalled or ended early, or sent something unreadable.
    Broken {
        message: String,
        retryable: bool,
    },
    /// The provider reported an error inside the stream.
    ProviderError {
        message: String,
        retryable: bool,
    },
}

/// Whether a failed request is worth sending again, and how soon.
enum Verdict {
    Fatal,
    Retry { after: Option<Duration> },
}

impl Inner {
    async fn run(&self, body: Bytes, tx: &EventSender) {
        let max_retries = self.provider.stream_max_retries;
        let mut retries = 0;
        loop {
            let response = match self.send(&body).await {
                Ok(response) => response,
                Err(err) => {
                    let _ = tx.send(Err(err)).await;
                    return;
                }
            };
            let (message, retryable, from_provider) = match self.pump(response, tx).await {
                StreamEnd::Completed | StreamEnd::ReceiverGone => return,
                StreamEnd::Broken { message, retryable } => (message, retryable, false),
                StreamEnd::ProviderError { message, retryable } => (message, retryable, true),
            };
            if retryable && retries < max_retries {
                retries += 1;
                let retrying = ModelEvent::Retrying {
                    attempt: retries,
                    max_attempts: max_retries,
                    reason: message,
                };
                if tx.send(Ok(retrying)).await.is_err() {
                    return;
                }
                sleep(backoff(retries)).await;
                continue;
            }
            let (provider, url) = (self.provider.name.clone(), self.url.clone());
            let err = if from_provider {
                ModelError::Provider {
                    provider,
                    url,
                    message,
                    retries,
                }
            } else {
                ModelError::Stream {
                    provider,
                    url,
                    message,
                    retries,
                }
            };
            let _ = tx.send(Err(err)).await;
            return;
        }
    }

    /// Sends the request until it is answered with a success status, retrying connection
    /// failures, 429 and 5xx up to `request_max_retries` times.
    async fn send(&self, body: &Bytes) -> Result<reqwest::Response, ModelError> {
        let mut retries = 0;
        loop {
            match self.attempt(body).await {
                Ok(response) => return Ok(response),
                Err((_, Verdict::Retry { after }))
                    if retries < self.provider.request_max_retries =>
                {
                    retries += 1;
                    sleep(after.unwrap_or_else(|| backoff(retries))).await;
                }
                Err((err, _)) => return Err(err.with_retries(retries)),
            }
        }
    }

    async fn attempt(&self, body: &Bytes) -> Result<reqwest::Response, (ModelError, Verdict)> {
        let request = self
            .http
            .post(&self.url)
            .headers(self.headers.clone())
            .body(body.clone());
        let connection_error = |message: String| ModelError::Connection {
            provider: self.provider.name.clone(),
            url: self.url.clone(),
            message,
            retries: 0,
        };
        let response = match timeout(self.idle_timeout(), request.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => {
                let verdict = if err.is_builder() {
                    Verdict::Fatal
                } else {
                    Verdict::Retry { after: None }
                };
                return Err((connection_error(error_chain(&err)), verdict));
            }
            Err(_) => {
                let message = format!("no response within {} ms", self.idle_timeout().as_millis());
                return Err((connection_error(message), Verdict::Retry { after: None }));
            }
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }

        let verdict = if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Verdict::Retry {
                after: retry_after(response.headers()),
            }
        } else {
            Verdict::Fatal
        };
        let body = match timeout(self.idle_timeout(), response.text()).await {
            Ok(Ok(body)) => body,
            _ => String::new(),
        };
        let message = provider_message(&body).unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no error message")
                .to_string()
        });
        let err = ModelError::Http {
            provider: self.provider.name.clone(),
            url: self.url.clone(),
            status: status.as_u16(),
            message,
            retries: 0,
        };
        Err((err, verdict))
    }

    /// Decodes the response body and forwards its events until the response completes.
    async fn pump(&self, response: reqwest::Response, tx: &EventSender) -> StreamEnd {
        let mut decoder = wire::decoder(self.wire);
        let mut parser = SseParser::default();
        let mut body = response.bytes_stream();
        let mut sse_events = Vec::new();
        let mut events = Vec::new();
        loop {
            let at_end = match timeout(self.idle_timeout(), body.next()).await {
                Ok(Some(Ok(chunk))) => {
                    parser.feed(&chunk, &mut sse_events);
                    false
                }
                Ok(None) => {
                    parser.finish(&mut sse_events);
                    true
                }
                Ok(Some(Err(err))) => {
                    return StreamEnd::Broken {
                        message: format!("connection lost mid-stream: {}", error_chain(&err)),
                        retryable: true,
                    }
                }
                Err(_) => {
                    return StreamEnd::Broken {
                        message: format!(
                            "the stream was idle for {} ms",
                            self.idle_timeout().as_millis()
                        ),
                        retryable: true,
                    }
                }
            };

            for sse_event in sse_events.drain(..) {
                let progress = decoder.event(&sse_event, &mut events);
                // What the event produced goes out even when it also ended the response.
                if !forward(&mut events, tx).await {
                    return StreamEnd::ReceiverGone;
                }
                match progress {
                    Ok(Progress::Continue) => {}
                    Ok(Progress::Completed) => return StreamEnd::Completed,
                    Err(DecodeError::Provider { message, retryable }) => {
                        return StreamEnd::ProviderError { message, retryable }
                    }
                    Err(DecodeError::Invalid(message)) => {
                        return StreamEnd::Broken {
                            message,
                            retryable: false,
                        }
                    }
                }
            }

            if at_end {
                let progress = decoder.end_of_stream(&mut events);
                if !forward(&mut events, tx).await {
                    return StreamEnd::ReceiverGone;
                }
                return match progress {
                    Progress::Completed => StreamEnd::Completed,
                    Progress::Continue => StreamEnd::Broken {
                        message: "the connection closed before the response completed".into(),
                        retryable: true,
                    },
                };
            }
        }
    }

    fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.provider.stream_idle_timeout_ms)
    }
}

/// Sends `events` to the consumer; false if it is gone.
async fn forward(events: &mut Vec<ModelEvent>, tx: &EventSender) -> bool {
    for event in events.drain(..) {
        if tx.send(Ok(event)).await.is_err() {
            return false;
        }
    }
    true
}

impl ModelError {
    fn with_retries(mut self, n: u32) -> Self {
        match &mut self {
            ModelError::Http { retries, .. }
            | ModelError::Connection { retries, .. }
            | ModelError::Stream { retries, .. }
            | ModelError::Provider { retries, .. } => *retries = n,
            ModelError::MissingApiKey { .. } | ModelError::Config { .. } => {}
        }
        self
    }
}

fn request_headers(
    wire: HttpWire,
    provider: &ProviderInfo,
    api_key: Option<&str>,
) -> Result<HeaderMap, String> {
    let value = |name: &str, value: &str| {
        HeaderValue::from_str(value).map_err(|_| format!("invalid value for header {name}"))
    };
    let mut headers = HeaderMap::new();
    headers.insert("accept", HeaderValue::from_static("text/event-stream"));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    match wire {
        HttpWire::Responses | HttpWire::Chat => {
            if let Some(key) = api_key {
                let mut auth = value("authorization", &format!("Bearer {key}"))?;
                auth.set_sensitive(true);
                headers.insert("authorization", auth);
            }
        }
        HttpWire::Anthropic => {
            if let Some(key) = api_key {
                let mut key = value("x-api-key", key)?;
                key.set_sensitive(true);
                headers.insert("x-api-key", key);
            }
            headers.insert(
                "anthropic-version",
                HeaderValue::from_static(ANTHROPIC_VERSION),
            );
        }
    }
    // Configured headers come last so they can override the defaults.
    for (name, val) in &provider.http_headers {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?} in http_headers"))?;
        headers.insert(header_name, value(name, val)?);
    }
    Ok(headers)
}

/// `base * 2^(attempt-1)`, capped, with ±20% jitter so that clients do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(16);
    let delay = BACKOFF_BASE
        .saturating_mul(1 << exponent)
        .min(MAX_RETRY_DELAY);
    delay.mul_f64(0.8 + 0.4 * fastrand::f64())
}

/// The wait a 429 or 5xx asks for: `retry-after-ms` (OpenAI) or `retry-after` in seconds,
/// capped. HTTP-date forms are rare from APIs and fall back to backoff.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| -> Option<f64> {
        let value: f64 = headers.get(name)?.to_str().ok()?.trim().parse().ok()?;
        (value.is_finite() && value >= 0.0).then_some(value)
    };
    let seconds = number("retry-after-ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| number("retry-after"))?;
    Some(Duration::from_secs_f64(
        seconds.min(MAX_RETRY_DELAY.as_secs_f64()),
    ))
}

/// An error and its sources, which is where reqwest keeps the useful part.
fn error_chain(err: &reqwest::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message.push_str(": ");
            message.push_str(&cause_text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::WireApi;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for attempt in 1..=5 {
            let nominal = 200.0 * f64::from(1u32 << (attempt - 1));
            let ms = backoff(attempt).as_secs_f64() * 1000.0;
            assert!(
                ms >= nominal * 0.8 && ms <= nominal * 1.2,
                "{attempt}: {ms}"
            );
        }
        assert!(backoff(100) <= MAX_RETRY_DELAY.mul_f64(1.2));
    }

    #[test]
    fn retry_after_headers() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_static(value));
            }
            map
        };
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&headers(&[
                ("retry-after", "1.5"),
                ("retry-after-ms", "250")
            ])),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "86400")])),
            Some(MAX_RETRY_DELAY)
        );
        assert_eq!(
            retry_after(&headers(&[(
                "retry-after",
                "Wed, 21 Oct 2015 07:28:00 GMT"
            )])),
            None
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "-1")])), None);
        assert_eq!(retry_after(&headers(&[])), None);
    }

    #[test]
    fn headers_per_format() {
        let mut provider = ProviderInfo::new("P", "http://x/v1", WireApi::Chat, None);
        provider
            .http_headers
            .insert("X-Title".into(), "ouro".into());
        let headers = request_headers(HttpWire::Chat, &provider, Some("k1")).unwrap();
        assert_eq!(headers["authorization"], "Bearer k1");
        assert_eq!(headers["x-title"], "ouro");
        assert_eq!(headers["accept"], "text/event-stream");
        assert!(!headers.contains_key("anthropic-version"));

        let headers = request_headers(HttpWire::Anthropic, &provider, Some("k2")).unwrap();
        assert_eq!(headers["x-api-key"], "k2");
        assert_eq!(headers["anthropic-version"], ANTHROPIC_VERSION);
        assert!(!headers.contains_key("authorization"));

        assert!(!request_headers(HttpWire::Responses, &provider, None)
            .unwrap()
            .contains_key("authorization"));

        provider
            .http_headers
            .insert("bad header".into(), "v".into());
        let err = request_headers(HttpWire::Chat, &provider, None).unwrap_err();
        assert!(err.contains("bad header"), "{err}");
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let provider = ProviderInfo::new("P", "localhost:11434", WireApi::Chat, None);
        let err = ModelClient::with_api_key(provider, "m".into(), None).unwrap_err();
        assert!(matches!(err, ModelError::Config { .. }), "{err:?}");
        assert!(err.to_string().contains("invalid base_url"), "{err}");

        let provider = ProviderInfo::new("P", "http://x/v1", WireApi::Chat, None);
        let err = ModelClient::with_api_key(provider, "m".into(), Some("a\nb".into())).unwrap_err();
        assert!(err.to_string().contains("authorization"), "{err}");

        let provider = ProviderInfo::new("P", "", WireApi::Local, None);
        let err = ModelClient::with_api_key(provider, "m".into(), None).unwrap_err();
        assert!(err.to_string().contains("embedded model"), "{err}");
    }
}
