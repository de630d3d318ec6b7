// SPDX-License-Identifier: GPL-2.0-only
/*
 * System call events, captured at sys_exit only.
 *
 * At sys_exit the saved user registers still hold the call's arguments
 * (x86_64 syscall handlers read them from pt_regs and do not modify them),
 * so one program run per call gives arguments and result together. A second
 * program on sys_enter would cost every system call on the node another
 * ~30 ns for no information. Falco's modern probe moved to the same
 * exit-only parameters. The exception is a successful execve, whose
 * registers are reset for the new program: it is reported by
 * sched_process_exec (process.bpf.c) instead.
 */
#include "lib/common.h"
#include "lib/path.h"
#include "lib/sock.h"

#define TS_COMPAT_ 0x0002
#define AT_FDCWD_ (-100)

/* x86_64 system call numbers used below. */
#define NR_open 2
#define NR_close 3
#define NR_dup 32
#define NR_dup2 33
#define NR_socket 41
#define NR_connect 42
#define NR_accept 43
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_bind 49
#define NR_listen 50
#define NR_execve 59
#define NR_fcntl 72
#define NR_chdir 80
#define NR_fchdir 81
#define NR_rename 82
#define NR_mkdir 83
#define NR_rmdir 84
#define NR_creat 85
#define NR_link 86
#define NR_unlink 87
#define NR_symlink 88
#define NR_chmod 90
#define NR_fchmod 91
#define NR_ptrace 101
#define NR_setuid 105
#define NR_setgid 106
#define NR_setreuid 113
#define NR_setregid 114
#define NR_setresuid 117
#define NR_setresgid 119
#define NR_init_module 175
#define NR_openat 257
#define NR_mkdirat 258
#define NR_unlinkat 263
#define NR_renameat 264
#define NR_linkat 265
#define NR_symlinkat 266
#define NR_fchmodat 268
#define NR_unshare 272
#define NR_accept4 288
#define NR_dup3 292
#define NR_setns 308
#define NR_finit_module 313
#define NR_renameat2 316
#define NR_memfd_create 319
#define NR_bpf 321
#define NR_execveat 322
#define NR_userfaultfd 323
#define NR_openat2 437
#define NR_fchmodat2 452

#define FMODE_CREATED_ 0x100000 /* include/linux/fs.h: (__force fmode_t)(1 << 20) */

#define O_WRONLY_ 01
#define O_CREAT_ 0100
#define O_TRUNC_ 01000

struct sys_args {
	__u64 a[6];
};

static __always_inline void set_args(struct ev *e, __u64 a0, __u64 a1, __u64 a2, __u64 a3)
{
	struct saker_event_header *h = ev_hdr(e);

	h->args[0] = a0;
	h->args[1] = a1;
	h->args[2] = a2;
	h->args[3] = a3;
}

/* The open family's arguments: path, dirfd, flags, mode (openat2 reads
 * struct open_how) and openat2's resolve flags. */
struct open_args {
	const void *path;
	__u64 dirfd;
	__u64 flags;
	__u64 mode;
	__u64 resolve;
};

static __noinline void read_open_args(struct ev *e, __s32 nr, struct sys_args *sa, struct open_args *oa)
{
	oa->dirfd = (__u64)(__s64)AT_FDCWD_;
	oa->path = 0;
	oa->flags = 0;
	oa->mode = 0;
	oa->resolve = 0;
	switch (nr) {
	case NR_open:
		oa->path = (const void *)sa->a[0];
		oa->flags = sa->a[1];
		oa->mode = sa->a[2];
		break;
	case NR_creat:
		oa->path = (const void *)sa->a[0];
		oa->flags = O_CREAT_ | O_WRONLY_ | O_TRUNC_;
		oa->mode = sa->a[1];
		break;
	case NR_openat:
		oa->dirfd = sa->a[0];
		oa->path = (const void *)sa->a[1];
		oa->flags = sa->a[2];
		oa->mode = sa->a[3];
		break;
	case NR_openat2: {
		struct open_how how = {};

		oa->dirfd = sa->a[0];
		oa->path = (const void *)sa->a[1];
		if (bpf_probe_read_user(&how, sizeof(how), (const void *)sa->a[2]) == 0) {
			oa->flags = how.flags;
			oa->mode = how.mode;
			oa->resolve = how.resolve;
		} else {
			ev_flag(e, SAKER_F_READ_FAILED);
			count(CNT_READ_FAILURES);
		}
		break;
	}
	}
}

/* The open family's arguments in a record whose header is filled, and
 * whether the call created the file: the new file's FMODE_CREATED, as
 * Falco's probes report it (PPM_O_F_CREATED, modern_bpf
 * extract__fmode_created_from_fd). The path is already the first parameter. */
static __noinline void fill_open(struct ev *e, __s64 ret, struct open_args *oa)
{
	struct saker_event_header *h = ev_hdr(e);

	set_args(e, oa->dirfd, oa->flags, oa->mode, oa->resolve);
	if (ret >= 0 && (fd_f_mode(bpf_get_current_task_btf(), ret) & FMODE_CREATED_))
		h->args[4] = SAKER_OPEN_CREATED;
}

/* ---- the rule-derived open filter (agent/src/rules/pushdown.rs) ----
 *
 * An open whose path no enabled rule can match is not emitted. The loader
 * fills `open_prefixes` with the rules' path prefixes (an exact path is its
 * text plus the NUL) and `open_suffixes` with their suffixes, reversed;
 * `filter_config` turns the filter on. Only plain absolute paths (their own
 * normalized form, as `OpenFilter::passes` in userspace defines them) of
 * files that are not directories are tested: anything else is emitted. */

struct path_key {
	__u32 prefixlen; /* bits */
	__u8 data[SAKER_FILTER_PATH];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SAKER_FILTER_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct path_key);
	__type(value, __u8);
} open_prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SAKER_FILTER_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct path_key);
	__type(value, __u8);
} open_suffixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct saker_filter_config);
} filter_config SEC(".maps");

/* Records the filter left out, per event type (as drops_by_type). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SAKER_DROP_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} filtered_by_type SEC(".maps");

#define O_DIRECTORY_ 0200000

/* Whether the open whose path is the first parameter of the record being
 * built in scratch slot `key` must be emitted (1) or not (0); `eflags`: the
 * record's flags so far, `flags`: the open's flags. The path is already in
 * the scratch buffer; the keys are built in its upper half, which records
 * never use. A global function: the verifier checks it once, with nothing
 * known of its arguments, rather than in every state its caller reaches it
 * in (each a 256-step loop). */
__noinline int open_wanted(__u32 key, __s64 ret, __u64 flags, __u32 eflags)
{
	const __u32 at = sizeof(struct saker_event_header);
	struct scratch *s = bpf_map_lookup_elem(&scratch, &key);
	__u32 zero = 0;
	struct saker_filter_config *cfg = bpf_map_lookup_elem(&filter_config, &zero);
	struct path_key *k, *rk;
	__u8 c, prev, prev2;
	__u32 n, i;

	if (!s || !cfg || !cfg->open)
		return 1;
	if (eflags & (SAKER_F_TRUNCATED | SAKER_F_READ_FAILED))
		return 1;
	n = s->buf[OFF(at)] | ((__u32)s->buf[OFF(at + 1)] << 8);
	if (n == 0 || n >= SAKER_FILTER_PATH)
		return 1;
	if (s->buf[OFF(at + 2)] != '/' || (flags & O_DIRECTORY_))
		return 1;
	k = (struct path_key *)&s->buf[SCRATCH_HALF];
	rk = (struct path_key *)&s->buf[SCRATCH_HALF + sizeof(struct path_key) + 8];
	/* The bytes before a '/' are read again from the buffer, not carried
	 * in registers: a register known to hold '/' or '.' on some paths
	 * makes the verifier walk every combination, 256 times over. Before
	 * the path's first byte the buffer holds its length, below 256, so
	 * the byte before it is 0. */
	for (i = 0; i < SAKER_FILTER_PATH; i++) {
		if (i >= n)
			break;
		c = s->buf[OFF(at + 2 + i)];
		/* Not plain: "//", "/./", "../" (a name ending in ".." too). */
		if (c == '/') {
			prev = s->buf[OFF(at + 1 + i)];
			if (prev == '/')
				return 1;
			if (prev == '.' && i > 0) {
				prev2 = s->buf[OFF(at + i)];
				if (prev2 == '/' || prev2 == '.')
					return 1;
			}
		}
		k->data[i & (SAKER_FILTER_PATH - 1)] = c;
		rk->data[(n - 1 - i) & (SAKER_FILTER_PATH - 1)] = c;
	}
	prev = s->buf[OFF(at + 1 + n)];
	prev2 = n > 1 ? s->buf[OFF(at + n)] : 0;
	/* Not plain at the end: "/", "/.", "..". */
	if (n > 1 && (prev == '/' || (prev == '.' && (prev2 == '/' || prev2 == '.'))))
		return 1;
	k->data[n & (SAKER_FILTER_PATH - 1)] = 0;
	k->prefixlen = (n + 1) * 8;
	if (bpf_map_lookup_elem(&open_prefixes, k))
		return 1;
	if (cfg->suffixes) {
		rk->prefixlen = n * 8;
		if (bpf_map_lookup_elem(&open_suffixes, rk))
			return 1;
	}
	/* A directory is always emitted (later *at calls resolve against it);
	 * tested last, as it costs more than the lookups. */
	if (ret >= 0 && fd_is_dir(bpf_get_current_task_btf(), ret))
		return 1;
	return 0;
}

/* The word of the current process's untracked set that holds `fd` (0 <=
 * fd < SAKER_UNTRACKED_FDS), its bit in `*bit`; NULL when the process has no
 * set and `create` is false (or the storage refused). */
static __always_inline __u64 *untracked_word(__s64 fd, bool create, __u64 *bit)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct untracked_fds *u;

	u = bpf_task_storage_get(&untracked, task->group_leader, 0,
				 create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	if (!u)
		return NULL;
	*bit = 1ULL << ((__u64)fd & 63);
	return &u->bits[((__u64)fd / 64) & (SAKER_UNTRACKED_FDS / 64 - 1)];
}

/* Marks `fd` of the current process untracked (its open was filtered) or,
 * `untrack` 0, tracked again (an emitted event made it). A global function:
 * the verifier checks it once, not at each of its call sites. */
__noinline int set_untracked(__s64 fd, int untrack)
{
	__u64 bit, *w;

	if (fd < 0 || fd >= SAKER_UNTRACKED_FDS)
		return 0;
	w = untracked_word(fd, untrack, &bit);
	if (!w)
		return 0;
	if (untrack)
		__sync_fetch_and_or(w, bit);
	else
		__sync_fetch_and_and(w, ~bit);
	return 0;
}

/* Whether a close of `fd` is one of a filtered open's fd (then forgotten):
 * 1 if so. A global function, as set_untracked. */
__noinline int close_untracked(__s64 fd)
{
	__u64 bit, *w;

	if (fd < 0 || fd >= SAKER_UNTRACKED_FDS)
		return 0;
	w = untracked_word(fd, false, &bit);
	if (!w || !(*w & bit))
		return 0;
	__sync_fetch_and_and(w, ~bit);
	return 1;
}

static __always_inline void count_filtered(__s32 nr)
{
	__u32 slot = (__u32)nr;
	__u64 *cnt;

	if (slot >= SAKER_DROP_SLOTS)
		return;
	cnt = bpf_map_lookup_elem(&filtered_by_type, &slot);
	if (cnt)
		(*cnt)++;
}

/* connect/bind/sendto/recvfrom/sendmsg/recvmsg/accept: SOCKADDR, TUPLE, UNIX. */
static __noinline void fill_socket_io(struct ev *e, __s32 nr, __s64 ret, struct sys_args *sa)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__s64 fd = (__s64)sa->a[0];

	switch (nr) {
	case NR_connect:
	case NR_bind:
		set_args(e, sa->a[0], sa->a[2], 0, 0);
		push_user_bytes(e, (const void *)sa->a[1], sa->a[2], SAKER_MAX_SOCKADDR);
		break;
	case NR_sendto:
		set_args(e, sa->a[0], sa->a[2], sa->a[3], 0);
		push_user_bytes(e, (const void *)sa->a[4], sa->a[5], SAKER_MAX_SOCKADDR);
		break;
	case NR_recvfrom: {
		__u32 alen = 0;

		set_args(e, sa->a[0], sa->a[2], sa->a[3], 0);
		if (sa->a[4] && sa->a[5] && ret >= 0)
			bpf_probe_read_user(&alen, sizeof(alen), (const void *)sa->a[5]);
		push_user_bytes(e, (const void *)sa->a[4], alen, SAKER_MAX_SOCKADDR);
		break;
	}
	case NR_sendmsg:
	case NR_recvmsg: {
		struct user_msghdr mh = {};

		set_args(e, sa->a[0], 0, sa->a[2], 0);
		if (sa->a[1] && bpf_probe_read_user(&mh, sizeof(mh), (const void *)sa->a[1]) == 0)
			push_user_bytes(e, mh.msg_name, (__u32)mh.msg_namelen, SAKER_MAX_SOCKADDR);
		else
			push_empty(e);
		break;
	}
	case NR_accept:
	case NR_accept4:
		set_args(e, sa->a[0], 0, 0, nr == NR_accept4 ? sa->a[3] : 0);
		fd = ret; /* the new connection */
		break;
	}
	push_sock_params(e, task, fd);
}

/* Two-path calls: link, symlink, rename families. */
static __noinline void fill_two_paths(struct ev *e, __s32 nr, struct sys_args *sa)
{
	__u64 fdcwd = (__u64)(__s64)AT_FDCWD_;
	const void *p1 = 0, *p2 = 0;

	switch (nr) {
	case NR_link:
	case NR_rename:
		set_args(e, fdcwd, fdcwd, 0, 0);
		p1 = (const void *)sa->a[0];
		p2 = (const void *)sa->a[1];
		break;
	case NR_linkat:
	case NR_renameat2:
		set_args(e, sa->a[0], sa->a[2], sa->a[4], 0);
		p1 = (const void *)sa->a[1];
		p2 = (const void *)sa->a[3];
		break;
	case NR_renameat:
		set_args(e, sa->a[0], sa->a[2], 0, 0);
		p1 = (const void *)sa->a[1];
		p2 = (const void *)sa->a[3];
		break;
	case NR_symlink:
		set_args(e, fdcwd, 0, 0, 0);
		p1 = (const void *)sa->a[0];
		p2 = (const void *)sa->a[1];
		break;
	case NR_symlinkat:
		set_args(e, sa->a[1], 0, 0, 0);
		p1 = (const void *)sa->a[0];
		p2 = (const void *)sa->a[2];
		break;
	}
	push_user_str(e, p1, SAKER_MAX_PATH);
	push_user_str(e, p2, SAKER_MAX_PATH);
}

/* One-path calls: unlink, rmdir, mkdir, chmod families, execve failures. */
static __noinline void fill_one_path(struct ev *e, __s32 nr, struct sys_args *sa)
{
	__u64 fdcwd = (__u64)(__s64)AT_FDCWD_;
	const void *p = 0;

	switch (nr) {
	case NR_unlink:
	case NR_rmdir:
		set_args(e, fdcwd, 0, 0, 0);
		p = (const void *)sa->a[0];
		break;
	case NR_unlinkat:
		set_args(e, sa->a[0], sa->a[2], 0, 0);
		p = (const void *)sa->a[1];
		break;
	case NR_mkdir:
		set_args(e, fdcwd, sa->a[1], 0, 0);
		p = (const void *)sa->a[0];
		break;
	case NR_mkdirat:
		set_args(e, sa->a[0], sa->a[2], 0, 0);
		p = (const void *)sa->a[1];
		break;
	case NR_chmod:
		set_args(e, fdcwd, sa->a[1], 0, 0);
		p = (const void *)sa->a[0];
		break;
	case NR_fchmodat:
		set_args(e, sa->a[0], sa->a[2], 0, 0);
		p = (const void *)sa->a[1];
		break;
	case NR_fchmodat2:
		set_args(e, sa->a[0], sa->a[2], sa->a[3], 0);
		p = (const void *)sa->a[1];
		break;
	case NR_execve:
		set_args(e, fdcwd, 0, 0, 0);
		p = (const void *)sa->a[0];
		break;
	case NR_execveat:
		set_args(e, sa->a[0], sa->a[4], 0, 0);
		p = (const void *)sa->a[1];
		break;
	case NR_memfd_create:
		set_args(e, sa->a[1], 0, 0, 0);
		p = (const void *)sa->a[0];
		break;
	case NR_init_module:
		set_args(e, sa->a[1], 0, 0, 0);
		p = (const void *)sa->a[2];
		break;
	case NR_finit_module:
		set_args(e, sa->a[0], sa->a[2], 0, 0);
		p = (const void *)sa->a[1];
		break;
	}
	push_user_str(e, p, SAKER_MAX_PATH);
}

static __noinline void fill_chdir(struct ev *e, __s32 nr, struct sys_args *sa)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (nr == NR_chdir) {
		push_user_str(e, (const void *)sa->a[0], SAKER_MAX_PATH);
	} else {
		set_args(e, sa->a[0], 0, 0, 0);
	}
	push_cwd_walk(e, task);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(saker_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task;
	struct sys_args sa;
	struct ev e;
	long nr = regs->orig_ax;

	if (nr < 0 || nr >= SAKER_SYSCALL_SLOTS || !interested((__u32)nr))
		return 0;
	task = bpf_get_current_task_btf();
	if (is_self(task))
		return 0;
	if (task->thread_info.status & TS_COMPAT_) {
		/* ia32 numbers mean other calls: never misreport them. */
		count(CNT_COMPAT_SKIPPED);
		return 0;
	}
	/* A successful exec is reported by sched_process_exec. */
	if ((nr == NR_execve || nr == NR_execveat) && ret == 0)
		return 0;
	/* The close of an fd whose open the filter left out. */
	if (nr == NR_close && close_untracked((__s64)(__s32)regs->di)) {
		count_filtered(nr);
		return 0;
	}

	sa.a[0] = regs->di;
	sa.a[1] = regs->si;
	sa.a[2] = regs->dx;
	sa.a[3] = regs->r10;
	sa.a[4] = regs->r8;
	sa.a[5] = regs->r9;

	/* The open family: the path is read first, into its place in the
	 * record, and tested by the filter; the header (clock, credentials)
	 * and the rest are filled only for an open that is emitted. */
	if (nr == NR_open || nr == NR_openat || nr == NR_openat2 || nr == NR_creat) {
		struct open_args oa;

		if (ev_claim(&e, SAKER_EV_SYSCALL, (__s32)nr))
			return 0;
		read_open_args(&e, (__s32)nr, &sa, &oa);
		push_user_str(&e, oa.path, SAKER_MAX_PATH);
		if (!open_wanted(e.key, ret, oa.flags, e.flags)) {
			ev_discard(&e);
			count_filtered(nr);
			set_untracked(ret, 1);
			return 0;
		}
		ev_header(&e, task, SAKER_EV_SYSCALL, (__s32)nr, ret);
		fill_open(&e, ret, &oa);
		set_untracked(ret, 0);
		ev_submit(&e);
		return 0;
	}

	if (ev_begin(&e, task, SAKER_EV_SYSCALL, (__s32)nr, ret))
		return 0;

	switch (nr) {
	case NR_connect:
	case NR_bind:
	case NR_sendto:
	case NR_recvfrom:
	case NR_sendmsg:
	case NR_recvmsg:
	case NR_accept:
	case NR_accept4:
		fill_socket_io(&e, nr, ret, &sa);
		break;
	case NR_link:
	case NR_linkat:
	case NR_symlink:
	case NR_symlinkat:
	case NR_rename:
	case NR_renameat:
	case NR_renameat2:
		fill_two_paths(&e, nr, &sa);
		break;
	case NR_unlink:
	case NR_unlinkat:
	case NR_rmdir:
	case NR_mkdir:
	case NR_mkdirat:
	case NR_chmod:
	case NR_fchmodat:
	case NR_fchmodat2:
	case NR_execve:
	case NR_execveat:
	case NR_memfd_create:
	case NR_init_module:
	case NR_finit_module:
		fill_one_path(&e, nr, &sa);
		break;
	case NR_chdir:
	case NR_fchdir:
		fill_chdir(&e, nr, &sa);
		break;
	case NR_listen:
	case NR_fchmod:
	case NR_setns:
	case NR_setreuid:
	case NR_setregid:
		set_args(&e, sa.a[0], sa.a[1], 0, 0);
		break;
	case NR_dup2:
	case NR_dup3:
	case NR_fcntl:
	case NR_socket:
	case NR_setresuid:
	case NR_setresgid:
		set_args(&e, sa.a[0], sa.a[1], sa.a[2], 0);
		break;
	case NR_ptrace:
		set_args(&e, sa.a[0], sa.a[1], sa.a[2], sa.a[3]);
		break;
	default: {
		/* close, dup, setuid, setgid, unshare, bpf, userfaultfd and any
		 * other enabled call: the raw argument registers. */
		struct saker_event_header *h = ev_hdr(&e);

		for (int i = 0; i < 6; i++)
			h->args[i] = sa.a[i];
		break;
	}
	}
	/* An emitted event that made an fd: userspace tracks it. */
	switch (nr) {
	case NR_socket:
	case NR_accept:
	case NR_accept4:
	case NR_dup:
	case NR_dup2:
	case NR_dup3:
	case NR_memfd_create:
	case NR_userfaultfd:
		if (ret >= 0)
			set_untracked(ret, 0);
		break;
	case NR_fcntl:
		/* F_DUPFD, F_DUPFD_CLOEXEC */
		if (ret >= 0 && (sa.a[1] == 0 || sa.a[1] == 1030))
			set_untracked(ret, 0);
		break;
	}
	ev_submit(&e);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
