//! Which copy of the catalog is used, and refreshing the cached one.
//!
//! Order: `catalog.path` if set; else the cached copy `<cache_dir>/models-dev-api.json`
//! if it is there and valid; else the embedded snapshot. A copy that fails to parse is
//! reported and skipped (a corrupt cached copy is moved aside to `*.corrupt`, so it is
//! never read again and the next refresh replaces it). A copy older than
//! `catalog.refresh_hours` draws a warning with its age. No network here: only
//! [`refresh`] fetches, and it writes the cache atomically (temp file, then rename), so
//! a failed or interrupted fetch leaves the last good copy in place.

use super::fetch::{fetch, FetchError};
use super::{Catalog, CatalogError, ModelCost, CACHE_FILE_NAME, DEFAULT_URL, SNAPSHOT_DATE};
use crate::config::CatalogConfig;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

/// How long `switchyard models refresh` waits for the whole download.
pub const FETCH_DEADLINE: Duration = Duration::from_secs(60);

/// Where a catalog in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `catalog.path`.
    Path(PathBuf),
    /// The copy the last refresh wrote.
    Cache(PathBuf),
    /// The snapshot inside the binary.
    Embedded,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Path(p) => write!(f, "catalog file {}", p.display()),
            Source::Cache(p) => write!(f, "cached copy {}", p.display()),
            Source::Embedded => write!(f, "embedded snapshot of {SNAPSHOT_DATE}"),
        }
    }
}

/// The catalog in use, where it came from, and what was wrong on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub catalog: Arc<Catalog>,
    pub source: Source,
    /// Time since the copy was written (file modification time; the snapshot's date
    /// for the embedded one). `None` if the clock or the file system cannot say.
    pub age: Option<Duration>,
    /// Problems met (corrupt copies skipped, staleness), one sentence each; the
    /// gateway logs them, the CLI prints them on stderr.
    pub warnings: Vec<String>,
}

impl Loaded {
    /// `5098 models of 147 providers from the embedded snapshot of 2026-07-02 (153 days old)`.
    pub fn describe(&self) -> String {
        let age = self
            .age
            .map(|a| format!(" ({} old)", human_age(a)))
            .unwrap_or_default();
        format!(
            "{} models of {} providers from the {}{age}",
            self.catalog.len(),
            self.catalog.providers().count(),
            self.source
        )
    }

    /// Logs every warning (the gateway at start-up).
    pub fn log_warnings(&self) {
        for w in &self.warnings {
            log::warn!("{w}");
        }
    }
}

pub(super) static EMBEDDED: LazyLock<Arc<Catalog>> =
    LazyLock::new(|| match Catalog::parse_embedded() {
        Ok(c) => Arc::new(c),
        Err(e) => {
            // Unreachable for a released binary: the unit test `embedded_snapshot_parses`
            // parses the same bytes.
            log::error!("embedded model catalog is unreadable: {e}");
            Arc::new(Catalog::empty())
        }
    });

/// `<cache_dir>/models-dev-api.json`, if there is a cache directory.
pub fn cache_file(c: &CatalogConfig) -> Option<PathBuf> {
    c.cache_dir.as_ref().map(|d| d.join(CACHE_FILE_NAME))
}

/// The catalog to use now (no network): see the module doc for the order.
pub fn load(c: &CatalogConfig) -> Loaded {
    let mut warnings = Vec::new();
    let mut found = None;
    if let Some(p) = &c.path {
        match read(p) {
            Ok((cat, age)) => found = Some((cat, Source::Path(p.clone()), age)),
            Err(e) => warnings.push(format!(
                "model catalog catalog.path {}: {e}; not used",
                p.display()
            )),
        }
    }
    if found.is_none() {
        if let Some(p) = cache_file(c) {
            match read(&p) {
                Ok((cat, age)) => found = Some((cat, Source::Cache(p), age)),
                Err(ReadError::Missing) => {}
                Err(ReadError::Io(e)) => warnings.push(format!(
                    "cached model catalog {}: cannot read it ({e}); not used",
                    p.display()
                )),
                Err(ReadError::Invalid(e)) => {
                    let aside = p.with_extension("json.corrupt");
                    let moved = match std::fs::rename(&p, &aside) {
                        Ok(()) => format!("moved to {}", aside.display()),
                        Err(e) => format!("could not move it aside: {e}"),
                    };
                    warnings.push(format!(
                        "cached model catalog {} is corrupt ({e}); not used, {moved}; \
                         run `switchyard models refresh` to fetch a good copy",
                        p.display()
                    ));
                }
            }
        }
    }
    let (catalog, source, age) =
        found.unwrap_or_else(|| (Catalog::embedded_arc(), Source::Embedded, embedded_age()));
    if let Some(a) = age.filter(|a| *a > c.refresh) {
        let hint = match (&source, &c.url) {
            (Source::Path(_), _) => "update the file, or remove catalog.path to use fetched copies",
            (_, Some(_)) => "run `switchyard models refresh`",
            (_, None) => "run `switchyard models refresh` or set catalog.url",
        };
        warnings.push(format!(
            "model catalog is {} old ({source}); {hint}",
            human_age(a)
        ));
    }
    Loaded {
        catalog,
        source,
        age,
        warnings,
    }
}

enum ReadError {
    Missing,
    Io(std::io::Error),
    Invalid(CatalogError),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Missing => f.write_str("no such file"),
            ReadError::Io(e) => write!(f, "cannot read it: {e}"),
            ReadError::Invalid(e) => write!(f, "not a valid catalog: {e}"),
        }
    }
}

fn read(p: &Path) -> Result<(Arc<Catalog>, Option<Duration>), ReadError> {
    let bytes = std::fs::read(p).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::Missing,
        _ => ReadError::Io(e),
    })?;
    let cat = Catalog::parse(&bytes).map_err(ReadError::Invalid)?;
    let age = std::fs::metadata(p)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok());
    Ok((Arc::new(cat), age))
}

fn embedded_age() -> Option<Duration> {
    let date: jiff::civil::Date = SNAPSHOT_DATE.parse().ok()?;
    let then = date.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    let secs = jiff::Timestamp::now().as_second() - then.as_second();
    u64::try_from(secs).ok().map(Duration::from_secs)
}

/// `153 days`, `30 hours`, `12 minutes`.
pub fn human_age(a: Duration) -> String {
    let s = a.as_secs();
    let (n, unit) = if s >= 2 * 86_400 {
        (s / 86_400, "day")
    } else if s >= 2 * 3600 {
        (s / 3600, "hour")
    } else if s >= 120 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

// === refresh ===

/// What a refresh changed, against the copy in use before it.
#[derive(Debug, Default, serde::Serialize)]
pub struct CatalogDiff {
    /// `provider/model`, sorted.
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub price_changes: Vec<PriceChange>,
}

#[derive(Debug, serde::Serialize)]
pub struct PriceChange {
    pub model: String,
    pub before: Option<ModelCost>,
    pub after: Option<ModelCost>,
}

impl Catalog {
    /// Models added, removed and re-priced in `newer`.
    pub fn diff(&self, newer: &Catalog) -> CatalogDiff {
        let mut d = CatalogDiff::default();
        for m in newer.iter() {
            match self.get(&m.provider, &m.id) {
                None => d.added.push(m.key()),
                Some(old) if old.cost != m.cost => d.price_changes.push(PriceChange {
                    model: m.key(),
                    before: old.cost,
                    after: m.cost,
                }),
                Some(_) => {}
            }
        }
        d.removed = self
            .iter()
            .filter(|m| newer.get(&m.provider, &m.id).is_none())
            .map(|m| m.key())
            .collect();
        d
    }
}

/// A refresh that worked.
#[derive(Debug)]
pub struct Refreshed {
    /// The URL the copy came from (after redirects).
    pub url: String,
    /// Where it was written.
    pub file: PathBuf,
    /// The new copy, ready to use.
    pub catalog: Arc<Catalog>,
    /// The copy in use before, and what changed since.
    pub before: Source,
    pub diff: CatalogDiff,
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("no cache directory: set catalog.cache_dir (or XDG_CACHE_HOME / HOME)")]
    NoCacheDir,
    #[error("fetch failed: {0}")]
    Fetch(#[from] FetchError),
    #[error("{url} is not a valid catalog: {error}")]
    Invalid { url: String, error: CatalogError },
    #[error("cannot write {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Fetches `catalog.url` (else [`DEFAULT_URL`]) now, checks it, and replaces the
/// cached copy atomically. On failure nothing is written: the last good copy stays.
pub fn refresh(c: &CatalogConfig) -> Result<Refreshed, RefreshError> {
    let file = cache_file(c).ok_or(RefreshError::NoCacheDir)?;
    let url = c.url.as_deref().unwrap_or(DEFAULT_URL);
    let fetched = fetch(url, FETCH_DEADLINE)?;
    let catalog = Catalog::parse(&fetched.body).map_err(|error| RefreshError::Invalid {
        url: fetched.url.clone(),
        error,
    })?;
    let before = load(&CatalogConfig {
        path: None,
        ..c.clone()
    });
    write_atomically(&file, &fetched.body).map_err(|error| RefreshError::Write {
        path: file.clone(),
        error,
    })?;
    Ok(Refreshed {
        url: fetched.url,
        diff: before.catalog.diff(&catalog),
        before: before.source,
        catalog: Arc::new(catalog),
        file,
    })
}

/// Writes `<file>.tmp-<pid>` next to `file`, flushes it to disk, then renames it over
/// `file`: readers see the old copy or the new one, never half of one.
fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension(format!("json.tmp-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> CatalogConfig {
        CatalogConfig {
            path: None,
            url: None,
            refresh: Duration::from_secs(3600),
            cache_dir: Some(dir.to_path_buf()),
        }
    }

    const SMALL: &str =
        r#"{"p": {"models": {"m": {"id": "m", "cost": {"input": 1, "output": 2}}}}}"#;

    #[test]
    fn order_is_path_then_cache_then_embedded() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        let l = load(&c);
        assert_eq!(l.source, Source::Embedded);
        assert!(l.warnings.iter().any(|w| w.contains("days old (embedded snapshot of 2026-07-02); run `switchyard models refresh` or set catalog.url")), "{:?}", l.warnings);
        std::fs::write(cache_file(&c).unwrap(), SMALL).unwrap();
        let l = load(&c);
        assert!(matches!(l.source, Source::Cache(_)));
        assert_eq!(l.catalog.len(), 1);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let own = dir.path().join("own.json");
        std::fs::write(&own, SMALL.replace("\"m\"", "\"n\"")).unwrap();
        let l = load(&CatalogConfig {
            path: Some(own.clone()),
            ..c.clone()
        });
        assert_eq!(l.source, Source::Path(own));
        assert!(l.catalog.get("p", "n").is_some());
        let l = load(&CatalogConfig {
            path: Some(dir.path().join("missing.json")),
            ..c
        });
        assert!(matches!(l.source, Source::Cache(_)));
        assert!(
            l.warnings[0].contains("missing.json: no such file"),
            "{:?}",
            l.warnings
        );
    }

    #[test]
    fn a_corrupt_cache_is_reported_and_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        let file = cache_file(&c).unwrap();
        std::fs::write(&file, &SMALL[..40]).unwrap();
        let l = load(&c);
        assert_eq!(l.source, Source::Embedded);
        assert!(
            l.warnings[0].contains("is corrupt (not valid JSON")
                && l.warnings[0].contains(".corrupt"),
            "{:?}",
            l.warnings
        );
        assert!(!file.exists());
        assert!(dir.path().join("models-dev-api.json.corrupt").exists());
    }

    #[test]
    fn diff_lists_added_removed_and_repriced() {
        let a = Catalog::parse(
            br#"{"p": {"models": {"m": {"cost": {"input": 1, "output": 2}}, "old": {}}}}"#,
        )
        .unwrap();
        let b = Catalog::parse(
            br#"{"p": {"models": {"m": {"cost": {"input": 1, "output": 3}}, "new": {}}}}"#,
        )
        .unwrap();
        let d = a.diff(&b);
        assert_eq!(d.added, ["p/new"]);
        assert_eq!(d.removed, ["p/old"]);
        assert_eq!(d.price_changes.len(), 1);
        assert_eq!(d.price_changes[0].after.unwrap().output, 3.0);
    }

    #[test]
    fn ages_read_well() {
        assert_eq!(human_age(Duration::from_secs(143 * 86_400 + 5)), "143 days");
        assert_eq!(human_age(Duration::from_secs(30 * 3600)), "30 hours");
        assert_eq!(human_age(Duration::from_secs(60)), "60 seconds");
    }
}
