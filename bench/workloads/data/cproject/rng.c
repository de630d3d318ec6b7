#include "common.h"

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed)
{
	r->s[0] = splitmix(&seed);
	r->s[1] = splitmix(&seed);
}

/* xorshift128+ */
uint64_t rng_next(struct rng *r)
{
	uint64_t s1 = r->s[0];
	const uint64_t s0 = r->s[1];

	r->s[0] = s0;
	s1 ^= s1 << 23;
	r->s[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	return r->s[1] + s0;
}
