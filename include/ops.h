/* SPDX-License-Identifier: MIT */
/*
 * ops.h - the flash algorithms of the operations engine: read (with confirming passes),
 * smart/full write, erase, verify, blank check. Knows jobs only through hooks, so they can be
 * driven by the worker, tests and benchmarks alike.
 *
 * Writes run in two passes so that nothing is destroyed before it is safe:
 *   pass 1 reads the chip window by window (a window is the largest erase size) while the new
 *          image streams in, compares, plans the cheapest erases and the pages to program,
 *          spools the new contents of changed windows to a file and hands the old contents of
 *          every unit that will change to the backup hook;
 *   then   the stream must have been complete and the backup durable, or the job ends with
 *          the chip untouched;
 *   pass 2 erases and programs only what the plan says, and reads back what it wrote.
 * Memory is bounded by a few windows whatever the image size.
 *
 * Cancellation is checked between commands (each page program, each erase), never inside one.
 * Errors return -errno and fill *ret_err with operation, address and cause.
 *
 * Threading: called on the thread that owns the nor (the worker).
 */
#ifndef FLASHD_OPS_H
#define FLASHD_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nor.h"

enum ops_phase {
	OPS_PHASE_READING,
	OPS_PHASE_BACKUP,
	OPS_PHASE_ERASING,
	OPS_PHASE_PROGRAMMING,
	OPS_PHASE_VERIFYING,
	_OPS_PHASE_MAX,
};

enum ops_range_kind {
	OPS_RANGE_ERASED,
	OPS_RANGE_PROGRAMMED,
	OPS_RANGE_MISMATCH,
	_OPS_RANGE_MAX,
};

/* Every hook is optional unless the operation says otherwise; ctx is passed back verbatim. */
struct ops_hooks {
	void *ctx;
	/*
	 * Work of a phase in bytes, announced before it starts so the whole operation's work is
	 * known early; announced again when pass 1 knows the exact figure.
	 */
	void (*plan)(void *ctx, enum ops_phase phase, uint64_t total);
	/*
	 * Enter a phase; total is its whole work in bytes. Writes and erases enter erasing,
	 * programming and verifying again for each window, with the same total.
	 */
	void (*phase)(void *ctx, enum ops_phase phase, uint64_t total);
	/* n more bytes of the current phase are done. */
	void (*progress)(void *ctx, uint64_t n);
	/* Polled between commands. */
	bool (*cancelled)(void *ctx);
	/*
	 * Something happened to [addr, addr+len). ERASED and PROGRAMMED are reported just
	 * before the command is sent: a command that was sent may have changed the chip even
	 * if it then failed (a status poll that timed out, a transfer error).
	 */
	void (*range)(void *ctx, enum ops_range_kind kind, uint32_t addr, uint32_t len);
	/* write/verify: deliver len bytes of the image; returns how many it delivered (fewer only
	 * when the image ended early), or -errno. */
	ssize_t (*source)(void *ctx, uint8_t *buf, size_t len);
	/* write/verify: after the last byte, 0 if the stream ends here, -EMSGSIZE if it goes on. */
	int (*source_end)(void *ctx);
	/*
	 * write from a sparse image (restore), instead of source: buf holds the chip's current
	 * contents of [addr, addr+len); overwrite the bytes the image has there. 0 or -errno.
	 * The image is consumed in address order; the write reads only windows it has bytes in,
	 * and computes no digests (the image's owner does).
	 */
	int (*overlay)(void *ctx, uint32_t addr, uint8_t *buf, size_t len);
	/* sparse image: the first address >= addr it has bytes for; UINT64_MAX when none. */
	uint64_t (*overlay_next)(void *ctx, uint64_t addr);
	/* read: consume len bytes (may block while the consumer is slow). */
	int (*sink)(void *ctx, const uint8_t *buf, size_t len);
	/* destructive ops: old contents of [addr, addr+len) before they change. */
	int (*backup_add)(void *ctx, uint32_t addr, const uint8_t *data, size_t len);
	/* destructive ops: make everything added durable; called before the first erase/program. */
	int (*backup_commit)(void *ctx);
};

struct ops_write_opts {
	bool full;	   /* erase every unit of the range and program every non-blank page */
	bool verify;	   /* read back what was written (default true) */
	bool unlock;	   /* clear write protection for the job, restored afterwards */
	bool preserve;	   /* unaligned edges: keep the bytes outside the range (default true) */
	bool backup;	   /* save old contents through the hooks (default true) */
	const char *spool_dir; /* where pass 1 spools new window contents (state dir) */
};

struct ops_erase_opts {
	bool unlock;
	bool preserve; /* allow an unaligned range: outside bytes are read and rewritten */
	bool backup;   /* read first: save old contents, and skip blocks already blank */
	const char *spool_dir;
};

struct ops_result {
	uint64_t bytes;		/* image bytes read/written/compared */
	uint32_t crc32;		/* of those bytes */
	char sha256[65];
	bool blank;		/* blank check */
	uint32_t first_non_blank;
	uint64_t mismatched;	/* bytes that differed (verify, read confirmation) */
	uint64_t erased, programmed;
	uint32_t erase_commands, program_commands;
	bool unlocked;		/* protection was cleared and then restored */
};

void ops_write_opts_init(struct ops_write_opts *o);
void ops_erase_opts_init(struct ops_erase_opts *o);

/* Read [addr, addr+len) to hooks->sink; passes >= 2 reads every block that many times. */
int ops_read(struct nor *nor, const struct ops_hooks *h, uint32_t addr, uint64_t len,
	     unsigned passes, struct ops_result *ret, struct nor_error *ret_err);

/* Write len bytes from hooks->source (or hooks->overlay) at addr. */
int ops_write(struct nor *nor, const struct ops_hooks *h, uint32_t addr, uint64_t len,
	      const struct ops_write_opts *o, struct ops_result *ret, struct nor_error *ret_err);

/* Erase [addr, addr+len); whole chip when addr == 0 and len == chip size. */
int ops_erase(struct nor *nor, const struct ops_hooks *h, uint32_t addr, uint64_t len,
	      const struct ops_erase_opts *o, struct ops_result *ret, struct nor_error *ret_err);

/* Compare [addr, addr+len) with hooks->source; -EBADMSG if anything differs. */
int ops_verify(struct nor *nor, const struct ops_hooks *h, uint32_t addr, uint64_t len,
	       struct ops_result *ret, struct nor_error *ret_err);

/* Is [addr, addr+len) all 0xFF? Not an error if not: see ret->blank. */
int ops_blank_check(struct nor *nor, const struct ops_hooks *h, uint32_t addr, uint64_t len,
		    struct ops_result *ret, struct nor_error *ret_err);

/*
 * Cheapest set of erase commands (by datasheet typical time) covering exactly the units
 * marked in need[] (one flag per smallest-erase-size unit starting at base), never touching a
 * unit outside [0, n_units). A unit not needed may be erased if that is cheaper; then
 * reprogram_us[u] is the cost of programming it again. Writes the chosen (addr, size) pairs
 * to steps and their count to *ret_n. Exposed for tests.
 */
struct ops_erase_step {
	uint32_t addr;
	uint32_t size;
};
int ops_plan_erase(const struct chip_info *info, uint32_t base, const bool *need,
		   const uint64_t *reprogram_us, size_t n_units, bool allow_chip_erase,
		   struct ops_erase_step *steps, size_t max_steps, size_t *ret_n);

#endif
