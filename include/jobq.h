/* SPDX-License-Identifier: MIT */
/*
 * jobq.h - the jobs of one bus: a bounded FIFO of pending jobs, the one running job, and a
 * bounded history of finished ones.
 *
 * Front ends submit; the single worker pops (the job becomes the running one, and
 * job_start() is called for it), runs it, finishes it with job_finish() and hands it back
 * with jobq_done(), which moves it to the history. Jobs run in submission order.
 *
 * Ownership: the queue holds its own reference on every job it lists; functions returning a
 * job return a new reference the caller drops with job_unref().
 *
 * Threading: every function may be called from any thread; jobq_pop()/jobq_done() are for
 * the one worker. One mutex, condvars on CLOCK_MONOTONIC, every wait has a timeout.
 * Callbacks (jobq_list, jobq_drain_pending) run without the queue lock, so they may call
 * back into the queue and the job.
 */
#ifndef FLASHD_JOBQ_H
#define FLASHD_JOBQ_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"

struct jobq;

#define JOBQ_PENDING_MAX 1024u
#define JOBQ_HISTORY_MAX 4096u

/*
 * max_pending: 1..JOBQ_PENDING_MAX jobs waiting behind the running one; history_len:
 * 0..JOBQ_HISTORY_MAX finished jobs kept. 0, -EINVAL, -ENOMEM. Free with jobq_free().
 */
int jobq_new(size_t max_pending, size_t history_len, struct jobq **ret_q);
/* Accepts NULL. Drops the queue's references; the worker must have stopped using it. */
void jobq_free(struct jobq *q);

/*
 * Queue a QUEUED job (the queue takes its own reference). 0, -EBUSY when max_pending jobs
 * are already waiting (jobq_describe_busy() says why), -ESHUTDOWN after jobq_close(),
 * -EINVAL if the job is not QUEUED.
 */
int jobq_submit(struct jobq *q, struct job *job);
/*
 * Human text for an -EBUSY answer, e.g. "write job 7 running (programming 41%), 3 queued".
 * Always NUL-terminates (truncates to len). Returns the length snprintf would have written.
 */
int jobq_describe_busy(struct jobq *q, char *buf, size_t len);

/*
 * Worker: wait up to timeout_ms for the oldest pending job, make it the running one, call
 * job_start() on it and return a new reference. Pending jobs that were already finished
 * (e.g. job_finish(CANCELLED) by a front end) are filed in the history and skipped. 0, -ETIMEDOUT, -ESHUTDOWN once closed (even
 * if jobs are pending: drain them with jobq_drain_pending()), -EBUSY if a job is still
 * running (jobq_done() was not called).
 */
int jobq_pop(struct jobq *q, uint64_t timeout_ms, struct job **ret_job);
/*
 * Worker: the job has finished; it stops being the running one and enters the history (the
 * oldest entries beyond history_len are dropped). Also accepts a job that is not running.
 */
void jobq_done(struct jobq *q, struct job *job);

/* New reference to the job with this id (running, pending or history), or NULL. */
struct job *jobq_find(struct jobq *q, uint64_t id);
/* New reference to the running job, or NULL. */
struct job *jobq_running(struct jobq *q);
/* Number of pending jobs. */
size_t jobq_pending_count(struct jobq *q);

/*
 * Call cb for every job, newest first: the running job, the pending ones (last submitted
 * first), then the history (last finished first). The list is taken at call time; cb runs
 * without the lock and its job is borrowed for the call. cb returning non-zero stops the
 * walk. 0 or -ENOMEM.
 */
typedef int (*jobq_list_fn)(struct job *job, void *ctx);
int jobq_list(struct jobq *q, jobq_list_fn cb, void *ctx);

/*
 * Cancel job id: a pending job is removed, finished CANCELLED at once (its callbacks run on
 * this thread) and filed in the history; the running job gets job_cancel() (the worker
 * stops at the next page/erase-block boundary). 0, -EALREADY (already finished), -ENOENT.
 */
int jobq_cancel(struct jobq *q, uint64_t id);

/* Refuse further submits with -ESHUTDOWN and wake the worker. Idempotent. */
void jobq_close(struct jobq *q);
/*
 * Shutdown: remove every pending job, call cb(job, ctx) for each in FIFO order without the
 * lock (cb == NULL: job_finish(job, JOB_INTERRUPTED)), then put it in the history. Returns
 * the number drained.
 */
typedef void (*jobq_drain_fn)(struct job *job, void *ctx);
size_t jobq_drain_pending(struct jobq *q, jobq_drain_fn cb, void *ctx);

#endif
