//! The response cache: complete answers, stored canonically, served again to an
//! identical request in either client API, streamed or not.
//!
//! - [`key`]: what makes two requests identical (the canonical request, hashed).
//! - [`stored`]: an entry as bytes (the Redis value, and what an entry weighs).
//! - Tiers: in process a `moka` cache bounded in bytes (`cache.max_bytes`; TinyLFU
//!   admission, so a one-off answer may not displace popular ones), then, when
//!   configured, Redis, shared by every instance. A lookup tries moka, then Redis
//!   (an entry found there is copied into moka); a fill writes both, Redis in the
//!   background. A Redis error is counted and logged at most once per 10 s, and the
//!   cache goes on with moka alone.
//! - Freshness is decided here, against [`Clock`], not by moka's own timers (those
//!   only reclaim the memory), so tests can move time.
//!
//! The pipeline's cache stage and fill tap ([`crate::pipeline::cache`]) decide what
//! is looked up and what is stored.

pub mod key;
pub mod stored;

use crate::config::CacheConfig;
use crate::formats::model::ChatResponse;
use crate::metrics;
use crate::state::redis::RedisLink;
use moka::notification::RemovalCause;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What an entry costs beyond its serialised bytes (key, `Arc`, moka's node).
const ENTRY_OVERHEAD: u64 = 256;

pub type Key = [u8; 32];

/// A stored answer.
#[derive(Debug)]
pub struct Entry {
    pub answer: Arc<ChatResponse>,
    /// Unix time (ms) it was stored.
    pub stored_at: u64,
    pub ttl: Duration,
    /// Bytes it is weighed at.
    pub size: u32,
}

/// A fresh entry and how old it is.
#[derive(Debug, Clone)]
pub struct Found {
    pub entry: Arc<Entry>,
    pub age: Duration,
}

/// Wall-clock time in ms: entries carry it, so instances sharing Redis agree.
#[derive(Debug, Clone)]
pub enum Clock {
    System,
    /// Set by tests.
    Manual(Arc<AtomicU64>),
}

impl Clock {
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            Clock::Manual(t) => t.load(Ordering::Relaxed),
        }
    }
}

/// The Redis tier: a link, and how keys and lifetimes are written there.
struct RedisTier {
    link: Arc<RedisLink>,
    /// `P:cache:`
    prefix: String,
    ttl: Option<Duration>,
}

pub struct Cache {
    memory: moka::sync::Cache<Key, Arc<Entry>>,
    /// Bytes of the entries moka holds (what `switchyard_cache_bytes` shows, set
    /// after each fill and removal). Counted up after an insert and down by the
    /// eviction listener, so it can dip below zero for a moment.
    bytes: Arc<AtomicI64>,
    /// One fill at a time: insert, then evict what it pushed over the bound, then
    /// publish the figure, so the gauge never shows more than `max_bytes`.
    filling: Mutex<()>,
    /// The figure last published (`switchyard_cache_bytes`).
    shown: AtomicU64,
    redis: Option<RedisTier>,
    max_entry_bytes: u64,
    clock: Clock,
}

/// moka reclaims an entry's memory when its lifetime from insertion ends.
struct Lifetime;

impl moka::Expiry<Key, Arc<Entry>> for Lifetime {
    fn expire_after_create(&self, _: &Key, e: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(e.ttl)
    }
}

impl Cache {
    pub fn new(config: &CacheConfig) -> Self {
        Self::with_clock(config, Clock::System)
    }

    pub fn with_clock(config: &CacheConfig, clock: Clock) -> Self {
        let bytes = Arc::new(AtomicI64::new(0));
        let held = bytes.clone();
        let memory = moka::sync::Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|_: &Key, e: &Arc<Entry>| e.size)
            .expire_after(Lifetime)
            .eviction_listener(move |_, e: Arc<Entry>, cause| {
                held.fetch_sub(i64::from(e.size), Ordering::Relaxed);
                let reason = match cause {
                    RemovalCause::Size => "size",
                    RemovalCause::Expired => "expired",
                    RemovalCause::Explicit | RemovalCause::Replaced => return,
                };
                metrics::CACHE_EVICTIONS.with_label_values(&[reason]).inc();
            })
            .build();
        let redis = config.redis.as_ref().map(|r| RedisTier {
            prefix: format!("{}:cache:", r.redis.key_prefix),
            link: Arc::new(RedisLink::new(
                r.redis.clone(),
                "response cache",
                "the cache serves from memory only".into(),
            )),
            ttl: r.ttl,
        });
        Cache {
            memory,
            bytes,
            filling: Mutex::new(()),
            shown: AtomicU64::new(0),
            redis,
            max_entry_bytes: config.max_entry_bytes,
            clock,
        }
    }

    /// The Redis tier's link, for the connector service to connect.
    pub fn redis_link(&self) -> Option<&Arc<RedisLink>> {
        self.redis.as_ref().map(|r| &r.link)
    }

    /// Bytes held in process, as last published.
    pub fn bytes(&self) -> u64 {
        self.shown.load(Ordering::Relaxed)
    }

    fn publish(&self) {
        let now = self.bytes.load(Ordering::Relaxed).max(0) as u64;
        self.shown.store(now, Ordering::Relaxed);
        metrics::CACHE_BYTES.set(now as i64);
    }

    /// A fresh entry no older than `max_age` (the request's `Cache-Control:
    /// max-age`), from moka, else from Redis.
    pub async fn get(&self, key: &Key, max_age: Option<Duration>) -> Option<Found> {
        let now = self.clock.now_ms();
        if let Some(entry) = self.memory.get(key) {
            match freshness(&entry, now, max_age) {
                Fresh::Yes(age) => return Some(Found { entry, age }),
                Fresh::Expired => {
                    let _one = self.filling.lock().unwrap_or_else(|e| e.into_inner());
                    self.memory.invalidate(key);
                    self.memory.run_pending_tasks();
                    self.publish();
                }
                Fresh::TooOld => {}
            }
        }
        let r = self.redis.as_ref()?;
        let cmd = redis::Cmd::get(format!("{}{}", r.prefix, hex::encode(key)));
        let bytes: Option<Vec<u8>> = match r.link.query(&cmd).await {
            Ok(v) => {
                r.link.recovered();
                v
            }
            Err(e) => {
                r.link.record_error("cache_get", &e);
                return None;
            }
        };
        let bytes = bytes?;
        let (answer, stored_at, ttl_ms) = stored::decode(&bytes)?;
        let entry = Arc::new(Entry {
            size: weight(bytes.len()),
            answer: Arc::new(answer),
            stored_at,
            ttl: Duration::from_millis(ttl_ms),
        });
        let Fresh::Yes(age) = freshness(&entry, now, max_age) else {
            return None;
        };
        self.insert_memory(*key, entry.clone(), now);
        Some(Found { entry, age })
    }

    /// Stores a complete answer for `ttl`; `false` when it is not kept (larger
    /// than `cache.max_entry_bytes`, or holding what the cache cannot replay).
    pub fn put(&self, key: Key, answer: ChatResponse, ttl: Duration) -> bool {
        let now = self.clock.now_ms();
        let redis_ttl = self.redis.as_ref().and_then(|r| r.ttl).unwrap_or(ttl);
        let Some(bytes) = stored::encode(&answer, now, redis_ttl.as_millis() as u64) else {
            return false;
        };
        if bytes.len() as u64 > self.max_entry_bytes {
            return false;
        }
        let entry = Arc::new(Entry {
            size: weight(bytes.len()),
            answer: Arc::new(answer),
            stored_at: now,
            ttl,
        });
        self.insert_memory(key, entry, now);
        if let Some(r) = &self.redis {
            let mut cmd = redis::cmd("SET");
            cmd.arg(format!("{}{}", r.prefix, hex::encode(key)))
                .arg(bytes)
                .arg("PX")
                .arg(redis_ttl.as_millis().max(1) as u64);
            r.link.in_background("cache_set", cmd);
        }
        true
    }

    fn insert_memory(&self, key: Key, entry: Arc<Entry>, now: u64) {
        // What is left of its lifetime bounds how long moka keeps the memory.
        let left = entry
            .ttl
            .saturating_sub(Duration::from_millis(now.saturating_sub(entry.stored_at)));
        if left.is_zero() {
            return;
        }
        let entry = if left < entry.ttl {
            Arc::new(Entry {
                answer: entry.answer.clone(),
                ttl: left,
                stored_at: now,
                size: entry.size,
            })
        } else {
            entry
        };
        let size = i64::from(entry.size);
        let _one = self.filling.lock().unwrap_or_else(|e| e.into_inner());
        self.memory.insert(key, entry);
        self.bytes.fetch_add(size, Ordering::Relaxed);
        // Evicts at once what the insert pushed over the bound (moka batches its
        // maintenance otherwise, and the bound would lag behind by a batch).
        self.memory.run_pending_tasks();
        self.publish();
    }

    /// Drops one entry from every tier; whether moka or Redis had it.
    pub async fn remove(&self, key: &Key) -> Result<bool, String> {
        let in_memory = self.memory.remove(key).is_some();
        self.memory.run_pending_tasks();
        self.publish();
        let Some(r) = &self.redis else {
            return Ok(in_memory);
        };
        let n: u64 = r
            .link
            .query(&redis::Cmd::del(format!(
                "{}{}",
                r.prefix,
                hex::encode(key)
            )))
            .await?;
        Ok(in_memory || n > 0)
    }

    /// Drops every entry; how many Redis keys were deleted.
    pub async fn clear(&self) -> Result<u64, String> {
        self.memory.invalidate_all();
        self.memory.run_pending_tasks();
        self.publish();
        let Some(r) = &self.redis else { return Ok(0) };
        let pattern = format!("{}*", r.prefix);
        let (mut cursor, mut deleted) = (0u64, 0u64);
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000);
            let (next, keys): (u64, Vec<String>) = r.link.query(&scan).await?;
            if !keys.is_empty() {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(&keys);
                deleted += r.link.query::<u64>(&unlink).await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

fn weight(bytes: usize) -> u32 {
    (bytes as u64 + ENTRY_OVERHEAD).min(u64::from(u32::MAX)) as u32
}

enum Fresh {
    Yes(Duration),
    /// Past its TTL: gone for everyone.
    Expired,
    /// Fresh, but older than this request accepts.
    TooOld,
}

fn freshness(e: &Entry, now: u64, max_age: Option<Duration>) -> Fresh {
    let age = Duration::from_millis(now.saturating_sub(e.stored_at));
    if age >= e.ttl {
        Fresh::Expired
    } else if max_age.is_some_and(|m| age > m) {
        Fresh::TooOld
    } else {
        Fresh::Yes(age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::model::{ContentPart, FinishReason};

    fn answer(text: &str) -> ChatResponse {
        let mut a = stored::tests::sample();
        a.content = vec![ContentPart::Text {
            text: text.to_string().into(),
            cache_control: None,
        }];
        a.finish_reason = Some(FinishReason::Stop);
        a
    }

    fn cache(max_bytes: u64) -> (Cache, Arc<AtomicU64>) {
        let t = Arc::new(AtomicU64::new(1_000_000));
        let config = CacheConfig {
            enabled: true,
            max_bytes,
            max_entry_bytes: 64 * 1024,
            ..CacheConfig::default()
        };
        (Cache::with_clock(&config, Clock::Manual(t.clone())), t)
    }

    fn get(c: &Cache, key: &Key, max_age: Option<Duration>) -> Option<Found> {
        block_on(c.get(key, max_age))
    }

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn an_entry_lives_for_its_ttl_on_the_injected_clock() {
        let (c, t) = cache(1 << 20);
        assert!(c.put([1; 32], answer("hi"), Duration::from_secs(60)));
        t.fetch_add(59_999, Ordering::Relaxed);
        let found = get(&c, &[1; 32], None).unwrap();
        assert_eq!(found.age, Duration::from_millis(59_999));
        assert_eq!(found.entry.answer.content, answer("hi").content);
        t.fetch_add(1, Ordering::Relaxed);
        assert!(get(&c, &[1; 32], None).is_none());
        // Expired entries are dropped, and their bytes with them.
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn max_age_refuses_older_entries_without_dropping_them() {
        let (c, t) = cache(1 << 20);
        c.put([2; 32], answer("hi"), Duration::from_secs(300));
        t.fetch_add(10_000, Ordering::Relaxed);
        assert!(get(&c, &[2; 32], Some(Duration::from_secs(5))).is_none());
        assert!(get(&c, &[2; 32], Some(Duration::from_secs(10))).is_some());
        assert!(get(&c, &[2; 32], None).is_some());
    }

    #[test]
    fn the_byte_bound_holds_and_counts_evictions() {
        let max = 64 * 1024;
        let (c, _) = cache(max);
        let text = "x".repeat(4000);
        for i in 0..200u8 {
            c.put([i; 32], answer(&text), Duration::from_secs(300));
            assert!(c.bytes() <= max, "{} > {max} after {i}", c.bytes());
        }
        let held: u64 = c.memory.iter().map(|(_, e)| u64::from(e.size)).sum();
        assert_eq!(held, c.bytes());
        assert!(c.memory.entry_count() < 200 && c.memory.entry_count() > 0);
    }

    #[test]
    fn concurrent_fills_never_show_more_than_the_bound() {
        let max = 64 * 1024;
        let (c, _) = cache(max);
        let c = Arc::new(c);
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..200u8 {
                        let mut key = [i; 32];
                        key[0] = t;
                        let text = "z".repeat(1000 + usize::from(i) * 7);
                        c.put(key, answer(&text), Duration::from_secs(300));
                        assert!(c.bytes() <= max, "{} > {max}", c.bytes());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        c.memory.run_pending_tasks();
        let held: u64 = c.memory.iter().map(|(_, e)| u64::from(e.size)).sum();
        assert_eq!(held, c.bytes());
    }

    #[test]
    fn oversized_answers_are_not_stored() {
        let (c, _) = cache(1 << 20);
        assert!(!c.put(
            [3; 32],
            answer(&"y".repeat(70_000)),
            Duration::from_secs(60)
        ));
        assert!(get(&c, &[3; 32], None).is_none());
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn remove_and_clear() {
        let (c, _) = cache(1 << 20);
        c.put([4; 32], answer("a"), Duration::from_secs(60));
        c.put([5; 32], answer("b"), Duration::from_secs(60));
        assert_eq!(block_on(c.remove(&[4; 32])), Ok(true));
        assert_eq!(block_on(c.remove(&[4; 32])), Ok(false));
        assert!(get(&c, &[5; 32], None).is_some());
        assert_eq!(block_on(c.clear()), Ok(0));
        assert!(get(&c, &[5; 32], None).is_none());
        assert_eq!(c.bytes(), 0);
    }
}
