//! Test resources (event-generator's `pkg/test/resource/*`): open file
//! descriptors of each subtype, a connected client and server, and running
//! processes (from a file, or fileless from a memfd). Each exposes its fields
//! for bindings and is destroyed in reverse order after the steps.

use std::ffi::CString;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::Fields;
use super::process::{ProcessSpec, Started, find_in_path, mkdir_all};
use crate::spec::{FdSubtype, L4Proto, Resource};

/// A created resource.
#[derive(Debug)]
pub(crate) enum Created {
    Fds {
        fields: Fields,
        fds: Vec<i64>,
        /// Created by the resource: removed at destroy.
        remove_dir: Option<PathBuf>,
        remove_file: Option<PathBuf>,
    },
    ClientServer {
        fields: Fields,
        fds: Vec<i64>,
        remove_file: Option<PathBuf>,
    },
    Process {
        fields: Fields,
        proc: Started,
        memfd: Option<i64>,
    },
}

impl Created {
    pub fn create(r: &Resource) -> Result<Created, String> {
        match r {
            Resource::Fd {
                subtype,
                file_path,
                dir_path,
                name,
            } => create_fd(*subtype, file_path.as_deref(), dir_path.as_deref(), name),
            Resource::ClientServer {
                l4_proto, address, ..
            } => create_client_server(*l4_proto, address),
            Resource::Process {
                exe_path,
                args,
                exe,
                proc_name,
                env,
                file_less,
                ..
            } => {
                let spec = ProcessSpec {
                    exe_path: exe_path.clone(),
                    name: proc_name.clone(),
                    arg0: exe.clone(),
                    args: args.clone(),
                    ..Default::default()
                };
                let mut full_env: Vec<(String, String)> = std::env::vars().collect();
                full_env.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
                let cat = find_in_path("cat").ok_or("no `cat` in PATH")?;
                if *file_less {
                    start_fileless(&spec, &cat, &full_env)
                } else {
                    let proc = Started::start(&spec, &cat, &full_env, Stdio::piped())?;
                    let mut fields = Fields::new();
                    fields.insert("pid".into(), proc.pid());
                    Ok(Created::Process {
                        fields,
                        proc,
                        memfd: None,
                    })
                }
            }
        }
    }

    pub fn fields(&self) -> Fields {
        match self {
            Created::Fds { fields, .. }
            | Created::ClientServer { fields, .. }
            | Created::Process { fields, .. } => fields.clone(),
        }
    }

    pub fn destroy(self) {
        match self {
            Created::Fds {
                fds,
                remove_dir,
                remove_file,
                ..
            } => {
                close_all(&fds);
                if let Some(d) = remove_dir {
                    let _ = std::fs::remove_dir_all(d);
                } else if let Some(f) = remove_file {
                    let _ = std::fs::remove_file(f);
                }
            }
            Created::ClientServer {
                fds, remove_file, ..
            } => {
                close_all(&fds);
                if let Some(f) = remove_file {
                    let _ = std::fs::remove_file(f);
                }
            }
            Created::Process {
                mut proc, memfd, ..
            } => {
                proc.kill();
                proc.cleanup();
                if let Some(fd) = memfd {
                    close_all(&[fd]);
                }
            }
        }
    }
}

fn close_all(fds: &[i64]) {
    for fd in fds {
        // SAFETY: closing fds this resource opened.
        unsafe { libc::close(*fd as i32) };
    }
}

fn cpath(p: &Path) -> Result<CString, String> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| format!("{}: NUL in path", p.display()))
}

fn last_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

fn create_fd(
    subtype: FdSubtype,
    file_path: Option<&str>,
    dir_path: Option<&str>,
    name: &str,
) -> Result<Created, String> {
    let mut fields = Fields::new();
    let mut remove_dir = None;
    let mut remove_file = None;
    // SAFETY (all blocks): plain fd-creating syscalls with valid arguments.
    let fds: Vec<i64> = match subtype {
        FdSubtype::File => {
            let path = PathBuf::from(file_path.ok_or("subtype file needs `filePath`")?);
            let dir = path.parent().unwrap_or(Path::new("/"));
            remove_dir = mkdir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let must_create = remove_dir.is_some() || !path.exists();
            let mut flags = libc::O_RDWR;
            if must_create {
                flags |= libc::O_CREAT;
            }
            let c = cpath(&path)?;
            let fd = unsafe { libc::open(c.as_ptr(), flags, 0o644) };
            if fd < 0 {
                let e = last_err(&format!("open {}", path.display()));
                if let Some(d) = &remove_dir {
                    let _ = std::fs::remove_dir_all(d);
                }
                return Err(e);
            }
            if must_create && remove_dir.is_none() {
                remove_file = Some(path);
            }
            fields.insert("fd".into(), i64::from(fd));
            vec![i64::from(fd)]
        }
        FdSubtype::Directory => {
            let path = PathBuf::from(dir_path.ok_or("subtype directory needs `dirPath`")?);
            remove_dir = mkdir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let c = cpath(&path)?;
            let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
            if fd < 0 {
                let e = last_err(&format!("open {}", path.display()));
                if let Some(d) = &remove_dir {
                    let _ = std::fs::remove_dir_all(d);
                }
                return Err(e);
            }
            fields.insert("fd".into(), i64::from(fd));
            vec![i64::from(fd)]
        }
        FdSubtype::Pipe => {
            let mut p = [0i32; 2];
            if unsafe { libc::pipe(p.as_mut_ptr()) } != 0 {
                return Err(last_err("pipe"));
            }
            fields.insert("readfd".into(), i64::from(p[0]));
            fields.insert("writefd".into(), i64::from(p[1]));
            vec![i64::from(p[0]), i64::from(p[1])]
        }
        other => {
            let fd = match other {
                FdSubtype::Event => unsafe { libc::eventfd(0, 0) },
                FdSubtype::Signalfd => {
                    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
                    unsafe { libc::sigemptyset(&mut set) };
                    unsafe { libc::signalfd(-1, &set, 0) }
                }
                FdSubtype::Eventpoll => unsafe { libc::epoll_create1(0) },
                FdSubtype::Inotify => unsafe { libc::inotify_init() },
                FdSubtype::Memfd => {
                    let n = CString::new(name).map_err(|_| "NUL in name".to_string())?;
                    unsafe { libc::memfd_create(n.as_ptr(), 0) }
                }
                FdSubtype::File | FdSubtype::Directory | FdSubtype::Pipe => -1,
            };
            if fd < 0 {
                return Err(last_err(&format!("{other:?} fd")));
            }
            fields.insert("fd".into(), i64::from(fd));
            vec![i64::from(fd)]
        }
    };
    Ok(Created::Fds {
        fields,
        fds,
        remove_dir,
        remove_file,
    })
}

/// A socket address as the kernel takes it.
pub(crate) struct SockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl SockAddr {
    /// `host:port`, `[v6]:port` or `unix://PATH`.
    pub fn parse(s: &str) -> Result<SockAddr, String> {
        // SAFETY: sockaddr_storage is plain data; all-zero is valid.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        if let Some(path) = s.strip_prefix("unix://") {
            let un = &mut storage as *mut _ as *mut libc::sockaddr_un;
            // SAFETY: storage is large enough for sockaddr_un.
            let un = unsafe { &mut *un };
            un.sun_family = libc::AF_UNIX as libc::sa_family_t;
            let b = path.as_bytes();
            if b.len() >= un.sun_path.len() {
                return Err(format!("unix socket path too long: {path}"));
            }
            for (d, s) in un.sun_path.iter_mut().zip(b) {
                *d = *s as libc::c_char;
            }
            return Ok(SockAddr {
                storage,
                len: std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            });
        }
        // Drop an IPv6 zone (`fe80::1%eth0`), as event-generator does.
        let cleaned = match (s.find('%'), s.rfind(']')) {
            (Some(p), Some(b)) if p < b => format!("{}{}", &s[..p], &s[b..]),
            _ => s.to_string(),
        };
        let addr: SocketAddr = cleaned.parse().map_err(|e| format!("address `{s}`: {e}"))?;
        if addr.port() == 0 {
            return Err(format!("address `{s}`: port must be in 1..=65535"));
        }
        Ok(Self::from_std(addr, storage))
    }

    fn from_std(addr: SocketAddr, mut storage: libc::sockaddr_storage) -> SockAddr {
        let len = match addr {
            SocketAddr::V4(a) => {
                // SAFETY: storage is large enough for sockaddr_in.
                let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
                std::mem::size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                // SAFETY: storage is large enough for sockaddr_in6.
                let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                std::mem::size_of::<libc::sockaddr_in6>()
            }
        };
        SockAddr {
            storage,
            len: len as libc::socklen_t,
        }
    }

    pub fn ptr(&self) -> *const libc::sockaddr {
        &self.storage as *const _ as *const libc::sockaddr
    }

    pub fn len(&self) -> libc::socklen_t {
        self.len
    }
}

/// A server bound to `address` and a client connected to it (datagram: the
/// client is connected to the server's address); `server.fd` is the
/// listening (or bound) socket, `client.fd` the client's.
fn create_client_server(proto: L4Proto, address: &str) -> Result<Created, String> {
    let mut fields = Fields::new();
    if proto == L4Proto::Unix {
        if !address.is_empty() {
            return Err("address must be empty for unix sockets".into());
        }
        let path = PathBuf::from(format!(
            "/tmp/clientserver{}",
            super::process::random_seq(10)
        ));
        let listener = std::os::unix::net::UnixListener::bind(&path)
            .map_err(|e| format!("bind {}: {e}", path.display()))?;
        let client = std::os::unix::net::UnixStream::connect(&path)
            .map_err(|e| format!("connect {}: {e}", path.display()))?;
        let (conn, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
        let s = i64::from(listener.into_raw_fd());
        let c = i64::from(client.into_raw_fd());
        let k = i64::from(conn.into_raw_fd());
        fields.insert("server.fd".into(), s);
        fields.insert("client.fd".into(), c);
        return Ok(Created::ClientServer {
            fields,
            fds: vec![c, k, s],
            remove_file: Some(path),
        });
    }
    let addr: SocketAddr = address
        .parse()
        .map_err(|e| format!("address `{address}`: {e}"))?;
    let want_v4 = matches!(proto, L4Proto::Tcp4 | L4Proto::Udp4);
    if want_v4 != matches!(addr.ip(), IpAddr::V4(_)) {
        return Err("protocol and address must both be IPv4 or IPv6".into());
    }
    match proto {
        L4Proto::Tcp4 | L4Proto::Tcp6 => {
            let listener =
                std::net::TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
            let server_fd = i64::from(listener.as_raw_fd());
            let client =
                std::net::TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
            let (conn, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
            let c = i64::from(client.into_raw_fd());
            let k = i64::from(conn.into_raw_fd());
            let s = i64::from(listener.into_raw_fd());
            debug_assert_eq!(s, server_fd);
            fields.insert("server.fd".into(), s);
            fields.insert("client.fd".into(), c);
            Ok(Created::ClientServer {
                fields,
                fds: vec![c, k, s],
                remove_file: None,
            })
        }
        L4Proto::Udp4 | L4Proto::Udp6 => {
            let server =
                std::net::UdpSocket::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
            let any: SocketAddr = if want_v4 {
                "0.0.0.0:0".parse().map_err(|e| format!("{e}"))?
            } else {
                "[::]:0".parse().map_err(|e| format!("{e}"))?
            };
            let client = std::net::UdpSocket::bind(any).map_err(|e| format!("bind: {e}"))?;
            client
                .connect(addr)
                .map_err(|e| format!("connect {addr}: {e}"))?;
            let s = i64::from(server.into_raw_fd());
            let c = i64::from(client.into_raw_fd());
            fields.insert("server.fd".into(), s);
            fields.insert("client.fd".into(), c);
            Ok(Created::ClientServer {
                fields,
                fds: vec![c, s],
                remove_file: None,
            })
        }
        L4Proto::Unix => Err("unreachable".into()),
    }
}

/// A process run from an anonymous memory file: the command's bytes are
/// written to a `memfd_create` file, which is executed with
/// `execveat(fd, "", ..., AT_EMPTY_PATH)` (Falco: `proc.is_exe_from_memfd`).
fn start_fileless(
    spec: &ProcessSpec,
    command: &Path,
    env: &[(String, String)],
) -> Result<Created, String> {
    let data = std::fs::read(command).map_err(|e| format!("{}: {e}", command.display()))?;
    let name = CString::new(spec.name.clone().unwrap_or_else(|| "memfd".into()))
        .map_err(|_| "NUL in name".to_string())?;
    // SAFETY: memfd_create with a valid name; write of our buffer.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), 0) };
    if fd < 0 {
        return Err(last_err("memfd_create"));
    }
    let mut f = std::mem::ManuallyDrop::new(unsafe {
        <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd)
    });
    std::io::Write::write_all(&mut *f, &data).map_err(|e| format!("write memfd: {e}"))?;
    let argv0 = spec
        .arg0
        .clone()
        .or_else(|| spec.name.clone())
        .unwrap_or_else(|| "memfd".into());
    let mut argv: Vec<CString> = vec![CString::new(argv0).map_err(|_| "NUL in argv0")?];
    for a in super::process::split_args(spec.args.as_deref().unwrap_or("")) {
        argv.push(CString::new(a).map_err(|_| "NUL in args")?);
    }
    let envp: Vec<CString> = env
        .iter()
        .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok())
        .collect();
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    let empty = c"";
    // The child reports a failed execveat through a close-on-exec pipe:
    // end of file means the exec succeeded.
    let mut report = [0i32; 2];
    // SAFETY: pipe2 into a two-int array.
    if unsafe { libc::pipe2(report.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(last_err("pipe2"));
    }
    // SAFETY: fork, then in the child only async-signal-safe calls (open,
    // dup2, execveat, write, _exit) on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(last_err("fork"));
    }
    if pid == 0 {
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
            if null >= 0 {
                libc::dup2(null, 0);
            }
            libc::syscall(
                libc::SYS_execveat,
                fd,
                empty.as_ptr(),
                argv_p.as_ptr(),
                envp_p.as_ptr(),
                libc::AT_EMPTY_PATH,
            );
            let errno = *libc::__errno_location();
            libc::write(report[1], (&errno as *const i32).cast(), 4);
            libc::_exit(127);
        }
    }
    // SAFETY: closing our copy of the write end, then reading 4 bytes.
    let mut errno = 0i32;
    let n = unsafe {
        libc::close(report[1]);
        let n = libc::read(report[0], (&mut errno as *mut i32).cast(), 4);
        libc::close(report[0]);
        n
    };
    if n == 4 {
        // SAFETY: reap the child that failed to exec.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        return Err(format!(
            "execveat of the memfd: {}",
            std::io::Error::from_raw_os_error(errno)
        ));
    }
    let proc = Started::adopt(pid);
    let mut fields = Fields::new();
    fields.insert("pid".into(), i64::from(pid));
    Ok(Created::Process {
        fields,
        proc,
        memfd: Some(i64::from(fd)),
    })
}
