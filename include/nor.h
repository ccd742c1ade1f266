/* SPDX-License-Identifier: MIT */
/*
 * nor.h - an SPI NOR flash chip on a bus: the command set, waits with deadlines, address
 * modes, protection. Knows SPI NOR, not jobs or HTTP.
 *
 * A `struct nor` is made by nor_probe() (probe.c: JEDEC ID -> chip database -> SFDP) or, when the
 * caller already knows the part, nor_new(). It borrows the bus; it owns a copy of the
 * chip_info. Every operation either succeeds or returns -errno and records what failed in
 * nor_last_error() (operation, address, cause), so the layer above can report it without
 * guessing. Nothing here logs above debug level.
 *
 * Addressing: parts larger than 16 MiB use their dedicated 4-byte opcodes where the part has
 * them, else EN4B; nor_idle() always returns such a part to 3-byte mode so the target board
 * still boots from it.
 *
 * Threading: one thread (the worker) owns a nor and its bus; no internal locking.
 */
#ifndef FLASHD_NOR_H
#define FLASHD_NOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chip_info.h"

struct spibus;
struct nor;

/* SPI NOR opcodes we send. */
enum {
	NOR_OP_WRSR = 0x01,
	NOR_OP_PP = 0x02,
	NOR_OP_READ = 0x03,
	NOR_OP_WRDI = 0x04,
	NOR_OP_RDSR = 0x05,
	NOR_OP_WREN = 0x06,
	NOR_OP_FAST_READ = 0x0B,
	NOR_OP_FAST_READ_4B = 0x0C,
	NOR_OP_PP_4B = 0x12,
	NOR_OP_READ_4B = 0x13,
	NOR_OP_RDSR3 = 0x15, /* Winbond SR3; Macronix RDCR */
	NOR_OP_RDSR3_33 = 0x33, /* Spansion S25FL1-K SR3 */
	NOR_OP_AT25_PROTECT = 0x36, /* Atmel AT25DF protect sector */
	NOR_OP_AT25_RDSPR = 0x3C,   /* Atmel AT25DF read sector protection register */
	NOR_OP_WBPR = 0x42,	    /* SST26 write block-protection register */
	NOR_OP_RDFR = 0x48,	    /* ISSI read function register */
	NOR_OP_WRSR3 = 0x11,
	NOR_OP_SE = 0x20,
	NOR_OP_WRSR2 = 0x31,
	NOR_OP_RDSR2 = 0x35,
	NOR_OP_EWSR = 0x50, /* SST25 enable-write-status; Micron clear-FSR */
	NOR_OP_CLFSR = 0x50,
	NOR_OP_RDSFDP = 0x5A,
	NOR_OP_CE = 0x60,
	NOR_OP_RDFSR = 0x70,
	NOR_OP_RDBPR = 0x72,
	NOR_OP_ULBPR = 0x98,
	NOR_OP_RDID = 0x9F,
	NOR_OP_AAI_WP = 0xAD,
	NOR_OP_EN4B = 0xB7,
	NOR_OP_CE_C7 = 0xC7,
	NOR_OP_EX4B = 0xE9,
};

/* Status register 1 bits common to every part. */
#define NOR_SR_WIP 0x01
#define NOR_SR_WEL 0x02

/* Micron flag status register. */
#define NOR_FSR_READY 0x80
#define NOR_FSR_ERASE_ERR 0x20
#define NOR_FSR_PROGRAM_ERR 0x10
#define NOR_FSR_PROT_ERR 0x02

struct nor_error {
	int code;     /* negative errno, 0 when there was no error */
	char op[24];  /* "erase", "program", "read", "wait", "unlock", ... */
	uint32_t addr;
	bool has_addr;
	char detail[320];
};

struct nor_range {
	uint32_t addr;
	uint32_t len;
};

#define NOR_MAX_PROT_RANGES 16

/*
 * Protection as read from the chip (protect.c). When more disjoint ranges are protected than
 * the array holds (SST26, AT25DF), the last entry is widened to cover the rest: the list never
 * claims less than the chip protects.
 */
struct nor_protect {
	uint8_t sr[3];		/* SR1..SR3 as read (0 where absent) */
	uint8_t cr;		/* Macronix configuration / ISSI function register, if present */
	unsigned n_ranges;	/* protected ranges, merged and sorted */
	struct nor_range ranges[NOR_MAX_PROT_RANGES];
	bool srp;		/* status register protect bit set (writes to SR follow WP#) */
	bool sr_locked;		/* SRP1/lock: SR cannot be written until power cycle */
	bool tb_otp;		/* TB bit lives in OTP; ranges cannot be flipped */
	bool exact;		/* false: the map is not known and the ranges are a safe guess */
	bool block_locks;	/* Winbond WPS=1: individual block locks, which we do not clear */
	char description[200];	/* "upper 256 KiB (0xFC0000-0xFFFFFF) protected by BP=1" */
};

/*
 * The raw protection state of a chip: what nor_unlock() saves for nor_protect_restore(), and
 * what nor_protect_decode() turns into ranges.
 */
struct nor_protect_saved {
	bool valid;
	uint8_t sr[3];
	uint8_t cr;	 /* Macronix configuration / ISSI function register */
	uint8_t bpr[32]; /* SST26: the block-protection register as RDBPR sends it (most
			  * significant byte first); AT25DF: one bit per 64 KiB sector (bit i of
			  * byte i / 8 = sector i), filled when SWP says "some sectors" */
	size_t bpr_len;
};

/* New handle for a known part on bus (borrowed; must outlive the nor). NULL on ENOMEM. */
struct nor *nor_new(struct spibus *bus, const struct chip_info *info);
/* Accepts NULL. Does not touch the chip (call nor_idle() first). */
void nor_free(struct nor *nor);

/* Borrowed, valid until nor_free(). */
const struct chip_info *nor_info(const struct nor *nor);
struct spibus *nor_bus(const struct nor *nor);
const struct nor_error *nor_last_error(const struct nor *nor);
void nor_clear_error(struct nor *nor);

/*
 * Raw identification helpers usable before a nor exists (probe). RDID reads 3 bytes.
 * RDSFDP reads len bytes of the SFDP space from addr.
 */
int nor_bus_read_id(struct spibus *bus, uint8_t ret_id[3]);
int nor_bus_read_sfdp(struct spibus *bus, uint32_t addr, uint8_t *buf, size_t len);

/* Read len bytes at addr into buf, in as few transactions as the bus allows. */
int nor_read(struct nor *nor, uint32_t addr, uint8_t *buf, size_t len);

/*
 * Program len bytes at addr. Splits at page boundaries (a page program never wraps); SST25
 * parts use byte program + AAI word program. Program only clears bits: the caller erases
 * first. Fails with -EROFS naming the range if it touches a protected range.
 */
int nor_program(struct nor *nor, uint32_t addr, const uint8_t *buf, size_t len);

/* Erase one erase unit of `size` bytes (one of the part's erase types) at aligned addr. */
int nor_erase(struct nor *nor, uint32_t addr, uint32_t size);
/* Whole-chip erase command (0x60/0xC7). Refused with -EROFS if anything is protected. */
int nor_chip_erase(struct nor *nor);

/* Status registers. sr2/sr3 may be NULL; they read as 0 on parts without them. */
int nor_read_status(struct nor *nor, uint8_t *ret_sr1, uint8_t *ret_sr2, uint8_t *ret_sr3);

/*
 * Leave the chip safe and bootable: WEL clear (WRDI) and 3-byte address mode. Call at the end
 * of every job, also after a failure. Returns the first error but always tries both.
 */
int nor_idle(struct nor *nor);

/* Protection (protect.c). Reads every register that holds a protection bit. */
int nor_protect_read(struct nor *nor, struct nor_protect *ret);
/*
 * -EROFS naming the first protected range [addr, addr+len) touches; 0 if writable. Reads the
 * chip's protection again first (SR1, or the SST26 block-protection register: one transaction;
 * everything when SR1 changed or after nor_idle()), so bits set behind our back are seen.
 */
int nor_protect_check(struct nor *nor, uint32_t addr, uint64_t len);
/*
 * Clear write protection. The previous state goes to *saved (may be NULL) before anything is
 * written, so a temporary unlock can be undone with nor_protect_restore(). -EROFS when the
 * chip refuses (SRP with WP# asserted, SR locked, Winbond individual block locks). When a
 * step fails after the first write, the previous state is written back and the error's detail
 * ends in "; protection restored" or "; protection NOT restored: <why>".
 */
int nor_unlock(struct nor *nor, struct nor_protect_saved *saved);
/*
 * Write the state nor_unlock() saved back and read it back. A failure's detail starts with
 * "protection NOT restored: ". No-op for NULL or !saved->valid.
 */
int nor_protect_restore(struct nor *nor, const struct nor_protect_saved *saved);

/* Ranges protected by a raw state (pure; protect.c; exposed for tests). */
int nor_protect_decode(const struct chip_info *info, const struct nor_protect_saved *state,
		       struct nor_protect *ret);
/* The same for BP-style parts from status registers and configuration register alone. */
int nor_protect_ranges(const struct chip_info *info, const uint8_t sr[3], uint8_t cr,
		       struct nor_protect *ret);

#endif
