//! https for igor: which certificates a run trusts, and the ureq connector that enforces it.
//!
//! A server certificate is accepted when it validates (chain and name) against the system
//! roots plus the context's CA file, or when its fingerprint (`sha256:` + lowercase hex of
//! SHA-256 over the leaf's DER, what `igord tls-fingerprint` prints) equals the pin. Pins
//! live in `known_servers.toml` beside the config file, one per server URL, written
//! atomically with mode 0600; they change only through `--trust-fingerprint`,
//! `igor config set-context --trust-fingerprint`, or the question `igor login` asks on a
//! terminal. Nothing is ever trusted silently: an unknown certificate and a pinned one that
//! changed are refused with the fingerprints to compare.
//!
//! ureq takes no custom rustls verifier, so this is a ureq `Connector` of our own (TCP from
//! ureq, TLS here). Its rustls configuration, and with it the system certificate store, is
//! built on the first https connection of a run: `--help`, completion and `http://` never
//! load a certificate store.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context as _, Result, bail};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

/// `sha256:` and 64 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn of_der(der: &[u8]) -> Self {
        Fingerprint(format!("sha256:{}", hex::encode(Sha256::digest(der))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = String;

    /// Accepts upper case and `:` between the bytes (as other tools print them).
    fn from_str(s: &str) -> Result<Self, String> {
        let hex: String = s
            .trim()
            .strip_prefix("sha256:")
            .ok_or_else(|| format!("invalid fingerprint '{s}': expected sha256:HEX"))?
            .chars()
            .filter(|c| *c != ':')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "invalid fingerprint '{s}': expected sha256: and 64 hex digits"
            ));
        }
        Ok(Fingerprint(format!("sha256:{hex}")))
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Fingerprint> for String {
    fn from(f: Fingerprint) -> String {
        f.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `known_servers.toml`: the pinned certificate of each server URL.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownServers {
    #[serde(default)]
    pub servers: BTreeMap<String, Fingerprint>,
}

impl KnownServers {
    pub fn load(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(t) => toml::from_str(&t).with_context(|| format!("invalid {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Records `fp` for `server`, atomically and readable by the user alone.
    pub fn pin(path: &Path, server: &str, fp: &Fingerprint) -> Result<()> {
        let mut known = Self::load(path)?;
        known.servers.insert(server.to_owned(), fp.clone());
        let text = toml::to_string_pretty(&known).context("cannot encode the pins")?;
        if let Some(dir) = path.parent() {
            crate::auth::create_private_dir(dir)?;
        }
        crate::cache::write_atomic_with_mode(path, text.as_bytes(), Some(0o600))
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// What one run trusts, besides the system roots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trust {
    pub ca_file: Option<PathBuf>,
    pub pin: Option<Fingerprint>,
    /// The pin came from `--trust-fingerprint` (and replaces the stored one when it matches).
    pub pin_from_flag: bool,
}

/// How a certificate was accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// The chain validates against the system roots or the CA file.
    Pki,
    Pinned(Fingerprint),
}

/// Why a certificate was refused. `Display` is the whole message for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Neither validated nor pinned.
    Unknown {
        presented: Fingerprint,
        reason: String,
    },
    /// The pinned certificate changed.
    Changed {
        pinned: Fingerprint,
        presented: Fingerprint,
    },
    /// `--trust-fingerprint` names another certificate than the server's.
    NotTheGiven {
        given: Fingerprint,
        presented: Fingerprint,
    },
    /// The CA file cannot be used.
    CaFile(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Unknown { presented, reason } => write!(
                f,
                "the server's certificate is not trusted ({reason}); its fingerprint is {presented}. \
                 If that is the certificate the server's admin gave you ('igord tls-fingerprint' prints it), \
                 trust it with 'igor login' on a terminal or with --trust-fingerprint {presented}"
            ),
            Refusal::Changed { pinned, presented } => write!(
                f,
                "THE SERVER'S CERTIFICATE HAS CHANGED. The pinned certificate is {pinned}, \
                 the server now presents {presented}. Someone may be intercepting the connection, \
                 or the server's certificate was replaced; refusing to talk to it. \
                 Once you know the new certificate is the server's, trust it with --trust-fingerprint {presented}"
            ),
            Refusal::NotTheGiven { given, presented } => write!(
                f,
                "the server presents the certificate {presented}, not {given} as --trust-fingerprint says; refusing to talk to it"
            ),
            Refusal::CaFile(e) => f.write_str(e),
        }
    }
}

/// The decision, given whether the chain validated (`pki`) and the leaf's fingerprint.
/// A validated chain needs no pin, and is accepted whatever pin is stored.
pub fn decide(
    pki: Result<(), String>,
    presented: &Fingerprint,
    trust: &Trust,
) -> Result<Accepted, Refusal> {
    let reason = match pki {
        Ok(()) => return Ok(Accepted::Pki),
        Err(reason) => reason,
    };
    match &trust.pin {
        Some(pin) if pin == presented => Ok(Accepted::Pinned(pin.clone())),
        Some(given) if trust.pin_from_flag => Err(Refusal::NotTheGiven {
            given: given.clone(),
            presented: presented.clone(),
        }),
        Some(pinned) => Err(Refusal::Changed {
            pinned: pinned.clone(),
            presented: presented.clone(),
        }),
        None => Err(Refusal::Unknown {
            presented: presented.clone(),
            reason,
        }),
    }
}

/// A PEM reading error in words: an I/O failure without the OS's error number.
pub fn pem_words(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => crate::prompt::io_words(io),
        other => other.to_string(),
    }
}

/// What the connector and the verifier share with `UreqHttp`: the trust of the run (which
/// a login may change after asking), the rustls configuration once built, and what the last
/// handshakes decided.
#[derive(Default)]
pub struct Shared {
    trust: Mutex<Trust>,
    config: Mutex<Option<Arc<ClientConfig>>>,
    refusal: Mutex<Option<Refusal>>,
    accepted: Mutex<Option<Accepted>>,
    notes: Mutex<Vec<String>>,
}

/// A poisoned lock only means another thread panicked; the data is still ours to read.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn set_trust(&self, trust: Trust) {
        let mut cur = lock(&self.trust);
        if cur.ca_file != trust.ca_file {
            // Other roots: build the configuration again on the next https connection.
            *lock(&self.config) = None;
        }
        *cur = trust;
    }

    pub fn trust(&self) -> Trust {
        lock(&self.trust).clone()
    }

    pub fn take_refusal(&self) -> Option<Refusal> {
        lock(&self.refusal).take()
    }

    pub fn peek_refusal(&self) -> MutexGuard<'_, Option<Refusal>> {
        lock(&self.refusal)
    }

    pub fn accepted(&self) -> Option<Accepted> {
        lock(&self.accepted).clone()
    }

    /// `-v` lines gathered since the last call: which roots were loaded, how a certificate
    /// was accepted.
    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.notes))
    }

    fn note(&self, n: String) {
        lock(&self.notes).push(n);
    }

    /// The rustls configuration, built on first use: this is where the system roots load.
    pub fn client_config(self: &Arc<Self>) -> Result<Arc<ClientConfig>, Refusal> {
        let mut slot = lock(&self.config);
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        let ca_file = lock(&self.trust).ca_file.clone();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(native.certs);
        let mut note = format!("tls: loaded {added} system root certificates");
        if !native.errors.is_empty() {
            let errors: Vec<String> = native.errors.iter().map(|e| e.to_string()).collect();
            note.push_str(&format!(" ({})", errors.join("; ")));
        }
        self.note(note);
        if let Some(path) = &ca_file {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    Refusal::CaFile(format!(
                        "cannot read the certificate authority file {}: {}; give the PEM file of the CA that signed igord's certificate (--certificate-authority FILE, or set-context --certificate-authority FILE)",
                        path.display(),
                        pem_words(&e)
                    ))
                })?;
            let (ca_added, _) = roots.add_parsable_certificates(certs);
            if ca_added == 0 {
                return Err(Refusal::CaFile(format!(
                    "the certificate authority file {} holds no usable certificate",
                    path.display()
                )));
            }
            self.note(format!(
                "tls: trusting {ca_added} certificates of {}",
                path.display()
            ));
        }
        let webpki = if roots.is_empty() {
            None
        } else {
            let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| Refusal::CaFile(format!("cannot use the trusted roots: {e}")))?;
            Some(v)
        };
        let verifier = Arc::new(Verifier {
            shared: self.clone(),
            webpki,
            provider: provider.clone(),
        });
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Refusal::CaFile(format!("cannot set up TLS: {e}")))?
            .dangerous()
            // Not dangerous: `Verifier` validates like webpki and only adds pinning.
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let config = Arc::new(config);
        *slot = Some(config.clone());
        Ok(config)
    }
}

struct Verifier {
    shared: Arc<Shared>,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("igor::tls::Verifier")
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of_der(end_entity.as_ref());
        let pki = match &self.webpki {
            Some(v) => v
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(drop)
                .map_err(|e| in_words(&e)),
            None => Err("no trusted roots".to_owned()),
        };
        let trust = lock(&self.shared.trust).clone();
        match decide(pki, &presented, &trust) {
            Ok(how) => {
                self.shared.note(match &how {
                    Accepted::Pki => format!("tls: the certificate {presented} is valid"),
                    Accepted::Pinned(_) => format!("tls: the certificate {presented} is pinned"),
                });
                *lock(&self.shared.accepted) = Some(how);
                Ok(ServerCertVerified::assertion())
            }
            Err(refusal) => {
                let short = refusal.to_string();
                *lock(&self.shared.refusal) = Some(refusal);
                Err(rustls::Error::General(short))
            }
        }
    }

    // The handshake signatures prove the server holds the key of the certificate, pinned
    // or not: always checked, with the provider's algorithms.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Why webpki refused a chain, in words rather than rustls' Debug spelling.
fn in_words(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(c) = e else {
        return e.to_string();
    };
    match c {
        C::UnknownIssuer => "it is not signed by a trusted authority".to_owned(),
        C::Expired | C::ExpiredContext { .. } => "it has expired".to_owned(),
        C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet".to_owned(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "it is not issued for this host name".to_owned()
        }
        C::Revoked => "it is revoked".to_owned(),
        C::Other(o) if o.to_string().contains("CaUsedAsEndEntity") => {
            "it is a CA certificate, not a server's (self-signed?)".to_owned()
        }
        other => format!("{other:?}"),
    }
}

/// The TLS step of igor's ureq connector chain (after ureq's TCP connector).
pub struct TlsConnector {
    pub shared: Arc<Shared>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("igor::tls::TlsConnector")
    }
}

fn io_error(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ureq::Error {
    ureq::Error::Io(std::io::Error::other(e))
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Err(io_error("no TCP connection to wrap in TLS"));
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let config = self.shared.client_config().map_err(|r| {
            let msg = r.to_string();
            *lock(&self.shared.refusal) = Some(r);
            io_error(msg)
        })?;
        let host = details
            .uri
            .host()
            .ok_or_else(|| io_error("no host in the URL"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| io_error(format!("invalid server name '{host}': {e}")))?;
        let mut conn = ClientConnection::new(config, name).map_err(io_error)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned { conn, sock },
        })))
    }
}

pub struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("igor::tls::TlsTransport")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

/// The trust of a run: `--certificate-authority` beats the context's CA file;
/// `--trust-fingerprint` beats the stored pin.
pub fn trust_for(
    server: &str,
    ca_file: Option<PathBuf>,
    flag_pin: Option<&str>,
    known: &KnownServers,
) -> Result<Trust> {
    let flag = match flag_pin {
        Some(text) => match text.parse::<Fingerprint>() {
            Ok(f) => Some(f),
            Err(e) => bail!("--trust-fingerprint: {e}"),
        },
        None => None,
    };
    Ok(Trust {
        ca_file,
        pin_from_flag: flag.is_some(),
        pin: flag.or_else(|| known.servers.get(server).cloned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(c: char) -> Fingerprint {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .unwrap()
    }

    #[test]
    fn fingerprint_format() {
        // The same text as `sha256sum` of the DER and as igord prints.
        assert_eq!(
            Fingerprint::of_der(b"abc").as_str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let upper = "sha256:BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD";
        assert_eq!(
            upper.parse::<Fingerprint>().unwrap(),
            Fingerprint::of_der(b"abc")
        );
        for bad in ["ba78", "sha1:abc", "sha256:xyz", "sha256:abcd"] {
            assert!(bad.parse::<Fingerprint>().is_err(), "{bad}");
        }
    }

    #[test]
    fn decisions() {
        let (a, b) = (fp('a'), fp('b'));
        let bad = || Err("invalid peer certificate: UnknownIssuer".to_owned());
        let stored = |p: &Fingerprint| Trust {
            pin: Some(p.clone()),
            ..Trust::default()
        };
        let flag = |p: &Fingerprint| Trust {
            pin: Some(p.clone()),
            pin_from_flag: true,
            ..Trust::default()
        };
        // A valid chain needs no pin, whatever is stored.
        assert_eq!(decide(Ok(()), &a, &Trust::default()), Ok(Accepted::Pki));
        assert_eq!(decide(Ok(()), &a, &stored(&b)), Ok(Accepted::Pki));
        // Unknown: refused, with the presented fingerprint.
        let r = decide(bad(), &a, &Trust::default()).unwrap_err();
        assert!(matches!(&r, Refusal::Unknown { presented, .. } if *presented == a));
        let msg = r.to_string();
        assert!(
            msg.contains(&format!("--trust-fingerprint {a}")) && msg.contains("igor login"),
            "{msg}"
        );
        // Pinned and unchanged.
        assert_eq!(
            decide(bad(), &a, &stored(&a)),
            Ok(Accepted::Pinned(a.clone()))
        );
        assert_eq!(
            decide(bad(), &a, &flag(&a)),
            Ok(Accepted::Pinned(a.clone()))
        );
        // Pinned and changed: loud, naming both.
        let msg = decide(bad(), &b, &stored(&a)).unwrap_err().to_string();
        assert!(msg.contains("HAS CHANGED"), "{msg}");
        assert!(
            msg.contains(a.as_str()) && msg.contains(b.as_str()),
            "{msg}"
        );
        // A flag naming another certificate than the server's.
        let r = decide(bad(), &b, &flag(&a)).unwrap_err();
        assert_eq!(
            r,
            Refusal::NotTheGiven {
                given: a,
                presented: b
            }
        );
    }

    #[test]
    fn pins_file_is_private_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg").join("known_servers.toml");
        assert_eq!(KnownServers::load(&path).unwrap(), KnownServers::default());
        KnownServers::pin(&path, "https://h:1", &fp('a')).unwrap();
        KnownServers::pin(&path, "https://g:1", &fp('c')).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let known = KnownServers::load(&path).unwrap();
        assert_eq!(known.servers.get("https://h:1"), Some(&fp('a')));
        let t = trust_for("https://h:1", None, None, &known).unwrap();
        assert_eq!((t.pin, t.pin_from_flag), (Some(fp('a')), false));
        let b = fp('b').to_string();
        let t = trust_for("https://h:1", None, Some(&b), &known).unwrap();
        assert_eq!((t.pin, t.pin_from_flag), (Some(fp('b')), true));
        assert!(trust_for("https://h:1", None, Some("md5:x"), &known).is_err());
    }

    #[test]
    fn roots_load_on_first_https_connection_only() {
        let shared = Arc::new(Shared::default());
        // Nothing was built or loaded by making one.
        assert!(lock(&shared.config).is_none() && shared.take_notes().is_empty());
        shared.client_config().unwrap();
        let notes = shared.take_notes();
        assert!(
            notes.iter().any(|n| n.contains("system root certificates")),
            "{notes:?}"
        );
        // Built once per trust: the second connection loads nothing.
        shared.client_config().unwrap();
        assert!(shared.take_notes().is_empty());
    }
}
