/* SPDX-License-Identifier: GPL-2.0-only */
/* File descriptors to kernel objects, and the socket tuple parameters. */
#ifndef SAKER_SOCK_H
#define SAKER_SOCK_H

#include "common.h"

#define S_IFMT_ 00170000
#define S_IFSOCK_ 0140000
#define S_IFDIR_ 0040000
#define AF_UNIX_ 1
#define AF_INET_ 2
#define AF_INET6_ 10
#define UNIX_PATH_MAX_ 108
/* Bytes of struct sock_common copied at most (it is 136 on 6.x kernels). */
#define SOCK_COMMON_MAX 1024

/* The struct file behind `fd` in the current task, or NULL. `task` is the
 * trusted BTF pointer of bpf_get_current_task_btf: the walk to the fd array
 * is direct loads (a NULL or freed pointer reads as 0), and only the array
 * slot, a pointer to pointer the verifier does not type, takes a helper
 * call. Five helper calls before; this runs on every open and socket call. */
static __always_inline struct file *fd_to_file(struct task_struct *task, __s64 fd)
{
	struct files_struct *files = task->files;
	struct fdtable *fdt;
	struct file **fds;
	struct file *f = NULL;

	if (!files || fd < 0)
		return NULL;
	fdt = files->fdt;
	if (!fdt || (__u64)fd >= fdt->max_fds)
		return NULL;
	fds = fdt->fd;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return NULL;
	return f;
}

/* Whether `fd` of the current task is a directory. */
static __always_inline bool fd_is_dir(struct task_struct *task, __s64 fd)
{
	struct file *f = fd_to_file(task, fd);

	return f && (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT_) == S_IFDIR_;
}

/* The f_mode of the file behind `fd` of the current task, 0 if none. */
static __always_inline __u32 fd_f_mode(struct task_struct *task, __s64 fd)
{
	struct file *f = fd_to_file(task, fd);

	return f ? BPF_CORE_READ(f, f_mode) : 0;
}

static __always_inline struct sock *file_to_sock(struct file *f)
{
	struct socket *sock;
	umode_t mode;

	if (!f)
		return NULL;
	mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT_) != S_IFSOCK_)
		return NULL;
	sock = BPF_CORE_READ(f, private_data);
	if (!sock)
		return NULL;
	return BPF_CORE_READ(sock, sk);
}

/* The AF_UNIX path bound to `sk` (sun_path, possibly abstract: leading NUL). */
static __always_inline int unix_path_of(struct sock *sk, struct unix_address **out)
{
	struct unix_sock *u = (struct unix_sock *)sk;
	struct unix_address *addr = BPF_CORE_READ(u, addr);

	if (!addr) {
		struct sock *peer = BPF_CORE_READ(u, peer);

		if (!peer)
			return -1;
		addr = BPF_CORE_READ((struct unix_sock *)peer, addr);
		if (!addr)
			return -1;
	}
	*out = addr;
	return 0;
}

/* Pushes TUPLE and UNIX parameters (abi.h) for the socket behind `fd`. */
static __always_inline void push_sock_params(struct ev *e, struct task_struct *task, __s64 fd)
{
	struct saker_sock_tuple *t = push_fixed(e, sizeof(struct saker_sock_tuple));
	struct sock *sk = file_to_sock(fd_to_file(task, fd));
	struct unix_address *ua = NULL;
	__u16 family = 0;

	if (t) {
		__builtin_memset(t, 0, sizeof(*t));
		/* The socket's common part (family, state, addresses, ports) is
		 * copied with one helper call into the scratch buffer's upper
		 * half, which records never use, and its fields are read there
		 * at their CO-RE offsets: a call per field cost ~35 ns each. As
		 * before, a failed read leaves the tuple empty. */
		struct sock_common *c = (struct sock_common *)&e->s->buf[SCRATCH_HALF];
		__u32 csize = bpf_core_type_size(struct sock_common);

		if (csize > SOCK_COMMON_MAX)
			csize = SOCK_COMMON_MAX;
		if (sk && bpf_probe_read_kernel(c, csize, &sk->__sk_common) == 0) {
			family = c->skc_family;
			t->family = family;
			t->type = BPF_CORE_READ(sk, sk_type);
			t->protocol = BPF_CORE_READ(sk, sk_protocol);
			t->state = c->skc_state;
			if (family == AF_INET_) {
				__u32 l = c->skc_rcv_saddr;
				__u32 r = c->skc_daddr;

				__builtin_memcpy(t->laddr, &l, 4);
				__builtin_memcpy(t->raddr, &r, 4);
			} else if (family == AF_INET6_) {
				__builtin_memcpy(t->laddr, &c->skc_v6_rcv_saddr, 16);
				__builtin_memcpy(t->raddr, &c->skc_v6_daddr, 16);
			}
			if (family == AF_INET_ || family == AF_INET6_) {
				t->lport = c->skc_num;
				t->rport = bpf_ntohs(c->skc_dport);
			}
		}
	}

	if (family == AF_UNIX_ && unix_path_of(sk, &ua) == 0) {
		__u32 at = e->off;
		int len = BPF_CORE_READ(ua, len) - (int)sizeof(short);
		__u32 n;

		if (!room_for(e, 128)) {
			ev_flag(e, SAKER_F_TRUNCATED);
			return;
		}
		if (len < 0)
			len = 0;
		n = len & 127;
		if (n > UNIX_PATH_MAX_)
			n = UNIX_PATH_MAX_;
		if (n && bpf_probe_read_kernel(&e->s->buf[OFF(at + 2)], n,
					       (void *)ua + bpf_core_field_offset(struct unix_address, name) +
						       sizeof(short))) {
			ev_flag(e, SAKER_F_READ_FAILED);
			count(CNT_READ_FAILURES);
			n = 0;
		}
		param_end(e, at, at + 2 + n);
	} else {
		push_empty(e);
	}
}

#endif /* SAKER_SOCK_H */
