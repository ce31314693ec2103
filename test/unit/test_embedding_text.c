/*
 * test_embedding_text.c: the embedding text parser (vector/embedding_text.c):
 * accepted forms, each refusal with its reason, the capacity bound and the
 * dimension limit.  The SQL type's messages are checked by sql/embedding.sql.
 */
#include <math.h>
#include <string.h>

#include "unit.h"
#include "vector/embedding_text.h"

static sp_emb_text_status
parse(const char *s, float *out, int *dim, sp_emb_text_result *r)
{
	sp_emb_text_status st = sp_emb_text_parse(s, out, sp_emb_text_capacity(s, 8), 8, r);

	*dim = r->dim;
	return st;
}

SP_TEST(embedding_text_accepts)
{
	float		v[8];
	int			dim;
	sp_emb_text_result r;

	REQUIRE(parse(" [ 1, -2.5e1 ,3 ] \n", v, &dim, &r) == SP_EMB_TEXT_OK);
	CHECK_EQ_INT(dim, 3);
	CHECK(v[0] == 1.0f && v[1] == -25.0f && v[2] == 3.0f);
	REQUIRE(parse("[-0]", v, &dim, &r) == SP_EMB_TEXT_OK);
	CHECK(dim == 1 && v[0] == 0.0f && signbit(v[0]));
	CHECK_EQ_INT(sp_emb_text_capacity("[1,2,3]", 8), 3);
	CHECK_EQ_INT(sp_emb_text_capacity("[1,2,3,4,5,6,7,8,9,10]", 8), 8);
}

SP_TEST(embedding_text_refuses)
{
	float		v[8];
	int			dim;
	sp_emb_text_result r;

	CHECK(parse("1,2]", v, &dim, &r) == SP_EMB_TEXT_SYNTAX && strstr(r.detail, "start with"));
	CHECK(parse("[ ]", v, &dim, &r) == SP_EMB_TEXT_EMPTY);
	CHECK(parse("[1,,2]", v, &dim, &r) == SP_EMB_TEXT_SYNTAX && strstr(r.detail, "Missing element"));
	CHECK(parse("[1,2", v, &dim, &r) == SP_EMB_TEXT_SYNTAX && strstr(r.detail, "Unexpected end"));
	CHECK(parse("[1 2]", v, &dim, &r) == SP_EMB_TEXT_SYNTAX && strstr(r.detail, "Expected"));
	CHECK(parse("[a]", v, &dim, &r) == SP_EMB_TEXT_SYNTAX && strstr(r.detail, "must be numbers"));
	CHECK(parse("[1] x", v, &dim, &r) == SP_EMB_TEXT_SYNTAX && strstr(r.detail, "Junk"));
	CHECK(parse("[1e39]", v, &dim, &r) == SP_EMB_TEXT_RANGE && r.token_len == 4 && strncmp(r.token, "1e39", 4) == 0);
	CHECK(parse("[1e-50]", v, &dim, &r) == SP_EMB_TEXT_RANGE);
	CHECK(parse("[NaN]", v, &dim, &r) == SP_EMB_TEXT_NAN);
	CHECK(parse("[-Infinity]", v, &dim, &r) == SP_EMB_TEXT_INFINITE);
	CHECK(parse("[1,2,3,4,5,6,7,8,9]", v, &dim, &r) == SP_EMB_TEXT_TOO_MANY);
}
