/* SPDX-License-Identifier: MIT */
/*
 * spibus.c - thin dispatch over a backend's ops table, plus argument checks shared by all
 * backends so each one need not repeat them.
 */
#include "spibus.h"

#include <errno.h>

#include "util.h"

int spibus_transfer(struct spibus *bus, const struct spibus_seg *segs, size_t n_segs)
{
	if (!bus || (!segs && n_segs) || n_segs > SPIBUS_MAX_SEGS)
		return -EINVAL;
	for (size_t i = 0; i < n_segs; i++) {
		if (segs[i].cs_toggle && !bus->cs_toggle_ok)
			return -EINVAL;
	}
	return bus->ops->transfer(bus, segs, n_segs);
}

int spibus_cmd(struct spibus *bus, const uint8_t *tx, size_t tx_len, uint8_t *rx, size_t rx_len)
{
	const struct spibus_seg segs[2] = {
		{.tx = tx, .len = tx_len},
		{.rx = rx, .len = rx_len},
	};

	return spibus_transfer(bus, segs, rx_len ? 2 : 1);
}

int spibus_set_speed(struct spibus *bus, uint32_t hz)
{
	if (!bus || hz == 0)
		return -EINVAL;
	return bus->ops->set_speed(bus, hz);
}

uint32_t spibus_speed(const struct spibus *bus)
{
	return bus->speed_hz;
}

size_t spibus_max_transfer(const struct spibus *bus)
{
	return bus->max_transfer;
}

struct fclock *spibus_clock(const struct spibus *bus)
{
	return bus->clock;
}

const char *spibus_name(const struct spibus *bus)
{
	return bus->name;
}

void spibus_free(struct spibus *bus)
{
	if (bus && bus->ops->destroy)
		bus->ops->destroy(bus);
}
