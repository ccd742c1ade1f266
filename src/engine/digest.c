/* SPDX-License-Identifier: MIT */
/*
 * digest.c - crc32 from zlib and sha256 from nettle behind one incremental API.
 *
 * zlib's crc32() takes a uInt length, so large buffers are fed in chunks that fit; nettle
 * takes size_t. No allocation, no global state: safe to use from any thread on distinct
 * struct digest values.
 */
#include "digest.h"

#include <limits.h>
#include <zlib.h>

void digest_init(struct digest *d)
{
	d->crc32 = (uint32_t)crc32(0L, Z_NULL, 0);
	d->bytes = 0;
	sha256_init(&d->sha);
}

void digest_update(struct digest *d, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (len == 0)
		return;
	sha256_update(&d->sha, len, p);
	d->bytes += len;
	while (len > 0) {
		uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;

		d->crc32 = (uint32_t)crc32(d->crc32, p, n);
		p += n;
		len -= n;
	}
}

void digest_final(struct digest *d, uint32_t *ret_crc32, char ret_hex[DIGEST_SHA256_HEX_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[SHA256_DIGEST_SIZE];

	sha256_digest(&d->sha, sizeof(raw), raw);
	if (ret_crc32)
		*ret_crc32 = d->crc32;
	if (ret_hex) {
		for (size_t i = 0; i < sizeof(raw); i++) {
			ret_hex[2 * i] = hex[raw[i] >> 4];
			ret_hex[2 * i + 1] = hex[raw[i] & 0xf];
		}
		ret_hex[DIGEST_SHA256_HEX_LEN] = '\0';
	}
	digest_init(d);
}

void digest_buf(const void *buf, size_t len, uint32_t *ret_crc32,
		char ret_hex[DIGEST_SHA256_HEX_SIZE])
{
	struct digest d;

	digest_init(&d);
	digest_update(&d, buf, len);
	digest_final(&d, ret_crc32, ret_hex);
}
