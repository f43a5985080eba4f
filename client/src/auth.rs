//! Bearer tokens on disk: one file per server in the config folder's `tokens/`, readable by
//! the user alone (0600 in a 0700 folder). `IGOR_TOKEN` beats the file (CI). Token values
//! are never printed or logged; this module's types do not even implement `Debug`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::cache::sanitize;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredToken {
    pub server: String,
    pub user: String,
    pub expires_at: String,
    pub token: String,
}

pub struct TokenStore {
    dir: PathBuf,
}

impl TokenStore {
    pub fn new(dir: PathBuf) -> Self {
        TokenStore { dir }
    }

    pub fn path(&self, server: &str) -> PathBuf {
        self.dir.join(format!("{}.toml", sanitize(server)))
    }

    /// The stored token for `server`; an unreadable or malformed file counts as logged out.
    pub fn load(&self, server: &str) -> Option<StoredToken> {
        let text = fs::read_to_string(self.path(server)).ok()?;
        toml::from_str(&text).ok()
    }

    pub fn save(&self, t: &StoredToken) -> Result<PathBuf> {
        create_private_dir(&self.dir)?;
        let path = self.path(&t.server);
        let text = toml::to_string(t).context("cannot encode the token file")?;
        crate::cache::write_atomic_with_mode(&path, text.as_bytes(), Some(0o600))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// Deletes the token file; `Ok(false)` when there was none.
    pub fn delete(&self, server: &str) -> Result<bool> {
        let path = self.path(server);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("cannot delete {}", path.display())),
        }
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path().join("tokens"));
        let path = store
            .save(&StoredToken {
                server: "http://h:1".into(),
                user: "u".into(),
                expires_at: "2030-01-01T00:00:00Z".into(),
                token: "secret".into(),
            })
            .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(store.load("http://h:1").unwrap().token, "secret");
        assert!(store.delete("http://h:1").unwrap());
        assert!(!store.delete("http://h:1").unwrap());
        assert!(store.load("http://h:1").is_none());
    }
}
