//! The `log:` section: level, format, where the access log goes, file rotation, and
//! the request/response body log with its redaction list.
//!
//! ```yaml
//! log:
//!   level: info                 # env_logger filter: `warn`, `info,pingora=warn`, ...
//!   format: json                # text (default) | json
//!   min_free_bytes: 536870912   # start-up check of every log directory
//!   access:
//!     to: file                  # stderr (default) | stdout | file
//!     path: /var/log/switchyard/access.log
//!     rotate: { max_bytes: 104857600, max_files: 10, max_age_days: 14, gzip: true }
//!   bodies:
//!     enabled: true
//!     path: /var/log/switchyard/bodies.log
//!     max_bytes: 65536          # per body; longer ones are cut, `truncated` says so
//!     redact: [email, phone, credit_card, ipv4, api_key, { name: order, regex: 'ORD-\d+' }]
//! ```
//!
//! Layering, lowest first: these defaults < the file < `RUST_LOG` (replaces `level`,
//! nothing else) < flags (none touch logging today). The raw types live here rather
//! than in `raw.rs`, so this section is one file; `raw.rs` only names [`RawLog`].

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_LOG_LEVEL: &str = "info";
pub const DEFAULT_MIN_FREE_BYTES: u64 = 512 * 1024 * 1024;
pub const DEFAULT_ACCESS_PATH: &str = "/var/log/switchyard/access.log";
pub const DEFAULT_BODIES_PATH: &str = "/var/log/switchyard/bodies.log";
pub const DEFAULT_ROTATE_MAX_BYTES: u64 = 100 * 1024 * 1024;
pub const DEFAULT_ROTATE_MAX_FILES: usize = 10;
pub const DEFAULT_ROTATE_MAX_AGE_DAYS: u64 = 14;
pub const DEFAULT_BODY_MAX_BYTES: usize = 64 * 1024;
/// Smallest `rotate.max_bytes`: below this a file would hold a handful of lines.
pub const MIN_ROTATE_MAX_BYTES: u64 = 1024;

// === raw (as written) ===

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub level: Option<String>,
    pub format: Option<String>,
    pub min_free_bytes: Option<u64>,
    pub access: Option<RawAccess>,
    pub bodies: Option<RawBodies>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAccess {
    pub to: Option<String>,
    pub path: Option<String>,
    pub rotate: Option<RawRotate>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRotate {
    pub max_bytes: Option<u64>,
    pub max_files: Option<usize>,
    pub max_age_days: Option<u64>,
    pub gzip: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawBodies {
    pub enabled: Option<bool>,
    pub path: Option<String>,
    pub rotate: Option<RawRotate>,
    #[serde(default)]
    pub redact: Vec<RawRedact>,
    pub max_bytes: Option<usize>,
}

/// A built-in kind by name, or `{name, regex}`.
#[derive(Debug)]
pub enum RawRedact {
    Kind(String),
    Custom(RawCustomRedact),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCustomRedact {
    pub name: String,
    pub regex: String,
}

/// Not `#[serde(untagged)]`, which would hide an unknown field behind "did not match
/// any variant" (as for `RawKey`).
impl<'de> Deserialize<'de> for RawRedact {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawRedact;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a kind (email, phone, credit_card, ipv4, api_key) or {name, regex}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawRedact, E> {
                Ok(RawRedact::Kind(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawRedact, A::Error> {
                RawCustomRedact::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawRedact::Custom)
            }
        }
        d.deserialize_any(V)
    }
}

// === validated ===

#[derive(Debug, Clone)]
pub struct LogConfig {
    /// env_logger filter directives; `RUST_LOG` replaces it when set.
    pub level: String,
    pub format: LogFormat,
    /// Start-up refuses a log directory with less free space than this.
    pub min_free_bytes: u64,
    pub access: Destination,
    /// `None`: the body log is off.
    pub bodies: Option<BodyLog>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: DEFAULT_LOG_LEVEL.into(),
            format: LogFormat::Text,
            min_free_bytes: DEFAULT_MIN_FREE_BYTES,
            access: Destination::Stderr,
            bodies: None,
        }
    }
}

impl LogConfig {
    /// Every file the gateway will write, with the config path that names it.
    pub fn files(&self) -> Vec<(&'static str, &FileOutput)> {
        let mut v = Vec::new();
        if let Destination::File(f) = &self.access {
            v.push(("log.access.path", f));
        }
        if let Some(b) = &self.bodies {
            v.push(("log.bodies.path", &b.file));
        }
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// env_logger's `[ts LEVEL target] msg`, access fields as `key=value`.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stderr,
    Stdout,
    File(FileOutput),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutput {
    pub path: PathBuf,
    pub rotate: Rotate,
}

/// Size-based rotation with count and age retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotate {
    /// The current file is rotated before it would grow past this.
    pub max_bytes: u64,
    /// Rotated files kept (the current file not counted).
    pub max_files: usize,
    /// Rotated files older than this are deleted; `None`: no age limit.
    pub max_age: Option<Duration>,
    /// Rotated files are gzipped (by a background thread).
    pub gzip: bool,
}

impl Default for Rotate {
    fn default() -> Self {
        Rotate {
            max_bytes: DEFAULT_ROTATE_MAX_BYTES,
            max_files: DEFAULT_ROTATE_MAX_FILES,
            max_age: Some(Duration::from_secs(DEFAULT_ROTATE_MAX_AGE_DAYS * 86_400)),
            gzip: true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BodyLog {
    pub file: FileOutput,
    /// Longest body (request, and response) written in full.
    pub max_bytes: usize,
    pub redact: Vec<Redaction>,
}

/// What the body log masks. Provider and gateway keys are masked in any case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redaction {
    Email,
    Phone,
    /// Digit runs of card length that pass the Luhn check.
    CreditCard,
    Ipv4,
    /// Well-known key shapes (`sk-...`, `sk-ant-...`, `AIza...`, `sy-` + 64 hex, ...).
    ApiKey,
    Custom {
        name: String,
        regex: String,
    },
}

impl Redaction {
    pub const KINDS: [&'static str; 5] = ["email", "phone", "credit_card", "ipv4", "api_key"];

    fn parse(kind: &str) -> Option<Self> {
        Some(match kind {
            "email" => Redaction::Email,
            "phone" => Redaction::Phone,
            "credit_card" => Redaction::CreditCard,
            "ipv4" => Redaction::Ipv4,
            "api_key" => Redaction::ApiKey,
            _ => return None,
        })
    }

    /// The word in `[REDACTED:word]`.
    pub fn name(&self) -> &str {
        match self {
            Redaction::Email => "email",
            Redaction::Phone => "phone",
            Redaction::CreditCard => "credit_card",
            Redaction::Ipv4 => "ipv4",
            Redaction::ApiKey => "api_key",
            Redaction::Custom { name, .. } => name,
        }
    }
}

fn rotate(raw: Option<RawRotate>, path: &str, errors: &mut Vec<String>) -> Rotate {
    let d = Rotate::default();
    let Some(r) = raw else { return d };
    let max_bytes = r.max_bytes.unwrap_or(d.max_bytes);
    if max_bytes < MIN_ROTATE_MAX_BYTES {
        errors.push(format!(
            "{path}.max_bytes: must be at least {MIN_ROTATE_MAX_BYTES}"
        ));
    }
    let max_files = r.max_files.unwrap_or(d.max_files);
    if max_files == 0 {
        errors.push(format!(
            "{path}.max_files: must be at least 1 (rotated files kept besides the current one)"
        ));
    }
    Rotate {
        max_bytes,
        max_files,
        max_age: match r.max_age_days {
            None => d.max_age,
            Some(0) => None,
            Some(days) => Some(Duration::from_secs(days.saturating_mul(86_400))),
        },
        gzip: r.gzip.unwrap_or(d.gzip),
    }
}

fn file_path(raw: Option<String>, default: &str, path: &str, errors: &mut Vec<String>) -> PathBuf {
    let p = raw.unwrap_or_else(|| default.to_string());
    if p.is_empty() || p.ends_with('/') {
        errors.push(format!("{path}: '{p}' is not a file path (e.g. {default})"));
    }
    PathBuf::from(p)
}

/// Checks every directive of an env_logger filter names a known level.
fn check_level(level: &str, errors: &mut Vec<String>) {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    for d in level.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let word = d.rsplit_once('=').map_or(d, |(_, l)| l);
        // A bare word that is not a level is a module name (env_logger: all levels).
        let known = LEVELS.contains(&word.to_ascii_lowercase().as_str());
        if d.contains('=') && !known {
            errors.push(format!(
                "log.level: unknown level \"{word}\" in \"{d}\"; expected one of {}",
                LEVELS.join(", ")
            ));
        }
    }
}

pub(super) fn validate_log(raw: Option<RawLog>, errors: &mut Vec<String>) -> LogConfig {
    let Some(r) = raw else {
        return LogConfig::default();
    };
    let level = r.level.unwrap_or_else(|| DEFAULT_LOG_LEVEL.into());
    check_level(&level, errors);
    let format = match r.format.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            errors.push(format!(
                "log.format: unknown value \"{other}\"; expected text or json"
            ));
            LogFormat::Text
        }
    };
    let access = r.access.unwrap_or_default();
    // A path alone means a file.
    let to = access.to.as_deref().unwrap_or(if access.path.is_some() {
        "file"
    } else {
        "stderr"
    });
    let access = match to {
        "file" => Destination::File(FileOutput {
            path: file_path(access.path, DEFAULT_ACCESS_PATH, "log.access.path", errors),
            rotate: rotate(access.rotate, "log.access.rotate", errors),
        }),
        "stderr" | "stdout" => {
            for (set, what) in [
                (access.path.is_some(), "path"),
                (access.rotate.is_some(), "rotate"),
            ] {
                if set {
                    errors.push(format!(
                        "log.access.{what}: only used with to: file (to is {to})"
                    ));
                }
            }
            if to == "stderr" {
                Destination::Stderr
            } else {
                Destination::Stdout
            }
        }
        other => {
            errors.push(format!(
                "log.access.to: unknown value \"{other}\"; expected stderr, stdout or file"
            ));
            Destination::Stderr
        }
    };
    let bodies = r.bodies.and_then(|b| {
        let mut redact = Vec::new();
        for (i, item) in b.redact.into_iter().enumerate() {
            let at = format!("log.bodies.redact[{i}]");
            match item {
                RawRedact::Kind(k) => match Redaction::parse(&k) {
                    Some(r) => redact.push(r),
                    None => {
                        let hint = super::closest(&k, Redaction::KINDS.into_iter())
                            .map(|s| format!(" (did you mean \"{s}\"?)"))
                            .unwrap_or_default();
                        errors.push(format!(
                            "{at}: unknown kind \"{k}\"{hint}; expected one of {}, or {{name, regex}}",
                            Redaction::KINDS.join(", ")
                        ));
                    }
                },
                RawRedact::Custom(c) => {
                    if c.name.is_empty()
                        || !c
                            .name
                            .chars()
                            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
                    {
                        errors.push(format!(
                            "{at}.name: '{}' must be letters, digits, '_' or '-' (it is written as [REDACTED:name])",
                            c.name
                        ));
                    }
                    if let Err(e) = regex::Regex::new(&c.regex) {
                        let first = e.to_string();
                        let first = first.lines().last().unwrap_or_default().trim().to_string();
                        errors.push(format!("{at}.regex: not a valid regex: {first}"));
                    }
                    redact.push(Redaction::Custom {
                        name: c.name,
                        regex: c.regex,
                    });
                }
            }
        }
        let max_bytes = b.max_bytes.unwrap_or(DEFAULT_BODY_MAX_BYTES);
        if max_bytes < 256 {
            errors.push("log.bodies.max_bytes: must be at least 256".into());
        }
        let file = FileOutput {
            path: file_path(b.path, DEFAULT_BODIES_PATH, "log.bodies.path", errors),
            rotate: rotate(b.rotate, "log.bodies.rotate", errors),
        };
        if let Destination::File(a) = &access {
            if a.path == file.path {
                errors.push(format!(
                    "log.bodies.path: '{}' is also log.access.path; give each log its own file",
                    file.path.display()
                ));
            }
        }
        b.enabled.unwrap_or(false).then_some(BodyLog {
            file,
            max_bytes,
            redact,
        })
    });
    LogConfig {
        level,
        format,
        min_free_bytes: r.min_free_bytes.unwrap_or(DEFAULT_MIN_FREE_BYTES),
        access,
        bodies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn load(log: &str) -> Result<LogConfig, String> {
        Config::from_yaml(&format!("log: {log}\n"), "test", &|_: &str| None)
            .map(|c| c.log)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let c = Config::from_yaml("{}", "test", &|_: &str| None)
            .unwrap()
            .log;
        assert_eq!(c.level, "info");
        assert_eq!(c.format, LogFormat::Text);
        assert_eq!(c.access, Destination::Stderr);
        assert!(c.bodies.is_none());
        assert_eq!(c.min_free_bytes, 512 * 1024 * 1024);
        let c = load("{ access: { to: file } }").unwrap();
        let Destination::File(f) = &c.access else {
            panic!("{c:?}")
        };
        assert_eq!(f.path, PathBuf::from(DEFAULT_ACCESS_PATH));
        assert_eq!(f.rotate, Rotate::default());
        assert_eq!(f.rotate.max_age, Some(Duration::from_secs(14 * 86_400)));
    }

    #[test]
    fn a_full_section() {
        let c = load(
            "{ level: 'warn,switchyard::access=info', format: json, min_free_bytes: 0,
               access: { path: /tmp/a.log, rotate: { max_bytes: 2048, max_files: 3, max_age_days: 0, gzip: false } },
               bodies: { enabled: true, path: /tmp/b.log, max_bytes: 1000,
                         redact: [email, credit_card, { name: order, regex: 'ORD-\\d+' }] } }",
        )
        .unwrap();
        assert_eq!(c.format, LogFormat::Json);
        assert_eq!(
            c.access,
            Destination::File(FileOutput {
                path: "/tmp/a.log".into(),
                rotate: Rotate {
                    max_bytes: 2048,
                    max_files: 3,
                    max_age: None,
                    gzip: false
                }
            })
        );
        let b = c.bodies.unwrap();
        assert_eq!(b.max_bytes, 1000);
        assert_eq!(b.redact.len(), 3);
        assert_eq!(b.redact[2].name(), "order");
        assert_eq!(c.min_free_bytes, 0);
    }

    #[test]
    fn mistakes_are_named_with_their_path() {
        for (yaml, want) in [
            ("{ formt: json }", "did you mean `format`"),
            ("{ format: yaml }", "log.format"),
            ("{ level: 'info,pingora=loud' }", "log.level"),
            ("{ access: { to: syslog } }", "log.access.to"),
            ("{ access: { to: stderr, path: /x } }", "log.access.path"),
            (
                "{ access: { to: file, rotate: { max_bytes: 10 } } }",
                "log.access.rotate.max_bytes",
            ),
            (
                "{ access: { to: file, rotate: { max_files: 0 } } }",
                "log.access.rotate.max_files",
            ),
            (
                "{ access: { to: file, rotate: { max_byte: 10 } } }",
                "did you mean `max_bytes`",
            ),
            (
                "{ bodies: { enabled: true, redact: [emial] } }",
                "log.bodies.redact[0]: unknown kind \"emial\" (did you mean \"email\"?)",
            ),
            (
                "{ bodies: { enabled: true, redact: [{ name: x, regex: '(' }] } }",
                "log.bodies.redact[0].regex",
            ),
            (
                "{ bodies: { enabled: true, redact: [{ name: x, rgx: a }] } }",
                "unknown field `rgx`",
            ),
            (
                "{ access: { path: /tmp/same.log }, bodies: { enabled: true, path: /tmp/same.log } }",
                "log.bodies.path",
            ),
        ] {
            let e = load(yaml).unwrap_err();
            assert!(e.contains(want), "{yaml}: {e}");
        }
    }
}
