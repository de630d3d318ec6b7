//! openat + read + close of one file: the syscall-heavy case, and the one
//! every tracer pays most for per unit of useful work.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{Report, ScratchDir};

pub fn run(iterations: u64, dir: Option<PathBuf>) -> Result<Report> {
    let scratch = ScratchDir::create(dir, "open-close")?;
    let path = scratch.0.join("data");
    std::fs::write(&path, [b'x'; 4096]).with_context(|| format!("writing {}", path.display()))?;
    let cpath = CString::new(path.as_os_str().as_bytes())?;
    let mut buf = [0u8; 64];

    let start = Instant::now();
    for _ in 0..iterations {
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
