//! Hello-world on actix-web: `GET /` answers a short text. Same worker count as igord
//! (actix's default: one worker per physical core).
//!
//!   bench-hello ADDR                 plain HTTP
//!   bench-hello ADDR CERT.pem KEY.pem  HTTPS with rustls on ring, configured as igord's
//!                                    (safe default versions, ALPN http/1.1)

use std::sync::Arc;

use actix_web::{App, HttpServer, Responder, get};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[get("/")]
async fn hello() -> impl Responder {
    "Hello world!"
}

fn tls_config(cert: &str, key: &str) -> std::io::Result<rustls::ServerConfig> {
    let bad = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(&e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| bad(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.first().cloned().unwrap_or_else(|| "127.0.0.1:8080".into());
    let server = HttpServer::new(|| App::new().service(hello));
    let server = match (args.get(1), args.get(2)) {
        (Some(cert), Some(key)) => {
            let server = server.bind_rustls_0_23(&addr, tls_config(cert, key)?)?;
            eprintln!("hello: listening on https://{addr}");
            server
        }
        _ => {
            let server = server.bind(&addr)?;
            eprintln!("hello: listening on http://{addr}");
            server
        }
    };
    server.run().await
}
