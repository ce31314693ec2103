/*
 * siamese_pg.c: module entry point.  Owns _PG_init and every siamese.* GUC;
 * each area's GUC variables are defined here so there is one place to see
 * the whole configuration surface.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/guc.h"

#include "nn/nn_model.h"
#include "nn/sgemm.h"
#include "vector/distance.h"
#include "pg/sp_pg.h"

PG_MODULE_MAGIC;

int			siamese_max_image_pixels = (int) SP_DEFAULT_MAX_PIXELS;
int			siamese_model_cache_mb = 1024;
int			siamese_max_model_memory_mb = 1024;
static char *siamese_distance_isa = NULL;
static char *siamese_nn_isa = NULL;
static int	siamese_nn_gemm = SP_GEMM_AUTO;

static const struct config_enum_entry gemm_options[] = {
	{"auto", SP_GEMM_AUTO, false},
	{"openblas", SP_GEMM_OPENBLAS, false},
	{"blis", SP_GEMM_BLIS, false},
	{NULL, 0, false}
};

void		_PG_init(void);

/* siamese.distance.isa and siamese.nn.isa: accept only names this CPU supports. */
static bool
check_isa(char **newval, void **extra, GucSource source)
{
	int			isa = sp_isa_from_name(*newval);

	if (isa == -2)
	{
		GUC_check_errdetail("Valid values are auto, scalar, avx2 and avx512.");
		return false;
	}
	if (isa != SP_ISA_AUTO && !sp_cpu_supports((sp_isa) isa))
	{
		GUC_check_errdetail("This CPU does not support %s instructions.", *newval);
		return false;
	}
	return true;
}

static void
assign_distance_isa(const char *newval, void *extra)
{
	sp_error	err;

	/* check_distance_isa guaranteed this succeeds. */
	(void) sp_distance_set_isa((sp_isa) sp_isa_from_name(newval), &err);
}

static void
assign_nn_isa(const char *newval, void *extra)
{
	sp_nn_set_default_isa(sp_isa_from_name(newval));
}

static void
assign_nn_gemm(int newval, void *extra)
{
	sp_gemm_set_backend((sp_gemm_backend) newval);
}

void
_PG_init(void)
{
	/*
	 * One BLAS thread per backend: parallel workers, not BLAS threads, should
	 * use the cores, and a backend must not spawn a thread pool of its own.
	 */
	sp_blas_set_threads(1);

	DefineCustomIntVariable("siamese.image.max_pixels",
							"Largest image (width times height) siamese_pg will decode.",
							"Checked from the image header before any pixel memory is allocated, "
							"so oversized or hostile images are rejected cheaply.",
							&siamese_max_image_pixels,
							(int) SP_DEFAULT_MAX_PIXELS,
							1,
							(int) SP_HARD_MAX_PIXELS,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	/* siamese_hnsw reloptions and search GUCs (src/hnsw/hnsw.c) */
	{
		extern void hnsw_init_gucs(void);

		hnsw_init_gucs();
	}

	DefineCustomStringVariable("siamese.distance.isa",
							   "Instruction set used by the embedding distance kernels.",
							   "auto picks the fastest this CPU supports (avx512, avx2, scalar); "
							   "forcing one is for diagnosis and benchmarks.",
							   &siamese_distance_isa,
							   "auto",
							   PGC_USERSET,
							   0,
							   check_isa, assign_distance_isa, NULL);

	DefineCustomStringVariable("siamese.nn.isa",
							   "Instruction set of the convolution kernels of model forward passes.",
							   "auto picks the direct and Winograd kernels for the fastest instruction set "
							   "this CPU supports (avx512, avx2); scalar runs im2col with BLAS sgemm.  "
							   "Embeddings agree across settings to about 1e-6; forcing one is for "
							   "diagnosis and benchmarks.",
							   &siamese_nn_isa,
							   "auto",
							   PGC_USERSET,
							   0,
							   check_isa, assign_nn_isa, NULL);

	DefineCustomEnumVariable("siamese.nn.gemm",
							 "Library behind the matrix multiplies of model forward passes.",
							 "auto uses OpenBLAS when the kernels it picked at load suit this CPU and BLIS "
							 "(which detects the CPU itself) when they do not, as Debian's OpenBLAS 0.3.21 "
							 "does on some AVX-512 servers; openblas and blis force one, for diagnosis and "
							 "benchmarks.  Embeddings agree across settings to about 1e-6.",
							 &siamese_nn_gemm,
							 SP_GEMM_AUTO,
							 gemm_options,
							 PGC_USERSET,
							 0,
							 NULL, assign_nn_gemm, NULL);

	DefineCustomIntVariable("siamese.nn.model_cache_size",
							"Memory the models loaded in one backend may keep between statements.",
							"Each backend (and parallel worker) keeps the models it used, with their "
							"prepared kernels and workspace; the least recently used ones are freed "
							"while the total is above this.  The model in use always stays.",
							&siamese_model_cache_mb,
							1024, 1, INT_MAX / 2,
							PGC_USERSET,
							GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("siamese.nn.max_model_memory",
							"Most memory a model may need to embed one image, checked when it is registered.",
							"Weights plus the largest working memory of a forward pass (activations, "
							"im2col columns, kernel scratch).  A model above it is refused at "
							"registration, naming the layer that needs the most.",
							&siamese_max_model_memory_mb,
							1024, 1, INT_MAX / 2,
							PGC_SUSET,
							GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("siamese.report.progress",
							 "Emit a NOTICE at every stage of a robustness report.",
							 "The current stage is also shown in pg_stat_activity.application_name "
							 "whether or not this is on.",
							 &siamese_report_progress,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("siamese");
}
