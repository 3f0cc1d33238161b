//! `switchyard models list|search|info|compare|refresh`: the catalog from the command
//! line. Aligned tables on stdout (`--json` for scripts), warnings on stderr. Only
//! `refresh` (and `--refresh` on the others) touches the network.
//!
//! Exit codes: 0 done; 1 nothing found or the refresh failed (the last good copy
//! stays in use); 2 an unknown model or provider (close matches on stderr), or a bad
//! config.

use super::{
    human_age, load, refresh, Catalog, CatalogDiff, Loaded, ModelCost, ModelInfo, RefreshError,
};
use crate::config::CatalogConfig;
use clap::{Args, Subcommand, ValueEnum};
use std::fmt::Write as _;

#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// Models with prices, limits and capabilities, filtered and sorted.
    List(ListArgs),
    /// Models whose id, name or family is close to TEXT (typos allowed), best first.
    Search {
        text: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Every field of one model: prices per million tokens, limits, modalities, dates.
    Info {
        /// PROVIDER/MODEL (e.g. anthropic/claude-sonnet-4-5); a bare MODEL if only one
        /// provider lists it.
        model: String,
        #[command(flatten)]
        common: Common,
    },
    /// Two or more models side by side, one column each.
    Compare {
        #[arg(required = true, num_args = 2..)]
        models: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Fetch the catalog now (catalog.url, else https://models.dev/api.json) into the
    /// cache directory and print what changed.
    Refresh {
        /// Print the changes as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Flags every read-only command takes.
#[derive(Args, Debug, Clone, Copy)]
pub struct Common {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Fetch a fresh catalog first (as `models refresh` does).
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only this catalog provider's models (e.g. anthropic, openai, openrouter).
    #[arg(long)]
    pub provider: Option<String>,
    /// Only models with every capability given (repeat the flag).
    #[arg(long, value_enum)]
    pub capability: Vec<Capability>,
    /// Highest input price, USD per million tokens.
    #[arg(long, value_name = "USD")]
    pub max_input_price: Option<f64>,
    /// Highest output price, USD per million tokens.
    #[arg(long, value_name = "USD")]
    pub max_output_price: Option<f64>,
    /// Smallest context window, in tokens.
    #[arg(long, value_name = "TOKENS")]
    pub min_context: Option<u64>,
    #[arg(long, value_enum, default_value_t = Sort::Name)]
    pub sort: Sort,
    /// At most this many rows.
    #[arg(long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Tool (function) calls.
    Tools,
    Reasoning,
    /// Image input.
    Vision,
    /// PDF input.
    Pdf,
    /// Structured output (JSON schema).
    Structured,
}

impl Capability {
    fn of(self, m: &ModelInfo) -> bool {
        match self {
            Capability::Tools => m.tool_call,
            Capability::Reasoning => m.reasoning,
            Capability::Vision => m.vision(),
            Capability::Pdf => m.pdf(),
            Capability::Structured => m.structured_output,
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Cheapest first (input price, then output price; unpriced last).
    Price,
    /// Largest context window first.
    Context,
    /// By provider, then model id.
    Name,
}

/// Runs one command; returns the process exit code.
pub fn run(cmd: &ModelsCommand, config: &CatalogConfig) -> i32 {
    match cmd {
        ModelsCommand::Refresh { json } => run_refresh(config, *json),
        ModelsCommand::List(a) => {
            let loaded = prepare(config, a.common);
            list(&loaded.catalog, a)
        }
        ModelsCommand::Search {
            text,
            limit,
            common,
        } => {
            let loaded = prepare(config, *common);
            search(&loaded.catalog, text, *limit, common.json)
        }
        ModelsCommand::Info { model, common } => {
            let loaded = prepare(config, *common);
            match resolve(&loaded.catalog, model) {
                Ok(m) if common.json => print_json(m),
                Ok(m) => {
                    let rows = fields(&loaded.catalog, m);
                    print!("{}", table(&[], &rows));
                    0
                }
                Err(code) => code,
            }
        }
        ModelsCommand::Compare { models, common } => {
            let loaded = prepare(config, *common);
            let mut found = Vec::new();
            for name in models {
                match resolve(&loaded.catalog, name) {
                    Ok(m) => found.push(m),
                    Err(code) => return code,
                }
            }
            if common.json {
                return print_json(&found);
            }
            let header: Vec<String> = std::iter::once(String::new())
                .chain(found.iter().map(|m| m.key()))
                .collect();
            let per_model: Vec<Vec<(&str, String)>> =
                found.iter().map(|m| fields(&loaded.catalog, m)).collect();
            let rows: Vec<Vec<String>> = per_model
                .first()
                .map(|first| {
                    // Row 0 (`model`) is the header already.
                    (1..first.len())
                        .map(|i| {
                            std::iter::once(first[i].0.to_string())
                                .chain(per_model.iter().map(|f| f[i].1.clone()))
                                .collect()
                        })
                        .collect()
                })
                .unwrap_or_default();
            print!("{}", table(&header, &rows));
            0
        }
    }
}

/// The catalog to answer from: refreshed first with `--refresh`; warnings on stderr.
fn prepare(config: &CatalogConfig, common: Common) -> Loaded {
    if common.refresh {
        match refresh(config) {
            Ok(r) => eprintln!(
                "refreshed the model catalog from {}: {}",
                r.url,
                summary(&r.diff)
            ),
            Err(e) => eprintln!("warning: model catalog refresh failed: {e}"),
        }
    }
    let loaded = load(config);
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    loaded
}

fn run_refresh(config: &CatalogConfig, json: bool) -> i32 {
    match refresh(config) {
        Ok(r) => {
            if json {
                return print_json(&serde_json::json!({
                    "url": r.url,
                    "file": r.file,
                    "models": r.catalog.len(),
                    "providers": r.catalog.providers().count(),
                    "before": r.before.to_string(),
                    "added": r.diff.added,
                    "removed": r.diff.removed,
                    "price_changes": r.diff.price_changes,
                }));
            }
            println!(
                "fetched {} -> {} ({} models of {} providers)",
                r.url,
                r.file.display(),
                r.catalog.len(),
                r.catalog.providers().count()
            );
            println!("compared with the {}: {}", r.before, summary(&r.diff));
            print!("{}", changes(&r.diff));
            if config.path.is_some() {
                eprintln!(
                    "note: catalog.path is set, so that file stays in use instead of this copy"
                );
            }
            0
        }
        Err(e) => {
            eprintln!("switchyard models refresh: {e}");
            if matches!(e, RefreshError::NoCacheDir) {
                return 2;
            }
            let kept = load(config);
            let age = kept
                .age
                .map(|a| format!(", {} old", human_age(a)))
                .unwrap_or_default();
            eprintln!(
                "warning: keeping the {} ({} models{age})",
                kept.source,
                kept.catalog.len()
            );
            1
        }
    }
}

fn summary(d: &CatalogDiff) -> String {
    format!(
        "{} added, {} removed, {} price changes",
        d.added.len(),
        d.removed.len(),
        d.price_changes.len()
    )
}

/// The changes, at most `SHOWN` lines per kind.
fn changes(d: &CatalogDiff) -> String {
    const SHOWN: usize = 100;
    let mut out = String::new();
    let mut section = |title: &str, lines: Vec<String>| {
        if lines.is_empty() {
            return;
        }
        let _ = writeln!(out, "{title} ({}):", lines.len());
        for l in lines.iter().take(SHOWN) {
            let _ = writeln!(out, "  {l}");
        }
        if lines.len() > SHOWN {
            let _ = writeln!(
                out,
                "  ... and {} more (--json lists all)",
                lines.len() - SHOWN
            );
        }
    };
    section("added", d.added.iter().map(|k| format!("+ {k}")).collect());
    section(
        "removed",
        d.removed.iter().map(|k| format!("- {k}")).collect(),
    );
    section(
        "price changes",
        d.price_changes
            .iter()
            .map(|c| {
                format!(
                    "~ {}: {} -> {}",
                    c.model,
                    short_cost(c.before.as_ref()),
                    short_cost(c.after.as_ref())
                )
            })
            .collect(),
    );
    out
}

/// `$3 in / $15 out / $0.3 cache read / $3.75 cache write` (the prices it has).
fn short_cost(c: Option<&ModelCost>) -> String {
    let Some(c) = c else {
        return "unpriced".into();
    };
    let mut s = format!("${} in / ${} out", c.input, c.output);
    for (v, what) in [
        (c.cache_read, "cache read"),
        (c.cache_write, "cache write"),
        (c.reasoning, "reasoning"),
    ] {
        if let Some(v) = v {
            let _ = write!(s, " / ${v} {what}");
        }
    }
    s
}

/// The model a user named: `provider/model`, or a bare id one provider alone lists.
/// Unknown or ambiguous: the reason and close matches on stderr, exit code 2.
fn resolve<'a>(catalog: &'a Catalog, name: &str) -> Result<&'a ModelInfo, i32> {
    if let Some(m) = catalog.lookup(name) {
        return Ok(m);
    }
    if !name.contains('/') {
        let same: Vec<&ModelInfo> = catalog.iter().filter(|m| m.id == name).collect();
        match same.as_slice() {
            [one] => return Ok(one),
            [] => {}
            many => {
                eprintln!(
                    "switchyard models: \"{name}\" is listed by {} providers; write PROVIDER/MODEL:",
                    many.len()
                );
                for m in many.iter().take(10) {
                    eprintln!("  {}", m.key());
                }
                return Err(2);
            }
        }
    }
    eprintln!("switchyard models: unknown model \"{name}\"");
    let close = catalog.suggest(name, 5);
    if !close.is_empty() {
        eprintln!("did you mean:");
        for m in close {
            eprintln!("  {}", m.key());
        }
    }
    Err(2)
}

fn list(catalog: &Catalog, a: &ListArgs) -> i32 {
    if let Some(p) = &a.provider {
        if catalog.provider(p).is_none() {
            eprintln!("switchyard models list: unknown provider \"{p}\"");
            let ids: Vec<&str> = catalog.providers().map(|p| p.id.as_str()).collect();
            if let Some(best) = crate::config::closest(p, ids.iter().copied()) {
                eprintln!("did you mean \"{best}\"? (all providers: `switchyard models list --json | jq -r '.[].provider' | sort -u`)");
            }
            return 2;
        }
    }
    let mut rows: Vec<&ModelInfo> = catalog
        .iter()
        .filter(|m| a.provider.as_ref().is_none_or(|p| &m.provider == p))
        .filter(|m| a.capability.iter().all(|c| c.of(m)))
        .filter(|m| {
            a.max_input_price
                .is_none_or(|x| m.cost.is_some_and(|c| c.input <= x))
        })
        .filter(|m| {
            a.max_output_price
                .is_none_or(|x| m.cost.is_some_and(|c| c.output <= x))
        })
        .filter(|m| {
            a.min_context
                .is_none_or(|n| m.limit.context.is_some_and(|c| c >= n))
        })
        .collect();
    match a.sort {
        Sort::Name => {}
        Sort::Price => rows.sort_by(|x, y| {
            let key = |m: &ModelInfo| m.cost.map(|c| (c.input, c.output));
            match (key(x), key(y)) {
                (Some(a), Some(b)) => a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
        }),
        Sort::Context => rows.sort_by_key(|m| std::cmp::Reverse(m.limit.context)),
    }
    let total = rows.len();
    if let Some(n) = a.limit {
        rows.truncate(n);
    }
    if a.common.json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        eprintln!("no model matches");
        return 1;
    }
    let header = [
        "MODEL",
        "NAME",
        "INPUT $/M",
        "OUTPUT $/M",
        "CONTEXT",
        "MAX OUT",
        "CAPABILITIES",
    ]
    .map(String::from);
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|m| {
            vec![
                m.key(),
                m.name.clone(),
                price(m.cost.map(|c| c.input)),
                price(m.cost.map(|c| c.output)),
                tokens(m.limit.context),
                tokens(m.limit.output),
                capabilities(m),
            ]
        })
        .collect();
    print!("{}", table(&header, &body));
    if rows.len() < total {
        eprintln!("{} of {total} models shown (--limit)", rows.len());
    }
    0
}

fn search(catalog: &Catalog, text: &str, limit: usize, json: bool) -> i32 {
    let found = catalog.suggest(text, limit);
    if json {
        return print_json(&found);
    }
    if found.is_empty() {
        eprintln!("no model matches \"{text}\"");
        return 1;
    }
    let header = [
        "MODEL",
        "NAME",
        "FAMILY",
        "INPUT $/M",
        "OUTPUT $/M",
        "CONTEXT",
    ]
    .map(String::from);
    let body: Vec<Vec<String>> = found
        .iter()
        .map(|m| {
            vec![
                m.key(),
                m.name.clone(),
                m.family.clone().unwrap_or_else(|| "-".into()),
                price(m.cost.map(|c| c.input)),
                price(m.cost.map(|c| c.output)),
                tokens(m.limit.context),
            ]
        })
        .collect();
    print!("{}", table(&header, &body));
    0
}

/// Every field of a model as (label, value) rows, in one order for `info` and
/// `compare`.
fn fields(catalog: &Catalog, m: &ModelInfo) -> Vec<(&'static str, String)> {
    let per_m = |v: Option<f64>| v.map_or_else(|| "-".into(), |x| format!("${x} / 1M tokens"));
    let cost = m.cost.as_ref();
    let provider = catalog
        .provider(&m.provider)
        .map_or_else(|| m.provider.clone(), |p| format!("{} ({})", p.name, p.id));
    let tiers = if m.cost_tiers.is_empty() {
        "-".to_string()
    } else {
        m.cost_tiers
            .iter()
            .map(|t| {
                format!(
                    "above {} tokens: ${} in / ${} out",
                    tokens(Some(t.above_context)),
                    t.cost.input,
                    t.cost.output
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    vec![
        ("model", m.key()),
        ("name", m.name.clone()),
        ("provider", provider),
        ("family", opt(&m.family)),
        (
            "status",
            m.status.clone().unwrap_or_else(|| "available".into()),
        ),
        ("input price", per_m(cost.map(|c| c.input))),
        ("output price", per_m(cost.map(|c| c.output))),
        ("cache read price", per_m(cost.and_then(|c| c.cache_read))),
        ("cache write price", per_m(cost.and_then(|c| c.cache_write))),
        ("reasoning price", per_m(cost.and_then(|c| c.reasoning))),
        ("long-context prices", tiers),
        ("context window", tokens(m.limit.context)),
        ("input limit", tokens(m.limit.input)),
        ("output limit", tokens(m.limit.output)),
        ("tool calls", yes(m.tool_call)),
        ("reasoning", yes(m.reasoning)),
        ("structured output", yes(m.structured_output)),
        ("attachments", yes(m.attachment)),
        ("temperature", yes(m.temperature)),
        ("input modalities", list(&m.modalities_input)),
        ("output modalities", list(&m.modalities_output)),
        ("knowledge cut-off", opt(&m.knowledge)),
        ("released", opt(&m.release_date)),
        ("last updated", opt(&m.last_updated)),
        ("open weights", yes(m.open_weights)),
        ("base model", opt(&m.base_model)),
    ]
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn price(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x}"))
}

/// `200,000`, or `-` when unknown.
fn tokens(v: Option<u64>) -> String {
    let Some(n) = v else {
        return "-".into();
    };
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn capabilities(m: &ModelInfo) -> String {
    let caps: Vec<&str> = [
        (m.tool_call, "tools"),
        (m.reasoning, "reasoning"),
        (m.vision(), "vision"),
        (m.pdf(), "pdf"),
        (m.structured_output, "structured"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    caps.join(",")
}

/// Left-aligned columns, two spaces apart; an empty header prints no header line.
/// Rows are `(label, value)` pairs or full rows.
pub(crate) fn table<R: Row>(header: &[String], rows: &[R]) -> String {
    let cells: Vec<Vec<&str>> = std::iter::once(header)
        .filter(|h| !h.is_empty())
        .map(|h| h.iter().map(String::as_str).collect())
        .chain(rows.iter().map(Row::cells))
        .collect();
    let columns = cells.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            cells
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in &cells {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                let pad = widths[i].saturating_sub(c.chars().count()) + 2;
                line.push_str(c);
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(crate) trait Row {
    fn cells(&self) -> Vec<&str>;
}

impl Row for Vec<String> {
    fn cells(&self) -> Vec<&str> {
        self.iter().map(String::as_str).collect()
    }
}

impl Row for (&str, String) {
    fn cells(&self) -> Vec<&str> {
        vec![self.0, self.1.as_str()]
    }
}

fn print_json<T: serde::Serialize + ?Sized>(v: &T) -> i32 {
    match serde_json::to_string_pretty(v) {
        Ok(s) => {
            println!("{s}");
            0
        }
        Err(e) => {
            eprintln!("switchyard models: cannot write JSON: {e}");
            1
        }
    }
}
