//! switchyard-mock: a fast mock LLM provider speaking OpenAI Chat Completions,
//! Anthropic Messages and the Google Gemini API (plain JSON and SSE), for integration
//! and load tests.
//!
//! CLI: `switchyard-mock [--listen 127.0.0.1:0] [--fixtures tests/fixtures] [--api-key KEY]
//! [--record] [--threads N]`. Prints exactly one stdout line, `listening on ADDR`.
//!
//! Routes:
//! - `POST …/chat/completions`: OpenAI. `POST …/v1/messages`: Anthropic. `POST
//!   …/responses`: OpenAI's Responses API (see `responses.rs`) (path suffix match).
//!   `POST …/models/{model}:generateContent` and `…:streamGenerateContent`: Gemini (the
//!   model, percent-decoded, comes from the path; see `gemini.rs`).
//! - `GET /__mock/requests` (recorded requests, oldest first, needs `--record`),
//!   `DELETE /__mock/requests`, `GET /__mock/health` → `ok`, `GET /__mock/stats` →
//!   `{"open_bodies": N, "connections": M}` (response bodies still being sent,
//!   connections accepted so far). Anything else: 404.
//!
//! Serves HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on the same port.
//!
//! Every request is checked in this order: API key (401), `anthropic-version` header (400,
//! Anthropic only), the body must be a JSON object (400), schema (400), mock options (400).
//!
//! The request's `model` selects the behaviour: `mock:k=v,k2=v2,...` (see `options.rs`),
//! anything else means echo. Options: `status=NNN` (400..=599; takes precedence over
//! everything else; with `fixture=` that file is the error body), `retry_after=S`, `retry_after_ms=MS`, `fixture=NAME[/NAME]`, `split=K`,
//! `events=N`, `retry_delay=S` (Gemini: `RetryInfo.retryDelay` of a 429), `delay_ms=D`, `first_byte_delay_ms=D`, `drop_after=N`, `stall_after=N`
//! (stalls up to 60 s, then aborts), `oversize_after=N` (a 9 MiB event with no end
//! after N frames), `reject_stream_options` (400 naming `stream_options`, in vLLM's
//! error shape, when the body has it), `echo`. Unknown options are rejected with 400.
//!
//! Every response has `x-mock-request-count`, a global counter of non-`/__mock/` requests.
//! `/__mock/` responses carry the counter's current value without incrementing it.

mod anthropic;
mod body;
mod common;
mod gemini;
mod openai;
mod options;
mod responses;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::Parser;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpListener;

use body::{Fault, MockBody};
use common::{EchoCtx, Reply, JSON, SSE};
use options::Options;

/// Requests kept by `--record`.
const RECORD_CAP: usize = 64;
/// HTTP/2 streams a client may open per connection (SETTINGS_MAX_CONCURRENT_STREAMS);
/// common servers allow 100 to 256.
const MAX_H2_STREAMS: u32 = 256;
/// Largest accepted request body.
const MAX_BODY: usize = 64 << 20;

#[derive(Parser, Debug)]
#[command(
    name = "switchyard-mock",
    about = "Mock OpenAI / Anthropic provider for switchyard tests"
)]
struct Cli {
    /// Address to listen on; the chosen address is printed as `listening on ADDR`.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Directory that `fixture=NAME` reads from.
    #[arg(long, default_value = "tests/fixtures")]
    fixtures: PathBuf,
    /// Require this key (OpenAI: `Authorization: Bearer`; Anthropic: `x-api-key` or Bearer).
    #[arg(long)]
    api_key: Option<String>,
    /// Keep the last 64 requests for `GET /__mock/requests`.
    #[arg(long)]
    record: bool,
    /// Tokio worker threads (default: number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Provider {
    OpenAi,
    Anthropic,
    Gemini,
    /// OpenAI's Responses API (`…/responses`).
    Responses,
}

struct Recorded {
    path: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    version: String,
    headers: BTreeMap<String, String>,
    body: Bytes,
}

#[derive(Serialize)]
struct RecordedJson<'a> {
    path: &'a str,
    version: &'a str,
    headers: &'a BTreeMap<String, String>,
    body_len: usize,
    body: std::borrow::Cow<'a, str>,
}

struct State {
    fixtures: PathBuf,
    api_key: Option<String>,
    record: bool,
    counter: AtomicU64,
    /// Connections accepted so far.
    connections: AtomicU64,
    recorded: Mutex<VecDeque<Recorded>>,
    fixture_cache: RwLock<HashMap<String, Bytes>>,
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = cli.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.build().expect("tokio runtime");
    if let Err(e) = rt.block_on(run(cli)) {
        eprintln!("switchyard-mock: {e}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> std::io::Result<()> {
    let listener = TcpListener::bind(cli.listen).await?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {addr}")?;
        out.flush()?;
    }
    let state = Arc::new(State {
        fixtures: cli.fixtures,
        api_key: cli.api_key,
        record: cli.record,
        counter: AtomicU64::new(0),
        connections: AtomicU64::new(0),
        recorded: Mutex::new(VecDeque::with_capacity(RECORD_CAP)),
        fixture_cache: RwLock::new(HashMap::new()),
    });
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // E.g. EMFILE under heavy load: back off briefly instead of spinning.
                    log::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        state.connections.fetch_add(1, Ordering::Relaxed);
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(state, req).await) }
            });
            // HTTP/1.1, or HTTP/2 with prior knowledge (h2c), told apart by the preface.
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().keep_alive(true);
            builder.http2().max_concurrent_streams(MAX_H2_STREAMS);
            if let Err(e) = builder.serve_connection(TokioIo::new(stream), svc).await {
                log::debug!("connection from {peer} ended: {e}");
            }
        });
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<MockBody> {
    let path = req.uri().path();
    if let Some(what) = path.strip_prefix("/__mock/") {
        return admin(&state, req.method().clone(), what.to_string());
    }
    let n = state.counter.fetch_add(1, Ordering::Relaxed) + 1;
    let gemini = gemini::route(path);
    let provider = if gemini.is_some() {
        Some(Provider::Gemini)
    } else if path.ends_with("/chat/completions") {
        Some(Provider::OpenAi)
    } else if path.ends_with("/v1/messages") {
        Some(Provider::Anthropic)
    } else if path.ends_with("/responses") {
        Some(Provider::Responses)
    } else {
        None
    };
    let is_post = req.method() == Method::POST;
    let mut resp = match provider {
        Some(p) if is_post => provider_request(&state, p, n, req, gemini).await,
        _ => {
            if state.record {
                let (parts, body) = req.into_parts();
                let body = read_body(body).await.unwrap_or_default();
                record(&state, &parts, body);
            }
            not_found()
        }
    };
    set_header(&mut resp, "x-mock-request-count", n.to_string());
    resp
}

fn admin(state: &State, method: Method, what: String) -> Response<MockBody> {
    let mut resp = match (method, what.as_str()) {
        (Method::GET, "health") => plain(StatusCode::OK, "text/plain", Bytes::from_static(b"ok")),
        (Method::GET, "stats") => {
            // This response's own body is not counted.
            let open = body::OPEN_BODIES.load(Ordering::Relaxed);
            let conns = state.connections.load(Ordering::Relaxed);
            let text = format!("{{\"open_bodies\":{open},\"connections\":{conns}}}");
            plain(StatusCode::OK, "application/json", Bytes::from(text))
        }
        (Method::GET, "requests") => {
            let recorded = state.recorded.lock().unwrap();
            let list: Vec<RecordedJson<'_>> = recorded
                .iter()
                .map(|r| RecordedJson {
                    path: &r.path,
                    version: &r.version,
                    headers: &r.headers,
                    body_len: r.body.len(),
                    body: String::from_utf8_lossy(&r.body),
                })
                .collect();
            let json = serde_json::to_vec(&list).expect("serializable");
            plain(StatusCode::OK, JSON, Bytes::from(json))
        }
        (Method::DELETE, "requests") => {
            state.recorded.lock().unwrap().clear();
            plain(StatusCode::OK, JSON, Bytes::from_static(b"[]"))
        }
        _ => not_found(),
    };
    let count = state.counter.load(Ordering::Relaxed);
    set_header(&mut resp, "x-mock-request-count", count.to_string());
    resp
}

fn not_found() -> Response<MockBody> {
    plain(
        StatusCode::NOT_FOUND,
        JSON,
        Bytes::from_static(b"{\"error\":{\"message\":\"switchyard-mock: unknown route\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}"),
    )
}

fn plain(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<MockBody> {
    let mut resp = Response::new(MockBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    resp
}

fn set_header(resp: &mut Response<MockBody>, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(name, v);
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, ()> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => {
            log::debug!("reading request body failed: {e}");
            Err(())
        }
    }
}

fn record(state: &State, parts: &http::request::Parts, body: Bytes) {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        headers
            .entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let mut recorded = state.recorded.lock().unwrap();
    if recorded.len() >= RECORD_CAP {
        recorded.pop_front();
    }
    recorded.push_back(Recorded {
        path,
        version: format!("{:?}", parts.version),
        headers,
        body,
    });
}

fn provider_error(provider: Provider, status: u16, message: &str) -> Response<MockBody> {
    let body = match provider {
        Provider::OpenAi | Provider::Responses => openai::error_body(status, message),
        Provider::Anthropic => anthropic::error_body(status, message),
        Provider::Gemini => gemini::error_body(status, message, None),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = plain(status, JSON, body);
    if status.canonical_reason().is_none() {
        // hyper would otherwise write `HTTP/1.1 529 <none>`.
        let reason: &'static [u8] = if status.as_u16() == 529 {
            b"Site Overloaded"
        } else {
            b"Error"
        };
        resp.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(reason));
    }
    resp
}

fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Checks the API key; `Err(message)` means 401.
fn check_auth(
    state: &State,
    provider: Provider,
    headers: &http::HeaderMap,
    query: Option<&str>,
) -> Result<(), String> {
    let Some(key) = state.api_key.as_deref() else {
        return Ok(());
    };
    let bearer = bearer(headers);
    match provider {
        // Azure OpenAI sends its key as `api-key`.
        Provider::OpenAi | Provider::Responses => match bearer.or_else(|| headers.get("api-key")?.to_str().ok()) {
            Some(k) if k == key => Ok(()),
            Some(_) => Err("Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.".into()),
            None => Err("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).".into()),
        },
        Provider::Gemini => match gemini::key(headers, query) {
            Some(k) if k == key => Ok(()),
            Some(_) => Err("API key not valid. Please pass a valid API key.".into()),
            None => Err("Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.".into()),
        },
        Provider::Anthropic => {
            let x_api_key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
            if x_api_key == Some(key) || bearer == Some(key) {
                Ok(())
            } else if x_api_key.is_none() && bearer.is_none() {
                Err("x-api-key header is required".into())
            } else {
                Err("invalid x-api-key".into())
            }
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn provider_request(
    state: &State,
    provider: Provider,
    n: u64,
    req: Request<Incoming>,
    gemini: Option<(String, bool)>,
) -> Response<MockBody> {
    let (parts, body) = req.into_parts();
    let Ok(body) = read_body(body).await else {
        return provider_error(provider, 413, "Request body too large or unreadable.");
    };
    if state.record {
        record(state, &parts, body.clone());
    }
    if let Err(msg) = check_auth(state, provider, &parts.headers, parts.uri.query()) {
        return provider_error(provider, 401, &msg);
    }
    if provider == Provider::Anthropic {
        if let Err(msg) = anthropic::check_version(&parts.headers) {
            return provider_error(provider, 400, &msg);
        }
    }
    let json: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(m)) => Value::Object(m),
        Ok(_) => {
            return provider_error(provider, 400, "The request body must be a JSON object.");
        }
        Err(e) => {
            let msg = match provider {
                Provider::OpenAi | Provider::Responses => format!("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.) ({e})"),
                Provider::Anthropic => format!("There was an issue with your JSON body: {e}"),
                Provider::Gemini => format!("Invalid JSON payload received. {e}"),
            };
            return provider_error(provider, 400, &msg);
        }
    };
    let obj = json.as_object().expect("checked object");
    let valid = match provider {
        Provider::OpenAi => openai::validate(obj),
        Provider::Responses => responses::validate(obj),
        Provider::Anthropic => anthropic::validate(obj),
        Provider::Gemini => gemini::validate(obj, gemini.as_ref().map_or("", |g| g.0.as_str())),
    };
    if let Err(msg) = valid {
        return provider_error(provider, 400, &msg);
    }
    let model = match &gemini {
        Some((m, _)) => m.as_str(),
        None => obj.get("model").and_then(Value::as_str).unwrap_or_default(),
    };
    let opts = match options::parse_model(model) {
        Ok(o) => o,
        Err(msg) => return provider_error(provider, 400, &format!("switchyard-mock: {msg}")),
    };

    if opts.reject_stream_options && obj.contains_key("stream_options") {
        // vLLM's validation error: a top-level `message` (pydantic's error list as text).
        let body = r#"{"object":"error","message":"[{'type': 'extra_forbidden', 'loc': ('body', 'stream_options'), 'msg': 'Extra inputs are not permitted', 'input': {'include_usage': True}}]","type":"BadRequestError","param":null,"code":400}"#;
        let mut resp = provider_error(provider, 400, "");
        *resp.body_mut() = MockBody::full(Bytes::from_static(body.as_bytes()));
        return with_common_headers(resp, provider, n);
    }
    if opts.first_byte_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(opts.first_byte_delay_ms)).await;
    }

    let mut resp = if let Some(status) = opts.status {
        let msg = match provider {
            Provider::OpenAi | Provider::Responses => openai::status_message(status, model),
            Provider::Anthropic => anthropic::status_message(status, model),
            Provider::Gemini => gemini::status_message(status, model),
        };
        let mut resp = provider_error(provider, status, &msg);
        if provider == Provider::Gemini {
            *resp.body_mut() = MockBody::full(gemini::error_body(status, &msg, opts.retry_delay));
        }
        // A recorded error body (`status=400,fixture=azure/error_content_filter.json`).
        if let Some(name) = &opts.fixture {
            match load_fixture(state, name).await {
                Ok(data) => *resp.body_mut() = MockBody::full(data),
                Err(msg) => {
                    return with_common_headers(
                        provider_error(provider, 400, &format!("switchyard-mock: {msg}")),
                        provider,
                        n,
                    )
                }
            }
        }
        resp
    } else {
        let mut reply = if let Some(name) = &opts.fixture {
            match load_fixture(state, name).await {
                Ok(data) => fixture_reply(name, data, opts.split),
                Err(msg) => {
                    return with_common_headers(
                        provider_error(provider, 400, &format!("switchyard-mock: {msg}")),
                        provider,
                        n,
                    )
                }
            }
        } else {
            let stream = gemini.as_ref().map(|g| g.1);
            echo_reply(provider, n, model, obj, body.len(), &opts, stream)
        };
        if let Some(k) = opts.oversize_after {
            let mut line = b"data: ".to_vec();
            line.resize(9 * 1024 * 1024, b'x');
            let at = k.min(reply.frames.len());
            reply.frames.insert(at, Bytes::from(line));
        }
        let fault = match (opts.drop_after, opts.stall_after) {
            (Some(k), _) => Fault::DropAfter(k),
            (None, Some(k)) => Fault::StallAfter(k),
            (None, None) => Fault::None,
        };
        let mut resp = Response::new(MockBody::new(
            reply.frames,
            reply.exact,
            Duration::from_millis(opts.delay_ms),
            fault,
        ));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(reply.content_type),
        );
        if reply.content_type == SSE {
            resp.headers_mut().insert(
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            );
        }
        resp
    };
    if let Some(s) = opts.retry_after {
        set_header(&mut resp, "retry-after", s.to_string());
    }
    if let Some(ms) = opts.retry_after_ms {
        set_header(&mut resp, "retry-after-ms", ms.to_string());
    }
    with_common_headers(resp, provider, n)
}

fn with_common_headers(
    mut resp: Response<MockBody>,
    provider: Provider,
    n: u64,
) -> Response<MockBody> {
    let (name, value) = match provider {
        Provider::OpenAi | Provider::Responses => ("x-request-id", format!("req_mock{n}")),
        Provider::Anthropic => ("request-id", format!("req_mock{n}")),
        Provider::Gemini => ("x-request-id", format!("req_mock{n}")),
    };
    set_header(&mut resp, name, value);
    resp
}

fn echo_reply(
    provider: Provider,
    n: u64,
    model: &str,
    obj: &serde_json::Map<String, Value>,
    body_len: usize,
    opts: &Options,
    // Gemini: whether the path asked for a stream.
    path_stream: Option<bool>,
) -> Reply {
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let text = match provider {
        Provider::Gemini => format!("echo: {}", gemini::last_user_text(obj)),
        Provider::Responses => format!("echo: {}", responses::last_user_text(obj)),
        _ => format!("echo: {}", common::last_user_text(messages)),
    };
    let ctx = EchoCtx {
        model,
        counter: n,
        created: unix_now(),
        output_tokens: options::word_count(&text),
        text,
        stream: path_stream
            .unwrap_or_else(|| obj.get("stream").and_then(Value::as_bool) == Some(true)),
        include_usage: obj
            .get("stream_options")
            .and_then(|s| s.get("include_usage"))
            .and_then(Value::as_bool)
            == Some(true),
        input_tokens: options::input_tokens(body_len),
        events: opts.events,
    };
    match provider {
        Provider::OpenAi => openai::echo(&ctx),
        Provider::Responses => responses::echo(&ctx),
        Provider::Anthropic => anthropic::echo(&ctx),
        Provider::Gemini => gemini::echo(&ctx, obj),
    }
}

async fn load_fixture(state: &State, name: &str) -> Result<Bytes, String> {
    if let Some(b) = state.fixture_cache.read().unwrap().get(name) {
        return Ok(b.clone());
    }
    let path = state.fixtures.join(name);
    let data = tokio::fs::read(&path)
        .await
        .map(Bytes::from)
        .map_err(|e| format!("cannot read fixture '{}': {e}", path.display()))?;
    state
        .fixture_cache
        .write()
        .unwrap()
        .insert(name.to_string(), data.clone());
    Ok(data)
}

/// Frames for a fixture: `split` bytes each, else one SSE event per frame (SSE) or the
/// whole body in one frame (JSON).
fn fixture_reply(name: &str, data: Bytes, split: Option<usize>) -> Reply {
    let is_sse = name.ends_with(".sse");
    let frames = match split {
        Some(k) => split_bytes(&data, k),
        None if is_sse => split_sse_events(&data),
        None => vec![data],
    };
    Reply {
        content_type: if is_sse { SSE } else { JSON },
        frames,
        exact: !is_sse,
    }
}

fn split_bytes(data: &Bytes, k: usize) -> Vec<Bytes> {
    let k = k.max(1);
    (0..data.len())
        .step_by(k)
        .map(|i| data.slice(i..(i + k).min(data.len())))
        .collect()
}

/// Splits an SSE stream after each blank line (`\n\n` or `\r\n\r\n`), keeping separators.
fn split_sse_events(data: &Bytes) -> Vec<Bytes> {
    let mut frames = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < data.len() {
        let rest = &data[i..];
        let sep = if rest.starts_with(b"\r\n\r\n") {
            4
        } else if rest.starts_with(b"\n\n") {
            2
        } else {
            0
        };
        if sep > 0 {
            frames.push(data.slice(start..i + sep));
            i += sep;
            start = i;
        } else {
            i += 1;
        }
    }
    if start < data.len() {
        frames.push(data.slice(start..));
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_splitting() {
        let data = Bytes::from_static(b"event: a\ndata: 1\n\nevent: b\r\ndata: 2\r\n\r\ndata: 3");
        let frames = split_sse_events(&data);
        assert_eq!(
            frames,
            vec![
                Bytes::from_static(b"event: a\ndata: 1\n\n"),
                Bytes::from_static(b"event: b\r\ndata: 2\r\n\r\n"),
                Bytes::from_static(b"data: 3"),
            ]
        );
    }

    #[test]
    fn byte_splitting() {
        let data = Bytes::from_static(b"abcdefg");
        assert_eq!(
            split_bytes(&data, 3),
            vec![
                Bytes::from_static(b"abc"),
                Bytes::from_static(b"def"),
                Bytes::from_static(b"g")
            ]
        );
    }

    #[test]
    fn fixtures_in_repo_split_into_events() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for sub in ["openai", "anthropic", "gemini"] {
            let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().and_then(|x| x.to_str()) != Some("sse") {
                    continue;
                }
                let data = Bytes::from(std::fs::read(&p).unwrap());
                let frames = split_sse_events(&data);
                assert!(frames.len() >= 2, "{}", p.display());
                for f in &frames {
                    assert!(
                        f.ends_with(b"\n\n") || f.ends_with(b"\r\n\r\n"),
                        "{}: {:?}",
                        p.display(),
                        f
                    );
                }
            }
        }
    }
}
