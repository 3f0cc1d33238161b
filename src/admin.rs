//! The admin listener: `/healthz` (process is up), `/readyz` (at least one provider
//! has an address and no SIGTERM was received), `/metrics` (Prometheus text). Separate from the data plane so it
//! can stay on loopback or a private interface.

use crate::upstream::Upstreams;
use async_trait::async_trait;
use pingora_core::apps::http_app::ServeHttp;
use pingora_core::protocols::http::ServerSession;
use std::sync::Arc;

pub struct AdminApp {
    pub upstreams: Arc<Upstreams>,
}

fn response(status: u16, content_type: &str, body: Vec<u8>) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", body.len())
        .body(body)
        .unwrap_or_default()
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> http::Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/healthz" => response(200, "text/plain", b"ok\n".to_vec()),
            "/readyz" => {
                if crate::shutdown::draining() {
                    response(503, "text/plain", b"draining (SIGTERM received)\n".to_vec())
                } else if self.upstreams.any_resolved() {
                    response(200, "text/plain", b"ready\n".to_vec())
                } else {
                    response(
                        503,
                        "text/plain",
                        b"no provider is reachable yet\n".to_vec(),
                    )
                }
            }
            "/metrics" => response(200, "text/plain; version=0.0.4", crate::metrics::render()),
            _ => response(
                404,
                "text/plain",
                b"admin endpoints: /healthz /readyz /metrics\n".to_vec(),
            ),
        }
    }
}
