/* SPDX-License-Identifier: MIT */
/*
 * spibus.h - the one SPI bus interface everything above hw/ uses (STYLE A4).
 *
 * A transaction is a list of segments sent in one go (one SPI_IOC_MESSAGE on spidev). Chip
 * select is asserted for the first segment and held across segments, except after a segment
 * with `cs_toggle` set: there CS is released and asserted again before the next segment, so
 * WREN and the command it enables can share one transaction. CS is always released at the end.
 *
 * Backends: spidev (src/hw/spidev.c) and the simulator (src/sim/simchip.c). Nothing above hw/
 * knows which one it holds.
 *
 * Threading: a bus belongs to one thread at a time (the worker); no internal locking.
 */
#ifndef FLASHD_SPIBUS_H
#define FLASHD_SPIBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fclock;

struct spibus_seg {
	const uint8_t *tx; /* bytes to send; NULL sends 0x00 (the spidev convention) */
	uint8_t *rx;	   /* where received bytes go; NULL discards them */
	size_t len;
	bool cs_toggle; /* release CS after this segment and start a new command */
};

/* Limit on segments in one transaction (spidev's ioctl size field allows 511). */
#define SPIBUS_MAX_SEGS 64

struct spibus;

struct spibus_ops {
	/* 0 or -errno (-EIO transfer failed, -EMSGSIZE too long, -EINVAL bad segments). */
	int (*transfer)(struct spibus *bus, const struct spibus_seg *segs, size_t n_segs);
	/* Set the clock for later transfers; the backend may round down. 0 or -errno. */
	int (*set_speed)(struct spibus *bus, uint32_t hz);
	/* Release everything; called by spibus_free(). */
	void (*destroy)(struct spibus *bus);
};

/*
 * Backends embed this as their first member and fill it in at open. Callers treat it as
 * read-only and use the functions below.
 */
struct spibus {
	const struct spibus_ops *ops;
	const char *name;	     /* "spidev:/dev/spidev0.0", "sim:W25Q128JV"; owned by backend */
	struct fclock *clock;	     /* time source for waits on this bus; owned by backend */
	size_t max_transfer;	     /* most bytes sent, and most received, in one transaction */
	uint32_t speed_hz;	     /* current clock as the backend actually runs it */
	uint8_t mode;		     /* SPI mode 0..3 */
	bool cs_toggle_ok;	     /* backend honours cs_toggle inside one transaction */
	uint64_t txn_overhead_ns;    /* fixed cost of one transaction before the first bit */
};

/* Runs one transaction. Segments with len 0 are allowed and cost nothing. */
int spibus_transfer(struct spibus *bus, const struct spibus_seg *segs, size_t n_segs);

/* Convenience: one CS-held command of tx bytes followed by rx bytes read back. */
int spibus_cmd(struct spibus *bus, const uint8_t *tx, size_t tx_len, uint8_t *rx, size_t rx_len);

int spibus_set_speed(struct spibus *bus, uint32_t hz);
uint32_t spibus_speed(const struct spibus *bus);
size_t spibus_max_transfer(const struct spibus *bus);
struct fclock *spibus_clock(const struct spibus *bus);
const char *spibus_name(const struct spibus *bus);

/* Accepts NULL. */
void spibus_free(struct spibus *bus);

#endif
