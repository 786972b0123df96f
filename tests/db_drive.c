/*
 * db_drive: exercises db.c against a real PostgreSQL with its own poll()
 * loop, the way pgws's loop drives it: pollfds in, db_process, then every
 * event pulled with db_next.  It links db.c and log.c and nothing else.  Used by tests/db_test.sh.
 *
 *   db_drive URI listen N        print "ready", then N payloads, one a line
 *   db_drive URI publish N       publish "msg-<i>", i = 0..N-1, affinity 0
 *   db_drive URI publishfile F   publish the bytes of file F as one message
 *   db_drive URI stdin           publish each line of standard input
 *   db_drive URI supervise       print "ready", "down", "up", then exit
 *                                after one more notification (printed)
 *
 * Publishing modes print "failed <tag> <why>" per failure and end with
 * "done published=P failed=F" once nothing is pending.  Environment:
 * DB_CHANNEL, DB_POOL, DB_RETRIES, DB_CHECK_MS, DB_BATCH, DB_DEADLINE
 * (seconds before giving up, default 30, exit 3), DB_UNTIL (listen: also
 * stop after this payload).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "log.h"

enum mode { M_LISTEN, M_PUBLISH, M_FILE, M_STDIN, M_SUPERVISE };

static enum mode mode;
static long want;             /* M_LISTEN: notifications to wait for */
static long got;
static int downs, ups, after_up;
static unsigned long long failed;

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long
envl(const char *name, long def)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 10) : def;
}

static void
on_notify(const char *payload, size_t len)
{
	const char *until = getenv("DB_UNTIL");

	/* Publishers listen too (db always does); keep their output to
	 * their own results. */
	if (mode != M_LISTEN && mode != M_SUPERVISE)
		return;
	fwrite(payload, 1, len, stdout);
	putchar('\n');
	fflush(stdout);
	got++;
	if (until && strlen(until) == len && !memcmp(until, payload, len))
		got = want;
	if (mode == M_SUPERVISE && ups > 0)
		after_up = 1;
}

static void
on_listener(int up)
{
	puts(up ? "up" : "down");
	fflush(stdout);
	if (up)
		ups += downs > 0;
	else
		downs++;
}

static void
on_publish_failed(uint64_t tag, const char *why)
{
	printf("failed %llu %s\n", (unsigned long long)tag, why);
	fflush(stdout);
	failed++;
}

/* Takes every event db_process queued, in order. */
static void
drain_events(void)
{
	struct db_event ev;

	while (db_next(&ev)) {
		switch (ev.kind) {
		case DB_EV_NOTIFY:
			on_notify(ev.data, ev.len);
			break;
		case DB_EV_LISTENER_DOWN:
			on_listener(0);
			break;
		case DB_EV_LISTENER_UP:
			on_listener(1);
			break;
		case DB_EV_PUBLISH_FAILED:
			on_publish_failed(ev.tag, ev.data);
			break;
		}
	}
}

static int
publish(uint64_t tag, const char *p, size_t len)
{
	if (db_publish(tag, 0, p, len) < 0) {
		printf("failed %llu queue full\n", (unsigned long long)tag);
		failed++;
		return -1;
	}
	return 0;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(8192);

	*len = 0;
	if (!f || !buf) {
		perror(path);
		exit(2);
	}
	*len = fread(buf, 1, 8191, f);
	fclose(f);
	return buf;
}

int
main(int argc, char **argv)
{
	struct db_cfg cfg = { 0 };
	struct pollfd pfd[64];
	char err[512], line[8192];
	size_t llen = 0, n;
	uint64_t tag = 0;
	int use_stdin = 0, input_done = 1;
	double deadline, now, t;

	if (argc < 3) {
		fprintf(stderr, "usage: db_drive URI MODE [ARG]\n");
		return 2;
	}
	if (!strcmp(argv[2], "listen"))
		mode = M_LISTEN;
	else if (!strcmp(argv[2], "publish"))
		mode = M_PUBLISH;
	else if (!strcmp(argv[2], "publishfile"))
		mode = M_FILE;
	else if (!strcmp(argv[2], "stdin"))
		mode = M_STDIN;
	else if (!strcmp(argv[2], "supervise"))
		mode = M_SUPERVISE;
	else {
		fprintf(stderr, "db_drive: unknown mode %s\n", argv[2]);
		return 2;
	}
	if ((mode == M_LISTEN || mode == M_PUBLISH || mode == M_FILE) &&
	    argc < 4) {
		fprintf(stderr, "db_drive: %s needs an argument\n", argv[2]);
		return 2;
	}
	log_set_level(L_DEBUG);
	cfg.uri = argv[1];
	cfg.channel = getenv("DB_CHANNEL") ? getenv("DB_CHANNEL") :
	    "postgres-websockets-listener";
	cfg.pool_size = (int)envl("DB_POOL", 2);
	cfg.retries = (int)envl("DB_RETRIES", 1);
	cfg.check_ms = envl("DB_CHECK_MS", mode == M_SUPERVISE ? 500 : 0);
	cfg.queue_max = 10000;
	cfg.batch_max = (size_t)envl("DB_BATCH", 256);
	if (db_init(&cfg, err, sizeof err) < 0) {
		printf("init failed: %s\n", err);
		return 1;
	}
	if (mode == M_LISTEN || mode == M_SUPERVISE) {
		puts("ready");
		fflush(stdout);
	}
	if (mode == M_LISTEN)
		want = strtol(argv[3], NULL, 10);
	if (mode == M_PUBLISH) {
		long i, cnt = strtol(argv[3], NULL, 10);

		for (i = 0; i < cnt; i++) {
			int len = snprintf(line, sizeof line, "msg-%ld", i);

			publish(tag++, line, (size_t)len);
		}
	}
	if (mode == M_FILE) {
		char *buf = slurp(argv[3], &n);

		publish(tag++, buf, n);
		free(buf);
	}
	if (mode == M_STDIN)
		use_stdin = 1, input_done = 0;

	now = mono();
	deadline = now + envl("DB_DEADLINE", 30);
	for (;;) {
		size_t nfd = db_pollfds(pfd, 63), nall = nfd;
		int ms;

		if (use_stdin) {
			pfd[nall].fd = 0;
			pfd[nall].events = POLLIN;
			pfd[nall].revents = 0;
			nall++;
		}
		t = db_timeout(now);
		if (t < 0 || t > 1)
			t = 1;
		/* Round up, or a timer a fraction of a millisecond away
		 * would spin. */
		ms = (int)(t * 1000) + (t > 0);
		if (poll(pfd, nall, ms) < 0) {
			perror("poll");
			return 1;
		}
		now = mono();
		db_process(pfd, nfd, now);
		drain_events();
		if (use_stdin && pfd[nfd].revents) {
			ssize_t r = read(0, line + llen, sizeof line - llen);
			size_t i, start = 0;

			if (r <= 0) {
				use_stdin = 0;
				input_done = 1;
				if (llen)
					publish(tag++, line, llen);
				llen = 0;
			} else {
				llen += (size_t)r;
				for (i = 0; i < llen; i++) {
					if (line[i] != '\n')
						continue;
					publish(tag++, line + start, i - start);
					start = i + 1;
				}
				memmove(line, line + start, llen - start);
				llen -= start;
				if (llen == sizeof line)
					llen = 0;
			}
		}
		if (mode == M_LISTEN && got >= want)
			break;
		if (mode == M_SUPERVISE && after_up)
			break;
		if ((mode == M_PUBLISH || mode == M_FILE || mode == M_STDIN) &&
		    input_done && db_pending() == 0) {
			struct db_stats s;

			db_get_stats(&s);
			printf("done published=%llu failed=%llu\n", s.published,
			    failed);
			break;
		}
		if (mode == M_SUPERVISE && !db_listener_up() && cfg.check_ms == 0)
			break;
		if (now > deadline) {
			printf("timeout\n");
			db_shutdown();
			return 3;
		}
	}
	fflush(stdout);
	db_shutdown();
	return 0;
}
