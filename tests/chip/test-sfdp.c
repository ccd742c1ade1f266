/* SPDX-License-Identifier: MIT */
/*
 * SFDP parser against real dumps (tests/data/sfdp, see its README) and against hostile input:
 * exact values, exact errno, *ret untouched on failure.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipdb.h"
#include "sfdp.h"
#include "util.h"

#define KIB_(x) ((uint32_t)(x)*1024u)

struct dump {
	uint8_t *buf;
	size_t len;
};

/* tests/data/sfdp under FLASHD_SOURCE_ROOT (set by tests/meson.build). */
static struct dump load(const char *file)
{
	const char *root = getenv("FLASHD_SOURCE_ROOT");
	char path[4096];
	struct dump d = {0};
	FILE *f;
	long n;

	if (!root)
		root = ".";
	snprintf(path, sizeof(path), "%s/tests/data/sfdp/%s", root, file);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	d.len = (size_t)n;
	d.buf = malloc(d.len);
	assert_non_null(d.buf);
	assert_int_equal(fread(d.buf, 1, d.len, f), d.len);
	fclose(f);
	return d;
}

static struct sfdp_info *parse_ok(const struct dump *d, uint32_t id)
{
	struct sfdp_info *si = calloc(1, sizeof(*si));
	char err[128];
	int r;

	assert_non_null(si);
	r = sfdp_parse(d->buf, d->len, id, si, err, sizeof(err));
	if (r != 0)
		fail_msg("sfdp_parse: %d (%s)", r, err);
	return si;
}

static bool has_note(const struct sfdp_info *si, const char *needle)
{
	for (unsigned i = 0; i < si->n_notes; i++)
		if (strstr(si->notes[i], needle))
			return true;
	return false;
}

static void assert_erase(const struct chip_erase_type *e, uint32_t size, uint8_t op, uint8_t op4)
{
	assert_int_equal(e->size, size);
	assert_int_equal(e->opcode, op);
	assert_int_equal(e->opcode_4b, op4);
}

/* Uniform 4/32/64 KiB parts: the README's values for size, page and erase types. */
static void check_std(const char *file, uint32_t id, uint32_t size, uint8_t rev_minor,
		      enum chip_addr_mode mode, const uint8_t op4[3])
{
	struct dump d = load(file);
	struct sfdp_info *si = parse_ok(&d, id);
	const struct chip_info *ci = &si->info;

	assert_int_equal(si->rev_major, 1);
	assert_int_equal(si->rev_minor, rev_minor);
	assert_int_equal(ci->size, size);
	assert_int_equal(ci->page_size, 256);
	assert_int_equal(ci->n_erase, 3);
	assert_erase(&ci->erase[0], KIB_(4), 0x20, op4[0]);
	assert_erase(&ci->erase[1], KIB_(32), 0x52, op4[1]);
	assert_erase(&ci->erase[2], KIB_(64), 0xd8, op4[2]);
	assert_int_equal(ci->addr_mode, mode);
	assert_int_equal(ci->source, CHIP_SRC_SFDP);
	assert_int_equal(ci->jedec_id, id);
	assert_true(ci->flags & CHIP_F_SFDP);
	free(si);
	free(d.buf);
}

static void w25q128jv_rev15_bfpt_at_0x80(void **state)
{
	(void)state;
	check_std("w25q128jv_ef4018.sfdp", 0xef4018, 16u << 20, 5, CHIP_ADDR_3B,
		  (const uint8_t[]){0, 0, 0});
}

static void w25q128jv_name_vendor_and_times_decoded(void **state)
{
	struct dump d = load("w25q128jv_ef4018.sfdp");
	struct sfdp_info *si = parse_ok(&d, 0xef4018);
	const struct chip_info *ci = &si->info;

	(void)state;
	assert_string_equal(ci->name, "SFDP ef4018");
	assert_string_equal(ci->vendor, "Winbond");
	/* DWORD 10 = 0x00a60236: 4 KiB typ 4 x 16 ms, max multiplier 2 * (6 + 1) */
	assert_int_equal(ci->erase[0].typ_us, 64000);
	assert_int_equal(ci->erase[0].max_us, 64000 * 14);
	/* DWORD 11 = 0xc914ea82: page program 11 x 64 us, x6; chip erase 10 x 4 s */
	assert_int_equal(ci->page_program_typ_us, 704);
	assert_int_equal(ci->page_program_max_us, 704 * 6);
	assert_int_equal(ci->chip_erase_typ_ms, 40000);
	assert_int_equal(ci->chip_erase_max_ms, 40000 * 14);
	/* DWORD 15 QER = 101: SR2 read with 0x35, written with the 2-byte WRSR */
	assert_true(ci->flags & CHIP_F_SR2);
	assert_false(ci->flags & CHIP_F_SR2_WRITE_31);
	assert_false(ci->flags & (CHIP_F_EN4B | CHIP_F_4B_OPCODES));
	assert_int_equal(si->n_tables, 1);
	assert_true(si->table[0].parsed);
	free(si);
	free(d.buf);
}

/* MX25L12835F (linux-mtd, 2022-03): SFDP 1.0, a 9-DWORD BFPT and a Macronix table. */
static void mx25l12835f_rev10_nine_dword_bfpt(void **state)
{
	struct dump d = load("mx25l12835f_c22018.sfdp");
	struct sfdp_info *si = parse_ok(&d, 0xc22018);

	(void)state;
	check_std("mx25l12835f_c22018.sfdp", 0xc22018, 16u << 20, 0, CHIP_ADDR_3B,
		  (const uint8_t[]){0, 0, 0});
	assert_int_equal(si->bfpt_dwords, 9);
	assert_int_equal(si->nph, 2);
	assert_int_equal(si->table[1].id, 0xffc2);
	assert_false(si->table[1].parsed);
	/* no page size or times in a 9-DWORD table */
	assert_true(has_note(si, "BFPT has 9 DWORDs"));
	assert_int_equal(si->info.page_program_typ_us, 0);
	free(si);
	free(d.buf);
}

/* XT25F128B (XTX; ID 0b4018, not in the database): SFDP 1.0, 9-DWORD BFPT, vendor table 0x0b. */
static void xt25f128b_sfdp_only_part(void **state)
{
	struct dump d = load("xt25f128b_0b4018.sfdp");
	struct sfdp_info *si = parse_ok(&d, 0x0b4018);

	(void)state;
	check_std("xt25f128b_0b4018.sfdp", 0x0b4018, 16u << 20, 0, CHIP_ADDR_3B,
		  (const uint8_t[]){0, 0, 0});
	assert_null(chipdb_lookup(0x0b4018));
	assert_int_equal(si->nph, 2);
	assert_int_equal(si->table[1].id, 0xff0b);
	assert_int_equal(si->bfpt_dwords, 9);
	free(si);
	free(d.buf);
}

static void at25ff321a_single_bfpt(void **state)
{
	(void)state;
	check_std("at25ff321a_1f4708.sfdp", 0x1f4708, 4u << 20, 6, CHIP_ADDR_3B,
		  (const uint8_t[]){0, 0, 0});
}

static void gd25lb512me_64mib_with_4bait(void **state)
{
	(void)state;
	check_std("gd25lb512me_c8671a.sfdp", 0xc8671a, 64u << 20, 6, CHIP_ADDR_3B_4B,
		  (const uint8_t[]){0x21, 0x5c, 0xdc});
}

static void mx25l25645g_4bait_opcodes(void **state)
{
	struct dump d = load("mx25l25645g_c22019.sfdp");
	struct sfdp_info *si = parse_ok(&d, 0xc22019);

	(void)state;
	check_std("mx25l25645g_c22019.sfdp", 0xc22019, 32u << 20, 6, CHIP_ADDR_3B_4B,
		  (const uint8_t[]){0x21, 0x5c, 0xdc});
	assert_true(si->has_4bait);
	assert_true(si->info.flags & CHIP_F_4B_OPCODES);
	assert_true(si->info.flags & CHIP_F_EN4B);
	assert_int_equal(si->nph, 3);
	/* the Macronix vendor table (ID ffc2) is listed but not parsed */
	assert_int_equal(si->table[1].id, 0xffc2);
	assert_false(si->table[1].parsed);
	assert_true(si->table[2].parsed);
	free(si);
	free(d.buf);
}

static void is25wp256_three_byte_claim_becomes_3b_4b(void **state)
{
	struct dump d = load("is25wp256_9d7019.sfdp");
	struct sfdp_info *si = parse_ok(&d, 0x9d7019);

	(void)state;
	check_std("is25wp256_9d7019.sfdp", 0x9d7019, 32u << 20, 6, CHIP_ADDR_3B_4B,
		  (const uint8_t[]){0, 0, 0});
	assert_int_equal(si->bfpt_addr_bytes, 0);
	assert_false(si->has_4bait);
	/* DWORD 16 enter = 0xa9: B7 without WREN */
	assert_int_equal(si->enter_4b, 0xa9);
	assert_true(si->info.flags & CHIP_F_EN4B);
	assert_false(si->info.flags & CHIP_F_EN4B_WREN);
	assert_true(has_note(si, "claims 3-byte addressing"));
	free(si);
	free(d.buf);
}

static void mt25qu256a_unsorted_types_sorted_and_wren_en4b(void **state)
{
	struct dump d = load("mt25qu256a_20bb19.sfdp");
	struct sfdp_info *si = parse_ok(&d, 0x20bb19);
	const struct chip_info *ci = &si->info;

	(void)state;
	/* table order: 4 KiB, 64 KiB, 32 KiB, absent */
	assert_erase(&si->bfpt_erase[0], KIB_(4), 0x20, 0x21);
	assert_erase(&si->bfpt_erase[1], KIB_(64), 0xd8, 0xdc);
	assert_erase(&si->bfpt_erase[2], KIB_(32), 0x52, 0);
	assert_int_equal(si->bfpt_erase[3].size, 0);
	assert_int_equal(ci->size, 32u << 20);
	assert_int_equal(ci->page_size, 256);
	assert_int_equal(ci->n_erase, 3);
	assert_erase(&ci->erase[0], KIB_(4), 0x20, 0x21);
	assert_erase(&ci->erase[1], KIB_(32), 0x52, 0);
	assert_erase(&ci->erase[2], KIB_(64), 0xd8, 0xdc);
	assert_int_equal(ci->addr_mode, CHIP_ADDR_3B_4B);
	assert_int_equal(ci->flags & (CHIP_F_EN4B | CHIP_F_EN4B_WREN | CHIP_F_4B_OPCODES),
			 CHIP_F_EN4B | CHIP_F_EN4B_WREN | CHIP_F_4B_OPCODES);
	free(si);
	free(d.buf);
}

static void s25fs256t_20_dword_rev10_table_read_by_length(void **state)
{
	struct dump d = load("s25fs256t_342b19.sfdp");
	struct sfdp_info *si = parse_ok(&d, 0x342b19);
	const struct chip_info *ci = &si->info;

	(void)state;
	assert_int_equal(si->rev_minor, 8);
	assert_int_equal(si->bfpt_major, 1);
	assert_int_equal(si->bfpt_minor, 0);
	assert_int_equal(si->bfpt_dwords, 20);
	assert_int_equal(ci->size, 32u << 20);
	assert_int_equal(ci->page_size, 128);
	assert_erase(&si->bfpt_erase[0], KIB_(128), 0xd8, 0xdc);
	assert_erase(&si->bfpt_erase[1], KIB_(64), 0xd8, 0xdc);
	assert_int_equal(si->bfpt_erase[2].size, 0);
	/* one opcode, two sizes: only the larger stays in the uniform list */
	assert_int_equal(ci->n_erase, 1);
	assert_erase(&ci->erase[0], KIB_(128), 0xd8, 0xdc);
	assert_true(has_note(si, "opcode 0xd8 erases"));
	assert_int_equal(ci->addr_mode, CHIP_ADDR_3B_4B);
	/* 4BAIT DWORD 1 = 0xfe000671: 0x13 and 0x12 but no 0x0C, so no 4-byte opcode set
	 * (nor_read would pick 0x0C above the READ clock); EN4B (DWORD 16 enter 0xa1) instead */
	assert_int_equal(si->bait_support, 0xfe000671);
	assert_false(ci->flags & CHIP_F_4B_OPCODES);
	assert_true(ci->flags & CHIP_F_EN4B);
	assert_true(has_note(si, "lacks one of 0x13/0x0C/0x12"));
	free(si);
	free(d.buf);
}

static void sst26vf064b_sector_map_leaves_only_4k(void **state)
{
	struct dump d = load("sst26vf064b_bf2643.sfdp");
	struct sfdp_info *si = parse_ok(&d, 0xbf2643);
	const struct chip_info *ci = &si->info;
	static const uint32_t sizes[5] = {KIB_(32), KIB_(32), 8u * 1024 * 1024 - KIB_(128),
					  KIB_(32), KIB_(32)};
	static const uint8_t masks[5] = {0x3, 0x5, 0x9, 0x5, 0x3};
	uint32_t off = 0;

	(void)state;
	assert_erase(&si->bfpt_erase[0], KIB_(4), 0x20, 0);
	assert_erase(&si->bfpt_erase[1], KIB_(8), 0xd8, 0);
	assert_erase(&si->bfpt_erase[2], KIB_(32), 0xd8, 0);
	assert_erase(&si->bfpt_erase[3], KIB_(64), 0xd8, 0);
	assert_true(si->has_sector_map);
	assert_false(si->map_needs_detection);
	assert_int_equal(si->n_maps, 1);
	assert_int_equal(si->map[0].n_regions, 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(si->map[0].region[i].offset, off);
		assert_int_equal(si->map[0].region[i].size, sizes[i]);
		assert_int_equal(si->map[0].region[i].erase_mask, masks[i]);
		off += sizes[i];
	}
	assert_int_equal(ci->size, 8u << 20);
	assert_int_equal(ci->n_erase, 1);
	assert_erase(&ci->erase[0], KIB_(4), 0x20, 0);
	assert_int_equal(ci->addr_mode, CHIP_ADDR_3B);
	free(si);
	free(d.buf);
}

static const char *const dumps[] = {
    "at25ff321a_1f4708.sfdp",  "gd25lb512me_c8671a.sfdp", "is25wp256_9d7019.sfdp",
    "mt25qu256a_20bb19.sfdp",  "mx25l25645g_c22019.sfdp", "s25fs256t_342b19.sfdp",
    "sst26vf064b_bf2643.sfdp", "w25q128jv_ef4018.sfdp",   "mx25l12835f_c22018.sfdp",
    "xt25f128b_0b4018.sfdp",
};

/* End of the BFPT (or of the headers, if later): below it parse must say -EMSGSIZE. */
static size_t bfpt_end(const struct dump *d)
{
	size_t hdr_end = 8 + 8 * ((size_t)d->buf[6] + 1);
	size_t end = get_le24(d->buf + 12) + 4u * d->buf[11];

	return MAX(hdr_end, end);
}

static void every_truncation_is_emsgsize_or_success(void **state)
{
	(void)state;
	for (size_t k = 0; k < ARRAY_SIZE(dumps); k++) {
		struct dump d = load(dumps[k]);
		size_t need = bfpt_end(&d);

		for (size_t len = 0; len <= d.len; len++) {
			/* a private copy of exactly len bytes, so ASan sees any overread */
			uint8_t *b = malloc(len ? len : 1);
			struct sfdp_info *si = calloc(1, sizeof(*si));
			int r;

			memcpy(b, d.buf, len);
			r = sfdp_parse(len ? b : NULL, len, 0, si, NULL, 0);
			if (len < need && r != -EMSGSIZE)
				fail_msg("%s cut at %zu: %d, want -EMSGSIZE", dumps[k], len, r);
			if (len >= need && r != 0)
				fail_msg("%s cut at %zu: %d, want 0", dumps[k], len, r);
			free(si);
			free(b);
		}
		free(d.buf);
	}
}

static void two_step_read_reaches_full_result(void **state)
{
	(void)state;
	for (size_t k = 0; k < ARRAY_SIZE(dumps); k++) {
		struct dump d = load(dumps[k]);
		size_t have = 8, need = 0;
		int rounds = 0;
		struct sfdp_info *a = parse_ok(&d, 1), *b = calloc(1, sizeof(*b));

		for (;;) {
			assert_int_equal(sfdp_needed_len(d.buf, have, &need), 0);
			assert_true(need <= d.len);
			if (need <= have)
				break;
			have = need;
			assert_true(++rounds <= 3);
		}
		assert_int_equal(sfdp_parse(d.buf, have, 1, b, NULL, 0), 0);
		assert_int_equal(b->info.size, a->info.size);
		assert_int_equal(b->info.n_erase, a->info.n_erase);
		assert_memory_equal(b->info.erase, a->info.erase, sizeof(a->info.erase));
		assert_int_equal(b->info.flags, a->info.flags);
		assert_int_equal(b->has_4bait, a->has_4bait);
		assert_int_equal(b->has_sector_map, a->has_sector_map);
		free(a);
		free(b);
		free(d.buf);
	}
}

static void needed_len_errors(void **state)
{
	uint8_t b[16] = "SFDP\x06\x01\x00\xff";
	size_t n = 12345;

	(void)state;
	assert_int_equal(sfdp_needed_len(NULL, 8, &n), -EINVAL);
	assert_int_equal(sfdp_needed_len(b, 7, &n), -EINVAL);
	assert_int_equal(sfdp_needed_len(b, 8, NULL), -EINVAL);
	assert_int_equal(n, 12345);
	assert_int_equal(sfdp_needed_len(b, 8, &n), 0);
	assert_int_equal(n, 16);
	b[5] = 2;
	assert_int_equal(sfdp_needed_len(b, 8, &n), -EINVAL);
	memset(b, 0xff, sizeof(b));
	assert_int_equal(sfdp_needed_len(b, 16, &n), -ENODATA);
}

static void needed_len_nph_max_asks_for_2056(void **state)
{
	uint8_t b[8] = "SFDP\x06\x01\xff\xff";
	size_t n = 0;

	(void)state;
	assert_int_equal(sfdp_needed_len(b, 8, &n), 0);
	assert_int_equal(n, 8 + 256 * 8);
}

/* Parse a modified copy of a dump; *ret must stay untouched on failure. */
static int parse_mod(const char *file, void (*mod)(uint8_t *b, size_t len), struct sfdp_info *si)
{
	struct dump d = load(file);
	struct sfdp_info *poison = malloc(sizeof(*poison));
	int r;

	memset(poison, 0xa5, sizeof(*poison));
	memcpy(si, poison, sizeof(*si));
	if (mod)
		mod(d.buf, d.len);
	r = sfdp_parse(d.buf, d.len, 0x123456, si, NULL, 0);
	if (r < 0)
		assert_memory_equal(si, poison, sizeof(*si));
	free(poison);
	free(d.buf);
	return r;
}

static void mod_sig(uint8_t *b, size_t len)
{
	(void)len;
	b[3] = 'Q';
}
static void mod_major2(uint8_t *b, size_t len)
{
	(void)len;
	b[5] = 2;
}
static void mod_nph_max(uint8_t *b, size_t len)
{
	(void)len;
	b[6] = 0xff;
}
static void mod_first_not_bfpt(uint8_t *b, size_t len)
{
	(void)len;
	b[8] = 0x84;
}
static void mod_bfpt_len0(uint8_t *b, size_t len)
{
	(void)len;
	b[11] = 0;
}
static void mod_bfpt_len8(uint8_t *b, size_t len)
{
	(void)len;
	b[11] = 8;
}
static void mod_bfpt_huge_ptr(uint8_t *b, size_t len)
{
	(void)len;
	put_le32(b + 12, 0xfffffff0);
}
static void mod_bfpt_past_end(uint8_t *b, size_t len)
{
	(void)len;
	b[12] = 0xf0;
	b[13] = 0x0f;
}
/* w25q128jv BFPT is at 0x80: DWORD 2 at 0x84 */
static void mod_density0(uint8_t *b, size_t len)
{
	(void)len;
	put_le32(b + 0x84, 0);
}
static void mod_density_2e64(uint8_t *b, size_t len)
{
	(void)len;
	put_le32(b + 0x84, 0x80000040);
}
static void mod_density_4g(uint8_t *b, size_t len)
{
	(void)len;
	put_le32(b + 0x84, 0x80000023);
}
static void mod_density_all_ones(uint8_t *b, size_t len)
{
	(void)len;
	put_le32(b + 0x84, 0xffffffff);
}
static void mod_density_odd(uint8_t *b, size_t len)
{
	(void)len;
	put_le32(b + 0x84, 24u * 1024 * 1024 - 1);
}

static void hostile_headers_exact_errno(void **state)
{
	struct sfdp_info *si = malloc(sizeof(*si));
	const char *w = "w25q128jv_ef4018.sfdp";

	(void)state;
	assert_int_equal(parse_mod(w, mod_sig, si), -ENODATA);
	assert_int_equal(parse_mod(w, mod_major2, si), -EINVAL);
	assert_int_equal(parse_mod(w, mod_nph_max, si), -EMSGSIZE);
	assert_int_equal(parse_mod(w, mod_first_not_bfpt, si), -EINVAL);
	assert_int_equal(parse_mod(w, mod_bfpt_len0, si), -EINVAL);
	assert_int_equal(parse_mod(w, mod_bfpt_len8, si), -EINVAL);
	assert_int_equal(parse_mod(w, mod_bfpt_huge_ptr, si), -EINVAL);
	assert_int_equal(parse_mod(w, mod_bfpt_past_end, si), -EMSGSIZE);
	free(si);
}

static void hostile_density_exact_errno(void **state)
{
	struct sfdp_info *si = malloc(sizeof(*si));
	const char *w = "w25q128jv_ef4018.sfdp";

	(void)state;
	assert_int_equal(parse_mod(w, mod_density0, si), -EINVAL);
	assert_int_equal(parse_mod(w, mod_density_2e64, si), -EINVAL);
	assert_int_equal(parse_mod(w, mod_density_4g, si), -EINVAL);
	assert_int_equal(parse_mod(w, mod_density_all_ones, si), -EINVAL);
	assert_int_equal(parse_mod(w, mod_density_odd, si), -EINVAL);
	free(si);
}

static void all_ff_and_all_zero_are_enodata(void **state)
{
	uint8_t b[64];
	struct sfdp_info *si = malloc(sizeof(*si));
	char err[64];

	(void)state;
	memset(b, 0xff, sizeof(b));
	assert_int_equal(sfdp_parse(b, sizeof(b), 0, si, err, sizeof(err)), -ENODATA);
	assert_non_null(strstr(err, "no signature"));
	memset(b, 0, sizeof(b));
	assert_int_equal(sfdp_parse(b, sizeof(b), 0, si, NULL, 0), -ENODATA);
	assert_int_equal(sfdp_parse(b, sizeof(b), 0, NULL, NULL, 0), -EINVAL);
	free(si);
}

static void error_text_truncated_and_terminated(void **state)
{
	uint8_t b[64];
	struct sfdp_info *si = malloc(sizeof(*si));
	char err[8];

	(void)state;
	memset(b, 0xff, sizeof(b));
	memset(err, 'x', sizeof(err));
	assert_int_equal(sfdp_parse(b, sizeof(b), 0, si, err, sizeof(err)), -ENODATA);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	free(si);
}

/* mx25l25645g: header 3 (4BAIT) is at offset 8 + 2 * 8 = 24 */
static void mod_4bait_len0(uint8_t *b, size_t len)
{
	(void)len;
	b[27] = 0;
}
static void mod_4bait_huge_ptr(uint8_t *b, size_t len)
{
	(void)len;
	put_be24(b + 28, 0xf0ffff);
}
static void mod_4bait_beyond(uint8_t *b, size_t len)
{
	(void)len;
	b[28] = 0x00;
	b[29] = 0x10;
}

static void optional_tables_out_of_reach_are_skipped_with_note(void **state)
{
	struct sfdp_info *si = malloc(sizeof(*si));
	const char *m = "mx25l25645g_c22019.sfdp";

	(void)state;
	assert_int_equal(parse_mod(m, mod_4bait_len0, si), 0);
	assert_false(si->has_4bait);
	assert_true(has_note(si, "length 0"));
	assert_int_equal(si->info.erase[0].opcode_4b, 0);

	assert_int_equal(parse_mod(m, mod_4bait_huge_ptr, si), 0);
	assert_false(si->has_4bait);
	assert_true(has_note(si, "beyond"));

	assert_int_equal(parse_mod(m, mod_4bait_beyond, si), 0);
	assert_false(si->has_4bait);
	assert_false(si->table[2].in_buffer);
	assert_int_equal(si->info.size, 32u << 20);
	assert_int_equal(si->info.n_erase, 3);
	free(si);
}

/* sst26: sector map at 0x100; region 1 at 0x104 */
static void mod_map_short(uint8_t *b, size_t len)
{
	(void)len;
	put_le32(b + 0x104, 0x00003ff3);
}
static void mod_map_too_long(uint8_t *b, size_t len)
{
	(void)len;
	put_le32(b + 0x108, 0xfffffff5);
}
static void mod_map_region_count(uint8_t *b, size_t len)
{
	(void)len;
	b[0x102] = 0xff;
}

static void broken_sector_map_dropped_never_erases_more(void **state)
{
	struct sfdp_info *si = malloc(sizeof(*si));
	const char *s = "sst26vf064b_bf2643.sfdp";

	(void)state;
	assert_int_equal(parse_mod(s, mod_map_short, si), 0);
	assert_false(si->has_sector_map);
	assert_true(has_note(si, "covers"));
	/* without the map, 0xd8 stands for 8/32/64 KiB: only the largest may be assumed,
	 * so a short erase shows up in verify instead of a long one destroying data */
	assert_int_equal(si->info.n_erase, 2);
	assert_erase(&si->info.erase[0], KIB_(4), 0x20, 0);
	assert_erase(&si->info.erase[1], KIB_(64), 0xd8, 0);

	assert_int_equal(parse_mod(s, mod_map_too_long, si), 0);
	assert_false(si->has_sector_map);
	assert_true(has_note(si, "exceeds"));

	assert_int_equal(parse_mod(s, mod_map_region_count, si), 0);
	assert_false(si->has_sector_map);
	free(si);
}

/*
 * A synthetic SFDP image: header, a BFPT header (+ an optional second header) and a BFPT of
 * n DWORDs at 0x30 describing a 16 MiB chip with 4/32/64 KiB erase types. Callers patch it.
 */
struct synth {
	uint8_t b[0x200];
	size_t len;
};

static uint8_t *bfpt_dw(struct synth *s, unsigned n) /* DWORD n, 1-based */
{
	return s->b + 0x30 + 4 * (n - 1);
}

static void synth_init(struct synth *s, unsigned dwords, unsigned nph)
{
	memset(s->b, 0xff, sizeof(s->b));
	memcpy(s->b, "SFDP\x06\x01", 6);
	s->b[6] = (uint8_t)(nph - 1);
	s->b[7] = 0xff;
	memcpy(s->b + 8, (const uint8_t[]){0x00, 0x06, 0x01, (uint8_t)dwords, 0x30, 0, 0, 0xff}, 8);
	put_le32(bfpt_dw(s, 1), 0xfff920e5);		 /* 3-byte only, 4 KiB = 0x20 */
	put_le32(bfpt_dw(s, 2), 128u * 1024 * 1024 - 1); /* 128 Mbit */
	put_le32(bfpt_dw(s, 8), 0x520f200c);		 /* 4 KiB 0x20, 32 KiB 0x52 */
	put_le32(bfpt_dw(s, 9), 0x0000d810);		 /* 64 KiB 0xd8, none */
	if (dwords >= 11) {
		put_le32(bfpt_dw(s, 10), 0x00a60236);
		put_le32(bfpt_dw(s, 11), 0xc914ea82);
	}
	s->len = 0x30 + 4 * dwords;
}

static int synth_parse(struct synth *s, struct sfdp_info *si)
{
	return sfdp_parse(s->b, s->len, 0xc84018, si, NULL, 0);
}

static void density_power_of_two_form(void **state)
{
	struct synth s;
	struct sfdp_info *si = malloc(sizeof(*si));

	(void)state;
	synth_init(&s, 16, 1);
	put_le32(bfpt_dw(&s, 2), 0x80000000u | 28); /* 2^28 bits = 32 MiB */
	put_le32(bfpt_dw(&s, 1), 0xfffb20e5);	    /* 3 or 4 bytes */
	assert_int_equal(synth_parse(&s, si), 0);
	assert_int_equal(si->info.size, 32u << 20);
	assert_int_equal(si->info.addr_mode, CHIP_ADDR_3B_4B);
	assert_string_equal(si->info.vendor, "GigaDevice");
	free(si);
}

static void nine_dword_table_assumes_256_byte_pages(void **state)
{
	struct synth s;
	struct sfdp_info *si = malloc(sizeof(*si));

	(void)state;
	synth_init(&s, 9, 1);
	assert_int_equal(synth_parse(&s, si), 0);
	assert_int_equal(si->bfpt_dwords, 9);
	assert_int_equal(si->info.page_size, 256);
	assert_int_equal(si->info.page_program_max_us, 0);
	assert_int_equal(si->info.erase[0].max_us, 0);
	assert_int_equal(si->info.n_erase, 3);
	assert_true(has_note(si, "assuming 256-byte pages"));
	free(si);
}

static void erase_type_with_blank_opcode_ignored(void **state)
{
	struct synth s;
	struct sfdp_info *si = malloc(sizeof(*si));

	(void)state;
	synth_init(&s, 16, 1);
	put_le32(bfpt_dw(&s, 8), 0xff0f200c); /* 32 KiB with opcode 0xff */
	assert_int_equal(synth_parse(&s, si), 0);
	assert_int_equal(si->bfpt_erase[1].size, 0);
	assert_int_equal(si->info.n_erase, 2);
	assert_erase(&si->info.erase[1], KIB_(64), 0xd8, 0);
	assert_true(has_note(si, "erase type 2 has opcode 0xff"));
	free(si);
}

static void page_size_above_256_is_not_believed(void **state)
{
	struct synth s;
	struct sfdp_info *si = malloc(sizeof(*si));

	(void)state;
	synth_init(&s, 16, 1);
	put_le32(bfpt_dw(&s, 11), 0xc914ea92); /* page size 2^9 = 512 */
	assert_int_equal(synth_parse(&s, si), 0);
	assert_int_equal(si->info.page_size, 256);
	assert_true(has_note(si, "page size field says 512 bytes"));
	put_le32(bfpt_dw(&s, 11), 0xc914ea72); /* 2^7 = 128 is believed */
	assert_int_equal(synth_parse(&s, si), 0);
	assert_int_equal(si->info.page_size, 128);
	free(si);
}

static void four_byte_only_and_wren_entry(void **state)
{
	struct synth s;
	struct sfdp_info *si = malloc(sizeof(*si));

	(void)state;
	synth_init(&s, 16, 1);
	put_le32(bfpt_dw(&s, 1), 0xfffd20e5); /* bits 18:17 = 10: 4-byte only */
	put_le32(bfpt_dw(&s, 2), 0x80000000u | 29);
	put_le32(bfpt_dw(&s, 16), 0x02000000); /* enter: WREN + B7 */
	assert_int_equal(synth_parse(&s, si), 0);
	assert_int_equal(si->info.addr_mode, CHIP_ADDR_4B_ONLY);
	assert_int_equal(si->info.flags & (CHIP_F_EN4B | CHIP_F_EN4B_WREN),
			 CHIP_F_EN4B | CHIP_F_EN4B_WREN);
	free(si);
}

/* DWORD 16 enter bit 6: "always operates in 4-byte address mode" (JESD216B 6.4.18). */
static void always_four_byte_enter_bit_means_four_byte_only(void **state)
{
	struct synth s;
	struct sfdp_info *si = malloc(sizeof(*si));

	(void)state;
	synth_init(&s, 16, 1);
	put_le32(bfpt_dw(&s, 1), 0xfffb20e5); /* bits 18:17 = 01: 3 or 4 bytes */
	put_le32(bfpt_dw(&s, 2), 0x80000000u | 29);
	put_le32(bfpt_dw(&s, 16), 0x40000000); /* enter: always 4-byte */
	assert_int_equal(synth_parse(&s, si), 0);
	assert_int_equal(si->info.addr_mode, CHIP_ADDR_4B_ONLY);
	assert_true(has_note(si, "always uses 4-byte addresses"));
	free(si);
}

/* 4BAIT claiming READ 0x13 and PP 0x12 but not FAST_READ 0x0C: no 4-byte opcode set. */
static void four_byte_table_without_0c_keeps_en4b(void **state)
{
	struct synth s;
	struct sfdp_info *si = malloc(sizeof(*si));

	(void)state;
	synth_init(&s, 16, 2);
	memcpy(s.b + 16, (const uint8_t[]){0x84, 0x00, 0x01, 0x02, 0x80, 0x00, 0x00, 0xff}, 8);
	put_le32(bfpt_dw(&s, 1), 0xfffb20e5);
	put_le32(bfpt_dw(&s, 2), 0x80000000u | 28);
	put_le32(bfpt_dw(&s, 16), 0x01000000); /* enter: B7 */
	put_le32(s.b + 0x80, 0x00000041);      /* 0x13 and 0x12 only */
	put_le32(s.b + 0x84, 0xffffffff);
	s.len = 0x88;
	assert_int_equal(synth_parse(&s, si), 0);
	assert_false(si->info.flags & CHIP_F_4B_OPCODES);
	assert_true(si->info.flags & CHIP_F_EN4B);
	put_le32(s.b + 0x80, 0x00000043); /* with 0x0C: the full set */
	assert_int_equal(synth_parse(&s, si), 0);
	assert_true(si->info.flags & CHIP_F_4B_OPCODES);
	free(si);
}

static void same_size_two_opcodes_keeps_the_first(void **state)
{
	struct synth s;
	struct sfdp_info *si = malloc(sizeof(*si));

	(void)state;
	synth_init(&s, 16, 1);
	put_le32(bfpt_dw(&s, 9), 0xd810d810); /* types 3 and 4 both 64 KiB 0xd8 */
	put_le32(bfpt_dw(&s, 8), 0x210c200c); /* types 1 and 2 both 4 KiB: 0x20, 0x21 */
	assert_int_equal(synth_parse(&s, si), 0);
	assert_int_equal(si->info.n_erase, 2);
	assert_erase(&si->info.erase[0], KIB_(4), 0x20, 0);
	assert_erase(&si->info.erase[1], KIB_(64), 0xd8, 0);
	assert_true(has_note(si, "both erase 4 KiB"));
	free(si);
}

/* A sector map with a detection command and two configurations: an erase type stays in the
 * uniform list only if every region of every configuration allows it. */
static void sector_map_with_detection_intersects_configurations(void **state)
{
	struct synth s;
	struct sfdp_info *si = malloc(sizeof(*si));
	uint8_t *m;

	(void)state;
	synth_init(&s, 16, 2);
	memcpy(s.b + 16, (const uint8_t[]){0x81, 0x00, 0x01, 8, 0x00, 0x01, 0x00, 0xff}, 8);
	m = s.b + 0x100;
	put_le32(m + 0, 0xff006500); /* command descriptor: read 0x65 */
	put_le32(m + 4, 0x00000000);
	put_le32(m + 8, 0xff000002 | (0x01u << 8));  /* map, config 1, 1 region */
	put_le32(m + 12, 0x00ffff07);		     /* 16 MiB, types 1-3 */
	put_le32(m + 16, 0xff010003 | (0x02u << 8)); /* last map, config 2, 2 regions */
	put_le32(m + 20, 0x0000ff05);		     /* 64 KiB, types 1 and 3 */
	put_le32(m + 24, 0x00feff07);		     /* the rest, types 1-3 */
	s.len = 0x100 + 32;
	assert_int_equal(synth_parse(&s, si), 0);
	assert_true(si->has_sector_map);
	assert_true(si->map_needs_detection);
	assert_int_equal(si->n_maps, 2);
	assert_int_equal(si->map[1].config_id, 2);
	assert_int_equal(si->map[1].region[1].offset, KIB_(64));
	assert_int_equal(si->info.n_erase, 2);
	assert_erase(&si->info.erase[0], KIB_(4), 0x20, 0);
	assert_erase(&si->info.erase[1], KIB_(64), 0xd8, 0);
	free(si);
}

/*
 * The shared collection (FLASHD_SHARED_DIR/sfdp) is where new dumps arrive; every one of them
 * must be in tests/data/sfdp with the same bytes, so the tests above see all of them. Nothing
 * to compare when the shared directory is not there (a plain checkout): the copies count.
 */
static void shared_dumps_are_all_copied(void **state)
{
	const char *shared = getenv("FLASHD_SHARED_DIR");
	char dir[4096];
	struct dirent *e;
	DIR *d;
	unsigned n = 0;

	(void)state;
	/* not cmocka's skip(): meson reads its "not ok # SKIP" as a failure */
	snprintf(dir, sizeof(dir), "%s/sfdp", shared ? shared : "");
	d = shared ? opendir(dir) : NULL;
	if (!d) {
		print_message("# no shared SFDP collection at \"%s\", copies only\n", dir);
		return;
	}
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		char path[4096 + 256];
		struct dump mine;
		FILE *f;
		uint8_t *b;

		if (l < 6 || strcmp(e->d_name + l - 5, ".sfdp"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		f = fopen(path, "rb");
		assert_non_null(f);
		mine = load(e->d_name);
		b = malloc(mine.len + 1);
		assert_int_equal(fread(b, 1, mine.len + 1, f), mine.len);
		fclose(f);
		th_assert_bytes(b, mine.buf, mine.len);
		free(b);
		free(mine.buf);
		n++;
	}
	closedir(d);
	/* tests/data/sfdp may hold more dumps than the shared collection (see its README) */
	assert_true(n > 0 && n <= ARRAY_SIZE(dumps));
}

static void compare_database_and_sfdp_agree(void **state)
{
	static const struct {
		const char *file;
		uint32_t id;
	} pairs[] = {
	    {"w25q128jv_ef4018.sfdp", 0xef4018},   {"mx25l25645g_c22019.sfdp", 0xc22019},
	    {"is25wp256_9d7019.sfdp", 0x9d7019},   {"sst26vf064b_bf2643.sfdp", 0xbf2643},
	    {"gd25lb512me_c8671a.sfdp", 0xc8671a}, {"mt25qu256a_20bb19.sfdp", 0x20bb19},
	    {"at25ff321a_1f4708.sfdp", 0x1f4708},  {"mx25l12835f_c22018.sfdp", 0xc22018},
	};
	char report[512];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
		struct dump d = load(pairs[i].file);
		struct sfdp_info *si = parse_ok(&d, pairs[i].id);
		const struct chip_info *db = chipdb_lookup(pairs[i].id);
		int n;

		assert_non_null(db);
		n = sfdp_compare(db, &si->info, report, sizeof(report));
		if (n != 0)
			fail_msg("%s vs %s: %d contradictions:\n%s", db->name, pairs[i].file, n,
				 report);
		assert_string_equal(report, "");
		/* a database maximum below what the chip itself calls typical is wrong: the
		 * engine's deadlines come from it */
		for (unsigned k = 0; k < db->n_erase; k++)
			for (unsigned j = 0; j < si->info.n_erase; j++)
				if (si->info.erase[j].size == db->erase[k].size &&
				    db->erase[k].max_us < si->info.erase[j].typ_us)
					fail_msg("%s: erase %u max %u us < SFDP typical %u us",
						 db->name, db->erase[k].size, db->erase[k].max_us,
						 si->info.erase[j].typ_us);
		if (db->chip_erase_max_ms < si->info.chip_erase_typ_ms ||
		    db->page_program_max_us < si->info.page_program_typ_us)
			fail_msg("%s: chip erase or page program max below SFDP typical", db->name);
		free(si);
		free(d.buf);
	}
}

static void compare_counts_and_describes_each_contradiction(void **state)
{
	struct chip_info db = *chipdb_lookup(0xef4018), sf = db;
	char report[512], tiny[10];

	(void)state;
	sf.size = db.size * 2;
	sf.page_size = 128;
	sf.erase[1].opcode = 0x53;
	sf.erase[2].size = KIB_(128);
	sf.addr_mode = CHIP_ADDR_4B_ONLY;
	assert_int_equal(sfdp_compare(&db, &sf, report, sizeof(report)), 5);
	assert_non_null(strstr(report, "size: database 16777216, SFDP 33554432"));
	assert_non_null(strstr(report, "page size: database 256, SFDP 128"));
	assert_non_null(strstr(report, "erase 32 KiB: database opcode 0x52, SFDP 0x53"));
	assert_non_null(strstr(report, "database has 64 KiB (0xd8), SFDP does not"));
	assert_non_null(strstr(report, "address mode: database 3-byte, SFDP 4-byte only"));
	assert_int_equal(sfdp_compare(&db, &sf, tiny, sizeof(tiny)), 5);
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
	assert_int_equal(sfdp_compare(&db, &sf, NULL, 0), 5);
	assert_int_equal(sfdp_compare(NULL, &sf, NULL, 0), -EINVAL);
}

static void compare_ignores_fields_sfdp_leaves_unknown(void **state)
{
	struct chip_info db = *chipdb_lookup(0xef4018), sf = db;

	(void)state;
	sf.page_size = 0;
	sf.n_erase = 0;
	assert_int_equal(sfdp_compare(&db, &sf, NULL, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(w25q128jv_rev15_bfpt_at_0x80),
	    cmocka_unit_test(w25q128jv_name_vendor_and_times_decoded),
	    cmocka_unit_test(at25ff321a_single_bfpt),
	    cmocka_unit_test(mx25l12835f_rev10_nine_dword_bfpt),
	    cmocka_unit_test(xt25f128b_sfdp_only_part),
	    cmocka_unit_test(gd25lb512me_64mib_with_4bait),
	    cmocka_unit_test(mx25l25645g_4bait_opcodes),
	    cmocka_unit_test(is25wp256_three_byte_claim_becomes_3b_4b),
	    cmocka_unit_test(mt25qu256a_unsorted_types_sorted_and_wren_en4b),
	    cmocka_unit_test(s25fs256t_20_dword_rev10_table_read_by_length),
	    cmocka_unit_test(sst26vf064b_sector_map_leaves_only_4k),
	    cmocka_unit_test(every_truncation_is_emsgsize_or_success),
	    cmocka_unit_test(two_step_read_reaches_full_result),
	    cmocka_unit_test(needed_len_errors),
	    cmocka_unit_test(needed_len_nph_max_asks_for_2056),
	    cmocka_unit_test(hostile_headers_exact_errno),
	    cmocka_unit_test(hostile_density_exact_errno),
	    cmocka_unit_test(all_ff_and_all_zero_are_enodata),
	    cmocka_unit_test(error_text_truncated_and_terminated),
	    cmocka_unit_test(optional_tables_out_of_reach_are_skipped_with_note),
	    cmocka_unit_test(broken_sector_map_dropped_never_erases_more),
	    cmocka_unit_test(density_power_of_two_form),
	    cmocka_unit_test(nine_dword_table_assumes_256_byte_pages),
	    cmocka_unit_test(erase_type_with_blank_opcode_ignored),
	    cmocka_unit_test(page_size_above_256_is_not_believed),
	    cmocka_unit_test(four_byte_only_and_wren_entry),
	    cmocka_unit_test(always_four_byte_enter_bit_means_four_byte_only),
	    cmocka_unit_test(four_byte_table_without_0c_keeps_en4b),
	    cmocka_unit_test(same_size_two_opcodes_keeps_the_first),
	    cmocka_unit_test(sector_map_with_detection_intersects_configurations),
	    cmocka_unit_test(shared_dumps_are_all_copied),
	    cmocka_unit_test(compare_database_and_sfdp_agree),
	    cmocka_unit_test(compare_counts_and_describes_each_contradiction),
	    cmocka_unit_test(compare_ignores_fields_sfdp_leaves_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
