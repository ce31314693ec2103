/*
 * safetensors.c: strict safetensors reader and F32 writer (see
 * safetensors.h).  The reader validates the complete header against the
 * file before copying any data, so a hostile file is rejected as a whole.
 */
#include "util/safetensors.h"
#include "util/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dtype_info
{
	const char *name;
	size_t		size;
	sp_st_dtype kind;
} dtype_info;

/* Every dtype of the format; only the first three are converted. */
static const dtype_info dtypes[] = {
	{"F32", 4, SP_ST_F32},
	{"F16", 2, SP_ST_F16},
	{"BF16", 2, SP_ST_BF16},
	{"BOOL", 1, SP_ST_OTHER},
	{"U8", 1, SP_ST_OTHER},
	{"I8", 1, SP_ST_OTHER},
	{"F8_E5M2", 1, SP_ST_OTHER},
	{"F8_E4M3", 1, SP_ST_OTHER},
	{"I16", 2, SP_ST_OTHER},
	{"U16", 2, SP_ST_OTHER},
	{"I32", 4, SP_ST_OTHER},
	{"U32", 4, SP_ST_OTHER},
	{"F64", 8, SP_ST_OTHER},
	{"I64", 8, SP_ST_OTHER},
	{"U64", 8, SP_ST_OTHER},
};

float
sp_half_to_float(uint16_t h)
{
	uint32_t	sign = (uint32_t) (h >> 15) << 31;
	uint32_t	exp = (h >> 10) & 0x1F;
	uint32_t	mant = h & 0x3FF;
	uint32_t	bits;
	float		f;

	if (exp == 0)
	{
		if (mant == 0)
			bits = sign;
		else
		{
			/* subnormal: value = mant * 2^-24, exact in float */
			f = (float) mant * (1.0f / 16777216.0f);
			return sign ? -f : f;
		}
	}
	else if (exp == 31)
		bits = sign | 0x7F800000u | (mant << 13);
	else
		bits = sign | ((exp + 112) << 23) | (mant << 13);
	memcpy(&f, &bits, sizeof(f));
	return f;
}

float
sp_bf16_to_float(uint16_t h)
{
	uint32_t	bits = (uint32_t) h << 16;
	float		f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

static uint64_t
read_le64(const uint8_t *p)
{
	uint64_t	v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

typedef struct entry
{
	const sp_json *node;
	const char *name;
	const dtype_info *dt;
	int			ndim;
	int64_t		shape[SP_ST_MAX_DIMS];
	size_t		numel;
	uint64_t	begin;
	uint64_t	end;
} entry;

static int
cmp_entry_offset(const void *a, const void *b)
{
	const entry *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

static sp_status corrupt(sp_error *err, const char *name, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* SP_ERR_CORRUPT with a message naming the tensor (when there is one). */
static sp_status
corrupt(sp_error *err, const char *name, const char *fmt,...)
{
	char		msg[200];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (name)
		return sp_set_error(err, SP_ERR_CORRUPT, "invalid safetensors file: tensor \"%.80s\": %s", name, msg);
	return sp_set_error(err, SP_ERR_CORRUPT, "invalid safetensors file: %s", msg);
}

static sp_status
parse_entry(const sp_json *node, entry *e, sp_error *err)
{
	const sp_json *dt = NULL,
			   *shape = NULL,
			   *offs = NULL;
	size_t		numel = 1,
				bytes;

	e->node = node;
	e->name = node->key;
	if (node->type != SP_JSON_OBJECT)
		return corrupt(err, e->name, "entry is not an object");
	for (size_t i = 0; i < node->count; i++)
	{
		const char *k = node->items[i]->key;

		if (strcmp(k, "dtype") == 0)
			dt = node->items[i];
		else if (strcmp(k, "shape") == 0)
			shape = node->items[i];
		else if (strcmp(k, "data_offsets") == 0)
			offs = node->items[i];
		else
			return corrupt(err, e->name, "unknown field \"%.60s\"", k);
	}
	if (!dt || !shape || !offs)
		return corrupt(err, e->name, "missing field \"%s\"",
					   !dt ? "dtype" : !shape ? "shape" : "data_offsets");
	if (dt->type != SP_JSON_STRING)
		return corrupt(err, e->name, "dtype is not a string");
	e->dt = NULL;
	for (size_t i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++)
		if (strcmp(dt->str, dtypes[i].name) == 0)
			e->dt = &dtypes[i];
	if (!e->dt)
		return corrupt(err, e->name, "unknown dtype \"%.40s\"", dt->str);
	if (shape->type != SP_JSON_ARRAY)
		return corrupt(err, e->name, "shape is not an array");
	if (shape->count > SP_ST_MAX_DIMS)
		return corrupt(err, e->name, "shape has more than 8 dimensions");
	e->ndim = (int) shape->count;
	for (size_t i = 0; i < shape->count; i++)
	{
		uint64_t	d;

		if (!sp_json_get_u64(shape->items[i], &d) || d > (uint64_t) INT64_MAX)
			return corrupt(err, e->name, "shape entries must be non-negative integers");
		e->shape[i] = (int64_t) d;
		if (d > SIZE_MAX || !sp_mul_size(numel, (size_t) d, &numel))
			return corrupt(err, e->name, "shape product overflows");
	}
	e->numel = numel;
	if (!sp_mul_size(numel, e->dt->size, &bytes))
		return corrupt(err, e->name, "shape product overflows");
	if (offs->type != SP_JSON_ARRAY || offs->count != 2 ||
		!sp_json_get_u64(offs->items[0], &e->begin) ||
		!sp_json_get_u64(offs->items[1], &e->end))
		return corrupt(err, e->name, "data_offsets must be two non-negative integers");
	if (e->end < e->begin)
		return corrupt(err, e->name, "data_offsets end before begin");
	if (e->end - e->begin != (uint64_t) bytes)
		return corrupt(err, e->name, "data_offsets span does not match shape and dtype");
	return SP_OK;
}

static sp_status
parse_metadata(const sp_json *node, sp_error *err)
{
	if (node->type != SP_JSON_OBJECT)
		return corrupt(err, NULL, "__metadata__ is not an object");
	for (size_t i = 0; i < node->count; i++)
		if (node->items[i]->type != SP_JSON_STRING)
			return corrupt(err, NULL, "__metadata__ value of \"%.60s\" is not a string",
						   node->items[i]->key);
	return SP_OK;
}

static size_t
align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

sp_status
sp_st_read(const sp_env *env, const uint8_t *buf, size_t len,
		   sp_safetensors **out, sp_error *err)
{
	return sp_st_read_ex(env, buf, len, 0, out, err);
}

sp_status
sp_st_read_ex(const sp_env *env, const uint8_t *buf, size_t len, int flags,
			  sp_safetensors **out, sp_error *err)
{
	uint64_t	hlen;
	size_t		data_len;
	const uint8_t *data;
	sp_json_doc *doc = NULL;
	const sp_json *root;
	const sp_json *meta = NULL;
	entry	   *ents = NULL;
	size_t		n_ent = 0;
	sp_status	st;
	size_t		total,
				n_meta = 0;
	char	   *block = NULL;
	sp_safetensors *res;

	*out = NULL;
	if (!buf || len < 8)
		return corrupt(err, NULL, "file is shorter than the 8-byte header length");
	hlen = read_le64(buf);
	if (hlen > SP_ST_MAX_HEADER)
		return corrupt(err, NULL, "header length exceeds 100000000 bytes");
	if (hlen > len - 8)
		return corrupt(err, NULL, "header length exceeds the file size");
	if (hlen < 2)
		return corrupt(err, NULL, "header is too short to hold a JSON object");
	data = buf + 8 + hlen;
	data_len = len - 8 - (size_t) hlen;

	st = sp_json_parse(env, (const char *) buf + 8, (size_t) hlen, 0, 0,
					   "safetensors header", &doc, err);
	if (st != SP_OK)
	{
		if (st == SP_ERR_LIMIT)
			err->code = st = SP_ERR_CORRUPT;
		return st;
	}
	root = sp_json_root(doc);
	if (root->type != SP_JSON_OBJECT)
	{
		st = corrupt(err, NULL, "header is not a JSON object");
		goto done;
	}
	if (root->count > 0)
	{
		ents = sp_alloc_array(env, root->count, sizeof(entry));
		if (!ents)
		{
			st = sp_set_error(err, SP_ERR_NOMEM, "out of memory reading safetensors");
			goto done;
		}
	}
	for (size_t i = 0; i < root->count; i++)
	{
		const sp_json *node = root->items[i];

		if (strcmp(node->key, "__metadata__") == 0)
		{
			if ((st = parse_metadata(node, err)) != SP_OK)
				goto done;
			meta = node;
			n_meta = node->count;
			continue;
		}
		if ((st = parse_entry(node, &ents[n_ent], err)) != SP_OK)
			goto done;
		n_ent++;
	}
	/* duplicate names are rejected by the JSON parser (duplicate keys) */

	if (n_ent > (size_t) INT32_MAX || n_meta > (size_t) INT32_MAX)
	{
		st = corrupt(err, NULL, "too many entries");
		goto done;
	}
	/* Tiling: sorted by offset, each tensor starts where the previous ended. */
	if (n_ent)
		qsort(ents, n_ent, sizeof(entry), cmp_entry_offset);
	{
		uint64_t	pos = 0;

		for (size_t i = 0; i < n_ent; i++)
		{
			if (ents[i].begin > pos)
			{
				st = corrupt(err, ents[i].name, "gap in the data before this tensor");
				goto done;
			}
			if (ents[i].begin < pos)
			{
				st = corrupt(err, ents[i].name, "data overlaps the previous tensor");
				goto done;
			}
			if (ents[i].end > data_len)
			{
				st = corrupt(err, ents[i].name, "data_offsets point past the end of the file");
				goto done;
			}
			pos = ents[i].end;
		}
		if (pos != data_len)
		{
			st = corrupt(err, NULL, "data area size does not match the tensors (8 + header + last end != file size)");
			goto done;
		}
	}
	for (size_t i = 0; i < n_ent; i++)
		if (ents[i].dt->kind == SP_ST_OTHER && !(flags & SP_ST_SKIP_UNSUPPORTED))
		{
			st = sp_set_error(err, SP_ERR_UNSUPPORTED,
							  "safetensors tensor \"%.80s\" has unsupported dtype %s",
							  ents[i].name, ents[i].dt->name);
			sp_error_hint(err, "Convert the tensors to F32, F16 or BF16.");
			goto done;
		}

	/* One block: struct, tensor array, meta arrays, names, 64-aligned data. */
	{
		size_t		off_tensors,
					off_mk,
					off_strings,
					off_data,
					strings = 0,
					datab = 0;

		total = align_up(sizeof(sp_safetensors), 64);
		off_tensors = total;
		total += align_up(n_ent * sizeof(sp_st_tensor), 64);
		off_mk = total;
		total += align_up(2 * n_meta * sizeof(char *), 64);
		off_strings = total;
		for (size_t i = 0; i < n_ent; i++)
			strings += ents[i].node->key_len + 1;
		for (size_t i = 0; i < n_meta; i++)
			strings += meta->items[i]->key_len + 1 + meta->items[i]->str_len + 1;
		total += align_up(strings, 64);
		off_data = total;
		for (size_t i = 0; i < n_ent; i++)
			if (ents[i].dt->kind != SP_ST_OTHER)
				datab += align_up(ents[i].numel * sizeof(float), 64);	/* <= 2 x file size */
		if (!sp_add_size(total, datab, &total) || !sp_add_size(total, 64, &total))
		{
			st = sp_set_error(err, SP_ERR_NOMEM, "out of memory reading safetensors");
			goto done;
		}
		block = sp_alloc(env, total);
		if (!block)
		{
			st = sp_set_error(err, SP_ERR_NOMEM, "out of memory reading safetensors");
			sp_error_detail(err, "Failed to allocate %zu bytes.", total);
			goto done;
		}
		{
			char	   *base = (char *) (((uintptr_t) block + 63) & ~(uintptr_t) 63);
			char	   *sp = base + off_strings;
			char	   *dp = base + off_data;

			res = (sp_safetensors *) base;
			memset(res, 0, sizeof(*res));
			res->storage = block;
			res->n_tensors = (int) n_ent;
			res->tensors = (sp_st_tensor *) (base + off_tensors);
			res->n_meta = (int) n_meta;
			res->meta_keys = (const char **) (base + off_mk);
			res->meta_values = res->meta_keys + n_meta;
			for (size_t i = 0; i < n_meta; i++)
			{
				const sp_json *m = meta->items[i];

				memcpy(sp, m->key, m->key_len + 1);
				res->meta_keys[i] = sp;
				sp += m->key_len + 1;
				memcpy(sp, m->str, m->str_len + 1);
				res->meta_values[i] = sp;
				sp += m->str_len + 1;
			}
			for (size_t i = 0; i < n_ent; i++)
			{
				entry	   *e = &ents[i];
				sp_st_tensor *t = &res->tensors[i];
				const uint8_t *src = data + e->begin;
				float	   *dst = (float *) dp;

				memcpy(sp, e->node->key, e->node->key_len + 1);
				t->name = sp;
				sp += e->node->key_len + 1;
				t->dtype = e->dt->kind;
				t->ndim = e->ndim;
				memcpy(t->shape, e->shape, sizeof(t->shape));
				t->numel = e->numel;
				t->dtype_name = e->dt->name;
				if (e->dt->kind == SP_ST_OTHER)
				{
					t->data = NULL;
					continue;
				}
				t->data = dst;
				for (size_t k = 0; k < e->numel; k++)
				{
					if (e->dt->kind == SP_ST_F32)
					{
						uint32_t	bits = (uint32_t) src[4 * k] | (uint32_t) src[4 * k + 1] << 8 |
							(uint32_t) src[4 * k + 2] << 16 | (uint32_t) src[4 * k + 3] << 24;

						memcpy(&dst[k], &bits, 4);
					}
					else
					{
						uint16_t	h = (uint16_t) (src[2 * k] | src[2 * k + 1] << 8);

						dst[k] = e->dt->kind == SP_ST_F16 ? sp_half_to_float(h) : sp_bf16_to_float(h);
					}
				}
				dp += align_up(e->numel * sizeof(float), 64);
			}
		}
		*out = res;
		st = SP_OK;
	}

done:
	sp_free(env, ents);
	sp_json_free(env, doc);
	return st;
}

void
sp_st_free(const sp_env *env, sp_safetensors *st)
{
	if (st)
		sp_free(env, st->storage);
}

const sp_st_tensor *
sp_st_find(const sp_safetensors *st, const char *name)
{
	if (!st || !name)
		return NULL;
	for (int i = 0; i < st->n_tensors; i++)
		if (strcmp(st->tensors[i].name, name) == 0)
			return &st->tensors[i];
	return NULL;
}

const char *
sp_st_meta(const sp_safetensors *st, const char *key)
{
	if (!st || !key)
		return NULL;
	for (int i = 0; i < st->n_meta; i++)
		if (strcmp(st->meta_keys[i], key) == 0)
			return st->meta_values[i];
	return NULL;
}

sp_status
sp_st_write(const sp_env *env, const sp_st_out_tensor *tensors, int n,
			const char *const *meta_keys, const char *const *meta_values,
			int n_meta, uint8_t **out, size_t *out_len, sp_error *err)
{
	sp_jsonw	w;
	char	   *hdr = NULL;
	size_t		hdr_len,
				padded,
				data_bytes = 0,
				total;
	size_t	   *numels = NULL;
	uint8_t    *buf;
	sp_status	st;

	*out = NULL;
	*out_len = 0;
	if (n < 0 || n_meta < 0)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "negative tensor count");
	if (n > 0)
	{
		numels = sp_alloc_array(env, (size_t) n, sizeof(size_t));
		if (!numels)
			return sp_set_error(err, SP_ERR_NOMEM, "out of memory writing safetensors");
	}
	for (int i = 0; i < n; i++)
	{
		size_t		ne = 1;

		if (!tensors[i].name || strcmp(tensors[i].name, "__metadata__") == 0)
		{
			sp_free(env, numels);
			return sp_set_error(err, SP_ERR_INVALID_ARG, "invalid tensor name for safetensors");
		}
		for (int j = 0; j < i; j++)
			if (strcmp(tensors[i].name, tensors[j].name) == 0)
			{
				sp_free(env, numels);
				return sp_set_error(err, SP_ERR_INVALID_ARG, "duplicate tensor name \"%.80s\"", tensors[i].name);
			}
		if (tensors[i].ndim < 0 || tensors[i].ndim > SP_ST_MAX_DIMS)
		{
			sp_free(env, numels);
			return sp_set_error(err, SP_ERR_INVALID_ARG, "tensor \"%.80s\" has too many dimensions", tensors[i].name);
		}
		for (int d = 0; d < tensors[i].ndim; d++)
			if (tensors[i].shape[d] < 0 || !sp_mul_size(ne, (size_t) tensors[i].shape[d], &ne))
			{
				sp_free(env, numels);
				return sp_set_error(err, SP_ERR_INVALID_ARG, "tensor \"%.80s\" has an invalid shape", tensors[i].name);
			}
		numels[i] = ne;
		if (!sp_mul_size(ne, 4, &ne) || !sp_add_size(data_bytes, ne, &data_bytes))
		{
			sp_free(env, numels);
			return sp_set_error(err, SP_ERR_LIMIT, "tensors are too large");
		}
	}

	sp_jsonw_init(&w, env, false);
	sp_jsonw_begin_object(&w);
	if (n_meta > 0)
	{
		sp_jsonw_key(&w, "__metadata__");
		sp_jsonw_begin_object(&w);
		for (int i = 0; i < n_meta; i++)
		{
			sp_jsonw_key(&w, meta_keys[i]);
			sp_jsonw_string(&w, meta_values[i]);
		}
		sp_jsonw_end_object(&w);
	}
	{
		size_t		pos = 0;

		for (int i = 0; i < n; i++)
		{
			sp_jsonw_key(&w, tensors[i].name);
			sp_jsonw_begin_object(&w);
			sp_jsonw_key(&w, "dtype");
			sp_jsonw_string(&w, "F32");
			sp_jsonw_key(&w, "shape");
			sp_jsonw_begin_array(&w);
			for (int d = 0; d < tensors[i].ndim; d++)
				sp_jsonw_int(&w, tensors[i].shape[d]);
			sp_jsonw_end_array(&w);
			sp_jsonw_key(&w, "data_offsets");
			sp_jsonw_begin_array(&w);
			sp_jsonw_int(&w, (int64_t) pos);
			pos += numels[i] * 4;
			sp_jsonw_int(&w, (int64_t) pos);
			sp_jsonw_end_array(&w);
			sp_jsonw_end_object(&w);
		}
	}
	sp_jsonw_end_object(&w);
	st = sp_jsonw_finish(&w, &hdr, &hdr_len, err);
	if (st != SP_OK)
	{
		sp_free(env, numels);
		return st;
	}
	padded = align_up(hdr_len, 8);
	if (!sp_add_size(8 + padded, data_bytes, &total) || padded > SP_ST_MAX_HEADER)
	{
		sp_free(env, numels);
		sp_free(env, hdr);
		return sp_set_error(err, SP_ERR_LIMIT, "safetensors output is too large");
	}
	buf = sp_alloc(env, total);
	if (!buf)
	{
		sp_free(env, numels);
		sp_free(env, hdr);
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory writing safetensors");
	}
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t) ((uint64_t) padded >> (8 * i));
	memcpy(buf + 8, hdr, hdr_len);
	memset(buf + 8 + hdr_len, ' ', padded - hdr_len);
	{
		uint8_t    *dp = buf + 8 + padded;

		for (int i = 0; i < n; i++)
			for (size_t k = 0; k < numels[i]; k++)
			{
				uint32_t	bits;

				memcpy(&bits, &tensors[i].data[k], 4);
				dp[0] = (uint8_t) bits;
				dp[1] = (uint8_t) (bits >> 8);
				dp[2] = (uint8_t) (bits >> 16);
				dp[3] = (uint8_t) (bits >> 24);
				dp += 4;
			}
	}
	sp_free(env, hdr);
	sp_free(env, numels);
	*out = buf;
	*out_len = total;
	return SP_OK;
}
