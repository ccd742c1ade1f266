/* SPDX-License-Identifier: MIT */
/*
 * rpc_methods.c - every JSON-RPC method of flashd.
 *
 * Handlers run on HTTP threads. They never touch the bus: they read the engine's chip
 * snapshot, submit jobs and copy job records. The only waiting is the optional bounded
 * "wait" for a job to end. Addresses and sizes are plain numbers in parameters and results;
 * addresses in error data are hex strings (rpc_error_from_errno).
 */
#include "rpc_methods.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup.h"
#include "clock.h"
#include "engine.h"
#include "errmap.h"
#include "job.h"
#include "log.h"
#include "rpc.h"
#include "util.h"

struct ctx {
	struct engine *engine;
	const struct rpc_daemon_info *info;
};

/* ---- JSON of engine records ---- */

static json_t *ranges_json(const struct job_range *r, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:I,s:I}", "offset", (json_int_t)r[i].addr,
						   "length", (json_int_t)r[i].len));
	return a;
}

static json_t *error_json(const struct job_error *e)
{
	const struct errmap_entry *m = errmap_lookup(e->code);
	char addr[24];
	json_t *data = json_pack("{s:s,s:s,s:s}", "errno", errno_name(e->code), "op", e->op,
				 "detail", e->detail);

	if (e->has_addr) {
		snprintf(addr, sizeof(addr), e->addr > 0xffffff ? "0x%08x" : "0x%06x", e->addr);
		json_object_set_new(data, "addr", json_string(addr));
	}
	return json_pack("{s:i,s:s,s:o}", "code", m->rpc_code, "message", m->text, "data", data);
}

static double secs(uint64_t a, uint64_t b)
{
	return b > a ? (double)(b - a) / 1e9 : 0.0;
}

json_t *rpc_job_json(struct job *job)
{
	static const char *const range_names[_JOB_RANGE_KIND_MAX] = {
		[JOB_RANGE_ERASED] = "erased",
		[JOB_RANGE_PROGRAMMED] = "programmed",
		[JOB_RANGE_CHANGED] = "changed",
		[JOB_RANGE_MISMATCH] = "mismatch",
	};
	struct job_snapshot s;
	json_t *o, *params, *ranges, *result, *times;

	if (job_snapshot(job, &s) < 0)
		return json_null();
	params = json_pack("{s:I,s:I,s:b}", "offset", (json_int_t)s.params.addr, "length",
			   (json_int_t)s.params.len, "whole_chip", s.params.whole_chip);
	if (s.params.type == JOB_WRITE) {
		json_object_set_new(params, "mode", json_string(s.params.write_mode == JOB_WRITE_FULL
									? "full"
									: "smart"));
		json_object_set_new(params, "verify", json_boolean(s.params.verify));
	}
	if (s.params.unlock)
		json_object_set_new(params, "unlock", json_true());
	if (s.params.type == JOB_READ)
		json_object_set_new(params, "passes", json_integer(s.params.read_passes));
	if (s.params.type == JOB_RESTORE)
		json_object_set_new(params, "backup", json_string(s.params.backup_id));

	ranges = json_object();
	for (int k = 0; k < _JOB_RANGE_KIND_MAX; k++)
		if (s.n_ranges[k] || k != JOB_RANGE_MISMATCH)
			json_object_set_new(ranges, range_names[k],
					    ranges_json(s.ranges[k], s.n_ranges[k]));

	result = json_object();
	if (s.has_digests) {
		char crc[16];

		snprintf(crc, sizeof(crc), "%08x", s.crc32);
		json_object_set_new(result, "crc32", json_string(crc));
		json_object_set_new(result, "sha256", json_string(s.sha256));
	}
	if (s.blank_known) {
		json_object_set_new(result, "blank", json_boolean(s.blank));
		if (!s.blank)
			json_object_set_new(result, "first_non_blank",
					    json_integer(s.first_nonblank));
	}
	if (s.backup_id[0])
		json_object_set_new(result, "backup", json_string(s.backup_id));

	times = json_pack("{s:f,s:f}", "queued_s", secs(s.created_ns, s.started_ns ?: s.created_ns),
			  "duration_s",
			  s.started_ns ? secs(s.started_ns, s.finished_ns ?: fclock_mono_ns()) : 0.0);

	o = json_pack("{s:I,s:s,s:s,s:o,s:o,s:o,s:o}", "id", (json_int_t)s.id, "type",
		      job_type_name(s.params.type), "state", job_state_name(s.state), "params",
		      params, "ranges", ranges, "result", result, "times", times);
	json_object_set_new(o, "progress",
			    json_pack("{s:s,s:I,s:I,s:I}", "phase", job_phase_name(s.phase), "done",
				      (json_int_t)s.done, "total", (json_int_t)s.total, "rate",
				      (json_int_t)s.rate_bps));
	if (s.eta_known)
		json_object_set_new(json_object_get(o, "progress"), "eta",
				    json_integer((json_int_t)s.eta_s));
	if (s.cancel_requested)
		json_object_set_new(o, "cancel_requested", json_true());
	if (s.has_error)
		json_object_set_new(o, "error", error_json(&s.error));
	job_snapshot_clear(&s);
	return o;
}

/* ---- helpers ---- */

static int check_names(json_t *params, const char *const *names, size_t n, struct rpc_error *err)
{
	if (!params)
		return 0;
	return rpc_params_check(params, names, n, err);
}
#define CHECK(params, err, ...)                                                                    \
	do {                                                                                       \
		static const char *const names_[] = {__VA_ARGS__};                                 \
		int r_ = check_names((params), names_, ARRAY_SIZE(names_), (err));                 \
		if (r_ < 0)                                                                        \
			return r_;                                                                 \
	} while (0)

static int opt_u32(json_t *params, const char *name, int pos, uint32_t *v, struct rpc_error *err)
{
	return params ? rpc_param_u32(params, name, pos, false, v, err) : 0;
}

static int opt_bool(json_t *params, const char *name, int pos, bool *v, struct rpc_error *err)
{
	return params ? rpc_param_bool(params, name, pos, false, v, err) : 0;
}

static int chip_or_error(struct ctx *c, struct engine_chip *chip, const char *op,
			 struct rpc_error *err)
{
	engine_chip(c->engine, chip);
	if (chip->present)
		return 0;
	return rpc_error_from_errno(err, -ENODEV, op, RPC_NO_ADDR,
				    chip->error.detail[0] ? chip->error.detail
							  : "no chip has been identified");
}

/* Reject ranges the chip cannot hold before a job is queued. */
static int check_range(const struct engine_chip *chip, const char *op, uint64_t addr,
		       uint64_t len, struct rpc_error *err)
{
	char detail[160];

	if (len > chip->info.size) {
		snprintf(detail, sizeof(detail), "%llu bytes is larger than the %u-byte %s",
			 (unsigned long long)len, chip->info.size, chip->info.name);
		return rpc_error_from_errno(err, -EFBIG, op, addr, detail);
	}
	if (addr > chip->info.size || len > chip->info.size - addr) {
		snprintf(detail, sizeof(detail),
			 "0x%06llx + %llu bytes runs past the end of the %u-byte chip",
			 (unsigned long long)addr, (unsigned long long)len, chip->info.size);
		return rpc_error_from_errno(err, -ERANGE, op, addr, detail);
	}
	return 0;
}

/* Submit, optionally wait, and answer {"job": ...}. */
static int submit(struct ctx *c, const struct job_params *p, uint32_t wait_ms, const char *op,
		  json_t **ret, struct rpc_error *err, struct job **ret_job)
{
	char busy[200] = "";
	struct job *job;
	int r = engine_submit(c->engine, p, &job, busy, sizeof(busy));

	if (r < 0)
		return rpc_error_from_errno(err, r, op, RPC_NO_ADDR,
					    r == -EBUSY ? busy : "the job was not accepted");
	if (wait_ms)
		(void)job_wait(job, MIN(wait_ms, RPC_WAIT_MAX_MS));
	if (ret_job) {
		*ret_job = job;
	} else {
		*ret = json_pack("{s:o}", "job", rpc_job_json(job));
		job_unref(job);
	}
	return 0;
}

static int get_wait(json_t *params, uint32_t dflt, uint32_t *wait, struct rpc_error *err)
{
	*wait = dflt;
	int r = opt_u32(params, "wait", -1, wait, err);

	if (r >= 0 && *wait > RPC_WAIT_MAX_MS) {
		rpc_error_set(err, RPC_CODE_INVALID_PARAMS,
			      "Invalid params: \"wait\" is at most %u ms", RPC_WAIT_MAX_MS);
		return -EINVAL;
	}
	return r;
}

/* ---- methods ---- */

static int m_chip_info(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct ctx *c = ctx;
	struct engine_chip chip;
	const struct chip_info *i = &chip.info;
	json_t *erase, *prot, *pr;
	char id[8], volt[32];
	int r;

	CHECK(params, err, "");
	r = chip_or_error(c, &chip, "chip.info", err);
	if (r < 0)
		return r;
	snprintf(id, sizeof(id), "%06x", i->jedec_id);
	if (i->voltage_min_mv)
		snprintf(volt, sizeof(volt), "%u.%u-%u.%u V", i->voltage_min_mv / 1000,
			 i->voltage_min_mv % 1000 / 100, i->voltage_max_mv / 1000,
			 i->voltage_max_mv % 1000 / 100);
	else
		snprintf(volt, sizeof(volt), "unknown");
	erase = json_array();
	for (unsigned k = 0; k < i->n_erase; k++)
		json_array_append_new(erase, json_integer(i->erase[k].size));
	pr = json_array();
	for (unsigned k = 0; k < chip.protect.n_ranges; k++)
		json_array_append_new(pr, json_pack("{s:I,s:I}", "offset",
						    (json_int_t)chip.protect.ranges[k].addr, "length",
						    (json_int_t)chip.protect.ranges[k].len));
	prot = json_pack("{s:s,s:o,s:b,s:b}", "description", chip.protect.description, "ranges",
			 pr, "srp", chip.protect.srp, "locked", chip.protect.sr_locked);
	*ret = json_pack("{s:s,s:s,s:s,s:I,s:I,s:o,s:s,s:I,s:I,s:s,s:o,s:s,s:I}", "name", i->name,
			 "vendor", i->vendor, "jedec_id", id, "size", (json_int_t)i->size,
			 "page_size", (json_int_t)i->page_size, "erase_sizes", erase, "voltage",
			 volt, "max_clock_hz", (json_int_t)i->max_clock_hz, "max_read_clock_hz",
			 (json_int_t)i->max_read_clock_hz, "source",
			 i->source == CHIP_SRC_SFDP	    ? "sfdp"
			 : i->source == CHIP_SRC_CONFIG ? "config"
							: "database",
			 "protection", prot, "datasheet", i->datasheet ? i->datasheet : "",
			 "spi_speed_hz", (json_int_t)chip.speed_hz);
	if (chip.report.notes[0])
		json_object_set_new(*ret, "notes", json_string(chip.report.notes));
	if (chip.report.read_only)
		json_object_set_new(*ret, "read_only", json_true());
	return 0;
}

static int m_chip_probe(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct job_params p;
	uint32_t wait;
	int r;

	CHECK(params, err, "wait");
	r = get_wait(params, 0, &wait, err);
	if (r < 0)
		return r;
	job_params_init(&p, JOB_PROBE);
	return submit(ctx, &p, wait, "chip.probe", ret, err, NULL);
}

/* offset/length params shared by the range methods; length 0 or absent = to the end */
static int range_params(struct ctx *c, json_t *params, const char *op, uint32_t *addr,
			uint64_t *len, bool len_required, struct engine_chip *chip,
			struct rpc_error *err)
{
	int r;

	*addr = 0;
	*len = 0;
	r = chip_or_error(c, chip, op, err);
	if (r < 0)
		return r;
	r = opt_u32(params, "offset", 0, addr, err);
	if (r >= 0)
		r = params ? rpc_param_u64(params, "length", 1, len_required, len, err) : 0;
	if (r < 0)
		return r;
	if (!*len && !len_required && *addr <= chip->info.size)
		*len = chip->info.size - *addr;
	return check_range(chip, op, *addr, *len, err);
}

static int m_flash_read(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct ctx *c = ctx;
	struct engine_chip chip;
	struct job_params p;
	struct job *job = NULL;
	uint32_t addr, passes = 1, wait;
	uint64_t len;
	int r;

	CHECK(params, err, "offset", "length", "passes", "wait");
	r = range_params(c, params, "flash.read", &addr, &len, true, &chip, err);
	if (r >= 0)
		r = opt_u32(params, "passes", 2, &passes, err);
	if (r >= 0)
		r = get_wait(params, 5000, &wait, err);
	if (r < 0)
		return r;
	if (len > RPC_READ_MAX || passes < 1 || passes > JOB_READ_PASSES_MAX) {
		rpc_error_set(err, RPC_CODE_INVALID_PARAMS,
			      len > RPC_READ_MAX
				      ? "Invalid params: \"length\" is at most %u bytes here; use GET "
					"/api/v1/flash for more"
				      : "Invalid params: \"passes\" must be 1..%u",
			      len > RPC_READ_MAX ? RPC_READ_MAX : JOB_READ_PASSES_MAX);
		return -EINVAL;
	}
	job_params_init(&p, JOB_READ);
	p.addr = addr;
	p.len = len;
	p.read_passes = passes;
	p.data = JOB_DATA_BUFFER;
	r = submit(c, &p, wait ? wait : 1, "flash.read", ret, err, &job);
	if (r < 0)
		return r;
	*ret = json_pack("{s:o}", "job", rpc_job_json(job));
	if (job_get_state(job) == JOB_DONE) {
		const uint8_t *data;
		size_t n;

		if (job_get_result(job, &data, &n) >= 0) {
			size_t b64_len = (n + 2) / 3 * 4 + 1;
			char *b64 = malloc(b64_len);

			if (b64) {
				/* jansson has no base64; a tiny encoder beats another library */
				static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
							  "rstuvwxyz0123456789+/";
				size_t o = 0;

				for (size_t i = 0; i < n; i += 3) {
					uint32_t v = (uint32_t)data[i] << 16;

					if (i + 1 < n)
						v |= (uint32_t)data[i + 1] << 8;
					if (i + 2 < n)
						v |= data[i + 2];
					b64[o++] = tbl[(v >> 18) & 63];
					b64[o++] = tbl[(v >> 12) & 63];
					b64[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
					b64[o++] = i + 2 < n ? tbl[v & 63] : '=';
				}
				b64[o] = 0;
				json_object_set_new(*ret, "data", json_string(b64));
				free(b64);
			}
			json_object_set_new(*ret, "length", json_integer((json_int_t)n));
		}
	}
	job_unref(job);
	return 0;
}

static int write_like(struct ctx *c, json_t *params, enum job_type type, const char *op,
		      json_t **ret, struct rpc_error *err)
{
	struct engine_chip chip;
	struct job_params p;
	uint32_t addr = 0, wait;
	uint8_t *buf = NULL;
	size_t n = 0;
	const char *mode = NULL;
	int r;

	r = chip_or_error(c, &chip, op, err);
	if (r < 0)
		return r;
	job_params_init(&p, type);
	r = opt_u32(params, "offset", 0, &addr, err);
	if (r >= 0)
		r = rpc_param_bytes_b64(params, "data", 1, true, RPC_READ_MAX, &buf, &n, err);
	if (r >= 0 && type == JOB_WRITE)
		r = rpc_param_string(params, "mode", -1, false, 8, &mode, err);
	if (r >= 0 && type == JOB_WRITE)
		r = opt_bool(params, "verify", -1, &p.verify, err);
	if (r >= 0)
		r = opt_bool(params, "unlock", -1, &p.unlock, err);
	if (r >= 0 && type == JOB_WRITE)
		r = opt_bool(params, "preserve", -1, &p.preserve, err);
	if (r >= 0)
		r = get_wait(params, 0, &wait, err);
	if (r >= 0 && mode && strcmp(mode, "smart") && strcmp(mode, "full")) {
		rpc_error_set(err, RPC_CODE_INVALID_PARAMS,
			      "Invalid params: \"mode\" must be \"smart\" or \"full\"");
		r = -EINVAL;
	}
	if (r >= 0)
		r = check_range(&chip, op, addr, n, err);
	if (r < 0) {
		free(buf);
		return r;
	}
	p.addr = addr;
	p.len = n;
	p.write_mode = mode && !strcmp(mode, "full") ? JOB_WRITE_FULL : JOB_WRITE_SMART;
	p.data = JOB_DATA_BUFFER;
	p.buf = buf;
	p.buf_len = n;
	r = submit(c, &p, wait, op, ret, err, NULL);
	free(buf);
	return r;
}

static int m_flash_write(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	CHECK(params, err, "offset", "data", "mode", "verify", "unlock", "preserve", "wait");
	return write_like(ctx, params, JOB_WRITE, "flash.write", ret, err);
}

static int m_flash_verify(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	CHECK(params, err, "offset", "data", "wait");
	return write_like(ctx, params, JOB_VERIFY, "flash.verify", ret, err);
}

static int m_flash_erase(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct ctx *c = ctx;
	struct engine_chip chip;
	struct job_params p;
	uint32_t addr = 0, wait;
	uint64_t len = 0;
	bool whole = false, backup = true;
	int r;

	CHECK(params, err, "offset", "length", "whole_chip", "unlock", "preserve", "backup", "wait");
	job_params_init(&p, JOB_ERASE);
	r = opt_bool(params, "whole_chip", -1, &whole, err);
	if (r < 0)
		return r;
	if (whole && params && (json_object_get(params, "offset") ||
				json_object_get(params, "length"))) {
		rpc_error_set(err, RPC_CODE_INVALID_PARAMS,
			      "Invalid params: \"whole_chip\" excludes \"offset\" and \"length\"");
		return -EINVAL;
	}
	if (whole) {
		r = chip_or_error(c, &chip, "flash.erase", err);
	} else {
		if (!params || !json_object_get(params, "length")) {
			rpc_error_set(err, RPC_CODE_INVALID_PARAMS,
				      "Invalid params: give \"offset\" and \"length\", or "
				      "\"whole_chip\": true");
			return -EINVAL;
		}
		r = range_params(c, params, "flash.erase", &addr, &len, true, &chip, err);
	}
	if (r >= 0)
		r = opt_bool(params, "unlock", -1, &p.unlock, err);
	if (r >= 0)
		r = opt_bool(params, "preserve", -1, &p.preserve, err);
	if (r >= 0)
		r = opt_bool(params, "backup", -1, &backup, err);
	if (r >= 0)
		r = get_wait(params, 0, &wait, err);
	if (r < 0)
		return r;
	p.whole_chip = whole;
	p.addr = addr;
	p.len = whole ? chip.info.size : len;
	p.no_backup = !backup;
	return submit(c, &p, wait, "flash.erase", ret, err, NULL);
}

static int m_flash_blank_check(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct ctx *c = ctx;
	struct engine_chip chip;
	struct job_params p;
	uint32_t addr, wait;
	uint64_t len;
	int r;

	CHECK(params, err, "offset", "length", "wait");
	r = range_params(c, params, "flash.blank_check", &addr, &len, false, &chip, err);
	if (r >= 0)
		r = get_wait(params, 0, &wait, err);
	if (r < 0)
		return r;
	job_params_init(&p, JOB_BLANK_CHECK);
	p.addr = addr;
	p.len = len;
	return submit(c, &p, wait, "flash.blank_check", ret, err, NULL);
}

static int m_chip_unlock(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct ctx *c = ctx;
	struct engine_chip chip;
	struct job_params p;
	uint32_t wait;
	int r;

	CHECK(params, err, "wait");
	r = chip_or_error(c, &chip, "chip.unlock", err);
	if (r >= 0)
		r = get_wait(params, 0, &wait, err);
	if (r < 0)
		return r;
	job_params_init(&p, JOB_UNLOCK);
	return submit(c, &p, wait, "chip.unlock", ret, err, NULL);
}

static int list_cb(struct job *job, void *ctx)
{
	json_array_append_new(ctx, rpc_job_json(job));
	return 0;
}

static int m_job_list(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct ctx *c = ctx;
	json_t *a = json_array();

	CHECK(params, err, "");
	engine_list_jobs(c->engine, list_cb, a);
	*ret = json_pack("{s:o}", "jobs", a);
	return 0;
}

static int find_job(struct ctx *c, json_t *params, const char *op, struct job **ret,
		    struct rpc_error *err)
{
	uint64_t id = 0;
	char detail[64];
	int r = params ? rpc_param_u64(params, "id", 0, true, &id, err)
		       : rpc_param_u64(json_object(), "id", 0, true, &id, err);

	if (r < 0)
		return r;
	*ret = engine_find_job(c->engine, id);
	if (*ret)
		return 0;
	snprintf(detail, sizeof(detail), "no job %llu (finished jobs are kept for a while only)",
		 (unsigned long long)id);
	return rpc_error_from_errno(err, -ENOENT, op, RPC_NO_ADDR, detail);
}

static int m_job_get(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct job *job;
	uint32_t wait;
	int r;

	CHECK(params, err, "id", "wait");
	r = get_wait(params, 0, &wait, err);
	if (r >= 0)
		r = find_job(ctx, params, "job.get", &job, err);
	if (r < 0)
		return r;
	if (wait)
		(void)job_wait(job, wait);
	*ret = json_pack("{s:o}", "job", rpc_job_json(job));
	job_unref(job);
	return 0;
}

static int m_job_cancel(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct job *job;
	int r;

	CHECK(params, err, "id");
	r = find_job(ctx, params, "job.cancel", &job, err);
	if (r < 0)
		return r;
	(void)engine_cancel_job(((struct ctx *)ctx)->engine, job_get_id(job));
	*ret = json_pack("{s:o}", "job", rpc_job_json(job));
	job_unref(job);
	return 0;
}

static int backup_cb(const struct backup_info *b, void *ctx)
{
	json_t *ranges = json_array();

	for (size_t i = 0; i < b->n_ranges; i++)
		json_array_append_new(ranges, json_pack("{s:I,s:I}", "offset",
							(json_int_t)b->ranges[i].addr, "length",
							(json_int_t)b->ranges[i].len));
	char created[32], jedec[8];
	time_t secs_rt = (time_t)(b->created_ns / 1000000000u);
	struct tm tm;

	gmtime_r(&secs_rt, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(jedec, sizeof(jedec), "%06x", b->meta.jedec_id);
	json_array_append_new(ctx, json_pack("{s:s,s:s,s:I,s:s,s:s,s:I,s:o,s:s,s:b}", "id", b->id,
					     "created", created, "job", (json_int_t)b->meta.job_id,
					     "chip", b->meta.chip, "jedec_id", jedec, "bytes",
					     (json_int_t)b->total_bytes, "ranges", ranges,
					     "sha256", b->sha256, "complete", !b->incomplete));
	return 0;
}

static int m_backup_list(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct ctx *c = ctx;
	json_t *a = json_array();
	int r;

	CHECK(params, err, "");
	r = backup_list(engine_backups(c->engine), backup_cb, a);
	if (r < 0) {
		json_decref(a);
		return rpc_error_from_errno(err, r, "backup.list", RPC_NO_ADDR,
					    "cannot read the backup directory");
	}
	*ret = json_pack("{s:o}", "backups", a);
	return 0;
}

static int m_backup_restore(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct ctx *c = ctx;
	struct engine_chip chip;
	struct backup_info info;
	struct job_params p;
	const char *id = NULL;
	uint32_t wait;
	char detail[256];
	int r;

	CHECK(params, err, "id", "unlock", "wait");
	job_params_init(&p, JOB_RESTORE);
	r = params ? rpc_param_string(params, "id", 0, true, JOB_BACKUP_ID_SIZE - 1, &id, err)
		   : rpc_param_string(json_object(), "id", 0, true, 1, &id, err);
	if (r >= 0)
		r = opt_bool(params, "unlock", -1, &p.unlock, err);
	if (r >= 0)
		r = get_wait(params, 0, &wait, err);
	if (r >= 0)
		r = chip_or_error(c, &chip, "backup.restore", err);
	if (r < 0)
		return r;
	r = backup_get(engine_backups(c->engine), id, &info);
	if (r < 0) {
		snprintf(detail, sizeof(detail), "no backup \"%s\"", id);
		return rpc_error_from_errno(err, -ENOENT, "backup.restore", RPC_NO_ADDR, detail);
	}
	if (info.meta.jedec_id != chip.info.jedec_id || info.meta.chip_size != chip.info.size) {
		snprintf(detail, sizeof(detail), "backup %.64s was taken from %.32s (%06x), not this %.32s",
			 id, info.meta.chip, info.meta.jedec_id, chip.info.name);
		backup_info_clear(&info);
		return rpc_error_from_errno(err, -EINVAL, "backup.restore", RPC_NO_ADDR, detail);
	}
	backup_info_clear(&info);
	snprintf(p.backup_id, sizeof(p.backup_id), "%s", id);
	return submit(c, &p, wait, "backup.restore", ret, err, NULL);
}

static int m_daemon_info(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct ctx *c = ctx;
	struct engine_chip chip;
	json_t *listen = json_array();

	CHECK(params, err, "");
	engine_chip(c->engine, &chip);
	for (const char *const *l = c->info->listen; l && *l; l++)
		json_array_append_new(listen, json_string(*l));
	*ret = json_pack("{s:s,s:s,s:I,s:f,s:o,s:s,s:b}", "version", c->info->version, "backend",
			 c->info->backend, "spi_speed_hz", (json_int_t)chip.speed_hz, "uptime_s",
			 secs(c->info->started_ns, fclock_mono_ns()), "listen", listen,
			 "state_dir", c->info->state_dir, "chip_present", chip.present);
	return 0;
}

static int settings_json(struct ctx *c, json_t **ret)
{
	struct engine_chip chip;

	engine_chip(c->engine, &chip);
	*ret = json_pack("{s:I,s:s}", "spi_speed_hz", (json_int_t)chip.speed_hz, "log_level",
			 log_level_to_string(log_get_level()));
	return 0;
}

static int m_settings_get(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	CHECK(params, err, "");
	return settings_json(ctx, ret);
}

static int m_settings_set(void *ctx, json_t *params, json_t **ret, struct rpc_error *err)
{
	struct ctx *c = ctx;
	const char *level = NULL;
	enum log_level lvl = LOG_LVL_INFO;
	uint32_t hz = 0;
	int r;

	CHECK(params, err, "spi_speed_hz", "log_level");
	r = opt_u32(params, "spi_speed_hz", -1, &hz, err);
	if (r >= 0 && params)
		r = rpc_param_string(params, "log_level", -1, false, 16, &level, err);
	if (r < 0)
		return r;
	if (level && log_level_from_string(level, &lvl) < 0) {
		rpc_error_set(err, RPC_CODE_INVALID_PARAMS,
			      "Invalid params: \"log_level\" must be err, warning, notice, info or "
			      "debug");
		return -EINVAL;
	}
	if (params && json_object_get(params, "spi_speed_hz")) {
		r = engine_set_speed(c->engine, hz);
		if (r < 0) {
			rpc_error_set(err, RPC_CODE_INVALID_PARAMS,
				      "Invalid params: \"spi_speed_hz\" must be between 1 and the "
				      "chip's maximum clock");
			return r;
		}
		log_info("settings: SPI clock %u Hz from the next job on", hz);
	}
	if (level) {
		log_set_level(lvl);
		log_info("settings: log level %s", level);
	}
	return settings_json(c, ret);
}

int rpc_methods_register(struct rpc_registry *reg, struct engine *engine,
			 const struct rpc_daemon_info *info, void **ret_ctx)
{
#define P_INT(n) "\"" n "\":{\"type\":\"integer\",\"minimum\":0}"
#define P_BOOL(n) "\"" n "\":{\"type\":\"boolean\"}"
#define P_WAIT "\"wait\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":10000}"
#define SCHEMA(order, req, ...)                                                                    \
	"{\"type\":\"object\",\"x-order\":[" order "],\"required\":[" req                   \
	"],\"properties\":{" __VA_ARGS__ "}}"
	static const char job_result[] =
		"{\"type\":\"object\",\"properties\":{\"job\":{\"type\":\"object\"}}}";
	static const struct rpc_method methods[] = {
		{"chip.info", m_chip_info, "Identity, geometry and protection of the chip", NULL,
		 NULL},
		{"chip.probe", m_chip_probe, "Identify the chip again (job)",
		 SCHEMA("\"wait\"", "", P_WAIT), job_result},
		{"chip.unlock", m_chip_unlock, "Clear write protection (job)",
		 SCHEMA("\"wait\"", "", P_WAIT), job_result},
		{"flash.read", m_flash_read, "Read up to 1 MiB, returned as base64 (job, waited for)",
		 SCHEMA("\"offset\",\"length\",\"passes\",\"wait\"", "\"length\"", P_INT("offset") ","
			P_INT("length") "," P_INT("passes") "," P_WAIT),
		 NULL},
		{"flash.write", m_flash_write, "Write up to 1 MiB of base64 data (job)",
		 SCHEMA("\"offset\",\"data\",\"mode\",\"verify\",\"unlock\",\"preserve\",\"wait\"",
			"\"data\"",
			P_INT("offset") ",\"data\":{\"type\":\"string\",\"contentEncoding\":\"base64\"},"
					"\"mode\":{\"enum\":[\"smart\",\"full\"]}," P_BOOL(
						"verify") "," P_BOOL("unlock") "," P_BOOL("preserve") ","
			P_WAIT),
		 job_result},
		{"flash.verify", m_flash_verify, "Compare up to 1 MiB of base64 data with the chip (job)",
		 SCHEMA("\"offset\",\"data\",\"wait\"", "\"data\"",
			P_INT("offset") ",\"data\":{\"type\":\"string\",\"contentEncoding\":\"base64\"},"
			P_WAIT),
		 job_result},
		{"flash.erase", m_flash_erase, "Erase a range or the whole chip (job)",
		 SCHEMA("\"offset\",\"length\",\"whole_chip\",\"unlock\",\"preserve\",\"backup\",\"wait\"",
			"", P_INT("offset") "," P_INT("length") "," P_BOOL("whole_chip") ","
			P_BOOL("unlock") "," P_BOOL("preserve") "," P_BOOL("backup") "," P_WAIT),
		 job_result},
		{"flash.blank_check", m_flash_blank_check, "Is a range all 0xFF? (job)",
		 SCHEMA("\"offset\",\"length\",\"wait\"", "", P_INT("offset") "," P_INT("length") ","
			P_WAIT),
		 job_result},
		{"job.list", m_job_list, "Running, queued and recent jobs, newest first", NULL, NULL},
		{"job.get", m_job_get, "One job's record",
		 SCHEMA("\"id\",\"wait\"", "\"id\"", P_INT("id") "," P_WAIT), job_result},
		{"job.cancel", m_job_cancel, "Stop a job at its next safe boundary",
		 SCHEMA("\"id\"", "\"id\"", P_INT("id")), job_result},
		{"backup.list", m_backup_list, "Saved previous contents, newest first", NULL, NULL},
		{"backup.restore", m_backup_restore, "Write a backup back to the chip (job)",
		 SCHEMA("\"id\",\"unlock\",\"wait\"", "\"id\"",
			"\"id\":{\"type\":\"string\"}," P_BOOL("unlock") "," P_WAIT),
		 job_result},
		{"daemon.info", m_daemon_info, "Version, backend, bus and uptime", NULL, NULL},
		{"settings.get", m_settings_get, "Runtime settings", NULL, NULL},
		{"settings.set", m_settings_set, "Change the SPI clock or the log level",
		 SCHEMA("\"spi_speed_hz\",\"log_level\"", "",
			"\"spi_speed_hz\":{\"type\":\"integer\",\"minimum\":1},"
			"\"log_level\":{\"enum\":[\"err\",\"warning\",\"notice\",\"info\",\"debug\"]}"),
		 NULL},
	};
	struct ctx *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->engine = engine;
	c->info = info;
	r = rpc_registry_add_table(reg, methods, ARRAY_SIZE(methods));
	if (r < 0) {
		free(c);
		return r;
	}
	*ret_ctx = c;
	return 0;
}

void rpc_methods_free(void *ctx)
{
	free(ctx);
}
