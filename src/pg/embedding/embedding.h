/*
 * embedding.h: the siamese.embedding varlena type, shared by the type's own
 * I/O and operators, the index access method and the model functions.
 *
 * On-disk / in-memory layout (all native endianness, 4-byte aligned):
 *   int32  vl_len_   varlena header (never touch directly)
 *   int16  dim       number of dimensions, 1 .. EMBEDDING_MAX_DIM
 *   int16  unused    always 0 (room for a future element-type flag)
 *   float4 x[dim]    finite values only (no NaN, no +-Infinity)
 * Every constructor in this module keeps those invariants; code that builds
 * an Embedding itself must call embedding_check_values() before returning it.
 */
#ifndef SP_EMBEDDING_H
#define SP_EMBEDDING_H

#include "postgres.h"

#include "fmgr.h"

#define EMBEDDING_MAX_DIM 16000

typedef struct Embedding
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int16		dim;			/* number of dimensions */
	int16		unused;			/* reserved, always 0 */
	float4		x[FLEXIBLE_ARRAY_MEMBER];
} Embedding;

#define EMBEDDING_SIZE(dim)		(offsetof(Embedding, x) + sizeof(float4) * (Size) (dim))

#define DatumGetEmbedding(d)		((Embedding *) PG_DETOAST_DATUM(d))
#define DatumGetEmbeddingCopy(d)	((Embedding *) PG_DETOAST_DATUM_COPY(d))
#define EmbeddingGetDatum(e)		PointerGetDatum(e)
#define PG_GETARG_EMBEDDING_P(n)	DatumGetEmbedding(PG_GETARG_DATUM(n))
#define PG_GETARG_EMBEDDING_P_COPY(n) DatumGetEmbeddingCopy(PG_GETARG_DATUM(n))
#define PG_RETURN_EMBEDDING_P(e)	PG_RETURN_POINTER(e)

/* palloc0 a zero vector of dim dimensions (dim checked). */
extern Embedding *embedding_new(int dim);

/*
 * Build an embedding from dim floats (copied).  Raises ERRCODE_DATA_EXCEPTION
 * on NaN or infinity (e.g. a model that diverged).
 */
extern Embedding *embedding_from_floats(const float *x, int dim);

/* ERROR unless 1 <= dim <= EMBEDDING_MAX_DIM. */
extern void embedding_check_dim(int dim);

/* ERROR "different embedding dimensions %d and %d" unless equal. */
extern void embedding_check_same_dims(const Embedding *a, const Embedding *b);

/* ERROR "expected %d dimensions, not %d" when typmod (>= 0) != dim. */
extern void embedding_check_typmod(int dim, int32 typmod);

/* ERROR on any NaN or infinite value. */
extern void embedding_check_values(const float *x, int dim);

#endif							/* SP_EMBEDDING_H */
