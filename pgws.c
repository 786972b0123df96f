/*
 * pgws: PostgreSQL LISTEN/NOTIFY to WebSockets, authorised by JWTs.
 *
 * This file holds main and the subcommands.  The server is spread over
 * files named for what they do: config.c (the environment), loop.c (the
 * event loop), conn.c (connections and their output), serve.c (HTTP),
 * bridge.c (websockets to and from the database), db.c (the database
 * connections), chan.c (who reads which channel), metrics.c (the
 * Prometheus text) and log.c; `pgws check` is check.c (with httpc.c); the pure
 * parsers live in http.c, ws.c, json.c, jwt.c, base64.c and sha1.c.
 *
 * The data path, in one paragraph: a NOTIFY arrives on the listener
 * connection, its payload is scanned once for a "channel" member, framed
 * once into a reference-counted struct msg, and a reference to that one
 * buffer is appended to the output queue of every reader of the channel.
 * Connections that got output this turn are written with writev() after
 * all input of the turn is handled, so a burst of notifications costs one
 * system call per reader.  A reader whose queue passes PGWS_MAX_PENDING is
 * dropped, so a slow client never holds memory or other clients hostage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bridge.h"
#include "check.h"
#include "client.h"
#include "config.h"
#include "db.h"
#include "pqtls.h"
#include "json.h"
#include "jwt.h"
#include "log.h"
#include "mcache.h"
#include "loop.h"
#include "tls.h"

#ifndef PGWS_VERSION
#define PGWS_VERSION "dev"
#endif

/* Appends a string literal; the compiler counts its length. */
#define JSON_LIT(o, lit) json_raw((o), (lit), sizeof(lit) - 1)

/* ------------------------------------------------------------------ */
/* pgws token                                                          */

/* Appends the --channel values to the claims: "channel" for one,
 * "channels" for more. */
static void token_channels(struct json_out *o, int argc, char **argv, int nch)
{
	if (nch == 1) {
		for (int i = 2; i + 1 < argc; i++)
			if (!strcmp(argv[i], "--channel")) {
				JSON_LIT(o, ",\"channel\":");
				json_string(o, argv[i + 1], strlen(argv[i + 1]));
				break;
			}
	} else if (nch > 1) {
		JSON_LIT(o, ",\"channels\":[");
		int k = 0;
		for (int i = 2; i + 1 < argc; i++)
			if (!strcmp(argv[i], "--channel")) {
				if (k++)
					JSON_LIT(o, ",");
				json_string(o, argv[i + 1], strlen(argv[i + 1]));
				i++;
			} else if (argv[i][0] == '-' && argv[i][1] == '-') {
				i++;
			}
		JSON_LIT(o, "]");
	}
}

/* Ten years: a larger --exp is a mistake, and near LONG_MAX it would overflow. */
#define TOKEN_EXP_MAX 315360000L

/*
 * A --claim key must not be one the options write (a token with two
 * "mode" members means whatever the verifier's parser picks) nor repeat
 * an earlier --claim; argv[at] is this claim's value.
 */
static void claim_key_check(char **argv, int at, const char *k, size_t n)
{
	static const char *const reserved[] = { "mode", "channel", "channels", "exp" };

	for (size_t r = 0; r < sizeof reserved / sizeof reserved[0]; r++)
		if (strlen(reserved[r]) == n && !memcmp(k, reserved[r], n))
			die("token: --claim %.*s: set by --%s instead", (int)n, k,
			    r == 0 ? "mode" : r == 3 ? "exp" : "channel");
	for (int j = 2; j < at - 1; j++)
		if (!strcmp(argv[j], "--claim") && j + 1 < at &&
		    !strncmp(argv[j + 1], k, n) && argv[j + 1][n] == '=')
			die("token: --claim %.*s given twice", (int)n, k);
}

static int cmd_token(int argc, char **argv)
{
	char claims[8192], tok[16384];
	struct json_out o;
	const char *mode = "rw";
	long exp = 0;
	int alg = JWT_HS256;
	char err[256];
	struct jwt_keyset keys;

	json_out_init(&o, claims, sizeof claims);
	JSON_LIT(&o, "{");
	int first = 1, nch = 0;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--mode") && v) {
			if (strcmp(v, "r") && strcmp(v, "w") && strcmp(v, "rw"))
				die("token: --mode must be r, w or rw");
			mode = v;
			i++;
		} else if (!strcmp(a, "--channel") && v) {
			nch++;
			i++;
		} else if (!strcmp(a, "--exp") && v) {
			char *end;
			errno = 0;
			exp = strtol(v, &end, 10);
			if (errno || end == v || *end || exp <= 0 || exp > TOKEN_EXP_MAX)
				die("token: --exp takes seconds from 1 to %ld (ten years)",
				    (long)TOKEN_EXP_MAX);
			i++;
		} else if (!strcmp(a, "--alg") && v) {
			alg = !strcmp(v, "HS256") ? JWT_HS256 : !strcmp(v, "HS384") ?
			    JWT_HS384 : !strcmp(v, "HS512") ? JWT_HS512 : 0;
			if (!alg)
				die("token: --alg must be HS256, HS384 or HS512");
			i++;
		} else if (!strcmp(a, "--claim") && v) {
			const char *eq = strchr(v, '=');
			if (!eq || eq == v)
				die("token: --claim takes KEY=VALUE");
			claim_key_check(argv, i + 1, v, (size_t)(eq - v));
			if (!first)
				JSON_LIT(&o, ",");
			first = 0;
			json_string(&o, v, (size_t)(eq - v));
			JSON_LIT(&o, ":");
			json_string(&o, eq + 1, strlen(eq + 1));
			i++;
		} else {
			die("token: unknown or incomplete option '%s' (see pgws --help)", a);
		}
	}
	if (!first)
		JSON_LIT(&o, ",");
	JSON_LIT(&o, "\"mode\":");
	json_string(&o, mode, strlen(mode));
	token_channels(&o, argc, argv, nch);
	if (exp) {
		JSON_LIT(&o, ",\"exp\":");
		json_long(&o, (long long)time(NULL) + exp);
	}
	JSON_LIT(&o, "}");
	if (o.err)
		die("token: claims too long");

	config_load_secret();
	if (jwt_keys_load(&keys, cfg.jwt_secret, cfg.jwt_secret_len,
	    (int)cfg.jwt_base64, err, sizeof err) < 0)
		die("PGWS_JWT_SECRET: %s", err);
	const struct jwt_key *hk = jwt_keys_hmac(&keys);
	if (!hk)
		die("token: PGWS_JWT_SECRET holds no HMAC key (pgws token signs with HMAC only)");
	long n = jwt_sign(hk, alg, claims, o.len, tok, sizeof tok);
	if (n < 0)
		die("token: too long");
	printf("%s\n", tok);
	jwt_keys_free(&keys);
	free(cfg.jwt_secret);
	return 0;
}

/* Enough descriptors for every connection the limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)cfg.max_connections + (rlim_t)cfg.pool_size + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < want)
			log_msg(L_WARN, "RLIMIT_NOFILE is %llu: fewer than "
			    "PGWS_MAX_CONNECTIONS=%ld connections fit",
			    (unsigned long long)rl.rlim_cur, cfg.max_connections);
	}
}

int main(int argc, char **argv)
{
	char err[512];

	if (argc > 1) {
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
			config_usage(stdout);
			return 0;
		}
		if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
			printf("pgws %s\n", PGWS_VERSION);
			return 0;
		}
		if (!strcmp(argv[1], "token"))
			return cmd_token(argc, argv);
		if (!strcmp(argv[1], "client"))
			return client_main(argc - 1, argv + 1);
		if (!strcmp(argv[1], "check"))
			return check_main(argc - 1, argv + 1);
		fprintf(stderr, "pgws: unknown argument '%s'\n", argv[1]);
		config_usage(stderr);
		return 2;
	}

	config_load();
	if (cfg.cert_file && tls_setup(cfg.cert_file, cfg.key_file, err, sizeof err) < 0)
		die("%s", err);
	if (bridge_init(err, sizeof err) < 0)
		die("PGWS_JWT_SECRET: %s", err);
	raise_fd_limit();
	if (conn_init((int)cfg.max_connections) < 0)
		die("out of memory for PGWS_MAX_CONNECTIONS=%ld", cfg.max_connections);
	loop_init();

	struct db_cfg dc = {
		.uri = cfg.db_uri, .channel = cfg.listen_channel,
		.pool_size = (int)cfg.pool_size, .retries = (int)cfg.retries,
		.idle_s = (double)cfg.pool_idle,
		.check_ms = cfg.check_interval,
		.queue_max = (size_t)cfg.publish_queue,
		.bytes_max = (size_t)cfg.publish_bytes,
		.batch_max = (size_t)cfg.publish_batch,
	};
	if (pqtls_check(cfg.db_uri, err, sizeof err) < 0 ||
	    db_init(&dc, err, sizeof err) < 0) {
		log_msg(L_ERROR, "database: %s", err);
		return 1;
	}
	/*
	 * Installed only now: while db_init waits between connection
	 * attempts, SIGTERM keeps its default action and ends pgws at once.
	 */
	loop_signals();
	int port = loop_listen();
	log_msg(L_INFO, "pgws %s serving on port %d (listen channel '%s')",
	    PGWS_VERSION, port, cfg.listen_channel);
	printf("Listening on port %d\n", port);
	fflush(stdout);
	int status = loop_run();
	db_shutdown();
	bridge_fini();
	conn_fini();
	mcache_drain();
	return status;
}
