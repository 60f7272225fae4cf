/*
 * What the test helpers share. Define HELPER_NAME (the program's name, for messages) before
 * including this file.
 *
 * die(): prints "HELPER_NAME: message" on stderr and exits 1.
 * number_arg(): a whole unsigned decimal argument, or die() naming what it should have been.
 */
#ifndef MIO_TEST_HELPER_H
#define MIO_TEST_HELPER_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static inline __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs(HELPER_NAME ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static inline unsigned long long number_arg(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		die("bad %s '%s'", what, s);
	return v;
}

#endif
