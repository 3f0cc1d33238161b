//! SIGTERM: `/readyz` turns 503, requests in flight finish, new ones are still served,
//! and the process exits once nothing is in flight, without waiting out the grace period.

mod common;
use common::*;
use serde_json::json;
use std::io::Read;
use std::time::Duration;

/// A bound against hanging, far below the 300 s grace period the gateway runs with.
const EXIT_LIMIT: Duration = Duration::from_secs(60);

fn readyz(gw: &Gateway) -> (u16, String) {
    let r = client()
        .get(format!("{}/readyz", gw.admin()))
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

#[test]
fn sigterm_lets_a_running_stream_finish_then_exits() {
    let mock = Mock::start();
    let mut gw = Gateway::start(&two_provider_config(
        &mock,
        "  m: { targets: [ { provider: anth, model: \"mock:events=40,delay_ms=100\" } ] }",
    ));
    assert_eq!(readyz(&gw).0, 200);
    let mut stream = client()
        .post(format!("{}/v1/chat/completions", gw.base()))
        .json(&json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "a b c"}]}))
        .send()
        .unwrap();
    let mut first = [0u8; 64];
    assert!(stream.read(&mut first).unwrap() > 0);

    gw.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    let (status, text) = readyz(&gw);
    assert_eq!(status, 503);
    assert!(text.contains("draining"), "{text}");
    assert!(
        gw.wait_exit(Duration::from_millis(200)).is_none(),
        "exited with a stream open"
    );
    // Still serving while draining (a load balancer may not have noticed yet).
    let r = gw.post("/v1/messages", &json!({"model": "anth/mock:echo", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}));
    assert_eq!(r.status, 200, "{}", r.text());

    // The stream that was running completes in full.
    let mut rest = String::new();
    stream.read_to_string(&mut rest).unwrap();
    let text = String::from_utf8_lossy(&first).into_owned() + &rest;
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(text.contains("\"finish_reason\":\"stop\""), "{text}");

    let status = gw.wait_exit(EXIT_LIMIT).expect("exits once drained");
    assert!(status.success(), "{status:?}");
    let log = gw.log_text();
    assert!(log.contains("SIGTERM: draining"), "{log}");
    assert!(log.contains("drained: no request in flight"), "{log}");
}

#[test]
fn sigterm_on_an_idle_gateway_exits_at_once() {
    let mock = Mock::start();
    let mut gw = Gateway::start(&two_provider_config(
        &mock,
        "  m: { targets: [ { provider: anth, model: x } ] }",
    ));
    gw.signal(libc::SIGTERM);
    let status = gw
        .wait_exit(EXIT_LIMIT)
        .expect("exits without the 300 s grace period");
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigterm_keeps_an_idle_gateway_serving_for_the_shutdown_delay() {
    const DELAY: Duration = Duration::from_secs(2);
    let mock = Mock::start();
    let config = format!(
        "server: {{ shutdown_delay_seconds: {} }}{}",
        DELAY.as_secs(),
        two_provider_config(&mock, "  m: { targets: [ { provider: anth, model: x } ] }")
    );
    let mut gw = Gateway::start(&config);
    let signalled = std::time::Instant::now();
    gw.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    // Idle, yet still up: a load balancer that has not seen the 503 yet still gets answers.
    let (status, text) = readyz(&gw);
    assert_eq!(status, 503);
    assert!(text.contains("draining"), "{text}");
    let r = gw.post("/v1/messages", &json!({"model": "anth/mock:echo", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}));
    assert_eq!(r.status, 200, "{}", r.text());
    let status = gw.wait_exit(EXIT_LIMIT).expect("exits after the delay");
    // Measured after the exit was seen, so this can only overstate the time it took.
    assert!(
        signalled.elapsed() >= DELAY,
        "exited {:?} after SIGTERM, before the {DELAY:?} delay",
        signalled.elapsed()
    );
    assert!(status.success(), "{status:?}");
    let log = gw.log_text();
    assert!(log.contains("and 2 s have passed"), "{log}");
    assert!(log.contains("drained: no request in flight"), "{log}");
}
