//! Gateway keys: both `Authorization: Bearer` and `x-api-key` are accepted; unknown or
//! missing keys get 401 in the caller's shape; client credentials never go upstream.

mod common;
use common::*;
use serde_json::json;

const GW_KEY: &str = "gw-team-a-0123456789";

fn setup() -> (Mock, Gateway) {
    let mock = Mock::start();
    let yaml = two_provider_config(
        &mock,
        "  gpt: { targets: [ { provider: oai, model: gpt-x } ] }",
    )
    .replace(
        "providers:",
        &format!("keys:\n  - {{ name: team-a, key: \"{GW_KEY}\" }}\nproviders:"),
    );
    (mock, Gateway::start(&yaml))
}

fn body() -> Vec<u8> {
    serde_json::to_vec(
        &json!({"model": "gpt", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .unwrap()
}

#[test]
fn missing_or_unknown_keys_get_401() {
    let (mock, gw) = setup();
    let r = gw.post_raw("/v1/chat/completions", body(), &[]);
    assert_eq!(r.status, 401);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("missing gateway key"));
    let r = gw.post_raw("/v1/messages", body(), &[("x-api-key", "wrong-key-000000")]);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["type"], "authentication_error");
    assert!(!r.text().contains(GW_KEY));
    let r = gw.post_raw(
        "/v1/chat/completions",
        body(),
        &[("authorization", "Bearer nope")],
    );
    assert_eq!(r.status, 401);
    assert!(mock.requests().is_empty());
    let models = client()
        .get(format!("{}/v1/models", gw.base()))
        .send()
        .unwrap();
    assert_eq!(models.status(), 401);
}

#[test]
fn bearer_and_x_api_key_both_work_and_are_not_forwarded() {
    let (mock, gw) = setup();
    let r = gw.post_raw(
        "/v1/chat/completions",
        body(),
        &[("authorization", &format!("Bearer {GW_KEY}"))],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = gw.post_raw(
        "/v1/messages",
        body(),
        &[("x-api-key", GW_KEY), ("anthropic-version", "2023-06-01")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for req in mock.requests() {
        assert_eq!(
            req["headers"]["authorization"],
            format!("Bearer {OPENAI_KEY}")
        );
        assert!(req["headers"].get("x-api-key").is_none());
        assert!(!req.to_string().contains(GW_KEY));
    }
    let log = gw.log_with("key=team-a");
    assert!(!log.contains(GW_KEY));
}

#[test]
fn open_gateway_says_so_at_start_up() {
    let mock = Mock::start();
    let gw = Gateway::start(&two_provider_config(
        &mock,
        "  gpt: { targets: [ { provider: oai, model: gpt-x } ] }",
    ));
    gw.log_with("the gateway is OPEN");
    assert_eq!(gw.post_raw("/v1/chat/completions", body(), &[]).status, 200);
}
