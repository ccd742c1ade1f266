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
 * The entry whose name equals name, ignoring case ("w25q128jv/fv" finds "W25Q128JV/FV"). An
 * entry named "BASE/ALT" is also found by each part alone: "W25Q128JV" and "W25Q128FV", where
 * a short alternative replaces the same number of characters at the end of the first name.
 * NULL if none matches or name is NULL.
 */
const struct chip_info *chipdb_find_name(const char *name);

#endif
