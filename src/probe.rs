//! `switchyard probe`: measure deployments from the command line through the gateway's
//! own code path.
//!
//! The probe starts the whole gateway in this process ([`crate::app::add_services`])
//! on a private loopback port, with the config's keys and response cache left out
//! (a probe is not a client: it must reach the provider and count against nothing),
//! and sends small OpenAI Chat Completions requests to it: each alias target is
//! pinned with `x-switchyard-target`, so routing, translation, retries and the
//! provider connection are the ones clients get. Per target it reports successes,
//! errors by kind, time to first token and total latency (p50 / p95), output tokens
//! per second, and the cost per request at the target's price (config or catalog).

use crate::catalog::cli::{table, Row};
use crate::config::Config;
use crate::cost;
use crate::formats::model::{ErrorKind, Usage};
use crate::routing::{RequestFacts, Router};
use bytes::Bytes;
use clap::Args;
use pingora_core::connectors::http::Connector;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use pingora_core::upstreams::peer::HttpPeer;
use pingora_http::RequestHeader;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args, Debug, Clone)]
pub struct ProbeArgs {
    /// What to measure: aliases (each of their targets) or `provider/model`;
    /// default: every target of every alias.
    pub targets: Vec<String>,
    /// Requests per target.
    #[arg(short = 'n', long, default_value_t = 5)]
    pub requests: usize,
    /// Requests in flight at once, per target.
    #[arg(short = 'C', long, default_value_t = 1)]
    pub concurrency: usize,
    /// Stream the responses (measures time to first token).
    #[arg(long)]
    pub stream: bool,
    /// The user message sent.
    #[arg(long, default_value = "Reply with one short sentence about the sea.")]
    pub prompt: String,
    /// `max_tokens` of each request.
    #[arg(long, default_value_t = 64)]
    pub max_tokens: u64,
    /// Give up on a request after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One thing to measure: the model sent and the pin that keeps it on one target.
#[derive(Debug, Clone)]
struct Probe {
    label: String,
    model: String,
    pin: Option<String>,
    price: Option<crate::config::Price>,
}

/// One request's outcome.
#[derive(Debug)]
enum Sample {
    Ok {
        ttft: Duration,
        total: Duration,
        usage: Usage,
    },
    Failed(&'static str),
}

/// What `--json` prints per target.
#[derive(Debug, Serialize)]
pub struct Report {
    pub target: String,
    pub requests: usize,
    pub ok: usize,
    pub errors: BTreeMap<&'static str, usize>,
    pub ttft_ms_p50: Option<f64>,
    pub ttft_ms_p95: Option<f64>,
    pub total_ms_p50: Option<f64>,
    pub total_ms_p95: Option<f64>,
    pub output_tokens_per_second: Option<f64>,
    pub cost_usd_per_request: Option<f64>,
}

/// Runs the probe; the exit code: 0 when every target answered at least once,
/// 1 when one never did, 2 for a target that does not exist.
pub fn run(config: Config, catalog: Arc<crate::catalog::Catalog>, args: &ProbeArgs) -> i32 {
    let mut config = config;
    // A probe measures providers: no gateway key to present, nothing served from
    // the cache, no admin listener.
    config.keys.clear();
    config.cache.enabled = false;
    for alias in config.aliases.values_mut() {
        alias.cache.enabled = Some(false);
    }
    let config = Arc::new(config);
    let router = Arc::new(Router::new(config.clone(), catalog));
    let probes = match select(&router, &args.targets) {
        Ok(p) if p.is_empty() => {
            eprintln!("switchyard probe: nothing to probe; name an alias or provider/model, or configure models:");
            return 2;
        }
        Ok(p) => p,
        Err(e) => {
            eprintln!("switchyard probe: {e}");
            return 2;
        }
    };
    let port = match free_loopback_port() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("switchyard probe: no free loopback port: {e}");
            return 1;
        }
    };
    let listen = format!("127.0.0.1:{port}");
    start_gateway(router, &listen);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchyard probe: {e}");
            return 1;
        }
    };
    let reports = runtime.block_on(measure_all(port, &probes, args));
    if args.json {
        match serde_json::to_string_pretty(&reports) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("switchyard probe: {e}"),
        }
    } else {
        print!("{}", render(&reports));
    }
    if reports.iter().all(|r| r.ok > 0) {
        0
    } else {
        1
    }
}

/// The targets named on the command line (or all), each pinned to one deployment.
fn select(router: &Router, names: &[String]) -> Result<Vec<Probe>, String> {
    let config = router.config();
    let names: Vec<String> = if names.is_empty() {
        config.aliases.keys().cloned().collect()
    } else {
        names.to_vec()
    };
    let mut out = Vec::new();
    for name in names {
        let plan = router
            .plan(&name, &RequestFacts::default(), None)
            .map_err(|_| {
                let known: Vec<&str> = config.aliases.keys().map(String::as_str).collect();
                format!(
                    "unknown target '{name}': name an alias ({}) or provider/model of a configured provider",
                    if known.is_empty() { "none configured".to_string() } else { known.join(", ") }
                )
            })?;
        if config.aliases.contains_key(&name) {
            // Each of the alias's own targets, in config order (not its fallbacks).
            let alias = &config.aliases[&name];
            for t in &alias.targets {
                let provider = &config.providers[t.provider].name;
                let pin = format!("{provider}/{}", t.model);
                let price = plan
                    .iter()
                    .find(|c| c.provider.name == *provider && c.model == t.model)
                    .and_then(|c| c.price);
                out.push(Probe {
                    label: format!("{name} → {pin}"),
                    model: name.clone(),
                    pin: Some(pin),
                    price,
                });
            }
        } else if let Some(c) = plan.first() {
            out.push(Probe {
                label: name.clone(),
                model: name.clone(),
                pin: None,
                price: c.price,
            });
        }
    }
    Ok(out)
}

fn free_loopback_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Never asks the in-process gateway to stop: the probe exits the process.
struct Never;

#[async_trait::async_trait]
impl ShutdownSignalWatch for Never {
    async fn recv(&self) -> ShutdownSignal {
        std::future::pending().await
    }
}

/// The gateway on `listen`, on its own threads, until the process exits.
fn start_gateway(router: Arc<Router>, listen: &str) {
    let conf = ServerConf {
        threads: 1,
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: false,
        daemon: false,
        nocapture: false,
        test: false,
        conf: None,
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();
    crate::app::add_services(&mut server, router, listen, None);
    std::thread::spawn(move || {
        server.run(RunArgs {
            shutdown_signal: Box::new(Never),
        })
    });
}

async fn measure_all(port: u16, probes: &[Probe], args: &ProbeArgs) -> Vec<Report> {
    let connector = Arc::new(Connector::new(None));
    if !wait_ready(&connector, port).await {
        eprintln!("switchyard probe: the in-process gateway did not start on 127.0.0.1:{port}");
    }
    let total = probes.len() * args.requests;
    let done = Arc::new(AtomicUsize::new(0));
    let tty = std::io::stderr().is_terminal() && !args.json;
    let mut reports = Vec::with_capacity(probes.len());
    for p in probes {
        let next = Arc::new(AtomicUsize::new(0));
        let workers = args.concurrency.clamp(1, args.requests.max(1));
        let mut tasks = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (connector, next, done, p, args) = (
                connector.clone(),
                next.clone(),
                done.clone(),
                p.clone(),
                args.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut samples = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < args.requests {
                    samples.push(one(&connector, port, &p, &args).await);
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if tty {
                        progress(n, total);
                    }
                }
                samples
            }));
        }
        let mut samples = Vec::new();
        for t in tasks {
            samples.extend(t.await.unwrap_or_default());
        }
        reports.push(summarise(p, &samples, args.stream));
    }
    if tty {
        eprint!("\r\x1b[2K");
    }
    reports
}

fn progress(n: usize, total: usize) {
    const WIDTH: usize = 30;
    let filled = n * WIDTH / total.max(1);
    eprint!(
        "\r[{}{}] {n}/{total}",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled)
    );
    let _ = std::io::stderr().flush();
}

async fn wait_ready(connector: &Connector, port: u16) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if get_healthz(connector, port).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn get_healthz(connector: &Connector, port: u16) -> bool {
    let peer = HttpPeer::new(("127.0.0.1", port), false, String::new());
    let Ok((mut s, _)) = connector.get_http_session(&peer).await else {
        return false;
    };
    let Ok(mut req) = RequestHeader::build("GET", b"/healthz", None) else {
        return false;
    };
    let _ = req.insert_header("host", "127.0.0.1");
    s.write_request_header(Box::new(req)).await.is_ok()
        && s.finish_request_body().await.is_ok()
        && s.read_response_header().await.is_ok()
        && s.response_header()
            .is_some_and(|h| h.status.as_u16() == 200)
}

/// One request, timed: the first body byte is the first token (streams send
/// nothing before content; a plain answer arrives whole).
async fn one(connector: &Connector, port: u16, p: &Probe, args: &ProbeArgs) -> Sample {
    let mut body = serde_json::json!({
        "model": p.model,
        "max_tokens": args.max_tokens,
        "messages": [{"role": "user", "content": args.prompt}],
    });
    if args.stream {
        body["stream"] = true.into();
        body["stream_options"] = serde_json::json!({"include_usage": true});
    }
    let body = Bytes::from(body.to_string());
    let limit = Duration::from_secs(args.timeout.max(1));
    match tokio::time::timeout(limit, exchange(connector, port, p, body)).await {
        Ok(s) => s,
        Err(_) => Sample::Failed("timeout"),
    }
}

async fn exchange(connector: &Connector, port: u16, p: &Probe, body: Bytes) -> Sample {
    let started = Instant::now();
    let peer = HttpPeer::new(("127.0.0.1", port), false, String::new());
    let Ok((mut s, _)) = connector.get_http_session(&peer).await else {
        return Sample::Failed("connect");
    };
    let Ok(mut req) = RequestHeader::build("POST", b"/v1/chat/completions", None) else {
        return Sample::Failed("internal");
    };
    let len = body.len().to_string();
    let mut headers = vec![
        ("host", "127.0.0.1"),
        ("content-type", "application/json"),
        ("content-length", len.as_str()),
    ];
    if let Some(pin) = &p.pin {
        headers.push(("x-switchyard-target", pin.as_str()));
    }
    for (k, v) in headers {
        if req.insert_header(k, v).is_err() {
            return Sample::Failed("internal");
        }
    }
    let sent = s.write_request_header(Box::new(req)).await.is_ok()
        && s.write_request_body(body, true).await.is_ok()
        && s.finish_request_body().await.is_ok();
    if !sent || s.read_response_header().await.is_err() {
        return Sample::Failed("connect");
    }
    let status = s.response_header().map_or(0, |h| h.status.as_u16());
    let mut ttft = None;
    let mut text = Vec::new();
    loop {
        match s.read_response_body().await {
            Ok(Some(chunk)) => {
                ttft.get_or_insert_with(|| started.elapsed());
                text.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(_) => return Sample::Failed("stream_error"),
        }
    }
    let total = started.elapsed();
    if status != 200 {
        return Sample::Failed(ErrorKind::from_status(status).label());
    }
    match usage_of(&text) {
        Some(usage) => Sample::Ok {
            ttft: ttft.unwrap_or(total),
            total,
            usage,
        },
        None => Sample::Failed("stream_error"),
    }
}

/// The usage of a plain answer, or of a stream (its last chunk carries it); `None`
/// when the answer is unreadable or a stream ended with an error event.
fn usage_of(body: &[u8]) -> Option<Usage> {
    let read = |v: &serde_json::Value| {
        let u = v.get("usage")?;
        let n = |k: &str| u.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
        Some(Usage {
            input_tokens: n("prompt_tokens"),
            output_tokens: n("completion_tokens"),
            cache_read_tokens: u
                .pointer("/prompt_tokens_details/cached_tokens")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0),
            ..Usage::default()
        })
    };
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        return read(&v);
    }
    let text = std::str::from_utf8(body).ok()?;
    let mut usage = Some(Usage::default());
    for data in text.lines().filter_map(|l| l.strip_prefix("data:")) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim()) else {
            continue;
        };
        if v.get("error").is_some() {
            return None;
        }
        if let Some(u) = read(&v).filter(|u| u.total() > 0) {
            usage = Some(u);
        }
    }
    usage
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn summarise(p: &Probe, samples: &[Sample], stream: bool) -> Report {
    let mut errors = BTreeMap::new();
    let (mut ttft, mut total) = (Vec::new(), Vec::new());
    let (mut tokens, mut decode_secs, mut cost_sum, mut ok) = (0u64, 0.0f64, 0.0f64, 0usize);
    for s in samples {
        match s {
            Sample::Ok {
                ttft: t,
                total: d,
                usage,
            } => {
                ok += 1;
                ttft.push(t.as_secs_f64() * 1000.0);
                total.push(d.as_secs_f64() * 1000.0);
                tokens += usage.output_tokens;
                // A stream's tokens come after its first; a plain answer's all at once,
                // so its rate is over the whole request.
                let span = if stream { d.saturating_sub(*t) } else { *d };
                decode_secs += span.as_secs_f64();
                if let Some(price) = &p.price {
                    cost_sum += cost::usd(usage, price);
                }
            }
            Sample::Failed(kind) => *errors.entry(*kind).or_insert(0) += 1,
        }
    }
    ttft.sort_by(f64::total_cmp);
    total.sort_by(f64::total_cmp);
    Report {
        target: p.label.clone(),
        requests: samples.len(),
        ok,
        errors,
        ttft_ms_p50: percentile(&ttft, 50.0),
        ttft_ms_p95: percentile(&ttft, 95.0),
        total_ms_p50: percentile(&total, 50.0),
        total_ms_p95: percentile(&total, 95.0),
        output_tokens_per_second: (ok > 0 && decode_secs > 0.0)
            .then(|| tokens as f64 / decode_secs),
        cost_usd_per_request: p.price.filter(|_| ok > 0).map(|_| cost_sum / ok as f64),
    }
}

struct Line(Vec<String>);

impl Row for Line {
    fn cells(&self) -> Vec<&str> {
        self.0.iter().map(String::as_str).collect()
    }
}

fn render(reports: &[Report]) -> String {
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    let header: Vec<String> = [
        "TARGET",
        "OK",
        "ERRORS",
        "TTFT P50",
        "TTFT P95",
        "TOTAL P50",
        "TOTAL P95",
        "TOK/S",
        "COST/REQ",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rows: Vec<Line> = reports
        .iter()
        .map(|r| {
            let errors = if r.errors.is_empty() {
                "-".to_string()
            } else {
                r.errors
                    .iter()
                    .map(|(k, n)| format!("{k}:{n}"))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            Line(vec![
                r.target.clone(),
                format!("{}/{}", r.ok, r.requests),
                errors,
                ms(r.ttft_ms_p50),
                ms(r.ttft_ms_p95),
                ms(r.total_ms_p50),
                ms(r.total_ms_p95),
                r.output_tokens_per_second
                    .map_or("-".into(), |v| format!("{v:.1}")),
                r.cost_usd_per_request
                    .map_or("unknown".into(), |c| format!("${}", cost::format_usd(c))),
            ])
        })
        .collect();
    format!(
        "{}(milliseconds; TTFT is the first body byte: the whole answer unless --stream)\n",
        table(&header, &rows)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(10.0));
        assert_eq!(percentile(&v, 95.0), Some(19.0));
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn usage_from_plain_and_streamed_answers() {
        let plain = br#"{"usage":{"prompt_tokens":9,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":2}}}"#;
        let u = usage_of(plain).unwrap();
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cache_read_tokens),
            (9, 4, 2)
        );
        let stream = b"data: {\"choices\":[]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5}}\n\ndata: [DONE]\n\n";
        assert_eq!(usage_of(stream).unwrap().output_tokens, 5);
        let broken = b"data: {\"choices\":[]}\n\ndata: {\"error\":{\"message\":\"x\"}}\n\n";
        assert!(usage_of(broken).is_none());
    }
}
