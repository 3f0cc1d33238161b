//! No config file: providers come from the environment and the model name picks the
//! provider. With no provider keys the gateway still starts and explains itself.

mod common;
use common::*;
use serde_json::json;

#[test]
fn model_name_picks_the_provider() {
    let mock = Mock::start();
    let gw = Gateway::start_default(&[
        ("OPENAI_API_KEY", OPENAI_KEY.to_string()),
        ("OPENAI_BASE_URL", format!("{}/v1", mock.base())),
        ("ANTHROPIC_API_KEY", ANTHROPIC_KEY.to_string()),
        ("ANTHROPIC_BASE_URL", mock.base()),
    ]);
    let r = gw.post(
        "/v1/chat/completions",
        &json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-switchyard-provider"), Some("anthropic"));
    assert_eq!(mock.requests().last().unwrap()["path"], "/v1/messages");
    let r = gw.post("/v1/messages", &json!({"model": "gpt-5", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}));
    assert_eq!(r.header("x-switchyard-provider"), Some("openai"));
    assert_eq!(
        mock.requests().last().unwrap()["path"],
        "/v1/chat/completions"
    );
    let r = gw.post("/v1/messages", &json!({"model": "openai/o3-mini", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}));
    assert_eq!(r.status, 200);
    assert_eq!(mock.last_body()["model"], "o3-mini");
    let r = gw.post(
        "/v1/chat/completions",
        &json!({"model": "llama-3", "messages": []}),
    );
    assert_eq!(r.status, 404);
}

#[test]
fn without_provider_keys_every_request_explains_how_to_configure() {
    let gw = Gateway::start_default(&[]);
    let r = gw.post(
        "/v1/chat/completions",
        &json!({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 503);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("OPENAI_API_KEY") && msg.contains("-c FILE"),
        "{msg}"
    );
    let r = gw.post(
        "/v1/messages",
        &json!({"model": "claude-x", "messages": []}),
    );
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["type"], "error");
    gw.log_with("no provider is configured");
}
