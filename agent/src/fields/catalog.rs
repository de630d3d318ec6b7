//! The catalog table: every field the rules engine knows.
//!
//! Names, types and descriptions follow libsinsp's filterchecks (`falco --list`).
//! The last column is `live`: whether live capture supplies the field
//! (`fields::extract::is_live`, which a test keeps equal to this column).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::{ArgKind, FieldInfo, FieldType, Multiplicity};

macro_rules! fields {
    ($( $id:ident: $name:literal, $ty:ident, $arg:ident, $mult:ident, $live:literal, $desc:literal; )*) => {
        /// Numeric id of a catalog field; the index into [`catalog`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum FieldId { $($id,)* }

        static CATALOG: &[FieldInfo] = &[
            $( FieldInfo {
                id: FieldId::$id,
                name: $name,
                ty: FieldType::$ty,
                arg: ArgKind::$arg,
                multiplicity: Multiplicity::$mult,
                description: $desc,
                live: $live,
            }, )*
        ];
    };
}

fields! {
    // ---- evt.* ----
    EvtNum: "evt.num", UInt, None, Single, true, "Event number.";
    EvtTime: "evt.time", String, None, Single, true, "Event timestamp as a time string that includes the nanosecond part.";
    EvtTimeS: "evt.time.s", String, None, Single, true, "Event timestamp as a time string with no nanoseconds.";
    EvtTimeIso8601: "evt.time.iso8601", String, None, Single, true, "Event timestamp in ISO 8601 format, including nanoseconds and time zone offset (UTC).";
    EvtDatetime: "evt.datetime", String, None, Single, true, "Event timestamp as a time string that includes the date.";
    EvtRawtime: "evt.rawtime", AbsTime, None, Single, true, "Absolute event timestamp, nanoseconds from epoch.";
    EvtRawtimeS: "evt.rawtime.s", UInt, None, Single, true, "Integer part of the event timestamp (seconds since epoch).";
    EvtRawtimeNs: "evt.rawtime.ns", UInt, None, Single, true, "Fractional part of the absolute event timestamp (nanoseconds).";
    EvtReltime: "evt.reltime", RelTime, None, Single, true, "Number of nanoseconds from the beginning of the capture.";
    EvtDeltatime: "evt.deltatime", RelTime, None, Single, true, "Delta between this event and the previous event, in nanoseconds.";
    EvtDir: "evt.dir", String, None, Single, true, "Event direction: '>' for enter events, '<' for exit events.";
    EvtType: "evt.type", String, None, Single, true, "The name of the event (e.g. 'open').";
    EvtSyscallType: "syscall.type", String, None, Single, true, "For system call events, the name of the system call.";
    EvtCategory: "evt.category", String, None, Single, true, "The event category, e.g. 'file', 'net', 'process'.";
    EvtCpu: "evt.cpu", UInt, None, Single, true, "Number of the CPU where this event happened.";
    EvtArgs: "evt.args", String, None, Single, true, "All the event arguments, aggregated into a single string.";
    EvtArg: "evt.arg", String, KeyOrIndex, Single, true, "One of the event arguments, by name (evt.arg.fd) or number (evt.arg[0]), formatted as text.";
    EvtRawArg: "evt.rawarg", Dynamic, KeyOrIndex, Single, true, "One of the event arguments by name, as its raw value (numbers compare numerically).";
    EvtInfo: "evt.info", String, None, Single, true, "The event arguments, or a description for events with a known meaning.";
    EvtBuffer: "evt.buffer", Bytes, None, Single, false, "The binary data buffer of I/O events (read, write, send, recv, ...).";
    EvtBuflen: "evt.buflen", UInt, None, Single, false, "The length of the binary data buffer for I/O events.";
    EvtRes: "evt.res", String, None, Single, true, "Event return value, as a string: SUCCESS or an error code (e.g. ENOENT).";
    EvtRawres: "evt.rawres", Int, None, Single, true, "Event return value, as a number (e.g. -2).";
    EvtFailed: "evt.failed", Bool, None, Single, true, "True for events that returned an error status.";
    EvtIsIo: "evt.is_io", Bool, None, Single, true, "True for events that read or write to FDs.";
    EvtIsIoRead: "evt.is_io_read", Bool, None, Single, true, "True for events that read from FDs.";
    EvtIsIoWrite: "evt.is_io_write", Bool, None, Single, true, "True for events that write to FDs.";
    EvtIoDir: "evt.io_dir", String, None, Single, true, "'r' for events that read from FDs, 'w' for events that write to FDs.";
    EvtIsWait: "evt.is_wait", Bool, None, Single, true, "True for events that make the thread wait.";
    EvtIsSyslog: "evt.is_syslog", Bool, None, Single, true, "True for events that are writes to /dev/log.";
    EvtCount: "evt.count", UInt, None, Single, true, "Always 1; useful in aggregations.";
    EvtAround: "evt.around", UInt, Index, Single, false, "Accepts the event if it's around the specified time interval (trace files only).";
    EvtAbspath: "evt.abspath", String, OptionalKey, Single, true, "Absolute path calculated from dirfd and name during syscalls like renameat and symlinkat.";
    EvtIsOpenRead: "evt.is_open_read", Bool, None, Single, true, "True for open/openat/openat2/open_by_handle_at events where the path was opened for reading.";
    EvtIsOpenWrite: "evt.is_open_write", Bool, None, Single, true, "True for open/openat/openat2/open_by_handle_at events where the path was opened for writing.";
    EvtIsOpenExec: "evt.is_open_exec", Bool, None, Single, true, "True for open/openat/openat2/open_by_handle_at or creat events where a file is created with execute permissions.";
    EvtIsOpenCreate: "evt.is_open_create", Bool, None, Single, true, "True for open/openat/openat2/open_by_handle_at events where a file is created.";
    EvtHostname: "evt.hostname", String, None, Single, true, "The hostname of the underlying host.";
    EvtPluginname: "evt.pluginname", String, None, Single, false, "If the event comes from a plugin, the name of the plugin that generated it.";
    EvtSource: "evt.source", String, None, Single, true, "The name of the source that produced the event.";
    EvtIsAsync: "evt.is_async", Bool, None, Single, true, "True if the event is asynchronous.";
    EvtAsynctype: "evt.asynctype", String, None, Single, false, "If the event is asynchronous, the type of the event (e.g. 'container').";
    // ---- proc.* ----
    ProcExe: "proc.exe", String, None, Single, true, "The first command-line argument (argv[0]), typically the executable name or a custom string.";
    ProcPexe: "proc.pexe", String, None, Single, true, "The proc.exe of the parent process.";
    ProcAexe: "proc.aexe", String, OptionalIndex, AnyWithoutArg, true, "The proc.exe of an ancestor: proc.aexe[1] is the parent, proc.aexe[0] this process; without index, matches any ancestor.";
    ProcExepath: "proc.exepath", String, None, Single, true, "The full executable path of the process (resolved from the exe symlink).";
    ProcPexepath: "proc.pexepath", String, None, Single, true, "The proc.exepath of the parent process.";
    ProcAexepath: "proc.aexepath", String, OptionalIndex, AnyWithoutArg, true, "The proc.exepath of an ancestor, by index; without index, matches any ancestor.";
    ProcName: "proc.name", String, None, Single, true, "The process name (truncated after 16 characters) generating the event (task->comm).";
    ProcPname: "proc.pname", String, None, Single, true, "The proc.name of the parent process.";
    ProcAname: "proc.aname", String, OptionalIndex, AnyWithoutArg, true, "The proc.name of an ancestor, by index (proc.aname[1] is the parent); without index, matches any ancestor.";
    ProcArgs: "proc.args", String, None, Single, true, "The arguments passed on the command line, excluding argv[0], joined by spaces.";
    ProcCmdline: "proc.cmdline", String, None, Single, true, "The full command line: proc.name followed by proc.args.";
    ProcPcmdline: "proc.pcmdline", String, None, Single, true, "The proc.cmdline of the parent process.";
    ProcAcmdline: "proc.acmdline", String, OptionalIndex, AnyWithoutArg, true, "The proc.cmdline of an ancestor, by index; without index, matches any ancestor.";
    ProcCmdnargs: "proc.cmdnargs", UInt, None, Single, true, "The number of command line arguments (proc.args).";
    ProcCmdlenargs: "proc.cmdlenargs", UInt, None, Single, true, "The total length of the command line arguments, excluding proc.name.";
    ProcExeline: "proc.exeline", String, None, Single, true, "The full command line with proc.exe as the first argument.";
    ProcEnv: "proc.env", String, OptionalKey, Single, true, "The environment variables of the process, space separated; proc.env[NAME] is the value of one variable.";
    ProcAenv: "proc.aenv", String, OptionalKey, Single, true, "An environment variable of the process or, if absent, of its ancestors.";
    ProcCwd: "proc.cwd", String, None, Single, true, "The current working directory of the event.";
    ProcLoginshellid: "proc.loginshellid", Int, None, Single, true, "The pid of the oldest shell among the ancestors of the current process, if there is one.";
    ProcTty: "proc.tty", UInt, None, Single, true, "The controlling terminal of the process; 0 for processes without a terminal.";
    ProcPid: "proc.pid", Int, None, Single, true, "The id of the process generating the event.";
    ProcPpid: "proc.ppid", Int, None, Single, true, "The pid of the parent of the process generating the event.";
    ProcApid: "proc.apid", Int, OptionalIndex, AnyWithoutArg, true, "The pid of an ancestor, by index; without index, matches any ancestor.";
    ProcVpid: "proc.vpid", Int, None, Single, true, "The id of the process generating the event as seen from its current PID namespace.";
    ProcPvpid: "proc.pvpid", Int, None, Single, true, "The id of the parent process as seen from its current PID namespace.";
    ProcSid: "proc.sid", Int, None, Single, true, "The session id of the process generating the event.";
    ProcSname: "proc.sname", String, None, Single, true, "The name of the current process's session leader.";
    ProcSidExe: "proc.sid.exe", String, None, Single, true, "The first command line argument of the session leader.";
    ProcSidExepath: "proc.sid.exepath", String, None, Single, true, "The full executable path of the session leader.";
    ProcVpgid: "proc.vpgid", Int, None, Single, true, "The process group id, as seen from its current PID namespace.";
    ProcVpgidName: "proc.vpgid.name", String, None, Single, true, "The name of the process group leader.";
    ProcVpgidExe: "proc.vpgid.exe", String, None, Single, true, "The first command line argument of the process group leader.";
    ProcVpgidExepath: "proc.vpgid.exepath", String, None, Single, true, "The full executable path of the process group leader.";
    ProcDuration: "proc.duration", RelTime, None, Single, true, "Number of nanoseconds since the process started.";
    ProcPpidDuration: "proc.ppid.duration", RelTime, None, Single, true, "Number of nanoseconds since the parent process started.";
    ProcPidTs: "proc.pid.ts", AbsTime, None, Single, true, "Start of the process, nanoseconds since epoch.";
    ProcPpidTs: "proc.ppid.ts", AbsTime, None, Single, true, "Start of the parent process, nanoseconds since epoch.";
    ProcIsExeWritable: "proc.is_exe_writable", Bool, None, Single, true, "True if the executable file is writable by the same user that spawned the process.";
    ProcIsExeUpperLayer: "proc.is_exe_upper_layer", Bool, None, Single, true, "True if the executable file belongs to the upper layer of an overlayfs.";
    ProcIsExeFromMemfd: "proc.is_exe_from_memfd", Bool, None, Single, true, "True if the executable file is stored in memory (memfd_create).";
    ProcIsSidLeader: "proc.is_sid_leader", Bool, None, Single, true, "True if this process is the leader of the process session.";
    ProcIsVpgidLeader: "proc.is_vpgid_leader", Bool, None, Single, true, "True if this process is the leader of the virtual process group.";
    ProcExeIno: "proc.exe_ino", UInt, None, Single, true, "The inode number of the executable file on disk.";
    ProcExeInoCtime: "proc.exe_ino.ctime", AbsTime, None, Single, true, "Last status change time of the executable file (inode->ctime).";
    ProcExeInoMtime: "proc.exe_ino.mtime", AbsTime, None, Single, true, "Last modification time of the executable file (inode->mtime).";
    ProcExeInoCtimeDurationProcStart: "proc.exe_ino.ctime_duration_proc_start", RelTime, None, Single, true, "Nanoseconds between the executable's ctime and the process start.";
    ProcExeInoCtimeDurationPidnsStart: "proc.exe_ino.ctime_duration_pidns_start", RelTime, None, Single, false, "Nanoseconds between the PID namespace start and the executable's ctime.";
    ProcPidnsInit: "proc.pidns_init_start_ts", AbsTime, None, Single, false, "Start of the PID namespace's init process, nanoseconds since epoch.";
    ProcThreadCount: "proc.nthreads", UInt, None, Single, true, "The number of alive threads of the process.";
    ProcNchilds: "proc.nchilds", UInt, None, Single, true, "The number of alive not-leader threads of the process.";
    ProcFdopencount: "proc.fdopencount", UInt, None, Single, true, "Number of open FDs of the process.";
    ProcVmsize: "proc.vmsize", UInt, None, Single, false, "Total virtual memory for the process, in kb.";
    ProcVmrss: "proc.vmrss", UInt, None, Single, false, "Resident non-swapped memory for the process, in kb.";
    // ---- thread.* ----
    ThreadTid: "thread.tid", Int, None, Single, true, "The id of the thread generating the event.";
    ThreadVtid: "thread.vtid", Int, None, Single, true, "The id of the thread as seen from its current PID namespace.";
    ThreadIsMainThread: "thread.ismain", Bool, None, Single, true, "True if the thread is the main one in the process.";
    ThreadCapPermitted: "thread.cap_permitted", String, None, Single, true, "The permitted capabilities set.";
    ThreadCapInheritable: "thread.cap_inheritable", String, None, Single, true, "The inheritable capabilities set.";
    ThreadCapEffective: "thread.cap_effective", String, None, Single, true, "The effective capabilities set.";
    // ---- user.* / group.* ----
    UserUid: "user.uid", UInt, None, Single, true, "The user's id.";
    UserName: "user.name", String, None, Single, true, "The user's name.";
    UserHomedir: "user.homedir", String, None, Single, true, "The user's home directory.";
    UserShell: "user.shell", String, None, Single, true, "The user's shell.";
    UserLoginuid: "user.loginuid", Int, None, Single, true, "The audit user id (auid); -1 when unset.";
    UserLoginname: "user.loginname", String, None, Single, true, "The audit user name (auid).";
    GroupGid: "group.gid", UInt, None, Single, true, "The group's id.";
    GroupName: "group.name", String, None, Single, true, "The group's name.";
    // ---- fd.* ----
    FdNum: "fd.num", Int, None, Single, true, "The unique number identifying the file descriptor.";
    FdType: "fd.type", String, None, Single, true, "Type of FD: 'file', 'directory', 'ipv4', 'ipv6', 'unix', 'pipe', 'event', 'signalfd', 'eventpoll', 'inotify', 'memfd'...";
    FdTypechar: "fd.typechar", String, None, Single, true, "Type of FD as a single character: 'f' file, '4' IPv4 socket, '6' IPv6 socket, 'u' unix socket, 'p' pipe...";
    FdName: "fd.name", String, None, Single, true, "FD full name: the full path for files, the connection tuple for sockets.";
    FdDirectory: "fd.directory", String, None, Single, true, "If the FD is a file, the directory that contains it.";
    FdFilename: "fd.filename", String, None, Single, true, "If the FD is a file, the filename without the path.";
    FdIp: "fd.ip", IpAddr, None, Any, true, "Matches the IP address (client or server) of the FD. Filter only.";
    FdCip: "fd.cip", IpAddr, None, Single, true, "Client IP address.";
    FdSip: "fd.sip", IpAddr, None, Single, true, "Server IP address.";
    FdLip: "fd.lip", IpAddr, None, Single, true, "Local IP address.";
    FdRip: "fd.rip", IpAddr, None, Single, true, "Remote IP address.";
    FdPort: "fd.port", UInt, None, Any, true, "Matches the port (client or server) of the FD. Filter only.";
    FdCport: "fd.cport", UInt, None, Single, true, "For TCP/UDP FDs, the client port.";
    FdSport: "fd.sport", UInt, None, Single, true, "For TCP/UDP FDs, the server port.";
    FdLport: "fd.lport", UInt, None, Single, true, "For TCP/UDP FDs, the local port.";
    FdRport: "fd.rport", UInt, None, Single, true, "For TCP/UDP FDs, the remote port.";
    FdL4proto: "fd.l4proto", String, None, Single, true, "The IP protocol of a socket: 'tcp', 'udp', 'icmp' or 'raw'.";
    FdSockfamily: "fd.sockfamily", String, None, Single, true, "The socket family for socket events: 'ip' or 'unix'.";
    FdIsServer: "fd.is_server", Bool, None, Single, true, "True if the process owning this FD is the server endpoint of the connection.";
    FdUid: "fd.uid", String, None, Single, true, "A unique identifier for the FD, created by chaining the FD number and the thread ID.";
    FdContainername: "fd.containername", String, None, Single, true, "Chaining of the container ID and the FD name.";
    FdContainerdirectory: "fd.containerdirectory", String, None, Single, true, "Chaining of the container ID and the directory name.";
    FdProto: "fd.proto", String, None, Any, false, "Matches the protocol (client or server) of the FD. Filter only.";
    FdCproto: "fd.cproto", String, None, Single, false, "For TCP/UDP FDs, the client protocol.";
    FdSproto: "fd.sproto", String, None, Single, false, "For TCP/UDP FDs, the server protocol.";
    FdLproto: "fd.lproto", String, None, Single, false, "For TCP/UDP FDs, the local protocol.";
    FdRproto: "fd.rproto", String, None, Single, false, "For TCP/UDP FDs, the remote protocol.";
    FdNet: "fd.net", IpNet, None, Any, true, "Matches the IP network (client or server) of the FD. Filter only.";
    FdCnet: "fd.cnet", IpNet, None, Single, true, "Matches the client IP network of the FD.";
    FdSnet: "fd.snet", IpNet, None, Single, true, "Matches the server IP network of the FD.";
    FdLnet: "fd.lnet", IpNet, None, Single, true, "Matches the local IP network of the FD.";
    FdRnet: "fd.rnet", IpNet, None, Single, true, "Matches the remote IP network of the FD.";
    FdConnected: "fd.connected", Bool, None, Single, true, "For TCP/UDP FDs, true if the socket is connected.";
    FdNameChanged: "fd.name_changed", Bool, None, Single, true, "True when an event changes the name of an FD used by this event (e.g. connect).";
    FdCipName: "fd.cip.name", String, None, Single, true, "Domain name associated with the client IP address.";
    FdSipName: "fd.sip.name", String, None, Single, true, "Domain name associated with the server IP address.";
    FdLipName: "fd.lip.name", String, None, Single, true, "Domain name associated with the local IP address.";
    FdRipName: "fd.rip.name", String, None, Single, true, "Domain name associated with the remote IP address.";
    FdDev: "fd.dev", UInt, None, Single, false, "Device number (major/minor) containing the referenced file.";
    FdDevMajor: "fd.dev.major", UInt, None, Single, false, "Major device number containing the referenced file.";
    FdDevMinor: "fd.dev.minor", UInt, None, Single, false, "Minor device number containing the referenced file.";
    FdIno: "fd.ino", UInt, None, Single, false, "Inode number of the referenced file.";
    FdNameraw: "fd.nameraw", String, None, Single, true, "FD full name raw: like fd.name, but the path is not sanitized.";
    FdTypes: "fd.types", String, OptionalIndex, List, true, "List of FD types in use. Can be passed an fd number, e.g. fd.types[0], to get the type of a single FD.";
    // ---- fs.* ----
    FsPathName: "fs.path.name", String, None, Single, true, "For any event type that deals with a filesystem path, the path the file syscall is operating on.";
    FsPathNameraw: "fs.path.nameraw", String, None, Single, true, "The path the file syscall is operating on, not sanitized.";
    FsPathSource: "fs.path.source", String, None, Single, true, "For events with a source and target path, the source path.";
    FsPathSourceraw: "fs.path.sourceraw", String, None, Single, true, "The source path, not sanitized.";
    FsPathTarget: "fs.path.target", String, None, Single, true, "For events with a source and target path, the target path.";
    FsPathTargetraw: "fs.path.targetraw", String, None, Single, true, "The target path, not sanitized.";
    // ---- fdlist.* ----
    FdlistNums: "fdlist.nums", String, None, Single, false, "For poll events, the FD numbers in the fds argument, comma separated.";
    FdlistNames: "fdlist.names", String, None, Single, false, "For poll events, the FD names in the fds argument, comma separated.";
    // ---- container.* ----
    ContainerId: "container.id", String, None, Single, true, "The truncated container ID (first 12 characters); 'host' on the host.";
    ContainerFullId: "container.full_id", String, None, Single, true, "The full container ID, or 'host'.";
    ContainerName: "container.name", String, None, Single, true, "The container name; 'host' on the host.";
    ContainerImage: "container.image", String, None, Single, true, "The container image name (e.g. falcosecurity/falco:latest).";
    ContainerImageId: "container.image.id", String, None, Single, true, "The container image id (e.g. 6f7e2741b66b).";
    ContainerImageRepository: "container.image.repository", String, None, Single, true, "The container image repository (e.g. falcosecurity/falco).";
    ContainerImageTag: "container.image.tag", String, None, Single, true, "The container image tag (e.g. stable, latest).";
    ContainerImageDigest: "container.image.digest", String, None, Single, true, "The container image registry digest.";
    ContainerType: "container.type", String, None, Single, true, "The container type, e.g. docker, cri-o, containerd.";
    ContainerPrivileged: "container.privileged", Bool, None, Single, true, "True for containers running as privileged.";
    ContainerMounts: "container.mounts", String, None, Single, true, "A space-separated list of mount information: source:dest:mode:rdrw:propagation.";
    ContainerMount: "container.mount", String, Key, Single, true, "Information about a single mount, by number or mount source.";
    ContainerMountSource: "container.mount.source", String, Key, Single, true, "The mount source, by number or mount destination (glob allowed).";
    ContainerMountDest: "container.mount.dest", String, Key, Single, true, "The mount destination, by number or mount source (glob allowed).";
    ContainerMountMode: "container.mount.mode", String, Key, Single, true, "The mount mode, by number or mount source.";
    ContainerMountRdwr: "container.mount.rdwr", String, Key, Single, true, "The mount rdwr value, by number or mount source.";
    ContainerMountPropagation: "container.mount.propagation", String, Key, Single, true, "The mount propagation value, by number or mount source.";
    ContainerHealthcheck: "container.healthcheck", String, None, Single, false, "The container's health check.";
    ContainerLivenessProbe: "container.liveness_probe", String, None, Single, false, "The container's liveness probe.";
    ContainerReadinessProbe: "container.readiness_probe", String, None, Single, false, "The container's readiness probe.";
    ContainerStartTs: "container.start_ts", AbsTime, None, Single, true, "Container start as epoch timestamp in nanoseconds.";
    ContainerDuration: "container.duration", RelTime, None, Single, true, "Number of nanoseconds since the container started.";
    ContainerIp: "container.ip", String, None, Single, true, "The container's primary IP address.";
    ContainerCniJson: "container.cni.json", String, None, Single, true, "The container's CNI result field from the respective pod status info.";
    ContainerHostPid: "container.host_pid", Bool, None, Single, true, "True if the container is running in the host PID namespace.";
    ContainerHostNetwork: "container.host_network", Bool, None, Single, true, "True if the container is running in the host network namespace.";
    ContainerHostIpc: "container.host_ipc", Bool, None, Single, true, "True if the container is running in the host IPC namespace.";
    ContainerLabel: "container.label", String, Key, Single, true, "A container label, e.g. container.label[foo].";
    ContainerLabels: "container.labels", String, None, Single, true, "The container's labels, comma separated key:value.";
    // ---- k8s.* ----
    K8sNsName: "k8s.ns.name", String, None, Single, true, "The Kubernetes namespace name.";
    K8sPodName: "k8s.pod.name", String, None, Single, true, "The Kubernetes pod name.";
    K8sPodId: "k8s.pod.id", String, None, Single, true, "The Kubernetes pod id (legacy name of k8s.pod.uid).";
    K8sPodUid: "k8s.pod.uid", String, None, Single, true, "The Kubernetes pod UID.";
    K8sPodSandboxId: "k8s.pod.sandbox_id", String, None, Single, true, "The truncated Kubernetes pod sandbox ID.";
    K8sPodFullSandboxId: "k8s.pod.full_sandbox_id", String, None, Single, true, "The full Kubernetes pod sandbox ID.";
    K8sPodLabel: "k8s.pod.label", String, Key, Single, true, "A Kubernetes pod label, e.g. k8s.pod.label[foo].";
    K8sPodLabels: "k8s.pod.labels", String, None, Single, true, "The Kubernetes pod labels, comma separated key:value.";
    K8sPodIp: "k8s.pod.ip", String, None, Single, true, "The Kubernetes pod IP.";
    K8sPodCniJson: "k8s.pod.cni.json", String, None, Single, true, "The Kubernetes pod CNI result field from the respective pod status info.";
    K8sRcName: "k8s.rc.name", String, None, Single, false, "The Kubernetes replication controller name.";
    K8sRsName: "k8s.rs.name", String, None, Single, false, "The Kubernetes replica set name.";
    K8sSvcName: "k8s.svc.name", String, None, Single, false, "The Kubernetes service name.";
    K8sDeploymentName: "k8s.deployment.name", String, None, Single, false, "The Kubernetes deployment name.";
    K8sNsLabel: "k8s.ns.label", String, Key, Single, false, "A Kubernetes namespace label.";
}

/// Every field, in [`FieldId`] order.
pub fn catalog() -> &'static [FieldInfo] {
    CATALOG
}

impl FieldId {
    /// The catalog entry of this field.
    pub fn info(self) -> &'static FieldInfo {
        // The table and the enum come from one macro invocation, so every id indexes it.
        &CATALOG[self as usize]
    }
}

/// Looks up a field by its exact catalog name.
pub(super) fn by_name(name: &str) -> Option<&'static FieldInfo> {
    static INDEX: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        CATALOG
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name, i))
            .collect()
    });
    index.get(name).map(|&i| &CATALOG[i])
}
