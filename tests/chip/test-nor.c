/* SPDX-License-Identifier: MIT */
/*
 * The chip layer against the simulator: the chip database and the simulator profiles are
 * written independently from the datasheets, so a wrong entry on either side fails here.
 */
#include "harness.h"
#include "simfix.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipdb.h"
#include "clock.h"
#include "nor.h"
#include "probe.h"
#include "simchip.h"
#include "spibus.h"
#include "util.h"

struct expect {
	const char *profile;
	uint32_t jedec_id;
	uint32_t size;
	enum chip_info_source source;
	bool locked_at_power_up;
};

static const struct expect parts[] = {
	{"W25Q128JV", 0xef4018, MIB(16), CHIP_SRC_DATABASE, false},
	{"W25Q256JV", 0xef4019, MIB(32), CHIP_SRC_DATABASE, false},
	{"MX25L12835F", 0xc22018, MIB(16), CHIP_SRC_DATABASE, false},
	{"MX25L25645G", 0xc22019, MIB(32), CHIP_SRC_DATABASE, false},
	{"GD25Q64C", 0xc84017, MIB(8), CHIP_SRC_DATABASE, false},
	{"SST25VF016B", 0xbf2541, MIB(2), CHIP_SRC_DATABASE, true},
	{"SST26VF064B", 0xbf2643, MIB(8), CHIP_SRC_DATABASE, true},
	{"IS25WP256D", 0x9d7019, MIB(32), CHIP_SRC_DATABASE, false},
	{"MT25QL256", 0x20ba19, MIB(32), CHIP_SRC_DATABASE, false},
	{"W25Q512JV", 0xef4020, MIB(64), CHIP_SRC_DATABASE, false},
	{"SFDP-ONLY", 0xa5a518, MIB(16), CHIP_SRC_SFDP, false},
};

static struct nor *probe_ok(struct simfix *f)
{
	struct probe_report rep;
	struct nor_error e;
	struct nor *nor = NULL;
	int r = probe_chip(f->bus, NULL, &nor, &rep, &e);

	if (r < 0)
		fail_msg("probe: %d %s: %s", r, e.op, e.detail);
	return nor;
}

static void unlock_if_needed(struct nor *nor)
{
	struct nor_protect p;

	assert_int_equal(nor_protect_read(nor, &p), 0);
	if (p.n_ranges)
		assert_int_equal(nor_unlock(nor, NULL), 0);
}

static void every_profile_is_identified_exactly(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		struct simfix *f = simfix_open(parts[i].profile);
		struct nor *nor = probe_ok(f);
		const struct chip_info *info = nor_info(nor);

		if (info->jedec_id != parts[i].jedec_id || info->size != parts[i].size ||
		    info->source != parts[i].source)
			fail_msg("%s: got %06x size %u source %d", parts[i].profile, info->jedec_id,
				 info->size, info->source);
		assert_true(info->n_erase > 0);
		nor_free(nor);
		simfix_close(f);
	}
}

static void read_program_erase_exact_bytes_on_every_profile(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		struct simfix *f = simfix_open(parts[i].profile);
		struct nor *nor = probe_ok(f);
		const struct chip_info *info = nor_info(nor);
		const uint32_t unit = info->erase[0].size;
		/* straddle a page boundary near the top of the chip (4-byte region when > 16 MiB) */
		const uint32_t base = info->size - 2 * unit, at = base + 250;
		uint8_t data[300], back[300], img[300];

		unlock_if_needed(nor);
		th_pattern(data, sizeof(data), (uint32_t)i + 1);
		assert_int_equal(nor_erase(nor, base, unit), 0);
		assert_int_equal(nor_program(nor, at, data, sizeof(data)), 0);
		assert_int_equal(nor_read(nor, at, back, sizeof(back)), 0);
		th_assert_bytes(back, data, sizeof(data));
		assert_int_equal(nor_idle(nor), 0);
		simfix_image_read(f, at, img, sizeof(img));
		th_assert_bytes(img, data, sizeof(data));

		/* program only clears bits: a second program ANDs */
		memset(back, 0x0F, sizeof(back));
		assert_int_equal(nor_program(nor, at, back, 10), 0);
		assert_int_equal(nor_read(nor, at, img, 10), 0);
		for (int k = 0; k < 10; k++)
			assert_int_equal(img[k], data[k] & 0x0F);

		assert_int_equal(nor_erase(nor, base, unit), 0);
		assert_int_equal(nor_read(nor, at, back, sizeof(back)), 0);
		th_assert_filled(back, 0xFF, sizeof(back));
		assert_int_equal(nor_idle(nor), 0);
		nor_free(nor);
		simfix_close(f);
	}
}

static void large_parts_are_left_in_three_byte_mode(void **state)
{
	static const char *const large[] = {"W25Q256JV", "MX25L25645G", "IS25WP256D", "MT25QL256",
					    "W25Q512JV"};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(large); i++) {
		struct simfix *f = simfix_open(large[i]);
		struct nor *nor = probe_ok(f);
		const uint8_t raw3[4] = {0x03, 0x00, 0x01, 0x00}; /* READ 0x000100, 3-byte form */
		uint8_t data[16], top[16], back[16];

		unlock_if_needed(nor);
		th_pattern(data, sizeof(data), 7);
		assert_int_equal(nor_erase(nor, 0, nor_info(nor)->erase[0].size), 0);
		assert_int_equal(nor_program(nor, 0x100, data, sizeof(data)), 0);
		/* touch the upper half so a part without 4-byte opcodes has to use EN4B */
		assert_int_equal(nor_read(nor, nor_info(nor)->size - 16, top, sizeof(top)), 0);
		assert_int_equal(nor_idle(nor), 0);
		assert_int_equal(spibus_cmd(f->bus, raw3, sizeof(raw3), back, sizeof(back)), 0);
		if (memcmp(back, data, sizeof(data)) != 0)
			fail_msg("%s: not in 3-byte mode after nor_idle", large[i]);
		nor_free(nor);
		simfix_close(f);
	}
}

static void wel_is_clear_after_idle(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct nor *nor = probe_ok(f);
	const uint8_t wren = 0x06;
	uint8_t sr1;

	(void)state;
	assert_int_equal(spibus_cmd(f->bus, &wren, 1, NULL, 0), 0);
	assert_int_equal(nor_read_status(nor, &sr1, NULL, NULL), 0);
	assert_int_equal(sr1 & NOR_SR_WEL, NOR_SR_WEL);
	assert_int_equal(nor_idle(nor), 0);
	assert_int_equal(nor_read_status(nor, &sr1, NULL, NULL), 0);
	assert_int_equal(sr1 & NOR_SR_WEL, 0);
	nor_free(nor);
	simfix_close(f);
}

static void protected_range_is_refused_with_its_name(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct nor *nor = probe_ok(f);
	const uint8_t wren = 0x06, wrsr[2] = {0x01, 0x04}; /* BP0: upper 256 KiB */
	const struct spibus_seg segs[2] = {{.tx = &wren, .len = 1, .cs_toggle = true},
					   {.tx = wrsr, .len = 2}};
	struct nor_protect p;
	uint8_t byte = 0, sr1;

	(void)state;
	assert_int_equal(spibus_transfer(f->bus, segs, 2), 0);
	fclock_sleep_ns(spibus_clock(f->bus), 20 * NSEC_PER_MSEC);
	assert_int_equal(nor_protect_read(nor, &p), 0);
	assert_int_equal(p.n_ranges, 1);
	assert_int_equal(p.ranges[0].addr, 0xFC0000);
	assert_int_equal(p.ranges[0].len, KIB(256));
	assert_string_equal(p.description, "upper 256 KiB (0xFC0000-0xFFFFFF) by BP=1");

	assert_int_equal(nor_program(nor, 0xFC0010, &byte, 1), -EROFS);
	assert_string_equal(nor_last_error(nor)->op, "write-protect");
	assert_int_equal(nor_last_error(nor)->addr, 0xFC0010);
	assert_string_equal(nor_last_error(nor)->detail,
			    "0xFC0000-0xFFFFFF is write-protected (upper 256 KiB "
			    "(0xFC0000-0xFFFFFF) by BP=1); unlock it first");
	assert_int_equal(nor_program(nor, 0xFBFFFF, &byte, 1), 0);

	/* temporary unlock, then restore exactly */
	{
		struct nor_protect_saved saved;

		assert_int_equal(nor_unlock(nor, &saved), 0);
		assert_int_equal(nor_program(nor, 0xFC0010, &byte, 1), 0);
		assert_int_equal(nor_protect_restore(nor, &saved), 0);
		assert_int_equal(nor_read_status(nor, &sr1, NULL, NULL), 0);
		assert_int_equal(sr1 & 0x7C, 0x04);
	}
	nor_free(nor);
	simfix_close(f);
}

static void protection_ranges_follow_the_bp_tables(void **state)
{
	const struct chip_info *w = chipdb_lookup(0xef4018);
	struct nor_protect p;
	/* W25Q128JV table: SR1 = BP bits << 2, SR2 bit 6 = CMP, SR1 bit 5 = TB, bit 6 = SEC */
	const struct {
		uint8_t sr1, sr2;
		uint32_t addr, len;
	} cases[] = {
		{0x00, 0x00, 0, 0},
		{0x04, 0x00, 0xFC0000, KIB(256)},
		{0x18, 0x00, 0x800000, MIB(8)},		 /* BP=6 upper half */
		{0x1C, 0x00, 0, MIB(16)},		 /* BP=7 all */
		{0x24, 0x00, 0, KIB(256)},		 /* TB=1 lower */
		{0x44, 0x00, 0xFFF000, KIB(4)},		 /* SEC=1 BP=1 upper 4 KiB */
		{0x64, 0x00, 0, KIB(4)},		 /* SEC TB lower 4 KiB */
		{0x04, 0x40, 0, MIB(16) - KIB(256)},	 /* CMP: all but the upper 256 KiB */
		{0x00, 0x40, 0, MIB(16)},		 /* CMP with BP=0: all */
	};

	(void)state;
	assert_non_null(w);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const uint8_t sr[3] = {cases[i].sr1, cases[i].sr2, 0};

		assert_int_equal(nor_protect_ranges(w, sr, 0, &p), 0);
		if (!cases[i].len) {
			assert_int_equal(p.n_ranges, 0);
			continue;
		}
		if (p.n_ranges != 1 || p.ranges[0].addr != cases[i].addr ||
		    p.ranges[0].len != cases[i].len)
			fail_msg("case %zu: sr1 %02x sr2 %02x -> %u ranges, first %06x+%x", i,
				 cases[i].sr1, cases[i].sr2, p.n_ranges, p.ranges[0].addr,
				 p.ranges[0].len);
	}
}

static void locked_at_power_up_parts_unlock(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		struct simfix *f;
		struct nor *nor;
		struct nor_protect p;
		uint8_t b = 0x5A;

		if (!parts[i].locked_at_power_up)
			continue;
		f = simfix_open(parts[i].profile);
		nor = probe_ok(f);
		assert_int_equal(nor_protect_read(nor, &p), 0);
		assert_true(p.n_ranges > 0);
		assert_int_equal(nor_program(nor, 0, &b, 1), -EROFS);
		assert_int_equal(nor_unlock(nor, NULL), 0);
		assert_int_equal(nor_program(nor, 0, &b, 1), 0);
		assert_int_equal(nor_read(nor, 0, &b, 1), 0);
		assert_int_equal(b, 0x5A);
		nor_free(nor);
		simfix_close(f);
	}
}

static void no_chip_says_what_to_check(void **state)
{
	static const char *const specs[] = {"no-chip=high", "no-chip=low"};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(specs); i++) {
		struct simfix *f = simfix_open("W25Q128JV");
		struct nor *nor = NULL;
		struct nor_error e;
		char err[128];

		assert_int_equal(simchip_fault_parse(f->sim, specs[i], err, sizeof(err)), 0);
		assert_int_equal(probe_chip(f->bus, NULL, &nor, NULL, &e), -ENODEV);
		assert_null(nor);
		assert_non_null(strstr(e.detail, i == 0 ? "reads ff ff ff" : "reads 00 00 00"));
		assert_non_null(strstr(e.detail, "MISO and MOSI not swapped"));
		simfix_close(f);
	}
}

static void stuck_wip_times_out_with_address(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct nor *nor = probe_ok(f);
	char err[128];

	(void)state;
	assert_int_equal(simchip_fault_parse(f->sim, "wip-stuck", err, sizeof(err)), 0);
	assert_int_equal(nor_erase(nor, 0x1F000, KIB(4)), -ETIMEDOUT);
	assert_string_equal(nor_last_error(nor)->op, "erase");
	assert_int_equal(nor_last_error(nor)->addr, 0x1F000);
	assert_true(nor_last_error(nor)->has_addr);
	/* max 400 ms + 25 % + 2 ms, rounded down to the poll that noticed */
	assert_non_null(strstr(nor_last_error(nor)->detail, "WIP still set after 50"));
	nor_free(nor);
	simfix_close(f);
}

static void transfer_error_is_eio_with_operation(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct nor *nor = probe_ok(f);
	uint8_t buf[16];
	char err[128];

	(void)state;
	assert_int_equal(simchip_fault_parse(f->sim, "xfer-error=1", err, sizeof(err)), 0);
	assert_int_equal(nor_read(nor, 0x1000, buf, sizeof(buf)), -EIO);
	assert_string_equal(nor_last_error(nor)->op, "read");
	assert_int_equal(nor_last_error(nor)->addr, 0x1000);
	nor_free(nor);
	simfix_close(f);
}

static void wp_with_srp_makes_unlock_fail_and_keeps_protection(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct nor *nor = probe_ok(f);
	const uint8_t wren = 0x06, wrsr[2] = {0x01, 0x84}; /* SRP0 + BP0 */
	const struct spibus_seg segs[2] = {{.tx = &wren, .len = 1, .cs_toggle = true},
					   {.tx = wrsr, .len = 2}};
	uint8_t sr1;
	char err[128];

	(void)state;
	assert_int_equal(spibus_transfer(f->bus, segs, 2), 0);
	fclock_sleep_ns(spibus_clock(f->bus), 20 * NSEC_PER_MSEC);
	assert_int_equal(simchip_fault_parse(f->sim, "wp", err, sizeof(err)), 0);
	assert_int_equal(nor_unlock(nor, NULL), -EROFS);
	assert_non_null(strstr(nor_last_error(nor)->detail, "SRP=1"));
	assert_int_equal(nor_read_status(nor, &sr1, NULL, NULL), 0);
	assert_int_equal(sr1 & 0xFC, 0x84);
	nor_free(nor);
	simfix_close(f);
}

static void unknown_chip_without_sfdp_is_read_only_until_configured(void **state)
{
	struct simfix *f = simfix_open("SFDP-ONLY");
	struct probe_opts o = {.no_sfdp = true};
	struct probe_report rep;
	struct nor_error e;
	struct nor *nor = NULL;
	uint8_t b = 0;

	(void)state;
	assert_int_equal(probe_chip(f->bus, &o, &nor, &rep, &e), 0);
	assert_true(rep.read_only);
	assert_false(rep.in_database);
	assert_non_null(strstr(rep.notes, "JEDEC ID a5a518 is unknown and the chip has no usable "
					  "SFDP: it is read-only (and its size is unknown) until its "
					  "size and erase size are given in the config"));
	assert_int_equal(nor_program(nor, 0, &b, 1), -EINVAL);
	nor_free(nor);

	o.size = MIB(16);
	o.erase_size = KIB(4);
	assert_int_equal(probe_chip(f->bus, &o, &nor, &rep, &e), 0);
	assert_false(rep.read_only);
	assert_int_equal(nor_info(nor)->source, CHIP_SRC_CONFIG);
	assert_int_equal(nor_info(nor)->erase[0].opcode, 0x20);
	assert_int_equal(nor_erase(nor, 0, KIB(4)), 0);
	assert_int_equal(nor_program(nor, 0, &b, 1), 0);
	nor_free(nor);
	simfix_close(f);
}

static void sfdp_that_contradicts_the_database_is_reported_and_ignored(void **state)
{
	const char *root = getenv("FLASHD_SOURCE_ROOT");
	char path[1024], err[160], *dir = th_mkdtemp(), *img = th_path(dir, "c.img");
	uint8_t buf[1024];
	struct sim_profile *p;
	struct simchip_opts so;
	struct simchip *s;
	struct probe_report rep;
	struct nor_error e;
	struct nor *nor;
	FILE *fp;
	size_t n;

	(void)state;
	/* a 4 MiB part's SFDP behind the W25Q128JV's ID */
	snprintf(path, sizeof(path), "%s/tests/data/sfdp/at25ff321a_1f4708.sfdp",
		 root ? root : "..");
	fp = fopen(path, "rb");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	assert_int_equal(sim_profile_from_sfdp(buf, n, 0xef4018, &p, err, sizeof(err)), 0);
	simchip_opts_init(&so);
	so.time_scale = 0;
	assert_int_equal(simchip_open(p, img, &so, &s, err, sizeof(err)), 0);
	assert_int_equal(probe_chip(simchip_bus(s), NULL, &nor, &rep, &e), 0);
	assert_true(rep.in_database);
	assert_true(rep.sfdp_parsed);
	assert_true(rep.contradictions >= 1);
	assert_non_null(strstr(rep.notes, "SFDP contradicts the database for W25Q128JV (database "
					  "used)"));
	assert_int_equal(nor_info(nor)->size, MIB(16));
	assert_int_equal(nor_info(nor)->source, CHIP_SRC_DATABASE);
	nor_free(nor);
	simchip_close(s);
	sim_profile_free(p);
	th_rmtree(dir);
	free(dir);
	free(img);
}

/* Chip erase (0x60/0xC7) on every simulated profile: everything reads 0xFF afterwards. */
static void chip_erase_on_every_profile(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		struct simfix *f = simfix_open(parts[i].profile);
		struct nor *nor = probe_ok(f);
		const uint32_t size = nor_info(nor)->size;
		const uint32_t at[3] = {0, size / 2 + 0x1234, size - 2};
		uint8_t b = 0x00, back;

		unlock_if_needed(nor);
		for (size_t k = 0; k < ARRAY_SIZE(at); k++)
			assert_int_equal(nor_program(nor, at[k], &b, 1), 0);
		if (nor_chip_erase(nor) != 0)
			fail_msg("%s: chip erase: %s", parts[i].profile, nor_last_error(nor)->detail);
		assert_int_equal(nor_idle(nor), 0);
		for (size_t k = 0; k < ARRAY_SIZE(at); k++) {
			simfix_image_read(f, at[k], &back, 1);
			if (back != 0xFF)
				fail_msg("%s: 0x%06X reads 0x%02X after chip erase", parts[i].profile,
					 at[k], back);
		}
		nor_free(nor);
		simfix_close(f);
	}
}

/* Every erase type of every profile erases exactly its aligned unit, nothing around it. */
static void every_erase_size_on_every_profile(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		struct simfix *f = simfix_open(parts[i].profile);
		struct nor *nor = probe_ok(f);
		const struct chip_info *info = nor_info(nor);

		unlock_if_needed(nor);
		for (unsigned k = 0; k < info->n_erase; k++) {
			const uint32_t sz = info->erase[k].size;
			/* a unit in the upper half (4-byte region on big parts) with neighbours */
			const uint32_t base = info->size / 2 + 4 * sz;
			const uint32_t probe_at[4] = {base - 1, base, base + sz - 1, base + sz};
			const uint8_t zero = 0x00;
			uint8_t b;

			for (size_t a = 0; a < ARRAY_SIZE(probe_at); a++)
				assert_int_equal(nor_program(nor, probe_at[a], &zero, 1), 0);
			if (nor_erase(nor, base, sz) != 0)
				fail_msg("%s: erase %u at 0x%06X: %s", parts[i].profile, sz, base,
					 nor_last_error(nor)->detail);
			assert_int_equal(nor_idle(nor), 0);
			simfix_image_read(f, base - 1, &b, 1);
			assert_int_equal(b, 0x00);
			simfix_image_read(f, base, &b, 1);
			assert_int_equal(b, 0xFF);
			simfix_image_read(f, base + sz - 1, &b, 1);
			assert_int_equal(b, 0xFF);
			simfix_image_read(f, base + sz, &b, 1);
			if (b != 0x00)
				fail_msg("%s: %u-byte erase at 0x%06X also erased 0x%06X",
					 parts[i].profile, sz, base, base + sz);
			/* clean up the neighbours for the next size */
			assert_int_equal(nor_erase(nor, base - info->erase[0].size,
						   info->erase[0].size), 0);
			assert_int_equal(nor_erase(nor, base + sz, info->erase[0].size), 0);
		}
		nor_free(nor);
		simfix_close(f);
	}
}

static void stuck_wip_during_program_times_out_with_address(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct nor *nor = probe_ok(f);
	uint8_t data[16] = {0};
	char err[128];

	(void)state;
	assert_int_equal(simchip_fault_parse(f->sim, "wip-stuck", err, sizeof(err)), 0);
	assert_int_equal(nor_program(nor, 0x2010, data, sizeof(data)), -ETIMEDOUT);
	assert_string_equal(nor_last_error(nor)->op, "program");
	assert_int_equal(nor_last_error(nor)->addr, 0x2010);
	/* tPP max 3 ms + 25 % + 2 ms */
	assert_non_null(strstr(nor_last_error(nor)->detail, "WIP still set after 5 ms "
							    "(datasheet max 3 ms)"));
	nor_free(nor);
	simfix_close(f);
}

static void micron_program_timeout_polls_the_flag_status_register(void **state)
{
	struct simfix *f = simfix_open("MT25QL256");
	struct nor *nor = probe_ok(f);
	uint8_t b = 0;
	char err[128];

	(void)state;
	assert_int_equal(simchip_fault_parse(f->sim, "wip-stuck", err, sizeof(err)), 0);
	assert_int_equal(nor_program(nor, 0x100, &b, 1), -ETIMEDOUT);
	assert_non_null(strstr(nor_last_error(nor)->detail, "busy flag still set after"));
	nor_free(nor);
	simfix_close(f);
}

/* The chip does not say when an erase left bits programmed: nor_erase succeeds and the
 * read-back shows it (ops verifies every erase; see test-ops). */
static void erase_fail_is_visible_in_the_read_back(void **state)
{
	struct simfix *f = simfix_open("GD25Q64C");
	struct nor *nor = probe_ok(f);
	const uint8_t zero[2] = {0, 0};
	uint8_t back[2];
	char err[128];

	(void)state;
	assert_int_equal(nor_program(nor, 0x3000, zero, 2), 0);
	assert_int_equal(simchip_fault_parse(f->sim, "erase-fail", err, sizeof(err)), 0);
	assert_int_equal(nor_erase(nor, 0x3000, KIB(4)), 0);
	assert_int_equal(nor_read(nor, 0x3000, back, 2), 0);
	assert_int_equal(back[0], 0x00); /* the first byte of the unit stayed */
	assert_int_equal(back[1], 0xFF);
	nor_free(nor);
	simfix_close(f);
}

/* Micron: BP set on the chip after probing is seen by the next job's check, before any erase. */
static void micron_erase_protected_behind_our_back_is_refused(void **state)
{
	struct simfix *f = simfix_open("MT25QL256");
	struct nor *nor = probe_ok(f);
	const uint8_t wren = 0x06, wrsr[2] = {0x01, 0x04}; /* BP=1: top 64 KiB */
	const struct spibus_seg segs[2] = {{.tx = &wren, .len = 1, .cs_toggle = true},
					   {.tx = wrsr, .len = 2}};

	(void)state;
	assert_int_equal(nor_erase(nor, MIB(32) - KIB(4), KIB(4)), 0);
	assert_int_equal(spibus_transfer(f->bus, segs, 2), 0);
	fclock_sleep_ns(spibus_clock(f->bus), 20 * NSEC_PER_MSEC);
	assert_int_equal(nor_protect_check(nor, MIB(32) - KIB(4), KIB(4)), -EROFS);
	assert_int_equal(nor_erase(nor, MIB(32) - KIB(4), KIB(4)), -EROFS);
	assert_string_equal(nor_last_error(nor)->op, "write-protect");
	nor_free(nor);
	simfix_close(f);
}

/* SST25: an odd start goes through byte program (0x02), the even rest through AAI (0xAD). */
static void sst25_odd_address_uses_byte_program_then_aai(void **state)
{
	struct simfix *f = simfix_open("SST25VF016B");
	struct nor *nor = probe_ok(f);
	uint8_t data[7], back[9];
	const uint8_t want[9] = {0xFF, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0xFF};

	(void)state;
	memcpy(data, want + 1, sizeof(data));
	assert_int_equal(nor_unlock(nor, NULL), 0);
	assert_int_equal(nor_program(nor, 0x1001, data, sizeof(data)), 0); /* 0x1001..0x1007 */
	assert_int_equal(nor_idle(nor), 0);
	simfix_image_read(f, 0x1000, back, sizeof(back));
	th_assert_bytes(back, want, sizeof(want));
	nor_free(nor);
	simfix_close(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_profile_is_identified_exactly),
		cmocka_unit_test(read_program_erase_exact_bytes_on_every_profile),
		cmocka_unit_test(large_parts_are_left_in_three_byte_mode),
		cmocka_unit_test(wel_is_clear_after_idle),
		cmocka_unit_test(protected_range_is_refused_with_its_name),
		cmocka_unit_test(protection_ranges_follow_the_bp_tables),
		cmocka_unit_test(locked_at_power_up_parts_unlock),
		cmocka_unit_test(no_chip_says_what_to_check),
		cmocka_unit_test(stuck_wip_times_out_with_address),
		cmocka_unit_test(transfer_error_is_eio_with_operation),
		cmocka_unit_test(wp_with_srp_makes_unlock_fail_and_keeps_protection),
		cmocka_unit_test(unknown_chip_without_sfdp_is_read_only_until_configured),
		cmocka_unit_test(sfdp_that_contradicts_the_database_is_reported_and_ignored),
		cmocka_unit_test(chip_erase_on_every_profile),
		cmocka_unit_test(every_erase_size_on_every_profile),
		cmocka_unit_test(stuck_wip_during_program_times_out_with_address),
		cmocka_unit_test(micron_program_timeout_polls_the_flag_status_register),
		cmocka_unit_test(erase_fail_is_visible_in_the_read_back),
		cmocka_unit_test(micron_erase_protected_behind_our_back_is_refused),
		cmocka_unit_test(sst25_odd_address_uses_byte_program_then_aai),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
