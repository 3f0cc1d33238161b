//! Presets of the OpenAI-compatible family (`type: openai` with `preset:`).
//!
//! A preset names a service or engine that speaks Chat Completions with its own
//! defaults and quirks. It supplies what the provider entry leaves out (base URL, the
//! key's environment variable, the catalog provider) and tells the OpenAI format
//! module how to shape requests for it. Explicit provider settings win.
//!
//! Quirks handled here or in the format module, by preset:
//! - every preset: `max_tokens` instead of OpenAI's newer `max_completion_tokens`
//!   (Mistral rejects unknown fields; the others take `max_tokens` too);
//! - `mistral`: tool-call ids must be 9 ASCII letters or digits ([`mistral_tool_id`]),
//!   `tool_choice: required` is spelled `any`;
//! - `deepseek`: the `reasoning_content` of an assistant turn that called tools is
//!   sent back with it (DeepSeek answers 400 without it in thinking mode);
//! - `mistral`, `ollama`: never a pass-through, so OpenAI clients get the ids and the
//!   streamed tool-call indexes fixed too.
//!
//! Stream quirks are decoded leniently for every OpenAI-format provider (see
//! `super::stream`): `x_groq.usage`, usage before the last chunk (xAI), `reasoning`
//! and `reasoning_content` deltas, tool-call deltas without `index` (Ollama), SSE
//! comment lines and `error` data events (OpenRouter). A provider that rejects
//! `stream_options` is learned at run time ([`rejects_stream_options`]).

use std::borrow::Cow;

/// One OpenAI-compatible service or engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    Mistral,
    Groq,
    DeepSeek,
    Xai,
    OpenRouter,
    Together,
    Fireworks,
    Vllm,
    Ollama,
}

impl Preset {
    pub const ALL: [Preset; 9] = [
        Preset::Mistral,
        Preset::Groq,
        Preset::DeepSeek,
        Preset::Xai,
        Preset::OpenRouter,
        Preset::Together,
        Preset::Fireworks,
        Preset::Vllm,
        Preset::Ollama,
    ];

    /// `preset:` in the config.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Mistral => "mistral",
            Preset::Groq => "groq",
            Preset::DeepSeek => "deepseek",
            Preset::Xai => "xai",
            Preset::OpenRouter => "openrouter",
            Preset::Together => "together",
            Preset::Fireworks => "fireworks",
            Preset::Vllm => "vllm",
            Preset::Ollama => "ollama",
        }
    }

    pub fn parse(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.name() == name)
    }

    /// `base_url` when the provider entry gives none (OpenAI SDK convention: up to
    /// the path before `/chat/completions`). Self-hosted engines listen on the
    /// loopback address by default (an IPv4 literal: `localhost` may resolve to `::1`
    /// first, where these engines do not listen unless told to).
    pub fn base_url(self) -> &'static str {
        match self {
            Preset::Mistral => "https://api.mistral.ai/v1",
            Preset::Groq => "https://api.groq.com/openai/v1",
            Preset::DeepSeek => "https://api.deepseek.com",
            Preset::Xai => "https://api.x.ai/v1",
            Preset::OpenRouter => "https://openrouter.ai/api/v1",
            Preset::Together => "https://api.together.xyz/v1",
            Preset::Fireworks => "https://api.fireworks.ai/inference/v1",
            Preset::Vllm => "http://127.0.0.1:8000/v1",
            Preset::Ollama => "http://127.0.0.1:11434/v1",
        }
    }

    /// The environment variable the service's own SDKs read the key from; the
    /// embedded default enables the preset's provider when it is set. `None`:
    /// self-hosted, no key needed.
    pub fn key_var(self) -> Option<&'static str> {
        match self {
            Preset::Mistral => Some("MISTRAL_API_KEY"),
            Preset::Groq => Some("GROQ_API_KEY"),
            Preset::DeepSeek => Some("DEEPSEEK_API_KEY"),
            Preset::Xai => Some("XAI_API_KEY"),
            Preset::OpenRouter => Some("OPENROUTER_API_KEY"),
            Preset::Together => Some("TOGETHER_API_KEY"),
            Preset::Fireworks => Some("FIREWORKS_API_KEY"),
            Preset::Vllm | Preset::Ollama => None,
        }
    }

    /// The model catalog's provider id (models.dev `api.json`). Self-hosted engines
    /// serve whatever was loaded: their ids are not in the catalog, so there is no
    /// price unless a target sets one.
    pub fn catalog_provider(self) -> &'static str {
        match self {
            Preset::Mistral => "mistral",
            Preset::Groq => "groq",
            Preset::DeepSeek => "deepseek",
            Preset::Xai => "xai",
            Preset::OpenRouter => "openrouter",
            Preset::Together => "togetherai",
            Preset::Fireworks => "fireworks-ai",
            Preset::Vllm => "vllm",
            Preset::Ollama => "ollama",
        }
    }

    /// Whether OpenAI clients' bodies may be forwarded unchanged. Not for presets
    /// whose requests must be rewritten (Mistral's tool-call ids) or whose streams
    /// OpenAI SDKs cannot read as they are (Ollama's index-less tool calls).
    pub fn passthrough(self) -> bool {
        !matches!(self, Preset::Mistral | Preset::Ollama)
    }

    /// `tool_choice: required` in this service's spelling.
    pub fn tool_choice_required(self) -> &'static str {
        match self {
            Preset::Mistral => "any",
            _ => "required",
        }
    }

    /// Whether an assistant turn that called tools is sent with its reasoning.
    pub fn replays_reasoning(self) -> bool {
        self == Preset::DeepSeek
    }

    /// Whether tool-call ids are rewritten ([`mistral_tool_id`]).
    pub fn short_tool_ids(self) -> bool {
        self == Preset::Mistral
    }

    /// Whether reasoning effort is sent (`reasoning_effort`): Mistral rejects it.
    pub fn takes_reasoning_effort(self) -> bool {
        self != Preset::Mistral
    }
}

/// A tool-call id as Mistral accepts it: exactly 9 ASCII letters or digits. An id that
/// already is one (Mistral's own, which clients send back) is kept, so the ids a
/// client sees stay the same across turns; any other id (another provider's
/// `call_…`, `toolu_…`) is hashed to one, the same every time, so a call and its
/// result still match.
pub fn mistral_tool_id(id: &str) -> Cow<'_, str> {
    if id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Cow::Borrowed(id);
    }
    // FNV-1a, 64 bits: deterministic across runs and builds (std's hasher is not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    // 62^9 < 2^54: nine base-62 digits of the hash's top bits.
    let mut n = h >> 10;
    let mut out = [0u8; 9];
    for c in out.iter_mut().rev() {
        *c = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Whether a provider's error answer says it does not take `stream_options` (vLLM
/// before 0.5.x, older llama.cpp and LocalAI builds, strict validators such as
/// Mistral's). The request is then sent once more without it, and the provider is
/// remembered as one that rejects it.
pub fn rejects_stream_options(status: u16, message: Option<&str>) -> bool {
    matches!(status, 400 | 422) && message.is_some_and(|m| m.contains("stream_options"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Preset::ALL {
            assert_eq!(Preset::parse(p.name()), Some(p));
        }
        assert_eq!(Preset::parse("mistal"), None);
    }

    #[test]
    fn mistral_ids_are_nine_alphanumerics_and_stable() {
        for id in ["call_abc123", "toolu_01A09q90qw90lq917835lq9", "x", ""] {
            let m = mistral_tool_id(id);
            assert_eq!(m.len(), 9, "{id}");
            assert!(m.bytes().all(|b| b.is_ascii_alphanumeric()), "{m}");
            assert_eq!(m, mistral_tool_id(id), "deterministic");
        }
        assert_eq!(
            mistral_tool_id("D681PevKs"),
            "D681PevKs",
            "Mistral's own kept"
        );
        assert_ne!(mistral_tool_id("call_1"), mistral_tool_id("call_2"));
    }

    #[test]
    fn stream_options_rejections() {
        assert!(rejects_stream_options(
            400,
            Some("Unrecognized request argument supplied: stream_options")
        ));
        assert!(!rejects_stream_options(400, Some("max_tokens too large")));
        assert!(!rejects_stream_options(500, Some("stream_options")));
        assert!(!rejects_stream_options(400, None));
    }
}
