//! One-line text rendering of an event, in the spirit of sysdig's default
//! output: `time cpu comm (tgid:tid) < type args`.

use std::fmt::{self, Write};

use super::{Detail, Event, SockAddr, SockTuple, flags};
use crate::alert::format_clock_nanos;

fn fd_name(fd: i64) -> String {
    if fd == super::AT_FDCWD {
        "AT_FDCWD".into()
    } else {
        fd.to_string()
    }
}

fn sockaddr(a: &SockAddr) -> String {
    match a {
        SockAddr::Inet { ip, port } if ip.is_ipv6() => format!("[{ip}]:{port}"),
        SockAddr::Inet { ip, port } => format!("{ip}:{port}"),
        SockAddr::Unix { path } => path.clone(),
        SockAddr::Other { family } => format!("family={family}"),
    }
}

/// `lip:lport->rip:rport` (Falco's fd.name for connected sockets), or the unix path.
///
/// As Falco's `event.cpp` renders a socket tuple: an IPv6 tuple whose ends
/// are IPv4-mapped is printed as IPv4, and IPv6 addresses are not bracketed
/// (`::1:40000->::1:80`).
pub fn tuple_text(t: &SockTuple) -> String {
    let t = t.unmapped();
    let end = |e: &Option<(std::net::IpAddr, u16)>| match e {
        Some((ip, port)) => format!("{ip}:{port}"),
        None => String::new(),
    };
    match (&t.local, &t.remote) {
        (Some(_), Some(_)) => format!("{}->{}", end(&t.local), end(&t.remote)),
        _ => t.unix_path.clone().unwrap_or_default(),
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} ({}:{}) < {}",
            format_clock_nanos(self.ts_wall_ns),
            self.cpu,
            self.comm,
            self.tgid,
            self.tid,
            self.etype
        )?;
        let mut a = String::new();
        match &self.detail {
            Detail::Open {
                dirfd,
                path,
                flags: fl,
                mode,
                ..
            } => {
                let _ = write!(
                    a,
                    " fd={} dirfd={} name={path} flags={} mode={mode:#o}",
                    self.ret,
                    fd_name(*dirfd),
                    flags::open_flags(*fl)
                );
            }
            Detail::Close { fd } => {
                let _ = write!(a, " fd={fd}");
            }
            Detail::Dup {
                oldfd,
                newfd,
                flags: fl,
            } => {
                let _ = write!(a, " oldfd={oldfd}");
                if let Some(n) = newfd {
                    let _ = write!(a, " newfd={n} flags={fl}");
                }
            }
            Detail::Fcntl { fd, cmd, arg } => {
                let _ = write!(a, " fd={fd} cmd=");
                match super::fcntl::name(*cmd) {
                    Some(n) => a.push_str(n),
                    None => {
                        let _ = write!(a, "{cmd}");
                    }
                }
                let _ = write!(a, " arg={arg:#x}");
            }
            Detail::Socket {
                domain,
                sock_type,
                protocol,
            } => {
                let _ = write!(
                    a,
                    " domain={} type={} proto={protocol}",
                    flags::socket_family(*domain),
                    flags::socket_type(*sock_type)
                );
            }
            Detail::SocketIo {
                fd, addr, tuple, ..
            } => {
                let _ = write!(a, " fd={fd}");
                if let Some(t) = tuple {
                    let _ = write!(a, " tuple={}", tuple_text(t));
                }
                if let Some(ad) = addr {
                    let _ = write!(a, " addr={}", sockaddr(ad));
                }
            }
            Detail::Listen { fd, backlog } => {
                let _ = write!(a, " fd={fd} backlog={backlog}");
            }
            Detail::Ptrace {
                request,
                pid,
                addr,
                data,
            } => {
                let _ = write!(
                    a,
                    " request={} pid={pid} addr={addr:#x} data={data:#x}",
                    flags::ptrace_request(*request)
                );
            }
            Detail::Module { fd, len, uargs, .. } => {
                match fd {
                    Some(fd) => {
                        let _ = write!(a, " fd={fd}");
                    }
                    None => {
                        let _ = write!(a, " len={len}");
                    }
                }
                let _ = write!(a, " uargs={uargs}");
            }
            Detail::TwoPaths {
                olddirfd,
                oldpath,
                newdirfd,
                newpath,
                flags: fl,
            } => {
                let _ = write!(
                    a,
                    " olddir={} oldpath={oldpath} newdir={} newpath={newpath} flags={fl}",
                    fd_name(*olddirfd),
                    fd_name(*newdirfd)
                );
            }
            Detail::Symlink {
                target,
                newdirfd,
                linkpath,
            } => {
                let _ = write!(
                    a,
                    " target={target} linkdirfd={} linkpath={linkpath}",
                    fd_name(*newdirfd)
                );
            }
            Detail::PathOp {
                dirfd,
                path,
                mode,
                flags: fl,
            } => {
                let _ = write!(
                    a,
                    " dirfd={} path={path} mode={mode:#o} flags={fl}",
                    fd_name(*dirfd)
                );
            }
            Detail::Fchmod { fd, mode } => {
                let _ = write!(a, " fd={fd} mode={mode:#o}");
            }
            Detail::SetId { ids } => {
                let _ = write!(a, " ids={ids:?}");
            }
            Detail::Setns { fd, nstype } => {
                let _ = write!(a, " fd={fd} nstype={}", flags::clone_flags(*nstype));
            }
            Detail::Unshare { flags: fl } => {
                let _ = write!(a, " flags={}", flags::clone_flags(*fl));
            }
            Detail::Bpf { cmd } => {
                let _ = write!(a, " cmd={cmd}");
            }
            Detail::MemfdCreate { name, flags: fl } => {
                let _ = write!(a, " name={name} flags={}", flags::memfd_flags(*fl));
            }
            Detail::Userfaultfd { flags: fl } => {
                let _ = write!(a, " flags={fl}");
            }
            Detail::Chdir { path, fd, cwd } => {
                if let Some(p) = path {
                    let _ = write!(a, " path={p}");
                }
                if let Some(fd) = fd {
                    let _ = write!(a, " fd={fd}");
                }
                let _ = write!(a, " cwd={cwd}");
            }
            Detail::ExecFailed {
                dirfd, filename, ..
            } => {
                let _ = write!(a, " dirfd={} filename={filename}", fd_name(*dirfd));
            }
            Detail::Exec(x) => {
                let _ = write!(
                    a,
                    " filename={} exe={} args=[{}] cwd={} uid={} tty={}",
                    x.filename,
                    x.exe_path,
                    x.args.join(" "),
                    x.cwd,
                    self.uid,
                    x.tty
                );
                if x.exe_from_memfd {
                    a.push_str(" exe_from_memfd");
                }
            }
            Detail::Fork {
                child_tid,
                child_tgid,
                clone_flags,
                ..
            } => {
                let _ = write!(
                    a,
                    " child={child_tgid}:{child_tid} flags={}",
                    flags::clone_flags(*clone_flags)
                );
            }
            Detail::Exit { status, group_dead } => {
                let _ = write!(a, " status={status} group_dead={group_dead}");
            }
            Detail::Other { args } => {
                let _ = write!(a, " args={args:x?}");
            }
        }
        f.write_str(&a)?;
        if !matches!(
            self.detail,
            Detail::Exec(_) | Detail::Fork { .. } | Detail::Exit { .. }
        ) {
            write!(f, " res={}", self.ret)?;
            if self.ret < 0 {
                write!(f, "({})", flags::result_name(self.ret))?;
            }
        }
        if self.truncated {
            f.write_str(" [truncated]")?;
        }
        Ok(())
    }
}
