//! `/metrics`: the OpenTelemetry GenAI histograms (names, labels, bucket boundaries),
//! the spend counter, Prometheus's own linter on the whole exposition, and the bound
//! on label cardinality when clients send names nobody configured.
//!
//! The failure modes they guard against: a metric label per client-sent model name
//! growing the registry without bound, and an exposition that Prometheus's parser
//! rejects.

mod common;
use common::*;
use serde_json::json;

const KEY: &str = "key-metrics-0000001";

fn gateway(mock: &Mock) -> Gateway {
    let models = r#"  fast:
    targets:
      - { provider: oai, model: gpt-x, price: { input: 1.0, output: 2.0 } }
  claude:
    targets:
      - provider: anth
        model: "mock:fixture=anthropic/message_text.json"
        price: { input: 3.0, output: 15.0, cache_read: 0.3, cache_write: 3.75 }"#;
    let yaml = two_provider_config(mock, models).replace(
        "providers:",
        &format!("keys:\n  - {{ name: team-a, key: {KEY} }}\nproviders:"),
    );
    Gateway::start(&yaml)
}

fn post(gw: &Gateway, body: serde_json::Value) -> Reply {
    gw.post_raw(
        "/v1/chat/completions",
        serde_json::to_vec(&body).unwrap(),
        &[("authorization", &format!("Bearer {KEY}"))],
    )
}

/// Sample lines (`name{labels} value`) of metric families starting with `prefix`.
fn series<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.starts_with(prefix) && !l.starts_with('#'))
        .collect()
}

#[test]
fn genai_histograms_have_the_otel_names_labels_and_buckets() {
    let mock = Mock::start();
    let gw = gateway(&mock);
    let r = post(
        &gw,
        json!({"model": "fast", "max_tokens": 20, "messages": [{"role": "user", "content": "one two three"}]}),
    );
    assert_eq!(r.status, 200);
    // With usage in the stream: time per output token needs the count.
    let r = post(
        &gw,
        json!({"model": "fast", "stream": true, "stream_options": {"include_usage": true}, "max_tokens": 20, "messages": [{"role": "user", "content": "one two three four"}]}),
    );
    assert_eq!(r.status, 200);
    let r = post(
        &gw,
        json!({"model": "claude", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 200);
    let r = post(
        &gw,
        json!({"model": "nope", "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 404);
    gw.log_with("model=nope");
    let m = gw.metrics();

    // A success has an empty error_type (the client library prints it).
    let labels = r#"error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="oai",gen_ai_request_model="fast",gen_ai_response_model="gpt-x""#;
    // Duration: the OTel boundaries, 0.01 s doubling to 81.92 s.
    for le in ["0.01", "0.02", "0.64", "81.92", "+Inf"] {
        let line = format!("gen_ai_server_request_duration_seconds_bucket{{{labels},le=\"{le}\"}}");
        assert!(
            m.contains(&line),
            "no {line} in\n{}",
            series(&m, "gen_ai_server_request").join("\n")
        );
    }
    assert!(
        m.contains(&format!(
            "gen_ai_server_request_duration_seconds_count{{{labels}}} 2"
        )),
        "{m}"
    );
    // Time to first token and per output token: streams only.
    for le in ["0.001", "0.005", "0.25", "10"] {
        assert!(
            m.contains(&format!(
                "gen_ai_server_time_to_first_token_seconds_bucket{{{labels},le=\"{le}\"}}"
            )),
            "{le}"
        );
    }
    assert!(m.contains(&format!(
        "gen_ai_server_time_to_first_token_seconds_count{{{labels}}} 1"
    )));
    assert!(m.contains(&format!(
        "gen_ai_server_time_per_output_token_seconds_count{{{labels}}} 1"
    )));
    for le in ["0.01", "0.025", "2.5"] {
        assert!(
            m.contains(&format!(
                "gen_ai_server_time_per_output_token_seconds_bucket{{{labels},le=\"{le}\"}}"
            )),
            "{le}"
        );
    }
    // Tokens by type, with the OTel boundaries (powers of 4 from 1 to 67,108,864).
    let tokens = labels.trim_start_matches("error_type=\"\",");
    for le in ["1", "4", "1024", "67108864"] {
        assert!(m.contains(&format!("gen_ai_client_token_usage_bucket{{{tokens},gen_ai_token_type=\"input\",le=\"{le}\"}}")), "{le}");
    }
    let claude = r#"gen_ai_operation_name="chat",gen_ai_provider_name="anth",gen_ai_request_model="claude",gen_ai_response_model="mock:fixture=anthropic/message_text.json""#;
    for (kind, n) in [
        ("input", 276),
        ("cached_input", 1024),
        ("cache_creation_input", 200),
        ("output", 27),
    ] {
        let line =
            format!("gen_ai_client_token_usage_sum{{{claude},gen_ai_token_type=\"{kind}\"}} {n}");
        assert!(
            m.contains(&line),
            "no {line} in\n{}",
            series(&m, "gen_ai_client_token_usage_sum").join("\n")
        );
    }
    // The unknown model: an error with no provider, its name folded into _OTHER.
    assert!(m.contains(r#"gen_ai_server_request_duration_seconds_count{error_type="not_found",gen_ai_operation_name="chat",gen_ai_provider_name="",gen_ai_request_model="_OTHER",gen_ai_response_model=""} 1"#), "{}", series(&m, "gen_ai_server_request_duration_seconds_count").join("\n"));
    // Spend by key, provider and model: the fixture's cost at its prices.
    let spent = series(&m, "switchyard_cost_usd_total{key=\"team-a\",model=\"mock:fixture=anthropic/message_text.json\",provider=\"anth\"}");
    assert_eq!(
        spent.len(),
        1,
        "{}",
        series(&m, "switchyard_cost_usd_total").join("\n")
    );
    let usd: f64 = spent[0].rsplit(' ').next().unwrap().parse().unwrap();
    assert!((usd - 0.0022902).abs() < 1e-9, "{usd}");
}

#[test]
fn the_whole_exposition_passes_promtool() {
    let mock = Mock::start();
    let gw = gateway(&mock);
    for stream in [false, true] {
        let r = post(
            &gw,
            json!({"model": "fast", "stream": stream, "messages": [{"role": "user", "content": "a b c"}]}),
        );
        assert_eq!(r.status, 200);
    }
    let r = post(
        &gw,
        json!({"model": "claude", "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 200);
    gw.log_with("model=claude");
    let text = gw.metrics();
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian package prometheus; .ci/run installs it)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_thousand_made_up_model_names_add_no_series() {
    let mock = Mock::start();
    let gw = gateway(&mock);
    let send = |name: &str| {
        let r = post(
            &gw,
            json!({"model": name, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
        );
        assert_eq!(r.status, 200, "{name}: {}", r.text());
    };
    // `oai/<anything>` reaches the configured provider with a model nobody configured.
    send("oai/made-up-0");
    gw.log_with("model=oai/made-up-0 ");
    let before = gw.metrics();
    for i in 1..1000 {
        send(&format!("oai/made-up-{i}"));
    }
    gw.log_with("model=oai/made-up-999 ");
    let after = gw.metrics();
    for prefix in ["gen_ai_", "switchyard_"] {
        let (b, a) = (series(&before, prefix).len(), series(&after, prefix).len());
        assert_eq!(a, b, "{prefix}* series grew from {b} to {a}");
    }
    assert!(
        !after.contains("made-up"),
        "a client's model name reached a label"
    );
    assert!(after.contains(r#"gen_ai_server_request_duration_seconds_count{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="oai",gen_ai_request_model="_OTHER",gen_ai_response_model="_OTHER"} 1000"#));
}

#[test]
fn the_alert_rules_in_deployment_md_pass_promtool() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/DEPLOYMENT.md")).unwrap();
    let start = doc
        .find("```yaml\ngroups:")
        .expect("a rules block in DEPLOYMENT.md")
        + "```yaml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yml");
    std::fs::write(&path, &doc[start..end]).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .expect("promtool runs (Debian package prometheus; .ci/run installs it)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Every metric the rules use is one the gateway exports.
    let exported =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/metrics.rs")).unwrap();
    for name in [
        "switchyard_cost_usd_total",
        "gen_ai_server_time_to_first_token_seconds",
        "switchyard_requests_in_flight",
    ] {
        assert!(
            doc[start..end].contains(name) && exported.contains(name),
            "{name}"
        );
    }
}
