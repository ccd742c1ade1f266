/* SPDX-License-Identifier: MIT */
/*
 * rpc.c - the JSON-RPC 2.0 envelope: parse, validate, dispatch, batch, build responses.
 *
 * The body is parsed once by jansson (duplicate keys rejected; jansson's own depth cap of 2048
 * keeps its recursion bounded, our tighter max_depth is checked after parsing so that invalid
 * JSON is always -32700 first). A small lexer pass over the raw bytes measures the nesting
 * depth and remembers where each request's "id" value was written, so the id is echoed byte for
 * byte: jansson would turn 1.10 into 1.1000000000000001, cannot hold integers beyond 64 bits
 * at all, and re-escapes strings ("\u00e9" comes back as UTF-8). Numbers even a double cannot
 * hold (1e400) are valid JSON that jansson refuses: they are blanked out of a copy of the body
 * as "[ ]" of the same length, so offsets stay true, ids stay echoable from the raw text and a
 * param holding one fails the typed getters like any other non-number.
 *
 * Responses are assembled as text around jansson dumps (compact, sorted keys), in sorted key
 * order too: {"error":..,"id":..,"jsonrpc":"2.0"} and {"id":..,"jsonrpc":"2.0","result":..}.
 *
 * Held answers: each body gets a struct rpc_req with one response slot per request and a
 * count of what is still outstanding: the synchronous pass over the body counts as one, every
 * deferred call as one more. Whoever drops the count to zero (the pass, or the thread
 * finishing the last deferred call) assembles the slots and calls done. Each slot is written
 * by exactly one party and read only after the count reached zero.
 *
 * Threading: the registry is immutable after setup; rpc_handle() keeps all state on its stack
 * and in its allocations, so it is re-entrant; rpc_deferred_finish() may run on any thread.
 */
#include "rpc.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <nettle/base64.h>

#include "log.h"

#define RPC_DEFAULT_MAX_BODY (1024u * 1024u)
#define RPC_DEFAULT_MAX_BATCH 100u
#define RPC_DEFAULT_MAX_DEPTH 32u
#define RPC_DEFAULT_MAX_WAIT_MS 10000u
#define RPC_DEFAULT_MAX_INLINE (1024u * 1024u)
#define RPC_MAX_METHODS 256u
#define RPC_MAX_SCHEMAS 32u

struct reg_method {
	const struct rpc_method *m;
	json_t *params_schema; /* parsed, owned; NULL = no params */
	json_t *result_schema; /* parsed, owned; NULL = any */
	/* by-position order (borrowed from params_schema) and whether other names are refused */
	const char **names;
	size_t n_names;
	bool strict;
};

struct rpc_registry {
	struct rpc_limits limits;
	char *title;
	char *version;
	struct reg_method *methods;
	size_t n_methods;
	json_t *schemas; /* components.schemas */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- small string builder ---------------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *sb, const char *s, size_t n)
{
	if (sb->oom)
		return;
	if (sb->len + n + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 256;
		char *np;

		while (cap < sb->len + n + 1)
			cap *= 2;
		np = realloc(sb->p, cap);
		if (!np) {
			sb->oom = true;
			return;
		}
		sb->p = np;
		sb->cap = cap;
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

static void sb_adds(struct sbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

static void sb_add_json(struct sbuf *sb, const json_t *j)
{
	char *s;

	if (sb->oom)
		return;
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!s) {
		sb->oom = true;
		return;
	}
	sb_adds(sb, s);
	free(s);
}

/* ---- raw scan: depth and id spellings ------------------------------------------------------ */

struct id_span {
	size_t off, len; /* len 0 = not recorded */
};

struct scan {
	unsigned max_depth_seen;
	struct id_span *ids; /* one per request: [0] for a single request, [i] per batch element */
	size_t n_ids;
};

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_num_char(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Does the raw member name b[0..n) (between its quotes) decode to "id"? Escapes count: a
 * client may write "\u0069d", and jansson (which decodes it) takes that as the id member.
 */
static bool key_is_id(const char *b, size_t n)
{
	char dec[3];
	size_t k = 0;

	if (!memchr(b, '\\', n))
		return n == 2 && b[0] == 'i' && b[1] == 'd';
	for (size_t i = 0; i < n; i++) {
		char c = b[i];

		if (k == sizeof(dec))
			return false;
		if (c == '\\' && i + 1 < n) {
			c = b[++i];
			if (c == 'u') {
				unsigned v = 0;

				if (i + 4 >= n)
					return false;
				for (int d = 1; d <= 4; d++) {
					int h = hex_digit(b[i + (size_t)d]);

					if (h < 0)
						return false;
					v = v << 4 | (unsigned)h;
				}
				if (v > 0x7f)
					return false;
				c = (char)v;
				i += 4;
			}
			/* the other escapes (\" \\ \/ \b ...) never spell a letter */
		}
		dec[k++] = c;
	}
	return k == 2 && dec[0] == 'i' && dec[1] == 'd';
}

/*
 * Only run on bodies jansson accepted, so the lexing can be simple; it still never reads out
 * of bounds on any input. Objects that are requests sit at depth 1 (single) or at depth 2
 * inside a top-level array (batch); their member "id" is recorded when it is a number or string
 * (which value it is, is checked against the parsed tree before the span is used).
 */
static void scan_body(const char *b, size_t len, struct scan *sc)
{
	unsigned depth = 0;
	char top = 0;        /* first container char of the body */
	size_t element = 0;  /* batch element index: commas seen at depth 1 of an array */

	for (size_t i = 0; i < len; i++) {
		char c = b[i];

		if (c == '"') {
			size_t start = ++i;

			while (i < len && b[i] != '"') {
				if (b[i] == '\\')
					i++;
				i++;
			}
			if (i >= len)
				return;
			/* A key "id" of a request object? Then look at the value after ':'. */
			bool req_level = (top == '{' && depth == 1) || (top == '[' && depth == 2);
			if (req_level && key_is_id(b + start, i - start)) {
				size_t j = i + 1;

				while (j < len && is_ws(b[j]))
					j++;
				if (j < len && b[j] == ':') {
					j++;
					while (j < len && is_ws(b[j]))
						j++;
					size_t vs = j;
					if (j < len && b[j] == '"') {
						for (j++; j < len && b[j] != '"'; j++)
							if (b[j] == '\\')
								j++;
						if (j < len)
							j++; /* the closing quote */
					} else {
						while (j < len && is_num_char(b[j]))
							j++;
					}
					size_t idx = top == '[' ? element : 0;
					if (j > vs && idx < sc->n_ids) {
						sc->ids[idx].off = vs;
						sc->ids[idx].len = j - vs;
					}
				}
			}
			continue;
		}
		switch (c) {
		case '[':
		case '{':
			if (depth == 0 && !top)
				top = c;
			depth++;
			if (depth > sc->max_depth_seen)
				sc->max_depth_seen = depth;
			break;
		case ']':
		case '}':
			if (depth)
				depth--;
			break;
		case ',':
			if (top == '[' && depth == 1)
				element++;
			break;
		default:
			break;
		}
	}
}

/*
 * A copy of body in which every number a double cannot hold is replaced by "[", spaces and
 * "]" of the same length. NULL when there is none (or on ENOMEM: the caller then reports the
 * parse error it already has).
 */
static char *blank_huge_numbers(const char *b, size_t len)
{
	char *copy = NULL;

	for (size_t i = 0; i < len; i++) {
		if (b[i] == '"') {
			for (i++; i < len && b[i] != '"'; i++)
				if (b[i] == '\\')
					i++;
			continue;
		}
		if (b[i] != '-' && (b[i] < '0' || b[i] > '9'))
			continue;
		size_t s = i;
		while (i < len && is_num_char(b[i]))
			i++;
		size_t n = i - s;
		char *tok = malloc(n + 1);
		bool huge;

		if (!tok) {
			free(copy);
			return NULL;
		}
		memcpy(tok, b + s, n);
		tok[n] = '\0';
		huge = n >= 2 && isinf(strtod(tok, NULL));
		free(tok);
		if (huge) {
			if (!copy) {
				copy = malloc(len ? len : 1);
				if (!copy)
					return NULL;
				memcpy(copy, b, len);
			}
			copy[s] = '[';
			memset(copy + s + 1, ' ', n - 2);
			copy[s + n - 1] = ']';
		}
		i--; /* the loop's i++ moves past the token */
	}
	return copy;
}

/* ---- errors -------------------------------------------------------------------------------- */

static void rpc_error_vset(struct rpc_error *err, int code, const char *fmt, va_list ap)
	PRINTF_FMT(3, 0);

static void rpc_error_vset(struct rpc_error *err, int code, const char *fmt, va_list ap)
{
	json_decref(err->data);
	err->data = NULL;
	err->code = code;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

void rpc_error_set(struct rpc_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rpc_error_vset(err, code, fmt, ap);
	va_end(ap);
}

void rpc_error_clear(struct rpc_error *err)
{
	if (!err)
		return;
	json_decref(err->data);
	memset(err, 0, sizeof(*err));
}

int rpc_error_from_errno(struct rpc_error *err, int r, const char *op, uint64_t addr,
			 const char *detail)
{
	const struct errmap_entry *e = errmap_lookup(r);
	json_t *data;

	if (r > 0)
		r = -r;
	rpc_error_set(err, e->rpc_code, "%s", e->text);
	data = json_object();
	if (!data)
		return r;
	/* For errnos outside the table the symbolic name still helps the reader of a log. */
	json_object_set_new(data, "errno",
			    json_string(e->err ? e->name : errno_name(r ? r : EIO)));
	if (op)
		json_object_set_new(data, "op", json_string(op));
	if (addr != RPC_NO_ADDR) {
		char hex[24];

		snprintf(hex, sizeof(hex), addr > 0xffffff ? "0x%08" PRIx64 : "0x%06" PRIx64, addr);
		json_object_set_new(data, "addr", json_string(hex));
	}
	if (detail)
		json_object_set_new(data, "detail", json_string(detail));
	err->data = data;
	return r;
}

/* ---- registry ------------------------------------------------------------------------------ */

int rpc_registry_new(const struct rpc_limits *limits, const char *title, const char *version,
		     struct rpc_registry **ret_reg)
{
	struct rpc_registry *reg = calloc(1, sizeof(*reg));

	if (!reg)
		return -ENOMEM;
	if (limits)
		reg->limits = *limits;
	if (!reg->limits.max_body_bytes)
		reg->limits.max_body_bytes = RPC_DEFAULT_MAX_BODY;
	if (!reg->limits.max_batch)
		reg->limits.max_batch = RPC_DEFAULT_MAX_BATCH;
	if (!reg->limits.max_depth)
		reg->limits.max_depth = RPC_DEFAULT_MAX_DEPTH;
	if (!reg->limits.max_wait_ms)
		reg->limits.max_wait_ms = RPC_DEFAULT_MAX_WAIT_MS;
	if (!reg->limits.max_inline_bytes)
		reg->limits.max_inline_bytes = RPC_DEFAULT_MAX_INLINE;
	reg->title = strdup(title ? title : "flashd");
	reg->version = strdup(version ? version : "0");
	reg->methods = calloc(RPC_MAX_METHODS, sizeof(*reg->methods));
	reg->schemas = json_object();
	if (!reg->title || !reg->version || !reg->methods || !reg->schemas) {
		rpc_registry_free(reg);
		return -ENOMEM;
	}
	*ret_reg = reg;
	return 0;
}

void rpc_registry_free(struct rpc_registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->n_methods; i++) {
		json_decref(reg->methods[i].params_schema);
		json_decref(reg->methods[i].result_schema);
		free(reg->methods[i].names);
	}
	json_decref(reg->schemas);
	free(reg->methods);
	free(reg->title);
	free(reg->version);
	free(reg);
}

static const struct reg_method *registry_find(const struct rpc_registry *reg, const char *name)
{
	for (size_t i = 0; i < reg->n_methods; i++)
		if (strcmp(reg->methods[i].m->name, name) == 0)
			return &reg->methods[i];
	return NULL;
}

static int parse_schema(const char *text, json_t **ret_schema)
{
	json_t *j;

	if (!text) {
		*ret_schema = NULL;
		return 0;
	}
	j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return -EINVAL;
	}
	*ret_schema = j;
	return 0;
}

/* The by-position order: "x-order" if given, else the order of "properties". */
static int schema_names(json_t *schema, struct reg_method *rm)
{
	json_t *order = json_object_get(schema, "x-order");
	json_t *props = json_object_get(schema, "properties");
	json_t *extra = json_object_get(schema, "additionalProperties");
	size_t n = json_is_array(order) ? json_array_size(order) : json_object_size(props);
	const char *key;
	json_t *val;
	size_t i = 0;

	if ((order && !json_is_array(order)) || (props && !json_is_object(props)))
		return -EINVAL;
	rm->names = calloc(n ? n : 1, sizeof(*rm->names));
	if (!rm->names)
		return -ENOMEM;
	if (json_is_array(order)) {
		json_array_foreach(order, i, val) {
			if (!json_is_string(val))
				return -EINVAL;
			rm->names[i] = json_string_value(val);
		}
	} else {
		json_object_foreach(props, key, val)
			rm->names[i++] = key;
	}
	rm->n_names = n;
	rm->strict = json_is_false(extra);
	return 0;
}

int rpc_registry_add(struct rpc_registry *reg, const struct rpc_method *method)
{
	struct reg_method rm = { .m = method };
	int r;

	if (!method || !method->name || !method->name[0] || !method->fn == !method->call_fn ||
	    strncmp(method->name, "rpc.", 4) == 0)
		return -EINVAL;
	if (registry_find(reg, method->name))
		return -EEXIST;
	if (reg->n_methods >= RPC_MAX_METHODS)
		return -ENOSPC;
	r = parse_schema(method->params_schema_json, &rm.params_schema);
	if (r >= 0)
		r = parse_schema(method->result_schema_json, &rm.result_schema);
	if (r >= 0 && rm.params_schema)
		r = schema_names(rm.params_schema, &rm);
	if (r < 0) {
		json_decref(rm.params_schema);
		json_decref(rm.result_schema);
		free(rm.names);
		return r;
	}
	reg->methods[reg->n_methods++] = rm;
	return 0;
}

int rpc_registry_add_table(struct rpc_registry *reg, const struct rpc_method *methods, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = rpc_registry_add(reg, &methods[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

int rpc_registry_add_schema(struct rpc_registry *reg, const char *name, const char *schema_json)
{
	json_t *s;
	int r;

	if (!name || !name[0])
		return -EINVAL;
	if (json_object_get(reg->schemas, name))
		return -EEXIST;
	if (json_object_size(reg->schemas) >= RPC_MAX_SCHEMAS)
		return -ENOSPC;
	r = parse_schema(schema_json, &s);
	if (r < 0 || !s)
		return r < 0 ? r : -EINVAL;
	return json_object_set_new(reg->schemas, name, s) < 0 ? -ENOMEM : 0;
}

const struct rpc_limits *rpc_registry_limits(const struct rpc_registry *reg)
{
	return &reg->limits;
}

/* ---- rpc.discover -------------------------------------------------------------------------- */

static json_t *schema_to_params(const struct reg_method *rm)
{
	const json_t *schema = rm->params_schema;
	json_t *list = json_array();
	json_t *props = json_object_get(schema, "properties");
	json_t *required = json_object_get(schema, "required");

	if (!list)
		return NULL;
	for (size_t i = 0; i < rm->n_names; i++) {
		const char *name = rm->names[i];
		json_t *sub = json_object_get(props, name);
		bool req = false;
		json_t *rv;
		size_t k;

		json_array_foreach(required, k, rv)
			if (json_is_string(rv) && strcmp(json_string_value(rv), name) == 0)
				req = true;
		json_array_append_new(list, json_pack("{s:s, s:o, s:b}", "name", name, "schema",
						      sub ? json_incref(sub) : json_object(),
						      "required", req));
	}
	return list;
}

/* errors: INVALID_PARAMS when the method takes params, then the method's own errnos. */
static json_t *method_errors(const char *const *names, bool takes_params)
{
	json_t *list = json_array();

	if (!list)
		return NULL;
	if (takes_params)
		json_array_append_new(list, json_pack("{s:s}", "$ref",
						      "#/components/errors/INVALID_PARAMS"));
	for (const char *const *n = names; n && *n; n++) {
		char ref[96];

		snprintf(ref, sizeof(ref), "#/components/errors/%s", *n);
		json_array_append_new(list, json_pack("{s:s}", "$ref", ref));
	}
	return list;
}

static json_t *method_doc(const char *name, const char *summary, const struct reg_method *rm,
			  const json_t *rs, const char *const *errors)
{
	json_t *m = json_pack("{s:s, s:s, s:s}", "name", name, "summary", summary ? summary : "",
			      "paramStructure", "either");

	if (!m)
		return NULL;
	json_object_set_new(m, "params",
			    rm && rm->params_schema ? schema_to_params(rm) : json_array());
	json_object_set_new(m, "result",
			    json_pack("{s:s, s:o}", "name", "result", "schema",
				      rs ? json_incref((json_t *)rs) : json_object()));
	json_object_set_new(m, "errors",
			    method_errors(errors, rm && rm->params_schema && rm->n_names));
	return m;
}

json_t *rpc_registry_discover(const struct rpc_registry *reg)
{
	json_t *doc, *methods, *errors, *table;

	doc = json_pack("{s:s, s:{s:s, s:s}}", "openrpc", "1.2.6", "info", "title", reg->title,
			"version", reg->version);
	methods = json_array();
	errors = json_object();
	table = json_array();
	if (!doc || !methods || !errors || !table)
		goto fail;

	for (size_t i = 0; i < reg->n_methods; i++) {
		const struct reg_method *rm = &reg->methods[i];

		json_array_append_new(methods, method_doc(rm->m->name, rm->m->summary, rm,
							  rm->result_schema, rm->m->errors));
	}
	json_t *meta = json_pack("{s:s}", "$ref",
				 "https://raw.githubusercontent.com/open-rpc/meta-schema/master/"
				 "schema.json");
	json_array_append_new(methods, method_doc("rpc.discover",
						  "This OpenRPC document describing the API.",
						  NULL, meta, NULL));
	json_decref(meta);

	static const struct {
		const char *name;
		int code;
		const char *message;
	} std[] = {
		{ "PARSE_ERROR", RPC_CODE_PARSE_ERROR, "Parse error" },
		{ "INVALID_REQUEST", RPC_CODE_INVALID_REQUEST, "Invalid Request" },
		{ "METHOD_NOT_FOUND", RPC_CODE_METHOD_NOT_FOUND, "Method not found" },
		{ "INVALID_PARAMS", RPC_CODE_INVALID_PARAMS, "Invalid params" },
		{ "INTERNAL_ERROR", RPC_CODE_INTERNAL_ERROR, "Internal error" },
		{ "SYSTEM_ERROR", ERRMAP_CODE_SYSTEM_ERROR, "system error" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(std); i++)
		json_object_set_new(errors, std[i].name,
				    json_pack("{s:i, s:s}", "code", std[i].code, "message",
					      std[i].message));
	for (size_t i = 0; i < errmap_count(); i++) {
		const struct errmap_entry *e = errmap_at(i);

		if (e->rpc_code != RPC_CODE_INVALID_PARAMS)
			json_object_set_new(errors, e->name,
					    json_pack("{s:i, s:s}", "code", e->rpc_code,
						      "message", e->text));
		json_array_append_new(table, json_pack("{s:s, s:i, s:i, s:s}", "errno", e->name,
						       "code", e->rpc_code, "http",
						       (int)e->http_status, "message", e->text));
	}
	json_object_set_new(doc, "methods", methods);
	json_object_set_new(doc, "components",
			    json_pack("{s:o, s:O}", "errors", errors, "schemas", reg->schemas));
	json_object_set_new(doc, "x-errmap", table);
	return doc;
fail:
	json_decref(doc);
	json_decref(methods);
	json_decref(errors);
	json_decref(table);
	return NULL;
}

static size_t json_size(const json_t *j)
{
	return json_is_array(j) ? json_array_size(j) : json_object_size(j);
}

static int discover_handler(void *ctx, json_t *params, json_t **ret_result, struct rpc_error *err)
{
	const struct rpc_registry *reg = ctx;
	json_t *doc;

	if (params && json_size(params) > 0) {
		rpc_error_set(err, RPC_CODE_INVALID_PARAMS,
			      "Invalid params: rpc.discover takes none");
		return -EINVAL;
	}
	doc = rpc_registry_discover(reg);
	if (!doc)
		return -ENOMEM;
	*ret_result = doc;
	return 0;
}

/* ---- params normalisation ------------------------------------------------------------------ */

/* ", " separated names of the method's params into buf ("offset, length, wait"). */
static void names_list(const struct reg_method *rm, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < rm->n_names && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", rm->names[i]);
}

/*
 * Params as the handler of a method with a params schema sees them: always an object (new
 * reference), positions mapped to names. -EINVAL with err set when a position or a name is
 * more than the method takes; -ENOMEM.
 */
static int normalise_params(const struct reg_method *rm, json_t *params, json_t **ret,
			    struct rpc_error *err)
{
	const char *name = rm->m->name;
	char list[160];
	json_t *obj;

	names_list(rm, list, sizeof(list));
	if (json_is_array(params)) {
		size_t n = json_array_size(params);

		if (n > rm->n_names) {
			if (rm->n_names == 0)
				rpc_error_set(err, RPC_CODE_INVALID_PARAMS,
					      "Invalid params: %s takes no parameters; got %zu by "
					      "position",
					      name, n);
			else
				rpc_error_set(err, RPC_CODE_INVALID_PARAMS,
					      "Invalid params: %s takes at most %zu parameters by "
					      "position (%s); got %zu",
					      name, rm->n_names, list, n);
			err->data = json_pack("{s:I}", "position", (json_int_t)rm->n_names);
			return -EINVAL;
		}
		obj = json_object();
		if (!obj)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++)
			if (json_object_set(obj, rm->names[i], json_array_get(params, i)) < 0) {
				json_decref(obj);
				return -ENOMEM;
			}
		*ret = obj;
		return 0;
	}
	if (!params) {
		obj = json_object();
		if (!obj)
			return -ENOMEM;
		*ret = obj;
		return 0;
	}
	if (rm->strict) {
		char unknown[160] = "";
		const char *key, *first = NULL;
		size_t o = 0, count = 0;
		json_t *val;

		json_object_foreach(params, key, val) {
			bool known = false;

			for (size_t i = 0; i < rm->n_names && !known; i++)
				known = strcmp(key, rm->names[i]) == 0;
			if (known)
				continue;
			if (!first)
				first = key;
			count++;
			if (o < sizeof(unknown))
				o += (size_t)snprintf(unknown + o, sizeof(unknown) - o,
						      "%s\"%.40s\"", count > 1 ? ", " : "", key);
		}
		if (first) {
			if (rm->n_names == 0)
				rpc_error_set(err, RPC_CODE_INVALID_PARAMS,
					      "Invalid params: unknown parameter%s %s; %s takes none",
					      count > 1 ? "s" : "", unknown, name);
			else
				rpc_error_set(err, RPC_CODE_INVALID_PARAMS,
					      "Invalid params: unknown parameter%s %s; %s takes %s",
					      count > 1 ? "s" : "", unknown, name, list);
			err->data = json_pack("{s:s}", "param", first);
			return -EINVAL;
		}
	}
	*ret = json_incref(params);
	return 0;
}

/* ---- requests and held answers ------------------------------------------------------------- */

struct rpc_req {
	atomic_uint outstanding; /* the synchronous pass + each held call */
	bool batch;
	bool can_defer;
	size_t n_slots;
	char **slots;            /* response text per request; NULL = none */
	atomic_bool oom;
	atomic_size_t inline_used;
	size_t inline_max;
	uint64_t deadline_ns;
	rpc_done_fn done;
	void *cls;
};

struct rpc_call {
	struct rpc_req *rq;
	size_t slot;
	const char *method;
	char *id_text; /* the id as it will be echoed */
	bool notification;
	bool deferred;
};

struct rpc_deferred {
	struct rpc_req *rq;
	size_t slot;
	char *id_text;
	char method[64];
};

static void req_free(struct rpc_req *rq)
{
	for (size_t i = 0; i < rq->n_slots; i++)
		free(rq->slots[i]);
	free(rq->slots);
	free(rq);
}

/* Drop one outstanding unit; the last one assembles the response and calls done. */
static void req_put(struct rpc_req *rq)
{
	struct sbuf sb = { 0 };
	size_t n_out = 0;
	char *out = NULL;

	if (atomic_fetch_sub(&rq->outstanding, 1) != 1)
		return;
	if (!rq->batch) {
		out = rq->slots[0];
		rq->slots[0] = NULL;
	} else {
		sb_adds(&sb, "[");
		for (size_t i = 0; i < rq->n_slots; i++) {
			if (!rq->slots[i])
				continue;
			if (n_out++)
				sb_adds(&sb, ",");
			sb_adds(&sb, rq->slots[i]);
		}
		sb_adds(&sb, "]");
		if (n_out && !sb.oom) {
			out = sb.p;
			sb.p = NULL;
		} else if (sb.oom) {
			atomic_store(&rq->oom, true);
		}
		/* all notifications: the specification says nothing is returned at all */
		free(sb.p);
	}
	if (atomic_load(&rq->oom)) {
		free(out);
		rq->done(rq->cls, -ENOMEM, NULL);
	} else {
		rq->done(rq->cls, 0, out);
	}
	req_free(rq);
}

static void add_error_obj(struct sbuf *sb, const char *id_text, int code, const char *message,
			  const json_t *data)
{
	json_t *e = json_pack("{s:i, s:s}", "code", code, "message", message);

	if (!e) {
		sb->oom = true;
		return;
	}
	if (data)
		json_object_set(e, "data", (json_t *)data);
	sb_adds(sb, "{\"error\":");
	sb_add_json(sb, e);
	sb_adds(sb, ",\"id\":");
	sb_adds(sb, id_text ? id_text : "null");
	sb_adds(sb, ",\"jsonrpc\":\"2.0\"}");
	json_decref(e);
}

static void add_result_obj(struct sbuf *sb, const char *id_text, const json_t *result)
{
	sb_adds(sb, "{\"id\":");
	sb_adds(sb, id_text ? id_text : "null");
	sb_adds(sb, ",\"jsonrpc\":\"2.0\",\"result\":");
	if (result)
		sb_add_json(sb, result);
	else
		sb_adds(sb, "null");
	sb_adds(sb, "}");
}

/*
 * The response object for an answered call (r, result, err as a handler leaves them), or NULL
 * with *oom set. Logs internal and system errors once.
 */
static char *answer_text(const char *method, const char *id_text, int r, const json_t *result,
			 struct rpc_error *err, bool *oom)
{
	struct sbuf sb = { 0 };

	if (r < 0) {
		if (err->code == 0)
			rpc_error_from_errno(err, r, NULL, RPC_NO_ADDR, NULL);
		if (err->code == RPC_CODE_INTERNAL_ERROR || err->code == ERRMAP_CODE_SYSTEM_ERROR)
			log_errno(LOG_LVL_ERR, r, "rpc: %s failed", method);
		add_error_obj(&sb, id_text, err->code, err->message, err->data);
	} else {
		add_result_obj(&sb, id_text, result);
	}
	if (sb.oom) {
		free(sb.p);
		*oom = true;
		return NULL;
	}
	return sb.p;
}

bool rpc_call_can_defer(const struct rpc_call *call)
{
	return call && call->rq->can_defer && !call->notification;
}

int rpc_call_defer(struct rpc_call *call, struct rpc_deferred **ret)
{
	struct rpc_deferred *d;

	if (!rpc_call_can_defer(call) || call->deferred)
		return -ENOTSUP;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->rq = call->rq;
	d->slot = call->slot;
	d->id_text = call->id_text;
	call->id_text = NULL;
	snprintf(d->method, sizeof(d->method), "%s", call->method);
	atomic_fetch_add(&call->rq->outstanding, 1);
	call->deferred = true;
	*ret = d;
	return 0;
}

uint64_t rpc_call_deadline_ns(const struct rpc_call *call)
{
	return call->rq->deadline_ns;
}

int rpc_call_reserve(struct rpc_call *call, size_t n, const char *op, struct rpc_error *err)
{
	struct rpc_req *rq = call->rq;
	size_t used = atomic_load(&rq->inline_used);
	char detail[256];

	do {
		if (n > rq->inline_max - used) {
			if (used)
				snprintf(detail, sizeof(detail),
					 "%zu bytes inline would bring this request to %zu; one "
					 "response carries at most %zu bytes of flash data (earlier "
					 "calls in the batch took %zu); split the batch or use GET "
					 "/api/v1/flash",
					 n, used + n, rq->inline_max, used);
			else
				snprintf(detail, sizeof(detail),
					 "%zu bytes inline is more than the %zu bytes of flash data "
					 "one response carries; use GET /api/v1/flash",
					 n, rq->inline_max);
			rpc_error_from_errno(err, -EMSGSIZE, op, RPC_NO_ADDR, detail);
			if (err->data)
				json_object_set_new(err->data, "limit",
						    json_integer((json_int_t)rq->inline_max));
			return -EMSGSIZE;
		}
	} while (!atomic_compare_exchange_weak(&rq->inline_used, &used, used + n));
	return 0;
}

void rpc_deferred_finish(struct rpc_deferred *d, int r, json_t *result, struct rpc_error *err)
{
	struct rpc_error none = { 0 };
	struct rpc_req *rq = d->rq;
	bool oom = false;

	if (!err)
		err = &none;
	rq->slots[d->slot] = answer_text(d->method, d->id_text, r, result, err, &oom);
	if (oom)
		atomic_store(&rq->oom, true);
	json_decref(result);
	rpc_error_clear(err);
	free(d->id_text);
	free(d);
	req_put(rq);
}

/* ---- dispatch ------------------------------------------------------------------------------ */

struct call_env {
	const struct rpc_registry *reg;
	const char *body; /* as received: ids are echoed from here */
	void *ctx;
	struct rpc_req *rq;
};

static bool span_is_number(const struct call_env *env, const struct id_span *span)
{
	char c;

	if (!span || !span->len)
		return false;
	c = env->body[span->off];
	return c == '-' || (c >= '0' && c <= '9');
}

/* The id as it will be echoed: as the client wrote it when we know where, else dumped. */
static char *id_text_of(const struct call_env *env, const json_t *id, const struct id_span *span)
{
	if (!id)
		return strdup("null");
	if ((json_is_number(id) || json_is_string(id) || json_is_array(id)) && span && span->len) {
		/* not strndup: the body is not NUL-terminated */
		char *t = malloc(span->len + 1);

		if (t) {
			memcpy(t, env->body + span->off, span->len);
			t[span->len] = '\0';
		}
		return t;
	}
	return json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
}

/*
 * A valid id: string, number or null. A number no double holds was blanked to "[ ]" before
 * parsing (blank_huge_numbers); the raw text says it was a number.
 */
static bool id_valid(const struct call_env *env, const json_t *id, const struct id_span *span)
{
	return json_is_string(id) || json_is_number(id) || json_is_null(id) ||
	       (json_is_array(id) && span_is_number(env, span));
}

static void set_slot(struct rpc_req *rq, size_t slot, char *text)
{
	rq->slots[slot] = text;
}

static void slot_error(const struct call_env *env, size_t slot, const char *id_text, int code,
		       const char *message)
{
	struct sbuf sb = { 0 };

	add_error_obj(&sb, id_text, code, message, NULL);
	if (sb.oom) {
		free(sb.p);
		atomic_store(&env->rq->oom, true);
		return;
	}
	set_slot(env->rq, slot, sb.p);
}

/* Handle one request object; its answer (if any, and unless held) goes to rq->slots[slot]. */
static void handle_one(const struct call_env *env, size_t slot, json_t *req,
		       const struct id_span *span)
{
	struct rpc_error err = { 0 };
	struct rpc_call call = { .rq = env->rq, .slot = slot };
	json_t *id, *method, *params, *version, *result = NULL, *norm = NULL;
	const struct reg_method *rm;
	const char *name;
	bool oom = false;
	int r;

	if (!json_is_object(req)) {
		slot_error(env, slot, NULL, RPC_CODE_INVALID_REQUEST, "Invalid Request");
		return;
	}
	id = json_object_get(req, "id");
	call.notification = !id;
	if (id && !id_valid(env, id, span)) {
		slot_error(env, slot, NULL, RPC_CODE_INVALID_REQUEST, "Invalid Request");
		return;
	}
	call.id_text = id_text_of(env, id, span);
	if (!call.id_text) {
		atomic_store(&env->rq->oom, true);
		return;
	}
	version = json_object_get(req, "jsonrpc");
	method = json_object_get(req, "method");
	params = json_object_get(req, "params");
	/*
	 * An invalid request is answered even without an id (specification examples: the
	 * server cannot know the client meant a notification). A valid id is echoed.
	 */
	if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0 ||
	    json_string_length(version) != 3 || !json_is_string(method) ||
	    (params && !json_is_object(params) && !json_is_array(params))) {
		slot_error(env, slot, call.id_text, RPC_CODE_INVALID_REQUEST, "Invalid Request");
		goto out;
	}
	name = json_string_value(method);
	call.method = name;
	if (strlen(name) != json_string_length(method))
		rm = NULL; /* embedded NUL never names a method */
	else
		rm = registry_find(env->reg, name);

	if (rm) {
		r = 0;
		if (rm->params_schema)
			r = normalise_params(rm, params, &norm, &err);
		if (r >= 0 && rm->m->call_fn)
			r = rm->m->call_fn(env->ctx, &call, norm ? norm : params, &result, &err);
		else if (r >= 0)
			r = rm->m->fn(env->ctx, norm ? norm : params, &result, &err);
	} else if (strcmp(name, "rpc.discover") == 0) {
		r = discover_handler((void *)env->reg, params, &result, &err);
	} else {
		if (!call.notification)
			slot_error(env, slot, call.id_text, RPC_CODE_METHOD_NOT_FOUND,
				   "Method not found");
		goto out;
	}
	json_decref(norm);
	if (call.deferred) {
		json_decref(result);
		rpc_error_clear(&err);
		return; /* the slot is filled by rpc_deferred_finish() */
	}
	if (r > 0)
		r = 0;
	if (!call.notification || r < 0) {
		char *text = answer_text(name, call.id_text, r, result, &err, &oom);

		if (oom)
			atomic_store(&env->rq->oom, true);
		if (call.notification)
			free(text);
		else
			set_slot(env->rq, slot, text);
	}
	json_decref(result);
	rpc_error_clear(&err);
out:
	free(call.id_text);
}

static int single_error(struct rpc_req *rq, int code, const char *message,
			json_t *data /* consumed */)
{
	struct sbuf sb = { 0 };

	add_error_obj(&sb, NULL, code, message, data);
	json_decref(data);
	if (sb.oom) {
		free(sb.p);
		atomic_store(&rq->oom, true);
		return -ENOMEM;
	}
	rq->slots[0] = sb.p;
	return 0;
}

static int handle(const struct rpc_registry *reg, const char *body, size_t len, void *ctx,
		  bool can_defer, rpc_done_fn done, void *cls)
{
	struct rpc_req *rq = calloc(1, sizeof(*rq));
	struct call_env env = { .reg = reg, .body = body, .ctx = ctx, .rq = rq };
	struct scan sc = { 0 };
	json_error_t jerr;
	json_t *root = NULL;
	char *blanked = NULL;

	if (!rq)
		return -ENOMEM;
	atomic_init(&rq->outstanding, 1);
	atomic_init(&rq->oom, false);
	atomic_init(&rq->inline_used, 0);
	rq->can_defer = can_defer;
	rq->inline_max = reg->limits.max_inline_bytes;
	rq->deadline_ns = mono_ns() + (uint64_t)reg->limits.max_wait_ms * 1000000u;
	rq->done = done;
	rq->cls = cls;
	rq->n_slots = 1;
	rq->slots = calloc(1, sizeof(*rq->slots));
	if (!rq->slots) {
		free(rq);
		return -ENOMEM;
	}

	if (len > reg->limits.max_body_bytes) {
		single_error(rq, errmap_rpc_code(EMSGSIZE), errmap_text(EMSGSIZE),
			     json_pack("{s:s, s:I}", "errno", "EMSGSIZE", "limit",
				       (json_int_t)reg->limits.max_body_bytes));
		goto out;
	}

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root && json_error_code(&jerr) == json_error_numeric_overflow)
		/* Integers beyond 64 bits: keep them as reals so a huge id can still be echoed
		 * (from the raw text) and typed getters refuse such params. */
		root = json_loadb(body, len,
				  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY |
					  JSON_DECODE_INT_AS_REAL,
				  &jerr);
	if (!root && json_error_code(&jerr) == json_error_numeric_overflow) {
		/* Beyond even a double (1e400): valid JSON all the same. */
		blanked = blank_huge_numbers(body, len);
		if (blanked)
			root = json_loadb(blanked, len,
					  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY |
						  JSON_DECODE_INT_AS_REAL,
					  &jerr);
	}
	if (!root) {
		single_error(rq, RPC_CODE_PARSE_ERROR, "Parse error", NULL);
		goto out;
	}

	sc.n_ids = json_is_array(root) ? MIN(json_array_size(root), reg->limits.max_batch) : 1;
	sc.ids = calloc(sc.n_ids ? sc.n_ids : 1, sizeof(*sc.ids));
	if (!sc.ids) {
		atomic_store(&rq->oom, true);
		goto out;
	}
	scan_body(body, len, &sc);

	if (sc.max_depth_seen > reg->limits.max_depth) {
		single_error(rq, RPC_CODE_INVALID_REQUEST, "Invalid Request",
			     json_pack("{s:s, s:i}", "detail", "nesting too deep", "limit",
				       (int)reg->limits.max_depth));
		goto out;
	}
	if (!json_is_array(root)) {
		handle_one(&env, 0, root, &sc.ids[0]);
		goto out;
	}
	if (json_array_size(root) == 0) {
		single_error(rq, RPC_CODE_INVALID_REQUEST, "Invalid Request", NULL);
		goto out;
	}
	if (json_array_size(root) > reg->limits.max_batch) {
		single_error(rq, errmap_rpc_code(EMSGSIZE), errmap_text(EMSGSIZE),
			     json_pack("{s:s, s:s, s:I}", "errno", "EMSGSIZE", "detail",
				       "batch too long", "limit", (json_int_t)reg->limits.max_batch));
		goto out;
	}
	{
		char **slots = calloc(json_array_size(root), sizeof(*slots));

		if (!slots) {
			atomic_store(&rq->oom, true);
			goto out;
		}
		free(rq->slots);
		rq->slots = slots;
		rq->n_slots = json_array_size(root);
		rq->batch = true;
	}
	for (size_t i = 0; i < json_array_size(root); i++)
		handle_one(&env, i, json_array_get(root, i), &sc.ids[i]);
out:
	free(sc.ids);
	free(blanked);
	json_decref(root);
	req_put(rq);
	return 0;
}

int rpc_handle_async(const struct rpc_registry *reg, const char *body, size_t len, void *ctx,
		     rpc_done_fn done, void *cls)
{
	return handle(reg, body, len, ctx, true, done, cls);
}

struct sync_answer {
	int r;
	char *response;
};

static void sync_done(void *cls, int r, char *response)
{
	struct sync_answer *a = cls;

	a->r = r;
	a->response = response;
}

int rpc_handle(const struct rpc_registry *reg, const char *body, size_t len, void *ctx,
	       char **ret_response)
{
	struct sync_answer a = { .r = -ENOMEM };
	int r = handle(reg, body, len, ctx, false, sync_done, &a);

	/* Nothing can be held here, so done has run before handle() returned. */
	if (r < 0 || a.r < 0) {
		free(a.response);
		return -ENOMEM;
	}
	*ret_response = a.response;
	return 0;
}

/* ---- typed params -------------------------------------------------------------------------- */

static int param_fail(struct rpc_error *err, const char *name, const char *fmt, ...)
	PRINTF_FMT(3, 4);

static int param_fail(struct rpc_error *err, const char *name, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	rpc_error_set(err, RPC_CODE_INVALID_PARAMS, "Invalid params: \"%s\" %s", name, what);
	err->data = json_pack("{s:s}", "param", name);
	return -EINVAL;
}

/* Find a param: 1 + *ret_value when present (non-null), 0 when absent, -EINVAL when required. */
static int param_get(json_t *params, const char *name, int pos, bool required, json_t **ret_value,
		     struct rpc_error *err)
{
	json_t *v = NULL;

	if (json_is_object(params))
		v = json_object_get(params, name);
	else if (json_is_array(params) && pos >= 0)
		v = json_array_get(params, (size_t)pos);
	if (!v || json_is_null(v)) {
		if (required)
			return param_fail(err, name, "is required");
		return 0;
	}
	*ret_value = v;
	return 1;
}

/* Integer or "0x" hex string (addresses are hex in datasheets and in our error data). */
static int param_uint(json_t *params, const char *name, int pos, bool required, uint64_t max,
		      uint64_t *ret_value, struct rpc_error *err)
{
	json_t *v = NULL;
	uint64_t u = 0;
	int r;

	r = param_get(params, name, pos, required, &v, err);
	if (r <= 0)
		return r;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0 || (uint64_t)i > max)
			goto bad;
		u = (uint64_t)i;
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);

		if (n < 3 || n > 18 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
			goto bad;
		for (size_t i = 2; i < n; i++) {
			char c = s[i];
			unsigned d;

			if (c >= '0' && c <= '9')
				d = (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				d = (unsigned)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				d = (unsigned)(c - 'A' + 10);
			else
				goto bad;
			u = (u << 4) | d;
		}
		if (u > max)
			goto bad;
	} else {
		goto bad;
	}
	*ret_value = u;
	return 1;
bad:
	return param_fail(err, name, "must be an integer in 0..%" PRIu64 " or a \"0x\" hex string",
			  max);
}

int rpc_param_u32(json_t *params, const char *name, int pos, bool required, uint32_t *ret_value,
		  struct rpc_error *err)
{
	uint64_t u = 0;
	int r = param_uint(params, name, pos, required, UINT32_MAX, &u, err);

	if (r > 0)
		*ret_value = (uint32_t)u;
	return r;
}

int rpc_param_u64(json_t *params, const char *name, int pos, bool required, uint64_t *ret_value,
		  struct rpc_error *err)
{
	/* json_int_t is signed 64-bit; "0x" strings reach the full range. */
	uint64_t u = 0;
	int r = param_uint(params, name, pos, required, UINT64_MAX, &u, err);

	if (r > 0)
		*ret_value = u;
	return r;
}

int rpc_param_bool(json_t *params, const char *name, int pos, bool required, bool *ret_value,
		   struct rpc_error *err)
{
	json_t *v = NULL;
	int r = param_get(params, name, pos, required, &v, err);

	if (r <= 0)
		return r;
	if (!json_is_boolean(v))
		return param_fail(err, name, "must be true or false");
	*ret_value = json_is_true(v);
	return 1;
}

int rpc_param_string(json_t *params, const char *name, int pos, bool required, size_t max_len,
		     const char **ret_value, struct rpc_error *err)
{
	json_t *v = NULL;
	int r = param_get(params, name, pos, required, &v, err);

	if (r <= 0)
		return r;
	if (!json_is_string(v) || json_string_length(v) > max_len ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return param_fail(err, name, "must be a string of at most %zu bytes", max_len);
	*ret_value = json_string_value(v);
	return 1;
}

static bool b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int rpc_param_bytes_b64(json_t *params, const char *name, int pos, bool required,
			size_t max_size, uint8_t **ret_buf, size_t *ret_len, struct rpc_error *err)
{
	struct base64_decode_ctx dctx;
	const char *s;
	size_t n, pad = 0, out_len, done = 0;
	uint8_t *buf;
	json_t *v = NULL;
	int r;

	r = param_get(params, name, pos, required, &v, err);
	if (r <= 0)
		return r;
	if (!json_is_string(v))
		return param_fail(err, name, "must be a base64 string");
	s = json_string_value(v);
	n = json_string_length(v);
	/* nettle skips whitespace and tolerates missing padding; the wire format is strict. */
	if (n % 4)
		return param_fail(err, name, "must be a base64 string");
	if (n && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++)
		if (!b64_char(s[i]))
			return param_fail(err, name, "must be a base64 string");
	out_len = n / 4 * 3 - pad;
	if (out_len > max_size)
		return param_fail(err, name, "must decode to at most %zu bytes", max_size);
	buf = malloc(out_len ? out_len : 1);
	if (!buf)
		return -ENOMEM;
	base64_decode_init(&dctx);
	if (!base64_decode_update(&dctx, &done, buf, n, s) || !base64_decode_final(&dctx) ||
	    done != out_len) {
		free(buf);
		return param_fail(err, name, "must be a base64 string");
	}
	*ret_buf = buf;
	*ret_len = out_len;
	return 1;
}

int rpc_params_check(json_t *params, const char *const *names, size_t n_names,
		     struct rpc_error *err)
{
	const char *key;
	json_t *val;

	if (json_is_array(params)) {
		if (json_array_size(params) > n_names) {
			rpc_error_set(err, RPC_CODE_INVALID_PARAMS,
				      "Invalid params: at most %zu positional parameters; got %zu",
				      n_names, json_array_size(params));
			err->data = json_pack("{s:I}", "position", (json_int_t)n_names);
			return -EINVAL;
		}
		return 0;
	}
	json_object_foreach(params, key, val) {
		bool known = false;

		for (size_t i = 0; i < n_names && !known; i++)
			known = strcmp(key, names[i]) == 0;
		if (!known) {
			rpc_error_set(err, RPC_CODE_INVALID_PARAMS,
				      "Invalid params: unknown parameter \"%.64s\"", key);
			err->data = json_pack("{s:s}", "param", key);
			return -EINVAL;
		}
	}
	return 0;
}
