/*
 * uring FILE COUNT LEN STRIDE
 *
 * Workload helper for io_uring: reads COUNT blocks of LEN bytes of FILE at offsets 0, STRIDE,
 * 2*STRIDE, ... with IORING_OP_READ on one ring, submitting them all with one io_uring_enter and
 * waiting for every completion. Uses the system calls directly (no liburing), so it builds
 * statically anywhere. Prints one JSON line per request ("sqe": fd, offset, len, user data) and
 * per completion ("cqe": user data, result).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HELPER_NAME "uring"
#include "helper.h"

#define MAX_COUNT 32

static void *map_ring(int ring, size_t len, off_t what)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, what);

	if (p == MAP_FAILED)
		die("mmap of the ring (offset %#llx): %s", (unsigned long long)what, strerror(errno));
	return p;
}

int main(int argc, char **argv)
{
	if (argc != 5)
		die("usage: uring FILE COUNT LEN STRIDE");
	unsigned long long count = number_arg(argv[2], "count"), len = number_arg(argv[3], "length"),
			   stride = number_arg(argv[4], "stride");
	if (count == 0 || count > MAX_COUNT)
		die("COUNT must be 1 to %d", MAX_COUNT);
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		die("open %s: %s", argv[1], strerror(errno));
	char *buf = malloc(count * len);
	if (!buf)
		die("out of memory");

	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	int ring = (int)syscall(__NR_io_uring_setup, MAX_COUNT, &p);
	if (ring < 0)
		die("io_uring_setup: %s", strerror(errno));
	size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(__u32);
	size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if ((p.features & IORING_FEAT_SINGLE_MMAP) && cq_len > sq_len)
		sq_len = cq_len;
	char *sq = map_ring(ring, sq_len, IORING_OFF_SQ_RING);
	char *cq = (p.features & IORING_FEAT_SINGLE_MMAP) ? sq : map_ring(ring, cq_len, IORING_OFF_CQ_RING);
	struct io_uring_sqe *sqes = map_ring(ring, p.sq_entries * sizeof(struct io_uring_sqe), IORING_OFF_SQES);

	unsigned *sq_tail = (unsigned *)(sq + p.sq_off.tail);
	unsigned sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
	unsigned *sq_array = (unsigned *)(sq + p.sq_off.array);
	unsigned tail = *sq_tail;
	for (unsigned long long i = 0; i < count; i++) {
		unsigned slot = (tail + i) & sq_mask;
		struct io_uring_sqe *sqe = &sqes[slot];
		memset(sqe, 0, sizeof(*sqe));
		sqe->opcode = IORING_OP_READ;
		sqe->fd = fd;
		sqe->off = i * stride;
		sqe->addr = (uintptr_t)(buf + i * len);
		sqe->len = (__u32)len;
		sqe->user_data = 2000 + i;
		sq_array[slot] = slot;
		printf("{\"op\":\"sqe\",\"fd\":%d,\"offset\":%llu,\"len\":%llu,\"data\":%llu}\n", fd, i * stride, len,
		       2000 + i);
	}
	__atomic_store_n(sq_tail, tail + (unsigned)count, __ATOMIC_RELEASE);
	long ret = syscall(__NR_io_uring_enter, ring, (unsigned)count, (unsigned)count, IORING_ENTER_GETEVENTS,
			   NULL, 0);
	if (ret < 0)
		die("io_uring_enter: %s", strerror(errno));
	if ((unsigned long long)ret != count)
		die("io_uring_enter submitted %ld of %llu", ret, count);

	unsigned *cq_head = (unsigned *)(cq + p.cq_off.head);
	unsigned *cq_tail = (unsigned *)(cq + p.cq_off.tail);
	unsigned cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
	struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	unsigned long long reaped = 0;
	while (reaped < count) {
		unsigned head = *cq_head;
		if (head == __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE)) {
			if (syscall(__NR_io_uring_enter, ring, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
				die("io_uring_enter (wait): %s", strerror(errno));
			continue;
		}
		struct io_uring_cqe *cqe = &cqes[head & cq_mask];
		printf("{\"op\":\"cqe\",\"data\":%llu,\"res\":%d}\n", (unsigned long long)cqe->user_data, cqe->res);
		if (cqe->res < 0)
			die("read %llu failed: %s", (unsigned long long)cqe->user_data, strerror(-cqe->res));
		__atomic_store_n(cq_head, head + 1, __ATOMIC_RELEASE);
		reaped++;
	}
	fflush(stdout);
	return 0;
}
