// SPDX-License-Identifier: GPL-2.0-only
/*
 * The benchmark floor: the least a syscall tracer can do. One program on
 * sys_enter and one on sys_exit, each only bumping a per-CPU counter, so
 * `cargo xtask bench` can tell the cost of tracing itself (the tracepoint
 * call, the BPF trampoline, a map lookup) from the cost of what Saker does
 * on top of it.
 *
 * Built as its own object (build.rs: STANDALONE), never linked into the
 * agent's: loaded only by the hidden `saker bench-floor` subcommand.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* Index 0: sys_enter runs, 1: sys_exit runs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} floor_runs SEC(".maps");

static __always_inline void bump(__u32 key)
{
	__u64 *n = bpf_map_lookup_elem(&floor_runs, &key);

	/* Per-CPU and not atomic: an atomic add would make the floor dearer
	 * than it has to be, and the count is only a sanity check. */
	if (n)
		*n += 1;
}

SEC("tp_btf/sys_enter")
int floor_sys_enter(void *ctx)
{
	bump(0);
	return 0;
}

SEC("tp_btf/sys_exit")
int floor_sys_exit(void *ctx)
{
	bump(1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
