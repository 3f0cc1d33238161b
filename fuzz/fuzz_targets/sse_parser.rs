//! `SseParser` must not depend on where the bytes were cut: the payload fed in the
//! chunks the input's header chooses gives exactly the events of the payload fed whole
//! (and, as a second reference, fed byte by byte).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_fuzz::{chunks, parse_sse, split_input};

fuzz_target!(|data: &[u8]| {
    let (cuts, payload) = split_input(data);
    let whole = parse_sse([payload]);
    let chunked = parse_sse(chunks(cuts, payload));
    assert_eq!(chunked, whole, "chunked (cuts {cuts:?}) differs from whole");
    if payload.len() <= 4096 {
        let bytewise = parse_sse(payload.chunks(1));
        assert_eq!(bytewise, whole, "byte by byte differs from whole");
    }
    // An event needs a data line, and data never holds a line break other than the
    // `\n` that joins data lines.
    for ev in &whole {
        assert!(!ev.data.contains('\r'), "CR inside event data: {ev:?}");
        if let Some(name) = &ev.event {
            assert!(
                !name.contains(['\n', '\r']),
                "line break in event name: {ev:?}"
            );
        }
    }
});
