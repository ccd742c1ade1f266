/* SPDX-License-Identifier: MIT */
/*
 * engine.h - the operations engine as the front ends see it (JSON-RPC and HTTP transfers
 * today; serprog, flashctl and others later). It owns the worker thread, which owns the bus
 * and the chip; front ends only submit jobs, watch them and stream their data.
 *
 * Threading: every function here may be called from any thread, except engine_free().
 */
#ifndef FLASHD_ENGINE_H
#define FLASHD_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chip_info.h"
#include "job.h"
#include "nor.h"
#include "probe.h"

struct spibus;
struct backup_store;
struct engine;

struct engine_config {
	struct spibus *bus;	  /* borrowed; the worker is its only user once started */
	struct probe_opts probe;  /* user geometry for unknown chips */
	const char *state_dir;	  /* backups and spool files live here (copied) */
	unsigned max_pending;	  /* jobs waiting behind the running one */
	unsigned history;	  /* finished jobs kept for job.get/job.list */
	/* Stream geometry of jobs whose params leave it 0 (engine_submit); 0 = job.h defaults. */
	size_t block_size;
	size_t n_blocks;
	unsigned backup_max_count;
	uint64_t backup_max_bytes;
	/* Called on the worker thread when the daemon's one-line status changes (sd_notify). */
	void (*on_status)(void *ctx, const char *status);
	void *on_status_ctx;
	/*
	 * Called on the worker thread whenever the running job's phase changes (a write goes
	 * back and forth between erasing, programming and verifying, window by window). Must
	 * not block: the bus waits. For observers such as benchmarks.
	 */
	void (*on_phase)(void *ctx, struct job *job, enum job_phase phase);
	void *on_phase_ctx;
};

void engine_config_init(struct engine_config *c);

/* The chip as last identified (copy; safe from any thread). */
struct engine_chip {
	bool present;		 /* a chip answered and was identified */
	struct chip_info info;
	struct probe_report report;
	struct nor_protect protect;
	struct nor_error error;	 /* why there is no chip, when !present */
	uint32_t speed_hz;	 /* bus clock */
	uint64_t probed_ns;	 /* CLOCK_MONOTONIC of the last identification */
};

int engine_new(const struct engine_config *c, struct engine **ret);
/* Start the worker; it identifies the chip first. */
int engine_start(struct engine *e);
/*
 * Stop accepting jobs, end queued ones as interrupted (they never run), stop the running
 * one at its next safe boundary (recorded as interrupted), leave the chip idle (WEL clear,
 * 3-byte mode) and join the worker.
 */
void engine_stop(struct engine *e);
/* Accepts NULL; stops first if needed. */
void engine_free(struct engine *e);

/*
 * Queue a job. On success *ret is a new reference (job_unref() it). -EBUSY when the queue is
 * full: then busy_msg (if not NULL) says what is running. -ESHUTDOWN when stopping. -EINVAL
 * for parameters that are wrong whatever the chip (checked here, before queueing).
 */
int engine_submit(struct engine *e, const struct job_params *p, struct job **ret, char *busy_msg,
		  size_t busy_len);

/*
 * Cancel job id. A queued job leaves the queue at once (its slot is free for the next submit)
 * and ends CANCELLED without touching the chip; the running job stops at its next page or
 * erase-block boundary, with WEL clear, and ends CANCELLED. 0, -EALREADY (already finished),
 * -ENOENT (no such job, or dropped from the history).
 */
int engine_cancel_job(struct engine *e, uint64_t id);

/* New reference or NULL. */
struct job *engine_find_job(struct engine *e, uint64_t id);
/* Running, queued, then finished jobs, newest first. */
/* cb returns 0 to go on, non-zero to stop. */
void engine_list_jobs(struct engine *e, int (*cb)(struct job *job, void *ctx), void *ctx);

int engine_chip(struct engine *e, struct engine_chip *ret);

/*
 * Set the SPI clock: the worker applies it before the next job (or within half a second when
 * idle); engine_chip() reports the new value from now on. 0 or -EINVAL (0 Hz, or above the
 * chip's maximum).
 */
int engine_set_speed(struct engine *e, uint32_t hz);

/* A job is running right now. */
bool engine_busy(struct engine *e);

/* CLOCK_MONOTONIC of the worker's last sign of life (for the systemd watchdog). */
uint64_t engine_heartbeat_ns(struct engine *e);

/* Borrowed; lives as long as the engine. */
struct backup_store *engine_backups(struct engine *e);

#endif
