//! The model catalog's settings: `catalog:` at the top level, and
//! `providers.<name>.catalog_provider`.
//!
//! ```yaml
//! catalog:
//!   path: /etc/switchyard/models.json     # use this file (models.dev api.json shape)
//!   url: https://models.dev/api.json      # `switchyard models refresh` fetches from here
//!   refresh_hours: 24                     # older copies draw a staleness warning
//!   cache_dir: /var/cache/switchyard      # where fetched copies are kept
//! ```
//! `cache_dir` defaults to `$CACHE_DIRECTORY` (systemd's `CacheDirectory=`), else
//! `$XDG_CACHE_HOME/switchyard`, else `$HOME/.cache/switchyard`.

use super::raw::RawCatalog;
use super::{ConfigErrors, EnvLookup};
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_REFRESH_HOURS: u64 = 24;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogConfig {
    /// A catalog file to use instead of the cached or embedded copy.
    pub path: Option<PathBuf>,
    /// Where refreshes fetch from; `None` = `crate::catalog::DEFAULT_URL`.
    pub url: Option<String>,
    /// A copy older than this draws a warning (and is due for a refresh).
    pub refresh: Duration,
    /// Where the fetched copy lives; `None` when no directory could be found from the
    /// environment (nothing is cached then).
    pub cache_dir: Option<PathBuf>,
}

impl CatalogConfig {
    /// The settings with nothing configured: default refresh period, cache directory
    /// from the environment.
    pub fn defaults(env: EnvLookup) -> CatalogConfig {
        CatalogConfig {
            path: None,
            url: None,
            refresh: Duration::from_secs(DEFAULT_REFRESH_HOURS * 3600),
            cache_dir: default_cache_dir(env),
        }
    }

    /// Only the `catalog:` section of a config file, validated; the rest of the file
    /// is not checked (so `switchyard models -c FILE` works without the providers' keys
    /// in the environment).
    pub fn from_file(path: &str, env: EnvLookup) -> Result<CatalogConfig, ConfigErrors> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigErrors(vec![format!("{path}: cannot read config file: {e}")]))?;
        let doc: serde_yaml::Value =
            serde_yaml::from_str(&text).map_err(|e| ConfigErrors(vec![format!("{path}: {e}")]))?;
        let raw = match doc.get("catalog") {
            None | Some(serde_yaml::Value::Null) => None,
            Some(section) => Some(
                serde_path_to_error::deserialize::<_, RawCatalog>(section.clone()).map_err(
                    |e| {
                        let at = e.path().to_string();
                        let msg = super::with_suggestion(&e.inner().to_string());
                        ConfigErrors(vec![if at == "." {
                            format!("catalog: {msg}")
                        } else {
                            format!("catalog.{at}: {msg}")
                        }])
                    },
                )?,
            ),
        };
        let mut errors = Vec::new();
        let c = validate_catalog(raw, env, &mut errors);
        if errors.is_empty() {
            Ok(c)
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

/// `$CACHE_DIRECTORY` (the first, if systemd lists several), else
/// `$XDG_CACHE_HOME/switchyard` (absolute only, as the XDG spec says), else
/// `$HOME/.cache/switchyard`.
fn default_cache_dir(env: EnvLookup) -> Option<PathBuf> {
    if let Some(d) = env("CACHE_DIRECTORY") {
        if let Some(first) = d.split(':').find(|p| !p.is_empty()) {
            return Some(PathBuf::from(first));
        }
    }
    if let Some(x) = env("XDG_CACHE_HOME").filter(|x| x.starts_with('/')) {
        return Some(PathBuf::from(x).join("switchyard"));
    }
    env("HOME").map(|h| PathBuf::from(h).join(".cache").join("switchyard"))
}

pub(super) fn validate_catalog(
    raw: Option<RawCatalog>,
    env: EnvLookup,
    errors: &mut Vec<String>,
) -> CatalogConfig {
    let mut c = CatalogConfig::defaults(env);
    let Some(r) = raw else {
        return c;
    };
    if let Some(p) = r.path {
        if p.is_empty() {
            errors.push(
                "catalog.path: empty; remove it to use the cached or embedded catalog".into(),
            );
        }
        c.path = Some(PathBuf::from(p));
    }
    if let Some(u) = r.url {
        let ok = u.parse::<http::Uri>().ok().is_some_and(|uri| {
            matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()
        });
        if !ok {
            errors.push(format!(
                "catalog.url: '{u}' is not an http:// or https:// URL (e.g. {})",
                crate::catalog::DEFAULT_URL
            ));
        }
        c.url = Some(u);
    }
    match r.refresh_hours {
        Some(0) => errors.push("catalog.refresh_hours: must be at least 1".into()),
        Some(h) if h > 24 * 365 * 10 => {
            errors.push(format!("catalog.refresh_hours: {h} is more than ten years"))
        }
        Some(h) => c.refresh = Duration::from_secs(h * 3600),
        None => {}
    }
    if let Some(d) = r.cache_dir {
        if d.is_empty() {
            errors.push("catalog.cache_dir: empty; remove it for the default".into());
        }
        c.cache_dir = Some(PathBuf::from(d));
    }
    c
}

/// `providers.<name>.catalog_provider`: a catalog provider id (`openrouter`, `groq`).
pub(super) fn check_catalog_provider(name: Option<&str>, at: &str, errors: &mut Vec<String>) {
    match name {
        Some("") => errors.push(format!(
            "{at}.catalog_provider: empty; remove it to use the provider's type"
        )),
        Some(n) if n.contains('/') || n.chars().any(char::is_whitespace) => errors.push(format!(
            "{at}.catalog_provider: \"{n}\" is not a provider id (see `switchyard models list`)"
        )),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::PathBuf;
    use std::time::Duration;

    fn load(catalog: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let yaml = format!(
            "catalog: {catalog}\nproviders:\n  o: {{ type: openai, api_key: sk-x, \
             base_url: 'http://127.0.0.1:9', catalog_provider: openrouter }}\n"
        );
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        Config::from_yaml(&yaml, "test", &lookup).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_follow_the_environment() {
        let c = load("{}", &[("HOME", "/home/u")]).unwrap();
        assert_eq!(c.catalog.refresh, Duration::from_secs(24 * 3600));
        assert_eq!(
            c.catalog.cache_dir,
            Some(PathBuf::from("/home/u/.cache/switchyard"))
        );
        assert_eq!(
            c.providers[0].catalog_provider.as_deref(),
            Some("openrouter")
        );
        let c = load("{}", &[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/x")]).unwrap();
        assert_eq!(c.catalog.cache_dir, Some(PathBuf::from("/x/switchyard")));
        let c = load("{}", &[("XDG_CACHE_HOME", "relative")]).unwrap();
        assert_eq!(c.catalog.cache_dir, None);
        let c = load(
            "{}",
            &[
                ("CACHE_DIRECTORY", "/var/cache/switchyard:/var/cache/other"),
                ("XDG_CACHE_HOME", "/x"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.catalog.cache_dir,
            Some(PathBuf::from("/var/cache/switchyard"))
        );
        let c = load(
            "{ path: /m.json, url: 'http://127.0.0.1:1/api.json', refresh_hours: 2, cache_dir: /c }",
            &[("CACHE_DIRECTORY", "/var/cache/switchyard")],
        )
        .unwrap();
        assert_eq!(c.catalog.path, Some(PathBuf::from("/m.json")));
        assert_eq!(
            c.catalog.url.as_deref(),
            Some("http://127.0.0.1:1/api.json")
        );
        assert_eq!(c.catalog.refresh, Duration::from_secs(7200));
        assert_eq!(c.catalog.cache_dir, Some(PathBuf::from("/c")));
    }

    #[test]
    fn mistakes_are_named() {
        let e = load("{ refresh_hour: 2 }", &[]).unwrap_err();
        assert!(
            e.contains("catalog") && e.contains("did you mean `refresh_hours`"),
            "{e}"
        );
        let e = load("{ refresh_hours: 0 }", &[]).unwrap_err();
        assert!(
            e.contains("catalog.refresh_hours: must be at least 1"),
            "{e}"
        );
        let e = load("{ url: 'ftp://models.dev/api.json' }", &[]).unwrap_err();
        assert!(
            e.contains("catalog.url: 'ftp://models.dev/api.json'"),
            "{e}"
        );
        let e = load("{ cache_dir: '' }", &[]).unwrap_err();
        assert!(e.contains("catalog.cache_dir: empty"), "{e}");
        let e = Config::from_yaml(
            "providers:\n  o: { type: openai, api_key: k, catalog_provider: 'a/b' }\n",
            "test",
            &|_: &str| None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("providers.o.catalog_provider"), "{e}");
    }

    #[test]
    fn the_cli_reads_only_the_catalog_section() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.yaml");
        std::fs::write(
            &f,
            "providers:\n  o: { type: openai, api_key: '${UNSET}' }\ncatalog: { cache_dir: /c }\n",
        )
        .unwrap();
        let c = super::CatalogConfig::from_file(f.to_str().unwrap(), &|_: &str| None).unwrap();
        assert_eq!(c.cache_dir, Some(PathBuf::from("/c")));
        std::fs::write(&f, "catalog: { cache_dirr: /c }\n").unwrap();
        let e = super::CatalogConfig::from_file(f.to_str().unwrap(), &|_: &str| None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("catalog") && e.contains("did you mean `cache_dir`"),
            "{e}"
        );
    }
}
