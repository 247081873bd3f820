//! A static file server for download tests: `GET` with `Range` and `If-Range`, an ETag per
//! file version, and scripted broken connections.
//!
//! Like [`crate::MockServer`] it is plain `std::net` with a thread per connection and
//! `Connection: close`, so it works from any test and next to a child process.

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A request as the file server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRequest {
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The `If-Range` header, if any.
    pub if_range: Option<String>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Files {
    /// path → (bytes, version)
    files: HashMap<String, (Arc<Vec<u8>>, u32)>,
    /// Each response pops one: `Some(n)` sends only `n` body bytes, then drops the connection.
    cuts: VecDeque<Option<usize>>,
    honour_ranges: bool,
    requests: Vec<FileRequest>,
}

struct Shared {
    files: Mutex<Files>,
    shutdown: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Files> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Serves files from memory on `127.0.0.1`. Dropping it shuts it down.
pub struct FileServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FileServer {
    /// Serves each `(path, bytes)`; `path` starts with `/`. Ranges are honoured.
    ///
    /// # Panics
    ///
    /// When no local port can be bound: a test environment problem, not a test failure.
    pub fn start(files: Vec<(&str, Vec<u8>)>) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port for FileServer");
        let addr = listener.local_addr().expect("local address of FileServer");
        let shared = Arc::new(Shared {
            files: Mutex::new(Files {
                files: files
                    .into_iter()
                    .map(|(p, b)| (p.to_string(), (Arc::new(b), 1)))
                    .collect(),
                honour_ranges: true,
                ..Files::default()
            }),
            shutdown: AtomicBool::new(false),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("file-server".into())
                .spawn(move || {
                    for conn in listener.incoming() {
                        if shared.shutdown.load(Ordering::SeqCst) {
                            return;
                        }
                        let Ok(conn) = conn else { continue };
                        let shared = Arc::clone(&shared);
                        thread::spawn(move || {
                            let _ = serve(conn, &shared);
                        });
                    }
                })
                .expect("spawn the FileServer thread")
        };
        FileServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<FileRequest> {
        self.shared.lock().requests.clone()
    }

    /// The next responses, one per entry, send only this many body bytes and then drop the
    /// connection (`None`: a whole response).
    pub fn cut_responses(&self, cuts: &[Option<usize>]) {
        self.shared.lock().cuts.extend(cuts.iter().copied());
    }

    /// Whether `Range` is honoured (otherwise every answer is a full `200`).
    pub fn honour_ranges(&self, honour: bool) {
        self.shared.lock().honour_ranges = honour;
    }

    /// Replaces (or adds) a file; its ETag changes.
    pub fn replace(&self, path: &str, bytes: Vec<u8>) {
        let mut files = self.shared.lock();
        let version = files.files.get(path).map_or(1, |(_, v)| v + 1);
        files
            .files
            .insert(path.to_string(), (Arc::new(bytes), version));
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn serve(conn: TcpStream, shared: &Shared) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let path = words.next().unwrap_or("").to_string();
    let mut request = FileRequest {
        path: path.clone(),
        range: None,
        if_range: None,
        authorization: None,
    };
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = Some(value.trim().to_string());
            match name.trim().to_ascii_lowercase().as_str() {
                "range" => request.range = value,
                "if-range" => request.if_range = value,
                "authorization" => request.authorization = value,
                _ => {}
            }
        }
    }
    let (file, cut, honour_ranges) = {
        let mut files = shared.lock();
        files.requests.push(request.clone());
        let cut = files.cuts.pop_front().flatten();
        (files.files.get(&path).cloned(), cut, files.honour_ranges)
    };
    let mut conn = conn;
    let Some((bytes, version)) = file.filter(|_| method == "GET") else {
        return write_head(
            &mut conn,
            "404 Not Found",
            &[("Content-Length", "0".into())],
        );
    };
    let etag = format!("\"v{version}\"");
    let len = bytes.len();
    let wanted = request
        .range
        .as_deref()
        .filter(|_| honour_ranges)
        .filter(|_| request.if_range.as_deref().is_none_or(|v| v == etag))
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(first, _)| first.parse::<usize>().ok());
    let (status, body, mut headers) = match wanted {
        Some(first) if first >= len => {
            let headers = vec![
                ("Content-Range", format!("bytes */{len}")),
                ("Content-Length", "0".into()),
            ];
            return write_head(&mut conn, "416 Range Not Satisfiable", &headers);
        }
        Some(first) => (
            "206 Partial Content",
            &bytes[first..],
            vec![("Content-Range", format!("bytes {first}-{}/{len}", len - 1))],
        ),
        None => ("200 OK", &bytes[..], Vec::new()),
    };
    headers.push(("Content-Length", body.len().to_string()));
    headers.push(("ETag", etag));
    headers.push(("Accept-Ranges", "bytes".into()));
    headers.push(("Content-Type", "application/octet-stream".into()));
    write_head(&mut conn, status, &headers)?;
    match cut {
        Some(n) => {
            conn.write_all(&body[..n.min(body.len())])?;
            conn.flush()?;
            conn.shutdown(std::net::Shutdown::Both)
        }
        None => {
            conn.write_all(body)?;
            conn.flush()
        }
    }
}

fn write_head(conn: &mut TcpStream, status: &str, headers: &[(&str, String)]) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())
}
