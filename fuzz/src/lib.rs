//! Helpers shared by the fuzz targets.
//!
//! Chunked targets read their input as `header ++ payload`:
//!
//! - byte 0: its low 4 bits say how many cut bytes follow (0..=15); the high bits are
//!   free for the target (unused so far);
//! - the cut bytes: chunk lengths, used in turn and cyclically (`% 64`, so cuts stay
//!   small and land everywhere); a 0 feeds an empty chunk;
//! - the rest is the payload, the bytes a provider would send.
//!
//! With no cut bytes the payload is fed whole. `\x01\x01` + payload feeds it byte by
//! byte. The seed corpora carry such headers (see `README.md`).

use switchyard::formats::sse::{SseEvent, SseParser};

/// Splits a fuzz input into its chunk lengths and its payload.
pub fn split_input(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return (&[], &[]);
    };
    let n = usize::from(head & 0x0f).min(rest.len());
    rest.split_at(n)
}

/// The payload cut as `cuts` says (see the module docs). The chunks concatenate to
/// `payload` exactly.
pub fn chunks<'a>(cuts: &[u8], payload: &'a [u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = payload;
    if cuts.is_empty() || cuts.iter().all(|&c| c % 64 == 0) {
        out.extend(cuts.iter().map(|_| &payload[..0]));
        out.push(rest);
        return out;
    }
    'outer: loop {
        for &c in cuts {
            if rest.is_empty() {
                break 'outer;
            }
            let n = usize::from(c % 64).min(rest.len());
            let (a, b) = rest.split_at(n);
            out.push(a);
            rest = b;
        }
    }
    out
}

/// Parses `chunks` with one `SseParser`, then `finish`.
pub fn parse_sse<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<SseEvent> {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    for c in chunks {
        p.feed(c, &mut out);
    }
    p.finish(&mut out);
    out
}

/// What a client may receive: UTF-8; whole events (`\n\n`-terminated); every line empty,
/// `event: NAME` or `data: JSON-or-[DONE]`; and, read back with `SseParser`, every
/// event's data one JSON value or `[DONE]`. Panics (a fuzz finding) otherwise; `what`
/// names the case.
pub fn check_client_stream(out: &[u8], what: &str) {
    let text = match std::str::from_utf8(out) {
        Ok(t) => t,
        Err(e) => panic!(
            "{what}: output is not UTF-8 ({e}): {:?}",
            String::from_utf8_lossy(out)
        ),
    };
    if !text.is_empty() && !text.ends_with("\n\n") {
        panic!("{what}: output ends inside an event: {text:?}");
    }
    if text.contains('\r') {
        panic!("{what}: raw CR in output (breaks SSE framing): {text:?}");
    }
    for line in text.split('\n') {
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix("event: ") {
            if name.is_empty() {
                panic!("{what}: bad event name line {line:?}");
            }
            continue;
        }
        let Some(data) = line.strip_prefix("data: ") else {
            panic!("{what}: line is neither event nor data: {line:?}");
        };
        if data != "[DONE]" && serde_json::from_str::<serde_json::Value>(data).is_err() {
            panic!("{what}: data line is not JSON: {line:?}");
        }
    }
    for ev in parse_sse([out]) {
        if ev.data == "[DONE]" {
            continue;
        }
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&ev.data) {
            panic!("{what}: event data is not JSON ({e}): {ev:?}");
        }
    }
}

/// Panics unless `bytes` is one JSON value.
pub fn check_json(bytes: &[u8], what: &str) {
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(bytes) {
        panic!(
            "{what}: not valid JSON ({e}): {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

/// A client request in `from`: `parse_request` must not panic; one it accepts must
/// encode, for a provider in the other format (with and without sampling parameters)
/// and in its own, as valid JSON, or be refused with an error.
pub fn check_request(from: switchyard::formats::ApiFormat, data: &[u8]) {
    use switchyard::formats::{encode_request, parse_request, ApiFormat, EncodeOptions};
    let Ok(req) = parse_request(from, data) else {
        return;
    };
    let other = match from {
        ApiFormat::OpenAi => ApiFormat::Anthropic,
        ApiFormat::Anthropic => ApiFormat::OpenAi,
    };
    for (to, sampling_params) in [(other, true), (other, false), (from, true)] {
        let opts = EncodeOptions {
            model: "fuzz-model",
            default_max_tokens: 4096,
            sampling_params,
            preset: None,
            stream_options: true,
        };
        let mut dropped = Vec::new();
        if let Ok(out) = encode_request(to, &req, &opts, &mut dropped) {
            check_json(
                &out,
                &format!("{from:?} request -> {to:?} (sampling_params {sampling_params})"),
            );
        }
    }
}
