//! The rustls client configuration of `http_output`, from Falco's keys:
//! `ca_cert`/`ca_bundle` (curl's CAINFO), `ca_path` (CAPATH), `mtls` with
//! `client_cert`/`client_key`, and `insecure`.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use super::OutputError;
use super::config::HttpSettings;

fn setup(key: &str, reason: impl std::fmt::Display) -> OutputError {
    OutputError::Setup {
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

fn read_certs(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, OutputError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| setup(key, format!("{}: {e}", path.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| setup(key, format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(setup(
            key,
            format!("{}: no PEM certificate in it", path.display()),
        ));
    }
    Ok(certs)
}

/// Trust anchors: what `ca_cert`, `ca_bundle` and `ca_path` hold; when they
/// hold nothing, the system's store (as curl falls back to its default bundle).
fn roots(s: &HttpSettings) -> Result<RootCertStore, OutputError> {
    let mut store = RootCertStore::empty();
    for (key, path) in [
        ("http_output.ca_cert", &s.ca_cert),
        ("http_output.ca_bundle", &s.ca_bundle),
    ] {
        if let Some(path) = path {
            let (added, _) = store.add_parsable_certificates(read_certs(key, path)?);
            if added == 0 {
                return Err(setup(
                    key,
                    format!("{}: no usable CA certificate", path.display()),
                ));
            }
        }
    }
    if let Some(dir) = &s.ca_path {
        match fs::read_dir(dir) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    // Directories like /etc/ssl/certs mix PEM files, hash
                    // links and other files: take what parses.
                    if let Ok(iter) = CertificateDer::pem_file_iter(entry.path()) {
                        store.add_parsable_certificates(iter.flatten());
                    }
                }
            }
            Err(e) => log::debug!(
                "http_output.ca_path: {} not read ({e}); skipped",
                dir.display()
            ),
        }
    }
    if store.is_empty() {
        let native = rustls_native_certs::load_native_certs();
        store.add_parsable_certificates(native.certs);
    }
    if store.is_empty() && s.url.scheme_str() == Some("https") {
        return Err(setup(
            "http_output.ca_cert",
            "no CA certificate found (ca_cert, ca_bundle, ca_path, system store)",
        ));
    }
    Ok(store)
}

pub(crate) fn client_config(s: &HttpSettings) -> Result<ClientConfig, OutputError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| setup("http_output", e))?;
    let builder = if s.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)))
    } else {
        builder.with_root_certificates(roots(s)?)
    };
    match &s.client_auth {
        Some((cert, key)) => {
            let chain = read_certs("http_output.client_cert", cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| setup("http_output.client_key", format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| setup("http_output.client_key", e))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// `insecure: true`: any server certificate is accepted (curl's
/// VERIFYPEER=0), but the handshake signatures are still checked.
#[derive(Debug)]
struct AnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
