/* SPDX-License-Identifier: MIT */
/*
 * job: params validation and ownership, the state machine, errors, ranges, snapshots,
 * cancel, streams tied to the job's end, and completion ordering across threads (this
 * binary is also in the 'threads' suite). No sleeps: barriers and job_wait() only.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"

#define LONG_MS 20000

static struct job *new_job(enum job_type type)
{
	struct job_params p;
	struct job *job = NULL;

	job_params_init(&p, type);
	assert_int_equal(job_new(&p, &job), 0);
	return job;
}

static void names_are_stable(void **state)
{
	enum job_type t;

	(void)state;
	assert_string_equal(job_type_name(JOB_WRITE), "write");
	assert_string_equal(job_type_name(JOB_BLANK_CHECK), "blank_check");
	assert_string_equal(job_state_name(JOB_RUNNING), "running");
	assert_string_equal(job_state_name(JOB_INTERRUPTED), "interrupted");
	assert_string_equal(job_phase_name(JOB_PHASE_PROGRAMMING), "programming");
	assert_string_equal(job_type_name(_JOB_TYPE_MAX), "unknown");
	assert_string_equal(job_state_name((enum job_state)-1), "unknown");
	assert_int_equal(job_type_from_name("restore", &t), 0);
	assert_int_equal(t, JOB_RESTORE);
	assert_int_equal(job_type_from_name("Write", &t), -EINVAL);
}

static void new_assigns_increasing_ids_and_defaults(void **state)
{
	struct job *a = new_job(JOB_PROBE), *b = new_job(JOB_ERASE);
	const struct job_params *p = job_get_params(b);

	(void)state;
	assert_true(job_get_id(a) >= 1);
	assert_true(job_get_id(b) > job_get_id(a));
	assert_int_equal(job_get_state(a), JOB_QUEUED);
	assert_int_equal(job_get_type(b), JOB_ERASE);
	assert_true(p->verify);
	assert_true(p->preserve);
	assert_int_equal(p->read_passes, 1);
	assert_int_equal(p->write_mode, JOB_WRITE_SMART);
	assert_null(job_stream(a));
	job_unref(a);
	job_unref(b);
	job_unref(NULL);
}

static void new_rejects_invalid_params(void **state)
{
	struct job_params p;
	struct job *job = (struct job *)0x1;
	static uint8_t big[JOB_INLINE_MAX + 1];

	(void)state;
	job_params_init(&p, JOB_READ);
	p.read_passes = 0;
	assert_int_equal(job_new(&p, &job), -EINVAL);

	job_params_init(&p, JOB_WRITE); /* no data source */
	assert_int_equal(job_new(&p, &job), -EINVAL);

	job_params_init(&p, JOB_WRITE);
	p.data = JOB_DATA_BUFFER;
	p.buf = big;
	p.len = p.buf_len = sizeof(big);
	assert_int_equal(job_new(&p, &job), -EINVAL);

	p.len = 16;
	p.buf_len = 15; /* length mismatch */
	assert_int_equal(job_new(&p, &job), -EINVAL);

	job_params_init(&p, JOB_READ);
	p.data = JOB_DATA_BUFFER;
	p.len = JOB_INLINE_MAX + 1;
	assert_int_equal(job_new(&p, &job), -EINVAL);

	job_params_init(&p, JOB_RESTORE);
	assert_int_equal(job_new(&p, &job), -EINVAL);

	job_params_init(&p, JOB_ERASE);
	p.type = _JOB_TYPE_MAX;
	assert_int_equal(job_new(&p, &job), -EINVAL);

	job_params_init(&p, JOB_WRITE);
	p.data = JOB_DATA_STREAM;
	p.stream_block_size = BLOCKQ_MAX_BYTES;
	p.stream_blocks = 2;
	assert_int_equal(job_new(&p, &job), -EINVAL);
	assert_ptr_equal(job, (struct job *)0x1);
}

static void inline_data_is_copied(void **state)
{
	uint8_t src[100], expect[100];
	struct job_params p;
	struct job *job;
	const uint8_t *data;
	size_t len;

	(void)state;
	th_pattern(src, sizeof(src), 9);
	memcpy(expect, src, sizeof(src));
	job_params_init(&p, JOB_WRITE);
	p.data = JOB_DATA_BUFFER;
	p.buf = src;
	p.len = p.buf_len = sizeof(src);
	assert_int_equal(job_new(&p, &job), 0);
	memset(src, 0, sizeof(src));
	data = job_inline_data(job, &len);
	assert_int_equal(len, sizeof(src));
	th_assert_bytes(data, expect, len);
	assert_ptr_equal(job_get_params(job)->buf, data);
	job_unref(job);
}

static void read_result_available_only_after_done(void **state)
{
	struct job_params p;
	struct job *job;
	uint8_t *buf;
	const uint8_t *out;
	size_t cap, len;

	(void)state;
	job_params_init(&p, JOB_READ);
	p.data = JOB_DATA_BUFFER;
	p.len = 256;
	assert_int_equal(job_new(&p, &job), 0);
	buf = job_result_buffer(job, &cap);
	assert_non_null(buf);
	assert_int_equal(cap, 256);
	th_pattern(buf, cap, 5);
	job_set_result_len(job, 1000); /* clamped */
	assert_int_equal(job_get_result(job, &out, &len), -EAGAIN);
	assert_int_equal(job_start(job), 0);
	assert_int_equal(job_finish(job, JOB_DONE), 0);
	assert_int_equal(job_get_result(job, &out, &len), 0);
	assert_int_equal(len, 256);
	assert_ptr_equal(out, buf);
	job_unref(job);

	job = new_job(JOB_PROBE);
	assert_int_equal(job_finish(job, JOB_DONE), 0);
	assert_int_equal(job_get_result(job, &out, &len), -ENODATA);
	job_unref(job);
}

static void state_machine_moves_forward_only(void **state)
{
	struct job *job = new_job(JOB_ERASE);
	struct job_snapshot s;

	(void)state;
	assert_int_equal(job_start(job), 0);
	assert_int_equal(job_get_state(job), JOB_RUNNING);
	assert_int_equal(job_start(job), -EALREADY);
	assert_int_equal(job_finish(job, JOB_DONE), 0);
	assert_int_equal(job_finish(job, JOB_FAILED), -EALREADY);
	assert_int_equal(job_get_state(job), JOB_DONE);
	assert_int_equal(job_start(job), -EALREADY);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_false(s.has_error);
	assert_true(s.created_ns > 0 && s.started_ns >= s.created_ns);
	assert_true(s.finished_ns >= s.started_ns);
	assert_true(s.created_rt_ns > 0 && s.finished_rt_ns >= s.created_rt_ns);
	job_snapshot_clear(&s);
	job_unref(job);
}

static void first_error_wins_and_finish_keeps_it(void **state)
{
	struct job *job = new_job(JOB_ERASE);
	struct job_snapshot s;

	(void)state;
	job_start(job);
	job_fail(job, -ETIMEDOUT, "erase", 0x1F000, "WIP still set after %u ms", 450u);
	job_fail(job, -EIO, "program", JOB_NO_ADDR, "later");
	assert_int_equal(job_finish(job, JOB_FAILED), 0);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.state, JOB_FAILED);
	assert_true(s.has_error);
	assert_int_equal(s.error.code, -ETIMEDOUT);
	assert_string_equal(s.error.op, "erase");
	assert_true(s.error.has_addr);
	assert_int_equal(s.error.addr, 0x1F000);
	assert_string_equal(s.error.detail, "WIP still set after 450 ms");
	job_snapshot_clear(&s);
	job_unref(job);

	job = new_job(JOB_ERASE);
	job_fail(job, -EROFS, "erase", JOB_NO_ADDR, "%s", "protected");
	job_finish(job, JOB_FAILED);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_false(s.error.has_addr);
	job_snapshot_clear(&s);
	job_unref(job);
}

static void cancelled_and_interrupted_get_default_errors(void **state)
{
	struct job *a = new_job(JOB_ERASE), *b = new_job(JOB_ERASE);
	struct job_snapshot s;

	(void)state;
	assert_int_equal(job_finish(a, JOB_CANCELLED), 0); /* straight from QUEUED */
	assert_int_equal(job_snapshot(a, &s), 0);
	assert_int_equal(s.error.code, -ECANCELED);
	assert_int_equal(s.started_ns, 0);
	job_snapshot_clear(&s);
	assert_int_equal(job_finish(b, JOB_INTERRUPTED), 0);
	assert_int_equal(job_snapshot(b, &s), 0);
	assert_int_equal(s.error.code, -ESHUTDOWN);
	job_snapshot_clear(&s);
	job_unref(a);
	job_unref(b);
}

static void ranges_coalesce_and_overflow_is_counted(void **state)
{
	struct job *job = new_job(JOB_ERASE);
	struct job_snapshot s;

	(void)state;
	job_add_range(job, JOB_RANGE_ERASED, 0x0000, 0x1000);
	job_add_range(job, JOB_RANGE_ERASED, 0x1000, 0x1000); /* adjacent */
	job_add_range(job, JOB_RANGE_ERASED, 0x1800, 0x1000); /* overlapping */
	job_add_range(job, JOB_RANGE_ERASED, 0x8000, 0x1000); /* gap */
	job_add_range(job, JOB_RANGE_PROGRAMMED, 0x0000, 0x100);
	job_add_range(job, JOB_RANGE_ERASED, 0x9000, 0); /* empty: ignored */
	for (uint32_t i = 0; i < JOB_RANGES_MAX + 10; i++)
		job_add_range(job, JOB_RANGE_MISMATCH, i * 2, 1);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.n_ranges[JOB_RANGE_ERASED], 2);
	assert_int_equal(s.ranges[JOB_RANGE_ERASED][0].addr, 0);
	assert_int_equal(s.ranges[JOB_RANGE_ERASED][0].len, 0x2800);
	assert_int_equal(s.ranges[JOB_RANGE_ERASED][1].addr, 0x8000);
	assert_int_equal(s.ranges[JOB_RANGE_ERASED][1].len, 0x1000);
	assert_int_equal(s.n_ranges[JOB_RANGE_PROGRAMMED], 1);
	assert_int_equal(s.n_ranges[JOB_RANGE_CHANGED], 0);
	assert_null(s.ranges[JOB_RANGE_CHANGED]);
	assert_int_equal(s.n_ranges[JOB_RANGE_MISMATCH], JOB_RANGES_MAX);
	assert_int_equal(s.ranges_dropped[JOB_RANGE_MISMATCH], 10);
	assert_int_equal(s.ranges_dropped_bytes[JOB_RANGE_MISMATCH], 10);
	job_snapshot_clear(&s);
	job_snapshot_clear(&s); /* idempotent */
	job_unref(job);
}

static void snapshot_reports_phase_progress_digests_and_results(void **state)
{
	struct job *job = new_job(JOB_BLANK_CHECK);
	struct job_snapshot s;
	uint64_t done, total;

	(void)state;
	job_start(job);
	job_set_phase(job, JOB_PHASE_READING, 1000);
	job_progress_add(job, 400);
	job_progress_add(job, 10);
	assert_int_equal(job_get_phase(job), JOB_PHASE_READING);
	job_get_progress(job, &done, &total);
	assert_int_equal(done, 410);
	assert_int_equal(total, 1000);
	job_set_digests(job, 0x352441c2u,
			"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	job_set_backup_id(job, "20261123T071502Z-job7");
	job_set_blank_result(job, false, 0x1234);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.state, JOB_RUNNING);
	assert_int_equal(s.phase, JOB_PHASE_READING);
	assert_int_equal(s.done, 410);
	assert_int_equal(s.total, 1000);
	assert_true(s.has_digests);
	assert_int_equal(s.crc32, 0x352441c2u);
	assert_string_equal(s.sha256,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_string_equal(s.backup_id, "20261123T071502Z-job7");
	assert_true(s.blank_known);
	assert_false(s.blank);
	assert_int_equal(s.first_nonblank, 0x1234);
	job_snapshot_clear(&s);

	job_set_phase(job, JOB_PHASE_VERIFYING, 50); /* new phase restarts progress */
	job_get_progress(job, &done, &total);
	assert_int_equal(done, 0);
	assert_int_equal(total, 50);
	job_progress_add(job, 80); /* over-reporting is clamped in snapshots */
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.done, 50);
	job_snapshot_clear(&s);
	job_finish(job, JOB_DONE);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_true(s.eta_known);
	assert_int_equal(s.eta_s, 0);
	job_snapshot_clear(&s);
	job_unref(job);
}

static struct job *new_stream_job(enum job_type type)
{
	struct job_params p;
	struct job *job;

	job_params_init(&p, type);
	p.data = JOB_DATA_STREAM;
	p.len = 4096;
	p.stream_block_size = 1024;
	p.stream_blocks = 2;
	assert_int_equal(job_new(&p, &job), 0);
	return job;
}

static void cancel_sets_flag_and_aborts_stream(void **state)
{
	struct job *job = new_stream_job(JOB_WRITE);
	struct blockq_block *b;

	(void)state;
	assert_non_null(job_stream(job));
	assert_int_equal(blockq_block_size(job_stream(job)), 1024);
	assert_false(job_cancel_requested(job));
	assert_int_equal(job_cancel(job), 0);
	assert_true(job_cancel_requested(job));
	assert_int_equal(blockq_try_get_free(job_stream(job), &b), -ECANCELED);
	assert_int_equal(job_finish(job, JOB_CANCELLED), 0);
	assert_int_equal(job_cancel(job), -EALREADY);
	job_unref(job);
}

static void finish_closes_stream_on_done_and_aborts_on_failure(void **state)
{
	struct job *r = new_stream_job(JOB_READ), *w = new_stream_job(JOB_WRITE);
	struct blockq_block *b;

	(void)state;
	/* READ: the worker produced one block, then finished DONE: consumer drains, EOF */
	job_start(r);
	assert_int_equal(blockq_try_get_free(job_stream(r), &b), 0);
	assert_int_equal(blockq_push(job_stream(r), b, 7), 0);
	job_finish(r, JOB_DONE);
	assert_int_equal(blockq_try_pop(job_stream(r), &b), 1);
	assert_int_equal(b->len, 7);
	blockq_release(job_stream(r), b);
	assert_int_equal(blockq_try_pop(job_stream(r), &b), 0);

	/* WRITE failing: the uploader is told why */
	job_start(w);
	job_fail(w, -EROFS, "erase", 0, "block protected");
	job_finish(w, JOB_FAILED);
	assert_int_equal(blockq_try_get_free(job_stream(w), &b), -EROFS);
	job_unref(r);
	job_unref(w);
}

struct order {
	atomic_int seq;
	int a, b, late;
	int late_state;
};

static void cb_a(struct job *job, void *ctx)
{
	struct order *o = ctx;

	(void)job;
	o->a = atomic_fetch_add(&o->seq, 1) + 1;
}

static void cb_b(struct job *job, void *ctx)
{
	struct order *o = ctx;

	(void)job;
	o->b = atomic_fetch_add(&o->seq, 1) + 1;
}

static void cb_late(struct job *job, void *ctx)
{
	struct order *o = ctx;

	o->late = atomic_fetch_add(&o->seq, 1) + 1;
	o->late_state = job_get_state(job);
}

static void on_finish_runs_in_order_once_and_immediately_when_late(void **state)
{
	struct job *job = new_job(JOB_ERASE);
	struct order o = {0};

	(void)state;
	assert_int_equal(job_on_finish(job, cb_a, &o), 0);
	assert_int_equal(job_on_finish(job, cb_b, &o), 0);
	assert_int_equal(o.a + o.b, 0);
	job_start(job);
	job_finish(job, JOB_DONE);
	assert_int_equal(o.a, 1);
	assert_int_equal(o.b, 2);
	assert_int_equal(job_on_finish(job, cb_late, &o), 0);
	assert_int_equal(o.late, 3);
	assert_int_equal(o.late_state, JOB_DONE);
	job_finish(job, JOB_FAILED); /* -EALREADY: callbacks do not run again */
	assert_int_equal(atomic_load(&o.seq), 3);
	assert_int_equal(job_wait(job, 0), 0);
	job_unref(job);
}

static void cb_drop_ref(struct job *job, void *ctx)
{
	(void)ctx;
	job_unref(job); /* the front end's reference, dropped when it hears the end */
}

static void callback_may_drop_the_last_reference(void **state)
{
	struct job *job = new_job(JOB_ERASE);

	(void)state;
	assert_int_equal(job_on_finish(job, cb_drop_ref, NULL), 0);
	/* the only reference now belongs to the callback; ASan catches a use after free */
	assert_int_equal(job_finish(job, JOB_DONE), 0);
}

static void wait_times_out_on_unfinished_job(void **state)
{
	struct job *job = new_job(JOB_ERASE);

	(void)state;
	assert_int_equal(job_wait(job, 0), -ETIMEDOUT);
	assert_int_equal(job_wait(job, 5), -ETIMEDOUT);
	job_unref(job);
}

/* ---- threads ---- */

struct waitctx {
	struct job *job;
	pthread_barrier_t *start;
	atomic_int *cb_done;
	int wait_r;
	int cb_seen;
};

static void cb_mark(struct job *job, void *ctx)
{
	(void)job;
	atomic_store((atomic_int *)ctx, 1);
}

static void *waiter_main(void *arg)
{
	struct waitctx *w = arg;

	pthread_barrier_wait(w->start);
	w->wait_r = job_wait(w->job, LONG_MS);
	w->cb_seen = atomic_load(w->cb_done);
	return NULL;
}

static void wait_returns_after_callbacks_on_other_threads(void **state)
{
	struct job *job = new_job(JOB_ERASE);
	atomic_int cb_done = 0;
	pthread_barrier_t start;
	struct waitctx w[3];
	pthread_t t[3];

	(void)state;
	assert_int_equal(job_on_finish(job, cb_mark, &cb_done), 0);
	pthread_barrier_init(&start, NULL, 4);
	for (int i = 0; i < 3; i++) {
		w[i] = (struct waitctx){.job = job_ref(job), .start = &start, .cb_done = &cb_done};
		assert_int_equal(pthread_create(&t[i], NULL, waiter_main, &w[i]), 0);
	}
	pthread_barrier_wait(&start);
	job_start(job);
	job_finish(job, JOB_DONE);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].wait_r, 0);
		assert_int_equal(w[i].cb_seen, 1);
		job_unref(w[i].job);
	}
	pthread_barrier_destroy(&start);
	job_unref(job);
}

#define PROGRESS_STEPS 20000

struct progress_ctx {
	struct job *job;
	pthread_barrier_t start;
	int bad;
	uint64_t snapshots;
};

static void *worker_main(void *arg)
{
	struct progress_ctx *c = arg;

	pthread_barrier_wait(&c->start);
	job_start(c->job);
	job_set_phase(c->job, JOB_PHASE_PROGRAMMING, PROGRESS_STEPS * 256ull);
	for (int i = 0; i < PROGRESS_STEPS; i++) {
		job_progress_add(c->job, 256);
		if (i % 1000 == 0)
			job_add_range(c->job, JOB_RANGE_PROGRAMMED, (uint32_t)i * 256, 256);
	}
	job_set_digests(c->job, 1, "00");
	job_finish(c->job, JOB_DONE);
	return NULL;
}

static void *reader_main(void *arg)
{
	struct progress_ctx *c = arg;
	uint64_t last = 0;
	enum job_state st;

	pthread_barrier_wait(&c->start);
	do {
		struct job_snapshot s;

		st = job_get_state(c->job);
		if (job_snapshot(c->job, &s) != 0) {
			c->bad++;
			break;
		}
		if (s.phase == JOB_PHASE_PROGRAMMING) {
			if (s.done < last || s.done > s.total)
				c->bad++;
			last = s.done;
		}
		job_snapshot_clear(&s);
		c->snapshots++;
	} while (!job_state_is_terminal(st));
	return NULL;
}

static void progress_and_snapshots_race_free(void **state)
{
	struct progress_ctx c = {.job = new_job(JOB_ERASE)};
	struct job_snapshot s;
	pthread_t tw, tr;

	(void)state;
	pthread_barrier_init(&c.start, NULL, 2);
	assert_int_equal(pthread_create(&tw, NULL, worker_main, &c), 0);
	assert_int_equal(pthread_create(&tr, NULL, reader_main, &c), 0);
	pthread_join(tw, NULL);
	pthread_join(tr, NULL);
	assert_int_equal(c.bad, 0);
	assert_true(c.snapshots >= 1);
	assert_int_equal(job_snapshot(c.job, &s), 0);
	assert_int_equal(s.done, PROGRESS_STEPS * 256ull);
	assert_int_equal(s.n_ranges[JOB_RANGE_PROGRAMMED], PROGRESS_STEPS / 1000);
	job_snapshot_clear(&s);
	pthread_barrier_destroy(&c.start);
	job_unref(c.job);
}

#define REGISTRARS 4
#define PER_REGISTRAR 200

struct reg_ctx {
	struct job *job;
	pthread_barrier_t *start;
	atomic_int *calls;
	int failures;
};

static void cb_count(struct job *job, void *ctx)
{
	(void)job;
	atomic_fetch_add((atomic_int *)ctx, 1);
}

static void *registrar_main(void *arg)
{
	struct reg_ctx *r = arg;

	pthread_barrier_wait(r->start);
	for (int i = 0; i < PER_REGISTRAR; i++)
		if (job_on_finish(r->job, cb_count, r->calls) != 0)
			r->failures++;
	job_unref(r->job);
	return NULL;
}

/* Callbacks registered while the job finishes run exactly once each: no loss, no repeat. */
static void on_finish_racing_finish_runs_each_callback_once(void **state)
{
	struct job *job = new_job(JOB_ERASE);
	atomic_int calls = 0;
	pthread_barrier_t start;
	struct reg_ctx r[REGISTRARS];
	pthread_t t[REGISTRARS];

	(void)state;
	pthread_barrier_init(&start, NULL, REGISTRARS + 1);
	for (int i = 0; i < REGISTRARS; i++) {
		r[i] = (struct reg_ctx){.job = job_ref(job), .start = &start, .calls = &calls};
		assert_int_equal(pthread_create(&t[i], NULL, registrar_main, &r[i]), 0);
	}
	pthread_barrier_wait(&start);
	job_finish(job, JOB_INTERRUPTED);
	for (int i = 0; i < REGISTRARS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].failures, 0);
	}
	assert_int_equal(atomic_load(&calls), REGISTRARS * PER_REGISTRAR);
	pthread_barrier_destroy(&start);
	job_unref(job);
}

static void eta_adds_every_phase_left_at_its_estimate(void **state)
{
	struct job *job = new_job(JOB_ERASE);
	struct job_snapshot s;

	(void)state;
	job_start(job);
	job_plan_phase(job, JOB_PHASE_READING, 100, 1 * NSEC_PER_SEC);
	job_plan_phase(job, JOB_PHASE_PROGRAMMING, 1000, 10 * NSEC_PER_SEC);
	job_plan_phase(job, JOB_PHASE_VERIFYING, 0, 0); /* nothing to verify */
	job_set_phase(job, JOB_PHASE_READING, 100);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_true(s.eta_known);
	assert_int_equal(s.eta_s, 11);
	assert_int_equal(s.phases[JOB_PHASE_PROGRAMMING].total, 1000);
	assert_int_equal(s.phases[JOB_PHASE_PROGRAMMING].est_ns, 10 * NSEC_PER_SEC);
	job_snapshot_clear(&s);
	job_plan_phase(job, JOB_PHASE_ERASING, 4096, 0); /* work without an estimate */
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_false(s.eta_known);
	job_snapshot_clear(&s);
	job_unref(job);
}

static void resumed_phase_keeps_its_progress(void **state)
{
	struct job *job = new_job(JOB_ERASE);
	struct job_snapshot s;

	(void)state;
	job_start(job);
	job_set_phase(job, JOB_PHASE_ERASING, 8192);
	job_progress_add(job, 4096);
	job_set_phase(job, JOB_PHASE_PROGRAMMING, 512);
	job_progress_add(job, 256);
	job_resume_phase(job, JOB_PHASE_ERASING);
	job_progress_add(job, 4096);
	job_resume_phase(job, JOB_PHASE_PROGRAMMING);
	job_progress_add(job, 256);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.phase, JOB_PHASE_PROGRAMMING);
	assert_int_equal(s.done, 512);
	assert_int_equal(s.total, 512);
	assert_int_equal(s.phases[JOB_PHASE_ERASING].done, 8192);
	assert_int_equal(s.phases[JOB_PHASE_ERASING].total, 8192);
	assert_int_equal(s.phases[JOB_PHASE_PROGRAMMING].done, 512);
	job_snapshot_clear(&s);
	job_unref(job);
}

static void tracked_ranges_are_exact_past_the_list_limit(void **state)
{
	struct job *job = new_job(JOB_ERASE);
	struct job_snapshot s;
	const uint32_t pages = 4096;

	(void)state;
	assert_int_equal(job_track_ranges(job, 0x100000, 2 * pages * 256ull, 4096, 256), 0);
	assert_int_equal(job_track_ranges(job, 0, 4096, 4096, 256), -EALREADY);
	for (uint32_t i = 0; i < pages; i++)
		job_add_range(job, JOB_RANGE_PROGRAMMED, 0x100000 + i * 512, 256);
	job_add_range(job, JOB_RANGE_ERASED, 0x101000, 0x2000);
	job_add_range(job, JOB_RANGE_ERASED, 0x100000, 0x1000); /* out of order: merged */
	job_add_range(job, JOB_RANGE_ERASED, 0x000000, 0x1000); /* outside: the list */
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.n_ranges[JOB_RANGE_PROGRAMMED], pages);
	for (uint32_t i = 0; i < pages; i++) {
		assert_int_equal(s.ranges[JOB_RANGE_PROGRAMMED][i].addr, 0x100000 + i * 512);
		assert_int_equal(s.ranges[JOB_RANGE_PROGRAMMED][i].len, 256);
	}
	assert_int_equal(s.ranges_dropped[JOB_RANGE_PROGRAMMED], 0);
	assert_int_equal(s.n_ranges[JOB_RANGE_ERASED], 2);
	assert_int_equal(s.ranges[JOB_RANGE_ERASED][0].addr, 0);
	assert_int_equal(s.ranges[JOB_RANGE_ERASED][0].len, 0x1000);
	assert_int_equal(s.ranges[JOB_RANGE_ERASED][1].addr, 0x100000);
	assert_int_equal(s.ranges[JOB_RANGE_ERASED][1].len, 0x3000);
	job_snapshot_clear(&s);
	job_unref(job);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_are_stable),
		cmocka_unit_test(new_assigns_increasing_ids_and_defaults),
		cmocka_unit_test(new_rejects_invalid_params),
		cmocka_unit_test(inline_data_is_copied),
		cmocka_unit_test(read_result_available_only_after_done),
		cmocka_unit_test(state_machine_moves_forward_only),
		cmocka_unit_test(first_error_wins_and_finish_keeps_it),
		cmocka_unit_test(cancelled_and_interrupted_get_default_errors),
		cmocka_unit_test(ranges_coalesce_and_overflow_is_counted),
		cmocka_unit_test(eta_adds_every_phase_left_at_its_estimate),
		cmocka_unit_test(resumed_phase_keeps_its_progress),
		cmocka_unit_test(tracked_ranges_are_exact_past_the_list_limit),
		cmocka_unit_test(snapshot_reports_phase_progress_digests_and_results),
		cmocka_unit_test(cancel_sets_flag_and_aborts_stream),
		cmocka_unit_test(finish_closes_stream_on_done_and_aborts_on_failure),
		cmocka_unit_test(on_finish_runs_in_order_once_and_immediately_when_late),
		cmocka_unit_test(callback_may_drop_the_last_reference),
		cmocka_unit_test(wait_times_out_on_unfinished_job),
		cmocka_unit_test(wait_returns_after_callbacks_on_other_threads),
		cmocka_unit_test(progress_and_snapshots_race_free),
		cmocka_unit_test(on_finish_racing_finish_runs_each_callback_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
