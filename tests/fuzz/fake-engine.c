/* SPDX-License-Identifier: MIT */
/*
 * fake-engine.c - the engine.h calls rpc_methods.c makes, with no worker and no bus, for the
 * JSON-RPC fuzz target: fast and deterministic, so libFuzzer's coverage feedback means
 * something. Linked instead of src/engine/engine.c (the static library's engine.o is then
 * never pulled in); jobs are the real job.c objects.
 *
 * The chip is a W25Q128JV from the chip database, always present. A submitted job is run at
 * once (reads fill their buffer with a pattern of the address) and ends DONE, except a
 * whole-chip erase, which stays QUEUED until fake_engine_finish_all(), so calls waiting for it
 * are really held. At most FAKE_QUEUED of those wait; one more is -EBUSY. The last
 * FAKE_HISTORY jobs are kept for job.get/job.list.
 *
 * The backup store (backup.list, backup.restore) lives in a temporary directory that is
 * removed when the process exits.
 *
 * Threading: a mutex guards the job list; engine_* may be called from any thread.
 */
#include "fake-engine.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "chipdb.h"
#include "engine.h"
#include "job.h"

#define FAKE_HISTORY 16
#define FAKE_QUEUED 2

struct engine {
	pthread_mutex_t lock;
	struct engine_chip chip;
	struct job *jobs[FAKE_HISTORY]; /* oldest first */
	size_t n_jobs;
	struct backup_store *backups;
	char dir[64];
};

static char tmp_dir[sizeof(((struct engine *)0)->dir)];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_tmp_dir(void)
{
	if (tmp_dir[0])
		(void)nftw(tmp_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int fake_engine_new(struct engine **ret)
{
	struct engine *e = calloc(1, sizeof(*e));
	const struct chip_info *ci = chipdb_lookup(0xef4018);
	char path[96];
	int r;

	if (!e || !ci) {
		free(e);
		return -ENOMEM;
	}
	pthread_mutex_init(&e->lock, NULL);
	e->chip.present = true;
	e->chip.info = *ci;
	e->chip.speed_hz = 32000000;
	e->chip.probed_ns = 1;
	snprintf(e->chip.protect.description, sizeof(e->chip.protect.description), "none");
	snprintf(e->dir, sizeof(e->dir), "%.40s/fuzz-rpc.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(e->dir)) {
		free(e);
		return -errno;
	}
	snprintf(tmp_dir, sizeof(tmp_dir), "%s", e->dir);
	atexit(remove_tmp_dir);
	snprintf(path, sizeof(path), "%s/backups", e->dir);
	r = backup_store_open(path, 4, 0, &e->backups);
	if (r < 0) {
		free(e);
		return r;
	}
	*ret = e;
	return 0;
}

/* Jobs still queued end now (DONE), which wakes every call held for them. */
void fake_engine_finish_all(struct engine *e)
{
	struct job *queued[FAKE_HISTORY];
	size_t n = 0;

	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < e->n_jobs; i++)
		if (job_get_state(e->jobs[i]) == JOB_QUEUED)
			queued[n++] = job_ref(e->jobs[i]);
	pthread_mutex_unlock(&e->lock);
	for (size_t i = 0; i < n; i++) {
		(void)job_start(queued[i]);
		(void)job_finish(queued[i], JOB_DONE);
		job_unref(queued[i]);
	}
}

static void run_now(struct job *job)
{
	const struct job_params *p = job_get_params(job);
	size_t cap;
	uint8_t *buf;

	(void)job_start(job);
	job_set_phase(job, JOB_PHASE_READING, p->len);
	buf = job_result_buffer(job, &cap);
	if (buf) {
		for (size_t i = 0; i < cap; i++)
			buf[i] = (uint8_t)((p->addr + i) * 7);
		job_set_result_len(job, cap);
	}
	if (p->type == JOB_BLANK_CHECK)
		job_set_blank_result(job, p->addr & 1, p->addr);
	job_progress_add(job, p->len);
	job_add_range(job, JOB_RANGE_CHANGED, p->addr, p->len);
	(void)job_finish(job, JOB_DONE);
}

int engine_submit(struct engine *e, const struct job_params *p, struct job **ret, char *busy_msg,
		  size_t busy_len)
{
	size_t queued = 0;
	struct job *job, *evict = NULL;
	int r;

	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < e->n_jobs; i++)
		queued += job_get_state(e->jobs[i]) == JOB_QUEUED;
	pthread_mutex_unlock(&e->lock);
	if (queued >= FAKE_QUEUED && p->whole_chip) {
		if (busy_msg)
			snprintf(busy_msg, busy_len, "%zu jobs are queued", queued);
		return -EBUSY;
	}
	r = job_new(p, &job);
	if (r < 0)
		return r;
	pthread_mutex_lock(&e->lock);
	if (e->n_jobs == FAKE_HISTORY) {
		evict = e->jobs[0];
		memmove(e->jobs, e->jobs + 1, (FAKE_HISTORY - 1) * sizeof(*e->jobs));
		e->n_jobs--;
	}
	e->jobs[e->n_jobs++] = job_ref(job);
	pthread_mutex_unlock(&e->lock);
	if (evict) {
		/* a held call may still wait for it: end it first */
		if (job_get_state(evict) == JOB_QUEUED) {
			(void)job_start(evict);
			(void)job_finish(evict, JOB_CANCELLED);
		}
		job_unref(evict);
	}
	if (!p->whole_chip)
		run_now(job);
	*ret = job;
	return 0;
}

struct job *engine_find_job(struct engine *e, uint64_t id)
{
	struct job *job = NULL;

	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < e->n_jobs && !job; i++)
		if (job_get_id(e->jobs[i]) == id)
			job = job_ref(e->jobs[i]);
	pthread_mutex_unlock(&e->lock);
	return job;
}

int engine_cancel_job(struct engine *e, uint64_t id)
{
	struct job *job = engine_find_job(e, id);
	int r;

	if (!job)
		return -ENOENT;
	r = job_cancel(job);
	job_unref(job);
	return r;
}

void engine_list_jobs(struct engine *e, int (*cb)(struct job *job, void *ctx), void *ctx)
{
	struct job *list[FAKE_HISTORY];
	size_t n;

	pthread_mutex_lock(&e->lock);
	n = e->n_jobs;
	for (size_t i = 0; i < n; i++)
		list[i] = job_ref(e->jobs[n - 1 - i]);
	pthread_mutex_unlock(&e->lock);
	for (size_t i = 0; i < n; i++) {
		if (cb && cb(list[i], ctx))
			cb = NULL;
		job_unref(list[i]);
	}
}

int engine_chip(struct engine *e, struct engine_chip *ret)
{
	pthread_mutex_lock(&e->lock);
	*ret = e->chip;
	pthread_mutex_unlock(&e->lock);
	return 0;
}

int engine_set_speed(struct engine *e, uint32_t hz)
{
	if (hz == 0 || hz > e->chip.info.max_clock_hz)
		return -EINVAL;
	pthread_mutex_lock(&e->lock);
	e->chip.speed_hz = hz;
	pthread_mutex_unlock(&e->lock);
	return 0;
}

struct backup_store *engine_backups(struct engine *e)
{
	return e->backups;
}
