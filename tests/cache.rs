//! The response cache over real sockets: a gateway, the mock provider, and a real
//! Redis for the shared tier.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const KEY_A: &str = "gw-key-team-a-0001";
const KEY_B: &str = "gw-key-team-b-0002";

/// A gateway with the cache on, two keys, and aliases for each provider format:
/// `o-echo`/`a-echo` (the mock echoes the prompt, plain or streamed), and fixture
/// aliases for tool calls.
fn config(mock: &Mock, cache: &str, extra_models: &str) -> String {
    format!(
        r#"
listen: "{{listen}}"
admin_listen: "{{admin}}"
keys:
  - {{ name: team-a, key: "{KEY_A}" }}
  - {{ name: team-b, key: "{KEY_B}" }}
cache: {cache}
providers:
  anth: {{ type: anthropic, base_url: "{base}", api_key: "{ANTHROPIC_KEY}" }}
  oai: {{ type: openai, base_url: "{base}/v1", api_key: "{OPENAI_KEY}" }}
models:
  o-echo: {{ targets: [ {{ provider: oai, model: "mock:echo" }} ] }}
  a-echo: {{ targets: [ {{ provider: anth, model: "mock:echo" }} ] }}
  o-tools-stream: {{ targets: [ {{ provider: oai, model: "mock:fixture=openai/stream_tools_parallel.sse" }} ] }}
  a-tools-stream: {{ targets: [ {{ provider: anth, model: "mock:fixture=anthropic/stream_tools_parallel.sse" }} ] }}
  o-tools: {{ targets: [ {{ provider: oai, model: "mock:fixture=openai/chat_tools_parallel.json" }} ] }}
  a-tools: {{ targets: [ {{ provider: anth, model: "mock:fixture=anthropic/message_tools_parallel.json" }} ] }}
  o-broken: {{ targets: [ {{ provider: oai, model: "mock:echo,events=20,drop_after=3" }} ] }}
  a-error-midstream: {{ targets: [ {{ provider: anth, model: "mock:fixture=anthropic/stream_error_midstream.sse" }} ] }}
  o-500: {{ targets: [ {{ provider: oai, model: "mock:status=500" }} ] }}
{extra_models}
"#,
        base = mock.base()
    )
}

const ON: &str = "{ enabled: true }";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Api {
    OpenAi,
    Anthropic,
}

impl Api {
    fn path(self) -> &'static str {
        match self {
            Api::OpenAi => "/v1/chat/completions",
            Api::Anthropic => "/v1/messages",
        }
    }
}

fn body(model: &str, prompt: &str, stream: bool) -> Value {
    let mut b = json!({
        "model": model, "max_tokens": 100,
        "messages": [{"role": "user", "content": prompt}],
    });
    if stream {
        b["stream"] = json!(true);
        b["stream_options"] = json!({"include_usage": true});
    }
    b
}

fn send(gw: &Gateway, api: Api, key: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
    let auth = format!("Bearer {key}");
    let mut h = vec![("authorization", auth.as_str())];
    if api == Api::Anthropic {
        h.push(("anthropic-version", "2023-06-01"));
    }
    h.extend_from_slice(headers);
    let mut b = body.clone();
    if api == Api::Anthropic {
        // Anthropic clients have no stream_options.
        if let Some(o) = b.as_object_mut() {
            o.remove("stream_options");
        }
    }
    gw.post_raw(api.path(), serde_json::to_vec(&b).unwrap(), &h)
}

/// What an SDK's accumulator makes of a response: text, tool calls (id, name,
/// arguments), finish reason, usage — from a plain body or a stream.
#[derive(Debug, PartialEq, Default)]
struct Accumulated {
    text: String,
    tools: Vec<(String, String, String)>,
    finish: String,
    usage: (u64, u64),
}

fn accumulate(api: Api, r: &Reply) -> Accumulated {
    assert_eq!(r.status, 200, "{}", r.text());
    let mut a = Accumulated::default();
    let stream = r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/event-stream"));
    match (api, stream) {
        (Api::OpenAi, false) => {
            let v = r.json();
            let m = &v["choices"][0]["message"];
            a.text = m["content"].as_str().unwrap_or_default().to_string();
            for t in m["tool_calls"].as_array().into_iter().flatten() {
                a.tools.push((
                    t["id"].as_str().unwrap().into(),
                    t["function"]["name"].as_str().unwrap().into(),
                    t["function"]["arguments"].as_str().unwrap().into(),
                ));
            }
            a.finish = v["choices"][0]["finish_reason"].as_str().unwrap().into();
            a.usage = (
                v["usage"]["prompt_tokens"].as_u64().unwrap(),
                v["usage"]["completion_tokens"].as_u64().unwrap(),
            );
        }
        (Api::OpenAi, true) => {
            let data = r.data();
            assert_eq!(data.last(), Some(&json!("[DONE]")), "{}", r.text());
            let mut by_index: Vec<(String, String, String)> = Vec::new();
            for d in &data {
                let Some(choice) = d["choices"].get(0) else {
                    if let Some(u) = d.get("usage").filter(|u| !u.is_null()) {
                        a.usage = (
                            u["prompt_tokens"].as_u64().unwrap(),
                            u["completion_tokens"].as_u64().unwrap(),
                        );
                    }
                    continue;
                };
                if let Some(t) = choice["delta"]["content"].as_str() {
                    a.text.push_str(t);
                }
                for t in choice["delta"]["tool_calls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let i = t["index"].as_u64().unwrap() as usize;
                    if i >= by_index.len() {
                        by_index.resize(i + 1, Default::default());
                    }
                    let e = &mut by_index[i];
                    if let Some(id) = t["id"].as_str() {
                        e.0 = id.into();
                    }
                    if let Some(n) = t["function"]["name"].as_str() {
                        e.1 = n.into();
                    }
                    if let Some(x) = t["function"]["arguments"].as_str() {
                        e.2.push_str(x);
                    }
                }
                if let Some(f) = choice["finish_reason"].as_str() {
                    a.finish = f.into();
                }
                if let Some(u) = d.get("usage").filter(|u| !u.is_null()) {
                    a.usage = (
                        u["prompt_tokens"].as_u64().unwrap(),
                        u["completion_tokens"].as_u64().unwrap(),
                    );
                }
            }
            a.tools = by_index;
        }
        (Api::Anthropic, false) => {
            let v = r.json();
            for b in v["content"].as_array().unwrap() {
                match b["type"].as_str().unwrap() {
                    "text" => a.text.push_str(b["text"].as_str().unwrap()),
                    "tool_use" => a.tools.push((
                        b["id"].as_str().unwrap().into(),
                        b["name"].as_str().unwrap().into(),
                        serde_json::to_string(&b["input"]).unwrap(),
                    )),
                    _ => {}
                }
            }
            a.finish = v["stop_reason"].as_str().unwrap().into();
            let u = &v["usage"];
            a.usage = (
                u["input_tokens"].as_u64().unwrap(),
                u["output_tokens"].as_u64().unwrap(),
            );
        }
        (Api::Anthropic, true) => {
            let events = r.events();
            let names: Vec<&str> = events.iter().filter_map(|e| e.event.as_deref()).collect();
            assert_eq!(names.first(), Some(&"message_start"), "{}", r.text());
            assert_eq!(names.last(), Some(&"message_stop"), "{}", r.text());
            let mut blocks: Vec<(String, String, String, String)> = Vec::new();
            for d in r.data() {
                match d["type"].as_str().unwrap_or_default() {
                    "message_start" => {
                        a.usage.0 = d["message"]["usage"]["input_tokens"].as_u64().unwrap();
                    }
                    "content_block_start" => {
                        let b = &d["content_block"];
                        blocks.push((
                            b["type"].as_str().unwrap().into(),
                            b["id"].as_str().unwrap_or_default().into(),
                            b["name"].as_str().unwrap_or_default().into(),
                            String::new(),
                        ));
                    }
                    "content_block_delta" => {
                        let i = d["index"].as_u64().unwrap() as usize;
                        let delta = &d["delta"];
                        match delta["type"].as_str().unwrap() {
                            "text_delta" => blocks[i].3.push_str(delta["text"].as_str().unwrap()),
                            "input_json_delta" => blocks[i]
                                .3
                                .push_str(delta["partial_json"].as_str().unwrap()),
                            _ => {}
                        }
                    }
                    "message_delta" => {
                        a.finish = d["delta"]["stop_reason"].as_str().unwrap().into();
                        a.usage.1 = d["usage"]["output_tokens"].as_u64().unwrap();
                        if let Some(i) = d["usage"]["input_tokens"].as_u64() {
                            a.usage.0 = i;
                        }
                    }
                    _ => {}
                }
            }
            for (kind, id, name, acc) in blocks {
                match kind.as_str() {
                    "text" => a.text.push_str(&acc),
                    // Compare arguments as JSON values (key order is the provider's).
                    "tool_use" => {
                        let v: Value = serde_json::from_str(&acc).unwrap();
                        a.tools.push((id, name, serde_json::to_string(&v).unwrap()))
                    }
                    _ => {}
                }
            }
        }
    }
    a
}

fn outcome(r: &Reply) -> &str {
    r.header("x-switchyard-cache").unwrap_or("none")
}

#[test]
fn a_repeat_is_a_hit_in_both_apis_plain_and_streamed_and_the_replay_accumulates_the_same() {
    let mock = Mock::start();
    let gw = Gateway::start(&config(&mock, ON, ""));
    let cases = [
        (Api::OpenAi, "o-echo", false),
        (Api::OpenAi, "o-echo", true),
        (Api::OpenAi, "a-echo", true),
        (Api::OpenAi, "o-tools", false),
        (Api::OpenAi, "o-tools-stream", true),
        (Api::OpenAi, "a-tools-stream", true),
        (Api::Anthropic, "a-echo", false),
        (Api::Anthropic, "a-echo", true),
        (Api::Anthropic, "o-echo", true),
        (Api::Anthropic, "a-tools", false),
        (Api::Anthropic, "a-tools-stream", true),
        (Api::Anthropic, "o-tools-stream", true),
    ];
    for (i, (api, model, stream)) in cases.into_iter().enumerate() {
        let b = body(model, &format!("case {i}: what is the weather?"), stream);
        mock.clear();
        let first = send(&gw, api, KEY_A, &b, &[]);
        let second = send(&gw, api, KEY_A, &b, &[]);
        let what = format!("{api:?} {model} stream={stream}");
        assert_eq!(outcome(&first), "miss", "{what}: {}", first.text());
        assert_eq!(outcome(&second), "hit", "{what}");
        assert_eq!(
            mock.requests().len(),
            1,
            "{what}: the provider saw one request"
        );
        let key = first
            .header("x-switchyard-cache-key")
            .expect("key on a miss");
        assert_eq!(key.len(), 64);
        // LiteLLM #8570: the key header is missing on hits.
        assert_eq!(second.header("x-switchyard-cache-key"), Some(key), "{what}");
        assert!(second.header("age").is_some(), "{what}");
        assert!(first.header("age").is_none(), "{what}");
        let (a, b) = (accumulate(api, &first), accumulate(api, &second));
        assert!(!a.text.is_empty() || !a.tools.is_empty(), "{what}: {a:?}");
        assert_eq!(a, b, "{what}");
        if model.contains("tools") {
            assert_eq!(a.tools.len(), 2, "{what}: {a:?}");
        }
    }
    let m = gw.metrics();
    assert!(
        m.contains("switchyard_cache_requests_total{outcome=\"hit\"} 12"),
        "{m}"
    );
    assert!(
        m.contains("switchyard_cache_requests_total{outcome=\"miss\"} 12"),
        "{m}"
    );
    let bytes: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("switchyard_cache_bytes "))
        .and_then(|v| v.parse().ok())
        .expect("cache bytes gauge");
    assert!(bytes > 0, "{m}");
}

#[test]
fn a_streamed_answer_serves_a_plain_request_and_the_other_way_round() {
    let mock = Mock::start();
    let gw = Gateway::start(&config(&mock, ON, ""));
    for api in [Api::OpenAi, Api::Anthropic] {
        for (first_stream, model) in [(true, "o-echo"), (false, "a-echo")] {
            let prompt = format!("{api:?} {first_stream} cross");
            mock.clear();
            let first = send(&gw, api, KEY_A, &body(model, &prompt, first_stream), &[]);
            let second = send(&gw, api, KEY_A, &body(model, &prompt, !first_stream), &[]);
            assert_eq!(
                (outcome(&first), outcome(&second)),
                ("miss", "hit"),
                "{api:?}"
            );
            assert_eq!(mock.requests().len(), 1);
            let (a, b) = (accumulate(api, &first), accumulate(api, &second));
            assert_eq!((&a.text, &a.finish, a.usage), (&b.text, &b.finish, b.usage));
            assert!(a.text.contains("cross"), "{a:?}");
        }
    }
}

#[test]
fn member_order_and_whitespace_do_not_matter_but_tenants_do() {
    let mock = Mock::start();
    let gw = Gateway::start(&config(&mock, ON, ""));
    let a = br#"{"model":"o-echo","max_tokens":100,"messages":[{"role":"user","content":"order"}],"temperature":0.5}"#;
    let b = br#"{ "temperature": 0.50,
        "messages": [ { "content": "order", "role": "user" } ],
        "max_tokens": 100, "user": "someone", "model": "o-echo" }"#;
    let post = |gw: &Gateway, body: &[u8], key: &str| {
        let auth = format!("Bearer {key}");
        gw.post_raw(
            "/v1/chat/completions",
            body.to_vec(),
            &[("authorization", &auth)],
        )
    };
    let r1 = post(&gw, a, KEY_A);
    let r2 = post(&gw, b, KEY_A);
    assert_eq!((outcome(&r1), outcome(&r2)), ("miss", "hit"));
    // LiteLLM #29955: another tenant's identical request must not get this answer.
    let r3 = post(&gw, a, KEY_B);
    assert_eq!(outcome(&r3), "miss");
    assert_ne!(
        r3.header("x-switchyard-cache-key"),
        r1.header("x-switchyard-cache-key")
    );
    drop(gw);
    // `scope: shared` shares answers across keys.
    let gw = Gateway::start(&config(&mock, "{ enabled: true, scope: shared }", ""));
    let r1 = post(&gw, a, KEY_A);
    let r2 = post(&gw, a, KEY_B);
    assert_eq!((outcome(&r1), outcome(&r2)), ("miss", "hit"));
}

#[test]
fn cache_control_no_store_no_cache_max_age_and_the_ttl_header() {
    let mock = Mock::start();
    let gw = Gateway::start(&config(&mock, ON, ""));
    let b = body("o-echo", "controls", false);
    let r = send(
        &gw,
        Api::OpenAi,
        KEY_A,
        &b,
        &[("cache-control", "no-store")],
    );
    assert_eq!(outcome(&r), "bypass");
    assert!(r.header("x-switchyard-cache-key").is_none());
    // no-store stored nothing.
    assert_eq!(outcome(&send(&gw, Api::OpenAi, KEY_A, &b, &[])), "miss");
    mock.clear();
    // no-cache goes to the provider even though an entry exists, and stores anew.
    let r = send(
        &gw,
        Api::OpenAi,
        KEY_A,
        &b,
        &[("cache-control", "no-cache")],
    );
    assert_eq!(outcome(&r), "miss");
    assert_eq!(mock.requests().len(), 1);
    let fresh = r.json()["id"].clone();
    let r = send(&gw, Api::OpenAi, KEY_A, &b, &[]);
    assert_eq!(outcome(&r), "hit");
    assert_eq!(
        r.json()["id"],
        fresh,
        "the refreshed answer replaced the old one"
    );
    // max-age: an entry older than asked is not served.
    std::thread::sleep(Duration::from_millis(1100));
    let r = send(
        &gw,
        Api::OpenAi,
        KEY_A,
        &b,
        &[("cache-control", "max-age=0")],
    );
    assert_eq!(outcome(&r), "miss");
    let r = send(
        &gw,
        Api::OpenAi,
        KEY_A,
        &b,
        &[("cache-control", "max-age=60")],
    );
    assert_eq!(outcome(&r), "hit");
    // A store TTL of 1 s: gone after it.
    let b = body("o-echo", "short ttl", false);
    let r = send(
        &gw,
        Api::OpenAi,
        KEY_A,
        &b,
        &[("x-switchyard-cache-ttl", "1")],
    );
    assert_eq!(outcome(&r), "miss");
    assert_eq!(outcome(&send(&gw, Api::OpenAi, KEY_A, &b, &[])), "hit");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(outcome(&send(&gw, Api::OpenAi, KEY_A, &b, &[])), "miss");
    // Bad controls are a 400 naming the header.
    let r = send(
        &gw,
        Api::OpenAi,
        KEY_A,
        &b,
        &[("x-switchyard-cache-ttl", "soon")],
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("x-switchyard-cache-ttl"), "{}", r.text());
}

#[test]
fn errors_and_interrupted_streams_are_not_stored() {
    let mock = Mock::start();
    let gw = Gateway::start(&config(&mock, ON, ""));
    for (api, model, stream) in [
        (Api::OpenAi, "o-500", false),
        (Api::OpenAi, "o-broken", true),
        (Api::Anthropic, "a-error-midstream", true),
        (Api::OpenAi, "a-error-midstream", true),
    ] {
        let b = body(model, "fails", stream);
        mock.clear();
        let first = send(&gw, api, KEY_A, &b, &[]);
        let second = send(&gw, api, KEY_A, &b, &[]);
        assert_eq!(outcome(&first), "miss", "{model}");
        assert_eq!(outcome(&second), "miss", "{model}: {}", second.text());
        assert!(mock.requests().len() >= 2, "{model}: nothing was stored");
    }
}

#[test]
fn per_alias_overrides_and_uncacheable_requests_bypass() {
    let mock = Mock::start();
    let extra = r#"  o-nocache: { targets: [ { provider: oai, model: "mock:echo" } ], cache: { enabled: false } }
  o-cached: { targets: [ { provider: oai, model: "mock:echo" } ], cache: { enabled: true, ttl_seconds: 1 } }"#;
    // Off by default, on for one alias.
    let gw = Gateway::start(&config(&mock, "{ enabled: false }", extra));
    let b = body("o-echo", "off", false);
    assert_eq!(outcome(&send(&gw, Api::OpenAi, KEY_A, &b, &[])), "bypass");
    assert_eq!(outcome(&send(&gw, Api::OpenAi, KEY_A, &b, &[])), "bypass");
    let b = body("o-cached", "on", false);
    assert_eq!(outcome(&send(&gw, Api::OpenAi, KEY_A, &b, &[])), "miss");
    assert_eq!(outcome(&send(&gw, Api::OpenAi, KEY_A, &b, &[])), "hit");
    // The alias's 1 s TTL.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(outcome(&send(&gw, Api::OpenAi, KEY_A, &b, &[])), "miss");
    drop(gw);
    let gw = Gateway::start(&config(&mock, ON, extra));
    let b = body("o-nocache", "alias off", false);
    assert_eq!(outcome(&send(&gw, Api::OpenAi, KEY_A, &b, &[])), "bypass");
    // n > 1 wants several choices, which a stored single answer does not hold.
    let mut b = body("o-echo", "choices", false);
    b["n"] = json!(2);
    assert_eq!(outcome(&send(&gw, Api::OpenAi, KEY_A, &b, &[])), "bypass");
}

#[test]
fn the_byte_bound_evicts() {
    let mock = Mock::start();
    let gw = Gateway::start(&config(
        &mock,
        "{ enabled: true, max_bytes: 8192, max_entry_bytes: 4096 }",
        "",
    ));
    for i in 0..40 {
        let r = send(
            &gw,
            Api::OpenAi,
            KEY_A,
            &body("o-echo", &format!("prompt {i} {}", "x".repeat(500)), false),
            &[],
        );
        assert_eq!(outcome(&r), "miss");
    }
    let m = gw.metrics();
    let bytes: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("switchyard_cache_bytes "))
        .and_then(|v| v.parse().ok())
        .expect("gauge");
    assert!(bytes > 0 && bytes <= 8192, "{bytes}");
    assert!(
        m.lines()
            .any(|l| l.starts_with("switchyard_cache_evictions_total{reason=\"size\"}")),
        "{m}"
    );
}

#[test]
fn a_hit_counts_against_rpm_and_is_logged_as_cached() {
    let mock = Mock::start();
    let yaml = config(&mock, ON, "").replace(
        &format!("{{ name: team-a, key: \"{KEY_A}\" }}"),
        &format!("{{ name: team-a, key: \"{KEY_A}\", limits: {{ rpm: 2 }} }}"),
    );
    let gw = Gateway::start(&yaml);
    let b = body("o-echo", "limited", false);
    assert_eq!(outcome(&send(&gw, Api::OpenAi, KEY_A, &b, &[])), "miss");
    let hit = send(&gw, Api::OpenAi, KEY_A, &b, &[]);
    assert_eq!(outcome(&hit), "hit");
    assert_eq!(hit.header("x-ratelimit-remaining-requests"), Some("0"));
    let r = send(&gw, Api::OpenAi, KEY_A, &b, &[]);
    assert_eq!(r.status, 429, "{}", r.text());
    let log = gw.log_with("cache=hit");
    let line = log.lines().find(|l| l.contains("cache=hit")).unwrap();
    assert!(line.contains("key=team-a"), "{line}");
    assert!(
        line.contains("provider=- "),
        "a hit has no provider: {line}"
    );
}

#[test]
fn admin_clears_the_cache_or_one_entry() {
    let mock = Mock::start();
    let gw = Gateway::start(&config(&mock, ON, ""));
    let one = body("o-echo", "one", false);
    let two = body("o-echo", "two", false);
    let key_one = send(&gw, Api::OpenAi, KEY_A, &one, &[])
        .header("x-switchyard-cache-key")
        .unwrap()
        .to_string();
    send(&gw, Api::OpenAi, KEY_A, &two, &[]);
    let c = client();
    let r = c
        .delete(format!("{}/admin/cache/{key_one}", gw.admin()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["removed"], true);
    assert_eq!(outcome(&send(&gw, Api::OpenAi, KEY_A, &one, &[])), "miss");
    assert_eq!(outcome(&send(&gw, Api::OpenAi, KEY_A, &two, &[])), "hit");
    let r = c
        .delete(format!("{}/admin/cache", gw.admin()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(outcome(&send(&gw, Api::OpenAi, KEY_A, &two, &[])), "miss");
    let r = c
        .delete(format!("{}/admin/cache/not-hex", gw.admin()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c.get(format!("{}/admin/cache", gw.admin())).send().unwrap();
    assert_eq!(r.status(), 405);
}

#[test]
fn gateways_sharing_redis_see_each_others_entries_and_survive_its_loss() {
    let mut redis = Redis::start();
    let mock = Mock::start();
    let cache = format!("{{ enabled: true, redis: {{ url: \"{}\" }} }}", redis.url());
    let one = Gateway::start(&config(&mock, &cache, ""));
    let two = Gateway::start(&config(&mock, &cache, ""));
    let b = body("a-echo", "shared", true);
    mock.clear();
    let first = send(&one, Api::Anthropic, KEY_A, &b, &[]);
    assert_eq!(outcome(&first), "miss");
    // The fill reaches Redis in the background.
    let end = std::time::Instant::now() + Duration::from_secs(10);
    let second = loop {
        let r = send(&two, Api::Anthropic, KEY_A, &b, &[]);
        if outcome(&r) == "hit" || std::time::Instant::now() > end {
            break r;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        outcome(&second),
        "hit",
        "the second gateway found the first's entry"
    );
    assert_eq!(
        accumulate(Api::Anthropic, &first),
        accumulate(Api::Anthropic, &second)
    );
    // Redis goes away: entries in memory are still served, new requests still work.
    redis.kill();
    assert_eq!(outcome(&send(&two, Api::Anthropic, KEY_A, &b, &[])), "hit");
    let r = send(
        &two,
        Api::Anthropic,
        KEY_A,
        &body("a-echo", "new", false),
        &[],
    );
    assert_eq!((r.status, outcome(&r)), (200, "miss"));
    let m = two.metrics();
    assert!(
        m.contains("switchyard_state_errors_total{op=\"cache_get\"}"),
        "Redis errors are counted: {m}"
    );
    // The admin clear reaches Redis too.
    redis.restart();
    let b = body("o-echo", "cleared", false);
    send(&one, Api::OpenAi, KEY_A, &b, &[]);
    std::thread::sleep(Duration::from_millis(300));
    let r = client()
        .delete(format!("{}/admin/cache", one.admin()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());
    assert_eq!(outcome(&send(&two, Api::OpenAi, KEY_A, &b, &[])), "miss");
}
