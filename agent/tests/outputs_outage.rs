//! A burst of 10,000 alerts while the HTTP receiver is down for 20 s.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure should fail the test"
)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use saker::output::{OutputKind, Outputs};
use support::*;

const BURST: u64 = 10_000;
const OUTAGE: Duration = Duration::from_secs(20);

/// Starts outputs against a port where nothing listens, sends the burst,
/// waits out the outage, then brings the receiver up on that port.
async fn burst_through_outage(spool_dir: Option<&std::path::Path>) -> (Outputs, Receiver) {
    let port = closed_port();
    let addr = port.addr;
    let mut cfg = http_config(&format!("http://{addr}/"));
    cfg.http_output.retry.max_backoff_ms = 1000;
    if let Some(dir) = spool_dir {
        // The queue (default 10,000) absorbs the burst while the ingest task
        // moves it to disk.
        cfg.http_output.spool.enabled = true;
        cfg.http_output.spool.directory = dir.to_path_buf();
        cfg.http_output.spool.segment_bytes = 1024 * 1024;
        cfg.http_output.spool.max_bytes = 64 * 1024 * 1024;
    } else {
        // A queue smaller than the burst: the rest must be counted as drops.
        cfg.http_output.queue_capacity = 1000;
    }
    let outputs =
        Outputs::start(&cfg.validate().unwrap(), &tokio::runtime::Handle::current()).unwrap();
    let sender = std::thread::scope(|s| {
        s.spawn(|| {
            for seq in 0..BURST {
                outputs.send(alert(seq));
            }
        })
        .join()
    });
    assert!(sender.is_ok());
    tokio::time::sleep(OUTAGE).await;
    let s = outputs.stats_of(OutputKind::Http).unwrap().snapshot();
    assert_eq!(s.sent, 0, "nothing can be delivered during the outage");
    assert!(s.failed > 0 && s.retried > 0, "{s:?}");
    let listener = port.open();
    (outputs, serve(listener, always_ok(), None))
}

fn assert_in_order_without_duplicates(got: &[Received]) -> Vec<u64> {
    let seqs: Vec<u64> = got.iter().map(Received::seq).collect();
    let bad = seqs.windows(2).find(|w| w[0] >= w[1]);
    assert!(bad.is_none(), "out of order or duplicated at {bad:?}");
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_spool_every_alert_arrives_in_order_once() {
    let dir = tempfile::tempdir().unwrap();
    let (outputs, rx) = burst_through_outage(Some(dir.path())).await;
    let got = rx
        .log
        .wait_accepted(BURST as usize, Duration::from_secs(120))
        .await;
    // Nothing more trickles in afterwards.
    tokio::time::sleep(Duration::from_millis(300)).await;
    outputs
        .shutdown(tokio::time::Instant::now() + Duration::from_secs(5))
        .await;
    let all = rx.log.accepted();
    assert_eq!(all.len(), got.len());
    let s = outputs.stats_of(OutputKind::Http).unwrap().snapshot();
    assert_eq!(
        (s.sent, s.spooled, s.dropped(), s.spool_pending),
        (BURST, BURST, 0, 0),
        "{s:?}"
    );
    let seqs = assert_in_order_without_duplicates(&all);
    assert!(seqs.iter().copied().eq(0..BURST), "missing alerts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_spool_delivered_plus_counted_drops_is_the_burst() {
    let (outputs, rx) = burst_through_outage(None).await;
    let stats = Arc::clone(outputs.stats_of(OutputKind::Http).unwrap());
    // Wait until the queue has drained into the receiver.
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    while stats.snapshot().queue_depth > 0 && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    outputs
        .shutdown(tokio::time::Instant::now() + Duration::from_secs(10))
        .await;
    let got = rx.log.accepted();
    assert_in_order_without_duplicates(&got);
    let s = stats.snapshot();
    assert_eq!(s.sent, got.len() as u64);
    assert!(
        s.dropped_queue_full > 0,
        "a 1000-alert queue cannot hold the burst"
    );
    assert_eq!(got.len() as u64 + s.dropped(), BURST, "{s:?}");
}
