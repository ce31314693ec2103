/*
 * hnsw_scan.c: ordered index scans (ORDER BY e <-> q) over siamese_hnsw.
 *
 * The first amgettuple call descends greedily from the entry point to layer
 * 0 and runs an ef_search-wide layer search; its results are returned in
 * exact distance order.  The scan keeps its state (visited set, unexpanded
 * candidates, discovered-but-not-returned elements), so when the executor
 * asks for more rows (a filter rejected some, or LIMIT > ef_search) and
 * siamese.hnsw.iterative_scan is not off, it resumes the search for the
 * next ef_search elements, and so on until the graph is exhausted or
 * siamese.hnsw.max_scan_tuples elements were visited; then it returns what
 * it has already discovered and stops.  Rows of those later batches are in
 * order within a batch; under relaxed_order they may come slightly out of
 * order across batches, under strict_order a row nearer than one already
 * returned is dropped instead (pgvector's two modes).
 *
 * Distances to float32 elements are exact: the scan sets no recheck flag
 * and xs_orderbyvals carry the operator's value.  Elements stored as codes
 * (storage = bf16 or sq8) give approximate distances; for them the scan
 * reports a lower bound of the exact distance (sp_vcode_lower_bound) and
 * sets xs_recheckorderby, so the executor computes the exact distance from
 * the heap row and re-ranks: it holds each row back until no row the index
 * may still return can be nearer (its reorder queue).  Each batch is handed
 * out in ascending order of those bounds, so that the executor's order is
 * exact among the rows the search found.
 *
 * A query with no distance to order by (a NULL query vector, or the zero
 * vector under cosine distance, where every distance is NaN) returns every
 * live element, reading the element pages in order: what a sequential scan
 * returns for ORDER BY NULL (all rows, in no particular order), minus the
 * rows the index does not hold (NULL embeddings, zero vectors under cosine).
 */
#include "postgres.h"

#include <math.h>

#include "access/itup.h"
#include "access/relscan.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw/hnsw.h"

/* A row of a batch: the scored element and its order-by value. */
typedef struct HnswScanItem
{
	double		ob;				/* exact distance, or a lower bound for a code */
	HnswCandidate c;
} HnswScanItem;

typedef struct HnswScanOpaqueData
{
	MemoryContext ctx;			/* reset by rescan */
	bool		started;
	bool		done;
	bool		has_query;
	Embedding  *query;			/* copied at rescan */

	/* No distance to order by: every live element, page by page. */
	bool		all;
	bool		all_null;		/* order-by value NULL (NULL query), else NaN */
	BlockNumber all_blkno;		/* next element page to read */
	BlockNumber all_nblocks;
	ItemPointerData *all_tids;	/* heap TIDs of the current page's live elements */
	int			all_n;
	int			all_i;

	float	   *q;				/* prepared query vector */
	double		qnorm;			/* its norm (lower bounds of coded distances) */
	HnswMetaPageData meta;
	HnswMetric	metric;
	HnswDiskSource ds;
	HnswSource	src;

	HnswHeap	cand;			/* discovered, not yet expanded (min) */
	HnswHeap	disc;			/* discovered live, not yet returned (min) */
	HnswVisited visited;
	HnswId	   *nbuf;			/* neighbours of the expanded element */
	HnswCandidate *scored;		/* their scores */
	int64		nvisited;
	bool		bounded;		/* hit hnsw_max_scan_tuples */
	float		last_dist;		/* distance of the last row returned (strict_order) */

	HnswScanItem *batch;		/* current batch, ascending by order-by value */
	int			nbatch;
	int			ibatch;
	int			ef;
} HnswScanOpaqueData;

typedef HnswScanOpaqueData *HnswScanOpaque;

IndexScanDesc
hnsw_beginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	HnswScanOpaque so = palloc0(sizeof(HnswScanOpaqueData));

	so->ctx = AllocSetContextCreate(CurrentMemoryContext, "siamese_hnsw scan",
									ALLOCSET_DEFAULT_SIZES);
	if (norderbys > 0)
	{
		scan->xs_orderbyvals = palloc0(sizeof(Datum) * norderbys);
		scan->xs_orderbynulls = palloc(sizeof(bool) * norderbys);
		memset(scan->xs_orderbynulls, true, sizeof(bool) * norderbys);
	}
	scan->opaque = so;
	return scan;
}

void
hnsw_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	MemoryContext old;

	MemoryContextReset(so->ctx);
	so->started = false;
	so->done = false;
	so->has_query = false;
	so->query = NULL;
	so->all = false;
	so->all_tids = NULL;
	so->all_n = so->all_i = 0;
	so->q = NULL;
	so->batch = NULL;
	so->nbatch = so->ibatch = 0;
	so->nvisited = 0;
	so->bounded = false;
	so->last_dist = -INFINITY;

	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));

	if (scan->numberOfOrderBys > 0 && !(scan->orderByData[0].sk_flags & SK_ISNULL))
	{
		old = MemoryContextSwitchTo(so->ctx);
		so->query = DatumGetEmbeddingCopy(scan->orderByData[0].sk_argument);
		so->has_query = true;
		MemoryContextSwitchTo(old);
	}
}

/*
 * The order-by value of a scored element: the operator's value for an exact
 * (float32) distance, a lower bound of it for a code's approximate one.
 */
static double
orderby_value(HnswScanOpaque so, const HnswCandidate *c)
{
	if (!c->exact)
		return sp_vcode_lower_bound(so->metric.kind, c->dist, c->err, c->mag, so->qnorm,
									(size_t) so->meta.dims);
	switch (so->metric.kind)
	{
		case SP_DISTANCE_L2:
			return sqrt(Max((double) c->dist, 0.0));
		case SP_DISTANCE_COSINE:
			return Min(Max((double) c->dist, 0.0), 2.0);
		default:
			return (double) c->dist;
	}
}

static int
cmp_scan_item(const void *a, const void *b)
{
	double		x = ((const HnswScanItem *) a)->ob,
				y = ((const HnswScanItem *) b)->ob;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* Record a discovered element: candidate for expansion; result if live. */
static void
discover(HnswScanOpaque so, const HnswCandidate *e, HnswHeap *w, int ef)
{
	hnsw_heap_push(&so->cand, e);
	if (!e->live)
		return;
	if (w != NULL && (w->n < ef || e->dist < hnsw_heap_top(w)->dist))
	{
		hnsw_heap_push(w, e);
		if (w->n > ef)
		{
			HnswCandidate far = hnsw_heap_pop(w);

			hnsw_heap_push(&so->disc, &far);
		}
	}
	else
		hnsw_heap_push(&so->disc, e);
}

/*
 * Produce the next batch: the ef nearest not-yet-returned elements the
 * search can find from its current frontier.
 */
static void
next_batch(HnswScanOpaque so, bool first)
{
	HnswHeap	w;
	int			ef = so->ef;
	int			i;
	int			keep;
	bool		inexact = false;

	hnsw_heap_init(&w, ef + 1, true);

	/* seed with the best pending elements discovered earlier */
	while (so->disc.n > 0 && w.n < ef)
	{
		HnswCandidate c = hnsw_heap_pop(&so->disc);

		hnsw_heap_push(&w, &c);
	}

	while (so->cand.n > 0 && !so->bounded)
	{
		HnswCandidate c;
		int			nn;

		if (w.n >= ef && hnsw_heap_top(&so->cand)->dist > hnsw_heap_top(&w)->dist)
			break;
		if (!first && so->nvisited >= hnsw_max_scan_tuples)
		{
			so->bounded = true;
			break;
		}
		c = hnsw_heap_pop(&so->cand);
		CHECK_FOR_INTERRUPTS();
		nn = so->src.neighbours(so->src.arg, c.id, 0, so->nbuf);
		nn = hnsw_unvisited(&so->visited, so->nbuf, nn);
		so->src.distances(so->src.arg, so->nbuf, nn, so->q, so->scored);
		so->nvisited += nn;
		for (i = 0; i < nn; i++)
			discover(so, &so->scored[i], &w, ef);
	}

	/* bounded: nothing more will be expanded, hand out all pending elements */
	if (so->bounded)
	{
		while (so->disc.n > 0)
		{
			HnswCandidate c = hnsw_heap_pop(&so->disc);

			hnsw_heap_push(&w, &c);
		}
	}

	/*
	 * With iterative scans, hand out only the nearer half of the batch and
	 * keep the rest pending: the farther part of an ef-wide search is the
	 * least reliable (it misses elements the next batch finds), so it is
	 * re-ranked together with the next batch's discoveries.  This keeps the
	 * relaxed order close to the exact one for filtered queries.
	 */
	keep = w.n;
	if (hnsw_iterative_scan != HNSW_ITERATIVE_SCAN_OFF && !so->bounded && so->cand.n > 0)
		keep = Max(1, (w.n + 1) / 2);
	while (w.n > keep)
	{
		HnswCandidate far = hnsw_heap_pop(&w);

		hnsw_heap_push(&so->disc, &far);
	}

	so->nbatch = w.n;
	so->ibatch = 0;
	if (so->batch)
		pfree(so->batch);
	so->batch = palloc(sizeof(HnswScanItem) * Max(w.n, 1));
	for (i = w.n - 1; i >= 0; i--)
	{
		so->batch[i].c = hnsw_heap_pop(&w);
		so->batch[i].ob = orderby_value(so, &so->batch[i].c);
		inexact |= !so->batch[i].c.exact;
	}
	pfree(w.items);
	/* lower bounds of codes need not follow the approximate distances' order */
	if (inexact)
		qsort(so->batch, so->nbatch, sizeof(HnswScanItem), cmp_scan_item);
}

/*
 * No distance to order by: return every live element.  The elements of one
 * page are collected under its share lock; elements are never moved, and a
 * row inserted after the scan started is invisible to its snapshot.
 */
static void
start_all(HnswScanOpaque so, Relation index, bool null_query)
{
	so->all = true;
	so->all_null = null_query;
	so->all_blkno = HNSW_METAPAGE_BLKNO + 1;
	so->all_nblocks = RelationGetNumberOfBlocks(index);
	so->all_tids = palloc(sizeof(ItemPointerData) * MaxIndexTuplesPerPage);
	so->all_n = so->all_i = 0;
}

/* Read the next element page with live elements; false at the end. */
static bool
next_all_page(HnswScanOpaque so, Relation index)
{
	while (so->all_blkno < so->all_nblocks)
	{
		BlockNumber blkno = so->all_blkno++;
		Buffer		buf;
		Page		page;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		so->all_n = so->all_i = 0;
		if (!PageIsNew(page) && (HnswPageGetOpaque(page)->flags & HNSW_PAGE_ELEMENT))
		{
			OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
			OffsetNumber off;

			for (off = FirstOffsetNumber; off <= maxoff; off++)
			{
				HnswElementTuple etup = hnsw_page_element(index, page, blkno, off, so->meta.m);

				if (!hnsw_element_live(etup))
					continue;
				so->all_tids[so->all_n++] = etup->heaptid;
			}
		}
		UnlockReleaseBuffer(buf);
		if (so->all_n > 0)
			return true;
	}
	return false;
}

static void
start_scan(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	Relation	index = scan->indexRelation;
	HnswCandidate ep;
	HnswCandidate w1;
	ItemPointerData etid;
	int			dims;
	int			lc;

	so->started = true;
	pgstat_count_index_scan(index);

	hnsw_read_meta(index, &so->meta);
	if (!so->has_query)
	{
		/* ORDER BY e <-> NULL: every distance is NULL; all rows, any order */
		start_all(so, index, true);
		return;
	}

	dims = so->query->dim;
	if (so->meta.dims != 0 && so->meta.dims != (uint32) dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("query embedding has %d dimensions but siamese_hnsw index \"%s\" has %u",
						dims, RelationGetRelationName(index), so->meta.dims)));
	if (so->meta.entry_level < 0)
	{
		so->done = true;
		return;
	}

	hnsw_init_metric(&so->metric, so->meta.kind);
	so->q = palloc(sizeof(float) * dims);
	if (!hnsw_prepare_vector(&so->metric, so->query->x, dims, so->q))
	{
		/* zero query vector under cosine distance: every distance is NaN */
		start_all(so, index, false);
		return;
	}
	so->qnorm = sqrt(sp_dist_normsq(so->q, (size_t) dims));
	hnsw_disk_source_init(&so->ds, &so->src, index, so->meta.m, dims, so->meta.code, &so->metric);
	so->ef = hnsw_ef_search;
	so->nbuf = palloc(sizeof(HnswId) * hnsw_level_capacity(so->meta.m, 0));
	so->scored = palloc(sizeof(HnswCandidate) * hnsw_level_capacity(so->meta.m, 0));

	ItemPointerSet(&etid, so->meta.entry_blkno, so->meta.entry_offno);
	ep = hnsw_source_score(&so->src, hnsw_tid_to_id(&etid), so->q);

	/* greedy descent: one nearest element per upper layer */
	for (lc = so->meta.entry_level; lc > 0; lc--)
	{
		if (hnsw_search_layer(&so->src, so->q, &ep, 1, 1, lc, false, &w1) > 0)
			ep = w1;
	}

	hnsw_heap_init(&so->cand, so->ef * 8, false);
	hnsw_heap_init(&so->disc, so->ef * 2, false);
	hnsw_visited_init(&so->visited, (uint64) so->ef * so->meta.m * 4);
	so->nvisited = 1;
	(void) hnsw_visited_add(&so->visited, ep.id);
	discover(so, &ep, NULL, 0);

	next_batch(so, true);
}


bool
hnsw_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	MemoryContext old;

	if (!ScanDirectionIsForward(dir))
		elog(ERROR, "siamese_hnsw index scans only go forward");

	old = MemoryContextSwitchTo(so->ctx);
	if (!so->started)
		start_scan(scan);

	while (so->all && !so->done)
	{
		if (so->all_i < so->all_n)
		{
			MemoryContextSwitchTo(old);
			scan->xs_heaptid = so->all_tids[so->all_i++];
			scan->xs_recheck = false;
			scan->xs_recheckorderby = false;
			if (scan->numberOfOrderBys > 0)
			{
				scan->xs_orderbyvals[0] = Float8GetDatum(get_float8_nan());
				scan->xs_orderbynulls[0] = so->all_null;
			}
			return true;
		}
		if (!next_all_page(so, scan->indexRelation))
			so->done = true;
	}

	while (!so->done)
	{
		if (so->ibatch < so->nbatch)
		{
			double		ob = so->batch[so->ibatch].ob;
			HnswCandidate *c = &so->batch[so->ibatch++].c;

			if (hnsw_iterative_scan == HNSW_ITERATIVE_SCAN_STRICT)
			{
				if (c->dist < so->last_dist)
					continue;
				so->last_dist = c->dist;
			}
			MemoryContextSwitchTo(old);
			scan->xs_heaptid = c->htid;
			scan->xs_recheck = false;
			scan->xs_recheckorderby = !c->exact;
			if (scan->numberOfOrderBys > 0)
			{
				scan->xs_orderbyvals[0] = Float8GetDatum(ob);
				scan->xs_orderbynulls[0] = false;
			}
			return true;
		}
		if (hnsw_iterative_scan == HNSW_ITERATIVE_SCAN_OFF || so->bounded ||
			(so->cand.n == 0 && so->disc.n == 0))
		{
			so->done = true;
			break;
		}
		next_batch(so, false);
	}
	MemoryContextSwitchTo(old);
	return false;
}

void
hnsw_endscan(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	MemoryContextDelete(so->ctx);
	pfree(so);
	scan->opaque = NULL;
}
