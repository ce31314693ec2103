/*
 * hnsw_build.h: what the serial build (hnsw_build.c) and the parallel build
 * (hnsw_build_parallel.c) share: the build state with its in-memory graph,
 * which the parallel leader fills from the shared graph so that the serial
 * layout code writes both, and the two calls between the files.  Internal
 * to CREATE INDEX.
 */
#ifndef SP_HNSW_BUILD_H
#define SP_HNSW_BUILD_H

#include "hnsw/hnsw.h"

#define BUILD_CHUNK 1024		/* vectors per allocation chunk */

/* Seed of the level generator (parallel participants add their number). */
#define HNSW_BUILD_SEED			UINT64CONST(0x5ea5e5eed)

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
	int			code;			/* sp_code_kind the elements are written with */
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

/*
 * Lay the memory graph out on pages 1.. and write it, then the metapage, then
 * WAL-log every page (hnsw_build.c).
 */
extern void hnsw_build_flush_graph(HnswBuildState *bs);

/*
 * Try a parallel build into bs (hnsw_build_parallel.c).  Returns false
 * (nothing changed) when no worker is granted or the graph cannot be sized
 * to fit; otherwise builds, writes and WAL-logs the index and returns true,
 * unless the shared graph overflowed, in which case everything is discarded
 * and false returned.
 */
extern bool hnsw_try_parallel_build(HnswBuildState *bs, IndexInfo *indexInfo);

#endif							/* SP_HNSW_BUILD_H */
