/* SPDX-License-Identifier: MIT */
/*
 * jobq.c - pending FIFO + running slot + history ring for the jobs of one bus.
 *
 * Design (after Redis bio.c): one mutex guards all three containers; the worker sleeps on
 * cond_work (a submit or close signals it) and nobody else ever blocks on the queue, so a
 * full queue answers -EBUSY at once instead of making a front end wait. Rings are
 * preallocated at jobq_new() from the two bounds, so submit never allocates. Each listed job
 * carries one queue-owned reference; moving between containers moves that reference.
 *
 * FIFO: pending jobs are popped in submission order. The history ring keeps the newest
 * history_len finished jobs.
 */
#include "jobq.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"

struct ring {
	struct job **v;
	size_t cap, head, count;
};

struct jobq {
	pthread_mutex_t lock;
	pthread_cond_t cond_work;
	struct ring pending;
	struct ring history;
	struct job *running;
	bool closed;
};

static void ring_push(struct ring *r, struct job *job)
{
	r->v[(r->head + r->count) % r->cap] = job;
	r->count++;
}

static struct job *ring_shift(struct ring *r)
{
	struct job *job = r->v[r->head];

	r->head = (r->head + 1) % r->cap;
	r->count--;
	return job;
}

/* i-th entry counted from the newest. */
static struct job *ring_newest(const struct ring *r, size_t i)
{
	return r->v[(r->head + r->count - 1 - i) % r->cap];
}

int jobq_new(size_t max_pending, size_t history_len, struct jobq **ret_q)
{
	struct jobq *q;
	pthread_condattr_t attr;
	int r;

	if (max_pending < 1 || max_pending > JOBQ_PENDING_MAX || history_len > JOBQ_HISTORY_MAX)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->pending.cap = max_pending;
	q->history.cap = history_len;
	q->pending.v = calloc(max_pending, sizeof(*q->pending.v));
	/* cap 0 still gets one slot so the ring arithmetic never divides by zero. */
	q->history.v = calloc(MAX(history_len, 1), sizeof(*q->history.v));
	r = -ENOMEM;
	if (!q->pending.v || !q->history.v)
		goto err_mem;
	r = -pthread_mutex_init(&q->lock, NULL);
	if (r)
		goto err_mem;
	r = -pthread_condattr_init(&attr);
	if (r)
		goto err_lock;
	r = -pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!r)
		r = -pthread_cond_init(&q->cond_work, &attr);
	pthread_condattr_destroy(&attr);
	if (r)
		goto err_lock;
	*ret_q = q;
	return 0;

err_lock:
	pthread_mutex_destroy(&q->lock);
err_mem:
	free(q->pending.v);
	free(q->history.v);
	free(q);
	return r;
}

void jobq_free(struct jobq *q)
{
	if (!q)
		return;
	job_unref(q->running);
	while (q->pending.count)
		job_unref(ring_shift(&q->pending));
	while (q->history.count)
		job_unref(ring_shift(&q->history));
	pthread_cond_destroy(&q->cond_work);
	pthread_mutex_destroy(&q->lock);
	free(q->pending.v);
	free(q->history.v);
	free(q);
}

int jobq_submit(struct jobq *q, struct job *job)
{
	int r = 0;

	if (job_get_state(job) != JOB_QUEUED)
		return -EINVAL;
	pthread_mutex_lock(&q->lock);
	if (q->closed)
		r = -ESHUTDOWN;
	else if (q->pending.count >= q->pending.cap)
		r = -EBUSY;
	else {
		ring_push(&q->pending, job_ref(job));
		pthread_cond_signal(&q->cond_work);
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

int jobq_describe_busy(struct jobq *q, char *buf, size_t len)
{
	struct job *running;
	size_t pending;
	int n;

	pthread_mutex_lock(&q->lock);
	running = q->running ? job_ref(q->running) : NULL;
	pending = q->pending.count;
	pthread_mutex_unlock(&q->lock);

	if (running) {
		enum job_phase phase = job_get_phase(running);
		uint64_t done, total;
		unsigned pct = 0;

		/* Lock-free reads: a busy answer must not wait for the worker. */
		job_get_progress(running, &done, &total);
		if (total > 0)
			pct = (unsigned)(MIN(done, total) * 100 / total);
		if (phase != JOB_PHASE_NONE)
			n = snprintf(buf, len, "%s job %llu running (%s %u%%), %zu queued",
				     job_type_name(job_get_type(running)),
				     (unsigned long long)job_get_id(running),
				     job_phase_name(phase), pct, pending);
		else
			n = snprintf(buf, len, "%s job %llu running, %zu queued",
				     job_type_name(job_get_type(running)),
				     (unsigned long long)job_get_id(running), pending);
		job_unref(running);
	} else {
		n = snprintf(buf, len, "no job running, %zu queued", pending);
	}
	return n;
}

/* Lock held; consumes the queue's reference on job; returns a reference to drop. */
static struct job *history_add_locked(struct jobq *q, struct job *job)
{
	struct job *drop = NULL;

	if (q->history.cap == 0)
		return job;
	if (q->history.count == q->history.cap)
		drop = ring_shift(&q->history);
	ring_push(&q->history, job);
	return drop;
}

int jobq_pop(struct jobq *q, uint64_t timeout_ms, struct job **ret_job)
{
	struct timespec deadline;
	struct job *job;
	uint64_t ns;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	timeout_ms = MIN(timeout_ms, 100ull * 365 * 24 * 3600 * 1000);
	ns = (uint64_t)deadline.tv_nsec + (timeout_ms % 1000) * NSEC_PER_MSEC;
	deadline.tv_sec += (time_t)(timeout_ms / 1000 + ns / NSEC_PER_SEC);
	deadline.tv_nsec = (long)(ns % NSEC_PER_SEC);

	pthread_mutex_lock(&q->lock);
again:
	r = 0;
	for (;;) {
		if (q->closed) {
			r = -ESHUTDOWN;
			break;
		}
		if (q->running) {
			r = -EBUSY;
			break;
		}
		if (q->pending.count > 0)
			break;
		if (pthread_cond_timedwait(&q->cond_work, &q->lock, &deadline) == ETIMEDOUT &&
		    q->pending.count == 0 && !q->closed) {
			r = -ETIMEDOUT;
			break;
		}
	}
	if (r == 0) {
		job = ring_shift(&q->pending);
		/*
		 * Someone finished it while it waited (job_finish() on a queued job): it never
		 * runs; file it and look again without waiting anew.
		 */
		if (job_state_is_terminal(job_get_state(job))) {
			struct job *drop = history_add_locked(q, job);

			pthread_mutex_unlock(&q->lock);
			job_unref(drop);
			pthread_mutex_lock(&q->lock);
			goto again;
		}
		q->running = job;
		/*
		 * Under the queue lock, so nobody sees a running job that is still QUEUED.
		 * job_start() takes only the job's own mutex (lock order: queue, then job).
		 */
		(void)job_start(job);
		*ret_job = job_ref(job);
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

void jobq_done(struct jobq *q, struct job *job)
{
	struct job *drop = NULL;

	pthread_mutex_lock(&q->lock);
	if (q->running == job) {
		q->running = NULL;
		drop = history_add_locked(q, job);
	} else {
		drop = history_add_locked(q, job_ref(job));
	}
	pthread_mutex_unlock(&q->lock);
	/* The last unref may free a stream; keep that outside the lock. */
	job_unref(drop);
}

struct job *jobq_find(struct jobq *q, uint64_t id)
{
	struct job *found = NULL;

	pthread_mutex_lock(&q->lock);
	if (q->running && job_get_id(q->running) == id)
		found = q->running;
	for (size_t i = 0; !found && i < q->pending.count; i++) {
		struct job *j = ring_newest(&q->pending, i);

		if (job_get_id(j) == id)
			found = j;
	}
	for (size_t i = 0; !found && i < q->history.count; i++) {
		struct job *j = ring_newest(&q->history, i);

		if (job_get_id(j) == id)
			found = j;
	}
	if (found)
		job_ref(found);
	pthread_mutex_unlock(&q->lock);
	return found;
}

struct job *jobq_running(struct jobq *q)
{
	struct job *job;

	pthread_mutex_lock(&q->lock);
	job = q->running ? job_ref(q->running) : NULL;
	pthread_mutex_unlock(&q->lock);
	return job;
}

size_t jobq_pending_count(struct jobq *q)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	n = q->pending.count;
	pthread_mutex_unlock(&q->lock);
	return n;
}

int jobq_list(struct jobq *q, jobq_list_fn cb, void *ctx)
{
	struct job **all;
	size_t n = 0, cap;
	int stop = 0;

	/* Bounded by the ring sizes fixed at jobq_new(). */
	cap = 1 + q->pending.cap + q->history.cap;
	all = calloc(cap, sizeof(*all));
	if (!all)
		return -ENOMEM;
	pthread_mutex_lock(&q->lock);
	if (q->running)
		all[n++] = job_ref(q->running);
	for (size_t i = 0; i < q->pending.count; i++)
		all[n++] = job_ref(ring_newest(&q->pending, i));
	for (size_t i = 0; i < q->history.count; i++)
		all[n++] = job_ref(ring_newest(&q->history, i));
	pthread_mutex_unlock(&q->lock);

	for (size_t i = 0; i < n; i++) {
		if (!stop)
			stop = cb(all[i], ctx);
		job_unref(all[i]);
	}
	free(all);
	return 0;
}

void jobq_close(struct jobq *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->cond_work);
	pthread_mutex_unlock(&q->lock);
}

size_t jobq_drain_pending(struct jobq *q, jobq_drain_fn cb, void *ctx)
{
	size_t n = 0;

	for (;;) {
		struct job *job;

		pthread_mutex_lock(&q->lock);
		if (q->pending.count == 0) {
			pthread_mutex_unlock(&q->lock);
			break;
		}
		job = ring_shift(&q->pending);
		pthread_mutex_unlock(&q->lock);

		if (cb)
			cb(job, ctx);
		else
			(void)job_finish(job, JOB_INTERRUPTED);
		jobq_done(q, job);
		job_unref(job); /* the pending reference; jobq_done took its own */
		n++;
	}
	return n;
}

int jobq_cancel(struct jobq *q, uint64_t id)
{
	struct job *job = NULL, *drop = NULL;
	bool was_pending = false;
	int r;

	pthread_mutex_lock(&q->lock);
	if (q->running && job_get_id(q->running) == id) {
		job = job_ref(q->running);
	} else {
		for (size_t i = 0; i < q->pending.count; i++) {
			size_t pos = (q->pending.head + i) % q->pending.cap;

			if (job_get_id(q->pending.v[pos]) != id)
				continue;
			job = q->pending.v[pos]; /* takes over the pending reference */
			/* close the gap, keeping FIFO order */
			for (size_t k = i; k + 1 < q->pending.count; k++)
				q->pending.v[(q->pending.head + k) % q->pending.cap] =
					q->pending.v[(q->pending.head + k + 1) % q->pending.cap];
			q->pending.count--;
			was_pending = true;
			break;
		}
	}
	if (!job) {
		for (size_t i = 0; i < q->history.count; i++)
			if (job_get_id(ring_newest(&q->history, i)) == id) {
				pthread_mutex_unlock(&q->lock);
				return -EALREADY;
			}
		pthread_mutex_unlock(&q->lock);
		return -ENOENT;
	}
	pthread_mutex_unlock(&q->lock);

	r = job_cancel(job);
	if (was_pending) {
		/* It never ran: finish it now instead of making it wait for its turn. */
		(void)job_finish(job, JOB_CANCELLED);
		pthread_mutex_lock(&q->lock);
		drop = history_add_locked(q, job);
		pthread_mutex_unlock(&q->lock);
		job_unref(drop);
		return 0;
	}
	job_unref(job);
	return r;
}
