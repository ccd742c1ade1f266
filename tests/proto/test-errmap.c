/* SPDX-License-Identifier: MIT */
/*
 * test-errmap.c - the whole errno ↔ JSON-RPC code ↔ HTTP status ↔ text table, row by row.
 *
 * Codes are wire API: this test is the record of what was promised to clients, so a change
 * here must be deliberate.
 */
#include <errno.h>
#include <string.h>

#include "errmap.h"
#include "harness.h"

static const struct {
	int err;
	const char *name;
	int code;
	unsigned http;
	const char *text;
} expected[] = {
	{ ENODEV, "ENODEV", -32001, 503, "no chip" },
	{ ETIMEDOUT, "ETIMEDOUT", -32002, 504, "chip timeout" },
	{ EROFS, "EROFS", -32003, 423, "write protected" },
	{ EIO, "EIO", -32004, 502, "transfer failed" },
	{ EBADMSG, "EBADMSG", -32005, 500, "verify mismatch" },
	{ ECANCELED, "ECANCELED", -32006, 409, "cancelled" },
	{ EBUSY, "EBUSY", -32007, 409, "busy" },
	{ EFBIG, "EFBIG", -32008, 413, "image larger than chip" },
	{ EINVAL, "EINVAL", -32602, 400, "invalid params" },
	{ ENOSPC, "ENOSPC", -32009, 507, "state dir full" },
	{ ENOENT, "ENOENT", -32010, 404, "not found" },
	{ ERANGE, "ERANGE", -32011, 416, "out of range" },
	{ EMSGSIZE, "EMSGSIZE", -32012, 413, "message too large" },
	{ ESHUTDOWN, "ESHUTDOWN", -32013, 503, "shutting down" },
	{ EACCES, "EACCES", -32014, 401, "authentication required" },
	{ EPERM, "EPERM", -32015, 403, "forbidden" },
	{ ENOTSUP, "ENOTSUP", -32016, 501, "not supported" },
	{ ENOMEM, "ENOMEM", -32017, 503, "out of memory" },
};

static void table_matches_exactly(void **state)
{
	(void)state;
	assert_int_equal(errmap_count(), sizeof(expected) / sizeof(expected[0]));
	for (size_t i = 0; i < errmap_count(); i++) {
		const struct errmap_entry *e = errmap_at(i);

		assert_int_equal(e->err, expected[i].err);
		assert_string_equal(e->name, expected[i].name);
		assert_int_equal(e->rpc_code, expected[i].code);
		assert_int_equal(e->http_status, expected[i].http);
		assert_string_equal(e->text, expected[i].text);
	}
	assert_null(errmap_at(errmap_count()));
}

static void lookup_accepts_negative_and_positive_errno(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		assert_ptr_equal(errmap_lookup(-expected[i].err), errmap_lookup(expected[i].err));
		assert_int_equal(errmap_rpc_code(-expected[i].err), expected[i].code);
		assert_int_equal(errmap_http_status(-expected[i].err), expected[i].http);
		assert_string_equal(errmap_text(-expected[i].err), expected[i].text);
		assert_string_equal(errmap_name(-expected[i].err), expected[i].name);
	}
}

static void unknown_errno_is_internal_error_500(void **state)
{
	(void)state;
	assert_int_equal(errmap_rpc_code(-EXDEV), -32603);
	assert_int_equal(errmap_http_status(-EXDEV), 500);
	assert_string_equal(errmap_text(-EXDEV), "internal error");
	assert_string_equal(errmap_name(-EXDEV), "E?");
	assert_int_equal(errmap_rpc_code(0), -32603);
}

static void codes_are_unique_and_in_server_range(void **state)
{
	(void)state;
	for (size_t i = 0; i < errmap_count(); i++) {
		int c = errmap_at(i)->rpc_code;

		if (c != -32602) {
			assert_true(c >= RPC_CODE_SERVER_MIN && c <= RPC_CODE_SERVER_MAX);
		}
		for (size_t j = i + 1; j < errmap_count(); j++)
			assert_int_not_equal(c, errmap_at(j)->rpc_code);
	}
}

static void reverse_map_round_trips(void **state)
{
	(void)state;
	for (size_t i = 0; i < errmap_count(); i++)
		assert_int_equal(errmap_from_rpc_code(errmap_at(i)->rpc_code), -errmap_at(i)->err);
	assert_int_equal(errmap_from_rpc_code(-32603), -EPROTO);
	assert_int_equal(errmap_from_rpc_code(-31999), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_matches_exactly),
		cmocka_unit_test(lookup_accepts_negative_and_positive_errno),
		cmocka_unit_test(unknown_errno_is_internal_error_500),
		cmocka_unit_test(codes_are_unique_and_in_server_range),
		cmocka_unit_test(reverse_map_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
