//! Scenario options carried in the request's `model` string, and reply-text splitting.
//!
//! `model` = `mock:key=value,key2=value2,bare_key` selects the behaviour; any other model
//! string means the default `echo` scenario.

/// What the mock should do for one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Reply with this HTTP status and a provider-shaped error body.
    pub status: Option<u16>,
    /// Value of the `retry-after` header (seconds).
    pub retry_after: Option<u64>,
    /// Value of the `retry-after-ms` header.
    pub retry_after_ms: Option<u64>,
    /// Gemini: `RetryInfo.retryDelay` (seconds) in a 429 body.
    pub retry_delay: Option<u64>,
    /// Replay `<fixtures>/<name>` verbatim.
    pub fixture: Option<String>,
    /// Write the fixture body in chunks of this many bytes.
    pub split: Option<usize>,
    /// Number of streamed text pieces for echo (default: one per word).
    pub events: Option<usize>,
    /// Delay between body frames.
    pub delay_ms: u64,
    /// Delay before the response head is sent.
    pub first_byte_delay_ms: u64,
    /// Abort the connection after this many frames.
    pub drop_after: Option<usize>,
    /// Stop sending after this many frames, keep the connection open (max 60 s).
    pub stall_after: Option<usize>,
    /// After this many frames, send a 9 MiB `data:` line with no end (a provider
    /// that never finishes an event), then the rest.
    pub oversize_after: Option<usize>,
    /// Answer 400 naming `stream_options` when the body has it (engines that do not
    /// know the field).
    pub reject_stream_options: bool,
}

const PREFIX: &str = "mock:";

/// Parses the scenario options out of a `model` string.
pub fn parse_model(model: &str) -> Result<Options, String> {
    let mut opts = Options::default();
    let Some(rest) = model.strip_prefix(PREFIX) else {
        return Ok(opts);
    };
    for item in rest.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (key, value) = match item.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (item, "true"),
        };
        match key {
            "echo" => {}
            "status" => {
                let s: u16 = num(key, value)?;
                if !(400..=599).contains(&s) {
                    return Err(format!("mock option status={value}: must be 400..=599"));
                }
                opts.status = Some(s);
            }
            "retry_after" => opts.retry_after = Some(num(key, value)?),
            "retry_after_ms" => opts.retry_after_ms = Some(num(key, value)?),
            "retry_delay" => opts.retry_delay = Some(num(key, value)?),
            "fixture" => {
                validate_fixture_name(value)?;
                opts.fixture = Some(value.to_string());
            }
            "split" => {
                let k: usize = num(key, value)?;
                if k == 0 {
                    return Err("mock option split must be >= 1".into());
                }
                opts.split = Some(k);
            }
            "events" => {
                let n: usize = num(key, value)?;
                if n == 0 {
                    return Err("mock option events must be >= 1".into());
                }
                opts.events = Some(n);
            }
            "delay_ms" => opts.delay_ms = num(key, value)?,
            "first_byte_delay_ms" => opts.first_byte_delay_ms = num(key, value)?,
            "drop_after" => opts.drop_after = Some(num(key, value)?),
            "stall_after" => opts.stall_after = Some(num(key, value)?),
            "oversize_after" => opts.oversize_after = Some(num(key, value)?),
            "reject_stream_options" => opts.reject_stream_options = true,
            other => return Err(format!("unknown mock option '{other}'")),
        }
    }
    Ok(opts)
}

fn num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("mock option {key}={value}: expected a non-negative integer"))
}

/// A fixture name is `file` or `dir/file` made of `[A-Za-z0-9._-]`, never `..`.
pub fn validate_fixture_name(name: &str) -> Result<(), String> {
    let bad = || Err(format!("invalid fixture name '{name}'"));
    if name.is_empty() || name.contains("..") || name.matches('/').count() > 1 {
        return bad();
    }
    for part in name.split('/') {
        if part.is_empty()
            || part.starts_with('.')
            || !part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        {
            return bad();
        }
    }
    Ok(())
}

/// Splits `text` into one piece per whitespace-separated word; each piece carries the
/// whitespace that precedes its word, trailing whitespace goes to the last piece, so the
/// pieces concatenate back to `text`.
pub fn split_words(text: &str) -> Vec<&str> {
    // Byte offsets where a word ends (followed by whitespace or end of text).
    let mut word_ends = Vec::new();
    let mut in_word = false;
    for (i, ch) in text.char_indices() {
        if ch.is_whitespace() {
            if in_word {
                word_ends.push(i);
            }
            in_word = false;
        } else {
            in_word = true;
        }
    }
    // With trailing whitespace, the last word's piece runs to the end of the text.
    if !in_word {
        word_ends.pop();
    }
    let mut pieces = Vec::with_capacity(word_ends.len() + 1);
    let mut start = 0;
    for end in word_ends {
        pieces.push(&text[start..end]);
        start = end;
    }
    pieces.push(&text[start..]);
    pieces
}

/// Splits `text` into `n` pieces of (nearly) equal character count, never empty, never
/// more pieces than characters.
pub fn split_even(text: &str, n: usize) -> Vec<&str> {
    let chars: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let len = chars.len();
    if len == 0 {
        return vec![text];
    }
    let n = n.clamp(1, len);
    let byte_at = |c: usize| if c >= len { text.len() } else { chars[c] };
    (0..n)
        .map(|i| &text[byte_at(i * len / n)..byte_at((i + 1) * len / n)])
        .collect()
}

/// Pieces to stream for `text` under `events`.
pub fn split_reply(text: &str, events: Option<usize>) -> Vec<&str> {
    match events {
        Some(n) => split_even(text, n),
        None => split_words(text),
    }
}

/// Output token estimate used by the mock: number of words.
pub fn word_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Input token estimate used by the mock: ceil(body bytes / 4).
pub fn input_tokens(body_len: usize) -> u64 {
    body_len.div_ceil(4) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_mock_model_is_echo_default() {
        assert_eq!(parse_model("gpt-4o").unwrap(), Options::default());
        assert_eq!(parse_model("mock:").unwrap(), Options::default());
        assert_eq!(parse_model("mock:echo").unwrap(), Options::default());
    }

    #[test]
    fn parses_all_options() {
        let o = parse_model(
            "mock:status=429, retry_after=3,retry_after_ms=2500,events=4,delay_ms=10,\
             first_byte_delay_ms=50,drop_after=2,stall_after=5,split=7,fixture=openai/chat_text.json",
        )
        .unwrap();
        assert_eq!(o.status, Some(429));
        assert_eq!(o.retry_after, Some(3));
        assert_eq!(o.retry_after_ms, Some(2500));
        assert_eq!(o.events, Some(4));
        assert_eq!(o.delay_ms, 10);
        assert_eq!(o.first_byte_delay_ms, 50);
        assert_eq!(o.drop_after, Some(2));
        assert_eq!(o.stall_after, Some(5));
        assert_eq!(o.split, Some(7));
        assert_eq!(o.fixture.as_deref(), Some("openai/chat_text.json"));
    }

    #[test]
    fn rejects_bad_options() {
        assert!(parse_model("mock:nope=1").is_err());
        assert!(parse_model("mock:status=abc").is_err());
        assert!(parse_model("mock:status=200").is_err());
        assert!(parse_model("mock:events=0").is_err());
        assert!(parse_model("mock:split=0").is_err());
        assert!(parse_model("mock:delay_ms").is_err()); // bare key = "true", not a number
        assert!(parse_model("mock:fixture=../secret").is_err());
        assert!(parse_model("mock:fixture=a/b/c.json").is_err());
        assert!(parse_model("mock:fixture=/etc/passwd").is_err());
        assert!(parse_model("mock:fixture=a/").is_err());
        assert!(parse_model("mock:fixture=anthropic/.hidden").is_err());
        assert!(parse_model("mock:fixture=anthropic/stream_text.sse").is_ok());
    }

    #[test]
    fn split_words_keeps_spaces() {
        assert_eq!(
            split_words("echo: hello  world"),
            vec!["echo:", " hello", "  world"]
        );
        assert_eq!(split_words(" a b "), vec![" a", " b "]);
        assert_eq!(split_words("one"), vec!["one"]);
        assert_eq!(split_words("a b"), vec!["a", " b"]);
        assert_eq!(split_words("a "), vec!["a "]);
        assert_eq!(split_words("   "), vec!["   "]);
        let t = "echo: héllo wörld\nagain ";
        assert_eq!(split_words(t).concat(), t);
    }

    #[test]
    fn split_even_pieces() {
        assert_eq!(split_even("abcdef", 3), vec!["ab", "cd", "ef"]);
        assert_eq!(split_even("abcdefg", 3), vec!["ab", "cd", "efg"]);
        assert_eq!(split_even("ab", 5), vec!["a", "b"]);
        assert_eq!(split_even("héé", 2), vec!["h", "éé"]);
        let t = "echo: the quick brown fox";
        for n in 1..30 {
            let p = split_even(t, n);
            assert_eq!(p.concat(), t);
            assert_eq!(p.len(), n.min(t.len()));
            assert!(p.iter().all(|s| !s.is_empty()));
        }
    }

    #[test]
    fn token_estimates() {
        assert_eq!(input_tokens(0), 0);
        assert_eq!(input_tokens(1), 1);
        assert_eq!(input_tokens(8), 2);
        assert_eq!(input_tokens(9), 3);
        assert_eq!(word_count("echo: hello world"), 3);
    }
}
