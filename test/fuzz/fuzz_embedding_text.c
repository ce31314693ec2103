/*
 * fuzz_embedding_text.c: libFuzzer harness for the embedding type's text
 * input (vector/embedding_text.c, behind '[1,2,3]'::siamese.embedding).
 * Every input is parsed with a small dimension limit; an accepted one must
 * have finite values within the capacity bound, and printing them with %.9g
 * and parsing again must give the same floats bit for bit.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_env.h"
#include "vector/embedding_text.h"

#define MAX_DIM 64

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *str = malloc(size + 1);
	int			cap;
	float	   *v;
	sp_emb_text_result r;
	sp_emb_text_status st;

	memcpy(str, data, size);
	str[size] = '\0';
	cap = sp_emb_text_capacity(str, MAX_DIM);
	if (cap < 1 || cap > MAX_DIM)
		abort();
	v = malloc(sizeof(float) * (size_t) cap);
	st = sp_emb_text_parse(str, v, cap, MAX_DIM, &r);
	if (st == SP_EMB_TEXT_OK)
	{
		char		buf[MAX_DIM * 20 + 3],
				   *p = buf;
		float		again[MAX_DIM];
		sp_emb_text_result r2;

		if (r.dim < 1 || r.dim > cap)
			abort();
		*p++ = '[';
		for (int i = 0; i < r.dim; i++)
		{
			if (!isfinite(v[i]))
				abort();
			p += sprintf(p, "%s%.9g", i ? "," : "", (double) v[i]);
		}
		*p++ = ']';
		*p = '\0';
		if (sp_emb_text_parse(buf, again, MAX_DIM, MAX_DIM, &r2) != SP_EMB_TEXT_OK || r2.dim != r.dim ||
			memcmp(again, v, sizeof(float) * (size_t) r.dim) != 0)
			abort();
	}
	else if (st == SP_EMB_TEXT_SYNTAX && (r.detail == NULL || r.detail[0] == '\0'))
		abort();
	else if (st == SP_EMB_TEXT_RANGE && (r.token < str || r.token + r.token_len > str + size))
		abort();
	free(v);
	free(str);
	return 0;
}
