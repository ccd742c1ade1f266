/* SPDX-License-Identifier: MIT */
/*
 * The engine end to end on the simulator: jobs through the queue and the worker thread, image
 * data streamed through the block queue from another thread, backups restoring exactly,
 * cancellation, busy refusal, shutdown interrupting a job. Also runs under ThreadSanitizer.
 */
#include "harness.h"
#include "simfix.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "blockq.h"
#include "clock.h"
#include "digest.h"
#include "engine.h"
#include "job.h"
#include "simchip.h"
#include "spibus.h"
#include "util.h"

struct env {
	struct simfix *f;
	struct engine *e;
	char *state;
};

/* Phases as the worker enters them, and an optional action at the Nth programming entry. */
struct phase_log {
	enum job_phase seq[4096];
	size_t n;
	struct simfix *f;
	unsigned fault_at_programming; /* 0: none */
	const char *fault;
	unsigned cancel_at_programming; /* 0: none */
	unsigned programming_entries;
};

static void log_phase(void *ctx, struct job *job, enum job_phase phase)
{
	struct phase_log *l = ctx;
	char msg[128];

	if (l->n < ARRAY_SIZE(l->seq))
		l->seq[l->n++] = phase;
	if (phase == JOB_PHASE_PROGRAMMING && ++l->programming_entries == l->fault_at_programming)
		assert_int_equal(simchip_fault_parse(l->f->sim, l->fault, msg, sizeof(msg)), 0);
	if (phase == JOB_PHASE_PROGRAMMING && l->programming_entries == l->cancel_at_programming)
		assert_int_equal(job_cancel(job), 0);
}

static unsigned env_backup_max_count; /* 0: the default */

static struct env *env_open_cfg(const char *profile, double scale, unsigned max_pending,
				struct phase_log *log)
{
	struct env *v = calloc(1, sizeof(*v));
	struct simchip_opts so;
	struct engine_config c;

	assert_non_null(v);
	simchip_opts_init(&so);
	so.time_scale = scale;
	v->f = simfix_open_opts(profile, &so);
	v->state = th_path(v->f->dir, "state");
	engine_config_init(&c);
	c.bus = v->f->bus;
	c.state_dir = v->state;
	c.max_pending = max_pending;
	c.block_size = KIB(16);
	c.n_blocks = 4;
	if (env_backup_max_count)
		c.backup_max_count = env_backup_max_count;
	if (log) {
		log->f = v->f;
		c.on_phase = log_phase;
		c.on_phase_ctx = log;
	}
	assert_int_equal(engine_new(&c, &v->e), 0);
	assert_int_equal(engine_start(v->e), 0);
	return v;
}

static struct env *env_open_scale(const char *profile, double scale, unsigned max_pending)
{
	return env_open_cfg(profile, scale, max_pending, NULL);
}

static void wait_running(struct job *job)
{
	while (job_get_state(job) == JOB_QUEUED)
		(void)job_wait(job, 2);
}

static void wait_chip(struct env *v)
{
	struct engine_chip chip;

	for (;;) {
		assert_int_equal(engine_chip(v->e, &chip), 0);
		if (chip.probed_ns)
			return;
		fclock_sleep_ns(fclock_monotonic(), NSEC_PER_MSEC);
	}
}

static struct env *env_open(const char *profile)
{
	return env_open_scale(profile, 0, 4);
}

static void env_close(struct env *v)
{
	engine_free(v->e);
	free(v->state);
	simfix_close(v->f);
	free(v);
}

struct feeder {
	struct blockq *q;
	const uint8_t *data;
	size_t len;
	pthread_t th;
};

static void *feed(void *arg)
{
	struct feeder *fd = arg;
	size_t done = 0;

	while (done < fd->len) {
		struct blockq_block *b;
		size_t n;

		if (blockq_get_free(fd->q, 10000, &b) < 0)
			return NULL;
		n = MIN(fd->len - done, b->cap);
		memcpy(b->data, fd->data + done, n);
		if (blockq_push(fd->q, b, n) < 0)
			return NULL;
		done += n;
	}
	blockq_close(fd->q);
	return NULL;
}

/* Submit a streamed write of data at addr and feed it from another thread. */
static struct job *stream_write(struct env *v, uint32_t addr, const uint8_t *data, size_t len,
				struct feeder *fd, bool start_feeding)
{
	struct job_params p;
	struct job *job;

	job_params_init(&p, JOB_WRITE);
	p.addr = addr;
	p.len = len;
	p.data = JOB_DATA_STREAM;
	assert_int_equal(engine_submit(v->e, &p, &job, NULL, 0), 0);
	fd->q = job_stream(job);
	fd->data = data;
	fd->len = len;
	if (start_feeding)
		assert_int_equal(pthread_create(&fd->th, NULL, feed, fd), 0);
	return job;
}

static void wait_done(struct job *job, enum job_state want)
{
	struct job_snapshot s;

	assert_int_equal(job_wait(job, 60000), 0);
	assert_int_equal(job_snapshot(job, &s), 0);
	if (s.state != want)
		fail_msg("job %llu: state %s, wanted %s (%s %s)", (unsigned long long)s.id,
			 job_state_name(s.state), job_state_name(want), s.error.op, s.error.detail);
	job_snapshot_clear(&s);
}

/* Submit a job and wait for it to end in state want; returns the job (job_unref() it). */
static struct job *run_params(struct env *v, const struct job_params *p, enum job_state want)
{
	struct job *job;

	assert_int_equal(engine_submit(v->e, p, &job, NULL, 0), 0);
	wait_done(job, want);
	return job;
}

/* Write len bytes of data at addr from an inline buffer and wait for success. */
static void write_buf(struct env *v, uint32_t addr, const uint8_t *data, size_t len)
{
	struct job_params p;

	job_params_init(&p, JOB_WRITE);
	p.addr = addr;
	p.len = len;
	p.data = JOB_DATA_BUFFER;
	p.buf = data;
	p.buf_len = len;
	job_unref(run_params(v, &p, JOB_DONE));
}

static void streamed_write_lands_exact_bytes_with_digests(void **state)
{
	struct env *v = env_open("W25Q128JV");
	const size_t len = KIB(200) + 17;
	uint8_t *data = malloc(len), *back = malloc(len);
	struct feeder fd;
	struct job *job;
	struct job_snapshot s;

	(void)state;
	th_pattern(data, len, 77);
	job = stream_write(v, 0x30003, data, len, &fd, true);
	wait_done(job, JOB_DONE);
	pthread_join(fd.th, NULL);
	simfix_image_read(v->f, 0x30003, back, len);
	th_assert_bytes(back, data, len);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_true(s.has_digests);
	{
		uint32_t crc;
		char hex[65];

		digest_buf(data, len, &crc, hex);
		assert_int_equal(s.crc32, crc);
		assert_string_equal(s.sha256, hex);
	}
	assert_int_equal(s.n_ranges[JOB_RANGE_PROGRAMMED], 1);
	assert_int_equal(s.ranges[JOB_RANGE_PROGRAMMED][0].addr, 0x30000);
	job_snapshot_clear(&s);
	job_unref(job);
	free(data);
	free(back);
	env_close(v);
}

static void failed_write_is_restored_exactly_from_its_backup(void **state)
{
	struct env *v = env_open("W25Q128JV");
	const size_t len = KIB(128);
	uint8_t *a = malloc(len), *b = malloc(len), *now = malloc(len);
	struct feeder fd;
	struct job *job;
	struct job_snapshot s;
	struct job_params p;
	char msg[128], backup[JOB_BACKUP_ID_SIZE];

	(void)state;
	th_pattern(a, len, 1);
	th_pattern(b, len, 2);
	job = stream_write(v, 0, a, len, &fd, true);
	wait_done(job, JOB_DONE);
	pthread_join(fd.th, NULL);
	job_unref(job);

	/* the chip starts failing to program: the second write fails in verify */
	assert_int_equal(simchip_fault_parse(v->f->sim, "program-fail", msg, sizeof(msg)), 0);
	job = stream_write(v, 0, b, len, &fd, true);
	wait_done(job, JOB_FAILED);
	pthread_join(fd.th, NULL);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.error.code, -EBADMSG);
	assert_string_equal(s.error.op, "verify");
	assert_true(s.backup_id[0] != 0);
	assert_true(s.n_ranges[JOB_RANGE_ERASED] > 0);
	snprintf(backup, sizeof(backup), "%s", s.backup_id);
	job_snapshot_clear(&s);
	job_unref(job);

	assert_int_equal(simchip_fault_parse(v->f->sim, "clear", msg, sizeof(msg)), 0);
	job_params_init(&p, JOB_RESTORE);
	snprintf(p.backup_id, sizeof(p.backup_id), "%s", backup);
	assert_int_equal(engine_submit(v->e, &p, &job, NULL, 0), 0);
	wait_done(job, JOB_DONE);
	job_unref(job);
	simfix_image_read(v->f, 0, now, len);
	th_assert_bytes(now, a, len);
	free(a);
	free(b);
	free(now);
	env_close(v);
}

static void truncated_stream_fails_before_anything_changes(void **state)
{
	struct env *v = env_open("GD25Q64C");
	const size_t len = KIB(64);
	uint8_t *a = malloc(len), *now = malloc(len);
	struct feeder fd;
	struct job *job;
	struct job_snapshot s;

	(void)state;
	th_pattern(a, len, 5);
	job = stream_write(v, 0, a, len, &fd, false);
	fd.len = len - 100; /* the client goes away early */
	assert_int_equal(pthread_create(&fd.th, NULL, feed, &fd), 0);
	wait_done(job, JOB_FAILED);
	pthread_join(fd.th, NULL);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.error.code, -EPIPE);
	assert_string_equal(s.error.detail,
			    "the image ended after 65436 of 65536 bytes; nothing was changed");
	assert_int_equal(s.n_ranges[JOB_RANGE_CHANGED], 0);
	job_snapshot_clear(&s);
	job_unref(job);
	simfix_image_read(v->f, 0, now, len);
	th_assert_filled(now, 0xFF, len);
	free(a);
	free(now);
	env_close(v);
}

static void full_queue_is_busy_and_says_what_runs(void **state)
{
	struct env *v = env_open_scale("W25Q128JV", 0, 1);
	struct feeder fd;
	struct job *w, *q, *x = NULL;
	struct job_params p;
	char busy[200] = "";
	uint8_t b = 0;

	(void)state;
	/* a write that waits for data keeps the worker busy */
	w = stream_write(v, 0, &b, 1, &fd, false);
	wait_running(w);
	job_params_init(&p, JOB_BLANK_CHECK);
	assert_int_equal(engine_submit(v->e, &p, &q, NULL, 0), 0);
	assert_int_equal(engine_submit(v->e, &p, &x, busy, sizeof(busy)), -EBUSY);
	assert_null(x);
	assert_non_null(strstr(busy, "write job"));
	assert_int_equal(pthread_create(&fd.th, NULL, feed, &fd), 0);
	wait_done(w, JOB_DONE);
	wait_done(q, JOB_DONE);
	pthread_join(fd.th, NULL);
	job_unref(w);
	job_unref(q);
	env_close(v);
}

static void cancel_stops_between_commands_and_reports_changes(void **state)
{
	struct env *v = env_open_scale("W25Q128JV", 0.02, 4);
	const size_t len = MIB(1);
	uint8_t *a = malloc(len);
	struct feeder fd;
	struct job *job;
	struct job_snapshot s;
	uint8_t sr1;

	(void)state;
	th_pattern(a, len, 9);
	job = stream_write(v, 0, a, len, &fd, true);
	/* wait until it programs, then cancel */
	for (;;) {
		assert_int_equal(job_snapshot(job, &s), 0);
		if (s.phase == JOB_PHASE_PROGRAMMING && s.done > 0) {
			job_snapshot_clear(&s);
			break;
		}
		assert_false(job_state_is_terminal(s.state));
		job_snapshot_clear(&s);
		(void)job_wait(job, 5);
	}
	assert_int_equal(job_cancel(job), 0);
	wait_done(job, JOB_CANCELLED);
	pthread_join(fd.th, NULL);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.error.code, -ECANCELED);
	assert_true(s.n_ranges[JOB_RANGE_PROGRAMMED] >= 1);
	assert_int_equal(s.ranges[JOB_RANGE_PROGRAMMED][0].addr, 0);
	assert_true(s.ranges[JOB_RANGE_PROGRAMMED][0].len < len);
	assert_int_equal(s.ranges[JOB_RANGE_PROGRAMMED][0].len % 256, 0);
	job_snapshot_clear(&s);
	job_unref(job);
	engine_stop(v->e);
	/* WEL is clear once the engine let go of the chip */
	{
		const uint8_t rdsr = 0x05;

		assert_int_equal(spibus_cmd(v->f->bus, &rdsr, 1, &sr1, 1), 0);
		assert_int_equal(sr1 & 0x03, 0);
	}
	free(a);
	env_close(v);
}

static void stop_interrupts_the_running_job(void **state)
{
	struct env *v = env_open_scale("W25Q128JV", 0.02, 4);
	const size_t len = MIB(1);
	uint8_t *a = malloc(len);
	struct feeder fd;
	struct job *job;
	struct job_snapshot s;

	(void)state;
	th_pattern(a, len, 10);
	job = stream_write(v, 0, a, len, &fd, true);
	for (;;) {
		assert_int_equal(job_snapshot(job, &s), 0);
		if (s.phase == JOB_PHASE_PROGRAMMING && s.done > 0) {
			job_snapshot_clear(&s);
			break;
		}
		job_snapshot_clear(&s);
		(void)job_wait(job, 5);
	}
	engine_stop(v->e);
	pthread_join(fd.th, NULL);
	wait_done(job, JOB_INTERRUPTED);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_true(s.n_ranges[JOB_RANGE_PROGRAMMED] >= 1);
	job_snapshot_clear(&s);
	job_unref(job);
	free(a);
	env_close(v);
}

static void chip_swapped_between_jobs_is_noticed(void **state)
{
	struct env *v = env_open("W25Q128JV");
	struct job_params p;
	struct job *job;
	struct job_snapshot s;
	struct engine_chip chip;
	char msg[128];

	(void)state;
	wait_chip(v);
	assert_int_equal(simchip_fault_parse(v->f->sim, "swap=MX25L12835F", msg, sizeof(msg)), 0);
	job_params_init(&p, JOB_BLANK_CHECK);
	assert_int_equal(engine_submit(v->e, &p, &job, NULL, 0), 0);
	wait_done(job, JOB_FAILED);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.error.code, -ENODEV);
	assert_non_null(strstr(s.error.detail, "the chip changed from W25Q128JV (ef4018) to "
					       "MX25L12835F (c22018)"));
	job_snapshot_clear(&s);
	job_unref(job);
	assert_int_equal(engine_chip(v->e, &chip), 0);
	assert_true(chip.present);
	assert_int_equal(chip.info.jedec_id, 0xc22018);
	env_close(v);
}

static void cancelling_a_queued_job_frees_its_slot_and_never_runs_it(void **state)
{
	struct env *v = env_open_scale("W25Q128JV", 0, 1);
	uint8_t data[4096], now[4096];
	struct feeder fd;
	struct job *w, *q, *x = NULL;
	struct job_params p;
	struct job_snapshot s;
	uint8_t b = 0;

	(void)state;
	th_pattern(data, sizeof(data), 3);
	write_buf(v, 0x10000, data, sizeof(data));
	w = stream_write(v, 0, &b, 1, &fd, false); /* keeps the worker waiting for data */
	wait_running(w);
	job_params_init(&p, JOB_ERASE);
	p.addr = 0x10000;
	p.len = 4096;
	assert_int_equal(engine_submit(v->e, &p, &q, NULL, 0), 0);
	assert_int_equal(engine_submit(v->e, &p, &x, NULL, 0), -EBUSY);
	assert_int_equal(engine_cancel_job(v->e, job_get_id(q)), 0);
	assert_int_equal(job_get_state(q), JOB_CANCELLED);
	assert_int_equal(engine_cancel_job(v->e, job_get_id(q)), -EALREADY);
	job_params_init(&p, JOB_BLANK_CHECK);
	p.len = 4096;
	assert_int_equal(engine_submit(v->e, &p, &x, NULL, 0), 0); /* the slot is free again */
	assert_int_equal(pthread_create(&fd.th, NULL, feed, &fd), 0);
	wait_done(w, JOB_DONE);
	wait_done(x, JOB_DONE);
	pthread_join(fd.th, NULL);
	assert_int_equal(job_snapshot(q, &s), 0);
	assert_int_equal(s.error.code, -ECANCELED);
	assert_int_equal(s.started_ns, 0);
	assert_int_equal(s.n_ranges[JOB_RANGE_CHANGED], 0);
	job_snapshot_clear(&s);
	simfix_image_read(v->f, 0x10000, now, sizeof(now));
	th_assert_bytes(now, data, sizeof(data));
	job_unref(w);
	job_unref(q);
	job_unref(x);
	env_close(v);
}

static void queued_job_with_cancel_flag_never_starts(void **state)
{
	struct env *v = env_open_scale("W25Q128JV", 0, 4);
	uint8_t data[4096], now[4096];
	struct feeder fd;
	struct job *w, *q;
	struct job_params p;
	struct job_snapshot s;
	uint8_t b = 0;

	(void)state;
	th_pattern(data, sizeof(data), 4);
	write_buf(v, 0x20000, data, sizeof(data));
	w = stream_write(v, 0, &b, 1, &fd, false);
	wait_running(w);
	job_params_init(&p, JOB_ERASE);
	p.addr = 0x20000;
	p.len = 4096;
	assert_int_equal(engine_submit(v->e, &p, &q, NULL, 0), 0);
	assert_int_equal(job_cancel(q), 0); /* the flag only: the job stays queued */
	assert_int_equal(job_get_state(q), JOB_QUEUED);
	assert_int_equal(pthread_create(&fd.th, NULL, feed, &fd), 0);
	wait_done(w, JOB_DONE);
	wait_done(q, JOB_CANCELLED);
	pthread_join(fd.th, NULL);
	assert_int_equal(job_snapshot(q, &s), 0);
	assert_int_equal(s.error.code, -ECANCELED);
	assert_string_equal(s.error.detail, "cancelled before it started; nothing was changed");
	assert_int_equal(s.n_ranges[JOB_RANGE_CHANGED], 0);
	job_snapshot_clear(&s);
	simfix_image_read(v->f, 0x20000, now, sizeof(now));
	th_assert_bytes(now, data, sizeof(data));
	job_unref(w);
	job_unref(q);
	env_close(v);
}

static void unaligned_write_with_default_params_keeps_the_bytes_around_it(void **state)
{
	struct env *v = env_open("W25Q128JV");
	uint8_t old[8192], patch[100], want[8192], now[8192];

	(void)state;
	th_pattern(old, sizeof(old), 11);
	th_pattern(patch, sizeof(patch), 12);
	write_buf(v, 0x40000, old, sizeof(old));
	/* what flash.write sends when the caller gives only offset and data */
	write_buf(v, 0x40000 + 4000, patch, sizeof(patch));
	memcpy(want, old, sizeof(want));
	memcpy(want + 4000, patch, sizeof(patch));
	simfix_image_read(v->f, 0x40000, now, sizeof(now));
	th_assert_bytes(now, want, sizeof(want));
	env_close(v);
}

static void alternate_page_write_reports_every_programmed_range(void **state)
{
	struct env *v = env_open("W25Q128JV");
	const size_t len = MIB(1);
	uint8_t *img = malloc(len);
	struct feeder fd;
	struct job *job;
	struct job_snapshot s;

	(void)state;
	th_pattern(img, len, 21);
	for (size_t pg = 1; pg < len / 256; pg += 2)
		memset(img + pg * 256, 0xFF, 256); /* every other page stays erased */
	job = stream_write(v, 0, img, len, &fd, true);
	wait_done(job, JOB_DONE);
	pthread_join(fd.th, NULL);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.n_ranges[JOB_RANGE_PROGRAMMED], len / 512);
	assert_int_equal(s.n_ranges[JOB_RANGE_CHANGED], len / 512);
	for (size_t i = 0; i < len / 512; i++) {
		assert_int_equal(s.ranges[JOB_RANGE_PROGRAMMED][i].addr, i * 512);
		assert_int_equal(s.ranges[JOB_RANGE_PROGRAMMED][i].len, 256);
		assert_int_equal(s.ranges[JOB_RANGE_CHANGED][i].addr, i * 512);
	}
	assert_int_equal(s.n_ranges[JOB_RANGE_ERASED], 0);
	assert_int_equal(s.ranges_dropped[JOB_RANGE_PROGRAMMED], 0);
	job_snapshot_clear(&s);
	job_unref(job);
	free(img);
	env_close(v);
}

static void write_reports_each_phase_with_its_own_totals(void **state)
{
	struct phase_log log = {0};
	struct env *v = env_open_cfg("W25Q128JV", 0, 4, &log);
	const size_t len = KIB(128);
	uint8_t *a = malloc(len), *b = malloc(len);
	struct feeder fd;
	struct job *job;
	struct job_snapshot s;

	(void)state;
	th_pattern(a, len, 31);
	th_pattern(b, len, 32);
	write_buf(v, 0, a, len);
	log.n = 0;
	job = stream_write(v, 0, b, len, &fd, true);
	wait_done(job, JOB_DONE);
	pthread_join(fd.th, NULL);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.phases[JOB_PHASE_READING].total, len);
	assert_int_equal(s.phases[JOB_PHASE_READING].done, len);
	assert_int_equal(s.phases[JOB_PHASE_BACKUP].total, len);
	assert_int_equal(s.phases[JOB_PHASE_BACKUP].done, len);
	assert_int_equal(s.phases[JOB_PHASE_ERASING].total, len);
	assert_int_equal(s.phases[JOB_PHASE_ERASING].done, len);
	assert_int_equal(s.phases[JOB_PHASE_PROGRAMMING].total, len);
	assert_int_equal(s.phases[JOB_PHASE_PROGRAMMING].done, len);
	assert_int_equal(s.phases[JOB_PHASE_VERIFYING].total, len);
	assert_int_equal(s.phases[JOB_PHASE_VERIFYING].done, len);
	assert_int_equal(s.phase, JOB_PHASE_VERIFYING);
	assert_int_equal(s.done, len);
	assert_int_equal(s.total, len);
	job_snapshot_clear(&s);
	/* window by window: erase, program, read back */
	assert_true(log.n >= 8);
	assert_int_equal(log.seq[0], JOB_PHASE_READING);
	assert_int_equal(log.seq[1], JOB_PHASE_BACKUP);
	assert_int_equal(log.seq[2], JOB_PHASE_ERASING);
	assert_int_equal(log.seq[3], JOB_PHASE_PROGRAMMING);
	assert_int_equal(log.seq[4], JOB_PHASE_VERIFYING);
	assert_int_equal(log.seq[5], JOB_PHASE_ERASING);
	job_unref(job);
	free(a);
	free(b);
	env_close(v);
}

static void stuck_wip_mid_write_times_out_naming_op_and_address(void **state)
{
	struct phase_log log = {.fault_at_programming = 2, .fault = "wip-stuck"};
	struct env *v = env_open_cfg("W25Q128JV", 0, 4, &log);
	const size_t len = KIB(128);
	uint8_t *a = malloc(len);
	struct feeder fd;
	struct job *job;
	struct job_snapshot s;
	const uint8_t rdsr = 0x05;
	uint8_t sr1 = 0xFF;

	(void)state;
	th_pattern(a, len, 41);
	/* the second window's first page program finds the chip stuck busy */
	job = stream_write(v, 0, a, len, &fd, true);
	wait_done(job, JOB_FAILED);
	pthread_join(fd.th, NULL);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.error.code, -ETIMEDOUT);
	assert_string_equal(s.error.op, "program");
	assert_true(s.error.has_addr);
	assert_int_equal(s.error.addr, 0x10000);
	/* the page whose command was sent counts as changed */
	assert_int_equal(s.n_ranges[JOB_RANGE_CHANGED], 1);
	assert_int_equal(s.ranges[JOB_RANGE_CHANGED][0].addr, 0);
	assert_int_equal(s.ranges[JOB_RANGE_CHANGED][0].len, 0x10000 + 256);
	job_snapshot_clear(&s);
	job_unref(job);
	engine_stop(v->e);
	assert_int_equal(spibus_cmd(v->f->bus, &rdsr, 1, &sr1, 1), 0);
	assert_int_equal(sr1 & 0x02, 0); /* WEL clear */
	free(a);
	env_close(v);
}

struct backup_names {
	size_t n;
	char ids[8][JOB_BACKUP_ID_SIZE]; /* newest first */
	uint64_t file_bytes[8];
};

static int collect_backup(const struct backup_info *info, void *ctx)
{
	struct backup_names *l = ctx;

	if (l->n < ARRAY_SIZE(l->ids)) {
		snprintf(l->ids[l->n], JOB_BACKUP_ID_SIZE, "%s", info->id);
		l->file_bytes[l->n] = info->file_bytes;
	}
	l->n++;
	return 0;
}

static void list_backups(struct env *v, struct backup_names *l)
{
	memset(l, 0, sizeof(*l));
	assert_int_equal(backup_list(engine_backups(v->e), collect_backup, l), 0);
}

static struct job *restore(struct env *v, const char *id, enum job_state want)
{
	struct job_params p;

	job_params_init(&p, JOB_RESTORE);
	snprintf(p.backup_id, sizeof(p.backup_id), "%s", id);
	return run_params(v, &p, want);
}

static void truncated_upload_keeps_older_backups_and_leaves_none(void **state)
{
	struct env *v;
	const size_t len = KIB(64);
	uint8_t *a = malloc(len), *b = malloc(len), *c = malloc(len);
	struct backup_names l;
	struct feeder fd;
	struct job *job;
	char first[JOB_BACKUP_ID_SIZE];

	(void)state;
	env_backup_max_count = 1;
	v = env_open("W25Q128JV");
	env_backup_max_count = 0;
	th_pattern(a, len, 61);
	th_pattern(b, len, 62);
	th_pattern(c, len, 63);
	write_buf(v, 0, a, len);
	write_buf(v, 0, b, len); /* backup of a */
	list_backups(v, &l);
	assert_int_equal(l.n, 1);
	snprintf(first, sizeof(first), "%s", l.ids[0]);
	job = stream_write(v, 0, c, len, &fd, false);
	fd.len = len - 1; /* the client goes away one byte early */
	assert_int_equal(pthread_create(&fd.th, NULL, feed, &fd), 0);
	wait_done(job, JOB_FAILED);
	pthread_join(fd.th, NULL);
	job_unref(job);
	list_backups(v, &l);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.ids[0], first);
	free(a);
	free(b);
	free(c);
	env_close(v);
}

static void write_onto_erased_chip_stores_no_data_in_its_backup(void **state)
{
	struct env *v = env_open("W25Q128JV");
	const size_t len = KIB(256);
	uint8_t *a = malloc(len), *now = malloc(len);
	struct backup_names l;
	struct job *job;

	(void)state;
	th_pattern(a, len, 71);
	write_buf(v, 0x100000, a, len);
	list_backups(v, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.file_bytes[0], 96 + 16); /* header + one blank record */
	job = restore(v, l.ids[0], JOB_DONE);
	job_unref(job);
	simfix_image_read(v->f, 0x100000, now, len);
	th_assert_filled(now, 0xFF, len);
	free(a);
	free(now);
	env_close(v);
}

static void whole_chip_erase_without_length_saves_and_restores_exactly(void **state)
{
	struct env *v = env_open("W25Q128JV");
	const uint32_t size = v->f->size;
	uint8_t *want = malloc(size), *now = malloc(size);
	struct job_params p;
	struct job_snapshot s;
	struct job *job;
	char id[JOB_BACKUP_ID_SIZE];

	(void)state;
	memset(want, 0xFF, size);
	th_pattern(want + 0x1000, 0x3000, 81);
	th_pattern(want + 0x800000, 0x10000, 82);
	th_pattern(want + size - 0x100, 0x100, 83);
	write_buf(v, 0x1000, want + 0x1000, 0x3000);
	write_buf(v, 0x800000, want + 0x800000, 0x10000);
	write_buf(v, size - 0x100, want + size - 0x100, 0x100);
	job_params_init(&p, JOB_ERASE);
	p.whole_chip = true; /* len 0: the worker takes the chip size */
	job = run_params(v, &p, JOB_DONE);
	assert_int_equal(job_snapshot(job, &s), 0);
	snprintf(id, sizeof(id), "%s", s.backup_id);
	assert_true(id[0] != 0);
	assert_int_equal(s.n_ranges[JOB_RANGE_ERASED], 3);
	job_snapshot_clear(&s);
	job_unref(job);
	simfix_image_read(v->f, 0, now, size);
	th_assert_filled(now, 0xFF, size);
	job_unref(restore(v, id, JOB_DONE));
	simfix_image_read(v->f, 0, now, size);
	th_assert_bytes(now, want, size);
	free(want);
	free(now);
	env_close(v);
}

static int no_space_statvfs(const char *path, struct statvfs *buf)
{
	(void)path;
	memset(buf, 0, sizeof(*buf));
	buf->f_bsize = buf->f_frsize = 4096;
	buf->f_bavail = 4; /* 16 KiB */
	return 0;
}

static void disk_full_fails_the_job_before_touching_the_chip(void **state)
{
	struct env *v = env_open("W25Q128JV");
	const size_t len = KIB(64);
	uint8_t *a = malloc(len), *b = malloc(len), *now = malloc(len);
	struct backup_names l;
	struct feeder fd;
	struct job *job;
	struct job_snapshot s;

	(void)state;
	th_pattern(a, len, 91);
	th_pattern(b, len, 92);
	write_buf(v, 0, a, len);
	list_backups(v, &l);
	backup_store_set_statvfs(engine_backups(v->e), no_space_statvfs);
	job = stream_write(v, 0, b, len, &fd, true);
	wait_done(job, JOB_FAILED);
	pthread_join(fd.th, NULL);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.error.code, -ENOSPC);
	assert_string_equal(s.error.op, "backup");
	assert_non_null(strstr(s.error.detail, "nothing was changed"));
	assert_int_equal(s.n_ranges[JOB_RANGE_CHANGED], 0);
	assert_string_equal(s.backup_id, "");
	job_snapshot_clear(&s);
	job_unref(job);
	backup_store_set_statvfs(engine_backups(v->e), NULL);
	simfix_image_read(v->f, 0, now, len);
	th_assert_bytes(now, a, len);
	{
		struct backup_names after;

		list_backups(v, &after);
		assert_int_equal(after.n, l.n);
	}
	free(a);
	free(b);
	free(now);
	env_close(v);
}

static uint64_t modelled_ns(struct env *v)
{
	struct simchip_stats st;

	simchip_get_stats(v->f->sim, &st);
	return st.modelled_ns;
}

static void restore_is_one_write_with_phases_digests_and_its_own_backup(void **state)
{
	struct env *v = env_open("W25Q128JV");
	const size_t len = MIB(1);
	uint8_t *a = malloc(len), *b = malloc(len), *now = malloc(len);
	struct backup_names l;
	struct backup_info info;
	struct job_snapshot s;
	struct job *job;
	uint64_t t0, write_ns, restore_ns;
	char id[JOB_BACKUP_ID_SIZE];

	(void)state;
	th_pattern(a, len, 101);
	th_pattern(b, len, 102);
	write_buf(v, 0, a, len);
	t0 = modelled_ns(v);
	write_buf(v, 0, b, len);
	write_ns = modelled_ns(v) - t0;
	list_backups(v, &l);
	snprintf(id, sizeof(id), "%s", l.ids[0]);
	t0 = modelled_ns(v);
	job = restore(v, id, JOB_DONE);
	restore_ns = modelled_ns(v) - t0;
	/* the same work as the write it undoes, not a window read per 4 KiB record */
	assert_true(restore_ns <= write_ns + write_ns / 20);
	simfix_image_read(v->f, 0, now, len);
	th_assert_bytes(now, a, len);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.phases[JOB_PHASE_READING].total, len);
	assert_int_equal(s.phases[JOB_PHASE_READING].done, len);
	assert_int_equal(s.phases[JOB_PHASE_PROGRAMMING].done, len);
	assert_int_equal(s.phases[JOB_PHASE_VERIFYING].done, len);
	assert_true(s.has_digests);
	assert_int_equal(backup_get(engine_backups(v->e), id, &info), 0);
	assert_string_equal(s.sha256, info.data_sha256);
	backup_info_clear(&info);
	/* what the restore overwrote (b) is in a backup of its own */
	assert_true(s.backup_id[0] != 0);
	assert_string_not_equal(s.backup_id, id);
	job_snapshot_clear(&s);
	job_unref(job);
	list_backups(v, &l);
	job_unref(restore(v, l.ids[0], JOB_DONE));
	simfix_image_read(v->f, 0, now, len);
	th_assert_bytes(now, b, len);
	free(a);
	free(b);
	free(now);
	env_close(v);
}

static void restore_refuses_a_backup_of_another_chip_naming_both(void **state)
{
	struct env *v = env_open("W25Q128JV");
	uint8_t a[4096], b[4096], now[4096];
	struct backup_names l;
	struct job_params p;
	struct job_snapshot s;
	struct job *job;
	char msg[128];

	(void)state;
	th_pattern(a, sizeof(a), 111);
	th_pattern(b, sizeof(b), 112);
	write_buf(v, 0, a, sizeof(a));
	write_buf(v, 0, b, sizeof(b));
	list_backups(v, &l);
	assert_int_equal(simchip_fault_parse(v->f->sim, "swap=MX25L12835F", msg, sizeof(msg)), 0);
	job_params_init(&p, JOB_PROBE);
	job_unref(run_params(v, &p, JOB_DONE));
	job = restore(v, l.ids[0], JOB_FAILED);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.error.code, -EINVAL);
	assert_string_equal(s.error.op, "restore");
	assert_non_null(strstr(s.error.detail, "was taken from W25Q128JV (ef4018, 16777216 bytes), "
					       "not this MX25L12835F (c22018, 16777216 bytes)"));
	assert_int_equal(s.n_ranges[JOB_RANGE_CHANGED], 0);
	job_snapshot_clear(&s);
	job_unref(job);
	simfix_image_read(v->f, 0, now, sizeof(now));
	th_assert_bytes(now, b, sizeof(b));
	env_close(v);
}

static void queued_jobs_at_shutdown_end_interrupted(void **state)
{
	struct env *v = env_open_scale("W25Q128JV", 0.02, 4);
	const size_t len = MIB(1);
	uint8_t *a = malloc(len);
	struct feeder fd;
	struct job *w, *q;
	struct job_params p;
	struct job_snapshot s;

	(void)state;
	th_pattern(a, len, 121);
	w = stream_write(v, 0, a, len, &fd, true);
	wait_running(w);
	job_params_init(&p, JOB_ERASE);
	p.addr = 0x800000;
	p.len = 4096;
	assert_int_equal(engine_submit(v->e, &p, &q, NULL, 0), 0);
	engine_stop(v->e);
	pthread_join(fd.th, NULL);
	wait_done(q, JOB_INTERRUPTED);
	assert_int_equal(job_snapshot(q, &s), 0);
	assert_int_equal(s.error.code, -ESHUTDOWN);
	assert_string_equal(s.error.detail,
			    "the daemon stopped before the job ran; nothing was changed");
	assert_int_equal(s.started_ns, 0);
	job_snapshot_clear(&s);
	wait_done(w, JOB_INTERRUPTED);
	job_unref(w);
	job_unref(q);
	free(a);
	env_close(v);
}

static void stream_jobs_take_the_engine_stream_geometry(void **state)
{
	struct env *v = env_open("W25Q128JV");
	struct feeder fd;
	struct job *job;
	uint8_t b = 0x5A;

	(void)state;
	job = stream_write(v, 0, &b, 1, &fd, true);
	assert_int_equal(job_get_params(job)->stream_block_size, KIB(16));
	assert_int_equal(job_get_params(job)->stream_blocks, 4);
	wait_done(job, JOB_DONE);
	pthread_join(fd.th, NULL);
	job_unref(job);
	env_close(v);
}

static void cancelled_download_says_cancelled_not_reader_gone(void **state)
{
	struct env *v = env_open("W25Q128JV");
	struct job_params p;
	struct job_snapshot s;
	struct job *job;

	(void)state;
	job_params_init(&p, JOB_READ);
	p.len = MIB(1);
	p.data = JOB_DATA_STREAM; /* nobody reads: the worker fills the queue and waits */
	assert_int_equal(engine_submit(v->e, &p, &job, NULL, 0), 0);
	wait_running(job);
	for (;;) { /* until the queue (4 x 16 KiB) is full */
		uint64_t done;

		job_get_progress(job, &done, NULL);
		if (done >= KIB(64))
			break;
		(void)job_wait(job, 2);
	}
	assert_int_equal(engine_cancel_job(v->e, job_get_id(job)), 0);
	wait_done(job, JOB_CANCELLED);
	assert_int_equal(job_snapshot(job, &s), 0);
	assert_int_equal(s.error.code, -ECANCELED);
	assert_string_equal(s.error.op, "read");
	assert_non_null(strstr(s.error.detail, "cancelled after "));
	job_snapshot_clear(&s);
	job_unref(job);
	env_close(v);
}

static void spi_clock_is_reported_at_once_and_applied_while_idle(void **state)
{
	struct env *v = env_open("W25Q128JV");
	struct engine_chip chip;

	(void)state;
	wait_chip(v);
	assert_int_equal(engine_set_speed(v->e, 10000000), 0);
	assert_int_equal(engine_chip(v->e, &chip), 0);
	assert_int_equal(chip.speed_hz, 10000000);
	/* the idle worker wakes every 500 ms; the bus is its own until it stopped */
	fclock_sleep_ns(fclock_monotonic(), 1500 * NSEC_PER_MSEC);
	assert_int_equal(engine_chip(v->e, &chip), 0);
	assert_int_equal(chip.speed_hz, 10000000);
	engine_stop(v->e);
	assert_int_equal(spibus_speed(v->f->bus), 10000000);
	env_close(v);
}

static void read_result_stays_available_from_the_history(void **state)
{
	struct env *v = env_open("W25Q128JV");
	uint8_t a[5000];
	struct job_params p;
	struct job *job;
	const uint8_t *data;
	size_t n;
	uint64_t id;

	(void)state;
	th_pattern(a, sizeof(a), 131);
	write_buf(v, 0x7000, a, sizeof(a));
	job_params_init(&p, JOB_READ);
	p.addr = 0x7000;
	p.len = sizeof(a);
	p.data = JOB_DATA_BUFFER;
	job = run_params(v, &p, JOB_DONE);
	id = job_get_id(job);
	job_unref(job); /* the front end's wait ended and it let go */
	job = engine_find_job(v->e, id);
	assert_non_null(job);
	assert_int_equal(job_get_result(job, &data, &n), 0);
	assert_int_equal(n, sizeof(a));
	th_assert_bytes(data, a, sizeof(a));
	job_unref(job);
	env_close(v);
}

/* Inline job params over [addr, addr+len), unlocking protected parts. */
static void inline_params(struct job_params *p, enum job_type type, uint32_t addr,
			  const uint8_t *data, size_t len)
{
	job_params_init(p, type);
	p->addr = addr;
	p->len = len;
	p->unlock = true;
	if (data) {
		p->data = JOB_DATA_BUFFER;
		p->buf = data;
		p->buf_len = len;
	}
}

static void snap(struct job *job, struct job_snapshot *s)
{
	assert_int_equal(job_snapshot(job, s), 0);
}

static void every_job_type_on_every_profile_through_the_engine(void **state)
{
	(void)state;
	for (size_t i = 0; i < sim_profile_count(); i++) {
		const char *name = sim_profile_name(sim_profile_at(i));
		struct env *v = env_open(name);
		const uint32_t mid = v->f->size / 2, at = mid - KIB(8) + 100;
		const size_t len = KIB(20);
		uint8_t *a = malloc(len), *other = malloc(len), *now = malloc(len);
		struct job_params p;
		struct job_snapshot s;
		struct job *job;
		const uint8_t *data;
		size_t n;
		char id[JOB_BACKUP_ID_SIZE];

		th_pattern(a, len, (uint32_t)i + 200);
		memcpy(other, a, len);
		other[777] ^= 0x01;
		/* probe names the part */
		job_params_init(&p, JOB_PROBE);
		job_unref(run_params(v, &p, JOB_DONE));
		/* unlock clears whatever protection the part starts with */
		job_params_init(&p, JOB_UNLOCK);
		job_unref(run_params(v, &p, JOB_DONE));
		/* write (unaligned at both ends) */
		inline_params(&p, JOB_WRITE, at, a, len);
		job = run_params(v, &p, JOB_DONE);
		snap(job, &s);
		if (!s.has_digests || s.n_ranges[JOB_RANGE_PROGRAMMED] == 0)
			fail_msg("%s: write reported no digests or ranges", name);
		job_snapshot_clear(&s);
		job_unref(job);
		simfix_image_read(v->f, at, now, len);
		th_assert_bytes(now, a, len);
		/* confirmed read */
		inline_params(&p, JOB_READ, at, NULL, len);
		p.data = JOB_DATA_BUFFER;
		p.read_passes = 2;
		job = run_params(v, &p, JOB_DONE);
		assert_int_equal(job_get_result(job, &data, &n), 0);
		assert_int_equal(n, len);
		th_assert_bytes(data, a, len);
		job_unref(job);
		/* verify: equal, then one bit off */
		inline_params(&p, JOB_VERIFY, at, a, len);
		job_unref(run_params(v, &p, JOB_DONE));
		inline_params(&p, JOB_VERIFY, at, other, len);
		job = run_params(v, &p, JOB_FAILED);
		snap(job, &s);
		assert_int_equal(s.error.code, -EBADMSG);
		assert_int_equal(s.n_ranges[JOB_RANGE_MISMATCH], 1);
		assert_int_equal(s.ranges[JOB_RANGE_MISMATCH][0].addr, at + 777);
		assert_int_equal(s.ranges[JOB_RANGE_MISMATCH][0].len, 1);
		job_snapshot_clear(&s);
		job_unref(job);
		/* blank check */
		inline_params(&p, JOB_BLANK_CHECK, at - 100, NULL, len);
		job = run_params(v, &p, JOB_DONE);
		snap(job, &s);
		assert_true(s.blank_known);
		assert_false(s.blank);
		assert_int_equal(s.first_nonblank, at);
		job_snapshot_clear(&s);
		job_unref(job);
		/* erase the aligned middle, then restore it from the erase's backup */
		inline_params(&p, JOB_ERASE, mid - KIB(4), NULL, KIB(8));
		job = run_params(v, &p, JOB_DONE);
		snap(job, &s);
		snprintf(id, sizeof(id), "%s", s.backup_id);
		job_snapshot_clear(&s);
		job_unref(job);
		simfix_image_read(v->f, at, now, len);
		th_assert_filled(now + (mid - KIB(4) - at), 0xFF, KIB(8));
		th_assert_bytes(now, a, mid - KIB(4) - at);
		job_params_init(&p, JOB_RESTORE);
		p.unlock = true;
		snprintf(p.backup_id, sizeof(p.backup_id), "%s", id);
		job_unref(run_params(v, &p, JOB_DONE));
		simfix_image_read(v->f, at, now, len);
		th_assert_bytes(now, a, len);
		free(a);
		free(other);
		free(now);
		env_close(v);
	}
}

/* Write a, then start writing b over it and make it fail (fault) or cancel mid-way. */
static void restore_gives_back_the_pre_job_bytes(const char *fault, unsigned cancel_at,
						 enum job_state want)
{
	for (size_t i = 0; i < sim_profile_count(); i++) {
		const char *name = sim_profile_name(sim_profile_at(i));
		struct phase_log log = {0};
		struct env *v = env_open_cfg(name, 0, 4, &log);
		const uint32_t base = v->f->size / 4;
		const size_t len = KIB(128);
		uint8_t *a = malloc(len), *b = malloc(len), *now = malloc(len);
		struct job_params p;
		struct job_snapshot s;
		struct job *job;
		char msg[128];

		th_pattern(a, len, (uint32_t)i + 300);
		th_pattern(b, len, (uint32_t)i + 400);
		inline_params(&p, JOB_WRITE, base, a, len);
		job_unref(run_params(v, &p, JOB_DONE));
		if (fault)
			assert_int_equal(simchip_fault_parse(v->f->sim, fault, msg, sizeof(msg)),
					 0);
		log.programming_entries = 0;
		log.cancel_at_programming = cancel_at; /* the worker reads it after submit */
		inline_params(&p, JOB_WRITE, base, b, len);
		job = run_params(v, &p, want);
		snap(job, &s);
		if (s.n_ranges[JOB_RANGE_CHANGED] == 0 || !s.backup_id[0])
			fail_msg("%s: the failed write changed nothing or kept no backup", name);
		assert_int_equal(simchip_fault_parse(v->f->sim, "clear", msg, sizeof(msg)), 0);
		log.cancel_at_programming = 0;
		job_unref(job);
		job_params_init(&p, JOB_RESTORE);
		p.unlock = true;
		snprintf(p.backup_id, sizeof(p.backup_id), "%s", s.backup_id);
		job_snapshot_clear(&s);
		job_unref(run_params(v, &p, JOB_DONE));
		simfix_image_read(v->f, base, now, len);
		th_assert_bytes(now, a, len);
		free(a);
		free(b);
		free(now);
		env_close(v);
	}
}

static void restore_after_a_cancel_on_every_profile(void **state)
{
	(void)state;
	restore_gives_back_the_pre_job_bytes(NULL, 2, JOB_CANCELLED);
}

static void restore_after_an_erase_failure_on_every_profile(void **state)
{
	(void)state;
	restore_gives_back_the_pre_job_bytes("erase-fail", 0, JOB_FAILED);
}

static void probe_unlock_and_whole_chip_erase_jobs(void **state)
{
	struct env *v = env_open("SST26VF064B"); /* every block locked at power-up */
	const uint32_t size = v->f->size;
	uint8_t a[4096], *now = malloc(size);
	struct job_params p;
	struct job_snapshot s;
	struct engine_chip chip;
	struct job *job;

	(void)state;
	th_pattern(a, sizeof(a), 500);
	job_params_init(&p, JOB_PROBE);
	job_unref(run_params(v, &p, JOB_DONE));
	assert_int_equal(engine_chip(v->e, &chip), 0);
	assert_true(chip.present);
	assert_string_equal(chip.info.name, "SST26VF064B");
	assert_true(chip.protect.n_ranges > 0);
	inline_params(&p, JOB_WRITE, 0x1000, a, sizeof(a));
	p.unlock = false;
	job = run_params(v, &p, JOB_FAILED);
	snap(job, &s);
	assert_int_equal(s.error.code, -EROFS);
	job_snapshot_clear(&s);
	job_unref(job);
	job_params_init(&p, JOB_UNLOCK);
	job_unref(run_params(v, &p, JOB_DONE));
	assert_int_equal(engine_chip(v->e, &chip), 0);
	assert_int_equal(chip.protect.n_ranges, 0);
	inline_params(&p, JOB_WRITE, 0x1000, a, sizeof(a));
	p.unlock = false;
	job_unref(run_params(v, &p, JOB_DONE));
	/* whole chip without a backup: one chip erase, no reading first */
	job_params_init(&p, JOB_ERASE);
	p.whole_chip = true;
	p.no_backup = true;
	job = run_params(v, &p, JOB_DONE);
	snap(job, &s);
	assert_int_equal(s.n_ranges[JOB_RANGE_ERASED], 1);
	assert_int_equal(s.ranges[JOB_RANGE_ERASED][0].addr, 0);
	assert_int_equal(s.ranges[JOB_RANGE_ERASED][0].len, size);
	assert_int_equal(s.phases[JOB_PHASE_READING].total, 0);
	assert_string_equal(s.backup_id, "");
	job_snapshot_clear(&s);
	job_unref(job);
	simfix_image_read(v->f, 0, now, size);
	th_assert_filled(now, 0xFF, size);
	free(now);
	env_close(v);
}

static void full_mode_erases_and_programs_the_whole_range(void **state)
{
	struct env *v = env_open("W25Q128JV");
	const size_t len = KIB(64);
	uint8_t *a = malloc(len), *now = malloc(len);
	struct job_params p;
	struct job_snapshot s;
	struct job *job;

	(void)state;
	th_pattern(a, len, 600);
	memset(a + KIB(8), 0xFF, KIB(4)); /* an erased sector is not programmed */
	write_buf(v, 0x200000, a, len);
	inline_params(&p, JOB_WRITE, 0x200000, a, len); /* the same image again */
	p.write_mode = JOB_WRITE_FULL;
	job = run_params(v, &p, JOB_DONE);
	snap(job, &s);
	assert_int_equal(s.n_ranges[JOB_RANGE_ERASED], 1);
	assert_int_equal(s.ranges[JOB_RANGE_ERASED][0].addr, 0x200000);
	assert_int_equal(s.ranges[JOB_RANGE_ERASED][0].len, len);
	assert_int_equal(s.n_ranges[JOB_RANGE_PROGRAMMED], 2);
	assert_int_equal(s.ranges[JOB_RANGE_PROGRAMMED][0].addr, 0x200000);
	assert_int_equal(s.ranges[JOB_RANGE_PROGRAMMED][0].len, KIB(8));
	assert_int_equal(s.ranges[JOB_RANGE_PROGRAMMED][1].addr, 0x200000 + KIB(12));
	assert_int_equal(s.ranges[JOB_RANGE_PROGRAMMED][1].len, len - KIB(12));
	job_snapshot_clear(&s);
	job_unref(job);
	simfix_image_read(v->f, 0x200000, now, len);
	th_assert_bytes(now, a, len);
	free(a);
	free(now);
	env_close(v);
}

static void stream_longer_than_announced_fails_before_anything_changes(void **state)
{
	struct env *v = env_open("W25Q128JV");
	const size_t len = KIB(64);
	uint8_t *a = malloc(len + 1), *b = malloc(len + 1), *now = malloc(len);
	struct feeder fd;
	struct job *job;
	struct job_snapshot s;

	(void)state;
	th_pattern(a, len, 700);
	th_pattern(b, len + 1, 701);
	write_buf(v, 0, a, len);
	job = stream_write(v, 0, b, len, &fd, false);
	fd.len = len + 1; /* one byte more than announced */
	assert_int_equal(pthread_create(&fd.th, NULL, feed, &fd), 0);
	wait_done(job, JOB_FAILED);
	pthread_join(fd.th, NULL);
	snap(job, &s);
	assert_int_equal(s.error.code, -EMSGSIZE);
	assert_string_equal(s.error.detail, "the image is longer than the 65536 bytes announced; "
					    "nothing was changed");
	assert_int_equal(s.n_ranges[JOB_RANGE_CHANGED], 0);
	assert_string_equal(s.backup_id, "");
	job_snapshot_clear(&s);
	job_unref(job);
	simfix_image_read(v->f, 0, now, len);
	th_assert_bytes(now, a, len);
	free(a);
	free(b);
	free(now);
	env_close(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(streamed_write_lands_exact_bytes_with_digests),
		cmocka_unit_test(failed_write_is_restored_exactly_from_its_backup),
		cmocka_unit_test(truncated_stream_fails_before_anything_changes),
		cmocka_unit_test(full_queue_is_busy_and_says_what_runs),
		cmocka_unit_test(cancel_stops_between_commands_and_reports_changes),
		cmocka_unit_test(stop_interrupts_the_running_job),
		cmocka_unit_test(chip_swapped_between_jobs_is_noticed),
		cmocka_unit_test(cancelling_a_queued_job_frees_its_slot_and_never_runs_it),
		cmocka_unit_test(queued_job_with_cancel_flag_never_starts),
		cmocka_unit_test(unaligned_write_with_default_params_keeps_the_bytes_around_it),
		cmocka_unit_test(alternate_page_write_reports_every_programmed_range),
		cmocka_unit_test(write_reports_each_phase_with_its_own_totals),
		cmocka_unit_test(stuck_wip_mid_write_times_out_naming_op_and_address),
		cmocka_unit_test(truncated_upload_keeps_older_backups_and_leaves_none),
		cmocka_unit_test(write_onto_erased_chip_stores_no_data_in_its_backup),
		cmocka_unit_test(whole_chip_erase_without_length_saves_and_restores_exactly),
		cmocka_unit_test(disk_full_fails_the_job_before_touching_the_chip),
		cmocka_unit_test(restore_is_one_write_with_phases_digests_and_its_own_backup),
		cmocka_unit_test(restore_refuses_a_backup_of_another_chip_naming_both),
		cmocka_unit_test(queued_jobs_at_shutdown_end_interrupted),
		cmocka_unit_test(stream_jobs_take_the_engine_stream_geometry),
		cmocka_unit_test(cancelled_download_says_cancelled_not_reader_gone),
		cmocka_unit_test(spi_clock_is_reported_at_once_and_applied_while_idle),
		cmocka_unit_test(read_result_stays_available_from_the_history),
		cmocka_unit_test(every_job_type_on_every_profile_through_the_engine),
		cmocka_unit_test(restore_after_a_cancel_on_every_profile),
		cmocka_unit_test(restore_after_an_erase_failure_on_every_profile),
		cmocka_unit_test(probe_unlock_and_whole_chip_erase_jobs),
		cmocka_unit_test(full_mode_erases_and_programs_the_whole_range),
		cmocka_unit_test(stream_longer_than_announced_fails_before_anything_changes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
