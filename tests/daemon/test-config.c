/* SPDX-License-Identifier: MIT */
/*
 * The configuration: defaults, the INI file, the command line and the cross-field checks, each
 * error with its exact "file:line: message". The documentation tests hold config/flashd.conf
 * to the key table: every key listed, commented out, under its section, with the built-in
 * default as its value, and the whole file uncommented is a valid config equal to the defaults.
 *
 * Files are mkstemp files in a fresh temporary directory per test.
 */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buildcfg.h"
#include "config.h"
#include "util.h"

struct fx {
	char *dir;
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	if (!x)
		return -1;
	x->dir = th_mkdtemp();
	if (!x->dir) {
		free(x);
		return -1;
	}
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	th_rmtree(x->dir);
	free(x->dir);
	free(x);
	return 0;
}

/* A new mkstemp file in the test's directory holding len bytes of data; caller frees the path. */
static char *conf_bytes(struct fx *x, const void *data, size_t len)
{
	char *path = th_path(x->dir, "flashd.conf.XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	return path;
}

static char *conf(struct fx *x, const char *text)
{
	return conf_bytes(x, text, strlen(text));
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool line_eq(const struct config_line *a, const struct config_line *b)
{
	return a->offset == b->offset && a->active_low == b->active_low;
}

/* The first field (other than file) in which a and b differ, or NULL. */
static const char *config_diff(const struct flashd_config *a, const struct flashd_config *b)
{
#define NUM(f)                                                                                     \
	do {                                                                                       \
		if (a->f != b->f)                                                                  \
			return #f;                                                                 \
	} while (0)
#define STR(f)                                                                                     \
	do {                                                                                       \
		if (!str_eq(a->f, b->f))                                                           \
			return #f;                                                                 \
	} while (0)
#define LINE(f)                                                                                    \
	do {                                                                                       \
		if (!line_eq(&a->f, &b->f))                                                        \
			return #f;                                                                 \
	} while (0)
	NUM(backend);
	STR(sim_chip);
	STR(sim_image);
	NUM(sim_time_scale);
	STR(sim_sfdp);
	NUM(sim_jedec_id);
	NUM(n_sim_faults);
	for (size_t i = 0; i < a->n_sim_faults; i++)
		STR(sim_faults[i]);
	NUM(sim_max_transfer);
	NUM(sim_busy);
	NUM(sim_seed);
	STR(spi_device);
	NUM(spi_speed_hz);
	NUM(spi_mode);
	STR(gpio_chip);
	LINE(cs);
	LINE(hold);
	LINE(wp);
	LINE(power);
	LINE(reset);
	NUM(chip_size);
	NUM(chip_page_size);
	NUM(chip_erase_size);
	NUM(chip_erase_opcode);
	NUM(n_listen);
	for (size_t i = 0; i < a->n_listen; i++)
		STR(listen[i]);
	STR(tls_cert);
	STR(tls_key);
	STR(token_file);
	NUM(require_token);
	STR(www_dir);
	NUM(max_connections);
	NUM(timeout_s);
	NUM(max_body);
	STR(allowed_hosts);
	NUM(download_min_rate);
	NUM(download_window_s);
	STR(state_dir);
	NUM(backup_count);
	NUM(backup_bytes);
	NUM(queue_length);
	NUM(history);
	NUM(block_size);
	NUM(blocks);
	NUM(log_level);
	return NULL;
#undef NUM
#undef STR
#undef LINE
}

/* Parse text as a config file on top of the defaults and expect "PATH:LINE: msg". */
static void expect_file_error(struct fx *x, const char *text, size_t len, int line,
			      const char *msg)
{
	struct flashd_config c;
	char err[512], want[1024];
	char *path = conf_bytes(x, text, len);

	config_init(&c);
	assert_int_equal(config_load_file(&c, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:%d: %s", path, line, msg);
	assert_string_equal(err, want);
	config_free(&c);
	free(path);
}

#define FILE_ERROR(x, text, line, msg) expect_file_error((x), (text), strlen(text), (line), (msg))

/* Parse text (which must be valid) on top of the defaults into *c. */
static void load_ok(struct fx *x, const char *text, struct flashd_config *c)
{
	char err[512] = "";
	char *path = conf(x, text);

	config_init(c);
	if (config_load_file(c, path, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(c->file, path);
	free(path);
}

/* config_parse_args() on a copy of the NULL-terminated args (getopt permutes argv). */
static int parse(struct flashd_config *c, const char *const *args, enum config_action *ret_action,
		 char *err, size_t errlen)
{
	char *argv[32];
	int argc = 0, r;

	for (; args[argc]; argc++) {
		assert_true(argc < 31);
		argv[argc] = strdup(args[argc]);
		assert_non_null(argv[argc]);
	}
	argv[argc] = NULL;
	r = config_parse_args(c, argc, argv, ret_action, err, errlen);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return r;
}

#define ARGV(...) ((const char *const[]){"flashd", __VA_ARGS__, NULL})

/* Expect config_parse_args() to fail with exactly msg. */
static void expect_args_error(const char *const *args, const char *msg)
{
	struct flashd_config c;
	enum config_action action = _CONFIG_ACTION_MAX;
	char err[512] = "";

	config_init(&c);
	assert_int_equal(parse(&c, args, &action, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, msg);
	config_free(&c);
}

/* Expect config_validate() to fail with exactly msg. */
static void expect_invalid(const struct flashd_config *c, const char *msg)
{
	char err[512] = "";

	assert_int_equal(config_validate(c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, msg);
}

/* ---- defaults ---- */

static void init_sets_every_default(void **state)
{
	struct flashd_config c;

	(void)state;
	config_init(&c);
	assert_null(c.file);
	assert_int_equal(c.backend, CONFIG_BACKEND_SIM);
	assert_string_equal(c.sim_chip, "W25Q128JV");
	assert_string_equal(c.sim_image, "flash.img");
	assert_true(c.sim_time_scale == 1.0);
	assert_null(c.sim_sfdp);
	assert_int_equal(c.sim_jedec_id, 0);
	assert_int_equal(c.n_sim_faults, 0);
	assert_int_equal(c.sim_max_transfer, 65536);
	assert_int_equal(c.sim_busy, SIMCHIP_BUSY_TYPICAL);
	assert_int_equal(c.sim_seed, 1);
	assert_string_equal(c.spi_device, "/dev/spidev0.0");
	assert_int_equal(c.spi_speed_hz, 32000000);
	assert_int_equal(c.spi_mode, 0);
	assert_string_equal(c.gpio_chip, "gpiochip0");
	assert_int_equal(c.cs.offset, -1);
	assert_true(c.cs.active_low);
	assert_int_equal(c.hold.offset, -1);
	assert_true(c.hold.active_low);
	assert_int_equal(c.wp.offset, -1);
	assert_true(c.wp.active_low);
	assert_int_equal(c.power.offset, -1);
	assert_false(c.power.active_low);
	assert_int_equal(c.reset.offset, -1);
	assert_true(c.reset.active_low);
	assert_int_equal(c.chip_size, 0);
	assert_int_equal(c.chip_page_size, 256);
	assert_int_equal(c.chip_erase_size, 0);
	assert_int_equal(c.chip_erase_opcode, 0);
	assert_int_equal(c.n_listen, 1);
	assert_string_equal(c.listen[0], "127.0.0.1:8080");
	assert_null(c.tls_cert);
	assert_null(c.tls_key);
	assert_null(c.token_file);
	assert_false(c.require_token);
	assert_string_equal(c.www_dir, FLASHD_WWWDIR_DEFAULT);
	assert_int_equal(c.max_connections, 64);
	assert_int_equal(c.timeout_s, 30);
	assert_int_equal(c.max_body, 2 * 1024 * 1024);
	assert_null(c.allowed_hosts);
	assert_int_equal(c.download_min_rate, 128 * 1024);
	assert_int_equal(c.download_window_s, 10);
	assert_string_equal(c.state_dir, "/var/lib/flashd");
	assert_int_equal(c.backup_count, 20);
	assert_int_equal(c.backup_bytes, 1024ull * 1024 * 1024);
	assert_int_equal(c.queue_length, 4);
	assert_int_equal(c.history, 50);
	assert_int_equal(c.block_size, 65536);
	assert_int_equal(c.blocks, 16);
	assert_int_equal(c.log_level, LOG_LVL_INFO);
	config_free(&c);
}

static void free_accepts_null_and_a_freed_config(void **state)
{
	struct flashd_config c;

	(void)state;
	config_free(NULL);
	config_init(&c);
	config_free(&c);
	config_free(&c);
	assert_null(c.sim_chip);
	assert_int_equal(c.n_listen, 0);
}

static void defaults_are_valid(void **state)
{
	struct flashd_config c;
	char err[256] = "";

	(void)state;
	config_init(&c);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	config_free(&c);
}

/* ---- a full file ---- */

static const char full_file[] = "# every key, none at its default\n"
				"[backend]\n"
				"type = spidev\n"
				"[sim]\n"
				"chip = MX25L25645G\n"
				"image = /srv/mx.img\n"
				"time-scale = 0.25\n"
				"sfdp = /srv/mx.sfdp\n"
				"jedec-id = c22019\n"
				"fault = wip-stuck\n"
				"fault = xfer-error=3\n"
				"max-transfer = 4K\n"
				"busy = random\n"
				"seed = 0x2a\n"
				"[spi]\n"
				"device = /dev/spidev1.1\n"
				"speed = 20000000\n"
				"mode = 3\n"
				"[gpio]\n"
				"chip = gpiochip4\n"
				"cs = 8\n"
				"hold = 25 active-high\n"
				"wp = 24, active-low\n"
				"power = 23 active-low\n"
				"reset = 22\n"
				"[chip]\n"
				"size = 16M\n"
				"page-size = 512\n"
				"erase-size = 64K\n"
				"erase-opcode = 0xD8\n"
				"[http]\n"
				"listen = 0.0.0.0:80\n"
				"listen = [::1]:8443\n"
				"tls-cert = /etc/flashd/cert.pem\n"
				"tls-key = /etc/flashd/key.pem\n"
				"token-file = /run/flashd/token\n"
				"require-token = yes\n"
				"www-dir = /srv/www\n"
				"max-connections = 128\n"
				"timeout = 90\n"
				"max-body = 4M\n"
				"allowed-hosts = flash.lab, pi.example\n"
				"download-min-rate = 1M\n"
				"download-window = 20\n"
				"[storage]\n"
				"state-dir = /srv/flashd\n"
				"backup-count = 7\n"
				"backup-bytes = 2G\n"
				"[jobs]\n"
				"queue-length = 9\n"
				"history = 200\n"
				"block-size = 128K\n"
				"blocks = 32\n"
				"[log]\n"
				"level = debug\n";

static void file_with_every_key_sets_every_field(void **state)
{
	struct flashd_config c;

	load_ok(*state, full_file, &c);
	assert_int_equal(c.backend, CONFIG_BACKEND_SPIDEV);
	assert_string_equal(c.sim_chip, "MX25L25645G");
	assert_string_equal(c.sim_image, "/srv/mx.img");
	assert_true(c.sim_time_scale == 0.25);
	assert_string_equal(c.sim_sfdp, "/srv/mx.sfdp");
	assert_int_equal(c.sim_jedec_id, 0xc22019);
	assert_int_equal(c.n_sim_faults, 2);
	assert_string_equal(c.sim_faults[0], "wip-stuck");
	assert_string_equal(c.sim_faults[1], "xfer-error=3");
	assert_int_equal(c.sim_max_transfer, 4096);
	assert_int_equal(c.sim_busy, SIMCHIP_BUSY_RANDOM);
	assert_int_equal(c.sim_seed, 42);
	assert_string_equal(c.spi_device, "/dev/spidev1.1");
	assert_int_equal(c.spi_speed_hz, 20000000);
	assert_int_equal(c.spi_mode, 3);
	assert_string_equal(c.gpio_chip, "gpiochip4");
	assert_int_equal(c.cs.offset, 8);
	assert_true(c.cs.active_low);
	assert_int_equal(c.hold.offset, 25);
	assert_false(c.hold.active_low);
	assert_int_equal(c.wp.offset, 24);
	assert_true(c.wp.active_low);
	assert_int_equal(c.power.offset, 23);
	assert_true(c.power.active_low);
	assert_int_equal(c.reset.offset, 22);
	assert_true(c.reset.active_low);
	assert_int_equal(c.chip_size, 16 * 1024 * 1024);
	assert_int_equal(c.chip_page_size, 512);
	assert_int_equal(c.chip_erase_size, 65536);
	assert_int_equal(c.chip_erase_opcode, 0xD8);
	assert_int_equal(c.n_listen, 2);
	assert_string_equal(c.listen[0], "0.0.0.0:80");
	assert_string_equal(c.listen[1], "[::1]:8443");
	assert_string_equal(c.tls_cert, "/etc/flashd/cert.pem");
	assert_string_equal(c.tls_key, "/etc/flashd/key.pem");
	assert_string_equal(c.token_file, "/run/flashd/token");
	assert_true(c.require_token);
	assert_string_equal(c.www_dir, "/srv/www");
	assert_int_equal(c.max_connections, 128);
	assert_int_equal(c.timeout_s, 90);
	assert_int_equal(c.max_body, 4 * 1024 * 1024);
	assert_string_equal(c.allowed_hosts, "flash.lab, pi.example");
	assert_int_equal(c.download_min_rate, 1024 * 1024);
	assert_int_equal(c.download_window_s, 20);
	assert_string_equal(c.state_dir, "/srv/flashd");
	assert_int_equal(c.backup_count, 7);
	assert_int_equal(c.backup_bytes, 2048ull * 1024 * 1024);
	assert_int_equal(c.queue_length, 9);
	assert_int_equal(c.history, 200);
	assert_int_equal(c.block_size, 128 * 1024);
	assert_int_equal(c.blocks, 32);
	assert_int_equal(c.log_level, LOG_LVL_DEBUG);
	config_free(&c);
}

static void full_file_names_every_key_of_the_table(void **state)
{
	(void)state;
	assert_true(config_key_count() > 0);
	for (size_t i = 0; i < config_key_count(); i++) {
		const char *section, *name;
		char want[128];

		assert_int_equal(config_key_at(i, &section, &name), 0);
		snprintf(want, sizeof(want), "\n%s = ", name);
		if (!strstr(full_file, want))
			fail_msg("[%s] %s is missing from full_file", section, name);
	}
}

static void key_at_out_of_range_is_einval_and_writes_nothing(void **state)
{
	const char *section = "x", *name = "y";

	(void)state;
	assert_int_equal(config_key_at(config_key_count(), &section, &name), -EINVAL);
	assert_string_equal(section, "x");
	assert_string_equal(name, "y");
	assert_int_equal(config_key_at(0, &section, &name), 0);
	assert_string_equal(section, "backend");
	assert_string_equal(name, "type");
}

static void file_sizes_take_suffixes_and_hex(void **state)
{
	struct flashd_config c;

	load_ok(*state,
		"[jobs]\nblock-size = 0x10000\n[http]\nmax-body = 3MiB\n[sim]\nmax-transfer = 8KB\n"
		"[storage]\nbackup-bytes = 5g\n",
		&c);
	assert_int_equal(c.block_size, 65536);
	assert_int_equal(c.max_body, 3 * 1024 * 1024);
	assert_int_equal(c.sim_max_transfer, 8192);
	assert_int_equal(c.backup_bytes, 5ull << 30);
	config_free(&c);
}

static void file_clock_suffixes_are_powers_of_ten(void **state)
{
	struct flashd_config c;

	load_ok(*state, "[spi]\nspeed = 32M\n", &c);
	assert_int_equal(c.spi_speed_hz, 32000000);
	config_free(&c);
	load_ok(*state, "[spi]\nspeed = 400kHz\n", &c);
	assert_int_equal(c.spi_speed_hz, 400000);
	config_free(&c);
}

static void file_leading_zero_is_decimal_not_octal(void **state)
{
	struct flashd_config c;

	load_ok(*state, "[jobs]\nhistory = 010\n", &c);
	assert_int_equal(c.history, 10);
	config_free(&c);
}

static void file_bools_take_yes_no_true_false_on_off_1_0(void **state)
{
	static const char *const yes[] = {"yes", "TRUE", "on", "1"}, *const no[] = {"No", "false",
										  "off", "0"};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		struct flashd_config c;
		char text[64];

		snprintf(text, sizeof(text), "[http]\nrequire-token = %s\n", yes[i]);
		load_ok(*state, text, &c);
		assert_true(c.require_token);
		config_free(&c);
		snprintf(text, sizeof(text), "[http]\nrequire-token = yes\nrequire-token = %s\n",
			 no[i]);
		load_ok(*state, text, &c);
		assert_false(c.require_token);
		config_free(&c);
	}
}

static void file_line_none_unwires_and_keeps_polarity(void **state)
{
	struct flashd_config c;

	load_ok(*state, "[gpio]\ncs = 5 active-high\ncs = none\npower = 6\n", &c);
	assert_int_equal(c.cs.offset, -1);
	assert_false(c.cs.active_low);
	assert_int_equal(c.power.offset, 6);
	assert_false(c.power.active_low);
	config_free(&c);
}

static void file_listen_replaces_the_default_then_appends(void **state)
{
	struct flashd_config c;

	load_ok(*state, "[http]\nlisten = 192.168.1.2:8080\nlisten = [fe80::1]:80\n", &c);
	assert_int_equal(c.n_listen, 2);
	assert_string_equal(c.listen[0], "192.168.1.2:8080");
	assert_string_equal(c.listen[1], "[fe80::1]:80");
	config_free(&c);
}

static void file_later_value_of_a_key_wins(void **state)
{
	struct flashd_config c;

	load_ok(*state, "[spi]\nspeed = 1000000\n[log]\nlevel = err\n[spi]\nspeed = 2000000\n", &c);
	assert_int_equal(c.spi_speed_hz, 2000000);
	assert_int_equal(c.log_level, LOG_LVL_ERR);
	config_free(&c);
}

/* ---- config/flashd.conf against the key table ---- */

struct doc_key {
	char section[32];
	char name[64];
	char value[256];
	int line;
};

#define DOC_MAX_KEYS 128

static char *doc_path(void)
{
	const char *root = getenv("FLASHD_SOURCE_ROOT");
	char *p;

	if (!root)
		fail_msg("FLASHD_SOURCE_ROOT is not set (run the tests with meson test)");
	assert_true(asprintf(&p, "%s/config/flashd.conf", root) > 0);
	return p;
}

/*
 * The commented-out keys of the documentation: "#name = value" or "#name =" lines, each under
 * the last "[section]". A '#' directly followed by a lower-case letter must be such a line
 * (prose comments are "# text"), so a malformed key line fails instead of being skipped.
 */
static size_t doc_keys(const char *text, struct doc_key *keys, size_t max)
{
	char section[32] = "";
	size_t n = 0;
	int lineno = 0;

	for (const char *p = text; *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char line[512];

		lineno++;
		assert_true(len < sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (eol ? 1 : 0);

		if (line[0] == '[') {
			char *close = strchr(line, ']');

			if (!close || close[1] || (size_t)(close - line) >= sizeof(section))
				fail_msg("flashd.conf:%d: bad section line \"%s\"", lineno, line);
			memcpy(section, line + 1, (size_t)(close - line) - 1);
			section[close - line - 1] = '\0';
		} else if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z') {
			size_t nl = strspn(line + 1, "abcdefghijklmnopqrstuvwxyz0123456789-");
			const char *rest = line + 1 + nl;
			struct doc_key *k;

			if (strncmp(rest, " =", 2) || (rest[2] && (rest[2] != ' ' || !rest[3])))
				fail_msg("flashd.conf:%d: \"%s\" is not \"#key = value\"", lineno,
					 line);
			if (!section[0])
				fail_msg("flashd.conf:%d: key before any section", lineno);
			assert_true(n < max);
			k = &keys[n++];
			snprintf(k->section, sizeof(k->section), "%s", section);
			assert_true(nl < sizeof(k->name));
			memcpy(k->name, line + 1, nl);
			k->name[nl] = '\0';
			snprintf(k->value, sizeof(k->value), "%s", rest[2] ? rest + 3 : "");
			k->line = lineno;
		}
	}
	return n;
}

static const struct doc_key *doc_find(const struct doc_key *keys, size_t n, const char *section,
				      const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

static void doc_lists_every_key_under_its_section(void **state)
{
	struct doc_key keys[DOC_MAX_KEYS];
	char *path = doc_path(), *text = read_text(path);
	size_t n = doc_keys(text, keys, DOC_MAX_KEYS);

	(void)state;
	for (size_t i = 0; i < config_key_count(); i++) {
		const char *section, *name;

		assert_int_equal(config_key_at(i, &section, &name), 0);
		if (!doc_find(keys, n, section, name))
			fail_msg("config/flashd.conf has no \"#%s = ...\" line under [%s]", name,
				 section);
	}
	/* and nothing documented that the parser does not know */
	for (size_t i = 0; i < n; i++) {
		bool known = false;

		for (size_t j = 0; j < config_key_count() && !known; j++) {
			const char *section, *name;

			assert_int_equal(config_key_at(j, &section, &name), 0);
			known = !strcmp(section, keys[i].section) && !strcmp(name, keys[i].name);
		}
		if (!known)
			fail_msg("flashd.conf:%d: [%s] %s is not a key", keys[i].line,
				 keys[i].section, keys[i].name);
	}
	/* each key once */
	for (size_t i = 0; i < n; i++)
		if (doc_find(keys, n, keys[i].section, keys[i].name) != &keys[i])
			fail_msg("flashd.conf:%d: [%s] %s is listed twice", keys[i].line,
				 keys[i].section, keys[i].name);
	free(text);
	free(path);
}

static void doc_values_are_the_builtin_defaults(void **state)
{
	struct doc_key keys[DOC_MAX_KEYS];
	char *path = doc_path(), *text = read_text(path);
	size_t n = doc_keys(text, keys, DOC_MAX_KEYS);
	unsigned checked = 0;

	for (size_t i = 0; i < n; i++) {
		struct flashd_config one, def;
		char err[512] = "", body[512];
		const char *diff;
		char *file;

		if (!keys[i].value[0])
			continue; /* "#key =": no default to compare (set elsewhere or none) */
		snprintf(body, sizeof(body), "[%s]\n%s = %s\n", keys[i].section, keys[i].name,
			 keys[i].value);
		file = conf(*state, body);
		config_init(&one);
		if (config_load_file(&one, file, err, sizeof(err)) != 0)
			fail_msg("flashd.conf:%d: %s", keys[i].line, err);
		config_init(&def);
		diff = config_diff(&one, &def);
		if (diff)
			fail_msg("flashd.conf:%d: [%s] %s = %s is not the built-in default (%s)",
				 keys[i].line, keys[i].section, keys[i].name, keys[i].value, diff);
		config_free(&def);
		config_free(&one);
		free(file);
		checked++;
	}
	assert_true(checked > 20);
	free(text);
	free(path);
}

static void doc_uncommented_is_valid_and_equals_the_defaults(void **state)
{
	char *path = doc_path(), *text = read_text(path), *out, *file;
	struct flashd_config c, def;
	char err[512] = "";
	size_t o = 0;
	const char *diff;

	out = malloc(strlen(text) + 1);
	assert_non_null(out);
	/* "#key = value" -> "key = value"; "#key =" lines are dropped; the rest stays */
	for (const char *p = text; *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) + 1 : strlen(p);

		if (p[0] == '#' && p[1] >= 'a' && p[1] <= 'z') {
			const char *eq = memchr(p, '=', len);

			assert_non_null(eq);
			if (eq[1] == ' ' && eq[2] != '\n' && eq[2] != '\0') {
				memcpy(out + o, p + 1, len - 1);
				o += len - 1;
			}
		} else {
			memcpy(out + o, p, len);
			o += len;
		}
		p += len;
	}
	file = conf_bytes(*state, out, o);
	config_init(&c);
	if (config_load_file(&c, file, err, sizeof(err)) != 0)
		fail_msg("uncommented flashd.conf: %s", err);
	if (config_validate(&c, err, sizeof(err)) != 0)
		fail_msg("uncommented flashd.conf: %s", err);
	config_init(&def);
	diff = config_diff(&c, &def);
	if (diff)
		fail_msg("uncommented flashd.conf differs from the defaults in %s", diff);
	config_free(&def);
	config_free(&c);
	free(file);
	free(out);
	free(text);
	free(path);
}

/* ---- file errors ---- */

static void unknown_section_is_named_with_its_line(void **state)
{
	FILE_ERROR(*state, "[spi]\nspeed = 1000000\n[gpoi]\ncs = 5\n", 4,
		   "unknown section [gpoi]");
}

static void key_before_any_section_is_an_unknown_section(void **state)
{
	FILE_ERROR(*state, "# comment\nspeed = 1000000\n", 2, "unknown section []");
}

static void unknown_key_is_named_with_its_section(void **state)
{
	FILE_ERROR(*state, "[spi]\nspeed = 1000000\ncolour = blue\n", 3,
		   "unknown key \"colour\" in [spi]");
}

static void key_of_another_section_is_unknown(void **state)
{
	FILE_ERROR(*state, "[sim]\nspeed = 1000000\n", 2, "unknown key \"speed\" in [sim]");
}

static void bad_bool(void **state)
{
	FILE_ERROR(*state, "[http]\nrequire-token = maybe\n", 2,
		   "require-token: \"maybe\" is not a boolean (yes/no)");
}

static void number_below_range(void **state)
{
	FILE_ERROR(*state, "[spi]\nspeed = 999\n", 2,
		   "speed: \"999\" is not a number from 1000 to 125000000");
}

static void number_above_range(void **state)
{
	FILE_ERROR(*state, "[spi]\n\nmode = 4\n", 3, "mode: \"4\" is not a number from 0 to 3");
}

static void number_negative(void **state)
{
	FILE_ERROR(*state, "[jobs]\nhistory = -1\n", 2,
		   "history: \"-1\" is not a number from 1 to 100000");
}

static void number_with_garbage(void **state)
{
	FILE_ERROR(*state, "[http]\ntimeout = 30s\n", 2,
		   "timeout: \"30s\" is not a number from 1 to 3600");
}

static void size_suffix_overflow(void **state)
{
	FILE_ERROR(*state, "[storage]\nbackup-bytes = 17179869184G\n", 2,
		   "backup-bytes: \"17179869184G\" is not a size from 0 to 18446744073709551615 "
		   "bytes");
}

static void size_digits_overflow(void **state)
{
	FILE_ERROR(*state, "[http]\nmax-body = 99999999999999999999\n", 2,
		   "max-body: \"99999999999999999999\" is not a size from 1024 to 67108864 bytes");
}

static void busy_not_a_mode(void **state)
{
	FILE_ERROR(*state, "[sim]\nbusy = slow\n", 2, "busy: \"slow\" is not typical, random or max");
}

static void seed_not_a_number(void **state)
{
	FILE_ERROR(*state, "[sim]\nseed = -1\n", 2,
		   "seed: \"-1\" is not a number from 0 to 18446744073709551615");
}

static void size_above_range(void **state)
{
	FILE_ERROR(*state, "[jobs]\nblock-size = 8M\n", 2,
		   "block-size: \"8M\" is not a size from 4096 to 4194304 bytes");
}

static void size_unknown_suffix(void **state)
{
	FILE_ERROR(*state, "[sim]\nmax-transfer = 4T\n", 2,
		   "max-transfer: \"4T\" is not a size from 16 to 16777216 bytes");
}

static void double_out_of_range(void **state)
{
	FILE_ERROR(*state, "[sim]\ntime-scale = 1001\n", 2,
		   "time-scale: \"1001\" is not a number from 0 to 1000");
}

static void double_nan(void **state)
{
	FILE_ERROR(*state, "[sim]\ntime-scale = nan\n", 2,
		   "time-scale: \"nan\" is not a number from 0 to 1000");
}

static void listen_without_port(void **state)
{
	FILE_ERROR(*state, "[http]\nlisten = 127.0.0.1\n", 2,
		   "listen: \"127.0.0.1\" is not HOST:PORT (IPv6 as [addr]:port)");
}

static void listen_port_out_of_range(void **state)
{
	FILE_ERROR(*state, "[http]\nlisten = 127.0.0.1:65536\n", 2,
		   "listen: \"127.0.0.1:65536\" is not HOST:PORT (IPv6 as [addr]:port)");
}

static void listen_ipv6_without_brackets(void **state)
{
	FILE_ERROR(*state, "[http]\nlisten = ::1:8080\n", 2,
		   "listen: \"::1:8080\" is not HOST:PORT (IPv6 as [addr]:port)");
}

static void listen_ipv6_brackets_without_port(void **state)
{
	FILE_ERROR(*state, "[http]\nlisten = [::1]\n", 2,
		   "listen: \"[::1]\" is not HOST:PORT (IPv6 as [addr]:port)");
}

static void listen_beyond_the_limit(void **state)
{
	char text[512] = "[http]\n";

	for (int i = 0; i <= CONFIG_MAX_LISTEN; i++) {
		char l[64];

		snprintf(l, sizeof(l), "listen = 10.0.0.%d:80\n", i + 1);
		strcat(text, l);
	}
	FILE_ERROR(*state, text, CONFIG_MAX_LISTEN + 2, "listen: at most 8 addresses");
}

static void fault_beyond_the_limit(void **state)
{
	char text[512] = "[sim]\n";

	for (int i = 0; i <= CONFIG_MAX_FAULTS; i++)
		strcat(text, "fault = wp\n");
	FILE_ERROR(*state, text, CONFIG_MAX_FAULTS + 2, "fault: at most 8 faults");
}

static void fault_without_value(void **state)
{
	FILE_ERROR(*state, "[sim]\nfault =\n", 2, "fault needs a value");
}

static void string_without_value(void **state)
{
	FILE_ERROR(*state, "[storage]\nstate-dir =\n", 2, "state-dir needs a value");
}

static void line_offset_garbage(void **state)
{
	FILE_ERROR(*state, "[gpio]\ncs = GPIO8\n", 2,
		   "cs: \"GPIO8\" is not a line offset (0-1023, or none)");
}

static void line_offset_too_large(void **state)
{
	FILE_ERROR(*state, "[gpio]\nreset = 1024\n", 2,
		   "reset: \"1024\" is not a line offset (0-1023, or none)");
}

static void line_offset_trailing_garbage(void **state)
{
	FILE_ERROR(*state, "[gpio]\nwp = 17 inverted\n", 2,
		   "wp: \"17 inverted\": after the offset only active-low or active-high");
}

static void bad_backend(void **state)
{
	FILE_ERROR(*state, "[backend]\ntype = ch341a\n", 2,
		   "type: \"ch341a\" is not sim or spidev");
}

static void bad_level(void **state)
{
	FILE_ERROR(*state, "[log]\nlevel = verbose\n", 2,
		   "level: \"verbose\" is not err, warning, notice, info or debug");
}

static void bad_jedec_id_not_hex(void **state)
{
	FILE_ERROR(*state, "[sim]\njedec-id = w25q128\n", 2,
		   "jedec-id: \"w25q128\" is not a JEDEC ID (6 hex digits)");
}

static void bad_jedec_id_too_long(void **state)
{
	FILE_ERROR(*state, "[sim]\njedec-id = ef40180\n", 2,
		   "jedec-id: \"ef40180\" is not a JEDEC ID (6 hex digits)");
}

static void bad_jedec_id_no_chip(void **state)
{
	FILE_ERROR(*state, "[sim]\njedec-id = ffffff\n", 2,
		   "jedec-id: \"ffffff\" is not a JEDEC ID (6 hex digits)");
}

static void chip_size_not_a_power_of_two(void **state)
{
	FILE_ERROR(*state, "[chip]\nsize = 12M\n", 2,
		   "size: \"12M\" is not a power of two from 4K to 256M");
}

static void chip_size_too_large(void **state)
{
	FILE_ERROR(*state, "[chip]\nsize = 512M\n", 2,
		   "size: \"512M\" is not a power of two from 4K to 256M");
}

static void syntax_error_line(void **state)
{
	FILE_ERROR(*state, "[spi]\nspeed = 1000000\nthis is not a key\n", 3,
		   "syntax error (expected [section] or key = value)");
}

static void unterminated_section(void **state)
{
	FILE_ERROR(*state, "# x\n[spi\nspeed = 1000000\n", 2,
		   "syntax error (expected [section] or key = value)");
}

static void first_error_wins_with_its_own_message(void **state)
{
	FILE_ERROR(*state, "[spi]\nspeed = 1\nmode = 9\ncolour = blue\n", 2,
		   "speed: \"1\" is not a number from 1000 to 125000000");
}

static void syntax_error_before_a_bad_key_is_reported(void **state)
{
	FILE_ERROR(*state, "[spi]\nnot a key\nmode = 9\n", 2,
		   "syntax error (expected [section] or key = value)");
}

static void long_line_is_refused_at_its_line(void **state)
{
	char text[1024];
	char path[301];

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	/* the tail of the long line would parse as a key of its own */
	snprintf(text, sizeof(text), "[sim]\nimage = /%s; x = y\nchip = W25Q64\n", path);
	FILE_ERROR(*state, text, 2, "line too long (at most 199 characters)");
}

static void line_of_199_characters_is_accepted(void **state)
{
	struct flashd_config c;
	char text[512], value[200];

	memset(value, 'b', sizeof(value));
	value[199 - strlen("image = ")] = '\0';
	snprintf(text, sizeof(text), "[sim]\nimage = %s\n", value);
	load_ok(*state, text, &c);
	assert_string_equal(c.sim_image, value);
	config_free(&c);
}

static void nul_byte_is_refused_at_its_line(void **state)
{
	static const char text[] = "[gpio]\ncs = 8\nwp = 17\0 active-high\n";

	expect_file_error(*state, text, sizeof(text) - 1, 3, "NUL byte in the line");
}

static void crlf_lines_parse(void **state)
{
	struct flashd_config c;

	load_ok(*state, "[spi]\r\nspeed = 1000000\r\n[log]\r\nlevel = debug\r\n", &c);
	assert_int_equal(c.spi_speed_hz, 1000000);
	assert_int_equal(c.log_level, LOG_LVL_DEBUG);
	config_free(&c);
}

static void missing_file(void **state)
{
	struct fx *x = *state;
	struct flashd_config c;
	char err[512], want[1024];
	char *path = th_path(x->dir, "none.conf");

	config_init(&c);
	assert_int_equal(config_load_file(&c, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err, want);
	assert_null(c.file);
	config_free(&c);
	free(path);
}

static void directory_is_not_a_config_file(void **state)
{
	struct fx *x = *state;
	struct flashd_config c;
	char err[512], want[1024];

	config_init(&c);
	assert_int_equal(config_load_file(&c, x->dir, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: Is a directory", x->dir);
	assert_string_equal(err, want);
	assert_null(c.file);
	config_free(&c);
}

/* ---- the command line ---- */

static void args_without_options_run_on_the_file(void **state)
{
	struct flashd_config c, def;
	enum config_action action;
	char err[512] = "";
	char *file = conf(*state, "# nothing\n");

	config_init(&c);
	assert_int_equal(parse(&c, ARGV("-c", file), &action, err, sizeof(err)), 0);
	assert_int_equal(action, CONFIG_RUN);
	assert_string_equal(c.file, file);
	config_init(&def);
	assert_null(config_diff(&c, &def));
	config_free(&def);
	config_free(&c);
	free(file);
}

static void args_listen_replaces_the_file_listen(void **state)
{
	struct flashd_config c;
	enum config_action action;
	char err[512] = "";
	char *file = conf(*state, "[http]\nlisten = 10.0.0.1:80\nlisten = 10.0.0.2:80\n");

	config_init(&c);
	assert_int_equal(parse(&c, ARGV("--config", file, "--listen", "[::]:8080"), &action, err,
			       sizeof(err)),
			 0);
	assert_int_equal(c.n_listen, 1);
	assert_string_equal(c.listen[0], "[::]:8080");
	config_free(&c);
	free(file);
}

static void args_repeated_listen_appends(void **state)
{
	struct flashd_config c;
	enum config_action action;
	char err[512] = "";
	char *file = conf(*state, "[http]\nlisten = 10.0.0.1:80\n");

	config_init(&c);
	assert_int_equal(parse(&c, ARGV("-c", file, "-l", "0.0.0.0:80", "--listen=[::1]:81"),
			       &action, err, sizeof(err)),
			 0);
	assert_int_equal(c.n_listen, 2);
	assert_string_equal(c.listen[0], "0.0.0.0:80");
	assert_string_equal(c.listen[1], "[::1]:81");
	config_free(&c);
	free(file);
}

static void args_bad_listen_names_the_option(void **state)
{
	char *file = conf(*state, "");

	expect_args_error(ARGV("-c", file, "--listen", "8080"),
			  "--listen: listen: \"8080\" is not HOST:PORT (IPv6 as [addr]:port)");
	free(file);
}

static void args_sim_sets_backend_sim(void **state)
{
	struct flashd_config c;
	enum config_action action;
	char err[512] = "";
	char *file = conf(*state, "[backend]\ntype = spidev\n[spi]\ndevice = /nonexistent\n");

	config_init(&c);
	assert_int_equal(parse(&c, ARGV("-c", file, "--sim", "MX25L25645G"), &action, err,
			       sizeof(err)),
			 0);
	assert_int_equal(c.backend, CONFIG_BACKEND_SIM);
	assert_string_equal(c.sim_chip, "MX25L25645G");
	config_free(&c);
	free(file);
}

static void args_spi_device_sets_spidev(void **state)
{
	struct flashd_config c;
	enum config_action action;
	char err[512] = "";
	char *file = conf(*state, "[backend]\ntype = sim\n");

	config_init(&c);
	assert_int_equal(parse(&c, ARGV("-c", file, "--spi-device", "/dev/null"), &action, err,
			       sizeof(err)),
			 0);
	assert_int_equal(c.backend, CONFIG_BACKEND_SPIDEV);
	assert_string_equal(c.spi_device, "/dev/null");
	config_free(&c);
	free(file);
}

static void args_win_over_the_file(void **state)
{
	struct flashd_config c;
	enum config_action action;
	char err[512] = "";
	char *file = conf(*state, "[sim]\nimage = a.img\ntime-scale = 1\nfault = wp\n"
				  "[spi]\nspeed = 1000000\n[storage]\nstate-dir = /a\n"
				  "[http]\nwww-dir = /a/www\n[log]\nlevel = err\n");

	config_init(&c);
	assert_int_equal(parse(&c,
			       ARGV("-c", file, "--sim-image", "b.img", "--sim-time-scale", "0.5",
				    "--sim-fault", "wip-stuck", "--spi-speed", "2000000",
				    "--state-dir", "/b", "--www-dir", "/b/www", "--log-level",
				    "debug"),
			       &action, err, sizeof(err)),
			 0);
	assert_string_equal(c.sim_image, "b.img");
	assert_true(c.sim_time_scale == 0.5);
	assert_int_equal(c.n_sim_faults, 2); /* faults add up */
	assert_string_equal(c.sim_faults[0], "wp");
	assert_string_equal(c.sim_faults[1], "wip-stuck");
	assert_int_equal(c.spi_speed_hz, 2000000);
	assert_string_equal(c.state_dir, "/b");
	assert_string_equal(c.www_dir, "/b/www");
	assert_int_equal(c.log_level, LOG_LVL_DEBUG);
	config_free(&c);
	free(file);
}

static void args_sim_sfdp_with_dump_and_id(void **state)
{
	struct fx *x = *state;
	struct flashd_config c;
	enum config_action action;
	char err[512] = "";
	char *file = conf(x, ""), *dump = conf(x, "SFDP");

	config_init(&c);
	assert_int_equal(parse(&c,
			       ARGV("-c", file, "--sim", "sfdp", "--sim-sfdp", dump,
				    "--sim-jedec-id", "c84018"),
			       &action, err, sizeof(err)),
			 0);
	assert_string_equal(c.sim_chip, "sfdp");
	assert_string_equal(c.sim_sfdp, dump);
	assert_int_equal(c.sim_jedec_id, 0xc84018);
	config_free(&c);
	free(dump);
	free(file);
}

static void args_bad_value_names_the_option(void **state)
{
	char *file = conf(*state, "");

	expect_args_error(ARGV("-c", file, "--spi-speed", "fast"),
			  "--spi-speed: speed: \"fast\" is not a number from 1000 to 125000000");
	free(file);
}

static void args_file_error_is_reported_with_its_line(void **state)
{
	char *file = conf(*state, "[spi]\nspeed = 1\n");
	char want[1024];

	snprintf(want, sizeof(want), "%s:2: speed: \"1\" is not a number from 1000 to 125000000",
		 file);
	expect_args_error(ARGV("--config", file), want);
	free(file);
}

static void args_missing_config_file(void **state)
{
	struct fx *x = *state;
	char *file = th_path(x->dir, "none.conf");
	char want[1024];

	snprintf(want, sizeof(want), "%s: No such file or directory", file);
	expect_args_error(ARGV("-c", file), want);
	free(file);
}

static void check_config_with_file(void **state)
{
	struct flashd_config c;
	enum config_action action;
	char err[512] = "", opt[1024];
	char *file = conf(*state, "[log]\nlevel = debug\n");

	snprintf(opt, sizeof(opt), "--check-config=%s", file);
	config_init(&c);
	assert_int_equal(parse(&c, ARGV(opt), &action, err, sizeof(err)), 0);
	assert_int_equal(action, CONFIG_CHECK);
	assert_string_equal(c.file, file);
	assert_int_equal(c.log_level, LOG_LVL_DEBUG);
	config_free(&c);
	free(file);
}

static void check_config_reports_the_file_error(void **state)
{
	char *file = conf(*state, "[log]\nlevel = loud\n");
	char opt[1024], want[1024];

	snprintf(opt, sizeof(opt), "--check-config=%s", file);
	snprintf(want, sizeof(want),
		 "%s:2: level: \"loud\" is not err, warning, notice, info or debug", file);
	expect_args_error(ARGV(opt), want);
	free(file);
}

static void check_config_reports_cross_field_errors(void **state)
{
	char *file = conf(*state, "[http]\ntls-cert = /etc/cert.pem\n");
	char opt[1024], want[1024];

	snprintf(opt, sizeof(opt), "--check-config=%s", file);
	snprintf(want, sizeof(want), "%s: tls-cert and tls-key go together", file);
	expect_args_error(ARGV(opt), want);
	free(file);
}

static void check_config_without_file_uses_the_default_file(void **state)
{
	struct flashd_config c;
	enum config_action action;
	char err[512] = "";

	(void)state;
	if (access(CONFIG_DEFAULT_FILE, F_OK) == 0) {
		/* not cmocka's skip(): meson reads its "not ok # SKIP" as a failure */
		print_message("# %s exists here; its contents are not this test's\n",
			      CONFIG_DEFAULT_FILE);
		return;
	}
	config_init(&c);
	assert_int_equal(parse(&c, ARGV("--check-config"), &action, err, sizeof(err)), 0);
	assert_int_equal(action, CONFIG_CHECK);
	assert_null(c.file);
	config_free(&c);
}

static void check_config_with_config_option(void **state)
{
	struct flashd_config c;
	enum config_action action;
	char err[512] = "";
	char *file = conf(*state, "[jobs]\nblocks = 4\n");

	config_init(&c);
	assert_int_equal(parse(&c, ARGV("--check-config", "-c", file), &action, err, sizeof(err)),
			 0);
	assert_int_equal(action, CONFIG_CHECK);
	assert_string_equal(c.file, file);
	assert_int_equal(c.blocks, 4);
	config_free(&c);
	free(file);
}

static void check_config_file_needs_the_equals_sign(void **state)
{
	char *file = conf(*state, "");
	char want[1024];

	snprintf(want, sizeof(want), "%s: unexpected argument (see --help)", file);
	expect_args_error(ARGV("--check-config", file), want);
	free(file);
}

static void help_version_and_list_skip_the_file(void **state)
{
	static const struct {
		const char *opt;
		enum config_action action;
	} cases[] = {
		{"-h", CONFIG_HELP},
		{"--help", CONFIG_HELP},
		{"-V", CONFIG_VERSION},
		{"--version", CONFIG_VERSION},
		{"--list-sim-chips", CONFIG_LIST_SIM},
	};
	struct fx *x = *state;
	char *missing = th_path(x->dir, "none.conf");

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct flashd_config c;
		enum config_action action = CONFIG_RUN;
		char err[512] = "";

		config_init(&c);
		assert_int_equal(parse(&c, ARGV("-c", missing, cases[i].opt), &action, err,
				       sizeof(err)),
				 0);
		assert_int_equal(action, cases[i].action);
		assert_null(c.file);
		config_free(&c);
	}
	free(missing);
}

static void unknown_long_option(void **state)
{
	(void)state;
	expect_args_error(ARGV("--bogus"),
			  "--bogus: unknown option or missing argument (see --help)");
}

static void unknown_short_option(void **state)
{
	(void)state;
	expect_args_error(ARGV("-x"), "-x: unknown option or missing argument (see --help)");
}

static void unknown_short_option_in_a_group(void **state)
{
	(void)state;
	expect_args_error(ARGV("-xV"), "-x: unknown option or missing argument (see --help)");
}

static void missing_option_argument(void **state)
{
	(void)state;
	expect_args_error(ARGV("--sim", "W25Q64JV", "--listen"),
			  "--listen: unknown option or missing argument (see --help)");
}

static void stray_argument(void **state)
{
	char *file = conf(*state, "");

	expect_args_error(ARGV("-c", file, "flash.img"),
			  "flash.img: unexpected argument (see --help)");
	free(file);
}

/*
 * getopt keeps state between calls: after failing in the middle of "-xV" it still points at
 * the "V", which a later call must not pick up (argv stays alive here, so it would).
 */
static void parse_after_an_error_starts_afresh(void **state)
{
	char *bad[] = {strdup("flashd"), strdup("-xV"), NULL};
	struct flashd_config c;
	enum config_action action = _CONFIG_ACTION_MAX;
	char err[512] = "";
	char *file = conf(*state, "");

	assert_non_null(bad[0]);
	assert_non_null(bad[1]);
	config_init(&c);
	assert_int_equal(config_parse_args(&c, 2, bad, &action, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "-x: unknown option or missing argument (see --help)");
	config_free(&c);
	config_init(&c);
	assert_int_equal(parse(&c, ARGV("-c", file), &action, err, sizeof(err)), 0);
	assert_int_equal(action, CONFIG_RUN);
	assert_string_equal(c.file, file);
	config_free(&c);
	free(file);
	free(bad[1]);
	free(bad[0]);
}

/* ---- cross-field checks ---- */

static void validate_tls_cert_without_key(void **state)
{
	struct flashd_config c;

	(void)state;
	config_init(&c);
	c.tls_cert = strdup("/etc/cert.pem");
	expect_invalid(&c, "command line: tls-cert and tls-key go together");
	config_free(&c);
}

static void validate_tls_key_without_cert_names_the_file(void **state)
{
	struct flashd_config c;
	char want[1024];

	load_ok(*state, "[http]\ntls-key = /etc/key.pem\n", &c);
	snprintf(want, sizeof(want), "%s: tls-cert and tls-key go together", c.file);
	expect_invalid(&c, want);
	config_free(&c);
}

static void validate_tls_cert_unreadable(void **state)
{
	struct fx *x = *state;
	struct flashd_config c;
	char want[1024];

	config_init(&c);
	c.tls_cert = th_path(x->dir, "cert.pem");
	c.tls_key = th_path(x->dir, "key.pem");
	snprintf(want, sizeof(want), "tls-cert \"%s\": No such file or directory", c.tls_cert);
	expect_invalid(&c, want);
	config_free(&c);
}

static void validate_tls_files_readable(void **state)
{
	struct fx *x = *state;
	struct flashd_config c;
	char err[256] = "";

	config_init(&c);
	c.tls_cert = conf(x, "CERT");
	c.tls_key = conf(x, "KEY");
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	config_free(&c);
}

static void validate_spidev_missing_names_dtparam(void **state)
{
	struct fx *x = *state;
	struct flashd_config c;
	char want[1024];

	config_init(&c);
	c.backend = CONFIG_BACKEND_SPIDEV;
	free(c.spi_device);
	c.spi_device = th_path(x->dir, "spidev0.0");
	snprintf(want, sizeof(want),
		 "command line: SPI device \"%s\": No such file or directory (enable SPI with "
		 "dtparam=spi=on, or use --sim)",
		 c.spi_device);
	expect_invalid(&c, want);
	config_free(&c);
}

static void validate_spidev_not_a_character_device(void **state)
{
	struct fx *x = *state;
	struct flashd_config c;
	char want[1024];

	config_init(&c);
	c.backend = CONFIG_BACKEND_SPIDEV;
	free(c.spi_device);
	c.spi_device = conf(x, "not a device");
	snprintf(want, sizeof(want), "command line: SPI device \"%s\" is not a character device",
		 c.spi_device);
	expect_invalid(&c, want);
	config_free(&c);
}

static void validate_spidev_character_device(void **state)
{
	struct flashd_config c;
	char err[256] = "";

	(void)state;
	config_init(&c);
	c.backend = CONFIG_BACKEND_SPIDEV;
	free(c.spi_device);
	c.spi_device = strdup("/dev/null");
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	config_free(&c);
}

static void validate_gpio_chip_number_is_dev_gpiochip_n(void **state)
{
	struct flashd_config c;
	char want[1024];

	load_ok(*state,
		"[backend]\ntype = spidev\n[spi]\ndevice = /dev/null\n[gpio]\nchip = 999\ncs = 8\n",
		&c);
	snprintf(want, sizeof(want),
		 "%s: GPIO chip \"/dev/gpiochip999\": No such file or directory", c.file);
	expect_invalid(&c, want);
	config_free(&c);
}

static void validate_gpio_chip_path_present(void **state)
{
	struct fx *x = *state;
	struct flashd_config c;
	char err[256] = "";

	config_init(&c);
	c.backend = CONFIG_BACKEND_SPIDEV;
	free(c.spi_device);
	c.spi_device = strdup("/dev/null");
	free(c.gpio_chip);
	c.gpio_chip = conf(x, "");
	c.wp.offset = 3;
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	config_free(&c);
}

static void validate_gpio_unused_needs_no_chip(void **state)
{
	struct flashd_config c;
	char err[256] = "";

	(void)state;
	config_init(&c);
	c.backend = CONFIG_BACKEND_SPIDEV;
	free(c.spi_device);
	c.spi_device = strdup("/dev/null");
	free(c.gpio_chip);
	c.gpio_chip = strdup("gpiochip999");
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	config_free(&c);
}

static void validate_sim_sfdp_without_dump(void **state)
{
	struct flashd_config c;

	(void)state;
	config_init(&c);
	free(c.sim_chip);
	c.sim_chip = strdup("sfdp");
	c.sim_jedec_id = 0xc84018;
	expect_invalid(&c, "command line: --sim sfdp needs --sim-sfdp FILE and --sim-jedec-id HEX");
	config_free(&c);
}

static void validate_sim_sfdp_without_id(void **state)
{
	struct fx *x = *state;
	struct flashd_config c;

	config_init(&c);
	free(c.sim_chip);
	c.sim_chip = strdup("SFDP");
	c.sim_sfdp = conf(x, "SFDP");
	expect_invalid(&c, "command line: --sim sfdp needs --sim-sfdp FILE and --sim-jedec-id HEX");
	config_free(&c);
}

static void validate_sim_sfdp_dump_unreadable(void **state)
{
	struct fx *x = *state;
	struct flashd_config c;
	char want[1024];

	config_init(&c);
	free(c.sim_chip);
	c.sim_chip = strdup("sfdp");
	c.sim_sfdp = th_path(x->dir, "chip.sfdp");
	c.sim_jedec_id = 0xc84018;
	snprintf(want, sizeof(want), "SFDP dump \"%s\": No such file or directory", c.sim_sfdp);
	expect_invalid(&c, want);
	config_free(&c);
}

static void validate_chip_size_without_erase_size(void **state)
{
	struct flashd_config c;
	char want[1024];

	load_ok(*state, "[chip]\nsize = 8M\n", &c);
	snprintf(want, sizeof(want), "%s: [chip] size needs erase-size too", c.file);
	expect_invalid(&c, want);
	config_free(&c);
}

static void validate_chip_size_with_erase_size(void **state)
{
	struct flashd_config c;
	char err[256] = "";

	load_ok(*state, "[chip]\nsize = 8M\nerase-size = 4K\nerase-opcode = 0x20\n", &c);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	config_free(&c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(init_sets_every_default),
		T(free_accepts_null_and_a_freed_config),
		T(defaults_are_valid),
		T(file_with_every_key_sets_every_field),
		T(full_file_names_every_key_of_the_table),
		T(key_at_out_of_range_is_einval_and_writes_nothing),
		T(file_sizes_take_suffixes_and_hex),
		T(file_clock_suffixes_are_powers_of_ten),
		T(file_leading_zero_is_decimal_not_octal),
		T(file_bools_take_yes_no_true_false_on_off_1_0),
		T(file_line_none_unwires_and_keeps_polarity),
		T(file_listen_replaces_the_default_then_appends),
		T(file_later_value_of_a_key_wins),
		T(doc_lists_every_key_under_its_section),
		T(doc_values_are_the_builtin_defaults),
		T(doc_uncommented_is_valid_and_equals_the_defaults),
		T(unknown_section_is_named_with_its_line),
		T(key_before_any_section_is_an_unknown_section),
		T(unknown_key_is_named_with_its_section),
		T(key_of_another_section_is_unknown),
		T(bad_bool),
		T(number_below_range),
		T(number_above_range),
		T(number_negative),
		T(number_with_garbage),
		T(size_suffix_overflow),
		T(size_digits_overflow),
		T(size_above_range),
		T(busy_not_a_mode),
		T(seed_not_a_number),
		T(size_unknown_suffix),
		T(double_out_of_range),
		T(double_nan),
		T(listen_without_port),
		T(listen_port_out_of_range),
		T(listen_ipv6_without_brackets),
		T(listen_ipv6_brackets_without_port),
		T(listen_beyond_the_limit),
		T(fault_beyond_the_limit),
		T(fault_without_value),
		T(string_without_value),
		T(line_offset_garbage),
		T(line_offset_too_large),
		T(line_offset_trailing_garbage),
		T(bad_backend),
		T(bad_level),
		T(bad_jedec_id_not_hex),
		T(bad_jedec_id_too_long),
		T(bad_jedec_id_no_chip),
		T(chip_size_not_a_power_of_two),
		T(chip_size_too_large),
		T(syntax_error_line),
		T(unterminated_section),
		T(first_error_wins_with_its_own_message),
		T(syntax_error_before_a_bad_key_is_reported),
		T(long_line_is_refused_at_its_line),
		T(line_of_199_characters_is_accepted),
		T(nul_byte_is_refused_at_its_line),
		T(crlf_lines_parse),
		T(missing_file),
		T(directory_is_not_a_config_file),
		T(args_without_options_run_on_the_file),
		T(args_listen_replaces_the_file_listen),
		T(args_repeated_listen_appends),
		T(args_bad_listen_names_the_option),
		T(args_sim_sets_backend_sim),
		T(args_spi_device_sets_spidev),
		T(args_win_over_the_file),
		T(args_sim_sfdp_with_dump_and_id),
		T(args_bad_value_names_the_option),
		T(args_file_error_is_reported_with_its_line),
		T(args_missing_config_file),
		T(check_config_with_file),
		T(check_config_reports_the_file_error),
		T(check_config_reports_cross_field_errors),
		T(check_config_without_file_uses_the_default_file),
		T(check_config_with_config_option),
		T(check_config_file_needs_the_equals_sign),
		T(help_version_and_list_skip_the_file),
		T(unknown_long_option),
		T(unknown_short_option),
		T(unknown_short_option_in_a_group),
		T(missing_option_argument),
		T(stray_argument),
		T(parse_after_an_error_starts_afresh),
		T(validate_tls_cert_without_key),
		T(validate_tls_key_without_cert_names_the_file),
		T(validate_tls_cert_unreadable),
		T(validate_tls_files_readable),
		T(validate_spidev_missing_names_dtparam),
		T(validate_spidev_not_a_character_device),
		T(validate_spidev_character_device),
		T(validate_gpio_chip_number_is_dev_gpiochip_n),
		T(validate_gpio_chip_path_present),
		T(validate_gpio_unused_needs_no_chip),
		T(validate_sim_sfdp_without_dump),
		T(validate_sim_sfdp_without_id),
		T(validate_sim_sfdp_dump_unreadable),
		T(validate_chip_size_without_erase_size),
		T(validate_chip_size_with_erase_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
