//! Talking to providers: resolved peers and one HTTP exchange.
//!
//! Host names are resolved at start-up and refreshed by a background service, never
//! on the request path (`HttpPeer::new` with a name would resolve, blocking, per
//! request). Exchanges use Pingora's connectors and client sessions. HTTP/1 idle
//! connections are kept in our own [`pool`]; providers with `http2: true` share a few
//! multiplexed connections from Pingora's HTTP/2 connector (which keeps its own pool).

mod pool;

use crate::config::{Config, Provider, Timeouts};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use log::{debug, info, warn};
use pingora_core::connectors::http::v2::Connector as H2Connector;
use pingora_core::protocols::http::client::HttpSession;
use pingora_core::protocols::http::v1::client::{
    http_req_header_to_wire, HttpSession as Http1Session,
};
use pingora_core::protocols::ALPN;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_core::upstreams::peer::Peer;
use pingora_error::{Error, ErrorType};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_load_balancing::health_check::HttpHealthCheck;
use pingora_load_balancing::selection::RoundRobin;
use pingora_load_balancing::LoadBalancer;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// How long an idle pooled upstream connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(60);
const RESOLVE_EVERY: Duration = Duration::from_secs(30);
/// PING interval on shared HTTP/2 provider connections.
const H2_PING_EVERY: Duration = Duration::from_secs(30);
/// How often the pool drops expired or closed idle connections.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Resolved addresses per provider, swapped atomically by the resolver.
pub struct Upstreams {
    /// Makes HTTP/2 connections and keeps them (idle and in use); its transport
    /// connector also makes the HTTP/1 connections.
    h2: Arc<H2Connector>,
    /// Per peer, for `http2` providers: see [`H2Peer`].
    h2_peers: std::sync::Mutex<HashMap<u64, Arc<H2Peer>>>,
    /// Idle HTTP/1 connections.
    pool: pool::Pool,
    peers: HashMap<String, ArcSwap<Vec<SocketAddr>>>,
    /// Providers with `addresses`: replicas behind a health-checked load balancer.
    balanced: HashMap<String, Arc<LoadBalancer<RoundRobin>>>,
    /// Replicas that refused a connection, skipped until the time given (see
    /// [`Upstreams::send`]).
    refused: std::sync::Mutex<HashMap<SocketAddr, Instant>>,
    providers: Vec<Arc<Provider>>,
}

/// New-connection state of one `http2` peer.
#[derive(Default)]
struct H2Peer {
    /// Held while a new HTTP/2 connection is made, so a burst of requests waits for
    /// that connection's free streams instead of each opening its own.
    connecting: tokio::sync::Mutex<()>,
    /// The server chose HTTP/1.1 over TLS (ALPN): later connections skip the gate
    /// (HTTP/1.1 connections carry one request each, so they must not be serialized).
    declined: std::sync::atomic::AtomicBool,
}

/// Why an attempt failed; decides whether the next candidate is tried.
#[derive(Debug, Clone)]
pub enum AttemptError {
    /// Could not reach the provider (refused, DNS, TLS).
    Connect(String),
    /// Connect, read or write timed out.
    Timeout(String),
    /// The provider answered with an error status.
    Status {
        status: u16,
        /// The provider's own error message, if its body had one.
        message: Option<String>,
        /// From `retry-after-ms` / `retry-after`.
        retry_after: Option<Duration>,
    },
    /// The provider answered something unusable.
    Protocol(String),
    /// The provider's content filter refused the request (a 400 that says so).
    ContentFilter {
        /// The provider's own message.
        message: Option<String>,
    },
}

impl AttemptError {
    /// Whether another candidate could succeed where this one failed. Invalid requests
    /// (400, 413, 422) would fail the same everywhere and go back to the client at once.
    pub fn try_next(&self) -> bool {
        match self {
            AttemptError::Status { status, .. } => !matches!(status, 400 | 413 | 422),
            AttemptError::ContentFilter { .. } => false,
            _ => true,
        }
    }

    /// How long the provider asked to be left alone, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AttemptError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short, bounded label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            AttemptError::Connect(_) => "connect_error",
            AttemptError::Timeout(_) => "timeout",
            AttemptError::Status { status: 429, .. } => "rate_limited",
            AttemptError::Status { status, .. } if *status >= 500 => "status_5xx",
            AttemptError::Status { .. } => "status_4xx",
            AttemptError::Protocol(_) => "protocol_error",
            AttemptError::ContentFilter { .. } => "content_filter",
        }
    }

    fn from_pingora(e: &Error) -> Self {
        if out_of_fds(e) {
            // Pingora reports this as an internal error; it is the gateway's own limit.
            return AttemptError::Connect(
                "the gateway is out of file descriptors (EMFILE/ENFILE) and could not open \
                 a provider connection; raise its open-files limit (LimitNOFILE in systemd, \
                 ulimit -n)"
                    .into(),
            );
        }
        let what = format!(
            "{}: {}",
            e.etype().as_str(),
            e.context.as_ref().map(|c| c.as_str()).unwrap_or("")
        );
        match e.etype() {
            ErrorType::ConnectTimedout
            | ErrorType::ReadTimedout
            | ErrorType::WriteTimedout
            | ErrorType::TLSHandshakeTimedout => AttemptError::Timeout(what),
            ErrorType::ConnectRefused
            | ErrorType::ConnectNoRoute
            | ErrorType::ConnectError
            | ErrorType::TLSHandshakeFailure
            | ErrorType::InvalidCert
            | ErrorType::HandshakeError
            | ErrorType::SocketError => AttemptError::Connect(what),
            _ => AttemptError::Protocol(what),
        }
    }
}

/// A failed send, and the replica's address when the request was never written to
/// it (a failed connect), so it may go to another replica.
struct Unsent(AttemptError, Option<SocketAddr>);

/// Whether a request that failed on a reused connection (or HTTP/2 stream) may be sent
/// again on a fresh one: only when the connection was stale or the provider refused the
/// stream before processing it. Never after a timeout: the provider may be generating
/// (and billing) the answer, and a resend would double it.
fn stale_connection(e: &Error, http2: bool) -> bool {
    match e.etype() {
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => false,
        // HTTP/2 says which streams were not processed (GOAWAY, REFUSED_STREAM); Pingora
        // marks exactly those retryable.
        _ if http2 => e.retry(),
        // HTTP/1: a kept-alive connection the provider closed meanwhile.
        _ => true,
    }
}

/// Whether the connect failed because the process (EMFILE) or system (ENFILE) has no
/// file descriptors left.
fn out_of_fds(e: &Error) -> bool {
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    e.root_cause()
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::raw_os_error)
        .is_some_and(|code| code == EMFILE || code == ENFILE)
}

/// An upstream response whose header has arrived; the body is read on demand.
pub struct Exchange {
    /// An HTTP/1 connection or an HTTP/2 stream. Holds the response header (checked
    /// present by `exchange`; not copied out, since every open stream would carry it).
    session: HttpSession,
    peer: Box<HttpPeer>,
    /// For HTTP/2 streams: where to hand the stream back if dropped without `release`.
    h2: Option<Arc<H2Connector>>,
}

impl Drop for Exchange {
    /// Dropped without `release` (the client left, an error path): an HTTP/2 stream is
    /// reset and handed back, so its shared connection returns to Pingora's pools (and
    /// their idle timeout) instead of lingering. HTTP/1: the socket just closes.
    fn drop(&mut self) {
        let Some(h2) = self.h2.take() else { return };
        let HttpSession::H2(mut s) = std::mem::replace(&mut self.session, HttpSession::Custom(()))
        else {
            return;
        };
        // Handing back may spawn the pool's idle-timeout task: only inside a runtime
        // (not while runtimes are torn down at exit).
        if tokio::runtime::Handle::try_current().is_ok() {
            if !s.response_finished() {
                s.shutdown();
            }
            h2.release_http_session(s, &*self.peer, Some(POOL_IDLE));
        }
    }
}

impl Exchange {
    /// The response header (`exchange` returns only once it was read, so it is
    /// there; `None` is not expected).
    pub fn header(&self) -> Option<&ResponseHeader> {
        self.session.response_header()
    }

    pub fn status(&self) -> u16 {
        self.header().map_or(502, |h| h.status.as_u16())
    }

    /// Next body chunk; `None` at the end.
    pub async fn read_chunk(&mut self) -> Result<Option<Bytes>, AttemptError> {
        self.session
            .read_response_body()
            .await
            .map_err(|e| AttemptError::from_pingora(&e))
    }

    /// The whole body, refusing more than `limit` bytes.
    pub async fn read_all(&mut self, limit: usize) -> Result<Vec<u8>, AttemptError> {
        let mut body = Vec::new();
        while let Some(chunk) = self.read_chunk().await? {
            if body.len() + chunk.len() > limit {
                return Err(AttemptError::Protocol(format!(
                    "provider response is larger than {limit} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Returns the connection to its pool if the body was read to its end; otherwise
    /// closes it (HTTP/1) or resets just this stream (HTTP/2).
    ///
    /// Synchronous on purpose: an `async` release would hold the exchange, the session
    /// and Pingora's `reuse` future at once, ~3 KB laid into every request's future,
    /// for work that never waits on the path that matters.
    pub fn release(mut self, upstreams: &Upstreams) {
        let mut session = std::mem::replace(&mut self.session, HttpSession::Custom(()));
        let done = session.response_done();
        match session {
            HttpSession::H1(mut s) if done => {
                s.respect_keepalive();
                // `reuse` hands the stream back without waiting when the connection is
                // kept alive; otherwise it shuts the socket down, and if that would
                // wait (TLS close_notify), dropping the future closes it instead.
                if let Some(Some(stream)) = poll_once(s.reuse()) {
                    upstreams.pool.put(self.peer.reuse_hash(), stream);
                }
            }
            // Unfinished HTTP/1 response: dropping the session closes the connection.
            HttpSession::H1(_) => {}
            // The connection stays shared; Pingora pools it once its last stream ends.
            HttpSession::H2(mut s) => {
                if !done {
                    s.shutdown();
                }
                upstreams
                    .h2
                    .release_http_session(s, &*self.peer, Some(POOL_IDLE));
            }
            HttpSession::Custom(()) => {}
        }
    }
}

/// Polls `fut` once; `None` if it would have to wait (the future is then dropped).
fn poll_once<F: std::future::Future>(fut: F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(fut).poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

impl Upstreams {
    /// Resolves every provider once (blocking; called before the server starts) and
    /// builds load balancers for providers with `addresses`. The balancers that have
    /// a health check are returned too, to be run as background services.
    pub fn new(config: &Config) -> Self {
        let mut peers = HashMap::new();
        let mut balanced = HashMap::new();
        for p in &config.providers {
            if !p.addresses.is_empty() {
                match balancer(p) {
                    Ok(lb) => {
                        balanced.insert(p.name.clone(), Arc::new(lb));
                    }
                    Err(e) => warn!("provider '{}': addresses: {e}", p.name),
                }
                continue;
            }
            let addrs = resolve_blocking(p);
            if addrs.is_empty() {
                warn!(
                    "provider '{}': cannot resolve {}:{} yet; requests to it fail over until it resolves",
                    p.name, p.host, p.port
                );
            }
            peers.insert(p.name.clone(), ArcSwap::from_pointee(addrs));
        }
        Upstreams {
            h2: Arc::new(H2Connector::new(None)),
            h2_peers: Default::default(),
            pool: pool::Pool::new(POOL_IDLE),
            peers,
            balanced,
            refused: Default::default(),
            providers: config.providers.clone(),
        }
    }

    /// Balancers with an active health check, to run as background services.
    pub fn health_checked(&self) -> Vec<(String, Arc<LoadBalancer<RoundRobin>>)> {
        self.providers
            .iter()
            .filter(|p| p.health_check.is_some())
            .filter_map(|p| Some((p.name.clone(), self.balanced.get(&p.name)?.clone())))
            .collect()
    }

    /// Whether at least one provider has an address (readiness).
    pub fn any_resolved(&self) -> bool {
        self.peers.values().any(|a| !a.load().is_empty())
            || self
                .balanced
                .values()
                .any(|lb| lb.select(b"", 16).is_some())
    }

    fn peer(&self, p: &Provider, t: &Timeouts) -> Result<HttpPeer, AttemptError> {
        let addr = if let Some(lb) = self.balanced.get(&p.name) {
            let refused = self.refused_now();
            let backend = lb
                .select_with(b"", 256, |b, healthy| {
                    healthy && b.addr.as_inet().is_none_or(|a| !refused.contains(a))
                })
                // Every healthy replica refused lately: try them anyway.
                .or_else(|| lb.select(b"", 256))
                .ok_or_else(|| {
                    AttemptError::Connect(format!("no healthy address among {:?}", p.addresses))
                })?;
            backend.addr.as_inet().copied().ok_or_else(|| {
                AttemptError::Connect("replica address is not an IP address".into())
            })?
        } else {
            let addrs = self
                .peers
                .get(&p.name)
                .map(|a| a.load_full())
                .unwrap_or_default();
            addrs
                .get(fastrand::usize(0..addrs.len().max(1)))
                .copied()
                .ok_or_else(|| {
                    AttemptError::Connect(format!("cannot resolve {}:{}", p.host, p.port))
                })?
        };
        let mut peer = HttpPeer::new(addr, p.tls, p.host.clone());
        peer.options.connection_timeout = Some(t.connect);
        peer.options.total_connection_timeout = Some(t.connect.saturating_mul(2));
        peer.options.read_timeout = Some(t.first_byte);
        peer.options.write_timeout = Some(Duration::from_secs(60));
        peer.options.idle_timeout = Some(POOL_IDLE);
        if let Some(h2) = p.http2 {
            // Over TLS the provider may still pick HTTP/1.1; plain http means h2c with
            // prior knowledge (there is no negotiation).
            peer.options.alpn = if p.tls { ALPN::H2H1 } else { ALPN::H2 };
            peer.options.max_h2_streams = h2.max_streams;
            // A silently dropped shared connection would stall all its streams until
            // their read timeouts; pings find it (Pingora closes it on a missed PONG).
            peer.options.h2_ping_interval = Some(H2_PING_EVERY);
        }
        Ok(peer)
    }

    /// Replicas that refused a connection and are still skipped.
    fn refused_now(&self) -> Vec<SocketAddr> {
        let mut map = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        if map.is_empty() {
            return Vec::new();
        }
        let now = Instant::now();
        map.retain(|_, until| *until > now);
        map.keys().copied().collect()
    }

    /// How long a replica that refused a connection is skipped: until its health
    /// check has had the chance to mark it down (which then keeps it out until the
    /// check passes again).
    fn refusal_hold(p: &Provider) -> Duration {
        p.health_check
            .as_ref()
            .map_or(Duration::from_secs(10), |h| {
                h.interval.saturating_mul(h.unhealthy_after as u32 + 1) + h.timeout
            })
    }

    /// Sends one request and waits for the response header.
    ///
    /// A provider with replicas (`addresses`): a connection a replica refuses (or
    /// that fails before the request was written) sent nothing, so the next replica
    /// is tried at once, whatever `retries` says, and the refusing one is skipped
    /// until its health check catches up (HAProxy's `redispatch`).
    pub async fn send(
        &self,
        provider: &Provider,
        timeouts: &Timeouts,
        header: &RequestHeader,
        body: &Bytes,
    ) -> Result<Exchange, AttemptError> {
        let replicas = if self.balanced.contains_key(&provider.name) {
            provider.addresses.len()
        } else {
            1
        };
        let mut last = None;
        for _ in 0..replicas {
            let peer = self.peer(provider, timeouts)?;
            match self.send_to(provider, peer, timeouts, header, body).await {
                Err(Unsent(e, Some(addr))) if replicas > 1 => {
                    debug!(
                        "replica {addr} of {} refused: {e:?}; trying the next",
                        provider.name
                    );
                    self.refused
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(addr, Instant::now() + Self::refusal_hold(provider));
                    last = Some(e);
                }
                Err(Unsent(e, _)) => return Err(e),
                Ok(x) => return Ok(x),
            }
        }
        Err(last.unwrap_or_else(|| AttemptError::Connect("no replica accepted".into())))
    }

    /// [`Self::send`] to one peer. A pooled connection that turns out to be closed is
    /// retried once on a fresh one (not a new attempt).
    async fn send_to(
        &self,
        provider: &Provider,
        peer: HttpPeer,
        timeouts: &Timeouts,
        header: &RequestHeader,
        body: &Bytes,
    ) -> Result<Exchange, Unsent> {
        let sent = |e| Unsent(e, None);
        for try_fresh in [false, true] {
            let pooled = if try_fresh {
                None
            } else {
                self.reuse(provider, &peer).await
            };
            let reused = pooled.is_some();
            let mut session = match pooled {
                Some(s) => s,
                // Boxed: the connectors' futures (TLS, HTTP/2 handshake) are ~8 KB and
                // would otherwise be part of every request's future, pooled or not.
                None => match Box::pin(self.connect(provider, &peer, try_fresh)).await {
                    Ok(s) => s,
                    // Nothing was written: another replica may take the request.
                    Err(e) => return Err(Unsent(e, peer.address().as_inet().copied())),
                },
            };
            // The connectors apply connect timeouts only; I/O timeouts are per session.
            session.set_read_timeout(peer.options.read_timeout);
            session.set_write_timeout(peer.options.write_timeout);
            match exchange(&mut session, &peer, header, body).await {
                Ok(()) => {
                    // From here on, the read timeout is the gap allowed between chunks.
                    session.set_read_timeout(Some(timeouts.idle));
                    let h2 = matches!(session, HttpSession::H2(_)).then(|| self.h2.clone());
                    return Ok(Exchange {
                        session,
                        peer: Box::new(peer),
                        h2,
                    });
                }
                Err(e)
                    if reused
                        && !try_fresh
                        && stale_connection(&e, matches!(session, HttpSession::H2(_))) =>
                {
                    debug!(
                        "pooled connection to {} failed ({e}); retrying fresh",
                        provider.name
                    );
                    continue;
                }
                Err(e) => return Err(sent(AttemptError::from_pingora(&e))),
            }
        }
        Err(sent(AttemptError::Connect("no connection".into())))
    }

    /// A free stream on an open HTTP/2 connection, else an idle HTTP/1 connection
    /// (also for `http2` providers, whose TLS servers may have chosen HTTP/1.1).
    async fn reuse(&self, provider: &Provider, peer: &HttpPeer) -> Option<HttpSession> {
        if provider.http2.is_some() {
            match self.h2.reused_http_session(peer).await {
                Ok(Some(s)) => return Some(HttpSession::H2(s)),
                Ok(None) => {}
                Err(e) => debug!("no stream on open connection to {}: {e}", provider.name),
            }
        }
        let stream = self.pool.take(peer.reuse_hash())?;
        Some(HttpSession::H1(Http1Session::new_with_options(
            stream, peer,
        )))
    }

    /// A new connection (HTTP/2: a new connection and its first stream, unless one made
    /// meanwhile has a free stream and `fresh` is not asked for).
    async fn connect(
        &self,
        provider: &Provider,
        peer: &HttpPeer,
        fresh: bool,
    ) -> Result<HttpSession, AttemptError> {
        use std::sync::atomic::Ordering::Relaxed;
        let h2_peer = provider.http2.map(|_| {
            let mut map = self.h2_peers.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(peer.reuse_hash()).or_default().clone()
        });
        let session = match h2_peer {
            Some(h2_peer) if !h2_peer.declined.load(Relaxed) => {
                // Bounded: if the connect in progress hangs (provider down), waiters
                // do not queue behind it one connect timeout each.
                let wait = peer.options.total_connection_timeout.unwrap_or(POOL_IDLE);
                let _connecting = tokio::time::timeout(wait, h2_peer.connecting.lock())
                    .await
                    .ok();
                if !fresh {
                    if let Ok(Some(s)) = self.h2.reused_http_session(peer).await {
                        return Ok(HttpSession::H2(s));
                    }
                }
                let session = self.h2.new_http_session::<_, ()>(peer).await;
                if let Ok(HttpSession::H1(_)) = &session {
                    h2_peer.declined.store(true, Relaxed);
                    self.h2.prefer_h1(peer);
                    info!(
                        "provider '{}' declined HTTP/2 (ALPN); using HTTP/1.1 with it",
                        provider.name
                    );
                }
                session
            }
            _ => self
                .h2
                .transport()
                .new_stream(peer)
                .await
                .map(|stream| HttpSession::H1(Http1Session::new_with_options(stream, peer))),
        };
        session.map_err(|e| AttemptError::from_pingora(&e))
    }
}

async fn exchange(
    session: &mut HttpSession,
    peer: &HttpPeer,
    header: &RequestHeader,
    body: &Bytes,
) -> pingora_error::Result<()> {
    match session {
        HttpSession::H1(_) => write_h1_request(session, peer, header, body).await?,
        HttpSession::H2(h2) => {
            h2.write_request_header(Box::new(header.clone()), body.is_empty())?;
            if !body.is_empty() {
                h2.write_request_body(body.clone(), true).await?;
            }
        }
        HttpSession::Custom(()) => {
            return Error::e_explain(ErrorType::InternalError, "no custom sessions are made")
        }
    }
    // Informational responses (100 Continue, 103 Early Hints) precede the real one.
    loop {
        session.read_response_header().await?;
        match session.response_header() {
            Some(h) if h.status.is_informational() && h.status.as_u16() != 101 => continue,
            Some(_) => break,
            None => return Error::e_explain(ErrorType::InvalidHTTPHeader, "no response header"),
        }
    }
    if let HttpSession::H1(h1) = session {
        h1.respect_keepalive();
    }
    Ok(())
}

/// Bodies up to this size are copied behind the header so both leave in one `send`.
const ONE_WRITE_MAX: usize = 64 * 1024;

/// Writes an HTTP/1 request, header and body, in one `send` where the body is small.
///
/// Pingora's client session flushes the header before the body is written, so a
/// request costs two `send`s, and on loopback and LAN each one runs the whole TCP
/// transmit path and the peer's receive path (with `TCP_CORK` around them, four
/// syscalls). Here the request is written on the raw stream and the session is made
/// afresh for reading the response. What the session would have recorded about the
/// request only matters for `HEAD`, `Connection: close` and upgrades, none of which
/// the gateway sends.
async fn write_h1_request(
    session: &mut HttpSession,
    peer: &HttpPeer,
    header: &RequestHeader,
    body: &Bytes,
) -> pingora_error::Result<()> {
    let HttpSession::H1(h1) = std::mem::replace(session, HttpSession::Custom(())) else {
        return Error::e_explain(ErrorType::InternalError, "not an HTTP/1 session");
    };
    let mut stream = h1.into_inner();
    let mut wire = http_req_header_to_wire(header).ok_or_else(|| {
        Error::explain(
            ErrorType::InvalidHTTPHeader,
            "request line with forbidden bytes or an unsupported HTTP version",
        )
    })?;
    let write = async {
        if body.len() <= ONE_WRITE_MAX {
            wire.extend_from_slice(body);
            stream.write_all(&wire).await?;
        } else {
            stream.write_all(&wire).await?;
            stream.write_all(body).await?;
        }
        stream.flush().await
    };
    let written = match peer.options.write_timeout {
        Some(t) => tokio::time::timeout(t, write)
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
        None => write.await,
    };
    written.map_err(|e| match e.kind() {
        std::io::ErrorKind::TimedOut => {
            Error::because(ErrorType::WriteTimedout, "while writing the request", e)
        }
        _ => Error::because(ErrorType::WriteError, "while writing the request", e),
    })?;
    let mut h1 = Http1Session::new_with_options(stream, peer);
    h1.read_timeout = peer.options.read_timeout;
    h1.write_timeout = peer.options.write_timeout;
    *session = HttpSession::H1(h1);
    Ok(())
}

/// A round-robin balancer over a provider's replicas, with its HTTP health check.
fn balancer(p: &Provider) -> std::io::Result<LoadBalancer<RoundRobin>> {
    let mut lb = LoadBalancer::<RoundRobin>::try_from_iter(p.addresses.iter().map(String::as_str))?;
    if let Some(h) = &p.health_check {
        let mut hc = HttpHealthCheck::new(&p.host_header, p.tls);
        hc.req = RequestHeader::build("GET", h.path.as_bytes(), None)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        hc.req
            .insert_header("host", p.host_header.as_str())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        hc.consecutive_success = h.healthy_after;
        hc.consecutive_failure = h.unhealthy_after;
        hc.peer_template.options.connection_timeout = Some(h.timeout);
        hc.peer_template.options.read_timeout = Some(h.timeout);
        lb.set_health_check(Box::new(hc));
        lb.health_check_frequency = Some(h.interval);
    }
    Ok(lb)
}

fn resolve_blocking(p: &Provider) -> Vec<SocketAddr> {
    match (p.host.as_str(), p.port).to_socket_addrs() {
        Ok(it) => it.collect(),
        Err(e) => {
            warn!("provider '{}': resolving {}: {e}", p.name, p.host);
            Vec::new()
        }
    }
}

/// Background service: re-resolves provider hosts so DNS changes are followed
/// without ever resolving on the request path.
pub struct Resolver(pub Arc<Upstreams>);

#[async_trait]
impl BackgroundService for Resolver {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let ups = &self.0;
        let names: Vec<Arc<Provider>> = ups
            .providers
            .iter()
            .filter(|p| p.addresses.is_empty() && p.host.parse::<std::net::IpAddr>().is_err())
            .cloned()
            .collect();
        if names.is_empty() {
            return;
        }
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(RESOLVE_EVERY) => {}
            }
            for p in &names {
                match tokio::net::lookup_host((p.host.as_str(), p.port)).await {
                    Ok(it) => {
                        let addrs: Vec<SocketAddr> = it.collect();
                        if let Some(slot) = ups.peers.get(&p.name) {
                            if **slot.load() != addrs && !addrs.is_empty() {
                                info!(
                                    "provider '{}': {} now resolves to {addrs:?}",
                                    p.name, p.host
                                );
                                slot.store(Arc::new(addrs));
                            }
                        }
                    }
                    Err(e) => warn!(
                        "provider '{}': resolving {}: {e} (keeping last addresses)",
                        p.name, p.host
                    ),
                }
            }
        }
    }
}

/// Closes pooled connections that went idle too long or were closed by the provider.
pub struct PoolSweeper(pub Arc<Upstreams>);

#[async_trait]
impl BackgroundService for PoolSweeper {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
            }
            self.0.pool.sweep();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stale_connections_are_resent() {
        let timeout = Error::explain(ErrorType::ReadTimedout, "x");
        assert!(!stale_connection(&timeout, false));
        assert!(!stale_connection(&timeout, true));
        let closed = Error::explain(ErrorType::ConnectionClosed, "x");
        assert!(stale_connection(&closed, false));
        let mut reset = Error::explain(ErrorType::H2Error, "stream reset");
        reset.set_retry(false);
        assert!(!stale_connection(&reset, true));
        let mut refused = Error::explain(ErrorType::H2Error, "refused stream");
        refused.set_retry(true);
        assert!(stale_connection(&refused, true));
    }

    #[test]
    fn running_out_of_fds_is_a_connect_error_that_says_so() {
        let io = std::io::Error::from_raw_os_error(24);
        let socket = Error::because(ErrorType::SocketError, "failed to create socket", io);
        let e = Error::because(
            ErrorType::InternalError,
            "Fail to connect to 127.0.0.1:1",
            socket,
        );
        let a = AttemptError::from_pingora(&e);
        assert_eq!(a.label(), "connect_error");
        assert!(
            matches!(&a, AttemptError::Connect(m) if m.contains("open-files limit")),
            "{a:?}"
        );
        let other = Error::because(
            ErrorType::InternalError,
            "x",
            std::io::Error::from_raw_os_error(1),
        );
        assert_eq!(AttemptError::from_pingora(&other).label(), "protocol_error");
    }
}
