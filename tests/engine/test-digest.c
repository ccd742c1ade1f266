/* SPDX-License-Identifier: MIT */
/* digest: crc32 + sha256 against published vectors and a 1 MiB pattern fed in odd pieces. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "util.h"

static void digest_of_empty_input(void **state)
{
	struct digest d;
	uint32_t crc = 1;
	char hex[DIGEST_SHA256_HEX_SIZE];

	(void)state;
	digest_init(&d);
	digest_final(&d, &crc, hex);
	assert_int_equal(crc, 0);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void digest_of_abc(void **state)
{
	uint32_t crc;
	char hex[DIGEST_SHA256_HEX_SIZE];

	(void)state;
	digest_buf("abc", 3, &crc, hex);
	assert_int_equal(crc, 0x352441c2u);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* Reference values from Python's zlib.crc32/hashlib.sha256 over th_pattern(seed 1). */
static void digest_of_1mib_pattern_in_uneven_chunks(void **state)
{
	const size_t len = 1u << 20;
	uint8_t *buf = malloc(len);
	struct digest d;
	uint32_t crc;
	char hex[DIGEST_SHA256_HEX_SIZE];
	size_t off = 0, step = 1;

	(void)state;
	assert_non_null(buf);
	th_pattern(buf, len, 1);
	digest_init(&d);
	while (off < len) {
		size_t n = MIN(step, len - off);

		digest_update(&d, buf + off, n);
		off += n;
		step = step * 3 + 7;
	}
	assert_int_equal(d.bytes, len);
	digest_final(&d, &crc, hex);
	assert_int_equal(crc, 0x7666c35eu);
	assert_string_equal(hex,
			    "1639fbbaeb99ef8b30fca78debe0b0df283bfeedf5a5c2beaae7a464d95beb60");
	free(buf);
}

static void digest_final_resets_for_reuse(void **state)
{
	struct digest d;
	uint32_t crc;
	char hex[DIGEST_SHA256_HEX_SIZE];

	(void)state;
	digest_init(&d);
	digest_update(&d, "xyz", 3);
	digest_final(&d, NULL, NULL);
	digest_update(&d, "abc", 3);
	digest_final(&d, &crc, hex);
	assert_int_equal(crc, 0x352441c2u);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(digest_of_empty_input),
		cmocka_unit_test(digest_of_abc),
		cmocka_unit_test(digest_of_1mib_pattern_in_uneven_chunks),
		cmocka_unit_test(digest_final_resets_for_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
