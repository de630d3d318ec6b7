#include "common.h"

static void sift_down(uint64_t *v, size_t start, size_t end)
{
	size_t root = start;

	while (2 * root + 1 <= end) {
		size_t child = 2 * root + 1;
		size_t swap = root;

		if (v[swap] < v[child])
			swap = child;
		if (child + 1 <= end && v[swap] < v[child + 1])
			swap = child + 1;
		if (swap == root)
			return;
		uint64_t tmp = v[root];
		v[root] = v[swap];
		v[swap] = tmp;
		root = swap;
	}
}

/* Heapsort: no recursion, no allocation. */
void sort_u64(uint64_t *v, size_t n)
{
	if (n < 2)
		return;
	for (size_t start = (n - 2) / 2 + 1; start-- > 0;)
		sift_down(v, start, n - 1);
	for (size_t end = n - 1; end > 0; end--) {
		uint64_t tmp = v[0];
		v[0] = v[end];
		v[end] = tmp;
		sift_down(v, 0, end - 1);
	}
}

size_t dedup_u64(uint64_t *v, size_t n)
{
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		if (out == 0 || v[out - 1] != v[i])
			v[out++] = v[i];
	}
	return out;
}
