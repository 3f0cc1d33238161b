//! Model name -> ordered list of upstream candidates.
//!
//! How a candidate list is built:
//! 1. The requested `model` is looked up as an alias (`models:` in the config).
//!    Its targets are ordered by the alias strategy (today `weighted`: a weighted
//!    random order, so traffic splits by weight and every target is still tried on
//!    failure).
//! 2. Then the targets of each `fallbacks` alias, in order, recursively, each alias
//!    at most once (cycles are cut).
//! 3. No alias: `provider/model` names a provider explicitly; with the embedded
//!    default, `claude-*` goes to `anthropic` and `gpt-*`/`o<digit>*`/`chatgpt-*` to
//!    `openai`.
//!
//! The attempt loop in the proxy walks the list; later strategies (latency, cost,
//! least in-flight) and health/circuit state plug in by reordering or filtering the
//! targets of step 1.

use crate::config::{Alias, Config, Provider};
use std::sync::Arc;

/// One place a request may be sent.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub provider: Arc<Provider>,
    /// Model name sent upstream.
    pub model: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No provider is configured at all.
    NoProviders,
    /// The model matches no alias, explicit provider or name rule.
    UnknownModel { model: String, known: Vec<String> },
}

/// Builds the ordered candidate list for a requested model name.
pub fn candidates(config: &Config, model: &str) -> Result<Vec<Candidate>, RouteError> {
    if config.providers.is_empty() {
        return Err(RouteError::NoProviders);
    }
    if let Some(alias) = config.aliases.get(model) {
        let mut out = Vec::new();
        let mut seen = vec![alias.name.as_str()];
        push_alias(config, alias, &mut out, &mut seen);
        return Ok(out);
    }
    if let Some((provider, upstream_model)) = model.split_once('/') {
        if let Some(i) = config.provider_by_name(provider) {
            return Ok(vec![Candidate {
                provider: config.providers[i].clone(),
                model: upstream_model.to_string(),
            }]);
        }
    }
    if config.route_by_model_name {
        if let Some(i) = provider_for_model_name(model).and_then(|p| config.provider_by_name(p)) {
            return Ok(vec![Candidate {
                provider: config.providers[i].clone(),
                model: model.to_string(),
            }]);
        }
    }
    Err(RouteError::UnknownModel {
        model: model.to_string(),
        known: config.aliases.keys().take(20).cloned().collect(),
    })
}

fn push_alias<'a>(
    config: &'a Config,
    alias: &'a Alias,
    out: &mut Vec<Candidate>,
    seen: &mut Vec<&'a str>,
) {
    for t in weighted_order(alias) {
        out.push(Candidate {
            provider: config.providers[t.provider].clone(),
            model: t.model.clone(),
        });
    }
    for f in &alias.fallbacks {
        if seen.contains(&f.as_str()) {
            continue;
        }
        seen.push(f);
        if let Some(next) = config.aliases.get(f) {
            push_alias(config, next, out, seen);
        }
    }
}

/// Weighted random order without replacement: the first pick follows the weights,
/// the rest stay available as in-alias retries.
fn weighted_order(alias: &Alias) -> Vec<&crate::config::Target> {
    let mut pool: Vec<&crate::config::Target> = alias.targets.iter().collect();
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
        let c = config();
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
        let c = config();
        let firsts = (0..4000)
            .filter(|_| candidates(&c, "smart").unwrap()[0].model == "m2")
            .count();
        // weight 3 of 4: expect ~3000; a wide band keeps this test deterministic enough.
        assert!((2600..3400).contains(&firsts), "{firsts}");
    }

    #[test]
    fn explicit_provider_and_unknown_models() {
        let c = config();
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
}
