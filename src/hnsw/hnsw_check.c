/*
 * hnsw_check.c: siamese.hnsw_check(index regclass), an amcheck-style
 * consistency checker that walks a siamese_hnsw graph.
 *
 * It verifies the metapage, that every element is well formed (and stored
 * with the index's code, whose error bounds are finite), that every
 * neighbour list is packed and names existing elements on the right layer
 * (never itself, never twice), that the entry point exists on the top
 * layer, and it counts the live elements a layer-0 walk from the entry point
 * cannot reach.  The table is locked in SHARE mode so the graph does not
 * change underneath; problems are reported as WARNINGs (the first few) and
 * in the result row.  ok is true only when there are no problems and every
 * live element is reachable: a graph that hides most of its rows from
 * searches is broken even if each element is well formed.
 *
 * An unreached element whose heap row is dead to every snapshot is not
 * counted: no search may return it, and VACUUM removes it.  A backend killed
 * in the middle of an insert leaves exactly that: the element is written
 * (one WAL record) but the backlinks that make it reachable are not, and the
 * transaction that inserted the row never commits.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "access/table.h"
#include "access/xlog.h"
#include "commands/defrem.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "hnsw/hnsw.h"

#define MAX_REPORTS 10

typedef struct CheckElem
{
	int8		level;			/* -1: no element at this offset */
	bool		deleted;
	bool		reached;
	ItemPointerData heaptid;
} CheckElem;

typedef struct CheckState
{
	Relation	index;
	BlockNumber nblocks;
	CheckElem **blocks;			/* per block, indexed by offset */
	OffsetNumber *maxoff;
	int			reports;
	int64		bad;
} CheckState;

static void
report(CheckState *cs, const char *fmt, BlockNumber blk, OffsetNumber off, int extra)
{
	cs->bad++;
	if (cs->reports++ < MAX_REPORTS)
		ereport(WARNING,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("siamese_hnsw index \"%s\": element (%u,%u): %s (%d)",
						RelationGetRelationName(cs->index), blk, off, fmt, extra)));
}

static CheckElem *
lookup(CheckState *cs, ItemPointer tid)
{
	BlockNumber blk = ItemPointerGetBlockNumberNoCheck(tid);
	OffsetNumber off = ItemPointerGetOffsetNumberNoCheck(tid);

	if (blk == HNSW_METAPAGE_BLKNO || blk >= cs->nblocks || cs->blocks[blk] == NULL ||
		off < FirstOffsetNumber || off > cs->maxoff[blk] || cs->blocks[blk][off].level < 0)
		return NULL;
	return &cs->blocks[blk][off];
}

PG_FUNCTION_INFO_V1(siamese_hnsw_check);

Datum
siamese_hnsw_check(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	Oid			heapoid;
	Relation	heap;
	Relation	index;
	CheckState	cs;
	HnswMetaPageData meta;
	BlockNumber blkno;
	int64		elements = 0;
	int64		live = 0;
	int64		deleted = 0;
	int64		links = 0;
	int64		deleted_links = 0;
	int64		unreachable = 0;
	int			max_level = -1;
	int			max_live_level = -1;
	TupleDesc	tupdesc;
	Datum		values[11];
	bool		nulls[11];
	HeapTuple	tuple;
	ItemPointerData *list;
	HnswDiskSource ds;
	HnswSource	src;
	HnswMetric	metric;
	LOCKMODE	lockmode;
	SnapshotData nonvacuumable;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	heapoid = IndexGetRelation(indexoid, true);
	if (!OidIsValid(heapoid))
	{
		char	   *name = get_rel_name(indexoid);

		if (name == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation with OID %u does not exist", indexoid)));
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index", name)));
	}
	/* a standby cannot take SHARE locks; replay applies whole records anyway */
	lockmode = RecoveryInProgress() ? AccessShareLock : ShareLock;
	heap = table_open(heapoid, lockmode);
	index = index_open(indexoid, AccessShareLock);
	if (index->rd_rel->relam != get_am_oid("siamese_hnsw", false))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("index \"%s\" is not a siamese_hnsw index", RelationGetRelationName(index))));
	if (!pg_class_ownercheck(indexoid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_INDEX, RelationGetRelationName(index));

	hnsw_read_meta(index, &meta);
	memset(&cs, 0, sizeof(cs));
	cs.index = index;
	cs.nblocks = RelationGetNumberOfBlocks(index);
	cs.blocks = palloc0(sizeof(CheckElem *) * Max(cs.nblocks, 1));
	cs.maxoff = palloc0(sizeof(OffsetNumber) * Max(cs.nblocks, 1));

	if (meta.m < HNSW_MIN_M || meta.m > HNSW_MAX_M)
		report(&cs, "metapage has invalid m", 0, 0, meta.m);

	/* pass 1: inventory of elements */
	for (blkno = HNSW_METAPAGE_BLKNO + 1; blkno < cs.nblocks; blkno++)
	{
		Buffer		buf = ReadBuffer(index, blkno);
		Page		page;
		OffsetNumber off;
		OffsetNumber maxoff;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (PageIsNew(page) || !(HnswPageGetOpaque(page)->flags & HNSW_PAGE_ELEMENT) ||
			HnswPageGetOpaque(page)->page_id != HNSW_PAGE_ID)
		{
			if (!PageIsNew(page))
				report(&cs, "page is not an element page", blkno, 0, 0);
			UnlockReleaseBuffer(buf);
			continue;
		}
		maxoff = PageGetMaxOffsetNumber(page);
		cs.maxoff[blkno] = maxoff;
		cs.blocks[blkno] = palloc(sizeof(CheckElem) * (maxoff + 1));
		for (off = 0; off <= maxoff; off++)
			cs.blocks[blkno][off].level = -1;
		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			HnswElementTuple etup = hnsw_page_element(index, page, blkno, off, meta.m);
			CheckElem  *ce = &cs.blocks[blkno][off];

			elements++;
			ce->level = etup->level;
			ce->deleted = !hnsw_element_live(etup);
			ce->reached = false;
			ce->heaptid = etup->heaptid;
			if (etup->dims != meta.dims)
				report(&cs, "element has wrong dimension count", blkno, off, etup->dims);
			if (etup->code != meta.code)
				report(&cs, "element is stored with another code than the index's", blkno, off, etup->code);
			else if (etup->code != SP_CODE_F32 && etup->dims == meta.dims)
			{
				float		err,
							mag;

				/* a scan's lower bounds rest on these */
				sp_vcode_bounds((sp_code_kind) etup->code, etup->vec, etup->dims, &err, &mag);
				if (!(err >= 0 && mag >= 0 && isfinite(err) && isfinite(mag)))
					report(&cs, "element code has an invalid error bound", blkno, off, etup->code);
			}
			if (ce->deleted)
				deleted++;
			else
			{
				live++;
				max_live_level = Max(max_live_level, etup->level);
			}
			max_level = Max(max_level, etup->level);
		}
		UnlockReleaseBuffer(buf);
	}

	/* pass 2: neighbour lists */
	list = palloc(sizeof(ItemPointerData) * hnsw_total_slots(meta.m, HNSW_MAX_LEVEL));
	for (blkno = HNSW_METAPAGE_BLKNO + 1; blkno < cs.nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber off;

		if (cs.blocks[blkno] == NULL)
			continue;
		CHECK_FOR_INTERRUPTS();
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		for (off = FirstOffsetNumber; off <= cs.maxoff[blkno]; off++)
		{
			HnswElementTuple etup = hnsw_page_element(index, page, blkno, off, meta.m);
			ItemPointer nb = hnsw_element_neighbours(etup);
			int			lc;

			for (lc = 0; lc <= etup->level; lc++)
			{
				int			cap = hnsw_level_capacity(meta.m, lc);
				ItemPointer l = nb + hnsw_level_offset(meta.m, lc);
				bool		ended = false;
				int			i;
				int			j;

				for (i = 0; i < cap; i++)
				{
					CheckElem  *target;

					if (!ItemPointerIsValid(&l[i]))
					{
						ended = true;
						continue;
					}
					if (ended)
						report(&cs, "neighbour list is not packed on layer", blkno, off, lc);
					links++;
					target = lookup(&cs, &l[i]);
					if (target == NULL)
					{
						report(&cs, "neighbour points to a missing element on layer", blkno, off, lc);
						continue;
					}
					if (target->level < lc)
						report(&cs, "neighbour does not live on layer", blkno, off, lc);
					if (ItemPointerGetBlockNumber(&l[i]) == blkno &&
						ItemPointerGetOffsetNumber(&l[i]) == off)
						report(&cs, "element is its own neighbour on layer", blkno, off, lc);
					if (target->deleted && !cs.blocks[blkno][off].deleted)
						deleted_links++;
					for (j = 0; j < i; j++)
						if (ItemPointerEquals(&l[i], &l[j]))
							report(&cs, "neighbour listed twice on layer", blkno, off, lc);
				}
			}
		}
		UnlockReleaseBuffer(buf);
	}

	/* entry point */
	if (meta.entry_level >= 0)
	{
		ItemPointerData etid;
		CheckElem  *entry;

		ItemPointerSet(&etid, meta.entry_blkno, meta.entry_offno);
		entry = lookup(&cs, &etid);
		if (entry == NULL)
			report(&cs, "entry point is missing", meta.entry_blkno, meta.entry_offno, meta.entry_level);
		else
		{
			if (entry->level != meta.entry_level)
				report(&cs, "entry point level differs from metapage", meta.entry_blkno,
					   meta.entry_offno, entry->level);
			if (max_live_level > meta.entry_level)
				report(&cs, "a live element is above the entry point, level", meta.entry_blkno,
					   meta.entry_offno, max_live_level);

			/* reachability on layer 0 (all elements live there) */
			if (meta.dims > 0)
			{
				HnswId	   *stack;
				int64		nstack = 0;
				int64		capstack = 1024;
				int			cap0 = hnsw_level_capacity(meta.m, 0);

				hnsw_init_metric(&metric, meta.kind);
				hnsw_disk_source_init(&ds, &src, index, meta.m, meta.dims, meta.code, &metric);
				stack = palloc(sizeof(HnswId) * capstack);
				entry->reached = true;
				stack[nstack++] = hnsw_tid_to_id(&etid);
				while (nstack > 0)
				{
					ItemPointerData tid;
					int			n;
					int			i;

					CHECK_FOR_INTERRUPTS();
					hnsw_id_to_tid(stack[--nstack], &tid);
					n = hnsw_read_neighbour_list(&ds, &tid, 0, list, NULL);
					for (i = 0; i < n && i < cap0; i++)
					{
						CheckElem  *t = lookup(&cs, &list[i]);

						if (t == NULL || t->reached)
							continue;
						t->reached = true;
						if (nstack >= capstack)
						{
							capstack *= 2;
							stack = repalloc_huge(stack, sizeof(HnswId) * capstack);
						}
						stack[nstack++] = hnsw_tid_to_id(&list[i]);
					}
				}
				pfree(stack);
			}
		}
	}
	else if (live > 0)
		report(&cs, "metapage has no entry point but live elements exist", 0, 0, (int) Min(live, INT_MAX));

	/* unreached elements of rows some snapshot may still see */
	InitNonVacuumableSnapshot(nonvacuumable, GlobalVisTestFor(heap));
	for (blkno = HNSW_METAPAGE_BLKNO + 1; blkno < cs.nblocks; blkno++)
	{
		OffsetNumber off;

		if (cs.blocks[blkno] == NULL)
			continue;
		CHECK_FOR_INTERRUPTS();
		for (off = FirstOffsetNumber; off <= cs.maxoff[blkno]; off++)
		{
			CheckElem  *ce = &cs.blocks[blkno][off];
			bool		all_dead = false;

			if (ce->level < 0 || ce->deleted || ce->reached)
				continue;
			if (table_index_fetch_tuple_check(heap, &ce->heaptid, &nonvacuumable, &all_dead))
				unreachable++;
		}
	}

	index_close(index, AccessShareLock);
	table_close(heap, lockmode);

	memset(nulls, 0, sizeof(nulls));
	values[0] = Int64GetDatum(elements);
	values[1] = Int64GetDatum(live);
	values[2] = Int64GetDatum(deleted);
	values[3] = Int32GetDatum(max_level);
	values[4] = Int32GetDatum(meta.entry_level);
	values[5] = Int64GetDatum(links);
	values[6] = Int64GetDatum(deleted_links);
	values[7] = Int64GetDatum(cs.bad);
	values[8] = Int64GetDatum(unreachable);
	values[9] = Int64GetDatum((int64) cs.nblocks);
	/* ok: sound and complete; an element no search can reach is a broken graph too */
	values[10] = BoolGetDatum(cs.bad == 0 && unreachable == 0);
	tuple = heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}
