//! Stage: who is calling (gateway key) and whether that key may use the model.

use super::{ClientRequest, Head};
use crate::config::keys::sha256;
use crate::config::Config;
use crate::formats::model::ErrorKind;
use crate::proxy::ctx::RequestCtx;
use crate::proxy::error::GatewayError;
use std::sync::Arc;

pub struct Authenticate {
    config: Arc<Config>,
}

impl Authenticate {
    pub fn new(config: Arc<Config>) -> Self {
        Authenticate { config }
    }

    /// With no `keys:` configured the gateway is open.
    pub fn on_head(&self, head: &Head<'_>, ctx: &mut RequestCtx) -> Result<(), GatewayError> {
        if self.config.keys.is_empty() {
            return Ok(());
        }
        let h = head.headers;
        let presented = h
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .or_else(|| h.get("x-api-key").and_then(|v| v.to_str().ok()))
            .map(str::trim);
        let Some(presented) = presented else {
            return Err(GatewayError::new(
                ErrorKind::Authentication,
                "missing gateway key: send `Authorization: Bearer <key>` or `x-api-key: <key>`",
            ));
        };
        match find_key(&self.config, presented.as_bytes()) {
            Some(i) => {
                ctx.key = Some(i);
                Ok(())
            }
            None => Err(GatewayError::new(
                ErrorKind::Authentication,
                "invalid gateway key: this key is not in the gateway's `keys:` list",
            )),
        }
    }

    pub fn on_request(
        &self,
        req: &ClientRequest<'_>,
        ctx: &mut RequestCtx,
    ) -> Result<(), GatewayError> {
        let Some(key) = ctx.key.and_then(|i| self.config.keys.get(i)) else {
            return Ok(());
        };
        if key.allows(req.model) {
            return Ok(());
        }
        ctx.error = Some("model_not_allowed".into());
        Err(GatewayError::new(
            ErrorKind::Permission,
            format!(
                "gateway key '{}' may not use model '{}'; ask the gateway operator to add it \
                 to this key's `models:` list",
                key.name, req.model
            ),
        ))
    }
}

/// The index of the key whose SHA-256 matches, comparing with every key in constant
/// time (no early exit), so timing tells nothing about which digest bytes matched.
fn find_key(config: &Config, presented: &[u8]) -> Option<usize> {
    let digest = sha256(presented);
    let mut found = None;
    for (i, k) in config.keys.iter().enumerate() {
        let diff = k
            .sha256
            .iter()
            .zip(&digest)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 {
            found = Some(i);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_by_digest_whether_given_plain_or_hashed() {
        let digest = hex::encode(sha256(b"sy-hashed-key-0001"));
        let yaml = format!(
            "keys:\n  - {{ name: plain, key: plain-key-0001 }}\n  - {{ name: hashed, key_sha256: \"{digest}\" }}\n"
        );
        let c = Config::from_yaml(&yaml, "test", &|_: &str| None).unwrap();
        assert_eq!(find_key(&c, b"plain-key-0001"), Some(0));
        assert_eq!(find_key(&c, b"sy-hashed-key-0001"), Some(1));
        assert_eq!(find_key(&c, b"plain-key-0002"), None);
        assert!(c.keys[1].plain.is_none());
    }
}
