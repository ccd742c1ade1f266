/* SPDX-License-Identifier: MIT */
/*
 * simchip.h - a simulated SPI NOR chip behind the spibus interface: part of the product (the
 * default backend of a newcomer's first run), what every test drives, what benchmarks time.
 *
 * The model answers the command set of real parts (profiles written from their datasheets,
 * independently of the chip database), keeps its contents in an image file, and runs in
 * modelled time: each transaction costs a fixed overhead plus its bytes at the SPI clock,
 * program/erase/status writes keep WIP set for the datasheet time. --sim-time-scale maps
 * modelled time to wall time (1 real, 0 never sleeps). Busy times are the datasheet typical,
 * maximum, or a seeded random draw between them (enum simchip_busy).
 *
 * Faults (simchip_fault_parse, `--sim-fault SPEC`, repeatable):
 *   no-chip=high|low   MISO stuck: every byte reads 0xFF / 0x00, commands do nothing
 *   wip-stuck          WIP reads 1 forever and every command is ignored
 *   program-fail       page program leaves bit 7 of each page's first byte set
 *   erase-fail         erase leaves the first byte of each erased unit as it was
 *   xfer-error=N       the Nth transaction from now fails with -EIO (N >= 1)
 *   swap=PROFILE       a different chip (same size, same image) answers from the next
 *                      transaction on, in its power-up state (its registers' defaults,
 *                      WEL/AAI/4-byte mode cleared, not busy, SST26 blocks locked)
 *   swap=PROFILE@N     the same after N more transactions (N >= 1) of the present chip
 *   swap=PROFILE@write the same once the first program or erase accepted from now on has
 *                      finished: the transaction that finds it idle meets the new chip
 *   wp                 WP# is held low: with SRP set, status register writes are ignored
 *   clear              remove every fault
 *
 * Threading: one thread drives a simchip (through its bus); simchip_get_stats(),
 * simchip_reset_stats(), simchip_profile() and simchip_fault_parse() may be called from any
 * thread. The parse and format helpers touch no chip.
 */
#ifndef FLASHD_SIMCHIP_H
#define FLASHD_SIMCHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spibus;
struct fclock;
struct sim_profile;
struct simchip;

size_t sim_profile_count(void);
const struct sim_profile *sim_profile_at(size_t i);
/* Case-insensitive; NULL if there is no such profile. */
const struct sim_profile *sim_profile_find(const char *name);
const char *sim_profile_name(const struct sim_profile *p);
const char *sim_profile_description(const struct sim_profile *p);
uint32_t sim_profile_size(const struct sim_profile *p);
uint32_t sim_profile_jedec_id(const struct sim_profile *p);

/*
 * A profile from an SFDP dump (JESD216 header + basic table, 4-byte instruction table when
 * present): geometry, erase types, page size, address modes and times. The chip then answers
 * RDSFDP with exactly these bytes. -EINVAL with a message in err for anything not sane.
 * Free with sim_profile_free().
 */
int sim_profile_from_sfdp(const uint8_t *sfdp, size_t len, uint32_t jedec_id,
			  struct sim_profile **ret, char *err, size_t errlen);
/* Only for profiles from sim_profile_from_sfdp(); NULL is fine. */
void sim_profile_free(struct sim_profile *p);

/* How long a program, erase or status write keeps the chip busy (--sim-busy). */
enum simchip_busy {
	SIMCHIP_BUSY_TYPICAL, /* the datasheet typical time, every time (default) */
	SIMCHIP_BUSY_RANDOM,  /* uniform in [typical, maximum], repeatable for a seed */
	SIMCHIP_BUSY_MAXIMUM, /* the datasheet maximum, every time: worst-case timeouts */
	_SIMCHIP_BUSY_MAX,
};

/* "typical", "random", "max" or "maximum", any case. 0, or -EINVAL with *ret untouched. */
int simchip_busy_parse(const char *s, enum simchip_busy *ret);
/* "typical", "random", "max"; NULL for a value out of range. Static string. */
const char *simchip_busy_name(enum simchip_busy b);
/*
 * A seed for SIMCHIP_BUSY_RANDOM (--sim-seed): decimal, or hex after 0x, 0..2^64-1, nothing
 * else (no sign, no spaces). 0, -EINVAL or -ERANGE, with *ret untouched on error.
 */
int simchip_seed_parse(const char *s, uint64_t *ret);

struct simchip_opts {
	double time_scale;	 /* 1 = real time, 0.1 = ten times faster, 0 = never sleeps */
	uint64_t txn_overhead_ns; /* fixed cost per transaction (default 15 µs, spidev on a Pi) */
	uint32_t speed_hz;	 /* initial SPI clock (default 32 MHz) */
	size_t max_transfer;	 /* bytes per direction in one transaction (default 65536) */
	enum simchip_busy busy;	 /* default SIMCHIP_BUSY_TYPICAL */
	uint64_t seed;		 /* for SIMCHIP_BUSY_RANDOM (default 1); any value, 0 too */
	/*
	 * Called when a swap fault takes effect, on the thread driving the bus, before the
	 * transaction the new chip answers (its number counts from open, the first is 1):
	 * the place to log the new identity. NULL: not reported (simchip_get_stats() still
	 * counts swaps and simchip_profile() names the chip).
	 */
	void (*on_swap)(void *userdata, const struct sim_profile *from,
			const struct sim_profile *to, uint64_t transaction);
	void *userdata;
};

void simchip_opts_init(struct simchip_opts *o);

/*
 * Open the model on image_path (created erased when missing; a file of the wrong size is an
 * error and is left alone). p is borrowed and must outlive the chip.
 */
int simchip_open(const struct sim_profile *p, const char *image_path, const struct simchip_opts *o,
		 struct simchip **ret, char *err, size_t errlen);
/* Flushes the image; NULL is fine. */
void simchip_close(struct simchip *s);

/* Borrowed; valid until simchip_close(). */
struct spibus *simchip_bus(struct simchip *s);
struct fclock *simchip_clock(struct simchip *s);

struct simchip_stats {
	uint64_t transactions;
	uint64_t bytes;
	uint64_t status_polls;
	uint64_t busy_ns;     /* time the chip spent busy */
	uint64_t modelled_ns; /* modelled time since open */
	uint64_t programs;    /* program commands accepted (AAI: each word) */
	uint64_t erases;      /* erase commands accepted, chip erase included */
	uint64_t swaps;	      /* swap faults that took effect */
};

/* Any thread; each field is read atomically, the set is not a snapshot. */
void simchip_get_stats(const struct simchip *s, struct simchip_stats *ret);
/* Zeroes every counter but modelled_ns. */
void simchip_reset_stats(struct simchip *s);

/*
 * The counters as one log line, without a trailing newline, e.g. "1234 transactions, 16777221
 * bytes, 77 status polls, 65536 programs, 1 erases, 0 swaps, busy 0.001500 s of 2.345679 s
 * modelled". Returns what snprintf() returns: the full length, buf truncated (and always
 * terminated when len > 0) if it is shorter.
 */
int simchip_stats_format(const struct simchip_stats *st, char *buf, size_t len);

/* The part answering now (changes when a swap fault takes effect); any thread. */
const struct sim_profile *simchip_profile(const struct simchip *s);

int simchip_fault_parse(struct simchip *s, const char *spec, char *err, size_t errlen);

#endif
