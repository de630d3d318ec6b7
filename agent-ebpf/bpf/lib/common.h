/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared maps, globals and the record builder used by every Saker program.
 *
 * Maps and globals are declared __weak so that each .bpf.c object can see
 * them and `bpftool gen object` links them into one definition.
 */
#ifndef SAKER_COMMON_H
#define SAKER_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "abi.h"

/* ---- configuration written by the loader (EbpfLoader::override_global) ---- */

/* The agent's own process: its syscalls are never reported. */
const volatile __u32 saker_self_tgid __weak = 0;
/* Each CPU wakes the consumer after writing this many bytes since its last
 * wake-up; the consumer also drains on a timer. A wake-up per record costs
 * more than the record itself in a tight syscall loop, and asking the ring
 * how much data waits (bpf_ringbuf_query) reads the consumer's cache line on
 * every event: a per-CPU byte count costs neither. */
const volatile __u64 saker_wakeup_bytes __weak = 64 * 1024;
/* Read the clock for at most one syscall record in this many per CPU (and at
 * least once per scheduler tick); the others reuse the last reading. On
 * virtual machines a clock read costs more than the rest of a record (136 ns
 * of ~450 measured here). 0 or 1: read it for every record. */
const volatile __u32 saker_ts_every __weak = 16;
/* Read by the loader to refuse a mismatched object. */
const volatile __u32 saker_abi_version __weak = SAKER_ABI_VERSION;

/* ---- maps ---- */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024); /* resized by the loader */
} events SEC(".maps") __weak;

/* interest[i] != 0: emit syscall i (i < SAKER_SYSCALL_SLOTS) or process event kind. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SAKER_INTEREST_SLOTS);
	__type(key, __u32);
	__type(value, __u8);
} interest SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct saker_counters);
} counters SEC(".maps") __weak;

/* Records lost, per event type (abi.h, SAKER_DROP_SLOTS). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SAKER_DROP_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} drops_by_type SEC(".maps") __weak;

/* Per process, the fds below SAKER_UNTRACKED_FDS whose open the
 * rule-derived filter left out (syscalls.bpf.c): their close is left out
 * too. An fd leaves the set when an emitted event makes it again. Kept in
 * the task storage of the thread-group leader (the fd table is the
 * process's): a lookup is a pointer load from the task, where a hash keyed
 * by tgid cost ~30 ns per open and per close; it goes with the process. */
struct untracked_fds {
	__u64 bits[SAKER_UNTRACKED_FDS / 64];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct untracked_fds);
} untracked SEC(".maps") __weak;

/* Bytes written by this CPU since it last woke the consumer. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} wakeup_pending SEC(".maps") __weak;

struct ts_cache {
	__u64 jiffies;
	__u64 ns;
	__u32 left;
	__u32 _pad;
};

/* Per CPU: the last clock reading and how many more records may reuse it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ts_cache);
} ts_cache SEC(".maps") __weak;

/* Entry 0: nanoseconds to add to the boot clock to get the wall clock. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} clock SEC(".maps") __weak;

/*
 * Records are built in a scratch buffer, then copied to the ring buffer with
 * their exact size (a ring reservation must have a constant size). Each CPU
 * has SCRATCH_SLOTS_PER_CPU buffers claimed with a compare-and-swap, because a
 * preemptible kernel may switch tasks while a program runs (programs are only
 * pinned to their CPU, not made atomic).
 *
 * Offsets are masked with SCRATCH_HALF - 1 and every single write is at most
 * SCRATCH_HALF bytes, so the verifier can prove all writes stay in the buffer.
 */
#define SCRATCH_HALF SAKER_MAX_RECORD
#define SCRATCH_SLOTS_PER_CPU 2
#define OFF(x) ((x) & (SCRATCH_HALF - 1))

struct scratch {
	__u32 busy;
	__u32 _pad;
	__u8 buf[2 * SCRATCH_HALF];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256 * SCRATCH_SLOTS_PER_CPU); /* set to ncpus * slots by the loader */
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps") __weak;

/* ---- counters ---- */

enum counter_id {
	CNT_EMITTED,
	CNT_DROPPED_FULL,
	CNT_READ_FAILURES,
	CNT_TRUNCATED,
	CNT_SCRATCH_BUSY,
	CNT_COMPAT_SKIPPED,
};

/* Per-CPU counters need no atomics: one program runs at a time per CPU
 * (syscall and sched tracepoints run their BPF programs with preemption
 * disabled; the scratch slots below are claimed atomically regardless). */
static __always_inline void count(enum counter_id id)
{
	__u32 zero = 0;
	struct saker_counters *c = bpf_map_lookup_elem(&counters, &zero);

	if (!c)
		return;
	switch (id) {
	case CNT_EMITTED:
		c->emitted++;
		break;
	case CNT_DROPPED_FULL:
		c->dropped_full++;
		break;
	case CNT_READ_FAILURES:
		c->read_failures++;
		break;
	case CNT_TRUNCATED:
		c->truncated++;
		break;
	case CNT_SCRATCH_BUSY:
		c->scratch_busy++;
		break;
	case CNT_COMPAT_SKIPPED:
		c->compat_skipped++;
		break;
	}
}

/* The `interest`/`drops_by_type` slot of a record of `kind` (syscall `nr`). */
static __always_inline __u32 drop_slot(__u16 kind, __s32 nr)
{
	switch (kind) {
	case SAKER_EV_EXEC:
		return SAKER_INTEREST_EXEC;
	case SAKER_EV_FORK:
		return SAKER_INTEREST_FORK;
	case SAKER_EV_EXIT:
		return SAKER_INTEREST_EXIT;
	default:
		return (__u32)nr;
	}
}

/* Counts a lost record by its event type (out-of-range slots are ignored by
 * the map lookup). */
static __always_inline void count_drop_type(__u16 kind, __s32 nr)
{
	__u32 slot = drop_slot(kind, nr);
	__u64 *n;

	if (slot >= SAKER_DROP_SLOTS)
		return;
	n = bpf_map_lookup_elem(&drops_by_type, &slot);
	if (n)
		(*n)++;
}

static __always_inline bool interested(__u32 slot)
{
	__u8 *want = bpf_map_lookup_elem(&interest, &slot);

	return want && *want;
}

/* `task`: the current task (bpf_get_current_task_btf). */
static __always_inline bool is_self(struct task_struct *task)
{
	return task->tgid == saker_self_tgid;
}

/* Boot-clock time of a syscall record: exact, or the CPU's last reading when
 * it is recent (same jiffy, fewer than saker_ts_every records ago). Records
 * keep their exact order in the ring either way. */
static __always_inline __u64 record_time(bool precise)
{
	__u32 zero = 0;
	struct ts_cache *c;
	__u64 j;

	if (saker_ts_every <= 1)
		return bpf_ktime_get_boot_ns();
	c = bpf_map_lookup_elem(&ts_cache, &zero);
	if (!c)
		return bpf_ktime_get_boot_ns();
	j = bpf_jiffies64();
	if (precise || c->left == 0 || c->jiffies != j) {
		/* A precise reading refreshes the cache too, so that a CPU's
		 * records never go back in time. */
		c->ns = bpf_ktime_get_boot_ns();
		c->jiffies = j;
		c->left = saker_ts_every - 1;
	} else {
		c->left--;
	}
	return c->ns;
}

/* ---- record builder ---- */

struct ev {
	struct scratch *s;
	__u32 off;      /* next write offset in s->buf */
	__u16 nparams;
	__u16 flags;
	__u32 key;      /* s's index in the scratch map */
	__u32 _pad;
};

static __always_inline struct saker_event_header *ev_hdr(struct ev *e)
{
	return (struct saker_event_header *)e->s->buf;
}

static __always_inline int claim_slot(struct ev *e)
{
	__u32 base = bpf_get_smp_processor_id() * SCRATCH_SLOTS_PER_CPU;

	for (__u32 i = 0; i < SCRATCH_SLOTS_PER_CPU; i++) {
		__u32 key = base + i;
		struct scratch *s = bpf_map_lookup_elem(&scratch, &key);

		if (!s)
			break;
		if (__sync_val_compare_and_swap(&s->busy, 0, 1) == 0) {
			e->s = s;
			e->key = key;
			return 0;
		}
	}
	count(CNT_SCRATCH_BUSY);
	return -1;
}

static __always_inline void release_slot(struct ev *e)
{
	__sync_lock_test_and_set(&e->s->busy, 0);
}

/* Claims a scratch slot for a record of `kind` (syscall `nr`) with no
 * parameters yet; the header is filled by ev_header. Non-zero: no slot (the
 * record is counted as dropped). */
static __always_inline int ev_claim(struct ev *e, __u16 kind, __s32 nr)
{
	if (claim_slot(e)) {
		count_drop_type(kind, nr);
		return -1;
	}
	e->off = sizeof(struct saker_event_header);
	e->nparams = 0;
	e->flags = 0;
	return 0;
}

/* Fills the header of a claimed record for the current task (`task`, from
 * bpf_get_current_task_btf: ids and credentials are direct loads through it,
 * no helper calls). Parameters already pushed are kept:
 * the open family pushes its path first, so that an open the rule-derived
 * filter leaves out costs no clock read or credential loads. */
static __always_inline void ev_header(struct ev *e, struct task_struct *task, __u16 kind, __s32 nr,
				      __s64 ret)
{
	struct saker_event_header *h;
	__u32 zero = 0;
	__u64 *wall_offset;

	/* Syscall records leave cgroup_id 0: userspace knows each thread's
	 * cgroup from its exec/fork records, and the lookup costs ~50 ns. */
	h = ev_hdr(e);
	h->kind = kind;
	/* Process events are rare and their times become process start times. */
	h->ts_boot_ns = record_time(kind != SAKER_EV_SYSCALL);
	wall_offset = bpf_map_lookup_elem(&clock, &zero);
	h->ts_wall_ns = h->ts_boot_ns + (wall_offset ? *wall_offset : 0);
	h->cgroup_id = kind == SAKER_EV_SYSCALL ? 0 : bpf_get_current_cgroup_id();
	h->ret = ret;
	for (int i = 0; i < 6; i++)
		h->args[i] = 0;
	h->tgid = task->tgid;
	h->tid = task->pid;
	/* Direct loads through the BTF task pointer: no helper calls on the hot path. */
	h->ppid = task->real_parent->tgid;
	h->uid = task->cred->euid.val;
	h->gid = task->cred->egid.val;
	if (bpf_core_field_exists(task->loginuid))
		h->loginuid = task->loginuid.val;
	else
		h->loginuid = 0xffffffff;
	h->syscall_nr = nr;
	h->cpu = (__u16)bpf_get_smp_processor_id();
	h->flags = 0;
	/* Two loads through the BTF pointer instead of a helper call. */
	__builtin_memcpy(h->comm, task->comm, sizeof(h->comm));
}

/* Claims a slot and fills the header: ev_claim then ev_header. */
static __always_inline int ev_begin(struct ev *e, struct task_struct *task, __u16 kind, __s32 nr,
				    __s64 ret)
{
	if (ev_claim(e, kind, nr))
		return -1;
	ev_header(e, task, kind, nr, ret);
	return 0;
}

static __always_inline void ev_flag(struct ev *e, __u16 flag)
{
	if (flag == SAKER_F_TRUNCATED && !(e->flags & SAKER_F_TRUNCATED))
		count(CNT_TRUNCATED);
	e->flags |= flag;
}

static __always_inline void put_len(struct ev *e, __u32 at, __u32 n)
{
	e->s->buf[OFF(at)] = n & 0xff;
	e->s->buf[OFF(at + 1)] = (n >> 8) & 0xff;
}

/* Closes a parameter that started at `at` and ends at `end`. */
static __always_inline void param_end(struct ev *e, __u32 at, __u32 end)
{
	put_len(e, at, end - at - 2);
	e->off = end;
	e->nparams++;
}

/* True when a parameter of up to `max` bytes still fits in the record. */
static __always_inline bool room_for(struct ev *e, __u32 max)
{
	return e->off + 2 + max <= SAKER_MAX_RECORD;
}

static __always_inline void push_empty(struct ev *e)
{
	if (!room_for(e, 0))
		return;
	param_end(e, e->off, e->off + 2);
}

/* A NUL-terminated string, at most max - 1 bytes kept, from user memory
 * (`user`, a constant at every call site) or kernel memory. */
static __always_inline void push_str(struct ev *e, const void *ptr, __u32 max, bool user)
{
	__u32 at = e->off;
	long n = 0;

	if (!room_for(e, max)) {
		ev_flag(e, SAKER_F_TRUNCATED);
		return;
	}
	if (ptr) {
		if (user)
			n = bpf_probe_read_user_str(&e->s->buf[OFF(at + 2)], max, ptr);
		else
			n = bpf_probe_read_kernel_str(&e->s->buf[OFF(at + 2)], max, ptr);
		if (n < 0) {
			ev_flag(e, SAKER_F_READ_FAILED);
			count(CNT_READ_FAILURES);
			n = 0;
		} else if (n > 0) {
			if (n == max)
				ev_flag(e, SAKER_F_TRUNCATED);
			n--; /* drop the NUL */
		}
	}
	param_end(e, at, at + 2 + (n & (SAKER_MAX_PATH - 1)));
}

static __always_inline void push_user_str(struct ev *e, const void *uptr, __u32 max)
{
	push_str(e, uptr, max, true);
}

static __always_inline void push_kernel_str(struct ev *e, const void *kptr, __u32 max)
{
	push_str(e, kptr, max, false);
}

/* `len` bytes of user memory, cut at `max` (a power of two, at most 4096). */
static __always_inline void push_user_bytes(struct ev *e, const void *uptr, __u64 len, __u32 max)
{
	__u32 at = e->off;
	__u32 n = 0;

	if (!room_for(e, max)) {
		ev_flag(e, SAKER_F_TRUNCATED);
		return;
	}
	if (uptr && len) {
		if (len > max) {
			ev_flag(e, SAKER_F_TRUNCATED);
			len = max;
		}
		n = len & (2 * max - 1);
		if (n > max)
			n = max;
		if (bpf_probe_read_user(&e->s->buf[OFF(at + 2)], n, uptr)) {
			ev_flag(e, SAKER_F_READ_FAILED);
			count(CNT_READ_FAILURES);
			n = 0;
		}
	}
	param_end(e, at, at + 2 + n);
}

/* Reserves a fixed-size parameter and returns where to write it, or NULL. */
static __always_inline void *push_fixed(struct ev *e, __u32 size)
{
	__u32 at = e->off;
	void *p;

	if (!room_for(e, size)) {
		ev_flag(e, SAKER_F_TRUNCATED);
		return NULL;
	}
	p = &e->s->buf[OFF(at + 2)];
	param_end(e, at, at + 2 + size);
	return p;
}

static __always_inline void ev_submit(struct ev *e)
{
	struct saker_event_header *h = ev_hdr(e);
	__u32 len = e->off;
	__u64 flags = BPF_RB_NO_WAKEUP;
	__u32 zero = 0;
	__u64 *pending;

	if (len > SAKER_MAX_RECORD)
		len = SAKER_MAX_RECORD;
	h->len = len;
	h->nparams = e->nparams;
	h->flags = e->flags;

	pending = bpf_map_lookup_elem(&wakeup_pending, &zero);
	if (pending) {
		*pending += len;
		if (*pending >= saker_wakeup_bytes) {
			*pending = 0;
			flags = BPF_RB_FORCE_WAKEUP;
		}
	}
	if (bpf_ringbuf_output(&events, e->s->buf, len & (2 * SCRATCH_HALF - 1), flags)) {
		count(CNT_DROPPED_FULL);
		count_drop_type(h->kind, h->syscall_nr);
	}
	else
		count(CNT_EMITTED);
	release_slot(e);
}

static __always_inline void ev_discard(struct ev *e)
{
	release_slot(e);
}

#endif /* SAKER_COMMON_H */
