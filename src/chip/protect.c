/* SPDX-License-Identifier: MIT */
/*
 * protect.c - what is write-protected, and unlocking it without losing track.
 *
 * The chip's protection is read as a raw state (struct nor_protect_saved: status registers,
 * configuration/function register, SST26 block-protection register or AT25DF sector map) and
 * decoded by one pure function, nor_protect_decode(), into ranges. The same decoder checks a
 * restore: what was written back must decode to what was saved.
 *
 * Schemes (chip_info.protect.scheme):
 * - BP (Winbond, Macronix, GigaDevice, Micron, ISSI, SST25, ...): the BP field selects a range
 *   that doubles per step from bp_unit, at the top of the chip unless TB says bottom (TB may
 *   live in SR1, in the Macronix configuration register or the ISSI function register, both
 *   OTP); Winbond/GigaDevice SEC selects 4..32 KiB sectors, CMP protects the complement, the
 *   all-ones BP value protects everything. Winbond WPS=1 (SR3 bit 2) replaces all of this by
 *   individual block locks that we neither read nor clear: the whole chip is reported
 *   protected and unlock refuses, naming WPS.
 * - SST26: one write-lock bit per block in the block-protection register (RDBPR 0x72, most
 *   significant byte first, DS20005119 5.1 and table 5-6): bits 0..n-3 the 64 KiB blocks
 *   from 0x010000 up, n-2 the bottom and n-1 the top 32 KiB block, then the eight 8 KiB boot
 *   blocks as (write-lock, read-lock) pairs, bottom four from address 0 up, then top four.
 * - AT25_GLOBAL (Atmel/Adesto AT25DF): SR1 SWP (bits 3:2) 00 none, 11 all, 01 some sectors,
 *   then the 64 KiB sectors' protection registers are read (0x3C); SPRL (bit 7) locks them.
 *   Unlock is the global unprotect (WREN, WRSR 0x00).
 * - SR1_UNKNOWN (parts known only from SFDP or the config): any of SR1 bits 2-5 set protects
 *   the whole chip as far as we know; unlock clears those four bits.
 *
 * Unlock clears only the protection bits (BP, CMP); other bits (QE, SRP, TB) are kept. The
 * state before is handed to the caller before the first write, an unlock the chip ignores is
 * detected by reading back (-EROFS), and a failure half-way writes the old state back.
 *
 * nor_protect_check() (what a job calls before it starts changing the chip) reads SR1 (SST26:
 * the block-protection register) again, so bits changed behind our back between jobs are seen
 * at the cost of one status read; the per-command checks inside nor_program()/nor_erase() use
 * that state, since a status read per page would cost 4% of a write. nor_idle() drops the
 * cache so every job starts from a full read.
 */
#include "nor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nor_private.h"
#include "spibus.h"
#include "util.h"

#define SR1_STATUS_BITS	    0x03 /* WIP, WEL: not protection */
#define SR1_UNKNOWN_BP	    0x3C /* bits 2-5: BP0-BP3 (or TB) on every vendor we know */
#define AT25_SWP	    0x0C /* AT25DF SR1 bits 3:2 */
#define AT25_SPRL	    0x80 /* AT25DF SR1 bit 7: sector protection registers locked */
#define AT25_SECTOR	    KIB(64)
#define AT25_GLOBAL_PROTECT 0x7F /* datasheet "Global Protect/Unprotect": bits 5..2 set */

static bool reg_bit(const uint8_t sr[3], uint8_t cr, uint8_t where)
{
	unsigned reg = CHIP_SRBIT_REG(where);

	if (!where || reg < 1 || reg > 4)
		return false;
	return (reg == 4 ? cr : sr[reg - 1]) & (1u << CHIP_SRBIT_POS(where));
}

/* Gather the bits of mask from v into a small integer, lowest mask bit first (pext). */
static unsigned extract_bits(uint8_t v, uint8_t mask, unsigned *ret_width)
{
	unsigned out = 0, width = 0;

	for (unsigned bit = 0; bit < 8; bit++) {
		if (!(mask & (1u << bit)))
			continue;
		if (v & (1u << bit))
			out |= 1u << width;
		width++;
	}
	*ret_width = width;
	return out;
}

static void fmt_size(char *buf, size_t len, uint32_t bytes)
{
	if (bytes >= MIB(1) && bytes % MIB(1) == 0)
		snprintf(buf, len, "%u MiB", bytes / MIB(1));
	else
		snprintf(buf, len, "%u KiB", bytes / 1024u);
}

/* Append [addr, addr+len), merging with the last range; ranges come in ascending order. When
 * the array is full the last range grows to cover the new one (never claim less). */
static void add_range(struct nor_protect *p, uint32_t addr, uint32_t len)
{
	struct nor_range *last = p->n_ranges ? &p->ranges[p->n_ranges - 1] : NULL;

	if (!len)
		return;
	if (last && last->addr + last->len == addr) {
		last->len += len;
	} else if (p->n_ranges < NOR_MAX_PROT_RANGES) {
		p->ranges[p->n_ranges++] = (struct nor_range){.addr = addr, .len = len};
	} else {
		last->len = addr + len - last->addr;
		p->exact = false;
	}
}

static uint64_t protected_bytes(const struct nor_protect *p)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < p->n_ranges; i++)
		n += p->ranges[i].len;
	return n;
}

static void decode_bp(const struct chip_info *info, const uint8_t sr[3], uint8_t cr,
		      struct nor_protect *p)
{
	const struct chip_protect_layout *l = &info->protect;
	unsigned width, bp;
	uint32_t len = 0, start;
	bool tb, sec, cmp, all = false;
	char sz[24];

	bp = extract_bits(sr[0], l->bp_mask, &width);
	tb = reg_bit(sr, cr, l->tb_bit);
	sec = reg_bit(sr, cr, l->sec_bit);
	cmp = reg_bit(sr, cr, l->cmp_bit);

	if (reg_bit(sr, cr, l->wps_bit)) {
		p->block_locks = true;
		p->exact = false;
		add_range(p, 0, info->size);
		snprintf(p->description, sizeof(p->description),
			 "individual block locks in use (WPS=1 in SR3): their state is not read, "
			 "the whole chip is treated as protected");
		return;
	}

	if (bp == 0) {
		len = 0;
	} else if (bp == (1u << width) - 1) {
		all = true;
	} else if (sec) {
		len = KIB(4) << MIN(bp - 1, 3u);
	} else {
		uint64_t l64 = (uint64_t)(l->bp_unit ? l->bp_unit : KIB(64)) << (bp - 1);

		if (l64 >= info->size)
			all = true;
		else
			len = (uint32_t)l64;
	}
	if (all)
		len = info->size;
	start = tb ? 0 : info->size - len;

	if (!cmp)
		add_range(p, start, len);
	else if (len == 0)
		add_range(p, 0, info->size);
	else if (len < info->size)
		/* complement of one end is the other end */
		add_range(p, tb ? len : 0, info->size - len);

	if (p->n_ranges == 0) {
		snprintf(p->description, sizeof(p->description), "none (BP=%u)", bp);
	} else if (p->ranges[0].len == info->size) {
		snprintf(p->description, sizeof(p->description), "all (0x000000-0x%06X) by BP=%u%s",
			 info->size - 1, bp, cmp ? " CMP=1" : "");
	} else {
		fmt_size(sz, sizeof(sz), p->ranges[0].len);
		snprintf(p->description, sizeof(p->description),
			 "%s %s (0x%06X-0x%06X) by BP=%u%s%s%s",
			 p->ranges[0].addr == 0 ? "lower" : "upper", sz, p->ranges[0].addr,
			 p->ranges[0].addr + p->ranges[0].len - 1, bp,
			 tb && CHIP_SRBIT_REG(l->tb_bit) == 4 ? " TB=1" : "", sec ? " SEC=1" : "",
			 cmp ? " CMP=1" : "");
	}
}

/* SST26 BPR bit number -> [addr, addr+len) and whether it is a read-lock bit. */
static bool sst26_bit_range(uint32_t size, unsigned bit, uint32_t *ret_addr, uint32_t *ret_len,
			    bool *ret_read_lock)
{
	const unsigned blocks = size / KIB(64);

	*ret_read_lock = false;
	if (bit < blocks - 2) {
		*ret_addr = (bit + 1) * KIB(64);
		*ret_len = KIB(64);
	} else if (bit == blocks - 2) {
		*ret_addr = KIB(32);
		*ret_len = KIB(32);
	} else if (bit == blocks - 1) {
		*ret_addr = size - KIB(64);
		*ret_len = KIB(32);
	} else if (bit < blocks + 16) {
		unsigned k = (bit - blocks) / 2;

		*ret_read_lock = (bit - blocks) % 2;
		*ret_addr = k < 4 ? k * KIB(8) : size - KIB(32) + (k - 4) * KIB(8);
		*ret_len = KIB(8);
	} else {
		return false;
	}
	return true;
}

size_t nor_sst26_bpr_len(const struct chip_info *info)
{
	/* one bit per 64 KiB block, two of them for the 32 KiB blocks, plus 16 for the eight
	 * 8 KiB boot blocks' write- and read-lock bits (DS20005119 5.1) */
	size_t bits = info->size / KIB(64) + 16;

	return MIN((bits + 7) / 8, sizeof(((struct nor_protect_saved *)0)->bpr));
}

/* Is BPR bit `bit` set? The register arrives most significant byte first. */
static bool sst26_bpr_bit(const uint8_t *bpr, size_t len, unsigned bit)
{
	size_t byte = bit / 8;

	if (byte >= len)
		return false;
	return bpr[len - 1 - byte] & (1u << (bit % 8));
}

static void decode_sst26(const struct chip_info *info, const struct nor_protect_saved *st,
			 struct nor_protect *p)
{
	const unsigned nbits = (unsigned)st->bpr_len * 8;
	unsigned wl = 0, rl = 0;

	/* walk the chip upwards: 8 KiB bottom blocks, 32 KiB, 64 KiB ..., 32 KiB, 8 KiB top */
	for (uint32_t a = 0; a < info->size;) {
		uint32_t baddr = 0, blen = 0;
		bool rd, found = false;

		for (unsigned bit = 0; bit < nbits && !found; bit++) {
			if (!sst26_bit_range(info->size, bit, &baddr, &blen, &rd) || rd ||
			    baddr != a)
				continue;
			found = true;
			if (sst26_bpr_bit(st->bpr, st->bpr_len, bit)) {
				add_range(p, baddr, blen);
				wl++;
			}
		}
		if (!found)
			break; /* cannot happen for sizes the table allows; stay finite */
		a = baddr + blen;
	}
	for (unsigned bit = 0; bit < nbits; bit++) {
		uint32_t baddr, blen;
		bool rd;

		if (sst26_bit_range(info->size, bit, &baddr, &blen, &rd) && rd &&
		    sst26_bpr_bit(st->bpr, st->bpr_len, bit))
			rl++;
	}
	if (!wl) {
		snprintf(p->description, sizeof(p->description),
			 "none (block-protection register clear%s)",
			 rl ? ", some boot blocks read-locked" : "");
	} else if (p->n_ranges == 1 && p->ranges[0].len == info->size) {
		snprintf(p->description, sizeof(p->description),
			 "all (0x000000-0x%06X) by the block-protection register", info->size - 1);
	} else {
		char sz[24];

		fmt_size(sz, sizeof(sz), (uint32_t)protected_bytes(p));
		snprintf(p->description, sizeof(p->description),
			 "%u block(s), %s in %u range(s) from 0x%06X, by the block-protection "
			 "register",
			 wl, sz, p->n_ranges, p->ranges[0].addr);
	}
}

static void decode_at25(const struct chip_info *info, const struct nor_protect_saved *st,
			struct nor_protect *p)
{
	const unsigned swp = (st->sr[0] & AT25_SWP) >> 2;
	const char *lock = (st->sr[0] & AT25_SPRL) ? ", SPRL=1 (locked)" : "";

	p->sr_locked = st->sr[0] & AT25_SPRL;
	if (swp == 0) {
		snprintf(p->description, sizeof(p->description), "none (SWP=00%s)", lock);
		return;
	}
	if (swp == 3 || !st->bpr_len) {
		add_range(p, 0, info->size);
		snprintf(p->description, sizeof(p->description),
			 "all (0x000000-0x%06X) by SWP=%s%s", info->size - 1,
			 swp == 3 ? "11" : "01 (sector map not read)", lock);
		if (swp != 3)
			p->exact = false;
		return;
	}
	for (uint32_t s = 0; s < info->size / AT25_SECTOR && s / 8 < st->bpr_len; s++)
		if (st->bpr[s / 8] & (1u << (s % 8)))
			add_range(p, s * AT25_SECTOR, AT25_SECTOR);
	{
		char sz[24];

		fmt_size(sz, sizeof(sz), (uint32_t)protected_bytes(p));
		snprintf(p->description, sizeof(p->description),
			 "%s in %u range(s) from 0x%06X by sector protection (SWP=01%s)", sz,
			 p->n_ranges, p->n_ranges ? p->ranges[0].addr : 0, lock);
	}
}

int nor_protect_decode(const struct chip_info *info, const struct nor_protect_saved *st,
		       struct nor_protect *ret)
{
	const struct chip_protect_layout *l;
	struct nor_protect p = {0};

	if (!info || !st || !ret)
		return -EINVAL;
	l = &info->protect;
	memcpy(p.sr, st->sr, 3);
	p.cr = st->cr;
	p.exact = true;
	p.tb_otp = l->tb_otp;
	p.srp = reg_bit(st->sr, st->cr, l->srp0_bit);
	p.sr_locked = reg_bit(st->sr, st->cr, l->srp1_bit);

	switch (l->scheme) {
	case CHIP_PROT_BP:
		if (l->bp_mask)
			decode_bp(info, st->sr, st->cr, &p);
		else
			snprintf(p.description, sizeof(p.description), "no block protection");
		break;
	case CHIP_PROT_SST26:
		decode_sst26(info, st, &p);
		break;
	case CHIP_PROT_AT25_GLOBAL:
		decode_at25(info, st, &p);
		break;
	case CHIP_PROT_SR1_UNKNOWN:
		p.exact = false;
		p.srp = st->sr[0] & 0x80;
		if (st->sr[0] & SR1_UNKNOWN_BP) {
			add_range(&p, 0, info->size);
			snprintf(p.description, sizeof(p.description),
				 "all (0x000000-0x%06X): SR1 0x%02X has block-protect bits set and "
				 "the exact map of this part is unknown",
				 info->size - 1, st->sr[0]);
		} else {
			snprintf(
			    p.description, sizeof(p.description),
			    "none (SR1 0x%02X: no block-protect bits set; the map of this part "
			    "is unknown)",
			    st->sr[0]);
		}
		break;
	default:
		snprintf(p.description, sizeof(p.description), "no block protection");
		break;
	}
	*ret = p;
	return 0;
}

int nor_protect_ranges(const struct chip_info *info, const uint8_t sr[3], uint8_t cr,
		       struct nor_protect *ret)
{
	struct nor_protect_saved st = {.valid = true, .cr = cr};

	if (!sr)
		return -EINVAL;
	memcpy(st.sr, sr, 3);
	return nor_protect_decode(info, &st, ret);
}

/* Read the configuration register (register 4), if the part has one. */
static int read_cr(struct nor *nor, uint8_t *ret)
{
	if (nor->info.flags & CHIP_F_CR_MX)
		return nor_read_sr(nor, NOR_OP_RDSR3, ret);
	if (nor->info.flags & CHIP_F_FR_ISSI)
		return nor_read_sr(nor, NOR_OP_RDFR, ret);
	*ret = 0;
	return 0;
}

static int read_bpr(struct nor *nor, uint8_t *bpr, size_t len)
{
	const uint8_t op = NOR_OP_RDBPR;
	int r = spibus_cmd(nor->bus, &op, 1, bpr, len);

	if (r < 0)
		return nor_fail(nor, r, "read-protection", false, 0, "RDBPR failed");
	return 0;
}

/* AT25DF: one protection register per 64 KiB sector, 0xFF = protected. */
static int read_at25_sectors(struct nor *nor, struct nor_protect_saved *st)
{
	const uint32_t n = nor->info.size / AT25_SECTOR;

	st->bpr_len = MIN((size_t)(n + 7) / 8, sizeof(st->bpr));
	memset(st->bpr, 0, sizeof(st->bpr));
	for (uint32_t s = 0; s < n && s / 8 < st->bpr_len; s++) {
		uint8_t cmd[4] = {NOR_OP_AT25_RDSPR, 0, 0, 0}, v = 0;
		int r;

		put_be24(cmd + 1, s * AT25_SECTOR);
		r = spibus_cmd(nor->bus, cmd, sizeof(cmd), &v, 1);
		if (r < 0)
			return nor_fail(nor, r, "read-protection", true, s * AT25_SECTOR,
					"read sector protection register failed");
		if (v)
			st->bpr[s / 8] |= (uint8_t)(1u << (s % 8));
	}
	return 0;
}

/* Everything that holds a protection bit, as raw state. */
static int read_state(struct nor *nor, struct nor_protect_saved *ret)
{
	const struct chip_info *info = &nor->info;
	struct nor_protect_saved st = {.valid = true};
	int r;

	r = nor_read_sr(nor, NOR_OP_RDSR, &st.sr[0]);
	if (r >= 0 && (info->flags & CHIP_F_SR2))
		r = nor_read_sr(nor, NOR_OP_RDSR2, &st.sr[1]);
	if (r >= 0 && (info->flags & CHIP_F_SR3_33))
		r = nor_read_sr(nor, NOR_OP_RDSR3_33, &st.sr[2]);
	else if (r >= 0 && (info->flags & CHIP_F_SR3) && !(info->flags & CHIP_F_CR_MX))
		r = nor_read_sr(nor, NOR_OP_RDSR3, &st.sr[2]);
	if (r >= 0)
		r = read_cr(nor, &st.cr);
	if (r >= 0 && info->protect.scheme == CHIP_PROT_SST26) {
		st.bpr_len = nor_sst26_bpr_len(info);
		r = read_bpr(nor, st.bpr, st.bpr_len);
	}
	if (r >= 0 && info->protect.scheme == CHIP_PROT_AT25_GLOBAL &&
	    ((st.sr[0] & AT25_SWP) >> 2) == 1)
		r = read_at25_sectors(nor, &st);
	if (r < 0)
		return r;
	st.sr[0] &= (uint8_t)~SR1_STATUS_BITS;
	*ret = st;
	return 0;
}

static int refresh(struct nor *nor)
{
	struct nor_protect_saved st;
	struct nor_protect p;
	int r;

	r = read_state(nor, &st);
	if (r < 0)
		return r;
	r = nor_protect_decode(&nor->info, &st, &p);
	if (r < 0)
		return r;
	nor->prot = p;
	nor->prot_raw = st;
	nor->prot_valid = true;
	return 0;
}

int nor_protect_read(struct nor *nor, struct nor_protect *ret)
{
	int r = refresh(nor);

	if (r < 0)
		return r;
	if (ret)
		*ret = nor->prot;
	return 0;
}

/* The cheap re-read before a write: SR1 (SST26: the BPR); everything again if it changed. */
static int recheck(struct nor *nor)
{
	const struct chip_info *info = &nor->info;
	uint8_t sr1;
	int r;

	if (!nor->prot_valid)
		return refresh(nor);
	if (info->protect.scheme == CHIP_PROT_SST26) {
		struct nor_protect_saved st = nor->prot_raw;

		r = read_bpr(nor, st.bpr, st.bpr_len);
		if (r < 0)
			return r;
		if (memcmp(st.bpr, nor->prot_raw.bpr, st.bpr_len) == 0)
			return 0;
		return refresh(nor);
	}
	if (info->protect.scheme == CHIP_PROT_NONE)
		return 0;
	r = nor_read_sr(nor, NOR_OP_RDSR, &sr1);
	if (r < 0)
		return r;
	if ((uint8_t)(sr1 & ~SR1_STATUS_BITS) == nor->prot_raw.sr[0])
		return 0;
	return refresh(nor);
}

static int check_ranges(struct nor *nor, uint32_t addr, uint64_t len)
{
	for (unsigned i = 0; i < nor->prot.n_ranges; i++) {
		const struct nor_range *pr = &nor->prot.ranges[i];
		uint64_t end = (uint64_t)addr + len, pend = (uint64_t)pr->addr + pr->len;

		if (!len || addr >= pend || pr->addr >= end)
			continue;
		/* SST26: a widened last range may cover unprotected blocks; ask the bits */
		if (nor->info.protect.scheme == CHIP_PROT_SST26 && !nor->prot.exact) {
			bool hit = false;

			for (unsigned bit = 0; bit < nor->prot_raw.bpr_len * 8 && !hit; bit++) {
				uint32_t ba, bl;
				bool rd;

				hit =
				    sst26_bit_range(nor->info.size, bit, &ba, &bl, &rd) && !rd &&
				    sst26_bpr_bit(nor->prot_raw.bpr, nor->prot_raw.bpr_len, bit) &&
				    addr < (uint64_t)ba + bl && ba < end;
			}
			if (!hit)
				continue;
		}
		return nor_fail(nor, -EROFS, "write-protect", true, MAX(addr, pr->addr),
				"0x%06X-0x%06X is write-protected (%s); unlock it first", pr->addr,
				(uint32_t)(pend - 1), nor->prot.description);
	}
	return 0;
}

int nor_protect_check(struct nor *nor, uint32_t addr, uint64_t len)
{
	int r = recheck(nor);

	return r < 0 ? r : check_ranges(nor, addr, len);
}

int nor_protect_check_cached(struct nor *nor, uint32_t addr, uint64_t len)
{
	int r = nor->prot_valid ? 0 : refresh(nor);

	return r < 0 ? r : check_ranges(nor, addr, len);
}

static uint32_t wrsr_max_us(const struct nor *nor)
{
	return nor->info.write_status_max_us ? nor->info.write_status_max_us : 100000u;
}

/* WREN (or EWSR on SST25) + one status-register write command, then wait for tW. */
static int write_sr_cmd(struct nor *nor, const uint8_t *cmd, size_t cmd_len)
{
	static const uint8_t ewsr = NOR_OP_EWSR;
	int r;

	if (nor->info.flags & CHIP_F_EWSR) {
		const struct spibus_seg segs[2] = {
		    {.tx = &ewsr, .len = 1, .cs_toggle = true},
		    {.tx = cmd, .len = cmd_len},
		};

		if (nor->bus->cs_toggle_ok) {
			r = spibus_transfer(nor->bus, segs, 2);
		} else {
			r = spibus_transfer(nor->bus, &segs[0], 1);
			if (r >= 0)
				r = spibus_transfer(nor->bus, &segs[1], 1);
		}
		if (r < 0)
			return nor_fail(nor, r, "write-status", false, 0, "EWSR+WRSR failed");
	} else {
		r = nor_write_cmd(nor, cmd, cmd_len, NULL, 0, "write-status", 0, wrsr_max_us(nor));
		if (r < 0)
			return r;
	}
	return nor_wait_ready(nor, nor->info.write_status_typ_us, wrsr_max_us(nor), "write-status",
			      0);
}

/*
 * Bring SR1..SR3 from `have` to `want`, each register through the part's own command: 0x31 /
 * 0x11 where the part has them, else the registers as consecutive WRSR (0x01) bytes (SR2 as
 * the second byte; S25FL1-K SR3 as the third).
 */
static int write_srs(struct nor *nor, const uint8_t want[3], const uint8_t have[3])
{
	const uint32_t f = nor->info.flags;
	const bool sr2_in_01 = (f & CHIP_F_SR2) && !(f & CHIP_F_SR2_WRITE_31);
	const bool sr3_in_01 = f & CHIP_F_SR3_33;
	const bool sr2_diff = (f & CHIP_F_SR2) && want[1] != have[1];
	const bool sr3_diff =
	    (f & (CHIP_F_SR3 | CHIP_F_SR3_33)) && !(f & CHIP_F_CR_MX) && want[2] != have[2];
	uint8_t cmd[4];
	int r;

	if (want[0] != have[0] || (sr2_in_01 && sr2_diff) || (sr3_in_01 && sr3_diff)) {
		size_t n = 0;

		cmd[n++] = NOR_OP_WRSR;
		cmd[n++] = want[0];
		if (sr2_in_01 || sr3_in_01)
			cmd[n++] = want[1];
		if (sr3_in_01)
			cmd[n++] = want[2];
		r = write_sr_cmd(nor, cmd, n);
		if (r < 0)
			return r;
	}
	if (sr2_diff && !sr2_in_01) {
		cmd[0] = NOR_OP_WRSR2;
		cmd[1] = want[1];
		r = write_sr_cmd(nor, cmd, 2);
		if (r < 0)
			return r;
	}
	if (sr3_diff && !sr3_in_01) {
		cmd[0] = NOR_OP_WRSR3;
		cmd[1] = want[2];
		r = write_sr_cmd(nor, cmd, 2);
		if (r < 0)
			return r;
	}
	return 0;
}

static int write_bpr(struct nor *nor, const uint8_t *bpr, size_t len)
{
	const uint8_t hdr = NOR_OP_WBPR;
	int r = nor_write_cmd(nor, &hdr, 1, bpr, len, "write-protection", 0, wrsr_max_us(nor));

	if (r < 0)
		return r;
	return nor_wait_ready(nor, nor->info.write_status_typ_us, wrsr_max_us(nor),
			      "write-protection", 0);
}

/* AT25DF: protect the sectors marked in st (after a global unprotect). */
static int at25_protect_sectors(struct nor *nor, const struct nor_protect_saved *st)
{
	for (uint32_t s = 0; s < nor->info.size / AT25_SECTOR && s / 8 < st->bpr_len; s++) {
		uint8_t cmd[4] = {NOR_OP_AT25_PROTECT, 0, 0, 0};
		int r;

		if (!(st->bpr[s / 8] & (1u << (s % 8))))
			continue;
		put_be24(cmd + 1, s * AT25_SECTOR);
		r = nor_write_cmd(nor, cmd, sizeof(cmd), NULL, 0, "write-protection",
				  s * AT25_SECTOR, wrsr_max_us(nor));
		if (r < 0)
			return r;
	}
	return 0;
}

/* The bits of SR1..SR3 that are protection (compared after a restore). */
static void protection_masks(const struct chip_info *info, uint8_t ret[3])
{
	const struct chip_protect_layout *l = &info->protect;
	const uint8_t bits[] = {l->tb_bit,   l->sec_bit,  l->cmp_bit,
				l->srp0_bit, l->srp1_bit, l->wps_bit};

	memset(ret, 0, 3);
	switch (l->scheme) {
	case CHIP_PROT_BP:
		ret[0] = l->bp_mask;
		for (size_t i = 0; i < ARRAY_SIZE(bits); i++)
			if (CHIP_SRBIT_REG(bits[i]) >= 1 && CHIP_SRBIT_REG(bits[i]) <= 3)
				ret[CHIP_SRBIT_REG(bits[i]) - 1] |=
				    (uint8_t)(1u << CHIP_SRBIT_POS(bits[i]));
		break;
	case CHIP_PROT_AT25_GLOBAL:
		ret[0] = AT25_SWP | AT25_SPRL;
		break;
	case CHIP_PROT_SR1_UNKNOWN:
		ret[0] = SR1_UNKNOWN_BP;
		break;
	default:
		break;
	}
}

static bool same_protection(const struct chip_info *info, const struct nor_protect_saved *a,
			    const struct nor_protect_saved *b)
{
	struct nor_protect pa, pb;
	uint8_t m[3];

	protection_masks(info, m);
	for (int i = 0; i < 3; i++)
		if ((a->sr[i] ^ b->sr[i]) & m[i])
			return false;
	if (nor_protect_decode(info, a, &pa) < 0 || nor_protect_decode(info, b, &pb) < 0)
		return false;
	if (pa.n_ranges != pb.n_ranges)
		return false;
	for (unsigned i = 0; i < pa.n_ranges; i++)
		if (pa.ranges[i].addr != pb.ranges[i].addr || pa.ranges[i].len != pb.ranges[i].len)
			return false;
	return true;
}

/* Write `want` over the chip's current state `have`. */
static int write_state(struct nor *nor, const struct nor_protect_saved *want,
		       const struct nor_protect_saved *have)
{
	const struct chip_protect_layout *l = &nor->info.protect;
	uint8_t sr[3];

	switch (l->scheme) {
	case CHIP_PROT_SST26:
		return write_bpr(nor, want->bpr, want->bpr_len);
	case CHIP_PROT_AT25_GLOBAL: {
		const unsigned swp = (want->sr[0] & AT25_SWP) >> 2;
		uint8_t cmd[2] = {NOR_OP_WRSR, 0x00};
		int r;

		/* SPRL=1 on the chip blocks everything; SPRL can only be cleared with WP# high */
		if (have->sr[0] & AT25_SPRL) {
			cmd[1] = 0x0F; /* SPRL 1 -> 0 without a global operation */
			r = write_sr_cmd(nor, cmd, 2);
			if (r < 0)
				return r;
		}
		cmd[1] = swp == 3 ? AT25_GLOBAL_PROTECT : 0x00;
		r = write_sr_cmd(nor, cmd, 2);
		if (r >= 0 && swp == 1)
			r = at25_protect_sectors(nor, want);
		if (r >= 0 && (want->sr[0] & AT25_SPRL)) {
			cmd[1] = 0xF0; /* SPRL 0 -> 1 without a global operation */
			r = write_sr_cmd(nor, cmd, 2);
		}
		return r;
	}
	default:
		memcpy(sr, want->sr, 3);
		return write_srs(nor, sr, have->sr);
	}
}

/* strlcat: append src to the NUL-terminated dst of cap bytes, truncating. */
static void append(char *dst, size_t cap, const char *src)
{
	size_t used = strnlen(dst, cap), n = strlen(src);

	if (used + 1 >= cap)
		return;
	n = MIN(n, cap - used - 1);
	memcpy(dst + used, src, n);
	dst[used + n] = '\0';
}

/*
 * Write saved back, read it back and compare. The error detail (nor->err) starts with
 * "protection NOT restored: " on failure.
 */
static int restore(struct nor *nor, const struct nor_protect_saved *saved)
{
	struct nor_protect_saved now;
	int r;

	nor->prot_valid = false;
	r = read_state(nor, &now);
	if (r >= 0 && !same_protection(&nor->info, saved, &now))
		r = write_state(nor, saved, &now);
	if (r >= 0)
		r = read_state(nor, &now);
	if (r >= 0 && !same_protection(&nor->info, saved, &now))
		r = nor_fail(nor, -EIO, "restore-protection", false, 0,
			     "the chip reads back SR1 0x%02X SR2 0x%02X SR3 0x%02X, wanted SR1 "
			     "0x%02X SR2 0x%02X SR3 0x%02X",
			     now.sr[0], now.sr[1], now.sr[2], saved->sr[0], saved->sr[1],
			     saved->sr[2]);
	nor->prot_valid = false;
	if (r < 0) {
		char d[sizeof(nor->err.detail)];

		d[0] = '\0';
		append(d, sizeof(d), "protection NOT restored: ");
		append(d, sizeof(d), nor->err.op);
		append(d, sizeof(d), ": ");
		append(d, sizeof(d), nor->err.detail);
		memcpy(nor->err.detail, d, sizeof(d));
		snprintf(nor->err.op, sizeof(nor->err.op), "restore-protection");
	}
	return r;
}

int nor_protect_restore(struct nor *nor, const struct nor_protect_saved *saved)
{
	if (!saved || !saved->valid)
		return 0;
	return restore(nor, saved);
}

/* After a failed step: put the saved state back and say in the first error whether it was. */
static int unlock_failed(struct nor *nor, int r, const struct nor_protect_saved *s)
{
	struct nor_error first = nor->err;
	int r2 = restore(nor, s);

	append(first.detail, sizeof(first.detail), "; ");
	append(first.detail, sizeof(first.detail),
	       r2 < 0 ? nor->err.detail : "protection restored");
	nor->err = first;
	return r;
}

int nor_unlock(struct nor *nor, struct nor_protect_saved *saved)
{
	const struct chip_protect_layout *l = &nor->info.protect;
	struct nor_protect before, after;
	struct nor_protect_saved s, want;
	int r;

	r = refresh(nor);
	if (r < 0)
		return r;
	before = nor->prot;
	s = nor->prot_raw;
	if (saved)
		*saved = s; /* before anything is written: the caller can always undo */

	if (before.block_locks)
		return nor_fail(
		    nor, -EROFS, "unlock", false, 0,
		    "%s uses individual block locks (WPS=1 in SR3), which flashd does "
		    "not clear: set WPS=0 in SR3 to use the BP bits, or clear the locks "
		    "with another tool",
		    nor->info.name);
	if (!before.n_ranges)
		return 0;

	want = s;
	switch (l->scheme) {
	case CHIP_PROT_SST26:
		memset(want.bpr, 0, sizeof(want.bpr));
		break;
	case CHIP_PROT_AT25_GLOBAL:
		want.sr[0] = (uint8_t)(s.sr[0] & ~(AT25_SWP | AT25_SPRL));
		memset(want.bpr, 0, sizeof(want.bpr));
		break;
	case CHIP_PROT_SR1_UNKNOWN:
		want.sr[0] &= (uint8_t)~SR1_UNKNOWN_BP;
		break;
	default:
		want.sr[0] &= (uint8_t)~l->bp_mask;
		if (l->cmp_bit && CHIP_SRBIT_REG(l->cmp_bit) >= 1 &&
		    CHIP_SRBIT_REG(l->cmp_bit) <= 3)
			want.sr[CHIP_SRBIT_REG(l->cmp_bit) - 1] &=
			    (uint8_t) ~(1u << CHIP_SRBIT_POS(l->cmp_bit));
		break;
	}

	if (l->scheme == CHIP_PROT_SST26) {
		static const uint8_t ulbpr = NOR_OP_ULBPR;

		r = nor_write_cmd(nor, &ulbpr, 1, NULL, 0, "unlock", 0, wrsr_max_us(nor));
	} else {
		r = write_state(nor, &want, &s);
	}
	if (r >= 0)
		r = refresh(nor);
	if (r < 0)
		return unlock_failed(nor, r, &s);
	after = nor->prot;
	if (after.n_ranges) {
		r = nor_fail(nor, -EROFS, "unlock", false, 0,
			     "the chip ignored the unlock, still protected: %s%s",
			     after.description,
			     before.srp ? " (SRP=1: WP# is asserted or the register is locked)"
			     : before.sr_locked ? " (the protection registers are locked)"
						: "");
		return unlock_failed(nor, r, &s);
	}
	return 0;
}
