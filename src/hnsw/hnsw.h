/*
 * hnsw.h: shared definitions of the siamese_hnsw index access method, an
 * HNSW graph (Malkov & Yashunin, "Efficient and robust approximate nearest
 * neighbor search using Hierarchical Navigable Small World graphs") over the
 * siamese.embedding type.
 *
 * On-disk layout
 *   block 0        metapage: dimensions, m, ef_construction, entry point,
 *                  insertion hint (HnswMetaPageData in the page contents)
 *   blocks 1..     element pages: one item per indexed row (HnswElementTuple)
 *                  holding the heap TID, the vector (float32, or a bf16 or
 *                  sq8 code: the storage reloption) and, for every layer the
 *                  element lives on, a fixed-capacity neighbour list of index
 *                  TIDs (2m slots on layer 0, m on the upper layers).
 * An element never moves and is never physically removed (VACUUM marks it
 * deleted and unlinks it), so an index TID read from any neighbour list
 * always names a valid element: readers need no cross-page consistency.
 *
 * Locking (deadlock free by construction)
 *   - at most one buffer content lock is held at any time; every neighbour
 *     list change is optimistic: read under a share lock, compute, re-lock
 *     exclusively and apply only if the list is unchanged (else retry);
 *   - the heavyweight page lock HNSW_UPDATE_LOCK serialises entry point
 *     changes: inserts hold it in ShareLock, an insert that may raise the
 *     entry point (and VACUUM replacing a deleted one) in ExclusiveLock.  No
 *     other heavyweight lock except relation extension is taken while it is
 *     held.
 * Every page change after the build goes through generic WAL; the build
 * writes its pages unlogged and then WAL-logs them all with
 * log_newpage_range().
 */
#ifndef SP_HNSW_H
#define SP_HNSW_H

#include "postgres.h"

#include <math.h>

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "access/itup.h"
#include "common/pg_prng.h"
#include "nodes/execnodes.h"
#include "storage/bufmgr.h"
#include "utils/float.h"
#include "utils/relcache.h"

#include "vector/distance.h"
#include "vector/quantize.h"
#include "pg/embedding/embedding.h"

#define HNSW_MAGIC				0x534E5357	/* "SNSW" */
/*
 * Format versions: 1 stores float32 vectors; 2 (an index built with a
 * storage code) stores codes, which a binary that knows only version 1 must
 * refuse rather than read as floats.  Both are read.
 */
#define HNSW_VERSION			1
#define HNSW_VERSION_CODES		2
#define HNSW_METAPAGE_BLKNO		0
#define HNSW_PAGE_ID			0xFF93

/* Heavyweight lock tag (a page number never used by a buffer lock). */
#define HNSW_UPDATE_LOCK		0

/* Reloption limits and defaults. */
#define HNSW_DEFAULT_M			16
#define HNSW_MIN_M				2
#define HNSW_MAX_M				100
#define HNSW_DEFAULT_EF_CONSTRUCTION 64
/*
 * The storage reloption's default: sq8 codes.  On the benchmarks of
 * docs/performance.md (70k, 280k and 1M rows) they halve the index and
 * match or beat float32's queries per second at the same recall.
 */
#define HNSW_DEFAULT_CODE		SP_CODE_SQ8
#define HNSW_MIN_EF_CONSTRUCTION 4
#define HNSW_MAX_EF_CONSTRUCTION 1000

/* Search GUC defaults. */
#define HNSW_DEFAULT_EF_SEARCH	100
#define HNSW_MAX_EF_SEARCH		1000
#define HNSW_DEFAULT_MAX_SCAN_TUPLES 20000

/* Highest layer an element may live on (also bounded by the page size). */
#define HNSW_MAX_LEVEL			15

/* Distance kinds: sp_distance_kind (vector/distance.h), one per operator class. */

/* Support function numbers. */
#define HNSW_KIND_PROC			1
#define HNSW_NPROCS				1

/* Page flags (special space). */
#define HNSW_PAGE_META			(1 << 0)
#define HNSW_PAGE_ELEMENT		(1 << 1)

/* Build phases reported in pg_stat_progress_create_index (AM subphases). */
#define HNSW_PHASE_LOAD			2
#define HNSW_PHASE_WRITE		3
#define HNSW_PHASE_LOG			4

typedef struct HnswPageOpaqueData
{
	uint16		flags;
	uint16		page_id;		/* HNSW_PAGE_ID, for tools like pg_filedump */
} HnswPageOpaqueData;

typedef HnswPageOpaqueData *HnswPageOpaque;

#define HnswPageGetOpaque(page) ((HnswPageOpaque) PageGetSpecialPointer(page))

typedef struct HnswMetaPageData
{
	uint32		magic;
	uint32		version;
	uint32		dims;			/* 0 until the first vector is indexed */
	uint16		m;
	uint16		ef_construction;
	uint16		kind;
	int16		entry_level;	/* -1: graph empty */
	BlockNumber entry_blkno;
	OffsetNumber entry_offno;
	BlockNumber insert_blkno;	/* last element page (hint) */
	uint16		code;			/* sp_code_kind of new elements (0, float32, in
								 * metapages older than the storage option) */
} HnswMetaPageData;

typedef HnswMetaPageData *HnswMetaPage;

#define HnswPageGetMeta(page)	((HnswMetaPage) PageGetContents(page))

/* Element flags. */
#define HNSW_ELEM_DELETED		(1 << 0)

/*
 * One element.  The vector is stored as a code of kind code (sp_code_kind:
 * float32 is the floats themselves; quantize.h's sp_vcode_* for the
 * others).  Neighbour slots follow it: layer 0 has 2m slots, layer l >= 1
 * has m slots starting at 2m + (l - 1) m.  Unused slots hold an invalid
 * ItemPointer; used slots are packed at the front of each layer.
 */
typedef struct HnswElementTupleData
{
	uint8		level;
	uint8		flags;
	uint16		dims;
	ItemPointerData heaptid;	/* invalid once deleted */
	uint8		code;			/* sp_code_kind (0 in elements older than codes) */
	uint8		unused;
	float4		vec[FLEXIBLE_ARRAY_MEMBER];	/* or the code's bytes */
} HnswElementTupleData;

typedef HnswElementTupleData *HnswElementTuple;

#define HNSW_ELEMENT_HEADER_SIZE offsetof(HnswElementTupleData, vec)

/*
 * A live element names a row a scan may return: not marked deleted by
 * VACUUM and still carrying its heap TID.
 */
static inline bool
hnsw_element_live(const HnswElementTupleData *etup)
{
	return !(etup->flags & HNSW_ELEM_DELETED) && ItemPointerIsValid(&etup->heaptid);
}

static inline int
hnsw_level_capacity(int m, int level)
{
	return level == 0 ? 2 * m : m;
}

static inline int
hnsw_level_offset(int m, int level)
{
	return level == 0 ? 0 : 2 * m + (level - 1) * m;
}

static inline int
hnsw_total_slots(int m, int level)
{
	return (level + 2) * m;
}

static inline Size
hnsw_element_size(int code, int dims, int m, int level)
{
	return HNSW_ELEMENT_HEADER_SIZE + sp_vcode_bytes((sp_code_kind) code, (size_t) dims)
		+ sizeof(ItemPointerData) * (Size) hnsw_total_slots(m, level);
}

static inline ItemPointer
hnsw_element_neighbours(HnswElementTuple etup)
{
	return (ItemPointer) ((char *) etup + HNSW_ELEMENT_HEADER_SIZE
						  + sp_vcode_bytes((sp_code_kind) etup->code, etup->dims));
}

/* Is code a kind this index stores? */
static inline bool
hnsw_code_valid(int code)
{
	return code == SP_CODE_F32 || code == SP_CODE_BF16 || code == SP_CODE_SQ8;
}

/*
 * Graph node id: an index TID packed as (block << 16 | offset) for on-disk
 * graphs, or an array position for the in-memory build graph.
 */
typedef uint64 HnswId;

#define HNSW_INVALID_ID			PG_UINT64_MAX

static inline HnswId
hnsw_tid_to_id(ItemPointer tid)
{
	return ((uint64) ItemPointerGetBlockNumberNoCheck(tid) << 16)
		| ItemPointerGetOffsetNumberNoCheck(tid);
}

static inline void
hnsw_id_to_tid(HnswId id, ItemPointer tid)
{
	ItemPointerSet(tid, (BlockNumber) (id >> 16), (OffsetNumber) (id & 0xFFFF));
}

/*
 * Ask the CPU to fetch the cache lines of [p, p + len) ahead of use; never
 * faults, so a stale or wrong address only wastes the hint.
 */
static inline void
hnsw_prefetch(const void *p, Size len)
{
	const char *c = (const char *) p;
	Size		off;

	for (off = 0; off < len; off += 64)
		__builtin_prefetch(c + off);
}

/* Distance metric of an index (kind + resolved kernels, float32 and codes). */
typedef struct HnswMetric
{
	int			kind;
	const sp_distance_kernels *k;
	const sp_quant_kernels *qk;
} HnswMetric;

/* Internal distance used by the graph: smaller is closer. */
static inline float
hnsw_distance(const HnswMetric *metric, const float *a, const float *b, int dims)
{
	float		d;

	switch (metric->kind)
	{
		case SP_DISTANCE_L2:
			d = metric->k->l2sq(a, b, (size_t) dims);
			break;
		case SP_DISTANCE_COSINE:
			/* both sides are stored normalised */
			d = 1.0f - metric->k->dot(a, b, (size_t) dims);
			break;
		default:
			d = -metric->k->dot(a, b, (size_t) dims);
			break;
	}
	/* overflowing sums can give NaN; order those last */
	if (isnan(d))
		d = get_float4_infinity();
	return d;
}

/*
 * The internal distance of q to an element's stored vector: exact for
 * float32 elements, approximate for codes.  qsum and qnorm2 are q's sum and
 * squared norm (the sq8 kernels need them).
 */
static inline float
hnsw_element_distance(const HnswMetric *metric, const float *q, float qsum, float qnorm2,
					  const HnswElementTupleData *etup, int dims)
{
	float		d;

	if (etup->code == SP_CODE_F32)
		return hnsw_distance(metric, q, etup->vec, dims);
	if (metric->kind == SP_DISTANCE_L2)
		d = sp_vcode_l2sq(metric->qk, (sp_code_kind) etup->code, q, qsum, qnorm2, etup->vec, (size_t) dims);
	else
	{
		d = sp_vcode_dot(metric->qk, (sp_code_kind) etup->code, q, qsum, etup->vec, (size_t) dims);
		d = metric->kind == SP_DISTANCE_COSINE ? 1.0f - d : -d;
	}
	return isnan(d) ? get_float4_infinity() : d;
}

/*
 * A scored graph node.  err and mag are the stored code's (0 for float32,
 * whose distance is exact): a scan turns dist into a lower bound with them.
 */
typedef struct HnswCandidate
{
	float		dist;
	bool		live;			/* not deleted: may be returned by a scan */
	bool		exact;			/* dist is exact (a float32 element) */
	float		err;
	float		mag;
	HnswId		id;
	ItemPointerData htid;
} HnswCandidate;

/*
 * Score n elements of an in-memory graph (the build's): vec returns an
 * element's vector and sets its heap TID.  Every vector is prefetched first
 * so that their cache misses overlap.
 */
typedef const float *(*HnswMemoryVector) (void *arg, HnswId id, ItemPointer htid);

static inline void
hnsw_score_in_memory(const HnswMetric *metric, int dims, HnswMemoryVector vec, void *arg,
					 const HnswId *ids, int n, const float *q, HnswCandidate *out)
{
	const float *vecs[2 * HNSW_MAX_M];
	int			i;

	Assert(n <= 2 * HNSW_MAX_M);
	for (i = 0; i < n; i++)
	{
		vecs[i] = vec(arg, ids[i], &out[i].htid);
		hnsw_prefetch(vecs[i], sizeof(float) * (Size) dims);
	}
	for (i = 0; i < n; i++)
	{
		out[i].id = ids[i];
		out[i].dist = hnsw_distance(metric, q, vecs[i], dims);
		out[i].live = true;
		out[i].exact = true;
		out[i].err = out[i].mag = 0;
	}
}

/* Binary heap of candidates (min- or max-ordered by dist). */
typedef struct HnswHeap
{
	HnswCandidate *items;
	int			n;
	int			cap;
	bool		is_max;
} HnswHeap;

extern void hnsw_heap_init(HnswHeap *h, int cap, bool is_max);
extern void hnsw_heap_push(HnswHeap *h, const HnswCandidate *c);
extern HnswCandidate hnsw_heap_pop(HnswHeap *h);
static inline const HnswCandidate *
hnsw_heap_top(const HnswHeap *h)
{
	return h->n > 0 ? &h->items[0] : NULL;
}

/* Visited set of node ids (open addressing). */
typedef struct HnswVisited
{
	uint64	   *keys;			/* id + 1; 0 = empty */
	uint64		mask;
	uint64		count;
} HnswVisited;

extern void hnsw_visited_init(HnswVisited *v, uint64 expected);
/* Insert id; returns true if it was not present before. */
extern bool hnsw_visited_add(HnswVisited *v, HnswId id);
/* Mark ids[0..n-1] visited, keeping in ids (in order) those that were not; returns their count. */
extern int	hnsw_unvisited(HnswVisited *v, HnswId *ids, int n);
extern bool hnsw_visited_contains(const HnswVisited *v, HnswId id);
extern void hnsw_visited_reset(HnswVisited *v);

/*
 * Access to a graph for the generic search code: the in-memory build graph
 * and the on-disk graph implement it.
 */
typedef struct HnswSource
{
	void	   *arg;
	/* Copy id's neighbours on layer level into out; return their count. */
	int			(*neighbours) (void *arg, HnswId id, int level, HnswId *out);
	/*
	 * Score ids[0..n-1] against q: out[i] gets the id, its distance, its
	 * liveness and heap TID.  A batch rather than one call per element so
	 * that a source can overlap the memory accesses of the whole batch
	 * (prefetch), which is where a search spends its time.
	 */
	void		(*distances) (void *arg, const HnswId *ids, int n, const float *q,
							  HnswCandidate *out);
	int			m;
} HnswSource;

/* One element's score through a source's batch call. */
static inline HnswCandidate
hnsw_source_score(const HnswSource *src, HnswId id, const float *q)
{
	HnswCandidate c;

	src->distances(src->arg, &id, 1, q, &c);
	return c;
}

/*
 * Search one layer from the entry candidates (ef nearest kept).  The result
 * is written to out (capacity ef) sorted by ascending distance; returns the
 * count.  Dead elements are traversed but, when only_live is true, not
 * returned.
 */
extern int	hnsw_search_layer(const HnswSource *src, const float *q,
							  const HnswCandidate *entries, int nentries,
							  int ef, int level, bool only_live,
							  HnswCandidate *out);

/* Neighbour selection heuristic input. */
typedef struct HnswSelectItem
{
	HnswId		id;
	float		dist;			/* to the base element */
	const float *vec;
	uint64		tie;			/* tie-break (set by hnsw_select_neighbours) */
} HnswSelectItem;

/*
 * Select up to max items from items (any order; sorted in place) with the
 * HNSW heuristic: keep a candidate only if it is closer to the base than to
 * every already selected one (and is not an exact duplicate of one), then
 * fill the free slots with the nearest pruned ones.  Equal distances are
 * ordered by a hash of (salt, id), salt naming the base element, so that
 * many identical vectors still form a well-connected random graph.  Writes
 * selected indexes into out; returns their count.
 */
extern bool hnsw_same_vector(const float *a, const float *b, int dims);
extern int	hnsw_select_neighbours(const HnswMetric *metric, int dims,
								   HnswSelectItem *items, int nitems, int max,
								   uint64 salt, int *out);

/* Random level for a new element (also capped by what fits in a page). */
extern int	hnsw_random_level(pg_prng_state *rng, int m, int max_level);
extern int	hnsw_max_level_for(int code, int dims, int m);
/*
 * hnsw_max_level_for, or ERROR when not even a level-0 element fits a page:
 * the message gives the most dimensions that fit with this m and the largest
 * m that fits these dimensions.
 */
extern int	hnsw_max_level_checked(int code, int dims, int m);

/* Reloptions */
typedef struct HnswOptions
{
	int32		vl_len_;
	int			m;
	int			ef_construction;
	int			storage;		/* offset of the storage option's string */
} HnswOptions;

extern int	hnsw_get_m(Relation index);
extern int	hnsw_get_ef_construction(Relation index);
/* The storage reloption as an sp_code_kind. */
extern int	hnsw_get_code(Relation index);
extern int	hnsw_get_kind(Relation index);
extern void hnsw_init_metric(HnswMetric *metric, int kind);

/* Embedding access: detoasted vector of a datum (palloc'd copy if needed). */
extern Embedding *hnsw_datum_embedding(Datum d);

/*
 * Prepare a vector for the index: copy to out, normalise for cosine.
 * Returns false when the vector cannot be indexed (zero vector for cosine).
 */
extern bool hnsw_prepare_vector(const HnswMetric *metric, const float *x, int dims, float *out);

/* Page helpers */
extern void hnsw_init_page(Page page, uint16 flags);
extern void hnsw_init_metapage(Page page, int dims, int m, int efc, int kind, int code);
extern void hnsw_read_meta(Relation index, HnswMetaPageData *meta);
extern HnswElementTuple hnsw_page_element(Relation index, Page page, BlockNumber blkno,
										  OffsetNumber off, int m);
extern void hnsw_check_dims(Relation index, int index_dims, int dims);

/* On-disk graph source (hnsw_insert.c) */
typedef struct HnswDiskSource
{
	Relation	index;
	int			m;
	int			dims;
	Size		elem_bytes;		/* header and vector code: what a fetch prefetches */
	HnswMetric	metric;
	BufferAccessStrategy bas;
} HnswDiskSource;

extern void hnsw_disk_source_init(HnswDiskSource *ds, HnswSource *src, Relation index,
								  int m, int dims, int code, const HnswMetric *metric);
/* Copy an element's vector (decoded) into out (dims floats); returns its level. */
extern int	hnsw_disk_load_vector(HnswDiskSource *ds, HnswId id, float *out);

/*
 * Copy element tid's layer-level list (all capacity slots) and its vector;
 * returns the used count, or -1 if the element has no such layer.
 */
extern int	hnsw_read_neighbour_list(HnswDiskSource *ds, ItemPointer tid, int level,
									 ItemPointerData *list, float *vec);

/*
 * Replace element tid's layer-level list with newlist (n entries) if it still
 * equals expect (all capacity slots); false if it changed meanwhile.  With
 * expect NULL, append newlist[0] if absent and there is room (*full is set
 * when there is none).
 */
extern bool hnsw_write_neighbour_list(Relation index, int m, ItemPointer tid, int level,
									  const ItemPointerData *expect,
									  const ItemPointerData *newlist, int n, bool *full);

/*
 * Insert a prepared vector into the on-disk graph (generic WAL).  Used by
 * aminsert and by the build once the graph outgrows maintenance_work_mem.
 */
extern void hnsw_insert_vector(Relation index, const float *vec, int dims,
							   ItemPointer heaptid, pg_prng_state *rng);

/* GUCs */
extern int	hnsw_ef_search;
/* siamese.hnsw.iterative_scan: what a scan does after its first batch. */
typedef enum HnswIterativeScan
{
	HNSW_ITERATIVE_SCAN_OFF,	/* stop after ef_search rows */
	HNSW_ITERATIVE_SCAN_RELAXED,	/* keep searching; batches may interleave */
	HNSW_ITERATIVE_SCAN_STRICT	/* keep searching; drop rows nearer than one returned */
} HnswIterativeScan;

extern int	hnsw_iterative_scan;
extern int	hnsw_max_scan_tuples;
extern void hnsw_init_gucs(void);

/* AM callbacks */
extern IndexBuildResult *hnsw_build(Relation heap, Relation index, IndexInfo *indexInfo);
extern void hnsw_buildempty(Relation index);
extern bool hnsw_insert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
						Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
						IndexInfo *indexInfo);
extern IndexBulkDeleteResult *hnsw_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
											  IndexBulkDeleteCallback callback, void *callback_state);
extern IndexBulkDeleteResult *hnsw_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats);
extern IndexScanDesc hnsw_beginscan(Relation index, int nkeys, int norderbys);
extern void hnsw_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys);
extern bool hnsw_gettuple(IndexScanDesc scan, ScanDirection dir);
extern void hnsw_endscan(IndexScanDesc scan);

#endif							/* SP_HNSW_H */
