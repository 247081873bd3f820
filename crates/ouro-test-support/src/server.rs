//! A scripted HTTP/1.1 server that plays the part of a model provider.
//!
//! It runs on plain `std::net` with a thread per connection, so it behaves the same from a
//! plain `#[test]`, from a `#[tokio::test]` on any runtime flavour, and next to a child
//! `ouro` process: it needs nothing from its caller's runtime. HTTP is written by hand
//! because a streaming client needs only a small subset (one request per connection,
//! `Connection: close`) and owning the bytes lets a script cut or stall a stream at an exact
//! offset, which is what retry tests need.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown as SocketShutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Longest request line or header line accepted; anything longer is not a real client.
const MAX_LINE: u64 = 64 * 1024;

/// How long a connection may sit silent while its request is read.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// One scripted answer. The server hands them out in order, one per request.
#[derive(Debug, Clone)]
pub enum MockResponse {
    /// `200 OK`, `text/event-stream`, this body, then a clean end.
    Sse(String),
    /// Like [`MockResponse::Sse`] but the connection is closed after `cut_after_bytes` bytes
    /// of the body, without ending the chunked encoding: a stream broken mid-way.
    SseCut {
        body: String,
        cut_after_bytes: usize,
    },
    /// Sends the first `stall_after_bytes` bytes of the body, goes silent for `stall_for`,
    /// then sends the rest (if the client is still there).
    SseStall {
        body: String,
        stall_after_bytes: usize,
        stall_for: Duration,
    },
    /// Any status with these extra headers and body (`application/json` unless a
    /// `content-type` header is given), e.g. 429 with `Retry-After`, 500, 400.
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
}

impl MockResponse {
    /// A complete, successful stream of `reply` in the given wire format.
    pub fn reply(wire: crate::Wire, reply: &crate::Reply) -> MockResponse {
        MockResponse::Sse(crate::sse(wire, reply))
    }
}

/// A request as the server received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// The request target, e.g. `/v1/responses`.
    pub path: String,
    /// In arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body as JSON; a body that is not JSON is kept as a string, an empty one is null.
    pub body: serde_json::Value,
    /// When the request's first byte arrived.
    pub received_at: Instant,
    /// When the last byte of the answer was sent; `None` while it is being sent or when the
    /// client went away first.
    pub answered_at: Option<Instant>,
}

impl RecordedRequest {
    /// The first header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A mock model provider on `127.0.0.1`, serving a script. Dropping it shuts it down.
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<State>,
    acceptor: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Starts serving `script` in order, one response per request on any path. Requests past
    /// the end of the script get a 500 with a JSON error saying so.
    ///
    /// # Panics
    ///
    /// When no local port can be bound: a test environment problem, not a test failure.
    pub fn start(script: Vec<MockResponse>) -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port for MockServer");
        let addr = listener.local_addr().expect("local address of MockServer");
        let state = Arc::new(State {
            script: Mutex::new(Script {
                responses: script.into(),
                served: 0,
                requests: Vec::new(),
            }),
            shutdown: ShutdownSignal::default(),
        });
        let acceptor = {
            let state = Arc::clone(&state);
            thread::Builder::new()
                .name("mock-model-server".into())
                .spawn(move || accept_loop(&listener, &state))
                .expect("spawn the MockServer thread")
        };
        MockServer {
            addr,
            state,
            acceptor: Some(acceptor),
        }
    }

    /// The base URL to configure a provider with: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.script().requests.clone()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.state.shutdown.set();
        // Wake the acceptor, which is blocked in accept(); it sees the flag and returns.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

struct State {
    script: Mutex<Script>,
    shutdown: ShutdownSignal,
}

struct Script {
    responses: VecDeque<MockResponse>,
    served: usize,
    requests: Vec<RecordedRequest>,
}

impl State {
    /// A panicking test thread must not take the server down with a poisoned lock.
    fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `request` and picks its answer, under one lock so that the n-th recorded
    /// request is the one that got the n-th response.
    fn answer(&self, request: RecordedRequest) -> (usize, MockResponse) {
        let mut script = self.script();
        script.requests.push(request);
        let index = script.requests.len() - 1;
        let response = match script.responses.pop_front() {
            Some(response) => {
                script.served += 1;
                response
            }
            None => {
                let message = format!(
                    "mock server: script exhausted ({} responses served, this is request {})",
                    script.served,
                    script.requests.len()
                );
                MockResponse::Status {
                    status: 500,
                    headers: Vec::new(),
                    body: serde_json::json!({"error": {"message": message, "type": "mock_script_exhausted"}})
                        .to_string(),
                }
            }
        };
        (index, response)
    }
}

/// Set once when the server is dropped; stalled connections wake up on it.
#[derive(Default)]
struct ShutdownSignal {
    flag: Mutex<bool>,
    wake: Condvar,
}

impl ShutdownSignal {
    fn set(&self) {
        *self.flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }

    fn is_set(&self) -> bool {
        *self.flag.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps for `duration` unless shut down first; returns whether it was shut down.
    fn sleep(&self, duration: Duration) -> bool {
        let flag = self.flag.lock().unwrap_or_else(|e| e.into_inner());
        let (flag, _) = self
            .wake
            .wait_timeout_while(flag, duration, |set| !*set)
            .unwrap_or_else(|e| e.into_inner());
        *flag
    }
}

fn accept_loop(listener: &TcpListener, state: &Arc<State>) {
    for conn in listener.incoming() {
        if state.shutdown.is_set() {
            return;
        }
        match conn {
            Ok(conn) => {
                let state = Arc::clone(state);
                // Errors only mean this one client went away; the server carries on.
                thread::spawn(move || {
                    let _ = serve(conn, &state);
                });
            }
            // E.g. out of file descriptors: back off instead of spinning.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn serve(conn: TcpStream, state: &State) -> io::Result<()> {
    conn.set_read_timeout(Some(READ_TIMEOUT))?;
    conn.set_nodelay(true)?;
    let mut reader = BufReader::new(conn.try_clone()?);
    reader.fill_buf()?;
    let received_at = Instant::now();
    let request = read_request(&mut reader, received_at)?;
    let (index, response) = state.answer(request);
    let mut out = conn;
    write_response(&mut out, &response, &state.shutdown)?;
    out.flush()?;
    state.script().requests[index].answered_at = Some(Instant::now());
    out.shutdown(SocketShutdown::Both)
}

fn read_request(reader: &mut impl BufRead, received_at: Instant) -> io::Result<RecordedRequest> {
    let request_line = read_line(reader)?;
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(invalid(format!("bad request line {request_line:?}")));
    };
    let (method, path) = (method.to_string(), path.to_string());

    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };

    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(reader)?
    } else if let Some(length) = header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| invalid(format!("bad content-length {length:?}")))?;
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    } else {
        Vec::new()
    };

    let body = if body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&body).into_owned())
        })
    };
    Ok(RecordedRequest {
        method,
        path,
        headers,
        body,
        received_at,
        answered_at: None,
    })
}

/// Reads a `Transfer-Encoding: chunked` body, discarding chunk extensions and trailers.
fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        if !read_line(reader)?.is_empty() {
            return Err(invalid("chunk longer than its size".into()));
        }
    }
}

/// One CRLF- (or LF-) terminated line, without its terminator.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    reader.take(MAX_LINE).read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed or line too long while reading the request",
        ));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| invalid("request line is not UTF-8".into()))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn write_response(
    out: &mut TcpStream,
    response: &MockResponse,
    shutdown: &ShutdownSignal,
) -> io::Result<()> {
    match response {
        MockResponse::Sse(body) => {
            write_sse_head(out)?;
            write_sse_chunks(out, body.as_bytes())?;
            out.write_all(b"0\r\n\r\n")
        }
        MockResponse::SseCut {
            body,
            cut_after_bytes,
        } => {
            let body = body.as_bytes();
            write_sse_head(out)?;
            // No terminating chunk: the client sees the connection drop mid-body.
            write_sse_chunks(out, &body[..(*cut_after_bytes).min(body.len())])
        }
        MockResponse::SseStall {
            body,
            stall_after_bytes,
            stall_for,
        } => {
            let body = body.as_bytes();
            let (before, after) = body.split_at((*stall_after_bytes).min(body.len()));
            write_sse_head(out)?;
            write_sse_chunks(out, before)?;
            out.flush()?;
            if shutdown.sleep(*stall_for) {
                return Ok(());
            }
            write_sse_chunks(out, after)?;
            out.write_all(b"0\r\n\r\n")
        }
        MockResponse::Status {
            status,
            headers,
            body,
        } => {
            let mut head = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(*status));
            if !headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            {
                head.push_str("content-type: application/json\r\n");
            }
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str(&format!(
                "content-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            ));
            out.write_all(head.as_bytes())?;
            out.write_all(body.as_bytes())
        }
    }
}

fn write_sse_head(out: &mut impl Write) -> io::Result<()> {
    out.write_all(
        b"HTTP/1.1 200 OK\r\n\
          content-type: text/event-stream; charset=utf-8\r\n\
          cache-control: no-cache\r\n\
          transfer-encoding: chunked\r\n\
          connection: close\r\n\r\n",
    )
}

/// Writes `body` as HTTP chunks, one per SSE event (as a live server flushes each event).
fn write_sse_chunks(out: &mut impl Write, body: &[u8]) -> io::Result<()> {
    let mut rest = body;
    while !rest.is_empty() {
        let end = rest
            .windows(2)
            .position(|w| w == b"\n\n")
            .map_or(rest.len(), |i| i + 2);
        let mut chunk = format!("{end:x}\r\n").into_bytes();
        chunk.extend_from_slice(&rest[..end]);
        chunk.extend_from_slice(b"\r\n");
        out.write_all(&chunk)?;
        rest = &rest[end..];
    }
    Ok(())
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Sends raw bytes, returns everything the server answered.
    fn exchange(server: &MockServer, request: &[u8]) -> String {
        let mut conn = TcpStream::connect(server.addr).unwrap();
        conn.write_all(request).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn records_requests_and_serves_script_in_order() {
        let server = MockServer::start(vec![
            MockResponse::Sse("data: one\n\ndata: two\n\n".into()),
            MockResponse::Status {
                status: 429,
                headers: vec![("Retry-After".into(), "1".into())],
                body: "{}".into(),
            },
        ]);
        assert!(server.base_url().starts_with("http://127.0.0.1:"));
        assert!(server.base_url().ends_with("/v1"));

        let first = exchange(
            &server,
            b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n\
              Content-Length: 11\r\n\r\n{\"a\": true}",
        );
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(first.contains("transfer-encoding: chunked"));
        assert!(first.ends_with("b\r\ndata: one\n\n\r\nb\r\ndata: two\n\n\r\n0\r\n\r\n"));

        let second = exchange(
            &server,
            b"POST /v1/messages HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
              4\r\n[1, \r\n2;ext=1\r\n2]\r\n0\r\n\r\n",
        );
        assert!(second.starts_with("HTTP/1.1 429 Too Many Requests\r\n"));
        assert!(second.contains("Retry-After: 1\r\n"));

        let third = exchange(&server, b"GET /v1/models HTTP/1.1\r\n\r\n");
        assert!(third.starts_with("HTTP/1.1 500 "));
        assert!(third.contains("script exhausted"));

        let requests = server.requests();
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0].method, "POST");
        assert_eq!(requests[0].path, "/v1/responses");
        assert_eq!(requests[0].header("AUTHORIZATION"), Some("Bearer k"));
        assert_eq!(requests[0].body, serde_json::json!({"a": true}));
        assert_eq!(requests[1].body, serde_json::json!([1, 2]));
        assert_eq!(requests[2].method, "GET");
        assert_eq!(requests[2].body, serde_json::Value::Null);
    }

    #[test]
    fn cut_stream_ends_without_final_chunk() {
        let server = MockServer::start(vec![MockResponse::SseCut {
            body: "data: one\n\ndata: two\n\n".into(),
            cut_after_bytes: 15,
        }]);
        let answer = exchange(&server, b"POST /v1/chat/completions HTTP/1.1\r\n\r\n");
        assert!(answer.ends_with("b\r\ndata: one\n\n\r\n4\r\ndata\r\n"));
    }

    #[test]
    fn survives_clients_that_vanish() {
        let body = "data: x\n\n".repeat(10_000);
        let server = MockServer::start(vec![
            MockResponse::SseStall {
                body: body.clone(),
                stall_after_bytes: 10,
                stall_for: Duration::from_millis(50),
            },
            MockResponse::Sse(body),
            MockResponse::Sse("data: ok\n\n".into()),
        ]);
        for _ in 0..2 {
            let mut conn = TcpStream::connect(server.addr).unwrap();
            conn.write_all(b"POST /v1/x HTTP/1.1\r\n\r\n").unwrap();
            drop(conn);
        }
        // Connections are served concurrently: let those two take their answers first.
        while server.requests().len() < 2 {
            thread::sleep(Duration::from_millis(5));
        }
        // Half a request, then gone: not recorded, and nothing breaks.
        drop(TcpStream::connect(server.addr).unwrap());
        let answer = exchange(&server, b"POST /v1/x HTTP/1.1\r\n\r\n");
        assert!(answer.contains("data: ok"));
        assert_eq!(server.requests().len(), 3);
    }

    #[test]
    fn drop_does_not_wait_for_a_stall() {
        let server = MockServer::start(vec![MockResponse::SseStall {
            body: "data: a\n\ndata: b\n\n".into(),
            stall_after_bytes: 9,
            stall_for: Duration::from_secs(600),
        }]);
        let mut conn = TcpStream::connect(server.addr).unwrap();
        conn.write_all(b"POST /v1/x HTTP/1.1\r\n\r\n").unwrap();
        let mut first = [0u8; 16];
        conn.read_exact(&mut first).unwrap();
        drop(server);
        // Returns at once: the stalled connection was woken and closed, not left to sleep.
        let mut rest = String::new();
        conn.read_to_string(&mut rest).unwrap();
        assert!(!rest.contains("data: b"));
    }
}
