/*
 * model.h: internal interface between the model glue files: the catalog
 * (model_catalog.c), the per-backend model cache (model_cache.c) and the SQL
 * functions (model_sql.c, embedding_plot.c).
 */
#ifndef SP_PG_MODEL_H
#define SP_PG_MODEL_H

#include "postgres.h"

#include "nn/nn_model.h"

#define SP_MODEL_NAME_MAX 64	/* 63 characters + NUL */

/*
 * A model loaded in this backend.  Lives in its own memory context under
 * TopMemoryContext; the workspace is reused by every call (one caller at a
 * time: a backend is single-threaded).
 */
typedef struct SpCachedModel
{
	char		name[SP_MODEL_NAME_MAX];
	char		hash[65];
	MemoryContext cxt;
	sp_env		env;			/* allocates in cxt */
	sp_nn_model *model;
	sp_nn_workspace *ws;
	struct sp_nn_classifier *classifier;	/* its class head, parsed on first use */
	int			max_batch;		/* images per forward call (workspace size) */
	int			ws_isa;			/* siamese.nn.isa the workspace's path was chosen for */
	/* When the catalog was last checked (once per statement). */
	LocalTransactionId checked_lxid;
	CommandId	checked_cid;
	uint64		last_used;
	Size		bytes;			/* memory of cxt after loading (model + workspace) */
	struct SpCachedModel *next;
} SpCachedModel;

/* model_catalog.c */

/*
 * Catalog row of a model: its hash, and (when want_content) the config text
 * and weights detoasted into the caller's memory context.  Returns false if
 * there is no such model.
 */
extern bool sp_catalog_lookup(const char *name, char **hash, bool want_content,
							  text **config, bytea **weights);

/* ERROR "model ... does not exist" with a hint listing the models. */
extern void sp_catalog_unknown_model(const char *name) pg_attribute_noreturn();

/* model_cache.c */

/* The model called name, loaded and current (raises if unknown). */
extern SpCachedModel *sp_model_get(const char *name);

/*
 * Pins one BLAS thread; once per backend, a LOG (server log only) when
 * siamese.nn.gemm forces an OpenBLAS whose kernels do not suit the CPU.
 */
extern void sp_blas_check_core(void);

/* model_sql.c */

/* Embed n images (bytea, NULL entries skipped) into out (n x dim floats). */
extern void sp_model_embed_bytea(SpCachedModel *cm, bytea **images, int n, float *out);

#endif							/* SP_PG_MODEL_H */
