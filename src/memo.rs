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
//! seconds or minutes. Behind a load balancer without session affinity the next turn
//! may reach another instance, which does not have them (the provider then answers
//! 400, as it does today); sharing them through Redis is the next step.

use crate::formats::model::{ChatRequest, ChatResponse, ContentPart, Role};
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
}

impl Default for ThinkingMemo {
    fn default() -> Self {
        Self::new()
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
    pub fn new() -> Self {
        ThinkingMemo {
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
        let thinking = Arc::new(thinking);
        self.used.store(true, Ordering::Relaxed);
        for p in &answer.content {
            if let ContentPart::ToolCall { id, .. } = p {
                self.blocks
                    .insert((tenant.to_string(), id.to_string()), thinking.clone());
            }
        }
    }

    /// Puts remembered thinking back in front of each assistant turn that sends tool
    /// calls without signed thinking (replacing unsigned `reasoning_content`);
    /// returns how many turns got theirs back.
    pub fn restore(&self, tenant: &str, req: &mut ChatRequest<'_>) -> usize {
        if !self.used.load(Ordering::Relaxed) {
            return 0;
        }
        let mut restored = 0;
        for m in req
            .messages
            .iter_mut()
            .filter(|m| m.role == Role::Assistant)
        {
            if m.content.iter().any(signed) {
                continue;
            }
            let Some(blocks) = m.content.iter().find_map(|p| match p {
                ContentPart::ToolCall { id, .. } => {
                    self.blocks.get(&(tenant.to_string(), id.to_string()))
                }
                _ => None,
            }) else {
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
        let memo = ThinkingMemo::new();
        memo.remember("team-a", &answer());
        let mut req = turn("toolu_1", true);
        assert_eq!(memo.restore("team-a", &mut req), 1);
        assert_eq!(req.messages[0].content[0], answer().content[0]);
        assert_eq!(
            req.messages[0].content.len(),
            2,
            "the unsigned copy is replaced"
        );
        // Idempotent: a turn with signed thinking is left alone.
        assert_eq!(memo.restore("team-a", &mut req), 0);
        let mut other = turn("toolu_1", false);
        assert_eq!(memo.restore("team-b", &mut other), 0);
        let mut unknown = turn("toolu_9", false);
        assert_eq!(memo.restore("team-a", &mut unknown), 0);
    }
}
