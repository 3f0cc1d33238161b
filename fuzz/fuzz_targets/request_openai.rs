//! OpenAI client requests: `parse_request` must not panic; a request it accepts must
//! encode for an Anthropic provider (and back to OpenAI) as valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::formats::ApiFormat;

fuzz_target!(|data: &[u8]| {
    switchyard_fuzz::check_request(ApiFormat::OpenAi, data);
});
