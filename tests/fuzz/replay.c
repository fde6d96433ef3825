/*
 * replay.c - a main() for the fuzz targets in the normal (gcc) build: runs
 * LLVMFuzzerTestOneInput once on every file named on the command line and
 * on every regular file inside every directory named (in name order, not
 * recursing). ctest runs it over corpus/<target>/ and regressions/<target>/,
 * so the seeds and every input that once crashed a target are checked on
 * each test run, under ASan and UBSan in the sanitize build.
 *
 * A target reports a failed check by aborting, as under libFuzzer; this
 * program prints the input's path first, so the failing file is known.
 * Exit status: 0 when every input ran, 1 on an unreadable argument or when
 * no input was found at all (a misnamed directory must not pass silently).
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The longest input replayed; far above every target's -max_len in scripts/fuzz.sh. */
#define REPLAY_INPUT_MAX (1024 * 1024)

/*
 * Reads all of path into a buffer of exactly its size, as libFuzzer hands
 * inputs to targets, so that ASan catches a read past the end here too.
 * Returns 0, or -1 with a message printed.
 */
static int replay_read(const char *path, uint8_t **data_r, size_t *size_r)
{
	FILE *f = fopen(path, "rb");
	struct stat st;

	if (f == NULL || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	if (st.st_size > REPLAY_INPUT_MAX) {
		fprintf(stderr, "replay: %s: larger than %d bytes\n", path, REPLAY_INPUT_MAX);
		fclose(f);
		return -1;
	}
	size_t size = (size_t)st.st_size;
	uint8_t *data = malloc(size > 0 ? size : 1);
	int bad = data == NULL || fread(data, 1, size, f) != size;
	fclose(f);
	if (bad) {
		fprintf(stderr, "replay: %s: %s\n", path, data == NULL ? "out of memory" : "short read");
		free(data);
		return -1;
	}
	*data_r = data;
	*size_r = size;
	return 0;
}

static int replay_file(const char *path, unsigned *count)
{
	uint8_t *data;
	size_t size;

	if (replay_read(path, &data, &size) != 0)
		return -1;
	/* Printed before the run: if the target aborts, this is the last line. */
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
	LLVMFuzzerTestOneInput(data, size);
	free(data);
	(*count)++;
	return 0;
}

static int replay_skip(const struct dirent *e)
{
	return e->d_name[0] != '.'; /* ".", ".." and hidden files such as .gitkeep */
}

static int replay_dir(const char *dir, unsigned *count)
{
	struct dirent **names;
	int n = scandir(dir, &names, replay_skip, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	int ret = 0;
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		int len = snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (len < 0 || (size_t)len >= sizeof(path)) {
			fprintf(stderr, "replay: %s/%s: path too long\n", dir, names[i]->d_name);
			ret = -1;
		} else if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && replay_file(path, count) != 0) {
			ret = -1;
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	int ret = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			ret = 1;
		} else if (S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count) != 0
		                               : replay_file(argv[i], &count) != 0) {
			ret = 1;
		}
	}
	if (count == 0) {
		fprintf(stderr, "replay: no input found\n");
		ret = 1;
	}
	printf("replay: %u inputs ran\n", count);
	return ret;
}
