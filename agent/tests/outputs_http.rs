//! http_output against real HTTP receivers on loopback.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure should fail the test"
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use saker::output::{OutputKind, Outputs};
use support::*;

fn start(cfg: &saker::output::OutputsConfig) -> Outputs {
    Outputs::start(&cfg.validate().unwrap(), &tokio::runtime::Handle::current()).unwrap()
}

fn soon() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(5)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_is_accepted_by_a_falcosidekick_shaped_receiver() {
    let rx = start_receiver(Arc::new(|_, r: &Received| match falcosidekick_accepts(r) {
        Ok(()) => (StatusCode::OK, Duration::ZERO),
        Err(_) => (StatusCode::BAD_REQUEST, Duration::ZERO),
    }))
    .await;
    let mut cfg = http_config(&format!("http://{}/", rx.addr));
    cfg.http_output
        .headers
        .insert("Authorization".into(), "Bearer s3cret".into());
    cfg.http_output.compress_uploads = true;
    let outputs = start(&cfg);
    for seq in 0..3 {
        outputs.send(alert(seq));
    }
    let got = rx.log.wait_accepted(3, Duration::from_secs(10)).await;
    outputs.shutdown(soon()).await;

    assert_eq!(got.len(), 3, "{:?}", rx.log.all());
    for r in &got {
        falcosidekick_accepts(r).unwrap();
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(r.content_encoding.as_deref(), Some("gzip"));
        assert_eq!(r.user_agent.as_deref(), Some("falcosecurity/falco"));
        assert_eq!(r.authorization.as_deref(), Some("Bearer s3cret"));
        let v = r.json();
        assert_eq!(
            v["time"],
            "2023-11-14T22:13:20.000000000Z".replace("000000000Z", &format!("{:09}Z", r.seq()))
        );
        assert_eq!(v["hostname"], "node-1");
        assert_eq!(v["source"], "syscall");
        assert!(v["output"].as_str().unwrap().contains("Sensitive file"));
    }
    let s = outputs.stats_of(OutputKind::Http).unwrap().snapshot();
    assert_eq!((s.sent, s.failed, s.dropped()), (3, 0, 0));
}

/// Credentials from a mounted Secret (`http_output.headers_file`) reach the
/// receiver; nothing of them is in the configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_from_a_mounted_secret_reaches_the_receiver() {
    let rx = start_receiver(Arc::new(|_, r: &Received| {
        if r.authorization.as_deref() == Some("Bearer from-secret") {
            (StatusCode::OK, Duration::ZERO)
        } else {
            (StatusCode::UNAUTHORIZED, Duration::ZERO)
        }
    }))
    .await;
    let secret = tempfile::tempdir().unwrap();
    std::fs::write(secret.path().join("Authorization"), "Bearer from-secret\n").unwrap();
    let mut cfg = http_config(&format!("http://{}/", rx.addr));
    cfg.http_output.headers_file = secret.path().to_path_buf();
    let outputs = start(&cfg);
    outputs.send(alert(1));
    let got = rx.log.wait_accepted(1, Duration::from_secs(10)).await;
    outputs.shutdown(soon()).await;
    assert_eq!(got.len(), 1, "{:?}", rx.log.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_output_is_rejected_by_falcosidekick_and_counted_undeliverable() {
    // Falco needs json_output for falcosidekick; with text, the receiver
    // answers 400, which is permanent: no retry storm, one counted drop.
    let rx = start_receiver(Arc::new(|_, r: &Received| match falcosidekick_accepts(r) {
        Ok(()) => (StatusCode::OK, Duration::ZERO),
        Err(_) => (StatusCode::BAD_REQUEST, Duration::ZERO),
    }))
    .await;
    let mut cfg = http_config(&format!("http://{}/", rx.addr));
    cfg.json_output = false;
    let outputs = start(&cfg);
    outputs.send(alert(1));
    let stats = Arc::clone(outputs.stats_of(OutputKind::Http).unwrap());
    let until = Instant::now() + Duration::from_secs(10);
    while stats.dropped_undeliverable.load(Ordering::Relaxed) == 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    outputs.shutdown(soon()).await;
    let s = stats.snapshot();
    assert_eq!(
        (s.sent, s.failed, s.retried, s.dropped_undeliverable),
        (0, 1, 0, 1)
    );
    let all = rx.log.all();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].content_type.as_deref(), Some("text/plain"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_500s_then_200_delivers_the_alert_once() {
    let rx = start_receiver(Arc::new(|n, _: &Received| {
        if n < 3 {
            (StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO)
        } else {
            (StatusCode::OK, Duration::ZERO)
        }
    }))
    .await;
    let outputs = start(&http_config(&format!("http://{}/", rx.addr)));
    outputs.send(alert(42));
    let got = rx.log.wait_accepted(1, Duration::from_secs(10)).await;
    outputs.shutdown(soon()).await;

    assert_eq!(got.len(), 1);
    assert_eq!(got[0].seq(), 42);
    let all = rx.log.all();
    assert_eq!(all.len(), 4, "three refused attempts and one accepted");
    assert!(all.iter().all(|r| r.seq() == 42));
    let s = outputs.stats_of(OutputKind::Http).unwrap().snapshot();
    assert_eq!((s.sent, s.failed, s.retried, s.dropped()), (1, 3, 3, 0));
}

/// Sends `n` alerts from a plain thread (the rule engine is synchronous) and
/// returns the send() rate in alerts/s.
fn burst(outputs: &Arc<Outputs>, n: u64) -> f64 {
    let o = Arc::clone(outputs);
    std::thread::spawn(move || {
        let t = Instant::now();
        for seq in 0..n {
            o.send(alert(seq));
        }
        n as f64 / t.elapsed().as_secs_f64()
    })
    .join()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_receiver_never_blocks_send_and_drops_are_counted() {
    const N: u64 = 50_000;
    let stalled = start_receiver(Arc::new(|_, _: &Received| {
        (StatusCode::OK, Duration::from_secs(5))
    }))
    .await;
    let idle = start_receiver(always_ok()).await;
    let mut cfg = http_config(&format!("http://{}/", stalled.addr));
    cfg.http_output.queue_capacity = 1000;
    cfg.http_output.timeout_ms = 10_000;
    let slow = Arc::new(start(&cfg));
    cfg.http_output.url = format!("http://{}/", idle.addr);
    let fast = Arc::new(start(&cfg));

    let slow_rate = burst(&slow, N);
    let fast_rate = burst(&fast, N);
    eprintln!("send() rate: stalled receiver {slow_rate:.0}/s, idle receiver {fast_rate:.0}/s");

    // Every send() returned (we are here), and nothing is unaccounted for.
    let s = slow.stats_of(OutputKind::Http).unwrap().snapshot();
    assert!(s.dropped_queue_full > 0, "{s:?}");
    assert!(s.queue_depth <= 1000);
    // At most the queue plus the one request in flight escaped the drop count.
    assert!(s.dropped_queue_full >= N - 1001, "{s:?}");

    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    slow.shutdown(deadline).await;
    fast.shutdown(tokio::time::Instant::now() + Duration::from_secs(20))
        .await;
    let s = slow.stats_of(OutputKind::Http).unwrap().snapshot();
    assert_eq!(
        s.sent + s.dropped(),
        N,
        "after shutdown every alert is sent or counted: {s:?}"
    );
    assert!(s.dropped_shutdown > 0);
    let f = fast.stats_of(OutputKind::Http).unwrap().snapshot();
    assert_eq!(f.sent + f.dropped(), N, "{f:?}");
    // After shutdown, send() counts instead of queueing.
    slow.send(alert(0));
    assert_eq!(
        slow.stats_of(OutputKind::Http)
            .unwrap()
            .snapshot()
            .dropped_shutdown,
        s.dropped_shutdown + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_keeps_alerts_across_an_agent_restart() {
    let dir = tempfile::tempdir().unwrap();
    let down = closed_port();
    let spool_cfg = |url: String| {
        let mut cfg = http_config(&url);
        cfg.http_output.spool.enabled = true;
        cfg.http_output.spool.directory = dir.path().to_path_buf();
        cfg.http_output.spool.segment_bytes = 64 * 1024;
        cfg.http_output.spool.max_bytes = 16 * 1024 * 1024;
        cfg
    };
    // First run: the receiver is down; shut down with everything spooled.
    let first = start(&spool_cfg(format!("http://{}/", down.addr)));
    for seq in 0..500 {
        first.send(alert(seq));
    }
    first
        .shutdown(tokio::time::Instant::now() + Duration::from_millis(500))
        .await;
    let s = first.stats_of(OutputKind::Http).unwrap().snapshot();
    assert_eq!(
        (s.sent, s.spooled, s.dropped(), s.spool_pending),
        (0, 500, 0, 500),
        "{s:?}"
    );

    // Second run: the receiver is up; the spooled alerts arrive, in order, once.
    let rx = start_receiver(always_ok()).await;
    let second = start(&spool_cfg(format!("http://{}/", rx.addr)));
    second.send(alert(500));
    let got = rx.log.wait_accepted(501, Duration::from_secs(20)).await;
    second.shutdown(soon()).await;
    let seqs: Vec<u64> = got.iter().map(Received::seq).collect();
    assert_eq!(seqs, (0..=500).collect::<Vec<_>>());
    let s = second.stats_of(OutputKind::Http).unwrap().snapshot();
    assert_eq!((s.sent, s.spool_pending, s.dropped()), (501, 0, 0), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_sends_identical_alerts_once_with_a_count() {
    let rx = start_receiver(always_ok()).await;
    let mut cfg = http_config(&format!("http://{}/", rx.addr));
    cfg.http_output.dedup.enabled = true;
    cfg.http_output.dedup.window_ms = 300;
    let outputs = start(&cfg);
    for _ in 0..5 {
        outputs.send(alert(7));
    }
    outputs.send(alert(8));
    let got = rx.log.wait_accepted(2, Duration::from_secs(10)).await;
    outputs.shutdown(soon()).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].json()["output_fields"]["saker.dedup_count"], 5);
    assert_eq!(got[1].json()["output_fields"]["saker.dedup_count"], 1);
    let s = outputs.stats_of(OutputKind::Http).unwrap().snapshot();
    assert_eq!((s.sent, s.deduplicated), (2, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_select_what_each_output_sends() {
    let rx = start_receiver(always_ok()).await;
    let mut cfg = http_config(&format!("http://{}/", rx.addr));
    cfg.priority = "notice".into();
    cfg.http_output.filter.min_priority = Some("error".into());
    cfg.http_output.filter.tags_exclude = vec!["noisy".into()];
    let outputs = start(&cfg);
    let mut a = alert(1);
    a.priority = saker::alert::Priority::Critical;
    outputs.send(a.clone());
    let mut b = alert(2);
    b.priority = saker::alert::Priority::Warning; // below the output's minimum
    outputs.send(b);
    let mut c = a.clone();
    c.output_fields[0].1 = saker::alert::FieldOutput::U64(3);
    c.tags = Arc::from(vec![Arc::from("noisy")]);
    outputs.send(c);
    let mut d = a.clone();
    d.output_fields[0].1 = saker::alert::FieldOutput::U64(4);
    outputs.send(d);
    let got = rx.log.wait_accepted(2, Duration::from_secs(10)).await;
    outputs.shutdown(soon()).await;
    let seqs: Vec<u64> = got.iter().map(Received::seq).collect();
    assert_eq!(seqs, vec![1, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_counts_what_it_cannot_keep() {
    let dir = tempfile::tempdir().unwrap();
    let down = closed_port();
    let mut cfg = http_config(&format!("http://{}/", down.addr));
    cfg.http_output.spool.enabled = true;
    cfg.http_output.spool.directory = dir.path().to_path_buf();
    cfg.http_output.spool.segment_bytes = 4096;
    cfg.http_output.spool.max_bytes = 8192;
    let outputs = start(&cfg);
    for seq in 0..100 {
        outputs.send(alert(seq));
    }
    let stats = Arc::clone(outputs.stats_of(OutputKind::Http).unwrap());
    let until = Instant::now() + Duration::from_secs(10);
    while stats.snapshot().queue_depth > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    outputs
        .shutdown(tokio::time::Instant::now() + Duration::from_millis(300))
        .await;
    let s = stats.snapshot();
    assert!(s.dropped_spool_full > 0 && s.spooled > 0, "{s:?}");
    assert_eq!(s.spooled + s.dropped_spool_full, 100, "{s:?}");
    assert_eq!(s.spool_pending, s.spooled);
    assert!(s.spool_bytes <= 8192);
}
