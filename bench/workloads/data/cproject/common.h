#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* hash.c */
uint64_t fnv1a(const void *data, size_t len);
struct table;
struct table *table_new(size_t buckets);
void table_put(struct table *t, const char *key, uint64_t value);
int table_get(const struct table *t, const char *key, uint64_t *value);
size_t table_len(const struct table *t);
void table_free(struct table *t);

/* sort.c */
void sort_u64(uint64_t *v, size_t n);
size_t dedup_u64(uint64_t *v, size_t n);

/* strbuf.c */
struct strbuf {
	char *data;
	size_t len;
	size_t cap;
};
void sb_init(struct strbuf *sb);
void sb_append(struct strbuf *sb, const char *s);
void sb_appendf_u64(struct strbuf *sb, uint64_t v);
void sb_free(struct strbuf *sb);

/* matrix.c */
void mat_mul(const double *a, const double *b, double *out, int n);
double mat_trace(const double *m, int n);

/* rng.c */
struct rng {
	uint64_t s[2];
};
void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);

#endif
