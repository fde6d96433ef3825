/*
 * dkim_sign.c - test tool: signs the message on standard input with
 * common/dkim.c and writes the DKIM-Signature field and the message to
 * standard output, so tests/e2e/test_dkim.py can check the signature
 * with a verifier written elsewhere (python3-dkim).
 *
 *   dkim_sign KEY.pem DOMAIN SELECTOR [UNIX-TIME]
 *
 * The message is fed in pieces of 1, 2, 3, ... 17 octets in turn, so
 * every run also splits it at many different offsets. Exit 0, or 1 with
 * a message on standard error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dkim.h"

#define PIECE_CYCLE 17

static char *read_all(FILE *f, size_t *len_r)
{
	size_t len = 0, cap = 4096;
	char *data = malloc(cap);
	size_t n;
	while (data != NULL && (n = fread(data + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			char *bigger = realloc(data, cap * 2);
			if (bigger == NULL)
				free(data);
			data = bigger;
			cap *= 2;
		}
	}
	if (data != NULL && ferror(f)) {
		free(data);
		data = NULL;
	}
	*len_r = len;
	return data;
}

int main(int argc, char **argv)
{
	struct dkim_key *key = NULL;
	struct dkim_signer *s = NULL;
	char err[256] = "", *pem, *msg = NULL, *sig = NULL;
	size_t pem_len, msg_len, sig_len;
	int rc = 1;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: dkim_sign KEY.pem DOMAIN SELECTOR [UNIX-TIME]\n");
		return 2;
	}
	FILE *kf = fopen(argv[1], "r");
	if (kf == NULL) {
		fprintf(stderr, "dkim_sign: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	pem = read_all(kf, &pem_len);
	fclose(kf);
	if (pem == NULL || dkim_key_parse(pem, pem_len, &key, err, sizeof(err)) != 0) {
		fprintf(stderr, "dkim_sign: %s: %s\n", argv[1], err);
		goto out;
	}
	msg = read_all(stdin, &msg_len);
	s = dkim_signer_new(key, argv[2], argv[3]);
	if (msg == NULL || s == NULL) {
		fprintf(stderr, "dkim_sign: bad domain or selector, or no memory\n");
		goto out;
	}
	size_t off = 0, piece = 1;
	while (off < msg_len) {
		size_t n = piece < msg_len - off ? piece : msg_len - off;
		if (dkim_signer_feed(s, msg + off, n) != 0) {
			fprintf(stderr, "dkim_sign: feeding the message failed\n");
			goto out;
		}
		off += n;
		piece = piece % PIECE_CYCLE + 1;
	}
	time_t now = argc == 5 ? (time_t)strtoll(argv[4], NULL, 10) : time(NULL);
	int frc = dkim_signer_finish(s, now, &sig, &sig_len);
	if (frc != 0) {
		fprintf(stderr, "dkim_sign: signing failed (%s)\n", strerror(-frc));
		goto out;
	}
	if (fwrite(sig, 1, sig_len, stdout) != sig_len || fwrite(msg, 1, msg_len, stdout) != msg_len ||
	    fflush(stdout) != 0) {
		fprintf(stderr, "dkim_sign: writing failed\n");
		goto out;
	}
	rc = 0;
out:
	free(sig);
	free(msg);
	free(pem);
	dkim_signer_free(&s);
	dkim_key_free(&key);
	return rc;
}
