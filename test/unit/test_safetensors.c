/*
 * test_safetensors.c: strict safetensors reader and writer: round trip,
 * every format constraint violated one at a time, truncation at every
 * offset, random and mutated bytes, huge header length, F16/BF16 values.
 */
#include "unit.h"
#include "util/safetensors.h"

#include <stdlib.h>

/* 8-byte length + header + data_len bytes of data (pattern). */
static uint8_t *
make_file(const char *header, size_t data_len, size_t *len)
{
	size_t		h = strlen(header);
	uint8_t    *b = malloc(8 + h + data_len + 1);

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t) ((uint64_t) h >> (8 * i));
	memcpy(b + 8, header, h);
	for (size_t i = 0; i < data_len; i++)
		b[8 + h + i] = (uint8_t) (i * 7);
	*len = 8 + h + data_len;
	return b;
}

static sp_status
read_hdr(const char *header, size_t data_len, sp_error *err)
{
	size_t		len;
	uint8_t    *b = make_file(header, data_len, &len);
	sp_safetensors *st = NULL;
	sp_status	rc = sp_st_read(sp_env_default(), b, len, &st, err);

	sp_st_free(sp_env_default(), st);
	free(b);
	return rc;
}

SP_TEST(st_round_trip)
{
	float		a[6] = {1, -2, 3.5f, 0, 1e-30f, -7};
	float		bvals[3] = {0.25f, 0.5f, 0.75f};
	sp_st_out_tensor t[3] = {
		{"layer.weight", 2, {2, 3}, a},
		{"layer.bias", 1, {3}, bvals},
		{"empty", 2, {0, 4}, NULL},
	};
	const char *mk[2] = {"format", "note"};
	const char *mv[2] = {"pt", "h\xc3\xa9llo \"q\""};
	uint8_t    *buf;
	size_t		len;
	sp_error	err;
	sp_safetensors *st;
	const sp_st_tensor *w;

	REQUIRE(sp_st_write(sp_env_default(), t, 3, mk, mv, 2, &buf, &len, &err) == SP_OK);
	CHECK_EQ_INT((len - 8 - 9 * 4) % 8, 0);
	REQUIRE(sp_st_read(sp_env_default(), buf, len, &st, &err) == SP_OK);
	CHECK_EQ_INT(st->n_tensors, 3);
	w = sp_st_find(st, "layer.weight");
	REQUIRE(w);
	CHECK_EQ_INT(w->ndim, 2);
	CHECK_EQ_INT(w->shape[0], 2);
	CHECK_EQ_INT(w->shape[1], 3);
	CHECK(memcmp(w->data, a, sizeof(a)) == 0);
	CHECK(((uintptr_t) w->data & 63) == 0);
	CHECK(memcmp(sp_st_find(st, "layer.bias")->data, bvals, sizeof(bvals)) == 0);
	CHECK_EQ_INT(sp_st_find(st, "empty")->numel, 0);
	CHECK(sp_st_find(st, "nope") == NULL);
	CHECK(strcmp(sp_st_meta(st, "note"), "h\xc3\xa9llo \"q\"") == 0);
	CHECK(strcmp(sp_st_meta(st, "format"), "pt") == 0);
	sp_st_free(sp_env_default(), st);

	/* truncated at every offset: always an error, never a crash */
	for (size_t k = 0; k < len; k++)
	{
		st = NULL;
		CHECK_MSG(sp_st_read(sp_env_default(), buf, k, &st, &err) == SP_ERR_CORRUPT, "prefix %zu", k);
		CHECK(st == NULL);
	}
	/* a trailing byte is an error too */
	{
		uint8_t    *b2 = malloc(len + 1);

		memcpy(b2, buf, len);
		b2[len] = 0;
		CHECK(sp_st_read(sp_env_default(), b2, len + 1, &st, &err) == SP_ERR_CORRUPT);
		free(b2);
	}
	free(buf);

	/* writer rejects duplicates and the reserved name */
	{
		sp_st_out_tensor d[2] = {{"x", 1, {1}, a}, {"x", 1, {1}, a}};
		sp_st_out_tensor r[1] = {{"__metadata__", 1, {1}, a}};

		CHECK(sp_st_write(sp_env_default(), d, 2, NULL, NULL, 0, &buf, &len, &err) == SP_ERR_INVALID_ARG);
		CHECK(sp_st_write(sp_env_default(), r, 1, NULL, NULL, 0, &buf, &len, &err) == SP_ERR_INVALID_ARG);
	}
}

SP_TEST(st_valid_handmade)
{
	sp_error	err;

	CHECK(read_hdr("{}", 0, &err) == SP_OK);
	CHECK(read_hdr("  \t\n{}   ", 0, &err) == SP_OK);
	CHECK(read_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}  ", 4, &err) == SP_OK);
	CHECK(read_hdr("{\"__metadata__\":{},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
				   "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, &err) == SP_OK);
	/* zero-size tensors at the same offset */
	CHECK(read_hdr("{\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
				   "\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, &err) == SP_OK);
}

typedef struct bad_case
{
	const char *header;
	size_t		data_len;
	sp_status	expect;
	const char *needle;			/* substring of the message */
} bad_case;

SP_TEST(st_each_violation)
{
	static const bad_case cases[] = {
		{"{", 0, SP_ERR_CORRUPT, "JSON"},
		{"[]", 0, SP_ERR_CORRUPT, "not a JSON object"},
		{"{\"a\":1}", 0, SP_ERR_CORRUPT, "\"a\""},
		{"{\"\xc3\":{}}", 0, SP_ERR_CORRUPT, "UTF-8"},
		{"{\"t\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SP_ERR_CORRUPT, "unknown dtype"},
		{"{\"t\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, SP_ERR_UNSUPPORTED, "\"t\""},
		{"{\"t\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, SP_ERR_UNSUPPORTED, "F64"},
		{"{\"t\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SP_ERR_CORRUPT, "span"},
		{"{\"t\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, SP_ERR_CORRUPT, "dtype"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4, SP_ERR_CORRUPT, "shape"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, SP_ERR_CORRUPT, "shape"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, SP_ERR_CORRUPT, "shape"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, SP_ERR_CORRUPT, "dimensions"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4611686018427387904],\"data_offsets\":[0,4]}}", 4, SP_ERR_CORRUPT, "overflow"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", 4, SP_ERR_CORRUPT, "overflow"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, SP_ERR_CORRUPT, "span"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, SP_ERR_CORRUPT, "end before begin"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, SP_ERR_CORRUPT, "data_offsets"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4, SP_ERR_CORRUPT, "data_offsets"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, SP_ERR_CORRUPT, "data_offsets"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.0,4]}}", 4, SP_ERR_CORRUPT, "data_offsets"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, SP_ERR_CORRUPT, "past the end"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, SP_ERR_CORRUPT, "gap"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, SP_ERR_CORRUPT, "file size"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		"\"u\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, SP_ERR_CORRUPT, "overlaps"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		"\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, SP_ERR_CORRUPT, "duplicate"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, SP_ERR_CORRUPT, "missing"},
		{"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, SP_ERR_CORRUPT, "unknown field"},
		{"{\"__metadata__\":{\"a\":1}}", 0, SP_ERR_CORRUPT, "__metadata__"},
		{"{\"__metadata__\":[]}", 0, SP_ERR_CORRUPT, "__metadata__"},
		{"{} x", 0, SP_ERR_CORRUPT, "JSON"},
		{"{}\x00\x00", 0, SP_ERR_CORRUPT, "JSON"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		sp_error	err;
		sp_status	st;

		memset(&err, 0, sizeof(err));
		if (strcmp(cases[i].header, "{}\x00\x00") == 0)
		{
			/* explicit NUL padding inside the header: not whitespace */
			uint8_t		b[12] = {4, 0, 0, 0, 0, 0, 0, 0, '{', '}', 0, 0};
			sp_safetensors *s = NULL;

			st = sp_st_read(sp_env_default(), b, 12, &s, &err);
		}
		else
			st = read_hdr(cases[i].header, cases[i].data_len, &err);
		CHECK_MSG(st == cases[i].expect, "case %zu: status %d, message %s", i, st, err.message);
		CHECK_MSG(strstr(err.message, cases[i].needle) != NULL, "case %zu: message \"%s\" lacks \"%s\"",
				  i, err.message, cases[i].needle);
	}
}

SP_TEST(st_header_length_bounds)
{
	uint8_t		b[16] = {0};
	sp_safetensors *st = NULL;
	sp_error	err;

	CHECK(sp_st_read(sp_env_default(), b, 7, &st, &err) == SP_ERR_CORRUPT);
	CHECK(sp_st_read(sp_env_default(), NULL, 0, &st, &err) == SP_ERR_CORRUPT);
	CHECK(sp_st_read(sp_env_default(), b, 8, &st, &err) == SP_ERR_CORRUPT);	/* N = 0 */
	memset(b, 0xff, 8);
	CHECK(sp_st_read(sp_env_default(), b, 16, &st, &err) == SP_ERR_CORRUPT);
	CHECK(strstr(err.message, "100000000") != NULL);
	/* 100,000,001 */
	b[0] = 0x01;
	b[1] = 0xe1;
	b[2] = 0xf5;
	b[3] = 0x05;
	memset(b + 4, 0, 4);
	CHECK(sp_st_read(sp_env_default(), b, 16, &st, &err) == SP_ERR_CORRUPT);
	CHECK(strstr(err.message, "100000000") != NULL);
	b[0] = 9;
	memset(b + 1, 0, 7);
	CHECK(sp_st_read(sp_env_default(), b, 16, &st, &err) == SP_ERR_CORRUPT);
	CHECK(strstr(err.message, "file size") != NULL);
	CHECK(st == NULL);
}

SP_TEST(st_random_and_mutated)
{
	float		a[5] = {1, 2, 3, 4, 5};
	sp_st_out_tensor t[2] = {{"w", 1, {3}, a}, {"b", 1, {2}, a + 3}};
	const char *mk[1] = {"k"};
	const char *mv[1] = {"v"};
	uint8_t    *buf,
			   *mut;
	size_t		len;
	sp_error	err;
	uint64_t	s = 4242;
	uint8_t		rnd[256];
	int			ok = 0;

	REQUIRE(sp_st_write(sp_env_default(), t, 2, mk, mv, 1, &buf, &len, &err) == SP_OK);
	mut = malloc(len);
	REQUIRE(mut);
	for (int iter = 0; iter < 20000; iter++)
	{
		sp_safetensors *st = NULL;
		size_t		n;

		memcpy(mut, buf, len);
		for (int m = 0; m < 1 + iter % 4; m++)
		{
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			mut[(s >> 33) % len] ^= (uint8_t) (1u << ((s >> 20) & 7));
		}
		if (sp_st_read(sp_env_default(), mut, len, &st, &err) == SP_OK)
		{
			ok++;
			sp_st_free(sp_env_default(), st);
		}
		/* random bytes with a plausible small header length */
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		n = 8 + (s >> 33) % (sizeof(rnd) - 8);
		for (size_t i = 0; i < n; i++)
		{
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			rnd[i] = (uint8_t) (s >> 40);
		}
		memset(rnd, 0, 8);
		rnd[0] = (uint8_t) ((s >> 13) % (n - 7));
		st = NULL;
		if (sp_st_read(sp_env_default(), rnd, n, &st, &err) == SP_OK)
			sp_st_free(sp_env_default(), st);
	}
	/* flipping data bytes keeps the file valid, so some mutations pass */
	CHECK(ok > 0);
	free(mut);
	free(buf);
}

SP_TEST(st_f16_bf16)
{
	static const uint16_t h[] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x7C00, 0xFC00, 0x8000, 0x3555};
	static const uint16_t bf[] = {0x3F80, 0xC0A0, 0x7F80, 0x0001, 0x8000, 0x4049};
	char		hdr[256];
	uint8_t    *b;
	size_t		len;
	sp_safetensors *st;
	sp_error	err;
	const sp_st_tensor *th,
			   *tb;

	snprintf(hdr, sizeof(hdr),
			 "{\"h\":{\"dtype\":\"F16\",\"shape\":[10],\"data_offsets\":[0,20]},"
			 "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[20,32]}}");
	b = make_file(hdr, 32, &len);
	for (int i = 0; i < 10; i++)
	{
		b[len - 32 + 2 * i] = (uint8_t) h[i];
		b[len - 32 + 2 * i + 1] = (uint8_t) (h[i] >> 8);
	}
	for (int i = 0; i < 6; i++)
	{
		b[len - 12 + 2 * i] = (uint8_t) bf[i];
		b[len - 12 + 2 * i + 1] = (uint8_t) (bf[i] >> 8);
	}
	REQUIRE(sp_st_read(sp_env_default(), b, len, &st, &err) == SP_OK);
	th = sp_st_find(st, "h");
	tb = sp_st_find(st, "b");
	REQUIRE(th && tb);
	CHECK(th->dtype == SP_ST_F16 && tb->dtype == SP_ST_BF16);
	CHECK(th->data[0] == 1.0f);
	CHECK(th->data[1] == -2.0f);
	CHECK(th->data[2] == 65504.0f);
	CHECK(th->data[3] == ldexpf(1.0f, -24));
	CHECK(th->data[4] == 1023.0f * ldexpf(1.0f, -24));
	CHECK(th->data[5] == ldexpf(1.0f, -14));
	CHECK(isinf(th->data[6]) && th->data[6] > 0);
	CHECK(isinf(th->data[7]) && th->data[7] < 0);
	CHECK(th->data[8] == 0.0f && signbit(th->data[8]));
	CHECK_NEAR(th->data[9], 0.333251953125, 0);
	CHECK(tb->data[0] == 1.0f);
	CHECK(tb->data[1] == -5.0f);
	CHECK(isinf(tb->data[2]));
	CHECK(tb->data[3] == ldexpf(1.0f, -133));
	CHECK(tb->data[4] == 0.0f && signbit(tb->data[4]));
	CHECK(tb->data[5] == 3.140625f);
	CHECK(isnan(sp_half_to_float(0x7E00)));
	CHECK(isnan(sp_bf16_to_float(0x7FC0)));
	sp_st_free(sp_env_default(), st);
	free(b);
}

SP_TEST(st_skip_unsupported)
{
	size_t		len;
	uint8_t    *b = make_file("{\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
							  "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, &len);
	sp_safetensors *st;
	sp_error	err;

	CHECK(sp_st_read(sp_env_default(), b, len, &st, &err) == SP_ERR_UNSUPPORTED);
	REQUIRE(sp_st_read_ex(sp_env_default(), b, len, SP_ST_SKIP_UNSUPPORTED, &st, &err) == SP_OK);
	CHECK(sp_st_find(st, "n")->data == NULL);
	CHECK(strcmp(sp_st_find(st, "n")->dtype_name, "I64") == 0);
	CHECK(sp_st_find(st, "w")->data != NULL);
	sp_st_free(sp_env_default(), st);
	free(b);
}
