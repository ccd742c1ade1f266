/* SPDX-License-Identifier: MIT */
/*
 * job.h - the job object shared (refcounted) by the front ends and the worker.
 *
 * A front end fills a struct job_params, creates the job with job_new(), submits it to the
 * jobq and, for streamed images, feeds or drains job_stream(). The worker pops it, calls
 * job_start(), reports phases, progress, ranges and digests while it runs, and ends it with
 * job_finish(). Anyone holding a reference may cancel it, wait for it, register completion
 * callbacks and take snapshots.
 *
 * State machine: QUEUED -> RUNNING -> DONE | FAILED | CANCELLED | INTERRUPTED, and QUEUED ->
 * CANCELLED | INTERRUPTED | FAILED directly (a job drained at shutdown never runs).
 * INTERRUPTED means stopped by daemon shutdown, CANCELLED by a user.
 *
 * Threading: every function is safe from any thread. The worker-side functions (job_start,
 * job_set_phase, job_progress_add, job_add_range, job_set_*, job_fail, job_finish) are meant
 * for the one thread running the job. Progress and tracked ranges (job_set_phase/
 * job_resume_phase/job_plan_phase/job_progress_add/job_add_range of a tracked kind/
 * job_get_progress/job_get_state/job_cancel_requested) use atomics only, so the worker's
 * per-page path never takes a lock; everything else takes the job's mutex briefly (a
 * snapshot allocates outside it). No function calls back into user code with the mutex held.
 */
#ifndef FLASHD_JOB_H
#define FLASHD_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockq.h"
#include "util.h"

struct job;

enum job_type {
	JOB_PROBE,
	JOB_READ,
	JOB_ERASE,
	JOB_WRITE,
	JOB_VERIFY,
	JOB_BLANK_CHECK,
	JOB_UNLOCK,
	JOB_RESTORE,
	_JOB_TYPE_MAX,
};

enum job_state {
	JOB_QUEUED,
	JOB_RUNNING,
	JOB_DONE,
	JOB_FAILED,
	JOB_CANCELLED,
	JOB_INTERRUPTED,
	_JOB_STATE_MAX,
};

enum job_phase {
	JOB_PHASE_NONE,
	JOB_PHASE_BACKUP,
	JOB_PHASE_READING,
	JOB_PHASE_ERASING,
	JOB_PHASE_PROGRAMMING,
	JOB_PHASE_VERIFYING,
	_JOB_PHASE_MAX,
};

enum job_write_mode {
	JOB_WRITE_SMART, /* erase/program only erase blocks whose contents differ */
	JOB_WRITE_FULL,  /* erase and program the whole range */
	_JOB_WRITE_MODE_MAX,
};

/* Where a job's image bytes come from (WRITE/VERIFY) or go to (READ). */
enum job_data {
	JOB_DATA_NONE,
	JOB_DATA_STREAM, /* job_new() creates a blockq the job owns: job_stream() */
	JOB_DATA_BUFFER, /* WRITE/VERIFY: inline bytes copied by job_new(); READ: result buffer */
	_JOB_DATA_MAX,
};

enum job_range_kind {
	JOB_RANGE_ERASED,
	JOB_RANGE_PROGRAMMED,
	JOB_RANGE_CHANGED,
	JOB_RANGE_MISMATCH,
	_JOB_RANGE_KIND_MAX,
};

/* Limits on what a request can make a job allocate (STYLE C19). */
#define JOB_INLINE_MAX (1024u * 1024u)   /* inline input and small read results */
#define JOB_RANGES_MAX 256u              /* untracked kinds (job_add_range); the rest is counted */
#define JOB_BACKUP_ID_SIZE 64u           /* including NUL */
#define JOB_STREAM_BLOCK_SIZE_DEFAULT (64u * 1024u)
#define JOB_STREAM_BLOCKS_DEFAULT 8u
#define JOB_READ_PASSES_MAX 8u

/* "No address" for job_fail(). */
#define JOB_NO_ADDR UINT64_MAX

/* A plain value record; start from job_params_init(). */
struct job_params {
	enum job_type type;
	uint32_t addr;
	uint64_t len;          /* bytes; for WRITE/VERIFY the exact stream/buffer length */
	bool whole_chip;       /* addr/len ignored: the worker uses the chip size */
	enum job_write_mode write_mode;
	bool verify;           /* WRITE: read back and compare (default true) */
	bool unlock;           /* may clear block protection bits to do the job */
	/*
	 * Unaligned WRITE/ERASE: the rest of each erase block the range touches is read, saved
	 * with the backup and written back, so exactly [addr, addr+len) changes (default true,
	 * for every front end). false refuses a range whose edge falls inside an erase block
	 * that must be erased (-EINVAL), for callers that want every erase to be whole blocks.
	 */
	bool preserve;
	bool no_backup;        /* ERASE: skip the read-first backup (and blank skipping) */
	unsigned int read_passes; /* READ: >= 1; more passes must agree (confirm dumps) */
	char backup_id[JOB_BACKUP_ID_SIZE]; /* RESTORE: which backup */

	enum job_data data;
	/* JOB_DATA_STREAM: queue geometry; 0 = the defaults above. */
	size_t stream_block_size;
	size_t stream_blocks;
	/*
	 * JOB_DATA_BUFFER with WRITE/VERIFY: the input, buf_len == len <= JOB_INLINE_MAX,
	 * borrowed by job_new() which copies it. Ignored (may be NULL) for READ, whose result
	 * buffer of len <= JOB_INLINE_MAX bytes the job allocates.
	 */
	const void *buf;
	size_t buf_len;
};

struct job_error {
	int code;        /* negative errno */
	char op[32];     /* "erase", "program", "verify", ... */
	uint32_t addr;
	bool has_addr;
	char detail[320];
};

struct job_range {
	uint32_t addr;
	uint64_t len;
};

/* One phase of a job: bytes done of total, time spent in it, and the worker's estimate. */
struct job_phase_progress {
	uint64_t done;
	uint64_t total;
	uint64_t spent_ns;  /* CLOCK_MONOTONIC time the job has spent in this phase */
	uint64_t est_ns;    /* datasheet estimate for the whole phase; 0 = none */
};

/* A consistent copy of a job at one instant. Free the ranges with job_snapshot_clear(). */
struct job_snapshot {
	uint64_t id;
	enum job_state state;
	enum job_phase phase;
	struct job_params params;  /* params.buf is NULL in a snapshot */
	bool cancel_requested;

	uint64_t done;             /* bytes of the current phase */
	uint64_t total;
	uint64_t rate_bps;         /* over the current phase so far; 0 when unknown */
	uint64_t eta_s;            /* time left for the whole job; valid when eta_known */
	bool eta_known;
	struct job_phase_progress phases[_JOB_PHASE_MAX]; /* every phase (NONE unused) */

	bool has_error;
	struct job_error error;

	bool has_digests;
	uint32_t crc32;
	char sha256[65];

	struct job_range *ranges[_JOB_RANGE_KIND_MAX]; /* owned by the snapshot */
	size_t n_ranges[_JOB_RANGE_KIND_MAX];
	uint64_t ranges_dropped[_JOB_RANGE_KIND_MAX];        /* ranges that did not fit */
	uint64_t ranges_dropped_bytes[_JOB_RANGE_KIND_MAX];

	/* CLOCK_MONOTONIC ns for arithmetic, CLOCK_REALTIME ns for display; 0 = not yet. */
	uint64_t created_ns, started_ns, finished_ns;
	uint64_t created_rt_ns, started_rt_ns, finished_rt_ns;

	char backup_id[JOB_BACKUP_ID_SIZE]; /* backup made by this job, or RESTORE's source */

	bool blank_known;          /* BLANK_CHECK result */
	bool blank;
	uint32_t first_nonblank;   /* valid when blank_known && !blank */

	uint64_t result_bytes;     /* READ into the inline buffer: bytes available */
};

typedef void (*job_finish_fn)(struct job *job, void *ctx);

/* Defaults: verify=true, preserve=true, read_passes=1, SMART, no data. */
void job_params_init(struct job_params *p, enum job_type type);

/*
 * Create a QUEUED job with refcount 1 and a fresh id (process-wide, increasing from 1).
 * 0, -EINVAL (bad type/mode/passes, missing or oversized inline data, RESTORE without a
 * backup id, stream geometry rejected by blockq_new), -ENOMEM. Release with job_unref().
 */
int job_new(const struct job_params *params, struct job **ret_job);
/* Return job (for chaining). */
struct job *job_ref(struct job *job);
/* Accepts NULL. The last unref frees the job, its stream and buffers. */
void job_unref(struct job *job);

uint64_t job_get_id(const struct job *job);
enum job_type job_get_type(const struct job *job);
/* Lock-free. */
enum job_state job_get_state(const struct job *job);
bool job_state_is_terminal(enum job_state state);
/* Borrowed for the life of the caller's reference; never changes after job_new(). */
const struct job_params *job_get_params(const struct job *job);
/* Lock-free. */
enum job_phase job_get_phase(const struct job *job);
/* Lock-free: bytes done and total of the current phase. Either pointer may be NULL. */
void job_get_progress(const struct job *job, uint64_t *ret_done, uint64_t *ret_total);

/* "probe", "read", ..., "running", ..., "programming"; "unknown" out of range. */
const char *job_type_name(enum job_type type);
const char *job_state_name(enum job_state state);
const char *job_phase_name(enum job_phase phase);
/* Parse a job_type_name(). 0 or -EINVAL. */
int job_type_from_name(const char *name, enum job_type *ret_type);

/* The job's stream (JOB_DATA_STREAM) or NULL; borrowed while the caller holds a ref. */
struct blockq *job_stream(struct job *job);
/* WRITE/VERIFY inline input, or NULL. Borrowed while the caller holds a ref. */
const uint8_t *job_inline_data(const struct job *job, size_t *ret_len);
/* READ with JOB_DATA_BUFFER: the worker fills this buffer (capacity params.len); else NULL. */
uint8_t *job_result_buffer(struct job *job, size_t *ret_cap);
/*
 * The READ result once the job is DONE: 0 and a borrowed pointer/length, -EAGAIN while not
 * finished, -ENODATA when the job has no result buffer or did not finish DONE.
 */
int job_get_result(struct job *job, const uint8_t **ret_data, size_t *ret_len);

/* ---- worker side ---- */

/* QUEUED -> RUNNING, records the start time. 0 or -EALREADY (not QUEUED). */
int job_start(struct job *job);
/*
 * Phases (each with its own done/total in bytes):
 *   reading      reading the chip: read, blank check, a write's compare pass, an erase's
 *                read-first pass when it only keeps unaligned edges
 *   backup       saving the old contents: an erase's read-first pass that feeds the backup,
 *                a write's wait for its backup to be durable
 *   erasing      erase commands (bytes erased)
 *   programming  page programs (bytes programmed)
 *   verifying    reading back what was written, or comparing with an image (flash.verify)
 * A write or erase goes back and forth between erasing, programming and verifying block by
 * block; the totals are known before the first destructive command.
 *
 * All lock-free (atomics), meant for the one thread running the job.
 */
/* Enter phase, its total set to total_bytes and its done and time reset. */
void job_set_phase(struct job *job, enum job_phase phase, uint64_t total_bytes);
/* Enter phase again, keeping its done, total and time so far. */
void job_resume_phase(struct job *job, enum job_phase phase);
/* Announce a phase that comes later: its total and the worker's estimate of its duration. */
void job_plan_phase(struct job *job, enum job_phase phase, uint64_t total_bytes, uint64_t est_ns);
/* n more bytes of the current phase are done. */
void job_progress_add(struct job *job, uint64_t n);
/*
 * Record ERASED, PROGRAMMED and CHANGED ranges exactly within [base, base+len) from now on:
 * one bit per erase_unit bytes (ERASED) or page bytes (PROGRAMMED, CHANGED), allocated here
 * (len/page/8 bytes at most per kind), set lock-free by job_add_range(). Call once, before
 * the job's first range. 0, -EINVAL, -ENOMEM, -EALREADY.
 */
int job_track_ranges(struct job *job, uint32_t base, uint64_t len, uint32_t erase_unit,
		     uint32_t page);
/*
 * Record [addr, addr+len) of kind. A tracked kind (job_track_ranges) sets its bits, rounded
 * out to its unit, without locks and without limit. Otherwise (MISMATCH, untracked jobs, a
 * range outside the tracked window) the range merges with the kind's last range when
 * adjacent or overlapping; past JOB_RANGES_MAX ranges it is counted in ranges_dropped.
 * Snapshots report every kind sorted and merged.
 */
void job_add_range(struct job *job, enum job_range_kind kind, uint32_t addr, uint64_t len);
/* sha256_hex: 64 hex digits (a longer string is truncated). */
void job_set_digests(struct job *job, uint32_t crc32, const char *sha256_hex);
/* The backup this job made (id truncated to JOB_BACKUP_ID_SIZE-1). */
void job_set_backup_id(struct job *job, const char *id);
void job_set_blank_result(struct job *job, bool blank, uint32_t first_nonblank);
/* Bytes of the result buffer that are valid (clamped to its capacity). */
void job_set_result_len(struct job *job, size_t n);
/*
 * Record the error that ends the job; the first one wins (it is the cause, later ones are
 * consequences). addr may be JOB_NO_ADDR (or anything above UINT32_MAX). Does not change
 * the state: the worker then calls job_finish(job, JOB_FAILED). code is a negative errno.
 * Does nothing on a job that already ended (a front end racing the worker's finish).
 */
void job_fail(struct job *job, int code, const char *op, uint64_t addr, const char *fmt, ...)
	PRINTF_FMT(5, 6);
/*
 * Enter a terminal state (DONE, FAILED, CANCELLED or INTERRUPTED): records the finish
 * time; FAILED/CANCELLED/INTERRUPTED without a recorded error get one (-EIO, -ECANCELED,
 * -ESHUTDOWN). A stream is closed on DONE and aborted with the error code otherwise, so a
 * front end blocked on it wakes. Then the completion callbacks run, once, in registration
 * order, on this thread, without the job mutex; only after they have all returned do
 * job_wait() callers wake. 0 or -EALREADY (already terminal; nothing happens).
 */
int job_finish(struct job *job, enum job_state state);

/* ---- any thread ---- */

/*
 * Ask the job to stop. Sets a flag the worker polls with job_cancel_requested() at page and
 * erase-block boundaries, and aborts the job's stream with -ECANCELED so neither side stays
 * blocked on it. 0, or -EALREADY if the job already finished.
 */
int job_cancel(struct job *job);
/* Lock-free. */
bool job_cancel_requested(const struct job *job);
/*
 * Wait until the job finished and its completion callbacks returned. 0 or -ETIMEDOUT
 * (timeout_ms 0 polls).
 */
int job_wait(struct job *job, uint64_t timeout_ms);
/*
 * Call cb(job, ctx) once when the job finishes: on the thread calling job_finish(), or right
 * now on the calling thread if it already finished. cb must not block for long (it delays
 * job_wait() callers and the worker) and may not call job_finish() on the same job.
 * 0 or -ENOMEM.
 */
int job_on_finish(struct job *job, job_finish_fn cb, void *ctx);
/* 0 or -ENOMEM. On success clear it with job_snapshot_clear(). */
int job_snapshot(struct job *job, struct job_snapshot *ret_snap);
/* Frees the ranges; accepts NULL and a zeroed snapshot. */
void job_snapshot_clear(struct job_snapshot *snap);

#endif
