/*
 * The Prometheus side of /metrics, in its own file so that the rules of
 * the text format (HELP and TYPE with every family, cumulative buckets,
 * _count equal to the +Inf bucket) are kept in one place, and so that the
 * /proc parsers are pure functions with their own unit tests.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics.h"

/*
 * Delivery: a notification framed and written to a reader on this
 * machine takes tens to hundreds of microseconds; a fan-out to thousands
 * of readers, or a reader behind a full socket buffer, takes milliseconds
 * to seconds.  Publish: a NOTIFY round trip to a local PostgreSQL is
 * under a millisecond, to a managed one in another zone a few
 * milliseconds, and a busy or failing-over database seconds.
 */
const double hist_delivery_le[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5
};
const size_t hist_delivery_n = sizeof hist_delivery_le / sizeof hist_delivery_le[0];
const double hist_publish_le[] = {
	0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
	0.5, 1, 2.5, 5, 10
};
const size_t hist_publish_n = sizeof hist_publish_le / sizeof hist_publish_le[0];

void hist_init(struct hist *h, const double *le, size_t n)
{
	memset(h, 0, sizeof *h);
	h->le = le;
	h->n = n > HIST_MAX ? HIST_MAX : n;
}

/* --- the text ------------------------------------------------------------ */

static void m_printf(struct mbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void m_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;

	if (b->err)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 8192;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->err = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

void m_family(struct mbuf *b, const char *name, const char *type,
    const char *help)
{
	m_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void m_u64(struct mbuf *b, const char *name, const char *labels,
    unsigned long long v)
{
	m_printf(b, "%s%s%s%s %llu\n", name, labels ? "{" : "",
	    labels ? labels : "", labels ? "}" : "", v);
}

/* Shortest text that reads back as the same double; Prometheus reads Go's
 * ParseFloat syntax, which %.17g output always is (not NaN or Inf here). */
void m_num(struct mbuf *b, const char *name, const char *labels, double v)
{
	char num[40];
	for (int prec = 6; prec <= 17; prec++) {
		snprintf(num, sizeof num, "%.*g", prec, v);
		if (strtod(num, NULL) == v)
			break;
	}
	m_printf(b, "%s%s%s%s %s\n", name, labels ? "{" : "",
	    labels ? labels : "", labels ? "}" : "", num);
}

void m_hist(struct mbuf *b, const char *name, const char *help,
    const struct hist *h)
{
	unsigned long long cum = 0;
	char le[48];

	m_family(b, name, "histogram", help);
	for (size_t i = 0; i <= h->n; i++) {
		cum += h->count[i];
		if (i < h->n)
			snprintf(le, sizeof le, "le=\"%g\"", h->le[i]);
		else
			snprintf(le, sizeof le, "le=\"+Inf\"");
		m_printf(b, "%s_bucket{%s} %llu\n", name, le, cum);
	}
	size_t nl = strlen(name);
	char sn[128];
	if (nl + 8 > sizeof sn)
		return;
	memcpy(sn, name, nl);
	strcpy(sn + nl, "_sum");
	m_num(b, sn, NULL, h->sum);
	strcpy(sn + nl, "_count");
	m_u64(b, sn, NULL, cum);
}

/* --- /proc ----------------------------------------------------------------- */

/* Reads unsigned decimal digits at s[*i..n); returns -1 when there are none. */
static int num_at(const char *s, size_t n, size_t *i, unsigned long long *v)
{
	size_t start = *i;
	unsigned long long x = 0;

	while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
		if (x > (~0ULL - 9) / 10)
			return -1;
		x = x * 10 + (unsigned)(s[*i] - '0');
		(*i)++;
	}
	*v = x;
	return *i > start ? 0 : -1;
}

int proc_stat_parse(const char *s, size_t n, long ticks, struct proc_stat *ps)
{
	size_t i = n;
	unsigned long long f[25] = { 0 };      /* f[k]: field k of proc(5) */

	if (ticks <= 0)
		return -1;
	/* Field 2 is "(comm)"; comm may hold ')' so the last one ends it. */
	while (i > 0 && s[i - 1] != ')')
		i--;
	if (i == 0)
		return -1;
	/* Field 3, the state, is one character; numbers from field 4 on. */
	if (n - i < 3 || s[i] != ' ' || s[i + 2] != ' ')
		return -1;
	i += 3;
	for (int k = 4; k <= 24; k++) {
		if (i < n && s[i] == '-')
			i++;            /* a negative field (priority, nice) */
		if (num_at(s, n, &i, &f[k]) < 0)
			return -1;
		/* A separator after each, so a cut number is not taken. */
		if (i >= n || (s[i] != ' ' && s[i] != '\n'))
			return -1;
		i++;
	}
	/* 14 utime, 15 stime (ticks), 22 starttime (ticks after boot),
	 * 23 vsize (bytes), 24 rss (pages).  No real value comes near 2^62;
	 * one past it is refused rather than wrapped or turned negative. */
	if (f[14] > (1ULL << 62) || f[15] > (1ULL << 62) || f[24] > (1ULL << 62))
		return -1;
	ps->cpu_seconds = (double)(f[14] + f[15]) / (double)ticks;
	ps->start_ticks = (double)f[22];
	ps->vsize = f[23];
	ps->rss_pages = (long long)f[24];
	return 0;
}

long long proc_btime_parse(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (n - i > 6 && !memcmp(s + i, "btime ", 6)) {
			unsigned long long v;
			i += 6;
			if (num_at(s, n, &i, &v) < 0 || v > (1ULL << 62))
				return -1;
			return (long long)v;
		}
		while (i < n && s[i] != '\n')
			i++;
		i++;
	}
	return -1;
}

/* Reads at most cap - 1 bytes of a small /proc file; -1 on failure. */
static long read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0)
		return -1;
	while (n < cap - 1) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	return (long)n;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;           /* the descriptor opendir itself holds */
}

void m_process(struct mbuf *b)
{
	static long long btime = -2;
	char buf[4096];
	long n, ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	struct proc_stat ps;
	struct rlimit rl;

	if (btime == -2) {
		/* Line by line: the "intr" line before btime can be long. */
		FILE *f = fopen("/proc/stat", "re");
		btime = -1;
		while (f && fgets(buf, sizeof buf, f))
			if (!strncmp(buf, "btime ", 6)) {
				btime = proc_btime_parse(buf, strlen(buf));
				break;
			}
		if (f)
			fclose(f);
	}
	n = read_small("/proc/self/stat", buf, sizeof buf);
	if (n > 0 && proc_stat_parse(buf, (size_t)n, ticks, &ps) == 0) {
		m_family(b, "process_cpu_seconds_total", "counter",
		    "User and system CPU time spent, in seconds.");
		m_num(b, "process_cpu_seconds_total", NULL, ps.cpu_seconds);
		if (btime >= 0) {
			m_family(b, "process_start_time_seconds", "gauge",
			    "Start time of the process since the Unix epoch, in seconds.");
			m_num(b, "process_start_time_seconds", NULL,
			    (double)btime + ps.start_ticks / (double)ticks);
		}
		m_family(b, "process_resident_memory_bytes", "gauge",
		    "Resident memory size, in bytes.");
		m_u64(b, "process_resident_memory_bytes", NULL,
		    (unsigned long long)(ps.rss_pages * (page > 0 ? page : 4096)));
		m_family(b, "process_virtual_memory_bytes", "gauge",
		    "Virtual memory size, in bytes.");
		m_u64(b, "process_virtual_memory_bytes", NULL, ps.vsize);
	}
	int fds = count_fds();
	if (fds >= 0) {
		m_family(b, "process_open_fds", "gauge",
		    "Number of open file descriptors.");
		m_u64(b, "process_open_fds", NULL, (unsigned long long)fds);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		m_family(b, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors (the soft limit).");
		m_u64(b, "process_max_fds", NULL, rl.rlim_cur == RLIM_INFINITY ?
		    0 : (unsigned long long)rl.rlim_cur);
	}
}
