/*
 * A command-line face of jwt.c for tests/jwt_cross.py, which checks it
 * against PyJWT:
 *
 *	jwt_tool verify SECRET TOKEN [CHANNEL]
 *		prints "ok mode=<r|w|rw> channels=a,b" or
 *		"err <status> <message>", as the server would decide
 *	jwt_tool sign SECRET CLAIMS_JSON [HS256|HS384|HS512]
 *		prints a token signed with the first HMAC key
 *
 * SECRET is read like PGWS_JWT_SECRET (raw, JWK or JWK set), and decoded
 * from base64 first when PGWS_JWT_SECRET_BASE64=true; a load warning goes
 * to standard error prefixed "jwt_tool: warning: ".  PGWS_MAX_TOKEN_CHANNELS
 * sets the channel limit.  Exit status: 0 ok, 1 rejected, 2 usage or a bad
 * secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../base64.c"
#include "../json.c"
#include "../jwt.c"

static struct jwt_keyset keys;

static int
usage(void)
{
	fputs("usage: jwt_tool verify SECRET TOKEN [CHANNEL]\n"
	    "       jwt_tool sign SECRET CLAIMS_JSON [HS256|HS384|HS512]\n",
	    stderr);
	return 2;
}

static int
do_verify(const char *tok, const char *chan)
{
	static char work[2 * 65536 + 1024 +
	    (JWT_MAX_CHANNELS_CAP + 2) * sizeof(struct jwt_chan)];
	struct jwt_claims c;
	struct timespec ts;
	size_t n = strlen(tok), i;
	int e;

	if (n > 65536) {
		printf("err %d %s\n", jwt_status(JWT_E_TOO_LONG),
		    jwt_strerror(JWT_E_TOO_LONG));
		return 1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	e = jwt_verify(tok, n, JWT_MAX_LEN, &keys,
	    (double)ts.tv_sec + ts.tv_nsec / 1e9, work, sizeof(work), &c);
	if (e == JWT_OK)
		e = jwt_grant(&c, chan, chan ? strlen(chan) : 0);
	if (e != JWT_OK) {
		printf("err %d %s\n", jwt_status(e), c.why);
		return 1;
	}
	printf("ok mode=%s channels=", c.mode == JWT_MODE_R ? "r" :
	    c.mode == JWT_MODE_W ? "w" : "rw");
	for (i = 0; i < c.nchan; i++)
		printf("%s%.*s", i ? "," : "", (int)c.chan[i].n, c.chan[i].p);
	printf("\n");
	return 0;
}

static int
do_sign(const char *claims, const char *algname)
{
	static char out[65536];
	int alg = 0;
	long n;

	if (algname) {
		for (alg = JWT_HS256; alg <= JWT_HS512; alg++)
			if (strcmp(algname, jwt_algs[alg].name) == 0)
				break;
		if (alg > JWT_HS512)
			return usage();
	}
	if (jwt_keys_hmac(&keys) == NULL) {
		fputs("jwt_tool: no HMAC key\n", stderr);
		return 2;
	}
	n = jwt_sign(jwt_keys_hmac(&keys), alg, claims, strlen(claims), out,
	    sizeof(out));
	if (n < 0) {
		fputs("jwt_tool: cannot sign\n", stderr);
		return 2;
	}
	printf("%s\n", out);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *b64 = getenv("PGWS_JWT_SECRET_BASE64");
	char err[200];
	int r;

	if (argc < 4 || argc > 5)
		return usage();
	const char *mc = getenv("PGWS_MAX_TOKEN_CHANNELS");

	r = jwt_keys_load(&keys, argv[2], strlen(argv[2]),
	    b64 && strcmp(b64, "true") == 0, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "jwt_tool: PGWS_JWT_SECRET: %s\n", err);
		return 2;
	}
	if (r > 0)
		fprintf(stderr, "jwt_tool: warning: %s\n", err);
	if (mc && *mc)
		keys.max_chan = (size_t)strtoul(mc, NULL, 10);
	if (strcmp(argv[1], "verify") == 0)
		r = do_verify(argv[3], argc == 5 ? argv[4] : NULL);
	else if (strcmp(argv[1], "sign") == 0)
		r = do_sign(argv[3], argc == 5 ? argv[4] : NULL);
	else
		r = usage();
	jwt_keys_free(&keys);
	return r;
}
