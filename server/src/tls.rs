//! igord's TLS identity: the certificate and key it serves (PEM files given by the operator,
//! or a self-signed pair generated into the data folder on first start and reused after),
//! the rustls server configuration, and the SHA-256 fingerprint clients pin.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::crypto::write_new_private;

/// Where the certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files given with `--tls-cert`/`--tls-key` (or their config keys).
    Files { cert: PathBuf, key: PathBuf },
    /// The self-signed pair in the data folder, generated when absent.
    Generated { dir: PathBuf },
}

pub const GENERATED_CERT: &str = "tls-cert.pem";
pub const GENERATED_KEY: &str = "tls-key.pem";

/// A loaded identity: the chain (leaf first) and its key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// Where it was read from, for the start-up log.
    pub origin: String,
    /// Generated just now (first start).
    pub created: bool,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// `sha256:` and the lowercase hex SHA-256 of a certificate's DER bytes: what igord logs at
/// every start, `igord tls-fingerprint` prints, and igor pins.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(cert.as_ref())))
}

impl Identity {
    pub fn load(source: &TlsSource, listen: SocketAddr) -> anyhow::Result<Identity> {
        match source {
            TlsSource::Files { cert, key } => {
                let (chain, key) = read_pair(cert, key)?;
                Ok(Identity {
                    chain,
                    key,
                    origin: cert.display().to_string(),
                    created: false,
                })
            }
            TlsSource::Generated { dir } => {
                let cert = dir.join(GENERATED_CERT);
                let key = dir.join(GENERATED_KEY);
                let created = if cert.exists() && key.exists() {
                    false
                } else {
                    generate(&cert, &key, listen)?;
                    true
                };
                let (chain, key) = read_pair(&cert, &key)?;
                Ok(Identity {
                    chain,
                    key,
                    origin: format!("{} (self-signed)", cert.display()),
                    created,
                })
            }
        }
    }

    pub fn fingerprint(&self) -> String {
        // `read_pair` refuses an empty chain, so the leaf exists.
        self.chain.first().map(fingerprint).unwrap_or_default()
    }

    /// The rustls configuration actix serves with (TLS 1.2 and 1.3, ring's safe defaults).
    pub fn server_config(&self) -> anyhow::Result<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .context("the TLS certificate and key do not match or are unusable")?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn read_pair(
    cert: &Path,
    key: &Path,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("the TLS certificate {} is not valid PEM", cert.display()))?;
    if chain.is_empty() {
        bail!(
            "the TLS certificate file {} holds no CERTIFICATE block",
            cert.display()
        );
    }
    // The error names the file but never shows its contents.
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| {
        format!(
            "cannot read a private key (PEM: PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) from {}",
            key.display()
        )
    })?;
    Ok((chain, key))
}

/// The names the generated certificate is valid for: `localhost`, the loopback addresses,
/// the host name, and the listen address when it is a specific one.
fn subject_names(listen: SocketAddr) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = host_name() {
        names.push(host);
    }
    let ip = listen.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        names.push(ip.to_string());
    }
    names.dedup();
    names
}

fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    // Only what is a valid DNS name goes into the certificate.
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.parse::<IpAddr>().is_err()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then(|| name.to_owned())
}

/// Writes a new self-signed pair: the key with mode 0600. Each file is written under a
/// temporary name and renamed, so a crash never leaves half a key behind; a lone file from
/// an interrupted first start is replaced.
fn generate(cert_path: &Path, key_path: &Path, listen: SocketAddr) -> anyhow::Result<()> {
    let names = subject_names(listen);
    let mut params = rcgen::CertificateParams::new(names.clone())
        .context("certificate names for the generated TLS certificate")?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "igord self-signed");
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2124, 1, 1);
    let key = rcgen::KeyPair::generate().context("generating the TLS key")?;
    let cert = params
        .self_signed(&key)
        .context("signing the generated TLS certificate")?;
    for (path, text) in [(key_path, key.serialize_pem()), (cert_path, cert.pem())] {
        let tmp = path.with_extension("pem.tmp");
        let _ = std::fs::remove_file(&tmp);
        write_new_private(&tmp, text.as_bytes())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    }
    tracing::info!(
        path = %cert_path.display(),
        names = %names.join(", "),
        "generated a self-signed TLS certificate"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_once_then_reused_with_a_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let source = TlsSource::Generated {
            dir: dir.path().to_owned(),
        };
        let listen: SocketAddr = "127.0.0.1:8623".parse().unwrap();
        let first = Identity::load(&source, listen).unwrap();
        assert!(first.created);
        let mode = std::fs::metadata(dir.path().join(GENERATED_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = Identity::load(&source, listen).unwrap();
        assert!(!again.created);
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert!(first.fingerprint().starts_with("sha256:"));
        assert_eq!(first.fingerprint().len(), "sha256:".len() + 64);
        first.server_config().unwrap();
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("k.pem");
        std::fs::write(&cert, "not pem").unwrap();
        std::fs::write(&key, "secret-ish").unwrap();
        let err = Identity::load(
            &TlsSource::Files {
                cert: cert.clone(),
                key,
            },
            "127.0.0.1:1".parse().unwrap(),
        )
        .unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("c.pem"), "{text}");
        assert!(!text.contains("secret-ish"), "{text}");
    }
}
