/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the simulator's SFDP profile builder, sim_profile_from_sfdp(): any bytes
 * in, -EINVAL with a message or a profile the chip model can run, never a crash, an
 * out-of-bounds read (ASan) or an overflow (UBSan). Invariant violations abort() so libFuzzer
 * and the corpus replay (`meson test --suite fuzz`) both report them.
 *
 * The profile record is private to src/sim, so this target includes sim_private.h to check
 * what simchip.c relies on: a sane size, erase types sorted, unique, powers of two that fit
 * the chip, typical <= maximum, a page size the program path handles, and the dump kept
 * byte for byte for RDSFDP.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "simchip.h"
#include "src/sim/sim_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct sim_profile *p, const uint8_t *data, size_t size)
{
	if (p->size < 64 * 1024 || p->size > 256u * 1024 * 1024)
		abort();
	if (p->page < 16 || p->page > 256 || (p->page & (p->page - 1)))
		abort();
	if (!p->n_erase || p->n_erase > 4)
		abort();
	for (unsigned i = 0; i < p->n_erase; i++) {
		const struct sim_erase *e = &p->erase[i];

		if (!e->size || (e->size & (e->size - 1)) || e->size > p->size)
			abort();
		if (i && e->size <= p->erase[i - 1].size)
			abort();
		if (e->typ_us > e->max_us || e->op == 0x00 || e->op == 0xFF)
			abort();
	}
	if (p->pp_typ_us > p->pp_max_us || p->ce_typ_ms > p->ce_max_ms)
		abort();
	if (p->jedec_id > 0xFFFFFF || sim_profile_jedec_id(p) != p->jedec_id)
		abort();
	if (!memchr(p->name, '\0', sizeof(p->name)) || !memchr(p->desc, '\0', sizeof(p->desc)))
		abort();
	if (p->sfdp_len != size || memcmp(p->sfdp, data, size) != 0 || !p->owned)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sim_profile *p = NULL;
	char err[128];
	int r;

	memset(err, 0xAA, sizeof(err));
	r = sim_profile_from_sfdp(data, size, 0x12345678, &p, err, sizeof(err));
	if (r < 0) {
		if (r != -EINVAL || p || !memchr(err, '\0', sizeof(err)) || !err[0])
			abort();
		return 0;
	}
	if (r != 0 || !p)
		abort();
	check(p, data, size);
	sim_profile_free(p);
	return 0;
}
