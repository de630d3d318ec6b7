//! http_output over HTTPS to a loopback TLS receiver, with a CA and client
//! certificates generated in the test (rcgen).
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure should fail the test"
)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use saker::output::{OutputKind, Outputs, OutputsConfig};
use support::*;
use tokio::net::TcpListener;

struct Ca {
    cert: CertificateDer<'static>,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        cert: cert.der().clone(),
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A leaf certificate signed by `ca`: `(cert PEM, key PEM, cert DER, key DER)`.
fn leaf(
    ca: &Ca,
    names: &[&str],
) -> (
    String,
    String,
    CertificateDer<'static>,
    PrivateKeyDer<'static>,
) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params.distinguished_name.push(DnType::CommonName, "leaf");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let der_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.pem(), key.serialize_pem(), cert.der().clone(), der_key)
}

/// A TLS receiver on 127.0.0.1 whose certificate is signed by `ca` and which
/// requires a client certificate signed by `ca`.
async fn tls_receiver(ca: &Ca) -> Receiver {
    let (_, _, cert, key) = leaf(ca, &["127.0.0.1", "localhost"]);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert.clone()).unwrap();
    let client_verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .unwrap();
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(vec![cert], key)
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve(
        listener,
        always_ok(),
        Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// https config trusting `trusted`'s CA, with a client certificate signed by
/// `client_ca` (when given).
fn https_config(dir: &Path, rx: &Receiver, trusted: &Ca, client_ca: Option<&Ca>) -> OutputsConfig {
    let mut cfg = http_config(&format!("https://127.0.0.1:{}/", rx.addr.port()));
    cfg.http_output.ca_cert = write(dir, "ca.pem", &trusted.pem);
    cfg.http_output.ca_path = dir.join("no-such-dir");
    cfg.http_output.retry.max_attempts = 2;
    if let Some(client_ca) = client_ca {
        let (cert, key, _, _) = leaf(client_ca, &["saker-agent"]);
        cfg.http_output.mtls = true;
        cfg.http_output.client_cert = write(dir, "client.crt", &cert);
        cfg.http_output.client_key = write(dir, "client.key", &key);
    }
    cfg
}

async fn run(cfg: &OutputsConfig, n: u64, rx: &Receiver) -> saker::output::OutputStatsSnapshot {
    let outputs =
        Outputs::start(&cfg.validate().unwrap(), &tokio::runtime::Handle::current()).unwrap();
    for seq in 0..n {
        outputs.send(alert(seq));
    }
    let stats = Arc::clone(outputs.stats_of(OutputKind::Http).unwrap());
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = stats.snapshot();
        if s.sent + s.dropped() >= n || tokio::time::Instant::now() >= until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    outputs
        .shutdown(tokio::time::Instant::now() + Duration::from_secs(2))
        .await;
    let _ = rx;
    stats.snapshot()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_custom_ca_and_client_certificate_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca("saker test CA");
    let rx = tls_receiver(&ca).await;
    let s = run(&https_config(dir.path(), &rx, &ca, Some(&ca)), 5, &rx).await;
    assert_eq!((s.sent, s.failed, s.dropped()), (5, 0, 0), "{s:?}");
    let got: Vec<u64> = rx.log.accepted().iter().map(Received::seq).collect();
    assert_eq!(got, vec![0, 1, 2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_from_another_ca_is_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let ca_server = ca("server CA");
    let ca_other = ca("some other CA");
    let rx = tls_receiver(&ca_server).await;
    let s = run(
        &https_config(dir.path(), &rx, &ca_other, Some(&ca_server)),
        1,
        &rx,
    )
    .await;
    assert_eq!(
        (s.sent, s.failed, s.retried, s.dropped_undeliverable),
        (0, 2, 1, 1),
        "{s:?}"
    );
    assert!(
        rx.log.all().is_empty(),
        "nothing may reach an unverified server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_client_certificate_the_mtls_server_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca("saker test CA");
    let rx = tls_receiver(&ca).await;
    let s = run(&https_config(dir.path(), &rx, &ca, None), 1, &rx).await;
    assert_eq!((s.sent, s.dropped_undeliverable), (0, 1), "{s:?}");
    assert!(rx.log.all().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_skips_server_verification() {
    let dir = tempfile::tempdir().unwrap();
    let ca_server = ca("server CA");
    let ca_other = ca("some other CA");
    let rx = tls_receiver(&ca_server).await;
    let mut cfg = https_config(dir.path(), &rx, &ca_other, Some(&ca_server));
    cfg.http_output.insecure = true;
    let s = run(&cfg, 1, &rx).await;
    assert_eq!((s.sent, s.failed), (1, 0), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_certificate_files_fail_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = http_config("https://127.0.0.1:1/");
    cfg.http_output.ca_cert = dir.path().join("missing.pem");
    let err =
        Outputs::start(&cfg.validate().unwrap(), &tokio::runtime::Handle::current()).unwrap_err();
    assert!(
        err.to_string().starts_with("http_output.ca_cert: "),
        "{err}"
    );

    let mut cfg = http_config("https://127.0.0.1:1/");
    cfg.http_output.mtls = true;
    cfg.http_output.client_cert = write(dir.path(), "bad.crt", "not a certificate");
    let err =
        Outputs::start(&cfg.validate().unwrap(), &tokio::runtime::Handle::current()).unwrap_err();
    assert!(
        err.to_string().starts_with("http_output.client_cert: "),
        "{err}"
    );
}
