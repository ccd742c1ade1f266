/* SPDX-License-Identifier: MIT */
#include "simfix.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "spibus.h"

struct simfix *simfix_open_opts(const char *profile, const struct simchip_opts *o)
{
	const struct sim_profile *p = sim_profile_find(profile);
	struct simfix *f = calloc(1, sizeof(*f));
	char err[256] = "";
	int r;

	if (!p)
		fail_msg("no simulator profile %s", profile);
	assert_non_null(f);
	f->dir = th_mkdtemp();
	assert_non_null(f->dir);
	f->image = th_path(f->dir, "flash.img");
	r = simchip_open(p, f->image, o, &f->sim, err, sizeof(err));
	if (r < 0)
		fail_msg("simchip_open(%s): %d %s", profile, r, err);
	f->bus = simchip_bus(f->sim);
	f->size = sim_profile_size(p);
	return f;
}

struct simfix *simfix_open(const char *profile)
{
	struct simchip_opts o;

	simchip_opts_init(&o);
	o.time_scale = 0;
	return simfix_open_opts(profile, &o);
}

void simfix_close(struct simfix *f)
{
	if (!f)
		return;
	simchip_close(f->sim);
	th_rmtree(f->dir);
	free(f->dir);
	free(f->image);
	free(f);
}

void simfix_image_read(struct simfix *f, uint32_t addr, uint8_t *buf, size_t len)
{
	int fd = open(f->image, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, addr), (ssize_t)len);
	close(fd);
}
