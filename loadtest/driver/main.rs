//! `switchyard-load`: a lean HTTP/1.1 load driver for LLM gateways (and the mock
//! provider). See `loadtest/README.md` and `switchyard-load --help`.
//!
//! Closed loop (`--connections N`) or open loop (`--rate R`, latency from the intended
//! start time), plain or SSE requests in OpenAI or Anthropic shape, an optional mixed
//! scenario, /proc sampling of other processes, and JSON / Markdown / CSV output.

mod cli;
mod client;
mod report;
mod request;
mod sse;
mod stats;
mod watch;

use clap::Parser;
use cli::{Api, Args};
use client::{Behaviour, Conn, Done, Endpoint};
use http::HeaderValue;
use request::{Kind, Plan, Spec};
use stats::{us, Stats};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Everything the workers share.
pub struct Shared {
    pub ep: Endpoint,
    pub plan: Plan,
    pub beh: Behaviour,
    pub stats: Mutex<Stats>,
    pub t0: Instant,
    /// Requests intended to start before this are warm-up.
    pub measure_start: Instant,
    /// No new request starts at or after this.
    pub measure_end: Instant,
    /// In-flight requests are cut here.
    pub hard_stop: Instant,
    pub max_requests: u64,
    pub issued: AtomicU64,
    pub inflight: AtomicU64,
    pub peak_inflight: AtomicU64,
    pub timeout: Duration,
    pub slow_rcvbuf: u32,
    pub seed: u64,
}

impl Shared {
    /// Claims the next request slot; false when the run is over.
    fn claim(&self) -> bool {
        if Instant::now() >= self.measure_end {
            return false;
        }
        self.issued.fetch_add(1, Ordering::Relaxed) < self.max_requests
    }
}

fn main() {
    let args = Args::parse();
    if let Err(e) = real_main(args) {
        eprintln!("switchyard-load: {e}");
        std::process::exit(2);
    }
}

fn resolve(args: &Args) -> Result<Endpoint, String> {
    let uri: http::Uri = args
        .url
        .parse()
        .map_err(|e| format!("--url {}: {e}", args.url))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("--url {}: only http:// is supported", args.url));
    }
    let host = uri
        .host()
        .ok_or_else(|| format!("--url {}: no host", args.url))?;
    let port = uri.port_u16().unwrap_or(80);
    let host_trim = host.trim_start_matches('[').trim_end_matches(']');
    let addr: SocketAddr = (host_trim, port)
        .to_socket_addrs()
        .map_err(|e| format!("--url {}: {e}", args.url))?
        .next()
        .ok_or_else(|| format!("--url {}: does not resolve", args.url))?;
    if !addr.ip().is_loopback() && !args.allow_non_loopback {
        return Err(format!(
            "--url {}: {} is not a loopback address (pass --allow-non-loopback to insist)",
            args.url,
            addr.ip()
        ));
    }
    let prefix = uri.path().trim_end_matches('/');
    let path = match &args.path {
        Some(p) => p.clone(),
        None => format!(
            "{prefix}{}",
            match args.api {
                Api::Openai => "/v1/chat/completions",
                Api::Anthropic => "/v1/messages",
                Api::Responses => "/v1/responses",
            }
        ),
    };
    let host_header = match uri.port_u16() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let auth = match &args.api_key {
        None => None,
        Some(k) => {
            let v = match args.api {
                Api::Openai | Api::Responses => format!("Bearer {k}"),
                Api::Anthropic => k.clone(),
            };
            let mut v = HeaderValue::from_str(&v).map_err(|_| "--api-key: invalid header value")?;
            v.set_sensitive(true);
            Some(v)
        }
    };
    Ok(Endpoint {
        addr,
        host: HeaderValue::from_str(&host_header).map_err(|_| "--url: bad host")?,
        path,
        api: args.api,
        auth,
    })
}

fn real_main(args: Args) -> Result<(), String> {
    if args.duration.is_none() && args.requests.is_none() {
        return Err("give --duration S and/or --requests N (runs are always bounded)".into());
    }
    let (closed, rate) = match (args.connections, args.rate) {
        (Some(n), None) if n > 0 => (Some(n), None),
        (None, Some(r)) if r > 0.0 => (None, Some(r)),
        (None, None) => {
            return Err("give --connections N (closed loop) or --rate R (open loop)".into())
        }
        _ => return Err("--connections must be > 0 and --rate > 0".into()),
    };
    let sockets = closed.unwrap_or(args.max_inflight) as u64;
    let (soft, hard) = watch::nofile_limits().unwrap_or((u64::MAX, u64::MAX));
    if sockets + 100 > soft {
        return Err(format!(
            "up to {sockets} connections need more open files than the soft limit {soft} \
             (hard {hard}) allows: run `ulimit -n {}` (at most the hard limit) first, or use \
             fewer connections",
            (sockets + 1024).min(hard)
        ));
    }
    let body_size = cli::parse_size(&args.body_size)?;
    let plan = Plan::new(&args, body_size)?;
    let ep = resolve(&args)?;
    let mut targets = vec![watch::Target {
        label: "driver".into(),
        pid: std::process::id(),
    }];
    for w in &args.watch_pid {
        targets.push(watch::parse_target(w)?);
    }

    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .map_err(|e| format!("tokio runtime: {e}"))?;

    if args.wait_ready > 0.0 {
        rt.block_on(wait_ready(ep.addr, args.wait_ready))?;
    }

    let t0 = Instant::now();
    let measure_start = t0 + Duration::from_secs_f64(args.warmup);
    let max_end = t0 + Duration::from_secs_f64(args.max_time);
    let (measure_end, hard_stop) = match args.duration {
        Some(d) => {
            let end = (measure_start + Duration::from_secs_f64(d)).min(max_end);
            (
                end,
                (end + Duration::from_secs_f64(args.grace)).min(max_end),
            )
        }
        None => (max_end, max_end),
    };
    let sh = Arc::new(Shared {
        ep,
        plan,
        beh: Behaviour {
            slow_read: Duration::from_millis(args.slow_read_ms),
            disconnect_after: args.disconnect_after.max(1),
            validate_json: args.validate_json,
            unique_prompts: args.unique_prompts,
        },
        stats: Mutex::new(Stats::new()),
        t0,
        measure_start,
        measure_end,
        hard_stop,
        max_requests: args.requests.unwrap_or(u64::MAX),
        issued: AtomicU64::new(0),
        inflight: AtomicU64::new(0),
        peak_inflight: AtomicU64::new(0),
        timeout: Duration::from_secs_f64(args.timeout),
        slow_rcvbuf: args.slow_rcvbuf,
        seed: args.seed,
    });

    let tck = watch::clk_tck();
    let before: Vec<Option<watch::Sample>> = targets
        .iter()
        .map(|t| watch::sample(t.pid, tck, 0.0))
        .collect();
    let progress = {
        let sh = sh.clone();
        let quiet = args.quiet;
        let every = (5000 / args.sample_ms.max(1)).max(1);
        let labels: Vec<String> = targets.iter().map(|t| t.label.clone()).collect();
        let round = AtomicU64::new(0);
        Box::new(move |s: &[Option<watch::Sample>]| {
            let r = round.fetch_add(1, Ordering::Relaxed);
            if quiet || r == 0 || !r.is_multiple_of(every) {
                return;
            }
            let (done, errs) = {
                let st = sh.stats.lock().expect("stats lock");
                (st.completed, st.error_total())
            };
            let mut line = format!(
                "[{:>6.1}s] completed={done} errors={errs} inflight={}",
                sh.t0.elapsed().as_secs_f64(),
                sh.inflight.load(Ordering::Relaxed)
            );
            for (l, x) in labels.iter().zip(s) {
                if let Some(x) = x {
                    line.push_str(&format!(
                        " {l}:rss={:.1}MB,fds={}",
                        x.rss_kb as f64 / 1024.0,
                        x.fds
                    ));
                }
            }
            eprintln!("{line}");
        }) as watch::Progress
    };
    let mut sampler = watch::Sampler::start(
        targets.clone(),
        Duration::from_millis(args.sample_ms.max(10)),
        t0,
        progress,
    );

    // CPU time of every watched process at the start of the measured window.
    let cpu_start: Arc<Mutex<Option<Vec<Option<f64>>>>> = Arc::new(Mutex::new(None));
    let load_end = rt.block_on(async {
        {
            let cpu_start = cpu_start.clone();
            let pids: Vec<u32> = targets.iter().map(|t| t.pid).collect();
            tokio::spawn(async move {
                tokio::time::sleep_until(measure_start.into()).await;
                let mut v: Vec<Option<f64>> = pids.iter().map(|p| watch::cpu_s(*p, tck)).collect();
                v.push(watch::machine_busy_s(tck));
                *cpu_start.lock().expect("cpu lock") = Some(v);
            });
        }
        match (closed, rate) {
            (Some(n), _) => closed_loop(sh.clone(), n, args.ramp).await,
            (_, Some(r)) => open_loop(sh.clone(), r, args.max_inflight).await,
            _ => unreachable!(),
        }
        Instant::now()
    });
    let mut cpu_end: Vec<Option<f64>> = targets.iter().map(|t| watch::cpu_s(t.pid, tck)).collect();
    cpu_end.push(watch::machine_busy_s(tck));
    let after: Vec<Option<watch::Sample>> = targets
        .iter()
        .map(|t| watch::sample(t.pid, tck, t0.elapsed().as_secs_f64()))
        .collect();
    sampler.stop();
    // Drop the runtime (closes lingering connections) before reporting.
    drop(rt);

    let samples = sampler.samples.lock().expect("sampler lock").clone();
    let cpu_start = cpu_start.lock().expect("cpu lock").clone();
    let out = report::Report {
        args: &args,
        sh: &sh,
        targets: &targets,
        samples: &samples,
        before: &before,
        after: &after,
        cpu_start: cpu_start.as_deref(),
        cpu_end: &cpu_end,
        load_end,
        body_size,
    };
    let json = out.json();
    if let Some(p) = &args.csv_samples {
        std::fs::write(p, out.csv()).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if let Some(p) = &args.json {
        let text = serde_json::to_string_pretty(&json).expect("json");
        std::fs::write(p, text + "\n").map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let md = report::markdown(&json);
    if let Some(p) = &args.md {
        std::fs::write(p, &md).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if !args.quiet {
        println!("{md}");
    }
    Ok(())
}

async fn wait_ready(addr: SocketAddr, secs: f64) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("{addr} did not accept connections within {secs} s"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn closed_loop(sh: Arc<Shared>, n: usize, ramp: f64) {
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let sh = sh.clone();
        let delay = Duration::from_secs_f64(ramp * i as f64 / n as f64);
        handles.push(tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut rng = fastrand::Rng::with_seed(sh.seed.wrapping_add(i as u64));
            let mut conn: Option<Conn> = None;
            while sh.claim() {
                let spec = sh.plan.pick(&mut rng);
                execute(&sh, &mut conn, spec, Instant::now()).await;
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
}

async fn open_loop(sh: Arc<Shared>, rate: f64, max_inflight: usize) {
    let sem = Arc::new(Semaphore::new(max_inflight.max(1)));
    let pool: Arc<Mutex<Vec<Conn>>> = Arc::new(Mutex::new(Vec::new()));
    // The schedule is kept by a plain thread: `std::thread::sleep` wakes within tens of
    // µs, while tokio's timer wheel rounds every sleep up to the next millisecond, which
    // would add ~1 ms of send lag to every request.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let ticker = {
        let (t0, end, max) = (sh.t0, sh.measure_end, sh.max_requests);
        let interval = 1.0 / rate;
        std::thread::Builder::new()
            .name("schedule".into())
            .spawn(move || {
                let mut i: u64 = 0;
                while i < max {
                    let intended = t0 + Duration::from_secs_f64(i as f64 * interval);
                    if intended >= end {
                        break;
                    }
                    let now = Instant::now();
                    if intended > now {
                        std::thread::sleep(intended - now);
                    }
                    if tx.send(intended).is_err() {
                        break;
                    }
                    i += 1;
                }
            })
            .expect("schedule thread")
    };
    let mut rng = fastrand::Rng::with_seed(sh.seed);
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(intended) = rx.recv().await {
        if !sh.claim() {
            break;
        }
        // Waiting for a slot delays the send, not the intended start: queueing shows.
        let permit =
            match tokio::time::timeout_at(sh.measure_end.into(), sem.clone().acquire_owned()).await
            {
                Ok(Ok(p)) => p,
                _ => break,
            };
        let spec_idx = {
            let s = sh.plan.pick(&mut rng);
            sh.plan
                .specs
                .iter()
                .position(|x| std::ptr::eq(x, s))
                .unwrap_or(0)
        };
        let (sh2, pool2) = (sh.clone(), pool.clone());
        tasks.spawn(async move {
            let mut conn = pool2.lock().expect("pool lock").pop();
            let spec = &sh2.plan.specs[spec_idx];
            execute(&sh2, &mut conn, spec, intended).await;
            if let Some(c) = conn {
                if !c.is_closed() {
                    pool2.lock().expect("pool lock").push(c);
                }
            }
            drop(permit);
        });
        // Reap finished tasks so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    drop(rx);
    let _ = ticker.join();
    while tasks.join_next().await.is_some() {}
}

/// Runs one request (connecting first if needed) and records its outcome.
async fn execute(sh: &Shared, slot: &mut Option<Conn>, spec: &Spec, intended: Instant) {
    let measured = intended >= sh.measure_start;
    let cur = sh.inflight.fetch_add(1, Ordering::Relaxed) + 1;
    sh.peak_inflight.fetch_max(cur, Ordering::Relaxed);
    let sent = Instant::now();
    let limit = (sent + sh.timeout).min(sh.hard_stop);
    let mut reconnected = false;
    let result = tokio::time::timeout_at(limit.into(), async {
        // Slow readers get their own connection with a small receive buffer.
        let mut own: Option<Conn>;
        let conn: &mut Conn = if spec.kind == Kind::Slow {
            own = Some(
                client::connect(sh.ep.addr, Some(sh.slow_rcvbuf))
                    .await
                    .map_err(|_| client_fail("connect"))?,
            );
            own.as_mut().expect("just set")
        } else {
            if slot.as_ref().is_some_and(Conn::is_closed) {
                *slot = None;
                reconnected = true;
            }
            if slot.is_none() {
                *slot = Some(
                    client::connect(sh.ep.addr, None)
                        .await
                        .map_err(|_| client_fail("connect"))?,
                );
            }
            slot.as_mut().expect("just set")
        };
        client::exchange(conn, &sh.ep, spec, &sh.beh, &sh.stats, intended, measured).await
    })
    .await;
    let end = Instant::now();
    sh.inflight.fetch_sub(1, Ordering::Relaxed);

    let t = Timing {
        intended,
        sent,
        end,
        limit,
        measured,
        reconnected,
    };
    if record(sh, slot, spec, result, &t) {
        // Do not spin on a refusing server.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// When one request ran, and how it is counted.
struct Timing {
    intended: Instant,
    sent: Instant,
    end: Instant,
    /// The deadline its time limit used.
    limit: Instant,
    measured: bool,
    reconnected: bool,
}

/// Records one finished request; true when it failed to connect.
fn record(
    sh: &Shared,
    slot: &mut Option<Conn>,
    spec: &Spec,
    result: Result<Result<Done, client::Fail>, tokio::time::error::Elapsed>,
    t: &Timing,
) -> bool {
    let Timing {
        intended,
        sent,
        end,
        limit,
        measured,
        reconnected,
    } = *t;
    let mut connect_failed = false;
    let mut st = sh.stats.lock().expect("stats lock");
    if reconnected && measured {
        st.outcome("reconnect_after_server_close");
    }
    if !measured {
        st.warmup_requests += 1;
    } else {
        st.started += 1;
    }
    let record_done = |st: &mut Stats| {
        st.completed += 1;
        if end <= sh.measure_end {
            st.completed_in_window += 1;
        }
    };
    match result {
        Err(_) => {
            *slot = None;
            if !measured {
                st.error(spec.kind, "timeout", false);
            } else if limit == sh.hard_stop
                && end >= sh.hard_stop
                && sh.hard_stop < sent + sh.timeout
            {
                st.outcome("cut_at_end");
            } else {
                st.error(spec.kind, "timeout", true);
            }
        }
        Ok(Err(f)) => {
            if !f.keep {
                *slot = None;
            }
            st.error(spec.kind, &f.what, measured);
            connect_failed = f.what == "connect";
        }
        Ok(Ok(done)) => {
            if !measured {
                if let Done::Disconnected = done {
                    *slot = None;
                }
                return false;
            }
            record_done(&mut st);
            match done {
                Done::Ok => {
                    st.ok += 1;
                    let lat = us(end - intended);
                    let _ = st.latency.record(lat);
                    let _ = st.service.record(us(end - sent));
                    let _ = st
                        .send_lag
                        .record(us(sent.saturating_duration_since(intended)));
                    let k = &mut st.kinds[spec.kind as usize];
                    k.completed += 1;
                    let _ = k.latency.record(lat);
                }
                Done::ExpectedStatus(s) => {
                    st.outcome(&format!("expected_status_{s}"));
                    let lat = us(end - intended);
                    let k = &mut st.kinds[spec.kind as usize];
                    k.completed += 1;
                    let _ = k.latency.record(lat);
                }
                Done::Disconnected => {
                    *slot = None;
                    st.outcome("disconnect_intended");
                    st.kinds[spec.kind as usize].completed += 1;
                }
            }
        }
    }
    connect_failed
}

fn client_fail(what: &str) -> client::Fail {
    client::Fail {
        what: what.to_string(),
        keep: false,
    }
}
