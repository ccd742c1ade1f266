/* SPDX-License-Identifier: MIT */
/*
 * spidev.c - spibus over /dev/spidevB.C.
 *
 * Job: turn spibus transactions into SPI_IOC_MESSAGE(n) ioctls with exact spi_ioc_transfer
 * arrays, and set the bus up (mode, bits per word, max speed) with each setting read back.
 *
 * Invariants:
 * - Every spi_ioc_transfer is zeroed before use (the uapi header asks for it, so fields added
 *   by later kernels stay 0), carries speed_hz and bits_per_word 8 explicitly, and has delay 0.
 * - cs_change is 1 only on a transfer that ends a cs_toggle group and is not the last transfer
 *   of its message: on the last transfer cs_change would mean "keep CS asserted after the
 *   message", which would leave the flash selected.
 * - A message never exceeds bufsiz in tx or rx, counted the way spidev_message() counts (each
 *   transfer rounded up to SPIDEV_XFER_ALIGN, worst case). Transactions are split only at
 *   cs_toggle boundaries, where CS is released anyway, so the bytes on the wire are the same.
 *   Every group is checked before the first ioctl, so an oversized group sends nothing.
 * - Zero-length segments are not sent (they cost nothing, per spibus.h); a cs_toggle on one
 *   moves to the transfer before it.
 * - The ioctl returns the total length of the message; anything else is a short transfer, -EIO.
 *
 * Non-logging (STYLE E27): failures carry their context in err (open) or spidev_last_error().
 * Threading: one thread at a time per bus, like every spibus.
 */
#include "spidev.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/spi/spidev.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "clock.h"
#include "log.h"
#include "spibus.h"
#include "sysio.h"
#include "util.h"

/* The two bits of SPI mode (CPOL, CPHA) = SPI_MODE_3 in <linux/spi/spi.h>. */
#define SPIDEV_MODE_BITS 0x03u
/* A sysfs integer is short; this bounds what we accept from the file. */
#define SPIDEV_BUFSIZ_MAX (64u * 1024u * 1024u)

struct spidev {
	struct spibus bus; /* first: spibus_free() hands us back this pointer */
	struct sysio *io;
	int fd;
	uint32_t max_speed_hz; /* last value SPI_IOC_WR_MAX_SPEED_HZ accepted (read back) */
	size_t bufsiz;
	char *name;
	char errmsg[200];
	struct spi_ioc_transfer xfers[SPIBUS_MAX_SEGS];
};

static const struct spibus_ops spidev_bus_ops;

static struct spidev *to_spidev(struct spibus *bus)
{
	return (struct spidev *)bus;
}

unsigned long spidev_ioc_message(size_t n)
{
	/* Same value as SPI_IOC_MESSAGE(n), whose char[n * size] type is a VLA for run-time n. */
	return _IOC(_IOC_WRITE, SPI_IOC_MAGIC, 0, n * sizeof(struct spi_ioc_transfer));
}

bool spidev_is(const struct spibus *bus)
{
	return bus && bus->ops == &spidev_bus_ops;
}

const char *spidev_last_error(const struct spibus *bus)
{
	if (!spidev_is(bus))
		return "";
	return ((const struct spidev *)bus)->errmsg;
}

static void PRINTF_FMT(3, 4) set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static size_t align_up(size_t len)
{
	return (len + SPIDEV_XFER_ALIGN - 1) / SPIDEV_XFER_ALIGN * SPIDEV_XFER_ALIGN;
}

/*
 * bufsiz from sysfs. Any failure (no spidev module loaded yet, a sandbox without /sys, garbage)
 * falls back to SPIDEV_BUFSIZ_DEFAULT; see spidev.h for why that is the right guess.
 */
static size_t read_bufsiz(struct sysio *io)
{
	char buf[32], *end;
	unsigned long v;
	int r;

	r = sysio_read_small_file(io, SPIDEV_BUFSIZ_PATH, buf, sizeof(buf));
	if (r < 0) {
		log_debug("spidev: cannot read %s (%s), assuming bufsiz %u", SPIDEV_BUFSIZ_PATH,
			  errno_name(r), SPIDEV_BUFSIZ_DEFAULT);
		return SPIDEV_BUFSIZ_DEFAULT;
	}
	errno = 0;
	v = strtoul(buf, &end, 10);
	if (errno || end == buf || (*end != '\0' && *end != '\n') || v == 0 ||
	    v > SPIDEV_BUFSIZ_MAX) {
		log_debug("spidev: %s holds \"%.16s\", assuming bufsiz %u", SPIDEV_BUFSIZ_PATH, buf,
			  SPIDEV_BUFSIZ_DEFAULT);
		return SPIDEV_BUFSIZ_DEFAULT;
	}
	return v;
}

/* Write an 8-bit setting and read it back. */
static int setup_u8(struct spidev *s, unsigned long wr, unsigned long rd, uint8_t val,
		    uint8_t *ret_val)
{
	uint8_t v = val;
	int r;

	r = sysio_ioctl(s->io, s->fd, wr, &v);
	if (r < 0)
		return r;
	v = 0;
	r = sysio_ioctl(s->io, s->fd, rd, &v);
	if (r < 0)
		return r;
	*ret_val = v;
	return 0;
}

/* Write the max speed and read back what the driver will use. */
static int setup_speed(struct spidev *s, uint32_t hz, uint32_t *ret_hz)
{
	uint32_t v = hz;
	int r;

	r = sysio_ioctl(s->io, s->fd, SPI_IOC_WR_MAX_SPEED_HZ, &v);
	if (r < 0)
		return r;
	v = 0;
	r = sysio_ioctl(s->io, s->fd, SPI_IOC_RD_MAX_SPEED_HZ, &v);
	if (r < 0)
		return r;
	*ret_hz = v;
	return 0;
}

static int send_message(struct spidev *s, size_t n, size_t total)
{
	int r;

	if (n == 0)
		return 0;
	/* The last transfer of a message ends with CS released: cs_change there means "keep CS". */
	s->xfers[n - 1].cs_change = 0;
	r = sysio_ioctl(s->io, s->fd, spidev_ioc_message(n), s->xfers);
	if (r < 0) {
		snprintf(s->errmsg, sizeof(s->errmsg), "%s: SPI_IOC_MESSAGE(%zu) of %zu bytes: %s",
			 s->bus.name, n, total, errno_name(r));
		switch (r) {
		case -EMSGSIZE:
		case -EINVAL:
		case -EIO:
			return r;
		case -ESHUTDOWN:
		case -ENODEV:
			/* The spi device went away under the open fd (driver unbound). */
			return -ENODEV;
		default:
			return -EIO;
		}
	}
	if ((size_t)r != total) {
		snprintf(s->errmsg, sizeof(s->errmsg),
			 "%s: short transfer: SPI_IOC_MESSAGE(%zu) moved %d of %zu bytes", s->bus.name,
			 n, r, total);
		return -EIO;
	}
	return 0;
}

static int spidev_transfer(struct spibus *bus, const struct spibus_seg *segs, size_t n_segs)
{
	struct spidev *s = to_spidev(bus);
	size_t n = 0, total = 0, msg_tx = 0, msg_rx = 0;
	int r;

	s->errmsg[0] = '\0';
	if (n_segs > SPIBUS_MAX_SEGS)
		return -EINVAL;

	/* First pass: every CS-held group must fit one message on its own. */
	for (size_t i = 0, gtx = 0, grx = 0, glen = 0; i < n_segs; i++) {
		if (segs[i].len > INT_MAX) {
			snprintf(s->errmsg, sizeof(s->errmsg), "%s: segment of %zu bytes is too long",
				 bus->name, segs[i].len);
			return -EMSGSIZE;
		}
		if (segs[i].len) {
			if (segs[i].tx)
				gtx += align_up(segs[i].len);
			if (segs[i].rx)
				grx += align_up(segs[i].len);
			glen += segs[i].len;
		}
		if (segs[i].cs_toggle || i == n_segs - 1) {
			if (gtx > s->bufsiz || grx > s->bufsiz) {
				snprintf(s->errmsg, sizeof(s->errmsg),
					 "%s: one CS-held command of %zu bytes needs %zu tx / %zu rx "
					 "bytes of spidev's %zu-byte buffer (raise spidev.bufsiz)",
					 bus->name, glen, gtx, grx, s->bufsiz);
				return -EMSGSIZE;
			}
			gtx = grx = glen = 0;
		}
	}

	/* Second pass: fill messages group by group, sending when the next group does not fit. */
	for (size_t i = 0; i < n_segs;) {
		size_t j, gtx = 0, grx = 0, first = n;

		for (j = i; j < n_segs; j++) {
			if (segs[j].len) {
				if (segs[j].tx)
					gtx += align_up(segs[j].len);
				if (segs[j].rx)
					grx += align_up(segs[j].len);
			}
			if (segs[j].cs_toggle)
				break;
		}
		if (j == n_segs)
			j--;
		/* segs[i..j] is one group. */
		if (msg_tx + gtx > s->bufsiz || msg_rx + grx > s->bufsiz) {
			r = send_message(s, n, total);
			if (r < 0)
				return r;
			n = total = msg_tx = msg_rx = 0;
			first = 0;
		}
		for (size_t k = i; k <= j; k++) {
			struct spi_ioc_transfer *x;

			if (!segs[k].len)
				continue;
			x = &s->xfers[n++];
			memset(x, 0, sizeof(*x));
			x->tx_buf = (uintptr_t)segs[k].tx;
			x->rx_buf = (uintptr_t)segs[k].rx;
			x->len = (uint32_t)segs[k].len;
			x->speed_hz = bus->speed_hz;
			x->bits_per_word = 8;
			total += segs[k].len;
		}
		/* Release CS after the group (cleared again if it ends the message). */
		if (segs[j].cs_toggle && n > first)
			s->xfers[n - 1].cs_change = 1;
		msg_tx += gtx;
		msg_rx += grx;
		i = j + 1;
	}
	return send_message(s, n, total);
}

static int spidev_set_speed(struct spibus *bus, uint32_t hz)
{
	struct spidev *s = to_spidev(bus);
	uint32_t got;
	int r;

	s->errmsg[0] = '\0';
	/*
	 * Transfers carry speed_hz themselves, but some spidev versions clamp a transfer to the
	 * device's max_speed_hz, so the device maximum follows when we go faster than it.
	 */
	if (hz <= s->max_speed_hz) {
		bus->speed_hz = hz;
		return 0;
	}
	r = setup_speed(s, hz, &got);
	if (r < 0) {
		snprintf(s->errmsg, sizeof(s->errmsg), "%s: SPI_IOC_WR_MAX_SPEED_HZ %" PRIu32 ": %s",
			 bus->name, hz, errno_name(r));
		return r;
	}
	if (got == 0 || got > hz) {
		snprintf(s->errmsg, sizeof(s->errmsg),
			 "%s: asked for %" PRIu32 " Hz, driver reports %" PRIu32 " Hz", bus->name, hz,
			 got);
		return -EINVAL;
	}
	s->max_speed_hz = got;
	bus->speed_hz = got;
	return 0;
}

static void spidev_destroy(struct spibus *bus)
{
	struct spidev *s = to_spidev(bus);

	if (s->fd >= 0)
		(void)sysio_close(s->io, s->fd);
	free(s->name);
	free(s);
}

static const struct spibus_ops spidev_bus_ops = {
	.transfer = spidev_transfer,
	.set_speed = spidev_set_speed,
	.destroy = spidev_destroy,
};

static int open_error(int r, const char *path, char *err, size_t errlen)
{
	switch (r) {
	case -ENOENT:
		set_err(err, errlen,
			"%s does not exist: enable SPI (dtparam=spi=on in config.txt, then reboot) "
			"or check the bus/chip-select numbers: ENOENT",
			path);
		break;
	case -EACCES:
	case -EPERM:
		set_err(err, errlen,
			"%s: permission denied: add the user to group 'spi' "
			"(SupplementaryGroups=spi for the service): %s",
			path, errno_name(r));
		break;
	case -ENXIO:
	case -ENODEV:
		set_err(err, errlen, "%s: no spidev device bound to this node: %s", path,
			errno_name(r));
		break;
	default:
		set_err(err, errlen, "%s: open: %s", path, errno_name(r));
		break;
	}
	return r;
}

int spidev_open(const char *path, const struct spidev_opts *o, struct spibus **ret_bus, char *err,
		size_t errlen)
{
	struct spidev *s = NULL;
	uint8_t mode, bits;
	uint32_t hz;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !o || !ret_bus)
		return -EINVAL;
	bits = o->bits_per_word ? o->bits_per_word : 8;
	if (o->mode > 3 || bits != 8 || o->speed_hz == 0) {
		set_err(err, errlen, "%s: unsupported settings (mode %u, %u bits, %" PRIu32 " Hz)",
			path, o->mode, bits, o->speed_hz);
		return -EINVAL;
	}

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = -1;
	s->io = o->io ? o->io : sysio_libc();
	if (asprintf(&s->name, "spidev:%s", path) < 0) {
		s->name = NULL;
		r = -ENOMEM;
		goto fail;
	}

	r = sysio_open(s->io, path, O_RDWR);
	if (r < 0) {
		open_error(r, path, err, errlen);
		goto fail;
	}
	s->fd = r;

	/* SPI_IOC_WR_MODE (8 bits) also clears CS_HIGH/LSB_FIRST/3WIRE: CS active low, MSB first. */
	r = setup_u8(s, SPI_IOC_WR_MODE, SPI_IOC_RD_MODE, o->mode, &mode);
	if (r < 0) {
		set_err(err, errlen, "%s: set SPI mode %u: %s", path, o->mode, errno_name(r));
		goto fail;
	}
	/* Compare CPOL/CPHA only: kernels with GPIO chip selects may report SPI_CS_HIGH. */
	if ((mode & SPIDEV_MODE_BITS) != o->mode) {
		set_err(err, errlen, "%s: asked for SPI mode %u, driver reports mode 0x%02x", path,
			o->mode, mode);
		r = -EINVAL;
		goto fail;
	}

	r = setup_u8(s, SPI_IOC_WR_BITS_PER_WORD, SPI_IOC_RD_BITS_PER_WORD, bits, &bits);
	if (r < 0) {
		set_err(err, errlen, "%s: set 8 bits per word: %s", path, errno_name(r));
		goto fail;
	}
	/* 0 reads back from drivers that store "default", which spi_setup() defines as 8. */
	if (bits != 8 && bits != 0) {
		set_err(err, errlen, "%s: asked for 8 bits per word, driver reports %u", path, bits);
		r = -EINVAL;
		goto fail;
	}

	r = setup_speed(s, o->speed_hz, &hz);
	if (r < 0) {
		set_err(err, errlen, "%s: set max speed %" PRIu32 " Hz: %s", path, o->speed_hz,
			errno_name(r));
		goto fail;
	}
	/* Rounding down is the driver's right; zero or faster than asked is not. */
	if (hz == 0 || hz > o->speed_hz) {
		set_err(err, errlen, "%s: asked for %" PRIu32 " Hz, driver reports %" PRIu32 " Hz",
			path, o->speed_hz, hz);
		r = -EINVAL;
		goto fail;
	}

	s->max_speed_hz = hz;
	s->bufsiz = o->bufsiz ? o->bufsiz : read_bufsiz(s->io);
	s->bus = (struct spibus){
		.ops = &spidev_bus_ops,
		.name = s->name,
		.clock = fclock_monotonic(),
		.max_transfer = s->bufsiz,
		.speed_hz = hz,
		.mode = o->mode,
		.cs_toggle_ok = true,
		.txn_overhead_ns = SPIDEV_TXN_OVERHEAD_NS,
	};
	*ret_bus = &s->bus;
	return 0;

fail:
	spidev_destroy(&s->bus);
	return r;
}
