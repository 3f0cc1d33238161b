//! Request bodies and the request kinds of a run (built once, cloned per request).

use crate::cli::{Api, Args};
use bytes::Bytes;

/// What a request is and how the client treats its response.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Non-streamed request.
    Plain = 0,
    /// Streamed, read at full speed.
    Stream = 1,
    /// Streamed, read slowly over a connection with a small receive buffer.
    Slow = 2,
    /// Streamed, abandoned by the client after a few events.
    Disconnect = 3,
    /// Upstream answers an error status; a non-2xx answer is the expected outcome.
    Error = 4,
}

pub const KINDS: [Kind; 5] = [
    Kind::Plain,
    Kind::Stream,
    Kind::Slow,
    Kind::Disconnect,
    Kind::Error,
];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::Stream => "stream",
            Kind::Slow => "slow",
            Kind::Disconnect => "disconnect",
            Kind::Error => "error",
        }
    }
}

/// One kind, ready to send.
pub struct Spec {
    pub kind: Kind,
    pub model: String,
    pub body: Bytes,
    pub stream: bool,
    pub weight: u32,
}

/// All kinds used by a run, and the weighted choice between them.
pub struct Plan {
    pub specs: Vec<Spec>,
    total_weight: u32,
}

impl Plan {
    pub fn new(args: &Args, body_size: usize) -> Result<Plan, String> {
        let mut specs = Vec::new();
        if args.mix {
            let p = &args.model_prefix;
            let streamed = format!("{p}mock:events={},delay_ms={}", args.events, args.delay_ms);
            let list = [
                (Kind::Plain, format!("{p}mock:echo"), false, args.mix_plain),
                (Kind::Stream, streamed.clone(), true, args.mix_stream),
                (Kind::Slow, streamed.clone(), true, args.mix_slow),
                (Kind::Disconnect, streamed, true, args.mix_disconnect),
                (
                    Kind::Error,
                    format!("{p}mock:status={}", args.error_status),
                    false,
                    args.mix_error,
                ),
            ];
            for (kind, model, stream, weight) in list {
                if weight > 0 {
                    let body = build_body(args.api, &model, stream, body_size);
                    specs.push(Spec {
                        kind,
                        model,
                        body,
                        stream,
                        weight,
                    });
                }
            }
            if specs.is_empty() {
                return Err("--mix: all weights are 0".into());
            }
        } else {
            let model = args
                .model
                .replace("{events}", &args.events.to_string())
                .replace("{delay}", &args.delay_ms.to_string());
            let kind = if args.stream {
                Kind::Stream
            } else {
                Kind::Plain
            };
            let body = build_body(args.api, &model, args.stream, body_size);
            specs.push(Spec {
                kind,
                model,
                body,
                stream: args.stream,
                weight: 1,
            });
        }
        let total_weight = specs.iter().map(|s| s.weight).sum();
        Ok(Plan {
            specs,
            total_weight,
        })
    }

    /// Picks a spec by weight.
    pub fn pick(&self, rng: &mut fastrand::Rng) -> &Spec {
        if self.specs.len() == 1 {
            return &self.specs[0];
        }
        let mut x = rng.u32(0..self.total_weight);
        for s in &self.specs {
            if x < s.weight {
                return s;
            }
            x -= s.weight;
        }
        &self.specs[self.specs.len() - 1]
    }
}

/// A request body of (about) `size` bytes: one user message (Responses: `input`)
/// padded with words.
pub fn build_body(api: Api, model: &str, stream: bool, size: usize) -> Bytes {
    let model_json = serde_json::to_string(model).expect("string serializes");
    let render = |content: &str| -> String {
        match api {
            Api::Openai => format!(
                "{{\"model\":{model_json},\"messages\":[{{\"role\":\"user\",\"content\":\"{content}\"}}],\"stream\":{stream}}}"
            ),
            Api::Anthropic => format!(
                "{{\"model\":{model_json},\"max_tokens\":1024,\"messages\":[{{\"role\":\"user\",\"content\":\"{content}\"}}],\"stream\":{stream}}}"
            ),
            Api::Responses => format!(
                "{{\"model\":{model_json},\"input\":\"{content}\",\"store\":true,\"stream\":{stream}}}"
            ),
        }
    };
    let overhead = render("").len();
    let want = size.saturating_sub(overhead).max(16);
    const WORDS: &[u8] = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua ";
    let mut pad = String::with_capacity(want);
    while pad.len() < want {
        let take = (want - pad.len()).min(WORDS.len());
        pad.push_str(std::str::from_utf8(&WORDS[..take]).expect("ascii"));
    }
    // No trailing space: keeps the echo's last word non-empty.
    if pad.ends_with(' ') {
        pad.pop();
        pad.push('x');
    }
    Bytes::from(render(&pad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_sizes_and_shape() {
        for size in [1024, 16 * 1024, 256 * 1024] {
            for api in [Api::Openai, Api::Anthropic, Api::Responses] {
                let b = build_body(api, "anth/mock:events=3", true, size);
                assert_eq!(b.len(), size);
                let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
                assert_eq!(v["model"], "anth/mock:events=3");
                assert_eq!(v["stream"], true);
                assert_eq!(v.get("max_tokens").is_some(), api == Api::Anthropic);
                if api == Api::Responses {
                    assert!(v["input"].as_str().unwrap().len() > size / 2);
                    assert_eq!(v["store"], true);
                } else {
                    assert_eq!(v["messages"][0]["role"], "user");
                }
            }
        }
    }
}
