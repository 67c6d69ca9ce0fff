//! Wall-clock time (WASI `wall-clock`, provided by every host).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, as RFC 3339 UTC (`2026-11-27T08:00:00.123Z`), for events and status records.
pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Now, as Unix seconds, for the `webhook-timestamp` header.
pub fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Now, as Unix nanoseconds, for the gateway's upload sequencer.
pub fn unix_nanos() -> i128 {
    OffsetDateTime::now_utc().unix_timestamp_nanos()
}
