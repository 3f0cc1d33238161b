//! Azure OpenAI providers (`type: azure`): deployment paths, api-version, the
//! `api-key` header, and Azure's stream extras, through a running gateway.

mod common;
use common::*;
use serde_json::{json, Value};
use switchyard::config::Config;

const AZURE_KEY: &str = "azure-test-SECRET-0004";

fn setup(extra: &str) -> (Mock, Gateway) {
    let mock = Mock::start_with(&["--api-key", AZURE_KEY]);
    let gw = Gateway::start(&format!(
        r#"
listen: "{{listen}}"
admin_listen: "{{admin}}"
providers:
  az: {{ type: azure, base_url: "{base}", api_key: "{AZURE_KEY}", api_version: "2024-10-21" }}
  azv1: {{ type: azure, base_url: "{base}", api_key: "{AZURE_KEY}", api_version: v1, auth: bearer }}
models:
  gpt: {{ targets: [ {{ provider: az, model: my-gpt4o }} ] }}
{extra}
"#,
        base = mock.base()
    ));
    (mock, gw)
}

fn ask(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "max_tokens": 50, "messages": [{"role": "user", "content": "What is the capital of France?"}]})
}

#[test]
fn deployment_path_api_version_and_key_header() {
    let (mock, gw) = setup("");
    let r = gw.post("/v1/chat/completions", &ask("gpt", false));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "echo: What is the capital of France?"
    );
    let sent = mock.requests().pop().unwrap();
    assert_eq!(
        sent["path"],
        "/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(sent["headers"]["api-key"], AZURE_KEY);
    assert!(sent["headers"].get("authorization").is_none());
    // OpenAI client: a pass-through, `model` rewritten to the deployment.
    let body: Value = serde_json::from_str(sent["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["model"], "my-gpt4o");
    assert_eq!(body["max_tokens"], 50, "untouched");

    // The v1 API: fixed path, deployment in `model`, bearer auth.
    let r = gw.post("/v1/messages", &ask("azv1/my-gpt4o", false));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["content"][0]["text"],
        "echo: What is the capital of France?"
    );
    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent["path"], "/openai/v1/chat/completions");
    assert_eq!(
        sent["headers"]["authorization"],
        format!("Bearer {AZURE_KEY}")
    );
    let body: Value = serde_json::from_str(sent["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["model"], "my-gpt4o");
}

#[test]
fn filter_chunks_are_tolerated_both_ways() {
    let (_mock, gw) = setup("");
    let model = "az/mock:fixture=azure/stream_filter.sse";
    // Anthropic client: translated; the empty prelude starts nothing.
    let r = gw.post("/v1/messages", &ask(model, true));
    assert_eq!(r.status, 200, "{}", r.text());
    let data = r.data();
    assert_eq!(
        data[0]["message"]["id"],
        "chatcmpl-AzF7tQk2WbLx0Pn5Hj2QeKz7RuF9s"
    );
    assert_eq!(data[0]["message"]["model"], "gpt-4o-2024-11-20");
    assert_eq!(
        anthropic_stream_text(&data),
        "The capital of France is Paris."
    );
    assert_eq!(
        r.events().last().unwrap().event.as_deref(),
        Some("message_stop")
    );
    // OpenAI client: forwarded as Azure sent it.
    let r = gw.post("/v1/chat/completions", &ask(model, true));
    assert_eq!(r.body, fixture("azure/stream_filter.sse"));
}

#[test]
fn config_needs_a_base_url_and_an_api_version() {
    let err = |yaml: &str| {
        Config::from_yaml(yaml, "t", &|_| None)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let e = err("providers:\n  az: { type: azure, api_key: k }\n");
    assert!(e.contains("providers.az.base_url: missing"), "{e}");
    assert!(e.contains("providers.az.api_version: missing"), "{e}");
    let e = err("providers:\n  az: { type: azure, api_key: k, base_url: 'https://x.openai.azure.com', api_version: v1, auth: basic }\n");
    assert!(
        e.contains("providers.az.auth: 'basic' is not api-key or bearer"),
        "{e}"
    );
    let e = err("providers:\n  o: { type: openai, api_key: k, api_version: v1 }\n");
    assert!(
        e.contains("providers.o.api_version: has no effect for type openai"),
        "{e}"
    );
    let e = err("providers:\n  o: { type: azur, api_key: k }\n");
    assert!(e.contains("(did you mean \"azure\"?)"), "{e}");
}

#[test]
fn content_filter_400_is_a_content_filter_answer_in_each_client_shape() {
    // A fallback alias that works: it may not be tried.
    let (mock, gw) = setup(
        "  filtered: { targets: [ { provider: az, model: \"mock:status=400,fixture=azure/error_content_filter.json\" } ], fallbacks: [gpt] }",
    );
    for stream in [false, true] {
        mock.clear();
        let r = gw.post("/v1/chat/completions", &ask("filtered", stream));
        assert_eq!(r.status, 400, "{}", r.text());
        let e = &r.json()["error"];
        assert_eq!(e["code"], "content_filter", "{e}");
        assert_eq!(e["type"], "invalid_request_error");
        let msg = e["message"].as_str().unwrap();
        assert!(msg.contains("content filter"), "{msg}");
        assert!(msg.contains("content management policy"), "{msg}");
        assert_eq!(mock.requests().len(), 1, "not failed over");

        let r = gw.post("/v1/messages", &ask("filtered", stream));
        assert_eq!(r.status, 400, "{}", r.text());
        let v = r.json();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("content management policy"));

        let r = gw.post(
            "/v1/responses",
            &json!({"model": "filtered", "stream": stream, "input": "x"}),
        );
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "content_filter");
        assert_eq!(
            mock.requests().len(),
            3,
            "one request per client, no fallback"
        );
    }
    // Not a provider failure: the breaker and the attempt metrics say so.
    let m = gw.metrics();
    assert!(
        m.lines()
            .any(|l| l.contains("content_filter") && l.contains("provider=\"az\"")),
        "{m}"
    );
    let r = gw.post("/v1/chat/completions", &ask("gpt", false));
    assert_eq!(r.status, 200, "the deployment stays usable: {}", r.text());
}
