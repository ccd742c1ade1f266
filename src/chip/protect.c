/* SPDX-License-Identifier: MIT */
/*
 * protect.c - what is write-protected, and unlocking it without losing track.
 *
 * BP-style parts (Winbond, Macronix, GigaDevice, Micron, ISSI, SST25, ...): the BP field
 * selects a range that doubles per step from bp_unit (chip_info), at the top of the chip unless
 * TB says bottom; Winbond/GigaDevice SEC selects 4..32 KiB sectors instead of blocks, CMP
 * protects the complement. The all-ones BP value always protects everything.
 *
 * SST26: a block-protection register with one write-lock bit per block (plus read-lock bits
 * for the 8 KiB boot sectors). We do not map its bits to addresses yet: any set bit is treated
 * as "protected" across the chip, which is conservative — a write is refused with a message
 * that says to unlock (ULBPR), never silently ignored by the chip.
 *
 * Unlock clears only the protection bits (BP, CMP); other bits (QE, SRP, TB) are kept, and the
 * state before is returned so a temporary unlock can be undone. An unlock the chip ignores
 * (SRP with WP# asserted, lock bit) is detected by reading back and reported as -EROFS.
 */
#include "nor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nor_private.h"
#include "spibus.h"
#include "util.h"

#define MX_CR_TB 0x08 /* Macronix configuration register bit 3 (OTP) */
#define SST26_WBPR 0x42

static bool sr_bit(const uint8_t sr[3], uint8_t cr, const struct chip_info *info, uint8_t where)
{
	unsigned reg = CHIP_SRBIT_REG(where);

	(void)info;
	(void)cr;
	if (!where || reg < 1 || reg > 3)
		return false;
	return sr[reg - 1] & (1u << CHIP_SRBIT_POS(where));
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

static void add_range(struct nor_protect *p, uint32_t addr, uint32_t len)
{
	if (len && p->n_ranges < NOR_MAX_PROT_RANGES)
		p->ranges[p->n_ranges++] = (struct nor_range){.addr = addr, .len = len};
}

int nor_protect_ranges(const struct chip_info *info, const uint8_t sr[3], uint8_t cr,
		       struct nor_protect *ret)
{
	const struct chip_protect_layout *l = &info->protect;
	struct nor_protect p = {0};
	unsigned width, bp;
	uint32_t len = 0, start;
	bool tb, sec, cmp, all = false;
	char sz[24];

	memcpy(p.sr, sr, 3);
	p.cr = cr;
	if (l->scheme != CHIP_PROT_BP || !l->bp_mask) {
		snprintf(p.description, sizeof(p.description), "no block protection");
		*ret = p;
		return 0;
	}
	bp = extract_bits(sr[0], l->bp_mask, &width);
	tb = (l->tb_otp && (info->flags & CHIP_F_CR_MX)) ? (cr & MX_CR_TB)
							  : sr_bit(sr, cr, info, l->tb_bit);
	sec = sr_bit(sr, cr, info, l->sec_bit);
	cmp = sr_bit(sr, cr, info, l->cmp_bit);
	p.srp = sr_bit(sr, cr, info, l->srp0_bit);
	p.sr_locked = sr_bit(sr, cr, info, l->srp1_bit);
	p.tb_otp = l->tb_otp;

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

	if (!cmp) {
		add_range(&p, start, len);
	} else if (len == 0) {
		add_range(&p, 0, info->size);
	} else if (len < info->size) {
		/* complement of one end is the other end */
		add_range(&p, tb ? len : 0, info->size - len);
	}

	if (p.n_ranges == 0) {
		snprintf(p.description, sizeof(p.description), "none (BP=%u)", bp);
	} else if (p.ranges[0].len == info->size) {
		snprintf(p.description, sizeof(p.description), "all (0x000000-0x%06X) by BP=%u%s",
			 info->size - 1, bp, cmp ? " CMP=1" : "");
	} else {
		fmt_size(sz, sizeof(sz), p.ranges[0].len);
		snprintf(p.description, sizeof(p.description), "%s %s (0x%06X-0x%06X) by BP=%u%s%s",
			 p.ranges[0].addr == 0 ? "lower" : "upper", sz, p.ranges[0].addr,
			 p.ranges[0].addr + p.ranges[0].len - 1, bp, sec ? " SEC=1" : "",
			 cmp ? " CMP=1" : "");
	}
	*ret = p;
	return 0;
}

static size_t sst26_bpr_len(const struct chip_info *info)
{
	/* one bit per 64 KiB block, plus 16 for the split boot blocks (DS20005119 5.1) */
	size_t bits = info->size / KIB(64) + 16;

	return MIN((bits + 7) / 8, sizeof(((struct nor_protect_saved *)0)->bpr));
}

static int sst26_read_bpr(struct nor *nor, uint8_t *bpr, size_t len)
{
	const uint8_t op = NOR_OP_RDBPR;
	int r = spibus_cmd(nor->bus, &op, 1, bpr, len);

	if (r < 0)
		return nor_fail(nor, r, "read-protection", false, 0, "RDBPR failed");
	return 0;
}

int nor_protect_read(struct nor *nor, struct nor_protect *ret)
{
	const struct chip_info *info = &nor->info;
	uint8_t sr[3] = {0, 0, 0}, cr = 0;
	struct nor_protect p;
	int r;

	r = nor_read_sr(nor, NOR_OP_RDSR, &sr[0]);
	if (r >= 0 && (info->flags & CHIP_F_SR2))
		r = nor_read_sr(nor, NOR_OP_RDSR2, &sr[1]);
	if (r >= 0 && (info->flags & CHIP_F_SR3) && !(info->flags & CHIP_F_CR_MX))
		r = nor_read_sr(nor, NOR_OP_RDSR3, &sr[2]);
	if (r >= 0 && (info->flags & CHIP_F_CR_MX))
		r = nor_read_sr(nor, NOR_OP_RDSR3, &cr);
	if (r < 0)
		return r;

	if (info->protect.scheme == CHIP_PROT_SST26) {
		uint8_t bpr[32] = {0};
		size_t n = sst26_bpr_len(info);
		unsigned set = 0;

		r = sst26_read_bpr(nor, bpr, n);
		if (r < 0)
			return r;
		memset(&p, 0, sizeof(p));
		memcpy(p.sr, sr, 3);
		for (size_t i = 0; i < n; i++)
			set += (unsigned)__builtin_popcount(bpr[i]);
		if (set)
			add_range(&p, 0, info->size);
		snprintf(p.description, sizeof(p.description),
			 set ? "block-protection register: %u of %zu bits set" : "none (%u of %zu "
										 "bits set)",
			 set, n * 8);
	} else {
		r = nor_protect_ranges(info, sr, cr, &p);
		if (r < 0)
			return r;
	}
	nor->prot = p;
	nor->prot_valid = true;
	if (ret)
		*ret = p;
	return 0;
}

int nor_protect_check(struct nor *nor, uint32_t addr, uint64_t len)
{
	int r;

	if (!nor->prot_valid) {
		r = nor_protect_read(nor, NULL);
		if (r < 0)
			return r;
	}
	for (unsigned i = 0; i < nor->prot.n_ranges; i++) {
		const struct nor_range *pr = &nor->prot.ranges[i];
		uint64_t end = (uint64_t)addr + len, pend = (uint64_t)pr->addr + pr->len;

		if (len && addr < pend && pr->addr < end)
			return nor_fail(nor, -EROFS, "write-protect", true, MAX(addr, pr->addr),
					"0x%06X-0x%06X is write-protected (%s); unlock it first",
					pr->addr, (uint32_t)(pend - 1), nor->prot.description);
	}
	return 0;
}

/* Write one status register (1..3) through the part's own opcode and enable command. */
static int nor_write_sr(struct nor *nor, unsigned reg, uint8_t value, const uint8_t sr[3])
{
	const struct chip_info *info = &nor->info;
	static const uint8_t ewsr = NOR_OP_EWSR;
	uint8_t cmd[3];
	size_t cmd_len;
	int r;

	if (reg == 1) {
		cmd[0] = NOR_OP_WRSR;
		cmd[1] = value;
		cmd_len = 2;
		/* Parts without 0x31 take SR2 as a second WRSR byte; send it unchanged. */
		if ((info->flags & CHIP_F_SR2) && !(info->flags & CHIP_F_SR2_WRITE_31)) {
			cmd[2] = sr[1];
			cmd_len = 3;
		}
	} else if (reg == 2 && (info->flags & CHIP_F_SR2_WRITE_31)) {
		cmd[0] = NOR_OP_WRSR2;
		cmd[1] = value;
		cmd_len = 2;
	} else if (reg == 2) {
		cmd[0] = NOR_OP_WRSR;
		cmd[1] = sr[0];
		cmd[2] = value;
		cmd_len = 3;
	} else {
		cmd[0] = NOR_OP_WRSR3;
		cmd[1] = value;
		cmd_len = 2;
	}

	if (info->flags & CHIP_F_EWSR) {
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
		r = nor_write_cmd(nor, cmd, cmd_len, NULL, 0, "write-status", 0,
				  info->write_status_max_us ? info->write_status_max_us : 100000u);
		if (r < 0)
			return r;
	}
	return nor_wait_ready(nor, info->write_status_typ_us,
			      info->write_status_max_us ? info->write_status_max_us : 100000u,
			      "write-status", 0);
}

static int nor_write_srs(struct nor *nor, const uint8_t want[3], const uint8_t have[3])
{
	int r;

	if (want[0] != have[0]) {
		r = nor_write_sr(nor, 1, want[0], want);
		if (r < 0)
			return r;
	}
	if (want[1] != have[1] && (nor->info.flags & CHIP_F_SR2)) {
		r = nor_write_sr(nor, 2, want[1], want);
		if (r < 0)
			return r;
	}
	if (want[2] != have[2] && (nor->info.flags & CHIP_F_SR3) &&
	    !(nor->info.flags & CHIP_F_CR_MX)) {
		r = nor_write_sr(nor, 3, want[2], want);
		if (r < 0)
			return r;
	}
	return 0;
}

static int sst26_write_bpr(struct nor *nor, const uint8_t *bpr, size_t len)
{
	uint8_t hdr = SST26_WBPR;
	int r = nor_write_cmd(nor, &hdr, 1, bpr, len, "write-protection", 0, 100000u);

	if (r < 0)
		return r;
	return nor_wait_ready(nor, nor->info.write_status_typ_us,
			      nor->info.write_status_max_us ? nor->info.write_status_max_us
							    : 100000u,
			      "write-protection", 0);
}

int nor_unlock(struct nor *nor, struct nor_protect_saved *saved)
{
	const struct chip_protect_layout *l = &nor->info.protect;
	struct nor_protect before, after;
	struct nor_protect_saved s = {0};
	uint8_t want[3];
	int r;

	nor->prot_valid = false;
	r = nor_protect_read(nor, &before);
	if (r < 0)
		return r;
	memcpy(s.sr, before.sr, 3);
	s.valid = true;

	if (l->scheme == CHIP_PROT_SST26) {
		static const uint8_t ulbpr = NOR_OP_ULBPR;

		s.bpr_len = sst26_bpr_len(&nor->info);
		r = sst26_read_bpr(nor, s.bpr, s.bpr_len);
		if (r < 0)
			return r;
		r = nor_write_cmd(nor, &ulbpr, 1, NULL, 0, "unlock", 0, 100000u);
		if (r < 0)
			return r;
	} else if (before.n_ranges) {
		memcpy(want, before.sr, 3);
		want[0] &= (uint8_t)~l->bp_mask;
		if (l->cmp_bit && CHIP_SRBIT_REG(l->cmp_bit) >= 1 && CHIP_SRBIT_REG(l->cmp_bit) <= 3)
			want[CHIP_SRBIT_REG(l->cmp_bit) - 1] &=
				(uint8_t)~(1u << CHIP_SRBIT_POS(l->cmp_bit));
		r = nor_write_srs(nor, want, before.sr);
		if (r < 0)
			return r;
	}

	nor->prot_valid = false;
	r = nor_protect_read(nor, &after);
	if (r < 0)
		return r;
	if (after.n_ranges)
		return nor_fail(nor, -EROFS, "unlock", false, 0,
				"the chip ignored the unlock, still protected: %s%s",
				after.description,
				before.srp ? " (SRP=1: WP# is asserted or the register is locked)"
					   : "");
	if (saved)
		*saved = s;
	return 0;
}

int nor_protect_restore(struct nor *nor, const struct nor_protect_saved *saved)
{
	struct nor_protect now;
	int r;

	if (!saved || !saved->valid)
		return 0;
	nor->prot_valid = false;
	if (nor->info.protect.scheme == CHIP_PROT_SST26) {
		r = sst26_write_bpr(nor, saved->bpr, saved->bpr_len);
	} else {
		r = nor_protect_read(nor, &now);
		if (r >= 0)
			r = nor_write_srs(nor, saved->sr, now.sr);
	}
	nor->prot_valid = false;
	return r;
}
