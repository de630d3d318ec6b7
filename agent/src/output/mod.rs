//! Alert outputs: stdout, file, HTTP(S) and program, configured with Falco's
//! keys (see `config`), each fed by its own bounded queue.
//!
//! The rule engine's synchronous hot path calls [`Outputs::send`], which never
//! blocks and never awaits: per output it checks the filter and `try_send`s an
//! `Arc` of the alert into the queue, or counts a drop. Tasks on the tokio
//! runtime do the I/O, retry with backoff, and optionally spool to disk.
//! Every alert ends up delivered, still pending (queue, dedup window, spool),
//! or counted in one of the `dropped_*` counters of [`OutputStats`].
//!
//! ```no_run
//! # async fn demo(cfg: saker::output::OutputsConfig, alert: saker::alert::Alert) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use saker::output::Outputs;
//! let settings = cfg.validate()?;
//! let outputs = Arc::new(Outputs::start(&settings, &tokio::runtime::Handle::current())?);
//! saker::output::reopen_on_sigusr1(Arc::clone(&outputs), &tokio::runtime::Handle::current())?;
//! outputs.send(alert); // from any thread, sync
//! outputs.shutdown(tokio::time::Instant::now() + std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```

mod check;
pub mod config;
mod dedup;
mod file;
mod http;
mod program;
mod retry;
mod spool;
pub mod stats;
mod stdout;
mod tls;
mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::alert::{Alert, Priority};

pub use check::check_files;
pub use config::{ConfigError, OutputSettings, OutputsConfig};
pub use dedup::DEDUP_COUNT_FIELD;
pub use spool::SpoolError;
pub use stats::{OutputStats, OutputStatsSnapshot};
pub use worker::DeliveryError;

use config::{DeliverySettings, Filter, Format};
use dedup::Deduplicator;
use spool::Spool;
use stats::{RateLimitedLog, bump, dec};
use worker::{Control, Deliverer, DirectWorker, Sink, SpoolDelivery, SpoolIngest, SpoolShared};

/// The kinds of output; also the bounded `output` label of the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputKind {
    Stdout,
    File,
    Http,
    Program,
}

impl OutputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::Stdout => "stdout",
            OutputKind::File => "file",
            OutputKind::Http => "http",
            OutputKind::Program => "program",
        }
    }
}

/// Starting the outputs failed: a certificate, key or spool that cannot be
/// used, named by its configuration key.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{key}: {reason}")]
    Setup { key: String, reason: String },
    #[error("cannot install the SIGUSR1 handler: {0}")]
    Signal(#[source] std::io::Error),
}

#[derive(Debug)]
struct OutputHandle {
    kind: OutputKind,
    filter: Filter,
    tx: mpsc::Sender<Arc<Alert>>,
    stats: Arc<OutputStats>,
    control: Arc<Control>,
    drop_log: RateLimitedLog,
}

/// The running outputs. Share it (`Arc<Outputs>`) between the rule engine,
/// which calls [`send`](Self::send), and whoever handles signals and shutdown.
#[derive(Debug)]
pub struct Outputs {
    outputs: Vec<OutputHandle>,
    min_priority: Priority,
    shutdown_tx: watch::Sender<Option<Instant>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    closed: AtomicBool,
}

struct Starter<'a> {
    runtime: &'a Handle,
    format: Format,
    shutdown_rx: watch::Receiver<Option<Instant>>,
    outputs: Vec<OutputHandle>,
    tasks: Vec<JoinHandle<()>>,
}

impl Starter<'_> {
    fn add<S: Sink>(
        &mut self,
        kind: OutputKind,
        sink: S,
        d: &DeliverySettings,
    ) -> Result<(), OutputError> {
        let (tx, rx) = mpsc::channel(d.queue_capacity);
        let stats = Arc::new(OutputStats::default());
        let control = Arc::new(Control::default());
        let name = kind.as_str();
        let deliverer = Deliverer::new(
            name,
            sink,
            Arc::clone(&stats),
            d.retry,
            Arc::clone(&control),
            self.shutdown_rx.clone(),
        );
        let dedup = d.dedup_window.map(Deduplicator::new);
        match &d.spool {
            None => {
                let worker = DirectWorker {
                    deliverer,
                    format: self.format,
                    dedup,
                };
                self.tasks.push(self.runtime.spawn(worker.run(rx)));
            }
            Some(spool_settings) => {
                let key = format!("{name}_output.spool");
                let (spool, recovered) =
                    Spool::open(spool_settings).map_err(|e| OutputError::Setup {
                        key,
                        reason: e.to_string(),
                    })?;
                if recovered.pending > 0 || recovered.discarded_bytes > 0 {
                    log::info!(
                        "output {name}: spool {} holds {} undelivered alerts from a previous run{}",
                        spool_settings.directory.display(),
                        recovered.pending,
                        if recovered.discarded_bytes > 0 {
                            format!(
                                " ({} bytes of torn records discarded)",
                                recovered.discarded_bytes
                            )
                        } else {
                            String::new()
                        }
                    );
                }
                stats::set(&stats.spool_pending, spool.pending());
                stats::set(&stats.spool_bytes, spool.bytes());
                let shared = Arc::new(SpoolShared {
                    spool: Mutex::new(spool),
                    ingest_done: AtomicBool::new(false),
                    appended: Notify::new(),
                });
                let ingest = SpoolIngest {
                    name,
                    format: self.format,
                    dedup,
                    stats: Arc::clone(&stats),
                    shared: Arc::clone(&shared),
                    shutdown: self.shutdown_rx.clone(),
                    drop_log: Arc::new(RateLimitedLog::new(Duration::from_secs(10))),
                };
                let delivery = SpoolDelivery { deliverer, shared };
                self.tasks.push(self.runtime.spawn(ingest.run(rx)));
                self.tasks.push(self.runtime.spawn(delivery.run()));
            }
        }
        self.outputs.push(OutputHandle {
            kind,
            filter: d.filter.clone(),
            tx,
            stats,
            control,
            drop_log: RateLimitedLog::new(Duration::from_secs(10)),
        });
        Ok(())
    }
}

impl Outputs {
    /// Opens every enabled output (certificates, spools) and starts its tasks
    /// on `runtime`. Call once, at startup.
    pub fn start(settings: &OutputSettings, runtime: &Handle) -> Result<Self, OutputError> {
        let (shutdown_tx, shutdown_rx) = watch::channel(None);
        let mut s = Starter {
            runtime,
            format: settings.format,
            shutdown_rx,
            outputs: Vec::new(),
            tasks: Vec::new(),
        };
        // Build every sink before spawning anything, so that a bad
        // certificate does not leave half the outputs running.
        let http = match &settings.http {
            Some(h) => Some(http::HttpSink::new(h, settings.format)?),
            None => None,
        };
        if let Some(c) = &settings.stdout {
            s.add(OutputKind::Stdout, stdout::StdoutSink::new(), &c.delivery)?;
        }
        if let Some(c) = &settings.file {
            let sink = file::FileSink::new(c.filename.clone(), c.keep_alive, c.rotate);
            s.add(OutputKind::File, sink, &c.delivery)?;
        }
        if let (Some(c), Some(sink)) = (&settings.http, http) {
            s.add(OutputKind::Http, sink, &c.delivery)?;
        }
        if let Some(c) = &settings.program {
            let sink = program::ProgramSink::new(c.program.clone(), c.keep_alive, c.timeout);
            s.add(OutputKind::Program, sink, &c.delivery)?;
        }
        Ok(Self {
            outputs: s.outputs,
            min_priority: settings.min_priority,
            shutdown_tx,
            tasks: Mutex::new(s.tasks),
            closed: AtomicBool::new(false),
        })
    }

    /// Hands an alert to every output whose filter takes it. Never blocks:
    /// an output whose queue is full drops the alert and counts it
    /// (`dropped_queue_full`). Callable from any thread, inside or outside
    /// the runtime.
    pub fn send(&self, alert: impl Into<Arc<Alert>>) {
        let alert = alert.into();
        if !alert.priority.at_least(self.min_priority) {
            return;
        }
        let closed = self.closed.load(Ordering::Relaxed);
        for o in &self.outputs {
            if !o.filter.accepts(&alert) {
                continue;
            }
            if closed {
                bump(&o.stats.dropped_shutdown);
                continue;
            }
            // Counted before the send so that the worker's decrement can
            // never run first.
            bump(&o.stats.queue_depth);
            match o.tx.try_send(Arc::clone(&alert)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    dec(&o.stats.queue_depth);
                    bump(&o.stats.dropped_queue_full);
                    if let Some(n) = o.drop_log.hit() {
                        log::warn!(
                            "output {}: queue full, {n} alerts dropped since last report ({} in total)",
                            o.kind.as_str(),
                            o.stats.dropped_queue_full.load(Ordering::Relaxed)
                        );
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    dec(&o.stats.queue_depth);
                    bump(&o.stats.dropped_shutdown);
                }
            }
        }
    }

    /// Closes and reopens the file output's file and restarts the program
    /// output's program, as Falco does on SIGUSR1 (e.g. after logrotate).
    pub fn reopen(&self) {
        for o in &self.outputs {
            o.control.request_reopen();
        }
    }

    /// Counters of every running output.
    pub fn stats(&self) -> impl Iterator<Item = (OutputKind, &Arc<OutputStats>)> {
        self.outputs.iter().map(|o| (o.kind, &o.stats))
    }

    /// Counters of one output, if it is enabled.
    pub fn stats_of(&self, kind: OutputKind) -> Option<&Arc<OutputStats>> {
        self.outputs
            .iter()
            .find(|o| o.kind == kind)
            .map(|o| &o.stats)
    }

    /// Stops taking alerts, delivers what is queued until `deadline`, moves
    /// what is left into the spool where there is one (delivered after the
    /// next start), counts the rest as `dropped_shutdown`, and closes files
    /// and programs. Returns when every output task has finished (at most
    /// about a second after the deadline).
    pub async fn shutdown(&self, deadline: Instant) {
        self.closed.store(true, Ordering::Relaxed);
        self.shutdown_tx.send_replace(Some(deadline));
        let tasks: Vec<JoinHandle<()>> = {
            let mut guard = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
            guard.drain(..).collect()
        };
        // The tasks honour the deadline themselves; the grace covers a sink
        // that is slow to close.
        let hard_stop = deadline + Duration::from_secs(1);
        for mut t in tasks {
            if tokio::time::timeout_at(hard_stop, &mut t).await.is_err() {
                log::warn!("an output task did not stop by the shutdown deadline; aborting it");
                t.abort();
            }
        }
        for o in &self.outputs {
            let left = o.stats.queue_depth.swap(0, Ordering::Relaxed);
            if left > 0 {
                stats::add(&o.stats.dropped_shutdown, left);
            }
        }
    }
}

/// Calls [`Outputs::reopen`] on every SIGUSR1, like Falco. Returns the task.
pub fn reopen_on_sigusr1(
    outputs: Arc<Outputs>,
    runtime: &Handle,
) -> Result<JoinHandle<()>, OutputError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sig = {
        let _guard = runtime.enter();
        signal(SignalKind::user_defined1()).map_err(OutputError::Signal)?
    };
    Ok(runtime.spawn(async move {
        while sig.recv().await.is_some() {
            log::info!("SIGUSR1: reopening outputs");
            outputs.reopen();
        }
    }))
}
