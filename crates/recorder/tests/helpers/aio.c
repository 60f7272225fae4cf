/*
 * aio FILE N LEN [STRIDE]
 *
 * Workload helper for the recorder's integration tests: submits N buffered
 * (not O_DIRECT) IOCB_CMD_PREAD iocbs of LEN bytes at offsets i*STRIDE in a
 * single io_submit call, then reaps them all. Prints one JSON line per step
 * with the iocb user addresses and aio_data values the recorder must decode.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HELPER_NAME "aio"
#include "helper.h"

#define MAX_IOCBS 64

int main(int argc, char **argv)
{
	static struct iocb iocbs[MAX_IOCBS];
	struct iocb *ptrs[MAX_IOCBS];
	struct io_event events[MAX_IOCBS];
	io_context_t ctx = 0;
	unsigned long long n, len, stride;
	char *buf;
	int fd, ret, done = 0;

	if (argc != 4 && argc != 5)
		die("usage: aio FILE N LEN [STRIDE]");
	n = number_arg(argv[2], "N");
	len = number_arg(argv[3], "LEN");
	stride = argc == 5 ? number_arg(argv[4], "STRIDE") : len;
	if (n == 0 || n > MAX_IOCBS)
		die("N must be 1..%d", MAX_IOCBS);
	if (len == 0)
		die("LEN must be positive");

	fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		die("open %s: %s", argv[1], strerror(errno));
	/* libaio returns -errno instead of setting errno. */
	ret = io_setup(n, &ctx);
	if (ret < 0)
		die("io_setup: %s", strerror(-ret));
	printf("{\"op\":\"io_setup\",\"ctx\":%lu}\n", (unsigned long)ctx);
	fflush(stdout);

	/* Page-aligned so the same helper also works if O_DIRECT is ever added. */
	if (posix_memalign((void **)&buf, 4096, n * len))
		die("out of memory for %llu bytes", n * len);

	for (unsigned long long i = 0; i < n; i++) {
		io_prep_pread(&iocbs[i], fd, buf + i * len, len, i * stride);
		iocbs[i].data = (void *)(uintptr_t)(1000 + i);
		ptrs[i] = &iocbs[i];
		printf("{\"op\":\"iocb\",\"index\":%llu,\"iocb\":\"0x%lx\",\"fd\":%d,\"offset\":%llu,"
		       "\"len\":%llu,\"data\":%llu}\n",
		       i, (unsigned long)(uintptr_t)&iocbs[i], fd, i * stride, len, 1000 + i);
	}
	fflush(stdout);

	ret = io_submit(ctx, n, ptrs);
	printf("{\"op\":\"io_submit\",\"ctx\":%lu,\"nr\":%llu,\"ret\":%d}\n", (unsigned long)ctx, n, ret);
	fflush(stdout);
	if (ret < 0)
		die("io_submit: %s", strerror(-ret));
	if ((unsigned long long)ret != n)
		die("io_submit queued %d of %llu iocbs", ret, n);

	while ((unsigned long long)done < n) {
		int got = io_getevents(ctx, 1, n - done, events, NULL);

		if (got == -EINTR)
			continue;
		if (got < 0)
			die("io_getevents: %s", strerror(-got));
		for (int i = 0; i < got; i++) {
			printf("{\"op\":\"complete\",\"iocb\":\"0x%lx\",\"data\":%lu,\"res\":%ld}\n",
			       (unsigned long)(uintptr_t)events[i].obj, (unsigned long)(uintptr_t)events[i].data,
			       (long)events[i].res);
			if ((long)events[i].res < 0)
				die("iocb %p failed: %s", (void *)events[i].obj, strerror(-(long)events[i].res));
		}
		fflush(stdout);
		done += got;
	}

	ret = io_destroy(ctx);
	if (ret < 0)
		die("io_destroy: %s", strerror(-ret));
	free(buf);
	if (close(fd))
		die("close: %s", strerror(errno));
	return 0;
}
