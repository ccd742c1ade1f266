/* SPDX-License-Identifier: MIT */
/*
 * fuzz-rpc.c - libFuzzer target for rpc_handle(): any bytes in, a well-formed answer out.
 *
 * Besides "no crash, no leak" it checks the envelope's promises on every input: a response,
 * when there is one, is valid JSON that is an object or a non-empty array, and every object in
 * it carries "jsonrpc":"2.0" and exactly one of result/error. The methods use every typed
 * param getter, so hostile params reach them too.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int m_mixed(void *ctx, json_t *params, json_t **ret_result, struct rpc_error *err)
{
	static const char *const names[] = { "offset", "length", "name", "force", "data" };
	uint32_t off = 0;
	uint64_t len = 0;
	const char *name = "";
	bool force = false;
	uint8_t *buf = NULL;
	size_t n = 0;
	int r;

	(void)ctx;
	if ((r = rpc_params_check(params, names, 5, err)) < 0 ||
	    (r = rpc_param_u32(params, "offset", 0, true, &off, err)) < 0 ||
	    (r = rpc_param_u64(params, "length", 1, false, &len, err)) < 0 ||
	    (r = rpc_param_string(params, "name", 2, false, 64, &name, err)) < 0 ||
	    (r = rpc_param_bool(params, "force", 3, false, &force, err)) < 0 ||
	    (r = rpc_param_bytes_b64(params, "data", 4, false, 256, &buf, &n, err)) < 0)
		return r;
	free(buf);
	if (off & 1)
		return rpc_error_from_errno(err, -ETIMEDOUT, "erase", off, name);
	*ret_result = json_pack("{s:I, s:b, s:I}", "offset", (json_int_t)off, "force", force,
				"n", (json_int_t)n);
	return 0;
}

static int m_fail(void *ctx, json_t *params, json_t **ret_result, struct rpc_error *err)
{
	(void)ctx;
	(void)params;
	(void)ret_result;
	(void)err;
	return -EXDEV;
}

static const struct rpc_method methods[] = {
	{ .name = "mixed", .fn = m_mixed,
	  .params_schema_json = "{\"type\":\"object\",\"properties\":{\"offset\":{}}}" },
	{ .name = "fail", .fn = m_fail },
};

static void check_one(const json_t *o)
{
	assert(json_is_object(o));
	assert(strcmp(json_string_value(json_object_get(o, "jsonrpc")), "2.0") == 0);
	assert(!json_object_get(o, "result") != !json_object_get(o, "error"));
	assert(json_object_get(o, "id"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rpc_registry *reg;
	char *out = NULL;
	json_t *j;
	int r;

	if (!reg) {
		struct rpc_limits lim = { .max_body_bytes = 64 * 1024, .max_batch = 16,
					  .max_depth = 16 };

		if (rpc_registry_new(&lim, "fuzz", "0", &reg) < 0 ||
		    rpc_registry_add_table(reg, methods, 2) < 0)
			abort();
	}
	r = rpc_handle(reg, (const char *)data, size, NULL, &out);
	if (r < 0)
		return 0; /* ENOMEM only */
	if (!out)
		return 0;
	j = json_loads(out, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
	assert(j);
	if (json_is_array(j)) {
		size_t i;
		json_t *o;

		assert(json_array_size(j) > 0);
		json_array_foreach(j, i, o)
			check_one(o);
	} else {
		check_one(j);
	}
	json_decref(j);
	free(out);
	return 0;
}
