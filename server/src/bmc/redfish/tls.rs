//! TLS to a Redfish BMC. BMCs ship self-signed certificates, so igord trusts one of two
//! ways, and never silently: the certificate's SHA-256 fingerprint pinned when the machine
//! was added (trust on first use, shown to the admin), or a CA the admin gave. A changed
//! certificate fails every call, naming both fingerprints, until an admin re-pins.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

/// `sha256:` and 64 lowercase hex digits over the certificate's DER.
pub fn fingerprint(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

/// How a BMC's certificate is trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Exactly this certificate (`sha256:HEX`).
    Pinned(String),
    /// Any certificate for the BMC's name that chains to this CA (PEM).
    Ca(String),
}

/// What the verifier saw: the presented certificate's fingerprint, kept so that a refusal
/// can name it and a first contact can pin it.
#[derive(Default, Debug)]
pub struct Seen(Mutex<Option<String>>);

impl Seen {
    pub fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|g| g.clone())
    }
    fn set(&self, fp: String) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(fp);
        }
    }
}

#[derive(Debug)]
enum Check {
    Pinned(String),
    Ca(Arc<WebPkiServerVerifier>),
    /// First contact (`probe_config`): accept and record, for an answer that carries no
    /// secret (the service root is public) and whose fingerprint the admin is shown.
    Record,
}

#[derive(Debug)]
struct Verifier {
    check: Check,
    seen: Arc<Seen>,
    provider: Arc<CryptoProvider>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = fingerprint(end_entity.as_ref());
        self.seen.set(presented.clone());
        match &self.check {
            Check::Record => Ok(ServerCertVerified::assertion()),
            Check::Pinned(pin) if *pin == presented => Ok(ServerCertVerified::assertion()),
            Check::Pinned(pin) => Err(rustls::Error::General(format!(
                "the BMC's certificate changed: pinned {pin}, presented {presented}"
            ))),
            Check::Ca(v) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now),
        }
    }

    // The handshake signature proves the server holds the certificate's key, pinned or not.
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

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn config(check: Check, seen: Arc<Seen>) -> Result<ClientConfig, String> {
    let provider = provider();
    let verifier = Verifier {
        check,
        seen,
        provider: provider.clone(),
    };
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// The TLS configuration for calls to a BMC trusted as `trust`.
pub fn client_config(trust: &Trust, seen: Arc<Seen>) -> Result<ClientConfig, String> {
    let check = match trust {
        Trust::Pinned(pin) => Check::Pinned(pin.clone()),
        Trust::Ca(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| format!("the BMC CA is not PEM: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("the BMC CA cannot be used: {e}"))?;
            }
            if roots.is_empty() {
                return Err("the BMC CA holds no certificate".to_owned());
            }
            let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| format!("the BMC CA cannot be used: {e}"))?;
            Check::Ca(v)
        }
    };
    config(check, seen)
}

/// For a first contact: accepts any certificate and records its fingerprint in `seen`.
/// Only for requests that carry no credentials.
pub fn probe_config(seen: Arc<Seen>) -> Result<ClientConfig, String> {
    config(Check::Record, seen)
}
