/* SPDX-License-Identifier: MIT */
/*
 * Corpus replay driver for any libFuzzer target (fuzz-sfdp, fuzz-sim-sfdp, later fuzz-rpc,
 * fuzz-config): linked with one target instead of libFuzzer, it feeds every regular file of
 * each directory (or each file) named on the command line to LLVMFuzzerTestOneInput, in name
 * order, so `meson test --suite fuzz` replays the corpus under the sanitizers of the build.
 *
 * Output is TAP, one line per input ("ok 3 - corpus/sfdp/garbage-ff"), the plan last, so
 * meson counts every input and names the one that did not run. A crash is the target's
 * abort() or a sanitizer report: the plan never comes and the test fails on the input
 * after the last "ok". The exit status is 0 when every input ran.
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

static unsigned tap_n;

static int tap_fail(const char *path, const char *why)
{
	printf("not ok %u - %s: %s\n", ++tap_n, path, why);
	fflush(stdout);
	return -1;
}

static int run_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	FILE *f;
	size_t n;

	f = fopen(path, "rb");
	if (!f)
		return tap_fail(path, strerror(errno));
	if (fstat(fileno(f), &st) < 0 || st.st_size < 0 ||
	    (uint64_t)st.st_size > REPLAY_MAX_INPUT) {
		fclose(f);
		return tap_fail(path, "not a readable input of at most 16 MiB");
	}
	/* exactly-sized heap copy, so ASan catches any read past the input */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		fclose(f);
		return tap_fail(path, "out of memory");
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	if (n != (size_t)st.st_size) {
		free(buf);
		return tap_fail(path, "short read");
	}
	/* say which input runs before it can crash, as a TAP comment */
	printf("# %s (%zu bytes)\n", path, n);
	fflush(stdout);
	LLVMFuzzerTestOneInput(n ? buf : NULL, n);
	free(buf);
	printf("ok %u - %s\n", ++tap_n, path);
	fflush(stdout);
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
			(void)tap_fail(argv[a], strerror(errno));
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
			(void)tap_fail(argv[a], strerror(errno));
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
	if (!ran)
		(void)tap_fail("corpus", "no inputs");
	printf("1..%u\n# replay: %u inputs, %u unreadable\n", tap_n, ran, failed);
	return failed || !ran ? 1 : 0;
}
