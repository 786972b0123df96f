/*
 * dispatch: microbenchmark of pgws's listener dispatch hot path, without
 * sockets: for each notification payload, json_route_channel() (the real
 * code, #included from ../json.c), the channel lookup (chan_find() of
 * ../chan.c, the index pgws uses, holding 1024 channels) and the UTF-8
 * check of ws_utf8() (../ws.c).  Fan-out to sockets is measured end to
 * end by loadgen instead.
 *
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE -o dispatch dispatch.c -lm
 *   ./dispatch [seconds-per-case]   prints "RESULT <key> <value>" lines
 */
#include "../json.c"
#include "../ws.c"
#include "../base64.c"
#include "../sha1.c"
#include "../chan.c"

#include <time.h>

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct chan_index idx;
static struct chan_member members[1024];

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	static char big[1200];
	int i;

	if (chan_index_init(&idx, 1024) < 0)
		return 1;
	for (i = 0; i < 1024; i++) {
		char name[32];
		int n = snprintf(name, sizeof name, "chan%d", i);
		if (i == 0)   /* the listen channel: where non-JSON payloads go */
			n = snprintf(name, sizeof name, "postgres-websockets-listener");
		if (i == 1)
			n = snprintf(name, sizeof name, "bench");
		if (chan_join(&idx, name, (size_t)n, i, &members[i]) < 0)
			return 1;
	}
	{
		/* a ~1 KB payload with nested data and escapes */
		size_t o = (size_t)snprintf(big, sizeof big,
		    "{\"event\":\"update\",\"data\":{\"id\":42,\"tags\":[\"a\",\"b\\\"c\"],"
		    "\"text\":\"");
		while (o < 950)
			o += (size_t)snprintf(big + o, sizeof big - o, "%s",
			    "lorem ipsum d\\u00e9j\\u00e0 vu ");
		snprintf(big + o, sizeof big - o, "\"},\"channel\":\"chan7\"}");
	}
	struct { const char *name, *p; } cases[] = {
		{ "bench_payload", "{\"channel\":\"bench\",\"t\":1764283827431000,\"i\":123456}" },
		{ "envelope", "{\"event\":\"WebsocketMessage\",\"channel\":\"chan12\",\"payload\":\"hello, world\","
		    "\"claims\":{\"mode\":\"rw\",\"channel\":\"chan12\",\"exp\":1764283999,"
		    "\"message_delivered_at\":1764283827.431234}}" },
		{ "payload_1k", big },
		{ "not_json", "just some text" },
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const char *p = cases[k].p;
		size_t n = strlen(p);
		unsigned long iters = 0, routed = 0;
		double t0 = mono(), t;
		char buf[256];
		do {
			for (int r = 0; r < 4096; r++) {
				const char *ch;
				size_t chlen;
				if (!json_route_channel(p, n, &ch, &chlen, buf, sizeof buf)) {
					ch = "postgres-websockets-listener";
					chlen = 28;
				}
				struct chan *c = chan_find(&idx, ch, chlen);
				if (c && ws_utf8(WS_UTF8_OK, (const unsigned char *)p, n) == WS_UTF8_OK)
					routed++;
				__asm__ volatile("" ::: "memory");
			}
			iters += 4096;
			t = mono();
		} while (t - t0 < secs);
		printf("RESULT dispatch_%s_bytes %zu\n", cases[k].name, n);
		printf("RESULT dispatch_%s_per_s %.0f\n", cases[k].name, iters / (t - t0));
		printf("RESULT dispatch_%s_ns %.1f\n", cases[k].name, (t - t0) * 1e9 / iters);
		printf("RESULT dispatch_%s_routed %s\n", cases[k].name,
		    routed == iters ? "yes" : "NO");
	}
	chan_index_free(&idx);
	return 0;
}
