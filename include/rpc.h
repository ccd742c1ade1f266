/* SPDX-License-Identifier: MIT */
/*
 * rpc.h - JSON-RPC 2.0 (https://www.jsonrpc.org/specification) over any byte transport.
 *
 * A registry holds a table of methods; rpc_handle() takes one request body (single request or
 * batch) and produces the response text, or none for notifications. Responses are compact JSON
 * with keys sorted ({"error":..,"id":..,"jsonrpc":"2.0"} / {"id":..,"jsonrpc":"2.0","result":..})
 * so tests and clients can compare bytes.
 *
 * Decisions the specification leaves open, fixed here:
 *  - Duplicate member names anywhere in a body are a parse error (-32700): parsers disagree on
 *    which duplicate wins, which is a classic smuggling vector.
 *  - Bodies larger than limits.max_body_bytes, nesting deeper than limits.max_depth and batches
 *    longer than limits.max_batch are answered with one error object, id null: -32012
 *    (EMSGSIZE, "message too large") for size and batch length, -32600 for depth.
 *  - Ids are echoed byte for byte as the client wrote them (1.50 stays 1.50, "\u00e9" stays
 *    escaped, also when the member name is escaped, "\u0069d"). Numbers no C type holds are
 *    valid JSON and are accepted: an id of 1e400 or of 400 digits is echoed verbatim; a param
 *    holding one fails the typed getters (-32602) like any other non-integer.
 *  - An id that is not a string, number or null makes the request invalid (-32600, id null).
 *  - Params of a method with a params schema are checked and normalised before the handler
 *    runs: by-position params are read at the positions rpc.discover advertises ("x-order", else
 *    the order of "properties") and handed to the handler as an object; more positions than
 *    names, or (with "additionalProperties": false) names the schema lacks, are -32602 naming
 *    them. A method without a params schema gets params exactly as sent.
 *  - Over HTTP the transport answers 200 with any JSON-RPC response, 204 when there is none.
 *  - Answers can be held (rpc_handle_async(), rpc_call_defer()): a handler waiting for a job
 *    parks its call instead of a thread. The calls of one batch wait side by side, never one
 *    after another, and no call is held past limits.max_wait_ms after the body arrived, so one
 *    request is answered within that time whatever it holds.
 *  - Handlers may reserve "inline bytes" (flash data carried in the response) from a budget of
 *    limits.max_inline_bytes per request, shared by the calls of a batch (rpc_call_reserve()).
 *
 * Threading: build the registry (rpc_registry_new/add) before serving, then it is read-only and
 * rpc_handle()/rpc_handle_async() may run concurrently on any number of threads; handlers must
 * be thread-safe and must never block (they queue jobs and return, or defer).
 */
#ifndef FLASHD_RPC_H
#define FLASHD_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "errmap.h"
#include "util.h"

#define RPC_ERROR_MESSAGE_MAX 256

struct rpc_error {
	int code;                             /* 0 = not set */
	char message[RPC_ERROR_MESSAGE_MAX];  /* short sentence, NUL-terminated */
	json_t *data;                         /* optional structured detail, owned, may be NULL */
};

/*
 * A method handler. params is the request's "params" (object or array, borrowed) or NULL when
 * absent. On success return 0 and store a new reference in *ret_result (NULL means JSON null).
 * On failure return a negative errno; fill err for a precise message, otherwise the errno is
 * mapped through errmap (e.g. -EBUSY → -32007 "busy"). *ret_result is ignored on failure.
 */
typedef int (*rpc_handler_fn)(void *ctx, json_t *params, json_t **ret_result,
			      struct rpc_error *err);

/* One request of a body while it is being handled; borrowed by the handler for the call only. */
struct rpc_call;
/* A call whose answer is held (rpc_call_defer()); finished once with rpc_deferred_finish(). */
struct rpc_deferred;

/* What a call_fn returns (instead of 0 or -errno) after rpc_call_defer(). */
#define RPC_DEFERRED 1

/*
 * A handler that can hold its answer. Like rpc_handler_fn, plus: it may call
 * rpc_call_defer() (when rpc_call_can_defer()) and return RPC_DEFERRED, leaving *ret_result
 * and err untouched; the answer is then whatever rpc_deferred_finish() gives later.
 */
typedef int (*rpc_call_fn)(void *ctx, struct rpc_call *call, json_t *params, json_t **ret_result,
			   struct rpc_error *err);

struct rpc_method {
	const char *name;               /* "job.status"; "rpc." prefix is reserved */
	rpc_handler_fn fn;              /* exactly one of fn and call_fn */
	const char *summary;            /* one line for rpc.discover */
	/*
	 * JSON Schema (as JSON text) of the by-name params: {"type":"object","properties":{..},
	 * "required":[..]}; the property order of "x-order" (array of names) or else of
	 * "properties" is the by-position order. "additionalProperties": false makes unknown names
	 * an error. NULL = the registry leaves params to the handler (and rpc.discover lists none).
	 */
	const char *params_schema_json;
	const char *result_schema_json; /* JSON Schema of the result; NULL = anything */
	rpc_call_fn call_fn;
	/* errmap names ("ENODEV") the method can fail with, NULL-terminated; for rpc.discover. */
	const char *const *errors;
};

struct rpc_limits {
	size_t max_body_bytes;   /* default 1 MiB */
	size_t max_batch;        /* default 100 */
	unsigned max_depth;      /* default 32 ([ and { levels, the envelope counts) */
	unsigned max_wait_ms;    /* default 10000: the longest a request is held (deferred calls) */
	size_t max_inline_bytes; /* default 1 MiB: rpc_call_reserve() budget per request */
};

struct rpc_registry;

/*
 * New empty registry (rpc.discover is built in). limits may be NULL for defaults; zero fields
 * take defaults too. title/version name the API in rpc.discover (copied; NULL = defaults).
 * Returns 0 or -ENOMEM. Free with rpc_registry_free().
 */
int rpc_registry_new(const struct rpc_limits *limits, const char *title, const char *version,
		     struct rpc_registry **ret_reg);
void rpc_registry_free(struct rpc_registry *reg);

/*
 * Register a method. The struct is borrowed and must outlive the registry (use static const
 * tables). Schemas are parsed and checked here. Returns 0, -EEXIST (name taken), -EINVAL
 * (bad name, NULL fn, or a schema that is not a JSON object) or -ENOMEM.
 */
int rpc_registry_add(struct rpc_registry *reg, const struct rpc_method *method);
/* Register n methods; stops at and returns the first error. */
int rpc_registry_add_table(struct rpc_registry *reg, const struct rpc_method *methods, size_t n);
/*
 * A shared schema for rpc.discover's components.schemas (method schemas refer to it as
 * {"$ref":"#/components/schemas/NAME"}). Text is parsed here. 0, -EINVAL, -EEXIST, -ENOMEM.
 */
int rpc_registry_add_schema(struct rpc_registry *reg, const char *name, const char *schema_json);

const struct rpc_limits *rpc_registry_limits(const struct rpc_registry *reg);

/*
 * Handle one body. On return 0, *ret_response is the response (malloc'd, caller frees) or NULL
 * when no response must be sent (notifications only). Every protocol error becomes a response;
 * the only failure is -ENOMEM (nothing written).
 */
int rpc_handle(const struct rpc_registry *reg, const char *body, size_t len, void *ctx,
	       char **ret_response);

/*
 * The answer to a body handled with rpc_handle_async(): r is 0 or -ENOMEM; response is the
 * text (malloc'd, the callee frees) or NULL when there is none (notifications only, or r < 0).
 */
typedef void (*rpc_done_fn)(void *cls, int r, char *response);

/*
 * Like rpc_handle(), but handlers may hold their answers: done(cls, ...) runs exactly once,
 * either before this returns (nothing was held) or later on the thread finishing the last held
 * call. body is only read during this call. Returns 0 (done will run or has run) or -ENOMEM
 * (done never runs).
 */
int rpc_handle_async(const struct rpc_registry *reg, const char *body, size_t len, void *ctx,
		     rpc_done_fn done, void *cls);

/* ---- held answers (call_fn handlers) ------------------------------------------------------ */

/* False for notifications and under rpc_handle(): then the handler must answer at once. */
bool rpc_call_can_defer(const struct rpc_call *call);
/*
 * Hold this call's answer. 0 and *ret (the handler then returns RPC_DEFERRED), or -ENOTSUP
 * (cannot defer, see above) or -ENOMEM; on failure the handler answers at once.
 */
int rpc_call_defer(struct rpc_call *call, struct rpc_deferred **ret);
/* CLOCK_MONOTONIC ns by which a held call must be finished: arrival + limits.max_wait_ms. */
uint64_t rpc_call_deadline_ns(const struct rpc_call *call);
/*
 * Take n bytes of the request's inline budget (limits.max_inline_bytes, shared by a batch).
 * 0, or -EMSGSIZE with err set (-32012, data {errno, op, limit, detail} naming the limit).
 */
int rpc_call_reserve(struct rpc_call *call, size_t n, const char *op, struct rpc_error *err);
/*
 * Answer a held call, from any thread, exactly once: r, result and err mean what a handler's
 * return value and outputs mean (result is consumed; err is cleared; either may be NULL).
 */
void rpc_deferred_finish(struct rpc_deferred *d, int r, json_t *result, struct rpc_error *err);

/*
 * The OpenRPC 1.2.6 document describing every method, the params/result schemas and the errmap
 * table as x-errors. Returns a new reference or NULL on ENOMEM.
 */
json_t *rpc_registry_discover(const struct rpc_registry *reg);

/* ---- filling struct rpc_error ------------------------------------------------------------ */

/* Set code and message (truncated to fit); clears any previous data. */
void rpc_error_set(struct rpc_error *err, int code, const char *fmt, ...) PRINTF_FMT(3, 4);

/* Sentinel for rpc_error_from_errno(): the error has no address. */
#define RPC_NO_ADDR UINT64_MAX

/*
 * Fill err from a negative errno via errmap: code and message = errmap text, and data =
 * {"errno":"ETIMEDOUT","op":op,"addr":"0x01f000","detail":detail}. addr is a hex string with
 * at least 6 digits (8 when above 16 MiB): chip addresses are read by humans next to
 * datasheets, and hex strings avoid JavaScript's 53-bit number limit. op, detail may be NULL
 * and addr RPC_NO_ADDR to leave the member out. Returns r (negative) so a handler can write
 * `return rpc_error_from_errno(err, r, "erase", addr, NULL);`.
 */
int rpc_error_from_errno(struct rpc_error *err, int r, const char *op, uint64_t addr,
			 const char *detail);

/* Release err->data and zero err; accepts NULL. */
void rpc_error_clear(struct rpc_error *err);

/* ---- typed params ------------------------------------------------------------------------ */

/*
 * Each getter reads parameter `name` of an object params, or element `pos` of an array params
 * (pos < 0: the parameter cannot be given by position). Return 1 and write *ret_value when present,
 * 0 when absent and !required (*ret_value untouched), or -EINVAL with err set to -32602 and message
 * "Invalid params: <name> <what was wrong>" and data {"param":name}.
 *
 * A present JSON null counts as absent. Unsigned integers may also be given as "0x" hex strings
 * (up to 16 digits), the form addresses take in error data and datasheets.
 */
int rpc_param_u32(json_t *params, const char *name, int pos, bool required, uint32_t *ret_value,
		  struct rpc_error *err);
int rpc_param_u64(json_t *params, const char *name, int pos, bool required, uint64_t *ret_value,
		  struct rpc_error *err);
int rpc_param_bool(json_t *params, const char *name, int pos, bool required, bool *ret_value,
		   struct rpc_error *err);
/* *ret_value borrows from params; refused: longer than max_len bytes, or containing NUL. */
int rpc_param_string(json_t *params, const char *name, int pos, bool required, size_t max_len,
		     const char **ret_value, struct rpc_error *err);
/*
 * Standard base64 (RFC 4648, padding required, no whitespace) decoding to at most max_size
 * bytes. *ret_buf is malloc'd (caller frees; never NULL on success, even for 0 bytes). Returns
 * -ENOMEM without setting err when allocation fails.
 */
int rpc_param_bytes_b64(json_t *params, const char *name, int pos, bool required,
			size_t max_size, uint8_t **ret_buf, size_t *ret_len, struct rpc_error *err);

/*
 * Refuse params the method does not know: object members not in names[] or arrays longer than
 * n_names, naming them. NULL params pass. Returns 0 or -EINVAL with err set (-32602). Methods
 * with a params schema get this from the registry (additionalProperties false).
 */
int rpc_params_check(json_t *params, const char *const *names, size_t n_names,
		     struct rpc_error *err);

#endif
