//! `switchyard probe` as a user runs it: against the mock provider, with no gateway
//! running, through the gateway's own code path (pinned per target).

mod common;
use common::*;
use serde_json::Value;
use std::process::Command;

fn config(mock: &Mock, dir: &std::path::Path) -> std::path::PathBuf {
    let models = r#"  smart:
    targets:
      - { provider: oai, model: echo, price: { input: 0.0, output: 1000.0 } }
      - { provider: anth, model: "mock:delay_ms=60,events=4", price: { input: 0.0, output: 1000.0 } }
      - { provider: oai, model: "mock:status=500" }"#;
    // Keys are configured: the probe needs none of them.
    let yaml = two_provider_config(mock, models)
        .replace(
            "providers:",
            "keys: [ { name: ops, key: key-probe-000001 } ]\nproviders:",
        )
        .replace("{listen}", "127.0.0.1:1")
        .replace("admin_listen: \"{admin}\"\n", "");
    let path = dir.join("probe.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn probe(path: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("probe")
        .arg("-c")
        .arg(path)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn by_target<'a>(reports: &'a Value, target: &str) -> &'a Value {
    reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"] == target)
        .unwrap_or_else(|| panic!("no {target} in {reports}"))
}

#[test]
fn every_target_of_an_alias_is_measured_with_errors_by_kind_and_cost() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let path = config(&mock, dir.path());
    let (code, out, err) = probe(
        &path,
        &["smart", "-n", "4", "-C", "2", "--prompt", "a b c", "--json"],
    );
    // One target never answers: exit 1, the others are still reported.
    assert_eq!(code, 1, "{out}{err}");
    let reports: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(reports.as_array().unwrap().len(), 3);
    let echo = by_target(&reports, "smart → oai/echo");
    assert_eq!(
        (echo["ok"].as_u64(), echo["requests"].as_u64()),
        (Some(4), Some(4))
    );
    // "echo: a b c" is 4 output tokens at $1000 per million.
    let cost = echo["cost_usd_per_request"].as_f64().unwrap();
    assert!((cost - 0.004).abs() < 1e-9, "{echo}");
    assert!(echo["total_ms_p50"].as_f64().unwrap() <= echo["total_ms_p95"].as_f64().unwrap());
    let failing = by_target(&reports, "smart → oai/mock:status=500");
    assert_eq!(failing["ok"], 0);
    assert_eq!(failing["cost_usd_per_request"], Value::Null);
    let errors = failing["errors"].as_object().unwrap();
    assert_eq!(
        errors.values().map(|v| v.as_u64().unwrap()).sum::<u64>(),
        4,
        "{failing}"
    );
    assert!(errors.contains_key("upstream"), "{failing}");
    // The request really went to the provider: the mock saw the pinned models.
    let models: Vec<String> = mock
        .requests()
        .iter()
        .filter_map(|r| serde_json::from_str::<Value>(r["body"].as_str()?).ok())
        .filter_map(|b| b["model"].as_str().map(str::to_string))
        .collect();
    assert!(
        models.iter().any(|m| m == "echo") && models.iter().any(|m| m == "mock:status=500"),
        "{models:?}"
    );
}

#[test]
fn streams_report_time_to_first_token_before_the_end() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let path = config(&mock, dir.path());
    let (code, out, err) = probe(
        &path,
        &[
            "anth/mock:delay_ms=60,events=4",
            "-n",
            "2",
            "--stream",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let reports: Value = serde_json::from_str(&out).unwrap();
    let r = by_target(&reports, "anth/mock:delay_ms=60,events=4");
    assert_eq!(r["ok"], 2, "{r}");
    // Four events 60 ms apart: the first token comes well before the last.
    let (ttft, total) = (
        r["ttft_ms_p50"].as_f64().unwrap(),
        r["total_ms_p50"].as_f64().unwrap(),
    );
    assert!(ttft < total, "{r}");
    assert!(r["output_tokens_per_second"].as_f64().unwrap() > 0.0);
    assert!(
        r["cost_usd_per_request"].is_null(),
        "an ad-hoc target has no price: {r}"
    );
}

#[test]
fn the_table_and_the_unknown_target() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let path = config(&mock, dir.path());
    let (code, out, _) = probe(&path, &["oai/echo", "-n", "2"]);
    assert_eq!(code, 0, "{out}");
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    for col in [
        "TARGET",
        "OK",
        "ERRORS",
        "TTFT P50",
        "TOTAL P95",
        "TOK/S",
        "COST/REQ",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("oai/echo") && row.contains("2/2") && row.ends_with("unknown"),
        "{row}"
    );
    let (code, _, err) = probe(&path, &["nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown target 'nope': name an alias (smart) or provider/model"),
        "{err}"
    );
}
