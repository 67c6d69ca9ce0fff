//! The ignore rules: which created objects are not thumbflow's business.
//!
//! Applied to every record that is an object creation. Order matters only
//! for the reason reported: the recursion guard runs first, because "this is
//! our own thumbnail" is the most important thing to say about an object.

/// Image file extensions (lower case) that make an object a candidate when
/// its content type does not decide.
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "png", "gif", "webp", "bmp", "tif", "tiff",
];

/// Metadata name (after removing an `x-amz-meta-` or `x-goog-meta-` prefix,
/// compared case-insensitively) that marks an object as a thumbflow output.
pub const GENERATED_MARKER: &str = "thumbflow-generated";

/// Content types that say nothing about the bytes; the extension decides.
const GENERIC_CONTENT_TYPES: &[&str] = &["application/octet-stream", "binary/octet-stream"];

/// Whether a user-metadata name marks the object as one of thumbflow's own
/// outputs (`x-amz-meta-thumbflow-generated`, `X-Amz-Meta-Thumbflow-Generated`,
/// `thumbflow-generated`, `x-goog-meta-thumbflow-generated`).
///
/// Presence is enough, whatever the value: the writer sets it on every
/// thumbnail, and erring towards "ours" can never start a loop.
pub fn is_generated_marker(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let bare = lower
        .strip_prefix("x-amz-meta-")
        .or_else(|| lower.strip_prefix("x-goog-meta-"))
        .unwrap_or(&lower);
    bare == GENERATED_MARKER
}

/// The lower-cased extension of the last path segment of `key`, if any.
fn extension(key: &str) -> Option<String> {
    let name = key.rsplit('/').next().unwrap_or(key);
    let (stem, ext) = name.rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() {
        None
    } else {
        Some(ext.to_ascii_lowercase())
    }
}

/// Whether `key` ends in one of [`IMAGE_EXTENSIONS`] (case-insensitive).
pub fn has_image_extension(key: &str) -> bool {
    extension(key).is_some_and(|ext| IMAGE_EXTENSIONS.contains(&ext.as_str()))
}

/// The media type of a `Content-Type` value, lower case, parameters dropped
/// (`Image/JPEG; q=1` -> `image/jpeg`).
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Why an object must not be thumbnailed, or `None` if it should be.
///
/// * our own output: `key` starts with `thumbnail_prefix` (ignored when the
///   prefix is empty, which would otherwise match every key) or
///   `generated_marker` is set;
/// * not an image: a known content type that is not `image/*`; for a
///   missing or generic content type (`application/octet-stream`,
///   `binary/octet-stream`) the key's extension must be an image extension.
pub fn ignore_reason(
    key: &str,
    content_type: Option<&str>,
    generated_marker: bool,
    thumbnail_prefix: &str,
) -> Option<String> {
    if !thumbnail_prefix.is_empty() && key.starts_with(thumbnail_prefix) {
        return Some(format!(
            "key starts with the thumbnail prefix {thumbnail_prefix:?}: thumbflow's own output never triggers another thumbnail"
        ));
    }
    if generated_marker {
        return Some(format!(
            "object metadata carries {GENERATED_MARKER:?}: thumbflow's own output never triggers another thumbnail"
        ));
    }
    let media = content_type.map(media_type).unwrap_or_default();
    if media.starts_with("image/") {
        return None;
    }
    if !media.is_empty() && !GENERIC_CONTENT_TYPES.contains(&media.as_str()) {
        return Some(format!("not an image: content type is {media:?}"));
    }
    if has_image_extension(key) {
        return None;
    }
    let why_extension = match extension(key) {
        Some(ext) => format!("extension {ext:?} is not an image extension"),
        None => String::from("the key has no file extension"),
    };
    let why_type = if media.is_empty() {
        String::from("no content type")
    } else {
        format!("generic content type {media:?}")
    };
    Some(format!(
        "not an image: {why_type} and {why_extension} ({})",
        IMAGE_EXTENSIONS.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "thumbnails/";

    #[test]
    fn ignore_reason_accepts_image_content_type() {
        assert_eq!(
            ignore_reason("a/b.dat", Some("image/png"), false, PREFIX),
            None
        );
        assert_eq!(
            ignore_reason("noext", Some("Image/JPEG; charset=binary"), false, PREFIX),
            None
        );
    }

    #[test]
    fn ignore_reason_rejects_non_image_content_type_even_with_image_extension() {
        let reason = ignore_reason("report.jpg", Some("application/pdf"), false, PREFIX).unwrap();
        assert!(reason.contains("application/pdf"), "{reason}");
    }

    #[test]
    fn ignore_reason_generic_type_uses_extension() {
        assert_eq!(
            ignore_reason("x/photo.JPEG", Some("binary/octet-stream"), false, PREFIX),
            None
        );
        assert_eq!(
            ignore_reason(
                "x/photo.tif",
                Some("application/octet-stream"),
                false,
                PREFIX
            ),
            None
        );
        assert_eq!(ignore_reason("x/photo.Jpe", Some(""), false, PREFIX), None);
        let reason = ignore_reason(
            "x/archive.zip",
            Some("application/octet-stream"),
            false,
            PREFIX,
        )
        .unwrap();
        assert!(reason.contains("\"zip\""), "{reason}");
        assert!(reason.contains("application/octet-stream"), "{reason}");
    }

    #[test]
    fn ignore_reason_missing_type_uses_extension() {
        for key in [
            "a.jpg", "a.jpeg", "a.png", "a.gif", "a.webp", "a.bmp", "a.tif", "a.tiff",
        ] {
            assert_eq!(ignore_reason(key, None, false, PREFIX), None, "{key}");
        }
        let reason = ignore_reason("notes.txt", None, false, PREFIX).unwrap();
        assert!(reason.contains("no content type"), "{reason}");
        let reason = ignore_reason("dir.jpg/README", None, false, PREFIX).unwrap();
        assert!(reason.contains("no file extension"), "{reason}");
        assert!(ignore_reason(".jpg", None, false, PREFIX).is_some());
    }

    #[test]
    fn ignore_reason_thumbnail_prefix_is_recursion_guard() {
        let reason =
            ignore_reason("thumbnails/thumb/a.jpg", Some("image/jpeg"), false, PREFIX).unwrap();
        assert!(reason.contains("thumbnail prefix"), "{reason}");
        // Only a prefix counts, not a substring elsewhere.
        assert_eq!(
            ignore_reason("a/thumbnails/b.jpg", None, false, PREFIX),
            None
        );
        // An empty prefix disables the check instead of ignoring everything.
        assert_eq!(ignore_reason("a.jpg", None, false, ""), None);
    }

    #[test]
    fn ignore_reason_marker_is_recursion_guard() {
        let reason = ignore_reason("out/a.jpg", Some("image/jpeg"), true, PREFIX).unwrap();
        assert!(reason.contains(GENERATED_MARKER), "{reason}");
    }

    #[test]
    fn is_generated_marker_is_case_insensitive() {
        for name in [
            "x-amz-meta-thumbflow-generated",
            "X-Amz-Meta-Thumbflow-Generated",
            "thumbflow-generated",
            "Thumbflow-Generated",
            "x-goog-meta-thumbflow-generated",
        ] {
            assert!(is_generated_marker(name), "{name}");
        }
        assert!(!is_generated_marker("content-type"));
        assert!(!is_generated_marker("x-amz-meta-thumbflow"));
    }
}
