//! The server key and the authenticated encryption of BMC passwords at rest
//! (XChaCha20-Poly1305, random 192-bit nonce per value, so nonces never repeat in practice).
//! The key lives outside the database: a 0600 file in the data folder, or `IGOR_SECRET_KEY`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use chacha20poly1305::aead::{Aead, Generate, Key, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 24;

/// The key. Debug never prints it.
#[derive(Clone)]
pub struct SecretKey(Key<XChaCha20Poly1305>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("stored BMC password cannot be decrypted: wrong server key or damaged value")]
pub struct DecryptError;

impl SecretKey {
    fn from_hex(text: &str) -> anyhow::Result<Self> {
        let bytes = hex::decode(text.trim()).context("the key is not hexadecimal")?;
        if bytes.len() != 32 {
            bail!(
                "the key must be 32 bytes (64 hex digits), got {} bytes",
                bytes.len()
            );
        }
        let mut key = Key::<XChaCha20Poly1305>::default();
        key.copy_from_slice(&bytes);
        Ok(SecretKey(key))
    }

    /// `IGOR_SECRET_KEY` (hex) when given, else the key file, created with mode 0600 when it
    /// does not exist yet.
    pub fn load(env_value: Option<&str>, file: &Path) -> anyhow::Result<Self> {
        if let Some(v) = env_value {
            return Self::from_hex(v).context("IGOR_SECRET_KEY");
        }
        match std::fs::read_to_string(file) {
            Ok(text) => {
                Self::from_hex(&text).with_context(|| format!("key file {}", file.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Key::<XChaCha20Poly1305>::generate();
                write_new_private(file, hex::encode(key.as_slice()).as_bytes())
                    .with_context(|| format!("creating key file {}", file.display()))?;
                tracing::info!(path = %file.display(), "created a new server key file");
                Ok(SecretKey(key))
            }
            Err(e) => Err(e).with_context(|| format!("reading key file {}", file.display())),
        }
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        let cipher = XChaCha20Poly1305::new(&self.0);
        let nonce = XNonce::generate();
        // Encryption into a Vec only fails on absurd lengths (> 256 GiB).
        let ct = cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("{PREFIX}{}", hex::encode(out))
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, DecryptError> {
        let raw = stored
            .strip_prefix(PREFIX)
            .and_then(|h| hex::decode(h).ok())
            .ok_or(DecryptError)?;
        if raw.len() < NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| DecryptError)?;
        let pt = XChaCha20Poly1305::new(&self.0)
            .decrypt(&nonce, ct)
            .map_err(|_| DecryptError)?;
        String::from_utf8(pt).map_err(|_| DecryptError)
    }
}

/// Creates `path` with mode 0600 atomically (never world-readable, not even briefly), failing
/// if it exists.
pub fn write_new_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_tamper() {
        let dir = std::env::temp_dir().join(format!("igor-key-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join("secret.key");
        let k = SecretKey::load(None, &file).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = SecretKey::load(None, &file).unwrap();
        let ct = k.encrypt("hunter2");
        assert!(!ct.contains("hunter2"));
        assert_ne!(ct, k.encrypt("hunter2"), "fresh nonce per value");
        assert_eq!(again.decrypt(&ct).unwrap(), "hunter2");
        let mut bad = ct.clone();
        bad.pop();
        bad.push(if ct.ends_with('0') { '1' } else { '0' });
        assert!(k.decrypt(&bad).is_err());
        let other = SecretKey::from_hex(&"11".repeat(32)).unwrap();
        assert!(other.decrypt(&ct).is_err());
        assert!(SecretKey::from_hex("abcd").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
