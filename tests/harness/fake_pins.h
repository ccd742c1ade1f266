/* SPDX-License-Identifier: MIT */
/*
 * fake_pins.h - a recording stand-in for libgpiod behind struct pins_gpio: every chip open,
 * line request (with its initial level), set, release and chip close is appended to ev[], so
 * tests can assert the exact physical levels and their order. Errors are scripted.
 */
#ifndef FLASHD_FAKE_PINS_H
#define FLASHD_FAKE_PINS_H

#include <stddef.h>

#include "pins.h"

#define FAKE_PINS_MAX_LINES 64
#define FAKE_PINS_MAX_EVENTS 64

enum fake_pins_op {
	FP_CHIP_OPEN,
	FP_REQUEST,
	FP_SET,
	FP_RELEASE,
	FP_CHIP_CLOSE,
};

struct fake_pins_event {
	enum fake_pins_op op;
	int offset; /* -1 for chip events */
	int value;  /* physical level for FP_REQUEST and FP_SET, else -1 */
};

struct fake_line {
	struct fake_pins *f;
	int offset;
};

struct fake_pins {
	struct pins_gpio gpio; /* first */

	/* script */
	int chip_open_err; /* -errno from chip_open */
	int busy_offset;   /* request of this offset fails with busy_err (-1: none) */
	int busy_err;
	int set_fail_offset; /* set on this offset fails with set_err (-1: none) */
	int set_err;

	/* record */
	char chip_path[128];
	char consumer[64];
	int level[FAKE_PINS_MAX_LINES]; /* current physical level, -1 never driven */
	int chips_open, lines_held;
	size_t n_ev;
	struct fake_pins_event ev[FAKE_PINS_MAX_EVENTS];
	struct fake_line lines[FAKE_PINS_MAX_LINES];
};

void fake_pins_init(struct fake_pins *f);

#endif
