//! The ring-buffer reader.
//!
//! The kernel side wakes the reader only when `wakeup_bytes` are waiting
//! (BPF_RB_NO_WAKEUP below that), so the reader also drains on a timer:
//! latency is bounded by the drain interval and a quiet node costs one
//! wake-up per interval instead of one per event.

use std::io;
use std::time::Duration;

use aya::maps::{MapData, RingBuf};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Default time between drains when the kernel has not woken the reader.
pub const DEFAULT_DRAIN_INTERVAL: Duration = Duration::from_millis(20);

pub struct RingReader {
    fd: AsyncFd<RingBuf<MapData>>,
    drain_interval: Duration,
}

impl std::fmt::Debug for RingReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingReader")
            .field("drain_interval", &self.drain_interval)
            .finish_non_exhaustive()
    }
}

impl RingReader {
    /// Registers the ring buffer with the current tokio runtime.
    pub fn new(ring: RingBuf<MapData>, drain_interval: Duration) -> io::Result<Self> {
        // SAFETY: the RingBuf owns its map fd and the AsyncFd owns the
        // RingBuf, so the fd stays open for as long as it is registered.
        let fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(RingReader { fd, drain_interval })
    }

    /// Waits for the kernel's wake-up or the drain timer, then hands every
    /// waiting record to `f`. Returns the number of records read.
    pub async fn read_batch(&mut self, f: &mut impl FnMut(&[u8])) -> io::Result<usize> {
        self.wait().await?;
        Ok(self.drain(f))
    }

    /// Waits for the kernel's wake-up or the drain timer, whichever comes
    /// first; then call [`RingReader::drain`]. Readiness is cleared here:
    /// records that arrive while draining are drained too, and later ones
    /// wake the reader again or wait for the timer.
    pub async fn wait(&mut self) -> io::Result<()> {
        tokio::select! {
            guard = self.fd.readable_mut() => {
                guard?.clear_ready();
                Ok(())
            }
            () = tokio::time::sleep(self.drain_interval) => Ok(()),
        }
    }

    /// Hands every record waiting now to `f`, without waiting.
    pub fn drain(&mut self, f: &mut impl FnMut(&[u8])) -> usize {
        drain_ring(self.fd.get_mut(), f)
    }
}

fn drain_ring(ring: &mut RingBuf<MapData>, f: &mut impl FnMut(&[u8])) -> usize {
    let mut n = 0;
    while let Some(item) = ring.next() {
        f(&item);
        n += 1;
    }
    n
}
