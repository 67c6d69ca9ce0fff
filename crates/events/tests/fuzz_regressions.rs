//! The `normalize` fuzz target's inputs kept as tests: every file in
//! `tests/fixtures/fuzz/normalize/` (reproducers of what `make fuzz` found,
//! and minimized corpus entries) goes through `normalize` with the
//! target's options and must pass its oracle: a typed result, not a panic,
//! and every accepted event's envelope reads back, through the function
//! the thumbnailer uses, as the same event.

// Test helpers outside #[test] fns: a panic is how they report failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use thumbflow_events::{normalize, CanonicalEvent, NormalizeError, NormalizeOptions, Outcome};

/// The options of `fuzz/fuzz_targets/normalize.rs`.
fn fuzz_options() -> NormalizeOptions {
    NormalizeOptions {
        received_at: "2024-06-01T00:00:00Z".to_owned(),
        ..NormalizeOptions::default()
    }
}

/// Every file of `tests/fixtures/fuzz/normalize/`, by name.
fn inputs() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/fuzz/normalize");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let inputs: Vec<_> = files
        .iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(path).unwrap())
        })
        .collect();
    assert!(
        inputs.len() >= 2,
        "{} should hold the normalize fuzz inputs",
        dir.display()
    );
    inputs
}

#[test]
fn fuzz_normalize_inputs_pass_the_fuzz_oracle() {
    for (name, raw) in inputs() {
        match normalize(&raw, &fuzz_options()) {
            Ok(outcomes) => {
                for outcome in outcomes {
                    if let Outcome::Accepted { event, envelope } = outcome {
                        let read = CanonicalEvent::from_envelope(envelope.as_bytes())
                            .unwrap_or_else(|e| panic!("{name}: envelope rejected: {e}"));
                        assert_eq!(read, event, "{name}");
                    }
                }
            }
            Err(err) => assert!(!err.is_retryable(), "{name}: {err}"),
        }
    }
}

/// JSON nested far deeper than any event: refused as not JSON (serde_json's
/// recursion limit) rather than overflowing the stack, which in the
/// component would be a trap.
#[test]
fn fuzz_normalize_deeply_nested_json_is_not_json() {
    let (_, raw) = inputs()
        .into_iter()
        .find(|(name, _)| name == "deeply-nested.json")
        .expect("deeply-nested.json");
    let err = normalize(&raw, &fuzz_options()).unwrap_err();
    assert!(matches!(err, NormalizeError::NotJson(_)), "{err:?}");
}
