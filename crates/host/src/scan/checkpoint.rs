//! Where a scan stopped, so a killed scan resumes there.
//!
//! The listing is in key order (S3 lists keys in UTF-8 byte order, which is
//! also how Rust compares strings), so the position is one key: every listed
//! key up to and including [`Checkpoint::through`] is *settled* (skipped, or
//! its event accepted by the gateway). Objects are checked concurrently, so
//! events accepted for keys after that point are kept in
//! [`Checkpoint::published_ahead`] with the ETag they were published for; a
//! resumed scan skips them too, and so renders nothing twice. An object whose
//! event was not accepted is never settled: the position stops before it, and
//! the next run tries it again.
//!
//! The file is JSON, replaced atomically (written to a temporary file in the
//! same directory, flushed, then renamed over the old one), so a kill at any
//! moment leaves either the old or the new checkpoint. Its name is derived
//! from the [`Scope`] (endpoint, bucket, prefix, thumbnail prefix, recipe
//! set), and the scope is stored inside and checked on load, so a different
//! scan never resumes a wrong one.
//!
//! [`Tracker`] is the pure bookkeeping: objects are registered in listing
//! order, settle in any order, and the checkpoint follows.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Version of the file format; a file of another version is not resumed.
pub const FORMAT: u32 = 1;

/// What makes two scans the same scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// The S3 endpoint URL.
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    /// The listing prefix (empty: the whole bucket).
    pub prefix: String,
    /// Where thumbnails are looked for.
    pub thumbnail_prefix: String,
    /// The recipes and their versions ([`super::plan::ScanRules::recipe_set`]).
    pub recipes: String,
}

impl Scope {
    /// A short stable id of the scope (16 hex digits of SHA-256), used as
    /// the checkpoint's file name.
    pub fn id(&self) -> String {
        let mut hash = Sha256::new();
        for part in [
            &self.endpoint,
            &self.bucket,
            &self.prefix,
            &self.thumbnail_prefix,
            &self.recipes,
        ] {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        hash.finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The checkpoint file of this scope in `dir`.
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(format!("scan-{}.json", self.id()))
    }
}

/// The saved position of one scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// File format version ([`FORMAT`]).
    pub format: u32,
    /// Which scan this is.
    pub scope: Scope,
    /// Every listed key up to and including this one is settled; `None`:
    /// nothing yet.
    pub through: Option<String>,
    /// The continuation token of the listing page that holds `through`
    /// (`None`: the first page), so a resumed scan does not list from the
    /// start; keys up to `through` on that page are skipped.
    pub page_token: Option<String>,
    /// Keys after `through` whose events were accepted, with the ETag each
    /// event named.
    pub published_ahead: BTreeMap<String, String>,
}

impl Checkpoint {
    /// The position of a scan that has done nothing yet.
    pub fn new(scope: Scope) -> Self {
        Self {
            format: FORMAT,
            scope,
            through: None,
            page_token: None,
            published_ahead: BTreeMap::new(),
        }
    }

    /// Whether a previous run already settled `key` at version `etag`, so
    /// this run skips it without any request.
    pub fn settled(&self, key: &str, etag: &str) -> bool {
        self.through
            .as_deref()
            .is_some_and(|through| key <= through)
            || self
                .published_ahead
                .get(key)
                .is_some_and(|published| published == etag)
    }

    /// Whether this checkpoint records any progress.
    pub fn has_progress(&self) -> bool {
        self.through.is_some() || !self.published_ahead.is_empty()
    }
}

/// Why a checkpoint file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading, writing or renaming the file failed.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a checkpoint this version understands.
    #[error("checkpoint {path} is not readable ({reason}): remove it, or run with --restart")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file belongs to another scan (endpoint, bucket, prefix or recipes).
    #[error(
        "checkpoint {path} belongs to another scan ({other}): remove it, or run with --restart"
    )]
    OtherScope {
        /// The file.
        path: PathBuf,
        /// The other scan, briefly.
        other: String,
    },
}

/// Load the checkpoint of `scope` from `path`; `Ok(None)` when there is none.
pub fn load(path: &Path, scope: &Scope) -> Result<Option<Checkpoint>, CheckpointError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CheckpointError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let checkpoint: Checkpoint =
        serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if checkpoint.format != FORMAT {
        return Err(CheckpointError::Corrupt {
            path: path.to_owned(),
            reason: format!(
                "format {} where this thumbflow writes {FORMAT}",
                checkpoint.format
            ),
        });
    }
    if &checkpoint.scope != scope {
        let other = &checkpoint.scope;
        return Err(CheckpointError::OtherScope {
            path: path.to_owned(),
            other: format!(
                "s3://{}/{} at {}, recipes {}",
                other.bucket, other.prefix, other.endpoint, other.recipes
            ),
        });
    }
    Ok(Some(checkpoint))
}

/// Write `checkpoint` to `path` atomically (temporary file, flush, rename),
/// creating the directory if needed.
pub fn save(path: &Path, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let bytes = serde_json::to_vec_pretty(checkpoint).map_err(|e| io(e.into()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Beside the target (a rename does not cross file systems), named by
    // process so two scans never share a temporary file.
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(&bytes)?;
        file.sync_data()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

/// Remove the checkpoint at `path` (a finished scan starts afresh next time),
/// and any temporary file of it a killed scan left behind (killed between
/// writing and renaming it), so a finished scan leaves nothing.
pub fn remove(path: &Path) -> Result<(), CheckpointError> {
    if let (Some(dir), Some(name)) = (path.parent(), path.file_name()) {
        let prefix = format!(".{}.", name.to_string_lossy());
        let leftovers = std::fs::read_dir(dir).into_iter().flatten().flatten();
        for entry in leftovers {
            let file = entry.file_name();
            let file = file.to_string_lossy();
            if file.starts_with(&prefix) && file.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CheckpointError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// How one object ended in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Nothing to do (thumbnails current, not an image, our own output).
    Skipped,
    /// The gateway accepted its event, for this ETag.
    Published(String),
    /// Its event was not accepted (or it could not be checked): the
    /// checkpoint must not move past it.
    Failed,
}

/// One listed object not yet folded into the checkpoint.
#[derive(Debug)]
struct Pending {
    key: String,
    page_token: Option<String>,
    settled: Option<Settled>,
}

/// Folds objects settling in any order into a checkpoint that only ever
/// claims what is true.
#[derive(Debug)]
pub struct Tracker {
    checkpoint: Checkpoint,
    next: u64,
    pending: BTreeMap<u64, Pending>,
}

impl Tracker {
    /// Continue from `checkpoint`.
    pub fn new(checkpoint: Checkpoint) -> Self {
        Self {
            checkpoint,
            next: 0,
            pending: BTreeMap::new(),
        }
    }

    /// The checkpoint as it stands.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// Register the next object of the listing (in listing order), found
    /// on the page fetched with `page_token`; returns its ticket for
    /// [`Tracker::settle`].
    pub fn listed(&mut self, key: &str, page_token: Option<&str>) -> u64 {
        let ticket = self.next;
        self.next += 1;
        self.pending.insert(
            ticket,
            Pending {
                key: key.to_owned(),
                page_token: page_token.map(str::to_owned),
                settled: None,
            },
        );
        ticket
    }

    /// Record how the object `ticket` ended. Returns whether the checkpoint
    /// changed (and so is worth saving).
    pub fn settle(&mut self, ticket: u64, how: Settled) -> bool {
        let Some(entry) = self.pending.get_mut(&ticket) else {
            return false;
        };
        let mut changed = false;
        if let Settled::Published(etag) = &how {
            self.checkpoint
                .published_ahead
                .insert(entry.key.clone(), etag.clone());
            changed = true;
        }
        entry.settled = Some(how);
        // Advance over the settled prefix of the listing; a failure stops it.
        while let Some(first) = self.pending.first_entry() {
            let state = first.get().settled.clone();
            match state {
                Some(Settled::Skipped | Settled::Published(_)) => {
                    let done = first.remove();
                    self.checkpoint.published_ahead.remove(&done.key);
                    self.checkpoint.through = Some(done.key);
                    self.checkpoint.page_token = done.page_token;
                    changed = true;
                }
                Some(Settled::Failed) | None => break,
            }
        }
        changed
    }

    /// Whether every registered object settled without failure.
    pub fn all_settled(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            endpoint: "http://127.0.0.1:7480/".into(),
            bucket: "photos".into(),
            prefix: "2026/".into(),
            thumbnail_prefix: "thumbnails/".into(),
            recipes: "thumb@v1.jpg".into(),
        }
    }

    #[test]
    fn scope_id_differs_for_any_field() {
        let base = scope();
        let mut ids = vec![base.id()];
        for change in [
            |s: &mut Scope| s.endpoint.push('x'),
            |s: &mut Scope| s.bucket.push('x'),
            |s: &mut Scope| s.prefix.push('x'),
            |s: &mut Scope| s.thumbnail_prefix.push('x'),
            |s: &mut Scope| s.recipes = "thumb@v2.jpg".into(),
        ] {
            let mut s = base.clone();
            change(&mut s);
            ids.push(s.id());
        }
        let unique: std::collections::BTreeSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{ids:?}");
        assert_eq!(base.id(), scope().id());
        assert_eq!(base.id().len(), 16);
    }

    #[test]
    fn tracker_advances_over_the_settled_prefix_only() {
        let mut t = Tracker::new(Checkpoint::new(scope()));
        let a = t.listed("a.jpg", None);
        let b = t.listed("b.jpg", None);
        let c = t.listed("c.jpg", Some("page2"));
        assert!(t.settle(c, Settled::Published("ec".into())));
        assert_eq!(t.checkpoint().through, None);
        assert_eq!(t.checkpoint().published_ahead.get("c.jpg").unwrap(), "ec");
        t.settle(a, Settled::Skipped);
        assert_eq!(t.checkpoint().through.as_deref(), Some("a.jpg"));
        t.settle(b, Settled::Published("eb".into()));
        let cp = t.checkpoint();
        assert_eq!(cp.through.as_deref(), Some("c.jpg"));
        assert_eq!(cp.page_token.as_deref(), Some("page2"));
        assert!(cp.published_ahead.is_empty());
        assert!(t.all_settled());
    }

    #[test]
    fn tracker_never_moves_past_a_failure() {
        let mut t = Tracker::new(Checkpoint::new(scope()));
        let a = t.listed("a.jpg", None);
        let b = t.listed("b.jpg", None);
        let c = t.listed("c.jpg", None);
        t.settle(a, Settled::Published("ea".into()));
        t.settle(b, Settled::Failed);
        t.settle(c, Settled::Published("ec".into()));
        let cp = t.checkpoint().clone();
        assert_eq!(cp.through.as_deref(), Some("a.jpg"));
        assert!(!cp.settled("b.jpg", "eb"));
        assert!(cp.settled("c.jpg", "ec"));
        assert!(!t.all_settled());
    }

    #[test]
    fn settled_covers_through_and_published_ahead_of_the_same_version() {
        let mut cp = Checkpoint::new(scope());
        cp.through = Some("m/é.jpg".into());
        cp.published_ahead.insert("x.jpg".into(), "e1".into());
        assert!(cp.settled("a.jpg", "e"));
        assert!(cp.settled("m/é.jpg", "e"));
        assert!(!cp.settled("m/ü.jpg", "e"));
        assert!(cp.settled("x.jpg", "e1"));
        // Replaced since it was published: its new version needs an event.
        assert!(!cp.settled("x.jpg", "e2"));
    }

    #[test]
    fn remove_also_clears_a_killed_scans_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = scope().path_in(dir.path());
        save(&path, &Checkpoint::new(scope())).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        std::fs::write(dir.path().join(format!(".{name}.4242.tmp")), b"{}").unwrap();
        std::fs::write(dir.path().join("other.json"), b"{}").unwrap();
        remove(&path).unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["other.json"]);
    }

    #[test]
    fn save_then_load_round_trips_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = scope().path_in(&dir.path().join("nested"));
        assert!(load(&path, &scope()).unwrap().is_none());
        let mut cp = Checkpoint::new(scope());
        cp.through = Some("a b+c.jpg".into());
        cp.page_token = Some("tok/+=".into());
        save(&path, &cp).unwrap();
        cp.published_ahead.insert("z.jpg".into(), "ez".into());
        save(&path, &cp).unwrap();
        assert_eq!(load(&path, &scope()).unwrap(), Some(cp));
        // Only the checkpoint is left in the directory: no temporary files.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
        remove(&path).unwrap();
        remove(&path).unwrap();
        assert!(load(&path, &scope()).unwrap().is_none());
    }

    #[test]
    fn load_refuses_another_scope_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scan.json");
        let mut other = scope();
        other.bucket = "other".into();
        save(&path, &Checkpoint::new(other)).unwrap();
        let err = load(&path, &scope()).unwrap_err();
        assert!(matches!(err, CheckpointError::OtherScope { .. }), "{err}");
        assert!(err.to_string().contains("--restart"), "{err}");
        std::fs::write(&path, b"{not json").unwrap();
        let err = load(&path, &scope()).unwrap_err();
        assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err}");
    }
}
