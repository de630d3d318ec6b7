// SPDX-License-Identifier: GPL-2.0-only
/*
 * Process lifecycle: the scheduler tracepoints see every new task, every
 * successful exec and every exit, whichever syscall (or kernel path) caused
 * them, which the syscall programs alone cannot (clone3, vfork, kernel
 * threads, exec from a non-leader thread).
 */
#include "lib/common.h"
#include "lib/path.h"

#define NR_fork 57
#define NR_vfork 58
#define NR_clone 56
#define NR_clone3 435
#define NR_execve 59
#define NR_execveat 322
#define PF_KTHREAD_ 0x00200000
#define SIGCHLD_ 17
#define CLONE_VM_ 0x00000100
#define CLONE_VFORK_ 0x00004000
#define OVERLAYFS_SUPER_MAGIC_ 0x794c7630
#define CAP_DAC_OVERRIDE_ 1
#define MAY_WRITE_MODE_OWNER 0200
#define MAY_WRITE_MODE_GROUP 0020
#define MAY_WRITE_MODE_OTHER 0002

/* The number of `pid` in the pid namespace at `level` (pid_nr_ns). */
static __always_inline __u32 pid_nr_at(struct pid *pid, __u32 level)
{
	struct upid up = {};

	if (!pid || BPF_CORE_READ(pid, level) < level)
		return 0;
	if (bpf_core_read(&up, sizeof(up), &pid->numbers[level & 31]))
		return 0;
	return up.nr;
}

static __always_inline __u32 task_level(struct task_struct *t)
{
	return BPF_CORE_READ(t, thread_pid, level);
}

/* /proc/PID/stat's tty_nr: new_encode_dev(MKDEV(major, minor_start) + index). */
static __always_inline __u32 task_tty(struct task_struct *t)
{
	struct tty_struct *tty = BPF_CORE_READ(t, signal, tty);
	__u32 major, minor;

	if (!tty)
		return 0;
	major = BPF_CORE_READ(tty, driver, major);
	minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

static __always_inline __u64 read_cap(const kernel_cap_t *cap)
{
	__u64 v = 0;

	/* u64 since 6.3, two u32 before: the same bytes either way. */
	bpf_core_read(&v, sizeof(v), cap);
	return v;
}

/* Pre-6.11 inodes kept timespec64 times. */
struct inode___pre611 {
	struct timespec64 __i_ctime;
	struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

static __always_inline void inode_times(struct inode *ino, __u64 *ctime, __u64 *mtime)
{
	if (bpf_core_field_exists(ino->i_ctime_sec)) {
		*ctime = BPF_CORE_READ(ino, i_ctime_sec) * 1000000000ULL + BPF_CORE_READ(ino, i_ctime_nsec);
		*mtime = BPF_CORE_READ(ino, i_mtime_sec) * 1000000000ULL + BPF_CORE_READ(ino, i_mtime_nsec);
	} else {
		struct inode___pre611 *old = (void *)ino;

		*ctime = BPF_CORE_READ(old, __i_ctime.tv_sec) * 1000000000ULL +
			 BPF_CORE_READ(old, __i_ctime.tv_nsec);
		*mtime = BPF_CORE_READ(old, i_mtime.tv_sec) * 1000000000ULL +
			 BPF_CORE_READ(old, i_mtime.tv_nsec);
	}
}

/* Falco's exe flags: writable by the process, overlayfs layer, memfd. */
static __always_inline __u32 exe_flags(struct file *exe, struct inode *ino, const struct cred *cred,
				       __u64 cap_effective)
{
	__u32 flags = 0;
	umode_t mode = BPF_CORE_READ(ino, i_mode);
	__u32 fsuid = BPF_CORE_READ(cred, fsuid.val);
	__u32 fsgid = BPF_CORE_READ(cred, fsgid.val);
	unsigned long magic = BPF_CORE_READ(ino, i_sb, s_magic);
	char name[8] = {};

	/* generic_permission() for MAY_WRITE, without ACLs. */
	if (fsuid == BPF_CORE_READ(ino, i_uid.val)) {
		if (mode & MAY_WRITE_MODE_OWNER)
			flags |= SAKER_EXE_WRITABLE;
	} else if (fsgid == BPF_CORE_READ(ino, i_gid.val)) {
		if (mode & MAY_WRITE_MODE_GROUP)
			flags |= SAKER_EXE_WRITABLE;
	} else if (mode & MAY_WRITE_MODE_OTHER) {
		flags |= SAKER_EXE_WRITABLE;
	}
	if (cap_effective & (1ULL << CAP_DAC_OVERRIDE_))
		flags |= SAKER_EXE_WRITABLE;

	if (magic == OVERLAYFS_SUPER_MAGIC_ && bpf_core_type_exists(struct ovl_inode)) {
		struct ovl_inode *oi = container_of(ino, struct ovl_inode, vfs_inode);

		if (BPF_CORE_READ(oi, __upperdentry))
			flags |= SAKER_EXE_UPPER_LAYER;
		else
			flags |= SAKER_EXE_LOWER_LAYER;
	}

	/* memfd_create() names its files "memfd:<name>" (mm/memfd.c). */
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(exe, f_path.dentry, d_name.name));
	if (name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' && name[4] == 'd' &&
	    name[5] == ':')
		flags |= SAKER_EXE_FROM_MEMFD;
	return flags;
}

static __always_inline void push_mm_bytes(struct ev *e, struct mm_struct *mm, bool env, __u32 max)
{
	unsigned long start, end;

	if (!mm) {
		push_empty(e);
		return;
	}
	if (env) {
		start = BPF_CORE_READ(mm, env_start);
		end = BPF_CORE_READ(mm, env_end);
	} else {
		start = BPF_CORE_READ(mm, arg_start);
		end = BPF_CORE_READ(mm, arg_end);
	}
	push_user_bytes(e, (const void *)start, end > start ? end - start : 0, max);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(saker_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct saker_proc_info *pi;
	struct file *exe;
	struct inode *ino;
	const struct cred *cred;
	__u32 level;
	struct ev e;
	__s32 nr;

	/* The fds whose open the kernel filter left out: exec closed those
	 * opened with O_CLOEXEC without a close call, and a later fd with the
	 * same number made by a call the probe does not see (pipe, eventfd,
	 * ...) would have its close left out. Forgetting the set costs at most
	 * the closes of the filtered fds exec kept (sent, not lost). */
	bpf_task_storage_delete(&untracked, task->group_leader);
	if (!interested(SAKER_INTEREST_EXEC) || is_self(task))
		return 0;
	/* The saved orig_ax reads as execve even for execveat by the time this
	 * tracepoint fires; the kernel sets bprm->fdpath ("/dev/fd/N[/path]")
	 * exactly when execveat ran on a file descriptor. execveat(AT_FDCWD, path)
	 * behaves as, and is reported as, execve. */
	nr = BPF_CORE_READ(bprm, fdpath) ? NR_execveat : NR_execve;
	if (ev_begin(&e, task, SAKER_EV_EXEC, nr, 0))
		return 0;
	ev_hdr(&e)->args[0] = (__u32)old_pid;

	pi = push_fixed(&e, sizeof(*pi));
	exe = BPF_CORE_READ(bprm, file);
	ino = BPF_CORE_READ(exe, f_inode);
	cred = BPF_CORE_READ(task, cred);
	if (pi) {
		__builtin_memset(pi, 0, sizeof(*pi));
		pi->cap_inheritable = read_cap(&cred->cap_inheritable);
		pi->cap_permitted = read_cap(&cred->cap_permitted);
		pi->cap_effective = read_cap(&cred->cap_effective);
		pi->exe_ino = BPF_CORE_READ(ino, i_ino);
		pi->exe_dev = BPF_CORE_READ(ino, i_sb, s_dev);
		inode_times(ino, &pi->exe_ctime_ns, &pi->exe_mtime_ns);
		pi->start_boot_ns = BPF_CORE_READ(task, group_leader, start_boottime);
		pi->ruid = BPF_CORE_READ(cred, uid.val);
		pi->rgid = BPF_CORE_READ(cred, gid.val);
		level = task_level(task);
		pi->pidns_level = level;
		pi->vtid = pid_nr_at(BPF_CORE_READ(task, thread_pid), level);
		pi->vpid = pid_nr_at(BPF_CORE_READ(task, group_leader, thread_pid), level);
		pi->sid = pid_nr_at(BPF_CORE_READ(task, signal, pids[PIDTYPE_SID]), level);
		pi->vpgid = pid_nr_at(BPF_CORE_READ(task, signal, pids[PIDTYPE_PGID]), level);
		pi->tty = task_tty(task);
		pi->exe_flags = exe_flags(exe, ino, cred, pi->cap_effective);
	}
	push_kernel_str(&e, BPF_CORE_READ(bprm, filename), SAKER_MAX_PATH);
	push_file_walk(&e, exe, task);
	push_mm_bytes(&e, BPF_CORE_READ(task, mm), false, SAKER_MAX_ARGS);
	push_mm_bytes(&e, BPF_CORE_READ(task, mm), true, SAKER_MAX_ENV);
	push_cwd_walk(&e, task);
	push_cgroup_walk(&e, task);
	ev_submit(&e);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(saker_fork, struct task_struct *parent, struct task_struct *child)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct saker_event_header *h;
	struct pt_regs *regs;
	__u64 clone_flags = 0;
	__s32 nr = -1;
	__u32 level;
	struct ev e;

	if (!interested(SAKER_INTEREST_FORK) || is_self(task))
		return 0;
	if (!(task->flags & PF_KTHREAD_)) {
		regs = (struct pt_regs *)bpf_task_pt_regs(task);
		if (regs) {
			nr = (__s32)BPF_CORE_READ(regs, orig_ax);
			if (nr == NR_clone)
				clone_flags = BPF_CORE_READ(regs, di);
			else if (nr == NR_clone3)
				bpf_probe_read_user(&clone_flags, sizeof(clone_flags),
						    (const void *)BPF_CORE_READ(regs, di));
			else if (nr == NR_fork)
				clone_flags = SIGCHLD_;
			else if (nr == NR_vfork)
				clone_flags = CLONE_VM_ | CLONE_VFORK_ | SIGCHLD_;
		}
	}
	if (ev_begin(&e, task, SAKER_EV_FORK, nr, child->pid))
		return 0;
	h = ev_hdr(&e);
	level = task_level(child);
	h->args[0] = child->pid;
	h->args[1] = child->tgid;
	h->args[2] = clone_flags;
	h->args[3] = child->real_parent->tgid;
	h->args[4] = pid_nr_at(BPF_CORE_READ(child, thread_pid), level);
	h->args[5] = pid_nr_at(BPF_CORE_READ(child, group_leader, thread_pid), level);
	ev_submit(&e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(saker_exit, struct task_struct *p)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct saker_event_header *h;
	struct ev e;
	if (!interested(SAKER_INTEREST_EXIT) || is_self(task))
		return 0;
	if (ev_begin(&e, task, SAKER_EV_EXIT, -1, 0))
		return 0;
	h = ev_hdr(&e);
	h->args[0] = BPF_CORE_READ(p, exit_code);
	/* do_exit() decrements signal->live before this tracepoint fires. */
	h->args[1] = BPF_CORE_READ(p, signal, live.counter) == 0;
	ev_submit(&e);
	return 0;
}
