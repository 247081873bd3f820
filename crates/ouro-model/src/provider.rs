//! Providers: where requests go, which wire format they speak, and how hard to retry.
//!
//! [`ProviderInfo`] deserializes straight from a `[model_providers.NAME]` table of the user's
//! config, so the field names are the config keys and unknown keys are errors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The request and stream format a provider speaks.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WireApi {
    /// OpenAI Responses: `POST {base_url}/responses`.
    Responses,
    /// Chat Completions, the format most servers copy: `POST {base_url}/chat/completions`.
    Chat,
    /// Anthropic Messages: `POST {base_url}/messages`.
    Anthropic,
    /// The embedded model (llama.cpp in process), no HTTP at all.
    Local,
}

/// One model provider as configured under `[model_providers.NAME]`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProviderInfo {
    /// Display name, used in messages.
    pub name: String,
    /// E.g. `http://localhost:11434/v1`; the format's path is appended to it. Unused by the
    /// embedded model.
    #[serde(default)]
    pub base_url: String,
    #[serde(default = "default_wire_api")]
    pub wire_api: WireApi,
    /// Environment variable holding the API key; `None` sends no key.
    #[serde(default)]
    pub env_key: Option<String>,
    /// Extra headers sent with every request.
    #[serde(default)]
    pub http_headers: BTreeMap<String, String>,
    /// Retries of a request that failed to connect or got 429 or 5xx.
    #[serde(default = "default_request_max_retries")]
    pub request_max_retries: u32,
    /// Retries of a stream that broke or went idle before completing.
    #[serde(default = "default_stream_max_retries")]
    pub stream_max_retries: u32,
    /// Longest silence allowed while waiting for response headers or between body chunks.
    #[serde(default = "default_stream_idle_timeout_ms")]
    pub stream_idle_timeout_ms: u64,
    /// The embedded model's GGUF file, when it is not one of the models ouro manages.
    #[serde(default)]
    pub model_path: Option<std::path::PathBuf>,
}

fn default_wire_api() -> WireApi {
    WireApi::Chat
}

fn default_request_max_retries() -> u32 {
    4
}

fn default_stream_max_retries() -> u32 {
    5
}

fn default_stream_idle_timeout_ms() -> u64 {
    300_000
}

impl ProviderInfo {
    /// A provider with the default retry and timeout settings.
    pub fn new(
        name: impl Into<String>,
        base_url: impl Into<String>,
        wire_api: WireApi,
        env_key: Option<&str>,
    ) -> Self {
        ProviderInfo {
            name: name.into(),
            base_url: base_url.into(),
            wire_api,
            env_key: env_key.map(str::to_string),
            http_headers: BTreeMap::new(),
            request_max_retries: default_request_max_retries(),
            stream_max_retries: default_stream_max_retries(),
            stream_idle_timeout_ms: default_stream_idle_timeout_ms(),
            model_path: None,
        }
    }
}

/// The providers that need no configuration, by the name `model_provider` selects them with.
pub fn built_in_providers() -> BTreeMap<String, ProviderInfo> {
    [
        (
            "openai",
            ProviderInfo::new(
                "OpenAI",
                "https://api.openai.com/v1",
                WireApi::Responses,
                Some("OPENAI_API_KEY"),
            ),
        ),
        (
            "anthropic",
            ProviderInfo::new(
                "Anthropic",
                "https://api.anthropic.com/v1",
                WireApi::Anthropic,
                Some("ANTHROPIC_API_KEY"),
            ),
        ),
        (
            "ollama",
            ProviderInfo::new("Ollama", "http://localhost:11434/v1", WireApi::Chat, None),
        ),
        (
            "lmstudio",
            ProviderInfo::new("LM Studio", "http://localhost:1234/v1", WireApi::Chat, None),
        ),
        (
            "openrouter",
            ProviderInfo::new(
                "OpenRouter",
                "https://openrouter.ai/api/v1",
                WireApi::Chat,
                Some("OPENROUTER_API_KEY"),
            ),
        ),
    ]
    .into_iter()
    .map(|(id, info)| (id.to_string(), info))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deserializes_from_toml_with_defaults() {
        let info: ProviderInfo = toml::from_str(
            r#"
            name = "Local"
            base_url = "http://127.0.0.1:8080/v1"
            "#,
        )
        .unwrap();
        assert_eq!(
            info,
            ProviderInfo::new("Local", "http://127.0.0.1:8080/v1", WireApi::Chat, None)
        );
    }

    #[test]
    fn deserializes_every_field_and_rejects_unknown_ones() {
        let info: ProviderInfo = toml::from_str(
            r#"
            name = "Claude"
            base_url = "https://example.invalid/v1"
            wire_api = "anthropic"
            env_key = "MY_KEY"
            http_headers = { "x-team" = "ouro" }
            request_max_retries = 1
            stream_max_retries = 2
            stream_idle_timeout_ms = 3000
            "#,
        )
        .unwrap();
        assert_eq!(info.wire_api, WireApi::Anthropic);
        assert_eq!(info.env_key.as_deref(), Some("MY_KEY"));
        assert_eq!(info.http_headers["x-team"], "ouro");
        assert_eq!(
            (
                info.request_max_retries,
                info.stream_max_retries,
                info.stream_idle_timeout_ms
            ),
            (1, 2, 3000)
        );

        let err =
            toml::from_str::<ProviderInfo>("name = \"x\"\nbase_url = \"y\"\nbase_uri = \"z\"")
                .unwrap_err();
        assert!(err.to_string().contains("base_uri"), "{err}");
        assert!(toml::from_str::<ProviderInfo>(
            "name = \"x\"\nbase_url = \"y\"\nwire_api = \"grpc\""
        )
        .is_err());
    }

    #[test]
    fn built_ins() {
        let providers = built_in_providers();
        let names: Vec<&str> = providers.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["anthropic", "lmstudio", "ollama", "openai", "openrouter"]
        );
        assert_eq!(providers["openai"].wire_api, WireApi::Responses);
        assert_eq!(
            providers["openai"].env_key.as_deref(),
            Some("OPENAI_API_KEY")
        );
        assert_eq!(providers["anthropic"].wire_api, WireApi::Anthropic);
        assert_eq!(
            providers["anthropic"].base_url,
            "https://api.anthropic.com/v1"
        );
        assert_eq!(providers["ollama"].env_key, None);
        assert_eq!(providers["lmstudio"].base_url, "http://localhost:1234/v1");
        assert_eq!(
            providers["openrouter"].env_key.as_deref(),
            Some("OPENROUTER_API_KEY")
        );
    }
}
