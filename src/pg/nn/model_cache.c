/*
 * model_cache.c: the per-backend model cache and the BLAS kernel check.
 *
 * A model is loaded from its catalog row on first use in a backend (or
 * parallel worker) and kept, with a reused forward-pass workspace, in its own
 * memory context under TopMemoryContext, keyed by name and content hash.
 * Because a name is bound to one content hash forever (siamese.model_history),
 * a cached model can only become stale by being deleted; the catalog row's
 * hash is therefore re-read once per statement (transaction + command id),
 * a single index lookup, so a deleted model stops working at the next
 * statement and a cached entry never serves content other than the catalog's.
 */
#include "postgres.h"

#include "access/parallel.h"
#include "funcapi.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "nn/sgemm.h"
#include "pg/nn/model.h"
#include "pg/sp_pg.h"

#define SP_MODEL_CACHE_MAX 64	/* entries, whatever their size */
#define SP_WS_FLOATS (4 * 1024 * 1024)	/* input floats per workspace batch, about */

static SpCachedModel *cache_head = NULL;
static uint64 use_clock = 0;
static bool blas_checked = false;

static void *
cache_alloc(void *user, size_t size)
{
	return MemoryContextAllocExtended((MemoryContext) user, size == 0 ? 1 : size,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

static void
cache_free(void *user, void *ptr)
{
	pfree(ptr);
}

static void
cache_remove(SpCachedModel *cm)
{
	SpCachedModel **pp;

	for (pp = &cache_head; *pp; pp = &(*pp)->next)
	{
		if (*pp == cm)
		{
			*pp = cm->next;
			break;
		}
	}
	MemoryContextDelete(cm->cxt);
}

/*
 * Free least recently used models (never keep) while there are too many or
 * their memory exceeds siamese.nn.model_cache_size.
 */
static void
cache_evict(SpCachedModel *keep)
{
	for (;;)
	{
		int			n = 0;
		Size		total = 0;
		SpCachedModel *cm,
				   *lru = NULL;

		for (cm = cache_head; cm; cm = cm->next)
		{
			n++;
			total += cm->bytes;
			if (cm != keep && (lru == NULL || cm->last_used < lru->last_used))
				lru = cm;
		}
		if (!lru || (n <= SP_MODEL_CACHE_MAX && total <= (Size) siamese_model_cache_mb * 1024 * 1024))
			return;
		cache_remove(lru);
	}
}

static void
load_errcontext(void *arg)
{
	errcontext("loading model \"%s\"", (const char *) arg);
}

static SpCachedModel *
cache_load(const char *name)
{
	char	   *hash;
	text	   *config;
	bytea	   *weights;
	MemoryContext cxt;
	SpCachedModel *cm;
	sp_error	err;
	sp_status	st;
	int			in_size;

	if (!sp_catalog_lookup(name, &hash, true, &config, &weights))
		sp_catalog_unknown_model(name);

	cxt = AllocSetContextCreate(TopMemoryContext, "siamese model", ALLOCSET_DEFAULT_SIZES);
	cm = MemoryContextAllocZero(cxt, sizeof(SpCachedModel));
	cm->cxt = cxt;
	strlcpy(cm->name, name, sizeof cm->name);
	cm->env.alloc = cache_alloc;
	cm->env.free = cache_free;
	cm->env.interrupted = sp_pg_interrupt_poll;
	cm->env.user = cxt;
	cm->env.max_pixels = (uint64_t) siamese_max_image_pixels;

	/* No ereport between here and the error checks: a failure frees cxt first. */
	st = sp_nn_model_load(&cm->env, VARDATA_ANY(config), VARSIZE_ANY_EXHDR(config),
						  (const uint8_t *) VARDATA_ANY(weights), VARSIZE_ANY_EXHDR(weights),
						  &cm->model, &err);
	if (st == SP_OK)
	{
		in_size = sp_nn_model_input_size(cm->model);
		cm->max_batch = Max(1, Min(64, SP_WS_FLOATS / Max(in_size, 1)));
		st = sp_nn_workspace_create(&cm->env, cm->model, cm->max_batch, &cm->ws, &err);
		cm->ws_isa = sp_nn_default_isa();
	}
	if (st != SP_OK)
	{
		ErrorContextCallback cb;

		MemoryContextDelete(cxt);
		cb.callback = load_errcontext;
		cb.arg = (void *) name;
		cb.previous = error_context_stack;
		error_context_stack = &cb;
		sp_pg_raise(&err);
	}
	if (strcmp(sp_nn_model_hash(cm->model), hash) != 0)
	{
		/* The catalog's trigger computed this hash; a mismatch is corruption. */
		MemoryContextDelete(cxt);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model \"%s\" does not match its catalog hash", name)));
	}
	strlcpy(cm->hash, hash, sizeof cm->hash);
	pfree(config);
	pfree(weights);

	cm->bytes = MemoryContextMemAllocated(cxt, true);
	/* for administrators (and tests): a model is loaded once per backend */
	ereport(DEBUG1,
			(errmsg_internal("siamese_pg loaded model \"%s\" into this backend's cache (%zu bytes)",
							 name, (size_t) cm->bytes)));
	cm->next = cache_head;
	cache_head = cm;
	cache_evict(cm);
	return cm;
}

SpCachedModel *
sp_model_get(const char *name)
{
	SpCachedModel *cm;
	LocalTransactionId lxid = MyProc->lxid;
	CommandId	cid = GetCurrentCommandId(false);

	if (!blas_checked)
		sp_blas_check_core();

	for (cm = cache_head; cm; cm = cm->next)
		if (strcmp(cm->name, name) == 0)
			break;

	if (cm != NULL && (cm->checked_lxid != lxid || cm->checked_cid != cid))
	{
		char	   *hash;

		if (!sp_catalog_lookup(name, &hash, false, NULL, NULL))
		{
			cache_remove(cm);
			sp_catalog_unknown_model(name);
		}
		if (strcmp(hash, cm->hash) != 0)
		{
			/* Cannot happen while model_history holds; reload rather than trust it. */
			cache_remove(cm);
			cm = NULL;
		}
		else
			pfree(hash);
	}
	/*
	 * Follow siamese.nn.isa as it is now: a model's kernels are chosen when
	 * it is prepared, so a model loaded under another setting loads again.
	 */
	if (cm != NULL && cm->ws_isa != sp_nn_default_isa())
	{
		cache_remove(cm);
		cm = NULL;
	}
	if (cm == NULL)
		cm = cache_load(name);
	cm->checked_lxid = lxid;
	cm->checked_cid = cid;
	cm->last_used = ++use_clock;
	/* Follow siamese.image.max_pixels as it is now. */
	cm->env.max_pixels = (uint64_t) siamese_max_image_pixels;
	return cm;
}

/* model_cache() -> SETOF (name, hash, bytes, uses): this backend's cache, most recent first */
PG_FUNCTION_INFO_V1(siamese_model_cache);

Datum
siamese_model_cache(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SpCachedModel *cm;

	InitMaterializedSRF(fcinfo, 0);
	for (cm = cache_head; cm; cm = cm->next)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(cm->name);
		values[1] = CStringGetTextDatum(cm->hash);
		values[2] = Int64GetDatum((int64) cm->bytes);
		values[3] = Int64GetDatum((int64) cm->last_used);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---------------------------------------------------------------------- */
/* BLAS kernel check. */

/*
 * With siamese.nn.gemm = auto, matrix multiplies leave an OpenBLAS whose
 * kernels do not suit the CPU for BLIS (nn/sgemm.h), so nothing needs saying.
 * Only when openblas is forced does the old advice matter: it goes to the
 * server log (LOG), never to clients, once per backend (a once-per-server
 * flag needs shared memory, which an extension not in
 * shared_preload_libraries cannot reserve).  Users see the same in
 * siamese.blas_info().
 */
void
sp_blas_check_core(void)
{
	const char *isa;
	const char *suggest;

	/* One BLAS thread per backend: parallel workers, not BLAS threads, use the cores. */
	sp_blas_set_threads(1);
	if (blas_checked)
		return;
	blas_checked = true;
	if (IsParallelWorker() || sp_gemm_backend_in_use() != SP_GEMM_OPENBLAS)
		return;
	suggest = sp_blas_suggested_core(&isa);
	if (suggest)
		ereport(LOG,
				(errmsg("OpenBLAS is running its \"%s\" kernels although this CPU supports %s",
						sp_blas_corename(), isa),
				 errdetail("siamese.nn.gemm is set to openblas, so model forward passes may run several times slower than with auto."),
				 errhint("Set siamese.nn.gemm to auto, or OPENBLAS_CORETYPE=%s in the environment of the PostgreSQL server "
						 "and restart it; siamese.blas_info() shows the kernels in use.", suggest)));
}
