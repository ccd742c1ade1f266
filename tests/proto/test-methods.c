/* SPDX-License-Identifier: MIT */
/*
 * test-methods.c - the JSON-RPC methods against the real engine on a simulated W25Q128JV:
 * exact answers for parameters by position and by name, held ("wait") calls answered from the
 * waiter thread, the inline-data budget, a finished read's data from job.get, and the OpenRPC
 * document being complete. Runs under ASan (every leaked json_t fails it) and TSan.
 */
#include "harness.h"
#include "simfix.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "engine.h"
#include "rpc.h"
#include "rpc_methods.h"
#include "util.h"

struct env {
	struct simfix *f;
	struct engine *e;
	char *state;
	struct rpc_registry *reg;
	void *ctx;
	struct rpc_daemon_info info;
};

static uint64_t now_ms(void)
{
	return fclock_mono_ns() / 1000000u;
}

static struct env *env_open_scale(double scale)
{
	static const char *const listen[] = { "127.0.0.1:0", NULL };
	struct env *v = calloc(1, sizeof(*v));
	struct simchip_opts so;
	struct engine_config c;
	struct engine_chip chip;

	assert_non_null(v);
	simchip_opts_init(&so);
	so.time_scale = scale;
	v->f = simfix_open_opts("W25Q128JV", &so);
	v->state = th_path(v->f->dir, "state");
	engine_config_init(&c);
	c.bus = v->f->bus;
	c.state_dir = v->state;
	c.max_pending = 8;
	c.history = 16;
	c.block_size = KIB(64);
	c.n_blocks = 4;
	assert_int_equal(engine_new(&c, &v->e), 0);
	assert_int_equal(engine_start(v->e), 0);
	v->info = (struct rpc_daemon_info){ .version = "test", .backend = "sim:W25Q128JV",
					    .listen = listen, .state_dir = v->state,
					    .started_ns = fclock_mono_ns() };
	assert_int_equal(rpc_registry_new(NULL, "flashd", "test", &v->reg), 0);
	assert_int_equal(rpc_methods_register(v->reg, v->e, &v->info, &v->ctx), 0);
	for (;;) {
		engine_chip(v->e, &chip);
		if (chip.probed_ns)
			break;
		fclock_sleep_ns(fclock_monotonic(), NSEC_PER_MSEC);
	}
	assert_true(chip.present);
	return v;
}

static int setup(void **state)
{
	*state = env_open_scale(0);
	return 0;
}

static int teardown(void **state)
{
	struct env *v = *state;

	/* the daemon's order: engine stops (jobs end, held calls wake), then the methods */
	engine_stop(v->e);
	rpc_registry_free(v->reg);
	rpc_methods_free(v->ctx);
	engine_free(v->e);
	free(v->state);
	simfix_close(v->f);
	free(v);
	return 0;
}

/* ---- calling ---- */

struct answer {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int r;
	char *response;
	uint64_t at_ms;
};

static void on_done(void *cls, int r, char *response)
{
	struct answer *a = cls;

	pthread_mutex_lock(&a->lock);
	a->done = true;
	a->r = r;
	a->response = response;
	a->at_ms = now_ms();
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
}

static struct answer *start(struct env *v, const char *body)
{
	struct answer *a = calloc(1, sizeof(*a));

	assert_non_null(a);
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	assert_int_equal(rpc_handle_async(v->reg, body, strlen(body), v->ctx, on_done, a), 0);
	return a;
}

static bool answered(struct answer *a)
{
	bool d;

	pthread_mutex_lock(&a->lock);
	d = a->done;
	pthread_mutex_unlock(&a->lock);
	return d;
}

/* The response text (caller frees); fails after 20 s. */
static char *finish(struct answer *a)
{
	struct timespec ts;
	char *resp;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	pthread_mutex_lock(&a->lock);
	while (!a->done)
		if (pthread_cond_timedwait(&a->cond, &a->lock, &ts))
			break;
	pthread_mutex_unlock(&a->lock);
	assert_true(a->done);
	assert_int_equal(a->r, 0);
	resp = a->response ? a->response : strdup("");
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a);
	return resp;
}

static char *call(struct env *v, const char *body)
{
	return finish(start(v, body));
}

static json_t *call_json(struct env *v, const char *body)
{
	char *s = call(v, body);
	json_t *j = json_loads(s, 0, NULL);

	if (!j)
		fail_msg("not JSON: %s", s);
	free(s);
	return j;
}

#define assert_call(v, body, expected)                                                             \
	do {                                                                                       \
		char *got_ = call((v), (body));                                                    \
		assert_string_equal(got_, (expected));                                             \
		free(got_);                                                                        \
	} while (0)

static const char *jstr(json_t *j, const char *path)
{
	char key[64];
	const char *dot;

	while ((dot = strchr(path, '.'))) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		j = json_object_get(j, key);
		path = dot + 1;
	}
	return json_string_value(json_object_get(j, path));
}

static json_int_t jint(json_t *j, const char *path)
{
	char key[64];
	const char *dot;

	while ((dot = strchr(path, '.'))) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		j = json_object_get(j, key);
		path = dot + 1;
	}
	return json_integer_value(json_object_get(j, path));
}

/* ---- params ---- */

static void job_get_cancel_restore_without_params_name_the_missing_id(void **state)
{
	static const char *const methods[] = { "job.get", "job.cancel", "backup.restore" };
	char body[128], want[256];

	for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
		snprintf(body, sizeof(body), "{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"id\":1}",
			 methods[i]);
		snprintf(want, sizeof(want),
			 "{\"error\":{\"code\":-32602,\"data\":{\"param\":\"id\"},\"message\":"
			 "\"Invalid params: \\\"id\\\" is required\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
		assert_call(*state, body, want);
	}
}

static void erase_by_position_reads_offset_and_length(void **state)
{
	json_t *j = call_json(*state, "{\"jsonrpc\":\"2.0\",\"method\":\"flash.erase\","
				      "\"params\":[8192,4096],\"id\":1}");

	assert_int_equal(jint(j, "result.job.params.offset"), 8192);
	assert_int_equal(jint(j, "result.job.params.length"), 4096);
	assert_string_equal(jstr(j, "result.job.type"), "erase");
	json_decref(j);
}

static void settings_set_by_position_sets_the_clock(void **state)
{
	json_t *j = call_json(*state, "{\"jsonrpc\":\"2.0\",\"method\":\"settings.set\","
				      "\"params\":[1000000],\"id\":1}");

	assert_int_equal(jint(j, "result.spi_speed_hz"), 1000000);
	json_decref(j);
}

static void write_by_position_reads_the_mode(void **state)
{
	assert_call(*state,
		    "{\"jsonrpc\":\"2.0\",\"method\":\"flash.write\",\"params\":[0,\"AAAA\",\"bogus\"],\"id\":1}",
		    "{\"error\":{\"code\":-32602,\"data\":{\"param\":\"mode\"},\"message\":\"Invalid params: "
		    "\\\"mode\\\" must be \\\"smart\\\" or \\\"full\\\"\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
}

static void methods_without_params_refuse_any(void **state)
{
	assert_call(*state, "{\"jsonrpc\":\"2.0\",\"method\":\"chip.info\",\"params\":[42],\"id\":1}",
		    "{\"error\":{\"code\":-32602,\"data\":{\"position\":0},\"message\":\"Invalid params: "
		    "chip.info takes no parameters; got 1 by position\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
	assert_call(*state, "{\"jsonrpc\":\"2.0\",\"method\":\"chip.info\",\"params\":{\"\":1},\"id\":1}",
		    "{\"error\":{\"code\":-32602,\"data\":{\"param\":\"\"},\"message\":\"Invalid params: "
		    "unknown parameter \\\"\\\"; chip.info takes none\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
}

static void unknown_names_and_extra_positions_are_named(void **state)
{
	assert_call(*state,
		    "{\"jsonrpc\":\"2.0\",\"method\":\"flash.read\",\"params\":{\"length\":1,\"ofset\":0},\"id\":1}",
		    "{\"error\":{\"code\":-32602,\"data\":{\"param\":\"ofset\"},\"message\":\"Invalid params: "
		    "unknown parameter \\\"ofset\\\"; flash.read takes offset, length, passes, wait\"},"
		    "\"id\":1,\"jsonrpc\":\"2.0\"}");
	assert_call(*state,
		    "{\"jsonrpc\":\"2.0\",\"method\":\"job.cancel\",\"params\":[1,2],\"id\":1}",
		    "{\"error\":{\"code\":-32602,\"data\":{\"position\":1},\"message\":\"Invalid params: "
		    "job.cancel takes at most 1 parameters by position (id); got 2\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
}

static void read_of_zero_bytes_says_why(void **state)
{
	assert_call(*state,
		    "{\"jsonrpc\":\"2.0\",\"method\":\"flash.read\",\"params\":{\"length\":0},\"id\":1}",
		    "{\"error\":{\"code\":-32602,\"data\":{\"param\":\"length\"},\"message\":\"Invalid params: "
		    "\\\"length\\\" must be 1..1048576 bytes here; use GET /api/v1/flash for more\"},"
		    "\"id\":1,\"jsonrpc\":\"2.0\"}");
}

static void blank_check_at_the_end_of_the_chip_is_refused(void **state)
{
	assert_call(*state,
		    "{\"jsonrpc\":\"2.0\",\"method\":\"flash.blank_check\",\"params\":{\"offset\":16777216},\"id\":1}",
		    "{\"error\":{\"code\":-32011,\"data\":{\"addr\":\"0x01000000\",\"detail\":\"nothing to do: "
		    "0x1000000 is the end of the 16777216-byte chip\",\"errno\":\"ERANGE\",\"op\":"
		    "\"flash.blank_check\"},\"message\":\"out of range\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
}

static void write_of_nothing_is_refused(void **state)
{
	assert_call(*state,
		    "{\"jsonrpc\":\"2.0\",\"method\":\"flash.write\",\"params\":[0,\"\"],\"id\":1}",
		    "{\"error\":{\"code\":-32602,\"data\":{\"param\":\"data\"},\"message\":\"Invalid params: "
		    "\\\"data\\\" is empty; there is nothing to write\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
}

/* ---- data ---- */

static void read_returns_exact_bytes_written(void **state)
{
	json_t *j = call_json(*state, "{\"jsonrpc\":\"2.0\",\"method\":\"flash.write\",\"params\":"
				      "{\"offset\":4096,\"data\":\"AAECAwQFBgc=\",\"wait\":10000},\"id\":1}");

	assert_string_equal(jstr(j, "result.job.state"), "done");
	json_decref(j);
	/* by position: offset, length (the read waits by default) */
	j = call_json(*state, "{\"jsonrpc\":\"2.0\",\"method\":\"flash.read\",\"params\":[4094,12],\"id\":\"r\"}");
	assert_string_equal(jstr(j, "result.job.state"), "done");
	assert_string_equal(jstr(j, "result.data"), "//8AAQIDBAUGB///");
	assert_int_equal(jint(j, "result.length"), 12);
	json_decref(j);
}

static void job_get_returns_a_finished_reads_data(void **state)
{
	struct env *v = *state;
	json_t *j;
	char body[160];
	json_int_t id;

	j = call_json(v, "{\"jsonrpc\":\"2.0\",\"method\":\"flash.write\",\"params\":"
			 "{\"offset\":0,\"data\":\"3q2+7w==\",\"wait\":10000},\"id\":1}");
	assert_string_equal(jstr(j, "result.job.state"), "done");
	json_decref(j);
	/* wait 0: answered at once, most likely before the read has run */
	j = call_json(v, "{\"jsonrpc\":\"2.0\",\"method\":\"flash.read\",\"params\":"
			 "{\"offset\":0,\"length\":6,\"wait\":0},\"id\":1}");
	id = jint(j, "result.job.id");
	json_decref(j);
	snprintf(body, sizeof(body),
		 "{\"jsonrpc\":\"2.0\",\"method\":\"job.get\",\"params\":[%lld,10000],\"id\":2}",
		 (long long)id);
	j = call_json(v, body);
	assert_string_equal(jstr(j, "result.job.state"), "done");
	assert_string_equal(jstr(j, "result.data"), "3q2+7///");
	assert_int_equal(jint(j, "result.length"), 6);
	json_decref(j);
	/* still there on the next look */
	j = call_json(v, body);
	assert_string_equal(jstr(j, "result.data"), "3q2+7///");
	json_decref(j);
}

static void inline_data_of_a_batch_is_capped(void **state)
{
	struct sbuf_ {
		char *p;
		size_t n;
	} b = { 0 };
	FILE *f = open_memstream(&b.p, &b.n);
	json_t *j, *e;
	size_t i;

	fputc('[', f);
	for (int k = 0; k < 100; k++)
		fprintf(f, "%s{\"jsonrpc\":\"2.0\",\"method\":\"flash.read\",\"params\":"
			   "{\"offset\":0,\"length\":1048576},\"id\":%d}",
			k ? "," : "", k);
	fputc(']', f);
	fclose(f);
	j = call_json(*state, b.p);
	free(b.p);
	assert_int_equal(json_array_size(j), 100);
	json_array_foreach(j, i, e) {
		if (i == 0) {
			assert_int_equal(json_string_length(json_object_get(json_object_get(e, "result"),
									    "data")),
					 1398104);
			continue;
		}
		assert_int_equal(jint(e, "error.code"), -32012);
		assert_int_equal(jint(e, "error.data.limit"), 1048576);
	}
	json_decref(j);
}

/* ---- held calls ---- */

static void batch_waits_side_by_side_not_one_after_another(void **state)
{
	struct env *v = env_open_scale(0.05); /* a chip erase takes ~2 s */
	struct answer *a;
	json_t *j, *e;
	char body[1024];
	json_int_t id;
	size_t i, o;
	uint64_t t0;

	(void)state;
	j = call_json(v, "{\"jsonrpc\":\"2.0\",\"method\":\"flash.erase\",\"params\":"
			 "{\"whole_chip\":true,\"backup\":false},\"id\":1}");
	id = jint(j, "result.job.id");
	json_decref(j);
	o = (size_t)snprintf(body, sizeof(body), "[");
	for (int k = 0; k < 6; k++)
		o += (size_t)snprintf(body + o, sizeof(body) - o,
				      "%s{\"jsonrpc\":\"2.0\",\"method\":\"job.get\",\"params\":"
				      "[%lld,300],\"id\":%d}",
				      k ? "," : "", (long long)id, k);
	snprintf(body + o, sizeof(body) - o, "]");
	t0 = now_ms();
	a = start(v, body);
	/* nothing blocked this thread: the calls are parked */
	assert_true(now_ms() - t0 < 100);
	assert_false(answered(a));
	char *resp = finish(a);
	uint64_t took = now_ms() - t0;
	if (took < 250 || took > 1500)
		fail_msg("six waits of 300 ms took %llu ms", (unsigned long long)took);
	j = json_loads(resp, 0, NULL);
	free(resp);
	json_array_foreach(j, i, e)
		assert_string_equal(jstr(e, "result.job.state"), "running");
	json_decref(j);

	/* a long wait is answered when the job ends, not when the wait runs out */
	snprintf(body, sizeof(body),
		 "{\"jsonrpc\":\"2.0\",\"method\":\"job.get\",\"params\":{\"id\":%lld,\"wait\":10000},\"id\":7}",
		 (long long)id);
	t0 = now_ms();
	j = call_json(v, body);
	assert_string_equal(jstr(j, "result.job.state"), "done");
	assert_true(now_ms() - t0 < 9000);
	json_decref(j);
	teardown((void **)&v);
}

static void notification_with_wait_is_not_held(void **state)
{
	struct env *v = env_open_scale(0.05);
	struct answer *a;

	(void)state;
	a = start(v, "{\"jsonrpc\":\"2.0\",\"method\":\"flash.erase\",\"params\":"
		     "{\"whole_chip\":true,\"backup\":false,\"wait\":10000}}");
	assert_true(answered(a));
	free(finish(a));
	teardown((void **)&v);
}

static void held_calls_are_answered_at_shutdown(void **state)
{
	struct env *v = env_open_scale(0.05);
	struct answer *a;
	json_t *j;

	(void)state;
	a = start(v, "{\"jsonrpc\":\"2.0\",\"method\":\"flash.erase\",\"params\":"
		     "{\"whole_chip\":true,\"backup\":false,\"wait\":10000},\"id\":1}");
	assert_false(answered(a));
	engine_stop(v->e); /* interrupts the erase: its end answers the call */
	char *resp = finish(a);
	j = json_loads(resp, 0, NULL);
	free(resp);
	/* answered with the job as shutdown left it, not left hanging */
	assert_true(!strcmp(jstr(j, "result.job.state"), "interrupted") ||
		    !strcmp(jstr(j, "result.job.state"), "cancelled"));
	json_decref(j);
	teardown((void **)&v);
}

/* ---- rpc.discover ---- */

static void openrpc_document_is_complete(void **state)
{
	json_t *j = call_json(*state, "{\"jsonrpc\":\"2.0\",\"method\":\"rpc.discover\",\"id\":1}");
	json_t *doc = json_object_get(j, "result"), *m, *errors, *e;
	json_t *known = json_object_get(json_object_get(doc, "components"), "errors");
	size_t i, k;

	assert_int_equal(json_array_size(json_object_get(doc, "methods")), 17);
	json_array_foreach(json_object_get(doc, "methods"), i, m) {
		const char *name = jstr(m, "name");
		json_t *schema = json_object_get(json_object_get(m, "result"), "schema");

		if (!json_object_get(schema, "type") && !json_object_get(schema, "$ref"))
			fail_msg("%s: empty result schema", name);
		errors = json_object_get(m, "errors");
		if (!json_is_array(errors))
			fail_msg("%s: no errors list", name);
		json_array_foreach(errors, k, e) {
			const char *ref = jstr(e, "$ref");

			assert_non_null(ref);
			assert_true(strncmp(ref, "#/components/errors/", 20) == 0);
			if (!json_object_get(known, ref + 20))
				fail_msg("%s: %s is not in components.errors", name, ref);
		}
	}
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(job_get_cancel_restore_without_params_name_the_missing_id),
		T(erase_by_position_reads_offset_and_length),
		T(settings_set_by_position_sets_the_clock),
		T(write_by_position_reads_the_mode),
		T(methods_without_params_refuse_any),
		T(unknown_names_and_extra_positions_are_named),
		T(read_of_zero_bytes_says_why),
		T(blank_check_at_the_end_of_the_chip_is_refused),
		T(write_of_nothing_is_refused),
		T(read_returns_exact_bytes_written),
		T(job_get_returns_a_finished_reads_data),
		T(inline_data_of_a_batch_is_capped),
		cmocka_unit_test(batch_waits_side_by_side_not_one_after_another),
		cmocka_unit_test(notification_with_wait_is_not_held),
		cmocka_unit_test(held_calls_are_answered_at_shutdown),
		T(openrpc_document_is_complete),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
