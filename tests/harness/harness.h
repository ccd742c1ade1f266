/* SPDX-License-Identifier: MIT */
/*
 * harness.h - helpers shared by the cmocka tests: temporary directories and files, exact-byte
 * assertions with a readable first difference, deterministic test patterns.
 */
#ifndef FLASHD_TEST_HARNESS_H
#define FLASHD_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* mkdtemp under $TMPDIR; caller frees the string and removes the tree with th_rmtree(). */
char *th_mkdtemp(void);
/* rm -rf of a directory made by th_mkdtemp(); accepts NULL. */
void th_rmtree(const char *dir);
/* Join dir and name into a new string (caller frees). */
char *th_path(const char *dir, const char *name);

/* Fill buf with a repeatable pseudo-random pattern derived from seed (xorshift). */
void th_pattern(uint8_t *buf, size_t len, uint32_t seed);

/* Fail with the offset and both bytes of the first difference. */
#define th_assert_bytes(a, b, n) th_assert_bytes_at((a), (b), (n), __FILE__, __LINE__)
void th_assert_bytes_at(const void *a, const void *b, size_t n, const char *file, int line);

/* Fail unless every byte equals v. */
#define th_assert_filled(a, v, n) th_assert_filled_at((a), (v), (n), __FILE__, __LINE__)
void th_assert_filled_at(const void *a, uint8_t v, size_t n, const char *file, int line);

#endif
