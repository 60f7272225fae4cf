/*
 * pattern SPEC...
 *
 * Workload helper for the simulator's tests: reads files in known patterns with pread64, from
 * one or more threads, and prints one JSON line per spec when it is done.
 *
 * SPEC is THREAD:FILE:KIND:LEN:COUNT[:ARG]
 *   THREAD  a number; specs of the same thread run one after the other in that thread, threads
 *           run at the same time (thread 0 is the main thread). A number followed by 'r'
 *           (e.g. 1r) makes that thread take its specs in turn instead, one read of each spec
 *           not yet done, round after round: streams interleaved read by read (with =NAME,
 *           on one description, as InnoDB's threads read a tablespace)
 *   FILE    path; each spec opens it anew (its own open file description) unless it is written
 *           =NAME:PATH, which shares one description among all specs naming NAME
 *   KIND    seq     offsets ARG, ARG+LEN, ARG+2*LEN, ...            (ARG default 0)
 *           rev     offsets ARG-LEN, ARG-2*LEN, ... (ARG: end offset, default COUNT*LEN)
 *           stride  offsets 0, ARG, 2*ARG, ...                       (ARG: stride in bytes)
 *           random  LEN-aligned offsets from a fixed generator seeded with ARG, within the file
 *           inter   two sequential streams on the one description, alternating: 0, ARG, LEN,
 *                   ARG+LEN, 2*LEN, ... (COUNT reads in all)
 *   LEN     bytes per read; COUNT reads
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HELPER_NAME "pattern"
#include "helper.h"

#define MAX_SPECS 64
#define MAX_THREADS 16
#define MAX_SHARED 16

struct spec {
	int thread;
	int rr;
	char path[512];
	char shared[32];
	char kind[16];
	unsigned long long len, count, arg;
	int has_arg;
	int fd;
	/* While it runs: the read buffer, the random generator, blocks of LEN in the file, reads
	 * done and bytes read. */
	char *buf;
	uint64_t state;
	unsigned long long blocks, done, bytes;
};

static struct spec specs[MAX_SPECS];
static int nspecs;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
	char name[32];
	int fd;
} shared[MAX_SHARED];
static int nshared;

static unsigned long long number(const char *s, const char *what, const char *spec)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		die("bad %s '%s' in '%s'", what, s, spec);
	return v;
}

/* Splits SPEC at ':' (a shared name =NAME takes one more field). */
static void parse(struct spec *sp, const char *text)
{
	char buf[1024], *field[8];
	int n = 0;

	if (strlen(text) >= sizeof(buf))
		die("spec too long: '%s'", text);
	strcpy(buf, text);
	for (char *p = buf, *tok; (tok = strsep(&p, ":")) != NULL;) {
		if (n == 8)
			die("too many fields in '%s'", text);
		field[n++] = tok;
	}
	int i = 0;
	if (n < 5)
		die("expected THREAD:FILE:KIND:LEN:COUNT[:ARG] in '%s'", text);
	size_t tl = strlen(field[i]);
	sp->rr = tl > 1 && field[i][tl - 1] == 'r';
	if (sp->rr)
		field[i][tl - 1] = 0;
	sp->thread = (int)number(field[i++], "thread", text);
	if (sp->thread >= MAX_THREADS)
		die("thread %d out of range in '%s'", sp->thread, text);
	sp->shared[0] = 0;
	if (field[i][0] == '=') {
		snprintf(sp->shared, sizeof(sp->shared), "%s", field[i] + 1);
		i++;
	}
	if (n - i < 4)
		die("expected THREAD:FILE:KIND:LEN:COUNT[:ARG] in '%s'", text);
	snprintf(sp->path, sizeof(sp->path), "%s", field[i++]);
	snprintf(sp->kind, sizeof(sp->kind), "%s", field[i++]);
	sp->len = number(field[i++], "length", text);
	sp->count = number(field[i++], "count", text);
	sp->has_arg = i < n;
	sp->arg = sp->has_arg ? number(field[i], "argument", text) : 0;
	if (sp->len == 0)
		die("zero length in '%s'", text);
}

static int open_for(struct spec *sp)
{
	if (sp->shared[0]) {
		for (int i = 0; i < nshared; i++)
			if (strcmp(shared[i].name, sp->shared) == 0)
				return shared[i].fd;
	}
	int fd = open(sp->path, O_RDONLY);
	if (fd < 0)
		die("open %s: %s", sp->path, strerror(errno));
	if (sp->shared[0]) {
		if (nshared == MAX_SHARED)
			die("too many shared descriptions");
		snprintf(shared[nshared].name, sizeof(shared[nshared].name), "%s", sp->shared);
		shared[nshared++].fd = fd;
	}
	return fd;
}

static uint64_t next_random(uint64_t *state)
{
	/* xorshift64*: a fixed sequence for a given seed. */
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void spec_start(struct spec *sp)
{
	struct stat st;

	sp->buf = malloc(sp->len);
	sp->state = sp->arg * 2654435761ULL + 1;
	sp->done = sp->bytes = 0;
	if (!sp->buf)
		die("out of memory for %llu bytes", sp->len);
	if (fstat(sp->fd, &st))
		die("fstat %s: %s", sp->path, strerror(errno));
	sp->blocks = (unsigned long long)st.st_size / sp->len;
	if (sp->blocks == 0)
		die("%s is smaller than one read", sp->path);
}

/* The spec's next read; returns 0 once it has made COUNT of them. */
static int spec_step(struct spec *sp)
{
	unsigned long long off, i = sp->done;

	if (i >= sp->count)
		return 0;
	if (strcmp(sp->kind, "seq") == 0)
		off = sp->arg + i * sp->len;
	else if (strcmp(sp->kind, "rev") == 0) {
		unsigned long long end = sp->has_arg ? sp->arg : sp->count * sp->len;
		if ((i + 1) * sp->len > end)
			die("rev runs below offset 0 in spec for %s", sp->path);
		off = end - (i + 1) * sp->len;
	} else if (strcmp(sp->kind, "stride") == 0)
		off = i * sp->arg;
	else if (strcmp(sp->kind, "random") == 0)
		off = (next_random(&sp->state) % sp->blocks) * sp->len;
	else if (strcmp(sp->kind, "inter") == 0)
		off = (i % 2 ? sp->arg : 0) + (i / 2) * sp->len;
	else
		die("unknown kind '%s'", sp->kind);
	ssize_t ret = pread(sp->fd, sp->buf, sp->len, (off_t)off);
	if (ret < 0)
		die("pread %s at %llu: %s", sp->path, off, strerror(errno));
	sp->bytes += (unsigned long long)ret;
	sp->done++;
	return 1;
}

static void spec_finish(struct spec *sp)
{
	free(sp->buf);
	pthread_mutex_lock(&print_lock);
	printf("{\"op\":\"%s\",\"path\":\"%s\",\"reads\":%llu,\"bytes\":%llu,\"tid\":%ld}\n", sp->kind, sp->path,
	       sp->count, sp->bytes, (long)syscall(SYS_gettid));
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);
}

static void run_spec(struct spec *sp)
{
	spec_start(sp);
	while (spec_step(sp))
		;
	spec_finish(sp);
}

static void *run_thread(void *arg)
{
	int t = (int)(intptr_t)arg, rr = 0;

	for (int i = 0; i < nspecs; i++)
		if (specs[i].thread == t && specs[i].rr)
			rr = 1;
	if (!rr) {
		for (int i = 0; i < nspecs; i++)
			if (specs[i].thread == t)
				run_spec(&specs[i]);
		return NULL;
	}
	for (int i = 0; i < nspecs; i++)
		if (specs[i].thread == t)
			spec_start(&specs[i]);
	for (int more = 1; more;) {
		more = 0;
		for (int i = 0; i < nspecs; i++)
			if (specs[i].thread == t)
				more |= spec_step(&specs[i]);
	}
	for (int i = 0; i < nspecs; i++)
		if (specs[i].thread == t)
			spec_finish(&specs[i]);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[MAX_THREADS];
	int used[MAX_THREADS] = { 0 };

	if (argc < 2)
		die("usage: pattern THREAD:FILE:KIND:LEN:COUNT[:ARG]...");
	if (argc - 1 > MAX_SPECS)
		die("at most %d specs", MAX_SPECS);
	for (int i = 1; i < argc; i++) {
		parse(&specs[nspecs], argv[i]);
		used[specs[nspecs].thread] = 1;
		nspecs++;
	}
	/* Open everything first, so the reads are all that happens while the threads run. */
	for (int i = 0; i < nspecs; i++)
		specs[i].fd = open_for(&specs[i]);
	for (int t = 1; t < MAX_THREADS; t++)
		if (used[t] && pthread_create(&threads[t], NULL, run_thread, (void *)(intptr_t)t))
			die("pthread_create failed");
	run_thread((void *)0);
	for (int t = 1; t < MAX_THREADS; t++)
		if (used[t])
			pthread_join(threads[t], NULL);
	return 0;
}
