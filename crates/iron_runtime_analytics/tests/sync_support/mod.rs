//! A Protocol 012 ingestion server on 127.0.0.1 for the `sync` tests, with
//! fault injection, plus helpers to record events and check deliveries.
#![allow(dead_code)]

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use iron_cost::pricing::PricingManager;
use iron_runtime_analytics::event::{LlmFailureData, LlmModelMeta};
use iron_runtime_analytics::{AnalyticsEvent, EventId, EventPayload, EventStore, Provider};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub const TOKEN: &str = "ic_test_token_5f3a9c";
pub const AGENT: &str = "agent_test";
pub const OTHER_TOKEN: &str = "ic_other_token_77";
pub const OTHER_AGENT: &str = "agent_other";
pub const PATH: &str = "/api/v1/analytics/events";

/// A configuration for loop tests: millisecond pacing, generous timeout and deadline.
pub fn fast_config(url: String) -> iron_runtime_analytics::SyncConfig {
    iron_runtime_analytics::SyncConfig::new(url, TOKEN)
        .with_interval(Duration::from_millis(50))
        .with_batch_threshold(1)
        .with_threshold_check(Duration::from_millis(5))
        .with_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .with_timeout(Duration::from_secs(5))
        .with_stop_deadline(Duration::from_secs(5))
}

/// The longest a loop test waits for delivery: a functional bound.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Runs the background loop until every event is delivered or rejected,
/// stops it, and checks the report adds up and the server stored `delivered` exactly once.
pub async fn deliver_all(
    server: &TestServer,
    store: &std::sync::Arc<EventStore>,
    config: iron_runtime_analytics::SyncConfig,
    delivered: &[AnalyticsEvent],
    rejected: usize,
) -> iron_runtime_analytics::SyncClient {
    let client =
        iron_runtime_analytics::SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.clone().start(&tokio::runtime::Handle::current());
    wait_until("every event settled", PATIENCE, || {
        store.unsynced_count() == 0
    })
    .await;
    let report = handle.stop_async().await;
    assert_eq!(
        report,
        iron_runtime_analytics::SyncReport {
            delivered: delivered.len() as u64,
            rejected: rejected as u64,
            remaining: 0,
            ..Default::default()
        }
    );
    assert_stored_exactly(server, delivered);
    let accounting = store.accounting();
    assert_eq!(accounting.synced, delivered.len() as u64);
    assert_eq!(accounting.rejected, rejected as u64);
    assert!(accounting.is_balanced());
    client
}

/// A bounded wait for a condition: a functional bound, not a benchmark.
pub async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/// Faults applied to the next requests, one count per request.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// Answer 503.
    pub unavailable: usize,
    /// Close the connection before storing, without an answer.
    pub drop_before_store: usize,
    /// Store the event, then close the connection without an answer.
    pub drop_after_store: usize,
    /// Answer 429 with `Retry-After: 1`.
    pub rate_limited: usize,
    /// Answer 401 whatever the token.
    pub unauthorized: usize,
    /// Answer 401 until this instant.
    pub unauthorized_until: Option<Instant>,
    /// Store the event, then answer only after `slow_delay`.
    pub slow: usize,
    pub slow_delay: Duration,
    /// Answer this status (e.g. 404) without storing.
    pub status: usize,
    pub status_code: u16,
    /// Send 400 bodies as `{"error":{"code","message"}}` instead of the
    /// reference server's `{"error":"CODE","message"}`.
    pub nested_errors: bool,
    /// Every `drop_every`-th request (1-based) has its connection closed
    /// before the event is stored (0: never).
    pub drop_every: usize,
    /// Every `lose_reply_every`-th request is stored, then its connection
    /// closed without an answer (0: never).
    pub lose_reply_every: usize,
    /// When this many requests have arrived, the next ones get `burst_unavailable`
    /// 503s, then `burst_rate_limited` 429s (`Retry-After: 1`).
    pub burst_after: Option<usize>,
    pub burst_unavailable: usize,
    pub burst_rate_limited: usize,
    /// Bodies longer than this are answered 413, like a proxy's limit.
    pub max_body_bytes: Option<usize>,
    /// Events whose model starts with this are answered 503, every time.
    pub unavailable_model: Option<String>,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Post {
    pub at: Instant,
    /// The status answered; 0 when the connection was dropped.
    pub status: u16,
    pub event_id: Option<String>,
}

#[derive(Debug, Default)]
pub struct Data {
    /// Stored events by (agent, event_id): the request body.
    pub stored: HashMap<(String, String), Value>,
    /// Every POST to the endpoint, in arrival order.
    pub posts: Vec<Post>,
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    /// Requests being handled now, and the most at once.
    pub concurrent: usize,
    pub max_concurrent: usize,
    /// Requests being handled now, per event id.
    pub in_flight: HashMap<String, usize>,
    /// Times a request arrived while another one for the same event was
    /// still being handled (a client must never do that).
    pub overlaps: usize,
    pub faults: Faults,
}

#[derive(Debug)]
pub struct State {
    tokens: HashMap<&'static str, &'static str>,
    data: Mutex<Data>,
}

impl State {
    pub fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

enum Reply {
    Answer(u16, Value, Option<&'static str>),
    /// Close the connection without answering.
    Drop,
}

/// The error a handler returns to make hyper close the connection unanswered.
#[derive(Debug)]
struct Abort;

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for Abort {}

impl TestServer {
    /// Starts a server on 127.0.0.1 with an ephemeral port.
    pub async fn start() -> Arc<TestServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            tokens: HashMap::from([(TOKEN, AGENT), (OTHER_TOKEN, OTHER_AGENT)]),
            data: Mutex::new(Data::default()),
        });
        let server = Arc::new(TestServer {
            addr,
            state,
            accept: Mutex::new(None),
        });
        server.serve(listener);
        server
    }

    /// An address on which nothing listens (a server bound, then stopped).
    pub async fn closed_url() -> String {
        let server = TestServer::start().await;
        server.shutdown();
        server.url()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn data(&self) -> MutexGuard<'_, Data> {
        self.state.data()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.data().faults = faults;
    }

    pub fn post_count(&self) -> usize {
        self.data().posts.len()
    }

    /// Stops listening and drops every open connection.
    pub fn shutdown(&self) {
        if let Some(task) = self.accept.lock().expect("accept lock").take() {
            // Aborting the accept loop drops its JoinSet, which aborts every connection.
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind");
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        let state = self.state.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = state.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        *self.accept.lock().expect("accept lock") = Some(task);
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Abort> {
    if req.method() != hyper::Method::POST || req.uri().path() != PATH {
        return Ok(answer(404, json!({"error": "NOT_FOUND"}), None));
    }
    let json_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(|_| Abort)?
        .to_bytes();
    let arrived = Instant::now();
    {
        let mut data = state.data();
        data.concurrent += 1;
        data.max_concurrent = data.max_concurrent.max(data.concurrent);
    }
    // Let concurrent requests overlap, so that max_concurrent means something.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let (reply, event_id, delay) = decide(&state, &body, json_type);
    let status = match &reply {
        Reply::Answer(status, ..) => *status,
        Reply::Drop => 0,
    };
    {
        // Counted before any delay: a client that gives up still made the request.
        let mut data = state.data();
        data.posts.push(Post {
            at: arrived,
            status,
            event_id: event_id.clone(),
        });
        if let Some(id) = &event_id {
            let handled = data.in_flight.entry(id.clone()).or_default();
            *handled += 1;
            if *handled > 1 {
                data.overlaps += 1;
            }
        }
    }
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut data = state.data();
    data.concurrent -= 1;
    if let Some(id) = &event_id {
        if let Some(handled) = data.in_flight.get_mut(id) {
            *handled -= 1;
        }
    }
    drop(data);
    match reply {
        Reply::Answer(status, body, retry_after) => Ok(answer(status, body, retry_after)),
        Reply::Drop => Err(Abort),
    }
}

fn answer(status: u16, body: Value, retry_after: Option<&str>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).expect("status");
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_str(seconds).expect("header"),
        );
    }
    response
}

fn take(count: &mut usize) -> bool {
    if *count > 0 {
        *count -= 1;
        true
    } else {
        false
    }
}

/// What to answer, the event id if the body had one, and how long to wait first.
fn decide(
    state: &State,
    body: &[u8],
    json_type: bool,
) -> (Reply, Option<String>, Option<Duration>) {
    let mut data = state.data();
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let event_id = parsed
        .as_ref()
        .and_then(|v| v.get("event_id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let nth = data.posts.len() + 1;
    let faults = &mut data.faults;
    if faults.burst_after.is_some_and(|n| nth > n) {
        faults.burst_after = None;
        faults.unavailable += faults.burst_unavailable;
        faults.rate_limited += faults.burst_rate_limited;
    }
    let every = |n: usize| n > 0 && nth % n == 0;
    if take(&mut faults.drop_before_store) || every(faults.drop_every) {
        return (Reply::Drop, event_id, None);
    }
    let model = parsed
        .as_ref()
        .and_then(|v| v.get("model"))
        .and_then(Value::as_str);
    let flaky = faults
        .unavailable_model
        .as_deref()
        .is_some_and(|prefix| model.is_some_and(|m| m.starts_with(prefix)));
    if flaky {
        let body = json!({"error": "SERVICE_UNAVAILABLE", "message": "not this one"});
        return (Reply::Answer(503, body, None), event_id, None);
    }
    if faults.max_body_bytes.is_some_and(|max| body.len() > max) {
        let body = json!({"error": "PAYLOAD_TOO_LARGE", "message": "request entity too large"});
        return (Reply::Answer(413, body, None), event_id, None);
    }
    if take(&mut faults.unavailable) {
        let body = json!({"error": "SERVICE_UNAVAILABLE", "message": "try later"});
        return (Reply::Answer(503, body, None), event_id, None);
    }
    if take(&mut faults.rate_limited) {
        let body = json!({"error": "RATE_LIMIT_EXCEEDED", "message": "1000 events per minute"});
        return (Reply::Answer(429, body, Some("1")), event_id, None);
    }
    if take(&mut faults.status) {
        let code = faults.status_code;
        return (
            Reply::Answer(code, json!({"error": "NOPE"}), None),
            event_id,
            None,
        );
    }
    let forced_401 = take(&mut faults.unauthorized)
        || faults
            .unauthorized_until
            .is_some_and(|t| Instant::now() < t);
    if forced_401 {
        let body = json!({"error": "TOKEN_EXPIRED", "message": "the token has expired"});
        return (Reply::Answer(401, body, None), event_id, None);
    }
    let nested = faults.nested_errors;
    let validated = if json_type {
        validate(&state.tokens, parsed)
    } else {
        Err((415, "content type must be application/json".to_owned()))
    };
    let (agent, id, event) = match validated {
        Ok(ok) => ok,
        Err((401, message)) => {
            let body = json!({"error": "UNAUTHORIZED", "message": message});
            return (Reply::Answer(401, body, None), event_id, None);
        }
        Err((status, message)) => {
            data.rejected += 1;
            let body = if nested {
                json!({"error": {"code": "VALIDATION_ERROR", "message": message}})
            } else {
                json!({"error": "VALIDATION_ERROR", "message": message})
            };
            return (Reply::Answer(status, body, None), event_id, None);
        }
    };
    let faults = &mut data.faults;
    let drop_after = take(&mut faults.drop_after_store) || every(faults.lose_reply_every);
    let slow = take(&mut faults.slow).then_some(faults.slow_delay);
    let reply = match data.stored.entry((agent, id.clone())) {
        Entry::Occupied(_) => {
            data.duplicates += 1;
            Reply::Answer(200, json!({"event_id": id, "status": "duplicate"}), None)
        }
        Entry::Vacant(slot) => {
            slot.insert(event);
            data.accepted += 1;
            Reply::Answer(202, json!({"event_id": id, "status": "accepted"}), None)
        }
    };
    if drop_after {
        return (Reply::Drop, event_id, None);
    }
    (reply, event_id, slow)
}

const REQUIRED: [&str; 6] = [
    "ic_token",
    "event_id",
    "timestamp_ms",
    "event_type",
    "model",
    "provider",
];
const COMPLETED_ONLY: [&str; 3] = ["input_tokens", "output_tokens", "cost_micros"];
const OPTIONAL: [&str; 3] = ["provider_id", "error_code", "error_message"];

type Invalid = (u16, String);

/// Protocol 012 validation, strict: returns (agent, event_id, body).
fn validate(
    tokens: &HashMap<&'static str, &'static str>,
    body: Option<Value>,
) -> Result<(String, String, Value), Invalid> {
    let bad = |m: String| Err((400, m));
    let Some(Value::Object(map)) = body else {
        return bad("body must be a JSON object".into());
    };
    for key in map.keys() {
        let known = REQUIRED.contains(&key.as_str())
            || COMPLETED_ONLY.contains(&key.as_str())
            || OPTIONAL.contains(&key.as_str());
        if !known {
            return bad(format!("unknown field {key}"));
        }
    }
    for key in REQUIRED {
        if !map.contains_key(key) {
            return bad(format!("{key} is required"));
        }
    }
    let string = |map: &Map<String, Value>, key: &str| -> Result<Option<String>, Invalid> {
        match map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(other) => Err((
                400,
                format!("{key} must be a non-empty string, got {other}"),
            )),
        }
    };
    let integer = |map: &Map<String, Value>, key: &str| -> Result<(), Invalid> {
        match map.get(key) {
            Some(Value::Number(n)) if n.is_i64() && n.as_i64() >= Some(0) => Ok(()),
            other => Err((
                400,
                format!("{key} must be a non-negative integer, got {other:?}"),
            )),
        }
    };
    let token = string(&map, "ic_token")?.unwrap_or_default();
    let Some(agent) = tokens.get(token.as_str()) else {
        return Err((401, "unknown IC token".into()));
    };
    let event_id = string(&map, "event_id")?.unwrap_or_default();
    integer(&map, "timestamp_ms")?;
    let model = string(&map, "model")?.unwrap_or_default();
    let provider = string(&map, "provider")?.unwrap_or_default();
    if !["openai", "anthropic", "unknown"].contains(&provider.as_str()) {
        return bad(format!(
            "provider must be openai, anthropic or unknown, got {provider}"
        ));
    }
    for key in OPTIONAL {
        string(&map, key)?;
    }
    match string(&map, "event_type")?.as_deref() {
        Some("llm_request_completed") => {
            for key in COMPLETED_ONLY {
                integer(&map, key)?;
            }
            if map.contains_key("error_code") || map.contains_key("error_message") {
                return bad("a completed event has no error".into());
            }
        }
        Some("llm_request_failed") => {
            if let Some(key) = COMPLETED_ONLY.iter().find(|k| map.contains_key(**k)) {
                return bad(format!("{key} is not allowed on a failed event"));
            }
        }
        other => return bad(format!("event_type must be an LLM event, got {other:?}")),
    }
    if let Some(pad) = model.strip_prefix("bad-echo-") {
        // A careless server that echoes the token in its message, after `pad` bytes.
        let pad = pad.parse().unwrap_or(0);
        return bad(format!("{} sent by {token}", "x".repeat(pad)));
    }
    if model.starts_with("bad-") {
        return Err((422, format!("model {model} is not allowed")));
    }
    Ok((agent.to_string(), event_id, Value::Object(map)))
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

/// Records `n` LLM events of every shape (completed and failed, with and
/// without provider id, error code and message, agent; providers that map to
/// `openai`, `anthropic` and `unknown`) and a few local events that must
/// never be sent. Returns the snapshot of the LLM events, before any sync.
pub fn record_mix(store: &EventStore, n: usize) -> Vec<AnalyticsEvent> {
    let pricing = PricingManager::new().expect("pricing");
    store.record_router_started(8080);
    let mut ids = std::collections::HashSet::new();
    for i in 0..n {
        let agent = format!("local_agent_{}", i % 3);
        let agent = (i % 2 == 0).then_some(agent.as_str());
        let id = match i % 6 {
            0 => store.try_record_llm_completed(
                &pricing,
                "gpt-4o-mini",
                150 + i as u64,
                50,
                agent,
                None,
            ),
            1 => store.try_record_llm_completed(
                &pricing,
                "claude-3-opus-20240229",
                200,
                100 + i as u64,
                agent,
                Some("ip_anthropic_001"),
            ),
            2 => store.try_record_llm_failed(
                "gpt-4",
                agent,
                None,
                Some("rate_limit_exceeded"),
                Some("slow down \"please\" ✓"),
            ),
            3 => store.try_record_llm_failed(
                "claude-3-haiku-20240307",
                agent,
                Some("ip_x"),
                None,
                None,
            ),
            4 => store.try_record_llm_completed(&pricing, "gemini-1.5-flash", 10, 5, agent, None),
            _ => store.try_record(AnalyticsEvent::new(EventPayload::LlmRequestFailed(
                LlmFailureData {
                    meta: LlmModelMeta {
                        provider_id: None,
                        provider: "my-gateway".into(),
                        model: "llama-3-70b".into(),
                    },
                    error_code: None,
                    error_message: Some("boom".into()),
                },
            ))),
        }
        .expect("record")
        .expect("buffered");
        ids.insert(id);
        if i % 10 == 0 {
            store.record_budget_threshold(80, 800, 1_000, agent);
        }
    }
    store
        .try_record(AnalyticsEvent::new(EventPayload::BudgetThresholdReached {
            threshold_percent: 90,
            current_spend_micros: 9,
            budget_micros: 10,
        }))
        .expect("record");
    let events: Vec<_> = store
        .unsynced_events()
        .into_iter()
        .filter(|e| ids.contains(&e.event_id()))
        .collect();
    assert_eq!(events.len(), n, "every LLM event buffered");
    events
}

/// Records `n` completed events for a model name (e.g. "bad-model" for rejections).
pub fn record_model(store: &EventStore, model: &str, n: usize) -> Vec<AnalyticsEvent> {
    let pricing = PricingManager::new().expect("pricing");
    (0..n)
        .map(|i| {
            let id = store
                .try_record_llm_completed(&pricing, model, i as u64, 1, None, None)
                .expect("record")
                .expect("buffered");
            buffered(store, id)
        })
        .collect()
}

/// The buffered event with this id.
pub fn buffered(store: &EventStore, id: EventId) -> AnalyticsEvent {
    store
        .unsynced_events()
        .into_iter()
        .find(|e| e.event_id() == id)
        .expect("buffered")
}

impl TestServer {
    /// When each request for this event arrived, in order.
    pub fn arrivals(&self, event: &AnalyticsEvent) -> Vec<Instant> {
        let id = event.event_id().to_string();
        self.data()
            .posts
            .iter()
            .filter(|p| p.event_id.as_deref() == Some(id.as_str()))
            .map(|p| p.at)
            .collect()
    }
}

/// The body Protocol 012 expects for `event`, built independently of the
/// client's own serializer.
pub fn expected_body(event: &AnalyticsEvent, token: &str) -> Value {
    let mut body = Map::new();
    body.insert("ic_token".into(), json!(token));
    body.insert("event_id".into(), json!(event.event_id().to_string()));
    body.insert("timestamp_ms".into(), json!(event.timestamp_ms()));
    body.insert("event_type".into(), json!(event.event_type().as_str()));
    let meta = event.payload().meta().expect("an LLM event");
    body.insert("model".into(), json!(&*meta.model));
    body.insert(
        "provider".into(),
        json!(Provider::wire_name(&meta.provider)),
    );
    if let Some(id) = &meta.provider_id {
        body.insert("provider_id".into(), json!(&**id));
    }
    match event.payload() {
        EventPayload::LlmRequestCompleted(d) => {
            body.insert("input_tokens".into(), json!(d.input_tokens));
            body.insert("output_tokens".into(), json!(d.output_tokens));
            body.insert("cost_micros".into(), json!(d.cost_micros));
        }
        EventPayload::LlmRequestFailed(d) => {
            if let Some(code) = &d.error_code {
                body.insert("error_code".into(), json!(&**code));
            }
            if let Some(message) = &d.error_message {
                body.insert("error_message".into(), json!(&**message));
            }
        }
        other => panic!("not an LLM event: {other:?}"),
    }
    Value::Object(body)
}

/// Asserts the server stored exactly `events` (each once, with its exact
/// fields) for the test token's agent, and nothing else.
pub fn assert_stored_exactly(server: &TestServer, events: &[AnalyticsEvent]) {
    let data = server.data();
    assert_eq!(
        data.stored.len(),
        events.len(),
        "stored {} events, expected {}",
        data.stored.len(),
        events.len()
    );
    for event in events {
        let key = (AGENT.to_owned(), event.event_id().to_string());
        let stored = data
            .stored
            .get(&key)
            .unwrap_or_else(|| panic!("event {} not stored", event.event_id()));
        assert_eq!(
            stored,
            &expected_body(event, TOKEN),
            "fields of {}",
            event.event_id()
        );
    }
    assert_eq!(data.accepted, events.len(), "each event accepted once");
}
