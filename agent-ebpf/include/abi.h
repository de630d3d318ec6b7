/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * abi.h: THE wire format between Saker's eBPF programs and userspace.
 *
 * Every record in the `events` ring buffer is a `struct saker_event_header`
 * followed by `nparams` variable-length parameters, each encoded as
 *
 *     __u16 len;  __u8 data[len];      (no padding, no alignment)
 *
 * `len` counts data bytes only. Strings carry no terminating NUL. The
 * meaning of `args[]` and of each parameter depends on `kind` and, for
 * syscall events, on `syscall_nr`; the tables below are the contract and
 * are mirrored by agent-ebpf/src/abi.rs and the decoder in agent/src/event.
 *
 * Change this file and its Rust mirror in one commit, and bump
 * SAKER_ABI_VERSION: the loader refuses an object with another version.
 */
#ifndef SAKER_ABI_H
#define SAKER_ABI_H

#define SAKER_ABI_VERSION 3

/* Bounds of what one record may carry. */
#define SAKER_MAX_PATH 4096          /* one user or kernel path string      */
#define SAKER_MAX_ARGS 4096          /* argv bytes (NUL separated)          */
#define SAKER_MAX_ENV 4096           /* environment bytes (NUL separated)   */
#define SAKER_MAX_SOCKADDR 128       /* user sockaddr bytes                 */
#define SAKER_MAX_PATH_DEPTH 48      /* components walked up a dentry chain */
#define SAKER_MAX_CGROUP_DEPTH 12    /* components walked up a cgroup chain */
#define SAKER_MAX_RECORD 32768       /* whole record                        */

/* Index space of the `interest` map: syscall numbers below SAKER_SYSCALL_SLOTS,
 * then one slot per process event kind. A non-zero value enables the event. */
#define SAKER_SYSCALL_SLOTS 512
#define SAKER_INTEREST_EXEC (SAKER_SYSCALL_SLOTS + 0)
#define SAKER_INTEREST_FORK (SAKER_SYSCALL_SLOTS + 1)
#define SAKER_INTEREST_EXIT (SAKER_SYSCALL_SLOTS + 2)
#define SAKER_INTEREST_SLOTS (SAKER_SYSCALL_SLOTS + 3)

enum saker_event_kind {
	/* A system call returned (sys_exit). `syscall_nr` names it, `ret` is its
	 * return value, `args[]` and params are per syscall (table below). */
	SAKER_EV_SYSCALL = 1,
	/* sched_process_exec: a successful execve/execveat, emitted from the new
	 * program. `syscall_nr` is execve or execveat, `ret` is 0. Params:
	 *   0 struct saker_proc_info
	 *   1 filename as passed to exec (bprm->filename)
	 *   2 path of the executable (dentry walk, see PATH WALKS)
	 *   3 argv bytes, NUL separated, from the new mm (bounded)
	 *   4 environment bytes, NUL separated (bounded)
	 *   5 working directory (dentry walk)
	 *   6 cgroup path (kernfs walk, see PATH WALKS)
	 * args[0] = pid before exec (differs when a non-leader thread execs). */
	SAKER_EV_EXEC = 2,
	/* sched_process_fork: a new task, emitted in the parent. `syscall_nr` is
	 * the parent's syscall (clone, clone3, fork, vfork), or -1 for kernel threads.
	 * ret = child tid.
	 * args[0] child tid   args[1] child tgid   args[2] clone flags (0 if unknown)
	 * args[3] child's real parent tgid   args[4] child tid in its pid namespace
	 * args[5] child tgid in its pid namespace. No params. */
	SAKER_EV_FORK = 3,
	/* sched_process_exit: a task ends. args[0] exit code (wait status),
	 * args[1] 1 when this was the last live thread of its thread group. */
	SAKER_EV_EXIT = 4,
};

/* Header flags. */
#define SAKER_F_TRUNCATED 0x1  /* a parameter was cut at its bound             */
#define SAKER_F_READ_FAILED 0x2 /* a parameter could not be read (left empty) */

struct saker_event_header {
	__u32 len;          /* whole record in bytes, header included          */
	__u16 kind;         /* enum saker_event_kind                           */
	__u16 nparams;      /* parameters following the header                 */
	__u64 ts_boot_ns;   /* boot clock; see saker_ts_every in bpf/lib/common.h */
	__u64 ts_wall_ns;   /* ts_boot_ns + boot-to-realtime offset (clock map)*/
	__u64 cgroup_id;    /* cgroup v2 id; process events only (0 otherwise) */
	__s64 ret;          /* syscall return value                            */
	__u64 args[6];      /* numeric arguments, per kind/syscall             */
	__u32 tgid;         /* process id (init namespace)                     */
	__u32 tid;          /* thread id (init namespace)                      */
	__u32 ppid;         /* real parent's tgid                              */
	__u32 uid;          /* effective uid, as Falco's user.uid              */
	__u32 gid;          /* effective gid                                   */
	__u32 loginuid;     /* audit login uid, 0xffffffff when unset          */
	__s32 syscall_nr;   /* x86_64 syscall number, -1 if none               */
	__u16 cpu;          /* CPU the event was captured on                   */
	__u16 flags;        /* SAKER_F_*                                       */
	char comm[16];      /* task comm                                       */
};
_Static_assert(sizeof(struct saker_event_header) == 136, "header size");

/* Result flags of the open family (args[4] of open, openat, openat2, creat). */
#define SAKER_OPEN_CREATED 0x1     /* the call created the file (FMODE_CREATED on
                                    * the new file; Falco's PPM_O_F_CREATED)      */

/* Exe flags in saker_proc_info.exe_flags (Falco's PPM_EXE_* meanings). */
#define SAKER_EXE_WRITABLE 0x1     /* the exe is writable by the process's euid */
#define SAKER_EXE_UPPER_LAYER 0x2  /* the exe is in an overlayfs upper layer    */
#define SAKER_EXE_FROM_MEMFD 0x4   /* the exe is a memfd (fileless execution)   */
#define SAKER_EXE_LOWER_LAYER 0x8  /* the exe is in an overlayfs lower layer    */

/* Parameter 0 of SAKER_EV_EXEC. */
struct saker_proc_info {
	__u64 cap_inheritable;
	__u64 cap_permitted;
	__u64 cap_effective;
	__u64 exe_ino;
	__u64 exe_ctime_ns;     /* inode change time of the exe, ns since epoch */
	__u64 exe_mtime_ns;     /* modification time of the exe                 */
	__u64 start_boot_ns;    /* thread group leader start, boot clock        */
	__u32 ruid;
	__u32 rgid;
	__u32 vpid;             /* tgid in the process's own pid namespace      */
	__u32 vtid;
	__u32 sid;              /* session id (in its pid namespace)            */
	__u32 vpgid;            /* process group id (in its pid namespace)      */
	__u32 tty;              /* controlling tty as /proc/PID/stat tty_nr, 0 if none */
	__u32 exe_flags;        /* SAKER_EXE_*                                  */
	__u32 pidns_level;      /* 0 on the host                                */
	__u32 exe_dev;
};
_Static_assert(sizeof(struct saker_proc_info) == 96, "proc info size");

/* The kernel's view of a socket, read from the file behind an fd. */
struct saker_sock_tuple {
	__u16 family;       /* AF_INET, AF_INET6, AF_UNIX, ... ; 0 when not a socket */
	__u16 type;         /* SOCK_STREAM, SOCK_DGRAM, ...                          */
	__u16 protocol;     /* IPPROTO_TCP, IPPROTO_UDP, ...                         */
	__u16 state;        /* skc_state (TCP_ESTABLISHED == 1, ...)                 */
	__u16 lport;        /* host byte order                                       */
	__u16 rport;
	__u32 _pad;
	__u8 laddr[16];     /* IPv4 in the first 4 bytes, network order              */
	__u8 raddr[16];
};
_Static_assert(sizeof(struct saker_sock_tuple) == 48, "sock tuple size");

/*
 * SYSCALL EVENTS (kind SAKER_EV_SYSCALL): args and params by syscall.
 * "dirfd" is AT_FDCWD (-100, sign-extended) where the syscall has none.
 * Socket params: SOCKADDR is the user's sockaddr bytes (empty when the
 * syscall passed none); TUPLE is struct saker_sock_tuple of the fd's socket
 * (the new socket for accept; family 0 if the fd is not a socket); UNIX is the
 * AF_UNIX path of the socket (own address, else peer's; empty otherwise).
 *
 *   open, openat, creat  args: dirfd, flags, mode, 0, oflags   params: path
 *   openat2              args: dirfd, flags, mode, resolve, oflags params: path
 *                        (oflags: SAKER_OPEN_* result flags, 0 when the call failed)
 *   close                args: fd
 *   dup                  args: oldfd
 *   dup2, dup3           args: oldfd, newfd, flags
 *   fcntl                args: fd, cmd, arg
 *   socket               args: domain, type, protocol
 *   connect, bind        args: fd, addrlen                     params: SOCKADDR, TUPLE, UNIX
 *   accept, accept4      args: fd, 0, 0, flags                 params: TUPLE, UNIX  (of the new fd = ret)
 *   listen               args: fd, backlog
 *   sendto, recvfrom     args: fd, size, flags                 params: SOCKADDR, TUPLE, UNIX
 *   sendmsg, recvmsg     args: fd, 0, flags                    params: SOCKADDR (msg_name), TUPLE, UNIX
 *   ptrace               args: request, pid, addr, data
 *   init_module          args: len                             params: uargs
 *   finit_module         args: fd, flags                       params: uargs
 *   link, linkat         args: olddirfd, newdirfd, flags       params: oldpath, newpath
 *   symlink, symlinkat   args: newdirfd                        params: target, linkpath
 *   unlink, unlinkat     args: dirfd, flags                    params: path
 *   rmdir                args: dirfd                           params: path
 *   rename, renameat,
 *   renameat2            args: olddirfd, newdirfd, flags       params: oldpath, newpath
 *   mkdir, mkdirat       args: dirfd, mode                     params: path
 *   chmod, fchmodat,
 *   fchmodat2            args: dirfd, mode, flags              params: path
 *   fchmod               args: fd, mode
 *   setuid, setgid       args: id
 *   setreuid, setregid   args: rid, eid
 *   setresuid, setresgid args: rid, eid, sid
 *   setns                args: fd, nstype
 *   unshare              args: flags
 *   bpf                  args: cmd
 *   memfd_create         args: flags                           params: name
 *   userfaultfd          args: flags
 *   chdir                params: path, new cwd (dentry walk)
 *   fchdir               args: fd                              params: new cwd (dentry walk)
 *   execve, execveat     (failed calls only; successes are SAKER_EV_EXEC)
 *                        args: dirfd, flags                    params: filename
 *   any other syscall    args: the six raw argument registers; no params
 *
 * PATH WALKS: a dentry (or kernfs) walk is encoded leaf first, as
 * NUL-terminated component names, e.g. "passwd\0etc\0" for /etc/passwd and
 * "" for "/". Userspace reverses it. Walks stop at the task's root (chroot,
 * container root) and cross mount points; a walk cut at the depth bound sets
 * SAKER_F_TRUNCATED. A file with no path (memfd, pipe: the root of a detached
 * dentry tree) ends with an empty component: "memfd:x\0\0" is "memfd:x",
 * not "/memfd:x".
 *
 * EXEC's syscall_nr is execveat when the kernel ran it on a file descriptor
 * (bprm->fdpath set), execve otherwise.
 */

/* Records lost per event type: the `drops_by_type` map, a per-CPU array of
 * __u64 indexed like `interest` (syscall number, or SAKER_INTEREST_EXEC /
 * FORK / EXIT), counting both ring-full and scratch-busy losses, so the agent
 * can name the event types (and the rules) a drop made blind. */
#define SAKER_DROP_SLOTS SAKER_INTEREST_SLOTS

/* The rule-derived open filter (agent/src/rules/pushdown.rs): paths of at
 * most SAKER_FILTER_PATH - 1 bytes are tested; each of its two tries holds
 * at most SAKER_FILTER_ENTRIES patterns. */
#define SAKER_FILTER_PATH 256
#define SAKER_FILTER_ENTRIES 4096
/* Fds (0 to SAKER_UNTRACKED_FDS - 1) whose filtered open makes their close
 * filtered too, per process. */
#define SAKER_UNTRACKED_FDS 1024

/* `filter_config` entry 0: what the probe filters. */
struct saker_filter_config {
	__u32 open;     /* non-zero: opens are filtered by path */
	__u32 suffixes; /* non-zero: open_suffixes holds entries */
};

/* Per-CPU counters (the `counters` map, one struct per CPU). */
struct saker_counters {
	__u64 emitted;          /* records written to the ring buffer           */
	__u64 dropped_full;     /* records lost because the ring buffer was full */
	__u64 read_failures;    /* bpf_probe_read_* failures (param left empty)  */
	__u64 truncated;        /* records with a parameter cut at its bound    */
	__u64 scratch_busy;     /* records lost because all scratch slots were busy */
	__u64 compat_skipped;   /* 32-bit (ia32) syscalls ignored                */
};
_Static_assert(sizeof(struct saker_counters) == 48, "counters size");

#endif /* SAKER_ABI_H */
