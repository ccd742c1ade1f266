/* SPDX-License-Identifier: MIT */
/*
 * sfdp.h - pure parser for the Serial Flash Discoverable Parameters (JESD216 up to rev F).
 *
 * The input is the SFDP address space as bytes from SFDP address 0, read by someone else with
 * RDSFDP (0x5A). Everything in it came from a chip and is treated as hostile: every offset is
 * bounds-checked against the buffer, nothing is cast to a struct, nothing is allocated. The
 * functions are reentrant and keep no state.
 *
 * Reading in rounds: read a first chunk (at least 8 bytes; probe reads 64), ask
 * sfdp_needed_len() how many bytes the parameter headers and the tables we parse need, read
 * the rest if it is more, and ask again until the answer is covered (the first answer may only
 * reach the end of the parameter headers: 8 or more of them do not fit 64 bytes). Bound the
 * rounds (probe: four) and the length (SFDP_MAX_LEN), then call sfdp_parse().
 */
#ifndef FLASHD_SFDP_H
#define FLASHD_SFDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chip_info.h"

/* Upper bound of what the parser ever looks at; tables beyond it are skipped. */
#define SFDP_MAX_LEN 65536u

#define SFDP_SIGNATURE 0x50444653u /* "SFDP" read as a little-endian DWORD */

/* Parameter table IDs (MSB << 8 | LSB) */
#define SFDP_ID_BFPT	   0xFF00u /* basic flash parameter table */
#define SFDP_ID_SECTOR_MAP 0xFF81u /* sector map */
#define SFDP_ID_4BAIT	   0xFF84u /* 4-byte address instruction table */

#define SFDP_MAX_TABLES	 16 /* parameter headers recorded (more are counted, not kept) */
#define SFDP_MAX_MAPS	 4  /* sector map configurations recorded */
#define SFDP_MAX_REGIONS 16 /* regions per configuration */
#define SFDP_MAX_NOTES	 12
#define SFDP_NOTE_LEN	 112

/* One parameter header as found, whether or not we parsed the table. */
struct sfdp_table {
	uint16_t id; /* MSB << 8 | LSB */
	uint8_t major;
	uint8_t minor;
	uint16_t len_dwords; /* 1..255 */
	uint32_t ptr;	     /* byte address of the table */
	bool in_buffer;	     /* the whole table lies inside the buffer given to sfdp_parse() */
	bool parsed;	     /* we used it (BFPT, 4BAIT, sector map) */
};

/* A sector map region: size bytes from offset, erasable with the BFPT erase types in mask. */
struct sfdp_region {
	uint32_t offset;
	uint32_t size;
	uint8_t erase_mask; /* bit i set: BFPT erase type i+1 (sfdp_info.bfpt_erase[i]) works */
};

struct sfdp_sector_map {
	uint8_t config_id;
	uint8_t n_regions;
	struct sfdp_region region[SFDP_MAX_REGIONS];
};

struct sfdp_info {
	/*
	 * What the tables say, as a chip_info: source CHIP_SRC_SFDP, name "SFDP xxxxxx" (the
	 * JEDEC ID passed in), erase types usable across the whole chip in ascending size, page
	 * size (at most 256: larger claims are not believed), times, address mode and flags. Voltage, clocks and protection are not in SFDP
	 * and stay 0 / CHIP_PROT_NONE; chip erase is assumed to be 0xC7 (not in JESD216).
	 */
	struct chip_info info;

	uint8_t rev_major, rev_minor; /* SFDP header revision */
	uint8_t access_protocol;      /* header byte 7 (0xFF: legacy 1-1-1, 3-byte address) */
	uint16_t nph;		      /* number of parameter headers (the field + 1) */

	uint8_t bfpt_major, bfpt_minor;
	uint16_t bfpt_dwords; /* DWORDs of the basic table actually read */

	/* The BFPT erase types by slot (type i+1 in [i]), size 0 when absent; the 4-byte
	 * opcode is filled from the 4BAIT. info.erase[] is derived from these. */
	struct chip_erase_type bfpt_erase[CHIP_MAX_ERASE_TYPES];
	uint8_t bfpt_addr_bytes; /* DWORD 1 bits 18:17: 0 = 3, 1 = 3 or 4, 2 = 4 only */
	uint8_t enter_4b;	 /* DWORD 16 bits 31:24 (0 when the table is shorter) */
	uint16_t exit_4b;	 /* DWORD 16 bits 23:14 */

	bool has_4bait;
	uint32_t bait_support; /* 4BAIT DWORD 1: which 4-byte instructions exist */

	uint8_t n_tables; /* entries in table[] (min(nph, SFDP_MAX_TABLES)) */
	struct sfdp_table table[SFDP_MAX_TABLES];

	/* Sector map (ID 0xFF81), if present and well formed. When the map needs detection
	 * commands (several configurations) all configurations are kept and info.erase[] only
	 * lists erase types usable everywhere in every one of them. */
	bool has_sector_map;
	bool map_needs_detection;
	uint8_t n_maps;
	struct sfdp_sector_map map[SFDP_MAX_MAPS];

	/* Human-readable remarks: skipped tables, quirks worked around, assumptions made. */
	uint8_t n_notes;
	char notes[SFDP_MAX_NOTES][SFDP_NOTE_LEN];
};

/*
 * How many bytes from SFDP address 0 cover the parameter headers and the tables the parser
 * reads (BFPT, 4BAIT, sector map), at most SFDP_MAX_LEN; tables ending beyond that bound are
 * left out (sfdp_parse() then notes them as skipped). buf holds len bytes from address 0.
 * If len does not yet cover the parameter headers, the answer is where they end: read that
 * much and ask again. *ret_len is written only on success.
 * Returns 0, -EINVAL (NULL arguments, len < 8, or SFDP major revision other than 1) or
 * -ENODATA (no "SFDP" signature: the chip has no SFDP).
 */
int sfdp_needed_len(const uint8_t *buf, size_t len, size_t *ret_len);

/*
 * Parse len bytes of SFDP for the chip whose RDID answer was jedec_id (used for the name and
 * info.jedec_id only). Tables other than the BFPT that lie (partly) beyond the buffer or
 * SFDP_MAX_LEN are skipped with a note. On success fills *ret completely and returns 0; on
 * failure *ret is not touched and, if err is not NULL, a one-line reason is written to err
 * (always NUL-terminated when errlen > 0).
 * Errors: -EINVAL bad arguments or nonsense (major revision not 1, first parameter header is
 * not the BFPT, BFPT shorter than 9 DWORDs or beyond SFDP_MAX_LEN, density 0 or above 4 GiB,
 * no usable erase type and no sane page size), -ENODATA no "SFDP" signature, -EMSGSIZE the
 * buffer ends before the header, the parameter headers or the end of the BFPT (read
 * sfdp_needed_len() bytes and try again).
 */
int sfdp_parse(const uint8_t *buf, size_t len, uint32_t jedec_id, struct sfdp_info *ret, char *err,
	       size_t errlen);

/*
 * Compare a database entry with what SFDP said about the same chip: size, page size, erase
 * sizes and their opcodes (an erase size the database lists that SFDP lacks, or the same size
 * with another opcode) and address mode. Fields SFDP leaves unknown (0) are not compared.
 * Writes one line per contradiction to report (NUL-terminated, truncated to len; report may
 * be NULL when len is 0) and returns their number, 0 when they agree, or -EINVAL for NULL
 * entries. The database wins; the caller logs the report.
 */
int sfdp_compare(const struct chip_info *db, const struct chip_info *sfdp, char *report,
		 size_t len);

#endif
