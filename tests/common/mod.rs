//! Test harness: a real mock provider process, a real gateway process, a real HTTP
//! client, all on loopback. Processes are killed when their handle drops.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use switchyard::formats::sse::{SseEvent, SseParser};

pub const OPENAI_KEY: &str = "sk-test-openai-SECRET-0001";
pub const ANTHROPIC_KEY: &str = "sk-ant-test-SECRET-0002";

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(name)).expect("fixture exists")
}

/// The mock provider (loadtest/mock), recording requests.
pub struct Mock {
    child: Child,
    pub port: u16,
}

/// An example binary of this package (the load-test tools), in
/// `target/<profile>/examples/`. A plain `cargo test` builds examples; a run of some
/// tests only (`cargo test --test cache`) does not, so it is built here once.
pub fn example(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary in target/<profile>/deps");
    let path = profile.join("examples").join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !path.exists() && !built.iter().any(|b| b == name) {
        // Into this test binary's own target dir (scripts/coverage uses another one).
        let target_dir = profile.parent().expect("target/<profile>");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["build", "--quiet", "--example", name, "--target-dir"])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile.file_name().is_some_and(|p| p == "release") {
            cargo.arg("--release");
        }
        let ok = cargo.status().is_ok_and(|s| s.success());
        assert!(ok, "cargo build --example {name} failed");
        built.push(name.to_string());
    }
    assert!(path.exists(), "{} is missing", path.display());
    path
}

impl Mock {
    /// A mock that accepts any key.
    pub fn start() -> Mock {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Mock {
        let mut child = Command::new(example("switchyard-mock"))
            .args(["--listen", "127.0.0.1:0", "--record", "--fixtures"])
            .arg(fixtures_dir())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mock starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("mock prints its address");
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected mock banner: {line:?}"));
        Mock { child, port }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests the mock received, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        let v: Value = client()
            .get(format!("{}/__mock/requests", self.base()))
            .send()
            .expect("mock answers")
            .json()
            .expect("json");
        v.as_array().cloned().unwrap_or_default()
    }

    /// The body of the last provider request, parsed.
    pub fn last_body(&self) -> Value {
        let reqs = self.requests();
        let last = reqs.last().expect("the mock received a request");
        serde_json::from_str(last["body"].as_str().expect("body")).expect("json body")
    }

    pub fn clear(&self) {
        client()
            .delete(format!("{}/__mock/requests", self.base()))
            .send()
            .expect("mock answers");
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port below the kernel's ephemeral range, never one handed out
/// before in this test process. Below the range, because a port the OS hands out
/// (`bind(:0)` by the mock, or a connection's source port) can land on one we picked
/// but had not bound yet: Redis then fails to bind and the test talks to the mock.
/// Never twice, because two calls made before either is bound (a gateway's data and
/// admin ports, or two parallel tests) would otherwise get the same port.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|&low| low > 11_000)
        .unwrap_or(32_768);
    let (first, span) = (10_000u32, u32::from(ephemeral_low) - 10_000);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    // Start where this process's id points, so test binaries run side by side start apart.
    let start = std::process::id().wrapping_mul(2_654_435_761) % span;
    for i in 0..span {
        let port = (first + (start + given.len() as u32 * 7 + i) % span) as u16;
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
    panic!("no free loopback port below {ephemeral_low}");
}

/// `program` with an empty environment, except `LLVM_PROFILE_FILE` when set, so a
/// coverage run (`scripts/coverage`) still gets the child's counters.
pub fn bare_command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear();
    if let Some(file) = std::env::var_os("LLVM_PROFILE_FILE") {
        cmd.env("LLVM_PROFILE_FILE", file);
    }
    cmd
}

/// A running gateway.
pub struct Gateway {
    child: Child,
    pub port: u16,
    pub admin_port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Gateway {
    /// Starts `switchyard -c` on `yaml`, where `{listen}` and `{admin}` are replaced
    /// by free loopback addresses.
    pub fn start(yaml: &str) -> Gateway {
        Self::start_cmd(Some(yaml), &[], &[])
    }

    /// Starts with the embedded default (no -c), with exactly these environment
    /// variables (plus PATH), so the developer's own keys never leak in.
    pub fn start_default(env: &[(&str, String)]) -> Gateway {
        Self::start_cmd(None, env, &[])
    }

    fn start_cmd(yaml: Option<&str>, env: &[(&str, String)], args: &[&str]) -> Gateway {
        for _ in 0..5 {
            let mut gw = Self::spawn(yaml, env, args);
            if gw.wait_ready() {
                return gw;
            }
        }
        panic!("gateway failed to start five times (ports taken?)");
    }

    fn spawn(yaml: Option<&str>, env: &[(&str, String)], args: &[&str]) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let admin_port = free_port();
        let log = dir.path().join("gateway.log");
        let mut cmd = bare_command(env!("CARGO_BIN_EXE_switchyard"));
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info");
        if let Some(yaml) = yaml {
            let path = dir.path().join("switchyard.yaml");
            let text = yaml
                .replace("{listen}", &format!("127.0.0.1:{port}"))
                .replace("{admin}", &format!("127.0.0.1:{admin_port}"));
            std::fs::write(&path, text).expect("write config");
            cmd.arg("-c").arg(&path);
        } else {
            cmd.env("SWITCHYARD_LISTEN", format!("127.0.0.1:{port}"))
                .env("SWITCHYARD_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"));
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .args(args)
            .stdout(std::fs::File::create(&log).expect("log file"))
            .stderr(
                std::fs::File::options()
                    .append(true)
                    .open(&log)
                    .expect("log"),
            )
            .spawn()
            .expect("gateway starts");
        Gateway {
            child,
            port,
            admin_port,
            log,
            _dir: dir,
        }
    }

    /// Waits for `/healthz`; `false` if the process exited first (its port was taken
    /// between `free_port` and the bind: the caller retries on new ports).
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            if let Ok(r) = client().get(format!("{}/healthz", self.base())).send() {
                // Ours, not a stranger on a recycled port: it answers in JSON with our id.
                let ours = r.headers().get("x-request-id").is_some();
                if r.status().is_success() && ours && self.child.try_wait().ok().flatten().is_none()
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("gateway did not become healthy; log:\n{}", self.log_text());
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn admin(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// The Prometheus text from the admin listener.
    pub fn metrics(&self) -> String {
        client()
            .get(format!("{}/metrics", self.admin()))
            .send()
            .and_then(|r| r.text())
            .expect("admin /metrics answers")
    }

    /// The value of an unlabelled metric (`name value`), if it is exported.
    pub fn metric_value(&self, name: &str) -> Option<f64> {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log once it contains `needle` (lines are written by a background thread,
    /// after the response went out); panics with the log if it never does.
    pub fn log_with(&self, needle: &str) -> String {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log_text();
            if log.contains(needle) {
                return log;
            }
            assert!(Instant::now() < end, "log never showed {needle:?}:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(path, serde_json::to_vec(body).expect("json"), &[])
    }

    pub fn post_raw(&self, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Reply {
        let mut req = client()
            .post(format!("{}{}", self.base(), path))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Reply::from(req.send().expect("gateway answers"))
    }
}

impl Gateway {
    /// Sends `sig` (e.g. `libc::SIGTERM`) to the gateway process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// The exit status, if the process ends within `limit` (a bound against hanging).
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let end = std::time::Instant::now() + limit;
        while std::time::Instant::now() < end {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl From<reqwest::blocking::Response> for Reply {
    fn from(mut r: reqwest::blocking::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let mut body = Vec::new();
        r.read_to_end(&mut body).expect("read body");
        Reply {
            status,
            headers,
            body,
        }
    }
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not json ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as SSE events.
    pub fn events(&self) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(&self.body, &mut out);
        p.finish(&mut out);
        out
    }

    /// The data of each event parsed as JSON (`[DONE]` as the string "[DONE]").
    pub fn data(&self) -> Vec<Value> {
        self.events()
            .iter()
            .map(|e| serde_json::from_str(&e.data).unwrap_or(Value::String(e.data.clone())))
            .collect()
    }
}

/// A config with one Anthropic-format and one OpenAI-format provider on the mock.
pub fn two_provider_config(mock: &Mock, models: &str) -> String {
    format!(
        r#"
listen: "{{listen}}"
admin_listen: "{{admin}}"
providers:
  anth: {{ type: anthropic, base_url: "{base}", api_key: "{ANTHROPIC_KEY}" }}
  oai: {{ type: openai, base_url: "{base}/v1", api_key: "{OPENAI_KEY}" }}
models:
{models}
"#,
        base = mock.base()
    )
}

/// Concatenated OpenAI streamed text content.
pub fn openai_stream_text(data: &[Value]) -> String {
    data.iter()
        .filter_map(|d| d["choices"][0]["delta"]["content"].as_str())
        .collect()
}

/// Concatenated Anthropic streamed text deltas.
pub fn anthropic_stream_text(data: &[Value]) -> String {
    data.iter()
        .filter(|d| d["delta"]["type"] == "text_delta")
        .filter_map(|d| d["delta"]["text"].as_str())
        .collect()
}

pub const TEXT_PARIS: &str = "The capital of France is Paris. It is known for the Eiffel Tower, the Louvre, and its caf\u{e9} culture.";

/// Reads the mock's counters over one kept-alive connection, so asking adds exactly
/// one connection to the count, once.
pub struct MockStats {
    client: reqwest::blocking::Client,
    url: String,
}

impl MockStats {
    pub fn new(mock: &Mock) -> Self {
        MockStats {
            client: client(),
            url: format!("{}/__mock/stats", mock.base()),
        }
    }

    pub fn get(&self) -> Value {
        self.client.get(&self.url).send().unwrap().json().unwrap()
    }

    /// Connections the mock accepted, not counting this one.
    pub fn connections(&self) -> u64 {
        self.get()["connections"].as_u64().unwrap() - 1
    }

    pub fn open_bodies(&self) -> i64 {
        self.get()["open_bodies"].as_i64().unwrap()
    }
}

/// A real `redis-server` on a free loopback port, with no persistence; killed on drop.
/// `.ci/run` installs the Debian package when it is missing.
pub struct Redis {
    pub child: Option<Child>,
    pub port: u16,
}

impl Redis {
    pub fn start() -> Redis {
        let port = free_port();
        let mut r = Redis { child: None, port };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server, or run .ci/run)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "redis-server exited ({status}) on port {}: taken?",
                    self.port
                );
            }
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::Write;
                let mut buf = [0u8; 7];
                if s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() {
                    assert_eq!(&buf, b"+PONG\r\n");
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not answer on port {}", self.port);
    }

    /// Kills the server (a crash, not a shutdown).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A small OpenAI/Anthropic-compatible chat body (both APIs accept it).
pub fn chat(model: &str, max_tokens: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "model": model, "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": "hello there"}]
    }))
    .expect("json")
}

/// Starts a streamed OpenAI request with gateway key `key` and returns once the
/// response head arrived (the body is read later, or dropped to disconnect).
pub fn open_stream(gw: &Gateway, key: &str, body: &Value) -> reqwest::blocking::Response {
    client()
        .post(format!("{}/v1/chat/completions", gw.base()))
        .header("authorization", format!("Bearer {key}"))
        .body(serde_json::to_vec(body).expect("json"))
        .send()
        .expect("gateway answers")
}
