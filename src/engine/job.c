/* SPDX-License-Identifier: MIT */
/*
 * job.c - the job object: refcount, params, state machine, progress, ranges, error, result.
 *
 * Invariants: params never change after job_new(), so they are read without a lock. The
 * state only moves forward (QUEUED -> RUNNING -> terminal, or QUEUED -> terminal) and is
 * written under the mutex but also published in an atomic so status pollers and the worker's
 * hot path never take the mutex. Progress (per phase: done, total, estimate, time spent) is
 * atomics only; the worker adds to `done` once per page. Ranges of a job that tracks them
 * (job_track_ranges) are bitmaps of atomic words, one bit per erase unit or page: the worker
 * sets bits with one atomic OR per command and a snapshot renders them as merged ranges
 * without the mutex, so they are exact and their size is fixed before the job runs.
 * Untracked kinds (MISMATCH, or a job without geometry) go to a short list behind the mutex.
 * Everything else (error, digests, timings, callbacks) sits behind the mutex.
 *
 * Completion: job_finish() flips the state under the mutex and takes the callback list; the
 * callbacks run outside the mutex on the finishing thread; then `settled` is set and waiters
 * are woken. So job_wait() returning means every callback has returned, and a callback
 * registered after the state flipped runs immediately on the registering thread: each
 * callback runs exactly once.
 */
#include "job.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

struct finish_cb {
	job_finish_fn fn;
	void *ctx;
	struct finish_cb *next;
};

struct range_list {
	struct job_range *v; /* JOB_RANGES_MAX, allocated on first use */
	size_t n;
	uint64_t dropped;
	uint64_t dropped_bytes;
};

/* One bit per gran bytes of [base, base+len); fields are fixed before words is published. */
struct range_bits {
	_Atomic(_Atomic uint64_t *) words;
	uint32_t base;
	uint64_t len;
	uint32_t gran;
	size_t n_bits;
};

struct job {
	atomic_uint refcount;
	uint64_t id;
	struct job_params params;

	struct blockq *stream;
	uint8_t *inline_data; /* WRITE/VERIFY input copy */
	uint8_t *result;      /* READ result buffer */
	size_t result_cap;

	/* lock-free */
	_Atomic int state;
	_Atomic int phase;
	_Atomic uint64_t ph_done[_JOB_PHASE_MAX];
	_Atomic uint64_t ph_total[_JOB_PHASE_MAX];
	_Atomic uint64_t ph_est_ns[_JOB_PHASE_MAX];
	_Atomic uint64_t ph_spent_ns[_JOB_PHASE_MAX]; /* time in the phase before phase_start_ns */
	_Atomic uint64_t phase_start_ns;              /* 0 once the job finished */
	atomic_bool cancel;
	struct range_bits bits[_JOB_RANGE_KIND_MAX];

	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool settled; /* terminal and callbacks have returned */
	struct finish_cb *cbs, **cbs_tail;

	bool has_error;
	struct job_error error;
	bool has_digests;
	uint32_t crc32;
	char sha256[65];
	struct range_list ranges[_JOB_RANGE_KIND_MAX];
	uint64_t created_ns, started_ns, finished_ns;
	uint64_t created_rt_ns, started_rt_ns, finished_rt_ns;
	char backup_id[JOB_BACKUP_ID_SIZE];
	bool blank_known, blank;
	uint32_t first_nonblank;
	size_t result_len;
};

static atomic_uint_fast64_t next_job_id = 1;

static const char *const type_names[_JOB_TYPE_MAX] = {
	[JOB_PROBE] = "probe",
	[JOB_READ] = "read",
	[JOB_ERASE] = "erase",
	[JOB_WRITE] = "write",
	[JOB_VERIFY] = "verify",
	[JOB_BLANK_CHECK] = "blank_check",
	[JOB_UNLOCK] = "unlock",
	[JOB_RESTORE] = "restore",
};

static const char *const state_names[_JOB_STATE_MAX] = {
	[JOB_QUEUED] = "queued",
	[JOB_RUNNING] = "running",
	[JOB_DONE] = "done",
	[JOB_FAILED] = "failed",
	[JOB_CANCELLED] = "cancelled",
	[JOB_INTERRUPTED] = "interrupted",
};

static const char *const phase_names[_JOB_PHASE_MAX] = {
	[JOB_PHASE_NONE] = "none",
	[JOB_PHASE_BACKUP] = "backup",
	[JOB_PHASE_READING] = "reading",
	[JOB_PHASE_ERASING] = "erasing",
	[JOB_PHASE_PROGRAMMING] = "programming",
	[JOB_PHASE_VERIFYING] = "verifying",
};

const char *job_type_name(enum job_type type)
{
	return (unsigned)type < _JOB_TYPE_MAX ? type_names[type] : "unknown";
}

const char *job_state_name(enum job_state state)
{
	return (unsigned)state < _JOB_STATE_MAX ? state_names[state] : "unknown";
}

const char *job_phase_name(enum job_phase phase)
{
	return (unsigned)phase < _JOB_PHASE_MAX ? phase_names[phase] : "unknown";
}

int job_type_from_name(const char *name, enum job_type *ret_type)
{
	if (!name)
		return -EINVAL;
	for (unsigned i = 0; i < _JOB_TYPE_MAX; i++) {
		if (strcmp(name, type_names[i]) == 0) {
			*ret_type = (enum job_type)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool job_state_is_terminal(enum job_state state)
{
	return state == JOB_DONE || state == JOB_FAILED || state == JOB_CANCELLED ||
	       state == JOB_INTERRUPTED;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

void job_params_init(struct job_params *p, enum job_type type)
{
	*p = (struct job_params){
		.type = type,
		.write_mode = JOB_WRITE_SMART,
		.verify = true,
		.preserve = true,
		.read_passes = 1,
		.data = JOB_DATA_NONE,
	};
}

static int validate(const struct job_params *p)
{
	if ((unsigned)p->type >= _JOB_TYPE_MAX || (unsigned)p->write_mode >= _JOB_WRITE_MODE_MAX ||
	    (unsigned)p->data >= _JOB_DATA_MAX)
		return -EINVAL;
	if (p->read_passes < 1 || p->read_passes > JOB_READ_PASSES_MAX)
		return -EINVAL;
	if (p->type == JOB_RESTORE && (p->backup_id[0] == '\0' ||
				       !memchr(p->backup_id, '\0', sizeof(p->backup_id))))
		return -EINVAL;
	if (p->data == JOB_DATA_BUFFER) {
		switch (p->type) {
		case JOB_READ:
			if (p->whole_chip || p->len == 0 || p->len > JOB_INLINE_MAX)
				return -EINVAL;
			break;
		case JOB_WRITE:
		case JOB_VERIFY:
			if (p->len > JOB_INLINE_MAX || p->buf_len != p->len ||
			    (p->len > 0 && !p->buf))
				return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
	}
	if (p->data == JOB_DATA_STREAM && p->type != JOB_READ && p->type != JOB_WRITE &&
	    p->type != JOB_VERIFY)
		return -EINVAL;
	if ((p->type == JOB_WRITE || p->type == JOB_VERIFY) && p->data == JOB_DATA_NONE)
		return -EINVAL;
	return 0;
}

int job_new(const struct job_params *params, struct job **ret_job)
{
	struct job *job;
	pthread_condattr_t attr;
	int r;

	r = validate(params);
	if (r < 0)
		return r;

	job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	job->params = *params;
	job->params.buf = NULL;
	job->params.buf_len = 0;
	job->cbs_tail = &job->cbs;

	if (params->data == JOB_DATA_STREAM) {
		size_t bs = params->stream_block_size ? params->stream_block_size
						      : JOB_STREAM_BLOCK_SIZE_DEFAULT;
		size_t nb = params->stream_blocks ? params->stream_blocks
						  : JOB_STREAM_BLOCKS_DEFAULT;

		r = blockq_new(bs, nb, &job->stream);
		if (r < 0)
			goto err_free;
		job->params.stream_block_size = bs;
		job->params.stream_blocks = nb;
	} else if (params->data == JOB_DATA_BUFFER && params->type == JOB_READ) {
		job->result_cap = (size_t)params->len;
		job->result = malloc(job->result_cap);
		if (!job->result) {
			r = -ENOMEM;
			goto err_free;
		}
	} else if (params->data == JOB_DATA_BUFFER && params->len > 0) {
		job->inline_data = malloc((size_t)params->len);
		if (!job->inline_data) {
			r = -ENOMEM;
			goto err_free;
		}
		memcpy(job->inline_data, params->buf, (size_t)params->len);
		job->params.buf = job->inline_data;
		job->params.buf_len = (size_t)params->len;
	}

	r = -pthread_mutex_init(&job->lock, NULL);
	if (r)
		goto err_free;
	r = -pthread_condattr_init(&attr);
	if (r)
		goto err_lock;
	r = -pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!r)
		r = -pthread_cond_init(&job->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (r)
		goto err_lock;

	atomic_init(&job->refcount, 1);
	atomic_init(&job->state, JOB_QUEUED);
	atomic_init(&job->phase, JOB_PHASE_NONE);
	job->created_ns = fclock_mono_ns();
	job->created_rt_ns = realtime_ns();
	job->id = atomic_fetch_add(&next_job_id, 1);
	*ret_job = job;
	return 0;

err_lock:
	pthread_mutex_destroy(&job->lock);
err_free:
	blockq_free(job->stream);
	free(job->inline_data);
	free(job->result);
	free(job);
	return r;
}

struct job *job_ref(struct job *job)
{
	unsigned int old = atomic_fetch_add_explicit(&job->refcount, 1, memory_order_relaxed);

	assert(old > 0);
	(void)old;
	return job;
}

void job_unref(struct job *job)
{
	struct finish_cb *cb, *next;

	if (!job)
		return;
	if (atomic_fetch_sub_explicit(&job->refcount, 1, memory_order_acq_rel) != 1)
		return;

	for (cb = job->cbs; cb; cb = next) {
		next = cb->next;
		free(cb);
	}
	for (unsigned i = 0; i < _JOB_RANGE_KIND_MAX; i++) {
		free(job->ranges[i].v);
		free((void *)atomic_load_explicit(&job->bits[i].words, memory_order_relaxed));
	}
	pthread_cond_destroy(&job->cond);
	pthread_mutex_destroy(&job->lock);
	blockq_free(job->stream);
	free(job->inline_data);
	free(job->result);
	free(job);
}

uint64_t job_get_id(const struct job *job)
{
	return job->id;
}

enum job_type job_get_type(const struct job *job)
{
	return job->params.type;
}

enum job_state job_get_state(const struct job *job)
{
	return (enum job_state)atomic_load_explicit(&job->state, memory_order_acquire);
}

const struct job_params *job_get_params(const struct job *job)
{
	return &job->params;
}

enum job_phase job_get_phase(const struct job *job)
{
	return (enum job_phase)atomic_load_explicit(&job->phase, memory_order_relaxed);
}

void job_get_progress(const struct job *job, uint64_t *ret_done, uint64_t *ret_total)
{
	int ph = atomic_load_explicit(&job->phase, memory_order_relaxed);

	if (ret_done)
		*ret_done = atomic_load_explicit(&job->ph_done[ph], memory_order_relaxed);
	if (ret_total)
		*ret_total = atomic_load_explicit(&job->ph_total[ph], memory_order_relaxed);
}

struct blockq *job_stream(struct job *job)
{
	return job->stream;
}

const uint8_t *job_inline_data(const struct job *job, size_t *ret_len)
{
	if (ret_len)
		*ret_len = job->inline_data ? job->params.buf_len : 0;
	return job->inline_data;
}

uint8_t *job_result_buffer(struct job *job, size_t *ret_cap)
{
	if (ret_cap)
		*ret_cap = job->result_cap;
	return job->result;
}

int job_get_result(struct job *job, const uint8_t **ret_data, size_t *ret_len)
{
	enum job_state state = job_get_state(job);
	size_t len;

	if (!job_state_is_terminal(state))
		return -EAGAIN;
	if (state != JOB_DONE || !job->result)
		return -ENODATA;
	pthread_mutex_lock(&job->lock);
	len = job->result_len;
	pthread_mutex_unlock(&job->lock);
	*ret_data = job->result;
	*ret_len = len;
	return 0;
}

int job_start(struct job *job)
{
	int r = 0;

	pthread_mutex_lock(&job->lock);
	if (job_get_state(job) != JOB_QUEUED) {
		r = -EALREADY;
	} else {
		job->started_ns = fclock_mono_ns();
		job->started_rt_ns = realtime_ns();
		atomic_store_explicit(&job->phase_start_ns, job->started_ns, memory_order_relaxed);
		atomic_store_explicit(&job->state, JOB_RUNNING, memory_order_release);
	}
	pthread_mutex_unlock(&job->lock);
	return r;
}

/* Worker: leave the current phase (its time so far is banked) and enter phase. */
static void switch_phase(struct job *job, enum job_phase phase)
{
	uint64_t now = fclock_mono_ns();
	int cur = atomic_load_explicit(&job->phase, memory_order_relaxed);
	uint64_t start = atomic_load_explicit(&job->phase_start_ns, memory_order_relaxed);

	if (start && now > start)
		atomic_fetch_add_explicit(&job->ph_spent_ns[cur], now - start,
					  memory_order_relaxed);
	atomic_store_explicit(&job->phase_start_ns, now, memory_order_relaxed);
	atomic_store_explicit(&job->phase, (int)phase, memory_order_release);
}

void job_set_phase(struct job *job, enum job_phase phase, uint64_t total_bytes)
{
	assert((unsigned)phase < _JOB_PHASE_MAX);
	if ((unsigned)phase >= _JOB_PHASE_MAX)
		return;
	atomic_store_explicit(&job->ph_total[phase], total_bytes, memory_order_relaxed);
	atomic_store_explicit(&job->ph_done[phase], 0, memory_order_relaxed);
	atomic_store_explicit(&job->ph_spent_ns[phase], 0, memory_order_relaxed);
	switch_phase(job, phase);
}

void job_resume_phase(struct job *job, enum job_phase phase)
{
	assert((unsigned)phase < _JOB_PHASE_MAX);
	if ((unsigned)phase >= _JOB_PHASE_MAX ||
	    atomic_load_explicit(&job->phase, memory_order_relaxed) == (int)phase)
		return;
	switch_phase(job, phase);
}

void job_plan_phase(struct job *job, enum job_phase phase, uint64_t total_bytes, uint64_t est_ns)
{
	assert((unsigned)phase < _JOB_PHASE_MAX);
	if ((unsigned)phase >= _JOB_PHASE_MAX)
		return;
	atomic_store_explicit(&job->ph_total[phase], total_bytes, memory_order_relaxed);
	atomic_store_explicit(&job->ph_est_ns[phase], est_ns, memory_order_relaxed);
}

void job_progress_add(struct job *job, uint64_t n)
{
	int ph = atomic_load_explicit(&job->phase, memory_order_relaxed);

	atomic_fetch_add_explicit(&job->ph_done[ph], n, memory_order_relaxed);
}

int job_track_ranges(struct job *job, uint32_t base, uint64_t len, uint32_t erase_unit,
		     uint32_t page)
{
	static const enum job_range_kind kinds[] = {JOB_RANGE_ERASED, JOB_RANGE_PROGRAMMED,
						     JOB_RANGE_CHANGED};
	_Atomic uint64_t *w[ARRAY_SIZE(kinds)] = {0};
	int r = 0;

	if (len == 0 || erase_unit == 0 || page == 0 || (uint64_t)base + len > (1ull << 32))
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		uint32_t g = kinds[i] == JOB_RANGE_ERASED ? erase_unit : page;
		size_t n_bits = (size_t)((len + g - 1) / g);

		w[i] = calloc((n_bits + 63) / 64, sizeof(**w));
		if (!w[i])
			r = -ENOMEM;
	}
	pthread_mutex_lock(&job->lock);
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(kinds); i++)
		if (atomic_load_explicit(&job->bits[kinds[i]].words, memory_order_relaxed))
			r = -EALREADY;
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(kinds); i++) {
		struct range_bits *b = &job->bits[kinds[i]];

		b->base = base;
		b->len = len;
		b->gran = kinds[i] == JOB_RANGE_ERASED ? erase_unit : page;
		b->n_bits = (size_t)((len + b->gran - 1) / b->gran);
		atomic_store_explicit(&b->words, w[i], memory_order_release);
		w[i] = NULL;
	}
	pthread_mutex_unlock(&job->lock);
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		free((void *)w[i]);
	return r;
}

/* Lock-free: set the bits of [addr, addr+len) if the kind is tracked and covers it. */
static bool bits_add(struct job *job, enum job_range_kind kind, uint32_t addr, uint64_t len)
{
	struct range_bits *b = &job->bits[kind];
	_Atomic uint64_t *words = atomic_load_explicit(&b->words, memory_order_acquire);
	size_t first, last;

	if (!words || addr < b->base || (uint64_t)addr + len > (uint64_t)b->base + b->len)
		return false;
	first = (size_t)((addr - b->base) / b->gran);
	last = (size_t)(((uint64_t)addr + len - 1 - b->base) / b->gran);
	while (first <= last) {
		size_t wi = first / 64, lo = first % 64, hi = MIN((size_t)63, lo + (last - first));
		uint64_t mask = (hi == 63 ? ~0ull : ((1ull << (hi + 1)) - 1)) & ~((1ull << lo) - 1);

		atomic_fetch_or_explicit(&words[wi], mask, memory_order_relaxed);
		first += hi - lo + 1;
	}
	return true;
}

void job_add_range(struct job *job, enum job_range_kind kind, uint32_t addr, uint64_t len)
{
	struct range_list *l;

	assert((unsigned)kind < _JOB_RANGE_KIND_MAX);
	if (len == 0 || (unsigned)kind >= _JOB_RANGE_KIND_MAX)
		return;
	if (bits_add(job, kind, addr, len))
		return;
	pthread_mutex_lock(&job->lock);
	l = &job->ranges[kind];
	if (l->n > 0) {
		struct job_range *last = &l->v[l->n - 1];
		uint64_t end = (uint64_t)last->addr + last->len;

		if (addr >= last->addr && addr <= end) {
			uint64_t new_end = MAX(end, (uint64_t)addr + len);

			last->len = new_end - last->addr;
			goto out;
		}
	}
	if (!l->v)
		l->v = calloc(JOB_RANGES_MAX, sizeof(*l->v));
	if (!l->v || l->n >= JOB_RANGES_MAX) {
		l->dropped++;
		l->dropped_bytes += len;
		goto out;
	}
	l->v[l->n++] = (struct job_range){.addr = addr, .len = len};
out:
	pthread_mutex_unlock(&job->lock);
}

void job_set_digests(struct job *job, uint32_t crc32, const char *sha256_hex)
{
	pthread_mutex_lock(&job->lock);
	job->has_digests = true;
	job->crc32 = crc32;
	snprintf(job->sha256, sizeof(job->sha256), "%s", sha256_hex ? sha256_hex : "");
	pthread_mutex_unlock(&job->lock);
}

void job_set_backup_id(struct job *job, const char *id)
{
	pthread_mutex_lock(&job->lock);
	snprintf(job->backup_id, sizeof(job->backup_id), "%s", id ? id : "");
	pthread_mutex_unlock(&job->lock);
}

void job_set_blank_result(struct job *job, bool blank, uint32_t first_nonblank)
{
	pthread_mutex_lock(&job->lock);
	job->blank_known = true;
	job->blank = blank;
	job->first_nonblank = blank ? 0 : first_nonblank;
	pthread_mutex_unlock(&job->lock);
}

void job_set_result_len(struct job *job, size_t n)
{
	pthread_mutex_lock(&job->lock);
	job->result_len = MIN(n, job->result_cap);
	pthread_mutex_unlock(&job->lock);
}

/* Lock held. */
__attribute__((format(printf, 5, 0))) static void set_error_va(struct job *job, int code, const char *op, uint64_t addr,
			 const char *fmt, va_list ap)
{
	if (job->has_error)
		return;
	job->has_error = true;
	job->error.code = code < 0 ? code : -code;
	snprintf(job->error.op, sizeof(job->error.op), "%s", op ? op : "");
	job->error.has_addr = addr <= UINT32_MAX;
	job->error.addr = job->error.has_addr ? (uint32_t)addr : 0;
	if (fmt)
		vsnprintf(job->error.detail, sizeof(job->error.detail), fmt, ap);
	else
		job->error.detail[0] = '\0';
}

/* Lock held; a va_list-free wrapper for the defaults job_finish() fills in. */
static void set_error_plain(struct job *job, int code, const char *detail)
{
	if (job->has_error)
		return;
	job->has_error = true;
	job->error = (struct job_error){.code = code};
	snprintf(job->error.detail, sizeof(job->error.detail), "%s", detail);
}

void job_fail(struct job *job, int code, const char *op, uint64_t addr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pthread_mutex_lock(&job->lock);
	/* a job that already ended keeps the error (or success) it ended with */
	if (!job_state_is_terminal(job_get_state(job)))
		set_error_va(job, code, op, addr, fmt, ap);
	pthread_mutex_unlock(&job->lock);
	va_end(ap);
}

int job_finish(struct job *job, enum job_state state)
{
	struct finish_cb *cbs, *cb, *next;
	int err = 0;

	assert(job_state_is_terminal(state));
	if (!job_state_is_terminal(state))
		state = JOB_FAILED;

	pthread_mutex_lock(&job->lock);
	if (job_state_is_terminal(job_get_state(job))) {
		pthread_mutex_unlock(&job->lock);
		return -EALREADY;
	}
	/* A callback may drop the last reference its owner held; keep the job alive here. */
	job_ref(job);
	switch (state) {
	case JOB_FAILED:
		set_error_plain(job, -EIO, "failed");
		break;
	case JOB_CANCELLED:
		set_error_plain(job, -ECANCELED, "cancelled");
		break;
	case JOB_INTERRUPTED:
		set_error_plain(job, -ESHUTDOWN, "interrupted by daemon shutdown");
		break;
	default:
		break;
	}
	if (state != JOB_DONE)
		err = job->error.code < 0 ? job->error.code : -EIO;
	job->finished_ns = fclock_mono_ns();
	job->finished_rt_ns = realtime_ns();
	{
		/* the current phase's clock stops here */
		int ph = atomic_load_explicit(&job->phase, memory_order_relaxed);
		uint64_t start = atomic_exchange_explicit(&job->phase_start_ns, 0,
							  memory_order_relaxed);

		if (start && job->finished_ns > start)
			atomic_fetch_add_explicit(&job->ph_spent_ns[ph], job->finished_ns - start,
						  memory_order_relaxed);
	}
	atomic_store_explicit(&job->state, (int)state, memory_order_release);
	cbs = job->cbs;
	job->cbs = NULL;
	job->cbs_tail = &job->cbs;
	pthread_mutex_unlock(&job->lock);

	/* Wake the front end on the other end of the stream (outside our lock: hooks run). */
	if (job->stream) {
		if (err)
			blockq_abort(job->stream, err);
		else
			blockq_close(job->stream);
	}

	for (cb = cbs; cb; cb = next) {
		next = cb->next;
		cb->fn(job, cb->ctx);
		free(cb);
	}

	pthread_mutex_lock(&job->lock);
	job->settled = true;
	pthread_cond_broadcast(&job->cond);
	pthread_mutex_unlock(&job->lock);
	job_unref(job);
	return 0;
}

int job_cancel(struct job *job)
{
	if (job_state_is_terminal(job_get_state(job)))
		return -EALREADY;
	atomic_store_explicit(&job->cancel, true, memory_order_release);
	if (job->stream)
		blockq_abort(job->stream, -ECANCELED);
	return 0;
}

bool job_cancel_requested(const struct job *job)
{
	return atomic_load_explicit(&job->cancel, memory_order_acquire);
}

int job_wait(struct job *job, uint64_t timeout_ms)
{
	struct timespec deadline;
	uint64_t ns;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	timeout_ms = MIN(timeout_ms, 100ull * 365 * 24 * 3600 * 1000);
	ns = (uint64_t)deadline.tv_nsec + (timeout_ms % 1000) * NSEC_PER_MSEC;
	deadline.tv_sec += (time_t)(timeout_ms / 1000 + ns / NSEC_PER_SEC);
	deadline.tv_nsec = (long)(ns % NSEC_PER_SEC);

	pthread_mutex_lock(&job->lock);
	while (!job->settled) {
		if (pthread_cond_timedwait(&job->cond, &job->lock, &deadline) == ETIMEDOUT) {
			if (!job->settled)
				r = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&job->lock);
	return r;
}

int job_on_finish(struct job *job, job_finish_fn cb, void *ctx)
{
	struct finish_cb *node = malloc(sizeof(*node));

	if (!node)
		return -ENOMEM;
	*node = (struct finish_cb){.fn = cb, .ctx = ctx};
	pthread_mutex_lock(&job->lock);
	if (!job_state_is_terminal(job_get_state(job))) {
		*job->cbs_tail = node;
		job->cbs_tail = &node->next;
		pthread_mutex_unlock(&job->lock);
		return 0;
	}
	pthread_mutex_unlock(&job->lock);
	free(node);
	cb(job, ctx);
	return 0;
}

/* Render the set bits of b as merged ranges; counts first when out is NULL. */
static size_t bits_render(const struct range_bits *b, _Atomic uint64_t *words,
			  struct job_range *out, size_t cap)
{
	size_t n = 0, run_start = 0;
	bool in_run = false;

	for (size_t i = 0; i <= b->n_bits; i++) {
		uint64_t word = i < b->n_bits
					? atomic_load_explicit(&words[i / 64], memory_order_relaxed)
					: 0;
		bool set = (word >> (i % 64)) & 1;

		if (!(i % 64) && i + 64 <= b->n_bits && !in_run && !word) {
			i += 63; /* an empty word */
			continue;
		}
		if (set && !in_run) {
			run_start = i;
			in_run = true;
		} else if (!set && in_run) {
			uint64_t a = (uint64_t)b->base + (uint64_t)run_start * b->gran;
			uint64_t e = MIN((uint64_t)b->base + (uint64_t)i * b->gran,
					 (uint64_t)b->base + b->len);

			if (out && n < cap)
				out[n] = (struct job_range){.addr = (uint32_t)a, .len = e - a};
			n++;
			in_run = false;
		}
	}
	return n;
}

static int range_cmp(const void *x, const void *y)
{
	const struct job_range *a = x, *b = y;

	return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* Sort and merge overlapping or adjacent ranges in place; returns the new count. */
static size_t ranges_merge(struct job_range *v, size_t n)
{
	size_t out = 0;

	if (n < 2)
		return n;
	qsort(v, n, sizeof(*v), range_cmp);
	for (size_t i = 1; i < n; i++) {
		uint64_t end = (uint64_t)v[out].addr + v[out].len;

		if (v[i].addr <= end)
			v[out].len = MAX(end, (uint64_t)v[i].addr + v[i].len) - v[out].addr;
		else
			v[++out] = v[i];
	}
	return out + 1;
}

int job_snapshot(struct job *job, struct job_snapshot *ret_snap)
{
	struct job_snapshot s = {0};
	size_t list_n[_JOB_RANGE_KIND_MAX] = {0}, bits_n[_JOB_RANGE_KIND_MAX] = {0};
	_Atomic uint64_t *words[_JOB_RANGE_KIND_MAX];
	uint64_t now, start, elapsed, eta_ns = 0;
	int r = -ENOMEM;

	/* Allocate outside the mutex: the lists only grow, so their sizes now are enough. */
	pthread_mutex_lock(&job->lock);
	for (unsigned i = 0; i < _JOB_RANGE_KIND_MAX; i++)
		list_n[i] = job->ranges[i].n;
	pthread_mutex_unlock(&job->lock);
	for (unsigned i = 0; i < _JOB_RANGE_KIND_MAX; i++) {
		words[i] = atomic_load_explicit(&job->bits[i].words, memory_order_acquire);
		if (words[i])
			bits_n[i] = bits_render(&job->bits[i], words[i], NULL, 0);
		if (list_n[i] + bits_n[i] == 0)
			continue;
		s.ranges[i] = malloc((list_n[i] + bits_n[i]) * sizeof(*s.ranges[i]));
		if (!s.ranges[i])
			goto fail;
	}
	/* Bits set since counting are left for the next snapshot. */
	for (unsigned i = 0; i < _JOB_RANGE_KIND_MAX; i++)
		if (words[i])
			s.n_ranges[i] = MIN(bits_n[i], bits_render(&job->bits[i], words[i],
								     s.ranges[i], bits_n[i]));

	pthread_mutex_lock(&job->lock);
	for (unsigned i = 0; i < _JOB_RANGE_KIND_MAX; i++) {
		const struct range_list *l = &job->ranges[i];
		size_t n = MIN(l->n, list_n[i]);

		if (n)
			memcpy(s.ranges[i] + s.n_ranges[i], l->v, n * sizeof(*l->v));
		s.n_ranges[i] += n;
		s.ranges_dropped[i] = l->dropped;
		s.ranges_dropped_bytes[i] = l->dropped_bytes;
	}
	s.id = job->id;
	s.state = job_get_state(job);
	s.params = job->params;
	s.params.buf = NULL;
	s.cancel_requested = job_cancel_requested(job);
	s.has_error = job->has_error;
	s.error = job->error;
	s.has_digests = job->has_digests;
	s.crc32 = job->crc32;
	memcpy(s.sha256, job->sha256, sizeof(s.sha256));
	s.created_ns = job->created_ns;
	s.started_ns = job->started_ns;
	s.finished_ns = job->finished_ns;
	s.created_rt_ns = job->created_rt_ns;
	s.started_rt_ns = job->started_rt_ns;
	s.finished_rt_ns = job->finished_rt_ns;
	memcpy(s.backup_id, job->backup_id, sizeof(s.backup_id));
	s.blank_known = job->blank_known;
	s.blank = job->blank;
	s.first_nonblank = job->first_nonblank;
	s.result_bytes = job->result_len;
	pthread_mutex_unlock(&job->lock);
	for (unsigned i = 0; i < _JOB_RANGE_KIND_MAX; i++)
		if (words[i] && list_n[i])
			s.n_ranges[i] = ranges_merge(s.ranges[i], s.n_ranges[i]);

	/* Progress: lock-free, per phase; the current phase's clock runs until the finish. */
	s.phase = (enum job_phase)atomic_load_explicit(&job->phase, memory_order_acquire);
	start = atomic_load_explicit(&job->phase_start_ns, memory_order_relaxed);
	now = fclock_mono_ns();
	for (unsigned p = 0; p < _JOB_PHASE_MAX; p++) {
		struct job_phase_progress *pp = &s.phases[p];

		pp->total = atomic_load_explicit(&job->ph_total[p], memory_order_relaxed);
		pp->done = MIN(atomic_load_explicit(&job->ph_done[p], memory_order_relaxed),
			       pp->total);
		pp->spent_ns = atomic_load_explicit(&job->ph_spent_ns[p], memory_order_relaxed);
		if (p == (unsigned)s.phase && start && now > start)
			pp->spent_ns += now - start;
		pp->est_ns = atomic_load_explicit(&job->ph_est_ns[p], memory_order_relaxed);
	}
	s.done = s.phases[s.phase].done;
	s.total = s.phases[s.phase].total;
	elapsed = s.phases[s.phase].spent_ns;
	if (s.started_ns && elapsed > 0 && s.done > 0)
		s.rate_bps = (uint64_t)((double)s.done * (double)NSEC_PER_SEC / (double)elapsed);
	/*
	 * Time left for the whole job: each phase's remaining bytes at the rate seen in that
	 * phase, or, before it started, at the datasheet estimate the worker gave for it.
	 */
	if (s.state == JOB_RUNNING) {
		s.eta_known = true;
		for (unsigned p = 1; p < _JOB_PHASE_MAX; p++) {
			const struct job_phase_progress *pp = &s.phases[p];
			uint64_t left = pp->total - pp->done;

			if (!left)
				continue;
			if (pp->done > 0 && pp->spent_ns > 0)
				eta_ns += (uint64_t)((double)left * (double)pp->spent_ns /
						     (double)pp->done);
			else if (pp->est_ns)
				eta_ns += (uint64_t)((double)left * (double)pp->est_ns /
						     (double)pp->total);
			else
				s.eta_known = false;
		}
		s.eta_s = (eta_ns + NSEC_PER_SEC - 1) / NSEC_PER_SEC;
	}
	if (job_state_is_terminal(s.state)) {
		s.eta_s = 0;
		s.eta_known = true;
	}
	*ret_snap = s;
	return 0;
fail:
	job_snapshot_clear(&s);
	return r;
}

void job_snapshot_clear(struct job_snapshot *snap)
{
	if (!snap)
		return;
	for (unsigned i = 0; i < _JOB_RANGE_KIND_MAX; i++) {
		free(snap->ranges[i]);
		snap->ranges[i] = NULL;
		snap->n_ranges[i] = 0;
	}
}
