/* SPDX-License-Identifier: MIT */
/*
 * clock.h - monotonic time behind an interface, so the simulator can run in virtual time.
 *
 * Every wait on a chip goes through an fclock: the real one sleeps, the simulator's advances
 * modelled time (and sleeps a scaled amount of wall time, or none at all with scale 0).
 * Implementations embed `struct fclock` as their first member and set `ops`.
 */
#ifndef FLASHD_CLOCK_H
#define FLASHD_CLOCK_H

#include <stdint.h>

struct fclock;

struct fclock_ops {
	uint64_t (*now_ns)(struct fclock *clk);
	void (*sleep_ns)(struct fclock *clk, uint64_t ns);
};

struct fclock {
	const struct fclock_ops *ops;
};

static inline uint64_t fclock_now_ns(struct fclock *clk)
{
	return clk->ops->now_ns(clk);
}

static inline void fclock_sleep_ns(struct fclock *clk, uint64_t ns)
{
	clk->ops->sleep_ns(clk, ns);
}

static inline void fclock_sleep_us(struct fclock *clk, uint64_t us)
{
	clk->ops->sleep_ns(clk, us * 1000u);
}

/* CLOCK_MONOTONIC, process-wide, never freed. Sleeps restart after EINTR until done. */
struct fclock *fclock_monotonic(void);

/* CLOCK_MONOTONIC in ns without an fclock (for timestamps in logs and job records). */
uint64_t fclock_mono_ns(void);

#endif
