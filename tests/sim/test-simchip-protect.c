/* SPDX-License-Identifier: MIT */
/*
 * Block protection, part by part: each row writes the status (and SR2 or configuration)
 * register as the datasheet's protection table gives it and checks, with one-byte programs,
 * that the first and last byte of the protected range are refused and the bytes just outside
 * it are accepted. A refused program leaves the chip idle with WEL cleared (status = the
 * register value); an accepted one makes it busy (status | WIP | WEL). The ranges are the
 * datasheets', written here independently of the simulator's profiles.
 */
#include "harness.h"
#include "simfix.h"
#include "simraw.h"

#include <stdio.h>
#include <string.h>

#include "simchip.h"
#include "spibus.h"
#include "util.h"

#define K 1024u
#define M (1024u * 1024u)

struct row {
	uint8_t sr1, second; /* WRSR bytes: SR1, then SR2 or the configuration register */
	uint32_t lo, hi;     /* protected [lo, hi); lo == hi: nothing */
};

static void probe(struct simfix *f, uint8_t sr1, uint32_t addr, bool refused)
{
	uint8_t got = raw_try_program(f->bus, addr, addr >= 16 * M ? 4 : 3);
	uint8_t want = refused ? sr1 : (uint8_t)(sr1 | 0x03);

	if (got != want)
		fail_msg("SR 0x%02x: program at 0x%07x gave status 0x%02x, want 0x%02x (%s)", sr1,
			 addr, got, want, refused ? "protected" : "writable");
}

static void check_rows(const char *part, unsigned wrsr_len, const struct row *rows, size_t n)
{
	struct simfix *f = simfix_open(part);

	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];

		raw_write_reg(f->bus, 0x01, (const uint8_t[]){r->sr1, r->second}, wrsr_len);
		assert_int_equal(raw_reg(f->bus, 0x05), r->sr1);
		if (r->lo == r->hi) {
			probe(f, r->sr1, 0, false);
			probe(f, r->sr1, f->size - 1, false);
			continue;
		}
		if (r->lo > 0)
			probe(f, r->sr1, r->lo - 1, false);
		probe(f, r->sr1, r->lo, true);
		probe(f, r->sr1, r->lo + (r->hi - r->lo) / 2, true);
		probe(f, r->sr1, r->hi - 1, true);
		if (r->hi < f->size)
			probe(f, r->sr1, r->hi, false);
	}
	simfix_close(f);
}

static void w25q128jv_bp_tb_sec_cmp(void **state)
{
	/* W25Q128JV 8.1: SR1 BP0-2 (bits 2-4), TB 5, SEC 6; SR2 CMP (bit 6), QE (1) kept set.
	 * Table "Status Register Memory Protection (CMP = 0)" and "(CMP = 1)". */
	static const struct row rows[] = {
		{0x04, 0x02, 0xFC0000, 0x1000000}, /* upper 1/64, 256 KiB */
		{0x08, 0x02, 0xF80000, 0x1000000}, /* upper 1/32 */
		{0x0C, 0x02, 0xF00000, 0x1000000}, /* upper 1/16 */
		{0x10, 0x02, 0xE00000, 0x1000000}, /* upper 1/8 */
		{0x14, 0x02, 0xC00000, 0x1000000}, /* upper 1/4 */
		{0x18, 0x02, 0x800000, 0x1000000}, /* upper 1/2 */
		{0x1C, 0x02, 0x000000, 0x1000000}, /* all */
		{0x24, 0x02, 0x000000, 0x040000},  /* TB: lower 1/64 */
		{0x38, 0x02, 0x000000, 0x800000},  /* TB: lower 1/2 */
		{0x44, 0x02, 0xFFF000, 0x1000000}, /* SEC: upper 4 KiB */
		{0x48, 0x02, 0xFFE000, 0x1000000}, /* SEC: upper 8 KiB */
		{0x4C, 0x02, 0xFFC000, 0x1000000}, /* SEC: upper 16 KiB */
		{0x50, 0x02, 0xFF8000, 0x1000000}, /* SEC: upper 32 KiB */
		{0x54, 0x02, 0xFF8000, 0x1000000}, /* SEC: 1 0 X, 32 KiB */
		{0x64, 0x02, 0x000000, 0x001000},  /* SEC TB: lower 4 KiB */
		{0x70, 0x02, 0x000000, 0x008000},  /* SEC TB: lower 32 KiB */
		{0x00, 0x42, 0x000000, 0x1000000}, /* CMP: BP 000 -> all */
		{0x04, 0x42, 0x000000, 0xFC0000},  /* CMP: lower 63/64 */
		{0x24, 0x42, 0x040000, 0x1000000}, /* CMP TB: upper 63/64 */
		{0x44, 0x42, 0x000000, 0xFFF000},  /* CMP SEC: all but the upper 4 KiB */
		{0x1C, 0x42, 0, 0},		   /* CMP: BP 111 -> none */
		{0x00, 0x02, 0, 0},		   /* none */
	};

	(void)state;
	check_rows("W25Q128JV", 2, rows, ARRAY_SIZE(rows));
}

static void w25q256jv_bp_tb_cmp(void **state)
{
	/* W25Q256JV 8.1: BP0-3 (bits 2-5), TB 6; CMP in SR2 bit 6. 512 blocks of 64 KiB. */
	static const struct row rows[] = {
		{0x04, 0x02, 0x1FF0000, 0x2000000}, /* 0001: upper 1/512, 64 KiB */
		{0x08, 0x02, 0x1FE0000, 0x2000000}, /* 0010: upper 1/256 */
		{0x20, 0x02, 0x1800000, 0x2000000}, /* 1000: upper 1/4 */
		{0x24, 0x02, 0x1000000, 0x2000000}, /* 1001: upper 1/2 */
		{0x28, 0x02, 0x0000000, 0x2000000}, /* 1010: all */
		{0x3C, 0x02, 0x0000000, 0x2000000}, /* 1111: all */
		{0x44, 0x02, 0x0000000, 0x0010000}, /* TB 0001: lower 64 KiB */
		{0x64, 0x02, 0x0000000, 0x1000000}, /* TB 1001: lower 1/2 */
		{0x04, 0x42, 0x0000000, 0x1FF0000}, /* CMP 0001: lower 511/512 */
		{0x00, 0x02, 0, 0},
	};

	(void)state;
	check_rows("W25Q256JV", 2, rows, ARRAY_SIZE(rows));
}

static void w25q512jv_bp_tb_cmp(void **state)
{
	/* W25Q512JV 8.1: BP0-3, TB 6, CMP; 1/512 .. 1/2 of 64 MiB, so 128 KiB steps. */
	static const struct row rows[] = {
		{0x04, 0x02, 0x3FE0000, 0x4000000}, /* 0001: upper 1/512, 128 KiB */
		{0x0C, 0x02, 0x3F80000, 0x4000000}, /* 0011: upper 1/128 */
		{0x24, 0x02, 0x2000000, 0x4000000}, /* 1001: upper 1/2 */
		{0x28, 0x02, 0x0000000, 0x4000000}, /* 1010: all */
		{0x44, 0x02, 0x0000000, 0x0020000}, /* TB 0001: lower 128 KiB */
		{0x04, 0x42, 0x0000000, 0x3FE0000}, /* CMP 0001 */
		{0x00, 0x02, 0, 0},
	};

	(void)state;
	check_rows("W25Q512JV", 2, rows, ARRAY_SIZE(rows));
}

static void gd25q64c_bp_tb_sec_cmp(void **state)
{
	/* GD25Q64C: BP0-2 (bits 2-4), BP3 (5) top/bottom, BP4 (6) sector; CMP is S14 (SR2
	 * bit 6), written as WRSR's second byte. 128 blocks of 64 KiB. */
	static const struct row rows[] = {
		{0x04, 0x00, 0x7E0000, 0x800000}, /* upper 1/64, 128 KiB */
		{0x18, 0x00, 0x400000, 0x800000}, /* upper 1/2 */
		{0x1C, 0x00, 0x000000, 0x800000}, /* all */
		{0x24, 0x00, 0x000000, 0x020000}, /* BP3: lower 1/64 */
		{0x44, 0x00, 0x7FF000, 0x800000}, /* BP4: upper 4 KiB */
		{0x50, 0x00, 0x7F8000, 0x800000}, /* BP4: upper 32 KiB */
		{0x64, 0x00, 0x000000, 0x001000}, /* BP4 BP3: lower 4 KiB */
		{0x04, 0x40, 0x000000, 0x7E0000}, /* CMP: lower 63/64 */
		{0x00, 0x00, 0, 0},
	};

	(void)state;
	check_rows("GD25Q64C", 2, rows, ARRAY_SIZE(rows));
}

static void mx25l12835f_bp_and_tb_in_the_configuration_register(void **state)
{
	/* MX25L12835F Table 2: BP0-3 (bits 2-5), 64 KiB blocks; TB is configuration register
	 * bit 3, OTP, so the bottom rows come last and the top cannot come back. */
	static const struct row rows[] = {
		{0x04, 0x00, 0xFF0000, 0x1000000}, /* 0001: block 255 */
		{0x08, 0x00, 0xFE0000, 0x1000000}, /* 0010: 254-255 */
		{0x20, 0x00, 0x800000, 0x1000000}, /* 1000: 128-255 */
		{0x24, 0x00, 0x000000, 0x1000000}, /* 1001: all */
		{0x3C, 0x00, 0x000000, 0x1000000}, /* 1111: all */
		{0x04, 0x08, 0x000000, 0x010000},  /* TB=1 0001: block 0 */
		{0x20, 0x08, 0x000000, 0x800000},  /* TB=1 1000: 0-127 */
		{0x04, 0x00, 0x000000, 0x010000},  /* TB stays 1 */
	};

	(void)state;
	check_rows("MX25L12835F", 2, rows, ARRAY_SIZE(rows));
}

static void mx25l25645g_bp_and_tb_in_the_configuration_register(void **state)
{
	/* MX25L25645G Table 2: BP0-3, 512 blocks of 64 KiB; TB in CR bit 3 (OTP) */
	static const struct row rows[] = {
		{0x04, 0x00, 0x1FF0000, 0x2000000}, /* 0001: block 511 */
		{0x24, 0x00, 0x1000000, 0x2000000}, /* 1001: 256-511 */
		{0x28, 0x00, 0x0000000, 0x2000000}, /* 1010: all */
		{0x04, 0x08, 0x0000000, 0x0010000}, /* TB=1 0001: block 0 */
		{0x24, 0x08, 0x0000000, 0x1000000}, /* TB=1 1001: 0-255 */
	};

	(void)state;
	check_rows("MX25L25645G", 2, rows, ARRAY_SIZE(rows));
}

static void is25wp256d_bp_top_by_default(void **state)
{
	/* IS25WP256D Table 6.4: BP0-3 (bits 2-5), 64 KiB blocks from the top (function register
	 * TBS = 0, the default); bit 6 is QE and does not move the range. */
	static const struct row rows[] = {
		{0x04, 0, 0x1FF0000, 0x2000000}, /* 0001: block 511 */
		{0x44, 0, 0x1FF0000, 0x2000000}, /* QE set: the same */
		{0x20, 0, 0x1800000, 0x2000000}, /* 1000: 384-511 */
		{0x24, 0, 0x1000000, 0x2000000}, /* 1001: 256-511 */
		{0x28, 0, 0x0000000, 0x2000000}, /* 1010: all */
		{0x3C, 0, 0x0000000, 0x2000000}, /* 1111: all */
		{0x00, 0, 0, 0},
	};

	(void)state;
	check_rows("IS25WP256D", 1, rows, ARRAY_SIZE(rows));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(w25q128jv_bp_tb_sec_cmp),
		cmocka_unit_test(w25q256jv_bp_tb_cmp),
		cmocka_unit_test(w25q512jv_bp_tb_cmp),
		cmocka_unit_test(gd25q64c_bp_tb_sec_cmp),
		cmocka_unit_test(mx25l12835f_bp_and_tb_in_the_configuration_register),
		cmocka_unit_test(mx25l25645g_bp_and_tb_in_the_configuration_register),
		cmocka_unit_test(is25wp256d_bp_top_by_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
