//! Talking to providers: resolved peers and one HTTP exchange.
//!
//! Host names are resolved at start-up and refreshed by a background service, never
//! on the request path (`HttpPeer::new` with a name would resolve, blocking, per
//! request). Exchanges use Pingora's transport connector to connect (TCP, TLS) and
//! its HTTP/1 client session; idle connections are kept in our own [`pool`].

mod pool;

use crate::config::{Config, Provider, Timeouts};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use log::{debug, info, warn};
use pingora_core::connectors::TransportConnector;
use pingora_core::protocols::http::v1::client::HttpSession;
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
use std::time::Duration;

/// How long an idle pooled upstream connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(60);
const RESOLVE_EVERY: Duration = Duration::from_secs(30);
/// How often the pool drops expired or closed idle connections.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Resolved addresses per provider, swapped atomically by the resolver.
pub struct Upstreams {
    connector: TransportConnector,
    pool: pool::Pool,
    peers: HashMap<String, ArcSwap<Vec<SocketAddr>>>,
    /// Providers with `addresses`: replicas behind a health-checked load balancer.
    balanced: HashMap<String, Arc<LoadBalancer<RoundRobin>>>,
    providers: Vec<Arc<Provider>>,
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
}

impl AttemptError {
    /// Whether another candidate could succeed where this one failed. Invalid requests
    /// (400, 413, 422) would fail the same everywhere and go back to the client at once.
    pub fn try_next(&self) -> bool {
        match self {
            AttemptError::Status { status, .. } => !matches!(status, 400 | 413 | 422),
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
    /// Holds the response header (checked present by `exchange`; not copied out,
    /// since every open stream would carry the copy).
    session: HttpSession,
    peer: HttpPeer,
}

impl Exchange {
    pub fn header(&self) -> &ResponseHeader {
        self.session
            .resp_header()
            .expect("exchange() returns only once the response header is read")
    }

    pub fn status(&self) -> u16 {
        self.header().status.as_u16()
    }

    /// Next body chunk; `None` at the end.
    pub async fn read_chunk(&mut self) -> Result<Option<Bytes>, AttemptError> {
        self.session
            .read_body_bytes()
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

    /// Returns the connection to the pool if the body was read to its end.
    pub async fn release(mut self, upstreams: &Upstreams) {
        if self.session.is_body_done() {
            self.session.respect_keepalive();
            if let Some(stream) = self.session.reuse().await {
                upstreams.pool.put(self.peer.reuse_hash(), stream);
            }
        } else {
            self.session.shutdown().await;
        }
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
            connector: TransportConnector::new(None),
            pool: pool::Pool::new(POOL_IDLE),
            peers,
            balanced,
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
            let backend = lb.select(b"", 256).ok_or_else(|| {
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
        Ok(peer)
    }

    /// Sends one request and waits for the response header. A pooled connection that
    /// turns out to be closed is retried once on a fresh one (not a new attempt).
    pub async fn send(
        &self,
        provider: &Provider,
        timeouts: &Timeouts,
        header: &RequestHeader,
        body: &[u8],
    ) -> Result<Exchange, AttemptError> {
        let peer = self.peer(provider, timeouts)?;
        for try_fresh in [false, true] {
            let pooled = if try_fresh {
                None
            } else {
                self.pool.take(peer.reuse_hash())
            };
            let reused = pooled.is_some();
            let stream = match pooled {
                Some(s) => s,
                None => self
                    .connector
                    .new_stream(&peer)
                    .await
                    .map_err(|e| AttemptError::from_pingora(&e))?,
            };
            let mut session = HttpSession::new_with_options(stream, &peer);
            // The connector applies connect timeouts only; I/O timeouts are per session.
            session.read_timeout = peer.options.read_timeout;
            session.write_timeout = peer.options.write_timeout;
            match exchange(&mut session, header, body).await {
                Ok(()) => {
                    // From here on, the read timeout is the gap allowed between chunks.
                    session.read_timeout = Some(timeouts.idle);
                    return Ok(Exchange { session, peer });
                }
                Err(e) if reused && !try_fresh => {
                    debug!(
                        "pooled connection to {} failed ({e}); retrying fresh",
                        provider.name
                    );
                    continue;
                }
                Err(e) => return Err(AttemptError::from_pingora(&e)),
            }
        }
        Err(AttemptError::Connect("no connection".into()))
    }
}

async fn exchange(
    session: &mut HttpSession,
    header: &RequestHeader,
    body: &[u8],
) -> pingora_error::Result<()> {
    {
        // Header and body leave as one segment (see `crate::net`).
        let _cork = crate::net::Cork::new(session.stream().id());
        session
            .write_request_header(Box::new(header.clone()))
            .await?;
        session.write_body(body).await?;
        session.finish_body().await?;
    }
    session.read_response().await?;
    session.respect_keepalive();
    match session.resp_header() {
        Some(_) => Ok(()),
        None => Error::e_explain(ErrorType::InvalidHTTPHeader, "no response header"),
    }
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
