/* SPDX-License-Identifier: MIT */
/*
 * digest.h - crc32 (zlib) and sha256 (nettle) computed together, incrementally.
 *
 * Every image byte that passes through the engine (read, written, verified, backed up) is
 * hashed once by both; crc32 is what flashrom-era tools print, sha256 is what clients check.
 * A plain value type: embed it, copy it, no allocation, no teardown. Not thread-safe: one
 * owner at a time.
 */
#ifndef FLASHD_DIGEST_H
#define FLASHD_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include <nettle/sha2.h>

/* Length of a lowercase sha256 hex string without / with its NUL. */
#define DIGEST_SHA256_HEX_LEN 64
#define DIGEST_SHA256_HEX_SIZE 65

struct digest {
	uint32_t crc32;
	uint64_t bytes;
	struct sha256_ctx sha;
};

void digest_init(struct digest *d);
/* Feed len bytes (len may be 0, buf may then be NULL). */
void digest_update(struct digest *d, const void *buf, size_t len);
/*
 * Write the crc32 and the lowercase hex sha256 (NUL-terminated) of everything fed so far.
 * Either output may be NULL. d is re-initialised afterwards (nettle resets on digest).
 */
void digest_final(struct digest *d, uint32_t *ret_crc32, char ret_hex[DIGEST_SHA256_HEX_SIZE]);
/* One-shot convenience: digest of one buffer. */
void digest_buf(const void *buf, size_t len, uint32_t *ret_crc32,
		char ret_hex[DIGEST_SHA256_HEX_SIZE]);

#endif
