#include <stdlib.h>
#include <string.h>

#include "common.h"

void sb_init(struct strbuf *sb)
{
	sb->data = NULL;
	sb->len = 0;
	sb->cap = 0;
}

static int sb_grow(struct strbuf *sb, size_t extra)
{
	size_t need = sb->len + extra + 1;
	size_t cap = sb->cap ? sb->cap : 64;
	char *p;

	if (need <= sb->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	p = realloc(sb->data, cap);
	if (!p)
		return -1;
	sb->data = p;
	sb->cap = cap;
	return 0;
}

void sb_append(struct strbuf *sb, const char *s)
{
	size_t n = strlen(s);

	if (sb_grow(sb, n))
		return;
	memcpy(sb->data + sb->len, s, n + 1);
	sb->len += n;
}

void sb_appendf_u64(struct strbuf *sb, uint64_t v)
{
	char tmp[21];
	int i = 20;

	tmp[i] = '\0';
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v && i > 0);
	sb_append(sb, &tmp[i]);
}

void sb_free(struct strbuf *sb)
{
	free(sb->data);
	sb_init(sb);
}
