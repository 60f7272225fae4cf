/*
 * reads FILE SCRIPT...
 *
 * Workload helper for the recorder's integration tests: opens FILE once and
 * runs the SCRIPT items on that fd, printing one JSON line per operation
 * after doing it, so a test can compare the recorded trace with what really
 * happened. See tests/support/mod.rs for the script syntax.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define HELPER_NAME "reads"
#include "helper.h"

#define MAX_IOV 16

static long tid(void)
{
	return syscall(SYS_gettid);
}

/* Parses an unsigned decimal number; *rest points just past it. */
static unsigned long long number(const char *s, const char **rest, const char *item)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		die("bad number in script item '%s'", item);
	*rest = end;
	return v;
}

static void expect(const char **p, char c, const char *item)
{
	if (**p != c)
		die("expected '%c' in script item '%s'", c, item);
	(*p)++;
}

static void expect_end(const char *p, const char *item)
{
	if (*p)
		die("trailing characters in script item '%s'", item);
}

static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* One buffer, grown as needed, serves every read. */
static char *buffer(size_t len)
{
	static char *buf;
	static size_t cap;

	if (len > cap) {
		free(buf);
		buf = malloc(len ? len : 1);
		if (!buf)
			die("out of memory for %zu bytes", len);
		cap = len;
	}
	return buf;
}

/* Parses "LEN1,LEN2,..." into iovecs over one contiguous buffer. */
static int parse_iov(const char *p, struct iovec *iov, size_t *total, const char *item)
{
	unsigned long long lens[MAX_IOV];
	int n = 0;
	char *buf;

	*total = 0;
	for (;;) {
		if (n == MAX_IOV)
			die("more than %d iovecs in '%s'", MAX_IOV, item);
		lens[n] = number(p, &p, item);
		*total += lens[n];
		n++;
		if (*p != ',')
			break;
		p++;
	}
	expect_end(p, item);
	buf = buffer(*total);
	for (int i = 0; i < n; i++) {
		iov[i].iov_base = buf;
		iov[i].iov_len = lens[i];
		buf += lens[i];
	}
	return n;
}

static off_t position(int fd)
{
	off_t pos = lseek(fd, 0, SEEK_CUR);

	if (pos < 0)
		die("lseek(SEEK_CUR): %s", strerror(errno));
	return pos;
}

static void report_read(const char *op, int fd, long long offset, size_t len, ssize_t ret)
{
	int err = errno;

	printf("{\"op\":\"%s\",\"fd\":%d,\"offset\":%lld,\"len\":%zu,\"ret\":%zd,\"tid\":%ld}\n", op, fd,
	       offset, len, ret, tid());
	fflush(stdout);
	if (ret < 0)
		die("%s(offset %lld, len %zu): %s", op, offset, len, strerror(err));
}

static double now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts))
		die("clock_gettime: %s", strerror(errno));
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* loop:SECONDS:LEN:SPAN */
static void run_loop(int fd, const char *p, const char *item)
{
	char *end;
	double seconds, start, elapsed;
	unsigned long long len, span, offset = 0, reads = 0;
	char *buf;

	errno = 0;
	seconds = strtod(p, &end);
	if (errno || end == p || seconds < 0)
		die("bad number in script item '%s'", item);
	p = end;
	expect(&p, ':', item);
	len = number(p, &p, item);
	expect(&p, ':', item);
	span = number(p, &p, item);
	expect_end(p, item);
	if (len == 0)
		die("zero length in '%s'", item);
	buf = buffer(len);

	start = now();
	do {
		/* Checking the clock every 64 reads keeps its cost out of the way. */
		for (int i = 0; i < 64; i++) {
			ssize_t ret = pread(fd, buf, len, offset);

			if (ret < 0)
				die("pread64(offset %llu, len %llu): %s", offset, len, strerror(errno));
			reads++;
			offset += len;
			if (offset + len > span)
				offset = 0;
		}
		elapsed = now() - start;
	} while (elapsed < seconds);
	printf("{\"op\":\"loop\",\"reads\":%llu,\"seconds\":%.6f}\n", reads, elapsed);
	fflush(stdout);
}

static void run_item(int fd, const char *item)
{
	const char *colon = strchr(item, ':');
	size_t name_len = colon ? (size_t)(colon - item) : strlen(item);
	const char *p = colon ? colon + 1 : "";
	struct iovec iov[MAX_IOV];

#define IS(name) (name_len == strlen(name) && strncmp(item, name, name_len) == 0)
	if (IS("pread")) {
		unsigned long long off = number(p, &p, item), len;

		expect(&p, ':', item);
		len = number(p, &p, item);
		expect_end(p, item);
		report_read("pread64", fd, off, len, pread(fd, buffer(len), len, off));
	} else if (IS("read")) {
		unsigned long long len = number(p, &p, item);
		off_t pos = position(fd);

		expect_end(p, item);
		report_read("read", fd, pos, len, read(fd, buffer(len), len));
	} else if (IS("seek")) {
		unsigned long long off = number(p, &p, item);

		expect_end(p, item);
		if (lseek(fd, off, SEEK_SET) < 0)
			die("lseek(%llu): %s", off, strerror(errno));
		printf("{\"op\":\"seek\",\"pos\":%llu}\n", off);
		fflush(stdout);
	} else if (IS("preadv") || IS("preadv2")) {
		unsigned long long off = number(p, &p, item);
		size_t total;
		int n;
		ssize_t ret;

		expect(&p, ':', item);
		n = parse_iov(p, iov, &total, item);
		ret = IS("preadv") ? preadv(fd, iov, n, off) : preadv2(fd, iov, n, off, 0);
		report_read(IS("preadv") ? "preadv" : "preadv2", fd, off, total, ret);
	} else if (IS("readv")) {
		size_t total;
		int n = parse_iov(p, iov, &total, item);
		off_t pos = position(fd);

		report_read("readv", fd, pos, total, readv(fd, iov, n));
	} else if (IS("fadvise")) {
		int advice, err;

		if (strcmp(p, "random") == 0)
			advice = POSIX_FADV_RANDOM;
		else if (strcmp(p, "sequential") == 0)
			advice = POSIX_FADV_SEQUENTIAL;
		else if (strcmp(p, "normal") == 0)
			advice = POSIX_FADV_NORMAL;
		else
			die("unknown advice in '%s'", item);
		err = posix_fadvise(fd, 0, 0, advice);
		if (err)
			die("posix_fadvise(%s): %s", p, strerror(err));
		printf("{\"op\":\"fadvise\",\"advice\":\"%s\"}\n", p);
		fflush(stdout);
	} else if (IS("sleep")) {
		unsigned long long ms = number(p, &p, item);

		expect_end(p, item);
		if (usleep(ms * 1000) && errno != EINTR)
			die("usleep(%llu ms): %s", ms, strerror(errno));
		printf("{\"op\":\"sleep\",\"ms\":%llu}\n", ms);
		fflush(stdout);
	} else if (IS("wait")) {
		char line[64];

		expect_end(p, item);
		printf("{\"op\":\"ready\",\"pid\":%ld}\n", (long)getpid());
		fflush(stdout);
		/* EOF means the test went away: stop instead of running unobserved. */
		if (!fgets(line, sizeof(line), stdin))
			die("stdin closed while waiting");
	} else if (IS("loop")) {
		run_loop(fd, p, item);
	} else {
		die("unknown script item '%s'", item);
	}
#undef IS
}

int main(int argc, char **argv)
{
	int fd;

	if (argc < 2)
		die("usage: reads FILE SCRIPT...");
	fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		die("open %s: %s", argv[1], strerror(errno));
	printf("{\"op\":\"open\",\"fd\":%d,\"path\":", fd);
	print_json_string(argv[1]);
	printf("}\n");
	fflush(stdout);

	for (int i = 2; i < argc; i++)
		run_item(fd, argv[i]);

	if (close(fd))
		die("close: %s", strerror(errno));
	return 0;
}
