//! The canonical chat model every wire format converts into and out of.
//!
//! Each provider module (`openai`, `anthropic`) owns its serde types and converts
//! `wire -> canonical` for requests it receives and responses it gets back from a
//! provider, and `canonical -> wire` for requests it sends and responses it renders.
//! So adding a format is one module, never N x N converters.
//!
//! Token accounting convention (the one place it is decided):
//! `Usage::input_tokens` counts *every* prompt token, cached ones included (OpenAI's
//! `prompt_tokens` meaning). Anthropic's `input_tokens` excludes cache reads and cache
//! writes; its module adds/subtracts them so totals stay equal across formats.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Raw JSON carried through untouched (tool inputs in provider responses), comparable
/// by text. Read as a borrowed-then-copied slice, never as a `Value` tree; the wire
/// types that hold it are plain structs (serde cannot give `RawValue` from inside
/// tagged or untagged enums, which is one reason they are avoided).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawJson(pub Box<RawValue>);

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl std::ops::Deref for RawJson {
    type Target = RawValue;
    fn deref(&self) -> &RawValue {
        &self.0
    }
}

/// Raw JSON of a client request (schemas, cache markers), borrowed from the request
/// body it was parsed from; comparable by text like [`RawJson`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawRef<'a>(#[serde(borrow)] pub &'a RawValue);

impl PartialEq for RawRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl std::ops::Deref for RawRef<'_> {
    type Target = RawValue;
    fn deref(&self) -> &RawValue {
        self.0
    }
}

/// A chat request, independent of the API it arrived in.
///
/// It borrows from the client's body: texts, ids, arguments and images are slices of
/// it unless JSON escapes had to be decoded (`Cow::Owned`), so parsing a request
/// copies little more than its structure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest<'a> {
    pub model: Cow<'a, str>,
    /// System / developer instructions, in order. Anthropic accepts them only at the top.
    pub system: Vec<SystemPart<'a>>,
    pub messages: Vec<Message<'a>>,
    pub tools: Vec<Tool<'a>>,
    pub tool_choice: Option<ToolChoice<'a>>,
    /// `Some(false)` when the client forbade parallel tool calls.
    pub parallel_tool_calls: Option<bool>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    pub stop: Vec<Cow<'a, str>>,
    pub stream: bool,
    /// OpenAI `stream_options.include_usage`: whether the client wants a usage chunk.
    pub include_usage: bool,
    /// End-user identifier (OpenAI `user`, Anthropic `metadata.user_id`).
    pub user: Option<Cow<'a, str>>,
    pub reasoning: Option<Reasoning>,
    /// What shape the answer's text must take (OpenAI `response_format`, Responses
    /// `text.format`).
    pub response_format: Option<ResponseFormat<'a>>,
    /// Sampling seed (OpenAI `seed`), for best-effort reproducible answers.
    pub seed: Option<i64>,
    /// Client fields the target format cannot express; reported to the client in the
    /// `x-switchyard-dropped` response header instead of being sent to a strict provider.
    pub dropped: Vec<Cow<'a, str>>,
    /// Length of the client body this was parsed from (0 when built otherwise); the
    /// encoders size their output by it.
    pub body_len: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SystemPart<'a> {
    pub text: Cow<'a, str>,
    /// Anthropic prompt-caching marker, kept when both sides are Anthropic-like.
    pub cache_control: Option<RawRef<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message<'a> {
    pub role: Role,
    pub content: Vec<ContentPart<'a>>,
}

/// A piece of message content. Requests borrow from the client body (`'a`);
/// responses, read from a provider, own their text (`ContentPart<'static>`).
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart<'a> {
    Text {
        text: Cow<'a, str>,
        cache_control: Option<RawRef<'a>>,
    },
    Image(ImageSource<'a>),
    /// A tool call made by the assistant. `arguments` is JSON text (OpenAI style).
    ToolCall {
        id: Cow<'a, str>,
        name: Cow<'a, str>,
        arguments: Cow<'a, str>,
    },
    /// The result of a tool call, sent back by the user side.
    ToolResult {
        tool_call_id: Cow<'a, str>,
        content: Vec<ContentPart<'a>>,
        is_error: bool,
    },
    /// Model reasoning (Anthropic `thinking`); `signature` must round-trip unchanged.
    Thinking {
        text: Cow<'a, str>,
        signature: Option<Cow<'a, str>>,
    },
    /// Anthropic `redacted_thinking` (opaque, round-tripped only to Anthropic).
    RedactedThinking {
        data: Cow<'a, str>,
    },
}

/// Reasoning signatures are opaque and valid only at the provider format that issued
/// them. Anthropic's, the first kind carried here, are plain base64 (never a `:`);
/// other formats' are tagged `format:signature`, so that each encoder sends back only
/// its own (an Anthropic client that carries a Gemini signature in a thinking block
/// and falls over to Anthropic must not send it there).
pub fn tagged_signature(format: &str, signature: &str) -> String {
    let mut s = String::with_capacity(format.len() + 1 + signature.len());
    s.push_str(format);
    s.push(':');
    s.push_str(signature);
    s
}

/// The signature as `format` issued it (`None`: Anthropic's, untagged), or `None` if
/// another format issued it.
pub fn signature_for<'s>(signature: &'s str, format: Option<&str>) -> Option<&'s str> {
    match (signature.split_once(':'), format) {
        (None, None) => Some(signature),
        (Some((tag, sig)), Some(f)) if tag == f => Some(sig),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource<'a> {
    Base64 {
        media_type: Cow<'a, str>,
        data: Cow<'a, str>,
    },
    Url(Cow<'a, str>),
}

impl<'a> ImageSource<'a> {
    /// Parses an OpenAI `image_url.url`, which is either a `data:` URL or a plain URL.
    /// A borrowed URL gives borrowed parts (base64 images are the largest strings a
    /// request carries).
    pub fn from_url(url: Cow<'a, str>) -> Self {
        fn split(url: &str) -> Option<(&str, &str)> {
            let (meta, data) = url.strip_prefix("data:")?.split_once(',')?;
            Some((meta.strip_suffix(";base64")?, data))
        }
        match url {
            Cow::Borrowed(u) => match split(u) {
                Some((media_type, data)) => ImageSource::Base64 {
                    media_type: Cow::Borrowed(media_type),
                    data: Cow::Borrowed(data),
                },
                None => ImageSource::Url(url),
            },
            Cow::Owned(ref u) => match split(u) {
                Some((media_type, data)) => ImageSource::Base64 {
                    media_type: Cow::Owned(media_type.to_string()),
                    data: Cow::Owned(data.to_string()),
                },
                None => ImageSource::Url(url),
            },
        }
    }

    /// Renders as an OpenAI `image_url.url` (data URL for inline images).
    pub fn to_url(&self) -> Cow<'_, str> {
        match self {
            ImageSource::Base64 { media_type, data } => {
                let mut s = String::with_capacity(data.len() + media_type.len() + 13);
                s.push_str("data:");
                s.push_str(media_type);
                s.push_str(";base64,");
                s.push_str(data);
                Cow::Owned(s)
            }
            ImageSource::Url(u) => Cow::Borrowed(u),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool<'a> {
    pub name: Cow<'a, str>,
    pub description: Option<Cow<'a, str>>,
    /// JSON Schema of the arguments, carried verbatim.
    pub parameters: Option<RawRef<'a>>,
    pub strict: Option<bool>,
    pub cache_control: Option<RawRef<'a>>,
}

/// The shape the answer's text must take.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseFormat<'a> {
    pub kind: ResponseFormatKind<'a>,
    /// The client's name of the field (`response_format`, `text.format`), for
    /// `x-switchyard-dropped` when a provider cannot honour it.
    pub param: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormatKind<'a> {
    /// Free text (the default; asking for it changes nothing).
    Text,
    /// Any valid JSON object (OpenAI's JSON mode).
    JsonObject,
    /// JSON valid against `schema` (OpenAI structured outputs).
    JsonSchema {
        name: Cow<'a, str>,
        description: Option<Cow<'a, str>>,
        /// The JSON Schema, carried verbatim.
        schema: Option<RawRef<'a>>,
        strict: Option<bool>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice<'a> {
    None,
    Auto,
    /// The model must call some tool (OpenAI `required`, Anthropic `any`).
    Required,
    Named(Cow<'a, str>),
}

/// Reasoning effort. OpenAI speaks in effort levels, Anthropic in a token budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reasoning {
    Disabled,
    Effort(Effort),
    BudgetTokens(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    Minimal,
    Low,
    Medium,
    High,
}

impl Effort {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "minimal" | "none" => Some(Effort::Minimal),
            "low" => Some(Effort::Low),
            "medium" => Some(Effort::Medium),
            "high" | "xhigh" => Some(Effort::High),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
        }
    }
    /// Thinking budget used when an effort level goes to a budget-based provider.
    pub fn budget_tokens(self) -> u32 {
        match self {
            Effort::Minimal => 1024,
            Effort::Low => 2048,
            Effort::Medium => 8192,
            Effort::High => 24576,
        }
    }
    /// Closest effort level for a budget, the inverse of [`Effort::budget_tokens`].
    pub fn from_budget(budget: u32) -> Self {
        match budget {
            0..=1536 => Effort::Minimal,
            1537..=4096 => Effort::Low,
            4097..=16384 => Effort::Medium,
            _ => Effort::High,
        }
    }
}

/// Token usage; see the module doc for the input-token convention.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// All prompt tokens, cache reads and cache writes included.
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
    /// Fields that are non-zero in `other` replace ours (stream usage arrives in pieces).
    pub fn merge(&mut self, other: &Usage) {
        fn take(dst: &mut u64, src: u64) {
            if src != 0 {
                *dst = src;
            }
        }
        take(&mut self.input_tokens, other.input_tokens);
        take(&mut self.output_tokens, other.output_tokens);
        take(&mut self.cache_read_tokens, other.cache_read_tokens);
        take(&mut self.cache_write_tokens, other.cache_write_tokens);
        take(&mut self.reasoning_tokens, other.reasoning_tokens);
    }
}

/// Serialised (tagged) only by the response cache's entries (`crate::cache::stored`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
pub enum FinishReason {
    /// Natural end of turn.
    Stop,
    /// A client stop sequence matched (Anthropic tells which one).
    StopSequence(Option<String>),
    Length,
    ToolCalls,
    ContentFilter,
    /// Anything else the provider said, kept verbatim.
    Other(String),
}

/// A complete (non-streaming) response.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub id: String,
    pub model: String,
    /// Assistant output: text, tool calls, thinking.
    pub content: Vec<ContentPart<'static>>,
    pub refusal: Option<String>,
    pub finish_reason: Option<FinishReason>,
    pub usage: Usage,
}

/// One step of a streamed response, in provider-neutral terms. A source-format
/// decoder produces these; a target-format encoder renders them.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The response began (first event of every stream).
    Start {
        id: String,
        model: String,
    },
    TextDelta(String),
    ThinkingDelta(String),
    SignatureDelta(String),
    /// A tool call began; `index` counts tool calls from 0 within the response.
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    ToolCallArgs {
        index: usize,
        delta: String,
    },
    /// Usage numbers seen so far (merged by the encoder).
    Usage(Usage),
    Finish(FinishReason),
    /// The provider reported an error mid-stream.
    Error {
        kind: ErrorKind,
        message: String,
    },
    /// The stream is complete.
    Done,
}

/// Provider-neutral error category, rendered per API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    Permission,
    /// A model (or other resource) the request names does not exist.
    NotFound,
    /// No such endpoint.
    RouteNotFound,
    /// A stored `/v1/responses` response the request names does not exist (never
    /// stored, expired, deleted, or another gateway key's).
    ResponseNotFound,
    /// The endpoint exists, not with this method.
    MethodNotAllowed,
    RequestTooLarge,
    /// The provider's content filter refused the prompt (Azure OpenAI's 400 with
    /// `error.code: content_filter`).
    ContentFilter,
    RateLimited,
    /// The gateway key's spend budget cannot cover the request.
    OverBudget,
    Overloaded,
    Timeout,
    Upstream,
    Internal,
}

impl ErrorKind {
    /// Every kind, in the order `ERROR_CODES.md` lists them.
    pub const ALL: [ErrorKind; 15] = [
        ErrorKind::InvalidRequest,
        ErrorKind::Authentication,
        ErrorKind::Permission,
        ErrorKind::NotFound,
        ErrorKind::RouteNotFound,
        ErrorKind::ResponseNotFound,
        ErrorKind::MethodNotAllowed,
        ErrorKind::RequestTooLarge,
        ErrorKind::ContentFilter,
        ErrorKind::RateLimited,
        ErrorKind::OverBudget,
        ErrorKind::Internal,
        ErrorKind::Upstream,
        ErrorKind::Overloaded,
        ErrorKind::Timeout,
    ];

    /// When the gateway answers with this kind (for `ERROR_CODES.md`).
    pub fn when(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "The body is not a JSON object, a field is missing or has the wrong type (the message names its path), a field cannot be translated for the provider, `n` > 1 to a non-OpenAI provider, a bad `Cache-Control` / `x-switchyard-cache-ttl` value, an `x-switchyard-target` that matches no target; or the provider answered 400 / 422.",
            ErrorKind::Authentication => "Gateway keys are configured and the request has none, or one that is not configured.",
            ErrorKind::Permission => "The gateway key's `models` allowlist does not include the requested model.",
            ErrorKind::NotFound => "The `model` is not an alias, not `provider/model` of a configured provider, and (embedded default) not a `claude-*` / `gpt-*` / `gemini-*` name.",
            ErrorKind::RouteNotFound => "No such endpoint.",
            ErrorKind::ResponseNotFound => "`previous_response_id`, or the id of `GET` / `DELETE /v1/responses/{id}`, names a response that was not stored (`store: false`), expired (`state.responses_ttl_seconds`), was deleted, or belongs to another gateway key.",
            ErrorKind::MethodNotAllowed => "A known endpoint with the wrong method; the `allow` header names the right one.",
            ErrorKind::RequestTooLarge => "The body is larger than `limits.max_body_bytes`, or the provider answered 413.",
            ErrorKind::ContentFilter => "The provider's content filter refused the prompt: Azure OpenAI answered 400 with `error.code` `content_filter` (its `innererror` names the categories). Not failed over: another deployment would be asked the same.",
            ErrorKind::RateLimited => "The gateway key is over its `rpm`, `tpm` or `concurrency` limit, or every candidate provider answered 429.",
            ErrorKind::OverBudget => "The gateway key's spend budget (`limits.budget`) cannot cover the request's worst case (its input and `max_tokens` at the dearest price among its deployments) on top of what the key spent and holds for open requests this period.",
            ErrorKind::Internal => "The gateway could not build the upstream request or write the response.",
            ErrorKind::Upstream => "The provider is unreachable, sent an unusable response (not JSON, not UTF-8), rejected the gateway's credentials (401/403), does not serve the model (404) or answered another 5xx. In a stream that already started: the provider's own error event, or a stream that broke off, stalled or was unreadable.",
            ErrorKind::Overloaded => "Every deployment of the model is cooling down (circuit open), no provider is configured, the rate-limit store (Redis) is down with `on_error: fail_closed`, or the provider answered 503 / 529.",
            ErrorKind::Timeout => "The provider did not connect, answer or keep streaming within its timeouts (`connect_ms`, `first_byte_ms`, `idle_ms`, `total_ms`).",
        }
    }

    /// What the caller should do about it (for `ERROR_CODES.md`).
    pub fn advice(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "Fix the request; sending it again unchanged fails again.",
            ErrorKind::Authentication => "Send a configured key as `Authorization: Bearer KEY` or `x-api-key: KEY`.",
            ErrorKind::Permission => "Use a model the key may use (`GET /v1/models` lists them), or ask the operator.",
            ErrorKind::NotFound => "Use a model that `GET /v1/models` lists.",
            ErrorKind::RouteNotFound => "Use `POST /v1/chat/completions`, `POST /v1/messages`, `POST /v1/responses` or `GET /v1/models`.",
            ErrorKind::ResponseNotFound => "Send the whole conversation as `input` instead, or continue from a response this key stored within the TTL.",
            ErrorKind::MethodNotAllowed => "Use the method in `allow`.",
            ErrorKind::RequestTooLarge => "Send a smaller body (fewer or smaller images, a shorter history).",
            ErrorKind::ContentFilter => "Change the prompt; sending it again unchanged is refused again.",
            ErrorKind::RateLimited => "Retry after `retry-after` seconds (always set for the key's own limits; copied from the provider when it gave one).",
            ErrorKind::OverBudget => "Retry after `retry-after` seconds (the period's end; absent for a `total` budget, which never resets), send a smaller `max_tokens`, or ask the operator for a larger budget.",
            ErrorKind::Internal => "Retry once; if it persists, report it with the `x-request-id`.",
            ErrorKind::Upstream => "Retry with backoff; if it persists, the operator checks the provider (the message names it).",
            ErrorKind::Overloaded => "Retry after `retry-after` when present, else with backoff.",
            ErrorKind::Timeout => "Retry; for long generations stream the response, or ask the operator for longer timeouts.",
        }
    }

    /// Snake-case name: a bounded metric label.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Authentication => "authentication",
            ErrorKind::Permission => "permission",
            ErrorKind::NotFound => "not_found",
            ErrorKind::RouteNotFound => "route_not_found",
            ErrorKind::ResponseNotFound => "response_not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::RequestTooLarge => "request_too_large",
            ErrorKind::ContentFilter => "content_filter",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::OverBudget => "over_budget",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Upstream => "upstream",
            ErrorKind::Internal => "internal",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::ContentFilter => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::Permission => 403,
            ErrorKind::NotFound | ErrorKind::RouteNotFound | ErrorKind::ResponseNotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::RequestTooLarge => 413,
            ErrorKind::RateLimited | ErrorKind::OverBudget => 429,
            ErrorKind::Internal => 500,
            ErrorKind::Upstream => 502,
            ErrorKind::Overloaded => 503,
            ErrorKind::Timeout => 504,
        }
    }

    pub fn from_status(status: u16) -> Self {
        match status {
            400 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::Permission,
            404 => ErrorKind::NotFound,
            413 => ErrorKind::RequestTooLarge,
            429 => ErrorKind::RateLimited,
            503 | 529 => ErrorKind::Overloaded,
            504 | 408 => ErrorKind::Timeout,
            _ => ErrorKind::Upstream,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_url_round_trip() {
        let img = ImageSource::from_url("data:image/png;base64,AAAA".into());
        assert_eq!(
            img,
            ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "AAAA".into()
            }
        );
        assert_eq!(img.to_url(), "data:image/png;base64,AAAA");
        assert_eq!(
            ImageSource::from_url("https://x/y.png".into()),
            ImageSource::Url("https://x/y.png".into())
        );
        // An owned (unescaped) URL splits the same way.
        assert_eq!(
            ImageSource::from_url(Cow::Owned("data:image/gif;base64,R0".into())),
            ImageSource::Base64 {
                media_type: "image/gif".into(),
                data: "R0".into()
            }
        );
    }

    #[test]
    fn signatures_go_back_only_to_their_issuer() {
        let g = tagged_signature("gemini", "Q1JT+/=");
        assert_eq!(signature_for(&g, Some("gemini")), Some("Q1JT+/="));
        assert_eq!(signature_for(&g, None), None);
        assert_eq!(signature_for("EqoBCkgIBx==", None), Some("EqoBCkgIBx=="));
        assert_eq!(signature_for("EqoBCkgIBx==", Some("gemini")), None);
    }

    #[test]
    fn effort_budget_round_trip() {
        for e in [Effort::Minimal, Effort::Low, Effort::Medium, Effort::High] {
            assert_eq!(Effort::from_budget(e.budget_tokens()), e);
        }
    }

    #[test]
    fn usage_merge_keeps_known_fields() {
        let mut u = Usage {
            input_tokens: 10,
            cache_read_tokens: 4,
            ..Default::default()
        };
        u.merge(&Usage {
            output_tokens: 7,
            ..Default::default()
        });
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cache_read_tokens),
            (10, 7, 4)
        );
        assert_eq!(u.total(), 17);
    }
}
