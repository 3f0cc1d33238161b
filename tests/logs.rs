//! Logs: JSON access lines in a rotating file, start-up directory checks, write
//! failures at run time, SIGTERM flush, SIGHUP reopen, the body log (plain and
//! streamed, both APIs, tool calls) with redaction, and `switchyard logs`.
//! Every test has its own temp directory.

mod common;
use common::*;
use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A bound against hanging; never a performance threshold.
const PATIENCE: Duration = Duration::from_secs(30);

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn config(mock: &Mock, log: &str) -> String {
    format!(
        "{}log: {log}\n",
        two_provider_config(
            mock,
            "  o: { targets: [ { provider: oai, model: echo } ] }\n  a: { targets: [ { provider: anth, model: echo } ] }"
        )
    )
}

fn ask(gw: &Gateway, id: &str) -> Reply {
    gw.post_raw(
        "/v1/chat/completions",
        chat("o", 5),
        &[("x-request-id", id)],
    )
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn gunzip(p: &Path) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(p).unwrap())
        .read_to_string(&mut s)
        .unwrap_or_else(|e| panic!("{} is not valid gzip: {e}", p.display()));
    s
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn metric(gw: &Gateway, name: &str) -> u64 {
    gw.metrics()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

fn access_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "switchyard::access" && v["path"] != "/healthz")
        .collect()
}

fn switchyard(args: &[&str]) -> (i32, String, String) {
    let out = common::bare_command(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn json_access_lines_rotate_by_size_into_gzipped_files() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let gw = Gateway::start(&config(
        &mock,
        &format!(
            "{{ format: json, min_free_bytes: 0, access: {{ path: '{}', rotate: {{ max_bytes: 4096, max_files: 3 }} }} }}",
            path.display()
        ),
    ));
    for i in 0..150 {
        assert_eq!(ask(&gw, &format!("rot-{i}")).status, 200);
    }
    // Three rotated files, all gzipped (the gzip thread finishes them), none kept longer.
    let rotated = wait_for("three gzipped rotated files", || {
        let f: Vec<PathBuf> = files(dir.path())
            .into_iter()
            .filter(|p| p != &path)
            .collect();
        (f.len() == 3 && f.iter().all(|p| p.extension().is_some_and(|e| e == "gz"))).then_some(f)
    });
    let mut seen = Vec::new();
    for p in &rotated {
        let text = gunzip(p);
        assert!(
            text.len() <= 4096 && text.ends_with('\n'),
            "{}",
            p.display()
        );
        seen.extend(access_lines(&text));
    }
    let current = wait_for("the last line", || {
        let t = read(&path);
        t.contains("rot-149").then_some(t)
    });
    seen.extend(access_lines(&current));
    let ids: Vec<&str> = seen
        .iter()
        .filter_map(|v| v["request_id"].as_str())
        .collect();
    // The newest lines are all there, in order, each once.
    let n = ids.len();
    assert!(n >= 20, "{n}");
    let want: Vec<String> = (150 - n..150).map(|i| format!("rot-{i}")).collect();
    assert_eq!(ids, want);
    let v = &seen[n - 1];
    for field in [
        "ts",
        "level",
        "request_id",
        "key",
        "model",
        "provider",
        "status",
        "ttfb_ms",
        "duration_ms",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "error",
    ] {
        assert!(v.get(field).is_some(), "{field} missing: {v}");
    }
    assert_eq!(v["status"], 200);
    assert_eq!(v["provider"], "oai");
    assert_eq!(v["model"], "o");
    // App lines are JSON too, on stderr.
    let log = gw.log_text();
    let first = log.lines().next().unwrap();
    let app: Value = serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert!(app["msg"].is_string() && app["level"] == "info", "{app}");
}

#[test]
fn an_unusable_log_directory_stops_start_up_with_the_path_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap();
    let bad = blocker.join("logs/access.log");
    let conf = dir.path().join("c.yaml");
    std::fs::write(
        &conf,
        format!(
            "listen: 127.0.0.1:{}\nlog: {{ access: {{ path: '{}' }} }}\n",
            free_port(),
            bad.display()
        ),
    )
    .unwrap();
    let (code, _, err) = switchyard(&["-c", conf.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("log.access.path"), "{err}");
    assert!(
        err.contains(&blocker.join("logs").display().to_string()),
        "{err}"
    );
    assert!(err.contains("Fix:"), "{err}");
    // Too little free space: the body log's directory, with its own config path.
    std::fs::write(
        &conf,
        format!(
            "listen: 127.0.0.1:{}\nlog: {{ min_free_bytes: 18446744073709551615, bodies: {{ enabled: true, path: '{}' }} }}\n",
            free_port(),
            dir.path().join("b/bodies.log").display()
        ),
    )
    .unwrap();
    let (code, _, err) = switchyard(&["-c", conf.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("log.bodies.path") && err.contains("log.min_free_bytes"),
        "{err}"
    );
}

#[test]
fn a_log_file_that_cannot_be_written_never_stops_serving_and_recovers() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let gw = Gateway::start(&config(
        &mock,
        &format!(
            "{{ min_free_bytes: 0, access: {{ path: '{}' }} }}",
            path.display()
        ),
    ));
    assert_eq!(ask(&gw, "before-1").status, 200);
    wait_for("the first line", || {
        read(&path).contains("before-1").then_some(())
    });
    assert_eq!(metric(&gw, "switchyard_log_write_errors_total"), 0);

    // The file goes away and a directory takes its name: every reopen fails.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let mut i = 0;
    wait_for("write errors to be counted", || {
        i += 1;
        assert_eq!(ask(&gw, &format!("during-{i}")).status, 200);
        (metric(&gw, "switchyard_log_write_errors_total") > 0).then_some(())
    });
    // Serving went on, and the lines went to stderr meanwhile.
    assert_eq!(ask(&gw, "during-last").status, 200);
    gw.log_with("request_id=during-last");
    assert!(gw.log_text().contains("cannot write log file"));

    // Space is back: the file is reopened, and the recovery is logged.
    std::fs::remove_dir(&path).unwrap();
    let mut j = 0;
    wait_for("lines in the file again", || {
        j += 1;
        assert_eq!(ask(&gw, &format!("after-{j}")).status, 200);
        read(&path).contains("request_id=after-").then_some(())
    });
    gw.log_with("is writable again");
}

#[test]
fn sigterm_right_after_1000_requests_leaves_1000_access_lines() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let mut gw = Gateway::start(&config(
        &mock,
        &format!(
            "{{ format: json, min_free_bytes: 0, access: {{ path: '{}' }} }}",
            path.display()
        ),
    ));
    let base = gw.base();
    std::thread::scope(|s| {
        for t in 0..8 {
            let base = base.clone();
            s.spawn(move || {
                let c = client();
                for i in 0..125 {
                    let r = c
                        .post(format!("{base}/v1/chat/completions"))
                        .header("x-request-id", format!("term-{t}-{i}"))
                        .body(chat("o", 5))
                        .send()
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
            });
        }
    });
    gw.signal(libc::SIGTERM);
    let status = gw.wait_exit(PATIENCE).expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}");
    let lines = access_lines(&read(&path));
    let ours = lines
        .iter()
        .filter(|v| {
            v["request_id"]
                .as_str()
                .is_some_and(|i| i.starts_with("term-"))
        })
        .count();
    assert_eq!(ours, 1000);
}

#[test]
fn sighup_reopens_the_file_for_an_external_logrotate() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let mut gw = Gateway::start(&config(
        &mock,
        &format!(
            "{{ min_free_bytes: 0, access: {{ path: '{}' }} }}",
            path.display()
        ),
    ));
    assert_eq!(ask(&gw, "hup-1").status, 200);
    wait_for("the first line", || {
        read(&path).contains("hup-1").then_some(())
    });
    let moved = dir.path().join("access.log.1");
    std::fs::rename(&path, &moved).unwrap();
    gw.signal(libc::SIGHUP);
    assert!(
        gw.wait_exit(Duration::from_millis(300)).is_none(),
        "SIGHUP ended the gateway"
    );
    let mut i = 0;
    wait_for("a fresh file", || {
        i += 1;
        assert_eq!(ask(&gw, &format!("hup-2-{i}")).status, 200);
        read(&path).contains("hup-2-").then_some(())
    });
    assert!(read(&moved).contains("hup-1") && !read(&moved).contains("hup-2-"));
}

// === body log ===

const GATEWAY_KEY: &str = "gw-plain-secret-0042";

fn body_config(mock: &Mock, dir: &Path, rotate: &str) -> String {
    format!(
        r#"
listen: "{{listen}}"
admin_listen: "{{admin}}"
keys: [ {{ name: team-a, key: "{GATEWAY_KEY}" }} ]
providers:
  anth: {{ type: anthropic, base_url: "{base}", api_key: "{ANTHROPIC_KEY}" }}
  oai: {{ type: openai, base_url: "{base}/v1", api_key: "{OPENAI_KEY}" }}
models:
  o-tools: {{ targets: [ {{ provider: oai, model: "mock:fixture=openai/chat_tools_parallel.json" }} ] }}
  o-tools-stream: {{ targets: [ {{ provider: oai, model: "mock:fixture=openai/stream_tools_parallel.sse" }} ] }}
  a-tools: {{ targets: [ {{ provider: anth, model: "mock:fixture=anthropic/message_tools_parallel.json" }} ] }}
  a-tools-stream: {{ targets: [ {{ provider: anth, model: "mock:fixture=anthropic/stream_tools_parallel.sse" }} ] }}
  echo: {{ targets: [ {{ provider: oai, model: echo }} ] }}
log:
  min_free_bytes: 0
  access: {{ path: "{dir}/access.log" }}
  bodies:
    enabled: true
    path: "{dir}/bodies.log"
    max_bytes: 4096{rotate}
    redact: [email, phone, credit_card, ipv4, api_key, {{ name: order, regex: 'ORD-[0-9]{{6}}' }}]
"#,
        base = mock.base(),
        dir = dir.display(),
    )
}

fn post_as(gw: &Gateway, path: &str, id: &str, body: &Value) -> Reply {
    gw.post_raw(
        path,
        serde_json::to_vec(body).unwrap(),
        &[
            ("x-request-id", id),
            ("authorization", &format!("Bearer {GATEWAY_KEY}")),
        ],
    )
}

fn record(dir: &Path, id: &str) -> Value {
    let path = dir.join("bodies.log");
    wait_for(&format!("the body record of {id}"), || {
        read(&path).lines().find_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            (v["request_id"] == id).then_some(v)
        })
    })
}

fn tool_calls(r: &Value) -> Vec<(String, Value)> {
    r["response"]["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "tool_call")
        .map(|p| {
            let args: Value = serde_json::from_str(p["arguments"].as_str().unwrap())
                .unwrap_or_else(|e| panic!("arguments are not whole JSON ({e}): {p}"));
            (p["name"].as_str().unwrap().to_string(), args)
        })
        .collect()
}

#[test]
fn body_log_records_plain_and_streamed_answers_with_tool_calls_in_both_apis() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&body_config(&mock, dir.path(), ""));
    let question = "weather in Paris and Tokyo?";
    let cases = [
        ("/v1/chat/completions", "o-tools", false),
        ("/v1/chat/completions", "o-tools-stream", true),
        ("/v1/messages", "a-tools", false),
        ("/v1/messages", "a-tools-stream", true),
        // Translated: an OpenAI client, an Anthropic stream.
        ("/v1/chat/completions", "a-tools-stream", true),
        ("/v1/messages", "o-tools-stream", true),
    ];
    let mut expected_calls = None;
    for (i, (path, model, stream)) in cases.iter().enumerate() {
        let id = format!("body-{i}");
        let r = post_as(
            &gw,
            path,
            &id,
            &json!({"model": model, "max_tokens": 50, "stream": stream,
                    "messages": [{"role": "user", "content": question}]}),
        );
        assert_eq!(r.status, 200, "{model}: {}", r.text());
        let rec = record(dir.path(), &id);
        let api = if path.contains("messages") {
            "anthropic"
        } else {
            "openai"
        };
        assert_eq!(rec["api"], api, "{rec}");
        assert_eq!(rec["key"], "team-a");
        assert_eq!(rec["model"], *model);
        assert_eq!(rec["status"], 200);
        assert_eq!(rec["stream"], *stream);
        assert_eq!(rec["request"]["messages"][0]["content"], question);
        assert_eq!(rec["request_truncated"], false);
        assert_eq!(rec["response"]["finish_reason"], "tool_calls", "{rec}");
        assert!(rec["usage"]["output_tokens"].as_u64().unwrap() > 0, "{rec}");
        assert!(rec["duration_ms"].is_u64() && rec["ts"].is_string());
        let calls = tool_calls(&rec);
        assert_eq!(calls.len(), 2, "{model}: {rec}");
        // Both fixtures ask for the same two calls; full arguments, whatever the API.
        let names: Vec<&str> = calls.iter().map(|(n, _)| n.as_str()).collect();
        match &expected_calls {
            None => expected_calls = Some(calls.clone()),
            Some(want) => {
                let want: Vec<&str> = want.iter().map(|(n, _)| n.as_str()).collect();
                assert_eq!(names, want, "{model}");
            }
        }
    }
    // `logs show` puts a streamed one back together.
    let (code, out, err) = switchyard(&[
        "logs",
        "show",
        "body-1",
        "--path",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("[user] {question}")), "{out}");
    assert!(
        out.contains("→ tool call") && out.contains("finish: tool_calls"),
        "{out}"
    );
}

#[test]
fn redaction_masks_every_kind_and_keys_always() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&body_config(&mock, dir.path(), ""));
    let pii = format!(
        "mail jane@example.com, call +1 415 555 0132, card 4111 1111 1111 1111, \
         order number 4111 1111 1111 1112, host 10.1.2.3, key sk-live-abcdefghijklmnop12, \
         order ORD-123456, provider {OPENAI_KEY} {ANTHROPIC_KEY}, gateway {GATEWAY_KEY}"
    );
    let r = post_as(
        &gw,
        "/v1/chat/completions",
        "pii-1",
        &json!({"model": "echo", "max_tokens": 100, "messages": [{"role": "user", "content": pii}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let rec = record(dir.path(), "pii-1");
    let asked = rec["request"]["messages"][0]["content"].as_str().unwrap();
    let answered = rec["response"]["content"][0]["text"].as_str().unwrap();
    for text in [asked, answered] {
        for kind in ["email", "phone", "credit_card", "ipv4", "api_key", "order"] {
            assert!(
                text.contains(&format!("[REDACTED:{kind}]")),
                "{kind}: {text}"
            );
        }
        // Luhn: the order number is not a card.
        assert!(text.contains("4111 1111 1111 1112"), "{text}");
    }
    // No secret and no PII anywhere in the body log.
    let all = read(&dir.path().join("bodies.log"));
    for secret in [
        OPENAI_KEY,
        ANTHROPIC_KEY,
        GATEWAY_KEY,
        "jane@example.com",
        "4111 1111 1111 1111",
        "10.1.2.3",
        "ORD-123456",
        "555 0132",
    ] {
        assert!(!all.contains(secret), "{secret} in the body log:\n{all}");
    }
}

#[test]
fn logs_show_reads_a_rotated_gzipped_file_and_tail_and_stats_read_the_access_log() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&body_config(
        &mock,
        dir.path(),
        "\n    rotate: { max_bytes: 1024, max_files: 50 }",
    ));
    let ask = |id: &str, content: &str| {
        post_as(
            &gw,
            "/v1/messages",
            id,
            &json!({"model": "a-tools", "max_tokens": 50, "system": "be brief",
                    "messages": [{"role": "user", "content": content}]}),
        )
    };
    assert_eq!(ask("old-1", "the first question").status, 200);
    for i in 0..5 {
        assert_eq!(ask(&format!("later-{i}"), "more").status, 200);
    }
    // A bad model: a 404 in the access log.
    let r = post_as(
        &gw,
        "/v1/messages",
        "bad-1",
        &json!({"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(r.status, 404);
    // The 404 is recorded too (after the stage that keeps the body).
    wait_for("the record of bad-1", || {
        read(&dir.path().join("bodies.log"))
            .contains("\"bad-1\"")
            .then_some(())
    });
    // old-1 now lives only in a gzipped rotated file.
    wait_for("old-1 gzipped", || {
        let f = files(dir.path());
        let plain_rotated = f.iter().any(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            n.starts_with("bodies.log.") && !n.ends_with(".gz")
        });
        (!plain_rotated && !read(&dir.path().join("bodies.log")).contains("old-1")).then_some(())
    });
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = switchyard(&["logs", "show", "old-1", "--path", d]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "request old-1",
        "[system] be brief",
        "[user] the first question",
        "→ tool call",
        "finish: tool_calls",
        "key team-a",
    ] {
        assert!(out.contains(want), "{want}:\n{out}");
    }
    let (code, out, _) = switchyard(&["logs", "show", "old-1", "--json", "--path", d]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["request_id"], "old-1");
    let (code, _, err) = switchyard(&["logs", "show", "never-sent", "--path", d]);
    assert_eq!(code, 1);
    assert!(err.contains("never-sent"), "{err}");

    // The access log: tail by status and key, stats over the last hour.
    wait_for("the 404 line", || {
        read(&dir.path().join("access.log"))
            .contains("bad-1")
            .then_some(())
    });
    let (code, out, err) = switchyard(&["logs", "tail", "--status", "4xx", "--path", d]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("request_id=bad-1"), "{out}");
    let (_, out, _) = switchyard(&["logs", "tail", "--key", "team-a", "-n", "100", "--path", d]);
    assert_eq!(out.lines().count(), 7, "{out}");
    let (code, out, err) = switchyard(&["logs", "stats", "--since", "1h", "--path", d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("requests: 7"), "{out}");
    assert!(out.contains("errors: 1"), "{out}");
    assert!(
        out.contains("anth / mock:fixture=anthropic/message_tools_parallel.json: 6"),
        "{out}"
    );
}

// === logs tail --follow ===

const TEAM_B_KEY: &str = "gw-plain-secret-0043";

/// A child process killed and reaped when the test ends, whatever happens.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tail_follow(args: &[&str]) -> Reaped {
    Reaped(
        common::bare_command(env!("CARGO_BIN_EXE_switchyard"))
            .args(["logs", "tail", "--follow"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("runs"),
    )
}

/// Every line the child prints, as it prints it.
fn lines_of(child: &mut Reaped) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let out = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn request_id(line: &str) -> &str {
    let rest = line.split_once("request_id=").map_or("", |(_, r)| r);
    rest.split(' ').next().unwrap_or("")
}

#[test]
fn logs_tail_follow_prints_new_matching_lines_as_requests_arrive_across_rotations() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    // Text lines of ~300 bytes: a rotation every few requests, gzipped (and the rotated
    // file removed) while the follower may still be reading it.
    let gw = Gateway::start(&format!(
        "keys: [ {{ name: team-a, key: \"{GATEWAY_KEY}\" }}, {{ name: team-b, key: \"{TEAM_B_KEY}\" }} ]\n{}",
        config(
            &mock,
            &format!(
                "{{ min_free_bytes: 0, access: {{ path: '{}', rotate: {{ max_bytes: 2048, max_files: 100 }} }} }}",
                path.display()
            )
        )
    ));
    let send = |id: &str, key: &str, model: &str| {
        gw.post_raw(
            "/v1/chat/completions",
            chat(model, 5),
            &[
                ("x-request-id", id),
                ("authorization", &format!("Bearer {key}")),
            ],
        )
        .status
    };
    assert_eq!(send("pre-1", GATEWAY_KEY, "o"), 200);
    assert_eq!(send("pre-2", TEAM_B_KEY, "o"), 200);
    wait_for("pre-2 in the access log", || {
        read(&path).contains("request_id=pre-2").then_some(())
    });
    let rotated_before = rotated_count(dir.path());

    let d = dir.path().to_str().unwrap();
    let mut child = tail_follow(&[
        "-n", "1", "--key", "team-a", "--model", "o", "--status", "2xx", "--path", d,
    ]);
    let rx = lines_of(&mut child);
    let next = |what: &str| {
        rx.recv_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("no line for {what}: {e}"))
    };
    // The last earlier line that matches (pre-2 is team-b's).
    let first = next("the earlier line");
    assert_eq!(request_id(&first), "pre-1", "{first}");

    // Only team-a's 2xx answers for alias `o` match: not team-b's, not alias `a`'s, not a
    // 404 for an unknown model.
    let mut want = Vec::new();
    for i in 0..40 {
        let id = format!("live-{i}");
        let (key, model, status) = match i % 4 {
            0 => (GATEWAY_KEY, "o", 200),
            1 => (TEAM_B_KEY, "o", 200),
            2 => (GATEWAY_KEY, "a", 200),
            _ => (GATEWAY_KEY, "nope", 404),
        };
        assert_eq!(send(&id, key, model), status, "{id}");
        if i % 4 == 0 {
            want.push(id);
        }
    }
    // A last matching request: every line before it has been printed (or filtered) by the
    // time its own line arrives.
    assert_eq!(send("last", GATEWAY_KEY, "o"), 200);
    want.push("last".to_string());
    let mut got = Vec::new();
    while got.last().map(String::as_str) != Some("last") {
        let line = next(&format!("the line after {:?}", got.last()));
        assert!(
            line.contains("status=200") && line.contains("key=team-a"),
            "{line}"
        );
        got.push(request_id(&line).to_string());
    }
    assert_eq!(got, want);
    // The lines came across several size rotations.
    assert!(
        rotated_count(dir.path()) >= rotated_before + 3,
        "{:?}",
        files(dir.path())
    );
    drop(child);
}

fn rotated_count(dir: &Path) -> usize {
    files(dir)
        .iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            n.starts_with("access.log.")
        })
        .count()
}

#[test]
fn logs_tail_follow_stops_when_its_reader_goes_away() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let gw = Gateway::start(&config(
        &mock,
        &format!(
            "{{ format: json, min_free_bytes: 0, access: {{ path: '{}' }} }}",
            path.display()
        ),
    ));
    assert_eq!(ask(&gw, "before").status, 200);
    let d = dir.path().to_str().unwrap();
    let mut child = tail_follow(&["-n", "0", "--status", "200", "--path", d]);
    // `| head -1` that has already exited: the pipe has no reader.
    drop(child.0.stdout.take());
    // The next matching line fails to print, and `--follow` ends (rather than following
    // forever into a closed pipe). Requests go on until then: the child may not have
    // opened the file yet when the first ones are logged.
    let mut n = 0;
    let status = wait_for("the follower to exit", || {
        n += 1;
        assert_eq!(ask(&gw, &format!("after-{n}")).status, 200);
        child.0.try_wait().unwrap()
    });
    assert!(status.success(), "{status:?}");
}
