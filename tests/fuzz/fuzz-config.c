/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the config file parser: any bytes as a flashd.conf, then config_validate()
 * on whatever was parsed. Never a crash, a leak (ASan) or an overflow (UBSan); and the
 * promises of config.h hold on every input, else abort() so libFuzzer and the corpus replay
 * both report it:
 *  - an error is -EINVAL (or -ENOMEM) with a NUL-terminated "PATH: ..." or "PATH:LINE: ..."
 *    message, LINE being a line of the input;
 *  - success leaves every field within the limits of the key table.
 * The input is written to a memfd and parsed through its /proc/self/fd path, so nothing is
 * left on disk. config_validate() may stat()/access() paths taken from the input; it opens
 * nothing.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int input_fd = -1;
static char input_path[64];

static void put_input(const uint8_t *data, size_t size)
{
	size_t done = 0;

	if (input_fd < 0) {
		input_fd = memfd_create("fuzz-config", MFD_CLOEXEC);
		if (input_fd < 0)
			abort();
		snprintf(input_path, sizeof(input_path), "/proc/self/fd/%d", input_fd);
	}
	if (ftruncate(input_fd, 0) < 0)
		abort();
	while (done < size) {
		ssize_t n = pwrite(input_fd, data + done, size - done, (off_t)done);

		if (n <= 0)
			abort();
		done += (size_t)n;
	}
}

static void check_error(const char *err, size_t errlen, const uint8_t *data, size_t size)
{
	size_t plen = strlen(input_path), lines = 1;
	const char *p;
	char *end;
	unsigned long line;

	if (!memchr(err, '\0', errlen) || strncmp(err, input_path, plen) || err[plen] != ':')
		abort();
	p = err + plen + 1;
	if (*p == ' ')
		return; /* "PATH: reason", no line */
	line = strtoul(p, &end, 10);
	if (end == p || strncmp(end, ": ", 2) || !end[2])
		abort();
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (line < 1 || line > lines)
		abort();
}

static bool line_ok(const struct config_line *l)
{
	return l->offset >= -1 && l->offset <= 1023;
}

static bool str_ok(const char *s)
{
	return s && *s;
}

static void check_config(const struct flashd_config *c)
{
	if (!c->file || strcmp(c->file, input_path))
		abort();
	if ((unsigned)c->backend >= _CONFIG_BACKEND_MAX)
		abort();
	if (!str_ok(c->sim_chip) || !str_ok(c->sim_image) || !str_ok(c->spi_device) ||
	    !str_ok(c->gpio_chip) || !str_ok(c->www_dir) || !str_ok(c->state_dir))
		abort();
	if ((c->sim_sfdp && !*c->sim_sfdp) || (c->tls_cert && !*c->tls_cert) ||
	    (c->tls_key && !*c->tls_key) || (c->token_file && !*c->token_file))
		abort();
	if (!isfinite(c->sim_time_scale) || c->sim_time_scale < 0 || c->sim_time_scale > 1000)
		abort();
	if (c->sim_jedec_id >= 0xFFFFFF)
		abort();
	if (c->n_sim_faults > CONFIG_MAX_FAULTS)
		abort();
	for (size_t i = 0; i < c->n_sim_faults; i++)
		if (!str_ok(c->sim_faults[i]))
			abort();
	if (c->sim_max_transfer < 16 || c->sim_max_transfer > 16u * 1024 * 1024)
		abort();
	if (c->spi_speed_hz < 1000 || c->spi_speed_hz > 125000000 || c->spi_mode > 3)
		abort();
	if (!line_ok(&c->cs) || !line_ok(&c->hold) || !line_ok(&c->wp) || !line_ok(&c->power) ||
	    !line_ok(&c->reset))
		abort();
	if (c->chip_size &&
	    (c->chip_size < 4096 || c->chip_size > 256u * 1024 * 1024 ||
	     (c->chip_size & (c->chip_size - 1))))
		abort();
	if (c->chip_page_size < 1 || c->chip_page_size > 4096)
		abort();
	if (c->chip_erase_size && (c->chip_erase_size < 256 || c->chip_erase_size > 1024 * 1024))
		abort();
	if (c->n_listen < 1 || c->n_listen > CONFIG_MAX_LISTEN)
		abort();
	for (size_t i = 0; i < c->n_listen; i++)
		if (!str_ok(c->listen[i]) || !strchr(c->listen[i], ':'))
			abort();
	if (c->max_connections < 1 || c->max_connections > 4096 || c->timeout_s < 1 ||
	    c->timeout_s > 3600 || c->max_body < 1024 || c->max_body > 64u * 1024 * 1024)
		abort();
	if (c->backup_count > 100000)
		abort();
	if (c->queue_length < 1 || c->queue_length > 1000 || c->history < 1 ||
	    c->history > 100000 || c->block_size < 4096 || c->block_size > 4u * 1024 * 1024 ||
	    c->blocks < 2 || c->blocks > 1024)
		abort();
	if (c->log_level < LOG_LVL_ERR || c->log_level > LOG_LVL_DEBUG)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct flashd_config c;
	char err[512];
	int r;

	put_input(data, size);
	config_init(&c);
	memset(err, 'X', sizeof(err));
	r = config_load_file(&c, input_path, err, sizeof(err));
	if (r == 0)
		check_config(&c);
	else if (r == -EINVAL)
		check_error(err, sizeof(err), data, size);
	else if (r != -ENOMEM)
		abort();

	/* the cross-field checks run on a partly parsed config too */
	memset(err, 'X', sizeof(err));
	r = config_validate(&c, err, sizeof(err));
	if (r != 0 && r != -EINVAL)
		abort();
	if (r < 0 && (!memchr(err, '\0', sizeof(err)) || !err[0]))
		abort();
	config_free(&c);
	return 0;
}
