/*
 * hnsw_vacuum.c: VACUUM for siamese_hnsw (ambulkdelete, amvacuumcleanup).
 *
 * Bulk delete runs in three passes over the element pages:
 *   1. collect the elements whose heap TID VACUUM reports dead (plus those
 *      already marked deleted by an earlier VACUUM);
 *   2. repair every live element whose neighbour list names one of them:
 *      the candidates are its live neighbours plus the live neighbours of
 *      its deleted neighbours (the elements it reached through them), pruned
 *      with the usual selection heuristic, so the graph stays connected
 *      around the hole; written optimistically like an insert's links.
 *      A deleted entry point is replaced by the highest live element;
 *   3. mark the dead elements deleted and clear their heap TIDs, so no scan
 *      can return them once bulk delete returns (heap TIDs get reused).
 * Cleanup then relinks live elements a walk from the entry point cannot
 * reach (see relink_unreachable).  Deleted elements stay in place (never
 * moved or reused): a concurrent insert that linked to one still finds a
 * well-formed element, and scans only skip it.  Their space is reclaimed by
 * REINDEX.
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"

#include "hnsw/hnsw.h"

typedef struct VacState
{
	Relation	index;
	HnswMetaPageData meta;
	HnswMetric	metric;
	HnswDiskSource ds;
	HnswSource	src;
	HnswVisited deleted;		/* ids of dead or deleted elements */
	HnswId	   *todelete;		/* newly dead, in physical order */
	int64		ntodelete;
	int64		captodelete;
	HnswId		best_id;		/* highest live element (entry candidate) */
	int			best_level;
	double		live;
	BlockNumber nblocks;
} VacState;

static void
repair_element(VacState *vs, ItemPointer tid, int level, const float *vec,
			   const ItemPointerData *slots)
{
	int			m = vs->meta.m;
	int			dims = vs->meta.dims;
	int			lc;
	HnswId		self = hnsw_tid_to_id(tid);

	for (lc = 0; lc <= level; lc++)
	{
		int			cap = hnsw_level_capacity(m, lc);
		const ItemPointerData *list = slots + hnsw_level_offset(m, lc);
		ItemPointerData *expect = palloc(sizeof(ItemPointerData) * cap);
		ItemPointerData *dlist = palloc(sizeof(ItemPointerData) * hnsw_level_capacity(m, 0));
		ItemPointerData *newlist = palloc(sizeof(ItemPointerData) * cap);
		int			attempt;

		memcpy(expect, list, sizeof(ItemPointerData) * cap);
		for (attempt = 0; attempt < 8; attempt++)
		{
			bool		needs = false;
			HnswVisited seen;
			HnswSelectItem *items;
			float	   *vecs;
			int			nitems = 0;
			int			maxitems;
			int		   *sel;
			int			nsel;
			int			i;
			int			j;
			bool		full;

			for (i = 0; i < cap && ItemPointerIsValid(&expect[i]); i++)
				if (hnsw_visited_contains(&vs->deleted, hnsw_tid_to_id(&expect[i])))
					needs = true;
			if (!needs)
				break;

			/* live neighbours plus a bounded share of the inherited ones */
			maxitems = 4 * cap;
			items = palloc(sizeof(HnswSelectItem) * maxitems);
			vecs = palloc(sizeof(float) * (Size) dims * maxitems);
			sel = palloc(sizeof(int) * maxitems);
			hnsw_visited_init(&seen, maxitems);
			(void) hnsw_visited_add(&seen, self);

			/* first the live neighbours (at most cap: always fit) ... */
			for (i = 0; i < cap && ItemPointerIsValid(&expect[i]); i++)
			{
				HnswId		nid = hnsw_tid_to_id(&expect[i]);

				if (!hnsw_visited_contains(&vs->deleted, nid) && hnsw_visited_add(&seen, nid))
					items[nitems++].id = nid;
			}
			/* ... then what the deleted ones linked to, within the budget */
			for (i = 0; i < cap && ItemPointerIsValid(&expect[i]) && nitems < maxitems; i++)
			{
				if (!hnsw_visited_contains(&vs->deleted, hnsw_tid_to_id(&expect[i])))
					continue;
				if (hnsw_read_neighbour_list(&vs->ds, &expect[i], lc, dlist, NULL) < 0)
					continue;
				for (j = 0; j < hnsw_level_capacity(m, lc) && ItemPointerIsValid(&dlist[j]); j++)
				{
					HnswId		did = hnsw_tid_to_id(&dlist[j]);

					if (nitems >= maxitems)
						break;
					if (hnsw_visited_contains(&vs->deleted, did))
						continue;
					if (hnsw_visited_add(&seen, did))
						items[nitems++].id = did;
				}
			}
			for (i = 0; i < nitems; i++)
			{
				items[i].vec = vecs + (Size) i * dims;
				(void) hnsw_disk_load_vector(&vs->ds, items[i].id, (float *) items[i].vec);
				items[i].dist = hnsw_distance(&vs->metric, vec, items[i].vec, dims);
			}
			nsel = hnsw_select_neighbours(&vs->metric, dims, items, nitems, cap, self, sel);
			for (i = 0; i < nsel; i++)
				hnsw_id_to_tid(items[sel[i]].id, &newlist[i]);

			pfree(items);
			pfree(vecs);
			pfree(sel);
			pfree(seen.keys);

			if (hnsw_write_neighbour_list(vs->index, m, tid, lc, expect, newlist, nsel, &full))
				break;
			/* changed by a concurrent insert: re-read and redo */
			if (hnsw_read_neighbour_list(&vs->ds, tid, lc, expect, NULL) < 0)
				break;
			CHECK_FOR_INTERRUPTS();
		}
		pfree(expect);
		pfree(dlist);
		pfree(newlist);
	}
}

/* Pass 2: repair the lists of live elements pointing at deleted ones. */
static void
repair_pass(VacState *vs, BufferAccessStrategy bas)
{
	BlockNumber blkno;
	int			m = vs->meta.m;
	int			dims = vs->meta.dims;
	float	   *vec = palloc(sizeof(float) * dims);
	ItemPointerData *slots = palloc(sizeof(ItemPointerData) * hnsw_total_slots(m, HNSW_MAX_LEVEL));
	MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext, "siamese_hnsw repair",
											  ALLOCSET_DEFAULT_SIZES);

	for (blkno = HNSW_METAPAGE_BLKNO + 1; blkno < vs->nblocks; blkno++)
	{
		OffsetNumber off;
		OffsetNumber maxoff;
		Buffer		buf;
		Page		page;

		vacuum_delay_point();
		buf = ReadBufferExtended(vs->index, MAIN_FORKNUM, blkno, RBM_NORMAL, bas);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		maxoff = (PageIsNew(page) || !(HnswPageGetOpaque(page)->flags & HNSW_PAGE_ELEMENT))
			? InvalidOffsetNumber : PageGetMaxOffsetNumber(page);
		UnlockReleaseBuffer(buf);

		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			HnswElementTuple etup;
			ItemPointerData tid;
			int			level;
			bool		needs = false;
			int			i;

			ItemPointerSet(&tid, blkno, off);
			if (hnsw_visited_contains(&vs->deleted, hnsw_tid_to_id(&tid)))
				continue;

			buf = ReadBufferExtended(vs->index, MAIN_FORKNUM, blkno, RBM_NORMAL, bas);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			etup = hnsw_page_element(vs->index, BufferGetPage(buf), blkno, off, m);
			level = etup->level;
			if (etup->dims == dims && !(etup->flags & HNSW_ELEM_DELETED))
			{
				ItemPointer nb = hnsw_element_neighbours(etup);

				sp_vcode_decode((sp_code_kind) etup->code, etup->vec, (size_t) dims, vec);
				memcpy(slots, nb, sizeof(ItemPointerData) * hnsw_total_slots(m, level));
				for (i = 0; i < hnsw_total_slots(m, level); i++)
				{
					if (ItemPointerIsValid(&slots[i]) &&
						hnsw_visited_contains(&vs->deleted, hnsw_tid_to_id(&slots[i])))
					{
						needs = true;
						break;
					}
				}
			}
			UnlockReleaseBuffer(buf);

			if (needs)
			{
				MemoryContext old = MemoryContextSwitchTo(tmp);

				repair_element(vs, &tid, level, vec, slots);
				MemoryContextSwitchTo(old);
				MemoryContextReset(tmp);
			}
		}
	}
	MemoryContextDelete(tmp);
	pfree(vec);
	pfree(slots);
}

/* Replace a deleted entry point by the highest live element found. */
static void
replace_entry_point(VacState *vs)
{
	HnswMetaPageData meta;
	ItemPointerData etid;

	if (vs->meta.entry_level < 0)
		return;
	ItemPointerSet(&etid, vs->meta.entry_blkno, vs->meta.entry_offno);
	if (!hnsw_visited_contains(&vs->deleted, hnsw_tid_to_id(&etid)))
		return;

	LockPage(vs->index, HNSW_UPDATE_LOCK, ExclusiveLock);
	hnsw_read_meta(vs->index, &meta);
	ItemPointerSet(&etid, meta.entry_blkno, meta.entry_offno);
	if (meta.entry_level >= 0 && hnsw_visited_contains(&vs->deleted, hnsw_tid_to_id(&etid)))
	{
		Buffer		buf = ReadBuffer(vs->index, HNSW_METAPAGE_BLKNO);
		GenericXLogState *state;
		HnswMetaPage mp;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(vs->index);
		mp = HnswPageGetMeta(GenericXLogRegisterBuffer(state, buf, 0));
		if (vs->best_id != HNSW_INVALID_ID)
		{
			ItemPointerData btid;

			hnsw_id_to_tid(vs->best_id, &btid);
			mp->entry_blkno = ItemPointerGetBlockNumber(&btid);
			mp->entry_offno = ItemPointerGetOffsetNumber(&btid);
			mp->entry_level = vs->best_level;
		}
		else
		{
			mp->entry_blkno = InvalidBlockNumber;
			mp->entry_offno = InvalidOffsetNumber;
			mp->entry_level = -1;
		}
		GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
	}
	UnlockPage(vs->index, HNSW_UPDATE_LOCK, ExclusiveLock);
}

/* Pass 3: mark the newly dead elements deleted, one WAL record per page. */
static void
mark_pass(VacState *vs, BufferAccessStrategy bas, IndexBulkDeleteResult *stats)
{
	int64		i = 0;

	while (i < vs->ntodelete)
	{
		ItemPointerData tid;
		BlockNumber blkno;
		Buffer		buf;
		GenericXLogState *state;
		Page		page;

		hnsw_id_to_tid(vs->todelete[i], &tid);
		blkno = ItemPointerGetBlockNumber(&tid);
		vacuum_delay_point();
		buf = ReadBufferExtended(vs->index, MAIN_FORKNUM, blkno, RBM_NORMAL, bas);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(vs->index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		for (; i < vs->ntodelete; i++)
		{
			HnswElementTuple etup;

			hnsw_id_to_tid(vs->todelete[i], &tid);
			if (ItemPointerGetBlockNumber(&tid) != blkno)
				break;
			etup = hnsw_page_element(vs->index, page, blkno, ItemPointerGetOffsetNumber(&tid), vs->meta.m);
			etup->flags |= HNSW_ELEM_DELETED;
			ItemPointerSetInvalid(&etup->heaptid);
			stats->tuples_removed += 1;
		}
		GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
	}
}

/* ---------------------------------------------------------------------
 * Relinking unreachable elements
 *
 * Pruning a full neighbour list during an insert can drop an element from
 * the last list that pointed to it, leaving it unreachable (rare: about one
 * element in ten thousand inserts at the default m).  VACUUM walks layer 0
 * from the entry point and links every live element it did not reach from
 * one of that element's own reachable neighbours (a free slot, or the
 * last, farthest-ranked entry), so no row stays invisible to index scans
 * past the next VACUUM.
 */

#define RL_EXISTS	0x01
#define RL_LIVE		0x02
#define RL_REACHED	0x04

typedef struct RelinkState
{
	HnswDiskSource ds;
	BlockNumber nblocks;
	uint8	  **state;			/* per block, per offset */
	uint16	  **indeg;			/* reachable in-links, per block, per offset */
	OffsetNumber *maxoff;
	HnswId	   *stack;
	int64		capstack;
	ItemPointerData *list;
} RelinkState;

static uint8 *
rl_state(RelinkState *rs, ItemPointer tid)
{
	BlockNumber blk = ItemPointerGetBlockNumberNoCheck(tid);
	OffsetNumber off = ItemPointerGetOffsetNumberNoCheck(tid);

	if (blk == HNSW_METAPAGE_BLKNO || blk >= rs->nblocks || rs->state[blk] == NULL ||
		off < FirstOffsetNumber || off > rs->maxoff[blk] ||
		!(rs->state[blk][off] & RL_EXISTS))
		return NULL;
	return &rs->state[blk][off];
}

/* only valid where rl_state() is not NULL */
static inline uint16 *
rl_indeg(RelinkState *rs, ItemPointer tid)
{
	return &rs->indeg[ItemPointerGetBlockNumberNoCheck(tid)][ItemPointerGetOffsetNumberNoCheck(tid)];
}

static void
rl_walk(RelinkState *rs, ItemPointer from)
{
	int64		nstack = 0;
	uint8	   *st = rl_state(rs, from);
	int			cap0 = hnsw_level_capacity(rs->ds.m, 0);

	if (st == NULL || (*st & RL_REACHED))
		return;
	*st |= RL_REACHED;
	rs->stack[nstack++] = hnsw_tid_to_id(from);
	while (nstack > 0)
	{
		ItemPointerData tid;
		int			n;
		int			i;

		hnsw_id_to_tid(rs->stack[--nstack], &tid);
		n = hnsw_read_neighbour_list(&rs->ds, &tid, 0, rs->list, NULL);
		for (i = 0; i < n && i < cap0; i++)
		{
			uint8	   *t = rl_state(rs, &rs->list[i]);

			if (t == NULL)
				continue;
			if (*rl_indeg(rs, &rs->list[i]) < PG_UINT16_MAX)
				(*rl_indeg(rs, &rs->list[i]))++;
			if (*t & RL_REACHED)
				continue;
			*t |= RL_REACHED;
			if (nstack >= rs->capstack)
			{
				rs->capstack *= 2;
				rs->stack = repalloc_huge(rs->stack, sizeof(HnswId) * rs->capstack);
			}
			rs->stack[nstack++] = hnsw_tid_to_id(&rs->list[i]);
		}
		if ((nstack & 255) == 0)
			vacuum_delay_point();
	}
}

/*
 * Put u into n's layer-0 list: a free slot, else the last (farthest-ranked)
 * entry that has another reachable in-link, so nothing else gets orphaned.
 */
static bool
rl_link(RelinkState *rs, ItemPointer n, ItemPointer u)
{
	int			cap = hnsw_level_capacity(rs->ds.m, 0);
	ItemPointerData *expect = palloc(sizeof(ItemPointerData) * cap);
	ItemPointerData *newlist = palloc(sizeof(ItemPointerData) * cap);
	bool		done = false;
	int			attempt;

	for (attempt = 0; attempt < 8 && !done; attempt++)
	{
		bool		full;
		int			count;
		int			i;
		int			victim = -1;

		count = hnsw_read_neighbour_list(&rs->ds, n, 0, expect, NULL);
		if (count < 0)
			break;
		for (i = 0; i < count; i++)
		{
			newlist[i] = expect[i];
			if (ItemPointerEquals(&expect[i], u))
				victim = -2;	/* already linked */
		}
		if (victim == -2)
		{
			done = true;
			break;
		}
		if (count < cap)
		{
			newlist[count] = *u;
			done = hnsw_write_neighbour_list(rs->ds.index, rs->ds.m, n, 0, expect, newlist,
											 count + 1, &full);
			continue;
		}
		for (i = count - 1; i >= 0 && victim < 0; i--)
		{
			if (rl_state(rs, &expect[i]) == NULL || *rl_indeg(rs, &expect[i]) > 1)
				victim = i;
		}
		if (victim < 0)
			break;
		newlist[victim] = *u;
		done = hnsw_write_neighbour_list(rs->ds.index, rs->ds.m, n, 0, expect, newlist, count, &full);
		if (done && rl_state(rs, &expect[victim]) != NULL)
			(*rl_indeg(rs, &expect[victim]))--;
	}
	if (done)
		(*rl_indeg(rs, u))++;
	pfree(expect);
	pfree(newlist);
	return done;
}

static int64
relink_unreachable(Relation index, BufferAccessStrategy bas)
{
	HnswMetaPageData meta;
	HnswMetric	metric;
	HnswSource	src;
	RelinkState rs;
	ItemPointerData etid;
	BlockNumber blkno;
	int64		fixed = 0;
	int			round;

	hnsw_read_meta(index, &meta);
	if (meta.entry_level < 0 || meta.dims == 0)
		return 0;
	hnsw_init_metric(&metric, meta.kind);
	hnsw_disk_source_init(&rs.ds, &src, index, meta.m, meta.dims, meta.code, &metric);
	rs.ds.bas = bas;
	rs.nblocks = RelationGetNumberOfBlocks(index);
	rs.state = palloc0(sizeof(uint8 *) * rs.nblocks);
	rs.indeg = palloc0(sizeof(uint16 *) * rs.nblocks);
	rs.maxoff = palloc0(sizeof(OffsetNumber) * rs.nblocks);
	rs.capstack = 1024;
	rs.stack = palloc(sizeof(HnswId) * rs.capstack);
	rs.list = palloc(sizeof(ItemPointerData) * hnsw_level_capacity(meta.m, 0));
	ItemPointerSet(&etid, meta.entry_blkno, meta.entry_offno);

	for (blkno = HNSW_METAPAGE_BLKNO + 1; blkno < rs.nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber off;

		vacuum_delay_point();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL, bas);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!PageIsNew(page) && (HnswPageGetOpaque(page)->flags & HNSW_PAGE_ELEMENT))
		{
			rs.maxoff[blkno] = PageGetMaxOffsetNumber(page);
			rs.state[blkno] = palloc0(rs.maxoff[blkno] + 1);
			rs.indeg[blkno] = palloc0(sizeof(uint16) * (rs.maxoff[blkno] + 1));
			for (off = FirstOffsetNumber; off <= rs.maxoff[blkno]; off++)
			{
				HnswElementTuple etup = hnsw_page_element(index, page, blkno, off, meta.m);

				rs.state[blkno][off] = RL_EXISTS;
				if (hnsw_element_live(etup))
					rs.state[blkno][off] |= RL_LIVE;
			}
		}
		UnlockReleaseBuffer(buf);
	}

	/* a replaced entry may have been another element's only way in: repeat */
	for (round = 0; round < 3; round++)
	{
		int64		fixed_now = 0;

		for (blkno = HNSW_METAPAGE_BLKNO + 1; blkno < rs.nblocks; blkno++)
			if (rs.state[blkno])
			{
				OffsetNumber off;

				for (off = FirstOffsetNumber; off <= rs.maxoff[blkno]; off++)
				{
					rs.state[blkno][off] &= ~RL_REACHED;
					rs.indeg[blkno][off] = 0;
				}
			}
		rl_walk(&rs, &etid);

		for (blkno = HNSW_METAPAGE_BLKNO + 1; blkno < rs.nblocks; blkno++)
		{
			OffsetNumber off;

			if (rs.state[blkno] == NULL)
				continue;
			for (off = FirstOffsetNumber; off <= rs.maxoff[blkno]; off++)
			{
				ItemPointerData u;
				int			n;
				int			i;
				bool		linked = false;

				if ((rs.state[blkno][off] & (RL_LIVE | RL_REACHED)) != RL_LIVE)
					continue;
				ItemPointerSet(&u, blkno, off);
				n = hnsw_read_neighbour_list(&rs.ds, &u, 0, rs.list, NULL);
				for (i = 0; i < n && !linked; i++)
				{
					uint8	   *t = rl_state(&rs, &rs.list[i]);
					ItemPointerData nt = rs.list[i];

					if (t != NULL && (*t & RL_REACHED))
						linked = rl_link(&rs, &nt, &u);
				}
				if (!linked)
					linked = rl_link(&rs, &etid, &u);
				if (linked)
				{
					fixed_now++;
					rl_walk(&rs, &u);
				}
			}
		}
		fixed += fixed_now;
		if (fixed_now == 0)
			break;
	}
	return fixed;
}

/*
 * Share-lock block blkno to read its elements (after the vacuum delay
 * point): the page, or NULL, the buffer already released, when it holds no
 * elements.  The caller releases the buffer with UnlockReleaseBuffer.
 */
static Page
lock_element_page(Relation index, BlockNumber blkno, BufferAccessStrategy strategy, Buffer *buf)
{
	Page		page;

	vacuum_delay_point();
	*buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
	LockBuffer(*buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(*buf);
	if (PageIsNew(page) || !(HnswPageGetOpaque(page)->flags & HNSW_PAGE_ELEMENT))
	{
		UnlockReleaseBuffer(*buf);
		return NULL;
	}
	return page;
}

IndexBulkDeleteResult *
hnsw_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	VacState	vs;
	BlockNumber blkno;

	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));

	memset(&vs, 0, sizeof(vs));
	vs.index = index;
	hnsw_read_meta(index, &vs.meta);
	vs.nblocks = RelationGetNumberOfBlocks(index);
	vs.best_id = HNSW_INVALID_ID;
	vs.best_level = -1;
	hnsw_visited_init(&vs.deleted, 1024);
	vs.captodelete = 1024;
	vs.todelete = palloc_extended(sizeof(HnswId) * vs.captodelete, MCXT_ALLOC_HUGE);

	/* pass 1 */
	for (blkno = HNSW_METAPAGE_BLKNO + 1; blkno < vs.nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber off;
		OffsetNumber maxoff;

		page = lock_element_page(index, blkno, info->strategy, &buf);
		if (page == NULL)
			continue;
		maxoff = PageGetMaxOffsetNumber(page);
		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			HnswElementTuple etup = hnsw_page_element(index, page, blkno, off, vs.meta.m);
			ItemPointerData tid;
			HnswId		id;

			ItemPointerSet(&tid, blkno, off);
			id = hnsw_tid_to_id(&tid);
			if (!hnsw_element_live(etup))
			{
				(void) hnsw_visited_add(&vs.deleted, id);
				continue;
			}
			if (callback(&etup->heaptid, callback_state))
			{
				(void) hnsw_visited_add(&vs.deleted, id);
				if (vs.ntodelete >= vs.captodelete)
				{
					vs.captodelete *= 2;
					vs.todelete = repalloc_huge(vs.todelete, sizeof(HnswId) * vs.captodelete);
				}
				vs.todelete[vs.ntodelete++] = id;
				continue;
			}
			vs.live += 1;
			if (etup->level > vs.best_level)
			{
				vs.best_level = etup->level;
				vs.best_id = id;
			}
		}
		UnlockReleaseBuffer(buf);
	}

	if (vs.ntodelete > 0 && vs.meta.dims > 0)
	{
		hnsw_init_metric(&vs.metric, vs.meta.kind);
		hnsw_disk_source_init(&vs.ds, &vs.src, index, vs.meta.m, vs.meta.dims, vs.meta.code, &vs.metric);
		vs.ds.bas = info->strategy;
		repair_pass(&vs, info->strategy);
		replace_entry_point(&vs);
		mark_pass(&vs, info->strategy, stats);
	}

	stats->num_pages = vs.nblocks;
	stats->num_index_tuples = vs.live;
	stats->estimated_count = false;

	pfree(vs.deleted.keys);
	pfree(vs.todelete);
	return stats;
}

IndexBulkDeleteResult *
hnsw_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	Relation	index = info->index;
	BlockNumber nblocks;
	BlockNumber blkno;
	HnswMetaPageData meta;

	if (info->analyze_only)
		return stats;

	/*
	 * Runs after bulk delete too, so elements orphaned by inserts (and any
	 * the repair could not reconnect) are linked again.
	 */
	{
		int64		fixed = relink_unreachable(index, info->strategy);

		if (fixed > 0)
			ereport(DEBUG1,
					(errmsg("siamese_hnsw index \"%s\": relinked %lld unreachable elements",
							RelationGetRelationName(index), (long long) fixed)));
	}

	if (stats != NULL)
		return stats;			/* bulk delete already counted */

	/* no bulk delete ran: count the live elements */
	stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
	hnsw_read_meta(index, &meta);
	nblocks = RelationGetNumberOfBlocks(index);
	for (blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber off;
		OffsetNumber maxoff;

		page = lock_element_page(index, blkno, info->strategy, &buf);
		if (page == NULL)
			continue;
		maxoff = PageGetMaxOffsetNumber(page);
		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			HnswElementTuple etup = hnsw_page_element(index, page, blkno, off, meta.m);

			if (hnsw_element_live(etup))
				stats->num_index_tuples += 1;
		}
		UnlockReleaseBuffer(buf);
	}
	stats->num_pages = nblocks;
	stats->estimated_count = false;
	return stats;
}
