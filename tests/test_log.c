/*
 * Unit tests for log.c: both formats capture what a reader of the log
 * needs (time, level, message, fields) and no byte of the caller's text
 * can end a line, move the cursor or break the JSON: control characters,
 * DEL, C1 controls and invalid UTF-8 come out escaped; valid UTF-8 stays.
 * Lines are read back from a pipe put in place of standard error.
 */
#include "../log.c"
#include "unit.h"

#include <fcntl.h>

static int pipefd[2];

/* Everything written to stderr since the last call. */
static size_t drain(char *out, size_t cap)
{
	size_t n = 0;
	ssize_t r;
	while (n < cap - 1 && (r = read(pipefd[0], out + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	return n;
}

static int has(const char *s, const char *sub)
{
	return strstr(s, sub) != NULL;
}

static int no_raw_controls(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && !(c == '\n' && i == n - 1)) || c == 0x7f)
			return 0;
		if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] < 0xa0)
			return 0;
	}
	return 1;
}

static const char hostile[] = "evil\n2030-01-01T00:00:00.000Z error forged\r"
    "\x1b[2J\x1b]0;t\x07\"q\" \\ \x7f \xc2\x9b" "31m \xe2\x82\xac \xff\xfe \xed\xa0\x80";

static void test_text(void)
{
	char out[8192];
	size_t n;

	log_set_format(LOG_TEXT);
	log_set_level(L_INFO);
	log_msg(L_INFO, "channel %s end", hostile);
	n = drain(out, sizeof out);
	CHECK(n > 24 && out[n - 1] == '\n');
	CHECK(memchr(out, '\n', n) == out + n - 1);     /* one line */
	CHECK(no_raw_controls(out, n));
	CHECK(out[4] == '-' && out[10] == 'T' && out[23] == 'Z');
	CHECK(!strncmp(out + 24, " info channel evil\\x0a2030-", 27));
	CHECK(has(out, "forged\\x0d\\x1b[2J\\x1b]0;t\\x07\"q\" \\ \\x7f \\xc2\\x9b31m"));
	CHECK(has(out, " \xe2\x82\xac "));              /* valid UTF-8 stays */
	CHECK(has(out, "\\xff\\xfe \\xed\\xa0\\x80 end\n")); /* invalid, surrogate */
	/* Below the level: nothing. */
	log_msg(L_DEBUG, "hidden");
	CHECK_EQ_INT(drain(out, sizeof out), 0);
	/* Fields are for JSON only; the text line is the message. */
	struct log_field f[] = { LF_STR("client", "1.2.3.4:5"), LF_INT("status", 101) };
	log_fields(L_WARN, f, LOG_NF(f), "plain %d", 7);
	n = drain(out, sizeof out);
	CHECK(has(out, " warn plain 7\n") && !has(out, "client"));
}

static void test_json(void)
{
	char out[16384];
	size_t n;

	log_set_format(LOG_JSON);
	struct log_field f[] = {
		LF_STR("client", "127.0.0.1:4242"),
		LF_MEM("channel", hostile, sizeof hostile - 1),
		LF_INT("status", 403),
		LF_INT("code", -1),
		LF_DBL("seconds", 0.25),
	};
	log_fields(L_ERROR, f, LOG_NF(f), "refused %s", "\"x\"");
	n = drain(out, sizeof out);
	CHECK(n > 0 && out[n - 1] == '\n' && memchr(out, '\n', n) == out + n - 1);
	CHECK(no_raw_controls(out, n));
	CHECK(!strncmp(out, "{\"time\":\"", 9) && out[9 + 24] == '"');
	CHECK(has(out, "\",\"level\":\"error\",\"message\":\"refused \\\"x\\\"\","));
	CHECK(has(out, ",\"client\":\"127.0.0.1:4242\","));
	CHECK(has(out, ",\"channel\":\"evil\\n2030-01-01T00:00:00.000Z error forged\\r"
	    "\\u001b[2J\\u001b]0;t\\u0007\\\"q\\\" \\\\ \\u007f \\\\xc2\\\\x9b31m "
	    "\xe2\x82\xac \\\\xff\\\\xfe \\\\xed\\\\xa0\\\\x80\","));
	CHECK(has(out, ",\"status\":403,\"code\":-1,\"seconds\":0.25}\n"));

	/* A message far past the line: cut, still one object that closes. */
	char big[3000];
	memset(big, '\x1b', sizeof big - 1);
	big[sizeof big - 1] = 0;
	struct log_field g[] = { LF_STR("channel", big), LF_INT("status", 200) };
	log_fields(L_INFO, g, LOG_NF(g), "%s", big);
	n = drain(out, sizeof out);
	CHECK(n <= LOG_LINE_MAX && out[n - 1] == '\n' && out[n - 2] == '}');
	CHECK(no_raw_controls(out, n));
	/* Every escape is whole: the line has no backslash run cut short. */
	CHECK(!has(out, "\\u001\"") && !has(out, "\\u00\"") && !has(out, "\\\"}"));
	log_set_format(LOG_TEXT);
}

static void test_parse(void)
{
	CHECK_EQ_INT(log_format_parse("json"), LOG_JSON);
	CHECK_EQ_INT(log_format_parse("JSON"), LOG_JSON);
	CHECK_EQ_INT(log_format_parse("text"), LOG_TEXT);
	CHECK_EQ_INT(log_format_parse("jsonx"), -1);
	CHECK_EQ_INT(log_format_parse(""), -1);
	CHECK_EQ_INT(log_level_parse("Debug"), L_DEBUG);
	CHECK_EQ_INT(log_level_parse("loud"), -1);
}

static void test_utf8(void)
{
	CHECK_EQ_INT(utf8_ok((const unsigned char *)"\xc3\xa9", 2), 2);
	CHECK_EQ_INT(utf8_ok((const unsigned char *)"\xc2\xa0", 2), 2);
	CHECK_EQ_INT(utf8_ok((const unsigned char *)"\xc2\x9f", 2), 0);   /* C1 */
	CHECK_EQ_INT(utf8_ok((const unsigned char *)"\xc0\xaf", 2), 0);   /* overlong */
	CHECK_EQ_INT(utf8_ok((const unsigned char *)"\xe0\x80\xaf", 3), 0);
	CHECK_EQ_INT(utf8_ok((const unsigned char *)"\xf4\x90\x80\x80", 4), 0);
	CHECK_EQ_INT(utf8_ok((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
	CHECK_EQ_INT(utf8_ok((const unsigned char *)"\xf0\x9f\x98", 3), 0); /* cut */
	CHECK_EQ_INT(utf8_ok((const unsigned char *)"\xe2\x28\xa1", 3), 0);
}

int main(void)
{
	if (pipe(pipefd) < 0 || dup2(pipefd[1], 2) < 0)
		return 2;
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	test_text();
	test_json();
	test_parse();
	test_utf8();
	return unit_done();
}
