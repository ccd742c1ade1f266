/* SPDX-License-Identifier: MIT */
/*
 * pins through the recording libgpiod fake: idle levels and their order at open and close,
 * active_low handling, and errors (EBUSY line, ENOENT chip) as -errno with context.
 */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buildcfg.h"
#include "fake_pins.h"
#include "pins.h"

enum { CS = 8, HOLD = 24, WP = 25, POWER = 17, RESET = 27 };

struct fx {
	struct fake_pins f;
	struct pins_config cfg;
	struct pins *p;
	char err[256];
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	fake_pins_init(&x->f);
	pins_config_init(&x->cfg);
	x->cfg.chip = "gpiochip0";
	x->cfg.cs.offset = CS;
	x->cfg.hold.offset = HOLD;
	x->cfg.wp.offset = WP;
	x->cfg.power.offset = POWER;
	x->cfg.reset.offset = RESET;
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	pins_close(x->p);
	/* Nothing stays requested or open, whatever the test did. */
	assert_int_equal(x->f.lines_held, 0);
	assert_int_equal(x->f.chips_open, 0);
	free(x);
	return 0;
}

#define expect_ev(x, i, o, off, val) expect_ev_at((x), (i), (o), (off), (val), __LINE__)
static void expect_ev_at(const struct fx *x, size_t i, enum fake_pins_op op, int offset, int value,
			 int line)
{
	const struct fake_pins_event *e = &x->f.ev[i];

	if (i >= x->f.n_ev || e->op != op || e->offset != offset || e->value != value)
		fail_msg("line %d: event %zu: want (%d, %d, %d), got (%d, %d, %d) of %zu", line, i,
			 op, offset, value, i < x->f.n_ev ? (int)e->op : -1,
			 i < x->f.n_ev ? e->offset : -1, i < x->f.n_ev ? e->value : -1, x->f.n_ev);
}

static void open_ok(struct fx *x)
{
	assert_int_equal(pins_open(&x->cfg, &x->f.gpio, &x->p, x->err, sizeof(x->err)), 0);
	assert_string_equal(x->err, "");
}

static void config_init_defaults(void **state)
{
	struct pins_config c;

	(void)state;
	pins_config_init(&c);
	assert_null(c.chip);
	assert_null(c.consumer);
	assert_int_equal(c.cs.offset, -1);
	assert_int_equal(c.reset.offset, -1);
	assert_true(c.cs.active_low && c.hold.active_low && c.wp.active_low && c.reset.active_low);
	assert_false(c.power.active_low);
	assert_true(c.power_on);
	assert_false(c.reset_while_open);
}

static void open_requests_idle_levels_in_order(void **state)
{
	struct fx *x = *state;

	open_ok(x);
	assert_string_equal(x->f.chip_path, "/dev/gpiochip0");
	assert_string_equal(x->f.consumer, "flashd");
	assert_int_equal(x->f.n_ev, 6);
	expect_ev(x, 0, FP_CHIP_OPEN, -1, -1);
	/* CS#, HOLD#, WP# high (de-asserted), RESET# high (released), then power on. */
	expect_ev(x, 1, FP_REQUEST, CS, 1);
	expect_ev(x, 2, FP_REQUEST, HOLD, 1);
	expect_ev(x, 3, FP_REQUEST, WP, 1);
	expect_ev(x, 4, FP_REQUEST, RESET, 1);
	expect_ev(x, 5, FP_REQUEST, POWER, 1);
}

static void open_reset_while_open_holds_reset_before_power(void **state)
{
	struct fx *x = *state;

	x->cfg.reset_while_open = true;
	open_ok(x);
	expect_ev(x, 4, FP_REQUEST, RESET, 0);
	expect_ev(x, 5, FP_REQUEST, POWER, 1);
}

static void open_power_off_configured_requests_power_low(void **state)
{
	struct fx *x = *state;

	x->cfg.power_on = false;
	open_ok(x);
	expect_ev(x, 5, FP_REQUEST, POWER, 0);
}

static void set_hold_asserted_drives_low(void **state)
{
	struct fx *x = *state;

	open_ok(x);
	x->f.n_ev = 0;
	assert_int_equal(pins_set(x->p, PINS_HOLD, true), 0);
	assert_int_equal(pins_set(x->p, PINS_HOLD, false), 0);
	assert_int_equal(x->f.n_ev, 2);
	expect_ev(x, 0, FP_SET, HOLD, 0);
	expect_ev(x, 1, FP_SET, HOLD, 1);
}

static void active_high_line_is_not_inverted(void **state)
{
	struct fx *x = *state;

	/* WP# behind an inverting buffer: asserting WP drives the GPIO high. */
	x->cfg.wp.active_low = false;
	open_ok(x);
	expect_ev(x, 3, FP_REQUEST, WP, 0);
	x->f.n_ev = 0;
	assert_int_equal(pins_set(x->p, PINS_WP, true), 0);
	expect_ev(x, 0, FP_SET, WP, 1);
}

static void active_low_power_line_is_inverted(void **state)
{
	struct fx *x = *state;

	/* A P-MOSFET high-side switch: a low gate turns the target on. */
	x->cfg.power.active_low = true;
	open_ok(x);
	expect_ev(x, 5, FP_REQUEST, POWER, 0);
	x->f.n_ev = 0;
	assert_int_equal(pins_set(x->p, PINS_POWER, false), 0);
	expect_ev(x, 0, FP_SET, POWER, 1);
}

static void close_drives_idle_then_releases_in_reverse(void **state)
{
	struct fx *x = *state;

	x->cfg.reset_while_open = true;
	open_ok(x);
	assert_int_equal(pins_set(x->p, PINS_HOLD, true), 0);
	assert_int_equal(pins_set(x->p, PINS_POWER, false), 0);
	x->f.n_ev = 0;
	pins_close(x->p);
	x->p = NULL;
	assert_int_equal(x->f.n_ev, 11);
	expect_ev(x, 0, FP_SET, CS, 1);
	expect_ev(x, 1, FP_SET, HOLD, 1);
	expect_ev(x, 2, FP_SET, WP, 1);
	expect_ev(x, 3, FP_SET, POWER, 1); /* back to the configured power_on */
	expect_ev(x, 4, FP_SET, RESET, 1); /* the target runs once power is settled */
	expect_ev(x, 5, FP_RELEASE, POWER, -1);
	expect_ev(x, 6, FP_RELEASE, RESET, -1);
	expect_ev(x, 7, FP_RELEASE, WP, -1);
	expect_ev(x, 8, FP_RELEASE, HOLD, -1);
	expect_ev(x, 9, FP_RELEASE, CS, -1);
	expect_ev(x, 10, FP_CHIP_CLOSE, -1, -1);
}

static void unwired_line_set_is_noop(void **state)
{
	struct fx *x = *state;

	x->cfg.wp.offset = -1;
	open_ok(x);
	assert_false(pins_has(x->p, PINS_WP));
	assert_true(pins_has(x->p, PINS_HOLD));
	x->f.n_ev = 0;
	assert_int_equal(pins_set(x->p, PINS_WP, true), 0);
	assert_int_equal(x->f.n_ev, 0);
}

static void null_pins_set_is_noop(void **state)
{
	(void)state;
	assert_int_equal(pins_set(NULL, PINS_HOLD, true), 0);
	assert_false(pins_has(NULL, PINS_HOLD));
	pins_close(NULL);
}

static void no_lines_opens_nothing(void **state)
{
	struct fx *x = *state;

	pins_config_init(&x->cfg);
	open_ok(x);
	assert_non_null(x->p);
	assert_int_equal(x->f.n_ev, 0);
	assert_int_equal(pins_set(x->p, PINS_CS, true), 0);
}

static void chip_names_map_to_dev_paths(void **state)
{
	struct fx *x = *state;
	struct pins *p = NULL;

	x->cfg.chip = "1";
	assert_int_equal(pins_open(&x->cfg, &x->f.gpio, &p, x->err, sizeof(x->err)), 0);
	assert_string_equal(x->f.chip_path, "/dev/gpiochip1");
	pins_close(p);
	x->cfg.chip = "/dev/gpiochip4";
	assert_int_equal(pins_open(&x->cfg, &x->f.gpio, &p, x->err, sizeof(x->err)), 0);
	assert_string_equal(x->f.chip_path, "/dev/gpiochip4");
	pins_close(p);
}

static void consumer_is_passed_to_requests(void **state)
{
	struct fx *x = *state;

	x->cfg.consumer = "flashd-test";
	open_ok(x);
	assert_string_equal(x->f.consumer, "flashd-test");
}

static void chip_enoent_has_context(void **state)
{
	struct fx *x = *state;

	x->cfg.chip = "gpiochip9";
	x->f.chip_open_err = -ENOENT;
	assert_int_equal(pins_open(&x->cfg, &x->f.gpio, &x->p, x->err, sizeof(x->err)), -ENOENT);
	assert_null(x->p);
	assert_int_equal(x->f.n_ev, 1);
	assert_non_null(strstr(x->err, "/dev/gpiochip9 not found"));
	assert_non_null(strstr(x->err, "ENOENT"));
}

static void chip_eacces_names_group_gpio(void **state)
{
	struct fx *x = *state;

	x->f.chip_open_err = -EACCES;
	assert_int_equal(pins_open(&x->cfg, &x->f.gpio, &x->p, x->err, sizeof(x->err)), -EACCES);
	assert_non_null(strstr(x->err, "group 'gpio'"));
}

static void line_busy_has_context_and_releases_earlier_lines(void **state)
{
	struct fx *x = *state;

	x->f.busy_offset = WP;
	x->f.busy_err = -EBUSY;
	assert_int_equal(pins_open(&x->cfg, &x->f.gpio, &x->p, x->err, sizeof(x->err)), -EBUSY);
	assert_null(x->p);
	assert_string_equal(x->err, "GPIO line 25 (wp) on /dev/gpiochip0 is in use by another "
				    "consumer (see gpioinfo): EBUSY");
	/* cs and hold were requested, then released in reverse, then the chip closed */
	assert_int_equal(x->f.n_ev, 7);
	expect_ev(x, 3, FP_REQUEST, WP, 1);
	expect_ev(x, 4, FP_RELEASE, HOLD, -1);
	expect_ev(x, 5, FP_RELEASE, CS, -1);
	expect_ev(x, 6, FP_CHIP_CLOSE, -1, -1);
}

static void set_error_is_errno_with_context(void **state)
{
	struct fx *x = *state;

	open_ok(x);
	x->f.set_fail_offset = HOLD;
	x->f.set_err = -EIO;
	assert_int_equal(pins_set(x->p, PINS_HOLD, true), -EIO);
	assert_string_equal(pins_last_error(x->p), "GPIO line 24 (hold) on /dev/gpiochip0: set 0: EIO");
	assert_int_equal(pins_set(x->p, PINS_CS, false), 0);
	assert_string_equal(pins_last_error(x->p), "");
	x->f.set_fail_offset = -1;
}

static void duplicate_offsets_are_einval(void **state)
{
	struct fx *x = *state;

	x->cfg.wp.offset = HOLD;
	assert_int_equal(pins_open(&x->cfg, &x->f.gpio, &x->p, x->err, sizeof(x->err)), -EINVAL);
	assert_string_equal(x->err, "GPIO line 24 is configured for both hold and wp");
	assert_int_equal(x->f.n_ev, 0);
}

static void lines_without_chip_are_einval(void **state)
{
	struct fx *x = *state;

	x->cfg.chip = NULL;
	assert_int_equal(pins_open(&x->cfg, &x->f.gpio, &x->p, x->err, sizeof(x->err)), -EINVAL);
	x->cfg.chip = "gpiochip0";
	x->cfg.cs.offset = -2;
	assert_int_equal(pins_open(&x->cfg, &x->f.gpio, &x->p, x->err, sizeof(x->err)), -EINVAL);
	assert_int_equal(x->f.n_ev, 0);
}

/* The real table: libgpiod v1/v2 against a chip that does not exist, or -ENOTSUP without it. */
static void real_gpio_missing_chip(void **state)
{
	struct pins_config c;
	struct pins *p = NULL;
	char err[256];

	(void)state;
	pins_config_init(&c);
	c.chip = "/nonexistent/gpiochip9";
	c.hold.offset = 3;
#if HAVE_GPIOD
	assert_non_null(pins_gpio_libgpiod());
	assert_int_equal(pins_open(&c, NULL, &p, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/gpiochip9 not found"));
#else
	assert_null(pins_gpio_libgpiod());
	assert_int_equal(pins_open(&c, NULL, &p, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "without libgpiod"));
#endif
	assert_null(p);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_init_defaults),
		T(open_requests_idle_levels_in_order),
		T(open_reset_while_open_holds_reset_before_power),
		T(open_power_off_configured_requests_power_low),
		T(set_hold_asserted_drives_low),
		T(active_high_line_is_not_inverted),
		T(active_low_power_line_is_inverted),
		T(close_drives_idle_then_releases_in_reverse),
		T(unwired_line_set_is_noop),
		cmocka_unit_test(null_pins_set_is_noop),
		T(no_lines_opens_nothing),
		T(chip_names_map_to_dev_paths),
		T(consumer_is_passed_to_requests),
		T(chip_enoent_has_context),
		T(chip_eacces_names_group_gpio),
		T(line_busy_has_context_and_releases_earlier_lines),
		T(set_error_is_errno_with_context),
		T(duplicate_offsets_are_einval),
		T(lines_without_chip_are_einval),
		cmocka_unit_test(real_gpio_missing_chip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
