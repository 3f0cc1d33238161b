//! Configuration: YAML file or embedded default -> validated [`Config`].
//!
//! Layering, lowest first: built-in defaults < the file (`-c FILE`) < environment
//! (`${VAR}` / `${VAR:-fallback}` in `keys`, `providers.*.api_key` and
//! `providers.*.base_url`; with no file, provider keys and `SWITCHYARD_*` variables)
//! < command-line flags (`-d`, `-u`, `-t`).
//!
//! Every problem is collected with its path (`models.fast.targets[1].provider: ...`),
//! so `switchyard check` can print them all at once. Secrets are never part of an
//! error message.

pub mod cache;
pub mod catalog;
pub mod keys;
pub mod log;
mod raw;

use crate::formats::openai::preset::Preset;
use crate::formats::{ApiFormat, Format, Settings};
pub use cache::{AliasCache, CacheConfig, CacheScope};
pub use catalog::CatalogConfig;
pub use keys::{Budget, BudgetPeriod, GatewayKey, KeyLimits, OnError, RedisConfig, StateConfig};
pub use log::LogConfig;
use raw::{RawConfig, RawKey, RawProvider, RawTimeouts};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9091";
pub const DEFAULT_MAX_BODY_BYTES: u64 = 32 * 1024 * 1024;
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// Pingora's own default for `grace_period_seconds`.
pub const DEFAULT_GRACE_PERIOD_SECONDS: u64 = 300;
pub const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";
/// First `anthropic-version` whose Messages params no longer take sampling overrides.
const ANTHROPIC_VERSION_WITHOUT_SAMPLING: &str = "2026-10-21";

/// A validated configuration; cheap to share (`Arc`) across requests.
#[derive(Debug)]
pub struct Config {
    pub listen: String,
    pub admin_listen: Option<String>,
    pub keys: Vec<GatewayKey>,
    /// Where limit state lives (in-process without `state.redis`).
    pub state: StateConfig,
    /// The response cache (`crate::cache`).
    pub cache: CacheConfig,
    /// Where the model catalog comes from (`crate::catalog::load`).
    pub catalog: CatalogConfig,
    pub max_body_bytes: u64,
    /// `defaults.max_tokens`: also the output estimate of a request that sets none.
    pub default_max_tokens: u32,
    pub server: ServerSettings,
    /// Providers by position; targets refer to them by index.
    pub providers: Vec<Arc<Provider>>,
    pub aliases: BTreeMap<String, Alias>,
    /// Embedded default: pick the provider from the model name (`claude-*`, `gpt-*`).
    pub route_by_model_name: bool,
    /// Where this config came from, for start-up messages.
    pub source: String,
    /// The `log:` section (`crate::logs`).
    pub log: LogConfig,
}

#[derive(Debug, Default, Clone)]
pub struct ServerSettings {
    pub threads: Option<usize>,
    pub pid_file: Option<String>,
    pub error_log: Option<String>,
    pub upgrade_sock: Option<String>,
    pub grace_period_seconds: Option<u64>,
    /// SIGTERM: keep serving (not ready) at least this long, even when idle.
    pub shutdown_delay_seconds: u64,
    pub graceful_shutdown_timeout_seconds: Option<u64>,
}

/// One upstream provider deployment.
pub struct Provider {
    pub name: String,
    /// `type:`: the provider's wire format, which builds its requests and reads its
    /// answers (see `crate::formats::provider`).
    pub format: Format,
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// The request path every request shares, e.g. `/v1/chat/completions` or
    /// `/v1/messages`; formats that put the model in the path add to it per request.
    pub path: String,
    /// `Host` header value (with port when not the scheme default).
    pub host_header: String,
    pub api_key: String,
    /// The credential header value, built once (`Bearer <key>` or the bare key);
    /// marked sensitive so it is never logged by the HTTP stack.
    pub auth_value: http::HeaderValue,
    pub anthropic_version: String,
    /// `api_version:` (Azure).
    pub api_version: Option<String>,
    /// `auth:` (Azure: `api-key` or `bearer`).
    pub auth: Option<String>,
    /// `responses: true` (OpenAI): the path `/v1/responses` requests are forwarded to
    /// unchanged but for `model` (`{base_url}/responses`); `None`: they are translated
    /// to Chat Completions like every other client API.
    pub responses_path: Option<String>,
    pub default_max_tokens: u32,
    /// Self-hosted replicas (`host:port`); empty = resolve `host` (SaaS providers).
    pub addresses: Vec<String>,
    pub health_check: Option<HealthCheck>,
    pub timeouts: TimeoutOverrides,
    /// HTTP/2 to the provider: requests share a few multiplexed connections instead of
    /// one connection (and file descriptor) each.
    pub http2: Option<Http2>,
    /// `catalog_provider:`: the model catalog's provider id for this provider; `None`
    /// = the one named after its type (see `crate::catalog::catalog_provider_of`).
    /// A preset's is filled in here when the entry names none.
    pub catalog_provider: Option<String>,
    /// `preset:` (`type: openai` only): the OpenAI-compatible service or engine.
    pub preset: Option<Preset>,
    /// Learned at run time: the provider answered a request with `stream_options`
    /// with an error naming it, so streamed requests are sent without it.
    pub rejects_stream_options: AtomicBool,
}

/// HTTP/2 settings of one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http2 {
    /// Streams opened per connection before another connection is made. Must not exceed
    /// the server's SETTINGS_MAX_CONCURRENT_STREAMS: requests beyond it wait for a free
    /// stream instead of opening a connection.
    pub max_streams: usize,
}

/// RFC 9113 recommends servers allow at least 100 concurrent streams.
pub const DEFAULT_HTTP2_MAX_STREAMS: usize = 100;

/// Timeouts of one upstream attempt, resolved: target > alias > provider > defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// Until the response header arrives.
    pub first_byte: Duration,
    /// Longest gap between two body chunks.
    pub idle: Duration,
    /// Whole attempt, body included; `None` = no limit.
    pub total: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(300),
            idle: Duration::from_secs(120),
            total: None,
        }
    }
}

/// Timeouts set at one level (provider, alias or target); unset ones inherit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeoutOverrides {
    pub connect: Option<Duration>,
    pub first_byte: Option<Duration>,
    pub idle: Option<Duration>,
    pub total: Option<Duration>,
}

impl TimeoutOverrides {
    fn from_raw(r: &RawTimeouts) -> Self {
        let ms = |v: Option<u64>| v.map(Duration::from_millis);
        TimeoutOverrides {
            connect: ms(r.connect_ms),
            first_byte: ms(r.first_byte_ms),
            idle: ms(r.idle_ms),
            total: ms(r.total_ms),
        }
    }

    /// These overrides applied on top of `base`.
    pub fn over(&self, base: Timeouts) -> Timeouts {
        Timeouts {
            connect: self.connect.unwrap_or(base.connect),
            first_byte: self.first_byte.unwrap_or(base.first_byte),
            idle: self.idle.unwrap_or(base.idle),
            total: self.total.or(base.total),
        }
    }
}

/// Active HTTP health check for providers with `addresses`.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_after: usize,
    pub unhealthy_after: usize,
}

impl Provider {
    /// Whether a client of `api` is served by forwarding its body (see
    /// [`Format::passes_through`]); some presets need their requests rewritten.
    pub fn passes_through(&self, api: ApiFormat) -> bool {
        self.format.passes_through(api) && self.preset.is_none_or(Preset::passthrough)
    }

    /// Whether streamed requests may carry `stream_options` (until the provider
    /// rejected it once).
    pub fn takes_stream_options(&self) -> bool {
        !self.rejects_stream_options.load(Ordering::Relaxed)
    }

    /// Remembers that the provider rejects `stream_options`; `true` the first time.
    pub fn learn_rejects_stream_options(&self) -> bool {
        !self.rejects_stream_options.swap(true, Ordering::Relaxed)
    }

    /// Whether `temperature`/`top_p`/`top_k` may be sent (Anthropic API versions differ).
    pub fn accepts_sampling_params(&self) -> bool {
        self.format != Format::Anthropic
            || self.anthropic_version.as_str() < ANTHROPIC_VERSION_WITHOUT_SAMPLING
    }
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct Alias {
    pub name: String,
    pub strategy: Strategy,
    pub targets: Vec<Target>,
    pub fallbacks: Vec<String>,
    /// Extra tries of the same target after a retryable failure.
    pub retries: u32,
    pub backoff: Backoff,
    pub timeouts: TimeoutOverrides,
    pub breaker: BreakerConfig,
    /// Latency strategy: share of requests sent to a random target first.
    pub exploration: f64,
    pub cache: AliasCache,
}

/// How an alias orders its targets (see `crate::routing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Weighted,
    LeastInflight,
    Latency,
    Cost,
}

impl Strategy {
    pub const NAMES: [&'static str; 4] = ["weighted", "least_inflight", "latency", "cost"];

    fn parse(s: &str) -> Option<Self> {
        match s {
            "weighted" => Some(Strategy::Weighted),
            "least_inflight" => Some(Strategy::LeastInflight),
            "latency" => Some(Strategy::Latency),
            "cost" => Some(Strategy::Cost),
            _ => None,
        }
    }
}

/// Exponential backoff with full jitter between retries of one target; `max` also
/// caps how long a provider's `retry-after` is waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(250),
            max: Duration::from_secs(5),
        }
    }
}

/// Circuit breaker per deployment: `failures` consecutive failures open it for
/// `cooldown`, then one probe request decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    pub failures: u32,
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Target {
    /// Index into [`Config::providers`].
    pub provider: usize,
    pub model: String,
    pub weight: u32,
    pub price: Option<Price>,
    pub timeouts: TimeoutOverrides,
}

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Prompt-cache reads; `None`: billed as input.
    pub cache_read: Option<f64>,
    /// Prompt-cache writes; `None`: billed as input.
    pub cache_write: Option<f64>,
}

/// All problems found in a config, each with its path.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Reads environment variables; a trait object so tests need not touch the real env.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn real_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Config {
    /// Loads and validates a YAML file.
    pub fn from_file(path: &str) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigErrors(vec![format!("{path}: cannot read config file: {e}")]))?;
        Self::from_yaml(&text, path, &real_env)
    }

    /// Parses and validates YAML text; `source` names it in messages.
    pub fn from_yaml(text: &str, source: &str, env: EnvLookup) -> Result<Config, ConfigErrors> {
        let de = serde_yaml::Deserializer::from_str(text);
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let msg = with_suggestion(&e.inner().to_string());
            ConfigErrors(vec![if path == "." {
                format!("{source}: {msg}")
            } else {
                format!("{path}: {msg}")
            }])
        })?;
        validate(raw, source, env, false)
    }

    /// The embedded default: every provider whose key is in the environment, routed by
    /// model name. Starts even with no keys (requests then get a how-to-configure error).
    pub fn embedded_default(env: EnvLookup) -> Result<Config, ConfigErrors> {
        let mut raw = RawConfig {
            listen: Some(env("SWITCHYARD_LISTEN").unwrap_or_else(|| DEFAULT_LISTEN.into())),
            admin_listen: Some(
                env("SWITCHYARD_ADMIN_LISTEN").unwrap_or_else(|| DEFAULT_ADMIN_LISTEN.into()),
            ),
            ..Default::default()
        };
        if let Some(keys) = env("SWITCHYARD_KEYS") {
            raw.keys = keys
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| RawKey::Bare(k.to_string()))
                .collect();
        }
        for (name, key_vars, url_var) in [
            ("openai", &["OPENAI_API_KEY"][..], "OPENAI_BASE_URL"),
            ("anthropic", &["ANTHROPIC_API_KEY"], "ANTHROPIC_BASE_URL"),
            // Google's SDKs read either; GOOGLE_API_KEY wins when both are set.
            (
                "gemini",
                &["GOOGLE_API_KEY", "GEMINI_API_KEY"],
                "GEMINI_BASE_URL",
            ),
        ] {
            let default_url = Format::parse(name)
                .and_then(Format::default_base_url)
                .unwrap_or_default();
            if let Some(key) = key_vars.iter().find_map(|v| env(v)) {
                raw.providers.insert(
                    name.to_string(),
                    RawProvider {
                        kind: name.to_string(),
                        base_url: Some(env(url_var).unwrap_or_else(|| default_url.into())),
                        api_key: Some(key),
                        ..RawProvider::default()
                    },
                );
            }
        }
        // OpenAI-compatible services by their SDKs' key variables, under the preset's
        // name: reached as `mistral/<model>`, `groq/<model>`, ... (their model names
        // overlap, so none is picked by name alone). Self-hosted engines need a file.
        for preset in Preset::ALL {
            if let Some(var) = preset.key_var().filter(|v| env(v).is_some()) {
                raw.providers.insert(
                    preset.name().to_string(),
                    RawProvider {
                        kind: Format::OpenAi.name().to_string(),
                        api_key: Some(format!("${{{var}}}")),
                        preset: Some(preset.name().to_string()),
                        ..RawProvider::default()
                    },
                );
            }
        }
        validate(raw, "embedded default", env, true)
    }

    /// Whether the cache serves requests for `model` (an alias or `provider/model`),
    /// and the store TTL for them.
    pub fn cache_for(&self, model: &str) -> Option<Duration> {
        let c = &self.cache;
        let o = self.aliases.get(model).map(|a| a.cache).unwrap_or_default();
        o.enabled
            .unwrap_or(c.enabled)
            .then(|| o.ttl.unwrap_or(c.ttl))
    }

    /// Whether any request can be cached (the cache then exists).
    pub fn cache_in_use(&self) -> bool {
        self.cache.enabled || self.aliases.values().any(|a| a.cache.enabled == Some(true))
    }

    pub fn provider_by_name(&self, name: &str) -> Option<usize> {
        self.providers.iter().position(|p| p.name == name)
    }

    /// Every secret the gateway holds, for scrubbing messages that came from outside.
    pub fn secrets(&self) -> Vec<String> {
        let mut s: Vec<String> = self.providers.iter().map(|p| p.api_key.clone()).collect();
        s.extend(self.keys.iter().filter_map(|k| k.plain.clone()));
        if let Some(r) = &self.state.redis {
            s.extend(keys::url_password(&r.url).map(str::to_string));
        }
        if let Some(r) = &self.cache.redis {
            s.extend(keys::url_password(&r.redis.url).map(str::to_string));
        }
        s.retain(|k| k.len() >= 4);
        s
    }
}

/// serde's "unknown field `x`, expected one of `a`, `b`" gains "(did you mean `a`?)".
/// Inside a sequence serde_yaml puts its own `keys[0]: ` before the message; the
/// caller prints the full path already, so that part is dropped.
fn with_suggestion(msg: &str) -> String {
    let Some(at) = msg.find("unknown field `") else {
        return msg.to_string();
    };
    let msg = &msg[at..];
    let rest = &msg["unknown field `".len()..];
    let Some((field, expected)) = rest.split_once('`') else {
        return msg.to_string();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match closest(field, candidates.iter().copied()) {
        Some(best) => format!("{msg} (did you mean `{best}`?)"),
        None => msg.to_string(),
    }
}

/// The closest name within a small edit distance.
pub fn closest<'a>(word: &str, options: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    options
        .map(|o| (strsim::levenshtein(word, o), o))
        .filter(|(d, o)| *d <= 2.max(o.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, o)| o)
}

/// Expands `${VAR}` and `${VAR:-fallback}` in a value.
pub(crate) fn expand_env(
    value: &str,
    path: &str,
    env: EnvLookup,
    errors: &mut Vec<String>,
) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            errors.push(format!("{path}: unterminated '${{' (write ${{VAR}})"));
            return out;
        };
        let expr = &after[..end];
        let (name, fallback) = match expr.split_once(":-") {
            Some((n, f)) => (n, Some(f)),
            None => (expr, None),
        };
        match (env(name), fallback) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(f)) => out.push_str(f),
            (None, None) => errors.push(format!(
                "{path}: environment variable {name} is not set (export it, or write ${{{name}:-default}})"
            )),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn check_listen(addr: &str, path: &str, errors: &mut Vec<String>) {
    if addr.parse::<std::net::SocketAddr>().is_err() {
        errors.push(format!(
            "{path}: '{addr}' is not an address:port (e.g. 0.0.0.0:8080 or 127.0.0.1:8080)"
        ));
    }
}

fn check_timeouts(t: &RawTimeouts, path: &str, errors: &mut Vec<String>) {
    for (name, v) in [
        ("connect_ms", t.connect_ms),
        ("first_byte_ms", t.first_byte_ms),
        ("idle_ms", t.idle_ms),
        ("total_ms", t.total_ms),
    ] {
        if v == Some(0) {
            errors.push(format!(
                "{path}.{name}: must be at least 1 (omit it to inherit)"
            ));
        }
    }
}

fn build_provider(
    name: &str,
    p: RawProvider,
    defaults_max_tokens: u32,
    env: EnvLookup,
    errors: &mut Vec<String>,
) -> Option<Provider> {
    let at = format!("providers.{name}");
    let Some(format) = Format::parse(&p.kind) else {
        let names = Format::ALL.iter().map(|f| f.name());
        let hint = closest(&p.kind, names.clone())
            .map(|s| format!(" (did you mean \"{s}\"?)"))
            .unwrap_or_default();
        errors.push(format!(
            "{at}.type: unknown provider type \"{}\"{hint}; expected one of {}",
            p.kind,
            names.collect::<Vec<_>>().join(", ")
        ));
        return None;
    };
    let settings = Settings {
        anthropic_version: p.anthropic_version.as_deref(),
        api_version: p.api_version.as_deref(),
        auth: p.auth.as_deref(),
        responses: p.responses,
    };
    for s in settings.present() {
        if format.settings().contains(&s) {
            continue;
        }
        if s == "responses" {
            errors.push(format!(
                "{at}.responses: only `type: openai` providers take Responses API requests \
                 as they are (type {} gets them translated); remove it",
                format.name()
            ));
        } else {
            errors.push(format!(
                "{at}.{s}: has no effect for type {}; remove it",
                format.name()
            ));
        }
    }
    format.check(&settings, &at, errors);
    let preset = match p.preset.as_deref() {
        None => None,
        Some(_) if format != Format::OpenAi => {
            errors.push(format!(
                "{at}.preset: presets are for type openai (OpenAI-compatible services); remove it or write type: openai"
            ));
            None
        }
        Some(name) => Preset::parse(name).or_else(|| {
            let names = Preset::ALL.iter().map(|p| p.name());
            let hint = closest(name, names.clone())
                .map(|s| format!(" (did you mean \"{s}\"?)"))
                .unwrap_or_default();
            errors.push(format!(
                "{at}.preset: unknown preset \"{name}\"{hint}; expected one of {}",
                names.collect::<Vec<_>>().join(", ")
            ));
            None
        }),
    };
    let Some(default_url) = preset
        .map(Preset::base_url)
        .or(format.default_base_url())
        .or(p.base_url.as_ref().map(|_| ""))
    else {
        errors.push(format!(
            "{at}.base_url: missing; type {} has no default (write your resource's URL)",
            format.name()
        ));
        return None;
    };
    let base_url = match &p.base_url {
        Some(u) => expand_env(u, &format!("{at}.base_url"), env, errors),
        None => default_url.to_string(),
    };
    let api_key = match (&p.api_key, preset) {
        (Some(k), _) => expand_env(k, &format!("{at}.api_key"), env, errors),
        // A preset reads the key from its service's usual variable.
        (None, Some(pr)) => match pr.key_var() {
            None => String::new(),
            Some(var) => env(var).unwrap_or_else(|| {
                errors.push(format!(
                    "{at}.api_key: missing; preset {} reads {var}, which is not set (export it, or write api_key:)",
                    pr.name()
                ));
                String::new()
            }),
        },
        (None, None) => {
            errors.push(format!(
                "{at}.api_key: missing; write api_key: ${{{}_API_KEY}} and export the variable",
                name.to_uppercase().replace('-', "_")
            ));
            String::new()
        }
    };
    let uri: http::Uri = match base_url.parse() {
        Ok(u) => u,
        Err(_) => {
            errors.push(format!(
                "{at}.base_url: '{base_url}' is not a URL (e.g. {default_url})"
            ));
            return None;
        }
    };
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            errors.push(format!(
                "{at}.base_url: '{base_url}' must start with http:// or https://"
            ));
            return None;
        }
    };
    let Some(host) = uri.host().map(|h| h.trim_matches(['[', ']']).to_string()) else {
        errors.push(format!("{at}.base_url: '{base_url}' has no host"));
        return None;
    };
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let prefix = uri.path().trim_end_matches('/');
    let path = format.base_path(prefix, &settings);
    let responses_path = settings.responses.then(|| format!("{prefix}/responses"));
    let host_header = match uri.port_u16() {
        Some(port) => format!("{}:{port}", uri.host().unwrap_or_default()),
        None => uri.host().unwrap_or_default().to_string(),
    };
    if api_key.contains(['\r', '\n']) {
        errors.push(format!("{at}.api_key: contains a line break"));
    }
    check_timeouts(&p.timeouts, &format!("{at}.timeouts"), errors);
    catalog::check_catalog_provider(p.catalog_provider.as_deref(), &at, errors);
    let auth_text = format.auth_value(&api_key, &settings);
    let auth_value = match http::HeaderValue::from_str(&auth_text) {
        Ok(mut v) => {
            v.set_sensitive(true);
            v
        }
        Err(_) => {
            errors.push(format!(
                "{at}.api_key: contains characters that cannot go in an HTTP header"
            ));
            http::HeaderValue::from_static("")
        }
    };
    let addresses = p.addresses.clone();
    for (i, a) in addresses.iter().enumerate() {
        let ok = a
            .rsplit_once(':')
            .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok());
        if !ok {
            errors.push(format!("{at}.addresses[{i}]: '{a}' is not host:port"));
        }
    }
    let health_check = match &p.health_check {
        None => None,
        Some(_) if addresses.is_empty() => {
            errors.push(format!(
                "{at}.health_check: active health checks need `addresses` (self-hosted replicas); SaaS providers get passive health only"
            ));
            None
        }
        Some(h) => {
            let path = h.path.clone().unwrap_or_else(|| "/health".into());
            if !path.starts_with('/') {
                errors.push(format!("{at}.health_check.path: must start with '/'"));
            }
            Some(HealthCheck {
                path,
                interval: Duration::from_millis(h.interval_ms.unwrap_or(5_000).max(100)),
                timeout: Duration::from_millis(h.timeout_ms.unwrap_or(1_000).max(10)),
                healthy_after: h.healthy_after.unwrap_or(1).max(1),
                unhealthy_after: h.unhealthy_after.unwrap_or(2).max(1),
            })
        }
    };
    let http2 = match (p.http2, p.http2_max_streams) {
        (false, Some(_)) => {
            errors.push(format!(
                "{at}.http2_max_streams: has no effect without `http2: true`"
            ));
            None
        }
        (false, None) => None,
        (true, n) => {
            let max_streams = n.unwrap_or(DEFAULT_HTTP2_MAX_STREAMS);
            if !(1..=10_000).contains(&max_streams) {
                errors.push(format!(
                    "{at}.http2_max_streams: {max_streams} is out of range (1 to 10000; at most the server's SETTINGS_MAX_CONCURRENT_STREAMS)"
                ));
            }
            Some(Http2 { max_streams })
        }
    };
    Some(Provider {
        name: name.to_string(),
        format,
        tls,
        host,
        port,
        path,
        host_header,
        api_key,
        auth_value,
        anthropic_version: p
            .anthropic_version
            .unwrap_or_else(|| DEFAULT_ANTHROPIC_VERSION.to_string()),
        api_version: p.api_version,
        auth: p.auth,
        responses_path,
        default_max_tokens: p.max_tokens.unwrap_or(defaults_max_tokens),
        addresses,
        health_check,
        timeouts: TimeoutOverrides::from_raw(&p.timeouts),
        http2,
        catalog_provider: p
            .catalog_provider
            .or_else(|| preset.map(|pr| pr.catalog_provider().to_string())),
        preset,
        rejects_stream_options: AtomicBool::new(false),
    })
}

fn validate(
    raw: RawConfig,
    source: &str,
    env: EnvLookup,
    route_by_model_name: bool,
) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    let listen = raw.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    check_listen(&listen, "listen", &mut errors);
    if let Some(a) = &raw.admin_listen {
        check_listen(a, "admin_listen", &mut errors);
    }
    let keys = keys::validate_keys(raw.keys, raw.default_limits.as_ref(), env, &mut errors);
    let state = keys::validate_state(raw.state, &mut errors);
    let cache = cache::validate_cache(raw.cache, state.redis.as_ref(), &mut errors);
    let catalog = catalog::validate_catalog(raw.catalog, env, &mut errors);
    let log = log::validate_log(raw.log, &mut errors);
    let max_tokens = raw.defaults.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if max_tokens == 0 {
        errors.push("defaults.max_tokens: must be at least 1".into());
    }
    let max_body_bytes = raw.limits.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if max_body_bytes < 1024 {
        errors.push("limits.max_body_bytes: must be at least 1024".into());
    }
    let mut providers = Vec::new();
    let declared_providers: Vec<String> = raw.providers.keys().cloned().collect();
    for (name, p) in raw.providers {
        if name.contains('/') {
            errors.push(format!(
                "providers.{name}: a provider name cannot contain '/'"
            ));
        }
        if let Some(p) = build_provider(&name, p, max_tokens, env, &mut errors) {
            providers.push(Arc::new(p));
        }
    }
    let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
    // Providers that failed validation were reported already; references to them are
    // not "unknown", and they still count for suggestions.
    let declared: Vec<&str> = declared_providers.iter().map(String::as_str).collect();
    let alias_names: Vec<String> = raw.models.keys().cloned().collect();
    let mut aliases = BTreeMap::new();
    for (alias, a) in raw.models {
        let at = format!("models.{alias}");
        let strategy = match a.strategy.as_deref() {
            None => Strategy::Weighted,
            Some(s) => Strategy::parse(s).unwrap_or_else(|| {
                let hint = closest(s, Strategy::NAMES.into_iter())
                    .map(|c| format!(" (did you mean \"{c}\"?)"))
                    .unwrap_or_default();
                errors.push(format!(
                    "{at}.strategy: unknown strategy \"{s}\"{hint}; expected one of {}",
                    Strategy::NAMES.join(", ")
                ));
                Strategy::Weighted
            }),
        };
        if a.targets.is_empty() {
            errors.push(format!(
                "{at}.targets: list at least one {{provider, model}}"
            ));
        }
        check_timeouts(&a.timeouts, &format!("{at}.timeouts"), &mut errors);
        let mut targets = Vec::new();
        for (i, t) in a.targets.into_iter().enumerate() {
            let tat = format!("{at}.targets[{i}]");
            check_timeouts(&t.timeouts, &format!("{tat}.timeouts"), &mut errors);
            if t.weight == Some(0) {
                errors.push(format!(
                    "{tat}.weight: must be at least 1 (remove the target to stop using it)"
                ));
            }
            let price = t.price.map(|p| Price {
                input: p.input,
                output: p.output,
                cache_read: p.cache_read,
                cache_write: p.cache_write,
            });
            if price.is_some_and(|p| {
                [Some(p.input), Some(p.output), p.cache_read, p.cache_write]
                    .into_iter()
                    .flatten()
                    .any(|v| v < 0.0 || !v.is_finite())
            }) {
                errors.push(format!("{tat}.price: prices cannot be negative"));
            }
            match names.iter().position(|n| *n == t.provider) {
                Some(idx) => targets.push(Target {
                    provider: idx,
                    model: t.model,
                    weight: t.weight.unwrap_or(1).max(1),
                    price,
                    timeouts: TimeoutOverrides::from_raw(&t.timeouts),
                }),
                None if declared.contains(&t.provider.as_str()) => {}
                None => {
                    let hint = closest(&t.provider, declared.iter().copied())
                        .map(|s| format!(" (did you mean \"{s}\"?)"))
                        .unwrap_or_default();
                    errors.push(format!(
                        "{tat}.provider: unknown provider \"{}\"{hint}",
                        t.provider
                    ));
                }
            }
        }
        for (i, f) in a.fallbacks.iter().enumerate() {
            if *f == alias {
                errors.push(format!(
                    "{at}.fallbacks[{i}]: an alias cannot fall back to itself"
                ));
            } else if !alias_names.contains(f) {
                let hint = closest(f, alias_names.iter().map(String::as_str))
                    .map(|s| format!(" (did you mean \"{s}\"?)"))
                    .unwrap_or_default();
                errors.push(format!(
                    "{at}.fallbacks[{i}]: unknown model alias \"{f}\"{hint}"
                ));
            }
        }
        let backoff = match &a.backoff {
            None => Backoff::default(),
            Some(b) => {
                let d = Backoff::default();
                let base = b.base_ms.map_or(d.base, Duration::from_millis);
                let max = b.max_ms.map_or(d.max, Duration::from_millis);
                if base > max {
                    errors.push(format!("{at}.backoff: base_ms must not exceed max_ms"));
                }
                Backoff { base, max }
            }
        };
        let breaker = match &a.breaker {
            None => BreakerConfig::default(),
            Some(b) => {
                let d = BreakerConfig::default();
                let failures = b.failures.unwrap_or(d.failures);
                if failures == 0 {
                    errors.push(format!("{at}.breaker.failures: must be at least 1"));
                }
                BreakerConfig {
                    failures: failures.max(1),
                    cooldown: b.cooldown_ms.map_or(d.cooldown, Duration::from_millis),
                }
            }
        };
        let alias_cache = cache::validate_alias_cache(a.cache, &format!("{at}.cache"), &mut errors);
        let exploration = a.exploration.unwrap_or(0.05);
        if !(0.0..=1.0).contains(&exploration) {
            errors.push(format!("{at}.exploration: must be between 0 and 1"));
        }
        if a.retries.is_some_and(|r| r > 10) {
            errors.push(format!("{at}.retries: at most 10"));
        }
        aliases.insert(
            alias.clone(),
            Alias {
                name: alias,
                strategy,
                targets,
                fallbacks: a.fallbacks,
                retries: a.retries.unwrap_or(0).min(10),
                backoff,
                timeouts: TimeoutOverrides::from_raw(&a.timeouts),
                breaker,
                exploration: exploration.clamp(0.0, 1.0),
                cache: alias_cache,
            },
        );
    }
    let shutdown_delay_seconds = raw.server.shutdown_delay_seconds.unwrap_or(0);
    let grace = raw
        .server
        .grace_period_seconds
        .unwrap_or(DEFAULT_GRACE_PERIOD_SECONDS);
    if shutdown_delay_seconds > grace {
        errors.push(format!(
            "server.shutdown_delay_seconds: {shutdown_delay_seconds} is longer than \
             server.grace_period_seconds ({grace}), which bounds the whole drain; \
             lower the delay or raise the grace period"
        ));
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(Config {
        listen,
        admin_listen: raw.admin_listen,
        keys,
        state,
        cache,
        catalog,
        max_body_bytes,
        default_max_tokens: max_tokens,
        server: ServerSettings {
            threads: raw.server.threads,
            pid_file: raw.server.pid_file,
            error_log: raw.server.error_log,
            upgrade_sock: raw.server.upgrade_sock,
            grace_period_seconds: raw.server.grace_period_seconds,
            shutdown_delay_seconds,
            graceful_shutdown_timeout_seconds: raw.server.graceful_shutdown_timeout_seconds,
        },
        providers,
        aliases,
        route_by_model_name,
        source: source.to_string(),
        log,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "OPENAI_API_KEY" => Some("sk-test-openai".into()),
            "ANTHROPIC_API_KEY" => Some("sk-ant-test".into()),
            _ => None,
        }
    }

    const GOOD: &str = r#"
listen: 0.0.0.0:8080
admin_listen: 127.0.0.1:9091
keys: [ { name: team-a, key: "gw-key-123456" } ]
providers:
  anthropic: { type: anthropic, base_url: https://api.anthropic.com, api_key: "${ANTHROPIC_API_KEY}" }
  openai:    { type: openai, base_url: "http://127.0.0.1:9999/v1", api_key: "${OPENAI_API_KEY}" }
models:
  smart:
    targets:
      - { provider: anthropic, model: claude-sonnet-4-5 }
      - { provider: openai, model: gpt-5, weight: 2 }
    fallbacks: [fast]
  fast:
    targets: [ { provider: openai, model: gpt-5-mini } ]
"#;

    #[test]
    fn good_config_validates() {
        let c = Config::from_yaml(GOOD, "test", &env).unwrap();
        assert_eq!(c.providers.len(), 2);
        let a = &c.providers[c.provider_by_name("anthropic").unwrap()];
        assert_eq!(
            (a.tls, a.port, a.path.as_str()),
            (true, 443, "/v1/messages")
        );
        assert_eq!(a.api_key, "sk-ant-test");
        let o = &c.providers[c.provider_by_name("openai").unwrap()];
        assert_eq!(
            (o.tls, o.port, o.path.as_str()),
            (false, 9999, "/v1/chat/completions")
        );
        assert_eq!(o.host_header, "127.0.0.1:9999");
        assert_eq!(c.aliases["smart"].targets[1].weight, 2);
        assert_eq!(c.keys[0].name, "team-a");
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let bad = GOOD
            .replace(
                "provider: openai, model: gpt-5,",
                "provider: opnai, model: gpt-5,",
            )
            .replace("fallbacks: [fast]", "fallbacks: [fsat]")
            .replace("${OPENAI_API_KEY}", "${MISSING_KEY}")
            .replace("type: anthropic", "type: antropic");
        let e = Config::from_yaml(&bad, "test", &env).unwrap_err();
        let all = e.to_string();
        assert!(all.contains("models.smart.targets[1].provider: unknown provider \"opnai\" (did you mean \"openai\"?)"), "{all}");
        assert!(
            all.contains(
                "models.smart.fallbacks[0]: unknown model alias \"fsat\" (did you mean \"fast\"?)"
            ),
            "{all}"
        );
        assert!(
            all.contains("providers.openai.api_key: environment variable MISSING_KEY is not set"),
            "{all}"
        );
        assert!(all.contains("providers.anthropic.type: unknown provider type \"antropic\" (did you mean \"anthropic\"?)"), "{all}");
    }

    #[test]
    fn unknown_keys_are_errors_with_suggestion() {
        let e = Config::from_yaml("lisen: 0.0.0.0:1\n", "test", &env).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("unknown field `lisen`"), "{msg}");
        assert!(msg.contains("did you mean `listen`?"), "{msg}");
        let e = Config::from_yaml(
            "providers:\n  o: { type: openai, api_key: x, base_ur: y }\n",
            "test",
            &env,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("providers.o.base_ur: "), "{e}");
    }

    #[test]
    fn key_entries_reject_unknown_fields_and_say_where() {
        // The user's report: `limits`/`models` looked accepted and nothing held. A
        // misspelt field must stop the config, with its path.
        let e = Config::from_yaml(
            "keys:\n  - { name: a, key: key-a-00000001, limits: { rpm: 3 }, modles: [x] }\n",
            "test",
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("keys[0].modles: unknown field `modles`"),
            "{e}"
        );
        assert!(e.contains("did you mean `models`?"), "{e}");
        let e = Config::from_yaml(
            "keys:\n  - { name: a, key: key-a-00000001, limits: { rpn: 3 } }\n",
            "test",
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("keys[0].limits.rpn: unknown field `rpn`"),
            "{e}"
        );
    }

    #[test]
    fn keys_limits_and_state_are_validated_together() {
        let yaml = "keys:
  - { name: a, key: key-a-00000001, key_sha256: abc }
  - { name: a, key_sha256: nothex }
  - { name: 'b c' }
  - { name: d, key: key-d-00000001, models: [], limits: { rpm: 0 } }
  - key-bare-0000001
default_limits: { tpm: 1000, concurrency: 4 }
state:
  redis: { url: 'http://x', on_error: fail_slowly }
";
        let e = Config::from_yaml(yaml, "test", &env).unwrap_err().0;
        let expect = [
            "keys[0]: give either key or key_sha256, not both",
            "keys[1].name: \"a\" is used by another key",
            "keys[1].key_sha256: expected 64 hex characters",
            "keys[2].name: \"b c\" must be",
            "keys[2]: give key (the key itself) or key_sha256",
            "keys[3].models: an empty allowlist admits nothing",
            "keys[3].limits.rpm: must be at least 1",
            "state.redis.url: expected redis://",
            "state.redis.on_error: unknown value \"fail_slowly\"",
        ];
        for want in expect {
            assert!(
                e.iter().any(|m| m.starts_with(want)),
                "missing {want:?} in {e:#?}"
            );
        }
        let good = Config::from_yaml(
            "keys:
  - { name: a, key: key-a-00000001, limits: { rpm: 5 } }
  - key-bare-0000001
default_limits: { rpm: 60, tpm: 1000 }
state: { redis: { url: 'redis://127.0.0.1:6379' } }
",
            "test",
            &env,
        )
        .unwrap();
        // Field by field: a key's own value wins, the rest comes from the defaults.
        assert_eq!(
            good.keys[0].limits,
            KeyLimits {
                rpm: Some(5),
                tpm: Some(1000),
                concurrency: None,
                budget: None,
            }
        );
        assert_eq!(good.keys[1].name, "key1");
        assert_eq!(good.keys[1].limits.rpm, Some(60));
        let r = good.state.redis.as_ref().unwrap();
        assert_eq!(
            (r.on_error, r.timeout.as_millis()),
            (OnError::FailOpen, 100)
        );
        let e = Config::from_yaml("default_limits: { rpm: 5 }\n", "test", &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no `keys:` are configured"), "{e}");
    }

    #[test]
    fn responses_max_bytes_is_read_and_bounded() {
        let state = |s: &str| Config::from_yaml(&format!("state: {{ {s} }}\n"), "test", &env);
        let c = state("").unwrap();
        assert_eq!(c.state.responses_max_bytes(), 256 * 1024 * 1024);
        let c = state("responses_max_bytes: 1048576").unwrap();
        assert_eq!(c.state.responses_max_bytes(), 1 << 20);
        // With Redis too: it bounds the copies Redis could not take.
        let c = state("redis: { url: 'redis://127.0.0.1:6379' }, responses_max_bytes: 16777216")
            .unwrap();
        assert_eq!(c.state.responses_max_bytes(), 16 << 20);
        for small in ["0", "1000", "1048575"] {
            let e = state(&format!("responses_max_bytes: {small}"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!(
                    "state.responses_max_bytes: {small} is below the minimum 1048576"
                )) && e.contains("set at least 1048576"),
                "{e}"
            );
        }
        let e = state("responses_max_byte: 1048576")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("state.responses_max_byte: unknown field `responses_max_byte`"),
            "{e}"
        );
        assert!(e.contains("did you mean `responses_max_bytes`?"), "{e}");
    }

    #[test]
    fn shutdown_delay_is_bounded_by_the_grace_period() {
        let yaml = |server: &str| {
            format!("server: {{ {server} }}\nproviders:\n  o: {{ type: openai, api_key: x, base_url: 'http://127.0.0.1:9' }}\n")
        };
        let c = Config::from_yaml(&yaml(""), "test", &env).unwrap();
        assert_eq!(c.server.shutdown_delay_seconds, 0);
        let c = Config::from_yaml(&yaml("shutdown_delay_seconds: 10"), "test", &env).unwrap();
        assert_eq!(c.server.shutdown_delay_seconds, 10);
        let e = Config::from_yaml(
            &yaml("shutdown_delay_seconds: 20, grace_period_seconds: 15"),
            "test",
            &env,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains(
                "server.shutdown_delay_seconds: 20 is longer than server.grace_period_seconds (15)"
            ),
            "{e}"
        );
        let ok = |server: &str| Config::from_yaml(&yaml(server), "test", &env).is_ok();
        assert!(ok("shutdown_delay_seconds: 15, grace_period_seconds: 15"));
        assert!(ok("shutdown_delay_seconds: 400, grace_period_seconds: 600"));
        // Unset grace period: Pingora's 300 s.
        assert!(ok("shutdown_delay_seconds: 300"));
        let e = Config::from_yaml(&yaml("shutdown_delay_seconds: 301"), "test", &env).unwrap_err();
        assert!(
            e.to_string()
                .contains("longer than server.grace_period_seconds (300)"),
            "{e}"
        );
    }

    #[test]
    fn http2_settings_are_checked() {
        let yaml = |extra: &str| {
            format!("providers:\n  o: {{ type: openai, api_key: x, base_url: 'http://127.0.0.1:9'{extra} }}\n")
        };
        let c = Config::from_yaml(&yaml(""), "test", &env).unwrap();
        assert_eq!(c.providers[0].http2, None);
        let c = Config::from_yaml(&yaml(", http2: true"), "test", &env).unwrap();
        assert_eq!(
            c.providers[0].http2,
            Some(Http2 {
                max_streams: DEFAULT_HTTP2_MAX_STREAMS
            })
        );
        let c =
            Config::from_yaml(&yaml(", http2: true, http2_max_streams: 8"), "test", &env).unwrap();
        assert_eq!(c.providers[0].http2, Some(Http2 { max_streams: 8 }));
        let e = Config::from_yaml(&yaml(", http2_max_streams: 8"), "test", &env).unwrap_err();
        assert!(
            e.to_string()
                .contains("providers.o.http2_max_streams: has no effect without `http2: true`"),
            "{e}"
        );
        let e = Config::from_yaml(&yaml(", http2: true, http2_max_streams: 0"), "test", &env)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("providers.o.http2_max_streams: 0 is out of range"),
            "{e}"
        );
    }

    #[test]
    fn secrets_stay_out_of_errors() {
        let yaml = "providers:\n  o: { type: openai, api_key: \"${OPENAI_API_KEY}\", base_url: 'ftp://x' }\n";
        let e = Config::from_yaml(yaml, "test", &env).unwrap_err();
        assert!(!e.to_string().contains("sk-test-openai"));
    }

    #[test]
    fn embedded_default_uses_env_keys() {
        let c = Config::embedded_default(&env).unwrap();
        assert!(c.route_by_model_name);
        assert_eq!(c.providers.len(), 2);
        assert_eq!(c.listen, DEFAULT_LISTEN);
        let none = Config::embedded_default(&|_| None).unwrap();
        assert!(none.providers.is_empty());
    }

    #[test]
    fn env_expansion_with_fallback() {
        let mut errs = Vec::new();
        let v = expand_env("a${NOPE:-b}c${OPENAI_API_KEY}", "p", &env, &mut errs);
        assert_eq!(v, "abcsk-test-openai");
        assert!(errs.is_empty());
    }

    #[test]
    fn sampling_params_follow_anthropic_version() {
        let mut yaml = GOOD.replace(
            "type: anthropic,",
            "type: anthropic, anthropic_version: \"2026-10-21\",",
        );
        let c = Config::from_yaml(&yaml, "t", &env).unwrap();
        assert!(!c.providers[c.provider_by_name("anthropic").unwrap()].accepts_sampling_params());
        yaml = GOOD.to_string();
        let c = Config::from_yaml(&yaml, "t", &env).unwrap();
        assert!(c.providers[c.provider_by_name("anthropic").unwrap()].accepts_sampling_params());
    }
}
