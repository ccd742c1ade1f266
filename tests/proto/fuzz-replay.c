/* SPDX-License-Identifier: MIT */
/*
 * fuzz-replay.c - run a libFuzzer target over files without libFuzzer, so the corpus is
 * replayed in every `meson test` (suite fuzz). Arguments are files or directories (one level).
 * Temporary: tests/fuzz/meson.build gets a shared replay driver; this one then goes away.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path, unsigned *count)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	printf("ok %u - %s\n", ++*count, path);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned count = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			printf("not ok %u - %s: cannot stat\n", ++count, argv[i]);
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			struct dirent **ents;
			int n = scandir(argv[i], &ents, NULL, alphasort);

			for (int k = 0; k < n; k++) {
				char p[4096];

				if (ents[k]->d_name[0] != '.') {
					snprintf(p, sizeof(p), "%s/%s", argv[i], ents[k]->d_name);
					if (run_file(p, &count) < 0) {
						printf("not ok %u - %s: cannot read\n", ++count, p);
						return 1;
					}
				}
				free(ents[k]);
			}
			free(ents);
		} else if (run_file(argv[i], &count) < 0) {
			printf("not ok %u - %s: cannot read\n", ++count, argv[i]);
			return 1;
		}
	}
	printf("1..%u\n", count);
	return 0;
}
