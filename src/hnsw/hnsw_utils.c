/*
 * hnsw_utils.c: the parts of siamese_hnsw shared by build, insert, scan,
 * vacuum and the checker: page and metapage layout, element access with
 * corruption checks, candidate heaps, the visited set, the layer search and
 * the neighbour selection heuristic, level generation and vector
 * preparation.
 *
 * The search and selection code works on an abstract HnswSource so the
 * in-memory build graph and the on-disk graph share one implementation.
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "miscadmin.h"
#include "storage/bufpage.h"
#include "utils/memutils.h"

#include "hnsw/hnsw.h"
#include "util/rng.h"

/* ---------------------------------------------------------------------
 * Candidate heaps
 */

static inline bool
heap_before(const HnswHeap *h, const HnswCandidate *a, const HnswCandidate *b)
{
	/* ties broken by id so the order is deterministic */
	if (a->dist != b->dist)
		return h->is_max ? a->dist > b->dist : a->dist < b->dist;
	return h->is_max ? a->id > b->id : a->id < b->id;
}

void
hnsw_heap_init(HnswHeap *h, int cap, bool is_max)
{
	h->cap = Max(cap, 16);
	h->n = 0;
	h->is_max = is_max;
	h->items = palloc(sizeof(HnswCandidate) * h->cap);
}

void
hnsw_heap_push(HnswHeap *h, const HnswCandidate *c)
{
	int			i;

	if (h->n >= h->cap)
	{
		h->cap *= 2;
		h->items = repalloc_huge(h->items, sizeof(HnswCandidate) * (Size) h->cap);
	}
	i = h->n++;
	while (i > 0)
	{
		int			parent = (i - 1) / 2;

		if (!heap_before(h, c, &h->items[parent]))
			break;
		h->items[i] = h->items[parent];
		i = parent;
	}
	h->items[i] = *c;
}

HnswCandidate
hnsw_heap_pop(HnswHeap *h)
{
	HnswCandidate top = h->items[0];
	HnswCandidate last;
	int			i = 0;

	Assert(h->n > 0);
	last = h->items[--h->n];
	for (;;)
	{
		int			l = 2 * i + 1;
		int			r = l + 1;
		int			best;

		if (l >= h->n)
			break;
		best = (r < h->n && heap_before(h, &h->items[r], &h->items[l])) ? r : l;
		if (!heap_before(h, &h->items[best], &last))
			break;
		h->items[i] = h->items[best];
		i = best;
	}
	if (h->n > 0)
		h->items[i] = last;
	return top;
}

/* ---------------------------------------------------------------------
 * Visited set: open addressing on id + 1 (0 marks an empty slot)
 */

static inline uint64
visited_hash(uint64 k)
{
	/* ids are highly regular (block << 16 | off): mix them fully */
	return sp_mix64(k);
}

void
hnsw_visited_init(HnswVisited *v, uint64 expected)
{
	uint64		size = 64;

	while (size < expected * 2)
		size <<= 1;
	v->keys = palloc_extended(sizeof(uint64) * size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	v->mask = size - 1;
	v->count = 0;
}

static void
visited_grow(HnswVisited *v)
{
	uint64	   *old = v->keys;
	uint64		oldsize = v->mask + 1;
	uint64		size = oldsize * 2;
	uint64		i;

	v->keys = palloc_extended(sizeof(uint64) * size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	v->mask = size - 1;
	for (i = 0; i < oldsize; i++)
	{
		if (old[i] != 0)
		{
			uint64		pos = visited_hash(old[i]) & v->mask;

			while (v->keys[pos] != 0)
				pos = (pos + 1) & v->mask;
			v->keys[pos] = old[i];
		}
	}
	pfree(old);
}

bool
hnsw_visited_add(HnswVisited *v, HnswId id)
{
	uint64		key = id + 1;
	uint64		pos;

	if ((v->count + 1) * 2 > v->mask + 1)
		visited_grow(v);
	pos = visited_hash(key) & v->mask;
	while (v->keys[pos] != 0)
	{
		if (v->keys[pos] == key)
			return false;
		pos = (pos + 1) & v->mask;
	}
	v->keys[pos] = key;
	v->count++;
	return true;
}

int
hnsw_unvisited(HnswVisited *v, HnswId *ids, int n)
{
	int			kept = 0;
	int			i;

	for (i = 0; i < n; i++)
		if (hnsw_visited_add(v, ids[i]))
			ids[kept++] = ids[i];
	return kept;
}

bool
hnsw_visited_contains(const HnswVisited *v, HnswId id)
{
	uint64		key = id + 1;
	uint64		pos = visited_hash(key) & v->mask;

	while (v->keys[pos] != 0)
	{
		if (v->keys[pos] == key)
			return true;
		pos = (pos + 1) & v->mask;
	}
	return false;
}

void
hnsw_visited_reset(HnswVisited *v)
{
	memset(v->keys, 0, sizeof(uint64) * (v->mask + 1));
	v->count = 0;
}

/* ---------------------------------------------------------------------
 * Layer search (Algorithm 2 of the paper)
 */
int
hnsw_search_layer(const HnswSource *src, const float *q,
				  const HnswCandidate *entries, int nentries,
				  int ef, int level, bool only_live, HnswCandidate *out)
{
	HnswHeap	cand;
	HnswHeap	w;
	HnswVisited visited;
	HnswId	   *nbuf;
	HnswCandidate *scored;
	int			i;
	int			n;

	hnsw_heap_init(&cand, ef * 4, false);
	hnsw_heap_init(&w, ef + 1, true);
	hnsw_visited_init(&visited, (uint64) ef * src->m * 4);
	nbuf = palloc(sizeof(HnswId) * hnsw_level_capacity(src->m, 0));
	scored = palloc(sizeof(HnswCandidate) * hnsw_level_capacity(src->m, 0));

	for (i = 0; i < nentries; i++)
	{
		if (!hnsw_visited_add(&visited, entries[i].id))
			continue;
		hnsw_heap_push(&cand, &entries[i]);
		if (!only_live || entries[i].live)
		{
			hnsw_heap_push(&w, &entries[i]);
			if (w.n > ef)
				(void) hnsw_heap_pop(&w);
		}
	}

	while (cand.n > 0)
	{
		HnswCandidate c = hnsw_heap_pop(&cand);
		int			nn;

		if (w.n >= ef && c.dist > hnsw_heap_top(&w)->dist)
			break;

		CHECK_FOR_INTERRUPTS();
		nn = src->neighbours(src->arg, c.id, level, nbuf);
		nn = hnsw_unvisited(&visited, nbuf, nn);
		src->distances(src->arg, nbuf, nn, q, scored);
		for (i = 0; i < nn; i++)
		{
			HnswCandidate e = scored[i];

			if (w.n < ef || e.dist < hnsw_heap_top(&w)->dist)
			{
				hnsw_heap_push(&cand, &e);
				if (!only_live || e.live)
				{
					hnsw_heap_push(&w, &e);
					if (w.n > ef)
						(void) hnsw_heap_pop(&w);
				}
			}
		}
	}

	n = w.n;
	for (i = n - 1; i >= 0; i--)
		out[i] = hnsw_heap_pop(&w);

	pfree(cand.items);
	pfree(w.items);
	pfree(visited.keys);
	pfree(nbuf);
	pfree(scored);
	return n;
}

/* ---------------------------------------------------------------------
 * Neighbour selection heuristic (Algorithm 4 without extension)
 */

static int
select_item_cmp(const void *a, const void *b)
{
	const HnswSelectItem *x = a;
	const HnswSelectItem *y = b;

	if (x->dist < y->dist)
		return -1;
	if (x->dist > y->dist)
		return 1;
	if (x->tie != y->tie)
		return x->tie < y->tie ? -1 : 1;
	return x->id < y->id ? -1 : (x->id > y->id ? 1 : 0);
}

/* Exact duplicates: the same bits in every dimension. */
bool
hnsw_same_vector(const float *a, const float *b, int dims)
{
	return a[0] == b[0] && memcmp(a, b, sizeof(float) * dims) == 0;
}

int
hnsw_select_neighbours(const HnswMetric *metric, int dims,
					   HnswSelectItem *items, int nitems, int max,
					   uint64 salt, int *out)
{
	int			nsel = 0;
	int			i;
	bool	   *used;

	if (nitems <= 0 || max <= 0)
		return 0;
	for (i = 0; i < nitems; i++)
		items[i].tie = visited_hash(items[i].id ^ visited_hash(salt));
	qsort(items, nitems, sizeof(HnswSelectItem), select_item_cmp);
	used = palloc0(sizeof(bool) * nitems);

	for (i = 0; i < nitems && nsel < max; i++)
	{
		bool		keep = true;
		int			j;

		for (j = 0; j < nsel; j++)
		{
			/*
			 * A candidate closer to an already selected neighbour than to
			 * the base is reachable through that neighbour: skip it, so the
			 * list spreads in different directions.  An exact duplicate of
			 * a selected neighbour adds no direction at all.
			 */
			const float *sv = items[out[j]].vec;

			if (hnsw_distance(metric, items[i].vec, sv, dims) < items[i].dist ||
				hnsw_same_vector(items[i].vec, sv, dims))
			{
				keep = false;
				break;
			}
		}
		if (keep)
		{
			out[nsel++] = i;
			used[i] = true;
		}
	}

	/*
	 * Fill the remaining slots with the nearest pruned candidates
	 * ("keepPrunedConnections" in the paper), those that are not duplicates
	 * of a selected one first.  Without it, data lying on a low-dimensional
	 * manifold leaves lists with two or three entries and some elements lose
	 * every in-link (unreachable); full lists also keep the graph connected
	 * when VACUUM removes elements.
	 */
	if (nsel < max && nsel < nitems)
	{
		int			pass;

		for (pass = 0; pass < 2 && nsel < max; pass++)
		{
			for (i = 0; i < nitems && nsel < max; i++)
			{
				if (used[i])
					continue;
				if (pass == 0)
				{
					bool		dup = false;
					int			j;

					for (j = 0; j < nsel && !dup; j++)
						dup = hnsw_same_vector(items[i].vec, items[out[j]].vec, dims);
					if (dup)
						continue;
				}
				out[nsel++] = i;
				used[i] = true;
			}
		}
	}
	pfree(used);
	return nsel;
}

/* ---------------------------------------------------------------------
 * Levels
 */

int
hnsw_max_level_for(int code, int dims, int m)
{
	Size		avail = BLCKSZ - MAXALIGN(SizeOfPageHeaderData)
		- MAXALIGN(sizeof(HnswPageOpaqueData)) - sizeof(ItemIdData);
	int			level;

	for (level = HNSW_MAX_LEVEL; level >= 0; level--)
	{
		if (MAXALIGN(hnsw_element_size(code, dims, m, level)) <= avail)
			return level;
	}
	return -1;
}

/* The most dimensions an element of level 0 holds in a page with this code and m (0 if none). */
static int
hnsw_max_dims_for(int code, int m)
{
	int			lo = 0,
				hi = EMBEDDING_MAX_DIM;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo + 1) / 2;

		if (hnsw_max_level_for(code, mid, m) >= 0)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

int
hnsw_max_level_checked(int code, int dims, int m)
{
	int			level = hnsw_max_level_for(code, dims, m);
	int			fit_m = 0;
	bool		sq8_fits;

	if (level >= 0)
		return level;
	/* the largest m whose elements of dims dimensions still fit */
	for (int mm = m - 1; mm >= HNSW_MIN_M && fit_m == 0; mm--)
		if (hnsw_max_level_for(code, dims, mm) >= 0)
			fit_m = mm;
	/* the smallest code, a quarter of float32, may fit with this m */
	sq8_fits = code != SP_CODE_SQ8 && hnsw_max_level_for(SP_CODE_SQ8, dims, m) >= 0;
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("embedding of %d dimensions is too large for a siamese_hnsw index with m = %d",
					dims, m),
			 errdetail("An element (vector and neighbour list) must fit in one %d-byte page: "
					   "with m = %d at most %d dimensions fit.", BLCKSZ, m, hnsw_max_dims_for(code, m)),
			 sq8_fits && fit_m > 0 ?
			 errhint("Build the index WITH (m = %d) or a smaller m, or WITH (storage = sq8), which fits up to %d dimensions with m = %d.",
					 fit_m, hnsw_max_dims_for(SP_CODE_SQ8, m), m) :
			 sq8_fits ?
			 errhint("Build the index WITH (storage = sq8), which fits up to %d dimensions with m = %d.",
					 hnsw_max_dims_for(SP_CODE_SQ8, m), m) :
			 fit_m > 0 ?
			 errhint("Build the index WITH (m = %d) or a smaller m.", fit_m) :
			 errhint("No m fits: at most %d dimensions fit with the smallest m (%d); reduce the dimensions.",
					 hnsw_max_dims_for(code, HNSW_MIN_M), HNSW_MIN_M)));
	pg_unreachable();
}

int
hnsw_random_level(pg_prng_state *rng, int m, int max_level)
{
	double		ml = 1.0 / log((double) m);
	double		u = 1.0 - pg_prng_double(rng);	/* (0, 1] */
	double		l = floor(-log(u) * ml);

	if (l > max_level)
		return max_level;
	return (int) l;
}

/* ---------------------------------------------------------------------
 * Vectors
 */

Embedding *
hnsw_datum_embedding(Datum d)
{
	return DatumGetEmbedding(d);
}

bool
hnsw_prepare_vector(const HnswMetric *metric, const float *x, int dims, float *out)
{
	int			i;

	if (metric->kind == SP_DISTANCE_COSINE)
	{
		double		norm = sqrt(sp_dist_normsq(x, (size_t) dims));

		if (!(norm > 0) || isinf(norm))
			return false;
		for (i = 0; i < dims; i++)
			out[i] = (float) (x[i] / norm);
	}
	else
		memcpy(out, x, sizeof(float) * dims);
	return true;
}

void
hnsw_init_metric(HnswMetric *metric, int kind)
{
	metric->kind = kind;
	metric->k = sp_distance_active();
	metric->qk = sp_quant_active();
}

/* ---------------------------------------------------------------------
 * Pages
 */

void
hnsw_init_page(Page page, uint16 flags)
{
	HnswPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(HnswPageOpaqueData));
	opaque = HnswPageGetOpaque(page);
	opaque->flags = flags;
	opaque->page_id = HNSW_PAGE_ID;
}

void
hnsw_init_metapage(Page page, int dims, int m, int efc, int kind, int code)
{
	HnswMetaPage meta;

	hnsw_init_page(page, HNSW_PAGE_META);
	meta = HnswPageGetMeta(page);
	memset(meta, 0, sizeof(HnswMetaPageData));
	meta->magic = HNSW_MAGIC;
	meta->version = code == SP_CODE_F32 ? HNSW_VERSION : HNSW_VERSION_CODES;
	meta->dims = dims;
	meta->m = m;
	meta->ef_construction = efc;
	meta->kind = kind;
	meta->entry_level = -1;
	meta->entry_blkno = InvalidBlockNumber;
	meta->entry_offno = InvalidOffsetNumber;
	meta->insert_blkno = InvalidBlockNumber;
	meta->code = code;
	/* pd_lower past the metadata so full-page images keep it */
	((PageHeader) page)->pd_lower = ((char *) meta + sizeof(HnswMetaPageData)) - (char *) page;
}

static void
check_meta(Relation index, Page page)
{
	HnswMetaPage meta = HnswPageGetMeta(page);

	if (PageIsNew(page) || !(HnswPageGetOpaque(page)->flags & HNSW_PAGE_META) ||
		meta->magic != HNSW_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not a siamese_hnsw index",
						RelationGetRelationName(index))));
	if (meta->version != HNSW_VERSION && meta->version != HNSW_VERSION_CODES)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("siamese_hnsw index \"%s\" has version %u, expected %u or %u",
						RelationGetRelationName(index), meta->version, HNSW_VERSION, HNSW_VERSION_CODES),
				 errhint("REINDEX the index.")));
	if (meta->m < HNSW_MIN_M || meta->m > HNSW_MAX_M ||
		meta->ef_construction < HNSW_MIN_EF_CONSTRUCTION ||
		meta->ef_construction > HNSW_MAX_EF_CONSTRUCTION ||
		meta->kind < SP_DISTANCE_L2 || meta->kind > SP_DISTANCE_IP ||
		meta->dims > EMBEDDING_MAX_DIM || !hnsw_code_valid(meta->code) ||
		(meta->version == HNSW_VERSION && meta->code != SP_CODE_F32) ||
		meta->entry_level < -1 || meta->entry_level > HNSW_MAX_LEVEL)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("siamese_hnsw index \"%s\" has a corrupted metapage",
						RelationGetRelationName(index)),
				 errhint("REINDEX the index.")));
}

void
hnsw_read_meta(Relation index, HnswMetaPageData *out)
{
	Buffer		buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	check_meta(index, page);
	memcpy(out, HnswPageGetMeta(page), sizeof(HnswMetaPageData));
	UnlockReleaseBuffer(buf);
}

/*
 * The element at (blkno, off) of a locked page, after checking that it
 * really is one: a bad TID in a neighbour list must give an error, not a
 * wild read.
 */
HnswElementTuple
hnsw_page_element(Relation index, Page page, BlockNumber blkno, OffsetNumber off, int m)
{
	ItemId		iid;
	HnswElementTuple etup;
	Size		len;

	if (PageIsNew(page) || !(HnswPageGetOpaque(page)->flags & HNSW_PAGE_ELEMENT) ||
		off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("siamese_hnsw index \"%s\" references missing element (%u,%u)",
						RelationGetRelationName(index), blkno, off),
				 errhint("REINDEX the index.")));
	iid = PageGetItemId(page, off);
	len = ItemIdGetLength(iid);
	etup = (HnswElementTuple) PageGetItem(page, iid);
	if (!ItemIdIsNormal(iid) || len < HNSW_ELEMENT_HEADER_SIZE ||
		etup->level > HNSW_MAX_LEVEL || !hnsw_code_valid(etup->code) ||
		len < hnsw_element_size(etup->code, etup->dims, m, etup->level))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("siamese_hnsw index \"%s\" has a malformed element at (%u,%u)",
						RelationGetRelationName(index), blkno, off),
				 errhint("REINDEX the index.")));
	return etup;
}

void
hnsw_check_dims(Relation index, int index_dims, int dims)
{
	if (index_dims != 0 && index_dims != dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embedding has %d dimensions but siamese_hnsw index \"%s\" has %d",
						dims, RelationGetRelationName(index), index_dims),
				 errdetail("Every embedding in an HNSW index must have the same number of dimensions."),
				 errhint("Constrain the column to one size, e.g. embedding(%d), or index a partial expression per size.",
						 index_dims)));
}
