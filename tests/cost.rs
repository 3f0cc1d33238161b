//! Cost per request and spend budgets, through a running gateway and the mock:
//! `x-switchyard-cost-usd` and `cost_usd` in the access log for both client APIs,
//! cache-read and cache-write tokens at their own prices, and budgets that concurrent
//! requests cannot overspend, in process and shared through Redis.
//!
//! The failure modes they guard against: budgets overspent by concurrent requests
//! (spend checked before a request and added after it, with nothing reserved in
//! between) and cached prompt tokens billed at the full input price.

mod common;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const KEY: &str = "key-budget-00000001";

/// Anthropic's `message_text.json`: 276 plain input, 1024 cache-read and 200
/// cache-write tokens, 27 output, at 3 / 0.3 / 3.75 / 15 USD per million.
const FIXTURE_COST: f64 = (276.0 * 3.0 + 1024.0 * 0.3 + 200.0 * 3.75 + 27.0 * 15.0) / 1e6;

const PRICED: &str = r#"  sonnet:
    targets:
      - provider: anth
        model: "mock:fixture=anthropic/message_text.json"
        price: { input: 3.0, output: 15.0, cache_read: 0.3, cache_write: 3.75 }
  sonnet-stream:
    targets:
      - provider: anth
        model: "mock:fixture=anthropic/stream_text.sse"
        price: { input: 3.0, output: 15.0, cache_read: 0.3, cache_write: 3.75 }
  unpriced: { targets: [ { provider: oai, model: echo } ] }
  dear:
    targets:
      - provider: oai
        model: "mock:first_byte_delay_ms=500"
        price: { input: 0.0, output: 1000.0 }"#;

fn cost_header(r: &Reply) -> f64 {
    r.header("x-switchyard-cost-usd")
        .unwrap_or_else(|| panic!("no cost header: {:?}", r.headers))
        .parse()
        .unwrap()
}

fn logged_cost(gw: &Gateway, r: &Reply) -> String {
    let id = r.header("x-request-id").expect("request id");
    let log = gw.log_with(&format!("request_id={id} "));
    let line = log
        .lines()
        .find(|l| l.contains(&format!("request_id={id} ")))
        .unwrap()
        .to_string();
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("cost_usd="))
        .unwrap_or_else(|| panic!("no cost_usd in {line}"))
        .to_string()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn cost_is_in_the_header_and_the_log_for_both_apis_with_cache_tokens_at_their_prices() {
    let mock = Mock::start();
    let gw = Gateway::start(&two_provider_config(&mock, PRICED));
    // Anthropic client: pass-through.
    let r = gw.post_raw(
        "/v1/messages",
        chat("sonnet", 100),
        &[("anthropic-version", "2023-06-01")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(close(cost_header(&r), FIXTURE_COST), "{:?}", r.headers);
    assert!(close(logged_cost(&gw, &r).parse().unwrap(), FIXTURE_COST));
    // OpenAI client: translated; the same usage, so the same cost.
    let r = gw.post_raw("/v1/chat/completions", chat("sonnet", 100), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["usage"]["prompt_tokens_details"]["cached_tokens"],
        1024
    );
    assert!(close(cost_header(&r), FIXTURE_COST));
    // At the plain input price the same request would cost more: the cache discount
    // is what the figure shows.
    let full = (1500.0 * 3.0 + 27.0 * 15.0) / 1e6;
    assert!(cost_header(&r) < full);
}

#[test]
fn streams_log_their_cost_and_unpriced_targets_have_none() {
    let mock = Mock::start();
    let gw = Gateway::start(&two_provider_config(&mock, PRICED));
    let body = serde_json::to_vec(&json!({
        "model": "sonnet-stream", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]
    }))
    .unwrap();
    let r = gw.post_raw("/v1/messages", body, &[("anthropic-version", "2023-06-01")]);
    assert_eq!(r.status, 200);
    // The header went out before the usage was known.
    assert!(r.header("x-switchyard-cost-usd").is_none());
    let usage = r.data().iter().fold((0u64, 0u64), |(i, o), e: &Value| {
        let u = e["message"]["usage"].as_object().or(e["usage"].as_object());
        match u {
            Some(u) => (
                i.max(u.get("input_tokens").and_then(Value::as_u64).unwrap_or(0)),
                o.max(u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0)),
            ),
            None => (i, o),
        }
    });
    let logged: f64 = logged_cost(&gw, &r).parse().unwrap();
    assert!(logged > 0.0);
    assert!(
        logged >= (usage.1 as f64 * 15.0) / 1e6,
        "{logged} {usage:?}"
    );
    // No price anywhere: no header, `-` in the log, and the start-up warning.
    let r = gw.post_raw("/v1/chat/completions", chat("unpriced", 5), &[]);
    assert_eq!(r.status, 200);
    assert!(r.header("x-switchyard-cost-usd").is_none());
    assert_eq!(logged_cost(&gw, &r), "-");
    assert!(gw
        .log_text()
        .contains("no price for oai/echo (no `price:` and not in the model catalog)"));
}

fn budget_gateway(mock: &Mock, budget: &str, state: &str) -> Gateway {
    let yaml = two_provider_config(mock, PRICED).replace(
        "providers:",
        &format!("keys:\n  - {{ name: team, key: {KEY}, limits: {{ budget: {budget} }} }}\n{state}providers:"),
    );
    Gateway::start(&yaml)
}

/// `n` concurrent requests to `dear` (worst case $0.01 each: 10 output tokens at
/// $1000 per million; the mock answers 3 tokens, $0.003), split over `gateways`.
fn concurrent(gateways: &[&Gateway], n: usize) -> Vec<Reply> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let gw = gateways[i % gateways.len()];
                s.spawn(move || {
                    gw.post_raw(
                        "/v1/chat/completions",
                        chat("dear", 10),
                        &[("authorization", &format!("Bearer {KEY}"))],
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn check_concurrent_budget(replies: &[Reply]) {
    let ok: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        ok.len(),
        5,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let spent: f64 = ok.iter().map(|r| cost_header(r)).sum();
    assert!(spent <= 0.05 + 1e-9, "spent {spent}");
    for r in replies.iter().filter(|r| r.status != 200) {
        assert_eq!(r.status, 429, "{}", r.text());
        let e = &r.json()["error"];
        assert_eq!(e["type"], "insufficient_quota", "{e}");
        assert_eq!(e["code"], "insufficient_quota");
        let msg = e["message"].as_str().unwrap();
        assert!(
            msg.contains("gateway key 'team' is over its spend budget ($0.05 per 1h)"),
            "{msg}"
        );
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=3600).contains(&retry), "{retry}");
    }
}

#[test]
fn twenty_concurrent_requests_on_a_budget_for_five_never_overspend() {
    let mock = Mock::start();
    let gw = budget_gateway(&mock, "{ usd: 0.05, period: 1h }", "");
    let first = concurrent(&[&gw], 20);
    check_concurrent_budget(&first);
    let mut spent: f64 = 0.0;
    for r in first.iter().filter(|r| r.status == 200) {
        settle(&gw, r);
        spent += cost_header(r);
    }
    // Settled at their real cost, so more requests fit, one at a time, until the
    // next worst case ($0.01) would take the key over.
    let mut admitted = 0;
    loop {
        let r = gw.post_raw(
            "/v1/chat/completions",
            chat("dear", 10),
            &[("authorization", &format!("Bearer {KEY}"))],
        );
        if r.status == 429 {
            assert!(spent + 0.01 > 0.05 - 1e-9, "refused with {spent} spent");
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text());
        // The header counts this request's own reservation as spent.
        let left: f64 = r
            .header("x-switchyard-budget-remaining-usd")
            .unwrap()
            .parse()
            .unwrap();
        assert!(close(left, 0.05 - spent - 0.01), "{left} after {spent}");
        settle(&gw, &r);
        spent += cost_header(&r);
        admitted += 1;
        assert!(admitted < 100, "the budget never ran out");
    }
    assert!(admitted > 0 && spent <= 0.05 + 1e-9, "{admitted} {spent}");
    // The Anthropic shape of the same refusal.
    let r = gw.post_raw(
        "/v1/messages",
        chat("dear", 10),
        &[("x-api-key", KEY), ("anthropic-version", "2023-06-01")],
    );
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert!(r.header("retry-after").is_some());
    // A worst case above the whole budget says what to change.
    let r = gw.post_raw(
        "/v1/chat/completions",
        chat("dear", 100),
        &[("authorization", &format!("Bearer {KEY}"))],
    );
    assert_eq!(r.status, 429);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("more than the whole budget; lower max_tokens"),
        "{msg}"
    );
}

#[test]
fn a_total_budget_has_no_retry_after() {
    let mock = Mock::start();
    let gw = budget_gateway(&mock, "{ usd: 0.012, period: total }", "");
    let ok = gw.post_raw(
        "/v1/chat/completions",
        chat("dear", 10),
        &[("authorization", &format!("Bearer {KEY}"))],
    );
    assert_eq!(ok.status, 200);
    settle(&gw, &ok);
    let r = gw.post_raw(
        "/v1/chat/completions",
        chat("dear", 10),
        &[("authorization", &format!("Bearer {KEY}"))],
    );
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").is_none());
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("a total budget never resets"), "{msg}");
}

#[test]
fn two_instances_share_one_budget_through_redis() {
    let redis = Redis::start();
    let mock = Mock::start();
    let state = format!("state: {{ redis: {{ url: '{}' }} }}\n", redis.url());
    let a = budget_gateway(&mock, "{ usd: 0.05, period: 1h }", &state);
    let b = budget_gateway(&mock, "{ usd: 0.05, period: 1h }", &state);
    for gw in [&a, &b] {
        gw.log_with("rate-limit state: Redis at");
    }
    check_concurrent_budget(&concurrent(&[&a, &b], 20));
}

#[test]
fn bad_budgets_are_config_errors() {
    let mock = Mock::start();
    for (budget, expected) in [
        ("{ usd: 5, period: 2d }", "keys[0].limits.budget.period: unknown period \"2d\"; expected 1h, 1d, 7d, 30d or total"),
        ("{ usd: -1, period: 1d }", "keys[0].limits.budget.usd: must be a positive number"),
        ("{ usd: 5 }", "missing field `period`"),
    ] {
        let yaml = two_provider_config(&mock, PRICED).replace(
            "providers:",
            &format!("keys:\n  - {{ name: team, key: {KEY}, limits: {{ budget: {budget} }} }}\nproviders:"),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, yaml.replace("{listen}", "127.0.0.1:1").replace("{admin}", "127.0.0.1:2")).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg("check")
            .arg("-c")
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(expected), "{budget}: {err}");
    }
}

/// Waits until the request's settlement ran (it is logged right after).
fn settle(gw: &Gateway, r: &Reply) {
    let id = r.header("x-request-id").expect("request id");
    gw.log_with(&format!("request_id={id} "));
    // Redis settles in the background; in process it is done already.
    std::thread::sleep(Duration::from_millis(20));
}

#[test]
fn targets_without_a_price_are_routed_and_billed_at_the_catalogs() {
    let mock = Mock::start();
    let models = r#"  cheapest:
    strategy: cost
    targets:
      - { provider: anth, model: claude-opus-4-1 }
      - { provider: anth, model: claude-3-haiku-20240307 }
defaults: { max_tokens: 8000 }"#;
    let gw = Gateway::start(&two_provider_config(&mock, models));
    // No max_tokens from the client: Claude Haiku 3's own limit (4,096 in the
    // catalog) is below defaults.max_tokens, so it is what goes upstream.
    let body = serde_json::to_vec(&json!({
        "model": "cheapest", "messages": [{"role": "user", "content": "hello there"}]
    }))
    .unwrap();
    let r = gw.post_raw("/v1/chat/completions", body, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = mock.last_body();
    assert_eq!(sent["model"], "claude-3-haiku-20240307");
    assert_eq!(sent["max_tokens"], 4096);
    let u = &r.json()["usage"];
    let (input, output) = (
        u["prompt_tokens"].as_f64().unwrap(),
        u["completion_tokens"].as_f64().unwrap(),
    );
    assert!(input > 0.0 && output > 0.0);
    assert!(
        close(cost_header(&r), (input * 0.25 + output * 1.25) / 1e6),
        "{u}"
    );
}

#[test]
fn check_warns_about_models_the_catalog_does_not_know() {
    let mock = Mock::start();
    let models = r#"  s: { targets: [ { provider: anth, model: claude-sonet-4-5 } ] }
  c: { strategy: cost, targets: [ { provider: oai, model: gpt-4o }, { provider: oai, model: my-finetune } ] }"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    let yaml = two_provider_config(&mock, models)
        .replace("{listen}", "127.0.0.1:1")
        .replace("{admin}", "127.0.0.1:2");
    std::fs::write(&path, &yaml).unwrap();
    let check = |path: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["check", "-c"])
            .arg(path)
            .output()
            .unwrap()
    };
    // A cost alias cannot rank a target with no price: an error naming it.
    let out = check(&path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("models.c.targets[1].price: the cost strategy needs a price, and the model catalog has none for oai/my-finetune"), "{err}");
    // Priced by hand, it is fine; the misspelt model is a warning with a suggestion.
    std::fs::write(
        &path,
        yaml.replace(
            "model: my-finetune }",
            "model: my-finetune, price: { input: 1, output: 2 } }",
        ),
    )
    .unwrap();
    let out = check(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("warning: models.s.targets[0].model: \"claude-sonet-4-5\" is not in the model catalog under provider \"anthropic\" (did you mean claude-sonnet-4-5"), "{text}");
    assert!(
        text.contains("warning: anth/claude-sonet-4-5 has no price"),
        "{text}"
    );
    assert!(!text.contains("gpt-4o\" is not in"), "{text}");
}

#[test]
fn a_stream_that_reports_no_usage_has_an_unknown_cost_not_zero() {
    let mock = Mock::start();
    let models = r#"  gpt:
    targets:
      - { provider: oai, model: echo, price: { input: 1.0, output: 2.0 } }"#;
    let gw = Gateway::start(&two_provider_config(&mock, models));
    // OpenAI pass-through stream without stream_options.include_usage: no usage chunk.
    let body = serde_json::to_vec(&json!({
        "model": "gpt", "stream": true, "messages": [{"role": "user", "content": "a b"}]
    }))
    .unwrap();
    let r = gw.post_raw("/v1/chat/completions", body.clone(), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(logged_cost(&gw, &r), "-");
    // With the usage chunk, the same stream has its cost.
    let mut with_usage: Value = serde_json::from_slice(&body).unwrap();
    with_usage["stream_options"] = json!({"include_usage": true});
    let r = gw.post_raw(
        "/v1/chat/completions",
        serde_json::to_vec(&with_usage).unwrap(),
        &[],
    );
    assert!(logged_cost(&gw, &r).parse::<f64>().unwrap() > 0.0);
}
