//! Results as JSON, Markdown and CSV.

use crate::cli::Args;
use crate::request::KINDS;
use crate::stats::summary;
use crate::watch::{Sample, Target};
use crate::Shared;
use serde_json::{json, Value};
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::time::Instant;

pub struct Report<'a> {
    pub args: &'a Args,
    pub sh: &'a Shared,
    pub targets: &'a [Target],
    pub samples: &'a [Vec<Sample>],
    pub before: &'a [Option<Sample>],
    pub after: &'a [Option<Sample>],
    pub cpu_start: Option<&'a [Option<f64>]>,
    pub cpu_end: &'a [Option<f64>],
    pub load_end: Instant,
    pub body_size: usize,
}

fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

impl Report<'_> {
    pub fn json(&self) -> Value {
        let sh = self.sh;
        let st = sh.stats.lock().expect("stats lock");
        let window_end = self.load_end.min(sh.measure_end);
        let window_s = window_end
            .saturating_duration_since(sh.measure_start)
            .as_secs_f64();
        let rps = if window_s > 0.0 {
            st.completed_in_window as f64 / window_s
        } else {
            0.0
        };
        let t_start = sh.measure_start.duration_since(sh.t0).as_secs_f64();
        let t_end = self.load_end.duration_since(sh.t0).as_secs_f64();
        let mut watch = Vec::new();
        for (i, t) in self.targets.iter().enumerate() {
            let win: Vec<&Sample> = self.samples[i]
                .iter()
                .filter(|s| s.t >= t_start - 1e-6 && s.t <= t_end + 1e-6)
                .collect();
            let rss: Vec<u64> = win.iter().map(|s| s.rss_kb).collect();
            let cpu = match (self.cpu_start.and_then(|c| c[i]), self.cpu_end[i]) {
                (Some(a), Some(b)) => Some(b - a),
                _ => None,
            };
            let per_req = cpu
                .filter(|_| st.completed > 0)
                .map(|c| c / st.completed as f64);
            watch.push(json!({
                "label": t.label,
                "pid": t.pid,
                "samples": win.len(),
                "rss_kb_before": self.before[i].map(|s| s.rss_kb),
                "rss_kb_after": self.after[i].map(|s| s.rss_kb),
                "rss_kb_peak": rss.iter().copied().max().into_iter().chain(self.after[i].map(|s| s.rss_kb)).max(),
                "rss_kb_avg": (!rss.is_empty()).then(|| rss.iter().sum::<u64>() / rss.len() as u64),
                "fds_before": self.before[i].map(|s| s.fds),
                "fds_peak": win.iter().map(|s| s.fds).max(),
                "cpu_s": cpu.map(|c| round(c, 3)),
                "cpu_util_pct": cpu.filter(|_| t_end > t_start).map(|c| round(100.0 * c / (t_end - t_start), 1)),
                "cpu_us_per_request": per_req.map(|c| round(c * 1e6, 1)),
            }));
        }
        // Machine-wide busy CPU over the window, and the part not used by watched processes.
        let n = self.targets.len();
        let machine = match (
            self.cpu_start.and_then(|c| c.get(n).copied().flatten()),
            self.cpu_end.get(n).copied().flatten(),
        ) {
            (Some(a), Some(b)) if t_end > t_start => {
                let busy = b - a;
                let ours: f64 = (0..n)
                    .filter_map(
                        |i| match (self.cpu_start.and_then(|c| c[i]), self.cpu_end[i]) {
                            (Some(x), Some(y)) => Some(y - x),
                            _ => None,
                        },
                    )
                    .sum();
                let secs = t_end - t_start;
                json!({
                    "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
                    "busy_cores": round(busy / secs, 2),
                    "watched_cores": round(ours / secs, 2),
                    "other_cores": round(((busy - ours) / secs).max(0.0), 2),
                })
            }
            _ => Value::Null,
        };
        let kinds: serde_json::Map<String, Value> = KINDS
            .iter()
            .filter(|k| sh.plan.specs.iter().any(|s| s.kind == **k))
            .map(|k| {
                let ks = &st.kinds[*k as usize];
                (
                    k.name().to_string(),
                    json!({
                        "model": sh.plan.specs.iter().find(|s| s.kind == *k).map(|s| s.model.clone()),
                        "completed": ks.completed,
                        "errors": ks.errors,
                        "latency_us": summary(&ks.latency),
                    }),
                )
            })
            .collect();
        let started_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64() - sh.t0.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        let streaming = sh.plan.specs.iter().any(|s| s.stream);
        json!({
            "name": self.args.name,
            "command": std::env::args().collect::<Vec<_>>().join(" "),
            "started_unix": round(started_unix, 3),
            "target": {
                "url": self.args.url,
                "path": sh.ep.path,
                "api": self.args.api,
            },
            "mode": if self.args.rate.is_some() { "open" } else { "closed" },
            "connections": self.args.connections,
            "rate": self.args.rate,
            "max_inflight": self.args.rate.map(|_| self.args.max_inflight),
            "body_bytes": self.body_size,
            "stream": streaming,
            "models": sh.plan.specs.iter().map(|s| s.model.clone()).collect::<Vec<_>>(),
            "warmup_s": self.args.warmup,
            "duration_s": self.args.duration,
            "requests_limit": self.args.requests,
            "threads": self.args.threads,
            "window_s": round(window_s, 3),
            "rps": round(rps, 1),
            "started": st.started,
            "completed": st.completed,
            "completed_in_window": st.completed_in_window,
            "ok": st.ok,
            "warmup_requests": st.warmup_requests,
            "errors_total": st.error_total(),
            "errors": st.errors,
            "warmup_errors": st.warmup_errors,
            "outcomes": st.outcomes,
            "peak_inflight": sh.peak_inflight.load(Ordering::Relaxed),
            "latency_us": summary(&st.latency),
            "service_time_us": summary(&st.service),
            "send_lag_us": summary(&st.send_lag),
            "ttft_us": if streaming { summary(&st.ttft) } else { Value::Null },
            "event_gap_us": if streaming { summary(&st.gap) } else { Value::Null },
            "events": st.events,
            "streams_done": st.streams_done,
            "body_bytes_received": st.body_bytes,
            "by_kind": kinds,
            "watch": watch,
            "machine": machine,
        })
    }

    pub fn csv(&self) -> String {
        let mut out = String::from("t_s,label,pid,rss_kb,fds,cpu_s\n");
        let mut rows: Vec<(f64, usize, Sample)> = Vec::new();
        for (i, list) in self.samples.iter().enumerate() {
            for s in list {
                rows.push((s.t, i, *s));
            }
        }
        rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (_, i, s) in rows {
            let t = &self.targets[i];
            let _ = writeln!(
                out,
                "{:.3},{},{},{},{},{:.3}",
                s.t, t.label, t.pid, s.rss_kb, s.fds, s.cpu_s
            );
        }
        out
    }
}

fn ms(v: &Value) -> String {
    match v.as_u64() {
        Some(us) => format!("{:.3}", us as f64 / 1000.0),
        None => "-".into(),
    }
}

fn pct_row(out: &mut String, name: &str, h: &Value) {
    if h.is_null() || h["count"].as_u64().unwrap_or(0) == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "| {name} | {} | {} | {} | {} | {} | {} | {} |",
        h["count"],
        ms(&h["p50"]),
        ms(&h["p90"]),
        ms(&h["p99"]),
        ms(&h["p99_9"]),
        ms(&h["max"]),
        h["mean"]
            .as_f64()
            .map_or("-".into(), |m| format!("{:.3}", m / 1000.0)),
    );
}

fn map_str(v: &Value) -> String {
    match v.as_object() {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none".into(),
    }
}

/// A Markdown summary of one run's JSON.
pub fn markdown(v: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "### {}\n", v["name"].as_str().unwrap_or("run"));
    let _ = writeln!(o, "`{}`\n", v["command"].as_str().unwrap_or(""));
    let mode = if v["mode"] == "open" {
        format!(
            "open loop, {} req/s, max in flight {}",
            v["rate"], v["max_inflight"]
        )
    } else {
        format!("closed loop, {} connections", v["connections"])
    };
    let _ = writeln!(o, "| figure | value |\n|---|---|");
    let _ = writeln!(o, "| mode | {mode} |");
    let _ = writeln!(
        o,
        "| target | {} {} |",
        v["target"]["url"].as_str().unwrap_or(""),
        v["target"]["path"].as_str().unwrap_or("")
    );
    let _ = writeln!(
        o,
        "| models | {} |",
        v["models"]
            .as_array()
            .map(|a| a
                .iter()
                .map(|m| format!("`{}`", m.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    );
    let _ = writeln!(o, "| request body | {} bytes |", v["body_bytes"]);
    let _ = writeln!(o, "| measured window | {} s |", v["window_s"]);
    let _ = writeln!(o, "| requests/s | {} |", v["rps"]);
    let _ = writeln!(o, "| completed (ok) | {} ({}) |", v["completed"], v["ok"]);
    let _ = writeln!(
        o,
        "| errors | {} ({}) |",
        v["errors_total"],
        map_str(&v["errors"])
    );
    let _ = writeln!(o, "| other outcomes | {} |", map_str(&v["outcomes"]));
    let _ = writeln!(o, "| peak in flight | {} |", v["peak_inflight"]);
    if v["stream"] == true {
        let _ = writeln!(
            o,
            "| SSE data events received | {} (streams complete: {}) |",
            v["events"], v["streams_done"]
        );
    }
    for w in v["watch"].as_array().into_iter().flatten() {
        let mb = |x: &Value| {
            x.as_u64()
                .map_or("-".into(), |k| format!("{:.1} MB", k as f64 / 1024.0))
        };
        let _ = writeln!(
            o,
            "| {} (pid {}) | RSS before {}, peak {}, avg {}, after {}; fds peak {}; CPU {} s ({}%), {} µs/request |",
            w["label"].as_str().unwrap_or(""),
            w["pid"],
            mb(&w["rss_kb_before"]),
            mb(&w["rss_kb_peak"]),
            mb(&w["rss_kb_avg"]),
            mb(&w["rss_kb_after"]),
            w["fds_peak"],
            w["cpu_s"],
            w["cpu_util_pct"],
            w["cpu_us_per_request"],
        );
    }
    if !v["machine"].is_null() {
        let m = &v["machine"];
        let _ = writeln!(
            o,
            "| machine CPU during the window | {} of {} cores busy: {} by watched processes, {} by others |",
            m["busy_cores"], m["cpus"], m["watched_cores"], m["other_cores"]
        );
    }
    let _ = writeln!(
        o,
        "\n| ms | count | p50 | p90 | p99 | p99.9 | max | mean |\n|---|---|---|---|---|---|---|---|"
    );
    pct_row(&mut o, "latency (from intended start)", &v["latency_us"]);
    pct_row(&mut o, "service time (from send)", &v["service_time_us"]);
    if v["mode"] == "open" {
        pct_row(&mut o, "send lag (schedule → send)", &v["send_lag_us"]);
    }
    pct_row(&mut o, "TTFT (first SSE data event)", &v["ttft_us"]);
    pct_row(&mut o, "gap between SSE events", &v["event_gap_us"]);
    if let Some(kinds) = v["by_kind"].as_object() {
        if kinds.len() > 1 {
            for (k, kv) in kinds {
                pct_row(
                    &mut o,
                    &format!(
                        "kind {k} (completed {}, errors {})",
                        kv["completed"], kv["errors"]
                    ),
                    &kv["latency_us"],
                );
            }
        }
    }
    o
}
