/* SPDX-License-Identifier: MIT */
/*
 * transfer.c - whole images over HTTP: PUT /api/v1/flash streams an upload into a write (or
 * verify) job, GET /api/v1/flash streams a read job out, GET /api/v1/jobs/{id}/events is a
 * server-sent event stream of a job's progress.
 *
 * Never blocks an HTTP thread: the upload fills the job's block queue while it has free
 * blocks and otherwise pauses the connection until the worker frees one (blockq on_space hook
 * -> httpd_req_resume); the download hands out blocks as the worker fills them and otherwise
 * suspends until the on_data hook. A write answers when the job has ended (verified), from
 * the worker thread through job_on_finish.
 *
 * A download cannot let its client set the chip's pace: while the read job runs and its block
 * queue is full (the worker is waiting for the client), the client must take at least
 * httpd_stream_limits.download_min_rate bytes/s over download_window_s. The ticker thread
 * measures that; a slower client is cut off: the job fails with ECONNABORTED ("transfer
 * aborted", op "download", the measured rate in the detail), the bus is free for the next job,
 * and the connection closes short of its Content-Length. A slow chip (queue not full) is never
 * held against the client. HEAD answers the headers a GET would get without starting a job.
 *
 * Lifetime: a struct xfer is shared by the HTTP side (until on_close / the stream's free_cls)
 * and the job's completion callback; it has two references and the last one frees it. The
 * ticker's list of downloads holds a reference of its own while a download is on it.
 */
#include "transfer.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockq.h"
#include "clock.h"
#include "engine.h"
#include "errmap.h"
#include "httpd.h"
#include "job.h"
#include "log.h"
#include "rpc_methods.h"
#include "util.h"

struct transfer {
	struct engine *engine;
	size_t block_size, n_blocks;
	struct httpd_stream_limits limits;

	/* server-sent event streams woken by the ticker, and downloads it watches */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t ticker;
	bool ticker_running, stop;
	struct sse **sse;
	size_t n_sse, cap_sse;
	struct xfer **dl;
	size_t n_dl, cap_dl;
};

struct xfer {
	_Atomic int refs;
	struct transfer *t;
	struct httpd_req *req; /* our reference */
	struct job *job;
	struct blockq *q;
	struct blockq_block *blk; /* upload: block being filled; download: block being sent */
	size_t off;
	uint64_t bytes;		/* upload bytes received / download bytes sent */
	uint64_t expected;
	bool ended;		/* upload complete */
	bool finished;		/* job completion seen */
	/* download watch, ticker thread only: since when the worker has waited on the client */
	uint64_t stall_since_ns, stall_bytes;
};

static void xfer_unref(struct xfer *x)
{
	if (!x || atomic_fetch_sub(&x->refs, 1) != 1)
		return;
	if (x->q)
		blockq_set_hooks(x->q, NULL, NULL, NULL);
	if (x->blk && x->q)
		blockq_release(x->q, x->blk);
	job_unref(x->job);
	httpd_req_unref(x->req);
	free(x);
}

static void wake_req(void *ctx)
{
	struct xfer *x = ctx;

	httpd_req_resume(x->req);
}

/*
 * A number from the query: decimal or "0x" hex, optionally followed by K or M (x 1024, x 1 MiB).
 * 0, -EINVAL (not such a number) or -ERANGE (beyond 64 bits, suffix included); never wraps.
 */
static int parse_u64(const char *v, uint64_t *ret)
{
	unsigned base = 10, shift = 0;
	uint64_t n = 0;
	const char *p = v;
	size_t digits = 0;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (;; p++, digits++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			break;
		if (n > (UINT64_MAX - d) / base)
			return -ERANGE;
		n = n * base + d;
	}
	if (!digits)
		return -EINVAL;
	if (*p == 'K' || *p == 'k')
		shift = 10, p++;
	else if (*p == 'M' || *p == 'm')
		shift = 20, p++;
	if (*p)
		return -EINVAL;
	if (shift && n > UINT64_MAX >> shift)
		return -ERANGE;
	*ret = n << shift;
	return 0;
}

/* Answers the request itself on failure: 400 for a malformed number, 416 for a huge one. */
static int query_u64(struct httpd_req *req, const char *key, uint64_t dflt, uint64_t *ret)
{
	const char *v = httpd_req_query(req, key);
	char msg[160];
	int r;

	if (!v || !*v) {
		*ret = dflt;
		return 0;
	}
	r = parse_u64(v, ret);
	if (r == -ERANGE)
		snprintf(msg, sizeof(msg), "query parameter \"%s\": %.40s does not fit in 64 bits",
			 key, v);
	else if (r < 0)
		snprintf(msg, sizeof(msg),
			 "query parameter \"%s\": \"%.40s\" is not a number (decimal or 0x hex, "
			 "optionally with K or M)",
			 key, v);
	if (r < 0)
		(void)httpd_req_respond_errno(req, r, msg);
	return r;
}

static int query_bool(struct httpd_req *req, const char *key, bool dflt, bool *ret)
{
	const char *v = httpd_req_query(req, key);

	if (!v) {
		*ret = dflt;
		return 0;
	}
	if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !*v) {
		*ret = true;
		return 0;
	}
	if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) {
		*ret = false;
		return 0;
	}
	return -EINVAL;
}

static int bad_query(struct httpd_req *req, const char *what)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "invalid query parameter \"%s\"", what);
	return httpd_req_respond_errno(req, -EINVAL, msg) < 0 ? -EINVAL : 0;
}

static int check_chip_range(struct transfer *t, struct httpd_req *req, uint64_t addr,
			    uint64_t len, struct engine_chip *chip)
{
	char msg[160];

	engine_chip(t->engine, chip);
	if (!chip->present) {
		httpd_req_respond_errno(req, -ENODEV,
					chip->error.detail[0] ? chip->error.detail
							      : "no chip has been identified");
		return -ENODEV;
	}
	if (len > chip->info.size) {
		snprintf(msg, sizeof(msg), "%" PRIu64 " bytes is larger than the %u-byte %s", len,
			 chip->info.size, chip->info.name);
		httpd_req_respond_errno(req, -EFBIG, msg);
		return -EFBIG;
	}
	if (addr > chip->info.size || len > chip->info.size - addr) {
		snprintf(msg, sizeof(msg),
			 "0x%06" PRIx64 " + %" PRIu64 " bytes runs past the end of the %u-byte chip",
			 addr, len, chip->info.size);
		httpd_req_respond_errno(req, -ERANGE, msg);
		return -ERANGE;
	}
	return 0;
}

static int submit(struct transfer *t, struct httpd_req *req, struct job_params *p,
		  struct job **ret)
{
	char busy[200] = "";
	int r;

	p->data = JOB_DATA_STREAM;
	p->stream_block_size = t->block_size;
	p->stream_blocks = t->n_blocks;
	r = engine_submit(t->engine, p, ret, busy, sizeof(busy));
	if (r < 0)
		httpd_req_respond_errno(req, r, r == -EBUSY ? busy : "the job was not accepted");
	return r;
}

/* ---- upload: PUT /api/v1/flash[/verify] ---- */

static void upload_finished(struct job *job, void *ctx)
{
	struct xfer *x = ctx;
	struct job_snapshot s;
	unsigned status = 200;

	if (job_snapshot(job, &s) == 0) {
		if (s.state != JOB_DONE)
			status = s.has_error ? errmap_http_status(s.error.code) : 500;
		job_snapshot_clear(&s);
	}
	(void)httpd_req_respond_json(x->req, status, rpc_job_json(job));
	xfer_unref(x);
}

static int upload_headers(struct httpd_req *req, void *userdata, enum job_type type)
{
	struct transfer *t = userdata;
	struct engine_chip chip;
	struct job_params p;
	struct xfer *x;
	int64_t clen = httpd_req_content_length(req);
	uint64_t addr;
	const char *mode = httpd_req_query(req, "mode");
	int r;

	job_params_init(&p, type);
	if (query_u64(req, "offset", 0, &addr) < 0)
		return 0;
	if (query_bool(req, "verify", true, &p.verify) < 0)
		return bad_query(req, "verify");
	if (query_bool(req, "unlock", false, &p.unlock) < 0)
		return bad_query(req, "unlock");
	if (query_bool(req, "preserve", true, &p.preserve) < 0)
		return bad_query(req, "preserve");
	if (mode && strcmp(mode, "smart") && strcmp(mode, "full"))
		return bad_query(req, "mode");
	p.write_mode = mode && !strcmp(mode, "full") ? JOB_WRITE_FULL : JOB_WRITE_SMART;
	if (clen < 0) {
		httpd_req_respond_error(req, 411, -EINVAL, "length required",
					"send the image with a Content-Length (curl -T file); its "
					"size is checked before anything is erased");
		return 0;
	}
	if (clen == 0) {
		httpd_req_respond_errno(req, -EINVAL, "the image is empty");
		return 0;
	}
	r = check_chip_range(t, req, addr, (uint64_t)clen, &chip);
	if (r < 0)
		return 0;
	p.addr = (uint32_t)addr;
	p.len = (uint64_t)clen;

	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	atomic_init(&x->refs, 1);
	x->t = t;
	x->req = httpd_req_ref(req);
	x->expected = (uint64_t)clen;
	r = submit(t, req, &p, &x->job);
	if (r < 0) {
		xfer_unref(x);
		return 0;
	}
	x->q = job_stream(x->job);
	httpd_req_set_data(req, x);
	blockq_set_hooks(x->q, wake_req, NULL, x);
	log_info("upload: %s job %" PRIu64 ", %" PRId64 " bytes at 0x%06" PRIx64 " (%s)",
		 job_type_name(type), job_get_id(x->job), clen, addr,
		 p.write_mode == JOB_WRITE_FULL ? "full" : "smart");
	return 0;
}

static int upload_headers_write(struct httpd_req *req, void *userdata)
{
	return upload_headers(req, userdata, JOB_WRITE);
}

static int upload_headers_verify(struct httpd_req *req, void *userdata)
{
	return upload_headers(req, userdata, JOB_VERIFY);
}

static int upload_body(struct httpd_req *req, const uint8_t *data, size_t len,
		       size_t *ret_consumed, void *userdata)
{
	struct xfer *x = httpd_req_get_data(req);
	size_t done = 0;

	(void)userdata;
	if (!x) { /* already answered (refused): swallow the body */
		*ret_consumed = len;
		return 0;
	}
	while (done < len) {
		size_t n;
		int r;

		if (!x->blk) {
			r = blockq_try_get_free(x->q, &x->blk);
			if (r == -EAGAIN) {
				x->blk = NULL;
				break; /* queue full: pause until the worker frees a block */
			}
			if (r < 0) {
				/* the job ended early (failed, cancelled): discard the rest */
				x->blk = NULL;
				done = len;
				break;
			}
			x->off = 0;
		}
		n = MIN(len - done, x->blk->cap - x->off);
		memcpy(x->blk->data + x->off, data + done, n);
		x->off += n;
		done += n;
		if (x->off == x->blk->cap) {
			(void)blockq_push(x->q, x->blk, x->off);
			x->blk = NULL;
		}
	}
	x->bytes += done;
	*ret_consumed = done;
	return 0;
}

static int upload_end(struct httpd_req *req, void *userdata)
{
	struct xfer *x = httpd_req_get_data(req);

	(void)userdata;
	if (!x)
		return 0;
	if (x->blk) {
		(void)blockq_push(x->q, x->blk, x->off);
		x->blk = NULL;
	}
	blockq_close(x->q);
	x->ended = true;
	atomic_fetch_add(&x->refs, 1);
	if (job_on_finish(x->job, upload_finished, x) < 0)
		xfer_unref(x);
	return 0;
}

static void upload_close(struct httpd_req *req, void *userdata)
{
	struct xfer *x = httpd_req_get_data(req);

	(void)userdata;
	if (!x)
		return;
	if (!x->ended) {
		/* the client went away mid-upload: the job sees a truncated image and changes
		 * nothing */
		log_warn("upload: job %" PRIu64 ": client gone after %" PRIu64 " of %" PRIu64
			 " bytes",
			 job_get_id(x->job), x->bytes, x->expected);
		/* what did arrive goes to the job too, so its error says how much came; the
		 * image is short of its Content-Length, so the job writes none of it */
		if (x->blk) {
			(void)blockq_push(x->q, x->blk, x->off);
			x->blk = NULL;
		}
		blockq_close(x->q);
	}
	httpd_req_set_data(req, NULL);
	xfer_unref(x);
}

/* ---- download: GET /api/v1/flash ---- */

/* HEAD: MHD sends the headers and the size, never the body. */
static ssize_t head_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	(void)pos;
	(void)buf;
	(void)max;
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static ssize_t download_fill(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct xfer *x = cls;
	size_t done = 0;

	(void)pos;
	while (done < max) {
		size_t n;

		if (!x->blk) {
			int r = blockq_try_pop(x->q, &x->blk);

			if (r == -EAGAIN) {
				x->blk = NULL;
				break;
			}
			if (r == 0) {
				x->blk = NULL;
				if (done)
					break;
				return x->bytes == x->expected ? HTTPD_STREAM_END
							       : HTTPD_STREAM_ERROR;
			}
			if (r < 0) {
				x->blk = NULL;
				return HTTPD_STREAM_ERROR;
			}
			x->off = 0;
		}
		n = MIN(max - done, x->blk->len - x->off);
		memcpy(buf + done, x->blk->data + x->off, n);
		x->off += n;
		done += n;
		if (x->off == x->blk->len) {
			blockq_release(x->q, x->blk);
			x->blk = NULL;
		}
	}
	x->bytes += done;
	return (ssize_t)done;
}

/* Off the ticker's watch list (drops the list's reference). */
static void watch_remove(struct transfer *t, struct xfer *x)
{
	bool found = false;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n_dl; i++)
		if (t->dl[i] == x) {
			t->dl[i] = t->dl[--t->n_dl];
			found = true;
			break;
		}
	pthread_mutex_unlock(&t->lock);
	if (found)
		xfer_unref(x);
}

static int watch_add(struct transfer *t, struct xfer *x)
{
	pthread_mutex_lock(&t->lock);
	if (t->n_dl == t->cap_dl) {
		size_t cap = t->cap_dl ? t->cap_dl * 2 : 8;
		struct xfer **n = realloc(t->dl, cap * sizeof(*n));

		if (!n) {
			pthread_mutex_unlock(&t->lock);
			return -ENOMEM;
		}
		t->dl = n;
		t->cap_dl = cap;
	}
	atomic_fetch_add(&x->refs, 1);
	t->dl[t->n_dl++] = x;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static void download_free(void *cls)
{
	struct xfer *x = cls;

	watch_remove(x->t, x);
	if (x->job && !job_state_is_terminal(job_get_state(x->job)))
		(void)job_cancel(x->job); /* the reader went away */
	xfer_unref(x);
}

/*
 * Ticker thread, t->lock held: has this download kept the worker waiting for a whole window
 * while taking less than the minimum rate? Then it is due to be cut (returns true).
 */
static bool download_too_slow(struct transfer *t, struct xfer *x, uint64_t now,
			      uint64_t *ret_bytes, uint64_t *ret_ns)
{
	struct blockq_stats st;
	uint64_t window = (uint64_t)t->limits.download_window_s * 1000000000u;

	if (t->limits.download_min_rate == HTTPD_NO_MIN_RATE ||
	    job_get_state(x->job) != JOB_RUNNING) {
		x->stall_since_ns = 0; /* queued: the chip is not waiting on anyone */
		return false;
	}
	blockq_get_stats(x->q, &st);
	/* The worker holds at most one block, the client at most one: then it waits on us. */
	if (st.queued + 2 < st.n_blocks) {
		x->stall_since_ns = 0;
		return false;
	}
	if (!x->stall_since_ns) {
		x->stall_since_ns = now;
		x->stall_bytes = st.bytes_out;
		return false;
	}
	if (now - x->stall_since_ns < window)
		return false;
	*ret_bytes = st.bytes_out - x->stall_bytes;
	*ret_ns = now - x->stall_since_ns;
	if ((double)*ret_bytes * 1e9 / (double)*ret_ns >= (double)t->limits.download_min_rate) {
		/* fast enough over this window: judge the next one on its own */
		x->stall_since_ns = now;
		x->stall_bytes = st.bytes_out;
		return false;
	}
	return true;
}

/* Any thread but the worker: fail the download's job so the chip goes to the next one. */
static void download_cut(struct transfer *t, struct xfer *x, uint64_t bytes, uint64_t ns)
{
	uint64_t rate = ns ? bytes * 1000000000u / ns : 0;

	if (job_state_is_terminal(job_get_state(x->job)))
		return;
	/* the first recorded error wins: this one, not the worker's "reader went away" */
	job_fail(x->job, -ECONNABORTED, "download", JOB_NO_ADDR,
		 "the client took %" PRIu64 " bytes in %.1f s (%" PRIu64 " B/s) while the read "
		 "waited for it; a download must take at least %" PRIu64 " B/s",
		 bytes, (double)ns / 1e9, rate, t->limits.download_min_rate);
	blockq_abort(x->q, -ECONNABORTED);
	log_warn("download: job %" PRIu64 ": client too slow (%" PRIu64 " B/s for %.1f s, minimum "
		 "%" PRIu64 " B/s), cut off so the chip is free",
		 job_get_id(x->job), rate, (double)ns / 1e9, t->limits.download_min_rate);
}

static int download_end(struct httpd_req *req, void *userdata)
{
	struct transfer *t = userdata;
	struct engine_chip chip;
	struct job_params p;
	struct xfer *x;
	uint64_t addr, len, passes;
	char jobhdr[24];
	int r;

	engine_chip(t->engine, &chip);
	if (query_u64(req, "offset", 0, &addr) < 0)
		return 0;
	if (query_u64(req, "length", chip.present && addr <= chip.info.size ? chip.info.size - addr
									   : 0,
		      &len) < 0)
		return 0;
	if (query_u64(req, "passes", 1, &passes) < 0)
		return 0;
	if (passes < 1 || passes > JOB_READ_PASSES_MAX)
		return bad_query(req, "passes");
	r = check_chip_range(t, req, addr, len, &chip);
	if (r < 0)
		return 0;
	if (len == 0)
		return httpd_req_respond_errno(req, -EINVAL, "nothing to read (length 0)"), 0;
	if (strcmp(httpd_req_method(req), "HEAD") == 0) {
		/* The headers a GET would get; no job, the chip is not touched. */
		struct MHD_Response *resp = MHD_create_response_from_callback(
			len, 16 * 1024, head_body, NULL, NULL);

		if (!resp)
			return -ENOMEM;
		MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
		MHD_add_response_header(resp, "Cache-Control", "no-store");
		return httpd_req_respond(req, 200, resp) < 0 ? -EIO : 0;
	}
	job_params_init(&p, JOB_READ);
	p.addr = (uint32_t)addr;
	p.len = len;
	p.read_passes = (unsigned)passes;

	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	atomic_init(&x->refs, 1);
	x->t = t;
	x->req = httpd_req_ref(req);
	x->expected = len;
	r = submit(t, req, &p, &x->job);
	if (r < 0) {
		xfer_unref(x);
		return 0;
	}
	x->q = job_stream(x->job);
	blockq_set_hooks(x->q, NULL, wake_req, x);
	if (watch_add(t, x) < 0) {
		(void)job_cancel(x->job);
		xfer_unref(x);
		return -ENOMEM;
	}
	log_info("download: read job %" PRIu64 ", %" PRIu64 " bytes at 0x%06" PRIx64,
		 job_get_id(x->job), len, addr);
	/* The job to ask (job.get) when the download ends early. */
	snprintf(jobhdr, sizeof(jobhdr), "%" PRIu64, job_get_id(x->job));
	(void)httpd_req_set_header(req, "X-Flashd-Job", jobhdr);
	r = httpd_req_respond_stream(req, 200, "application/octet-stream", len, download_fill, x,
				     download_free);
	return r < 0 ? r : 0;
}

/* ---- server-sent events: GET /api/v1/jobs/{id}/events ---- */

struct sse {
	struct transfer *t;
	struct httpd_req *req;
	struct job *job;
	char *pending; /* event text not yet sent */
	size_t pending_len, pending_off;
	uint64_t last_done;
	uint64_t last_sent_ns; /* CLOCK_MONOTONIC of the last bytes queued, for the heartbeat */
	enum job_state last_state;
	int last_phase;
	bool sent_any, done;
};

static void sse_queue(struct sse *s, const char *event, json_t *data)
{
	char *text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
	char *msg = NULL;

	json_decref(data);
	if (!text)
		return;
	if (asprintf(&msg, "event: %s\ndata: %s\n\n", event, text) > 0) {
		free(s->pending);
		s->pending = msg;
		s->pending_len = strlen(msg);
		s->pending_off = 0;
		s->last_sent_ns = fclock_mono_ns();
	}
	free(text);
}

static ssize_t sse_fill(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse *s = cls;
	size_t n;

	(void)pos;
	if (!s->pending) {
		json_t *j;
		uint64_t done, total;
		enum job_state st;

		if (s->done)
			return HTTPD_STREAM_END;
		st = job_get_state(s->job);
		job_get_progress(s->job, &done, &total);
		if (job_state_is_terminal(st)) {
			sse_queue(s, "done", rpc_job_json(s->job));
			s->done = true;
		} else if (!s->sent_any || st != s->last_state || done != s->last_done ||
			   (int)job_get_phase(s->job) != s->last_phase) {
			j = rpc_job_json(s->job);
			sse_queue(s, "progress", json_incref(json_object_get(j, "progress")));
			json_decref(j);
			s->last_state = st;
			s->last_done = done;
			s->last_phase = (int)job_get_phase(s->job);
			s->sent_any = true;
		} else if (fclock_mono_ns() - s->last_sent_ns >=
			   (uint64_t)s->t->limits.sse_heartbeat_s * 1000000000u) {
			/*
			 * A long single command (a chip erase is one command for up to minutes)
			 * changes nothing; a comment line keeps proxies and browsers from
			 * taking the silence for a dead connection.
			 */
			s->pending = strdup(": keep-alive\n\n");
			if (!s->pending)
				return HTTPD_STREAM_ERROR;
			s->pending_len = strlen(s->pending);
			s->pending_off = 0;
			s->last_sent_ns = fclock_mono_ns();
		} else {
			return 0; /* nothing new: the ticker wakes us */
		}
		if (!s->pending)
			return HTTPD_STREAM_ERROR;
	}
	n = MIN(max, s->pending_len - s->pending_off);
	memcpy(buf, s->pending + s->pending_off, n);
	s->pending_off += n;
	if (s->pending_off == s->pending_len) {
		free(s->pending);
		s->pending = NULL;
	}
	return (ssize_t)n;
}

static void sse_free(void *cls)
{
	struct sse *s = cls;
	struct transfer *t = s->t;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n_sse; i++) {
		if (t->sse[i] == s) {
			t->sse[i] = t->sse[--t->n_sse];
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	free(s->pending);
	job_unref(s->job);
	httpd_req_unref(s->req);
	free(s);
}

/*
 * Every 250 ms: wake the event streams (they look for news themselves) and check every
 * download's pace. Cuts happen outside the lock, on references taken under it.
 */
static void *ticker_main(void *arg)
{
	struct transfer *t = arg;

	log_set_thread_name("ticker");
	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		struct timespec ts;
		struct {
			struct xfer *x;
			uint64_t bytes, ns;
		} cut[8];
		size_t n_cut = 0;
		uint64_t now;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 250 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&t->cond, &t->lock, &ts);
		for (size_t i = 0; i < t->n_sse; i++)
			httpd_req_resume(t->sse[i]->req);
		now = fclock_mono_ns();
		for (size_t i = 0; i < t->n_dl && n_cut < ARRAY_SIZE(cut); i++) {
			struct xfer *x = t->dl[i];

			if (download_too_slow(t, x, now, &cut[n_cut].bytes, &cut[n_cut].ns)) {
				atomic_fetch_add(&x->refs, 1);
				x->stall_since_ns = 0;
				cut[n_cut++].x = x;
			}
		}
		if (!n_cut)
			continue;
		pthread_mutex_unlock(&t->lock);
		for (size_t i = 0; i < n_cut; i++) {
			download_cut(t, cut[i].x, cut[i].bytes, cut[i].ns);
			xfer_unref(cut[i].x);
		}
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static int events_end(struct httpd_req *req, void *userdata)
{
	struct transfer *t = userdata;
	const char *ids = httpd_req_param(req, "id");
	char *end;
	unsigned long long id = ids ? strtoull(ids, &end, 10) : 0;
	struct job *job;
	struct sse *s;
	int r;

	if (!ids || *end || !*ids)
		return httpd_req_respond_errno(req, -EINVAL, "the job id must be a number"), 0;
	job = engine_find_job(t->engine, id);
	if (!job)
		return httpd_req_respond_errno(req, -ENOENT, "no such job"), 0;
	if (strcmp(httpd_req_method(req), "HEAD") == 0) {
		struct MHD_Response *resp =
			MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);

		job_unref(job);
		if (!resp)
			return -ENOMEM;
		MHD_add_response_header(resp, "Content-Type", "text/event-stream");
		MHD_add_response_header(resp, "Cache-Control", "no-store");
		return httpd_req_respond(req, 200, resp) < 0 ? -EIO : 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		job_unref(job);
		return -ENOMEM;
	}
	s->t = t;
	s->req = httpd_req_ref(req);
	s->job = job;
	s->last_sent_ns = fclock_mono_ns();
	pthread_mutex_lock(&t->lock);
	if (t->n_sse == t->cap_sse) {
		size_t cap = t->cap_sse ? t->cap_sse * 2 : 8;
		struct sse **n = realloc(t->sse, cap * sizeof(*n));

		if (!n) {
			pthread_mutex_unlock(&t->lock);
			job_unref(job);
			httpd_req_unref(s->req);
			free(s);
			return -ENOMEM;
		}
		t->sse = n;
		t->cap_sse = cap;
	}
	t->sse[t->n_sse++] = s;
	pthread_mutex_unlock(&t->lock);
	r = httpd_req_respond_stream(req, 200, "text/event-stream", HTTPD_SIZE_UNKNOWN, sse_fill, s,
				     sse_free);
	return r < 0 ? r : 0;
}

/* ---- setup ---- */

int transfer_new(struct engine *engine, size_t block_size, size_t n_blocks, struct transfer **ret)
{
	struct transfer *t = calloc(1, sizeof(*t));
	pthread_condattr_t ca;
	int r;

	if (!t)
		return -ENOMEM;
	t->engine = engine;
	t->block_size = block_size;
	t->n_blocks = n_blocks;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	r = pthread_create(&t->ticker, NULL, ticker_main, t);
	if (r) {
		transfer_free(t);
		return -r;
	}
	t->ticker_running = true;
	*ret = t;
	return 0;
}

int transfer_add_routes(struct transfer *t, struct httpd *h)
{
	static struct httpd_route routes[4];
	int r;

	t->limits = *httpd_get_stream_limits(h);
	routes[0] = (struct httpd_route){.method = "PUT",
					 .path = "/api/v1/flash",
					 .on_headers = upload_headers_write,
					 .on_body = upload_body,
					 .on_end = upload_end,
					 .on_close = upload_close,
					 .userdata = t};
	routes[1] = (struct httpd_route){.method = "PUT",
					 .path = "/api/v1/flash/verify",
					 .on_headers = upload_headers_verify,
					 .on_body = upload_body,
					 .on_end = upload_end,
					 .on_close = upload_close,
					 .userdata = t};
	routes[2] = (struct httpd_route){
		.method = "GET", .path = "/api/v1/flash", .on_end = download_end, .userdata = t};
	routes[3] = (struct httpd_route){.method = "GET",
					 .path = "/api/v1/jobs/{id}/events",
					 .on_end = events_end,
					 .userdata = t};
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		r = httpd_add_route(h, &routes[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

void transfer_free(struct transfer *t)
{
	if (!t)
		return;
	if (t->ticker_running) {
		pthread_mutex_lock(&t->lock);
		t->stop = true;
		pthread_cond_signal(&t->cond);
		pthread_mutex_unlock(&t->lock);
		pthread_join(t->ticker, NULL);
	}
	free(t->sse);
	for (size_t i = 0; i < t->n_dl; i++)
		xfer_unref(t->dl[i]);
	free(t->dl);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
