/* SPDX-License-Identifier: MIT */
/*
 * simprofiles.c - the simulated parts, each from its vendor datasheet, written independently of
 * src/chip/chipdb.c so that a wrong entry on either side fails the cross tests instead of
 * agreeing with itself.
 *
 * Times are typical/maximum from the datasheets' AC characteristics tables; BP tables from the
 * status register sections. Parts with a real SFDP dump in shared/sfdp answer with it; the
 * others answer with a JESD216B table generated from the profile (sim_sfdp_generate).
 */
#include <string.h>
#include <strings.h>

#include "sim_dumps.h"
#include "sim_private.h"
#include "util.h"

#define K KIB(1)
#define M MIB(1)

/* Winbond W25Q family: SR1 BP0-2 (bits 2-4), TB 5, SEC 6, SRP 7; SR2 CMP bit 6. */
#define WINBOND_3BP .bp_mask = 0x1C, .tb = SB(1, 5), .sec = SB(1, 6), .cmp = SB(2, 6), .srp0 = SB(1, 7)
/* Winbond 256/512 Mbit: BP0-3 (bits 2-5), TB 6, SRP 7; CMP in SR2 bit 6. */
#define WINBOND_4BP .bp_mask = 0x3C, .tb = SB(1, 6), .cmp = SB(2, 6), .srp0 = SB(1, 7)

const struct sim_profile sim_builtin_profiles[] = {
	{
		/* Winbond W25Q128JV-IQ/JQ, datasheet rev. F (2018): 8.1 status registers,
		 * 8.2.2 write enable for volatile status register (50h), 9.6 AC electrical
		 * characteristics (tPP, tSE, tBE1, tBE2, tCE, tW). */
		.name = "W25Q128JV",
		.desc = "Winbond 16 MiB 3.3 V",
		.jedec_id = 0xef4018,
		.size = 16 * M,
		.page = 256,
		.n_erase = 3,
		.erase = {{0x20, 0, 4 * K, 45000, 400000},
			  {0x52, 0, 32 * K, 120000, 1600000},
			  {0xD8, 0, 64 * K, 150000, 2000000}},
		.ce_typ_ms = 40000,
		.ce_max_ms = 200000,
		.pp_typ_us = 400,
		.pp_max_us = 3000,
		.tw_typ_us = 10000,
		.tw_max_us = 15000,
		.read_max_hz = 50000000,
		.fast_max_hz = 133000000,
		.mv_min = 2700,
		.mv_max = 3600,
		.flags = SIMF_SR2 | SIMF_WRSR_31 | SIMF_SR3 | SIMF_WRSR_2 | SIMF_VSR_50,
		WINBOND_3BP,
		.bp_unit = 256 * K,
		.sr2_init = 0x02, /* QE set at the factory on -IQ parts */
		.sr3_init = 0x60, /* driver strength 25 % */
		.sfdp = sim_sfdp_w25q128jv,
		.sfdp_len = sizeof(sim_sfdp_w25q128jv),
		.sr1_wmask = 0xFC,
	},
	{
		/* Winbond W25Q256JV, datasheet rev. G: 8.1 (SR3 ADS/ADP), 8.2.4x 4-byte
		 * instructions 13h 0Ch 12h 21h DCh, 9.6 AC characteristics. */
		.name = "W25Q256JV",
		.desc = "Winbond 32 MiB 3.3 V, 4-byte addressing",
		.jedec_id = 0xef4019,
		.size = 32 * M,
		.page = 256,
		.n_erase = 3,
		.erase = {{0x20, 0x21, 4 * K, 45000, 400000},
			  {0x52, 0, 32 * K, 120000, 1600000},
			  {0xD8, 0xDC, 64 * K, 150000, 2000000}},
		.ce_typ_ms = 80000,
		.ce_max_ms = 400000,
		.pp_typ_us = 400,
		.pp_max_us = 3000,
		.tw_typ_us = 10000,
		.tw_max_us = 15000,
		.read_max_hz = 50000000,
		.fast_max_hz = 133000000,
		.mv_min = 2700,
		.mv_max = 3600,
		.flags = SIMF_SR2 | SIMF_WRSR_31 | SIMF_SR3 | SIMF_WRSR_2 | SIMF_VSR_50 |
			 SIMF_4B_OPS | SIMF_EN4B | SIMF_ADS,
		WINBOND_4BP,
		.bp_unit = 64 * K,
		.sr2_init = 0x02,
		.sr1_wmask = 0xFC,
	},
	{
		/* Macronix MX25L12835F, datasheet rev. 1.6: status register (BP0-3, QE, SRWD),
		 * configuration register (TB bit 3, OTP), table "ERASE AND PROGRAMMING
		 * PERFORMANCE". */
		.name = "MX25L12835F",
		.desc = "Macronix 16 MiB 3.3 V",
		.jedec_id = 0xc22018,
		.size = 16 * M,
		.page = 256,
		.n_erase = 3,
		.erase = {{0x20, 0, 4 * K, 40000, 200000},
			  {0x52, 0, 32 * K, 200000, 1000000},
			  {0xD8, 0, 64 * K, 400000, 2000000}},
		.ce_typ_ms = 50000,
		.ce_max_ms = 80000,
		.pp_typ_us = 330,
		.pp_max_us = 1200,
		.tw_typ_us = 40000,
		.tw_max_us = 40000,
		.read_max_hz = 50000000,
		.fast_max_hz = 133000000,
		.mv_min = 2700,
		.mv_max = 3600,
		.flags = SIMF_MX_CR | SIMF_WRSR_2,
		.bp_mask = 0x3C,
		.tb = SB(4, 3),
		.srp0 = SB(1, 7),
		.bp_unit = 64 * K,
		.sr1_wmask = 0xFC,
		.cr_wmask = 0xCF, /* ODS0-2, TB, DC0-1 */
		.cr_otp = 0x08,
	},
	{
		/* Macronix MX25L25645G, datasheet rev. 1.4: 4-byte instructions 13h 0Ch 12h 21h
		 * 5Ch DCh, EN4B/EX4B, configuration register TB (OTP) and 4BYTE (bit 5, read-only,
		 * 1 in 4-byte address mode). */
		.name = "MX25L25645G",
		.desc = "Macronix 32 MiB 3.3 V, 4-byte opcodes",
		.jedec_id = 0xc22019,
		.size = 32 * M,
		.page = 256,
		.n_erase = 3,
		.erase = {{0x20, 0x21, 4 * K, 30000, 400000},
			  {0x52, 0x5C, 32 * K, 150000, 1000000},
			  {0xD8, 0xDC, 64 * K, 280000, 2000000}},
		.ce_typ_ms = 80000,
		.ce_max_ms = 150000,
		.pp_typ_us = 150,
		.pp_max_us = 750,
		.tw_typ_us = 40000,
		.tw_max_us = 40000,
		.read_max_hz = 50000000,
		.fast_max_hz = 133000000,
		.mv_min = 2700,
		.mv_max = 3600,
		.flags = SIMF_MX_CR | SIMF_WRSR_2 | SIMF_4B_OPS | SIMF_EN4B | SIMF_MX_4BYTE,
		.bp_mask = 0x3C,
		.tb = SB(4, 3),
		.srp0 = SB(1, 7),
		.bp_unit = 64 * K,
		.sfdp = sim_sfdp_mx25l25645g,
		.sfdp_len = sizeof(sim_sfdp_mx25l25645g),
		.sr1_wmask = 0xFC,
		.cr_wmask = 0xCF, /* ODS0-2, TB, DC0-1 */
		.cr_otp = 0x08,
	},
	{
		/* GigaDevice GD25Q64C, datasheet rev. 2.7: SR0-15 (BP0-4 with BP3 = TB, BP4 =
		 * SEC semantics, CMP bit 14), AC characteristics. */
		.name = "GD25Q64C",
		.desc = "GigaDevice 8 MiB 3.3 V",
		.jedec_id = 0xc84017,
		.size = 8 * M,
		.page = 256,
		.n_erase = 3,
		.erase = {{0x20, 0, 4 * K, 50000, 400000},
			  {0x52, 0, 32 * K, 150000, 800000},
			  {0xD8, 0, 64 * K, 250000, 1200000}},
		.ce_typ_ms = 25000,
		.ce_max_ms = 60000,
		.pp_typ_us = 600,
		.pp_max_us = 2400,
		.tw_typ_us = 5000,
		.tw_max_us = 30000,
		.read_max_hz = 80000000,
		.fast_max_hz = 120000000,
		.mv_min = 2700,
		.mv_max = 3600,
		.flags = SIMF_SR2 | SIMF_WRSR_31 | SIMF_SR3 | SIMF_WRSR_2 | SIMF_VSR_50,
		.bp_mask = 0x1C,
		.tb = SB(1, 5),
		.sec = SB(1, 6),
		.cmp = SB(2, 6),
		.srp0 = SB(1, 7),
		.bp_unit = 128 * K,
		.sr1_wmask = 0xFC,
	},
	{
		/* Microchip SST25VF016B, DS20005044: byte program 02h + AAI word program ADh,
		 * EWSR 50h, status register (BP0-3, AAI, BPL), BP set at power-up, tSE = tBE =
		 * 25 ms max, tSCE 50 ms, tBP 10 us. No SFDP: the part predates JESD216. */
		.name = "SST25VF016B",
		.desc = "SST/Microchip 2 MiB 3.3 V, AAI word program",
		.jedec_id = 0xbf2541,
		.size = 2 * M,
		.page = 1,
		.n_erase = 3,
		.erase = {{0x20, 0, 4 * K, 18000, 25000},
			  {0x52, 0, 32 * K, 18000, 25000},
			  {0xD8, 0, 64 * K, 18000, 25000}},
		.ce_typ_ms = 35,
		.ce_max_ms = 50,
		.pp_typ_us = 7,
		.pp_max_us = 10,
		.tw_typ_us = 0,
		.tw_max_us = 0,
		.read_max_hz = 25000000,
		.fast_max_hz = 50000000,
		.mv_min = 2700,
		.mv_max = 3600,
		.flags = SIMF_SST_AAI | SIMF_EWSR | SIMF_NO_SFDP,
		.bp_mask = 0x3C,
		.srp0 = SB(1, 7),
		.bp_unit = 64 * K,
		.sr1_init = 0x1C, /* BP0-2 set: everything protected after power-up */
		.sr1_wmask = 0xBC, /* BP0-3 and BPL; AAI (bit 6) is read-only */
	},
	{
		/* Microchip SST26VF064B, DS20005119: block-protection register (RDBPR 72h, WBPR
		 * 42h, ULBPR 98h), all blocks write-locked after power-up, tSE/tBE 25 ms max,
		 * tPP 1.5 ms max. Block-Erase D8h erases 8, 32 or 64 KiB depending on where the
		 * address falls (Table 3-1); the 64 KiB entry stands for all three. */
		.name = "SST26VF064B",
		.desc = "SST/Microchip 8 MiB 3.3 V, block-protection register",
		.jedec_id = 0xbf2643,
		.size = 8 * M,
		.page = 256,
		.n_erase = 2,
		.erase = {{0x20, 0, 4 * K, 18000, 25000}, {0xD8, 0, 64 * K, 18000, 25000}},
		.ce_typ_ms = 35,
		.ce_max_ms = 50,
		.pp_typ_us = 1000,
		.pp_max_us = 1500,
		.tw_typ_us = 0,
		.tw_max_us = 0,
		.read_max_hz = 40000000,
		.fast_max_hz = 104000000,
		.mv_min = 2700,
		.mv_max = 3600,
		.flags = SIMF_SST26 | SIMF_WRSR_2 | SIMF_CE_C7_ONLY,
		.sfdp = sim_sfdp_sst26vf064b,
		.sfdp_len = sizeof(sim_sfdp_sst26vf064b),
		.sr1_wmask = 0x00, /* Table 5-2: every status bit is read-only */
		.cr_init = 0x08, /* BPNV: no block locked for good */
		.cr_wmask = 0x82, /* Table 5-3: IOC and WPEN */
	},
	{
		/* ISSI IS25WP256D, datasheet rev. A: 1.65-1.95 V, 4-byte instructions, BP0-3,
		 * TB in the function register (OTP, default top). EN4B B7h, EX4B 29h (not E9h:
		 * its SFDP DWORD 16 offers no E9h exit either). */
		.name = "IS25WP256D",
		.desc = "ISSI 32 MiB 1.8 V",
		.jedec_id = 0x9d7019,
		.size = 32 * M,
		.page = 256,
		.n_erase = 4,
		.erase = {{0x20, 0x21, 4 * K, 70000, 300000},
			  {0xD7, 0, 4 * K, 70000, 300000}, /* SER is D7h or 20h */
			  {0x52, 0x5C, 32 * K, 100000, 500000},
			  {0xD8, 0xDC, 64 * K, 150000, 1000000}},
		.ce_typ_ms = 80000,
		.ce_max_ms = 300000,
		.pp_typ_us = 200,
		.pp_max_us = 800,
		.tw_typ_us = 2000,
		.tw_max_us = 15000,
		.read_max_hz = 50000000,
		.fast_max_hz = 133000000,
		.mv_min = 1650,
		.mv_max = 1950,
		.flags = SIMF_4B_OPS | SIMF_EN4B | SIMF_EX4B_29,
		.bp_mask = 0x3C,
		.srp0 = SB(1, 7),
		.bp_unit = 64 * K,
		.sfdp = sim_sfdp_is25wp256,
		.sfdp_len = sizeof(sim_sfdp_is25wp256),
		.sr1_wmask = 0xFC,
	},
	{
		/* Micron MT25QL256ABA, datasheet rev. K: flag status register (ready, erase,
		 * program, protection error bits), EN4B/EX4B after WRITE ENABLE, BP0-3 with BP3
		 * at bit 6 and TB at bit 5. */
		.name = "MT25QL256",
		.desc = "Micron 32 MiB 3.3 V, flag status register",
		.jedec_id = 0x20ba19,
		.size = 32 * M,
		.page = 256,
		.n_erase = 3,
		.erase = {{0x20, 0x21, 4 * K, 50000, 400000},
			  {0x52, 0x5C, 32 * K, 100000, 1000000},
			  {0xD8, 0xDC, 64 * K, 150000, 1000000}},
		.ce_typ_ms = 153000,
		.ce_max_ms = 460000,
		.pp_typ_us = 120,
		.pp_max_us = 1800,
		.tw_typ_us = 1300,
		.tw_max_us = 8000,
		.read_max_hz = 54000000,
		.fast_max_hz = 133000000,
		.mv_min = 2700,
		.mv_max = 3600,
		.flags = SIMF_4B_OPS | SIMF_EN4B | SIMF_EN4B_WREN | SIMF_FSR,
		.bp_mask = 0x5C,
		.tb = SB(1, 5),
		.srp0 = SB(1, 7),
		.bp_unit = 64 * K,
		.sr1_wmask = 0xFC,
	},
	{
		/* Winbond W25Q512JV, datasheet rev. B: 4-byte instructions, BP0-3 + TB. */
		.name = "W25Q512JV",
		.desc = "Winbond 64 MiB 3.3 V, 4-byte addressing",
		.jedec_id = 0xef4020,
		.size = 64 * M,
		.page = 256,
		.n_erase = 3,
		.erase = {{0x20, 0x21, 4 * K, 45000, 400000},
			  {0x52, 0, 32 * K, 120000, 1600000},
			  {0xD8, 0xDC, 64 * K, 150000, 2000000}},
		.ce_typ_ms = 200000,
		.ce_max_ms = 400000,
		.pp_typ_us = 400,
		.pp_max_us = 3000,
		.tw_typ_us = 10000,
		.tw_max_us = 15000,
		.read_max_hz = 50000000,
		.fast_max_hz = 133000000,
		.mv_min = 2700,
		.mv_max = 3600,
		.flags = SIMF_SR2 | SIMF_WRSR_31 | SIMF_SR3 | SIMF_WRSR_2 | SIMF_VSR_50 |
			 SIMF_4B_OPS | SIMF_EN4B | SIMF_ADS,
		WINBOND_4BP,
		.bp_unit = 128 * K,
		.sr2_init = 0x02,
		.sr1_wmask = 0xFC,
	},
	{
		/* No such part: a JEDEC ID no database lists, described only by its SFDP, so
		 * probing must fall back to the parser. W25Q128JV-like geometry and times. */
		.name = "SFDP-ONLY",
		.desc = "unknown vendor 16 MiB, described only by SFDP",
		.jedec_id = 0xa5a518,
		.size = 16 * M,
		.page = 256,
		.n_erase = 3,
		.erase = {{0x20, 0, 4 * K, 45000, 400000},
			  {0x52, 0, 32 * K, 120000, 1600000},
			  {0xD8, 0, 64 * K, 150000, 2000000}},
		.ce_typ_ms = 40000,
		.ce_max_ms = 200000,
		.pp_typ_us = 400,
		.pp_max_us = 3000,
		.tw_typ_us = 10000,
		.tw_max_us = 15000,
		.read_max_hz = 50000000,
		.fast_max_hz = 133000000,
		.mv_min = 2700,
		.mv_max = 3600,
		.sr1_wmask = 0xFC,
	},
};

const size_t sim_builtin_count = ARRAY_SIZE(sim_builtin_profiles);

size_t sim_profile_count(void)
{
	return sim_builtin_count;
}

const struct sim_profile *sim_profile_at(size_t i)
{
	return i < sim_builtin_count ? &sim_builtin_profiles[i] : NULL;
}

const struct sim_profile *sim_profile_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sim_builtin_count; i++)
		if (strcasecmp(name, sim_builtin_profiles[i].name) == 0)
			return &sim_builtin_profiles[i];
	return NULL;
}

const char *sim_profile_name(const struct sim_profile *p)
{
	return p->name;
}

const char *sim_profile_description(const struct sim_profile *p)
{
	return p->desc;
}

uint32_t sim_profile_size(const struct sim_profile *p)
{
	return p->size;
}

uint32_t sim_profile_jedec_id(const struct sim_profile *p)
{
	return p->jedec_id;
}

/* ---- SFDP: generate (JESD216B layout) ---- */

/* Encode a typical erase time as (count, unit) for BFPT DWORD 10. */
static const uint32_t erase_unit_ms[4] = {1, 16, 128, 1000};
static const uint32_t ce_unit_ms[4] = {16, 256, 4000, 64000};

static uint32_t enc_erase_time(uint32_t us)
{
	const uint32_t *unit_ms = erase_unit_ms;
	uint32_t ms = us ? (us + 999) / 1000 : 1;

	for (uint32_t u = 0; u < 4; u++) {
		uint32_t count = (ms + unit_ms[u] - 1) / unit_ms[u];

		if (count >= 1 && count <= 32)
			return ((count - 1) & 0x1F) | (u << 5);
	}
	return 0x1F | (3u << 5);
}

/*
 * Chip erase typical time for BFPT DWORD 11 bits 30:24: (count + 1) x {16 ms, 256 ms, 4 s,
 * 64 s}, count 0..31. The smallest unit that holds the time, rounded up, so a host's timeout
 * is never shorter than the part needs: 153 s (MT25QL256) cannot be said and becomes 3 x 64 s
 * = 192 s, 200 s (W25Q512JV) 4 x 64 s. Past 32 x 64 s (2048 s) it saturates there.
 */
static uint32_t enc_chip_erase_time(uint32_t ms)
{
	const uint32_t *unit_ms = ce_unit_ms;

	for (uint32_t u = 0; u < 4; u++) {
		uint32_t count = ms ? (ms + unit_ms[u] - 1) / unit_ms[u] : 1;

		if (count <= 32)
			return (count - 1) | (u << 5);
	}
	return 31u | (3u << 5);
}

/* What a host reads back from an encoded time: (count + 1) x unit, in microseconds. */
static uint64_t dec_time_us(uint32_t field, const uint32_t *unit_ms)
{
	return (uint64_t)((field & 0x1F) + 1) * unit_ms[(field >> 5) & 3] * 1000u;
}

/*
 * The 4-bit multiplier field N (maximum = 2 x (N + 1) x typical) that makes the advertised
 * maximum at least max_us for a typical time advertised as adv_typ_us; raises *n to it.
 */
static void need_mult(uint32_t *n, uint64_t adv_typ_us, uint64_t max_us)
{
	while (*n < 15 && 2 * (*n + 1) * adv_typ_us < max_us)
		(*n)++;
}

size_t sim_sfdp_generate(const struct sim_profile *p, uint8_t *buf, size_t len)
{
	const bool bait = p->flags & SIMF_4B_OPS;
	const size_t bfpt_at = 0x30, bait_at = 0x30 + 16 * 4, total = bait ? bait_at + 8 : bait_at;
	uint32_t dw[16];
	uint32_t pp_count, emult = 0, pmult = 0, ce;

	if (len < total)
		return 0;
	memset(buf, 0xFF, total);
	memcpy(buf, "SFDP", 4);
	buf[4] = 6; /* minor: JESD216B */
	buf[5] = 1;
	buf[6] = bait ? 1 : 0; /* NPH - 1 */
	buf[7] = 0xFF;
	/* parameter header 0: BFPT, 16 DWORDs */
	buf[8] = 0x00;
	buf[9] = 6;
	buf[10] = 1;
	buf[11] = 16;
	buf[12] = (uint8_t)bfpt_at;
	buf[13] = 0;
	buf[14] = 0;
	buf[15] = 0xFF;
	if (bait) {
		buf[16] = 0x84;
		buf[17] = 0;
		buf[18] = 1;
		buf[19] = 2;
		buf[20] = (uint8_t)bait_at;
		buf[21] = 0;
		buf[22] = 0;
		buf[23] = 0xFF;
	}

	memset(dw, 0, sizeof(dw));
	dw[0] = 0xFFF00000u | 0x1u /* 4 KiB erase */ | 0x4u /* page >= 64 */;
	for (unsigned i = 0; i < p->n_erase; i++)
		if (p->erase[i].size == 4096)
			dw[0] = (dw[0] & ~0xFF00u) | ((uint32_t)p->erase[i].op << 8);
	if (p->size > MIB(16))
		dw[0] |= (p->flags & (SIMF_EN4B | SIMF_4B_OPS)) ? (1u << 17) : (2u << 17);
	dw[1] = (uint32_t)((uint64_t)p->size * 8 - 1);
	dw[4] = 0xFFFFFFEEu;
	dw[5] = 0xFFFF0000u;
	dw[6] = 0xFFFF0000u;
	dw[7] = 0;
	dw[8] = 0;
	for (unsigned i = 0; i < p->n_erase && i < 4; i++) {
		uint32_t n = (uint32_t)__builtin_ctz(p->erase[i].size);
		uint32_t field = n | ((uint32_t)p->erase[i].op << 8);

		if (i < 2)
			dw[7] |= field << (16 * i);
		else
			dw[8] |= field << (16 * (i - 2));
	}
	/* DWORD 10: typical erase times and one multiplier for every erase and chip erase,
	 * the smallest that covers each datasheet maximum, so a host's timeouts hold */
	ce = enc_chip_erase_time(p->ce_typ_ms);
	need_mult(&emult, dec_time_us(ce, ce_unit_ms), (uint64_t)p->ce_max_ms * 1000u);
	dw[9] = 0;
	for (unsigned i = 0; i < p->n_erase && i < 4; i++) {
		uint32_t f = enc_erase_time(p->erase[i].typ_us);

		need_mult(&emult, dec_time_us(f, erase_unit_ms), p->erase[i].max_us);
		dw[9] |= f << (4 + 7 * i);
	}
	dw[9] |= emult;
	/* DWORD 11: program multiplier, page size, page program typical in 8 or 64 us units,
	 * chip erase */
	pp_count = p->pp_typ_us <= 256 ? (p->pp_typ_us + 7) / 8 : (p->pp_typ_us + 63) / 64;
	pp_count = MIN(pp_count ? pp_count - 1 : 0, 31u);
	need_mult(&pmult, (uint64_t)(pp_count + 1) * (p->pp_typ_us > 256 ? 64u : 8u),
		  p->pp_max_us);
	dw[10] = pmult | ((uint32_t)__builtin_ctz(p->page > 1 ? p->page : 256) << 4) |
		 (pp_count << 8) | ((p->pp_typ_us > 256 ? 1u : 0u) << 13) | (ce << 24);
	dw[13] = 0xFFFFFFFFu;
	/* DWORD 16, enter 4-byte addressing (31:24): bit 24 B7h, bit 25 WREN then B7h, bit 29
	 * dedicated 4-byte opcodes; exit (23:14): bit 14 E9h, bit 15 WREN then E9h. A part
	 * that needs WREN must not claim the plain form: a host would take the first. */
	dw[15] = 0;
	if (p->flags & SIMF_EN4B)
		dw[15] |= (p->flags & SIMF_EN4B_WREN) ? (1u << 25) | (1u << 15)
						      : (1u << 24) | (1u << 14);
	if (p->flags & SIMF_4B_OPS)
		dw[15] |= 1u << 29;
	for (unsigned i = 0; i < 16; i++)
		put_le32(buf + bfpt_at + 4 * i, dw[i]);
	if (bait) {
		uint32_t support = 0x1u | 0x2u | 0x40u, ops = 0xFFFFFFFFu;

		for (unsigned i = 0; i < p->n_erase && i < 4; i++) {
			if (!p->erase[i].op4)
				continue;
			support |= 1u << (9 + i);
			ops = (ops & ~(0xFFu << (8 * i))) | ((uint32_t)p->erase[i].op4 << (8 * i));
		}
		put_le32(buf + bait_at, support);
		put_le32(buf + bait_at + 4, ops);
	}
	return total;
}
