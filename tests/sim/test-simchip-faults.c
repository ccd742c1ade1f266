/* SPDX-License-Identifier: MIT */
/*
 * Fault injection through raw transactions: what each fault does to the bytes and status
 * values a host sees, and when it takes effect.
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

static uint32_t rdid(struct spibus *bus)
{
	const uint8_t op = 0x9F;
	uint8_t id[3];

	assert_int_equal(spibus_cmd(bus, &op, 1, id, 3), 0);
	return get_be24(id);
}

static void fault(struct simfix *f, const char *spec)
{
	char err[160];

	if (simchip_fault_parse(f->sim, spec, err, sizeof(err)) < 0)
		fail_msg("fault \"%s\": %s", spec, err);
}

/* ---- swap ---- */

static void swap_powers_up_the_new_chip_sst26_locked(void **state)
{
	struct simfix *f = simfix_open("GD25Q64C");
	const uint8_t rdbpr = 0x72;
	uint8_t bpr[18], want[18];

	(void)state;
	raw_write_reg(f->bus, 0x01, (const uint8_t[]){0x1C}, 1); /* BP0-2 */
	raw_op(f->bus, 0x06);
	assert_int_equal(raw_reg(f->bus, 0x05), 0x1E);
	fault(f, "swap=SST26VF064B");
	/* the SST26 answers as after power-up: status clear, CR = BPNV, every block locked */
	assert_int_equal(raw_reg(f->bus, 0x05), 0x00);
	assert_int_equal(raw_reg(f->bus, 0x35), 0x08);
	memset(want, 0xFF, sizeof(want));
	want[0] = want[1] = 0x55;
	assert_int_equal(spibus_cmd(f->bus, &rdbpr, 1, bpr, sizeof(bpr)), 0);
	assert_memory_equal(bpr, want, sizeof(want));
	assert_int_equal(raw_try_program(f->bus, 0x100000, 3), 0x00);
	simfix_close(f);
}

static void swap_powers_up_the_new_chip_registers(void **state)
{
	struct simfix *f = simfix_open("MX25L12835F");

	(void)state;
	raw_write_reg(f->bus, 0x01, (const uint8_t[]){0x3C, 0x07}, 2); /* BP0-3, CR ODS */
	fault(f, "swap=W25Q128JV");
	/* W25Q128JV-IQ defaults: SR1 0, SR2 QE, SR3 drive strength 25 % */
	assert_int_equal(raw_reg(f->bus, 0x05), 0x00);
	assert_int_equal(raw_reg(f->bus, 0x35), 0x02);
	assert_int_equal(raw_reg(f->bus, 0x15), 0x60);
	simfix_close(f);
}

static void swap_ends_aai_mode(void **state)
{
	struct simfix *f = simfix_open("SST25VF016B");
	const uint8_t ewsr = 0x50, wrsr[2] = {0x01, 0x00};
	const uint8_t aai[6] = {0xAD, 0x00, 0x10, 0x00, 0x12, 0x34};

	(void)state;
	raw_cmd(f->bus, &ewsr, 1);
	raw_cmd(f->bus, wrsr, 2);
	raw_op(f->bus, 0x06);
	raw_cmd(f->bus, aai, sizeof(aai));
	raw_wait_idle(f->bus);
	assert_int_equal(raw_reg(f->bus, 0x05), 0x42); /* AAI, WEL */
	fault(f, "swap=SST25VF016B");
	/* another SST25VF016B: not in AAI, WEL clear, BP0-2 set as after every power-up */
	assert_int_equal(raw_reg(f->bus, 0x05), 0x1C);
	simfix_close(f);
}

static void swap_after_n_waits_n_transactions(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");

	(void)state;
	fault(f, "swap=MX25L12835F@3");
	assert_int_equal(rdid(f->bus), 0xef4018);
	assert_int_equal(rdid(f->bus), 0xef4018);
	assert_int_equal(rdid(f->bus), 0xef4018);
	assert_int_equal(rdid(f->bus), 0xc22018);
	simfix_close(f);
}

static void swap_after_write_waits_for_the_first_program_to_finish(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	const uint8_t pp[5] = {0x02, 0x00, 0x10, 0x00, 0xA5};
	uint8_t b;

	(void)state;
	fault(f, "swap=MX25L12835F@write");
	assert_int_equal(rdid(f->bus), 0xef4018);
	raw_read3(f->bus, 0, &b, 1);
	raw_op(f->bus, 0x06);
	raw_cmd(f->bus, pp, sizeof(pp));
	assert_int_equal(raw_reg(f->bus, 0x05), 0x03); /* still the W25Q, programming */
	fclock_sleep_ns(spibus_clock(f->bus), 400 * NSEC_PER_USEC); /* tPP typical */
	assert_int_equal(raw_reg(f->bus, 0x05), 0x00);
	assert_int_equal(rdid(f->bus), 0xc22018);
	raw_read3(f->bus, 0x1000, &b, 1);
	assert_int_equal(b, 0xA5); /* same image */
	simfix_close(f);
}

struct swap_seen {
	int calls;
	const struct sim_profile *from, *to;
	uint64_t txn;
};

static void on_swap(void *userdata, const struct sim_profile *from, const struct sim_profile *to,
		    uint64_t txn)
{
	struct swap_seen *w = userdata;

	w->calls++;
	w->from = from;
	w->to = to;
	w->txn = txn;
}

static void swap_is_reported_with_the_new_identity(void **state)
{
	struct swap_seen seen = {0};
	struct simchip_stats st;
	struct simchip_opts o;
	struct simfix *f;

	(void)state;
	simchip_opts_init(&o);
	o.time_scale = 0;
	o.on_swap = on_swap;
	o.userdata = &seen;
	f = simfix_open_opts("W25Q128JV", &o);
	fault(f, "swap=MX25L12835F@2");
	assert_string_equal(sim_profile_name(simchip_profile(f->sim)), "W25Q128JV");
	for (int i = 0; i < 3; i++)
		(void)rdid(f->bus);
	assert_int_equal(seen.calls, 1);
	assert_string_equal(sim_profile_name(seen.from), "W25Q128JV");
	assert_string_equal(sim_profile_name(seen.to), "MX25L12835F");
	assert_int_equal(seen.txn, 2); /* two transactions done, the third meets the new chip */
	assert_string_equal(sim_profile_name(simchip_profile(f->sim)), "MX25L12835F");
	simchip_get_stats(f->sim, &st);
	assert_int_equal(st.swaps, 1);
	simfix_close(f);
}

static void swap_spec_errors(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	static const struct {
		const char *spec, *err;
	} bad[] = {
		{"swap=MX25L12835F@0",
		 "fault \"swap=MX25L12835F@0\": swap=PROFILE@N needs N >= 1 transactions, or @write"},
		{"swap=MX25L12835F@",
		 "fault \"swap=MX25L12835F@\": swap=PROFILE@N needs N >= 1 transactions, or @write"},
		{"swap=MX25L12835F@writes", "fault \"swap=MX25L12835F@writes\": swap=PROFILE@N needs N "
					    ">= 1 transactions, or @write"},
		{"swap=MX25L12835F@-1",
		 "fault \"swap=MX25L12835F@-1\": swap=PROFILE@N needs N >= 1 transactions, or @write"},
		{"swap=@3", "fault \"swap=@3\": swap=PROFILE[@N|@write]"},
		{"swap", "fault \"swap\": swap=PROFILE[@N|@write]"},
		{"swap=NOPE@3", "fault \"swap=NOPE@3\": no profile \"NOPE\""},
		{"swap=W25Q256JV@write",
		 "fault \"swap=W25Q256JV@write\": W25Q256JV is not the same size as W25Q128JV"},
	};
	char err[160];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(simchip_fault_parse(f->sim, bad[i].spec, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, bad[i].err);
	}
	assert_int_equal(rdid(f->bus), 0xef4018); /* nothing pending */
	simfix_close(f);
}

static void clear_cancels_a_pending_swap(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");

	(void)state;
	fault(f, "swap=MX25L12835F@1");
	fault(f, "clear");
	assert_int_equal(rdid(f->bus), 0xef4018);
	assert_int_equal(rdid(f->bus), 0xef4018);
	simfix_close(f);
}

/* ---- program-fail ---- */

static void program_fail_sets_bit_7_of_each_pages_first_byte(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	uint8_t data[256], want[3 * 256], got[3 * 256];

	(void)state;
	for (int i = 0; i < 256; i++)
		data[i] = (uint8_t)(i ^ 0x5A); /* byte 0 = 0x5A: bit 7 clear */
	fault(f, "program-fail");
	/* a whole page, then a partial page that does not start at the page boundary */
	raw_program(f->bus, 0x02, 0x7100, data, 256, 3);
	raw_program(f->bus, 0x02, 0x7210, data, 16, 3);
	memset(want, 0xFF, sizeof(want));
	memcpy(want + 0x100, data, 256);
	want[0x100] |= 0x80; /* the page's first byte keeps bit 7 set: 0xDA */
	memcpy(want + 0x210, data, 16); /* no page start in it: exact */
	simfix_image_read(f, 0x7000, got, sizeof(got));
	th_assert_bytes(got, want, sizeof(want));
	/* what the host reads back is the same */
	raw_read3(f->bus, 0x7000, got, sizeof(got));
	th_assert_bytes(got, want, sizeof(want));
	simfix_close(f);
}

static void program_fail_clears_with_clear(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	const uint8_t zero = 0;
	uint8_t b;

	(void)state;
	fault(f, "program-fail");
	fault(f, "clear");
	raw_program(f->bus, 0x02, 0x7100, &zero, 1, 3);
	simfix_image_read(f, 0x7100, &b, 1);
	assert_int_equal(b, 0x00);
	simfix_close(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(swap_powers_up_the_new_chip_sst26_locked),
		cmocka_unit_test(swap_powers_up_the_new_chip_registers),
		cmocka_unit_test(swap_ends_aai_mode),
		cmocka_unit_test(swap_after_n_waits_n_transactions),
		cmocka_unit_test(swap_after_write_waits_for_the_first_program_to_finish),
		cmocka_unit_test(swap_is_reported_with_the_new_identity),
		cmocka_unit_test(swap_spec_errors),
		cmocka_unit_test(clear_cancels_a_pending_swap),
		cmocka_unit_test(program_fail_sets_bit_7_of_each_pages_first_byte),
		cmocka_unit_test(program_fail_clears_with_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
