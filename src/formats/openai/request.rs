//! OpenAI Chat Completions request <-> canonical request.

use super::preset::mistral_tool_id;
use crate::formats::model::{
    ChatRequest, ContentPart, Effort, ImageSource, Message, RawRef, Reasoning, ResponseFormat,
    ResponseFormatKind, Role, SystemPart, Tool, ToolChoice,
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
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "stream",
    "stream_options",
    "user",
    "reasoning_effort",
    "n",
    "response_format",
    "seed",
];

// Strings borrow from the body (`Cow`, see `CowStr`); `borrow` ties the lifetimes.
#[derive(Deserialize)]
struct InRequest<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(borrow)]
    messages: Vec<InMessage<'a>>,
    #[serde(default, borrow)]
    tools: Option<Vec<InTool<'a>>>,
    #[serde(default, borrow)]
    tool_choice: Option<InToolChoice<'a>>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default, borrow)]
    stop: Option<InStop<'a>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<InStreamOptions>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    user: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    reasoning_effort: Option<Cow<'a, str>>,
    #[serde(default)]
    n: Option<u32>,
    #[serde(default, borrow)]
    response_format: Option<InResponseFormat<'a>>,
    #[serde(default)]
    seed: Option<i64>,
}

/// `{"type": "text" | "json_object"}` or `{"type": "json_schema", "json_schema": {…}}`.
#[derive(Deserialize)]
struct InResponseFormat<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    json_schema: Option<InJsonSchema<'a>>,
}

/// A JSON-schema format's body: nested under `json_schema` in Chat Completions, flat
/// in Responses' `text.format`.
#[derive(Deserialize, Default)]
pub(crate) struct InJsonSchema<'a> {
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    pub description: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub schema: Option<RawRef<'a>>,
    #[serde(default)]
    pub strict: Option<bool>,
}

/// The canonical format of a `type` and its schema body. `param` is the client's
/// field name (for errors and `x-switchyard-dropped`), `schema_at` the path of the
/// schema body in the client's request.
pub(crate) fn response_format<'a>(
    kind: &str,
    schema: Option<InJsonSchema<'a>>,
    param: &'static str,
    schema_at: &'static str,
) -> Result<ResponseFormat<'a>, TranslateError> {
    let kind = match kind {
        "text" => ResponseFormatKind::Text,
        "json_object" => ResponseFormatKind::JsonObject,
        "json_schema" => {
            let s = schema.ok_or_else(|| missing(schema_at.into()))?;
            ResponseFormatKind::JsonSchema {
                name: s.name.ok_or_else(|| missing(format!("{schema_at}.name")))?,
                description: s.description,
                schema: s.schema,
                strict: s.strict,
            }
        }
        other => {
            return Err(TranslateError::new(
                format!("{param}.type"),
                format!("unknown value '{other}'; expected text, json_object or json_schema"),
            ))
        }
    };
    Ok(ResponseFormat { kind, param })
}

/// One message, read flat (no tagged-enum buffering); required fields per role are
/// checked when converting.
#[derive(Deserialize)]
struct InMessage<'a> {
    role: InRole,
    #[serde(default, borrow)]
    content: Option<InContent<'a>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<InToolCall<'a>>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    tool_call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    reasoning_content: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum InRole {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

type InContent<'a> = StrOrSeq<'a, InPart<'a>>;

#[derive(Deserialize)]
struct InPart<'a> {
    #[serde(rename = "type")]
    kind: InPartKind,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    image_url: Option<InImageUrl<'a>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    refusal: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum InPartKind {
    Text,
    ImageUrl,
    Refusal,
    InputAudio,
    File,
}

#[derive(Deserialize)]
struct InImageUrl<'a> {
    #[serde(borrow)]
    url: Cow<'a, str>,
}

#[derive(Deserialize)]
struct InToolCall<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    function: InFunctionCall<'a>,
}

#[derive(Deserialize)]
struct InFunctionCall<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    arguments: Cow<'a, str>,
}

#[derive(Deserialize)]
struct InTool<'a> {
    #[serde(rename = "type", default = "function_type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    function: Option<InFunction<'a>>,
}

fn function_type<'a>() -> Cow<'a, str> {
    Cow::Borrowed("function")
}

#[derive(Deserialize)]
struct InFunction<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    description: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    parameters: Option<RawRef<'a>>,
    #[serde(default)]
    strict: Option<bool>,
}

/// `"auto"` or `{"type": "function", "function": {"name": ...}}`.
enum InToolChoice<'a> {
    Mode(Cow<'a, str>),
    Named { function: InNamed<'a> },
}

impl<'de: 'a, 'a> Deserialize<'de> for InToolChoice<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = InToolChoice<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<InToolChoice<'a>, E> {
                Ok(InToolChoice::Mode(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<InToolChoice<'a>, E> {
                Ok(InToolChoice::Mode(Cow::Owned(v.to_owned())))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                m: A,
            ) -> Result<InToolChoice<'a>, A::Error> {
                #[derive(Deserialize)]
                struct Named<'a> {
                    #[serde(borrow)]
                    function: InNamed<'a>,
                }
                let n = Named::deserialize(serde::de::value::MapAccessDeserializer::new(m))?;
                Ok(InToolChoice::Named {
                    function: n.function,
                })
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct InNamed<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

type InStop<'a> = StrOrSeq<'a, CowStr<'a>>;

#[derive(Deserialize)]
struct InStreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

// === wire -> canonical ===

/// `msg` is the message's index, for error paths (built only on error).
fn content_parts<'a>(
    content: InContent<'a>,
    msg: usize,
) -> Result<Vec<ContentPart<'a>>, TranslateError> {
    match content {
        StrOrSeq::Str(text) => Ok(vec![ContentPart::Text {
            text,
            cache_control: None,
        }]),
        StrOrSeq::Seq(parts) => parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let at = |f: &str| format!("messages[{msg}].content[{i}].{f}");
                match p.kind {
                    InPartKind::Text => Ok(ContentPart::Text {
                        text: p.text.ok_or_else(|| missing(at("text")))?,
                        cache_control: None,
                    }),
                    InPartKind::Refusal => Ok(ContentPart::Text {
                        text: p.refusal.ok_or_else(|| missing(at("refusal")))?,
                        cache_control: None,
                    }),
                    InPartKind::ImageUrl => {
                        let img = p.image_url.ok_or_else(|| missing(at("image_url")))?;
                        Ok(ContentPart::Image(ImageSource::from_url(img.url)))
                    }
                    InPartKind::InputAudio | InPartKind::File => Err(TranslateError::new(
                        at("type"),
                        "audio and file parts can only be sent to an OpenAI provider; \
                         route this model to an OpenAI target or send text/images",
                    )),
                }
            })
            .collect(),
    }
}

fn text_of(content: InContent<'_>) -> Cow<'_, str> {
    match content {
        StrOrSeq::Str(t) => t,
        StrOrSeq::Seq(parts) => {
            let mut texts = parts
                .into_iter()
                .filter(|p| matches!(p.kind, InPartKind::Text))
                .filter_map(|p| p.text);
            // One text part (the usual case) stays borrowed.
            match (texts.next(), texts.next()) {
                (None, _) => Cow::Borrowed(""),
                (Some(one), None) => one,
                (Some(a), Some(b)) => {
                    let mut s = a.into_owned();
                    s.push_str(&b);
                    texts.for_each(|t| s.push_str(&t));
                    Cow::Owned(s)
                }
            }
        }
    }
}

/// Parses an OpenAI request body into the canonical model.
pub fn parse<'a>(body: &'a [u8]) -> Result<ChatRequest<'a>, TranslateError> {
    let (req, dropped): (InRequest<'a>, _) = from_json_with_unknown(body, KNOWN_FIELDS)?;
    let mut out = ChatRequest {
        model: req.model,
        stream: req.stream.unwrap_or(false),
        include_usage: req
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        parallel_tool_calls: req.parallel_tool_calls,
        user: req.user,
        seed: req.seed,
        stop: match req.stop {
            None => Vec::new(),
            Some(StrOrSeq::Str(s)) => vec![s],
            Some(StrOrSeq::Seq(v)) => v.into_iter().map(|s| s.0).collect(),
        },
        ..Default::default()
    };
    if let Some(n) = req.n {
        if n > 1 {
            return Err(TranslateError::new(
                "n",
                format!("n={n} (several choices) is only supported by OpenAI providers; send n=1"),
            ));
        }
    }
    if let Some(f) = req.response_format {
        out.response_format = Some(response_format(
            &f.kind,
            f.json_schema,
            "response_format",
            "response_format.json_schema",
        )?);
    }
    if let Some(effort) = req.reasoning_effort {
        let e = Effort::parse(&effort).ok_or_else(|| {
            TranslateError::new(
                "reasoning_effort",
                format!("unknown value '{effort}'; expected minimal, low, medium or high"),
            )
        })?;
        out.reasoning = Some(Reasoning::Effort(e));
    }
    for (i, m) in req.messages.into_iter().enumerate() {
        let content =
            |c: Option<InContent<'a>>| c.ok_or_else(|| missing(format!("messages[{i}].content")));
        match m.role {
            InRole::System | InRole::Developer => {
                out.system.push(SystemPart {
                    text: text_of(content(m.content)?),
                    cache_control: None,
                });
            }
            InRole::User => {
                let content = content_parts(content(m.content)?, i)?;
                push_message(&mut out.messages, Role::User, content);
            }
            InRole::Assistant => {
                let mut parts = Vec::new();
                if let Some(r) = m.reasoning_content.filter(|r| !r.is_empty()) {
                    parts.push(ContentPart::Thinking {
                        text: r,
                        signature: None,
                    });
                }
                if let Some(c) = m.content {
                    parts.extend(content_parts(c, i)?);
                }
                if let Some(r) = m.refusal {
                    parts.push(ContentPart::Text {
                        text: r,
                        cache_control: None,
                    });
                }
                for call in m.tool_calls.unwrap_or_default() {
                    parts.push(ContentPart::ToolCall {
                        id: call.id,
                        name: call.function.name,
                        arguments: call.function.arguments,
                    });
                }
                push_message(&mut out.messages, Role::Assistant, parts);
            }
            InRole::Tool => {
                let tool_call_id = m
                    .tool_call_id
                    .ok_or_else(|| missing(format!("messages[{i}].tool_call_id")))?;
                let content = content_parts(content(m.content)?, i)?;
                let part = ContentPart::ToolResult {
                    tool_call_id,
                    content,
                    is_error: false,
                };
                push_message(&mut out.messages, Role::User, vec![part]);
            }
        }
    }
    for (i, t) in req.tools.unwrap_or_default().into_iter().enumerate() {
        let f = match (t.kind.as_ref(), t.function) {
            ("function", Some(f)) => f,
            (kind, _) => {
                return Err(TranslateError::new(
                    format!("tools[{i}]"),
                    format!("tool type '{kind}' needs a 'function' object; only function tools can be translated"),
                ))
            }
        };
        out.tools.push(Tool {
            name: f.name,
            description: f.description,
            parameters: f.parameters,
            strict: f.strict,
            cache_control: None,
        });
    }
    out.tool_choice = match req.tool_choice {
        None => None,
        Some(InToolChoice::Mode(m)) => Some(match m.as_ref() {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            other => {
                return Err(TranslateError::new(
                    "tool_choice",
                    format!("unknown value '{other}'; expected none, auto, required or a function"),
                ))
            }
        }),
        Some(InToolChoice::Named { function }) => Some(ToolChoice::Named(function.name)),
    };
    // Fields this module does not map are dropped when translating (and reported).
    out.dropped = dropped;
    out.body_len = body.len();
    Ok(out)
}

/// Appends, merging into the previous message when the role repeats (OpenAI sends one
/// `tool` message per result; canonical keeps them in one user turn).
pub(crate) fn push_message<'a>(
    messages: &mut Vec<Message<'a>>,
    role: Role,
    content: Vec<ContentPart<'a>>,
) {
    if let Some(last) = messages.last_mut() {
        if last.role == role {
            // Tool results must stay ahead of user text in the same turn.
            let is_result = |p: &ContentPart<'_>| matches!(p, ContentPart::ToolResult { .. });
            if content.iter().all(is_result) && !last.content.iter().all(is_result) {
                let pos = last.content.iter().take_while(|p| is_result(p)).count();
                last.content.splice(pos..pos, content);
            } else {
                last.content.extend(content);
            }
            return;
        }
    }
    messages.push(Message { role, content });
}

// === canonical -> wire: what we send to an OpenAI provider ===

#[derive(Serialize)]
struct OutRequest<'a> {
    model: &'a str,
    messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<OutToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    /// The older spelling, which the OpenAI-compatible services take (presets).
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[Cow<str>]>::is_empty")]
    stop: &'a [Cow<'a, str>],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<OutStreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<OutResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutResponseFormat<'a> {
    Text,
    JsonObject,
    JsonSchema { json_schema: OutJsonSchema<'a> },
}

#[derive(Serialize)]
struct OutJsonSchema<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

impl<'a> OutResponseFormat<'a> {
    fn new(f: &'a ResponseFormat<'_>) -> Self {
        match &f.kind {
            ResponseFormatKind::Text => OutResponseFormat::Text,
            ResponseFormatKind::JsonObject => OutResponseFormat::JsonObject,
            ResponseFormatKind::JsonSchema {
                name,
                description,
                schema,
                strict,
            } => OutResponseFormat::JsonSchema {
                json_schema: OutJsonSchema {
                    name,
                    description: description.as_deref(),
                    schema: schema.as_deref(),
                    strict: *strict,
                },
            },
        }
    }
}

/// `"auto"` or the named form. The named form was once a `json!` value, whose map
/// writes keys sorted; the fields keep that order so the bytes sent stay the same.
#[derive(Serialize)]
#[serde(untagged)]
enum OutToolChoice<'a> {
    Mode(&'static str),
    Named {
        function: OutNamed<'a>,
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

#[derive(Serialize)]
struct OutNamed<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct OutStreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<OutContent<'a>>,
    /// DeepSeek: the reasoning of an assistant turn that called tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<OutToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutContent<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<OutPart<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutPart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: OutImageUrl<'a> },
}

#[derive(Serialize)]
struct OutImageUrl<'a> {
    url: Cow<'a, str>,
}

#[derive(Serialize)]
struct OutToolCall<'a> {
    id: Cow<'a, str>,
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutFunctionCall<'a>,
}

#[derive(Serialize)]
struct OutFunctionCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct OutTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutFunction<'a>,
}

#[derive(Serialize)]
struct OutFunction<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

fn user_content<'a>(parts: &[&'a ContentPart<'_>]) -> Option<OutContent<'a>> {
    if let [ContentPart::Text { text, .. }] = parts {
        return Some(OutContent::Text(Cow::Borrowed(text)));
    }
    let out: Vec<OutPart<'a>> = parts
        .iter()
        .filter_map(|p| match p {
            ContentPart::Text { text, .. } => Some(OutPart::Text { text }),
            ContentPart::Image(img) => Some(OutPart::ImageUrl {
                image_url: OutImageUrl { url: img.to_url() },
            }),
            _ => None,
        })
        .collect();
    (!out.is_empty()).then_some(OutContent::Parts(out))
}

/// Renders a canonical request as an OpenAI Chat Completions body.
pub fn encode<'a>(
    req: &'a ChatRequest<'_>,
    opts: &EncodeOptions,
    dropped: &mut Vec<Cow<'_, str>>,
) -> Result<Vec<u8>, TranslateError> {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        let text = match req.system.as_slice() {
            [one] => Cow::Borrowed(one.text.as_ref()),
            parts => Cow::Owned(
                parts
                    .iter()
                    .map(|p| p.text.as_ref())
                    .collect::<Vec<_>>()
                    .join("\n\n"),
            ),
        };
        messages.push(OutMessage {
            role: "system",
            content: Some(OutContent::Text(text)),
            reasoning_content: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
        });
    }
    let preset = opts.preset;
    let tool_id = |id: &'a str| -> Cow<'a, str> {
        match preset {
            Some(p) if p.short_tool_ids() => mistral_tool_id(id),
            _ => Cow::Borrowed(id),
        }
    };
    for m in &req.messages {
        match m.role {
            Role::User => encode_user(m, &tool_id, &mut messages),
            Role::Assistant => {
                let mut text = Cow::Borrowed("");
                let mut reasoning = Cow::Borrowed("");
                let mut tool_calls = Vec::new();
                for p in &m.content {
                    match p {
                        ContentPart::Text { text: t, .. } => append(&mut text, t),
                        ContentPart::Thinking { text: t, .. } => append(&mut reasoning, t),
                        ContentPart::ToolCall {
                            id,
                            name,
                            arguments,
                        } => tool_calls.push(OutToolCall {
                            id: tool_id(id),
                            kind: "function",
                            function: OutFunctionCall {
                                name,
                                arguments: if arguments.is_empty() {
                                    "{}"
                                } else {
                                    arguments
                                },
                            },
                        }),
                        _ => {}
                    }
                }
                // OpenAI takes no reasoning input (the model re-reasons); DeepSeek
                // wants it back on the turns that called tools.
                let replay = preset.is_some_and(|p| p.replays_reasoning())
                    && !tool_calls.is_empty()
                    && !reasoning.is_empty();
                messages.push(OutMessage {
                    role: "assistant",
                    content: (!text.is_empty() || tool_calls.is_empty())
                        .then_some(OutContent::Text(text)),
                    reasoning_content: replay.then_some(reasoning),
                    tool_calls,
                    tool_call_id: None,
                });
            }
        }
    }
    if req.top_k.is_some() {
        dropped.push("top_k".into());
    }
    let mut reasoning_effort = match &req.reasoning {
        None | Some(Reasoning::Disabled) => None,
        Some(Reasoning::Effort(e)) => Some(e.as_str()),
        Some(Reasoning::BudgetTokens(b)) => Some(Effort::from_budget(*b).as_str()),
    };
    if reasoning_effort.is_some() && preset.is_some_and(|p| !p.takes_reasoning_effort()) {
        reasoning_effort = None;
        dropped.push("reasoning_effort".into());
    }
    let out = OutRequest {
        model: opts.model,
        messages,
        tools: req
            .tools
            .iter()
            .map(|t| OutTool {
                kind: "function",
                function: OutFunction {
                    name: &t.name,
                    description: t.description.as_deref(),
                    parameters: t.parameters.as_deref(),
                    strict: t.strict,
                },
            })
            .collect(),
        tool_choice: req.tool_choice.as_ref().map(|c| match c {
            ToolChoice::None => OutToolChoice::Mode("none"),
            ToolChoice::Auto => OutToolChoice::Mode("auto"),
            ToolChoice::Required => {
                OutToolChoice::Mode(preset.map_or("required", |p| p.tool_choice_required()))
            }
            ToolChoice::Named(n) => OutToolChoice::Named {
                function: OutNamed { name: n },
                kind: "function",
            },
        }),
        parallel_tool_calls: if req.tools.is_empty() {
            None
        } else {
            req.parallel_tool_calls
        },
        max_completion_tokens: req.max_tokens.filter(|_| preset.is_none()),
        max_tokens: req.max_tokens.filter(|_| preset.is_some()),
        temperature: req.temperature,
        top_p: req.top_p,
        stop: &req.stop,
        stream: req.stream,
        // Always ask for usage on streams: the gateway accounts for it even when the
        // client did not ask (the encoder only shows it to clients that did).
        // Not to a provider that rejected it (it then sends usage unasked, or none).
        stream_options: (req.stream && opts.stream_options).then_some(OutStreamOptions {
            include_usage: true,
        }),
        user: req.user.as_deref(),
        reasoning_effort,
        response_format: req.response_format.as_ref().map(OutResponseFormat::new),
        seed: req.seed,
    };
    let mut buf = crate::formats::request_buffer(req);
    serde_json::to_writer(&mut buf, &out)
        .map_err(|e| TranslateError::new("body", e.to_string()))?;
    Ok(buf)
}

/// Appends `t` to `text`, copying only when there is something to append to: a turn
/// with a single text part is sent as a slice of the client's body.
fn append<'a>(text: &mut Cow<'a, str>, t: &'a str) {
    if text.is_empty() {
        *text = Cow::Borrowed(t);
    } else if !t.is_empty() {
        text.to_mut().push_str(t);
    }
}

/// A canonical user turn becomes `tool` messages (one per result, first) and then a
/// `user` message with the remaining text and images.
fn encode_user<'a>(
    m: &'a Message<'_>,
    tool_id: &impl Fn(&'a str) -> Cow<'a, str>,
    messages: &mut Vec<OutMessage<'a>>,
) {
    let mut rest: Vec<&'a ContentPart> = Vec::new();
    let mut result_images: Vec<&'a ContentPart> = Vec::new();
    for p in &m.content {
        match p {
            ContentPart::ToolResult {
                tool_call_id,
                content,
                is_error,
            } => {
                let mut text = Cow::Borrowed(if *is_error { "Error: " } else { "" });
                for c in content {
                    match c {
                        ContentPart::Text { text: t, .. } => append(&mut text, t),
                        ContentPart::Image(_) => result_images.push(c),
                        _ => {}
                    }
                }
                messages.push(OutMessage {
                    role: "tool",
                    content: Some(OutContent::Text(text)),
                    reasoning_content: None,
                    tool_calls: Vec::new(),
                    tool_call_id: Some(tool_id(tool_call_id)),
                });
            }
            other => rest.push(other),
        }
    }
    // Tool messages cannot carry images in Chat Completions: they follow as user content.
    result_images.extend(rest);
    if let Some(content) = user_content(&result_images) {
        messages.push(OutMessage {
            role: "user",
            content: Some(content),
            reasoning_content: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn opts() -> EncodeOptions<'static> {
        EncodeOptions {
            model: "gpt-x",
            default_max_tokens: 4096,
            sampling_params: true,
            preset: None,
            stream_options: true,
        }
    }

    #[test]
    fn parses_system_developer_tools_and_results() {
        let body = br#"{
          "model":"m","stream":true,"stream_options":{"include_usage":true},
          "messages":[
            {"role":"system","content":"be brief"},
            {"role":"developer","content":[{"type":"text","text":"use tools"}]},
            {"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,QUJD"}}]},
            {"role":"assistant","content":null,"tool_calls":[
              {"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},
              {"id":"call_2","type":"function","function":{"name":"f","arguments":"{\"a\":2}"}}]},
            {"role":"tool","tool_call_id":"call_1","content":"one"},
            {"role":"tool","tool_call_id":"call_2","content":"two"}
          ],
          "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
          "tool_choice":{"type":"function","function":{"name":"f"}},
          "parallel_tool_calls":false,
          "stop":"END","max_tokens":50,"temperature":0.2,"user":"u1","seed":7,"logprobs":true,"logit_bias":null
        }"#;
        let r = parse(body).unwrap();
        assert_eq!(r.system.len(), 2);
        assert_eq!(r.system[1].text, "use tools");
        assert!(r.stream && r.include_usage);
        assert_eq!(r.messages.len(), 3);
        assert_eq!(
            r.messages[0].content[1],
            ContentPart::Image(ImageSource::Base64 {
                media_type: "image/jpeg".into(),
                data: "QUJD".into()
            })
        );
        assert_eq!(r.messages[1].content.len(), 2);
        assert_eq!(r.messages[2].role, Role::User);
        assert_eq!(r.messages[2].content.len(), 2);
        assert_eq!(r.tool_choice, Some(ToolChoice::Named("f".into())));
        assert_eq!(r.parallel_tool_calls, Some(false));
        assert_eq!(r.stop, vec!["END".to_string()]);
        assert_eq!(r.max_tokens, Some(50));
        assert_eq!(r.user.as_deref(), Some("u1"));
        assert_eq!(r.seed, Some(7));
        assert_eq!(r.dropped, vec!["logprobs".to_string()]);
    }

    #[test]
    fn plain_strings_are_borrowed_and_escaped_ones_decoded() {
        let body = br#"{"model":"m","user":"u\u00e9","messages":[
            {"role":"user","content":[{"type":"text","text":"plain"},
              {"type":"image_url","image_url":{"url":"data:image/png;base64,QUJD"}}]},
            {"role":"assistant","content":"a\nb","tool_calls":[
              {"id":"c1","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}]}],
            "stop":["END"]}"#;
        let r = parse(body).unwrap();
        assert!(matches!(r.model, Cow::Borrowed("m")));
        assert!(matches!(r.stop[0], Cow::Borrowed("END")));
        assert!(matches!(&r.user, Some(Cow::Owned(u)) if u == "u\u{e9}"));
        let user = &r.messages[0].content;
        assert!(matches!(
            &user[0],
            ContentPart::Text {
                text: Cow::Borrowed("plain"),
                ..
            }
        ));
        assert!(matches!(
            &user[1],
            ContentPart::Image(ImageSource::Base64 {
                media_type: Cow::Borrowed("image/png"),
                data: Cow::Borrowed("QUJD")
            })
        ));
        let assistant = &r.messages[1].content;
        assert!(
            matches!(&assistant[0], ContentPart::Text { text: Cow::Owned(t), .. } if t == "a\nb")
        );
        match &assistant[1] {
            ContentPart::ToolCall { id, arguments, .. } => {
                assert!(matches!(id, Cow::Borrowed("c1")));
                assert!(matches!(arguments, Cow::Owned(a) if a == r#"{"x":1}"#));
            }
            other => panic!("expected a tool call, got {other:?}"),
        }
    }

    #[test]
    fn bad_role_names_the_field() {
        let e = parse(br#"{"model":"m","messages":[{"role":"sytem","content":"x"}]}"#).unwrap_err();
        assert_eq!(e.path, "messages[0].role");
        assert!(e.message.contains("sytem"), "{e}");
    }

    #[test]
    fn n_above_one_is_refused() {
        let e = parse(br#"{"model":"m","messages":[],"n":3}"#).unwrap_err();
        assert_eq!(e.path, "n");
    }

    #[test]
    fn encode_round_trips_through_parse() {
        let body = br#"{"model":"m","messages":[
            {"role":"system","content":"sys"},
            {"role":"user","content":"hi"},
            {"role":"assistant","content":"calling","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"c1","content":"done"}],
            "tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"}}}],
            "tool_choice":"required","stream":true}"#;
        let r = parse(body).unwrap();
        let mut dropped = Vec::new();
        let out = encode(&r, &opts(), &mut dropped).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "gpt-x");
        assert_eq!(v["messages"][0]["role"], "system");
        assert_eq!(v["messages"][2]["tool_calls"][0]["function"]["name"], "f");
        assert_eq!(v["messages"][3]["role"], "tool");
        assert_eq!(v["messages"][3]["tool_call_id"], "c1");
        assert_eq!(v["tool_choice"], "required");
        assert_eq!(v["stream_options"]["include_usage"], true);
        let again = parse(&out).unwrap();
        assert_eq!(again.messages, r.messages);
        assert!(dropped.is_empty());
    }

    const SCHEMA_BODY: &[u8] = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],
        "seed":-42,
        "response_format":{"type":"json_schema","json_schema":{"name":"city","strict":true,
          "schema":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}}}}"#;

    #[test]
    fn response_format_and_seed_are_read_and_sent_as_given() {
        let r = parse(SCHEMA_BODY).unwrap();
        assert_eq!(r.seed, Some(-42));
        let f = r.response_format.as_ref().unwrap();
        assert_eq!(f.param, "response_format");
        assert!(
            matches!(&f.kind, ResponseFormatKind::JsonSchema { name, strict: Some(true), schema: Some(_), .. } if name == "city")
        );
        let mut dropped = Vec::new();
        let v: Value = serde_json::from_slice(&encode(&r, &opts(), &mut dropped).unwrap()).unwrap();
        let given: Value = serde_json::from_slice(SCHEMA_BODY).unwrap();
        assert_eq!(v["response_format"], given["response_format"]);
        assert_eq!(v["seed"], -42);
        assert!(dropped.is_empty());
        for kind in ["text", "json_object"] {
            let body =
                format!(r#"{{"model":"m","messages":[],"response_format":{{"type":"{kind}"}}}}"#);
            let r = parse(body.as_bytes()).unwrap();
            let v: Value =
                serde_json::from_slice(&encode(&r, &opts(), &mut dropped).unwrap()).unwrap();
            assert_eq!(v["response_format"], serde_json::json!({ "type": kind }));
            assert!(v.get("seed").is_none());
        }
    }

    #[test]
    fn bad_response_formats_name_the_field() {
        let e =
            parse(br#"{"model":"m","messages":[],"response_format":{"type":"xml"}}"#).unwrap_err();
        assert_eq!(e.path, "response_format.type");
        let e = parse(br#"{"model":"m","messages":[],"response_format":{"type":"json_schema"}}"#)
            .unwrap_err();
        assert_eq!(e.path, "response_format.json_schema");
        let e = parse(
            br#"{"model":"m","messages":[],"response_format":{"type":"json_schema","json_schema":{"schema":{}}}}"#,
        )
        .unwrap_err();
        assert_eq!(e.path, "response_format.json_schema.name");
    }
}
