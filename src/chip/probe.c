/* SPDX-License-Identifier: MIT */
/*
 * probe.c - identify: RDID -> chip database -> SFDP -> user geometry.
 *
 * SFDP is read in rounds (header, then the parameter headers, then as far as the tables we
 * parse reach), each bounded by sfdp_needed_len(); the parser treats every byte as hostile.
 */
#include "probe.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipdb.h"
#include "log.h"
#include "nor_private.h"
#include "sfdp.h"
#include "spibus.h"
#include "util.h"

#define SFDP_PROBE_LEN 64u
#define SFDP_MAX_ROUNDS 4u

int probe_read_id(struct spibus *bus, uint32_t *ret_id)
{
	uint8_t id[3];
	int r = nor_bus_read_id(bus, id);

	if (r < 0)
		return r;
	*ret_id = get_be24(id);
	return 0;
}

static void note(struct probe_report *rep, const char *fmt, ...) PRINTF_FMT(2, 3);

static void note(struct probe_report *rep, const char *fmt, ...)
{
	size_t used = strlen(rep->notes);
	va_list ap;

	if (used + 2 >= sizeof(rep->notes))
		return;
	if (used)
		rep->notes[used++] = ' ';
	va_start(ap, fmt);
	vsnprintf(rep->notes + used, sizeof(rep->notes) - used, fmt, ap);
	va_end(ap);
}

static int fail(struct nor_error *e, int code, const char *fmt, ...) PRINTF_FMT(3, 4);

static int fail(struct nor_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	memset(e, 0, sizeof(*e));
	e->code = code;
	snprintf(e->op, sizeof(e->op), "probe");
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
	return code;
}

/*
 * 0 and *ret filled when the chip answers a sane SFDP; -ENOENT when it has none, -EBADMSG when
 * it does not parse (both with a note); any other error is the bus failing, which the caller
 * must not mistake for "no SFDP".
 *
 * sfdp_needed_len() is asked again after every read, because the first answer may only cover
 * the parameter headers (8 or more of them do not fit the first chunk) and the tables are
 * found from those (sfdp.h). Bounded by SFDP_MAX_ROUNDS and SFDP_MAX_LEN.
 */
static int read_sfdp(struct spibus *bus, uint32_t jedec_id, struct sfdp_info *ret,
		     struct probe_report *rep)
{
	uint8_t *buf, *nbuf;
	size_t have = SFDP_PROBE_LEN, need = 0;
	char err[200] = "";
	int r;

	buf = malloc(have);
	if (!buf)
		return -ENOMEM;
	r = nor_bus_read_sfdp(bus, 0, buf, have);
	if (r < 0)
		goto out;
	if (memcmp(buf, "SFDP", 4) != 0) {
		r = -ENOENT;
		goto out;
	}
	rep->has_sfdp = true;
	for (unsigned round = 0;; round++) {
		r = sfdp_needed_len(buf, have, &need);
		if (r < 0 || need == 0 || need > SFDP_MAX_LEN) {
			note(rep, "SFDP header is not sane (needs %zu bytes), ignored.", need);
			r = -EBADMSG;
			goto out;
		}
		if (need <= have)
			break;
		if (round + 1 >= SFDP_MAX_ROUNDS) {
			note(rep, "SFDP still asks for more after %u reads (%zu bytes), ignored.",
			     SFDP_MAX_ROUNDS, need);
			r = -EBADMSG;
			goto out;
		}
		nbuf = realloc(buf, need);
		if (!nbuf) {
			r = -ENOMEM;
			goto out;
		}
		buf = nbuf;
		r = nor_bus_read_sfdp(bus, (uint32_t)have, buf + have, need - have);
		if (r < 0)
			goto out;
		have = need;
	}
	r = sfdp_parse(buf, have, jedec_id, ret, err, sizeof(err));
	if (r < 0) {
		note(rep, "SFDP does not parse (%s), ignored.", err);
		r = -EBADMSG;
		goto out;
	}
	rep->sfdp_parsed = true;
out:
	free(buf);
	return r;
}

/*
 * What we assume for a part no database entry describes: READ 0x03 only up to 33 MHz (the
 * slowest fR we know of among current parts), 0x0B above; block protection by SR1 bits whose
 * exact map is unknown (reported and refused, never ignored).
 */
#define UNKNOWN_READ_CLOCK_HZ 33000000u

static void unknown_part_defaults(struct chip_info *info)
{
	info->flags |= CHIP_F_FAST_READ;
	if (!info->max_read_clock_hz)
		info->max_read_clock_hz = UNKNOWN_READ_CLOCK_HZ;
	if (info->protect.scheme == CHIP_PROT_NONE)
		info->protect.scheme = CHIP_PROT_SR1_UNKNOWN;
}

static void user_geometry(struct chip_info *info, uint32_t jedec_id, const struct probe_opts *o)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "unknown %06x", jedec_id);
	snprintf(info->vendor, sizeof(info->vendor), "unknown");
	info->jedec_id = jedec_id;
	info->source = CHIP_SRC_CONFIG;
	info->size = o ? o->size : 0;
	info->page_size = o && o->page_size ? o->page_size : 256;
	/*
	 * Above 16 MiB: every such part we know powers up in 3-byte mode and takes EN4B (0xB7) /
	 * EX4B (0xE9); sending 4-byte addresses to a chip still in 3-byte mode would write
	 * somewhere else. nor_idle() leaves it in 3-byte mode again.
	 */
	if (info->size > MIB(16)) {
		info->addr_mode = CHIP_ADDR_3B_4B;
		info->flags |= CHIP_F_EN4B;
	} else {
		info->addr_mode = CHIP_ADDR_3B;
	}
	if (o && o->size && o->erase_size) {
		info->n_erase = 1;
		info->erase[0].size = o->erase_size;
		info->erase[0].opcode = o->erase_opcode ? o->erase_opcode
				       : o->erase_size == KIB(64) ? 0xD8
								  : 0x20;
	}
	unknown_part_defaults(info);
}

/* ID 00 00 00 / FF FF FF: a busy chip ignores RDID too, so look at its status first. */
static int no_id(struct spibus *bus, uint32_t id, struct nor_error *e)
{
	const uint8_t rdsr = NOR_OP_RDSR;
	uint8_t sr = 0;

	if (spibus_cmd(bus, &rdsr, 1, &sr, 1) >= 0 && sr != 0x00 && sr != 0xFF &&
	    (sr & NOR_SR_WIP))
		return fail(e, -ETIMEDOUT,
			    "the chip answers but is busy: JEDEC ID reads %s and the status "
			    "register 0x%02X (WIP set). A program or erase may still be running "
			    "(probe again in a minute); if it stays busy the chip is stuck busy "
			    "(power-cycle it)",
			    id ? "ff ff ff" : "00 00 00", sr);
	return fail(e, -ENODEV,
		    "no chip answers: JEDEC ID reads %s. Check that the chip has power, "
		    "CS/CLK/MOSI/MISO go to the right pins (MISO and MOSI not swapped), "
		    "HOLD# and WP# are tied or driven high, and lower the SPI clock",
		    id ? "ff ff ff (MISO floating or pulled high)"
		       : "00 00 00 (MISO stuck low or no power)");
}

int probe_chip(struct spibus *bus, const struct probe_opts *o, struct nor **ret,
	       struct probe_report *report, struct nor_error *ret_err)
{
	struct probe_report rep_local, *rep = report ? report : &rep_local;
	struct nor_error e_local, *e = ret_err ? ret_err : &e_local;
	const struct chip_info *db;
	struct sfdp_info *sfdp = NULL;
	struct chip_info info;
	struct nor *nor;
	uint32_t id = 0;
	int r, rs = -ENOENT;

	memset(rep, 0, sizeof(*rep));
	r = probe_read_id(bus, &id);
	if (r < 0)
		return fail(e, r, "reading the JEDEC ID failed: %s", spibus_name(bus));
	rep->jedec_id = id;
	if (id == 0 || id == 0xFFFFFF)
		return no_id(bus, id, e);

	db = chipdb_lookup(id);
	rep->in_database = db != NULL;
	if (!o || !o->no_sfdp) {
		sfdp = calloc(1, sizeof(*sfdp));
		if (!sfdp)
			return fail(e, -ENOMEM, "out of memory");
		rs = read_sfdp(bus, id, sfdp, rep);
		if (rs < 0 && rs != -ENOENT && rs != -EBADMSG) {
			free(sfdp);
			return fail(e, rs, "reading SFDP (0x5A) failed: %s on %s",
				    errno_name(rs), spibus_name(bus));
		}
	}

	if (db) {
		info = *db;
		info.source = CHIP_SRC_DATABASE;
		if (rs == 0) {
			char diff[400] = "";

			rep->contradictions = sfdp_compare(db, &sfdp->info, diff, sizeof(diff));
			if (rep->contradictions > 0)
				note(rep, "SFDP contradicts the database for %s (database used): %s",
				     db->name, diff);
		}
	} else if (rs == 0) {
		info = sfdp->info;
		info.source = CHIP_SRC_SFDP;
		unknown_part_defaults(&info);
		note(rep, "JEDEC ID %06x is not in the database; geometry from SFDP.", id);
	} else {
		user_geometry(&info, id, o);
		if (!info.size || !info.n_erase) {
			rep->read_only = true;
			note(rep,
			     "JEDEC ID %06x is unknown and the chip has no usable SFDP: it is "
			     "read-only%s until its size and erase size are given in the config "
			     "([chip] size= and erase-size=).",
			     id, info.size ? "" : " (and its size is unknown)");
		}
	}
	free(sfdp);

	nor = nor_new(bus, &info);
	if (!nor)
		return fail(e, -ENOMEM, "out of memory");
	/* Start from a known state: 3-byte mode (a previous user may have left EN4B), WEL clear. */
	if (info.size > MIB(16) && (info.flags & CHIP_F_EN4B) &&
	    info.addr_mode != CHIP_ADDR_4B_ONLY) {
		nor->in_4b = true;
	}
	r = nor_idle(nor);
	if (r >= 0 && info.size)
		r = nor_protect_read(nor, NULL);
	if (r < 0) {
		*e = *nor_last_error(nor);
		nor_free(nor);
		return r;
	}
	*ret = nor;
	return 0;
}
