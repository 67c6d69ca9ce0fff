//! CloudEvents HTTP binary mode to structured mode.
//!
//! In binary mode the attributes travel as `ce-*` headers and the body is
//! the bare data (this is how Eventarc delivers GCS events to Cloud Run).
//! The normalizer reads structured JSON only, so the HTTP glue converts
//! first; keeping that here keeps the glue free of decisions.

use base64::Engine as _;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::canonical::CLOUDEVENTS_SPEC_VERSION;
use crate::error::NormalizeError;

/// Attributes every CloudEvent must have.
const REQUIRED: &[&str] = &["specversion", "id", "source", "type"];

/// Whether a media type is JSON (`application/json`, `text/json`, `*+json`).
fn is_json_media_type(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || media == "text/json" || media.ends_with("+json")
}

/// Converts a binary-mode CloudEvent (HTTP headers and body) into
/// structured-mode JSON bytes that [`normalize`](fn@crate::normalize) reads.
///
/// * `ce-<name>` headers (any case) become attributes `<name>`, values
///   percent-decoded as the HTTP binding requires;
/// * `Content-Type` becomes `datacontenttype`;
/// * a W3C `traceparent` / `tracestate` header becomes the attribute of the
///   same name unless a `ce-` header already set it;
/// * a JSON body (JSON content type, or none) becomes `data`; any other body
///   becomes `data_base64`; an empty body means no data.
///
/// Missing `ce-specversion`, `ce-id`, `ce-source` or `ce-type`, a version
/// other than 1.0, a repeated `ce-` header, or a JSON-typed body that is not
/// JSON are rejects.
pub fn structured_from_binary(
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Vec<u8>, NormalizeError> {
    let mut attributes = Map::new();
    let mut content_type: Option<&str> = None;
    let mut trace_headers: Vec<(&str, &str)> = Vec::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if let Some(attribute) = lower.strip_prefix("ce-") {
            if attribute.is_empty() {
                return Err(NormalizeError::invalid(
                    name,
                    "a ce- header needs an attribute name",
                ));
            }
            let decoded = percent_decode_str(value.trim())
                .decode_utf8()
                .map_err(|err| {
                    NormalizeError::invalid(
                        name,
                        format!("value is not UTF-8 once percent-decoded ({err})"),
                    )
                })?;
            let previous =
                attributes.insert(attribute.to_owned(), Value::String(decoded.into_owned()));
            if previous.is_some() {
                return Err(NormalizeError::invalid(
                    name,
                    "header repeated: CloudEvents attributes take one value",
                ));
            }
        } else if lower == "content-type" {
            content_type = Some(value.trim());
        } else if lower == "traceparent" {
            trace_headers.push(("traceparent", value.trim()));
        } else if lower == "tracestate" {
            trace_headers.push(("tracestate", value.trim()));
        }
    }
    for required in REQUIRED {
        if !attributes.contains_key(*required) {
            return Err(NormalizeError::MissingField {
                format: "cloudevents-binary",
                field: format!("ce-{required}"),
            });
        }
    }
    if attributes.get("specversion").and_then(Value::as_str) != Some(CLOUDEVENTS_SPEC_VERSION) {
        return Err(NormalizeError::invalid(
            "ce-specversion",
            format!(
                "unsupported CloudEvents version {}; expected \"1.0\"",
                attributes.get("specversion").cloned().unwrap_or_default()
            ),
        ));
    }
    for (name, value) in trace_headers {
        attributes
            .entry(name)
            .or_insert_with(|| Value::String(value.to_owned()));
    }
    if let Some(content_type) = content_type {
        attributes.insert(
            String::from("datacontenttype"),
            Value::String(content_type.to_owned()),
        );
    }
    if !body.is_empty() {
        if content_type.is_none_or(is_json_media_type) {
            let data: Value = serde_json::from_slice(body).map_err(|err| {
                NormalizeError::NotJson(format!(
                    "body of a binary-mode CloudEvent with content type {} is not JSON: {err}",
                    content_type.unwrap_or("(none, so JSON)")
                ))
            })?;
            attributes.insert(String::from("data"), data);
        } else {
            let encoded = base64::engine::general_purpose::STANDARD.encode(body);
            attributes.insert(String::from("data_base64"), Value::String(encoded));
        }
    }
    Ok(Value::Object(attributes).to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "//example/source"),
            ("ce-type", "example.type"),
        ]
    }

    #[test]
    fn structured_from_binary_non_json_body_becomes_base64() {
        let mut pairs = base();
        pairs.push(("Content-Type", "image/png"));
        let out = structured_from_binary(&headers(&pairs), &[0x89, b'P', b'N', b'G']).unwrap();
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["data_base64"], "iVBORw==");
        assert_eq!(value["datacontenttype"], "image/png");
        assert!(value.get("data").is_none());
    }

    #[test]
    fn structured_from_binary_percent_decodes_and_lowercases() {
        let mut pairs = base();
        pairs.push(("CE-Subject", "objects/caf%C3%A9 au lait.jpg"));
        let out = structured_from_binary(&headers(&pairs), b"").unwrap();
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["subject"], "objects/café au lait.jpg");
    }

    #[test]
    fn structured_from_binary_http_traceparent_header_becomes_attribute() {
        let mut pairs = base();
        pairs.push((
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ));
        let out = structured_from_binary(&headers(&pairs), b"").unwrap();
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            value["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }

    #[test]
    fn structured_from_binary_missing_id_is_rejected() {
        let pairs: Vec<_> = base()
            .into_iter()
            .filter(|(name, _)| *name != "ce-id")
            .collect();
        let err = structured_from_binary(&headers(&pairs), b"{}").unwrap_err();
        assert_eq!(
            err,
            NormalizeError::MissingField {
                format: "cloudevents-binary",
                field: String::from("ce-id")
            }
        );
    }

    #[test]
    fn structured_from_binary_repeated_header_is_rejected() {
        let mut pairs = base();
        pairs.push(("Ce-Id", "2"));
        let err = structured_from_binary(&headers(&pairs), b"{}").unwrap_err();
        assert!(
            matches!(err, NormalizeError::InvalidField { ref field, .. } if field == "Ce-Id"),
            "{err:?}"
        );
    }

    #[test]
    fn structured_from_binary_wrong_version_is_rejected() {
        let mut pairs = base();
        pairs[0] = ("ce-specversion", "0.3");
        let err = structured_from_binary(&headers(&pairs), b"{}").unwrap_err();
        assert!(err.to_string().contains("0.3"), "{err}");
    }

    #[test]
    fn structured_from_binary_json_body_that_is_not_json_is_rejected() {
        let mut pairs = base();
        pairs.push(("content-type", "application/json; charset=utf-8"));
        let err = structured_from_binary(&headers(&pairs), b"{\"bucket\":").unwrap_err();
        assert!(matches!(err, NormalizeError::NotJson(_)), "{err:?}");
    }
}
