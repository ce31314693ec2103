/*
 * json.c: strict JSON parser (tree in an arena) and JSON writer.  See json.h
 * for the contract.  The parser is written to survive hostile input: every
 * read is bounds-checked against len, recursion is bounded by max_depth, and
 * allocations are checked; the first error wins and carries a byte offset.
 */
#include "util/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* Arena: nodes and strings of one document. */

typedef struct arena_block
{
	struct arena_block *next;
	size_t		used;
	size_t		cap;
	/* payload follows, 16-byte aligned */
} arena_block;

#define ARENA_HDR ((sizeof(arena_block) + 15) & ~(size_t) 15)
#define ARENA_MIN_BLOCK ((size_t) 16384)

struct sp_json_doc
{
	arena_block *blocks;
	sp_json    *root;
};

static void *
arena_alloc(const sp_env *env, sp_json_doc *doc, size_t size)
{
	arena_block *b = doc->blocks;
	size_t		need = (size + 15) & ~(size_t) 15;

	if (need < size)
		return NULL;
	if (!b || b->cap - b->used < need)
	{
		size_t		cap = need > ARENA_MIN_BLOCK ? need : ARENA_MIN_BLOCK;
		size_t		total;

		if (!sp_add_size(cap, ARENA_HDR, &total))
			return NULL;
		b = sp_alloc(env, total);
		if (!b)
			return NULL;
		b->cap = cap;
		b->used = 0;
		b->next = doc->blocks;
		doc->blocks = b;
	}
	{
		void	   *p = (char *) b + ARENA_HDR + b->used;

		b->used += need;
		return p;
	}
}

/* ---------------------------------------------------------------------- */
/* Parser. */

typedef struct parser
{
	const sp_env *env;
	const unsigned char *s;
	size_t		len;
	size_t		pos;
	int			max_depth;
	const char *what;
	sp_error   *err;
	sp_json_doc *doc;
	/* stack of children being collected for open containers */
	sp_json   **stack;
	size_t		stack_len;
	size_t		stack_cap;
	bool		failed;
} parser;

static bool
perr(parser *p, sp_status code, size_t at, const char *msg)
{
	if (!p->failed)
	{
		p->failed = true;
		sp_set_error(p->err, code, "invalid JSON in %s at byte %zu: %s",
					 p->what ? p->what : "document", at, msg);
	}
	return false;
}

static bool
pnomem(parser *p)
{
	if (!p->failed)
	{
		p->failed = true;
		sp_set_error(p->err, SP_ERR_NOMEM, "out of memory while parsing JSON");
	}
	return false;
}

static void
skip_ws(parser *p)
{
	while (p->pos < p->len)
	{
		unsigned char c = p->s[p->pos];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			p->pos++;
		else
			break;
	}
}

static bool
stack_push(parser *p, sp_json *v)
{
	if (p->stack_len == p->stack_cap)
	{
		size_t		ncap = p->stack_cap ? p->stack_cap * 2 : 64;
		sp_json   **ns = sp_alloc_array(p->env, ncap, sizeof(sp_json *));

		if (!ns)
			return pnomem(p);
		if (p->stack_len)
			memcpy(ns, p->stack, p->stack_len * sizeof(sp_json *));
		sp_free(p->env, p->stack);
		p->stack = ns;
		p->stack_cap = ncap;
	}
	p->stack[p->stack_len++] = v;
	return true;
}

/*
 * Decode one UTF-8 sequence at s[0..avail); returns its length (1..4) or 0
 * when invalid (overlong, surrogate, > U+10FFFF, truncated).
 */
static int
utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp)
{
	unsigned char c = s[0];
	int			n;
	uint32_t	v;

	if (c < 0x80)
	{
		*cp = c;
		return 1;
	}
	else if (c >= 0xC2 && c <= 0xDF)
	{
		n = 2;
		v = c & 0x1F;
	}
	else if (c >= 0xE0 && c <= 0xEF)
	{
		n = 3;
		v = c & 0x0F;
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		n = 4;
		v = c & 0x07;
	}
	else
		return 0;
	if (avail < (size_t) n)
		return 0;
	for (int i = 1; i < n; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)))
		return 0;
	if (v >= 0xD800 && v <= 0xDFFF)
		return 0;
	*cp = v;
	return n;
}

static size_t
utf8_encode(uint32_t cp, unsigned char *out)
{
	if (cp < 0x80)
	{
		out[0] = (unsigned char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		out[0] = (unsigned char) (0xC0 | (cp >> 6));
		out[1] = (unsigned char) (0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000)
	{
		out[0] = (unsigned char) (0xE0 | (cp >> 12));
		out[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
		out[2] = (unsigned char) (0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (unsigned char) (0xF0 | (cp >> 18));
	out[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3F));
	out[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
	out[3] = (unsigned char) (0x80 | (cp & 0x3F));
	return 4;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
read_hex4(parser *p, size_t at, uint32_t *out)
{
	uint32_t	v = 0;

	if (p->len - at < 4)
		return perr(p, SP_ERR_CORRUPT, at, "truncated \\u escape");
	for (int i = 0; i < 4; i++)
	{
		int			h = hexval(p->s[at + i]);

		if (h < 0)
			return perr(p, SP_ERR_CORRUPT, at + i, "invalid hex digit in \\u escape");
		v = (v << 4) | (uint32_t) h;
	}
	*out = v;
	return true;
}

/* Parse a string starting at the opening quote; decoded into the arena. */

/* The byte a two-character escape (\" \\ \/ \b \f \n \r \t) stands for. */
static unsigned char
short_escape_value(unsigned char e)
{
	switch (e)
	{
		case 'b':
			return '\b';
		case 'f':
			return '\f';
		case 'n':
			return '\n';
		case 'r':
			return '\r';
		case 't':
			return '\t';
		default:
			return e;			/* '"', '\\' and '/' stand for themselves */
	}
}

static bool
parse_string(parser *p, const char **out, size_t *out_len)
{
	size_t		start = p->pos + 1;
	size_t		i = start;
	unsigned char *dst;
	size_t		n = 0;

	/* First pass: find the closing quote (skipping escaped characters). */
	while (i < p->len && p->s[i] != '"')
	{
		if (p->s[i] == '\\')
			i++;
		i++;
	}
	if (i >= p->len)
		return perr(p, SP_ERR_CORRUPT, p->pos, "unterminated string");
	/* decoded length <= raw length */
	dst = arena_alloc(p->env, p->doc, i - start + 1);
	if (!dst)
		return pnomem(p);

	i = start;
	while (p->s[i] != '"')
	{
		unsigned char c = p->s[i];

		if (c < 0x20)
			return perr(p, SP_ERR_CORRUPT, i, "control character in string");
		if (c == '\\')
		{
			unsigned char e = p->s[i + 1];	/* exists: closing quote is later */

			switch (e)
			{
				case '"':
				case '\\':
				case '/':
				case 'b':
				case 'f':
				case 'n':
				case 'r':
				case 't':
					dst[n++] = (char) short_escape_value(e);
					i += 2;
					break;
				case 'u':
					{
						uint32_t	cp,
									lo;

						if (!read_hex4(p, i + 2, &cp))
							return false;
						if (cp >= 0xDC00 && cp <= 0xDFFF)
							return perr(p, SP_ERR_CORRUPT, i, "unpaired low surrogate in \\u escape");
						if (cp >= 0xD800 && cp <= 0xDBFF)
						{
							if (p->len - (i + 6) < 6 || p->s[i + 6] != '\\' || p->s[i + 7] != 'u')
								return perr(p, SP_ERR_CORRUPT, i, "unpaired high surrogate in \\u escape");
							if (!read_hex4(p, i + 8, &lo))
								return false;
							if (lo < 0xDC00 || lo > 0xDFFF)
								return perr(p, SP_ERR_CORRUPT, i + 6, "invalid low surrogate in \\u escape");
							cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
							i += 12;
						}
						else
						{
							if (cp == 0)
								return perr(p, SP_ERR_CORRUPT, i, "\\u0000 is not supported in strings");
							i += 6;
						}
						/* the 6 or 12 escape bytes always cover the <= 4 output bytes */
						n += utf8_encode(cp, dst + n);
						break;
					}
				default:
					return perr(p, SP_ERR_CORRUPT, i, "invalid escape in string");
			}
		}
		else
		{
			uint32_t	cp;
			int			k = utf8_decode(p->s + i, p->len - i, &cp);

			if (k == 0)
				return perr(p, SP_ERR_CORRUPT, i, "invalid UTF-8 in string");
			memcpy(dst + n, p->s + i, (size_t) k);
			n += (size_t) k;
			i += (size_t) k;
		}
		if (i >= p->len)		/* an escape ran past the end of the text */
			return perr(p, SP_ERR_CORRUPT, p->pos, "unterminated string");
	}
	dst[n] = '\0';
	*out = (const char *) dst;
	*out_len = n;
	p->pos = i + 1;
	return true;
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
parse_number(parser *p, sp_json *v)
{
	size_t		start = p->pos,
				i = p->pos;
	char	   *txt;
	char	   *end;

	if (i < p->len && p->s[i] == '-')
		i++;
	if (i >= p->len)
		return perr(p, SP_ERR_CORRUPT, i, "truncated number");
	if (p->s[i] == '0')
		i++;
	else if (p->s[i] >= '1' && p->s[i] <= '9')
	{
		while (i < p->len && is_digit(p->s[i]))
			i++;
	}
	else
		return perr(p, SP_ERR_CORRUPT, i, "invalid number");
	if (i < p->len && p->s[i] == '.')
	{
		i++;
		if (i >= p->len || !is_digit(p->s[i]))
			return perr(p, SP_ERR_CORRUPT, i, "digit expected after decimal point");
		while (i < p->len && is_digit(p->s[i]))
			i++;
	}
	if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E'))
	{
		i++;
		if (i < p->len && (p->s[i] == '+' || p->s[i] == '-'))
			i++;
		if (i >= p->len || !is_digit(p->s[i]))
			return perr(p, SP_ERR_CORRUPT, i, "digit expected in exponent");
		while (i < p->len && is_digit(p->s[i]))
			i++;
	}
	txt = arena_alloc(p->env, p->doc, i - start + 1);
	if (!txt)
		return pnomem(p);
	memcpy(txt, p->s + start, i - start);
	txt[i - start] = '\0';
	errno = 0;
	v->number = strtod(txt, &end);
	if (end != txt + (i - start))
		return perr(p, SP_ERR_CORRUPT, start, "invalid number");
	if (!isfinite(v->number))
		return perr(p, SP_ERR_CORRUPT, start, "number out of range");
	v->type = SP_JSON_NUMBER;
	v->num_text = txt;
	p->pos = i;
	return true;
}

static bool
match_literal(parser *p, const char *lit)
{
	size_t		n = strlen(lit);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, lit, n) != 0)
		return perr(p, SP_ERR_CORRUPT, p->pos, "invalid literal");
	p->pos += n;
	return true;
}

static int
cmp_keys(const void *a, const void *b)
{
	const sp_json *x = *(const sp_json *const *) a;
	const sp_json *y = *(const sp_json *const *) b;
	size_t		n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int			c = memcmp(x->key, y->key, n);

	if (c)
		return c;
	return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static bool
check_duplicates(parser *p, sp_json *obj)
{
	size_t		n = obj->count;

	if (n < 2)
		return true;
	if (n <= 16)
	{
		for (size_t i = 0; i < n; i++)
			for (size_t j = i + 1; j < n; j++)
				if (cmp_keys(&obj->items[i], &obj->items[j]) == 0)
				{
					char		msg[160];

					snprintf(msg, sizeof(msg), "duplicate key \"%.100s\"", obj->items[j]->key);
					return perr(p, SP_ERR_CORRUPT, obj->items[j]->offset, msg);
				}
		return true;
	}
	else
	{
		sp_json   **tmp = sp_alloc_array(p->env, n, sizeof(sp_json *));

		if (!tmp)
			return pnomem(p);
		memcpy(tmp, obj->items, n * sizeof(sp_json *));
		qsort(tmp, n, sizeof(sp_json *), cmp_keys);
		for (size_t i = 1; i < n; i++)
			if (cmp_keys(&tmp[i - 1], &tmp[i]) == 0)
			{
				char		msg[160];
				size_t		off = tmp[i]->offset;

				snprintf(msg, sizeof(msg), "duplicate key \"%.100s\"", tmp[i]->key);
				sp_free(p->env, tmp);
				return perr(p, SP_ERR_CORRUPT, off, msg);
			}
		sp_free(p->env, tmp);
		return true;
	}
}

/* Pop the children of a container from the stack into an arena array. */
static bool
collect_children(parser *p, sp_json *v, size_t base)
{
	size_t		n = p->stack_len - base;

	v->count = n;
	if (n)
	{
		v->items = arena_alloc(p->env, p->doc, n * sizeof(sp_json *));
		if (!v->items)
			return pnomem(p);
		memcpy(v->items, p->stack + base, n * sizeof(sp_json *));
	}
	p->stack_len = base;
	return true;
}

static bool parse_value(parser *p, int depth, sp_json **out);

static bool
parse_array(parser *p, int depth, sp_json *v)
{
	size_t		base = p->stack_len;

	v->type = SP_JSON_ARRAY;
	p->pos++;					/* [ */
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == ']')
	{
		p->pos++;
		return true;
	}
	for (;;)
	{
		sp_json    *child;

		if (!parse_value(p, depth + 1, &child) || !stack_push(p, child))
			return false;
		skip_ws(p);
		if (p->pos >= p->len)
			return perr(p, SP_ERR_CORRUPT, p->pos, "unterminated array");
		if (p->s[p->pos] == ',')
		{
			p->pos++;
			continue;
		}
		if (p->s[p->pos] == ']')
		{
			p->pos++;
			break;
		}
		return perr(p, SP_ERR_CORRUPT, p->pos, "expected ',' or ']' in array");
	}
	return collect_children(p, v, base);
}

static bool
parse_object(parser *p, int depth, sp_json *v)
{
	size_t		base = p->stack_len;

	v->type = SP_JSON_OBJECT;
	p->pos++;					/* { */
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == '}')
	{
		p->pos++;
		return true;
	}
	for (;;)
	{
		const char *key;
		size_t		key_len,
					key_at;
		sp_json    *child;

		skip_ws(p);
		if (p->pos >= p->len)
			return perr(p, SP_ERR_CORRUPT, p->pos, "unterminated object");
		if (p->s[p->pos] != '"')
			return perr(p, SP_ERR_CORRUPT, p->pos, "expected string key in object");
		key_at = p->pos;
		if (!parse_string(p, &key, &key_len))
			return false;
		skip_ws(p);
		if (p->pos >= p->len || p->s[p->pos] != ':')
			return perr(p, SP_ERR_CORRUPT, p->pos, "expected ':' after object key");
		p->pos++;
		if (!parse_value(p, depth + 1, &child))
			return false;
		child->key = key;
		child->key_len = key_len;
		child->offset = key_at;
		if (!stack_push(p, child))
			return false;
		skip_ws(p);
		if (p->pos >= p->len)
			return perr(p, SP_ERR_CORRUPT, p->pos, "unterminated object");
		if (p->s[p->pos] == ',')
		{
			p->pos++;
			continue;
		}
		if (p->s[p->pos] == '}')
		{
			p->pos++;
			break;
		}
		return perr(p, SP_ERR_CORRUPT, p->pos, "expected ',' or '}' in object");
	}
	if (!collect_children(p, v, base))
		return false;
	return check_duplicates(p, v);
}

static bool
parse_value(parser *p, int depth, sp_json **out)
{
	sp_json    *v;
	unsigned char c;

	skip_ws(p);
	if (p->pos >= p->len)
		return perr(p, SP_ERR_CORRUPT, p->pos, "unexpected end of input");
	if (depth > p->max_depth)
		return perr(p, SP_ERR_LIMIT, p->pos, "nesting too deep");
	v = arena_alloc(p->env, p->doc, sizeof(sp_json));
	if (!v)
		return pnomem(p);
	memset(v, 0, sizeof(*v));
	v->offset = p->pos;
	*out = v;
	c = p->s[p->pos];
	switch (c)
	{
		case '{':
			return parse_object(p, depth, v);
		case '[':
			return parse_array(p, depth, v);
		case '"':
			v->type = SP_JSON_STRING;
			return parse_string(p, &v->str, &v->str_len);
		case 't':
			v->type = SP_JSON_BOOL;
			v->boolean = true;
			return match_literal(p, "true");
		case 'f':
			v->type = SP_JSON_BOOL;
			return match_literal(p, "false");
		case 'n':
			v->type = SP_JSON_NULL;
			return match_literal(p, "null");
		default:
			if (c == '-' || is_digit(c))
				return parse_number(p, v);
			return perr(p, SP_ERR_CORRUPT, p->pos, "unexpected character");
	}
}

sp_status
sp_json_parse(const sp_env *env, const char *text, size_t len, int max_depth,
			  size_t max_size, const char *what, sp_json_doc **docp, sp_error *err)
{
	parser		p;
	sp_json_doc *doc;
	sp_json    *root = NULL;
	bool		ok;

	*docp = NULL;
	if (max_depth <= 0)
		max_depth = SP_JSON_DEFAULT_MAX_DEPTH;
	if (max_size == 0)
		max_size = SP_JSON_DEFAULT_MAX_SIZE;
	if (!text && len)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "JSON text is NULL");
	if (len > max_size)
	{
		sp_set_error(err, SP_ERR_LIMIT, "%s is too large: %zu bytes",
					 what ? what : "JSON document", len);
		sp_error_detail(err, "The limit is %zu bytes.", max_size);
		return SP_ERR_LIMIT;
	}
	doc = sp_alloc(env, sizeof(*doc));
	if (!doc)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory while parsing JSON");
	doc->blocks = NULL;
	doc->root = NULL;

	memset(&p, 0, sizeof(p));
	p.env = env;
	p.s = (const unsigned char *) text;
	p.len = len;
	p.max_depth = max_depth;
	p.what = what;
	p.err = err;
	p.doc = doc;

	ok = parse_value(&p, 0, &root);
	if (ok)
	{
		skip_ws(&p);
		if (p.pos != p.len)
			ok = perr(&p, SP_ERR_CORRUPT, p.pos, "unexpected data after the JSON value");
	}
	sp_free(env, p.stack);
	if (!ok)
	{
		sp_json_free(env, doc);
		return err ? err->code : SP_ERR_CORRUPT;
	}
	doc->root = root;
	*docp = doc;
	return SP_OK;
}

const sp_json *
sp_json_root(const sp_json_doc *doc)
{
	return doc ? doc->root : NULL;
}

void
sp_json_free(const sp_env *env, sp_json_doc *doc)
{
	arena_block *b;

	if (!doc)
		return;
	b = doc->blocks;
	while (b)
	{
		arena_block *next = b->next;

		sp_free(env, b);
		b = next;
	}
	sp_free(env, doc);
}

const sp_json *
sp_json_get(const sp_json *obj, const char *key)
{
	size_t		kl;

	if (!obj || obj->type != SP_JSON_OBJECT || !key)
		return NULL;
	kl = strlen(key);
	for (size_t i = 0; i < obj->count; i++)
		if (obj->items[i]->key_len == kl && memcmp(obj->items[i]->key, key, kl) == 0)
			return obj->items[i];
	return NULL;
}

const char *
sp_json_unknown_key(const sp_json *obj, const char *const *allowed)
{
	for (size_t i = 0; obj && obj->type == SP_JSON_OBJECT && i < obj->count; i++)
	{
		bool		known = false;

		for (int j = 0; allowed[j] && !known; j++)
			known = strcmp(obj->items[i]->key, allowed[j]) == 0;
		if (!known)
			return obj->items[i]->key;
	}
	return NULL;
}

const char *
sp_json_type_name(sp_json_type t)
{
	switch (t)
	{
		case SP_JSON_NULL:
			return "null";
		case SP_JSON_BOOL:
			return "boolean";
		case SP_JSON_NUMBER:
			return "number";
		case SP_JSON_STRING:
			return "string";
		case SP_JSON_ARRAY:
			return "array";
		case SP_JSON_OBJECT:
			return "object";
	}
	return "unknown";
}

bool
sp_json_get_u64(const sp_json *node, uint64_t *out)
{
	const char *s;
	uint64_t	v = 0;

	if (!node || node->type != SP_JSON_NUMBER || !node->num_text)
		return false;
	s = node->num_text;
	if (!*s)
		return false;
	for (; *s; s++)
	{
		if (*s < '0' || *s > '9')
			return false;		/* '-', '.', 'e' */
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t) (*s - '0'), &v))
			return false;
	}
	*out = v;
	return true;
}

bool
sp_json_get_i64(const sp_json *node, int64_t *out)
{
	const char *s;
	uint64_t	mag = 0;
	bool		neg = false;

	if (!node || node->type != SP_JSON_NUMBER || !node->num_text)
		return false;
	s = node->num_text;
	if (*s == '-')
	{
		neg = true;
		s++;
	}
	if (!*s)
		return false;
	for (; *s; s++)
	{
		if (*s < '0' || *s > '9')
			return false;
		if (__builtin_mul_overflow(mag, 10, &mag) || __builtin_add_overflow(mag, (uint64_t) (*s - '0'), &mag))
			return false;
	}
	if (neg)
	{
		if (mag > (uint64_t) INT64_MAX + 1)
			return false;
		*out = (int64_t) (0 - mag);
	}
	else
	{
		if (mag > (uint64_t) INT64_MAX)
			return false;
		*out = (int64_t) mag;
	}
	return true;
}

/* ---------------------------------------------------------------------- */
/* Writer. */

void
sp_jsonw_init(sp_jsonw *w, const sp_env *env, bool pretty)
{
	memset(w, 0, sizeof(*w));
	w->env = env;
	w->pretty = pretty;
	w->first[0] = true;
	w->status = SP_OK;
}

static void
w_fail(sp_jsonw *w, sp_status st)
{
	if (w->status == SP_OK)
		w->status = st;
}

static void
w_put(sp_jsonw *w, const char *s, size_t n)
{
	if (w->status != SP_OK)
		return;
	if (w->cap - w->len < n + 1)
	{
		size_t		ncap = w->cap ? w->cap : 256;
		char	   *nb;

		while (ncap - w->len < n + 1)
		{
			if (ncap > SIZE_MAX / 2)
			{
				w_fail(w, SP_ERR_NOMEM);
				return;
			}
			ncap *= 2;
		}
		nb = sp_alloc(w->env, ncap);
		if (!nb)
		{
			w_fail(w, SP_ERR_NOMEM);
			return;
		}
		if (w->len)
			memcpy(nb, w->buf, w->len);
		sp_free(w->env, w->buf);
		w->buf = nb;
		w->cap = ncap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void
w_puts(sp_jsonw *w, const char *s)
{
	w_put(w, s, strlen(s));
}

static void
w_newline(sp_jsonw *w)
{
	if (!w->pretty)
		return;
	w_put(w, "\n", 1);
	for (int i = 0; i < w->depth; i++)
		w_put(w, "  ", 2);
}

/* Separator logic before any value or key. */
static void
w_before_value(sp_jsonw *w, bool is_key)
{
	if (w->status != SP_OK)
		return;
	if (w->after_key)
	{
		if (is_key)
			w_fail(w, SP_ERR_INTERNAL);
		w->after_key = false;
		return;
	}
	if (w->depth == 0)
	{
		if (!w->first[0] || is_key)
			w_fail(w, SP_ERR_INTERNAL);	/* second top-level value */
		w->first[0] = false;
		return;
	}
	if (w->is_obj[w->depth] != is_key)
	{
		w_fail(w, SP_ERR_INTERNAL);	/* value without key, or key in array */
		return;
	}
	if (!w->first[w->depth])
		w_put(w, ",", 1);
	w->first[w->depth] = false;
	w_newline(w);
}

static void
w_begin(sp_jsonw *w, bool obj)
{
	w_before_value(w, false);
	if (w->status != SP_OK)
		return;
	if (w->depth >= SP_JSONW_MAX_DEPTH)
	{
		w_fail(w, SP_ERR_LIMIT);
		return;
	}
	w_put(w, obj ? "{" : "[", 1);
	w->depth++;
	w->first[w->depth] = true;
	w->is_obj[w->depth] = obj;
	if (w->inline_next && w->pretty && w->inline_depth == 0)
	{
		w->pretty = false;
		w->inline_depth = w->depth;
	}
	w->inline_next = false;
}

void
sp_jsonw_inline_next(sp_jsonw *w)
{
	w->inline_next = true;
}

static void
w_end(sp_jsonw *w, bool obj)
{
	bool		empty;

	if (w->status != SP_OK)
		return;
	if (w->depth == 0 || w->is_obj[w->depth] != obj || w->after_key)
	{
		w_fail(w, SP_ERR_INTERNAL);
		return;
	}
	empty = w->first[w->depth];
	w->depth--;
	if (!empty)
		w_newline(w);
	w_put(w, obj ? "}" : "]", 1);
	if (w->inline_depth && w->depth + 1 == w->inline_depth)
	{
		w->pretty = true;
		w->inline_depth = 0;
	}
}

void
sp_jsonw_begin_object(sp_jsonw *w)
{
	w_begin(w, true);
}

void
sp_jsonw_end_object(sp_jsonw *w)
{
	w_end(w, true);
}

void
sp_jsonw_begin_array(sp_jsonw *w)
{
	w_begin(w, false);
}

void
sp_jsonw_end_array(sp_jsonw *w)
{
	w_end(w, false);
}

static void
w_string_body(sp_jsonw *w, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *) s;
	size_t		i = 0,
				run = 0;

	w_put(w, "\"", 1);
	while (i < len)
	{
		unsigned char c = u[i];
		const char *esc = NULL;
		char		buf[8];

		if (c == '"')
			esc = "\\\"";
		else if (c == '\\')
			esc = "\\\\";
		else if (c == '\n')
			esc = "\\n";
		else if (c == '\r')
			esc = "\\r";
		else if (c == '\t')
			esc = "\\t";
		else if (c == '\b')
			esc = "\\b";
		else if (c == '\f')
			esc = "\\f";
		else if (c < 0x20)
		{
			snprintf(buf, sizeof(buf), "\\u%04x", c);
			esc = buf;
		}
		if (esc)
		{
			w_put(w, s + i - run, run);
			run = 0;
			w_puts(w, esc);
			i++;
		}
		else if (c < 0x80)
		{
			run++;
			i++;
		}
		else
		{
			uint32_t	cp;
			int			k = utf8_decode(u + i, len - i, &cp);

			if (k == 0)
			{
				w_fail(w, SP_ERR_INVALID_ARG);	/* not valid UTF-8 */
				return;
			}
			run += (size_t) k;
			i += (size_t) k;
		}
	}
	w_put(w, s + i - run, run);
	w_put(w, "\"", 1);
}

void
sp_jsonw_key(sp_jsonw *w, const char *key)
{
	w_before_value(w, true);
	if (w->status != SP_OK)
		return;
	w_string_body(w, key, strlen(key));
	w_puts(w, w->pretty ? ": " : ":");
	w->after_key = true;
}

void
sp_jsonw_string_len(sp_jsonw *w, const char *s, size_t len)
{
	w_before_value(w, false);
	if (w->status != SP_OK)
		return;
	w_string_body(w, s, len);
}

void
sp_jsonw_string(sp_jsonw *w, const char *s)
{
	sp_jsonw_string_len(w, s, strlen(s));
}

void
sp_jsonw_number(sp_jsonw *w, double v)
{
	char		buf[40];

	w_before_value(w, false);
	if (w->status != SP_OK)
		return;
	if (!isfinite(v))
	{
		w_fail(w, SP_ERR_INVALID_ARG);
		return;
	}
	for (int prec = 1; prec <= 17; prec++)
	{
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	w_puts(w, buf);
}

void
sp_jsonw_float(sp_jsonw *w, float v)
{
	char		buf[40];

	w_before_value(w, false);
	if (w->status != SP_OK)
		return;
	if (!isfinite(v))
	{
		w_fail(w, SP_ERR_INVALID_ARG);
		return;
	}
	for (int prec = 1; prec <= 9; prec++)
	{
		snprintf(buf, sizeof(buf), "%.*g", prec, (double) v);
		if (strtof(buf, NULL) == v)
			break;
	}
	w_puts(w, buf);
}

void
sp_jsonw_int(sp_jsonw *w, int64_t v)
{
	char		buf[32];

	w_before_value(w, false);
	snprintf(buf, sizeof(buf), "%lld", (long long) v);
	w_puts(w, buf);
}

void
sp_jsonw_bool(sp_jsonw *w, bool v)
{
	w_before_value(w, false);
	w_puts(w, v ? "true" : "false");
}

void
sp_jsonw_null(sp_jsonw *w)
{
	w_before_value(w, false);
	w_puts(w, "null");
}

void
sp_jsonw_raw(sp_jsonw *w, const char *text, size_t len)
{
	w_before_value(w, false);
	w_put(w, text, len);
}

void
sp_jsonw_value(sp_jsonw *w, const sp_json *v)
{
	if (!v)
	{
		sp_jsonw_null(w);
		return;
	}
	switch (v->type)
	{
		case SP_JSON_NULL:
			sp_jsonw_null(w);
			break;
		case SP_JSON_BOOL:
			sp_jsonw_bool(w, v->boolean);
			break;
		case SP_JSON_NUMBER:
			/* keep the original text: exact integers, no reformatting */
			if (v->num_text)
				sp_jsonw_raw(w, v->num_text, strlen(v->num_text));
			else
				sp_jsonw_number(w, v->number);
			break;
		case SP_JSON_STRING:
			sp_jsonw_string_len(w, v->str, v->str_len);
			break;
		case SP_JSON_ARRAY:
			sp_jsonw_begin_array(w);
			for (size_t i = 0; i < v->count; i++)
				sp_jsonw_value(w, v->items[i]);
			sp_jsonw_end_array(w);
			break;
		case SP_JSON_OBJECT:
			sp_jsonw_begin_object(w);
			for (size_t i = 0; i < v->count; i++)
			{
				w_before_value(w, true);
				if (w->status != SP_OK)
					return;
				w_string_body(w, v->items[i]->key, v->items[i]->key_len);
				w_puts(w, w->pretty ? ": " : ":");
				w->after_key = true;
				sp_jsonw_value(w, v->items[i]);
			}
			sp_jsonw_end_object(w);
			break;
	}
}

void
sp_jsonw_discard(sp_jsonw *w)
{
	sp_free(w->env, w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

sp_status
sp_jsonw_finish(sp_jsonw *w, char **out, size_t *out_len, sp_error *err)
{
	*out = NULL;
	if (out_len)
		*out_len = 0;
	if (w->status == SP_OK && (w->depth != 0 || w->first[0]))
		w->status = SP_ERR_INTERNAL;	/* unbalanced or empty */
	if (w->status != SP_OK)
	{
		sp_status	st = w->status;

		sp_jsonw_discard(w);
		switch (st)
		{
			case SP_ERR_NOMEM:
				return sp_set_error(err, st, "out of memory while writing JSON");
			case SP_ERR_INVALID_ARG:
				return sp_set_error(err, st, "cannot write JSON: non-finite number or invalid UTF-8 string");
			case SP_ERR_LIMIT:
				return sp_set_error(err, st, "cannot write JSON: nesting too deep");
			default:
				return sp_set_error(err, SP_ERR_INTERNAL, "JSON writer misuse (unbalanced containers or misplaced key)");
		}
	}
	if (w->pretty)
		w_put(w, "\n", 1);
	if (w->status != SP_OK)
	{
		sp_jsonw_discard(w);
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory while writing JSON");
	}
	*out = w->buf;
	if (out_len)
		*out_len = w->len;
	w->buf = NULL;
	w->len = w->cap = 0;
	return SP_OK;
}
