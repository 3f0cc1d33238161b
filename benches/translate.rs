//! Translation hot-path benchmarks.
//!
//! - `request/*`: one client request body -> one provider request body, the way the
//!   proxy does it per attempt (`parse_request` + `encode_request`, or `rewrite_model`
//!   for same-format pass-through), for a ~1 KB and a ~100 KB body.
//! - `stream/*`: one 200-event provider stream through a `StreamTranslator`, fed one
//!   event per `feed` call (network-sized chunks), then `finish`.
//! - `sse/parse`: the SSE parser alone on the same kind of stream.
//!
//! Every input is generated deterministically here, and every translated output is
//! checked once outside the timed loop, so a benchmark cannot silently time an error
//! path.
//!
//! Run: `cargo bench --bench translate -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

// The allocator the gateway ships with (src/main.rs), so the figures are the ones the
// gateway sees rather than glibc malloc's.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Value};
use switchyard::formats::model::{ContentPart, Role};
use switchyard::formats::sse::{SseEvent, SseParser};
use switchyard::formats::stream::StreamTranslator;
use switchyard::formats::{
    encode_request, parse_request, rewrite_model, ApiFormat, EncodeOptions, Format,
};

// ===================================================================================
// Deterministic text
// ===================================================================================

/// xorshift64*: deterministic, no dependency, good enough to vary the text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Sentences of a trip-planning / coding-help assistant conversation, with the things
/// that make JSON work: quotes, backslashes, newlines, non-ASCII UTF-8.
const SENTENCES: &[&str] = &[
    "The capital of France is Paris, known for the Eiffel Tower, the Louvre and its café culture.",
    "I'd like to plan a four-day trip that balances museums with time outdoors.",
    "Could you check whether it is likely to rain on Thursday afternoon?",
    "Trains from Paris to Lyon take about two hours and leave roughly every thirty minutes.",
    "Here is the config I am using:\n```yaml\nlisten: 0.0.0.0:8080\nworkers: 4\n```",
    "The error says \"connection reset by peer\" after about thirty seconds of idle time.",
    "A 3 × 3 grid of tiles works better on small screens than a single long column.",
    "Set the timeout to 30s and retry at most twice with exponential backoff.",
    "The museum is closed on Tuesdays, so I moved it to Wednesday morning.",
    "Temperatures in late April usually range from 9 °C at night to 18 °C in the afternoon.",
    "I ran `cargo test -- --nocapture` and the failing case is `parses_nested_arrays`.",
    "Windows paths like C:\\Users\\dev\\project need escaped backslashes in JSON.",
    "That restaurant near Montmartre takes reservations only by phone — book early.",
    "If you are flying into CDG, the RER B is usually the fastest way into the city.",
    "Let me summarise: Monday is the Louvre, Tuesday is Versailles, Wednesday is free.",
    "The function returns early when the buffer is empty, which hides the real bug.",
    "Prices went from €42 to €57 between the two quotes, which seems too steep.",
    "Please keep the answer short and put the itinerary in a bulleted list.",
    "Tokyo in November is mild, around 15 °C, with clear skies most days 🙂.",
    "The log shows 1,204 requests in the last minute, 3 of them with status 502.",
    "Can you rewrite that paragraph so it sounds less formal?",
    "Good idea: buy the museum pass online, it saves queueing at each entrance.",
    "The schema requires `location` and allows an optional `unit` of celsius or fahrenheit.",
    "Sure — here's a revised plan that keeps the evenings free for dinner.",
];

fn sentences(rng: &mut Rng, n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(rng.pick(SENTENCES));
    }
    s
}

const CITIES: &[&str] = &[
    "Paris",
    "Lyon",
    "Tokyo",
    "Kyoto",
    "Zürich",
    "São Paulo",
    "Reykjavík",
    "Berlin",
];

const SYSTEM: &str =
    "You are a concise travel assistant. Use metric units; call get_weather for forecasts.";

/// The one tool every request carries, as a JSON Schema.
const WEATHER_SCHEMA: &str = r#"{"type":"object","properties":{"location":{"type":"string","description":"City and country, e.g. \"Paris, France\""},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":14}},"required":["location"]}"#;

const TOOL_DESCRIPTION: &str = "Current weather and forecast for a location.";

// ===================================================================================
// Ordered JSON text (serde_json's `Value` sorts keys; real clients send `model` and
// `role`/`type` first, and tagged-enum parsing can depend on where the tag is)
// ===================================================================================

/// A JSON string literal.
fn st(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// A JSON object from members whose values are already JSON text, in this order.
fn obj(members: &[(&str, String)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&st(k));
        out.push(':');
        out.push_str(v);
    }
    out.push('}');
    out
}

/// A JSON array from elements that are already JSON text.
fn arr(items: &[String]) -> String {
    format!("[{}]", items.join(","))
}

fn raw(s: &str) -> String {
    s.to_string()
}

// ===================================================================================
// Request bodies
// ===================================================================================

/// One turn of a conversation, independent of the wire format.
enum Turn {
    User(String),
    Assistant(String),
    /// Assistant turn: optional text, then one tool call; followed by its result.
    ToolRound {
        id: String,
        preface: Option<String>,
        args: String,
        result: String,
    },
}

fn render_openai(turns: &[Turn]) -> Vec<u8> {
    let msg = |role: &str, content: &str| obj(&[("role", st(role)), ("content", st(content))]);
    let mut messages = vec![msg("system", SYSTEM)];
    for t in turns {
        match t {
            Turn::User(text) => messages.push(msg("user", text)),
            Turn::Assistant(text) => messages.push(msg("assistant", text)),
            Turn::ToolRound {
                id,
                preface,
                args,
                result,
            } => {
                let call = obj(&[
                    ("id", st(id)),
                    ("type", st("function")),
                    (
                        "function",
                        obj(&[("name", st("get_weather")), ("arguments", st(args))]),
                    ),
                ]);
                messages.push(obj(&[
                    ("role", st("assistant")),
                    ("content", preface.as_deref().map_or(raw("null"), st)),
                    ("tool_calls", arr(&[call])),
                ]));
                messages.push(obj(&[
                    ("role", st("tool")),
                    ("tool_call_id", st(id)),
                    ("content", st(result)),
                ]));
            }
        }
    }
    let tool = obj(&[
        ("type", st("function")),
        (
            "function",
            obj(&[
                ("name", st("get_weather")),
                ("description", st(TOOL_DESCRIPTION)),
                ("parameters", raw(WEATHER_SCHEMA)),
            ]),
        ),
    ]);
    obj(&[
        ("model", st("gpt-4.1")),
        ("messages", arr(&messages)),
        ("tools", arr(&[tool])),
        ("tool_choice", st("auto")),
        ("temperature", raw("0.7")),
        ("max_tokens", raw("1024")),
        ("stream", raw("true")),
        ("stream_options", raw(r#"{"include_usage":true}"#)),
        ("user", st("user-8f14e45f")),
    ])
    .into_bytes()
}

fn render_anthropic(turns: &[Turn]) -> Vec<u8> {
    let text = |t: &str| obj(&[("type", st("text")), ("text", st(t))]);
    let msg = |role: &str, content: String| obj(&[("role", st(role)), ("content", content)]);
    let mut messages = Vec::new();
    for t in turns {
        match t {
            Turn::User(t) => messages.push(msg("user", st(t))),
            Turn::Assistant(t) => messages.push(msg("assistant", arr(&[text(t)]))),
            Turn::ToolRound {
                id,
                preface,
                args,
                result,
            } => {
                let mut content = Vec::new();
                if let Some(p) = preface {
                    content.push(text(p));
                }
                let input: Value = serde_json::from_str(args).unwrap();
                content.push(obj(&[
                    ("type", st("tool_use")),
                    ("id", st(id)),
                    ("name", st("get_weather")),
                    ("input", input.to_string()),
                ]));
                messages.push(msg("assistant", arr(&content)));
                let res = obj(&[
                    ("type", st("tool_result")),
                    ("tool_use_id", st(id)),
                    ("content", st(result)),
                ]);
                messages.push(msg("user", arr(&[res])));
            }
        }
    }
    let system = obj(&[
        ("type", st("text")),
        ("text", st(SYSTEM)),
        ("cache_control", raw(r#"{"type":"ephemeral"}"#)),
    ]);
    let tool = obj(&[
        ("name", st("get_weather")),
        ("description", st(TOOL_DESCRIPTION)),
        ("input_schema", raw(WEATHER_SCHEMA)),
    ]);
    obj(&[
        ("model", st("claude-sonnet-4-5")),
        ("max_tokens", raw("1024")),
        ("system", arr(&[system])),
        ("messages", arr(&messages)),
        ("tools", arr(&[tool])),
        ("tool_choice", raw(r#"{"type":"auto"}"#)),
        ("temperature", raw("0.7")),
        ("metadata", raw(r#"{"user_id":"user-8f14e45f"}"#)),
        ("stream", raw("true")),
    ])
    .into_bytes()
}

fn render_responses(turns: &[Turn]) -> Vec<u8> {
    let assistant = |t: &str| {
        obj(&[
            ("type", st("message")),
            ("role", st("assistant")),
            (
                "content",
                arr(&[obj(&[("type", st("output_text")), ("text", st(t))])]),
            ),
        ])
    };
    let mut input = Vec::new();
    for t in turns {
        match t {
            Turn::User(text) => input.push(obj(&[("role", st("user")), ("content", st(text))])),
            Turn::Assistant(text) => input.push(assistant(text)),
            Turn::ToolRound {
                id,
                preface,
                args,
                result,
            } => {
                if let Some(p) = preface {
                    input.push(assistant(p));
                }
                input.push(obj(&[
                    ("type", st("function_call")),
                    ("call_id", st(id)),
                    ("name", st("get_weather")),
                    ("arguments", st(args)),
                ]));
                input.push(obj(&[
                    ("type", st("function_call_output")),
                    ("call_id", st(id)),
                    ("output", st(result)),
                ]));
            }
        }
    }
    let tool = obj(&[
        ("type", st("function")),
        ("name", st("get_weather")),
        ("description", st(TOOL_DESCRIPTION)),
        ("parameters", raw(WEATHER_SCHEMA)),
    ]);
    obj(&[
        ("model", st("gpt-4.1")),
        ("instructions", st(SYSTEM)),
        ("input", arr(&input)),
        ("tools", arr(&[tool])),
        ("tool_choice", st("auto")),
        ("temperature", raw("0.7")),
        ("max_output_tokens", raw("1024")),
        ("stream", raw("true")),
        ("user", st("user-8f14e45f")),
    ])
    .into_bytes()
}

/// One user -> (tool call -> result) -> assistant round.
fn round(rng: &mut Rng, n: usize, turns: &mut Vec<Turn>) {
    let long = rng.below(4) == 0;
    let k = 1 + rng.below(if long { 6 } else { 2 });
    turns.push(Turn::User(sentences(rng, k)));
    if n.is_multiple_of(2) {
        let city = rng.pick(CITIES);
        turns.push(Turn::ToolRound {
            id: format!("call_{:024x}", rng.next() as u128 * 0x9e37_79b9),
            preface: (rng.below(2) == 0).then(|| format!("Let me check the weather in {city}.")),
            args: format!(r#"{{"location": "{city}", "unit": "celsius", "days": {}}}"#, 1 + rng.below(5)),
            result: format!(
                r#"{{"location":"{city}","temperature_c":{},"condition":"partly cloudy","precipitation_mm":{}.{},"wind_kph":{}}}"#,
                5 + rng.below(20),
                rng.below(10),
                rng.below(10),
                rng.below(40)
            ),
        });
    }
    let k = 1 + rng.below(if long { 8 } else { 3 });
    turns.push(Turn::Assistant(sentences(rng, k)));
}

/// A conversation rendered to about `target` bytes: whole rounds while they fit, then a
/// final user question padded with words to land within a few bytes of `target`.
/// Returns the body and the final user text (to look for in translated output).
fn request_body(render: fn(&[Turn]) -> Vec<u8>, target: usize, seed: u64) -> (Vec<u8>, String) {
    let mut rng = Rng(seed);
    let mut turns = Vec::new();
    if target > 16 * 1024 {
        // Long context: a pasted document up front, as in "summarise / answer from this".
        let mut doc = String::from("Here are my notes from the last trip, for context:\n\n");
        while doc.len() < target / 4 {
            doc.push_str(&sentences(&mut rng, 4));
            doc.push_str("\n\n");
        }
        turns.push(Turn::User(doc));
        turns.push(Turn::Assistant(
            "Thanks, I've read your notes. What would you like to plan?".into(),
        ));
    }
    // A short opening exchange; the long body gets tool rounds from `round` below (a
    // tool round does not fit in 1 KB next to the tool definition).
    turns.push(Turn::User("What's the weather in Paris tomorrow?".into()));
    turns.push(Turn::Assistant(
        "17 °C and cloudy, light wind: bring a jacket.".into(),
    ));
    let question = "Which day is best for Versailles?";
    let mut n = 0;
    loop {
        let mut probe = Rng(rng.0);
        let before = turns.len();
        round(&mut probe, n, &mut turns);
        if render(&turns).len() + question.len() + 32 > target {
            // Does not fit: undo it.
            turns.truncate(before);
            break;
        }
        rng = probe;
        n += 1;
    }
    // Pad the last question so the body lands close to the target size.
    let mut last = String::from(question);
    turns.push(Turn::User(last.clone()));
    let mut len = render(&turns).len();
    let words: Vec<&str> = SENTENCES.iter().flat_map(|s| s.split(' ')).collect();
    let mut w = 0;
    while len < target {
        let word = words[w % words.len()];
        w += 1;
        let before = last.len();
        last.push(' ');
        last.push_str(word);
        // Escaped length can exceed the raw length (quotes, newlines): re-measure.
        let grow = serde_json::to_string(&last[before..]).unwrap().len() - 2;
        if len + grow > target {
            last.truncate(before);
            break;
        }
        len += grow;
    }
    turns.pop();
    turns.push(Turn::User(last.clone()));
    (render(&turns), last)
}

const ENCODE_ANTHROPIC: EncodeOptions<'static> = EncodeOptions {
    model: "claude-x",
    default_max_tokens: 4096,
    sampling_params: true,
    preset: None,
    stream_options: true,
};

const ENCODE_GEMINI: EncodeOptions<'static> = EncodeOptions {
    model: "gemini-x",
    default_max_tokens: 4096,
    sampling_params: true,
    preset: None,
    stream_options: true,
};

/// One-off checks that the Gemini body carries the conversation (Gemini is not a client
/// API, so it cannot be read back like the others).
fn check_gemini_request(body: &[u8], last_user_text: &str) {
    let req = parse_request(ApiFormat::OpenAi, body).expect("bench input must parse");
    let mut dropped = Vec::new();
    let out = encode_request(Format::Gemini, &req, &ENCODE_GEMINI, &mut dropped)
        .expect("bench input must encode");
    assert!(dropped.is_empty(), "unexpected dropped fields: {dropped:?}");
    let v: Value = serde_json::from_slice(&out).expect("translated body is JSON");
    // The system message goes to systemInstruction, every other message to contents.
    assert_eq!(v["contents"].as_array().unwrap().len(), req.messages.len());
    assert!(v["systemInstruction"]["parts"][0]["text"].is_string());
    assert_eq!(
        v["tools"][0]["functionDeclarations"][0]["name"],
        "get_weather"
    );
    let escaped = serde_json::to_string(last_user_text).unwrap();
    assert!(
        std::str::from_utf8(&out)
            .unwrap()
            .contains(&escaped[1..escaped.len() - 1]),
        "translated body lost the last user message"
    );
}

const ENCODE_OPENAI: EncodeOptions<'static> = EncodeOptions {
    model: "gpt-x",
    default_max_tokens: 4096,
    sampling_params: true,
    preset: None,
    stream_options: true,
};

/// The timed unit: one full translate of one request body.
fn translate(from: ApiFormat, to: impl Into<Format>, opts: &EncodeOptions, body: &[u8]) -> Vec<u8> {
    let req = parse_request(from, body).expect("parse_request");
    let mut dropped = Vec::new();
    let out = encode_request(to, &req, opts, &mut dropped).expect("encode_request");
    black_box(&dropped);
    out
}

/// One-off checks that the translation produced a real request, not an error body.
fn check_request(
    from: ApiFormat,
    to: ApiFormat,
    opts: &EncodeOptions,
    body: &[u8],
    last_user_text: &str,
    expect_tool_calls: bool,
) {
    let req = parse_request(from, body).expect("bench input must parse");
    let mut dropped = Vec::new();
    let out = encode_request(to, &req, opts, &mut dropped).expect("bench input must encode");
    assert!(dropped.is_empty(), "unexpected dropped fields: {dropped:?}");
    let v: Value = serde_json::from_slice(&out).expect("translated body is JSON");
    assert_eq!(v["model"], opts.model);
    assert!(!v["messages"].as_array().unwrap().is_empty());
    let escaped = serde_json::to_string(last_user_text).unwrap();
    let needle = &escaped[1..escaped.len() - 1];
    assert!(
        std::str::from_utf8(&out).unwrap().contains(needle),
        "translated body lost the last user message"
    );
    // The translated body must read back in the target format as the same conversation.
    let back = parse_request(to, &out).expect("translated body parses in the target format");
    assert_eq!(back.messages.len(), req.messages.len());
    assert_eq!(back.system.len(), 1);
    assert_eq!(back.tools.len(), 1);
    assert_eq!(back.tools[0].name, "get_weather");
    let calls = |r: &switchyard::formats::model::ChatRequest| {
        r.messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .flat_map(|m| &m.content)
            .filter(|p| matches!(p, ContentPart::ToolCall { .. }))
            .count()
    };
    assert_eq!(calls(&req) > 0, expect_tool_calls);
    assert_eq!(calls(&back), calls(&req));
    match to {
        ApiFormat::Anthropic => {
            assert_eq!(v["max_tokens"], 1024);
            assert!(v["tools"][0]["input_schema"]["properties"]["location"].is_object());
        }
        ApiFormat::OpenAi => {
            assert_eq!(v["messages"][0]["role"], "system");
            assert!(v["tools"][0]["function"]["parameters"]["properties"]["location"].is_object());
        }
        ApiFormat::Responses => panic!("Responses is not a provider format"),
    }
}

fn bench_requests(c: &mut Criterion) {
    let mut g = c.benchmark_group("request");
    for (label, target) in [("1KB", 1024), ("100KB", 100 * 1024)] {
        let (oai, oai_last) = request_body(render_openai, target, 0x5eed_0001);
        let (ant, ant_last) = request_body(render_anthropic, target, 0x5eed_0002);
        // The same conversation as the OpenAI body (same seed), as Responses items.
        let (resp, resp_last) = request_body(render_responses, target, 0x5eed_0001);
        eprintln!(
            "request bodies {label}: openai {} bytes, anthropic {} bytes, responses {} bytes",
            oai.len(),
            ant.len(),
            resp.len()
        );

        check_request(
            ApiFormat::Responses,
            ApiFormat::Anthropic,
            &ENCODE_ANTHROPIC,
            &resp,
            &resp_last,
            target > 16 * 1024,
        );
        g.throughput(Throughput::Bytes(resp.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("responses_to_anthropic", label),
            &resp,
            |b, body| {
                b.iter(|| {
                    translate(
                        ApiFormat::Responses,
                        ApiFormat::Anthropic,
                        &ENCODE_ANTHROPIC,
                        black_box(body),
                    )
                })
            },
        );

        check_request(
            ApiFormat::OpenAi,
            ApiFormat::Anthropic,
            &ENCODE_ANTHROPIC,
            &oai,
            &oai_last,
            target > 16 * 1024,
        );
        g.throughput(Throughput::Bytes(oai.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("openai_to_anthropic", label),
            &oai,
            |b, body| {
                b.iter(|| {
                    translate(
                        ApiFormat::OpenAi,
                        ApiFormat::Anthropic,
                        &ENCODE_ANTHROPIC,
                        black_box(body),
                    )
                })
            },
        );

        // Issue #15: Gemini's 1 KB translate within 1.2x of Anthropic's.
        check_gemini_request(&oai, &oai_last);
        g.throughput(Throughput::Bytes(oai.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("openai_to_gemini", label),
            &oai,
            |b, body| {
                b.iter(|| {
                    translate(
                        ApiFormat::OpenAi,
                        Format::Gemini,
                        &ENCODE_GEMINI,
                        black_box(body),
                    )
                })
            },
        );

        check_request(
            ApiFormat::Anthropic,
            ApiFormat::OpenAi,
            &ENCODE_OPENAI,
            &ant,
            &ant_last,
            target > 16 * 1024,
        );
        g.throughput(Throughput::Bytes(ant.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("anthropic_to_openai", label),
            &ant,
            |b, body| {
                b.iter(|| {
                    translate(
                        ApiFormat::Anthropic,
                        ApiFormat::OpenAi,
                        &ENCODE_OPENAI,
                        black_box(body),
                    )
                })
            },
        );

        // Same-format pass-through (OpenAI client, OpenAI provider): only `model` changes.
        let out = rewrite_model(&oai, "gpt-x").expect("rewrite_model");
        let mut expected: Value = serde_json::from_slice(&oai).unwrap();
        expected["model"] = json!("gpt-x");
        assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), expected);
        assert_eq!(out.len(), oai.len() - "gpt-4.1".len() + "gpt-x".len());
        g.throughput(Throughput::Bytes(oai.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("passthrough_rewrite_model", label),
            &oai,
            |b, body| b.iter(|| rewrite_model(black_box(body), "gpt-x").expect("rewrite_model")),
        );
    }
    g.finish();
}

// ===================================================================================
// Provider streams
// ===================================================================================

const STREAM_EVENTS: usize = 200;

/// Few-word text deltas, as providers emit them, and the text they add up to.
fn deltas(n: usize, seed: u64) -> (Vec<String>, String) {
    let mut rng = Rng(seed);
    let words: Vec<&str> = SENTENCES.iter().flat_map(|s| s.split(' ')).collect();
    let mut out = Vec::with_capacity(n);
    let mut start = rng.below(words.len());
    for i in 0..n {
        let k = 1 + rng.below(3);
        let mut d = String::new();
        for j in 0..k {
            if i > 0 || j > 0 {
                d.push(' ');
            }
            d.push_str(words[(start + j) % words.len()]);
        }
        start += k;
        out.push(d);
    }
    let full = out.concat();
    (out, full)
}

fn sse(event: Option<&str>, data: &str) -> Vec<u8> {
    let mut s = String::new();
    if let Some(e) = event {
        s.push_str("event: ");
        s.push_str(e);
        s.push('\n');
    }
    s.push_str("data: ");
    s.push_str(data);
    s.push_str("\n\n");
    s.into_bytes()
}

/// A 200-event Anthropic text stream, one event per element; returns the text too.
/// Shapes and field order as in `tests/fixtures/anthropic/stream_text.sse`.
fn anthropic_stream() -> (Vec<Vec<u8>>, String) {
    let (texts, full) = deltas(STREAM_EVENTS - 5, 0xa17);
    let mut evs = Vec::with_capacity(STREAM_EVENTS);
    evs.push(sse(
        Some("message_start"),
        r#"{"type":"message_start","message":{"model":"claude-sonnet-4-5-20250929","id":"msg_01HnK7yZqfV3rWx8Ls2TcB4d","type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":276,"cache_creation_input_tokens":200,"cache_read_input_tokens":1024,"cache_creation":{"ephemeral_5m_input_tokens":200,"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}}}"#,
    ));
    evs.push(sse(
        Some("content_block_start"),
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    ));
    for t in &texts {
        let data = format!(
            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":{}}}}}"#,
            st(t)
        );
        evs.push(sse(Some("content_block_delta"), &data));
    }
    evs.push(sse(
        Some("content_block_stop"),
        r#"{"type":"content_block_stop","index":0}"#,
    ));
    evs.push(sse(
        Some("message_delta"),
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":276,"cache_creation_input_tokens":200,"cache_read_input_tokens":1024,"output_tokens":412}}"#,
    ));
    evs.push(sse(Some("message_stop"), r#"{"type":"message_stop"}"#));
    assert_eq!(evs.len(), STREAM_EVENTS);
    (evs, full)
}

/// A 200-event OpenAI text stream (include_usage on), one event per element.
/// Shapes and field order as in `tests/fixtures/openai/stream_text.sse`.
fn openai_stream() -> (Vec<Vec<u8>>, String) {
    let (texts, full) = deltas(STREAM_EVENTS - 4, 0x0a1);
    let chunk = |choices: &str, usage: &str, pad: &str| {
        format!(
            r#"{{"id":"chatcmpl-CAqm8Ty3WbLx0Pn5Hj2QeKz7RuF9s","object":"chat.completion.chunk","created":1756131948,"model":"gpt-4.1-2025-04-14","service_tier":"default","system_fingerprint":"fp_b3f1157249","choices":{choices},"usage":{usage},"obfuscation":"{pad}"}}"#
        )
    };
    let choice = |delta: &str, finish: &str| {
        format!(r#"[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}]"#)
    };
    let pads = ["Qw9Xk", "uT", "mP3vZ0Ld", "rK7c", "aB2", "N8hYq1", "eW"];
    let mut evs = Vec::with_capacity(STREAM_EVENTS);
    let role = choice(
        r#"{"role":"assistant","content":"","refusal":null}"#,
        "null",
    );
    evs.push(sse(None, &chunk(&role, "null", pads[0])));
    for (i, t) in texts.iter().enumerate() {
        let c = choice(&format!(r#"{{"content":{}}}"#, st(t)), "null");
        evs.push(sse(None, &chunk(&c, "null", pads[i % pads.len()])));
    }
    let fin = choice("{}", r#""stop""#);
    evs.push(sse(None, &chunk(&fin, "null", "x1")));
    let usage = r#"{"prompt_tokens":1320,"completion_tokens":412,"total_tokens":1732,"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}"#;
    evs.push(sse(None, &chunk("[]", usage, "Zp4")));
    evs.push(b"data: [DONE]\n\n".to_vec());
    assert_eq!(evs.len(), STREAM_EVENTS);
    (evs, full)
}

/// The timed unit: one whole provider stream through a fresh translator. `out` is
/// drained after every chunk, as the proxy hands each piece to the client.
fn translate_stream(from: ApiFormat, to: ApiFormat, events: &[Vec<u8>]) -> usize {
    let mut t = StreamTranslator::new(from, to, true);
    let mut out = Vec::with_capacity(4096);
    let mut sent = 0;
    for ev in events {
        t.feed(black_box(ev), &mut out);
        sent += black_box(&out).len();
        out.clear();
    }
    t.finish(&mut out);
    sent += black_box(&out).len();
    assert!(t.status().done);
    sent
}

fn parse_sse(bytes: &[u8]) -> Vec<SseEvent> {
    let mut p = SseParser::new();
    let mut evs = Vec::new();
    p.feed(bytes, &mut evs);
    p.finish(&mut evs);
    evs
}

/// One-off check: the translated client stream carries exactly the provider's text and
/// ends properly.
fn check_stream(from: ApiFormat, to: ApiFormat, events: &[Vec<u8>], text: &str) {
    let mut t = StreamTranslator::new(from, to, true);
    let mut out = Vec::new();
    for ev in events {
        t.feed(ev, &mut out);
    }
    t.finish(&mut out);
    assert!(t.status().done, "stream did not end properly");
    assert_eq!(t.status().error, None);
    assert!(t.usage().output_tokens > 0, "usage lost");
    let evs = parse_sse(&out);
    let mut got = String::new();
    match to {
        ApiFormat::OpenAi => {
            assert_eq!(evs.last().unwrap().data, "[DONE]");
            let mut finish = None;
            let mut usage = false;
            for e in &evs[..evs.len() - 1] {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                assert_eq!(v["object"], "chat.completion.chunk");
                if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
                    got.push_str(c);
                }
                if let Some(f) = v["choices"][0]["finish_reason"].as_str() {
                    finish = Some(f.to_string());
                }
                usage |= v["usage"]["completion_tokens"].as_u64() == Some(412);
            }
            assert_eq!(finish.as_deref(), Some("stop"));
            assert!(usage, "no usage chunk");
        }
        ApiFormat::Anthropic => {
            assert_eq!(evs.first().unwrap().event.as_deref(), Some("message_start"));
            assert_eq!(evs.last().unwrap().event.as_deref(), Some("message_stop"));
            let mut stop = None;
            for e in &evs {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                assert_eq!(v["type"].as_str(), e.event.as_deref());
                if let Some(t) = v["delta"]["text"].as_str() {
                    got.push_str(t);
                }
                if let Some(s) = v["delta"]["stop_reason"].as_str() {
                    stop = Some(s.to_string());
                }
            }
            assert_eq!(stop.as_deref(), Some("end_turn"));
        }
        ApiFormat::Responses => {
            assert_eq!(
                evs.last().unwrap().event.as_deref(),
                Some("response.completed")
            );
            for (i, e) in evs.iter().enumerate() {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                assert_eq!(v["sequence_number"], i);
                if v["type"] == "response.output_text.delta" {
                    got.push_str(v["delta"].as_str().unwrap());
                }
            }
        }
    }
    assert_eq!(
        got, text,
        "translated stream text differs from the provider's"
    );
}

fn bench_streams(c: &mut Criterion) {
    let (ant, ant_text) = anthropic_stream();
    let (oai, oai_text) = openai_stream();
    eprintln!(
        "streams: anthropic {} bytes, openai {} bytes, {STREAM_EVENTS} events each",
        ant.iter().map(Vec::len).sum::<usize>(),
        oai.iter().map(Vec::len).sum::<usize>()
    );
    check_stream(ApiFormat::Anthropic, ApiFormat::OpenAi, &ant, &ant_text);
    check_stream(ApiFormat::OpenAi, ApiFormat::Anthropic, &oai, &oai_text);
    check_stream(ApiFormat::Anthropic, ApiFormat::Responses, &ant, &ant_text);

    let mut g = c.benchmark_group("stream");
    g.throughput(Throughput::Elements(STREAM_EVENTS as u64));
    g.bench_function(BenchmarkId::new("anthropic_to_openai", "200_events"), |b| {
        b.iter(|| translate_stream(ApiFormat::Anthropic, ApiFormat::OpenAi, &ant))
    });
    g.bench_function(BenchmarkId::new("openai_to_anthropic", "200_events"), |b| {
        b.iter(|| translate_stream(ApiFormat::OpenAi, ApiFormat::Anthropic, &oai))
    });
    g.bench_function(
        BenchmarkId::new("anthropic_to_responses", "200_events"),
        |b| b.iter(|| translate_stream(ApiFormat::Anthropic, ApiFormat::Responses, &ant)),
    );
    g.finish();

    // The SSE parser alone, on the Anthropic stream (named events), same chunking.
    let whole: Vec<u8> = ant.concat();
    let evs = parse_sse(&whole);
    assert_eq!(evs.len(), STREAM_EVENTS);
    assert_eq!(evs[2].event.as_deref(), Some("content_block_delta"));
    let mut g = c.benchmark_group("sse");
    g.throughput(Throughput::Elements(STREAM_EVENTS as u64));
    g.bench_function(BenchmarkId::new("parse", "200_events"), |b| {
        b.iter(|| {
            let mut p = SseParser::new();
            let mut out = Vec::with_capacity(8);
            let mut n = 0;
            for ev in &ant {
                p.feed(black_box(ev), &mut out);
                n += out.len();
                black_box(&out);
                out.clear();
            }
            p.finish(&mut out);
            n += out.len();
            assert_eq!(n, STREAM_EVENTS);
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench_requests, bench_streams);
criterion_main!(benches);
