/*
 * pgws check, in its own file because it runs instead of the server: it
 * loads the configuration the way the server does (reporting every error,
 * not only the first), connects to the database through the same db.c
 * code and runs LISTEN, optionally says what a token would be granted, or
 * asks a running instance's /health over plain HTTP.  It prints one line
 * and exits with one of the statuses in check.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "httpc.h"
#include "jwt.h"
#include "log.h"
#include "tls.h"

#define CHECK_TIMEOUT 5         /* seconds for --url, unless --timeout */
#define CHECK_RESP_MAX 4096     /* bytes of the answer that are read */

static int check_url(const char *url, double timeout)
{
	struct httpc_url u;
	char resp[CHECK_RESP_MAX], why[512], body[1024];

	if (httpc_url_parse(url, &u) < 0) {
		fprintf(stderr, "pgws check: --url takes http://host[:port]/path, "
		    "not '%s'\n", url);
		return CHECK_CONFIG;
	}
	long n = httpc_get(&u, timeout, resp, sizeof resp, why, sizeof why);
	if (n < 0) {
		fprintf(stderr, "pgws check: %s: %s\n", url, why);
		return CHECK_UNREACHABLE;
	}
	int st = httpc_status_line(resp, (size_t)n);
	httpc_body_line(resp, (size_t)n, body, sizeof body);
	if (st != 200) {
		if (st < 0)
			fprintf(stderr, "pgws check: %s: not an HTTP answer\n", url);
		else
			fprintf(stderr, "pgws check: %s answered %d %s\n", url, st, body);
		return CHECK_UNREACHABLE;
	}
	printf("ok: %s answered 200 %s\n", url, body);
	return CHECK_OK;
}

/* --- the configuration, the token, the database ------------------------------ */

static void utc(double t, char *out, size_t cap)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * What tok would be granted at the path /<chan>/<tok> (chan NULL: /<tok>),
 * written as one line into out.  Returns 0, or the HTTP status of the
 * refusal with its reason in out.
 */
static int token_line(const struct jwt_keyset *keys, const char *tok,
    const char *chan, char *out, size_t cap)
{
	struct jwt_claims cl;
	struct timespec ts;
	size_t wcap = jwt_work_size((size_t)cfg.max_token, keys->max_chan);
	char *work = malloc(wcap), esc[512], when[32];
	int e;

	if (!work) {
		snprintf(out, cap, "out of memory");
		return 500;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	e = jwt_verify(tok, strlen(tok), (size_t)cfg.max_token, keys, now, work,
	    wcap, &cl);
	if (e == JWT_OK && (chan || cl.listed))
		e = jwt_grant(&cl, chan, chan ? strlen(chan) : 0);
	if (e != JWT_OK) {
		snprintf(out, cap, "%d %s", jwt_status(e),
		    e == JWT_E_CLAIMS && cl.why ? cl.why : jwt_strerror(e));
		free(work);
		return jwt_status(e);
	}
	size_t n = (size_t)snprintf(out, cap, "token: mode %s%s, ",
	    cl.mode & JWT_MODE_R ? "r" : "", cl.mode & JWT_MODE_W ? "w" : "");
	if (!chan && !cl.listed) {
		n += (size_t)snprintf(out + n, n < cap ? cap - n : 0,
		    "any one channel named in the path (/<channel>/<jwt>)");
	} else {
		n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "channel%s ",
		    cl.nchan == 1 ? "" : "s");
		for (size_t i = 0; i < cl.nchan && n < cap; i++) {
			http_log_escape(cl.chan[i].p, cl.chan[i].n, esc, sizeof esc);
			n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? ", " : "", esc);
		}
	}
	if (n < cap && cl.has_exp) {
		utc(cl.exp, when, sizeof when);
		snprintf(out + n, cap - n, "; expires %s (in %.0f s)", when, cl.exp - now);
	} else if (n < cap) {
		snprintf(out + n, cap - n, "; no exp: never expires");
	}
	free(work);
	return 0;
}

static int usage_error(const char *what)
{
	fprintf(stderr, "pgws check: %s\n"
	    "usage: pgws check [--token JWT [--channel C]]\n"
	    "       pgws check --url http://HOST:PORT/health [--timeout SECONDS]\n",
	    what);
	return CHECK_CONFIG;
}

/* Everything but --url: configuration, keys, TLS files, token, database. */
static int check_config(const char *tok, const char *chan)
{
	struct jwt_keyset keys;
	char err[512], line[2048] = "", where[512], lc[256];
	int have_keys = 0;

	int errors = config_read();
	/* Only the answer goes out, not the server's log lines. */
	log_set_level(L_ERROR);
	if (cfg.jwt_secret) {
		int kr = jwt_keys_load(&keys, cfg.jwt_secret, cfg.jwt_secret_len,
		    (int)cfg.jwt_base64, err, sizeof err);
		if (kr < 0) {
			fprintf(stderr, "pgws: PGWS_JWT_SECRET: %s\n", err);
			errors++;
		} else {
			have_keys = 1;
		}
	}
	if (cfg.cert_file && cfg.key_file &&
	    tls_setup(cfg.cert_file, cfg.key_file, err, sizeof err) < 0) {
		fprintf(stderr, "pgws: %s\n", err);
		errors++;
	}
	if (errors) {
		if (have_keys)
			jwt_keys_free(&keys);
		return CHECK_CONFIG;
	}
	if (tok && token_line(&keys, tok, chan, line, sizeof line)) {
		fprintf(stderr, "pgws check: token refused: %s\n", line);
		jwt_keys_free(&keys);
		return CHECK_TOKEN;
	}
	jwt_keys_free(&keys);
	struct db_cfg dc = {
		.uri = cfg.db_uri, .channel = cfg.listen_channel,
		.pool_size = (int)cfg.pool_size, .retries = 1,
		.check_ms = cfg.check_interval,
		.queue_max = (size_t)cfg.publish_queue,
		.bytes_max = (size_t)cfg.publish_bytes,
		.batch_max = (size_t)cfg.publish_batch,
	};
	if (db_init(&dc, err, sizeof err) < 0) {
		fprintf(stderr, "pgws check: database: %s\n", err);
		return CHECK_UNREACHABLE;
	}
	db_describe(where, sizeof where);
	db_shutdown();
	http_log_escape(cfg.listen_channel, strlen(cfg.listen_channel), lc, sizeof lc);
	printf("ok: configuration valid; %s; LISTEN \"%s\" done%s%s\n", where, lc,
	    tok ? "; " : "", line);
	return CHECK_OK;
}

int check_main(int argc, char **argv)
{
	const char *url = NULL, *tok = NULL, *chan = NULL;
	double timeout = CHECK_TIMEOUT;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--url") && strcmp(a, "--token") &&
		    strcmp(a, "--channel") && strcmp(a, "--timeout"))
			return usage_error("unknown option");
		if (!v || !*v)
			return usage_error("an option without its value");
		if (!strcmp(a, "--url")) {
			url = v;
		} else if (!strcmp(a, "--token")) {
			tok = v;
		} else if (!strcmp(a, "--channel")) {
			chan = v;
		} else if (!strcmp(a, "--timeout")) {
			char *end;
			timeout = strtod(v, &end);
			if (*end || !(timeout > 0 && timeout <= 3600))
				return usage_error("--timeout takes seconds, more than 0 and at most 3600");
		}
		i++;
	}
	if (url && (tok || chan))
		return usage_error("--url asks a running instance; --token and --channel check the configuration");
	if (chan && !tok)
		return usage_error("--channel goes with --token");
	if (url)
		return check_url(url, timeout);
	return check_config(tok, chan);
}
