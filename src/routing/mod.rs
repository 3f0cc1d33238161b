//! Model name -> ordered list of upstream candidates.
//!
//! How a candidate list is built:
//! 1. The requested `model` is looked up as an alias (`models:` in the config).
//!    Its targets are ordered by the alias `strategy`:
//!    - `weighted` (default): weighted random order, so traffic splits by weight and
//!      every target is still tried on failure;
//!    - `least_inflight`: fewest requests in flight first (random among equals);
//!    - `latency`: lowest peak-EWMA latency (time to first token for streams, total
//!      otherwise) times in-flight load, with an `exploration` share (default 5%)
//!      sent to a random other target so a recovered deployment is measured again;
//!    - `cost`: cheapest for this request (estimated input tokens and max output
//!      tokens at the target's price), ties broken by latency.
//!
//!    A target's price is its `price:` when the config gives one, else the model
//!    catalog's (provider, upstream model) entry ([`PriceSource`]); the same price
//!    gives each request its `cost_usd` and bounds a budget's reservation.
//! 2. Then the targets of each `fallbacks` alias, in order, recursively, each alias
//!    at most once (cycles are cut).
//! 3. No alias: `provider/model` names a provider explicitly; with the embedded
//!    default, `claude-*` goes to `anthropic`, `gemini-*` to `gemini` and
//!    `gpt-*`/`o<digit>*`/`chatgpt-*` to `openai`.
//!
//! 4. `x-switchyard-target: provider` (or `provider/model`) keeps only matching
//!    candidates: operators pin a request to one deployment.
//!
//! The attempt loop in the proxy walks the list. For each candidate it asks the
//! deployment's circuit breaker (`deployment`), skipping open ones; it retries the
//! same target up to `retries` times with backoff (`retry`) on retryable failures,
//! then moves on. Health state is per deployment (provider + upstream model) and
//! shared by every alias that uses it.

pub mod deployment;
pub mod retry;

use crate::config::{
    Alias, Backoff, BreakerConfig, Config, Price, Provider, Strategy, Target, Timeouts,
};
use arc_swap::ArcSwap;
use deployment::DeploymentStats;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// One place a request may be sent, with the settings of the target it came from.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub provider: Arc<Provider>,
    /// Model name sent upstream.
    pub model: String,
    /// Live state shared by every alias that uses this provider + model.
    pub stats: Arc<DeploymentStats>,
    pub timeouts: Timeouts,
    pub retries: u32,
    pub backoff: Backoff,
    pub breaker: BreakerConfig,
    /// The target's price, from the config or the catalog; `None`: cost unknown.
    pub price: Option<Price>,
    /// The catalog's output-token limit of the upstream model.
    pub max_output: Option<u64>,
}

/// What the catalog knows of a provider's model.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ModelFacts {
    pub price: Option<Price>,
    pub max_output: Option<u64>,
}

/// Prices and limits of models that the config does not price itself: the catalog.
pub trait PriceSource: Send + Sync {
    fn lookup(&self, provider: &Provider, model: &str) -> Option<ModelFacts>;
}

/// A source that knows nothing (tests; a gateway without a catalog).
pub struct NoPrices;

impl PriceSource for NoPrices {
    fn lookup(&self, _: &Provider, _: &str) -> Option<ModelFacts> {
        None
    }
}

/// Prices in use: the source for ad-hoc names and what it gave each alias target,
/// replaced whole when the catalog is refreshed ([`Router::set_prices`]).
struct Prices {
    source: Arc<dyn PriceSource>,
    /// Per alias target, by (provider index, upstream model).
    targets: HashMap<(usize, String), ModelFacts>,
}

impl Prices {
    fn new(config: &Config, source: Arc<dyn PriceSource>) -> Self {
        let mut targets = HashMap::new();
        for alias in config.aliases.values() {
            for t in &alias.targets {
                let catalog = source
                    .lookup(&config.providers[t.provider], &t.model)
                    .unwrap_or_default();
                // A configured price wins; the catalog fills what it leaves out.
                targets
                    .entry((t.provider, t.model.clone()))
                    .or_insert(ModelFacts {
                        price: t.price.or(catalog.price),
                        max_output: catalog.max_output,
                    });
            }
        }
        Prices { source, targets }
    }

    fn of(&self, t: &Target) -> ModelFacts {
        self.targets
            .get(&(t.provider, t.model.clone()))
            .copied()
            .unwrap_or_default()
    }
}

/// What the strategies need to know about a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts {
    pub stream: bool,
    /// Rough input size (bytes / 4) for the cost strategy.
    pub input_tokens: u64,
    /// The client's max output tokens (or the provider default).
    pub max_output_tokens: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No provider is configured at all.
    NoProviders,
    /// The model matches no alias, explicit provider or name rule.
    UnknownModel { model: String, known: Vec<String> },
    /// `x-switchyard-target` names nothing this model can use.
    PinMatchesNothing { pin: String, model: String },
}

/// Builds candidate lists; owns the per-deployment state the strategies read.
pub struct Router {
    config: Arc<Config>,
    /// Live state per alias target, by (provider index, upstream model).
    stats: HashMap<(usize, String), Arc<DeploymentStats>>,
    prices: ArcSwap<Prices>,
}

impl Router {
    pub fn new(config: Arc<Config>, prices: Arc<dyn PriceSource>) -> Self {
        let mut stats = HashMap::new();
        for alias in config.aliases.values() {
            for t in &alias.targets {
                stats
                    .entry((t.provider, t.model.clone()))
                    .or_insert_with(|| Arc::new(DeploymentStats::default()));
            }
        }
        let prices = ArcSwap::from_pointee(Prices::new(&config, prices));
        Router {
            config,
            stats,
            prices,
        }
    }

    /// Prices from a newer catalog (configured prices still win), for requests
    /// planned from now on.
    pub fn set_prices(&self, source: Arc<dyn PriceSource>) {
        self.prices
            .store(Arc::new(Prices::new(&self.config, source)));
    }

    /// The highest input and output prices among the deployments `model` may reach
    /// (alias targets and fallbacks, or the one direct deployment): a budget reserves
    /// a request's worst case at them. `None` when none of them has a price.
    pub fn price_ceiling(&self, model: &str) -> Option<Price> {
        let plan = self.plan(model, &RequestFacts::default(), None).ok()?;
        let mut prices = plan.iter().filter_map(|c| c.price);
        let first = prices.next()?;
        Some(prices.fold(first, |a, b| Price {
            input: a.input.max(b.input),
            output: a.output.max(b.output),
            cache_read: None,
            cache_write: None,
        }))
    }

    /// Aliases with the `cost` strategy and a target of unknown price, as errors.
    pub fn cost_problems(&self) -> Vec<String> {
        let mut v = Vec::new();
        for alias in self.config.aliases.values() {
            if alias.strategy != Strategy::Cost {
                continue;
            }
            for (i, t) in alias.targets.iter().enumerate() {
                if self.prices.load().of(t).price.is_none() {
                    v.push(format!(
                        "models.{}.targets[{i}].price: the cost strategy needs a price, and the \
                         model catalog has none for {}/{}; add price: {{ input: 3.0, output: 15.0 }} \
                         (USD per million tokens)",
                        alias.name, self.config.providers[t.provider].name, t.model
                    ));
                }
            }
        }
        v
    }

    /// Alias targets whose cost is unknown (no `price:`, not in the catalog), as
    /// `provider/model`, for the start-up warning and `check`.
    pub fn unpriced(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .prices
            .load()
            .targets
            .iter()
            .filter(|(_, f)| f.price.is_none())
            .map(|((p, m), _)| format!("{}/{m}", self.config.providers[*p].name))
            .collect();
        v.sort();
        v
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// State of an alias target's deployment (for tests and admin views).
    pub fn stats(&self, provider: &str, model: &str) -> Option<&Arc<DeploymentStats>> {
        let idx = self.config.provider_by_name(provider)?;
        self.stats.get(&(idx, model.to_string()))
    }

    /// The ordered candidate list for a requested model. `pin` (from the
    /// `x-switchyard-target` header) keeps only candidates whose provider is `pin` or
    /// whose `provider/model` is `pin`.
    pub fn plan(
        &self,
        model: &str,
        facts: &RequestFacts,
        pin: Option<&str>,
    ) -> Result<Vec<Candidate>, RouteError> {
        let config = &self.config;
        if config.providers.is_empty() {
            return Err(RouteError::NoProviders);
        }
        let mut out = if let Some(alias) = config.aliases.get(model) {
            let mut out = Vec::new();
            let mut seen = vec![alias.name.as_str()];
            self.push_alias(alias, facts, &mut out, &mut seen);
            out
        } else if let Some(c) = self.direct(model) {
            vec![c]
        } else {
            return Err(RouteError::UnknownModel {
                model: model.to_string(),
                known: config.aliases.keys().take(20).cloned().collect(),
            });
        };
        if let Some(pin) = pin {
            out.retain(|c| {
                c.provider.name == pin
                    || pin
                        .split_once('/')
                        .is_some_and(|(p, m)| c.provider.name == p && c.model == m)
            });
            if out.is_empty() {
                return Err(RouteError::PinMatchesNothing {
                    pin: pin.to_string(),
                    model: model.to_string(),
                });
            }
        }
        Ok(out)
    }

    /// `provider/model`, or (embedded default) a provider picked by model name.
    fn direct(&self, model: &str) -> Option<Candidate> {
        let config = &self.config;
        let (idx, upstream) = match model.split_once('/') {
            Some((p, m)) if config.provider_by_name(p).is_some() => {
                (config.provider_by_name(p)?, m)
            }
            _ if config.route_by_model_name => (
                config.provider_by_name(provider_for_model_name(model)?)?,
                model,
            ),
            _ => return None,
        };
        let provider = config.providers[idx].clone();
        let facts = self
            .prices
            .load()
            .source
            .lookup(&provider, upstream)
            .unwrap_or_default();
        Some(Candidate {
            timeouts: provider.timeouts.over(Timeouts::default()),
            provider,
            model: upstream.to_string(),
            // Ad-hoc names are unbounded (clients choose them): no shared state.
            stats: Arc::new(DeploymentStats::default()),
            retries: 0,
            backoff: Backoff::default(),
            breaker: BreakerConfig::default(),
            price: facts.price,
            max_output: facts.max_output,
        })
    }

    fn push_alias<'a>(
        &'a self,
        alias: &'a Alias,
        facts: &RequestFacts,
        out: &mut Vec<Candidate>,
        seen: &mut Vec<&'a str>,
    ) {
        let prices = self.prices.load();
        for t in self.order(alias, facts, &prices) {
            let provider = self.config.providers[t.provider].clone();
            let timeouts = t.timeouts.over(
                alias
                    .timeouts
                    .over(provider.timeouts.over(Timeouts::default())),
            );
            let stats = self.stats_of(t).cloned().unwrap_or_default();
            let facts = prices.of(t);
            out.push(Candidate {
                provider,
                model: t.model.clone(),
                stats,
                timeouts,
                retries: alias.retries,
                backoff: alias.backoff,
                breaker: alias.breaker,
                price: facts.price,
                max_output: facts.max_output,
            });
        }
        for f in &alias.fallbacks {
            if seen.contains(&f.as_str()) {
                continue;
            }
            seen.push(f);
            if let Some(next) = self.config.aliases.get(f) {
                self.push_alias(next, facts, out, seen);
            }
        }
    }

    fn stats_of(&self, t: &Target) -> Option<&Arc<DeploymentStats>> {
        self.stats.get(&(t.provider, t.model.clone()))
    }

    /// The alias's targets in the order its strategy prefers.
    fn order<'a>(
        &self,
        alias: &'a Alias,
        facts: &RequestFacts,
        prices: &Prices,
    ) -> Vec<&'a Target> {
        let now = Instant::now();
        let latency = |t: &Target| {
            self.stats_of(t)
                .map_or(0.0, |s| s.latency_score(now, facts.stream))
        };
        match alias.strategy {
            Strategy::Weighted => weighted_order(alias),
            Strategy::LeastInflight => {
                let mut v: Vec<&Target> = alias.targets.iter().collect();
                fastrand::shuffle(&mut v);
                v.sort_by_key(|t| self.stats_of(t).map_or(0, |s| s.inflight()));
                v
            }
            Strategy::Latency => {
                let mut v: Vec<(&Target, f64)> =
                    alias.targets.iter().map(|t| (t, latency(t))).collect();
                fastrand::shuffle(&mut v);
                v.sort_by(|a, b| a.1.total_cmp(&b.1));
                let mut v: Vec<&Target> = v.into_iter().map(|(t, _)| t).collect();
                // A bounded share goes to a random other target so a recovered (or
                // never measured) deployment is measured again.
                if v.len() > 1 && fastrand::f64() < alias.exploration {
                    let i = fastrand::usize(1..v.len());
                    v.swap(0, i);
                }
                v
            }
            Strategy::Cost => {
                let cost = |t: &Target| {
                    prices.of(t).price.map_or(f64::MAX, |p| {
                        (facts.input_tokens as f64 * p.input
                            + facts.max_output_tokens as f64 * p.output)
                            / 1e6
                    })
                };
                let mut v: Vec<(&Target, f64, f64)> = alias
                    .targets
                    .iter()
                    .map(|t| (t, cost(t), latency(t)))
                    .collect();
                fastrand::shuffle(&mut v);
                v.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.2.total_cmp(&b.2)));
                v.into_iter().map(|(t, _, _)| t).collect()
            }
        }
    }
}

/// Weighted random order without replacement: the first pick follows the weights,
/// the rest stay available as in-alias fallbacks.
fn weighted_order(alias: &Alias) -> Vec<&Target> {
    let mut pool: Vec<&Target> = alias.targets.iter().collect();
    let mut out = Vec::with_capacity(pool.len());
    while !pool.is_empty() {
        let total: u64 = pool.iter().map(|t| u64::from(t.weight.max(1))).sum();
        let mut pick = fastrand::u64(0..total);
        let mut idx = 0;
        for (i, t) in pool.iter().enumerate() {
            let w = u64::from(t.weight.max(1));
            if pick < w {
                idx = i;
                break;
            }
            pick -= w;
        }
        out.push(pool.remove(idx));
    }
    out
}

/// The embedded default's name rules.
pub fn provider_for_model_name(model: &str) -> Option<&'static str> {
    if model.starts_with("claude-") {
        return Some("anthropic");
    }
    if model.starts_with("gemini-") {
        return Some("gemini");
    }
    let o_series =
        model.len() > 1 && model.starts_with('o') && model.as_bytes()[1].is_ascii_digit();
    if model.starts_with("gpt-") || model.starts_with("chatgpt-") || o_series {
        return Some("openai");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(_: &str) -> Option<String> {
        Some("secret-key".into())
    }

    fn router() -> Router {
        Router::new(Arc::new(config()), Arc::new(NoPrices))
    }

    fn candidates(r: &Router, model: &str) -> Result<Vec<Candidate>, RouteError> {
        r.plan(model, &RequestFacts::default(), None)
    }

    fn config() -> Config {
        Config::from_yaml(
            r#"
providers:
  a: { type: anthropic, api_key: k1234567, base_url: "http://127.0.0.1:1" }
  o: { type: openai, api_key: k1234567, base_url: "http://127.0.0.1:2/v1" }
models:
  smart: { targets: [ {provider: a, model: m1}, {provider: o, model: m2, weight: 3} ], fallbacks: [fast] }
  fast: { targets: [ {provider: o, model: m3} ], fallbacks: [smart] }
"#,
            "t",
            &env,
        )
        .unwrap()
    }

    #[test]
    fn alias_targets_then_fallbacks_without_cycles() {
        let c = router();
        let list = candidates(&c, "smart").unwrap();
        let models: Vec<&str> = list.iter().map(|c| c.model.as_str()).collect();
        assert_eq!(models.len(), 3);
        assert_eq!(models[2], "m3");
        let list = candidates(&c, "fast").unwrap();
        assert_eq!(list[0].model, "m3");
        assert_eq!(list.len(), 3);
    }

    #[test]
    fn weights_shape_the_first_pick() {
        let c = router();
        let firsts = (0..4000)
            .filter(|_| candidates(&c, "smart").unwrap()[0].model == "m2")
            .count();
        // weight 3 of 4: expect ~3000; a wide band keeps this test deterministic enough.
        assert!((2600..3400).contains(&firsts), "{firsts}");
    }

    #[test]
    fn explicit_provider_and_unknown_models() {
        let c = router();
        let l = candidates(&c, "o/gpt-4o").unwrap();
        assert_eq!(
            (l[0].provider.name.as_str(), l[0].model.as_str()),
            ("o", "gpt-4o")
        );
        match candidates(&c, "nope") {
            Err(RouteError::UnknownModel { model, known }) => {
                assert_eq!(model, "nope");
                assert_eq!(known, vec!["fast".to_string(), "smart".to_string()]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn name_rules() {
        assert_eq!(
            provider_for_model_name("claude-sonnet-4-5"),
            Some("anthropic")
        );
        assert_eq!(provider_for_model_name("gpt-5"), Some("openai"));
        assert_eq!(provider_for_model_name("o3-mini"), Some("openai"));
        assert_eq!(provider_for_model_name("ollama"), None);
    }

    fn strategy_router(strategy: &str, extra: &str) -> Router {
        let yaml = format!(
            r#"
providers:
  a: {{ type: anthropic, api_key: k1234567, base_url: "http://127.0.0.1:1" }}
  o: {{ type: openai, api_key: k1234567, base_url: "http://127.0.0.1:2/v1" }}
models:
  m:
    strategy: {strategy}
    exploration: 0
    targets:
      - {{ provider: a, model: slow, price: {{ input: 3.0, output: 15.0 }} }}
      - {{ provider: o, model: fast, price: {{ input: 0.15, output: 0.6 }} }}
{extra}"#
        );
        Router::new(
            Arc::new(Config::from_yaml(&yaml, "t", &env).unwrap()),
            Arc::new(NoPrices),
        )
    }

    #[test]
    fn latency_prefers_the_faster_deployment() {
        let r = strategy_router("latency", "");
        let now = Instant::now();
        let ms = std::time::Duration::from_millis;
        r.stats("a", "slow")
            .unwrap()
            .observe_latency(now, ms(300), ms(900));
        r.stats("o", "fast")
            .unwrap()
            .observe_latency(now, ms(20), ms(80));
        for _ in 0..50 {
            assert_eq!(candidates(&r, "m").unwrap()[0].model, "fast");
        }
        // Load counts too: many requests in flight make "fast" the worse choice.
        let guards: Vec<_> = (0..20)
            .map(|_| r.stats("o", "fast").unwrap().start())
            .collect();
        assert_eq!(candidates(&r, "m").unwrap()[0].model, "slow");
        drop(guards);
    }

    #[test]
    fn cost_prefers_the_cheaper_deployment() {
        let r = strategy_router("cost", "");
        let facts = RequestFacts {
            stream: false,
            input_tokens: 1000,
            max_output_tokens: 1000,
        };
        for _ in 0..20 {
            let plan = r.plan("m", &facts, None).unwrap();
            assert_eq!(plan[0].model, "fast");
            assert_eq!(plan[1].model, "slow", "the dearer one stays as a fallback");
        }
    }

    #[test]
    fn least_inflight_prefers_the_idle_deployment() {
        let r = strategy_router("least_inflight", "");
        let _busy = r.stats("a", "slow").unwrap().start();
        for _ in 0..20 {
            assert_eq!(candidates(&r, "m").unwrap()[0].model, "fast");
        }
    }

    #[test]
    fn pin_header_keeps_matching_candidates() {
        let r = strategy_router("weighted", "");
        let plan = r.plan("m", &RequestFacts::default(), Some("a")).unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].model, "slow");
        let plan = r
            .plan("m", &RequestFacts::default(), Some("o/fast"))
            .unwrap();
        assert_eq!(plan[0].provider.name, "o");
        assert!(matches!(
            r.plan("m", &RequestFacts::default(), Some("x")),
            Err(RouteError::PinMatchesNothing { .. })
        ));
    }

    #[test]
    fn timeouts_layer_target_over_alias_over_provider() {
        let yaml = r#"
providers:
  a: { type: anthropic, api_key: k1234567, base_url: "http://127.0.0.1:1", timeouts: { connect_ms: 111, idle_ms: 222 } }
models:
  m:
    timeouts: { idle_ms: 333, total_ms: 444 }
    targets: [ { provider: a, model: x, timeouts: { total_ms: 555 } } ]
"#;
        let r = Router::new(
            Arc::new(Config::from_yaml(yaml, "t", &env).unwrap()),
            Arc::new(NoPrices),
        );
        let t = candidates(&r, "m").unwrap()[0].timeouts;
        let ms = std::time::Duration::from_millis;
        assert_eq!(
            (t.connect, t.idle, t.total),
            (ms(111), ms(333), Some(ms(555)))
        );
        assert_eq!(t.first_byte, Timeouts::default().first_byte);
    }
}
