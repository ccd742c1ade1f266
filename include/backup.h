/* SPDX-License-Identifier: MIT */
/*
 * backup.h - "nothing lost": the previous contents of every region a destructive job
 * changes are saved to the state directory before the chip is touched.
 *
 * A backup is created per destructive job and filled while the job runs: the image is
 * streamed, so the engine saves each erase block's old contents just before erasing it
 * (backup_add), makes them durable before the destructive command (backup_sync), and
 * commits at the end whether the job succeeded or not (backup_commit) once any destructive
 * command was sent; a job that sent none discards it (backup_discard).
 *
 * On-disk format (all integers little-endian), in the store directory (mode 0700):
 *
 *   <id>.partial   while the job runs; renamed to <id>.bin at commit
 *   <id>.bin       file header, then records
 *   <id>.json      manifest written at commit (tmp file + fsync + rename + dir fsync)
 *
 *   file header, 96 bytes:  "FLASHDBK" | u32 version=2 (1 is read too) | u32 header_len=96 |
 *                           u64 job_id | u64 chip_size | u32 jedec_id | u32 0 | u64 created (unix s) |
 *                           char chip[32] (NUL padded) | 8 bytes 0 | u32 crc32(bytes 0..91)
 *   record, 16 + len bytes: "BREC" | u32 addr | u32 len (1..BACKUP_RECORD_MAX) |
 *                           u32 crc32(addr, len fields and data) | data[len]
 *   blank record, 16 bytes: "BLNK" | u32 addr | u32 len (1..BACKUP_RECORD_MAX) |
 *                           u32 crc32(addr, len fields); [addr, addr+len) held 0xFF
 *                           (version 2; backup_add() writes erased data this way, and
 *                           merges adjacent erased runs into one record)
 *
 *   manifest: {"format":1, "id", "created" (ISO 8601 UTC), "created_ns", "job_id", "chip",
 *              "jedec_id", "chip_size", "ranges":[{"addr","len"}], "total_bytes",
 *              "file_bytes", "sha256" (of the whole .bin file), "data_sha256" (of the
 *              contents the records stand for, blank ones as 0xFF, in file order: what a
 *              restore writes), "incomplete"}
 *
 * A crash mid-job leaves <id>.partial; backup_store_open() recovers it: records are read up
 * to the first torn or corrupt one, the file is truncated there, renamed to .bin and given
 * a manifest with "incomplete": true. A .bin without a manifest is recovered the same way.
 * A file whose header is unreadable is renamed <id>.corrupt and left alone.
 *
 * IDs sort chronologically: "20261123T071502Z-job7" (UTC time of backup_begin and job id;
 * "-2", "-3" ... appended on collision). Only [0-9A-Za-z_-] are valid in an id.
 *
 * Everything read back (manifests, data files) is treated as hostile: sizes, counts and
 * strings are bounded, and data whose sha256 or crc32 does not match is refused with
 * -EBADMSG so it is never written to a chip.
 *
 * Threading: the store may be used from several threads (one worker writing, RPC handlers
 * listing, reading and deleting); a struct backup belongs to one thread at a time. The store
 * never removes or lists a backup that is still being written.
 *
 * Non-logging: failures return -errno, and backup_begin() can also explain itself in msg.
 */
#ifndef FLASHD_BACKUP_H
#define FLASHD_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/statvfs.h>

struct backup_store;
struct backup;

#define BACKUP_ID_SIZE 64u              /* including NUL */
#define BACKUP_CHIP_NAME_SIZE 32u       /* including NUL */
#define BACKUP_RECORD_MAX (1024u * 1024u) /* larger backup_add() calls are split */
#define BACKUP_RANGES_MAX 65536u        /* distinct ranges per backup (and per manifest) */
#define BACKUP_MANIFEST_MAX (4u * 1024u * 1024u) /* bytes of JSON we are willing to parse */
#define BACKUP_SCAN_MAX 4096u           /* manifests considered in one directory scan */

struct backup_meta {
	uint64_t job_id;
	char chip[BACKUP_CHIP_NAME_SIZE];
	uint32_t jedec_id;
	uint64_t chip_size;
};

struct backup_range {
	uint32_t addr;
	uint64_t len;
};

struct backup_info {
	char id[BACKUP_ID_SIZE];
	uint64_t created_ns;            /* CLOCK_REALTIME ns */
	struct backup_meta meta;
	struct backup_range *ranges;    /* owned; free with backup_info_clear() */
	size_t n_ranges;
	uint64_t total_bytes;           /* bytes covered (blank records included) */
	uint64_t file_bytes;            /* size of <id>.bin */
	char sha256[65];                /* of <id>.bin */
	char data_sha256[65];           /* of the data, in file order */
	bool incomplete;                /* recovered after a crash */
};

/*
 * Open (creating it, mode 0700, with parents) the store in dir and recover leftovers of a
 * crash. max_count / max_bytes bound what is kept (0 = no bound); backup_commit() removes the
 * oldest backups to stay within both (never the one it commits), so a backup that is
 * discarded or never committed pushes nothing out. 0, -EINVAL, -ENOTDIR, -ENOMEM or an I/O errno.
 * Close with backup_store_close().
 */
int backup_store_open(const char *dir, size_t max_count, uint64_t max_bytes,
		      struct backup_store **ret_store);
/* Accepts NULL. Backups still being written must have been committed or aborted. */
void backup_store_close(struct backup_store *store);

/* Test seam: replaces statvfs() for the free-space check (NULL restores it). */
typedef int (*backup_statvfs_fn)(const char *path, struct statvfs *buf);
void backup_store_set_statvfs(struct backup_store *store, backup_statvfs_fn fn);

/*
 * Start a backup for a job about to change up to expected_max_bytes of the chip. Checks that
 * the filesystem has room for expected_max_bytes plus record overhead; when it has not,
 * removes the oldest backups, only as many as that needs. 0 and *ret_b; -ENOSPC when it does
 * not fit (in the free space or in max_bytes), with a human explanation in msg (if msg_len > 0);
 * -EINVAL; I/O errnos. Nothing touches the chip before this succeeds.
 */
int backup_begin(struct backup_store *store, const struct backup_meta *meta,
		 uint64_t expected_max_bytes, struct backup **ret_b, char *msg, size_t msg_len);
/* The backup's id; borrowed until commit/abort. */
const char *backup_id(const struct backup *b);
/* Bytes covered so far (blank ones included). */
uint64_t backup_bytes(const struct backup *b);

/*
 * Append the old contents of [addr, addr+len). Not durable until backup_sync(). All-0xFF
 * data is recorded as blank (no data stored). 0, -ENOSPC when the stored data would exceed
 * expected_max_bytes, -EINVAL (range past 4 GiB),
 * -E2BIG (more than BACKUP_RANGES_MAX disjoint ranges), or the write error (sticky: the
 * file is cut back to the last whole record and later adds fail with the same error).
 */
int backup_add(struct backup *b, uint32_t addr, const void *data, size_t len);
/*
 * Make everything added so far durable (fdatasync, and the directory entry on first use).
 * Returns at once when nothing was added since the last sync. 0 or -errno.
 */
int backup_sync(struct backup *b);
/*
 * Finish: fsync, rename to <id>.bin, write the manifest, fsync the directory, then apply
 * retention to the older backups. Consumes b in
 * every case. 0 and *ret_info (if not NULL; clear it with backup_info_clear()); -ENODATA if
 * nothing was added (the empty file is removed: there is no backup); other errnos if the
 * commit failed (the data stays on disk and is recovered at the next backup_store_open()).
 */
int backup_commit(struct backup *b, struct backup_info *ret_info);
/*
 * Drop a backup: if no data was added the file is removed; if some was, it is committed
 * instead (nothing is ever lost by aborting). Consumes b; accepts NULL.
 */
void backup_abort(struct backup *b);
/*
 * Throw a backup away, data and all: for a job that sent no destructive command, whose
 * chip still holds exactly what the backup would restore. Consumes b; accepts NULL.
 */
void backup_discard(struct backup *b);

/*
 * Call cb for every committed backup, newest first. info is borrowed for the call; cb
 * returning non-zero stops the walk and is returned. Manifests that fail validation are
 * skipped. 0, cb's value, or -errno.
 */
typedef int (*backup_list_fn)(const struct backup_info *info, void *ctx);
int backup_list(struct backup_store *store, backup_list_fn cb, void *ctx);
/* 0 and *ret_info (clear with backup_info_clear()), -ENOENT, -EINVAL (bad id), -EBADMSG. */
int backup_get(struct backup_store *store, const char *id, struct backup_info *ret_info);
/*
 * Verify the whole backup (manifest, file sha256, every record's crc32), and only then
 * deliver its records in file order to cb(addr, data, len, ctx). cb returning non-zero
 * stops and is returned. 0, -ENOENT, -EINVAL, -EBADMSG (corrupt: nothing was delivered),
 * -errno. data is borrowed for the call.
 */
typedef int (*backup_read_fn)(uint32_t addr, const uint8_t *data, size_t len, void *ctx);
int backup_read(struct backup_store *store, const char *id, backup_read_fn cb, void *ctx);
/*
 * The same, pulled record by record (for a consumer that drives the pace, like a restore
 * streaming into one write): verifies the whole backup first, then backup_reader_next()
 * gives 1 and the next record (data borrowed until the next call; blank records as 0xFF),
 * 0 at the end, or -EBADMSG/-errno. *ret_info (if not NULL) is the manifest: clear it with
 * backup_info_clear(). 0, -ENOENT, -EINVAL, -EBADMSG, -ENOMEM, -errno. Close with
 * backup_reader_close() (accepts NULL).
 */
struct backup_reader;
int backup_reader_open(struct backup_store *store, const char *id, struct backup_reader **ret,
		       struct backup_info *ret_info);
int backup_reader_next(struct backup_reader *rd, uint32_t *ret_addr, const uint8_t **ret_data,
		       size_t *ret_len);
void backup_reader_close(struct backup_reader *rd);
/* Remove a committed backup. 0, -ENOENT, -EINVAL, -EBUSY (being written), -errno. */
int backup_delete(struct backup_store *store, const char *id);

/* Accepts NULL and zeroed infos. */
void backup_info_clear(struct backup_info *info);
/* True if id is well-formed: 1..BACKUP_ID_SIZE-1 chars of [0-9A-Za-z_-]. */
bool backup_id_valid(const char *id);

#endif
