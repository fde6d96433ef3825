/*
 * tls_cert.h - a fresh key and self-signed certificate for the daemons'
 * TLS listeners (`mailctl cert selfsigned`), made with mbedTLS.
 *
 * The key is EC P-256 (every TLS 1.2 and 1.3 client speaks ECDSA P-256);
 * the certificate is X.509 v3, signed with ECDSA-SHA256, with the host as
 * its subject CN and as its subjectAltName (a dNSName, or an iPAddress when
 * the host is an IPv4 or IPv6 literal), since clients match the SAN
 * (RFC 6125 6.4.4). Both files are PEM.
 */
#ifndef MAIL_TLS_CERT_H
#define MAIL_TLS_CERT_H

#include <stddef.h>

#define TLS_CERT_DAYS_DEFAULT 365
#define TLS_CERT_DAYS_MAX 36500 /* keeps notAfter well inside four-digit years */

/*
 * Writes a new key to key_path (mode 0600) and a certificate for `host`,
 * valid from now for `days` days (1..TLS_CERT_DAYS_MAX), to cert_path
 * (mode 0644). Each file is written to a temporary file in its directory,
 * synced and renamed over the path, so a daemon reloading on SIGHUP never
 * reads half a file; existing files are replaced. `host` is a DNS name
 * (letters, digits, '-', '.', at most 253 characters) or an IP literal.
 * Returns 0, or -1 with a one-line message in err.
 */
int tls_cert_selfsigned(const char *host, unsigned days, const char *cert_path,
                        const char *key_path, char *err, size_t errlen);

#endif
