/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Path walks: bpf_d_path() is only allowed in LSM/fentry programs, which
 * lockdown forbids here, so paths of kernel objects are rebuilt by walking
 * dentry->d_parent (crossing mounts like fs/d_path.c:prepend_path does) and
 * kernfs_node parents for cgroups. Components are written leaf first, each
 * NUL terminated; userspace reverses them (see abi.h, PATH WALKS).
 */
#ifndef SAKER_PATH_H
#define SAKER_PATH_H

#include "common.h"

#define NAME_MAX_READ 256
#define WALK_BUDGET 4096

/*
 * The walks run under bpf_loop(): the verifier checks the callback once,
 * where an open-coded loop would be re-verified per iteration with a growing
 * write offset (and exceed the 1M instruction budget).
 */
struct dentry_walk {
	struct scratch *s;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 at;
	__u32 cur;
	__u32 done;
	__u32 failed;
};

static long dentry_walk_step(__u64 index, void *ctx)
{
	struct dentry_walk *w = ctx;
	/* Copy out of the context first: BPF_CORE_READ on `w->x` would also
	 * emit a CO-RE relocation for our own struct dentry_walk. */
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root, *parent;
	const unsigned char *name;
	long n;

	if (dentry == w->root_dentry && vfsmnt == w->root_mnt) {
		w->done = 1;
		return 1;
	}
	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	if (dentry == mnt_root) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (mnt_parent == mnt) {
			w->done = 1; /* the root of the mount tree */
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mnt_parent;
		w->vfsmnt = &mnt_parent->mnt;
		return 0;
	}
	parent = BPF_CORE_READ(dentry, d_parent);
	if (w->cur - w->at + NAME_MAX_READ + 1 > WALK_BUDGET)
		return 1;
	if (parent == dentry) {
		/* The root of a detached tree: a pseudo file (memfd, pipe, anon
		 * inode) has no path, only a name. Emit it, then an empty
		 * component marking the path as not anchored at a root. */
		name = BPF_CORE_READ(dentry, d_name.name);
		n = bpf_probe_read_kernel_str(&w->s->buf[OFF(w->cur)], NAME_MAX_READ, name);
		if (n > 1) {
			w->cur += n & (2 * NAME_MAX_READ - 1);
			w->s->buf[OFF(w->cur)] = 0;
			w->cur += 1;
		}
		w->done = 1;
		return 1;
	}
	name = BPF_CORE_READ(dentry, d_name.name);
	n = bpf_probe_read_kernel_str(&w->s->buf[OFF(w->cur)], NAME_MAX_READ, name);
	if (n <= 0) {
		w->failed = 1;
		return 1;
	}
	w->cur += n & (2 * NAME_MAX_READ - 1);
	w->dentry = parent;
	return 0;
}

/* Walks from (dentry, vfsmnt) up to the task's root. */
static __always_inline void push_dentry_walk(struct ev *e, struct dentry *dentry,
					     struct vfsmount *vfsmnt, struct task_struct *task)
{
	struct dentry_walk w = {};

	if (!room_for(e, WALK_BUDGET)) {
		ev_flag(e, SAKER_F_TRUNCATED);
		return;
	}
	w.s = e->s;
	w.at = e->off;
	w.cur = e->off + 2;
	if (dentry) {
		w.dentry = dentry;
		w.vfsmnt = vfsmnt;
		w.mnt = container_of(vfsmnt, struct mount, mnt);
		w.root_dentry = BPF_CORE_READ(task, fs, root.dentry);
		w.root_mnt = BPF_CORE_READ(task, fs, root.mnt);
		bpf_loop(SAKER_MAX_PATH_DEPTH, dentry_walk_step, &w, 0);
		if (w.failed) {
			ev_flag(e, SAKER_F_READ_FAILED);
			count(CNT_READ_FAILURES);
		} else if (!w.done) {
			ev_flag(e, SAKER_F_TRUNCATED);
		}
	}
	if (w.cur < w.at + 2 || w.cur > w.at + 2 + WALK_BUDGET)
		w.cur = w.at + 2;
	param_end(e, w.at, w.cur);
}

static __always_inline void push_file_walk(struct ev *e, struct file *file, struct task_struct *task)
{
	struct dentry *dentry = NULL;
	struct vfsmount *mnt = NULL;

	if (file) {
		dentry = BPF_CORE_READ(file, f_path.dentry);
		mnt = BPF_CORE_READ(file, f_path.mnt);
	}
	push_dentry_walk(e, dentry, mnt, task);
}

static __always_inline void push_cwd_walk(struct ev *e, struct task_struct *task)
{
	push_dentry_walk(e, BPF_CORE_READ(task, fs, pwd.dentry), BPF_CORE_READ(task, fs, pwd.mnt),
			 task);
}

/* kernfs_node.parent was renamed __parent in Linux 6.15. */
struct kernfs_node___pre615 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kernfs_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
}

struct kernfs_walk {
	struct scratch *s;
	struct kernfs_node *kn;
	__u32 at;
	__u32 cur;
};

static long kernfs_walk_step(__u64 index, void *ctx)
{
	struct kernfs_walk *w = ctx;
	struct kernfs_node *parent;
	long n;

	struct kernfs_node *kn = w->kn;

	if (!kn)
		return 1;
	parent = kernfs_parent(kn);
	if (!parent)
		return 1; /* the hierarchy root: its name is not part of the path */
	if (w->cur - w->at + NAME_MAX_READ > WALK_BUDGET)
		return 1;
	n = bpf_probe_read_kernel_str(&w->s->buf[OFF(w->cur)], NAME_MAX_READ,
				      BPF_CORE_READ(kn, name));
	if (n <= 0)
		return 1;
	w->cur += n & (2 * NAME_MAX_READ - 1);
	w->kn = parent;
	return 0;
}

static __always_inline void walk_kernfs(struct ev *e, struct kernfs_node *kn, __u32 at)
{
	struct kernfs_walk w = { .s = e->s, .kn = kn, .at = at, .cur = at + 2 };

	bpf_loop(SAKER_MAX_CGROUP_DEPTH, kernfs_walk_step, &w, 0);
	if (w.cur < at + 2 || w.cur > at + 2 + WALK_BUDGET)
		w.cur = at + 2;
	param_end(e, at, w.cur);
}

/* The kernfs node of the task's cgroup in the v1 hierarchy of subsystem `id`,
 * or NULL when the subsystem is absent or the task sits at its root. */
static __always_inline struct kernfs_node *v1_cgroup_kn(struct task_struct *task, int id)
{
	struct kernfs_node *kn;

	if (id < 0 || id >= 16)
		return NULL;
	kn = BPF_CORE_READ(task, cgroups, subsys[id], cgroup, kn);
	if (!kn || !kernfs_parent(kn))
		return NULL;
	return kn;
}

/*
 * The task's cgroup path, where runtimes put containers: the cgroup v2
 * (default hierarchy) path when the task is below its root; else the first
 * v1 controller that places it below its root, in the order memory, pids,
 * cpuset, cpu (hybrid and v1 hosts: runtimes create the container's cgroup
 * in every controller, but a controller may be disabled or shared with the
 * host's own placement). agent/src/state/procfs.rs `cgroup_path` makes the
 * same choice from /proc/PID/cgroup.
 */
static __always_inline void push_cgroup_walk(struct ev *e, struct task_struct *task)
{
	struct kernfs_node *kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);
	__u32 at = e->off;

	if (!room_for(e, WALK_BUDGET)) {
		ev_flag(e, SAKER_F_TRUNCATED);
		return;
	}
	if (!kn || !kernfs_parent(kn)) {
		kn = v1_cgroup_kn(task, bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id));
		if (!kn)
			kn = v1_cgroup_kn(task, bpf_core_enum_value(enum cgroup_subsys_id, pids_cgrp_id));
		if (!kn)
			kn = v1_cgroup_kn(task, bpf_core_enum_value(enum cgroup_subsys_id, cpuset_cgrp_id));
		if (!kn)
			kn = v1_cgroup_kn(task, bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id));
	}
	walk_kernfs(e, kn, at);
}

#endif /* SAKER_PATH_H */
