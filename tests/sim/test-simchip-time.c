/* SPDX-License-Identifier: MIT */
/*
 * The simulator's time model: busy times (typical, seeded random in [typical, maximum],
 * maximum), wall-clock sleeping at a time scale above 0, the counters and their log line,
 * and the parse helpers behind --sim-busy and --sim-seed.
 */
#include "harness.h"
#include "simfix.h"
#include "simraw.h"

#include <errno.h>
#include <string.h>

#include "clock.h"
#include "simchip.h"
#include "spibus.h"
#include "util.h"

/* W25Q128JV 9.6: tPP 0.4 ms typical, 3 ms maximum; tSE 45 ms typical, 400 ms maximum */
#define W25_TPP_TYP_NS (400 * NSEC_PER_USEC)
#define W25_TPP_MAX_NS (3000 * NSEC_PER_USEC)

static struct simfix *open_busy(enum simchip_busy busy, uint64_t seed)
{
	struct simchip_opts o;

	simchip_opts_init(&o);
	o.time_scale = 0;
	o.busy = busy;
	o.seed = seed;
	return simfix_open_opts("W25Q128JV", &o);
}

/* Page-program n pages; ret_ns[i] = how long the chip said it would be busy for page i. */
static void program_pages(struct simfix *f, uint64_t *ret_ns, size_t n)
{
	uint8_t data[256];

	memset(data, 0x5A, sizeof(data));
	for (size_t i = 0; i < n; i++) {
		struct simchip_stats a, b;
		uint8_t pp[4 + 256] = {0x02};

		put_be24(pp + 1, (uint32_t)(i * 256));
		memcpy(pp + 4, data, sizeof(data));
		raw_op(f->bus, 0x06);
		simchip_get_stats(f->sim, &a);
		raw_cmd(f->bus, pp, sizeof(pp));
		simchip_get_stats(f->sim, &b);
		ret_ns[i] = b.busy_ns - a.busy_ns;
		raw_wait_idle(f->bus);
	}
}

static void typical_busy_is_the_datasheet_typical(void **state)
{
	struct simfix *f = open_busy(SIMCHIP_BUSY_TYPICAL, 1);
	uint64_t ns[8];

	(void)state;
	program_pages(f, ns, ARRAY_SIZE(ns));
	for (size_t i = 0; i < ARRAY_SIZE(ns); i++)
		assert_int_equal(ns[i], W25_TPP_TYP_NS);
	simfix_close(f);
}

static void maximum_busy_is_the_datasheet_maximum(void **state)
{
	struct simfix *f = open_busy(SIMCHIP_BUSY_MAXIMUM, 1);
	uint64_t ns[4];

	(void)state;
	program_pages(f, ns, ARRAY_SIZE(ns));
	for (size_t i = 0; i < ARRAY_SIZE(ns); i++)
		assert_int_equal(ns[i], W25_TPP_MAX_NS);
	simfix_close(f);
}

static void random_busy_stays_within_typical_and_maximum(void **state)
{
	struct simfix *f = open_busy(SIMCHIP_BUSY_RANDOM, 42);
	uint64_t ns[200], lo = UINT64_MAX, hi = 0;

	(void)state;
	program_pages(f, ns, ARRAY_SIZE(ns));
	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		assert_in_range(ns[i], W25_TPP_TYP_NS, W25_TPP_MAX_NS);
		lo = MIN(lo, ns[i]);
		hi = MAX(hi, ns[i]);
	}
	/* uniform over 2.6 ms: 200 draws spread over most of it */
	assert_true(hi - lo > (W25_TPP_MAX_NS - W25_TPP_TYP_NS) / 2);
	simfix_close(f);
}

static void random_busy_repeats_exactly_for_a_seed(void **state)
{
	uint64_t a[50], b[50], c[50];
	struct simfix *f;

	(void)state;
	f = open_busy(SIMCHIP_BUSY_RANDOM, 7);
	program_pages(f, a, ARRAY_SIZE(a));
	simfix_close(f);
	f = open_busy(SIMCHIP_BUSY_RANDOM, 7);
	program_pages(f, b, ARRAY_SIZE(b));
	simfix_close(f);
	f = open_busy(SIMCHIP_BUSY_RANDOM, 8);
	program_pages(f, c, ARRAY_SIZE(c));
	simfix_close(f);
	assert_memory_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, c, sizeof(a));
}

static void random_busy_chip_is_busy_for_the_drawn_time(void **state)
{
	struct simfix *f = open_busy(SIMCHIP_BUSY_RANDOM, 3);
	const uint8_t se[4] = {0x20, 0x00, 0x10, 0x00};
	struct fclock *clk = spibus_clock(f->bus);
	struct simchip_stats a, b;
	uint64_t t0, ns;

	(void)state;
	raw_op(f->bus, 0x06);
	simchip_get_stats(f->sim, &a);
	raw_cmd(f->bus, se, sizeof(se));
	t0 = fclock_now_ns(clk); /* the erase started when CS rose, at the end of that command */
	simchip_get_stats(f->sim, &b);
	ns = b.busy_ns - a.busy_ns;
	assert_in_range(ns, 45 * NSEC_PER_MSEC, 400 * NSEC_PER_MSEC);
	/* a status read costs 15 us + 16 bits at 32 MHz = 15.5 us; land the last poll inside */
	fclock_sleep_ns(clk, ns - 20 * NSEC_PER_USEC - (fclock_now_ns(clk) - t0));
	assert_int_equal(raw_reg(f->bus, 0x05), 0x03);
	fclock_sleep_ns(clk, 20 * NSEC_PER_USEC);
	assert_int_equal(raw_reg(f->bus, 0x05), 0x00);
	simfix_close(f);
}

static void time_scale_sleeps_the_scaled_modelled_time(void **state)
{
	struct simchip_opts o;
	struct simfix *f;
	uint64_t m0, w0, modelled, wall;
	const uint8_t ce = 0xC7;

	(void)state;
	simchip_opts_init(&o);
	o.time_scale = 0.01;
	f = simfix_open_opts("GD25Q64C", &o);
	(void)raw_reg(f->bus, 0x05); /* the first transaction anchors wall time to modelled */
	m0 = fclock_now_ns(spibus_clock(f->bus));
	w0 = fclock_mono_ns();
	raw_op(f->bus, 0x06);
	raw_cmd(f->bus, &ce, 1); /* tCE 25 s typical: 250 ms of wall time at 0.01 */
	while (raw_reg(f->bus, 0x05) & 1)
		fclock_sleep_ns(spibus_clock(f->bus), 100 * NSEC_PER_MSEC);
	modelled = fclock_now_ns(spibus_clock(f->bus)) - m0;
	wall = fclock_mono_ns() - w0;
	assert_true(modelled >= 25 * NSEC_PER_SEC);
	/* lower bound only: the model sleeps to absolute targets, short of them by < 1 ms */
	if (wall + 2 * NSEC_PER_MSEC < (uint64_t)((double)modelled * 0.01))
		fail_msg("slept %llu ns for %llu ns modelled at 0.01",
			 (unsigned long long)wall, (unsigned long long)modelled);
	simfix_close(f);
}

static void stats_count_what_the_host_did(void **state)
{
	struct simfix *f = open_busy(SIMCHIP_BUSY_TYPICAL, 1);
	const uint8_t pp[5] = {0x02, 0x00, 0x00, 0x00, 0x00}, se[4] = {0x20, 0x00, 0x00, 0x00};
	struct simchip_stats st;

	(void)state;
	simchip_reset_stats(f->sim);
	raw_op(f->bus, 0x06);	       /* 1 byte */
	raw_cmd(f->bus, pp, 5);	       /* 5 bytes, busy 400 us */
	(void)raw_reg(f->bus, 0x05);   /* 2 bytes, 1 poll */
	raw_op(f->bus, 0x06);	       /* ignored while busy, 1 byte */
	fclock_sleep_ns(spibus_clock(f->bus), NSEC_PER_MSEC);
	raw_op(f->bus, 0x06);
	raw_cmd(f->bus, se, 4);	       /* busy 45 ms */
	simchip_get_stats(f->sim, &st);
	assert_int_equal(st.transactions, 6);
	assert_int_equal(st.bytes, 1 + 5 + 2 + 1 + 1 + 4);
	assert_int_equal(st.status_polls, 1);
	assert_int_equal(st.programs, 1);
	assert_int_equal(st.erases, 1);
	assert_int_equal(st.busy_ns, 400 * NSEC_PER_USEC + 45 * NSEC_PER_MSEC);
	assert_int_equal(st.swaps, 0);
	simfix_close(f);
}

static void stats_format_is_one_line(void **state)
{
	const struct simchip_stats st = {
		.transactions = 1234,
		.bytes = 16777216 + 5,
		.status_polls = 77,
		.busy_ns = 1500000,
		.modelled_ns = 2345678901ull,
		.programs = 65536,
		.erases = 1,
		.swaps = 0,
	};
	char buf[256], tiny[16];

	(void)state;
	assert_int_equal(simchip_stats_format(&st, buf, sizeof(buf)),
			 (int)strlen("1234 transactions, 16777221 bytes, 77 status polls, 65536 "
				     "programs, 1 erases, 0 swaps, busy 0.001500 s of 2.345679 s "
				     "modelled"));
	assert_string_equal(buf, "1234 transactions, 16777221 bytes, 77 status polls, 65536 "
				 "programs, 1 erases, 0 swaps, busy 0.001500 s of 2.345679 s "
				 "modelled");
	/* truncated like snprintf, always terminated */
	(void)simchip_stats_format(&st, tiny, sizeof(tiny));
	assert_string_equal(tiny, "1234 transactio");
}

static void busy_parse_takes_the_three_modes(void **state)
{
	static const struct {
		const char *s;
		enum simchip_busy want;
	} ok[] = {
		{"typical", SIMCHIP_BUSY_TYPICAL}, {"random", SIMCHIP_BUSY_RANDOM},
		{"max", SIMCHIP_BUSY_MAXIMUM},	   {"maximum", SIMCHIP_BUSY_MAXIMUM},
		{"Random", SIMCHIP_BUSY_RANDOM},
	};
	enum simchip_busy b = SIMCHIP_BUSY_TYPICAL;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		assert_int_equal(simchip_busy_parse(ok[i].s, &b), 0);
		assert_int_equal(b, ok[i].want);
	}
	b = SIMCHIP_BUSY_RANDOM;
	assert_int_equal(simchip_busy_parse("fast", &b), -EINVAL);
	assert_int_equal(simchip_busy_parse("", &b), -EINVAL);
	assert_int_equal(simchip_busy_parse(NULL, &b), -EINVAL);
	assert_int_equal(b, SIMCHIP_BUSY_RANDOM); /* untouched on error */
	assert_string_equal(simchip_busy_name(SIMCHIP_BUSY_TYPICAL), "typical");
	assert_string_equal(simchip_busy_name(SIMCHIP_BUSY_RANDOM), "random");
	assert_string_equal(simchip_busy_name(SIMCHIP_BUSY_MAXIMUM), "max");
	assert_null(simchip_busy_name(_SIMCHIP_BUSY_MAX));
}

static void seed_parse_takes_decimal_and_hex(void **state)
{
	uint64_t v = 99;

	(void)state;
	assert_int_equal(simchip_seed_parse("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(simchip_seed_parse("42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(simchip_seed_parse("0xDEADbeef", &v), 0);
	assert_int_equal(v, 0xdeadbeef);
	assert_int_equal(simchip_seed_parse("18446744073709551615", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	v = 5;
	assert_int_equal(simchip_seed_parse("18446744073709551616", &v), -ERANGE);
	assert_int_equal(simchip_seed_parse("-1", &v), -EINVAL);
	assert_int_equal(simchip_seed_parse("12ab", &v), -EINVAL);
	assert_int_equal(simchip_seed_parse(" 1", &v), -EINVAL);
	assert_int_equal(simchip_seed_parse("", &v), -EINVAL);
	assert_int_equal(simchip_seed_parse(NULL, &v), -EINVAL);
	assert_int_equal(v, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(typical_busy_is_the_datasheet_typical),
		cmocka_unit_test(maximum_busy_is_the_datasheet_maximum),
		cmocka_unit_test(random_busy_stays_within_typical_and_maximum),
		cmocka_unit_test(random_busy_repeats_exactly_for_a_seed),
		cmocka_unit_test(random_busy_chip_is_busy_for_the_drawn_time),
		cmocka_unit_test(time_scale_sleeps_the_scaled_modelled_time),
		cmocka_unit_test(stats_count_what_the_host_did),
		cmocka_unit_test(stats_format_is_one_line),
		cmocka_unit_test(busy_parse_takes_the_three_modes),
		cmocka_unit_test(seed_parse_takes_decimal_and_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
