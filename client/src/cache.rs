//! The on-disk schema cache: one folder per server, schema files named by their
//! fingerprint (which doubles as the checksum), a small metadata file, atomic writes and
//! pruning. Every failure here degrades to a cache miss or a skipped write with one warning:
//! the cache may make a command faster, never make it fail.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use schema::{ApiLevel, LazyDocument, fingerprint_of};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diag::Diag;

const META_FILE: &str = "meta.json";
const MACHINES_FILE: &str = "machines.json";

/// How long the machine names kept for completion are used before an ordinary call
/// refreshes them.
pub const MACHINES_TTL_SECS: u64 = 300;
const SCHEMA_PREFIX: &str = "sha256-";
const TMP_PREFIX: &str = ".tmp-";

/// Where the cached document came from: the server's schema endpoint, or (for a server
/// that publishes none) a bundle this client carries, identified by level and fingerprint.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Server,
    Bundled,
}

/// `meta.json`: what is cached and until when it may be used without asking.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Unix seconds.
    pub fetched_at: u64,
    pub ttl_secs: u64,
    pub fingerprint: String,
    pub api_level: ApiLevel,
    pub origin: Origin,
    /// SHA-256 (hex) of the schema file's bytes as written: a cheap checksum for every
    /// start, where re-deriving the fingerprint would canonicalize the whole document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_sha256: Option<String>,
}

impl Meta {
    /// Fresh while `now` is inside `[fetched_at, fetched_at + ttl)`; a clock that went
    /// backwards counts as stale rather than as fresh forever.
    pub fn is_fresh(&self, now: u64) -> bool {
        now >= self.fetched_at && now - self.fetched_at < self.ttl_secs
    }
}

/// `machines.json`: the names of the machines the logged-in user may see, as `machine-find`
/// listed them, for shell completion (which reads only this, never the network).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MachineNames {
    /// Unix seconds.
    pub fetched_at: u64,
    pub names: Vec<String>,
}

impl MachineNames {
    /// Fresh for `MACHINES_TTL_SECS`; a clock that went backwards makes it stale.
    pub fn is_fresh(&self, now: u64) -> bool {
        now >= self.fetched_at && now - self.fetched_at < MACHINES_TTL_SECS
    }
}

/// A schema document read back from the cache, with the text it was parsed from.
#[derive(Clone, Debug)]
pub struct Cached {
    pub meta: Meta,
    /// `None` when `meta.origin` is `Bundled`: the bundle itself is embedded in the binary.
    pub doc: Option<LazyDocument>,
}

pub struct Cache {
    root: PathBuf,
}

/// The folder name of a server: its URL with everything but `[A-Za-z0-9.-]` turned into `_`,
/// readable in `ls` and safe on every filesystem.
pub fn sanitize(server: &str) -> String {
    server
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Parses a schema document and checks its fingerprint against the content. The check runs
/// over the JSON value, not over `SchemaDocument`, so that fields a newer server added (and
/// this client does not know) still count: they are part of what the server fingerprinted.
/// Once per fetch: the document is then read again as a `LazyDocument`, as every start
/// reads it from the cache.
pub fn parse_verified(text: &str) -> Result<LazyDocument, String> {
    let mut value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let declared = value
        .get("fingerprint")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Value::Object(map) = &mut value {
        map.remove("fingerprint");
    }
    let actual = fingerprint_of(&value);
    if declared != actual {
        return Err(format!(
            "fingerprint mismatch (declared {declared}, content {actual})"
        ));
    }
    let mut doc: LazyDocument =
        serde_json::from_str(text).map_err(|e| format!("not a schema document: {e}"))?;
    doc.fingerprint = declared;
    Ok(doc)
}

/// Parses a cached schema file. With the checksum recorded at write time, a match of the
/// file's bytes is enough (they were verified against their fingerprint when fetched);
/// without one (a cache written by an older igor), the fingerprint is verified in full.
/// Either way the parameter and output schemas stay text (`LazyDocument`): only the
/// invoked command's are ever parsed.
fn parse_checked(text: &str, file_sha256: Option<&str>) -> Result<LazyDocument, String> {
    let Some(expected) = file_sha256 else {
        return parse_verified(text);
    };
    if sha256_hex(text.as_bytes()) != expected {
        return Err("checksum mismatch".to_owned());
    }
    serde_json::from_str(text).map_err(|e| format!("not a schema document: {e}"))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

impl Cache {
    pub fn new(root: PathBuf) -> Self {
        Cache { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn server_dir(&self, server: &str) -> PathBuf {
        self.root.join(sanitize(server))
    }

    pub fn schema_path(&self, server: &str, fingerprint: &str) -> PathBuf {
        let hex = fingerprint.strip_prefix("sha256:").unwrap_or(fingerprint);
        self.server_dir(server)
            .join(format!("{SCHEMA_PREFIX}{}.json", sanitize(hex)))
    }

    /// The cached entry for `server`, or `None`. Nothing cached yet is a silent miss; a
    /// corrupt or unreadable entry is a miss with a warning.
    pub fn load(&self, server: &str, diag: &Diag) -> Option<Cached> {
        let dir = self.server_dir(server);
        let meta_path = dir.join(META_FILE);
        let text = match fs::read_to_string(&meta_path) {
            Ok(t) => t,
            // No cache yet (or its folder's parent is not a folder: the write side warns).
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return None;
            }
            Err(e) => {
                diag.warn(format_args!(
                    "ignoring the schema cache: cannot read {}: {e}",
                    meta_path.display()
                ));
                return None;
            }
        };
        let meta: Meta = match serde_json::from_str(&text) {
            Ok(m) => m,
            Err(e) => {
                diag.warn(format_args!(
                    "ignoring the schema cache: {} is corrupt: {e}",
                    meta_path.display()
                ));
                return None;
            }
        };
        if meta.origin == Origin::Bundled {
            return Some(Cached { meta, doc: None });
        }
        let path = self.schema_path(server, &meta.fingerprint);
        let doc = match fs::read_to_string(&path) {
            Ok(text) => match parse_checked(&text, meta.file_sha256.as_deref()) {
                Ok(doc) if doc.fingerprint == meta.fingerprint => doc,
                Ok(_) => {
                    diag.warn(format_args!(
                        "ignoring the schema cache: {} does not hold the schema its name says",
                        path.display()
                    ));
                    return None;
                }
                Err(e) => {
                    diag.warn(format_args!(
                        "ignoring the schema cache: {} is corrupt: {e}",
                        path.display()
                    ));
                    return None;
                }
            },
            Err(e) => {
                diag.warn(format_args!(
                    "ignoring the schema cache: cannot read {}: {e}",
                    path.display()
                ));
                return None;
            }
        };
        Some(Cached {
            meta,
            doc: Some(doc),
        })
    }

    /// Stores a schema fetched from the server (its exact text) and its metadata, then
    /// prunes superseded schema files. Failure is a warning, never an error.
    pub fn store_schema(&self, server: &str, text: &str, meta: &Meta, diag: &Diag) {
        let meta = &Meta {
            file_sha256: Some(sha256_hex(text.as_bytes())),
            ..meta.clone()
        };
        let result = (|| -> std::io::Result<()> {
            let dir = self.server_dir(server);
            fs::create_dir_all(&dir)?;
            write_atomic(
                &self.schema_path(server, &meta.fingerprint),
                text.as_bytes(),
            )?;
            write_atomic(&dir.join(META_FILE), meta_json(meta).as_bytes())?;
            Ok(())
        })();
        match result {
            Ok(()) => self.prune(server, Some(&meta.fingerprint)),
            Err(e) => self.warn_unwritable(server, e, diag),
        }
    }

    /// The machine names kept for completion; anything unreadable is nothing (silently: a
    /// completion cache is a convenience, and TAB has no place for warnings).
    pub fn load_machines(&self, server: &str) -> Option<MachineNames> {
        let text = fs::read_to_string(self.server_dir(server).join(MACHINES_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Replaces the machine names kept for completion, atomically. The file is 0600: which
    /// machines a user may see is that user's business, unlike the public schema beside it.
    pub fn store_machines(&self, server: &str, names: &MachineNames) -> std::io::Result<()> {
        let dir = self.server_dir(server);
        fs::create_dir_all(&dir)?;
        let text = serde_json::to_string(names).map_err(std::io::Error::other)?;
        write_atomic_with_mode(&dir.join(MACHINES_FILE), text.as_bytes(), Some(0o600))
    }

    /// Stores only the metadata: a 304 renewal, or a bundled document (no file to keep).
    pub fn store_meta(&self, server: &str, meta: &Meta, diag: &Diag) {
        let result = (|| -> std::io::Result<()> {
            let dir = self.server_dir(server);
            fs::create_dir_all(&dir)?;
            write_atomic(&dir.join(META_FILE), meta_json(meta).as_bytes())
        })();
        match result {
            Ok(()) => {
                let keep = (meta.origin == Origin::Server).then_some(meta.fingerprint.as_str());
                self.prune(server, keep);
            }
            Err(e) => self.warn_unwritable(server, e, diag),
        }
    }

    fn warn_unwritable(&self, server: &str, e: std::io::Error, diag: &Diag) {
        diag.warn(format_args!(
            "cannot write the schema cache in {}: {e}",
            self.server_dir(server).display()
        ));
    }

    /// Removes schema files other than `keep` and leftover temporary files. Best effort:
    /// a file that cannot be removed now will be tried again next time.
    pub fn prune(&self, server: &str, keep: Option<&str>) {
        let keep_path = keep.map(|fp| self.schema_path(server, fp));
        let Ok(entries) = fs::read_dir(self.server_dir(server)) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let stale_schema = name.starts_with(SCHEMA_PREFIX) && Some(&path) != keep_path.as_ref();
            // Another process may be between writing its temporary file and renaming it:
            // only leftovers older than a minute are debris.
            let stale_tmp = name.starts_with(TMP_PREFIX)
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age.as_secs() > 60);
            if stale_schema || stale_tmp {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

fn meta_json(meta: &Meta) -> String {
    // A struct of plain fields always serializes; the fallback keeps this panic-free.
    serde_json::to_string_pretty(meta).unwrap_or_default()
}

/// Writes to a temporary file in the same folder and renames it over `path`, so a reader
/// never sees half a file, even when two `igor` processes race.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with_mode(path, bytes, None)
}

/// `write_atomic` with the file created with `mode` from the start: a secret (0600) is never
/// readable by others, not even for an instant.
pub fn write_atomic_with_mode(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!("{TMP_PREFIX}{}-{name}", std::process::id()));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if let Some(mode) = mode {
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
    }
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
