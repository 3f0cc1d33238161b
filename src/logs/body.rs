//! The request/response body log: one JSON record per request, written by a worker
//! thread of its own.
//!
//! The request thread only moves what it has into a [`Record`] (the captured request
//! body, the assembled answer, the ctx's figures) and queues it: a bounded queue
//! (records and bytes), drops counted in `switchyard_body_log_dropped_total`, never a
//! wait. Redaction, JSON and the write happen on the worker, which is woken like the
//! access-log writer ([`crate::logsink`]): only when it went idle.
//!
//! A record (one line; `logs show` reads them back):
//! ```json
//! {"ts":"…","ts_end":"…","request_id":"…","key":"team-a","api":"openai","model":"fast",
//!  "provider":"anth","upstream_model":"claude-…","status":200,"stream":true,
//!  "attempts":1,"ttfb_ms":120,"duration_ms":900,"usage":{"input_tokens":…},
//!  "cost_usd":0.0012,"error":null,"cache":null,
//!  "request":{…the client's body…},"request_truncated":false,
//!  "response":{"id":"…","model":"…","content":[{"type":"text","text":"…"},
//!    {"type":"tool_call","id":"…","name":"…","arguments":"{…}"}],
//!    "finish_reason":"tool_calls","usage":{…}},"response_truncated":false}
//! ```
//! A body longer than `max_bytes` is kept as a string of its first `max_bytes` bytes
//! with `*_truncated: true`.

use super::file::{Fallback, FileSink, RotatingFile};
use super::redact::Redactor;
use crate::config::log::BodyLog;
use crate::formats::model::{ChatResponse, ContentPart, FinishReason, ImageSource, Usage};
use crate::proxy::scrub::Scrubber;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, SystemTime};

/// Queue bounds: beyond either, records are dropped and counted.
const MAX_RECORDS: usize = 4096;
const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;
const BUSY_INTERVAL: Duration = Duration::from_millis(10);
const IDLE_TICK: Duration = Duration::from_millis(500);

/// Set by SIGHUP ([`crate::logs`]).
pub(crate) static REOPEN: AtomicBool = AtomicBool::new(false);

/// What the request thread hands over.
#[derive(Debug, Default)]
pub struct Record {
    pub started: Option<SystemTime>,
    pub request_id: String,
    pub key: Option<String>,
    pub api: Option<&'static str>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub upstream_model: Option<String>,
    pub status: u16,
    pub stream: bool,
    pub attempts: u32,
    pub ttfb: Option<Duration>,
    pub duration: Duration,
    pub usage: Option<Usage>,
    pub cost_usd: Option<f64>,
    pub error: Option<String>,
    pub cache: Option<&'static str>,
    pub client_gone: bool,
    /// The client's body, at most `max_bytes` of it.
    pub request: Vec<u8>,
    /// The body's full length (more than `request.len()` when cut).
    pub request_len: usize,
    pub answer: Option<ChatResponse>,
}

/// Turns records into redacted, scrubbed JSON lines.
pub struct Renderer {
    redact: Redactor,
    scrub: Scrubber,
    max_bytes: usize,
}

impl Renderer {
    pub fn new(cfg: &BodyLog, secrets: &[String]) -> Result<Renderer, regex::Error> {
        Ok(Renderer {
            redact: Redactor::new(&cfg.redact)?,
            scrub: Scrubber::new(secrets),
            max_bytes: cfg.max_bytes,
        })
    }

    /// One record as a JSON line (with its newline).
    pub fn render(&self, r: Record) -> Vec<u8> {
        let (request, request_truncated) = self.request(&r);
        let (response, response_truncated) = match &r.answer {
            Some(a) => self.response(a),
            None => (Value::Null, false),
        };
        let end = r.started.map(|s| s + r.duration);
        let v = json!({
            "ts": r.started.map(stamp),
            "ts_end": end.map(stamp),
            "request_id": r.request_id,
            "key": r.key,
            "api": r.api,
            "model": r.model,
            "provider": r.provider,
            "upstream_model": r.upstream_model,
            "status": r.status,
            "stream": r.stream,
            "attempts": r.attempts,
            "ttfb_ms": r.ttfb.map(|d| d.as_millis() as u64),
            "duration_ms": r.duration.as_millis() as u64,
            "usage": r.usage.as_ref().map(usage),
            "cost_usd": r.cost_usd,
            "error": r.error.as_deref().map(|e| self.redact.text(e).into_owned()),
            "cache": r.cache,
            "client_gone": r.client_gone,
            "request": request,
            "request_truncated": request_truncated,
            "response": response,
            "response_truncated": response_truncated,
        });
        let mut line = serde_json::to_vec(&v).unwrap_or_default();
        line.push(b'\n');
        // Keys that JSON escaping leaves as they are (every key format in use) are
        // found in the line as they were sent.
        self.scrub.bytes(line).into_log_line()
    }

    fn request(&self, r: &Record) -> (Value, bool) {
        if r.request_len <= self.max_bytes {
            if let Ok(mut v) = serde_json::from_slice::<Value>(&r.request) {
                self.redact.value(&mut v);
                return (v, false);
            }
        }
        let text = String::from_utf8_lossy(&r.request);
        let text = cut(&text, self.max_bytes);
        (
            Value::String(self.redact.text(text).into_owned()),
            r.request_len > self.max_bytes,
        )
    }

    fn response(&self, a: &ChatResponse) -> (Value, bool) {
        let mut v = answer_json(a);
        self.redact.value(&mut v);
        let text = serde_json::to_string(&v).unwrap_or_default();
        if text.len() <= self.max_bytes {
            return (v, false);
        }
        (Value::String(cut(&text, self.max_bytes).to_string()), true)
    }
}

/// The first `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn stamp(t: SystemTime) -> String {
    let ts = jiff::Timestamp::try_from(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{ts:.3}")
}

fn usage(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cache_read_tokens": u.cache_read_tokens,
        "cache_write_tokens": u.cache_write_tokens,
        "reasoning_tokens": u.reasoning_tokens,
    })
}

pub fn finish_reason(f: &FinishReason) -> String {
    match f {
        FinishReason::Stop => "stop".into(),
        FinishReason::StopSequence(_) => "stop_sequence".into(),
        FinishReason::Length => "length".into(),
        FinishReason::ToolCalls => "tool_calls".into(),
        FinishReason::ContentFilter => "content_filter".into(),
        FinishReason::Other(s) => s.clone(),
    }
}

fn part_json(p: &ContentPart<'_>) -> Value {
    match p {
        ContentPart::Text { text, .. } => json!({"type": "text", "text": text}),
        ContentPart::Image(ImageSource::Url(u)) => json!({"type": "image", "url": u}),
        ContentPart::Image(ImageSource::Base64 { media_type, data }) => {
            json!({"type": "image", "media_type": media_type, "bytes": data.len()})
        }
        ContentPart::ToolCall {
            id,
            name,
            arguments,
        } => json!({"type": "tool_call", "id": id, "name": name, "arguments": arguments}),
        ContentPart::ToolResult {
            tool_call_id,
            content,
            is_error,
        } => json!({
            "type": "tool_result", "tool_call_id": tool_call_id, "is_error": is_error,
            "content": content.iter().map(part_json).collect::<Vec<_>>()
        }),
        ContentPart::Thinking { text, .. } => json!({"type": "thinking", "text": text}),
        ContentPart::RedactedThinking { .. } => json!({"type": "redacted_thinking"}),
    }
}

/// The assembled answer in the body log's own shape (the same for both APIs).
pub fn answer_json(a: &ChatResponse) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), a.id.clone().into());
    m.insert("model".into(), a.model.clone().into());
    m.insert(
        "content".into(),
        a.content.iter().map(part_json).collect::<Vec<_>>().into(),
    );
    if let Some(r) = &a.refusal {
        m.insert("refusal".into(), r.clone().into());
    }
    m.insert(
        "finish_reason".into(),
        a.finish_reason
            .as_ref()
            .map(finish_reason)
            .map_or(Value::Null, Value::from),
    );
    m.insert("usage".into(), usage(&a.usage));
    Value::Object(m)
}

// === queue and worker ===

struct Queue {
    records: VecDeque<Record>,
    bytes: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    idle: AtomicBool,
    worker: OnceLock<Thread>,
    /// The renderer and the file, held for a whole batch (so `flush` waits for it).
    out: Mutex<(Renderer, FileSink)>,
    start_after_fork_of: Option<u32>,
}

static SHARED: OnceLock<Arc<Shared>> = OnceLock::new();

/// Opens the body log and starts its worker (now, or after the fork in daemon mode).
pub fn install(cfg: &BodyLog, secrets: &[String], after_fork: bool) -> Result<(), String> {
    let renderer = Renderer::new(cfg, secrets).map_err(|e| format!("log.bodies.redact: {e}"))?;
    let file = RotatingFile::open(&cfg.file).map_err(|e| {
        format!(
            "log.bodies.path: cannot open {}: {e}",
            cfg.file.path.display()
        )
    })?;
    let sink = FileSink::new(file, cfg.file.clone(), Fallback::Drop);
    let shared = SHARED.get_or_init(|| {
        Arc::new(Shared {
            queue: Mutex::new(Queue {
                records: VecDeque::new(),
                bytes: 0,
            }),
            idle: AtomicBool::new(false),
            worker: OnceLock::new(),
            out: Mutex::new((renderer, sink)),
            start_after_fork_of: after_fork.then(std::process::id),
        })
    });
    if !after_fork {
        start_worker(shared);
    }
    Ok(())
}

fn start_worker(shared: &Arc<Shared>) -> Option<&Thread> {
    if let Some(t) = shared.worker.get() {
        return Some(t);
    }
    let s = shared.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("switchyard-bodylog".into())
        .spawn(move || {
            let won = s.worker.set(std::thread::current()).is_ok();
            let _ = tx.send(());
            if won {
                worker(s);
            }
        });
    match spawned {
        Ok(_) => {
            let _ = rx.recv();
        }
        Err(e) => log::error!("body log thread failed to start: {e}"),
    }
    shared.worker.get()
}

/// Queues a record; drops it (counted) when the queue is full or nothing runs.
pub fn submit(r: Record) {
    let Some(shared) = SHARED.get() else { return };
    let worker = match shared.worker.get() {
        Some(w) => Some(w),
        None => match shared.start_after_fork_of {
            Some(pid) if pid != std::process::id() => start_worker(shared),
            _ => None,
        },
    };
    let Some(worker) = worker else {
        crate::metrics::BODY_LOG_DROPPED.inc();
        return;
    };
    {
        let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.records.len() >= MAX_RECORDS || q.bytes + r.request.len() > MAX_QUEUED_BYTES {
            drop(q);
            crate::metrics::BODY_LOG_DROPPED.inc();
            return;
        }
        q.bytes += r.request.len();
        q.records.push_back(r);
    }
    if shared.idle.swap(false, Ordering::AcqRel) {
        worker.unpark();
    }
}

/// Writes every queued record now (before the process exits).
pub fn flush() {
    if let Some(shared) = SHARED.get() {
        drain(shared);
    }
}

fn drain(shared: &Shared) -> bool {
    let mut out = shared.out.lock().unwrap_or_else(|e| e.into_inner());
    let (renderer, sink) = &mut *out;
    if REOPEN.swap(false, Ordering::AcqRel) {
        sink.reopen();
    }
    let batch = {
        let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.bytes = 0;
        std::mem::take(&mut q.records)
    };
    let wrote = !batch.is_empty();
    if wrote {
        let mut buf = Vec::with_capacity(batch.len() * 1024);
        for r in batch {
            buf.extend_from_slice(&renderer.render(r));
        }
        sink.write(&buf);
        sink.flush();
    }
    sink.tick();
    wrote
}

fn worker(shared: Arc<Shared>) {
    loop {
        if drain(&shared) {
            std::thread::sleep(BUSY_INTERVAL);
            continue;
        }
        shared.idle.store(true, Ordering::Release);
        if drain(&shared) {
            shared.idle.store(false, Ordering::Release);
            continue;
        }
        std::thread::park_timeout(IDLE_TICK);
        shared.idle.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::log::{FileOutput, Redaction, Rotate};
    use std::borrow::Cow;

    fn renderer(max_bytes: usize) -> Renderer {
        let cfg = BodyLog {
            file: FileOutput {
                path: "/dev/null".into(),
                rotate: Rotate::default(),
            },
            max_bytes,
            redact: vec![Redaction::Email],
        };
        Renderer::new(
            &cfg,
            &["sk-provider-secret-1".into(), "plainsecretvalue".into()],
        )
        .unwrap()
    }

    fn render(r: &Renderer, rec: Record) -> Value {
        let line = r.render(rec);
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        serde_json::from_slice(&line).unwrap()
    }

    #[test]
    fn a_record_with_tool_calls_redacted_and_scrubbed() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"me@x.org says sk-provider-secret-1 plainsecretvalue"}]}"#;
        let answer = ChatResponse {
            id: "r1".into(),
            model: "up".into(),
            content: vec![
                ContentPart::Text {
                    text: Cow::Borrowed("write to me@x.org"),
                    cache_control: None,
                },
                ContentPart::ToolCall {
                    id: Cow::Borrowed("call_1"),
                    name: Cow::Borrowed("get_weather"),
                    arguments: Cow::Borrowed(r#"{"city":"Paris"}"#),
                },
            ],
            refusal: None,
            finish_reason: Some(FinishReason::ToolCalls),
            usage: Usage {
                input_tokens: 5,
                output_tokens: 7,
                ..Default::default()
            },
        };
        let v = render(
            &renderer(4096),
            Record {
                started: Some(SystemTime::now()),
                request_id: "id-1".into(),
                status: 200,
                request: body.to_vec(),
                request_len: body.len(),
                answer: Some(answer),
                ..Default::default()
            },
        );
        assert_eq!(
            v["request"]["messages"][0]["content"],
            "[REDACTED:email] says [REDACTED:api_key] [redacted]"
        );
        assert_eq!(
            v["response"]["content"][0]["text"],
            "write to [REDACTED:email]"
        );
        assert_eq!(
            v["response"]["content"][1]["arguments"],
            r#"{"city":"Paris"}"#
        );
        assert_eq!(v["response"]["finish_reason"], "tool_calls");
        assert_eq!(v["request_truncated"], false);
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn long_bodies_are_cut_and_flagged() {
        let text = "é".repeat(400);
        let body = format!(r#"{{"messages":[{{"role":"user","content":"{text}"}}]}}"#);
        let v = render(
            &renderer(256),
            Record {
                request: body.as_bytes()[..256].to_vec(),
                request_len: body.len(),
                ..Default::default()
            },
        );
        assert_eq!(v["request_truncated"], true);
        assert!(v["request"].as_str().unwrap().len() <= 256);
    }
}
