/* SPDX-License-Identifier: MIT */
/*
 * test-errmap.c - the whole errno ↔ JSON-RPC code ↔ HTTP status ↔ text table, row by row.
 *
 * Codes are wire API: this test is the record of what was promised to clients, so a change
 * here must be deliberate.
 */
#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
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
	{ EPIPE, "EPIPE", -32018, 400, "transfer interrupted" },
	{ ECONNRESET, "ECONNRESET", -32019, 400, "connection reset" },
	{ ECONNABORTED, "ECONNABORTED", -32020, 408, "transfer aborted" },
	{ EAGAIN, "EAGAIN", -32021, 503, "try again" },
	{ EALREADY, "EALREADY", -32022, 409, "already done" },
	{ ENODATA, "ENODATA", -32023, 404, "no data" },
	{ E2BIG, "E2BIG", -32024, 413, "too many ranges" },
	{ ENOBUFS, "ENOBUFS", -32025, 500, "no buffer space" },
	{ ENAMETOOLONG, "ENAMETOOLONG", -32026, 400, "name too long" },
	{ ENXIO, "ENXIO", -32027, 503, "no such device" },
	{ EDQUOT, "EDQUOT", -32028, 507, "disk quota exceeded" },
	{ EMFILE, "EMFILE", -32029, 503, "too many open files" },
	{ ENFILE, "ENFILE", -32030, 503, "too many open files in system" },
	{ EEXIST, "EEXIST", -32031, 409, "already exists" },
	{ ENOTDIR, "ENOTDIR", -32032, 500, "not a directory" },
	{ EISDIR, "EISDIR", -32033, 500, "is a directory" },
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

static void unknown_errno_is_system_error_500(void **state)
{
	(void)state;
	assert_int_equal(errmap_rpc_code(-EXDEV), -32099);
	assert_int_equal(errmap_http_status(-EXDEV), 500);
	assert_string_equal(errmap_text(-EXDEV), "system error");
	assert_string_equal(errmap_name(-EXDEV), "E?");
}

static void no_errno_is_internal_error_500(void **state)
{
	(void)state;
	assert_int_equal(errmap_rpc_code(0), -32603);
	assert_int_equal(errmap_http_status(0), 500);
	assert_string_equal(errmap_text(0), "internal error");
}

/* EINVAL is the standard -32602 by design (README); everything else is an application code. */
static void assert_app_code(int err, const char *where)
{
	int code = errmap_rpc_code(-err);

	if (err == EINVAL)
		return;
	if (code < RPC_CODE_SERVER_MIN || code > RPC_CODE_SERVER_MAX)
		fail_msg("%s: %s maps to %d, outside -32099..-32000", where, strerrorname_np(err),
			 code);
}

static void every_errno_maps_into_the_application_range(void **state)
{
	(void)state;
	/* syscalls in the backup store pass up any errno as -errno */
	for (int err = 1; err < 134; err++)
		assert_app_code(err, "errno");
}

/* Every -EXXX the lower layers write in their sources has a row of its own. */
static void every_errno_the_engine_and_chip_name_has_a_row(void **state)
{
	static const char *const dirs[] = { "src/engine", "src/chip", "src/hw", "src/sim" };
	const char *root = getenv("FLASHD_SOURCE_ROOT");
	unsigned files = 0, names = 0;
	regex_t re;

	(void)state;
	if (!root)
		skip();
	assert_int_equal(regcomp(&re, "-(E[A-Z0-9]+)", REG_EXTENDED), 0);
	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		char path[4096];
		DIR *dir;
		struct dirent *de;

		snprintf(path, sizeof(path), "%s/%s", root, dirs[d]);
		dir = opendir(path);
		assert_non_null(dir);
		while ((de = readdir(dir))) {
			size_t nl = strlen(de->d_name);
			char file[4096 + 256], *text;
			FILE *f;
			long len;

			if (nl < 3 || strcmp(de->d_name + nl - 2, ".c"))
				continue;
			snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
			f = fopen(file, "r");
			assert_non_null(f);
			fseek(f, 0, SEEK_END);
			len = ftell(f);
			rewind(f);
			text = calloc(1, (size_t)len + 1);
			assert_non_null(text);
			assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
			fclose(f);
			files++;
			for (const char *p = text; *p;) {
				regmatch_t m[2];
				char name[32];
				int err = 0;

				if (regexec(&re, p, 2, m, 0))
					break;
				snprintf(name, sizeof(name), "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
					 p + m[1].rm_so);
				p += m[0].rm_eo;
				/* glibc names the shared values by their other spelling */
				if (!strcmp(name, "ENOTSUP"))
					err = ENOTSUP;
				else if (!strcmp(name, "EWOULDBLOCK"))
					err = EWOULDBLOCK;
				for (int e = 1; e < 134 && !err; e++)
					if (strerrorname_np(e) && !strcmp(strerrorname_np(e), name))
						err = e;
				if (!err)
					continue; /* not an errno (an enum, a macro) */
				names++;
				if (errmap_lookup(err)->err != err)
					fail_msg("%s: %s has no row in errmap.c", file, name);
				assert_app_code(err, file);
			}
			free(text);
		}
		closedir(dir);
	}
	regfree(&re);
	assert_true(files > 10);
	assert_true(names > 100);
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
	assert_int_equal(errmap_from_rpc_code(-32099), -EPROTO);
	assert_int_equal(errmap_from_rpc_code(-31999), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_matches_exactly),
		cmocka_unit_test(lookup_accepts_negative_and_positive_errno),
		cmocka_unit_test(unknown_errno_is_system_error_500),
		cmocka_unit_test(no_errno_is_internal_error_500),
		cmocka_unit_test(every_errno_maps_into_the_application_range),
		cmocka_unit_test(every_errno_the_engine_and_chip_name_has_a_row),
		cmocka_unit_test(codes_are_unique_and_in_server_range),
		cmocka_unit_test(reverse_map_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
