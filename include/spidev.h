/* SPDX-License-Identifier: MIT */
/*
 * spidev.h - the spibus backend over Linux /dev/spidevB.C (SPI_IOC_* ioctls).
 *
 * One spibus transaction becomes one SPI_IOC_MESSAGE(n) ioctl whenever it fits the spidev
 * bounce buffer (module parameter bufsiz). spidev checks the tx total and the rx total of one
 * message separately against bufsiz, each transfer rounded up to the kernel's kmalloc alignment
 * (drivers/spi/spidev.c spidev_message); we account the same way with a worst-case alignment of
 * SPIDEV_XFER_ALIGN. A transaction that does not fit is split into several messages at cs_toggle
 * boundaries, since CS is released there anyway; one CS-held group larger than bufsiz is
 * -EMSGSIZE and nothing is sent.
 *
 * Threading: like every spibus, a spidev bus belongs to one thread at a time.
 */
#ifndef FLASHD_SPIDEV_H
#define FLASHD_SPIDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spibus;
struct sysio;

/* Where spidev publishes its bounce buffer size (bytes). */
#define SPIDEV_BUFSIZ_PATH "/sys/module/spidev/parameters/bufsiz"
/*
 * Used when SPIDEV_BUFSIZ_PATH cannot be read or parsed: 4096 is spidev's compiled-in default
 * and has been since the driver was written, so it is right unless someone passed
 * spidev.bufsiz= on the kernel command line (then use spidev_opts.bufsiz).
 */
#define SPIDEV_BUFSIZ_DEFAULT 4096u
/*
 * Worst-case ARCH_KMALLOC_MINALIGN (arm64 before 6.5 used the 128-byte DMA alignment) that
 * newer spidev rounds each transfer up to when it counts tx and rx against bufsiz. Assuming
 * the worst case only costs an extra ioctl now and then; assuming too little costs EMSGSIZE.
 */
#define SPIDEV_XFER_ALIGN 128u
/* An estimate of one SPI_IOC_MESSAGE round trip on a Pi (syscall, copy, DMA set-up, CS). */
#define SPIDEV_TXN_OVERHEAD_NS 15000u

struct spidev_opts {
	uint32_t speed_hz;     /* required; the driver may round it down */
	uint8_t mode;	       /* SPI mode 0..3 (CPOL|CPHA); CS active low, MSB first */
	uint8_t bits_per_word; /* 0 means 8; only 8 is supported */
	size_t bufsiz;	       /* 0: read SPIDEV_BUFSIZ_PATH; else the spidev bufsiz to assume */
	struct sysio *io;      /* kernel seam, borrowed for the bus's lifetime; NULL: sysio_libc() */
};

/*
 * Open path (e.g. "/dev/spidev0.0"), set mode, bits per word and max speed, and read each one
 * back. On success *ret_bus is a new bus that the caller frees with spibus_free(); its name
 * is "spidev:<path>", its clock fclock_monotonic(), its speed_hz what the driver reported.
 * On failure returns -errno and writes a one-line reason naming the device into err (if err is
 * not NULL): -ENOENT (SPI not enabled), -EACCES (not in group spi), -EINVAL (bad opts, or the
 * driver did not take a setting), or the ioctl's error.
 */
int spidev_open(const char *path, const struct spidev_opts *o, struct spibus **ret_bus, char *err,
		size_t errlen);

/* True if bus was made by spidev_open(). */
bool spidev_is(const struct spibus *bus);

/*
 * The reason for the last failed transfer or set_speed on this spidev bus ("" if none), valid
 * until the next call on the bus. The worker uses it to add context to a bare -EIO.
 */
const char *spidev_last_error(const struct spibus *bus);

/* The ioctl request number of SPI_IOC_MESSAGE(n) for a run-time n (no VLA type needed). */
unsigned long spidev_ioc_message(size_t n);

#endif
