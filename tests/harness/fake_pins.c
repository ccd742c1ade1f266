/* SPDX-License-Identifier: MIT */
/* fake_pins.c - see fake_pins.h. Single-threaded. */
#include "fake_pins.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct fake_pins *to_fake(struct pins_gpio *g)
{
	return (struct fake_pins *)g;
}

static void record(struct fake_pins *f, enum fake_pins_op op, int offset, int value)
{
	if (f->n_ev < FAKE_PINS_MAX_EVENTS)
		f->ev[f->n_ev++] = (struct fake_pins_event){op, offset, value};
}

static int fake_chip_open(struct pins_gpio *g, const char *path, void **ret_chip)
{
	struct fake_pins *f = to_fake(g);

	snprintf(f->chip_path, sizeof(f->chip_path), "%s", path);
	record(f, FP_CHIP_OPEN, -1, -1);
	if (f->chip_open_err)
		return f->chip_open_err;
	f->chips_open++;
	*ret_chip = f;
	return 0;
}

static int fake_line_request(struct pins_gpio *g, void *chip, unsigned int offset,
			     const char *consumer, int value, void **ret_line)
{
	struct fake_pins *f = to_fake(g);

	if (chip != f || offset >= FAKE_PINS_MAX_LINES)
		return -EINVAL;
	record(f, FP_REQUEST, (int)offset, value);
	if ((int)offset == f->busy_offset)
		return f->busy_err;
	snprintf(f->consumer, sizeof(f->consumer), "%s", consumer);
	f->level[offset] = value;
	f->lines[offset] = (struct fake_line){f, (int)offset};
	f->lines_held++;
	*ret_line = &f->lines[offset];
	return 0;
}

static int fake_line_set(struct pins_gpio *g, void *line, int value)
{
	struct fake_pins *f = to_fake(g);
	struct fake_line *l = line;

	record(f, FP_SET, l->offset, value);
	if (l->offset == f->set_fail_offset)
		return f->set_err;
	f->level[l->offset] = value;
	return 0;
}

static void fake_line_release(struct pins_gpio *g, void *line)
{
	struct fake_pins *f = to_fake(g);
	struct fake_line *l = line;

	record(f, FP_RELEASE, l->offset, -1);
	f->lines_held--;
}

static void fake_chip_close(struct pins_gpio *g, void *chip)
{
	struct fake_pins *f = to_fake(g);

	(void)chip;
	record(f, FP_CHIP_CLOSE, -1, -1);
	f->chips_open--;
}

static const struct pins_gpio_ops fake_ops = {
	.chip_open = fake_chip_open,
	.line_request = fake_line_request,
	.line_set = fake_line_set,
	.line_release = fake_line_release,
	.chip_close = fake_chip_close,
};

void fake_pins_init(struct fake_pins *f)
{
	memset(f, 0, sizeof(*f));
	f->gpio.ops = &fake_ops;
	f->busy_offset = -1;
	f->set_fail_offset = -1;
	for (size_t i = 0; i < FAKE_PINS_MAX_LINES; i++)
		f->level[i] = -1;
}
