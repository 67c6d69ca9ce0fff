//! The HTTP request that delivers one thumbnail-created event.

use crate::{sign, NotifyError};

/// Where and how to deliver, chosen by the caller (the notifier glue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookOptions {
    /// Absolute http(s) destination URL.
    pub url: String,
    /// Signing secret (`whsec_<base64>` or raw text).
    pub secret: String,
    /// `webhook-id`: the event id, stable across retries so receivers can dedupe.
    pub message_id: String,
    /// `webhook-timestamp`: Unix seconds at sending time.
    pub timestamp: i64,
}

/// A ready-to-send request; the glue hands it to Spin's outbound HTTP unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// Always `POST`.
    pub method: String,
    /// Destination URL.
    pub url: String,
    /// Content type and the three Standard Webhooks headers.
    pub headers: Vec<(String, String)>,
    /// The event JSON, byte for byte as received (the signature covers it).
    pub body: Vec<u8>,
}

/// Check that `event` is a thumbnail-created CloudEvent and build its signed request.
pub fn webhook_request(
    event: &[u8],
    options: &WebhookOptions,
) -> Result<WebhookRequest, NotifyError> {
    thumbflow_events::parse_thumbnail_created(event)?;
    let url = options.url.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or(NotifyError::InvalidUrl {
            url: url.to_owned(),
            reason: "must start with http:// or https://",
        })?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(NotifyError::InvalidUrl {
            url: url.to_owned(),
            reason: "has no host",
        });
    }
    let signature = sign(
        &options.secret,
        &options.message_id,
        options.timestamp,
        event,
    )?;
    Ok(WebhookRequest {
        method: "POST".to_owned(),
        url: url.to_owned(),
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            // Sent with a length, not chunked: some receivers refuse chunked bodies.
            ("content-length".to_owned(), event.len().to_string()),
            ("webhook-id".to_owned(), options.message_id.clone()),
            (
                "webhook-timestamp".to_owned(),
                options.timestamp.to_string(),
            ),
            ("webhook-signature".to_owned(), signature),
        ],
        body: event.to_vec(),
    })
}

/// The `scheme://host:port` a URL's requests go to, the form Spin's
/// `allowed_outbound_hosts` grants (port made explicit, host lower-cased).
///
/// The notifier may only reach the origin granted through `webhook_origin`,
/// so the glue compares the two before sending and tells the user which
/// value to set, instead of failing with the host's "destination not
/// allowed".
pub fn origin_of(url: &str) -> Result<String, NotifyError> {
    let parsed = url::Url::parse(url.trim()).map_err(|_| NotifyError::InvalidUrl {
        url: url.to_owned(),
        reason: "is not an absolute URL",
    })?;
    let host = parsed.host_str().ok_or(NotifyError::InvalidUrl {
        url: url.to_owned(),
        reason: "has no host",
    })?;
    let port = parsed
        .port_or_known_default()
        .ok_or(NotifyError::InvalidUrl {
            url: url.to_owned(),
            reason: "must start with http:// or https://",
        })?;
    Ok(format!("{}://{}:{port}", parsed.scheme(), host))
}

/// Whether `url` is inside the granted `origin` (both normalized by
/// [`origin_of`]; an unparsable origin grants nothing).
pub fn within_origin(url: &str, origin: &str) -> bool {
    match (origin_of(url), origin_of(origin)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify;

    fn sample() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/tests/samples/thumbnail-created.json"
        ))
        .unwrap()
    }

    fn options() -> WebhookOptions {
        WebhookOptions {
            url: "https://hooks.example.com/thumbflow".into(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            message_id: "evt-42".into(),
            timestamp: 1_700_000_000,
        }
    }

    #[test]
    fn webhook_request_signs_the_event_bytes_unchanged() {
        let event = sample();
        let req = webhook_request(&event, &options()).unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.body, event);
        let header = |n: &str| req.headers.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(header("webhook-id"), "evt-42");
        assert_eq!(header("webhook-timestamp"), "1700000000");
        assert!(verify(
            &options().secret,
            "evt-42",
            1_700_000_000,
            &event,
            &header("webhook-signature")
        ));
    }

    #[test]
    fn webhook_request_sends_a_content_length_matching_the_body() {
        let event = sample();
        let req = webhook_request(&event, &options()).unwrap();
        let length = req.headers.iter().find(|(k, _)| k == "content-length");
        assert_eq!(
            length.map(|(_, v)| v.clone()),
            Some(event.len().to_string())
        );
    }

    #[test]
    fn origin_of_makes_the_port_explicit_like_spin() {
        assert_eq!(
            origin_of("https://Hooks.Example.com/thumbflow?x=1").unwrap(),
            "https://hooks.example.com:443"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/hooks").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(within_origin(
            "http://127.0.0.1:8080/hooks/a",
            "http://127.0.0.1:8080"
        ));
        assert!(within_origin(
            "https://h.example/x",
            "https://h.example:443"
        ));
        // The manifest's default grants a reserved host only.
        assert!(!within_origin(
            "http://127.0.0.1:8080/hooks",
            "http://webhook.invalid"
        ));
        assert!(!within_origin("http://h.example:81/", "http://h.example"));
        assert!(!within_origin("http://h.example/", "not a url"));
    }

    #[test]
    fn webhook_request_rejects_other_events_and_bad_urls() {
        let err = webhook_request(br#"{"specversion":"1.0"}"#, &options()).unwrap_err();
        assert!(matches!(err, NotifyError::InvalidEvent(_)), "{err}");
        let mut bad = options();
        bad.url = "ftp://x/y".into();
        assert!(matches!(
            webhook_request(&sample(), &bad),
            Err(NotifyError::InvalidUrl { .. })
        ));
        bad.url = "http:///nohost".into();
        assert!(matches!(
            webhook_request(&sample(), &bad),
            Err(NotifyError::InvalidUrl { .. })
        ));
    }
}
