/*
 * hnsw_build.c: CREATE INDEX for siamese_hnsw (ambuild, ambuildempty): the
 * in-memory graph, its layout on pages and the serial build.
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
 * ambuild first tries the parallel build (hnsw_build_parallel.c), which
 * builds the graph in shared memory and hands it to the same layout code
 * (hnsw_build_flush_graph); when it declines or the shared graph overflows,
 * the serial build runs.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/tableam.h"
#include "access/xloginsert.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw/hnsw_build.h"

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

static const float *
mem_vector(void *arg, HnswId id, ItemPointer htid)
{
	HnswBuildState *bs = arg;

	*htid = bs->elems[id].heaptid;
	return build_vec(bs, (int64) id);
}

static void
mem_distances(void *arg, const HnswId *ids, int n, const float *q, HnswCandidate *out)
{
	HnswBuildState *bs = arg;

	hnsw_score_in_memory(&bs->metric, bs->dims, mem_vector, arg, ids, n, q, out);
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

	eps[0] = hnsw_source_score(&bs->src, (HnswId) bs->entry, q);
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

	hnsw_init_metapage(page, bs->dims, bs->m, bs->efc, bs->kind, bs->code);
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

/* Lay the memory graph out on pages and WAL-log them (see hnsw_build.h). */
void
hnsw_build_flush_graph(HnswBuildState *bs)
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
		int			asz = MAXALIGN(hnsw_element_size(bs->code, bs->dims, bs->m, bs->elems[i].level));

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
		Size		size = hnsw_element_size(bs->code, bs->dims, bs->m, e->level);
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
		etup->code = bs->code;
		sp_vcode_encode((sp_code_kind) bs->code, build_vec(bs, i), (size_t) bs->dims, etup->vec);
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
	hnsw_build_flush_graph(bs);
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
		bs->maxlevel = hnsw_max_level_checked(bs->code, bs->dims, bs->m);
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
	bs.code = hnsw_get_code(index);
	hnsw_init_metric(&bs.metric, bs.kind);
	/* a fixed seed: the same rows give the same graph */
	pg_prng_seed(&bs.rng, HNSW_BUILD_SEED);
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
	bs.src.distances = mem_distances;
	bs.src.m = bs.m;

	/* embedding(d) columns fix the dimension before any row is read */
	typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;
	if (typmod > 0)
	{
		bs.dims = typmod;
		bs.maxlevel = hnsw_max_level_checked(bs.code, bs.dims, bs.m);
		bs.vecbuf = MemoryContextAlloc(bs.buildctx, sizeof(float) * bs.dims);
	}

	/* block 0: the metapage (final contents written by hnsw_build_flush_graph) */
	metabuf = ReadBufferExtended(index, MAIN_FORKNUM, P_NEW, RBM_NORMAL, NULL);
	Assert(BufferGetBlockNumber(metabuf) == HNSW_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	write_metapage(&bs, metabuf);
	UnlockReleaseBuffer(metabuf);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_LOAD);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) Max(heap->rd_rel->reltuples, 0));

	if (!hnsw_try_parallel_build(&bs, indexInfo))
	{
		bs.reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
											  build_callback, &bs, NULL);

		if (!bs.on_disk)
			hnsw_build_flush_graph(&bs);
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
					   hnsw_get_ef_construction(index), hnsw_get_kind(index), hnsw_get_code(index));
	PageSetChecksumInplace(page, HNSW_METAPAGE_BLKNO);
	smgrwrite(RelationGetSmgr(index), INIT_FORKNUM, HNSW_METAPAGE_BLKNO, (char *) page, true);
	log_newpage(&(RelationGetSmgr(index))->smgr_rnode.node, INIT_FORKNUM,
				HNSW_METAPAGE_BLKNO, page, true);
	smgrimmedsync(RelationGetSmgr(index), INIT_FORKNUM);
	pfree(page);
}
