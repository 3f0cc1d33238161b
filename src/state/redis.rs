//! Limits in Redis, shared by every instance that points at the same server.
//!
//! The rules are those of [`super::window`], run as Lua scripts so each decision is
//! atomic on the server: one round trip (`EVALSHA`) admits, settlement is a second
//! script sent in the background after the response. Time is the server's (`TIME`),
//! so instances with skewed clocks still agree. The keys of one gateway key share a
//! hash tag (`{name}`), so the scripts work on Redis Cluster too.
//!
//! Keys per gateway key (`P` = `state.redis.key_prefix`, `K` = the key's name):
//! - `P:{K}:req`  sorted set: request id -> admission time (ms), the rpm log;
//! - `P:{K}:tok`  sorted set: request id -> admission time, the tpm log;
//! - `P:{K}:tokv` hash: request id -> tokens, and `_sum` the total in the window;
//! - `P:{K}:conc` sorted set: request id -> lease end; a request that never settles
//!   (the instance died) stops counting when its lease ends;
//! - `P:{K}:spend` hash: `p` the budget period's start (ms), `s` nano-dollars spent
//!   and reserved in it, and request id -> its open reservation.
//!
//! Every key carries a TTL, so a key that stops sending leaves nothing behind; the
//! one exception is the spend of a `total` budget, which must outlive idle spells.
//!
//! The connection is a redis-rs `ConnectionManager` (reconnects by itself), made in
//! the background service [`RedisConnector`] so its I/O task lives on that service's
//! runtime; until it exists, and whenever Redis does not answer within
//! `state.redis.timeout_ms`, admission follows `on_error`.

use super::budget::BudgetLeft;
use super::window::WINDOW;
use super::{Decision, Grant, LimitKind, Quota, Remaining};
use crate::config::{GatewayKey, RedisConfig};
use crate::metrics;
use async_trait::async_trait;
use log::{info, warn};
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// How long a concurrency slot is held when its request never settles.
const CONCURRENCY_LEASE: Duration = Duration::from_secs(15 * 60);
/// At most one log line about Redis errors per this long (the metric counts all).
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

const ADMIT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rid = ARGV[1]
local rpm, tpm, conc = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local need, window, lease = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local cut = now - window
local limited, wait = 0, -1
local function deny(code, ms)
  if ms > wait then limited = code; wait = ms end
end
local function oldest(key)
  local e = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #e == 0 then return 0 end
  return tonumber(e[2]) + window - now
end
local nreq, sum = 0, 0
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cut)
  nreq = redis.call('ZCARD', KEYS[1])
  if nreq >= rpm then
    local e = redis.call('ZRANGE', KEYS[1], nreq - rpm, nreq - rpm, 'WITHSCORES')
    deny(1, tonumber(e[2]) + window - now)
  end
end
if tpm > 0 then
  local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cut)
  local i = 1
  while i <= #old do
    local batch = {}
    for j = i, math.min(i + 999, #old) do batch[#batch + 1] = old[j] end
    local v = redis.call('HMGET', KEYS[3], unpack(batch))
    local freed = 0
    for j = 1, #v do freed = freed + (tonumber(v[j]) or 0) end
    -- Lua writes -0 for a negated 0, which HINCRBY refuses.
    if freed ~= 0 then redis.call('HINCRBY', KEYS[3], '_sum', -freed) end
    redis.call('HDEL', KEYS[3], unpack(batch))
    i = i + 1000
  end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cut) end
  sum = tonumber(redis.call('HGET', KEYS[3], '_sum')) or 0
  if need > tpm then need = tpm end
  if sum + need > tpm then
    local over = sum + need - tpm
    local e = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
    for j = 1, #e, 2 do
      over = over - (tonumber(redis.call('HGET', KEYS[3], e[j])) or 0)
      if over <= 0 then deny(2, tonumber(e[j + 1]) + window - now); break end
    end
    if over > 0 then deny(2, window) end
  end
end
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  if redis.call('ZCARD', KEYS[4]) >= conc then deny(3, 1000) end
end
local budget, period, cost = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local spent, ends = 0, -1
if budget > 0 then
  local start = 0
  if period > 0 then
    start = now - now % period
    ends = start + period - now
  end
  if tonumber(redis.call('HGET', KEYS[5], 'p')) ~= start then
    redis.call('DEL', KEYS[5])
    redis.call('HSET', KEYS[5], 'p', start, 's', 0)
  end
  spent = tonumber(redis.call('HGET', KEYS[5], 's')) or 0
  if spent + cost > budget then
    -- Over budget wins over every other limit: waiting a minute will not help.
    limited = 4
    wait = ends
  end
end
if limited == 0 then
  if rpm > 0 then
    redis.call('ZADD', KEYS[1], now, rid)
    redis.call('PEXPIRE', KEYS[1], window)
    nreq = nreq + 1
  end
  if tpm > 0 then
    redis.call('ZADD', KEYS[2], now, rid)
    redis.call('HSET', KEYS[3], rid, need)
    redis.call('HINCRBY', KEYS[3], '_sum', need)
    redis.call('PEXPIRE', KEYS[2], window)
    redis.call('PEXPIRE', KEYS[3], window)
    sum = sum + need
  end
  if conc > 0 then
    redis.call('ZADD', KEYS[4], now + lease, rid)
    redis.call('PEXPIRE', KEYS[4], lease)
  end
  if budget > 0 then
    redis.call('HSET', KEYS[5], rid, cost)
    redis.call('HINCRBY', KEYS[5], 's', cost)
    spent = spent + cost
    -- Late settlements of this period still find it for an hour after its end.
    if period > 0 then redis.call('PEXPIRE', KEYS[5], ends + 3600000) end
  end
end
local rr, rt, rb = -1, -1, -1
if rpm > 0 then rr = math.max(rpm - nreq, 0) end
if tpm > 0 then rt = math.max(tpm - sum, 0) end
if budget > 0 then rb = math.max(budget - spent, 0) end
return {limited, wait, rr, oldest(KEYS[1]), rt, oldest(KEYS[2]), need, rb, ends}
"#;

const SETTLE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rid, used, reserved = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local window, tpm, spent = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZREM', KEYS[3], rid)
-- A reservation of a period that has ended went with it.
local held = tonumber(redis.call('HGET', KEYS[4], rid))
if held then
  redis.call('HDEL', KEYS[4], rid)
  if spent ~= held then redis.call('HINCRBY', KEYS[4], 's', spent - held) end
end
if tpm == 0 then return 0 end
local at = redis.call('ZSCORE', KEYS[1], rid)
if at and tonumber(at) > now - window then
  local old = tonumber(redis.call('HGET', KEYS[2], rid)) or 0
  redis.call('HSET', KEYS[2], rid, used)
  if used ~= old then redis.call('HINCRBY', KEYS[2], '_sum', used - old) end
elseif used > reserved then
  local extra = rid .. ':x'
  redis.call('ZADD', KEYS[1], now, extra)
  redis.call('HSET', KEYS[2], extra, used - reserved)
  redis.call('HINCRBY', KEYS[2], '_sum', used - reserved)
  redis.call('PEXPIRE', KEYS[1], window)
  redis.call('PEXPIRE', KEYS[2], window)
end
return 1
"#;

/// Undoes an admission whose reply was lost (timeout, broken connection): the script
/// may have run, and nothing would ever settle it.
const CANCEL: &str = r#"
local rid = ARGV[1]
redis.call('ZREM', KEYS[1], rid)
redis.call('ZREM', KEYS[4], rid)
if redis.call('ZREM', KEYS[2], rid) == 1 then
  local v = tonumber(redis.call('HGET', KEYS[3], rid)) or 0
  redis.call('HDEL', KEYS[3], rid)
  if v ~= 0 then redis.call('HINCRBY', KEYS[3], '_sum', 0 - v) end
end
local held = tonumber(redis.call('HGET', KEYS[5], rid))
if held then
  redis.call('HDEL', KEYS[5], rid)
  if held ~= 0 then redis.call('HINCRBY', KEYS[5], 's', 0 - held) end
end
return 1
"#;

static ADMIT_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(ADMIT));
static SETTLE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SETTLE));
static CANCEL_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(CANCEL));

/// An admitted request's entry in Redis, settled when the request ends; a ticket
/// dropped unsettled (a request cut short by a panic or a shutdown) settles at its
/// reservation, so its concurrency slot does not wait for the lease.
pub struct Ticket {
    shared: Arc<Shared>,
    /// The four Redis keys of this gateway key.
    keys: Arc<KeyNames>,
    rid: String,
    pub reserved: u64,
    /// Nano-dollars reserved against the key's budget (0 without one).
    pub reserved_spend: u64,
    tpm: bool,
    concurrency: bool,
    budget: bool,
    window: Duration,
    settled: bool,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("rid", &self.rid)
            .field("reserved", &self.reserved)
            .finish_non_exhaustive()
    }
}

impl Ticket {
    /// Sends the settlement in the background: the response has gone out already,
    /// and the next request on this connection need not wait for Redis.
    pub fn settle(mut self, used: u64, spent: u64) {
        self.settled = true;
        self.send_settle(used, spent);
    }

    fn send_settle(&mut self, used: u64, spent: u64) {
        if !self.tpm && !self.concurrency && !self.budget {
            return;
        }
        let keys = self.keys.clone();
        let rid = std::mem::take(&mut self.rid);
        let (reserved, tpm, window) = (self.reserved, self.tpm, self.window);
        self.shared.in_background("settle", move || {
            let mut call = SETTLE_SCRIPT.prepare_invoke();
            call.key(&keys.tok)
                .key(&keys.tokv)
                .key(&keys.conc)
                .key(&keys.spend)
                .arg(&rid)
                .arg(used)
                .arg(reserved)
                .arg(window.as_millis() as u64)
                .arg(u64::from(tpm))
                .arg(spent);
            Call::Script(call)
        });
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.settled {
            self.send_settle(self.reserved, self.reserved_spend);
        }
    }
}

#[derive(Debug)]
struct KeyNames {
    req: String,
    tok: String,
    tokv: String,
    conc: String,
    spend: String,
}

/// The connection and what background sends need, shared by every ticket.
struct Shared {
    conn: ConnectionManager,
    /// The connector's runtime, where the connection's I/O task lives.
    runtime: Handle,
    errors: ErrorLog,
    timeout: Duration,
}

/// What a background send runs.
enum Call {
    Script(redis::ScriptInvocation<'static>),
    Cmd(redis::Cmd),
}

impl Shared {
    /// Runs a script or command off the request path, with one retry if it fails.
    fn in_background<F>(self: &Arc<Self>, op: &'static str, call: F)
    where
        F: Fn() -> Call + Send + 'static,
    {
        let shared = self.clone();
        self.runtime.spawn(async move {
            let mut conn = shared.conn.clone();
            for attempt in 0..2 {
                let t = shared.timeout;
                let r = match call() {
                    Call::Script(s) => {
                        tokio::time::timeout(t, s.invoke_async::<redis::Value>(&mut conn)).await
                    }
                    Call::Cmd(c) => {
                        tokio::time::timeout(t, c.query_async::<redis::Value>(&mut conn)).await
                    }
                };
                match r {
                    Ok(Ok(_)) => return,
                    Ok(Err(e)) if attempt == 1 => shared.errors.record(op, &e.to_string()),
                    Err(_) if attempt == 1 => shared.errors.record(op, "no answer in time"),
                    _ => {}
                }
            }
        });
    }
}

/// One Redis server in use, for one purpose (limits, the cache): its settings, the
/// connection once [`RedisConnector`] made it, and the rate-limited error log.
pub struct RedisLink {
    config: RedisConfig,
    connected: OnceLock<Arc<Shared>>,
    errors: ErrorLog,
    /// Log lines start with it ("rate-limit state", "response cache").
    subject: &'static str,
    /// What requests meet while Redis does not answer, for the start-up log line.
    fallback: String,
}

impl RedisLink {
    pub fn new(config: RedisConfig, subject: &'static str, fallback: String) -> Self {
        let errors = ErrorLog(Arc::new(ErrorLogInner {
            scrub: crate::config::keys::url_password(&config.url)
                .map(|p| crate::proxy::scrub::Scrubber::new(&[p.to_string()])),
            subject,
            ..Default::default()
        }));
        RedisLink {
            config,
            connected: OnceLock::new(),
            errors,
            subject,
            fallback,
        }
    }

    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// Counts (`switchyard_state_errors_total{op}`) and logs, at most once per 10 s.
    pub fn record_error(&self, op: &'static str, message: &str) {
        self.errors.record(op, message);
    }

    pub fn recovered(&self) {
        self.errors.recovered();
    }

    /// Runs one command within the link's timeout; the error says what failed.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, String> {
        let Some(c) = self.connected.get() else {
            return Err("not connected to Redis yet".into());
        };
        let mut conn = c.conn.clone();
        match tokio::time::timeout(self.config.timeout, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.config.timeout)),
        }
    }

    /// Sends `cmd` off the request path (retried once); failures are recorded.
    pub fn in_background(&self, op: &'static str, cmd: redis::Cmd) {
        match self.connected.get() {
            Some(c) => c.in_background(op, move || Call::Cmd(cmd.clone())),
            None => self.errors.record(op, "not connected to Redis yet"),
        }
    }

    /// Makes the connection (lazily: it connects on first use and reconnects by
    /// itself) on the current runtime, which must outlive it.
    pub fn connect(&self) -> redis::RedisResult<ConnectionManager> {
        let client = redis::Client::open(self.config.url.as_str())?;
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.config.timeout.max(Duration::from_millis(500))))
            .set_response_timeout(Some(self.config.timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, cfg)?;
        let _ = self.connected.set(Arc::new(Shared {
            conn: conn.clone(),
            runtime: Handle::current(),
            errors: self.errors.clone(),
            timeout: self.config.timeout,
        }));
        Ok(conn)
    }
}

pub struct RedisLimits {
    link: Arc<RedisLink>,
    /// Per gateway key, by index into `Config::keys` (built once: no formatting per
    /// request).
    names: Vec<Arc<KeyNames>>,
    /// [`WINDOW`]; shorter in tests that watch entries leave it.
    window: Duration,
    instance: u64,
    counter: AtomicU64,
}

impl RedisLimits {
    pub fn new(config: RedisConfig, keys: &[GatewayKey]) -> Self {
        let fallback = format!(
            "requests follow state.redis.on_error ({:?})",
            config.on_error
        );
        let names = keys
            .iter()
            .map(|k| {
                let base = format!("{}:{{{}}}", config.key_prefix, k.name);
                Arc::new(KeyNames {
                    req: format!("{base}:req"),
                    tok: format!("{base}:tok"),
                    tokv: format!("{base}:tokv"),
                    conc: format!("{base}:conc"),
                    spend: format!("{base}:spend"),
                })
            })
            .collect();
        RedisLimits {
            link: Arc::new(RedisLink::new(config, "rate-limit state", fallback)),
            names,
            window: WINDOW,
            instance: fastrand::u64(..),
            counter: AtomicU64::new(0),
        }
    }

    pub fn link(&self) -> &Arc<RedisLink> {
        &self.link
    }

    pub async fn admit(&self, index: usize, key: &GatewayKey, tokens: u64, spend: u64) -> Decision {
        let unavailable = Decision::Unavailable(self.link.config.on_error);
        let (Some(c), Some(names)) = (self.link.connected.get(), self.names.get(index)) else {
            self.link
                .record_error("admit", "not connected to Redis yet");
            return unavailable;
        };
        let l = &key.limits;
        let rid = format!(
            "{:016x}-{:x}",
            self.instance,
            self.counter.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = c.conn.clone();
        let mut call = ADMIT_SCRIPT.prepare_invoke();
        call.key(&names.req)
            .key(&names.tok)
            .key(&names.tokv)
            .key(&names.conc)
            .key(&names.spend)
            .arg(&rid)
            .arg(l.rpm.unwrap_or(0))
            .arg(l.tpm.unwrap_or(0))
            .arg(l.concurrency.unwrap_or(0))
            .arg(tokens)
            .arg(self.window.as_millis() as u64)
            .arg(CONCURRENCY_LEASE.as_millis() as u64)
            .arg(l.budget.map_or(0, |b| b.nano_usd))
            .arg(l.budget.and_then(|b| b.period.millis()).unwrap_or(0))
            .arg(spend);
        let reply = tokio::time::timeout(
            self.link.config.timeout,
            call.invoke_async::<Vec<i64>>(&mut conn),
        )
        .await;
        let failure = match reply {
            Ok(Ok(v)) if v.len() == 9 => Ok(v),
            Ok(Ok(v)) => Err(format!("unexpected script reply {v:?}")),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "no answer within {:?} (state.redis.timeout_ms)",
                self.link.config.timeout
            )),
        };
        let v = match failure {
            Ok(v) => v,
            Err(message) => {
                self.link.record_error("admit", &message);
                // The script may have run: take its entries out again.
                let names = names.clone();
                c.in_background("cancel", move || {
                    let mut call = CANCEL_SCRIPT.prepare_invoke();
                    call.key(&names.req)
                        .key(&names.tok)
                        .key(&names.tokv)
                        .key(&names.conc)
                        .key(&names.spend)
                        .arg(&rid);
                    Call::Script(call)
                });
                return unavailable;
            }
        };
        self.link.recovered();
        let ms = |x: i64| Duration::from_millis(x.max(0) as u64);
        let quota = Quota {
            requests: l.rpm.map(|limit| Remaining {
                limit,
                remaining: v[2].max(0) as u64,
                reset: ms(v[3]),
            }),
            tokens: l.tpm.map(|limit| Remaining {
                limit,
                remaining: v[4].max(0) as u64,
                reset: ms(v[5]),
            }),
            budget: l.budget.map(|_| BudgetLeft {
                remaining_nano: v[7].max(0) as u64,
                resets_in: (v[8] >= 0).then(|| ms(v[8])),
            }),
        };
        let limit = match v[0] {
            0 => {
                return Decision::Admit(
                    Grant::Redis(Ticket {
                        shared: c.clone(),
                        keys: names.clone(),
                        rid,
                        reserved: v[6].max(0) as u64,
                        reserved_spend: if l.budget.is_some() { spend } else { 0 },
                        tpm: l.tpm.is_some(),
                        concurrency: l.concurrency.is_some(),
                        budget: l.budget.is_some(),
                        window: self.window,
                        settled: false,
                    }),
                    quota,
                )
            }
            1 => LimitKind::Rpm,
            2 => LimitKind::Tpm,
            3 => LimitKind::Concurrency,
            _ => LimitKind::Budget,
        };
        Decision::Limited {
            limit,
            // A `total` budget never resets (-1).
            retry_after: ms(v[1]),
            quota,
        }
    }
}

/// Counts every Redis error in a metric and logs at most one line per interval, with
/// how many were not logged; says so once when Redis answers again.
#[derive(Clone)]
struct ErrorLog(Arc<ErrorLogInner>);

#[derive(Default)]
struct ErrorLogInner {
    /// Scrubs the URL's password from messages that came from the client library.
    scrub: Option<crate::proxy::scrub::Scrubber>,
    subject: &'static str,
    /// Milliseconds since `EPOCH` of the last line logged, 0 for none.
    last_logged: AtomicU64,
    suppressed: AtomicU64,
    failing: std::sync::atomic::AtomicBool,
}

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

impl ErrorLog {
    fn record(&self, op: &'static str, message: &str) {
        metrics::STATE_ERRORS.with_label_values(&[op]).inc();
        self.0.failing.store(true, Ordering::Relaxed);
        let now = EPOCH.elapsed().as_millis() as u64 + 1;
        let last = self.0.last_logged.load(Ordering::Relaxed);
        let due = last == 0 || now - last >= ERROR_LOG_INTERVAL.as_millis() as u64;
        if due
            && self
                .0
                .last_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let more = self.0.suppressed.swap(0, Ordering::Relaxed);
            let message = match &self.0.scrub {
                Some(s) => s.text(message),
                None => message.to_string(),
            };
            warn!(
                "{}: Redis {op} failed: {message} ({more} more errors in the last {}s; \
                 see switchyard_state_errors_total)",
                self.0.subject,
                ERROR_LOG_INTERVAL.as_secs()
            );
        } else {
            self.0.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn recovered(&self) {
        if self.0.failing.load(Ordering::Relaxed) && self.0.failing.swap(false, Ordering::Relaxed) {
            info!("{}: Redis answers again", self.0.subject);
        }
    }
}

/// Background service: makes a link's Redis connection on its own runtime and says
/// at start-up whether Redis answers. The gateway serves either way.
pub struct RedisConnector(pub Arc<RedisLink>);

#[async_trait]
impl BackgroundService for RedisConnector {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let link = &self.0;
        let (subject, fallback) = (link.subject, &link.fallback);
        let url_host = redacted_url(&link.config.url);
        let mut probe = match link.connect() {
            Ok(c) => c,
            Err(e) => {
                warn!("{subject}: cannot use Redis at {url_host}: {e}; {fallback}");
                return;
            }
        };
        match tokio::time::timeout(
            Duration::from_secs(2),
            redis::cmd("PING").query_async::<String>(&mut probe),
        )
        .await
        {
            Ok(Ok(_)) => info!("{subject}: Redis at {url_host} answers; state is shared"),
            Ok(Err(e)) => warn!(
                "{subject}: Redis at {url_host} is unreachable ({e}); {fallback} until it answers"
            ),
            Err(_) => warn!(
                "{subject}: Redis at {url_host} did not answer PING within 2 s; {fallback} until \
                 it answers"
            ),
        }
        let _ = shutdown.changed().await;
    }
}

fn redacted_url(url: &str) -> String {
    let (url, query) = match url.split_once('?') {
        Some((u, _)) => (u, "?…"),
        None => (url, ""),
    };
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}{query}", &url[..s], &url[at + 1..]),
        _ => format!("{url}{query}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{KeyLimits, OnError};

    /// A real redis-server on a free port (`.ci/run` installs it), killed on drop.
    struct Server(std::process::Child, u16);

    impl Server {
        fn start() -> Server {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
            let child = std::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server runs (apt-get install redis-server, or .ci/run)");
            let end = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < end, "redis-server did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            Server(child, port)
        }

        fn query<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
            let c = redis::Client::open(format!("redis://127.0.0.1:{}", self.1)).unwrap();
            let mut cmd = redis::cmd(args[0]);
            for a in &args[1..] {
                cmd.arg(*a);
            }
            cmd.query(&mut c.get_connection().unwrap()).unwrap()
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn limits(server: &Server, window: Duration) -> (RedisLimits, GatewayKey) {
        let key = GatewayKey {
            name: "k".into(),
            sha256: [0; 32],
            plain: None,
            models: None,
            limits: KeyLimits {
                rpm: Some(100),
                tpm: Some(1000),
                concurrency: Some(1),
                budget: None,
            },
        };
        let config = RedisConfig {
            url: format!("redis://127.0.0.1:{}", server.1),
            timeout: Duration::from_secs(2),
            on_error: OnError::FailClosed,
            key_prefix: "t".into(),
        };
        let mut r = RedisLimits::new(config, std::slice::from_ref(&key));
        r.window = window;
        r.link.connect().unwrap();
        (r, key)
    }

    async fn until(mut f: impl FnMut() -> bool) {
        let end = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < end, "never happened");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn ticket(d: Decision) -> Ticket {
        match d {
            Decision::Admit(Grant::Redis(t), _) => t,
            d => panic!("not admitted: {d:?}"),
        }
    }

    #[tokio::test]
    async fn entries_settled_to_zero_leave_the_window_without_breaking_admission() {
        // Failed requests settle to 0 tokens; when only such entries leave the window,
        // the freed total is 0, and Lua's -0 used to make HINCRBY fail every admission.
        let server = Server::start();
        let (r, key) = limits(&server, Duration::from_millis(300));
        ticket(r.admit(0, &key, 100, 0).await).settle(0, 0);
        until(|| server.query::<Option<i64>>(&["HGET", "t:{k}:tokv", "_sum"]) == Some(0)).await;
        // A second request keeps the keys alive past the first one's window.
        tokio::time::sleep(Duration::from_millis(150)).await;
        ticket(r.admit(0, &key, 100, 0).await).settle(100, 0);
        until(|| server.query::<i64>(&["ZCARD", "t:{k}:conc"]) == 0).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t = ticket(r.admit(0, &key, 100, 0).await);
        assert_eq!(t.reserved, 100);
        assert_eq!(server.query::<i64>(&["HGET", "t:{k}:tokv", "_sum"]), 200);
    }

    #[tokio::test]
    async fn lost_admissions_are_undone_and_dropped_tickets_settle() {
        let server = Server::start();
        let (r, key) = limits(&server, WINDOW);
        // A ticket dropped unsettled gives its concurrency slot back.
        drop(ticket(r.admit(0, &key, 100, 0).await));
        until(|| server.query::<i64>(&["ZCARD", "t:{k}:conc"]) == 0).await;
        // The cancel script (sent when an admission's reply was lost) takes every
        // entry of the request out again.
        let t = ticket(r.admit(0, &key, 100, 0).await);
        let mut conn = r.link.connected.get().unwrap().conn.clone();
        let mut call = CANCEL_SCRIPT.prepare_invoke();
        call.key("t:{k}:req")
            .key("t:{k}:tok")
            .key("t:{k}:tokv")
            .key("t:{k}:conc")
            .key("t:{k}:spend")
            .arg(&t.rid);
        call.invoke_async::<i64>(&mut conn).await.unwrap();
        assert_eq!(server.query::<i64>(&["ZCARD", "t:{k}:conc"]), 0);
        assert_eq!(server.query::<i64>(&["ZCARD", "t:{k}:req"]), 1);
        assert_eq!(server.query::<i64>(&["HGET", "t:{k}:tokv", "_sum"]), 100);
        std::mem::forget(t);
    }

    #[test]
    fn passwords_stay_out_of_log_lines() {
        assert_eq!(
            super::redacted_url("redis://user:hunter2@10.0.0.1:6379/0"),
            "redis://…@10.0.0.1:6379/0"
        );
        assert_eq!(
            super::redacted_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(
            super::redacted_url("redis+unix:///run/redis.sock?user=u&pass=hunter2"),
            "redis+unix:///run/redis.sock?…"
        );
    }
}
