/* SPDX-License-Identifier: MIT */
/*
 * chip_info.h - the description of one SPI NOR part: a plain value record (STYLE A2) shared by
 * the chip database, the SFDP parser, probing, the command layer and everything above.
 *
 * Times are datasheet typical and maximum values in microseconds. Erase types are sorted by
 * ascending size. A field that is 0 is unknown, not "instant".
 */
#ifndef FLASHD_CHIP_INFO_H
#define FLASHD_CHIP_INFO_H

#include <stdbool.h>
#include <stdint.h>

#define CHIP_MAX_ERASE_TYPES 4
#define CHIP_NAME_MAX 32

struct chip_erase_type {
	uint32_t size;	   /* bytes, power of two; the erase is aligned to it */
	uint8_t opcode;	   /* 3-byte-address (or current mode) opcode, e.g. 0x20 */
	uint8_t opcode_4b; /* dedicated 4-byte-address opcode (0x21, 0x5C, 0xDC), 0 if none */
	uint32_t typ_us;
	uint32_t max_us;
};

enum chip_addr_mode {
	CHIP_ADDR_3B,	   /* 3-byte only (<= 16 MiB) */
	CHIP_ADDR_3B_4B,   /* powers up in 3-byte mode, can switch or has 4-byte opcodes */
	CHIP_ADDR_4B_ONLY, /* always 4-byte addresses */
	_CHIP_ADDR_MAX,
};

/* How the chip protects itself from writes; decides how protect.c reads and clears it. */
enum chip_protect_scheme {
	CHIP_PROT_NONE,
	CHIP_PROT_BP,	 /* BP bits (+TB/SEC/CMP where present) in the status registers */
	CHIP_PROT_SST26, /* SST26 block-protection register, ULBPR (0x98) clears it */
	/* Atmel/Adesto AT25DF: per-sector protection, SR1 SWP (bits 3:2) summarises it, SPRL
	 * (bit 7) locks it; WRSR 0x00 unprotects everything (global unprotect), 0x7F protects */
	CHIP_PROT_AT25_GLOBAL,
	/* Part known only from SFDP or the config: the BP field's meaning is unknown, so any of
	 * SR1 bits 2-5 set is taken to protect the whole chip (reported as such) */
	CHIP_PROT_SR1_UNKNOWN,
	_CHIP_PROT_MAX,
};

/*
 * Status register bit location: register index << 4 | bit (0..7); 0 = not present. Registers
 * 1..3 are SR1..SR3; 4 is the part's configuration register: the Macronix configuration
 * register (RDCR 0x15, CHIP_F_CR_MX) or the ISSI function register (RDFR 0x48, CHIP_F_FR_ISSI).
 */
#define CHIP_SRBIT(reg, bit) ((uint8_t)(((reg) << 4) | (bit)))
#define CHIP_SRBIT_REG(b) ((b) >> 4)
#define CHIP_SRBIT_POS(b) ((b)&0x7)

struct chip_protect_layout {
	enum chip_protect_scheme scheme;
	uint8_t bp_mask;  /* BP bits in SR1, e.g. 0x1C (BP0-2) or 0x3C (BP0-3) */
	uint8_t tb_bit;	  /* CHIP_SRBIT(); 0 if absent (then ranges grow from the top) */
	uint8_t sec_bit;  /* sector/block granularity bit (Winbond SEC), 0 if absent */
	uint8_t cmp_bit;  /* complement bit (Winbond/GigaDevice CMP), 0 if absent */
	uint8_t srp0_bit; /* status register protect 0 (with WP#), 0 if absent */
	uint8_t srp1_bit; /* status register protect 1 / lock, 0 if absent */
	uint8_t wps_bit;  /* Winbond WPS (SR3 bit 2): 1 = individual block locks replace BP */
	uint32_t bp_unit; /* bytes protected by BP == 1 (then doubling per step) */
	bool tb_otp;	  /* TB is one-time programmable (Macronix CR, ISSI FR): report, never write */
};

/* Quirk and capability flags. */
enum {
	CHIP_F_4B_OPCODES = 1u << 0,  /* has 0x13/0x0C/0x12/0x21/0xDC 4-byte-address opcodes */
	CHIP_F_EN4B = 1u << 1,	      /* EN4B 0xB7 / EX4B 0xE9 switch the address mode */
	CHIP_F_EN4B_WREN = 1u << 2,   /* EN4B/EX4B need WREN first (Micron) */
	CHIP_F_FSR = 1u << 3,	      /* flag status register (0x70) must be polled, 0x50 clears */
	CHIP_F_SST_AAI = 1u << 4,     /* no page program: byte program 0x02 + AAI word 0xAD */
	CHIP_F_EWSR = 1u << 5,	      /* WRSR needs EWSR (0x50) instead of WREN (SST25) */
	CHIP_F_SR2 = 1u << 6,	      /* SR2 read with 0x35 */
	CHIP_F_SR2_WRITE_31 = 1u << 7, /* SR2 written with 0x31 (else 2-byte WRSR 0x01) */
	CHIP_F_SR3 = 1u << 8,	      /* SR3 read 0x15 / written 0x11 */
	CHIP_F_SFDP = 1u << 9,	      /* answers RDSFDP 0x5A */
	CHIP_F_FAST_READ = 1u << 10,  /* 0x0B fast read with one dummy byte */
	CHIP_F_ULBPR = 1u << 11,      /* global block-protection unlock 0x98 */
	CHIP_F_CR_MX = 1u << 12,      /* Macronix configuration register via 0x15 */
	CHIP_F_FR_ISSI = 1u << 13,    /* ISSI function register via RDFR 0x48 (TB is OTP there) */
	CHIP_F_SR3_33 = 1u << 14,     /* SR3 read 0x33, written as WRSR 0x01's 3rd byte (S25FL1-K) */
};

enum chip_info_source {
	CHIP_SRC_DATABASE,
	CHIP_SRC_SFDP,
	CHIP_SRC_CONFIG, /* size and erase types given by the user */
	_CHIP_SRC_MAX,
};

struct chip_info {
	char name[CHIP_NAME_MAX];
	char vendor[CHIP_NAME_MAX];
	uint32_t jedec_id;   /* manufacturer << 16 | memory type << 8 | capacity */
	uint32_t size;	     /* bytes */
	uint32_t page_size;  /* bytes per page program (1 for byte-program-only parts) */
	uint8_t n_erase;
	struct chip_erase_type erase[CHIP_MAX_ERASE_TYPES]; /* ascending size */
	uint8_t chip_erase_opcode; /* 0x60 or 0xC7; 0 if none */
	uint32_t chip_erase_typ_ms;
	uint32_t chip_erase_max_ms;
	uint32_t page_program_typ_us;
	uint32_t page_program_max_us;
	uint32_t byte_program_typ_us; /* SST AAI / byte program */
	uint32_t byte_program_max_us;
	uint32_t write_status_typ_us; /* tW */
	uint32_t write_status_max_us;
	uint32_t max_clock_hz;	    /* fast read and everything else */
	uint32_t max_read_clock_hz; /* plain READ 0x03; above it use 0x0B */
	uint16_t voltage_min_mv;
	uint16_t voltage_max_mv;
	enum chip_addr_mode addr_mode;
	uint32_t flags; /* CHIP_F_* */
	struct chip_protect_layout protect;
	enum chip_info_source source;
	const char *datasheet; /* document the entry comes from (static string) or NULL */
};

#endif
