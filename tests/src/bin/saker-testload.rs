//! Workload helper for the integration tests: performs one action with real
//! system calls, in its own process, so that tests can find its events by pid.
//!
//! Usage: saker-testload <action> [args...]; prints results on stdout.

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

fn check(what: &str, rc: libc::c_long) -> Result<libc::c_long, String> {
    if rc < 0 {
        Err(format!("{what}: {}", std::io::Error::last_os_error()))
    } else {
        Ok(rc)
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    match arg(0) {
        // open PATH: openat(AT_FDCWD, PATH, O_WRONLY|O_CREAT|O_CLOEXEC, 0600)
        "open" => {
            let p = cstr(arg(1));
            // SAFETY: valid NUL-terminated path.
            let fd = unsafe {
                libc::openat(
                    libc::AT_FDCWD,
                    p.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC,
                    0o600,
                )
            };
            let fd = check("openat", fd.into())?;
            println!("{fd}");
        }
        // dup2 PATH NEWFD
        "dup2" => {
            let p = cstr(arg(1));
            let newfd: i32 = arg(2).parse().map_err(|e| format!("newfd: {e}"))?;
            // SAFETY: valid path; dup2 on descriptors we own.
            let fd = check(
                "open",
                unsafe { libc::open(p.as_ptr(), libc::O_RDONLY) }.into(),
            )?;
            let r = check("dup2", unsafe { libc::dup2(fd as i32, newfd) }.into())?;
            println!("{fd} {r}");
        }
        // symlinkat TARGET LINKPATH
        "symlinkat" => {
            let (t, l) = (cstr(arg(1)), cstr(arg(2)));
            // SAFETY: valid paths.
            check(
                "symlinkat",
                unsafe { libc::symlinkat(t.as_ptr(), libc::AT_FDCWD, l.as_ptr()) }.into(),
            )?;
        }
        // link OLD NEW (hard link)
        "link" => {
            let (o, n) = (cstr(arg(1)), cstr(arg(2)));
            // SAFETY: valid paths.
            check(
                "linkat",
                unsafe { libc::linkat(libc::AT_FDCWD, o.as_ptr(), libc::AT_FDCWD, n.as_ptr(), 0) }
                    .into(),
            )?;
        }
        // unlinkat PATH
        "unlinkat" => {
            let p = cstr(arg(1));
            // SAFETY: valid path.
            check(
                "unlinkat",
                unsafe { libc::unlinkat(libc::AT_FDCWD, p.as_ptr(), 0) }.into(),
            )?;
        }
        // renameat2 OLD NEW (RENAME_NOREPLACE)
        "renameat2" => {
            let (o, n) = (cstr(arg(1)), cstr(arg(2)));
            // SAFETY: valid paths; raw syscall with the documented argument order.
            check("renameat2", unsafe {
                libc::syscall(
                    libc::SYS_renameat2,
                    libc::AT_FDCWD,
                    o.as_ptr(),
                    libc::AT_FDCWD,
                    n.as_ptr(),
                    libc::RENAME_NOREPLACE,
                )
            })?;
        }
        // memfd NAME
        "memfd" => {
            let n = cstr(arg(1));
            // SAFETY: valid name.
            let fd = check("memfd_create", unsafe {
                libc::syscall(libc::SYS_memfd_create, n.as_ptr(), libc::MFD_CLOEXEC)
            })?;
            println!("{fd}");
        }
        // ptrace-attach: fork a child, PTRACE_ATTACH to it, detach, reap.
        "ptrace-attach" => {
            // SAFETY: fork in a single-threaded helper; the child only pauses.
            let child = unsafe { libc::fork() };
            if child == 0 {
                loop {
                    // SAFETY: pause has no preconditions.
                    unsafe { libc::pause() };
                }
            }
            check("fork", child.into())?;
            // SAFETY: ptrace/waitpid/kill on our own child.
            let r = unsafe {
                libc::ptrace(
                    libc::PTRACE_ATTACH,
                    child,
                    std::ptr::null_mut::<libc::c_void>(),
                    std::ptr::null_mut::<libc::c_void>(),
                )
            };
            let mut status = 0;
            unsafe {
                libc::waitpid(child, &mut status, 0);
                libc::ptrace(
                    libc::PTRACE_DETACH,
                    child,
                    std::ptr::null_mut::<libc::c_void>(),
                    std::ptr::null_mut::<libc::c_void>(),
                );
                libc::kill(child, libc::SIGKILL);
                libc::waitpid(child, &mut status, 0);
            }
            check("ptrace", r)?;
            println!("{child}");
        }
        // listen [ADDR]: bind ADDR (default 127.0.0.1) port 0, print the
        // port, accept one connection, print the peer.
        "listen" => {
            let ip: std::net::IpAddr = args
                .get(1)
                .map_or("127.0.0.1", String::as_str)
                .parse()
                .map_err(|e| format!("address: {e}"))?;
            let l = TcpListener::bind((ip, 0)).map_err(|e| e.to_string())?;
            let port = l.local_addr().map_err(|e| e.to_string())?.port();
            println!("{port}");
            std::io::stdout().flush().map_err(|e| e.to_string())?;
            let (mut s, peer) = l.accept().map_err(|e| e.to_string())?;
            let mut buf = [0u8; 16];
            let _ = s.read(&mut buf);
            println!("{peer}");
        }
        // connect PORT [ADDR]: connect to ADDR (default 127.0.0.1):PORT, send a byte.
        "connect" => {
            let port: u16 = arg(1).parse().map_err(|e| format!("port: {e}"))?;
            let ip: std::net::IpAddr = args
                .get(2)
                .map_or("127.0.0.1", String::as_str)
                .parse()
                .map_err(|e| format!("address: {e}"))?;
            let mut s = TcpStream::connect((ip, port)).map_err(|e| e.to_string())?;
            let local = s.local_addr().map_err(|e| e.to_string())?;
            s.write_all(b"x").map_err(|e| e.to_string())?;
            println!("{local}");
        }
        // mkdir-then-open DIR FILE: a mkdirat the test leaves out of the interest set, then an openat.
        "mkdir-then-open" => {
            let (d, f) = (cstr(arg(1)), cstr(arg(2)));
            // SAFETY: valid paths.
            check(
                "mkdirat",
                unsafe { libc::mkdirat(libc::AT_FDCWD, d.as_ptr(), 0o700) }.into(),
            )?;
            check(
                "openat",
                unsafe {
                    libc::openat(
                        libc::AT_FDCWD,
                        f.as_ptr(),
                        libc::O_RDONLY | libc::O_CREAT,
                        0o600,
                    )
                }
                .into(),
            )?;
        }
        // userfaultfd-loop N: N userfaultfd() calls (a syscall nothing else on a
        // test machine makes), closing each returned fd.
        "userfaultfd-loop" => {
            let n: u64 = arg(1).parse().map_err(|e| format!("count: {e}"))?;
            for _ in 0..n {
                // SAFETY: userfaultfd with flags 0; close only a returned fd.
                let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, 0) };
                if fd >= 0 {
                    unsafe { libc::close(fd as i32) };
                }
            }
            println!("{n}");
        }
        // open-loop PATH N: N open+close pairs.
        "open-loop" => {
            let p = cstr(arg(1));
            let n: u64 = arg(2).parse().map_err(|e| format!("count: {e}"))?;
            for _ in 0..n {
                // SAFETY: valid path; close only a returned fd.
                let fd = unsafe { libc::open(p.as_ptr(), libc::O_RDONLY) };
                if fd >= 0 {
                    unsafe { libc::close(fd) };
                }
            }
        }
        // open-close-threads PATH N: a second thread opens PATH (read-only)
        // N times and the main thread closes each fd: the fd table is the
        // process's, whichever thread uses it.
        "open-close-threads" => {
            let p = cstr(arg(1));
            let n: u64 = arg(2).parse().map_err(|e| format!("count: {e}"))?;
            let (tx, rx) = std::sync::mpsc::sync_channel::<libc::c_int>(64);
            let opener = std::thread::spawn(move || {
                for _ in 0..n {
                    // SAFETY: valid path.
                    let fd = unsafe { libc::open(p.as_ptr(), libc::O_RDONLY) };
                    if fd >= 0 && tx.send(fd).is_err() {
                        break;
                    }
                }
            });
            for fd in rx {
                // SAFETY: an fd the opener thread got and handed over.
                unsafe { libc::close(fd) };
            }
            opener
                .join()
                .map_err(|_| "opener thread panicked".to_string())?;
        }
        // cloexec-exec PATH N: opens PATH N times with O_CLOEXEC, then
        // executes itself as `pipe-dup2-close FD` with FD the last of those
        // fds (exec closes them all without a close call).
        "cloexec-exec" => {
            let p = cstr(arg(1));
            let n: u32 = arg(2).parse().map_err(|e| format!("count: {e}"))?;
            let mut last = -1;
            for _ in 0..n {
                // SAFETY: valid path.
                last = check(
                    "open",
                    unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }.into(),
                )?;
            }
            let me = std::env::current_exe().map_err(|e| e.to_string())?;
            let err = std::os::unix::process::CommandExt::exec(
                std::process::Command::new(me).args(["pipe-dup2-close", &last.to_string()]),
            );
            return Err(format!("exec: {err}"));
        }
        // pipe-dup2-close FD: makes FD the read end of a new pipe (pipe and
        // dup2, calls a test can leave untraced), closes it, prints FD.
        "pipe-dup2-close" => {
            let fd: libc::c_int = arg(1).parse().map_err(|e| format!("fd: {e}"))?;
            let mut p = [0 as libc::c_int; 2];
            // SAFETY: p has room for the two fds; dup2 and close take fds we own.
            check("pipe", unsafe { libc::pipe(p.as_mut_ptr()) }.into())?;
            check("dup2", unsafe { libc::dup2(p[0], fd) }.into())?;
            check("close", unsafe { libc::close(fd) }.into())?;
            println!("{fd}");
        }
        // open-timed PATH N GAP_US: N opens of PATH (read-only), GAP_US
        // microseconds apart; prints CLOCK_BOOTTIME (ns) read just before each
        // open, so a test can compare the events' times with when they happened.
        "open-timed" => {
            let p = cstr(arg(1));
            let n: u64 = arg(2).parse().map_err(|e| format!("count: {e}"))?;
            let gap: u64 = arg(3).parse().map_err(|e| format!("gap: {e}"))?;
            let mut before = Vec::new();
            for i in 0..n {
                if i > 0 {
                    std::thread::sleep(std::time::Duration::from_micros(gap));
                }
                let mut ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: clock_gettime writes into a valid timespec.
                unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
                before.push(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
                // SAFETY: valid path; close only a returned fd.
                let fd = check(
                    "open",
                    unsafe { libc::open(p.as_ptr(), libc::O_RDONLY) }.into(),
                )?;
                unsafe { libc::close(fd as i32) };
            }
            let text: Vec<String> = before.iter().map(u64::to_string).collect();
            println!("{}", text.join(" "));
        }
        // read PATH: open PATH read-only (relative paths resolve against the cwd) and read it.
        "read" => {
            let p = cstr(arg(1));
            // SAFETY: valid path; read into a local buffer; close our fd.
            let fd = unsafe { libc::open(p.as_ptr(), libc::O_RDONLY) };
            if fd >= 0 {
                let mut buf = [0u8; 64];
                unsafe {
                    libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                    libc::close(fd);
                }
            }
            println!("{fd}");
        }
        // truncate PATH: open PATH for writing with O_TRUNC, as `: > PATH` does.
        "truncate" => {
            let p = cstr(arg(1));
            // SAFETY: valid path; close our fd.
            let fd = check(
                "open",
                unsafe { libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_TRUNC) }.into(),
            )?;
            unsafe { libc::close(fd as i32) };
        }
        // memfd-exec SRC ARGS...: copy SRC into a memfd and execute it from
        // there (fexecve), the fileless-malware technique.
        "memfd-exec" => {
            let bytes = std::fs::read(arg(1)).map_err(|e| format!("read {}: {e}", arg(1)))?;
            let name = cstr("payload");
            // SAFETY: memfd_create with a valid name; write our buffer; execveat
            // on the memfd with AT_EMPTY_PATH and NUL-terminated argv/envp arrays.
            let fd = check("memfd_create", unsafe {
                libc::syscall(libc::SYS_memfd_create, name.as_ptr(), 0)
            })? as i32;
            let mut off = 0;
            while off < bytes.len() {
                let n = unsafe { libc::write(fd, bytes[off..].as_ptr().cast(), bytes.len() - off) };
                if n <= 0 {
                    return Err("write to memfd failed".into());
                }
                off += n as usize;
            }
            let argv_c: Vec<CString> = args[1..].iter().map(|a| cstr(a)).collect();
            let mut argv: Vec<*const libc::c_char> = argv_c.iter().map(|a| a.as_ptr()).collect();
            argv.push(std::ptr::null());
            let envp: [*const libc::c_char; 1] = [std::ptr::null()];
            let empty = cstr("");
            unsafe {
                libc::syscall(
                    libc::SYS_execveat,
                    fd,
                    empty.as_ptr(),
                    argv.as_ptr(),
                    envp.as_ptr(),
                    libc::AT_EMPTY_PATH,
                )
            };
            return Err(format!("execveat: {}", std::io::Error::last_os_error()));
        }
        // packet-socket: socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)), the raw
        // link-layer socket of sniffers and ARP spoofers (needs CAP_NET_RAW).
        "packet-socket" => {
            // SAFETY: socket() with constant arguments; close our own fd.
            let fd = check(
                "socket(AF_PACKET)",
                unsafe {
                    libc::socket(
                        libc::AF_PACKET,
                        libc::SOCK_RAW,
                        i32::from((libc::ETH_P_ALL as u16).to_be()),
                    )
                }
                .into(),
            )?;
            unsafe { libc::close(fd as i32) };
        }
        other => return Err(format!("unknown action {other:?}")),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("saker-testload: {e}");
            ExitCode::FAILURE
        }
    }
}
