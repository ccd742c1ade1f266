/* SPDX-License-Identifier: MIT */
/*
 * Probing and the command layer's choices: parts the database does not know (configured or
 * SFDP-only, also above 16 MiB), SFDP read in as many rounds as it needs, diagnostics for a
 * chip that does not answer, the READ/FAST_READ choice, Micron's flag status register,
 * WEL after nor_idle(), and the S25FL1-K status register 3.
 */
#include "harness.h"
#include "simfix.h"
#include "tapbus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipdb.h"
#include "clock.h"
#include "nor.h"
#include "probe.h"
#include "simchip.h"
#include "spibus.h"
#include "util.h"

struct dumpchip {
	struct sim_profile *p;
	struct simchip *s;
	char *dir, *img;
};

/*
 * A simulated chip whose SFDP is a real dump from tests/data/sfdp, under a chosen ID; nph > 0
 * rewrites the number of parameter headers (the headers after the first read as 0xFF: unknown
 * IDs, skipped).
 */
static void dumpchip_open(struct dumpchip *d, const char *file, uint32_t id, unsigned nph)
{
	const char *root = getenv("FLASHD_SOURCE_ROOT");
	char path[1024], err[160];
	uint8_t buf[4096];
	struct simchip_opts so;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/tests/data/sfdp/%s", root ? root : "..", file);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	if (nph)
		buf[6] = (uint8_t)(nph - 1);
	d->dir = th_mkdtemp();
	d->img = th_path(d->dir, "c.img");
	if (sim_profile_from_sfdp(buf, n, id, &d->p, err, sizeof(err)) < 0)
		fail_msg("%s: %s", file, err);
	simchip_opts_init(&so);
	so.time_scale = 0;
	if (simchip_open(d->p, d->img, &so, &d->s, err, sizeof(err)) < 0)
		fail_msg("%s: %s", file, err);
}

static void dumpchip_close(struct dumpchip *d)
{
	simchip_close(d->s);
	sim_profile_free(d->p);
	th_rmtree(d->dir);
	free(d->dir);
	free(d->img);
}

static void image_read(struct dumpchip *d, uint32_t addr, uint8_t *buf, size_t len)
{
	FILE *fp = fopen(d->img, "rb");

	assert_non_null(fp);
	assert_int_equal(fseek(fp, (long)addr, SEEK_SET), 0);
	assert_int_equal(fread(buf, 1, len, fp), len);
	fclose(fp);
}

static struct nor *probe_ok(struct spibus *bus, const struct probe_opts *o,
			    struct probe_report *rep)
{
	struct nor_error e;
	struct nor *nor = NULL;
	int r = probe_chip(bus, o, &nor, rep, &e);

	if (r < 0)
		fail_msg("probe: %d %s: %s", r, e.op, e.detail);
	return nor;
}

/* ---- 1: a configured unknown part above 16 MiB ---- */

static void configured_part_above_16m_is_written_at_the_right_address(void **state)
{
	struct dumpchip d;
	struct probe_opts o = {.size = MIB(32), .erase_size = KIB(4), .no_sfdp = true};
	struct probe_report rep;
	struct nor *nor;
	uint8_t data[16], back[16], low[KIB(64)];
	const uint8_t raw3[4] = {0x03, 0x00, 0x00, 0x00};

	(void)state;
	/* a 32 MiB part with EN4B (the MX25L25645G's SFDP) under an ID no database knows */
	dumpchip_open(&d, "mx25l25645g_c22019.sfdp", 0xa5a519, 0);
	nor = probe_ok(simchip_bus(d.s), &o, &rep);
	assert_int_equal(nor_info(nor)->source, CHIP_SRC_CONFIG);
	assert_int_equal(nor_info(nor)->addr_mode, CHIP_ADDR_3B_4B);
	th_pattern(data, sizeof(data), 3);
	assert_int_equal(nor_erase(nor, 0x1010000, KIB(4)), 0);
	assert_int_equal(nor_program(nor, 0x1010000, data, sizeof(data)), 0);
	assert_int_equal(nor_idle(nor), 0);
	image_read(&d, 0x1010000, back, sizeof(back));
	th_assert_bytes(back, data, sizeof(data));
	image_read(&d, 0x010000, low, sizeof(low));
	th_assert_filled(low, 0xFF, sizeof(low));
	/* and the chip is back in 3-byte mode: a 3-byte READ of 0 gives erased bytes */
	assert_int_equal(spibus_cmd(simchip_bus(d.s), raw3, sizeof(raw3), back, sizeof(back)), 0);
	th_assert_filled(back, 0xFF, sizeof(back));
	nor_free(nor);
	dumpchip_close(&d);
}

/* ---- 3: SFDP with many parameter headers, read in rounds ---- */

static void sfdp_with_eight_headers_is_read_in_rounds(void **state)
{
	struct dumpchip d;
	struct probe_report rep;
	struct nor *nor;

	(void)state;
	/* 8 parameter headers end at 72 bytes, past the first 64-byte read: the headers need a
	 * round of their own before the basic table at 0x80 is known */
	dumpchip_open(&d, "w25q128jv_ef4018.sfdp", 0xa5a517, 8);
	nor = probe_ok(simchip_bus(d.s), NULL, &rep);
	assert_true(rep.has_sfdp);
	assert_true(rep.sfdp_parsed);
	assert_int_equal(nor_info(nor)->source, CHIP_SRC_SFDP);
	assert_int_equal(nor_info(nor)->size, MIB(16));
	assert_int_equal(nor_info(nor)->n_erase, 3);
	assert_null(strstr(rep.notes, "does not parse"));
	nor_free(nor);
	dumpchip_close(&d);
}

/* ---- 8: diagnostics ---- */

static void busy_chip_is_not_reported_as_missing(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct nor *nor = NULL;
	struct nor_error e;
	char err[128];

	(void)state;
	assert_int_equal(simchip_fault_parse(f->sim, "wip-stuck", err, sizeof(err)), 0);
	assert_int_equal(probe_chip(f->bus, NULL, &nor, NULL, &e), -ETIMEDOUT);
	assert_null(nor);
	assert_string_equal(
	    e.detail, "the chip answers but is busy: JEDEC ID reads ff ff ff and the status "
		      "register 0x01 (WIP set). A program or erase may still be running (probe "
		      "again in a minute); if it stays busy the chip is stuck busy (power-cycle "
		      "it)");
	simfix_close(f);
}

static void sfdp_transfer_error_fails_the_probe_with_eio(void **state)
{
	struct simfix *f = simfix_open("SFDP-ONLY");
	struct tapbus *t = tapbus_new(f->bus, NULL, NULL);
	struct probe_report rep;
	struct nor *nor = NULL;
	struct nor_error e;

	(void)state;
	tapbus_fail_at(t, 2, 1); /* RDID, then the first RDSFDP */
	assert_int_equal(probe_chip(tapbus_bus(t), NULL, &nor, &rep, &e), -EIO);
	assert_null(nor);
	assert_string_equal(e.op, "probe");
	assert_string_equal(e.detail, "reading SFDP (0x5A) failed: EIO on tap");
	tapbus_free(t);
	simfix_close(f);
}

/* ---- 7: READ 0x03 or FAST_READ 0x0B ---- */

static void read_opcode_follows_the_parts_read_clock(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV"); /* fR 50 MHz */
	struct tapbus *t = tapbus_new(f->bus, NULL, NULL);
	struct nor *nor = probe_ok(tapbus_bus(t), NULL, NULL);
	uint8_t b[4];

	(void)state;
	assert_int_equal(spibus_set_speed(tapbus_bus(t), 40000000), 0);
	tapbus_clear_log(t);
	assert_int_equal(nor_read(nor, 0, b, sizeof(b)), 0);
	assert_string_equal(tapbus_log(t), "03");
	assert_int_equal(spibus_set_speed(tapbus_bus(t), 60000000), 0);
	tapbus_clear_log(t);
	assert_int_equal(nor_read(nor, 0, b, sizeof(b)), 0);
	assert_string_equal(tapbus_log(t), "0b");
	nor_free(nor);
	tapbus_free(t);
	simfix_close(f);
}

static void sfdp_only_part_reads_correctly_above_its_read_clock(void **state)
{
	struct simfix *f = simfix_open("SFDP-ONLY"); /* the model corrupts 0x03 above 50 MHz */
	struct nor *nor = probe_ok(f->bus, NULL, NULL);
	uint8_t data[64], back[64];

	(void)state;
	assert_int_equal(nor_info(nor)->max_read_clock_hz, 33000000);
	th_pattern(data, sizeof(data), 9);
	assert_int_equal(nor_erase(nor, 0, KIB(4)), 0);
	assert_int_equal(nor_program(nor, 0, data, sizeof(data)), 0);
	assert_int_equal(spibus_set_speed(f->bus, 60000000), 0);
	assert_int_equal(nor_read(nor, 0, back, sizeof(back)), 0);
	th_assert_bytes(back, data, sizeof(data));
	nor_free(nor);
	simfix_close(f);
}

/* ---- 7: Micron flag status register cleared at probe and idle ---- */

static uint8_t raw_fsr(struct spibus *bus)
{
	const uint8_t op = 0x70;
	uint8_t v = 0;

	assert_int_equal(spibus_cmd(bus, &op, 1, &v, 1), 0);
	return v;
}

static void micron_flag_status_errors_are_cleared_at_probe(void **state)
{
	struct simfix *f = simfix_open("MT25QL256");
	const uint8_t wren = 0x06, wrsr[2] = {0x01, 0x5C}; /* BP = 15: all */
	const uint8_t pp[5] = {0x02, 0x00, 0x00, 0x00, 0x00};
	const struct spibus_seg w[2] = {{.tx = &wren, .len = 1, .cs_toggle = true},
					{.tx = wrsr, .len = 2}};
	const struct spibus_seg p[2] = {{.tx = &wren, .len = 1, .cs_toggle = true},
					{.tx = pp, .len = 5}};
	struct nor *nor;

	(void)state;
	assert_int_equal(spibus_transfer(f->bus, w, 2), 0);
	fclock_sleep_ns(spibus_clock(f->bus), 20 * NSEC_PER_MSEC);
	assert_int_equal(spibus_transfer(f->bus, p, 2), 0); /* refused: protection error */
	assert_int_not_equal(raw_fsr(f->bus) & 0x12, 0);
	nor = probe_ok(f->bus, NULL, NULL);
	assert_int_equal(raw_fsr(f->bus) & 0x3A, 0);
	nor_free(nor);
	simfix_close(f);
}

/* ---- 7: nor_idle() checks that WEL really is clear ---- */

static bool swallow_wrdi(void *ctx, const uint8_t *tx, size_t len, uint8_t *rx)
{
	(void)ctx;
	(void)len;
	(void)rx;
	return tx[0] == 0x04; /* a chip that ignores WRDI */
}

static void idle_reports_wel_left_set(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct tapbus *t = tapbus_new(f->bus, swallow_wrdi, NULL);
	struct nor *nor = probe_ok(tapbus_bus(t), NULL, NULL);
	const uint8_t wren = 0x06;

	(void)state;
	assert_int_equal(spibus_cmd(f->bus, &wren, 1, NULL, 0), 0);
	assert_int_equal(nor_idle(nor), -EIO);
	assert_string_equal(nor_last_error(nor)->op, "write-disable");
	assert_string_equal(nor_last_error(nor)->detail, "WEL still set after WRDI (status 0x02)");
	nor_free(nor);
	tapbus_free(t);
	simfix_close(f);
}

/* ---- 7: S25FL1-K status register 3 (register-only fake from the S25FL1-K datasheet) ---- */

struct s25fl1k {
	uint8_t sr[3];
	bool wel;
	uint8_t last_wrsr[4];
	size_t last_wrsr_len;
};

static bool s25fl1k_hook(void *ctx, const uint8_t *tx, size_t len, uint8_t *rx)
{
	struct s25fl1k *c = ctx;

	switch (tx[0]) {
	case 0x9F:
		memcpy(rx + 1, (const uint8_t[]){0x01, 0x40, 0x15}, MIN(len - 1, 3u));
		return true;
	case 0x05:
		memset(rx + 1, (uint8_t)(c->sr[0] | (c->wel ? 2 : 0)), len - 1);
		return true;
	case 0x35:
		memset(rx + 1, c->sr[1], len - 1);
		return true;
	case 0x33:
		memset(rx + 1, c->sr[2], len - 1);
		return true;
	case 0x06:
		c->wel = true;
		return true;
	case 0x04:
		c->wel = false;
		return true;
	case 0x01: /* WRSR: SR1, SR2, SR3 as consecutive bytes */
		if (c->wel)
			for (size_t i = 1; i < len && i <= 3; i++)
				c->sr[i - 1] = tx[i];
		memcpy(c->last_wrsr, tx, MIN(len, sizeof(c->last_wrsr)));
		c->last_wrsr_len = len;
		c->wel = false;
		return true;
	default:
		return true; /* 0x15 and 0x11 do not exist on this part */
	}
}

static void s25fl1k_sr3_is_read_with_33_and_written_as_third_wrsr_byte(void **state)
{
	struct s25fl1k c = {.sr = {0x04, 0x02, 0x70}};
	struct tapbus *t = tapbus_new(NULL, s25fl1k_hook, &c);
	struct nor *nor = probe_ok(tapbus_bus(t), NULL, NULL);
	uint8_t sr3 = 0;

	(void)state;
	assert_string_equal(nor_info(nor)->name, "S25FL116K");
	tapbus_clear_log(t);
	assert_int_equal(nor_read_status(nor, NULL, NULL, &sr3), 0);
	assert_int_equal(sr3, 0x70);
	assert_string_equal(tapbus_log(t), "05 33");
	assert_int_equal(nor_unlock(nor, NULL), 0);
	assert_int_equal(c.last_wrsr_len, 4);
	th_assert_bytes(c.last_wrsr, ((const uint8_t[]){0x01, 0x00, 0x02, 0x70}), 4);
	assert_int_equal(tapbus_count(t, 0x11), 0);
	assert_int_equal(tapbus_count(t, 0x15), 0);
	nor_free(nor);
	tapbus_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(configured_part_above_16m_is_written_at_the_right_address),
	    cmocka_unit_test(sfdp_with_eight_headers_is_read_in_rounds),
	    cmocka_unit_test(busy_chip_is_not_reported_as_missing),
	    cmocka_unit_test(sfdp_transfer_error_fails_the_probe_with_eio),
	    cmocka_unit_test(read_opcode_follows_the_parts_read_clock),
	    cmocka_unit_test(sfdp_only_part_reads_correctly_above_its_read_clock),
	    cmocka_unit_test(micron_flag_status_errors_are_cleared_at_probe),
	    cmocka_unit_test(idle_reports_wel_left_set),
	    cmocka_unit_test(s25fl1k_sr3_is_read_with_33_and_written_as_third_wrsr_byte),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
