/*
 * json.h: a small strict JSON (RFC 8259) parser into an immutable tree, and a
 * writer/builder for emitting JSON.  Used by the safetensors header, the model
 * config and anything else in the core that reads or writes JSON.
 *
 * Parser: recursive descent with a depth limit and a size limit; strings are
 * validated UTF-8, escapes (including \uXXXX surrogate pairs) are decoded to
 * UTF-8; \u0000 is rejected so every decoded string is a C string; numbers
 * follow the JSON grammar exactly and are converted with strtod (the raw text
 * is kept so integers can be read exactly); duplicate object keys are an
 * error.  All nodes live in one arena owned by the sp_json_doc, so freeing the
 * document frees everything.  Hostile input never crashes: every error is
 * SP_ERR_CORRUPT (or SP_ERR_LIMIT) with the byte offset in the message.
 *
 * Number formatting and strtod use the C locale decimal point; PostgreSQL
 * backends always run with LC_NUMERIC=C.
 */
#ifndef SP_JSON_H
#define SP_JSON_H

#include <stdbool.h>
#include "util/sp_common.h"

typedef enum sp_json_type
{
	SP_JSON_NULL = 0,
	SP_JSON_BOOL,
	SP_JSON_NUMBER,
	SP_JSON_STRING,
	SP_JSON_ARRAY,
	SP_JSON_OBJECT
} sp_json_type;

typedef struct sp_json sp_json;
struct sp_json
{
	sp_json_type type;
	bool		boolean;		/* SP_JSON_BOOL */
	double		number;			/* SP_JSON_NUMBER */
	const char *num_text;		/* SP_JSON_NUMBER: raw text (NUL-terminated) */
	const char *str;			/* SP_JSON_STRING: decoded UTF-8, NUL-terminated */
	size_t		str_len;
	const char *key;			/* member of an object: its key, else NULL */
	size_t		key_len;
	size_t		count;			/* ARRAY / OBJECT: number of children */
	sp_json   **items;			/* ARRAY / OBJECT: children in document order */
	size_t		offset;			/* byte offset of the value in the input */
};

typedef struct sp_json_doc sp_json_doc;

/* Defaults used when a limit argument is 0. */
#define SP_JSON_DEFAULT_MAX_DEPTH 64
#define SP_JSON_DEFAULT_MAX_SIZE ((size_t) 100000000)

/*
 * Parse len bytes (need not be NUL-terminated).  Leading and trailing JSON
 * whitespace is allowed; anything else after the value is an error.
 * max_depth / max_size of 0 select the defaults.  what names the document in
 * error messages (e.g. "model config"); may be NULL.
 */
extern sp_status sp_json_parse(const sp_env *env, const char *text, size_t len,
							   int max_depth, size_t max_size, const char *what,
							   sp_json_doc **doc, sp_error *err);
extern const sp_json *sp_json_root(const sp_json_doc *doc);
extern void sp_json_free(const sp_env *env, sp_json_doc *doc);

/* Lookups (NULL when absent or of another type). */
extern const sp_json *sp_json_get(const sp_json *obj, const char *key);
/* The first key of object obj not in allowed (NULL-terminated), or NULL when every key is allowed. */
extern const char *sp_json_unknown_key(const sp_json *obj, const char *const *allowed);
extern const char *sp_json_type_name(sp_json_type t);

/*
 * Exact integer value of a number node: fails (returns false) when the
 * number has a fraction or exponent part or is out of range.
 */
extern bool sp_json_get_u64(const sp_json *node, uint64_t *out);
extern bool sp_json_get_i64(const sp_json *node, int64_t *out);

/* ---------------------------------------------------------------------- */
/* Writer. */

#define SP_JSONW_MAX_DEPTH 64

typedef struct sp_jsonw
{
	const sp_env *env;
	char	   *buf;
	size_t		len;
	size_t		cap;
	bool		pretty;
	int			depth;
	bool		first[SP_JSONW_MAX_DEPTH + 1];	/* no element yet at this level */
	bool		is_obj[SP_JSONW_MAX_DEPTH + 1]; /* container at this level is an object */
	bool		after_key;		/* a key was just written */
	bool		inline_next;	/* next container goes on one line (pretty mode) */
	int			inline_depth;	/* depth of the container written inline, 0 if none */
	sp_status	status;			/* sticky: first failure */
} sp_jsonw;

extern void sp_jsonw_init(sp_jsonw *w, const sp_env *env, bool pretty);
extern void sp_jsonw_begin_object(sp_jsonw *w);
extern void sp_jsonw_end_object(sp_jsonw *w);
extern void sp_jsonw_begin_array(sp_jsonw *w);
extern void sp_jsonw_end_array(sp_jsonw *w);
extern void sp_jsonw_key(sp_jsonw *w, const char *key);
extern void sp_jsonw_string(sp_jsonw *w, const char *s);
extern void sp_jsonw_string_len(sp_jsonw *w, const char *s, size_t len);
/* Shortest text that reads back (strtod) to the same double. */
extern void sp_jsonw_number(sp_jsonw *w, double v);
/* Shortest text that reads back (strtof) to the same float. */
extern void sp_jsonw_float(sp_jsonw *w, float v);
extern void sp_jsonw_int(sp_jsonw *w, int64_t v);
extern void sp_jsonw_bool(sp_jsonw *w, bool v);
extern void sp_jsonw_null(sp_jsonw *w);
/* Pretty mode: write the next array or object on a single line. */
extern void sp_jsonw_inline_next(sp_jsonw *w);
/* Emit a parsed value (deep copy), e.g. to re-serialise a subtree. */
extern void sp_jsonw_value(sp_jsonw *w, const sp_json *v);
/* Insert raw text verbatim (caller guarantees it is one valid JSON value). */
extern void sp_jsonw_raw(sp_jsonw *w, const char *text, size_t len);

/*
 * Finish: on success *out is a NUL-terminated string allocated with env
 * (caller frees with sp_free) and *out_len its length.  Any earlier failure
 * (allocation, unbalanced nesting, non-finite number) is reported here.  The
 * writer's buffer is released either way.
 */
extern sp_status sp_jsonw_finish(sp_jsonw *w, char **out, size_t *out_len, sp_error *err);
/* Release the buffer without producing output. */
extern void sp_jsonw_discard(sp_jsonw *w);

#endif							/* SP_JSON_H */
