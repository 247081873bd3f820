//! Session records ("rollouts"): one JSONL file per session, appended as things happen.
//!
//! The file is the session. Each line is written whole and flushed before the next model
//! request, so a crash (even `kill -9`) loses at most what was in flight; a torn last line is
//! skipped with a warning when the file is loaded. Resuming replays the items into history
//! and keeps appending to the same file.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ouro_protocol::ResponseItem;
use serde::{Deserialize, Serialize};

/// The first line of every rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionMeta {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub cwd: PathBuf,
    pub model: String,
    pub model_provider: String,
    /// The exact instructions of every request in this session; kept so a resumed session
    /// sends the same prefix.
    pub instructions: String,
    pub ouro_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all = "snake_case")]
pub enum Record {
    SessionMeta(SessionMeta),
    ResponseItem(ResponseItem),
    /// A turn ended before the model finished: interrupted, or failed.
    TurnAborted {
        reason: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    timestamp: DateTime<Utc>,
    #[serde(flatten)]
    record: Record,
}

#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("cannot write session file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read session file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an ouro session: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("no session found for `{0}` (see `ouro sessions list`)")]
    NotFound(String),
}

/// Appends records to a session's file.
#[derive(Debug)]
pub struct RolloutRecorder {
    path: PathBuf,
    file: File,
}

impl RolloutRecorder {
    /// Creates `sessions/YYYY/MM/DD/<timestamp>-<id>.jsonl` under `ouro_home` and writes the
    /// meta line.
    pub fn create(ouro_home: &Path, meta: &SessionMeta) -> Result<Self, RolloutError> {
        let dir = ouro_home
            .join("sessions")
            .join(meta.created_at.format("%Y/%m/%d").to_string());
        let path = dir.join(format!(
            "{}-{}.jsonl",
            meta.created_at.format("%Y-%m-%dT%H-%M-%S"),
            meta.id
        ));
        let write_err = |source| RolloutError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(write_err)?;
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(write_err)?;
        let mut recorder = RolloutRecorder { path, file };
        recorder.append(&Record::SessionMeta(meta.clone()))?;
        Ok(recorder)
    }

    /// Opens an existing session file for appending. A torn last line (a crash mid-write) is
    /// closed with a newline first, so what follows starts a readable line of its own.
    pub fn reopen(path: &Path) -> Result<Self, RolloutError> {
        let write_err = |source| RolloutError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(write_err)?;
        if !ends_with_newline(&mut file).map_err(write_err)? {
            file.write_all(b"\n").map_err(write_err)?;
        }
        Ok(RolloutRecorder {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one record as one line, in a single write, and flushes it.
    pub fn append(&mut self, record: &Record) -> Result<(), RolloutError> {
        let line = Line {
            timestamp: Utc::now(),
            record: record.clone(),
        };
        let mut text = serde_json::to_string(&line).map_err(|e| RolloutError::Write {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|source| RolloutError::Write {
                path: self.path.clone(),
                source,
            })
    }
}

fn ends_with_newline(file: &mut File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// A session read back from its file.
#[derive(Debug)]
pub struct LoadedSession {
    pub path: PathBuf,
    pub meta: SessionMeta,
    pub records: Vec<Record>,
    /// Lines that could not be read (a torn last line after a crash), as messages.
    pub warnings: Vec<String>,
}

impl LoadedSession {
    pub fn items(&self) -> impl Iterator<Item = &ResponseItem> {
        self.records.iter().filter_map(|r| match r {
            Record::ResponseItem(item) => Some(item),
            _ => None,
        })
    }

    /// The text of the first user message: what the session was started for.
    pub fn first_prompt(&self) -> Option<&str> {
        self.items().find_map(|item| match item {
            ResponseItem::Message {
                role: ouro_protocol::Role::User,
                text,
            } => Some(text.as_str()),
            _ => None,
        })
    }
}

pub fn load(path: &Path) -> Result<LoadedSession, RolloutError> {
    let read_err = |source| RolloutError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let mut meta = None;
    let mut records = Vec::new();
    let mut warnings = Vec::new();
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    let last = lines.len();
    for (index, text) in lines.iter().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(text) {
            Ok(Line {
                record: Record::SessionMeta(m),
                ..
            }) if meta.is_none() => meta = Some(m),
            Ok(line) => records.push(line.record),
            Err(e) => {
                let what = if index + 1 == last {
                    "the last line is incomplete (the session was cut off mid-write)"
                } else {
                    "unreadable line"
                };
                warnings.push(format!(
                    "{}:{}: {what}, skipped: {e}",
                    path.display(),
                    index + 1
                ));
            }
        }
    }
    let meta = meta.ok_or_else(|| RolloutError::Invalid {
        path: path.to_path_buf(),
        reason: "it has no session_meta line".into(),
    })?;
    Ok(LoadedSession {
        path: path.to_path_buf(),
        meta,
        records,
        warnings,
    })
}

/// Every session file under `ouro_home`, newest first (file names start with the creation
/// time).
pub fn list(ouro_home: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![ouro_home.join("sessions")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                files.push(path);
            }
        }
    }
    files.sort_by(|a, b| b.file_name().cmp(&a.file_name()));
    files
}

/// The file of the session whose id is or starts with `id`; or the newest one for `None`.
pub fn find(ouro_home: &Path, id: Option<&str>) -> Result<PathBuf, RolloutError> {
    let files = list(ouro_home);
    let found = match id {
        None => files.into_iter().next(),
        Some(id) => {
            let matches: Vec<PathBuf> = files
                .into_iter()
                .filter(|p| {
                    p.file_stem()
                        .and_then(|s| s.to_str())
                        .and_then(|s| s.get(20..)) // after "YYYY-MM-DDTHH-MM-SS-"
                        .is_some_and(|session_id| session_id.starts_with(id))
                })
                .collect();
            if matches.len() > 1 {
                return Err(RolloutError::Invalid {
                    path: ouro_home.join("sessions"),
                    reason: format!(
                        "`{id}` matches {} sessions; give more of the id",
                        matches.len()
                    ),
                });
            }
            matches.into_iter().next()
        }
    };
    found.ok_or_else(|| RolloutError::NotFound(id.unwrap_or("the last session").to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str) -> SessionMeta {
        SessionMeta {
            id: id.into(),
            created_at: Utc::now(),
            cwd: PathBuf::from("/work"),
            model: "m".into(),
            model_provider: "p".into(),
            instructions: "be good".into(),
            ouro_version: "0".into(),
        }
    }

    #[test]
    fn records_round_trip_and_a_torn_last_line_is_skipped() {
        let home = tempfile::tempdir().unwrap();
        let mut recorder = RolloutRecorder::create(home.path(), &meta("abc123")).unwrap();
        recorder
            .append(&Record::ResponseItem(ResponseItem::user("fix it")))
            .unwrap();
        recorder
            .append(&Record::ResponseItem(ResponseItem::assistant("done")))
            .unwrap();
        let path = recorder.path().to_path_buf();
        drop(recorder);
        // Simulate a crash mid-write.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"timestamp":"2026-01-01T00:00:00Z","type":"respo"#)
            .unwrap();

        let loaded = load(&path).unwrap();
        assert_eq!(loaded.meta.id, "abc123");
        assert_eq!(loaded.items().count(), 2);
        assert_eq!(loaded.first_prompt(), Some("fix it"));
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains(":4: the last line is incomplete"));

        // Appending after a torn line starts a fresh, readable line.
        let mut recorder = RolloutRecorder::reopen(&path).unwrap();
        recorder
            .append(&Record::TurnAborted {
                reason: "interrupted".into(),
            })
            .unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.records.len(), 2 + 1, "{:?}", loaded.warnings);
    }

    #[test]
    fn find_by_prefix_or_newest() {
        let home = tempfile::tempdir().unwrap();
        let first = RolloutRecorder::create(home.path(), &meta("0001-aaaa")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = RolloutRecorder::create(home.path(), &meta("0002-bbbb")).unwrap();
        assert_eq!(find(home.path(), None).unwrap(), second.path());
        assert_eq!(find(home.path(), Some("0001")).unwrap(), first.path());
        assert!(matches!(
            find(home.path(), Some("000")),
            Err(RolloutError::Invalid { .. })
        ));
        assert!(matches!(
            find(home.path(), Some("9")),
            Err(RolloutError::NotFound(_))
        ));
    }
}
