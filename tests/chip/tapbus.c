/* SPDX-License-Identifier: MIT */
/* tapbus.c - see tapbus.h. Test code: single-threaded, fails the test on misuse. */
#include "tapbus.h"

#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "spibus.h"
#include "util.h"

#define TAP_MAX_CMD 70000u
#define TAP_LOG	    8192u

struct vclock {
	struct fclock clk;
	uint64_t now;
};

struct tapbus {
	struct spibus bus; /* first: the spibus ops get this pointer */
	struct spibus *inner;
	tap_hook hook;
	void *ctx;
	struct vclock vclk;
	unsigned fail_in, fail_count;
	unsigned counts[256];
	char log[TAP_LOG];
	size_t log_len;
	uint8_t tx[TAP_MAX_CMD], rx[TAP_MAX_CMD];
};

static uint64_t v_now(struct fclock *clk)
{
	return ((struct vclock *)clk)->now;
}

static void v_sleep(struct fclock *clk, uint64_t ns)
{
	((struct vclock *)clk)->now += ns;
}

static const struct fclock_ops v_ops = {.now_ns = v_now, .sleep_ns = v_sleep};

static void log_op(struct tapbus *t, uint8_t op)
{
	t->counts[op]++;
	if (t->log_len + 4 < TAP_LOG)
		t->log_len += (size_t)snprintf(t->log + t->log_len, TAP_LOG - t->log_len, "%s%02x",
					       t->log_len ? " " : "", op);
}

static int tap_transfer(struct spibus *bus, const struct spibus_seg *segs, size_t n)
{
	struct tapbus *t = (struct tapbus *)bus;

	if (t->fail_in > 1) {
		t->fail_in--;
	} else if (t->fail_in == 1 && t->fail_count) {
		t->fail_count--;
		if (!t->fail_count)
			t->fail_in = 0;
		return -EIO;
	}
	t->vclk.now += 15000; /* a transaction's overhead, as on a Pi */
	for (size_t i = 0; i < n;) {
		size_t j = i, len = 0, off = 0;

		while (j < n) {
			len += segs[j].len;
			if (segs[j++].cs_toggle)
				break;
		}
		if (len > TAP_MAX_CMD)
			return -EMSGSIZE;
		for (size_t k = i; k < j; k++) {
			if (segs[k].tx)
				memcpy(t->tx + off, segs[k].tx, segs[k].len);
			else
				memset(t->tx + off, 0, segs[k].len);
			off += segs[k].len;
		}
		if (len)
			log_op(t, t->tx[0]);
		memset(t->rx, 0xFF, len);
		if (len && t->hook && t->hook(t->ctx, t->tx, len, t->rx)) {
			off = 0;
			for (size_t k = i; k < j; k++) {
				if (segs[k].rx)
					memcpy(segs[k].rx, t->rx + off, segs[k].len);
				off += segs[k].len;
			}
		} else if (t->inner) {
			struct spibus_seg one[SPIBUS_MAX_SEGS];
			int r;

			memcpy(one, segs + i, (j - i) * sizeof(one[0]));
			one[j - i - 1].cs_toggle = false;
			r = spibus_transfer(t->inner, one, j - i);
			if (r < 0)
				return r;
		} else {
			for (size_t k = i; k < j; k++)
				if (segs[k].rx)
					memset(segs[k].rx, 0xFF, segs[k].len);
		}
		i = j;
	}
	return 0;
}

static int tap_set_speed(struct spibus *bus, uint32_t hz)
{
	struct tapbus *t = (struct tapbus *)bus;
	int r = t->inner ? spibus_set_speed(t->inner, hz) : 0;

	if (r >= 0)
		bus->speed_hz = t->inner ? spibus_speed(t->inner) : hz;
	return r;
}

static const struct spibus_ops tap_ops = {.transfer = tap_transfer, .set_speed = tap_set_speed};

struct tapbus *tapbus_new(struct spibus *inner, tap_hook hook, void *ctx)
{
	struct tapbus *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->inner = inner;
	t->hook = hook;
	t->ctx = ctx;
	t->vclk.clk.ops = &v_ops;
	t->bus = (struct spibus){
	    .ops = &tap_ops,
	    .name = "tap",
	    .clock = inner ? spibus_clock(inner) : &t->vclk.clk,
	    .max_transfer = inner ? spibus_max_transfer(inner) : 65536,
	    .speed_hz = inner ? spibus_speed(inner) : 20000000,
	    .cs_toggle_ok = inner ? inner->cs_toggle_ok : true,
	    .txn_overhead_ns = inner ? inner->txn_overhead_ns : 15000,
	};
	return t;
}

void tapbus_free(struct tapbus *t)
{
	free(t);
}

struct spibus *tapbus_bus(struct tapbus *t)
{
	return &t->bus;
}

const char *tapbus_log(const struct tapbus *t)
{
	return t->log;
}

void tapbus_clear_log(struct tapbus *t)
{
	t->log[0] = '\0';
	t->log_len = 0;
	memset(t->counts, 0, sizeof(t->counts));
}

unsigned tapbus_count(const struct tapbus *t, uint8_t op)
{
	return t->counts[op];
}

void tapbus_fail_at(struct tapbus *t, unsigned n, unsigned count)
{
	t->fail_in = n;
	t->fail_count = count;
}
