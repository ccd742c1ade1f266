/* SPDX-License-Identifier: MIT */
/*
 * jobq: FIFO, -EBUSY with its description, the running slot, bounded history, listing order,
 * close/drain at shutdown, and a worker thread woken by submit and close (this binary is also
 * in the 'threads' suite). No sleeps: barriers, job_wait() and timed pops only.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobq.h"

#define LONG_MS 20000

static struct job *new_job(enum job_type type)
{
	struct job_params p;
	struct job *job = NULL;

	job_params_init(&p, type);
	assert_int_equal(job_new(&p, &job), 0);
	return job;
}

static struct jobq *new_q(size_t pending, size_t history)
{
	struct jobq *q = NULL;

	assert_int_equal(jobq_new(pending, history, &q), 0);
	return q;
}

/* Submit a fresh job and return its id (the caller's reference is dropped). */
static uint64_t submit_new(struct jobq *q, enum job_type type)
{
	struct job *job = new_job(type);
	uint64_t id = job_get_id(job);

	assert_int_equal(jobq_submit(q, job), 0);
	job_unref(job);
	return id;
}

/* Worker step: pop, finish with state, done. Returns the id. */
static uint64_t run_one(struct jobq *q, enum job_state state)
{
	struct job *job;
	uint64_t id;

	assert_int_equal(jobq_pop(q, 0, &job), 0);
	id = job_get_id(job);
	assert_int_equal(job_finish(job, state), 0);
	jobq_done(q, job);
	job_unref(job);
	return id;
}

static void new_rejects_bad_bounds(void **state)
{
	struct jobq *q = (struct jobq *)0x1;

	(void)state;
	assert_int_equal(jobq_new(0, 4, &q), -EINVAL);
	assert_int_equal(jobq_new(JOBQ_PENDING_MAX + 1, 4, &q), -EINVAL);
	assert_int_equal(jobq_new(4, JOBQ_HISTORY_MAX + 1, &q), -EINVAL);
	assert_ptr_equal(q, (struct jobq *)0x1);
	jobq_free(NULL);
}

static void pop_is_fifo_and_marks_running(void **state)
{
	struct jobq *q = new_q(4, 4);
	uint64_t a = submit_new(q, JOB_ERASE), b = submit_new(q, JOB_READ);
	struct job *job, *running;

	(void)state;
	assert_int_equal(jobq_pending_count(q), 2);
	assert_int_equal(jobq_pop(q, 0, &job), 0);
	assert_int_equal(job_get_id(job), a);
	assert_int_equal(job_get_state(job), JOB_RUNNING);
	running = jobq_running(q);
	assert_ptr_equal(running, job);
	job_unref(running);
	job_finish(job, JOB_DONE);
	jobq_done(q, job);
	job_unref(job);
	assert_null(jobq_running(q));
	assert_int_equal(run_one(q, JOB_DONE), b);
	jobq_free(q);
}

static void pop_waits_with_timeout_and_refuses_while_running(void **state)
{
	struct jobq *q = new_q(2, 2);
	struct job *job = NULL, *other = NULL;

	(void)state;
	assert_int_equal(jobq_pop(q, 0, &job), -ETIMEDOUT);
	assert_int_equal(jobq_pop(q, 5, &job), -ETIMEDOUT);
	assert_null(job);
	submit_new(q, JOB_PROBE);
	submit_new(q, JOB_PROBE);
	assert_int_equal(jobq_pop(q, 0, &job), 0);
	assert_int_equal(jobq_pop(q, 0, &other), -EBUSY);
	assert_null(other);
	job_finish(job, JOB_DONE);
	jobq_done(q, job);
	job_unref(job);
	jobq_free(q); /* drops the still-pending job */
}

static void full_queue_is_busy_and_says_what_runs(void **state)
{
	struct jobq *q = new_q(1, 4);
	struct job *job, *extra = new_job(JOB_READ);
	char msg[128], tiny[8];
	uint64_t id;

	(void)state;
	assert_int_equal(jobq_describe_busy(q, msg, sizeof(msg)) > 0, 1);
	assert_string_equal(msg, "no job running, 0 queued");
	submit_new(q, JOB_ERASE);
	assert_int_equal(jobq_pop(q, 0, &job), 0);
	id = job_get_id(job);
	submit_new(q, JOB_PROBE);
	assert_int_equal(jobq_submit(q, extra), -EBUSY);

	jobq_describe_busy(q, msg, sizeof(msg));
	{
		char expect[128];

		snprintf(expect, sizeof(expect), "erase job %llu running, 1 queued",
			 (unsigned long long)id);
		assert_string_equal(msg, expect);
		job_set_phase(job, JOB_PHASE_ERASING, 1000);
		job_progress_add(job, 410);
		jobq_describe_busy(q, msg, sizeof(msg));
		snprintf(expect, sizeof(expect), "erase job %llu running (erasing 41%%), 1 queued",
			 (unsigned long long)id);
		assert_string_equal(msg, expect);
		assert_int_equal(jobq_describe_busy(q, tiny, sizeof(tiny)), (int)strlen(expect));
		assert_string_equal(tiny, "erase j");
	}
	job_finish(job, JOB_DONE);
	jobq_done(q, job);
	job_unref(job);
	assert_int_equal(jobq_submit(q, extra) == -EBUSY, 1); /* still one pending */
	job_unref(extra);
	jobq_free(q);
}

static void submit_rejects_job_not_queued(void **state)
{
	struct jobq *q = new_q(2, 2);
	struct job *job = new_job(JOB_PROBE);

	(void)state;
	job_finish(job, JOB_CANCELLED);
	assert_int_equal(jobq_submit(q, job), -EINVAL);
	job_unref(job);
	jobq_free(q);
}

static void history_is_bounded_oldest_dropped(void **state)
{
	struct jobq *q = new_q(8, 3);
	uint64_t ids[5];
	struct job *job;

	(void)state;
	for (int i = 0; i < 5; i++)
		ids[i] = submit_new(q, JOB_PROBE);
	for (int i = 0; i < 5; i++)
		assert_int_equal(run_one(q, JOB_DONE), ids[i]);
	assert_null(jobq_find(q, ids[0]));
	assert_null(jobq_find(q, ids[1]));
	for (int i = 2; i < 5; i++) {
		job = jobq_find(q, ids[i]);
		assert_non_null(job);
		assert_int_equal(job_get_id(job), ids[i]);
		assert_int_equal(job_get_state(job), JOB_DONE);
		job_unref(job);
	}
	assert_null(jobq_find(q, 0));
	jobq_free(q);
}

struct collect {
	uint64_t ids[16];
	enum job_state states[16];
	size_t n;
	size_t stop_after;
};

static int collect_cb(struct job *job, void *ctx)
{
	struct collect *c = ctx;

	c->states[c->n] = job_get_state(job);
	c->ids[c->n++] = job_get_id(job);
	return c->stop_after && c->n >= c->stop_after;
}

static void list_is_running_pending_history_newest_first(void **state)
{
	struct jobq *q = new_q(4, 4);
	uint64_t h1, h2, r, p1, p2;
	struct collect c = {.n = 0};
	struct job *job;

	(void)state;
	h1 = submit_new(q, JOB_PROBE);
	h2 = submit_new(q, JOB_PROBE);
	run_one(q, JOB_DONE);
	run_one(q, JOB_FAILED);
	r = submit_new(q, JOB_READ);
	p1 = submit_new(q, JOB_ERASE);
	p2 = submit_new(q, JOB_ERASE);
	assert_int_equal(jobq_pop(q, 0, &job), 0);
	assert_int_equal(job_get_id(job), r);

	assert_int_equal(jobq_list(q, collect_cb, &c), 0);
	assert_int_equal(c.n, 5);
	assert_int_equal(c.ids[0], r);
	assert_int_equal(c.states[0], JOB_RUNNING);
	assert_int_equal(c.ids[1], p2);
	assert_int_equal(c.ids[2], p1);
	assert_int_equal(c.states[2], JOB_QUEUED);
	assert_int_equal(c.ids[3], h2);
	assert_int_equal(c.states[3], JOB_FAILED);
	assert_int_equal(c.ids[4], h1);

	c = (struct collect){.stop_after = 2};
	assert_int_equal(jobq_list(q, collect_cb, &c), 0);
	assert_int_equal(c.n, 2);

	job_finish(job, JOB_DONE);
	jobq_done(q, job);
	job_unref(job);
	jobq_free(q);
}

static void cancel_flagged(struct job *job, void *ctx)
{
	(*(int *)ctx)++;
	job_finish(job, JOB_CANCELLED);
}

static void close_refuses_submits_and_drain_finishes_pending(void **state)
{
	struct jobq *q = new_q(4, 8);
	uint64_t a = submit_new(q, JOB_PROBE), b = submit_new(q, JOB_ERASE);
	struct job *job = NULL, *late = new_job(JOB_PROBE);
	int calls = 0;

	(void)state;
	jobq_close(q);
	jobq_close(q);
	assert_int_equal(jobq_submit(q, late), -ESHUTDOWN);
	assert_int_equal(jobq_pop(q, LONG_MS, &job), -ESHUTDOWN);
	assert_null(job);
	assert_int_equal(jobq_drain_pending(q, NULL, NULL), 2);
	assert_int_equal(jobq_pending_count(q), 0);
	job = jobq_find(q, a);
	assert_non_null(job);
	assert_int_equal(job_get_state(job), JOB_INTERRUPTED);
	job_unref(job);
	job = jobq_find(q, b);
	assert_int_equal(job_get_state(job), JOB_INTERRUPTED);
	job_unref(job);
	assert_int_equal(jobq_drain_pending(q, cancel_flagged, &calls), 0);
	assert_int_equal(calls, 0);
	job_unref(late);
	jobq_free(q);

	/* with a callback */
	q = new_q(4, 0);
	a = submit_new(q, JOB_PROBE);
	jobq_close(q);
	assert_int_equal(jobq_drain_pending(q, cancel_flagged, &calls), 1);
	assert_int_equal(calls, 1);
	assert_null(jobq_find(q, a)); /* history_len 0 keeps nothing */
	jobq_free(q);
}

static void cancel_pending_finishes_now_and_running_gets_flag(void **state)
{
	struct jobq *q = new_q(4, 8);
	uint64_t r_id = submit_new(q, JOB_ERASE), a = submit_new(q, JOB_PROBE),
		 b = submit_new(q, JOB_PROBE), c = submit_new(q, JOB_PROBE);
	struct job *running, *job;

	(void)state;
	assert_int_equal(jobq_pop(q, 0, &running), 0);
	assert_int_equal(job_get_id(running), r_id);
	assert_int_equal(jobq_cancel(q, b), 0);
	job = jobq_find(q, b);
	assert_non_null(job);
	assert_int_equal(job_get_state(job), JOB_CANCELLED);
	job_unref(job);
	assert_int_equal(jobq_pending_count(q), 2);
	assert_int_equal(jobq_cancel(q, b), -EALREADY);
	assert_int_equal(jobq_cancel(q, 999999), -ENOENT);

	assert_int_equal(jobq_cancel(q, r_id), 0);
	assert_true(job_cancel_requested(running));
	assert_int_equal(job_get_state(running), JOB_RUNNING);
	job_finish(running, JOB_CANCELLED);
	jobq_done(q, running);
	job_unref(running);
	/* FIFO order of the rest is kept */
	assert_int_equal(run_one(q, JOB_DONE), a);
	assert_int_equal(run_one(q, JOB_DONE), c);
	jobq_free(q);
}

static void pop_skips_jobs_finished_while_queued(void **state)
{
	struct jobq *q = new_q(4, 8);
	struct job *first = new_job(JOB_PROBE), *job;
	uint64_t second;

	(void)state;
	assert_int_equal(jobq_submit(q, first), 0);
	second = submit_new(q, JOB_PROBE);
	job_finish(first, JOB_CANCELLED); /* a front end gave up on it */
	assert_int_equal(jobq_pop(q, 0, &job), 0);
	assert_int_equal(job_get_id(job), second);
	job_finish(job, JOB_DONE);
	jobq_done(q, job);
	job_unref(job);
	job = jobq_find(q, job_get_id(first));
	assert_ptr_equal(job, first);
	job_unref(job);
	job_unref(first);
	jobq_free(q);
}

/* ---- threads ---- */

struct worker {
	struct jobq *q;
	pthread_barrier_t *ready;
	uint64_t seen[64];
	size_t n;
	int end_r;
};

/* A minimal worker loop: pop with a timeout, finish, done; until the queue closes. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int r;

	pthread_barrier_wait(w->ready);
	for (;;) {
		struct job *job;

		r = jobq_pop(w->q, LONG_MS, &job);
		if (r < 0)
			break;
		if (w->n < ARRAY_SIZE(w->seen))
			w->seen[w->n++] = job_get_id(job);
		job_set_phase(job, JOB_PHASE_READING, 1);
		job_progress_add(job, 1);
		job_finish(job, job_cancel_requested(job) ? JOB_CANCELLED : JOB_DONE);
		jobq_done(w->q, job);
		job_unref(job);
	}
	w->end_r = r;
	return NULL;
}

#define N_SUBMITTERS 2
#define PER_SUBMITTER 20

struct submitter {
	struct jobq *q;
	pthread_barrier_t *ready;
	uint64_t ids[PER_SUBMITTER];
	int failures;
};

static void *submitter_main(void *arg)
{
	struct submitter *s = arg;

	pthread_barrier_wait(s->ready);
	for (int i = 0; i < PER_SUBMITTER; i++) {
		struct job_params p;
		struct job *job;

		job_params_init(&p, JOB_PROBE);
		if (job_new(&p, &job) != 0) {
			s->failures++;
			continue;
		}
		s->ids[i] = job_get_id(job);
		if (jobq_submit(s->q, job) != 0 || job_wait(job, LONG_MS) != 0 ||
		    job_get_state(job) != JOB_DONE)
			s->failures++;
		job_unref(job);
	}
	return NULL;
}

static void worker_thread_runs_every_job_once_in_order(void **state)
{
	struct jobq *q = new_q(N_SUBMITTERS, 64);
	pthread_barrier_t ready;
	struct worker w = {.q = q};
	struct submitter s[N_SUBMITTERS];
	pthread_t tw, ts[N_SUBMITTERS];

	(void)state;
	pthread_barrier_init(&ready, NULL, N_SUBMITTERS + 1);
	for (int i = 0; i < N_SUBMITTERS; i++) {
		s[i] = (struct submitter){.q = q, .ready = &ready};
		assert_int_equal(pthread_create(&ts[i], NULL, submitter_main, &s[i]), 0);
	}
	/* The worker needs no start line: it blocks in jobq_pop() until jobs arrive. */
	{
		pthread_barrier_t solo;

		pthread_barrier_init(&solo, NULL, 1);
		w.ready = &solo;
		assert_int_equal(pthread_create(&tw, NULL, worker_main, &w), 0);
		pthread_barrier_wait(&ready);
		for (int i = 0; i < N_SUBMITTERS; i++)
			pthread_join(ts[i], NULL);
		jobq_close(q);
		pthread_join(tw, NULL);
		pthread_barrier_destroy(&solo);
	}
	assert_int_equal(w.end_r, -ESHUTDOWN);
	assert_int_equal(w.n, N_SUBMITTERS * PER_SUBMITTER);
	for (int i = 0; i < N_SUBMITTERS; i++) {
		size_t pos = 0;

		assert_int_equal(s[i].failures, 0);
		/* each submitter's jobs ran exactly once and in its submission order */
		for (int k = 0; k < PER_SUBMITTER; k++) {
			size_t found = SIZE_MAX;

			for (size_t j = 0; j < w.n; j++)
				if (w.seen[j] == s[i].ids[k])
					found = (found == SIZE_MAX) ? j : SIZE_MAX - 1;
			assert_true(found < w.n);
			assert_true(k == 0 || found > pos);
			pos = found;
		}
	}
	pthread_barrier_destroy(&ready);
	jobq_free(q);
}

static void close_wakes_idle_worker(void **state)
{
	struct jobq *q = new_q(2, 2);
	pthread_barrier_t ready;
	struct worker w = {.q = q, .ready = &ready, .end_r = 99};
	pthread_t tw;

	(void)state;
	pthread_barrier_init(&ready, NULL, 2);
	assert_int_equal(pthread_create(&tw, NULL, worker_main, &w), 0);
	pthread_barrier_wait(&ready);
	jobq_close(q);
	pthread_join(tw, NULL);
	assert_int_equal(w.end_r, -ESHUTDOWN);
	assert_int_equal(w.n, 0);
	pthread_barrier_destroy(&ready);
	jobq_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(new_rejects_bad_bounds),
		cmocka_unit_test(pop_is_fifo_and_marks_running),
		cmocka_unit_test(pop_waits_with_timeout_and_refuses_while_running),
		cmocka_unit_test(full_queue_is_busy_and_says_what_runs),
		cmocka_unit_test(submit_rejects_job_not_queued),
		cmocka_unit_test(history_is_bounded_oldest_dropped),
		cmocka_unit_test(list_is_running_pending_history_newest_first),
		cmocka_unit_test(close_refuses_submits_and_drain_finishes_pending),
		cmocka_unit_test(cancel_pending_finishes_now_and_running_gets_flag),
		cmocka_unit_test(pop_skips_jobs_finished_while_queued),
		cmocka_unit_test(worker_thread_runs_every_job_once_in_order),
		cmocka_unit_test(close_wakes_idle_worker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
