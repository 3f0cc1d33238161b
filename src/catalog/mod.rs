//! The model catalog: prices, limits and capabilities of ~5,100 models of ~150
//! providers, in the shape of models.dev's `api.json`.
//!
//! A snapshot ships inside the binary (`catalog/models-dev-api.json.gz`, see
//! `catalog/README.md` for where it came from); [`load`] picks a newer copy from
//! `catalog.path` or the cache directory, and [`fetch`] refreshes the cache from
//! `catalog.url`. Every copy goes through [`Catalog::parse`], which checks the shape
//! (a corrupt or truncated file is an error naming the place), so a bad file is never
//! used.
//!
//! The data is read leniently where models.dev varies: keys Switchyard does not use
//! (`reasoning_options`, `interleaved`, `input_audio` prices, ...) are ignored, a
//! missing `name` is the id, missing flags are `false`. A model with `base_model:
//! "provider/model"` inherits every field it does not set from that entry (nested
//! objects field by field, minus the dotted paths in `base_model_omit`), as
//! models.dev's own build does. Prices are USD per million tokens.

pub mod cli;
mod prices;
pub use prices::unknown_models;
mod fetch;
mod load;
mod refresh;
pub use refresh::Refresher;

pub use fetch::{fetch, fetch_async, FetchError, Fetched, MAX_CATALOG_BYTES};
pub use load::{
    cache_file, human_age, load, refresh, CatalogDiff, Loaded, PriceChange, RefreshError,
    Refreshed, Source, FETCH_DEADLINE,
};

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::Read;

/// The models.dev data commit the embedded snapshot was built from.
pub const SNAPSHOT_COMMIT: &str = "f3fc692299671838c7c65fd8126bf84d81a2e817";
/// The date of that commit.
pub const SNAPSHOT_DATE: &str = "2026-07-02";
/// Where `switchyard models refresh` fetches from when `catalog.url` is unset.
pub const DEFAULT_URL: &str = "https://models.dev/api.json";
/// File name of the fetched copy in the cache directory.
pub const CACHE_FILE_NAME: &str = "models-dev-api.json";

static EMBEDDED_GZ: &[u8] = include_bytes!("../../catalog/models-dev-api.json.gz");

/// Prices of one model, USD per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ModelCost {
    pub input: f64,
    pub output: f64,
    /// Input tokens read from the provider's prompt cache.
    pub cache_read: Option<f64>,
    /// Input tokens written to the provider's prompt cache.
    pub cache_write: Option<f64>,
    /// Reasoning tokens, when priced apart from output.
    pub reasoning: Option<f64>,
}

/// Prices that replace [`ModelInfo::cost`] once a request's context is larger than
/// `above_context` tokens (long-context pricing).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostTier {
    pub above_context: u64,
    pub cost: ModelCost,
}

/// Token limits; unknown ones are `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ModelLimit {
    /// Context window (input and output together).
    pub context: Option<u64>,
    /// Input tokens, where the provider limits them apart from the context.
    pub input: Option<u64>,
    /// Largest `max_tokens` the model accepts.
    pub output: Option<u64>,
}

/// One model of one catalog provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    /// Catalog provider id (`anthropic`, `openai`, `openrouter`, ...).
    pub provider: String,
    /// The model id as the provider's API takes it.
    pub id: String,
    /// Display name (the id when the catalog gives none).
    pub name: String,
    pub family: Option<String>,
    /// `None`: the catalog has no price for it.
    pub cost: Option<ModelCost>,
    /// Long-context prices, lowest threshold first.
    pub cost_tiers: Vec<CostTier>,
    pub limit: ModelLimit,
    /// Accepts file attachments.
    pub attachment: bool,
    pub reasoning: bool,
    pub tool_call: bool,
    pub structured_output: bool,
    /// Accepts a `temperature`.
    pub temperature: bool,
    /// `text`, `image`, `pdf`, `audio`, `video`.
    pub modalities_input: Vec<String>,
    pub modalities_output: Vec<String>,
    /// Training data cut-off (`2025-07` or `2025-07-31`).
    pub knowledge: Option<String>,
    pub release_date: Option<String>,
    pub last_updated: Option<String>,
    pub open_weights: bool,
    /// `deprecated`, `beta`, `alpha`; `None` for generally available.
    pub status: Option<String>,
    /// The `provider/model` entry this one inherits from.
    pub base_model: Option<String>,
}

impl ModelInfo {
    /// `provider/id`, as the CLI and the gateway's explicit model names write it.
    pub fn key(&self) -> String {
        format!("{}/{}", self.provider, self.id)
    }

    /// Takes image input.
    pub fn vision(&self) -> bool {
        self.modalities_input.iter().any(|m| m == "image")
    }

    /// Takes PDF input.
    pub fn pdf(&self) -> bool {
        self.modalities_input.iter().any(|m| m == "pdf")
    }
}

/// One catalog provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogProvider {
    pub id: String,
    pub name: String,
    /// Environment variables its SDKs read the key from.
    pub env: Vec<String>,
    /// OpenAI-compatible base URL, for providers that have one.
    pub api: Option<String>,
    pub doc: Option<String>,
    /// How many models it lists.
    pub models: usize,
}

/// Why a catalog file was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("not gzip data: {0}")]
    Gzip(std::io::Error),
    #[error("not valid JSON: {0}")]
    Json(String),
    /// The JSON has the wrong shape at `path` (`openai.models.gpt-4o.cost.input`).
    #[error("{path}: {problem}")]
    Shape { path: String, problem: String },
    #[error(
        "holds no models (expected the models.dev api.json shape: \
         {{\"provider\": {{\"models\": {{\"model-id\": {{...}}}}}}}})"
    )]
    Empty,
}

/// Every model of every provider, indexed by provider then model id.
#[derive(Debug)]
pub struct Catalog {
    providers: Vec<CatalogProvider>,
    /// Sorted by (provider, id).
    models: Vec<ModelInfo>,
    index: HashMap<String, HashMap<String, usize>>,
    /// Providers other entries inherit from (`base_model`): the model's origin, which
    /// ranks first among equal matches.
    origins: HashSet<String>,
}

// === impl Catalog ===

impl Catalog {
    /// The snapshot shipped in the binary, decompressed and parsed on first use.
    pub fn embedded() -> &'static Catalog {
        &load::EMBEDDED
    }

    /// The same, shared (what [`load`] returns when no newer copy is found).
    pub fn embedded_arc() -> std::sync::Arc<Catalog> {
        load::EMBEDDED.clone()
    }

    /// The embedded snapshot, parsed anew (for measurements and tests).
    pub fn parse_embedded() -> Result<Catalog, CatalogError> {
        let mut json = Vec::with_capacity(EMBEDDED_GZ.len() * 12);
        flate2::read::GzDecoder::new(EMBEDDED_GZ)
            .read_to_end(&mut json)
            .map_err(CatalogError::Gzip)?;
        Catalog::parse(&json)
    }

    /// The embedded snapshot's raw JSON (what `refresh` compares against first).
    pub fn embedded_json() -> Result<Vec<u8>, CatalogError> {
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(EMBEDDED_GZ)
            .read_to_end(&mut json)
            .map_err(CatalogError::Gzip)?;
        Ok(json)
    }

    fn empty() -> Catalog {
        Catalog {
            providers: Vec::new(),
            models: Vec::new(),
            index: HashMap::new(),
            origins: HashSet::new(),
        }
    }

    /// Parses models.dev `api.json` bytes and checks their shape: a JSON object of
    /// providers, each with a `models` object; known fields of the right type; prices
    /// finite and not negative; at least one model in all.
    pub fn parse(bytes: &[u8]) -> Result<Catalog, CatalogError> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let raw: BTreeMap<String, RawProvider> =
            serde_path_to_error::deserialize(de).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if inner.is_syntax() || inner.is_eof() {
                    CatalogError::Json(inner.to_string())
                } else {
                    CatalogError::Shape {
                        path: if path == "." {
                            "top level".into()
                        } else {
                            path
                        },
                        problem: strip_position(&inner.to_string()),
                    }
                }
            })?;
        let mut providers = Vec::with_capacity(raw.len());
        let mut models = Vec::new();
        let mut origins = HashSet::new();
        for (pid, p) in &raw {
            for (mid, m) in &p.models {
                let at = || format!("{pid}.models.{mid}");
                if mid.is_empty() {
                    return Err(CatalogError::Shape {
                        path: format!("{pid}.models"),
                        problem: "a model with an empty id".into(),
                    });
                }
                if let Some(id) = &m.id {
                    if id != mid {
                        return Err(CatalogError::Shape {
                            path: format!("{}.id", at()),
                            problem: format!("\"{id}\" differs from its key \"{mid}\""),
                        });
                    }
                }
                let resolved = resolve(&raw, pid, mid, 0).unwrap_or_else(|| m.clone());
                if let Some(b) = &m.base_model {
                    if let Some((bp, _)) = b.split_once('/') {
                        if bp != pid {
                            origins.insert(bp.to_string());
                        }
                    }
                }
                models.push(resolved.into_info(pid, mid, &at)?);
            }
            providers.push(CatalogProvider {
                id: pid.clone(),
                name: p.name.clone().unwrap_or_else(|| pid.clone()),
                env: p.env.clone().unwrap_or_default(),
                api: p.api.clone(),
                doc: p.doc.clone(),
                models: p.models.len(),
            });
        }
        if models.is_empty() {
            return Err(CatalogError::Empty);
        }
        let mut index: HashMap<String, HashMap<String, usize>> =
            HashMap::with_capacity(providers.len());
        for (i, m) in models.iter().enumerate() {
            index
                .entry(m.provider.clone())
                .or_default()
                .insert(m.id.clone(), i);
        }
        Ok(Catalog {
            providers,
            models,
            index,
            origins,
        })
    }

    /// The model `model` of catalog provider `provider`.
    pub fn get(&self, provider: &str, model: &str) -> Option<&ModelInfo> {
        let i = *self.index.get(provider)?.get(model)?;
        self.models.get(i)
    }

    /// A `provider/model` name (split at the first `/`; model ids may hold more).
    pub fn lookup(&self, key: &str) -> Option<&ModelInfo> {
        let (p, m) = key.split_once('/')?;
        self.get(p, m)
    }

    /// A catalog provider by id.
    pub fn provider(&self, id: &str) -> Option<&CatalogProvider> {
        self.providers
            .binary_search_by(|p| p.id.as_str().cmp(id))
            .ok()
            .and_then(|i| self.providers.get(i))
    }

    /// Every provider, by id.
    pub fn providers(&self) -> impl Iterator<Item = &CatalogProvider> {
        self.providers.iter()
    }

    /// Every model, by provider then id.
    pub fn iter(&self) -> impl Iterator<Item = &ModelInfo> {
        self.models.iter()
    }

    /// The models of one provider, by id (none for an unknown provider).
    pub fn models_of<'a>(&'a self, provider: &'a str) -> impl Iterator<Item = &'a ModelInfo> {
        self.models.iter().filter(move |m| m.provider == provider)
    }

    /// Number of models.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Up to `n` models closest to `query`, best first: compared with the id,
    /// `provider/id`, the name and the family, ignoring case and punctuation
    /// (`claude sonnet 4.5` finds `claude-sonnet-4-5`), tolerating typos
    /// (`claude-sonet`). Exact and prefix matches rank above contained and fuzzy
    /// ones; among equals the origin provider of a model ranks first.
    pub fn suggest(&self, query: &str, n: usize) -> Vec<&ModelInfo> {
        let q = normalize(query);
        if q.is_empty() || n == 0 {
            return Vec::new();
        }
        let q_model = query.split_once('/').map(|(_, m)| normalize(m));
        let mut scored: Vec<(f64, &ModelInfo)> = self
            .models
            .iter()
            .filter_map(|m| {
                let id = normalize(&m.id);
                let mut best = match_score(&q, &id);
                best = best.max(match_score(&q, &normalize(&m.key())));
                best = best.max(match_score(&q, &normalize(&m.name)) - 0.02);
                if let Some(f) = &m.family {
                    best = best.max(match_score(&q, &normalize(f)) - 0.1);
                }
                if let Some(qm) = &q_model {
                    best = best.max(match_score(qm, &id) - 0.05);
                }
                if best <= 0.0 {
                    return None;
                }
                if self.origins.contains(&m.provider) {
                    best += 0.001;
                }
                if m.status.as_deref() == Some("deprecated") {
                    best -= 0.002;
                }
                Some((best, m))
            })
            .collect();
        scored.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then_with(|| a.1.id.len().cmp(&b.1.id.len()))
                .then_with(|| a.1.provider.cmp(&b.1.provider))
                .then_with(|| a.1.id.cmp(&b.1.id))
        });
        scored.into_iter().take(n).map(|(_, m)| m).collect()
    }
}

/// The catalog provider for a Switchyard provider: its `catalog_provider:` if set, else
/// the one named after its type (`anthropic` -> `anthropic`, `openai` -> `openai`).
pub fn catalog_provider_of(p: &crate::config::Provider) -> &str {
    p.catalog_provider
        .as_deref()
        .unwrap_or_else(|| p.format.catalog_provider())
}

/// serde_json appends "at line 1 column 5" to messages; the path says where already.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Lower case, letters and digits only: `Claude Sonnet 4.5` -> `claudesonnet45`.
fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// How well `q` matches `c` (both normalized), 0 for no match: exact 1.0, prefix
/// 0.9, contained 0.8, within a few edits of a part of `c` up to 0.7; plus up to
/// 0.09 for how much of `c` the query covers, so shorter candidates win ties.
fn match_score(q: &str, c: &str) -> f64 {
    if c.is_empty() {
        return 0.0;
    }
    let coverage = 0.09 * strsim::normalized_levenshtein(q, c);
    if q == c {
        return 1.0;
    }
    if c.starts_with(q) {
        return 0.9 + coverage;
    }
    if c.contains(q) {
        return 0.8 + coverage;
    }
    let qlen = q.chars().count();
    if qlen < 3 {
        return 0.0;
    }
    let d = substring_distance(q, c);
    let allowed = (qlen / 4).max(1);
    if d > allowed {
        return 0.0;
    }
    0.7 * (1.0 - d as f64 / qlen as f64) + coverage
}

/// Fewest edits turning `q` into some substring of `c` (Sellers' algorithm);
/// adjacent transpositions count as one edit.
fn substring_distance(q: &str, c: &str) -> usize {
    let q: Vec<char> = q.chars().collect();
    let c: Vec<char> = c.chars().collect();
    // rows[i][j]: distance of q[..i] to the best substring of c ending at j.
    let width = c.len() + 1;
    let mut prev2 = vec![0usize; width];
    let mut prev = vec![0usize; width];
    let mut cur = vec![0usize; width];
    for i in 1..=q.len() {
        cur[0] = i;
        for j in 1..=c.len() {
            let cost = usize::from(q[i - 1] != c[j - 1]);
            let mut v = (prev[j - 1] + cost).min(prev[j] + 1).min(cur[j - 1] + 1);
            if i > 1 && j > 1 && q[i - 1] == c[j - 2] && q[i - 2] == c[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.iter().copied().min().unwrap_or(q.len())
}

// === raw api.json ===

#[derive(Debug, Deserialize)]
struct RawProvider {
    name: Option<String>,
    env: Option<Vec<String>>,
    api: Option<String>,
    doc: Option<String>,
    models: BTreeMap<String, RawModel>,
}

#[derive(Debug, Deserialize, Clone, Default)]
struct RawModel {
    id: Option<String>,
    name: Option<String>,
    family: Option<String>,
    attachment: Option<bool>,
    reasoning: Option<bool>,
    tool_call: Option<bool>,
    structured_output: Option<bool>,
    temperature: Option<bool>,
    open_weights: Option<bool>,
    knowledge: Option<String>,
    release_date: Option<String>,
    last_updated: Option<String>,
    status: Option<String>,
    modalities: Option<RawModalities>,
    cost: Option<RawCost>,
    limit: Option<RawLimit>,
    base_model: Option<String>,
    base_model_omit: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Clone, Default)]
struct RawModalities {
    input: Option<Vec<String>>,
    output: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Clone, Default)]
struct RawCost {
    input: Option<f64>,
    output: Option<f64>,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
    reasoning: Option<f64>,
    /// Spellings a few providers use for `cache_read` / `cache_write`.
    cached_input: Option<f64>,
    cache_input: Option<f64>,
    cached_write: Option<f64>,
    tiers: Option<Vec<RawTier>>,
}

#[derive(Debug, Deserialize, Clone)]
struct RawTier {
    input: Option<f64>,
    output: Option<f64>,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
    tier: RawTierSize,
}

#[derive(Debug, Deserialize, Clone)]
struct RawTierSize {
    size: u64,
}

#[derive(Debug, Deserialize, Clone, Default)]
struct RawLimit {
    context: Option<u64>,
    input: Option<u64>,
    output: Option<u64>,
}

/// The model with its `base_model` chain applied (at most 8 deep; cycles stop there).
fn resolve(
    raw: &BTreeMap<String, RawProvider>,
    pid: &str,
    mid: &str,
    depth: usize,
) -> Option<RawModel> {
    let m = raw.get(pid)?.models.get(mid)?;
    let Some(base) = &m.base_model else {
        return Some(m.clone());
    };
    let (bp, bm) = base.split_once('/')?;
    if depth >= 8 || (bp == pid && bm == mid) {
        return Some(m.clone());
    }
    let Some(mut b) = resolve(raw, bp, bm, depth + 1) else {
        return Some(m.clone());
    };
    for path in m.base_model_omit.iter().flatten() {
        b.omit(path);
    }
    Some(m.clone().over(b))
}

impl RawModel {
    /// Drops one dotted path (`limit.input`, `cost.tiers`) inherited from a base.
    fn omit(&mut self, path: &str) {
        match path {
            "name" => self.name = None,
            "family" => self.family = None,
            "attachment" => self.attachment = None,
            "reasoning" => self.reasoning = None,
            "tool_call" => self.tool_call = None,
            "structured_output" => self.structured_output = None,
            "temperature" => self.temperature = None,
            "open_weights" => self.open_weights = None,
            "knowledge" => self.knowledge = None,
            "release_date" => self.release_date = None,
            "last_updated" => self.last_updated = None,
            "status" => self.status = None,
            "modalities" => self.modalities = None,
            "cost" => self.cost = None,
            "limit" => self.limit = None,
            "limit.context" => self.limit.iter_mut().for_each(|l| l.context = None),
            "limit.input" => self.limit.iter_mut().for_each(|l| l.input = None),
            "limit.output" => self.limit.iter_mut().for_each(|l| l.output = None),
            "cost.tiers" => self.cost.iter_mut().for_each(|c| c.tiers = None),
            "cost.cache_read" => self.cost.iter_mut().for_each(|c| c.cache_read = None),
            "cost.cache_write" => self.cost.iter_mut().for_each(|c| c.cache_write = None),
            "cost.reasoning" => self.cost.iter_mut().for_each(|c| c.reasoning = None),
            // Paths of fields Switchyard does not read.
            _ => {}
        }
    }

    /// `self`, with every field it leaves unset taken from `base`.
    fn over(self, base: RawModel) -> RawModel {
        RawModel {
            id: self.id,
            name: self.name.or(base.name),
            family: self.family.or(base.family),
            attachment: self.attachment.or(base.attachment),
            reasoning: self.reasoning.or(base.reasoning),
            tool_call: self.tool_call.or(base.tool_call),
            structured_output: self.structured_output.or(base.structured_output),
            temperature: self.temperature.or(base.temperature),
            open_weights: self.open_weights.or(base.open_weights),
            knowledge: self.knowledge.or(base.knowledge),
            release_date: self.release_date.or(base.release_date),
            last_updated: self.last_updated.or(base.last_updated),
            status: self.status.or(base.status),
            modalities: merge(self.modalities, base.modalities, |m, b| RawModalities {
                input: m.input.or(b.input),
                output: m.output.or(b.output),
            }),
            cost: merge(self.cost, base.cost, |c, b| RawCost {
                input: c.input.or(b.input),
                output: c.output.or(b.output),
                cache_read: c.cache_read.or(b.cache_read),
                cache_write: c.cache_write.or(b.cache_write),
                reasoning: c.reasoning.or(b.reasoning),
                cached_input: c.cached_input.or(b.cached_input),
                cache_input: c.cache_input.or(b.cache_input),
                cached_write: c.cached_write.or(b.cached_write),
                tiers: c.tiers.or(b.tiers),
            }),
            limit: merge(self.limit, base.limit, |l, b| RawLimit {
                context: l.context.or(b.context),
                input: l.input.or(b.input),
                output: l.output.or(b.output),
            }),
            base_model: self.base_model,
            base_model_omit: self.base_model_omit,
        }
    }

    fn into_info(
        self,
        pid: &str,
        mid: &str,
        at: &dyn Fn() -> String,
    ) -> Result<ModelInfo, CatalogError> {
        let price = |v: Option<f64>, field: &str| -> Result<Option<f64>, CatalogError> {
            match v {
                Some(x) if !x.is_finite() || x < 0.0 => Err(CatalogError::Shape {
                    path: format!("{}.cost.{field}", at()),
                    problem: format!("price {x} is negative"),
                }),
                v => Ok(v),
            }
        };
        let mut cost = None;
        let mut cost_tiers = Vec::new();
        if let Some(c) = self.cost {
            let input = price(c.input, "input")?;
            let output = price(c.output, "output")?;
            let cache_read = price(
                c.cache_read.or(c.cached_input).or(c.cache_input),
                "cache_read",
            )?;
            let cache_write = price(c.cache_write.or(c.cached_write), "cache_write")?;
            let reasoning = price(c.reasoning, "reasoning")?;
            if let (Some(input), Some(output)) = (input, output) {
                cost = Some(ModelCost {
                    input,
                    output,
                    cache_read,
                    cache_write,
                    reasoning,
                });
            }
            for (i, t) in c.tiers.into_iter().flatten().enumerate() {
                let field = |f: &str| format!("tiers[{i}].{f}");
                let (Some(ti), Some(to)) = (
                    price(t.input, &field("input"))?,
                    price(t.output, &field("output"))?,
                ) else {
                    continue;
                };
                cost_tiers.push(CostTier {
                    above_context: t.tier.size,
                    cost: ModelCost {
                        input: ti,
                        output: to,
                        cache_read: price(t.cache_read, &field("cache_read"))?,
                        cache_write: price(t.cache_write, &field("cache_write"))?,
                        reasoning: None,
                    },
                });
            }
            cost_tiers.sort_by_key(|t| t.above_context);
        }
        let limit = self.limit.unwrap_or_default();
        let modalities = self.modalities.unwrap_or_default();
        Ok(ModelInfo {
            provider: pid.to_string(),
            id: mid.to_string(),
            name: self.name.unwrap_or_else(|| mid.to_string()),
            family: self.family,
            cost,
            cost_tiers,
            limit: ModelLimit {
                context: limit.context,
                input: limit.input,
                output: limit.output,
            },
            attachment: self.attachment.unwrap_or(false),
            reasoning: self.reasoning.unwrap_or(false),
            tool_call: self.tool_call.unwrap_or(false),
            structured_output: self.structured_output.unwrap_or(false),
            temperature: self.temperature.unwrap_or(false),
            modalities_input: modalities.input.unwrap_or_default(),
            modalities_output: modalities.output.unwrap_or_default(),
            knowledge: self.knowledge,
            release_date: self.release_date,
            last_updated: self.last_updated,
            open_weights: self.open_weights.unwrap_or(false),
            status: self.status,
            base_model: self.base_model,
        })
    }
}

fn merge<T>(own: Option<T>, base: Option<T>, f: impl FnOnce(T, T) -> T) -> Option<T> {
    match (own, base) {
        (Some(o), Some(b)) => Some(f(o, b)),
        (o, b) => o.or(b),
    }
}

impl fmt::Display for ModelCost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${} in / ${} out per 1M tokens", self.input, self.output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_snapshot_parses() {
        let c = Catalog::parse_embedded().unwrap();
        assert_eq!(c.providers().count(), 147);
        assert_eq!(c.len(), 5098);
        let s = c.get("anthropic", "claude-sonnet-4-5").unwrap();
        assert_eq!(
            s.cost,
            Some(ModelCost {
                input: 3.0,
                output: 15.0,
                cache_read: Some(0.3),
                cache_write: Some(3.75),
                reasoning: None
            })
        );
        assert_eq!(s.limit.context, Some(200_000));
        assert_eq!(s.limit.output, Some(64_000));
        assert!(s.reasoning && s.tool_call && s.vision() && s.pdf());
        let g = c.lookup("openai/gpt-4o").unwrap();
        assert_eq!(g.cost.unwrap().input, 2.5);
        assert_eq!(g.cost.unwrap().cache_read, Some(1.25));
        assert_eq!(g.limit.output, Some(16_384));
        assert!(c.get("openai", "no-such-model").is_none());
        assert!(c.get("no-such-provider", "gpt-4o").is_none());
    }

    #[test]
    fn base_models_are_inherited_minus_omitted_paths() {
        let json = br#"{
          "origin": { "name": "Origin", "models": {
            "m": { "id": "m", "name": "Model M", "family": "fam", "tool_call": true,
                   "cost": { "input": 1, "output": 2, "cache_read": 0.1,
                             "tiers": [ { "input": 2, "output": 4, "tier": { "size": 200000 } } ] },
                   "limit": { "context": 1000, "input": 900, "output": 100 } } } },
          "reseller": { "models": {
            "m": { "id": "m", "base_model": "origin/m", "base_model_omit": ["limit.input", "cost.tiers"],
                   "cost": { "input": 1.5, "output": 3 } },
            "loop": { "id": "loop", "base_model": "reseller/loop" },
            "gone": { "id": "gone", "base_model": "nowhere/x", "cost": { "input": 1, "output": 1 } } } } }"#;
        let c = Catalog::parse(json).unwrap();
        let o = c.get("origin", "m").unwrap();
        assert_eq!(o.cost_tiers.len(), 1);
        assert_eq!(o.cost_tiers[0].above_context, 200_000);
        let r = c.get("reseller", "m").unwrap();
        assert_eq!(r.name, "Model M");
        assert!(r.tool_call);
        assert_eq!(r.cost.unwrap().input, 1.5);
        assert_eq!(r.cost.unwrap().cache_read, Some(0.1));
        assert!(r.cost_tiers.is_empty());
        assert_eq!(r.limit.input, None);
        assert_eq!(r.limit.output, Some(100));
        assert_eq!(c.get("reseller", "loop").unwrap().name, "loop");
        assert!(c.get("reseller", "gone").unwrap().limit.output.is_none());
        // The origin ranks first among equal matches.
        assert_eq!(c.suggest("m", 2)[0].provider, "origin");
        assert_eq!(c.provider("origin").unwrap().name, "Origin");
        assert_eq!(c.provider("reseller").unwrap().name, "reseller");
    }

    #[test]
    fn corrupt_files_are_refused_with_the_place() {
        let err = |json: &str| Catalog::parse(json.as_bytes()).unwrap_err().to_string();
        assert!(err(r#"{"a": {"models": {"m": {"#).starts_with("not valid JSON"));
        assert!(err("[1, 2]").starts_with("top level: invalid type: sequence"));
        assert!(err("{}").contains("holds no models"));
        assert!(err(r#"{"a": {"models": {}}}"#).contains("holds no models"));
        let e = err(r#"{"a": {"name": "A"}}"#);
        assert!(e.contains("a: missing field `models`"), "{e}");
        let e = err(r#"{"a": {"models": {"m": {"cost": {"input": "cheap", "output": 1}}}}}"#);
        assert!(e.starts_with("a.models.m.cost.input: invalid type"), "{e}");
        let e = err(r#"{"a": {"models": {"m": {"cost": {"input": -1, "output": 1}}}}}"#);
        assert!(
            e.contains("a.models.m.cost.input: price -1 is negative"),
            "{e}"
        );
        let e = err(r#"{"a": {"models": {"m": {"limit": {"output": "lots"}}}}}"#);
        assert!(e.starts_with("a.models.m.limit.output"), "{e}");
        let e = err(r#"{"a": {"models": {"m": {"id": "n"}}}}"#);
        assert!(e.contains("a.models.m.id"), "{e}");
    }

    #[test]
    fn lenient_where_models_dev_varies() {
        let c = Catalog::parse(
            br#"{"a": {"models": {
                "m": {"id": "m", "cost": {"input": 1, "output": 2, "input_audio": 9, "cached_input": 0.5},
                      "reasoning_options": [{"type": "effort"}], "interleaved": true, "limit": {"context": 10}},
                "free": {"id": "free", "status": "deprecated"},
                "half": {"id": "half", "cost": {"input": 1}} }}, "empty": {"models": {}}}"#,
        )
        .unwrap();
        let m = c.get("a", "m").unwrap();
        assert_eq!(m.cost.unwrap().cache_read, Some(0.5));
        assert_eq!(m.limit.context, Some(10));
        assert_eq!(m.limit.output, None);
        let f = c.get("a", "free").unwrap();
        assert_eq!(f.cost, None);
        assert_eq!(f.status.as_deref(), Some("deprecated"));
        assert!(!f.tool_call);
        assert_eq!(c.get("a", "half").unwrap().cost, None);
        assert_eq!(c.len(), 3);
        assert_eq!(c.providers().count(), 2);
    }

    #[test]
    fn suggestions_tolerate_typos_and_punctuation() {
        let c = Catalog::embedded();
        let top = |q: &str| c.suggest(q, 5).iter().map(|m| m.key()).collect::<Vec<_>>();
        assert_eq!(
            top("anthropic/claude-sonet-4-5")[0],
            "anthropic/claude-sonnet-4-5"
        );
        assert!(top("claude sonnet 4.5")
            .iter()
            .any(|k| k.ends_with("claude-sonnet-4-5")));
        assert_eq!(top("gpt-4o")[0], "openai/gpt-4o");
        assert!(
            top("gtp-4o").iter().any(|k| k.ends_with("/gpt-4o")),
            "{:?}",
            top("gtp-4o")
        );
        assert!(c.suggest("zzzzqqqqxxxx", 5).is_empty());
    }

    #[test]
    fn substring_distance_counts_edits() {
        assert_eq!(substring_distance("sonet", "claudesonnet45"), 1);
        assert_eq!(substring_distance("sonnet", "claudesonnet45"), 0);
        assert_eq!(substring_distance("gtp", "gpt4o"), 1);
        assert_eq!(substring_distance("abc", "xyz"), 3);
    }
}
