//! Where things live in the key-value store.
//!
//! - manifest: `obj/{bucket}/{key}`
//! - chunk i:  `chunk/{generation}/{i}/{bucket}/{key}` (version 1
//!   manifests: `chunk/{sha256}/...`)
//! - thumbnail of `key` by recipe `name` written as extension `ext`:
//!   `{prefix}{name}/{key}.{ext}` for every recipe, the default `thumb` too.
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
/// Name of the default recipe (its thumbnails sit under `{prefix}thumb/` like any recipe's).
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

/// Object key of the thumbnail of `key` made by `recipe`, written as `extension`:
/// always `{prefix}{recipe}/{key}.{extension}`.
///
/// `thumbnail_key("thumbnails/", "thumb", "photos/x.jpg", "jpg")` is
/// `thumbnails/thumb/photos/x.jpg.jpg`. Recipe names hold no `/` and each
/// recipe writes one format, so two different (recipe, key) pairs never get
/// the same thumbnail key: neither the default recipe's thumbnail of
/// `small/a.jpg` and recipe `small`'s of `a.jpg`, nor the thumbnails of
/// `a` and `a.jpg`, as they did when the default recipe sat directly under
/// the prefix and a matching extension was not repeated.
pub fn thumbnail_key(prefix: &str, recipe: &str, key: &str, extension: &str) -> String {
    format!("{prefix}{recipe}/{key}.{extension}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnail_key_is_recipe_then_key_then_extension() {
        assert_eq!(
            thumbnail_key("thumbnails/", "thumb", "photos/x.jpg", "jpg"),
            "thumbnails/thumb/photos/x.jpg.jpg"
        );
        assert_eq!(
            thumbnail_key("thumbnails/", "small", "photos/x.jpg", "webp"),
            "thumbnails/small/photos/x.jpg.webp"
        );
        assert_eq!(
            thumbnail_key("t/", "thumb", "dir.v2/noext", "jpg"),
            "t/thumb/dir.v2/noext.jpg"
        );
    }

    #[test]
    fn thumbnail_key_former_collisions_differ() {
        // The default recipe's thumbnail of `small/a.jpg` vs recipe `small`'s of `a.jpg`.
        assert_ne!(
            thumbnail_key("thumbnails/", DEFAULT_RECIPE, "small/a.jpg", "jpg"),
            thumbnail_key("thumbnails/", "small", "a.jpg", "jpg")
        );
        // A key without the output extension vs the same key with it.
        assert_ne!(
            thumbnail_key("thumbnails/", DEFAULT_RECIPE, "a", "jpg"),
            thumbnail_key("thumbnails/", DEFAULT_RECIPE, "a.jpg", "jpg")
        );
        // Different recipes of one key.
        assert_ne!(
            thumbnail_key("thumbnails/", "small", "a.jpg", "jpg"),
            thumbnail_key("thumbnails/", "large", "a.jpg", "jpg")
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
