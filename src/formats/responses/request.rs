//! Responses API request -> canonical request; the envelope the proxy reads before
//! routing; the rewrite that continues a stored conversation.
//!
//! Items map as: `message` (role user / system / developer / assistant; a string or
//! `input_text` / `input_image` / `output_text` / `refusal` parts) -> a message
//! (system and developer text joins `instructions` in the canonical system prompt);
//! `function_call` -> an assistant tool call; `function_call_output` -> a user tool
//! result; `reasoning` -> assistant thinking (`summary` text, `encrypted_content`
//! as the signature, which is what this gateway renders a signed thinking block as).

use crate::formats::model::{
    ChatRequest, ContentPart, Effort, ImageSource, RawRef, Reasoning, Role, SystemPart, Tool,
    ToolChoice,
};
use crate::formats::openai::request::{push_message, response_format, InJsonSchema};
use crate::formats::{
    from_json, from_json_with_unknown, missing, opt_cow_str, RawMembers, StrOrSeq, TranslateError,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

// === wire types: what clients send ===

/// Top-level fields this module maps or the gateway handles; anything else is
/// reported as dropped.
const KNOWN_FIELDS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "max_output_tokens",
    "temperature",
    "top_p",
    "reasoning",
    "text",
    "metadata",
    "store",
    "previous_response_id",
    "stream",
    "user",
];

#[derive(Deserialize)]
struct InRequest<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(default, borrow)]
    input: Option<StrOrSeq<'a, InItem<'a>>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    instructions: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tools: Option<Vec<InTool<'a>>>,
    #[serde(default, borrow)]
    tool_choice: Option<InToolChoice<'a>>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    #[serde(default)]
    max_output_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default, borrow)]
    reasoning: Option<InReasoning<'a>>,
    #[serde(default, borrow)]
    text: Option<InText<'a>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    user: Option<Cow<'a, str>>,
}

/// One input item, read flat; what each `type` needs is checked when converting.
#[derive(Deserialize)]
struct InItem<'a> {
    /// Absent on the short message form (`{"role": "user", "content": "hi"}`).
    #[serde(rename = "type", default, borrow, deserialize_with = "opt_cow_str")]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    role: Option<InRole>,
    #[serde(default, borrow)]
    content: Option<StrOrSeq<'a, InPart<'a>>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    arguments: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    output: Option<StrOrSeq<'a, InPart<'a>>>,
    #[serde(default, borrow)]
    summary: Option<Vec<InPart<'a>>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    encrypted_content: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum InRole {
    User,
    Assistant,
    System,
    Developer,
}

/// A content part (`input_text`, `input_image`, `output_text`, `summary_text`, …).
#[derive(Deserialize)]
struct InPart<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    image_url: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    refusal: Option<Cow<'a, str>>,
}

/// Responses tools are flat: `{"type": "function", "name", "description", "parameters"}`.
#[derive(Deserialize)]
struct InTool<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    description: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    parameters: Option<RawRef<'a>>,
    #[serde(default)]
    strict: Option<bool>,
}

/// `"auto"` or `{"type": "function", "name": ...}`.
enum InToolChoice<'a> {
    Mode(Cow<'a, str>),
    Named {
        kind: Cow<'a, str>,
        name: Option<Cow<'a, str>>,
    },
}

impl<'de: 'a, 'a> Deserialize<'de> for InToolChoice<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = InToolChoice<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "\"none\", \"auto\", \"required\" or {\"type\": \"function\", \"name\": ...}",
                )
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(InToolChoice::Mode(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(InToolChoice::Mode(Cow::Owned(v.to_owned())))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                m: A,
            ) -> Result<Self::Value, A::Error> {
                #[derive(Deserialize)]
                struct Named<'a> {
                    #[serde(rename = "type", borrow)]
                    kind: Cow<'a, str>,
                    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
                    name: Option<Cow<'a, str>>,
                }
                let n = Named::deserialize(serde::de::value::MapAccessDeserializer::new(m))?;
                Ok(InToolChoice::Named {
                    kind: n.kind,
                    name: n.name,
                })
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct InReasoning<'a> {
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    effort: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct InText<'a> {
    #[serde(default, borrow)]
    format: Option<InTextFormat<'a>>,
    #[serde(default, borrow)]
    verbosity: Option<&'a RawValue>,
}

/// `{"type": "text" | "json_object"}` or `{"type": "json_schema", "name", "schema",
/// "strict", "description"}` (flat, unlike Chat Completions' `json_schema` object).
#[derive(Deserialize)]
struct InTextFormat<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    description: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    schema: Option<RawRef<'a>>,
    #[serde(default)]
    strict: Option<bool>,
}

// === wire -> canonical ===

/// Parses a Responses request body into the canonical model.
pub fn parse<'a>(body: &'a [u8]) -> Result<ChatRequest<'a>, TranslateError> {
    let (req, dropped): (InRequest<'a>, _) = from_json_with_unknown(body, KNOWN_FIELDS)?;
    let mut out = ChatRequest {
        model: req.model,
        stream: req.stream.unwrap_or(false),
        // The final `response.completed` event always carries usage.
        include_usage: true,
        max_tokens: req.max_output_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        parallel_tool_calls: req.parallel_tool_calls,
        user: req.user,
        dropped,
        body_len: body.len(),
        ..Default::default()
    };
    if let Some(text) = req.instructions {
        out.system.push(SystemPart {
            text,
            cache_control: None,
        });
    }
    if let Some(effort) = req.reasoning.and_then(|r| r.effort) {
        let e = Effort::parse(&effort).ok_or_else(|| {
            TranslateError::new(
                "reasoning.effort",
                format!("unknown value '{effort}'; expected minimal, low, medium or high"),
            )
        })?;
        out.reasoning = Some(Reasoning::Effort(e));
    }
    if let Some(text) = req.text {
        if let Some(f) = text.format {
            let schema = InJsonSchema {
                name: f.name,
                description: f.description,
                schema: f.schema,
                strict: f.strict,
            };
            out.response_format = Some(response_format(
                &f.kind,
                Some(schema),
                "text.format",
                "text.format",
            )?);
        }
        if text.verbosity.is_some_and(|v| v.get() != "null") {
            out.dropped.push(Cow::Borrowed("text.verbosity"));
        }
    }
    match req.input {
        None => return Err(missing("input".into())),
        Some(StrOrSeq::Str(text)) => push_message(
            &mut out.messages,
            Role::User,
            vec![ContentPart::Text {
                text,
                cache_control: None,
            }],
        ),
        Some(StrOrSeq::Seq(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                add_item(&mut out, item, i)?;
            }
        }
    }
    for (i, t) in req.tools.unwrap_or_default().into_iter().enumerate() {
        if t.kind != "function" {
            return Err(TranslateError::new(
                format!("tools[{i}].type"),
                format!(
                    "tool type '{}' cannot be translated; only function tools can",
                    t.kind
                ),
            ));
        }
        out.tools.push(Tool {
            name: t.name.ok_or_else(|| missing(format!("tools[{i}].name")))?,
            description: t.description,
            parameters: t.parameters,
            strict: t.strict,
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
        Some(InToolChoice::Named { kind, name }) => match (kind.as_ref(), name) {
            ("function", Some(name)) => Some(ToolChoice::Named(name)),
            ("function", None) => return Err(missing("tool_choice.name".into())),
            (other, _) => {
                return Err(TranslateError::new(
                    "tool_choice.type",
                    format!("tool choice '{other}' cannot be translated; use a function"),
                ))
            }
        },
    };
    Ok(out)
}

/// Converts input item `i` and appends it to the conversation.
fn add_item<'a>(
    out: &mut ChatRequest<'a>,
    item: InItem<'a>,
    i: usize,
) -> Result<(), TranslateError> {
    let at = |f: &str| format!("input[{i}].{f}");
    match item.kind.as_deref().unwrap_or("message") {
        "message" => {
            let role = item.role.ok_or_else(|| missing(at("role")))?;
            let content = item.content.ok_or_else(|| missing(at("content")))?;
            match role {
                InRole::System | InRole::Developer => out.system.push(SystemPart {
                    text: text_of(content),
                    cache_control: None,
                }),
                InRole::User => {
                    let parts = content_parts(content, i, "content")?;
                    push_message(&mut out.messages, Role::User, parts);
                }
                InRole::Assistant => {
                    let parts = content_parts(content, i, "content")?;
                    push_message(&mut out.messages, Role::Assistant, parts);
                }
            }
        }
        "function_call" => {
            let part = ContentPart::ToolCall {
                id: item.call_id.ok_or_else(|| missing(at("call_id")))?,
                name: item.name.ok_or_else(|| missing(at("name")))?,
                arguments: item.arguments.unwrap_or(Cow::Borrowed("{}")),
            };
            push_message(&mut out.messages, Role::Assistant, vec![part]);
        }
        "function_call_output" => {
            let output = item.output.ok_or_else(|| missing(at("output")))?;
            let part = ContentPart::ToolResult {
                tool_call_id: item.call_id.ok_or_else(|| missing(at("call_id")))?,
                content: content_parts(output, i, "output")?,
                is_error: false,
            };
            push_message(&mut out.messages, Role::User, vec![part]);
        }
        "reasoning" => {
            let mut texts = item
                .summary
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| p.text);
            let text = match (texts.next(), texts.next()) {
                (None, _) => Cow::Borrowed(""),
                (Some(one), None) => one,
                (Some(a), Some(b)) => {
                    let mut s = a.into_owned();
                    for t in std::iter::once(b).chain(texts) {
                        s.push_str("\n\n");
                        s.push_str(&t);
                    }
                    Cow::Owned(s)
                }
            };
            if text.is_empty() && item.encrypted_content.is_none() {
                return Ok(());
            }
            let part = ContentPart::Thinking {
                text,
                signature: item.encrypted_content,
            };
            push_message(&mut out.messages, Role::Assistant, vec![part]);
        }
        other => {
            return Err(TranslateError::new(
                at("type"),
                format!(
                    "input item type '{other}' cannot be translated; send message, \
                     function_call, function_call_output or reasoning items"
                ),
            ))
        }
    }
    Ok(())
}

/// The parts of a message's `content` (or a tool output's `output`).
fn content_parts<'a>(
    content: StrOrSeq<'a, InPart<'a>>,
    item: usize,
    field: &str,
) -> Result<Vec<ContentPart<'a>>, TranslateError> {
    match content {
        StrOrSeq::Str(text) => Ok(vec![ContentPart::Text {
            text,
            cache_control: None,
        }]),
        StrOrSeq::Seq(parts) => parts
            .into_iter()
            .enumerate()
            .map(|(j, p)| {
                let at = |f: &str| format!("input[{item}].{field}[{j}].{f}");
                match p.kind.as_ref() {
                    "input_text" | "output_text" | "text" => Ok(ContentPart::Text {
                        text: p.text.ok_or_else(|| missing(at("text")))?,
                        cache_control: None,
                    }),
                    "refusal" => Ok(ContentPart::Text {
                        text: p.refusal.ok_or_else(|| missing(at("refusal")))?,
                        cache_control: None,
                    }),
                    "input_image" => {
                        let url = p.image_url.ok_or_else(|| {
                            TranslateError::new(
                                at("image_url"),
                                "missing field; send the image as a URL or a data: URL \
                                 (file_id cannot be translated)",
                            )
                        })?;
                        Ok(ContentPart::Image(ImageSource::from_url(url)))
                    }
                    other => Err(TranslateError::new(
                        at("type"),
                        format!(
                            "content part '{other}' cannot be translated; send input_text \
                             or input_image parts"
                        ),
                    )),
                }
            })
            .collect(),
    }
}

/// The text of a system or developer message.
fn text_of<'a>(content: StrOrSeq<'a, InPart<'a>>) -> Cow<'a, str> {
    match content {
        StrOrSeq::Str(t) => t,
        StrOrSeq::Seq(parts) => {
            let mut texts = parts.into_iter().filter_map(|p| p.text);
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

// === the envelope: what the proxy needs before routing ===

/// The echoed fields of a response object when the request did not set them.
pub const DEFAULT_ECHO: &str = concat!(
    r#","instructions":null,"max_output_tokens":null,"metadata":{},"parallel_tool_calls":true"#,
    r#","previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":true"#,
    r#","temperature":null,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[]"#,
    r#","top_p":null,"truncation":"disabled","user":null"#
);

/// The request fields a response object echoes, with their defaults (as in
/// [`DEFAULT_ECHO`]).
const ECHO: &[(&str, &str)] = &[
    ("instructions", "null"),
    ("max_output_tokens", "null"),
    ("metadata", "{}"),
    ("parallel_tool_calls", "true"),
    ("previous_response_id", "null"),
    ("reasoning", r#"{"effort":null,"summary":null}"#),
    ("store", "true"),
    ("temperature", "null"),
    ("text", r#"{"format":{"type":"text"}}"#),
    ("tool_choice", "\"auto\""),
    ("tools", "[]"),
    ("top_p", "null"),
    ("truncation", "\"disabled\""),
    ("user", "null"),
];

/// What the proxy reads of a Responses request before routing it.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub model: String,
    pub stream: bool,
    pub max_output_tokens: Option<u64>,
    /// `store` (default true): keep the finished response for `previous_response_id`.
    pub store: bool,
    pub previous_response_id: Option<String>,
    /// `input` as a JSON array of items (a string input becomes one user message).
    pub items: String,
    /// The members a response object echoes (see [`super::Meta::echo`]).
    pub echo: String,
}

#[derive(Deserialize)]
struct InEnvelope<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    max_output_tokens: Option<u64>,
    #[serde(default)]
    store: Option<bool>,
    #[serde(default, borrow, deserialize_with = "opt_cow_str")]
    previous_response_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
}

/// Reads the envelope of a Responses request.
pub fn prepare(body: &[u8]) -> Result<Prepared, TranslateError> {
    if body.is_empty() {
        return Err(TranslateError::new(
            "body",
            "request body is empty; send a JSON object",
        ));
    }
    let env: InEnvelope<'_> = from_json(body)?;
    let input = env.input.ok_or_else(|| missing("input".into()))?;
    let raw = input.get();
    let items = match raw.as_bytes().first() {
        Some(b'"') => format!(r#"[{{"type":"message","role":"user","content":{raw}}}]"#),
        Some(b'[') => raw.to_string(),
        _ => {
            return Err(TranslateError::new(
                "input",
                "expected a string or an array of input items",
            ))
        }
    };
    let members: RawMembers<'_> = from_json(body)?;
    let mut echo = String::with_capacity(DEFAULT_ECHO.len() + 64);
    for (name, default) in ECHO {
        echo.push_str(",\"");
        echo.push_str(name);
        echo.push_str("\":");
        let given = members
            .0
            .iter()
            .find(|(k, v)| k == name && v.get() != "null")
            .map(|(_, v)| v.get());
        echo.push_str(given.unwrap_or(default));
    }
    Ok(Prepared {
        model: env.model.into_owned(),
        stream: env.stream.unwrap_or(false),
        max_output_tokens: env.max_output_tokens,
        store: env.store.unwrap_or(true),
        previous_response_id: env.previous_response_id.map(Cow::into_owned),
        items,
        echo,
    })
}

/// Two JSON arrays (as text) as one.
pub fn concat_arrays(a: &str, b: &str) -> String {
    fn inner(s: &str) -> &str {
        let s = s.trim();
        let s = s.strip_prefix('[').unwrap_or(s);
        s.strip_suffix(']').unwrap_or(s).trim()
    }
    let (a, b) = (inner(a), inner(b));
    let mut out = String::with_capacity(a.len() + b.len() + 3);
    out.push('[');
    out.push_str(a);
    if !a.is_empty() && !b.is_empty() {
        out.push(',');
    }
    out.push_str(b);
    out.push(']');
    out
}

/// The request with `input` replaced by `items` (a JSON array) and without
/// `previous_response_id`: a self-contained request the rest of the gateway (cache
/// key, translation) reads like any other.
pub fn with_input(body: &[u8], items: &str) -> Result<Vec<u8>, TranslateError> {
    let members: RawMembers<'_> = from_json(body)?;
    let mut out = Vec::with_capacity(body.len() + items.len());
    out.push(b'{');
    let mut first = true;
    for (key, value) in members
        .0
        .iter()
        .filter(|(k, _)| k != "previous_response_id" && k != "input")
    {
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut out, key)
            .map_err(|e| TranslateError::new("body", e.to_string()))?;
        out.push(b':');
        out.extend_from_slice(value.get().as_bytes());
    }
    if !first {
        out.push(b',');
    }
    out.extend_from_slice(b"\"input\":");
    out.extend_from_slice(items.as_bytes());
    out.push(b'}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::model::ResponseFormatKind;

    #[test]
    fn string_input_and_instructions() {
        let body = br#"{"model":"m","input":"Hi","instructions":"Be terse.","max_output_tokens":64,"metadata":{"a":"b"},"store":false,"include":["x"]}"#;
        let r = parse(body).unwrap();
        assert_eq!(r.system[0].text, "Be terse.");
        assert_eq!(r.messages.len(), 1);
        assert_eq!(r.messages[0].role, Role::User);
        assert_eq!(r.max_tokens, Some(64));
        assert_eq!(r.dropped, ["include"]);
        let p = prepare(body).unwrap();
        assert!(!p.store);
        assert_eq!(
            p.items,
            r#"[{"type":"message","role":"user","content":"Hi"}]"#
        );
        assert!(p.echo.contains(r#","metadata":{"a":"b"}"#), "{}", p.echo);
        assert!(p.echo.contains(r#","instructions":"Be terse.""#));
        assert!(p.echo.contains(r#","tools":[]"#));
        let v: serde_json::Value = serde_json::from_str(&format!("{{\"x\":1{}}}", p.echo)).unwrap();
        assert_eq!(v["store"], false);
        let d: serde_json::Value =
            serde_json::from_str(&format!("{{\"x\":1{DEFAULT_ECHO}}}")).unwrap();
        assert_eq!(d["tool_choice"], "auto");
    }

    #[test]
    fn tool_loop_items() {
        let body = br#"{"model":"m","input":[
            {"role":"developer","content":"Use tools."},
            {"type":"message","role":"user","content":[{"type":"input_text","text":"Weather?"},{"type":"input_image","image_url":"data:image/png;base64,AAAA","detail":"auto"}]},
            {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"think"}],"encrypted_content":"sig"},
            {"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather","arguments":"{\"location\":\"Paris\"}"},
            {"type":"function_call","id":"fc_2","call_id":"call_2","name":"get_weather","arguments":"{\"location\":\"Tokyo\"}"},
            {"type":"function_call_output","call_id":"call_1","output":"18C"},
            {"type":"function_call_output","call_id":"call_2","output":"25C"}
          ],
          "tools":[{"type":"function","name":"get_weather","description":"d","parameters":{"type":"object"},"strict":true}],
          "tool_choice":{"type":"function","name":"get_weather"},"parallel_tool_calls":false,
          "reasoning":{"effort":"high","summary":"auto"},"text":{"format":{"type":"json_schema","name":"x","schema":{}}}}"#;
        let r = parse(body).unwrap();
        assert_eq!(r.system[0].text, "Use tools.");
        assert_eq!(r.messages.len(), 3);
        assert!(matches!(
            r.messages[0].content[1],
            ContentPart::Image(ImageSource::Base64 { .. })
        ));
        let a = &r.messages[1];
        assert_eq!(a.role, Role::Assistant);
        assert_eq!(
            a.content[0],
            ContentPart::Thinking {
                text: "think".into(),
                signature: Some("sig".into())
            }
        );
        assert_eq!(a.content.len(), 3);
        assert_eq!(r.messages[2].content.len(), 2);
        assert_eq!(r.tools[0].name, "get_weather");
        assert_eq!(r.tool_choice, Some(ToolChoice::Named("get_weather".into())));
        assert_eq!(r.parallel_tool_calls, Some(false));
        assert_eq!(r.reasoning, Some(Reasoning::Effort(Effort::High)));
        assert!(r.dropped.is_empty(), "{:?}", r.dropped);
        match r.response_format.as_ref().map(|f| (&f.kind, f.param)) {
            Some((ResponseFormatKind::JsonSchema { name, schema, .. }, "text.format")) => {
                assert_eq!(name, "x");
                assert_eq!(schema.as_ref().map(|s| s.0.get()), Some("{}"));
            }
            other => panic!("expected a json_schema format, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_item() {
        let e =
            parse(br#"{"model":"m","input":[{"type":"function_call","name":"f"}]}"#).unwrap_err();
        assert_eq!(e.path, "input[0].call_id");
        let e = parse(br#"{"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_id":"f"}]}]}"#)
            .unwrap_err();
        assert_eq!(e.path, "input[0].content[0].type");
        let e = parse(br#"{"model":"m","input":"x","tools":[{"type":"web_search"}]}"#).unwrap_err();
        assert_eq!(e.path, "tools[0].type");
        let e = prepare(br#"{"model":"m"}"#).unwrap_err();
        assert_eq!(e.path, "input");
        let e = prepare(br#"{"model":"m","input":5}"#).unwrap_err();
        assert_eq!(e.path, "input");
    }

    #[test]
    fn history_goes_in_front() {
        assert_eq!(concat_arrays("[1, 2]", "[3]"), "[1, 2,3]");
        assert_eq!(concat_arrays("[]", "[3]"), "[3]");
        assert_eq!(concat_arrays(" [ 1 ] ", "[ ]"), "[1]");
        let body = br#"{"model":"m","previous_response_id":"resp_1","input":"Next","stream":true}"#;
        let p = prepare(body).unwrap();
        let items = concat_arrays(r#"[{"role":"user","content":"First"}]"#, &p.items);
        let out = with_input(body, &items).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v.get("previous_response_id").is_none());
        assert_eq!(v["stream"], true);
        assert_eq!(v["input"][0]["content"], "First");
        assert_eq!(v["input"][1]["content"], "Next");
        assert_eq!(parse(&out).unwrap().messages[0].content.len(), 2);
    }
}
