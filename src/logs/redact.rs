//! Redaction of body-log text: the configured kinds (`log.bodies.redact`) replaced by
//! `[REDACTED:kind]`, in one pass of one combined regex for the built-in kinds and one
//! pass per custom regex. Credit-card candidates must pass the Luhn check, so order
//! numbers and other long digit runs survive; phone candidates need 8 to 15 digits.
//!
//! Keys: the `api_key` shapes are masked whatever the list says, and the body log
//! also sends every finished record through the gateway's [`Scrubber`] (the provider
//! keys, plain gateway keys and Redis passwords it holds), the same path every
//! response takes.
//!
//! [`Scrubber`]: crate::proxy::scrub::Scrubber

use crate::config::log::Redaction;
use regex::{Captures, Regex, RegexBuilder};
use std::borrow::Cow;

/// Built-in kinds: (group name, pattern). ASCII-only patterns (`unicode(false)`): much
/// faster, and the shapes they find are ASCII. Order matters where two could start at
/// the same place (leftmost-first): keys, then emails, then addresses, cards, phones.
const BUILT_IN: [(&str, &str); 5] = [
    (
        "api_key",
        r"(?:\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}|\bsy-[0-9a-f]{64}\b|\bAIza[0-9A-Za-z_-]{35}|\b(?:ghp|gho|ghs|ghu)_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}|\bAKIA[0-9A-Z]{16}\b|\bxox[abpr]-[A-Za-z0-9-]{10,}|\b[Bb]earer\s+[A-Za-z0-9._~+/=-]{16,})",
    ),
    (
        "email",
        r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
    ),
    (
        "ipv4",
        r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b",
    ),
    ("credit_card", r"\b[0-9](?:[ -]?[0-9]){12,18}\b"),
    (
        "phone",
        r"(?:\+[0-9]{1,3}(?:[ .-]?\(?[0-9]{1,4}\)?){2,5}|\([0-9]{3}\)\s?[0-9]{3}[ .-][0-9]{4}\b|\b[0-9]{3}[.-][0-9]{3}[.-][0-9]{4}\b)",
    ),
];

pub struct Redactor {
    /// The combined built-in kinds, each a named group (`api_key` always among them).
    built_in: Regex,
    custom: Vec<(String, Regex)>,
}

impl Redactor {
    /// `list` as validated by the config (custom regexes compile). `api_key` is
    /// always on.
    pub fn new(list: &[Redaction]) -> Result<Redactor, regex::Error> {
        let mut names = vec!["api_key"];
        let mut custom = Vec::new();
        for r in list {
            match r {
                Redaction::Custom { name, regex } => {
                    custom.push((format!("[REDACTED:{name}]"), Regex::new(regex)?));
                }
                other => {
                    let n = other.name();
                    if let Some((n, _)) = BUILT_IN.iter().find(|(k, _)| *k == n) {
                        if !names.contains(n) {
                            names.push(n);
                        }
                    }
                }
            }
        }
        let alternation: Vec<String> = BUILT_IN
            .iter()
            .filter(|(n, _)| names.contains(n))
            .map(|(n, p)| format!("(?P<{n}>{p})"))
            .collect();
        let built_in = RegexBuilder::new(&alternation.join("|"))
            .unicode(false)
            .build()?;
        Ok(Redactor { built_in, custom })
    }

    /// `text` with every match replaced; borrowed when nothing matched (the usual case).
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        if let Cow::Owned(s) = self
            .built_in
            .replace_all(&out, |c: &Captures<'_>| replacement(c))
        {
            out = Cow::Owned(s);
        }
        for (mask, re) in &self.custom {
            if let Cow::Owned(s) = re.replace_all(&out, mask.as_str()) {
                out = Cow::Owned(s);
            }
        }
        out
    }

    /// Every string in `v` (not object keys), redacted in place.
    pub fn value(&self, v: &mut serde_json::Value) {
        use serde_json::Value;
        match v {
            Value::String(s) => {
                if let Cow::Owned(r) = self.text(s) {
                    *s = r;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.value(x)),
            Value::Object(o) => o.values_mut().for_each(|x| self.value(x)),
            _ => {}
        }
    }
}

fn replacement(c: &Captures<'_>) -> String {
    let whole = c.get(0).map_or("", |m| m.as_str());
    for (name, _) in BUILT_IN {
        if c.name(name).is_none() {
            continue;
        }
        let keep = match name {
            "credit_card" => !luhn(whole),
            "phone" => !(8..=15).contains(&whole.bytes().filter(u8::is_ascii_digit).count()),
            _ => false,
        };
        return if keep {
            whole.to_string()
        } else {
            format!("[REDACTED:{name}]")
        };
    }
    whole.to_string()
}

/// The Luhn checksum over the digits of `s` (separators ignored), 13 to 19 digits.
pub fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Redactor {
        Redactor::new(&[
            Redaction::Email,
            Redaction::Phone,
            Redaction::CreditCard,
            Redaction::Ipv4,
            Redaction::ApiKey,
            Redaction::Custom {
                name: "order".into(),
                regex: r"ORD-\d{6}".into(),
            },
        ])
        .unwrap()
    }

    #[test]
    fn each_kind() {
        let r = all();
        for (input, want) in [
            (
                "mail jane.doe+x@example.co.uk now",
                "mail [REDACTED:email] now",
            ),
            ("call +44 20 7946 0958.", "call [REDACTED:phone]."),
            (
                "call (415) 555-0132 or 415-555-0132",
                "call [REDACTED:phone] or [REDACTED:phone]",
            ),
            (
                "card 4111 1111 1111 1111 ok",
                "card [REDACTED:credit_card] ok",
            ),
            ("card 5500-0000-0000-0004", "card [REDACTED:credit_card]"),
            ("from 192.168.10.254:80", "from [REDACTED:ipv4]:80"),
            (
                "key sk-ant-api03-abcdefghijklmnopqrstuvwx",
                "key [REDACTED:api_key]",
            ),
            ("key sk-proj-ABCDEFGHIJKLMNOP1234", "key [REDACTED:api_key]"),
            (
                "Authorization: Bearer abcdefghijklmnop1234",
                "Authorization: [REDACTED:api_key]",
            ),
            ("order ORD-123456 shipped", "order [REDACTED:order] shipped"),
        ] {
            assert_eq!(r.text(input), want, "{input}");
        }
    }

    #[test]
    fn near_misses_survive() {
        let r = all();
        for s in [
            "order number 4111 1111 1111 1112 (fails Luhn)",
            "tracking 1234567890123",
            "on 2026-12-02 at 10:30",
            "version 1.2.3 and 300.1.1.1",
            "price 1,299.00",
            "sk-short",
            "plain text, nothing here",
        ] {
            assert_eq!(r.text(s), s, "{s}");
        }
        assert!(matches!(r.text("plain text"), Cow::Borrowed(_)));
    }

    #[test]
    fn api_keys_are_masked_even_when_not_listed() {
        let r = Redactor::new(&[Redaction::Email]).unwrap();
        assert_eq!(
            r.text("sk-test-openai-SECRET-0001 and a@b.io"),
            "[REDACTED:api_key] and [REDACTED:email]"
        );
        assert_eq!(r.text("card 4111111111111111"), "card 4111111111111111");
    }

    #[test]
    fn json_stays_json() {
        let r = all();
        let mut v: serde_json::Value = serde_json::from_str(
            r#"{"messages":[{"role":"user","content":"a@b.io \"q\""}],"n":1}"#,
        )
        .unwrap();
        r.value(&mut v);
        assert_eq!(v["messages"][0]["content"], "[REDACTED:email] \"q\"");
        assert_eq!(v["messages"][0]["role"], "user");
    }

    #[test]
    fn luhn_numbers() {
        assert!(luhn("4111111111111111"));
        assert!(luhn("378282246310005"));
        assert!(!luhn("4111111111111112"));
        assert!(!luhn("1234"));
    }
}
