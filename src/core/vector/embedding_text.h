/*
 * embedding_text.h: the text form of an embedding, '[v1, v2, ...]', parsed
 * as strictly as PostgreSQL's float4in: every element must parse completely
 * with strtof; NaN, infinities and out-of-range literals are refused.  The
 * SQL type's input function (src/pg/embedding/embedding_type.c) turns the
 * result into its errors; the fuzzer test/fuzz/fuzz_embedding_text.c
 * attacks it here.
 */
#ifndef SP_EMBEDDING_TEXT_H
#define SP_EMBEDDING_TEXT_H

#include <stddef.h>

typedef enum sp_emb_text_status
{
	SP_EMB_TEXT_OK = 0,
	SP_EMB_TEXT_SYNTAX,			/* detail says what is wrong */
	SP_EMB_TEXT_EMPTY,			/* '[]' */
	SP_EMB_TEXT_TOO_MANY,		/* more than max_dim elements */
	SP_EMB_TEXT_RANGE,			/* the literal [token, token + token_len) overflows or underflows */
	SP_EMB_TEXT_NAN,
	SP_EMB_TEXT_INFINITE
} sp_emb_text_status;

typedef struct sp_emb_text_result
{
	int			dim;			/* elements parsed (SP_EMB_TEXT_OK) */
	const char *detail;			/* SP_EMB_TEXT_SYNTAX: a sentence for the error's detail */
	const char *token;			/* SP_EMB_TEXT_RANGE: the literal, inside the input */
	size_t		token_len;
} sp_emb_text_result;

/*
 * An upper bound on the element count of str (its commas plus one), capped
 * at max_dim: the buffer for sp_emb_text_parse, so that a huge hostile
 * string costs no more than its own size.
 */
extern int	sp_emb_text_capacity(const char *str, int max_dim);

/* Parse the NUL-terminated str into out (cap floats, from sp_emb_text_capacity). */
extern sp_emb_text_status sp_emb_text_parse(const char *str, float *out, int cap, int max_dim,
											sp_emb_text_result *res);

#endif
