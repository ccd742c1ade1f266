/* SPDX-License-Identifier: MIT */
/*
 * The simulated chip on its own, through raw SPI transactions: each profile's command
 * behaviour as its datasheet states it (exact bytes and status values), the timing model,
 * every fault, determinism, the image file rules and SFDP-built profiles.
 */
#include "harness.h"
#include "simfix.h"
#include "simraw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "simchip.h"
#include "spibus.h"
#include "util.h"

static void every_profile_answers_its_jedec_id(void **state)
{
	(void)state;
	for (size_t i = 0; i < sim_profile_count(); i++) {
		const struct sim_profile *p = sim_profile_at(i);
		struct simfix *f = simfix_open(sim_profile_name(p));
		const uint8_t op = 0x9F;
		uint8_t id[3];

		assert_int_equal(spibus_cmd(f->bus, &op, 1, id, 3), 0);
		assert_int_equal(get_be24(id), sim_profile_jedec_id(p));
		simfix_close(f);
	}
}

static void sfdp_is_the_real_dump_byte_for_byte(void **state)
{
	static const struct {
		const char *profile, *file;
	} dumps[] = {
		{"W25Q128JV", "w25q128jv_ef4018.sfdp"},
		{"MX25L25645G", "mx25l25645g_c22019.sfdp"},
		{"SST26VF064B", "sst26vf064b_bf2643.sfdp"},
		{"IS25WP256D", "is25wp256_9d7019.sfdp"},
	};
	const char *root = getenv("FLASHD_SOURCE_ROOT");

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(dumps); i++) {
		char path[1024];
		uint8_t want[1024], got[1024], hdr[5] = {0x5A, 0, 0, 0, 0};
		struct simfix *f;
		FILE *fp;
		size_t n;

		snprintf(path, sizeof(path), "%s/tests/data/sfdp/%s", root ? root : "..",
			 dumps[i].file);
		fp = fopen(path, "rb");
		if (!fp)
			fail_msg("%s: cannot open", path);
		n = fread(want, 1, sizeof(want), fp);
		fclose(fp);
		f = simfix_open(dumps[i].profile);
		assert_int_equal(spibus_cmd(f->bus, hdr, 5, got, n + 16), 0);
		th_assert_bytes(got, want, n);
		th_assert_filled(got + n, 0xFF, 16); /* past the table: 0xFF */
		simfix_close(f);
	}
}

static void generated_sfdp_describes_the_profile(void **state)
{
	struct simfix *f = simfix_open("SFDP-ONLY");
	uint8_t hdr[5] = {0x5A, 0, 0, 0, 0}, t[0x70];

	(void)state;
	assert_int_equal(spibus_cmd(f->bus, hdr, 5, t, sizeof(t)), 0);
	assert_memory_equal(t, "SFDP", 4);
	assert_int_equal(t[5], 1);	 /* major revision */
	assert_int_equal(t[11], 16);	 /* BFPT: 16 DWORDs */
	assert_int_equal(get_le24(t + 12), 0x30);
	assert_int_equal(get_le32(t + 0x30 + 4), 16u * 1024 * 1024 * 8 - 1); /* density */
	assert_int_equal(t[0x30 + 28], 12);   /* erase type 1: 2^12 */
	assert_int_equal(t[0x30 + 29], 0x20); /* opcode */
	assert_int_equal(t[0x30 + 30], 15);
	assert_int_equal(t[0x30 + 31], 0x52);
	assert_int_equal(t[0x30 + 32], 16);
	assert_int_equal(t[0x30 + 33], 0xD8);
	assert_int_equal((t[0x30 + 40] >> 4) & 0xF, 8); /* page 2^8 */
	simfix_close(f);
}

static void wel_and_wip_follow_the_datasheet(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct spibus *bus = f->bus;
	const uint8_t pp[6] = {0x02, 0x00, 0x10, 0x00, 0x12, 0x34};
	uint8_t back[2];

	(void)state;
	assert_int_equal(raw_reg(bus, 0x05), 0x00);
	raw_op(bus, 0x06);
	assert_int_equal(raw_reg(bus, 0x05), 0x02); /* WEL */
	raw_op(bus, 0x04);
	assert_int_equal(raw_reg(bus, 0x05), 0x00);
	/* page program without WREN is ignored */
	raw_cmd(bus, pp, sizeof(pp));
	assert_int_equal(raw_reg(bus, 0x05), 0x00);
	raw_read3(bus, 0x1000, back, 2);
	assert_int_equal(back[0], 0xFF);
	/* with WREN: busy (WIP|WEL) for tPP = 400 us, then idle with WEL cleared */
	raw_op(bus, 0x06);
	raw_cmd(bus, pp, sizeof(pp));
	assert_int_equal(raw_reg(bus, 0x05), 0x03);
	/* commands other than status reads are ignored while busy */
	raw_read3(bus, 0x1000, back, 2);
	assert_int_equal(back[0], 0xFF);
	fclock_sleep_ns(spibus_clock(bus), 400 * NSEC_PER_USEC);
	assert_int_equal(raw_reg(bus, 0x05), 0x00);
	raw_read3(bus, 0x1000, back, 2);
	assert_int_equal(back[0], 0x12);
	assert_int_equal(back[1], 0x34);
	/* SR2 reads QE set at the factory; SR3 the default drive strength */
	assert_int_equal(raw_reg(bus, 0x35), 0x02);
	assert_int_equal(raw_reg(bus, 0x15), 0x60);
	simfix_close(f);
}

static void program_only_clears_bits_and_wraps_in_the_page(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct spibus *bus = f->bus;
	uint8_t pp[4 + 260], back[256];

	(void)state;
	pp[0] = 0x02;
	put_be24(pp + 1, 0x2000 + 250);
	for (int i = 0; i < 260; i++)
		pp[4 + i] = (uint8_t)i;
	raw_op(bus, 0x06);
	raw_cmd(bus, pp, sizeof(pp)); /* 260 bytes from offset 250: the last 256 land, wrapping */
	raw_wait_idle(bus);
	raw_read3(bus, 0x2000, back, 256);
	for (int k = 0; k < 256; k++) {
		/* byte i goes to (250 + i) % 256; bytes 0..3 were overwritten by 256..259 */
		int i = (k - 250 + 256) % 256;

		if (i < 4)
			i += 256;
		assert_int_equal(back[k], (uint8_t)i);
	}
	/* a second program ANDs */
	pp[4] = 0x0F;
	put_be24(pp + 1, 0x2000);
	raw_op(bus, 0x06);
	raw_cmd(bus, pp, 5);
	raw_wait_idle(bus);
	raw_read3(bus, 0x2000, back, 1);
	assert_int_equal(back[0], (uint8_t)(6 & 0x0F)); /* k=0 held i=6 */
	simfix_close(f);
}

static void erase_ignores_low_address_bits(void **state)
{
	struct simfix *f = simfix_open("GD25Q64C");
	struct spibus *bus = f->bus;
	uint8_t pp[4 + 16], se[4] = {0x20}, back[16];

	(void)state;
	pp[0] = 0x02;
	memset(pp + 4, 0, 16);
	put_be24(pp + 1, 0x3000);
	raw_op(bus, 0x06);
	raw_cmd(bus, pp, sizeof(pp));
	raw_wait_idle(bus);
	put_be24(se + 1, 0x3FFF); /* any address inside the sector */
	raw_op(bus, 0x06);
	raw_cmd(bus, se, 4);
	assert_int_equal(raw_reg(bus, 0x05) & 1, 1);
	raw_wait_idle(bus);
	raw_read3(bus, 0x3000, back, 16);
	th_assert_filled(back, 0xFF, 16);
	simfix_close(f);
}

static void four_byte_modes(void **state)
{
	struct simfix *f = simfix_open("W25Q256JV");
	struct spibus *bus = f->bus;
	uint8_t pp4[5 + 2] = {0x12, 0x01, 0x23, 0x45, 0x67, 0xAB, 0xCD}, rd4[5] = {0x13, 0x01, 0x23,
										  0x45, 0x67};
	uint8_t rd3[5] = {0x03, 0x01, 0x23, 0x45, 0x67}, back[2];

	(void)state;
	raw_op(bus, 0x06);
	raw_cmd(bus, pp4, sizeof(pp4));
	raw_wait_idle(bus);
	assert_int_equal(spibus_cmd(bus, rd4, 5, back, 2), 0);
	assert_int_equal(back[0], 0xAB);
	/* EN4B: plain READ takes 4 address bytes, SR3 ADS shows it */
	raw_op(bus, 0xB7);
	assert_int_equal(raw_reg(bus, 0x15) & 1, 1);
	assert_int_equal(spibus_cmd(bus, rd3, 5, back, 2), 0);
	assert_int_equal(back[1], 0xCD);
	raw_op(bus, 0xE9);
	assert_int_equal(raw_reg(bus, 0x15) & 1, 0);
	simfix_close(f);
}

static void micron_needs_wren_for_en4b_and_reports_flags(void **state)
{
	struct simfix *f = simfix_open("MT25QL256");
	struct spibus *bus = f->bus;
	const uint8_t wrsr[2] = {0x01, 0x04}; /* BP0: top 64 KiB */
	uint8_t pp[6] = {0x12, 0x01, 0xFF, 0xFF, 0x00, 0x00};

	(void)state;
	raw_op(bus, 0xB7); /* ignored without WREN */
	assert_int_equal(raw_reg(bus, 0x70) & 1, 0);
	raw_op(bus, 0x06);
	raw_op(bus, 0xB7);
	assert_int_equal(raw_reg(bus, 0x70), 0x81); /* ready, 4-byte mode */
	raw_op(bus, 0x06);
	raw_op(bus, 0xE9);
	raw_op(bus, 0x06);
	raw_cmd(bus, wrsr, 2);
	raw_wait_idle(bus);
	/* program into the protected top: refused, protection + program error flags */
	raw_op(bus, 0x06);
	raw_cmd(bus, pp, sizeof(pp));
	assert_int_equal(raw_reg(bus, 0x70) & 0x12, 0x12);
	raw_op(bus, 0x50); /* clear */
	assert_int_equal(raw_reg(bus, 0x70), 0x80);
	simfix_close(f);
}

static void sst25_powers_up_protected_and_programs_words(void **state)
{
	struct simfix *f = simfix_open("SST25VF016B");
	struct spibus *bus = f->bus;
	const uint8_t ewsr = 0x50, wrsr[2] = {0x01, 0x00};
	uint8_t aai1[6] = {0xAD, 0x00, 0x01, 0x00, 0x11, 0x22}, aai2[3] = {0xAD, 0x33, 0x44};
	uint8_t back[4];

	(void)state;
	assert_int_equal(spibus_set_speed(bus, 20000000), 0); /* READ 0x03 is a 25 MHz command */
	assert_int_equal(raw_reg(bus, 0x05), 0x1C); /* BP0-2 set after power-up */
	raw_cmd(bus, &ewsr, 1);
	raw_cmd(bus, wrsr, 2);
	assert_int_equal(raw_reg(bus, 0x05), 0x00);
	raw_op(bus, 0x06);
	raw_cmd(bus, aai1, sizeof(aai1));
	assert_int_equal(raw_reg(bus, 0x05) & 0x40, 0x40); /* AAI mode (tBP is shorter than a poll) */
	raw_wait_idle(bus);
	raw_cmd(bus, aai2, sizeof(aai2));
	raw_wait_idle(bus);
	raw_op(bus, 0x04); /* WRDI ends AAI */
	assert_int_equal(raw_reg(bus, 0x05) & 0x40, 0);
	raw_read3(bus, 0x100, back, 4);
	assert_memory_equal(back, ((uint8_t[]){0x11, 0x22, 0x33, 0x44}), 4);
	simfix_close(f);
}

static void sst26_is_locked_until_ulbpr(void **state)
{
	struct simfix *f = simfix_open("SST26VF064B");
	struct spibus *bus = f->bus;
	uint8_t bpr[18], pp[5] = {0x02, 0x10, 0x00, 0x00, 0x5A}, back;
	const uint8_t rdbpr = 0x72;

	(void)state;
	assert_int_equal(spibus_cmd(bus, &rdbpr, 1, bpr, sizeof(bpr)), 0);
	/* BPR[143:136] first: the top 8 KiB sectors, write-lock set, read-lock clear */
	assert_int_equal(bpr[0], 0x55);
	assert_int_equal(bpr[17], 0xFF); /* BPR[7:0]: 64 KiB blocks write-locked */
	raw_op(bus, 0x06);
	raw_cmd(bus, pp, sizeof(pp));
	raw_wait_idle(bus);
	raw_read3(bus, 0x100000, &back, 1);
	assert_int_equal(back, 0xFF); /* refused */
	raw_op(bus, 0x06);
	raw_op(bus, 0x98);
	assert_int_equal(spibus_cmd(bus, &rdbpr, 1, bpr, sizeof(bpr)), 0);
	th_assert_filled(bpr, 0x00, sizeof(bpr));
	raw_op(bus, 0x06);
	raw_cmd(bus, pp, sizeof(pp));
	raw_wait_idle(bus);
	raw_read3(bus, 0x100000, &back, 1);
	assert_int_equal(back, 0x5A);
	simfix_close(f);
}

static void transaction_cost_is_overhead_plus_bytes(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	struct fclock *clk = spibus_clock(f->bus);
	static uint8_t buf[4096];
	uint64_t t0 = fclock_now_ns(clk);

	(void)state;
	raw_read3(f->bus, 0, buf, sizeof(buf));
	/* 15 us + (4 + 4096) bytes x 8 bits at 32 MHz = 15 us + 1025 us */
	assert_int_equal(fclock_now_ns(clk) - t0, 15000 + 1025000);
	simfix_close(f);
}

static void virtual_time_is_deterministic(void **state)
{
	struct simchip_stats s[2];

	(void)state;
	for (int run = 0; run < 2; run++) {
		struct simchip_opts o;
		struct simfix *f;
		uint8_t pp[4 + 256] = {0x02};

		simchip_opts_init(&o);
		o.time_scale = 0;
		o.busy = SIMCHIP_BUSY_RANDOM;
		o.seed = 42;
		f = simfix_open_opts("W25Q128JV", &o);
		for (uint32_t a = 0; a < 16 * 256; a += 256) {
			put_be24(pp + 1, a);
			raw_op(f->bus, 0x06);
			raw_cmd(f->bus, pp, sizeof(pp));
			raw_wait_idle(f->bus);
		}
		simchip_get_stats(f->sim, &s[run]);
		simfix_close(f);
	}
	assert_int_equal(s[0].modelled_ns, s[1].modelled_ns);
	assert_int_equal(s[0].busy_ns, s[1].busy_ns);
	assert_int_equal(s[0].transactions, s[1].transactions);
	assert_int_equal(s[0].status_polls, s[1].status_polls);
	assert_true(s[0].busy_ns >= 16 * 400000ull); /* at least typical each time */
}

static void too_fast_a_clock_corrupts_plain_reads(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	uint8_t a[16], b[16], fr[5] = {0x0B, 0, 0, 0, 0};

	(void)state;
	raw_read3(f->bus, 0, a, sizeof(a)); /* erased */
	th_assert_filled(a, 0xFF, sizeof(a));
	assert_int_equal(spibus_set_speed(f->bus, 80000000), 0); /* above READ's 50 MHz */
	raw_read3(f->bus, 0, b, sizeof(b));
	assert_int_not_equal(memcmp(a, b, sizeof(a)), 0);
	assert_int_equal(spibus_cmd(f->bus, fr, 5, b, sizeof(b)), 0); /* fast read is fine */
	th_assert_filled(b, 0xFF, sizeof(b));
	simfix_close(f);
}

static void faults_behave_as_documented(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	const uint8_t op = 0x9F;
	uint8_t id[3], buf[4];
	char err[160];

	(void)state;
	assert_int_equal(simchip_fault_parse(f->sim, "no-chip=low", err, sizeof(err)), 0);
	assert_int_equal(spibus_cmd(f->bus, &op, 1, id, 3), 0);
	assert_memory_equal(id, ((uint8_t[]){0, 0, 0}), 3);
	assert_int_equal(simchip_fault_parse(f->sim, "no-chip=high", err, sizeof(err)), 0);
	assert_int_equal(spibus_cmd(f->bus, &op, 1, id, 3), 0);
	assert_memory_equal(id, ((uint8_t[]){0xFF, 0xFF, 0xFF}), 3);
	assert_int_equal(simchip_fault_parse(f->sim, "clear", err, sizeof(err)), 0);
	assert_int_equal(simchip_fault_parse(f->sim, "xfer-error=2", err, sizeof(err)), 0);
	assert_int_equal(spibus_cmd(f->bus, &op, 1, id, 3), 0);
	assert_int_equal(spibus_cmd(f->bus, &op, 1, id, 3), -EIO);
	assert_int_equal(spibus_cmd(f->bus, &op, 1, id, 3), 0);
	assert_int_equal(simchip_fault_parse(f->sim, "wip-stuck", err, sizeof(err)), 0);
	assert_int_equal(raw_reg(f->bus, 0x05) & 1, 1);
	fclock_sleep_ns(spibus_clock(f->bus), 10 * NSEC_PER_SEC);
	assert_int_equal(raw_reg(f->bus, 0x05) & 1, 1);
	raw_read3(f->bus, 0, buf, sizeof(buf));
	assert_int_equal(simchip_fault_parse(f->sim, "clear", err, sizeof(err)), 0);
	assert_int_equal(simchip_fault_parse(f->sim, "swap=MX25L12835F", err, sizeof(err)), 0);
	assert_int_equal(spibus_cmd(f->bus, &op, 1, id, 3), 0);
	assert_int_equal(get_be24(id), 0xc22018);
	assert_int_equal(simchip_fault_parse(f->sim, "swap=W25Q256JV", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "fault \"swap=W25Q256JV\": W25Q256JV is not the same size as "
				 "MX25L12835F");
	assert_int_equal(simchip_fault_parse(f->sim, "gremlins", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unknown fault \"gremlins\" (no-chip=high|low, wip-stuck, "
				 "program-fail, erase-fail, xfer-error=N, swap=PROFILE[@N|@write], wp, "
				 "clear)");
	assert_int_equal(simchip_fault_parse(f->sim, "xfer-error=0", err, sizeof(err)), -EINVAL);
	simfix_close(f);
}

static void erase_fail_leaves_the_first_byte(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	uint8_t pp[5] = {0x02, 0x00, 0x40, 0x00, 0x00}, se[4] = {0x20, 0x00, 0x40, 0x00}, b;
	char err[64];

	(void)state;
	raw_op(f->bus, 0x06);
	raw_cmd(f->bus, pp, sizeof(pp));
	raw_wait_idle(f->bus);
	assert_int_equal(simchip_fault_parse(f->sim, "erase-fail", err, sizeof(err)), 0);
	raw_op(f->bus, 0x06);
	raw_cmd(f->bus, se, sizeof(se));
	raw_wait_idle(f->bus);
	raw_read3(f->bus, 0x4000, &b, 1);
	assert_int_equal(b, 0x00);
	simfix_close(f);
}

static void wp_with_srp_ignores_status_writes(void **state)
{
	struct simfix *f = simfix_open("W25Q128JV");
	const uint8_t srp[2] = {0x01, 0x80}, bp[2] = {0x01, 0x84};
	char err[64];

	(void)state;
	raw_op(f->bus, 0x06);
	raw_cmd(f->bus, srp, 2);
	raw_wait_idle(f->bus);
	assert_int_equal(simchip_fault_parse(f->sim, "wp", err, sizeof(err)), 0);
	raw_op(f->bus, 0x06);
	raw_cmd(f->bus, bp, 2);
	assert_int_equal(raw_reg(f->bus, 0x05), 0x80); /* unchanged, not busy, WEL cleared */
	simfix_close(f);
}

static void oversized_transaction_is_emsgsize(void **state)
{
	struct simchip_opts o;
	struct simfix *f;
	static uint8_t buf[4097];

	(void)state;
	simchip_opts_init(&o);
	o.time_scale = 0;
	o.max_transfer = 4096;
	f = simfix_open_opts("W25Q128JV", &o);
	{
		const uint8_t hdr[4] = {0x03, 0, 0, 0};

		assert_int_equal(spibus_cmd(f->bus, hdr, 4, buf, 4096), 0);
		assert_int_equal(spibus_cmd(f->bus, hdr, 4, buf, 4097), -EMSGSIZE);
	}
	simfix_close(f);
}

static void image_file_rules(void **state)
{
	const struct sim_profile *p = sim_profile_find("gd25q64c");
	char *dir = th_mkdtemp(), *img = th_path(dir, "x.img"), err[256];
	struct simchip_opts o;
	struct simchip *s;
	struct stat st;
	uint8_t b[4] = {0x02, 0x00, 0x00, 0x10}, w = 0x06, v;
	int fd;

	(void)state;
	assert_non_null(p);
	simchip_opts_init(&o);
	o.time_scale = 0;
	/* missing: created erased at the chip's size */
	assert_int_equal(simchip_open(p, img, &o, &s, err, sizeof(err)), 0);
	assert_int_equal(stat(img, &st), 0);
	assert_int_equal(st.st_size, 8 * 1024 * 1024);
	/* contents persist across close and open */
	assert_int_equal(spibus_cmd(simchip_bus(s), &w, 1, NULL, 0), 0);
	assert_int_equal(spibus_cmd(simchip_bus(s), b, 4, NULL, 0), 0);
	simchip_close(s);
	fd = open(img, O_RDONLY);
	assert_int_equal(pread(fd, &v, 1, 0x10), 1);
	close(fd);
	assert_int_equal(v, 0xFF); /* the program had no data byte: nothing */
	assert_int_equal(truncate(img, 1234), 0);
	assert_int_equal(simchip_open(p, img, &o, &s, err, sizeof(err)), -EINVAL);
	{
		char want[400];

		snprintf(want, sizeof(want), "%s: size 1234 bytes, GD25Q64C needs 8388608",
			 img ? img : "");
		assert_string_equal(err, want);
	}
	assert_int_equal(stat(img, &st), 0);
	assert_int_equal(st.st_size, 1234); /* never silently replaced */
	th_rmtree(dir);
	free(dir);
	free(img);
}

static void profiles_from_sfdp_dumps(void **state)
{
	static const struct {
		const char *file;
		uint32_t id, size, page, smallest;
	} dumps[] = {
		{"w25q128jv_ef4018.sfdp", 0xef4018, 16u << 20, 256, 4096},
		{"mx25l25645g_c22019.sfdp", 0xc22019, 32u << 20, 256, 4096},
		{"at25ff321a_1f4708.sfdp", 0x1f4708, 4u << 20, 256, 4096},
		{"gd25lb512me_c8671a.sfdp", 0xc8671a, 64u << 20, 256, 4096},
	};
	const char *root = getenv("FLASHD_SOURCE_ROOT");
	char err[160];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(dumps); i++) {
		char path[1024];
		uint8_t buf[1024], hdr[5] = {0x5A, 0, 0, 0, 0}, got[1024];
		struct sim_profile *p;
		struct simchip_opts o;
		struct simchip *s;
		char *dir = th_mkdtemp(), *img = th_path(dir, "s.img");
		FILE *fp;
		size_t n;

		snprintf(path, sizeof(path), "%s/tests/data/sfdp/%s", root ? root : "..",
			 dumps[i].file);
		fp = fopen(path, "rb");
		assert_non_null(fp);
		n = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		assert_int_equal(sim_profile_from_sfdp(buf, n, dumps[i].id, &p, err, sizeof(err)), 0);
		assert_int_equal(sim_profile_size(p), dumps[i].size);
		assert_int_equal(sim_profile_jedec_id(p), dumps[i].id);
		simchip_opts_init(&o);
		o.time_scale = 0;
		assert_int_equal(simchip_open(p, img, &o, &s, err, sizeof(err)), 0);
		assert_int_equal(spibus_cmd(simchip_bus(s), hdr, 5, got, n), 0);
		th_assert_bytes(got, buf, n);
		simchip_close(s);
		sim_profile_free(p);
		th_rmtree(dir);
		free(dir);
		free(img);
	}
	{
		struct sim_profile *p = NULL;
		uint8_t junk[64];

		memset(junk, 0xFF, sizeof(junk));
		assert_int_equal(sim_profile_from_sfdp(junk, sizeof(junk), 1, &p, err, sizeof(err)),
				 -EINVAL);
		assert_string_equal(err, "no SFDP signature");
		memcpy(junk, "SFDP\x06\x01\x00\xff\x00\x06\x01\x10\xf0\x00\x00\xff", 16);
		assert_int_equal(sim_profile_from_sfdp(junk, sizeof(junk), 1, &p, err, sizeof(err)),
				 -EINVAL);
		assert_string_equal(err, "no basic flash parameter table of at least 9 DWORDs");
		assert_null(p);
	}
}

static void sfdp_dump_over_1kib_is_answered_byte_for_byte(void **state)
{
	const char *root = getenv("FLASHD_SOURCE_ROOT");
	static uint8_t dump[4096], got[4096 + 16];
	char path[1024], err[160];
	struct sim_profile *p;
	struct simchip_opts o;
	struct simchip *s;
	char *dir = th_mkdtemp(), *img = th_path(dir, "s.img");
	FILE *fp;
	size_t n;

	(void)state;
	/* a real table followed by vendor data out to 4 KiB, as large parts have */
	snprintf(path, sizeof(path), "%s/tests/data/sfdp/w25q128jv_ef4018.sfdp", root ? root : "..");
	fp = fopen(path, "rb");
	assert_non_null(fp);
	n = fread(dump, 1, sizeof(dump), fp);
	fclose(fp);
	th_pattern(dump + n, sizeof(dump) - n, 7);
	assert_int_equal(sim_profile_from_sfdp(dump, sizeof(dump), 0xef4018, &p, err, sizeof(err)),
			 0);
	simchip_opts_init(&o);
	o.time_scale = 0;
	assert_int_equal(simchip_open(p, img, &o, &s, err, sizeof(err)), 0);
	raw_sfdp(simchip_bus(s), 0, got, sizeof(got));
	th_assert_bytes(got, dump, sizeof(dump));
	th_assert_filled(got + sizeof(dump), 0xFF, 16);
	raw_sfdp(simchip_bus(s), 0x0ABC, got, 16); /* from an address past 1 KiB */
	th_assert_bytes(got, dump + 0x0ABC, 16);
	simchip_close(s);
	sim_profile_free(p);
	th_rmtree(dir);
	free(dir);
	free(img);
}

static void sfdp_profile_chip_erase_maximum_uses_the_erase_multiplier(void **state)
{
	const char *root = getenv("FLASHD_SOURCE_ROOT");
	char path[1024], err[160];
	uint8_t dump[1024];
	const uint8_t ce = 0xC7;
	struct simchip_stats st;
	struct sim_profile *p;
	struct simchip_opts o;
	struct simchip *s;
	char *dir = th_mkdtemp(), *img = th_path(dir, "s.img");
	FILE *fp;
	size_t n;

	(void)state;
	snprintf(path, sizeof(path), "%s/tests/data/sfdp/w25q128jv_ef4018.sfdp", root ? root : "..");
	fp = fopen(path, "rb");
	assert_non_null(fp);
	n = fread(dump, 1, sizeof(dump), fp);
	fclose(fp);
	/* BFPT at 0x80: DWORD 10 = 0x00a60236 (erase max = 2 x (6 + 1) = 14 x typical),
	 * DWORD 11 = 0xc914ea82 (program max = 6 x typical; chip erase typical 10 x 4 s).
	 * JESD216 puts chip erase under the erase multiplier: 40 s x 14 = 560 s */
	assert_int_equal(get_le32(dump + 0x80 + 36), 0x00a60236);
	assert_int_equal(get_le32(dump + 0x80 + 40), 0xc914ea82);
	assert_int_equal(sim_profile_from_sfdp(dump, n, 0xef4018, &p, err, sizeof(err)), 0);
	simchip_opts_init(&o);
	o.time_scale = 0;
	o.busy = SIMCHIP_BUSY_MAXIMUM;
	assert_int_equal(simchip_open(p, img, &o, &s, err, sizeof(err)), 0);
	raw_op(simchip_bus(s), 0x06);
	raw_cmd(simchip_bus(s), &ce, 1);
	simchip_get_stats(s, &st);
	assert_int_equal(st.busy_ns, 560 * NSEC_PER_SEC);
	simchip_close(s);
	sim_profile_free(p);
	th_rmtree(dir);
	free(dir);
	free(img);
}

/* One command's busy time, then let it pass without polling. */
static uint64_t busy_of(struct simfix *f, const uint8_t *tx, size_t len)
{
	struct simchip_stats a, b;

	raw_op(f->bus, 0x06);
	simchip_get_stats(f->sim, &a);
	raw_cmd(f->bus, tx, len);
	simchip_get_stats(f->sim, &b);
	fclock_sleep_ns(spibus_clock(f->bus), b.busy_ns - a.busy_ns + NSEC_PER_MSEC);
	assert_int_equal(raw_reg(f->bus, 0x05) & 1, 0);
	return b.busy_ns - a.busy_ns;
}

static void generated_sfdp_maxima_cover_the_datasheet_maxima(void **state)
{
	static const char *const parts[] = {"W25Q256JV", "MX25L12835F", "GD25Q64C",
					    "MT25QL256", "W25Q512JV",	"SFDP-ONLY"};
	static const uint32_t erase_unit_ms[4] = {1, 16, 128, 1000};
	static const uint32_t ce_unit_ms[4] = {16, 256, 4000, 64000};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		struct simchip_opts o;
		struct simfix *f;
		uint8_t t[0x30 + 64], pp[5] = {0x02, 0, 0, 0, 0}, ce = 0xC7;
		uint32_t dw10, dw11, emult, pmult;
		uint64_t max_us;

		simchip_opts_init(&o);
		o.time_scale = 0;
		o.busy = SIMCHIP_BUSY_MAXIMUM; /* every busy time is the datasheet maximum */
		f = simfix_open_opts(parts[i], &o);
		raw_sfdp(f->bus, 0, t, sizeof(t));
		assert_int_equal(get_le24(t + 12), 0x30);
		dw10 = get_le32(t + 0x30 + 36);
		dw11 = get_le32(t + 0x30 + 40);
		emult = 2 * ((dw10 & 0xF) + 1);
		pmult = 2 * ((dw11 & 0xF) + 1);
		for (unsigned e = 0; e < 4; e++) {
			const uint8_t *et = t + 0x30 + 28 + 2 * e;
			uint32_t f7 = (dw10 >> (4 + 7 * e)) & 0x7F;
			uint8_t se[4] = {et[1], 0x00, 0x00, 0x00};

			if (et[0] == 0)
				continue;
			max_us = (uint64_t)((f7 & 0x1F) + 1) * erase_unit_ms[f7 >> 5] * 1000 * emult;
			if (busy_of(f, se, sizeof(se)) > max_us * NSEC_PER_USEC)
				fail_msg("%s: erase %02xh lasts longer than its SFDP maximum %llu us",
					 parts[i], se[0], (unsigned long long)max_us);
		}
		max_us = (uint64_t)(((dw11 >> 8) & 0x1F) + 1) * ((dw11 & (1u << 13)) ? 64 : 8) *
			 pmult;
		if (busy_of(f, pp, sizeof(pp)) > max_us * NSEC_PER_USEC)
			fail_msg("%s: page program beyond its SFDP maximum", parts[i]);
		max_us = (uint64_t)(((dw11 >> 24) & 0x1F) + 1) * ce_unit_ms[(dw11 >> 29) & 3] *
			 1000 * emult;
		if (busy_of(f, &ce, 1) > max_us * NSEC_PER_USEC)
			fail_msg("%s: chip erase beyond its SFDP maximum", parts[i]);
		simfix_close(f);
	}
}

/* A minimal JESD216 header + 16-DWORD BFPT at 0x10 with the given density and erase types. */
static void tiny_sfdp(uint8_t *t, uint32_t dw2, const uint8_t (*erase)[2], unsigned n)
{
	memset(t, 0xFF, 0x10 + 64);
	memcpy(t, "SFDP\x06\x01\x00\xff\x00\x06\x01\x10\x10\x00\x00\xff", 16);
	put_le32(t + 0x10, 0xFFF320E5u);
	put_le32(t + 0x14, dw2);
	memset(t + 0x10 + 28, 0, 8);
	for (unsigned i = 0; i < n; i++) {
		t[0x10 + 28 + 2 * i] = erase[i][0];
		t[0x10 + 29 + 2 * i] = erase[i][1];
	}
}

static void sfdp_profile_drops_erase_types_larger_than_the_chip(void **state)
{
	/* 512 Kbit = 64 KiB; a 4 KiB type (20h) and a 16 MiB one (C7h) */
	static const uint8_t erase[2][2] = {{12, 0x20}, {24, 0xC7}};
	uint8_t t[0x10 + 64];
	struct sim_profile *p = NULL;
	char err[160];

	(void)state;
	tiny_sfdp(t, 512 * 1024 - 1, erase, 2);
	assert_int_equal(sim_profile_from_sfdp(t, sizeof(t), 0xa5a510, &p, err, sizeof(err)), 0);
	assert_int_equal(sim_profile_size(p), 64 * 1024);
	{
		/* with only the oversized type, nothing usable is left */
		static const uint8_t only_big[1][2] = {{24, 0xC7}};
		struct sim_profile *q = NULL;

		tiny_sfdp(t, 512 * 1024 - 1, only_big, 1);
		assert_int_equal(sim_profile_from_sfdp(t, sizeof(t), 1, &q, err, sizeof(err)),
				 -EINVAL);
		assert_string_equal(err, "the dump lists no usable erase type");
		assert_null(q);
	}
	sim_profile_free(p);
}

static void sfdp_profile_refuses_a_density_not_a_power_of_two(void **state)
{
	static const uint8_t erase[1][2] = {{12, 0x20}};
	uint8_t t[0x10 + 64];
	struct sim_profile *p = NULL;
	char err[160];

	(void)state;
	tiny_sfdp(t, 3 * 1024 * 1024 * 8 - 1, erase, 1); /* 3 MiB */
	assert_int_equal(sim_profile_from_sfdp(t, sizeof(t), 1, &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "implausible density (25165824 bits)");
	assert_null(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_profile_answers_its_jedec_id),
		cmocka_unit_test(sfdp_is_the_real_dump_byte_for_byte),
		cmocka_unit_test(generated_sfdp_describes_the_profile),
		cmocka_unit_test(generated_sfdp_maxima_cover_the_datasheet_maxima),
		cmocka_unit_test(wel_and_wip_follow_the_datasheet),
		cmocka_unit_test(program_only_clears_bits_and_wraps_in_the_page),
		cmocka_unit_test(erase_ignores_low_address_bits),
		cmocka_unit_test(four_byte_modes),
		cmocka_unit_test(micron_needs_wren_for_en4b_and_reports_flags),
		cmocka_unit_test(sst25_powers_up_protected_and_programs_words),
		cmocka_unit_test(sst26_is_locked_until_ulbpr),
		cmocka_unit_test(transaction_cost_is_overhead_plus_bytes),
		cmocka_unit_test(virtual_time_is_deterministic),
		cmocka_unit_test(too_fast_a_clock_corrupts_plain_reads),
		cmocka_unit_test(faults_behave_as_documented),
		cmocka_unit_test(erase_fail_leaves_the_first_byte),
		cmocka_unit_test(wp_with_srp_ignores_status_writes),
		cmocka_unit_test(oversized_transaction_is_emsgsize),
		cmocka_unit_test(image_file_rules),
		cmocka_unit_test(profiles_from_sfdp_dumps),
		cmocka_unit_test(sfdp_dump_over_1kib_is_answered_byte_for_byte),
		cmocka_unit_test(sfdp_profile_chip_erase_maximum_uses_the_erase_multiplier),
		cmocka_unit_test(sfdp_profile_drops_erase_types_larger_than_the_chip),
		cmocka_unit_test(sfdp_profile_refuses_a_density_not_a_power_of_two),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
