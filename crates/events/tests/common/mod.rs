//! Helpers shared by the integration tests: loading samples and unpacking
//! outcomes with a useful message when the outcome is not the expected kind.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;

use thumbflow_events::{normalize, CanonicalEvent, Ignored, NormalizeOptions, Outcome};

/// The receive time the tests pass, distinct from every sample's own time so
/// a test can tell which one an event got.
pub const RECEIVED_AT: &str = "2024-06-01T00:00:00Z";

/// Directory of the JSON samples.
pub fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/samples")
}

/// The bytes of one sample.
pub fn sample(name: &str) -> Vec<u8> {
    let path = samples_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

/// Options with the default prefix and limit and [`RECEIVED_AT`].
pub fn opts() -> NormalizeOptions {
    NormalizeOptions {
        received_at: RECEIVED_AT.to_owned(),
        ..NormalizeOptions::default()
    }
}

/// Normalizes raw bytes with [`opts`], panicking on an error.
pub fn run(raw: &[u8]) -> Vec<Outcome> {
    normalize(raw, &opts()).unwrap_or_else(|err| panic!("normalize failed: {err}"))
}

/// Normalizes a sample with [`opts`], panicking on an error.
pub fn run_sample(name: &str) -> Vec<Outcome> {
    normalize(&sample(name), &opts()).unwrap_or_else(|err| panic!("{name}: {err}"))
}

/// The event of an accepted outcome.
pub fn accepted(outcome: &Outcome) -> &CanonicalEvent {
    match outcome {
        Outcome::Accepted { event, .. } => event,
        Outcome::Ignored(ignored) => panic!("expected accepted, got ignored: {ignored:?}"),
    }
}

/// The envelope of an accepted outcome.
pub fn envelope(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Accepted { envelope, .. } => envelope,
        Outcome::Ignored(ignored) => panic!("expected accepted, got ignored: {ignored:?}"),
    }
}

/// The record of an ignored outcome.
pub fn ignored(outcome: &Outcome) -> &Ignored {
    match outcome {
        Outcome::Ignored(ignored) => ignored,
        Outcome::Accepted { event, .. } => panic!("expected ignored, got accepted: {event:?}"),
    }
}

/// The single accepted event of a raw event.
pub fn only_accepted(raw: &[u8]) -> CanonicalEvent {
    let outcomes = run(raw);
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    accepted(&outcomes[0]).clone()
}

/// The single ignored record of a raw event.
pub fn only_ignored(raw: &[u8]) -> Ignored {
    let outcomes = run(raw);
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    ignored(&outcomes[0]).clone()
}

/// Asserts `reason` mentions every one of `words`.
pub fn assert_mentions(reason: &str, words: &[&str]) {
    for word in words {
        assert!(
            reason.contains(word),
            "reason {reason:?} does not mention {word:?}"
        );
    }
}
