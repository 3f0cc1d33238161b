//! Gateway keys, their limits and the shared-state store: validated from `keys:`,
//! `default_limits:` and `state:`.
//!
//! A key is kept only as its SHA-256 (plus the plain text, when the file gave it, for
//! scrubbing outgoing text); lookups compare digests in constant time.

use super::raw::{RawBudget, RawKey, RawKeyLimits, RawState};
use super::{expand_env, EnvLookup};
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::Duration;

/// Default `state.redis.timeout_ms`: a Redis on the same network answers in well
/// under a millisecond; beyond this the request follows `on_error`.
pub const DEFAULT_REDIS_TIMEOUT_MS: u64 = 100;
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "switchyard";

#[derive(Clone)]
pub struct GatewayKey {
    /// From the config (or `key0`, `key1`, … for bare keys); the only form of the key
    /// that reaches logs and metric labels.
    pub name: String,
    pub sha256: [u8; 32],
    /// The key itself when the config holds it (not with `key_sha256`), for scrubbing.
    pub plain: Option<String>,
    /// `None`: every model.
    pub models: Option<Vec<ModelPattern>>,
    pub limits: KeyLimits,
}

impl fmt::Debug for GatewayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GatewayKey({})", self.name)
    }
}

impl GatewayKey {
    /// Whether this key may use `model` (an alias or `provider/model`, as sent).
    pub fn allows(&self, model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|m| m.iter().any(|p| p.matches(model)))
    }
}

/// An allowlist entry: an exact name, or a prefix when it ends in `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelPattern {
    Exact(String),
    Prefix(String),
}

impl ModelPattern {
    fn parse(s: &str) -> Self {
        match s.strip_suffix('*') {
            Some(p) => ModelPattern::Prefix(p.to_string()),
            None => ModelPattern::Exact(s.to_string()),
        }
    }

    pub fn matches(&self, model: &str) -> bool {
        match self {
            ModelPattern::Exact(m) => m == model,
            ModelPattern::Prefix(p) => model.starts_with(p.as_str()),
        }
    }
}

/// Per-key limits; `None` is no limit of that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyLimits {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens (input + output) per minute.
    pub tpm: Option<u64>,
    /// Requests in flight (a stream counts until its last byte or disconnect).
    pub concurrency: Option<u64>,
    /// USD the key may spend per period.
    pub budget: Option<Budget>,
}

impl KeyLimits {
    pub fn is_empty(&self) -> bool {
        self.rpm.is_none()
            && self.tpm.is_none()
            && self.concurrency.is_none()
            && self.budget.is_none()
    }

    /// `self` where set, else `base`.
    fn over(self, base: KeyLimits) -> KeyLimits {
        KeyLimits {
            rpm: self.rpm.or(base.rpm),
            tpm: self.tpm.or(base.tpm),
            concurrency: self.concurrency.or(base.concurrency),
            budget: self.budget.or(base.budget),
        }
    }
}

/// Nano-dollars (1e-9 USD) per dollar: spend is counted in whole nano-dollars, so
/// in-process and Redis counters are exact integers.
pub const NANO_USD: f64 = 1e9;

/// A spend limit: at most `nano_usd` per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub nano_usd: u64,
    pub period: BudgetPeriod,
}

impl Budget {
    pub fn usd(&self) -> f64 {
        self.nano_usd as f64 / NANO_USD
    }
}

/// Budget periods are fixed windows aligned to the Unix epoch (UTC): `1d` resets at
/// midnight UTC, `7d` every seventh day from Thursday 1970-01-01, `30d` every 30 days;
/// `total` never resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetPeriod {
    Hour,
    Day,
    Week,
    Month30,
    Total,
}

impl BudgetPeriod {
    pub const NAMES: &'static str = "1h, 1d, 7d, 30d or total";

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "1h" => BudgetPeriod::Hour,
            "1d" => BudgetPeriod::Day,
            "7d" => BudgetPeriod::Week,
            "30d" => BudgetPeriod::Month30,
            "total" => BudgetPeriod::Total,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BudgetPeriod::Hour => "1h",
            BudgetPeriod::Day => "1d",
            BudgetPeriod::Week => "7d",
            BudgetPeriod::Month30 => "30d",
            BudgetPeriod::Total => "total",
        }
    }

    /// Length in milliseconds; `None` for `total`.
    pub fn millis(self) -> Option<u64> {
        const HOUR: u64 = 3_600_000;
        match self {
            BudgetPeriod::Hour => Some(HOUR),
            BudgetPeriod::Day => Some(24 * HOUR),
            BudgetPeriod::Week => Some(7 * 24 * HOUR),
            BudgetPeriod::Month30 => Some(30 * 24 * HOUR),
            BudgetPeriod::Total => None,
        }
    }
}

fn budget_from_raw(raw: &RawBudget, path: &str, errors: &mut Vec<String>) -> Option<Budget> {
    let period = BudgetPeriod::parse(&raw.period);
    if period.is_none() {
        errors.push(format!(
            "{path}.period: unknown period \"{}\"; expected {}",
            raw.period,
            BudgetPeriod::NAMES
        ));
    }
    if !(raw.usd.is_finite() && raw.usd > 0.0 && raw.usd < 1e9) {
        errors.push(format!(
            "{path}.usd: must be a positive number of US dollars below 1e9 (leave the budget out for no spend limit)"
        ));
        return None;
    }
    Some(Budget {
        nano_usd: (raw.usd * NANO_USD).round() as u64,
        period: period?,
    })
}

/// Where limit state lives when it must be shared by several instances.
#[derive(Debug, Clone, Default)]
pub struct StateConfig {
    pub redis: Option<RedisConfig>,
    /// `responses_ttl_seconds`: how long a stored `/v1/responses` response can be
    /// continued (`None`: [`DEFAULT_RESPONSES_TTL`]).
    pub responses_ttl: Option<Duration>,
    /// `responses_max_bytes`: the bound of the stored responses held in process
    /// (`None`: [`DEFAULT_RESPONSES_MAX_BYTES`]).
    pub responses_max_bytes: Option<u64>,
}

/// Default `state.responses_ttl_seconds`: one day.
pub const DEFAULT_RESPONSES_TTL: Duration = Duration::from_secs(86_400);
/// Default `state.responses_max_bytes`: 256 MiB.
pub const DEFAULT_RESPONSES_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// Smallest `state.responses_max_bytes`: one stored response holds its whole
/// conversation, so a bound below a few of them keeps next to nothing.
pub const MIN_RESPONSES_MAX_BYTES: u64 = 1024 * 1024;

impl StateConfig {
    /// How long stored responses are kept.
    pub fn responses_ttl(&self) -> Duration {
        self.responses_ttl.unwrap_or(DEFAULT_RESPONSES_TTL)
    }

    /// Bytes of stored responses the process may hold.
    pub fn responses_max_bytes(&self) -> u64 {
        self.responses_max_bytes
            .unwrap_or(DEFAULT_RESPONSES_MAX_BYTES)
    }
}

#[derive(Clone)]
pub struct RedisConfig {
    pub url: String,
    pub timeout: Duration,
    pub on_error: OnError,
    /// First part of every Redis key, so deployments can share one Redis.
    pub key_prefix: String,
}

impl fmt::Debug for RedisConfig {
    // The URL may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("timeout", &self.timeout)
            .field("on_error", &self.on_error)
            .finish_non_exhaustive()
    }
}

/// What a request meets when the state store does not answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Admit it, unlimited (availability over exactness).
    FailOpen,
    /// Refuse it with 503 (exactness over availability).
    FailClosed,
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Key names become metric labels, log fields and Redis key parts.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn limits_from_raw(raw: &RawKeyLimits, path: &str, errors: &mut Vec<String>) -> KeyLimits {
    for (field, v) in [
        ("rpm", raw.rpm),
        ("tpm", raw.tpm),
        ("concurrency", raw.concurrency),
    ] {
        if v == Some(0) {
            errors.push(format!(
                "{path}.{field}: must be at least 1 (leave it out for no limit)"
            ));
        }
    }
    KeyLimits {
        rpm: raw.rpm,
        tpm: raw.tpm,
        concurrency: raw.concurrency,
        budget: raw
            .budget
            .as_ref()
            .and_then(|b| budget_from_raw(b, &format!("{path}.budget"), errors)),
    }
}

pub(super) fn validate_keys(
    raw: Vec<RawKey>,
    default_limits: Option<&RawKeyLimits>,
    env: EnvLookup,
    errors: &mut Vec<String>,
) -> Vec<GatewayKey> {
    let base = default_limits
        .map(|d| limits_from_raw(d, "default_limits", errors))
        .unwrap_or_default();
    if default_limits.is_some() && raw.is_empty() {
        errors.push(
            "default_limits: limits apply to gateway keys, and no `keys:` are configured \
             (the gateway is open); add keys or remove default_limits"
                .into(),
        );
    }
    let mut keys: Vec<GatewayKey> = Vec::with_capacity(raw.len());
    for (i, k) in raw.into_iter().enumerate() {
        let path = format!("keys[{i}]");
        let (name, key, key_sha256, models, limits) = match k {
            RawKey::Bare(key) => (format!("key{i}"), Some(key), None, None, None),
            RawKey::Entry(e) => (e.name, e.key, e.key_sha256, e.models, e.limits),
        };
        if !valid_name(&name) {
            errors.push(format!(
                "{path}.name: \"{name}\" must be 1-64 characters of A-Z a-z 0-9 - _ ."
            ));
        } else if keys.iter().any(|k| k.name == name) {
            errors.push(format!("{path}.name: \"{name}\" is used by another key"));
        }
        let (sha256, plain) = match (key, key_sha256) {
            (Some(key), None) => {
                let key = expand_env(&key, &path, env, errors);
                if key.len() < 8 {
                    errors.push(format!("{path}: a gateway key needs at least 8 characters"));
                }
                (self::sha256(key.as_bytes()), Some(key))
            }
            (None, Some(hex_digest)) => {
                let mut digest = [0u8; 32];
                if hex::decode_to_slice(hex_digest.trim(), &mut digest).is_err() {
                    errors.push(format!(
                        "{path}.key_sha256: expected 64 hex characters (the output of \
                         `switchyard keys new`, or `printf %s KEY | sha256sum`)"
                    ));
                }
                (digest, None)
            }
            (Some(_), Some(_)) => {
                errors.push(format!("{path}: give either key or key_sha256, not both"));
                ([0; 32], None)
            }
            (None, None) => {
                errors.push(format!(
                    "{path}: give key (the key itself) or key_sha256 (its SHA-256 in hex)"
                ));
                ([0; 32], None)
            }
        };
        if keys.iter().any(|k| k.sha256 == sha256) && sha256 != [0; 32] {
            errors.push(format!("{path}: the same key is listed twice"));
        }
        let models = models.map(|m| {
            if m.is_empty() {
                errors.push(format!(
                    "{path}.models: an empty allowlist admits nothing; list aliases or \
                     provider/model patterns, or leave it out for every model"
                ));
            }
            m.iter().map(|s| ModelPattern::parse(s)).collect()
        });
        let limits = limits
            .map(|l| limits_from_raw(&l, &format!("{path}.limits"), errors))
            .unwrap_or_default()
            .over(base);
        keys.push(GatewayKey {
            name,
            sha256,
            plain,
            models,
            limits,
        });
    }
    keys
}

pub(super) fn validate_state(raw: RawState, errors: &mut Vec<String>) -> StateConfig {
    if raw.responses_ttl_seconds == Some(0) {
        errors.push("state.responses_ttl_seconds: must be at least 1".into());
    }
    let responses_ttl = raw.responses_ttl_seconds.map(Duration::from_secs);
    let responses_max_bytes = raw.responses_max_bytes;
    if let Some(n) = responses_max_bytes.filter(|&n| n < MIN_RESPONSES_MAX_BYTES) {
        errors.push(format!(
            "state.responses_max_bytes: {n} is below the minimum {MIN_RESPONSES_MAX_BYTES} \
             (1 MiB; a stored response holds its whole conversation); set at least \
             {MIN_RESPONSES_MAX_BYTES}, or leave it out for the default \
             {DEFAULT_RESPONSES_MAX_BYTES} (256 MiB)"
        ));
    }
    let Some(r) = raw.redis else {
        return StateConfig {
            redis: None,
            responses_ttl,
            responses_max_bytes,
        };
    };
    if !(r.url.starts_with("redis://") || r.url.starts_with("redis+unix://")) {
        errors.push(
            "state.redis.url: expected redis://[user:password@]host:port[/db] \
             (or redis+unix:///path); TLS (rediss://) is not supported yet"
                .into(),
        );
    }
    let timeout_ms = r.timeout_ms.unwrap_or(DEFAULT_REDIS_TIMEOUT_MS);
    if timeout_ms == 0 {
        errors.push("state.redis.timeout_ms: must be at least 1".into());
    }
    let on_error = match r.on_error.as_deref() {
        None | Some("fail_open") => OnError::FailOpen,
        Some("fail_closed") => OnError::FailClosed,
        Some(other) => {
            errors.push(format!(
                "state.redis.on_error: unknown value \"{other}\"; expected fail_open or fail_closed"
            ));
            OnError::FailOpen
        }
    };
    let key_prefix = r
        .key_prefix
        .unwrap_or_else(|| DEFAULT_REDIS_KEY_PREFIX.to_string());
    if !valid_name(&key_prefix) {
        errors.push(format!(
            "state.redis.key_prefix: \"{key_prefix}\" must be 1-64 characters of A-Z a-z 0-9 - _ ."
        ));
    }
    StateConfig {
        redis: Some(RedisConfig {
            url: r.url,
            timeout: Duration::from_millis(timeout_ms.max(1)),
            on_error,
            key_prefix,
        }),
        responses_ttl,
        responses_max_bytes,
    }
}

/// The password in `redis://user:password@host` (or `redis+unix://…?pass=`), to
/// scrub from outgoing text.
pub fn url_password(url: &str) -> Option<&str> {
    let (url, query) = url.split_once('?').unwrap_or((url, ""));
    let from_query = query.split('&').find_map(|kv| {
        kv.strip_prefix("pass=")
            .or_else(|| kv.strip_prefix("password="))
    });
    let from_userinfo = || {
        let rest = &url[url.find("://")? + 3..];
        let userinfo = &rest[..rest.rfind('@')?];
        Some(userinfo.split_once(':').map_or(userinfo, |(_, p)| p))
    };
    from_query.or_else(from_userinfo).filter(|p| !p.is_empty())
}

/// A fresh key for `switchyard keys new`: `sy-` and 32 random bytes in hex.
pub fn new_key() -> Result<(String, String), getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let key = format!("sy-{}", hex::encode(bytes));
    let digest = hex::encode(sha256(key.as_bytes()));
    Ok((key, digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = ModelPattern::parse("anthropic/*");
        assert!(p.matches("anthropic/claude-x") && !p.matches("openai/gpt"));
        let p = ModelPattern::parse("fast");
        assert!(p.matches("fast") && !p.matches("faster"));
    }

    #[test]
    fn redis_passwords_are_found_for_scrubbing() {
        assert_eq!(url_password("redis://u:hunter2@h:6379"), Some("hunter2"));
        assert_eq!(url_password("redis://:hunter2@h:6379/0"), Some("hunter2"));
        assert_eq!(url_password("redis://h:6379"), None);
        assert_eq!(
            url_password("redis+unix:///run/r.sock?user=u&pass=hunter2"),
            Some("hunter2")
        );
    }

    #[test]
    fn new_keys_are_fresh_and_hash_to_their_digest() {
        let (a, da) = new_key().unwrap();
        let (b, _) = new_key().unwrap();
        assert!(a.starts_with("sy-") && a.len() == 3 + 64 && a != b);
        assert_eq!(da, hex::encode(sha256(a.as_bytes())));
    }
}
