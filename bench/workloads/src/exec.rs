//! fork + execve + wait of a short program: process churn, as a shell script
//! or a cron job makes it. Every iteration creates a task, replaces its
//! image (the dynamic loader then opens and maps libraries) and reaps it.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};

use crate::Report;

pub fn run(iterations: u64, program: &Path) -> Result<Report> {
    let prog = CString::new(program.as_os_str().as_bytes())?;
    let argv = [prog.as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];

    let start = Instant::now();
    for _ in 0..iterations {
        // SAFETY: this process is single-threaded; the child calls only
        // async-signal-safe functions (execve, _exit) on memory prepared
        // before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            bail!("fork: {}", std::io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: see above; argv and envp are NULL-terminated.
            unsafe {
                libc::execve(prog.as_ptr(), argv.as_ptr(), envp.as_ptr());
                libc::_exit(127);
            }
        }
        let mut status = 0;
        // SAFETY: waiting for our own child, with a valid status pointer.
        if unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
            bail!("waitpid: {}", std::io::Error::last_os_error());
        }
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            bail!("{} failed (wait status {status:#x})", program.display());
        }
    }
    let wall = start.elapsed();
    Ok(Report::new("exec", iterations, "fork+exec+wait", wall))
}
