//! The admin listener: `/healthz` (process is up), `/readyz` (at least one provider
//! has an address and no SIGTERM was received), `/metrics` (Prometheus text), and
//! with the response cache on `DELETE /admin/cache` (every entry, in moka and Redis)
//! and `DELETE /admin/cache/KEY` (one entry; KEY is an `x-switchyard-cache-key`).
//! Separate from the data plane so it can stay on loopback or a private interface:
//! it has no authentication.

use crate::cache::Cache;
use crate::responses_store::ResponseStore;
use crate::upstream::Upstreams;
use async_trait::async_trait;
use pingora_core::apps::http_app::ServeHttp;
use pingora_core::protocols::http::ServerSession;
use std::sync::Arc;

pub struct AdminApp {
    pub upstreams: Arc<Upstreams>,
    pub cache: Option<Arc<Cache>>,
    /// Its figures are brought up to date before `/metrics` renders.
    pub responses: Arc<ResponseStore>,
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
        let path = session.req_header().uri.path().to_string();
        if path == "/admin/cache" || path.starts_with("/admin/cache/") {
            return self
                .cache_admin(session.req_header().method.as_str(), &path)
                .await;
        }
        match path.as_str() {
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
            "/metrics" => {
                // Expiries happen without a request to publish them.
                self.responses.publish();
                response(200, "text/plain; version=0.0.4", crate::metrics::render())
            }
            _ => response(
                404,
                "text/plain",
                b"admin endpoints: /healthz /readyz /metrics, DELETE /admin/cache[/KEY]\n".to_vec(),
            ),
        }
    }
}

impl AdminApp {
    async fn cache_admin(&self, method: &str, path: &str) -> http::Response<Vec<u8>> {
        let json = |status, v: serde_json::Value| {
            response(status, "application/json", v.to_string().into_bytes())
        };
        let Some(cache) = &self.cache else {
            return json(
                404,
                serde_json::json!({"error": "the response cache is not enabled (cache.enabled in the config)"}),
            );
        };
        if method != "DELETE" {
            let mut r = json(
                405,
                serde_json::json!({"error": format!("{method} is not allowed on {path}; use DELETE")}),
            );
            r.headers_mut()
                .insert("allow", http::HeaderValue::from_static("DELETE"));
            return r;
        }
        let one = path.strip_prefix("/admin/cache/");
        let result = match one {
            None => cache
                .clear()
                .await
                .map(|n| serde_json::json!({"cleared": true, "redis_keys_deleted": n})),
            Some(hex_key) => {
                let mut key = [0u8; 32];
                if hex::decode_to_slice(hex_key, &mut key).is_err() {
                    return json(
                        400,
                        serde_json::json!({"error": format!(
                            "'{hex_key}' is not a cache key: expected the 64 hex characters of an x-switchyard-cache-key header"
                        )}),
                    );
                }
                cache
                    .remove(&key)
                    .await
                    .map(|found| serde_json::json!({"key": hex_key, "removed": found}))
            }
        };
        match result {
            Ok(v) => json(200, v),
            // moka is done by then; only the Redis part can fail.
            Err(e) => json(
                502,
                serde_json::json!({"error": format!(
                    "the in-process cache was cleared, but Redis failed: {e}; retry, or check cache.redis.url"
                )}),
            ),
        }
    }
}
