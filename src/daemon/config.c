/* SPDX-License-Identifier: MIT */
/*
 * config.c - defaults -> INI file (inih) -> command line (getopt_long).
 *
 * One table describes every key: its section, name, type and limits. The file parser, the
 * documentation test (every key appears in config/flashd.conf) and the command line all use
 * it, so they cannot drift apart. Unknown sections and keys are errors: a mistyped pin name
 * must never silently become "not wired".
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buildcfg.h"
#include "util.h"

enum key_type {
	K_STR,	  /* char * */
	K_BOOL,	  /* bool */
	K_U32,	  /* uint32_t within [min, max] */
	K_HZ,	  /* uint32_t within [min, max], k/M/G are powers of ten */
	K_UINT,	  /* unsigned within [min, max] */
	K_U8,	  /* uint8_t within [min, max] */
	K_SIZE,	  /* size_t with K/M/G suffixes */
	K_U64SZ,  /* uint64_t with K/M/G suffixes */
	K_DOUBLE, /* double >= 0 */
	K_HEX24,  /* uint32_t, hex, 24 bits */
	K_BACKEND,
	K_LEVEL,
	K_LINE,	  /* "17" or "17 active-low" */
	K_LISTEN, /* appended */
	K_FAULT,  /* appended */
	K_BUSY,	  /* enum simchip_busy */
	K_SEED,	  /* uint64_t */
};

struct key {
	const char *section, *name;
	enum key_type type;
	size_t off;
	uint64_t min, max;
};

#define O(f) offsetof(struct flashd_config, f)
#define GIB_MAX ((uint64_t)1 << 30) /* no sane minimum rate is above 1 GiB/s */

static const struct key keys[] = {
	{"backend", "type", K_BACKEND, O(backend), 0, 0},
	{"sim", "chip", K_STR, O(sim_chip), 0, 0},
	{"sim", "image", K_STR, O(sim_image), 0, 0},
	{"sim", "time-scale", K_DOUBLE, O(sim_time_scale), 0, 0},
	{"sim", "sfdp", K_STR, O(sim_sfdp), 0, 0},
	{"sim", "jedec-id", K_HEX24, O(sim_jedec_id), 0, 0},
	{"sim", "fault", K_FAULT, 0, 0, 0},
	{"sim", "max-transfer", K_SIZE, O(sim_max_transfer), 16, MIB(16)},
	{"sim", "busy", K_BUSY, O(sim_busy), 0, 0},
	{"sim", "seed", K_SEED, O(sim_seed), 0, 0},
	{"spi", "device", K_STR, O(spi_device), 0, 0},
	{"spi", "speed", K_HZ, O(spi_speed_hz), 1000, 125000000},
	{"spi", "mode", K_U8, O(spi_mode), 0, 3},
	{"gpio", "chip", K_STR, O(gpio_chip), 0, 0},
	{"gpio", "cs", K_LINE, O(cs), 0, 0},
	{"gpio", "hold", K_LINE, O(hold), 0, 0},
	{"gpio", "wp", K_LINE, O(wp), 0, 0},
	{"gpio", "power", K_LINE, O(power), 0, 0},
	{"gpio", "reset", K_LINE, O(reset), 0, 0},
	{"chip", "size", K_SIZE, 0, 0, 0}, /* handled by name below (uint32_t) */
	{"chip", "page-size", K_U32, O(chip_page_size), 1, 4096},
	{"chip", "erase-size", K_U32, O(chip_erase_size), 256, MIB(1)},
	{"chip", "erase-opcode", K_U8, O(chip_erase_opcode), 1, 255},
	{"http", "listen", K_LISTEN, 0, 0, 0},
	{"http", "tls-cert", K_STR, O(tls_cert), 0, 0},
	{"http", "tls-key", K_STR, O(tls_key), 0, 0},
	{"http", "token-file", K_STR, O(token_file), 0, 0},
	{"http", "require-token", K_BOOL, O(require_token), 0, 0},
	{"http", "www-dir", K_STR, O(www_dir), 0, 0},
	{"http", "max-connections", K_UINT, O(max_connections), 1, 4096},
	{"http", "timeout", K_UINT, O(timeout_s), 1, 3600},
	{"http", "max-body", K_SIZE, O(max_body), 1024, MIB(64)},
	{"http", "allowed-hosts", K_STR, O(allowed_hosts), 0, 0},
	{"http", "download-min-rate", K_U64SZ, O(download_min_rate), 0, GIB_MAX},
	{"http", "download-window", K_UINT, O(download_window_s), 1, 3600},
	{"storage", "state-dir", K_STR, O(state_dir), 0, 0},
	{"storage", "backup-count", K_UINT, O(backup_count), 0, 100000},
	{"storage", "backup-bytes", K_U64SZ, O(backup_bytes), 0, UINT64_MAX},
	{"jobs", "queue-length", K_UINT, O(queue_length), 1, 1000},
	{"jobs", "history", K_UINT, O(history), 1, 100000},
	{"jobs", "block-size", K_SIZE, O(block_size), 4096, MIB(4)},
	{"jobs", "blocks", K_UINT, O(blocks), 2, 1024},
	{"log", "level", K_LEVEL, O(log_level), 0, 0},
};

size_t config_key_count(void)
{
	return ARRAY_SIZE(keys);
}

int config_key_at(size_t i, const char **ret_section, const char **ret_name)
{
	if (i >= ARRAY_SIZE(keys))
		return -EINVAL;
	*ret_section = keys[i].section;
	*ret_name = keys[i].name;
	return 0;
}

static int errf(char *err, size_t len, const char *fmt, ...) PRINTF_FMT(3, 4);

static int errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

void config_init(struct flashd_config *c)
{
	memset(c, 0, sizeof(*c));
	c->backend = CONFIG_BACKEND_SIM;
	c->sim_chip = strdup("W25Q128JV");
	c->sim_image = strdup("flash.img");
	c->sim_time_scale = 1.0;
	c->sim_max_transfer = 65536;
	c->sim_busy = SIMCHIP_BUSY_TYPICAL;
	c->sim_seed = 1;
	c->spi_device = strdup("/dev/spidev0.0");
	c->spi_speed_hz = 32000000;
	c->gpio_chip = strdup("gpiochip0");
	/* CS#, HOLD#, WP# and RESET# are active low on the chip; a power switch enable is high */
	c->cs = c->hold = c->wp = c->reset = (struct config_line){.offset = -1, .active_low = true};
	c->power = (struct config_line){.offset = -1, .active_low = false};
	c->chip_page_size = 256;
	/* a file's or the command line's first listen replaces this one */
	c->listen[0] = strdup("127.0.0.1:8080");
	c->n_listen = c->listen[0] ? 1 : 0;
	c->www_dir = strdup(FLASHD_WWWDIR_DEFAULT);
	c->max_connections = 64;
	c->timeout_s = 30;
	c->max_body = MIB(2);
	c->download_min_rate = KIB(128);
	c->download_window_s = 10;
	c->state_dir = strdup("/var/lib/flashd");
	c->backup_count = 20;
	c->backup_bytes = (uint64_t)MIB(1024);
	c->queue_length = 4;
	c->history = 50;
	c->block_size = KIB(64);
	c->blocks = 16;
	c->log_level = LOG_LVL_INFO;
}

void config_free(struct flashd_config *c)
{
	if (!c)
		return;
	free(c->file);
	free(c->sim_chip);
	free(c->sim_image);
	free(c->sim_sfdp);
	for (size_t i = 0; i < c->n_sim_faults; i++)
		free(c->sim_faults[i]);
	free(c->spi_device);
	free(c->gpio_chip);
	for (size_t i = 0; i < c->n_listen; i++)
		free(c->listen[i]);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->token_file);
	free(c->www_dir);
	free(c->allowed_hosts);
	free(c->state_dir);
	memset(c, 0, sizeof(*c));
}

/*
 * Sizes: "123", "0x10", "64K", "16M", "1G" (binary multiples; "KiB"/"MB" spellings too).
 * Frequencies (decimal true): "32000000", "32M", "400k" are powers of ten, since a clock of
 * "32M" means 32 MHz. A leading 0 is decimal, not octal: "010" is ten.
 */
static int parse_number(const char *v, bool decimal, uint64_t *ret)
{
	bool hex = v && v[0] == '0' && (v[1] == 'x' || v[1] == 'X');
	unsigned long long n;
	uint64_t mult = 1;
	char *end;

	if (!v || !*v || *v == '-' || *v == '+' || *v == ' ')
		return -EINVAL;
	errno = 0;
	n = strtoull(v, &end, hex ? 16 : 10);
	if (errno || end == v || (hex && end == v + 2))
		return -EINVAL;
	switch (*end) {
	case 'K': case 'k': mult = decimal ? 1000u : KIB(1); end++; break;
	case 'M': case 'm': mult = decimal ? 1000000u : MIB(1); end++; break;
	case 'G': case 'g': mult = decimal ? 1000000000u : (uint64_t)MIB(1024); end++; break;
	default: break;
	}
	if (mult > 1 && !decimal && *end == 'i')
		end++;
	if (mult > 1 && *end == (decimal ? 'H' : 'B'))
		end++;
	if (mult > 1 && decimal && *end == 'z')
		end++;
	if (*end || n > UINT64_MAX / mult)
		return -EINVAL;
	*ret = (uint64_t)n * mult;
	return 0;
}

static int parse_size(const char *v, uint64_t *ret)
{
	return parse_number(v, false, ret);
}

static int parse_bool(const char *v, bool *ret)
{
	static const char *const yes[] = {"1", "yes", "true", "on"}, *const no[] = {"0", "no",
										 "false", "off"};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(v, yes[i])) {
			*ret = true;
			return 0;
		}
		if (!strcasecmp(v, no[i])) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* HOST:PORT with IPv6 in brackets; the port is 0..65535. */
static int check_listen(const char *v)
{
	const char *colon;
	char *end;
	unsigned long port;

	if (!v || !*v)
		return -EINVAL;
	if (v[0] == '[') {
		const char *close = strchr(v, ']');

		if (!close || close == v + 1 || close[1] != ':')
			return -EINVAL;
		colon = close + 1;
	} else {
		colon = strrchr(v, ':');
		if (!colon || colon == v || memchr(v, ':', (size_t)(colon - v)))
			return -EINVAL;
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || !colon[1] || *end || port > 65535)
		return -EINVAL;
	return 0;
}

static int set_str(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

/* Apply one key; msg gets the reason on failure (without the location). */
static int apply(struct flashd_config *c, const struct key *k, const char *v, char *msg,
		 size_t len)
{
	uint8_t *base = (uint8_t *)c;
	uint64_t n;
	char *end;

	switch (k->type) {
	case K_STR:
		if (!*v)
			return errf(msg, len, "%s needs a value", k->name);
		return set_str((char **)(base + k->off), v);
	case K_BOOL:
		if (parse_bool(v, (bool *)(base + k->off)) < 0)
			return errf(msg, len, "%s: \"%s\" is not a boolean (yes/no)", k->name, v);
		return 0;
	case K_U32:
	case K_HZ:
	case K_UINT:
	case K_U8:
		if (parse_number(v, k->type == K_HZ, &n) < 0 || n < k->min || n > k->max)
			return errf(msg, len, "%s: \"%s\" is not a number from %llu to %llu", k->name,
				    v, (unsigned long long)k->min, (unsigned long long)k->max);
		if (k->type == K_U8)
			*(uint8_t *)(base + k->off) = (uint8_t)n;
		else if (k->type == K_U32 || k->type == K_HZ)
			*(uint32_t *)(base + k->off) = (uint32_t)n;
		else
			*(unsigned *)(base + k->off) = (unsigned)n;
		return 0;
	case K_SIZE:
	case K_U64SZ:
		if (!strcmp(k->section, "chip") && !strcmp(k->name, "size")) {
			if (parse_size(v, &n) < 0 || n < KIB(4) || n > MIB(256) || (n & (n - 1)))
				return errf(msg, len,
					    "size: \"%s\" is not a power of two from 4K to 256M", v);
			c->chip_size = (uint32_t)n;
			return 0;
		}
		if (parse_size(v, &n) < 0 || n < k->min || (k->max && n > k->max))
			return errf(msg, len, "%s: \"%s\" is not a size from %llu to %llu bytes",
				    k->name, v, (unsigned long long)k->min,
				    (unsigned long long)k->max);
		if (k->type == K_SIZE)
			*(size_t *)(base + k->off) = (size_t)n;
		else
			*(uint64_t *)(base + k->off) = n;
		return 0;
	case K_DOUBLE: {
		double d;

		errno = 0;
		d = strtod(v, &end);
		if (errno || end == v || *end || !isfinite(d) || d < 0 || d > 1000)
			return errf(msg, len, "%s: \"%s\" is not a number from 0 to 1000", k->name,
				    v);
		*(double *)(base + k->off) = d;
		return 0;
	}
	case K_HEX24: {
		unsigned long x;

		errno = 0;
		x = strtoul(v, &end, 16);
		if (errno || end == v || *end || x == 0 || x >= 0xFFFFFF)
			return errf(msg, len, "%s: \"%s\" is not a JEDEC ID (6 hex digits)", k->name,
				    v);
		*(uint32_t *)(base + k->off) = (uint32_t)x;
		return 0;
	}
	case K_BACKEND:
		if (!strcmp(v, "sim"))
			c->backend = CONFIG_BACKEND_SIM;
		else if (!strcmp(v, "spidev"))
			c->backend = CONFIG_BACKEND_SPIDEV;
		else
			return errf(msg, len, "type: \"%s\" is not sim or spidev", v);
		return 0;
	case K_LEVEL:
		if (log_level_from_string(v, &c->log_level) < 0)
			return errf(msg, len,
				    "level: \"%s\" is not err, warning, notice, info or debug", v);
		return 0;
	case K_LINE: {
		struct config_line *l = (struct config_line *)(base + k->off);
		unsigned long off;

		if (!strcmp(v, "none")) {
			l->offset = -1;
			return 0;
		}
		errno = 0;
		off = strtoul(v, &end, 10);
		if (errno || end == v || off > 1023)
			return errf(msg, len, "%s: \"%s\" is not a line offset (0-1023, or none)",
				    k->name, v);
		while (*end == ' ' || *end == ',')
			end++;
		if (*end && strcmp(end, "active-low") && strcmp(end, "active-high"))
			return errf(msg, len, "%s: \"%s\": after the offset only active-low or "
					      "active-high",
				    k->name, v);
		l->offset = (int)off;
		if (*end)
			l->active_low = !strcmp(end, "active-low");
		return 0;
	}
	case K_LISTEN:
		if (check_listen(v) < 0)
			return errf(msg, len,
				    "listen: \"%s\" is not HOST:PORT (IPv6 as [addr]:port)", v);
		if (c->n_listen >= CONFIG_MAX_LISTEN)
			return errf(msg, len, "listen: at most %d addresses", CONFIG_MAX_LISTEN);
		c->listen[c->n_listen] = strdup(v);
		return c->listen[c->n_listen++] ? 0 : -ENOMEM;
	case K_BUSY:
		if (simchip_busy_parse(v, &c->sim_busy) < 0)
			return errf(msg, len, "busy: \"%s\" is not typical, random or max", v);
		return 0;
	case K_SEED:
		if (simchip_seed_parse(v, &c->sim_seed) < 0)
			return errf(msg, len, "seed: \"%s\" is not a number from 0 to %llu", v,
				    (unsigned long long)UINT64_MAX);
		return 0;
	case K_FAULT:
		if (!*v)
			return errf(msg, len, "%s needs a value", k->name);
		if (c->n_sim_faults >= CONFIG_MAX_FAULTS)
			return errf(msg, len, "fault: at most %d faults", CONFIG_MAX_FAULTS);
		c->sim_faults[c->n_sim_faults] = strdup(v);
		return c->sim_faults[c->n_sim_faults++] ? 0 : -ENOMEM;
	}
	return -EINVAL;
}

static const struct key *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

struct file_ctx {
	struct flashd_config *c;
	FILE *fp;
	int line;	  /* lines read so far */
	int err_line;	  /* the first line the reader or the handler refused, 0 = none */
	int read_errno;	  /* the file could not be read (EISDIR for a directory) */
	char msg[256];	  /* err_line's message */
	bool file_listen; /* the file's listen list replaces the default */
};

/*
 * inih's reader: exactly one line of the file per call, so inih's line numbers are the file's.
 * With fgets() a line longer than inih's buffer is cut and its tail parsed as a line of its
 * own, and a NUL byte silently ends the value early; here both are errors. inih goes on after
 * an error and reports the first one's line, so reading stops at the first line the handler
 * refused: the message and the line number are the same error's.
 */
static char *config_read_line(char *buf, int size, void *stream)
{
	struct file_ctx *f = stream;
	int ch, n = 0;

	if (f->err_line || f->read_errno)
		return NULL;
	while ((ch = getc(f->fp)) != EOF && ch != '\n') {
		if (ch == '\0' || n >= size - 1) {
			f->err_line = ++f->line;
			if (ch == '\0')
				snprintf(f->msg, sizeof(f->msg), "NUL byte in the line");
			else
				snprintf(f->msg, sizeof(f->msg),
					 "line too long (at most %d characters)", size - 1);
			return NULL;
		}
		buf[n++] = (char)ch;
	}
	if (ch == EOF && ferror(f->fp)) {
		f->read_errno = errno ? errno : EIO;
		return NULL;
	}
	if (ch == EOF && n == 0)
		return NULL;
	buf[n] = '\0';
	f->line++;
	return buf;
}

static int config_ini_line(void *user, const char *section, const char *name, const char *value)
{
	struct file_ctx *f = user;
	const struct key *k;
	bool known_section = false;

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		known_section |= !strcmp(keys[i].section, section);
	if (!known_section) {
		snprintf(f->msg, sizeof(f->msg), "unknown section [%s]", section);
		f->err_line = f->line;
		return 0;
	}
	k = find_key(section, name);
	if (!k) {
		snprintf(f->msg, sizeof(f->msg), "unknown key \"%s\" in [%s]", name, section);
		f->err_line = f->line;
		return 0;
	}
	if (k->type == K_LISTEN && !f->file_listen) {
		for (size_t i = 0; i < f->c->n_listen; i++)
			free(f->c->listen[i]);
		f->c->n_listen = 0;
		f->file_listen = true;
	}
	if (apply(f->c, k, value, f->msg, sizeof(f->msg)) < 0) {
		if (!f->msg[0])
			snprintf(f->msg, sizeof(f->msg), "out of memory");
		f->err_line = f->line;
		return 0;
	}
	return 1;
}

int config_load_file(struct flashd_config *c, const char *path, char *err, size_t errlen)
{
	struct file_ctx f = {.c = c};
	int line;

	f.fp = fopen(path, "re");
	if (!f.fp)
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	line = ini_parse_stream(config_read_line, &f, config_ini_line, &f);
	fclose(f.fp);
	if (f.read_errno)
		return errf(err, errlen, "%s: %s", path, strerror(f.read_errno));
	if (line < 0)
		return errf(err, errlen, "%s: cannot read the file", path);
	/* inih's line is the first error; ours is the first the reader or handler refused */
	if (f.err_line && (line == 0 || line == f.err_line))
		return errf(err, errlen, "%s:%d: %s", path, f.err_line, f.msg);
	if (line > 0)
		return errf(err, errlen, "%s:%d: syntax error (expected [section] or key = value)",
			    path, line);
	if (set_str(&c->file, path) < 0)
		return -ENOMEM;
	return 0;
}

void config_print_help(FILE *out, const char *argv0)
{
	fprintf(out,
		"Usage: %s [OPTIONS]\n"
		"Network SPI NOR flash programmer daemon.\n\n"
		"  -c, --config FILE          configuration file (default %s if it exists)\n"
		"      --check-config[=FILE]  validate the configuration and exit\n"
		"  -l, --listen HOST:PORT     listen address, repeatable (default 127.0.0.1:8080)\n"
		"      --sim CHIP             run on a simulated chip (see --list-sim-chips), or\n"
		"                             'sfdp' with --sim-sfdp and --sim-jedec-id\n"
		"      --sim-image FILE       image file behind the simulated chip (default flash.img)\n"
		"      --sim-sfdp FILE        SFDP dump describing the simulated chip\n"
		"      --sim-jedec-id HEX     JEDEC ID of the chip --sim-sfdp describes\n"
		"      --sim-time-scale F     1 = real chip speed, 0.1 = 10x faster, 0 = no waiting\n"
		"      --sim-fault SPEC       inject a fault (repeatable; see README)\n"
		"      --sim-busy MODE        busy times: typical, random (seeded) or max\n"
		"      --sim-seed N           seed of --sim-busy random (default 1)\n"
		"      --list-sim-chips       list the simulated chips and exit\n"
		"      --spi-device PATH      use a real chip on /dev/spidevB.C\n"
		"      --spi-speed HZ         SPI clock (default 32000000)\n"
		"      --state-dir DIR        backups, token and spool (default /var/lib/flashd)\n"
		"      --www-dir DIR          web UI files\n"
		"      --log-level LEVEL      err, warning, notice, info or debug\n"
		"  -h, --help                 this text\n"
		"  -V, --version              version\n",
		argv0, CONFIG_DEFAULT_FILE);
}

enum {
	OPT_CHECK = 256,
	OPT_SIM,
	OPT_SIM_IMAGE,
	OPT_SIM_SFDP,
	OPT_SIM_JEDEC,
	OPT_SIM_SCALE,
	OPT_SIM_FAULT,
	OPT_SIM_BUSY,
	OPT_SIM_SEED,
	OPT_LIST_SIM,
	OPT_SPI_DEVICE,
	OPT_SPI_SPEED,
	OPT_STATE_DIR,
	OPT_WWW_DIR,
	OPT_LOG_LEVEL,
};

static const struct option long_opts[] = {
	{"config", required_argument, NULL, 'c'},
	{"check-config", optional_argument, NULL, OPT_CHECK},
	{"listen", required_argument, NULL, 'l'},
	{"sim", required_argument, NULL, OPT_SIM},
	{"sim-image", required_argument, NULL, OPT_SIM_IMAGE},
	{"sim-sfdp", required_argument, NULL, OPT_SIM_SFDP},
	{"sim-jedec-id", required_argument, NULL, OPT_SIM_JEDEC},
	{"sim-time-scale", required_argument, NULL, OPT_SIM_SCALE},
	{"sim-fault", required_argument, NULL, OPT_SIM_FAULT},
	{"sim-busy", required_argument, NULL, OPT_SIM_BUSY},
	{"sim-seed", required_argument, NULL, OPT_SIM_SEED},
	{"list-sim-chips", no_argument, NULL, OPT_LIST_SIM},
	{"spi-device", required_argument, NULL, OPT_SPI_DEVICE},
	{"spi-speed", required_argument, NULL, OPT_SPI_SPEED},
	{"state-dir", required_argument, NULL, OPT_STATE_DIR},
	{"www-dir", required_argument, NULL, OPT_WWW_DIR},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{0},
};

static int cli(struct flashd_config *c, const char *opt, const char *section, const char *name,
	       const char *v, char *err, size_t errlen)
{
	char msg[256];

	if (apply(c, find_key(section, name), v, msg, sizeof(msg)) < 0)
		return errf(err, errlen, "--%s: %s", opt, msg);
	return 0;
}

int config_parse_args(struct flashd_config *c, int argc, char **argv,
		      enum config_action *ret_action, char *err, size_t errlen)
{
	enum config_action action = CONFIG_RUN;
	const char *file = NULL;
	bool cli_listen = false, cli_sim = false, cli_spidev = false;
	int opt, at, r;

	/* pass 1: which file, and actions that need no file */
	opterr = 0;
	/* 0, not 1: glibc then resets all its state, nothing carries over from an earlier call */
	for (at = optind = 0; (opt = getopt_long(argc, argv, "c:l:hV", long_opts, NULL)) != -1;
	     at = optind) {
		if (opt == 'c')
			file = optarg;
		else if (opt == OPT_CHECK) {
			action = CONFIG_CHECK;
			if (optarg)
				file = optarg;
		} else if (opt == 'h' && action == CONFIG_RUN)
			action = CONFIG_HELP;
		else if (opt == 'V' && action == CONFIG_RUN)
			action = CONFIG_VERSION;
		else if (opt == OPT_LIST_SIM && action == CONFIG_RUN)
			action = CONFIG_LIST_SIM;
		else if (opt == '?') {
			/* optind stays on a group of short options ("-xV") until its last one */
			const char *arg = argv[optind == at ? optind : optind - 1];

			if (optopt > 0 && optopt < 256 && strncmp(arg, "--", 2))
				return errf(err, errlen,
					    "-%c: unknown option or missing argument (see --help)",
					    optopt);
			return errf(err, errlen,
				    "%s: unknown option or missing argument (see --help)", arg);
		}
	}
	/* known before anything else can fail, so main() picks the right exit status */
	*ret_action = action;
	if (optind < argc)
		return errf(err, errlen, "%s: unexpected argument (see --help)", argv[optind]);
	if (action == CONFIG_HELP || action == CONFIG_VERSION || action == CONFIG_LIST_SIM) {
		*ret_action = action;
		return 0;
	}
	if (file || access(CONFIG_DEFAULT_FILE, F_OK) == 0) {
		r = config_load_file(c, file ? file : CONFIG_DEFAULT_FILE, err, errlen);
		if (r < 0)
			return r;
	}

	/* pass 2: the command line wins over the file */
	optind = 0;
	while ((opt = getopt_long(argc, argv, "c:l:hV", long_opts, NULL)) != -1) {
		r = 0;
		switch (opt) {
		case 'l':
			if (!cli_listen) {
				for (size_t i = 0; i < c->n_listen; i++)
					free(c->listen[i]);
				c->n_listen = 0;
				cli_listen = true;
			}
			r = cli(c, "listen", "http", "listen", optarg, err, errlen);
			break;
		case OPT_SIM:
			if (cli_spidev)
				return errf(err, errlen, "--sim and --spi-device choose different "
							 "backends: give one of them");
			cli_sim = true;
			c->backend = CONFIG_BACKEND_SIM;
			r = cli(c, "sim", "sim", "chip", optarg, err, errlen);
			break;
		case OPT_SIM_IMAGE:
			r = cli(c, "sim-image", "sim", "image", optarg, err, errlen);
			break;
		case OPT_SIM_SFDP:
			r = cli(c, "sim-sfdp", "sim", "sfdp", optarg, err, errlen);
			break;
		case OPT_SIM_JEDEC:
			r = cli(c, "sim-jedec-id", "sim", "jedec-id", optarg, err, errlen);
			break;
		case OPT_SIM_SCALE:
			r = cli(c, "sim-time-scale", "sim", "time-scale", optarg, err, errlen);
			break;
		case OPT_SIM_FAULT:
			r = cli(c, "sim-fault", "sim", "fault", optarg, err, errlen);
			break;
		case OPT_SIM_BUSY:
			r = cli(c, "sim-busy", "sim", "busy", optarg, err, errlen);
			break;
		case OPT_SIM_SEED:
			r = cli(c, "sim-seed", "sim", "seed", optarg, err, errlen);
			break;
		case OPT_SPI_DEVICE:
			if (cli_sim)
				return errf(err, errlen, "--sim and --spi-device choose different "
							 "backends: give one of them");
			cli_spidev = true;
			c->backend = CONFIG_BACKEND_SPIDEV;
			r = cli(c, "spi-device", "spi", "device", optarg, err, errlen);
			break;
		case OPT_SPI_SPEED:
			r = cli(c, "spi-speed", "spi", "speed", optarg, err, errlen);
			break;
		case OPT_STATE_DIR:
			r = cli(c, "state-dir", "storage", "state-dir", optarg, err, errlen);
			break;
		case OPT_WWW_DIR:
			r = cli(c, "www-dir", "http", "www-dir", optarg, err, errlen);
			break;
		case OPT_LOG_LEVEL:
			r = cli(c, "log-level", "log", "level", optarg, err, errlen);
			break;
		default:
			break;
		}
		if (r < 0)
			return r;
	}
	r = config_validate(c, err, errlen);
	if (r < 0)
		return r;
	*ret_action = action;
	return 0;
}

static int readable(const char *path, const char *what, char *err, size_t errlen)
{
	if (access(path, R_OK) < 0)
		return errf(err, errlen, "%s \"%s\": %s", what, path, strerror(errno));
	return 0;
}

int config_validate(const struct flashd_config *c, char *err, size_t errlen)
{
	const char *where = c->file ? c->file : "command line";
	int r;

	if (!!c->tls_cert != !!c->tls_key)
		return errf(err, errlen, "%s: tls-cert and tls-key go together", where);
	if (c->tls_cert && ((r = readable(c->tls_cert, "tls-cert", err, errlen)) < 0 ||
			    (r = readable(c->tls_key, "tls-key", err, errlen)) < 0))
		return r;
	if (c->backend == CONFIG_BACKEND_SPIDEV) {
		struct stat st;

		if (stat(c->spi_device, &st) < 0)
			return errf(err, errlen,
				    "%s: SPI device \"%s\": %s (enable SPI with dtparam=spi=on, "
				    "or use --sim)",
				    where, c->spi_device, strerror(errno));
		if (!S_ISCHR(st.st_mode))
			return errf(err, errlen, "%s: SPI device \"%s\" is not a character device",
				    where, c->spi_device);
		if (c->cs.offset >= 0 || c->hold.offset >= 0 || c->wp.offset >= 0 ||
		    c->power.offset >= 0 || c->reset.offset >= 0) {
			char path[256];

			/* the names pins.c opens: a path as is, "0" as /dev/gpiochip0 */
			snprintf(path, sizeof(path), "%s%s",
				 strchr(c->gpio_chip, '/') ? ""
				 : strspn(c->gpio_chip, "0123456789") == strlen(c->gpio_chip)
					 ? "/dev/gpiochip"
					 : "/dev/",
				 c->gpio_chip);
			if (access(path, F_OK) < 0)
				return errf(err, errlen, "%s: GPIO chip \"%s\": %s", where, path,
					    strerror(errno));
		}
	} else {
		if (!strcasecmp(c->sim_chip, "sfdp") && (!c->sim_sfdp || !c->sim_jedec_id))
			return errf(err, errlen,
				    "%s: --sim sfdp needs --sim-sfdp FILE and --sim-jedec-id HEX",
				    where);
		if (strcasecmp(c->sim_chip, "sfdp") && (c->sim_sfdp || c->sim_jedec_id))
			return errf(err, errlen,
				    "%s: an SFDP dump and JEDEC ID (--sim-sfdp, --sim-jedec-id) are "
				    "only used with --sim sfdp, not with \"%s\"",
				    where, c->sim_chip);
		if (c->sim_sfdp && (r = readable(c->sim_sfdp, "SFDP dump", err, errlen)) < 0)
			return r;
	}
	if (c->chip_size && !c->chip_erase_size)
		return errf(err, errlen, "%s: [chip] size needs erase-size too", where);
	return 0;
}
