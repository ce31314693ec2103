/*
 * hnsw_build_parallel.c: the parallel CREATE INDEX of siamese_hnsw: the
 * shared graph in the DSM segment, the worker entry point, the leader's
 * part in the scan and the hand-over of the finished graph to the serial
 * layout code.
 *
 * PostgreSQL 15 has no amcanbuildparallel, so ambuild starts the parallel
 * context itself: when plan_create_index_workers() grants workers, the
 * column has a fixed dimension and the whole graph fits in
 * maintenance_work_mem, the graph lives in the DSM segment instead of
 * backend memory.  Node ids are handed out by an atomic counter; every
 * element has an LWLock guarding its neighbour lists (its vector and level
 * never change once it is published), a spinlock guards the entry point,
 * and no process ever holds two element locks, so there is no deadlock.
 * Workers and the leader insert the rows of a parallel heap scan; the
 * leader then points the build state's in-memory graph at the shared one
 * and writes and WAL-logs the pages with hnsw_build_flush_graph(), exactly
 * like the serial build.  If the table turns out larger than estimated (the
 * shared arrays are sized up front), the parallel attempt is discarded and
 * ambuild runs the serial build instead (hnsw_build.c).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/parallel.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "optimizer/plancat.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "hnsw/hnsw_build.h"

#define PARALLEL_KEY_SHARED		UINT64CONST(0x5EA5E50000000001)
#define PARALLEL_KEY_GRAPH		UINT64CONST(0x5EA5E50000000002)

/* Control block in the DSM segment; the parallel heap scan follows it. */
typedef struct HnswShared
{
	Oid			heaprelid;
	Oid			indexrelid;
	bool		isconcurrent;
	int			dims;
	int			m;
	int			efc;
	int			kind;
	int			maxlevel;
	int			tranche;		/* LWLock tranche of the element locks */
	int64		capelems;		/* element slots in the graph chunk */
	uint64		poolwords;		/* int32 words in the neighbour pool */
	Size		off_vecs;		/* offsets of the arrays in the graph chunk */
	Size		off_pool;

	pg_atomic_uint64 nelems;	/* ids handed out (may pass capelems) */
	pg_atomic_uint64 poolused;
	pg_atomic_uint64 ninserted; /* elements fully linked (progress) */
	pg_atomic_uint32 overflow;	/* the graph did not fit: discard it */

	slock_t		mutex;			/* protects the fields below */
	int64		entry;			/* -1: empty */
	int			top;
	double		reltuples;		/* summed over participants */
	double		indtuples;
} HnswShared;

#define ParallelTableScanFromHnswShared(sh) \
	((ParallelTableScanDesc) ((char *) (sh) + BUFFERALIGN(sizeof(HnswShared))))

/*
 * One element of the shared graph.  Its neighbour storage in the pool is
 * laid out like BuildElement's: (level + 2) m int32 slots, then level + 1
 * uint16 counts, so the leader can hand the shared graph to
 * hnsw_build_flush_graph.
 */
typedef struct SharedElem
{
	LWLock		lock;			/* guards the neighbour lists and counts */
	ItemPointerData heaptid;
	int16		level;
	uint64		nboff;			/* in int32 words from the pool start */
} SharedElem;

/* LWLock tranche of the element locks, allocated on first use. */
static int	build_tranche = 0;

/* One participant's view of the shared graph. */
typedef struct HnswParState
{
	HnswShared *sh;
	SharedElem *elems;
	float	   *vecs;
	int32	   *pool;
	int			dims;
	int			m;
	int			efc;
	HnswMetric	metric;
	HnswSource	src;
	pg_prng_state rng;
	MemoryContext tmpctx;
	float	   *vecbuf;
	double		indtuples;
	bool		leader;
} HnswParState;

static inline Size
par_nb_words(int m, int level)
{
	return (Size) hnsw_total_slots(m, level) + (Size) (level + 2) / 2;
}

static inline int32 *
par_nb(HnswParState *ps, SharedElem *e)
{
	return ps->pool + e->nboff;
}

static inline uint16 *
par_count(HnswParState *ps, SharedElem *e)
{
	return (uint16 *) (ps->pool + e->nboff + hnsw_total_slots(ps->m, e->level));
}

static inline const float *
par_vec(HnswParState *ps, int64 id)
{
	return ps->vecs + (Size) id * ps->dims;
}

static int
par_neighbours(void *arg, HnswId id, int level, HnswId *out)
{
	HnswParState *ps = arg;
	SharedElem *e = &ps->elems[id];
	int32	   *nb;
	int			n;
	int			i;

	if (level > e->level)
		return 0;
	nb = par_nb(ps, e) + hnsw_level_offset(ps->m, level);
	LWLockAcquire(&e->lock, LW_SHARED);
	n = par_count(ps, e)[level];
	for (i = 0; i < n; i++)
		out[i] = (HnswId) nb[i];
	LWLockRelease(&e->lock);
	return n;
}

static const float *
par_vector(void *arg, HnswId id, ItemPointer htid)
{
	HnswParState *ps = arg;

	*htid = ps->elems[id].heaptid;
	return par_vec(ps, (int64) id);
}

static void
par_distances(void *arg, const HnswId *ids, int n, const float *q, HnswCandidate *out)
{
	HnswParState *ps = arg;

	hnsw_score_in_memory(&ps->metric, ps->dims, par_vector, arg, ids, n, q, out);
}

/*
 * Make s's layer-lc list hold the union of its current entries and the
 * extra ones (the heuristic picks cap of them when they do not all fit).
 * items and sel have room for cap + nextra entries.
 */
static void
par_merge(HnswParState *ps, int64 s, int lc, const int64 *extra, int nextra,
		  HnswSelectItem *items, int *sel)
{
	SharedElem *e = &ps->elems[s];
	int			cap = hnsw_level_capacity(ps->m, lc);
	int32	   *nb = par_nb(ps, e) + hnsw_level_offset(ps->m, lc);
	const float *svec = par_vec(ps, s);
	int			cnt;
	int			nitems;
	int			nsel;
	int			i;
	int			j;

	LWLockAcquire(&e->lock, LW_EXCLUSIVE);
	cnt = par_count(ps, e)[lc];
	nitems = 0;
	for (i = 0; i < cnt; i++)
	{
		items[nitems].id = nb[i];
		items[nitems].vec = par_vec(ps, nb[i]);
		nitems++;
	}
	for (j = 0; j < nextra; j++)
	{
		bool		dup = (extra[j] == s);

		for (i = 0; i < nitems && !dup; i++)
			dup = ((int64) items[i].id == extra[j]);
		if (dup)
			continue;
		items[nitems].id = extra[j];
		items[nitems].vec = par_vec(ps, extra[j]);
		nitems++;
	}
	if (nitems <= cap)
	{
		for (i = cnt; i < nitems; i++)
			nb[i] = (int32) items[i].id;
		par_count(ps, e)[lc] = nitems;
	}
	else
	{
		for (i = 0; i < nitems; i++)
			items[i].dist = hnsw_distance(&ps->metric, svec, items[i].vec, ps->dims);
		nsel = hnsw_select_neighbours(&ps->metric, ps->dims, items, nitems, cap,
									  (uint64) s, sel);
		for (i = 0; i < nsel; i++)
			nb[i] = (int32) items[sel[i]].id;
		par_count(ps, e)[lc] = nsel;
	}
	LWLockRelease(&e->lock);
}

/* Link the published element n into the shared graph. */
static void
par_insert(HnswParState *ps, int64 n)
{
	HnswShared *sh = ps->sh;
	SharedElem *e = &ps->elems[n];
	const float *q = par_vec(ps, n);
	int			level = e->level;
	int			cap0 = hnsw_level_capacity(ps->m, 0);
	int64		entry;
	int			top;
	HnswCandidate *w;
	HnswCandidate *eps;
	int			neps;
	HnswSelectItem *items;
	int		   *sel;
	int64	   *chosen;
	int			lc;
	MemoryContext old;

	SpinLockAcquire(&sh->mutex);
	entry = sh->entry;
	top = sh->top;
	if (entry < 0)
	{
		sh->entry = n;
		sh->top = level;
	}
	SpinLockRelease(&sh->mutex);
	if (entry < 0)
		return;

	old = MemoryContextSwitchTo(ps->tmpctx);
	w = palloc(sizeof(HnswCandidate) * ps->efc);
	eps = palloc(sizeof(HnswCandidate) * ps->efc);
	items = palloc(sizeof(HnswSelectItem) * (ps->efc + cap0 + 1));
	sel = palloc(sizeof(int) * (ps->efc + cap0 + 1));
	chosen = palloc(sizeof(int64) * (cap0 + 1));

	eps[0] = hnsw_source_score(&ps->src, (HnswId) entry, q);
	neps = 1;
	for (lc = top; lc > level; lc--)
	{
		if (hnsw_search_layer(&ps->src, q, eps, neps, 1, lc, false, w) > 0)
			eps[0] = w[0];
	}
	for (lc = Min(level, top); lc >= 0; lc--)
	{
		int			nw = hnsw_search_layer(&ps->src, q, eps, neps, ps->efc, lc, false, w);
		int			nitems = 0;
		int			nsel;
		int			i;

		/* a concurrent insert may already have linked n: never self-link */
		for (i = 0; i < nw; i++)
		{
			if ((int64) w[i].id == n)
				continue;
			items[nitems].id = w[i].id;
			items[nitems].dist = w[i].dist;
			items[nitems].vec = par_vec(ps, (int64) w[i].id);
			nitems++;
		}
		nsel = hnsw_select_neighbours(&ps->metric, ps->dims, items, nitems,
									  hnsw_level_capacity(ps->m, lc), (uint64) n, sel);
		for (i = 0; i < nsel; i++)
			chosen[i] = (int64) items[sel[i]].id;
		/* keep links concurrent inserts made to n meanwhile */
		par_merge(ps, n, lc, chosen, nsel, items, sel);
		for (i = 0; i < nsel; i++)
			par_merge(ps, chosen[i], lc, &n, 1, items, sel);
		if (nw > 0)
		{
			memcpy(eps, w, sizeof(HnswCandidate) * nw);
			neps = nw;
		}
	}
	if (level > top)
	{
		SpinLockAcquire(&sh->mutex);
		if (level > sh->top)
		{
			sh->entry = n;
			sh->top = level;
		}
		SpinLockRelease(&sh->mutex);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(ps->tmpctx);
}

static void
par_build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
				   bool tupleIsAlive, void *state)
{
	HnswParState *ps = state;
	HnswShared *sh = ps->sh;
	MemoryContext old;
	Embedding  *emb;
	uint64		n;
	uint64		off;
	int			level;
	Size		words;
	SharedElem *e;

	CHECK_FOR_INTERRUPTS();
	if (isnull[0] || pg_atomic_read_u32(&sh->overflow) != 0)
		return;

	old = MemoryContextSwitchTo(ps->tmpctx);
	emb = hnsw_datum_embedding(values[0]);
	if (emb->dim != ps->dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot build siamese_hnsw index \"%s\" on embeddings of different dimensions",
						RelationGetRelationName(index)),
				 errdetail("Found embeddings of %d and %d dimensions.", ps->dims, emb->dim)));
	if (!hnsw_prepare_vector(&ps->metric, emb->x, emb->dim, ps->vecbuf))
	{
		/* zero vector under cosine distance: not indexed */
		MemoryContextSwitchTo(old);
		MemoryContextReset(ps->tmpctx);
		return;
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(ps->tmpctx);

	/* allocate an id and its neighbour storage; give up if out of room */
	n = pg_atomic_fetch_add_u64(&sh->nelems, 1);
	level = hnsw_random_level(&ps->rng, ps->m, sh->maxlevel);
	words = par_nb_words(ps->m, level);
	if (n >= (uint64) sh->capelems)
	{
		pg_atomic_write_u32(&sh->overflow, 1);
		return;
	}
	off = pg_atomic_fetch_add_u64(&sh->poolused, words);
	if (off + words > sh->poolwords)
	{
		pg_atomic_write_u32(&sh->overflow, 1);
		return;
	}

	/* initialise before publishing: nobody can reach n yet */
	e = &ps->elems[n];
	LWLockInitialize(&e->lock, sh->tranche);
	e->heaptid = *tid;
	e->level = level;
	e->nboff = off;
	memset(ps->pool + off, 0, sizeof(int32) * words);
	memcpy(ps->vecs + (Size) n * ps->dims, ps->vecbuf, sizeof(float) * ps->dims);

	par_insert(ps, (int64) n);
	ps->indtuples++;
	n = pg_atomic_add_fetch_u64(&sh->ninserted, 1);
	if (ps->leader)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) n);
}

/* Scan this participant's share of the heap into the shared graph. */
static void
par_scan(HnswShared *sh, char *graph, Relation heap, Relation index,
		 IndexInfo *indexInfo, bool leader)
{
	HnswParState ps;
	TableScanDesc scan;
	double		reltuples;

	memset(&ps, 0, sizeof(ps));
	ps.sh = sh;
	ps.elems = (SharedElem *) graph;
	ps.vecs = (float *) (graph + sh->off_vecs);
	ps.pool = (int32 *) (graph + sh->off_pool);
	ps.dims = sh->dims;
	ps.m = sh->m;
	ps.efc = sh->efc;
	ps.leader = leader;
	hnsw_init_metric(&ps.metric, sh->kind);
	ps.src.arg = &ps;
	ps.src.neighbours = par_neighbours;
	ps.src.distances = par_distances;
	ps.src.m = sh->m;
	/* a different level sequence in every participant */
	pg_prng_seed(&ps.rng, HNSW_BUILD_SEED + (uint64) (ParallelWorkerNumber + 1));
	ps.tmpctx = AllocSetContextCreate(CurrentMemoryContext, "siamese_hnsw parallel build temp",
									  ALLOCSET_DEFAULT_SIZES);
	ps.vecbuf = palloc(sizeof(float) * ps.dims);

	scan = table_beginscan_parallel(heap, ParallelTableScanFromHnswShared(sh));
	reltuples = table_index_build_scan(heap, index, indexInfo, true, leader,
									   par_build_callback, &ps, scan);

	SpinLockAcquire(&sh->mutex);
	sh->reltuples += reltuples;
	sh->indtuples += ps.indtuples;
	SpinLockRelease(&sh->mutex);
	MemoryContextDelete(ps.tmpctx);
	pfree(ps.vecbuf);
}

/* Entry point of a parallel build worker (found by name by the leader). */
PGDLLEXPORT void hnsw_parallel_build_main(dsm_segment *seg, shm_toc *toc);

void
hnsw_parallel_build_main(dsm_segment *seg, shm_toc *toc)
{
	HnswShared *sh;
	char	   *graph;
	Relation	heap;
	Relation	index;
	IndexInfo  *indexInfo;
	LOCKMODE	heapLockmode;

	sh = shm_toc_lookup(toc, PARALLEL_KEY_SHARED, false);
	graph = shm_toc_lookup(toc, PARALLEL_KEY_GRAPH, false);
	LWLockRegisterTranche(sh->tranche, "siamese_hnsw_build");

	/* the same locks the leader holds (lock group: no conflict) */
	heapLockmode = sh->isconcurrent ? ShareUpdateExclusiveLock : ShareLock;
	heap = table_open(sh->heaprelid, heapLockmode);
	index = index_open(sh->indexrelid, RowExclusiveLock);
	indexInfo = BuildIndexInfo(index);
	indexInfo->ii_Concurrent = sh->isconcurrent;

	par_scan(sh, graph, heap, index, indexInfo, false);

	index_close(index, RowExclusiveLock);
	table_close(heap, heapLockmode);
}

/* Try a parallel build into bs (see hnsw_build.h). */
bool
hnsw_try_parallel_build(HnswBuildState *bs, IndexInfo *indexInfo)
{
	Relation	heap = bs->heap;
	Relation	index = bs->index;
	int			nworkers;
	BlockNumber pages;
	double		tuples;
	double		allvisfrac;
	int64		cap;
	uint64		poolwords;
	Size		sz_elems;
	Size		sz_vecs;
	Size		sz_pool;
	Size		graphsize;
	Size		sharedsize;
	Snapshot	snapshot;
	ParallelContext *pcxt;
	HnswShared *sh;
	char	   *graph;
	int64		n;
	int64		i;
	bool		ok;

	if (bs->dims <= 0 || bs->maxlevel < 0 || IsInParallelMode() || !IsNormalProcessingMode())
		return false;
	nworkers = plan_create_index_workers(RelationGetRelid(heap), RelationGetRelid(index));
	if (nworkers <= 0)
		return false;

	/* size the shared graph for the estimated rows plus a margin */
	estimate_rel_size(heap, NULL, &pages, &tuples, &allvisfrac);
	cap = (int64) (Max(tuples, 0) * 1.2) + 1024;
	poolwords = (uint64) cap * par_nb_words(bs->m, 0)
		+ (uint64) cap * (bs->m + 1) * 2 / (bs->m - 1)
		+ (uint64) 64 * par_nb_words(bs->m, HNSW_MAX_LEVEL);
	sz_elems = MAXALIGN(sizeof(SharedElem) * (Size) cap);
	sz_vecs = MAXALIGN(sizeof(float) * (Size) bs->dims * (Size) cap);
	sz_pool = MAXALIGN(sizeof(int32) * (Size) poolwords);
	graphsize = sz_elems + sz_vecs + sz_pool;
	if (graphsize > bs->memlimit)
	{
		/* the user asked for workers: say why they are not used */
		ereport(NOTICE,
				(errmsg("building index \"%s\" without parallel workers",
						RelationGetRelationName(index)),
				 errdetail("The parallel build needs about %zu MB of shared memory for the graph; maintenance_work_mem is %d MB.",
						   graphsize >> 20, (int) (bs->memlimit >> 20)),
				 errhint("Raise maintenance_work_mem to build with parallel workers.")));
		return false;
	}

	EnterParallelMode();
	pcxt = CreateParallelContext("siamese_pg", "hnsw_parallel_build_main", nworkers);

	snapshot = indexInfo->ii_Concurrent ? RegisterSnapshot(GetTransactionSnapshot()) : SnapshotAny;
	sharedsize = BUFFERALIGN(sizeof(HnswShared)) + table_parallelscan_estimate(heap, snapshot);
	shm_toc_estimate_chunk(&pcxt->estimator, sharedsize);
	shm_toc_estimate_chunk(&pcxt->estimator, graphsize);
	shm_toc_estimate_keys(&pcxt->estimator, 2);
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		/* no DSM segment available */
		if (IsMVCCSnapshot(snapshot))
			UnregisterSnapshot(snapshot);
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return false;
	}

	sh = shm_toc_allocate(pcxt->toc, sharedsize);
	memset(sh, 0, sizeof(HnswShared));
	sh->heaprelid = RelationGetRelid(heap);
	sh->indexrelid = RelationGetRelid(index);
	sh->isconcurrent = indexInfo->ii_Concurrent;
	sh->dims = bs->dims;
	sh->m = bs->m;
	sh->efc = bs->efc;
	sh->kind = bs->kind;
	sh->maxlevel = bs->maxlevel;
	/* one tranche id per backend, not one per build */
	if (build_tranche == 0)
		build_tranche = LWLockNewTrancheId();
	sh->tranche = build_tranche;
	sh->capelems = cap;
	sh->poolwords = poolwords;
	sh->off_vecs = sz_elems;
	sh->off_pool = sz_elems + sz_vecs;
	pg_atomic_init_u64(&sh->nelems, 0);
	pg_atomic_init_u64(&sh->poolused, 0);
	pg_atomic_init_u64(&sh->ninserted, 0);
	pg_atomic_init_u32(&sh->overflow, 0);
	SpinLockInit(&sh->mutex);
	sh->entry = -1;
	sh->top = -1;
	table_parallelscan_initialize(heap, ParallelTableScanFromHnswShared(sh), snapshot);
	graph = shm_toc_allocate(pcxt->toc, graphsize);
	shm_toc_insert(pcxt->toc, PARALLEL_KEY_SHARED, sh);
	shm_toc_insert(pcxt->toc, PARALLEL_KEY_GRAPH, graph);
	LWLockRegisterTranche(sh->tranche, "siamese_hnsw_build");

	LaunchParallelWorkers(pcxt);
	ereport(DEBUG1,
			(errmsg_internal("siamese_hnsw: parallel build of \"%s\" with %d of %d requested workers launched, shared graph %zu bytes",
							 RelationGetRelationName(index), pcxt->nworkers_launched,
							 nworkers, graphsize)));

	/* the leader takes part */
	par_scan(sh, graph, heap, index, indexInfo, true);
	WaitForParallelWorkersToFinish(pcxt);

	ok = (pg_atomic_read_u32(&sh->overflow) == 0);
	if (ok)
	{
		/* hand the shared graph to the serial layout code */
		SharedElem *se = (SharedElem *) graph;
		float	   *vecs = (float *) (graph + sh->off_vecs);
		int32	   *pool = (int32 *) (graph + sh->off_pool);
		MemoryContext old = MemoryContextSwitchTo(bs->graphctx);

		n = (int64) pg_atomic_read_u64(&sh->nelems);
		Assert(n <= cap);
		bs->nelems = n;
		bs->capelems = Max(n, 1);
		bs->elems = palloc_extended(sizeof(BuildElement) * (Size) bs->capelems, MCXT_ALLOC_HUGE);
		for (i = 0; i < n; i++)
		{
			BuildElement *e = &bs->elems[i];

			e->heaptid = se[i].heaptid;
			e->level = se[i].level;
			e->nb = pool + se[i].nboff;
			e->count = (uint16 *) (pool + se[i].nboff + hnsw_total_slots(bs->m, se[i].level));
			ItemPointerSetInvalid(&e->tid);
		}
		bs->nchunks = bs->capchunks = (n + BUILD_CHUNK - 1) / BUILD_CHUNK;
		bs->chunks = palloc(sizeof(float *) * Max(bs->nchunks, 1));
		for (i = 0; i < bs->nchunks; i++)
			bs->chunks[i] = vecs + (Size) i * BUILD_CHUNK * bs->dims;
		bs->entry = sh->entry;
		bs->top = sh->top;
		bs->reltuples = sh->reltuples;
		bs->indtuples = sh->indtuples;
		MemoryContextSwitchTo(old);

		/* write and log while the segment is still mapped */
		hnsw_build_flush_graph(bs);
	}
	else
		ereport(DEBUG1,
				(errmsg_internal("siamese_hnsw: shared graph too small for the table, rebuilding serially")));

	if (IsMVCCSnapshot(snapshot))
		UnregisterSnapshot(snapshot);
	DestroyParallelContext(pcxt);
	ExitParallelMode();

	/* the graph pointed into the segment: forget it */
	MemoryContextReset(bs->graphctx);
	bs->elems = NULL;
	bs->chunks = NULL;
	bs->nelems = bs->capelems = bs->nchunks = bs->capchunks = 0;
	if (!ok)
	{
		bs->entry = -1;
		bs->top = -1;
		bs->reltuples = bs->indtuples = 0;
	}
	return ok;
}
