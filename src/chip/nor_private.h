/* SPDX-License-Identifier: MIT */
/* nor_private.h - what nor.c shares with probe.c and protect.c; not a module boundary. */
#ifndef FLASHD_NOR_PRIVATE_H
#define FLASHD_NOR_PRIVATE_H

#include "nor.h"
#include "spibus.h"
#include "util.h"

struct nor {
	struct spibus *bus; /* borrowed */
	struct chip_info info;
	struct nor_error err;
	bool in_4b;		 /* EN4B sent and not yet undone */
	bool prot_valid;	 /* prot caches the chip's protection */
	struct nor_protect prot;
	struct nor_protect_saved prot_raw; /* the registers prot was decoded from */
	uint8_t last_status;	 /* status byte of the last completed wait */
	uint64_t polls;		 /* status polls issued (diagnostics) */
};

int nor_fail(struct nor *nor, int code, const char *op, bool has_addr, uint32_t addr,
	     const char *fmt, ...) PRINTF_FMT(6, 7);
int nor_read_sr(struct nor *nor, uint8_t op, uint8_t *ret);
int nor_wait_ready(struct nor *nor, uint64_t typ_us, uint64_t max_us, const char *op,
		   uint32_t addr);
/*
 * WREN + status read + command in one transaction. If the chip was still busy (it then ignores
 * both), waits up to busy_max_us and sends it once more.
 */
int nor_write_cmd(struct nor *nor, const uint8_t *hdr, size_t hdr_len, const uint8_t *data,
		  size_t data_len, const char *op, uint32_t addr, uint64_t busy_max_us);
int nor_write_enable_prefix(struct nor *nor, struct spibus_seg *segs, size_t *n);
int nor_addr_header(struct nor *nor, uint8_t op3, uint8_t op4, uint32_t addr, const char *opname,
		    uint8_t hdr[5], size_t *ret_len);
const struct chip_erase_type *nor_erase_type(const struct nor *nor, uint32_t size);
/*
 * nor_protect_check() against the state the job's first check read (read once if there is
 * none): what nor_program()/nor_erase() ask before every command, at no bus cost.
 */
int nor_protect_check_cached(struct nor *nor, uint32_t addr, uint64_t len);
/* Bytes of the SST26 block-protection register for this part (protect.c). */
size_t nor_sst26_bpr_len(const struct chip_info *info);

#endif
