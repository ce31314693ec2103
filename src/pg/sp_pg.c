/*
 * sp_pg.c: core-to-PostgreSQL bridge (allocator, interrupts, error mapping).
 */
#include "pg/sp_pg.h"

#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

static void *
pg_core_alloc(void *user, size_t size)
{
	/* Huge + no-OOM: the core checks NULL and reports SP_ERR_NOMEM itself. */
	return palloc_extended(size == 0 ? 1 : size, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

static void
pg_core_free(void *user, void *ptr)
{
	pfree(ptr);
}

/*
 * Ask the core to unwind only for interrupts that CHECK_FOR_INTERRUPTS()
 * would turn into an error (cancel, statement timeout, termination, lost
 * client) and only where they can be processed.  Other interrupts, such as
 * a parallel worker's message arriving at the leader, also set
 * InterruptPending but are served without error: the glue's own
 * CHECK_FOR_INTERRUPTS() after the core call handles them, and aborting the
 * computation for them would fail a healthy query.
 */
int
sp_pg_interrupt_poll(void *user)
{
	if (!InterruptPending || !INTERRUPTS_CAN_BE_PROCESSED())
		return 0;
	return (QueryCancelPending || ProcDiePending || ClientConnectionLost) ? 1 : 0;
}

const sp_env *
sp_pg_env(void)
{
	static sp_env env;

	env.alloc = pg_core_alloc;
	env.free = pg_core_free;
	env.interrupted = sp_pg_interrupt_poll;
	env.user = NULL;
	env.max_pixels = (uint64_t) siamese_max_image_pixels;
	return &env;
}

int
sp_pg_errcode(sp_status code)
{
	switch (code)
	{
		case SP_OK:
			return ERRCODE_SUCCESSFUL_COMPLETION;
		case SP_ERR_CORRUPT:
			return ERRCODE_INVALID_BINARY_REPRESENTATION;
		case SP_ERR_UNSUPPORTED:
			return ERRCODE_FEATURE_NOT_SUPPORTED;
		case SP_ERR_LIMIT:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case SP_ERR_NOMEM:
			return ERRCODE_OUT_OF_MEMORY;
		case SP_ERR_INVALID_ARG:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case SP_ERR_INTERRUPTED:
			return ERRCODE_QUERY_CANCELED;
		case SP_ERR_IO:
			return ERRCODE_IO_ERROR;
		case SP_ERR_INTERNAL:
			return ERRCODE_INTERNAL_ERROR;
	}
	return ERRCODE_INTERNAL_ERROR;
}

void
sp_pg_raise(const sp_error *err)
{
	/* An interrupted core call means a cancel or die is pending: serve it. */
	if (err->code == SP_ERR_INTERRUPTED)
		CHECK_FOR_INTERRUPTS();

	ereport(ERROR,
			(errcode(sp_pg_errcode(err->code)),
			 errmsg("%s", err->message[0] ? err->message : sp_status_name(err->code)),
			 err->detail[0] ? errdetail("%s", err->detail) : 0,
			 err->hint[0] ? errhint("%s", err->hint) : 0));
	pg_unreachable();
}

void
sp_pg_decode_image(bytea *data, sp_image *out)
{
	const sp_env *env = sp_pg_env();
	sp_error	err;
	sp_status	st;

	st = sp_image_decode(env, (const uint8_t *) VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data),
						 out, &err);
	SP_PG_CHECK(st, &err);
}

bytea *
sp_pg_image_to_png(const sp_image *img)
{
	return sp_pg_image_to_png_mode(img, SP_PNG_COMPACT);
}

bytea *
sp_pg_image_to_png_mode(const sp_image *img, sp_png_mode mode)
{
	const sp_env *env = sp_pg_env();
	sp_error	err;
	sp_status	st;
	uint8_t    *png;
	size_t		png_len;
	bytea	   *result;

	st = sp_png_encode_mode(env, img, mode, &png, &png_len, &err);
	SP_PG_CHECK(st, &err);
	if (png_len > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("encoded PNG of %zu bytes is too large for a bytea value", png_len)));
	result = (bytea *) palloc(VARHDRSZ + png_len);
	SET_VARSIZE(result, VARHDRSZ + png_len);
	memcpy(VARDATA(result), png, png_len);
	sp_free(env, png);
	return result;
}

bool
sp_pg_is_citus_table(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};

	if (!OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)))
		return false;
	return SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_dist_partition "
								 "WHERE logicalrelid OPERATOR(pg_catalog.=) $1",
								 1, argtypes, args, NULL, true, 1) == SPI_OK_SELECT && SPI_processed > 0;
}
