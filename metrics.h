/*
 * /metrics in the Prometheus text format (version 0.0.4): a growable
 * output buffer with one call per family (HELP and TYPE always written
 * with it), latency histograms cheap enough for the delivery path, and the
 * standard process_* metrics read from /proc.
 */
#ifndef PGWS_METRICS_H
#define PGWS_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* --- histograms ---------------------------------------------------------- */

#define HIST_MAX 16             /* most finite buckets of one histogram */

/*
 * A histogram with fixed upper bounds le[0..n) in seconds, ascending; the
 * +Inf bucket is count[n].  Counts are per bucket (not cumulative) so an
 * observation touches one counter; the writer adds them up.
 */
struct hist {
	const double *le;
	size_t n;
	uint64_t count[HIST_MAX + 1];
	double sum;
};

/* The buckets pgws uses: deliveries (100 us .. 5 s) and publish round
 * trips (250 us .. 10 s); see README "Operating it". */
extern const double hist_delivery_le[];
extern const size_t hist_delivery_n;
extern const double hist_publish_le[];
extern const size_t hist_publish_n;

/* Zeroes *h and gives it the bounds le[0..n) (n <= HIST_MAX), which the
 * caller keeps alive. */
void hist_init(struct hist *h, const double *le, size_t n);

/* Counts one observation of v seconds (a negative v counts as 0). */
static inline void hist_observe(struct hist *h, double v)
{
	size_t i = 0;

	if (v < 0)
		v = 0;
	while (i < h->n && v > h->le[i])
		i++;
	h->count[i]++;
	h->sum += v;
}

/* --- the exposition text -------------------------------------------------- */

/*
 * The body under construction.  Functions append to it; the first
 * allocation failure sets err and later calls do nothing.  The caller
 * frees p.
 */
struct mbuf {
	char *p;
	size_t len, cap;
	int err;
};

/* Starts family name: "# HELP name help" and "# TYPE name type".  help
 * must not contain a newline or a backslash (pgws's own text only). */
void m_family(struct mbuf *b, const char *name, const char *type,
    const char *help);

/* One sample "name{labels} value"; labels is NULL or the text between the
 * braces, already escaped (pgws's own label values only). */
void m_u64(struct mbuf *b, const char *name, const char *labels,
    unsigned long long v);
void m_num(struct mbuf *b, const char *name, const char *labels, double v);

/* A whole histogram family: HELP, TYPE, cumulative _bucket lines with le,
 * _sum and _count. */
void m_hist(struct mbuf *b, const char *name, const char *help,
    const struct hist *h);

/* --- process metrics ------------------------------------------------------ */

struct proc_stat {
	double cpu_seconds;     /* utime + stime */
	double start_ticks;     /* starttime: clock ticks after boot */
	unsigned long long vsize;       /* bytes */
	long long rss_pages;
};

/*
 * Parses the text of /proc/<pid>/stat, s[0..n) (not NUL-terminated), into
 * *ps, with ticks clock ticks per second.  The command name (field 2) may
 * hold any byte, spaces and parentheses included, so the fields are
 * counted from the last ')'.  Returns 0, or -1 when the text does not
 * have the fields.
 */
int proc_stat_parse(const char *s, size_t n, long ticks, struct proc_stat *ps);

/*
 * Parses the "btime SECONDS" line of /proc/stat, s[0..n).  Returns the
 * boot time in Unix seconds, or -1.
 */
long long proc_btime_parse(const char *s, size_t n);

/*
 * Appends process_cpu_seconds_total, process_start_time_seconds,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds and process_max_fds for this process.  Reads
 * /proc/self/stat and lists /proc/self/fd (one directory entry per open
 * descriptor: about a millisecond per 10,000); /proc/stat's boot time is
 * read once and kept.  A family that cannot be read is left out.
 */
void m_process(struct mbuf *b);

#endif
