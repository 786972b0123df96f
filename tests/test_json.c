/*
 * Tests for json.c.  Every input is placed right before an unreadable page
 * with unit_guard(), so a scanner that looks one byte too far crashes.
 */
#include "unit.h"
#include "../json.c"

/* Parses n bytes of s from a guarded copy; returns json_parse()'s result. */
static int
parse_n(const char *s, size_t n, struct json_val *v)
{
	const char *g = (const char *)unit_guard(s, n, 0);
	struct json_val tmp;

	return json_parse(g, n, v ? v : &tmp);
}

#define PARSE_LIT(lit, v) parse_n(lit, sizeof lit - 1, v)

static int
parse(const char *s)
{
	return parse_n(s, strlen(s), NULL);
}

/* Every proper prefix of a valid text that is not itself valid must fail. */
static void
check_prefixes(const char *s)
{
	size_t n = strlen(s), k;
	int bad = 0;

	for (k = 0; k < n; k++)
		if (parse_n(s, k, NULL) == 0 && !(k > 0 && s[k - 1] >= '0' &&
		    s[k - 1] <= '9'))
			bad++;
	CHECK_EQ_INT(bad, 0);
}

static void
test_rfc_examples(void)
{
	/* RFC 8259 section 13, first example. */
	static const char ex1[] =
	    "{\n"
	    "  \"Image\": {\n"
	    "    \"Width\":  800,\n"
	    "    \"Height\": 600,\n"
	    "    \"Title\":  \"View from 15th Floor\",\n"
	    "    \"Thumbnail\": {\n"
	    "      \"Url\":    \"http://www.example.com/image/481989943\",\n"
	    "      \"Height\": 125,\n"
	    "      \"Width\":  100\n"
	    "    },\n"
	    "    \"Animated\" : false,\n"
	    "    \"IDs\": [116, 943, 234, 38793]\n"
	    "  }\n"
	    "}\n";
	/* RFC 8259 section 13, second example. */
	static const char ex2[] =
	    "[\n"
	    "  {\n"
	    "     \"precision\": \"zip\",\n"
	    "     \"Latitude\":  37.7668,\n"
	    "     \"Longitude\": -122.3959,\n"
	    "     \"Address\":   \"\",\n"
	    "     \"City\":      \"SAN FRANCISCO\",\n"
	    "     \"State\":     \"CA\",\n"
	    "     \"Zip\":       \"94107\",\n"
	    "     \"Country\":   \"US\"\n"
	    "  },\n"
	    "  {\n"
	    "     \"precision\": \"zip\",\n"
	    "     \"Latitude\":  37.371991,\n"
	    "     \"Longitude\": -122.026020,\n"
	    "     \"Address\":   \"\",\n"
	    "     \"City\":      \"SUNNYVALE\",\n"
	    "     \"State\":     \"CA\",\n"
	    "     \"Zip\":       \"94085\",\n"
	    "     \"Country\":   \"US\"\n"
	    "  }\n"
	    "]\n";
	struct json_val root, img, th, v, ids, e, k;
	size_t pos;
	double d;
	char buf[64];
	long len;
	int count;

	CHECK_EQ_INT(parse_n(ex1, sizeof ex1 - 1, &root), 0);
	CHECK_EQ_INT(root.type, JSON_OBJECT);
	CHECK_EQ_INT(root.n, sizeof ex1 - 2);    /* trailing newline excluded */
	CHECK(json_get(&root, "Image", &img));
	CHECK_EQ_INT(img.type, JSON_OBJECT);
	CHECK(json_get(&img, "Width", &v));
	CHECK(json_num(&v, &d) && d == 800);
	CHECK(json_get(&img, "Title", &v));
	len = json_str(&v, buf, sizeof buf);
	CHECK_MEM(buf, (size_t)len, "View from 15th Floor", 20);
	CHECK(json_get(&img, "Thumbnail", &th));
	CHECK(json_get(&th, "Height", &v));
	CHECK(json_num(&v, &d) && d == 125);
	CHECK(json_get(&img, "Animated", &v));
	CHECK_EQ_INT(v.type, JSON_FALSE);
	CHECK(!json_get(&img, "Missing", &v));
	CHECK(!json_get(&root, "Width", &v));    /* not a top-level member */
	CHECK(json_get(&img, "IDs", &ids));
	CHECK_EQ_INT(ids.type, JSON_ARRAY);
	pos = 0;
	count = 0;
	d = 0;
	while (json_next(&ids, &pos, NULL, &e)) {
		double x = 0;
		CHECK(json_num(&e, &x));
		d += x;
		count++;
	}
	CHECK_EQ_INT(count, 4);
	CHECK(d == 116 + 943 + 234 + 38793);

	CHECK_EQ_INT(parse_n(ex2, sizeof ex2 - 1, &root), 0);
	CHECK_EQ_INT(root.type, JSON_ARRAY);
	pos = 0;
	count = 0;
	while (json_next(&root, &pos, &k, &e)) {
		CHECK_EQ_INT(e.type, JSON_OBJECT);
		CHECK(json_get(&e, "Longitude", &v));
		CHECK(json_num(&v, &d) && d < -122);
		CHECK(json_get(&e, "Address", &v));
		CHECK_EQ_INT(json_str(&v, buf, sizeof buf), 0);
		CHECK_EQ_INT(buf[0], 0);
		count++;
	}
	CHECK_EQ_INT(count, 2);

	check_prefixes("{\"a\":[1,2,{\"b\":null}],\"c\":\"x\\u00e9\"}");
}

static void
test_scalars(void)
{
	struct json_val v;
	double d;

	/* RFC 8259 allows any value at the top level, with whitespace around. */
	CHECK_EQ_INT(PARSE_LIT(" \t\r\n true \n", &v), 0);
	CHECK_EQ_INT(v.type, JSON_TRUE);
	CHECK_MEM(v.p, v.n, "true", 4);
	CHECK_EQ_INT(PARSE_LIT("false", &v), 0);
	CHECK_EQ_INT(v.type, JSON_FALSE);
	CHECK_EQ_INT(PARSE_LIT("null", &v), 0);
	CHECK_EQ_INT(v.type, JSON_NULL);
	CHECK_EQ_INT(PARSE_LIT("\"\"", &v), 0);
	CHECK_EQ_INT(v.type, JSON_STRING);
	CHECK_EQ_INT(v.n, 2);
	CHECK_EQ_INT(parse("tru"), -1);
	CHECK_EQ_INT(parse("truee"), -1);
	CHECK_EQ_INT(parse("nul"), -1);
	CHECK_EQ_INT(parse("True"), -1);
	CHECK_EQ_INT(parse("NaN"), -1);
	CHECK_EQ_INT(parse("Infinity"), -1);
	CHECK_EQ_INT(parse("-Infinity"), -1);
	CHECK_EQ_INT(parse("undefined"), -1);

	/* Empty, whitespace only, more than one value, trailing garbage. */
	CHECK_EQ_INT(PARSE_LIT("", &v), -1);
	CHECK_EQ_INT(json_parse(NULL, 0, &v), -1);
	CHECK_EQ_INT(parse(" \n\t\r"), -1);
	CHECK_EQ_INT(parse("1 2"), -1);
	CHECK_EQ_INT(parse("{} {}"), -1);
	CHECK_EQ_INT(parse("[]]"), -1);
	CHECK_EQ_INT(parse("{}x"), -1);
	CHECK_EQ_INT(parse("\"a\"\""), -1);
	CHECK_EQ_INT(parse("null\v"), -1);        /* \v is not JSON whitespace */
	CHECK_EQ_INT(parse("\xc2\xa0" "1"), -1);  /* nor is U+00A0 */
	CHECK_EQ_INT(parse("\xef\xbb\xbf" "1"), -1);  /* a BOM is not allowed */
	CHECK_EQ_INT(PARSE_LIT("1\0", &v), -1);
	CHECK_EQ_INT(PARSE_LIT("\0", &v), -1);

	/* Numbers, accepted. */
	CHECK_EQ_INT(PARSE_LIT("-0", &v), 0);
	CHECK(json_num(&v, &d) && d == 0);
	CHECK_EQ_INT(PARSE_LIT("1e5", &v), 0);
	CHECK_EQ_INT(v.type, JSON_NUMBER);
	CHECK(json_num(&v, &d) && d == 1e5);
	CHECK_EQ_INT(PARSE_LIT("1E+2", &v), 0);
	CHECK(json_num(&v, &d) && d == 100);
	CHECK_EQ_INT(PARSE_LIT("0.5", &v), 0);
	CHECK(json_num(&v, &d) && d == 0.5);
	CHECK_EQ_INT(PARSE_LIT("-12.5e-1", &v), 0);
	CHECK(json_num(&v, &d) && d == -1.25);
	CHECK_EQ_INT(PARSE_LIT(" 1700000000 ", &v), 0);
	CHECK_EQ_INT(v.n, 10);
	CHECK(json_num(&v, &d) && d == 1700000000.0);
	CHECK_EQ_INT(parse("0"), 0);
	CHECK_EQ_INT(parse("0e0"), 0);
	CHECK_EQ_INT(parse("0E-0"), 0);
	CHECK_EQ_INT(parse("-0.0e+00"), 0);
	CHECK_EQ_INT(parse("123456789012345678901234567890"), 0);
	CHECK_EQ_INT(parse("[1,-1,0.1,1e1]"), 0);

	/* Numbers, rejected. */
	CHECK_EQ_INT(parse("01"), -1);
	CHECK_EQ_INT(parse("-01"), -1);
	CHECK_EQ_INT(parse("00"), -1);
	CHECK_EQ_INT(parse("1."), -1);
	CHECK_EQ_INT(parse(".5"), -1);
	CHECK_EQ_INT(parse("+1"), -1);
	CHECK_EQ_INT(parse("-"), -1);
	CHECK_EQ_INT(parse("--1"), -1);
	CHECK_EQ_INT(parse("1e"), -1);
	CHECK_EQ_INT(parse("1e+"), -1);
	CHECK_EQ_INT(parse("1E-"), -1);
	CHECK_EQ_INT(parse("1.e5"), -1);
	CHECK_EQ_INT(parse("1.5e"), -1);
	CHECK_EQ_INT(parse("0x10"), -1);
	CHECK_EQ_INT(parse("1_000"), -1);
	CHECK_EQ_INT(parse("- 1"), -1);
	CHECK_EQ_INT(parse("[01]"), -1);
	CHECK_EQ_INT(parse("[1.]"), -1);
	CHECK_EQ_INT(parse("[.5]"), -1);
	CHECK_EQ_INT(parse("[-]"), -1);
	CHECK_EQ_INT(parse("{\"a\":+1}"), -1);

	/* json_num refuses non-numbers, and out-of-range values. */
	CHECK_EQ_INT(PARSE_LIT("\"1\"", &v), 0);
	CHECK(!json_num(&v, &d));
	CHECK_EQ_INT(PARSE_LIT("1e999", &v), 0);
	CHECK(!json_num(&v, &d));
	CHECK_EQ_INT(PARSE_LIT("1e-999", &v), 0);
	CHECK(json_num(&v, &d) && d == 0);
}

static void
test_strings(void)
{
	struct json_val v;
	char buf[64];
	long len;

	/* Every escape RFC 8259 section 7 defines. */
	CHECK_EQ_INT(PARSE_LIT("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\"",
	    &v), 0);
	len = json_str(&v, buf, sizeof buf);
	CHECK_MEM(buf, (size_t)len, "\"\\/\b\f\n\r\tA\xc3\xa9", 11);
	CHECK(json_str_eq(&v, "\"\\/\b\f\n\r\tA\xc3\xa9", 11));
	CHECK(!json_str_eq(&v, "\"\\/\b\f\n\r\tA\xc3\xa9!", 12));
	CHECK(!json_str_eq(&v, "\"\\/\b\f\n\r\tA\xc3", 10));

	/* Hex digits in either case, three-byte and four-byte results. */
	CHECK_EQ_INT(PARSE_LIT("\"\\u20AC\\u20ac\"", &v), 0);
	len = json_str(&v, buf, sizeof buf);
	CHECK_MEM(buf, (size_t)len, "\xe2\x82\xac\xe2\x82\xac", 6);
	CHECK_EQ_INT(PARSE_LIT("\"\\ud83d\\ude00\"", &v), 0);
	len = json_str(&v, buf, sizeof buf);
	CHECK_MEM(buf, (size_t)len, "\xf0\x9f\x98\x80", 4);
	CHECK_EQ_INT(PARSE_LIT("\"\\uDBFF\\uDFFF\"", &v), 0);
	len = json_str(&v, buf, sizeof buf);
	CHECK_MEM(buf, (size_t)len, "\xf4\x8f\xbf\xbf", 4);
	CHECK_EQ_INT(PARSE_LIT("\"\\u0000\"", &v), 0);
	len = json_str(&v, buf, sizeof buf);
	CHECK_MEM(buf, (size_t)len, "\0", 1);
	CHECK_EQ_INT(json_cstr(&v, buf, sizeof buf), -1);
	CHECK_EQ_INT(parse("\"\\uFFFF\\uFFFE\""), 0);  /* noncharacters are fine */

	/* Raw UTF-8, accepted: the boundaries of each length. */
	CHECK_EQ_INT(parse("\"\x7f\""), 0);
	CHECK_EQ_INT(parse("\"\xc2\x80\xdf\xbf\""), 0);
	CHECK_EQ_INT(parse("\"\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\""),
	    0);
	CHECK_EQ_INT(parse("\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\""), 0);
	CHECK_EQ_INT(parse("\"\xf0\x9f\x98\x80\""), 0);

	/* Lone, reversed and unpaired surrogate escapes. */
	CHECK_EQ_INT(parse("\"\\ud800\""), -1);
	CHECK_EQ_INT(parse("\"\\udc00\""), -1);
	CHECK_EQ_INT(parse("\"\\ude00\\ud83d\""), -1);
	CHECK_EQ_INT(parse("\"\\ud83dx\""), -1);
	CHECK_EQ_INT(parse("\"\\ud83d\\n\""), -1);
	CHECK_EQ_INT(parse("\"\\ud83d\\ud83d\""), -1);
	CHECK_EQ_INT(parse("\"\\ud83d\\u0041\""), -1);
	CHECK_EQ_INT(parse("\"\\ud83d\\ude0\""), -1);
	CHECK_EQ_INT(parse("\"\\ud83d\\"), -1);

	/* Bad escapes. */
	CHECK_EQ_INT(parse("\"\\x41\""), -1);
	CHECK_EQ_INT(parse("\"\\a\""), -1);
	CHECK_EQ_INT(parse("\"\\'\""), -1);
	CHECK_EQ_INT(parse("\"\\U0041\""), -1);
	CHECK_EQ_INT(parse("\"\\u004\""), -1);
	CHECK_EQ_INT(parse("\"\\u00g1\""), -1);
	CHECK_EQ_INT(parse("\"\\u"), -1);
	CHECK_EQ_INT(parse("\"\\\""), -1);
	CHECK_EQ_INT(parse("\"\\"), -1);
	CHECK_EQ_INT(parse("\"abc"), -1);
	CHECK_EQ_INT(parse("\""), -1);
	CHECK_EQ_INT(parse("'a'"), -1);

	/* Raw control characters, every one of them. */
	for (int c = 0; c < 0x20; c++) {
		char s[3] = { '"', (char)c, '"' };
		CHECK_EQ_INT(parse_n(s, 3, NULL), -1);
	}

	/* Raw bytes that are not UTF-8. */
	CHECK_EQ_INT(parse("\"\x80\""), -1);          /* lone continuation */
	CHECK_EQ_INT(parse("\"\xbf\""), -1);
	CHECK_EQ_INT(parse("\"\xc0\xaf\""), -1);      /* overlong '/' */
	CHECK_EQ_INT(parse("\"\xc1\xbf\""), -1);
	CHECK_EQ_INT(parse("\"\xe0\x80\xaf\""), -1);  /* overlong, 3 bytes */
	CHECK_EQ_INT(parse("\"\xe0\x9f\xbf\""), -1);
	CHECK_EQ_INT(parse("\"\xf0\x80\x80\xaf\""), -1);  /* overlong, 4 bytes */
	CHECK_EQ_INT(parse("\"\xf0\x8f\xbf\xbf\""), -1);
	CHECK_EQ_INT(parse("\"\xed\xa0\x80\""), -1);  /* U+D800 */
	CHECK_EQ_INT(parse("\"\xed\xbf\xbf\""), -1);  /* U+DFFF */
	CHECK_EQ_INT(parse("\"\xf4\x90\x80\x80\""), -1);  /* U+110000 */
	CHECK_EQ_INT(parse("\"\xf5\x80\x80\x80\""), -1);
	CHECK_EQ_INT(parse("\"\xff\""), -1);
	CHECK_EQ_INT(parse("\"\xfe\""), -1);
	CHECK_EQ_INT(parse("\"\xc3\""), -1);          /* truncated */
	CHECK_EQ_INT(parse("\"\xe2\x82\""), -1);
	CHECK_EQ_INT(parse("\"\xf0\x9f\x98\""), -1);
	CHECK_EQ_INT(parse("\"\xc3\x28\""), -1);      /* bad continuation */
	CHECK_EQ_INT(parse("\"\xe2\x28\xa1\""), -1);
	CHECK_EQ_INT(parse("\"\xe2\x82\x28\""), -1);
	CHECK_EQ_INT(parse("\"\xf0\x9f\x98\x28\""), -1);
	/* Truncated at the very end of the input, right before the guard. */
	CHECK_EQ_INT(PARSE_LIT("\"\xf0\x9f\x98", NULL), -1);
	CHECK_EQ_INT(PARSE_LIT("\"\xe2", NULL), -1);
	CHECK_EQ_INT(PARSE_LIT("\"\\u12", NULL), -1);
	CHECK_EQ_INT(PARSE_LIT("\"\\ud83d\\u", NULL), -1);
	CHECK_EQ_INT(PARSE_LIT("\"\\ud83d\\ude0", NULL), -1);
	CHECK_EQ_INT(PARSE_LIT("\"\\ud83d\\ude00", NULL), -1);
	/* Invalid UTF-8 in a member name counts too. */
	CHECK_EQ_INT(parse("{\"\xff\":1}"), -1);
	/* A long plain run, to cover the four-at-a-time loop's tail. */
	CHECK_EQ_INT(parse("\"abcdefghijklmnopqrstuvwxyz0123456789\""), 0);
	CHECK_EQ_INT(parse("\"abcdefghijklmnopqrstuvwxyz0123456789"), -1);
}

static void
test_structure(void)
{
	char deep[2 * (JSON_MAX_DEPTH + 1) + 16];
	struct json_val v, w;
	size_t i, n;

	/* Exactly JSON_MAX_DEPTH nested arrays pass, one more fails. */
	n = 0;
	for (i = 0; i < JSON_MAX_DEPTH; i++)
		deep[n++] = '[';
	for (i = 0; i < JSON_MAX_DEPTH; i++)
		deep[n++] = ']';
	CHECK_EQ_INT(parse_n(deep, n, &v), 0);
	n = 0;
	for (i = 0; i < JSON_MAX_DEPTH + 1; i++)
		deep[n++] = '[';
	for (i = 0; i < JSON_MAX_DEPTH + 1; i++)
		deep[n++] = ']';
	CHECK_EQ_INT(parse_n(deep, n, &v), -1);
	/* Mixed objects and arrays count alike. */
	{
		char big[5 * JSON_MAX_DEPTH + 16];
		size_t m = 0;
		for (i = 0; i < JSON_MAX_DEPTH / 2; i++) {
			memcpy(big + m, "{\"\":[", 5);
			m += 5;
		}
		for (i = 0; i < JSON_MAX_DEPTH / 2; i++) {
			memcpy(big + m, "]}", 2);
			m += 2;
		}
		CHECK_EQ_INT(parse_n(big, m, &v), 0);
		/* Wrapping it once more goes over. */
		memmove(big + 1, big, m);
		big[0] = '[';
		big[m + 1] = ']';
		CHECK_EQ_INT(parse_n(big, m + 2, &v), -1);
	}
	/* Deep but unclosed must fail without reading past the end. */
	memset(deep, '[', JSON_MAX_DEPTH);
	CHECK_EQ_INT(parse_n(deep, JSON_MAX_DEPTH, &v), -1);

	CHECK_EQ_INT(parse("[]"), 0);
	CHECK_EQ_INT(parse("{}"), 0);
	CHECK_EQ_INT(parse("[ ]"), 0);
	CHECK_EQ_INT(parse("{ \n}"), 0);
	CHECK_EQ_INT(parse("[[],{},[[]]]"), 0);
	CHECK_EQ_INT(parse("{\"a\" : 1 , \"b\" :[ true , null ] }"), 0);
	CHECK_EQ_INT(parse("["), -1);
	CHECK_EQ_INT(parse("]"), -1);
	CHECK_EQ_INT(parse("{"), -1);
	CHECK_EQ_INT(parse("}"), -1);
	CHECK_EQ_INT(parse("[1,]"), -1);
	CHECK_EQ_INT(parse("[,1]"), -1);
	CHECK_EQ_INT(parse("[1 2]"), -1);
	CHECK_EQ_INT(parse("[1,,2]"), -1);
	CHECK_EQ_INT(parse("[}"), -1);
	CHECK_EQ_INT(parse("{]"), -1);
	CHECK_EQ_INT(parse("[1}"), -1);
	CHECK_EQ_INT(parse("{\"a\":1]"), -1);
	CHECK_EQ_INT(parse("{\"a\":1,}"), -1);
	CHECK_EQ_INT(parse("{,}"), -1);
	CHECK_EQ_INT(parse("{\"a\"}"), -1);
	CHECK_EQ_INT(parse("{\"a\":}"), -1);
	CHECK_EQ_INT(parse("{\"a\" 1}"), -1);
	CHECK_EQ_INT(parse("{a:1}"), -1);
	CHECK_EQ_INT(parse("{1:1}"), -1);
	CHECK_EQ_INT(parse("{\"a\":1 \"b\":2}"), -1);
	CHECK_EQ_INT(parse("{\"a\"::1}"), -1);
	CHECK_EQ_INT(parse("[\"a\":1]"), -1);
	CHECK_EQ_INT(parse("{\"a\":1"), -1);
	CHECK_EQ_INT(parse("{\"a\":"), -1);
	CHECK_EQ_INT(parse("{\"a\""), -1);
	CHECK_EQ_INT(parse("[1"), -1);
	CHECK_EQ_INT(parse("[1,"), -1);
	CHECK_EQ_INT(parse("/*c*/1"), -1);

	/* The root slice excludes the surrounding whitespace. */
	CHECK_EQ_INT(PARSE_LIT("  [1, 2]\n", &v), 0);
	CHECK_MEM(v.p, v.n, "[1, 2]", 6);
	/* Values handed out are exact slices too. */
	CHECK_EQ_INT(PARSE_LIT("{\"k\" : { \"x\" : [ 1 ] } , \"s\":\"a\\nb\" }",
	    &v), 0);
	CHECK(json_get(&v, "k", &w));
	CHECK_MEM(w.p, w.n, "{ \"x\" : [ 1 ] }", 15);
	CHECK(json_get(&v, "s", &w));
	CHECK_MEM(w.p, w.n, "\"a\\nb\"", 6);
}

static void
test_get_next(void)
{
	struct json_val v, w, k;
	size_t pos;
	char buf[16];
	long len;
	double d;
	int count;

	/* Duplicate names: the last one wins, whatever its type. */
	CHECK_EQ_INT(PARSE_LIT("{\"a\":1,\"b\":2,\"a\":3}", &v), 0);
	CHECK(json_get(&v, "a", &w));
	CHECK(json_num(&w, &d) && d == 3);
	CHECK_EQ_INT(PARSE_LIT("{\"a\":\"x\",\"a\":null}", &v), 0);
	CHECK(json_get(&v, "a", &w));
	CHECK_EQ_INT(w.type, JSON_NULL);

	/* Names are compared after unescaping. */
	CHECK_EQ_INT(PARSE_LIT("{\"\\u0063hannel\":\"c\",\"a\\/b\":1,\"\\u00e9\":2,"
	    "\"\\ud83d\\ude00\":3}", &v), 0);
	CHECK(json_get(&v, "channel", &w));
	CHECK(json_str_eq(&w, "c", 1));
	CHECK(json_get(&v, "a/b", &w));
	CHECK(json_get(&v, "\xc3\xa9", &w));
	CHECK(json_num(&w, &d) && d == 2);
	CHECK(json_get(&v, "\xf0\x9f\x98\x80", &w));
	CHECK(json_num(&w, &d) && d == 3);
	CHECK(!json_get(&v, "chan", &w));
	CHECK(!json_get(&v, "channelx", &w));
	CHECK(!json_get(&v, "", &w));
	/* An empty name is a name like any other. */
	CHECK_EQ_INT(PARSE_LIT("{\"\":5}", &v), 0);
	CHECK(json_get(&v, "", &w));
	/* A name containing \u0000 does not match its C-string prefix. */
	CHECK_EQ_INT(PARSE_LIT("{\"a\\u0000\":1}", &v), 0);
	CHECK(!json_get(&v, "a", &w));

	/* json_get on what is no object. */
	CHECK_EQ_INT(PARSE_LIT("[\"a\",1]", &v), 0);
	CHECK(!json_get(&v, "a", &w));
	CHECK_EQ_INT(PARSE_LIT("\"a\"", &v), 0);
	CHECK(!json_get(&v, "a", &w));
	CHECK(!json_get(NULL, "a", &w));

	/* json_next over empty containers. */
	CHECK_EQ_INT(PARSE_LIT("[ ]", &v), 0);
	pos = 0;
	CHECK(!json_next(&v, &pos, NULL, &w));
	CHECK_EQ_INT(PARSE_LIT("{}", &v), 0);
	pos = 0;
	CHECK(!json_next(&v, &pos, &k, &w));
	/* json_next over a scalar. */
	CHECK_EQ_INT(PARSE_LIT("1", &v), 0);
	pos = 0;
	CHECK(!json_next(&v, &pos, &k, &w));

	/* json_next over an array, with types and slices. */
	CHECK_EQ_INT(PARSE_LIT("[ 1 , \"s\" ,true,false,null,[],{}, -2.5e3 ]",
	    &v), 0);
	{
		static const enum json_type want[] = { JSON_NUMBER, JSON_STRING,
		    JSON_TRUE, JSON_FALSE, JSON_NULL, JSON_ARRAY, JSON_OBJECT,
		    JSON_NUMBER };
		static const char *const text[] = { "1", "\"s\"", "true",
		    "false", "null", "[]", "{}", "-2.5e3" };
		pos = 0;
		count = 0;
		while (json_next(&v, &pos, NULL, &w)) {
			if (count < 8) {
				CHECK_EQ_INT(w.type, want[count]);
				CHECK_MEM(w.p, w.n, text[count],
				    strlen(text[count]));
			}
			count++;
		}
		CHECK_EQ_INT(count, 8);
		/* The end stays the end. */
		CHECK(!json_next(&v, &pos, NULL, &w));
	}

	/* json_next over an object, keys in order, key may be NULL. */
	CHECK_EQ_INT(PARSE_LIT("{\"a\":1, \"b\" : [2], \"a\":{}}", &v), 0);
	pos = 0;
	count = 0;
	while (json_next(&v, &pos, &k, &w)) {
		len = json_str(&k, buf, sizeof buf);
		CHECK_EQ_INT(len, 1);
		CHECK_EQ_INT(buf[0], count == 1 ? 'b' : 'a');
		count++;
	}
	CHECK_EQ_INT(count, 3);
	pos = 0;
	count = 0;
	while (json_next(&v, &pos, NULL, &w))
		count++;
	CHECK_EQ_INT(count, 3);

	/* A forged value never leads outside its slice. */
	{
		const char *g = (const char *)unit_guard("[1,[2", 5, 1);
		struct json_val f = { g, 5, JSON_ARRAY };
		pos = 0;
		CHECK(json_next(&f, &pos, NULL, &w));
		CHECK(!json_next(&f, &pos, NULL, &w));
		f.type = JSON_OBJECT;
		pos = 0;
		CHECK(!json_next(&f, &pos, NULL, &w));
		CHECK(!json_get(&f, "a", &w));
		f.n = 1;
		pos = 0;
		CHECK(!json_next(&f, &pos, NULL, &w));
	}
}

static void
test_str(void)
{
	struct json_val v;
	char buf[8];
	char *g;
	long len;

	/* Exact fit: all bytes written, no NUL since there is no room. */
	CHECK_EQ_INT(PARSE_LIT("\"abc\\u00e9\"", &v), 0);
	g = (char *)unit_guard("xxxxx", 5, 2);
	len = json_str(&v, g, 5);
	CHECK_EQ_INT(len, 5);
	CHECK_MEM(g, 5, "abc\xc3\xa9", 5);
	/* One byte more: a NUL follows. */
	memset(buf, 'x', sizeof buf);
	len = json_str(&v, buf, 6);
	CHECK_EQ_INT(len, 5);
	CHECK_EQ_INT(buf[5], 0);
	CHECK_EQ_INT(buf[6], 'x');
	CHECK_EQ_INT(json_cstr(&v, buf, 6), 5);
	CHECK_EQ_INT(json_cstr(&v, g, 5), -1);
	/* Too small: the escape does not fit, or the plain run does not. */
	g = (char *)unit_guard("xxxx", 4, 2);
	CHECK_EQ_INT(json_str(&v, g, 4), -1);
	g = (char *)unit_guard("xx", 2, 2);
	CHECK_EQ_INT(json_str(&v, g, 2), -1);
	CHECK_EQ_INT(json_str(&v, NULL, 0), -1);
	/* The empty string fits anywhere. */
	CHECK_EQ_INT(PARSE_LIT("\"\"", &v), 0);
	CHECK_EQ_INT(json_str(&v, NULL, 0), 0);
	CHECK_EQ_INT(json_cstr(&v, NULL, 0), -1);
	CHECK_EQ_INT(json_cstr(&v, buf, 1), 0);
	CHECK(json_str_eq(&v, "", 0));
	CHECK(json_str_eq(&v, NULL, 0));
	CHECK(!json_str_eq(&v, "a", 1));
	/* A four-byte escape result that does not fit. */
	CHECK_EQ_INT(PARSE_LIT("\"\\ud83d\\ude00\"", &v), 0);
	g = (char *)unit_guard("xxx", 3, 2);
	CHECK_EQ_INT(json_str(&v, g, 3), -1);
	g = (char *)unit_guard("xxxx", 4, 2);
	CHECK_EQ_INT(json_str(&v, g, 4), 4);
	/* Not a string. */
	CHECK_EQ_INT(PARSE_LIT("12", &v), 0);
	CHECK_EQ_INT(json_str(&v, buf, sizeof buf), -1);
	CHECK(!json_str_eq(&v, "12", 2));
	CHECK(!json_str_eq(NULL, "12", 2));
}

/* Routes a guarded copy of s; returns the result and the channel in out. */
static int
route(const char *s, char *out, size_t outcap, size_t bufcap)
{
	size_t n = strlen(s), len = 0;
	const char *g = (const char *)unit_guard(s, n, 0);
	const char *ch = NULL;
	char *buf;
	int r;

	buf = bufcap ? (char *)unit_guard(s, bufcap, 1) : NULL;
	r = json_route_channel(g, n, &ch, &len, buf, bufcap);
	if (r == 1 && len < outcap) {
		memcpy(out, ch, len);
		out[len] = '\0';
	}
	return r;
}

static void
test_route(void)
{
	char out[64];
	const char *ch;
	size_t len;
	char buf[16];
	static const char plain[] = " {\"payload\":\"x\" ,\"channel\" : \"chat\"} ";
	static const char esc[] = "{\"channel\":\"a\\nb\"}";

	/* Without escapes the name points into the text itself. */
	CHECK_EQ_INT(json_route_channel(plain, sizeof plain - 1, &ch, &len,
	    NULL, 0), 1);
	CHECK(ch == strstr(plain, "chat"));
	CHECK_MEM(ch, len, "chat", 4);
	CHECK_EQ_INT(route(plain, out, sizeof out, 0), 1);
	CHECK(strcmp(out, "chat") == 0);

	/* Escapes in the value or in the name. */
	CHECK_EQ_INT(route("{\"channel\":\"c\\u0068at\"}", out, sizeof out, 16), 1);
	CHECK(strcmp(out, "chat") == 0);
	CHECK_EQ_INT(json_route_channel(esc, sizeof esc - 1, &ch, &len, buf,
	    sizeof buf), 1);
	CHECK(ch == buf);
	CHECK_MEM(ch, len, "a\nb", 3);
	CHECK_EQ_INT(route("{\"\\u0063hannel\":\"chat\"}", out, sizeof out, 0), 1);
	CHECK(strcmp(out, "chat") == 0);
	CHECK_EQ_INT(route("{\"chann\\u0065l\":\"x\\/y\"}", out, sizeof out, 3), 1);
	CHECK(strcmp(out, "x/y") == 0);
	/* Escaped value that does not fit in buf. */
	CHECK_EQ_INT(route("{\"channel\":\"x\\/y\"}", out, sizeof out, 2), 0);
	CHECK_EQ_INT(route("{\"channel\":\"x\\/y\"}", out, sizeof out, 0), 0);
	/* The empty channel name is a string. */
	CHECK_EQ_INT(route("{\"channel\":\"\"}", out, sizeof out, 0), 1);
	CHECK_EQ_INT(out[0], 0);

	/* Last one wins, in both directions. */
	CHECK_EQ_INT(route("{\"channel\":\"a\",\"channel\":\"b\"}", out,
	    sizeof out, 0), 1);
	CHECK(strcmp(out, "b") == 0);
	CHECK_EQ_INT(route("{\"channel\":\"a\",\"channel\":1}", out, sizeof out,
	    0), 0);
	CHECK_EQ_INT(route("{\"channel\":1,\"channel\":\"a\"}", out, sizeof out,
	    0), 1);
	CHECK(strcmp(out, "a") == 0);

	/* Not a string. */
	CHECK_EQ_INT(route("{\"channel\":1}", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("{\"channel\":null}", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("{\"channel\":[\"a\"]}", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("{\"channel\":{\"channel\":\"a\"}}", out, sizeof out,
	    0), 0);
	/* Only top-level members count. */
	CHECK_EQ_INT(route("{\"x\":{\"channel\":\"a\"}}", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("[{\"channel\":\"a\"}]", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("{\"channel\\u0000\":\"a\"}", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("{\"Channel\":\"a\"}", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("{\"channels\":\"a\"}", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("{\"x\":\"channel\"}", out, sizeof out, 0), 0);
	/* Not an object, or no channel. */
	CHECK_EQ_INT(route("\"channel\"", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("hello", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("{}", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("{ }", out, sizeof out, 0), 0);
	/* Invalid JSON with a string channel member. */
	CHECK_EQ_INT(route("{\"channel\":\"a\"", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("{\"channel\":\"a\",}", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("{\"channel\":\"a\"} x", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("{\"channel\":\"a\"}{}", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("{\"channel\":\"a\",\"b\":01}", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("{\"b\":[1,],\"channel\":\"a\"}", out, sizeof out, 0),
	    0);
	CHECK_EQ_INT(route("{\"channel\":\"a\xff\"}", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("{\"channel\":\"\\ud800\"}", out, sizeof out, 16), 0);
	CHECK_EQ_INT(route("{\"channel\" \"a\"}", out, sizeof out, 0), 0);
	CHECK_EQ_INT(route("{channel:\"a\"}", out, sizeof out, 0), 0);
	/* Depth counts the top-level object too, as json_parse does. */
	{
		char t[32 + 2 * JSON_MAX_DEPTH];
		size_t n = 0, i;
		const char *g;

		memcpy(t, "{\"channel\":\"a\",\"x\":", 19);
		n = 19;
		for (i = 0; i < JSON_MAX_DEPTH - 1; i++)
			t[n++] = '[';
		for (i = 0; i < JSON_MAX_DEPTH - 1; i++)
			t[n++] = ']';
		t[n++] = '}';
		g = (const char *)unit_guard(t, n, 0);
		CHECK_EQ_INT(json_route_channel(g, n, &ch, &len, NULL, 0), 1);
		CHECK_EQ_INT(parse_n(t, n, NULL), 0);
		memmove(t + 20, t + 19, n - 19);
		t[19] = '[';
		memmove(t + n + 1, t + n, 1);
		t[n] = ']';
		n += 2;
		g = (const char *)unit_guard(t, n, 0);
		CHECK_EQ_INT(json_route_channel(g, n, &ch, &len, NULL, 0), 0);
		CHECK_EQ_INT(parse_n(t, n, NULL), -1);
	}
	/* Every prefix of a routable text is refused, without over-reads. */
	{
		static const char full[] =
		    "{\"a\":[1,{\"b\":\"\\u00e9\"}],\"channel\":\"c\\td\"}";
		size_t k;
		int bad = 0;
		for (k = 0; k + 1 < sizeof full - 1; k++) {
			const char *g = (const char *)unit_guard(full, k, 0);
			if (json_route_channel(g, k, &ch, &len, buf, sizeof buf))
				bad++;
		}
		CHECK_EQ_INT(bad, 0);
		CHECK_EQ_INT(route(full, out, sizeof out, 16), 1);
		CHECK(strcmp(out, "c\td") == 0);
	}
}

/* Emits s[0..n) with json_string into a fresh buffer; returns the length. */
static size_t
emit(const char *s, size_t n, char *out, size_t cap)
{
	struct json_out o;

	json_out_init(&o, out, cap);
	json_string(&o, s, n);
	return o.err ? (size_t)-1 : o.len;
}

static void
test_emit_string(void)
{
	char out[512];
	size_t len;
	int c;

	len = emit("hello", 5, out, sizeof out);
	CHECK_MEM(out, len, "\"hello\"", 7);
	len = emit("", 0, out, sizeof out);
	CHECK_MEM(out, len, "\"\"", 2);
	len = emit("a\"b\\c/d", 7, out, sizeof out);
	CHECK_MEM(out, len, "\"a\\\"b\\\\c/d\"", 11);
	len = emit("\b\f\n\r\t", 5, out, sizeof out);
	CHECK_MEM(out, len, "\"\\b\\f\\n\\r\\t\"", 12);
	/* Every control character comes out escaped, and parses back. */
	for (c = 0; c < 0x20; c++) {
		char in[3] = { 'x', (char)c, 'y' };
		char want[16], got[4];
		struct json_val v;
		const char *esc;
		size_t wn;

		switch (c) {
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default: esc = NULL; break;
		}
		if (esc)
			wn = (size_t)snprintf(want, sizeof want, "\"x%sy\"", esc);
		else
			wn = (size_t)snprintf(want, sizeof want, "\"x\\u%04xy\"", c);
		len = emit(in, 3, out, sizeof out);
		CHECK_MEM(out, len, want, wn);
		CHECK_EQ_INT(parse_n(out, len, &v), 0);
		CHECK_EQ_INT(json_str(&v, got, sizeof got), 3);
		CHECK_MEM(got, 3, in, 3);
	}
	CHECK_MEM(out, emit("\x1f", 1, out, sizeof out), "\"\\u001f\"", 8);
	CHECK_MEM(out, emit("\0", 1, out, sizeof out), "\"\\u0000\"", 8);
	/* DEL is no control character to JSON. */
	CHECK_MEM(out, emit("\x7f", 1, out, sizeof out), "\"\x7f\"", 3);
	/* U+2028 and U+2029 are escaped; other E2 sequences are not. */
	len = emit("a\xe2\x80\xa8" "b\xe2\x80\xa9" "c", 9, out, sizeof out);
	CHECK_MEM(out, len, "\"a\\u2028b\\u2029c\"", 17);
	len = emit("\xe2\x82\xac\xe2\x80\xaa\xe2\x80\xa7", 9, out, sizeof out);
	CHECK_MEM(out, len, "\"\xe2\x82\xac\xe2\x80\xaa\xe2\x80\xa7\"", 11);
	/* A truncated E2 at the very end is copied, not read past. */
	{
		const char *g = (const char *)unit_guard("\xe2\x80", 2, 0);
		len = emit(g, 2, out, sizeof out);
		CHECK_MEM(out, len, "\"\xe2\x80\"", 4);
		g = (const char *)unit_guard("\xe2", 1, 0);
		len = emit(g, 1, out, sizeof out);
		CHECK_MEM(out, len, "\"\xe2\"", 3);
	}
	/* Multibyte UTF-8 and emoji pass unchanged. */
	{
		static const char mb[] =
		    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80";
		len = emit(mb, sizeof mb - 1, out, sizeof out);
		CHECK_EQ_INT(len, sizeof mb + 1);
		CHECK_EQ_INT(out[0], '"');
		CHECK_MEM(out + 1, sizeof mb - 1, mb, sizeof mb - 1);
		CHECK_EQ_INT(out[sizeof mb], '"');
	}
}

static void
test_emit_overflow(void)
{
	struct json_out o;
	char *g;
	size_t cap;
	const char *in = "ab\"c\nd\xe2\x80\xa8" "e";
	size_t inn = 11;
	char full[64];
	size_t fulln = emit(in, inn, full, sizeof full);

	/*
	 * For every capacity, the output either fits exactly or sets err and
	 * leaves len at 0; the guard page catches any write past cap.
	 */
	for (cap = 0; cap <= fulln; cap++) {
		g = (char *)unit_guard(full, cap, 3);
		json_out_init(&o, g, cap);
		json_string(&o, in, inn);
		if (cap < fulln) {
			CHECK_EQ_INT(o.err, 1);
			CHECK_EQ_INT(o.len, 0);
		} else {
			CHECK_EQ_INT(o.err, 0);
			CHECK_MEM(g, o.len, full, fulln);
		}
	}

	/* err is sticky: a later small append is refused too. */
	g = (char *)unit_guard("....", 4, 3);
	json_out_init(&o, g, 4);
	json_raw(&o, "ab", 2);
	json_raw(&o, "cde", 3);
	CHECK_EQ_INT(o.err, 1);
	CHECK_EQ_INT(o.len, 2);
	json_raw(&o, "c", 1);
	json_long(&o, 1);
	json_string(&o, "", 0);
	json_double(&o, 1.0, 0);
	CHECK_EQ_INT(o.len, 2);
	CHECK_EQ_INT(o.err, 1);
	CHECK_MEM(g, 2, "ab", 2);

	/* Numbers that do not fit. */
	for (cap = 0; cap < 20; cap++) {
		g = (char *)unit_guard("xxxxxxxxxxxxxxxxxxxx", cap, 3);
		json_out_init(&o, g, cap);
		json_long(&o, -1234567890123456789LL);
		CHECK_EQ_INT(o.err, cap < 20);
		json_out_init(&o, g, cap);
		json_double(&o, 1700000000.123456, 6);
		CHECK_EQ_INT(o.err, cap < 17);
		if (cap >= 17)
			CHECK_MEM(g, o.len, "1700000000.123456", 17);
	}
}

static void
test_emit_numbers(void)
{
	struct json_out o;
	char buf[400];

#define EMIT_D(v, d, want) do { \
	json_out_init(&o, buf, sizeof buf); \
	json_double(&o, (v), (d)); \
	CHECK_EQ_INT(o.err, 0); \
	CHECK_MEM(buf, o.len, want, strlen(want)); \
} while (0)
	EMIT_D(1700000000.123456, 6, "1700000000.123456");
	EMIT_D(1700000000.5, 3, "1700000000.500");
	EMIT_D(0.0, 0, "0");
	EMIT_D(2.5, 1, "2.5");
	EMIT_D(-1.25, 2, "-1.25");
	EMIT_D(1e21, 0, "1000000000000000000000");
	EMIT_D(0.1, 17, "0.10000000000000001");
	EMIT_D(-1.7976931348623157e308, 17, "-17976931348623157081452742373170435"
	    "679807056752584499659891747680315726078002853876058955863276687817"
	    "154045895351438246423432132688946418276846754670353751698604991057"
	    "655128207624549009038932894407586850845513394230458323690322294816"
	    "5808559332123348274797826204144723168738177180919299881250404026184"
	    "124858368.00000000000000000");
#undef EMIT_D
	json_out_init(&o, buf, sizeof buf);
	json_double(&o, 1.0 / 0.0, 3);
	CHECK_EQ_INT(o.err, 1);
	json_out_init(&o, buf, sizeof buf);
	json_double(&o, -1.0 / 0.0, 3);
	CHECK_EQ_INT(o.err, 1);
	json_out_init(&o, buf, sizeof buf);
	json_double(&o, NAN, 3);
	CHECK_EQ_INT(o.err, 1);
	json_out_init(&o, buf, sizeof buf);
	json_double(&o, 1.0, -1);
	CHECK_EQ_INT(o.err, 1);
	json_out_init(&o, buf, sizeof buf);
	json_double(&o, 1.0, 18);
	CHECK_EQ_INT(o.err, 1);

#define EMIT_L(v, want) do { \
	json_out_init(&o, buf, sizeof buf); \
	json_long(&o, (v)); \
	CHECK_EQ_INT(o.err, 0); \
	CHECK_MEM(buf, o.len, want, strlen(want)); \
} while (0)
	EMIT_L(0, "0");
	EMIT_L(7, "7");
	EMIT_L(-7, "-7");
	EMIT_L(1700000000LL, "1700000000");
	EMIT_L(9223372036854775807LL, "9223372036854775807");
	EMIT_L(-9223372036854775807LL - 1, "-9223372036854775808");
#undef EMIT_L
}

/* The envelope pgws sends, built the way the server will build it. */
static void
test_envelope(void)
{
	static const char claims_text[] =
	    "{\"mode\":\"rw\", \"channel\":\"chat\",\"exp\":1700000999}";
	static const char want[] =
	    "{\"event\":\"WebsocketMessage\",\"channel\":\"chat\","
	    "\"payload\":\"hi \\\"there\\\"\\n\","
	    "\"claims\":{\"mode\":\"rw\", \"channel\":\"chat\",\"exp\":1700000999,"
	    "\"message_delivered_at\":1700000000.123456}}";
	struct json_val claims, v, w;
	struct json_out o;
	char buf[512], ch[32];
	long chn;
	size_t pos;
	int members;

	CHECK_EQ_INT(json_parse(claims_text, sizeof claims_text - 1, &claims), 0);
	CHECK(json_get(&claims, "channel", &v));
	chn = json_cstr(&v, ch, sizeof ch);
	CHECK_EQ_INT(chn, 4);
	json_out_init(&o, buf, sizeof buf);
	json_raw(&o, "{\"event\":\"WebsocketMessage\",\"channel\":", 38);
	json_string(&o, ch, (size_t)chn);
	json_raw(&o, ",\"payload\":", 11);
	json_string(&o, "hi \"there\"\n", 11);
	json_raw(&o, ",\"claims\":", 10);
	/* The claims object minus its closing brace, then one more member. */
	json_raw(&o, claims.p, claims.n - 1);
	json_raw(&o, ",\"message_delivered_at\":", 24);
	json_double(&o, 1700000000.123456, 6);
	json_raw(&o, "}}", 2);
	CHECK_EQ_INT(o.err, 0);
	CHECK_MEM(buf, o.len, want, sizeof want - 1);
	CHECK_EQ_INT(json_parse(buf, o.len, &v), 0);
	CHECK(json_get(&v, "claims", &w));
	pos = 0;
	members = 0;
	while (json_next(&w, &pos, NULL, &v))
		members++;
	CHECK_EQ_INT(members, 4);
}

/*
 * Strings long enough for the eight-at-a-time loops, with one special byte
 * at every offset, so that each lane of the word tests is exercised.
 */
static void
test_long_runs(void)
{
	static const unsigned char special[] = { 0x01, 0x1f, '"', '\\', 0x80,
	    0xe2, 0xff, 0x7f, ' ' };
	char in[40], out[128], back[64];
	struct json_val v;
	size_t k, off, len;
	int r;

	for (k = 0; k < sizeof special; k++) {
		for (off = 1; off < 34; off++) {
			memset(in, 'a', sizeof in);
			in[0] = '"';
			in[off] = (char)special[k];
			in[34] = '"';
			r = parse_n(in, 35, &v);
			/* Only DEL and space are plain; alone, the rest are bad. */
			CHECK_EQ_INT(r, special[k] == 0x7f || special[k] == ' ' ?
			    0 : -1);
			/* The emitter escapes controls, quotes and backslashes. */
			len = emit(in + 1, 33, out, sizeof out);
			CHECK(len != (size_t)-1);
			if (special[k] < 0x80) {
				CHECK_EQ_INT(parse_n(out, len, &v), 0);
				CHECK_EQ_INT(json_str(&v, back, sizeof back), 33);
				CHECK_MEM(back, 33, in + 1, 33);
			}
			CHECK_EQ_INT(len, 35 + (special[k] < 0x20 ? 5 :
			    special[k] == '"' || special[k] == '\\' ? 1 : 0));
		}
	}
	/* A valid multibyte character at every offset of a long string. */
	for (off = 1; off < 31; off++) {
		memset(in, 'b', sizeof in);
		in[0] = '"';
		memcpy(in + off, "\xe2\x80\xa8", 3);
		in[34] = '"';
		CHECK_EQ_INT(parse_n(in, 35, &v), 0);
		len = emit(in + 1, 33, out, sizeof out);
		CHECK_EQ_INT(len, 38);
		CHECK_MEM(out + off, 6, "\\u2028", 6);
	}
}

/* json_members_without into buf; returns the count, sets *len. */
static long
without(const char *text, const char *key, char *buf, size_t cap,
    size_t *len, int *err)
{
	struct json_val v;
	struct json_out o;
	long r;

	if (json_parse(text, strlen(text), &v) != 0)
		return -2;
	json_out_init(&o, buf, cap);
	r = json_members_without(&o, &v, key, strlen(key));
	*len = o.len;
	*err = o.err;
	return r;
}

static void
test_members_without(void)
{
	static const struct {
		const char *in, *out;
		long n;
	} c[] = {
		{ "{}", "", 0 },
		{ "{\"m\":1}", "", 0 },
		{ "{\"a\":1}", "\"a\":1", 1 },
		{ "{\"m\":1,\"a\":2}", "\"a\":2", 1 },
		{ "{\"a\":1,\"m\":\"x\",\"b\":[1,{\"m\":2}]}",
		  "\"a\":1,\"b\":[1,{\"m\":2}]", 2 },
		{ "{\"a\":1,\"m\":null}", "\"a\":1", 1 },
		{ "{\"m\":1,\"m\":2,\"a\":{\"m\":3},\"m\":4}", "\"a\":{\"m\":3}", 1 },
		{ " { \"a\" : 1 , \"m\" : 2 , \"b\" :\t[ ] } ",
		  "\"a\" : 1,\"b\" :\t[ ]", 2 },
		{ "{\"\\u006d\":1,\"mm\":2,\"M\":3}", "\"mm\":2,\"M\":3", 2 },
	};
	char buf[128];
	size_t len, i;
	int err;
	long r;

	for (i = 0; i < sizeof c / sizeof c[0]; i++) {
		r = without(c[i].in, "m", buf, sizeof buf, &len, &err);
		CHECK_EQ_INT(r, c[i].n);
		CHECK_EQ_INT(err, 0);
		CHECK_MEM(buf, len, c[i].out, strlen(c[i].out));
	}
	/* Not an object: -1 and nothing written. */
	CHECK_EQ_INT(without("[1,2]", "m", buf, sizeof buf, &len, &err), -1);
	CHECK_EQ_INT(len, 0);
	CHECK_EQ_INT(without("\"m\"", "m", buf, sizeof buf, &len, &err), -1);
	/* Output that does not fit sets err and never writes a partial member. */
	r = without("{\"a\":1,\"bb\":22}", "m", buf, 8, &len, &err);
	CHECK_EQ_INT(err, 1);
	CHECK_MEM(buf, len, "\"a\":1,", 6);
	/* The real case: the claim pgws writes itself. */
	r = without("{\"message_delivered_at\":5,\"mode\":\"rw\"}",
	    "message_delivered_at", buf, sizeof buf, &len, &err);
	CHECK_EQ_INT(r, 1);
	CHECK_MEM(buf, len, "\"mode\":\"rw\"", 11);
}

int
main(void)
{
	test_rfc_examples();
	test_scalars();
	test_strings();
	test_structure();
	test_get_next();
	test_str();
	test_route();
	test_emit_string();
	test_emit_overflow();
	test_emit_numbers();
	test_envelope();
	test_members_without();
	test_long_runs();
	return unit_done();
}
