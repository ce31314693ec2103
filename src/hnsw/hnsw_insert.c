/*
 * hnsw_insert.c: inserting into the on-disk HNSW graph (aminsert, and the
 * build once its in-memory graph outgrows maintenance_work_mem), plus the
 * on-disk HnswSource used by inserts and scans.
 *
 * An insert (1) searches the graph for the new element's neighbours on each
 * of its layers, reading one page at a time under a share lock; (2) appends
 * the element, with its own neighbour lists, to the last page (or a new
 * one); (3) links each chosen neighbour back to it, optimistically: the
 * neighbour's list is read, the new list computed without any lock held,
 * and written only if the list did not change meanwhile; (4) moves the
 * entry point when the new element lives on a higher layer.  Each page
 * change is one generic WAL record.  A crash between steps leaves an
 * element with fewer in-links than planned: it is still a well-formed graph,
 * and the inserting transaction never committed, so VACUUM removes it.
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"

#include "hnsw/hnsw.h"

#define HNSW_LINK_RETRIES 8

/* ---------------------------------------------------------------------
 * On-disk graph source
 */

/*
 * Buffers that recently held element pages, direct-mapped by (index, block),
 * for the whole backend.  ReadRecentBuffer pins such a buffer after checking
 * its tag, without the shared buffer-mapping lookup (a hash probe and a
 * partition lock) that was the second-largest cost of a search; a stale or
 * colliding slot only falls back to ReadBuffer, so the cache needs no
 * invalidation.
 */
#define HNSW_RECENT_SLOTS		16384

typedef struct HnswRecentBuffer
{
	Oid			relnode;
	BlockNumber blkno;
	Buffer		buffer;
} HnswRecentBuffer;

static HnswRecentBuffer hnsw_recent[HNSW_RECENT_SLOTS];

static Buffer
read_element_page(HnswDiskSource *ds, BlockNumber blkno)
{
	HnswRecentBuffer *slot;
	Buffer		buf;

	/* VACUUM reads through its ring; temporary indexes use local buffers */
	if (ds->bas != NULL || RelationUsesLocalBuffers(ds->index))
		return ReadBufferExtended(ds->index, MAIN_FORKNUM, blkno, RBM_NORMAL, ds->bas);
	slot = &hnsw_recent[(blkno ^ (ds->index->rd_node.relNode * 0x9E3779B1u)) % HNSW_RECENT_SLOTS];
	if (slot->blkno == blkno && slot->relnode == ds->index->rd_node.relNode &&
		BufferIsValid(slot->buffer) &&
		ReadRecentBuffer(ds->index->rd_node, MAIN_FORKNUM, blkno, slot->buffer))
		return slot->buffer;
	buf = ReadBufferExtended(ds->index, MAIN_FORKNUM, blkno, RBM_NORMAL, NULL);
	slot->relnode = ds->index->rd_node.relNode;
	slot->blkno = blkno;
	slot->buffer = buf;
	return buf;
}

/*
 * Share-lock pinned buffer buf and return element tid in it (the caller
 * releases it with UnlockReleaseBuffer).  check_dims: the element must have
 * the index's dimension count (its vector is about to be used).
 */
static HnswElementTuple
lock_element(HnswDiskSource *ds, Buffer buf, ItemPointer tid, bool check_dims)
{
	HnswElementTuple etup;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	etup = hnsw_page_element(ds->index, BufferGetPage(buf), ItemPointerGetBlockNumber(tid),
							 ItemPointerGetOffsetNumber(tid), ds->m);
	if (check_dims && etup->dims != ds->dims)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("siamese_hnsw index \"%s\" has an element of %d dimensions, expected %d",
						RelationGetRelationName(ds->index), etup->dims, ds->dims)));
	return etup;
}

/* The element tuple of id, read and locked (lock_element). */
static HnswElementTuple
disk_element(HnswDiskSource *ds, HnswId id, bool check_dims, Buffer *buf)
{
	ItemPointerData tid;

	hnsw_id_to_tid(id, &tid);
	*buf = read_element_page(ds, ItemPointerGetBlockNumber(&tid));
	return lock_element(ds, *buf, &tid, check_dims);
}

static int
disk_neighbours(void *arg, HnswId id, int level, HnswId *out)
{
	HnswDiskSource *ds = arg;
	Buffer		buf;
	HnswElementTuple etup = disk_element(ds, id, false, &buf);
	int			n = 0;

	if (level <= etup->level)
	{
		ItemPointer nb = hnsw_element_neighbours(etup) + hnsw_level_offset(ds->m, level);
		int			cap = hnsw_level_capacity(ds->m, level);

		for (n = 0; n < cap && ItemPointerIsValid(&nb[n]); n++)
			out[n] = hnsw_tid_to_id(&nb[n]);
	}
	UnlockReleaseBuffer(buf);
	return n;
}

/*
 * Pages pinned at once by disk_distances: a backend tracks its first 8 pins
 * in a small array and the rest in a hash table, and the executor may hold
 * a heap page pin across the scan.
 */
#define HNSW_FETCH_BATCH		6

/*
 * Score a batch of elements.  Fetching an element costs a chain of cache
 * misses (buffer mapping, buffer header, page header, line pointer, special
 * space, tuple, vector) that dominates a search; each element's chain
 * depends only on its TID, so the batch is pinned first and each page's
 * lines prefetched, then each element's tuple is prefetched through its
 * line pointer, and only then is each element read under its share lock.
 * The misses of a batch overlap instead of following one another.  At most
 * one content lock is held at a time, as everywhere in this index.
 */
static void
disk_distances(void *arg, const HnswId *ids, int n, const float *q, HnswCandidate *out)
{
	HnswDiskSource *ds = arg;
	float		qsum = 0,
				qnorm2 = 0;
	bool		qstats = false;
	int			start;

	for (start = 0; start < n; start += HNSW_FETCH_BATCH)
	{
		int			nb = Min(HNSW_FETCH_BATCH, n - start);
		Buffer		bufs[HNSW_FETCH_BATCH];
		ItemPointerData tids[HNSW_FETCH_BATCH];
		int			i;

		for (i = 0; i < nb; i++)
		{
			Page		page;

			hnsw_id_to_tid(ids[start + i], &tids[i]);
			bufs[i] = read_element_page(ds, ItemPointerGetBlockNumber(&tids[i]));
			page = BufferGetPage(bufs[i]);
			__builtin_prefetch(page);
			__builtin_prefetch(PageGetItemId(page, ItemPointerGetOffsetNumber(&tids[i])));
			__builtin_prefetch((char *) page + BLCKSZ - sizeof(HnswPageOpaqueData));
		}
		for (i = 0; i < nb; i++)
		{
			Page		page = BufferGetPage(bufs[i]);
			OffsetNumber off = ItemPointerGetOffsetNumber(&tids[i]);

			/*
			 * A linked element's line pointer never changes, so it may be
			 * read without the lock: it only aims the prefetch, and the
			 * element is validated under the lock below.
			 */
			if (off >= FirstOffsetNumber && off <= MaxIndexTuplesPerPage)
			{
				ItemId		iid = PageGetItemId(page, off);

				hnsw_prefetch((char *) page + ItemIdGetOffset(iid), ds->elem_bytes);
			}
		}
		for (i = 0; i < nb; i++)
		{
			HnswElementTuple etup;
			HnswCandidate *c = &out[start + i];

			etup = lock_element(ds, bufs[i], &tids[i], true);
			if (etup->code == SP_CODE_SQ8 && !qstats)
			{
				/* the query's sum and squared norm, for sq8 codes: once per batch */
				sp_vcode_query_stats(q, (size_t) ds->dims, &qsum, &qnorm2);
				qstats = true;
			}
			c->id = ids[start + i];
			c->dist = hnsw_element_distance(&ds->metric, q, qsum, qnorm2, etup, ds->dims);
			c->live = hnsw_element_live(etup);
			c->exact = etup->code == SP_CODE_F32;
			c->err = c->mag = 0;
			if (!c->exact)
				sp_vcode_bounds((sp_code_kind) etup->code, etup->vec, (size_t) ds->dims, &c->err, &c->mag);
			c->htid = etup->heaptid;
			UnlockReleaseBuffer(bufs[i]);
		}
	}
}

void
hnsw_disk_source_init(HnswDiskSource *ds, HnswSource *src, Relation index,
					  int m, int dims, int code, const HnswMetric *metric)
{
	ds->index = index;
	ds->m = m;
	ds->dims = dims;
	ds->elem_bytes = HNSW_ELEMENT_HEADER_SIZE + sp_vcode_bytes((sp_code_kind) code, (size_t) dims);
	ds->metric = *metric;
	ds->bas = NULL;
	src->arg = ds;
	src->neighbours = disk_neighbours;
	src->distances = disk_distances;
	src->m = m;
}

int
hnsw_disk_load_vector(HnswDiskSource *ds, HnswId id, float *out)
{
	Buffer		buf;
	HnswElementTuple etup = disk_element(ds, id, true, &buf);
	int			level;

	sp_vcode_decode((sp_code_kind) etup->code, etup->vec, (size_t) ds->dims, out);
	level = etup->level;
	UnlockReleaseBuffer(buf);
	return level;
}

/* ---------------------------------------------------------------------
 * Page writes
 */

/* Append a tuple to the insertion page or a new page; returns its TID. */
static void
add_element_tuple(Relation index, HnswElementTuple etup, Size size,
				  BlockNumber hint, ItemPointer result)
{
	Buffer		buf;
	Page		page;
	GenericXLogState *state;
	OffsetNumber off;
	BlockNumber blkno;

	if (hint != InvalidBlockNumber && hint != HNSW_METAPAGE_BLKNO)
	{
		buf = ReadBuffer(index, hint);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		if (!PageIsNew(page) && (HnswPageGetOpaque(page)->flags & HNSW_PAGE_ELEMENT) &&
			PageGetFreeSpace(page) >= MAXALIGN(size))
		{
			state = GenericXLogStart(index);
			page = GenericXLogRegisterBuffer(state, buf, 0);
			off = PageAddItem(page, (Item) etup, size, InvalidOffsetNumber, false, false);
			if (off == InvalidOffsetNumber)
				elog(ERROR, "failed to add element to siamese_hnsw index \"%s\"",
					 RelationGetRelationName(index));
			GenericXLogFinish(state);
			ItemPointerSet(result, hint, off);
			UnlockReleaseBuffer(buf);
			return;
		}
		UnlockReleaseBuffer(buf);
	}

	/* Extend the relation by one page. */
	LockRelationForExtension(index, ExclusiveLock);
	buf = ReadBuffer(index, P_NEW);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	UnlockRelationForExtension(index, ExclusiveLock);

	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
	hnsw_init_page(page, HNSW_PAGE_ELEMENT);
	off = PageAddItem(page, (Item) etup, size, InvalidOffsetNumber, false, false);
	if (off == InvalidOffsetNumber)
		elog(ERROR, "failed to add element to siamese_hnsw index \"%s\"",
			 RelationGetRelationName(index));
	GenericXLogFinish(state);
	blkno = BufferGetBlockNumber(buf);
	ItemPointerSet(result, blkno, off);
	UnlockReleaseBuffer(buf);

	/* Advance the insertion hint (after releasing the new page). */
	buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	{
		HnswMetaPage meta = HnswPageGetMeta(BufferGetPage(buf));

		if (meta->insert_blkno == InvalidBlockNumber || meta->insert_blkno < blkno)
		{
			state = GenericXLogStart(index);
			page = GenericXLogRegisterBuffer(state, buf, 0);
			HnswPageGetMeta(page)->insert_blkno = blkno;
			GenericXLogFinish(state);
		}
	}
	UnlockReleaseBuffer(buf);
}

/*
 * Replace the layer-level list of element tid with newlist (n entries) if
 * the list still equals expect (cap entries); returns false if it changed.
 * With expect == NULL, append one entry if there is room instead.
 */
bool
hnsw_write_neighbour_list(Relation index, int m, ItemPointer tid, int level,
					 const ItemPointerData *expect, const ItemPointerData *newlist, int n,
					 bool *full)
{
	Buffer		buf;
	Page		page;
	HnswElementTuple etup;
	ItemPointer nb;
	int			cap = hnsw_level_capacity(m, level);
	GenericXLogState *state;
	int			count;
	int			i;

	*full = false;
	buf = ReadBuffer(index, ItemPointerGetBlockNumber(tid));
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	etup = hnsw_page_element(index, BufferGetPage(buf), ItemPointerGetBlockNumber(tid),
							 ItemPointerGetOffsetNumber(tid), m);
	if (level > etup->level)
	{
		UnlockReleaseBuffer(buf);
		return true;			/* nothing to link on that layer */
	}
	nb = hnsw_element_neighbours(etup) + hnsw_level_offset(m, level);
	for (count = 0; count < cap && ItemPointerIsValid(&nb[count]); count++)
		;

	if (expect == NULL)
	{
		/* append newlist[0] unless present */
		for (i = 0; i < count; i++)
		{
			if (ItemPointerEquals(&nb[i], (ItemPointer) &newlist[0]))
			{
				UnlockReleaseBuffer(buf);
				return true;
			}
		}
		if (count >= cap)
		{
			*full = true;
			UnlockReleaseBuffer(buf);
			return false;
		}
	}
	else if (memcmp(nb, expect, sizeof(ItemPointerData) * cap) != 0)
	{
		UnlockReleaseBuffer(buf);
		return false;
	}

	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	etup = (HnswElementTuple) PageGetItem(page, PageGetItemId(page, ItemPointerGetOffsetNumber(tid)));
	nb = hnsw_element_neighbours(etup) + hnsw_level_offset(m, level);
	if (expect == NULL)
		nb[count] = newlist[0];
	else
	{
		for (i = 0; i < cap; i++)
		{
			if (i < n)
				nb[i] = newlist[i];
			else
				ItemPointerSetInvalid(&nb[i]);
		}
	}
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
	return true;
}

/* Copy an element's list at level (cap slots) and its vector. */
int
hnsw_read_neighbour_list(HnswDiskSource *ds, ItemPointer tid, int level,
					ItemPointerData *list, float *vec)
{
	Buffer		buf;
	HnswElementTuple etup;
	int			cap = hnsw_level_capacity(ds->m, level);
	int			count = -1;

	buf = ReadBuffer(ds->index, ItemPointerGetBlockNumber(tid));
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	etup = hnsw_page_element(ds->index, BufferGetPage(buf), ItemPointerGetBlockNumber(tid),
							 ItemPointerGetOffsetNumber(tid), ds->m);
	if (level <= etup->level && etup->dims == ds->dims)
	{
		ItemPointer nb = hnsw_element_neighbours(etup) + hnsw_level_offset(ds->m, level);

		memcpy(list, nb, sizeof(ItemPointerData) * cap);
		if (vec)
			sp_vcode_decode((sp_code_kind) etup->code, etup->vec, (size_t) ds->dims, vec);
		for (count = 0; count < cap && ItemPointerIsValid(&list[count]); count++)
			;
	}
	UnlockReleaseBuffer(buf);
	return count;
}

/*
 * Make element ntid (on layer level) point to newtid, pruning its list with
 * the selection heuristic when it is full.  Optimistic: retried when the
 * list changes under us; after HNSW_LINK_RETRIES the link is dropped (the
 * new element keeps its other in-links).  With force, a full list that the
 * heuristic would not change takes the new element in place of its last
 * entry, which is returned in *evicted (invalid otherwise).
 */
/* Does the selection sel[] (nsel of the n items) leave out an exact copy of vec? */
static bool
dropped_duplicate(const HnswSelectItem *items, int n, const int *sel, int nsel,
				  const float *vec, int dims)
{
	for (int i = 0; i < n; i++)
	{
		bool		kept = false;

		for (int j = 0; j < nsel && !kept; j++)
			kept = (sel[j] == i);
		if (!kept && hnsw_same_vector(items[i].vec, vec, dims))
			return true;
	}
	return false;
}

static bool
link_back(HnswDiskSource *ds, ItemPointer ntid, int level,
		  ItemPointer newtid, const float *newvec, bool force, ItemPointer evicted)
{
	int			cap = hnsw_level_capacity(ds->m, level);
	ItemPointerData *list = palloc(sizeof(ItemPointerData) * cap);
	ItemPointerData *newlist = palloc(sizeof(ItemPointerData) * cap);
	float	   *nvec = palloc(sizeof(float) * ds->dims);
	float	   *vecs = palloc(sizeof(float) * ds->dims * (cap + 1));
	HnswSelectItem *items = palloc(sizeof(HnswSelectItem) * (cap + 1));
	int		   *sel = palloc(sizeof(int) * (cap + 1));
	int			attempt;
	bool		linked = false;

	ItemPointerSetInvalid(evicted);
	for (attempt = 0; attempt < HNSW_LINK_RETRIES; attempt++)
	{
		bool		full;
		int			count;
		int			nsel;
		int			i;
		bool		chosen = false;

		if (hnsw_write_neighbour_list(ds->index, ds->m, ntid, level, NULL, newtid, 1, &full))
		{
			linked = true;
			break;
		}
		if (!full)
			continue;

		count = hnsw_read_neighbour_list(ds, ntid, level, list, nvec);
		if (count < 0)
			break;
		for (i = 0; i < count; i++)
		{
			items[i].id = hnsw_tid_to_id(&list[i]);
			items[i].vec = vecs + (Size) i * ds->dims;
			(void) hnsw_disk_load_vector(ds, items[i].id, (float *) items[i].vec);
			items[i].dist = hnsw_distance(&ds->metric, nvec, items[i].vec, ds->dims);
		}
		items[count].id = hnsw_tid_to_id(newtid);
		items[count].vec = newvec;
		items[count].dist = hnsw_distance(&ds->metric, nvec, newvec, ds->dims);

		nsel = hnsw_select_neighbours(&ds->metric, ds->dims, items, count + 1, cap,
									  hnsw_tid_to_id(ntid), sel);
		for (i = 0; i < nsel; i++)
		{
			hnsw_id_to_tid(items[sel[i]].id, &newlist[i]);
			if (items[sel[i]].id == hnsw_tid_to_id(newtid))
				chosen = true;
		}

		/*
		 * Trading an exact duplicate of the new vector for the new element
		 * gains the list no direction and costs the dropped one an in-link
		 * (with ties broken at random, a run of duplicates would keep
		 * evicting each other): keep the list as it is.
		 */
		if (chosen && dropped_duplicate(items, count + 1, sel, nsel, newvec, ds->dims))
			chosen = false;
		if (!chosen)
		{
			if (!force)
				break;			/* the heuristic prefers the current list */

			/*
			 * No other list took the new element: give it its one way in
			 * by replacing the last (farthest-ranked) entry.
			 */
			for (i = 0; i < count; i++)
				newlist[i] = list[i];
			newlist[count - 1] = *newtid;
			nsel = count;
		}
		if (hnsw_write_neighbour_list(ds->index, ds->m, ntid, level, list, newlist, nsel, &full))
		{
			if (!chosen)
				*evicted = list[count - 1];
			linked = true;
			break;
		}
		CHECK_FOR_INTERRUPTS();
	}

	pfree(list);
	pfree(newlist);
	pfree(nvec);
	pfree(vecs);
	pfree(items);
	pfree(sel);
	return linked;
}

/*
 * A forced link took evicted's slot in a list: give evicted a way in through
 * the new element instead, so the path into it becomes that list -> new
 * element -> evicted.  The new element's layer-0 list is full of the
 * neighbours it chose itself (own[], n entries); those links are younger
 * than this insert, so overwriting the last of them costs no element an
 * in-link it had before.  Without this, every exact duplicate forced into
 * the same nearest neighbour's list evicts the one forced in before it, and
 * a run of duplicates leaves a fifth of them unreachable until VACUUM.
 */
static void
adopt_evicted(HnswDiskSource *ds, ItemPointer newtid, ItemPointer evicted,
			  const ItemPointerData *own, int n)
{
	int			cap = hnsw_level_capacity(ds->m, 0);
	ItemPointerData *list = palloc(sizeof(ItemPointerData) * cap);
	ItemPointerData *newlist = palloc(sizeof(ItemPointerData) * cap);
	int			attempt;

	for (attempt = 0; attempt < HNSW_LINK_RETRIES; attempt++)
	{
		bool		full;
		int			count;
		int			slot = -1;
		int			i;

		if (hnsw_write_neighbour_list(ds->index, ds->m, newtid, 0, NULL, evicted, 1, &full))
			break;				/* appended, or already there */
		if (!full)
			continue;
		count = hnsw_read_neighbour_list(ds, newtid, 0, list, NULL);
		for (i = count - 1; i >= 0 && slot < 0; i--)
			for (int j = 0; j < n && slot < 0; j++)
				if (ItemPointerEquals(&list[i], (ItemPointer) &own[j]))
					slot = i;
		if (slot < 0)
			break;				/* only links other inserts made: keep them */
		memcpy(newlist, list, sizeof(ItemPointerData) * count);
		newlist[slot] = *evicted;
		if (hnsw_write_neighbour_list(ds->index, ds->m, newtid, 0, list, newlist, count, &full))
			break;
		CHECK_FOR_INTERRUPTS();
	}
	pfree(list);
	pfree(newlist);
}

/* ---------------------------------------------------------------------
 * Insert
 */
void
hnsw_insert_vector(Relation index, const float *vec, int dims,
				   ItemPointer heaptid, pg_prng_state *rng)
{
	HnswMetaPageData meta;
	LOCKMODE	lockmode = ShareLock;
	HnswMetric	metric;
	HnswDiskSource ds;
	HnswSource	src;
	int			m;
	int			efc;
	int			level;
	int			maxlevel;
	int			top;
	int			lc;
	Size		size;
	HnswElementTuple etup;
	ItemPointer nbs;
	ItemPointerData newtid;
	HnswCandidate *w;
	HnswCandidate *eps;
	int			neps;
	int		   *nselected;

	LockPage(index, HNSW_UPDATE_LOCK, lockmode);
	hnsw_read_meta(index, &meta);
	hnsw_check_dims(index, meta.dims, dims);
	m = meta.m;
	efc = meta.ef_construction;
	maxlevel = hnsw_max_level_checked(meta.code, dims, m);
	level = hnsw_random_level(rng, m, maxlevel);

	/* Entry point may change: serialise against every other insert. */
	if (meta.entry_level < 0 || level > meta.entry_level)
	{
		UnlockPage(index, HNSW_UPDATE_LOCK, lockmode);
		lockmode = ExclusiveLock;
		LockPage(index, HNSW_UPDATE_LOCK, lockmode);
		hnsw_read_meta(index, &meta);
		hnsw_check_dims(index, meta.dims, dims);
	}

	hnsw_init_metric(&metric, meta.kind);
	hnsw_disk_source_init(&ds, &src, index, m, dims, meta.code, &metric);

	size = hnsw_element_size(meta.code, dims, m, level);
	etup = palloc0(size);
	etup->level = level;
	etup->dims = dims;
	etup->heaptid = *heaptid;
	etup->code = meta.code;
	sp_vcode_encode((sp_code_kind) meta.code, vec, (size_t) dims, etup->vec);
	nbs = hnsw_element_neighbours(etup);
	for (lc = 0; lc < hnsw_total_slots(m, level); lc++)
		ItemPointerSetInvalid(&nbs[lc]);

	top = meta.entry_level;
	nselected = palloc0(sizeof(int) * (level + 1));
	w = palloc(sizeof(HnswCandidate) * Max(efc, 1));
	eps = palloc(sizeof(HnswCandidate) * Max(efc, 1));
	neps = 0;

	if (top >= 0)
	{
		HnswCandidate ep;
		float	   *vecs = palloc(sizeof(float) * (Size) dims * efc);
		HnswSelectItem *items = palloc(sizeof(HnswSelectItem) * efc);
		int		   *sel = palloc(sizeof(int) * efc);
		ItemPointerData etid;

		ItemPointerSet(&etid, meta.entry_blkno, meta.entry_offno);
		ep = hnsw_source_score(&src, hnsw_tid_to_id(&etid), vec);
		eps[0] = ep;
		neps = 1;

		/* greedy descent through the layers above the new element */
		for (lc = top; lc > level; lc--)
		{
			int			n = hnsw_search_layer(&src, vec, eps, neps, 1, lc, false, w);

			if (n > 0)
			{
				eps[0] = w[0];
				neps = 1;
			}
		}

		for (lc = Min(level, top); lc >= 0; lc--)
		{
			int			n = hnsw_search_layer(&src, vec, eps, neps, efc, lc, true, w);
			int			cap = hnsw_level_capacity(m, lc);
			int			nsel;
			int			i;

			for (i = 0; i < n; i++)
			{
				items[i].id = w[i].id;
				items[i].dist = w[i].dist;
				items[i].vec = vecs + (Size) i * dims;
				(void) hnsw_disk_load_vector(&ds, w[i].id, (float *) items[i].vec);
			}
			nsel = hnsw_select_neighbours(&metric, dims, items, n, cap,
										  hnsw_tid_to_id(heaptid), sel);
			nselected[lc] = nsel;
			for (i = 0; i < nsel; i++)
				hnsw_id_to_tid(items[sel[i]].id, &nbs[hnsw_level_offset(m, lc) + i]);
			if (n > 0)
			{
				memcpy(eps, w, sizeof(HnswCandidate) * n);
				neps = n;
			}
		}
		pfree(vecs);
		pfree(items);
		pfree(sel);
	}

	add_element_tuple(index, etup, size, meta.insert_blkno, &newtid);

	/*
	 * Link the chosen neighbours back to the new element.  If no layer-0
	 * list accepted it (typical for an exact duplicate of many elements),
	 * force it into its nearest neighbour's list so that it is reachable.
	 */
	for (lc = Min(level, top); lc >= 0; lc--)
	{
		int			i;
		bool		any = false;
		ItemPointerData evicted;

		for (i = 0; i < nselected[lc]; i++)
		{
			ItemPointerData ntid = nbs[hnsw_level_offset(m, lc) + i];

			if (link_back(&ds, &ntid, lc, &newtid, vec, false, &evicted))
				any = true;
		}
		if (lc == 0 && !any && nselected[0] > 0)
		{
			ItemPointerData ntid = nbs[0];

			if (link_back(&ds, &ntid, 0, &newtid, vec, true, &evicted) &&
				ItemPointerIsValid(&evicted))
				adopt_evicted(&ds, &newtid, &evicted, nbs, nselected[0]);
		}
	}

	/* new top element (or first element, or first vector): update the metapage */
	if (lockmode == ExclusiveLock && (level > meta.entry_level || meta.dims == 0))
	{
		Buffer		buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
		GenericXLogState *state;
		HnswMetaPage mp;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(index);
		mp = HnswPageGetMeta(GenericXLogRegisterBuffer(state, buf, 0));
		if (mp->dims == 0)
			mp->dims = dims;
		if (level > mp->entry_level)
		{
			mp->entry_level = level;
			mp->entry_blkno = ItemPointerGetBlockNumber(&newtid);
			mp->entry_offno = ItemPointerGetOffsetNumber(&newtid);
		}
		GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
	}

	UnlockPage(index, HNSW_UPDATE_LOCK, lockmode);
}

bool
hnsw_insert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
			Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
			IndexInfo *indexInfo)
{
	MemoryContext ctx;
	MemoryContext old;
	Embedding  *emb;
	HnswMetric	metric;
	float	   *vec;

	/* NULLs are not indexed */
	if (isnull[0])
		return false;

	ctx = AllocSetContextCreate(CurrentMemoryContext, "siamese_hnsw insert",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);

	/* catalog and toast access before any index lock is taken */
	emb = hnsw_datum_embedding(values[0]);
	hnsw_init_metric(&metric, hnsw_get_kind(index));
	vec = palloc(sizeof(float) * emb->dim);
	if (hnsw_prepare_vector(&metric, emb->x, emb->dim, vec))
		hnsw_insert_vector(index, vec, emb->dim, heap_tid, &pg_global_prng_state);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
	return false;
}
