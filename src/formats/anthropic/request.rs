//! Anthropic Messages request <-> canonical request.

use super::response::input_object;
use crate::formats::model::{
    ChatRequest, ContentPart, Effort, ImageSource, Message, RawRef, Reasoning, ResponseFormatKind,
    Role, SystemPart, Tool, ToolChoice,
};
use crate::formats::{
    from_json_with_unknown, missing, opt_cow_str, CowStr, EncodeOptions, StrOrSeq, TranslateError,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;

// === wire types: what clients send ===

/// Top-level request fields this module maps; anything else is reported as dropped.
const KNOWN_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
];

// Strings borrow from the body (`Cow`, see `CowStr`); `borrow` ties the lifetimes.
#[derive(Deserialize)]
struct InRequest<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(borrow)]
    messages: Vec<InMessage<'a>>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default, borrow)]
    system: Option<InSystem<'a>>,
    #[serde(default, borrow)]
    metadata: Option<InMetadata<'a>>,
    #[serde(default, borrow)]
    stop_sequences: Option<Vec<CowStr<'a>>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    top_k: Option<u32>,
    #[serde(default, borrow)]
    tools: Option<Vec<InTool<'a>>>,
    #[serde(default, borrow)]
    tool_choice: Option<InToolChoice<'a>>,
    #[serde(default, borrow)]
    thinking: Option<InThinking<'a>>,
}

type InSystem<'a> = StrOrSeq<'a, InSystemBlock<'a>>;

#[derive(Deserialize)]
struct InSystemBlock<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(default, borrow)]
    cache_control: Option<RawRef<'a>>,
}

#[derive(Deserialize)]
struct InMetadata<'a> {
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    user_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum InRole {
    User,
    Assistant,
}

#[derive(Deserialize)]
struct InMessage<'a> {
    role: InRole,
    #[serde(borrow)]
    content: InContent<'a>,
}

type InContent<'a> = StrOrSeq<'a, InBlock<'a>>;

/// One content block, read flat (no tagged-enum buffering); required fields per
/// type are checked when converting.
#[derive(Deserialize)]
struct InBlock<'a> {
    #[serde(rename = "type")]
    kind: InBlockKind,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    cache_control: Option<RawRef<'a>>,
    #[serde(default, borrow)]
    source: Option<InImageSource<'a>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    input: Option<RawRef<'a>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    tool_use_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    content: Option<InContent<'a>>,
    #[serde(default)]
    is_error: Option<bool>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    signature: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    data: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum InBlockKind {
    Text,
    Image,
    ToolUse,
    ToolResult,
    Thinking,
    RedactedThinking,
    Document,
    SearchResult,
    ServerToolUse,
    WebSearchToolResult,
}

#[derive(Deserialize)]
struct InImageSource<'a> {
    #[serde(rename = "type")]
    kind: InSourceKind,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    media_type: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    data: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    url: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum InSourceKind {
    Base64,
    Url,
    File,
}

#[derive(Deserialize)]
struct InTool<'a> {
    #[serde(rename = "type", default, borrow, deserialize_with = "opt_cow_str")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    description: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    input_schema: Option<RawRef<'a>>,
    #[serde(default, borrow)]
    cache_control: Option<RawRef<'a>>,
}

#[derive(Deserialize)]
struct InToolChoice<'a> {
    #[serde(rename = "type")]
    kind: InToolChoiceKind,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    name: Option<Cow<'a, str>>,
    #[serde(default)]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum InToolChoiceKind {
    Auto,
    Any,
    Tool,
    None,
}

#[derive(Deserialize)]
struct InThinking<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    budget_tokens: Option<u32>,
}

// === wire -> canonical ===

/// `path` names the content's parent for error paths; it is called only on error, so
/// valid requests format no paths.
fn blocks<'a>(
    content: InContent<'a>,
    path: &dyn Fn() -> String,
) -> Result<Vec<ContentPart<'a>>, TranslateError> {
    let list = match content {
        StrOrSeq::Str(text) => {
            return Ok(vec![ContentPart::Text {
                text,
                cache_control: None,
            }])
        }
        StrOrSeq::Seq(b) => b,
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, b) in list.into_iter().enumerate() {
        let at = |f: &str| format!("{}.content[{i}].{f}", path());
        let need = |v: Option<Cow<'a, str>>, f: &str| v.ok_or_else(|| missing(at(f)));
        out.push(match b.kind {
            InBlockKind::Text => ContentPart::Text {
                text: need(b.text, "text")?,
                cache_control: b.cache_control,
            },
            InBlockKind::Image => {
                let src = b.source.ok_or_else(|| missing(at("source")))?;
                ContentPart::Image(match src.kind {
                    InSourceKind::Base64 => ImageSource::Base64 {
                        media_type: need(src.media_type, "source.media_type")?,
                        data: need(src.data, "source.data")?,
                    },
                    InSourceKind::Url => ImageSource::Url(need(src.url, "source.url")?),
                    InSourceKind::File => {
                        return Err(TranslateError::new(
                            at("source"),
                            "file-id images exist only at Anthropic; send base64 or url images",
                        ))
                    }
                })
            }
            InBlockKind::ToolUse => ContentPart::ToolCall {
                id: need(b.id, "id")?,
                name: need(b.name, "name")?,
                // The input object's JSON text, as it is in the body.
                arguments: Cow::Borrowed(b.input.ok_or_else(|| missing(at("input")))?.0.get()),
            },
            InBlockKind::ToolResult => ContentPart::ToolResult {
                tool_call_id: need(b.tool_use_id, "tool_use_id")?,
                content: match b.content {
                    None => Vec::new(),
                    Some(c) => blocks(c, &|| format!("{}.content[{i}]", path()))?,
                },
                is_error: b.is_error.unwrap_or(false),
            },
            InBlockKind::Thinking => ContentPart::Thinking {
                text: need(b.thinking, "thinking")?,
                signature: b.signature,
            },
            InBlockKind::RedactedThinking => ContentPart::RedactedThinking {
                data: need(b.data, "data")?,
            },
            InBlockKind::Document
            | InBlockKind::SearchResult
            | InBlockKind::ServerToolUse
            | InBlockKind::WebSearchToolResult => {
                return Err(TranslateError::new(
                    at("type"),
                    "documents, search results and server tools can only be sent to an \
                     Anthropic provider; route this model to an Anthropic target",
                ))
            }
        });
    }
    Ok(out)
}

/// Parses an Anthropic Messages body into the canonical model.
pub fn parse(body: &[u8]) -> Result<ChatRequest<'_>, TranslateError> {
    let (req, dropped): (InRequest, _) = from_json_with_unknown(body, KNOWN_FIELDS)?;
    let mut out = ChatRequest {
        model: req.model,
        max_tokens: req.max_tokens,
        stream: req.stream.unwrap_or(false),
        // Anthropic streams always carry usage; OpenAI clients must ask for it.
        include_usage: true,
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        stop: req
            .stop_sequences
            .map(|v| v.into_iter().map(|s| s.0).collect())
            .unwrap_or_default(),
        user: req.metadata.and_then(|m| m.user_id),
        ..Default::default()
    };
    out.system = match req.system {
        None => Vec::new(),
        Some(StrOrSeq::Str(text)) => vec![SystemPart {
            text,
            cache_control: None,
        }],
        Some(StrOrSeq::Seq(b)) => b
            .into_iter()
            .map(|b| SystemPart {
                text: b.text,
                cache_control: b.cache_control,
            })
            .collect(),
    };
    for (i, m) in req.messages.into_iter().enumerate() {
        let role = match m.role {
            InRole::User => Role::User,
            InRole::Assistant => Role::Assistant,
        };
        out.messages.push(Message {
            role,
            content: blocks(m.content, &|| format!("messages[{i}]"))?,
        });
    }
    for (i, t) in req.tools.unwrap_or_default().into_iter().enumerate() {
        if let Some(kind) = t.kind.as_deref().filter(|k| *k != "custom") {
            return Err(TranslateError::new(
                format!("tools[{i}].type"),
                format!("server tool '{kind}' runs inside Anthropic and cannot be translated; route this model to an Anthropic target"),
            ));
        }
        out.tools.push(Tool {
            name: t.name,
            description: t.description,
            parameters: t.input_schema,
            strict: None,
            cache_control: t.cache_control,
        });
    }
    let (choice, disable_parallel) = match req.tool_choice {
        None => (None, None),
        Some(c) => {
            let choice = match c.kind {
                InToolChoiceKind::Auto => ToolChoice::Auto,
                InToolChoiceKind::Any => ToolChoice::Required,
                InToolChoiceKind::None => ToolChoice::None,
                InToolChoiceKind::Tool => {
                    ToolChoice::Named(c.name.ok_or_else(|| missing("tool_choice.name".into()))?)
                }
            };
            (Some(choice), c.disable_parallel_tool_use)
        }
    };
    out.tool_choice = choice;
    out.parallel_tool_calls = disable_parallel.map(|d| !d);
    out.reasoning = match req.thinking {
        None => None,
        Some(t) => match t.kind.as_ref() {
            "enabled" => Some(Reasoning::BudgetTokens(t.budget_tokens.unwrap_or(1024))),
            "disabled" => Some(Reasoning::Disabled),
            "adaptive" => Some(Reasoning::Effort(Effort::Medium)),
            other => {
                return Err(TranslateError::new(
                    "thinking.type",
                    format!("unknown value '{other}'; expected enabled or disabled"),
                ))
            }
        },
    };
    // Fields this module does not map are dropped when translating (and reported).
    out.dropped = dropped;
    out.body_len = body.len();
    Ok(out)
}

// === canonical -> wire: what we send to an Anthropic provider ===

#[derive(Serialize)]
struct OutRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<Vec<OutBlock<'a>>>,
    messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<OutToolChoice<'a>>,
    #[serde(skip_serializing_if = "<[Cow<str>]>::is_empty")]
    stop_sequences: &'a [Cow<'a, str>],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<OutMetadata<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<OutThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<OutOutputConfig<'a>>,
}

/// Structured outputs (generally available, no beta header, with
/// `anthropic-version: 2023-06-01`): `output_config.format` constrains the answer's
/// text to a JSON Schema. There is no schema-less JSON mode.
#[derive(Serialize)]
struct OutOutputConfig<'a> {
    format: OutOutputFormat<'a>,
}

#[derive(Serialize)]
struct OutOutputFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    schema: &'a RawValue,
}

// `tool_choice` and `thinking` were once `json!` values, whose maps write their keys
// sorted; the fields keep that order so the bytes sent stay the same.
#[derive(Serialize)]
struct OutToolChoice<'a> {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    disable_parallel_tool_use: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct OutThinking {
    budget_tokens: u32,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct OutMetadata<'a> {
    user_id: &'a str,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Vec<OutBlock<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutBlock<'a> {
    Text {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a RawValue>,
    },
    Image {
        source: OutImageSource<'a>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Cow<'a, RawValue>,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: Vec<OutBlock<'a>>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutImageSource<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

#[derive(Serialize)]
struct OutTool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a RawValue>,
}

/// The schema sent for a tool that declared none (Anthropic requires one).
fn empty_schema() -> &'static RawValue {
    const EMPTY: &str = r#"{"type":"object","properties":{}}"#;
    // Valid JSON, so the fallback is never taken.
    serde_json::from_str(EMPTY).unwrap_or(RawValue::NULL)
}

fn out_blocks<'a>(parts: &'a [ContentPart<'_>], out: &mut Vec<OutBlock<'a>>) {
    for p in parts {
        match p {
            // Anthropic rejects empty text blocks.
            ContentPart::Text { text, .. } if text.is_empty() => {}
            ContentPart::Text {
                text,
                cache_control,
            } => out.push(OutBlock::Text {
                text,
                cache_control: cache_control.as_deref(),
            }),
            ContentPart::Image(ImageSource::Base64 { media_type, data }) => {
                out.push(OutBlock::Image {
                    source: OutImageSource::Base64 { media_type, data },
                })
            }
            ContentPart::Image(ImageSource::Url(url)) => out.push(OutBlock::Image {
                source: OutImageSource::Url { url },
            }),
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => out.push(OutBlock::ToolUse {
                id,
                name,
                input: input_object(arguments),
            }),
            ContentPart::ToolResult {
                tool_call_id,
                content,
                is_error,
            } => {
                let mut inner = Vec::new();
                out_blocks(content, &mut inner);
                out.push(OutBlock::ToolResult {
                    tool_use_id: tool_call_id,
                    content: inner,
                    is_error: *is_error,
                });
            }
            // Anthropic verifies thinking signatures; unsigned reasoning from another
            // provider cannot be replayed and is left out.
            // Signatures other providers issued are theirs only (see
            // `model::tagged_signature`).
            ContentPart::Thinking {
                text,
                signature: Some(sig),
            } => {
                if let Some(signature) = crate::formats::model::signature_for(sig, None) {
                    out.push(OutBlock::Thinking {
                        thinking: text,
                        signature,
                    })
                }
            }
            ContentPart::Thinking { .. } => {}
            ContentPart::RedactedThinking { data } => out.push(OutBlock::RedactedThinking { data }),
        }
    }
}

/// Renders a canonical request as an Anthropic Messages body.
pub fn encode(
    req: &ChatRequest<'_>,
    opts: &EncodeOptions,
    dropped: &mut Vec<Cow<'_, str>>,
) -> Result<Vec<u8>, TranslateError> {
    let mut max_tokens = req.max_tokens.unwrap_or(opts.default_max_tokens);
    let thinking_budget = match &req.reasoning {
        None | Some(Reasoning::Disabled) => None,
        Some(Reasoning::Effort(e)) => Some(e.budget_tokens()),
        Some(Reasoning::BudgetTokens(b)) => Some(*b),
    };
    // Anthropic needs 1024 <= budget < max_tokens; the client's max_tokens (which
    // includes reasoning on both sides) wins, the budget shrinks to fit or is dropped.
    let thinking = match thinking_budget {
        Some(b) if max_tokens > 1024 => {
            let budget = b.clamp(1024, max_tokens - 1);
            Some(OutThinking {
                budget_tokens: budget,
                kind: "enabled",
            })
        }
        Some(_) => {
            dropped.push("reasoning_effort".into());
            None
        }
        None => None,
    };
    if max_tokens == 0 {
        max_tokens = 1;
    }
    let mut messages: Vec<OutMessage> = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut content = Vec::with_capacity(m.content.len());
        out_blocks(&m.content, &mut content);
        if content.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(content),
            _ => messages.push(OutMessage { role, content }),
        }
    }
    let system = (!req.system.is_empty()).then(|| {
        req.system
            .iter()
            .filter(|p| !p.text.is_empty())
            .map(|p| OutBlock::Text {
                text: &p.text,
                cache_control: p.cache_control.as_deref(),
            })
            .collect::<Vec<_>>()
    });
    let tools: Vec<OutTool> = req
        .tools
        .iter()
        .map(|t| OutTool {
            name: &t.name,
            description: t.description.as_deref(),
            input_schema: match t.parameters {
                Some(p) => p.0,
                None => empty_schema(),
            },
            cache_control: t.cache_control.as_deref(),
        })
        .collect();
    let disable_parallel = req.parallel_tool_calls == Some(false) && !tools.is_empty();
    let tool_choice = match (&req.tool_choice, disable_parallel) {
        (None, false) => None,
        (None, true) | (Some(ToolChoice::Auto), _) => Some(("auto", None)),
        (Some(ToolChoice::Required), _) => Some(("any", None)),
        (Some(ToolChoice::Named(n)), _) => Some(("tool", Some(n.as_ref()))),
        (Some(ToolChoice::None), _) => Some(("none", None)),
    }
    .map(|(kind, name)| OutToolChoice {
        disable_parallel_tool_use: disable_parallel && kind != "none",
        name,
        kind,
    });
    // Extended thinking does not combine with sampling overrides; newer API versions
    // take none of them at all.
    let sampling = opts.sampling_params && thinking.is_none();
    let mut keep = |name: &'static str, present: bool| {
        if present && !sampling {
            dropped.push(Cow::Borrowed(name));
        }
        present && sampling
    };
    let temperature = req.temperature.filter(|_| keep("temperature", true));
    let top_p = req.top_p.filter(|_| keep("top_p", true));
    let top_k = req.top_k.filter(|_| keep("top_k", true));
    if req.seed.is_some() {
        dropped.push("seed".into());
    }
    let output_config = match &req.response_format {
        None => None,
        Some(f) => match &f.kind {
            ResponseFormatKind::Text => None,
            ResponseFormatKind::JsonSchema {
                schema: Some(schema),
                ..
            } => Some(OutOutputConfig {
                format: OutOutputFormat {
                    kind: "json_schema",
                    schema: schema.0,
                },
            }),
            // JSON mode, or a schema format without a schema: nothing to send.
            ResponseFormatKind::JsonObject | ResponseFormatKind::JsonSchema { .. } => {
                dropped.push(Cow::Borrowed(f.param));
                None
            }
        },
    };
    let out = OutRequest {
        model: opts.model,
        max_tokens,
        system,
        messages,
        tools,
        tool_choice,
        stop_sequences: &req.stop,
        temperature,
        top_p,
        top_k,
        metadata: req.user.as_deref().map(|u| OutMetadata { user_id: u }),
        stream: req.stream,
        thinking,
        output_config,
    };
    let mut buf = crate::formats::request_buffer(req);
    serde_json::to_writer(&mut buf, &out)
        .map_err(|e| TranslateError::new("body", e.to_string()))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn opts() -> EncodeOptions<'static> {
        EncodeOptions {
            model: "claude-x",
            default_max_tokens: 4096,
            sampling_params: true,
            preset: None,
            stream_options: true,
        }
    }

    #[test]
    fn openai_history_becomes_valid_anthropic() {
        let body = br#"{"model":"m","messages":[
            {"role":"system","content":"sys one"},
            {"role":"user","content":"hi"},
            {"role":"assistant","content":"","tool_calls":[
              {"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},
              {"id":"c2","type":"function","function":{"name":"f","arguments":"not json"}}]},
            {"role":"tool","tool_call_id":"c1","content":"r1"},
            {"role":"tool","tool_call_id":"c2","content":"r2"},
            {"role":"user","content":"thanks"}],
            "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
            "parallel_tool_calls":false,"stop":["X"],"user":"u"}"#;
        let r = crate::formats::openai::request::parse(body).unwrap();
        let mut dropped = Vec::new();
        let out = encode(&r, &opts(), &mut dropped).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["max_tokens"], 4096);
        assert_eq!(v["system"][0]["text"], "sys one");
        let msgs = v["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 3, "{v}");
        assert_eq!(msgs[1]["content"][0]["type"], "tool_use");
        assert_eq!(msgs[1]["content"][0]["input"]["a"], 1);
        assert_eq!(msgs[1]["content"][1]["input"]["_raw_arguments"], "not json");
        let last = msgs[2]["content"].as_array().unwrap();
        assert_eq!(last[0]["type"], "tool_result");
        assert_eq!(last[0]["tool_use_id"], "c1");
        assert_eq!(last[1]["tool_use_id"], "c2");
        assert_eq!(last[2]["text"], "thanks");
        assert_eq!(v["tool_choice"]["disable_parallel_tool_use"], true);
        assert_eq!(v["stop_sequences"][0], "X");
        assert_eq!(v["metadata"]["user_id"], "u");
    }

    #[test]
    fn reasoning_effort_becomes_thinking_budget_and_drops_sampling() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"q"}],
            "reasoning_effort":"high","max_completion_tokens":32000,"temperature":0.3}"#;
        let r = crate::formats::openai::request::parse(body).unwrap();
        let mut dropped = Vec::new();
        let v: Value = serde_json::from_slice(&encode(&r, &opts(), &mut dropped).unwrap()).unwrap();
        assert_eq!(v["thinking"]["budget_tokens"], 24576);
        assert!(v.get("temperature").is_none());
        assert_eq!(dropped, vec!["temperature".to_string()]);
    }

    #[test]
    fn json_schema_becomes_output_config_and_json_mode_and_seed_are_dropped() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"q"}],"seed":3,
            "response_format":{"type":"json_schema","json_schema":{"name":"city","strict":true,
              "schema":{"type":"object","properties":{"name":{"type":"string"}}}}}}"#;
        let r = crate::formats::openai::request::parse(body).unwrap();
        let mut dropped = Vec::new();
        let v: Value = serde_json::from_slice(&encode(&r, &opts(), &mut dropped).unwrap()).unwrap();
        assert_eq!(
            v["output_config"],
            serde_json::json!({"format": {"type": "json_schema",
                "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}})
        );
        assert!(v.get("seed").is_none());
        assert_eq!(dropped, vec!["seed".to_string()]);

        let body = br#"{"model":"m","input":"q","text":{"format":{"type":"json_object"}}}"#;
        let r = crate::formats::responses::request::parse(body).unwrap();
        let mut dropped = Vec::new();
        let v: Value = serde_json::from_slice(&encode(&r, &opts(), &mut dropped).unwrap()).unwrap();
        assert!(v.get("output_config").is_none(), "{v}");
        assert_eq!(dropped, vec!["text.format".to_string()]);

        let body = br#"{"model":"m","input":"q","text":{"format":{"type":"text"}}}"#;
        let r = crate::formats::responses::request::parse(body).unwrap();
        let mut dropped = Vec::new();
        let v: Value = serde_json::from_slice(&encode(&r, &opts(), &mut dropped).unwrap()).unwrap();
        assert!(v.get("output_config").is_none(), "{v}");
        assert!(dropped.is_empty());
    }

    #[test]
    fn parses_blocks_system_and_thinking() {
        let body = br#"{"model":"m","max_tokens":100,
          "system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],
          "thinking":{"type":"enabled","budget_tokens":2000},
          "tool_choice":{"type":"any","disable_parallel_tool_use":true},
          "messages":[{"role":"user","content":[
             {"type":"image","source":{"type":"url","url":"https://x/i.png"}},
             {"type":"text","text":"what"}]}],
          "metadata":{"user_id":"u9"},"service_tier":"auto"}"#;
        let r = parse(body).unwrap();
        assert!(r.system[0].cache_control.is_some());
        assert_eq!(r.reasoning, Some(Reasoning::BudgetTokens(2000)));
        assert_eq!(r.tool_choice, Some(ToolChoice::Required));
        assert_eq!(r.parallel_tool_calls, Some(false));
        assert_eq!(r.user.as_deref(), Some("u9"));
        assert_eq!(r.dropped, vec!["service_tier".to_string()]);
        let mut dropped = Vec::new();
        let out = crate::formats::openai::request::encode(
            &r,
            &EncodeOptions {
                model: "gpt",
                default_max_tokens: 1,
                sampling_params: true,
                preset: None,
                stream_options: true,
            },
            &mut dropped,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["reasoning_effort"], "low");
        assert_eq!(v["tool_choice"], "required");
        assert_eq!(
            v["messages"][1]["content"][0]["image_url"]["url"],
            "https://x/i.png"
        );
        assert_eq!(v["user"], "u9");
    }

    #[test]
    fn plain_strings_are_borrowed_and_escaped_ones_decoded() {
        let body = br#"{"model":"m","max_tokens":1,
          "system":[{"type":"text","text":"caf\u00e9","cache_control":{"type":"ephemeral"}}],
          "tools":[{"name":"f","input_schema":{"type":"object"}}],
          "messages":[{"role":"user","content":[
             {"type":"image","source":{"type":"base64","media_type":"image/png","data":"QUJD"}},
             {"type":"text","text":"plain"}]},
            {"role":"assistant","content":[
             {"type":"text","text":"a\nb"},
             {"type":"tool_use","id":"t1","name":"f","input":{"x": "\n"}}]}]}"#;
        let r = parse(body).unwrap();
        assert!(matches!(&r.system[0].text, Cow::Owned(t) if t == "caf\u{e9}"));
        assert_eq!(
            r.system[0].cache_control.map(|c| c.0.get()),
            Some(r#"{"type":"ephemeral"}"#)
        );
        assert_eq!(
            r.tools[0].parameters.map(|p| p.0.get()),
            Some(r#"{"type":"object"}"#)
        );
        let user = &r.messages[0].content;
        assert!(matches!(
            &user[0],
            ContentPart::Image(ImageSource::Base64 {
                media_type: Cow::Borrowed("image/png"),
                data: Cow::Borrowed("QUJD")
            })
        ));
        assert!(matches!(
            &user[1],
            ContentPart::Text {
                text: Cow::Borrowed("plain"),
                ..
            }
        ));
        let assistant = &r.messages[1].content;
        assert!(
            matches!(&assistant[0], ContentPart::Text { text: Cow::Owned(t), .. } if t == "a\nb")
        );
        // Tool input is raw JSON text: borrowed as written, escapes included.
        assert!(matches!(
            &assistant[1],
            ContentPart::ToolCall {
                arguments: Cow::Borrowed(r#"{"x": "\n"}"#),
                ..
            }
        ));
    }

    #[test]
    fn server_tools_are_refused_with_path() {
        let body = br#"{"model":"m","max_tokens":1,"messages":[],"tools":[{"type":"web_search_20250305","name":"web_search"}]}"#;
        let e = parse(body).unwrap_err();
        assert_eq!(e.path, "tools[0].type");
    }
}
