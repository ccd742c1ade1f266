/* SPDX-License-Identifier: MIT */
/*
 * engine.c - the worker thread and the front ends' view of it.
 *
 * DESIGN
 * One worker thread owns the bus and the chip. Front ends submit jobs to a bounded queue
 * (jobq) and stream image data through the job's block queue; they never touch the bus. The
 * worker identifies the chip at start, then runs one job at a time:
 *   - before each job it re-reads the JEDEC ID (15 µs): a chip swapped or pulled between
 *     jobs is identified again and the job fails instead of writing to the wrong part;
 *   - a job cancelled while it waited never starts;
 *   - the job runs through ops.c with hooks that publish progress per phase and record the
 *     erased/programmed ranges just before each command (atomics and bitmaps: no locks on
 *     the per-page path), check for cancellation and feed the backup store;
 *   - its backup is committed only if an erase or program command was sent, else discarded;
 *   - a restore pulls the backup's records into one smart write (after checking the backup
 *     was taken from this chip) and is itself backed up like any write;
 *   - afterwards the chip is always left idle (WEL clear, 3-byte mode).
 * A snapshot of the chip (info, protection, probe report) is copied under a mutex for
 * front ends, so chip.info never waits for the bus.
 *
 * Shutdown (engine_stop): the queue is closed, queued jobs end interrupted without running,
 * the running job is asked to stop at its next safe boundary and recorded as interrupted.
 */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backup.h"
#include "blockq.h"
#include "clock.h"
#include "digest.h"
#include "jobq.h"
#include "log.h"
#include "nor.h"
#include "ops.h"
#include "probe.h"
#include "spibus.h"
#include "util.h"

#define WORKER_POLL_MS 500
#define STREAM_TIMEOUT_MS 60000 /* a client that sends or reads nothing for this long is gone */

struct engine {
	struct engine_config cfg;
	char *state_dir;
	struct jobq *jobq;
	struct backup_store *backups;
	pthread_t worker;
	bool started;
	_Atomic bool stopping;
	_Atomic uint64_t heartbeat_ns;
	_Atomic uint32_t want_speed_hz;

	/* worker-only */
	struct nor *nor;

	pthread_mutex_t chip_lock; /* guards chip */
	struct engine_chip chip;
};

void engine_config_init(struct engine_config *c)
{
	*c = (struct engine_config){
		.state_dir = "/var/lib/flashd",
		.max_pending = 4,
		.history = 32,
		.block_size = KIB(64),
		.n_blocks = 16,
		.backup_max_count = 20,
		.backup_max_bytes = (uint64_t)MIB(512),
	};
}

static void set_status(struct engine *e, const char *fmt, ...) PRINTF_FMT(2, 3);

static void set_status(struct engine *e, const char *fmt, ...)
{
	char buf[160];
	va_list ap;

	if (!e->cfg.on_status)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	e->cfg.on_status(e->cfg.on_status_ctx, buf);
}

/* ---- chip identification (worker thread) ---- */

static void publish_chip(struct engine *e, int r, const struct probe_report *rep,
			 const struct nor_error *err)
{
	struct engine_chip c = {0};

	c.present = r >= 0 && e->nor;
	if (c.present) {
		c.info = *nor_info(e->nor);
		(void)nor_protect_read(e->nor, &c.protect);
	}
	if (rep)
		c.report = *rep;
	if (err && r < 0)
		c.error = *err;
	c.speed_hz = spibus_speed(e->cfg.bus);
	c.probed_ns = fclock_mono_ns();
	pthread_mutex_lock(&e->chip_lock);
	e->chip = c;
	pthread_mutex_unlock(&e->chip_lock);
}

static int identify(struct engine *e, struct nor_error *ret_err)
{
	struct probe_report rep;
	struct nor_error err = {0};
	int r;

	nor_free(e->nor);
	e->nor = NULL;
	r = probe_chip(e->cfg.bus, &e->cfg.probe, &e->nor, &rep, &err);
	publish_chip(e, r, &rep, &err);
	if (r < 0) {
		log_errno(LOG_LVL_WARN, r, "no chip: %s", err.detail);
		set_status(e, "no chip: %s", err.detail);
		if (ret_err)
			*ret_err = err;
		return r;
	}
	log_info("chip: %s %s (JEDEC %06x), %u KiB, page %u, from the %s%s%s",
		 nor_info(e->nor)->vendor, nor_info(e->nor)->name, nor_info(e->nor)->jedec_id,
		 nor_info(e->nor)->size / 1024, nor_info(e->nor)->page_size,
		 nor_info(e->nor)->source == CHIP_SRC_SFDP ? "SFDP tables" : "chip database",
		 rep.notes[0] ? "; " : "", rep.notes);
	set_status(e, "idle: %s", nor_info(e->nor)->name);
	return 0;
}

/* The chip must still be the one we identified; 0, or -ENODEV with the story in err. */
static int check_chip(struct engine *e, struct nor_error *err)
{
	uint32_t id = 0;
	int r;

	if (!e->nor)
		return identify(e, err);
	r = probe_read_id(e->cfg.bus, &id);
	if (r >= 0 && id == nor_info(e->nor)->jedec_id)
		return 0;
	{
		char was[64];

		snprintf(was, sizeof(was), "%s (%06x)", nor_info(e->nor)->name,
			 nor_info(e->nor)->jedec_id);
		r = identify(e, err);
		if (r < 0)
			return r;
		memset(err, 0, sizeof(*err));
		err->code = -ENODEV;
		snprintf(err->op, sizeof(err->op), "probe");
		snprintf(err->detail, sizeof(err->detail),
			 "the chip changed from %.40s to %.32s (%06x) since it was identified; "
			 "check it is the chip you meant and submit the job again",
			 was, nor_info(e->nor)->name, nor_info(e->nor)->jedec_id);
		return -ENODEV;
	}
}

/* ---- job <-> ops glue ---- */

struct run {
	struct engine *e;
	struct job *job;
	struct blockq *q;
	struct blockq_block *blk; /* partly consumed input block */
	size_t blk_off;
	struct backup *backup;
	char backup_msg[200]; /* why the backup could not start (disk full) */
	bool changed;         /* an erase or program command was sent */
	uint64_t backup_max;  /* most old contents the job can save: its erase windows */
	bool entered[_OPS_PHASE_MAX];
	/* RESTORE: the backup, pulled record by record into one write */
	struct backup_reader *rd;
	uint32_t rec_addr;
	const uint8_t *rec_data;
	size_t rec_len, rec_off;
	bool rec_eof;
	int rec_err;
	struct digest rec_digest;
	uint64_t restore_read_total; /* bytes of the windows that hold backup data */
	const uint8_t *inline_src; /* small writes carried inside the job */
	size_t inline_len, inline_pos;
	uint8_t *inline_dst;
	size_t inline_cap, inline_used;
};

static const enum job_phase phase_map[_OPS_PHASE_MAX] = {
	[OPS_PHASE_READING] = JOB_PHASE_READING,
	[OPS_PHASE_BACKUP] = JOB_PHASE_BACKUP,
	[OPS_PHASE_ERASING] = JOB_PHASE_ERASING,
	[OPS_PHASE_PROGRAMMING] = JOB_PHASE_PROGRAMMING,
	[OPS_PHASE_VERIFYING] = JOB_PHASE_VERIFYING,
};

/* Datasheet estimate of a phase's duration at the current clock (for the job's ETA). */
static uint64_t estimate_ns(struct engine *e, enum ops_phase p, uint64_t bytes)
{
	const struct chip_info *info = nor_info(e->nor);
	double hz = spibus_speed(e->cfg.bus) ? (double)spibus_speed(e->cfg.bus) : 1e6;
	double byte_ns = 8e9 / hz, ns = 0;

	switch (p) {
	case OPS_PHASE_READING:
	case OPS_PHASE_VERIFYING:
		ns = (double)bytes * byte_ns;
		break;
	case OPS_PHASE_BACKUP: /* an erase's read-first pass; a write's fsync is quick */
		ns = (double)bytes * byte_ns;
		break;
	case OPS_PHASE_ERASING: {
		const struct chip_erase_type *big = info->n_erase ? &info->erase[info->n_erase - 1]
								  : NULL;

		if (big && big->size)
			ns = (double)bytes * (double)big->typ_us * 1e3 / (double)big->size;
		break;
	}
	case OPS_PHASE_PROGRAMMING: {
		double page = info->page_size ? (double)info->page_size : 256.0;
		double typ_us = info->page_size > 1 ? info->page_program_typ_us
						    : info->byte_program_typ_us;

		ns = (double)bytes / page * (typ_us * 1e3 + (page + 4) * byte_ns);
		break;
	}
	default:
		break;
	}
	return (uint64_t)ns;
}

static void hk_plan(void *ctx, enum ops_phase p, uint64_t total)
{
	struct run *run = ctx;

	if (p == OPS_PHASE_READING && run->restore_read_total)
		total = run->restore_read_total;

	job_plan_phase(run->job, phase_map[p], total, estimate_ns(run->e, p, total));
}

static void hk_phase(void *ctx, enum ops_phase p, uint64_t total)
{
	struct run *run = ctx;

	if (p == OPS_PHASE_READING && run->restore_read_total)
		total = run->restore_read_total;
	if (job_get_phase(run->job) == phase_map[p] && run->entered[p])
		return;
	if (run->entered[p])
		job_resume_phase(run->job, phase_map[p]);
	else
		job_set_phase(run->job, phase_map[p], total);
	run->entered[p] = true;
	if (run->e->cfg.on_phase)
		run->e->cfg.on_phase(run->e->cfg.on_phase_ctx, run->job, phase_map[p]);
}

static void hk_progress(void *ctx, uint64_t n)
{
	struct run *run = ctx;

	job_progress_add(run->job, n);
	atomic_store(&run->e->heartbeat_ns, fclock_mono_ns());
}

static bool hk_cancelled(void *ctx)
{
	struct run *run = ctx;

	return job_cancel_requested(run->job) || atomic_load(&run->e->stopping);
}

static void hk_range(void *ctx, enum ops_range_kind k, uint32_t addr, uint32_t len)
{
	static const enum job_range_kind map[_OPS_RANGE_MAX] = {
		[OPS_RANGE_ERASED] = JOB_RANGE_ERASED,
		[OPS_RANGE_PROGRAMMED] = JOB_RANGE_PROGRAMMED,
		[OPS_RANGE_MISMATCH] = JOB_RANGE_MISMATCH,
	};
	struct run *run = ctx;

	/* lock-free: the job tracks these kinds as bitmaps (job_track_ranges in run_job) */
	job_add_range(run->job, map[k], addr, len);
	if (k != OPS_RANGE_MISMATCH) {
		job_add_range(run->job, JOB_RANGE_CHANGED, addr, len);
		run->changed = true; /* a destructive command is about to be sent */
	}
}

static ssize_t hk_source(void *ctx, uint8_t *buf, size_t len)
{
	struct run *run = ctx;
	size_t done = 0;

	if (run->inline_src) {
		size_t n = MIN(len, run->inline_len - run->inline_pos);

		memcpy(buf, run->inline_src + run->inline_pos, n);
		run->inline_pos += n;
		return (ssize_t)n;
	}
	if (!run->q)
		return 0;
	while (done < len) {
		size_t n;
		int r;

		if (!run->blk) {
			r = blockq_pop(run->q, STREAM_TIMEOUT_MS, &run->blk);
			if (r < 0)
				return r == -ETIMEDOUT ? -ETIMEDOUT : r;
			if (r == 0) { /* end of stream */
				run->blk = NULL;
				break;
			}
			run->blk_off = 0;
		}
		n = MIN(len - done, run->blk->len - run->blk_off);
		memcpy(buf + done, run->blk->data + run->blk_off, n);
		run->blk_off += n;
		done += n;
		if (run->blk_off == run->blk->len) {
			blockq_release(run->q, run->blk);
			run->blk = NULL;
		}
	}
	return (ssize_t)done;
}

static int hk_source_end(void *ctx)
{
	struct run *run = ctx;
	int r;

	if (run->inline_src)
		return run->inline_pos == run->inline_len ? 0 : -EMSGSIZE;
	if (!run->q)
		return 0;
	if (run->blk)
		return -EMSGSIZE;
	r = blockq_pop(run->q, STREAM_TIMEOUT_MS, &run->blk);
	if (r == 1) {
		blockq_release(run->q, run->blk);
		run->blk = NULL;
		return -EMSGSIZE;
	}
	return r;
}

static int hk_sink(void *ctx, const uint8_t *buf, size_t len)
{
	struct run *run = ctx;

	if (run->inline_dst) {
		if (len > run->inline_cap - run->inline_used)
			return -EMSGSIZE;
		memcpy(run->inline_dst + run->inline_used, buf, len);
		run->inline_used += len;
		return 0;
	}
	while (len) {
		struct blockq_block *b;
		size_t n;
		int r = blockq_get_free(run->q, STREAM_TIMEOUT_MS, &b);

		if (r < 0)
			return r;
		n = MIN(len, b->cap);
		memcpy(b->data, buf, n);
		r = blockq_push(run->q, b, n);
		if (r < 0)
			return r;
		buf += n;
		len -= n;
	}
	return 0;
}

static int hk_backup_add(void *ctx, uint32_t addr, const uint8_t *data, size_t len)
{
	struct run *run = ctx;
	const struct chip_info *info = nor_info(run->e->nor);
	int r;

	if (!run->backup) {
		struct backup_meta meta = {
			.job_id = job_get_id(run->job),
			.jedec_id = info->jedec_id,
			.chip_size = info->size,
		};

		snprintf(meta.chip, sizeof(meta.chip), "%s", info->name);
		/* the worst case: every erase window the job's real range touches */
		r = backup_begin(run->e->backups, &meta, run->backup_max, &run->backup,
				 run->backup_msg, sizeof(run->backup_msg));
		if (r < 0)
			return r;
	}
	return backup_add(run->backup, addr, data, len);
}

static int hk_backup_commit(void *ctx)
{
	struct run *run = ctx;

	return run->backup ? backup_sync(run->backup) : 0;
}

/*
 * Keep the backup of a job that sent a destructive command (whether it then succeeded or
 * not); a job that sent none left the chip as the backup says, so its backup is dropped
 * and pushes no older backup out.
 */
static void finish_backup(struct run *run)
{
	struct backup_info info;
	int r;

	if (!run->backup)
		return;
	if (!run->changed) {
		backup_discard(run->backup);
		run->backup = NULL;
		return;
	}
	r = backup_commit(run->backup, &info);
	run->backup = NULL;
	if (r < 0) {
		log_errno(LOG_LVL_ERR, r, "job %llu: saving its backup",
			  (unsigned long long)job_get_id(run->job));
		return;
	}
	job_set_backup_id(run->job, info.id);
	log_info("job %llu: backup %s (%llu bytes) holds the previous contents",
		 (unsigned long long)job_get_id(run->job), info.id,
		 (unsigned long long)info.total_bytes);
	backup_info_clear(&info);
}

/* A job that ended early says in the journal exactly what it had changed on the chip. */
static void log_changed_ranges(struct job *job)
{
	struct job_snapshot s;
	char buf[512];
	size_t used = 0;

	if (job_snapshot(job, &s) < 0)
		return;
	buf[0] = 0;
	for (size_t i = 0; i < s.n_ranges[JOB_RANGE_CHANGED] && used + 40 < sizeof(buf); i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s0x%06x+%llu",
					 i ? ", " : "", s.ranges[JOB_RANGE_CHANGED][i].addr,
					 (unsigned long long)s.ranges[JOB_RANGE_CHANGED][i].len);
	if (s.n_ranges[JOB_RANGE_CHANGED])
		log_notice("job %llu %s after changing %s%s%s%s", (unsigned long long)s.id,
			   job_state_name(s.state), buf,
			   s.backup_id[0] ? "; previous contents in backup " : "",
			   s.backup_id, s.backup_id[0] ? "" : "");
	else
		log_info("job %llu %s before changing anything", (unsigned long long)s.id,
			 job_state_name(s.state));
	job_snapshot_clear(&s);
}

/* ---- restore: the backup's records streamed into one smart write ---- */

/* Make the current record one with bytes left, or reach the end. */
static void rec_fill(struct run *run)
{
	while (!run->rec_eof && !run->rec_err && run->rec_off == run->rec_len) {
		int r = backup_reader_next(run->rd, &run->rec_addr, &run->rec_data, &run->rec_len);

		run->rec_off = 0;
		if (r == 0)
			run->rec_eof = true;
		else if (r < 0)
			run->rec_err = r;
	}
}

static uint64_t hk_overlay_next(void *ctx, uint64_t addr)
{
	struct run *run = ctx;

	(void)addr;
	rec_fill(run);
	if (run->rec_eof || run->rec_err)
		return run->rec_err ? addr : UINT64_MAX; /* an error surfaces in hk_overlay */
	return (uint64_t)run->rec_addr + run->rec_off;
}

static int hk_overlay(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
	struct run *run = ctx;
	uint64_t end = (uint64_t)addr + len;

	for (;;) {
		uint64_t at;
		size_t n;

		rec_fill(run);
		if (run->rec_err)
			return run->rec_err;
		if (run->rec_eof)
			return 0;
		at = (uint64_t)run->rec_addr + run->rec_off;
		if (at >= end)
			return 0;
		if (at < addr)
			return -EBADMSG; /* not in address order: checked before starting */
		n = (size_t)MIN((uint64_t)(run->rec_len - run->rec_off), end - at);
		memcpy(buf + (at - addr), run->rec_data + run->rec_off, n);
		digest_update(&run->rec_digest, run->rec_data + run->rec_off, n);
		run->rec_off += n;
	}
}

/*
 * Restore a backup: the chip must be the one it was taken from, the records go in address
 * order into one smart write (so only what differs is erased and programmed, and the
 * windows are read once), and what the restore overwrites is itself backed up first.
 */
static int run_restore(struct run *run, struct ops_hooks *h, struct ops_result *res,
		       struct nor_error *err)
{
	struct engine *e = run->e;
	const struct job_params *p = job_get_params(run->job);
	const struct chip_info *chip = nor_info(e->nor);
	struct backup_info info = {0};
	struct ops_write_opts o;
	uint64_t lo, hi, prev_end = 0, win = 0;
	char sha[DIGEST_SHA256_HEX_SIZE];
	uint32_t crc;
	int r;

	r = backup_reader_open(e->backups, p->backup_id, &run->rd, &info);
	if (r < 0) {
		snprintf(err->op, sizeof(err->op), "restore");
		snprintf(err->detail, sizeof(err->detail),
			 r == -ENOENT  ? "no backup \"%.64s\""
			 : r == -EBADMSG ? "backup %.64s is damaged (checksums do not match); "
					   "nothing was written"
					 : "backup %.64s cannot be read",
			 p->backup_id);
		return r;
	}
	if (info.meta.jedec_id != chip->jedec_id || info.meta.chip_size != chip->size) {
		r = -EINVAL;
		snprintf(err->op, sizeof(err->op), "restore");
		snprintf(err->detail, sizeof(err->detail),
			 "backup %.64s was taken from %.32s (%06x, %llu bytes), not this %.32s "
			 "(%06x, %u bytes); nothing was written",
			 info.id, info.meta.chip, info.meta.jedec_id,
			 (unsigned long long)info.meta.chip_size, chip->name, chip->jedec_id,
			 chip->size);
		goto out;
	}
	for (size_t i = 0; i < info.n_ranges; i++) {
		if (info.ranges[i].addr < prev_end ||
		    (uint64_t)info.ranges[i].addr + info.ranges[i].len > chip->size) {
			r = -EBADMSG;
			snprintf(err->op, sizeof(err->op), "restore");
			snprintf(err->detail, sizeof(err->detail),
				 "backup %.64s has overlapping or out-of-order ranges (at 0x%06X); "
				 "nothing was written",
				 info.id, info.ranges[i].addr);
			goto out;
		}
		prev_end = (uint64_t)info.ranges[i].addr + info.ranges[i].len;
	}
	if (!info.n_ranges)
		goto out;
	for (unsigned i = 0; i < chip->n_erase; i++)
		win = MAX(win, (uint64_t)chip->erase[i].size);
	lo = info.ranges[0].addr;
	hi = prev_end;
	/* the reading pass covers the windows holding backup data, not the whole span */
	for (size_t i = 0, last_w = SIZE_MAX; win && i < info.n_ranges; i++) {
		uint64_t a = info.ranges[i].addr, end = a + info.ranges[i].len;

		for (uint64_t w = a / win; w * win < end; w++) {
			if (w == last_w)
				continue;
			run->restore_read_total +=
				MIN(hi, (w + 1) * win) - MAX(lo, w * win);
			last_w = (size_t)w;
		}
	}
	run->backup_max = hi - lo + 2 * win;
	digest_init(&run->rec_digest);
	h->source = NULL;
	h->source_end = NULL;
	h->overlay = hk_overlay;
	h->overlay_next = hk_overlay_next;
	ops_write_opts_init(&o);
	o.unlock = p->unlock;
	o.spool_dir = e->state_dir;
	r = ops_write(e->nor, h, (uint32_t)lo, hi - lo, &o, res, err);
	if (r >= 0 && run->rec_err) {
		r = run->rec_err;
		snprintf(err->op, sizeof(err->op), "restore");
		snprintf(err->detail, sizeof(err->detail), "backup %.64s could not be read back",
			 info.id);
	}
	digest_final(&run->rec_digest, &crc, sha);
	res->crc32 = crc;
	snprintf(res->sha256, sizeof(res->sha256), "%s", sha);
out:
	backup_reader_close(run->rd);
	run->rd = NULL;
	backup_info_clear(&info);
	return r;
}

/*
 * Worker: a clock set with engine_set_speed() takes effect between jobs, at the latest
 * WORKER_POLL_MS after the call when idle. Under chip_lock, so engine_chip() reports either
 * the pending clock or the applied one, never the old one.
 */
static void apply_speed(struct engine *e)
{
	uint32_t want;
	int r;

	if (!atomic_load(&e->want_speed_hz))
		return;
	pthread_mutex_lock(&e->chip_lock);
	want = atomic_exchange(&e->want_speed_hz, 0);
	if (want) {
		r = spibus_set_speed(e->cfg.bus, want);
		if (r < 0)
			log_errno(LOG_LVL_WARN, r, "setting the SPI clock to %u Hz, ignoring",
				  want);
		e->chip.speed_hz = spibus_speed(e->cfg.bus);
	}
	pthread_mutex_unlock(&e->chip_lock);
}

/*
 * Destructive jobs record what they change exactly: bitmaps over the erase windows the job
 * can touch (an unaligned edge brings its whole window), one bit per smallest erase unit
 * and per page. A failure here only makes the ranges coarser (the bounded list).
 */
static void track_ranges(struct engine *e, struct run *run, uint32_t addr, uint64_t len)
{
	struct job *job = run->job;
	const struct chip_info *info = nor_info(e->nor);
	uint64_t lo, hi;
	uint32_t unit, win;

	if (!info->n_erase || !len || (uint64_t)addr + len > info->size)
		return;
	unit = info->erase[0].size;
	win = info->erase[info->n_erase - 1].size;
	for (unsigned i = 0; i < info->n_erase; i++) {
		unit = MIN(unit, info->erase[i].size);
		win = MAX(win, info->erase[i].size);
	}
	lo = addr - addr % win;
	hi = MIN((uint64_t)info->size, ((uint64_t)addr + len + win - 1) / win * win);
	run->backup_max = hi - lo;
	if (job_track_ranges(job, (uint32_t)lo, hi - lo, unit,
			     info->page_size ? info->page_size : 1) < 0)
		log_warn("job %llu: exact ranges unavailable (out of memory), ignoring",
			 (unsigned long long)job_get_id(job));
}

static void run_job(struct engine *e, struct job *job)
{
	const struct job_params *p = job_get_params(job);
	struct run run = {.e = e, .job = job, .q = job_stream(job)};
	struct ops_hooks h = {
		.ctx = &run,
		.plan = hk_plan,
		.phase = hk_phase,
		.progress = hk_progress,
		.cancelled = hk_cancelled,
		.range = hk_range,
		.source = hk_source,
		.source_end = hk_source_end,
		.sink = hk_sink,
		.backup_add = hk_backup_add,
		.backup_commit = hk_backup_commit,
	};
	struct ops_result res = {0};
	struct nor_error err = {0};
	uint64_t len;
	int r;

	set_status(e, "%s job %llu running", job_type_name(p->type),
		   (unsigned long long)job_get_id(job));
	apply_speed(e);
	if (p->data == JOB_DATA_BUFFER && p->type != JOB_READ)
		run.inline_src = job_inline_data(job, &run.inline_len);
	if (p->data == JOB_DATA_BUFFER && p->type == JOB_READ)
		run.inline_dst = job_result_buffer(job, &run.inline_cap);

	/* cancelled while it waited (job_cancel() on a queued job): it never starts */
	if (job_cancel_requested(job)) {
		r = -ECANCELED;
		snprintf(err.detail, sizeof(err.detail), "cancelled before it started; nothing "
			 "was changed");
		goto out;
	}
	if (p->type == JOB_PROBE) {
		r = identify(e, &err);
		goto out;
	}
	r = check_chip(e, &err);
	if (r < 0)
		goto out;
	len = p->whole_chip || (p->len == 0 && p->type != JOB_UNLOCK && p->type != JOB_RESTORE)
		      ? nor_info(e->nor)->size - p->addr
		      : p->len;
	if (p->whole_chip && p->addr) {
		r = -EINVAL;
		snprintf(err.detail, sizeof(err.detail), "whole_chip with a non-zero offset");
		goto out;
	}
	if (p->type == JOB_WRITE || p->type == JOB_ERASE || p->type == JOB_RESTORE)
		track_ranges(e, &run, p->type == JOB_RESTORE ? 0 : p->addr,
			     p->type == JOB_RESTORE ? nor_info(e->nor)->size : len);

	switch (p->type) {
	case JOB_READ:
		r = ops_read(e->nor, &h, p->addr, len, p->read_passes, &res, &err);
		break;
	case JOB_WRITE: {
		struct ops_write_opts o;

		ops_write_opts_init(&o);
		o.full = p->write_mode == JOB_WRITE_FULL;
		o.verify = p->verify;
		o.unlock = p->unlock;
		o.preserve = p->preserve;
		o.spool_dir = e->state_dir;
		r = ops_write(e->nor, &h, p->addr, len, &o, &res, &err);
		break;
	}
	case JOB_ERASE: {
		struct ops_erase_opts o;

		ops_erase_opts_init(&o);
		o.unlock = p->unlock;
		o.preserve = p->preserve;
		o.backup = !p->no_backup;
		o.spool_dir = e->state_dir;
		r = ops_erase(e->nor, &h, p->addr, len, &o, &res, &err);
		break;
	}
	case JOB_VERIFY:
		r = ops_verify(e->nor, &h, p->addr, len, &res, &err);
		break;
	case JOB_BLANK_CHECK:
		r = ops_blank_check(e->nor, &h, p->addr, len, &res, &err);
		if (r >= 0)
			job_set_blank_result(job, res.blank, res.first_non_blank);
		break;
	case JOB_UNLOCK:
		r = nor_unlock(e->nor, NULL);
		if (r < 0)
			err = *nor_last_error(e->nor);
		break;
	case JOB_RESTORE:
		run.inline_src = NULL;
		r = run_restore(&run, &h, &res, &err);
		break;
	default:
		r = -EINVAL;
		snprintf(err.detail, sizeof(err.detail), "unknown job type");
		break;
	}

out:
	if (r < 0 && run.backup_msg[0]) {
		snprintf(err.op, sizeof(err.op), "backup");
		err.has_addr = false;
		snprintf(err.detail, sizeof(err.detail), "%.170s; nothing was changed", run.backup_msg);
	}
	if (e->nor) {
		int r2 = nor_idle(e->nor);

		if (r2 < 0 && r >= 0) {
			r = r2;
			err = *nor_last_error(e->nor);
		}
		if (p->type == JOB_UNLOCK || res.unlocked)
			publish_chip(e, 0, &e->chip.report, NULL);
	}
	if (run.blk)
		blockq_release(run.q, run.blk);
	if (run.q) {
		if (r < 0)
			blockq_abort(run.q, r);
		else
			blockq_close(run.q);
	}
	finish_backup(&run);
	/* digests describe the whole image or dump; a job that failed part-way has none */
	if (r >= 0 && res.sha256[0])
		job_set_digests(job, res.crc32, res.sha256);
	if (run.inline_dst)
		job_set_result_len(job, run.inline_used);
	if (r >= 0) {
		job_finish(job, JOB_DONE);
	} else {
		enum job_state st = JOB_FAILED;

		if (r == -ECANCELED)
			st = atomic_load(&e->stopping) ? JOB_INTERRUPTED : JOB_CANCELLED;
		job_fail(job, r, err.op[0] ? err.op : job_type_name(p->type),
			 err.has_addr ? err.addr : JOB_NO_ADDR, "%s",
			 err.detail[0] ? err.detail : errno_name(r));
		log_err("job %llu (%s) %s: %s%s0x%06X: %s: %s", (unsigned long long)job_get_id(job),
			job_type_name(p->type), st == JOB_FAILED ? "failed" : job_state_name(st),
			err.op, " ", err.addr, err.detail, errno_name(r));
		job_finish(job, st);
		log_changed_ranges(job);
	}
	set_status(e, "idle: %s", e->nor ? nor_info(e->nor)->name : "no chip");
}

static void *worker_main(void *arg)
{
	struct engine *e = arg;

	log_set_thread_name("worker");
	atomic_store(&e->heartbeat_ns, fclock_mono_ns());
	(void)identify(e, NULL);
	for (;;) {
		struct job *job = NULL;
		int r = jobq_pop(e->jobq, WORKER_POLL_MS, &job);

		atomic_store(&e->heartbeat_ns, fclock_mono_ns());
		if (r == -ESHUTDOWN)
			break;
		if (r < 0 || !job) {
			apply_speed(e);
			continue;
		}
		run_job(e, job);
		jobq_done(e->jobq, job);
		job_unref(job);
	}
	if (e->nor)
		(void)nor_idle(e->nor);
	return NULL;
}

/* ---- front-end API ---- */

int engine_new(const struct engine_config *c, struct engine **ret)
{
	struct engine *e;
	int r;

	if (!c || !c->bus || !c->state_dir)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->cfg = *c;
	if (!e->cfg.block_size)
		e->cfg.block_size = JOB_STREAM_BLOCK_SIZE_DEFAULT;
	if (!e->cfg.n_blocks)
		e->cfg.n_blocks = JOB_STREAM_BLOCKS_DEFAULT;
	pthread_mutex_init(&e->chip_lock, NULL);
	e->state_dir = strdup(c->state_dir);
	if (!e->state_dir) {
		r = -ENOMEM;
		goto fail;
	}
	e->cfg.state_dir = e->state_dir;
	if (mkdir(e->state_dir, 0700) < 0 && errno != EEXIST) {
		r = log_errno(LOG_LVL_ERR, errno, "creating the state directory \"%s\"",
			      e->state_dir);
		goto fail;
	}
	r = jobq_new(c->max_pending, c->history, &e->jobq);
	if (r < 0)
		goto fail;
	{
		char dir[4096];

		snprintf(dir, sizeof(dir), "%s/backups", e->state_dir);
		r = backup_store_open(dir, c->backup_max_count, c->backup_max_bytes, &e->backups);
		if (r < 0) {
			log_errno(LOG_LVL_ERR, r, "opening the backup store \"%s\"", dir);
			goto fail;
		}
	}
	e->chip.speed_hz = spibus_speed(c->bus);
	*ret = e;
	return 0;
fail:
	engine_free(e);
	return r;
}

int engine_start(struct engine *e)
{
	int r = pthread_create(&e->worker, NULL, worker_main, e);

	if (r)
		return -r;
	e->started = true;
	return 0;
}

/* A job still queued at shutdown never ran: interrupted (by the daemon), not cancelled. */
static void interrupt_queued(struct job *job, void *ctx)
{
	(void)ctx;
	job_fail(job, -ESHUTDOWN, job_type_name(job_get_params(job)->type), JOB_NO_ADDR,
		 "the daemon stopped before the job ran; nothing was changed");
	job_finish(job, JOB_INTERRUPTED);
}

void engine_stop(struct engine *e)
{
	if (!e || !e->started)
		return;
	atomic_store(&e->stopping, true);
	jobq_close(e->jobq);
	jobq_drain_pending(e->jobq, interrupt_queued, NULL);
	pthread_join(e->worker, NULL);
	e->started = false;
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	engine_stop(e);
	nor_free(e->nor);
	jobq_free(e->jobq);
	backup_store_close(e->backups);
	pthread_mutex_destroy(&e->chip_lock);
	free(e->state_dir);
	free(e);
}

int engine_submit(struct engine *e, const struct job_params *p, struct job **ret, char *busy_msg,
		  size_t busy_len)
{
	struct job *job;
	int r;

	if (atomic_load(&e->stopping))
		return -ESHUTDOWN;
	if (p->data == JOB_DATA_STREAM && (!p->stream_block_size || !p->stream_blocks)) {
		/* the daemon's stream geometry unless the front end chose its own */
		struct job_params q = *p;

		if (!q.stream_block_size)
			q.stream_block_size = e->cfg.block_size;
		if (!q.stream_blocks)
			q.stream_blocks = e->cfg.n_blocks;
		r = job_new(&q, &job);
	} else {
		r = job_new(p, &job);
	}
	if (r < 0)
		return r;
	r = jobq_submit(e->jobq, job);
	if (r < 0) {
		if (r == -EBUSY && busy_msg)
			jobq_describe_busy(e->jobq, busy_msg, busy_len);
		job_unref(job);
		return r;
	}
	*ret = job;
	return 0;
}

int engine_cancel_job(struct engine *e, uint64_t id)
{
	return jobq_cancel(e->jobq, id);
}

struct job *engine_find_job(struct engine *e, uint64_t id)
{
	return jobq_find(e->jobq, id);
}

void engine_list_jobs(struct engine *e, int (*cb)(struct job *job, void *ctx), void *ctx)
{
	(void)jobq_list(e->jobq, cb, ctx);
}

int engine_chip(struct engine *e, struct engine_chip *ret)
{
	uint32_t want;

	pthread_mutex_lock(&e->chip_lock);
	*ret = e->chip;
	want = atomic_load(&e->want_speed_hz);
	if (want)
		ret->speed_hz = want; /* set, not yet applied: the next job runs at it */
	pthread_mutex_unlock(&e->chip_lock);
	return 0;
}

int engine_set_speed(struct engine *e, uint32_t hz)
{
	struct engine_chip c;

	if (hz == 0)
		return -EINVAL;
	engine_chip(e, &c);
	if (c.present && c.info.max_clock_hz && hz > c.info.max_clock_hz)
		return -EINVAL;
	atomic_store(&e->want_speed_hz, hz);
	return 0;
}

bool engine_busy(struct engine *e)
{
	struct job *job = jobq_running(e->jobq);

	job_unref(job);
	return job != NULL;
}

uint64_t engine_heartbeat_ns(struct engine *e)
{
	return atomic_load(&e->heartbeat_ns);
}

struct backup_store *engine_backups(struct engine *e)
{
	return e->backups;
}
