//! OpenAI Chat Completions emulation: validation, error bodies, echo replies.

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::common::{json_type, to_json, EchoCtx, Reply, JSON, SSE};
use crate::options::split_reply;

const ANTHROPIC_ONLY_KEYS: &[&str] = &[
    "stop_sequences",
    "top_k",
    "system",
    "thinking",
    "max_tokens_to_sample",
];
const ROLES: &[&str] = &["system", "developer", "user", "assistant", "tool"];

/// Validates a Chat Completions request body like the real API would (400 on error).
pub fn validate(body: &Map<String, Value>) -> Result<(), String> {
    for key in ANTHROPIC_ONLY_KEYS {
        if body.contains_key(*key) {
            return Err(format!("Unrecognized request argument supplied: {key}"));
        }
    }
    match body.get("model") {
        None | Some(Value::Null) => return Err("you must provide a model parameter".into()),
        Some(Value::String(_)) => {}
        Some(v) => {
            return Err(format!(
                "Invalid type for 'model': expected a string, but got {} instead.",
                json_type(v)
            ))
        }
    }
    let messages = match body.get("messages") {
        None | Some(Value::Null) => return Err("Missing required parameter: 'messages'.".into()),
        Some(Value::Array(m)) => m,
        Some(v) => {
            return Err(format!(
                "Invalid type for 'messages': expected an array of objects, but got {} instead.",
                json_type(v)
            ))
        }
    };
    for (i, msg) in messages.iter().enumerate() {
        let Some(obj) = msg.as_object() else {
            return Err(format!(
                "Invalid type for 'messages[{i}]': expected an object, but got {} instead.",
                json_type(msg)
            ));
        };
        match obj.get("role") {
            Some(Value::String(r)) if ROLES.contains(&r.as_str()) => {}
            Some(Value::String(r)) => {
                return Err(format!(
                    "Invalid value: '{r}'. Supported values are: 'system', 'assistant', 'user', \
                     'tool', and 'developer'."
                ))
            }
            None => return Err(format!("Missing required parameter: 'messages[{i}].role'.")),
            Some(v) => {
                return Err(format!(
                    "Invalid type for 'messages[{i}].role': expected a string, but got {} \
                     instead.",
                    json_type(v)
                ))
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    error: ErrorInner<'a>,
}

#[derive(Serialize)]
struct ErrorInner<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

/// `(type, code)` for an HTTP status.
fn error_kind(status: u16) -> (&'static str, Option<&'static str>) {
    match status {
        401 => ("authentication_error", Some("invalid_api_key")),
        429 => ("rate_limit_error", Some("rate_limit_exceeded")),
        500..=599 => ("server_error", None),
        _ => ("invalid_request_error", None),
    }
}

/// OpenAI-shaped error body.
pub fn error_body(status: u16, message: &str) -> Bytes {
    let (kind, code) = error_kind(status);
    let env = ErrorEnvelope {
        error: ErrorInner {
            message,
            kind,
            param: None,
            code,
        },
    };
    Bytes::from(to_json(&env))
}

/// Message used for a simulated `status=NNN` error.
pub fn status_message(status: u16, model: &str) -> String {
    match status {
        400 => "Invalid request (simulated by switchyard-mock).".into(),
        401 => "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.".into(),
        403 => "You are not allowed to sample from this model".into(),
        404 => format!("The model `{model}` does not exist or you do not have access to it."),
        429 => "Rate limit reached for requests. Please try again later.".into(),
        500 => "The server had an error while processing your request. Sorry about that!".into(),
        502 => "Bad gateway.".into(),
        503 => "The engine is currently overloaded, please try again later.".into(),
        _ => format!("Simulated error status {status} (switchyard-mock)."),
    }
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
}

#[derive(Serialize)]
struct PromptDetails {
    cached_tokens: u64,
}

#[derive(Serialize)]
struct CompletionDetails {
    reasoning_tokens: u64,
}

impl Usage {
    fn new(input: u64, output: u64) -> Self {
        Usage {
            prompt_tokens: input,
            completion_tokens: output,
            total_tokens: input + output,
            prompt_tokens_details: PromptDetails { cached_tokens: 0 },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: 0,
            },
        }
    }
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: Usage,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
    refusal: Option<()>,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<ChunkChoice<'a>>,
    /// `Some(None)` serializes as `"usage":null` (sent when include_usage is on).
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Delta<'a> {
    Role {
        role: &'static str,
        content: &'static str,
        refusal: Option<()>,
    },
    Content {
        content: &'a str,
    },
    Empty {},
}

fn sse(chunk: &Chunk<'_>) -> Bytes {
    Bytes::from(format!("data: {}\n\n", to_json(chunk)))
}

/// The echo reply, as JSON or SSE depending on `ctx.stream`.
pub fn echo(ctx: &EchoCtx<'_>) -> Reply {
    let id = format!("chatcmpl-mock{}", ctx.counter);
    if !ctx.stream {
        let body = Completion {
            id: &id,
            object: "chat.completion",
            created: ctx.created,
            model: ctx.model,
            choices: [Choice {
                index: 0,
                message: Message {
                    role: "assistant",
                    content: &ctx.text,
                    refusal: None,
                },
                logprobs: None,
                finish_reason: "stop",
            }],
            usage: Usage::new(ctx.input_tokens, ctx.output_tokens),
        };
        return Reply {
            content_type: JSON,
            frames: vec![Bytes::from(to_json(&body))],
            exact: true,
        };
    }

    let pieces = split_reply(&ctx.text, ctx.events);
    let chunk = |delta: Delta<'_>, finish: Option<&'static str>| -> Bytes {
        sse(&Chunk {
            id: &id,
            object: "chat.completion.chunk",
            created: ctx.created,
            model: ctx.model,
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: finish,
            }],
            usage: if ctx.include_usage { Some(None) } else { None },
        })
    };
    let mut frames = Vec::with_capacity(pieces.len() + 4);
    frames.push(chunk(
        Delta::Role {
            role: "assistant",
            content: "",
            refusal: None,
        },
        None,
    ));
    for p in pieces {
        frames.push(chunk(Delta::Content { content: p }, None));
    }
    frames.push(chunk(Delta::Empty {}, Some("stop")));
    if ctx.include_usage {
        frames.push(sse(&Chunk {
            id: &id,
            object: "chat.completion.chunk",
            created: ctx.created,
            model: ctx.model,
            choices: Vec::new(),
            usage: Some(Some(Usage::new(ctx.input_tokens, ctx.output_tokens))),
        }));
    }
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    Reply {
        content_type: SSE,
        frames,
        exact: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn validation() {
        let ok = json!({"model": "m", "messages": [{"role": "developer", "content": "x"}]});
        assert!(validate(&obj(ok)).is_ok());
        let e = validate(&obj(json!({"model": "m", "messages": [], "top_k": 3}))).unwrap_err();
        assert_eq!(e, "Unrecognized request argument supplied: top_k");
        assert!(validate(&obj(json!({"messages": []}))).is_err());
        assert!(validate(&obj(json!({"model": "m"}))).is_err());
        assert!(validate(&obj(json!({"model": "m", "messages": {}}))).is_err());
        assert!(validate(&obj(json!({"model": "m", "messages": [{"role": "human"}]}))).is_err());
    }

    #[test]
    fn echo_stream_shape() {
        let ctx = EchoCtx {
            model: "gpt-x",
            counter: 7,
            created: 1,
            text: "echo: hi there".into(),
            stream: true,
            include_usage: true,
            input_tokens: 10,
            output_tokens: 3,
            events: None,
        };
        let r = echo(&ctx);
        assert_eq!(r.content_type, SSE);
        // role + 3 words + finish + usage + DONE
        assert_eq!(r.frames.len(), 7);
        let first: Value = serde_json::from_slice(&r.frames[0][6..r.frames[0].len() - 2]).unwrap();
        assert_eq!(first["id"], "chatcmpl-mock7");
        assert_eq!(
            first["choices"][0]["delta"],
            json!({"role": "assistant", "content": "", "refusal": null})
        );
        assert!(first["usage"].is_null() && first.get("usage").is_some());
        let usage: Value = serde_json::from_slice(&r.frames[5][6..r.frames[5].len() - 2]).unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["total_tokens"], 13);
        assert_eq!(&r.frames[6][..], b"data: [DONE]\n\n");
        let text: String = r.frames[1..4]
            .iter()
            .map(|f| {
                let v: Value = serde_json::from_slice(&f[6..f.len() - 2]).unwrap();
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(text, "echo: hi there");
    }
}
