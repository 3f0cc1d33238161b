//! One HTTP/1.1 keep-alive connection (hyper `client::conn::http1` over a tokio
//! `TcpStream` with TCP_NODELAY) and one request/response exchange on it.

use crate::cli::Api;
use crate::request::{Kind, Spec};
use crate::sse::SseScan;
use crate::stats::{us, Stats};
use bytes::Bytes;
use http::{HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;

/// Where requests go and how they are dressed.
pub struct Endpoint {
    pub addr: SocketAddr,
    pub host: HeaderValue,
    pub path: String,
    pub api: Api,
    pub auth: Option<HeaderValue>,
}

pub struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

/// Opens a connection; `rcvbuf` shrinks the socket receive buffer (slow readers).
pub async fn connect(addr: SocketAddr, rcvbuf: Option<u32>) -> std::io::Result<Conn> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(n) = rcvbuf {
        sock.set_recv_buffer_size(n)?;
    }
    let stream = sock.connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Conn { sender })
}

/// How an exchange ended, when it did not fail.
pub enum Done {
    /// 2xx, body complete (and the stream ended properly).
    Ok,
    /// The expected non-2xx answer of an `error` request.
    ExpectedStatus(u16),
    /// The client dropped the stream on purpose.
    Disconnected,
}

/// A failed exchange; `what` is the error kind used in reports.
pub struct Fail {
    pub what: String,
    /// Whether the connection can still be used.
    pub keep: bool,
}

impl Fail {
    fn new(what: impl Into<String>, keep: bool) -> Fail {
        Fail {
            what: what.into(),
            keep,
        }
    }
}

fn classify(e: &hyper::Error) -> &'static str {
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        "http_parse"
    } else if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        "reset"
    } else if e.is_timeout() {
        "timeout"
    } else {
        "io"
    }
}

/// Per-run settings an exchange needs.
pub struct Behaviour {
    pub slow_read: Duration,
    pub disconnect_after: u32,
    pub validate_json: bool,
    pub unique_prompts: bool,
}

/// Sends one request on `conn` and reads the whole response. Stream timings go into
/// `stats` (when `measured`) as they happen; the caller records the end.
pub async fn exchange(
    conn: &mut Conn,
    ep: &Endpoint,
    spec: &Spec,
    beh: &Behaviour,
    stats: &Mutex<Stats>,
    intended: Instant,
    measured: bool,
) -> Result<Done, Fail> {
    let body = if beh.unique_prompts {
        unique_prompt(&spec.body, ep.api)
    } else {
        spec.body.clone()
    };
    let mut req = Request::new(Full::new(body));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = ep.path.parse().map_err(|_| Fail::new("bad_path", true))?;
    let h = req.headers_mut();
    h.insert(http::header::HOST, ep.host.clone());
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        http::header::ACCEPT,
        HeaderValue::from_static(if spec.stream {
            "text/event-stream"
        } else {
            "application/json"
        }),
    );
    if ep.api == Api::Anthropic {
        h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
    }
    if let Some(a) = &ep.auth {
        match ep.api {
            Api::Openai | Api::Responses => h.insert(http::header::AUTHORIZATION, a.clone()),
            Api::Anthropic => h.insert("x-api-key", a.clone()),
        };
    }

    conn.sender
        .ready()
        .await
        .map_err(|e| Fail::new(classify(&e), false))?;
    let resp = conn
        .sender
        .send_request(req)
        .await
        .map_err(|e| Fail::new(classify(&e), false))?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();

    if !(200..300).contains(&status) {
        // Drain the (small) error body so the connection stays usable.
        while let Some(f) = body.frame().await {
            if f.is_err() {
                return Err(Fail::new(format!("status_{status}"), false));
            }
        }
        return if spec.kind == Kind::Error {
            Ok(Done::ExpectedStatus(status))
        } else {
            Err(Fail::new(format!("status_{status}"), true))
        };
    }
    if spec.kind == Kind::Error {
        drain(&mut body).await?;
        return Err(Fail::new("unexpected_2xx", true));
    }

    if !spec.stream {
        return read_plain(&mut body, beh.validate_json, stats, measured).await;
    }

    let mut scan = SseScan::new();
    let mut last_event: Option<Instant> = None;
    let mut bytes = 0u64;
    let disconnect = spec.kind == Kind::Disconnect;
    let slow = spec.kind == Kind::Slow;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Fail::new("body", false))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        bytes += data.len() as u64;
        let n = scan.feed(&data);
        if n > 0 {
            let now = Instant::now();
            if measured {
                let mut st = stats.lock().expect("stats lock");
                match last_event {
                    None => {
                        let _ = st.ttft.record(us(now - intended));
                    }
                    Some(prev) => {
                        let _ = st.gap.record(us(now - prev));
                    }
                }
                // Further events in the same chunk arrived together.
                if n > 1 {
                    let _ = st.gap.record_n(1, u64::from(n - 1));
                }
                st.events += u64::from(n);
            }
            last_event = Some(now);
        }
        if disconnect && scan.events >= u64::from(beh.disconnect_after) {
            if measured {
                stats.lock().expect("stats lock").body_bytes += bytes;
            }
            return Ok(Done::Disconnected);
        }
        if slow && !beh.slow_read.is_zero() {
            tokio::time::sleep(beh.slow_read).await;
        }
    }
    if measured {
        let mut st = stats.lock().expect("stats lock");
        st.body_bytes += bytes;
        if scan.done && !scan.error {
            st.streams_done += 1;
        }
    }
    if scan.error {
        return Err(Fail::new("stream_error_event", scan.done));
    }
    if !scan.done {
        return Err(Fail::new("stream_incomplete", false));
    }
    Ok(Done::Ok)
}

async fn drain(body: &mut hyper::body::Incoming) -> Result<(), Fail> {
    while let Some(f) = body.frame().await {
        f.map_err(|_| Fail::new("body", false))?;
    }
    Ok(())
}

/// Reads a non-streamed body; checks it looks like one JSON object.
async fn read_plain(
    body: &mut hyper::body::Incoming,
    validate: bool,
    stats: &Mutex<Stats>,
    measured: bool,
) -> Result<Done, Fail> {
    let mut first: Option<u8> = None;
    let mut last: Option<u8> = None;
    let mut bytes = 0u64;
    let mut all = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Fail::new("body", false))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        bytes += data.len() as u64;
        if first.is_none() {
            first = data.iter().copied().find(|b| !b.is_ascii_whitespace());
        }
        if let Some(b) = data
            .iter()
            .rev()
            .copied()
            .find(|b| !b.is_ascii_whitespace())
        {
            last = Some(b);
        }
        if validate {
            all.extend_from_slice(&data);
        }
    }
    if measured {
        stats.lock().expect("stats lock").body_bytes += bytes;
    }
    if first != Some(b'{') || last != Some(b'}') {
        return Err(Fail::new("body_parse", true));
    }
    if validate && serde_json::from_slice::<serde_json::Value>(&all).is_err() {
        return Err(Fail::new("body_parse", true));
    }
    Ok(Done::Ok)
}

/// The body with the first 16 characters of its user message (Responses: `input`)
/// replaced by random hex (`build_body` pads the message, so there are always that
/// many).
fn unique_prompt(body: &bytes::Bytes, api: Api) -> bytes::Bytes {
    let at: &[u8] = match api {
        Api::Openai | Api::Anthropic => b"\"content\":\"",
        Api::Responses => b"\"input\":\"",
    };
    let mut v = body.to_vec();
    if let Some(i) = memchr::memmem::find(&v, at) {
        let start = i + at.len();
        if v.len() >= start + 16 {
            let tag = format!("{:016x}", fastrand::u64(..));
            v[start..start + 16].copy_from_slice(tag.as_bytes());
        }
    }
    bytes::Bytes::from(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::build_body;

    #[test]
    fn unique_prompts_change_the_prompt_of_every_api() {
        let prompt = |api: Api, body: &[u8]| {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap();
            let p = match api {
                Api::Responses => &v["input"],
                _ => &v["messages"][0]["content"],
            };
            p.as_str().unwrap().to_string()
        };
        for api in [Api::Openai, Api::Anthropic, Api::Responses] {
            let body = build_body(api, "mock:echo", false, 1024);
            let (a, b) = (unique_prompt(&body, api), unique_prompt(&body, api));
            assert_eq!(a.len(), body.len(), "{api:?}");
            let (pa, pb, p0) = (prompt(api, &a), prompt(api, &b), prompt(api, &body));
            assert!(pa != p0 && pa != pb, "{api:?}: {pa:.40}");
            assert_eq!(
                pa[16..],
                p0[16..],
                "{api:?}: only the first 16 characters change"
            );
        }
    }
}
