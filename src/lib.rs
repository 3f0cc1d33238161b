//! Switchyard: a high-throughput LLM gateway on Pingora.
//!
//! - [`config`]: the YAML file (or the embedded default) -> validated [`config::Config`].
//! - [`formats`]: wire formats (OpenAI, Anthropic), the canonical model, SSE, streaming.
//! - [`routing`]: model name -> ordered list of upstream candidates.
//! - [`upstream`]: provider peers (resolved off the request path) and one attempt.
//! - [`proxy`]: the Pingora `ProxyHttp` implementation; the request flow is documented there.
//! - [`admin`]: `/healthz`, `/readyz`, `/metrics` on the admin listener.

pub mod formats;
