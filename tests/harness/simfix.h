/* SPDX-License-Identifier: MIT */
/*
 * simfix.h - test fixture: a fresh simulated chip on a fresh image file in a temp directory,
 * in virtual time (scale 0) unless the test says otherwise.
 */
#ifndef FLASHD_TEST_SIMFIX_H
#define FLASHD_TEST_SIMFIX_H

#include <stdbool.h>
#include <stdint.h>

#include "simchip.h"

struct simfix {
	char *dir;
	char *image;
	struct simchip *sim;
	struct spibus *bus; /* borrowed from sim */
	uint32_t size;
};

/* Fails the test (cmocka) when the profile or image cannot be set up. Caller simfix_close(). */
struct simfix *simfix_open(const char *profile);
struct simfix *simfix_open_opts(const char *profile, const struct simchip_opts *o);
void simfix_close(struct simfix *f);

/* Contents of the backing image through the file, not the bus (what is really on the chip). */
void simfix_image_read(struct simfix *f, uint32_t addr, uint8_t *buf, size_t len);
#endif
