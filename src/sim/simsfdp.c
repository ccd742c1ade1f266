/* SPDX-License-Identifier: MIT */
/*
 * simsfdp.c - a simulator profile from someone's SFDP dump, so anyone can simulate the chip
 * they own. Deliberately small and separate from the chip layer's parser (src/chip/sfdp.c):
 * the simulator sits below the chip layer, and two readings of JESD216 that must agree catch
 * more mistakes than one. Every offset is bounds-checked; the dump is hostile.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_private.h"
#include "util.h"

static int fail(char *err, size_t len, const char *fmt, ...) PRINTF_FMT(3, 4);

static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* BFPT DWORD 10 time field: (count + 1) x unit */
static uint32_t erase_time_us(uint32_t field)
{
	static const uint32_t unit_ms[4] = {1, 16, 128, 1000};

	return ((field & 0x1F) + 1) * unit_ms[(field >> 5) & 3] * 1000u;
}

int sim_profile_from_sfdp(const uint8_t *sfdp, size_t len, uint32_t jedec_id,
			  struct sim_profile **ret, char *err, size_t errlen)
{
	const uint8_t *bfpt = NULL, *bait = NULL;
	size_t bfpt_dw = 0, nph;
	struct sim_profile *p;
	uint32_t dw1, dw2, mult = 1;
	uint64_t bits;
	uint8_t *copy;

	if (!sfdp || len < 16)
		return fail(err, errlen, "SFDP dump too short (%zu bytes)", len);
	if (memcmp(sfdp, "SFDP", 4) != 0)
		return fail(err, errlen, "no SFDP signature");
	if (sfdp[5] != 1)
		return fail(err, errlen, "SFDP major revision %u is not 1", sfdp[5]);
	if (len > 65536)
		return fail(err, errlen, "SFDP dump larger than 64 KiB");
	nph = (size_t)sfdp[6] + 1;
	for (size_t i = 0; i < nph; i++) {
		const uint8_t *ph = sfdp + 8 + 8 * i;
		uint16_t id;
		size_t ptr, dws;

		if (8 + 8 * i + 8 > len)
			break;
		id = (uint16_t)(ph[7] << 8 | ph[0]);
		dws = ph[3];
		ptr = get_le24(ph + 4);
		if (!dws || ptr + dws * 4 > len)
			continue;
		if (id == 0xFF00 && !bfpt) {
			bfpt = sfdp + ptr;
			bfpt_dw = dws;
		} else if (id == 0xFF84 && dws >= 2) {
			bait = sfdp + ptr;
		}
	}
	if (!bfpt || bfpt_dw < 9)
		return fail(err, errlen, "no basic flash parameter table of at least 9 DWORDs");
	dw1 = get_le32(bfpt);
	dw2 = get_le32(bfpt + 4);
	bits = (dw2 & 0x80000000u) ? ((dw2 & 0x7FFFFFFFu) < 63 ? 1ull << (dw2 & 0x7FFFFFFFu) : 0)
				   : (uint64_t)dw2 + 1;
	/* the chip model pages its image in 64 KiB blocks, and every part is a power of two */
	if (bits < 8 * KIB(64) || bits > 8ull * MIB(256) || (bits & (bits - 1)))
		return fail(err, errlen, "implausible density (%llu bits)",
			    (unsigned long long)bits);

	p = calloc(1, sizeof(*p));
	copy = malloc(len);
	if (!p || !copy) {
		free(p);
		free(copy);
		return fail(err, errlen, "out of memory");
	}
	memcpy(copy, sfdp, len);
	snprintf(p->name, sizeof(p->name), "SFDP-%06x", jedec_id & 0xFFFFFF);
	snprintf(p->desc, sizeof(p->desc), "from an SFDP dump, %llu KiB",
		 (unsigned long long)(bits / 8 / 1024));
	p->jedec_id = jedec_id & 0xFFFFFF;
	p->size = (uint32_t)(bits / 8);
	p->page = 256;
	p->read_max_hz = 50000000;
	p->fast_max_hz = 104000000;
	p->mv_min = 1650;
	p->mv_max = 3600;
	p->tw_typ_us = 10000;
	p->tw_max_us = 15000;
	p->pp_typ_us = 700;
	p->pp_max_us = 5000;
	p->ce_typ_ms = 100000;
	p->ce_max_ms = 400000;
	p->sr1_wmask = 0xFC;
	if (bfpt_dw >= 10)
		mult = 2 * ((get_le32(bfpt + 36) & 0xF) + 1);
	for (unsigned t = 0; t < 4; t++) {
		uint32_t d = get_le32(bfpt + 28 + 4 * (t / 2)) >> (16 * (t % 2));
		uint8_t n = (uint8_t)d, op = (uint8_t)(d >> 8);
		struct sim_erase e = {.op = op};
		unsigned k;

		if (n < 9 || n > 24 || op == 0 || op == 0xFF || (1u << n) > bits / 8)
			continue;
		e.size = 1u << n;
		e.typ_us = bfpt_dw >= 10 ? erase_time_us(get_le32(bfpt + 36) >> (4 + 7 * t)) : 100000;
		e.max_us = e.typ_us * mult;
		if (bait && (get_le32(bait) & (1u << (9 + t))))
			e.op4 = (uint8_t)(get_le32(bait + 4) >> (8 * t));
		/* keep sorted, one entry per size */
		for (k = 0; k < p->n_erase && p->erase[k].size != e.size; k++)
			;
		if (k < p->n_erase)
			continue;
		for (k = p->n_erase; k > 0 && p->erase[k - 1].size > e.size; k--)
			p->erase[k] = p->erase[k - 1];
		p->erase[k] = e;
		p->n_erase++;
	}
	if (!p->n_erase) {
		free(p);
		free(copy);
		return fail(err, errlen, "the dump lists no usable erase type");
	}
	if (bfpt_dw >= 11) {
		uint32_t dw11 = get_le32(bfpt + 40);
		uint32_t pmult = 2 * ((dw11 & 0xF) + 1), n = (dw11 >> 4) & 0xF;
		static const uint32_t ce_unit_ms[4] = {16, 256, 4000, 64000};

		if (n >= 4 && n <= 8)
			p->page = 1u << n;
		p->pp_typ_us = (((dw11 >> 8) & 0x1F) + 1) * ((dw11 & (1u << 13)) ? 64u : 8u);
		p->pp_max_us = p->pp_typ_us * pmult;
		p->ce_typ_ms = (((dw11 >> 24) & 0x1F) + 1) * ce_unit_ms[(dw11 >> 29) & 3];
		/* JESD216: DWORD 10's multiplier covers erases, chip erase included; DWORD 11's
		 * only page and byte program (as src/chip/sfdp.c reads it too) */
		p->ce_max_ms = p->ce_typ_ms * mult;
	}
	if (((dw1 >> 17) & 3) == 1 || p->size > MIB(16))
		p->flags |= SIMF_EN4B;
	if (bait && (get_le32(bait) & 0x41u) == 0x41u)
		p->flags |= SIMF_4B_OPS;
	p->sfdp = copy;
	p->sfdp_len = len;
	p->owned = true;
	*ret = p;
	return 0;
}

void sim_profile_free(struct sim_profile *p)
{
	if (!p || !p->owned)
		return;
	free((void *)p->sfdp);
	free(p);
}
