/*
 * embedding_text.c: parsing the text form of an embedding (see
 * embedding_text.h).  Whitespace is JSON's and C's: space, tab, newline,
 * carriage return, vertical tab and form feed, around brackets, commas and
 * values.
 */
#include "vector/embedding_text.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static const char *
skip_space(const char *p)
{
	while (is_space(*p))
		p++;
	return p;
}

static sp_emb_text_status
syntax(sp_emb_text_result *res, const char *detail)
{
	res->detail = detail;
	return SP_EMB_TEXT_SYNTAX;
}

int
sp_emb_text_capacity(const char *str, int max_dim)
{
	int			cap = 1;

	for (const char *q = str; *q && cap < max_dim; q++)
		if (*q == ',')
			cap++;
	return cap;
}

sp_emb_text_status
sp_emb_text_parse(const char *str, float *out, int cap, int max_dim, sp_emb_text_result *res)
{
	const char *p = skip_space(str);
	int			dim = 0;

	res->dim = 0;
	res->detail = NULL;
	res->token = NULL;
	res->token_len = 0;
	if (*p != '[')
		return syntax(res, "Embedding contents must start with \"[\".");
	p = skip_space(p + 1);
	if (*p == ']')
		return SP_EMB_TEXT_EMPTY;

	for (;;)
	{
		char	   *end;
		float		v;

		p = skip_space(p);
		if (*p == '\0')
			return syntax(res, "Unexpected end of input.");
		if (*p == ',' || *p == ']')
			return syntax(res, "Missing element value.");
		if (dim >= max_dim)
			return SP_EMB_TEXT_TOO_MANY;

		errno = 0;
		v = strtof(p, &end);
		if (end == p)
			return syntax(res, "Element values must be numbers.");
		if (errno == ERANGE && (v == 0.0f || isinf(v)))
		{
			res->token = p;
			res->token_len = (size_t) (end - p);
			return SP_EMB_TEXT_RANGE;
		}
		if (isnan(v))
			return SP_EMB_TEXT_NAN;
		if (isinf(v))
			return SP_EMB_TEXT_INFINITE;
		if (dim >= cap)			/* cannot happen with sp_emb_text_capacity's bound */
			return SP_EMB_TEXT_TOO_MANY;
		out[dim++] = v;
		p = skip_space(end);
		if (*p == ',')
		{
			p++;
			continue;
		}
		if (*p == ']')
		{
			p++;
			break;
		}
		if (*p == '\0')
			return syntax(res, "Unexpected end of input.");
		return syntax(res, "Expected \",\" or \"]\" after an element value.");
	}
	if (*skip_space(p) != '\0')
		return syntax(res, "Junk after closing right bracket.");
	res->dim = dim;
	return SP_EMB_TEXT_OK;
}
