/* SPDX-License-Identifier: MIT */
/*
 * sysio.c - the libc implementation of the kernel seam used by spidev.c, plus a small-file
 * reader for sysfs attributes.
 *
 * The libc table only translates the -1/errno convention into -errno. It deliberately does not
 * retry ioctl() after EINTR: SPI_IOC_MESSAGE waits uninterruptibly in the kernel, so EINTR
 * there would be a surprise worth reporting, and replaying a message could send a command twice.
 * read() is restarted, since re-reading a sysfs attribute is harmless.
 */
#include "sysio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util.h"

static int libc_open(struct sysio *io, const char *path, int flags)
{
	int fd;

	(void)io;
	fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int libc_close(struct sysio *io, int fd)
{
	(void)io;
	/* On Linux the fd is released even when close() reports EINTR: never retry. */
	return close(fd) < 0 ? -errno : 0;
}

static int libc_ioctl(struct sysio *io, int fd, unsigned long request, void *arg)
{
	int r;

	(void)io;
	r = ioctl(fd, request, arg);
	return r < 0 ? -errno : r;
}

static ssize_t libc_read(struct sysio *io, int fd, void *buf, size_t len)
{
	ssize_t n;

	(void)io;
	do {
		n = read(fd, buf, len);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static const struct sysio_ops libc_ops = {
	.open = libc_open,
	.close = libc_close,
	.ioctl = libc_ioctl,
	.read = libc_read,
};

static struct sysio libc_sysio = {
	.ops = &libc_ops,
};

struct sysio *sysio_libc(void)
{
	return &libc_sysio;
}

int sysio_read_small_file(struct sysio *io, const char *path, char *buf, size_t size)
{
	size_t len = 0;
	int fd, r;

	if (!io || !path || !buf || size < 2)
		return -EINVAL;
	fd = sysio_open(io, path, O_RDONLY);
	if (fd < 0)
		return fd;
	/* Read until EOF: a read may return less than asked even for a small file. */
	for (;;) {
		char tmp[64];
		ssize_t n = sysio_read(io, fd, tmp, sizeof(tmp));

		if (n < 0) {
			r = (int)n;
			goto out;
		}
		if (n == 0)
			break;
		if ((size_t)n > size - 1 - len) {
			r = -EFBIG;
			goto out;
		}
		memcpy(buf + len, tmp, (size_t)n);
		len += (size_t)n;
	}
	buf[len] = '\0';
	r = (int)len;
out:
	(void)sysio_close(io, fd);
	return r;
}
