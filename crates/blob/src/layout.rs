//! Where things live in the key-value store.
//!
//! - manifest: `obj/{bucket}/{key}`
//! - chunk i:  `chunk/{generation}/{i}/{bucket}/{key}` (version 1
//!   manifests: `chunk/{sha256}/...`)
//! - thumbnail of `key` by recipe `name`: `{prefix}{key}` for the default
//!   recipe `thumb`, `{prefix}{name}/{key}` otherwise, with the output
//!   format's extension appended when the key's own extension differs.
//!
//! Bucket names cannot contain `/`, and every variable-length part comes
//! last, so no two (bucket, key) pairs share a store key however odd the key.
//! Chunks are named by the write that stored them ([`crate::Manifest::generation`]),
//! so a new version's chunks never overwrite the chunks any manifest points at.

use crate::BlobError;

/// Longest object key accepted, in bytes (the S3 limit).
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest bucket name accepted, in bytes (S3 and Azure allow 63; some stores more).
pub const MAX_BUCKET_BYTES: usize = 255;
/// Name of the default recipe, whose thumbnails sit directly under the prefix.
pub const DEFAULT_RECIPE: &str = "thumb";

/// Check that a (bucket, key) pair can be stored, with a typed reason if not.
pub fn validate_location(bucket: &str, key: &str) -> Result<(), BlobError> {
    let bad_bucket = |reason| BlobError::InvalidBucket {
        bucket: bucket.to_owned(),
        reason,
    };
    if bucket.is_empty() {
        return Err(bad_bucket("empty"));
    }
    if bucket.len() > MAX_BUCKET_BYTES {
        return Err(bad_bucket("longer than 255 bytes"));
    }
    if bucket.contains('/') || bucket.chars().any(char::is_control) {
        return Err(bad_bucket("contains '/' or a control character"));
    }
    let bad_key = |reason| BlobError::InvalidKey {
        key: key.to_owned(),
        reason,
    };
    if key.is_empty() {
        return Err(bad_key("empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(bad_key("longer than 1024 bytes"));
    }
    if key.contains('\0') {
        return Err(bad_key("contains a NUL character"));
    }
    Ok(())
}

/// Store key of an object's manifest.
pub fn manifest_key(bucket: &str, key: &str) -> String {
    format!("obj/{bucket}/{key}")
}

/// Store key of chunk `index` of the object version whose chunks live in
/// `namespace` ([`crate::Manifest::chunk_namespace`]).
pub fn chunk_key(namespace: &str, index: u32, bucket: &str, key: &str) -> String {
    format!("chunk/{namespace}/{index}/{bucket}/{key}")
}

/// Object key of the thumbnail of `key` made by `recipe`, written as `extension`.
///
/// `thumbnail_key("thumbnails/", "thumb", "photos/x.jpg", "jpg")` is
/// `thumbnails/photos/x.jpg`, the classic Lambda layout;
/// `thumbnail_key("thumbnails/", "small", "photos/x.jpg", "webp")` is
/// `thumbnails/small/photos/x.jpg.webp`.
pub fn thumbnail_key(prefix: &str, recipe: &str, key: &str, extension: &str) -> String {
    let dir = if recipe == DEFAULT_RECIPE {
        String::new()
    } else {
        format!("{recipe}/")
    };
    let own_ext = key
        .rsplit_once('.')
        .filter(|(_, ext)| !ext.contains('/'))
        .map(|(_, ext)| ext.to_ascii_lowercase());
    let same_family = match (own_ext.as_deref(), extension) {
        (Some("jpg" | "jpeg" | "jpe"), "jpg" | "jpeg") => true,
        (Some(own), wanted) => own == wanted,
        (None, _) => false,
    };
    if same_family {
        format!("{prefix}{dir}{key}")
    } else {
        format!("{prefix}{dir}{key}.{extension}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnail_key_default_recipe_mirrors_lambda_layout() {
        assert_eq!(
            thumbnail_key("thumbnails/", "thumb", "photos/x.jpg", "jpg"),
            "thumbnails/photos/x.jpg"
        );
        assert_eq!(
            thumbnail_key("thumbnails/", "thumb", "a/b.JPEG", "jpg"),
            "thumbnails/a/b.JPEG"
        );
    }

    #[test]
    fn thumbnail_key_other_format_gets_its_extension() {
        assert_eq!(
            thumbnail_key("thumbnails/", "small", "photos/x.jpg", "webp"),
            "thumbnails/small/photos/x.jpg.webp"
        );
        assert_eq!(
            thumbnail_key("thumbnails/", "thumb", "scan.png", "jpg"),
            "thumbnails/scan.png.jpg"
        );
        assert_eq!(
            thumbnail_key("t/", "thumb", "dir.v2/noext", "jpg"),
            "t/dir.v2/noext.jpg"
        );
    }

    #[test]
    fn layout_keys_never_collide_for_odd_keys() {
        // A key that looks like another location's suffix stays distinct.
        let a = manifest_key("b", "x/obj/b/y");
        let b = manifest_key("b/x", "y");
        assert_ne!(a, b);
        assert!(validate_location("b/x", "y").is_err());
        assert_eq!(chunk_key("ab", 3, "b", "k 1+2"), "chunk/ab/3/b/k 1+2");
    }

    #[test]
    fn validate_location_rejects_bad_names_with_reason() {
        assert!(validate_location("photos", "a b/ü 日本.jpg").is_ok());
        let err = validate_location("", "k").unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        assert!(validate_location("b", "").is_err());
        assert!(validate_location("b", "nul\0").is_err());
        assert!(validate_location("b", &"k".repeat(1025)).is_err());
        assert!(validate_location("b", &"k".repeat(1024)).is_ok());
        assert!(!validate_location("b", "").unwrap_err().is_retryable());
    }
}
