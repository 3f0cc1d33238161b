//! The catalog as the router's [`PriceSource`]: prices and output limits for targets
//! the config does not price, looked up by (catalog provider, upstream model).
//!
//! Long-context tiers (`context_over_200k` prices) are not applied: a request's cost
//! uses the base price whatever its size.

use super::{catalog_provider_of, Catalog};
use crate::config::{Config, Price, Provider};
use crate::routing::{ModelFacts, PriceSource};

impl PriceSource for Catalog {
    fn lookup(&self, provider: &Provider, model: &str) -> Option<ModelFacts> {
        let m = self.get(catalog_provider_of(provider), model)?;
        Some(ModelFacts {
            price: m.cost.map(|c| Price {
                input: c.input,
                output: c.output,
                cache_read: c.cache_read,
                cache_write: c.cache_write,
            }),
            max_output: m.limit.output,
        })
    }
}

/// Alias targets whose upstream model the catalog does not know, with close
/// matches: warnings only, since new models appear before catalogs list them.
pub fn unknown_models(config: &Config, catalog: &Catalog) -> Vec<String> {
    let mut out = Vec::new();
    for alias in config.aliases.values() {
        for (i, t) in alias.targets.iter().enumerate() {
            let provider = &config.providers[t.provider];
            let cp = catalog_provider_of(provider);
            if catalog.get(cp, &t.model).is_some() {
                continue;
            }
            let close: Vec<String> = catalog
                .suggest(&t.model, 8)
                .into_iter()
                .filter(|m| m.provider == cp)
                .take(3)
                .map(|m| m.id.clone())
                .collect();
            let hint = if close.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", close.join(", "))
            };
            out.push(format!(
                "models.{}.targets[{i}].model: \"{}\" is not in the model catalog under provider \"{cp}\"{hint}; its price and output limit are unknown unless the target sets price:",
                alias.name, t.model
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn targets_without_a_price_take_the_catalogs() {
        let env = |_: &str| None;
        let c = Config::from_yaml(
            "providers:\n  anthropic: { type: anthropic, api_key: k }\n  groq: { type: openai, api_key: k, base_url: 'http://127.0.0.1:9/v1', catalog_provider: groq }\n",
            "t",
            &env,
        )
        .unwrap();
        let cat = Catalog::embedded();
        let facts = PriceSource::lookup(cat, &c.providers[0], "claude-sonnet-4-5")
            .expect("in the snapshot");
        let p = facts.price.unwrap();
        assert_eq!((p.input, p.output), (3.0, 15.0));
        assert_eq!((p.cache_read, p.cache_write), (Some(0.3), Some(3.75)));
        assert!(facts.max_output.is_some_and(|m| m >= 8192));
        // An OpenAI-compatible provider is looked up under its catalog_provider.
        assert!(PriceSource::lookup(cat, &c.providers[1], "llama-3.3-70b-versatile").is_some());
        assert!(PriceSource::lookup(cat, &c.providers[0], "no-such-model").is_none());
    }

    #[test]
    fn unknown_upstream_models_are_warned_about_with_close_matches() {
        let env = |_: &str| None;
        let c = Config::from_yaml(
            "providers:\n  anthropic: { type: anthropic, api_key: k }\nmodels:\n  s: { targets: [ { provider: anthropic, model: claude-sonet-4-5 }, { provider: anthropic, model: claude-sonnet-4-5 } ] }\n",
            "t",
            &env,
        )
        .unwrap();
        let w = unknown_models(&c, Catalog::embedded());
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("models.s.targets[0].model: \"claude-sonet-4-5\" is not in the model catalog under provider \"anthropic\" (did you mean claude-sonnet-4-5"), "{w:?}");
    }
}
