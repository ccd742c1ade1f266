/* SPDX-License-Identifier: MIT */
/*
 * Protection: decoding every scheme from its registers (datasheet tables), noticing changes
 * behind our back, unlocking without ever losing the previous state, and restoring it with a
 * read-back. Registers the simulator does not model (ISSI function register, Winbond WPS, the
 * AT25DF sector registers) are answered by a tapbus hook or a register-only fake chip.
 */
#include "harness.h"
#include "simfix.h"
#include "tapbus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipdb.h"
#include "clock.h"
#include "nor.h"
#include "ops.h"
#include "probe.h"
#include "simchip.h"
#include "spibus.h"
#include "util.h"

static struct nor *probe_on(struct spibus *bus)
{
	struct probe_report rep;
	struct nor_error e;
	struct nor *nor = NULL;
	int r = probe_chip(bus, NULL, &nor, &rep, &e);

	if (r < 0)
		fail_msg("probe: %d %s: %s", r, e.op, e.detail);
	return nor;
}

/* WREN + WRSR with the given data bytes, straight on the bus, then wait out tW. */
static void raw_wrsr(struct spibus *bus, const uint8_t *data, size_t n)
{
	const uint8_t wren = 0x06;
	uint8_t cmd[4] = {0x01};
	const struct spibus_seg segs[2] = {{.tx = &wren, .len = 1, .cs_toggle = true},
					   {.tx = cmd, .len = 1 + n}};

	memcpy(cmd + 1, data, n);
	assert_int_equal(spibus_transfer(bus, segs, 2), 0);
	fclock_sleep_ns(spibus_clock(bus), 50 * NSEC_PER_MSEC);
}

static uint8_t raw_sr1(struct spibus *bus)
{
	const uint8_t op = 0x05;
	uint8_t v = 0;

	assert_int_equal(spibus_cmd(bus, &op, 1, &v, 1), 0);
	return v;
}

static void assert_one_range(const struct nor_protect *p, uint32_t addr, uint32_t len)
{
	if (p->n_ranges != 1 || p->ranges[0].addr != addr || p->ranges[0].len != len)
		fail_msg("want one range 0x%06X+0x%X, got %u (first 0x%06X+0x%X): %s", addr, len,
			 p->n_ranges, p->n_ranges ? p->ranges[0].addr : 0,
			 p->n_ranges ? p->ranges[0].len : 0, p->description);
}

/* ---- BP decode, per vendor (pure) ---- */

struct bp_case {
	uint8_t sr1, sr2, cr;
	uint32_t addr, len; /* len 0: nothing protected */
};

static void check_bp_cases(uint32_t id, const struct bp_case *c, size_t n)
{
	const struct chip_info *info = chipdb_lookup(id);
	struct nor_protect p;

	assert_non_null(info);
	for (size_t i = 0; i < n; i++) {
		const uint8_t sr[3] = {c[i].sr1, c[i].sr2, 0};

		assert_int_equal(nor_protect_ranges(info, sr, c[i].cr, &p), 0);
		if (!c[i].len) {
			if (p.n_ranges)
				fail_msg("%s case %zu: want none, got %s", info->name, i,
					 p.description);
			continue;
		}
		if (p.n_ranges != 1 || p.ranges[0].addr != c[i].addr || p.ranges[0].len != c[i].len)
			fail_msg("%s case %zu: SR1 %02x SR2 %02x CR %02x: want 0x%06X+0x%X, got %s",
				 info->name, i, c[i].sr1, c[i].sr2, c[i].cr, c[i].addr, c[i].len,
				 p.description);
	}
}

/* MX25L12835F: BP0-3 in SR1 bits 2-5, TB in configuration register bit 3 (OTP). */
static void macronix_tb_lives_in_the_configuration_register(void **state)
{
	static const struct bp_case c[] = {
	    {0x04, 0, 0x00, 0xFF0000, KIB(64)}, /* BP=1 top 64 KiB */
	    {0x04, 0, 0x08, 0x000000, KIB(64)}, /* TB=1 (CR bit 3): bottom */
	    {0x20, 0, 0x00, 0x800000, MIB(8)},	/* BP=8 upper half */
	    {0x20, 0, 0x08, 0x000000, MIB(8)},
	    {0x3C, 0, 0x00, 0, MIB(16)}, /* BP=15 all */
	    {0x00, 0, 0x08, 0, 0},	 /* TB alone protects nothing */
	};

	(void)state;
	check_bp_cases(0xc22018, c, ARRAY_SIZE(c));
}

/* MT25QL256ABA: BP0-2 bits 2-4, BP3 bit 6, TB bit 5; 64 KiB at BP=1. */
static void micron_bp3_is_bit_6(void **state)
{
	static const struct bp_case c[] = {
	    {0x04, 0, 0, 0x1FF0000, KIB(64)}, {0x40, 0, 0, 0x1800000, MIB(8)}, /* BP3 alone: BP=8 */
	    {0x60, 0, 0, 0x0000000, MIB(8)},				       /* + TB */
	    {0x44, 0, 0, 0x1000000, MIB(16)},				       /* BP=9 */
	    {0x48, 0, 0, 0, MIB(32)},					       /* BP=10: all */
	};

	(void)state;
	check_bp_cases(0x20ba19, c, ARRAY_SIZE(c));
}

/* W25Q256JV: four BP bits (2-5), TB bit 6 (datasheet 7.1, table for 256M-bit). */
static void winbond_four_bit_bp(void **state)
{
	static const struct bp_case c[] = {
	    {0x04, 0, 0, 0x1FF0000, KIB(64)},	   {0x20, 0, 0, 0x1800000, MIB(8)},
	    {0x24, 0, 0, 0x1000000, MIB(16)},	   {0x28, 0, 0, 0, MIB(32)},
	    {0x44, 0, 0, 0x0000000, KIB(64)},	   /* TB */
	    {0x04, 0x40, 0, 0, MIB(32) - KIB(64)}, /* CMP */
	};

	(void)state;
	check_bp_cases(0xef4019, c, ARRAY_SIZE(c));
}

/* GD25Q64C: BP0-2, TB bit 5, SEC bit 6, CMP in SR2 bit 6; 128 KiB at BP=1. */
static void gigadevice_bp_sec_cmp(void **state)
{
	static const struct bp_case c[] = {
	    {0x04, 0, 0, 0x7E0000, KIB(128)},
	    {0x24, 0, 0, 0x000000, KIB(128)},
	    {0x44, 0, 0, 0x7FF000, KIB(4)},
	    {0x58, 0, 0, 0x7F8000, KIB(32)}, /* SEC, BP=6: 32 KiB */
	    {0x04, 0x40, 0, 0x000000, MIB(8) - KIB(128)},
	    {0x1C, 0, 0, 0, MIB(8)},
	};

	(void)state;
	check_bp_cases(0xc84017, c, ARRAY_SIZE(c));
}

/* SST25VF016B: BP0-3 bits 2-5, no TB; 64 KiB at BP=1, all from BP=6 (data sheet table 4). */
static void sst25_bp(void **state)
{
	static const struct bp_case c[] = {
	    {0x04, 0, 0, 0x1F0000, KIB(64)}, {0x0C, 0, 0, 0x1C0000, KIB(256)},
	    {0x14, 0, 0, 0x100000, MIB(1)},  {0x18, 0, 0, 0, MIB(2)},
	    {0x1C, 0, 0, 0, MIB(2)}, /* power-up value */
	};

	(void)state;
	check_bp_cases(0xbf2541, c, ARRAY_SIZE(c));
}

/* IS25LP128F: BP0-3 bits 2-5, TB is TBS in the function register (bit 1, OTP). */
static void issi_tb_lives_in_the_function_register(void **state)
{
	static const struct bp_case c[] = {
	    {0x04, 0, 0x00, 0xFF0000, KIB(64)},
	    {0x04, 0, 0x02, 0x000000, KIB(64)},
	    {0x24, 0, 0x02, 0x000000, MIB(16)}, /* BP=9: 16 MiB = all */
	    {0x3C, 0, 0x00, 0, MIB(16)},
	};

	(void)state;
	check_bp_cases(0x9d6018, c, ARRAY_SIZE(c));
}

/* ---- SST26 block-protection register (DS20005119 table 5-6; RDBPR MSB byte first) ---- */

static struct nor_protect sst26_decode_bits(const unsigned *bits, size_t n)
{
	const struct chip_info *info = chipdb_lookup(0xbf2643);
	struct nor_protect_saved st = {.valid = true, .bpr_len = 18};
	struct nor_protect p;

	for (size_t i = 0; i < n; i++)
		st.bpr[17 - bits[i] / 8] |= (uint8_t)(1u << (bits[i] % 8));
	assert_int_equal(nor_protect_decode(info, &st, &p), 0);
	return p;
}

static void sst26_bpr_bits_map_to_blocks(void **state)
{
	const struct {
		unsigned bit;
		uint32_t addr, len;
	} c[] = {
	    {0, 0x010000, KIB(64)},   /* first 64 KiB block after the bottom 64 KiB */
	    {125, 0x7E0000, KIB(64)}, /* last 64 KiB block */
	    {126, 0x008000, KIB(32)}, /* bottom 32 KiB */
	    {127, 0x7F0000, KIB(32)}, /* top 32 KiB */
	    {128, 0x000000, KIB(8)},  /* bottom 8 KiB blocks: write-lock bits are even */
	    {134, 0x006000, KIB(8)},  {136, 0x7F8000, KIB(8)}, /* top 8 KiB blocks */
	    {142, 0x7FE000, KIB(8)},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		struct nor_protect p = sst26_decode_bits(&c[i].bit, 1);

		assert_one_range(&p, c[i].addr, c[i].len);
	}
}

static void sst26_read_lock_bits_do_not_protect_writes(void **state)
{
	const unsigned bits[] = {129, 143};
	struct nor_protect p = sst26_decode_bits(bits, ARRAY_SIZE(bits));

	(void)state;
	assert_int_equal(p.n_ranges, 0);
	assert_string_equal(p.description,
			    "none (block-protection register clear, some boot blocks read-locked)");
}

static void sst26_power_up_state_protects_everything(void **state)
{
	unsigned bits[136];
	size_t n = 0;
	struct nor_protect p;

	(void)state;
	for (unsigned b = 0; b < 144; b++)
		if (b < 128 || b % 2 == 0)
			bits[n++] = b;
	p = sst26_decode_bits(bits, n);
	assert_one_range(&p, 0, MIB(8));
	assert_string_equal(p.description,
			    "all (0x000000-0x7FFFFF) by the block-protection register");
}

static void sst26_adjacent_blocks_merge(void **state)
{
	const unsigned bits[] = {128, 130, 132, 134, 126, 0, 5};
	struct nor_protect p = sst26_decode_bits(bits, ARRAY_SIZE(bits));

	(void)state;
	assert_int_equal(p.n_ranges, 2);
	assert_int_equal(p.ranges[0].addr, 0);
	assert_int_equal(p.ranges[0].len, KIB(128));
	assert_int_equal(p.ranges[1].addr, 0x060000);
	assert_int_equal(p.ranges[1].len, KIB(64));
}

/* An SST26 answering its BPR from a test-held register (the datasheet byte order). */
struct sst26_tap {
	uint8_t bpr[18];
};

static bool sst26_hook(void *ctx, const uint8_t *tx, size_t len, uint8_t *rx)
{
	struct sst26_tap *t = ctx;

	if (tx[0] != 0x72)
		return false;
	memcpy(rx + 1, t->bpr, MIN(len - 1, sizeof(t->bpr)));
	return true;
}

static void sst26_writes_are_refused_only_in_protected_blocks(void **state)
{
	struct simfix *f = simfix_open("SST26VF064B");
	struct sst26_tap st = {{0}};
	struct tapbus *t = tapbus_new(f->bus, sst26_hook, &st);
	struct nor *nor;
	uint8_t b = 0x5A;

	(void)state;
	st.bpr[17] = 0x02; /* bit 1: 0x020000-0x02FFFF */
	nor = probe_on(tapbus_bus(t));
	/* the simulated chip's own locks (all set at power-up) go first */
	{
		static const uint8_t wren_ulbpr[] = {0x06};
		const uint8_t ulbpr = 0x98;
		const struct spibus_seg segs[2] = {{.tx = wren_ulbpr, .len = 1, .cs_toggle = true},
						   {.tx = &ulbpr, .len = 1}};

		assert_int_equal(spibus_transfer(f->bus, segs, 2), 0);
	}
	assert_int_equal(nor_program(nor, 0x010000, &b, 1), 0);
	assert_int_equal(nor_program(nor, 0x030000, &b, 1), 0);
	assert_int_equal(nor_program(nor, 0x020010, &b, 1), -EROFS);
	assert_string_equal(
	    nor_last_error(nor)->detail,
	    "0x020000-0x02FFFF is write-protected (1 block(s), 64 KiB in 1 range(s) "
	    "from 0x020000, by the block-protection register); unlock it first");
	nor_free(nor);
	tapbus_free(t);
	simfix_close(f);
}

/* ---- changes behind our back ---- */

static void bp_set_behind_our_back_is_seen_before_program(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct nor *nor = probe_on(f->bus);
	const uint8_t bp1 = 0x04;
	uint8_t b = 0x00, img;

	(void)state;
	raw_wrsr(f->bus, &bp1, 1); /* someone else protects the top 256 KiB */
	/* the check a job makes before it starts reads the status again */
	assert_int_equal(nor_protect_check(nor, 0xFC0010, 1), -EROFS);
	assert_int_equal(nor_program(nor, 0xFC0010, &b, 1), -EROFS);
	assert_string_equal(nor_last_error(nor)->op, "write-protect");
	simfix_image_read(f, 0xFC0010, &img, 1);
	assert_int_equal(img, 0xFF);
	nor_free(nor);
	simfix_close(f);
}

static void bp_cleared_behind_our_back_allows_erase(void **state)
{
	struct simfix *f = simfix_open("SST25VF016B"); /* protected at power-up */
	struct nor *nor = probe_on(f->bus);
	const uint8_t ewsr = 0x50, wrsr[2] = {0x01, 0x00};
	const struct spibus_seg segs[2] = {{.tx = &ewsr, .len = 1, .cs_toggle = true},
					   {.tx = wrsr, .len = 2}};

	(void)state;
	assert_int_equal(nor_erase(nor, 0, KIB(4)), -EROFS);
	assert_int_equal(spibus_transfer(f->bus, segs, 2), 0);
	fclock_sleep_ns(spibus_clock(f->bus), 50 * NSEC_PER_MSEC);
	assert_int_equal(nor_protect_check(nor, 0, KIB(4)), 0);
	assert_int_equal(nor_erase(nor, 0, KIB(4)), 0);
	nor_free(nor);
	simfix_close(f);
}

/* ---- unlock and restore ---- */

static void unlock_saves_state_before_writing_and_restores_on_failure(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct tapbus *t = tapbus_new(f->bus, NULL, NULL);
	struct nor *nor;
	struct nor_protect_saved saved = {0};
	const uint8_t bp1 = 0x04;
	const char *d;

	(void)state;
	raw_wrsr(f->bus, &bp1, 1);
	nor = probe_on(tapbus_bus(t));
	/* RDSR, RDSR2, RDSR3, WREN+RDSR+WRSR, then the wait's first poll fails */
	tapbus_fail_at(t, 5, 1);
	assert_int_equal(nor_unlock(nor, &saved), -EIO);
	assert_true(saved.valid);
	assert_int_equal(saved.sr[0], 0x04);
	assert_int_equal(raw_sr1(f->bus) & 0x7C, 0x04);
	d = nor_last_error(nor)->detail;
	assert_non_null(strstr(d, "; protection restored"));
	assert_null(strstr(d, "NOT"));
	nor_free(nor);
	tapbus_free(t);
	simfix_close(f);
}

static void unlock_that_cannot_restore_says_not_restored(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct tapbus *t = tapbus_new(f->bus, NULL, NULL);
	struct nor *nor;
	struct nor_protect_saved saved = {0};
	const uint8_t bp1 = 0x04;

	(void)state;
	raw_wrsr(f->bus, &bp1, 1);
	nor = probe_on(tapbus_bus(t));
	/* the wait after WRSR fails, and so does everything after it (the restore) */
	tapbus_fail_at(t, 5, 1000);
	assert_int_equal(nor_unlock(nor, &saved), -EIO);
	assert_true(saved.valid);
	assert_string_equal(nor_last_error(nor)->op, "write-status");
	assert_string_equal(nor_last_error(nor)->detail,
			    "RDSR 0x05 failed; protection NOT restored: read-status: RDSR 0x05 "
			    "failed");
	assert_int_equal(raw_sr1(f->bus) & 0x7C, 0x00);
	/* and a later restore that fails says so too */
	tapbus_fail_at(t, 1, 1);
	assert_int_equal(nor_protect_restore(nor, &saved), -EIO);
	assert_string_equal(nor_last_error(nor)->op, "restore-protection");
	assert_string_equal(nor_last_error(nor)->detail,
			    "protection NOT restored: read-status: RDSR 0x05 failed");
	assert_int_equal(nor_protect_restore(nor, &saved), 0);
	assert_int_equal(raw_sr1(f->bus) & 0x7C, 0x04);
	nor_free(nor);
	tapbus_free(t);
	simfix_close(f);
}

static void restore_reads_back_and_reports_a_chip_that_ignored_it(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct nor *nor = probe_on(f->bus);
	struct nor_protect_saved saved = {0};
	const uint8_t srp_bp1 = 0x84; /* SRP0 + BP0 */
	char err[128];

	(void)state;
	raw_wrsr(f->bus, &srp_bp1, 1);
	assert_int_equal(nor_unlock(nor, &saved), 0);
	assert_int_equal(raw_sr1(f->bus) & 0xFC, 0x80);
	/* WP# goes low: with SRP0 set the chip now ignores status register writes */
	assert_int_equal(simchip_fault_parse(f->sim, "wp", err, sizeof(err)), 0);
	assert_int_equal(nor_protect_restore(nor, &saved), -EIO);
	assert_string_equal(nor_last_error(nor)->detail,
			    "protection NOT restored: restore-protection: the chip reads back SR1 "
			    "0x80 SR2 0x02 SR3 0x60, wanted SR1 0x84 SR2 0x02 SR3 0x60");
	nor_free(nor);
	simfix_close(f);
}

static void restore_after_unlock_gives_back_the_exact_bits(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct nor *nor = probe_on(f->bus);
	struct nor_protect_saved saved = {0};
	const uint8_t regs[2] = {0x24, 0x42}; /* TB + BP0, SR2: CMP + QE */
	uint8_t sr1, sr2;

	(void)state;
	raw_wrsr(f->bus, regs, 1);
	{
		const uint8_t wren = 0x06, wrsr2[2] = {0x31, regs[1]};
		const struct spibus_seg segs[2] = {{.tx = &wren, .len = 1, .cs_toggle = true},
						   {.tx = wrsr2, .len = 2}};

		assert_int_equal(spibus_transfer(f->bus, segs, 2), 0);
		fclock_sleep_ns(spibus_clock(f->bus), 50 * NSEC_PER_MSEC);
	}
	assert_int_equal(nor_unlock(nor, &saved), 0);
	assert_int_equal(nor_read_status(nor, &sr1, &sr2, NULL), 0);
	assert_int_equal(sr1 & 0xFC, 0x20); /* BP and CMP cleared, TB kept */
	assert_int_equal(sr2 & 0x42, 0x02);
	assert_int_equal(nor_protect_restore(nor, &saved), 0);
	assert_int_equal(nor_read_status(nor, &sr1, &sr2, NULL), 0);
	assert_int_equal(sr1 & 0xFC, 0x24);
	assert_int_equal(sr2 & 0x42, 0x42);
	nor_free(nor);
	simfix_close(f);
}

/* ops (engine, minimal change): a failed job still restores, and a failed restore is named. */
static ssize_t src_pattern(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	memset(buf, 0x00, len);
	return (ssize_t)len;
}

static void failed_write_job_still_restores_protection(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct nor *nor = probe_on(f->bus);
	const struct ops_hooks h = {.source = src_pattern};
	struct ops_write_opts o;
	struct ops_result res;
	struct nor_error e;
	const uint8_t bp1 = 0x04;
	char err[128], *dir = th_mkdtemp();

	(void)state;
	raw_wrsr(f->bus, &bp1, 1);
	ops_write_opts_init(&o);
	o.unlock = true;
	o.backup = false;
	o.spool_dir = dir;
	assert_int_equal(simchip_fault_parse(f->sim, "program-fail", err, sizeof(err)), 0);
	assert_int_equal(ops_write(nor, &h, 0xFC0000, 256, &o, &res, &e), -EBADMSG);
	assert_true(res.unlocked);
	assert_int_equal(raw_sr1(f->bus) & 0x7C, 0x04);
	nor_free(nor);
	simfix_close(f);
	th_rmtree(dir);
	free(dir);
}

/* Once the job has programmed something, WP# goes low: SRP0 then blocks the restore. */
static void wp_low_after_program(void *ctx, enum ops_range_kind kind, uint32_t addr, uint32_t len)
{
	char err[64];

	(void)addr;
	(void)len;
	if (kind == OPS_RANGE_PROGRAMMED)
		assert_int_equal(simchip_fault_parse(ctx, "wp", err, sizeof(err)), 0);
}

static void failed_write_job_names_a_failed_restore(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct nor *nor = probe_on(f->bus);
	const struct ops_hooks h = {
	    .ctx = f->sim, .source = src_pattern, .range = wp_low_after_program};
	struct ops_write_opts o;
	struct ops_result res;
	struct nor_error e;
	const uint8_t srp_bp1 = 0x84;
	char err[128], *dir = th_mkdtemp();

	(void)state;
	raw_wrsr(f->bus, &srp_bp1, 1);
	ops_write_opts_init(&o);
	o.unlock = true;
	o.backup = false;
	o.spool_dir = dir;
	assert_int_equal(simchip_fault_parse(f->sim, "program-fail", err, sizeof(err)), 0);
	assert_int_equal(ops_write(nor, &h, 0xFC0000, 256, &o, &res, &e), -EBADMSG);
	assert_int_equal(e.code, -EBADMSG);
	assert_string_equal(e.op, "verify");
	assert_non_null(strstr(e.detail, "; protection NOT restored: "));
	assert_int_equal(raw_sr1(f->bus) & 0xFC, 0x80);
	nor_free(nor);
	simfix_close(f);
	th_rmtree(dir);
	free(dir);
}

/* ---- ISSI function register, Winbond WPS (tapbus hooks on the simulator) ---- */

static bool issi_fr_hook(void *ctx, const uint8_t *tx, size_t len, uint8_t *rx)
{
	(void)len;
	if (tx[0] != 0x48)
		return false;
	rx[1] = *(const uint8_t *)ctx;
	return true;
}

static void issi_tb_is_read_from_the_function_register(void **state)
{
	struct simfix *f = simfix_open("IS25WP256D");
	uint8_t fr = 0x02; /* TBS = 1: bottom */
	struct tapbus *t = tapbus_new(f->bus, issi_fr_hook, &fr);
	const uint8_t bp1 = 0x04;
	struct nor *nor;
	struct nor_protect p;

	(void)state;
	raw_wrsr(f->bus, &bp1, 1);
	nor = probe_on(tapbus_bus(t));
	tapbus_clear_log(t);
	assert_int_equal(nor_protect_read(nor, &p), 0);
	assert_int_equal(tapbus_count(t, 0x48), 1);
	assert_one_range(&p, 0, KIB(64));
	assert_string_equal(p.description, "lower 64 KiB (0x000000-0x00FFFF) by BP=1 TB=1");
	assert_true(p.tb_otp);
	nor_free(nor);
	tapbus_free(t);
	simfix_close(f);
}

static bool wps_hook(void *ctx, const uint8_t *tx, size_t len, uint8_t *rx)
{
	(void)ctx;
	(void)len;
	if (tx[0] != 0x15)
		return false;
	rx[1] = 0x64; /* driver strength bits + WPS (bit 2) */
	return true;
}

static void winbond_wps_is_reported_and_refused(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct tapbus *t = tapbus_new(f->bus, wps_hook, NULL);
	struct nor *nor = probe_on(tapbus_bus(t));
	struct nor_protect p;
	uint8_t b = 0;

	(void)state;
	assert_int_equal(nor_protect_read(nor, &p), 0);
	assert_true(p.block_locks);
	assert_false(p.exact);
	assert_one_range(&p, 0, MIB(16));
	assert_int_equal(nor_program(nor, 0x1000, &b, 1), -EROFS);
	assert_non_null(strstr(nor_last_error(nor)->detail, "WPS=1"));
	assert_int_equal(nor_unlock(nor, NULL), -EROFS);
	assert_string_equal(
	    nor_last_error(nor)->detail,
	    "W25Q128JV uses individual block locks (WPS=1 in SR3), which flashd "
	    "does not clear: set WPS=0 in SR3 to use the BP bits, or clear the locks "
	    "with another tool");
	nor_free(nor);
	tapbus_free(t);
	simfix_close(f);
}

/* ---- parts known only from SFDP: SR1 BP bits, map unknown ---- */

static void sfdp_only_part_with_bp_bits_is_refused_as_a_whole(void **state)
{
	struct simfix *f = simfix_open("SFDP-ONLY");
	const uint8_t bp = 0x08;
	struct nor *nor;
	struct nor_protect p;
	struct nor_protect_saved saved;
	uint8_t b = 0;

	(void)state;
	raw_wrsr(f->bus, &bp, 1);
	nor = probe_on(f->bus);
	assert_int_equal(nor_protect_read(nor, &p), 0);
	assert_false(p.exact);
	assert_one_range(&p, 0, MIB(16));
	assert_string_equal(p.description, "all (0x000000-0xFFFFFF): SR1 0x08 has block-protect "
					   "bits set and the exact map of this part is unknown");
	assert_int_equal(nor_program(nor, 0, &b, 1), -EROFS);
	assert_int_equal(nor_unlock(nor, &saved), 0);
	assert_int_equal(raw_sr1(f->bus) & 0x3C, 0x00);
	assert_int_equal(nor_program(nor, 0, &b, 1), 0);
	assert_int_equal(nor_protect_restore(nor, &saved), 0);
	assert_int_equal(raw_sr1(f->bus) & 0x3C, 0x08);
	nor_free(nor);
	simfix_close(f);
}

/* ---- AT25DF321A: a register-only fake from the datasheet's protection section ---- */

struct at25 {
	uint8_t sr1; /* SPRL, WPP, SWP, WEL (no WIP: every write is instant here) */
	bool wel;
	uint64_t sectors; /* bit i: 64 KiB sector i protected */
	uint8_t last_wrsr;
	bool wp_low; /* WP# asserted */
};

static uint8_t at25_sr(const struct at25 *a)
{
	uint8_t swp = a->sectors == 0 ? 0 : a->sectors == UINT64_MAX ? 3 : 1;

	return (uint8_t)((a->sr1 & 0x80) | (a->wp_low ? 0 : 0x10) /* WPP */ | (swp << 2) |
			 (a->wel ? 0x02 : 0));
}

static bool at25_hook(void *ctx, const uint8_t *tx, size_t len, uint8_t *rx)
{
	struct at25 *a = ctx;
	uint32_t addr = len >= 4 ? get_be24(tx + 1) : 0;

	switch (tx[0]) {
	case 0x9F:
		memcpy(rx + 1, (const uint8_t[]){0x1f, 0x47, 0x01}, MIN(len - 1, 3u));
		return true;
	case 0x05:
		memset(rx + 1, at25_sr(a), len - 1);
		return true;
	case 0x06:
		a->wel = true;
		return true;
	case 0x04:
		a->wel = false;
		return true;
	case 0x01:
		if (!a->wel || len < 2)
			return true;
		a->last_wrsr = tx[1];
		/* "Write Status Register": clearing SPRL with WP# asserted is ignored, whole */
		if (a->wp_low && (a->sr1 & 0x80) && !(tx[1] & 0x80)) {
			a->wel = false;
			return true;
		}
		/* "Global Protect/Unprotect": bits 5..2 decide, while SPRL (before) is 0 */
		if (!(a->sr1 & 0x80)) {
			if ((tx[1] & 0x3C) == 0x3C)
				a->sectors = UINT64_MAX;
			else if ((tx[1] & 0x3C) == 0)
				a->sectors = 0;
		}
		a->sr1 = (uint8_t)((a->sr1 & 0x7F) | (tx[1] & 0x80));
		a->wel = false;
		return true;
	case 0x36:
	case 0x39:
		if (a->wel && !(a->sr1 & 0x80) && addr < MIB(4)) {
			if (tx[0] == 0x36)
				a->sectors |= 1ull << (addr / KIB(64));
			else
				a->sectors &= ~(1ull << (addr / KIB(64)));
		}
		a->wel = false;
		return true;
	case 0x3C:
		rx[4] = (a->sectors >> (addr / KIB(64))) & 1 ? 0xFF : 0x00;
		return true;
	default:
		return true; /* no SFDP, nothing else: reads 0xFF */
	}
}

static void at25df_powers_up_protected_and_unlocks_globally(void **state)
{
	struct at25 a = {.sectors = UINT64_MAX}; /* all sectors protected at power-up */
	struct tapbus *t = tapbus_new(NULL, at25_hook, &a);
	struct nor *nor = probe_on(tapbus_bus(t));
	struct nor_protect p;
	struct nor_protect_saved saved;
	uint8_t b = 0;

	(void)state;
	assert_string_equal(nor_info(nor)->name, "AT25DF321A");
	assert_int_equal(nor_protect_read(nor, &p), 0);
	assert_one_range(&p, 0, MIB(4));
	assert_string_equal(p.description, "all (0x000000-0x3FFFFF) by SWP=11");
	assert_int_equal(nor_program(nor, 0, &b, 1), -EROFS);
	tapbus_clear_log(t);
	assert_int_equal(nor_unlock(nor, &saved), 0);
	assert_int_equal(a.sectors, 0);
	assert_int_equal(a.last_wrsr, 0x00); /* global unprotect: WRSR 0x00 after WREN */
	assert_non_null(strstr(tapbus_log(t), "06 05 01"));
	assert_int_equal(nor_protect_restore(nor, &saved), 0);
	assert_int_equal(a.sectors, UINT64_MAX);
	assert_int_equal(a.last_wrsr, 0x7F); /* global protect */
	nor_free(nor);
	tapbus_free(t);
}

static void at25df_some_sectors_are_mapped_and_restored_one_by_one(void **state)
{
	struct at25 a = {.sectors = (1ull << 3) | (1ull << 4) | (1ull << 63)};
	struct tapbus *t = tapbus_new(NULL, at25_hook, &a);
	struct nor *nor = probe_on(tapbus_bus(t));
	struct nor_protect p;
	struct nor_protect_saved saved;

	(void)state;
	assert_int_equal(nor_protect_read(nor, &p), 0);
	assert_int_equal(p.n_ranges, 2);
	assert_int_equal(p.ranges[0].addr, 0x030000);
	assert_int_equal(p.ranges[0].len, KIB(128));
	assert_int_equal(p.ranges[1].addr, 0x3F0000);
	assert_int_equal(p.ranges[1].len, KIB(64));
	assert_string_equal(p.description,
			    "192 KiB in 2 range(s) from 0x030000 by sector protection (SWP=01)");
	assert_int_equal(nor_unlock(nor, &saved), 0);
	assert_int_equal(a.sectors, 0);
	assert_int_equal(nor_protect_restore(nor, &saved), 0);
	assert_int_equal(a.sectors, (1ull << 3) | (1ull << 4) | (1ull << 63));
	nor_free(nor);
	tapbus_free(t);
}

static void at25df_sprl_is_cleared_first_with_wp_high(void **state)
{
	struct at25 a = {.sectors = UINT64_MAX, .sr1 = 0x80}; /* SPRL = 1 */
	struct tapbus *t = tapbus_new(NULL, at25_hook, &a);
	struct nor *nor = probe_on(tapbus_bus(t));

	(void)state;
	assert_int_equal(nor_unlock(nor, NULL), 0);
	assert_int_equal(a.sectors, 0);
	assert_int_equal(a.sr1 & 0x80, 0);
	nor_free(nor);
	tapbus_free(t);
}

static void at25df_locked_registers_with_wp_low_refuse_unlock(void **state)
{
	struct at25 a = {.sectors = UINT64_MAX, .sr1 = 0x80, .wp_low = true};
	struct tapbus *t = tapbus_new(NULL, at25_hook, &a);
	struct nor *nor = probe_on(tapbus_bus(t));
	struct nor_protect_saved saved;

	(void)state;
	assert_int_equal(nor_unlock(nor, &saved), -EROFS);
	assert_string_equal(
	    nor_last_error(nor)->detail,
	    "the chip ignored the unlock, still protected: all (0x000000-0x3FFFFF) by "
	    "SWP=11, SPRL=1 (locked) (the protection registers are locked); "
	    "protection restored");
	assert_true(saved.valid);
	assert_int_equal(a.sectors, UINT64_MAX);
	nor_free(nor);
	tapbus_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(macronix_tb_lives_in_the_configuration_register),
	    cmocka_unit_test(micron_bp3_is_bit_6),
	    cmocka_unit_test(winbond_four_bit_bp),
	    cmocka_unit_test(gigadevice_bp_sec_cmp),
	    cmocka_unit_test(sst25_bp),
	    cmocka_unit_test(issi_tb_lives_in_the_function_register),
	    cmocka_unit_test(sst26_bpr_bits_map_to_blocks),
	    cmocka_unit_test(sst26_read_lock_bits_do_not_protect_writes),
	    cmocka_unit_test(sst26_power_up_state_protects_everything),
	    cmocka_unit_test(sst26_adjacent_blocks_merge),
	    cmocka_unit_test(sst26_writes_are_refused_only_in_protected_blocks),
	    cmocka_unit_test(bp_set_behind_our_back_is_seen_before_program),
	    cmocka_unit_test(bp_cleared_behind_our_back_allows_erase),
	    cmocka_unit_test(unlock_saves_state_before_writing_and_restores_on_failure),
	    cmocka_unit_test(unlock_that_cannot_restore_says_not_restored),
	    cmocka_unit_test(restore_reads_back_and_reports_a_chip_that_ignored_it),
	    cmocka_unit_test(restore_after_unlock_gives_back_the_exact_bits),
	    cmocka_unit_test(failed_write_job_still_restores_protection),
	    cmocka_unit_test(failed_write_job_names_a_failed_restore),
	    cmocka_unit_test(issi_tb_is_read_from_the_function_register),
	    cmocka_unit_test(winbond_wps_is_reported_and_refused),
	    cmocka_unit_test(sfdp_only_part_with_bp_bits_is_refused_as_a_whole),
	    cmocka_unit_test(at25df_powers_up_protected_and_unlocks_globally),
	    cmocka_unit_test(at25df_some_sectors_are_mapped_and_restored_one_by_one),
	    cmocka_unit_test(at25df_sprl_is_cleared_first_with_wp_high),
	    cmocka_unit_test(at25df_locked_registers_with_wp_low_refuse_unlock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
