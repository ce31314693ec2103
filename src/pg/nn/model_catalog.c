/*
 * model_catalog.c: access to the model catalog (siamese.models): row lookup
 * for the cache, the "unknown model" error, full validation and content hash
 * of a model for the catalog's insert trigger, and loading the models
 * shipped in the extension's share directory at CREATE EXTENSION time.
 *
 * Shipped models are read only from $(sharedir)/extension/siamese_pg/, found
 * from the server's own executable path; no SQL function takes a file path,
 * so a caller can never make the server read a file of its choosing.
 */
#include "postgres.h"

#include <sys/stat.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "pg/embedding/embedding.h"
#include "pg/nn/model.h"
#include "pg/sp_pg.h"
#include "util/hash.h"

PG_FUNCTION_INFO_V1(siamese_model_validate);
PG_FUNCTION_INFO_V1(siamese_model_hash);
PG_FUNCTION_INFO_V1(siamese_onnx_to_model);
PG_FUNCTION_INFO_V1(siamese_load_shipped_models);

static SPIPlanPtr plan_hash = NULL;
static SPIPlanPtr plan_full = NULL;
static SPIPlanPtr plan_copy = NULL;

static SPIPlanPtr
prepare_kept(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/*
 * Hashes of dump copies read in this backend, by the function's oid and the
 * xmin of its pg_proc row.  Reading a copy's hash means evaluating the
 * function, which decodes its whole weights; a Citus worker knows the
 * user-registered models only by these copies (docs/scale-out.md) and
 * re-checks a cached model's hash once per statement, so without this memo
 * every shard query would decode the weights again.  CREATE OR REPLACE gives
 * the row a new xmin and re-creating the function a new oid, so a remembered
 * hash is never stale.  Filled when a model's content is loaded from its copy.
 */
#define COPY_MEMO_SIZE 64
typedef struct CopyHashMemo
{
	Oid			fn;
	TransactionId xmin;
	char		hash[65];
} CopyHashMemo;
static CopyHashMemo copy_memo[COPY_MEMO_SIZE];
static int	copy_memo_next = 0;

typedef enum CopyLookup
{
	COPY_NONE,					/* no dump copy */
	COPY_TUPLE,					/* the copy's (hash, config, weights) are in SPI_tuptable */
	COPY_MEMO					/* only the hash was wanted, and it was remembered */
} CopyLookup;

/*
 * The model's row is not in siamese.models: look for its dump copy, the
 * function siamese_models.<name>() (see 50_models.sql).  pg_dump restores
 * functions before any table data, so during a restore a generated column or
 * CHECK constraint that embeds with a user model finds it here before the
 * catalog row is restored; on a Citus worker the copies, which Citus puts on
 * every node, are how the coordinator's models are known at all.  Runs inside
 * the caller's SPI connection.
 */
static CopyLookup
lookup_dump_copy(const char *name, bool want_content, char *memo_hash)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	Oid			fn;
	TransactionId xmin;
	int			ret;

	if (plan_copy == NULL)
		plan_copy = prepare_kept("SELECT p.oid, p.xmin FROM pg_catalog.pg_proc p "
								 "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace "
								 "WHERE n.nspname OPERATOR(pg_catalog.=) 'siamese_models' "
								 "AND p.proname OPERATOR(pg_catalog.=) $1::pg_catalog.name "
								 "AND p.pronargs OPERATOR(pg_catalog.=) 0", 1, argtypes);
	args[0] = CStringGetTextDatum(name);
	ret = SPI_execute_plan(plan_copy, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return COPY_NONE;
	fn = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (!want_content)
		for (int i = 0; i < COPY_MEMO_SIZE; i++)
			if (copy_memo[i].fn == fn && copy_memo[i].xmin == xmin)
			{
				strlcpy(memo_hash, copy_memo[i].hash, 65);
				return COPY_MEMO;
			}
	ret = SPI_execute(psprintf("SELECT hash, config, weights FROM siamese_models.%s()",
							   quote_identifier(name)), true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	if (SPI_processed != 1)
		return COPY_NONE;
	{
		char	   *h = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		CopyHashMemo *m = &copy_memo[copy_memo_next];

		if (h != NULL && strlen(h) == 64)
		{
			m->fn = fn;
			m->xmin = xmin;
			strlcpy(m->hash, h, sizeof m->hash);
			copy_memo_next = (copy_memo_next + 1) % COPY_MEMO_SIZE;
		}
	}
	return COPY_TUPLE;
}

bool
sp_catalog_lookup(const char *name, char **hash, bool want_content,
				  text **config, bytea **weights)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	SPIPlanPtr	plan;
	bool		found = false;
	CopyLookup	copy = COPY_NONE;
	char		memo_hash[65];
	int			ret;

	args[0] = CStringGetTextDatum(name);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (plan_hash == NULL)
		plan_hash = prepare_kept("SELECT hash FROM siamese.models "
								 "WHERE name OPERATOR(pg_catalog.=) $1", 1, argtypes);
	if (plan_full == NULL)
		plan_full = prepare_kept("SELECT hash, config_text, weights FROM siamese.models "
								 "WHERE name OPERATOR(pg_catalog.=) $1", 1, argtypes);
	plan = want_content ? plan_full : plan_hash;

	/* read_only: the calling query's snapshot, no command counter bump */
	ret = SPI_execute_plan(plan, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	if (SPI_processed != 1)
		copy = lookup_dump_copy(name, want_content, memo_hash);

	if (copy == COPY_MEMO)
	{
		found = true;
		*hash = MemoryContextStrdup(caller, memo_hash);
	}
	else if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;
		MemoryContext old;

		found = true;
		old = MemoryContextSwitchTo(caller);
		d = SPI_getbinval(tup, desc, 1, &isnull);
		*hash = isnull ? pstrdup("") : TextDatumGetCString(d);
		if (want_content)
		{
			d = SPI_getbinval(tup, desc, 2, &isnull);
			*config = isnull ? NULL : DatumGetTextPCopy(d);
			d = SPI_getbinval(tup, desc, 3, &isnull);
			*weights = isnull ? NULL : DatumGetByteaPCopy(d);
			if (*config == NULL || *weights == NULL)
				elog(ERROR, "model \"%s\" has a NULL config or weights", name);
		}
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return found;
}

void
sp_catalog_unknown_model(const char *name)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *list = NULL;

	if (SPI_connect() == SPI_OK_CONNECT)
	{
		/* the catalog's models and those known by their dump copy alone (on a Citus worker) */
		if (SPI_execute("SELECT pg_catalog.string_agg(m.name, ', ' ORDER BY m.name) FROM ("
						"SELECT name FROM siamese.models UNION "
						"SELECT p.proname::pg_catalog.text FROM pg_catalog.pg_proc p "
						"JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace "
						"WHERE n.nspname OPERATOR(pg_catalog.=) 'siamese_models' "
						"AND p.pronargs OPERATOR(pg_catalog.=) 0) m",
						true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		{
			char	   *s = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			if (s)
				list = MemoryContextStrdup(caller, s);
		}
		SPI_finish();
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("model \"%s\" does not exist", name),
			 list ? errhint("Available models: %s.", list)
			 : errhint("No model is registered; see siamese.register_model().")));
	pg_unreachable();
}

/* ---------------------------------------------------------------------- */
/* Validation and hash (used by the catalog's insert trigger). */

static void
validate_errcontext(void *arg)
{
	if (arg)
		errcontext("validating model \"%s\"", (const char *) arg);
	else
		errcontext("validating model");
}

/* model_validate(config text, weights bytea [, name text]) -> (hash, dims, distance, threshold, params, input, ...) */
Datum
siamese_model_validate(PG_FUNCTION_ARGS)
{
	text	   *config = PG_GETARG_TEXT_PP(0);
	bytea	   *weights = PG_GETARG_BYTEA_PP(1);
	const sp_env *env = sp_pg_env();
	ErrorContextCallback cb;
	sp_nn_model *model;
	const sp_nn_config *cfg;
	sp_error	err;
	sp_status	st;
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {false, false, false, false, false, false, false, false};
	char		ops[1024];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	cb.callback = validate_errcontext;
	/* model_validate(config, weights, name): the catalog's trigger names the model */
	cb.arg = PG_NARGS() > 2 ? text_to_cstring(PG_GETARG_TEXT_PP(2)) : NULL;
	cb.previous = error_context_stack;
	error_context_stack = &cb;

	st = sp_nn_model_load(env, VARDATA_ANY(config), VARSIZE_ANY_EXHDR(config),
						  (const uint8_t *) VARDATA_ANY(weights), VARSIZE_ANY_EXHDR(weights),
						  &model, &err);
	SP_PG_CHECK(st, &err);
	/* The core allows wider outputs than the SQL type can hold: such a model could never embed. */
	if (sp_nn_model_dim(model) > EMBEDDING_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("model embedding_dim %d exceeds the embedding type's maximum of %d dimensions",
						sp_nn_model_dim(model), EMBEDDING_MAX_DIM),
				 errhint("Give the model an output of at most %d values.", EMBEDDING_MAX_DIM)));
	error_context_stack = cb.previous;

	cfg = sp_nn_model_config(model);
	{
		char		where[256];
		size_t		need = sp_nn_model_memory_bytes(model, where, sizeof where);

		if (need > (size_t) siamese_max_model_memory_mb * 1024 * 1024)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("model needs %zu MB to embed one image, more than siamese.nn.max_model_memory (%d MB)",
							need >> 20, siamese_max_model_memory_mb),
					 errdetail("The most working memory goes to %s.", where[0] ? where : "its largest layer"),
					 errhint("Use a smaller input size, or raise siamese.nn.max_model_memory (superuser) if the server has the memory for every backend that embeds with it.")));
	}
	values[0] = CStringGetTextDatum(sp_nn_model_hash(model));
	values[1] = Int32GetDatum(sp_nn_model_dim(model));
	values[2] = CStringGetTextDatum(sp_distance_kind_name(cfg->distance));
	if (cfg->has_threshold)
		values[3] = Float8GetDatum(cfg->threshold);
	else
		nulls[3] = true;
	values[4] = Int64GetDatum((int64) sp_nn_model_param_count(model));
	values[5] = CStringGetTextDatum(psprintf("%dx%dx%d", cfg->input.channels,
											 cfg->input.height, cfg->input.width));
	sp_nn_model_ops(model, ops, sizeof ops);
	values[6] = CStringGetTextDatum(ops);
	values[7] = Int64GetDatum((int64) sp_nn_model_activation_bytes(model));
	sp_nn_model_free(env, model);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

Datum
siamese_model_hash(PG_FUNCTION_ARGS)
{
	text	   *config = PG_GETARG_TEXT_PP(0);
	bytea	   *weights = PG_GETARG_BYTEA_PP(1);
	char		hex[65];

	sp_model_content_hash(VARDATA_ANY(config), VARSIZE_ANY_EXHDR(config),
				 (const uint8_t *) VARDATA_ANY(weights), VARSIZE_ANY_EXHDR(weights), hex);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}

static void
onnx_errcontext(void *arg)
{
	errcontext("importing ONNX model");
}

/* onnx_to_model(onnx bytea, config jsonb) -> (config text, weights bytea) */
Datum
siamese_onnx_to_model(PG_FUNCTION_ARGS)
{
	bytea	   *onnx = PG_GETARG_BYTEA_PP(0);
	text	   *import_cfg = PG_GETARG_TEXT_PP(1);	/* jsonb::text by the SQL wrapper */
	const sp_env *env = sp_pg_env();
	ErrorContextCallback cb;
	char	   *config;
	uint8_t    *weights;
	size_t		config_len,
				weights_len;
	sp_error	err;
	sp_status	st;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	bytea	   *w;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	cb.callback = onnx_errcontext;
	cb.arg = NULL;
	cb.previous = error_context_stack;
	error_context_stack = &cb;
	st = sp_nn_model_from_onnx(env, (const uint8_t *) VARDATA_ANY(onnx), VARSIZE_ANY_EXHDR(onnx),
							   VARDATA_ANY(import_cfg), VARSIZE_ANY_EXHDR(import_cfg),
							   &config, &config_len, &weights, &weights_len, &err);
	SP_PG_CHECK(st, &err);
	error_context_stack = cb.previous;
	values[0] = PointerGetDatum(cstring_to_text_with_len(config, (int) config_len));
	w = palloc(VARHDRSZ + weights_len);
	SET_VARSIZE(w, VARHDRSZ + weights_len);
	memcpy(VARDATA(w), weights, weights_len);
	values[1] = PointerGetDatum(w);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* ---------------------------------------------------------------------- */
/* Shipped models. */

static bool
valid_model_name(const char *s, size_t len)
{
	if (len < 1 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = s[i];
		bool		ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			(i > 0 && (c == '_' || c == '-'));

		if (!ok)
			return false;
	}
	return true;
}

/* Read a whole file (at most max_len bytes) into a varlena; NULL + WARNING on failure. */
static struct varlena *
read_file_varlena(const char *path, size_t max_len)
{
	FILE	   *f;
	struct stat stbuf;
	struct varlena *v;
	size_t		n;

	f = AllocateFile(path, PG_BINARY_R);
	if (f == NULL)
	{
		ereport(WARNING, (errcode_for_file_access(),
						  errmsg("could not open shipped model file \"%s\": %m", path)));
		return NULL;
	}
	if (fstat(fileno(f), &stbuf) != 0 || !S_ISREG(stbuf.st_mode) || (size_t) stbuf.st_size > max_len)
	{
		FreeFile(f);
		ereport(WARNING, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						  errmsg("shipped model file \"%s\" is not a regular file of at most %zu bytes",
								 path, max_len)));
		return NULL;
	}
	v = (struct varlena *) palloc_extended(VARHDRSZ + (size_t) stbuf.st_size, MCXT_ALLOC_HUGE);
	n = fread(VARDATA(v), 1, (size_t) stbuf.st_size, f);
	if (n != (size_t) stbuf.st_size || ferror(f))
	{
		FreeFile(f);
		pfree(v);
		ereport(WARNING, (errcode_for_file_access(),
						  errmsg("could not read shipped model file \"%s\"", path)));
		return NULL;
	}
	FreeFile(f);
	SET_VARSIZE(v, VARHDRSZ + n);
	return v;
}

static int
cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * _load_shipped_models(): insert every <name>.json + <name>.safetensors pair
 * of the share directory that is not in the catalog yet.  A model that fails
 * validation is skipped with a WARNING (the other models stay usable).
 */
Datum
siamese_load_shipped_models(PG_FUNCTION_ARGS)
{
	char		sharepath[MAXPGPATH];
	char		dirpath[MAXPGPATH];
	DIR		   *dir;
	struct dirent *de;
	char	  **names = NULL;
	int			n_names = 0,
				cap = 0,
				added = 0;

	get_share_path(my_exec_path, sharepath);
	snprintf(dirpath, sizeof dirpath, "%s/extension/siamese_pg", sharepath);

	dir = AllocateDir(dirpath);
	if (dir == NULL)
		PG_RETURN_INT32(0);		/* no models installed */
	while ((de = ReadDir(dir, dirpath)) != NULL)
	{
		size_t		len = strlen(de->d_name);

		if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0)
		{
			if (!valid_model_name(de->d_name, len - 5))
			{
				ereport(WARNING,
						(errmsg("skipping shipped model file \"%s\": not a valid model name", de->d_name)));
				continue;
			}
			if (n_names == cap)
			{
				cap = cap ? cap * 2 : 8;
				names = names ? repalloc(names, cap * sizeof(char *)) : palloc(cap * sizeof(char *));
			}
			names[n_names++] = pnstrdup(de->d_name, len - 5);
		}
	}
	FreeDir(dir);
	if (n_names > 1)
		qsort(names, n_names, sizeof(char *), cmp_cstr);

	for (int i = 0; i < n_names; i++)
	{
		char		path[MAXPGPATH];
		text	   *config;
		bytea	   *weights;
		char		hash[65];
		char	   *existing;
		sp_nn_model *model;
		sp_error	err;

		CHECK_FOR_INTERRUPTS();
		snprintf(path, sizeof path, "%s/%s.json", dirpath, names[i]);
		config = (text *) read_file_varlena(path, SP_NN_MAX_CONFIG_BYTES);
		if (config == NULL)
			continue;
		snprintf(path, sizeof path, "%s/%s.safetensors", dirpath, names[i]);
		weights = (bytea *) read_file_varlena(path, MaxAllocSize - VARHDRSZ);
		if (weights == NULL)
			continue;
		if (!pg_verifymbstr(VARDATA(config), VARSIZE(config) - VARHDRSZ, true))
		{
			ereport(WARNING,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("skipping shipped model \"%s\": its config is not valid text in the database encoding",
							names[i])));
			continue;
		}
		sp_model_content_hash(VARDATA(config), VARSIZE(config) - VARHDRSZ,
					 (const uint8_t *) VARDATA(weights), VARSIZE(weights) - VARHDRSZ, hash);
		if (sp_catalog_lookup(names[i], &existing, false, NULL, NULL))
		{
			if (strcmp(existing, hash) != 0)
				ereport(WARNING,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("skipping shipped model \"%s\": a model of that name with different content exists",
								names[i])));
			continue;
		}
		/* Validate here so a broken file is a WARNING, not a failed CREATE EXTENSION. */
		if (sp_nn_model_load(sp_pg_env(), VARDATA(config), VARSIZE(config) - VARHDRSZ,
							 (const uint8_t *) VARDATA(weights), VARSIZE(weights) - VARHDRSZ,
							 &model, &err) != SP_OK)
		{
			if (err.code == SP_ERR_INTERRUPTED)
				CHECK_FOR_INTERRUPTS();
			ereport(WARNING,
					(errcode(sp_pg_errcode(err.code)),
					 errmsg("skipping shipped model \"%s\": %s", names[i], err.message),
					 err.detail[0] ? errdetail("%s", err.detail) : 0));
			continue;
		}
		sp_nn_model_free(sp_pg_env(), model);

		{
			Oid			argtypes[3] = {TEXTOID, TEXTOID, BYTEAOID};
			Datum		args[3];
			int			ret;

			args[0] = CStringGetTextDatum(names[i]);
			args[1] = PointerGetDatum(config);
			args[2] = PointerGetDatum(weights);
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			ret = SPI_execute_with_args("INSERT INTO siamese.models "
										"(name, config_text, weights, builtin, description) "
										"VALUES ($1, $2, $3, true, 'shipped with siamese_pg')",
										3, argtypes, args, NULL, false, 0);
			if (ret != SPI_OK_INSERT)
				elog(ERROR, "could not insert shipped model \"%s\": %s", names[i],
					 SPI_result_code_string(ret));
			SPI_finish();
			added++;
		}
		pfree(config);
		pfree(weights);
	}
	PG_RETURN_INT32(added);
}
