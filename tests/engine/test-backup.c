/* SPDX-License-Identifier: MIT */
/*
 * backup: exact-byte round trips, retention by count and bytes, the free-space check (via
 * the statvfs seam), corruption refused with -EBADMSG before any byte is delivered, crash
 * recovery of a torn .partial file, and hostile manifests.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "digest.h"
#include "util.h"

#define IMG_SIZE (4u * 1024 * 1024)

struct fx {
	char *dir;
	struct backup_store *store;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = th_mkdtemp();
	assert_non_null(f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	backup_store_close(f->store);
	th_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static char *store_path(struct fx *f)
{
	return th_path(f->dir, "state/backups");
}

static void open_store(struct fx *f, size_t max_count, uint64_t max_bytes)
{
	char *p = store_path(f);

	backup_store_close(f->store);
	f->store = NULL;
	assert_int_equal(backup_store_open(p, max_count, max_bytes, &f->store), 0);
	free(p);
}

static const struct backup_meta meta7 = {
	.job_id = 7,
	.chip = "W25Q32JV",
	.jedec_id = 0xEF4016,
	.chip_size = IMG_SIZE,
};

/* Collect backup_read() output into an image (0x00 where nothing was delivered). */
struct sink {
	uint8_t *img;
	size_t calls;
	uint64_t bytes;
	uint32_t addrs[16];
};

static int sink_cb(uint32_t addr, const uint8_t *data, size_t len, void *ctx)
{
	struct sink *s = ctx;

	if ((uint64_t)addr + len > IMG_SIZE)
		return -ERANGE;
	memcpy(s->img + addr, data, len);
	if (s->calls < ARRAY_SIZE(s->addrs))
		s->addrs[s->calls] = addr;
	s->calls++;
	s->bytes += len;
	return 0;
}

/* One committed backup of `len` pattern bytes at addr; returns its id (caller frees). */
static char *make_backup(struct fx *f, uint64_t job_id, uint32_t addr, size_t len)
{
	struct backup_meta m = meta7;
	struct backup *b;
	struct backup_info info;
	uint8_t *data = malloc(len);
	char *id;

	assert_non_null(data);
	m.job_id = job_id;
	th_pattern(data, len, (uint32_t)job_id);
	assert_int_equal(backup_begin(f->store, &m, len, &b, NULL, 0), 0);
	assert_int_equal(backup_add(b, addr, data, len), 0);
	assert_int_equal(backup_commit(b, &info), 0);
	id = strdup(info.id);
	backup_info_clear(&info);
	free(data);
	return id;
}

static void store_dir_is_created_private(void **state)
{
	struct fx *f = *state;
	char *p = store_path(f);
	struct stat st;

	open_store(f, 0, 0);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	free(p);
	assert_int_equal(backup_store_open("", 1, 1, &f->store), -EINVAL);
}

static void roundtrip_exact_bytes_and_manifest(void **state)
{
	struct fx *f = *state;
	uint8_t *orig = calloc(1, IMG_SIZE);
	struct sink s = {.img = calloc(1, IMG_SIZE)};
	struct backup *b;
	struct backup_info info, got;
	char hex[65], msg[128];
	struct digest d;

	assert_non_null(orig);
	assert_non_null(s.img);
	open_store(f, 10, 0);
	th_pattern(orig, IMG_SIZE, 42);
	assert_int_equal(backup_begin(f->store, &meta7, 3 * 4096, &b, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
	assert_true(backup_id_valid(backup_id(b)));
	/* "YYYYMMDDTHHMMSSZ-job7" */
	assert_int_equal(strlen(backup_id(b)), 21);
	assert_int_equal(backup_id(b)[8], 'T');
	assert_string_equal(backup_id(b) + 15, "Z-job7");
	assert_int_equal(backup_add(b, 0x1000, orig + 0x1000, 4096), 0);
	assert_int_equal(backup_sync(b), 0);
	assert_int_equal(backup_sync(b), 0); /* nothing new: no-op */
	assert_int_equal(backup_add(b, 0x2000, orig + 0x2000, 4096), 0);
	assert_int_equal(backup_add(b, 0x8000, orig + 0x8000, 4096), 0);
	assert_int_equal(backup_add(b, 0x9000, orig + 0x9000, 1), -ENOSPC); /* over expected */
	assert_int_equal(backup_bytes(b), 3 * 4096);
	assert_int_equal(backup_commit(b, &info), 0);

	assert_int_equal(info.n_ranges, 2);
	assert_int_equal(info.ranges[0].addr, 0x1000);
	assert_int_equal(info.ranges[0].len, 0x2000);
	assert_int_equal(info.ranges[1].addr, 0x8000);
	assert_int_equal(info.ranges[1].len, 0x1000);
	assert_int_equal(info.total_bytes, 3 * 4096);
	assert_false(info.incomplete);
	digest_init(&d);
	digest_update(&d, orig + 0x1000, 0x2000);
	digest_update(&d, orig + 0x8000, 0x1000);
	digest_final(&d, NULL, hex);
	assert_string_equal(info.data_sha256, hex);

	assert_int_equal(backup_get(f->store, info.id, &got), 0);
	assert_string_equal(got.id, info.id);
	assert_string_equal(got.sha256, info.sha256);
	assert_string_equal(got.data_sha256, info.data_sha256);
	assert_string_equal(got.meta.chip, "W25Q32JV");
	assert_int_equal(got.meta.jedec_id, 0xEF4016);
	assert_int_equal(got.meta.job_id, 7);
	assert_int_equal(got.meta.chip_size, IMG_SIZE);
	assert_int_equal(got.n_ranges, 2);
	assert_int_equal(got.file_bytes, info.file_bytes);
	assert_int_equal(got.created_ns, info.created_ns);
	backup_info_clear(&got);

	assert_int_equal(backup_read(f->store, info.id, sink_cb, &s), 0);
	assert_int_equal(s.bytes, 3 * 4096);
	th_assert_bytes(s.img + 0x1000, orig + 0x1000, 0x2000);
	th_assert_bytes(s.img + 0x8000, orig + 0x8000, 0x1000);
	th_assert_filled(s.img, 0, 0x1000);
	th_assert_filled(s.img + 0x3000, 0, 0x5000);
	backup_info_clear(&info);
	free(orig);
	free(s.img);
}

static void large_add_is_split_into_bounded_records(void **state)
{
	struct fx *f = *state;
	const size_t len = 2 * BACKUP_RECORD_MAX + 12345;
	uint8_t *orig = malloc(len);
	struct sink s = {.img = calloc(1, IMG_SIZE)};
	struct backup *b;
	struct backup_info info;

	open_store(f, 0, 0);
	th_pattern(orig, len, 3);
	assert_int_equal(backup_begin(f->store, &meta7, len, &b, NULL, 0), 0);
	assert_int_equal(backup_add(b, 0x100, orig, len), 0);
	assert_int_equal(backup_commit(b, &info), 0);
	assert_int_equal(info.n_ranges, 1);
	assert_int_equal(info.ranges[0].len, len);
	assert_int_equal(backup_read(f->store, info.id, sink_cb, &s), 0);
	assert_int_equal(s.calls, 3);
	assert_int_equal(s.addrs[1], 0x100 + BACKUP_RECORD_MAX);
	th_assert_bytes(s.img + 0x100, orig, len);
	backup_info_clear(&info);
	free(orig);
	free(s.img);
}

struct idlist {
	char ids[16][BACKUP_ID_SIZE];
	uint64_t bytes;
	size_t n;
};

static int list_cb(const struct backup_info *info, void *ctx)
{
	struct idlist *l = ctx;

	if (l->n < 16)
		snprintf(l->ids[l->n], BACKUP_ID_SIZE, "%s", info->id);
	l->n++;
	l->bytes += info->file_bytes;
	return 0;
}

static void retention_by_count_keeps_newest(void **state)
{
	struct fx *f = *state;
	char *ids[5];
	struct idlist l = {.n = 0};

	open_store(f, 3, 0);
	for (int i = 0; i < 5; i++)
		ids[i] = make_backup(f, (uint64_t)i + 1, 0, 4096);
	assert_int_equal(backup_list(f->store, list_cb, &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.ids[0], ids[4]); /* newest first */
	assert_string_equal(l.ids[1], ids[3]);
	assert_string_equal(l.ids[2], ids[2]);
	assert_int_equal(backup_read(f->store, ids[0], sink_cb, NULL), -ENOENT);
	for (int i = 0; i < 5; i++)
		free(ids[i]);
}

static void retention_by_bytes_removes_oldest_first(void **state)
{
	struct fx *f = *state;
	const uint64_t max = 300000;
	char *ids[5];
	struct idlist l = {.n = 0};
	struct backup *b;
	char msg[160];

	open_store(f, 0, max);
	for (int i = 0; i < 5; i++)
		ids[i] = make_backup(f, (uint64_t)i + 1, 0, 65536);
	assert_int_equal(backup_list(f->store, list_cb, &l), 0);
	assert_true(l.n >= 1 && l.n < 5);
	assert_true(l.bytes <= max);
	for (size_t i = 0; i < l.n; i++) /* exactly the newest l.n survive */
		assert_string_equal(l.ids[i], ids[4 - i]);

	/* a backup that can never fit the limit is refused before anything is written */
	assert_int_equal(backup_begin(f->store, &meta7, max, &b, msg, sizeof(msg)), -ENOSPC);
	assert_non_null(strstr(msg, "limit"));
	for (int i = 0; i < 5; i++)
		free(ids[i]);
}

static uint64_t fake_free_blocks;

static int fake_statvfs(const char *path, struct statvfs *buf)
{
	(void)path;
	memset(buf, 0, sizeof(*buf));
	buf->f_bsize = buf->f_frsize = 4096;
	buf->f_bavail = (fsblkcnt_t)fake_free_blocks;
	return 0;
}

static int count_cb(const struct backup_info *info, void *ctx)
{
	(void)info;
	(*(int *)ctx)++;
	return 0;
}

static void not_enough_free_space_is_enospc_before_any_file(void **state)
{
	struct fx *f = *state;
	struct backup *b = NULL;
	char msg[160], *p;
	int n = 0;

	open_store(f, 0, 0);
	backup_store_set_statvfs(f->store, fake_statvfs);
	fake_free_blocks = 100; /* 400 KiB free */
	assert_int_equal(backup_begin(f->store, &meta7, 1024 * 1024, &b, msg, sizeof(msg)),
			 -ENOSPC);
	assert_null(b);
	assert_non_null(strstr(msg, "free"));
	assert_int_equal(backup_list(f->store, count_cb, &n), 0);
	assert_int_equal(n, 0);
	p = store_path(f);
	{
		/* nothing but the directory itself */
		char *cmd;

		assert_true(asprintf(&cmd, "test -z \"$(ls -A '%s')\"", p) > 0);
		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	free(p);
	fake_free_blocks = 1000; /* ~4 MiB: fits */
	assert_int_equal(backup_begin(f->store, &meta7, 1024 * 1024, &b, msg, sizeof(msg)), 0);
	backup_abort(b);
	backup_store_set_statvfs(f->store, NULL);
}

static void empty_backup_is_removed_abort_with_data_keeps_it(void **state)
{
	struct fx *f = *state;
	struct backup *b;
	struct backup_info info = {0};
	uint8_t data[16] = {1, 2, 3};
	int n = 0;

	open_store(f, 0, 0);
	assert_int_equal(backup_begin(f->store, &meta7, 4096, &b, NULL, 0), 0);
	assert_int_equal(backup_commit(b, &info), -ENODATA);
	assert_int_equal(backup_begin(f->store, &meta7, 4096, &b, NULL, 0), 0);
	backup_abort(b);
	assert_int_equal(backup_list(f->store, count_cb, &n), 0);
	assert_int_equal(n, 0);

	assert_int_equal(backup_begin(f->store, &meta7, 4096, &b, NULL, 0), 0);
	assert_int_equal(backup_add(b, 0, data, sizeof(data)), 0);
	backup_abort(b); /* has data: committed, nothing lost */
	assert_int_equal(backup_list(f->store, count_cb, &n), 0);
	assert_int_equal(n, 1);
	backup_abort(NULL);
}

static void delete_removes_and_refuses_active(void **state)
{
	struct fx *f = *state;
	struct backup *b;
	struct backup_info info;
	char *id;

	open_store(f, 0, 0);
	id = make_backup(f, 1, 0, 100);
	assert_int_equal(backup_delete(f->store, id), 0);
	assert_int_equal(backup_delete(f->store, id), -ENOENT);
	assert_int_equal(backup_get(f->store, id, &info), -ENOENT);
	assert_int_equal(backup_delete(f->store, "../x"), -EINVAL);
	assert_int_equal(backup_get(f->store, "a/b", &info), -EINVAL);
	assert_int_equal(backup_begin(f->store, &meta7, 4096, &b, NULL, 0), 0);
	assert_int_equal(backup_delete(f->store, backup_id(b)), -EBUSY);
	backup_abort(b);
	free(id);
}

static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x01;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void corrupted_backup_is_ebadmsg_and_delivers_nothing(void **state)
{
	struct fx *f = *state;
	struct sink s = {.img = calloc(1, IMG_SIZE)};
	char *id, *dir, *name, *path;

	open_store(f, 0, 0);
	id = make_backup(f, 1, 0x1000, 3 * BACKUP_RECORD_MAX / 2);
	dir = store_path(f);
	assert_true(asprintf(&name, "%s.bin", id) > 0);
	path = th_path(dir, name);
	/* last record's data: a lazy reader would have delivered the first record already */
	flip_byte(path, 96 + 16 + BACKUP_RECORD_MAX + 16 + 100);
	assert_int_equal(backup_read(f->store, id, sink_cb, &s), -EBADMSG);
	assert_int_equal(s.calls, 0);
	flip_byte(path, 96 + 16 + BACKUP_RECORD_MAX + 16 + 100); /* restore */
	assert_int_equal(backup_read(f->store, id, sink_cb, &s), 0);
	assert_int_equal(s.calls, 2);

	/* truncated file */
	s.calls = 0;
	assert_int_equal(truncate(path, 96 + 16 + 10), 0);
	assert_int_equal(backup_read(f->store, id, sink_cb, &s), -EBADMSG);
	assert_int_equal(s.calls, 0);
	free(path);
	free(name);
	free(dir);
	free(id);
	free(s.img);
}

static void copy_file(const char *from, const char *to, size_t extra_garbage)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	char buf[4096];
	size_t n;

	assert_non_null(in);
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	/* a torn record: valid magic, then the crash */
	if (extra_garbage) {
		assert_int_equal(fwrite("BREC\0\0\0\0\0\x10\0\0", 1, 12, out), 12);
		for (size_t i = 12; i < extra_garbage; i++)
			fputc(0xAA, out);
	}
	fclose(in);
	fclose(out);
}

static void crash_leftover_partial_is_recovered_incomplete(void **state)
{
	struct fx *f = *state;
	uint8_t data[8192];
	struct sink s = {.img = calloc(1, IMG_SIZE)};
	struct backup *b;
	struct backup_info info;
	char id[BACKUP_ID_SIZE], *dir, *name, *src, *dst, *dir2;
	struct backup_store *s2;
	struct stat st;

	open_store(f, 0, 0);
	th_pattern(data, sizeof(data), 11);
	assert_int_equal(backup_begin(f->store, &meta7, sizeof(data), &b, NULL, 0), 0);
	snprintf(id, sizeof(id), "%s", backup_id(b));
	assert_int_equal(backup_add(b, 0x4000, data, 4096), 0);
	assert_int_equal(backup_add(b, 0x5000, data + 4096, 4096), 0);
	assert_int_equal(backup_sync(b), 0);

	/* "crash": what is on disk now, plus a torn third record, in a fresh state dir */
	dir = store_path(f);
	dir2 = th_path(f->dir, "other");
	assert_int_equal(mkdir(dir2, 0700), 0);
	assert_true(asprintf(&name, "%s.partial", id) > 0);
	src = th_path(dir, name);
	dst = th_path(dir2, name);
	copy_file(src, dst, 2000);

	assert_int_equal(backup_store_open(dir2, 0, 0, &s2), 0);
	assert_int_equal(stat(dst, &st), -1); /* renamed to .bin */
	assert_int_equal(backup_get(s2, id, &info), 0);
	assert_true(info.incomplete);
	assert_int_equal(info.n_ranges, 1);
	assert_int_equal(info.ranges[0].addr, 0x4000);
	assert_int_equal(info.ranges[0].len, 8192);
	assert_string_equal(info.meta.chip, "W25Q32JV");
	assert_int_equal(info.meta.job_id, 7);
	assert_int_equal(backup_read(s2, id, sink_cb, &s), 0);
	th_assert_bytes(s.img + 0x4000, data, sizeof(data));
	assert_int_equal(s.bytes, 8192);
	backup_info_clear(&info);
	backup_store_close(s2);

	/* reopening again changes nothing (already recovered) */
	assert_int_equal(backup_store_open(dir2, 0, 0, &s2), 0);
	assert_int_equal(backup_get(s2, id, &info), 0);
	assert_int_equal(info.total_bytes, 8192);
	backup_info_clear(&info);
	backup_store_close(s2);

	backup_abort(b);
	free(src);
	free(dst);
	free(name);
	free(dir);
	free(dir2);
	free(s.img);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char *p = th_path(dir, name);
	FILE *fp = fopen(p, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	free(p);
}

static void hostile_manifests_are_skipped_and_refused(void **state)
{
	struct fx *f = *state;
	struct backup_info info;
	struct idlist l = {.n = 0};
	char *dir, *good, *p, *huge;
	const char *bad[][2] = {
		{"b1", "not json"},
		{"b2", "{\"format\":1,\"id\":\"other\"}"},
		{"b3", "[1,2,3]"},
		{"b4", "{\"format\":1,\"id\":\"b4\",\"created_ns\":1,\"job_id\":1,\"chip\":\"x\","
		       "\"jedec_id\":\"0xef4016\",\"chip_size\":4096,\"ranges\":[{\"addr\":0,"
		       "\"len\":99999999999}],\"total_bytes\":10,\"file_bytes\":200,\"sha256\":"
		       "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
		       "\"data_sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852"
		       "b855\",\"incomplete\":false}"},
		{"b5", "{\"format\":1,\"id\":\"b5\",\"created_ns\":-1}"},
		{"b6", "{\"format\":1,\"id\":\"b6\",\"created_ns\":1,\"job_id\":1,\"chip\":\"x\","
		       "\"jedec_id\":\"0xef4016\",\"chip_size\":4096,\"ranges\":[{\"addr\":0,"
		       "\"len\":10}],\"total_bytes\":11,\"file_bytes\":200,\"sha256\":"
		       "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
		       "\"data_sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852"
		       "b855\",\"incomplete\":false}"},
		{"b7", "{\"format\":1,\"id\":\"b7\",\"id\":\"b7\"}"},
	};

	open_store(f, 0, 0);
	good = make_backup(f, 1, 0, 64);
	dir = store_path(f);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char name[32];

		snprintf(name, sizeof(name), "%s.json", bad[i][0]);
		write_file(dir, name, bad[i][1]);
		assert_int_equal(backup_get(f->store, bad[i][0], &info), -EBADMSG);
		assert_int_equal(backup_read(f->store, bad[i][0], sink_cb, NULL), -EBADMSG);
	}
	/* an oversized manifest is not even read */
	p = th_path(dir, "big.json");
	assert_int_equal(close(open(p, O_WRONLY | O_CREAT, 0600)), 0);
	assert_int_equal(truncate(p, BACKUP_MANIFEST_MAX + 1), 0);
	assert_int_equal(backup_get(f->store, "big", &info), -EBADMSG);
	free(p);
	/* a manifest with far too many ranges */
	{
		size_t cap = (BACKUP_RANGES_MAX + 2) * 24 + 1024, off;

		huge = malloc(cap);
		assert_non_null(huge);
		off = (size_t)snprintf(huge, cap, "{\"format\":1,\"id\":\"many\",\"ranges\":[");
		for (size_t i = 0; i <= BACKUP_RANGES_MAX; i++)
			off += (size_t)snprintf(huge + off, cap - off, "%s{\"addr\":%zu,\"len\":1}",
						i ? "," : "", i * 2);
		snprintf(huge + off, cap - off, "]}");
		write_file(dir, "many.json", huge);
		free(huge);
		assert_int_equal(backup_get(f->store, "many", &info), -EBADMSG);
	}
	/* bad names in the directory are ignored */
	write_file(dir, "..json", "{}");
	write_file(dir, "a b.json", "{}");

	assert_int_equal(backup_list(f->store, list_cb, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.ids[0], good);
	free(dir);
	free(good);
}

static void erased_data_is_stored_as_blank_records_and_read_back_exactly(void **state)
{
	struct fx *f = *state;
	uint8_t *orig = malloc(IMG_SIZE);
	struct sink s = {.img = calloc(1, IMG_SIZE)};
	struct backup *b;
	struct backup_info info;
	struct digest d;
	char hex[65];

	assert_non_null(orig);
	open_store(f, 10, 0);
	memset(orig, 0xFF, IMG_SIZE);
	th_pattern(orig + 0x3000, 4096, 5);
	assert_int_equal(backup_begin(f->store, &meta7, 4096, &b, NULL, 0), 0);
	/* two erased units, then data, then an erased unit: 3 records, 4 KiB stored */
	assert_int_equal(backup_add(b, 0x1000, orig + 0x1000, 4096), 0);
	assert_int_equal(backup_add(b, 0x2000, orig + 0x2000, 4096), 0);
	assert_int_equal(backup_add(b, 0x3000, orig + 0x3000, 4096), 0);
	assert_int_equal(backup_add(b, 0x4000, orig + 0x4000, 4096), 0);
	assert_int_equal(backup_bytes(b), 4 * 4096);
	assert_int_equal(backup_commit(b, &info), 0);
	assert_int_equal(info.total_bytes, 4 * 4096);
	assert_int_equal(info.file_bytes, 96 + 3 * 16 + 4096);
	assert_int_equal(info.n_ranges, 1);
	assert_int_equal(info.ranges[0].addr, 0x1000);
	assert_int_equal(info.ranges[0].len, 4 * 4096);
	digest_init(&d);
	digest_update(&d, orig + 0x1000, 4 * 4096);
	digest_final(&d, NULL, hex);
	assert_string_equal(info.data_sha256, hex);
	assert_int_equal(backup_read(f->store, info.id, sink_cb, &s), 0);
	assert_int_equal(s.bytes, 4 * 4096);
	th_assert_bytes(s.img + 0x1000, orig + 0x1000, 4 * 4096);
	backup_info_clear(&info);
	free(orig);
	free(s.img);
}

static void retention_applies_at_commit_not_at_begin(void **state)
{
	struct fx *f = *state;
	struct idlist l = {.n = 0};
	struct backup *b;
	uint8_t data[4096];
	char *a, *c;

	open_store(f, 1, 0);
	a = make_backup(f, 1, 0, 4096);
	th_pattern(data, sizeof(data), 9);
	assert_int_equal(backup_begin(f->store, &meta7, 4096, &b, NULL, 0), 0);
	assert_int_equal(backup_add(b, 0, data, sizeof(data)), 0);
	assert_int_equal(backup_sync(b), 0);
	assert_int_equal(backup_list(f->store, list_cb, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.ids[0], a); /* still there while the new one is written */
	backup_discard(b);
	l.n = 0;
	assert_int_equal(backup_list(f->store, list_cb, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.ids[0], a); /* a discarded backup pushed nothing out */
	c = make_backup(f, 12, 0, 4096);
	l.n = 0;
	assert_int_equal(backup_list(f->store, list_cb, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.ids[0], c);
	free(a);
	free(c);
}

static void job_ids_sort_numerically_within_one_second(void **state)
{
	struct fx *f = *state;
	struct idlist l = {.n = 0};
	char *ids[3];

	open_store(f, 2, 0);
	/* same second (almost always): job9 is older than job10 */
	ids[0] = make_backup(f, 9, 0, 4096);
	ids[1] = make_backup(f, 10, 0, 4096);
	ids[2] = make_backup(f, 11, 0, 4096);
	assert_int_equal(backup_list(f->store, list_cb, &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.ids[0], ids[2]);
	assert_string_equal(l.ids[1], ids[1]);
	for (int i = 0; i < 3; i++)
		free(ids[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(store_dir_is_created_private, setup, teardown),
		cmocka_unit_test_setup_teardown(
			erased_data_is_stored_as_blank_records_and_read_back_exactly, setup,
			teardown),
		cmocka_unit_test_setup_teardown(retention_applies_at_commit_not_at_begin, setup,
						teardown),
		cmocka_unit_test_setup_teardown(job_ids_sort_numerically_within_one_second, setup,
						teardown),
		cmocka_unit_test_setup_teardown(roundtrip_exact_bytes_and_manifest, setup, teardown),
		cmocka_unit_test_setup_teardown(large_add_is_split_into_bounded_records, setup,
						teardown),
		cmocka_unit_test_setup_teardown(retention_by_count_keeps_newest, setup, teardown),
		cmocka_unit_test_setup_teardown(retention_by_bytes_removes_oldest_first, setup,
						teardown),
		cmocka_unit_test_setup_teardown(not_enough_free_space_is_enospc_before_any_file,
						setup, teardown),
		cmocka_unit_test_setup_teardown(empty_backup_is_removed_abort_with_data_keeps_it,
						setup, teardown),
		cmocka_unit_test_setup_teardown(delete_removes_and_refuses_active, setup, teardown),
		cmocka_unit_test_setup_teardown(corrupted_backup_is_ebadmsg_and_delivers_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(crash_leftover_partial_is_recovered_incomplete, setup,
						teardown),
		cmocka_unit_test_setup_teardown(hostile_manifests_are_skipped_and_refused, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
