/* SPDX-License-Identifier: MIT */
/*
 * simchip.c - the SPI NOR model.
 *
 * A transaction is split at chip-select toggles into commands; each command is the byte
 * stream of its segments (tx, or 0x00 where tx is NULL), and the chip's answer is scattered
 * into the segments' rx buffers. Effects of program/erase/status writes happen when chip
 * select rises; the chip then stays busy (WIP) for the part's typical time (or its maximum, or a
 * seeded random time between the two), during which everything but register reads is ignored.
 *
 * Time: modelled nanoseconds, advanced by transactions (overhead, then 8 bits per byte at the
 * clock) and by sleeps on the chip's clock. With a time scale > 0 the model also sleeps that
 * fraction of modelled time in wall time, in batches of at least 1 ms so short waits stay
 * accurate on average.
 *
 * The image is accessed with pread/pwrite (never mapped, so a daemon streaming a 64 MiB chip
 * keeps a small resident set) through a one-block write-back cache.
 */
#include "simchip.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "sim_private.h"
#include "spibus.h"
#include "util.h"

#define CACHE_SIZE KIB(64)
#define SFDP_GEN_MAX 256 /* sim_sfdp_generate() writes at most 120 bytes */
#define BUSY_FOREVER UINT64_MAX
#define SR_WIP 0x01
#define SR_WEL 0x02

enum miso_fault { MISO_OK, MISO_HIGH, MISO_LOW };

struct simchip;

struct simclock {
	struct fclock base;
	struct simchip *s;
};

struct simchip {
	struct spibus bus; /* first: the bus handed out is the chip */
	struct simclock clk;
	char name[48];
	const struct sim_profile *p;
	struct simchip_opts o;
	int fd;

	/* write-back cache of one aligned block */
	uint8_t *cache;
	uint32_t cache_addr;
	uint32_t dirty_lo, dirty_hi; /* modified span inside the cache, written at command end */
	bool cache_valid, cache_dirty;

	/* chip state */
	uint8_t sr[3], cr, fsr;
	bool wel, wel_clear_at_end, ewsr, vsr, in_4b, aai;
	uint32_t aai_addr;
	uint64_t busy_until;
	uint8_t bpr[32];
	size_t bpr_len;
	const uint8_t *sfdp; /* the profile's dump (borrowed, as the profile is) or sfdp_gen */
	size_t sfdp_len;
	uint8_t sfdp_gen[SFDP_GEN_MAX];

	/* time: with a scale > 0, wall time follows modelled time from (wall_base, model_base) */
	uint64_t now_ns, wall_base_ns, model_base_ns;
	bool wall_started;
	uint64_t rng;

	/* faults (set from any thread) */
	_Atomic int miso;
	_Atomic bool wip_stuck, program_fail, erase_fail, wp_low;
	_Atomic uint64_t xfer_error_in;
	/* swap: swap_to is stored last and read first; then either after swap_after more
	 * transactions, or (swap_on_write) once a program/erase accepted after swap_mark
	 * has finished */
	_Atomic(const struct sim_profile *) swap_to;
	_Atomic uint64_t swap_after, swap_mark, writes; /* writes: never reset */
	_Atomic bool swap_on_write;
	_Atomic(const struct sim_profile *) cur; /* s->p, for other threads */

	/* stats */
	_Atomic uint64_t st_txn, st_bytes, st_polls, st_busy, st_model, st_programs, st_erases,
		st_swaps;
};

/* ---- time ---- */

static void sim_advance(struct simchip *s, uint64_t ns)
{
	uint64_t target, wall;

	s->now_ns += ns;
	atomic_store(&s->st_model, s->now_ns);
	if (s->o.time_scale <= 0)
		return;
	wall = fclock_mono_ns();
	/* Re-anchor when wall time is more than 2 ms behind: time the chip spent waiting for the
	 * host (idle, or between commands) is lost as on a real chip; up to 2 ms of sleep
	 * overshoot is paid back by the next sleep. */
	if (!s->wall_started || wall > s->wall_base_ns +
					   (uint64_t)((double)(s->now_ns - s->model_base_ns) *
						      s->o.time_scale) + 2 * NSEC_PER_MSEC) {
		s->wall_base_ns = wall;
		s->model_base_ns = s->now_ns;
		s->wall_started = true;
		return;
	}
	/* Sleep to an absolute target so oversleeping once is paid back by the next sleep, and
	 * only in steps of 1 ms or more so short waits do not cost a syscall each. */
	target = s->wall_base_ns +
		 (uint64_t)((double)(s->now_ns - s->model_base_ns) * s->o.time_scale);
	if (target > wall + NSEC_PER_MSEC)
		fclock_sleep_ns(fclock_monotonic(), target - wall);
}

static uint64_t clk_now(struct fclock *c)
{
	return ((struct simclock *)c)->s->now_ns;
}

static void clk_sleep(struct fclock *c, uint64_t ns)
{
	sim_advance(((struct simclock *)c)->s, ns);
}

static const struct fclock_ops simclock_ops = {.now_ns = clk_now, .sleep_ns = clk_sleep};

/* splitmix64: every seed, 0 included, gives a full-period sequence of its own */
static uint64_t rng_next(struct simchip *s)
{
	uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Busy time of one program/erase/status write, by the opts' busy mode; whole microseconds. */
static uint64_t busy_time_ns(struct simchip *s, uint64_t typ_us, uint64_t max_us)
{
	uint64_t us = typ_us;

	if (max_us < typ_us)
		max_us = typ_us;
	if (s->o.busy == SIMCHIP_BUSY_MAXIMUM)
		us = max_us;
	else if (s->o.busy == SIMCHIP_BUSY_RANDOM)
		us += rng_next(s) % (max_us - typ_us + 1);
	return us * NSEC_PER_USEC;
}

static bool busy(const struct simchip *s)
{
	return s->now_ns < s->busy_until;
}

static void start_busy(struct simchip *s, uint64_t ns)
{
	s->busy_until = atomic_load(&s->wip_stuck) ? BUSY_FOREVER : s->now_ns + ns;
	s->wel_clear_at_end = true;
	atomic_fetch_add(&s->st_busy, ns);
}

/* ---- image ---- */

static int cache_flush(struct simchip *s)
{
	if (s->cache_valid && s->cache_dirty) {
		size_t len = s->dirty_hi - s->dirty_lo;
		ssize_t n = pwrite(s->fd, s->cache + s->dirty_lo, len, s->cache_addr + s->dirty_lo);

		if (n != (ssize_t)len)
			return n < 0 ? -errno : -EIO;
		s->cache_dirty = false;
	}
	return 0;
}

/* Note that [off, off+len) of the cached block changed. */
static void cache_touch(struct simchip *s, uint32_t addr, uint32_t len)
{
	uint32_t lo = addr - s->cache_addr, hi = lo + len;

	if (!s->cache_dirty) {
		s->dirty_lo = lo;
		s->dirty_hi = hi;
		s->cache_dirty = true;
		return;
	}
	s->dirty_lo = MIN(s->dirty_lo, lo);
	s->dirty_hi = MAX(s->dirty_hi, hi);
}

static uint8_t *cache_get(struct simchip *s, uint32_t addr)
{
	uint32_t base = addr - addr % CACHE_SIZE;

	if (!s->cache_valid || s->cache_addr != base) {
		if (cache_flush(s) < 0)
			return NULL;
		if (pread(s->fd, s->cache, CACHE_SIZE, base) != (ssize_t)CACHE_SIZE)
			return NULL;
		s->cache_addr = base;
		s->cache_valid = true;
	}
	return s->cache + (addr - base);
}

/* ---- protection ---- */

static bool regbit(const struct simchip *s, uint8_t where)
{
	unsigned reg = where >> 4, bit = where & 7;

	if (!where)
		return false;
	if (reg == 4)
		return s->cr & (1u << bit);
	return s->sr[reg - 1] & (1u << bit);
}

/* The range the BP bits protect, as [lo, hi). */
static void bp_range(const struct simchip *s, uint32_t *lo, uint32_t *hi)
{
	const struct sim_profile *p = s->p;
	unsigned bp = 0, width = 0;
	uint32_t len;

	*lo = *hi = 0;
	for (unsigned b = 0; b < 8; b++) {
		if (!(p->bp_mask & (1u << b)))
			continue;
		if (s->sr[0] & (1u << b))
			bp |= 1u << width;
		width++;
	}
	if (!width)
		return;
	if (bp == 0) {
		len = 0;
	} else if (bp == (1u << width) - 1) {
		len = p->size;
	} else if (regbit(s, p->sec)) {
		len = KIB(4) << MIN(bp - 1, 3u);
	} else {
		uint64_t l = (uint64_t)p->bp_unit << (bp - 1);

		len = l >= p->size ? p->size : (uint32_t)l;
	}
	if (regbit(s, p->tb)) {
		*lo = 0;
		*hi = len;
	} else {
		*lo = p->size - len;
		*hi = p->size;
	}
	if (regbit(s, p->cmp)) {
		/* complement: the other end */
		if (len == 0) {
			*lo = 0;
			*hi = p->size;
		} else if (*lo == 0) {
			*lo = len;
			*hi = p->size;
		} else {
			*lo = 0;
			*hi = p->size - len;
		}
		if (*lo == *hi)
			*lo = *hi = 0;
	}
}

/* SST26VF064B block-protection bit for addr (DS20005119 table 5-6 layout, write-lock bits). */
static int sst26_bit(const struct simchip *s, uint32_t addr)
{
	uint32_t size = s->p->size, blocks = size / KIB(64);

	if (addr < KIB(32))
		return (int)(blocks - 2 + 2 + (addr / KIB(8)) * 2); /* bottom 8 KiB sectors */
	if (addr >= size - KIB(32))
		return (int)(blocks + 8 + ((addr - (size - KIB(32))) / KIB(8)) * 2);
	if (addr < KIB(64))
		return (int)(blocks - 2); /* bottom 32 KiB */
	if (addr >= size - KIB(64))
		return (int)(blocks - 1); /* top 32 KiB */
	return (int)(addr / KIB(64) - 1);
}

static bool protected_at(const struct simchip *s, uint32_t addr, uint32_t len)
{
	if (s->p->flags & SIMF_SST26) {
		for (uint32_t a = addr; a < addr + len; a += KIB(8)) {
			int bit = sst26_bit(s, a);

			if (s->bpr[bit / 8] & (1u << (bit % 8)))
				return true;
		}
		return false;
	}
	{
		uint32_t lo, hi;

		bp_range(s, &lo, &hi);
		return lo < hi && addr < hi && addr + len > lo;
	}
}

static void sst26_power_up(struct simchip *s)
{
	uint32_t blocks = s->p->size / KIB(64);

	s->bpr_len = (blocks + 16 + 7) / 8;
	memset(s->bpr, 0, sizeof(s->bpr));
	/* every write-lock bit set; the 8 KiB sectors' read-lock bits (odd) clear */
	for (uint32_t bit = 0; bit < blocks + 16; bit++)
		if (bit < blocks || (bit - blocks) % 2 == 0)
			s->bpr[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/*
 * The state a part is in after power-up, from its profile: registers at their defaults,
 * WEL/EWSR/AAI/4-byte mode cleared, not busy, SST26 blocks locked, its own SFDP. Used at
 * open and when a swap fault puts another chip on the bus (which was powered off to do it).
 */
static void power_up(struct simchip *s, const struct sim_profile *p)
{
	s->p = p;
	atomic_store(&s->cur, p);
	s->sr[0] = p->sr1_init;
	s->sr[1] = p->sr2_init;
	s->sr[2] = p->sr3_init;
	s->cr = p->cr_init;
	s->fsr = 0;
	s->wel = s->wel_clear_at_end = s->ewsr = s->vsr = s->in_4b = s->aai = false;
	s->aai_addr = 0;
	s->busy_until = 0;
	s->bpr_len = 0;
	memset(s->bpr, 0, sizeof(s->bpr));
	if (p->flags & SIMF_SST26)
		sst26_power_up(s);
	/* a dump is answered whole, whatever its size (sim_profile_from_sfdp allows 64 KiB) */
	if (p->flags & SIMF_NO_SFDP) {
		s->sfdp = NULL;
		s->sfdp_len = 0;
	} else if (p->sfdp) {
		s->sfdp = p->sfdp;
		s->sfdp_len = p->sfdp_len;
	} else {
		s->sfdp = s->sfdp_gen;
		s->sfdp_len = sim_sfdp_generate(p, s->sfdp_gen, sizeof(s->sfdp_gen));
	}
}

/* ---- the command stream of one chip-select period ---- */

struct cmd {
	const struct spibus_seg *segs;
	size_t n, seg, off; /* cursor */
	size_t len;	     /* bytes in this command */
	size_t pos;	     /* bytes consumed */
};

/* Next tx byte (0x00 where the caller sent none); advances; false at the end. */
static bool cmd_tx(struct cmd *c, uint8_t *ret)
{
	while (c->seg < c->n && c->off >= c->segs[c->seg].len) {
		c->seg++;
		c->off = 0;
	}
	if (c->seg >= c->n)
		return false;
	*ret = c->segs[c->seg].tx ? c->segs[c->seg].tx[c->off] : 0;
	c->off++;
	c->pos++;
	return true;
}

/* Answer with data (or fill when data is NULL) for the next len bytes; returns bytes done. */
static size_t cmd_rx(struct cmd *c, const uint8_t *data, uint8_t fill, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t avail, n;

		while (c->seg < c->n && c->off >= c->segs[c->seg].len) {
			c->seg++;
			c->off = 0;
		}
		if (c->seg >= c->n)
			break;
		avail = c->segs[c->seg].len - c->off;
		n = MIN(avail, len - done);
		if (c->segs[c->seg].rx) {
			if (data)
				memcpy(c->segs[c->seg].rx + c->off, data + done, n);
			else
				memset(c->segs[c->seg].rx + c->off, fill, n);
		}
		c->off += n;
		c->pos += n;
		done += n;
	}
	return done;
}

static size_t cmd_left(const struct cmd *c)
{
	return c->len - c->pos;
}

/* Read image bytes from addr (wrapping at the end of the chip) into the answer. */
static void answer_array(struct simchip *s, struct cmd *c, uint32_t addr, bool corrupt)
{
	uint8_t buf[4096];

	while (cmd_left(c)) {
		size_t n = MIN(cmd_left(c), sizeof(buf));
		size_t first = MIN(n, (size_t)(s->p->size - addr));

		if (cache_flush(s) < 0 || pread(s->fd, buf, first, addr) != (ssize_t)first)
			memset(buf, 0xFF, first);
		if (first < n && pread(s->fd, buf + first, n - first, 0) != (ssize_t)(n - first))
			memset(buf + first, 0xFF, n - first);
		if (corrupt)
			for (size_t i = 0; i < n; i += 7)
				buf[i] ^= 0x10; /* a clock too fast for the part loses bits */
		cmd_rx(c, buf, 0, n);
		addr = (uint32_t)((addr + n) % s->p->size);
	}
}

static uint8_t status1(struct simchip *s)
{
	uint8_t v = s->sr[0] & (uint8_t)~(SR_WIP | SR_WEL);

	if (s->wel_clear_at_end && !busy(s)) {
		s->wel = false;
		s->wel_clear_at_end = false;
	}
	if (busy(s) || atomic_load(&s->wip_stuck))
		v |= (s->p->flags & SIMF_SST26) ? SR_WIP | 0x80 : SR_WIP; /* SST26: BUSY twice */
	if (s->wel)
		v |= SR_WEL;
	if (s->aai)
		v |= 0x40;
	return v;
}

static uint32_t addr_bytes_for(const struct simchip *s, uint8_t op)
{
	switch (op) {
	case 0x13:
	case 0x0C:
	case 0x12:
	case 0x21:
	case 0x5C:
	case 0xDC:
		return 4;
	default:
		return s->in_4b ? 4 : 3;
	}
}

static bool get_addr(struct cmd *c, uint32_t nbytes, uint32_t *ret)
{
	uint32_t a = 0;
	uint8_t b;

	for (uint32_t i = 0; i < nbytes; i++) {
		if (!cmd_tx(c, &b))
			return false;
		a = a << 8 | b;
	}
	*ret = a;
	return true;
}

static const struct sim_erase *erase_for_op(const struct simchip *s, uint8_t op)
{
	for (unsigned i = 0; i < s->p->n_erase; i++)
		if (s->p->erase[i].op == op || (s->p->erase[i].op4 && s->p->erase[i].op4 == op))
			return &s->p->erase[i];
	return NULL;
}

static bool is_4b_op(const struct simchip *s, uint8_t op)
{
	if (!(s->p->flags & SIMF_4B_OPS))
		return false;
	if (op == 0x13 || op == 0x0C || op == 0x12)
		return true;
	for (unsigned i = 0; i < s->p->n_erase; i++)
		if (s->p->erase[i].op4 == op)
			return true;
	return false;
}

static void refuse(struct simchip *s)
{
	/* a refused program/erase/WRSR still clears WEL, as the parts do */
	s->wel = false;
	if (s->p->flags & SIMF_FSR)
		s->fsr |= 0x02;
}

/* Returns false when the range is protected (nothing changes, the chip does not go busy). */
static bool do_program(struct simchip *s, uint32_t addr, const uint8_t *data, size_t n,
		       bool page_wrap)
{
	const uint32_t page = page_wrap ? s->p->page : 1;
	const bool fail = atomic_load(&s->program_fail);

	if (protected_at(s, addr, (uint32_t)MAX(n, 1))) {
		refuse(s);
		if (s->p->flags & SIMF_FSR)
			s->fsr |= 0x10;
		return false;
	}
	if (page_wrap && n > page)
		data += n - page, n = page; /* only the last page's worth lands */
	for (size_t i = 0; i < n; i++) {
		uint32_t a = page_wrap ? (addr - addr % page) + (uint32_t)((addr % page + i) % page)
				       : addr + (uint32_t)i;
		uint8_t *b = cache_get(s, a);
		uint8_t keep = (fail && a % 256 == 0) ? 0x80 : 0;

		if (b) {
			*b &= data[i] | keep;
			cache_touch(s, a, 1);
		}
	}
	atomic_fetch_add(&s->st_programs, 1);
	atomic_fetch_add(&s->writes, 1);
	return true;
}

static bool do_erase(struct simchip *s, uint32_t addr, uint32_t size)
{
	const bool fail = atomic_load(&s->erase_fail);

	addr -= addr % size;
	if (protected_at(s, addr, size)) {
		refuse(s);
		if (s->p->flags & SIMF_FSR)
			s->fsr |= 0x20;
		return false;
	}
	for (uint32_t a = addr; a < addr + size; a += CACHE_SIZE) {
		uint32_t n = MIN(size, CACHE_SIZE);
		uint8_t *b = cache_get(s, a);
		uint8_t first = b ? b[0] : 0xFF;

		if (!b)
			continue;
		memset(b, 0xFF, n);
		if (fail)
			b[0] = first;
		cache_touch(s, a, n);
	}
	atomic_fetch_add(&s->st_erases, 1);
	atomic_fetch_add(&s->writes, 1);
	return true;
}

/* Only the bits the datasheet calls writable change; WIP and WEL are never among them. */
static void write_status(struct simchip *s, unsigned reg, uint8_t v)
{
	const struct sim_profile *p = s->p;
	uint8_t m;

	if (reg == 1) {
		m = p->sr1_wmask & (uint8_t)~(SR_WIP | SR_WEL);
		s->sr[0] = (uint8_t)((s->sr[0] & ~m) | (v & m));
	} else if (reg == 2) {
		s->sr[1] = (uint8_t)((s->sr[1] & 0x80) | (v & 0x7F));
	} else if (reg == 3) {
		s->sr[2] = (uint8_t)((s->sr[2] & 0x01) | (v & 0xFE));
	} else if (reg == 4) {
		m = p->cr_wmask;
		s->cr = (uint8_t)((s->cr & ~m) | (v & m) | (s->cr & p->cr_otp));
	}
}

/* Execute one command (one CS period) of len bytes. */
static void run_command(struct simchip *s, struct cmd *c)
{
	const struct sim_profile *p = s->p;
	uint8_t op, b;
	uint32_t addr;
	bool fast_ok = s->bus.speed_hz <= p->fast_max_hz;
	bool vsr;

	if (!cmd_tx(c, &op))
		return;
	/* 50h enables the very next command only: "any other commands can't be inserted"
	 * (W25Q128JV 8.2.2) */
	vsr = s->vsr;
	s->vsr = false;

	/* While busy only register reads get through: the parts answer 05h, 35h, 15h and 70h
	 * at any time (W25Q128JV 8.2.4, MX25L12835F RDSR/RDCR, GD25Q64C RDSR, MT25QL256
	 * READ (FLAG) STATUS REGISTER). Anything else is ignored, AAI data included. */
	if (busy(s) || atomic_load(&s->wip_stuck)) {
		if (op != 0x05 && op != 0x35 && op != 0x15 && op != 0x70) {
			cmd_rx(c, NULL, 0xFF, cmd_left(c));
			return;
		}
	} else if (s->wel_clear_at_end) {
		s->wel = false;
		s->wel_clear_at_end = false;
	}
	if (s->aai && op != 0xAD && op != 0x04 && op != 0x05) {
		cmd_rx(c, NULL, 0xFF, cmd_left(c)); /* AAI mode accepts only AAI, WRDI and RDSR */
		return;
	}

	switch (op) {
	case 0x9F: {
		const uint8_t id[3] = {(uint8_t)(p->jedec_id >> 16), (uint8_t)(p->jedec_id >> 8),
				       (uint8_t)p->jedec_id};
		size_t n = cmd_rx(c, id, 0, MIN(cmd_left(c), sizeof(id)));

		(void)n;
		cmd_rx(c, NULL, 0x00, cmd_left(c));
		break;
	}
	case 0x05:
		atomic_fetch_add(&s->st_polls, 1);
		while (cmd_left(c)) {
			uint8_t v = status1(s);

			cmd_rx(c, &v, 0, 1);
		}
		break;
	case 0x35:
		if (p->flags & SIMF_SST26)
			cmd_rx(c, NULL, s->cr, cmd_left(c)); /* RDCR (DS20005119 5.21) */
		else if (p->flags & SIMF_SR2)
			cmd_rx(c, NULL, s->sr[1], cmd_left(c));
		break;
	case 0x15:
		if (p->flags & SIMF_MX_CR)
			cmd_rx(c, NULL,
			       (uint8_t)(s->cr | ((p->flags & SIMF_MX_4BYTE) && s->in_4b ? 0x20 : 0)),
			       cmd_left(c));
		else if (p->flags & SIMF_SR3)
			cmd_rx(c, NULL, (uint8_t)((s->sr[2] & ~1u) |
						  ((p->flags & SIMF_ADS) && s->in_4b ? 1u : 0u)),
			       cmd_left(c));
		break;
	case 0x70:
		if (p->flags & SIMF_FSR) {
			/* bit 7 ready, bit 0 the address mode, busy or not (MT25QL256 Table 8) */
			uint8_t v = (uint8_t)((busy(s) || atomic_load(&s->wip_stuck) ? 0 : 0x80) |
					      (s->fsr & 0x7E) | (s->in_4b ? 1 : 0));

			atomic_fetch_add(&s->st_polls, 1);
			cmd_rx(c, NULL, v, cmd_left(c));
		}
		break;
	case 0x06:
		s->wel = true;
		break;
	case 0x04:
		s->wel = false;
		s->aai = false;
		break;
	case 0x50:
		if (p->flags & SIMF_EWSR)
			s->ewsr = true;
		else if (p->flags & SIMF_FSR)
			s->fsr = 0;
		else if (p->flags & SIMF_VSR_50)
			s->vsr = true;
		break;
	case 0x03:
	case 0x13:
	case 0x0B:
	case 0x0C: {
		bool fast = op == 0x0B || op == 0x0C;

		if ((op == 0x13 || op == 0x0C) && !is_4b_op(s, op))
			break;
		if (!get_addr(c, addr_bytes_for(s, op), &addr))
			break;
		if (fast && !cmd_tx(c, &b))
			break;
		addr %= p->size;
		answer_array(s, c, addr,
			     fast ? !fast_ok : s->bus.speed_hz > p->read_max_hz || !fast_ok);
		break;
	}
	case 0x5A: {
		uint8_t hdr[4];

		if (p->flags & SIMF_NO_SFDP)
			break; /* no command: MISO stays released */
		for (int i = 0; i < 4; i++)
			if (!cmd_tx(c, &hdr[i]))
				return;
		addr = get_be24(hdr);
		while (cmd_left(c)) {
			uint8_t v = addr < s->sfdp_len ? s->sfdp[addr] : 0xFF;

			cmd_rx(c, &v, 0, 1);
			addr++;
		}
		break;
	}
	case 0x02:
	case 0x12: {
		uint8_t data[512];
		size_t n = 0;

		if (op == 0x12 && !is_4b_op(s, op))
			break;
		if (!get_addr(c, addr_bytes_for(s, op), &addr))
			break;
		addr %= p->size;
		if (!s->wel)
			break;
		if (p->flags & SIMF_SST_AAI) {
			/* byte program: the first data byte only */
			if (cmd_tx(c, &b) && do_program(s, addr, &b, 1, false))
				start_busy(s, busy_time_ns(s, p->pp_typ_us, p->pp_max_us));
			break;
		}
		while (cmd_left(c)) {
			/* keep the last page's worth: the part wraps inside the page */
			if (n == sizeof(data)) {
				memmove(data, data + p->page, sizeof(data) - p->page);
				n -= p->page;
			}
			if (!cmd_tx(c, &data[n]))
				break;
			n++;
		}
		if (n) {
			if (n > p->page) {
				size_t extra = n - p->page;

				/* bytes beyond a page overwrite from the page start on */
				addr = (addr - addr % p->page) + (uint32_t)((addr % p->page + extra) % p->page);
				memmove(data, data + extra, p->page);
				n = p->page;
			}
			if (do_program(s, addr, data, n, true))
				start_busy(s, busy_time_ns(s, p->pp_typ_us, p->pp_max_us));
		} else {
			s->wel = false;
		}
		break;
	}
	case 0xAD: {
		uint8_t w[2];

		if (!(p->flags & SIMF_SST_AAI))
			break;
		if (!s->aai) {
			if (!s->wel || !get_addr(c, 3, &addr))
				break;
			s->aai = true;
			s->aai_addr = (addr % p->size) & ~1u;
		}
		if (!cmd_tx(c, &w[0]) || !cmd_tx(c, &w[1]))
			break;
		if (protected_at(s, s->aai_addr, 2)) {
			s->aai = false;
			refuse(s);
			break;
		}
		do_program(s, s->aai_addr, w, 2, false);
		s->aai_addr = (s->aai_addr + 2) % p->size;
		s->busy_until = s->now_ns + busy_time_ns(s, p->pp_typ_us, p->pp_max_us);
		atomic_fetch_add(&s->st_busy, s->busy_until - s->now_ns);
		break;
	}
	case 0x60:
	case 0xC7:
		if (!s->wel || (op == 0x60 && (p->flags & SIMF_CE_C7_ONLY)))
			break;
		{
			bool any = false;

			for (uint32_t a = 0; a < p->size && !any; a += KIB(64))
				any = protected_at(s, a, KIB(64));
			if (any) {
				refuse(s);
				break;
			}
		}
		if (do_erase(s, 0, p->size))
			start_busy(s, busy_time_ns(s, p->ce_typ_ms * 1000ull, p->ce_max_ms * 1000ull));
		break;
	case 0x01:
		if (!(s->wel || s->ewsr || vsr))
			break;
		if (atomic_load(&s->wp_low) && regbit(s, p->srp0)) {
			refuse(s);
			s->ewsr = false;
			break;
		}
		if (cmd_tx(c, &b))
			write_status(s, 1, b);
		if ((p->flags & SIMF_WRSR_2) && cmd_tx(c, &b))
			write_status(s, (p->flags & (SIMF_MX_CR | SIMF_SST26)) ? 4 : 2, b);
		s->ewsr = false;
		/* a volatile write takes effect at once and leaves WEL alone */
		if (!vsr)
			start_busy(s, busy_time_ns(s, p->tw_typ_us, p->tw_max_us));
		break;
	case 0x31:
	case 0x11:
		if (!(s->wel || vsr) || !(p->flags & (op == 0x31 ? SIMF_WRSR_31 : SIMF_SR3)))
			break;
		if (atomic_load(&s->wp_low) && regbit(s, p->srp0)) {
			refuse(s);
			break;
		}
		if (cmd_tx(c, &b))
			write_status(s, op == 0x31 ? 2 : 3, b);
		if (!vsr)
			start_busy(s, busy_time_ns(s, p->tw_typ_us, p->tw_max_us));
		break;
	case 0xB7:
	case 0xE9:
	case 0x29:
		if (!(p->flags & SIMF_EN4B) ||
		    (op != 0xB7 && (op == 0x29) != !!(p->flags & SIMF_EX4B_29)))
			break;
		if ((p->flags & SIMF_EN4B_WREN) && !s->wel)
			break;
		s->in_4b = op == 0xB7;
		if (p->flags & SIMF_EN4B_WREN)
			s->wel = false;
		break;
	case 0x72:
		/* RDBPR/WBPR move the register most significant byte first: BPR[143:136] is
		 * the first byte on the wire (DS20005119 5.18, 5.19); bpr[] is indexed by bit. */
		if (p->flags & SIMF_SST26)
			for (size_t i = 0; i < s->bpr_len && cmd_left(c); i++)
				cmd_rx(c, &s->bpr[s->bpr_len - 1 - i], 0, 1);
		break;
	case 0x42:
		if (!(p->flags & SIMF_SST26) || !s->wel)
			break;
		for (size_t i = 0; i < s->bpr_len && cmd_left(c); i++)
			cmd_tx(c, &s->bpr[s->bpr_len - 1 - i]);
		s->wel = false;
		break;
	case 0x98:
		if (!(p->flags & SIMF_SST26) || !s->wel)
			break;
		memset(s->bpr, 0, sizeof(s->bpr));
		s->wel = false;
		break;
	case 0x66:
	case 0x99:
	case 0xAB:
	case 0xB9:
		break;
	default: {
		const struct sim_erase *e = erase_for_op(s, op);

		if (!e)
			break; /* unknown opcodes are ignored, as chips do */
		if (e->op4 == op && !is_4b_op(s, op))
			break;
		if (!get_addr(c, addr_bytes_for(s, op), &addr) || !s->wel)
			break;
		if (p->flags & SIMF_SST26 && e->op == 0xD8) {
			/* variable block: 8 KiB at the ends, 32 KiB next, 64 KiB elsewhere */
			uint32_t a = addr % p->size, sz = KIB(64);

			if (a < KIB(32) || a >= p->size - KIB(32))
				sz = KIB(8);
			else if (a < KIB(64) || a >= p->size - KIB(64))
				sz = KIB(32);
			if (do_erase(s, a, sz))
				start_busy(s, busy_time_ns(s, e->typ_us, e->max_us));
		} else if (do_erase(s, addr % p->size, e->size)) {
			start_busy(s, busy_time_ns(s, e->typ_us, e->max_us));
		}
		break;
	}
	}
	/* anything after the command's own bytes reads as 0xFF (MISO released) */
	cmd_rx(c, NULL, 0xFF, cmd_left(c));
}

/* Whether a pending swap takes effect before this transaction (see struct simchip). */
static bool swap_due(struct simchip *s)
{
	uint64_t left;

	if (atomic_load(&s->swap_on_write))
		return atomic_load(&s->writes) > atomic_load(&s->swap_mark) && !busy(s);
	left = atomic_load(&s->swap_after);
	if (left) {
		atomic_store(&s->swap_after, left - 1);
		return false;
	}
	return true;
}

static void do_swap(struct simchip *s, const struct sim_profile *to)
{
	const struct sim_profile *from = s->p;

	/* a fault set meanwhile from another thread wins; it is seen on the next transaction */
	if (!atomic_compare_exchange_strong(&s->swap_to, &to, NULL))
		return;
	(void)cache_flush(s);
	power_up(s, to);
	atomic_fetch_add(&s->st_swaps, 1);
	if (s->o.on_swap)
		s->o.on_swap(s->o.userdata, from, to, atomic_load(&s->st_txn));
}

static int sim_transfer(struct spibus *bus, const struct spibus_seg *segs, size_t n)
{
	struct simchip *s = (struct simchip *)bus;
	size_t tx_total = 0, rx_total = 0, total = 0;
	const struct sim_profile *swap;
	uint64_t left;
	int miso;

	for (size_t i = 0; i < n; i++) {
		total += segs[i].len;
		if (segs[i].tx)
			tx_total += segs[i].len;
		if (segs[i].rx)
			rx_total += segs[i].len;
	}
	if (tx_total > s->bus.max_transfer || rx_total > s->bus.max_transfer)
		return -EMSGSIZE;

	swap = atomic_load(&s->swap_to);
	if (swap && swap_due(s))
		do_swap(s, swap);

	atomic_fetch_add(&s->st_txn, 1);
	atomic_fetch_add(&s->st_bytes, total);
	sim_advance(s, s->o.txn_overhead_ns);

	left = atomic_load(&s->xfer_error_in);
	if (left) {
		atomic_store(&s->xfer_error_in, left - 1);
		if (left == 1)
			return -EIO;
	}

	miso = atomic_load(&s->miso);
	for (size_t i = 0; i < n;) {
		size_t j = i, len = 0;

		/* one command: up to and including the segment that toggles CS */
		while (j < n) {
			len += segs[j].len;
			if (segs[j++].cs_toggle)
				break;
		}
		/* bytes are clocked before the chip acts on CS rising */
		sim_advance(s, (uint64_t)len * 8u * NSEC_PER_SEC / s->bus.speed_hz);
		if (miso != MISO_OK) {
			for (size_t k = i; k < j; k++)
				if (segs[k].rx)
					memset(segs[k].rx, miso == MISO_HIGH ? 0xFF : 0x00,
					       segs[k].len);
		} else if (len) {
			struct cmd c = {.segs = segs + i, .n = j - i, .len = len};

			/* status bytes are sampled when they are clocked; close enough: at the end
			 * of the command, minus nothing (polls are single bytes) */
			run_command(s, &c);
		}
		i = j;
	}
	/* write through: the image file always holds what the chip holds */
	return cache_flush(s) < 0 ? -EIO : 0;
}

static int sim_set_speed(struct spibus *bus, uint32_t hz)
{
	bus->speed_hz = hz;
	return 0;
}

static void sim_destroy(struct spibus *bus)
{
	simchip_close((struct simchip *)bus);
}

static const struct spibus_ops sim_ops = {
	.transfer = sim_transfer,
	.set_speed = sim_set_speed,
	.destroy = sim_destroy,
};

/* ---- public ---- */

void simchip_opts_init(struct simchip_opts *o)
{
	*o = (struct simchip_opts){
		.time_scale = 1.0,
		.txn_overhead_ns = 15000,
		.speed_hz = 32000000,
		.max_transfer = 65536,
		.seed = 1,
	};
}

static int errf(char *err, size_t len, int r, const char *fmt, ...) PRINTF_FMT(4, 5);

static int errf(char *err, size_t len, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return r;
}

static int image_open(const char *path, uint32_t size, const char *name, int *ret_fd, char *err,
		      size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT) {
		uint8_t *ff = malloc(CACHE_SIZE);

		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || !ff) {
			free(ff);
			if (fd >= 0)
				close(fd);
			return errf(err, errlen, -errno, "%s: cannot create the image: %s", path,
				    strerror(errno));
		}
		memset(ff, 0xFF, CACHE_SIZE);
		for (uint32_t a = 0; a < size; a += CACHE_SIZE) {
			if (pwrite(fd, ff, CACHE_SIZE, a) != (ssize_t)CACHE_SIZE) {
				int e = errno ? errno : ENOSPC;

				free(ff);
				close(fd);
				unlink(path);
				return errf(err, errlen, -e, "%s: cannot fill the new image: %s", path,
					    strerror(e));
			}
		}
		free(ff);
		if (fsync(fd) < 0) {
			close(fd);
			return errf(err, errlen, -errno, "%s: fsync: %s", path, strerror(errno));
		}
		*ret_fd = fd;
		return 0;
	}
	if (fd < 0)
		return errf(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return errf(err, errlen, -EINVAL, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size != size) {
		close(fd);
		return errf(err, errlen, -EINVAL, "%s: size %llu bytes, %s needs %u", path,
			    (unsigned long long)st.st_size, name, size);
	}
	*ret_fd = fd;
	return 0;
}

int simchip_open(const struct sim_profile *p, const char *image_path, const struct simchip_opts *o,
		 struct simchip **ret, char *err, size_t errlen)
{
	struct simchip_opts def;
	struct simchip *s;
	int r;

	if (!p || !image_path)
		return errf(err, errlen, -EINVAL, "no profile or image");
	if (!o) {
		simchip_opts_init(&def);
		o = &def;
	}
	if (o->time_scale < 0 || o->speed_hz == 0 || o->max_transfer < 16 ||
	    (unsigned)o->busy >= _SIMCHIP_BUSY_MAX)
		return errf(err, errlen, -EINVAL, "bad simulator options");
	s = calloc(1, sizeof(*s));
	if (!s)
		return errf(err, errlen, -ENOMEM, "out of memory");
	s->cache = malloc(CACHE_SIZE);
	if (!s->cache) {
		free(s);
		return errf(err, errlen, -ENOMEM, "out of memory");
	}
	r = image_open(image_path, p->size, p->name, &s->fd, err, errlen);
	if (r < 0) {
		free(s->cache);
		free(s);
		return r;
	}
	s->o = *o;
	s->rng = o->seed;
	power_up(s, p);
	snprintf(s->name, sizeof(s->name), "sim:%s", p->name);
	s->clk.base.ops = &simclock_ops;
	s->clk.s = s;
	s->bus = (struct spibus){
		.ops = &sim_ops,
		.name = s->name,
		.clock = &s->clk.base,
		.max_transfer = o->max_transfer,
		.speed_hz = o->speed_hz,
		.mode = 0,
		.cs_toggle_ok = true,
		.txn_overhead_ns = o->txn_overhead_ns,
	};
	*ret = s;
	return 0;
}

void simchip_close(struct simchip *s)
{
	if (!s)
		return;
	(void)cache_flush(s);
	(void)fsync(s->fd);
	close(s->fd);
	free(s->cache);
	free(s);
}

struct spibus *simchip_bus(struct simchip *s)
{
	return &s->bus;
}

struct fclock *simchip_clock(struct simchip *s)
{
	return &s->clk.base;
}

void simchip_get_stats(const struct simchip *s, struct simchip_stats *ret)
{
	struct simchip *m = (struct simchip *)s;

	ret->transactions = atomic_load(&m->st_txn);
	ret->bytes = atomic_load(&m->st_bytes);
	ret->status_polls = atomic_load(&m->st_polls);
	ret->busy_ns = atomic_load(&m->st_busy);
	ret->modelled_ns = atomic_load(&m->st_model);
	ret->programs = atomic_load(&m->st_programs);
	ret->erases = atomic_load(&m->st_erases);
	ret->swaps = atomic_load(&m->st_swaps);
}

void simchip_reset_stats(struct simchip *s)
{
	atomic_store(&s->st_txn, 0);
	atomic_store(&s->st_bytes, 0);
	atomic_store(&s->st_polls, 0);
	atomic_store(&s->st_busy, 0);
	atomic_store(&s->st_programs, 0);
	atomic_store(&s->st_erases, 0);
	atomic_store(&s->st_swaps, 0);
}

int simchip_stats_format(const struct simchip_stats *st, char *buf, size_t len)
{
	const uint64_t busy_us = (st->busy_ns + 500) / 1000, model_us = (st->modelled_ns + 500) / 1000;

	return snprintf(buf, len,
			"%llu transactions, %llu bytes, %llu status polls, %llu programs, %llu "
			"erases, %llu swaps, busy %llu.%06llu s of %llu.%06llu s modelled",
			(unsigned long long)st->transactions, (unsigned long long)st->bytes,
			(unsigned long long)st->status_polls, (unsigned long long)st->programs,
			(unsigned long long)st->erases, (unsigned long long)st->swaps,
			(unsigned long long)(busy_us / USEC_PER_SEC),
			(unsigned long long)(busy_us % USEC_PER_SEC),
			(unsigned long long)(model_us / USEC_PER_SEC),
			(unsigned long long)(model_us % USEC_PER_SEC));
}

static const char *const busy_names[_SIMCHIP_BUSY_MAX] = {
	[SIMCHIP_BUSY_TYPICAL] = "typical",
	[SIMCHIP_BUSY_RANDOM] = "random",
	[SIMCHIP_BUSY_MAXIMUM] = "max",
};

int simchip_busy_parse(const char *str, enum simchip_busy *ret)
{
	if (!str)
		return -EINVAL;
	for (unsigned i = 0; i < _SIMCHIP_BUSY_MAX; i++) {
		if (!strcasecmp(str, busy_names[i])) {
			*ret = (enum simchip_busy)i;
			return 0;
		}
	}
	if (!strcasecmp(str, "maximum")) {
		*ret = SIMCHIP_BUSY_MAXIMUM;
		return 0;
	}
	return -EINVAL;
}

const char *simchip_busy_name(enum simchip_busy b)
{
	return (unsigned)b < _SIMCHIP_BUSY_MAX ? busy_names[b] : NULL;
}

int simchip_seed_parse(const char *str, uint64_t *ret)
{
	unsigned long long v;
	char *end;
	int base = 10;

	if (!str || !*str)
		return -EINVAL;
	if (str[0] == '0' && (str[1] == 'x' || str[1] == 'X')) {
		str += 2;
		base = 16;
	}
	/* strtoull would take leading spaces and a sign (and negate); refuse them */
	if (!(base == 16 ? isxdigit((unsigned char)*str) : isdigit((unsigned char)*str)))
		return -EINVAL;
	errno = 0;
	v = strtoull(str, &end, base);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*ret = (uint64_t)v;
	return 0;
}

const struct sim_profile *simchip_profile(const struct simchip *s)
{
	return atomic_load(&((struct simchip *)s)->cur);
}

/* swap=PROFILE, swap=PROFILE@N, swap=PROFILE@write */
static int swap_parse(struct simchip *s, const char *spec, const char *v, char *err,
		      size_t errlen)
{
	const struct sim_profile *cur = atomic_load(&s->cur), *p;
	const char *at = v ? strchr(v, '@') : NULL;
	unsigned long long after = 0;
	bool on_write = false;
	char name[sizeof(p->name)];
	size_t len = at ? (size_t)(at - v) : strlen(v ? v : "");

	if (!v || !len || len >= sizeof(name))
		return errf(err, errlen, -EINVAL, "fault \"%s\": swap=PROFILE[@N|@write]", spec);
	memcpy(name, v, len);
	name[len] = '\0';
	p = sim_profile_find(name);
	if (!p)
		return errf(err, errlen, -EINVAL, "fault \"%s\": no profile \"%s\"", spec, name);
	if (p->size != cur->size)
		return errf(err, errlen, -EINVAL, "fault \"%s\": %s is not the same size as %s",
			    spec, p->name, cur->name);
	if (at && !strcmp(at + 1, "write")) {
		on_write = true;
	} else if (at) {
		char *end;

		errno = 0;
		after = strtoull(at + 1, &end, 10);
		if (!at[1] || *end || errno || after == 0 || at[1] == '-')
			return errf(err, errlen, -EINVAL,
				    "fault \"%s\": swap=PROFILE@N needs N >= 1 transactions, or "
				    "@write",
				    spec);
	}
	atomic_store(&s->swap_to, NULL);
	atomic_store(&s->swap_after, (uint64_t)after);
	atomic_store(&s->swap_mark, atomic_load(&s->writes));
	atomic_store(&s->swap_on_write, on_write);
	atomic_store(&s->swap_to, p);
	return 0;
}

int simchip_fault_parse(struct simchip *s, const char *spec, char *err, size_t errlen)
{
	const char *v = strchr(spec ? spec : "", '=');
	size_t klen = v ? (size_t)(v - spec) : strlen(spec ? spec : "");

	if (!spec || !*spec)
		return errf(err, errlen, -EINVAL, "empty fault");
	if (v)
		v++;
#define KEY(k) (klen == strlen(k) && strncmp(spec, k, klen) == 0)
	if (KEY("no-chip")) {
		if (!v || !strcmp(v, "high"))
			atomic_store(&s->miso, MISO_HIGH);
		else if (!strcmp(v, "low"))
			atomic_store(&s->miso, MISO_LOW);
		else
			return errf(err, errlen, -EINVAL, "fault \"%s\": no-chip=high or low", spec);
	} else if (KEY("wip-stuck") && !v) {
		atomic_store(&s->wip_stuck, true);
	} else if (KEY("program-fail") && !v) {
		atomic_store(&s->program_fail, true);
	} else if (KEY("erase-fail") && !v) {
		atomic_store(&s->erase_fail, true);
	} else if (KEY("wp") && !v) {
		atomic_store(&s->wp_low, true);
	} else if (KEY("xfer-error")) {
		char *end;
		unsigned long long n = v ? strtoull(v, &end, 10) : 0;

		if (!v || !*v || *end || n == 0)
			return errf(err, errlen, -EINVAL,
				    "fault \"%s\": xfer-error=N with N >= 1", spec);
		atomic_store(&s->xfer_error_in, (uint64_t)n);
	} else if (KEY("swap")) {
		return swap_parse(s, spec, v, err, errlen);
	} else if (KEY("clear") && !v) {
		atomic_store(&s->swap_to, NULL);
		atomic_store(&s->miso, MISO_OK);
		atomic_store(&s->wip_stuck, false);
		atomic_store(&s->program_fail, false);
		atomic_store(&s->erase_fail, false);
		atomic_store(&s->wp_low, false);
		atomic_store(&s->xfer_error_in, 0);
	} else {
		return errf(err, errlen, -EINVAL,
			    "unknown fault \"%s\" (no-chip=high|low, wip-stuck, program-fail, "
			    "erase-fail, xfer-error=N, swap=PROFILE[@N|@write], wp, clear)",
			    spec);
	}
#undef KEY
	return 0;
}
