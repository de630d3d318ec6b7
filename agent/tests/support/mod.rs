//! Shared by the `outputs_*` tests: alerts, a real HTTP(S) receiver on
//! loopback (hyper server in the test process), and config helpers.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failure should fail the test"
)]

use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use saker::alert::{Alert, FieldOutput, Priority};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A distinct alert; `evt.num` = `seq` lets receivers check order and
/// duplicates.
pub fn alert(seq: u64) -> Alert {
    let time_ns = 1_700_000_000_000_000_000 + seq as i64;
    Alert {
        time_ns,
        rule: Arc::from("Read sensitive file untrusted"),
        priority: Priority::Warning,
        source: Arc::from("syscall"),
        tags: Arc::from(vec![
            Arc::from("filesystem"),
            Arc::from("mitre_credential_access"),
        ]),
        hostname: Arc::from("node-1"),
        output: format!(
            "{}: Warning Sensitive file opened for reading (file=/etc/shadow seq={seq})",
            saker::alert::format_clock_nanos(time_ns)
        ),
        output_fields: vec![
            (Arc::from("evt.num"), FieldOutput::U64(seq)),
            (Arc::from("fd.name"), FieldOutput::Str("/etc/shadow".into())),
            (Arc::from("proc.name"), FieldOutput::Str("cat".into())),
            (Arc::from("user.uid"), FieldOutput::U64(0)),
        ],
    }
}

/// One request as the receiver saw it (body gunzipped if it was gzip).
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub user_agent: Option<String>,
    pub authorization: Option<String>,
    pub body: Bytes,
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn seq(&self) -> u64 {
        self.json()["output_fields"]["evt.num"].as_u64().unwrap()
    }
}

/// How the receiver answers request number `n` (0-based).
pub type Behaviour = Arc<dyn Fn(usize, &Received) -> (StatusCode, Duration) + Send + Sync>;

pub fn always_ok() -> Behaviour {
    Arc::new(|_, _| (StatusCode::OK, Duration::ZERO))
}

#[derive(Clone, Default)]
pub struct Log {
    pub requests: Arc<Mutex<Vec<Received>>>,
    pub count: Arc<AtomicUsize>,
}

impl Log {
    pub fn all(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// Requests answered 2xx: alerts delivered.
    pub fn accepted(&self) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    pub async fn wait_accepted(&self, n: usize, limit: Duration) -> Vec<Received> {
        let until = tokio::time::Instant::now() + limit;
        loop {
            let got = self.accepted();
            if got.len() >= n || tokio::time::Instant::now() >= until {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub log: Log,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    req: Request<Incoming>,
    n: usize,
    behaviour: Behaviour,
    log: Log,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: hyper::header::HeaderName| {
        req.headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_string())
    };
    let mut r = Received {
        method: req.method().to_string(),
        content_type: header(hyper::header::CONTENT_TYPE),
        content_encoding: header(hyper::header::CONTENT_ENCODING),
        user_agent: header(hyper::header::USER_AGENT),
        authorization: header(hyper::header::AUTHORIZATION),
        body: Bytes::new(),
        status: 0,
    };
    let raw = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    r.body = if r.content_encoding.as_deref() == Some("gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        Bytes::from(out)
    } else {
        raw
    };
    let (status, delay) = behaviour(n, &r);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    r.status = status.as_u16();
    log.requests.lock().unwrap().push(r);
    let mut resp = Response::new(Full::new(Bytes::from_static(b"{}")));
    *resp.status_mut() = status;
    Ok(resp)
}

/// Serves connections from `listener` (plain, or TLS with `tls`).
pub fn serve(
    listener: TcpListener,
    behaviour: Behaviour,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> Receiver {
    let addr = listener.local_addr().unwrap();
    let log = Log::default();
    let log2 = log.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let behaviour = behaviour.clone();
            let log = log2.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let n = log.count.fetch_add(1, Ordering::SeqCst);
                    handle(req, n, behaviour.clone(), log.clone())
                });
                match tls {
                    Some(acceptor) => {
                        // A refused handshake (wrong CA, no client cert)
                        // just ends the connection.
                        if let Ok(s) = acceptor.accept(stream).await {
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(s), svc)
                                .await;
                        }
                    }
                    None => {
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    }
                }
            });
        }
    });
    Receiver { addr, log, task }
}

pub async fn start_receiver(behaviour: Behaviour) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve(listener, behaviour, None)
}

/// A loopback port that refuses connections: bound (so no other test can
/// take it) but not listening.
pub struct ClosedPort {
    pub addr: SocketAddr,
    socket: tokio::net::TcpSocket,
}

impl ClosedPort {
    /// Starts listening on the port: the receiver comes back.
    pub fn open(self) -> TcpListener {
        self.socket.listen(1024).unwrap()
    }
}

pub fn closed_port() -> ClosedPort {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    ClosedPort { addr, socket }
}

/// Config with only `http_output` on, JSON, quick retries.
pub fn http_config(url: &str) -> saker::output::OutputsConfig {
    let yaml = format!(
        r#"
json_output: true
stdout_output: {{enabled: false}}
http_output:
  enabled: true
  url: "{url}"
  retry: {{initial_backoff_ms: 10, max_backoff_ms: 200}}
"#
    );
    serde_yaml::from_str(&yaml).unwrap()
}

/// falcosidekick's input rules (handlers.go `mainHandler` and
/// types.go `FalcoPayload.Check`): POST with a body that decodes as a Falco
/// payload, a known priority, a non-empty rule, a non-zero time and
/// non-empty output_fields.
pub fn falcosidekick_accepts(r: &Received) -> Result<(), String> {
    if r.method != "POST" {
        return Err(format!("method {}", r.method));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&r.body).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let priority = obj
        .get("priority")
        .and_then(|p| p.as_str())
        .ok_or("no priority")?;
    const KNOWN: [&str; 9] = [
        "emergency",
        "alert",
        "critical",
        "error",
        "warning",
        "notice",
        "informational",
        "info",
        "debug",
    ];
    if !KNOWN.contains(&priority.to_ascii_lowercase().as_str()) {
        return Err(format!("unknown priority {priority:?}"));
    }
    match obj.get("rule").and_then(|r| r.as_str()) {
        Some(r) if !r.is_empty() => {}
        _ => return Err("empty rule".into()),
    }
    let time = obj.get("time").and_then(|t| t.as_str()).ok_or("no time")?;
    check_rfc3339_non_zero(time)?;
    match obj.get("output_fields").and_then(|f| f.as_object()) {
        Some(f) if !f.is_empty() => {}
        _ => return Err("empty output_fields".into()),
    }
    for (key, want) in [
        ("output", "string"),
        ("source", "string"),
        ("hostname", "string"),
    ] {
        if let Some(x) = obj.get(key)
            && !x.is_string()
        {
            return Err(format!("{key} is not a {want}"));
        }
    }
    if let Some(t) = obj.get("tags")
        && !t
            .as_array()
            .is_some_and(|a| a.iter().all(|x| x.is_string()))
    {
        return Err("tags is not a list of strings".into());
    }
    Ok(())
}

/// Go's `time.Time` JSON decoding takes RFC 3339 (fraction optional);
/// its zero value is year 1.
fn check_rfc3339_non_zero(t: &str) -> Result<(), String> {
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let ok = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !ok {
        return Err(format!("time {t:?} is not RFC 3339"));
    }
    let rest = &t[19..];
    let rest = match rest.strip_prefix('.') {
        Some(frac) => {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 || n > 9 {
                return Err(format!("time {t:?}: bad fraction"));
            }
            &frac[n..]
        }
        None => rest,
    };
    if rest != "Z" && !(rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-'))) {
        return Err(format!("time {t:?}: bad zone"));
    }
    if t.starts_with("0001-01-01T00:00:00") {
        return Err("zero time".into());
    }
    Ok(())
}
