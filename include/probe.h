/* SPDX-License-Identifier: MIT */
/*
 * probe.h - find out what is connected: JEDEC ID, then the chip database, then SFDP.
 *
 * The database wins when both know the part (an SFDP that contradicts it is reported, not
 * followed). A part only SFDP describes is fully usable. A part with neither is read-only
 * until the user gives its size and erase parameters (struct probe_opts, from the config).
 */
#ifndef FLASHD_PROBE_H
#define FLASHD_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "chip_info.h"
#include "nor.h"

struct spibus;

/* Geometry supplied by the user for parts neither the database nor SFDP describe. */
struct probe_opts {
	uint32_t size;	      /* bytes; 0 = not given */
	uint32_t page_size;   /* default 256 */
	uint32_t erase_size;  /* bytes; 0 = not given */
	uint8_t erase_opcode; /* default 0x20 for 4 KiB, 0xD8 for 64 KiB */
	bool no_sfdp;	      /* do not read SFDP (a chip that misbehaves on 0x5A) */
};

struct probe_report {
	uint32_t jedec_id;
	bool in_database;
	bool has_sfdp;	       /* valid SFDP signature */
	bool sfdp_parsed;      /* and it parsed */
	int contradictions;    /* SFDP vs database differences (database wins) */
	bool read_only;	       /* unknown part without user geometry */
	char notes[600];       /* human-readable: contradictions, parser notes, what to do */
};

/*
 * Identify the chip on bus and return a nor for it (caller frees with nor_free(); the bus is
 * borrowed). -ENODEV when the ID reads 00 00 00 or FF FF FF, with the usual causes in
 * ret_err->detail. The report is filled as far as probing got, also on error.
 */
int probe_chip(struct spibus *bus, const struct probe_opts *o, struct nor **ret,
	       struct probe_report *report, struct nor_error *ret_err);

/* Read only the JEDEC ID, e.g. to notice a chip swapped between jobs. */
int probe_read_id(struct spibus *bus, uint32_t *ret_id);

#endif
