//! openat + read + close of one file: the syscall-heavy case, and the one
//! every tracer pays most for per unit of useful work.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{Report, ScratchDir};

/// Operations between two looks at the clock when paced.
const PACE_BATCH: u64 = 64;

/// `rate`: operations per second to hold (0: as fast as possible); a paced
/// loop sleeps whenever it is ahead of schedule, so a generator that cannot
/// keep up shows as a lower achieved rate (ops / wall), never as a burst.
pub fn run(iterations: u64, dir: Option<PathBuf>, rate: u64) -> Result<Report> {
    let scratch = ScratchDir::create(dir, "open-close")?;
    let path = scratch.0.join("data");
    std::fs::write(&path, [b'x'; 4096]).with_context(|| format!("writing {}", path.display()))?;
    let cpath = CString::new(path.as_os_str().as_bytes())?;
    let mut buf = [0u8; 64];

    let start = Instant::now();
    for i in 0..iterations {
        if rate > 0 && i % PACE_BATCH == 0 {
            let due = Duration::from_secs_f64(i as f64 / rate as f64);
            if let Some(ahead) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(ahead);
            }
        }
        // SAFETY: a NUL-terminated path; the flags create nothing.
        let fd = unsafe {
            libc::openat(
                libc::AT_FDCWD,
                cpath.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            bail!(
                "openat {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        // SAFETY: `fd` is ours; `buf` is valid for its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        // SAFETY: closing the descriptor opened above, once.
        unsafe { libc::close(fd) };
        if n < 0 {
            bail!("read: {}", std::io::Error::last_os_error());
        }
    }
    let wall = start.elapsed();
    Ok(Report::new(
        "open-close",
        iterations,
        "open+read+close",
        wall,
    ))
}
