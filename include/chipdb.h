/* SPDX-License-Identifier: MIT */
/*
 * chipdb.h - the built-in table of SPI NOR parts, one chip_info per part, taken from datasheets.
 *
 * The table is const and static: every pointer returned here points into it and stays valid
 * for the life of the process; callers never free it and copy the record before changing it.
 * Thread-safe (read-only data).
 */
#ifndef FLASHD_CHIPDB_H
#define FLASHD_CHIPDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chip_info.h"

/*
 * The entry whose JEDEC ID (manufacturer << 16 | type << 8 | capacity) equals jedec_id, or NULL
 * if the part is unknown. IDs are unique in the table; where several parts share one ID the
 * entry is named after the current part and the aliases are noted at the entry.
 */
const struct chip_info *chipdb_lookup(uint32_t jedec_id);

/* Number of entries, and entry i (NULL when i >= chipdb_count()); for listing and tests. */
size_t chipdb_count(void);
const struct chip_info *chipdb_at(size_t i);

/*
 * The first entry whose name matches name, ignoring case ("w25q128jv" finds "W25Q128JV").
 * Entries that stand for several parts with identical parameters are named "BASE/ALT" and are
 * found by the whole name or by each part alone: "A25X128JV/FV" by "A25X128JV" and
 * "A25X128FV", a short alternative replacing as many characters at the end of BASE. Parts that
 * share an ID but differ (W25Q128FV) are only noted at the entry and not found by name.
 * NULL if none matches or name is NULL or empty.
 */
const struct chip_info *chipdb_find_name(const char *name);

/*
 * The matching rule chipdb_find_name() applies to one entry name ("BASE/ALT/..."), for
 * callers that validate names from a config file. false when either argument is NULL.
 */
bool chipdb_name_matches(const char *entry_name, const char *name);

#endif
