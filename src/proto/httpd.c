/* SPDX-License-Identifier: MIT */
/*
 * httpd.c - libmicrohttpd glue: listeners, the per-request state machine, security checks,
 * POST /rpc, the login route, the route table and static files.
 *
 * One MHD daemon per listen address, each with its own small polling thread pool; all share
 * the route table, token, sessions and Host list, which are read-only once started.
 *
 * Request state machine (struct httpd_req), driven by MHD's access callback:
 *   first call   → security checks, dispatch (route/rpc/login/static); may respond at once
 *   upload calls → body to the route (may pause = suspend) or into the bounded rpc buffer
 *   final call   → on_end / rpc_handle / static file; if nothing was queued, suspend until
 *                  httpd_req_respond() from any thread stores a response and resumes us
 *   completed    → on_close, drop MHD's reference
 * MHD only lets a response be queued from its own callback, so httpd_req_respond() from
 * another thread stores it in req->pending and resumes the connection; the access callback
 * then queues it. req->lock orders that hand-over against suspend (a response stored just
 * before we would suspend is queued instead). Suspended connections do not time out in MHD, so
 * httpd_free() resumes every one of them with a 503 before stopping the daemons.
 */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "errmap.h"
#include "httpd_sec.h"
#include "log.h"
#include "rpc.h"
#include "util.h"

#define HTTPD_MAX_ROUTES 64
#define HTTPD_MAX_PARAMS 8
#define HTTPD_MAX_EXTRA_HEADERS 4
#define HTTPD_LOGIN_PATH "/api/v1/login"
#define HTTPD_LOGIN_MAX_BODY 1024
#define HTTPD_COOKIE "flashd_session"
#define HTTPD_TLS_FILE_MAX (64 * 1024)
#define HTTPD_STOP_ROUNDS 40 /* x 25 ms: how long httpd_free() lets pending answers go out */
#define HTTPD_STOP_ROUND_US 25000

static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
			  "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
			  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct listener {
	struct httpd *h;
	struct MHD_Daemon *d;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint16_t port;
};

struct httpd {
	char *www_dir;
	int www_fd;
	int www_err; /* why www_fd is -1 (a positive errno), 0 when no www dir is set */
	char *token_file;
	bool need_token;
	bool have_token;
	char token[HTTPD_TOKEN_HEX_LEN + 1];
	char *tls_cert, *tls_key; /* PEM contents */
	unsigned threads, max_connections, max_per_ip, timeout_s;
	size_t max_header_bytes;
	struct httpd_stream_limits stream;
	struct rpc_registry *rpc;
	void *rpc_ctx;
	size_t max_rpc_body;

	struct listener ls[HTTPD_MAX_LISTEN];
	size_t n_ls;
	const struct httpd_route *routes[HTTPD_MAX_ROUTES];
	size_t n_routes;
	struct httpd_sessions sessions;
	struct httpd_hosts hosts;

	pthread_mutex_t lock; /* guards reqs list */
	struct httpd_req *reqs;
	atomic_bool stopping;
	bool started;
};

enum req_kind {
	REQ_NONE,
	REQ_ROUTE,
	REQ_RPC,
	REQ_LOGIN,
	REQ_STATIC,
};

struct httpd_req {
	struct httpd *h;
	struct MHD_Connection *conn;
	atomic_int refs;
	pthread_mutex_t lock;
	enum req_kind kind;
	const struct httpd_route *route;
	char *path;
	char method[16];
	int64_t content_length;
	struct {
		const char *name; /* into the route pattern, not NUL-terminated */
		size_t name_len;
		char *value;
	} params[HTTPD_MAX_PARAMS];
	size_t n_params;
	void *data;
	char *headers[HTTPD_MAX_EXTRA_HEADERS][2]; /* httpd_req_set_header() */
	size_t n_headers;

	char *body; /* rpc/login body, at most body_max bytes */
	size_t body_len, body_max;
	bool discard;     /* an error response is pending: drop the rest of the upload */
	size_t discarded;

	/* under lock */
	bool suspended, resume_pending, queued, completed, ended;
	struct MHD_Response *pending;
	unsigned pending_status;

	struct httpd_req *prev, *next; /* h->reqs, under h->lock */
};

/* ---- small helpers ------------------------------------------------------------------------- */

static bool is_api_path(const char *path)
{
	return strcmp(path, "/rpc") == 0 || strncmp(path, "/api/", 5) == 0 ||
	       strcmp(path, "/api") == 0;
}

static void add_security_headers(struct MHD_Response *resp, bool api)
{
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Content-Security-Policy", csp);
	MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
	if (api && !MHD_get_response_header(resp, "Cache-Control"))
		MHD_add_response_header(resp, "Cache-Control", "no-store");
}

static struct MHD_Response *response_text(const char *text, const char *type)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);

	if (r)
		MHD_add_response_header(r, "Content-Type", type);
	return r;
}

static struct MHD_Response *response_json(json_t *j /* consumed */)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	struct MHD_Response *r = NULL;

	json_decref(j);
	if (!s)
		return NULL;
	r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(s);
		return NULL;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	return r;
}

/*
 * Every REST error has one shape, {"error":{"code":C,"errno":"E..","message":M,"detail":D}}:
 * code and errno from the errmap row of r, message its text unless the status needs its own
 * word (405, 411, 415, 421), detail what exactly was wrong. Outside the API the same as one
 * line of text, "404 not found: detail".
 */
static struct MHD_Response *response_error(bool api, unsigned status, int r, const char *message,
					   const char *detail)
{
	const struct errmap_entry *e = errmap_lookup(r);

	if (!message)
		message = e->text;
	if (!detail)
		detail = message;
	if (api) {
		json_t *j = json_pack("{s:{s:i, s:s, s:s, s:s}}", "error", "code", e->rpc_code,
				      "errno", e->err ? e->name : errno_name(r), "message", message,
				      "detail", detail);

		return response_json(j);
	}
	char buf[320];

	snprintf(buf, sizeof(buf), "%u %s: %s\n", status, message, detail);
	return response_text(buf, "text/plain; charset=utf-8");
}

/* ---- request lifetime ---------------------------------------------------------------------- */

struct httpd_req *httpd_req_ref(struct httpd_req *req)
{
	atomic_fetch_add(&req->refs, 1);
	return req;
}

void httpd_req_unref(struct httpd_req *req)
{
	if (!req || atomic_fetch_sub(&req->refs, 1) != 1)
		return;
	if (req->pending)
		MHD_destroy_response(req->pending);
	for (size_t i = 0; i < req->n_params; i++)
		free(req->params[i].value);
	for (size_t i = 0; i < req->n_headers; i++) {
		free(req->headers[i][0]);
		free(req->headers[i][1]);
	}
	pthread_mutex_destroy(&req->lock);
	free(req->body);
	free(req->path);
	free(req);
}

static struct httpd_req *req_new(struct httpd *h, struct MHD_Connection *conn, const char *url,
				 const char *method)
{
	struct httpd_req *req = calloc(1, sizeof(*req));
	const char *cl;

	if (!req)
		return NULL;
	req->path = strdup(url);
	if (!req->path) {
		free(req);
		return NULL;
	}
	atomic_init(&req->refs, 1);
	pthread_mutex_init(&req->lock, NULL);
	req->h = h;
	req->conn = conn;
	snprintf(req->method, sizeof(req->method), "%s", method);
	req->content_length = -1;
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && *cl && strspn(cl, "0123456789") == strlen(cl) && strlen(cl) < 19)
		req->content_length = strtoll(cl, NULL, 10);

	pthread_mutex_lock(&h->lock);
	req->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = req;
	h->reqs = req;
	pthread_mutex_unlock(&h->lock);
	return req;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct httpd *h = cls;
	struct httpd_req *req = *con_cls;
	struct MHD_Response *unsent;

	(void)conn;
	(void)toe;
	if (!req)
		return;
	*con_cls = NULL;
	pthread_mutex_lock(&req->lock);
	req->completed = true;
	unsent = req->pending;
	req->pending = NULL;
	pthread_mutex_unlock(&req->lock);
	/*
	 * Outside req->lock: destroying a stream response runs its free_cls, which may take a
	 * route's own lock, while the route's threads take req->lock (httpd_req_resume) under it.
	 */
	if (unsent)
		MHD_destroy_response(unsent);
	if (req->kind == REQ_ROUTE && req->route->on_close)
		req->route->on_close(req, req->route->userdata);

	pthread_mutex_lock(&h->lock);
	if (req->prev)
		req->prev->next = req->next;
	else
		h->reqs = req->next;
	if (req->next)
		req->next->prev = req->prev;
	pthread_mutex_unlock(&h->lock);
	httpd_req_unref(req);
}

/* MHD thread only: queue resp now (consumes it). */
static enum MHD_Result queue_now(struct httpd_req *req, unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	add_security_headers(resp, is_api_path(req->path));
	for (size_t i = 0; i < req->n_headers; i++)
		MHD_add_response_header(resp, req->headers[i][0], req->headers[i][1]);
	ret = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	req->queued = true;
	return ret;
}

/* "GET /api/v1/x failed: EINVAL", for errors whose route gave no detail of its own. */
static const char *default_detail(const struct httpd_req *req, int r, char *buf, size_t size)
{
	snprintf(buf, size, "%s %.200s failed: %s", req->method, req->path,
		 errmap_lookup(r)->err ? errmap_name(r) : errno_name(r));
	return buf;
}

static enum MHD_Result queue_error(struct httpd_req *req, unsigned status, int r,
				   const char *message, const char *detail)
{
	return queue_now(req, status,
			 response_error(is_api_path(req->path), status, r, message, detail));
}

static enum MHD_Result queue_errno(struct httpd_req *req, int r, const char *detail)
{
	char buf[256];

	if (!detail)
		detail = default_detail(req, r, buf, sizeof(buf));
	return queue_error(req, errmap_http_status(r), r, NULL, detail);
}

/* Take a response stored by httpd_req_respond(); MHD thread. Caller holds req->lock. */
static struct MHD_Response *take_pending_locked(struct httpd_req *req, unsigned *ret_status)
{
	struct MHD_Response *resp = req->pending;

	req->pending = NULL;
	*ret_status = req->pending_status;
	return resp;
}

/*
 * After a callback: queue a stored response, or (when wait) suspend until one arrives or
 * httpd_req_resume() is called. A resume that came in early is honoured by a suspend+resume
 * pair, which makes MHD process the connection again without busy-looping on us.
 */
static enum MHD_Result settle(struct httpd_req *req, bool wait)
{
	struct MHD_Response *resp;
	unsigned status;

	pthread_mutex_lock(&req->lock);
	if (req->pending) {
		resp = take_pending_locked(req, &status);
		req->resume_pending = false;
		pthread_mutex_unlock(&req->lock);
		return queue_now(req, status, resp);
	}
	if (wait && atomic_load(&req->h->stopping)) {
		pthread_mutex_unlock(&req->lock);
		return queue_errno(req, -ESHUTDOWN, "the daemon is stopping");
	}
	if (wait) {
		MHD_suspend_connection(req->conn);
		if (req->resume_pending) {
			req->resume_pending = false;
			MHD_resume_connection(req->conn);
		} else {
			req->suspended = true;
		}
	}
	pthread_mutex_unlock(&req->lock);
	return MHD_YES;
}

int httpd_req_respond(struct httpd_req *req, unsigned status, struct MHD_Response *resp)
{
	int r = 0;

	if (!resp)
		return -ENOMEM;
	pthread_mutex_lock(&req->lock);
	if (req->completed)
		r = -ECONNRESET;
	else if (req->queued || req->pending)
		r = -EALREADY;
	if (r < 0) {
		pthread_mutex_unlock(&req->lock);
		MHD_destroy_response(resp);
		return r;
	}
	req->pending = resp;
	req->pending_status = status;
	if (req->suspended) {
		req->suspended = false;
		MHD_resume_connection(req->conn);
	} else {
		req->resume_pending = true;
	}
	pthread_mutex_unlock(&req->lock);
	return 0;
}

int httpd_req_respond_json(struct httpd_req *req, unsigned status, json_t *json)
{
	return httpd_req_respond(req, status, response_json(json));
}

int httpd_req_respond_errno(struct httpd_req *req, int r, const char *detail)
{
	return httpd_req_respond_error(req, errmap_http_status(r), r, NULL, detail);
}

int httpd_req_respond_error(struct httpd_req *req, unsigned status, int r, const char *message,
			    const char *detail)
{
	char buf[256];

	if (!detail)
		detail = default_detail(req, r, buf, sizeof(buf));
	return httpd_req_respond(req, status, response_error(true, status, r, message, detail));
}

void httpd_req_resume(struct httpd_req *req)
{
	pthread_mutex_lock(&req->lock);
	if (!req->completed) {
		if (req->suspended) {
			req->suspended = false;
			MHD_resume_connection(req->conn);
		} else {
			req->resume_pending = true;
		}
	}
	pthread_mutex_unlock(&req->lock);
}

/* ---- streaming responses ------------------------------------------------------------------- */

struct stream {
	struct httpd_req *req;
	httpd_stream_fn fn;
	void *cls;
	void (*free_cls)(void *cls);
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	struct httpd_req *req = s->req;
	ssize_t n;

	if (atomic_load(&req->h->stopping))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	n = s->fn(s->cls, pos, buf, max);
	if (n > 0)
		return n;
	if (n == HTTPD_STREAM_END)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	/* No data yet: park the connection (returning 0 alone would make MHD spin). */
	pthread_mutex_lock(&req->lock);
	MHD_suspend_connection(req->conn);
	if (req->resume_pending) {
		req->resume_pending = false;
		MHD_resume_connection(req->conn);
	} else {
		req->suspended = true;
	}
	pthread_mutex_unlock(&req->lock);
	return 0;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	if (s->free_cls)
		s->free_cls(s->cls);
	httpd_req_unref(s->req);
	free(s);
}

int httpd_req_respond_stream(struct httpd_req *req, unsigned status, const char *content_type,
			     uint64_t size, httpd_stream_fn fn, void *cls,
			     void (*free_cls)(void *cls))
{
	struct MHD_Response *resp;
	struct stream *s = calloc(1, sizeof(*s));

	if (!s) {
		if (free_cls)
			free_cls(cls);
		return -ENOMEM;
	}
	*s = (struct stream){ .req = httpd_req_ref(req), .fn = fn, .cls = cls,
			      .free_cls = free_cls };
	resp = MHD_create_response_from_callback(size == HTTPD_SIZE_UNKNOWN ? MHD_SIZE_UNKNOWN
									    : size,
						 16 * 1024, stream_read, s, stream_free);
	if (!resp) {
		stream_free(s);
		return -ENOMEM;
	}
	if (content_type)
		MHD_add_response_header(resp, "Content-Type", content_type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	return httpd_req_respond(req, status, resp);
}

/* ---- accessors ----------------------------------------------------------------------------- */

const char *httpd_req_method(const struct httpd_req *req)
{
	return req->method;
}

const char *httpd_req_path(const struct httpd_req *req)
{
	return req->path;
}

const char *httpd_req_param(const struct httpd_req *req, const char *name)
{
	for (size_t i = 0; i < req->n_params; i++)
		if (strlen(name) == req->params[i].name_len &&
		    memcmp(name, req->params[i].name, req->params[i].name_len) == 0)
			return req->params[i].value;
	return NULL;
}

const char *httpd_req_header(const struct httpd_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *httpd_req_query(const struct httpd_req *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

int64_t httpd_req_content_length(const struct httpd_req *req)
{
	return req->content_length;
}

struct MHD_Connection *httpd_req_connection(const struct httpd_req *req)
{
	return req->conn;
}

int httpd_req_set_header(struct httpd_req *req, const char *name, const char *value)
{
	char *n, *v;

	if (req->n_headers >= HTTPD_MAX_EXTRA_HEADERS)
		return -ENOSPC;
	n = strdup(name);
	v = strdup(value);
	if (!n || !v) {
		free(n);
		free(v);
		return -ENOMEM;
	}
	req->headers[req->n_headers][0] = n;
	req->headers[req->n_headers][1] = v;
	req->n_headers++;
	return 0;
}

void httpd_req_set_data(struct httpd_req *req, void *data)
{
	req->data = data;
}

void *httpd_req_get_data(const struct httpd_req *req)
{
	return req->data;
}

/* ---- routing ------------------------------------------------------------------------------- */

/* Match pattern against path; on success fill req params (when req != NULL). */
static bool route_match(const char *pattern, const char *path, struct httpd_req *req)
{
	const char *p = pattern, *u = path;
	size_t n = 0;

	while (*p && *u) {
		if (*p == '{') {
			const char *pe = strchr(p, '}');
			size_t vl = strcspn(u, "/");

			if (!pe || vl == 0 || n >= HTTPD_MAX_PARAMS)
				return false;
			if (req) {
				req->params[n].name = p + 1;
				req->params[n].name_len = (size_t)(pe - p - 1);
				req->params[n].value = strndup(u, vl);
				if (!req->params[n].value)
					return false;
				req->n_params = n + 1;
			}
			n++;
			p = pe + 1;
			u += vl;
			continue;
		}
		if (*p != *u)
			return false;
		p++;
		u++;
	}
	return *p == '\0' && *u == '\0';
}

static bool method_matches(const char *route_method, const char *method)
{
	return strcmp(route_method, method) == 0 ||
	       (strcmp(route_method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

/*
 * The Allow header for a path some route matches: the methods of every route on it, GET with
 * HEAD, in a fixed order.
 */
static const char *route_methods(const struct httpd *h, const char *path, char *buf, size_t size)
{
	static const char *const order[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" };
	size_t o = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < ARRAY_SIZE(order); k++) {
		bool has = false;

		for (size_t i = 0; i < h->n_routes && !has; i++)
			has = route_match(h->routes[i]->path, path, NULL) &&
			      method_matches(h->routes[i]->method, order[k]);
		if (has && o < size)
			o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? ", " : "", order[k]);
	}
	return buf;
}

int httpd_add_route(struct httpd *h, const struct httpd_route *route)
{
	if (h->started)
		return -EBUSY;
	if (!route || !route->method || !route->path || route->path[0] != '/' || !route->on_end)
		return -EINVAL;
	if (h->n_routes >= HTTPD_MAX_ROUTES)
		return -ENOSPC;
	h->routes[h->n_routes++] = route;
	return 0;
}

/* ---- checks -------------------------------------------------------------------------------- */

static bool is_state_changing(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	       strcmp(method, "OPTIONS") != 0;
}

static bool origin_ok(struct httpd_req *req, bool tls)
{
	const char *origin = httpd_req_header(req, "Origin");
	const char *host = httpd_req_header(req, MHD_HTTP_HEADER_HOST);
	const char *site = httpd_req_header(req, "Sec-Fetch-Site");
	const char *scheme = tls ? "https://" : "http://";
	size_t sl = strlen(scheme);

	if (site && strcasecmp(site, "same-origin") != 0 && strcasecmp(site, "none") != 0)
		return false;
	if (!origin)
		return true; /* not a browser, or a same-origin GET-like request */
	if (!host || strncasecmp(origin, scheme, sl) != 0)
		return false;
	return strcasecmp(origin + sl, host) == 0;
}

static bool authorized(struct httpd_req *req)
{
	struct httpd *h = req->h;
	const char *auth, *cookie;

	if (!h->need_token)
		return true;
	auth = httpd_req_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
		const char *t = auth + 7;
		size_t len;

		while (*t == ' ')
			t++;
		len = strlen(t);
		while (len && t[len - 1] == ' ')
			len--;
		if (httpd_sec_token_equal(h->token, t, len))
			return true;
	}
	cookie = MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, HTTPD_COOKIE);
	return cookie && httpd_sessions_valid(&h->sessions, cookie);
}

static bool content_type_is(struct httpd_req *req, const char *type)
{
	const char *ct = httpd_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t tl = strlen(type);

	return ct && strncasecmp(ct, type, tl) == 0 &&
	       (ct[tl] == '\0' || ct[tl] == ';' || ct[tl] == ' ');
}

static const char login_page[] =
	"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	"<title>flashd: log in</title></head><body>"
	"<form method=\"post\" action=\"" HTTPD_LOGIN_PATH "\">"
	"<label>Access token <input name=\"token\" type=\"password\" "
	"autocomplete=\"current-password\" required></label> <button>Log in</button>"
	"</form></body></html>\n";

static enum MHD_Result queue_unauthorized(struct httpd_req *req)
{
	const char *accept = httpd_req_header(req, MHD_HTTP_HEADER_ACCEPT);
	struct MHD_Response *resp;

	if (!is_api_path(req->path) && accept && strstr(accept, "text/html"))
		resp = response_text(login_page, "text/html; charset=utf-8");
	else
		resp = response_error(true, 401, -EACCES, NULL,
				      "send Authorization: Bearer <token> or log in at "
				      HTTPD_LOGIN_PATH);
	if (resp) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"flashd\"");
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	}
	return queue_now(req, 401, resp);
}

static enum MHD_Result queue_method_not_allowed(struct httpd_req *req, const char *allow)
{
	char detail[192];
	struct MHD_Response *resp;

	snprintf(detail, sizeof(detail), "%.120s takes %s", req->path, allow);
	resp = response_error(is_api_path(req->path), 405, -ENOTSUP, "method not allowed", detail);
	if (resp)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	return queue_now(req, 405, resp);
}

/* ---- static files -------------------------------------------------------------------------- */

/*
 * Every file is served "no-cache" with an ETag: browsers keep it but revalidate (a 304 costs a
 * round trip, no body). The UI's files have fixed names (app.js, not app.3f2a.js), so any
 * max-age would run a new index.html against an old app.js after an upgrade.
 */
static const struct {
	const char *ext;
	const char *type;
} mime_types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "ico", "image/x-icon" },
	{ "json", "application/json" },
	{ "wasm", "application/wasm" },
	{ "txt", "text/plain; charset=utf-8" },
};

static int open_beneath(int dirfd, const char *rel)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

	if (fd >= 0 || errno != ENOSYS)
		return (int)fd;
	/* Kernels before 5.6: no symlinks at all in the last component. */
	return openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

static enum MHD_Result serve_static(struct httpd_req *req)
{
	struct httpd *h = req->h;
	const char *path = req->path, *ext, *type = "application/octet-stream";
	const char *inm;
	char rel[1024], etag[64], lastmod[64];
	char detail[320];
	struct MHD_Response *resp;
	struct stat st;
	struct tm tm;
	size_t len;
	int fd;

	if (h->www_fd < 0) {
		snprintf(detail, sizeof(detail),
			 "the web UI is not installed here (www dir \"%.160s\": %s); the API "
			 "answers at /rpc and /api/v1",
			 h->www_dir ? h->www_dir : "", h->www_dir ? errno_name(h->www_err) : "none set");
		return queue_errno(req, -ENOENT, detail);
	}
	static const char bad_path[] = "a path may not hold \".\" or \"..\" segments, \"//\", "
				       "backslashes or NUL";
	if (path[0] != '/' || strchr(path, '\\') || strstr(path, "%00"))
		return queue_error(req, 400, -EINVAL, "bad path", bad_path);
	snprintf(detail, sizeof(detail), "no file %.200s in the web UI", path);
	/* Every segment: no "." or "..", no hidden files. */
	for (const char *seg = path + 1; *seg;) {
		size_t sl = strcspn(seg, "/");

		if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
			return queue_error(req, 400, -EINVAL, "bad path", bad_path);
		if (sl > 0 && seg[0] == '.')
			return queue_errno(req, -ENOENT, detail);
		if (sl == 0 && seg[0] == '/')
			return queue_error(req, 400, -EINVAL, "bad path", bad_path);
		seg += sl;
		if (*seg == '/')
			seg++;
	}
	len = strlen(path + 1);
	if (len + sizeof("index.html") >= sizeof(rel))
		return queue_errno(req, -ENOENT, detail);
	memcpy(rel, path + 1, len + 1);
	if (len == 0 || rel[len - 1] == '/')
		strcat(rel, "index.html");

	fd = open_beneath(h->www_fd, rel);
	if (fd < 0) {
		if (errno == EACCES)
			return queue_errno(req, -EPERM, "the file is not readable by flashd");
		return queue_errno(req, -ENOENT, detail);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return queue_errno(req, -ENOENT, detail);
	}
	ext = strrchr(rel, '.');
	if (ext && !strchr(ext, '/'))
		for (size_t i = 0; i < ARRAY_SIZE(mime_types); i++)
			if (strcasecmp(ext + 1, mime_types[i].ext) == 0)
				type = mime_types[i].type;
	snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
		 (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
			 (unsigned long long)st.st_mtim.tv_nsec);
	gmtime_r(&st.st_mtim.tv_sec, &tm);
	strftime(lastmod, sizeof(lastmod), "%a, %d %b %Y %H:%M:%S GMT", &tm);

	inm = httpd_req_header(req, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (inm && (strstr(inm, etag) || strcmp(inm, "*") == 0)) {
		close(fd);
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
		return queue_now(req, MHD_HTTP_NOT_MODIFIED, resp);
	}
	resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, lastmod);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	return queue_now(req, MHD_HTTP_OK, resp);
}

/* ---- built-in endpoints -------------------------------------------------------------------- */

/* The JSON-RPC answer, on whichever thread finished the request (rpc_handle_async()). */
static void rpc_done(void *cls, int r, char *out)
{
	struct httpd_req *req = cls;
	struct MHD_Response *resp;

	if (r < 0) {
		(void)httpd_req_respond_errno(req, r, NULL);
	} else if (!out) {
		(void)httpd_req_respond(req, MHD_HTTP_NO_CONTENT,
					MHD_create_response_from_buffer(0, NULL,
									MHD_RESPMEM_PERSISTENT));
	} else {
		resp = MHD_create_response_from_buffer(strlen(out), out, MHD_RESPMEM_MUST_FREE);
		if (!resp) {
			free(out);
			(void)httpd_req_respond_errno(req, -ENOMEM, NULL);
		} else {
			MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
						"application/json");
			(void)httpd_req_respond(req, MHD_HTTP_OK, resp);
		}
	}
	httpd_req_unref(req);
}

/*
 * Calls that wait for a job are held by the methods, not by this thread: the request stays
 * suspended (settle) until rpc_done() stores the answer, which is often right away.
 */
static enum MHD_Result serve_rpc(struct httpd_req *req)
{
	int r;

	httpd_req_ref(req);
	r = rpc_handle_async(req->h->rpc, req->body ? req->body : "", req->body_len,
			     req->h->rpc_ctx, rpc_done, req);
	if (r < 0) {
		httpd_req_unref(req);
		return queue_errno(req, r, NULL);
	}
	/* the body is no longer needed while the answer is pending */
	free(req->body);
	req->body = NULL;
	req->body_len = 0;
	return settle(req, true);
}

static enum MHD_Result serve_login(struct httpd_req *req)
{
	struct httpd *h = req->h;
	char given[HTTPD_TOKEN_HEX_LEN + 8] = "";
	char sid[HTTPD_TOKEN_HEX_LEN + 1], cookie[192];
	bool form = content_type_is(req, "application/x-www-form-urlencoded");
	struct MHD_Response *resp;
	size_t glen = 0;

	if (!h->have_token)
		return queue_errno(req, -ENOTSUP, "no token configured");
	if (form) {
		/* token=<hex>: hex needs no percent-decoding; anything else simply fails. */
		const char *b = req->body ? req->body : "";
		const char *t = strstr(b, "token=");

		if (t && (t == b || t[-1] == '&')) {
			t += 6;
			glen = strcspn(t, "&");
			if (glen < sizeof(given))
				memcpy(given, t, glen);
			else
				glen = 0;
		}
	} else {
		json_t *j = json_loadb(req->body ? req->body : "", req->body_len,
				       JSON_REJECT_DUPLICATES, NULL);
		const char *t = json_string_value(json_object_get(j, "token"));

		if (t && strlen(t) < sizeof(given)) {
			glen = strlen(t);
			memcpy(given, t, glen);
		}
		json_decref(j);
	}
	if (!httpd_sec_token_equal(h->token, given, glen)) {
		explicit_bzero(given, sizeof(given));
		log_notice("http: login with a wrong token");
		resp = response_error(true, 401, -EACCES, NULL, "wrong token");
		if (resp)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
						"Bearer realm=\"flashd\"");
		return queue_now(req, 401, resp);
	}
	explicit_bzero(given, sizeof(given));
	if (httpd_sessions_add(&h->sessions, sid) < 0)
		return queue_errno(req, -ENOMEM, NULL);
	snprintf(cookie, sizeof(cookie), HTTPD_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; "
		 "Max-Age=%d%s", sid, HTTPD_SEC_SESSION_TTL_S, h->tls_cert ? "; Secure" : "");
	resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, cookie);
	if (form) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, "/");
		return queue_now(req, MHD_HTTP_SEE_OTHER, resp);
	}
	return queue_now(req, MHD_HTTP_NO_CONTENT, resp);
}

/* ---- the access callback ------------------------------------------------------------------- */

static enum MHD_Result begin(struct httpd_req *req)
{
	struct httpd *h = req->h;
	const char *method = req->method, *path = req->path;
	bool path_known = false;

	char allow[64], detail[160];

	if (atomic_load(&h->stopping))
		return queue_errno(req, -ESHUTDOWN, "the daemon is stopping");
	if (!httpd_hosts_allowed(&h->hosts, httpd_req_header(req, MHD_HTTP_HEADER_HOST)))
		return queue_error(req, MHD_HTTP_MISDIRECTED_REQUEST, -EPERM,
				   "misdirected request",
				   "Host does not name this server ([http] allowed-hosts adds names)");
	if (httpd_req_query(req, "token") || httpd_req_query(req, "access_token"))
		return queue_error(req, 400, -EINVAL, "bad request",
				   "credentials do not belong in URLs");
	if (is_state_changing(method) && !origin_ok(req, h->tls_cert != NULL))
		return queue_errno(req, -EPERM, "cross-origin request");
	/*
	 * Reads start jobs too (GET /api/v1/flash holds the chip for seconds): a page on another
	 * site must not be able to make a browser fetch the API, even without reading the answer.
	 */
	if (is_api_path(path) && !origin_ok(req, h->tls_cert != NULL))
		return queue_errno(req, -EPERM, "cross-site request");

	if (strcmp(path, HTTPD_LOGIN_PATH) == 0) {
		if (strcmp(method, "POST") != 0)
			return queue_method_not_allowed(req, "POST");
		if (!content_type_is(req, "application/json") &&
		    !content_type_is(req, "application/x-www-form-urlencoded"))
			return queue_error(req, 415, -ENOTSUP, "unsupported media type",
					   "use application/json");
		if (req->content_length > HTTPD_LOGIN_MAX_BODY)
			return queue_errno(req, -EMSGSIZE, "a login body is at most 1024 bytes");
		req->kind = REQ_LOGIN;
		req->body_max = HTTPD_LOGIN_MAX_BODY;
		return MHD_YES;
	}
	if (!authorized(req))
		return queue_unauthorized(req);

	for (size_t i = 0; i < h->n_routes; i++) {
		const struct httpd_route *rt = h->routes[i];

		if (!route_match(rt->path, path, NULL))
			continue;
		path_known = true;
		if (!method_matches(rt->method, method))
			continue;
		req->kind = REQ_ROUTE;
		req->route = rt;
		if (!route_match(rt->path, path, req))
			return queue_errno(req, -ENOMEM, NULL);
		if (!rt->on_body && req->content_length > 0)
			return queue_errno(req, -EMSGSIZE, "this route takes no body");
		/* The three types a cross-site <form> can POST without a CORS preflight. */
		if (strcmp(method, "POST") == 0 &&
		    (content_type_is(req, "text/plain") ||
		     content_type_is(req, "application/x-www-form-urlencoded") ||
		     content_type_is(req, "multipart/form-data")))
			return queue_error(req, 415, -ENOTSUP, "unsupported media type",
					   "form content types are not accepted");
		if (rt->on_headers) {
			int r = rt->on_headers(req, rt->userdata);

			if (r < 0) {
				enum MHD_Result ret = settle(req, false);

				return req->queued ? ret : queue_errno(req, r, NULL);
			}
		}
		return settle(req, false);
	}
	if (path_known)
		return queue_method_not_allowed(req, route_methods(h, path, allow, sizeof(allow)));

	if (strcmp(path, "/rpc") == 0 && h->rpc) {
		if (strcmp(method, "POST") != 0)
			return queue_method_not_allowed(req, "POST");
		if (!content_type_is(req, "application/json"))
			return queue_error(req, 415, -ENOTSUP, "unsupported media type",
					   "POST /rpc needs Content-Type: application/json");
		snprintf(detail, sizeof(detail), "the body is larger than the %zu-byte limit",
			 h->max_rpc_body);
		if (req->content_length >= 0 && (uint64_t)req->content_length > h->max_rpc_body)
			return queue_errno(req, -EMSGSIZE, detail);
		req->kind = REQ_RPC;
		req->body_max = h->max_rpc_body;
		return MHD_YES;
	}
	if (is_api_path(path)) {
		snprintf(detail, sizeof(detail), "no API route %.120s", path);
		return queue_errno(req, -ENOENT, detail);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return queue_method_not_allowed(req, "GET, HEAD");
	req->kind = REQ_STATIC;
	return MHD_YES;
}

/*
 * MHD accepts a response only right after the headers or once the whole request is in, so an
 * error found while the body streams in is stored (like a response from another thread) and
 * the rest of the body is read and dropped, up to HTTPD_DISCARD_MAX bytes before we hang up.
 */
#define HTTPD_DISCARD_MAX (16u * 1024 * 1024)

static void defer_errno(struct httpd_req *req, int r, const char *detail)
{
	unsigned status = errmap_http_status(r);
	char buf[256];
	struct MHD_Response *resp = response_error(
		is_api_path(req->path), status, r, NULL,
		detail ? detail : default_detail(req, r, buf, sizeof(buf)));

	req->discard = true;
	pthread_mutex_lock(&req->lock);
	if (!req->pending && resp) {
		req->pending = resp;
		req->pending_status = status;
		resp = NULL;
	}
	pthread_mutex_unlock(&req->lock);
	if (resp)
		MHD_destroy_response(resp);
}

/* The route took less than offered: suspend until httpd_req_resume() (see settle()). */
static void pause_upload(struct httpd_req *req)
{
	pthread_mutex_lock(&req->lock);
	if (req->pending) {
		req->discard = true;
	} else if (atomic_load(&req->h->stopping)) {
		pthread_mutex_unlock(&req->lock);
		defer_errno(req, -ESHUTDOWN, "the daemon is stopping");
		return;
	} else {
		MHD_suspend_connection(req->conn);
		if (req->resume_pending) {
			req->resume_pending = false;
			MHD_resume_connection(req->conn);
		} else {
			req->suspended = true;
		}
	}
	pthread_mutex_unlock(&req->lock);
}

static enum MHD_Result upload(struct httpd_req *req, const char *data, size_t *size)
{
	if (req->discard) {
		req->discarded += *size;
		*size = 0;
		return req->discarded > HTTPD_DISCARD_MAX ? MHD_NO : MHD_YES;
	}
	switch (req->kind) {
	case REQ_RPC:
	case REQ_LOGIN: {
		char *nb;

		if (*size > req->body_max - req->body_len) {
			/* Counted while streaming: refuse without keeping any more of it. */
			free(req->body);
			req->body = NULL;
			req->body_len = 0;
			char detail[96];

			snprintf(detail, sizeof(detail), "the body is larger than the %zu-byte limit",
				 req->body_max);
			defer_errno(req, -EMSGSIZE, detail);
			*size = 0;
			return MHD_YES;
		}
		nb = realloc(req->body, req->body_len + *size + 1);
		if (!nb) {
			defer_errno(req, -ENOMEM, NULL);
			*size = 0;
			return MHD_YES;
		}
		req->body = nb;
		memcpy(req->body + req->body_len, data, *size);
		req->body_len += *size;
		req->body[req->body_len] = '\0';
		*size = 0;
		return MHD_YES;
	}
	case REQ_ROUTE: {
		size_t consumed = 0;
		int r;

		if (!req->route->on_body) {
			defer_errno(req, -EMSGSIZE, "this route takes no body");
			*size = 0;
			return MHD_YES;
		}
		if (atomic_load(&req->h->stopping)) {
			defer_errno(req, -ESHUTDOWN, "the daemon is stopping");
			*size = 0;
			return MHD_YES;
		}
		r = req->route->on_body(req, (const uint8_t *)data, *size, &consumed,
					req->route->userdata);
		if (r < 0) {
			defer_errno(req, r, NULL);
			*size = 0;
			return MHD_YES;
		}
		if (consumed > *size)
			consumed = *size;
		*size -= consumed;
		if (*size > 0)
			pause_upload(req);
		else {
			pthread_mutex_lock(&req->lock);
			if (req->pending)
				req->discard = true; /* answered early: drop the rest */
			pthread_mutex_unlock(&req->lock);
		}
		if (req->discard)
			*size = 0;
		return MHD_YES;
	}
	default:
		*size = 0; /* a body on GET/static is ignored */
		return MHD_YES;
	}
}

static enum MHD_Result finish(struct httpd_req *req)
{
	if (!req->ended && !req->discard) {
		req->ended = true;
		switch (req->kind) {
		case REQ_RPC:
			return serve_rpc(req);
		case REQ_LOGIN:
			return serve_login(req);
		case REQ_STATIC:
			return serve_static(req);
		case REQ_ROUTE: {
			int r = req->route->on_end(req, req->route->userdata);

			if (r < 0) {
				enum MHD_Result ret = settle(req, false);

				return req->queued ? ret : queue_errno(req, r, NULL);
			}
			break;
		}
		default:
			return queue_errno(req, -EIO, NULL);
		}
	}
	return settle(req, true);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct httpd *h = cls;
	struct httpd_req *req = *con_cls;

	(void)version;
	if (!req) {
		req = req_new(h, conn, url, method);
		if (!req)
			return MHD_NO;
		*con_cls = req;
		return begin(req);
	}
	if (req->queued) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size)
		return upload(req, upload_data, upload_data_size);
	return finish(req);
}

/*
 * Percent-decoding for the path and query: like MHD's own, except that "%00" stays as the
 * literal text so a NUL can never cut a path short; static files refuse such paths.
 */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	char *w = s;

	(void)cls;
	(void)conn;
	for (char *r = s; *r;) {
		unsigned v;
		char hex[3];

		if (r[0] == '%' && r[1] && r[2] && strchr("0123456789abcdefABCDEF", r[1]) &&
		    strchr("0123456789abcdefABCDEF", r[2])) {
			hex[0] = r[1];
			hex[1] = r[2];
			hex[2] = '\0';
			v = (unsigned)strtoul(hex, NULL, 16);
			if (v != 0) {
				*w++ = (char)v;
				r += 3;
				continue;
			}
		}
		*w++ = *r++;
	}
	*w = '\0';
	return (size_t)(w - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) PRINTF_FMT(2, 0);

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];
	size_t n;

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_debug("http: mhd: %s", buf);
}

/* ---- setup --------------------------------------------------------------------------------- */

static int parse_listen(const char *spec, struct sockaddr_storage *ret_addr, socklen_t *ret_len,
			char *ret_host, size_t host_size)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char host[256];
	const char *colon, *port;
	size_t hl;
	int r;

	if (!spec)
		return -EINVAL;
	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		hl = (size_t)(end - spec - 1);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec + 1, hl);
		port = end + 2;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - spec);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec, hl);
		port = colon + 1;
	}
	host[hl] = '\0';
	if (!*port || strspn(port, "0123456789") != strlen(port) || strtoul(port, NULL, 10) > 65535)
		return -EINVAL;
	r = getaddrinfo(hl ? host : NULL, port, &hints, &res);
	if (r != 0 || !res)
		return -EINVAL;
	memcpy(ret_addr, res->ai_addr, res->ai_addrlen);
	*ret_len = res->ai_addrlen;
	freeaddrinfo(res);
	snprintf(ret_host, host_size, "%s", host);
	return 0;
}

static int read_small_file(const char *path, char **ret)
{
	char *buf;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return log_errno(LOG_LVL_ERR, -errno, "http: open \"%s\"", path);
	buf = malloc(HTTPD_TLS_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, buf, HTTPD_TLS_FILE_MAX + 1);
	close(fd);
	if (n < 0 || n > HTTPD_TLS_FILE_MAX) {
		free(buf);
		return log_errno(LOG_LVL_ERR, n < 0 ? -errno : -EFBIG, "http: read \"%s\"", path);
	}
	buf[n] = '\0';
	*ret = buf;
	return 0;
}

int httpd_new(const struct httpd_config *cfg, struct httpd **ret_httpd)
{
	struct httpd *h;
	bool any_remote = false;
	size_t n_extra = 0;
	int r;

	if (!cfg || cfg->n_listen == 0 || cfg->n_listen > HTTPD_MAX_LISTEN ||
	    !cfg->tls_cert_file != !cfg->tls_key_file)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->www_fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	httpd_sessions_init(&h->sessions);
	atomic_init(&h->stopping, false);
	h->threads = cfg->threads ? cfg->threads : 2;
	h->max_connections = cfg->max_connections ? cfg->max_connections : 64;
	h->max_per_ip = cfg->max_per_ip ? cfg->max_per_ip : 16;
	h->timeout_s = cfg->timeout_s ? cfg->timeout_s : 30;
	h->max_header_bytes = cfg->max_header_bytes ? cfg->max_header_bytes : 32 * 1024;
	h->stream = cfg->stream;
	if (!h->stream.download_min_rate)
		h->stream.download_min_rate = HTTPD_DOWNLOAD_MIN_RATE_DEFAULT;
	if (!h->stream.download_window_s)
		h->stream.download_window_s = 10;
	if (!h->stream.sse_heartbeat_s)
		h->stream.sse_heartbeat_s = 15;
	h->rpc = cfg->rpc;
	h->rpc_ctx = cfg->rpc_ctx;
	h->max_rpc_body = h->rpc ? rpc_registry_limits(h->rpc)->max_body_bytes : 0;

	for (size_t i = 0; i < cfg->n_listen; i++) {
		struct listener *l = &h->ls[i];
		char host[256];

		r = parse_listen(cfg->listen[i], &l->addr, &l->addrlen, host, sizeof(host));
		if (r < 0) {
			log_err("http: bad listen address \"%s\" (want HOST:PORT or [V6]:PORT)",
				cfg->listen[i] ? cfg->listen[i] : "");
			goto fail;
		}
		l->h = h;
		h->n_ls++;
		if (!httpd_sec_is_loopback((struct sockaddr *)&l->addr) || cfg->loopback_is_remote)
			any_remote = true;
		r = httpd_hosts_add(&h->hosts, host);
		if (r < 0)
			goto fail;
	}
	while (cfg->extra_hosts && cfg->extra_hosts[n_extra])
		n_extra++;
	r = httpd_hosts_build(&h->hosts, cfg->extra_hosts, n_extra);
	if (r >= 0 && cfg->allowed_hosts)
		r = httpd_hosts_add_list(&h->hosts, cfg->allowed_hosts);
	if (r < 0)
		goto fail;

	h->need_token = any_remote || cfg->require_token;
	if (h->need_token && !cfg->token_file) {
		log_err("http: a token is required (non-loopback listener) but no token file "
			"is set");
		r = -EINVAL;
		goto fail;
	}
	if (cfg->token_file) {
		r = httpd_sec_token_load(cfg->token_file, h->token);
		if (r < 0)
			goto fail;
		h->have_token = true;
	}
	if (cfg->www_dir) {
		/* The API does not need the UI: a missing www dir is worth a warning, not a stop. */
		h->www_dir = strdup(cfg->www_dir);
		if (!h->www_dir) {
			r = -ENOMEM;
			goto fail;
		}
		h->www_fd = open(cfg->www_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (h->www_fd < 0) {
			h->www_err = errno;
			log_errno(LOG_LVL_WARN, -errno,
				  "http: www dir \"%s\" (no web UI; static paths answer 404, the API "
				  "works), ignoring",
				  cfg->www_dir);
		}
	}
	if (cfg->tls_cert_file) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			r = log_errno(LOG_LVL_ERR, -ENOTSUP, "http: libmicrohttpd lacks TLS");
			goto fail;
		}
		r = read_small_file(cfg->tls_cert_file, &h->tls_cert);
		if (r < 0)
			goto fail;
		r = read_small_file(cfg->tls_key_file, &h->tls_key);
		if (r < 0)
			goto fail;
	}
	*ret_httpd = h;
	return 0;
fail:
	httpd_free(h);
	return r;
}

int httpd_start(struct httpd *h)
{
	int r;

	if (h->started)
		return -EALREADY;
	h->started = true;
	for (size_t i = 0; i < h->n_ls; i++) {
		struct listener *l = &h->ls[i];
		unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
				 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
		struct MHD_OptionItem opts[16];
		size_t n = 0;
		const union MHD_DaemonInfo *info;

		if (l->addr.ss_family == AF_INET6)
			flags |= MHD_USE_IPv6;
		if (h->tls_cert)
			flags |= MHD_USE_TLS;
#define OPT(o, v, p) opts[n++] = (struct MHD_OptionItem){ (o), (intptr_t)(v), (p) }
		OPT(MHD_OPTION_SOCK_ADDR, 0, &l->addr);
		if (h->threads > 1)
			OPT(MHD_OPTION_THREAD_POOL_SIZE, h->threads, NULL);
		OPT(MHD_OPTION_CONNECTION_LIMIT, h->max_connections, NULL);
		OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->max_per_ip, NULL);
		OPT(MHD_OPTION_CONNECTION_TIMEOUT, h->timeout_s, NULL);
		OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, h->max_header_bytes, NULL);
		OPT(MHD_OPTION_NOTIFY_COMPLETED, on_completed, h);
		OPT(MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL);
		OPT(MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL);
		if (h->tls_cert) {
			OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert);
			OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key);
		}
		OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
		errno = 0;
		l->d = MHD_start_daemon(flags, 0, NULL, NULL, on_access, h, MHD_OPTION_ARRAY, opts,
					MHD_OPTION_END);
		if (!l->d) {
			r = errno ? -errno : -EIO;
			log_errno(LOG_LVL_ERR, r, "http: cannot listen on listener %zu", i);
			goto fail;
		}
		info = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_BIND_PORT);
		l->port = info ? info->port : 0;
	}
	for (size_t i = 0; i < h->n_ls; i++)
		log_info("http: listening on port %u%s%s", h->ls[i].port,
			 h->tls_cert ? " (TLS)" : "",
			 h->need_token ? ", token required" : "");
	return 0;
fail:
	for (size_t i = 0; i < h->n_ls; i++) {
		if (h->ls[i].d)
			MHD_stop_daemon(h->ls[i].d);
		h->ls[i].d = NULL;
	}
	return r;
}

uint16_t httpd_port(const struct httpd *h, size_t i)
{
	return h && i < h->n_ls ? h->ls[i].port : 0;
}

const struct httpd_stream_limits *httpd_get_stream_limits(const struct httpd *h)
{
	return &h->stream;
}

bool httpd_token_required(const struct httpd *h)
{
	return h->need_token;
}

const char *httpd_token(const struct httpd *h)
{
	return h->have_token ? h->token : NULL;
}

void httpd_free(struct httpd *h)
{
	if (!h)
		return;
	atomic_store(&h->stopping, true);
	for (size_t i = 0; i < h->n_ls; i++)
		if (h->ls[i].d)
			MHD_quiesce_daemon(h->ls[i].d);
	/*
	 * Wake every parked request; settle()/stream_read() see stopping and end them with a 503
	 * or a cut stream. MHD_stop_daemon() would drop them unanswered, so give MHD's threads a
	 * bounded moment to send those answers (requests arriving meanwhile on kept-alive
	 * connections get 503 in begin()).
	 */
	for (unsigned round = 0; round < HTTPD_STOP_ROUNDS; round++) {
		bool empty;

		pthread_mutex_lock(&h->lock);
		for (struct httpd_req *req = h->reqs; req; req = req->next) {
			pthread_mutex_lock(&req->lock);
			if (req->suspended && !req->completed) {
				req->suspended = false;
				MHD_resume_connection(req->conn);
			}
			pthread_mutex_unlock(&req->lock);
		}
		empty = h->reqs == NULL;
		pthread_mutex_unlock(&h->lock);
		if (empty || !h->started)
			break;
		usleep(HTTPD_STOP_ROUND_US);
	}
	for (size_t i = 0; i < h->n_ls; i++)
		if (h->ls[i].d)
			MHD_stop_daemon(h->ls[i].d);
	if (h->www_fd >= 0)
		close(h->www_fd);
	free(h->www_dir);
	httpd_hosts_done(&h->hosts);
	httpd_sessions_done(&h->sessions);
	explicit_bzero(h->token, sizeof(h->token));
	if (h->tls_key)
		explicit_bzero(h->tls_key, strlen(h->tls_key));
	free(h->tls_key);
	free(h->tls_cert);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
