//! The delivery loop shared by every output: queue -> dedup -> (spool) ->
//! sink, with retries.
//!
//! Without a spool one task does it all. With a spool, an ingest task moves
//! alerts from the queue to the spool as fast as they come, and a delivery
//! task feeds the sink from the spool, committing each alert once delivered.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use super::config::{Format, RetryPolicy};
use super::dedup::Deduplicator;
use super::retry::Backoff;
use super::spool::{Spool, SpoolError};
use super::stats::{OutputStats, RateLimitedLog, add, bump, dec, set};
use crate::alert::Alert;

/// Why one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("request failed: {0}")]
    Transport(String),
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    #[error("receiver answered HTTP {0}")]
    Status(u16),
    #[error("program exited with {0}")]
    ProgramFailed(std::process::ExitStatus),
}

impl DeliveryError {
    /// A request the receiver will never accept: retrying cannot help.
    /// HTTP 4xx, except 408 (timeout) and 429 (too many requests).
    pub fn is_permanent(&self) -> bool {
        matches!(self, DeliveryError::Status(s) if (400..500).contains(s) && *s != 408 && *s != 429)
    }
}

/// Where alerts finally go. One instance per output, owned by its task.
pub(crate) trait Sink: Send + Sync + 'static {
    /// Delivers one rendered alert (no trailing newline).
    fn deliver(&mut self, payload: &[u8])
    -> impl Future<Output = Result<(), DeliveryError>> + Send;
    /// Pushes out buffered bytes; called whenever the queue runs empty.
    fn flush(&mut self) -> impl Future<Output = Result<(), DeliveryError>> + Send;
    /// Closes and reopens files or programs (SIGUSR1, as Falco does).
    fn reopen(&mut self) -> impl Future<Output = ()> + Send;
    /// Final flush and close at shutdown.
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

/// Signals from the `Outputs` handle to one output's tasks.
#[derive(Debug, Default)]
pub(crate) struct Control {
    reopen_generation: AtomicU64,
    wake: Notify,
}

impl Control {
    pub(crate) fn request_reopen(&self) {
        self.reopen_generation.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

/// Shutdown deadline; `None` while running.
pub(crate) type ShutdownSignal = watch::Receiver<Option<Instant>>;

enum Outcome {
    Delivered,
    /// Permanent failure or retries exhausted: counted, and skipped.
    Undeliverable,
    /// The shutdown deadline passed before it was delivered.
    Abandoned,
}

/// The part of a worker that delivers one payload with retries.
pub(crate) struct Deliverer<S: Sink> {
    pub(crate) name: &'static str,
    pub(crate) sink: S,
    pub(crate) stats: Arc<OutputStats>,
    pub(crate) retry: RetryPolicy,
    pub(crate) control: Arc<Control>,
    pub(crate) shutdown: ShutdownSignal,
    fail_log: RateLimitedLog,
    seen_reopen: u64,
}

impl<S: Sink> Deliverer<S> {
    pub(crate) fn new(
        name: &'static str,
        sink: S,
        stats: Arc<OutputStats>,
        retry: RetryPolicy,
        control: Arc<Control>,
        shutdown: ShutdownSignal,
    ) -> Self {
        Self {
            name,
            sink,
            stats,
            retry,
            control,
            shutdown,
            fail_log: RateLimitedLog::new(Duration::from_secs(10)),
            seen_reopen: 0,
        }
    }

    fn deadline(&self) -> Option<Instant> {
        *self.shutdown.borrow()
    }

    async fn reopen_if_requested(&mut self) {
        let g = self.control.reopen_generation.load(Ordering::Relaxed);
        if g != self.seen_reopen {
            self.seen_reopen = g;
            log::info!("output {}: reopening", self.name);
            self.sink.reopen().await;
        }
    }

    async fn flush(&mut self) {
        if let Err(e) = self.sink.flush().await {
            bump(&self.stats.failed);
            if let Some(n) = self.fail_log.hit() {
                log::warn!(
                    "output {}: flush failed ({n} failures since last report): {e}",
                    self.name
                );
            }
        }
    }

    /// Sleeps, but wakes early when shutdown begins so that the deadline is
    /// honoured.
    async fn backoff_sleep(&mut self, d: Duration) {
        let sleep = tokio::time::sleep(d);
        tokio::pin!(sleep);
        let deadline = self.deadline();
        if let Some(deadline) = deadline {
            tokio::select! {
                _ = &mut sleep => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
            return;
        }
        tokio::select! {
            _ = &mut sleep => {}
            changed = self.shutdown.changed() => {
                if changed.is_err() {
                    // The handle is gone without a shutdown: just wait.
                    sleep.await;
                }
            }
        }
    }

    async fn deliver(&mut self, payload: &[u8]) -> Outcome {
        let mut backoff = Backoff::new(self.retry);
        let mut attempt = 0u32;
        loop {
            let deadline = self.deadline();
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Outcome::Abandoned;
            }
            if attempt > 0 {
                bump(&self.stats.retried);
            }
            attempt = attempt.saturating_add(1);
            // An attempt in flight when shutdown begins is cut at the deadline.
            let shutdown = self.shutdown.clone();
            let result = tokio::select! {
                r = self.sink.deliver(payload) => r,
                _ = deadline_passed(shutdown) => return Outcome::Abandoned,
            };
            let err = match result {
                Ok(()) => {
                    bump(&self.stats.sent);
                    return Outcome::Delivered;
                }
                Err(e) => e,
            };
            bump(&self.stats.failed);
            let next = if err.is_permanent() {
                None
            } else {
                backoff.next_delay()
            };
            if let Some(n) = self.fail_log.hit() {
                let what = if next.is_some() {
                    "will retry"
                } else {
                    "giving up on this alert"
                };
                log::warn!(
                    "output {}: delivery failed ({n} failures since last report), {what}: {err}",
                    self.name
                );
            }
            match next {
                Some(d) => self.backoff_sleep(d).await,
                None => return Outcome::Undeliverable,
            }
        }
    }
}

/// One output without a spool: a single task from queue to sink.
pub(crate) struct DirectWorker<S: Sink> {
    pub(crate) deliverer: Deliverer<S>,
    pub(crate) format: Format,
    pub(crate) dedup: Option<Deduplicator>,
}

impl<S: Sink> DirectWorker<S> {
    async fn deliver_alert(&mut self, alert: &Alert) {
        let payload = self.format.render(alert);
        match self.deliverer.deliver(&payload).await {
            Outcome::Delivered => {}
            Outcome::Undeliverable => bump(&self.deliverer.stats.dropped_undeliverable),
            Outcome::Abandoned => bump(&self.deliverer.stats.dropped_shutdown),
        }
    }

    async fn accept(&mut self, alert: Arc<Alert>) {
        match &mut self.dedup {
            Some(d) => {
                if !d.offer(alert, Instant::now()) {
                    bump(&self.deliverer.stats.deduplicated);
                }
            }
            None => self.deliver_alert(&alert).await,
        }
    }

    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Arc<Alert>>) {
        let control = Arc::clone(&self.deliverer.control);
        loop {
            let due = self.dedup.as_ref().and_then(Deduplicator::next_due);
            tokio::select! {
                biased;
                _ = self.deliverer.shutdown.changed() => break,
                _ = control.wake.notified() => self.deliverer.reopen_if_requested().await,
                _ = sleep_until_opt(due) => {
                    let ready = self.dedup.as_mut().map(|d| d.take_due(Instant::now())).unwrap_or_default();
                    for a in ready {
                        self.deliver_alert(&a).await;
                    }
                }
                msg = rx.recv() => match msg {
                    Some(alert) => {
                        dec(&self.deliverer.stats.queue_depth);
                        self.accept(alert).await;
                    }
                    None => break,
                },
            }
            self.deliverer.reopen_if_requested().await;
            if rx.is_empty() {
                self.deliverer.flush().await;
            }
        }
        // Shutdown: take what is queued, deliver it until the deadline.
        rx.close();
        while let Ok(alert) = rx.try_recv() {
            dec(&self.deliverer.stats.queue_depth);
            self.accept(alert).await;
        }
        let pending = self
            .dedup
            .as_mut()
            .map(Deduplicator::take_all)
            .unwrap_or_default();
        for a in pending {
            self.deliver_alert(&a).await;
        }
        self.deliverer.sink.close().await;
    }
}

/// Completes once shutdown has begun and its deadline has passed.
async fn deadline_passed(mut shutdown: ShutdownSignal) {
    loop {
        let deadline = *shutdown.borrow_and_update();
        if let Some(d) = deadline {
            tokio::time::sleep_until(d).await;
            return;
        }
        if shutdown.changed().await.is_err() {
            // No handle, no shutdown: never.
            std::future::pending::<()>().await;
        }
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn lock(spool: &Mutex<Spool>) -> MutexGuard<'_, Spool> {
    // A panic while holding the lock cannot leave the spool's files
    // inconsistent (appends are cut back on error), so keep using it.
    spool.lock().unwrap_or_else(|e| e.into_inner())
}

fn update_spool_gauges(stats: &OutputStats, spool: &Spool) {
    set(&stats.spool_pending, spool.pending());
    set(&stats.spool_bytes, spool.bytes());
}

/// Shared between the ingest and delivery tasks of a spooled output.
pub(crate) struct SpoolShared {
    pub(crate) spool: Mutex<Spool>,
    /// Set by the ingest task when it has moved everything into the spool
    /// at shutdown.
    pub(crate) ingest_done: AtomicBool,
    /// Wakes the delivery task after an append.
    pub(crate) appended: Notify,
}

/// The ingest half of a spooled output: queue -> dedup -> spool.
pub(crate) struct SpoolIngest {
    pub(crate) name: &'static str,
    pub(crate) format: Format,
    pub(crate) dedup: Option<Deduplicator>,
    pub(crate) stats: Arc<OutputStats>,
    pub(crate) shared: Arc<SpoolShared>,
    pub(crate) shutdown: ShutdownSignal,
    pub(crate) drop_log: Arc<RateLimitedLog>,
}

impl SpoolIngest {
    async fn append(&mut self, alerts: Vec<Arc<Alert>>) {
        if alerts.is_empty() {
            return;
        }
        let format = self.format;
        let shared = Arc::clone(&self.shared);
        let stats = Arc::clone(&self.stats);
        let name = self.name;
        let drop_log = Arc::clone(&self.drop_log);
        let job = tokio::task::spawn_blocking(move || {
            let mut spool = lock(&shared.spool);
            let mut failed = 0u64;
            let mut last_err = None;
            for a in &alerts {
                match spool.append(&format.render(a)) {
                    Ok(()) => bump(&stats.spooled),
                    Err(e) => {
                        failed += 1;
                        last_err = Some(e);
                    }
                }
            }
            update_spool_gauges(&stats, &spool);
            drop(spool);
            if failed > 0 {
                add(&stats.dropped_spool_full, failed);
                if let Some(e) = last_err
                    && drop_log.hit().is_some()
                {
                    log::error!(
                        "output {name}: alerts dropped, not spooled ({} in total): {e}",
                        stats.dropped_spool_full.load(Ordering::Relaxed)
                    );
                }
            }
            shared.appended.notify_one();
        });
        if let Err(e) = job.await {
            log::error!("output {}: spool append task failed: {e}", self.name);
        }
    }

    async fn sync(&self) {
        let shared = Arc::clone(&self.shared);
        let name = self.name;
        let job = tokio::task::spawn_blocking(move || {
            if let Err(e) = lock(&shared.spool).sync() {
                log::warn!("output {name}: spool sync failed: {e}");
            }
        });
        if let Err(e) = job.await {
            log::error!("output {}: spool sync task failed: {e}", self.name);
        }
    }

    fn offer(&mut self, alerts: &mut Vec<Arc<Alert>>, out: &mut Vec<Arc<Alert>>) {
        for a in alerts.drain(..) {
            dec(&self.stats.queue_depth);
            match &mut self.dedup {
                Some(d) => {
                    if !d.offer(a, Instant::now()) {
                        bump(&self.stats.deduplicated);
                    }
                }
                None => out.push(a),
            }
        }
    }

    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Arc<Alert>>) {
        let mut sync_tick = tokio::time::interval(Duration::from_secs(1));
        sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut buf = Vec::with_capacity(256);
        loop {
            let due = self.dedup.as_ref().and_then(Deduplicator::next_due);
            let mut ready = Vec::new();
            tokio::select! {
                biased;
                _ = self.shutdown.changed() => break,
                _ = sleep_until_opt(due) => {
                    if let Some(d) = self.dedup.as_mut() {
                        ready = d.take_due(Instant::now());
                    }
                }
                _ = sync_tick.tick() => self.sync().await,
                n = rx.recv_many(&mut buf, 256) => {
                    if n == 0 {
                        break;
                    }
                    self.offer(&mut buf, &mut ready);
                }
            }
            self.append(ready).await;
        }
        rx.close();
        let mut ready = Vec::new();
        while let Ok(a) = rx.try_recv() {
            buf.push(a);
        }
        self.offer(&mut buf, &mut ready);
        if let Some(d) = self.dedup.as_mut() {
            ready.extend(d.take_all());
        }
        self.append(ready).await;
        self.sync().await;
        self.shared.ingest_done.store(true, Ordering::Release);
        self.shared.appended.notify_one();
    }
}

/// The delivery half of a spooled output: spool -> sink, in order.
pub(crate) struct SpoolDelivery<S: Sink> {
    pub(crate) deliverer: Deliverer<S>,
    pub(crate) shared: Arc<SpoolShared>,
}

impl<S: Sink> SpoolDelivery<S> {
    async fn read_batch(&self) -> Result<Vec<(super::spool::Position, Vec<u8>)>, SpoolError> {
        let shared = Arc::clone(&self.shared);
        match tokio::task::spawn_blocking(move || lock(&shared.spool).read_batch(64)).await {
            Ok(r) => r,
            Err(e) => Err(SpoolError::Io {
                dir: Default::default(),
                source: io::Error::other(e.to_string()),
            }),
        }
    }

    fn commit(&self, pos: super::spool::Position) {
        // One 32-byte pwrite: cheap enough to do inline.
        let mut spool = lock(&self.shared.spool);
        if let Err(e) = spool.commit(pos) {
            log::error!("output {}: spool commit failed: {e}", self.deliverer.name);
        }
        update_spool_gauges(&self.deliverer.stats, &spool);
    }

    pub(crate) async fn run(mut self) {
        let control = Arc::clone(&self.deliverer.control);
        'outer: loop {
            self.deliverer.reopen_if_requested().await;
            let batch = match self.read_batch().await {
                Ok(b) => b,
                Err(e) => {
                    log::error!("output {}: cannot read the spool: {e}", self.deliverer.name);
                    Vec::new()
                }
            };
            if batch.is_empty() {
                let deadline = self.deliverer.deadline();
                if deadline.is_some() && self.shared.ingest_done.load(Ordering::Acquire) {
                    // Shutdown, and the ingest task has spooled everything:
                    // check once more that nothing arrived in between.
                    if lock(&self.shared.spool).fully_read() {
                        break;
                    }
                    continue;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                self.deliverer.flush().await;
                let shutdown_started = deadline.is_some();
                tokio::select! {
                    _ = self.shared.appended.notified() => {}
                    _ = control.wake.notified() => {}
                    changed = self.deliverer.shutdown.changed(), if !shutdown_started => {
                        if changed.is_err() {
                            break;
                        }
                    }
                    // Bounded idle wait: the deadline is re-checked.
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
                continue;
            }
            for (pos, payload) in batch {
                match self.deliverer.deliver(&payload).await {
                    Outcome::Delivered => self.commit(pos),
                    Outcome::Undeliverable => {
                        bump(&self.deliverer.stats.dropped_undeliverable);
                        self.commit(pos);
                    }
                    // Still in the spool: delivered after the next start.
                    Outcome::Abandoned => break 'outer,
                }
            }
        }
        {
            let mut spool = lock(&self.shared.spool);
            if let Err(e) = spool.sync() {
                log::warn!("output {}: spool sync failed: {e}", self.deliverer.name);
            }
            update_spool_gauges(&self.deliverer.stats, &spool);
        }
        self.deliverer.sink.close().await;
    }
}
