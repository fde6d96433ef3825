/*
 * dkim.h - DKIM signatures (RFC 6376) for outbound mail: rsa-sha256,
 * canonicalization relaxed/relaxed, built on mbedTLS (2.28 and 3.x).
 *
 * A pure signer: no file or network I/O. The caller reads the key (the
 * store keeps one per local domain) and writes the message; this module
 * turns a private key and a message into the DKIM-Signature header field
 * to put on top of it.
 *
 * Messages are fed as they are sent: the header section, the empty line,
 * the body, with CRLF line ends and no dot-stuffing (RFC 6376 5.3: the
 * signature covers the message as it goes on the wire, before any
 * transfer encoding of SMTP). Memory is bounded: the header section is
 * kept (at most DKIM_HEADER_MAX octets) because the fields to sign are
 * picked only at the end (RFC 6376 5.4.2 counts instances from the
 * bottom); the body is canonicalized and hashed as it streams, keeping
 * only the whitespace and empty lines not yet known to be trailing
 * (RFC 6376 3.4.4).
 *
 * Errors follow common/'s convention: 0 or a negative errno value.
 * -EINVAL: bad argument or unusable key; -ENOMEM; -EMSGSIZE: a header
 * section over DKIM_HEADER_MAX; -EIO: mbedTLS failed (randomness,
 * signing).
 *
 * Threads: a key is read-only once parsed and may be shared by signers on
 * several threads (mbedTLS guards the RSA blinding values of a key with a
 * mutex when built with MBEDTLS_THREADING_C, as Debian's is). A signer is
 * used by one thread at a time.
 */
#ifndef MAIL_DKIM_H
#define MAIL_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* The header section is kept for the end; a longer one fails the signer
 * with -EMSGSIZE. 256 KiB is far beyond real headers (RFC 5322 sets no
 * limit; smtpd's own header limits are smaller). */
#define DKIM_HEADER_MAX (256 * 1024)

/* Key sizes dkim_key_generate makes and dkim_key_parse takes. RFC 8301
 * 3.2: signers MUST use at least 1024 bits and SHOULD use 2048;
 * verifiers need only handle up to 4096. */
#define DKIM_KEY_BITS_MIN 1024
#define DKIM_KEY_BITS_MAX 4096
#define DKIM_KEY_BITS_DEFAULT 2048

/* A selector is one or more DNS labels (RFC 6376 3.1); with
 * "._domainkey." and a domain it must still be a DNS name. */
#define DKIM_SELECTOR_MAX 63

/* ---- keys ------------------------------------------------------------ */

/* A parsed RSA private key; opaque. */
struct dkim_key;

/*
 * Parses a PEM private key (PKCS#1 "RSA PRIVATE KEY" or PKCS#8
 * "PRIVATE KEY", unencrypted); pem[0..len) need not be NUL-terminated.
 * The key must be RSA of DKIM_KEY_BITS_MIN..DKIM_KEY_BITS_MAX bits.
 * Returns 0 and *key_r (free with dkim_key_free), or a negative errno
 * value with a one-line message in err.
 */
int dkim_key_parse(const char *pem, size_t len, struct dkim_key **key_r, char *err,
                   size_t errlen);

/* Frees a key (its memory is wiped) and sets *key to NULL. Safe on NULL. */
void dkim_key_free(struct dkim_key **key);

/*
 * Makes a new RSA key of `bits` bits (DKIM_KEY_BITS_MIN..DKIM_KEY_BITS_MAX,
 * exponent 65537): *pem_r is the private key as PKCS#1 PEM and *txt_r the
 * DNS TXT record value to publish for it ("v=DKIM1; k=rsa; p=BASE64"),
 * both NUL-terminated and malloc'd (free *pem_r after wiping it: it is the
 * secret). Returns 0, or a negative errno value with a message in err.
 */
int dkim_key_generate(unsigned bits, char **pem_r, char **txt_r, char *err, size_t errlen);

/*
 * The TXT record value of a key's public half, "v=DKIM1; k=rsa; p=BASE64"
 * with p= the base64 of its DER SubjectPublicKeyInfo (RFC 6376 3.6.1),
 * malloc'd. Returns 0 or a negative errno value.
 */
int dkim_key_txt(const struct dkim_key *key, char **txt_r);

/* ---- signing --------------------------------------------------------- */

/* True for a usable selector: 1 to DKIM_SELECTOR_MAX characters, DNS
 * labels of letters, digits and inner hyphens joined by dots. */
bool dkim_selector_valid(const char *selector);

/* One message being signed; opaque. */
struct dkim_signer;

/*
 * A signer for one message with `key` (which must outlive the signer) as
 * d=domain, s=selector. The domain is a DNS name (it is lower-cased), the
 * selector one dkim_selector_valid() takes. Returns NULL when either is
 * malformed or memory runs out.
 */
struct dkim_signer *dkim_signer_new(const struct dkim_key *key, const char *domain,
                                    const char *selector);

/*
 * Feeds the next len octets of the message, in pieces of any size split
 * anywhere. The header section ends at the first empty line (CRLF CRLF);
 * a message without one is all header section and has an empty body.
 * Returns 0, or a negative errno value (-EMSGSIZE: the header section
 * passed DKIM_HEADER_MAX), after which every call on the signer fails
 * with the same value.
 */
int dkim_signer_feed(struct dkim_signer *s, const void *data, size_t len);

/* True once the empty line that ends the header section has been fed. */
bool dkim_signer_header_done(const struct dkim_signer *s);

/*
 * Ends the message and signs it at time `now` (t=). *header_r is the
 * complete "DKIM-Signature: ...\r\n" header field, folded with CRLF TAB
 * into lines of at most 78 characters (RFC 5322 2.1.1), NUL-terminated
 * and malloc'd, *len_r its length; it goes on top of the message.
 *
 * Signed fields (h=), those present, every instance, bottom-up (RFC 6376
 * 5.4.2): From, To, Cc, Subject, Date, Message-ID, MIME-Version,
 * Content-Type, Content-Transfer-Encoding, Reply-To, In-Reply-To,
 * References. From is listed once more than present (RFC 6376 8.15), so a
 * From added later breaks the signature; a message without From (RFC 5322
 * requires one) is still signed, with the empty From "h=from" then vouches
 * for. Return-Path and Received are never signed: relays add and change
 * them (RFC 6376 5.4.1).
 *
 * May be called once; feeding after it fails. Returns 0 or a negative
 * errno value.
 */
int dkim_signer_finish(struct dkim_signer *s, time_t now, char **header_r, size_t *len_r);

/* Frees a signer and sets *s to NULL. Safe on NULL. */
void dkim_signer_free(struct dkim_signer **s);

/*
 * The domain of the first address of the first From: field in the header
 * section fed so far (dkim_from_domain), so the caller can pick the key
 * (it signs only mail from its local domains). Call it once
 * dkim_signer_header_done() is true: before that the last field may be
 * cut short. Returns 0, or -1 when there is no usable From address.
 */
int dkim_signer_from_domain(const struct dkim_signer *s, char *out, size_t outlen);

/*
 * The same on a header section headers[0..len) (CRLF lines; the empty
 * line that ends it may be included or not). From may be "addr@dom",
 * "Name <addr@dom>", a list (the first mailbox counts) or a group
 * ("team: a@dom, b@dom;"), folded, with comments and quoted strings
 * (RFC 5322 3.4). The domain is written lower case, NUL-terminated, into
 * out; it must be a DNS name (not an address literal) of at most
 * SMTP_DOMAIN_MAX octets. Returns 0, or -1 when there is no From field,
 * no address in it, it does not parse, or outlen is too small.
 */
int dkim_from_domain(const char *headers, size_t len, char *out, size_t outlen);

#endif
