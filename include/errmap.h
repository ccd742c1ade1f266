/* SPDX-License-Identifier: MIT */
/*
 * errmap.h - the one table that turns a negative errno into what a client sees.
 *
 * Every layer below the protocol speaks -errno (STYLE errno vocabulary). This table is the only
 * place that decides which JSON-RPC error code, which HTTP status and which short English text
 * a given errno becomes, so the JSON-RPC server, the REST routes and flashctl agree. Application
 * codes live in the JSON-RPC "server error" range -32000..-32099; EINVAL is the standard
 * -32602 (invalid params). Other errnos not in the table map to -32099 / 500 "system error"
 * (still an application code: the errno name travels in the error data); only 0, "no errno",
 * maps to the standard -32603 / 500 "internal error".
 *
 * The table is const data: every function here is thread-safe and never fails.
 */
#ifndef FLASHD_ERRMAP_H
#define FLASHD_ERRMAP_H

#include <stddef.h>

/* Standard JSON-RPC 2.0 codes (specification section 5.1). */
#define RPC_CODE_PARSE_ERROR -32700
#define RPC_CODE_INVALID_REQUEST -32600
#define RPC_CODE_METHOD_NOT_FOUND -32601
#define RPC_CODE_INVALID_PARAMS -32602
#define RPC_CODE_INTERNAL_ERROR -32603
/* Implementation-defined server errors. */
#define RPC_CODE_SERVER_MIN -32099
#define RPC_CODE_SERVER_MAX -32000
/* Any errno without a row of its own. */
#define ERRMAP_CODE_SYSTEM_ERROR -32099

struct errmap_entry {
	int err;              /* positive errno; 0 only in the fallback entry */
	const char *name;     /* "ETIMEDOUT" (the name we document, ENOTSUP not EOPNOTSUPP) */
	int rpc_code;         /* JSON-RPC error code */
	unsigned http_status; /* HTTP status for REST routes */
	const char *text;     /* short lower-case text, used as the JSON-RPC error message */
};

/*
 * Entry for err (positive or negative). Never NULL: errnos without a row return
 * {0, "E?", -32099, 500, "system error"}, and 0 returns {0, "E?", -32603, 500,
 * "internal error"}. Returned pointer is static.
 */
const struct errmap_entry *errmap_lookup(int err);

/* Shorthands for errmap_lookup(err)->field. */
int errmap_rpc_code(int err);
unsigned errmap_http_status(int err);
const char *errmap_text(int err);
const char *errmap_name(int err);

/*
 * Reverse map for clients (flashctl): the negative errno for a JSON-RPC code, or -EPROTO when
 * the code is not in the table. -32602 gives -EINVAL; -32603 and -32099 give -EPROTO.
 */
int errmap_from_rpc_code(int rpc_code);

/* Iterate the table (for rpc.discover and tests): count, then entries 0..count-1 (static). */
size_t errmap_count(void);
const struct errmap_entry *errmap_at(size_t i);

#endif
