/* SPDX-License-Identifier: MIT */
/*
 * rpc_methods.c - every JSON-RPC method of flashd.
 *
 * Handlers run on HTTP threads. They never touch the bus and never block: they read the
 * engine's chip snapshot, submit jobs and copy job records. A "wait" for a job to end does not
 * wait on the calling thread: the call is deferred (rpc_call_defer) and parked with the
 * waiter, which answers it from its own thread when the job ends (a job_on_finish callback
 * wakes it) or when the wait runs out, whichever comes first. The worker thread's part in that
 * is one mutex and one signal; building the answer (a job record, up to 1 MiB of base64) is
 * the waiter thread's. Each job gets at most one completion callback from the waiter however
 * many calls wait for it, so clients polling with short waits cannot pile callbacks onto a
 * long job.
 *
 * Params arrive normalised by the registry (always an object; positions already mapped to the
 * names of each method's "x-order"; unknown names refused by "additionalProperties": false), so
 * handlers read them by name only. Addresses and sizes are plain numbers in parameters and
 * results; addresses in error data are hex strings (rpc_error_from_errno).
 */
#include "rpc_methods.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup.h"
#include "clock.h"
#include "engine.h"
#include "errmap.h"
#include "job.h"
#include "log.h"
#include "rpc.h"
#include "util.h"

#include <nettle/base64.h>

struct waiter;

struct ctx {
	struct engine *engine;
	const struct rpc_daemon_info *info;
	struct waiter *waiter;
};

/* ---- JSON of engine records ---- */

static json_t *ranges_json(const struct job_range *r, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:I,s:I}", "offset", (json_int_t)r[i].addr,
						   "length", (json_int_t)r[i].len));
	return a;
}

static json_t *error_json(const struct job_error *e)
{
	const struct errmap_entry *m = errmap_lookup(e->code);
	char addr[24];
	json_t *data = json_pack("{s:s,s:s,s:s}", "errno", errno_name(e->code), "op", e->op,
				 "detail", e->detail);

	if (e->has_addr) {
		snprintf(addr, sizeof(addr), e->addr > 0xffffff ? "0x%08x" : "0x%06x", e->addr);
		json_object_set_new(data, "addr", json_string(addr));
	}
	return json_pack("{s:i,s:s,s:o}", "code", m->rpc_code, "message", m->text, "data", data);
}

static double secs(uint64_t a, uint64_t b)
{
	return b > a ? (double)(b - a) / 1e9 : 0.0;
}

json_t *rpc_job_json(struct job *job)
{
	static const char *const range_names[_JOB_RANGE_KIND_MAX] = {
		[JOB_RANGE_ERASED] = "erased",
		[JOB_RANGE_PROGRAMMED] = "programmed",
		[JOB_RANGE_CHANGED] = "changed",
		[JOB_RANGE_MISMATCH] = "mismatch",
	};
	struct job_snapshot s;
	json_t *o, *params, *ranges, *result, *times;

	if (job_snapshot(job, &s) < 0)
		return json_null();
	params = json_pack("{s:I,s:I,s:b}", "offset", (json_int_t)s.params.addr, "length",
			   (json_int_t)s.params.len, "whole_chip", s.params.whole_chip);
	if (s.params.type == JOB_WRITE) {
		json_object_set_new(params, "mode", json_string(s.params.write_mode == JOB_WRITE_FULL
									? "full"
									: "smart"));
		json_object_set_new(params, "verify", json_boolean(s.params.verify));
	}
	if (s.params.unlock)
		json_object_set_new(params, "unlock", json_true());
	if (s.params.type == JOB_READ)
		json_object_set_new(params, "passes", json_integer(s.params.read_passes));
	if (s.params.type == JOB_RESTORE)
		json_object_set_new(params, "backup", json_string(s.params.backup_id));

	ranges = json_object();
	for (int k = 0; k < _JOB_RANGE_KIND_MAX; k++)
		if (s.n_ranges[k] || k != JOB_RANGE_MISMATCH)
			json_object_set_new(ranges, range_names[k],
					    ranges_json(s.ranges[k], s.n_ranges[k]));

	result = json_object();
	if (s.has_digests) {
		char crc[16];

		snprintf(crc, sizeof(crc), "%08x", s.crc32);
		json_object_set_new(result, "crc32", json_string(crc));
		json_object_set_new(result, "sha256", json_string(s.sha256));
	}
	if (s.blank_known) {
		json_object_set_new(result, "blank", json_boolean(s.blank));
		if (!s.blank)
			json_object_set_new(result, "first_non_blank",
					    json_integer(s.first_nonblank));
	}
	if (s.backup_id[0])
		json_object_set_new(result, "backup", json_string(s.backup_id));

	times = json_pack("{s:f,s:f}", "queued_s", secs(s.created_ns, s.started_ns ?: s.created_ns),
			  "duration_s",
			  s.started_ns ? secs(s.started_ns, s.finished_ns ?: fclock_mono_ns()) : 0.0);

	o = json_pack("{s:I,s:s,s:s,s:o,s:o,s:o,s:o}", "id", (json_int_t)s.id, "type",
		      job_type_name(s.params.type), "state", job_state_name(s.state), "params",
		      params, "ranges", ranges, "result", result, "times", times);
	json_object_set_new(o, "progress",
			    json_pack("{s:s,s:I,s:I,s:I}", "phase", job_phase_name(s.phase), "done",
				      (json_int_t)s.done, "total", (json_int_t)s.total, "rate",
				      (json_int_t)s.rate_bps));
	if (s.eta_known)
		json_object_set_new(json_object_get(o, "progress"), "eta",
				    json_integer((json_int_t)s.eta_s));
	if (s.cancel_requested)
		json_object_set_new(o, "cancel_requested", json_true());
	if (s.has_error)
		json_object_set_new(o, "error", error_json(&s.error));
	job_snapshot_clear(&s);
	return o;
}

/* ---- answers ---- */

/* What a job-returning call answers with. */
enum answer {
	ANSWER_JOB,  /* {"job": ...} */
	ANSWER_DATA, /* {"job": ...} plus "data" (base64) and "length" once a read job is done */
};

/* "data"/"length" of a finished read job with an inline result; nothing otherwise. */
static void add_read_data(json_t *o, struct job *job)
{
	const uint8_t *data;
	size_t n;
	char *b64;

	if (job_get_type(job) != JOB_READ || job_get_result(job, &data, &n) < 0)
		return;
	b64 = malloc(BASE64_ENCODE_RAW_LENGTH(n) + 1);
	if (!b64)
		return;
	base64_encode_raw(b64, n, data);
	b64[BASE64_ENCODE_RAW_LENGTH(n)] = '\0';
	json_object_set_new(o, "data", json_stringn_nocheck(b64, BASE64_ENCODE_RAW_LENGTH(n)));
	free(b64);
	json_object_set_new(o, "length", json_integer((json_int_t)n));
}

static int answer_job(struct job *job, enum answer kind, json_t **ret)
{
	json_t *o = json_pack("{s:o}", "job", rpc_job_json(job));

	if (!o)
		return -ENOMEM;
	if (kind == ANSWER_DATA)
		add_read_data(o, job);
	*ret = o;
	return 0;
}

/* ---- the waiter: deferred calls parked until their job ends or their wait runs out ---- */

struct wait {
	struct wait *next;
	struct job *job; /* own reference */
	enum answer kind;
	uint64_t deadline_ns;
	bool ready; /* the job has ended */
	struct rpc_deferred *d;
};

struct waiter {
	_Atomic int refs; /* the ctx + each registered job_on_finish callback */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	pthread_t thread;
	bool running, stop;
	struct wait *waits;
	uint64_t *watched; /* ids of jobs with our completion callback registered */
	size_t n_watched, cap_watched;
};

static void finish_wait(struct wait *w)
{
	json_t *result = NULL;
	int r = answer_job(w->job, w->kind, &result);

	rpc_deferred_finish(w->d, r, result, NULL);
	job_unref(w->job);
	free(w);
}

static void waiter_unref(struct waiter *wt)
{
	if (!wt || atomic_fetch_sub(&wt->refs, 1) != 1)
		return;
	free(wt->watched);
	pthread_cond_destroy(&wt->cond);
	pthread_mutex_destroy(&wt->lock);
	free(wt);
}

/* Lock held. */
static bool watched_remove(struct waiter *wt, uint64_t id)
{
	for (size_t i = 0; i < wt->n_watched; i++)
		if (wt->watched[i] == id) {
			wt->watched[i] = wt->watched[--wt->n_watched];
			return true;
		}
	return false;
}

/* Worker thread (job_finish) or the thread registering, when the job already ended. */
static void on_job_done(struct job *job, void *ctx)
{
	struct waiter *wt = ctx;

	pthread_mutex_lock(&wt->lock);
	for (struct wait *w = wt->waits; w; w = w->next)
		if (w->job == job)
			w->ready = true;
	(void)watched_remove(wt, job_get_id(job));
	pthread_cond_signal(&wt->cond);
	pthread_mutex_unlock(&wt->lock);
	waiter_unref(wt);
}

static void *waiter_main(void *arg)
{
	struct waiter *wt = arg;

	log_set_thread_name("rpc-wait");
	pthread_mutex_lock(&wt->lock);
	while (!wt->stop) {
		uint64_t now = fclock_mono_ns(), next = now + 1000000000ull;
		struct wait *due = NULL, **pp = &wt->waits;
		struct timespec ts;

		while (*pp) {
			struct wait *w = *pp;

			if (w->ready || w->deadline_ns <= now) {
				*pp = w->next;
				w->next = due;
				due = w;
				continue;
			}
			next = MIN(next, w->deadline_ns);
			pp = &w->next;
		}
		if (due) {
			pthread_mutex_unlock(&wt->lock);
			while (due) {
				struct wait *w = due;

				due = w->next;
				finish_wait(w);
			}
			pthread_mutex_lock(&wt->lock);
			continue;
		}
		ts.tv_sec = (time_t)(next / 1000000000ull);
		ts.tv_nsec = (long)(next % 1000000000ull);
		(void)pthread_cond_timedwait(&wt->cond, &wt->lock, &ts);
	}
	pthread_mutex_unlock(&wt->lock);
	return NULL;
}

static int waiter_new(struct waiter **ret)
{
	struct waiter *wt = calloc(1, sizeof(*wt));
	pthread_condattr_t ca;
	int r;

	if (!wt)
		return -ENOMEM;
	atomic_init(&wt->refs, 1);
	pthread_mutex_init(&wt->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wt->cond, &ca);
	pthread_condattr_destroy(&ca);
	r = pthread_create(&wt->thread, NULL, waiter_main, wt);
	if (r) {
		waiter_unref(wt);
		return -r;
	}
	wt->running = true;
	*ret = wt;
	return 0;
}

/* Answer everything still parked with the jobs as they are now, then let go. */
static void waiter_free(struct waiter *wt)
{
	struct wait *left;

	if (!wt)
		return;
	pthread_mutex_lock(&wt->lock);
	wt->stop = true;
	pthread_cond_signal(&wt->cond);
	pthread_mutex_unlock(&wt->lock);
	if (wt->running)
		pthread_join(wt->thread, NULL);
	pthread_mutex_lock(&wt->lock);
	left = wt->waits;
	wt->waits = NULL;
	pthread_mutex_unlock(&wt->lock);
	while (left) {
		struct wait *w = left;

		left = w->next;
		finish_wait(w);
	}
	waiter_unref(wt);
}

/* Park w (takes it). Its job's end or its deadline, whichever comes first, answers it. */
static void waiter_add(struct waiter *wt, struct wait *w)
{
	uint64_t id = job_get_id(w->job);
	bool watch = true;

	pthread_mutex_lock(&wt->lock);
	if (wt->stop) {
		pthread_mutex_unlock(&wt->lock);
		finish_wait(w);
		return;
	}
	for (size_t i = 0; i < wt->n_watched && watch; i++)
		watch = wt->watched[i] != id;
	if (watch) {
		if (wt->n_watched == wt->cap_watched) {
			size_t cap = wt->cap_watched ? wt->cap_watched * 2 : 8;
			uint64_t *n = realloc(wt->watched, cap * sizeof(*n));

			if (n) {
				wt->watched = n;
				wt->cap_watched = cap;
			}
		}
		if (wt->n_watched < wt->cap_watched)
			wt->watched[wt->n_watched++] = id;
		else
			watch = false; /* no memory: the deadline answers it */
	}
	w->next = wt->waits;
	wt->waits = w;
	pthread_cond_signal(&wt->cond);
	pthread_mutex_unlock(&wt->lock);
	if (!watch)
		return;
	/* Outside the lock: on a job that has just ended, the callback runs right here. */
	atomic_fetch_add(&wt->refs, 1);
	if (job_on_finish(w->job, on_job_done, wt) < 0) {
		pthread_mutex_lock(&wt->lock);
		(void)watched_remove(wt, id);
		pthread_mutex_unlock(&wt->lock);
		waiter_unref(wt);
	}
}

/*
 * Answer with job (a reference the caller hands over): at once when there is nothing to wait
 * for or the call cannot be held (a notification, rpc_handle()), else park it for up to
 * wait_ms (and never past the request's deadline).
 */
static int answer_or_wait(struct ctx *c, struct rpc_call *call, struct job *job, uint32_t wait_ms,
			  enum answer kind, json_t **ret)
{
	struct wait *w;
	int r;

	if (wait_ms && !job_state_is_terminal(job_get_state(job)) && rpc_call_can_defer(call)) {
		w = calloc(1, sizeof(*w));
		if (w && rpc_call_defer(call, &w->d) == 0) {
			w->job = job;
			w->kind = kind;
			w->deadline_ns = MIN(fclock_mono_ns() + (uint64_t)wait_ms * 1000000u,
					     rpc_call_deadline_ns(call));
			waiter_add(c->waiter, w);
			return RPC_DEFERRED;
		}
		free(w);
	}
	r = answer_job(job, kind, ret);
	job_unref(job);
	return r;
}

/* ---- params ---- */

/* A param counts as given when present and not null (rpc.h: null = absent). */
static bool given(json_t *params, const char *name)
{
	json_t *v = json_object_get(params, name);

	return v && !json_is_null(v);
}

static int opt_u32(json_t *params, const char *name, uint32_t *v, struct rpc_error *err)
{
	return rpc_param_u32(params, name, -1, false, v, err);
}

static int opt_bool(json_t *params, const char *name, bool *v, struct rpc_error *err)
{
	return rpc_param_bool(params, name, -1, false, v, err);
}

static int get_wait(json_t *params, uint32_t dflt, uint32_t *wait, struct rpc_error *err)
{
	*wait = dflt;
	int r = opt_u32(params, "wait", wait, err);

	if (r >= 0 && *wait > RPC_WAIT_MAX_MS) {
		rpc_error_set(err, RPC_CODE_INVALID_PARAMS,
			      "Invalid params: \"wait\" is at most %u ms", RPC_WAIT_MAX_MS);
		err->data = json_pack("{s:s}", "param", "wait");
		return -EINVAL;
	}
	return r;
}

static int invalid(struct rpc_error *err, const char *param, const char *fmt, ...)
	PRINTF_FMT(3, 4);

static int invalid(struct rpc_error *err, const char *param, const char *fmt, ...)
{
	char msg[RPC_ERROR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rpc_error_set(err, RPC_CODE_INVALID_PARAMS, "Invalid params: %s", msg);
	if (param)
		err->data = json_pack("{s:s}", "param", param);
	return -EINVAL;
}

static int chip_or_error(struct ctx *c, struct engine_chip *chip, const char *op,
			 struct rpc_error *err)
{
	engine_chip(c->engine, chip);
	if (chip->present)
		return 0;
	return rpc_error_from_errno(err, -ENODEV, op, RPC_NO_ADDR,
				    chip->error.detail[0] ? chip->error.detail
							  : "no chip has been identified");
}

/* Reject ranges the chip cannot hold before a job is queued. */
static int check_range(const struct engine_chip *chip, const char *op, uint64_t addr,
		       uint64_t len, struct rpc_error *err)
{
	char detail[160];

	if (len > chip->info.size) {
		snprintf(detail, sizeof(detail), "%llu bytes is larger than the %u-byte %s",
			 (unsigned long long)len, chip->info.size, chip->info.name);
		return rpc_error_from_errno(err, -EFBIG, op, addr, detail);
	}
	if (addr > chip->info.size || len > chip->info.size - addr) {
		snprintf(detail, sizeof(detail),
			 "0x%06llx + %llu bytes runs past the end of the %u-byte chip",
			 (unsigned long long)addr, (unsigned long long)len, chip->info.size);
		return rpc_error_from_errno(err, -ERANGE, op, addr, detail);
	}
	return 0;
}

/* Submit p and answer with the job (at once or after its wait). */
static int submit(struct ctx *c, struct rpc_call *call, const struct job_params *p,
		  uint32_t wait_ms, enum answer kind, const char *op, json_t **ret,
		  struct rpc_error *err)
{
	char busy[200] = "";
	const char *detail;
	struct job *job;
	int r = engine_submit(c->engine, p, &job, busy, sizeof(busy));

	if (r < 0) {
		if (r == -EBUSY)
			detail = busy;
		else if (r == -ESHUTDOWN)
			detail = "the daemon is shutting down";
		else if (r == -EINVAL)
			detail = "the engine refused these parameters";
		else
			detail = NULL;
		return rpc_error_from_errno(err, r, op, RPC_NO_ADDR, detail);
	}
	return answer_or_wait(c, call, job, wait_ms, kind, ret);
}

/* ---- methods ---- */

static int m_chip_info(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct ctx *c = ctx;
	struct engine_chip chip;
	const struct chip_info *i = &chip.info;
	json_t *erase, *prot, *pr;
	char id[8], volt[32];
	int r;

	(void)params;
	r = chip_or_error(c, &chip, "chip.info", err);
	if (r < 0)
		return r;
	snprintf(id, sizeof(id), "%06x", i->jedec_id);
	if (i->voltage_min_mv)
		snprintf(volt, sizeof(volt), "%u.%u-%u.%u V", i->voltage_min_mv / 1000,
			 i->voltage_min_mv % 1000 / 100, i->voltage_max_mv / 1000,
			 i->voltage_max_mv % 1000 / 100);
	else
		snprintf(volt, sizeof(volt), "unknown");
	erase = json_array();
	for (unsigned k = 0; k < i->n_erase; k++)
		json_array_append_new(erase, json_integer(i->erase[k].size));
	pr = json_array();
	for (unsigned k = 0; k < chip.protect.n_ranges; k++)
		json_array_append_new(pr, json_pack("{s:I,s:I}", "offset",
						    (json_int_t)chip.protect.ranges[k].addr, "length",
						    (json_int_t)chip.protect.ranges[k].len));
	prot = json_pack("{s:s,s:o,s:b,s:b}", "description", chip.protect.description, "ranges",
			 pr, "srp", chip.protect.srp, "locked", chip.protect.sr_locked);
	*ret = json_pack("{s:s,s:s,s:s,s:I,s:I,s:o,s:s,s:I,s:I,s:s,s:o,s:s,s:I}", "name", i->name,
			 "vendor", i->vendor, "jedec_id", id, "size", (json_int_t)i->size,
			 "page_size", (json_int_t)i->page_size, "erase_sizes", erase, "voltage",
			 volt, "max_clock_hz", (json_int_t)i->max_clock_hz, "max_read_clock_hz",
			 (json_int_t)i->max_read_clock_hz, "source",
			 i->source == CHIP_SRC_SFDP	    ? "sfdp"
			 : i->source == CHIP_SRC_CONFIG ? "config"
							: "database",
			 "protection", prot, "datasheet", i->datasheet ? i->datasheet : "",
			 "spi_speed_hz", (json_int_t)chip.speed_hz);
	if (chip.report.notes[0])
		json_object_set_new(*ret, "notes", json_string(chip.report.notes));
	if (chip.report.read_only)
		json_object_set_new(*ret, "read_only", json_true());
	return 0;
}

static int m_chip_probe(void *ctx, struct rpc_call *call, json_t *params, json_t **ret,
			struct rpc_error *err)
{
	struct job_params p;
	uint32_t wait;
	int r;

	r = get_wait(params, 0, &wait, err);
	if (r < 0)
		return r;
	job_params_init(&p, JOB_PROBE);
	return submit(ctx, call, &p, wait, ANSWER_JOB, "chip.probe", ret, err);
}

/*
 * offset/length shared by the range methods. With !len_required, a length of 0 or none means
 * "to the end of the chip"; a range that then holds nothing is refused.
 */
static int range_params(struct ctx *c, json_t *params, const char *op, uint32_t *addr,
			uint64_t *len, bool len_required, struct engine_chip *chip,
			struct rpc_error *err)
{
	char detail[160];
	int r;

	*addr = 0;
	*len = 0;
	r = chip_or_error(c, chip, op, err);
	if (r < 0)
		return r;
	r = opt_u32(params, "offset", addr, err);
	if (r >= 0)
		r = rpc_param_u64(params, "length", -1, len_required, len, err);
	if (r < 0)
		return r;
	if (!*len && !len_required && *addr < chip->info.size)
		*len = chip->info.size - *addr;
	r = check_range(chip, op, *addr, *len, err);
	if (r < 0)
		return r;
	if (!*len && !len_required) {
		snprintf(detail, sizeof(detail),
			 "nothing to do: 0x%06x is the end of the %u-byte chip", *addr,
			 chip->info.size);
		return rpc_error_from_errno(err, -ERANGE, op, *addr, detail);
	}
	return 0;
}

static int m_flash_read(void *ctx, struct rpc_call *call, json_t *params, json_t **ret,
			struct rpc_error *err)
{
	struct ctx *c = ctx;
	struct engine_chip chip;
	struct job_params p;
	uint32_t addr, passes = 1, wait;
	uint64_t len;
	int r;

	r = range_params(c, params, "flash.read", &addr, &len, true, &chip, err);
	if (r >= 0)
		r = opt_u32(params, "passes", &passes, err);
	if (r >= 0)
		r = get_wait(params, 5000, &wait, err);
	if (r < 0)
		return r;
	if (len == 0 || len > RPC_READ_MAX)
		return invalid(err, "length",
			       "\"length\" must be 1..%u bytes here; use GET /api/v1/flash for more",
			       RPC_READ_MAX);
	if (passes < 1 || passes > JOB_READ_PASSES_MAX)
		return invalid(err, "passes", "\"passes\" must be 1..%u", JOB_READ_PASSES_MAX);
	r = rpc_call_reserve(call, len, "flash.read", err);
	if (r < 0)
		return r;
	job_params_init(&p, JOB_READ);
	p.addr = addr;
	p.len = len;
	p.read_passes = passes;
	p.data = JOB_DATA_BUFFER;
	return submit(c, call, &p, wait, ANSWER_DATA, "flash.read", ret, err);
}

static int write_like(struct ctx *c, struct rpc_call *call, json_t *params, enum job_type type,
		      const char *op, json_t **ret, struct rpc_error *err)
{
	struct engine_chip chip;
	struct job_params p;
	uint32_t addr = 0, wait;
	uint8_t *buf = NULL;
	size_t n = 0;
	const char *mode = NULL;
	int r;

	r = chip_or_error(c, &chip, op, err);
	if (r < 0)
		return r;
	job_params_init(&p, type);
	r = opt_u32(params, "offset", &addr, err);
	if (r >= 0)
		r = rpc_param_bytes_b64(params, "data", -1, true, RPC_READ_MAX, &buf, &n, err);
	if (r >= 0 && type == JOB_WRITE)
		r = rpc_param_string(params, "mode", -1, false, 8, &mode, err);
	if (r >= 0 && type == JOB_WRITE)
		r = opt_bool(params, "verify", &p.verify, err);
	if (r >= 0 && type == JOB_WRITE)
		r = opt_bool(params, "unlock", &p.unlock, err);
	if (r >= 0 && type == JOB_WRITE)
		r = opt_bool(params, "preserve", &p.preserve, err);
	if (r >= 0)
		r = get_wait(params, 0, &wait, err);
	if (r >= 0 && mode && strcmp(mode, "smart") && strcmp(mode, "full"))
		r = invalid(err, "mode", "\"mode\" must be \"smart\" or \"full\"");
	if (r >= 0 && n == 0)
		r = invalid(err, "data", "\"data\" is empty; there is nothing to %s",
			    type == JOB_WRITE ? "write" : "compare");
	if (r >= 0)
		r = check_range(&chip, op, addr, n, err);
	if (r < 0) {
		free(buf);
		return r;
	}
	p.addr = addr;
	p.len = n;
	p.write_mode = mode && !strcmp(mode, "full") ? JOB_WRITE_FULL : JOB_WRITE_SMART;
	p.data = JOB_DATA_BUFFER;
	p.buf = buf;
	p.buf_len = n;
	r = submit(c, call, &p, wait, ANSWER_JOB, op, ret, err);
	free(buf); /* job_new() copied it */
	return r;
}

static int m_flash_write(void *ctx, struct rpc_call *call, json_t *params, json_t **ret,
			 struct rpc_error *err)
{
	return write_like(ctx, call, params, JOB_WRITE, "flash.write", ret, err);
}

static int m_flash_verify(void *ctx, struct rpc_call *call, json_t *params, json_t **ret,
			  struct rpc_error *err)
{
	return write_like(ctx, call, params, JOB_VERIFY, "flash.verify", ret, err);
}

static int m_flash_erase(void *ctx, struct rpc_call *call, json_t *params, json_t **ret,
			 struct rpc_error *err)
{
	struct ctx *c = ctx;
	struct engine_chip chip;
	struct job_params p;
	uint32_t addr = 0, wait;
	uint64_t len = 0;
	bool whole = false, backup = true;
	int r;

	job_params_init(&p, JOB_ERASE);
	r = opt_bool(params, "whole_chip", &whole, err);
	if (r < 0)
		return r;
	if (whole && (given(params, "offset") || given(params, "length")))
		return invalid(err, "whole_chip",
			       "\"whole_chip\" excludes \"offset\" and \"length\"");
	if (whole) {
		r = chip_or_error(c, &chip, "flash.erase", err);
	} else {
		if (!given(params, "length"))
			return invalid(err, "length",
				       "give \"offset\" and \"length\", or \"whole_chip\": true");
		r = range_params(c, params, "flash.erase", &addr, &len, true, &chip, err);
		if (r >= 0 && len == 0)
			r = invalid(err, "length", "\"length\" must be at least 1");
	}
	if (r >= 0)
		r = opt_bool(params, "unlock", &p.unlock, err);
	if (r >= 0)
		r = opt_bool(params, "preserve", &p.preserve, err);
	if (r >= 0)
		r = opt_bool(params, "backup", &backup, err);
	if (r >= 0)
		r = get_wait(params, 0, &wait, err);
	if (r < 0)
		return r;
	p.whole_chip = whole;
	p.addr = addr;
	p.len = whole ? chip.info.size : len;
	p.no_backup = !backup;
	return submit(c, call, &p, wait, ANSWER_JOB, "flash.erase", ret, err);
}

static int m_flash_blank_check(void *ctx, struct rpc_call *call, json_t *params, json_t **ret,
			       struct rpc_error *err)
{
	struct ctx *c = ctx;
	struct engine_chip chip;
	struct job_params p;
	uint32_t addr, wait;
	uint64_t len;
	int r;

	r = range_params(c, params, "flash.blank_check", &addr, &len, false, &chip, err);
	if (r >= 0)
		r = get_wait(params, 0, &wait, err);
	if (r < 0)
		return r;
	job_params_init(&p, JOB_BLANK_CHECK);
	p.addr = addr;
	p.len = len;
	return submit(c, call, &p, wait, ANSWER_JOB, "flash.blank_check", ret, err);
}

static int m_chip_unlock(void *ctx, struct rpc_call *call, json_t *params, json_t **ret,
			 struct rpc_error *err)
{
	struct ctx *c = ctx;
	struct engine_chip chip;
	struct job_params p;
	uint32_t wait;
	int r;

	r = chip_or_error(c, &chip, "chip.unlock", err);
	if (r >= 0)
		r = get_wait(params, 0, &wait, err);
	if (r < 0)
		return r;
	job_params_init(&p, JOB_UNLOCK);
	return submit(c, call, &p, wait, ANSWER_JOB, "chip.unlock", ret, err);
}

static int list_cb(struct job *job, void *ctx)
{
	json_array_append_new(ctx, rpc_job_json(job));
	return 0;
}

static int m_job_list(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct ctx *c = ctx;
	json_t *a = json_array();

	(void)params;
	(void)err;
	if (!a)
		return -ENOMEM;
	engine_list_jobs(c->engine, list_cb, a);
	*ret = json_pack("{s:o}", "jobs", a);
	return 0;
}

static int find_job(struct ctx *c, json_t *params, const char *op, struct job **ret,
		    struct rpc_error *err)
{
	uint64_t id = 0;
	char detail[64];
	int r = rpc_param_u64(params, "id", -1, true, &id, err);

	if (r < 0)
		return r;
	*ret = engine_find_job(c->engine, id);
	if (*ret)
		return 0;
	snprintf(detail, sizeof(detail), "no job %llu (finished jobs are kept for a while only)",
		 (unsigned long long)id);
	return rpc_error_from_errno(err, -ENOENT, op, RPC_NO_ADDR, detail);
}

static int m_job_get(void *ctx, struct rpc_call *call, json_t *params, json_t **ret,
		     struct rpc_error *err)
{
	const struct job_params *p;
	enum job_state state;
	struct job *job;
	uint32_t wait;
	int r;

	r = get_wait(params, 0, &wait, err);
	if (r >= 0)
		r = find_job(ctx, params, "job.get", &job, err);
	if (r < 0)
		return r;
	/* A read's data comes along once it is done: it counts against the request's budget. */
	p = job_get_params(job);
	state = job_get_state(job);
	if (p->type == JOB_READ && p->data == JOB_DATA_BUFFER &&
	    (!job_state_is_terminal(state) || state == JOB_DONE)) {
		r = rpc_call_reserve(call, p->len, "job.get", err);
		if (r < 0) {
			job_unref(job);
			return r;
		}
	}
	return answer_or_wait(ctx, call, job, wait, ANSWER_DATA, ret);
}

static int m_job_cancel(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct job *job;
	int r;

	r = find_job(ctx, params, "job.cancel", &job, err);
	if (r < 0)
		return r;
	/* a queued job leaves the queue at once, a running one stops at its next boundary;
	 * -EALREADY: it ended first, and the record says how */
	(void)engine_cancel_job(((struct ctx *)ctx)->engine, job_get_id(job));
	*ret = json_pack("{s:o}", "job", rpc_job_json(job));
	job_unref(job);
	return 0;
}

static int backup_cb(const struct backup_info *b, void *ctx)
{
	json_t *ranges = json_array();

	for (size_t i = 0; i < b->n_ranges; i++)
		json_array_append_new(ranges, json_pack("{s:I,s:I}", "offset",
							(json_int_t)b->ranges[i].addr, "length",
							(json_int_t)b->ranges[i].len));
	char created[32], jedec[8];
	time_t secs_rt = (time_t)(b->created_ns / 1000000000u);
	struct tm tm;

	gmtime_r(&secs_rt, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(jedec, sizeof(jedec), "%06x", b->meta.jedec_id);
	json_array_append_new(ctx, json_pack("{s:s,s:s,s:I,s:s,s:s,s:I,s:o,s:s,s:b}", "id", b->id,
					     "created", created, "job", (json_int_t)b->meta.job_id,
					     "chip", b->meta.chip, "jedec_id", jedec, "bytes",
					     (json_int_t)b->total_bytes, "ranges", ranges,
					     "sha256", b->sha256, "complete", !b->incomplete));
	return 0;
}

static int m_backup_list(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct ctx *c = ctx;
	json_t *a = json_array();
	int r;

	(void)params;
	if (!a)
		return -ENOMEM;
	r = backup_list(engine_backups(c->engine), backup_cb, a);
	if (r < 0) {
		json_decref(a);
		return rpc_error_from_errno(err, r, "backup.list", RPC_NO_ADDR,
					    "cannot read the backup directory");
	}
	*ret = json_pack("{s:o}", "backups", a);
	return 0;
}

static int m_backup_restore(void *ctx, struct rpc_call *call, json_t *params, json_t **ret,
			    struct rpc_error *err)
{
	struct ctx *c = ctx;
	struct engine_chip chip;
	struct backup_info info;
	struct job_params p;
	const char *id = NULL;
	uint32_t wait;
	char detail[256];
	int r;

	job_params_init(&p, JOB_RESTORE);
	r = rpc_param_string(params, "id", -1, true, JOB_BACKUP_ID_SIZE - 1, &id, err);
	if (r >= 0)
		r = opt_bool(params, "unlock", &p.unlock, err);
	if (r >= 0)
		r = get_wait(params, 0, &wait, err);
	if (r >= 0)
		r = chip_or_error(c, &chip, "backup.restore", err);
	if (r < 0)
		return r;
	r = backup_get(engine_backups(c->engine), id, &info);
	if (r < 0) {
		snprintf(detail, sizeof(detail), "no backup \"%s\"", id);
		return rpc_error_from_errno(err, -ENOENT, "backup.restore", RPC_NO_ADDR, detail);
	}
	if (info.meta.jedec_id != chip.info.jedec_id || info.meta.chip_size != chip.info.size) {
		snprintf(detail, sizeof(detail), "backup %.64s was taken from %.32s (%06x), not this %.32s",
			 id, info.meta.chip, info.meta.jedec_id, chip.info.name);
		backup_info_clear(&info);
		return rpc_error_from_errno(err, -EINVAL, "backup.restore", RPC_NO_ADDR, detail);
	}
	backup_info_clear(&info);
	snprintf(p.backup_id, sizeof(p.backup_id), "%s", id);
	return submit(c, call, &p, wait, ANSWER_JOB, "backup.restore", ret, err);
}

static int m_daemon_info(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct ctx *c = ctx;
	struct engine_chip chip;
	json_t *listen = json_array();

	(void)params;
	(void)err;
	engine_chip(c->engine, &chip);
	for (const char *const *l = c->info->listen; l && *l; l++)
		json_array_append_new(listen, json_string(*l));
	*ret = json_pack("{s:s,s:s,s:I,s:f,s:o,s:s,s:b}", "version", c->info->version, "backend",
			 c->info->backend, "spi_speed_hz", (json_int_t)chip.speed_hz, "uptime_s",
			 secs(c->info->started_ns, fclock_mono_ns()), "listen", listen,
			 "state_dir", c->info->state_dir, "chip_present", chip.present);
	return 0;
}

/* The settings; set_hz (when not 0) is a clock just set, which the chip gets from its next job. */
static int settings_json(struct ctx *c, uint32_t set_hz, json_t **ret)
{
	struct engine_chip chip;

	engine_chip(c->engine, &chip);
	*ret = json_pack("{s:I,s:s}", "spi_speed_hz", (json_int_t)(set_hz ? set_hz : chip.speed_hz),
			 "log_level", log_level_to_string(log_get_level()));
	return *ret ? 0 : -ENOMEM;
}

static int m_settings_get(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	(void)params;
	(void)err;
	return settings_json(ctx, 0, ret);
}

static int m_settings_set(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct ctx *c = ctx;
	const char *level = NULL;
	enum log_level lvl = LOG_LVL_INFO;
	uint32_t hz = 0;
	int has_hz, r;

	has_hz = r = opt_u32(params, "spi_speed_hz", &hz, err);
	if (r >= 0)
		r = rpc_param_string(params, "log_level", -1, false, 16, &level, err);
	if (r < 0)
		return r;
	if (level && log_level_from_string(level, &lvl) < 0)
		return invalid(err, "log_level",
			       "\"log_level\" must be err, warning, notice, info or debug");
	if (has_hz > 0) {
		r = engine_set_speed(c->engine, hz);
		if (r < 0)
			return invalid(err, "spi_speed_hz",
				       "\"spi_speed_hz\" must be between 1 and the chip's maximum "
				       "clock");
		log_info("settings: SPI clock %u Hz from the next job on", hz);
	}
	if (level) {
		log_set_level(lvl);
		log_info("settings: log level %s", level);
	}
	return settings_json(c, has_hz > 0 ? hz : 0, ret);
}

/* ---- the table: params, results and errors as rpc.discover shows them ---- */

#define P_INT(n) "\"" n "\":{\"type\":\"integer\",\"minimum\":0}"
#define P_BOOL(n) "\"" n "\":{\"type\":\"boolean\"}"
#define P_WAIT "\"wait\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":10000}"
#define P_DATA "\"data\":{\"type\":\"string\",\"contentEncoding\":\"base64\"}"
#define SCHEMA(order, req, ...)                                                                    \
	"{\"type\":\"object\",\"additionalProperties\":false,\"x-order\":[" order "],"           \
	"\"required\":[" req "],\"properties\":{" __VA_ARGS__ "}}"
#define NO_PARAMS SCHEMA("", "")
#define REF(name) "{\"$ref\":\"#/components/schemas/" name "\"}"
#define OBJ(req, ...) "{\"type\":\"object\",\"required\":[" req "],\"properties\":{" __VA_ARGS__ "}}"
#define T_INT "{\"type\":\"integer\"}"
#define T_STR "{\"type\":\"string\"}"
#define T_BOOL "{\"type\":\"boolean\"}"
#define T_NUM "{\"type\":\"number\"}"

static const char schema_range[] = OBJ("\"offset\",\"length\"", "\"offset\":" T_INT ",\"length\":" T_INT);

static const char schema_job[] = OBJ(
	"\"id\",\"type\",\"state\",\"params\",\"progress\",\"ranges\",\"result\",\"times\"",
	"\"id\":" T_INT ","
	"\"type\":{\"enum\":[\"probe\",\"read\",\"erase\",\"write\",\"verify\",\"blank_check\","
	"\"unlock\",\"restore\"]},"
	"\"state\":{\"enum\":[\"queued\",\"running\",\"done\",\"failed\",\"cancelled\","
	"\"interrupted\"]},"
	"\"params\":" OBJ("\"offset\",\"length\",\"whole_chip\"",
			  "\"offset\":" T_INT ",\"length\":" T_INT ",\"whole_chip\":" T_BOOL
			  ",\"mode\":{\"enum\":[\"smart\",\"full\"]},\"verify\":" T_BOOL
			  ",\"unlock\":" T_BOOL ",\"passes\":" T_INT ",\"backup\":" T_STR) ","
	"\"progress\":" OBJ("\"phase\",\"done\",\"total\",\"rate\"",
			    "\"phase\":{\"enum\":[\"none\",\"backup\",\"reading\",\"erasing\","
			    "\"programming\",\"verifying\"]},\"done\":" T_INT ",\"total\":" T_INT
			    ",\"rate\":" T_INT ",\"eta\":" T_INT) ","
	"\"ranges\":" OBJ("\"erased\",\"programmed\",\"changed\"",
			  "\"erased\":{\"type\":\"array\",\"items\":" REF("Range") "},"
			  "\"programmed\":{\"type\":\"array\",\"items\":" REF("Range") "},"
			  "\"changed\":{\"type\":\"array\",\"items\":" REF("Range") "},"
			  "\"mismatch\":{\"type\":\"array\",\"items\":" REF("Range") "}") ","
	"\"result\":" OBJ("", "\"crc32\":" T_STR ",\"sha256\":" T_STR ",\"backup\":" T_STR
			      ",\"blank\":" T_BOOL ",\"first_non_blank\":" T_INT) ","
	"\"times\":" OBJ("\"queued_s\",\"duration_s\"", "\"queued_s\":" T_NUM
			 ",\"duration_s\":" T_NUM) ","
	"\"cancel_requested\":" T_BOOL ","
	"\"error\":" OBJ("\"code\",\"message\",\"data\"",
			 "\"code\":" T_INT ",\"message\":" T_STR ",\"data\":" OBJ(
				 "\"errno\",\"op\",\"detail\"", "\"errno\":" T_STR ",\"op\":" T_STR
				 ",\"addr\":" T_STR ",\"detail\":" T_STR)));

static const char result_job[] = OBJ("\"job\"", "\"job\":" REF("Job"));
static const char result_read[] =
	OBJ("\"job\"", "\"job\":" REF("Job") ",\"data\":{\"type\":\"string\","
		       "\"contentEncoding\":\"base64\"},\"length\":" T_INT);
static const char result_chip_info[] = OBJ(
	"\"name\",\"vendor\",\"jedec_id\",\"size\",\"page_size\",\"erase_sizes\",\"voltage\","
	"\"max_clock_hz\",\"max_read_clock_hz\",\"source\",\"protection\",\"datasheet\","
	"\"spi_speed_hz\"",
	"\"name\":" T_STR ",\"vendor\":" T_STR ",\"jedec_id\":{\"type\":\"string\","
	"\"pattern\":\"^[0-9a-f]{6}$\"},\"size\":" T_INT ",\"page_size\":" T_INT
	",\"erase_sizes\":{\"type\":\"array\",\"items\":" T_INT "},\"voltage\":" T_STR
	",\"max_clock_hz\":" T_INT ",\"max_read_clock_hz\":" T_INT
	",\"source\":{\"enum\":[\"database\",\"sfdp\",\"config\"]},"
	"\"protection\":" OBJ("\"description\",\"ranges\",\"srp\",\"locked\"",
			      "\"description\":" T_STR ",\"ranges\":{\"type\":\"array\",\"items\":"
			      REF("Range") "},\"srp\":" T_BOOL ",\"locked\":" T_BOOL)
	",\"datasheet\":" T_STR ",\"spi_speed_hz\":" T_INT ",\"notes\":" T_STR
	",\"read_only\":" T_BOOL);
static const char result_job_list[] =
	OBJ("\"jobs\"", "\"jobs\":{\"type\":\"array\",\"items\":" REF("Job") "}");
static const char result_backup_list[] = OBJ(
	"\"backups\"",
	"\"backups\":{\"type\":\"array\",\"items\":" OBJ(
		"\"id\",\"created\",\"job\",\"chip\",\"jedec_id\",\"bytes\",\"ranges\",\"sha256\","
		"\"complete\"",
		"\"id\":" T_STR ",\"created\":{\"type\":\"string\",\"format\":\"date-time\"},"
		"\"job\":" T_INT ",\"chip\":" T_STR ",\"jedec_id\":" T_STR ",\"bytes\":" T_INT
		",\"ranges\":{\"type\":\"array\",\"items\":" REF("Range") "},\"sha256\":" T_STR
		",\"complete\":" T_BOOL) "}");
static const char result_daemon_info[] = OBJ(
	"\"version\",\"backend\",\"spi_speed_hz\",\"uptime_s\",\"listen\",\"state_dir\","
	"\"chip_present\"",
	"\"version\":" T_STR ",\"backend\":" T_STR ",\"spi_speed_hz\":" T_INT
	",\"uptime_s\":" T_NUM ",\"listen\":{\"type\":\"array\",\"items\":" T_STR "}"
	",\"state_dir\":" T_STR ",\"chip_present\":" T_BOOL);
static const char result_settings[] = OBJ(
	"\"spi_speed_hz\",\"log_level\"",
	"\"spi_speed_hz\":" T_INT ",\"log_level\":{\"enum\":[\"err\",\"warning\",\"notice\","
	"\"info\",\"debug\"]}");

#define ERRORS(...)                                                                                \
	(const char *const[])                                                                      \
	{                                                                                          \
		__VA_ARGS__, NULL                                                                  \
	}
#define JOB_ERRORS "EBUSY", "ESHUTDOWN"

static const struct rpc_method methods[] = {
	{ .name = "chip.info", .fn = m_chip_info,
	  .summary = "Identity, geometry and protection of the chip",
	  .params_schema_json = NO_PARAMS, .result_schema_json = result_chip_info,
	  .errors = ERRORS("ENODEV") },
	{ .name = "chip.probe", .call_fn = m_chip_probe,
	  .summary = "Identify the chip again (job)",
	  .params_schema_json = SCHEMA("\"wait\"", "", P_WAIT),
	  .result_schema_json = result_job, .errors = ERRORS(JOB_ERRORS) },
	{ .name = "chip.unlock", .call_fn = m_chip_unlock,
	  .summary = "Clear write protection (job)",
	  .params_schema_json = SCHEMA("\"wait\"", "", P_WAIT),
	  .result_schema_json = result_job, .errors = ERRORS("ENODEV", JOB_ERRORS) },
	{ .name = "flash.read", .call_fn = m_flash_read,
	  .summary = "Read up to 1 MiB, returned as base64 (job, waited for)",
	  .params_schema_json = SCHEMA("\"offset\",\"length\",\"passes\",\"wait\"",
				       "\"length\"",
				       P_INT("offset") ",\"length\":{\"type\":\"integer\","
				       "\"minimum\":1,\"maximum\":1048576}," P_INT("passes")
				       "," P_WAIT),
	  .result_schema_json = result_read,
	  .errors = ERRORS("ENODEV", "EFBIG", "ERANGE", "EMSGSIZE", JOB_ERRORS) },
	{ .name = "flash.write", .call_fn = m_flash_write,
	  .summary = "Write up to 1 MiB of base64 data (job)",
	  .params_schema_json = SCHEMA(
		  "\"offset\",\"data\",\"mode\",\"verify\",\"unlock\",\"preserve\",\"wait\"",
		  "\"data\"",
		  P_INT("offset") "," P_DATA ",\"mode\":{\"enum\":[\"smart\",\"full\"]},"
		  P_BOOL("verify") "," P_BOOL("unlock") "," P_BOOL("preserve") "," P_WAIT),
	  .result_schema_json = result_job,
	  .errors = ERRORS("ENODEV", "EFBIG", "ERANGE", JOB_ERRORS) },
	{ .name = "flash.verify", .call_fn = m_flash_verify,
	  .summary = "Compare up to 1 MiB of base64 data with the chip (job)",
	  .params_schema_json = SCHEMA("\"offset\",\"data\",\"wait\"", "\"data\"",
				       P_INT("offset") "," P_DATA "," P_WAIT),
	  .result_schema_json = result_job,
	  .errors = ERRORS("ENODEV", "EFBIG", "ERANGE", JOB_ERRORS) },
	{ .name = "flash.erase", .call_fn = m_flash_erase,
	  .summary = "Erase a range or the whole chip (job)",
	  .params_schema_json = SCHEMA(
		  "\"offset\",\"length\",\"whole_chip\",\"unlock\",\"preserve\",\"backup\","
		  "\"wait\"",
		  "", P_INT("offset") "," P_INT("length") "," P_BOOL("whole_chip") ","
		  P_BOOL("unlock") "," P_BOOL("preserve") "," P_BOOL("backup") "," P_WAIT),
	  .result_schema_json = result_job,
	  .errors = ERRORS("ENODEV", "EFBIG", "ERANGE", JOB_ERRORS) },
	{ .name = "flash.blank_check", .call_fn = m_flash_blank_check,
	  .summary = "Is a range all 0xFF? (job)",
	  .params_schema_json = SCHEMA("\"offset\",\"length\",\"wait\"", "",
				       P_INT("offset") "," P_INT("length") "," P_WAIT),
	  .result_schema_json = result_job,
	  .errors = ERRORS("ENODEV", "EFBIG", "ERANGE", JOB_ERRORS) },
	{ .name = "job.list", .fn = m_job_list,
	  .summary = "Running, queued and recent jobs, newest first",
	  .params_schema_json = NO_PARAMS, .result_schema_json = result_job_list },
	{ .name = "job.get", .call_fn = m_job_get,
	  .summary = "One job's record; a finished read's data too",
	  .params_schema_json = SCHEMA("\"id\",\"wait\"", "\"id\"", P_INT("id") "," P_WAIT),
	  .result_schema_json = result_read, .errors = ERRORS("ENOENT", "EMSGSIZE") },
	{ .name = "job.cancel", .fn = m_job_cancel,
	  .summary = "Stop a job at its next safe boundary",
	  .params_schema_json = SCHEMA("\"id\"", "\"id\"", P_INT("id")),
	  .result_schema_json = result_job, .errors = ERRORS("ENOENT") },
	{ .name = "backup.list", .fn = m_backup_list,
	  .summary = "Saved previous contents, newest first",
	  .params_schema_json = NO_PARAMS, .result_schema_json = result_backup_list,
	  .errors = ERRORS("EIO") },
	{ .name = "backup.restore", .call_fn = m_backup_restore,
	  .summary = "Write a backup back to the chip (job)",
	  .params_schema_json = SCHEMA("\"id\",\"unlock\",\"wait\"", "\"id\"",
				       "\"id\":{\"type\":\"string\"}," P_BOOL("unlock") ","
				       P_WAIT),
	  .result_schema_json = result_job,
	  .errors = ERRORS("ENOENT", "ENODEV", JOB_ERRORS) },
	{ .name = "daemon.info", .fn = m_daemon_info,
	  .summary = "Version, backend, bus and uptime", .params_schema_json = NO_PARAMS,
	  .result_schema_json = result_daemon_info },
	{ .name = "settings.get", .fn = m_settings_get, .summary = "Runtime settings",
	  .params_schema_json = NO_PARAMS, .result_schema_json = result_settings },
	{ .name = "settings.set", .fn = m_settings_set,
	  .summary = "Change the SPI clock or the log level",
	  .params_schema_json = SCHEMA(
		  "\"spi_speed_hz\",\"log_level\"", "",
		  "\"spi_speed_hz\":{\"type\":\"integer\",\"minimum\":1},"
		  "\"log_level\":{\"enum\":[\"err\",\"warning\",\"notice\",\"info\","
		  "\"debug\"]}"),
	  .result_schema_json = result_settings },
};

int rpc_methods_register(struct rpc_registry *reg, struct engine *engine,
			 const struct rpc_daemon_info *info, void **ret_ctx)
{
	struct ctx *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->engine = engine;
	c->info = info;
	r = rpc_registry_add_schema(reg, "Range", schema_range);
	if (r >= 0)
		r = rpc_registry_add_schema(reg, "Job", schema_job);
	if (r >= 0)
		r = rpc_registry_add_table(reg, methods, ARRAY_SIZE(methods));
	if (r >= 0)
		r = waiter_new(&c->waiter);
	if (r < 0) {
		free(c);
		return r;
	}
	*ret_ctx = c;
	return 0;
}

void rpc_methods_free(void *ctx)
{
	struct ctx *c = ctx;

	if (!c)
		return;
	waiter_free(c->waiter);
	free(c);
}
