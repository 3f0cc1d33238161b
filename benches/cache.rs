//! The response cache's per-request costs: the key of a 1 KB and a 100 KB request
//! (parse, canonical form, SHA-256), a hit's lookup in the in-process tier, and
//! rendering a stored answer (plain and as a stream).
//!
//! `cargo bench --bench cache`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::sync::Arc;
use std::time::Duration;
use switchyard::cache::key::{request_key, KeyParts};
use switchyard::cache::Cache;
use switchyard::config::CacheConfig;
use switchyard::formats::model::{ChatResponse, ContentPart, FinishReason, Usage};
use switchyard::formats::{self, ApiFormat};

/// A chat request of about `size` bytes: a system prompt, a few turns, one tool.
fn request(size: usize) -> Vec<u8> {
    // Four messages share what the envelope (~400 bytes) leaves.
    let per = size.saturating_sub(400) / 4;
    let filler: String = "lorem ipsum dolor sit amet "
        .chars()
        .cycle()
        .take(per)
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "model": "fast", "max_tokens": 512, "temperature": 0.2, "stream": true,
        "messages": [
            {"role": "system", "content": filler},
            {"role": "user", "content": filler},
            {"role": "assistant", "content": filler},
            {"role": "user", "content": filler},
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
    }))
    .unwrap()
}

fn answer() -> ChatResponse {
    ChatResponse {
        id: "chatcmpl-1".into(),
        model: "gpt-x".into(),
        content: vec![ContentPart::Text {
            text: "The capital of France is Paris. ".repeat(30).into(),
            cache_control: None,
        }],
        refusal: None,
        finish_reason: Some(FinishReason::Stop),
        usage: Usage {
            input_tokens: 300,
            output_tokens: 200,
            ..Default::default()
        },
    }
}

fn bench_key(c: &mut Criterion) {
    let parts = KeyParts {
        api: ApiFormat::OpenAi,
        model: "fast",
        tenant: Some("team-a"),
        anthropic_beta: None,
        pin: None,
    };
    let mut g = c.benchmark_group("cache/key");
    for (name, size) in [("1KB", 1024), ("100KB", 100 * 1024)] {
        let body = request(size);
        assert!(body.len() >= size * 9 / 10 && body.len() <= size * 12 / 10);
        g.throughput(criterion::Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| request_key(black_box(&parts), black_box(&body)).unwrap())
        });
    }
    g.finish();
}

fn bench_hit(c: &mut Criterion) {
    let cache = Cache::new(&CacheConfig {
        enabled: true,
        ..CacheConfig::default()
    });
    cache.put([7; 32], answer(), Duration::from_secs(300));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    c.bench_function("cache/lookup_hit", |b| {
        b.iter(|| rt.block_on(cache.get(black_box(&[7; 32]), None)).unwrap())
    });
    let a = Arc::new(answer());
    c.bench_function("cache/render_plain_openai", |b| {
        b.iter(|| formats::encode_response(ApiFormat::OpenAi, black_box(&a)))
    });
    c.bench_function("cache/render_stream_anthropic", |b| {
        b.iter(|| formats::answer::replay_stream(black_box(&a), ApiFormat::Anthropic, true))
    });
}

criterion_group!(benches, bench_key, bench_hit);
criterion_main!(benches);
