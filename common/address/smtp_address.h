/*
 * smtp_address.h - envelope address syntax (RFC 5321 4.1.2, 4.1.3,
 * 4.5.3.1; RFC 6531 3.3 for SMTPUTF8): the one set of address and domain
 * rules of the whole service. The SMTP parser reads paths with it, the
 * store refuses what it does not accept (store__address_normalize) and
 * mailctl checks the operator's input with it, so an address mailctl
 * takes is one SMTP accepts and an address SMTP accepts can be stored.
 * It lives in its own dependency-free library (libmailaddress) for that.
 *
 * Pure functions: no I/O, no allocation, no global state. Input is a byte
 * slice (s, len) that need not be NUL-terminated and may contain any byte;
 * results are written into caller-owned fixed-size structs whose strings are
 * always NUL-terminated.
 *
 * What is accepted:
 *   Mailbox      = Local-part "@" ( Domain / address-literal )
 *   Local-part   = Dot-string / Quoted-string
 *   Domain       = sub-domain *("." sub-domain), letters, digits, hyphens;
 *                  no leading or trailing hyphen in a label, no empty label,
 *                  no trailing dot; ASCII labels at most 63 octets (RFC 1035
 *                  2.3.4)
 *   address-literal = "[" IPv4 "]" / "[IPv6:" IPv6 "]" (the tag is
 *                  case-insensitive; general literals with other tags are
 *                  not understood and rejected)
 *   Path         = "<" [ A-d-l ":" ] Mailbox ">"  (the source route A-d-l
 *                  is checked, then dropped: RFC 5321 4.1.2 and Appendix C
 *                  say servers SHOULD ignore it)
 *
 * UTF-8 (RFC 6531 3.3): atext, qtextSMTP and domain labels may also contain
 * UTF-8 characters. UTF-8 is validated strictly (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF); a malformed sequence is a syntax
 * error. Well-formed non-ASCII is accepted only with SMTP_ADDRESS_UTF8, i.e.
 * when the SMTPUTF8 parameter was given; without it the parse completes and
 * then fails with SMTP_ADDRESS_UTF8_NOT_ALLOWED, so a caller that learns
 * about SMTPUTF8 later (it follows the path on the MAIL line) can parse with
 * the flag and check mailbox.utf8 itself. U-labels are not checked against
 * IDNA2008 tables: that is the job of whoever resolves the domain.
 *
 * Percent hacks ("user%host@here") and bang paths ("a!b@here") are not
 * interpreted: '%' and '!' are ordinary atext, so such a local part is
 * taken literally and simply names no local user.
 *
 * Canonical form (what the structs hold, so that the store can compare
 * exactly):
 *   - A quoted local part whose content is a valid Dot-string is stored
 *     unquoted ("john.doe" -> john.doe). Any other quoted local part is
 *     stored quoted, with a backslash only before '"' and '\' ("a\ b" ->
 *     "a b"). So two spellings of one local part give the same bytes.
 *   - The local part keeps its case (RFC 5321 2.4: only the receiving host
 *     may decide it is case-insensitive).
 *   - ASCII letters of a domain name are lowercased (domains are
 *     case-insensitive); UTF-8 is left as is.
 *   - An address literal is kept as written, brackets included; its binary
 *     address is in domain.addr for comparisons.
 *
 * Limits (RFC 5321 4.5.3.1): local part 64 octets as written (quotes and
 * backslashes included), domain 255 octets, path 256 octets including the
 * angle brackets and any source route. A bare mailbox is therefore at most
 * 254 octets.
 */
#ifndef MAIL_SMTP_ADDRESS_H
#define MAIL_SMTP_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#define SMTP_LOCAL_PART_MAX 64  /* RFC 5321 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX 255     /* RFC 5321 4.5.3.1.2 */
#define SMTP_LABEL_MAX 63       /* RFC 1035 2.3.4, for ASCII labels */
#define SMTP_PATH_MAX 256       /* RFC 5321 4.5.3.1.3, with "<" and ">" */
#define SMTP_MAILBOX_MAX (SMTP_PATH_MAX - 2)

/* Flags for the parse functions. */
#define SMTP_ADDRESS_UTF8 0x01           /* SMTPUTF8 is in effect (RFC 6531) */
#define SMTP_ADDRESS_ALLOW_NULL 0x02     /* path: accept "<>" (reverse-path) */
#define SMTP_ADDRESS_ALLOW_POSTMASTER 0x04 /* path: accept "<Postmaster>" (RCPT) */

enum smtp_address_error {
	SMTP_ADDRESS_OK = 0,
	SMTP_ADDRESS_SYNTAX,           /* not the grammar above */
	SMTP_ADDRESS_BAD_UTF8,         /* malformed UTF-8 (RFC 3629) */
	SMTP_ADDRESS_UTF8_NOT_ALLOWED, /* well-formed, but SMTP_ADDRESS_UTF8 not given */
	SMTP_ADDRESS_LOCAL_TOO_LONG,   /* over SMTP_LOCAL_PART_MAX */
	SMTP_ADDRESS_DOMAIN_TOO_LONG,  /* over SMTP_DOMAIN_MAX or SMTP_LABEL_MAX */
	SMTP_ADDRESS_PATH_TOO_LONG,    /* over SMTP_PATH_MAX (or SMTP_MAILBOX_MAX) */
};

enum smtp_domain_kind {
	SMTP_DOMAIN_NAME = 0,
	SMTP_DOMAIN_IPV4,  /* "[192.0.2.1]" */
	SMTP_DOMAIN_IPV6,  /* "[IPv6:2001:db8::1]" */
};

struct smtp_domain {
	enum smtp_domain_kind kind;
	/* Lowercased name, or the literal as written, brackets included. */
	char name[SMTP_DOMAIN_MAX + 1];
	/* The literal's address in network byte order: 4 octets for IPv4,
	 * 16 for IPv6; zero for names. */
	unsigned char addr[16];
};

struct smtp_mailbox {
	/* Canonical local part (see above), without the "@". */
	char local[SMTP_LOCAL_PART_MAX + 1];
	bool local_quoted;  /* local is in quoted form ("a b") */
	bool utf8;          /* local part or domain has non-ASCII characters */
	struct smtp_domain domain;
};

struct smtp_path {
	bool null;          /* "<>": no mailbox (reverse-path for bounces) */
	bool postmaster;    /* "<Postmaster>" without a domain (RFC 5321 4.1.1.3),
	                     * in any case, quoted or not: mailbox.local is
	                     * "postmaster", domain.name is "" */
	bool source_route;  /* an A-d-l was present and has been dropped */
	struct smtp_mailbox mailbox; /* all zero when null */
};

/*
 * Parses exactly one Mailbox filling all of s[0..len). Flags: only
 * SMTP_ADDRESS_UTF8 applies. Returns SMTP_ADDRESS_OK and fills *mailbox_r,
 * or an error, in which case *mailbox_r is unspecified.
 */
enum smtp_address_error smtp_address_parse_mailbox(const char *s, size_t len, unsigned flags,
                                                   struct smtp_mailbox *mailbox_r);

/*
 * Parses a Path that starts at s[0] (which must be '<') and ends at its
 * matching '>'; what follows is left to the caller. On success *len_r is the
 * number of octets of the path, '>' included. A '>' inside a quoted local
 * part does not end the path. Returns SMTP_ADDRESS_OK and fills *path_r, or
 * an error, in which case *path_r and *len_r are unspecified.
 */
enum smtp_address_error smtp_address_parse_path(const char *s, size_t len, unsigned flags,
                                                struct smtp_path *path_r, size_t *len_r);

/*
 * Parses exactly one Domain or address-literal filling s[0..len), e.g. the
 * argument of EHLO (RFC 5321 4.1.1.1). Flags: only SMTP_ADDRESS_UTF8
 * applies (U-labels). Returns SMTP_ADDRESS_OK and fills *domain_r, or an
 * error, in which case *domain_r is unspecified.
 */
enum smtp_address_error smtp_address_parse_domain(const char *s, size_t len, unsigned flags,
                                                  struct smtp_domain *domain_r);

/*
 * Writes the canonical "local@domain" into out, NUL-terminated; a mailbox
 * with an empty domain (the domain-less postmaster) gives just the local
 * part, and the all-zero mailbox of a null path gives "". Returns the
 * length, or -1 if it does not fit (out is then ""). SMTP_MAILBOX_MAX + 1
 * octets always fit a parsed mailbox.
 */
int smtp_address_format(const struct smtp_mailbox *mailbox, char *out, size_t outlen);

/*
 * True when s[0..len) is entirely well-formed UTF-8 (RFC 3629; ASCII,
 * including control characters, is well-formed).
 */
bool smtp_address_utf8_valid(const char *s, size_t len);

/* A short English description of an error, for logs. */
const char *smtp_address_strerror(enum smtp_address_error err);

/* ---- stored addresses ------------------------------------------------ */

/*
 * Checks a mailbox written as text ("local@domain", NUL-terminated, no
 * angle brackets) by the rules above with SMTPUTF8 allowed, and writes its
 * canonical form into out (outlen >= SMTP_MAILBOX_MAX + 1). This is how
 * the store and mailctl take an address: the canonical form of anything
 * smtp_address_parse_path accepted normalizes to itself. Returns
 * SMTP_ADDRESS_OK, or the error with out set to "".
 */
enum smtp_address_error smtp_address_normalize(const char *s, char *out, size_t outlen);

/*
 * Writes the lookup key of a canonical address (or of a domain) into out:
 * the same text with every ASCII letter in lower case. Local parts match
 * without regard to case, as Postfix and Dovecot do in practice (RFC 5321
 * 2.4 leaves it to the receiving host); non-ASCII characters compare as
 * written. out may be s itself; the key is as long as s and is cut to
 * outlen - 1 octets only if out is too small.
 */
void smtp_address_key(const char *s, char *out, size_t outlen);

/* Most characters recipient_delimiter may list. */
#define SMTP_DELIMITERS_MAX 16

/*
 * True when `delimiters` may serve as recipient delimiters: at most
 * SMTP_DELIMITERS_MAX characters, each an atext special other than '.'
 * (!#$%&'*+-/=?^_`{|}~), so a delimiter never splits a name at a letter,
 * digit or dot. "" (none) is valid.
 */
bool smtp_address_delimiters_valid(const char *delimiters);

/*
 * Subaddresses (RFC 5233; Postfix's recipient_delimiter): when the local
 * part of the canonical address `s` is unquoted and one of the characters
 * of `delimiters` occurs in it after its first character, writes the
 * address without the extension (from the first such character up to the
 * "@") into out (outlen >= strlen(s) + 1) and returns true:
 * "alice+tag@example.test" -> "alice@example.test". Otherwise (also when
 * what is left would end in a dot, so the result is always an address
 * these rules accept), or when `delimiters` is "" or NULL, returns false
 * and leaves out alone. out may be s itself.
 */
bool smtp_address_strip_extension(const char *s, const char *delimiters, char *out,
                                  size_t outlen);

#endif
