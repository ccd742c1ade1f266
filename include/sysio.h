/* SPDX-License-Identifier: MIT */
/*
 * sysio.h - the kernel seam under the spidev backend (STYLE H44).
 *
 * spidev.c never calls open/close/ioctl/read directly: it goes through a `struct sysio`, so the
 * unit tests can substitute a fake that records every ioctl request number and the exact
 * `spi_ioc_transfer` arrays, and injects errors. Implementations embed `struct sysio` as their
 * first member and set `ops` (the same pattern as struct fclock).
 *
 * Every operation returns a value >= 0 on success or -errno; errno itself is never the channel.
 *
 * Threading: the libc table is stateless and may be used from any thread.
 */
#ifndef FLASHD_SYSIO_H
#define FLASHD_SYSIO_H

#include <stddef.h>
#include <sys/types.h>

struct sysio;

struct sysio_ops {
	/* open(2) with O_CLOEXEC added; a new fd or -errno. */
	int (*open)(struct sysio *io, const char *path, int flags);
	/* close(2); 0 or -errno. The fd is gone either way. */
	int (*close)(struct sysio *io, int fd);
	/* ioctl(2); the driver's non-negative return value or -errno. */
	int (*ioctl)(struct sysio *io, int fd, unsigned long request, void *arg);
	/* read(2), restarted after EINTR; bytes read (0 at end of file) or -errno. */
	ssize_t (*read)(struct sysio *io, int fd, void *buf, size_t len);
};

struct sysio {
	const struct sysio_ops *ops;
};

/* The real table (libc). Process-wide, never freed. */
struct sysio *sysio_libc(void);

static inline int sysio_open(struct sysio *io, const char *path, int flags)
{
	return io->ops->open(io, path, flags);
}

static inline int sysio_close(struct sysio *io, int fd)
{
	return io->ops->close(io, fd);
}

static inline int sysio_ioctl(struct sysio *io, int fd, unsigned long request, void *arg)
{
	return io->ops->ioctl(io, fd, request, arg);
}

static inline ssize_t sysio_read(struct sysio *io, int fd, void *buf, size_t len)
{
	return io->ops->read(io, fd, buf, len);
}

/*
 * Read a small text file (sysfs attribute) into buf and NUL-terminate it. Reads at most
 * size - 1 bytes; a longer file is -EFBIG (sysfs values are short, so that means garbage).
 * Returns the length read or -errno (buf then holds no valid string).
 */
int sysio_read_small_file(struct sysio *io, const char *path, char *buf, size_t size);

#endif
