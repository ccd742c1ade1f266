/* SPDX-License-Identifier: MIT */
/*
 * backup.c - the backup store: previous chip contents saved before destructive jobs.
 *
 * The on-disk format is documented in backup.h. Invariants:
 *  - A record is appended with one write sequence and the file offset of the last whole
 *    record is remembered; a failed write cuts the file back there, so a .partial file is
 *    always "header + whole records + at most one torn record" and recovery can trust
 *    everything before the first bad record.
 *  - The crc32 of a record covers its addr and len fields, so a record whose header was
 *    damaged cannot deliver data to the wrong address.
 *  - Names are published by rename() after fsync() of the file, and the directory is
 *    fsynced after, so a manifest never names data that is not on disk.
 *  - Everything is done relative to a directory fd (openat/renameat/unlinkat), so ids
 *    never build paths and a hostile file name cannot escape the store.
 *
 * Threading: one mutex serialises directory mutations (begin's prune + create, commit's
 * renames, delete, recovery) and the set of backups being written; reading and listing
 * take it only to snapshot that set. A struct backup is used by one thread at a time.
 */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "digest.h"
#include "util.h"

#define FILE_MAGIC "FLASHDBK"
#define FILE_VERSION 2u /* 2 added blank records; version 1 files are read as before */
#define FILE_HEADER_LEN 96u
#define REC_MAGIC "BREC"
#define BLANK_MAGIC "BLNK"
#define REC_HEADER_LEN 16u
#define MANIFEST_FORMAT 1

struct backup_store {
	pthread_mutex_t lock;
	int dirfd;
	char *dir;
	size_t max_count;
	uint64_t max_bytes;
	backup_statvfs_fn statvfs_fn;
	struct backup *active; /* being written: never listed, pruned or deleted */
};

struct backup {
	struct backup_store *store;
	struct backup *next_active;
	char id[BACKUP_ID_SIZE];
	struct backup_meta meta;
	uint64_t created_ns;
	uint64_t expected_max;
	int fd;
	uint64_t data_bytes;   /* bytes covered (what a restore writes) */
	uint64_t stored_bytes; /* of those, bytes stored as data (blank runs cost a header) */
	uint32_t blank_addr;   /* a run of erased (0xFF) bytes not yet written as a record */
	uint64_t blank_len;
	uint64_t good_off; /* file size up to the last whole record */
	bool dirty;        /* written since the last sync */
	bool dir_synced;
	int err;           /* sticky write error */
	struct digest file_digest;
	struct digest data_digest;
	struct backup_range *ranges;
	size_t n_ranges, cap_ranges;
};

/* ---- small helpers ---- */

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | ((uint64_t)get_le32(p + 4) << 32);
}

static uint32_t crc32_buf(uint32_t crc, const void *buf, size_t len)
{
	return (uint32_t)crc32(crc, buf, (uInt)len);
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

bool backup_id_valid(const char *id)
{
	size_t n;

	if (!id)
		return false;
	n = strnlen(id, BACKUP_ID_SIZE);
	if (n == 0 || n >= BACKUP_ID_SIZE)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes: 1 ok, 0 clean EOF before any byte, -EBADMSG short, -errno. */
static int read_exact(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return got == 0 ? 0 : -EBADMSG;
		got += (size_t)n;
	}
	return 1;
}

static bool exists_at(int dirfd, const char *id, const char *suffix)
{
	char name[BACKUP_ID_SIZE + 16];
	struct stat st;

	snprintf(name, sizeof(name), "%s%s", id, suffix);
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int mkdir_p(const char *dir)
{
	char *p, *s = strdup(dir);
	int r = 0;

	if (!s)
		return -ENOMEM;
	for (p = s + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(s, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			goto out;
		}
		*p = '/';
	}
	if (mkdir(s, 0700) < 0 && errno != EEXIST)
		r = -errno;
out:
	free(s);
	return r;
}

/* ---- file header ---- */

static void encode_header(uint8_t h[FILE_HEADER_LEN], const struct backup_meta *meta,
			  uint64_t created_s)
{
	memset(h, 0, FILE_HEADER_LEN);
	memcpy(h, FILE_MAGIC, 8);
	put_le32(h + 8, FILE_VERSION);
	put_le32(h + 12, FILE_HEADER_LEN);
	put_le64(h + 16, meta->job_id);
	put_le64(h + 24, meta->chip_size);
	put_le32(h + 32, meta->jedec_id);
	put_le64(h + 40, created_s);
	memcpy(h + 48, meta->chip, strnlen(meta->chip, BACKUP_CHIP_NAME_SIZE - 1));
	put_le32(h + 92, crc32_buf(0, h, 92));
}

static int decode_header(const uint8_t h[FILE_HEADER_LEN], struct backup_meta *meta,
			 uint64_t *created_s)
{
	if (memcmp(h, FILE_MAGIC, 8) != 0 || get_le32(h + 8) < 1 ||
	    get_le32(h + 8) > FILE_VERSION ||
	    get_le32(h + 12) != FILE_HEADER_LEN || get_le32(h + 92) != crc32_buf(0, h, 92))
		return -EBADMSG;
	memset(meta, 0, sizeof(*meta));
	meta->job_id = get_le64(h + 16);
	meta->chip_size = get_le64(h + 24);
	meta->jedec_id = get_le32(h + 32);
	*created_s = get_le64(h + 40);
	memcpy(meta->chip, h + 48, BACKUP_CHIP_NAME_SIZE - 1);
	meta->chip[BACKUP_CHIP_NAME_SIZE - 1] = '\0';
	return 0;
}

static void encode_rec_header(uint8_t r[REC_HEADER_LEN], uint32_t addr, const void *data,
			      uint32_t len)
{
	memcpy(r, REC_MAGIC, 4);
	put_le32(r + 4, addr);
	put_le32(r + 8, len);
	put_le32(r + 12, crc32_buf(crc32_buf(0, r + 4, 8), data, len));
}

/* A blank record: [addr, addr+len) held 0xFF; no data follows. */
static void encode_blank_header(uint8_t r[REC_HEADER_LEN], uint32_t addr, uint32_t len)
{
	memcpy(r, BLANK_MAGIC, 4);
	put_le32(r + 4, addr);
	put_le32(r + 8, len);
	put_le32(r + 12, crc32_buf(0, r + 4, 8));
}

static bool all_ff(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0xFF)
			return false;
	return true;
}

/* Feed len bytes of 0xFF to a digest. */
static void digest_ff(struct digest *d, uint64_t len)
{
	uint8_t ff[4096];

	memset(ff, 0xFF, sizeof(ff));
	while (len) {
		size_t n = (size_t)MIN(len, (uint64_t)sizeof(ff));

		digest_update(d, ff, n);
		len -= n;
	}
}

/* ---- ranges ---- */

static int ranges_add(struct backup_range **v, size_t *n, size_t *cap, uint32_t addr,
		      uint64_t len)
{
	if (*n > 0) {
		struct backup_range *last = &(*v)[*n - 1];

		if ((uint64_t)last->addr + last->len == addr) {
			last->len += len;
			return 0;
		}
	}
	if (*n >= BACKUP_RANGES_MAX)
		return -E2BIG;
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct backup_range *nv = realloc(*v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = (struct backup_range){.addr = addr, .len = len};
	return 0;
}

/* ---- manifest ---- */

struct manifest {
	char id[BACKUP_ID_SIZE];
	uint64_t created_ns;
	struct backup_meta meta;
	const struct backup_range *ranges;
	size_t n_ranges;
	uint64_t total_bytes, file_bytes;
	const char *sha256, *data_sha256;
	bool incomplete;
};

static int fsync_dir(struct backup_store *s)
{
	return fsync(s->dirfd) < 0 ? -errno : 0;
}

static int write_manifest(struct backup_store *s, const struct manifest *m)
{
	char created[32], jedec[16], tmpname[BACKUP_ID_SIZE + 16], name[BACKUP_ID_SIZE + 16];
	time_t secs = (time_t)(m->created_ns / NSEC_PER_SEC);
	struct tm tm;
	json_t *root, *ranges;
	char *text = NULL;
	int fd = -1, r;

	gmtime_r(&secs, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(jedec, sizeof(jedec), "0x%06" PRIx32, m->meta.jedec_id);
	ranges = json_array();
	for (size_t i = 0; ranges && i < m->n_ranges; i++)
		json_array_append_new(ranges, json_pack("{s:I,s:I}", "addr",
							(json_int_t)m->ranges[i].addr, "len",
							(json_int_t)m->ranges[i].len));
	root = json_pack("{s:i,s:s,s:s,s:I,s:I,s:s,s:s,s:I,s:o,s:I,s:I,s:s,s:s,s:b}", "format",
			 MANIFEST_FORMAT, "id", m->id, "created", created, "created_ns",
			 (json_int_t)m->created_ns, "job_id", (json_int_t)m->meta.job_id, "chip",
			 m->meta.chip, "jedec_id", jedec, "chip_size",
			 (json_int_t)m->meta.chip_size, "ranges", ranges, "total_bytes",
			 (json_int_t)m->total_bytes, "file_bytes", (json_int_t)m->file_bytes,
			 "sha256", m->sha256, "data_sha256", m->data_sha256, "incomplete",
			 (int)m->incomplete);
	if (!root)
		return -ENOMEM;
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!text)
		return -ENOMEM;

	snprintf(tmpname, sizeof(tmpname), "%s.json.tmp", m->id);
	snprintf(name, sizeof(name), "%s.json", m->id);
	(void)unlinkat(s->dirfd, tmpname, 0);
	fd = openat(s->dirfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = write_all(fd, text, strlen(text));
	if (r == 0)
		r = write_all(fd, "\n", 1);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(s->dirfd, tmpname, s->dirfd, name) < 0)
		r = -errno;
	if (r < 0)
		(void)unlinkat(s->dirfd, tmpname, 0);
	else
		r = fsync_dir(s);
out:
	free(text);
	return r;
}

static bool is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Read at most max bytes of a regular file at dirfd/name into a NUL-terminated buffer. */
static int read_small_file(int dirfd, const char *name, size_t max, char **ret_buf,
			   size_t *ret_len)
{
	struct stat st;
	char *buf;
	int fd, r;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		r = -EBADMSG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	r = st.st_size ? read_exact(fd, buf, (size_t)st.st_size) : 1;
	if (r <= 0) {
		free(buf);
		r = r == 0 ? -EBADMSG : r;
		goto out;
	}
	buf[st.st_size] = '\0';
	*ret_buf = buf;
	*ret_len = (size_t)st.st_size;
	r = 0;
out:
	close(fd);
	return r;
}

static int json_get_u64(json_t *root, const char *key, uint64_t max, uint64_t *ret)
{
	json_t *v = json_object_get(root, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return -EBADMSG;
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

static int json_get_str(json_t *root, const char *key, char *buf, size_t size)
{
	json_t *v = json_object_get(root, key);

	if (!json_is_string(v) || json_string_length(v) >= size ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -EBADMSG;
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* Parse and validate <id>.json into info. Everything in it is hostile. */
static int load_manifest(struct backup_store *s, const char *id, struct backup_info *ret_info)
{
	struct backup_info info = {0};
	char name[BACKUP_ID_SIZE + 16], jedec[16], *text = NULL, *end;
	json_t *root = NULL, *ranges, *el;
	json_error_t jerr;
	uint64_t sum = 0, fmt;
	size_t len = 0, i;
	unsigned long jv;
	int r;

	snprintf(name, sizeof(name), "%s.json", id);
	r = read_small_file(s->dirfd, name, BACKUP_MANIFEST_MAX, &text, &len);
	if (r < 0)
		return r;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	r = -EBADMSG;
	if (!json_is_object(root))
		goto fail;
	if (json_get_u64(root, "format", 1000, &fmt) < 0 || fmt != MANIFEST_FORMAT)
		goto fail;
	if (json_get_str(root, "id", info.id, sizeof(info.id)) < 0 ||
	    strcmp(info.id, id) != 0)
		goto fail;
	if (json_get_u64(root, "created_ns", INT64_MAX, &info.created_ns) < 0 ||
	    json_get_u64(root, "job_id", INT64_MAX, &info.meta.job_id) < 0 ||
	    json_get_u64(root, "chip_size", 1ull << 32, &info.meta.chip_size) < 0 ||
	    json_get_u64(root, "total_bytes", 1ull << 32, &info.total_bytes) < 0 ||
	    json_get_u64(root, "file_bytes", INT64_MAX, &info.file_bytes) < 0)
		goto fail;
	if (json_get_str(root, "chip", info.meta.chip, sizeof(info.meta.chip)) < 0 ||
	    json_get_str(root, "jedec_id", jedec, sizeof(jedec)) < 0 ||
	    json_get_str(root, "sha256", info.sha256, sizeof(info.sha256)) < 0 ||
	    json_get_str(root, "data_sha256", info.data_sha256, sizeof(info.data_sha256)) < 0)
		goto fail;
	if (!is_hex64(info.sha256) || !is_hex64(info.data_sha256))
		goto fail;
	errno = 0;
	jv = strtoul(jedec, &end, 16);
	if (errno || *end || jv > 0xFFFFFFu || jedec[0] != '0')
		goto fail;
	info.meta.jedec_id = (uint32_t)jv;
	if (!json_is_boolean(json_object_get(root, "incomplete")))
		goto fail;
	info.incomplete = json_is_true(json_object_get(root, "incomplete"));

	ranges = json_object_get(root, "ranges");
	if (!json_is_array(ranges) || json_array_size(ranges) > BACKUP_RANGES_MAX)
		goto fail;
	info.n_ranges = json_array_size(ranges);
	if (info.n_ranges) {
		info.ranges = calloc(info.n_ranges, sizeof(*info.ranges));
		if (!info.ranges) {
			r = -ENOMEM;
			goto fail;
		}
	}
	json_array_foreach(ranges, i, el) {
		uint64_t addr, rlen;

		if (!json_is_object(el) || json_get_u64(el, "addr", UINT32_MAX, &addr) < 0 ||
		    json_get_u64(el, "len", 1ull << 32, &rlen) < 0 || rlen == 0 ||
		    addr + rlen > (1ull << 32))
			goto fail;
		info.ranges[i] = (struct backup_range){.addr = (uint32_t)addr, .len = rlen};
		sum += rlen;
	}
	if (sum != info.total_bytes)
		goto fail;
	if (info.file_bytes < FILE_HEADER_LEN)
		goto fail;
	json_decref(root);
	*ret_info = info;
	return 0;
fail:
	json_decref(root);
	free(info.ranges);
	return r;
}

void backup_info_clear(struct backup_info *info)
{
	if (!info)
		return;
	free(info->ranges);
	info->ranges = NULL;
	info->n_ranges = 0;
}

/* ---- scanning ---- */

/*
 * Chronological order of ids "<UTC time>-job<N>[-<k>]": the time, then N and k as numbers
 * (so job10 comes after job9 within one second). Other ids compare as strings.
 */
static int cmp_asc(const void *a, const void *b)
{
	const char *x = a, *y = b, *jx = strstr(x, "-job"), *jy = strstr(y, "-job");
	unsigned long long nx, ny, kx = 0, ky = 0;
	char *ex, *ey;
	int c;

	if (!jx || !jy || jx - x != jy - y || (c = strncmp(x, y, (size_t)(jx - x))) != 0)
		return strcmp(x, y);
	nx = strtoull(jx + 4, &ex, 10);
	ny = strtoull(jy + 4, &ey, 10);
	if (*ex == '-')
		kx = strtoull(ex + 1, NULL, 10);
	if (*ey == '-')
		ky = strtoull(ey + 1, NULL, 10);
	if (nx != ny)
		return nx < ny ? -1 : 1;
	if (kx != ky)
		return kx < ky ? -1 : 1;
	return strcmp(x, y);
}

/* Ids of files in the store with the given suffix, sorted ascending (oldest first). */
static int scan_ids(struct backup_store *s, const char *suffix, char (**ret_ids)[BACKUP_ID_SIZE],
		    size_t *ret_n)
{
	char(*ids)[BACKUP_ID_SIZE] = NULL;
	size_t n = 0, cap = 0, sl = strlen(suffix);
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)) && n < BACKUP_SCAN_MAX) {
		size_t nl = strlen(de->d_name);
		char id[BACKUP_ID_SIZE];

		if (nl <= sl || nl - sl >= BACKUP_ID_SIZE || strcmp(de->d_name + nl - sl, suffix))
			continue;
		memcpy(id, de->d_name, nl - sl);
		id[nl - sl] = '\0';
		if (!backup_id_valid(id))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			void *nv = realloc(ids, ncap * sizeof(*ids));

			if (!nv) {
				free(ids);
				closedir(d);
				return -ENOMEM;
			}
			ids = nv;
			cap = ncap;
		}
		memcpy(ids[n++], id, BACKUP_ID_SIZE);
	}
	closedir(d);
	if (n > 0)
		qsort(ids, n, sizeof(*ids), cmp_asc);
	*ret_ids = ids;
	*ret_n = n;
	return 0;
}

/* Lock held. */
static bool is_active(struct backup_store *s, const char *id)
{
	for (struct backup *b = s->active; b; b = b->next_active)
		if (strcmp(b->id, id) == 0)
			return true;
	return false;
}

/* Lock held. Remove the files of a committed backup (manifest first: it is what lists it). */
static int remove_backup_files(struct backup_store *s, const char *id)
{
	char name[BACKUP_ID_SIZE + 16];
	int r = 0;

	snprintf(name, sizeof(name), "%s.json", id);
	if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
		r = -errno;
	snprintf(name, sizeof(name), "%s.bin", id);
	if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT && r == 0)
		r = -errno;
	return r;
}

/* ---- recovery ---- */

/*
 * Turn a leftover data file (<id>.partial, or <id>.bin without manifest) into a committed
 * backup flagged incomplete. Lock held.
 */
static int recover_one(struct backup_store *s, const char *id, const char *suffix)
{
	char name[BACKUP_ID_SIZE + 16], bin[BACKUP_ID_SIZE + 16];
	uint8_t h[FILE_HEADER_LEN], rh[REC_HEADER_LEN];
	struct digest fd_dig, data_dig;
	struct backup_range *ranges = NULL;
	size_t n_ranges = 0, cap_ranges = 0;
	uint8_t *buf = NULL;
	uint64_t off, created_s, total = 0;
	struct manifest m = {0};
	char sha[65], dsha[65];
	bool blank;
	int fd, r;

	snprintf(name, sizeof(name), "%s%s", id, suffix);
	snprintf(bin, sizeof(bin), "%s.bin", id);
	fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	r = read_exact(fd, h, sizeof(h));
	if (r == 1)
		r = decode_header(h, &m.meta, &created_s);
	else if (r == 0)
		r = -EBADMSG;
	if (r < 0) {
		char corrupt[BACKUP_ID_SIZE + 16];

		/* Not ours or unreadable: set it aside, never delete data. */
		close(fd);
		snprintf(corrupt, sizeof(corrupt), "%s.corrupt", id);
		if (r == -EBADMSG)
			(void)renameat(s->dirfd, name, s->dirfd, corrupt);
		return r;
	}
	digest_init(&fd_dig);
	digest_init(&data_dig);
	digest_update(&fd_dig, h, sizeof(h));
	off = FILE_HEADER_LEN;
	buf = malloc(BACKUP_RECORD_MAX);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		uint32_t addr, len;

		r = read_exact(fd, rh, sizeof(rh));
		if (r <= 0)
			break;
		addr = get_le32(rh + 4);
		len = get_le32(rh + 8);
		blank = memcmp(rh, BLANK_MAGIC, 4) == 0;
		if ((!blank && memcmp(rh, REC_MAGIC, 4) != 0) || len == 0 ||
		    len > BACKUP_RECORD_MAX || (uint64_t)addr + len > (1ull << 32))
			break;
		if (blank) {
			if (crc32_buf(0, rh + 4, 8) != get_le32(rh + 12))
				break;
		} else {
			r = read_exact(fd, buf, len);
			if (r <= 0)
				break;
			if (crc32_buf(crc32_buf(0, rh + 4, 8), buf, len) != get_le32(rh + 12))
				break;
		}
		if (ranges_add(&ranges, &n_ranges, &cap_ranges, addr, len) < 0)
			break;
		digest_update(&fd_dig, rh, sizeof(rh));
		if (blank) {
			digest_ff(&data_dig, len);
		} else {
			digest_update(&fd_dig, buf, len);
			digest_update(&data_dig, buf, len);
		}
		off += REC_HEADER_LEN + (blank ? 0 : len);
		total += len;
	}
	if (r < 0 && r != -EBADMSG)
		goto out;
	/* Cut the torn tail so the file is exactly what the manifest describes. */
	if (ftruncate(fd, (off_t)off) < 0 || fsync(fd) < 0) {
		r = -errno;
		goto out;
	}
	if (strcmp(suffix, ".bin") != 0 && renameat(s->dirfd, name, s->dirfd, bin) < 0) {
		r = -errno;
		goto out;
	}
	digest_final(&fd_dig, NULL, sha);
	digest_final(&data_dig, NULL, dsha);
	snprintf(m.id, sizeof(m.id), "%s", id);
	m.created_ns = created_s * NSEC_PER_SEC;
	m.ranges = ranges;
	m.n_ranges = n_ranges;
	m.total_bytes = total;
	m.file_bytes = off;
	m.sha256 = sha;
	m.data_sha256 = dsha;
	m.incomplete = true;
	r = write_manifest(s, &m);
out:
	free(buf);
	free(ranges);
	close(fd);
	return r;
}

static int recover_all(struct backup_store *s)
{
	char(*ids)[BACKUP_ID_SIZE] = NULL;
	size_t n = 0;
	int r;

	/* Leftover manifest temp files are never referenced by anything. */
	r = scan_ids(s, ".json.tmp", &ids, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		char name[BACKUP_ID_SIZE + 16];

		snprintf(name, sizeof(name), "%s.json.tmp", ids[i]);
		(void)unlinkat(s->dirfd, name, 0);
	}
	free(ids);

	r = scan_ids(s, ".partial", &ids, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (exists_at(s->dirfd, ids[i], ".bin") || exists_at(s->dirfd, ids[i], ".json"))
			continue; /* never overwrite a committed backup */
		(void)recover_one(s, ids[i], ".partial");
	}
	free(ids);

	r = scan_ids(s, ".bin", &ids, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (!exists_at(s->dirfd, ids[i], ".json"))
			(void)recover_one(s, ids[i], ".bin");
	free(ids);
	return 0;
}

/* ---- store ---- */

int backup_store_open(const char *dir, size_t max_count, uint64_t max_bytes,
		      struct backup_store **ret_store)
{
	struct backup_store *s;
	struct stat st;
	int r;

	if (!dir || !*dir)
		return -EINVAL;
	r = mkdir_p(dir);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dirfd = -1;
	s->max_count = max_count;
	s->max_bytes = max_bytes;
	s->statvfs_fn = statvfs;
	s->dir = strdup(dir);
	if (!s->dir) {
		r = -ENOMEM;
		goto err;
	}
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		r = -errno;
		goto err;
	}
	if (fstat(s->dirfd, &st) < 0) {
		r = -errno;
		goto err;
	}
	r = -pthread_mutex_init(&s->lock, NULL);
	if (r)
		goto err;
	r = recover_all(s);
	if (r < 0) {
		pthread_mutex_destroy(&s->lock);
		goto err;
	}
	*ret_store = s;
	return 0;
err:
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->dir);
	free(s);
	return r;
}

void backup_store_close(struct backup_store *store)
{
	if (!store)
		return;
	pthread_mutex_destroy(&store->lock);
	close(store->dirfd);
	free(store->dir);
	free(store);
}

void backup_store_set_statvfs(struct backup_store *store, backup_statvfs_fn fn)
{
	pthread_mutex_lock(&store->lock);
	store->statvfs_fn = fn ? fn : statvfs;
	pthread_mutex_unlock(&store->lock);
}

/* Disk bytes a backup of data_bytes needs at most: records, header, manifest slack. */
static uint64_t needed_bytes(uint64_t data_bytes)
{
	return data_bytes + (data_bytes / 4096 + 1) * REC_HEADER_LEN + FILE_HEADER_LEN +
	       64 * 1024;
}

/*
 * Lock held: remove the oldest committed backups (never keep_id) until the store is within
 * max_count and max_bytes and, when shortfall > 0, until that many bytes were freed; -ENOSPC
 * (nothing removed) when all of them together are not that many.
 */
static int prune_locked(struct backup_store *s, const char *keep_id, uint64_t shortfall)
{
	char(*ids)[BACKUP_ID_SIZE] = NULL;
	uint64_t *sizes = NULL, total = 0, freed = 0;
	size_t n = 0, left;
	int r;

	if (s->max_count == 0 && s->max_bytes == 0 && shortfall == 0)
		return 0;
	r = scan_ids(s, ".json", &ids, &n);
	if (r < 0)
		return r;
	sizes = calloc(n ? n : 1, sizeof(*sizes));
	if (!sizes) {
		free(ids);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		char name[BACKUP_ID_SIZE + 16];
		struct stat st;

		/* Count what is on disk, not what a manifest claims. */
		snprintf(name, sizeof(name), "%s.bin", ids[i]);
		if (fstatat(s->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			sizes[i] = (uint64_t)st.st_size;
		total += sizes[i];
	}
	/* removing every backup would not make room: remove none */
	if (shortfall > total) {
		free(sizes);
		free(ids);
		return -ENOSPC;
	}
	/* oldest first: ids sort by creation time, then job id (numerically) */
	left = n;
	for (size_t i = 0; i < n && r == 0; i++) {
		if ((!s->max_count || left <= s->max_count) &&
		    (!s->max_bytes || total <= s->max_bytes) && freed >= shortfall)
			break;
		if (keep_id && strcmp(ids[i], keep_id) == 0)
			continue;
		r = remove_backup_files(s, ids[i]);
		total -= sizes[i];
		freed += sizes[i];
		left--;
	}
	free(sizes);
	free(ids);
	return r;
}

static void make_id(struct backup_store *s, uint64_t job_id, uint64_t created_ns,
		    char id[BACKUP_ID_SIZE])
{
	time_t secs = (time_t)(created_ns / NSEC_PER_SEC);
	char base[40];
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(base, sizeof(base), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(id, BACKUP_ID_SIZE, "%s-job%" PRIu64, base, job_id);
	for (unsigned k = 2; is_active(s, id) || exists_at(s->dirfd, id, ".partial") ||
			     exists_at(s->dirfd, id, ".bin") || exists_at(s->dirfd, id, ".json");
	     k++)
		snprintf(id, BACKUP_ID_SIZE, "%s-job%" PRIu64 "-%u", base, job_id, k);
}

int backup_begin(struct backup_store *store, const struct backup_meta *meta,
		 uint64_t expected_max_bytes, struct backup **ret_b, char *msg, size_t msg_len)
{
	uint8_t h[FILE_HEADER_LEN];
	struct statvfs vfs;
	struct backup *b;
	char name[BACKUP_ID_SIZE + 16];
	uint64_t need, avail;
	int r;

	if (msg && msg_len)
		msg[0] = '\0';
	if (!meta || expected_max_bytes > (1ull << 32))
		return -EINVAL;
	need = needed_bytes(expected_max_bytes);
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->store = store;
	b->meta = *meta;
	b->meta.chip[BACKUP_CHIP_NAME_SIZE - 1] = '\0';
	b->expected_max = expected_max_bytes;
	b->created_ns = realtime_ns();
	b->fd = -1;
	digest_init(&b->file_digest);
	digest_init(&b->data_digest);

	pthread_mutex_lock(&store->lock);
	if (store->max_bytes && need > store->max_bytes) {
		r = -ENOSPC;
		if (msg && msg_len)
			snprintf(msg, msg_len,
				 "backup of %" PRIu64 " bytes exceeds the backup size limit of %" PRIu64
				 " bytes",
				 expected_max_bytes, store->max_bytes);
		goto err_unlock;
	}
	/*
	 * Retention (max_count, max_bytes) is applied when a backup is committed, so a job that
	 * ends up changing nothing pushes nothing out. Only a full filesystem makes room here,
	 * oldest first, and only as much as this backup needs.
	 */
	if (store->statvfs_fn(store->dir, &vfs) < 0) {
		r = -errno;
		if (msg && msg_len)
			snprintf(msg, msg_len, "statvfs %s failed", store->dir);
		goto err_unlock;
	}
	avail = (uint64_t)vfs.f_bavail * (uint64_t)(vfs.f_frsize ? vfs.f_frsize : vfs.f_bsize);
	if (avail < need) {
		r = prune_locked(store, NULL, need - avail);
		if (r == -ENOSPC) {
			r = 0; /* explained below */
		} else if (r < 0) {
			if (msg && msg_len)
				snprintf(msg, msg_len, "removing old backups in %s failed",
					 store->dir);
			goto err_unlock;
		}
		if (store->statvfs_fn(store->dir, &vfs) < 0) {
			r = -errno;
			if (msg && msg_len)
				snprintf(msg, msg_len, "statvfs %s failed", store->dir);
			goto err_unlock;
		}
		avail = (uint64_t)vfs.f_bavail *
			(uint64_t)(vfs.f_frsize ? vfs.f_frsize : vfs.f_bsize);
	}
	if (avail < need) {
		r = -ENOSPC;
		if (msg && msg_len)
			snprintf(msg, msg_len,
				 "backup needs %" PRIu64 " bytes but %s has only %" PRIu64
				 " bytes free",
				 need, store->dir, avail);
		goto err_unlock;
	}
	make_id(store, meta->job_id, b->created_ns, b->id);
	snprintf(name, sizeof(name), "%s.partial", b->id);
	b->fd = openat(store->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		       0600);
	if (b->fd < 0) {
		r = -errno;
		goto err_unlock;
	}
	encode_header(h, &b->meta, b->created_ns / NSEC_PER_SEC);
	r = write_all(b->fd, h, sizeof(h));
	if (r < 0) {
		close(b->fd);
		(void)unlinkat(store->dirfd, name, 0);
		goto err_unlock;
	}
	digest_update(&b->file_digest, h, sizeof(h));
	b->good_off = FILE_HEADER_LEN;
	b->dirty = true;
	b->next_active = store->active;
	store->active = b;
	pthread_mutex_unlock(&store->lock);
	*ret_b = b;
	return 0;

err_unlock:
	pthread_mutex_unlock(&store->lock);
	free(b);
	return r;
}

const char *backup_id(const struct backup *b)
{
	return b->id;
}

uint64_t backup_bytes(const struct backup *b)
{
	return b->data_bytes + b->blank_len;
}
/*
 * A record could not be written whole: cut the file back to its last whole record, undo the
 * range bookkeeping of the n lost bytes, and remember the error (later adds report it).
 */
static int record_lost(struct backup *b, uint32_t n, int r)
{
	if (ftruncate(b->fd, (off_t)b->good_off) == 0)
		(void)lseek(b->fd, (off_t)b->good_off, SEEK_SET);
	if (b->n_ranges > 0) {
		struct backup_range *last = &b->ranges[b->n_ranges - 1];

		if (last->len > n)
			last->len -= n;
		else
			b->n_ranges--;
	}
	b->err = r;
	return r;
}


/* Write the pending blank run as blank records (whole records only, like backup_add). */
static int flush_blank(struct backup *b)
{
	while (b->blank_len) {
		uint32_t n = (uint32_t)MIN(b->blank_len, (uint64_t)BACKUP_RECORD_MAX);
		uint8_t rh[REC_HEADER_LEN];
		int r;

		r = ranges_add(&b->ranges, &b->n_ranges, &b->cap_ranges, b->blank_addr, n);
		if (r < 0)
			return r;
		encode_blank_header(rh, b->blank_addr, n);
		r = write_all(b->fd, rh, sizeof(rh));
		if (r < 0)
			return record_lost(b, n, r);
		digest_update(&b->file_digest, rh, sizeof(rh));
		digest_ff(&b->data_digest, n);
		b->data_bytes += n;
		b->good_off += REC_HEADER_LEN;
		b->dirty = true;
		b->blank_addr += n;
		b->blank_len -= n;
	}
	return 0;
}

int backup_add(struct backup *b, uint32_t addr, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t a = addr;
	int r;

	if (b->err)
		return b->err;
	if (len == 0)
		return 0;
	if (a + len > (1ull << 32))
		return -EINVAL;
	if (all_ff(p, len)) {
		/* erased: recorded as a blank run, merged with the one before when adjacent */
		if (b->blank_len && (uint64_t)b->blank_addr + b->blank_len != a) {
			r = flush_blank(b);
			if (r < 0)
				return r;
		}
		if (!b->blank_len)
			b->blank_addr = addr;
		b->blank_len += len;
		return 0;
	}
	if (b->stored_bytes + len > b->expected_max)
		return -ENOSPC;
	r = flush_blank(b);
	if (r < 0)
		return r;

	while (len > 0) {
		uint32_t n = (uint32_t)MIN(len, (size_t)BACKUP_RECORD_MAX);
		uint8_t rh[REC_HEADER_LEN];

		r = ranges_add(&b->ranges, &b->n_ranges, &b->cap_ranges, (uint32_t)a, n);
		if (r < 0)
			return r;
		encode_rec_header(rh, (uint32_t)a, p, n);
		r = write_all(b->fd, rh, sizeof(rh));
		if (r == 0)
			r = write_all(b->fd, p, n);
		if (r < 0)
			return record_lost(b, n, r);
		digest_update(&b->file_digest, rh, sizeof(rh));
		digest_update(&b->file_digest, p, n);
		digest_update(&b->data_digest, p, n);
		b->good_off += REC_HEADER_LEN + n;
		b->data_bytes += n;
		b->stored_bytes += n;
		b->dirty = true;
		p += n;
		a += n;
		len -= n;
	}
	return 0;
}

int backup_sync(struct backup *b)
{
	int r = flush_blank(b);

	if (r < 0)
		return r;
	if (!b->dirty)
		return 0;
	if (fdatasync(b->fd) < 0)
		return -errno;
	if (!b->dir_synced) {
		r = fsync_dir(b->store);
		if (r < 0)
			return r;
		b->dir_synced = true;
	}
	b->dirty = false;
	return 0;
}

/* Lock held. */
static void unlink_active(struct backup_store *s, struct backup *b)
{
	for (struct backup **pp = &s->active; *pp; pp = &(*pp)->next_active) {
		if (*pp == b) {
			*pp = b->next_active;
			return;
		}
	}
}

static void backup_free(struct backup *b)
{
	if (b->fd >= 0)
		close(b->fd);
	free(b->ranges);
	free(b);
}

int backup_commit(struct backup *b, struct backup_info *ret_info)
{
	struct backup_store *s = b->store;
	char partial[BACKUP_ID_SIZE + 16], bin[BACKUP_ID_SIZE + 16];
	char sha[65], dsha[65];
	struct manifest m = {0};
	int r = 0;

	snprintf(partial, sizeof(partial), "%s.partial", b->id);
	snprintf(bin, sizeof(bin), "%s.bin", b->id);
	(void)flush_blank(b); /* on failure the run is not in the ranges: the file stays whole */
	pthread_mutex_lock(&s->lock);
	if (b->data_bytes == 0) {
		(void)unlinkat(s->dirfd, partial, 0);
		r = -ENODATA;
		goto out;
	}
	if (fsync(b->fd) < 0) {
		r = -errno;
		goto out;
	}
	if (renameat(s->dirfd, partial, s->dirfd, bin) < 0) {
		r = -errno;
		goto out;
	}
	digest_final(&b->file_digest, NULL, sha);
	digest_final(&b->data_digest, NULL, dsha);
	snprintf(m.id, sizeof(m.id), "%s", b->id);
	m.created_ns = b->created_ns;
	m.meta = b->meta;
	m.ranges = b->ranges;
	m.n_ranges = b->n_ranges;
	m.total_bytes = b->data_bytes;
	m.file_bytes = b->good_off;
	m.sha256 = sha;
	m.data_sha256 = dsha;
	m.incomplete = false;
	r = write_manifest(s, &m); /* also fsyncs the directory (covers the rename) */
	if (r == 0)
		(void)prune_locked(s, b->id, 0); /* retention; a failure leaves more, not less */
	if (r == 0 && ret_info) {
		struct backup_info info = {0};

		if (b->n_ranges) {
			info.ranges = malloc(b->n_ranges * sizeof(*info.ranges));
			if (!info.ranges) {
				r = -ENOMEM;
				goto out;
			}
			memcpy(info.ranges, b->ranges, b->n_ranges * sizeof(*info.ranges));
		}
		memcpy(info.id, m.id, sizeof(info.id));
		info.created_ns = m.created_ns;
		info.meta = m.meta;
		info.n_ranges = m.n_ranges;
		info.total_bytes = m.total_bytes;
		info.file_bytes = m.file_bytes;
		memcpy(info.sha256, sha, sizeof(sha));
		memcpy(info.data_sha256, dsha, sizeof(dsha));
		*ret_info = info;
	}
out:
	unlink_active(s, b);
	pthread_mutex_unlock(&s->lock);
	backup_free(b);
	return r;
}

void backup_discard(struct backup *b)
{
	struct backup_store *s;
	char partial[BACKUP_ID_SIZE + 16];

	if (!b)
		return;
	s = b->store;
	snprintf(partial, sizeof(partial), "%s.partial", b->id);
	pthread_mutex_lock(&s->lock);
	(void)unlinkat(s->dirfd, partial, 0);
	unlink_active(s, b);
	pthread_mutex_unlock(&s->lock);
	backup_free(b);
}

void backup_abort(struct backup *b)
{
	if (!b)
		return;
	/* With data, abort is a commit: nothing is ever lost. Without, commit removes it. */
	(void)backup_commit(b, NULL);
}

/* ---- reading ---- */

static bool is_active_unlocked(struct backup_store *s, const char *id)
{
	bool r;

	pthread_mutex_lock(&s->lock);
	r = is_active(s, id);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int cmp_desc(const void *a, const void *b)
{
	return -cmp_asc(a, b);
}

int backup_list(struct backup_store *store, backup_list_fn cb, void *ctx)
{
	char(*ids)[BACKUP_ID_SIZE] = NULL;
	size_t n = 0;
	int r;

	pthread_mutex_lock(&store->lock);
	r = scan_ids(store, ".json", &ids, &n);
	pthread_mutex_unlock(&store->lock);
	if (r < 0)
		return r;
	if (n > 0)
		qsort(ids, n, sizeof(*ids), cmp_desc);
	for (size_t i = 0; i < n && r == 0; i++) {
		struct backup_info info;

		if (load_manifest(store, ids[i], &info) < 0)
			continue;
		r = cb(&info, ctx);
		backup_info_clear(&info);
	}
	free(ids);
	return r;
}

int backup_get(struct backup_store *store, const char *id, struct backup_info *ret_info)
{
	if (!backup_id_valid(id))
		return -EINVAL;
	if (is_active_unlocked(store, id))
		return -ENOENT;
	return load_manifest(store, id, ret_info);
}

/*
 * Walk <id>.bin: verify the header, every record's crc32, the coverage against the manifest
 * and the sha256 of the whole file. With cb == NULL nothing is delivered (verify pass).
 */
static int walk_file(struct backup_store *s, const struct backup_info *info, backup_read_fn cb,
		     void *ctx)
{
	char name[BACKUP_ID_SIZE + 16], sha[65];
	uint8_t h[FILE_HEADER_LEN], rh[REC_HEADER_LEN];
	struct backup_meta meta;
	struct digest dig;
	uint64_t created_s, off, total = 0;
	size_t range_i = 0;
	uint64_t range_off = 0;
	uint8_t *buf = NULL;
	struct stat st;
	bool blank;
	int fd, r;

	snprintf(name, sizeof(name), "%s.bin", info->id);
	fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? -EBADMSG : -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != info->file_bytes) {
		r = -EBADMSG;
		goto out;
	}
	r = read_exact(fd, h, sizeof(h));
	if (r <= 0 || decode_header(h, &meta, &created_s) < 0) {
		r = r < 0 && r != -EBADMSG ? r : -EBADMSG;
		goto out;
	}
	digest_init(&dig);
	digest_update(&dig, h, sizeof(h));
	buf = malloc(BACKUP_RECORD_MAX);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	off = FILE_HEADER_LEN;
	for (;;) {
		uint32_t addr, len;

		r = read_exact(fd, rh, sizeof(rh));
		if (r == 0)
			break;
		if (r < 0)
			goto out;
		addr = get_le32(rh + 4);
		len = get_le32(rh + 8);
		blank = memcmp(rh, BLANK_MAGIC, 4) == 0;
		if ((!blank && memcmp(rh, REC_MAGIC, 4) != 0) || len == 0 ||
		    len > BACKUP_RECORD_MAX ||
		    off + REC_HEADER_LEN + (blank ? 0 : len) > info->file_bytes) {
			r = -EBADMSG;
			goto out;
		}
		if (blank) {
			memset(buf, 0xFF, len);
			if (crc32_buf(0, rh + 4, 8) != get_le32(rh + 12)) {
				r = -EBADMSG;
				goto out;
			}
		} else {
			r = read_exact(fd, buf, len);
			if (r <= 0) {
				r = r < 0 ? r : -EBADMSG;
				goto out;
			}
			if (crc32_buf(crc32_buf(0, rh + 4, 8), buf, len) != get_le32(rh + 12)) {
				r = -EBADMSG;
				goto out;
			}
		}
		/* The record must continue the manifest's ranges exactly. */
		if (range_i >= info->n_ranges ||
		    addr != info->ranges[range_i].addr + range_off ||
		    len > info->ranges[range_i].len - range_off) {
			r = -EBADMSG;
			goto out;
		}
		range_off += len;
		if (range_off == info->ranges[range_i].len) {
			range_i++;
			range_off = 0;
		}
		digest_update(&dig, rh, sizeof(rh));
		if (!blank)
			digest_update(&dig, buf, len);
		off += REC_HEADER_LEN + (blank ? 0 : len);
		total += len;
		if (cb) {
			r = cb(addr, buf, len, ctx);
			if (r != 0)
				goto out;
		}
	}
	digest_final(&dig, NULL, sha);
	if (total != info->total_bytes || range_i != info->n_ranges ||
	    strcmp(sha, info->sha256) != 0)
		r = -EBADMSG;
	else
		r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

int backup_read(struct backup_store *store, const char *id, backup_read_fn cb, void *ctx)
{
	struct backup_info info;
	int r;

	r = backup_get(store, id, &info);
	if (r < 0)
		return r;
	/* Verify everything first: a corrupt backup must not deliver a single byte. */
	r = walk_file(store, &info, NULL, NULL);
	if (r == 0)
		r = walk_file(store, &info, cb, ctx);
	backup_info_clear(&info);
	return r;
}

struct backup_reader {
	int fd;
	uint64_t off, file_bytes;
	uint8_t *buf;
};

int backup_reader_open(struct backup_store *store, const char *id, struct backup_reader **ret,
		       struct backup_info *ret_info)
{
	char name[BACKUP_ID_SIZE + 16];
	struct backup_reader *rd;
	struct backup_info info;
	int r;

	r = backup_get(store, id, &info);
	if (r < 0)
		return r;
	/* Verify everything first: a corrupt backup must not deliver a single byte. */
	r = walk_file(store, &info, NULL, NULL);
	if (r < 0)
		goto fail;
	rd = calloc(1, sizeof(*rd));
	if (!rd) {
		r = -ENOMEM;
		goto fail;
	}
	rd->buf = malloc(BACKUP_RECORD_MAX);
	snprintf(name, sizeof(name), "%s.bin", info.id);
	rd->fd = openat(store->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (!rd->buf || rd->fd < 0) {
		r = rd->buf ? -errno : -ENOMEM;
		if (rd->fd >= 0)
			close(rd->fd);
		free(rd->buf);
		free(rd);
		goto fail;
	}
	rd->off = FILE_HEADER_LEN;
	rd->file_bytes = info.file_bytes;
	if (lseek(rd->fd, (off_t)FILE_HEADER_LEN, SEEK_SET) < 0) {
		r = -errno;
		backup_reader_close(rd);
		goto fail;
	}
	*ret = rd;
	if (ret_info)
		*ret_info = info;
	else
		backup_info_clear(&info);
	return 0;
fail:
	backup_info_clear(&info);
	return r;
}

int backup_reader_next(struct backup_reader *rd, uint32_t *ret_addr, const uint8_t **ret_data,
		       size_t *ret_len)
{
	uint8_t rh[REC_HEADER_LEN];
	uint32_t addr, len;
	bool blank;
	int r;

	if (rd->off >= rd->file_bytes)
		return 0;
	r = read_exact(rd->fd, rh, sizeof(rh));
	if (r <= 0)
		return r < 0 ? r : -EBADMSG;
	addr = get_le32(rh + 4);
	len = get_le32(rh + 8);
	blank = memcmp(rh, BLANK_MAGIC, 4) == 0;
	if ((!blank && memcmp(rh, REC_MAGIC, 4) != 0) || len == 0 || len > BACKUP_RECORD_MAX ||
	    rd->off + REC_HEADER_LEN + (blank ? 0 : len) > rd->file_bytes)
		return -EBADMSG;
	/* checked again: the file was verified whole, but it is read a second time */
	if (blank) {
		if (crc32_buf(0, rh + 4, 8) != get_le32(rh + 12))
			return -EBADMSG;
		memset(rd->buf, 0xFF, len);
	} else {
		r = read_exact(rd->fd, rd->buf, len);
		if (r <= 0)
			return r < 0 ? r : -EBADMSG;
		if (crc32_buf(crc32_buf(0, rh + 4, 8), rd->buf, len) != get_le32(rh + 12))
			return -EBADMSG;
	}
	rd->off += REC_HEADER_LEN + (blank ? 0 : len);
	*ret_addr = addr;
	*ret_data = rd->buf;
	*ret_len = len;
	return 1;
}

void backup_reader_close(struct backup_reader *rd)
{
	if (!rd)
		return;
	if (rd->fd >= 0)
		close(rd->fd);
	free(rd->buf);
	free(rd);
}

int backup_delete(struct backup_store *store, const char *id)
{
	int r;

	if (!backup_id_valid(id))
		return -EINVAL;
	pthread_mutex_lock(&store->lock);
	if (is_active(store, id))
		r = -EBUSY;
	else if (!exists_at(store->dirfd, id, ".json") && !exists_at(store->dirfd, id, ".bin"))
		r = -ENOENT;
	else
		r = remove_backup_files(store, id);
	if (r == 0)
		r = fsync_dir(store);
	pthread_mutex_unlock(&store->lock);
	return r;
}
