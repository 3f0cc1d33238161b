//! JSON text by hand for the hot paths (access lines, app records): string escaping
//! and the millisecond timestamp. serde_json would allocate a `Value` or need a
//! struct per line; this appends to a reused buffer.

use std::fmt::Write as _;

/// Appends `s` as a JSON string (with quotes).
pub fn push_str(buf: &mut String, s: &str) {
    buf.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f | 0x7f => "",
            _ => continue,
        };
        buf.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(buf, "\\u{b:04x}");
        } else {
            buf.push_str(esc);
        }
        start = i + 1;
    }
    buf.push_str(&s[start..]);
    buf.push('"');
}

/// An env_logger record as one JSON line: `ts`, `level`, `target`, `msg`.
pub fn app_record(
    f: &mut env_logger::fmt::Formatter,
    record: &log::Record<'_>,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut buf = String::with_capacity(128);
    buf.push_str("{\"ts\":");
    push_str(&mut buf, &format!("{:.3}", jiff::Timestamp::now()));
    buf.push_str(",\"level\":");
    push_str(&mut buf, &record.level().as_str().to_ascii_lowercase());
    buf.push_str(",\"target\":");
    push_str(&mut buf, record.target());
    buf.push_str(",\"msg\":");
    let msg = record.args().to_string();
    push_str(&mut buf, &msg);
    buf.push_str("}\n");
    f.write_all(buf.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_json_requires() {
        let mut b = String::new();
        push_str(&mut b, "a\"b\\c\nd\u{1}é\u{7f}");
        assert_eq!(b, r#""a\"b\\c\nd\u0001é\u007f""#);
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v, "a\"b\\c\nd\u{1}é\u{7f}");
    }
}
