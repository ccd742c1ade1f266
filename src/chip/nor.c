/* SPDX-License-Identifier: MIT */
/*
 * nor.c - the SPI NOR command set.
 *
 * Design:
 * - Few transactions. A command that needs WREN travels with it in one bus transaction (chip
 *   select toggled between segments), together with a status read between the two that tells
 *   us afterwards whether WREN took (a chip that is missing, write-protected or mis-wired
 *   shows WEL=0 there, which turns "write succeeded but nothing changed" into an error).
 *   Reads use the largest transfer the bus accepts.
 * - Waits have deadlines. After a program or erase we sleep for the datasheet typical time
 *   minus the bus's per-transaction overhead (that overhead elapses while the chip is busy
 *   anyway), then poll at a fraction of the typical time until the datasheet maximum plus a
 *   margin, then give up with -ETIMEDOUT naming the operation and address.
 * - Parts over 16 MiB are always addressed with 4 bytes: dedicated 4-byte opcodes where the
 *   part has one for the command, else EN4B; nor_idle() leaves the part in 3-byte mode.
 *
 * Non-logging except at debug level: failures are recorded in nor->err for the caller.
 */
#include "nor.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "nor_private.h"
#include "spibus.h"
#include "util.h"

/* Fallback maxima when a database entry lacks them: generous, never infinite. */
#define FALLBACK_PP_MAX_US 10000u
#define FALLBACK_BP_MAX_US 1000u
#define FALLBACK_ERASE_MAX_US 5000000u
#define FALLBACK_CE_MAX_MS 600000u
#define FALLBACK_WRSR_MAX_US 100000u

struct nor *nor_new(struct spibus *bus, const struct chip_info *info)
{
	struct nor *nor;

	if (!bus || !info)
		return NULL;
	nor = calloc(1, sizeof(*nor));
	if (!nor)
		return NULL;
	nor->bus = bus;
	nor->info = *info;
	return nor;
}

void nor_free(struct nor *nor)
{
	free(nor);
}

const struct chip_info *nor_info(const struct nor *nor)
{
	return &nor->info;
}

struct spibus *nor_bus(const struct nor *nor)
{
	return nor->bus;
}

const struct nor_error *nor_last_error(const struct nor *nor)
{
	return &nor->err;
}

void nor_clear_error(struct nor *nor)
{
	memset(&nor->err, 0, sizeof(nor->err));
}

int nor_fail(struct nor *nor, int code, const char *op, bool has_addr, uint32_t addr,
	     const char *fmt, ...)
{
	va_list ap;

	if (code > 0)
		code = -code;
	nor->err.code = code;
	snprintf(nor->err.op, sizeof(nor->err.op), "%s", op);
	nor->err.has_addr = has_addr;
	nor->err.addr = addr;
	va_start(ap, fmt);
	vsnprintf(nor->err.detail, sizeof(nor->err.detail), fmt, ap);
	va_end(ap);
	log_debug("nor: %s%s0x%06X: %s: %s", op, has_addr ? " " : "", has_addr ? addr : 0,
		  nor->err.detail, errno_name(code));
	return code;
}

/* A transfer error keeps the errno the bus gave and names the command. */
static int nor_xfer(struct nor *nor, const struct spibus_seg *segs, size_t n, const char *op,
		    bool has_addr, uint32_t addr)
{
	int r = spibus_transfer(nor->bus, segs, n);

	if (r < 0)
		return nor_fail(nor, r, op, has_addr, addr, "SPI transfer failed (%s)",
				spibus_name(nor->bus));
	return 0;
}

int nor_bus_read_id(struct spibus *bus, uint8_t ret_id[3])
{
	const uint8_t cmd = NOR_OP_RDID;
	uint8_t id[3];
	int r;

	r = spibus_cmd(bus, &cmd, 1, id, sizeof(id));
	if (r < 0)
		return r;
	memcpy(ret_id, id, sizeof(id));
	return 0;
}

int nor_bus_read_sfdp(struct spibus *bus, uint32_t addr, uint8_t *buf, size_t len)
{
	size_t max = spibus_max_transfer(bus);

	/* RDSFDP always takes a 3-byte address and 8 dummy clocks (JESD216 6.2). */
	while (len) {
		uint8_t hdr[5] = {NOR_OP_RDSFDP, 0, 0, 0, 0};
		size_t chunk = MIN(len, max);
		int r;

		put_be24(hdr + 1, addr);
		r = spibus_cmd(bus, hdr, sizeof(hdr), buf, chunk);
		if (r < 0)
			return r;
		addr += (uint32_t)chunk;
		buf += chunk;
		len -= chunk;
	}
	return 0;
}

static bool nor_needs_4b(const struct nor *nor)
{
	return nor->info.size > MIB(16) || nor->info.addr_mode == CHIP_ADDR_4B_ONLY;
}

/* Enter 4-byte mode with EN4B (preceded by WREN on parts that want it, Micron). */
static int nor_enter_4b(struct nor *nor, const char *op, uint32_t addr)
{
	static const uint8_t en4b = NOR_OP_EN4B;
	struct spibus_seg segs[2];
	size_t n = 0;
	int r;

	if (nor->in_4b || nor->info.addr_mode == CHIP_ADDR_4B_ONLY)
		return 0;
	if (!(nor->info.flags & CHIP_F_EN4B))
		return nor_fail(nor, -ENOTSUP, op, true, addr,
				"%s has no 4-byte opcode for this command and no EN4B",
				nor->info.name);
	if (nor->info.flags & CHIP_F_EN4B_WREN) {
		r = nor_write_enable_prefix(nor, segs, &n);
		if (r < 0)
			return r;
	}
	segs[n++] = (struct spibus_seg){.tx = &en4b, .len = 1};
	r = nor_xfer(nor, segs, n, op, true, addr);
	if (r < 0)
		return r;
	nor->in_4b = true;
	return 0;
}

int nor_addr_header(struct nor *nor, uint8_t op3, uint8_t op4, uint32_t addr, const char *opname,
		    uint8_t hdr[5], size_t *ret_len)
{
	int r;

	if (!nor_needs_4b(nor)) {
		hdr[0] = op3;
		put_be24(hdr + 1, addr);
		*ret_len = 4;
		return 0;
	}
	if (op4 && (nor->info.flags & CHIP_F_4B_OPCODES) && !nor->in_4b) {
		hdr[0] = op4;
	} else {
		r = nor_enter_4b(nor, opname, addr);
		if (r < 0)
			return r;
		hdr[0] = op3;
	}
	put_be32(hdr + 1, addr);
	*ret_len = 5;
	return 0;
}

int nor_write_enable_prefix(struct nor *nor, struct spibus_seg *segs, size_t *n)
{
	static const uint8_t wren = NOR_OP_WREN;

	if (!nor->bus->cs_toggle_ok) {
		const struct spibus_seg seg = {.tx = &wren, .len = 1};
		int r = spibus_transfer(nor->bus, &seg, 1);

		if (r < 0)
			return nor_fail(nor, r, "write-enable", false, 0, "SPI transfer failed (%s)",
					spibus_name(nor->bus));
		return 0;
	}
	segs[(*n)++] = (struct spibus_seg){.tx = &wren, .len = 1, .cs_toggle = true};
	return 0;
}

int nor_read_sr(struct nor *nor, uint8_t op, uint8_t *ret)
{
	uint8_t v;
	int r = spibus_cmd(nor->bus, &op, 1, &v, 1);

	if (r < 0)
		return nor_fail(nor, r, "read-status", false, 0, "RDSR 0x%02X failed", op);
	*ret = v;
	return 0;
}

int nor_read_status(struct nor *nor, uint8_t *ret_sr1, uint8_t *ret_sr2, uint8_t *ret_sr3)
{
	uint8_t sr1 = 0, sr2 = 0, sr3 = 0;
	int r;

	r = nor_read_sr(nor, NOR_OP_RDSR, &sr1);
	if (r >= 0 && ret_sr2 && (nor->info.flags & CHIP_F_SR2))
		r = nor_read_sr(nor, NOR_OP_RDSR2, &sr2);
	if (r >= 0 && ret_sr3 && (nor->info.flags & CHIP_F_SR3_33))
		r = nor_read_sr(nor, NOR_OP_RDSR3_33, &sr3);
	else if (r >= 0 && ret_sr3 && (nor->info.flags & CHIP_F_SR3))
		r = nor_read_sr(nor, NOR_OP_RDSR3, &sr3);
	if (r < 0)
		return r;
	if (ret_sr1)
		*ret_sr1 = sr1;
	if (ret_sr2)
		*ret_sr2 = sr2;
	if (ret_sr3)
		*ret_sr3 = sr3;
	return 0;
}

/* Micron: read and clear the flag status register's error bits. */
static int nor_check_fsr(struct nor *nor, uint8_t fsr, const char *op, uint32_t addr)
{
	const uint8_t clear = NOR_OP_CLFSR;
	const char *what;

	if (!(fsr & (NOR_FSR_ERASE_ERR | NOR_FSR_PROGRAM_ERR | NOR_FSR_PROT_ERR)))
		return 0;
	(void)spibus_cmd(nor->bus, &clear, 1, NULL, 0);
	if (fsr & NOR_FSR_PROT_ERR)
		return nor_fail(nor, -EROFS, op, true, addr,
				"flag status 0x%02X: protection error (range is protected)", fsr);
	what = (fsr & NOR_FSR_ERASE_ERR) ? "erase failure" : "program failure";
	return nor_fail(nor, -EIO, op, true, addr, "flag status 0x%02X: %s", fsr, what);
}

int nor_wait_ready(struct nor *nor, uint64_t typ_us, uint64_t max_us, const char *op,
		   uint32_t addr)
{
	struct fclock *clk = spibus_clock(nor->bus);
	const uint64_t overhead_ns = nor->bus->txn_overhead_ns;
	const bool fsr = nor->info.flags & CHIP_F_FSR;
	uint64_t start = fclock_now_ns(clk), deadline, interval_ns, typ_ns = typ_us * NSEC_PER_USEC;
	uint8_t v;
	int r;

	/* Datasheet maximum plus a quarter and 2 ms: slow parts exist, stuck ones must end. */
	deadline = start + (max_us + max_us / 4) * NSEC_PER_USEC + 2 * NSEC_PER_MSEC;
	interval_ns = MAX(typ_ns / 8, 10 * NSEC_PER_USEC);
	interval_ns = MIN(interval_ns, 100 * NSEC_PER_MSEC);

	if (typ_ns > overhead_ns)
		fclock_sleep_ns(clk, typ_ns - overhead_ns);
	for (;;) {
		r = nor_read_sr(nor, fsr ? NOR_OP_RDFSR : NOR_OP_RDSR, &v);
		if (r < 0) {
			snprintf(nor->err.op, sizeof(nor->err.op), "%s", op);
			nor->err.has_addr = true;
			nor->err.addr = addr;
			return r;
		}
		nor->polls++;
		if (fsr ? (v & NOR_FSR_READY) : !(v & NOR_SR_WIP))
			break;
		if (fclock_now_ns(clk) >= deadline) {
			uint64_t ms = (fclock_now_ns(clk) - start) / NSEC_PER_MSEC;

			return nor_fail(nor, -ETIMEDOUT, op, true, addr,
					"%s still set after %llu ms (datasheet max %llu ms)",
					fsr ? "busy flag" : "WIP", (unsigned long long)ms,
					(unsigned long long)(max_us / 1000));
		}
		fclock_sleep_ns(clk, interval_ns);
	}
	nor->last_status = v;
	return fsr ? nor_check_fsr(nor, v, op, addr) : 0;
}

/*
 * Run `cmd` (opcode + address + payload) behind WREN in one transaction, with a status read
 * between them that shows whether WREN was accepted. The caller then waits.
 */
int nor_write_cmd(struct nor *nor, const uint8_t *hdr, size_t hdr_len, const uint8_t *data,
		  size_t data_len, const char *op, uint32_t addr, uint64_t busy_max_us)
{
	static const uint8_t rdsr_tx[2] = {NOR_OP_RDSR, 0};

	for (int attempt = 0;; attempt++) {
		uint8_t rdsr_rx[2] = {0, 0};
		struct spibus_seg segs[4];
		size_t n = 0;
		int r;

		r = nor_write_enable_prefix(nor, segs, &n);
		if (r < 0)
			return r;
		if (n) /* only when the bus can toggle CS inside a transaction */
			segs[n++] = (struct spibus_seg){.tx = rdsr_tx, .rx = rdsr_rx, .len = 2,
							.cs_toggle = true};
		segs[n++] = (struct spibus_seg){.tx = hdr, .len = hdr_len};
		if (data_len)
			segs[n++] = (struct spibus_seg){.tx = data, .len = data_len};
		r = nor_xfer(nor, segs, n, op, true, addr);
		if (r < 0)
			return r;
		if (n <= 2 || (rdsr_rx[1] & NOR_SR_WEL))
			return 0;
		if ((rdsr_rx[1] & NOR_SR_WIP) && attempt == 0) {
			/* still busy with something: the chip ignored us; wait, then once more */
			r = nor_wait_ready(nor, 0, busy_max_us, op, addr);
			if (r < 0)
				return r;
			continue;
		}
		return nor_fail(nor, -EIO, op, true, addr,
				"write enable not latched (status 0x%02X after WREN): chip missing, "
				"WP#/HOLD# not driven high, or MOSI/MISO swapped",
				rdsr_rx[1]);
	}
}

int nor_read(struct nor *nor, uint32_t addr, uint8_t *buf, size_t len)
{
	const size_t max = spibus_max_transfer(nor->bus);
	/* 0x03 has a lower clock limit than everything else (datasheet AC characteristics,
	 * fR vs fC); above it, 0x0B with one dummy byte */
	const bool fast = (nor->info.flags & CHIP_F_FAST_READ) && nor->info.max_read_clock_hz &&
			  spibus_speed(nor->bus) > nor->info.max_read_clock_hz;
	int r;

	if (!range_within(addr, len, nor->info.size))
		return nor_fail(nor, -EINVAL, "read", true, addr,
				"%zu bytes at 0x%06X exceed the %u-byte chip", len, addr,
				nor->info.size);
	while (len) {
		uint8_t hdr[6];
		size_t hdr_len, chunk = MIN(len, max);
		struct spibus_seg segs[2];

		r = nor_addr_header(nor, fast ? NOR_OP_FAST_READ : NOR_OP_READ,
				    fast ? NOR_OP_FAST_READ_4B : NOR_OP_READ_4B, addr, "read", hdr,
				    &hdr_len);
		if (r < 0)
			return r;
		if (fast)
			hdr[hdr_len++] = 0; /* one dummy byte (8 clocks) */
		segs[0] = (struct spibus_seg){.tx = hdr, .len = hdr_len};
		segs[1] = (struct spibus_seg){.rx = buf, .len = chunk};
		r = nor_xfer(nor, segs, 2, "read", true, addr);
		if (r < 0)
			return r;
		addr += (uint32_t)chunk;
		buf += chunk;
		len -= chunk;
	}
	return 0;
}

static int nor_program_pages(struct nor *nor, uint32_t addr, const uint8_t *buf, size_t len)
{
	const uint32_t page = nor->info.page_size ? nor->info.page_size : 256;
	const uint32_t typ = nor->info.page_program_typ_us;
	const uint32_t max = nor->info.page_program_max_us ? nor->info.page_program_max_us
							   : FALLBACK_PP_MAX_US;
	int r;

	while (len) {
		size_t n = MIN(len, (size_t)(page - addr % page));
		uint8_t hdr[5];
		size_t hdr_len;

		r = nor_addr_header(nor, NOR_OP_PP, NOR_OP_PP_4B, addr, "program", hdr, &hdr_len);
		if (r < 0)
			return r;
		r = nor_write_cmd(nor, hdr, hdr_len, buf, n, "program", addr, max);
		if (r < 0)
			return r;
		r = nor_wait_ready(nor, typ, max, "program", addr);
		if (r < 0)
			return r;
		addr += (uint32_t)n;
		buf += n;
		len -= n;
	}
	return 0;
}

/* SST25: byte program (0x02) for odd edges, AAI word program (0xAD) for the rest. */
static int nor_program_sst_aai(struct nor *nor, uint32_t addr, const uint8_t *buf, size_t len)
{
	const uint32_t typ = nor->info.byte_program_typ_us ? nor->info.byte_program_typ_us : 10;
	const uint32_t max = nor->info.byte_program_max_us ? nor->info.byte_program_max_us
							   : FALLBACK_BP_MAX_US;
	uint8_t hdr[6];
	bool in_aai = false;
	int r = 0;

	while (len) {
		if ((addr & 1) || len == 1) {
			hdr[0] = NOR_OP_PP;
			put_be24(hdr + 1, addr);
			r = nor_write_cmd(nor, hdr, 4, buf, 1, "program", addr, max);
			if (r >= 0)
				r = nor_wait_ready(nor, typ, max, "program", addr);
			if (r < 0)
				return r;
			addr++;
			buf++;
			len--;
			continue;
		}
		if (!in_aai) {
			hdr[0] = NOR_OP_AAI_WP;
			put_be24(hdr + 1, addr);
			hdr[4] = buf[0];
			hdr[5] = buf[1];
			r = nor_write_cmd(nor, hdr, 6, NULL, 0, "program", addr, max);
			in_aai = true;
		} else {
			const uint8_t word[3] = {NOR_OP_AAI_WP, buf[0], buf[1]};
			const struct spibus_seg seg = {.tx = word, .len = 3};

			r = nor_xfer(nor, &seg, 1, "program", true, addr);
		}
		if (r >= 0)
			r = nor_wait_ready(nor, typ, max, "program", addr);
		if (r < 0)
			break;
		addr += 2;
		buf += 2;
		len -= 2;
		/* AAI ends with WRDI; a trailing odd byte then goes through byte program. */
		if (len < 2) {
			const uint8_t wrdi = NOR_OP_WRDI;
			const struct spibus_seg seg = {.tx = &wrdi, .len = 1};

			in_aai = false;
			r = nor_xfer(nor, &seg, 1, "program", true, addr);
			if (r < 0)
				return r;
		}
	}
	if (in_aai) {
		const uint8_t wrdi = NOR_OP_WRDI;
		const struct spibus_seg seg = {.tx = &wrdi, .len = 1};

		(void)spibus_transfer(nor->bus, &seg, 1);
	}
	return r;
}

int nor_program(struct nor *nor, uint32_t addr, const uint8_t *buf, size_t len)
{
	int r;

	if (!range_within(addr, len, nor->info.size))
		return nor_fail(nor, -EINVAL, "program", true, addr,
				"%zu bytes at 0x%06X exceed the %u-byte chip", len, addr,
				nor->info.size);
	r = nor_protect_check_cached(nor, addr, len);
	if (r < 0)
		return r;
	if (nor->info.flags & CHIP_F_SST_AAI)
		return nor_program_sst_aai(nor, addr, buf, len);
	return nor_program_pages(nor, addr, buf, len);
}

const struct chip_erase_type *nor_erase_type(const struct nor *nor, uint32_t size)
{
	for (unsigned i = 0; i < nor->info.n_erase && i < CHIP_MAX_ERASE_TYPES; i++)
		if (nor->info.erase[i].size == size)
			return &nor->info.erase[i];
	return NULL;
}

int nor_erase(struct nor *nor, uint32_t addr, uint32_t size)
{
	const struct chip_erase_type *et = nor_erase_type(nor, size);
	uint8_t hdr[5];
	size_t hdr_len;
	int r;

	if (!et)
		return nor_fail(nor, -EINVAL, "erase", true, addr,
				"%s has no %u-byte erase", nor->info.name, size);
	if (addr % size || !range_within(addr, size, nor->info.size))
		return nor_fail(nor, -EINVAL, "erase", true, addr,
				"%u-byte erase at 0x%06X is not aligned inside the chip", size,
				addr);
	r = nor_protect_check_cached(nor, addr, size);
	if (r < 0)
		return r;
	r = nor_addr_header(nor, et->opcode, et->opcode_4b, addr, "erase", hdr, &hdr_len);
	if (r < 0)
		return r;
	r = nor_write_cmd(nor, hdr, hdr_len, NULL, 0, "erase", addr,
			  et->max_us ? et->max_us : FALLBACK_ERASE_MAX_US);
	if (r < 0)
		return r;
	return nor_wait_ready(nor, et->typ_us, et->max_us ? et->max_us : FALLBACK_ERASE_MAX_US,
			      "erase", addr);
}

int nor_chip_erase(struct nor *nor)
{
	const uint8_t op = nor->info.chip_erase_opcode ? nor->info.chip_erase_opcode : NOR_OP_CE;
	uint64_t typ_us = (uint64_t)nor->info.chip_erase_typ_ms * 1000u;
	uint64_t max_ms = nor->info.chip_erase_max_ms ? nor->info.chip_erase_max_ms
						      : FALLBACK_CE_MAX_MS;
	int r;

	r = nor_protect_check_cached(nor, 0, nor->info.size);
	if (r < 0)
		return r;
	r = nor_write_cmd(nor, &op, 1, NULL, 0, "chip-erase", 0, max_ms * 1000u);
	if (r < 0)
		return r;
	return nor_wait_ready(nor, typ_us, max_ms * 1000u, "chip-erase", 0);
}

int nor_idle(struct nor *nor)
{
	static const uint8_t wren = NOR_OP_WREN, ex4b = NOR_OP_EX4B, wrdi = NOR_OP_WRDI,
			     clfsr = NOR_OP_CLFSR;
	uint8_t sr1 = 0;
	int r = 0, r2;

	/* the next job reads the protection afresh: someone may change it between jobs */
	nor->prot_valid = false;

	if (nor->in_4b) {
		struct spibus_seg segs[2];
		size_t n = 0;

		if ((nor->info.flags & CHIP_F_EN4B_WREN) && nor->bus->cs_toggle_ok)
			segs[n++] = (struct spibus_seg){.tx = &wren, .len = 1, .cs_toggle = true};
		else if (nor->info.flags & CHIP_F_EN4B_WREN)
			(void)spibus_cmd(nor->bus, &wren, 1, NULL, 0);
		segs[n++] = (struct spibus_seg){.tx = &ex4b, .len = 1};
		r = nor_xfer(nor, segs, n, "exit-4byte", false, 0);
		if (r >= 0)
			nor->in_4b = false;
	}
	r2 = spibus_cmd(nor->bus, &wrdi, 1, NULL, 0);
	if (r2 < 0 && r >= 0)
		r = nor_fail(nor, r2, "write-disable", false, 0, "WRDI failed");
	/* Micron: error bits in the flag status register stay until cleared (datasheet "CLEAR
	 * FLAG STATUS REGISTER"), and would make the next operation look failed */
	if (nor->info.flags & CHIP_F_FSR) {
		r2 = spibus_cmd(nor->bus, &clfsr, 1, NULL, 0);
		if (r2 < 0 && r >= 0)
			r = nor_fail(nor, r2, "clear-flag-status", false, 0, "CLFSR 0x50 failed");
	}
	/* WRDI is ignored by a busy chip, and by one that is not there: look */
	r2 = nor_read_sr(nor, NOR_OP_RDSR, &sr1);
	if (r2 < 0 && r >= 0)
		r = r2;
	else if (r2 >= 0 && (sr1 & NOR_SR_WEL) && !(sr1 & NOR_SR_WIP) && r >= 0)
		r = nor_fail(nor, -EIO, "write-disable", false, 0,
			     "WEL still set after WRDI (status 0x%02X)", sr1);
	return r;
}
