//! Google Gemini API emulation: `POST …/models/{model}:generateContent` and
//! `…:streamGenerateContent?alt=sse`, validation, error bodies (`google.rpc` shape,
//! `RetryInfo` on 429), echo replies.
//!
//! Echo with tools: when the request declares functions, the last user turn holds no
//! `functionResponse` and `toolConfig` does not say `NONE`, the reply calls the first
//! declared function with `{"echo": <last user text>}`, carrying the thought signature
//! `mock-sig-<request count>` (no call id, as Gemini sends none). Like Gemini 3, a
//! request whose model turn replays a function call without a `thoughtSignature` on
//! its first call is refused with 400 (not for `gemini-1*` / `gemini-2*` models).

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::common::{EchoCtx, Reply, JSON, SSE};
use crate::options::split_reply;

/// `(model, stream)` of a Gemini path: `…/models/{model}:{method}`, the model
/// percent-decoded.
pub fn route(path: &str) -> Option<(String, bool)> {
    let (_, rest) = path.split_once("/models/")?;
    let (model, method) = rest.rsplit_once(':')?;
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return None,
    };
    Some((percent_decode(model), stream))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The key: `x-goog-api-key`, or `?key=` in the query.
pub fn key<'a>(headers: &'a http::HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| query?.split('&').find_map(|kv| kv.strip_prefix("key=")))
}

fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

/// Gemini-shaped error body; a 429 carries `RetryInfo` (`retry_delay` seconds, 7 by default).
pub fn error_body(status: u16, message: &str, retry_delay: Option<u64>) -> Bytes {
    let mut details = Vec::new();
    if status == 429 {
        details.push(json!({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]}));
        details.push(json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{}s", retry_delay.unwrap_or(7))}));
    }
    let body = json!({"error": {"code": status, "message": message, "status": status_name(status), "details": details}});
    Bytes::from(body.to_string())
}

pub fn status_message(status: u16, model: &str) -> String {
    match status {
        400 => "Request contains an invalid argument.".into(),
        401 | 403 => "API key not valid. Please pass a valid API key.".into(),
        404 => format!("models/{model} is not found for API version v1beta, or is not supported for generateContent."),
        429 => "You exceeded your current quota, please check your plan and billing details.".into(),
        503 => "The model is overloaded. Please try again later.".into(),
        _ => format!("Simulated error status {status} (switchyard-mock)."),
    }
}

/// Validates a `generateContent` body like the real API would (400 on error).
pub fn validate(body: &Map<String, Value>, model: &str) -> Result<(), String> {
    // Gemini 3 validates signatures; 1.x and 2.x models do not.
    let signed = !(model.starts_with("gemini-1") || model.starts_with("gemini-2"));
    for key in ["model", "messages", "max_tokens", "stream", "system"] {
        if body.contains_key(key) {
            return Err(format!(
                "Invalid JSON payload received. Unknown name \"{key}\": Cannot find field."
            ));
        }
    }
    let Some(contents) = body.get("contents").and_then(Value::as_array) else {
        return Err("* GenerateContentRequest.contents: contents is not specified".into());
    };
    for (i, c) in contents.iter().enumerate() {
        match c.get("role").and_then(Value::as_str) {
            None | Some("user") | Some("model") => {}
            Some(r) => {
                return Err(format!(
                    "Please use a valid role: user, model. (contents[{i}].role: {r})"
                ))
            }
        }
        let Some(parts) = c.get("parts").and_then(Value::as_array) else {
            return Err(format!(
                "* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            ));
        };
        let first_call = parts.iter().find(|p| p.get("functionCall").is_some());
        if let Some(p) = first_call.filter(|_| signed) {
            if p.get("thoughtSignature").and_then(Value::as_str).is_none() {
                return Err(format!("Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{}` , position {}.", p["functionCall"]["name"].as_str().unwrap_or(""), i + 1));
            }
        }
    }
    Ok(())
}

/// Text of the last user turn's text parts.
pub fn last_user_text(body: &Map<String, Value>) -> String {
    let contents = body
        .get("contents")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(turn) = contents
        .iter()
        .rev()
        .find(|c| c.get("role").and_then(Value::as_str) != Some("model"))
    else {
        return String::new();
    };
    turn["parts"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// The function the echo calls, if it calls one (see the module doc).
fn function_to_call(body: &Map<String, Value>) -> Option<String> {
    let name = body
        .get("tools")?
        .get(0)?
        .get("functionDeclarations")?
        .get(0)?
        .get("name")?
        .as_str()?;
    if body
        .get("toolConfig")
        .and_then(|t| t.pointer("/functionCallingConfig/mode"))
        .and_then(Value::as_str)
        == Some("NONE")
    {
        return None;
    }
    let contents = body.get("contents")?.as_array()?;
    let last = contents
        .iter()
        .rev()
        .find(|c| c.get("role").and_then(Value::as_str) != Some("model"))?;
    let answered = last["parts"]
        .as_array()?
        .iter()
        .any(|p| p.get("functionResponse").is_some());
    (!answered).then(|| name.to_string())
}

fn usage(ctx: &EchoCtx<'_>, output: u64) -> Value {
    json!({
        "promptTokenCount": ctx.input_tokens,
        "candidatesTokenCount": output,
        "totalTokenCount": ctx.input_tokens + output,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": ctx.input_tokens}]
    })
}

fn frame(v: &Value) -> Bytes {
    // Gemini ends its SSE events with CRLF pairs.
    Bytes::from(format!("data: {v}\r\n\r\n"))
}

/// The echo reply, as JSON or SSE.
pub fn echo(ctx: &EchoCtx<'_>, body: &Map<String, Value>) -> Reply {
    let id = format!("mockresp{}", ctx.counter);
    let model = ctx.model;
    let candidate = |parts: Value, finish: Option<&str>| {
        let mut c = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if let Some(f) = finish {
            c["finishReason"] = json!(f);
        }
        c
    };
    if let Some(name) = function_to_call(body) {
        let call = json!([{"functionCall": {"name": name, "args": {"echo": ctx.text}}, "thoughtSignature": format!("mock-sig-{}", ctx.counter)}]);
        let v = json!({"candidates": [candidate(call, Some("STOP"))], "usageMetadata": usage(ctx, 9), "modelVersion": model, "responseId": id});
        return if ctx.stream {
            Reply {
                content_type: SSE,
                frames: vec![frame(&v)],
                exact: false,
            }
        } else {
            Reply {
                content_type: JSON,
                frames: vec![Bytes::from(v.to_string())],
                exact: true,
            }
        };
    }
    if !ctx.stream {
        let v = json!({"candidates": [candidate(json!([{"text": ctx.text}]), Some("STOP"))], "usageMetadata": usage(ctx, ctx.output_tokens), "modelVersion": model, "responseId": id});
        return Reply {
            content_type: JSON,
            frames: vec![Bytes::from(v.to_string())],
            exact: true,
        };
    }
    let pieces = split_reply(&ctx.text, ctx.events);
    let n = pieces.len();
    let frames = pieces
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let last = i + 1 == n;
            let out = if last { ctx.output_tokens } else { i as u64 + 1 };
            frame(&json!({"candidates": [candidate(json!([{"text": p}]), last.then_some("STOP"))], "usageMetadata": usage(ctx, out), "modelVersion": model, "responseId": id}))
        })
        .collect();
    Reply {
        content_type: SSE,
        frames,
        exact: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_decoding() {
        assert_eq!(
            route("/v1beta/models/gemini-2.5-flash:generateContent"),
            Some(("gemini-2.5-flash".into(), false))
        );
        assert_eq!(
            route("/v1beta/models/mock:fixture=gemini%2Fx.sse:streamGenerateContent"),
            Some(("mock:fixture=gemini/x.sse".into(), true))
        );
        assert_eq!(route("/v1beta/models/x:countTokens"), None);
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    #[test]
    fn replayed_calls_need_a_signature() {
        let ok = json!({"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f"}, "thoughtSignature": "s"}, {"functionCall": {"name": "f"}}]}]});
        assert!(validate(ok.as_object().unwrap(), "gemini-3-pro").is_ok());
        let bad =
            json!({"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f"}}]}]});
        let bad = bad.as_object().unwrap();
        assert!(validate(bad, "gemini-3-pro")
            .unwrap_err()
            .contains("thought_signature"));
        assert!(validate(bad, "gemini-2.5-flash").is_ok());
        assert!(validate(json!({"messages": []}).as_object().unwrap(), "m").is_err());
    }
}
