/*
 * Unit tests for httpc.c, the GET client behind `pgws check --url`: the
 * URL reader accepts exactly http://host[:port][/path] and the status-line
 * reader gives the same answer whether the bytes come whole or cut at any
 * point (-2 until the line is complete), both under guard pages; and a
 * real GET against a listening socket of this process.
 */
#include "../httpc.c"
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/wait.h>

static int url(const char *s, struct httpc_url *u)
{
	size_t n = strlen(s);
	const char *g = (const char *)unit_guard(s, n + 1, 0);
	return httpc_url_parse(g, u);
}

static void test_url(void)
{
	struct httpc_url u;

	CHECK_EQ_INT(url("http://127.0.0.1:3000/health", &u), 0);
	CHECK_MEM(u.host, u.host_len, "127.0.0.1", 9);
	CHECK_EQ_INT(u.port, 3000);
	CHECK_MEM(u.path, u.path_len, "/health", 7);
	CHECK_EQ_INT(url("http://db-1.example.internal", &u), 0);
	CHECK_EQ_INT(u.port, 80);
	CHECK_MEM(u.path, u.path_len, "/", 1);
	CHECK_EQ_INT(url("http://[::1]:8080/metrics?x=1", &u), 0);
	CHECK_MEM(u.host, u.host_len, "::1", 3);
	CHECK_EQ_INT(u.port, 8080);
	CHECK_MEM(u.path, u.path_len, "/metrics?x=1", 12);
	CHECK_EQ_INT(url("http://h:1", &u), 0);
	CHECK_EQ_INT(url("http://h:65535/", &u), 0);
	CHECK_EQ_INT(u.port, 65535);

	static const char *const bad[] = {
		"", "http://", "http:///x", "https://h/", "ftp://h/", "nonsense",
		"HTTP://h/", "http://h:0/", "http://h:65536/", "http://h:99999/",
		"http://h:/x", "http://h:1234567/", "http://u@h/", "http://h x/",
		"http://h/a b", "http://h/\x01", "http://[]/", "http://[::1/",
		"http://[g::1]/", "http://h?x", "http://h#f", "http://h:80x/",
		"http://h/\x7f", "http://h/\xc3\xa9",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int r = url(bad[i], &u);
		if (r != -1)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK_EQ_INT(r, -1);
	}
}

static int status(const char *s, size_t n)
{
	return httpc_status_line((const char *)unit_guard(s, n, 1), n);
}

static void test_status(void)
{
	static const struct { const char *s; int want; } cases[] = {
		{ "HTTP/1.1 200 OK\r\n", 200 },
		{ "HTTP/1.0 503 Service Unavailable\r\n", 503 },
		{ "HTTP/1.1 404\r\n", 404 },
		{ "HTTP/1.1 999 X\r\n", 999 },
		{ "HTTP/1.1 099 X\r\n", -1 },
		{ "HTTP/1.2 200 OK\r\n", -1 },
		{ "HTTP/2 200 OK\r\n", -1 },
		{ "http/1.1 200 OK\r\n", -1 },
		{ "HTTP/1.1 20 OK\r\n", -1 },
		{ "HTTP/1.1 2000 OK\r\n", -1 },
		{ "HTTP/1.1  200 OK\r\n", -1 },
		{ "SSH-2.0-OpenSSH\r\n", -1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = strlen(cases[i].s);
		CHECK_EQ_INT(status(cases[i].s, n), cases[i].want);
		/* Cut anywhere before the status is complete: need more, or
		 * already the same refusal; never another status. */
		for (size_t cut = 0; cut < 13 && cut < n; cut++) {
			int r = status(cases[i].s, cut);
			CHECK(r == -2 || (r == -1 && cases[i].want == -1));
		}
	}
}

static void test_body_line(void)
{
	char out[64];
	const char *r = "HTTP/1.1 200 OK\r\nA: b\r\n\r\n{\"listener\":\"up\"}\x1b[2J\nsecond";
	httpc_body_line(r, strlen(r), out, sizeof out);
	CHECK(!strcmp(out, "{\"listener\":\"up\"}\\x1b[2J"));
	httpc_body_line("HTTP/1.1 200 OK\r\n", 17, out, sizeof out);
	CHECK(!strcmp(out, ""));
	char big[600];
	memset(big, 0x01, sizeof big);
	memcpy(big, "HTTP/1.1 200 OK\r\n\r\n", 19);
	httpc_body_line(big, sizeof big, out, sizeof out);
	CHECK(strlen(out) < sizeof out && strlen(out) % 4 == 0);
}

/* A real exchange: a child answers one request on a loopback socket. */
static void test_get(void)
{
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	char url_s[64], resp[512], why[256];
	struct httpc_url u;

	CHECK(ls >= 0 && bind(ls, (struct sockaddr *)&a, sizeof a) == 0 &&
	    listen(ls, 1) == 0 && getsockname(ls, (struct sockaddr *)&a, &al) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		char req[1024];
		int c = accept(ls, NULL, NULL);
		ssize_t n = read(c, req, sizeof req - 1);
		req[n > 0 ? n : 0] = 0;
		const char *ans = strstr(req, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n") ?
		    "HTTP/1.1 503 Service Unavailable\r\n\r\n{\"listener\":\"down\"}\n" :
		    "HTTP/1.1 400 Bad Request\r\n\r\n";
		if (write(c, ans, strlen(ans)) < 0)
			_exit(1);
		close(c);
		_exit(0);
	}
	snprintf(url_s, sizeof url_s, "http://127.0.0.1:%d/health", ntohs(a.sin_port));
	CHECK_EQ_INT(httpc_url_parse(url_s, &u), 0);
	long n = httpc_get(&u, 5, resp, sizeof resp, why, sizeof why);
	CHECK(n > 0 && httpc_status_line(resp, (size_t)n) == 503);
	waitpid(pid, NULL, 0);
	close(ls);
	/* Nothing listens there now: refused, with a reason. */
	n = httpc_get(&u, 5, resp, sizeof resp, why, sizeof why);
	CHECK(n == -1 && strstr(why, "refused") != NULL);
}

int main(void)
{
	test_url();
	test_status();
	test_body_line();
	test_get();
	return unit_done();
}
