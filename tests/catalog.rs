//! `switchyard models ...` as a user runs it: the embedded catalog, filters, search
//! with typos, info, compare, unknown models, and `refresh` from a loopback HTTP
//! server (changes printed, cache written), then with the server down (cached copy
//! kept, warning) and with a corrupt cache (reported, not trusted); a running
//! gateway with `catalog.url` refreshing its prices the same way.

mod common;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `switchyard models ARGS` with a clean environment whose caches live in `home`.
fn models(home: &Path, args: &[&str]) -> Out {
    let out = common::bare_command(env!("CARGO_BIN_EXE_switchyard"))
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .arg("models")
        .args(args)
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(o: &Out) -> Value {
    assert_eq!(o.code, 0, "{}", o.stderr);
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stdout))
}

/// The shipped snapshot, as JSON.
fn snapshot() -> Value {
    let gz = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/catalog/models-dev-api.json.gz"
    ))
    .unwrap();
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut text)
        .unwrap();
    serde_json::from_slice(&text).unwrap()
}

/// The snapshot with one model added, one removed and one price changed.
fn modified_snapshot() -> Vec<u8> {
    let mut v = snapshot();
    let anthropic = v["anthropic"]["models"].as_object_mut().unwrap();
    let mut added = anthropic["claude-sonnet-4-5"].clone();
    added["id"] = "claude-test-9".into();
    added["name"] = "Claude Test 9".into();
    anthropic.insert("claude-test-9".into(), added);
    anthropic["claude-sonnet-4-5"]["cost"]["input"] = 2.5.into();
    v["openai"]["models"]
        .as_object_mut()
        .unwrap()
        .remove("gpt-4o");
    serde_json::to_vec(&v).unwrap()
}

// === a loopback HTTP server ===

#[derive(Clone)]
struct Reply {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
    chunked: bool,
}

/// Answers GETs by path from a table the test may change; stops when dropped.
struct Server {
    port: u16,
    routes: Arc<Mutex<Vec<(String, Reply)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Mutex<Vec<(String, Reply)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (routes.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(c) = conn {
                    serve(c, &r);
                }
            }
        });
        Server {
            port,
            routes,
            stop,
            thread: Some(thread),
        }
    }

    fn route(&self, path: &str, reply: Reply) {
        let mut r = self.routes.lock().unwrap();
        r.retain(|(p, _)| p != path);
        r.push((path.to_string(), reply));
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut c: TcpStream, routes: &Mutex<Vec<(String, Reply)>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match c.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let reply = routes
        .lock()
        .unwrap()
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, r)| r.clone())
        .unwrap_or(Reply {
            status: 404,
            location: None,
            body: b"not found".to_vec(),
            chunked: false,
        });
    let mut out = format!("HTTP/1.1 {} X\r\nconnection: close\r\n", reply.status);
    if let Some(l) = &reply.location {
        out.push_str(&format!("location: {l}\r\n"));
    }
    if reply.chunked {
        out.push_str("transfer-encoding: chunked\r\n\r\n");
        let mut bytes = out.into_bytes();
        for chunk in reply.body.chunks(64 * 1024) {
            bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            bytes.extend_from_slice(chunk);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        let _ = c.write_all(&bytes);
    } else {
        out.push_str(&format!("content-length: {}\r\n\r\n", reply.body.len()));
        let _ = c.write_all(out.as_bytes());
        let _ = c.write_all(&reply.body);
    }
}

fn ok(body: Vec<u8>, chunked: bool) -> Reply {
    Reply {
        status: 200,
        location: None,
        body,
        chunked,
    }
}

fn config(dir: &Path, catalog: &str) -> PathBuf {
    let f = dir.join("switchyard.yaml");
    std::fs::write(&f, format!("catalog: {catalog}\n")).unwrap();
    f
}

// === read-only commands ===

#[test]
fn list_filters_sorts_and_limits() {
    let home = tempfile::tempdir().unwrap();
    let rows = json(&models(
        home.path(),
        &[
            "list",
            "--provider",
            "anthropic",
            "--capability",
            "reasoning",
            "--capability",
            "pdf",
            "--max-input-price",
            "3",
            "--min-context",
            "200000",
            "--sort",
            "price",
            "--json",
        ],
    ));
    let rows = rows.as_array().unwrap();
    assert!(rows.len() >= 3, "{rows:?}");
    let mut last = 0.0;
    for m in rows {
        assert_eq!(m["provider"], "anthropic");
        assert_eq!(m["reasoning"], true);
        assert!(m["modalities_input"]
            .as_array()
            .unwrap()
            .contains(&"pdf".into()));
        let input = m["cost"]["input"].as_f64().unwrap();
        assert!(input <= 3.0 && input >= last, "{m}");
        last = input;
        assert!(m["limit"]["context"].as_u64().unwrap() >= 200_000);
    }
    assert!(rows.iter().any(|m| m["id"] == "claude-sonnet-4-5"));
    assert!(
        !rows.iter().any(|m| m["id"] == "claude-opus-4-1"),
        "$15 input"
    );

    // The table: a header, aligned columns, the limit honoured and said.
    let o = models(
        home.path(),
        &[
            "list",
            "--provider",
            "openai",
            "--sort",
            "context",
            "--limit",
            "3",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", o.stdout);
    assert!(lines[0].starts_with("MODEL ") && lines[0].contains("CONTEXT"));
    let col = lines[0].find("INPUT $/M").unwrap();
    for l in &lines[1..] {
        assert!(l.starts_with("openai/"), "{l}");
        assert_eq!(&l[col - 2..col], "  ", "{}", o.stdout);
        assert_ne!(&l[col..col + 1], " ", "{}", o.stdout);
    }
    assert!(o.stderr.contains("3 of "), "{}", o.stderr);
    // Context, largest first.
    let all = json(&models(
        home.path(),
        &[
            "list",
            "--provider",
            "openai",
            "--sort",
            "context",
            "--json",
        ],
    ));
    let ctx: Vec<u64> = all
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["limit"]["context"].as_u64())
        .collect();
    assert!(ctx.windows(2).all(|w| w[0] >= w[1]), "{ctx:?}");
    // A price cap on both sides.
    let cheap = json(&models(
        home.path(),
        &[
            "list",
            "--max-input-price",
            "0.1",
            "--max-output-price",
            "0.2",
            "--capability",
            "tools",
            "--json",
        ],
    ));
    for m in cheap.as_array().unwrap() {
        assert!(m["cost"]["input"].as_f64().unwrap() <= 0.1);
        assert!(m["cost"]["output"].as_f64().unwrap() <= 0.2);
        assert_eq!(m["tool_call"], true);
    }
}

#[test]
fn the_embedded_snapshot_is_used_offline_and_called_stale() {
    let home = tempfile::tempdir().unwrap();
    let all = json(&models(home.path(), &["list", "--json"]));
    assert_eq!(all.as_array().unwrap().len(), 5098);
    let o = models(home.path(), &["list", "--limit", "1"]);
    assert!(
        o.stderr.contains("days old (embedded snapshot of 2026-07-02); run `switchyard models refresh` or set catalog.url"),
        "{}",
        o.stderr
    );
}

#[test]
fn unknown_provider_and_model_exit_2_with_close_matches() {
    let home = tempfile::tempdir().unwrap();
    let o = models(home.path(), &["list", "--provider", "antropic"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("did you mean \"anthropic\""),
        "{}",
        o.stderr
    );
    let o = models(home.path(), &["info", "anthropic/claude-sonet-4-5"]);
    assert_eq!(o.code, 2);
    assert!(o.stdout.is_empty());
    assert!(
        o.stderr
            .contains("unknown model \"anthropic/claude-sonet-4-5\"")
            && o.stderr
                .contains("did you mean:\n  anthropic/claude-sonnet-4-5\n"),
        "{}",
        o.stderr
    );
    let o = models(
        home.path(),
        &["compare", "openai/gpt-4o", "openai/gtp-4o-mini"],
    );
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("openai/gpt-4o-mini"), "{}", o.stderr);
    // A bare id many providers list is ambiguous; one only one lists is found.
    let o = models(home.path(), &["info", "gpt-4o"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("openai/gpt-4o"), "{}", o.stderr);
}

#[test]
fn search_tolerates_typos() {
    let home = tempfile::tempdir().unwrap();
    let o = models(home.path(), &["search", "claude sonet 4.5", "--limit", "3"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", o.stdout);
    assert!(lines[0].starts_with("MODEL") && lines[0].contains("FAMILY"));
    assert!(
        lines[1].starts_with("anthropic/claude-sonnet-4-5 "),
        "{}",
        o.stdout
    );
    let found = json(&models(home.path(), &["search", "gtp-4o", "--json"]));
    let keys: Vec<String> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["provider"].as_str().unwrap(),
                m["id"].as_str().unwrap()
            )
        })
        .collect();
    assert!(keys.contains(&"openai/gpt-4o".to_string()), "{keys:?}");
    let o = models(home.path(), &["search", "qqqqzzzzxxxx"]);
    assert_eq!(o.code, 1);
}

#[test]
fn info_prints_every_field() {
    let home = tempfile::tempdir().unwrap();
    let o = models(home.path(), &["info", "anthropic/claude-sonnet-4-5"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for expected in [
        "name                 Claude Sonnet 4.5 (latest)",
        "provider             Anthropic (anthropic)",
        "input price          $3 / 1M tokens",
        "output price         $15 / 1M tokens",
        "cache read price     $0.3 / 1M tokens",
        "cache write price    $3.75 / 1M tokens",
        "context window       200,000",
        "output limit         64,000",
        "tool calls           yes",
        "input modalities     text, image, pdf",
        "knowledge cut-off    2025-07-31",
        "released             2025-09-29",
        "status               available",
    ] {
        assert!(
            o.stdout.contains(expected),
            "{expected:?} missing in\n{}",
            o.stdout
        );
    }
    let m = json(&models(home.path(), &["info", "openai/gpt-4o", "--json"]));
    assert_eq!(m["cost"]["input"], 2.5);
    assert_eq!(m["cost"]["output"], 10.0);
    assert_eq!(m["cost"]["cache_read"], 1.25);
    assert_eq!(m["limit"]["output"], 16384);
    assert_eq!(m["structured_output"], true);
    // Long-context tiers and a deprecated status show too.
    let v = snapshot();
    let (p, id) = v
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, e)| {
            e["models"]
                .as_object()
                .unwrap()
                .iter()
                .map(move |(id, m)| (p.clone(), id.clone(), m.clone()))
        })
        .find(|(_, _, m)| m["status"] == "deprecated")
        .map(|(p, id, _)| (p, id))
        .unwrap();
    let o = models(home.path(), &["info", &format!("{p}/{id}")]);
    assert!(
        o.stdout.contains("status               deprecated"),
        "{}",
        o.stdout
    );
}

#[test]
fn compare_puts_models_side_by_side() {
    let home = tempfile::tempdir().unwrap();
    let o = models(
        home.path(),
        &[
            "compare",
            "openai/gpt-4o",
            "anthropic/claude-sonnet-4-5",
            "openai/gpt-4o-mini",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    let header = lines[0];
    let (a, b, c) = (
        header.find("openai/gpt-4o ").unwrap(),
        header.find("anthropic/claude-sonnet-4-5").unwrap(),
        header.find("openai/gpt-4o-mini").unwrap(),
    );
    assert!(a < b && b < c);
    let price = lines.iter().find(|l| l.starts_with("input price")).unwrap();
    assert_eq!(&price[a..a + 4], "$2.5");
    assert_eq!(&price[b..b + 2], "$3");
    let ms = json(&models(
        home.path(),
        &[
            "compare",
            "openai/gpt-4o",
            "anthropic/claude-sonnet-4-5",
            "--json",
        ],
    ));
    assert_eq!(ms.as_array().unwrap().len(), 2);
    assert_eq!(ms[1]["cost"]["cache_write"], 3.75);
}

// === refresh and the cache ===

#[test]
fn refresh_prints_changes_writes_the_cache_and_survives_outages() {
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("catalog-cache");
    let server = Server::start();
    server.route("/api.json", ok(modified_snapshot(), true));
    server.route(
        "/old",
        Reply {
            status: 301,
            location: Some("/api.json".into()),
            body: Vec::new(),
            chunked: false,
        },
    );
    let cfg = config(
        home.path(),
        &format!(
            "{{ url: '{}', cache_dir: '{}', refresh_hours: 1 }}",
            server.url("/old"),
            cache.display()
        ),
    );
    let cfg = cfg.to_str().unwrap();
    let o = models(home.path(), &["refresh", "-c", cfg]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let fetched = format!("fetched {} -> ", server.url("/api.json"));
    for expected in [
        fetched.as_str(),
        "(5098 models of 147 providers)",
        // Resellers inheriting from the changed entries change with them.
        "compared with the embedded snapshot of 2026-07-02: 1 added, 1 removed, 4 price changes",
        "+ anthropic/claude-test-9",
        "- openai/gpt-4o\n",
        "~ anthropic/claude-sonnet-4-5: $3 in / $15 out / $0.3 cache read / $3.75 cache write -> $2.5 in",
        "~ openrouter/openai/gpt-4o: $2.5 in / $10 out / $1.25 cache read -> $2.5 in / $10 out\n",
    ] {
        assert!(
            o.stdout.contains(expected),
            "{expected:?} missing in\n{}",
            o.stdout
        );
    }
    let file = cache.join("models-dev-api.json");
    assert_eq!(std::fs::read(&file).unwrap(), modified_snapshot());
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        1,
        "no temp file left"
    );

    // Later commands read the cached copy, offline, without a staleness warning.
    let o = models(home.path(), &["info", "anthropic/claude-test-9", "-c", cfg]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.is_empty(), "{}", o.stderr);
    let o = models(home.path(), &["info", "openai/gpt-4o", "-c", cfg]);
    assert_eq!(o.code, 2);

    // Refreshing again: nothing changed.
    let o = models(home.path(), &["refresh", "-c", cfg, "--json"]);
    let r = json(&o);
    assert_eq!(r["added"].as_array().unwrap().len(), 0);
    assert!(
        r["before"].as_str().unwrap().starts_with("cached copy "),
        "{r}"
    );

    // A server answering garbage: refused, the cache stays.
    server.route(
        "/api.json",
        ok(b"{\"anthropic\": {\"models\": {".to_vec(), false),
    );
    let o = models(home.path(), &["refresh", "-c", cfg]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("is not a valid catalog: not valid JSON"),
        "{}",
        o.stderr
    );
    assert_eq!(std::fs::read(&file).unwrap(), modified_snapshot());

    // The server down: the cached copy is kept and used, with a warning naming it.
    let port = server.port;
    drop(server);
    let o = models(home.path(), &["refresh", "-c", cfg]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("fetch failed"), "{}", o.stderr);
    assert!(
        o.stderr
            .contains(&format!("keeping the cached copy {}", file.display()))
            && o.stderr.contains("old)"),
        "{}",
        o.stderr
    );
    let o = models(
        home.path(),
        &[
            "list",
            "--refresh",
            "-c",
            cfg,
            "--provider",
            "anthropic",
            "--json",
        ],
    );
    assert!(
        o.stderr.contains("warning: model catalog refresh failed"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        o.stderr
    );
    let rows = json(&o);
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "claude-test-9"));

    // A corrupt cache file is reported, moved aside and not trusted.
    std::fs::write(&file, &modified_snapshot()[..1000]).unwrap();
    let o = models(
        home.path(),
        &["info", "anthropic/claude-sonnet-4-5", "-c", cfg, "--json"],
    );
    assert!(
        o.stderr.contains(&format!(
            "cached model catalog {} is corrupt",
            file.display()
        )),
        "{}",
        o.stderr
    );
    assert_eq!(json(&o)["cost"]["input"], 3.0, "the embedded price");
    assert!(!file.exists());
    assert!(cache.join("models-dev-api.json.corrupt").exists());
    // ...and a file that parses but has the wrong shape is caught too.
    std::fs::write(
        &file,
        br#"{"anthropic": {"models": {"m": {"cost": {"input": -3, "output": 1}}}}}"#,
    )
    .unwrap();
    let o = models(
        home.path(),
        &["info", "anthropic/claude-sonnet-4-5", "-c", cfg],
    );
    assert_eq!(o.code, 0);
    assert!(
        o.stderr
            .contains("anthropic.models.m.cost.input: price -3 is negative"),
        "{}",
        o.stderr
    );
}

#[test]
fn the_default_cache_dir_follows_xdg_and_catalog_path_wins() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.route("/api.json", ok(modified_snapshot(), false));
    let cfg = config(
        home.path(),
        &format!("{{ url: '{}' }}", server.url("/api.json")),
    );
    let cfg = cfg.to_str().unwrap();
    let o = models(home.path(), &["refresh", "-c", cfg]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(home
        .path()
        .join("cache/switchyard/models-dev-api.json")
        .exists());
    // Without -c the same default cache is read.
    let o = models(home.path(), &["info", "anthropic/claude-test-9"]);
    assert_eq!(o.code, 0, "{}", o.stderr);

    let own = home.path().join("own.json");
    std::fs::write(&own, br#"{"lab": {"name": "Lab", "models": {"tiny": {"name": "Tiny", "cost": {"input": 0.01, "output": 0.02}}}}}"#).unwrap();
    let cfg = config(home.path(), &format!("{{ path: '{}' }}", own.display()));
    let rows = json(&models(
        home.path(),
        &["list", "-c", cfg.to_str().unwrap(), "--json"],
    ));
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["name"], "Tiny");
}

#[test]
fn catalog_settings_are_checked() {
    let home = tempfile::tempdir().unwrap();
    let cfg = config(home.path(), "{ refresh_hour: 2 }");
    let o = models(home.path(), &["list", "-c", cfg.to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("did you mean `refresh_hours`"),
        "{}",
        o.stderr
    );
    let cfg = config(home.path(), "{ url: 'ftp://x/api.json' }");
    let out = common::bare_command(env!("CARGO_BIN_EXE_switchyard"))
        .args(["check", "-c", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("catalog.url: 'ftp://x/api.json'"));
}

// === a running gateway keeps its catalog fresh ===

#[test]
fn a_gateway_with_catalog_url_refreshes_its_prices_and_keeps_them_through_outages() {
    let mock = common::Mock::start();
    let server = Server::start();
    server.route("/api.json", ok(modified_snapshot(), false));
    let cache = tempfile::tempdir().unwrap();
    let models = "  sonnet: { targets: [ { provider: anth, model: claude-sonnet-4-5 } ] }";
    let yaml = common::two_provider_config(&mock, models).replace(
        "providers:",
        &format!(
            "catalog: {{ url: '{}', cache_dir: '{}' }}\nproviders:",
            server.url("/api.json"),
            cache.path().display()
        ),
    );
    // What one request costs at an input price of `input` (output 15 in both).
    let cost_at = |r: &common::Reply, input: f64| {
        let u = &r.json()["usage"];
        (u["prompt_tokens"].as_f64().unwrap() * input
            + u["completion_tokens"].as_f64().unwrap() * 15.0)
            / 1e6
    };
    let cost =
        |r: &common::Reply| -> f64 { r.header("x-switchyard-cost-usd").unwrap().parse().unwrap() };
    {
        // The embedded copy is months old: fetched at once, prices replaced.
        let gw = common::Gateway::start(&yaml);
        gw.log_with("model catalog refreshed from http://127.0.0.1");
        let r = gw.post_raw("/v1/chat/completions", common::chat("sonnet", 20), &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            (cost(&r) - cost_at(&r, 2.5)).abs() < 1e-12,
            "{:?}",
            r.headers
        );
        assert!(cache.path().join("models-dev-api.json").exists());
    }
    // The server is gone: the next gateway starts on the cached copy (fresh, so no
    // fetch is due) with the refreshed price.
    drop(server);
    let gw = common::Gateway::start(&yaml);
    gw.log_with("model catalog: ");
    assert!(gw.log_text().contains("cached copy"), "{}", gw.log_text());
    let r = gw.post_raw("/v1/chat/completions", common::chat("sonnet", 20), &[]);
    assert!((cost(&r) - cost_at(&r, 2.5)).abs() < 1e-12);
    // No cached copy and no server: the embedded prices stay, and the log says why.
    let empty = tempfile::tempdir().unwrap();
    let gw = common::Gateway::start(&yaml.replace(
        &cache.path().display().to_string(),
        &empty.path().display().to_string(),
    ));
    let log = gw.log_with("model catalog refresh failed: ");
    assert!(
        log.contains("still using the embedded snapshot of 2026-07-02"),
        "{log}"
    );
    let r = gw.post_raw("/v1/chat/completions", common::chat("sonnet", 20), &[]);
    assert!((cost(&r) - cost_at(&r, 3.0)).abs() < 1e-12);
}
