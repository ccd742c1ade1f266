/* SPDX-License-Identifier: MIT */
/*
 * The common SPI NOR command set, part by part, as each datasheet gives it: WREN/WRDI,
 * program (AND-only, wrapping in the page), every erase opcode and its alignment, both chip
 * erase opcodes, READ and FAST_READ, status writes and their busy time, commands ignored
 * while busy, SFDP, and the 4-byte address modes and opcodes. Every expectation below comes
 * from the part's datasheet, not from the simulator's profile table, so the two are checked
 * against each other. One behaviour per test; each runs on a fresh chip.
 */
#include "harness.h"
#include "simfix.h"
#include "simraw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "simchip.h"
#include "spibus.h"
#include "util.h"

struct erase_op {
	uint8_t op;
	unsigned addr_bytes;
	uint32_t size;
};

struct part {
	const char *name;
	uint32_t size;
	struct erase_op erase[8];
	/* 4-byte address mode: 0 when the part has none */
	uint8_t ex4b;
	bool en4b_wren;
	uint8_t mode_reg, mode_bit; /* register read and bit that show 4-byte mode */
};

#define K 1024u
#define M (1024u * 1024u)

static const struct part parts[] = {
	{
		/* W25Q128JV rev. F: 8.2.25 20h, 8.2.26 52h, 8.2.27 D8h */
		.name = "W25Q128JV",
		.size = 16 * M,
		.erase = {{0x20, 3, 4 * K}, {0x52, 3, 32 * K}, {0xD8, 3, 64 * K}},
	},
	{
		/* W25Q256JV rev. G: 20h/21h, 52h, D8h/DCh; EN4B B7h, EX4B E9h; SR3 ADS (bit 0) */
		.name = "W25Q256JV",
		.size = 32 * M,
		.erase = {{0x20, 3, 4 * K},
			  {0x52, 3, 32 * K},
			  {0xD8, 3, 64 * K},
			  {0x21, 4, 4 * K},
			  {0xDC, 4, 64 * K}},
		.ex4b = 0xE9,
		.mode_reg = 0x15,
		.mode_bit = 0x01,
	},
	{
		/* W25Q512JV rev. B: as the W25Q256JV, 64 MiB */
		.name = "W25Q512JV",
		.size = 64 * M,
		.erase = {{0x20, 3, 4 * K},
			  {0x52, 3, 32 * K},
			  {0xD8, 3, 64 * K},
			  {0x21, 4, 4 * K},
			  {0xDC, 4, 64 * K}},
		.ex4b = 0xE9,
		.mode_reg = 0x15,
		.mode_bit = 0x01,
	},
	{
		/* MX25L12835F rev. 1.6: SE 20h, BE32K 52h, BE D8h, CE 60h/C7h */
		.name = "MX25L12835F",
		.size = 16 * M,
		.erase = {{0x20, 3, 4 * K}, {0x52, 3, 32 * K}, {0xD8, 3, 64 * K}},
	},
	{
		/* MX25L25645G rev. 1.4: + SE4B 21h, BE32K4B 5Ch, BE4B DCh; EN4B B7h, EX4B E9h;
		 * configuration register bit 5 (4BYTE) shows the mode */
		.name = "MX25L25645G",
		.size = 32 * M,
		.erase = {{0x20, 3, 4 * K},
			  {0x52, 3, 32 * K},
			  {0xD8, 3, 64 * K},
			  {0x21, 4, 4 * K},
			  {0x5C, 4, 32 * K},
			  {0xDC, 4, 64 * K}},
		.ex4b = 0xE9,
		.mode_reg = 0x15,
		.mode_bit = 0x20,
	},
	{
		/* GD25Q64C rev. 2.7: SE 20h, BE32 52h, BE64 D8h, CE 60h/C7h */
		.name = "GD25Q64C",
		.size = 8 * M,
		.erase = {{0x20, 3, 4 * K}, {0x52, 3, 32 * K}, {0xD8, 3, 64 * K}},
	},
	{
		/* IS25WP256D rev. A: SER D7h/20h, 4SER 21h, BER32 52h, 4BER32 5Ch, BER64 D8h,
		 * 4BER64 DCh; EN4B B7h, EX4B 29h */
		.name = "IS25WP256D",
		.size = 32 * M,
		.erase = {{0x20, 3, 4 * K},
			  {0xD7, 3, 4 * K},
			  {0x52, 3, 32 * K},
			  {0xD8, 3, 64 * K},
			  {0x21, 4, 4 * K},
			  {0x5C, 4, 32 * K},
			  {0xDC, 4, 64 * K}},
		.ex4b = 0x29,
	},
	{
		/* MT25QL256 rev. K: SUBSECTOR ERASE 20h/21h, 32KB 52h/5Ch, SECTOR ERASE D8h/DCh;
		 * ENTER/EXIT 4-BYTE B7h/E9h after WRITE ENABLE; flag status bit 0 */
		.name = "MT25QL256",
		.size = 32 * M,
		.erase = {{0x20, 3, 4 * K},
			  {0x52, 3, 32 * K},
			  {0xD8, 3, 64 * K},
			  {0x21, 4, 4 * K},
			  {0x5C, 4, 32 * K},
			  {0xDC, 4, 64 * K}},
		.ex4b = 0xE9,
		.en4b_wren = true,
		.mode_reg = 0x70,
		.mode_bit = 0x01,
	},
};

static const struct part *part_of(void **state)
{
	return *state;
}

static void image(struct simfix *f, uint32_t addr, uint8_t *b, size_t n)
{
	simfix_image_read(f, addr, b, n);
}

static void wren_sets_and_wrdi_clears_wel(void **state)
{
	struct simfix *f = simfix_open(part_of(state)->name);

	assert_int_equal(raw_reg(f->bus, 0x05), 0x00);
	raw_op(f->bus, 0x06);
	assert_int_equal(raw_reg(f->bus, 0x05), 0x02);
	raw_op(f->bus, 0x04);
	assert_int_equal(raw_reg(f->bus, 0x05), 0x00);
	simfix_close(f);
}

static void program_without_wren_is_ignored(void **state)
{
	struct simfix *f = simfix_open(part_of(state)->name);
	const uint8_t pp[6] = {0x02, 0x00, 0x20, 0x00, 0x12, 0x34};
	uint8_t b[2];

	raw_cmd(f->bus, pp, sizeof(pp));
	assert_int_equal(raw_reg(f->bus, 0x05), 0x00); /* not busy */
	image(f, 0x2000, b, 2);
	assert_memory_equal(b, ((uint8_t[]){0xFF, 0xFF}), 2);
	simfix_close(f);
}

static void program_ands_and_wraps_in_the_page(void **state)
{
	struct simfix *f = simfix_open(part_of(state)->name);
	const uint8_t a[8] = {0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7};
	const uint8_t b[8] = {0x3C, 0x3C, 0x3C, 0x3C, 0x3C, 0x3C, 0x3C, 0x3C};
	uint8_t got[256], want[256];

	/* 8 bytes from page offset 252: 4 land at 252..255, 4 wrap to 0..3 of the same page */
	raw_program(f->bus, 0x02, 0x30000 + 252, a, sizeof(a), 3);
	raw_program(f->bus, 0x02, 0x30000 + 252, b, sizeof(b), 3); /* programs only clear bits */
	memset(want, 0xFF, sizeof(want));
	for (int i = 0; i < 8; i++)
		want[(252 + i) % 256] = a[i] & b[i];
	image(f, 0x30000, got, sizeof(got));
	assert_memory_equal(got, want, sizeof(want));
	image(f, 0x30100, got, 1); /* the next page is untouched */
	assert_int_equal(got[0], 0xFF);
	simfix_close(f);
}

/* Program a 0x00 at each of addrs (3- or 4-byte PP as the address needs). */
static void mark(struct simfix *f, const uint32_t *addrs, size_t n)
{
	const uint8_t zero = 0;

	for (size_t i = 0; i < n; i++)
		raw_program(f->bus, addrs[i] >= 16 * M ? 0x12 : 0x02, addrs[i], &zero, 1,
			    addrs[i] >= 16 * M ? 4 : 3);
}

static void every_erase_opcode_erases_its_aligned_unit(void **state)
{
	const struct part *pt = part_of(state);
	struct simfix *f = simfix_open(pt->name);

	for (unsigned i = 0; i < ARRAY_SIZE(pt->erase) && pt->erase[i].op; i++) {
		const struct erase_op *e = &pt->erase[i];
		/* 4-byte opcodes work above 16 MiB in 3-byte mode; 3-byte ones below it */
		uint32_t lo = e->addr_bytes == 4 ? pt->size - 4 * e->size : 4 * e->size;
		uint32_t hi = lo + e->size, at[4] = {lo - 1, lo, hi - 1, hi};
		uint8_t b[4];

		mark(f, at, 4);
		raw_erase(f->bus, e->op, lo + e->size / 2 + 3, e->addr_bytes); /* unaligned */
		for (int k = 0; k < 4; k++)
			image(f, at[k], b + k, 1);
		if (memcmp(b, ((uint8_t[]){0x00, 0xFF, 0xFF, 0x00}), 4) != 0)
			fail_msg("%s %02xh at 0x%x: %02x %02x %02x %02x around [0x%x, 0x%x)",
				 pt->name, e->op, lo + e->size / 2 + 3, b[0], b[1], b[2], b[3], lo,
				 hi);
		assert_int_equal(raw_reg(f->bus, 0x05), 0x00); /* WEL cleared at the end */
	}
	simfix_close(f);
}

static void chip_erase_takes_60h_and_c7h(void **state)
{
	const uint8_t ops[2] = {0x60, 0xC7};

	for (int i = 0; i < 2; i++) {
		struct simfix *f = simfix_open(part_of(state)->name);
		const uint32_t at[2] = {0, 0x123456};
		uint8_t b[2];

		mark(f, at, 2);
		raw_op(f->bus, 0x06);
		raw_op(f->bus, ops[i]);
		assert_int_equal(raw_reg(f->bus, 0x05), 0x03);
		raw_wait_idle(f->bus);
		assert_int_equal(raw_reg(f->bus, 0x05), 0x00);
		image(f, 0, b, 1);
		image(f, 0x123456, b + 1, 1);
		assert_memory_equal(b, ((uint8_t[]){0xFF, 0xFF}), 2);
		simfix_close(f);
	}
}

static void read_and_fast_read_return_the_array(void **state)
{
	struct simfix *f = simfix_open(part_of(state)->name);
	uint8_t data[64], got[64], fr[5] = {0x0B, 0x04, 0x00, 0x10, 0xA5}; /* dummy byte */

	th_pattern(data, sizeof(data), 11);
	raw_program(f->bus, 0x02, 0x040010, data, sizeof(data), 3);
	raw_read3(f->bus, 0x040010, got, sizeof(got));
	assert_memory_equal(got, data, sizeof(data));
	memset(got, 0, sizeof(got));
	assert_int_equal(spibus_cmd(f->bus, fr, sizeof(fr), got, sizeof(got)), 0);
	assert_memory_equal(got, data, sizeof(data));
	simfix_close(f);
}

static void status_write_sets_bp0_and_is_busy_for_tw(void **state)
{
	struct simfix *f = simfix_open(part_of(state)->name);
	const uint8_t wrsr[2] = {0x01, 0x04};

	raw_op(f->bus, 0x06);
	raw_cmd(f->bus, wrsr, sizeof(wrsr));
	assert_int_equal(raw_reg(f->bus, 0x05), 0x07); /* BP0, WEL, WIP during tW */
	raw_wait_idle(f->bus);
	assert_int_equal(raw_reg(f->bus, 0x05), 0x04);
	simfix_close(f);
}

static void commands_are_ignored_while_busy(void **state)
{
	struct simfix *f = simfix_open(part_of(state)->name);
	const uint8_t se[4] = {0x20, 0x08, 0x00, 0x00}, pp[5] = {0x02, 0x00, 0x00, 0x10, 0x00};
	const uint8_t v = 0x5A;
	uint8_t b;

	raw_program(f->bus, 0x02, 0x1000, &v, 1, 3);
	raw_op(f->bus, 0x06);
	raw_cmd(f->bus, se, sizeof(se)); /* erase elsewhere: busy for tSE */
	raw_read3(f->bus, 0x1000, &b, 1);
	assert_int_equal(b, 0xFF); /* the read is not answered */
	raw_cmd(f->bus, pp, sizeof(pp)); /* nor is a program */
	raw_wait_idle(f->bus);
	image(f, 0x1000, &b, 1);
	assert_int_equal(b, 0x5A);
	raw_read3(f->bus, 0x1000, &b, 1);
	assert_int_equal(b, 0x5A);
	simfix_close(f);
}

static void sfdp_has_the_jedec_signature(void **state)
{
	struct simfix *f = simfix_open(part_of(state)->name);
	uint8_t t[8];

	raw_sfdp(f->bus, 0, t, sizeof(t));
	assert_memory_equal(t, "SFDP", 4);
	assert_int_equal(t[5], 1); /* major revision */
	simfix_close(f);
}

static void four_byte_opcodes_reach_the_top_in_3_byte_mode(void **state)
{
	const struct part *pt = part_of(state);
	struct simfix *f;
	uint8_t data[4] = {0xDE, 0xAD, 0xBE, 0xEF}, got[4], fr4[6] = {0x0C};

	if (!pt->ex4b)
		skip();
	f = simfix_open(pt->name);
	raw_program(f->bus, 0x12, pt->size - 0x100, data, sizeof(data), 4);
	raw_read4(f->bus, pt->size - 0x100, got, sizeof(got));
	assert_memory_equal(got, data, sizeof(data));
	put_be24(fr4 + 2, (pt->size - 0x100) & 0xFFFFFF);
	fr4[1] = (uint8_t)((pt->size - 0x100) >> 24);
	memset(got, 0, sizeof(got));
	assert_int_equal(spibus_cmd(f->bus, fr4, sizeof(fr4), got, sizeof(got)), 0);
	assert_memory_equal(got, data, sizeof(data));
	/* the plain READ still takes 3 bytes: 0x??FFFF00 is out of its reach */
	raw_read3(f->bus, (pt->size - 0x100) & 0xFFFFFF, got, sizeof(got));
	assert_memory_equal(got, ((uint8_t[]){0xFF, 0xFF, 0xFF, 0xFF}), 4);
	simfix_close(f);
}

static void en4b_and_ex4b_switch_the_address_mode(void **state)
{
	const struct part *pt = part_of(state);
	const uint8_t lowdata[2] = {0x11, 0x22}, highdata[2] = {0x33, 0x44};
	uint8_t rd4[5] = {0x03}, rd3[4] = {0x03}, got[2];
	struct simfix *f;

	if (!pt->ex4b)
		skip();
	f = simfix_open(pt->name);
	raw_program(f->bus, 0x02, 0x000200, lowdata, 2, 3);
	raw_program(f->bus, 0x12, 0x01000200, highdata, 2, 4);
	if (pt->en4b_wren)
		raw_op(f->bus, 0x06);
	raw_op(f->bus, 0xB7);
	if (pt->mode_reg)
		assert_int_equal(raw_reg(f->bus, pt->mode_reg) & pt->mode_bit, pt->mode_bit);
	put_be24(rd4 + 2, 0x000200);
	rd4[1] = 0x01;
	assert_int_equal(spibus_cmd(f->bus, rd4, sizeof(rd4), got, 2), 0);
	assert_memory_equal(got, highdata, 2);
	if (pt->en4b_wren)
		raw_op(f->bus, 0x06);
	raw_op(f->bus, pt->ex4b);
	if (pt->mode_reg)
		assert_int_equal(raw_reg(f->bus, pt->mode_reg) & pt->mode_bit, 0);
	put_be24(rd3 + 1, 0x000200);
	assert_int_equal(spibus_cmd(f->bus, rd3, sizeof(rd3), got, 2), 0);
	assert_memory_equal(got, lowdata, 2);
	simfix_close(f);
}

/* ---- part-specific registers ---- */

static void mx25l_wrsr_second_byte_writes_the_configuration_register(void **state)
{
	struct simfix *f = simfix_open(part_of(state)->name);

	/* RDCR 15h; WRSR 01h SR CR. ODS (bits 2:0) and DC (7:6) are writable; bit 4 reserved */
	assert_int_equal(raw_reg(f->bus, 0x15), 0x00);
	raw_write_reg(f->bus, 0x01, (const uint8_t[]){0x00, 0xD7}, 2);
	assert_int_equal(raw_reg(f->bus, 0x15), 0xC7);
	assert_int_equal(raw_reg(f->bus, 0x05), 0x00);
	simfix_close(f);
}

static void mx25l_tb_is_one_time_programmable(void **state)
{
	struct simfix *f = simfix_open(part_of(state)->name);

	/* CR bit 3 TB: OTP, set once it stays set */
	raw_write_reg(f->bus, 0x01, (const uint8_t[]){0x00, 0x08}, 2);
	assert_int_equal(raw_reg(f->bus, 0x15), 0x08);
	raw_write_reg(f->bus, 0x01, (const uint8_t[]){0x00, 0x00}, 2);
	assert_int_equal(raw_reg(f->bus, 0x15), 0x08);
	simfix_close(f);
}

static void winbond_31h_and_11h_write_sr2_and_sr3(void **state)
{
	struct simfix *f = simfix_open(part_of(state)->name);

	/* power-up: SR2 QE (factory, -IQ), SR3 DRV 25 % on 128JV, 0 on the larger parts */
	assert_int_equal(raw_reg(f->bus, 0x35), 0x02);
	raw_write_reg(f->bus, 0x31, (const uint8_t[]){0x42}, 1); /* CMP, QE */
	assert_int_equal(raw_reg(f->bus, 0x35), 0x42);
	raw_write_reg(f->bus, 0x11, (const uint8_t[]){0x20}, 1); /* DRV0 */
	assert_int_equal(raw_reg(f->bus, 0x15), 0x20);
	simfix_close(f);
}

/* ---- table ---- */

typedef void (*behaviour_fn)(void **state);

static const struct {
	const char *what;
	behaviour_fn fn;
	const char *only; /* NULL: every part; else a space-separated list */
} behaviours[] = {
	{"WREN sets and WRDI clears WEL", wren_sets_and_wrdi_clears_wel, NULL},
	{"program without WREN is ignored", program_without_wren_is_ignored, NULL},
	{"program ANDs and wraps in the page", program_ands_and_wraps_in_the_page, NULL},
	{"every erase opcode erases its aligned unit", every_erase_opcode_erases_its_aligned_unit,
	 NULL},
	{"chip erase takes 60h and C7h", chip_erase_takes_60h_and_c7h, NULL},
	{"READ and FAST_READ return the array", read_and_fast_read_return_the_array, NULL},
	{"status write sets BP0 and is busy for tW", status_write_sets_bp0_and_is_busy_for_tw,
	 NULL},
	{"commands are ignored while busy", commands_are_ignored_while_busy, NULL},
	{"SFDP has the JEDEC signature", sfdp_has_the_jedec_signature, NULL},
	{"4-byte opcodes reach the top in 3-byte mode",
	 four_byte_opcodes_reach_the_top_in_3_byte_mode,
	 "W25Q256JV W25Q512JV MX25L25645G IS25WP256D MT25QL256"},
	{"EN4B and EX4B switch the address mode", en4b_and_ex4b_switch_the_address_mode,
	 "W25Q256JV W25Q512JV MX25L25645G IS25WP256D MT25QL256"},
	{"WRSR's second byte writes the configuration register",
	 mx25l_wrsr_second_byte_writes_the_configuration_register, "MX25L12835F MX25L25645G"},
	{"TB is one-time programmable", mx25l_tb_is_one_time_programmable,
	 "MX25L12835F MX25L25645G"},
	{"31h and 11h write SR2 and SR3", winbond_31h_and_11h_write_sr2_and_sr3,
	 "W25Q256JV W25Q512JV"},
};

static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

int main(void)
{
	static struct CMUnitTest tests[ARRAY_SIZE(parts) * ARRAY_SIZE(behaviours)];
	static char names[ARRAY_SIZE(tests)][96];
	size_t n = 0;

	for (size_t p = 0; p < ARRAY_SIZE(parts); p++) {
		for (size_t b = 0; b < ARRAY_SIZE(behaviours); b++) {
			if (behaviours[b].only && !listed(behaviours[b].only, parts[p].name))
				continue;
			snprintf(names[n], sizeof(names[n]), "%s: %s", parts[p].name,
				 behaviours[b].what);
			tests[n] = (struct CMUnitTest){
				.name = names[n],
				.test_func = behaviours[b].fn,
				.initial_state = (void *)&parts[p],
			};
			n++;
		}
	}
	return _cmocka_run_group_tests("test-simchip-commands", tests, n, NULL, NULL);
}
