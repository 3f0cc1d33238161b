//! ERROR_CODES.md is generated from the error definitions in code; this fails when
//! the two disagree. `SWITCHYARD_BLESS=1 cargo test --test error_codes` rewrites it.

use switchyard::formats::model::ErrorKind;

#[test]
fn error_codes_md_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ERROR_CODES.md");
    let want = switchyard::formats::error_codes_markdown();
    if std::env::var_os("SWITCHYARD_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write ERROR_CODES.md");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "ERROR_CODES.md is out of date with ErrorKind (src/formats/model.rs); run \
         SWITCHYARD_BLESS=1 cargo test --test error_codes and commit the file"
    );
}

#[test]
fn every_kind_is_listed_once() {
    // A kind added to the enum must be added to ALL (its `when`/`advice` matches are
    // exhaustive, so they cannot be forgotten).
    let mut seen = Vec::new();
    for k in ErrorKind::ALL {
        assert!(!seen.contains(&k), "{k:?} listed twice");
        seen.push(k);
        // Exhaustive on purpose: a new variant breaks this until it is in ALL.
        match k {
            ErrorKind::InvalidRequest
            | ErrorKind::Authentication
            | ErrorKind::Permission
            | ErrorKind::NotFound
            | ErrorKind::RouteNotFound
            | ErrorKind::ResponseNotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::RequestTooLarge
            | ErrorKind::ContentFilter
            | ErrorKind::RateLimited
            | ErrorKind::OverBudget
            | ErrorKind::Internal
            | ErrorKind::Upstream
            | ErrorKind::Overloaded
            | ErrorKind::Timeout => {}
        }
    }
    assert_eq!(seen.len(), 15);
}
