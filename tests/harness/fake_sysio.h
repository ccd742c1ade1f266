/* SPDX-License-Identifier: MIT */
/*
 * fake_sysio.h - a scripted stand-in for the kernel under spidev.c: one spidev node, the
 * bufsiz sysfs file, and a record of every ioctl with the transfer arrays copied out.
 *
 * The MESSAGE handler behaves like drivers/spi/spidev.c spidev_message(): it rejects a message
 * whose tx or rx total (each transfer rounded up to kernel_align) exceeds kernel_bufsiz with
 * -EMSGSIZE, fills rx buffers with rx_seed + byte index, and returns the total length.
 */
#ifndef FLASHD_FAKE_SYSIO_H
#define FLASHD_FAKE_SYSIO_H

#include <linux/spi/spidev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spibus.h"
#include "sysio.h"

#define FAKE_SYSIO_MAX_CALLS 32

struct fake_ioctl_call {
	unsigned long req;
	uint32_t val; /* value passed to a WR_* request */
	size_t n_xfers;
	struct spi_ioc_transfer xfers[SPIBUS_MAX_SEGS];
};

struct fake_sysio {
	struct sysio io; /* first */

	/* script (set after fake_sysio_init) */
	int open_err;		  /* -errno for opening the device node */
	const char *bufsiz_text;  /* bufsiz file contents; NULL: the file does not exist */
	size_t kernel_bufsiz;	  /* the driver's real bufsiz (default 4096) */
	size_t kernel_align;	  /* its kmalloc alignment (default SPIDEV_XFER_ALIGN) */
	uint8_t rd_mode_or;	  /* bits added to RD_MODE replies (e.g. SPI_CS_HIGH) */
	int rd_mode_force;	  /* >= 0: RD_MODE reports this instead */
	uint32_t speed_cap;	  /* nonzero: RD_MAX_SPEED_HZ reports min(written, cap) */
	uint32_t speed_report;	  /* nonzero: RD_MAX_SPEED_HZ reports exactly this */
	unsigned long fail_req;	  /* ioctl request that fails with fail_err */
	int fail_err;
	unsigned fail_message_at; /* 1-based MESSAGE ioctl that returns message_err */
	int message_err;
	int short_by;		  /* MESSAGE returns total - short_by */
	uint8_t rx_seed;

	/* state */
	int open_fds;
	unsigned bufsiz_opens;
	uint8_t mode, bits;
	uint32_t speed;
	size_t bufsiz_pos;
	size_t n_calls;
	unsigned n_messages;
	struct fake_ioctl_call calls[FAKE_SYSIO_MAX_CALLS];
};

void fake_sysio_init(struct fake_sysio *f);

#endif
