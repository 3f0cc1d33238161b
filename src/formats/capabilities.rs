//! The capability matrix: for every (client API, provider format) pair, each
//! capability the provider format declares ([`super::Capabilities`]) is exercised
//! both ways, and a capability it does not declare must fail loudly (an error), never
//! vanish silently. A new format must give its samples here (the `match` has no
//! catch-all) before the test compiles.

use super::model::{ContentPart, FinishReason, Usage};
use super::stream::StreamTranslator;
use super::{encode_response, parse_request, ApiFormat, EncodeOptions, Format};
use serde_json::{json, Value};

/// Provider bodies showing each response-side capability.
struct Samples {
    /// A plain answer whose text contains "Paris".
    text: &'static [u8],
    /// An answer with two tool calls to `get_weather`.
    tools: &'static [u8],
    /// A streamed answer whose text contains "Paris".
    stream: &'static [u8],
    /// An answer with reasoning (text or a signature).
    reasoning: &'static [u8],
    /// Usage with cache reads, cache writes or reasoning tokens, as declared.
    usage: &'static [u8],
}

fn samples(f: Format) -> Samples {
    match f {
        Format::OpenAi => Samples {
            text: include_bytes!("../../tests/fixtures/openai/chat_text.json"),
            tools: include_bytes!("../../tests/fixtures/openai/chat_tools_parallel.json"),
            stream: include_bytes!("../../tests/fixtures/openai/stream_text.sse"),
            reasoning: br#"{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Paris","reasoning_content":"The capital..."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":30,"total_tokens":39,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":25}}}"#,
            usage: br#"{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Paris"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":30,"total_tokens":39,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":25}}}"#,
        },
        Format::Anthropic => Samples {
            text: include_bytes!("../../tests/fixtures/anthropic/message_text.json"),
            tools: include_bytes!("../../tests/fixtures/anthropic/message_tools_parallel.json"),
            stream: include_bytes!("../../tests/fixtures/anthropic/stream_text.sse"),
            reasoning: include_bytes!("../../tests/fixtures/anthropic/message_thinking.json"),
            usage: include_bytes!("../../tests/fixtures/anthropic/message_text.json"),
        },
        Format::Azure => Samples {
            stream: include_bytes!("../../tests/fixtures/azure/stream_filter.sse"),
            ..samples(Format::OpenAi)
        },
        Format::Gemini => Samples {
            text: include_bytes!("../../tests/fixtures/gemini/generate_text.json"),
            tools: include_bytes!("../../tests/fixtures/gemini/generate_tools_parallel.json"),
            stream: include_bytes!("../../tests/fixtures/gemini/stream_text.sse"),
            reasoning: include_bytes!("../../tests/fixtures/gemini/generate_tools_parallel.json"),
            usage: include_bytes!("../../tests/fixtures/gemini/generate_text.json"),
        },
    }
}

/// A client request in `api` with the given extra members, as bytes.
fn request(api: ApiFormat, extra: Value, content: Value) -> Vec<u8> {
    let mut v = match api {
        ApiFormat::OpenAi => {
            json!({"model": "m", "messages": [{"role": "user", "content": content}]})
        }
        ApiFormat::Anthropic => {
            json!({"model": "m", "max_tokens": 4000, "messages": [{"role": "user", "content": content}]})
        }
        ApiFormat::Responses => {
            json!({"model": "m", "input": [{"role": "user", "content": content}]})
        }
    };
    for (k, x) in extra.as_object().into_iter().flatten() {
        v[k] = x.clone();
    }
    serde_json::to_vec(&v).unwrap()
}

fn image(api: ApiFormat, url: bool) -> Value {
    match (api, url) {
        (ApiFormat::OpenAi, false) => {
            json!([{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,SU1HREFUQQ=="}}])
        }
        (ApiFormat::OpenAi, true) => {
            json!([{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}])
        }
        (ApiFormat::Anthropic, false) => {
            json!([{"type": "text", "text": "see"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "SU1HREFUQQ=="}}])
        }
        (ApiFormat::Anthropic, true) => {
            json!([{"type": "text", "text": "see"}, {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}])
        }
        (ApiFormat::Responses, false) => {
            json!([{"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": "data:image/png;base64,SU1HREFUQQ=="}])
        }
        (ApiFormat::Responses, true) => {
            json!([{"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": "https://example.com/cat.png"}])
        }
    }
}

fn tools(api: ApiFormat) -> Value {
    match api {
        ApiFormat::OpenAi => {
            json!({"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]})
        }
        ApiFormat::Anthropic => {
            json!({"tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]})
        }
        ApiFormat::Responses => {
            json!({"tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]})
        }
    }
}

/// The provider body for a client request, and what was dropped.
fn encode(f: Format, api: ApiFormat, body: &[u8]) -> Result<(String, Vec<String>), String> {
    let req = parse_request(api, body).map_err(|e| e.to_string())?;
    let mut dropped = req.dropped.clone();
    let opts = EncodeOptions {
        model: "gemini-2.5-flash",
        default_max_tokens: 4096,
        sampling_params: true,
        preset: None,
        stream_options: true,
    };
    let out = f
        .encode_request(&req, &opts, &mut dropped)
        .map_err(|e| e.to_string())?;
    Ok((
        String::from_utf8(out).unwrap(),
        dropped.into_iter().map(|d| d.into_owned()).collect(),
    ))
}

fn check_requests(f: Format, api: ApiFormat) {
    let caps = f.capabilities();
    let plain = || {
        encode(f, api, &request(api, json!({}), json!("Paris?")))
            .unwrap()
            .0
    };
    let at = format!("{api:?} client -> {f:?} provider");
    if caps.text {
        assert!(plain().contains("Paris?"), "{at}: text");
    }
    if caps.system {
        let sys = match api {
            ApiFormat::OpenAi => request(
                api,
                json!({"messages": [{"role": "system", "content": "SYSTEXT"}, {"role": "user", "content": "q"}]}),
                json!("q"),
            ),
            ApiFormat::Anthropic => request(api, json!({"system": "SYSTEXT"}), json!("q")),
            ApiFormat::Responses => request(api, json!({"instructions": "SYSTEXT"}), json!("q")),
        };
        assert!(
            encode(f, api, &sys).unwrap().0.contains("SYSTEXT"),
            "{at}: system"
        );
    }
    if caps.tools {
        let (body, dropped) = encode(f, api, &request(api, tools(api), json!("q"))).unwrap();
        assert!(
            body.contains("get_weather") && dropped.is_empty(),
            "{at}: tools {body}"
        );
    }
    if caps.tool_choice {
        let mut with = tools(api);
        with["tool_choice"] = match api {
            ApiFormat::OpenAi | ApiFormat::Responses => json!("required"),
            ApiFormat::Anthropic => json!({"type": "any"}),
        };
        let chosen = encode(f, api, &request(api, with, json!("q"))).unwrap().0;
        let free = encode(f, api, &request(api, tools(api), json!("q")))
            .unwrap()
            .0;
        assert_ne!(chosen, free, "{at}: tool_choice");
    }
    if caps.images {
        let body = encode(f, api, &request(api, json!({}), image(api, false)))
            .unwrap()
            .0;
        assert!(body.contains("SU1HREFUQQ=="), "{at}: images");
    }
    // Declared or not, an image URL is never dropped silently.
    match encode(f, api, &request(api, json!({}), image(api, true))) {
        Ok((body, _)) => assert!(
            caps.image_urls && body.contains("https://example.com/cat.png"),
            "{at}: image URLs {body}"
        ),
        Err(e) => assert!(!caps.image_urls, "{at}: image URLs refused: {e}"),
    }
    // The Responses API has no stop sequences.
    let stop = match api {
        ApiFormat::OpenAi => Some(json!({"stop": ["ENDSEQ"]})),
        ApiFormat::Anthropic => Some(json!({"stop_sequences": ["ENDSEQ"]})),
        ApiFormat::Responses => None,
    };
    if let (true, Some(stop)) = (caps.stop_sequences, stop) {
        assert!(
            encode(f, api, &request(api, stop, json!("q")))
                .unwrap()
                .0
                .contains("ENDSEQ"),
            "{at}: stop sequences"
        );
    }
    if caps.reasoning {
        let think = match api {
            ApiFormat::OpenAi => json!({"reasoning_effort": "high"}),
            ApiFormat::Anthropic => json!({"thinking": {"type": "enabled", "budget_tokens": 2048}}),
            ApiFormat::Responses => json!({"reasoning": {"effort": "high"}}),
        };
        let (body, dropped) = encode(f, api, &request(api, think, json!("Paris?"))).unwrap();
        assert!(
            body != plain() && dropped.is_empty(),
            "{at}: reasoning {dropped:?}"
        );
    }
}

fn check_responses(f: Format, api: ApiFormat) {
    let caps = f.capabilities();
    let s = samples(f);
    let at = format!("{f:?} provider -> {api:?} client");
    let rendered = |body: &[u8]| {
        let r = f
            .parse_response(body)
            .unwrap_or_else(|e| panic!("{at}: {e}"));
        (String::from_utf8(encode_response(api, &r)).unwrap(), r)
    };
    if caps.text {
        let (out, r) = rendered(s.text);
        assert!(out.contains("Paris"), "{at}: text {out}");
        assert!(matches!(r.finish_reason, Some(FinishReason::Stop)), "{at}");
    }
    if caps.tools {
        let (out, r) = rendered(s.tools);
        let calls = r
            .content
            .iter()
            .filter(|p| matches!(p, ContentPart::ToolCall { .. }))
            .count();
        assert!(calls >= 1 && out.contains("get_weather"), "{at}: tools");
        assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls), "{at}");
        if caps.parallel_tools {
            assert!(calls >= 2, "{at}: parallel tools");
        }
    }
    if caps.reasoning {
        let (_, r) = rendered(s.reasoning);
        assert!(
            r.content
                .iter()
                .any(|p| matches!(p, ContentPart::Thinking { .. })),
            "{at}: reasoning"
        );
    }
    let usage: Usage = f.parse_response(s.usage).unwrap().usage;
    assert_eq!(usage, f.parse_usage(s.usage).unwrap(), "{at}: usage alone");
    assert!(
        usage.input_tokens > 0 && usage.output_tokens > 0,
        "{at}: usage"
    );
    assert_eq!(
        caps.usage_cache_read,
        usage.cache_read_tokens > 0,
        "{at}: cache reads"
    );
    assert_eq!(
        caps.usage_cache_write,
        usage.cache_write_tokens > 0,
        "{at}: cache writes"
    );
    if caps.usage_reasoning {
        let u = f.parse_response(s.reasoning).unwrap().usage;
        assert!(
            usage.reasoning_tokens > 0 || u.reasoning_tokens > 0,
            "{at}: reasoning tokens"
        );
    }
    if caps.streaming {
        let mut t = StreamTranslator::new(f, api, true);
        let mut out = Vec::new();
        t.feed(s.stream, &mut out);
        t.finish(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            t.status().done && t.status().error.is_none(),
            "{at}: stream"
        );
        assert!(text.contains("Paris"), "{at}: stream text");
        assert!(t.usage().output_tokens > 0, "{at}: stream usage");
    }
}

#[test]
fn every_pair_carries_what_the_provider_declares() {
    for &f in Format::ALL {
        for api in [
            ApiFormat::OpenAi,
            ApiFormat::Anthropic,
            ApiFormat::Responses,
        ] {
            check_requests(f, api);
            check_responses(f, api);
        }
    }
}
