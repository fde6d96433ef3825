/*
 * prompt.h - reading a new password for mailctl: the first line of
 * standard input (--password-stdin) or twice from the terminal without echo.
 */
#ifndef MAIL_MAILCTL_PROMPT_H
#define MAIL_MAILCTL_PROMPT_H

#include <stdbool.h>
#include <stddef.h>

/* Longest password accepted, in octets; longer input is refused rather
 * than cut, so what the user typed is what gets hashed. */
#define PROMPT_PASSWORD_MAX 1024

/*
 * Reads a new password into buf (bufsize > PROMPT_PASSWORD_MAX) for the user
 * `address`, which the terminal prompt names.
 *
 * from_stdin: the first line of stdin, without its "\n" or "\r\n"; nothing
 * after that line is read. Otherwise the terminal (/dev/tty) is asked twice
 * with echo off and both answers must agree; when stdin is not a terminal
 * this fails at once, so a script that forgot --password-stdin does not hang.
 *
 * Returns 0; or 2 (usage/input error: no terminal, empty, too long,
 * mismatch, NUL byte) or 1 (I/O error) with a one-line reason in err.
 * The caller wipes buf after use; partial input is wiped here.
 */
int prompt_password(bool from_stdin, const char *address, char *buf, size_t bufsize, char *err,
                    size_t errlen);

#endif
