//! The normalizer's entry point on arbitrary bytes: the raw event is the
//! one input of the pipeline an outsider fully controls (any webhook
//! caller, any bucket notification).
//!
//! Oracle: no panic (a panic traps the normalizer component), and every
//! accepted event's envelope reads back, through the same function the
//! thumbnailer uses, as the same event: the normalizer must never publish
//! what the next stage rejects.

#![no_main]

use libfuzzer_sys::fuzz_target;
use thumbflow_events::{normalize, CanonicalEvent, NormalizeOptions, Outcome};

fuzz_target!(|raw: &[u8]| {
    // The options the normalizer component gets from spin.toml's defaults,
    // with a fixed receive time so a failure replays exactly.
    let opts = NormalizeOptions {
        received_at: "2024-06-01T00:00:00Z".to_owned(),
        ..NormalizeOptions::default()
    };
    let Ok(outcomes) = normalize(raw, &opts) else {
        return;
    };
    for outcome in outcomes {
        if let Outcome::Accepted { event, envelope } = outcome {
            match CanonicalEvent::from_envelope(envelope.as_bytes()) {
                Ok(read) => assert_eq!(read, event, "envelope does not read back: {envelope}"),
                Err(err) => panic!("published envelope is rejected downstream: {err}: {envelope}"),
            }
        }
    }
});
