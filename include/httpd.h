/* SPDX-License-Identifier: MIT */
/*
 * httpd.h - the HTTP server: libmicrohttpd listeners, the security model, routes, static files.
 *
 * Lifecycle: httpd_new() (config checked, token loaded or created, nothing bound), then
 * httpd_add_route() for every route, then httpd_start() (binds every listen address and starts
 * MHD's threads), httpd_port() for the bound ports, httpd_free() (stops; any request still
 * waiting for a response gets 503 "shutting down").
 *
 * Security model (the daemon sits on a LAN next to browsers), applied to every request before
 * any route sees it, in this order:
 *  1. Host must name this machine (localhost, its addresses, hostnames, listen addresses,
 *     cfg.extra_hosts, cfg.allowed_hosts), else 421: defeats DNS rebinding.
 *  2. No secrets in URLs: a query argument "token" or "access_token" is refused with 400.
 *  3. POST/PUT/PATCH/DELETE anywhere, and every method on /rpc and /api/..., with an Origin
 *     other than scheme://Host or a Sec-Fetch-Site other than "same-origin"/"none", are
 *     refused with 403: a page elsewhere cannot even start a read. No CORS headers are ever
 *     sent.
 *  4. When a token is required (any listener not on loopback, cfg.require_token, or
 *     cfg.loopback_is_remote) every request needs "Authorization: Bearer <64 hex>" or a session
 *     cookie from POST /api/v1/login; else 401 with "WWW-Authenticate: Bearer" (browsers asking
 *     for HTML get a minimal login form instead of JSON). Comparisons are constant-time.
 *  5. POST /rpc requires Content-Type application/json (415 otherwise: defeats simple-request
 *     CSRF) and a body no larger than the registry's max_body_bytes (413, counted while the body
 *     streams in, never buffered beyond the limit). POST to any route refuses the form types
 *     (text/plain, urlencoded, multipart) with 415 for the same reason.
 * Every response carries nosniff, X-Frame-Options DENY, Referrer-Policy no-referrer and a strict
 * Content-Security-Policy. Every error of the API paths is {"error":{"code","errno","message",
 * "detail"}} with code and errno from errmap (405 and 415 are ENOTSUP, 421 EPERM, 411 EINVAL).
 *
 * Static files come from cfg.www_dir with "Cache-Control: no-cache" and an ETag (revalidated,
 * never stale after an upgrade). A www dir that cannot be opened is logged once as a warning at
 * httpd_new(); static paths then answer 404 saying so, and the API works as ever. A path some
 * route matches but not with this method answers 405 with an Allow header listing exactly the
 * methods of the routes on it.
 *
 * Threading: MHD runs cfg.threads polling threads per listener. Route callbacks run on those
 * threads and must never block (no chip access, no waiting on the worker). Anything slow keeps
 * the request pending: return from on_end without responding, and call httpd_req_respond() later
 * from any thread; return short from on_body to pause the upload until httpd_req_resume(); make
 * a stream callback return 0 ("no data yet") until httpd_req_resume(). httpd_req_respond(),
 * httpd_req_resume(), httpd_req_ref()/unref() are thread-safe; the other accessors may be used
 * only from route callbacks.
 *
 * MHD does not time out suspended connections: a route that parks a request owns the duty to
 * answer or resume it (httpd_free() answers leftovers with 503). A response built directly with
 * MHD_create_response_from_callback() must never return 0; use httpd_req_respond_stream(),
 * which suspends correctly. The connection timeout is an inactivity timeout, so a client that
 * trickles bytes is bounded by max_per_ip/max_connections rather than by timeout_s.
 */
#ifndef FLASHD_HTTPD_H
#define FLASHD_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <microhttpd.h>

#define HTTPD_MAX_LISTEN 8
#define HTTPD_TOKEN_HEX_LEN 64 /* 32 random bytes, hex */

/* Limits the streaming routes (transfer.c) read through httpd_get_stream_limits(). */
#define HTTPD_DOWNLOAD_MIN_RATE_DEFAULT (128u * 1024u) /* bytes/s */
#define HTTPD_NO_MIN_RATE UINT64_MAX
struct httpd_stream_limits {
	/*
	 * A download whose read job is waiting for the client (its block queue full) must take
	 * at least this many bytes/s, measured over download_window_s; a slower client is cut
	 * off and the job fails, so no client holds the chip at its own pace. 0 = default,
	 * HTTPD_NO_MIN_RATE = no minimum.
	 */
	uint64_t download_min_rate;
	unsigned download_window_s; /* 0 = 10 */
	/* An event stream quiet this long gets a ": keep-alive" comment line. 0 = 15. */
	unsigned sse_heartbeat_s;
};

struct httpd_config {
	/* "127.0.0.1:8080", "[::1]:0", "0.0.0.0:80", "localhost:0"; port 0 = ephemeral. */
	const char *listen[HTTPD_MAX_LISTEN];
	size_t n_listen;
	const char *www_dir;        /* static files root; NULL = none (404) */
	const char *token_file;     /* required when a token is required; created 0600 if missing */
	bool require_token;         /* also on loopback-only listeners */
	bool loopback_is_remote;    /* treat loopback like LAN (tests of the token path) */
	const char *const *extra_hosts; /* more accepted Host names, NULL-terminated; may be NULL */
	/* More accepted Host names in one string, separated by spaces and/or commas
	 * ("flash.lan, 10.0.0.7 [fd00::7]"); may be NULL. A bad name fails httpd_new(). */
	const char *allowed_hosts;
	const char *tls_cert_file;  /* PEM; both or neither */
	const char *tls_key_file;
	unsigned threads;           /* MHD polling threads per listener; default 2 */
	unsigned max_connections;   /* per listener; default 64 */
	unsigned max_per_ip;        /* default 16 */
	unsigned timeout_s;         /* idle/slow connection timeout; default 30 */
	size_t max_header_bytes;    /* per-connection memory (headers); default 32 KiB */
	struct rpc_registry *rpc;   /* borrowed; NULL = no POST /rpc */
	void *rpc_ctx;              /* passed to every rpc handler */
	struct httpd_stream_limits stream;
};

struct httpd;
struct rpc_registry;
struct httpd_req;

/*
 * Route callbacks. Return 0 to go on, or a negative errno to fail the request with the errmap
 * status and a JSON error body (only if no response was queued yet).
 *
 * on_headers: once, after the headers (auth already checked). May respond at once.
 * on_body:    per upload chunk; set *ret_consumed (<= len). Consuming less than len pauses the
 *             upload (the connection is suspended) until httpd_req_resume(); the rest is offered
 *             again then. NULL = uploads are refused with 413 unless empty.
 * on_end:     once, when the upload is complete (at once for GET). Respond now or later.
 * on_close:   once, when the request is finished or aborted, from an MHD thread; release
 *             per-request state here. The req stays valid until the last httpd_req_unref().
 */
struct httpd_route {
	const char *method; /* "GET" (also serves HEAD), "PUT", "POST", "DELETE", "PATCH" */
	/* Exact path; a segment "{name}" matches any one non-empty segment (httpd_req_param). */
	const char *path;
	int (*on_headers)(struct httpd_req *req, void *userdata);
	int (*on_body)(struct httpd_req *req, const uint8_t *data, size_t len,
		       size_t *ret_consumed, void *userdata);
	int (*on_end)(struct httpd_req *req, void *userdata);
	void (*on_close)(struct httpd_req *req, void *userdata);
	void *userdata;
};

/*
 * Validate cfg and prepare (token file read or created; refuses a token file readable by group
 * or others with -EACCES and a log message). cfg strings are copied. Returns 0, -EINVAL
 * (bad listen address, TLS half-configured, token required without token_file), -EACCES,
 * -ENOTSUP (TLS requested but MHD lacks it), -ENOMEM or an I/O errno.
 */
int httpd_new(const struct httpd_config *cfg, struct httpd **ret_httpd);

/* Add a route before httpd_start(). The struct is borrowed (static const). 0, -EBUSY (started),
 * -EINVAL, -ENOSPC (table full). */
int httpd_add_route(struct httpd *h, const struct httpd_route *route);

/* Bind and start serving. 0, -EADDRINUSE, -EACCES, ... (nothing left running on failure). */
int httpd_start(struct httpd *h);

/* Bound TCP port of listener i (in cfg.listen order), or 0 if not started / out of range. */
uint16_t httpd_port(const struct httpd *h, size_t i);

/* cfg.stream with the defaults filled in (static storage of h). */
const struct httpd_stream_limits *httpd_get_stream_limits(const struct httpd *h);

/* True when requests need the token (decided by httpd_new()). */
bool httpd_token_required(const struct httpd *h);
/* The hex token (static storage of h), or NULL when none was loaded. For flashctl/tests. */
const char *httpd_token(const struct httpd *h);

/* Stop listening, fail pending requests with 503, join the threads, free. Accepts NULL. */
void httpd_free(struct httpd *h);

/* ---- requests (route callbacks) ---------------------------------------------------------- */

/* Keep req alive beyond on_close (for another thread that will respond or resume). */
struct httpd_req *httpd_req_ref(struct httpd_req *req);
void httpd_req_unref(struct httpd_req *req); /* accepts NULL */

const char *httpd_req_method(const struct httpd_req *req); /* "GET", "HEAD", ... */
const char *httpd_req_path(const struct httpd_req *req);   /* decoded path, no query */
/* Value of path pattern segment "{name}", or NULL. Borrowed from req. */
const char *httpd_req_param(const struct httpd_req *req, const char *name);
const char *httpd_req_header(const struct httpd_req *req, const char *name);
const char *httpd_req_query(const struct httpd_req *req, const char *key);
/* Content-Length of the upload, or -1 when unknown (chunked). */
int64_t httpd_req_content_length(const struct httpd_req *req);
struct MHD_Connection *httpd_req_connection(const struct httpd_req *req);

/* Per-request state for the route (free it in on_close). */
void httpd_req_set_data(struct httpd_req *req, void *data);
void *httpd_req_get_data(const struct httpd_req *req);

/*
 * Queue a response (takes ownership of resp, also on failure). Any thread, once per request;
 * security headers are added here. Returns 0, -EALREADY (already responded; resp destroyed) or
 * -ECONNRESET (request already finished; resp destroyed).
 */
int httpd_req_respond(struct httpd_req *req, unsigned status, struct MHD_Response *resp);
/* A JSON body, dumped compactly with sorted keys; json is consumed (NULL = -ENOMEM). */
int httpd_req_respond_json(struct httpd_req *req, unsigned status, json_t *json);
/*
 * {"error":{"code":C,"errno":"E..","message":"..","detail":detail}} with the errmap status;
 * detail NULL = "METHOD /path failed: EXXX".
 */
int httpd_req_respond_errno(struct httpd_req *req, int r, const char *detail);
/* The same shape with another status and message (411 "length required" for -EINVAL). */
int httpd_req_respond_error(struct httpd_req *req, unsigned status, int r, const char *message,
			    const char *detail);

/*
 * Streaming response. fn fills buf with up to max bytes at offset pos and returns the count,
 * 0 for "no data yet" (the connection is suspended until httpd_req_resume()), HTTPD_STREAM_END
 * or HTTPD_STREAM_ERROR. size is the total or HTTPD_SIZE_UNKNOWN (chunked). free_cls(cls) runs
 * when MHD is done with the response. fn runs on MHD threads and must not block.
 */
#define HTTPD_STREAM_END ((ssize_t)-1)
#define HTTPD_STREAM_ERROR ((ssize_t)-2)
#define HTTPD_SIZE_UNKNOWN UINT64_MAX
typedef ssize_t (*httpd_stream_fn)(void *cls, uint64_t pos, char *buf, size_t max);
int httpd_req_respond_stream(struct httpd_req *req, unsigned status, const char *content_type,
			     uint64_t size, httpd_stream_fn fn, void *cls,
			     void (*free_cls)(void *cls));

/*
 * One more header for the response this request will get (route callbacks, before
 * responding; copied). 0, -ENOSPC (more than 4) or -ENOMEM.
 */
int httpd_req_set_header(struct httpd_req *req, const char *name, const char *value);

/* Wake a paused upload or an idle stream. Any thread; harmless when not paused. */
void httpd_req_resume(struct httpd_req *req);

#endif
