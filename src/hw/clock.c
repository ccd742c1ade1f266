/* SPDX-License-Identifier: MIT */
/*
 * clock.c - the real monotonic clock. clock_nanosleep with an absolute deadline, so a signal
 * that interrupts the sleep does not stretch it when we restart.
 */
#include "clock.h"

#include <errno.h>
#include <time.h>

#include "util.h"

uint64_t fclock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_now_ns(struct fclock *clk)
{
	(void)clk;
	return fclock_mono_ns();
}

static void mono_sleep_ns(struct fclock *clk, uint64_t ns)
{
	uint64_t deadline = fclock_mono_ns() + ns;
	struct timespec ts = {
		.tv_sec = (time_t)(deadline / NSEC_PER_SEC),
		.tv_nsec = (long)(deadline % NSEC_PER_SEC),
	};

	(void)clk;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static const struct fclock_ops mono_ops = {
	.now_ns = mono_now_ns,
	.sleep_ns = mono_sleep_ns,
};

static struct fclock mono_clock = {.ops = &mono_ops};

struct fclock *fclock_monotonic(void)
{
	return &mono_clock;
}
