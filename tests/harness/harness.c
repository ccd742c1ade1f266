/* SPDX-License-Identifier: MIT */
#include "harness.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *th_mkdtemp(void)
{
	const char *tmp = getenv("TMPDIR");
	char *dir;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (asprintf(&dir, "%s/flashd-test.XXXXXX", tmp) < 0)
		return NULL;
	if (!mkdtemp(dir)) {
		free(dir);
		return NULL;
	}
	return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void th_rmtree(const char *dir)
{
	if (dir)
		(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *th_path(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

void th_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed ? seed : 0x9e3779b9u;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)(x >> 24);
	}
}

void th_assert_bytes_at(const void *a, const void *b, size_t n, const char *file, int line)
{
	const uint8_t *pa = a, *pb = b;

	for (size_t i = 0; i < n; i++) {
		if (pa[i] != pb[i]) {
			fail_msg("%s:%d: bytes differ at offset 0x%zx: 0x%02x != 0x%02x", file, line, i,
				 pa[i], pb[i]);
		}
	}
}

void th_assert_filled_at(const void *a, uint8_t v, size_t n, const char *file, int line)
{
	const uint8_t *pa = a;

	for (size_t i = 0; i < n; i++) {
		if (pa[i] != v)
			fail_msg("%s:%d: byte at offset 0x%zx is 0x%02x, expected 0x%02x", file, line,
				 i, pa[i], v);
	}
}
