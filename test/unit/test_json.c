/*
 * test_json.c: the strict JSON parser and writer: values, escapes, UTF-8,
 * hostile inputs (each must fail cleanly), truncation at every offset,
 * random bytes, round trips.
 */
#include "unit.h"
#include "util/json.h"

#include <stdlib.h>

static sp_status
parse(const char *s, sp_json_doc **doc, sp_error *err)
{
	return sp_json_parse(sp_env_default(), s, strlen(s), 0, 0, "test", doc, err);
}

SP_TEST(json_values)
{
	sp_json_doc *doc;
	sp_error	err;
	const sp_json *r,
			   *v;
	uint64_t	u;
	int64_t		i;

	REQUIRE(parse(" {\"a\": [1, -2.5e3, true, false, null], \"b\": {\"c\": \"x\"}, \"big\": 18446744073709551615, \"neg\": -9223372036854775808} ",
				  &doc, &err) == SP_OK);
	r = sp_json_root(doc);
	CHECK(r->type == SP_JSON_OBJECT);
	CHECK_EQ_INT(r->count, 4);
	v = sp_json_get(r, "a");
	REQUIRE(v && v->type == SP_JSON_ARRAY && v->count == 5);
	CHECK(v->items[0]->number == 1.0);
	CHECK(v->items[1]->number == -2500.0);
	CHECK(v->items[2]->type == SP_JSON_BOOL && v->items[2]->boolean);
	CHECK(v->items[3]->type == SP_JSON_BOOL && !v->items[3]->boolean);
	CHECK(v->items[4]->type == SP_JSON_NULL);
	CHECK(sp_json_get_u64(v->items[0], &u) && u == 1);
	CHECK(!sp_json_get_u64(v->items[1], &u));
	CHECK(!sp_json_get_i64(v->items[1], &i));
	CHECK(sp_json_get_u64(sp_json_get(r, "big"), &u) && u == UINT64_MAX);
	CHECK(sp_json_get_i64(sp_json_get(r, "neg"), &i) && i == INT64_MIN);
	CHECK(!sp_json_get_i64(sp_json_get(r, "big"), &i));
	CHECK(strcmp(sp_json_get(sp_json_get(r, "b"), "c")->str, "x") == 0);
	CHECK(sp_json_get(r, "zz") == NULL);
	sp_json_free(sp_env_default(), doc);
}

SP_TEST(json_escapes_utf8)
{
	sp_json_doc *doc;
	sp_error	err;
	const sp_json *r;

	REQUIRE(parse("\"a\\n\\t\\\"\\\\\\/\\b\\f\\r\\u00e9\\u20ac\\ud83d\\ude00\xc3\xa9\"", &doc, &err) == SP_OK);
	r = sp_json_root(doc);
	CHECK(r->type == SP_JSON_STRING);
	CHECK_EQ_INT(r->str_len, 1 + 8 + 2 + 3 + 4 + 2);
	CHECK(memcmp(r->str, "a\n\t\"\\/\b\f\r\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xc3\xa9", r->str_len) == 0);
	sp_json_free(sp_env_default(), doc);
}

SP_TEST(json_hostile)
{
	static const char *bad[] = {
		"", " ", "{", "}", "[", "[1,]", "[,1]", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{\"a\":1,}",
		"01", "1.", ".5", "-", "+1", "1e", "1e+", "0x10", "tru", "nul", "falsey", "NaN", "Infinity",
		"\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
		"\"\\ud800\\\"", "\"\x01\"", "\"\xc0\x80\"", "\"\xed\xa0\x80\"", "\"\xf5\x80\x80\x80\"",
		"\"\xe2\x82\"", "\"\x80\"", "{\"a\":1,\"a\":2}", "[1] 2", "1e999", "-1e999", "\"\\u0000\"",
		"[1 2]", "{\"a\":1 \"b\":2}", "\"\\", "\"\\u", "[\"a\"", "{\"a\":[}", "\xef\xbb\xbf{}",
		"/*c*/1", "[1]\x00",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		sp_json_doc *doc = NULL;
		sp_error	err;
		size_t		len = strlen(bad[i]);
		sp_status	st;

		if (strcmp(bad[i], "[1]\x00") == 0)
			len = 4;
		st = sp_json_parse(sp_env_default(), bad[i], len, 0, 0, "test", &doc, &err);
		CHECK_MSG(st == SP_ERR_CORRUPT || st == SP_ERR_LIMIT, "input %zu \"%s\" gave %d", i, bad[i], st);
		CHECK(doc == NULL);
		CHECK(strstr(err.message, "at byte") != NULL);
	}
}

SP_TEST(json_error_offset_and_limits)
{
	sp_json_doc *doc;
	sp_error	err;
	char		deep[400];

	CHECK(parse("[1, 2, x]", &doc, &err) == SP_ERR_CORRUPT);
	CHECK_MSG(strstr(err.message, "at byte 7") != NULL, "%s", err.message);
	CHECK(strstr(err.message, "test") != NULL);

	memset(deep, '[', 200);
	memset(deep + 200, ']', 200);
	CHECK(sp_json_parse(sp_env_default(), deep, 400, 0, 0, "t", &doc, &err) == SP_ERR_LIMIT);
	CHECK(sp_json_parse(sp_env_default(), deep + 140, 120, 0, 0, "t", &doc, &err) == SP_OK);
	sp_json_free(sp_env_default(), doc);
	CHECK(sp_json_parse(sp_env_default(), deep + 140, 120, 50, 0, "t", &doc, &err) == SP_ERR_LIMIT);
	CHECK(sp_json_parse(sp_env_default(), "[1,2]", 5, 0, 4, "t", &doc, &err) == SP_ERR_LIMIT);
}

SP_TEST(json_duplicate_keys_many)
{
	/* > 16 keys uses the sorted duplicate check */
	char		buf[2048];
	size_t		n = 0;
	sp_json_doc *doc;
	sp_error	err;

	n += (size_t) snprintf(buf + n, sizeof(buf) - n, "{");
	for (int i = 0; i < 40; i++)
		n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s\"k%d\":%d", i ? "," : "", i % 39, i);
	snprintf(buf + n, sizeof(buf) - n, "}");
	CHECK(parse(buf, &doc, &err) == SP_ERR_CORRUPT);
	CHECK(strstr(err.message, "duplicate key \"k0\"") != NULL);
}

static const char *sample =
"{\"name\": \"m\\u00e9\", \"arr\": [1, 2.5, -0, 1e-7, 123456789012345678, \"s\\n\", [], {}],"
" \"o\": {\"t\": true, \"f\": false, \"n\": null, \"deep\": [[[{\"x\": \"\\ud83d\\ude00\"}]]]}}";

SP_TEST(json_truncation_every_offset)
{
	size_t		len = strlen(sample);

	for (size_t k = 0; k < len; k++)
	{
		sp_json_doc *doc = NULL;
		sp_error	err;
		sp_status	st = sp_json_parse(sp_env_default(), sample, k, 0, 0, "t", &doc, &err);

		CHECK_MSG(st == SP_ERR_CORRUPT, "prefix %zu gave %d", k, st);
		sp_json_free(sp_env_default(), doc);
	}
}

SP_TEST(json_random_and_mutated)
{
	uint64_t	s = 12345;
	static const char alphabet[] = "{}[]\",:0123456789.eE+-tfnrule\\ \t\nabc\x80\xc3\xff";
	char		buf[128];
	size_t		len = strlen(sample);
	char	   *mut = malloc(len);

	REQUIRE(mut);
	for (int iter = 0; iter < 20000; iter++)
	{
		sp_json_doc *doc = NULL;
		sp_error	err;
		size_t		n;

		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		n = (s >> 33) % sizeof(buf);
		for (size_t i = 0; i < n; i++)
		{
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			buf[i] = alphabet[(s >> 33) % (sizeof(alphabet) - 1)];
		}
		if (sp_json_parse(sp_env_default(), buf, n, 0, 0, "t", &doc, &err) == SP_OK)
			sp_json_free(sp_env_default(), doc);

		memcpy(mut, sample, len);
		for (int m = 0; m < 3; m++)
		{
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			mut[(s >> 33) % len] = (char) (s >> 20);
		}
		if (sp_json_parse(sp_env_default(), mut, len, 0, 0, "t", &doc, &err) == SP_OK)
			sp_json_free(sp_env_default(), doc);
	}
	free(mut);
}

static char *
reserialise(const char *text, size_t len, bool pretty)
{
	sp_json_doc *doc;
	sp_error	err;
	sp_jsonw	w;
	char	   *out;
	size_t		olen;

	if (sp_json_parse(sp_env_default(), text, len, 0, 0, "t", &doc, &err) != SP_OK)
		return NULL;
	sp_jsonw_init(&w, sp_env_default(), pretty);
	sp_jsonw_value(&w, sp_json_root(doc));
	sp_json_free(sp_env_default(), doc);
	if (sp_jsonw_finish(&w, &out, &olen, &err) != SP_OK)
		return NULL;
	return out;
}

SP_TEST(json_round_trip)
{
	char	   *a = reserialise(sample, strlen(sample), false);
	char	   *b,
			   *p,
			   *c;

	REQUIRE(a);
	b = reserialise(a, strlen(a), false);
	REQUIRE(b);
	CHECK(strcmp(a, b) == 0);
	p = reserialise(a, strlen(a), true);
	REQUIRE(p);
	CHECK(strchr(p, '\n') != NULL);
	c = reserialise(p, strlen(p), false);
	REQUIRE(c);
	CHECK(strcmp(a, c) == 0);
	CHECK(strstr(a, "\"m\xc3\xa9\"") != NULL);
	CHECK(strstr(a, "\"s\\n\"") != NULL);
	CHECK(strstr(a, "[]") != NULL && strstr(a, "{}") != NULL);
	free(a);
	free(b);
	free(p);
	free(c);
}

SP_TEST(json_writer)
{
	sp_jsonw	w;
	char	   *out;
	size_t		len;
	sp_error	err;

	sp_jsonw_init(&w, sp_env_default(), false);
	sp_jsonw_begin_object(&w);
	sp_jsonw_key(&w, "a\"b");
	sp_jsonw_number(&w, 0.1);
	sp_jsonw_key(&w, "f");
	sp_jsonw_float(&w, 1e-5f);
	sp_jsonw_key(&w, "i");
	sp_jsonw_int(&w, -42);
	sp_jsonw_key(&w, "x");
	sp_jsonw_begin_array(&w);
	sp_jsonw_bool(&w, true);
	sp_jsonw_null(&w);
	sp_jsonw_string(&w, "\x01\t");
	sp_jsonw_number(&w, 1e300);
	sp_jsonw_float(&w, 0.2860f);
	sp_jsonw_end_array(&w);
	sp_jsonw_end_object(&w);
	REQUIRE(sp_jsonw_finish(&w, &out, &len, &err) == SP_OK);
	CHECK_MSG(strcmp(out, "{\"a\\\"b\":0.1,\"f\":1e-05,\"i\":-42,\"x\":[true,null,\"\\u0001\\t\",1e+300,0.286]}") == 0,
			  "%s", out);
	CHECK_EQ_INT(len, strlen(out));
	free(out);

	/* misuse and bad values are reported at finish, never crash */
	sp_jsonw_init(&w, sp_env_default(), false);
	sp_jsonw_begin_object(&w);
	sp_jsonw_int(&w, 1);		/* value without key */
	sp_jsonw_end_object(&w);
	CHECK(sp_jsonw_finish(&w, &out, &len, &err) == SP_ERR_INTERNAL);
	CHECK(out == NULL);

	sp_jsonw_init(&w, sp_env_default(), true);
	sp_jsonw_begin_array(&w);
	sp_jsonw_number(&w, NAN);
	sp_jsonw_end_array(&w);
	CHECK(sp_jsonw_finish(&w, &out, &len, &err) == SP_ERR_INVALID_ARG);

	sp_jsonw_init(&w, sp_env_default(), true);
	sp_jsonw_begin_array(&w);
	CHECK(sp_jsonw_finish(&w, &out, &len, &err) == SP_ERR_INTERNAL);

	sp_jsonw_init(&w, sp_env_default(), false);
	sp_jsonw_string(&w, "\xc3");	/* invalid UTF-8 */
	CHECK(sp_jsonw_finish(&w, &out, &len, &err) == SP_ERR_INVALID_ARG);

	sp_jsonw_init(&w, sp_env_default(), false);
	for (int i = 0; i < 70; i++)
		sp_jsonw_begin_array(&w);
	CHECK(sp_jsonw_finish(&w, &out, &len, &err) == SP_ERR_LIMIT);
}

SP_TEST(json_writer_numbers_round_trip)
{
	uint64_t	s = 99;

	for (int i = 0; i < 2000; i++)
	{
		double		v;
		float		f;
		sp_jsonw	w;
		char	   *out;
		size_t		len;
		sp_error	err;

		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		v = ldexp((double) (s >> 11), (int) ((s >> 3) % 200) - 150 - 53) * ((s & 1) ? -1 : 1);
		f = (float) v;
		sp_jsonw_init(&w, sp_env_default(), false);
		sp_jsonw_begin_array(&w);
		sp_jsonw_number(&w, v);
		sp_jsonw_float(&w, f);
		sp_jsonw_end_array(&w);
		REQUIRE(sp_jsonw_finish(&w, &out, &len, &err) == SP_OK);
		{
			sp_json_doc *doc;
			const sp_json *r;

			REQUIRE(parse(out, &doc, &err) == SP_OK);
			r = sp_json_root(doc);
			CHECK(r->items[0]->number == v);
			CHECK((float) r->items[1]->number == f);
			sp_json_free(sp_env_default(), doc);
		}
		free(out);
	}
}

SP_TEST(json_writer_pretty_inline)
{
	sp_jsonw	w;
	char	   *out;
	size_t		len;
	sp_error	err;

	sp_jsonw_init(&w, sp_env_default(), true);
	sp_jsonw_begin_object(&w);
	sp_jsonw_key(&w, "a");
	sp_jsonw_inline_next(&w);
	sp_jsonw_begin_array(&w);
	sp_jsonw_int(&w, 1);
	sp_jsonw_begin_object(&w);
	sp_jsonw_key(&w, "x");
	sp_jsonw_int(&w, 2);
	sp_jsonw_end_object(&w);
	sp_jsonw_end_array(&w);
	sp_jsonw_key(&w, "b");
	sp_jsonw_begin_array(&w);
	sp_jsonw_int(&w, 3);
	sp_jsonw_end_array(&w);
	sp_jsonw_key(&w, "e");
	sp_jsonw_begin_object(&w);
	sp_jsonw_end_object(&w);
	sp_jsonw_end_object(&w);
	REQUIRE(sp_jsonw_finish(&w, &out, &len, &err) == SP_OK);
	CHECK_MSG(strcmp(out, "{\n  \"a\": [1,{\"x\":2}],\n  \"b\": [\n    3\n  ],\n  \"e\": {}\n}\n") == 0, "%s", out);
	free(out);
}

/* The first key outside an allowed list (the check of every config reader). */
SP_TEST(json_unknown_key)
{
	static const char *const allowed[] = {"a", "b", NULL};
	sp_json_doc *doc;
	sp_error	err;
	const char *text = "{\"a\":1,\"c\":2,\"b\":3,\"d\":4}";

	REQUIRE(sp_json_parse(sp_env_default(), text, strlen(text), 0, 0, NULL, &doc, &err) == SP_OK);
	CHECK(strcmp(sp_json_unknown_key(sp_json_root(doc), allowed), "c") == 0);
	CHECK(sp_json_unknown_key(sp_json_get(sp_json_root(doc), "a"), allowed) == NULL);	/* not an object */
	sp_json_free(sp_env_default(), doc);
	text = "{\"b\":1,\"a\":2}";
	REQUIRE(sp_json_parse(sp_env_default(), text, strlen(text), 0, 0, NULL, &doc, &err) == SP_OK);
	CHECK(sp_json_unknown_key(sp_json_root(doc), allowed) == NULL);
	sp_json_free(sp_env_default(), doc);
}
