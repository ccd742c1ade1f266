/* SPDX-License-Identifier: MIT */
/*
 * ops.c - flash algorithms: the two-pass smart write, erase planning, confirmed reads,
 * verify and blank check. See ops.h for the contract.
 *
 * Units: W is the largest erase size (a window), U the smallest (a unit), P the page size.
 * Pass 1 of a write decides per window which units need an erase (some bit must go 0 -> 1),
 * which pages need programming, and picks the cheapest erase cover with ops_plan_erase().
 * Pass 2 replays that plan from the spool file. Neither pass holds more than two windows.
 */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "chip_info.h"
#include "util.h"

#define CE_UNIT_INDEX SIZE_MAX

void ops_write_opts_init(struct ops_write_opts *o)
{
	*o = (struct ops_write_opts){.verify = true, .preserve = true, .backup = true};
}

void ops_erase_opts_init(struct ops_erase_opts *o)
{
	*o = (struct ops_erase_opts){.backup = true};
}

/* ---- small helpers ---- */

struct hashes {
	uLong crc;
	struct sha256_ctx sha;
};

static void hashes_init(struct hashes *h)
{
	h->crc = crc32(0L, Z_NULL, 0);
	sha256_init(&h->sha);
}

static void hashes_update(struct hashes *h, const uint8_t *buf, size_t len)
{
	while (len) {
		uInt n = (uInt)MIN(len, (size_t)1 << 30);

		h->crc = crc32(h->crc, buf, n);
		sha256_update(&h->sha, n, buf);
		buf += n;
		len -= n;
	}
}

static void hashes_final(struct hashes *h, struct ops_result *res)
{
	uint8_t d[SHA256_DIGEST_SIZE];

	res->crc32 = (uint32_t)h->crc;
	sha256_digest(&h->sha, sizeof(d), d);
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(res->sha256 + 2 * i, 3, "%02x", d[i]);
}

static int op_fail(struct nor_error *e, int code, const char *op, bool has_addr, uint32_t addr,
		   const char *fmt, ...) PRINTF_FMT(6, 7);

static int op_fail(struct nor_error *e, int code, const char *op, bool has_addr, uint32_t addr,
		   const char *fmt, ...)
{
	va_list ap;

	if (code > 0)
		code = -code;
	e->code = code;
	snprintf(e->op, sizeof(e->op), "%s", op);
	e->has_addr = has_addr;
	e->addr = addr;
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
	return code;
}

/* Copy the chip layer's error (it knows op and address) into the caller's record. */
static int nor_err(struct nor *nor, int r, struct nor_error *e)
{
	const struct nor_error *ne = nor_last_error(nor);

	if (ne->code)
		*e = *ne;
	else
		op_fail(e, r, "chip", false, 0, "chip operation failed");
	e->code = r;
	return r;
}

/*
 * The job already failed and the protection could not be put back either: keep the job's
 * error and add the restore's ("protection NOT restored: ..."), so neither is lost.
 */
static void add_restore_failure(struct nor *nor, struct nor_error *e)
{
	const char *why = nor_last_error(nor)->detail;
	size_t used = strnlen(e->detail, sizeof(e->detail));

	for (const char *p = "; "; *p && used + 1 < sizeof(e->detail);)
		e->detail[used++] = *p++;
	while (*why && used + 1 < sizeof(e->detail))
		e->detail[used++] = *why++;
	e->detail[used] = '\0';
}

static bool h_cancelled(const struct ops_hooks *h)
{
	return h->cancelled && h->cancelled(h->ctx);
}

static void h_phase(const struct ops_hooks *h, enum ops_phase p, uint64_t total)
{
	if (h->phase)
		h->phase(h->ctx, p, total);
}

static void h_plan(const struct ops_hooks *h, enum ops_phase p, uint64_t total)
{
	if (h->plan)
		h->plan(h->ctx, p, total);
}

static void h_progress(const struct ops_hooks *h, uint64_t n)
{
	if (h->progress)
		h->progress(h->ctx, n);
}

static void h_range(const struct ops_hooks *h, enum ops_range_kind k, uint32_t addr, uint32_t len)
{
	if (h->range && len)
		h->range(h->ctx, k, addr, len);
}

static bool all_ff(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0xFF)
			return false;
	return true;
}

static uint32_t geometry_window(const struct chip_info *info)
{
	uint32_t w = 0;

	for (unsigned i = 0; i < info->n_erase; i++)
		w = MAX(w, info->erase[i].size);
	return w;
}

static uint32_t geometry_unit(const struct chip_info *info)
{
	uint32_t u = UINT32_MAX;

	for (unsigned i = 0; i < info->n_erase; i++)
		u = MIN(u, info->erase[i].size);
	return u;
}

static int check_range(const struct nor *nor, const char *op, uint32_t addr, uint64_t len,
		       struct nor_error *e)
{
	const struct chip_info *info = nor_info(nor);

	if (len > info->size)
		return op_fail(e, -EFBIG, op, true, addr,
			       "%llu bytes is larger than the %u-byte %s",
			       (unsigned long long)len, info->size, info->name);
	if (!range_within(addr, len, info->size))
		return op_fail(e, -EINVAL, op, true, addr,
			       "0x%06X + %llu bytes runs past the end of the %u-byte chip", addr,
			       (unsigned long long)len, info->size);
	return 0;
}

static int check_erasable(const struct nor *nor, const char *op, struct nor_error *e)
{
	const struct chip_info *info = nor_info(nor);

	if (info->n_erase == 0 || info->size == 0)
		return op_fail(e, -ENOTSUP, op, false, 0,
			       "%s: size or erase types unknown; the chip is read-only until they "
			       "are given in the config ([chip] size, erase)",
			       info->name);
	return 0;
}

/* ---- erase planning ---- */

static uint64_t program_cost_us(const struct chip_info *info, size_t pages)
{
	return (uint64_t)pages * (info->page_program_typ_us ? info->page_program_typ_us : 1000u);
}

int ops_plan_erase(const struct chip_info *info, uint32_t base, const bool *need,
		   const uint64_t *reprogram_us, size_t n_units, bool allow_chip_erase,
		   struct ops_erase_step *steps, size_t max_steps, size_t *ret_n)
{
	const uint32_t unit = geometry_unit(info);
	uint64_t *cost;
	size_t *choice, n = 0;
	bool any = false;

	if (!info->n_erase || !n_units)
		return -EINVAL;
	cost = calloc(n_units + 1, sizeof(*cost));
	choice = calloc(n_units + 1, sizeof(*choice));
	if (!cost || !choice) {
		free(cost);
		free(choice);
		return -ENOMEM;
	}
	/* cost[u]: cheapest way to deal with units u.. end; choice[u]: erase type index or
	 * n_erase for "leave unit u alone" (only allowed when it needs no erase). */
	for (size_t u = n_units; u-- > 0;) {
		uint64_t best = UINT64_MAX;
		size_t best_c = SIZE_MAX;

		if (!need[u]) {
			best = cost[u + 1];
			best_c = info->n_erase;
		}
		for (unsigned t = 0; t < info->n_erase; t++) {
			const struct chip_erase_type *et = &info->erase[t];
			uint32_t span = et->size / unit;
			uint64_t c;

			if ((base + (uint64_t)u * unit) % et->size || u + span > n_units)
				continue;
			c = (et->typ_us ? et->typ_us : 1000000u) + cost[u + span];
			for (uint32_t k = 0; k < span; k++)
				if (!need[u + k])
					c += reprogram_us ? reprogram_us[u + k] : 0;
			if (c < best) {
				best = c;
				best_c = t;
			}
		}
		if (best_c == SIZE_MAX) {
			free(cost);
			free(choice);
			return -EINVAL; /* a needed unit no erase type can cover */
		}
		cost[u] = best;
		choice[u] = best_c;
	}
	for (size_t u = 0; u < n_units; u++)
		any |= need[u];

	if (allow_chip_erase && any && info->chip_erase_opcode && base == 0 &&
	    (uint64_t)n_units * unit == info->size &&
	    (uint64_t)info->chip_erase_typ_ms * 1000u < cost[0]) {
		if (max_steps < 1)
			goto too_many;
		steps[0] = (struct ops_erase_step){.addr = 0, .size = info->size};
		*ret_n = 1;
		free(cost);
		free(choice);
		return 0;
	}
	for (size_t u = 0; u < n_units;) {
		if (choice[u] == info->n_erase) {
			u++;
			continue;
		}
		if (n >= max_steps)
			goto too_many;
		steps[n].addr = base + (uint32_t)(u * unit);
		steps[n].size = info->erase[choice[u]].size;
		u += info->erase[choice[u]].size / unit;
		n++;
	}
	free(cost);
	free(choice);
	*ret_n = n;
	return 0;
too_many:
	free(cost);
	free(choice);
	return -ENOBUFS;
}

/* ---- spool: new contents of changed windows, in an anonymous file ---- */

static int spool_open(const char *dir)
{
	int fd = open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	return fd < 0 ? -errno : fd;
}

static int pwrite_all(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int pread_all(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* ---- the plan ---- */

#define MAX_STEPS_PER_WINDOW 64

struct plan_window {
	uint32_t addr, len;
	uint64_t spool_off;
	uint8_t n_erase;
	struct ops_erase_step erase[MAX_STEPS_PER_WINDOW];
	uint8_t *prog;	/* one flag per page */
	uint8_t *touch; /* one flag per unit: erased or programmed, so verified */
};

struct plan {
	struct plan_window *w;
	size_t n, cap;
	uint64_t erase_bytes, program_bytes, verify_bytes;
	uint32_t pages_per_window, units_per_window;
};

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->w[i].prog);
		free(p->w[i].touch);
	}
	free(p->w);
	memset(p, 0, sizeof(*p));
}

static struct plan_window *plan_add(struct plan *p)
{
	struct plan_window *w;

	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct plan_window *nw = realloc(p->w, cap * sizeof(*nw));

		if (!nw)
			return NULL;
		p->w = nw;
		p->cap = cap;
	}
	w = &p->w[p->n];
	memset(w, 0, sizeof(*w));
	w->prog = calloc(p->pages_per_window, 1);
	w->touch = calloc(p->units_per_window, 1);
	if (!w->prog || !w->touch) {
		free(w->prog);
		free(w->touch);
		return NULL;
	}
	p->n++;
	return w;
}

struct write_ctx {
	struct nor *nor;
	const struct chip_info *info;
	const struct ops_hooks *h;
	struct nor_error *e;
	uint32_t W, U, P;
	int spool_fd;
	uint64_t spool_len;
	struct plan plan;
	bool *need;
	uint64_t *reprog;
};

/*
 * Plan one window. old/new hold its current and wanted contents; [lo, hi) is the part the
 * caller asked to change. erase_all forces every unit of [lo, hi) to be erased (full mode).
 */
static int plan_window(struct write_ctx *c, uint32_t waddr, uint32_t wlen, const uint8_t *old,
		       const uint8_t *new, uint32_t lo, uint32_t hi, bool erase_all, bool preserve,
		       const char *op)
{
	const uint32_t units = wlen / c->U, pages_per_unit = c->U / c->P;
	struct plan_window *w;
	size_t n_steps = 0;
	bool any_need = false;
	int r;

	for (uint32_t u = 0; u < units; u++) {
		const uint8_t *o = old + (size_t)u * c->U, *nw = new + (size_t)u * c->U;
		uint32_t ua = waddr + u * c->U;
		bool in_range = ua + c->U > lo && ua < hi;

		c->need[u] = false;
		if (in_range && erase_all) {
			c->need[u] = true;
		} else {
			for (uint32_t i = 0; i < c->U; i++) {
				if ((o[i] & nw[i]) != nw[i]) {
					c->need[u] = true;
					break;
				}
			}
		}
		if (c->need[u] && (ua < lo || ua + c->U > hi) && !preserve)
			return op_fail(c->e, -EINVAL, op, true, ua,
				       "the range is not aligned to %u-byte erase units and the "
				       "unit at 0x%06X must be erased; allow preserve to keep the "
				       "bytes around it",
				       c->U, ua);
		/* cost of reprogramming this unit if a bigger erase sweeps it along */
		c->reprog[u] = 0;
		for (uint32_t pg = 0; pg < pages_per_unit; pg++)
			if (!all_ff(nw + (size_t)pg * c->P, c->P))
				c->reprog[u] += program_cost_us(c->info, 1);
		/* units outside the asked range may only be swept along when preserving */
		if (!in_range && !preserve)
			c->reprog[u] = (uint64_t)1 << 40; /* effectively never */
		any_need |= c->need[u];
	}

	w = plan_add(&c->plan);
	if (!w)
		return op_fail(c->e, -ENOMEM, op, true, waddr, "out of memory planning");
	w->addr = waddr;
	w->len = wlen;
	if (any_need) {
		r = ops_plan_erase(c->info, waddr, c->need, c->reprog, units, false, w->erase,
				   MAX_STEPS_PER_WINDOW, &n_steps);
		if (r < 0)
			return op_fail(c->e, r, op, true, waddr, "no erase plan for this window");
	}
	w->n_erase = (uint8_t)n_steps;
	for (size_t s = 0; s < n_steps; s++) {
		uint32_t first = (w->erase[s].addr - waddr) / c->U;

		for (uint32_t k = 0; k < w->erase[s].size / c->U; k++)
			w->touch[first + k] = 2; /* erased */
		c->plan.erase_bytes += w->erase[s].size;
	}
	for (uint32_t pg = 0; pg < wlen / c->P; pg++) {
		const uint8_t *o = old + (size_t)pg * c->P, *nw = new + (size_t)pg * c->P;
		uint32_t u = pg / pages_per_unit;
		bool erased = w->touch[u] == 2;

		if (erased ? !all_ff(nw, c->P) : memcmp(o, nw, c->P) != 0) {
			w->prog[pg] = 1;
			if (!w->touch[u])
				w->touch[u] = 1;
			c->plan.program_bytes += c->P;
		}
	}
	for (uint32_t u = 0; u < units; u++)
		if (w->touch[u])
			c->plan.verify_bytes += c->U;
	if (!w->n_erase && c->plan.n && !memchr(w->prog, 1, c->plan.pages_per_window)) {
		/* nothing to do after all */
		free(w->prog);
		free(w->touch);
		c->plan.n--;
		return 0;
	}
	w->spool_off = c->spool_len;
	r = pwrite_all(c->spool_fd, new, wlen, c->spool_len);
	if (r < 0)
		return op_fail(c->e, r, op, true, waddr, "cannot spool the new contents");
	c->spool_len += wlen;
	/* old contents of every unit that will change */
	if (c->h->backup_add) {
		for (uint32_t u = 0; u < units; u++) {
			if (!w->touch[u])
				continue;
			r = c->h->backup_add(c->h->ctx, waddr + u * c->U, old + (size_t)u * c->U,
					     c->U);
			if (r < 0)
				return op_fail(c->e, r, op, true, waddr + u * c->U,
					       "cannot save the old contents to the backup");
		}
	}
	return 0;
}

static int write_setup(struct write_ctx *c, struct nor *nor, const struct ops_hooks *h,
		       struct nor_error *e, const char *spool_dir, const char *op)
{
	memset(c, 0, sizeof(*c));
	c->nor = nor;
	c->info = nor_info(nor);
	c->h = h;
	c->e = e;
	c->W = geometry_window(c->info);
	c->U = geometry_unit(c->info);
	c->P = c->info->page_size ? c->info->page_size : 256;
	if (c->P > c->U || c->U % c->P || c->W % c->U)
		return op_fail(e, -EINVAL, op, false, 0,
			       "inconsistent geometry: page %u, erase units %u..%u", c->P, c->U,
			       c->W);
	c->plan.pages_per_window = c->W / c->P;
	c->plan.units_per_window = c->W / c->U;
	c->need = calloc(c->plan.units_per_window, sizeof(*c->need));
	c->reprog = calloc(c->plan.units_per_window, sizeof(*c->reprog));
	if (!c->need || !c->reprog)
		return op_fail(e, -ENOMEM, op, false, 0, "out of memory");
	c->spool_fd = spool_open(spool_dir);
	if (c->spool_fd < 0)
		return op_fail(e, c->spool_fd, op, false, 0, "cannot create a spool file in %s",
			       spool_dir ? spool_dir : "/tmp");
	return 0;
}

static void write_teardown(struct write_ctx *c)
{
	if (c->spool_fd > 0)
		close(c->spool_fd);
	free(c->need);
	free(c->reprog);
	plan_free(&c->plan);
}

/* Pass 2: run the plan. *ret_changed tells whether anything on the chip was touched. */
static int execute_plan(struct write_ctx *c, bool verify, const char *op, struct ops_result *res)
{
	uint8_t *buf = malloc(c->W), *back = malloc(c->W);
	int r = 0;

	if (!buf || !back) {
		r = op_fail(c->e, -ENOMEM, op, false, 0, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c->plan.n; i++) {
		struct plan_window *w = &c->plan.w[i];

		r = pread_all(c->spool_fd, buf, w->len, w->spool_off);
		if (r < 0) {
			r = op_fail(c->e, r, op, true, w->addr, "cannot read back the spool");
			goto out;
		}
		if (w->n_erase)
			h_phase(c->h, OPS_PHASE_ERASING, c->plan.erase_bytes);
		for (unsigned s = 0; s < w->n_erase; s++) {
			if (h_cancelled(c->h)) {
				r = op_fail(c->e, -ECANCELED, op, true, w->erase[s].addr,
					    "cancelled before erasing");
				goto out;
			}
			h_range(c->h, OPS_RANGE_ERASED, w->erase[s].addr, w->erase[s].size);
			r = w->erase[s].size == c->info->size ? nor_chip_erase(c->nor)
							      : nor_erase(c->nor, w->erase[s].addr,
									  w->erase[s].size);
			if (r < 0) {
				r = nor_err(c->nor, r, c->e);
				goto out;
			}
			res->erased += w->erase[s].size;
			res->erase_commands++;
			h_progress(c->h, w->erase[s].size);
		}
		if (memchr(w->prog, 1, w->len / c->P))
			h_phase(c->h, OPS_PHASE_PROGRAMMING, c->plan.program_bytes);
		for (uint32_t pg = 0; pg < w->len / c->P;) {
			uint32_t run = 0;

			if (!w->prog[pg]) {
				pg++;
				continue;
			}
			if (h_cancelled(c->h)) {
				r = op_fail(c->e, -ECANCELED, op, true, w->addr + pg * c->P,
					    "cancelled before programming");
				goto out;
			}
			/* one page per call so cancel acts at page boundaries; byte-program parts
			 * (page size 1) take runs of up to 256 bytes so AAI can stream words */
			while (pg + run < w->len / c->P && w->prog[pg + run] &&
			       (run < 1 || (c->P == 1 && run < 256)))
				run++;
			h_range(c->h, OPS_RANGE_PROGRAMMED, w->addr + pg * c->P, run * c->P);
			r = nor_program(c->nor, w->addr + pg * c->P, buf + (size_t)pg * c->P,
					(size_t)run * c->P);
			if (r < 0) {
				r = nor_err(c->nor, r, c->e);
				goto out;
			}
			res->programmed += (uint64_t)run * c->P;
			res->program_commands += run;
			h_progress(c->h, (uint64_t)run * c->P);
			pg += run;
		}
		if (!verify)
			continue;
		for (uint32_t u = 0; u < w->len / c->U;) {
			uint32_t run = 0;

			if (!w->touch[u]) {
				u++;
				continue;
			}
			h_phase(c->h, OPS_PHASE_VERIFYING, c->plan.verify_bytes);
			while (u + run < w->len / c->U && w->touch[u + run])
				run++;
			r = nor_read(c->nor, w->addr + u * c->U, back, (size_t)run * c->U);
			if (r < 0) {
				r = nor_err(c->nor, r, c->e);
				goto out;
			}
			for (size_t k = 0; k < (size_t)run * c->U; k++) {
				const uint8_t *want = buf + (size_t)u * c->U;

				if (back[k] != want[k]) {
					uint32_t a = w->addr + u * c->U + (uint32_t)k;

					h_range(c->h, OPS_RANGE_MISMATCH, a, 1);
					r = op_fail(c->e, -EBADMSG, "verify", true, a,
						    "read back 0x%02X, wrote 0x%02X", back[k],
						    want[k]);
					goto out;
				}
			}
			h_progress(c->h, (uint64_t)run * c->U);
			u += run;
		}
	}
out:
	free(buf);
	free(back);
	return r;
}

/* ---- public operations ---- */

int ops_write(struct nor *nor, const struct ops_hooks *h, uint32_t addr, uint64_t len,
	      const struct ops_write_opts *o, struct ops_result *ret, struct nor_error *ret_err)
{
	struct ops_result res = {0};
	struct nor_protect_saved saved = {0};
	struct nor_error e = {0};
	struct write_ctx c;
	struct hashes hs;
	uint8_t *old = NULL, *new = NULL;
	uint64_t end = (uint64_t)addr + len;
	bool unlocked = false;
	ssize_t got;
	int r, r2;

	hashes_init(&hs);
	r = check_range(nor, "write", addr, len, &e);
	if (r >= 0)
		r = check_erasable(nor, "write", &e);
	if (r < 0)
		goto done_early;
	r = write_setup(&c, nor, h, &e, o->spool_dir, "write");
	if (r < 0)
		goto done;
	/* protection first: a protected range fails before a byte is read or erased */
	r = nor_protect_check(nor, addr, len);
	if (r < 0 && r == -EROFS && o->unlock) {
		nor_clear_error(nor);
		r = 0;
	} else if (r < 0) {
		r = nor_err(nor, r, &e);
		goto done;
	}

	old = malloc(c.W);
	new = malloc(c.W);
	if (!old || !new) {
		r = op_fail(&e, -ENOMEM, "write", false, 0, "out of memory");
		goto done;
	}

	/* pass 1: read, compare, plan, spool, back up; until it ends, the worst case is planned */
	{
		uint64_t span = (end + c.W - 1) / c.W * c.W - (addr - addr % c.W);

		h_plan(h, OPS_PHASE_READING, len);
		h_plan(h, OPS_PHASE_ERASING, span);
		h_plan(h, OPS_PHASE_PROGRAMMING, span);
		h_plan(h, OPS_PHASE_VERIFYING, o->verify ? span : 0);
	}
	h_phase(h, OPS_PHASE_READING, len);
	for (uint64_t wa = addr - addr % c.W; wa < end; wa += c.W) {
		uint32_t waddr = (uint32_t)wa, wlen = (uint32_t)MIN((uint64_t)c.W,
								   c.info->size - wa);
		uint32_t lo = (uint32_t)MAX((uint64_t)addr, wa);
		uint32_t hi = (uint32_t)MIN(end, wa + wlen);

		if (h->overlay) {
			/* sparse image: go straight to the next window it has bytes in */
			uint64_t next = h->overlay_next(h->ctx, lo);

			if (next >= end)
				break;
			if (next >= (uint64_t)waddr + wlen) {
				wa = next - next % c.W - c.W;
				continue;
			}
		}
		if (h_cancelled(h)) {
			r = op_fail(&e, -ECANCELED, "write", true, waddr,
				    "cancelled while comparing; nothing was changed");
			goto done;
		}
		r = nor_read(nor, waddr, old, wlen);
		if (r < 0) {
			r = nor_err(nor, r, &e);
			goto done;
		}
		memcpy(new, old, wlen);
		if (h->overlay) {
			r = h->overlay(h->ctx, lo, new + (lo - waddr), hi - lo);
			if (r < 0) {
				r = op_fail(&e, r, "write", true, lo,
					    "the image could not be read; nothing was changed");
				goto done;
			}
			got = (ssize_t)(hi - lo);
		} else {
			got = h->source(h->ctx, new + (lo - waddr), hi - lo);
		}
		if (got < (ssize_t)(hi - lo)) {
			r = op_fail(&e, got < 0 ? (int)got : -EPIPE, "write", true, lo,
				    got < 0 ? "the image stream failed after %llu of %llu bytes; "
					      "nothing was changed"
					    : "the image ended after %llu of %llu bytes; nothing was "
					      "changed",
				    (unsigned long long)(lo - addr + (got > 0 ? (size_t)got : 0)),
				    (unsigned long long)len);
			goto done;
		}
		hashes_update(&hs, new + (lo - waddr), hi - lo);
		res.bytes += hi - lo;
		if (o->full || memcmp(old, new, wlen) != 0) {
			r = plan_window(&c, waddr, wlen, old, new, lo, hi, o->full, o->preserve,
					"write");
			if (r < 0)
				goto done;
		}
		h_progress(h, hi - lo);
	}
	if (h->source_end) {
		r = h->source_end(h->ctx);
		if (r < 0) {
			r = op_fail(&e, r, "write", false, 0,
				    "the image is longer than the %llu bytes announced; nothing "
				    "was changed",
				    (unsigned long long)len);
			goto done;
		}
	}
	hashes_final(&hs, &res);
	h_plan(h, OPS_PHASE_BACKUP, o->backup && h->backup_commit ? c.plan.verify_bytes : 0);
	h_plan(h, OPS_PHASE_ERASING, c.plan.erase_bytes);
	h_plan(h, OPS_PHASE_PROGRAMMING, c.plan.program_bytes);
	h_plan(h, OPS_PHASE_VERIFYING, o->verify ? c.plan.verify_bytes : 0);
	if (c.plan.n == 0)
		goto done; /* the chip already holds the image */

	if (o->backup && h->backup_commit) {
		h_phase(h, OPS_PHASE_BACKUP, c.plan.verify_bytes);
		r = h->backup_commit(h->ctx);
		if (r < 0) {
			r = op_fail(&e, r, "backup", false, 0,
				    "cannot make the backup durable; nothing was changed");
			goto done;
		}
		h_progress(h, c.plan.verify_bytes);
	}
	if (o->unlock) {
		r = nor_protect_check(nor, addr, len);
		if (r == -EROFS) {
			nor_clear_error(nor);
			r = nor_unlock(nor, &saved);
			if (r < 0) {
				r = nor_err(nor, r, &e);
				goto done;
			}
			unlocked = true;
		} else if (r < 0) {
			r = nor_err(nor, r, &e);
			goto done;
		}
	}

	/* pass 2 */
	r = execute_plan(&c, o->verify, "write", &res);

done:
	if (unlocked) {
		r2 = nor_protect_restore(nor, &saved);
		res.unlocked = true;
		if (r2 < 0 && r >= 0)
			r = nor_err(nor, r2, &e);
		else if (r2 < 0)
			add_restore_failure(nor, &e);
	}
	write_teardown(&c);
done_early:
	free(old);
	free(new);
	if (r < 0 && ret_err)
		*ret_err = e;
	if (ret) {
		if (r < 0 || !res.sha256[0])
			hashes_final(&hs, &res);
		*ret = res;
	}
	return r;
}

int ops_erase(struct nor *nor, const struct ops_hooks *h, uint32_t addr, uint64_t len,
	      const struct ops_erase_opts *o, struct ops_result *ret, struct nor_error *ret_err)
{
	const struct chip_info *info = nor_info(nor);
	struct ops_result res = {0};
	struct nor_protect_saved saved = {0};
	struct nor_error e = {0};
	struct write_ctx c;
	uint64_t end = (uint64_t)addr + len;
	uint8_t *old = NULL, *new = NULL;
	bool unlocked = false, whole = addr == 0 && len == info->size;
	int r, r2;

	memset(&c, 0, sizeof(c));
	r = check_range(nor, "erase", addr, len, &e);
	if (r >= 0)
		r = check_erasable(nor, "erase", &e);
	if (r < 0)
		goto out;
	r = write_setup(&c, nor, h, &e, o->spool_dir, "erase");
	if (r < 0)
		goto out;
	if ((addr % c.U || end % c.U) && !o->preserve) {
		r = op_fail(&e, -EINVAL, "erase", true, addr % c.U ? addr : (uint32_t)end,
			    "the range is not aligned to the %u-byte erase unit; allow preserve "
			    "to keep the bytes around it",
			    c.U);
		goto out;
	}
	r = nor_protect_check(nor, addr, len);
	if (r == -EROFS && o->unlock) {
		nor_clear_error(nor);
		r = 0;
	} else if (r < 0) {
		r = nor_err(nor, r, &e);
		goto out;
	}

	if (o->backup || (o->preserve && (addr % c.U || end % c.U))) {
		/* read first: back up, skip blank units, keep unaligned edges */
		old = malloc(c.W);
		new = malloc(c.W);
		if (!old || !new) {
			r = op_fail(&e, -ENOMEM, "erase", false, 0, "out of memory");
			goto out;
		}
		/* reading to save the old contents is the backup phase */
		enum ops_phase first = o->backup ? OPS_PHASE_BACKUP : OPS_PHASE_READING;
		uint64_t span = (end + c.W - 1) / c.W * c.W - (addr - addr % c.W);

		h_plan(h, first, len);
		h_plan(h, OPS_PHASE_ERASING, span);
		h_plan(h, OPS_PHASE_VERIFYING, span);
		h_phase(h, first, len);
		for (uint64_t wa = addr - addr % c.W; wa < end; wa += c.W) {
			uint32_t waddr = (uint32_t)wa;
			uint32_t wlen = (uint32_t)MIN((uint64_t)c.W, info->size - wa);
			uint32_t lo = (uint32_t)MAX((uint64_t)addr, wa);
			uint32_t hi = (uint32_t)MIN(end, wa + wlen);

			if (h_cancelled(h)) {
				r = op_fail(&e, -ECANCELED, "erase", true, waddr,
					    "cancelled while reading; nothing was changed");
				goto out;
			}
			r = nor_read(nor, waddr, old, wlen);
			if (r < 0) {
				r = nor_err(nor, r, &e);
				goto out;
			}
			memcpy(new, old, wlen);
			memset(new + (lo - waddr), 0xFF, hi - lo);
			if (memcmp(old, new, wlen) != 0) {
				r = plan_window(&c, waddr, wlen, old, new, lo, hi, false,
						o->preserve, "erase");
				if (r < 0)
					goto out;
			}
			h_progress(h, hi - lo);
		}
		h_plan(h, OPS_PHASE_ERASING, c.plan.erase_bytes);
		h_plan(h, OPS_PHASE_PROGRAMMING, c.plan.program_bytes);
		h_plan(h, OPS_PHASE_VERIFYING, c.plan.verify_bytes);
		if (c.plan.n == 0)
			goto out; /* already blank */
		if (o->backup && h->backup_commit) {
			r = h->backup_commit(h->ctx);
			if (r < 0) {
				r = op_fail(&e, r, "backup", false, 0,
					    "cannot make the backup durable; nothing was changed");
				goto out;
			}
		}
	} else {
		/* blind erase: one plan window covering the range, chip erase if cheaper */
		size_t units = (size_t)(len / c.U);
		bool *need = calloc(units ? units : 1, sizeof(*need));
		struct ops_erase_step *steps = calloc(units ? units : 1, sizeof(*steps));
		size_t n = 0;

		if (!need || !steps) {
			free(need);
			free(steps);
			r = op_fail(&e, -ENOMEM, "erase", false, 0, "out of memory");
			goto out;
		}
		for (size_t u = 0; u < units; u++)
			need[u] = true;
		r = ops_plan_erase(info, addr, need, NULL, units, whole, steps, units ? units : 1,
				   &n);
		free(need);
		if (r < 0) {
			free(steps);
			r = op_fail(&e, r, "erase", true, addr, "no erase plan for this range");
			goto out;
		}
		if (o->unlock) {
			r = nor_protect_check(nor, addr, len);
			if (r == -EROFS) {
				nor_clear_error(nor);
				r = nor_unlock(nor, &saved);
				if (r < 0) {
					free(steps);
					r = nor_err(nor, r, &e);
					goto out;
				}
				unlocked = true;
			}
		}
		h_plan(h, OPS_PHASE_ERASING, len);
		h_phase(h, OPS_PHASE_ERASING, len);
		for (size_t s = 0; s < n; s++) {
			if (h_cancelled(h)) {
				r = op_fail(&e, -ECANCELED, "erase", true, steps[s].addr,
					    "cancelled before erasing");
				break;
			}
			h_range(h, OPS_RANGE_ERASED, steps[s].addr, steps[s].size);
			r = steps[s].size == info->size && steps[s].addr == 0
				    ? nor_chip_erase(nor)
				    : nor_erase(nor, steps[s].addr, steps[s].size);
			if (r < 0) {
				r = nor_err(nor, r, &e);
				break;
			}
			res.erased += steps[s].size;
			res.erase_commands++;
			h_progress(h, steps[s].size);
		}
		free(steps);
		goto out;
	}

	if (o->unlock) {
		r = nor_protect_check(nor, addr, len);
		if (r == -EROFS) {
			nor_clear_error(nor);
			r = nor_unlock(nor, &saved);
			if (r < 0) {
				r = nor_err(nor, r, &e);
				goto out;
			}
			unlocked = true;
		}
	}
	r = execute_plan(&c, true, "erase", &res);

out:
	if (unlocked) {
		r2 = nor_protect_restore(nor, &saved);
		res.unlocked = true;
		if (r2 < 0 && r >= 0)
			r = nor_err(nor, r2, &e);
		else if (r2 < 0)
			add_restore_failure(nor, &e);
	}
	write_teardown(&c);
	free(old);
	free(new);
	res.bytes = len;
	if (r < 0 && ret_err)
		*ret_err = e;
	if (ret)
		*ret = res;
	return r;
}

/* Read with optional confirmation: every chunk read `passes` times must agree. */
static int read_confirmed(struct nor *nor, const struct ops_hooks *h, uint32_t a, uint8_t *buf,
			  uint8_t *check, size_t n, unsigned passes, struct ops_result *res,
			  struct nor_error *e)
{
	int r = nor_read(nor, a, buf, n);

	if (r < 0)
		return nor_err(nor, r, e);
	for (unsigned p = 1; p < passes; p++) {
		unsigned retries = 0;

		for (;;) {
			r = nor_read(nor, a, check, n);
			if (r < 0)
				return nor_err(nor, r, e);
			if (memcmp(buf, check, n) == 0)
				break;
			/* unstable: report the chunk, take the newest read, try again */
			h_range(h, OPS_RANGE_MISMATCH, a, (uint32_t)n);
			res->mismatched += n;
			memcpy(buf, check, n);
			if (++retries > 3)
				return op_fail(e, -EIO, "read", true, a,
					       "reads of this block never agreed (%u tries): check "
					       "wiring and lower the SPI clock",
					       retries + 1);
		}
	}
	return 0;
}

#define READ_CHUNK KIB(64)

int ops_read(struct nor *nor, const struct ops_hooks *h, uint32_t addr, uint64_t len,
	     unsigned passes, struct ops_result *ret, struct nor_error *ret_err)
{
	struct ops_result res = {0};
	struct nor_error e = {0};
	struct hashes hs;
	uint8_t *buf = NULL, *check = NULL;
	int r;

	hashes_init(&hs);
	r = check_range(nor, "read", addr, len, &e);
	if (r < 0)
		goto out;
	buf = malloc(READ_CHUNK);
	check = passes > 1 ? malloc(READ_CHUNK) : NULL;
	if (!buf || (passes > 1 && !check)) {
		r = op_fail(&e, -ENOMEM, "read", false, 0, "out of memory");
		goto out;
	}
	h_plan(h, OPS_PHASE_READING, len);
	h_phase(h, OPS_PHASE_READING, len);
	for (uint64_t done = 0; done < len;) {
		size_t n = (size_t)MIN((uint64_t)READ_CHUNK, len - done);
		uint32_t a = addr + (uint32_t)done;

		if (h_cancelled(h)) {
			r = op_fail(&e, -ECANCELED, "read", true, a, "cancelled");
			goto out;
		}
		r = read_confirmed(nor, h, a, buf, check, n, passes ? passes : 1, &res, &e);
		if (r < 0)
			goto out;
		hashes_update(&hs, buf, n);
		if (h->sink) {
			r = h->sink(h->ctx, buf, n);
			if (r < 0 && (r == -ECANCELED || h_cancelled(h))) {
				r = op_fail(&e, -ECANCELED, "read", true, a,
					    "cancelled after %llu bytes", (unsigned long long)done);
				goto out;
			} else if (r < 0) {
				r = op_fail(&e, r, "read", true, a,
					    "the reader went away after %llu bytes",
					    (unsigned long long)done);
				goto out;
			}
		}
		done += n;
		res.bytes = done;
		h_progress(h, n);
	}
out:
	free(buf);
	free(check);
	hashes_final(&hs, &res);
	if (r < 0 && ret_err)
		*ret_err = e;
	if (ret)
		*ret = res;
	return r;
}

int ops_verify(struct nor *nor, const struct ops_hooks *h, uint32_t addr, uint64_t len,
	       struct ops_result *ret, struct nor_error *ret_err)
{
	struct ops_result res = {0};
	struct nor_error e = {0};
	struct hashes hs;
	uint8_t *chip = NULL, *img = NULL;
	uint32_t first_bad = 0;
	ssize_t got;
	int r;

	hashes_init(&hs);
	r = check_range(nor, "verify", addr, len, &e);
	if (r < 0)
		goto out;
	chip = malloc(READ_CHUNK);
	img = malloc(READ_CHUNK);
	if (!chip || !img) {
		r = op_fail(&e, -ENOMEM, "verify", false, 0, "out of memory");
		goto out;
	}
	h_plan(h, OPS_PHASE_VERIFYING, len);
	h_phase(h, OPS_PHASE_VERIFYING, len);
	for (uint64_t done = 0; done < len;) {
		size_t n = (size_t)MIN((uint64_t)READ_CHUNK, len - done);
		uint32_t a = addr + (uint32_t)done;

		if (h_cancelled(h)) {
			r = op_fail(&e, -ECANCELED, "verify", true, a, "cancelled");
			goto out;
		}
		got = h->source(h->ctx, img, n);
		if (got < (ssize_t)n) {
			r = op_fail(&e, got < 0 ? (int)got : -EPIPE, "verify", true, a,
				    "the image ended after %llu of %llu bytes",
				    (unsigned long long)(done + (got > 0 ? (size_t)got : 0)),
				    (unsigned long long)len);
			goto out;
		}
		hashes_update(&hs, img, n);
		r = nor_read(nor, a, chip, n);
		if (r < 0) {
			r = nor_err(nor, r, &e);
			goto out;
		}
		for (size_t i = 0; i < n;) {
			size_t j;

			if (chip[i] == img[i]) {
				i++;
				continue;
			}
			for (j = i; j < n && chip[j] != img[j]; j++)
				;
			if (!res.mismatched)
				first_bad = a + (uint32_t)i;
			res.mismatched += j - i;
			h_range(h, OPS_RANGE_MISMATCH, a + (uint32_t)i, (uint32_t)(j - i));
			i = j;
		}
		done += n;
		res.bytes = done;
		h_progress(h, n);
	}
	if (h->source_end) {
		r = h->source_end(h->ctx);
		if (r < 0) {
			r = op_fail(&e, r, "verify", false, 0,
				    "the image is longer than the %llu bytes announced",
				    (unsigned long long)len);
			goto out;
		}
	}
	if (res.mismatched)
		r = op_fail(&e, -EBADMSG, "verify", true, first_bad,
			    "%llu bytes differ, the first at 0x%06X",
			    (unsigned long long)res.mismatched, first_bad);
out:
	free(chip);
	free(img);
	hashes_final(&hs, &res);
	if (r < 0 && ret_err)
		*ret_err = e;
	if (ret)
		*ret = res;
	return r;
}

int ops_blank_check(struct nor *nor, const struct ops_hooks *h, uint32_t addr, uint64_t len,
		    struct ops_result *ret, struct nor_error *ret_err)
{
	struct ops_result res = {.blank = true};
	struct nor_error e = {0};
	uint8_t *buf = NULL;
	int r;

	r = check_range(nor, "blank-check", addr, len, &e);
	if (r < 0)
		goto out;
	buf = malloc(READ_CHUNK);
	if (!buf) {
		r = op_fail(&e, -ENOMEM, "blank-check", false, 0, "out of memory");
		goto out;
	}
	h_plan(h, OPS_PHASE_READING, len);
	h_phase(h, OPS_PHASE_READING, len);
	for (uint64_t done = 0; done < len && res.blank;) {
		size_t n = (size_t)MIN((uint64_t)READ_CHUNK, len - done);
		uint32_t a = addr + (uint32_t)done;

		if (h_cancelled(h)) {
			r = op_fail(&e, -ECANCELED, "blank-check", true, a, "cancelled");
			goto out;
		}
		r = nor_read(nor, a, buf, n);
		if (r < 0) {
			r = nor_err(nor, r, &e);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			if (buf[i] != 0xFF) {
				res.blank = false;
				res.first_non_blank = a + (uint32_t)i;
				break;
			}
		}
		done += n;
		res.bytes = done;
		h_progress(h, n);
	}
out:
	free(buf);
	if (r < 0 && ret_err)
		*ret_err = e;
	if (ret)
		*ret = res;
	return r;
}
