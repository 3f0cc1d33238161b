//! Logging costs per request: building one access line (text and JSON, the fields
//! `proxy::logging` writes), redaction per KB of body text (every kind on, with and
//! without matches), and rendering a whole body-log record (the body log's worker
//! thread, not the request thread) at 1 KB and 16 KB bodies.
//!
//! `cargo bench --bench logs`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::{Duration, SystemTime};
use switchyard::config::log::{BodyLog, FileOutput, LogFormat, Redaction, Rotate};
use switchyard::formats::model::{ChatResponse, ContentPart, FinishReason, Usage};
use switchyard::logs::body::{Record, Renderer};
use switchyard::logs::redact::Redactor;
use switchyard::proxy::access::Line;

fn fill(line: &mut Line) {
    line.word("request_id", "sy-3f2a9c1b-1a2b")
        .word("method", "POST")
        .text("path", Some("/v1/chat/completions"))
        .field("status", 200)
        .word("api", "openai")
        .text("key", Some("team-a"))
        .text("model", Some("fast"))
        .text("provider", Some("anthropic"))
        .text("upstream_model", Some("claude-sonnet-4-5"))
        .field("stream", true)
        .field("attempts", 1)
        .field("input_tokens", 1234u64)
        .field("cached_tokens", 0u64)
        .field("output_tokens", 567u64)
        .number("cost_usd", Some("0.012345"))
        .field("ttfb_ms", 312u128)
        .field("duration_ms", 2048u128)
        .field("client_gone", false)
        .text("limit", None)
        .text("cache", Some("miss"))
        .text("error", None);
}

fn bench_access_line(c: &mut Criterion) {
    let mut g = c.benchmark_group("access_line");
    for (name, format) in [("text", LogFormat::Text), ("json", LogFormat::Json)] {
        let mut line = Line::new(format);
        g.bench_function(name, |b| b.iter(|| black_box(line.build(fill).len())));
    }
    g.finish();
}

fn all_kinds() -> Vec<Redaction> {
    vec![
        Redaction::Email,
        Redaction::Phone,
        Redaction::CreditCard,
        Redaction::Ipv4,
        Redaction::ApiKey,
        Redaction::Custom {
            name: "order".into(),
            regex: r"ORD-\d{6}".into(),
        },
    ]
}

/// About `size` bytes of chat prose; with `pii`, one email, phone and card per KB.
fn prose(size: usize, pii: bool) -> String {
    let clean = "The quarterly report shows revenue up 4.2% on last year, driven by the \
                 new subscription tier; churn fell to 1.8% and support tickets per \
                 thousand users dropped from 31 to 24 after the onboarding rework. ";
    let dirty = "Contact jane.doe@example.com or +1 415 555 0132; card 4111 1111 1111 1111. ";
    let mut s = String::with_capacity(size + 256);
    while s.len() < size {
        s.push_str(clean);
        if pii && s.len() % 1024 < clean.len() {
            s.push_str(dirty);
        }
    }
    s.truncate(size);
    s
}

fn bench_redact(c: &mut Criterion) {
    let r = Redactor::new(&all_kinds()).unwrap();
    let mut g = c.benchmark_group("redact");
    for size in [1024usize, 16 * 1024] {
        for pii in [false, true] {
            let text = prose(size, pii);
            g.throughput(Throughput::Bytes(size as u64));
            let id = format!("{}KB{}", size / 1024, if pii { "_pii" } else { "" });
            g.bench_with_input(BenchmarkId::from_parameter(id), &text, |b, t| {
                b.iter(|| black_box(r.text(t).len()))
            });
        }
    }
    g.finish();
}

fn record(size: usize) -> Record {
    let text = prose(size / 2, true);
    let request = serde_json::to_vec(&serde_json::json!({
        "model": "fast", "max_tokens": 512, "stream": true,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}],
    }))
    .unwrap();
    Record {
        started: Some(SystemTime::now()),
        request_id: "sy-3f2a9c1b-1a2b".into(),
        key: Some("team-a".into()),
        api: Some("openai"),
        model: Some("fast".into()),
        provider: Some("anthropic".into()),
        upstream_model: Some("claude-sonnet-4-5".into()),
        status: 200,
        stream: true,
        attempts: 1,
        ttfb: Some(Duration::from_millis(312)),
        duration: Duration::from_millis(2048),
        usage: Some(Usage {
            input_tokens: 1234,
            output_tokens: 567,
            ..Default::default()
        }),
        cost_usd: Some(0.012),
        request_len: request.len(),
        request,
        answer: Some(ChatResponse {
            id: "msg_1".into(),
            model: "claude-sonnet-4-5".into(),
            content: vec![ContentPart::Text {
                text: prose(size / 2, true).into(),
                cache_control: None,
            }],
            refusal: None,
            finish_reason: Some(FinishReason::Stop),
            usage: Usage::default(),
        }),
        ..Default::default()
    }
}

fn bench_body_record(c: &mut Criterion) {
    let cfg = BodyLog {
        file: FileOutput {
            path: "/dev/null".into(),
            rotate: Rotate::default(),
        },
        max_bytes: 64 * 1024,
        redact: all_kinds(),
    };
    let renderer = Renderer::new(&cfg, &["sk-test-openai-SECRET-0001".into()]).unwrap();
    let mut g = c.benchmark_group("body_record");
    for size in [1024usize, 16 * 1024] {
        g.throughput(Throughput::Bytes(size as u64));
        // Render (worker thread): redact both bodies, JSON, scrub.
        g.bench_function(format!("render_{}KB", size / 1024), |b| {
            b.iter_batched(
                || record(size),
                |r| black_box(renderer.render(r).len()),
                criterion::BatchSize::SmallInput,
            )
        });
        // What the request thread adds: copying the body and cloning the answer.
        let r = record(size);
        g.bench_function(format!("capture_{}KB", size / 1024), |b| {
            b.iter(|| black_box((r.request.clone(), r.answer.clone())))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_access_line, bench_redact, bench_body_record);
criterion_main!(benches);
