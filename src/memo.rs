//! Signed reasoning an OpenAI client cannot carry back (#16 defect 7).
//!
//! With thinking on, Anthropic requires the assistant turn that called tools to come
//! back with its thinking blocks, signature and all, when the tool results are sent.
//! An OpenAI client gets that reasoning as `reasoning_content` (no signature) or not
//! at all, and sends back only the tool calls. So when an Anthropic answer with
//! thinking and tool calls goes to an OpenAI client, its thinking blocks are kept
//! here under each tool call's id; when a later request from the same gateway key
//! sends those tool calls back, translation to Anthropic puts them in front again.
//!
//! In process, bounded in bytes and by age: a tool loop's next turn comes within
//! seconds or minutes. With `state.redis` (or `cache.redis`) the blocks are also
//! written to Redis (`P:think:{key}:{tool call id}`, one hour), so the next turn may
//! reach any instance; a Redis error only means the in-process copy is all there is.

use crate::config::RedisConfig;
use crate::formats::model::{ChatRequest, ChatResponse, ContentPart, Role};
use crate::state::redis::RedisLink;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const MAX_BYTES: u64 = 64 * 1024 * 1024;
const KEEP_FOR: Duration = Duration::from_secs(60 * 60);

type Blocks = Arc<Vec<ContentPart<'static>>>;

pub struct ThinkingMemo {
    /// (gateway key name, tool call id) -> the answer's thinking blocks.
    blocks: moka::sync::Cache<(String, String), Blocks>,
    /// Something was kept once: until then a lookup costs nothing.
    used: AtomicBool,
    /// The shared copy, and its key prefix (`P:think:`).
    redis: Option<(Arc<RedisLink>, String)>,
}

/// A thinking block as stored in Redis.
#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Stored<'a> {
    Thinking {
        #[serde(borrow)]
        text: Cow<'a, str>,
        #[serde(borrow)]
        signature: Cow<'a, str>,
    },
    Redacted {
        #[serde(borrow)]
        data: Cow<'a, str>,
    },
}

impl Default for ThinkingMemo {
    fn default() -> Self {
        Self::new(None)
    }
}

fn size(blocks: &[ContentPart<'_>]) -> u32 {
    let bytes: usize = blocks
        .iter()
        .map(|b| match b {
            ContentPart::Thinking { text, signature } => {
                text.len() + signature.as_ref().map_or(0, |s| s.len())
            }
            ContentPart::RedactedThinking { data } => data.len(),
            _ => 0,
        })
        .sum();
    (bytes + 128).min(u32::MAX as usize) as u32
}

fn signed(p: &ContentPart<'_>) -> bool {
    matches!(
        p,
        ContentPart::Thinking {
            signature: Some(_),
            ..
        } | ContentPart::RedactedThinking { .. }
    )
}

impl ThinkingMemo {
    /// `redis`: where to share the blocks with other instances.
    pub fn new(redis: Option<&RedisConfig>) -> Self {
        let redis = redis.map(|r| {
            let link = RedisLink::new(
                r.clone(),
                "thinking memo",
                "tool loops whose next turn reaches another instance lose their thinking".into(),
            );
            (Arc::new(link), format!("{}:think:", r.key_prefix))
        });
        ThinkingMemo {
            redis,
            blocks: moka::sync::Cache::builder()
                .max_capacity(MAX_BYTES)
                .weigher(|k: &(String, String), v: &Blocks| {
                    size(v).saturating_add((k.0.len() + k.1.len()) as u32)
                })
                .time_to_live(KEEP_FOR)
                .build(),
            used: AtomicBool::new(false),
        }
    }

    /// The Redis link, for the connector service to connect.
    pub fn redis_link(&self) -> Option<&Arc<RedisLink>> {
        self.redis.as_ref().map(|(l, _)| l)
    }

    fn redis_key(prefix: &str, tenant: &str, id: &str) -> String {
        format!("{prefix}{{{tenant}}}:{id}")
    }

    /// Keeps the signed thinking of an answer that called tools, under each call's id.
    pub fn remember(&self, tenant: &str, answer: &ChatResponse) {
        let thinking: Vec<ContentPart<'static>> = answer
            .content
            .iter()
            .filter(|p| signed(p))
            .cloned()
            .collect();
        if thinking.is_empty() {
            return;
        }
        let shared = self.redis.as_ref().and_then(|(link, prefix)| {
            let stored: Vec<Stored<'_>> = thinking
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Thinking {
                        text,
                        signature: Some(sig),
                    } => Some(Stored::Thinking {
                        text: Cow::Borrowed(text),
                        signature: Cow::Borrowed(sig),
                    }),
                    ContentPart::RedactedThinking { data } => Some(Stored::Redacted {
                        data: Cow::Borrowed(data),
                    }),
                    _ => None,
                })
                .collect();
            Some((link, prefix, serde_json::to_vec(&stored).ok()?))
        });
        let thinking = Arc::new(thinking);
        self.used.store(true, Ordering::Relaxed);
        for p in &answer.content {
            if let ContentPart::ToolCall { id, .. } = p {
                self.blocks
                    .insert((tenant.to_string(), id.to_string()), thinking.clone());
                if let Some((link, prefix, bytes)) = &shared {
                    let mut cmd = redis::cmd("SET");
                    cmd.arg(Self::redis_key(prefix, tenant, id))
                        .arg(bytes.as_slice())
                        .arg("PX")
                        .arg(KEEP_FOR.as_millis() as u64);
                    link.in_background("memo_set", cmd);
                }
            }
        }
    }

    /// The blocks kept for a tool call: in process, else (when `shared`) in Redis.
    async fn lookup(&self, tenant: &str, id: &str, shared: bool) -> Option<Blocks> {
        let key = (tenant.to_string(), id.to_string());
        if let Some(b) = self.blocks.get(&key) {
            return Some(b);
        }
        let (link, prefix) = self.redis.as_ref().filter(|_| shared)?;
        let cmd = redis::Cmd::get(Self::redis_key(prefix, tenant, id));
        let bytes: Vec<u8> = match link.query::<Option<Vec<u8>>>(&cmd).await {
            Ok(v) => v?,
            Err(e) => {
                link.record_error("memo_get", &e);
                return None;
            }
        };
        let stored: Vec<Stored<'_>> = serde_json::from_slice(&bytes).ok()?;
        let blocks: Blocks = Arc::new(
            stored
                .into_iter()
                .map(|s| match s {
                    Stored::Thinking { text, signature } => ContentPart::Thinking {
                        text: Cow::Owned(text.into_owned()),
                        signature: Some(Cow::Owned(signature.into_owned())),
                    },
                    Stored::Redacted { data } => ContentPart::RedactedThinking {
                        data: Cow::Owned(data.into_owned()),
                    },
                })
                .collect(),
        );
        self.blocks.insert(key, blocks.clone());
        Some(blocks)
    }

    /// Puts remembered thinking back in front of each assistant turn that sends tool
    /// calls without signed thinking (replacing unsigned `reasoning_content`);
    /// returns how many turns got theirs back.
    pub async fn restore(&self, tenant: &str, req: &mut ChatRequest<'_>) -> usize {
        if !self.used.load(Ordering::Relaxed) && self.redis.is_none() {
            return 0;
        }
        let mut restored = 0;
        // Anthropic needs the thinking of the last assistant turn (the one whose tool
        // results follow); only that one is worth a Redis round trip.
        let last = req.messages.iter().rposition(|m| m.role == Role::Assistant);
        for (i, m) in req.messages.iter_mut().enumerate() {
            if m.role != Role::Assistant {
                continue;
            }
            if m.content.iter().any(signed) {
                continue;
            }
            let first_call = m.content.iter().find_map(|p| match p {
                ContentPart::ToolCall { id, .. } => Some(id.to_string()),
                _ => None,
            });
            let Some(id) = first_call else { continue };
            let Some(blocks) = self.lookup(tenant, &id, Some(i) == last).await else {
                continue;
            };
            m.content
                .retain(|p| !matches!(p, ContentPart::Thinking { .. }));
            m.content.splice(0..0, blocks.iter().cloned());
            restored += 1;
        }
        restored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::model::{FinishReason, Message, Usage};

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn answer() -> ChatResponse {
        ChatResponse {
            id: "msg_1".into(),
            model: "claude".into(),
            content: vec![
                ContentPart::Thinking {
                    text: "think".into(),
                    signature: Some("sig".into()),
                },
                ContentPart::ToolCall {
                    id: "toolu_1".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                },
            ],
            refusal: None,
            finish_reason: Some(FinishReason::ToolCalls),
            usage: Usage::default(),
        }
    }

    fn turn(id: &str, reasoning: bool) -> ChatRequest<'static> {
        let mut content = Vec::new();
        if reasoning {
            content.push(ContentPart::Thinking {
                text: "think".into(),
                signature: None,
            });
        }
        content.push(ContentPart::ToolCall {
            id: id.to_string().into(),
            name: "f".into(),
            arguments: "{}".into(),
        });
        ChatRequest {
            messages: vec![Message {
                role: Role::Assistant,
                content,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn signed_thinking_comes_back_for_its_tool_calls_and_its_key_only() {
        let memo = ThinkingMemo::new(None);
        memo.remember("team-a", &answer());
        let mut req = turn("toolu_1", true);
        assert_eq!(block_on(memo.restore("team-a", &mut req)), 1);
        assert_eq!(req.messages[0].content[0], answer().content[0]);
        assert_eq!(
            req.messages[0].content.len(),
            2,
            "the unsigned copy is replaced"
        );
        // Idempotent: a turn with signed thinking is left alone.
        assert_eq!(block_on(memo.restore("team-a", &mut req)), 0);
        let mut other = turn("toolu_1", false);
        assert_eq!(block_on(memo.restore("team-b", &mut other)), 0);
        let mut unknown = turn("toolu_9", false);
        assert_eq!(block_on(memo.restore("team-a", &mut unknown)), 0);
    }
}
