//! The ring-buffer reader.
//!
//! The kernel side wakes the reader only when `wakeup_bytes` are waiting
//! (BPF_RB_NO_WAKEUP below that), so the reader also drains on a timer:
//! latency is bounded by the drain interval and a quiet node costs one
//! wake-up per interval instead of one per event.
//!
//! Records are read straight from the ring's shared memory, as libbpf and
//! aya do, with one difference: the consumer position is published once per
//! [`PUBLISH_BYTES`] read (and at the end of every drain) instead of after
//! every record. Every BPF program that reserves ring space reads that
//! position, so a store per record moved its cache line between the agent's
//! CPU and the traced one on nearly every traced syscall.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use aya::maps::MapData;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Default time between drains when the kernel has not woken the reader.
pub const DEFAULT_DRAIN_INTERVAL: Duration = Duration::from_millis(20);

/// Publish the consumer position at least this often (bytes read), so the
/// producer never sees much more of the ring in use than really is.
pub const PUBLISH_BYTES: u64 = 256 * 1024;

/// Bits of a record header's length word (kernel/bpf/ringbuf.c).
const BUSY_BIT: u32 = 1 << 31;
const DISCARD_BIT: u32 = 1 << 30;
const HDR_BYTES: u64 = 8;
/// Header reads before giving up on a record being written (its producer
/// runs with preemption disabled, so this is a few hundred nanoseconds).
const BUSY_SPINS: u32 = 10_000;

/// The BPF ring-buffer map, taken from the probe.
#[derive(Debug)]
pub struct RingMap {
    map: MapData,
    bytes: u32,
}

impl RingMap {
    pub(crate) fn new(map: MapData, bytes: u32) -> Self {
        RingMap { map, bytes }
    }
}

impl AsRawFd for RingMap {
    fn as_raw_fd(&self) -> RawFd {
        self.map.fd().as_fd().as_raw_fd()
    }
}

/// The consumer's view of the ring: the consumer page (read-write), and the
/// producer page followed by the data pages mapped twice (read-only), as the
/// kernel lays out a BPF ring buffer, so that a record that wraps around the
/// end reads as one slice.
struct Consumer {
    cons_page: *mut libc::c_void,
    prod_map: *mut libc::c_void,
    page: usize,
    size: u64,
    /// Next record to read.
    pos: u64,
    /// Last position stored in the consumer page.
    published: u64,
}

// SAFETY: the mappings are owned by this value and only this value reads or
// writes through them; the positions are updated with atomics, as the
// kernel's own consumers do.
unsafe impl Send for Consumer {}

impl Consumer {
    fn map(fd: BorrowedFd<'_>, bytes: u32) -> io::Result<Self> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .map_err(|_| io::Error::other("no page size"))?;
        let size = u64::from(bytes);
        if !bytes.is_power_of_two() || (bytes as usize) < page {
            return Err(io::Error::other(format!(
                "ring buffer size {bytes} is not a power of two of at least a page"
            )));
        }
        let mmap = |len: usize, prot: libc::c_int, offset: usize| {
            // SAFETY: a fresh shared mapping of the map's fd; the result is
            // checked before use and unmapped in Drop.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    prot,
                    libc::MAP_SHARED,
                    fd.as_raw_fd(),
                    offset as libc::off_t,
                )
            };
            if p == libc::MAP_FAILED {
                Err(io::Error::last_os_error())
            } else {
                Ok(p)
            }
        };
        let cons_page = mmap(page, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        let prod_map = match mmap(page + 2 * bytes as usize, libc::PROT_READ, page) {
            Ok(p) => p,
            Err(e) => {
                // SAFETY: unmapping the mapping made just above.
                unsafe { libc::munmap(cons_page, page) };
                return Err(e);
            }
        };
        let mut c = Consumer {
            cons_page,
            prod_map,
            page,
            size,
            pos: 0,
            published: 0,
        };
        c.pos = c.consumer_pos().load(Ordering::Acquire);
        c.published = c.pos;
        Ok(c)
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: the first word of the consumer page, page-aligned, shared
        // with the kernel, which reads it atomically.
        unsafe { &*self.cons_page.cast::<AtomicU64>() }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: as consumer_pos, the first word of the producer page.
        unsafe { &*self.prod_map.cast::<AtomicU64>() }
    }

    fn data(&self) -> *const u8 {
        // SAFETY: the data pages follow the producer page in the mapping.
        unsafe { self.prod_map.cast::<u8>().add(self.page) }
    }

    fn publish(&mut self) {
        if self.published != self.pos {
            // Release: the kernel reuses the space only after reading this
            // position (with acquire), so our reads of it are done.
            self.consumer_pos().store(self.pos, Ordering::Release);
            self.published = self.pos;
        }
    }

    /// Share of the ring holding records not read yet.
    fn fill_ratio(&self) -> f64 {
        let prod = self.producer_pos().load(Ordering::Relaxed);
        (prod.saturating_sub(self.pos) as f64 / self.size as f64).clamp(0.0, 1.0)
    }

    /// Hands every committed record to `f`, in ring order, and returns how
    /// many it read. Stops at a record still being written (the next drain
    /// continues from there).
    fn drain(&mut self, f: &mut impl FnMut(&[u8])) -> usize {
        let mask = self.size - 1;
        let data = self.data();
        let mut n = 0;
        'ring: loop {
            // Acquire pairs with the kernel's release store of the producer
            // position after it has written the record header.
            let prod = self.producer_pos().load(Ordering::Acquire);
            if prod == self.pos {
                break;
            }
            while self.pos != prod {
                let off = (self.pos & mask) as usize;
                // SAFETY: off < size, and the header word lies in the first
                // copy of the data pages; the kernel writes it atomically.
                let hdr_word = unsafe { &*data.add(off).cast::<AtomicU32>() };
                let mut hdr = hdr_word.load(Ordering::Acquire);
                let mut spins = 0;
                while hdr & BUSY_BIT != 0 {
                    spins += 1;
                    if spins == BUSY_SPINS {
                        break 'ring;
                    }
                    std::hint::spin_loop();
                    hdr = hdr_word.load(Ordering::Acquire);
                }
                let len = u64::from(hdr & !(BUSY_BIT | DISCARD_BIT));
                if len > self.size - HDR_BYTES {
                    // Not a header the kernel could have written. The next
                    // record's place is unknown: give up what is waiting
                    // rather than read garbage or stall the ring.
                    log::error!(
                        "ring buffer: record header {hdr:#x} at position {} is corrupt; \
                         skipping {} bytes of records",
                        self.pos,
                        prod - self.pos
                    );
                    self.pos = prod;
                    continue 'ring;
                }
                if hdr & DISCARD_BIT == 0 {
                    // SAFETY: the record is committed (busy bit clear) and
                    // lies within the double mapping: off + 8 + len < 2 * size.
                    let rec = unsafe {
                        std::slice::from_raw_parts(data.add(off + HDR_BYTES as usize), len as usize)
                    };
                    f(rec);
                    n += 1;
                }
                self.pos += (HDR_BYTES + len).next_multiple_of(8);
                if self.pos - self.published >= PUBLISH_BYTES {
                    self.publish();
                }
            }
        }
        self.publish();
        n
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mappings made in `map`.
        unsafe {
            libc::munmap(self.cons_page, self.page);
            libc::munmap(self.prod_map, self.page + 2 * self.size as usize);
        }
    }
}

pub struct RingReader {
    fd: AsyncFd<RingMap>,
    consumer: Consumer,
    drain_interval: Duration,
}

impl std::fmt::Debug for RingReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingReader")
            .field("drain_interval", &self.drain_interval)
            .field("bytes", &self.consumer.size)
            .finish_non_exhaustive()
    }
}

impl RingReader {
    /// Maps the ring and registers it with the current tokio runtime.
    pub fn new(ring: RingMap, drain_interval: Duration) -> io::Result<Self> {
        let consumer = Consumer::map(ring.map.fd().as_fd(), ring.bytes)?;
        // SAFETY: the AsyncFd owns the RingMap and with it the map's fd, so
        // the fd stays open for as long as it is registered.
        let fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(RingReader {
            fd,
            consumer,
            drain_interval,
        })
    }

    /// Share of the ring holding records not read yet.
    pub fn fill_ratio(&self) -> f64 {
        self.consumer.fill_ratio()
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
        self.consumer.drain(f)
    }
}
