/*
 * robust_eval.h: the evaluation engine behind robustness reports.
 *
 * Given a sample of decoded images (with optional integer class labels) and
 * two models (the evaluated model and the baseline that plays AlexNet's
 * role), it corrupts / perturbs every image, embeds the results with BOTH
 * models in batches (each corrupted image is produced once and fed to both
 * models, so model and baseline see identical pixels), and measures the
 * errors that robust_metrics.h turns into CE, mCE, relative mCE, FP/FR, T5D.
 *
 * Error of a Siamese model (docs/robustness-metrics.md):
 *   - labels given: k-NN classification (L2, ties to the lower index) of each
 *     corrupted image against the CLEAN embeddings of the sample, excluding
 *     its own clean original; the clean error is the same leave-one-out k-NN
 *     on the clean images;
 *   - labels NULL: self-retrieval error (the corrupted image's nearest clean
 *     neighbour over the whole sample is not its own original).
 *
 * Seeds: the corruption of sample image i at (corruption c, severity s) uses
 * sp_re_item_seed(seed, i, c, s): a report is reproducible from its seed, and
 * the same image gets the same noise in the model's and baseline's pass.
 *
 * Pure C, no PostgreSQL.  Interrupts are polled through env (at least once per
 * embedding block); the progress callback must not longjmp.
 */
#ifndef SP_ROBUST_EVAL_H
#define SP_ROBUST_EVAL_H

#include <stdint.h>

#include "robust/corrupt.h"
#include "nn/nn_model.h"
#include "robust/perturb.h"
#include "robust/robust_metrics.h"
#include "util/sp_common.h"

#define SP_RE_MODEL 0
#define SP_RE_BASELINE 1

/* Upper bound on the sample (the k-NN step is O(n^2 dim) per cell). */
#define SP_RE_MAX_IMAGES 100000

/*
 * Progress: stage is a short human-readable label such as "fog severity 3"
 * or "clean"; step counts from 1 to nsteps.  Called before each stage.
 */
typedef void (*sp_re_progress_fn) (void *arg, const char *stage, int step, int nsteps);

/* The two networks, each with its own workspace (created by the caller). */
typedef struct sp_re_models
{
	const sp_nn_model *model[2];	/* [SP_RE_MODEL], [SP_RE_BASELINE] */
	sp_nn_workspace *ws[2];
} sp_re_models;

/* The sample: n decoded images and, optionally, labels (NULL = no labels). */
typedef struct sp_re_sample
{
	const sp_image *images;
	const int32_t *labels;		/* n entries >= 0, or NULL: self-retrieval mode */
	int			n;				/* >= 2 */
} sp_re_sample;

typedef struct sp_re_corruption_params
{
	const int  *corruptions;	/* sp_corruption_id values, no duplicates */
	int			ncorruptions;	/* >= 1 */
	unsigned	sev_mask;		/* bit s-1 = severity s; non-zero, within 0x1f */
	uint64_t	seed;
	int			k;				/* k-NN k (labels only), 1..SP_RM_MAX_K */
	sp_corrupt_profile profile; /* SP_PROFILE_AUTO: by image size */
} sp_re_corruption_params;

/* Per-corruption summary for one requested corruption. */
typedef struct sp_re_corruption_score
{
	int			corruption;		/* sp_corruption_id */
	int			held_out;		/* 1 for speckle, gaussian_blur, spatter, saturate */
	double		ce;				/* NaN when undefined (flags) */
	double		relative_ce;
	int			ce_flags;
	int			relative_ce_flags;
	/* means over the requested severities (sp_rm_severity_mean) */
	double		model_error;
	double		baseline_error;
	double		model_drift;
} sp_re_corruption_score;

typedef struct sp_re_corruption_result
{
	int			n;				/* images evaluated */
	sp_rm_errors errors[2];		/* [model/baseline]: clean + every measured cell */
	/* mean cosine drift clean -> corrupted, [model/baseline][corruption][severity-1]; NaN = not measured */
	double		drift[2][SP_C_COUNT][SP_CORRUPT_MAX_SEVERITY];
	sp_re_corruption_score scores[SP_C_COUNT];	/* first nscores used, in request order */
	int			nscores;
	/*
	 * Means over the REQUESTED corruptions of each group (the 15 benchmark
	 * ones / the 4 held-out ones); NaN when the group is empty or a member is
	 * undefined (n_undefined_* count those).
	 */
	double		mce;
	double		relative_mce;
	double		heldout_mce;
	double		heldout_relative_mce;
	int			n_undefined_mce;
	int			n_undefined_heldout;
} sp_re_corruption_result;

/*
 * Run the corruption evaluation.  out is fully initialised by the call.
 * Errors: SP_ERR_INVALID_ARG (bad params, models of different input kinds are
 * fine, n < 2, labels negative), SP_ERR_NOMEM, SP_ERR_INTERRUPTED, and any
 * error of corruption / embedding (with the image index in the detail).
 */
extern sp_status sp_re_corruption_run(const sp_env *env, const sp_re_sample *sample,
									  const sp_re_models *models,
									  const sp_re_corruption_params *params,
									  sp_re_progress_fn progress, void *progress_arg,
									  sp_re_corruption_result *out, sp_error *err);

/*
 * The same evaluation, one sample image at a time: the unit of work a
 * distributed report runs on the node that holds the image, and the way
 * sp_re_corruption_run itself runs, so that both give identical numbers.
 *
 *  1. each image's clean embeddings (sp_re_clean_embed, one image per call);
 *  2. the clean error over the whole sample (sp_re_clean_error);
 *  3. per image, every requested cell (sp_re_corruption_image): corrupted
 *     with sp_re_item_seed(seed, index, c, s), embedded by both models, its
 *     k-NN (or self-retrieval) verdict against the gallery and its drift;
 *  4. the cells added in sample order (sp_re_corruption_acc_add, then
 *     sp_re_corruption_finish): errors, drifts, CE and the means.
 */
typedef struct sp_re_gallery
{
	const float *clean[2];		/* n x dim of the model / baseline (may be one array) */
	const int32_t *labels;		/* n labels >= 0, or NULL: self-retrieval */
	int			n;
} sp_re_gallery;

/* One cell of one image: [model/baseline]. */
typedef struct sp_re_cell
{
	uint8_t		wrong[2];		/* 1: misclassified (labels) / own original not nearest */
	double		drift[2];		/* cosine distance clean -> corrupted; NaN when undefined */
} sp_re_cell;

/* Cells per image: requested corruptions (in order) x requested severities (ascending). */
extern int	sp_re_corruption_ncells(const sp_re_corruption_params *params);

/*
 * Clean embeddings of one image: out[m] gets dim[m] floats (out[1] unused
 * when one model).  index is the image's sample index for error messages, or
 * -1 when it is not known yet.
 */
extern sp_status sp_re_clean_embed(const sp_env *env, const sp_re_models *models, const sp_image *image,
								   int index, float *out[2], sp_error *err);

/* Leave-one-out clean error counts of the sample, [model/baseline]. */
extern sp_status sp_re_clean_error(const sp_env *env, const sp_re_models *models,
								   const sp_re_gallery *gallery, int k, int64_t wrong[2], sp_error *err);

/* Every cell of sample image index (0 <= index < gallery->n) into cells[ncells]. */
extern sp_status sp_re_corruption_image(const sp_env *env, const sp_re_models *models,
										const sp_image *image, int index, const sp_re_gallery *gallery,
										const sp_re_corruption_params *params, sp_re_cell *cells,
										sp_error *err);

typedef struct sp_re_corruption_acc
{
	int			n;				/* images added */
	int64_t		wrong[2][SP_C_COUNT][SP_CORRUPT_MAX_SEVERITY];
	double		drift_sum[2][SP_C_COUNT][SP_CORRUPT_MAX_SEVERITY];
	int64_t		drift_used[2][SP_C_COUNT][SP_CORRUPT_MAX_SEVERITY];
} sp_re_corruption_acc;

extern void sp_re_corruption_acc_init(sp_re_corruption_acc *acc);
/* Add one image's cells; images in sample order give sums identical to a whole run's. */
extern void sp_re_corruption_acc_add(sp_re_corruption_acc *acc, const sp_re_corruption_params *params,
									 const sp_re_cell *cells);
/*
 * The result from the accumulated cells and the clean error counts; n images
 * (acc->n must equal it), one_model when model and baseline are the same.
 */
extern sp_status sp_re_corruption_finish(const sp_re_corruption_params *params,
										 const sp_re_corruption_acc *acc, const int64_t clean_wrong[2],
										 int n, int one_model, sp_re_corruption_result *out,
										 sp_error *err);

/* Most perturbations one report may request (the registry has fewer). */
#define SP_RE_MAX_PERTURBATIONS 64

typedef struct sp_re_perturbation_params
{
	const int  *perturbations;	/* indices into the perturbation registry (perturb.h) */
	int			nperturbations; /* >= 1, no duplicates */
	uint64_t	seed;
	int			k;				/* k-NN k for predictions (labels only) */
	int			difficulty;		/* 1..3 (see sp_rm_flip_probability) */
	sp_corrupt_profile profile; /* SP_PROFILE_AUTO: by image size */
} sp_re_perturbation_params;

typedef struct sp_re_perturbation_score
{
	int			perturbation;	/* registry index */
	int			noise;			/* 1 when compared against the clean frame */
	int			frames;			/* frames per sequence */
	double		fp[2];			/* flip probability [model/baseline] */
	double		ut5d[2];		/* unnormalised top-5 distance; NaN without labels */
	double		fr;				/* fp[model] / fp[baseline]; NaN undefined */
	double		t5d;			/* ut5d[model] / ut5d[baseline]; NaN undefined or no labels */
	int			fr_flags;
	int			t5d_flags;
} sp_re_perturbation_score;

typedef struct sp_re_perturbation_result
{
	int			n;				/* sequences per perturbation (= images) */
	sp_re_perturbation_score scores[SP_RE_MAX_PERTURBATIONS];	/* first nscores used, in request order */
	int			nscores;
	double		mfr;			/* NaN when any FR undefined */
	double		mt5d;			/* NaN without labels or any T5D undefined */
	int			n_undefined_fr;
	int			n_undefined_t5d;
} sp_re_perturbation_result;

/*
 * Run the perturbation evaluation.  For every image and perturbation a
 * sequence is generated (sp_perturb_*), every frame embedded by both models;
 * predictions are the k-NN label among the clean sample embeddings excluding
 * the image's own original (labels) or the nearest clean image's index
 * (self-retrieval flip variant, no labels).  T5D ranks the classes by the
 * model's distance to the class prototypes (mean clean embedding of each
 * class in the sample); undefined without labels.
 */
extern sp_status sp_re_perturbation_run(const sp_env *env, const sp_re_sample *sample,
										const sp_re_models *models,
										const sp_re_perturbation_params *params,
										sp_re_progress_fn progress, void *progress_arg,
										sp_re_perturbation_result *out, sp_error *err);

/*
 * The same evaluation one sample image at a time, the way sp_re_perturbation_run
 * runs and a distributed report runs on the node that holds each image:
 *  1. clean embeddings (sp_re_clean_embed) into the gallery;
 *  2. the class prototypes of the gallery (labels only; any node that has the
 *     gallery builds the same ones);
 *  3. per image, every requested perturbation's sequence, seeded with
 *     sp_re_item_seed(seed, index, 1000 + perturbation id, difficulty), its
 *     frames embedded by both models, its flip probability and top-5
 *     distance (sp_re_perturbation_image);
 *  4. the cells added in sample order, then finished into FP, FR, T5D and
 *     the means.
 */
typedef struct sp_re_prototypes
{
	int			ncls;			/* 0 without labels */
	int32_t    *classes;		/* ncls sorted distinct labels */
	float	   *proto[2];		/* ncls x dim of the model / baseline */
} sp_re_prototypes;

extern sp_status sp_re_prototypes_build(const sp_env *env, const sp_re_models *models,
										const sp_re_gallery *gallery, sp_re_prototypes *protos,
										sp_error *err);
extern void sp_re_prototypes_free(const sp_env *env, sp_re_prototypes *protos);

/* One perturbation's sequence of one image: [model/baseline]. */
typedef struct sp_re_pcell
{
	double		fp[2];			/* the sequence's flip probability */
	double		ut5d[2];		/* its unnormalised top-5 distance; NaN without labels */
	int			frames;			/* its length */
} sp_re_pcell;

/* cells[nperturbations] of sample image index, in request order. */
extern sp_status sp_re_perturbation_image(const sp_env *env, const sp_re_models *models,
										  const sp_image *image, int index,
										  const sp_re_gallery *gallery, const sp_re_prototypes *protos,
										  const sp_re_perturbation_params *params, sp_re_pcell *cells,
										  sp_error *err);

typedef struct sp_re_perturbation_acc
{
	int			n;				/* images added */
	double		fp_sum[2][SP_RE_MAX_PERTURBATIONS];
	double		t5d_sum[2][SP_RE_MAX_PERTURBATIONS];
	int			frames[SP_RE_MAX_PERTURBATIONS];	/* the first image's sequence length */
} sp_re_perturbation_acc;

extern void sp_re_perturbation_acc_init(sp_re_perturbation_acc *acc);
/* Add one image's cells; images in sample order give sums identical to a whole run's. */
extern void sp_re_perturbation_acc_add(sp_re_perturbation_acc *acc,
									   const sp_re_perturbation_params *params,
									   const sp_re_pcell *cells);
/* The result of n images (acc->n must equal it); labelled: the gallery had labels. */
extern sp_status sp_re_perturbation_finish(const sp_re_perturbation_params *params,
										   const sp_re_perturbation_acc *acc, int n, int labelled,
										   sp_re_perturbation_result *out, sp_error *err);

/* The per-item seed (splitmix64 mix of the four values). */
extern uint64_t sp_re_item_seed(uint64_t seed, int image, int what, int severity);

#endif							/* SP_ROBUST_EVAL_H */
