//! Which listed objects need an event: the scan's decisions, without I/O.
//!
//! For each object of the listing the scan asks, in this order:
//!
//! 1. [`ScanRules::own_output`]: is the key under the thumbnail prefix? Then it
//!    is one of thumbflow's outputs and nothing is fetched.
//! 2. [`ScanRules::expected_thumbnails`] and [`staleness`]: does every recipe's
//!    thumbnail exist, marked as generated, for the recipe's current version
//!    and the source's current ETag? Then the object is up to date.
//! 3. [`ScanRules::ignore_reason`] on the source's HEAD: is it an image, and
//!    not itself a thumbflow output (the generated marker)? The same rule the
//!    normalizer applies ([`thumbflow_events::filter::ignore_reason`]), so the
//!    scan never publishes an event the pipeline would ignore.
//!
//! Anything left needs an event ([`object_event`]).

use std::collections::BTreeMap;

use thumbflow_blob::generated::bare_etag;
use thumbflow_blob::thumbnail_key;
use thumbflow_events::filter::{ignore_reason, is_generated_marker};
use thumbflow_imaging::Recipe;

pub use thumbflow_blob::generated::{staleness, ExpectedThumbnail};

/// What the scan needs to know about one recipe: enough to find its
/// thumbnail and tell whether it is current.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RecipeTarget {
    name: String,
    version: u32,
    extension: &'static str,
}

/// The rules of one scan: the thumbnail prefix and the recipes in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRules {
    thumbnail_prefix: String,
    recipes: Vec<RecipeTarget>,
}

impl ScanRules {
    /// Rules for `recipes` (as [`thumbflow_imaging::parse_recipes`] returns
    /// them) writing under `thumbnail_prefix`.
    pub fn new(thumbnail_prefix: &str, recipes: &[Recipe]) -> Self {
        Self {
            thumbnail_prefix: thumbnail_prefix.to_owned(),
            recipes: recipes
                .iter()
                .map(|r| RecipeTarget {
                    name: r.name.clone(),
                    version: r.version,
                    extension: r.format.extension(),
                })
                .collect(),
        }
    }

    /// The thumbnail prefix (`thumbnails/`).
    pub fn thumbnail_prefix(&self) -> &str {
        &self.thumbnail_prefix
    }

    /// A stable description of the recipe set, `name@vN.ext` joined by
    /// `;` in name order: part of the checkpoint's identity, so a scan with
    /// other recipes never resumes this one.
    pub fn recipe_set(&self) -> String {
        let mut parts: Vec<String> = self
            .recipes
            .iter()
            .map(|r| format!("{}@v{}.{}", r.name, r.version, r.extension))
            .collect();
        parts.sort();
        parts.join(";")
    }

    /// Why `key` is one of thumbflow's own outputs by its name alone (it
    /// starts with the thumbnail prefix), or `None`.
    pub fn own_output(&self, key: &str) -> Option<String> {
        if self.thumbnail_prefix.is_empty() || !key.starts_with(&self.thumbnail_prefix) {
            return None;
        }
        ignore_reason(key, None, false, &self.thumbnail_prefix)
    }

    /// The thumbnails the current recipes expect for the source `key`.
    pub fn expected_thumbnails(&self, key: &str) -> Vec<ExpectedThumbnail> {
        self.recipes
            .iter()
            .map(|r| ExpectedThumbnail {
                recipe: r.name.clone(),
                version: r.version,
                key: thumbnail_key(&self.thumbnail_prefix, &r.name, key, r.extension),
            })
            .collect()
    }

    /// Why the source object must not be thumbnailed, from its HEAD: not an
    /// image (content type, else extension), or it carries the generated
    /// marker. `None`: it needs an event.
    pub fn ignore_reason(
        &self,
        key: &str,
        content_type: Option<&str>,
        metadata: &BTreeMap<String, String>,
    ) -> Option<String> {
        let marker = metadata.keys().any(|name| is_generated_marker(name));
        ignore_reason(key, content_type, marker, &self.thumbnail_prefix)
    }
}

/// The raw event the scan publishes for one object: S3 `Records` shaped,
/// `ObjectCreated:Put`, its key form-encoded the way the normalizer decodes
/// it, carrying the object's size, ETag and content type. It is the event the
/// gateway itself publishes for an upload
/// ([`thumbflow_events::gateway_put_event`]), so it goes through exactly the
/// same normalizer path.
pub fn object_event(
    bucket: &str,
    key: &str,
    size: u64,
    etag: &str,
    content_type: Option<&str>,
    time: &str,
) -> String {
    thumbflow_events::gateway_put_event(
        bucket,
        key,
        size,
        bare_etag(etag),
        content_type.unwrap_or(""),
        time,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use thumbflow_blob::generated::{RECIPE_VERSION, SOURCE_ETAG};
    use thumbflow_events::{normalize, NormalizeOptions, Outcome};
    use thumbflow_imaging::parse_recipes;

    fn rules(spec: &str) -> ScanRules {
        ScanRules::new("thumbnails/", &parse_recipes(spec).unwrap())
    }

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn current(version: &str, etag: &str) -> BTreeMap<String, String> {
        meta(&[
            ("thumbflow-generated", "true"),
            ("thumbflow-recipe", "thumb"),
            (RECIPE_VERSION, version),
            (SOURCE_ETAG, etag),
        ])
    }

    #[test]
    fn expected_thumbnails_follow_the_thumbnailer_layout() {
        let r = rules("thumb=300x300,jpeg,q90;small=64x64,webp,v3");
        let want = r.expected_thumbnails("photos/a b.JPG");
        assert_eq!(
            want,
            [
                ExpectedThumbnail {
                    recipe: "thumb".into(),
                    version: 1,
                    key: "thumbnails/thumb/photos/a b.JPG.jpg".into()
                },
                ExpectedThumbnail {
                    recipe: "small".into(),
                    version: 3,
                    key: "thumbnails/small/photos/a b.JPG.webp".into()
                },
            ]
        );
        assert_eq!(
            r.expected_thumbnails("x.png")[0].key,
            "thumbnails/thumb/x.png.jpg"
        );
    }

    #[test]
    fn own_output_skips_only_the_thumbnail_prefix() {
        let r = rules("");
        assert!(r
            .own_output("thumbnails/a.jpg")
            .unwrap()
            .contains("thumbnail prefix"));
        assert_eq!(r.own_output("photos/thumbnails/a.jpg"), None);
        assert_eq!(ScanRules::new("", &[]).own_output("thumbnails/a.jpg"), None);
    }

    #[test]
    fn staleness_empty_when_every_thumbnail_is_current() {
        let r = rules("thumb=300x300;small=64x64,png,v2");
        let want = r.expected_thumbnails("a.jpg");
        let (t, s) = (current("1", "abc"), current("2", "\"abc\""));
        assert!(staleness(&want, &[Some(&t), Some(&s)], "\"abc\"").is_empty());
    }

    #[test]
    fn staleness_names_missing_old_version_and_other_etag() {
        let r = rules("thumb=300x300;small=64x64,png,v2");
        let want = r.expected_thumbnails("a.jpg");
        let missing = staleness(&want, &[None, Some(&current("2", "abc"))], "abc");
        assert_eq!(missing, ["thumbnails/thumb/a.jpg.jpg: missing"]);

        let old = staleness(
            &want,
            &[Some(&current("1", "abc")), Some(&current("1", "abc"))],
            "abc",
        );
        assert_eq!(old.len(), 1);
        assert!(old[0].contains("version 2, the thumbnail has 1"), "{old:?}");

        let moved = staleness(
            &want,
            &[Some(&current("1", "old")), Some(&current("2", "abc"))],
            "abc",
        );
        assert_eq!(moved.len(), 1);
        assert!(moved[0].contains("source ETag old"), "{moved:?}");
    }

    #[test]
    fn staleness_treats_unmarked_or_bare_thumbnails_as_stale() {
        let r = rules("");
        let want = r.expected_thumbnails("a.jpg");
        let unmarked = meta(&[(RECIPE_VERSION, "1"), (SOURCE_ETAG, "abc")]);
        assert!(staleness(&want, &[Some(&unmarked)], "abc")[0].contains("not marked"));
        let bare = meta(&[("thumbflow-generated", "true")]);
        assert!(staleness(&want, &[Some(&bare)], "abc")[0].contains("has none"));
    }

    #[test]
    fn ignore_reason_uses_the_normalizer_rule_and_the_marker() {
        let r = rules("");
        let none = BTreeMap::new();
        assert_eq!(r.ignore_reason("a.jpg", Some("image/jpeg"), &none), None);
        assert_eq!(r.ignore_reason("noext", Some("image/png"), &none), None);
        assert_eq!(
            r.ignore_reason("a.jpg", Some("binary/octet-stream"), &none),
            None
        );
        assert!(r
            .ignore_reason("notes.txt", Some("text/plain"), &none)
            .unwrap()
            .contains("not an image"));
        assert!(r
            .ignore_reason("data.bin", Some("application/octet-stream"), &none)
            .is_some());
        let marked = meta(&[("thumbflow-generated", "true")]);
        assert!(r
            .ignore_reason("elsewhere/a.jpg", Some("image/jpeg"), &marked)
            .unwrap()
            .contains("thumbflow-generated"));
    }

    #[test]
    fn recipe_set_is_order_independent_and_versioned() {
        assert_eq!(
            rules("b=1x1,png;a=2x2,v2").recipe_set(),
            rules("a=2x2,v2;b=1x1,png").recipe_set()
        );
        assert_eq!(rules("").recipe_set(), "thumb@v1.jpg");
        assert_ne!(
            rules("thumb=300x300,v2").recipe_set(),
            rules("").recipe_set()
        );
    }

    #[test]
    fn object_event_reaches_the_exact_key_through_the_normalizer() {
        let options = NormalizeOptions {
            thumbnail_prefix: "thumbnails/".into(),
            received_at: "2026-12-01T08:00:00Z".into(),
            max_event_bytes: 1 << 20,
        };
        for key in [
            "plain.jpg",
            "with space/a+b&c=d.jpg",
            "100%/ü 日本.png",
            "caf\u{e9}+.jpeg",
        ] {
            let raw = object_event(
                "photos",
                key,
                42,
                "\"9b2cf535f27731c974343645a3985328\"",
                Some("image/jpeg"),
                "2026-12-01T08:00:00Z",
            );
            let outcomes = normalize(raw.as_bytes(), &options).unwrap();
            let [Outcome::Accepted { event, .. }] = outcomes.as_slice() else {
                panic!("{key:?}: {outcomes:?}");
            };
            let data = &event.data;
            assert_eq!(data.bucket, "photos");
            assert_eq!(data.key, key);
            assert_eq!(data.size, Some(42));
            assert_eq!(
                data.etag.as_deref(),
                Some("9b2cf535f27731c974343645a3985328")
            );
        }
    }

    #[test]
    fn object_event_without_content_type_is_decided_by_extension() {
        let options = NormalizeOptions {
            thumbnail_prefix: "thumbnails/".into(),
            received_at: "2026-12-01T08:00:00Z".into(),
            max_event_bytes: 1 << 20,
        };
        let raw = object_event("b", "a.webp", 1, "e", None, "2026-12-01T08:00:00Z");
        let outcomes = normalize(raw.as_bytes(), &options).unwrap();
        assert!(matches!(outcomes.as_slice(), [Outcome::Accepted { .. }]));
    }
}
