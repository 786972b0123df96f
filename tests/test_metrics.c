/*
 * Unit tests for metrics.c: histogram buckets at their boundaries, the
 * text of a histogram family (cumulative, _count equal to +Inf), and the
 * /proc parsers against real and hostile inputs, under guard pages.
 */
#include "../metrics.c"
#include "unit.h"

static int has(const struct mbuf *b, const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i + n <= b->len; i++)
		if (!memcmp(b->p + i, s, n))
			return 1;
	return 0;
}

static void test_hist(void)
{
	static const double le[] = { 0.001, 0.01, 0.1 };
	struct hist h;
	struct mbuf b = { 0 };

	hist_init(&h, le, 3);
	hist_observe(&h, 0.001);        /* on a bound: that bucket (le is <=) */
	hist_observe(&h, 0.0010001);
	hist_observe(&h, 0.1);
	hist_observe(&h, 7);            /* past the last bound: +Inf only */
	hist_observe(&h, -1);           /* a clock step backwards counts as 0 */
	CHECK_EQ_INT(h.count[0], 2);
	CHECK_EQ_INT(h.count[1], 1);
	CHECK_EQ_INT(h.count[2], 1);
	CHECK_EQ_INT(h.count[3], 1);
	m_hist(&b, "x_seconds", "X.", &h);
	CHECK(!b.err);
	CHECK(has(&b, "# HELP x_seconds X.\n# TYPE x_seconds histogram\n"));
	CHECK(has(&b, "x_seconds_bucket{le=\"0.001\"} 2\n"));
	CHECK(has(&b, "x_seconds_bucket{le=\"0.01\"} 3\n"));
	CHECK(has(&b, "x_seconds_bucket{le=\"0.1\"} 4\n"));
	CHECK(has(&b, "x_seconds_bucket{le=\"+Inf\"} 5\n"));
	CHECK(has(&b, "x_seconds_count 5\n"));
	CHECK(has(&b, "x_seconds_sum 7.1020001\n"));
	free(b.p);

	/* The shipped bounds ascend and fit. */
	CHECK(hist_delivery_n <= HIST_MAX && hist_publish_n <= HIST_MAX);
	for (size_t i = 1; i < hist_delivery_n; i++)
		CHECK(hist_delivery_le[i] > hist_delivery_le[i - 1]);
	for (size_t i = 1; i < hist_publish_n; i++)
		CHECK(hist_publish_le[i] > hist_publish_le[i - 1]);
}

static void test_mbuf(void)
{
	struct mbuf b = { 0 };
	char name[64];

	/* Growth past the first allocation keeps every byte. */
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof name, "m%d_total", i);
		m_u64(&b, name, NULL, (unsigned long long)i);
	}
	CHECK(!b.err);
	CHECK(has(&b, "m0_total 0\nm1_total 1\n"));
	CHECK(has(&b, "m1999_total 1999\n"));
	CHECK(b.len > 8192);
	free(b.p);
	memset(&b, 0, sizeof b);
	m_u64(&b, "s", "status=\"401\"", 18446744073709551615ULL);
	CHECK(has(&b, "s{status=\"401\"} 18446744073709551615\n"));
	m_num(&b, "r", NULL, 0.1);
	CHECK(has(&b, "r 0.1\n"));
	m_num(&b, "r2", NULL, 1796233848.382);
	CHECK(has(&b, "r2 1796233848.382\n"));
	free(b.p);
}

static int stat_of(const char *text, struct proc_stat *ps)
{
	size_t n = strlen(text);
	const char *g = (const char *)unit_guard(text, n, 0);
	return proc_stat_parse(g, n, 100, ps);
}

static void test_proc_stat(void)
{
	struct proc_stat ps;
	/* A real line (Linux 6.x) shape, with 52 fields. */
	const char *real = "4242 (pgws) S 1 4242 4242 0 -1 4194560 389 0 0 0 "
	    "150 25 0 0 20 0 1 0 987654 12582912 1234 18446744073709551615 1 1 0 "
	    "0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
	CHECK_EQ_INT(stat_of(real, &ps), 0);
	CHECK(ps.cpu_seconds > 1.749 && ps.cpu_seconds < 1.751);
	CHECK(ps.start_ticks == 987654.0);
	CHECK_EQ_INT(ps.vsize, 12582912);
	CHECK_EQ_INT(ps.rss_pages, 1234);

	/* A command name with spaces and parentheses: the last ')' counts. */
	const char *odd = "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 "
	    "300 100 0 0 20 -5 1 0 55 4096 3 0\n";
	CHECK_EQ_INT(stat_of(odd, &ps), 0);
	CHECK(ps.cpu_seconds == 4.0);
	CHECK_EQ_INT(ps.rss_pages, 3);

	/* Cut anywhere before the rss field: refused, never read past. */
	size_t n = strlen(real);
	const char *rss = strstr(real, " 1234 ");
	for (size_t cut = 0; cut < (size_t)(rss - real) + 5; cut++) {
		const char *g = (const char *)unit_guard(real, cut, 1);
		CHECK(proc_stat_parse(g, cut, 100, &ps) < 0);
	}
	CHECK(proc_stat_parse((const char *)unit_guard(real, n, 1), n, 0, &ps) < 0);
	CHECK(stat_of("1 (x) S 1 2 x", &ps) < 0);
	CHECK(stat_of("no parenthesis at all", &ps) < 0);
	CHECK(stat_of("1 (x)", &ps) < 0);
	CHECK(stat_of("1 (x) S 99999999999999999999999 1 1 0 0 0 0 0 0 0 1 1 0 0 0 0 1 0 1 1 1\n", &ps) < 0);
}

static void test_btime(void)
{
	const char *st = "cpu  1 2 3\ncpu0 1 2 3\nintr 5 6 7\nctxt 9\nbtime 1700000000\nprocesses 3\n";
	size_t n = strlen(st);
	CHECK_EQ_INT(proc_btime_parse((const char *)unit_guard(st, n, 0), n), 1700000000);
	const char *none = "cpu 1\nbtimex 5\n btime 6\n";
	n = strlen(none);
	CHECK_EQ_INT(proc_btime_parse((const char *)unit_guard(none, n, 0), n), -1);
	const char *cut = "btime ";
	CHECK_EQ_INT(proc_btime_parse((const char *)unit_guard(cut, 6, 0), 6), -1);
	const char *last = "btime 42";
	CHECK_EQ_INT(proc_btime_parse((const char *)unit_guard(last, 8, 0), 8), 42);
}

static void test_process(void)
{
	struct mbuf b = { 0 };
	m_process(&b);
	CHECK(!b.err);
	CHECK(has(&b, "# TYPE process_cpu_seconds_total counter\n"));
	CHECK(has(&b, "# TYPE process_start_time_seconds gauge\n"));
	CHECK(has(&b, "# TYPE process_resident_memory_bytes gauge\n"));
	CHECK(has(&b, "# TYPE process_open_fds gauge\n"));
	CHECK(has(&b, "# TYPE process_max_fds gauge\n"));
	/* Three descriptors open plus one more shows as one more. */
	int before = count_fds();
	int fd = dup(0);
	CHECK_EQ_INT(count_fds(), before + 1);
	close(fd);
	CHECK(before >= 3);
	free(b.p);
}

int main(void)
{
	test_hist();
	test_mbuf();
	test_proc_stat();
	test_btime();
	test_process();
	return unit_done();
}
