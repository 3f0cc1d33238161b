//! `/v1/responses`: OpenAI's Responses API, served through the same pipeline as the
//! other client APIs.
//!
//! `POST /v1/responses`, in order:
//! 1. the header stages (the gateway key), then the body, whole;
//! 2. the envelope ([`request::prepare`]): `model`, `stream`, `max_output_tokens`,
//!    `store`, `previous_response_id`, `input` as items, the echoed fields;
//! 3. `previous_response_id`: the stored conversation of that response, this key's
//!    only (404 [`ErrorKind::ResponseNotFound`] naming the id otherwise), goes in
//!    front of `input`, and the request is rewritten into a self-contained one
//!    ([`request::with_input`]): the cache key, the limits' estimate and the
//!    translation all see the whole conversation;
//! 4. a fresh [`Meta`] (`resp_…` id, `created_at`) in `ctx.responses`, which the
//!    attempt loop's encoders use; `ctx.collect_answer` when the response is stored;
//! 5. the body stages (allowlist, limits, cache), routing and the attempt loop, as
//!    for every API;
//! 6. unless `store: false`, the complete answer (`ctx.answer`) is stored with the
//!    conversation ([`crate::responses_store`]) as soon as it is complete and before
//!    the client gets its last byte ([`Gateway::store_answered`], called by the
//!    attempt loop; a cache hit is stored before it is replayed), so a continuation
//!    the client sends right away, to any instance, finds it.
//!
//! `GET /v1/responses/{id}` returns a stored response object, `DELETE` removes it;
//! both after the header stages, scoped to the caller's key.
//!
//! Pass-through (an OpenAI provider with `responses: true`, see `super::attempt`):
//! the body goes to `{base_url}/responses` with only `model` rewritten, and the
//! provider's response (its own `resp_…` id) comes back unchanged, read only for
//! usage. The provider owns that conversation state: the gateway stores nothing for
//! it (`store` is the provider's business) and `GET` / `DELETE /v1/responses/{id}`
//! here know only responses the gateway stored, so a provider's id is 404 (ask the
//! provider). A `previous_response_id` the gateway did not store is forwarded as it
//! is, and only to pass-through targets (`ctx.provider_state`): a translated
//! fallback could not continue it, so it is skipped; with no pass-through target it
//! is 404 as before. An id the gateway stored is expanded into `input` as for any
//! request, so such a conversation may continue at any provider.

use super::ctx::RequestCtx;
use super::error::{self, GatewayError};
use super::scrub::write_body;
use super::Gateway;
use crate::formats::model::{ChatResponse, ErrorKind};
use crate::formats::responses::{self, request, Meta};
use crate::formats::ApiFormat;
use crate::pipeline::{tenant, ClientRequest, Flow, Head};
use crate::responses_store::Stored;
use crate::routing::RequestFacts;
use pingora_error::Error;
use pingora_proxy::Session;

/// What storing a response needs besides its answer and [`Meta`].
pub(super) struct PendingStore {
    tenant: String,
    /// The whole conversation's input items (stored ones first).
    items: String,
}

impl std::fmt::Debug for PendingStore {
    /// The conversation is the client's content: its size only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingStore")
            .field("tenant", &self.tenant)
            .field("items_bytes", &self.items.len())
            .finish()
    }
}

/// 404 naming the response id.
fn not_found(id: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::ResponseNotFound,
        format!(
            "Response with id '{id}' not found: it was not stored (store: false), expired, \
             was deleted, or belongs to another key"
        ),
    )
}

impl Gateway {
    /// `POST /v1/responses`.
    pub(super) async fn create_response(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(), GatewayError> {
        ctx.api = Some(ApiFormat::Responses);
        let head = Head {
            headers: &session.req_header().headers,
        };
        self.pipeline.on_head(&head, ctx)?;
        if self.config.providers.is_empty() {
            return Err(GatewayError::new(ErrorKind::Overloaded, error::NO_PROVIDER));
        }
        let body = self.read_body(session).await?;
        let prep = request::prepare(&body)?;
        ctx.stream = prep.stream;
        ctx.model = Some(prep.model.clone());
        let tenant = tenant(&self.config, ctx.key).to_string();
        let (body, items) = match &prep.previous_response_id {
            None => (body, prep.items),
            Some(id) => {
                let stored = match responses::plausible_id(id) {
                    true => self.responses.get(&tenant, id).await,
                    false => None,
                };
                match stored {
                    Some(stored) => {
                        let items = request::concat_arrays(&stored.items, &prep.items);
                        (request::with_input(&body, &items)?, items)
                    }
                    // Perhaps a Responses provider's own id (pass-through): forwarded
                    // as it is, to such providers only (checked once routed).
                    None if self
                        .config
                        .providers
                        .iter()
                        .any(|p| p.responses_path.is_some()) =>
                    {
                        ctx.provider_state = true;
                        (body, prep.items)
                    }
                    None => return Err(not_found(id)),
                }
            }
        };
        let meta = Meta {
            echo: prep.echo,
            ..Meta::new()
        };
        ctx.responses = Some(Box::new(meta.clone()));
        let request = ClientRequest {
            headers: &session.req_header().headers,
            body: &body,
            model: &prep.model,
            max_output_tokens: prep.max_output_tokens,
        };
        if let Flow::Reply(answer) = self.pipeline.on_request(&request, ctx).await? {
            if prep.store {
                self.store_response(&tenant, &meta, &items, &answer).await;
            }
            return self.reply_response(session, ctx, &answer, &meta).await;
        }
        if prep.store {
            // After the cache stage, which sets it for its own needs.
            ctx.collect_answer = true;
            ctx.responses_store = Some(Box::new(PendingStore { tenant, items }));
        }
        let facts = RequestFacts {
            stream: ctx.stream,
            input_tokens: body.len() as u64 / 4,
            max_output_tokens: prep
                .max_output_tokens
                .unwrap_or(u64::from(self.config.default_max_tokens)),
        };
        let pin = session
            .req_header()
            .headers
            .get("x-switchyard-target")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let plan = self.router.plan(&prep.model, &facts, pin.as_deref())?;
        if ctx.provider_state && !plan.iter().any(|c| c.provider.responses_path.is_some()) {
            let id = prep.previous_response_id.as_deref().unwrap_or_default();
            return Err(not_found(id));
        }
        self.attempt_loop(session, ctx, ApiFormat::Responses, &body, &prep.model, plan)
            .await
    }

    /// Keeps the response the attempt loop just completed (`ctx.answer`), when the
    /// request asked for it; called before the client gets the last byte.
    pub(super) async fn store_answered(&self, ctx: &mut RequestCtx) {
        let Some(pending) = ctx.responses_store.take() else {
            return;
        };
        if let (Some(meta), Some(answer)) = (ctx.responses.as_deref(), ctx.answer.as_ref()) {
            self.store_response(&pending.tenant, meta, &pending.items, answer)
                .await;
        }
    }

    /// Keeps a finished response and its conversation.
    async fn store_response(&self, tenant: &str, meta: &Meta, items: &str, answer: &ChatResponse) {
        let output = responses::response::output_items(answer, meta);
        let response = responses::response::encode(answer, meta);
        let stored = Stored {
            response: String::from_utf8_lossy(&response).into_owned(),
            items: request::concat_arrays(items, &output),
        };
        self.responses.put(tenant, &meta.id, stored).await;
    }

    /// A cache hit, plain or as the event sequence.
    async fn reply_response(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        answer: &ChatResponse,
        meta: &Meta,
    ) -> Result<(), GatewayError> {
        if !ctx.stream {
            let body = responses::response::encode(answer, meta);
            return self.respond_json(session, ctx, 200, body, &[]).await;
        }
        let events = responses::stream::replay(answer, meta);
        let sent = async {
            self.start_stream(session, ctx, &[]).await?;
            write_body(session, Some(self.scrub.bytes(events)), true).await
        };
        sent.await.map_err(|e: Box<Error>| {
            ctx.client_gone = true;
            GatewayError::new(
                ErrorKind::Internal,
                format!("writing response: {}", e.etype().as_str()),
            )
        })
    }

    /// `GET` or `DELETE /v1/responses/{id}`.
    pub(super) async fn stored_response(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        delete: bool,
        id: &str,
    ) -> Result<(), GatewayError> {
        ctx.api = Some(ApiFormat::Responses);
        let head = Head {
            headers: &session.req_header().headers,
        };
        self.pipeline.on_head(&head, ctx)?;
        if !responses::plausible_id(id) {
            return Err(not_found(id));
        }
        let tenant = tenant(&self.config, ctx.key);
        if delete {
            if !self.responses.delete(tenant, id).await {
                return Err(not_found(id));
            }
            let body = serde_json::to_vec(&serde_json::json!({
                "id": id, "object": "response", "deleted": true
            }))
            .unwrap_or_default();
            return self.respond_json(session, ctx, 200, body, &[]).await;
        }
        let stored = self
            .responses
            .get(tenant, id)
            .await
            .ok_or_else(|| not_found(id))?;
        self.respond_json(session, ctx, 200, stored.response.clone().into_bytes(), &[])
            .await
    }
}
