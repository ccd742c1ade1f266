/* SPDX-License-Identifier: MIT */
/*
 * test-rpc.c - the JSON-RPC 2.0 envelope against the specification's examples (section 7) and
 * our documented choices, comparing exact response bytes (compact JSON, sorted keys).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "rpc.h"

static int subtract(void *ctx, json_t *params, json_t **ret_result, struct rpc_error *err)
{
	static const char *const names[] = { "minuend", "subtrahend" };
	uint32_t a, b;
	int r;

	(void)ctx;
	r = rpc_params_check(params, names, 2, err);
	if (r < 0)
		return r;
	r = rpc_param_u32(params, "minuend", 0, true, &a, err);
	if (r < 0)
		return r;
	r = rpc_param_u32(params, "subtrahend", 1, true, &b, err);
	if (r < 0)
		return r;
	*ret_result = json_integer((json_int_t)a - (json_int_t)b);
	return 0;
}

static int sum(void *ctx, json_t *params, json_t **ret_result, struct rpc_error *err)
{
	json_int_t s = 0;
	size_t i;
	json_t *v;

	(void)ctx;
	(void)err;
	json_array_foreach(params, i, v)
		s += json_integer_value(v);
	*ret_result = json_integer(s);
	return 0;
}

static int nothing(void *ctx, json_t *params, json_t **ret_result, struct rpc_error *err)
{
	(void)ctx;
	(void)params;
	(void)ret_result;
	(void)err;
	return 0;
}

static int get_data(void *ctx, json_t *params, json_t **ret_result, struct rpc_error *err)
{
	(void)ctx;
	(void)params;
	(void)err;
	*ret_result = json_pack("[s,i]", "hello", 5);
	return 0;
}

static int busy(void *ctx, json_t *params, json_t **ret_result, struct rpc_error *err)
{
	(void)ctx;
	(void)params;
	(void)ret_result;
	(void)err;
	return -EBUSY;
}

static int timeout(void *ctx, json_t *params, json_t **ret_result, struct rpc_error *err)
{
	(void)ctx;
	(void)params;
	*ret_result = json_true(); /* must be dropped on failure, not leaked */
	return rpc_error_from_errno(err, -ETIMEDOUT, "erase", 0x1f000, "WIP still set");
}

static int odd(void *ctx, json_t *params, json_t **ret_result, struct rpc_error *err)
{
	(void)ctx;
	(void)params;
	(void)ret_result;
	(void)err;
	return -EXDEV;
}

static int counter;
static int count(void *ctx, json_t *params, json_t **ret_result, struct rpc_error *err)
{
	(void)ctx;
	(void)params;
	(void)ret_result;
	(void)err;
	counter++;
	return -EBUSY;
}

/* A strict method: params by name or at the positions of its x-order, nothing else. */
static int strict(void *ctx, json_t *params, json_t **ret_result, struct rpc_error *err)
{
	(void)ctx;
	(void)err;
	*ret_result = json_incref(params); /* what the handler sees */
	return 0;
}

/* Holds its answer: the test finishes it (rpc_deferred_finish) when it likes. */
static struct rpc_deferred *held[4];
static size_t n_held;
static int hold(void *ctx, struct rpc_call *call, json_t *params, json_t **ret_result,
		struct rpc_error *err)
{
	(void)ctx;
	(void)params;
	(void)err;
	if (rpc_call_can_defer(call) && n_held < ARRAY_SIZE(held) &&
	    rpc_call_defer(call, &held[n_held]) == 0) {
		n_held++;
		return RPC_DEFERRED;
	}
	*ret_result = json_string("at once");
	return 0;
}

/* Reserves params[0] inline bytes. */
static int reserve(void *ctx, struct rpc_call *call, json_t *params, json_t **ret_result,
		   struct rpc_error *err)
{
	uint32_t n = 0;
	int r;

	(void)ctx;
	r = rpc_param_u32(params, "n", -1, true, &n, err);
	if (r >= 0)
		r = rpc_call_reserve(call, n, "reserve", err);
	if (r < 0)
		return r;
	*ret_result = json_integer(n);
	return 0;
}

static const char *const strict_errors[] = { "ENODEV", "EBUSY", NULL };

static const struct rpc_method methods[] = {
	{ .name = "subtract", .fn = subtract, .summary = "a - b",
	  .params_schema_json = "{\"type\":\"object\",\"properties\":{\"minuend\":{\"type\":"
				"\"integer\"},\"subtrahend\":{\"type\":\"integer\"}},"
				"\"required\":[\"minuend\",\"subtrahend\"]}",
	  .result_schema_json = "{\"type\":\"integer\"}" },
	{ .name = "sum", .fn = sum },
	{ .name = "update", .fn = nothing },
	{ .name = "notify_hello", .fn = nothing },
	{ .name = "notify_sum", .fn = sum },
	{ .name = "get_data", .fn = get_data },
	{ .name = "busy", .fn = busy },
	{ .name = "timeout", .fn = timeout },
	{ .name = "odd", .fn = odd },
	{ .name = "count", .fn = count },
	{ .name = "strict", .fn = strict, .summary = "strict params",
	  .params_schema_json = "{\"type\":\"object\",\"additionalProperties\":false,"
				"\"x-order\":[\"offset\",\"length\",\"mode\"],\"properties\":{"
				"\"mode\":{},\"length\":{},\"offset\":{}}}",
	  .errors = strict_errors },
	{ .name = "none", .fn = strict, .summary = "takes nothing",
	  .params_schema_json = "{\"type\":\"object\",\"additionalProperties\":false,"
				"\"properties\":{}}" },
	{ .name = "hold", .call_fn = hold },
	{ .name = "reserve", .call_fn = reserve,
	  .params_schema_json = "{\"type\":\"object\",\"properties\":{\"n\":{}}}" },
};

static struct rpc_registry *new_reg(const struct rpc_limits *limits)
{
	struct rpc_registry *reg = NULL;

	assert_int_equal(rpc_registry_new(limits, "test", "1", &reg), 0);
	assert_int_equal(rpc_registry_add_table(reg, methods, ARRAY_SIZE(methods)), 0);
	return reg;
}

static int setup(void **state)
{
	*state = new_reg(NULL);
	return 0;
}

static int teardown(void **state)
{
	rpc_registry_free(*state);
	return 0;
}

/* Response to body, "" when there is none. Caller frees. */
static char *call(const struct rpc_registry *reg, const char *body)
{
	char *resp = (char *)1;

	assert_int_equal(rpc_handle(reg, body, strlen(body), NULL, &resp), 0);
	assert_ptr_not_equal(resp, (char *)1);
	return resp ? resp : strdup("");
}

struct async_answer {
	int calls, r;
	char *response;
};

static void async_done(void *cls, int r, char *response)
{
	struct async_answer *a = cls;

	a->calls++;
	a->r = r;
	a->response = response;
}

#define assert_call(state, body, expected)                                                         \
	do {                                                                                       \
		char *got_ = call(*(state), (body));                                               \
		assert_string_equal(got_, (expected));                                             \
		free(got_);                                                                        \
	} while (0)

/* ---- specification section 7 ---- */

static void spec_positional_params(void **state)
{
	assert_call(state, "{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": [42, 23], \"id\": 1}",
		    "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":19}");
	assert_call(state, "{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": [23, 42], \"id\": 2}",
		    "{\"id\":2,\"jsonrpc\":\"2.0\",\"result\":-19}");
}

static void spec_named_params(void **state)
{
	assert_call(state, "{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": {\"subtrahend\": 23, \"minuend\": 42}, \"id\": 3}",
		    "{\"id\":3,\"jsonrpc\":\"2.0\",\"result\":19}");
	assert_call(state, "{\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": {\"minuend\": 42, \"subtrahend\": 23}, \"id\": 4}",
		    "{\"id\":4,\"jsonrpc\":\"2.0\",\"result\":19}");
}

static void spec_notification(void **state)
{
	assert_call(state, "{\"jsonrpc\": \"2.0\", \"method\": \"update\", \"params\": [1,2,3,4,5]}", "");
	assert_call(state, "{\"jsonrpc\": \"2.0\", \"method\": \"foobar\"}", "");
}

static void spec_non_existent_method(void **state)
{
	assert_call(state, "{\"jsonrpc\": \"2.0\", \"method\": \"foobar\", \"id\": \"1\"}",
		    "{\"error\":{\"code\":-32601,\"message\":\"Method not found\"},\"id\":\"1\",\"jsonrpc\":\"2.0\"}");
}

static void spec_invalid_json(void **state)
{
	assert_call(state, "{\"jsonrpc\": \"2.0\", \"method\": \"foobar, \"params\": \"bar\", \"baz]",
		    "{\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
}

static void spec_invalid_request_object(void **state)
{
	assert_call(state, "{\"jsonrpc\": \"2.0\", \"method\": 1, \"params\": \"bar\"}",
		    "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
}

static void spec_batch_invalid_json(void **state)
{
	assert_call(state, "[\n  {\"jsonrpc\": \"2.0\", \"method\": \"sum\", \"params\": [1,2,4], \"id\": \"1\"},\n  {\"jsonrpc\": \"2.0\", \"method\"\n]",
		    "{\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
}

static void spec_empty_array(void **state)
{
	assert_call(state, "[]",
		    "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
}

static void spec_invalid_batch_one(void **state)
{
	assert_call(state, "[1]",
		    "[{\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null,\"jsonrpc\":\"2.0\"}]");
}

static void spec_invalid_batch_three(void **state)
{
	assert_call(state, "[1,2,3]",
		    "[{\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null,\"jsonrpc\":\"2.0\"},"
		    "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null,\"jsonrpc\":\"2.0\"},"
		    "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null,\"jsonrpc\":\"2.0\"}]");
}

static void spec_mixed_batch(void **state)
{
	assert_call(state,
		    "[\n"
		    "  {\"jsonrpc\": \"2.0\", \"method\": \"sum\", \"params\": [1,2,4], \"id\": \"1\"},\n"
		    "  {\"jsonrpc\": \"2.0\", \"method\": \"notify_hello\", \"params\": [7]},\n"
		    "  {\"jsonrpc\": \"2.0\", \"method\": \"subtract\", \"params\": [42,23], \"id\": \"2\"},\n"
		    "  {\"foo\": \"boo\"},\n"
		    "  {\"jsonrpc\": \"2.0\", \"method\": \"foo.get\", \"params\": {\"name\": \"myself\"}, \"id\": \"5\"},\n"
		    "  {\"jsonrpc\": \"2.0\", \"method\": \"get_data\", \"id\": \"9\"}\n"
		    "]",
		    "[{\"id\":\"1\",\"jsonrpc\":\"2.0\",\"result\":7},"
		    "{\"id\":\"2\",\"jsonrpc\":\"2.0\",\"result\":19},"
		    "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null,\"jsonrpc\":\"2.0\"},"
		    "{\"error\":{\"code\":-32601,\"message\":\"Method not found\"},\"id\":\"5\",\"jsonrpc\":\"2.0\"},"
		    "{\"id\":\"9\",\"jsonrpc\":\"2.0\",\"result\":[\"hello\",5]}]");
}

static void spec_all_notification_batch_has_no_response(void **state)
{
	assert_call(state,
		    "[{\"jsonrpc\": \"2.0\", \"method\": \"notify_sum\", \"params\": [1,2,4]},"
		    " {\"jsonrpc\": \"2.0\", \"method\": \"notify_hello\", \"params\": [7]}]",
		    "");
}

/* ---- ids ---- */

static void id_string_echoed(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"get_data\",\"id\":\"a\\\"b\\u00e9\"}",
		    "{\"id\":\"a\\\"b\\u00e9\",\"jsonrpc\":\"2.0\",\"result\":[\"hello\",5]}");
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\" :\t\"\\/x\" }",
		    "{\"error\":{\"code\":-32601,\"message\":\"Method not found\"},\"id\":\"\\/x\",\"jsonrpc\":\"2.0\"}");
}

static void id_null_echoed(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"id\":null}",
		    "{\"id\":null,\"jsonrpc\":\"2.0\",\"result\":null}");
}

static void id_fractional_echoed_verbatim(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"id\":1.10}",
		    "{\"id\":1.10,\"jsonrpc\":\"2.0\",\"result\":null}");
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"id\" : -2.5e-3 }",
		    "{\"id\":-2.5e-3,\"jsonrpc\":\"2.0\",\"result\":null}");
}

static void id_huge_integer_echoed_verbatim(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"id\":123456789012345678901234567890}",
		    "{\"id\":123456789012345678901234567890,\"jsonrpc\":\"2.0\",\"result\":null}");
}

static void id_verbatim_per_batch_element(void **state)
{
	assert_call(state,
		    "[{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"id\":1.0,\"params\":{\"id\":7.70}},"
		    "{\"id\":2.00,\"jsonrpc\":\"2.0\",\"method\":\"nope\"}]",
		    "[{\"id\":1.0,\"jsonrpc\":\"2.0\",\"result\":null},"
		    "{\"error\":{\"code\":-32601,\"message\":\"Method not found\"},\"id\":2.00,\"jsonrpc\":\"2.0\"}]");
}

static void id_of_other_type_is_invalid_request(void **state)
{
	static const char *const bodies[] = {
		"{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"id\":{}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"id\":[1]}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"id\":true}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bodies); i++)
		assert_call(state, bodies[i],
			    "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
}


/* ---- ids the parser cannot hold, escaped member names ---- */

static void id_member_name_escaped_still_echoed_verbatim(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"\\u0069d\":1.50}",
		    "{\"id\":1.50,\"jsonrpc\":\"2.0\",\"result\":null}");
	assert_call(state, "[{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"i\\u0064\":\"\\u00e9\"}]",
		    "[{\"id\":\"\\u00e9\",\"jsonrpc\":\"2.0\",\"result\":null}]");
	/* the same member twice under two spellings is a duplicate */
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"id\":1,\"\\u0069d\":2}",
		    "{\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
}

static void id_beyond_double_echoed_verbatim(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"id\":1e400}",
		    "{\"id\":1e400,\"jsonrpc\":\"2.0\",\"result\":null}");
	assert_call(state, "[{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\": -2E+999 }]",
		    "[{\"error\":{\"code\":-32601,\"message\":\"Method not found\"},\"id\":-2E+999,\"jsonrpc\":\"2.0\"}]");
}

static void param_beyond_double_is_invalid_params(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"subtract\",\"params\":[1e999,1],\"id\":1}",
		    "{\"error\":{\"code\":-32602,\"data\":{\"param\":\"minuend\"},\"message\":\"Invalid params: "
		    "\\\"minuend\\\" must be an integer in 0..4294967295 or a \\\"0x\\\" hex string\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
	/* inside strings nothing is touched */
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"params\":[\"1e999\",1e999],\"id\":\"1e999\"}",
		    "{\"id\":\"1e999\",\"jsonrpc\":\"2.0\",\"result\":null}");
}

/* ---- params normalised from the schema ---- */

static void positions_map_to_the_advertised_names(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"strict\",\"params\":[8192,4096],\"id\":1}",
		    "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":{\"length\":4096,\"offset\":8192}}");
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"strict\",\"params\":[0,null,\"full\"],\"id\":1}",
		    "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":{\"length\":null,\"mode\":\"full\",\"offset\":0}}");
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"strict\",\"id\":1}",
		    "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":{}}");
}

static void extra_positions_are_named(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"strict\",\"params\":[1,2,3,4],\"id\":1}",
		    "{\"error\":{\"code\":-32602,\"data\":{\"position\":3},\"message\":\"Invalid params: strict takes at most 3 "
		    "parameters by position (offset, length, mode); got 4\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"none\",\"params\":[42],\"id\":1}",
		    "{\"error\":{\"code\":-32602,\"data\":{\"position\":0},\"message\":\"Invalid params: none takes no "
		    "parameters; got 1 by position\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"none\",\"params\":[],\"id\":1}",
		    "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":{}}");
}

static void unknown_names_are_named(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"strict\",\"params\":{\"offset\":1,\"lenght\":2,\"x\":3},\"id\":1}",
		    "{\"error\":{\"code\":-32602,\"data\":{\"param\":\"lenght\"},\"message\":\"Invalid params: unknown parameters "
		    "\\\"lenght\\\", \\\"x\\\"; strict takes offset, length, mode\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"none\",\"params\":{\"\":1},\"id\":1}",
		    "{\"error\":{\"code\":-32602,\"data\":{\"param\":\"\"},\"message\":\"Invalid params: unknown parameter "
		    "\\\"\\\"; none takes none\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
}

static void without_a_schema_params_pass_as_sent(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[1,2,3,4,5,6],\"id\":1}",
		    "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":21}");
}

/* ---- held answers ---- */

static void held_call_answers_when_finished(void **state)
{
	struct async_answer a = { 0 };
	const char *body = "[{\"jsonrpc\":\"2.0\",\"method\":\"hold\",\"id\":1.0},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"get_data\",\"id\":2},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"hold\"},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"hold\",\"id\":\"x\"}]";
	struct rpc_error err = { 0 };

	n_held = 0;
	assert_int_equal(rpc_handle_async(*state, body, strlen(body), NULL, async_done, &a), 0);
	/* the notification cannot be held: answered (with nothing) at once */
	assert_int_equal(n_held, 2);
	assert_int_equal(a.calls, 0);
	rpc_deferred_finish(held[1], 0, json_string("second"), NULL);
	assert_int_equal(a.calls, 0);
	rpc_error_from_errno(&err, -EBUSY, "hold", RPC_NO_ADDR, NULL);
	rpc_deferred_finish(held[0], -EBUSY, json_true(), &err);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.r, 0);
	assert_string_equal(a.response,
			    "[{\"error\":{\"code\":-32007,\"data\":{\"errno\":\"EBUSY\",\"op\":\"hold\"},"
			    "\"message\":\"busy\"},\"id\":1.0,\"jsonrpc\":\"2.0\"},"
			    "{\"id\":2,\"jsonrpc\":\"2.0\",\"result\":[\"hello\",5]},"
			    "{\"id\":\"x\",\"jsonrpc\":\"2.0\",\"result\":\"second\"}]");
	free(a.response);
}

static void nothing_held_answers_before_returning(void **state)
{
	struct async_answer a = { 0 };
	const char *body = "{\"jsonrpc\":\"2.0\",\"method\":\"get_data\",\"id\":3}";

	assert_int_equal(rpc_handle_async(*state, body, strlen(body), NULL, async_done, &a), 0);
	assert_int_equal(a.calls, 1);
	assert_string_equal(a.response, "{\"id\":3,\"jsonrpc\":\"2.0\",\"result\":[\"hello\",5]}");
	free(a.response);
	a = (struct async_answer){ 0 };
	body = "{\"jsonrpc\":\"2.0\",\"method\":\"update\"}";
	assert_int_equal(rpc_handle_async(*state, body, strlen(body), NULL, async_done, &a), 0);
	assert_int_equal(a.calls, 1);
	assert_null(a.response);
}

static void synchronous_handle_never_holds(void **state)
{
	n_held = 0;
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"hold\",\"id\":1}",
		    "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":\"at once\"}");
	assert_int_equal(n_held, 0);
}

static void inline_budget_is_shared_by_a_batch(void **state)
{
	struct rpc_limits lim = { .max_inline_bytes = 1000 };
	struct rpc_registry *reg = new_reg(&lim);
	char *got;

	(void)state;
	got = call(reg, "[{\"jsonrpc\":\"2.0\",\"method\":\"reserve\",\"params\":[600],\"id\":1},"
			"{\"jsonrpc\":\"2.0\",\"method\":\"reserve\",\"params\":[600],\"id\":2},"
			"{\"jsonrpc\":\"2.0\",\"method\":\"reserve\",\"params\":[400],\"id\":3}]");
	assert_string_equal(got,
			    "[{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":600},"
			    "{\"error\":{\"code\":-32012,\"data\":{\"detail\":\"600 bytes inline would bring this "
			    "request to 1200; one response carries at most 1000 bytes of flash data (earlier "
			    "calls in the batch took 600); split the batch or use GET /api/v1/flash\","
			    "\"errno\":\"EMSGSIZE\",\"limit\":1000,\"op\":\"reserve\"},\"message\":\"message too large\"},"
			    "\"id\":2,\"jsonrpc\":\"2.0\"},"
			    "{\"id\":3,\"jsonrpc\":\"2.0\",\"result\":400}]");
	free(got);
	got = call(reg, "{\"jsonrpc\":\"2.0\",\"method\":\"reserve\",\"params\":[1001],\"id\":1}");
	assert_string_equal(got,
			    "{\"error\":{\"code\":-32012,\"data\":{\"detail\":\"1001 bytes inline is more than the "
			    "1000 bytes of flash data one response carries; use GET /api/v1/flash\","
			    "\"errno\":\"EMSGSIZE\",\"limit\":1000,\"op\":\"reserve\"},\"message\":\"message too large\"},"
			    "\"id\":1,\"jsonrpc\":\"2.0\"}");
	free(got);
	rpc_registry_free(reg);
}

static void discover_lists_errors_and_shared_schemas(void **state)
{
	char *got;
	json_t *resp, *doc, *m;

	assert_int_equal(rpc_registry_add_schema(*state, "Range", "{\"type\":\"object\"}"), 0);
	assert_int_equal(rpc_registry_add_schema(*state, "Range", "{}"), -EEXIST);
	assert_int_equal(rpc_registry_add_schema(*state, "Bad", "[]"), -EINVAL);
	got = call(*state, "{\"jsonrpc\":\"2.0\",\"method\":\"rpc.discover\",\"id\":1}");
	resp = json_loads(got, 0, NULL);
	doc = json_object_get(resp, "result");
	m = json_array_get(json_object_get(doc, "methods"), ARRAY_SIZE(methods) - 4); /* strict */
	assert_string_equal(json_string_value(json_object_get(m, "name")), "strict");
	char *errs = json_dumps(json_object_get(m, "errors"), JSON_COMPACT);
	assert_string_equal(errs, "[{\"$ref\":\"#/components/errors/INVALID_PARAMS\"},"
				  "{\"$ref\":\"#/components/errors/ENODEV\"},"
				  "{\"$ref\":\"#/components/errors/EBUSY\"}]");
	free(errs);
	assert_non_null(json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"),
					"Range"));
	json_decref(resp);
	free(got);
}

/* ---- envelope ---- */

static void jsonrpc_must_be_exactly_2_0(void **state)
{
	static const char *const bodies[] = {
		"{\"method\":\"update\",\"id\":7}",
		"{\"jsonrpc\":2.0,\"method\":\"update\",\"id\":7}",
		"{\"jsonrpc\":\"2.0 \",\"method\":\"update\",\"id\":7}",
		"{\"jsonrpc\":\"2.0\\u0000\",\"method\":\"update\",\"id\":7}",
		"{\"jsonrpc\":\"1.0\",\"method\":\"update\",\"id\":7}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
		char *got = call(*state, bodies[i]);

		/* jansson refuses \u0000 in strings by default: a parse error, also id null. */
		if (strstr(bodies[i], "u0000"))
			assert_string_equal(got, "{\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
		else
			assert_string_equal(got, "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":7,\"jsonrpc\":\"2.0\"}");
		free(got);
	}
}

static void params_must_be_structured(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"params\":3,\"id\":1}",
		    "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"params\":null,\"id\":1}",
		    "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
}

static void scalar_body_is_invalid_request(void **state)
{
	assert_call(state, "\"x\"",
		    "{\"error\":{\"code\":-32600,\"message\":\"Invalid Request\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
}

static void empty_body_is_parse_error(void **state)
{
	assert_call(state, "",
		    "{\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
}

static void duplicate_keys_are_parse_error(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"method\":\"busy\",\"id\":1}",
		    "{\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
}

static void trailing_garbage_is_parse_error(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"id\":1} x",
		    "{\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
}

static void method_name_with_nul_is_not_found(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"update\\u0000x\",\"id\":1}",
		    "{\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
}

/* ---- handler errors ---- */

static void handler_errno_maps_through_errmap(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"busy\",\"id\":1}",
		    "{\"error\":{\"code\":-32007,\"data\":{\"errno\":\"EBUSY\"},\"message\":\"busy\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
}

static void handler_error_from_errno_carries_op_addr_detail(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"timeout\",\"id\":1}",
		    "{\"error\":{\"code\":-32002,\"data\":{\"addr\":\"0x01f000\",\"detail\":\"WIP still set\","
		    "\"errno\":\"ETIMEDOUT\",\"op\":\"erase\"},\"message\":\"chip timeout\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
}

static void handler_unknown_errno_is_system_error(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"odd\",\"id\":1}",
		    "{\"error\":{\"code\":-32099,\"data\":{\"errno\":\"EXDEV\"},\"message\":\"system error\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
}

static void notification_error_has_no_response_but_runs(void **state)
{
	counter = 0;
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"count\"}", "");
	assert_int_equal(counter, 1);
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"subtract\",\"params\":[1]}", "");
}

static void invalid_params_message_is_exact(void **state)
{
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"subtract\",\"params\":[42],\"id\":1}",
		    "{\"error\":{\"code\":-32602,\"data\":{\"param\":\"subtrahend\"},"
		    "\"message\":\"Invalid params: \\\"subtrahend\\\" is required\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"subtract\",\"params\":{\"minuend\":1,\"subtrahend\":2,\"x\":3},\"id\":1}",
		    "{\"error\":{\"code\":-32602,\"data\":{\"param\":\"x\"},"
		    "\"message\":\"Invalid params: unknown parameter \\\"x\\\"\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
	assert_call(state, "{\"jsonrpc\":\"2.0\",\"method\":\"subtract\",\"params\":[1,2,3],\"id\":1}",
		    "{\"error\":{\"code\":-32602,\"data\":{\"position\":2},\"message\":\"Invalid params: subtract takes at most 2 "
		    "parameters by position (minuend, subtrahend); got 3\"},\"id\":1,\"jsonrpc\":\"2.0\"}");
}

/* ---- limits ---- */

static void body_over_limit_is_message_too_large(void **state)
{
	struct rpc_limits lim = { .max_body_bytes = 40 };
	struct rpc_registry *reg = new_reg(&lim);
	char *got;

	(void)state;
	got = call(reg, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"id\":1}     ");
	assert_string_equal(got, "{\"error\":{\"code\":-32012,\"data\":{\"errno\":\"EMSGSIZE\",\"limit\":40},"
				 "\"message\":\"message too large\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
	free(got);
	rpc_registry_free(reg);
}

static void batch_over_limit_is_message_too_large(void **state)
{
	struct rpc_limits lim = { .max_batch = 2 };
	struct rpc_registry *reg = new_reg(&lim);
	char *got;

	(void)state;
	got = call(reg, "[1,2,3]");
	assert_string_equal(got, "{\"error\":{\"code\":-32012,\"data\":{\"detail\":\"batch too long\",\"errno\":\"EMSGSIZE\",\"limit\":2},"
				 "\"message\":\"message too large\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
	free(got);
	got = call(reg, "[1,2]");
	assert_non_null(strstr(got, "-32600"));
	free(got);
	rpc_registry_free(reg);
}

static void nesting_over_limit_is_invalid_request(void **state)
{
	struct rpc_limits lim = { .max_depth = 3 };
	struct rpc_registry *reg = new_reg(&lim);
	char *got;

	(void)state;
	got = call(reg, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"params\":[[1]],\"id\":1}");
	assert_string_equal(got, "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":null}");
	free(got);
	got = call(reg, "{\"jsonrpc\":\"2.0\",\"method\":\"update\",\"params\":[[[\"]]]]\"]]],\"id\":1}");
	assert_string_equal(got, "{\"error\":{\"code\":-32600,\"data\":{\"detail\":\"nesting too deep\",\"limit\":3},"
				 "\"message\":\"Invalid Request\"},\"id\":null,\"jsonrpc\":\"2.0\"}");
	free(got);
	rpc_registry_free(reg);
}

static void very_deep_nesting_is_refused_without_crash(void **state)
{
	size_t n = 100000;
	char *body = malloc(2 * n + 1);
	char *got;

	for (size_t i = 0; i < n; i++) {
		body[i] = '[';
		body[n + i] = ']';
	}
	body[2 * n] = '\0';
	got = call(*state, body);
	assert_non_null(strstr(got, "\"id\":null"));
	free(got);
	free(body);
}

/* ---- registry ---- */

static void registry_rejects_bad_methods(void **state)
{
	static const struct rpc_method dup = { .name = "sum", .fn = sum };
	static const struct rpc_method reserved = { .name = "rpc.x", .fn = sum };
	static const struct rpc_method nofn = { .name = "x" };
	static const struct rpc_method badschema = { .name = "y", .fn = sum,
						     .params_schema_json = "[1]" };

	assert_int_equal(rpc_registry_add(*state, &dup), -EEXIST);
	assert_int_equal(rpc_registry_add(*state, &reserved), -EINVAL);
	assert_int_equal(rpc_registry_add(*state, &nofn), -EINVAL);
	assert_int_equal(rpc_registry_add(*state, &badschema), -EINVAL);
}

static void discover_lists_every_method(void **state)
{
	char *got = call(*state, "{\"jsonrpc\":\"2.0\",\"method\":\"rpc.discover\",\"id\":1}");
	json_t *resp = json_loads(got, 0, NULL), *doc, *m;
	size_t i;

	assert_non_null(resp);
	doc = json_object_get(resp, "result");
	assert_string_equal(json_string_value(json_object_get(doc, "openrpc")), "1.2.6");
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "info"), "title")), "test");
	assert_int_equal(json_array_size(json_object_get(doc, "methods")), ARRAY_SIZE(methods) + 1);
	json_array_foreach(json_object_get(doc, "methods"), i, m) {
		const char *name = json_string_value(json_object_get(m, "name"));

		assert_non_null(name);
		assert_true(json_is_array(json_object_get(m, "params")));
		assert_true(json_is_object(json_object_get(m, "result")));
		if (i < ARRAY_SIZE(methods))
			assert_string_equal(name, methods[i].name);
		else
			assert_string_equal(name, "rpc.discover");
	}
	m = json_array_get(json_object_get(doc, "methods"), 0);
	char *params = json_dumps(json_object_get(m, "params"), JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(params, "[{\"name\":\"minuend\",\"required\":true,\"schema\":{\"type\":\"integer\"}},"
				    "{\"name\":\"subtrahend\",\"required\":true,\"schema\":{\"type\":\"integer\"}}]");
	free(params);
	json_t *errs = json_object_get(json_object_get(doc, "components"), "errors");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(errs, "ETIMEDOUT"), "code")), -32002);
	assert_int_equal(json_array_size(json_object_get(doc, "x-errmap")), errmap_count());
	json_decref(resp);
	free(got);
}

/* ---- typed params ---- */

static void param_u32_accepts_integer_and_hex(void **state)
{
	struct rpc_error err = { 0 };
	json_t *p = json_loads("{\"a\":4294967295,\"b\":\"0x01F000\",\"c\":null}", 0, NULL);
	uint32_t v = 7;

	(void)state;
	assert_int_equal(rpc_param_u32(p, "a", -1, true, &v, &err), 1);
	assert_int_equal(v, 4294967295u);
	assert_int_equal(rpc_param_u32(p, "b", -1, true, &v, &err), 1);
	assert_int_equal(v, 0x1f000);
	v = 7;
	assert_int_equal(rpc_param_u32(p, "c", -1, false, &v, &err), 0);
	assert_int_equal(rpc_param_u32(p, "d", -1, false, &v, &err), 0);
	assert_int_equal(v, 7);
	assert_int_equal(err.code, 0);
	json_decref(p);
}

static void param_u32_rejects_with_exact_message(void **state)
{
	static const char *const bad[] = { "-1", "4294967296", "1.5", "\"0x\"", "\"0x1g\"",
					   "\"12\"", "true", "[]", "\"0x100000000\"" };
	struct rpc_error err = { 0 };
	uint32_t v = 7;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char body[64];
		json_t *p;

		snprintf(body, sizeof(body), "{\"offset\":%s}", bad[i]);
		p = json_loads(body, 0, NULL);
		assert_non_null(p);
		assert_int_equal(rpc_param_u32(p, "offset", 0, true, &v, &err), -EINVAL);
		assert_int_equal(err.code, -32602);
		assert_string_equal(err.message, "Invalid params: \"offset\" must be an integer in "
						 "0..4294967295 or a \"0x\" hex string");
		assert_int_equal(v, 7);
		rpc_error_clear(&err);
		json_decref(p);
	}
}

static void param_required_missing_message(void **state)
{
	struct rpc_error err = { 0 };
	json_t *p = json_loads("[]", 0, NULL);
	bool b;

	(void)state;
	assert_int_equal(rpc_param_bool(p, "force", 0, true, &b, &err), -EINVAL);
	assert_string_equal(err.message, "Invalid params: \"force\" is required");
	assert_string_equal(json_string_value(json_object_get(err.data, "param")), "force");
	rpc_error_clear(&err);
	assert_int_equal(rpc_param_bool(NULL, "force", 0, true, &b, &err), -EINVAL);
	rpc_error_clear(&err);
	json_decref(p);
}

static void param_by_position_only_when_allowed(void **state)
{
	struct rpc_error err = { 0 };
	json_t *p = json_loads("[true]", 0, NULL);
	bool b = false;

	(void)state;
	assert_int_equal(rpc_param_bool(p, "force", 0, true, &b, &err), 1);
	assert_true(b);
	assert_int_equal(rpc_param_bool(p, "force", -1, false, &b, &err), 0);
	json_decref(p);
}

static void param_bool_rejects_integer(void **state)
{
	struct rpc_error err = { 0 };
	json_t *p = json_loads("{\"force\":1}", 0, NULL);
	bool b;

	(void)state;
	assert_int_equal(rpc_param_bool(p, "force", -1, true, &b, &err), -EINVAL);
	assert_string_equal(err.message, "Invalid params: \"force\" must be true or false");
	rpc_error_clear(&err);
	json_decref(p);
}

static void param_string_length_and_nul(void **state)
{
	struct rpc_error err = { 0 };
	json_t *p = json_loads("{\"a\":\"abcd\",\"b\":\"a\\u0000b\"}", JSON_ALLOW_NUL, NULL);
	const char *s = NULL;

	(void)state;
	assert_int_equal(rpc_param_string(p, "a", -1, true, 4, &s, &err), 1);
	assert_string_equal(s, "abcd");
	assert_int_equal(rpc_param_string(p, "a", -1, true, 3, &s, &err), -EINVAL);
	assert_string_equal(err.message, "Invalid params: \"a\" must be a string of at most 3 bytes");
	rpc_error_clear(&err);
	assert_int_equal(rpc_param_string(p, "b", -1, true, 100, &s, &err), -EINVAL);
	rpc_error_clear(&err);
	json_decref(p);
}

static void param_b64_decodes_exact_bytes(void **state)
{
	struct rpc_error err = { 0 };
	json_t *p = json_loads("{\"a\":\"AAH/gA==\",\"e\":\"\"}", 0, NULL);
	const uint8_t want[] = { 0x00, 0x01, 0xff, 0x80 };
	uint8_t *buf = NULL;
	size_t len = 99;

	(void)state;
	assert_int_equal(rpc_param_bytes_b64(p, "a", -1, true, 4, &buf, &len, &err), 1);
	assert_int_equal(len, 4);
	th_assert_bytes(buf, want, 4);
	free(buf);
	assert_int_equal(rpc_param_bytes_b64(p, "e", -1, true, 4, &buf, &len, &err), 1);
	assert_int_equal(len, 0);
	free(buf);
	json_decref(p);
}

static void param_b64_rejects_malformed_and_oversized(void **state)
{
	static const char *const bad[] = { "\"AAH\"", "\"AA H/gA=\"", "\"A=AA\"", "\"AA=A\"",
					   "\"AAH-\"", "\"====\"", "5" };
	struct rpc_error err = { 0 };
	uint8_t *buf = NULL;
	size_t len = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char body[64];
		json_t *p;

		snprintf(body, sizeof(body), "{\"data\":%s}", bad[i]);
		p = json_loads(body, 0, NULL);
		assert_int_equal(rpc_param_bytes_b64(p, "data", -1, true, 16, &buf, &len, &err),
				 -EINVAL);
		assert_string_equal(err.message, "Invalid params: \"data\" must be a base64 string");
		rpc_error_clear(&err);
		json_decref(p);
	}
	json_t *p = json_loads("{\"data\":\"AAH/gA==\"}", 0, NULL);
	assert_int_equal(rpc_param_bytes_b64(p, "data", -1, true, 3, &buf, &len, &err), -EINVAL);
	assert_string_equal(err.message, "Invalid params: \"data\" must decode to at most 3 bytes");
	rpc_error_clear(&err);
	json_decref(p);
}

static void error_from_errno_addr_formats(void **state)
{
	struct rpc_error err = { 0 };
	char *s;

	(void)state;
	assert_int_equal(rpc_error_from_errno(&err, -EROFS, NULL, 0x1234567, NULL), -EROFS);
	assert_int_equal(err.code, -32003);
	assert_string_equal(err.message, "write protected");
	s = json_dumps(err.data, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"addr\":\"0x01234567\",\"errno\":\"EROFS\"}");
	free(s);
	rpc_error_clear(&err);
	assert_int_equal(rpc_error_from_errno(&err, -EIO, "read", RPC_NO_ADDR, NULL), -EIO);
	s = json_dumps(err.data, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"errno\":\"EIO\",\"op\":\"read\"}");
	free(s);
	rpc_error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(spec_positional_params),
		T(spec_named_params),
		T(spec_notification),
		T(spec_non_existent_method),
		T(spec_invalid_json),
		T(spec_invalid_request_object),
		T(spec_batch_invalid_json),
		T(spec_empty_array),
		T(spec_invalid_batch_one),
		T(spec_invalid_batch_three),
		T(spec_mixed_batch),
		T(spec_all_notification_batch_has_no_response),
		T(id_string_echoed),
		T(id_null_echoed),
		T(id_fractional_echoed_verbatim),
		T(id_huge_integer_echoed_verbatim),
		T(id_verbatim_per_batch_element),
		T(id_of_other_type_is_invalid_request),
		T(id_member_name_escaped_still_echoed_verbatim),
		T(id_beyond_double_echoed_verbatim),
		T(param_beyond_double_is_invalid_params),
		T(positions_map_to_the_advertised_names),
		T(extra_positions_are_named),
		T(unknown_names_are_named),
		T(without_a_schema_params_pass_as_sent),
		T(held_call_answers_when_finished),
		T(nothing_held_answers_before_returning),
		T(synchronous_handle_never_holds),
		T(inline_budget_is_shared_by_a_batch),
		T(discover_lists_errors_and_shared_schemas),
		T(jsonrpc_must_be_exactly_2_0),
		T(params_must_be_structured),
		T(scalar_body_is_invalid_request),
		T(empty_body_is_parse_error),
		T(duplicate_keys_are_parse_error),
		T(trailing_garbage_is_parse_error),
		T(method_name_with_nul_is_not_found),
		T(handler_errno_maps_through_errmap),
		T(handler_error_from_errno_carries_op_addr_detail),
		T(handler_unknown_errno_is_system_error),
		T(notification_error_has_no_response_but_runs),
		T(invalid_params_message_is_exact),
		T(body_over_limit_is_message_too_large),
		T(batch_over_limit_is_message_too_large),
		T(nesting_over_limit_is_invalid_request),
		T(very_deep_nesting_is_refused_without_crash),
		T(registry_rejects_bad_methods),
		T(discover_lists_every_method),
		T(param_u32_accepts_integer_and_hex),
		T(param_u32_rejects_with_exact_message),
		T(param_required_missing_message),
		T(param_by_position_only_when_allowed),
		T(param_bool_rejects_integer),
		T(param_string_length_and_nul),
		T(param_b64_decodes_exact_bytes),
		T(param_b64_rejects_malformed_and_oversized),
		T(error_from_errno_addr_formats),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
