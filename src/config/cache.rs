//! The response cache's settings: `cache:` at the top level, and `cache:` per alias
//! (`models.<alias>.cache`) overriding `enabled` and `ttl_seconds`.

use super::keys::{RedisConfig, DEFAULT_REDIS_TIMEOUT_MS};
use super::raw::{RawAliasCache, RawCache};
use std::time::Duration;

pub const DEFAULT_CACHE_MAX_BYTES: u64 = 256 * 1024 * 1024;
pub const DEFAULT_CACHE_MAX_ENTRY_BYTES: u64 = 1024 * 1024;
pub const DEFAULT_CACHE_TTL_SECONDS: u64 = 300;

#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// For names without an alias override (`provider/model`, name-routed models).
    pub enabled: bool,
    /// Bound of the in-process tier, in bytes of stored answers.
    pub max_bytes: u64,
    /// Larger answers are not stored.
    pub max_entry_bytes: u64,
    pub ttl: Duration,
    pub scope: CacheScope,
    pub redis: Option<CacheRedis>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: false,
            max_bytes: DEFAULT_CACHE_MAX_BYTES,
            max_entry_bytes: DEFAULT_CACHE_MAX_ENTRY_BYTES,
            ttl: Duration::from_secs(DEFAULT_CACHE_TTL_SECONDS),
            scope: CacheScope::Key,
            redis: None,
        }
    }
}

/// Who may be served an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheScope {
    /// Only requests made with the same gateway key (tenant-safe; the default).
    Key,
    /// Every key: identical requests from different tenants share answers.
    Shared,
}

/// The optional second tier, shared by every instance that points at it.
#[derive(Debug, Clone)]
pub struct CacheRedis {
    /// Connection, timeout and key prefix (the URL is `state.redis.url` when the
    /// cache gives none).
    pub redis: RedisConfig,
    /// Entry lifetime in Redis; the request's TTL when unset.
    pub ttl: Option<Duration>,
}

/// An alias's overrides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AliasCache {
    pub enabled: Option<bool>,
    pub ttl: Option<Duration>,
}

fn ttl(seconds: Option<u64>, path: &str, errors: &mut Vec<String>) -> Option<Duration> {
    match seconds {
        Some(0) => {
            errors.push(format!(
                "{path}: must be at least 1 (to stop caching, set enabled: false)"
            ));
            None
        }
        s => s.map(Duration::from_secs),
    }
}

pub(super) fn validate_alias_cache(
    raw: Option<RawAliasCache>,
    path: &str,
    errors: &mut Vec<String>,
) -> AliasCache {
    let Some(r) = raw else {
        return AliasCache::default();
    };
    AliasCache {
        enabled: r.enabled,
        ttl: ttl(r.ttl_seconds, &format!("{path}.ttl_seconds"), errors),
    }
}

pub(super) fn validate_cache(
    raw: Option<RawCache>,
    state_redis: Option<&RedisConfig>,
    errors: &mut Vec<String>,
) -> CacheConfig {
    let Some(r) = raw else {
        return CacheConfig::default();
    };
    let d = CacheConfig::default();
    let max_bytes = r.max_bytes.unwrap_or(d.max_bytes);
    let max_entry_bytes = r.max_entry_bytes.unwrap_or(d.max_entry_bytes);
    if max_entry_bytes < 1024 {
        errors.push("cache.max_entry_bytes: must be at least 1024".into());
    }
    if max_bytes < max_entry_bytes {
        errors.push(format!(
            "cache.max_bytes: {max_bytes} is smaller than cache.max_entry_bytes \
             ({max_entry_bytes}); raise max_bytes or lower max_entry_bytes"
        ));
    }
    let scope = match r.scope.as_deref() {
        None | Some("key") => CacheScope::Key,
        Some("shared") => CacheScope::Shared,
        Some(other) => {
            errors.push(format!(
                "cache.scope: unknown value \"{other}\"; expected key (entries per gateway \
                 key) or shared (every key shares entries)"
            ));
            CacheScope::Key
        }
    };
    let redis = r.redis.and_then(|rr| {
        let url = match (rr.url, state_redis) {
            (Some(u), _) => u,
            (None, Some(s)) => s.url.clone(),
            (None, None) => {
                errors.push(
                    "cache.redis.url: missing, and there is no state.redis.url to share; \
                     write url: redis://host:6379"
                        .into(),
                );
                return None;
            }
        };
        if !(url.starts_with("redis://") || url.starts_with("redis+unix://")) {
            errors.push(
                "cache.redis.url: expected redis://[user:password@]host:port[/db] \
                 (or redis+unix:///path); TLS (rediss://) is not supported yet"
                    .into(),
            );
        }
        let timeout_ms = rr
            .timeout_ms
            .or(state_redis.map(|s| s.timeout.as_millis() as u64))
            .unwrap_or(DEFAULT_REDIS_TIMEOUT_MS);
        if timeout_ms == 0 {
            errors.push("cache.redis.timeout_ms: must be at least 1".into());
        }
        Some(CacheRedis {
            redis: RedisConfig {
                url,
                timeout: Duration::from_millis(timeout_ms.max(1)),
                // The cache never refuses a request over Redis: it degrades to moka.
                on_error: super::OnError::FailOpen,
                key_prefix: state_redis.map_or_else(
                    || super::keys::DEFAULT_REDIS_KEY_PREFIX.to_string(),
                    |s| s.key_prefix.clone(),
                ),
            },
            ttl: ttl(rr.ttl_seconds, "cache.redis.ttl_seconds", errors),
        })
    });
    CacheConfig {
        enabled: r.enabled.unwrap_or(false),
        max_bytes,
        max_entry_bytes,
        ttl: ttl(r.ttl_seconds, "cache.ttl_seconds", errors).unwrap_or(d.ttl),
        scope,
        redis,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{CacheScope, Config};
    use std::time::Duration;

    fn load(cache: &str, alias_cache: &str) -> Result<Config, String> {
        let yaml = format!(
            "cache: {cache}\nproviders:\n  o: {{ type: openai, api_key: sk-x, base_url: 'http://127.0.0.1:9' }}\n\
             models:\n  fast: {{ targets: [ {{ provider: o, model: m }} ]{alias_cache} }}\n"
        );
        Config::from_yaml(&yaml, "test", &|_: &str| None).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_overrides() {
        let c = load("{ enabled: true }", "").unwrap();
        assert_eq!(c.cache.max_bytes, 256 * 1024 * 1024);
        assert_eq!(c.cache.max_entry_bytes, 1024 * 1024);
        assert_eq!(c.cache.scope, CacheScope::Key);
        assert_eq!(c.cache_for("fast"), Some(Duration::from_secs(300)));
        assert_eq!(c.cache_for("o/m"), Some(Duration::from_secs(300)));
        let c = load(
            "{ enabled: false }",
            ", cache: { enabled: true, ttl_seconds: 60 }",
        )
        .unwrap();
        assert!(c.cache_in_use());
        assert_eq!(c.cache_for("fast"), Some(Duration::from_secs(60)));
        assert_eq!(c.cache_for("o/m"), None);
        let c = load(
            "{ enabled: true, scope: shared }",
            ", cache: { enabled: false }",
        )
        .unwrap();
        assert_eq!(c.cache_for("fast"), None);
        assert_eq!(c.cache.scope, CacheScope::Shared);
    }

    #[test]
    fn mistakes_are_named() {
        let e = load("{ enabld: true }", "").unwrap_err();
        assert!(
            e.contains("cache") && e.contains("did you mean `enabled`"),
            "{e}"
        );
        let e = load("{ enabled: true, scope: tenant }", "").unwrap_err();
        assert!(e.contains("cache.scope") && e.contains("shared"), "{e}");
        let e = load("{ enabled: true, ttl_seconds: 0 }", "").unwrap_err();
        assert!(e.contains("cache.ttl_seconds"), "{e}");
        let e = load(
            "{ enabled: true, max_bytes: 2048, max_entry_bytes: 4096 }",
            "",
        )
        .unwrap_err();
        assert!(e.contains("cache.max_bytes"), "{e}");
        let e = load("{ enabled: true, redis: {} }", "").unwrap_err();
        assert!(
            e.contains("cache.redis.url") && e.contains("state.redis.url"),
            "{e}"
        );
        let e = load("{ enabled: true }", ", cache: { ttl: 5 }").unwrap_err();
        assert!(
            e.contains("models.fast.cache") || e.contains("ttl_seconds"),
            "{e}"
        );
    }

    #[test]
    fn the_cache_shares_state_redis_unless_it_names_its_own() {
        let yaml = "state: { redis: { url: 'redis://:pw-1234@10.0.0.1:6379', key_prefix: sy } }\n\
                    cache: { enabled: true, redis: { ttl_seconds: 900 } }\n";
        let c = Config::from_yaml(yaml, "test", &|_: &str| None).unwrap();
        let r = c.cache.redis.as_ref().unwrap();
        assert_eq!(r.redis.url, "redis://:pw-1234@10.0.0.1:6379");
        assert_eq!(r.redis.key_prefix, "sy");
        assert_eq!(r.ttl, Some(Duration::from_secs(900)));
        assert!(c.secrets().contains(&"pw-1234".to_string()));
    }
}
