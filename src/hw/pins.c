/* SPDX-License-Identifier: MIT */
/*
 * pins.c - CS/HOLD#/WP#/power/reset lines through libgpiod, behind struct pins_gpio.
 *
 * Job: request the wired lines at safe idle levels, let the worker assert/de-assert functions,
 * and put everything back at safe levels in a fixed order on close (the orders are in pins.h).
 *
 * Invariants: pins.c talks physical levels to the gpio table and does the active_low inversion
 * itself; a line is requested already driving its idle level (no glitch through the other
 * level); a failed pins_open() releases whatever it had requested. This is the only file that
 * includes <gpiod.h> (STYLE F35): libgpiod v1 (1.6, Debian 12) or v2 (2.x, trixie) by
 * HAVE_GPIOD2 from config.h.
 *
 * Non-logging (STYLE E27). Threading: one thread per pins object (the bus owner).
 */
#include "pins.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buildcfg.h"
#include "log.h"
#include "util.h"

#if HAVE_GPIOD
#include <gpiod.h>
#endif

#define PINS_DEFAULT_CONSUMER "flashd"

struct pins_slot {
	int offset; /* -1: not wired */
	bool active_low;
	bool asserted;
	void *line;
};

struct pins {
	struct pins_gpio *gpio;
	void *chip;
	char path[128];
	bool power_on;
	struct pins_slot slot[_PINS_MAX];
	char errmsg[200];
};

static const char *const pins_names[_PINS_MAX] = {
	[PINS_CS] = "cs",
	[PINS_HOLD] = "hold",
	[PINS_WP] = "wp",
	[PINS_POWER] = "power",
	[PINS_RESET] = "reset",
};

/* Request order at open; close releases in reverse. */
static const enum pins_id open_order[_PINS_MAX] = {
	PINS_CS, PINS_HOLD, PINS_WP, PINS_RESET, PINS_POWER,
};
/* Order in which close drives idle levels: power settles before reset lets the target run. */
static const enum pins_id close_order[_PINS_MAX] = {
	PINS_CS, PINS_HOLD, PINS_WP, PINS_POWER, PINS_RESET,
};

const char *pins_id_name(enum pins_id id)
{
	return (unsigned)id < _PINS_MAX ? pins_names[id] : "?";
}

void pins_config_init(struct pins_config *cfg)
{
	*cfg = (struct pins_config){
		.cs = {.offset = -1, .active_low = true},
		.hold = {.offset = -1, .active_low = true},
		.wp = {.offset = -1, .active_low = true},
		.power = {.offset = -1, .active_low = false},
		.reset = {.offset = -1, .active_low = true},
		.power_on = true,
	};
}

static void PRINTF_FMT(3, 4) set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* "0" -> /dev/gpiochip0, "gpiochip0" -> /dev/gpiochip0, anything with a '/' as is. */
static int chip_path(const char *chip, char *buf, size_t size)
{
	int n;

	if (!chip || !*chip)
		return -EINVAL;
	if (strchr(chip, '/'))
		n = snprintf(buf, size, "%s", chip);
	else if (strspn(chip, "0123456789") == strlen(chip))
		n = snprintf(buf, size, "/dev/gpiochip%s", chip);
	else
		n = snprintf(buf, size, "/dev/%s", chip);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Physical level for a function state on a line. */
static int level(const struct pins_slot *s, bool asserted)
{
	return asserted != s->active_low;
}

static bool idle_asserted(const struct pins *p, enum pins_id id, bool at_open, bool reset_hold)
{
	switch (id) {
	case PINS_POWER:
		return p->power_on;
	case PINS_RESET:
		return at_open && reset_hold;
	default:
		return false;
	}
}

static void release_all(struct pins *p)
{
	for (size_t i = _PINS_MAX; i-- > 0;) {
		struct pins_slot *s = &p->slot[open_order[i]];

		if (s->line) {
			p->gpio->ops->line_release(p->gpio, s->line);
			s->line = NULL;
		}
	}
	if (p->chip) {
		p->gpio->ops->chip_close(p->gpio, p->chip);
		p->chip = NULL;
	}
}

static int validate(const struct pins_config *cfg, const struct pins_line *lines[], char *err,
		    size_t errlen, bool *ret_any)
{
	bool any = false;

	for (size_t i = 0; i < _PINS_MAX; i++) {
		if (lines[i]->offset < -1) {
			set_err(err, errlen, "GPIO line for %s: bad offset %d", pins_names[i],
				lines[i]->offset);
			return -EINVAL;
		}
		if (lines[i]->offset < 0)
			continue;
		any = true;
		for (size_t j = 0; j < i; j++) {
			if (lines[j]->offset == lines[i]->offset) {
				set_err(err, errlen, "GPIO line %d is configured for both %s and %s",
					lines[i]->offset, pins_names[j], pins_names[i]);
				return -EINVAL;
			}
		}
	}
	if (any && (!cfg->chip || !*cfg->chip)) {
		set_err(err, errlen, "GPIO lines are configured but no GPIO chip is named");
		return -EINVAL;
	}
	*ret_any = any;
	return 0;
}

int pins_open(const struct pins_config *cfg, struct pins_gpio *gpio, struct pins **ret_pins,
	      char *err, size_t errlen)
{
	const struct pins_line *lines[_PINS_MAX];
	const char *consumer;
	struct pins *p;
	bool any;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!cfg || !ret_pins)
		return -EINVAL;
	lines[PINS_CS] = &cfg->cs;
	lines[PINS_HOLD] = &cfg->hold;
	lines[PINS_WP] = &cfg->wp;
	lines[PINS_POWER] = &cfg->power;
	lines[PINS_RESET] = &cfg->reset;
	r = validate(cfg, lines, err, errlen, &any);
	if (r < 0)
		return r;
	if (!gpio)
		gpio = pins_gpio_libgpiod();
	if (any && !gpio) {
		set_err(err, errlen,
			"GPIO lines are configured but flashd was built without libgpiod "
			"(install libgpiod-dev and rebuild, or remove the pin settings): ENOTSUP");
		return -ENOTSUP;
	}

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->gpio = gpio;
	p->power_on = cfg->power_on;
	for (size_t i = 0; i < _PINS_MAX; i++) {
		p->slot[i].offset = lines[i]->offset;
		p->slot[i].active_low = lines[i]->active_low;
	}
	if (!any) {
		*ret_pins = p;
		return 0;
	}

	r = chip_path(cfg->chip, p->path, sizeof(p->path));
	if (r < 0) {
		set_err(err, errlen, "GPIO chip name \"%.64s\" is too long", cfg->chip);
		goto fail;
	}
	r = gpio->ops->chip_open(gpio, p->path, &p->chip);
	if (r < 0) {
		p->chip = NULL;
		if (r == -ENOENT)
			set_err(err, errlen,
				"GPIO chip %s not found (see ls /dev/gpiochip*; the pins chip "
				"setting): ENOENT",
				p->path);
		else if (r == -EACCES || r == -EPERM)
			set_err(err, errlen,
				"GPIO chip %s: permission denied: add the user to group 'gpio' "
				"(SupplementaryGroups=gpio for the service): %s",
				p->path, errno_name(r));
		else
			set_err(err, errlen, "GPIO chip %s: open: %s", p->path, errno_name(r));
		goto fail;
	}

	consumer = cfg->consumer && *cfg->consumer ? cfg->consumer : PINS_DEFAULT_CONSUMER;
	for (size_t i = 0; i < _PINS_MAX; i++) {
		enum pins_id id = open_order[i];
		struct pins_slot *s = &p->slot[id];
		bool a = idle_asserted(p, id, true, cfg->reset_while_open);

		if (s->offset < 0)
			continue;
		r = gpio->ops->line_request(gpio, p->chip, (unsigned)s->offset, consumer,
					    level(s, a), &s->line);
		if (r < 0) {
			s->line = NULL;
			if (r == -EBUSY)
				set_err(err, errlen,
					"GPIO line %d (%s) on %s is in use by another consumer "
					"(see gpioinfo): EBUSY",
					s->offset, pins_names[id], p->path);
			else
				set_err(err, errlen, "GPIO line %d (%s) on %s: request: %s",
					s->offset, pins_names[id], p->path, errno_name(r));
			goto fail;
		}
		s->asserted = a;
	}
	*ret_pins = p;
	return 0;

fail:
	release_all(p);
	free(p);
	return r;
}

int pins_set(struct pins *p, enum pins_id id, bool asserted)
{
	struct pins_slot *s;
	int r;

	if (!p)
		return 0;
	if ((unsigned)id >= _PINS_MAX)
		return -EINVAL;
	p->errmsg[0] = '\0';
	s = &p->slot[id];
	if (!s->line)
		return 0;
	r = p->gpio->ops->line_set(p->gpio, s->line, level(s, asserted));
	if (r < 0) {
		snprintf(p->errmsg, sizeof(p->errmsg), "GPIO line %d (%s) on %s: set %d: %s",
			 s->offset, pins_names[id], p->path, level(s, asserted), errno_name(r));
		return r;
	}
	s->asserted = asserted;
	return 0;
}

bool pins_has(const struct pins *p, enum pins_id id)
{
	return p && (unsigned)id < _PINS_MAX && p->slot[id].line;
}

const char *pins_last_error(const struct pins *p)
{
	return p ? p->errmsg : "";
}

void pins_close(struct pins *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < _PINS_MAX; i++) {
		enum pins_id id = close_order[i];

		/* Best effort: a line that cannot be set is still released below. */
		(void)pins_set(p, id, idle_asserted(p, id, false, false));
	}
	release_all(p);
	free(p);
}

/* ---- libgpiod ---------------------------------------------------------------------------- */

#if HAVE_GPIOD
/* libgpiod reports through errno; never let a missing errno look like success. */
static int gpiod_err(void)
{
	return errno > 0 ? -errno : -EIO;
}

static int lg_chip_open(struct pins_gpio *g, const char *path, void **ret_chip)
{
	struct gpiod_chip *c;

	(void)g;
	c = gpiod_chip_open(path);
	if (!c)
		return gpiod_err();
	*ret_chip = c;
	return 0;
}

static void lg_chip_close(struct pins_gpio *g, void *chip)
{
	(void)g;
	gpiod_chip_close(chip);
}

#if HAVE_GPIOD2
/* v2: one request per line, so lines stay independent like in v1. */
struct lg_line {
	struct gpiod_line_request *req;
	unsigned int offset;
};

static enum gpiod_line_value lg_value(int value)
{
	return value ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE;
}

static int lg_line_request(struct pins_gpio *g, void *chip, unsigned int offset,
			   const char *consumer, int value, void **ret_line)
{
	struct gpiod_line_settings *settings = NULL;
	struct gpiod_line_config *lcfg = NULL;
	struct gpiod_request_config *rcfg = NULL;
	struct lg_line *l = NULL;
	int r;

	(void)g;
	l = calloc(1, sizeof(*l));
	settings = gpiod_line_settings_new();
	lcfg = gpiod_line_config_new();
	rcfg = gpiod_request_config_new();
	if (!l || !settings || !lcfg || !rcfg) {
		r = -ENOMEM;
		goto out;
	}
	/* Active-high in libgpiod: pins.c passes physical levels. */
	if (gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_OUTPUT) < 0 ||
	    gpiod_line_settings_set_output_value(settings, lg_value(value)) < 0 ||
	    gpiod_line_config_add_line_settings(lcfg, &offset, 1, settings) < 0) {
		r = gpiod_err();
		goto out;
	}
	gpiod_request_config_set_consumer(rcfg, consumer);
	l->req = gpiod_chip_request_lines(chip, rcfg, lcfg);
	if (!l->req) {
		r = gpiod_err();
		goto out;
	}
	l->offset = offset;
	*ret_line = l;
	l = NULL;
	r = 0;
out:
	free(l);
	/* Not every libgpiod 2.x release documents NULL as accepted by these. */
	if (rcfg)
		gpiod_request_config_free(rcfg);
	if (lcfg)
		gpiod_line_config_free(lcfg);
	if (settings)
		gpiod_line_settings_free(settings);
	return r;
}

static int lg_line_set(struct pins_gpio *g, void *line, int value)
{
	struct lg_line *l = line;

	(void)g;
	return gpiod_line_request_set_value(l->req, l->offset, lg_value(value)) < 0 ? gpiod_err()
										   : 0;
}

static void lg_line_release(struct pins_gpio *g, void *line)
{
	struct lg_line *l = line;

	(void)g;
	gpiod_line_request_release(l->req);
	free(l);
}
#else
/* v1 (1.6): lines belong to the chip object; gpiod_chip_close() would release them too. */
static int lg_line_request(struct pins_gpio *g, void *chip, unsigned int offset,
			   const char *consumer, int value, void **ret_line)
{
	struct gpiod_line *l;

	(void)g;
	l = gpiod_chip_get_line(chip, offset);
	if (!l)
		return gpiod_err();
	if (gpiod_line_request_output(l, consumer, value) < 0)
		return gpiod_err();
	*ret_line = l;
	return 0;
}

static int lg_line_set(struct pins_gpio *g, void *line, int value)
{
	(void)g;
	return gpiod_line_set_value(line, value) < 0 ? gpiod_err() : 0;
}

static void lg_line_release(struct pins_gpio *g, void *line)
{
	(void)g;
	gpiod_line_release(line);
}
#endif

static const struct pins_gpio_ops lg_ops = {
	.chip_open = lg_chip_open,
	.line_request = lg_line_request,
	.line_set = lg_line_set,
	.line_release = lg_line_release,
	.chip_close = lg_chip_close,
};

static struct pins_gpio lg_gpio = {
	.ops = &lg_ops,
};

struct pins_gpio *pins_gpio_libgpiod(void)
{
	return &lg_gpio;
}
#else
struct pins_gpio *pins_gpio_libgpiod(void)
{
	return NULL;
}
#endif
