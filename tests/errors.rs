//! Bad input and upstream failures get a clear answer in the caller's own error
//! shape, with `x-request-id`, and no secret ever shows up in a response or log.

mod common;
use common::*;
use serde_json::{json, Value};

fn setup() -> (Mock, Gateway) {
    let mock = Mock::start();
    let yaml = two_provider_config(
        &mock,
        "  claude: { targets: [ { provider: anth, model: claude-x } ] }\n  gpt: { targets: [ { provider: oai, model: gpt-x } ] }",
    )
    .replace("providers:", "limits: { max_body_bytes: 4096 }\nproviders:");
    (mock, Gateway::start(&yaml))
}

fn assert_openai_error(r: &Reply, status: u16, needle: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r.header("x-request-id").is_some());
    let v = r.json();
    let msg = v["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("OpenAI shape: {v}"));
    assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
    assert!(v["error"]["type"].is_string());
    v
}

fn assert_anthropic_error(r: &Reply, status: u16, needle: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r.header("x-request-id").is_some());
    let v = r.json();
    assert_eq!(v["type"], "error", "Anthropic shape: {v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
    v
}

#[test]
fn malformed_json_is_400_in_each_shape() {
    let (_mock, gw) = setup();
    let r = gw.post_raw(
        "/v1/chat/completions",
        b"{\"model\": \"gpt\", ".to_vec(),
        &[],
    );
    assert_openai_error(&r, 400, "EOF");
    let r = gw.post_raw("/v1/messages", b"not json".to_vec(), &[]);
    let v = assert_anthropic_error(&r, 400, "expected");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let r = gw.post_raw("/v1/messages", Vec::new(), &[]);
    assert_anthropic_error(&r, 400, "empty");
}

#[test]
fn missing_and_invalid_fields_are_named() {
    let (_mock, gw) = setup();
    assert_openai_error(
        &gw.post("/v1/chat/completions", &json!({"messages": []})),
        400,
        "model",
    );
    assert_anthropic_error(
        &gw.post("/v1/messages", &json!({"model": "gpt"})),
        400,
        "messages",
    );
    // Cross-format requests are fully parsed, so deep mistakes are named by path.
    let r = gw.post(
        "/v1/chat/completions",
        &json!({"model": "claude", "messages": [{"role": "sytem", "content": "x"}]}),
    );
    assert_openai_error(&r, 400, "messages[0].role");
    let r = gw.post("/v1/messages", &json!({"model": "gpt", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text"}]}]}));
    assert_anthropic_error(&r, 400, "messages[0].content");
}

#[test]
fn unknown_model_is_404_naming_it() {
    let (_mock, gw) = setup();
    let v = assert_openai_error(
        &gw.post(
            "/v1/chat/completions",
            &json!({"model": "gtp-5", "messages": []}),
        ),
        404,
        "'gtp-5'",
    );
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("claude, gpt"));
    let v = assert_anthropic_error(
        &gw.post("/v1/messages", &json!({"model": "nope", "messages": []})),
        404,
        "'nope'",
    );
    assert_eq!(v["error"]["type"], "not_found_error");
}

#[test]
fn body_over_the_limit_is_413() {
    let (mock, gw) = setup();
    let big = "x".repeat(5000);
    let r = gw.post(
        "/v1/messages",
        &json!({"model": "gpt", "messages": [{"role": "user", "content": big}]}),
    );
    let v = assert_anthropic_error(&r, 413, "limits.max_body_bytes (4096 bytes)");
    assert_eq!(v["error"]["type"], "request_too_large");
    assert!(mock.requests().is_empty(), "nothing half-sent upstream");
}

#[test]
fn unknown_route_is_404() {
    let (_mock, gw) = setup();
    let r = gw.post("/v1/completions", &json!({}));
    let v = assert_openai_error(&r, 404, "POST /v1/chat/completions");
    assert_eq!(v["error"]["code"], "unknown_url");
    // An Anthropic caller (by path or by header) gets Anthropic's shape.
    let r = client()
        .get(format!("{}/v1/messages/batches", gw.base()))
        .send()
        .unwrap();
    let r = Reply::from(r);
    let v = assert_anthropic_error(&r, 404, "no route for GET /v1/messages/batches");
    assert_eq!(v["error"]["type"], "not_found_error");
}

#[test]
fn a_wrong_method_is_405_with_allow_in_the_callers_shape() {
    let (mock, gw) = setup();
    for method in ["GET", "PUT", "DELETE"] {
        let r = client()
            .request(
                method.parse().unwrap(),
                format!("{}/v1/messages", gw.base()),
            )
            .header("anthropic-version", "2023-06-01")
            .send()
            .unwrap();
        let r = Reply::from(r);
        let v =
            assert_anthropic_error(&r, 405, &format!("{method} is not allowed on /v1/messages"));
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(r.header("allow"), Some("POST"));
    }
    let r = Reply::from(
        client()
            .delete(format!("{}/v1/chat/completions", gw.base()))
            .send()
            .unwrap(),
    );
    let v = assert_openai_error(&r, 405, "use POST /v1/chat/completions");
    assert_eq!(v["error"]["code"], "method_not_allowed");
    assert_eq!(r.header("allow"), Some("POST"));
    let r = Reply::from(
        client()
            .post(format!("{}/v1/models", gw.base()))
            .send()
            .unwrap(),
    );
    assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
    assert!(mock.requests().is_empty());
}

#[test]
fn provider_errors_map_to_the_callers_shape() {
    let (_mock, gw) = setup();
    // A 400 from the provider is the client's problem: returned at once, translated.
    let r = gw.post(
        "/v1/chat/completions",
        &json!({"model": "anth/mock:status=400", "messages": []}),
    );
    assert_openai_error(&r, 400, "rejected the request");
    assert_eq!(r.header("x-switchyard-attempts"), Some("1"), "not retried");
    // A 429 keeps its retry-after.
    let r = gw.post(
        "/v1/messages",
        &json!({"model": "oai/mock:status=429,retry_after=7", "max_tokens": 5, "messages": []}),
    );
    let v = assert_anthropic_error(&r, 429, "rate limiting");
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(r.header("retry-after"), Some("7"));
    // 5xx is upstream trouble.
    let r = gw.post(
        "/v1/chat/completions",
        &json!({"model": "oai/mock:status=500", "messages": []}),
    );
    assert_openai_error(&r, 502, "returned 500");
    let r = gw.post(
        "/v1/chat/completions",
        &json!({"model": "anth/mock:status=529", "messages": []}),
    );
    assert_openai_error(&r, 503, "overloaded");
}

#[test]
fn provider_keys_never_reach_responses_or_logs() {
    // The mock demands other keys, so providers answer 401 (real providers quote keys
    // back in such messages).
    let mock = Mock::start_with(&["--api-key", "the-right-key"]);
    let gw = Gateway::start(&two_provider_config(
        &mock,
        "  gpt: { targets: [ { provider: oai, model: gpt-x } ] }",
    ));
    let r = gw.post(
        "/v1/chat/completions",
        &json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_openai_error(&r, 502, "check providers.oai.api_key");
    let r2 = gw.post("/v1/messages", &json!({"model": "anth/claude", "max_tokens": 3, "messages": [{"role": "user", "content": "hi"}]}));
    assert_eq!(r2.status, 502);
    let log = gw.log_with("switchyard::access");
    for secret in [OPENAI_KEY, ANTHROPIC_KEY] {
        assert!(!r.text().contains(secret) && !r2.text().contains(secret));
        assert!(!format!("{:?}{:?}", r.headers, r2.headers).contains(secret));
        assert!(!log.contains(secret), "secret in log:\n{log}");
    }
    assert!(
        log.contains("switchyard::access"),
        "access log written:\n{log}"
    );
}

#[test]
fn every_response_has_a_request_id_and_client_ids_are_kept() {
    let (_mock, gw) = setup();
    let r = gw.post_raw(
        "/v1/chat/completions",
        serde_json::to_vec(
            &json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .unwrap(),
        &[("x-request-id", "client-abc-123")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), Some("client-abc-123"));
    let models = client()
        .get(format!("{}/v1/models", gw.base()))
        .send()
        .unwrap();
    assert!(models.headers().contains_key("x-request-id"));
    let v: Value = models.json().unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["claude", "gpt"]);
    let anth: Value = client()
        .get(format!("{}/v1/models", gw.base()))
        .header("anthropic-version", "2023-06-01")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(anth["data"][0]["type"], "model");
    assert_eq!(anth["has_more"], false);
}

#[test]
fn admin_endpoints() {
    let (_mock, gw) = setup();
    gw.post(
        "/v1/chat/completions",
        &json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}),
    );
    let get = |p: &str| client().get(format!("{}{p}", gw.admin())).send().unwrap();
    assert_eq!(get("/healthz").status(), 200);
    assert_eq!(get("/readyz").status(), 200);
    let metrics = get("/metrics").text().unwrap();
    assert!(
        metrics.contains("switchyard_requests_total{api=\"openai\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchyard_upstream_attempts_total{outcome=\"ok\",provider=\"oai\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains(OPENAI_KEY));
}
