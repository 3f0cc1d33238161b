//! `switchyard check`: validates a config and prints every problem with its path.

mod common;

fn check(yaml: &str, env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = common::bare_command(env!("CARGO_BIN_EXE_switchyard"))
        .envs(env.iter().copied())
        .arg("check")
        .arg("-c")
        .arg(&path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn good_config_passes() {
    let (code, out) = check(
        "providers:\n  openai: { type: openai, api_key: \"${K}\" }\nmodels:\n  fast: { targets: [ { provider: openai, model: gpt-5-mini } ] }\n",
        &[("K", "sk-abcdefgh")],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ok (1 providers, 1 models, 0 gateway keys)"),
        "{out}"
    );
}

#[test]
fn every_problem_is_printed_with_its_path_and_no_secret() {
    let yaml = r#"
listen: "nowhere"
providers:
  openai: { type: openai, api_key: "${K}", base_url: "ftp://x" }
  anthropic: { type: anthropic, api_key: "${MISSING}" }
models:
  fast:
    targets:
      - { provider: openai, model: a }
      - { provider: opnai, model: b }
    fallbacks: [smrt]
"#;
    let (code, out) = check(yaml, &[("K", "sk-very-secret-key")]);
    assert_eq!(code, 2, "{out}");
    for expected in [
        "listen: 'nowhere' is not an address:port",
        "providers.openai.base_url: 'ftp://x' must start with http:// or https://",
        "providers.anthropic.api_key: environment variable MISSING is not set",
        "models.fast.targets[1].provider: unknown provider \"opnai\" (did you mean \"openai\"?)",
        "models.fast.fallbacks[0]: unknown model alias \"smrt\"",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(!out.contains("sk-very-secret-key"));
}

#[test]
fn unknown_keys_are_refused_with_a_suggestion() {
    let (code, out) = check("listen: 127.0.0.1:1\nprovders: {}\n", &[]);
    assert_eq!(code, 2);
    assert!(
        out.contains("unknown field `provders`") && out.contains("did you mean `providers`?"),
        "{out}"
    );
}

#[test]
fn shipped_sample_config_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/switchyard.yaml");
    let out = common::bare_command(env!("CARGO_BIN_EXE_switchyard"))
        .env("OPENAI_API_KEY", "sk-test-1234")
        .env("ANTHROPIC_API_KEY", "sk-ant-1234")
        .args(["check", "-c", path])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
