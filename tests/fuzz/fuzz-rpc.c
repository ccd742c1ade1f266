/* SPDX-License-Identifier: MIT */
/*
 * fuzz-rpc.c - libFuzzer target for the JSON-RPC layer: rpc_handle_async() over every real
 * method of rpc_methods.c, on a fake engine (fake-engine.c) that answers at once and keeps
 * whole-chip erases queued, so held ("wait") calls are parked and then woken too.
 *
 * Besides "no crash, no leak" it checks the envelope's promises on every input: exactly one
 * answer per body; a response, when there is one, is valid JSON that is an object or a
 * non-empty array, and every object in it carries "jsonrpc":"2.0", an id and exactly one of
 * result/error. Two fake methods keep the handler-checked params path (no schema) covered.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake-engine.h"
#include "log.h"
#include "rpc.h"
#include "rpc_methods.h"

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

static const struct rpc_method fakes[] = {
	{ .name = "mixed", .fn = m_mixed },
	{ .name = "fail", .fn = m_fail },
};

struct answer {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int calls, r;
	char *response;
};

static void on_done(void *cls, int r, char *response)
{
	struct answer *a = cls;

	pthread_mutex_lock(&a->lock);
	a->calls++;
	a->r = r;
	a->response = response;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
}

static void check_one(const json_t *o)
{
	assert(json_is_object(o));
	assert(strcmp(json_string_value(json_object_get(o, "jsonrpc")), "2.0") == 0);
	assert(!json_object_get(o, "result") != !json_object_get(o, "error"));
	assert(json_object_get(o, "id"));
}

static void check_response(const char *out)
{
	json_error_t jerr;
	json_t *j = json_loads(out, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &jerr);

	if (!j) {
		/* ids such as 1e400 are echoed verbatim: valid JSON jansson cannot hold */
		assert(json_error_code(&jerr) == json_error_numeric_overflow);
		return;
	}
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rpc_registry *reg;
	static struct engine *engine;
	static void *ctx;
	static const char *const listen[] = { "127.0.0.1:8080", NULL };
	static const struct rpc_daemon_info info = { .version = "fuzz", .backend = "fake",
						     .listen = listen, .state_dir = "/tmp" };
	struct answer a = { .calls = 0 };
	struct timespec ts;

	if (!reg) {
		struct rpc_limits lim = { .max_body_bytes = 64 * 1024, .max_batch = 16,
					  .max_depth = 16, .max_inline_bytes = 64 * 1024 };

		log_set_level(LOG_LVL_ERR - 1); /* the inputs make errors by the thousand */
		if (rpc_registry_new(&lim, "fuzz", "0", &reg) < 0 ||
		    rpc_registry_add_table(reg, fakes, 2) < 0 || fake_engine_new(&engine) < 0 ||
		    rpc_methods_register(reg, engine, &info, &ctx) < 0)
			abort();
	}
	pthread_mutex_init(&a.lock, NULL);
	pthread_cond_init(&a.cond, NULL);
	if (rpc_handle_async(reg, (const char *)data, size, ctx, on_done, &a) < 0)
		goto out; /* ENOMEM only */
	/* held calls wait for whole-chip erases: end them, the waiter answers */
	fake_engine_finish_all(engine);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	pthread_mutex_lock(&a.lock);
	while (!a.calls)
		if (pthread_cond_timedwait(&a.cond, &a.lock, &ts))
			break;
	pthread_mutex_unlock(&a.lock);
	assert(a.calls == 1);
	if (a.r == 0 && a.response)
		check_response(a.response);
	free(a.response);
out:
	pthread_cond_destroy(&a.cond);
	pthread_mutex_destroy(&a.lock);
	return 0;
}
