//! Background service: keeps the catalog of a running gateway fresh when
//! `catalog.url` is set (and no `catalog.path` pins a file). A copy older than
//! `refresh_hours` is fetched again at once, then every `refresh_hours`; a good
//! fetch replaces the cached copy and the router's prices, a failed one keeps what
//! is in use and says so.

use super::load::{human_age, refresh, Loaded};
use crate::config::CatalogConfig;
use crate::routing::Router;
use async_trait::async_trait;
use log::{info, warn};
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use std::sync::Arc;
use std::time::Duration;

pub struct Refresher {
    pub config: CatalogConfig,
    pub router: Arc<Router>,
    /// How old the copy in use was at start-up, and where it came from.
    pub in_use: String,
    pub first_in: Duration,
}

impl Refresher {
    /// `None` when nothing is to be fetched (no `url`, or a pinned `path`).
    pub fn new(config: &CatalogConfig, loaded: &Loaded, router: Arc<Router>) -> Option<Self> {
        if config.url.is_none() || config.path.is_some() {
            return None;
        }
        let age = loaded.age.unwrap_or(config.refresh);
        Some(Refresher {
            config: config.clone(),
            router,
            in_use: loaded.source.to_string(),
            first_in: config.refresh.saturating_sub(age),
        })
    }
}

#[async_trait]
impl BackgroundService for Refresher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut wait = self.first_in;
        let mut in_use = self.in_use.clone();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
            wait = self.config.refresh;
            // The fetch blocks (its own small runtime): a thread of its own.
            let (tx, rx) = tokio::sync::oneshot::channel();
            let config = self.config.clone();
            std::thread::spawn(move || {
                let _ = tx.send(refresh(&config));
            });
            match rx.await {
                Ok(Ok(done)) => {
                    let d = &done.diff;
                    info!(
                        "model catalog refreshed from {}: {} models, {} added, {} removed, {} price changes; written to {}",
                        done.url,
                        done.catalog.len(),
                        d.added.len(),
                        d.removed.len(),
                        d.price_changes.len(),
                        done.file.display()
                    );
                    in_use = format!("copy fetched from {}", done.url);
                    self.router.set_prices(done.catalog);
                }
                Ok(Err(e)) => warn!(
                    "model catalog refresh failed: {e}; still using the {in_use} (next try in {})",
                    human_age(self.config.refresh)
                ),
                Err(_) => {
                    warn!("model catalog refresh stopped unexpectedly; still using the {in_use}")
                }
            }
        }
    }
}
