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
    positions: Option<Positions>,
}

/// A read-only view of the ring's consumer and producer positions (the first
/// two pages of the map, as the kernel lays out a BPF ring buffer).
struct Positions {
    base: *mut libc::c_void,
    page: usize,
    size: u64,
}

// SAFETY: the mapping is read-only shared memory owned by this value; reading
// the two u64 positions from any thread is what the kernel's own consumers do.
unsafe impl Send for Positions {}

impl Positions {
    fn map(fd: std::os::fd::BorrowedFd<'_>, ring_bytes: u32) -> Option<Self> {
        use std::os::fd::AsRawFd;
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
        // SAFETY: a fresh read-only shared mapping of the map's first two pages;
        // the result is checked before use and unmapped in Drop.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * page,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return None;
        }
        Some(Positions {
            base,
            page,
            size: u64::from(ring_bytes),
        })
    }

    fn fill_ratio(&self) -> f64 {
        // SAFETY: base points to two mapped pages; the positions are the first
        // u64 of each, updated atomically by the kernel and the consumer.
        let (cons, prod) = unsafe {
            let c = std::ptr::read_volatile(self.base.cast::<u64>());
            let p = std::ptr::read_volatile(self.base.cast::<u8>().add(self.page).cast::<u64>());
            (c, p)
        };
        if self.size == 0 {
            return 0.0;
        }
        (prod.saturating_sub(cons) as f64 / self.size as f64).clamp(0.0, 1.0)
    }
}

impl Drop for Positions {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `map`.
        unsafe { libc::munmap(self.base, 2 * self.page) };
    }
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
        Self::with_size(ring, drain_interval, 0)
    }

    /// Like [`RingReader::new`], knowing the ring's size so that
    /// [`RingReader::fill_ratio`] can report how full it is.
    pub fn with_size(
        ring: RingBuf<MapData>,
        drain_interval: Duration,
        ring_bytes: u32,
    ) -> io::Result<Self> {
        use std::os::fd::AsFd;
        let positions = if ring_bytes > 0 {
            Positions::map(ring.as_fd(), ring_bytes)
        } else {
            None
        };
        // SAFETY: the RingBuf owns its map fd and the AsyncFd owns the
        // RingBuf, so the fd stays open for as long as it is registered.
        let fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(RingReader {
            fd,
            drain_interval,
            positions,
        })
    }

    /// Share of the ring holding records not read yet (0 when unknown).
    pub fn fill_ratio(&self) -> f64 {
        self.positions.as_ref().map_or(0.0, Positions::fill_ratio)
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
