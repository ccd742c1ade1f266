/* SPDX-License-Identifier: MIT */
/*
 * Each simulated part's own commands, one datasheet behaviour per test, through raw
 * transactions: exact bytes on the wire, exact status values, exact image contents.
 */
#include "harness.h"
#include "simfix.h"
#include "simraw.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "simchip.h"
#include "spibus.h"
#include "util.h"

/* ---- SST26VF064B (Microchip DS20005119) ---- */

/* ULBPR: the part powers up with every block write-locked (4.5.1). */
static void sst26_unlock(struct spibus *bus)
{
	raw_op(bus, 0x06);
	raw_op(bus, 0x98);
}

static void sst26_d8_erases_8k_32k_or_64k_by_address(void **state)
{
	struct simfix *f = simfix_open("SST26VF064B");
	/* Table 3-1: 4 x 8 KiB, 32 KiB, 64 KiB blocks, 32 KiB, 4 x 8 KiB */
	static const struct {
		uint32_t addr, lo, hi;
	} cases[] = {
		{0x000100, 0x000000, 0x002000}, {0x003000, 0x002000, 0x004000},
		{0x00C000, 0x008000, 0x010000}, {0x010005, 0x010000, 0x020000},
		{0x7F4000, 0x7F0000, 0x7F8000}, {0x7FFFFF, 0x7FE000, 0x800000},
	};
	const uint8_t zero[16] = {0};

	(void)state;
	sst26_unlock(f->bus);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t b[2];

		/* a programmed byte just outside the block on each side, and both its ends */
		if (cases[i].lo)
			raw_program(f->bus, 0x02, cases[i].lo - 1, zero, 1, 3);
		raw_program(f->bus, 0x02, cases[i].lo, zero, 1, 3);
		raw_program(f->bus, 0x02, cases[i].hi - 1, zero, 1, 3);
		if (cases[i].hi < f->size)
			raw_program(f->bus, 0x02, cases[i].hi, zero, 1, 3);
		raw_erase(f->bus, 0xD8, cases[i].addr, 3);
		simfix_image_read(f, cases[i].lo, b, 1);
		simfix_image_read(f, cases[i].hi - 1, b + 1, 1);
		assert_memory_equal(b, ((uint8_t[]){0xFF, 0xFF}), 2);
		if (cases[i].lo) {
			simfix_image_read(f, cases[i].lo - 1, b, 1);
			assert_int_equal(b[0], 0x00);
		}
		if (cases[i].hi < f->size) {
			simfix_image_read(f, cases[i].hi, b, 1);
			assert_int_equal(b[0], 0x00);
		}
	}
	simfix_close(f);
}

static void sst26_rdbpr_sends_bpr_143_first(void **state)
{
	struct simfix *f = simfix_open("SST26VF064B");
	const uint8_t op = 0x72;
	uint8_t bpr[18], want[18];

	(void)state;
	/* power-up (4.5.1): every write-lock bit set, the 8 KiB sectors' read-lock bits clear;
	 * BPR[143:128] are the 8 KiB sectors (read-lock odd, write-lock even) = 0x5555 */
	memset(want, 0xFF, sizeof(want));
	want[0] = 0x55;
	want[1] = 0x55;
	assert_int_equal(spibus_cmd(f->bus, &op, 1, bpr, sizeof(bpr)), 0);
	assert_memory_equal(bpr, want, sizeof(want));
	simfix_close(f);
}

static void sst26_wbpr_takes_bpr_143_first(void **state)
{
	struct simfix *f = simfix_open("SST26VF064B");
	uint8_t wbpr[1 + 18] = {0x42}, bpr[18];
	const uint8_t op = 0x72;

	(void)state;
	sst26_unlock(f->bus);
	wbpr[18] = 0x01; /* last byte sent = BPR[7:0]; bit 0 = the 64 KiB block at 0x010000 */
	raw_op(f->bus, 0x06);
	raw_cmd(f->bus, wbpr, sizeof(wbpr));
	assert_int_equal(spibus_cmd(f->bus, &op, 1, bpr, sizeof(bpr)), 0);
	assert_memory_equal(bpr, wbpr + 1, sizeof(bpr));
	assert_int_equal(raw_try_program(f->bus, 0x00FFFF, 3), 0x83);
	assert_int_equal(raw_try_program(f->bus, 0x010000, 3), 0x00);
	assert_int_equal(raw_try_program(f->bus, 0x01FFFF, 3), 0x00);
	assert_int_equal(raw_try_program(f->bus, 0x020000, 3), 0x83);
	simfix_close(f);
}

static void sst26_status_register_is_read_only(void **state)
{
	struct simfix *f = simfix_open("SST26VF064B");

	(void)state;
	/* Table 5-2: WEL, WSE, WSP, WPLD, SEC and both BUSY bits are read-only */
	raw_write_reg(f->bus, 0x01, (const uint8_t[]){0xFC, 0x08}, 2);
	assert_int_equal(raw_reg(f->bus, 0x05), 0x00);
	simfix_close(f);
}

static void sst26_configuration_register_writes_only_ioc_and_wpen(void **state)
{
	struct simfix *f = simfix_open("SST26VF064B");

	(void)state;
	/* Table 5-3: BPNV (bit 3) reads 1 until a block is locked for good; IOC (1) and WPEN
	 * (7) are the writable bits; the rest are reserved and read 0 */
	assert_int_equal(raw_reg(f->bus, 0x35), 0x08);
	raw_write_reg(f->bus, 0x01, (const uint8_t[]){0x00, 0xFF}, 2);
	assert_int_equal(raw_reg(f->bus, 0x35), 0x8A);
	raw_write_reg(f->bus, 0x01, (const uint8_t[]){0x00, 0x00}, 2);
	assert_int_equal(raw_reg(f->bus, 0x35), 0x08);
	simfix_close(f);
}

static void sst26_busy_shows_in_bits_0_and_7(void **state)
{
	struct simfix *f = simfix_open("SST26VF064B");
	const uint8_t pp[5] = {0x02, 0x10, 0x00, 0x00, 0x5A};

	(void)state;
	sst26_unlock(f->bus);
	raw_op(f->bus, 0x06);
	raw_cmd(f->bus, pp, sizeof(pp));
	assert_int_equal(raw_reg(f->bus, 0x05), 0x83); /* BUSY, WEL, BUSY */
	raw_wait_idle(f->bus);
	assert_int_equal(raw_reg(f->bus, 0x05), 0x00);
	simfix_close(f);
}

static void sst26_chip_erase_is_c7_only(void **state)
{
	struct simfix *f = simfix_open("SST26VF064B");
	const uint8_t zero = 0;
	uint8_t b;

	(void)state;
	sst26_unlock(f->bus);
	raw_program(f->bus, 0x02, 0x400000, &zero, 1, 3);
	/* Table 5-1 lists Chip-Erase as C7h only: 60h is not a command, WEL stays set */
	raw_op(f->bus, 0x06);
	raw_op(f->bus, 0x60);
	assert_int_equal(raw_reg(f->bus, 0x05), 0x02);
	simfix_image_read(f, 0x400000, &b, 1);
	assert_int_equal(b, 0x00);
	raw_op(f->bus, 0xC7);
	assert_int_equal(raw_reg(f->bus, 0x05), 0x83);
	raw_wait_idle(f->bus);
	simfix_image_read(f, 0x400000, &b, 1);
	assert_int_equal(b, 0xFF);
	simfix_close(f);
}

/* ---- registers while busy ---- */

static void w25q128jv_sr2_and_sr3_read_while_busy(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	const uint8_t pp[5] = {0x02, 0x00, 0x10, 0x00, 0x00};

	(void)state;
	raw_op(f->bus, 0x06);
	raw_cmd(f->bus, pp, sizeof(pp));
	/* 8.2.4: 05h, 35h and 15h may be used at any time, even while a cycle is in progress */
	assert_int_equal(raw_reg(f->bus, 0x05), 0x03);
	assert_int_equal(raw_reg(f->bus, 0x35), 0x02);
	assert_int_equal(raw_reg(f->bus, 0x15), 0x60);
	raw_wait_idle(f->bus);
	simfix_close(f);
}

static void mt25ql256_fsr_keeps_the_address_mode_bit_while_busy(void **state)
{
	struct simfix *f = simfix_open("MT25QL256");
	const uint8_t pp[6] = {0x02, 0x00, 0x00, 0x10, 0x00, 0x00};

	(void)state;
	raw_op(f->bus, 0x06);
	raw_op(f->bus, 0xB7);
	assert_int_equal(raw_reg(f->bus, 0x70), 0x81);
	raw_op(f->bus, 0x06);
	raw_cmd(f->bus, pp, sizeof(pp)); /* 4-byte address now */
	/* FSR: bit 7 (ready) clear while programming, bit 0 still says 4-byte mode */
	assert_int_equal(raw_reg(f->bus, 0x70), 0x01);
	raw_wait_idle(f->bus);
	assert_int_equal(raw_reg(f->bus, 0x70), 0x81);
	simfix_close(f);
}

/* ---- 4-byte address mode ---- */

static void is25wp256d_leaves_4_byte_mode_with_29h(void **state)
{
	struct simfix *f = simfix_open("IS25WP256D");
	const uint8_t rd4[5] = {0x03, 0x01, 0x00, 0x00, 0x00}, rd3[4] = {0x03, 0x01, 0x00, 0x00};
	const uint8_t data[2] = {0x11, 0x22};
	uint8_t b[2];

	(void)state;
	raw_program(f->bus, 0x12, 0x01000000, data, 2, 4); /* 4-byte PP at 16 MiB */
	raw_op(f->bus, 0xB7);
	assert_int_equal(spibus_cmd(f->bus, rd4, sizeof(rd4), b, 2), 0);
	assert_memory_equal(b, data, 2);
	/* ISSI EX4B is 29h; E9h is not a command on this part */
	raw_op(f->bus, 0xE9);
	assert_int_equal(spibus_cmd(f->bus, rd4, sizeof(rd4), b, 2), 0);
	assert_memory_equal(b, data, 2);
	raw_op(f->bus, 0x29);
	assert_int_equal(spibus_cmd(f->bus, rd3, sizeof(rd3), b, 2), 0);
	assert_memory_equal(b, ((uint8_t[]){0xFF, 0xFF}), 2); /* 0x010000: erased */
	simfix_close(f);
}

/* ---- SFDP ---- */

static void sst25vf016b_has_no_sfdp(void **state)
{
	struct simfix *f = simfix_open("SST25VF016B");
	uint8_t t[16], want[16];

	(void)state;
	/* DS20005044 predates JESD216: 5Ah is no command, MISO floats high */
	memset(want, 0xFF, sizeof(want));
	raw_sfdp(f->bus, 0, t, sizeof(t));
	assert_memory_equal(t, want, sizeof(want));
	simfix_close(f);
}

static void mt25ql256_generated_sfdp_says_en4b_needs_wren(void **state)
{
	struct simfix *f = simfix_open("MT25QL256");
	uint8_t t[0x30 + 64];
	uint32_t dw16;

	(void)state;
	raw_sfdp(f->bus, 0, t, sizeof(t));
	assert_int_equal(get_le24(t + 12), 0x30);
	dw16 = get_le32(t + 0x30 + 60);
	/* enter (31:24): WREN then B7h, dedicated 4-byte opcodes; exit (23:14): WREN then E9h,
	 * as the part needs (MT25QL256 ENTER/EXIT 4-BYTE ADDRESS MODE; MT25QU256A's own SFDP) */
	assert_int_equal(dw16 >> 24, 0x22);
	assert_int_equal((dw16 >> 14) & 0x3FF, 0x002);
	simfix_close(f);
}

/* JESD216B DWORD 11 bits 30:24: chip erase typical, (count + 1) x {16 ms, 256 ms, 4 s, 64 s} */
static uint32_t sfdp_chip_erase_ms(struct simfix *f)
{
	static const uint32_t unit_ms[4] = {16, 256, 4000, 64000};
	uint8_t t[0x30 + 64];
	uint32_t dw11;

	raw_sfdp(f->bus, 0, t, sizeof(t));
	assert_int_equal(get_le24(t + 12), 0x30); /* generated tables put the BFPT here */
	dw11 = get_le32(t + 0x30 + 40);
	return (((dw11 >> 24) & 0x1F) + 1) * unit_ms[(dw11 >> 29) & 3];
}

static void generated_sfdp_chip_erase_beyond_128_s(void **state)
{
	static const struct {
		const char *profile;
		uint32_t ms;
	} parts[] = {
		/* exact where the encoding can say it, else the next value it can say */
		{"W25Q256JV", 80000},  /* 80 s: 20 x 4 s */
		{"MT25QL256", 192000}, /* 153 s: 3 x 64 s */
		{"W25Q512JV", 256000}, /* 200 s: 4 x 64 s */
		{"GD25Q64C", 28000},   /* 25 s: 7 x 4 s */
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		struct simfix *f = simfix_open(parts[i].profile);

		if (sfdp_chip_erase_ms(f) != parts[i].ms)
			fail_msg("%s: chip erase %u ms, want %u", parts[i].profile,
				 sfdp_chip_erase_ms(f), parts[i].ms);
		simfix_close(f);
	}
}

/* ---- volatile status register writes ---- */

static void winbond_50h_writes_sr1_volatile(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	const uint8_t wrsr[2] = {0x01, 0x1C};

	(void)state;
	/* 8.2.2: 50h then 01h writes the volatile bits: no WEL needed, no tW busy time */
	raw_op(f->bus, 0x50);
	raw_cmd(f->bus, wrsr, sizeof(wrsr));
	assert_int_equal(raw_reg(f->bus, 0x05), 0x1C);
	assert_int_equal(raw_try_program(f->bus, 0xFF0000, 3), 0x1C); /* BP: top 2 MiB */
	simfix_close(f);
}

static void winbond_50h_lasts_one_command(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	const uint8_t wrsr[2] = {0x01, 0x1C};

	(void)state;
	/* another command between 50h and 01h cancels 50h; 01h without WEL is ignored */
	raw_op(f->bus, 0x50);
	assert_int_equal(raw_reg(f->bus, 0x05), 0x00);
	raw_cmd(f->bus, wrsr, sizeof(wrsr));
	assert_int_equal(raw_reg(f->bus, 0x05), 0x00);
	simfix_close(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sst26_d8_erases_8k_32k_or_64k_by_address),
		cmocka_unit_test(sst26_rdbpr_sends_bpr_143_first),
		cmocka_unit_test(sst26_wbpr_takes_bpr_143_first),
		cmocka_unit_test(sst26_status_register_is_read_only),
		cmocka_unit_test(sst26_configuration_register_writes_only_ioc_and_wpen),
		cmocka_unit_test(sst26_busy_shows_in_bits_0_and_7),
		cmocka_unit_test(sst26_chip_erase_is_c7_only),
		cmocka_unit_test(w25q128jv_sr2_and_sr3_read_while_busy),
		cmocka_unit_test(mt25ql256_fsr_keeps_the_address_mode_bit_while_busy),
		cmocka_unit_test(is25wp256d_leaves_4_byte_mode_with_29h),
		cmocka_unit_test(sst25vf016b_has_no_sfdp),
		cmocka_unit_test(mt25ql256_generated_sfdp_says_en4b_needs_wren),
		cmocka_unit_test(generated_sfdp_chip_erase_beyond_128_s),
		cmocka_unit_test(winbond_50h_writes_sr1_volatile),
		cmocka_unit_test(winbond_50h_lasts_one_command),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
