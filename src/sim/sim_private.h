/* SPDX-License-Identifier: MIT */
/* sim_private.h - the simulator's profile record, shared by simprofiles.c and simchip.c. */
#ifndef FLASHD_SIM_PRIVATE_H
#define FLASHD_SIM_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "simchip.h"

enum {
	SIMF_4B_OPS = 1u << 0,	 /* 0x13 0x0C 0x12 and 4-byte erase opcodes */
	SIMF_EN4B = 1u << 1,	 /* EN4B 0xB7 / EX4B 0xE9 (0x29 with SIMF_EX4B_29) */
	SIMF_EN4B_WREN = 1u << 2, /* EN4B/EX4B need WEL (Micron) */
	SIMF_FSR = 1u << 3,	 /* flag status register 0x70, cleared by 0x50 */
	SIMF_SST_AAI = 1u << 4,	 /* byte program + AAI word program, no page program */
	SIMF_EWSR = 1u << 5,	 /* 0x50 enables the next WRSR */
	SIMF_SR2 = 1u << 6,	 /* 0x35 reads SR2 */
	SIMF_WRSR_31 = 1u << 7,	 /* 0x31 writes SR2 */
	SIMF_SR3 = 1u << 8,	 /* 0x15 / 0x11 */
	SIMF_MX_CR = 1u << 9,	 /* Macronix configuration register: 0x15 reads, WRSR byte 2 */
	SIMF_SST26 = 1u << 10,	 /* BPR 0x72/0x42, ULBPR 0x98; 0x35 reads CR, WRSR byte 2 */
	SIMF_WRSR_2 = 1u << 11,	 /* WRSR 0x01 accepts a second byte (SR2 or CR) */
	SIMF_ADS = 1u << 12,	 /* SR3 bit 0 mirrors the address mode (Winbond) */
	SIMF_CE_C7_ONLY = 1u << 13, /* chip erase is C7h; 60h is no command (SST26) */
	SIMF_EX4B_29 = 1u << 14,    /* EX4B is 29h, E9h is no command (ISSI) */
	SIMF_NO_SFDP = 1u << 15,    /* predates JESD216: 5Ah is no command */
	SIMF_VSR_50 = 1u << 16,	    /* 50h: the next status write is volatile, needs no WEL */
	SIMF_MX_4BYTE = 1u << 17,   /* Macronix CR bit 5 (4BYTE) reads the address mode */
};

/* Register bit: reg 1..3 in the high nibble, bit in the low three; reg 4 = Macronix CR. */
#define SB(reg, bit) ((uint8_t)(((reg) << 4) | (bit)))

struct sim_erase {
	uint8_t op, op4;
	uint32_t size;
	uint32_t typ_us, max_us;
};

struct sim_profile {
	char name[32];
	char desc[64];
	uint32_t jedec_id;
	uint32_t size;
	uint32_t page;
	uint8_t n_erase;
	struct sim_erase erase[4];
	uint32_t ce_typ_ms, ce_max_ms;
	uint32_t pp_typ_us, pp_max_us; /* page program, or byte/word program for SST AAI */
	uint32_t tw_typ_us, tw_max_us; /* status register write */
	uint32_t read_max_hz, fast_max_hz;
	uint16_t mv_min, mv_max;
	uint32_t flags;
	/* protection: BP field in SR1, modifiers anywhere */
	uint8_t bp_mask;
	uint8_t tb, sec, cmp, srp0; /* SB() positions, 0 = absent */
	uint32_t bp_unit;	    /* bytes at BP == 1 */
	uint8_t sr1_init, sr2_init, sr3_init, cr_init;
	/* bits a status write may change in SR1 and in the configuration register (Macronix CR
	 * through WRSR's second byte, SST26 CR read with 35h); the rest are read-only. Bits in
	 * cr_otp can be set but never cleared (Macronix TB). */
	uint8_t sr1_wmask, cr_wmask, cr_otp;
	const uint8_t *sfdp;
	size_t sfdp_len;
	bool owned; /* from sim_profile_from_sfdp: sfdp is ours to free */
};

extern const struct sim_profile sim_builtin_profiles[];
extern const size_t sim_builtin_count;

/* Build a JESD216 SFDP blob (header, BFPT, 4BAIT when the part has 4-byte opcodes). */
size_t sim_sfdp_generate(const struct sim_profile *p, uint8_t *buf, size_t len);

#endif
