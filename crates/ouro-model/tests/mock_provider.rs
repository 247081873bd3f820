//! `ModelClient` against the mock provider: headers, paths, decoding, retries, cancellation.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use ouro_model::{ModelClient, ModelError, ProviderInfo, WireApi};
use ouro_protocol::{ModelEvent, Prompt, ResponseItem, TokenUsage, ToolSpec};
use ouro_test_support::{sse, MockResponse, MockServer, Reply, Wire};
use serde_json::json;

const ALL: [WireApi; 3] = [WireApi::Responses, WireApi::Chat, WireApi::Anthropic];

fn wire(api: WireApi) -> Wire {
    match api {
        WireApi::Responses => Wire::Responses,
        WireApi::Chat => Wire::Chat,
        WireApi::Anthropic => Wire::Anthropic,
        WireApi::Local => panic!("the embedded model is not served over HTTP"),
    }
}

fn provider(server: &MockServer, wire_api: WireApi) -> ProviderInfo {
    let mut provider = ProviderInfo::new("Mock", server.base_url(), wire_api, None);
    provider.stream_idle_timeout_ms = 10_000;
    provider
}

fn client(provider: ProviderInfo) -> ModelClient {
    ModelClient::with_api_key(provider, "mock-model".into(), Some("sk-test".into())).unwrap()
}

fn prompt() -> Prompt {
    Prompt {
        instructions: "You are a test.".into(),
        tools: vec![ToolSpec {
            name: "shell".into(),
            description: "Run a command".into(),
            parameters: json!({"type": "object"}),
        }],
        input: vec![ResponseItem::user("list the files")],
    }
}

fn reply() -> Reply {
    Reply::text("Listing files now.")
        .with_call("call_1", "shell", json!({"command": ["ls"]}))
        .with_usage(300, 200, 12)
}

/// What a consumer ends up with: the events of the last attempt (everything before a
/// `Retrying` is void), every `Retrying`, and the final error if there was one.
#[derive(Debug, Default)]
struct Outcome {
    events: Vec<ModelEvent>,
    retrying: Vec<ModelEvent>,
    error: Option<ModelError>,
}

async fn run(client: &ModelClient) -> Outcome {
    let mut stream = client.stream(&prompt());
    let mut outcome = Outcome::default();
    while let Some(event) = stream.next().await {
        match event {
            Ok(retrying @ ModelEvent::Retrying { .. }) => {
                outcome.events.clear();
                outcome.retrying.push(retrying);
            }
            Ok(event) => outcome.events.push(event),
            Err(err) => {
                assert!(outcome.error.is_none());
                outcome.error = Some(err);
            }
        }
    }
    outcome
}

/// The items and usage of a successful outcome, text deltas folded together.
fn assert_reply_events(events: &[ModelEvent]) {
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            ModelEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Listing files now.");
    let rest: Vec<&ModelEvent> = events
        .iter()
        .filter(|e| !matches!(e, ModelEvent::TextDelta(_)))
        .collect();
    assert_eq!(
        rest,
        [
            &ModelEvent::ItemDone(ResponseItem::assistant("Listing files now.")),
            &ModelEvent::ItemDone(ResponseItem::FunctionCall {
                call_id: "call_1".into(),
                name: "shell".into(),
                arguments: r#"{"command":["ls"]}"#.into(),
            }),
            &ModelEvent::Completed {
                usage: TokenUsage {
                    input_tokens: 300,
                    cached_input_tokens: 200,
                    output_tokens: 12,
                },
            },
        ]
    );
}

#[tokio::test]
async fn each_format_streams_a_reply_with_its_headers_and_path() {
    for api in ALL {
        let server = MockServer::start(vec![MockResponse::reply(wire(api), &reply())]);
        let mut provider = provider(&server, api);
        provider
            .http_headers
            .insert("X-Project".into(), "ouro-tests".into());
        let outcome = run(&client(provider)).await;
        assert!(outcome.error.is_none(), "{api:?}: {:?}", outcome.error);
        assert!(outcome.retrying.is_empty());
        assert_reply_events(&outcome.events);

        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_eq!(request.method, "POST");
        let (path, auth) = match api {
            WireApi::Responses => ("/v1/responses", "authorization"),
            WireApi::Chat => ("/v1/chat/completions", "authorization"),
            WireApi::Anthropic => ("/v1/messages", "x-api-key"),
            WireApi::Local => panic!("the embedded model is not served over HTTP"),
        };
        assert_eq!(request.path, path);
        let expected_key = if api == WireApi::Anthropic {
            "sk-test"
        } else {
            "Bearer sk-test"
        };
        assert_eq!(request.header(auth), Some(expected_key), "{api:?}");
        assert_eq!(
            request.header("anthropic-version"),
            (api == WireApi::Anthropic).then_some("2023-06-01")
        );
        assert_eq!(request.header("accept"), Some("text/event-stream"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("x-project"), Some("ouro-tests"));
        let agent = request.header("user-agent").unwrap();
        assert!(agent.starts_with("ouro/"), "{agent}");
        assert_eq!(request.body["model"], "mock-model");
        assert_eq!(request.body["stream"], true);
    }
}

#[tokio::test]
async fn api_key_comes_from_the_environment() {
    let server = MockServer::start(vec![MockResponse::reply(Wire::Chat, &reply())]);
    let mut provider = provider(&server, WireApi::Chat);
    // Cargo sets this for every test process; no need to mutate the environment.
    provider.env_key = Some("CARGO_PKG_NAME".into());
    let client = ModelClient::new(provider.clone(), "m".into()).unwrap();
    assert!(run(&client).await.error.is_none());
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Bearer ouro-model")
    );

    provider.env_key = Some("OURO_TEST_VARIABLE_THAT_IS_NOT_SET".into());
    let err = ModelClient::new(provider, "m".into()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("OURO_TEST_VARIABLE_THAT_IS_NOT_SET"),
        "{message}"
    );
    assert!(message.contains("Mock"), "{message}");
}

#[tokio::test]
async fn server_error_then_success_is_retried_silently() {
    for api in ALL {
        let server = MockServer::start(vec![
            MockResponse::Status {
                status: 500,
                headers: Vec::new(),
                body: r#"{"error":{"message":"internal"}}"#.into(),
            },
            MockResponse::Status {
                status: 503,
                headers: Vec::new(),
                body: String::new(),
            },
            MockResponse::reply(wire(api), &reply()),
        ]);
        let outcome = run(&client(provider(&server, api))).await;
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        assert!(outcome.retrying.is_empty());
        assert_reply_events(&outcome.events);
        assert_eq!(server.requests().len(), 3);
        assert_eq!(server.requests()[0].body, server.requests()[2].body);
    }
}

#[tokio::test]
async fn rate_limit_waits_for_retry_after() {
    let server = MockServer::start(vec![
        MockResponse::Status {
            status: 429,
            headers: vec![("Retry-After".into(), "1".into())],
            body: r#"{"error":{"message":"Rate limit reached","type":"requests"}}"#.into(),
        },
        MockResponse::reply(Wire::Responses, &reply()),
    ]);
    let started = Instant::now();
    let outcome = run(&client(provider(&server, WireApi::Responses))).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_reply_events(&outcome.events);
    assert_eq!(server.requests().len(), 2);
    // A lower bound only: the wait asked for was honoured.
    assert!(started.elapsed() >= Duration::from_millis(950));
}

#[tokio::test]
async fn request_retries_give_up_with_the_last_error() {
    let status = |status| MockResponse::Status {
        status,
        headers: Vec::new(),
        body: r#"{"error":{"message":"try later"}}"#.into(),
    };
    let server = MockServer::start(vec![status(502), status(500), status(500)]);
    let mut provider = provider(&server, WireApi::Chat);
    provider.request_max_retries = 1;
    let outcome = run(&client(provider)).await;
    let err = outcome.error.unwrap();
    assert_eq!(err.status(), Some(500));
    assert_eq!(
        err.to_string(),
        format!(
            "Mock answered HTTP 500: try later ({}/chat/completions); gave up after 1 retry",
            server.base_url()
        )
    );
    assert!(outcome.events.is_empty());
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn client_errors_fail_at_once_with_the_providers_message() {
    let cases = [
        (
            WireApi::Responses,
            r#"{"error":{"message":"The model `gpt-9` does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
            "The model `gpt-9` does not exist",
        ),
        (
            WireApi::Anthropic,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"messages: roles must alternate"}}"#,
            "messages: roles must alternate",
        ),
        (
            WireApi::Chat,
            "Bad Request: no model",
            "Bad Request: no model",
        ),
    ];
    for (api, body, message) in cases {
        let server = MockServer::start(vec![
            MockResponse::Status {
                status: 400,
                headers: Vec::new(),
                body: body.into(),
            },
            MockResponse::reply(wire(api), &reply()),
        ]);
        let outcome = run(&client(provider(&server, api))).await;
        let err = outcome.error.expect("an error");
        let text = err.to_string();
        assert!(text.contains(message), "{text}");
        assert!(text.contains("HTTP 400"), "{text}");
        assert!(text.contains(&server.base_url()), "{text}");
        assert!(!text.contains("gave up"), "{text}");
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn a_stream_cut_half_way_is_sent_again() {
    for api in ALL {
        let body = sse(wire(api), &reply());
        let server = MockServer::start(vec![
            MockResponse::SseCut {
                cut_after_bytes: body.len() / 2,
                body: body.clone(),
            },
            MockResponse::Sse(body),
        ]);
        let outcome = run(&client(provider(&server, api))).await;
        assert!(outcome.error.is_none(), "{api:?}: {:?}", outcome.error);
        assert!(
            matches!(&outcome.retrying[..], [ModelEvent::Retrying { attempt: 1, max_attempts: 5, reason }] if reason.contains("connection")),
            "{api:?}: {:?}",
            outcome.retrying
        );
        assert_reply_events(&outcome.events);
        assert_eq!(server.requests().len(), 2);
    }
}

#[tokio::test]
async fn a_stream_ending_without_its_terminal_event_is_sent_again() {
    for (api, last_event) in [
        (WireApi::Responses, "response.completed"),
        (WireApi::Chat, "\"finish_reason\":\"tool_calls\""),
        (WireApi::Anthropic, "message_stop"),
    ] {
        let body = sse(wire(api), &reply());
        // Complete events only, then a clean end: the response's end never came.
        let end = body[..body.find(last_event).unwrap()]
            .rfind("\n\n")
            .unwrap()
            + 2;
        let server = MockServer::start(vec![
            MockResponse::Sse(body[..end].to_string()),
            MockResponse::Sse(body.clone()),
        ]);
        let outcome = run(&client(provider(&server, api))).await;
        assert!(outcome.error.is_none(), "{api:?}: {:?}", outcome.error);
        assert_eq!(outcome.retrying.len(), 1, "{api:?}");
        assert_reply_events(&outcome.events);
    }
}

/// Some local servers close the stream after the finish chunk without `data: [DONE]`.
#[tokio::test]
async fn a_chat_stream_that_finished_needs_no_done_marker() {
    let body = sse(Wire::Chat, &reply());
    let server = MockServer::start(vec![MockResponse::Sse(
        body.trim_end_matches("data: [DONE]\n\n").to_string(),
    )]);
    let outcome = run(&client(provider(&server, WireApi::Chat))).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert!(outcome.retrying.is_empty());
    assert_reply_events(&outcome.events);
}

#[tokio::test]
async fn a_stalled_stream_is_sent_again_after_the_idle_timeout() {
    let body = sse(Wire::Anthropic, &reply());
    let server = MockServer::start(vec![
        MockResponse::SseStall {
            stall_after_bytes: body.len() / 3,
            stall_for: Duration::from_secs(30),
            body: body.clone(),
        },
        MockResponse::Sse(body),
    ]);
    let mut provider = provider(&server, WireApi::Anthropic);
    provider.stream_idle_timeout_ms = 300;
    let outcome = run(&client(provider)).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert!(
        matches!(&outcome.retrying[..], [ModelEvent::Retrying { reason, .. }] if reason.contains("idle")),
        "{:?}",
        outcome.retrying
    );
    assert_reply_events(&outcome.events);
}

#[tokio::test]
async fn stream_retries_give_up() {
    let body = sse(Wire::Responses, &reply());
    let cut = || MockResponse::SseCut {
        body: body.clone(),
        cut_after_bytes: 300,
    };
    let server = MockServer::start(vec![cut(), cut(), cut()]);
    let mut provider = provider(&server, WireApi::Responses);
    provider.stream_max_retries = 1;
    let outcome = run(&client(provider)).await;
    assert_eq!(outcome.retrying.len(), 1);
    let err = outcome.error.unwrap();
    assert!(
        matches!(err, ModelError::Stream { retries: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("gave up after 1 retry"), "{err}");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn overloaded_error_events_are_retried_other_errors_are_not() {
    let overloaded = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5}}}\n\n\
                      event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let server = MockServer::start(vec![
        MockResponse::Sse(overloaded.into()),
        MockResponse::reply(Wire::Anthropic, &reply()),
    ]);
    let outcome = run(&client(provider(&server, WireApi::Anthropic))).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert!(
        matches!(&outcome.retrying[..], [ModelEvent::Retrying { reason, .. }] if reason.contains("Overloaded"))
    );
    assert_reply_events(&outcome.events);

    let failed = "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"invalid_prompt\",\"message\":\"Your prompt was flagged\"}}}\n\n";
    let server = MockServer::start(vec![MockResponse::Sse(failed.into())]);
    let outcome = run(&client(provider(&server, WireApi::Responses))).await;
    let err = outcome.error.unwrap();
    assert!(matches!(err, ModelError::Provider { .. }));
    assert!(
        err.to_string()
            .starts_with("Mock reported an error: Your prompt was flagged"),
        "{err}"
    );
    assert!(outcome.retrying.is_empty());
}

#[tokio::test]
async fn an_exhausted_script_is_reported() {
    let server = MockServer::start(Vec::new());
    let mut provider = provider(&server, WireApi::Chat);
    provider.request_max_retries = 0;
    let err = run(&client(provider)).await.error.unwrap();
    assert!(err.to_string().contains("script exhausted"), "{err}");
}

#[tokio::test]
async fn an_unreachable_provider_is_a_connection_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut provider = ProviderInfo::new(
        "Nowhere",
        format!("http://127.0.0.1:{port}/v1/"),
        WireApi::Chat,
        None,
    );
    provider.request_max_retries = 1;
    let err = run(&client(provider)).await.error.unwrap();
    assert!(
        matches!(err, ModelError::Connection { retries: 1, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "could not reach Nowhere at http://127.0.0.1:{port}/v1/chat/completions"
        )),
        "{text}"
    );
}

/// The client must hang up as soon as its stream is dropped, not when the response ends.
#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Read until the body has arrived (it ends the JSON object).
        while !request.ends_with(b"}") {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0);
            request.extend_from_slice(&buf[..n]);
        }
        conn.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n\
              1b\r\ndata: {\"choices\":[{\"delta\":\r\n15\r\n{\"content\":\"hi\"}}]}\n\n\r\n",
        )
        .unwrap();
        // Never finish the response; wait for the client to go away.
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        match conn.read(&mut buf) {
            Ok(n) => n == 0,
            Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        }
    });

    let client = client(ProviderInfo::new("Mock", base_url, WireApi::Chat, None));
    let mut stream = client.stream(&prompt());
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        ModelEvent::TextDelta("hi".into())
    );
    drop(stream);
    let closed = tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
    assert!(
        closed,
        "the connection stayed open after the stream was dropped"
    );
}
