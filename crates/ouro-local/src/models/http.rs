//! Models from a URL: a resumable download into `NAME.gguf.partial`.
//!
//! An interrupted download keeps its `.partial`; the next attempt (a retry within this pull,
//! or a later `ouro model pull` of the same URL) asks for the rest with `Range`, guarded by
//! `If-Range` with the ETag or Last-Modified of the first response so a file that changed on
//! the server starts over instead of being spliced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{self, HeaderMap};
use reqwest::StatusCode;

use super::{
    cache_dir, existing_verified, hash_file, install, models_dir, partial_path, Error, Lock,
    Progress, Result, Unit,
};

/// Attempts in a row that may fail without moving the download forward.
const MAX_STALLED_ATTEMPTS: u32 = 5;
/// Silence from the server longer than this drops the connection (and resumes).
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the resume validator (ETag or Last-Modified) of `NAME.gguf.partial` is kept.
pub(super) fn validator_path(ouro_home: &Path, file_name: &str) -> PathBuf {
    cache_dir(ouro_home).join(format!("{file_name}.validator"))
}

pub(super) fn pull_url(
    url: &str,
    file_name: &str,
    bearer: Option<&str>,
    expected: Option<&str>,
    ouro_home: &Path,
    progress: &mut dyn Progress,
) -> Result<PathBuf> {
    let dir = models_dir(ouro_home);
    fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
    let dest = dir.join(file_name);
    if existing_verified(&dest, expected, None, progress)?.is_some() {
        progress.message(&format!(
            "{file_name} is already in {} (`ouro model rm {file_name}` first to download it again)",
            dir.display()
        ));
        return Ok(dest);
    }
    let _lock = Lock::acquire(ouro_home, file_name, progress)?;
    if existing_verified(&dest, expected, None, progress)?.is_some() {
        return Ok(dest);
    }
    if dest.exists() {
        progress.message(&format!(
            "{} does not have the expected checksum: it will be replaced",
            dest.display()
        ));
    }
    let partial = partial_path(&dest);
    let validator = validator_path(ouro_home, file_name);
    download(url, bearer, &partial, &validator, file_name, progress)?;
    let (sha, size) = hash_file(&partial, progress)?;
    if let Some(expected) = expected {
        if sha != expected {
            let _ = fs::remove_file(&partial);
            let _ = fs::remove_file(&validator);
            return Err(Error::Checksum {
                what: format!("{file_name} downloaded from {url}"),
                expected: expected.to_string(),
                actual: sha,
                size,
                advice: "The download was deleted; check the URL and the checksum.".into(),
            });
        }
    } else {
        progress.message(&format!(
            "{file_name} has no published checksum; recorded the one computed now: {sha}"
        ));
    }
    install(&partial, &dest, &sha, &format!("{file_name} from {url}"))?;
    let _ = fs::remove_file(&validator);
    Ok(dest)
}

/// Why one attempt ended early.
enum Stop {
    /// Worth another attempt; `progressed` says whether this one got anywhere.
    Retry {
        why: String,
        progressed: bool,
    },
    Fatal(Error),
}

fn download(
    url: &str,
    bearer: Option<&str>,
    partial: &Path,
    validator: &Path,
    file_name: &str,
    progress: &mut dyn Progress,
) -> Result<()> {
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(READ_TIMEOUT)
        .user_agent(concat!("ouro/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Fetch(format!("cannot start an HTTP client: {e}")))?;
    let mut stalled = 0;
    loop {
        match attempt(
            &client, url, bearer, partial, validator, file_name, progress,
        ) {
            Ok(()) => return Ok(()),
            Err(Stop::Fatal(e)) => return Err(e),
            Err(Stop::Retry { why, progressed }) => {
                stalled = if progressed { 1 } else { stalled + 1 };
                let have = fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
                if stalled > MAX_STALLED_ATTEMPTS {
                    return Err(Error::Fetch(format!(
                        "downloading {url} failed: {why}. {have} bytes are kept in {}; run the \
                         same pull again to resume",
                        partial.display()
                    )));
                }
                progress.message(&format!(
                    "{why}; resuming at {have} bytes (attempt {}/{MAX_STALLED_ATTEMPTS})",
                    stalled + 1
                ));
                std::thread::sleep(Duration::from_millis(200 << stalled.min(5)));
            }
        }
    }
}

/// `Content-Range: bytes FIRST-LAST/TOTAL` (or `bytes */TOTAL`) as (first, total).
fn content_range(headers: &HeaderMap) -> Option<(Option<u64>, Option<u64>)> {
    let value = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = total.trim().parse().ok();
    let first = match range.trim() {
        "*" => None,
        r => Some(r.split_once('-')?.0.trim().parse().ok()?),
    };
    Some((first, total))
}

/// A strong ETag, else Last-Modified: what `If-Range` may carry.
fn validator_of(headers: &HeaderMap) -> Option<String> {
    let etag = headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.starts_with("W/"));
    etag.or_else(|| {
        headers
            .get(header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
    })
    .map(str::to_string)
}

fn attempt(
    client: &reqwest::blocking::Client,
    url: &str,
    bearer: Option<&str>,
    partial: &Path,
    validator_file: &Path,
    file_name: &str,
    progress: &mut dyn Progress,
) -> Result<(), Stop> {
    let fatal_io = |action, path: &Path, e| Stop::Fatal(Error::io(action, path, e));
    let have = fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
    let mut request = client.get(url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if have > 0 {
        request = request.header(header::RANGE, format!("bytes={have}-"));
        if let Ok(validator) = fs::read_to_string(validator_file) {
            request = request.header(header::IF_RANGE, validator.trim());
        }
    }
    let mut response = request.send().map_err(|e| Stop::Retry {
        why: format!("cannot reach {url}: {e}"),
        progressed: false,
    })?;
    let status = response.status();
    let (start, total) = match status {
        StatusCode::PARTIAL_CONTENT => match content_range(response.headers()) {
            Some((Some(first), total)) if first == have => (
                have,
                total.or_else(|| response.content_length().map(|n| n + have)),
            ),
            _ => {
                // Not the range asked for: start over, as if the server ignored Range.
                let _ = fs::remove_file(partial);
                return Err(Stop::Retry {
                    why: "the server resumed at a different offset".into(),
                    progressed: false,
                });
            }
        },
        StatusCode::OK => {
            if have > 0 {
                progress.message(&format!(
                    "{url} cannot be resumed (or changed on the server): starting over"
                ));
            }
            match validator_of(response.headers()) {
                Some(v) => fs::write(validator_file, v)
                    .map_err(|e| fatal_io("write", validator_file, e))?,
                None => {
                    let _ = fs::remove_file(validator_file);
                }
            }
            (0, response.content_length())
        }
        StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => {
            if let Some((None, Some(total))) = content_range(response.headers()) {
                if total == have {
                    return Ok(()); // the partial file was already complete
                }
            }
            let _ = fs::remove_file(partial);
            return Err(Stop::Retry {
                why: "the server would not resume the download".into(),
                progressed: false,
            });
        }
        s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
            return Err(Stop::Retry {
                why: format!("{url} answered HTTP {s}"),
                progressed: false,
            })
        }
        s => {
            let hint = match s {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    " (a gated or private file needs a token: set HF_TOKEN for the Hugging Face endpoint)"
                }
                StatusCode::NOT_FOUND => " (check the URL or the owner/repo/file spec)",
                _ => "",
            };
            return Err(Stop::Fatal(Error::Fetch(format!(
                "{url} answered HTTP {s}{hint}"
            ))));
        }
    };
    let mut file = if start == 0 {
        File::create(partial)
    } else {
        OpenOptions::new().append(true).open(partial)
    }
    .map_err(|e| fatal_io("write", partial, e))?;
    progress.start(&format!("downloading {file_name}"), total, Unit::Bytes);
    progress.set(start);
    let mut done = start;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match response.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = file.sync_all();
                progress.finish();
                return Err(Stop::Retry {
                    why: format!("the connection broke after {done} bytes ({e})"),
                    progressed: done > start,
                });
            }
        };
        file.write_all(&buf[..n])
            .map_err(|e| fatal_io("write", partial, e))?;
        done += n as u64;
        progress.set(done);
    }
    file.sync_all().map_err(|e| fatal_io("write", partial, e))?;
    progress.finish();
    match total {
        Some(total) if done < total => Err(Stop::Retry {
            why: format!("the server closed the connection after {done} of {total} bytes"),
            progressed: done > start,
        }),
        Some(total) if done > total => {
            let _ = fs::remove_file(partial);
            Err(Stop::Fatal(Error::Fetch(format!(
                "{url} sent {done} bytes where it announced {total}; the download was deleted"
            ))))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn parses_content_range() {
        let mut headers = HeaderMap::new();
        assert_eq!(content_range(&headers), None);
        headers.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_static("bytes 100-199/1000"),
        );
        assert_eq!(content_range(&headers), Some((Some(100), Some(1000))));
        headers.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_static("bytes */1000"),
        );
        assert_eq!(content_range(&headers), Some((None, Some(1000))));
        headers.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_static("bytes 5-9/*"),
        );
        assert_eq!(content_range(&headers), Some((Some(5), None)));
        headers.insert(header::CONTENT_RANGE, HeaderValue::from_static("garbage"));
        assert_eq!(content_range(&headers), None);
    }

    #[test]
    fn only_strong_etags_guard_a_resume() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, HeaderValue::from_static("W/\"weak\""));
        assert_eq!(validator_of(&headers), None);
        headers.insert(
            header::LAST_MODIFIED,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            validator_of(&headers).as_deref(),
            Some("Wed, 21 Oct 2015 07:28:00 GMT")
        );
        headers.insert(header::ETAG, HeaderValue::from_static("\"strong\""));
        assert_eq!(validator_of(&headers).as_deref(), Some("\"strong\""));
    }
}
