//! `http_output`: each alert POSTed to a URL (falcosidekick's `/` accepts
//! Falco's JSON alert), over a pooled keep-alive connection, HTTP or HTTPS.

use std::error::Error as _;
use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::OutputError;
use super::config::{Format, HttpSettings};
use super::tls;
use super::worker::{DeliveryError, Sink};

pub(crate) struct HttpSink {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    url: Uri,
    headers: HeaderMap,
    gzip: bool,
    timeout: Duration,
    echo: bool,
}

impl std::fmt::Debug for HttpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSink")
            .field("url", &self.url)
            .field("gzip", &self.gzip)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn setup(key: &str, reason: impl std::fmt::Display) -> OutputError {
    OutputError::Setup {
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

/// hyper's errors say little at the top ("client error (Connect)"); the
/// cause (refused, certificate unknown, ...) is in the source chain.
fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

impl HttpSink {
    pub(crate) fn new(s: &HttpSettings, format: Format) -> Result<Self, OutputError> {
        let tls = tls::client_config(s)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(s.connect_timeout));
        http.set_nodelay(true);
        if s.tcp_keepalive {
            http.set_keepalive(Some(Duration::from_secs(60)));
        }
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1)
            .build(https);

        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_str(&s.user_agent).map_err(|e| setup("http_output.user_agent", e))?,
        );
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        if s.gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        for (name, value) in &s.headers {
            headers.insert(name.clone(), value.clone());
        }
        Ok(Self {
            client,
            url: s.url.clone(),
            headers,
            gzip: s.gzip,
            timeout: s.timeout,
            echo: s.echo,
        })
    }

    fn body(&self, payload: &[u8]) -> Result<Bytes, DeliveryError> {
        if !self.gzip {
            return Ok(Bytes::copy_from_slice(payload));
        }
        let mut enc = GzEncoder::new(
            Vec::with_capacity(payload.len() / 2 + 64),
            Compression::fast(),
        );
        enc.write_all(payload)?;
        Ok(Bytes::from(enc.finish()?))
    }

    async fn post(&self, payload: &[u8]) -> Result<(), DeliveryError> {
        let mut req = Request::new(Full::new(self.body(payload)?));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.url.clone();
        *req.headers_mut() = self.headers.clone();
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| DeliveryError::Transport(describe(&e)))?;
        let status = resp.status();
        // Read the answer to the end so the connection can be reused.
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| DeliveryError::Transport(e.to_string()))?
            .to_bytes();
        if self.echo {
            log::info!(
                "output http: {} answered {status}: {}",
                self.url,
                String::from_utf8_lossy(&body)
            );
        }
        if status.is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Status(status.as_u16()))
        }
    }
}

impl Sink for HttpSink {
    async fn deliver(&mut self, payload: &[u8]) -> Result<(), DeliveryError> {
        match tokio::time::timeout(self.timeout, self.post(payload)).await {
            Ok(r) => r,
            Err(_) => Err(DeliveryError::Timeout(self.timeout)),
        }
    }

    async fn flush(&mut self) -> Result<(), DeliveryError> {
        Ok(())
    }

    async fn reopen(&mut self) {}

    async fn close(&mut self) {}
}
