/* SPDX-License-Identifier: MIT */
/*
 * rpc.c - the JSON-RPC 2.0 envelope: parse, validate, dispatch, batch, build responses.
 *
 * The body is parsed once by jansson (duplicate keys rejected; jansson's own depth cap of 2048
 * keeps its recursion bounded, our tighter max_depth is checked after parsing so that invalid
 * JSON is always -32700 first). A small lexer pass over the raw bytes measures the nesting
 * depth and remembers where each request's "id" value was written, so the id is echoed byte for
 * byte: jansson would turn 1.10 into 1.1000000000000001, cannot hold integers beyond 64 bits
 * at all, and re-escapes strings ("\u00e9" comes back as UTF-8).
 *
 * Responses are assembled as text around jansson dumps (compact, sorted keys), in sorted key
 * order too: {"error":..,"id":..,"jsonrpc":"2.0"} and {"id":..,"jsonrpc":"2.0","result":..}.
 *
 * Threading: the registry is immutable after setup; rpc_handle() keeps all state on its stack
 * and in its allocations, so it is re-entrant.
 */
#include "rpc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <nettle/base64.h>

#include "log.h"

#define RPC_DEFAULT_MAX_BODY (1024u * 1024u)
#define RPC_DEFAULT_MAX_BATCH 100u
#define RPC_DEFAULT_MAX_DEPTH 32u
#define RPC_MAX_METHODS 256u

struct reg_method {
	const struct rpc_method *m;
	json_t *params_schema; /* parsed, owned; NULL = no params */
	json_t *result_schema; /* parsed, owned; NULL = any */
};

struct rpc_registry {
	struct rpc_limits limits;
	char *title;
	char *version;
	struct reg_method *methods;
	size_t n_methods;
};

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
			if (req_level && i - start == 2 && memcmp(b + start, "id", 2) == 0) {
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
	reg->title = strdup(title ? title : "flashd");
	reg->version = strdup(version ? version : "0");
	reg->methods = calloc(RPC_MAX_METHODS, sizeof(*reg->methods));
	if (!reg->title || !reg->version || !reg->methods) {
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
	}
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

int rpc_registry_add(struct rpc_registry *reg, const struct rpc_method *method)
{
	json_t *ps = NULL, *rs = NULL;
	int r;

	if (!method || !method->name || !method->name[0] || !method->fn ||
	    strncmp(method->name, "rpc.", 4) == 0)
		return -EINVAL;
	if (registry_find(reg, method->name))
		return -EEXIST;
	if (reg->n_methods >= RPC_MAX_METHODS)
		return -ENOSPC;
	r = parse_schema(method->params_schema_json, &ps);
	if (r < 0)
		return r;
	r = parse_schema(method->result_schema_json, &rs);
	if (r < 0) {
		json_decref(ps);
		return r;
	}
	reg->methods[reg->n_methods++] = (struct reg_method){ .m = method, .params_schema = ps,
							      .result_schema = rs };
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

const struct rpc_limits *rpc_registry_limits(const struct rpc_registry *reg)
{
	return &reg->limits;
}

/* ---- rpc.discover -------------------------------------------------------------------------- */

/* The by-position order: "x-order" if given, else the order of "properties". */
static json_t *schema_to_params(const json_t *schema)
{
	json_t *list = json_array();
	json_t *props = json_object_get(schema, "properties");
	json_t *required = json_object_get(schema, "required");
	json_t *order = json_object_get(schema, "x-order");
	json_t *names = json_array();
	const char *key;
	json_t *val;
	size_t i;

	if (!list || !names)
		goto fail;
	if (json_is_array(order)) {
		json_array_foreach(order, i, val)
			json_array_append(names, val);
	} else if (json_is_object(props)) {
		json_object_foreach(props, key, val)
			json_array_append_new(names, json_string(key));
	}
	json_array_foreach(names, i, val) {
		const char *name = json_string_value(val);
		json_t *sub = json_object_get(props, name ? name : "");
		bool req = false;
		json_t *rv;
		size_t k;

		if (!name)
			continue;
		json_array_foreach(required, k, rv)
			if (json_is_string(rv) && strcmp(json_string_value(rv), name) == 0)
				req = true;
		json_array_append_new(list, json_pack("{s:s, s:o, s:b}", "name", name, "schema",
						      sub ? json_incref(sub) : json_object(),
						      "required", req));
	}
	json_decref(names);
	return list;
fail:
	json_decref(list);
	json_decref(names);
	return NULL;
}

static json_t *method_doc(const char *name, const char *summary, const json_t *ps,
			  const json_t *rs)
{
	json_t *m = json_pack("{s:s, s:s, s:s}", "name", name, "summary", summary ? summary : "",
			      "paramStructure", "either");

	if (!m)
		return NULL;
	json_object_set_new(m, "params", ps ? schema_to_params(ps) : json_array());
	json_object_set_new(m, "result",
			    json_pack("{s:s, s:o}", "name", "result", "schema",
				      rs ? json_incref((json_t *)rs) : json_object()));
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

	for (size_t i = 0; i < reg->n_methods; i++)
		json_array_append_new(methods, method_doc(reg->methods[i].m->name,
							  reg->methods[i].m->summary,
							  reg->methods[i].params_schema,
							  reg->methods[i].result_schema));
	json_t *meta = json_pack("{s:s}", "$ref",
				 "https://raw.githubusercontent.com/open-rpc/meta-schema/master/"
				 "schema.json");
	json_array_append_new(methods, method_doc("rpc.discover",
						  "This OpenRPC document describing the API.",
						  NULL, meta));
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
	json_object_set_new(doc, "components", json_pack("{s:o}", "errors", errors));
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

/* ---- dispatch ------------------------------------------------------------------------------ */

struct call_env {
	const struct rpc_registry *reg;
	const char *body;
	void *ctx;
};

/* Append the id exactly as the client wrote it (number or string), else as jansson dumps it. */
static void sb_add_id(struct sbuf *sb, const struct call_env *env, const json_t *id,
		      const struct id_span *span)
{
	if (!id) {
		sb_adds(sb, "null");
		return;
	}
	if ((json_is_number(id) || json_is_string(id)) && span && span->len)
		sb_add(sb, env->body + span->off, span->len);
	else
		sb_add_json(sb, id);
}

static void sb_add_error(struct sbuf *sb, const struct call_env *env, const json_t *id,
			 const struct id_span *span, int code, const char *message,
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
	sb_add_id(sb, env, id, span);
	sb_adds(sb, ",\"jsonrpc\":\"2.0\"}");
	json_decref(e);
}

static bool id_valid(const json_t *id)
{
	return json_is_string(id) || json_is_number(id) || json_is_null(id);
}

/*
 * Handle one request object and append its response (if any) to sb. Returns true when a
 * response was appended.
 */
static bool handle_one(const struct call_env *env, json_t *req, const struct id_span *span,
		       struct sbuf *sb)
{
	struct rpc_error err = { 0 };
	json_t *id, *method, *params, *version, *result = NULL;
	const struct reg_method *rm;
	const char *name;
	bool notification;
	int r;

	if (!json_is_object(req)) {
		sb_add_error(sb, env, NULL, NULL, RPC_CODE_INVALID_REQUEST, "Invalid Request",
			     NULL);
		return true;
	}
	id = json_object_get(req, "id");
	notification = !id;
	if (id && !id_valid(id)) {
		sb_add_error(sb, env, NULL, NULL, RPC_CODE_INVALID_REQUEST, "Invalid Request",
			     NULL);
		return true;
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
		sb_add_error(sb, env, id, span, RPC_CODE_INVALID_REQUEST, "Invalid Request", NULL);
		return true;
	}
	name = json_string_value(method);
	if (strlen(name) != json_string_length(method))
		rm = NULL; /* embedded NUL never names a method */
	else
		rm = registry_find(env->reg, name);

	if (rm) {
		r = rm->m->fn(env->ctx, params, &result, &err);
	} else if (strcmp(name, "rpc.discover") == 0) {
		r = discover_handler((void *)env->reg, params, &result, &err);
	} else {
		if (!notification)
			sb_add_error(sb, env, id, span, RPC_CODE_METHOD_NOT_FOUND,
				     "Method not found", NULL);
		return !notification;
	}

	if (r < 0) {
		json_decref(result);
		result = NULL;
		if (err.code == 0)
			rpc_error_from_errno(&err, r, NULL, RPC_NO_ADDR, NULL);
		if (err.code == RPC_CODE_INTERNAL_ERROR || err.code == ERRMAP_CODE_SYSTEM_ERROR)
			log_errno(LOG_LVL_ERR, r, "rpc: %s failed", name);
		if (!notification)
			sb_add_error(sb, env, id, span, err.code, err.message, err.data);
		rpc_error_clear(&err);
		return !notification;
	}
	rpc_error_clear(&err);
	if (!notification) {
		sb_adds(sb, "{\"id\":");
		sb_add_id(sb, env, id, span);
		sb_adds(sb, ",\"jsonrpc\":\"2.0\",\"result\":");
		if (result)
			sb_add_json(sb, result);
		else
			sb_adds(sb, "null");
		sb_adds(sb, "}");
	}
	json_decref(result);
	return !notification;
}

static int finish(struct sbuf *sb, char **ret_response)
{
	if (sb->oom) {
		free(sb->p);
		return -ENOMEM;
	}
	*ret_response = sb->p;
	return 0;
}

static int single_error(const struct call_env *env, int code, const char *message,
			json_t *data /* consumed */, char **ret_response)
{
	struct sbuf sb = { 0 };

	sb_add_error(&sb, env, NULL, NULL, code, message, data);
	json_decref(data);
	return finish(&sb, ret_response);
}

int rpc_handle(const struct rpc_registry *reg, const char *body, size_t len, void *ctx,
	       char **ret_response)
{
	const struct call_env env = { .reg = reg, .body = body, .ctx = ctx };
	struct scan sc = { 0 };
	struct sbuf sb = { 0 };
	json_error_t jerr;
	json_t *root;
	int r;

	if (len > reg->limits.max_body_bytes)
		return single_error(&env, errmap_rpc_code(EMSGSIZE), errmap_text(EMSGSIZE),
				    json_pack("{s:s, s:I}", "errno", "EMSGSIZE", "limit",
					      (json_int_t)reg->limits.max_body_bytes),
				    ret_response);

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root && json_error_code(&jerr) == json_error_numeric_overflow)
		/* Integers beyond 64 bits: keep them as reals so a huge id can still be echoed
		 * (from the raw text) and typed getters refuse such params. */
		root = json_loadb(body, len,
				  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY |
					  JSON_DECODE_INT_AS_REAL,
				  &jerr);
	if (!root)
		return single_error(&env, RPC_CODE_PARSE_ERROR, "Parse error", NULL, ret_response);

	sc.n_ids = json_is_array(root) ? MIN(json_array_size(root), reg->limits.max_batch) : 1;
	sc.ids = calloc(sc.n_ids ? sc.n_ids : 1, sizeof(*sc.ids));
	if (!sc.ids) {
		json_decref(root);
		return -ENOMEM;
	}
	scan_body(body, len, &sc);

	if (sc.max_depth_seen > reg->limits.max_depth) {
		r = single_error(&env, RPC_CODE_INVALID_REQUEST, "Invalid Request",
				 json_pack("{s:s, s:i}", "detail", "nesting too deep", "limit",
					   (int)reg->limits.max_depth),
				 ret_response);
		goto out;
	}

	if (!json_is_array(root)) {
		if (!handle_one(&env, root, &sc.ids[0], &sb)) {
			free(sb.p);
			if (sb.oom) {
				r = -ENOMEM;
				goto out;
			}
			*ret_response = NULL;
			r = 0;
			goto out;
		}
		r = finish(&sb, ret_response);
		goto out;
	}

	if (json_array_size(root) == 0) {
		r = single_error(&env, RPC_CODE_INVALID_REQUEST, "Invalid Request", NULL,
				 ret_response);
		goto out;
	}
	if (json_array_size(root) > reg->limits.max_batch) {
		r = single_error(&env, errmap_rpc_code(EMSGSIZE), errmap_text(EMSGSIZE),
				 json_pack("{s:s, s:s, s:I}", "errno", "EMSGSIZE", "detail",
					   "batch too long", "limit",
					   (json_int_t)reg->limits.max_batch),
				 ret_response);
		goto out;
	}

	size_t n_out = 0;
	sb_adds(&sb, "[");
	for (size_t i = 0; i < json_array_size(root); i++) {
		struct sbuf one = { 0 };

		if (handle_one(&env, json_array_get(root, i), &sc.ids[i], &one)) {
			if (n_out++)
				sb_adds(&sb, ",");
			sb_add(&sb, one.p ? one.p : "", one.len);
		}
		if (one.oom)
			sb.oom = true;
		free(one.p);
	}
	sb_adds(&sb, "]");
	if (n_out == 0 && !sb.oom) {
		/* All notifications: the specification says nothing is returned at all. */
		free(sb.p);
		*ret_response = NULL;
		r = 0;
		goto out;
	}
	r = finish(&sb, ret_response);
out:
	free(sc.ids);
	json_decref(root);
	return r;
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
				      "Invalid params: at most %zu positional parameters", n_names);
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
