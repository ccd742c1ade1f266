/* SPDX-License-Identifier: MIT */
/*
 * config.h - flashd's configuration: defaults, then the INI file (inih), then the command line
 * (getopt_long). Parsed once in main() and read-only afterwards. Every problem is reported as
 * "file:line: message" (or "--option: message") before anything touches a chip.
 */
#ifndef FLASHD_CONFIG_H
#define FLASHD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buildcfg.h"
#include "log.h"
#include "simchip.h"

#define CONFIG_MAX_LISTEN 8
#define CONFIG_MAX_FAULTS 8
/* SYSCONFDIR/flashd/flashd.conf: /etc/flashd/flashd.conf when built with --prefix=/usr */
#define CONFIG_DEFAULT_FILE FLASHD_SYSCONFDIR "/flashd/flashd.conf"

enum config_backend {
	CONFIG_BACKEND_SIM,
	CONFIG_BACKEND_SPIDEV,
	_CONFIG_BACKEND_MAX,
};

enum config_action {
	CONFIG_RUN,
	CONFIG_HELP,
	CONFIG_VERSION,
	CONFIG_CHECK,
	CONFIG_LIST_SIM,
	_CONFIG_ACTION_MAX,
};

struct config_line {
	int offset; /* -1 = not wired */
	bool active_low;
};

/* Every string is owned by the struct (config_free()). */
struct flashd_config {
	char *file; /* the config file read, or NULL */

	enum config_backend backend;
	/* [sim] */
	char *sim_chip;
	char *sim_image;
	double sim_time_scale;
	char *sim_sfdp;
	uint32_t sim_jedec_id;
	char *sim_faults[CONFIG_MAX_FAULTS];
	size_t n_sim_faults;
	size_t sim_max_transfer;
	enum simchip_busy sim_busy;
	uint64_t sim_seed;
	/* [spi] */
	char *spi_device;
	uint32_t spi_speed_hz;
	uint8_t spi_mode;
	/* [gpio] */
	char *gpio_chip;
	struct config_line cs, hold, wp, power, reset;
	/* [chip]: geometry for parts neither the database nor SFDP know */
	uint32_t chip_size, chip_page_size, chip_erase_size;
	uint8_t chip_erase_opcode;
	/* [http] */
	char *listen[CONFIG_MAX_LISTEN + 1]; /* NULL after the last (daemon.info reads it so) */
	size_t n_listen;
	char *tls_cert, *tls_key;
	char *token_file;
	bool require_token;
	char *www_dir;
	unsigned max_connections;
	unsigned timeout_s;
	size_t max_body;
	char *allowed_hosts;	    /* extra Host names, space/comma separated, or NULL */
	uint64_t download_min_rate; /* bytes/s a download must take while it holds the chip */
	unsigned download_window_s; /* measured over this many seconds */
	/* [storage] */
	char *state_dir;
	unsigned backup_count;
	uint64_t backup_bytes;
	/* [jobs] */
	unsigned queue_length;
	unsigned history;
	size_t block_size;
	unsigned blocks;
	/* [log] */
	enum log_level log_level;
};

void config_init(struct flashd_config *c);
void config_free(struct flashd_config *c);

/*
 * Defaults, then the config file (--config FILE, else CONFIG_DEFAULT_FILE when it exists), then
 * the other options. On error returns -EINVAL with the message in err. *ret_action says what
 * main should do; for CONFIG_CHECK the file checked is c->file.
 */
int config_parse_args(struct flashd_config *c, int argc, char **argv,
		      enum config_action *ret_action, char *err, size_t errlen);

/* Parse one INI file into c (on top of what is there). "file:line: message" on error. */
int config_load_file(struct flashd_config *c, const char *path, char *err, size_t errlen);

/* Cross-field checks and device presence ("--check-config" and startup). */
int config_validate(const struct flashd_config *c, char *err, size_t errlen);

void config_print_help(FILE *out, const char *argv0);

/*
 * The key table, for the documentation test and tools: config_key_count() keys; key i is
 * `name` in `[section]` (static strings). config_key_at() returns 0, or -EINVAL without
 * writing anything when i >= config_key_count().
 */
size_t config_key_count(void);
int config_key_at(size_t i, const char **ret_section, const char **ret_name);

#endif
