//! `/v1/responses` to an OpenAI provider with `responses: true`: forwarded to
//! `{base_url}/responses` with only `model` rewritten, plain and streamed, usage still
//! counted; the provider owns the conversation state; fallback to a translated
//! provider; the config rule.

mod common;
use common::*;
use serde_json::{json, Value};
use switchyard::config::Config;

fn setup() -> (Mock, Gateway) {
    let mock = Mock::start();
    let yaml = two_provider_config(
        &mock,
        concat!(
            "  pt: { targets: [ { provider: oair, model: gpt-5 } ] }\n",
            "  ptfail: { targets: [ { provider: oair, model: \"mock:status=500\" } ], fallbacks: [tr] }\n",
            "  tr: { targets: [ { provider: anth, model: claude-x } ] }\n",
        ),
    )
    .replace(
        "providers:\n",
        &format!(
            "providers:\n  oair: {{ type: openai, base_url: \"{}/v1\", api_key: \"{OPENAI_KEY}\", responses: true }}\n",
            mock.base()
        ),
    );
    let gw = Gateway::start(&yaml);
    (mock, gw)
}

/// `switchyard_tokens_total{provider, kind}`.
fn tokens(gw: &Gateway, provider: &str, kind: &str) -> u64 {
    let prefix = format!("switchyard_tokens_total{{kind=\"{kind}\",provider=\"{provider}\"}}");
    gw.metrics()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

fn ask(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "store": true,
           "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hello there"}]}],
           "instructions": "Be brief.", "metadata": {"trace": "t1"},
           "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
           "include": ["reasoning.encrypted_content"]})
}

#[test]
fn plain_is_forwarded_with_only_model_rewritten_and_usage_counted() {
    let (mock, gw) = setup();
    let r = gw.post("/v1/responses", &ask("pt", false));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    // The provider's own object and id.
    assert_eq!(v["id"], "resp_mock1");
    assert_eq!(v["model"], "gpt-5");
    assert_eq!(v["output"][0]["content"][0]["text"], "echo: Hello there");
    assert_eq!(r.header("x-switchyard-provider"), Some("oair"));
    assert!(r.header("x-switchyard-dropped").is_none());
    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent["path"], "/v1/responses");
    assert_eq!(
        sent["headers"]["authorization"],
        format!("Bearer {OPENAI_KEY}")
    );
    let mut want = ask("pt", false);
    want["model"] = json!("gpt-5");
    let body: Value = serde_json::from_str(sent["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, want, "every other field as the client sent it");
    let input = v["usage"]["input_tokens"].as_u64().unwrap();
    assert!(input > 0);
    assert_eq!(tokens(&gw, "oair", "input"), input);
    assert_eq!(
        tokens(&gw, "oair", "output"),
        v["usage"]["output_tokens"].as_u64().unwrap()
    );
}

#[test]
fn streamed_events_are_forwarded_and_usage_is_read_from_response_completed() {
    let (mock, gw) = setup();
    let r = gw.post("/v1/responses", &ask("pt", true));
    assert_eq!(r.status, 200, "{}", r.text());
    let events = r.events();
    let kinds: Vec<_> = events.iter().filter_map(|e| e.event.clone()).collect();
    assert_eq!(kinds.first().map(String::as_str), Some("response.created"));
    assert_eq!(kinds.last().map(String::as_str), Some("response.completed"));
    let data = r.data();
    let text: String = data
        .iter()
        .filter(|d| d["type"] == "response.output_text.delta")
        .filter_map(|d| d["delta"].as_str())
        .collect();
    assert_eq!(text, "echo: Hello there");
    let seq: Vec<u64> = data
        .iter()
        .map(|d| d["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(seq, (0..seq.len() as u64).collect::<Vec<_>>(), "unchanged");
    let usage = &data.last().unwrap()["response"]["usage"];
    assert_eq!(mock.requests().pop().unwrap()["path"], "/v1/responses");
    assert_eq!(
        tokens(&gw, "oair", "input"),
        usage["input_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        tokens(&gw, "oair", "output"),
        usage["output_tokens"].as_u64().unwrap()
    );
}

#[test]
fn the_provider_owns_previous_response_id_and_stored_responses() {
    let (mock, gw) = setup();
    let r = gw.post("/v1/responses", &ask("pt", false));
    let id = r.json()["id"].as_str().unwrap().to_string();
    // Not stored by the gateway: GET here is 404.
    let got: Reply = client()
        .get(format!("{}/v1/responses/{id}", gw.base()))
        .send()
        .unwrap()
        .into();
    assert_eq!(got.status, 404, "{}", got.text());

    // Forwarded as it is to the provider, which holds it.
    let next = json!({"model": "pt", "previous_response_id": id, "input": "And then?"});
    let r = gw.post("/v1/responses", &next);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = mock.last_body();
    assert_eq!(body["previous_response_id"], id);
    assert_eq!(body["input"], "And then?");

    // A translated provider cannot continue it: 404 naming the id, nothing sent.
    mock.clear();
    let r = gw.post(
        "/v1/responses",
        &json!({"model": "tr", "previous_response_id": id, "input": "x"}),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains(&id), "{}", r.text());
    // Nor is it a fallback for one: the pass-through target fails, the translated
    // fallback is skipped, the provider's error is the answer.
    let r = gw.post(
        "/v1/responses",
        &json!({"model": "ptfail", "previous_response_id": id, "input": "x"}),
    );
    assert_eq!(r.status, 502, "{}", r.text());
    let paths: Vec<_> = mock.requests().iter().map(|q| q["path"].clone()).collect();
    assert!(paths.iter().all(|p| p == "/v1/responses"), "{paths:?}");
}

#[test]
fn fallback_from_pass_through_to_a_translated_provider() {
    let (mock, gw) = setup();
    for stream in [false, true] {
        let r = gw.post("/v1/responses", &ask("ptfail", stream));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-switchyard-provider"), Some("anth"));
        assert_eq!(mock.requests().pop().unwrap()["path"], "/v1/messages");
        let text = if stream {
            r.data()
                .iter()
                .filter(|d| d["type"] == "response.output_text.delta")
                .filter_map(|d| d["delta"].as_str())
                .collect::<String>()
        } else {
            r.json()["output"][0]["content"][0]["text"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(text, "echo: Hello there");
    }
    // A gateway-stored answer continues at the pass-through provider as a whole input.
    let r = gw.post("/v1/responses", &ask("ptfail", false));
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = gw.post(
        "/v1/responses",
        &json!({"model": "pt", "previous_response_id": id, "input": "More"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let body = mock.last_body();
    assert!(body.get("previous_response_id").is_none(), "{body}");
    assert_eq!(body["input"].as_array().unwrap().len(), 3, "{body}");
}

#[test]
fn responses_true_is_only_for_openai_providers() {
    let err = |yaml: &str| {
        Config::from_yaml(yaml, "t", &|_| None)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let e = err("providers:\n  a: { type: anthropic, api_key: k, responses: true }\n");
    assert!(
        e.contains("providers.a.responses: only `type: openai` providers"),
        "{e}"
    );
    let e = err("providers:\n  az: { type: azure, base_url: 'https://x.openai.azure.com', api_key: k, api_version: v1, responses: true }\n");
    assert!(e.contains("providers.az.responses:"), "{e}");
    assert!(Config::from_yaml(
        "providers:\n  o: { type: openai, api_key: k, responses: true }\n",
        "t",
        &|_| None
    )
    .is_ok());
}
