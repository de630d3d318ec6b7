//! File descriptors: what each open fd of a process refers to.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// One end of a connection: address and port.
pub type Endpoint = (IpAddr, u16);

/// Falco's fd types (`scap_fd_type`), with their `fd.type` and `fd.typechar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FdKind {
    File,
    Directory,
    Ipv4,
    Ipv6,
    Unix,
    Pipe,
    Event,
    Signalfd,
    Eventpoll,
    Inotify,
    Timerfd,
    Netlink,
    Bpf,
    Userfaultfd,
    IoUring,
    Memfd,
    Pidfd,
    Unknown,
}

impl FdKind {
    /// `fd.type`.
    pub fn name(self) -> &'static str {
        match self {
            FdKind::File => "file",
            FdKind::Directory => "directory",
            FdKind::Ipv4 => "ipv4",
            FdKind::Ipv6 => "ipv6",
            FdKind::Unix => "unix",
            FdKind::Pipe => "pipe",
            FdKind::Event => "event",
            FdKind::Signalfd => "signalfd",
            FdKind::Eventpoll => "eventpoll",
            FdKind::Inotify => "inotify",
            FdKind::Timerfd => "timerfd",
            FdKind::Netlink => "netlink",
            FdKind::Bpf => "bpf",
            FdKind::Userfaultfd => "userfaultfd",
            FdKind::IoUring => "io_uring",
            FdKind::Memfd => "memfd",
            FdKind::Pidfd => "pidfd",
            FdKind::Unknown => "unknown",
        }
    }

    /// `fd.typechar`.
    pub fn typechar(self) -> char {
        match self {
            FdKind::File => 'f',
            FdKind::Directory => 'd',
            FdKind::Ipv4 => '4',
            FdKind::Ipv6 => '6',
            FdKind::Unix => 'u',
            FdKind::Pipe => 'p',
            FdKind::Event => 'e',
            FdKind::Signalfd => 's',
            FdKind::Eventpoll => 'l',
            FdKind::Inotify => 'i',
            FdKind::Timerfd => 't',
            FdKind::Netlink => 'n',
            FdKind::Bpf => 'b',
            FdKind::Userfaultfd => 'u',
            FdKind::IoUring => 'r',
            FdKind::Memfd => 'm',
            FdKind::Pidfd => 'P',
            FdKind::Unknown => 'o',
        }
    }

    pub fn is_inet(self) -> bool {
        matches!(self, FdKind::Ipv4 | FdKind::Ipv6)
    }
}

/// Which side of a connection the process is on (decides server vs client fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// connect()ed, or sent to an address: the process is the client.
    Client,
    /// accept()ed or bound+listening: the process is the server.
    Server,
    Unknown,
}

/// What one fd refers to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FdInfo {
    pub kind: FdKind,
    /// `fd.name`: resolved path, `lip:lport->rip:rport`, unix path, `memfd:name`, ...
    pub name: String,
    /// Open flags (files).
    pub flags: u64,
    /// Socket protocol number (IPPROTO_TCP = 6, IPPROTO_UDP = 17), 0 otherwise.
    pub l4proto: u16,
    pub local: Option<Endpoint>,
    pub remote: Option<Endpoint>,
    pub role: Role,
    /// `fd.connected`.
    pub connected: bool,
    /// `fd.name_changed`: the last event changed the name (e.g. sendto to a new address).
    pub name_changed: bool,
}

impl FdInfo {
    pub fn new(kind: FdKind, name: String) -> Self {
        FdInfo {
            kind,
            name,
            flags: 0,
            l4proto: 0,
            local: None,
            remote: None,
            role: Role::Unknown,
            connected: false,
            name_changed: false,
        }
    }

    /// (server, client) endpoints according to the role.
    pub fn server_client(&self) -> (Option<Endpoint>, Option<Endpoint>) {
        match self.role {
            Role::Server => (self.local, self.remote),
            Role::Client | Role::Unknown => (self.remote, self.local),
        }
    }

    /// `fd.l4proto`: tcp, udp, icmp, raw or `<NA>`-like unknown.
    pub fn l4proto_name(&self) -> Option<&'static str> {
        if !self.kind.is_inet() {
            return None;
        }
        Some(match self.l4proto {
            6 => "tcp",
            17 => "udp",
            1 | 58 => "icmp",
            255 => "raw",
            _ => "unknown",
        })
    }

    /// Applies Falco's IPv4-mapped rule to an inet socket: when every known
    /// endpoint is IPv4, IPv4-mapped IPv6 (`::ffff:a.b.c.d`) or all-zero, the
    /// socket is IPv4 and its endpoints are the IPv4 addresses; otherwise it
    /// is IPv6. So an IPv6 socket talking to an IPv4 peer has `fd.type=ipv4`
    /// and `fd.sip=127.0.0.1`, and IPv4 loopback and network checks hold for
    /// it (falcosecurity/libs `userspace/libsinsp/parsers.cpp`: every tuple,
    /// bind and sockaddr is checked with `sinsp_utils::is_ipv4_mapped_ipv6`;
    /// `threadinfo.cpp` does the same for sockets read from /proc). A socket
    /// with no endpoint yet keeps the family it was created with.
    pub fn apply_ipv4_mapping(&mut self) {
        if !self.kind.is_inet() || (self.local.is_none() && self.remote.is_none()) {
            return;
        }
        let v4 = |e: Option<Endpoint>| e.map(|(ip, port)| (crate::event::falco_ipv4(ip), port));
        let (local, remote) = (v4(self.local), v4(self.remote));
        let all_v4 = [local, remote].iter().flatten().all(|(ip, _)| ip.is_some());
        if all_v4 {
            self.kind = FdKind::Ipv4;
            let back = |e: Option<(Option<std::net::Ipv4Addr>, u16)>| {
                e.and_then(|(ip, port)| ip.map(|ip| (IpAddr::V4(ip), port)))
            };
            self.local = back(local);
            self.remote = back(remote);
        } else {
            // A real IPv6 peer: any IPv4 endpoint learnt earlier is written
            // in its mapped form, so both ends have one family.
            self.kind = FdKind::Ipv6;
            let v6 = |e: Option<Endpoint>| {
                e.map(|(ip, port)| match ip {
                    IpAddr::V4(v4) => (IpAddr::V6(v4.to_ipv6_mapped()), port),
                    v6 => (v6, port),
                })
            };
            self.local = v6(self.local);
            self.remote = v6(self.remote);
        }
    }

    /// Sets the socket name from its endpoints as Falco does:
    /// `lip:lport->rip:rport` (IPv6 addresses unbracketed, as
    /// `sinsp_utils::sockinfo_to_str` prints them), after
    /// [`FdInfo::apply_ipv4_mapping`].
    pub fn set_inet_name(&mut self) {
        self.apply_ipv4_mapping();
        let fmt = |e: Option<Endpoint>| match e {
            Some((ip, port)) => format!("{ip}:{port}"),
            None => String::new(),
        };
        let (server, client) = self.server_client();
        let name = match (client, server) {
            (Some(_), Some(_)) => format!("{}->{}", fmt(client), fmt(server)),
            (None, Some(_)) => fmt(server),
            (Some(_), None) => fmt(client),
            (None, None) => String::new(),
        };
        self.name_changed = name != self.name;
        self.name = name;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_names_put_client_first() {
        let mut f = FdInfo::new(FdKind::Ipv4, String::new());
        f.local = Some(("10.0.0.1".parse().unwrap(), 40000));
        f.remote = Some(("10.0.0.2".parse().unwrap(), 443));
        f.role = Role::Client;
        f.set_inet_name();
        assert_eq!(f.name, "10.0.0.1:40000->10.0.0.2:443");
        assert!(f.name_changed);
        f.role = Role::Server;
        f.set_inet_name();
        assert_eq!(f.name, "10.0.0.2:443->10.0.0.1:40000");
        f.l4proto = 6;
        assert_eq!(f.l4proto_name(), Some("tcp"));
        assert_eq!(FdKind::Ipv6.typechar(), '6');
        assert_eq!(FdKind::File.name(), "file");
    }
}
