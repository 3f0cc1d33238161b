//! Stored `/v1/responses` responses: what `previous_response_id` continues and
//! `GET` / `DELETE /v1/responses/{id}` read and remove.
//!
//! A stored response is its `response` object (as `GET` returns it) and the whole
//! conversation up to and including it, as Responses input items (the request's
//! input, history included, then the output items). It is kept per gateway key (a
//! key never reads another's) for `state.responses_ttl_seconds`.
//!
//! Without `state.redis` it lives in process, bounded in bytes
//! (`state.responses_max_bytes`; the least recently used go first). With it, it
//! lives in Redis (`P:resp:{key}:{id}`, `PX` the TTL), so any instance can continue
//! or delete it and no instance holds a copy that another deleted. Redis errors are
//! counted in `switchyard_state_errors_total`; a response Redis could not take is
//! kept in process instead (this instance can still continue it), and lookups fall
//! back to that copy.
//!
//! The bytes and entries held in process are `switchyard_responses_stored_bytes`
//! and `switchyard_responses_stored`, published after every change and on scrape
//! ([`ResponseStore::publish`]).

use crate::metrics;
use crate::state::redis::RedisLink;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The `response` object, JSON.
    pub response: String,
    /// The conversation as a JSON array of input items.
    pub items: String,
}

impl Stored {
    fn to_json(&self) -> String {
        let mut s = String::with_capacity(self.response.len() + self.items.len() + 24);
        s.push_str("{\"response\":");
        s.push_str(&self.response);
        s.push_str(",\"items\":");
        s.push_str(&self.items);
        s.push('}');
        s
    }

    fn from_json(bytes: &[u8]) -> Option<Self> {
        #[derive(Deserialize)]
        struct Wire<'a> {
            #[serde(borrow)]
            response: &'a RawValue,
            #[serde(borrow)]
            items: &'a RawValue,
        }
        let w: Wire<'_> = serde_json::from_slice(bytes).ok()?;
        Some(Stored {
            response: w.response.get().to_string(),
            items: w.items.get().to_string(),
        })
    }

    fn weight(&self, key: &(String, String)) -> u32 {
        let n = self.response.len() + self.items.len() + key.0.len() + key.1.len() + 64;
        n.min(u32::MAX as usize) as u32
    }
}

pub struct ResponseStore {
    /// (gateway key name, response id) -> the stored response; with Redis only those
    /// Redis could not take.
    local: moka::sync::Cache<(String, String), Arc<Stored>>,
    /// One change at a time: insert or remove, then the maintenance that evicts what
    /// an insert pushed over the bound, then the figures, so the gauge never shows
    /// more than the bound.
    changing: Mutex<()>,
    /// The shared store and its key prefix.
    redis: Option<(Arc<RedisLink>, String)>,
    ttl: Duration,
}

impl ResponseStore {
    /// `max_bytes`: the in-process bound, keys included; `redis`: the link to keep
    /// responses in instead of the process.
    pub fn new(ttl: Duration, max_bytes: u64, redis: Option<Arc<RedisLink>>) -> Self {
        ResponseStore {
            local: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|k: &(String, String), v: &Arc<Stored>| v.weight(k))
                .time_to_live(ttl)
                // The newest response is the one a client continues next. moka's
                // default (TinyLFU admission) turns a new entry away once the store
                // is full of entries read as often, which for stored responses (each
                // read about once) is every new one.
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .build(),
            changing: Mutex::new(()),
            redis: redis.map(|l| {
                let prefix = format!("{}:resp:", l.config().key_prefix);
                (l, prefix)
            }),
            ttl,
        }
    }

    /// Runs moka's pending maintenance (evictions, expiries) and publishes the
    /// bytes and entries held in process; `/metrics` calls it before rendering.
    pub fn publish(&self) {
        let _one = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        self.settle();
    }

    /// [`Self::publish`] with `changing` held.
    fn settle(&self) {
        self.local.run_pending_tasks();
        let bytes = self.local.weighted_size();
        metrics::RESPONSES_STORED_BYTES.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        let entries = self.local.entry_count();
        metrics::RESPONSES_STORED.set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    fn insert_local(&self, tenant: &str, id: &str, stored: Stored) {
        let _one = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        self.local
            .insert((tenant.to_string(), id.to_string()), Arc::new(stored));
        // Evicts at once what the insert pushed over the bound (moka batches its
        // maintenance otherwise, and the bound would lag behind by a batch).
        self.settle();
    }

    fn remove_local(&self, tenant: &str, id: &str) -> bool {
        let _one = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        let found = self
            .local
            .remove(&(tenant.to_string(), id.to_string()))
            .is_some();
        if found {
            self.settle();
        }
        found
    }

    fn redis_key(prefix: &str, tenant: &str, id: &str) -> String {
        format!("{prefix}{{{tenant}}}:{id}")
    }

    /// Keeps a response. With Redis the write is awaited, so a client that got the
    /// answer can continue it at once on any instance.
    pub async fn put(&self, tenant: &str, id: &str, stored: Stored) {
        let Some((link, prefix)) = &self.redis else {
            self.insert_local(tenant, id, stored);
            return;
        };
        let mut cmd = redis::cmd("SET");
        cmd.arg(Self::redis_key(prefix, tenant, id))
            .arg(stored.to_json())
            .arg("PX")
            .arg(self.ttl.as_millis() as u64);
        match link.query::<()>(&cmd).await {
            Ok(()) => link.recovered(),
            Err(e) => {
                link.record_error("responses_set", &e);
                self.insert_local(tenant, id, stored);
            }
        }
    }

    /// A stored response of `tenant`'s, if it is there and not expired.
    pub async fn get(&self, tenant: &str, id: &str) -> Option<Arc<Stored>> {
        let Some((link, prefix)) = &self.redis else {
            return self.local.get(&(tenant.to_string(), id.to_string()));
        };
        let cmd = redis::Cmd::get(Self::redis_key(prefix, tenant, id));
        let shared = match link.query::<Option<Vec<u8>>>(&cmd).await {
            Ok(v) => v.and_then(|b| Stored::from_json(&b)).map(Arc::new),
            Err(e) => {
                link.record_error("responses_get", &e);
                None
            }
        };
        // Only responses Redis could not take are kept here.
        shared.or_else(|| self.local.get(&(tenant.to_string(), id.to_string())))
    }

    /// Removes a stored response; whether there was one.
    pub async fn delete(&self, tenant: &str, id: &str) -> bool {
        let local = self.remove_local(tenant, id);
        let Some((link, prefix)) = &self.redis else {
            return local;
        };
        let cmd = redis::Cmd::del(Self::redis_key(prefix, tenant, id));
        match link.query::<u64>(&cmd).await {
            Ok(n) => n > 0 || local,
            Err(e) => {
                link.record_error("responses_del", &e);
                local
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn kept_per_key_and_deleted() {
        let s = ResponseStore::new(Duration::from_secs(60), 1 << 20, None);
        let stored = Stored {
            response: r#"{"id":"resp_1"}"#.into(),
            items: "[]".into(),
        };
        block_on(s.put("a", "resp_1", stored.clone()));
        assert_eq!(block_on(s.get("a", "resp_1")).as_deref(), Some(&stored));
        assert_eq!(block_on(s.get("b", "resp_1")), None);
        assert!(!block_on(s.delete("b", "resp_1")));
        assert!(block_on(s.delete("a", "resp_1")));
        assert_eq!(block_on(s.get("a", "resp_1")), None);
    }

    #[test]
    fn redis_form_round_trips() {
        let stored = Stored {
            response: r#"{"id":"resp_1","output":[]}"#.into(),
            items: r#"[{"role":"user","content":"hi"}]"#.into(),
        };
        assert_eq!(Stored::from_json(stored.to_json().as_bytes()), Some(stored));
    }

    #[test]
    fn bounded_in_bytes_and_the_newest_stay() {
        const BOUND: u64 = 4 * 1024 * 1024;
        let s = ResponseStore::new(Duration::from_secs(60), BOUND, None);
        let big = "x".repeat(256 * 1024);
        for i in 0..64 {
            let stored = Stored {
                response: format!("\"{big}\""),
                items: "[]".into(),
            };
            block_on(s.put("a", &format!("resp_{i}"), stored));
            // Each put settles: never over the bound, not even for a moment.
            assert!(s.local.weighted_size() <= BOUND, "after put {i}");
        }
        // About 15 of 256 KiB fit: the latest ones, not the first.
        let n = s.local.entry_count();
        assert!((10..=16).contains(&n), "{n} entries");
        for i in 64 - n..64 {
            assert!(
                block_on(s.get("a", &format!("resp_{i}"))).is_some(),
                "resp_{i}"
            );
        }
        assert_eq!(block_on(s.get("a", "resp_0")), None);
    }
}
