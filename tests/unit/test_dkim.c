/*
 * test_dkim.c - the DKIM signer (common/dkim.h): relaxed canonicalization
 * byte for byte (RFC 6376 3.4.2, 3.4.4, the example of 3.4.5), streaming
 * that gives the same result however the input is cut, the signature
 * field (h= with bottom-up instances and over-signed From, folding, bh=),
 * bounded memory, key errors, and the From domain. That signatures verify
 * is checked by a verifier written elsewhere: tests/e2e/test_dkim.py.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dkim-private.h"
#include "testutil.h"

#define NOW ((time_t)1796400000)

/* A 2048-bit key made once for the whole group (key generation is slow). */
static struct dkim_key *test_key;
static char *test_txt;

static int group_setup(void **state)
{
	char err[256] = "", *pem = NULL;
	assert_int_equal(dkim_key_generate(DKIM_KEY_BITS_DEFAULT, &pem, &test_txt, err,
	                                   sizeof(err)), 0);
	assert_int_equal(dkim_key_parse(pem, strlen(pem), &test_key, err, sizeof(err)), 0);
	free(pem);
	return 0;
}

static int group_teardown(void **state)
{
	dkim_key_free(&test_key);
	assert_null(test_key);
	free(test_txt);
	return 0;
}

/* ---- header canonicalization ------------------------------------------- */

static const struct {
	const char *in, *out;
} header_cases[] = {
	/* RFC 6376 3.4.5 */
	{ "A: X", "a:X" },
	{ "B : Y\t\r\n\tZ  ", "b:Y Z" },
	{ "Subject:   lots \t of   space  ", "subject:lots of space" },
	{ "SUBJECT:x", "subject:x" },
	{ "X-Empty:", "x-empty:" },
	{ "X-Blank: \r\n\t ", "x-blank:" },
	{ "To: a@b.test,\r\n c@d.test", "to:a@b.test, c@d.test" },
	{ "To: a@b.test,\r\n\tc@d.test", "to:a@b.test, c@d.test" },
	{ "Message-ID:<x@y>", "message-id:<x@y>" },
	/* Only CRLF unfolds; UTF-8 is kept as is. */
	{ "Subject: Gr\xc3\xbc\xc3\x9f" "e", "subject:Gr\xc3\xbc\xc3\x9f" "e" },
};

static void test_canon_header(void **state)
{
	for (size_t i = 0; i < sizeof(header_cases) / sizeof(header_cases[0]); i++) {
		struct dkim__buf b = { NULL, 0, 0 };
		const char *in = header_cases[i].in;
		assert_int_equal(dkim__canon_header(&b, in, strlen(in)), 0);
		if (strcmp(b.data, header_cases[i].out) != 0)
			print_error("case %zu: %s\n", i, testutil_show(b.data, b.len));
		assert_string_equal(b.data, header_cases[i].out);
		dkim__buf_free(&b);
	}
}

/* ---- body canonicalization --------------------------------------------- */

static const struct {
	const char *in, *out;
} body_cases[] = {
	/* RFC 6376 3.4.5 */
	{ " C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n" },
	/* An empty body stays empty for relaxed (RFC 6376 3.4.4; unlike
	 * simple's CRLF, 3.4.3), so does one of empty lines only. */
	{ "", "" },
	{ "\r\n", "" },
	{ "\r\n\r\n\r\n", "" },
	{ " \r\n\t\r\n", "" },
	/* A last line without CRLF gets one. */
	{ "a", "a\r\n" },
	{ "a  \t ", "a\r\n" },
	/* Trailing empty lines go, whitespace-only lines count as empty;
	 * empty lines inside and at the start stay. */
	{ "a\r\n \r\n\t\r\n", "a\r\n" },
	{ "a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n" },
	{ "\r\n\r\na\r\n", "\r\n\r\na\r\n" },
	{ "a\r\n  \r\nb\r\n", "a\r\n\r\nb\r\n" },
	/* Leading WSP becomes one SP; runs inside too. */
	{ "  a\r\n", " a\r\n" },
	{ "a\t\tb   c\r\n", "a b c\r\n" },
	/* A lone CR or LF is an ordinary character. */
	{ "a\rb\r\n", "a\rb\r\n" },
	{ "a\nb\r\n", "a\nb\r\n" },
	{ "a \r", "a \r\r\n" },
	{ "a\r\r\n", "a\r\r\n" },
	{ "\r", "\r\r\n" },
	/* UTF-8 passes through. */
	{ "Gr\xc3\xbc\xc3\x9f" "e \r\n", "Gr\xc3\xbc\xc3\x9f" "e\r\n" },
};

static void buf_out_cb(void *ctx, const char *p, size_t n)
{
	assert_int_equal(dkim__buf_add(ctx, p, n), 0);
}

static void canon_body_pieces(const char *in, size_t len, size_t cut1, size_t cut2,
                              struct dkim__buf *out)
{
	struct dkim__body b;
	dkim__body_init(&b, buf_out_cb, out);
	dkim__body_feed(&b, in, cut1);
	dkim__body_feed(&b, in + cut1, cut2 - cut1);
	dkim__body_feed(&b, in + cut2, len - cut2);
	dkim__body_end(&b);
}

/* Every case whole, and cut in three at every pair of offsets. */
static void test_canon_body(void **state)
{
	for (size_t i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
		const char *in = body_cases[i].in, *want = body_cases[i].out;
		size_t len = strlen(in);
		for (size_t c1 = 0; c1 <= len; c1++) {
			for (size_t c2 = c1; c2 <= len; c2++) {
				struct dkim__buf out = { NULL, 0, 0 };
				assert_int_equal(dkim__buf_add(&out, "", 0), 0);
				canon_body_pieces(in, len, c1, c2, &out);
				if (out.len != strlen(want) || memcmp(out.data, want, out.len) != 0)
					print_error("case %zu cut %zu,%zu: %s\n", i, c1, c2,
					            testutil_show(out.data, out.len));
				assert_int_equal(out.len, strlen(want));
				assert_memory_equal(out.data, want, out.len);
				dkim__buf_free(&out);
			}
		}
	}
}

/* ---- signing ------------------------------------------------------------ */

static char *sign_pieces(const char *msg, size_t len, size_t piece)
{
	struct dkim_signer *s = dkim_signer_new(test_key, "Example.TEST", "mail");
	char *hdr = NULL;
	size_t hdr_len = 0;
	assert_non_null(s);
	for (size_t off = 0; off < len; off += piece)
		assert_int_equal(dkim_signer_feed(s, msg + off, piece < len - off ? piece : len - off),
		                 0);
	assert_int_equal(dkim_signer_finish(s, NOW, &hdr, &hdr_len), 0);
	assert_int_equal(strlen(hdr), hdr_len);
	/* Finished: nothing more goes in. */
	assert_int_equal(dkim_signer_feed(s, "x", 1), -EINVAL);
	dkim_signer_free(&s);
	assert_null(s);
	return hdr;
}

/* The field with each fold made one space, for looking at tags. */
static char *unfold(const char *hdr)
{
	char *out = strdup(hdr);
	size_t n = 0;
	assert_non_null(out);
	for (size_t i = 0; hdr[i] != '\0'; i++) {
		if (hdr[i] == '\r' && hdr[i + 1] == '\n' && hdr[i + 2] == '\t') {
			out[n++] = ' ';
			i += 2;
		} else if (hdr[i] != '\r' && hdr[i] != '\n')
			out[n++] = hdr[i];
	}
	out[n] = '\0';
	return out;
}

/* Copies tag `name` ("bh") of an unfolded field into out. */
static void tag_value(const char *unfolded, const char *name, char *out, size_t outlen)
{
	char key[16];
	snprintf(key, sizeof(key), " %s=", name);
	const char *p = strstr(unfolded, key);
	assert_non_null(p);
	/* FWS inside a value (base64, h=) is not part of it. */
	size_t n = 0;
	for (p += strlen(key); *p != '\0' && *p != ';'; p++) {
		if (*p == ' ')
			continue;
		assert_true(n + 1 < outlen);
		out[n++] = *p;
	}
	out[n] = '\0';
}

static void check_folding(const char *hdr)
{
	size_t len = strlen(hdr);
	assert_true(len > 2 && strcmp(hdr + len - 2, "\r\n") == 0);
	assert_memory_equal(hdr, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;", 53);
	for (const char *line = hdr; *line != '\0';) {
		const char *end = strstr(line, "\r\n");
		assert_non_null(end);
		if ((size_t)(end - line) > 78)
			print_error("long line: %s\n", testutil_show(line, (size_t)(end - line)));
		assert_true(end - line <= 78);
		/* No bare CR or LF, every continuation starts with a tab. */
		assert_null(memchr(line, '\n', (size_t)(end - line)));
		if (line != hdr)
			assert_int_equal(line[0], '\t');
		line = end + 2;
	}
}

static const char message[] =
	"Return-Path: <alice@example.test>\r\n"
	"Received: from x by y; Sat, 5 Dec 2026 10:00:00 +0000\r\n"
	"From: Alice <alice@example.test>\r\n"
	"To: bob@example.org\r\n"
	"Subject: a subject that is\r\n"
	" folded  \r\n"
	"To: carol@example.org\r\n"
	"Date: Sat, 5 Dec 2026 10:00:00 +0000\r\n"
	"Message-ID: <1@example.test>\r\n"
	"X-Other: not signed\r\n"
	"\r\n"
	"Hello  there \r\n"
	"\r\n"
	"From: not a header, in the body\r\n"
	"\r\n\r\n";

static void test_sign_fields(void **state)
{
	char *hdr = sign_pieces(message, sizeof(message) - 1, sizeof(message));
	char *u = unfold(hdr), v[512];
	check_folding(hdr);
	tag_value(u, "d", v, sizeof(v));
	assert_string_equal(v, "example.test");
	tag_value(u, "s", v, sizeof(v));
	assert_string_equal(v, "mail");
	tag_value(u, "t", v, sizeof(v));
	assert_string_equal(v, "1796400000");
	/* Every instance present, From once more; never Received or
	 * Return-Path; the body's "From:" is not a field. */
	tag_value(u, "h", v, sizeof(v));
	assert_string_equal(v, "from:from:to:to:subject:date:message-id");
	tag_value(u, "b", v, sizeof(v));
	assert_int_equal(strlen(v), 344); /* 256 octets of RSA-2048 in base64 */
	free(u);
	free(hdr);
}

/* bh= of bodies whose canonical form is known. */
static void test_body_hash(void **state)
{
	static const struct {
		const char *msg, *bh;
	} cases[] = {
		/* sha256("") (RFC 6376 3.4.4: relaxed empty body) */
		{ "From: a@example.test\r\n\r\n", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" },
		{ "From: a@example.test\r\n\r\n\r\n \r\n", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" },
		/* No empty line at all: all header section, empty body. */
		{ "From: a@example.test\r\n", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" },
		/* sha256("a\r\n"), however it is spaced or ended */
		{ "From: a@example.test\r\n\r\na", "jkYhN5eG70Kk/sFVzVJcKR3X2zwf3jR4Ui9PYcA/0b0=" },
		{ "From: a@example.test\r\n\r\na \t\r\n\r\n", "jkYhN5eG70Kk/sFVzVJcKR3X2zwf3jR4Ui9PYcA/0b0=" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *hdr = sign_pieces(cases[i].msg, strlen(cases[i].msg), 1000);
		char *u = unfold(hdr), bh[64];
		tag_value(u, "bh", bh, sizeof(bh));
		if (strcmp(bh, cases[i].bh) != 0)
			print_error("case %zu\n", i);
		assert_string_equal(bh, cases[i].bh);
		check_folding(hdr);
		free(u);
		free(hdr);
	}
}

/* Pieces of every size give the same field (RSA PKCS#1 v1.5 signatures
 * are deterministic, t= is fixed), and a different message does not. */
static void test_sign_any_pieces(void **state)
{
	size_t len = sizeof(message) - 1;
	char *whole = sign_pieces(message, len, len);
	for (size_t piece = 1; piece < len; piece++) {
		char *hdr = sign_pieces(message, len, piece);
		if (strcmp(hdr, whole) != 0)
			print_error("piece %zu\n", piece);
		assert_string_equal(hdr, whole);
		free(hdr);
	}
	/* Cut in two at every offset. */
	for (size_t cut = 0; cut <= len; cut++) {
		struct dkim_signer *s = dkim_signer_new(test_key, "example.test", "mail");
		char *hdr = NULL;
		size_t hdr_len;
		assert_int_equal(dkim_signer_feed(s, message, cut), 0);
		assert_int_equal(dkim_signer_feed(s, message + cut, len - cut), 0);
		assert_int_equal(dkim_signer_finish(s, NOW, &hdr, &hdr_len), 0);
		assert_string_equal(hdr, whole);
		free(hdr);
		dkim_signer_free(&s);
	}
	char other[sizeof(message)];
	memcpy(other, message, sizeof(message));
	other[strstr(message, "Hello") - message] = 'J';
	char *hdr = sign_pieces(other, len, len);
	assert_string_not_equal(hdr, whole);
	free(hdr);
	free(whole);
}

/* Long values fold within 78 columns: many fields, a long domain. */
static void test_sign_folding(void **state)
{
	static const char msg[] =
		"From: a@example.test\r\nTo: b@example.test\r\nCc: c@example.test\r\n"
		"Subject: s\r\nDate: d\r\nMessage-ID: <m>\r\nMIME-Version: 1.0\r\n"
		"Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n"
		"Reply-To: r@example.test\r\nIn-Reply-To: <i>\r\nReferences: <i>\r\n"
		"To: b2@example.test\r\n\r\nbody\r\n";
	const char *domain = "a-rather-long-subdomain-name.of-an-even-longer-domain-name.example.test";
	struct dkim_signer *s = dkim_signer_new(test_key, domain, "selector-2026-12");
	char *hdr = NULL, v[512];
	size_t hdr_len;
	assert_non_null(s);
	assert_int_equal(dkim_signer_feed(s, msg, sizeof(msg) - 1), 0);
	assert_int_equal(dkim_signer_finish(s, NOW, &hdr, &hdr_len), 0);
	check_folding(hdr);
	char *u = unfold(hdr);
	tag_value(u, "h", v, sizeof(v));
	assert_string_equal(v, "from:from:to:to:cc:subject:date:message-id:mime-version:content-type:"
	                       "content-transfer-encoding:reply-to:in-reply-to:references");
	tag_value(u, "d", v, sizeof(v));
	assert_string_equal(v, domain);
	free(u);
	free(hdr);
	dkim_signer_free(&s);
}

static void test_signer_refused(void **state)
{
	assert_null(dkim_signer_new(test_key, "bad..domain", "mail"));
	assert_null(dkim_signer_new(test_key, "[192.0.2.1]", "mail"));
	assert_null(dkim_signer_new(test_key, "example.test", ""));
	assert_null(dkim_signer_new(test_key, "example.test", "a_b"));
	assert_null(dkim_signer_new(test_key, "example.test", "-a"));
	assert_null(dkim_signer_new(test_key, "example.test", "a."));
	assert_null(dkim_signer_new(test_key, "example.test", "a;b"));
	assert_null(dkim_signer_new(NULL, "example.test", "mail"));
	assert_true(dkim_selector_valid("2026-12.mail"));
	assert_false(dkim_selector_valid("a..b"));
}

/* The header section is bounded; past the bound every call fails. */
static void test_header_limit(void **state)
{
	struct dkim_signer *s = dkim_signer_new(test_key, "example.test", "mail");
	char line[1024], *hdr = (char *)"x";
	size_t fed = 0, hdr_len;
	int rc = 0;
	memset(line, 'x', sizeof(line));
	memcpy(line, "X-Pad: ", 7);
	memcpy(line + sizeof(line) - 2, "\r\n", 2);
	while (rc == 0 && fed <= DKIM_HEADER_MAX) {
		rc = dkim_signer_feed(s, line, sizeof(line));
		fed += sizeof(line);
	}
	assert_int_equal(rc, -EMSGSIZE);
	assert_true(fed > DKIM_HEADER_MAX);
	assert_false(dkim_signer_header_done(s));
	assert_int_equal(dkim_signer_feed(s, "\r\n", 2), -EMSGSIZE);
	assert_int_equal(dkim_signer_finish(s, NOW, &hdr, &hdr_len), -EMSGSIZE);
	assert_null(hdr);
	dkim_signer_free(&s);

	/* The body is not kept: a large one is fine. */
	s = dkim_signer_new(test_key, "example.test", "mail");
	assert_int_equal(dkim_signer_feed(s, "From: a@example.test\r\n\r\n", 24), 0);
	assert_true(dkim_signer_header_done(s));
	for (int i = 0; i < 2 * DKIM_HEADER_MAX / (int)sizeof(line); i++)
		assert_int_equal(dkim_signer_feed(s, line, sizeof(line)), 0);
	assert_int_equal(dkim_signer_finish(s, NOW, &hdr, &hdr_len), 0);
	free(hdr);
	dkim_signer_free(&s);
}

/* ---- keys --------------------------------------------------------------- */

/* openssl genrsa 512: valid, too small for DKIM (RFC 8301 3.2). */
static const char rsa512_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEAxRsPSUiYEj/lGkOy\n"
	"JZd6raj8v3upSlyX8+kR94za7bd9TA/FVxNcGYNmSHLi4p0zpUWGKlzVxlDOrG31\n"
	"VdE7BwIDAQABAkAXe6HWmU+E3RfuiSIwWFvFVNzH83O36FAyPxJk6+Mpbv0nZhjD\n"
	"KTPYLCiCTXft1W4dk5tvyWQNgicDAhCE9QgBAiEA+l3sJZmHD5JcnQxiSElVY5Yx\n"
	"7dWNSV4owuohoc5v09kCIQDJilxGQa4q6LmmIzaQQs9KMJgFVbOeipNwT6PRM0OZ\n"
	"3wIgJXvyYx69TeOH4it8e34fPq26A/W5FYb3a1dKecNCkuECIQCdvw46b25DZ6Tn\n"
	"xOgQQjq9dwuGIW5VyWFdpvgx5k4jQQIgJ2WgnL6HZkputdheuaXSexVrbJyAyt8S\n"
	"2bdCcn3yQt4=\n"
	"-----END PRIVATE KEY-----\n";

/* openssl ecparam -name prime256v1 -genkey: not RSA. */
static const char ec_pem[] =
	"-----BEGIN EC PRIVATE KEY-----\n"
	"MHcCAQEEIDQ1bXEqR6poGf2LZ2bXQQ2TkF5YWcYjVNC1VClRTCXjoAoGCCqGSM49\n"
	"AwEHoUQDQgAE/l6BaiD3zbXwukIbfYbO9iusrNsymKZIO6GkYnuMIiZBZCHwP0D8\n"
	"8FRD5LimviWQSa8G9wuLdvMzxa5Avg9+3g==\n"
	"-----END EC PRIVATE KEY-----\n";

static void expect_parse_error(const char *pem, size_t len, const char *msg)
{
	struct dkim_key *key = (struct dkim_key *)&key;
	char err[256] = "";
	assert_int_equal(dkim_key_parse(pem, len, &key, err, sizeof(err)), -EINVAL);
	assert_null(key);
	if (strstr(err, msg) == NULL)
		print_error("error '%s' lacks '%s'\n", err, msg);
	assert_non_null(strstr(err, msg));
}

static void test_key_parse_errors(void **state)
{
	expect_parse_error("", 0, "not a PEM private key");
	expect_parse_error("garbage", 7, "parsing the private key");
	expect_parse_error(rsa512_pem, 100, "parsing the private key"); /* cut short */
	expect_parse_error(rsa512_pem, sizeof(rsa512_pem) - 1, "512 bits");
	expect_parse_error(ec_pem, sizeof(ec_pem) - 1, "not an RSA key");

	char err[256] = "", *pem = (char *)"x", *txt = (char *)"x";
	assert_int_equal(dkim_key_generate(512, &pem, &txt, err, sizeof(err)), -EINVAL);
	assert_null(pem);
	assert_null(txt);
	assert_int_equal(dkim_key_generate(DKIM_KEY_BITS_MAX + 1, &pem, &txt, err, sizeof(err)),
	                 -EINVAL);
}

/* The TXT record of a parsed key is the one generate printed; the PEM
 * need not be NUL-terminated. */
static void test_key_txt(void **state)
{
	char err[256] = "", *pem = NULL, *txt = NULL, *again = NULL;
	struct dkim_key *key = NULL;
	assert_int_equal(dkim_key_generate(1024, &pem, &txt, err, sizeof(err)), 0);
	assert_non_null(strstr(pem, "-----BEGIN RSA PRIVATE KEY-----"));
	assert_memory_equal(txt, "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ", 56);
	size_t len = strlen(pem);
	char *copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, pem, len);
	assert_int_equal(dkim_key_parse(copy, len, &key, err, sizeof(err)), 0);
	assert_int_equal(dkim_key_txt(key, &again), 0);
	assert_string_equal(again, txt);
	free(again);
	assert_int_equal(dkim_key_txt(test_key, &again), 0);
	assert_string_equal(again, test_txt);
	free(again);
	dkim_key_free(&key);
	dkim_key_free(&key); /* safe on NULL */
	free(copy);
	free(pem);
	free(txt);
}

/* ---- the From domain ---------------------------------------------------- */

static const struct {
	const char *headers;
	const char *domain; /* NULL: -1 */
} from_cases[] = {
	{ "From: a@Example.COM\r\n", "example.com" },
	{ "FROM:a@b.test\r\n\r\n", "b.test" },
	{ "From: Alice <alice@b.test>\r\n", "b.test" },
	{ "From: \"x@evil.test\" <a@good.test>\r\n", "good.test" },
	{ "From: \"a \\\" <x@evil.test>\" <a@good.test>\r\n", "good.test" },
	{ "From: (x@evil.test) a@good.test\r\n", "good.test" },
	{ "From: a@good.test (Alice <x@evil.test>)\r\n", "good.test" },
	{ "From: a@good.test (nested (x@evil.test) comment)\r\n", "good.test" },
	{ "From: Alice\r\n <a@folded.test>\r\n", "folded.test" },
	{ "From: a@first.test, Bob <b@second.test>\r\n", "first.test" },
	{ "From: , a@obs.test\r\n", "obs.test" },
	{ "From: team: a@g.test, b@h.test;\r\n", "g.test" },
	{ "From: team: Alice <a@g.test>;\r\n", "g.test" },
	{ "From: <@relay.test:a@real.test>\r\n", "real.test" },
	{ "From: \"quoted@x.test\"@real.test\r\n", "real.test" },
	{ "From: a@xn--bcher-kva.test\r\n", "xn--bcher-kva.test" },
	{ "Received: x\r\nSubject: s\r\nFrom: a@late.test\r\nFrom: b@second.test\r\n", "late.test" },
	{ "Subject: s\r\n\r\nFrom: a@body.test\r\n", NULL },
	{ "From: undisclosed-recipients:;\r\n", NULL },
	{ "From: a@[192.0.2.1]\r\n", NULL },
	{ "From: noat\r\n", NULL },
	{ "From: @nolocal.test\r\n", NULL },
	{ "From: a@bad..test\r\n", NULL },
	{ "From: Alice <a@open.test\r\n", NULL },
	{ "From: (unclosed a@x.test\r\n", NULL },
	{ "From:\r\n", NULL },
	{ "", NULL },
	{ "To: a@b.test\r\n", NULL },
};

static void test_from_domain(void **state)
{
	for (size_t i = 0; i < sizeof(from_cases) / sizeof(from_cases[0]); i++) {
		char out[256] = "";
		const char *h = from_cases[i].headers;
		int rc = dkim_from_domain(h, strlen(h), out, sizeof(out));
		if (from_cases[i].domain == NULL) {
			if (rc != -1)
				print_error("case %zu: got %s\n", i, out);
			assert_int_equal(rc, -1);
			continue;
		}
		if (rc != 0)
			print_error("case %zu: -1\n", i);
		assert_int_equal(rc, 0);
		assert_string_equal(out, from_cases[i].domain);
	}
	/* The output buffer must hold it. */
	char small[7];
	assert_int_equal(dkim_from_domain("From: a@b.test\r\n", 16, small, 6), -1);
	assert_int_equal(dkim_from_domain("From: a@b.test\r\n", 16, small, sizeof(small)), 0);
	assert_string_equal(small, "b.test");
}

/* Through the signer, on what was fed so far. */
static void test_signer_from_domain(void **state)
{
	struct dkim_signer *s = dkim_signer_new(test_key, "example.test", "mail");
	char out[256];
	assert_int_equal(dkim_signer_from_domain(s, out, sizeof(out)), -1);
	assert_int_equal(dkim_signer_feed(s, "Subject: x\r\nFrom: Alice\r\n <alice@Ex", 35), 0);
	assert_false(dkim_signer_header_done(s));
	assert_int_equal(dkim_signer_feed(s, "ample.test>\r\n\r\nFrom: a@body.test\r\n", 34), 0);
	assert_true(dkim_signer_header_done(s));
	assert_int_equal(dkim_signer_from_domain(s, out, sizeof(out)), 0);
	assert_string_equal(out, "example.test");
	dkim_signer_free(&s);
	dkim_signer_free(&s); /* safe on NULL */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canon_header),
		cmocka_unit_test(test_canon_body),
		cmocka_unit_test(test_sign_fields),
		cmocka_unit_test(test_body_hash),
		cmocka_unit_test(test_sign_any_pieces),
		cmocka_unit_test(test_sign_folding),
		cmocka_unit_test(test_signer_refused),
		cmocka_unit_test(test_header_limit),
		cmocka_unit_test(test_key_parse_errors),
		cmocka_unit_test(test_key_txt),
		cmocka_unit_test(test_from_domain),
		cmocka_unit_test(test_signer_from_domain),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
