//! Provider responses. The payload is read as a complete body by `parse_response` in
//! both formats (an accepted one must render as JSON for either client), and as a
//! stream by `StreamTranslator` for all four from/to pairs, cut into the chunks the
//! input's header chooses: whatever the provider sent, the client gets UTF-8 SSE
//! whose every data line is JSON or `[DONE]`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::formats::stream::StreamTranslator;
use switchyard::formats::{encode_response, parse_response, ApiFormat};
use switchyard_fuzz::{check_client_stream, check_json, chunks, split_input};

const FORMATS: [ApiFormat; 2] = [ApiFormat::OpenAi, ApiFormat::Anthropic];

fuzz_target!(|data: &[u8]| {
    let (cuts, payload) = split_input(data);

    for from in FORMATS {
        if let Ok(resp) = parse_response(from, payload) {
            for to in FORMATS {
                check_json(
                    &encode_response(to, &resp),
                    &format!("{from:?} body -> {to:?}"),
                );
            }
        }
    }

    let pieces = chunks(cuts, payload);
    for from in FORMATS {
        for to in FORMATS {
            let what = format!("{from:?} stream -> {to:?}");
            let mut t = StreamTranslator::new(from, to, true);
            t.collect_answer();
            let mut out = Vec::new();
            for piece in &pieces {
                t.feed(piece, &mut out);
            }
            t.finish(&mut out);
            check_client_stream(&out, &what);
            let _ = t.status();
            let _ = t.usage();
            // The cache stores the assembled answer and renders it as a body.
            if let Some(answer) = t.take_answer() {
                check_json(&encode_response(to, &answer), &format!("{what}, answer"));
            }
        }
    }
});
