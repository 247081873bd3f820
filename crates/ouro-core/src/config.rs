//! Configuration: `$OURO_HOME/config.toml`, a profile, `-c key=value` overrides and flags.
//!
//! Keys follow Codex CLI's so people can move between the two. Layers apply in this order,
//! later winning: the file, the selected `[profiles.NAME]`, each `-c` override, then the
//! dedicated command-line flags. Every error names where the bad value came from: the file
//! with its line and key, or the `-c` override.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ouro_model::{built_in_providers, ProviderInfo, WireApi};
use ouro_sandbox::{sensitive_paths, Limits, SandboxMode, SandboxPolicy};
use ouro_tools::{ApprovalPolicy, EditTool};
use serde::Deserialize;

use crate::environment::ShellEnvironmentPolicy;
use crate::prompt::PromptFamily;

/// The file's shape. Unknown keys are errors, so a typo never silently does nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigToml {
    model: Option<String>,
    model_provider: Option<String>,
    approval_policy: Option<ApprovalPolicy>,
    sandbox_mode: Option<SandboxMode>,
    profile: Option<String>,
    #[serde(default)]
    model_providers: BTreeMap<String, ProviderInfo>,
    #[serde(default)]
    profiles: BTreeMap<String, ProfileToml>,
    #[serde(default)]
    sandbox_workspace_write: SandboxWorkspaceWrite,
    #[serde(default)]
    sandbox_limits: SandboxLimits,
    #[serde(default)]
    local_model: LocalModelSettings,
    /// Bytes of each command's output sent to the model.
    tool_output_max_bytes: Option<usize>,
    /// Default timeout of a `shell` call.
    shell_timeout_ms: Option<u64>,
    #[serde(default)]
    tools: ToolsToml,
    #[serde(default)]
    shell_environment_policy: ShellEnvironmentPolicy,
    /// Which built-in base prompt to use; the default depends on the provider.
    instructions_family: Option<PromptFamily>,
    /// A file whose text replaces the built-in base prompt.
    instructions_file: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolsToml {
    /// How the model edits files; the default depends on the model family.
    edit: Option<EditTool>,
    /// Which tools besides the essential ones; the default depends on the model family.
    set: Option<ToolSetSize>,
}

/// `[tools] set`: `full` offers every tool; `basic` only `shell`, `read_file` and the edit
/// tools, which small models handle better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolSetSize {
    Full,
    Basic,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileToml {
    model: Option<String>,
    model_provider: Option<String>,
    approval_policy: Option<ApprovalPolicy>,
    sandbox_mode: Option<SandboxMode>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxWorkspaceWrite {
    #[serde(default)]
    pub writable_roots: Vec<PathBuf>,
    #[serde(default)]
    pub network_access: bool,
    /// Let commands write into the workspace's `.git` (read-only by default).
    #[serde(default)]
    pub git_writable: bool,
}

/// `[sandbox_limits]`: rlimits of sandboxed commands; unset keys keep ouro's defaults.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxLimits {
    pub memory_bytes: Option<u64>,
    pub file_size_bytes: Option<u64>,
    pub processes: Option<u64>,
    pub cpu_seconds: Option<u64>,
}

/// `[local_model]`: how the embedded model runs; unset keys keep its defaults (threads: the
/// physical cores; context: the model's trained length capped at 8192 tokens; sampling:
/// greedy).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalModelSettings {
    pub threads: Option<usize>,
    /// Cap on the context window, in tokens.
    pub context_size: Option<u32>,
    /// Cap on one reply, in tokens.
    pub max_output_tokens: Option<u32>,
    /// 0 picks the likeliest token every time; above 0, tokens are sampled.
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<i32>,
    pub seed: Option<u32>,
}

/// What the command line adds on top of the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub model: Option<String>,
    pub profile: Option<String>,
    pub sandbox_mode: Option<SandboxMode>,
    pub approval_policy: Option<ApprovalPolicy>,
    /// Raw `-c key=value` strings, in order.
    pub raw: Vec<String>,
}

/// The settled configuration of one run.
#[derive(Debug, Clone)]
pub struct Config {
    pub ouro_home: PathBuf,
    pub cwd: PathBuf,
    pub model: String,
    pub provider_id: String,
    pub provider: ProviderInfo,
    pub approval_policy: ApprovalPolicy,
    pub sandbox_mode: SandboxMode,
    pub sandbox_workspace_write: SandboxWorkspaceWrite,
    pub sandbox_limits: SandboxLimits,
    pub local_model: LocalModelSettings,
    pub tool_output_max_bytes: usize,
    pub shell_timeout: Duration,
    pub edit_tool: EditTool,
    pub tool_set: ToolSetSize,
    pub shell_environment_policy: ShellEnvironmentPolicy,
    pub prompt_family: PromptFamily,
    pub instructions_file: Option<PathBuf>,
    /// The ouro binary that confines sandboxed commands: the running executable.
    pub sandbox_helper: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("error in {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("error in `-c {raw}`: {message}")]
    Override { raw: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// `$OURO_HOME`, or `~/.ouro`.
pub fn default_ouro_home() -> Result<PathBuf, ConfigError> {
    if let Some(home) = std::env::var_os("OURO_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".ouro"))
        .ok_or_else(|| ConfigError::Invalid("neither OURO_HOME nor HOME is set".into()))
}

impl Config {
    /// Loads `config.toml` from `ouro_home` (a missing file is an empty config) and applies
    /// the profile, overrides and flags.
    pub fn load(
        ouro_home: &Path,
        cwd: &Path,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let path = ouro_home.join("config.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let file_error = |message: String| ConfigError::File {
            path: path.clone(),
            message,
        };
        // Parsed from the text first, so a bad key or value is reported with its line. A
        // table that only changes some keys of a built-in provider (e.g.
        // `[model_providers.local] model_path = …`) needs the built-in's other keys first.
        let mut table: toml::Table =
            toml::from_str(&text).map_err(|e| file_error(e.to_string()))?;
        complete_built_in_providers(&mut table);
        let mut parsed = match toml::from_str::<ConfigToml>(&text) {
            Ok(parsed) => parsed,
            Err(text_error) => ConfigToml::deserialize(toml::Value::Table(table.clone()))
                .map_err(|_| file_error(text_error.to_string()))?,
        };
        for raw in &overrides.raw {
            apply_override(&mut table, raw)?;
            complete_built_in_providers(&mut table);
            parsed = ConfigToml::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
                ConfigError::Override {
                    raw: raw.clone(),
                    message: e.to_string().trim().to_string(),
                }
            })?;
        }
        Self::resolve(parsed, ouro_home, cwd, overrides, &path)
    }

    fn resolve(
        file: ConfigToml,
        ouro_home: &Path,
        cwd: &Path,
        overrides: &Overrides,
        path: &Path,
    ) -> Result<Config, ConfigError> {
        let profile = match overrides.profile.as_ref().or(file.profile.as_ref()) {
            Some(name) => file.profiles.get(name).cloned().ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "profile `{name}` is not defined; add [profiles.{name}] to {} (defined: {})",
                    path.display(),
                    list_or_none(file.profiles.keys())
                ))
            })?,
            None => ProfileToml::default(),
        };
        let mut providers = all_built_in_providers();
        providers.extend(file.model_providers);
        let provider_id = match profile.model_provider.or(file.model_provider) {
            Some(id) => id,
            None => default_provider_id(),
        };
        let provider = providers.get(&provider_id).cloned().ok_or_else(|| {
            ConfigError::Invalid(format!(
                "model_provider `{provider_id}` is unknown; define [model_providers.{provider_id}] in {} or use one of: {}",
                path.display(),
                list_or_none(providers.keys())
            ))
        })?;
        let model = match overrides.model.clone().or(profile.model).or(file.model) {
            Some(model) => model,
            None => default_model(&provider_id).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "no model chosen for provider `{provider_id}`: pass -m MODEL or set `model` in {}",
                    path.display()
                ))
            })?,
        };
        let prompt_family = file.instructions_family.unwrap_or(match provider.wire_api {
            WireApi::Local => PromptFamily::Small,
            _ => PromptFamily::Default,
        });
        Ok(Config {
            ouro_home: ouro_home.to_path_buf(),
            cwd: cwd.to_path_buf(),
            model,
            provider_id,
            approval_policy: overrides
                .approval_policy
                .or(profile.approval_policy)
                .or(file.approval_policy)
                .unwrap_or_default(),
            sandbox_mode: overrides
                .sandbox_mode
                .or(profile.sandbox_mode)
                .or(file.sandbox_mode)
                .unwrap_or_default(),
            sandbox_workspace_write: file.sandbox_workspace_write,
            sandbox_limits: file.sandbox_limits,
            local_model: file.local_model,
            shell_environment_policy: file.shell_environment_policy,
            prompt_family,
            tool_set: file.tools.set.unwrap_or(match prompt_family {
                PromptFamily::Small => ToolSetSize::Basic,
                PromptFamily::Default => ToolSetSize::Full,
            }),
            instructions_file: file.instructions_file.map(|f| ouro_home.join(f)),
            edit_tool: file
                .tools
                .edit
                .unwrap_or_else(|| default_edit_tool(provider.wire_api)),
            provider,
            tool_output_max_bytes: file.tool_output_max_bytes.unwrap_or(10 * 1024),
            shell_timeout: Duration::from_millis(file.shell_timeout_ms.unwrap_or(120_000)),
            sandbox_helper: std::env::current_exe().map_err(|e| {
                ConfigError::Invalid(format!("cannot locate the ouro executable: {e}"))
            })?,
        })
    }
}

impl Config {
    /// The kernel policy for commands: the workspace, extra roots and the temp dir writable
    /// (in `workspace-write`), `.git` protected, credentials and `$OURO_HOME` hidden.
    pub fn sandbox_policy(&self) -> SandboxPolicy {
        let settings = &self.sandbox_workspace_write;
        let mut roots = vec![self.cwd.clone()];
        roots.extend(settings.writable_roots.iter().cloned());
        roots.push(std::env::temp_dir());
        let mut hidden = std::env::var_os("HOME")
            .map(|home| sensitive_paths(Path::new(&home)))
            .unwrap_or_default();
        hidden.push(self.ouro_home.clone());
        let mut policy = SandboxPolicy::new(
            self.sandbox_mode,
            roots,
            settings.network_access,
            settings.git_writable,
            hidden,
        );
        let limits = &self.sandbox_limits;
        let defaults = policy.limits;
        policy.limits = Limits {
            memory_bytes: limits.memory_bytes.or(defaults.memory_bytes),
            file_size_bytes: limits.file_size_bytes.or(defaults.file_size_bytes),
            processes: limits.processes.or(defaults.processes),
            cpu_seconds: limits.cpu_seconds.or(defaults.cpu_seconds),
        };
        policy
    }
}

/// The embedded model's built-in provider id.
pub const LOCAL_PROVIDER: &str = "local";

/// The HTTP providers ouro knows, and the embedded model.
fn all_built_in_providers() -> BTreeMap<String, ProviderInfo> {
    let mut providers = built_in_providers();
    providers.insert(
        LOCAL_PROVIDER.to_string(),
        ProviderInfo::new("Local (embedded)", "", WireApi::Local, None),
    );
    providers
}

/// Fills the keys a `[model_providers.NAME]` table leaves out from the built-in provider of
/// that name, so a config can change one setting of a built-in.
fn complete_built_in_providers(table: &mut toml::Table) {
    let Some(toml::Value::Table(configured)) = table.get_mut("model_providers") else {
        return;
    };
    for (name, built_in) in all_built_in_providers() {
        let Some(toml::Value::Table(provider)) = configured.get_mut(&name) else {
            continue;
        };
        let Ok(toml::Value::Table(defaults)) = toml::Value::try_from(&built_in) else {
            continue;
        };
        for (key, value) in defaults {
            provider.entry(key).or_insert(value);
        }
    }
}

/// With no provider configured, use the first hosted provider whose key is in the
/// environment, or else the embedded model.
fn default_provider_id() -> String {
    for (id, var) in [
        ("openai", "OPENAI_API_KEY"),
        ("anthropic", "ANTHROPIC_API_KEY"),
    ] {
        if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
            return id.to_string();
        }
    }
    LOCAL_PROVIDER.to_string()
}

/// The GGUF file the embedded model runs: the provider's `model_path`, or the managed model
/// `model` names (see `ouro model pull`).
pub fn local_model_path(config: &Config) -> Result<PathBuf, ConfigError> {
    if let Some(path) = &config.provider.model_path {
        return Ok(path.clone());
    }
    ouro_local::models::resolve_local(&config.model, &config.ouro_home).map_err(|e| {
        ConfigError::Invalid(format!(
            "{e}; fetch it with `ouro model pull {}` or set model_providers.{}.model_path",
            config.model, config.provider_id
        ))
    })
}

/// The edit tool each wire format's model family is trained on. To be settled by
/// measurement on the evaluation; `tools.edit` overrides it.
fn default_edit_tool(wire_api: WireApi) -> EditTool {
    match wire_api {
        // OpenAI's coding models are trained on the patch format.
        WireApi::Responses => EditTool::ApplyPatch,
        // Claude's tools are string replacement; open models behind Chat Completions do
        // best with the simplest exact-match tool.
        WireApi::Anthropic | WireApi::Chat => EditTool::Edit,
        // Small local models: the simplest tool; the evaluation will tell whether `whole`
        // does better.
        WireApi::Local => EditTool::Edit,
    }
}

fn default_model(provider_id: &str) -> Option<String> {
    match provider_id {
        LOCAL_PROVIDER => Some(ouro_local::models::DEFAULT_MODEL.into()),
        "openai" => Some("gpt-5-codex".into()),
        "anthropic" => Some("claude-sonnet-4-5".into()),
        _ => None,
    }
}

fn list_or_none<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Sets `a.b.c = value` in `table`. The value is read as TOML (`true`, `3`, `["x"]`,
/// `{k = "v"}`), and as a plain string when it is not valid TOML.
fn apply_override(table: &mut toml::Table, raw: &str) -> Result<(), ConfigError> {
    let err = |message: &str| ConfigError::Override {
        raw: raw.to_string(),
        message: message.to_string(),
    };
    let (key, value) = raw
        .split_once('=')
        .ok_or_else(|| err("expected key=value, e.g. -c model=\"o4-mini\""))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(|part| part.trim().is_empty()) {
        return Err(err("the key is empty or has an empty dotted part"));
    }
    let value = value.trim();
    let value = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
        Ok(mut parsed) => parsed.remove("v").unwrap_or_else(|| value.into()),
        Err(_) => toml::Value::String(value.to_string()),
    };
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    let (last, parents) = parts.split_last().ok_or_else(|| err("empty key"))?;
    let mut current = table;
    for part in parents {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| err(&format!("`{part}` is not a table, so it has no keys")))?;
    }
    current.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, overrides: &Overrides) -> Result<Config, ConfigError> {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("config.toml"), text).unwrap();
        Config::load(home.path(), Path::new("/tmp"), overrides)
    }

    const LOCAL: &str = r#"
model = "qwen"
model_provider = "mine"

[model_providers.mine]
name = "Mine"
base_url = "http://127.0.0.1:9/v1"
wire_api = "chat"
"#;

    #[test]
    fn file_profile_overrides_and_flags_layer_in_order() {
        let text =
            format!("{LOCAL}\n[profiles.fast]\nmodel = \"small\"\nsandbox_mode = \"read-only\"\n");
        let config = load(&text, &Overrides::default()).unwrap();
        assert_eq!(config.model, "qwen");
        assert_eq!(config.provider.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(config.sandbox_mode, SandboxMode::WorkspaceWrite);

        let overrides = Overrides {
            profile: Some("fast".into()),
            raw: vec![
                "approval_policy=\"untrusted\"".into(),
                "model_providers.mine.request_max_retries=7".into(),
                "sandbox_workspace_write.writable_roots=[\"/data\"]".into(),
            ],
            ..Overrides::default()
        };
        let config = load(&text, &overrides).unwrap();
        assert_eq!(config.model, "small");
        assert_eq!(config.sandbox_mode, SandboxMode::ReadOnly);
        assert_eq!(config.approval_policy, ApprovalPolicy::Untrusted);
        assert_eq!(config.provider.request_max_retries, 7);
        assert_eq!(
            config.sandbox_workspace_write.writable_roots,
            [PathBuf::from("/data")]
        );

        let overrides = Overrides {
            model: Some("flag".into()),
            raw: vec!["model=from-c".into()],
            ..Overrides::default()
        };
        assert_eq!(load(&text, &overrides).unwrap().model, "flag");
        let overrides = Overrides {
            raw: vec!["model=from-c".into()],
            ..Overrides::default()
        };
        assert_eq!(load(&text, &overrides).unwrap().model, "from-c");
    }

    #[test]
    fn the_embedded_model_gets_the_small_family_its_tools_and_its_settings() {
        let local = "model_provider = \"local\"\n[local_model]\ntemperature = 0.7\nthreads = 3\n";
        let config = load(local, &Overrides::default()).unwrap();
        assert_eq!(config.prompt_family, PromptFamily::Small);
        assert_eq!(config.tool_set, ToolSetSize::Basic);
        assert_eq!(config.edit_tool, EditTool::Edit);
        assert_eq!(config.local_model.temperature, Some(0.7));
        assert_eq!(config.local_model.threads, Some(3));
        assert_eq!(config.local_model.context_size, None);

        let config = load(LOCAL, &Overrides::default()).unwrap();
        assert_eq!(config.prompt_family, PromptFamily::Default);
        assert_eq!(config.tool_set, ToolSetSize::Full);
        let overrides = Overrides {
            raw: vec!["tools.set=\"basic\"".into()],
            ..Overrides::default()
        };
        assert_eq!(
            load(LOCAL, &overrides).unwrap().tool_set,
            ToolSetSize::Basic
        );

        let err = load("[local_model]\ntemprature = 1\n", &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("temprature"), "{err}");
    }

    #[test]
    fn a_bad_key_in_the_file_names_file_line_and_key() {
        let err = load(
            &format!("sandbox_mod = \"read-only\"{LOCAL}"),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("config.toml"), "{err}");
        assert!(err.contains("line 1"), "{err}");
        assert!(err.contains("sandbox_mod"), "{err}");

        let err = load(
            &format!("sandbox_mode = \"yolo\"{LOCAL}"),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(err.contains("yolo"), "{err}");
    }

    #[test]
    fn a_bad_override_names_the_override() {
        let overrides = Overrides {
            raw: vec!["approval_policy=sometimes".into()],
            ..Overrides::default()
        };
        let err = load(LOCAL, &overrides).unwrap_err().to_string();
        assert!(err.contains("-c approval_policy=sometimes"), "{err}");
        assert!(err.contains("sometimes"), "{err}");

        let overrides = Overrides {
            raw: vec!["model".into()],
            ..Overrides::default()
        };
        let err = load(LOCAL, &overrides).unwrap_err().to_string();
        assert!(err.contains("key=value"), "{err}");
    }

    #[test]
    fn one_key_of_a_built_in_provider_can_be_changed() {
        let overrides = Overrides {
            raw: vec!["model_providers.local.model_path=\"/models/mine.gguf\"".into()],
            ..Overrides::default()
        };
        let config = load("model_provider = \"local\"\n", &overrides).unwrap();
        assert_eq!(config.provider.wire_api, WireApi::Local);
        assert_eq!(
            config.provider.model_path,
            Some(PathBuf::from("/models/mine.gguf"))
        );
        assert_eq!(config.model, ouro_local::models::DEFAULT_MODEL);

        let text = "model_provider = \"ollama\"\nmodel = \"q\"\n[model_providers.ollama]\nbase_url = \"http://gpu:11434/v1\"\n";
        let config = load(text, &Overrides::default()).unwrap();
        assert_eq!(config.provider.base_url, "http://gpu:11434/v1");
        assert_eq!(config.provider.wire_api, WireApi::Chat);
        assert_eq!(config.provider.name, "Ollama");
    }

    #[test]
    fn unknown_provider_and_profile_are_explained() {
        let err = load(
            "model_provider = \"nope\"\nmodel = \"m\"\n",
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`nope` is unknown"), "{err}");
        assert!(err.contains("openai"), "{err}");
        let overrides = Overrides {
            profile: Some("ghost".into()),
            ..Overrides::default()
        };
        let err = load(LOCAL, &overrides).unwrap_err().to_string();
        assert!(err.contains("profile `ghost`"), "{err}");
    }
}
