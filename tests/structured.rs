//! Structured output (`response_format`, Responses `text.format`) and `seed`, from
//! OpenAI Chat Completions and Responses clients to each provider format, through a
//! running gateway: what the mock received is the provider's own spelling.

mod common;
use common::*;
use serde_json::{json, Value};

fn setup() -> (Mock, Gateway) {
    let mock = Mock::start();
    let yaml = two_provider_config(&mock, "  any: { targets: [ { provider: oai, model: gpt-x } ] }")
        .replace(
            "providers:\n",
            &format!(
                "providers:\n  gem: {{ type: gemini, base_url: \"{}\", api_key: k }}\n  az: {{ type: azure, base_url: \"{}\", api_key: k, api_version: \"2024-10-21\" }}\n",
                mock.base(),
                mock.base()
            ),
        );
    let gw = Gateway::start(&yaml);
    (mock, gw)
}

fn schema() -> Value {
    json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false})
}

/// An OpenAI Chat Completions request asking for a JSON schema and a seed.
fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "seed": 1234,
           "messages": [{"role": "user", "content": "Capital of France as JSON"}],
           "response_format": {"type": "json_schema",
               "json_schema": {"name": "city", "strict": true, "schema": schema()}}})
}

#[test]
fn openai_client_to_gemini_sends_json_mime_type_schema_and_seed() {
    let (mock, gw) = setup();
    for stream in [false, true] {
        let r = gw.post(
            "/v1/chat/completions",
            &chat("gem/gemini-2.5-flash", stream),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.header("x-switchyard-dropped").is_none());
        let sent = mock.requests().pop().unwrap();
        let want = if stream {
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        } else {
            "/v1beta/models/gemini-2.5-flash:generateContent"
        };
        assert_eq!(sent["path"], want);
        let body: Value = serde_json::from_str(sent["body"].as_str().unwrap()).unwrap();
        let g = &body["generationConfig"];
        assert_eq!(g["responseMimeType"], "application/json", "{body}");
        assert_eq!(g["responseJsonSchema"], schema());
        assert_eq!(g["seed"], 1234);
        assert!(body.get("response_format").is_none());
    }
    // JSON mode: the mime type alone.
    let mut ask = chat("gem/gemini-2.5-flash", false);
    ask["response_format"] = json!({"type": "json_object"});
    let r = gw.post("/v1/chat/completions", &ask);
    assert_eq!(r.status, 200, "{}", r.text());
    let g = &mock.last_body()["generationConfig"];
    assert_eq!(g["responseMimeType"], "application/json");
    assert!(g.get("responseJsonSchema").is_none(), "{g}");
}

#[test]
fn openai_client_to_openai_and_azure_forwards_them_as_sent() {
    let (mock, gw) = setup();
    for model in ["oai/gpt-x", "az/my-deployment"] {
        let r = gw.post("/v1/chat/completions", &chat(model, false));
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.header("x-switchyard-dropped").is_none());
        let sent = mock.last_body();
        assert_eq!(
            sent["response_format"],
            chat(model, false)["response_format"]
        );
        assert_eq!(sent["seed"], 1234);
    }
}

#[test]
fn openai_client_to_anthropic_uses_output_config_and_drops_seed() {
    let (mock, gw) = setup();
    let r = gw.post("/v1/chat/completions", &chat("anth/claude-x", false));
    assert_eq!(r.status, 200, "{}", r.text());
    // Anthropic has no seed; the schema goes to structured outputs.
    assert_eq!(r.header("x-switchyard-dropped"), Some("seed"));
    let sent = mock.last_body();
    assert_eq!(
        sent["output_config"],
        json!({"format": {"type": "json_schema", "schema": schema()}})
    );
    assert!(sent.get("seed").is_none() && sent.get("response_format").is_none());

    // JSON mode has no Anthropic counterpart: dropped and reported.
    let mut ask = chat("anth/claude-x", true);
    ask["response_format"] = json!({"type": "json_object"});
    ask.as_object_mut().unwrap().remove("seed");
    let r = gw.post("/v1/chat/completions", &ask);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-switchyard-dropped"), Some("response_format"));
    assert!(mock.last_body().get("output_config").is_none());
}

#[test]
fn responses_text_format_to_openai_chat_and_gemini() {
    let (mock, gw) = setup();
    let ask = |model: &str, stream: bool| {
        json!({"model": model, "stream": stream, "input": "Capital of France as JSON",
               "text": {"format": {"type": "json_schema", "name": "city", "strict": true, "schema": schema()}}})
    };
    for stream in [false, true] {
        let r = gw.post("/v1/responses", &ask("oai/gpt-x", stream));
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.header("x-switchyard-dropped").is_none());
        let sent = mock.last_body();
        assert_eq!(
            sent["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "city", "schema": schema(), "strict": true}})
        );
        assert!(sent.get("text").is_none());
    }
    // The response object echoes the format it was asked for.
    let r = gw.post("/v1/responses", &ask("oai/gpt-x", false));
    assert_eq!(r.json()["text"]["format"]["name"], "city");

    let r = gw.post("/v1/responses", &ask("gem/gemini-2.5-flash", false));
    assert_eq!(r.status, 200, "{}", r.text());
    let g = &mock.last_body()["generationConfig"];
    assert_eq!(g["responseMimeType"], "application/json");
    assert_eq!(g["responseJsonSchema"], schema());
}

#[test]
fn a_bad_response_format_is_a_400_naming_the_field() {
    let (mock, gw) = setup();
    let mut ask = chat("anth/claude-x", false);
    ask["response_format"] = json!({"type": "json_schema"});
    let r = gw.post("/v1/chat/completions", &ask);
    assert_eq!(r.status, 400, "{}", r.text());
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("response_format.json_schema"), "{msg}");
    let r = gw.post(
        "/v1/responses",
        &json!({"model": "anth/claude-x", "input": "x", "text": {"format": {"type": "yaml"}}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("text.format.type"), "{}", r.text());
    assert!(mock.requests().is_empty(), "nothing was sent");
}
