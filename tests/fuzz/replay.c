/* SPDX-License-Identifier: MIT */
/*
 * Corpus replay driver for any libFuzzer target (fuzz-sfdp, later fuzz-rpc, fuzz-config):
 * linked with one target instead of libFuzzer, it feeds every regular file of each directory
 * (or each file) named on the command line to LLVMFuzzerTestOneInput, in name order, so
 * `meson test --suite fuzz` replays the corpus under the sanitizers of the build. A crash
 * is the target's abort() or a sanitizer report; the exit status is 0 when all inputs ran.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (16u * 1024 * 1024)

static int run_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	FILE *f;
	size_t n;

	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) < 0 || st.st_size < 0 ||
	    (uint64_t)st.st_size > REPLAY_MAX_INPUT) {
		fprintf(stderr, "replay: %s: not a readable input of at most 16 MiB\n", path);
		fclose(f);
		return -1;
	}
	/* exactly-sized heap copy, so ASan catches any read past the input */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	if (n != (size_t)st.st_size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(buf);
		return -1;
	}
	LLVMFuzzerTestOneInput(n ? buf : NULL, n);
	free(buf);
	return 0;
}

static int only_files(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int main(int argc, char **argv)
{
	unsigned ran = 0, failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	for (int a = 1; a < argc; a++) {
		struct dirent **list;
		struct stat st;
		int n;

		if (stat(argv[a], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[a], strerror(errno));
			failed++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			failed += run_file(argv[a]) < 0;
			ran++;
			continue;
		}
		n = scandir(argv[a], &list, only_files, alphasort);
		if (n < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[a], strerror(errno));
			failed++;
			continue;
		}
		for (int i = 0; i < n; i++) {
			char path[4096];
			struct stat fst;

			snprintf(path, sizeof(path), "%s/%s", argv[a], list[i]->d_name);
			if (stat(path, &fst) == 0 && S_ISREG(fst.st_mode)) {
				failed += run_file(path) < 0;
				ran++;
			}
			free(list[i]);
		}
		free(list);
	}
	printf("replay: %u inputs, %u unreadable\n", ran, failed);
	return failed || !ran ? 1 : 0;
}
