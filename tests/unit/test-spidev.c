/* SPDX-License-Identifier: MIT */
/*
 * The spidev backend through the fake kernel seam: exact ioctl request numbers, exact
 * spi_ioc_transfer arrays, set-up readback, bufsiz splitting and every error path.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "fake_sysio.h"
#include "spibus.h"
#include "spidev.h"
#include "sysio.h"
#include "util.h"

#define DEV "/dev/spidev0.0"
#define SPEED 20000000u

struct fx {
	struct fake_sysio f;
	struct spidev_opts o;
	struct spibus *bus;
	char err[256];
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	fake_sysio_init(&x->f);
	x->o = (struct spidev_opts){.speed_hz = SPEED, .mode = 0, .io = &x->f.io};
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	spibus_free(x->bus);
	/* Every fd the backend opened was closed again. */
	assert_int_equal(x->f.open_fds, 0);
	free(x);
	return 0;
}

static void open_ok(struct fx *x)
{
	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), 0);
	assert_string_equal(x->err, "");
	/* Forget the set-up ioctls so transfer tests index their own calls from 0. */
	x->f.n_calls = 0;
}

static void assert_xfer(const struct spi_ioc_transfer *t, const void *tx, const void *rx,
			uint32_t len, uint8_t cs_change)
{
	struct spi_ioc_transfer want;

	memset(&want, 0, sizeof(want));
	want.tx_buf = (uintptr_t)tx;
	want.rx_buf = (uintptr_t)rx;
	want.len = len;
	want.speed_hz = SPEED;
	want.bits_per_word = 8;
	want.cs_change = cs_change;
	/* Whole-struct compare: delay_usecs, nbits, word_delay and pad must all be 0. */
	assert_memory_equal(t, &want, sizeof(want));
}

static void ioc_message_matches_kernel_macro(void **state)
{
	(void)state;
	assert_true(spidev_ioc_message(1) == SPI_IOC_MESSAGE(1));
	assert_true(spidev_ioc_message(2) == SPI_IOC_MESSAGE(2));
	assert_true(spidev_ioc_message(3) == SPI_IOC_MESSAGE(3));
	assert_true(spidev_ioc_message(64) == SPI_IOC_MESSAGE(64));
}

static void open_writes_and_reads_back_mode_bits_speed(void **state)
{
	struct fx *x = *state;
	struct fake_ioctl_call *c = x->f.calls;

	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), 0);
	assert_int_equal(x->f.n_calls, 6);
	assert_true(c[0].req == SPI_IOC_WR_MODE);
	assert_int_equal(c[0].val, 0);
	assert_true(c[1].req == SPI_IOC_RD_MODE);
	assert_true(c[2].req == SPI_IOC_WR_BITS_PER_WORD);
	assert_int_equal(c[2].val, 8);
	assert_true(c[3].req == SPI_IOC_RD_BITS_PER_WORD);
	assert_true(c[4].req == SPI_IOC_WR_MAX_SPEED_HZ);
	assert_int_equal(c[4].val, SPEED);
	assert_true(c[5].req == SPI_IOC_RD_MAX_SPEED_HZ);
	assert_true(spidev_is(x->bus));
	assert_string_equal(spibus_name(x->bus), "spidev:" DEV);
	assert_int_equal(spibus_speed(x->bus), SPEED);
	assert_int_equal(spibus_max_transfer(x->bus), 4096);
	assert_ptr_equal(spibus_clock(x->bus), fclock_monotonic());
	assert_int_equal(x->bus->mode, 0);
	assert_true(x->bus->cs_toggle_ok);
	assert_int_equal(x->bus->txn_overhead_ns, SPIDEV_TXN_OVERHEAD_NS);
	assert_int_equal(x->f.open_fds, 1);
}

static void open_mode3_is_written_and_kept(void **state)
{
	struct fx *x = *state;

	x->o.mode = 3;
	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), 0);
	assert_int_equal(x->f.calls[0].val, 3);
	assert_int_equal(x->bus->mode, 3);
}

static void open_accepts_cs_high_in_mode_readback(void **state)
{
	struct fx *x = *state;

	/* Kernels with GPIO chip selects report SPI_CS_HIGH (0x04) in RD_MODE. */
	x->f.rd_mode_or = 0x04;
	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), 0);
}

static void open_mode_readback_mismatch_is_einval(void **state)
{
	struct fx *x = *state;

	x->f.rd_mode_force = 1;
	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), -EINVAL);
	assert_null(x->bus);
	assert_non_null(strstr(x->err, DEV));
	assert_non_null(strstr(x->err, "mode"));
}

static void open_uses_speed_the_driver_reports(void **state)
{
	struct fx *x = *state;

	x->f.speed_cap = 15600000;
	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), 0);
	assert_int_equal(spibus_speed(x->bus), 15600000);
}

static void open_speed_readback_faster_is_einval(void **state)
{
	struct fx *x = *state;

	x->f.speed_report = SPEED + 1;
	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), -EINVAL);
	assert_non_null(strstr(x->err, "driver reports 20000001 Hz"));
}

static void open_rejects_bad_opts(void **state)
{
	struct fx *x = *state;

	x->o.mode = 4;
	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), -EINVAL);
	x->o.mode = 0;
	x->o.bits_per_word = 16;
	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), -EINVAL);
	x->o.bits_per_word = 8;
	x->o.speed_hz = 0;
	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), -EINVAL);
	assert_int_equal(x->f.n_calls, 0);
}

static void open_enoent_names_device_and_dtparam(void **state)
{
	struct fx *x = *state;

	x->f.open_err = -ENOENT;
	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), -ENOENT);
	assert_null(x->bus);
	assert_non_null(strstr(x->err, DEV));
	assert_non_null(strstr(x->err, "dtparam=spi=on"));
}

static void open_eacces_names_group_spi(void **state)
{
	struct fx *x = *state;

	x->f.open_err = -EACCES;
	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), -EACCES);
	assert_non_null(strstr(x->err, DEV));
	assert_non_null(strstr(x->err, "group 'spi'"));
}

static void open_setup_ioctl_error_closes_device(void **state)
{
	struct fx *x = *state;

	x->f.fail_req = SPI_IOC_WR_MAX_SPEED_HZ;
	x->f.fail_err = -EINVAL;
	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), -EINVAL);
	assert_non_null(strstr(x->err, "max speed 20000000 Hz: EINVAL"));
	/* teardown checks the device fd was closed */
}

static void open_bufsiz_read_from_sysfs(void **state)
{
	struct fx *x = *state;

	x->f.bufsiz_text = "65536\n";
	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), 0);
	assert_int_equal(spibus_max_transfer(x->bus), 65536);
}

static void open_bufsiz_unreadable_defaults_4096(void **state)
{
	struct fx *x = *state;

	x->f.bufsiz_text = NULL;
	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), 0);
	assert_int_equal(x->f.bufsiz_opens, 1);
	assert_int_equal(spibus_max_transfer(x->bus), SPIDEV_BUFSIZ_DEFAULT);
}

static void open_bufsiz_garbage_defaults_4096(void **state)
{
	struct fx *x = *state;

	x->f.bufsiz_text = "12x\n";
	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), 0);
	assert_int_equal(spibus_max_transfer(x->bus), 4096);
}

static void open_bufsiz_override_skips_sysfs(void **state)
{
	struct fx *x = *state;

	x->o.bufsiz = 8192;
	assert_int_equal(spidev_open(DEV, &x->o, &x->bus, x->err, sizeof(x->err)), 0);
	assert_int_equal(x->f.bufsiz_opens, 0);
	assert_int_equal(spibus_max_transfer(x->bus), 8192);
}

static void transfer_wren_pp_is_one_message_cs_change_after_wren(void **state)
{
	struct fx *x = *state;
	uint8_t wren = 0x06, hdr[4] = {0x02, 0x01, 0x00, 0x00}, data[256];
	const struct spibus_seg segs[] = {
		{.tx = &wren, .len = 1, .cs_toggle = true},
		{.tx = hdr, .len = 4},
		{.tx = data, .len = sizeof(data)},
	};
	struct fake_ioctl_call *c = x->f.calls;

	open_ok(x);
	th_pattern(data, sizeof(data), 1);
	assert_int_equal(spibus_transfer(x->bus, segs, 3), 0);
	assert_int_equal(x->f.n_calls, 1);
	assert_true(c[0].req == SPI_IOC_MESSAGE(3));
	assert_int_equal(c[0].n_xfers, 3);
	assert_xfer(&c[0].xfers[0], &wren, NULL, 1, 1);
	assert_xfer(&c[0].xfers[1], hdr, NULL, 4, 0);
	assert_xfer(&c[0].xfers[2], data, NULL, 256, 0);
	assert_string_equal(spidev_last_error(x->bus), "");
}

static void transfer_read_fills_rx_from_driver(void **state)
{
	struct fx *x = *state;
	uint8_t cmd[4] = {0x03, 0, 0, 0}, buf[4096], want[4096];
	struct fake_ioctl_call *c = x->f.calls;

	open_ok(x);
	x->f.rx_seed = 0x40;
	assert_int_equal(spibus_cmd(x->bus, cmd, 4, buf, sizeof(buf)), 0);
	assert_true(c[0].req == SPI_IOC_MESSAGE(2));
	assert_xfer(&c[0].xfers[0], cmd, NULL, 4, 0);
	assert_xfer(&c[0].xfers[1], NULL, buf, 4096, 0);
	/* the fake numbers bytes across the whole message: the 4 command bytes come first */
	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)(0x40 + 4 + i);
	th_assert_bytes(buf, want, sizeof(want));
}

static void transfer_splits_at_toggle_when_over_bufsiz(void **state)
{
	struct fx *x = *state;
	uint8_t cmd[3][4] = {{0x03, 0, 0, 0}, {0x03, 0, 0x10, 0}, {0x03, 0, 0x20, 0}};
	static uint8_t rx[3][2000];
	const struct spibus_seg segs[] = {
		{.tx = cmd[0], .len = 4},
		{.rx = rx[0], .len = 2000, .cs_toggle = true},
		{.tx = cmd[1], .len = 4},
		{.rx = rx[1], .len = 2000, .cs_toggle = true},
		{.tx = cmd[2], .len = 4},
		{.rx = rx[2], .len = 2000},
	};
	struct fake_ioctl_call *c = x->f.calls;

	open_ok(x);
	/* rx per group is 2048 after alignment: two groups fill 4096, the third goes alone. */
	assert_int_equal(spibus_transfer(x->bus, segs, ARRAY_SIZE(segs)), 0);
	assert_int_equal(x->f.n_calls, 2);
	assert_true(c[0].req == SPI_IOC_MESSAGE(4));
	assert_xfer(&c[0].xfers[0], cmd[0], NULL, 4, 0);
	assert_xfer(&c[0].xfers[1], NULL, rx[0], 2000, 1);
	assert_xfer(&c[0].xfers[2], cmd[1], NULL, 4, 0);
	assert_xfer(&c[0].xfers[3], NULL, rx[1], 2000, 0); /* ends the message: no cs_change */
	assert_true(c[1].req == SPI_IOC_MESSAGE(2));
	assert_xfer(&c[1].xfers[0], cmd[2], NULL, 4, 0);
	assert_xfer(&c[1].xfers[1], NULL, rx[2], 2000, 0);
}

static void transfer_counts_tx_and_rx_separately(void **state)
{
	struct fx *x = *state;
	uint8_t cmd[4] = {0x03}, rx[4096], hdr[4] = {0x02}, data[256] = {0};
	const struct spibus_seg segs[] = {
		{.tx = cmd, .len = 4},
		{.rx = rx, .len = 4096, .cs_toggle = true},
		{.tx = hdr, .len = 4},
		{.tx = data, .len = 256},
	};

	open_ok(x);
	/* rx 4096 and tx 128 + 128 + 256: both within bufsiz, so one message. */
	assert_int_equal(spibus_transfer(x->bus, segs, ARRAY_SIZE(segs)), 0);
	assert_int_equal(x->f.n_calls, 1);
	assert_int_equal(x->f.calls[0].n_xfers, 4);
	assert_int_equal(x->f.calls[0].xfers[1].cs_change, 1);
}

static void transfer_group_over_bufsiz_is_emsgsize_and_sends_nothing(void **state)
{
	struct fx *x = *state;
	uint8_t wren = 0x06, cmd[4] = {0x03}, *rx = malloc(5000);
	const struct spibus_seg segs[] = {
		{.tx = &wren, .len = 1, .cs_toggle = true},
		{.tx = cmd, .len = 4},
		{.rx = rx, .len = 5000},
	};

	open_ok(x);
	assert_int_equal(spibus_transfer(x->bus, segs, ARRAY_SIZE(segs)), -EMSGSIZE);
	assert_int_equal(x->f.n_calls, 0);
	assert_non_null(strstr(spidev_last_error(x->bus), "5004 bytes"));
	assert_non_null(strstr(spidev_last_error(x->bus), "4096-byte buffer"));
	free(rx);
}

static void transfer_kernel_emsgsize_is_passed_up(void **state)
{
	struct fx *x = *state;
	uint8_t cmd[4] = {0x03}, rx[16];

	open_ok(x);
	x->f.fail_message_at = 1;
	x->f.message_err = -EMSGSIZE;
	assert_int_equal(spibus_cmd(x->bus, cmd, 4, rx, sizeof(rx)), -EMSGSIZE);
	assert_string_equal(spidev_last_error(x->bus),
			    "spidev:" DEV ": SPI_IOC_MESSAGE(2) of 20 bytes: EMSGSIZE");
}

static void transfer_kernel_eio_is_eio(void **state)
{
	struct fx *x = *state;
	uint8_t cmd = 0x05, sr;

	open_ok(x);
	x->f.fail_message_at = 1;
	x->f.message_err = -EIO;
	assert_int_equal(spibus_cmd(x->bus, &cmd, 1, &sr, 1), -EIO);
	assert_non_null(strstr(spidev_last_error(x->bus), "EIO"));
}

static void transfer_other_kernel_error_maps_to_eio(void **state)
{
	struct fx *x = *state;
	uint8_t cmd = 0x05, sr;

	open_ok(x);
	x->f.fail_message_at = 1;
	x->f.message_err = -ETIMEDOUT;
	assert_int_equal(spibus_cmd(x->bus, &cmd, 1, &sr, 1), -EIO);
	/* the real errno survives in the context */
	assert_non_null(strstr(spidev_last_error(x->bus), "ETIMEDOUT"));
}

static void transfer_short_count_is_eio(void **state)
{
	struct fx *x = *state;
	uint8_t cmd = 0x9F, id[3];

	open_ok(x);
	x->f.short_by = 1;
	assert_int_equal(spibus_cmd(x->bus, &cmd, 1, id, 3), -EIO);
	assert_non_null(strstr(spidev_last_error(x->bus), "moved 3 of 4 bytes"));
}

static void transfer_second_message_failure_stops(void **state)
{
	struct fx *x = *state;
	static uint8_t rx[2][4000];
	uint8_t cmd[4] = {0x03};
	const struct spibus_seg segs[] = {
		{.tx = cmd, .len = 4},
		{.rx = rx[0], .len = 4000, .cs_toggle = true},
		{.tx = cmd, .len = 4},
		{.rx = rx[1], .len = 4000},
	};

	open_ok(x);
	x->f.fail_message_at = 2;
	x->f.message_err = -EIO;
	assert_int_equal(spibus_transfer(x->bus, segs, ARRAY_SIZE(segs)), -EIO);
	assert_int_equal(x->f.n_messages, 2);
}

static void transfer_skips_empty_segments_and_moves_their_toggle(void **state)
{
	struct fx *x = *state;
	uint8_t wren = 0x06, se[4] = {0x20, 0, 0x10, 0};
	const struct spibus_seg segs[] = {
		{.tx = &wren, .len = 1},
		{.tx = NULL, .len = 0, .cs_toggle = true},
		{.tx = se, .len = 4},
		{.rx = NULL, .len = 0},
	};
	struct fake_ioctl_call *c = x->f.calls;

	open_ok(x);
	assert_int_equal(spibus_transfer(x->bus, segs, ARRAY_SIZE(segs)), 0);
	assert_true(c[0].req == SPI_IOC_MESSAGE(2));
	assert_xfer(&c[0].xfers[0], &wren, NULL, 1, 1);
	assert_xfer(&c[0].xfers[1], se, NULL, 4, 0);
}

static void transfer_toggle_on_last_segment_never_sets_cs_change(void **state)
{
	struct fx *x = *state;
	uint8_t wren = 0x06;
	const struct spibus_seg segs[] = {{.tx = &wren, .len = 1, .cs_toggle = true}};

	open_ok(x);
	assert_int_equal(spibus_transfer(x->bus, segs, 1), 0);
	assert_true(x->f.calls[0].req == SPI_IOC_MESSAGE(1));
	assert_xfer(&x->f.calls[0].xfers[0], &wren, NULL, 1, 0);
}

static void transfer_all_empty_sends_nothing(void **state)
{
	struct fx *x = *state;
	const struct spibus_seg segs[] = {{.len = 0}};

	open_ok(x);
	assert_int_equal(spibus_transfer(x->bus, segs, 1), 0);
	assert_int_equal(x->f.n_calls, 0);
}

static void transfer_null_tx_and_rx_are_zero_pointers(void **state)
{
	struct fx *x = *state;
	const struct spibus_seg segs[] = {{.len = 8}};

	open_ok(x);
	assert_int_equal(spibus_transfer(x->bus, segs, 1), 0);
	assert_xfer(&x->f.calls[0].xfers[0], NULL, NULL, 8, 0);
}

static void set_speed_lower_changes_transfers_only(void **state)
{
	struct fx *x = *state;
	uint8_t cmd = 0x05, sr;

	open_ok(x);
	assert_int_equal(spibus_set_speed(x->bus, 1000000), 0);
	assert_int_equal(spibus_speed(x->bus), 1000000);
	assert_int_equal(spibus_cmd(x->bus, &cmd, 1, &sr, 1), 0);
	assert_int_equal(x->f.n_calls, 1);
	assert_int_equal(x->f.calls[0].xfers[0].speed_hz, 1000000);
	assert_int_equal(x->f.calls[0].xfers[1].speed_hz, 1000000);
}

static void set_speed_higher_updates_max_speed(void **state)
{
	struct fx *x = *state;

	open_ok(x);
	x->f.speed_cap = 41666666;
	assert_int_equal(spibus_set_speed(x->bus, 50000000), 0);
	assert_int_equal(x->f.n_calls, 2);
	assert_true(x->f.calls[0].req == SPI_IOC_WR_MAX_SPEED_HZ);
	assert_int_equal(x->f.calls[0].val, 50000000);
	assert_true(x->f.calls[1].req == SPI_IOC_RD_MAX_SPEED_HZ);
	assert_int_equal(spibus_speed(x->bus), 41666666);
}

static void set_speed_failure_keeps_old_speed(void **state)
{
	struct fx *x = *state;

	open_ok(x);
	x->f.fail_req = SPI_IOC_WR_MAX_SPEED_HZ;
	x->f.fail_err = -EINVAL;
	assert_int_equal(spibus_set_speed(x->bus, 50000000), -EINVAL);
	assert_int_equal(spibus_speed(x->bus), SPEED);
	assert_non_null(strstr(spidev_last_error(x->bus), "EINVAL"));
}

/* The real seam against the real kernel: a node that does not exist. */
static void real_sysio_open_missing_device_is_enoent(void **state)
{
	struct spidev_opts o = {.speed_hz = SPEED};
	struct spibus *bus = NULL;
	char err[256];

	(void)state;
	assert_int_equal(spidev_open("/nonexistent/spidev9.9", &o, &bus, err, sizeof(err)),
			 -ENOENT);
	assert_null(bus);
	assert_non_null(strstr(err, "/nonexistent/spidev9.9 does not exist"));
}

static void real_sysio_reads_small_file(void **state)
{
	char *dir = th_mkdtemp(), *path = th_path(dir, "bufsiz"), buf[16];
	FILE *f;

	(void)state;
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("4096\n", f);
	fclose(f);
	assert_int_equal(sysio_read_small_file(sysio_libc(), path, buf, sizeof(buf)), 5);
	assert_string_equal(buf, "4096\n");
	assert_int_equal(sysio_read_small_file(sysio_libc(), path, buf, 4), -EFBIG);
	assert_int_equal(sysio_read_small_file(sysio_libc(), "/nonexistent/x", buf, 4), -ENOENT);
	free(path);
	th_rmtree(dir);
	free(dir);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ioc_message_matches_kernel_macro),
		T(open_writes_and_reads_back_mode_bits_speed),
		T(open_mode3_is_written_and_kept),
		T(open_accepts_cs_high_in_mode_readback),
		T(open_mode_readback_mismatch_is_einval),
		T(open_uses_speed_the_driver_reports),
		T(open_speed_readback_faster_is_einval),
		T(open_rejects_bad_opts),
		T(open_enoent_names_device_and_dtparam),
		T(open_eacces_names_group_spi),
		T(open_setup_ioctl_error_closes_device),
		T(open_bufsiz_read_from_sysfs),
		T(open_bufsiz_unreadable_defaults_4096),
		T(open_bufsiz_garbage_defaults_4096),
		T(open_bufsiz_override_skips_sysfs),
		T(transfer_wren_pp_is_one_message_cs_change_after_wren),
		T(transfer_read_fills_rx_from_driver),
		T(transfer_splits_at_toggle_when_over_bufsiz),
		T(transfer_counts_tx_and_rx_separately),
		T(transfer_group_over_bufsiz_is_emsgsize_and_sends_nothing),
		T(transfer_kernel_emsgsize_is_passed_up),
		T(transfer_kernel_eio_is_eio),
		T(transfer_other_kernel_error_maps_to_eio),
		T(transfer_short_count_is_eio),
		T(transfer_second_message_failure_stops),
		T(transfer_skips_empty_segments_and_moves_their_toggle),
		T(transfer_toggle_on_last_segment_never_sets_cs_change),
		T(transfer_all_empty_sends_nothing),
		T(transfer_null_tx_and_rx_are_zero_pointers),
		T(set_speed_lower_changes_transfers_only),
		T(set_speed_higher_updates_max_speed),
		T(set_speed_failure_keeps_old_speed),
		cmocka_unit_test(real_sysio_open_missing_device_is_enoent),
		cmocka_unit_test(real_sysio_reads_small_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
