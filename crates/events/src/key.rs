//! Object keys as S3-style producers write them.
//!
//! S3 event notifications, S3's EventBridge events, MinIO's notifications and
//! our gateway's events carry the key *form-encoded*: a space is `+`,
//! everything else unusual is `%XX` over the UTF-8 bytes (MinIO also escapes
//! `/` as `%2F`; the decoder takes both). Ceph RGW, CloudTrail, GCS and Azure
//! carry keys as-is and never go through here. The canonical event always
//! holds the decoded key. `docs/events.md` lists each producer's rule with
//! the evidence for it.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::NormalizeError;

/// Bytes [`encode_form_key`] leaves alone: ASCII letters and digits (not in
/// `NON_ALPHANUMERIC`) plus the unreserved marks and the path separator, so
/// encoded keys stay readable in logs (`photos/a+b.jpg`).
const KEY_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Decodes a form-encoded key: `+` becomes a space, `%XX` becomes the byte
/// `0xXX`, and the result must be UTF-8.
///
/// Strict on purpose: a `%` not followed by two hex digits, or bytes that are
/// not UTF-8, mean the producer and we disagree about the encoding, and a
/// guessed key would point at an object that does not exist.
pub fn decode_form_key(raw: &str) -> Result<String, NormalizeError> {
    let bytes = raw.as_bytes();
    for (at, _) in raw.match_indices('%') {
        let escape_ok = bytes
            .get(at + 1..at + 3)
            .is_some_and(|pair| pair.iter().all(u8::is_ascii_hexdigit));
        if !escape_ok {
            let shown: String = raw[at..].chars().take(3).collect();
            return Err(NormalizeError::InvalidKeyEncoding {
                key: raw.to_owned(),
                detail: format!(
                    "`{shown}` at byte {at} is not a percent escape (`%` must be followed by two hex digits)"
                ),
            });
        }
    }
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|err| NormalizeError::InvalidKeyEncoding {
            key: raw.to_owned(),
            detail: format!("the decoded bytes are not UTF-8 ({err})"),
        })
}

/// Form-encodes a key the way S3 does in its notifications (space as `+`,
/// `/` kept), so [`decode_form_key`] gives back exactly `key`.
///
/// Used by [`gateway_put_event`](crate::gateway_put_event) to make the
/// gateway's events indistinguishable in shape from S3's.
pub fn encode_form_key(key: &str) -> String {
    // A literal `%` in the key is itself escaped (`%25`), so every `%20` in the
    // output stands for a space and can safely become `+`.
    utf8_percent_encode(key, KEY_ENCODE_SET)
        .to_string()
        .replace("%20", "+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_form_key_plus_and_escapes() {
        assert_eq!(decode_form_key("a+b%2Fc%20d.jpg").unwrap(), "a b/c d.jpg");
    }

    #[test]
    fn decode_form_key_unicode() {
        assert_eq!(
            decode_form_key("fotos/%C3%A9t%C3%A9+%E6%97%A5%E6%9C%AC.jpg").unwrap(),
            "fotos/été 日本.jpg"
        );
    }

    #[test]
    fn decode_form_key_escaped_plus_stays_plus() {
        assert_eq!(decode_form_key("1%2B1%3D2.png").unwrap(), "1+1=2.png");
    }

    #[test]
    fn decode_form_key_plain_key_unchanged() {
        assert_eq!(
            decode_form_key("products/image123.jpg").unwrap(),
            "products/image123.jpg"
        );
    }

    #[test]
    fn decode_form_key_rejects_bad_escape() {
        let err = decode_form_key("bad%zzkey.jpg").unwrap_err();
        match err {
            NormalizeError::InvalidKeyEncoding { key, detail } => {
                assert_eq!(key, "bad%zzkey.jpg");
                assert!(detail.contains("%zz"), "{detail}");
                assert!(detail.contains("byte 3"), "{detail}");
            }
            other => panic!("expected InvalidKeyEncoding, got {other:?}"),
        }
    }

    #[test]
    fn decode_form_key_rejects_truncated_escape() {
        assert!(matches!(
            decode_form_key("key%4"),
            Err(NormalizeError::InvalidKeyEncoding { .. })
        ));
        assert!(matches!(
            decode_form_key("key%"),
            Err(NormalizeError::InvalidKeyEncoding { .. })
        ));
    }

    #[test]
    fn decode_form_key_rejects_non_utf8() {
        let err = decode_form_key("caf%E9.jpg").unwrap_err();
        match err {
            NormalizeError::InvalidKeyEncoding { detail, .. } => {
                assert!(detail.contains("UTF-8"), "{detail}");
            }
            other => panic!("expected InvalidKeyEncoding, got {other:?}"),
        }
    }

    #[test]
    fn encode_form_key_matches_s3_style() {
        assert_eq!(encode_form_key("a b/c d.jpg"), "a+b/c+d.jpg");
        assert_eq!(encode_form_key("1+1=2%.png"), "1%2B1%3D2%25.png");
        assert_eq!(encode_form_key("été.jpg"), "%C3%A9t%C3%A9.jpg");
    }

    #[test]
    fn encode_form_key_round_trips() {
        for key in [
            "plain.jpg",
            "a b+c%d/e f.png",
            "fotos/été 日本.jpg",
            "%20 literal.gif",
            "we!rd*(chars)'~.webp",
        ] {
            assert_eq!(decode_form_key(&encode_form_key(key)).unwrap(), key);
        }
    }
}
