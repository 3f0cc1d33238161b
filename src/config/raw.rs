//! The YAML file as written by users: serde types that reject unknown keys.
//! Nothing here is trusted; `super::validate` turns it into a [`super::Config`].

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    #[serde(default)]
    pub keys: Vec<RawKey>,
    /// Limits for every key that does not set its own (field by field).
    pub default_limits: Option<RawKeyLimits>,
    #[serde(default)]
    pub state: RawState,
    pub cache: Option<RawCache>,
    pub catalog: Option<RawCatalog>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub defaults: RawDefaults,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    pub models: BTreeMap<String, RawAlias>,
    /// The `log:` section (its raw types live in `super::log`).
    pub log: Option<super::log::RawLog>,
}

/// A gateway key: a bare string, or an entry with a name, the key (or its SHA-256),
/// a model allowlist and limits.
#[derive(Debug)]
pub enum RawKey {
    Bare(String),
    Entry(RawKeyEntry),
}

/// Not `#[serde(untagged)]`: that would hide an unknown field in an entry behind
/// "data did not match any variant"; a map is read as an entry with its own errors.
impl<'de> Deserialize<'de> for RawKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key string or a map {name, key | key_sha256, models, limits}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawKey, E> {
                Ok(RawKey::Bare(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawKey, A::Error> {
                RawKeyEntry::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawKey::Entry)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeyEntry {
    pub name: String,
    pub key: Option<String>,
    /// Hex SHA-256 of the key, so the config file holds no secret.
    pub key_sha256: Option<String>,
    /// Aliases or `provider/model` patterns this key may use (`*` suffix wildcard).
    pub models: Option<Vec<String>>,
    pub limits: Option<RawKeyLimits>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawKeyLimits {
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub concurrency: Option<u64>,
    pub budget: Option<RawBudget>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawBudget {
    /// USD the key may spend per period.
    pub usd: f64,
    /// 1h | 1d | 7d | 30d | total.
    pub period: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    pub redis: Option<RawRedis>,
    /// How long stored Responses-API responses are kept (default one day).
    pub responses_ttl_seconds: Option<u64>,
    /// Bound in bytes of the stored Responses-API responses held in process
    /// (default 256 MiB).
    pub responses_max_bytes: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedis {
    pub url: String,
    pub timeout_ms: Option<u64>,
    pub on_error: Option<String>,
    pub key_prefix: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    pub enabled: Option<bool>,
    pub max_bytes: Option<u64>,
    pub max_entry_bytes: Option<u64>,
    pub ttl_seconds: Option<u64>,
    pub scope: Option<String>,
    pub redis: Option<RawCacheRedis>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawCacheRedis {
    pub url: Option<String>,
    pub ttl_seconds: Option<u64>,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAliasCache {
    pub enabled: Option<bool>,
    pub ttl_seconds: Option<u64>,
}

/// `catalog:`: where the model catalog comes from (`super::catalog`).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawCatalog {
    pub path: Option<String>,
    pub url: Option<String>,
    pub refresh_hours: Option<u64>,
    pub cache_dir: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_body_bytes: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub max_tokens: Option<u32>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub threads: Option<usize>,
    pub pid_file: Option<String>,
    pub error_log: Option<String>,
    pub upgrade_sock: Option<String>,
    pub grace_period_seconds: Option<u64>,
    pub shutdown_delay_seconds: Option<u64>,
    pub graceful_shutdown_timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    #[serde(rename = "type")]
    pub kind: String,
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub anthropic_version: Option<String>,
    /// Azure: `api-version` (a date such as `2024-10-21`, or `v1`).
    pub api_version: Option<String>,
    /// Azure: `api-key` (default) or `bearer` (Entra ID tokens).
    pub auth: Option<String>,
    /// OpenAI: `/v1/responses` requests go to `{base_url}/responses` as they are.
    #[serde(default)]
    pub responses: bool,
    pub max_tokens: Option<u32>,
    /// Replicas of a self-hosted engine (`host:port`), load-balanced and health-checked;
    /// `base_url` still gives the scheme, path and `Host` header.
    #[serde(default)]
    pub addresses: Vec<String>,
    pub health_check: Option<RawHealthCheck>,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    /// Speak HTTP/2 to the provider (ALPN over TLS, prior knowledge over plain http).
    #[serde(default)]
    pub http2: bool,
    pub http2_max_streams: Option<usize>,
    /// The model catalog's provider for this one (OpenAI-compatible providers).
    pub catalog_provider: Option<String>,
    /// `type: openai`: the OpenAI-compatible service or engine (`mistral`, `groq`,
    /// `vllm`, ...), which supplies defaults and request quirks.
    pub preset: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    pub connect_ms: Option<u64>,
    pub first_byte_ms: Option<u64>,
    pub idle_ms: Option<u64>,
    pub total_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    pub path: Option<String>,
    pub interval_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub healthy_after: Option<usize>,
    pub unhealthy_after: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackoff {
    pub base_ms: Option<u64>,
    pub max_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    pub failures: Option<u32>,
    pub cooldown_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrice {
    /// USD per million input tokens.
    pub input: f64,
    /// USD per million output tokens.
    pub output: f64,
    /// USD per million prompt tokens read from the provider's prompt cache (default:
    /// the input price).
    pub cache_read: Option<f64>,
    /// USD per million prompt tokens written to the provider's prompt cache (default:
    /// the input price).
    pub cache_write: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlias {
    pub strategy: Option<String>,
    #[serde(default)]
    pub targets: Vec<RawTarget>,
    #[serde(default)]
    pub fallbacks: Vec<String>,
    pub retries: Option<u32>,
    pub backoff: Option<RawBackoff>,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    pub breaker: Option<RawBreaker>,
    /// Share of requests (0..1) the latency strategy sends to a random target.
    pub exploration: Option<f64>,
    pub cache: Option<RawAliasCache>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub provider: String,
    pub model: String,
    pub weight: Option<u32>,
    pub price: Option<RawPrice>,
    #[serde(default)]
    pub timeouts: RawTimeouts,
}
