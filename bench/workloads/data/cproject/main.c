#include <stdio.h>
#include <stdlib.h>

#include "common.h"

#define N_VALUES 4096
#define N_MAT 24

int main(void)
{
	struct rng r;
	uint64_t *values = malloc(N_VALUES * sizeof(*values));
	double a[N_MAT * N_MAT], b[N_MAT * N_MAT], c[N_MAT * N_MAT];
	struct table *t = table_new(257);
	struct strbuf sb;
	uint64_t sum = 0, got;
	size_t unique;

	if (!values || !t)
		return 1;
	rng_seed(&r, 42);
	for (size_t i = 0; i < N_VALUES; i++)
		values[i] = rng_next(&r) % 1000;
	sort_u64(values, N_VALUES);
	unique = dedup_u64(values, N_VALUES);

	sb_init(&sb);
	for (size_t i = 0; i < unique; i++) {
		sb.len = 0;
		if (sb.data)
			sb.data[0] = '\0';
		sb_append(&sb, "key-");
		sb_appendf_u64(&sb, values[i]);
		table_put(t, sb.data, values[i] * 3);
	}
	for (size_t i = 0; i < unique; i++) {
		sb.len = 0;
		sb_append(&sb, "key-");
		sb_appendf_u64(&sb, values[i]);
		if (table_get(t, sb.data, &got))
			sum += got;
	}

	for (int i = 0; i < N_MAT * N_MAT; i++) {
		a[i] = (double)(rng_next(&r) % 100) / 10.0;
		b[i] = (double)(i % 7);
	}
	mat_mul(a, b, c, N_MAT);

	printf("unique=%zu table=%zu sum=%llu trace=%.1f\n", unique, table_len(t),
	       (unsigned long long)sum, mat_trace(c, N_MAT));
	sb_free(&sb);
	table_free(t);
	free(values);
	return 0;
}
