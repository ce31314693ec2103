/*
 * corrupt_sql.c: SQL functions over the ImageNet-C corruptions of the core
 * (src/core/corrupt*.c): corruptions(), corrupt(), corruption_contact_sheet().
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "draw/contact_sheet.h"
#include "robust/corrupt.h"
#include "pg/sp_pg.h"

PG_FUNCTION_INFO_V1(siamese_corruptions);
PG_FUNCTION_INFO_V1(siamese_corrupt);
PG_FUNCTION_INFO_V1(siamese_corruption_contact_sheet);

/* profile text -> enum, raising the core's error (which lists valid names) */
static sp_corrupt_profile
parse_profile(text *profile_text)
{
	char	   *name = text_to_cstring(profile_text);
	sp_corrupt_profile profile;
	sp_error	err;

	SP_PG_CHECK(sp_corrupt_profile_parse(name, &profile, &err), &err);
	pfree(name);
	return profile;
}

/* corruptions() -> SETOF (name, category, benchmark, description) */
Datum
siamese_corruptions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < sp_corruption_count(); i++)
	{
		const sp_corruption_info *info = sp_corruption_get(i);
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(info->name);
		values[1] = CStringGetTextDatum(sp_corrupt_category_name(info->category));
		values[2] = BoolGetDatum(info->benchmark != 0);
		values[3] = CStringGetTextDatum(info->description ? info->description : "");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* corrupt(image, corruption, severity, seed, profile) -> PNG bytea */
Datum
siamese_corrupt(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int32		severity = PG_GETARG_INT32(2);
	int64		seed = PG_GETARG_INT64(3);
	sp_corrupt_profile profile = parse_profile(PG_GETARG_TEXT_PP(4));
	const sp_env *env = sp_pg_env();
	sp_image	img,
				out;
	sp_error	err;
	sp_status	st;
	bytea	   *result;

	/* Validate the cheap arguments before decoding the image. */
	if (!sp_corruption_lookup(name) || severity < 0 || severity > SP_CORRUPT_MAX_SEVERITY)
	{
		sp_image	dummy = {1, 1, 1, (uint8_t *) "\0"};

		st = sp_corrupt(env, &dummy, name, severity, (uint64_t) seed, profile, &out, &err);
		if (st == SP_OK)
			sp_image_free(env, &out);
		SP_PG_CHECK(st, &err);
	}

	sp_pg_decode_image(data, &img);
	st = sp_corrupt(env, &img, name, severity, (uint64_t) seed, profile, &out, &err);
	sp_image_free(env, &img);
	SP_PG_CHECK(st, &err);

	/* usually embedded at once: the fast PNG settings (docs/performance.md) */
	result = sp_pg_image_to_png_mode(&out, SP_PNG_FAST);
	sp_image_free(env, &out);
	PG_RETURN_BYTEA_P(result);
}

/* corruption_contact_sheet(image, seed, profile, corruptions text[]) -> PNG bytea */
Datum
siamese_corruption_contact_sheet(PG_FUNCTION_ARGS)
{
	bytea	   *data;
	int64		seed;
	sp_corrupt_profile profile;
	const char **names = NULL;
	int			n_names = 0;
	const sp_env *env = sp_pg_env();
	sp_image	img,
				sheet;
	sp_error	err;
	sp_status	st;
	bytea	   *result;

	/* Not STRICT because the corruption list may be NULL (= all). */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	data = PG_GETARG_BYTEA_PP(0);
	seed = PG_GETARG_INT64(1);
	profile = parse_profile(PG_GETARG_TEXT_PP(2));

	if (!PG_ARGISNULL(3))
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(3);
		Datum	   *elems;
		bool	   *elem_nulls;

		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("corruption list must be a one-dimensional array")));
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &n_names);
		names = palloc(sizeof(char *) * Max(n_names, 1));
		for (int i = 0; i < n_names; i++)
		{
			if (elem_nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("corruption list must not contain NULL")));
			names[i] = TextDatumGetCString(elems[i]);
		}
	}

	sp_pg_decode_image(data, &img);
	st = sp_contact_sheet(env, &img, names, n_names, (uint64_t) seed, profile, &sheet, &err);
	sp_image_free(env, &img);
	SP_PG_CHECK(st, &err);
	result = sp_pg_image_to_png(&sheet);
	sp_image_free(env, &sheet);
	PG_RETURN_BYTEA_P(result);
}
