//! The embedded web server (Falco's `webserver` keys): `/metrics`
//! (OpenMetrics text), the health endpoint (`/healthz` by default: the
//! process is alive) and `/readyz` (rules loaded, probes attached, ring buffer
//! read in the last 5 seconds). Optional TLS with a PEM file holding the
//! certificate chain and the private key, as Falco's `ssl_certificate`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::config::WebserverSettings;
use crate::metrics::Metrics;

/// The web server could not start. The message names no key (callers
/// locate the value with [`WebserverError::key`]); [`WebserverError::hint`]
/// says what to do.
#[derive(Debug, thiserror::Error)]
pub enum WebserverError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Tls { path: String, reason: String },
}

impl WebserverError {
    /// The configuration key whose value failed.
    pub fn key(&self) -> &'static str {
        match self {
            WebserverError::Bind { source, .. }
                if source.kind() == std::io::ErrorKind::AddrNotAvailable =>
            {
                "webserver.listen_address"
            }
            WebserverError::Bind { .. } => "webserver.listen_port",
            WebserverError::Tls { .. } => "webserver.ssl_certificate",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            WebserverError::Bind { addr, source } => match source.kind() {
                std::io::ErrorKind::AddrInUse => Some(format!(
                    "another process listens on port {port}: is another Saker or Falco agent running on this host? \
                     Stop it, or give this one another port (-o webserver.listen_port={next}), \
                     or turn the web server off (-o webserver.enabled=false)",
                    port = addr.port(),
                    next = addr.port().wrapping_add(1).max(1024),
                )),
                std::io::ErrorKind::PermissionDenied => Some(
                    "ports below 1024 need CAP_NET_BIND_SERVICE: choose a port above 1023 with webserver.listen_port"
                        .into(),
                ),
                std::io::ErrorKind::AddrNotAvailable => Some(format!(
                    "{} is not an address of this host: use 0.0.0.0 (every address) or one of the host's",
                    addr.ip()
                )),
                _ => None,
            },
            WebserverError::Tls { .. } => Some(
                "with webserver.ssl_enabled, webserver.ssl_certificate is one PEM file holding the certificate chain and its private key"
                    .into(),
            ),
        }
    }
}

/// Loads the TLS certificate and key as [`start`] would, without serving.
pub fn check_certificate(pem: &Path) -> Result<(), WebserverError> {
    tls_acceptor(pem).map(drop)
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

async fn handle(
    req: Request<Incoming>,
    metrics: Arc<Metrics>,
    settings: Arc<WebserverSettings>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n"));
    }
    let path = req.uri().path();
    let resp = if path == settings.healthz_path || path == "/healthz" {
        text(StatusCode::OK, "{\"status\": \"ok\"}\n")
    } else if path == "/readyz" {
        match metrics.health.not_ready_reason() {
            None => text(StatusCode::OK, "ready\n"),
            Some(why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {why}\n"),
            ),
        }
    } else if path == "/metrics" && settings.prometheus_metrics {
        match metrics.encode_text() {
            Ok(body) => {
                let mut r = text(StatusCode::OK, body);
                if let Ok(v) = hyper::header::HeaderValue::from_str(OPENMETRICS) {
                    r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
                }
                r
            }
            Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n"),
        }
    } else {
        text(StatusCode::NOT_FOUND, "not found\n")
    };
    Ok(resp)
}

fn tls_acceptor(pem: &Path) -> Result<tokio_rustls::TlsAcceptor, WebserverError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let err = |reason: String| WebserverError::Tls {
        path: pem.display().to_string(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pem)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(pem).map_err(|e| err(format!("private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| err(e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Binds and serves in the background; returns the bound address.
pub async fn start(
    settings: WebserverSettings,
    metrics: Arc<Metrics>,
) -> Result<SocketAddr, WebserverError> {
    let tls = match &settings.tls_pem {
        Some(pem) => Some(tls_acceptor(pem)?),
        None => None,
    };
    let listener =
        TcpListener::bind(settings.addr)
            .await
            .map_err(|source| WebserverError::Bind {
                addr: settings.addr,
                source,
            })?;
    let addr = listener
        .local_addr()
        .map_err(|source| WebserverError::Bind {
            addr: settings.addr,
            source,
        })?;
    let settings = Arc::new(settings);
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    log::warn!("webserver: accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let metrics = metrics.clone();
            let settings = settings.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| handle(req, metrics.clone(), settings.clone()));
                let builder = hyper::server::conn::http1::Builder::new();
                let result = match tls {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(s) => builder.serve_connection(TokioIo::new(s), svc).await,
                        Err(e) => {
                            log::debug!("webserver: TLS handshake: {e}");
                            return;
                        }
                    },
                    None => builder.serve_connection(TokioIo::new(stream), svc).await,
                };
                if let Err(e) = result {
                    log::debug!("webserver: connection: {e}");
                }
            });
        }
    });
    Ok(addr)
}
