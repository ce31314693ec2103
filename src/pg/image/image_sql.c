/*
 * image_sql.c: SQL surface of the image codecs: siamese.image_info(bytea)
 * reads a PNG/JPEG header, siamese.to_png(bytea) re-encodes any supported
 * image as PNG.  All work is done by the pure-C core (src/core/image*.c);
 * this file only moves bytes in and out and raises core errors.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "image/image.h"
#include "pg/sp_pg.h"

/*
 * image_info first looks at this many leading bytes only: PNG and JPEG
 * headers (IHDR/PLTE/tRNS, or the markers up to the first SOS) almost always
 * fit, and fetching a slice avoids detoasting a multi-megabyte image.
 */
#define IMAGE_INFO_PREFIX 65536

PG_FUNCTION_INFO_V1(siamese_image_info);
PG_FUNCTION_INFO_V1(siamese_to_png);

/*
 * image_info(bytea) -> (format, width, height, channels, bit_depth,
 * color_model, interlaced).  Header only: siamese.image.max_pixels does not
 * apply, so it can describe images too large to decode.
 */
Datum
siamese_image_info(PG_FUNCTION_ARGS)
{
	Datum		raw = PG_GETARG_DATUM(0);
	TupleDesc	tupdesc;
	sp_image_info info;
	sp_error	err;
	sp_status	st = SP_ERR_CORRUPT;
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));
	tupdesc = BlessTupleDesc(tupdesc);

	/*
	 * Try a prefix first.  A successful probe of a prefix is the same as a
	 * probe of the whole value (the probe never reads past the header); any
	 * failure is retried on the full value so errors are reported exactly.
	 */
	if (toast_raw_datum_size(raw) - VARHDRSZ > IMAGE_INFO_PREFIX)
	{
		bytea	   *prefix = DatumGetByteaPSlice(raw, 0, IMAGE_INFO_PREFIX);

		st = sp_image_probe((const uint8_t *) VARDATA_ANY(prefix), VARSIZE_ANY_EXHDR(prefix),
							&info, &err);
	}
	if (st != SP_OK)
	{
		bytea	   *data = DatumGetByteaPP(raw);

		st = sp_image_probe((const uint8_t *) VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data),
							&info, &err);
		SP_PG_CHECK(st, &err);
	}

	values[0] = CStringGetTextDatum(sp_image_format_name(info.format));
	values[1] = Int32GetDatum(info.width);
	values[2] = Int32GetDatum(info.height);
	values[3] = Int32GetDatum(info.channels);
	values[4] = Int32GetDatum(info.bit_depth);
	values[5] = CStringGetTextDatum(info.color_model);
	values[6] = BoolGetDatum(info.interlaced != 0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * to_png(bytea) -> bytea: decode (subject to siamese.image.max_pixels) and
 * encode as 8-bit gray or RGB PNG.  Deterministic for a given libpng/zlib.
 */
Datum
siamese_to_png(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	sp_image	img;
	bytea	   *result;

	sp_pg_decode_image(data, &img);
	CHECK_FOR_INTERRUPTS();
	result = sp_pg_image_to_png(&img);
	sp_image_free(sp_pg_env(), &img);
	PG_FREE_IF_COPY(data, 0);
	PG_RETURN_BYTEA_P(result);
}
