//! Stored `/v1/responses` responses: what `previous_response_id` continues and
//! `GET` / `DELETE /v1/responses/{id}` read and remove.
//!
//! A stored response is its `response` object (as `GET` returns it) and the whole
//! conversation up to and including it, as Responses input items (the request's
//! input, history included, then the output items). It is kept per gateway key (a
//! key never reads another's) for `state.responses_ttl_seconds`.
//!
//! Without `state.redis` it lives in process, bounded in bytes ([`MAX_BYTES`]; the
//! least used go first). With it, it lives in Redis (`P:resp:{key}:{id}`, `PX` the
//! TTL), so any instance can continue or delete it and no instance holds a copy that
//! another deleted. Redis errors are counted in `switchyard_state_errors_total`; a
//! response Redis could not take is kept in process instead (this instance can
//! still continue it), and lookups fall back to that copy.

use crate::state::redis::RedisLink;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Duration;

/// In-process bound on stored responses, keys included.
pub const MAX_BYTES: u64 = 256 * 1024 * 1024;

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
    /// (gateway key name, response id) -> the stored response; unused with Redis.
    local: moka::sync::Cache<(String, String), Arc<Stored>>,
    /// The shared store and its key prefix.
    redis: Option<(Arc<RedisLink>, String)>,
    ttl: Duration,
}

impl ResponseStore {
    /// `redis`: the link to keep responses in instead of the process.
    pub fn new(ttl: Duration, redis: Option<Arc<RedisLink>>) -> Self {
        ResponseStore {
            local: moka::sync::Cache::builder()
                .max_capacity(MAX_BYTES)
                .weigher(|k: &(String, String), v: &Arc<Stored>| v.weight(k))
                .time_to_live(ttl)
                .build(),
            redis: redis.map(|l| {
                let prefix = format!("{}:resp:", l.config().key_prefix);
                (l, prefix)
            }),
            ttl,
        }
    }

    fn redis_key(prefix: &str, tenant: &str, id: &str) -> String {
        format!("{prefix}{{{tenant}}}:{id}")
    }

    /// Keeps a response. With Redis the write is awaited, so a client that got the
    /// answer can continue it at once on any instance.
    pub async fn put(&self, tenant: &str, id: &str, stored: Stored) {
        let Some((link, prefix)) = &self.redis else {
            self.local
                .insert((tenant.to_string(), id.to_string()), Arc::new(stored));
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
                self.local
                    .insert((tenant.to_string(), id.to_string()), Arc::new(stored));
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
        let Some((link, prefix)) = &self.redis else {
            return self
                .local
                .remove(&(tenant.to_string(), id.to_string()))
                .is_some();
        };
        let local = self
            .local
            .remove(&(tenant.to_string(), id.to_string()))
            .is_some();
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
        let s = ResponseStore::new(Duration::from_secs(60), None);
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
    fn bounded_in_bytes() {
        let s = ResponseStore::new(Duration::from_secs(60), None);
        let big = "x".repeat(1024 * 1024);
        for i in 0..400 {
            let stored = Stored {
                response: format!("\"{big}\""),
                items: "[]".into(),
            };
            block_on(s.put("a", &format!("resp_{i}"), stored));
        }
        s.local.run_pending_tasks();
        assert!(s.local.weighted_size() <= MAX_BYTES);
    }
}
