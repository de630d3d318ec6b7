//! Output costs: `Outputs::send` on the rule engine's side (receiver idle vs.
//! stalled), what the HTTP output sustains to a loopback receiver, and the
//! memory a full queue holds. `cargo bench -p saker --bench outputs`.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "benchmark setup: a failure should stop the run"
)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hyper::StatusCode;
use saker::alert::Alert;
use saker::output::{OutputKind, Outputs, OutputsConfig};
use support::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn start(rt: &tokio::runtime::Runtime, cfg: &OutputsConfig) -> Outputs {
    Outputs::start(&cfg.validate().unwrap(), rt.handle()).unwrap()
}

/// Counts live heap bytes, so that the memory a full queue holds is measured
/// exactly rather than through RSS (which the allocator's reuse blurs).
struct CountingAlloc;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

// SAFETY: defers to the system allocator; only adds bookkeeping.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn live_bytes() -> i64 {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// RSS growth while a stalled HTTP output's queue fills with distinct alerts:
/// first the queue's own cost (alerts built beforehand), then queue plus the
/// alerts it keeps alive (built as they are sent, as the rule engine does).
fn full_queue_memory(rt: &tokio::runtime::Runtime) {
    const CAP: usize = 100_000;
    let stalled = rt.block_on(start_receiver(Arc::new(|_, _: &Received| {
        (StatusCode::OK, Duration::from_secs(3600))
    })));
    let mut cfg = http_config(&format!("http://{}/", stalled.addr));
    cfg.http_output.queue_capacity = CAP;
    let one = alert(0).to_json(true, true).len();
    for prebuilt in [true, false] {
        let outputs = start(rt, &cfg);
        let alerts: Vec<Alert> = if prebuilt {
            (0..CAP as u64 + 1).map(alert).collect()
        } else {
            Vec::new()
        };
        let before = live_bytes();
        if prebuilt {
            for a in alerts {
                outputs.send(a);
            }
        } else {
            for seq in 0..CAP as u64 + 1 {
                outputs.send(alert(seq));
            }
        }
        let after = live_bytes();
        let s = outputs.stats_of(OutputKind::Http).unwrap().snapshot();
        eprintln!(
            "full queue ({}): {} alerts queued, {} dropped, heap +{:.1} MiB = {} bytes/alert (alert JSON is {one} bytes)",
            if prebuilt {
                "queue only"
            } else {
                "queue and alerts"
            },
            s.queue_depth,
            s.dropped_queue_full,
            (after - before) as f64 / (1024.0 * 1024.0),
            (after - before) / s.queue_depth.max(1) as i64
        );
        rt.block_on(outputs.shutdown(tokio::time::Instant::now()));
    }
}

fn send_rate(c: &mut Criterion) {
    let rt = runtime();
    full_queue_memory(&rt);

    let idle = rt.block_on(start_receiver(always_ok()));
    let stalled = rt.block_on(start_receiver(Arc::new(|_, _: &Received| {
        (StatusCode::OK, Duration::from_secs(5))
    })));
    let a = Arc::new(alert(1));
    let mut g = c.benchmark_group("send");
    g.throughput(Throughput::Elements(1));
    for (name, rx) in [("idle_receiver", &idle), ("stalled_receiver", &stalled)] {
        let mut cfg = http_config(&format!("http://{}/", rx.addr));
        cfg.http_output.queue_capacity = 10_000;
        let outputs = start(&rt, &cfg);
        g.bench_function(name, |b| b.iter(|| outputs.send(Arc::clone(&a))));
        let s = outputs.stats_of(OutputKind::Http).unwrap().snapshot();
        eprintln!(
            "{name}: sent {} dropped(queue full) {}",
            s.sent, s.dropped_queue_full
        );
        rt.block_on(outputs.shutdown(tokio::time::Instant::now()));
    }
    g.finish();
}

fn http_throughput(c: &mut Criterion) {
    const BATCH: u64 = 5_000;
    let rt = runtime();
    let rx = rt.block_on(start_receiver(always_ok()));
    let alerts: Vec<Arc<Alert>> = (0..BATCH).map(|i| Arc::new(alert(i))).collect();
    let mut g = c.benchmark_group("http_output");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BATCH));
    for (name, gzip) in [("delivered", false), ("delivered_gzip", true)] {
        let mut cfg = http_config(&format!("http://{}/", rx.addr));
        cfg.http_output.queue_capacity = BATCH as usize;
        cfg.http_output.compress_uploads = gzip;
        let outputs = start(&rt, &cfg);
        let stats = Arc::clone(outputs.stats_of(OutputKind::Http).unwrap());
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let base = stats.snapshot().sent;
                    let t = Instant::now();
                    for a in &alerts {
                        outputs.send(Arc::clone(a));
                    }
                    while stats.snapshot().sent < base + BATCH {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    total += t.elapsed();
                }
                total
            })
        });
        let s = stats.snapshot();
        assert_eq!(s.dropped(), 0, "{s:?}");
        rt.block_on(outputs.shutdown(tokio::time::Instant::now() + Duration::from_secs(5)));
    }
    // Receiver log grows with every request; keep it from skewing memory.
    rx.log.requests.lock().unwrap().clear();
    g.finish();
}

criterion_group!(benches, send_rate, http_throughput);
criterion_main!(benches);
