/* SPDX-License-Identifier: MIT */
/*
 * sfdp.c - JESD216 (SFDP) parser: bytes from SFDP address 0 in, struct sfdp_info out.
 *
 * The bytes come from a chip, so they are hostile. Invariants kept throughout:
 *  - every read goes through dw() / the bounds checks in front of it, never past len;
 *  - nothing is allocated and nothing is cast to a struct (STYLE G40), so a fuzzer can throw
 *    anything at it and the worst outcome is an error code;
 *  - *ret is built in a local copy and written only on success;
 *  - only the BFPT is mandatory: the 4-byte address instruction table and the sector map are
 *    optional, and a broken or out-of-reach optional table is skipped with a note.
 *
 * Tables are read by their length, never by their revision: real chips label 20-DWORD tables
 * "1.0" (S25FS256T) and the length is what bounds the read anyway.
 *
 * Pure and reentrant: no globals, no logging, no I/O.
 */
#include "sfdp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define SFDP_HEADER_LEN	  8u
#define SFDP_PHDR_LEN	  8u
#define BFPT_MIN_DWORDS	  9u  /* JESD216 (2011): DWORDs 1-9 */
#define BFPT_KNOWN_DWORDS 23u /* JESD216F: DWORDs 1-23; we read up to here */

#define SIZE_16M (16u * 1024u * 1024u)

/* Build-up state: the result plus the buffer it comes from. */
struct parse {
	const uint8_t *buf;
	size_t len;
	struct sfdp_info si;
	uint32_t bfpt[BFPT_KNOWN_DWORDS]; /* BFPT DWORDs, 0 beyond bfpt_dwords */
};

static void PRINTF_FMT(2, 3) note(struct sfdp_info *si, const char *fmt, ...)
{
	va_list ap;

	if (si->n_notes >= SFDP_MAX_NOTES)
		return;
	if (si->n_notes == SFDP_MAX_NOTES - 1) {
		snprintf(si->notes[si->n_notes++], SFDP_NOTE_LEN, "further notes dropped");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(si->notes[si->n_notes++], SFDP_NOTE_LEN, fmt, ap);
	va_end(ap);
}

static int PRINTF_FMT(4, 5) fail(int r, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static uint16_t phdr_id(const uint8_t *p)
{
	return (uint16_t)((p[7] << 8) | p[0]);
}

/* Does [ptr, ptr + dwords * 4) lie inside the first limit bytes? No overflow: 64-bit maths. */
static bool table_within(uint32_t ptr, uint32_t dwords, size_t limit)
{
	return (uint64_t)ptr + (uint64_t)dwords * 4u <= (uint64_t)limit;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* JEDEC JEP106 bank-1 codes of the vendors whose parts people meet on boards. */
static const struct {
	uint8_t code;
	const char *name;
} vendors[] = {
    {0x01, "Infineon"}, {0x1c, "EON"},	     {0x1f, "Adesto"},	 {0x20, "Micron"},
    {0x34, "Infineon"}, {0x5e, "Zbit"},	     {0x68, "Boya"},	 {0x85, "Puya"},
    {0x9d, "ISSI"},	{0xbf, "Microchip"}, {0xc2, "Macronix"}, {0xc8, "GigaDevice"},
    {0xef, "Winbond"},
};

static const char *vendor_name(uint8_t mfr)
{
	for (size_t i = 0; i < ARRAY_SIZE(vendors); i++)
		if (vendors[i].code == mfr)
			return vendors[i].name;
	return "";
}

static int check_header(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	if (len < 4)
		return fail(-EMSGSIZE, err, errlen, "SFDP: %zu bytes, header needs 8", len);
	if (get_le32(buf) != SFDP_SIGNATURE)
		return fail(-ENODATA, err, errlen, "SFDP: no signature (read %02x %02x %02x %02x)",
			    buf[0], buf[1], buf[2], buf[3]);
	if (len < SFDP_HEADER_LEN)
		return fail(-EMSGSIZE, err, errlen, "SFDP: %zu bytes, header needs 8", len);
	if (buf[5] != 1)
		return fail(-EINVAL, err, errlen, "SFDP: major revision %u not supported", buf[5]);
	return 0;
}

int sfdp_needed_len(const uint8_t *buf, size_t len, size_t *ret_len)
{
	size_t need, nph, hdr_end;
	int r;

	if (!buf || !ret_len || len < SFDP_HEADER_LEN)
		return -EINVAL;
	r = check_header(buf, len, NULL, 0);
	if (r < 0)
		return r;

	nph = (size_t)buf[6] + 1;
	hdr_end = SFDP_HEADER_LEN + nph * SFDP_PHDR_LEN;
	if (len < hdr_end) {
		*ret_len = hdr_end;
		return 0;
	}

	need = hdr_end;
	for (size_t i = 0; i < nph; i++) {
		const uint8_t *p = buf + SFDP_HEADER_LEN + i * SFDP_PHDR_LEN;
		uint16_t id = phdr_id(p);
		uint32_t ptr = get_le24(p + 4);

		if (id != SFDP_ID_BFPT && id != SFDP_ID_4BAIT && id != SFDP_ID_SECTOR_MAP)
			continue;
		if (p[3] == 0 || !table_within(ptr, p[3], SFDP_MAX_LEN))
			continue;
		need = MAX(need, (size_t)ptr + (size_t)p[3] * 4u);
	}
	*ret_len = need;
	return 0;
}

/* DWORD 2: density in bits, either N+1 or 2^N. Bytes, or 0 when nonsense/too big. */
static uint32_t bfpt_density(uint32_t dw2)
{
	uint64_t bits;

	if (dw2 & 0x80000000u) {
		uint32_t n = dw2 & 0x7fffffffu;

		/* 2^N bits = 2^(N-3) bytes; chip_info.size is 32-bit, so 2 GiB is the top. */
		if (n < 3 || n > 34)
			return 0;
		return 1u << (n - 3);
	}
	bits = (uint64_t)dw2 + 1;
	if (bits % 8)
		return 0;
	return (uint32_t)(bits / 8);
}

/* DWORD 10 typical erase time field (7 bits) in microseconds. */
static uint32_t erase_time_us(uint32_t field)
{
	static const uint32_t unit_ms[4] = {1, 16, 128, 1000};

	return ((field & 0x1f) + 1) * unit_ms[(field >> 5) & 3] * 1000u;
}

static void parse_bfpt(struct parse *ps)
{
	struct sfdp_info *si = &ps->si;
	struct chip_info *ci = &si->info;
	const uint32_t *dw = ps->bfpt; /* dw[0] is DWORD 1 */
	uint32_t n = si->bfpt_dwords;

	si->bfpt_addr_bytes = (uint8_t)((dw[0] >> 17) & 3);

	/* DWORDs 8 and 9: up to four erase types, size 2^N (N = 0: absent) and opcode. */
	for (unsigned i = 0; i < CHIP_MAX_ERASE_TYPES; i++) {
		uint32_t half = (dw[7 + i / 2] >> (16 * (i % 2))) & 0xffff;
		uint8_t exp = (uint8_t)(half & 0xff), op = (uint8_t)(half >> 8);

		if (exp == 0)
			continue;
		if (exp < 8 || exp > 31 || (1u << exp) > ci->size) {
			note(si, "erase type %u: size 2^%u does not fit the chip, ignored", i + 1,
			     exp);
			continue;
		}
		if (op == 0x00 || op == 0xff) {
			note(si, "erase type %u has opcode 0x%02x, ignored", i + 1, op);
			continue;
		}
		si->bfpt_erase[i].size = 1u << exp;
		si->bfpt_erase[i].opcode = op;
	}

	/* DWORD 10 (JESD216A+): typical erase times and the typical-to-maximum multiplier,
	 * which JESD216 applies to the sector erases and to chip erase alike. */
	if (n >= 10) {
		uint32_t mult = 2 * ((dw[9] & 0xf) + 1);

		for (unsigned i = 0; i < CHIP_MAX_ERASE_TYPES; i++) {
			if (!si->bfpt_erase[i].size)
				continue;
			si->bfpt_erase[i].typ_us = erase_time_us((dw[9] >> (4 + 7 * i)) & 0x7f);
			si->bfpt_erase[i].max_us = si->bfpt_erase[i].typ_us * mult;
		}
	}

	/* DWORD 11: page size, page/byte program and chip erase times. A 9-DWORD table has no
	 * page size; 256 bytes is what every such part uses. */
	ci->page_size = 256;
	if (n >= 11) {
		uint32_t d = dw[10];
		uint32_t pmult = 2 * ((d & 0xf) + 1);
		uint32_t emult = 2 * ((dw[9] & 0xf) + 1);
		uint32_t pexp = (d >> 4) & 0xf;
		static const uint32_t ce_unit_ms[4] = {16, 256, 4000, 64000};

		/*
		 * Programming more than the real write buffer wraps inside the page and corrupts
		 * it, programming less is only slower. S25FS-S parts claim 512 bytes but wrap at
		 * 256, so nothing above 256 is believed.
		 */
		if (pexp > 8)
			note(si, "page size field says %u bytes, using 256", 1u << pexp);
		else
			ci->page_size = 1u << pexp;
		ci->page_program_typ_us = (((d >> 8) & 0x1f) + 1) * ((d & (1u << 13)) ? 64u : 8u);
		ci->page_program_max_us = ci->page_program_typ_us * pmult;
		ci->byte_program_typ_us = (((d >> 14) & 0xf) + 1) * ((d & (1u << 18)) ? 8u : 1u);
		ci->byte_program_max_us = ci->byte_program_typ_us * pmult;
		ci->chip_erase_typ_ms = (((d >> 24) & 0x1f) + 1) * ce_unit_ms[(d >> 29) & 3];
		ci->chip_erase_max_ms = ci->chip_erase_typ_ms * emult;
	} else {
		note(si, "BFPT has %u DWORDs: no page size or times, assuming 256-byte pages", n);
	}

	/* DWORD 15 bits 22:20, quad enable requirements: tell us how SR2 is reached. */
	if (n >= 15) {
		switch ((dw[14] >> 20) & 7) {
		case 4:
		case 5:
			ci->flags |= CHIP_F_SR2;
			break;
		case 6:
			ci->flags |= CHIP_F_SR2 | CHIP_F_SR2_WRITE_31;
			break;
		default:
			break;
		}
	}

	/* DWORD 16: how to enter and leave 4-byte address mode. */
	if (n >= 16) {
		if (dw[15] == 0xffffffffu) {
			note(si, "BFPT DWORD 16 is blank, 4-byte entry methods unknown");
		} else {
			si->enter_4b = (uint8_t)(dw[15] >> 24);
			si->exit_4b = (uint16_t)((dw[15] >> 14) & 0x3ff);
		}
	}
}

/* 4-byte address instruction table (JESD216B+): which dedicated 4-byte opcodes exist. */
static void parse_4bait(struct parse *ps, const struct sfdp_table *t)
{
	struct sfdp_info *si = &ps->si;
	const uint8_t *p = ps->buf + t->ptr;
	uint32_t sup, ops;

	if (t->len_dwords < 2) {
		note(si, "4-byte address table has %u DWORD(s), needs 2, skipped", t->len_dwords);
		return;
	}
	sup = get_le32(p);
	ops = get_le32(p + 4);
	si->has_4bait = true;
	si->bait_support = sup;
	for (unsigned i = 0; i < CHIP_MAX_ERASE_TYPES; i++) {
		uint8_t op = (uint8_t)(ops >> (8 * i));

		if (!si->bfpt_erase[i].size || !(sup & (1u << (9 + i))))
			continue;
		if (op == 0x00 || op == 0xff) {
			note(si, "4-byte erase type %u claimed with opcode 0x%02x, ignored", i + 1,
			     op);
			continue;
		}
		si->bfpt_erase[i].opcode_4b = op;
	}
	/*
	 * CHIP_F_4B_OPCODES promises READ 0x13, FAST_READ 0x0C and PP 0x12 (nor_read picks one of
	 * the reads by clock): all three or none, else EN4B stays the way in.
	 */
	if ((sup & 0x3) == 0x3 && (sup & (1u << 6)))
		si->info.flags |= CHIP_F_4B_OPCODES;
	else if (sup & 0x43)
		note(si, "4-byte table lacks one of 0x13/0x0C/0x12, not using 4-byte opcodes");
}

/*
 * Sector map (JESD216B+): command descriptors (2 DWORDs, used to detect the configuration)
 * and map descriptors (1 DWORD + one DWORD per region). The last descriptor has bit 0 set.
 * Each configuration must cover the chip exactly, or the whole map is dropped.
 */
static void parse_sector_map(struct parse *ps, const struct sfdp_table *t)
{
	struct sfdp_info *si = &ps->si;
	const uint8_t *p = ps->buf + t->ptr;
	uint32_t n = t->len_dwords, i = 0;
	struct sfdp_sector_map maps[SFDP_MAX_MAPS];
	uint8_t n_maps = 0;
	bool needs_detection = false, last = false;

	memset(maps, 0, sizeof(maps));
	while (i < n && !last) {
		uint32_t d = get_le32(p + 4 * i);

		last = d & 1;
		if (!(d & 2)) {
			/* command descriptor: instruction, address, latency, mask */
			needs_detection = true;
			i += 2;
			continue;
		}
		uint32_t regions = ((d >> 16) & 0xff) + 1;
		struct sfdp_sector_map *m;
		uint64_t off = 0;

		if (n_maps >= SFDP_MAX_MAPS || regions > SFDP_MAX_REGIONS) {
			note(si, "sector map too large for us (%u maps, %u regions), ignored",
			     n_maps + 1, regions);
			return;
		}
		if (i + 1 + regions > n) {
			note(si, "sector map configuration runs past its table, ignored");
			return;
		}
		m = &maps[n_maps++];
		m->config_id = (uint8_t)(d >> 8);
		for (uint32_t k = 0; k < regions; k++) {
			uint32_t r = get_le32(p + 4 * (i + 1 + k));
			uint64_t size = ((uint64_t)(r >> 8) + 1) * 256u;

			if (off + size > si->info.size) {
				note(si,
				     "sector map configuration %u exceeds the chip, map ignored",
				     m->config_id);
				return;
			}
			m->region[k] = (struct sfdp_region){
			    .offset = (uint32_t)off,
			    .size = (uint32_t)size,
			    .erase_mask = (uint8_t)(r & 0xf),
			};
			off += size;
		}
		m->n_regions = (uint8_t)regions;
		if (off != si->info.size) {
			note(si, "sector map configuration %u covers %llu of %u bytes, map ignored",
			     m->config_id, (unsigned long long)off, si->info.size);
			return;
		}
		i += 1 + regions;
	}
	if (!n_maps) {
		note(si, "sector map holds no map descriptor, ignored");
		return;
	}
	if (!last)
		note(si, "sector map has no end marker, read to the table's length");
	si->has_sector_map = true;
	si->map_needs_detection = needs_detection;
	si->n_maps = n_maps;
	memcpy(si->map, maps, sizeof(maps));
}

/* Is erase type i usable at every offset of every configuration of the sector map? */
static bool erase_usable_everywhere(const struct sfdp_info *si, unsigned i)
{
	uint32_t sz = si->bfpt_erase[i].size;

	for (unsigned m = 0; m < si->n_maps; m++) {
		for (unsigned k = 0; k < si->map[m].n_regions; k++) {
			const struct sfdp_region *rg = &si->map[m].region[k];

			if (!(rg->erase_mask & (1u << i)) || rg->offset % sz || rg->size % sz)
				return false;
		}
	}
	return true;
}

/* BFPT erase types -> chip_info's uniform list, ascending. */
static void derive_erase_list(struct sfdp_info *si)
{
	struct chip_info *ci = &si->info;
	bool keep[CHIP_MAX_ERASE_TYPES] = {false};

	for (unsigned i = 0; i < CHIP_MAX_ERASE_TYPES; i++) {
		keep[i] =
		    si->bfpt_erase[i].size != 0 && si->info.size % si->bfpt_erase[i].size == 0;
		if (keep[i] && si->has_sector_map && !erase_usable_everywhere(si, i)) {
			note(si,
			     "erase type %u (%u KiB, 0x%02x) not usable across the chip (sector "
			     "map)",
			     i + 1, si->bfpt_erase[i].size / 1024, si->bfpt_erase[i].opcode);
			keep[i] = false;
		}
	}

	/*
	 * One opcode with several sizes (S25FS256T: 0xD8 for 64 and 128 KiB, chosen by a config
	 * register) cannot be told apart here. Keep only the largest: if the chip erases less
	 * than we think, the following program fails verification; if it erased more than we
	 * think, neighbouring data would be lost silently.
	 */
	for (unsigned i = 0; i < CHIP_MAX_ERASE_TYPES; i++) {
		for (unsigned j = 0; j < CHIP_MAX_ERASE_TYPES; j++) {
			const struct chip_erase_type *a = &si->bfpt_erase[i],
						     *b = &si->bfpt_erase[j];

			if (i == j || !keep[i] || !keep[j] || a->opcode != b->opcode)
				continue;
			if (a->size < b->size || (a->size == b->size && i > j)) {
				if (a->size != b->size)
					note(si, "opcode 0x%02x erases %u or %u KiB, using %u KiB",
					     a->opcode, a->size / 1024, b->size / 1024,
					     b->size / 1024);
				keep[i] = false;
			}
		}
	}

	/* Two opcodes for one size: either works, keep the first so sizes stay unique. */
	for (unsigned i = 0; i < CHIP_MAX_ERASE_TYPES; i++) {
		for (unsigned j = 0; j < i && keep[i]; j++) {
			if (keep[j] && si->bfpt_erase[j].size == si->bfpt_erase[i].size) {
				note(si, "erase types %u and %u both erase %u KiB, using 0x%02x",
				     j + 1, i + 1, si->bfpt_erase[i].size / 1024,
				     si->bfpt_erase[j].opcode);
				keep[i] = false;
			}
		}
	}

	ci->n_erase = 0;
	for (unsigned i = 0; i < CHIP_MAX_ERASE_TYPES; i++) {
		if (!keep[i])
			continue;
		/* insertion sort by size; at most four entries */
		unsigned k = ci->n_erase++;

		while (k > 0 && ci->erase[k - 1].size > si->bfpt_erase[i].size) {
			ci->erase[k] = ci->erase[k - 1];
			k--;
		}
		ci->erase[k] = si->bfpt_erase[i];
	}
	if (!ci->n_erase)
		note(si, "no erase type usable across the whole chip");
}

static void derive_addressing(struct sfdp_info *si)
{
	struct chip_info *ci = &si->info;

	switch (si->bfpt_addr_bytes) {
	case 0:
		if (ci->size > SIZE_16M) {
			/* IS25WP256: 32 MiB but "3-byte only" in its BFPT. */
			note(si, "BFPT claims 3-byte addressing for %u MiB, assuming 3- and 4-byte",
			     ci->size >> 20);
			ci->addr_mode = CHIP_ADDR_3B_4B;
		} else {
			ci->addr_mode = CHIP_ADDR_3B;
		}
		break;
	case 1:
		ci->addr_mode = CHIP_ADDR_3B_4B;
		break;
	case 2:
		ci->addr_mode = CHIP_ADDR_4B_ONLY;
		break;
	default:
		note(si, "BFPT address bytes field is reserved (3), going by size");
		ci->addr_mode = ci->size > SIZE_16M ? CHIP_ADDR_3B_4B : CHIP_ADDR_3B;
		break;
	}

	/* DWORD 16 bit 30: "always operates in 4-byte address mode" */
	if ((si->enter_4b & 0x40) && ci->addr_mode != CHIP_ADDR_4B_ONLY) {
		note(si, "DWORD 16 says the part always uses 4-byte addresses");
		ci->addr_mode = CHIP_ADDR_4B_ONLY;
	}
	if (ci->addr_mode == CHIP_ADDR_3B) {
		ci->flags &= ~(uint32_t)CHIP_F_4B_OPCODES;
		for (unsigned i = 0; i < ci->n_erase; i++)
			ci->erase[i].opcode_4b = 0;
		return;
	}
	if (si->enter_4b & 0x01)
		ci->flags |= CHIP_F_EN4B;
	if (si->enter_4b & 0x02)
		ci->flags |= CHIP_F_EN4B | CHIP_F_EN4B_WREN;
	/* "dedicated 4-byte instruction set" without a 4BAIT: read/program opcodes exist, but
	 * without the table we do not know the erase ones, so EN4B stays the way in. */
	if ((si->enter_4b & 0x20) && !si->has_4bait)
		note(si, "DWORD 16 announces 4-byte opcodes but there is no 4-byte table");
	if (ci->addr_mode == CHIP_ADDR_3B_4B && !(ci->flags & (CHIP_F_EN4B | CHIP_F_4B_OPCODES))) {
		note(si, "no 4-byte entry method given, assuming EN4B (0xB7)");
		ci->flags |= CHIP_F_EN4B;
	}
}

int sfdp_parse(const uint8_t *buf, size_t len, uint32_t jedec_id, struct sfdp_info *ret, char *err,
	       size_t errlen)
{
	struct parse *ps;
	struct sfdp_info *si;
	size_t nph, hdr_end, bfpt_idx = 0;
	const uint8_t *bp;
	int r;

	if (err && errlen > 0)
		err[0] = '\0';
	if ((!buf && len) || !ret)
		return fail(-EINVAL, err, errlen, "SFDP: invalid arguments");
	if (!buf)
		return fail(-EMSGSIZE, err, errlen, "SFDP: 0 bytes, header needs 8");
	r = check_header(buf, len, err, errlen);
	if (r < 0)
		return r;

	nph = (size_t)buf[6] + 1;
	hdr_end = SFDP_HEADER_LEN + nph * SFDP_PHDR_LEN;
	if (len < hdr_end)
		return fail(-EMSGSIZE, err, errlen,
			    "SFDP: %zu bytes, %zu parameter headers need %zu", len, nph, hdr_end);
	bp = buf + SFDP_HEADER_LEN;
	if (phdr_id(bp) != SFDP_ID_BFPT || bp[2] != 1)
		return fail(-EINVAL, err, errlen,
			    "SFDP: first parameter header is %04x rev %u, not the basic table",
			    phdr_id(bp), bp[2]);

	ps = &(struct parse){.buf = buf, .len = len};
	si = &ps->si;
	si->rev_major = buf[5];
	si->rev_minor = buf[4];
	si->nph = (uint16_t)nph;
	si->access_protocol = buf[7];

	/* Record the headers; a later BFPT with a higher minor revision that we can read
	 * supersedes the first one (JESD216: newer parameter tables follow the old). */
	for (size_t i = 0; i < nph; i++) {
		const uint8_t *p = bp + i * SFDP_PHDR_LEN;
		struct sfdp_table t = {
		    .id = phdr_id(p),
		    .major = p[2],
		    .minor = p[1],
		    .len_dwords = p[3],
		    .ptr = get_le24(p + 4),
		};

		t.in_buffer =
		    t.len_dwords && table_within(t.ptr, t.len_dwords, MIN(len, SFDP_MAX_LEN));
		if (i < SFDP_MAX_TABLES)
			si->table[si->n_tables++] = t;
		if (i > 0 && i < SFDP_MAX_TABLES && t.id == SFDP_ID_BFPT && t.major == 1 &&
		    t.len_dwords >= BFPT_MIN_DWORDS && t.in_buffer &&
		    t.minor > si->table[bfpt_idx].minor) {
			note(si, "using the later BFPT rev 1.%u (header %zu)", t.minor, i);
			bfpt_idx = i;
		}
	}
	if (nph > SFDP_MAX_TABLES)
		note(si, "%zu parameter headers, only the first %u looked at", nph,
		     SFDP_MAX_TABLES);

	struct sfdp_table *bt = &si->table[bfpt_idx];

	if (bt->len_dwords < BFPT_MIN_DWORDS)
		return fail(-EINVAL, err, errlen, "SFDP: basic table has %u DWORDs, needs 9",
			    bt->len_dwords);
	if (!table_within(bt->ptr, bt->len_dwords, SFDP_MAX_LEN))
		return fail(-EINVAL, err, errlen, "SFDP: basic table at 0x%06x is out of range",
			    bt->ptr);
	if (!table_within(bt->ptr, bt->len_dwords, len))
		return fail(-EMSGSIZE, err, errlen,
			    "SFDP: %zu bytes, basic table at 0x%06x needs %u", len, bt->ptr,
			    bt->ptr + bt->len_dwords * 4u);

	si->bfpt_major = bt->major;
	si->bfpt_minor = bt->minor;
	si->bfpt_dwords = (uint16_t)MIN(bt->len_dwords, BFPT_KNOWN_DWORDS);
	for (unsigned i = 0; i < si->bfpt_dwords; i++)
		ps->bfpt[i] = get_le32(buf + bt->ptr + 4 * i);
	bt->parsed = true;

	struct chip_info *ci = &si->info;

	ci->size = bfpt_density(ps->bfpt[1]);
	if (!ci->size || !is_pow2(ci->size))
		return fail(-EINVAL, err, errlen, "SFDP: density DWORD 0x%08x is not a usable size",
			    ps->bfpt[1]);
	snprintf(ci->name, sizeof(ci->name), "SFDP %06x", jedec_id & 0xffffffu);
	snprintf(ci->vendor, sizeof(ci->vendor), "%s", vendor_name((uint8_t)(jedec_id >> 16)));
	ci->jedec_id = jedec_id;
	ci->source = CHIP_SRC_SFDP;
	ci->flags = CHIP_F_SFDP | CHIP_F_FAST_READ;
	ci->chip_erase_opcode = 0xc7;
	ci->protect.scheme = CHIP_PROT_NONE;

	parse_bfpt(ps);

	/* Optional tables: the first of each kind we know, when it lies inside the buffer. */
	for (unsigned i = 0; i < si->n_tables; i++) {
		struct sfdp_table *t = &si->table[i];
		bool bait = t->id == SFDP_ID_4BAIT, smpt = t->id == SFDP_ID_SECTOR_MAP;

		if (!bait && !smpt)
			continue;
		if ((bait && si->has_4bait) || (smpt && si->has_sector_map))
			continue;
		if (!t->len_dwords) {
			note(si, "table %04x has length 0, skipped", t->id);
			continue;
		}
		if (!t->in_buffer) {
			note(si,
			     "table %04x at 0x%06x (%u DWORDs) lies beyond the %zu bytes read, "
			     "skipped",
			     t->id, t->ptr, t->len_dwords, MIN(len, SFDP_MAX_LEN));
			continue;
		}
		t->parsed = true;
		if (bait)
			parse_4bait(ps, t);
		else
			parse_sector_map(ps, t);
	}

	derive_erase_list(si);
	derive_addressing(si);

	*ret = *si;
	return 0;
}

static void PRINTF_FMT(4, 5) report_add(char *report, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!report || *pos >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(report + *pos, len - *pos, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos = MIN(len, *pos + (size_t)n);
}

static const char *addr_mode_name(enum chip_addr_mode m)
{
	switch (m) {
	case CHIP_ADDR_3B:
		return "3-byte";
	case CHIP_ADDR_3B_4B:
		return "3/4-byte";
	case CHIP_ADDR_4B_ONLY:
		return "4-byte only";
	default:
		return "?";
	}
}

int sfdp_compare(const struct chip_info *db, const struct chip_info *sfdp, char *report, size_t len)
{
	size_t pos = 0;
	int n = 0;

	if (!db || !sfdp)
		return -EINVAL;
	if (report && len > 0)
		report[0] = '\0';
	else
		report = NULL;

	if (sfdp->size && db->size != sfdp->size) {
		report_add(report, len, &pos, "size: database %u, SFDP %u bytes\n", db->size,
			   sfdp->size);
		n++;
	}
	if (sfdp->page_size && db->page_size != sfdp->page_size) {
		report_add(report, len, &pos, "page size: database %u, SFDP %u bytes\n",
			   db->page_size, sfdp->page_size);
		n++;
	}
	for (unsigned i = 0; i < db->n_erase && i < CHIP_MAX_ERASE_TYPES && sfdp->n_erase; i++) {
		const struct chip_erase_type *e = &db->erase[i];
		const struct chip_erase_type *m = NULL;

		for (unsigned j = 0; j < sfdp->n_erase && j < CHIP_MAX_ERASE_TYPES; j++)
			if (sfdp->erase[j].size == e->size)
				m = &sfdp->erase[j];
		if (!m) {
			report_add(report, len, &pos,
				   "erase: database has %u KiB (0x%02x), SFDP does not\n",
				   e->size / 1024, e->opcode);
			n++;
		} else if (m->opcode != e->opcode) {
			report_add(report, len, &pos,
				   "erase %u KiB: database opcode 0x%02x, SFDP 0x%02x\n",
				   e->size / 1024, e->opcode, m->opcode);
			n++;
		}
	}
	if (db->addr_mode != sfdp->addr_mode) {
		report_add(report, len, &pos, "address mode: database %s, SFDP %s\n",
			   addr_mode_name(db->addr_mode), addr_mode_name(sfdp->addr_mode));
		n++;
	}
	return n;
}
