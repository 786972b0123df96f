/*
 * A tiny unit-test harness shared by tests/test_*.c.  Each test program
 * #includes the module's .c file so it can reach static functions, calls
 * CHECK() for every assertion, and ends main() with `return unit_done();`,
 * which prints the "N passed, N failed" line that test.sh adds up.
 */
#ifndef PGWS_UNIT_H
#define PGWS_UNIT_H

#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static int unit_pass, unit_fail;

#define CHECK(cond) do { \
	if (cond) unit_pass++; \
	else { unit_fail++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", \
	    __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_EQ_INT(a, b) do { \
	long long unit_a_ = (long long)(a), unit_b_ = (long long)(b); \
	if (unit_a_ == unit_b_) unit_pass++; \
	else { unit_fail++; fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", \
	    __FILE__, __LINE__, #a, unit_a_, unit_b_); } \
} while (0)

#define CHECK_MEM(p, n, q, m) do { \
	size_t unit_n_ = (n), unit_m_ = (m); \
	if (unit_n_ == unit_m_ && memcmp((p), (q), unit_n_) == 0) unit_pass++; \
	else { unit_fail++; fprintf(stderr, "%s:%d: %s differs from %s\n", \
	    __FILE__, __LINE__, #p, #q); } \
} while (0)

/*
 * Copies n bytes so that they end exactly at an unreadable page: any read
 * past the end crashes the test instead of passing by luck.  The copy stays
 * valid until the next call with the same slot (0..3).
 */
static unsigned char *unit_guard(const void *src, size_t n, int slot)
{
	static unsigned char *base[4];
	static size_t span[4];
	long pg = sysconf(_SC_PAGESIZE);
	size_t need = ((n + (size_t)pg - 1) / (size_t)pg + 1) * (size_t)pg;

	if (base[slot])
		munmap(base[slot], span[slot]);
	base[slot] = mmap(NULL, need, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base[slot] == MAP_FAILED) { perror("mmap"); exit(2); }
	span[slot] = need;
	mprotect(base[slot] + need - (size_t)pg, (size_t)pg, PROT_NONE);
	unsigned char *p = base[slot] + need - (size_t)pg - n;
	if (n) memcpy(p, src, n);
	return p;
}

static int unit_done(void)
{
	printf("%d passed, %d failed\n", unit_pass, unit_fail);
	return unit_fail ? 1 : 0;
}

#endif
