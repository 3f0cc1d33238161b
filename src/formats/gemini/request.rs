//! Canonical request -> Gemini `GenerateContentRequest`.

use super::SIGNATURE_TAG;
use crate::formats::anthropic::response::input_object;
use crate::formats::model::{
    signature_for, ChatRequest, ContentPart, Effort, ImageSource, Reasoning, ResponseFormatKind,
    Role, ToolChoice,
};
use crate::formats::{EncodeOptions, TranslateError};
use serde::Serialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Google's documented stand-in for a function call whose signature is unknown (a
/// history from another provider, or a memo that expired): the model then reasons
/// afresh instead of rejecting the request.
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutRequest<'a> {
    contents: Vec<OutContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<OutSystem<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<OutToolConfig<'a>>,
    #[serde(skip_serializing_if = "OutGenerationConfig::is_empty")]
    generation_config: OutGenerationConfig<'a>,
}

#[derive(Serialize)]
struct OutSystem<'a> {
    parts: Vec<OutPart<'a>>,
}

#[derive(Serialize)]
struct OutContent<'a> {
    role: &'static str,
    parts: Vec<OutPart<'a>>,
}

/// One part: exactly one of the data fields, plus a signature on model parts.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct OutPart<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inline_data: Option<OutBlob<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_call: Option<OutFunctionCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_response: Option<OutFunctionResponse<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought_signature: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutBlob<'a> {
    mime_type: &'a str,
    data: &'a str,
}

#[derive(Serialize)]
struct OutFunctionCall<'a> {
    name: &'a str,
    args: Cow<'a, RawValue>,
}

#[derive(Serialize)]
struct OutFunctionResponse<'a> {
    name: &'a str,
    response: Box<RawValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutTool<'a> {
    function_declarations: Vec<OutFunction<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutFunction<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters_json_schema: Option<&'a RawValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutToolConfig<'a> {
    function_calling_config: OutCallingConfig<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutCallingConfig<'a> {
    mode: &'static str,
    /// Only with `ANY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_function_names: Option<[&'a str; 1]>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct OutGenerationConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "<[Cow<str>]>::is_empty")]
    stop_sequences: &'a [Cow<'a, str>],
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<OutThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i32>,
    /// `application/json` for JSON mode and JSON schemas.
    #[serde(skip_serializing_if = "Option::is_none")]
    response_mime_type: Option<&'static str>,
    /// The client's JSON Schema, verbatim (Gemini's JSON Schema field, not the
    /// OpenAPI-subset `responseSchema`).
    #[serde(skip_serializing_if = "Option::is_none")]
    response_json_schema: Option<&'a RawValue>,
}

impl OutGenerationConfig<'_> {
    fn is_empty(&self) -> bool {
        self.max_output_tokens.is_none()
            && self.temperature.is_none()
            && self.top_p.is_none()
            && self.top_k.is_none()
            && self.stop_sequences.is_empty()
            && self.thinking_config.is_none()
            && self.seed.is_none()
            && self.response_mime_type.is_none()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutThinking {
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_budget: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_level: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    include_thoughts: bool,
}

/// Gemini 3 and later speak in thinking levels; 2.x in token budgets.
fn leveled(model: &str) -> bool {
    let m = model.strip_prefix("models/").unwrap_or(model);
    !(m.starts_with("gemini-1") || m.starts_with("gemini-2"))
}

fn thinking(reasoning: &Reasoning, model: &str) -> OutThinking {
    let level = |e: Effort| match e {
        Effort::Minimal | Effort::Low => "low",
        Effort::Medium | Effort::High => "high",
    };
    match (reasoning, leveled(model)) {
        (Reasoning::Disabled, true) => OutThinking {
            thinking_budget: None,
            thinking_level: Some("low"),
            include_thoughts: false,
        },
        (Reasoning::Disabled, false) => OutThinking {
            thinking_budget: Some(0),
            thinking_level: None,
            include_thoughts: false,
        },
        (Reasoning::Effort(e), true) => OutThinking {
            thinking_budget: None,
            thinking_level: Some(level(*e)),
            include_thoughts: true,
        },
        (Reasoning::Effort(e), false) => OutThinking {
            thinking_budget: Some(e.budget_tokens()),
            thinking_level: None,
            include_thoughts: true,
        },
        (Reasoning::BudgetTokens(b), _) => OutThinking {
            thinking_budget: Some(*b),
            thinking_level: None,
            include_thoughts: true,
        },
    }
}

/// A tool result's `response` object: the result text itself when it is a JSON
/// object, else `{"result": text}` (`{"error": text}` for a failed call).
fn response_object(content: &[ContentPart<'_>], is_error: bool) -> Box<RawValue> {
    let mut text = String::new();
    for c in content {
        if let ContentPart::Text { text: t, .. } = c {
            text.push_str(t);
        }
    }
    let trimmed = text.trim();
    if !is_error && trimmed.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<Box<RawValue>>(trimmed) {
            return v;
        }
    }
    let key = if is_error { "error" } else { "result" };
    let v = serde_json::json!({ key: text }).to_string();
    RawValue::from_string(v).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// Renders a canonical request as a Gemini `generateContent` body.
pub fn encode(
    req: &ChatRequest<'_>,
    opts: &EncodeOptions,
    dropped: &mut Vec<Cow<'_, str>>,
) -> Result<Vec<u8>, TranslateError> {
    // Tool call id -> function name, from the assistant turns (results need the name).
    let names: Vec<(&str, &str)> = req
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|p| match p {
            ContentPart::ToolCall { id, name, .. } => Some((id.as_ref(), name.as_ref())),
            _ => None,
        })
        .collect();
    let validated = leveled(opts.model);
    let mut contents: Vec<OutContent> = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "model",
        };
        let mut parts: Vec<OutPart> = Vec::with_capacity(m.content.len());
        // A signature waiting for the part it belongs to (the next function call).
        let mut signature: Option<&str> = None;
        let mut first_call = true;
        for (j, p) in m.content.iter().enumerate() {
            match p {
                ContentPart::Text { text, .. } if text.is_empty() => {}
                ContentPart::Text { text, .. } => parts.push(OutPart {
                    text: Some(text),
                    ..Default::default()
                }),
                ContentPart::Image(ImageSource::Base64 { media_type, data }) => {
                    parts.push(OutPart {
                        inline_data: Some(OutBlob {
                            mime_type: media_type,
                            data,
                        }),
                        ..Default::default()
                    })
                }
                ContentPart::Image(ImageSource::Url(_)) => return Err(TranslateError::new(
                    format!("messages[{i}].content[{j}]"),
                    "Gemini takes images inline only, not by URL; send the image as base64 data",
                )),
                ContentPart::ToolCall {
                    name, arguments, ..
                } => {
                    let sig = signature.take().or_else(|| {
                        (first_call && validated && m.role == Role::Assistant)
                            .then_some(SKIP_SIGNATURE)
                    });
                    first_call = false;
                    parts.push(OutPart {
                        function_call: Some(OutFunctionCall {
                            name,
                            args: input_object(arguments),
                        }),
                        thought_signature: sig,
                        ..Default::default()
                    });
                }
                ContentPart::ToolResult {
                    tool_call_id,
                    content,
                    is_error,
                } => {
                    let Some(&(_, name)) = names.iter().find(|(id, _)| id == tool_call_id) else {
                        return Err(TranslateError::new(
                            format!("messages[{i}].content[{j}]"),
                            format!(
                                "tool result '{tool_call_id}' answers no earlier tool call; \
                                 Gemini needs the function's name"
                            ),
                        ));
                    };
                    parts.push(OutPart {
                        function_response: Some(OutFunctionResponse {
                            name,
                            response: response_object(content, *is_error),
                        }),
                        ..Default::default()
                    });
                    for c in content {
                        if let ContentPart::Image(ImageSource::Base64 { media_type, data }) = c {
                            parts.push(OutPart {
                                inline_data: Some(OutBlob {
                                    mime_type: media_type,
                                    data,
                                }),
                                ..Default::default()
                            });
                        }
                    }
                }
                ContentPart::Thinking {
                    signature: Some(sig),
                    ..
                } => {
                    if let Some(s) = signature_for(sig, Some(SIGNATURE_TAG)) {
                        signature = Some(s);
                    }
                }
                // Reasoning text goes to no provider but the one that signed it; Gemini
                // re-reasons from its signatures.
                ContentPart::Thinking { .. } | ContentPart::RedactedThinking { .. } => {}
            }
        }
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last.role == role => last.parts.extend(parts),
            _ => contents.push(OutContent { role, parts }),
        }
    }
    let system = (!req.system.is_empty()).then(|| OutSystem {
        parts: req
            .system
            .iter()
            .filter(|p| !p.text.is_empty())
            .map(|p| OutPart {
                text: Some(&p.text),
                ..Default::default()
            })
            .collect(),
    });
    let tools = if req.tools.is_empty() {
        Vec::new()
    } else {
        vec![OutTool {
            function_declarations: req
                .tools
                .iter()
                .map(|t| OutFunction {
                    name: &t.name,
                    description: t.description.as_deref(),
                    parameters_json_schema: t.parameters.as_deref(),
                })
                .collect(),
        }]
    };
    if req.parallel_tool_calls == Some(false) && !tools.is_empty() {
        dropped.push("parallel_tool_calls".into());
    }
    let tool_config = req.tool_choice.as_ref().map(|c| {
        let (mode, name) = match c {
            ToolChoice::None => ("NONE", None),
            ToolChoice::Auto => ("AUTO", None),
            ToolChoice::Required => ("ANY", None),
            ToolChoice::Named(n) => ("ANY", Some([n.as_ref()])),
        };
        OutToolConfig {
            function_calling_config: OutCallingConfig {
                mode,
                allowed_function_names: name,
            },
        }
    });
    // Gemini has no name or strictness for a schema: the schema is always enforced.
    let (response_mime_type, response_json_schema) =
        match req.response_format.as_ref().map(|f| &f.kind) {
            None | Some(ResponseFormatKind::Text) => (None, None),
            Some(ResponseFormatKind::JsonObject) => (Some("application/json"), None),
            Some(ResponseFormatKind::JsonSchema { schema, .. }) => {
                (Some("application/json"), schema.as_deref())
            }
        };
    // Gemini's seed is an int32; a wider one cannot be sent as asked.
    let seed = req.seed.and_then(|s| {
        let narrow = i32::try_from(s).ok();
        if narrow.is_none() {
            dropped.push("seed".into());
        }
        narrow
    });
    let out = OutRequest {
        contents,
        system_instruction: system.filter(|s| !s.parts.is_empty()),
        tools,
        tool_config,
        generation_config: OutGenerationConfig {
            max_output_tokens: req.max_tokens,
            temperature: req.temperature,
            top_p: req.top_p,
            top_k: req.top_k,
            stop_sequences: &req.stop,
            thinking_config: req.reasoning.as_ref().map(|r| thinking(r, opts.model)),
            seed,
            response_mime_type,
            response_json_schema,
        },
    };
    let mut buf = crate::formats::request_buffer(req);
    serde_json::to_writer(&mut buf, &out)
        .map_err(|e| TranslateError::new("body", e.to_string()))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn opts(model: &str) -> EncodeOptions<'_> {
        EncodeOptions {
            model,
            default_max_tokens: 4096,
            sampling_params: true,
            preset: None,
            stream_options: true,
        }
    }

    fn encode_openai(body: &Value, model: &str) -> (Value, Vec<String>) {
        let bytes = serde_json::to_vec(body).unwrap();
        let r = crate::formats::openai::request::parse(&bytes).unwrap();
        let mut dropped = Vec::new();
        let out = encode(&r, &opts(model), &mut dropped).unwrap();
        (
            serde_json::from_slice(&out).unwrap(),
            dropped.into_iter().map(|d| d.into_owned()).collect(),
        )
    }

    #[test]
    fn response_format_becomes_json_mime_type_and_schema() {
        let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
        let (v, dropped) = encode_openai(
            &json!({"model": "m", "messages": [{"role": "user", "content": "q"}], "seed": 7,
                "response_format": {"type": "json_schema", "json_schema": {"name": "city", "strict": true, "schema": schema}}}),
            "gemini-2.5-flash",
        );
        let g = &v["generationConfig"];
        assert_eq!(g["responseMimeType"], "application/json");
        assert_eq!(g["responseJsonSchema"], schema);
        assert_eq!(g["seed"], 7);
        assert!(dropped.is_empty(), "{dropped:?}");

        let (v, _) = encode_openai(
            &json!({"model": "m", "messages": [], "response_format": {"type": "json_object"}}),
            "gemini-2.5-flash",
        );
        assert_eq!(
            v["generationConfig"],
            json!({"responseMimeType": "application/json"})
        );
        let (v, _) = encode_openai(
            &json!({"model": "m", "messages": [], "response_format": {"type": "text"}}),
            "gemini-2.5-flash",
        );
        assert!(v.get("generationConfig").is_none(), "{v}");
        // Gemini's seed is an int32.
        let (v, dropped) = encode_openai(
            &json!({"model": "m", "messages": [], "seed": 1_u64 << 40}),
            "gemini-2.5-flash",
        );
        assert!(v.get("generationConfig").is_none(), "{v}");
        assert_eq!(dropped, ["seed"]);
    }

    #[test]
    fn openai_tool_loop_becomes_gemini_contents() {
        let (v, dropped) = encode_openai(
            &json!({
                "model": "m",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": [
                        {"type": "text", "text": "Weather?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
                    ]},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\": \"Paris\"}"}},
                        {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_a", "content": "18C"},
                    {"role": "tool", "tool_call_id": "call_b", "content": "{\"time\": \"noon\"}"}
                ],
                "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}}],
                "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                "parallel_tool_calls": false,
                "max_tokens": 100, "temperature": 0.2, "stop": ["END"],
                "reasoning_effort": "low"
            }),
            "gemini-2.5-flash",
        );
        assert_eq!(
            v["systemInstruction"],
            json!({"parts": [{"text": "Be brief."}]})
        );
        let c = v["contents"].as_array().unwrap();
        assert_eq!(c.len(), 3, "{v}");
        assert_eq!(
            c[0]["parts"][1]["inlineData"],
            json!({"mimeType": "image/png", "data": "iVBORw0KGgo="})
        );
        assert_eq!(c[1]["role"], "model");
        assert_eq!(
            c[1]["parts"][0]["functionCall"],
            json!({"name": "get_weather", "args": {"location": "Paris"}})
        );
        assert_eq!(
            c[1]["parts"][1]["functionCall"],
            json!({"name": "get_time", "args": {}})
        );
        // Gemini 2.x validates no signatures: none is made up.
        assert!(c[1]["parts"][0].get("thoughtSignature").is_none());
        assert_eq!(c[2]["role"], "user");
        assert_eq!(
            c[2]["parts"][0]["functionResponse"],
            json!({"name": "get_weather", "response": {"result": "18C"}})
        );
        assert_eq!(
            c[2]["parts"][1]["functionResponse"],
            json!({"name": "get_time", "response": {"time": "noon"}})
        );
        assert_eq!(
            v["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"],
            json!({"type": "object"})
        );
        assert_eq!(
            v["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
        );
        let g = &v["generationConfig"];
        assert_eq!(
            (
                g["maxOutputTokens"].as_u64(),
                g["stopSequences"][0].as_str()
            ),
            (Some(100), Some("END"))
        );
        assert_eq!(
            g["thinkingConfig"],
            json!({"thinkingBudget": 2048, "includeThoughts": true})
        );
        assert_eq!(dropped, ["parallel_tool_calls"]);
    }

    #[test]
    fn signatures_ride_on_their_calls() {
        // As an Anthropic client sends back what a Gemini answer gave it.
        let body = json!({
            "model": "m", "max_tokens": 50,
            "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "", "signature": "gemini:U0lH"},
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"location": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"location": "Tokyo"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "25C", "is_error": true}
                ]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "EqoBanthropic"},
                    {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}}
                ]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "ok"}]}
            ],
            "thinking": {"type": "enabled", "budget_tokens": 2000}
        });
        let bytes = serde_json::to_vec(&body).unwrap();
        let r = crate::formats::anthropic::request::parse(&bytes).unwrap();
        let out = encode(&r, &opts("gemini-3-pro-preview"), &mut Vec::new()).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        let c = &v["contents"];
        assert_eq!(c[1]["parts"][0]["thoughtSignature"], "U0lH");
        assert!(
            c[1]["parts"][1].get("thoughtSignature").is_none(),
            "only the first call"
        );
        assert_eq!(
            c[2]["parts"][1]["functionResponse"]["response"],
            json!({"error": "25C"})
        );
        // Another provider's history: the documented stand-in, and no foreign signature.
        assert_eq!(c[3]["parts"][0]["thoughtSignature"], SKIP_SIGNATURE);
        assert_eq!(c[3]["parts"].as_array().unwrap().len(), 1);
        assert_eq!(
            v["generationConfig"]["thinkingConfig"]["thinkingBudget"],
            2000
        );
    }

    #[test]
    fn unknown_tool_results_and_image_urls_are_refused_with_paths() {
        let body =
            br#"{"model":"m","messages":[{"role":"tool","tool_call_id":"nope","content":"x"}]}"#;
        let r = crate::formats::openai::request::parse(body).unwrap();
        let e = encode(&r, &opts("gemini-2.5-pro"), &mut Vec::new()).unwrap_err();
        assert_eq!(e.path, "messages[0].content[0]");
        let body = br#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}"#;
        let r = crate::formats::openai::request::parse(body).unwrap();
        let e = encode(&r, &opts("gemini-2.5-pro"), &mut Vec::new()).unwrap_err();
        assert!(e.message.contains("base64"), "{e}");
    }

    #[test]
    fn effort_levels_for_gemini_3_and_off_for_2() {
        let ask = |effort: &str, model: &str| {
            let (v, _) = encode_openai(
                &json!({"model": "m", "messages": [{"role": "user", "content": "q"}], "reasoning_effort": effort}),
                model,
            );
            v["generationConfig"]["thinkingConfig"].clone()
        };
        assert_eq!(
            ask("high", "gemini-3-pro-preview"),
            json!({"thinkingLevel": "high", "includeThoughts": true})
        );
        assert_eq!(
            ask("minimal", "gemini-3-flash"),
            json!({"thinkingLevel": "low", "includeThoughts": true})
        );
        assert_eq!(
            ask("medium", "models/gemini-2.5-flash"),
            json!({"thinkingBudget": 8192, "includeThoughts": true})
        );
        let (v, _) = encode_openai(
            &json!({"model": "m", "messages": [{"role": "user", "content": "q"}]}),
            "gemini-2.5-flash",
        );
        assert!(v.get("generationConfig").is_none(), "{v}");
    }
}
