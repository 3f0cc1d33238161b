//! `switchyard logs show|tail|stats`: read the logs back, from the current file and
//! every rotated one (gzipped or not), oldest first.
//!
//! Where the files are: `--path` (a file, or the directory holding `access.log` /
//! `bodies.log`), else the paths of the config given with `-c`, else the defaults
//! under `/var/log/switchyard/`. Access lines are read in either format (text
//! `key=value` or JSON).

use super::file::rotated_files;
use crate::config::log::{Destination, DEFAULT_ACCESS_PATH, DEFAULT_BODIES_PATH};
use crate::config::Config;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

#[derive(clap::Subcommand, Debug)]
pub enum LogsCommand {
    /// Print one request's conversation (system, turns, tool calls and results, the
    /// answer, usage, cost, timing) from the body log.
    Show {
        request_id: String,
        /// The body log file, or its directory.
        #[arg(long)]
        path: Option<PathBuf>,
        /// Print the stored record(s) as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Print the last access-log lines that match, and with --follow the new ones.
    Tail {
        /// Gateway key name.
        #[arg(long)]
        key: Option<String>,
        /// Requested model (alias) or upstream model.
        #[arg(long)]
        model: Option<String>,
        /// Status: `200`, `5xx`, `4xx,5xx`, ...
        #[arg(long)]
        status: Option<String>,
        /// Keep printing lines as they are written (across rotations).
        #[arg(short, long)]
        follow: bool,
        /// How many earlier lines to print first.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        /// The access log file, or its directory.
        #[arg(long)]
        path: Option<PathBuf>,
    },
    /// Summarise the access log: requests, errors by kind, latency and TTFT
    /// percentiles, tokens and cost per provider and model.
    Stats {
        /// How far back: `90s`, `30m`, `1h`, `7d`.
        #[arg(long, default_value = "1h")]
        since: String,
        /// The access log file, or its directory.
        #[arg(long)]
        path: Option<PathBuf>,
    },
}

/// Runs a `logs` command; the process exit status.
pub fn run(cmd: &LogsCommand, conf: Option<&str>) -> i32 {
    let config = match conf.map(Config::from_file) {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            eprintln!("switchyard logs: invalid configuration:\n{e}");
            return 2;
        }
        None => None,
    };
    let result = match cmd {
        LogsCommand::Show {
            request_id,
            path,
            json,
        } => {
            let file = resolve(path.as_deref(), config.as_ref(), Which::Bodies);
            show(&file, request_id, *json, &mut io::stdout().lock())
        }
        LogsCommand::Tail {
            key,
            model,
            status,
            follow,
            lines,
            path,
        } => {
            let file = resolve(path.as_deref(), config.as_ref(), Which::Access);
            let filter = Filter {
                key: key.clone(),
                model: model.clone(),
                status: status.clone(),
            };
            tail(&file, &filter, *lines, *follow)
        }
        LogsCommand::Stats { since, path } => {
            let file = resolve(path.as_deref(), config.as_ref(), Which::Access);
            match parse_since(since) {
                Some(d) => stats(&file, d, &mut io::stdout().lock()),
                None => Err(format!(
                    "--since {since:?}: expected a number and a unit (s, m, h, d), e.g. 1h"
                )),
            }
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("switchyard logs: {e}");
            1
        }
    }
}

#[derive(Clone, Copy)]
enum Which {
    Access,
    Bodies,
}

fn resolve(path: Option<&Path>, config: Option<&Config>, which: Which) -> PathBuf {
    let name = match which {
        Which::Access => "access.log",
        Which::Bodies => "bodies.log",
    };
    if let Some(p) = path {
        return if p.is_dir() {
            p.join(name)
        } else {
            p.to_path_buf()
        };
    }
    let configured = config.and_then(|c| match which {
        Which::Access => match &c.log.access {
            Destination::File(f) => Some(f.path.clone()),
            _ => None,
        },
        Which::Bodies => c.log.bodies.as_ref().map(|b| b.file.path.clone()),
    });
    configured.unwrap_or_else(|| {
        PathBuf::from(match which {
            Which::Access => DEFAULT_ACCESS_PATH,
            Which::Bodies => DEFAULT_BODIES_PATH,
        })
    })
}

/// Every file of a log, oldest first: rotated ones by sequence, then the current one.
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = rotated_files(path).into_iter().map(|r| r.path).collect();
    if path.is_file() {
        v.push(path.to_path_buf());
    }
    v
}

fn open_lines(path: &Path) -> io::Result<Box<dyn BufRead>> {
    let f = File::open(path)?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    Ok(if gz {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(f)))
    } else {
        Box::new(BufReader::new(f))
    })
}

/// Calls `each` with every line of every file of the log, oldest first.
fn each_line(path: &Path, mut each: impl FnMut(&str)) -> Result<(), String> {
    let files = log_files(path);
    if files.is_empty() {
        return Err(format!(
            "no log files at {} (give --path FILE|DIR, or -c CONFIG)",
            path.display()
        ));
    }
    for f in files {
        let reader = match open_lines(&f) {
            Ok(r) => r,
            // Rotated away or gzipped between listing and opening.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", f.display())),
        };
        for line in reader.split(b'\n') {
            let line = line.map_err(|e| format!("{}: {e}", f.display()))?;
            each(&String::from_utf8_lossy(&line));
        }
    }
    Ok(())
}

// === show ===

fn show(path: &Path, id: &str, json: bool, out: &mut dyn Write) -> Result<(), String> {
    let needle = format!("\"request_id\":{}", Value::from(id));
    let mut found = Vec::new();
    each_line(path, |line| {
        if line.contains(&needle) {
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                if v["request_id"] == id {
                    found.push(v);
                }
            }
        }
    })?;
    if found.is_empty() {
        return Err(format!(
            "no body-log record for request id {id} in {} or its rotated files \
             (is log.bodies.enabled on?)",
            path.display()
        ));
    }
    let text = if json {
        found
            .iter()
            .map(|v| serde_json::to_string_pretty(v).unwrap_or_default() + "\n")
            .collect()
    } else {
        found
            .iter()
            .map(conversation)
            .collect::<Vec<_>>()
            .join("\n")
    };
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

/// A body-log record as readable text.
pub fn conversation(r: &Value) -> String {
    let mut o = String::new();
    let line = |o: &mut String, t: String| {
        o.push_str(&t);
        o.push('\n');
    };
    line(
        &mut o,
        format!("request {}  {}", s(&r["request_id"]), s(&r["ts"])),
    );
    line(
        &mut o,
        format!(
            "key {} · api {} · model {} → {}/{} · status {}{}",
            s(&r["key"]),
            s(&r["api"]),
            s(&r["model"]),
            s(&r["provider"]),
            s(&r["upstream_model"]),
            r["status"],
            if r["stream"] == true {
                " · stream"
            } else {
                ""
            }
        ),
    );
    line(
        &mut o,
        format!(
            "timing: ttfb {} ms · total {} ms · attempts {}{}",
            r["ttfb_ms"],
            r["duration_ms"],
            r["attempts"],
            r["cache"]
                .as_str()
                .map(|c| format!(" · cache {c}"))
                .unwrap_or_default()
        ),
    );
    if let Some(e) = r["error"].as_str() {
        line(&mut o, format!("error: {e}"));
    }
    line(&mut o, "--- conversation".into());
    match &r["request"] {
        Value::Object(req) => request_turns(req, &mut o),
        Value::String(t) => line(
            &mut o,
            format!("(request body, {} truncated)\n{t}", truncated(r, "request")),
        ),
        _ => line(&mut o, "(no request body)".into()),
    }
    let a = &r["response"];
    match a {
        Value::Object(_) => {
            line(
                &mut o,
                format!("--- answer (finish: {})", s(&a["finish_reason"])),
            );
            if let Some(parts) = a["content"].as_array() {
                let mut text = String::new();
                for p in parts {
                    match s(&p["type"]) {
                        "text" => text.push_str(s(&p["text"])),
                        "thinking" => line(&mut o, format!("[thinking] {}", s(&p["text"]))),
                        "tool_call" => {
                            if !text.is_empty() {
                                line(&mut o, format!("[assistant] {}", std::mem::take(&mut text)));
                            }
                            line(
                                &mut o,
                                format!(
                                    "  → tool call {} ({}): {}",
                                    s(&p["name"]),
                                    s(&p["id"]),
                                    s(&p["arguments"])
                                ),
                            );
                        }
                        other => line(&mut o, format!("[{other}]")),
                    }
                }
                if !text.is_empty() {
                    line(&mut o, format!("[assistant] {text}"));
                }
            }
            if let Some(r) = a["refusal"].as_str() {
                line(&mut o, format!("[refusal] {r}"));
            }
        }
        Value::String(t) => line(
            &mut o,
            format!("--- answer ({} truncated)\n{t}", truncated(r, "response")),
        ),
        _ => line(&mut o, "--- no answer recorded".into()),
    }
    let u = &r["usage"];
    line(
        &mut o,
        format!(
            "--- usage: input {} · output {} · cache read {} · cache write {} · cost {}",
            u["input_tokens"],
            u["output_tokens"],
            u["cache_read_tokens"],
            u["cache_write_tokens"],
            r["cost_usd"].as_f64().map_or("unknown".into(), |c| format!(
                "${}",
                crate::cost::format_usd(c)
            ))
        ),
    );
    o
}

fn truncated(r: &Value, which: &str) -> &'static str {
    if r[format!("{which}_truncated")] == true {
        "cut at log.bodies.max_bytes,"
    } else {
        "not JSON,"
    }
}

/// The turns of an OpenAI or Anthropic request, one line (or more) each.
fn request_turns(req: &Map<String, Value>, o: &mut String) {
    // Anthropic: top-level system, a string or text blocks.
    match req.get("system") {
        Some(Value::String(t)) => o.push_str(&format!("[system] {t}\n")),
        Some(Value::Array(blocks)) => {
            let t: Vec<&str> = blocks.iter().map(|b| s(&b["text"])).collect();
            o.push_str(&format!("[system] {}\n", t.join("")));
        }
        _ => {}
    }
    if let Some(tools) = req.get("tools").and_then(Value::as_array) {
        let names: Vec<&str> = tools
            .iter()
            .map(|t| {
                t["name"]
                    .as_str()
                    .or(t["function"]["name"].as_str())
                    .unwrap_or("-")
            })
            .collect();
        o.push_str(&format!("[tools] {}\n", names.join(", ")));
    }
    let Some(messages) = req.get("messages").and_then(Value::as_array) else {
        return;
    };
    for m in messages {
        let role = s(&m["role"]);
        match role {
            // OpenAI tool result.
            "tool" => o.push_str(&format!(
                "[tool result {}] {}\n",
                s(&m["tool_call_id"]),
                content_text(&m["content"])
            )),
            _ => {
                let text = content_text(&m["content"]);
                if !text.is_empty() {
                    o.push_str(&format!("[{role}] {text}\n"));
                }
                // Anthropic blocks: tool_use and tool_result inside content.
                if let Some(blocks) = m["content"].as_array() {
                    for b in blocks {
                        match s(&b["type"]) {
                            "tool_use" => o.push_str(&format!(
                                "  → tool call {} ({}): {}\n",
                                s(&b["name"]),
                                s(&b["id"]),
                                b["input"]
                            )),
                            "tool_result" => o.push_str(&format!(
                                "[tool result {}{}] {}\n",
                                s(&b["tool_use_id"]),
                                if b["is_error"] == true { ", error" } else { "" },
                                content_text(&b["content"])
                            )),
                            _ => {}
                        }
                    }
                }
                // OpenAI assistant tool calls.
                if let Some(calls) = m["tool_calls"].as_array() {
                    for c in calls {
                        o.push_str(&format!(
                            "  → tool call {} ({}): {}\n",
                            s(&c["function"]["name"]),
                            s(&c["id"]),
                            s(&c["function"]["arguments"])
                        ));
                    }
                }
            }
        }
    }
}

/// The text of a message content: a string, or the text parts of a list (images
/// shown as `[image]`).
fn content_text(c: &Value) -> String {
    match c {
        Value::String(t) => t.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match s(&p["type"]) {
                "text" => Some(s(&p["text"]).to_string()),
                "image" | "image_url" => Some("[image]".into()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

// === access lines ===

/// One access line's fields (text or JSON format), values as text.
pub fn parse_access(line: &str) -> Option<BTreeMap<String, String>> {
    let line = line.trim_end();
    if line.starts_with('{') {
        let v: Map<String, Value> = serde_json::from_str(line).ok()?;
        if v.get("target").and_then(Value::as_str) != Some(crate::proxy::access::TARGET) {
            return None;
        }
        return Some(
            v.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    let t = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, t)
                })
                .collect(),
        );
    }
    let rest = line.strip_prefix('[')?;
    let (head, mut rest) = rest.split_once("] ")?;
    if !head.ends_with(crate::proxy::access::TARGET) {
        return None;
    }
    let mut m = BTreeMap::new();
    m.insert("ts".into(), head.split(' ').next()?.to_string());
    while !rest.is_empty() {
        let (k, after) = rest.split_once('=')?;
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some('r') => out.push('\r'),
                        Some(other) => out.push(other),
                        None => {}
                    },
                    c => out.push(c),
                }
            }
            (out, &q[end.min(q.len())..])
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            let v = &after[..end];
            (
                if v == "-" {
                    continue_none()
                } else {
                    v.to_string()
                },
                &after[end..],
            )
        };
        if !v.is_empty() || after.starts_with('"') {
            m.insert(k.trim().to_string(), v);
        }
        rest = next.trim_start();
    }
    Some(m)
}

/// `-` stands for "none" in text lines: no entry.
fn continue_none() -> String {
    String::new()
}

struct Filter {
    key: Option<String>,
    model: Option<String>,
    status: Option<String>,
}

impl Filter {
    fn matches(&self, f: &BTreeMap<String, String>) -> bool {
        let get = |k: &str| f.get(k).map(String::as_str);
        if let Some(k) = &self.key {
            if get("key") != Some(k.as_str()) {
                return false;
            }
        }
        if let Some(m) = &self.model {
            if get("model") != Some(m.as_str()) && get("upstream_model") != Some(m.as_str()) {
                return false;
            }
        }
        if let Some(want) = &self.status {
            let status = get("status").unwrap_or("");
            let ok = want.split(',').map(str::trim).any(|w| {
                match w.strip_suffix("xx").or_else(|| w.strip_suffix("XX")) {
                    Some(class) => status.starts_with(class) && status.len() == 3,
                    None => status == w,
                }
            });
            if !ok {
                return false;
            }
        }
        true
    }
}

fn tail(path: &Path, filter: &Filter, n: usize, follow: bool) -> Result<(), String> {
    let mut last: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    let mut keep = |line: &str| {
        if n > 0 && parse_access(line).is_some_and(|f| filter.matches(&f)) {
            if last.len() == n {
                last.pop_front();
            }
            last.push_back(line.to_string());
        }
    };
    let mut follower = None;
    if follow {
        // The rotated files, then the current one through the handle that goes on
        // following it: no line written meanwhile is lost or printed twice. A log that
        // does not exist yet is followed from its first line when it appears.
        for f in rotated_files(path) {
            if let Ok(reader) = open_lines(&f.path) {
                for line in reader.split(b'\n').map_while(Result::ok) {
                    keep(&String::from_utf8_lossy(&line));
                }
            }
        }
        let mut f = Follower::new(path);
        f.poll(|line| {
            keep(line);
            true
        });
        follower = Some(f);
    } else {
        each_line(path, keep)?;
    }
    let mut out = io::stdout().lock();
    for l in last {
        if writeln!(out, "{l}").is_err() {
            return Ok(());
        }
    }
    let _ = out.flush();
    let Some(mut follower) = follower else {
        return Ok(());
    };
    loop {
        // Stdout closed (`| head`, the reader gone): stop instead of following forever.
        let open = follower.poll(|line| {
            if parse_access(line).is_some_and(|f| filter.matches(&f)) {
                return writeln!(out, "{line}").and_then(|()| out.flush()).is_ok();
            }
            true
        });
        if !open {
            return Ok(());
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

/// How often `--follow` looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Reads the lines appended to a log file, across size rotation (the path renamed
/// away and a new file created in its place), truncation and an external logrotate.
struct Follower {
    path: PathBuf,
    /// The open file and its inode; `None` while the path does not exist.
    file: Option<(File, u64)>,
    /// Bytes read so far from `file`.
    offset: u64,
    /// The start of a line whose end is not written yet.
    partial: Vec<u8>,
    /// The highest rotation sequence number when `file` was opened: the files rotated
    /// after it are `file` itself, then any that came and went between two polls.
    floor: Option<u64>,
}

impl Follower {
    /// From the first line of the file at `path` (if there is one now).
    fn new(path: &Path) -> Follower {
        let mut f = Follower {
            path: path.to_path_buf(),
            file: None,
            offset: 0,
            partial: Vec::new(),
            floor: None,
        };
        f.open();
        f
    }

    fn open(&mut self) {
        use std::os::unix::fs::MetadataExt;
        self.floor = rotated_files(&self.path).iter().map(|r| r.seq).max();
        self.file = File::open(&self.path)
            .ok()
            .and_then(|f| Some((f.metadata().ok()?.ino(), f)))
            .map(|(ino, f)| (f, ino));
        self.offset = 0;
        self.partial.clear();
    }

    /// Calls `each` with every whole line written since the last call; `each` returns
    /// false to stop. Returns false when `each` did.
    fn poll(&mut self, mut each: impl FnMut(&str) -> bool) -> bool {
        use std::os::unix::fs::MetadataExt;
        loop {
            if self.file.is_none() {
                self.open();
            }
            let Some((f, ino)) = &mut self.file else {
                return true;
            };
            let ino = *ino;
            let mut buf = Vec::new();
            let _ = f.read_to_end(&mut buf);
            self.offset += buf.len() as u64;
            self.partial.extend_from_slice(&buf);
            while let Some(i) = memchr::memchr(b'\n', &self.partial) {
                let line: Vec<u8> = self.partial.drain(..=i).collect();
                if !each(String::from_utf8_lossy(&line).trim_end()) {
                    return false;
                }
            }
            // Moved away (rotated), removed, or truncated. The old file was read to its
            // end above (a rotated file gets no more lines); then come the files rotated
            // since (when rotation is faster than polling), and the one now at the path
            // from its start, or the wait for one to appear.
            let now = std::fs::metadata(&self.path).ok();
            let moved = now
                .as_ref()
                .is_none_or(|m| m.ino() != ino || m.len() < self.offset);
            if !moved {
                return true;
            }
            if !buf.is_empty() {
                // Written to before the move: read on to its end first.
                continue;
            }
            if now.as_ref().is_none_or(|m| m.ino() != ino)
                && !self.read_rotated_since(ino, &mut each)
            {
                return false;
            }
            self.file = None;
            self.open();
            if self.file.is_none() {
                return true;
            }
        }
    }
}

impl Follower {
    /// The rotated files newer than the one just read to its end (inode `ino`), whole;
    /// false when `each` stopped.
    fn read_rotated_since(&self, ino: u64, each: &mut impl FnMut(&str) -> bool) -> bool {
        use std::os::unix::fs::MetadataExt;
        let mut newer: Vec<_> = rotated_files(&self.path)
            .into_iter()
            .filter(|r| self.floor.is_none_or(|f| r.seq > f))
            .collect();
        // Plain and gzipped at once while the gzip thread renames: one of each sequence.
        newer.dedup_by_key(|r| r.seq);
        // The first is the file just read, renamed; found by inode while not gzipped yet.
        let ours = newer
            .iter()
            .position(|r| std::fs::metadata(&r.path).is_ok_and(|m| m.ino() == ino))
            .unwrap_or(0);
        for r in newer.iter().skip(ours + 1) {
            let reader = open_lines(&r.path).or_else(|_| {
                let mut gz = r.path.as_os_str().to_owned();
                gz.push(".gz");
                open_lines(Path::new(&gz))
            });
            let Ok(reader) = reader else { continue };
            for line in reader.split(b'\n').map_while(Result::ok) {
                if !each(String::from_utf8_lossy(&line).trim_end()) {
                    return false;
                }
            }
        }
        true
    }
}

// === stats ===

fn parse_since(s: &str) -> Option<Duration> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: u64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    let secs = match unit {
        's' => n,
        'm' => n * 60,
        'h' => n * 3600,
        'd' => n * 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

#[derive(Default)]
struct Group {
    requests: u64,
    input: u64,
    output: u64,
    cost: f64,
    priced: u64,
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn stats(path: &Path, since: Duration, out: &mut dyn Write) -> Result<(), String> {
    let from = SystemTime::now()
        .checked_sub(since)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let from = jiff::Timestamp::try_from(from).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let mut total = 0u64;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut durations = Vec::new();
    let mut ttfts = Vec::new();
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    each_line(path, |line| {
        let Some(f) = parse_access(line) else { return };
        let ts = f.get("ts").and_then(|t| t.parse::<jiff::Timestamp>().ok());
        if ts.is_none_or(|t| t < from) {
            return;
        }
        if f.get("api").is_none_or(|a| a == "none") {
            return; // health checks and unknown paths
        }
        let num = |k: &str| f.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        total += 1;
        let status = num("status");
        if status >= 400 || f.contains_key("error") {
            let kind = f
                .get("error")
                .cloned()
                .unwrap_or_else(|| format!("status {status}"));
            // The kind, without the detail some errors carry after a colon.
            let kind = kind.split(':').next().unwrap_or("").trim().to_string();
            *errors.entry(kind).or_default() += 1;
        }
        durations.push(num("duration_ms"));
        if status == 200 && num("ttfb_ms") > 0 {
            ttfts.push(num("ttfb_ms"));
        }
        let g = groups
            .entry((
                f.get("provider").cloned().unwrap_or_else(|| "-".into()),
                f.get("upstream_model")
                    .or(f.get("model"))
                    .cloned()
                    .unwrap_or_else(|| "-".into()),
            ))
            .or_default();
        g.requests += 1;
        g.input += num("input_tokens");
        g.output += num("output_tokens");
        if let Some(c) = f.get("cost_usd").and_then(|c| c.parse::<f64>().ok()) {
            g.cost += c;
            g.priced += 1;
        }
    })?;
    durations.sort_unstable();
    ttfts.sort_unstable();
    let failed: u64 = errors.values().sum();
    let mut o = String::new();
    o.push_str(&format!(
        "requests: {total} in the last {}\n",
        jiff::SignedDuration::try_from(since).map_or_else(|_| "?".into(), |d| format!("{d:#}"))
    ));
    let rate = if total > 0 {
        failed as f64 * 100.0 / total as f64
    } else {
        0.0
    };
    o.push_str(&format!("errors: {failed} ({rate:.2}%)\n"));
    for (kind, n) in &errors {
        o.push_str(&format!("  {kind}: {n}\n"));
    }
    o.push_str(&format!(
        "latency ms: p50 {} · p95 {}\nttft ms (200s): p50 {} · p95 {}\n",
        percentile(&durations, 0.5),
        percentile(&durations, 0.95),
        percentile(&ttfts, 0.5),
        percentile(&ttfts, 0.95)
    ));
    o.push_str("by provider / model: requests · input tokens · output tokens · cost USD\n");
    for ((p, m), g) in &groups {
        let cost = if g.priced > 0 {
            crate::cost::format_usd(g.cost)
        } else {
            "unknown".into()
        };
        o.push_str(&format!(
            "  {p} / {m}: {} · {} · {} · {cost}\n",
            g.requests, g.input, g.output
        ));
    }
    out.write_all(o.as_bytes()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_lines_in_both_formats() {
        let t = r#"[2026-12-02T10:15:30Z INFO  switchyard::access] request_id=sy-1 method=POST path=/v1/messages status=502 api=anthropic key="team a" model=m provider=- cost_usd=- error="Upstream: x=1""#;
        let f = parse_access(t).unwrap();
        assert_eq!(f["ts"], "2026-12-02T10:15:30Z");
        assert_eq!(f["key"], "team a");
        assert_eq!(f["status"], "502");
        assert_eq!(f["error"], "Upstream: x=1");
        assert!(!f.contains_key("provider") && !f.contains_key("cost_usd"));
        let j = r#"{"ts":"2026-12-02T10:15:30.123Z","level":"info","target":"switchyard::access","request_id":"sy-1","status":200,"key":null,"cost_usd":0.5}"#;
        let f = parse_access(j).unwrap();
        assert_eq!(f["status"], "200");
        assert_eq!(f["cost_usd"], "0.5");
        assert!(!f.contains_key("key"));
        assert!(parse_access("[2026-12-02T10:15:30Z INFO  switchyard] listening").is_none());
        let filter = Filter {
            key: None,
            model: None,
            status: Some("4xx,5xx".into()),
        };
        assert!(!filter.matches(&f));
        assert!(filter.matches(&parse_access(t).unwrap()));
    }

    #[test]
    fn the_follower_reads_across_rotation_removal_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let append = |p: &Path, s: &str| {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap();
            f.write_all(s.as_bytes()).unwrap();
        };
        let read = |f: &mut Follower| {
            let mut v = Vec::new();
            f.poll(|l| {
                v.push(l.to_string());
                true
            });
            v
        };
        // Not there yet: followed from its first line once it appears.
        let mut f = Follower::new(&path);
        assert!(read(&mut f).is_empty());
        append(&path, "a\nb\npart");
        assert_eq!(read(&mut f), ["a", "b"]);
        append(&path, "ial\n");
        assert_eq!(read(&mut f), ["partial"]);
        // Size rotation: the last lines of the old file, then the new file from its start.
        append(&path, "c\n");
        std::fs::rename(&path, dir.path().join("access.log.1")).unwrap();
        append(&path, "d\n");
        assert_eq!(read(&mut f), ["c", "d"]);
        // Removed, then created again (the window between rename and create).
        std::fs::remove_file(&path).unwrap();
        assert!(read(&mut f).is_empty());
        append(&path, "e\n");
        assert_eq!(read(&mut f), ["e"]);
        // Truncated in place (copytruncate).
        append(&path, "f\n");
        assert_eq!(read(&mut f), ["f"]);
        std::fs::write(&path, "g\n").unwrap();
        assert_eq!(read(&mut f), ["g"]);
        // Rotations faster than polling: the file read last, then every file rotated
        // since (one already gzipped), then the current one.
        let rotated = |seq: u64| {
            dir.path()
                .join(format!("access.log.20261202T101530Z.{seq}"))
        };
        append(&path, "r1\n");
        std::fs::rename(&path, rotated(1)).unwrap();
        append(&path, "r2\n");
        std::fs::rename(&path, rotated(2)).unwrap();
        crate::logs::file::gzip(&rotated(2)).unwrap();
        append(&path, "r3\n");
        std::fs::rename(&path, rotated(3)).unwrap();
        append(&path, "r4\n");
        assert_eq!(read(&mut f), ["r1", "r2", "r3", "r4"]);
        append(&path, "r5\n");
        std::fs::rename(&path, rotated(4)).unwrap();
        append(&path, "r6\n");
        assert_eq!(read(&mut f), ["r5", "r6"]);
        // `each` returning false stops the poll.
        append(&path, "h\ni\n");
        let mut n = 0;
        assert!(!f.poll(|_| {
            n += 1;
            false
        }));
        assert_eq!(n, 1);
    }

    #[test]
    fn since() {
        assert_eq!(parse_since("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_since("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_since("2d"), Some(Duration::from_secs(172_800)));
        assert_eq!(parse_since("h"), None);
        assert_eq!(parse_since("5y"), None);
    }

    #[test]
    fn conversations_of_both_apis() {
        let r: Value = serde_json::json!({
            "request_id": "a", "api": "anthropic", "status": 200,
            "request": {"system": "be brief", "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "18C"}]}
            ]},
            "response": {"content": [{"type": "text", "text": "It is 18C."}], "finish_reason": "stop"},
            "usage": {"input_tokens": 3, "output_tokens": 4}, "cost_usd": 0.25
        });
        let t = conversation(&r);
        for want in [
            "[system] be brief",
            "[user] weather?",
            "→ tool call get_weather (t1): {\"city\":\"Paris\"}",
            "[tool result t1] 18C",
            "[assistant] It is 18C.",
            "finish: stop",
            "cost $0.25",
        ] {
            assert!(t.contains(want), "{want}\n{t}");
        }
        let r: Value = serde_json::json!({
            "request_id": "o", "api": "openai",
            "request": {"messages": [
                {"role": "system", "content": "sys"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "done"}
            ]},
            "response": {"content": [{"type": "tool_call", "id": "c2", "name": "g", "arguments": "{\"a\":1}"}], "finish_reason": "tool_calls"}
        });
        let t = conversation(&r);
        for want in [
            "[system] sys",
            "→ tool call f (c1): {}",
            "[tool result c1] done",
            "→ tool call g (c2): {\"a\":1}",
            "cost unknown",
        ] {
            assert!(t.contains(want), "{want}\n{t}");
        }
    }
}
