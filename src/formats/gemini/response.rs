//! A complete Gemini response -> canonical response: decoded as one stream chunk and
//! assembled, so it reads exactly as the same answer streamed would.

use super::stream::{GeminiDecoder, InResponse};
use crate::formats::answer::Assembler;
use crate::formats::model::{ChatResponse, StreamEvent};
use crate::formats::{from_json, TranslateError};

pub fn parse(body: &[u8]) -> Result<ChatResponse, TranslateError> {
    let r: InResponse = from_json(body)?;
    if let Some(e) = r.error {
        return Err(TranslateError::new(
            "error",
            e.message.unwrap_or_else(|| "provider error".into()),
        ));
    }
    let mut d = GeminiDecoder::default();
    let mut events = Vec::with_capacity(8);
    d.chunk(r, &mut events);
    if !d.ended() {
        return Err(TranslateError::new(
            "candidates",
            "the response has neither a finish reason nor a blocked prompt",
        ));
    }
    events.push(StreamEvent::Done);
    let mut a = Assembler::new();
    for e in &events {
        a.push(e);
    }
    a.finish()
        .ok_or_else(|| TranslateError::new("candidates", "the response is incomplete"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::model::{ContentPart, FinishReason};

    fn fixture(name: &str) -> ChatResponse {
        let path = format!(
            "{}/tests/fixtures/gemini/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        parse(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn text_and_usage() {
        let r = fixture("generate_text.json");
        assert_eq!(r.id, "qmCsaPyGM8Tfz7IPnd2AwA4");
        assert_eq!(r.model, "gemini-2.5-flash");
        assert_eq!(r.finish_reason, Some(FinishReason::Stop));
        assert!(
            matches!(&r.content[..], [ContentPart::Text { text, .. }] if text.ends_with("café culture."))
        );
        let u = r.usage;
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.reasoning_tokens
            ),
            (1500, 104, 1024, 80)
        );
    }

    #[test]
    fn parallel_calls_get_stable_ids_and_the_signature() {
        let r = fixture("generate_tools_parallel.json");
        assert_eq!(
            r.finish_reason,
            Some(FinishReason::ToolCalls),
            "STOP with calls"
        );
        let ids: Vec<&str> = r
            .content
            .iter()
            .filter_map(|p| match p {
                ContentPart::ToolCall { id, arguments, .. } => {
                    assert!(arguments.contains("location"));
                    Some(id.as_ref())
                }
                _ => None,
            })
            .collect();
        assert_eq!(ids.len(), 2);
        assert!(ids[0].starts_with("call_") && ids[0] != ids[1]);
        assert_eq!(
            fixture("generate_tools_parallel.json").content,
            r.content,
            "stable"
        );
        match &r.content[0] {
            ContentPart::Thinking {
                text,
                signature: Some(s),
            } => {
                assert!(text.is_empty() && s.starts_with("gemini:CiQB"));
            }
            other => panic!("expected the signature first, got {other:?}"),
        }
        // A provider that gives ids keeps them.
        let r = fixture("generate_tools_ids.json");
        assert!(
            matches!(&r.content[0], ContentPart::ToolCall { id, .. } if id == "fc_8bd1f2a7c3e94d05")
        );
    }

    #[test]
    fn blocked_prompts_and_safety_stops_are_content_filter_answers() {
        let r = fixture("generate_blocked.json");
        assert_eq!(r.finish_reason, Some(FinishReason::ContentFilter));
        assert!(
            matches!(&r.content[..], [ContentPart::Text { text, .. }] if text.contains("PROHIBITED_CONTENT"))
        );
        assert_eq!(r.usage.input_tokens, 12);
        let r = fixture("generate_safety.json");
        assert_eq!(r.finish_reason, Some(FinishReason::ContentFilter));
        assert!(r.content.is_empty());
    }

    #[test]
    fn an_error_body_or_an_unfinished_one_is_not_an_answer() {
        assert!(parse(br#"{"error":{"code":500,"message":"x","status":"INTERNAL"}}"#).is_err());
        assert!(parse(br#"{"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}"#).is_err());
    }
}
