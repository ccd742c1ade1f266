/* SPDX-License-Identifier: MIT */
/* fake_sysio.c - see fake_sysio.h. Single-threaded, like the spidev bus it serves. */
#include "fake_sysio.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "spidev.h"

#define FAKE_DEV_FD 7
#define FAKE_BUFSIZ_FD 8

static struct fake_sysio *to_fake(struct sysio *io)
{
	return (struct fake_sysio *)io;
}

static int fake_open(struct sysio *io, const char *path, int flags)
{
	struct fake_sysio *f = to_fake(io);

	(void)flags;
	if (strcmp(path, SPIDEV_BUFSIZ_PATH) == 0) {
		f->bufsiz_opens++;
		if (!f->bufsiz_text)
			return -ENOENT;
		f->bufsiz_pos = 0;
		f->open_fds++;
		return FAKE_BUFSIZ_FD;
	}
	if (f->open_err)
		return f->open_err;
	f->open_fds++;
	return FAKE_DEV_FD;
}

static int fake_close(struct sysio *io, int fd)
{
	struct fake_sysio *f = to_fake(io);

	if (fd != FAKE_DEV_FD && fd != FAKE_BUFSIZ_FD)
		return -EBADF;
	f->open_fds--;
	return 0;
}

static ssize_t fake_read(struct sysio *io, int fd, void *buf, size_t len)
{
	struct fake_sysio *f = to_fake(io);
	size_t left;

	if (fd != FAKE_BUFSIZ_FD || !f->bufsiz_text)
		return -EBADF;
	left = strlen(f->bufsiz_text) - f->bufsiz_pos;
	/* Hand out at most 3 bytes per call so short reads are exercised. */
	len = len < left ? len : left;
	len = len < 3 ? len : 3;
	memcpy(buf, f->bufsiz_text + f->bufsiz_pos, len);
	f->bufsiz_pos += len;
	return (ssize_t)len;
}

static size_t kalign(const struct fake_sysio *f, size_t len)
{
	return (len + f->kernel_align - 1) / f->kernel_align * f->kernel_align;
}

static int fake_message(struct fake_sysio *f, struct fake_ioctl_call *c, unsigned long req,
			void *arg)
{
	const struct spi_ioc_transfer *x = arg;
	size_t n = _IOC_SIZE(req) / sizeof(*x), tx = 0, rx = 0, total = 0;

	if (_IOC_SIZE(req) % sizeof(*x) || n == 0 || n > SPIBUS_MAX_SEGS)
		return -EINVAL;
	c->n_xfers = n;
	memcpy(c->xfers, x, n * sizeof(*x));
	f->n_messages++;
	if (f->fail_message_at == f->n_messages)
		return f->message_err;
	for (size_t i = 0; i < n; i++) {
		total += x[i].len;
		if (x[i].tx_buf)
			tx += kalign(f, x[i].len);
		if (x[i].rx_buf)
			rx += kalign(f, x[i].len);
		if (tx > f->kernel_bufsiz || rx > f->kernel_bufsiz)
			return -EMSGSIZE;
	}
	for (size_t i = 0, k = 0; i < n; i++) {
		uint8_t *p = (uint8_t *)(uintptr_t)x[i].rx_buf;

		for (size_t b = 0; b < x[i].len; b++, k++) {
			if (p)
				p[b] = (uint8_t)(f->rx_seed + k);
		}
	}
	return (int)total - f->short_by;
}

static int fake_ioctl(struct sysio *io, int fd, unsigned long req, void *arg)
{
	struct fake_sysio *f = to_fake(io);
	struct fake_ioctl_call *c;

	if (fd != FAKE_DEV_FD)
		return -EBADF;
	if (f->n_calls == FAKE_SYSIO_MAX_CALLS)
		return -ENOSPC;
	c = &f->calls[f->n_calls++];
	memset(c, 0, sizeof(*c));
	c->req = req;
	if (f->fail_req && req == f->fail_req)
		return f->fail_err;

	switch (req) {
	case SPI_IOC_WR_MODE:
		c->val = *(uint8_t *)arg;
		f->mode = *(uint8_t *)arg;
		return 0;
	case SPI_IOC_RD_MODE:
		*(uint8_t *)arg = f->rd_mode_force >= 0 ? (uint8_t)f->rd_mode_force
							: (uint8_t)(f->mode | f->rd_mode_or);
		return 0;
	case SPI_IOC_WR_BITS_PER_WORD:
		c->val = *(uint8_t *)arg;
		f->bits = *(uint8_t *)arg;
		return 0;
	case SPI_IOC_RD_BITS_PER_WORD:
		*(uint8_t *)arg = f->bits;
		return 0;
	case SPI_IOC_WR_MAX_SPEED_HZ:
		c->val = *(uint32_t *)arg;
		f->speed = *(uint32_t *)arg;
		return 0;
	case SPI_IOC_RD_MAX_SPEED_HZ:
		if (f->speed_report)
			*(uint32_t *)arg = f->speed_report;
		else if (f->speed_cap && f->speed > f->speed_cap)
			*(uint32_t *)arg = f->speed_cap;
		else
			*(uint32_t *)arg = f->speed;
		return 0;
	default:
		if (_IOC_TYPE(req) == SPI_IOC_MAGIC && _IOC_NR(req) == 0 &&
		    _IOC_DIR(req) == _IOC_WRITE)
			return fake_message(f, c, req, arg);
		return -ENOTTY;
	}
}

static const struct sysio_ops fake_ops = {
	.open = fake_open,
	.close = fake_close,
	.ioctl = fake_ioctl,
	.read = fake_read,
};

void fake_sysio_init(struct fake_sysio *f)
{
	memset(f, 0, sizeof(*f));
	f->io.ops = &fake_ops;
	f->bufsiz_text = "4096\n";
	f->kernel_bufsiz = 4096;
	f->kernel_align = SPIDEV_XFER_ALIGN;
	f->rd_mode_force = -1;
}
