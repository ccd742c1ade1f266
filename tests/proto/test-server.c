/* SPDX-License-Identifier: MIT */
/*
 * test-server.c - httpd + rpc with fake methods and fake slow/streaming routes, for the http
 * suite (test-http.sh drives it with curl and httpie).
 *
 * Fake routes exercise the asynchronous primitives the engine bindings will use:
 *   GET /api/v1/slow               answered 100 ms later from another thread
 *   GET /api/v1/stream?n=N         text/event-stream, one event per 20 ms from a producer
 *                                  thread; the response idles (suspends) between events
 *   PUT /api/v1/upload             a 4 KiB ring drained slowly by a consumer thread: the
 *                                  upload pauses whenever the ring is full (backpressure);
 *                                  answers {"bytes","crc32","pauses"}
 *   GET /api/v1/jobs/{id}/events   echoes the path parameter (also POST .../cancel)
 *   GET /api/v1/never              never answered: shutdown must answer it (503)
 * With --sim PROFILE it serves the real thing instead: the engine on a simulated chip, every
 * JSON-RPC method and the transfer routes, as flashd wires them, with the stream limits and
 * allowed hosts given on the command line (the keys flashd's config will map to them).
 * Writes the bound ports, one per line, to --port-file, then serves until SIGTERM/SIGINT.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "clock.h"
#include "engine.h"
#include "httpd.h"
#include "log.h"
#include "rpc.h"
#include "rpc_methods.h"
#include "simchip.h"
#include "transfer.h"

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- rpc methods ---- */

static int m_echo(void *ctx, json_t *params, json_t **ret_result, struct rpc_error *err)
{
	(void)ctx;
	(void)err;
	*ret_result = params ? json_incref(params) : json_null();
	return 0;
}

static int m_busy(void *ctx, json_t *params, json_t **ret_result, struct rpc_error *err)
{
	(void)ctx;
	(void)params;
	(void)ret_result;
	(void)err;
	return -EBUSY;
}

static const struct rpc_method methods[] = {
	{ .name = "echo", .fn = m_echo, .summary = "returns its params" },
	{ .name = "busy", .fn = m_busy, .summary = "always EBUSY" },
};

/* ---- shared refcounted state for the threaded routes ---- */

struct st {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int refs;
	struct httpd_req *req;
	bool closed, eof, waiting;
	/* upload */
	uint8_t ring[4096];
	size_t head, len;
	uint64_t total;
	uLong crc;
	unsigned pauses;
	/* stream */
	char out[4096];
	size_t out_len, out_pos;
	unsigned n_events;
	bool done;
};

static struct st *st_new(struct httpd_req *req)
{
	struct st *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->refs = 1;
	s->req = httpd_req_ref(req);
	s->crc = crc32(0, NULL, 0);
	return s;
}

static void st_unref(void *p)
{
	struct st *s = p;
	int left;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	left = --s->refs;
	pthread_mutex_unlock(&s->lock);
	if (left)
		return;
	httpd_req_unref(s->req);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
}

static struct st *st_ref(struct st *s)
{
	pthread_mutex_lock(&s->lock);
	s->refs++;
	pthread_mutex_unlock(&s->lock);
	return s;
}

static void on_close_st(struct httpd_req *req, void *ud)
{
	struct st *s = httpd_req_get_data(req);

	(void)ud;
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->closed = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	st_unref(s);
}

static int spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int r = pthread_create(&t, NULL, fn, arg);

	if (r)
		return -r;
	pthread_detach(t);
	return 0;
}

/* ---- GET /api/v1/slow ---- */

static void *slow_thread(void *arg)
{
	struct httpd_req *req = arg;

	sleep_ms(100);
	httpd_req_respond_json(req, 200, json_pack("{s:b}", "slow", 1));
	httpd_req_unref(req);
	return NULL;
}

static int slow_end(struct httpd_req *req, void *ud)
{
	(void)ud;
	httpd_req_ref(req);
	if (spawn(slow_thread, req) < 0) {
		httpd_req_unref(req);
		return -ENOMEM;
	}
	return 0;
}

/* ---- GET /api/v1/stream ---- */

static void *producer(void *arg)
{
	struct st *s = arg;

	for (unsigned i = 0; i < s->n_events; i++) {
		sleep_ms(20);
		pthread_mutex_lock(&s->lock);
		if (s->closed) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		s->out_len += (size_t)snprintf(s->out + s->out_len, sizeof(s->out) - s->out_len,
					       "data: %u\n\n", i);
		if (i + 1 == s->n_events)
			s->done = true;
		pthread_mutex_unlock(&s->lock);
		httpd_req_resume(s->req);
	}
	st_unref(s);
	return NULL;
}

static ssize_t stream_fn(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct st *s = cls;
	ssize_t n;

	(void)pos;
	pthread_mutex_lock(&s->lock);
	if (s->out_pos == s->out_len) {
		n = s->done ? HTTPD_STREAM_END : 0;
	} else {
		size_t k = s->out_len - s->out_pos;

		if (k > max)
			k = max;
		memcpy(buf, s->out + s->out_pos, k);
		s->out_pos += k;
		n = (ssize_t)k;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

static int stream_end(struct httpd_req *req, void *ud)
{
	const char *q = httpd_req_query(req, "n");
	struct st *s;
	int r;

	(void)ud;
	s = st_new(req);
	if (!s)
		return -ENOMEM;
	s->n_events = q ? (unsigned)strtoul(q, NULL, 10) : 5;
	if (s->n_events == 0 || s->n_events > 100) {
		st_unref(s);
		return -EINVAL;
	}
	httpd_req_set_data(req, s);
	r = spawn(producer, st_ref(s));
	if (r < 0) {
		st_unref(s);
		return r;
	}
	return httpd_req_respond_stream(req, 200, "text/event-stream", HTTPD_SIZE_UNKNOWN,
					stream_fn, st_ref(s), st_unref);
}

/* ---- PUT /api/v1/upload ---- */

static void *consumer(void *arg)
{
	struct st *s = arg;
	uint8_t chunk[1024];

	for (;;) {
		size_t k;
		bool wake;

		pthread_mutex_lock(&s->lock);
		while (!s->len && !s->eof && !s->closed)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->closed || (s->eof && !s->len)) {
			bool answer = !s->closed;
			uint64_t total = s->total;
			uLong crc = s->crc;
			unsigned pauses = s->pauses;

			pthread_mutex_unlock(&s->lock);
			if (answer)
				httpd_req_respond_json(s->req, 200,
						       json_pack("{s:I, s:I, s:i}", "bytes",
								 (json_int_t)total, "crc32",
								 (json_int_t)crc, "pauses",
								 (int)pauses));
			break;
		}
		k = s->len < sizeof(chunk) ? s->len : sizeof(chunk);
		for (size_t i = 0; i < k; i++)
			chunk[i] = s->ring[(s->head + i) % sizeof(s->ring)];
		s->head = (s->head + k) % sizeof(s->ring);
		s->len -= k;
		s->total += k;
		s->crc = crc32(s->crc, chunk, (uInt)k);
		wake = s->waiting;
		s->waiting = false;
		pthread_mutex_unlock(&s->lock);
		if (wake)
			httpd_req_resume(s->req);
		usleep(50); /* a slow "chip" */
	}
	st_unref(s);
	return NULL;
}

static int upload_headers(struct httpd_req *req, void *ud)
{
	struct st *s = st_new(req);
	int r;

	(void)ud;
	if (!s)
		return -ENOMEM;
	httpd_req_set_data(req, s);
	r = spawn(consumer, st_ref(s));
	if (r < 0) {
		st_unref(s);
		return r;
	}
	return 0;
}

static int upload_body(struct httpd_req *req, const uint8_t *data, size_t len,
		       size_t *ret_consumed, void *ud)
{
	struct st *s = httpd_req_get_data(req);
	size_t room, k;

	(void)ud;
	pthread_mutex_lock(&s->lock);
	room = sizeof(s->ring) - s->len;
	k = len < room ? len : room;
	for (size_t i = 0; i < k; i++)
		s->ring[(s->head + s->len + i) % sizeof(s->ring)] = data[i];
	s->len += k;
	if (k < len) {
		s->waiting = true;
		s->pauses++;
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	*ret_consumed = k;
	return 0;
}

static int upload_end(struct httpd_req *req, void *ud)
{
	struct st *s = httpd_req_get_data(req);

	(void)ud;
	pthread_mutex_lock(&s->lock);
	s->eof = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* ---- GET /api/v1/jobs/{id}/events ---- */

static int events_end(struct httpd_req *req, void *ud)
{
	(void)ud;
	return httpd_req_respond_json(req, 200, json_pack("{s:s}", "id", httpd_req_param(req, "id")));
}

/* ---- GET /api/v1/never: pending until the server shuts down ---- */

static int never_end(struct httpd_req *req, void *ud)
{
	(void)req;
	(void)ud;
	return 0;
}

static const struct httpd_route routes[] = {
	{ .method = "GET", .path = "/api/v1/never", .on_end = never_end },
	{ .method = "GET", .path = "/api/v1/slow", .on_end = slow_end },
	{ .method = "GET", .path = "/api/v1/stream", .on_end = stream_end, .on_close = on_close_st },
	{ .method = "PUT", .path = "/api/v1/upload", .on_headers = upload_headers,
	  .on_body = upload_body, .on_end = upload_end, .on_close = on_close_st },
	{ .method = "GET", .path = "/api/v1/jobs/{id}/events", .on_end = events_end },
	{ .method = "POST", .path = "/api/v1/jobs/{id}/cancel", .on_end = events_end },
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "www", required_argument, NULL, 'w' },
		{ "token-file", required_argument, NULL, 't' },
		{ "require-token", no_argument, NULL, 'R' },
		{ "loopback-remote", no_argument, NULL, 'L' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "max-body", required_argument, NULL, 'b' },
		{ "max-header", required_argument, NULL, 'H' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "extra-host", required_argument, NULL, 'x' },
		{ "max-per-ip", required_argument, NULL, 'I' },
		{ "threads", required_argument, NULL, 'P' },
		{ "allowed-hosts", required_argument, NULL, 'A' },
		{ "sim", required_argument, NULL, 's' },
		{ "sim-image", required_argument, NULL, 'i' },
		{ "sim-time-scale", required_argument, NULL, 'S' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "download-min-rate", required_argument, NULL, 'm' },
		{ "download-window", required_argument, NULL, 'W' },
		{ "sse-heartbeat", required_argument, NULL, 'h' },
		{ "blocks", required_argument, NULL, 'B' },
		{ 0 },
	};
	const char *sim = NULL, *sim_image = NULL, *state_dir = NULL;
	double time_scale = 0;
	size_t blocks = 4;
	struct simchip *chip = NULL;
	struct engine *engine = NULL;
	struct transfer *xfer = NULL;
	void *methods_ctx = NULL;
	static const char *const info_listen[] = { "127.0.0.1:0", NULL };
	struct rpc_daemon_info info = { .version = "test", .backend = "sim",
					.listen = info_listen };
	struct httpd_config cfg = { 0 };
	struct rpc_limits lim = { 0 };
	const char *port_file = NULL, *extra[8] = { 0 };
	size_t n_extra = 0;
	struct rpc_registry *reg = NULL;
	struct httpd *h = NULL;
	sigset_t set;
	int c, sig, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (cfg.n_listen < HTTPD_MAX_LISTEN)
				cfg.listen[cfg.n_listen++] = optarg;
			break;
		case 'w': cfg.www_dir = optarg; break;
		case 't': cfg.token_file = optarg; break;
		case 'R': cfg.require_token = true; break;
		case 'L': cfg.loopback_is_remote = true; break;
		case 'c': cfg.tls_cert_file = optarg; break;
		case 'k': cfg.tls_key_file = optarg; break;
		case 'T': cfg.timeout_s = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'b': lim.max_body_bytes = strtoul(optarg, NULL, 10); break;
		case 'H': cfg.max_header_bytes = strtoul(optarg, NULL, 10); break;
		case 'p': port_file = optarg; break;
		case 'I': cfg.max_per_ip = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'P': cfg.threads = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'x':
			if (n_extra < 7)
				extra[n_extra++] = optarg;
			break;
		case 'A': cfg.allowed_hosts = optarg; break;
		case 's': sim = optarg; break;
		case 'i': sim_image = optarg; break;
		case 'S': time_scale = strtod(optarg, NULL); break;
		case 'd': state_dir = optarg; break;
		case 'm':
			cfg.stream.download_min_rate = strcmp(optarg, "off") ? strtoull(optarg, NULL, 10)
									     : HTTPD_NO_MIN_RATE;
			break;
		case 'W': cfg.stream.download_window_s = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'h': cfg.stream.sse_heartbeat_s = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'B': blocks = strtoul(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	cfg.extra_hosts = extra;

	/* Signals are read synchronously, never handled asynchronously (STYLE D24). */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = rpc_registry_new(&lim, "flashd-test", "0", &reg);
	if (r < 0)
		goto out;
	if (sim) {
		const struct sim_profile *prof = sim_profile_find(sim);
		struct simchip_opts so;
		struct engine_config ec;
		struct engine_chip ch;
		char err[256];

		if (!prof || !sim_image || !state_dir) {
			log_err("--sim needs a known profile, --sim-image and --state-dir");
			r = -EINVAL;
			goto out;
		}
		simchip_opts_init(&so);
		so.time_scale = time_scale;
		r = simchip_open(prof, sim_image, &so, &chip, err, sizeof(err));
		if (r < 0) {
			log_err("simulator: %s", err);
			goto out;
		}
		engine_config_init(&ec);
		ec.bus = simchip_bus(chip);
		ec.state_dir = state_dir;
		ec.block_size = 64 * 1024;
		ec.n_blocks = blocks;
		r = engine_new(&ec, &engine);
		if (r >= 0)
			r = engine_start(engine);
		if (r < 0)
			goto out;
		info.state_dir = state_dir;
		info.started_ns = fclock_mono_ns();
		r = rpc_methods_register(reg, engine, &info, &methods_ctx);
		if (r < 0)
			goto out;
		cfg.rpc_ctx = methods_ctx;
		/* serve once the chip is identified, as flashd's tests expect */
		do {
			engine_chip(engine, &ch);
			sleep_ms(2);
		} while (!ch.probed_ns);
	} else {
		r = rpc_registry_add_table(reg, methods, ARRAY_SIZE(methods));
		if (r < 0)
			goto out;
	}
	cfg.rpc = reg;
	r = httpd_new(&cfg, &h);
	if (r < 0)
		goto out;
	if (sim) {
		r = transfer_new(engine, 64 * 1024, blocks, &xfer);
		if (r >= 0)
			r = transfer_add_routes(xfer, h);
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(routes) && r >= 0; i++)
			r = httpd_add_route(h, &routes[i]);
	}
	if (r >= 0)
		r = httpd_start(h);
	if (r < 0)
		goto out;
	if (port_file) {
		char tmp[4096];
		FILE *f;

		snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		f = fopen(tmp, "we");
		if (!f) {
			r = -errno;
			goto out;
		}
		for (size_t i = 0; i < cfg.n_listen; i++)
			fprintf(f, "%u\n", httpd_port(h, i));
		fclose(f);
		rename(tmp, port_file); /* atomic: the script never reads a half-written file */
	}
	sigwait(&set, &sig);
	r = 0;
out:
	if (r < 0)
		log_errno(LOG_LVL_ERR, r, "test-server");
	/* flashd's order: the server, the engine, transfers, the methods, the chip */
	httpd_free(h);
	if (engine)
		engine_stop(engine);
	transfer_free(xfer);
	rpc_registry_free(reg);
	rpc_methods_free(methods_ctx);
	engine_free(engine);
	simchip_close(chip);
	return r < 0 ? 1 : 0;
}
