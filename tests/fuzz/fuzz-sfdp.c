/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the SFDP parser: any bytes in, an error code or a self-consistent result
 * out, never a crash or an out-of-bounds read (ASan) or overflow (UBSan). Invariant
 * violations abort() so libFuzzer and the corpus replay both report them.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chipdb.h"
#include "sfdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct sfdp_info *si, size_t size)
{
	const struct chip_info *ci = &si->info;

	if (!ci->size || (ci->size & (ci->size - 1)))
		abort();
	if (ci->n_erase > CHIP_MAX_ERASE_TYPES || si->n_notes > SFDP_MAX_NOTES ||
	    si->n_tables > SFDP_MAX_TABLES || si->n_maps > SFDP_MAX_MAPS)
		abort();
	for (unsigned i = 0; i < ci->n_erase; i++) {
		if (!ci->erase[i].size || ci->size % ci->erase[i].size)
			abort();
		if (i && ci->erase[i].size <= ci->erase[i - 1].size)
			abort();
		if (ci->erase[i].typ_us > ci->erase[i].max_us)
			abort();
	}
	for (unsigned i = 0; i < si->n_notes; i++)
		if (!memchr(si->notes[i], '\0', SFDP_NOTE_LEN))
			abort();
	for (unsigned i = 0; i < si->n_tables; i++)
		if (si->table[i].in_buffer &&
		    (uint64_t)si->table[i].ptr + 4u * si->table[i].len_dwords > size)
			abort();
	if (!memchr(ci->name, '\0', sizeof(ci->name)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sfdp_info si;
	char err[96], report[256];
	size_t need;
	int r;

	r = sfdp_needed_len(data, size, &need);
	if (r == 0 && (need > SFDP_MAX_LEN || need < 8))
		abort();
	if (r != 0 && r != -EINVAL && r != -ENODATA)
		abort();

	r = sfdp_parse(data, size, 0xef4018, &si, err, sizeof(err));
	if (r != 0) {
		if (r != -EINVAL && r != -ENODATA && r != -EMSGSIZE)
			abort();
		if (!memchr(err, '\0', sizeof(err)) || !err[0])
			abort();
		return 0;
	}
	check(&si, size);
	r = sfdp_compare(chipdb_lookup(0xef4018), &si.info, report, sizeof(report));
	if (r < 0 || !memchr(report, '\0', sizeof(report)))
		abort();
	return 0;
}
