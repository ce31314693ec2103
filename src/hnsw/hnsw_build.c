/*
 * hnsw_build.c: CREATE INDEX for siamese_hnsw (ambuild, ambuildempty).
 *
 * The heap is scanned once; every non-NULL embedding is inserted into an
 * in-memory HNSW graph (array positions as node ids) as long as that graph
 * fits in maintenance_work_mem.  The graph is then laid out on pages in
 * insertion order: the TID of every element is computed first (the page
 * fill is deterministic), so neighbour lists can be written in one pass.
 * The pages are written unlogged and WAL-logged afterwards with
 * log_newpage_range(), which is far cheaper than one record per change.
 *
 * When the graph outgrows maintenance_work_mem the build WARNs, flushes and
 * logs what it has, and continues with the ordinary on-disk insert path
 * (generic WAL, one page at a time): slower, but correct for any size.
 *
 * Parallel build (PostgreSQL 15 has no amcanbuildparallel, so ambuild starts
 * the parallel context itself): when plan_create_index_workers() grants
 * workers, the column has a fixed dimension and the whole graph fits in
 * maintenance_work_mem, the graph lives in the DSM segment instead.  Node
 * ids are handed out by an atomic counter; every element has an LWLock
 * guarding its neighbour lists (its vector and level never change once it
 * is published), a spinlock guards the entry point, and no process ever
 * holds two element locks, so there is no deadlock.  Workers and the leader
 * insert the rows of a parallel heap scan; the leader then points the
 * ordinary layout code at the shared graph and writes and WAL-logs the
 * pages exactly like the serial build.  If the table turns out larger than
 * estimated (the shared arrays are sized up front), the parallel attempt is
 * discarded and the serial build runs instead.
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/genam.h"
#include "access/parallel.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "optimizer/plancat.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/bufmgr.h"
#include "storage/lwlock.h"
#include "storage/smgr.h"
#include "storage/spin.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "hnsw/hnsw.h"

#define BUILD_CHUNK 1024		/* vectors per allocation chunk */

typedef struct BuildElement
{
	ItemPointerData heaptid;
	int16		level;
	int32	   *nb;				/* (level + 2) * m slots, packed per layer */
	uint16	   *count;			/* neighbours used per layer */
	ItemPointerData tid;		/* position on disk (set by the layout pass) */
} BuildElement;

typedef struct HnswBuildState
{
	Relation	heap;
	Relation	index;
	int			dims;			/* 0 until the first vector */
	int			m;
	int			efc;
	int			kind;
	int			maxlevel;
	HnswMetric	metric;
	pg_prng_state rng;

	/* in-memory graph */
	MemoryContext graphctx;
	BuildElement *elems;
	int64		nelems;
	int64		capelems;
	float	  **chunks;
	int64		nchunks;
	int64		capchunks;
	int64		entry;			/* -1: empty */
	int			top;
	Size		memlimit;
	bool		on_disk;		/* graph flushed: inserting through the buffer manager */

	MemoryContext buildctx;		/* lives as long as the build */
	MemoryContext tmpctx;
	HnswSource	src;
	float	   *vecbuf;
	double		indtuples;
	double		reltuples;
} HnswBuildState;

static inline float *
build_vec(HnswBuildState *bs, int64 i)
{
	return bs->chunks[i / BUILD_CHUNK] + (Size) (i % BUILD_CHUNK) * bs->dims;
}

static int
mem_neighbours(void *arg, HnswId id, int level, HnswId *out)
{
	HnswBuildState *bs = arg;
	BuildElement *e = &bs->elems[id];
	int			i;
	int32	   *nb;

	if (level > e->level)
		return 0;
	nb = e->nb + hnsw_level_offset(bs->m, level);
	for (i = 0; i < e->count[level]; i++)
		out[i] = (HnswId) nb[i];
	return e->count[level];
}

static float
mem_distance(void *arg, HnswId id, const float *q, bool *live, ItemPointer htid)
{
	HnswBuildState *bs = arg;

	*live = true;
	*htid = bs->elems[id].heaptid;
	return hnsw_distance(&bs->metric, q, build_vec(bs, (int64) id), bs->dims);
}

/* Add element n to the list of s on layer lc, pruning when full. */
static void
mem_link(HnswBuildState *bs, int64 s, int lc, int64 n)
{
	BuildElement *e = &bs->elems[s];
	int			cap = hnsw_level_capacity(bs->m, lc);
	int32	   *nb = e->nb + hnsw_level_offset(bs->m, lc);
	int			cnt = e->count[lc];
	HnswSelectItem *items;
	int		   *sel;
	const float *svec;
	int			nsel;
	int			i;

	for (i = 0; i < cnt; i++)
		if (nb[i] == n)
			return;
	if (cnt < cap)
	{
		nb[cnt] = (int32) n;
		e->count[lc]++;
		return;
	}

	items = palloc(sizeof(HnswSelectItem) * (cap + 1));
	sel = palloc(sizeof(int) * (cap + 1));
	svec = build_vec(bs, s);
	for (i = 0; i < cnt; i++)
	{
		items[i].id = nb[i];
		items[i].vec = build_vec(bs, nb[i]);
		items[i].dist = hnsw_distance(&bs->metric, svec, items[i].vec, bs->dims);
	}
	items[cnt].id = n;
	items[cnt].vec = build_vec(bs, n);
	items[cnt].dist = hnsw_distance(&bs->metric, svec, items[cnt].vec, bs->dims);
	nsel = hnsw_select_neighbours(&bs->metric, bs->dims, items, cnt + 1, cap, (uint64) s, sel);
	for (i = 0; i < nsel; i++)
		nb[i] = (int32) items[sel[i]].id;
	e->count[lc] = nsel;
	pfree(items);
	pfree(sel);
}

/* Insert element n (vector and level already stored) into the memory graph. */
static void
mem_insert(HnswBuildState *bs, int64 n)
{
	BuildElement *e = &bs->elems[n];
	const float *q = build_vec(bs, n);
	int			level = e->level;
	HnswCandidate *w;
	HnswCandidate *eps;
	int			neps;
	HnswSelectItem *items;
	int		   *sel;
	int			lc;
	MemoryContext old;

	if (bs->entry < 0)
	{
		bs->entry = n;
		bs->top = level;
		return;
	}

	old = MemoryContextSwitchTo(bs->tmpctx);
	w = palloc(sizeof(HnswCandidate) * bs->efc);
	eps = palloc(sizeof(HnswCandidate) * bs->efc);
	items = palloc(sizeof(HnswSelectItem) * bs->efc);
	sel = palloc(sizeof(int) * bs->efc);

	eps[0].id = bs->entry;
	eps[0].dist = mem_distance(bs, bs->entry, q, &eps[0].live, &eps[0].htid);
	neps = 1;
	for (lc = bs->top; lc > level; lc--)
	{
		if (hnsw_search_layer(&bs->src, q, eps, neps, 1, lc, false, w) > 0)
			eps[0] = w[0];
	}
	for (lc = Min(level, bs->top); lc >= 0; lc--)
	{
		int			nw = hnsw_search_layer(&bs->src, q, eps, neps, bs->efc, lc, false, w);
		int			nsel;
		int			i;
		int32	   *nb = e->nb + hnsw_level_offset(bs->m, lc);

		for (i = 0; i < nw; i++)
		{
			items[i].id = w[i].id;
			items[i].dist = w[i].dist;
			items[i].vec = build_vec(bs, (int64) w[i].id);
		}
		nsel = hnsw_select_neighbours(&bs->metric, bs->dims, items, nw, hnsw_level_capacity(bs->m, lc),
									  (uint64) n, sel);
		for (i = 0; i < nsel; i++)
			nb[i] = (int32) items[sel[i]].id;
		e->count[lc] = nsel;
		for (i = 0; i < nsel; i++)
			mem_link(bs, (int64) items[sel[i]].id, lc, n);
		if (nw > 0)
		{
			memcpy(eps, w, sizeof(HnswCandidate) * nw);
			neps = nw;
		}
	}
	if (level > bs->top)
	{
		bs->entry = n;
		bs->top = level;
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmpctx);
}

/* Write the metapage (block 0) through the buffer manager, unlogged. */
static void
write_metapage(HnswBuildState *bs, Buffer buf)
{
	Page		page = BufferGetPage(buf);
	HnswMetaPage meta;

	hnsw_init_metapage(page, bs->dims, bs->m, bs->efc, bs->kind);
	meta = HnswPageGetMeta(page);
	if (bs->entry >= 0)
	{
		meta->entry_level = bs->top;
		meta->entry_blkno = ItemPointerGetBlockNumber(&bs->elems[bs->entry].tid);
		meta->entry_offno = ItemPointerGetOffsetNumber(&bs->elems[bs->entry].tid);
	}
	MarkBufferDirty(buf);
}

/*
 * Make every element reachable from the entry point on layer 0.  Pruning
 * can leave an element (or a small group linking only to each other)
 * without any in-link from the rest of the graph, mostly on data lying on a
 * low-dimensional manifold or under inner product; no search could return
 * it.  A walk from the entry point finds them; each is then linked from
 * one of its own neighbours that is reachable, taking a free slot or
 * replacing the farthest-ranked entry that has other in-links.
 */
static bool
try_link(HnswBuildState *bs, int32 *indeg, int64 n, int64 i)
{
	BuildElement *e = &bs->elems[n];
	int			cap = hnsw_level_capacity(bs->m, 0);
	int			k;

	for (k = 0; k < e->count[0]; k++)
		if (e->nb[k] == i)
			return true;
	if (e->count[0] < cap)
	{
		e->nb[e->count[0]++] = (int32) i;
		indeg[i]++;
		return true;
	}
	for (k = e->count[0] - 1; k >= 0; k--)
	{
		if (indeg[e->nb[k]] > 1)
		{
			indeg[e->nb[k]]--;
			e->nb[k] = (int32) i;
			indeg[i]++;
			return true;
		}
	}
	return false;
}

static void
mark_reached(HnswBuildState *bs, bool *reached, int64 *stack, int64 from)
{
	int64		nstack = 0;

	if (reached[from])
		return;
	reached[from] = true;
	stack[nstack++] = from;
	while (nstack > 0)
	{
		BuildElement *e = &bs->elems[stack[--nstack]];
		int			j;

		for (j = 0; j < e->count[0]; j++)
		{
			if (!reached[e->nb[j]])
			{
				reached[e->nb[j]] = true;
				stack[nstack++] = e->nb[j];
			}
		}
	}
}

/* One round: link every element a walk from the entry misses; count them. */
static int64
fix_round(HnswBuildState *bs, int32 *indeg, bool *reached, int64 *stack)
{
	int64		fixed = 0;
	int64		i;

	memset(reached, 0, sizeof(bool) * bs->nelems);
	mark_reached(bs, reached, stack, bs->entry);
	for (i = 0; i < bs->nelems; i++)
	{
		BuildElement *e = &bs->elems[i];
		bool		linked = false;
		int			j;

		if (reached[i])
			continue;
		CHECK_FOR_INTERRUPTS();
		for (j = 0; j < e->count[0] && !linked; j++)
			if (reached[e->nb[j]])
				linked = try_link(bs, indeg, e->nb[j], i);
		if (!linked)
			linked = try_link(bs, indeg, bs->entry, i);
		if (linked)
		{
			mark_reached(bs, reached, stack, i);
			fixed++;
		}
	}
	return fixed;
}

static void
fix_unreachable(HnswBuildState *bs)
{
	int32	   *indeg;
	bool	   *reached;
	int64	   *stack;
	int64		i;
	int			round;

	if (bs->nelems < 2 || bs->entry < 0)
		return;
	indeg = palloc_extended(sizeof(int32) * bs->nelems, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	reached = palloc_extended(sizeof(bool) * bs->nelems, MCXT_ALLOC_HUGE);
	stack = palloc_extended(sizeof(int64) * bs->nelems, MCXT_ALLOC_HUGE);
	for (i = 0; i < bs->nelems; i++)
	{
		int			j;

		for (j = 0; j < bs->elems[i].count[0]; j++)
			indeg[bs->elems[i].nb[j]]++;
	}
	/* a replaced entry may have been another element's only way in: repeat */
	for (round = 0; round < 4; round++)
		if (fix_round(bs, indeg, reached, stack) == 0)
			break;
	pfree(indeg);
	pfree(reached);
	pfree(stack);
}

/*
 * Lay the memory graph out on pages 1.. and write it, then the metapage, then
 * WAL-log every page.
 */
static void
flush_graph(HnswBuildState *bs)
{
	BlockNumber blkno = 1;
	int			lower = SizeOfPageHeaderData;
	int			upper = BLCKSZ - MAXALIGN(sizeof(HnswPageOpaqueData));
	OffsetNumber off = FirstOffsetNumber;
	int64		i;
	Buffer		buf = InvalidBuffer;
	Page		page = NULL;
	BlockNumber cur = InvalidBlockNumber;
	BlockNumber nblocks;
	char	   *tupbuf;

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_WRITE);
	fix_unreachable(bs);

	/* pass 1: positions (same arithmetic as PageAddItem) */
	for (i = 0; i < bs->nelems; i++)
	{
		int			asz = MAXALIGN(hnsw_element_size(bs->dims, bs->m, bs->elems[i].level));

		if (lower + (int) sizeof(ItemIdData) > upper - asz)
		{
			blkno++;
			lower = SizeOfPageHeaderData;
			upper = BLCKSZ - MAXALIGN(sizeof(HnswPageOpaqueData));
			off = FirstOffsetNumber;
		}
		lower += sizeof(ItemIdData);
		upper -= asz;
		ItemPointerSet(&bs->elems[i].tid, blkno, off);
		off++;
	}

	/* pass 2: tuples with resolved neighbour TIDs */
	tupbuf = palloc(BLCKSZ);
	for (i = 0; i < bs->nelems; i++)
	{
		BuildElement *e = &bs->elems[i];
		Size		size = hnsw_element_size(bs->dims, bs->m, e->level);
		HnswElementTuple etup = (HnswElementTuple) tupbuf;
		ItemPointer nbs;
		int			lc;
		OffsetNumber got;

		if (ItemPointerGetBlockNumber(&e->tid) != cur)
		{
			if (BufferIsValid(buf))
			{
				MarkBufferDirty(buf);
				UnlockReleaseBuffer(buf);
			}
			buf = ReadBufferExtended(bs->index, MAIN_FORKNUM, P_NEW, RBM_NORMAL, NULL);
			cur = BufferGetBlockNumber(buf);
			if (cur != ItemPointerGetBlockNumber(&e->tid))
				elog(ERROR, "unexpected block %u while writing siamese_hnsw index (expected %u)",
					 cur, ItemPointerGetBlockNumber(&e->tid));
			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			page = BufferGetPage(buf);
			hnsw_init_page(page, HNSW_PAGE_ELEMENT);
		}

		memset(etup, 0, size);
		etup->level = e->level;
		etup->dims = bs->dims;
		etup->heaptid = e->heaptid;
		memcpy(etup->vec, build_vec(bs, i), sizeof(float) * bs->dims);
		nbs = hnsw_element_neighbours(etup);
		for (lc = 0; lc < hnsw_total_slots(bs->m, e->level); lc++)
			ItemPointerSetInvalid(&nbs[lc]);
		for (lc = 0; lc <= e->level; lc++)
		{
			int			j;
			int			base = hnsw_level_offset(bs->m, lc);

			for (j = 0; j < e->count[lc]; j++)
				nbs[base + j] = bs->elems[e->nb[base + j]].tid;
		}
		got = PageAddItem(page, (Item) etup, size, InvalidOffsetNumber, false, false);
		if (got != ItemPointerGetOffsetNumber(&e->tid))
			elog(ERROR, "unexpected offset %u while writing siamese_hnsw index (expected %u)",
				 got, ItemPointerGetOffsetNumber(&e->tid));
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	if (BufferIsValid(buf))
	{
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
	pfree(tupbuf);

	/* metapage: entry point and insertion hint */
	buf = ReadBuffer(bs->index, HNSW_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	write_metapage(bs, buf);
	if (bs->nelems > 0)
		HnswPageGetMeta(BufferGetPage(buf))->insert_blkno = blkno;
	UnlockReleaseBuffer(buf);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_LOG);
	nblocks = RelationGetNumberOfBlocks(bs->index);
	if (RelationNeedsWAL(bs->index))
		log_newpage_range(bs->index, MAIN_FORKNUM, 0, nblocks, true);
}

static void
switch_to_disk(HnswBuildState *bs)
{
	ereport(WARNING,
			(errmsg("siamese_hnsw graph no longer fits in maintenance_work_mem after %lld elements",
					(long long) bs->nelems),
			 errdetail("Building continues on disk, which is much slower."),
			 errhint("Increase maintenance_work_mem to speed up the build.")));
	flush_graph(bs);
	bs->on_disk = true;
	MemoryContextDelete(bs->graphctx);
	bs->graphctx = NULL;
	bs->elems = NULL;
	bs->chunks = NULL;
	bs->nchunks = bs->capchunks = 0;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_LOAD);
}

static void
add_to_memory(HnswBuildState *bs, const float *vec, ItemPointer heaptid)
{
	MemoryContext old = MemoryContextSwitchTo(bs->graphctx);
	int64		n = bs->nelems;
	BuildElement *e;
	int			level = hnsw_random_level(&bs->rng, bs->m, bs->maxlevel);

	if (n >= bs->capelems)
	{
		bs->capelems = Max(1024, bs->capelems * 2);
		if (bs->elems == NULL)
			bs->elems = palloc_extended(sizeof(BuildElement) * bs->capelems, MCXT_ALLOC_HUGE);
		else
			bs->elems = repalloc_huge(bs->elems, sizeof(BuildElement) * bs->capelems);
	}
	if (n / BUILD_CHUNK >= bs->nchunks)
	{
		if (bs->nchunks >= bs->capchunks)
		{
			bs->capchunks = Max(64, bs->capchunks * 2);
			if (bs->chunks == NULL)
				bs->chunks = palloc(sizeof(float *) * bs->capchunks);
			else
				bs->chunks = repalloc_huge(bs->chunks, sizeof(float *) * bs->capchunks);
		}
		bs->chunks[bs->nchunks++] = palloc_extended(sizeof(float) * (Size) bs->dims * BUILD_CHUNK,
													MCXT_ALLOC_HUGE);
	}
	memcpy(build_vec(bs, n), vec, sizeof(float) * bs->dims);
	e = &bs->elems[n];
	e->heaptid = *heaptid;
	e->level = level;
	e->nb = palloc(sizeof(int32) * hnsw_total_slots(bs->m, level));
	e->count = palloc0(sizeof(uint16) * (level + 1));
	ItemPointerSetInvalid(&e->tid);
	bs->nelems++;
	MemoryContextSwitchTo(old);

	mem_insert(bs, n);
}

static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	HnswBuildState *bs = state;
	MemoryContext old;
	Embedding  *emb;

	if (isnull[0])
		return;

	old = MemoryContextSwitchTo(bs->tmpctx);
	emb = hnsw_datum_embedding(values[0]);
	if (bs->dims == 0)
	{
		bs->dims = emb->dim;
		bs->maxlevel = hnsw_max_level_for(bs->dims, bs->m);
		if (bs->maxlevel < 0)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("embedding of %d dimensions is too large for a siamese_hnsw index with m = %d",
							bs->dims, bs->m),
					 errdetail("An element (vector and neighbour list) must fit in one %d-byte page.", BLCKSZ),
					 errhint("Use a smaller m.")));
		bs->vecbuf = MemoryContextAlloc(bs->buildctx, sizeof(float) * bs->dims);
	}
	else if (emb->dim != bs->dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot build siamese_hnsw index \"%s\" on embeddings of different dimensions",
						RelationGetRelationName(index)),
				 errdetail("Found embeddings of %d and %d dimensions.", bs->dims, emb->dim),
				 errhint("Constrain the column to one size, e.g. embedding(%d), or build one partial index per size.",
						 bs->dims)));

	if (!hnsw_prepare_vector(&bs->metric, emb->x, emb->dim, bs->vecbuf))
	{
		/* zero vector under cosine distance: no direction, not indexed */
		MemoryContextSwitchTo(old);
		MemoryContextReset(bs->tmpctx);
		return;
	}
	MemoryContextSwitchTo(old);

	if (!bs->on_disk)
	{
		add_to_memory(bs, bs->vecbuf, tid);
		if (MemoryContextMemAllocated(bs->graphctx, true) > bs->memlimit)
			switch_to_disk(bs);
	}
	else
	{
		float	   *vec;

		old = MemoryContextSwitchTo(bs->tmpctx);
		vec = palloc(sizeof(float) * bs->dims);
		memcpy(vec, bs->vecbuf, sizeof(float) * bs->dims);
		hnsw_insert_vector(index, vec, bs->dims, tid, &bs->rng);
		MemoryContextSwitchTo(old);
	}
	MemoryContextReset(bs->tmpctx);

	bs->indtuples++;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);
}

/* ---------------------------------------------------------------------
 * Parallel build
 */

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
 * uint16 counts, so the leader can hand the shared graph to flush_graph.
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

static float
par_distance(void *arg, HnswId id, const float *q, bool *live, ItemPointer htid)
{
	HnswParState *ps = arg;

	*live = true;
	*htid = ps->elems[id].heaptid;
	return hnsw_distance(&ps->metric, q, par_vec(ps, (int64) id), ps->dims);
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

	eps[0].id = entry;
	eps[0].dist = par_distance(ps, entry, q, &eps[0].live, &eps[0].htid);
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
	ps.src.distance = par_distance;
	ps.src.m = sh->m;
	/* a different level sequence in every participant */
	pg_prng_seed(&ps.rng, UINT64CONST(0x5ea5e5eed) + (uint64) (ParallelWorkerNumber + 1));
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

/*
 * Try a parallel build into bs.  Returns false (nothing changed) when no
 * worker is granted or the graph cannot be sized to fit; otherwise builds,
 * writes and WAL-logs the index and returns true, unless the shared graph
 * overflowed, in which case everything is discarded and false returned.
 */
static bool
try_parallel_build(HnswBuildState *bs, IndexInfo *indexInfo)
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
		flush_graph(bs);
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

IndexBuildResult *
hnsw_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	HnswBuildState bs;
	Buffer		metabuf;
	int32		typmod;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));

	memset(&bs, 0, sizeof(bs));
	bs.heap = heap;
	bs.index = index;
	bs.m = hnsw_get_m(index);
	bs.efc = hnsw_get_ef_construction(index);
	bs.kind = hnsw_get_kind(index);
	hnsw_init_metric(&bs.metric, bs.kind);
	/* a fixed seed: the same rows give the same graph */
	pg_prng_seed(&bs.rng, UINT64CONST(0x5ea5e5eed));
	bs.entry = -1;
	bs.top = -1;
	bs.memlimit = (Size) maintenance_work_mem * 1024;
	bs.buildctx = CurrentMemoryContext;
	bs.graphctx = AllocSetContextCreate(CurrentMemoryContext, "siamese_hnsw build graph",
										ALLOCSET_DEFAULT_SIZES);
	bs.tmpctx = AllocSetContextCreate(CurrentMemoryContext, "siamese_hnsw build temp",
									  ALLOCSET_DEFAULT_SIZES);
	bs.src.arg = &bs;
	bs.src.neighbours = mem_neighbours;
	bs.src.distance = mem_distance;
	bs.src.m = bs.m;

	/* embedding(d) columns fix the dimension before any row is read */
	typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;
	if (typmod > 0)
	{
		bs.dims = typmod;
		bs.maxlevel = hnsw_max_level_for(bs.dims, bs.m);
		if (bs.maxlevel < 0)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("embedding of %d dimensions is too large for a siamese_hnsw index with m = %d",
							bs.dims, bs.m),
					 errdetail("An element (vector and neighbour list) must fit in one %d-byte page.", BLCKSZ),
					 errhint("Use a smaller m.")));
		bs.vecbuf = MemoryContextAlloc(bs.buildctx, sizeof(float) * bs.dims);
	}

	/* block 0: the metapage (final contents written by flush_graph) */
	metabuf = ReadBufferExtended(index, MAIN_FORKNUM, P_NEW, RBM_NORMAL, NULL);
	Assert(BufferGetBlockNumber(metabuf) == HNSW_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	write_metapage(&bs, metabuf);
	UnlockReleaseBuffer(metabuf);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_LOAD);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) Max(heap->rd_rel->reltuples, 0));

	if (!try_parallel_build(&bs, indexInfo))
	{
		bs.reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
											  build_callback, &bs, NULL);

		if (!bs.on_disk)
			flush_graph(&bs);
		/* else: everything after the flush went through generic WAL */
	}

	if (bs.graphctx)
		MemoryContextDelete(bs.graphctx);
	MemoryContextDelete(bs.tmpctx);

	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = bs.reltuples;
	result->index_tuples = bs.indtuples;
	return result;
}

/* Unlogged tables: an empty index (metapage only) in the init fork. */
void
hnsw_buildempty(Relation index)
{
	Page		page = (Page) palloc(BLCKSZ);
	int32		typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;

	hnsw_init_metapage(page, typmod > 0 ? typmod : 0, hnsw_get_m(index),
					   hnsw_get_ef_construction(index), hnsw_get_kind(index));
	PageSetChecksumInplace(page, HNSW_METAPAGE_BLKNO);
	smgrwrite(RelationGetSmgr(index), INIT_FORKNUM, HNSW_METAPAGE_BLKNO, (char *) page, true);
	log_newpage(&(RelationGetSmgr(index))->smgr_rnode.node, INIT_FORKNUM,
				HNSW_METAPAGE_BLKNO, page, true);
	smgrimmedsync(RelationGetSmgr(index), INIT_FORKNUM);
	pfree(page);
}
