//! Fetching a catalog over HTTP(S) with Pingora's own HTTP/1 connector (rustls, the
//! platform's root certificates): the same TLS stack the gateway uses for providers,
//! and no second HTTP client in the binary. One GET, `Content-Length` or chunked
//! bodies, up to 5 redirects, a size cap and a deadline.

use pingora_core::connectors::http::v1::Connector;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_http::RequestHeader;
use std::time::Duration;

/// Larger bodies are refused (models.dev's api.json is ~2 MB).
pub const MAX_CATALOG_BYTES: usize = 64 * 1024 * 1024;
const MAX_REDIRECTS: usize = 5;

/// A fetched body and the URL it finally came from.
#[derive(Debug)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("'{0}' is not an http:// or https:// URL")]
    BadUrl(String),
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("{url}: {detail}")]
    Http { url: String, detail: String },
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("{0}: no answer within {1:?}")]
    Timeout(String, Duration),
    #[error("{0}: too many redirects")]
    Redirects(String),
    #[error("{0}: larger than {MAX_CATALOG_BYTES} bytes")]
    TooLarge(String),
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(std::io::Error),
}

/// GETs `url` (blocking: a small runtime of its own), following redirects, within
/// `deadline` overall.
pub fn fetch(url: &str, deadline: Duration) -> Result<Fetched, FetchError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(FetchError::Runtime)?;
    rt.block_on(fetch_async(url, deadline))
}

/// [`fetch`] for callers already on a runtime.
pub async fn fetch_async(url: &str, deadline: Duration) -> Result<Fetched, FetchError> {
    match tokio::time::timeout(deadline, follow(url)).await {
        Ok(r) => r,
        Err(_) => Err(FetchError::Timeout(url.to_string(), deadline)),
    }
}

async fn follow(url: &str) -> Result<Fetched, FetchError> {
    let connector = Connector::new(None);
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        match get_once(&connector, &url).await? {
            Step::Done(body) => return Ok(Fetched { body, url }),
            Step::Redirect(to) => url = to,
        }
    }
    Err(FetchError::Redirects(url))
}

enum Step {
    Done(Vec<u8>),
    Redirect(String),
}

async fn get_once(connector: &Connector, url: &str) -> Result<Step, FetchError> {
    let bad = || FetchError::BadUrl(url.to_string());
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(bad()),
    };
    let host = uri
        .host()
        .ok_or_else(bad)?
        .trim_matches(['[', ']'])
        .to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let addr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| FetchError::Resolve(host.clone()))?;
    let http_err = |e: Box<pingora_error::Error>| FetchError::Http {
        url: url.to_string(),
        detail: e.to_string(),
    };
    let mut peer = HttpPeer::new(addr, tls, host.clone());
    peer.options.connection_timeout = Some(Duration::from_secs(10));
    peer.options.read_timeout = Some(Duration::from_secs(30));
    let (mut session, _) = connector.get_http_session(&peer).await.map_err(http_err)?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut req = RequestHeader::build("GET", path.as_bytes(), None).map_err(http_err)?;
    let host_header = match uri.port_u16() {
        Some(p) => format!("{}:{p}", uri.host().unwrap_or_default()),
        None => uri.host().unwrap_or_default().to_string(),
    };
    for (name, value) in [
        ("host", host_header.as_str()),
        (
            "user-agent",
            concat!("switchyard/", env!("CARGO_PKG_VERSION")),
        ),
        ("accept", "application/json"),
        ("accept-encoding", "identity"),
        ("connection", "close"),
    ] {
        req.insert_header(name, value).map_err(http_err)?;
    }
    session
        .write_request_header(Box::new(req))
        .await
        .map_err(http_err)?;
    session.read_response().await.map_err(http_err)?;
    let (status, location) = match session.resp_header() {
        Some(h) => (
            h.status.as_u16(),
            h.headers
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        ),
        None => {
            return Err(FetchError::Http {
                url: url.to_string(),
                detail: "no response header".into(),
            })
        }
    };
    if matches!(status, 301 | 302 | 303 | 307 | 308) {
        let Some(to) = location else {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        };
        // Relative locations are resolved against this URL's origin.
        let to = if to.starts_with('/') {
            format!("{}://{host_header}{to}", if tls { "https" } else { "http" })
        } else {
            to
        };
        return Ok(Step::Redirect(to));
    }
    if status != 200 {
        return Err(FetchError::Status {
            url: url.to_string(),
            status,
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = session.read_body_ref().await.map_err(http_err)? {
        if body.len() + chunk.len() > MAX_CATALOG_BYTES {
            return Err(FetchError::TooLarge(url.to_string()));
        }
        body.extend_from_slice(chunk);
    }
    Ok(Step::Done(body))
}
