/* SPDX-License-Identifier: MIT */
/*
 * The write/erase/read/verify algorithms on simulated chips: exact bytes on the chip, exact
 * ranges erased and programmed, nothing destroyed before the image is complete, backups hold
 * exactly the old contents, cancellation at command boundaries.
 */
#include "harness.h"
#include "simfix.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "nor.h"
#include "ops.h"
#include "probe.h"
#include "simchip.h"
#include "spibus.h"
#include "util.h"

#define MAX_RANGES 4096

struct rec {
	const uint8_t *src;
	size_t src_len, src_pos;
	uint8_t *sink;
	size_t sink_pos;
	uint8_t *backup; /* image-sized copy: old contents at their addresses */
	uint8_t *backup_set;
	int backup_commits;
	struct ops_erase_step ranges[_OPS_RANGE_MAX][MAX_RANGES];
	size_t n_ranges[_OPS_RANGE_MAX];
	int cancel_after_programs; /* cancel once this many program ranges were seen; -1 never */
	struct simchip *sim;
	unsigned fault_at_program; /* inject fault when this program range is reported; 0 never */
	const char *fault;
	unsigned programs_seen;
};

static ssize_t rec_source(void *ctx, uint8_t *buf, size_t len)
{
	struct rec *r = ctx;
	size_t n = MIN(len, r->src_len - r->src_pos);

	memcpy(buf, r->src + r->src_pos, n);
	r->src_pos += n;
	return (ssize_t)n;
}

static int rec_source_end(void *ctx)
{
	struct rec *r = ctx;

	return r->src_pos == r->src_len ? 0 : -EMSGSIZE;
}

static int rec_sink(void *ctx, const uint8_t *buf, size_t len)
{
	struct rec *r = ctx;

	memcpy(r->sink + r->sink_pos, buf, len);
	r->sink_pos += len;
	return 0;
}

static void rec_range(void *ctx, enum ops_range_kind k, uint32_t addr, uint32_t len)
{
	struct rec *r = ctx;
	size_t n = r->n_ranges[k];

	if (k == OPS_RANGE_PROGRAMMED && ++r->programs_seen == r->fault_at_program) {
		char msg[128];

		assert_int_equal(simchip_fault_parse(r->sim, r->fault, msg, sizeof(msg)), 0);
	}

	/* coalesce like the job record does */
	if (n && r->ranges[k][n - 1].addr + r->ranges[k][n - 1].size == addr) {
		r->ranges[k][n - 1].size += len;
		return;
	}
	if (n >= MAX_RANGES)
		fail_msg("range kind %d: more than %d ranges, the last at 0x%06x+%u", k, MAX_RANGES,
			 r->ranges[k][n - 1].addr, r->ranges[k][n - 1].size);
	r->ranges[k][n] = (struct ops_erase_step){.addr = addr, .size = len};
	r->n_ranges[k]++;
}

static bool rec_cancelled(void *ctx)
{
	struct rec *r = ctx;

	return r->cancel_after_programs >= 0 &&
	       r->n_ranges[OPS_RANGE_PROGRAMMED] >= (size_t)r->cancel_after_programs;
}

static int rec_backup_add(void *ctx, uint32_t addr, const uint8_t *data, size_t len)
{
	struct rec *r = ctx;

	memcpy(r->backup + addr, data, len);
	memset(r->backup_set + addr, 1, len);
	return 0;
}

static int rec_backup_commit(void *ctx)
{
	struct rec *r = ctx;

	r->backup_commits++;
	return 0;
}

struct env {
	struct simfix *f;
	struct nor *nor;
	struct rec rec;
	struct ops_hooks h;
	uint8_t *img;
};

static struct env *env_open(const char *profile)
{
	struct env *e = calloc(1, sizeof(*e));
	struct nor_error err;

	assert_non_null(e);
	e->f = simfix_open(profile);
	assert_int_equal(probe_chip(e->f->bus, NULL, &e->nor, NULL, &err), 0);
	e->rec.backup = malloc(e->f->size);
	e->rec.backup_set = calloc(1, e->f->size);
	e->rec.sink = malloc(e->f->size);
	e->img = malloc(e->f->size);
	e->rec.cancel_after_programs = -1;
	e->rec.sim = e->f->sim;
	e->h = (struct ops_hooks){
		.ctx = &e->rec,
		.source = rec_source,
		.source_end = rec_source_end,
		.sink = rec_sink,
		.range = rec_range,
		.cancelled = rec_cancelled,
		.backup_add = rec_backup_add,
		.backup_commit = rec_backup_commit,
	};
	return e;
}

static void env_reset_rec(struct env *e)
{
	memset(e->rec.n_ranges, 0, sizeof(e->rec.n_ranges));
	memset(e->rec.backup_set, 0, e->f->size);
	e->rec.backup_commits = 0;
	e->rec.src_pos = 0;
	e->rec.sink_pos = 0;
	e->rec.cancel_after_programs = -1;
	e->rec.fault_at_program = 0;
	e->rec.programs_seen = 0;
}

static void env_close(struct env *e)
{
	nor_idle(e->nor);
	nor_free(e->nor);
	simfix_close(e->f);
	free(e->rec.backup);
	free(e->rec.backup_set);
	free(e->rec.sink);
	free(e->img);
	free(e);
}

static int do_write(struct env *e, uint32_t addr, const uint8_t *data, size_t len,
		    struct ops_result *res, struct nor_error *err)
{
	struct ops_write_opts o;

	ops_write_opts_init(&o);
	env_reset_rec(e);
	e->rec.src = data;
	e->rec.src_len = len;
	return ops_write(e->nor, &e->h, addr, len, &o, res, err);
}

static void smart_write_on_every_profile_lands_exact_bytes(void **state)
{
	static const char *const profiles[] = {"W25Q128JV", "W25Q256JV", "MX25L12835F",
					       "MX25L25645G", "GD25Q64C", "SST25VF016B",
					       "SST26VF064B", "IS25WP256D", "MT25QL256",
					       "W25Q512JV", "SFDP-ONLY"};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(profiles); i++) {
		struct env *e = env_open(profiles[i]);
		struct ops_write_opts o;
		struct ops_result res;
		struct nor_error err;
		const size_t len = KIB(96) + 123;
		const uint32_t at = e->f->size - KIB(128) + 77; /* unaligned, top of chip */
		uint8_t *data = malloc(len), *back = malloc(len);
		int r;

		th_pattern(data, len, (uint32_t)i + 11);
		ops_write_opts_init(&o);
		o.unlock = true; /* SST parts power up locked */
		env_reset_rec(e);
		e->rec.src = data;
		e->rec.src_len = len;
		r = ops_write(e->nor, &e->h, at, len, &o, &res, &err);
		if (r < 0)
			fail_msg("%s: %d %s 0x%06x %s", profiles[i], r, err.op, err.addr, err.detail);
		simfix_image_read(e->f, at, back, len);
		th_assert_bytes(back, data, len);
		/* the bytes just before the range are untouched (still erased) */
		simfix_image_read(e->f, at - 77, back, 77);
		th_assert_filled(back, 0xFF, 77);
		assert_int_equal(res.bytes, len);
		free(data);
		free(back);
		env_close(e);
	}
}

static void every_job_kind_on_every_profile(void **state)
{
	(void)state;
	for (size_t i = 0; i < sim_profile_count(); i++) {
		const char *name = sim_profile_name(sim_profile_at(i));
		struct env *e = env_open(name);
		const uint32_t at = e->f->size / 2 - KIB(8) + 100; /* across the middle */
		const size_t len = KIB(20);
		uint8_t *data = malloc(len);
		struct ops_write_opts wo;
		struct ops_erase_opts eo;
		struct ops_result res;
		struct nor_error err;
		int r;

		th_pattern(data, len, (uint32_t)i + 100);
		ops_write_opts_init(&wo);
		wo.unlock = true;
		env_reset_rec(e);
		e->rec.src = data;
		e->rec.src_len = len;
		r = ops_write(e->nor, &e->h, at, len, &wo, &res, &err);
		if (r < 0)
			fail_msg("%s write: %s %s", name, err.op, err.detail);
		/* read (confirmed) returns exactly the bytes */
		env_reset_rec(e);
		assert_int_equal(ops_read(e->nor, &e->h, at, len, 2, &res, &err), 0);
		th_assert_bytes(e->rec.sink, data, len);
		/* verify matches */
		env_reset_rec(e);
		e->rec.src = data;
		e->rec.src_len = len;
		assert_int_equal(ops_verify(e->nor, &e->h, at, len, &res, &err), 0);
		/* not blank, then erase the aligned middle, blank there */
		assert_int_equal(ops_blank_check(e->nor, &e->h, at, len, &res, &err), 0);
		assert_false(res.blank);
		assert_int_equal(res.first_non_blank, at);
		ops_erase_opts_init(&eo);
		eo.unlock = true;
		env_reset_rec(e);
		r = ops_erase(e->nor, &e->h, e->f->size / 2 - KIB(4), KIB(8), &eo, &res, &err);
		if (r < 0)
			fail_msg("%s erase: %s %s", name, err.op, err.detail);
		assert_int_equal(ops_blank_check(e->nor, &e->h, e->f->size / 2 - KIB(4), KIB(8),
						 &res, &err),
				 0);
		assert_true(res.blank);
		/* the rest of the write is untouched */
		env_reset_rec(e);
		assert_int_equal(ops_read(e->nor, &e->h, at, KIB(4) - 100, 1, &res, &err), 0);
		th_assert_bytes(e->rec.sink, data, KIB(4) - 100);
		free(data);
		env_close(e);
	}
}

static void one_changed_sector_erases_and_programs_only_that_sector(void **state)
{
	struct env *e = env_open("W25Q128JV");
	const size_t len = MIB(1);
	uint8_t *a = malloc(len), *b = malloc(len);
	struct ops_result res;
	struct nor_error err;

	(void)state;
	th_pattern(a, len, 1);
	assert_int_equal(do_write(e, 0, a, len, &res, &err), 0);
	a[0x5123] = 0x0F;
	assert_int_equal(do_write(e, 0, a, len, &res, &err), 0);
	memcpy(b, a, len);
	b[0x5123] = 0xF0; /* bits must go 0 -> 1: needs an erase of sector 0x5000 */
	assert_int_equal(do_write(e, 0, b, len, &res, &err), 0);
	assert_int_equal(e->rec.n_ranges[OPS_RANGE_ERASED], 1);
	assert_int_equal(e->rec.ranges[OPS_RANGE_ERASED][0].addr, 0x5000);
	assert_int_equal(e->rec.ranges[OPS_RANGE_ERASED][0].size, KIB(4));
	assert_int_equal(e->rec.n_ranges[OPS_RANGE_PROGRAMMED], 1);
	assert_int_equal(e->rec.ranges[OPS_RANGE_PROGRAMMED][0].addr, 0x5000);
	assert_int_equal(e->rec.ranges[OPS_RANGE_PROGRAMMED][0].size, KIB(4));
	assert_int_equal(res.erase_commands, 1);
	assert_int_equal(res.program_commands, 16);
	/* the backup holds exactly the old sector and nothing else */
	th_assert_bytes(e->rec.backup + 0x5000, a + 0x5000, KIB(4));
	for (uint32_t k = 0; k < len; k++)
		if (e->rec.backup_set[k] != (k >= 0x5000 && k < 0x6000))
			fail_msg("backup covers 0x%06x wrongly", k);
	assert_int_equal(e->rec.backup_commits, 1);
	simfix_image_read(e->f, 0, a, len);
	th_assert_bytes(a, b, len);
	free(a);
	free(b);
	env_close(e);
}

static void only_clearing_bits_needs_no_erase(void **state)
{
	struct env *e = env_open("W25Q128JV");
	uint8_t a[512], b[512];
	struct ops_result res;
	struct nor_error err;

	(void)state;
	memset(a, 0xF0, sizeof(a));
	memset(b, 0x30, sizeof(b));
	assert_int_equal(do_write(e, 0x1000, a, sizeof(a), &res, &err), 0);
	assert_int_equal(do_write(e, 0x1000, b, sizeof(b), &res, &err), 0);
	assert_int_equal(e->rec.n_ranges[OPS_RANGE_ERASED], 0);
	assert_int_equal(res.program_commands, 2);
	simfix_image_read(e->f, 0x1000, a, sizeof(a));
	th_assert_bytes(a, b, sizeof(b));
	env_close(e);
}

static void identical_image_changes_nothing(void **state)
{
	struct env *e = env_open("GD25Q64C");
	uint8_t a[KIB(8)];
	struct ops_result res;
	struct nor_error err;
	struct simchip_stats before, after;

	(void)state;
	th_pattern(a, sizeof(a), 3);
	assert_int_equal(do_write(e, 0x3000, a, sizeof(a), &res, &err), 0);
	simchip_get_stats(e->f->sim, &before);
	assert_int_equal(do_write(e, 0x3000, a, sizeof(a), &res, &err), 0);
	simchip_get_stats(e->f->sim, &after);
	assert_int_equal(res.erase_commands + res.program_commands, 0);
	assert_int_equal(e->rec.backup_commits, 0);
	assert_int_equal(after.busy_ns, before.busy_ns);
	env_close(e);
}

static void truncated_image_leaves_the_chip_untouched(void **state)
{
	struct env *e = env_open("W25Q128JV");
	const size_t len = KIB(256);
	uint8_t *a = malloc(len), *b = malloc(len), *now = malloc(len);
	struct ops_write_opts o;
	struct ops_result res;
	struct nor_error err;

	(void)state;
	th_pattern(a, len, 5);
	th_pattern(b, len, 6);
	assert_int_equal(do_write(e, 0, a, len, &res, &err), 0);
	ops_write_opts_init(&o);
	env_reset_rec(e);
	e->rec.src = b;
	e->rec.src_len = len - 1000; /* the client went away */
	assert_int_equal(ops_write(e->nor, &e->h, 0, len, &o, &res, &err), -EPIPE);
	assert_string_equal(err.op, "write");
	assert_string_equal(err.detail, "the image ended after 261144 of 262144 bytes; nothing "
					"was changed");
	assert_int_equal(e->rec.n_ranges[OPS_RANGE_ERASED], 0);
	assert_int_equal(e->rec.n_ranges[OPS_RANGE_PROGRAMMED], 0);
	simfix_image_read(e->f, 0, now, len);
	th_assert_bytes(now, a, len);
	free(a);
	free(b);
	free(now);
	env_close(e);
}

static void oversized_and_out_of_range_are_refused_before_reading(void **state)
{
	struct env *e = env_open("GD25Q64C");
	struct ops_write_opts o;
	struct nor_error err;
	uint8_t b = 0;

	(void)state;
	ops_write_opts_init(&o);
	e->rec.src = &b;
	e->rec.src_len = 1;
	assert_int_equal(ops_write(e->nor, &e->h, 0, (uint64_t)MIB(8) + 1, &o, NULL, &err),
			 -EFBIG);
	assert_string_equal(err.detail, "8388609 bytes is larger than the 8388608-byte GD25Q64C");
	assert_int_equal(ops_write(e->nor, &e->h, MIB(8) - 10, 11, &o, NULL, &err), -EINVAL);
	assert_string_equal(err.detail,
			    "0x7FFFF6 + 11 bytes runs past the end of the 8388608-byte chip");
	env_close(e);
}

static void cancel_stops_at_a_page_boundary_and_reports_ranges(void **state)
{
	struct env *e = env_open("W25Q128JV");
	const size_t len = KIB(64);
	uint8_t *a = malloc(len), *now = malloc(len);
	struct ops_write_opts o;
	struct ops_result res;
	struct nor_error err;
	uint8_t sr1;

	(void)state;
	th_pattern(a, len, 9);
	ops_write_opts_init(&o);
	env_reset_rec(e);
	e->rec.src = a;
	e->rec.src_len = len;
	e->rec.cancel_after_programs = 1; /* ranges coalesce: cancel after the first run */
	/* programming without an erase first: the chip is blank */
	assert_int_equal(ops_write(e->nor, &e->h, 0, len, &o, &res, &err), -ECANCELED);
	assert_int_equal(e->rec.n_ranges[OPS_RANGE_PROGRAMMED], 1);
	assert_int_equal(e->rec.ranges[OPS_RANGE_PROGRAMMED][0].addr, 0);
	assert_int_equal(e->rec.ranges[OPS_RANGE_PROGRAMMED][0].size, 256);
	assert_int_equal(res.programmed, 256);
	simfix_image_read(e->f, 0, now, len);
	th_assert_bytes(now, a, 256);
	th_assert_filled(now + 256, 0xFF, len - 256);
	assert_int_equal(nor_idle(e->nor), 0);
	assert_int_equal(nor_read_status(e->nor, &sr1, NULL, NULL), 0);
	assert_int_equal(sr1 & (NOR_SR_WEL | NOR_SR_WIP), 0);
	free(a);
	free(now);
	env_close(e);
}

static void program_failure_is_caught_by_verify(void **state)
{
	struct env *e = env_open("W25Q128JV");
	uint8_t a[1024];
	struct ops_result res;
	struct nor_error err;
	char msg[128];

	(void)state;
	memset(a, 0x00, sizeof(a));
	assert_int_equal(simchip_fault_parse(e->f->sim, "program-fail", msg, sizeof(msg)), 0);
	assert_int_equal(do_write(e, 0x2000, a, sizeof(a), &res, &err), -EBADMSG);
	assert_string_equal(err.op, "verify");
	assert_true(err.has_addr);
	assert_true(err.addr >= 0x2000 && err.addr < 0x2400);
	env_close(e);
}

static void unaligned_erase_needs_preserve_and_keeps_neighbours(void **state)
{
	struct env *e = env_open("W25Q128JV");
	uint8_t a[KIB(8)], now[KIB(8)];
	struct ops_erase_opts o;
	struct ops_result res;
	struct nor_error err;

	(void)state;
	th_pattern(a, sizeof(a), 12);
	assert_int_equal(do_write(e, 0, a, sizeof(a), &res, &err), 0);
	ops_erase_opts_init(&o);
	env_reset_rec(e);
	assert_int_equal(ops_erase(e->nor, &e->h, 0x100, 0x200, &o, &res, &err), -EINVAL);
	assert_string_equal(err.detail, "the range is not aligned to the 4096-byte erase unit; "
					"allow preserve to keep the bytes around it");
	o.preserve = true;
	assert_int_equal(ops_erase(e->nor, &e->h, 0x100, 0x200, &o, &res, &err), 0);
	simfix_image_read(e->f, 0, now, sizeof(now));
	th_assert_bytes(now, a, 0x100);
	th_assert_filled(now + 0x100, 0xFF, 0x200);
	th_assert_bytes(now + 0x300, a + 0x300, sizeof(a) - 0x300);
	th_assert_bytes(e->rec.backup, a, KIB(4));
	env_close(e);
}

static void blind_chip_erase_uses_the_cheapest_commands(void **state)
{
	struct env *e = env_open("W25Q128JV");
	struct ops_erase_opts o;
	struct ops_result res;
	struct nor_error err;

	(void)state;
	ops_erase_opts_init(&o);
	o.backup = false;
	env_reset_rec(e);
	assert_int_equal(ops_erase(e->nor, &e->h, 0, MIB(16), &o, &res, &err), 0);
	/* 256 x 64 KiB at 150 ms beats the 40 s chip erase */
	assert_int_equal(res.erase_commands, 256);
	assert_int_equal(e->rec.n_ranges[OPS_RANGE_ERASED], 1);
	assert_int_equal(e->rec.ranges[OPS_RANGE_ERASED][0].size, MIB(16));
	env_close(e);
}

static void confirmed_read_and_verify_report_exactly(void **state)
{
	struct env *e = env_open("MX25L12835F");
	uint8_t a[KIB(16)];
	struct ops_result res;
	struct nor_error err;

	(void)state;
	th_pattern(a, sizeof(a), 21);
	assert_int_equal(do_write(e, 0x10000, a, sizeof(a), &res, &err), 0);
	env_reset_rec(e);
	assert_int_equal(ops_read(e->nor, &e->h, 0x10000, sizeof(a), 2, &res, &err), 0);
	th_assert_bytes(e->rec.sink, a, sizeof(a));
	assert_int_equal(res.mismatched, 0);
	assert_int_equal(res.bytes, sizeof(a));

	a[100] ^= 1;
	a[101] ^= 1;
	a[9000] ^= 0xFF;
	env_reset_rec(e);
	e->rec.src = a;
	e->rec.src_len = sizeof(a);
	assert_int_equal(ops_verify(e->nor, &e->h, 0x10000, sizeof(a), &res, &err), -EBADMSG);
	assert_int_equal(res.mismatched, 3);
	assert_int_equal(e->rec.n_ranges[OPS_RANGE_MISMATCH], 2);
	assert_int_equal(e->rec.ranges[OPS_RANGE_MISMATCH][0].addr, 0x10064);
	assert_int_equal(e->rec.ranges[OPS_RANGE_MISMATCH][0].size, 2);
	assert_int_equal(e->rec.ranges[OPS_RANGE_MISMATCH][1].addr, 0x10000 + 9000);
	assert_string_equal(err.detail, "3 bytes differ, the first at 0x010064");
	env_close(e);
}

static void blank_check_finds_the_first_programmed_byte(void **state)
{
	struct env *e = env_open("W25Q128JV");
	uint8_t b = 0x7F;
	struct ops_result res;
	struct nor_error err;

	(void)state;
	assert_int_equal(ops_blank_check(e->nor, &e->h, 0, MIB(1), &res, &err), 0);
	assert_true(res.blank);
	assert_int_equal(do_write(e, 0x54321, &b, 1, &res, &err), 0);
	assert_int_equal(ops_blank_check(e->nor, &e->h, 0, MIB(1), &res, &err), 0);
	assert_false(res.blank);
	assert_int_equal(res.first_non_blank, 0x54321);
	env_close(e);
}

static void erase_plan_prefers_cheapest_cover(void **state)
{
	const struct chip_info info = {
		.name = "test",
		.size = MIB(1),
		.page_size = 256,
		.n_erase = 3,
		.erase = {{.size = KIB(4), .opcode = 0x20, .typ_us = 45000},
			  {.size = KIB(32), .opcode = 0x52, .typ_us = 120000},
			  {.size = KIB(64), .opcode = 0xD8, .typ_us = 150000}},
		.page_program_typ_us = 400,
	};
	bool need[16] = {0};
	uint64_t reprog[16] = {0};
	struct ops_erase_step steps[16];
	size_t n;

	(void)state;
	need[3] = true;
	assert_int_equal(ops_plan_erase(&info, 0x10000, need, reprog, 16, false, steps, 16, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(steps[0].addr, 0x13000);
	assert_int_equal(steps[0].size, KIB(4));
	/* four sectors cost 180 ms, the 32 KiB block around them 120 ms */
	for (int i = 0; i < 4; i++)
		need[i] = true;
	assert_int_equal(ops_plan_erase(&info, 0x10000, need, reprog, 16, false, steps, 16, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(steps[0].addr, 0x10000);
	assert_int_equal(steps[0].size, KIB(32));
	/* with all sixteen needed the 64 KiB block wins */
	for (int i = 0; i < 16; i++)
		need[i] = true;
	assert_int_equal(ops_plan_erase(&info, 0x10000, need, reprog, 16, false, steps, 16, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(steps[0].size, KIB(64));
	/* unless sweeping unneeded sectors along costs more to reprogram than it saves */
	for (int i = 4; i < 16; i++) {
		need[i] = false;
		reprog[i] = 20000;
	}
	assert_int_equal(ops_plan_erase(&info, 0x10000, need, reprog, 16, false, steps, 16, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(steps[3].addr, 0x13000);
}

static void program_whose_status_poll_failed_is_reported_as_programmed(void **state)
{
	struct env *e = env_open("W25Q128JV");
	uint8_t a[1024], now[1024];
	struct ops_write_opts o;
	struct ops_result res;
	struct nor_error err;

	(void)state;
	th_pattern(a, sizeof(a), 51);
	ops_write_opts_init(&o);
	env_reset_rec(e);
	e->rec.src = a;
	e->rec.src_len = sizeof(a);
	/* the second page's program goes through; the status poll after it fails */
	e->rec.fault_at_program = 2;
	e->rec.fault = "xfer-error=2";
	assert_int_equal(ops_write(e->nor, &e->h, 0x3000, sizeof(a), &o, &res, &err), -EIO);
	simfix_image_read(e->f, 0x3000, now, sizeof(now));
	th_assert_bytes(now, a, 512); /* the chip did change */
	assert_int_equal(e->rec.n_ranges[OPS_RANGE_PROGRAMMED], 1);
	assert_int_equal(e->rec.ranges[OPS_RANGE_PROGRAMMED][0].addr, 0x3000);
	assert_int_equal(e->rec.ranges[OPS_RANGE_PROGRAMMED][0].size, 512);
	assert_int_equal(res.programmed, 256); /* only the first one is known to have worked */
	env_close(e);
}

/*
 * A bus between the chip layer and the simulator that corrupts chosen read commands, like a
 * long wire at too high a clock: reads number flip_from..flip_to (counting from 1) come back
 * with one bit flipped.
 */
struct flaky_bus {
	struct spibus base;
	struct spibus *inner;
	unsigned reads, flip_from, flip_to;
	bool flip_even; /* every second read instead */
};

static int flaky_transfer(struct spibus *bus, const struct spibus_seg *segs, size_t n)
{
	struct flaky_bus *f = (struct flaky_bus *)bus;
	int r = spibus_transfer(f->inner, segs, n);
	uint8_t op = n && segs[0].tx ? segs[0].tx[0] : 0;

	if (r < 0 || (op != 0x03 && op != 0x0B && op != 0x13 && op != 0x0C))
		return r;
	f->reads++;
	if ((f->flip_even && f->reads % 2 == 0) ||
	    (f->reads >= f->flip_from && f->reads <= f->flip_to)) {
		for (size_t i = n; i-- > 0;) {
			if (segs[i].rx && segs[i].len) {
				segs[i].rx[segs[i].len / 2] ^= 0x10;
				break;
			}
		}
	}
	return r;
}

static int flaky_set_speed(struct spibus *bus, uint32_t hz)
{
	struct flaky_bus *f = (struct flaky_bus *)bus;
	int r = spibus_set_speed(f->inner, hz);

	f->base.speed_hz = spibus_speed(f->inner);
	return r;
}

static void flaky_destroy(struct spibus *bus)
{
	(void)bus;
}

static const struct spibus_ops flaky_ops = {
	.transfer = flaky_transfer,
	.set_speed = flaky_set_speed,
	.destroy = flaky_destroy,
};

static void flaky_bus_init(struct flaky_bus *f, struct spibus *inner)
{
	memset(f, 0, sizeof(*f));
	f->base = *inner;
	f->base.ops = &flaky_ops;
	f->inner = inner;
}

/* An env whose chip layer talks through a flaky bus. */
static struct env *env_open_flaky(const char *profile, struct flaky_bus *fb)
{
	struct env *e = env_open(profile);
	struct nor_error err;

	nor_free(e->nor);
	flaky_bus_init(fb, e->f->bus);
	assert_int_equal(probe_chip(&fb->base, NULL, &e->nor, NULL, &err), 0);
	return e;
}

static void unstable_read_is_reported_and_read_again_until_passes_agree(void **state)
{
	struct flaky_bus fb;
	struct env *e = env_open_flaky("W25Q128JV", &fb);
	uint8_t a[4096];
	struct ops_result res;
	struct nor_error err;

	(void)state;
	th_pattern(a, sizeof(a), 801);
	assert_int_equal(do_write(e, 0x5000, a, sizeof(a), &res, &err), 0);
	env_reset_rec(e);
	fb.reads = 0;
	fb.flip_from = fb.flip_to = 2; /* the confirming pass sees a flipped bit */
	assert_int_equal(ops_read(e->nor, &e->h, 0x5000, sizeof(a), 2, &res, &err), 0);
	th_assert_bytes(e->rec.sink, a, sizeof(a));
	assert_int_equal(fb.reads, 4); /* read, disagree, disagree with the bad copy, agree */
	assert_int_equal(res.mismatched, 2 * sizeof(a));
	/* the block is reported once per disagreement */
	assert_int_equal(e->rec.n_ranges[OPS_RANGE_MISMATCH], 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(e->rec.ranges[OPS_RANGE_MISMATCH][i].addr, 0x5000);
		assert_int_equal(e->rec.ranges[OPS_RANGE_MISMATCH][i].size, sizeof(a));
	}
	env_close(e);
}

static void reads_that_never_agree_fail_with_eio_naming_the_block(void **state)
{
	struct flaky_bus fb;
	struct env *e = env_open_flaky("W25Q128JV", &fb);
	struct ops_result res;
	struct nor_error err;

	(void)state;
	env_reset_rec(e);
	fb.reads = 0;
	fb.flip_even = true;
	assert_int_equal(ops_read(e->nor, &e->h, 0x9000, 4096, 2, &res, &err), -EIO);
	assert_string_equal(err.op, "read");
	assert_true(err.has_addr);
	assert_int_equal(err.addr, 0x9000);
	assert_non_null(strstr(err.detail, "never agreed"));
	assert_int_equal(e->rec.sink_pos, 0); /* nothing unconfirmed was delivered */
	env_close(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(smart_write_on_every_profile_lands_exact_bytes),
		cmocka_unit_test(every_job_kind_on_every_profile),
		cmocka_unit_test(one_changed_sector_erases_and_programs_only_that_sector),
		cmocka_unit_test(only_clearing_bits_needs_no_erase),
		cmocka_unit_test(identical_image_changes_nothing),
		cmocka_unit_test(truncated_image_leaves_the_chip_untouched),
		cmocka_unit_test(oversized_and_out_of_range_are_refused_before_reading),
		cmocka_unit_test(cancel_stops_at_a_page_boundary_and_reports_ranges),
		cmocka_unit_test(program_failure_is_caught_by_verify),
		cmocka_unit_test(program_whose_status_poll_failed_is_reported_as_programmed),
		cmocka_unit_test(unstable_read_is_reported_and_read_again_until_passes_agree),
		cmocka_unit_test(reads_that_never_agree_fail_with_eio_naming_the_block),
		cmocka_unit_test(unaligned_erase_needs_preserve_and_keeps_neighbours),
		cmocka_unit_test(blind_chip_erase_uses_the_cheapest_commands),
		cmocka_unit_test(confirmed_read_and_verify_report_exactly),
		cmocka_unit_test(blank_check_finds_the_first_programmed_byte),
		cmocka_unit_test(erase_plan_prefers_cheapest_cover),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
