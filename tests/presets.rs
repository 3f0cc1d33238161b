//! The OpenAI-compatible family (`type: openai` with `preset:`): the presets'
//! defaults, and each quirk replayed from a fixture (`tests/fixtures/presets/`)
//! through a running gateway and the mock, from both client APIs.

mod common;
use common::*;
use serde_json::{json, Value};
use switchyard::config::Config;

fn setup() -> (Mock, Gateway) {
    let mock = Mock::start();
    let gw = Gateway::start(&format!(
        r#"
listen: "{{listen}}"
admin_listen: "{{admin}}"
providers:
  mistral: {{ type: openai, preset: mistral, base_url: "{base}/v1", api_key: "k-mistral" }}
  groq: {{ type: openai, preset: groq, base_url: "{base}/openai/v1", api_key: "k-groq" }}
  deepseek: {{ type: openai, preset: deepseek, base_url: "{base}", api_key: "k-deepseek" }}
  xai: {{ type: openai, preset: xai, base_url: "{base}/v1", api_key: "k-xai" }}
  openrouter: {{ type: openai, preset: openrouter, base_url: "{base}/api/v1", api_key: "k-or" }}
  vllm: {{ type: openai, preset: vllm, base_url: "{base}/v1" }}
  ollama: {{ type: openai, preset: ollama, base_url: "{base}/v1" }}
  plain: {{ type: openai, base_url: "{base}/v1", api_key: "k-openai" }}
"#,
        base = mock.base()
    ));
    (mock, gw)
}

fn ask(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "max_tokens": 50,
           "messages": [{"role": "user", "content": "What is the capital of France?"}]})
}

/// The access-log line of a reply.
fn logged(gw: &Gateway, r: &Reply) -> String {
    let id = r.header("x-request-id").expect("request id");
    // The access line (attempt lines carry the id too).
    let needle = format!("request_id={id} method=");
    gw.log_with(&needle)
        .lines()
        .find(|l| l.contains(&needle))
        .expect("access log line")
        .to_string()
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

fn tokens(line: &str) -> (u64, u64, u64) {
    let n = |k| field(line, k).parse().unwrap();
    (n("input_tokens"), n("cached_tokens"), n("output_tokens"))
}

/// Anthropic stream: (thinking, text) concatenated.
fn anthropic_thinking_and_text(data: &[Value]) -> (String, String) {
    let mut thinking = String::new();
    for d in data {
        if let Some(t) = d["delta"]["thinking"].as_str() {
            thinking.push_str(t);
        }
    }
    (thinking, anthropic_stream_text(data))
}

#[test]
fn groq_usage_under_x_groq_is_the_usage() {
    let (mock, gw) = setup();
    let model = "groq/mock:fixture=presets/groq_stream_x_groq.sse";
    // Anthropic client: translated; the request asks for usage, in Groq's spelling.
    let r = gw.post("/v1/messages", &ask(model, true));
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = mock.last_body();
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(sent["max_tokens"], 50);
    assert!(sent.get("max_completion_tokens").is_none(), "{sent}");
    let data = r.data();
    assert_eq!(
        anthropic_stream_text(&data),
        "The capital of France is Paris."
    );
    let delta = data.iter().find(|d| d["type"] == "message_delta").unwrap();
    assert_eq!(delta["usage"]["output_tokens"], 8, "{delta}");
    assert_eq!(tokens(&logged(&gw, &r)), (23, 0, 8));
    // OpenAI client: forwarded as Groq sent it; the gateway still counts it.
    let r = gw.post("/v1/chat/completions", &ask(model, true));
    assert_eq!(r.body, fixture("presets/groq_stream_x_groq.sse"));
    assert_eq!(tokens(&logged(&gw, &r)), (23, 0, 8));
    assert_eq!(
        mock.requests().last().unwrap()["path"],
        "/openai/v1/chat/completions"
    );
}

#[test]
fn xai_usage_before_the_last_chunk_is_the_usage() {
    let (_mock, gw) = setup();
    let model = "xai/mock:fixture=presets/xai_stream_usage.sse";
    let r = gw.post("/v1/messages", &ask(model, true));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        anthropic_stream_text(&r.data()),
        "The capital of France is Paris."
    );
    assert_eq!(tokens(&logged(&gw, &r)), (32, 6, 8));
    let mut req = ask(model, true);
    req["stream_options"] = json!({"include_usage": true});
    let r = gw.post("/v1/chat/completions", &req);
    assert_eq!(r.body, fixture("presets/xai_stream_usage.sse"));
    assert_eq!(tokens(&logged(&gw, &r)), (32, 6, 8));
}

#[test]
fn reasoning_deltas_become_thinking() {
    let (_mock, gw) = setup();
    // DeepSeek's `reasoning_content`.
    let r = gw.post(
        "/v1/messages",
        &ask(
            "deepseek/mock:fixture=presets/deepseek_stream_reasoning.sse",
            true,
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let data = r.data();
    assert!(data
        .iter()
        .any(|d| d["type"] == "content_block_start" && d["content_block"]["type"] == "thinking"));
    assert_eq!(
        anthropic_thinking_and_text(&data),
        (
            "27 * 453 = 10800 + 1431 = 12231.".to_string(),
            "27 × 453 = 12231.".to_string()
        )
    );
    // vLLM's (and OpenRouter's) `reasoning`.
    let model = "vllm/mock:fixture=presets/vllm_stream_reasoning.sse";
    let r = gw.post("/v1/messages", &ask(model, true));
    assert_eq!(
        anthropic_thinking_and_text(&r.data()),
        ("Paris is the capital.".to_string(), "Paris.".to_string())
    );
    assert_eq!(tokens(&logged(&gw, &r)), (14, 0, 12));
    // OpenAI clients of a pass-through preset get the provider's own field.
    let r = gw.post("/v1/chat/completions", &ask(model, true));
    assert_eq!(r.body, fixture("presets/vllm_stream_reasoning.sse"));
}

/// An Anthropic conversation whose assistant turn reasoned, then called a tool.
fn tool_turn(model: &str) -> Value {
    json!({
        "model": model, "max_tokens": 50,
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "I need the weather tool.", "signature": ""},
                {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
                 "input": {"location": "Paris"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "18 C"}
            ]}
        ]
    })
}

#[test]
fn deepseek_gets_the_reasoning_of_tool_turns_back() {
    let (mock, gw) = setup();
    let r = gw.post("/v1/messages", &tool_turn("deepseek/echo"));
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = mock.last_body();
    let turn = &sent["messages"][1];
    assert_eq!(turn["role"], "assistant");
    assert_eq!(
        turn["reasoning_content"], "I need the weather tool.",
        "{sent}"
    );
    assert_eq!(turn["tool_calls"][0]["id"], "toolu_01A09q90qw90lq917835lq9");
    assert_eq!(mock.requests().last().unwrap()["path"], "/chat/completions");
    // OpenAI itself takes no reasoning back.
    let r = gw.post("/v1/messages", &tool_turn("plain/echo"));
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = mock.last_body();
    assert!(
        sent["messages"][1].get("reasoning_content").is_none(),
        "{sent}"
    );
    assert_eq!(sent["max_completion_tokens"], 50);
}

#[test]
fn mistral_tool_ids_are_nine_alphanumerics_both_ways() {
    let (mock, gw) = setup();
    let foreign = "call_Xc4pT9wLmZ2rB7nKv5yQ1hDs";
    let conversation = |model: &str, stream: bool| {
        json!({
            "model": model, "stream": stream, "max_tokens": 50, "tool_choice": "required",
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
            "messages": [
                {"role": "user", "content": "Weather in Paris and Tokyo?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": foreign, "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\": \"Paris\"}"}},
                    {"id": "D681PevKs", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\": \"Tokyo\"}"}}
                ]},
                {"role": "tool", "tool_call_id": foreign, "content": "18 C"},
                {"role": "tool", "tool_call_id": "D681PevKs", "content": "22 C"}
            ]
        })
    };
    let r = gw.post("/v1/chat/completions", &conversation("mistral/echo", false));
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = mock.last_body();
    let calls = &sent["messages"][1]["tool_calls"];
    let mapped = calls[0]["id"].as_str().unwrap();
    assert_eq!(mapped.len(), 9, "{sent}");
    assert!(
        mapped.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{mapped}"
    );
    assert_eq!(
        sent["messages"][2]["tool_call_id"], mapped,
        "result follows its call"
    );
    assert_eq!(calls[1]["id"], "D681PevKs", "Mistral's own id is kept");
    assert_eq!(sent["messages"][3]["tool_call_id"], "D681PevKs");
    assert_eq!(sent["tool_choice"], "any");
    // The same history maps to the same ids on the next turn.
    gw.post("/v1/chat/completions", &conversation("mistral/echo", false));
    assert_eq!(
        mock.last_body()["messages"][1]["tool_calls"][0]["id"],
        mapped
    );
    // The answer's ids reach the client as Mistral made them, so they come back valid.
    let model = "mistral/mock:fixture=presets/mistral_stream_tools.sse";
    let r = gw.post("/v1/chat/completions", &conversation(model, true));
    assert_eq!(r.status, 200, "{}", r.text());
    let data = r.data();
    let start = data
        .iter()
        .find(|d| d["choices"][0]["delta"]["tool_calls"][0]["id"].is_string())
        .expect("a tool call");
    assert_eq!(
        start["choices"][0]["delta"]["tool_calls"][0]["id"],
        "D681PevKs"
    );
    // Plain OpenAI keeps `required` and the client's ids.
    gw.post("/v1/chat/completions", &conversation("plain/echo", false));
    let sent = mock.last_body();
    assert_eq!(sent["tool_choice"], "required");
    assert_eq!(sent["messages"][1]["tool_calls"][0]["id"], foreign);
}

#[test]
fn ollama_tool_calls_without_index_are_separate_calls() {
    let (mock, gw) = setup();
    let model = "ollama/mock:fixture=presets/ollama_stream_tools.sse";
    // OpenAI client: translated, so each call gets its own index.
    let r = gw.post("/v1/chat/completions", &ask(model, true));
    assert_eq!(r.status, 200, "{}", r.text());
    let mut calls: Vec<(u64, String, String)> = Vec::new();
    for d in r.data() {
        for c in d["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = c["index"].as_u64().expect("index");
            if let Some(id) = c["id"].as_str() {
                calls.push((i, id.to_string(), String::new()));
            }
            let args = c["function"]["arguments"].as_str().unwrap_or_default();
            calls
                .iter_mut()
                .find(|x| x.0 == i)
                .unwrap()
                .2
                .push_str(args);
        }
    }
    assert_eq!(
        calls,
        [
            (
                0,
                "call_k3p9x2ab".into(),
                "{\"location\": \"Paris\"}".into()
            ),
            (
                1,
                "call_7hq1m0zd".into(),
                "{\"location\": \"Tokyo\"}".into()
            )
        ]
    );
    // Anthropic client: two tool_use blocks.
    let r = gw.post("/v1/messages", &ask(model, true));
    let ids: Vec<Value> = r
        .data()
        .iter()
        .filter(|d| d["content_block"]["type"] == "tool_use")
        .map(|d| d["content_block"]["id"].clone())
        .collect();
    assert_eq!(ids, [json!("call_k3p9x2ab"), json!("call_7hq1m0zd")]);
    // Self-hosted: no key, no Authorization header.
    let sent = mock.requests().pop().unwrap();
    assert!(sent["headers"].get("authorization").is_none(), "{sent}");
}

#[test]
fn openrouter_comments_are_ignored_and_its_error_events_end_the_stream_in_the_clients_shape() {
    let (_mock, gw) = setup();
    let model = "openrouter/mock:fixture=presets/openrouter_stream_text.sse";
    let r = gw.post("/v1/messages", &ask(model, true));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        anthropic_stream_text(&r.data()),
        "The capital of France is Paris."
    );
    assert_eq!(
        r.events().last().unwrap().event.as_deref(),
        Some("message_stop")
    );
    assert_eq!(tokens(&logged(&gw, &r)), (14, 0, 9));
    let r = gw.post("/v1/chat/completions", &ask(model, true));
    assert_eq!(r.body, fixture("presets/openrouter_stream_text.sse"));

    let model = "openrouter/mock:fixture=presets/openrouter_stream_error.sse";
    let r = gw.post("/v1/messages", &ask(model, true));
    assert_eq!(r.status, 200, "{}", r.text());
    let events = r.events();
    let last = events.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("error"), "{events:?}");
    let err: Value = serde_json::from_str(&last.data).unwrap();
    assert_eq!(err["type"], "error");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Provider disconnected unexpectedly"),
        "{err}"
    );
    assert_eq!(anthropic_stream_text(&r.data()), "The capital of France");
    assert!(!events
        .iter()
        .any(|e| e.event.as_deref() == Some("message_stop")));
    // OpenAI client (pass-through): the error event, and nothing after it.
    let r = gw.post("/v1/chat/completions", &ask(model, true));
    let data = r.data();
    let last = data.last().unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Provider disconnected unexpectedly"),
        "{data:?}"
    );
    assert!(!data.iter().any(|d| d == "[DONE]"));
    assert_eq!(field(&logged(&gw, &r), "error"), "provider_stream_error");
}

#[test]
fn a_provider_that_rejects_stream_options_is_asked_once_more_without_it_and_remembered() {
    let (mock, gw) = setup();
    let model = "vllm/mock:reject_stream_options,fixture=presets/vllm_stream_reasoning.sse";
    mock.clear();
    let r = gw.post("/v1/messages", &ask(model, true));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(anthropic_thinking_and_text(&r.data()).1, "Paris.");
    let sent: Vec<Value> = mock
        .requests()
        .iter()
        .map(|q| serde_json::from_str(q["body"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(sent.len(), 2, "the failed request and its retry");
    assert!(sent[0].get("stream_options").is_some());
    assert!(sent[1].get("stream_options").is_none(), "{}", sent[1]);
    assert_eq!(field(&logged(&gw, &r), "attempts"), "2");
    // Remembered: the next request goes without it at once.
    mock.clear();
    let r = gw.post("/v1/messages", &ask(model, true));
    assert_eq!(r.status, 200, "{}", r.text());
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    assert!(!sent_body(&reqs[0]).contains_key("stream_options"));

    // A pass-through client's own `stream_options` is taken out the same way.
    let model = "plain/mock:reject_stream_options,fixture=openai/stream_text.sse";
    let mut req = ask(model, true);
    req["stream_options"] = json!({"include_usage": true});
    mock.clear();
    let r = gw.post("/v1/chat/completions", &req);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, fixture("openai/stream_text.sse"));
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    assert!(!sent_body(&reqs[1]).contains_key("stream_options"));
    mock.clear();
    gw.post("/v1/chat/completions", &req);
    assert_eq!(mock.requests().len(), 1);
}

fn sent_body(request: &Value) -> serde_json::Map<String, Value> {
    serde_json::from_str(request["body"].as_str().unwrap()).unwrap()
}

// === configuration ===

fn load(yaml: &str, env: &[(&str, &str)]) -> Result<Config, String> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_yaml(yaml, "t", &|k| {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
    .map_err(|e| e.to_string())
}

#[test]
fn a_preset_supplies_base_url_key_variable_and_catalog_provider() {
    let c = load(
        "providers:\n  m: { type: openai, preset: mistral }\n  g: { type: openai, preset: groq, api_key: explicit, catalog_provider: openrouter }\n  v: { type: openai, preset: vllm }\n  o: { type: openai, preset: ollama, base_url: 'http://10.0.0.7:11434/v1' }\n  t: { type: openai, preset: together }\n  f: { type: openai, preset: fireworks }\n",
        &[
            ("MISTRAL_API_KEY", "mk"),
            ("TOGETHER_API_KEY", "tk"),
            ("FIREWORKS_API_KEY", "fk"),
        ],
    )
    .unwrap();
    let p = |n: &str| c.providers.iter().find(|p| p.name == n).unwrap();
    let m = p("m");
    assert_eq!(
        (m.host.as_str(), m.port, m.tls),
        ("api.mistral.ai", 443, true)
    );
    assert_eq!(m.path, "/v1/chat/completions");
    assert_eq!(m.api_key, "mk");
    assert_eq!(m.catalog_provider.as_deref(), Some("mistral"));
    // Explicit settings win.
    let g = p("g");
    assert_eq!(g.path, "/openai/v1/chat/completions");
    assert_eq!(g.api_key, "explicit");
    assert_eq!(g.catalog_provider.as_deref(), Some("openrouter"));
    // Self-hosted: loopback by default, no key.
    let v = p("v");
    assert_eq!((v.host.as_str(), v.port, v.tls), ("127.0.0.1", 8000, false));
    assert_eq!(v.api_key, "");
    assert_eq!(p("o").host, "10.0.0.7");
    assert_eq!(p("t").catalog_provider.as_deref(), Some("togetherai"));
    assert_eq!(p("f").catalog_provider.as_deref(), Some("fireworks-ai"));
    assert_eq!(p("f").host, "api.fireworks.ai");
}

#[test]
fn preset_catalog_providers_exist_in_the_embedded_catalog() {
    use switchyard::formats::openai::preset::Preset;
    let c = switchyard::catalog::Catalog::embedded();
    for p in Preset::ALL {
        let id = p.catalog_provider();
        let listed = c.provider(id).is_some() && c.models_of(id).next().is_some();
        // Self-hosted engines serve what was loaded: not catalogued, no price.
        let self_hosted = p.key_var().is_none();
        assert_eq!(listed, !self_hosted, "{id}");
    }
}

#[test]
fn preset_errors_name_the_problem_and_the_fix() {
    let e = load(
        "providers:\n  m: { type: openai, preset: mistal, api_key: k }\n",
        &[],
    )
    .unwrap_err();
    assert!(
        e.contains("providers.m.preset: unknown preset \"mistal\" (did you mean \"mistral\"?); expected one of mistral, groq, deepseek, xai, openrouter, together, fireworks, vllm, ollama"),
        "{e}"
    );
    let e = load(
        "providers:\n  m: { type: anthropic, preset: groq, api_key: k }\n",
        &[],
    )
    .unwrap_err();
    assert!(
        e.contains("providers.m.preset: presets are for type openai"),
        "{e}"
    );
    let e = load("providers:\n  d: { type: openai, preset: deepseek }\n", &[]).unwrap_err();
    assert!(
        e.contains("providers.d.api_key: missing; preset deepseek reads DEEPSEEK_API_KEY, which is not set"),
        "{e}"
    );
    let e = load("providers:\n  d: { type: openai, presets: groq }\n", &[]).unwrap_err();
    assert!(e.contains("(did you mean `preset`?)"), "{e}");
}

#[test]
fn the_embedded_default_enables_presets_whose_key_is_set() {
    let env = |k: &str| match k {
        "MISTRAL_API_KEY" => Some("mk".to_string()),
        "OPENROUTER_API_KEY" => Some("ork".to_string()),
        _ => None,
    };
    let c = Config::embedded_default(&env).unwrap();
    let names: Vec<&str> = c.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["mistral", "openrouter"]);
    let or = &c.providers[1];
    assert_eq!(or.host, "openrouter.ai");
    assert_eq!(or.path, "/api/v1/chat/completions");
    assert_eq!(or.api_key, "ork");
}
