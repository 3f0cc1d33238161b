//! Wire formats and the translation between them.
//!
//! `model` is the canonical chat model; each format module (`openai`, `anthropic`,
//! `gemini`, `azure`) converts its own wire types into and out of it; `sse` parses and
//! writes event streams; `stream` joins a provider-format decoder to a client-API
//! encoder per response stream; `answer` assembles a streamed answer into a complete
//! response and replays one as a stream (for the response cache).
//!
//! Two kinds of format meet here. [`ApiFormat`] is a client API (what the gateway
//! serves: OpenAI Chat Completions, Anthropic Messages). [`Format`] is a provider's
//! wire format (`type:` in the config), one module behind the [`ProviderFormat`] seam
//! each (see [`provider`]), registered in [`provider_formats!`] below. A provider
//! whose format takes a client API's bodies unchanged ([`Format::passthrough`]) gets
//! them untouched except for `model` (see [`rewrite_model`]): no translation.

pub mod answer;
pub mod anthropic;
pub mod azure;
#[cfg(test)]
mod capabilities;
pub mod gemini;
pub mod model;
pub mod openai;
pub mod provider;
pub mod responses;
pub mod sse;
pub mod stream;

use model::{ChatRequest, ChatResponse, ErrorKind};
use provider::StreamDecoder;
pub use provider::{Capabilities, Outgoing, ProviderError, ProviderFormat, Settings};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A client API: what a request arrived in, and what its answer is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiFormat {
    OpenAi,
    Anthropic,
    /// OpenAI's Responses API (`POST /v1/responses`, see [`responses`]).
    Responses,
}

impl ApiFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiFormat::OpenAi => "openai",
            ApiFormat::Anthropic => "anthropic",
            ApiFormat::Responses => "responses",
        }
    }
}

/// Registers the provider formats: `Variant => module::Type` (a [`ProviderFormat`]).
/// Generates [`Format`] with one dispatching method per seam method, and the decoder
/// enum a stream translator holds. Adding a format is one line here.
macro_rules! provider_formats {
    ($($variant:ident => $ty:ty),+ $(,)?) => {
        /// A provider's wire format (`type:` in the config).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Format {
            $($variant),+
        }

        impl Format {
            /// Every registered format, in registration order.
            pub const ALL: &'static [Format] = &[$(Format::$variant),+];

            /// `type:` in the config.
            pub fn name(self) -> &'static str {
                match self { $(Format::$variant => <$ty as ProviderFormat>::NAME),+ }
            }

            /// The format a `type:` names.
            pub fn parse(name: &str) -> Option<Format> {
                Format::ALL.iter().copied().find(|f| f.name() == name)
            }

            pub fn capabilities(self) -> &'static Capabilities {
                match self { $(Format::$variant => &<$ty as ProviderFormat>::CAPABILITIES),+ }
            }

            /// The client API whose bodies this format forwards unchanged.
            pub fn passthrough(self) -> Option<ApiFormat> {
                match self { $(Format::$variant => <$ty as ProviderFormat>::PASSTHROUGH),+ }
            }

            pub fn default_base_url(self) -> Option<&'static str> {
                match self { $(Format::$variant => <$ty as ProviderFormat>::DEFAULT_BASE_URL),+ }
            }

            pub fn catalog_provider(self) -> &'static str {
                match self { $(Format::$variant => <$ty as ProviderFormat>::CATALOG_PROVIDER),+ }
            }

            pub fn settings(self) -> &'static [&'static str] {
                match self { $(Format::$variant => <$ty as ProviderFormat>::SETTINGS),+ }
            }

            pub fn check(self, s: &Settings<'_>, at: &str, errors: &mut Vec<String>) {
                match self { $(Format::$variant => <$ty as ProviderFormat>::check(s, at, errors)),+ }
            }

            pub fn base_path(self, prefix: &str, s: &Settings<'_>) -> String {
                match self { $(Format::$variant => <$ty as ProviderFormat>::base_path(prefix, s)),+ }
            }

            pub fn auth_value(self, api_key: &str, s: &Settings<'_>) -> String {
                match self { $(Format::$variant => <$ty as ProviderFormat>::auth_value(api_key, s)),+ }
            }

            /// The whole request head for one request to provider `p`.
            pub fn request_header(
                self,
                p: &crate::config::Provider,
                out: &Outgoing<'_>,
            ) -> pingora_error::Result<pingora_http::RequestHeader> {
                match self {
                    $(Format::$variant => {
                        let path = <$ty as ProviderFormat>::request_path(p, out.model, out.stream);
                        let mut h = provider::base_header(p, &path, out, 3)?;
                        <$ty as ProviderFormat>::headers(p, out, &mut h)?;
                        Ok(h)
                    })+
                }
            }

            pub fn encode_request(
                self,
                req: &ChatRequest<'_>,
                opts: &EncodeOptions<'_>,
                dropped: &mut Vec<Cow<'_, str>>,
            ) -> Result<Vec<u8>, TranslateError> {
                match self { $(Format::$variant => <$ty as ProviderFormat>::encode_request(req, opts, dropped)),+ }
            }

            pub fn parse_response(self, body: &[u8]) -> Result<ChatResponse, TranslateError> {
                match self { $(Format::$variant => <$ty as ProviderFormat>::parse_response(body)),+ }
            }

            pub fn parse_usage(self, body: &[u8]) -> Result<model::Usage, TranslateError> {
                match self { $(Format::$variant => <$ty as ProviderFormat>::parse_usage(body)),+ }
            }

            pub fn signed_tool_turns(self, req: &ChatRequest<'_>) -> bool {
                match self { $(Format::$variant => <$ty as ProviderFormat>::signed_tool_turns(req)),+ }
            }

            pub fn parse_error(self, body: &[u8]) -> ProviderError {
                match self { $(Format::$variant => <$ty as ProviderFormat>::parse_error(body)),+ }
            }
        }

        /// The stream decoder of one provider format.
        #[derive(Debug)]
        pub(crate) enum AnyDecoder {
            $($variant(<$ty as ProviderFormat>::Decoder)),+
        }

        impl AnyDecoder {
            pub(crate) fn new(f: Format) -> Self {
                match f { $(Format::$variant => AnyDecoder::$variant(Default::default())),+ }
            }

            pub(crate) fn decode(&mut self, ev: &sse::SseEvent, out: &mut Vec<model::StreamEvent>) {
                match self { $(AnyDecoder::$variant(d) => d.decode(ev, out)),+ }
            }

            pub(crate) fn finish(&mut self, out: &mut Vec<model::StreamEvent>) {
                match self { $(AnyDecoder::$variant(d) => d.finish(out)),+ }
            }

            pub(crate) fn unreadable(&self) -> bool {
                match self { $(AnyDecoder::$variant(d) => d.unreadable()),+ }
            }
        }
    };
}

provider_formats! {
    OpenAi => openai::OpenAi,
    Anthropic => anthropic::Anthropic,
    Gemini => gemini::Gemini,
    Azure => azure::Azure,
}

impl From<ApiFormat> for Format {
    /// The provider format that speaks a client API natively (for Responses, the
    /// OpenAI family's: there is no Responses provider format).
    fn from(api: ApiFormat) -> Self {
        match api {
            ApiFormat::OpenAi | ApiFormat::Responses => Format::OpenAi,
            ApiFormat::Anthropic => Format::Anthropic,
        }
    }
}

impl Format {
    /// Whether a client of `api` is served by forwarding this provider's bodies.
    pub fn passes_through(self, api: ApiFormat) -> bool {
        self.passthrough() == Some(api)
    }
}

/// A client request that cannot be translated: 400 naming the field.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{path}: {message}")]
pub struct TranslateError {
    pub path: String,
    pub message: String,
}

impl TranslateError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        TranslateError {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A serde error with the JSON path where it happened.
    pub fn from_path_error(e: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        // serde_json appends " at line X column Y"; the path already says where.
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        let path = if path == "." {
            "body".to_string()
        } else {
            path
        };
        TranslateError { path, message }
    }
}

/// Deserializes with the failing field's path in the error.
///
/// Tracking the path costs on every field (about a third of a 1 KB request's
/// translation), so the body is parsed plainly first and only a body that fails is
/// parsed again, with tracking, to say where.
pub fn from_json<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, TranslateError> {
    if let Ok(v) = serde_json::from_slice(body) {
        return Ok(v);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let v = serde_path_to_error::deserialize(&mut de).map_err(TranslateError::from_path_error)?;
    de.end()
        .map_err(|e| TranslateError::new("body", e.to_string()))?;
    Ok(v)
}

/// The few fields the gateway needs before it knows where a request goes.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(borrow)]
    pub model: std::borrow::Cow<'a, str>,
    #[serde(default)]
    pub stream: Option<bool>,
    /// Output budget, for cost-aware routing (OpenAI or Anthropic spelling).
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    /// Only checked for presence; translation parses it properly later.
    #[allow(dead_code)]
    pub messages: &'a RawValue,
}

impl<'a> Envelope<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, TranslateError> {
        if body.is_empty() {
            return Err(TranslateError::new(
                "body",
                "request body is empty; send a JSON object",
            ));
        }
        from_json(body)
    }
}

/// Parses a client request in `format` into the canonical model, which borrows from
/// `body`.
pub fn parse_request(format: ApiFormat, body: &[u8]) -> Result<ChatRequest<'_>, TranslateError> {
    match format {
        ApiFormat::OpenAi => openai::request::parse(body),
        ApiFormat::Anthropic => anthropic::request::parse(body),
        ApiFormat::Responses => responses::request::parse(body),
    }
}

/// Per-target settings that shape an outgoing request.
#[derive(Debug, Clone)]
pub struct EncodeOptions<'a> {
    /// Upstream model name.
    pub model: &'a str,
    /// `max_tokens` when the client gave none (Anthropic requires one).
    pub default_max_tokens: u32,
    /// Anthropic: whether `temperature`/`top_p`/`top_k` are accepted by the
    /// configured `anthropic-version`.
    pub sampling_params: bool,
    /// OpenAI format: the provider's preset, whose quirks shape the body.
    pub preset: Option<openai::preset::Preset>,
    /// OpenAI format: whether a streamed request may carry `stream_options` (the
    /// provider has not rejected it).
    pub stream_options: bool,
}

/// Renders a canonical request for a provider in `format`. Fields the target cannot
/// express are appended to `dropped` by the caller-visible name.
pub fn encode_request(
    format: impl Into<Format>,
    req: &ChatRequest,
    opts: &EncodeOptions,
    dropped: &mut Vec<Cow<'_, str>>,
) -> Result<Vec<u8>, TranslateError> {
    format.into().encode_request(req, opts, dropped)
}

/// The output buffer for a translated request, allocated once: a translated body is
/// about as long as the client's (a little longer where content strings become
/// blocks), and growing from serde_json's default 128 bytes took five reallocations
/// for 1 KB.
pub(crate) fn request_buffer(req: &ChatRequest<'_>) -> Vec<u8> {
    Vec::with_capacity(req.body_len + req.body_len / 4 + 256)
}

/// Parses a provider's complete response.
pub fn parse_response(
    format: impl Into<Format>,
    body: &[u8],
) -> Result<ChatResponse, TranslateError> {
    format.into().parse_response(body)
}

/// Only the usage of a provider's complete response: pass-through bodies are forwarded
/// as they are, so nothing else needs to be materialised.
pub fn parse_usage(format: impl Into<Format>, body: &[u8]) -> Result<model::Usage, TranslateError> {
    format.into().parse_usage(body)
}

/// A top-level `usage` object of type `U`, alone: what [`parse_usage`] reads of
/// formats that put it there.
#[derive(Deserialize)]
pub(crate) struct WithUsage<U> {
    #[serde(default = "Option::default")]
    pub usage: Option<U>,
}

/// Renders a complete response for a client speaking `format`.
pub fn encode_response(format: ApiFormat, resp: &ChatResponse) -> Vec<u8> {
    match format {
        ApiFormat::OpenAi => openai::response::encode(resp),
        ApiFormat::Anthropic => anthropic::response::encode(resp),
        ApiFormat::Responses => responses::response::encode(resp, &responses::Meta::new()),
    }
}

/// Renders an error body in the client's API shape.
pub fn encode_error(format: ApiFormat, kind: ErrorKind, message: &str) -> Vec<u8> {
    match format {
        ApiFormat::OpenAi | ApiFormat::Responses => openai::encode_error(kind, message),
        ApiFormat::Anthropic => anthropic::encode_error(kind, message),
    }
}

/// `ERROR_CODES.md`: every error the gateway answers, from the definitions above
/// (`tests/error_codes.rs` fails when the file and this disagree).
pub fn error_codes_markdown() -> String {
    let mut s = String::from(
        "# Error codes\n\n\
         Every error Switchyard answers, in the caller's API: OpenAI clients get \
         `{\"error\": {\"message\", \"type\", \"param\", \"code\"}}`, Anthropic clients \
         `{\"type\": \"error\", \"error\": {\"type\", \"message\"}}`. The message says what \
         failed and how to fix it; every response carries `x-request-id`. After a stream \
         has started (status 200), a failure arrives as an error event in the same shape \
         (OpenAI: a `data:` line with the error object; Anthropic: `event: error`) and the \
         stream ends without `[DONE]` / `message_stop`.\n\n\
         Generated from `ErrorKind` in `src/formats/model.rs` (`SWITCHYARD_BLESS=1 cargo \
         test --test error_codes` rewrites it); do not edit by hand.\n\n\
         | status | OpenAI `type` / `code` | Anthropic `type` | when | what to do |\n\
         |---|---|---|---|---|\n",
    );
    for k in ErrorKind::ALL {
        let (t, code) = openai::error_type(k);
        let code = code.map_or_else(|| "null".to_string(), |c| format!("`{c}`"));
        s.push_str(&format!(
            "| {} | `{t}` / {code} | `{}` | {} | {} |\n",
            k.status(),
            anthropic::error_type(k),
            k.when(),
            k.advice()
        ));
    }
    s
}

/// Pulls the human-readable message out of a provider error body, if it has one.
pub fn provider_error_message(format: impl Into<Format>, body: &[u8]) -> Option<String> {
    format.into().parse_error(body).message
}

/// Same-format pass-through: replaces the top-level `model` value and copies every
/// other member byte for byte (values are not re-serialised).
pub fn rewrite_model(body: &[u8], model: &str) -> Result<Vec<u8>, TranslateError> {
    rewrite_body(body, model, &[])
}

/// [`rewrite_model`] that also leaves out the top-level members named in `drop`
/// (`stream_options`, for a provider that rejects it).
pub fn rewrite_body(body: &[u8], model: &str, drop: &[&str]) -> Result<Vec<u8>, TranslateError> {
    let members: Vec<(std::borrow::Cow<'_, str>, &RawValue)> = {
        let map: RawMembers = from_json(body)?;
        map.0
    };
    let mut out = Vec::with_capacity(body.len() + model.len());
    out.push(b'{');
    let mut first = true;
    for (key, value) in &members {
        if drop.contains(&key.as_ref()) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut out, key)
            .map_err(|e| TranslateError::new("body", e.to_string()))?;
        out.push(b':');
        if key == "model" {
            serde_json::to_writer(&mut out, model)
                .map_err(|e| TranslateError::new("model", e.to_string()))?;
        } else {
            out.extend_from_slice(value.get().as_bytes());
        }
    }
    out.push(b'}');
    Ok(out)
}

/// Top-level keys of `body` that are not in `known` and not `null`: the fields a
/// translation drops (and reports). A borrowed scan, no value is materialised.
pub fn unknown_fields<'a>(
    body: &'a [u8],
    known: &[&str],
) -> Result<Vec<Cow<'a, str>>, TranslateError> {
    let members: RawMembers = from_json(body)?;
    Ok(members
        .0
        .into_iter()
        .filter(|(k, v)| !known.contains(&k.as_ref()) && v.get() != "null")
        .map(|(k, _)| k)
        .collect())
}

/// [`from_json`] and [`unknown_fields`] in one pass over the body: a second scan for
/// the unknown keys cost about a quarter of translating a 1 KB request.
///
/// A body that fails is parsed again the two-pass way, so errors (and their paths
/// and messages) are exactly those of `from_json` and `unknown_fields`.
pub fn from_json_with_unknown<'de, T: Deserialize<'de>>(
    body: &'de [u8],
    known: &[&str],
) -> Result<(T, Vec<Cow<'de, str>>), TranslateError> {
    // UTF-8 is checked once for the whole body: parsing from a `str` then skips the
    // check serde_json makes on every string (and raw value) it reads from bytes.
    if let Ok(text) = std::str::from_utf8(body) {
        let mut unknown = Vec::new();
        let mut de = serde_json::Deserializer::from_str(text);
        let seed = NoteUnknown {
            known,
            unknown: &mut unknown,
            target: std::marker::PhantomData,
        };
        if let Ok(v) = serde::de::DeserializeSeed::deserialize(seed, &mut de) {
            if de.end().is_ok() {
                return Ok((v, unknown));
            }
        }
    }
    let v = from_json(body)?;
    Ok((v, unknown_fields(body, known)?))
}

/// Deserializes a `T` from a JSON object, noting on the way the keys not in `known`
/// whose value is not `null`.
struct NoteUnknown<'k, 'u, 'de, T> {
    known: &'k [&'k str],
    unknown: &'u mut Vec<Cow<'de, str>>,
    target: std::marker::PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> serde::de::DeserializeSeed<'de> for NoteUnknown<'_, '_, 'de, T> {
    type Value = T;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for NoteUnknown<'_, '_, 'de, T> {
    type Value = T;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        // `T` (a derived struct) reads the members through `NoteUnknownMap`.
        T::deserialize(serde::de::value::MapAccessDeserializer::new(
            NoteUnknownMap {
                map,
                known: self.known,
                unknown: self.unknown,
                pending: None,
            },
        ))
    }
}

/// Hands each member to the deserializer of `T`, keeping unknown keys aside until
/// their value shows whether it is `null`.
struct NoteUnknownMap<'k, 'u, 'de, A> {
    map: A,
    known: &'k [&'k str],
    unknown: &'u mut Vec<Cow<'de, str>>,
    /// The current key, when it is not a known one.
    pending: Option<Cow<'de, str>>,
}

impl<'de, A: serde::de::MapAccess<'de>> serde::de::MapAccess<'de>
    for NoteUnknownMap<'_, '_, 'de, A>
{
    type Error = A::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        use serde::de::value::{BorrowedStrDeserializer, StrDeserializer};
        let Some(CowStr(key)) = self.map.next_key::<CowStr<'de>>()? else {
            return Ok(None);
        };
        let field = match &key {
            Cow::Borrowed(k) => seed.deserialize(BorrowedStrDeserializer::new(k))?,
            Cow::Owned(k) => seed.deserialize(StrDeserializer::new(k))?,
        };
        self.pending = (!self.known.contains(&key.as_ref())).then_some(key);
        Ok(Some(field))
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, A::Error> {
        let Some(key) = self.pending.take() else {
            return self.map.next_value_seed(seed);
        };
        // Not a field we map: read it as raw text to see whether it is `null`, then
        // give `T` that text (which it ignores).
        let raw: &'de RawValue = self.map.next_value()?;
        if raw.get() != "null" {
            self.unknown.push(key);
        }
        seed.deserialize(raw).map_err(serde::de::Error::custom)
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// A JSON string or array (`"content": "hi"` / `"content": [...]`), read without
/// serde's untagged-enum buffering (which copies the whole value into a temporary
/// tree first; measured as the main cost of translating large requests). The string
/// is borrowed from the body unless it has escapes.
#[derive(Debug)]
pub enum StrOrSeq<'a, T> {
    Str(Cow<'a, str>),
    Seq(Vec<T>),
}

impl<'de: 'a, 'a, T: Deserialize<'de>> Deserialize<'de> for StrOrSeq<'a, T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a, T>(std::marker::PhantomData<(&'a (), T)>);
        impl<'de: 'a, 'a, T: Deserialize<'de>> serde::de::Visitor<'de> for V<'a, T> {
            type Value = StrOrSeq<'a, T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(StrOrSeq::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StrOrSeq::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(StrOrSeq::Str(Cow::Owned(v)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Self::Value, A::Error> {
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(StrOrSeq::Seq)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A JSON string borrowed from the body when it has no escapes, decoded into an owned
/// string when it has. (serde's own `Cow<str>` impl always copies; its `#[serde(borrow)]`
/// special case covers only a bare `Cow<str>` field, not `Option` or `Vec` of one.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CowStr<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = CowStr<'a>;
            // The same words as serde's `String`, so error messages do not change.
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// `#[serde(deserialize_with)]` for an optional string that borrows (see [`CowStr`]).
pub fn opt_cow_str<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    Ok(Option::<CowStr<'a>>::deserialize(d)?.map(|s| s.0))
}

/// A required field that was absent: 400 naming it.
pub fn missing(path: String) -> TranslateError {
    TranslateError::new(path, "missing field")
}

/// Top-level object members in order, values kept as raw JSON text.
pub(crate) struct RawMembers<'a>(pub(crate) Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for RawMembers<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawMembers<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(m.size_hint().unwrap_or(8));
                while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    let val: &'de RawValue = m.next_value()?;
                    v.push((k, val));
                }
                Ok(RawMembers(v))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_model_keeps_everything_else_verbatim() {
        let body = br#"{"model":"smart","messages":[{"role":"user","content":"h\u00e9 \"x\""}],"temperature":0.70,"x":{"a" : [1,2]}}"#;
        let out = rewrite_model(body, "gpt-5").unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"model":"gpt-5","messages":[{"role":"user","content":"h\u00e9 \"x\""}],"temperature":0.70,"x":{"a" : [1,2]}}"#
        );
    }

    #[test]
    fn envelope_names_missing_fields() {
        let e = Envelope::parse(br#"{"messages":[]}"#).unwrap_err();
        assert!(e.to_string().contains("model"), "{e}");
        let e = Envelope::parse(br#"{"model":"m"}"#).unwrap_err();
        assert!(e.to_string().contains("messages"), "{e}");
        let e = Envelope::parse(br#"{"model":5,"messages":[]}"#).unwrap_err();
        assert_eq!(e.path, "model");
        let e = Envelope::parse(b"{not json").unwrap_err();
        assert!(e.message.contains("key must be a string"), "{e}");
    }

    #[test]
    fn one_pass_parse_notes_the_same_unknown_fields_and_errors_as_two() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Req<'a> {
            #[serde(borrow)]
            model: Cow<'a, str>,
            #[serde(default)]
            n: Option<u32>,
        }
        let known = &["model", "n"];
        let body = br#"{"x\u0079":1,"model":"m","gone":null,"n":2,"obj":{"model":"no","deep":[null]},"x\u0079":[]}"#;
        let (r, unknown): (Req, _) = from_json_with_unknown(body, known).unwrap();
        assert_eq!(r, from_json::<Req>(body).unwrap());
        assert_eq!(unknown, unknown_fields(body, known).unwrap());
        assert_eq!(unknown, ["xy", "obj", "xy"]);
        assert!(matches!(unknown[1], Cow::Borrowed(_)));
        for bad in [
            &br#"{"model":"m","n":"two"}"#[..],
            br#"{"n":2}"#,
            br#"{"model":"m","model":"m"}"#,
            br#"{"model":"m","x":[1,}"#,
            br#"{"model":"m"} {}"#,
            br#"["m",2]"#,
            b"",
            // Not UTF-8: the `str` fast path is skipped, bytes give the error.
            b"{\"model\":\"\xff\"}",
        ] {
            let one = from_json_with_unknown::<Req>(bad, known).unwrap_err();
            let two = from_json::<Req>(bad).and_then(|_| unknown_fields(bad, known).map(|_| ()));
            assert_eq!(Err(one), two, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn from_json_names_the_failing_path_and_rejects_trailing_bytes() {
        #[derive(Debug, Deserialize)]
        struct Outer {
            #[allow(dead_code)]
            items: Vec<Inner>,
        }
        #[derive(Debug, Deserialize)]
        struct Inner {
            #[allow(dead_code)]
            n: u32,
        }
        assert!(from_json::<Outer>(br#"{"items":[{"n":1}]}"#).is_ok());
        // The fast path fails, the tracked re-parse says where.
        let e = from_json::<Outer>(br#"{"items":[{"n":1},{"n":"two"}]}"#).unwrap_err();
        assert_eq!(e.path, "items[1].n", "{e}");
        let e = from_json::<Outer>(br#"{"items":[]} {"items":[]}"#).unwrap_err();
        assert!(e.message.contains("trailing characters"), "{e}");
        assert!(from_json::<Outer>(b"{\"items\":[]}\n").is_ok());
    }
}
