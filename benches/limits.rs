//! What gateway keys and their limits add to a request, in process.
//!
//! - `pipeline/*`: the whole request pipeline as the proxy runs it per request
//!   (header stages, body stages, completion taps) on a fresh `RequestCtx`, for an
//!   open gateway, a key without limits, and a key with rpm + tpm + concurrency.
//!   The difference between the last two is what limits cost per request.
//! - `window/admit_settle`: the sliding-window admission and settlement alone, in a
//!   steady state of ~1,000 requests in the window (time is injected, so the window
//!   slides without waiting).
//! - `auth/sha256`: hashing a presented key.
//!
//! The in-process stages never wait, so their futures are polled once with a no-op
//! waker (and checked to be ready) instead of going through a runtime.
//!
//! Run: `cargo bench --bench limits -- --warm-up-time 1 --measurement-time 3`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use criterion::{criterion_group, criterion_main, Criterion};
use switchyard::config::Config;
use switchyard::pipeline::{ClientRequest, Head, Pipeline};
use switchyard::proxy::ctx::RequestCtx;
use switchyard::state::window::Window;
use switchyard::state::Limiter;

const KEY: &str = "sy-bench-key-0123456789abcdef0123456789abcdef";

fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("an in-process stage waited"),
    }
}

fn gateway(keys: &str) -> (Pipeline, Arc<Config>) {
    let yaml = format!(
        "{keys}providers:\n  o: {{ type: openai, api_key: sk-x, base_url: 'http://127.0.0.1:9' }}\n"
    );
    let config = Arc::new(Config::from_yaml(&yaml, "bench", &|_: &str| None).unwrap());
    let limiter = Arc::new(Limiter::new(&config));
    let router = Arc::new(switchyard::routing::Router::new(
        config.clone(),
        Arc::new(switchyard::routing::NoPrices),
    ));
    (
        Pipeline::new(
            &config,
            &router,
            &limiter,
            None,
            &Arc::new(switchyard::memo::ThinkingMemo::new(None)),
        ),
        config,
    )
}

fn bench_pipeline(c: &mut Criterion) {
    let body =
        br#"{"model":"o/gpt-x","max_tokens":256,"messages":[{"role":"user","content":"hello"}]}"#;
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {KEY}").parse().unwrap());
    let head = Head { headers: &headers };
    let req = ClientRequest {
        headers: &headers,
        body,
        model: "o/gpt-x",
        max_output_tokens: Some(256),
    };
    let cases = [
        ("open_gateway", String::new()),
        ("key_no_limits", format!("keys: [ {{ name: b, key: {KEY} }} ]\n")),
        (
            "key_rpm_tpm_concurrency",
            // High enough never to turn a request away during the run.
            format!(
                "keys: [ {{ name: b, key: {KEY}, limits: {{ rpm: 1000000000, tpm: 1000000000000, concurrency: 1000000 }} }} ]\n"
            ),
        ),
        (
            "key_budget",
            format!(
                "keys: [ {{ name: b, key: {KEY}, limits: {{ budget: {{ usd: 1000000, period: 1d }} }} }} ]\n"
            ),
        ),
    ];
    let mut g = c.benchmark_group("pipeline");
    for (name, keys) in cases {
        let (pipeline, _config) = gateway(&keys);
        // Checked once outside the loop: the request is admitted.
        let mut ctx = RequestCtx::new();
        pipeline.on_head(&head, &mut ctx).unwrap();
        ready(pipeline.on_request(&req, &mut ctx)).unwrap();
        assert_eq!(
            ctx.grant.is_some(),
            name.starts_with("key_") && name != "key_no_limits"
        );
        pipeline.on_complete(&mut ctx);
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut ctx = RequestCtx::new();
                pipeline.on_head(black_box(&head), &mut ctx).unwrap();
                ready(pipeline.on_request(black_box(&req), &mut ctx)).unwrap();
                pipeline.on_complete(&mut ctx);
                black_box(ctx.quota)
            })
        });
    }
    g.finish();
}

fn bench_window(c: &mut Criterion) {
    let limits = switchyard::config::KeyLimits {
        rpm: Some(1000),
        tpm: Some(1_000_000_000),
        concurrency: None,
        budget: None,
    };
    c.bench_function("window/admit_settle", |b| {
        let mut w = Window::default();
        let start = Instant::now();
        let mut i = 0u64;
        b.iter(|| {
            // 61 ms apart: about 983 requests stay in the 60 s window.
            i += 1;
            let now = start + Duration::from_millis(61 * i);
            match w.admit(now, &limits, 300) {
                switchyard::state::window::WindowDecision::Admit(Some(r), q) => {
                    w.settle(now, r, 120);
                    black_box(q)
                }
                d => panic!("{d:?}"),
            }
        })
    });
}

fn bench_auth(c: &mut Criterion) {
    c.bench_function("auth/sha256", |b| {
        b.iter(|| switchyard::config::keys::sha256(black_box(KEY.as_bytes())))
    });
}

criterion_group!(benches, bench_pipeline, bench_window, bench_auth);
criterion_main!(benches);
