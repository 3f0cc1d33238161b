//! The body log's stage and tap (`log.bodies.enabled`): the stage keeps the client's
//! body (up to `max_bytes`) and asks the attempt loop for the assembled answer; the
//! tap hands both, with the request's figures, to the body log's worker
//! ([`crate::logs::body`]), which redacts and writes them off the request path.

use super::{tenant, ClientRequest};
use crate::config::Config;
use crate::formats::ApiFormat;
use crate::logs::body::{submit, Record};
use crate::proxy::ctx::RequestCtx;
use std::sync::Arc;
use std::time::SystemTime;

/// The client's body as the body log keeps it.
#[derive(Debug)]
pub struct Captured {
    /// At most `log.bodies.max_bytes` of it.
    pub bytes: Vec<u8>,
    /// The whole body's length.
    pub len: usize,
}

/// Stage: keeps the body, and has the answer assembled (streams included).
pub struct Capture {
    max_bytes: usize,
}

impl Capture {
    pub fn new(max_bytes: usize) -> Self {
        Capture { max_bytes }
    }

    pub fn on_request(&self, req: &ClientRequest<'_>, ctx: &mut RequestCtx) {
        let n = req.body.len().min(self.max_bytes);
        ctx.body_log = Some(Captured {
            bytes: req.body[..n].to_vec(),
            len: req.body.len(),
        });
        ctx.collect_answer = true;
    }
}

/// Tap: one record per request that reached the body stages.
pub struct Write {
    config: Arc<Config>,
}

impl Write {
    pub fn new(config: Arc<Config>) -> Self {
        Write { config }
    }

    pub fn on_complete(&self, ctx: &mut RequestCtx) {
        let Some(body) = ctx.body_log.take() else {
            return;
        };
        let duration = ctx.started.elapsed();
        let key = tenant(&self.config, ctx.key);
        submit(Record {
            started: SystemTime::now().checked_sub(duration),
            request_id: ctx.request_id.clone(),
            key: (!key.is_empty()).then(|| key.to_string()),
            api: ctx.api.map(ApiFormat::as_str),
            model: ctx.model.clone(),
            provider: ctx.provider.clone(),
            upstream_model: ctx.upstream_model.clone(),
            status: ctx.status,
            stream: ctx.stream,
            attempts: ctx.attempts,
            ttfb: ctx.ttfb,
            duration,
            usage: ctx.usage,
            cost_usd: ctx.cost_usd,
            error: ctx.error.clone(),
            cache: ctx.cache.as_ref().map(|c| c.outcome.as_str()),
            client_gone: ctx.client_gone,
            request: body.bytes,
            request_len: body.len,
            // Cloned: the cache fill after this tap takes it.
            answer: ctx.answer.clone(),
        });
    }
}
