/* SPDX-License-Identifier: MIT */
/* Wire-format helpers, errno names and the log module's output format. */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "util.h"

static void get_put_roundtrip_exact_bytes(void **state)
{
	uint8_t b[4] = {0};

	(void)state;
	put_be24(b, 0x123456);
	assert_memory_equal(b, ((uint8_t[]){0x12, 0x34, 0x56}), 3);
	assert_int_equal(get_be24(b), 0x123456);
	put_le32(b, 0xA1B2C3D4u);
	assert_memory_equal(b, ((uint8_t[]){0xD4, 0xC3, 0xB2, 0xA1}), 4);
	assert_int_equal(get_le32(b), 0xA1B2C3D4u);
	put_be32(b, 0x01020304u);
	assert_int_equal(get_be32(b), 0x01020304u);
	assert_int_equal(get_le16(b), 0x0201);
}

static void range_within_rejects_overflow(void **state)
{
	(void)state;
	assert_true(range_within(0, 16, 16));
	assert_true(range_within(16, 0, 16));
	assert_false(range_within(17, 0, 16));
	assert_false(range_within(8, 9, 16));
	assert_false(range_within(1, UINT64_MAX, 16));
}

static void errno_names_are_symbolic(void **state)
{
	(void)state;
	assert_string_equal(errno_name(-ETIMEDOUT), "ETIMEDOUT");
	assert_string_equal(errno_name(EROFS), "EROFS");
	assert_string_equal(errno_name(-ENODEV), "ENODEV");
	assert_string_equal(errno_name(99999), "E?");
}

static void log_errno_journal_prefix_and_return_value(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	(void)state;
	log_set_stream(f);
	log_set_journal(true);
	r = log_errno(LOG_LVL_ERR, ETIMEDOUT, "erase 0x%06X (4 KiB): WIP still set after %u ms",
		      0x01F000u, 450u);
	log_set_stream(NULL);
	fclose(f);
	assert_int_equal(r, -ETIMEDOUT);
	assert_string_equal(buf, "<3>erase 0x01F000 (4 KiB): WIP still set after 450 ms: ETIMEDOUT\n");
	free(buf);
}

static void log_level_filters_debug(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	enum log_level lvl;

	(void)state;
	assert_int_equal(log_level_from_string("warning", &lvl), 0);
	assert_int_equal(lvl, LOG_LVL_WARN);
	assert_int_equal(log_level_from_string("loud", &lvl), -EINVAL);
	log_set_stream(f);
	log_set_journal(true);
	log_set_level(LOG_LVL_INFO);
	log_debug("hidden %d", 1);
	log_info("shown %d", 2);
	log_set_stream(NULL);
	fclose(f);
	assert_string_equal(buf, "<6>shown 2\n");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(get_put_roundtrip_exact_bytes),
		cmocka_unit_test(range_within_rejects_overflow),
		cmocka_unit_test(errno_names_are_symbolic),
		cmocka_unit_test(log_errno_journal_prefix_and_return_value),
		cmocka_unit_test(log_level_filters_debug),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
