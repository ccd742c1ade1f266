/* SPDX-License-Identifier: MIT */
/*
 * pins.h - the flash chip's control lines and the target's power/reset on GPIO (libgpiod).
 *
 * Lines: CS (a GPIO chip select, only when the board does not use the controller's), HOLD#,
 * WP#, target power and target reset. Callers speak in "asserted" (the function is active:
 * chip selected, paused, write-protected, powered, held in reset); each line's active_low says
 * which GPIO level that is, so an inverting buffer is a config change, not a code change.
 * The module inverts the level itself and hands libgpiod physical levels, so what the tests
 * record is what the pin does.
 *
 * Safe idle levels, driven when the lines are requested and again at pins_close():
 *   CS, HOLD#, WP# de-asserted (the chip is deselected, not paused, status register writable);
 *   reset asserted while open if reset_while_open, released at close;
 *   power as power_on says, at open and at close.
 * Order at open: cs, hold, wp, reset, power (control lines settle before the target powers).
 * Order at close: cs, hold, wp, power, reset set to idle; then release power, reset, wp, hold,
 * cs; then the chip.
 *
 * libgpiod is reached only through struct pins_gpio (STYLE H44), built for libgpiod v1
 * (Debian 12) or v2 (trixie) by HAVE_GPIOD2; tests substitute a recording fake.
 *
 * Threading: a pins object belongs to the thread that owns the bus (the worker).
 */
#ifndef FLASHD_PINS_H
#define FLASHD_PINS_H

#include <stdbool.h>
#include <stddef.h>

enum pins_id {
	PINS_CS,
	PINS_HOLD,
	PINS_WP,
	PINS_POWER,
	PINS_RESET,
	_PINS_MAX,
};

struct pins_line {
	int offset;	 /* line offset on the chip; -1: not wired */
	bool active_low; /* a low GPIO level asserts the function */
};

struct pins_config {
	const char *chip;     /* "gpiochip0", "0" or a path; may be NULL when no line is wired */
	const char *consumer; /* label in gpioinfo; NULL: "flashd" */
	struct pins_line cs, hold, wp, power, reset;
	bool power_on;	       /* target powered at open and after close */
	bool reset_while_open; /* hold the target in reset from open to close */
};

/*
 * Defaults: no line wired; cs, hold, wp and reset active low (the chip's CS#, HOLD#, WP# and a
 * RESET# wired straight through), power active high (a load-switch enable); power_on true,
 * reset_while_open false, consumer NULL.
 */
void pins_config_init(struct pins_config *cfg);

/* The libgpiod seam. Handles are opaque to pins.c; values are physical levels, 0 or 1. */
struct pins_gpio;
struct pins_gpio_ops {
	/* Open the chip at path. 0 or -errno. */
	int (*chip_open)(struct pins_gpio *g, const char *path, void **ret_chip);
	/* Request one line as an output already driving value. 0 or -errno (-EBUSY: in use). */
	int (*line_request)(struct pins_gpio *g, void *chip, unsigned int offset,
			    const char *consumer, int value, void **ret_line);
	int (*line_set)(struct pins_gpio *g, void *line, int value);
	void (*line_release)(struct pins_gpio *g, void *line);
	void (*chip_close)(struct pins_gpio *g, void *chip);
};
struct pins_gpio {
	const struct pins_gpio_ops *ops;
};

/* The real table (libgpiod v1 or v2); NULL when built without libgpiod. Never freed. */
struct pins_gpio *pins_gpio_libgpiod(void);

struct pins;

/*
 * Request every wired line of cfg through gpio (NULL: pins_gpio_libgpiod()) at its idle level.
 * cfg is copied except chip and consumer, which are only used during the call. On success
 * *ret_pins is a new object the caller frees with pins_close(). On failure returns -errno,
 * leaves no line requested and writes a one-line reason into err (if not NULL):
 * -EINVAL bad config (duplicate offsets, offset < -1, no chip), -ENOTSUP built without libgpiod
 * while a line is wired, -ENOENT/-EACCES chip, -EBUSY line held by another consumer.
 * With no line wired it succeeds without opening anything.
 */
int pins_open(const struct pins_config *cfg, struct pins_gpio *gpio, struct pins **ret_pins,
	      char *err, size_t errlen);

/*
 * Assert or de-assert one function. An unwired line, or p == NULL, is a successful no-op (a
 * board without WP# wiring has WP# tied high). 0 or -errno, with pins_last_error() set.
 */
int pins_set(struct pins *p, enum pins_id id, bool asserted);

/* True if the line is wired (p may be NULL). */
bool pins_has(const struct pins *p, enum pins_id id);

/* "cs", "hold", "wp", "power", "reset". */
const char *pins_id_name(enum pins_id id);

/* Reason for the last failed pins_set ("" if none); valid until the next call. */
const char *pins_last_error(const struct pins *p);

/* Drive the idle levels in the documented order, release all lines, free. Accepts NULL. */
void pins_close(struct pins *p);

#endif
