//! The metadata that marks a thumbnail as thumbflow's own output.
//!
//! Written on every thumbnail in both stores: in the key-value layout it is
//! the manifest's `metadata`; on S3 each entry is an `x-amz-meta-{name}`
//! header (S3 lowercases the names, so they are lowercase here). An object
//! carrying [`GENERATED_MARKER`](crate::GENERATED_MARKER) is never
//! thumbnailed, and `thumbflow scan` compares [`RECIPE_VERSION`] and
//! [`SOURCE_ETAG`] to decide whether a thumbnail is current.
//!
//! | name                        | value                                             |
//! |-----------------------------|---------------------------------------------------|
//! | `thumbflow-generated`       | `true`                                            |
//! | `thumbflow-recipe`          | recipe name (`thumb`)                             |
//! | `thumbflow-recipe-version`  | recipe version, decimal                           |
//! | `thumbflow-source-key`      | the original's key, percent-encoded (UTF-8, `/` kept) |
//! | `thumbflow-source-etag`     | the original's ETag, unquoted                     |
//!
//! The key is percent-encoded because S3 metadata travels in HTTP headers,
//! which carry ASCII only.

use std::collections::BTreeMap;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::GENERATED_MARKER;

/// Metadata name of the recipe that made the thumbnail.
pub const RECIPE: &str = "thumbflow-recipe";
/// Metadata name of the recipe's version.
pub const RECIPE_VERSION: &str = "thumbflow-recipe-version";
/// Metadata name of the original's key (percent-encoded).
pub const SOURCE_KEY: &str = "thumbflow-source-key";
/// Metadata name of the original's ETag.
pub const SOURCE_ETAG: &str = "thumbflow-source-etag";

/// `Cache-Control` written with every thumbnail on S3: a day in any cache.
///
/// A thumbnail's key follows its original's, not its content, so it can be
/// replaced (the original re-uploaded, the recipe changed): it is not
/// `immutable`, and a day bounds how long a CDN or browser serves an old
/// one, while still sparing the bucket nearly every repeat request.
pub const THUMBNAIL_CACHE_CONTROL: &str = "public, max-age=86400";

/// Bytes left as they are in [`SOURCE_KEY`]: letters, digits, `-_.~/`.
const KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Where a thumbnail came from: what [`to_metadata`](Self::to_metadata) writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFrom {
    /// Recipe name.
    pub recipe: String,
    /// Recipe version; a new version makes older thumbnails stale.
    pub recipe_version: u32,
    /// The original's key, decoded.
    pub source_key: String,
    /// The original's ETag, unquoted; another ETag means the original changed.
    pub source_etag: String,
}

impl GeneratedFrom {
    /// The metadata map (names lowercase, values printable ASCII).
    pub fn to_metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (GENERATED_MARKER.to_owned(), "true".to_owned()),
            (RECIPE.to_owned(), self.recipe.clone()),
            (RECIPE_VERSION.to_owned(), self.recipe_version.to_string()),
            (
                SOURCE_KEY.to_owned(),
                utf8_percent_encode(&self.source_key, KEEP).to_string(),
            ),
            (SOURCE_ETAG.to_owned(), self.source_etag.clone()),
        ])
    }

    /// Read back what [`to_metadata`](Self::to_metadata) wrote; `None` when
    /// the object is not a thumbflow thumbnail or a field is missing.
    pub fn from_metadata(metadata: &BTreeMap<String, String>) -> Option<Self> {
        if !is_generated(metadata) {
            return None;
        }
        Some(Self {
            recipe: metadata.get(RECIPE)?.clone(),
            recipe_version: metadata.get(RECIPE_VERSION)?.trim().parse().ok()?,
            source_key: percent_decode_str(metadata.get(SOURCE_KEY)?)
                .decode_utf8()
                .ok()?
                .into_owned(),
            source_etag: metadata.get(SOURCE_ETAG)?.clone(),
        })
    }
}

/// One thumbnail the recipes in force expect for a source object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedThumbnail {
    /// Recipe name (`thumb`).
    pub recipe: String,
    /// The recipe's current version, which the stored thumbnail must carry.
    pub version: u32,
    /// Where the thumbnailer stores it ([`thumbnail_key`](crate::thumbnail_key)).
    pub key: String,
}

/// Why the thumbnails of a source with ETag `source_etag` are not current,
/// one reason per thumbnail; empty when every one is.
///
/// `found[i]` is the user metadata of `expected[i]` from its HEAD, or `None`
/// when it does not exist. A thumbnail is current when it carries the
/// generated marker, the recipe's current version and the source's ETag
/// (quotes ignored), as [`GeneratedFrom::to_metadata`] writes them. Missing
/// metadata counts as stale: the thumbnail cannot be shown to belong to this
/// version of the source.
pub fn staleness(
    expected: &[ExpectedThumbnail],
    found: &[Option<&BTreeMap<String, String>>],
    source_etag: &str,
) -> Vec<String> {
    let source_etag = bare_etag(source_etag);
    expected
        .iter()
        .enumerate()
        .filter_map(|(i, want)| {
            let Some(meta) = found.get(i).copied().flatten() else {
                return Some(format!("{}: missing", want.key));
            };
            if !is_generated(meta) {
                return Some(format!(
                    "{}: exists but is not marked as generated by thumbflow",
                    want.key
                ));
            }
            let version = meta.get(RECIPE_VERSION).map(String::as_str);
            if version != Some(want.version.to_string().as_str()) {
                return Some(format!(
                    "{}: recipe {:?} is at version {}, the thumbnail has {}",
                    want.key,
                    want.recipe,
                    want.version,
                    version.unwrap_or("none")
                ));
            }
            let etag = meta.get(SOURCE_ETAG).map(|e| bare_etag(e));
            if etag != Some(source_etag) {
                return Some(format!(
                    "{}: rendered from source ETag {}, the source is now {source_etag}",
                    want.key,
                    etag.unwrap_or("unknown")
                ));
            }
            None
        })
        .collect()
}

/// `"abc"` and `abc` compare equal.
pub fn bare_etag(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// Whether `metadata` marks the object as thumbflow's own output (any
/// value of [`GENERATED_MARKER`] counts: the marker's presence is the mark).
pub fn is_generated(metadata: &BTreeMap<String, String>) -> bool {
    metadata.contains_key(GENERATED_MARKER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_metadata_round_trips_awkward_keys_as_ascii() {
        let from = GeneratedFrom {
            recipe: "thumb".into(),
            recipe_version: 3,
            source_key: "dir/ü 日本+&%?#.jpg".into(),
            source_etag: "9b2cf535f27731c974343645a3985328-2".into(),
        };
        let meta = from.to_metadata();
        assert_eq!(meta[GENERATED_MARKER], "true");
        assert_eq!(meta[RECIPE_VERSION], "3");
        assert!(meta.values().all(|v| v.is_ascii()), "{meta:?}");
        assert!(meta[SOURCE_KEY].starts_with("dir/%C3%BC%20"), "{meta:?}");
        assert!(is_generated(&meta));
        assert_eq!(GeneratedFrom::from_metadata(&meta), Some(from));
    }

    #[test]
    fn generated_metadata_absent_or_partial_reads_as_none() {
        assert!(!is_generated(&BTreeMap::new()));
        let only_marker = BTreeMap::from([(GENERATED_MARKER.to_owned(), "true".to_owned())]);
        assert!(is_generated(&only_marker));
        assert_eq!(GeneratedFrom::from_metadata(&only_marker), None);
    }
}
