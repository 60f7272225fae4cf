/*
 * dispatch MILLISECONDS
 *
 * A stand-in server for the statement probes (record --statements) where no MariaDB can run (the
 * 6.1 guest): it has a function with MariaDB 10.6+'s symbol for its command dispatch and calls it
 * with a query (COM_QUERY, 3) every 10 ms for MILLISECONDS, on one thread, then prints
 * {"calls":N,"tid":T} on stdout. Install it as `mariadbd`: the recorder attaches the statement
 * probes to servers by name when they start during a recording.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define HELPER_NAME "dispatch"
#include "helper.h"

/* The query every call passes; its literal must become '?' in the trace. */
static const char QUERY[] = "SELECT c FROM mio_guest WHERE id = 42";

static volatile unsigned long dispatched;

/* MariaDB 10.6+: bool dispatch_command(enum_server_command, THD *, char *packet, uint length,
 * bool blocking). A C function may carry the C++ name: the probe finds it by symbol. */
__attribute__((noinline, noclone, used)) bool _Z16dispatch_command19enum_server_commandP3THDPcjb(
	int command, void *thd, char *packet, unsigned length, bool blocking)
{
	dispatched += (unsigned long)command + length + (packet[0] != 0) + (thd != NULL) + blocking;
	return false;
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	static char thd[64];
	char packet[sizeof(QUERY)];
	unsigned long calls = 0;
	double end;

	if (argc != 2)
		die("usage: dispatch MILLISECONDS");
	end = now_ms() + (double)number_arg(argv[1], "duration in milliseconds");
	while (now_ms() < end) {
		memcpy(packet, QUERY, sizeof(QUERY));
		_Z16dispatch_command19enum_server_commandP3THDPcjb(3, thd, packet, sizeof(QUERY) - 1, true);
		calls++;
		usleep(10000);
	}
	printf("{\"calls\":%lu,\"tid\":%ld}\n", calls, (long)syscall(SYS_gettid));
	return 0;
}
