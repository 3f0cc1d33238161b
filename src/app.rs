//! The gateway's services, added to a Pingora server: the data plane, the admin
//! listener, and the background work they need (health checks, Redis connections,
//! the upstream pool sweeper, the provider resolver). `switchyard serve` and
//! `switchyard probe` (which runs the same gateway on a private loopback port) both
//! build it here.

use crate::routing::Router;
use crate::{admin, cache, proxy, state, upstream};
use pingora_core::listeners::{L4BufferSettings, ListenerConfig};
use pingora_core::server::Server;
use pingora_core::services::background::{background_service, GenBackgroundService};
use pingora_core::services::listening::Service;
use std::sync::Arc;

/// Client connections' socket buffers.
///
/// Write: large enough for a response header and a typical non-streamed answer, so
/// both leave in one `send` (Pingora's default, 1,460 bytes, splits them in two: on
/// loopback and LAN each `send` runs the whole TCP path of both ends). Streams flush
/// every chunk whatever the size. Read: none; Pingora reads request headers and bodies
/// into buffers of its own, so the default 64 KiB read buffer per connection only adds
/// a copy and memory.
const DOWNSTREAM_BUFFERS: L4BufferSettings = L4BufferSettings {
    read: Some(0),
    write: Some(8 * 1024),
};

/// Adds every service of a gateway routing with `router` (whose config it serves),
/// listening on `listen`, with the admin endpoints on `admin_listen` if given.
pub fn add_services(
    server: &mut Server,
    router: Arc<Router>,
    listen: &str,
    admin_listen: Option<&str>,
) {
    let config = router.config().clone();
    let upstreams = Arc::new(upstream::Upstreams::new(&config));
    for (name, lb) in upstreams.health_checked() {
        server.add_service(GenBackgroundService::new(
            format!("health check {name}"),
            lb,
        ));
    }
    let limiter = Arc::new(state::Limiter::new(&config));
    if let Some(r) = limiter.redis() {
        server.add_service(background_service(
            "redis state",
            state::redis::RedisConnector(r.link().clone()),
        ));
    }
    let cache = config
        .cache_in_use()
        .then(|| Arc::new(cache::Cache::new(&config.cache)));
    if let Some(link) = cache.as_ref().and_then(|c| c.redis_link()) {
        server.add_service(background_service(
            "redis cache",
            state::redis::RedisConnector(link.clone()),
        ));
    }
    let gateway = proxy::Gateway::new(router, upstreams.clone(), &limiter, cache.as_ref());
    let responses = gateway.responses_store();
    if let Some(link) = gateway.memo_redis_link() {
        server.add_service(background_service(
            "redis thinking memo",
            state::redis::RedisConnector(link),
        ));
    }
    let mut data_plane = pingora_proxy::http_proxy_service(&server.configuration, gateway);
    data_plane.add_listener(ListenerConfig::tcp(listen).l4_buffer(DOWNSTREAM_BUFFERS));
    server.add_service(data_plane);
    if let Some(addr) = admin_listen {
        let mut admin = Service::new(
            "switchyard admin".to_string(),
            admin::AdminApp {
                upstreams: upstreams.clone(),
                cache: cache.clone(),
                responses,
            },
        );
        admin.add_tcp(addr);
        server.add_service(admin);
        log::info!(
            "admin endpoints on http://{addr} (/healthz /readyz /metrics{})",
            if cache.is_some() {
                ", DELETE /admin/cache[/KEY]"
            } else {
                ""
            }
        );
    }
    server.add_service(background_service(
        "upstream pool sweeper",
        upstream::PoolSweeper(upstreams.clone()),
    ));
    server.add_service(background_service(
        "provider resolver",
        upstream::Resolver(upstreams),
    ));
}
