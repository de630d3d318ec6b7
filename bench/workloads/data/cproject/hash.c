#include <stdlib.h>
#include <string.h>

#include "common.h"

uint64_t fnv1a(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

struct entry {
	char *key;
	uint64_t value;
	struct entry *next;
};

struct table {
	struct entry **buckets;
	size_t nbuckets;
	size_t len;
};

struct table *table_new(size_t buckets)
{
	struct table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->buckets = calloc(buckets, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return NULL;
	}
	t->nbuckets = buckets;
	return t;
}

static struct entry **slot(const struct table *t, const char *key)
{
	return &t->buckets[fnv1a(key, strlen(key)) % t->nbuckets];
}

void table_put(struct table *t, const char *key, uint64_t value)
{
	struct entry **s = slot(t, key);

	for (struct entry *e = *s; e; e = e->next) {
		if (strcmp(e->key, key) == 0) {
			e->value = value;
			return;
		}
	}
	struct entry *e = malloc(sizeof(*e));
	if (!e)
		return;
	e->key = strdup(key);
	e->value = value;
	e->next = *s;
	*s = e;
	t->len++;
}

int table_get(const struct table *t, const char *key, uint64_t *value)
{
	for (struct entry *e = *slot(t, key); e; e = e->next) {
		if (strcmp(e->key, key) == 0) {
			*value = e->value;
			return 1;
		}
	}
	return 0;
}

size_t table_len(const struct table *t)
{
	return t->len;
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct entry *e = t->buckets[i];

		while (e) {
			struct entry *next = e->next;

			free(e->key);
			free(e);
			e = next;
		}
	}
	free(t->buckets);
	free(t);
}
