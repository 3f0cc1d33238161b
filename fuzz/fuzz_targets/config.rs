//! `Config::from_yaml` on any UTF-8 text: errors are fine, panics are not. The
//! environment is empty, so `${VAR}` references resolve to nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::from_yaml(text, "fuzz", &|_| None) {
        // Rendering the errors is part of the path a bad config takes.
        let _ = e.to_string();
    }
});
