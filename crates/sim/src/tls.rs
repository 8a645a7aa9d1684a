//! `--tls`: every listener served over HTTPS with a certificate generated at start.
//!
//! A fresh CA (self-signed, `cloudphone-sim local CA`) signs one server certificate for
//! `localhost`, `127.0.0.1`, `::1` and the bind address. The CA certificate (PEM) is written to
//! a file ([`crate::SimConfig::tls_ca_file`], or `cloudphone-sim-<pid>-<n>/ca.pem` in the
//! temporary directory); the banner prints its path and every provider table of
//! [`crate::Simulator::client_config`] carries `ca_file = "<path>"`, which the clients add to
//! their trusted roots (verification stays on).

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The generated certificate of a TLS simulator.
#[derive(Clone)]
pub(crate) struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) ca_file: PathBuf,
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("cloudphone-sim TLS: {e}"))
}

/// Generates the CA and server certificate and writes the CA to `ca_file` (or a fresh
/// temporary file).
pub(crate) fn generate(bind: IpAddr, ca_file: Option<&Path>) -> io::Result<Tls> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

    let ca_key = KeyPair::generate().map_err(other)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "cloudphone-sim local CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).map_err(other)?;

    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if !bind.is_unspecified() && !names.contains(&bind.to_string()) {
        names.push(bind.to_string());
    }
    let key = KeyPair::generate().map_err(other)?;
    let mut params = CertificateParams::new(names).map_err(other)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "cloudphone-sim");
    let cert = params.signed_by(&key, &ca, &ca_key).map_err(other)?;

    let path = match ca_file {
        Some(p) => p.to_path_buf(),
        None => {
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "cloudphone-sim-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir)?;
            dir.join("ca.pem")
        }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, ca.pem())?;

    let chain = vec![cert.der().clone(), CertificateDer::from(ca.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(other)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_file: path,
    })
}

/// Serves `app` over TLS until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    acceptor: TlsAcceptor,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            r = shutdown.wait_for(|v| *v) => {
                drop(r);
                break;
            }
            a = listener.accept() => a,
        };
        let Ok((tcp, _)) = accepted else { continue };
        // No Nagle, as on plain HTTP (see `spawn_server`).
        let _ = tcp.set_nodelay(true);
        let (acceptor, app, mut stop) = (acceptor.clone(), app.clone(), shutdown.clone());
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(conn);
            let stopped = async move {
                let _ = stop.wait_for(|v| *v).await;
            };
            tokio::select! {
                _ = conn.as_mut() => return,
                () = stopped => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        });
    }
}
