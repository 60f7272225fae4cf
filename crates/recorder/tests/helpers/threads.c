/*
 * threads FILE NTHREADS LEN
 *
 * Workload helper for the recorder's integration tests: opens FILE, prints
 * {"op":"ready","pid":...} and waits for a line on stdin (so the recorder can
 * attach first), then starts NTHREADS named threads ("worker-<i>") that each
 * pread64 four LEN-byte blocks at offsets (i*4+k)*LEN from the shared fd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HELPER_NAME "threads"
#include "helper.h"

#define MAX_THREADS 64

static int fd;
static unsigned long long len;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
	unsigned long i = (unsigned long)arg;
	long tid = syscall(SYS_gettid);
	char name[16];
	char *buf = malloc(len);
	int err;

	if (!buf)
		die("out of memory for %llu bytes", len);
	snprintf(name, sizeof(name), "worker-%lu", i);
	err = pthread_setname_np(pthread_self(), name);
	if (err)
		die("pthread_setname_np: %s", strerror(err));

	pthread_mutex_lock(&print_lock);
	printf("{\"op\":\"thread\",\"i\":%lu,\"tid\":%ld,\"name\":\"%s\"}\n", i, tid, name);
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);

	for (unsigned long long k = 0; k < 4; k++) {
		unsigned long long off = (i * 4 + k) * len;
		ssize_t ret = pread(fd, buf, len, off);
		int read_err = errno;

		pthread_mutex_lock(&print_lock);
		printf("{\"op\":\"pread64\",\"fd\":%d,\"offset\":%llu,\"len\":%llu,\"ret\":%zd,\"tid\":%ld}\n",
		       fd, off, len, ret, tid);
		fflush(stdout);
		pthread_mutex_unlock(&print_lock);
		if (ret < 0)
			die("pread64(offset %llu, len %llu): %s", off, len, strerror(read_err));
	}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[MAX_THREADS];
	unsigned long n;
	char line[64];
	int err;

	if (argc != 4)
		die("usage: threads FILE NTHREADS LEN");
	n = number_arg(argv[2], "NTHREADS");
	len = number_arg(argv[3], "LEN");
	if (n == 0 || n > MAX_THREADS)
		die("NTHREADS must be 1..%d", MAX_THREADS);
	if (len == 0)
		die("LEN must be positive");

	fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		die("open %s: %s", argv[1], strerror(errno));
	printf("{\"op\":\"ready\",\"pid\":%ld}\n", (long)getpid());
	fflush(stdout);
	/* EOF means the test went away: stop instead of running unobserved. */
	if (!fgets(line, sizeof(line), stdin))
		die("stdin closed while waiting");

	for (unsigned long i = 0; i < n; i++) {
		err = pthread_create(&threads[i], NULL, worker, (void *)i);
		if (err)
			die("pthread_create: %s", strerror(err));
	}
	for (unsigned long i = 0; i < n; i++) {
		err = pthread_join(threads[i], NULL);
		if (err)
			die("pthread_join: %s", strerror(err));
	}
	printf("{\"op\":\"done\"}\n");
	fflush(stdout);
	if (close(fd))
		die("close: %s", strerror(errno));
	return 0;
}
