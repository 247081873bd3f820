//! Errors a model request can end with.
//!
//! Each message says which provider and URL failed and, when the provider explained itself,
//! its own words: that is what a user needs to fix a key, a model name or a quota.

/// Why a model request failed. Messages name the provider and URL.
#[derive(thiserror::Error, Debug)]
pub enum ModelError {
    /// The provider's `env_key` variable is unset or empty.
    #[error("provider {provider} needs an API key: set the environment variable {env_key}")]
    MissingApiKey { provider: String, env_key: String },
    /// The provider's settings cannot make a valid request, e.g. a malformed header.
    #[error("provider {provider} is misconfigured: {message}")]
    Config { provider: String, message: String },
    /// The provider answered with an error status.
    #[error("{provider} answered HTTP {status}: {message} ({url}){}", retry_note(*.retries))]
    Http {
        provider: String,
        url: String,
        status: u16,
        message: String,
        retries: u32,
    },
    /// The request never got an answer: refused connection, DNS, TLS, no response in time.
    #[error("could not reach {provider} at {url}: {message}{}", retry_note(*.retries))]
    Connection {
        provider: String,
        url: String,
        message: String,
        retries: u32,
    },
    /// The event stream broke, went idle, ended early or could not be understood.
    #[error("stream from {provider} failed: {message} ({url}){}", retry_note(*.retries))]
    Stream {
        provider: String,
        url: String,
        message: String,
        retries: u32,
    },
    /// The provider reported an error inside the stream.
    #[error("{provider} reported an error: {message} ({url}){}", retry_note(*.retries))]
    Provider {
        provider: String,
        url: String,
        message: String,
        retries: u32,
    },
}

impl ModelError {
    /// The HTTP status the provider answered with, if the failure was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ModelError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn retry_note(retries: u32) -> String {
    match retries {
        0 => String::new(),
        1 => "; gave up after 1 retry".to_string(),
        n => format!("; gave up after {n} retries"),
    }
}

/// The message inside an error body: `{"error":{"message":..}}` (OpenAI, Anthropic),
/// `{"error":".."}` (Ollama and others), `{"message":..}`; else the body text itself.
pub(crate) fn provider_message(body: &str) -> Option<String> {
    const MAX_CHARS: usize = 2000;
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        let error = &json["error"];
        let message = error["message"]
            .as_str()
            .or_else(|| error.as_str())
            .or_else(|| json["message"].as_str());
        if let Some(message) = message {
            return Some(message.to_string());
        }
    }
    let text = body.trim();
    if text.is_empty() {
        return None;
    }
    let mut text: String = text.chars().take(MAX_CHARS).collect();
    if text.len() < body.trim().len() {
        text.push('…');
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_message_in_each_provider_shape() {
        let openai = r#"{"error":{"message":"Invalid model","type":"invalid_request_error","param":null,"code":null}}"#;
        assert_eq!(provider_message(openai).as_deref(), Some("Invalid model"));
        let anthropic = r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too big"}}"#;
        assert_eq!(
            provider_message(anthropic).as_deref(),
            Some("max_tokens: too big")
        );
        let ollama = r#"{"error":"model \"llama9\" not found"}"#;
        assert_eq!(
            provider_message(ollama).as_deref(),
            Some("model \"llama9\" not found")
        );
        assert_eq!(
            provider_message(r#"{"message":"nope"}"#).as_deref(),
            Some("nope")
        );
        assert_eq!(
            provider_message("  <html>Bad Gateway</html>\n").as_deref(),
            Some("<html>Bad Gateway</html>")
        );
        assert_eq!(provider_message(" \n"), None);
        assert!(provider_message(&"x".repeat(5000)).unwrap().ends_with('…'));
    }

    #[test]
    fn display_names_provider_status_url_and_retries() {
        let err = ModelError::Http {
            provider: "OpenAI".into(),
            url: "http://127.0.0.1:1/v1/responses".into(),
            status: 500,
            message: "boom".into(),
            retries: 4,
        };
        assert_eq!(
            err.to_string(),
            "OpenAI answered HTTP 500: boom (http://127.0.0.1:1/v1/responses); gave up after 4 retries"
        );
        assert_eq!(err.status(), Some(500));
        let err = ModelError::MissingApiKey {
            provider: "Anthropic".into(),
            env_key: "ANTHROPIC_API_KEY".into(),
        };
        assert_eq!(
            err.to_string(),
            "provider Anthropic needs an API key: set the environment variable ANTHROPIC_API_KEY"
        );
    }
}
