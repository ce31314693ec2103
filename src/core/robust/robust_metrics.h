/*
 * robust_metrics.h: the ImageNet-C / ImageNet-P robustness metrics (CE, mCE,
 * relative CE and mCE, flip probability and rate, top-5 distance) and the
 * error measurements a Siamese model needs to feed them (k-NN classification
 * error with self-exclusion, self-retrieval error).
 *
 * Conventions (docs/robustness-metrics.md has the full definitions):
 *   - Error rates are FRACTIONS in [0, 1], never percentages.
 *   - Every ratio (CE, relative CE, FR, T5D) and every mean of ratios (mCE,
 *     relative mCE, mFR, mT5D) is returned as a plain ratio: the baseline
 *     against itself gives 1.0.  Reports multiply by 100 for display
 *     ("mCE 76.7" is 0.767 here).
 *   - A ratio whose denominator is not positive is UNDEFINED: the function
 *     still returns SP_OK, stores NaN and sets SP_RM_UNDEFINED in *flags.
 *     A mean over a set with any undefined member is NaN and counts them.
 *   - Severities are selected with a bit mask: bit (s-1) selects severity s,
 *     SP_RM_ALL_SEVERITIES = 0x1f selects 1..5.  Sums run over the selected
 *     severities only.
 *   - Corruptions are sp_corruption_id values from corrupt.h (registry order:
 *     the 15 benchmark corruptions, then the 4 held-out ones).
 */
#ifndef SP_ROBUST_METRICS_H
#define SP_ROBUST_METRICS_H

#include <stdint.h>

#include "robust/corrupt.h"
#include "util/sp_common.h"
#include "vector/distance.h"

#define SP_RM_ALL_SEVERITIES 0x1fu

/* Result flags */
#define SP_RM_UNDEFINED 0x1		/* denominator <= SP_RM_EPSILON: value is NaN */

/*
 * Denominators at or below this are treated as zero.  Error rates are ratios
 * of counts, so a mathematically zero sum of differences can come out as
 * +-1e-17; a real denominator is at least 1/(number of images).
 */
#define SP_RM_EPSILON 1e-12

/*
 * Error bookkeeping of one model: the clean error and the error at every
 * (corruption, severity).  NaN marks "not measured"; using a NaN cell in a
 * metric is an SP_ERR_INVALID_ARG (the caller forgot to record it).
 */
typedef struct sp_rm_errors
{
	double		clean;
	double		err[SP_C_COUNT][SP_CORRUPT_MAX_SEVERITY];	/* err[c][s - 1] */
} sp_rm_errors;

/* All cells and the clean error set to NaN (not measured). */
extern void sp_rm_errors_init(sp_rm_errors *t);

/*
 * Record wrong/total as the error at (c, severity); severity 0 records the
 * clean error.  SP_ERR_INVALID_ARG for a bad corruption or severity, total
 * <= 0 or wrong outside [0, total].
 */
extern sp_status sp_rm_errors_record(sp_rm_errors *t, int corruption, int severity,
									 int64_t wrong, int64_t total, sp_error *err);

/*
 * Record an error rate directly (a fraction in [0, 1]); severity 0 = clean.
 */
extern sp_status sp_rm_errors_set(sp_rm_errors *t, int corruption, int severity,
								  double rate, sp_error *err);

/*
 * AlexNet's published ImageNet-C top-1 errors (hendrycks/robustness README),
 * all 19 corruptions at severities 1..5, and its clean error 0.435.  Static
 * data, never NULL.  Lets a report express CE "against AlexNet numbers".
 */
extern const sp_rm_errors *sp_rm_alexnet_imagenet_c(void);

/* AlexNet's published average over the 5 severities of corruption c (NaN if c is bad). */
extern double sp_rm_alexnet_published_average(int corruption);

/* The 15 benchmark corruption ids and the 4 held-out ones, in registry order. */
extern const int sp_rm_benchmark_corruptions[15];
extern const int sp_rm_heldout_corruptions[4];

/*
 * CE_c = sum_s E^model_{s,c} / sum_s E^base_{s,c} over the severities in
 * sev_mask.  Undefined (NaN, SP_RM_UNDEFINED) when the baseline sum is 0.
 */
extern sp_status sp_rm_ce(const sp_rm_errors *model, const sp_rm_errors *base, int corruption,
						  unsigned sev_mask, double *ce, int *flags, sp_error *err);

/*
 * Relative CE_c = sum_s (E^model_{s,c} - E^model_clean)
 *               / sum_s (E^base_{s,c} - E^base_clean),
 * the clean error being subtracted once PER SEVERITY (this is what reproduces
 * ResNet-50's published 105.0).  Undefined when the baseline's summed
 * degradation is <= 0 (the baseline does not degrade: nothing to normalise by).
 */
extern sp_status sp_rm_relative_ce(const sp_rm_errors *model, const sp_rm_errors *base,
								   int corruption, unsigned sev_mask, double *rce,
								   int *flags, sp_error *err);

/*
 * Mean of CE (relative = 0) or relative CE (relative = 1) over the given
 * corruption set (e.g. sp_rm_benchmark_corruptions, 15).  If any member is
 * undefined the mean is NaN, SP_RM_UNDEFINED is set and *n_undefined (may be
 * NULL) counts them.  Duplicate corruptions in the set are an error.
 */
extern sp_status sp_rm_mce(const sp_rm_errors *model, const sp_rm_errors *base,
						   const int *corruptions, int ncorruptions, unsigned sev_mask,
						   int relative, double *mce, int *flags, int *n_undefined,
						   sp_error *err);

/*
 * Generic ratio num/den with the same undefined rule (den <= epsilon -> NaN,
 * SP_RM_UNDEFINED): FR = FP/FP_base, T5D = uT5D/uT5D_base.  Negative or
 * non-finite inputs are SP_ERR_INVALID_ARG.
 */
extern sp_status sp_rm_ratio(double num, double den, double *ratio, int *flags, sp_error *err);

/*
 * Mean over i of num[i]/den[i] (mFR, mT5D over perturbations), same rules as
 * sp_rm_mce for undefined members.
 */
/*
 * Mean of one corruption's per-severity row (row[s - 1]) over the severities
 * in sev_mask: a report's per-corruption error and drift.  Same rule as every
 * mean here: a NaN (unmeasured or undefined) selected cell makes the mean NaN
 * and sets SP_RM_UNDEFINED in *flags (may be NULL); an empty mask too.
 */
extern double sp_rm_severity_mean(const double *row, unsigned sev_mask, int *flags);

extern sp_status sp_rm_mean_ratio(const double *num, const double *den, int n, double *mean,
								  int *flags, int *n_undefined, sp_error *err);

/*
 * Flip probability over m sequences of n frames; pred[i * n + j] is the
 * prediction (any int label: class id, or nearest clean image id for the
 * label-free self-retrieval variant) for frame j of sequence i.
 *   noise = 0: compare frames j and j + difficulty (difficulty interleaved
 *              subsequences, consecutive frames when difficulty = 1);
 *   noise = 1: compare every frame j >= 1 with frame 0 (the clean one);
 *              difficulty selects the dataset, not the step, and is ignored.
 * Each sequence's mean over its comparisons is averaged over sequences,
 * exactly as the reference test.py does (equal to the 1/(m(n-1)) formula).
 * Needs m >= 1, difficulty >= 1 and n > (noise ? 1 : difficulty).
 */
extern sp_status sp_rm_flip_probability(const int32_t *pred, int m, int n, int noise,
										int difficulty, double *fp, sp_error *err);

/*
 * Top-5 distance of one permutation: sigma[i] (i = 0..k-1) is the 1-based
 * rank in the new frame of the class ranked i+1 in the previous frame.
 *   _code : sum_{i<=min(5,k)} |(i-1) - min(sigma(i)-1, 5)|  (reference code)
 *   _paper: sum_{i=1}^{5} sum_{j=min(i,s(i))+1}^{max(i,s(i))} 1[1 <= j-1 <= 5]
 * Both are equal for every permutation (tested); the callers use _code.
 */
extern int	sp_rm_top5_dist_code(const int32_t *sigma, int k);
extern int	sp_rm_top5_dist_paper(const int32_t *sigma, int k);

/*
 * Ordinal ranks (1..k) of k class values: larger_is_better = 0 for distances
 * (smallest = rank 1), 1 for scores/logits.  Ties go to the lower class
 * index (scipy rankdata 'ordinal' on -logits).  NaN values are an error.
 * O(k^2), allocation-free; meant for tests and small class counts.
 */
extern sp_status sp_rm_ordinal_ranks(const float *values, int k, int larger_is_better,
									 int32_t *ranks, sp_error *err);

/*
 * Unnormalised top-5 distance uT5D over m sequences of n frames of k class
 * values each (values[(i * n + j) * k + c]; distances to class prototypes
 * with larger_is_better = 0, or scores with 1).  Pairs are chosen exactly as
 * for sp_rm_flip_probability (noise: against frame 0).  Only the top-6 of
 * each frame matter, so the cost is O(k) per pair and nothing is allocated.
 */
extern sp_status sp_rm_top5_distance(const sp_env *env, const float *values, int m, int n, int k,
									 int larger_is_better, int noise, int difficulty,
									 double *ut5d, sp_error *err);

/*
 * k-NN classification error of nq query embeddings against ng gallery
 * embeddings (row-major, dim floats each).  self[q] (may be NULL) is the
 * gallery index to exclude for query q (its own clean original; -1 = none).
 * Neighbours are ordered by distance, ties by lower gallery index; NaN
 * distances rank last.  The prediction is the majority label among the k
 * nearest; a tie between labels goes to the label whose nearest member comes
 * first.  When fewer than k candidates exist, all are used.
 *   *n_wrong = number of queries whose prediction != query_labels[q];
 *   pred (may be NULL, nq entries) receives the predictions.
 * Allocates O(k) once; SP_ERR_INVALID_ARG for bad sizes, k < 1 or
 * k > SP_RM_MAX_K, a self index out of range or a query with no candidate;
 * SP_ERR_INTERRUPTED when env's hook fires (polled per query).
 */
#define SP_RM_MAX_K 1024

extern sp_status sp_rm_knn_error(const sp_env *env, const float *gallery,
								 const int32_t *gallery_labels, int ng,
								 const float *queries, const int32_t *query_labels,
								 const int32_t *self, int nq, int dim, int k,
								 sp_distance_kind metric, int64_t *n_wrong, int32_t *pred,
								 sp_error *err);

/*
 * Self-retrieval error (no labels): query q is wrong when its nearest gallery
 * item (whole gallery, ties to the lower index) is not self[q], its own clean
 * original.  nearest (may be NULL, nq entries) receives the nearest gallery
 * index: feed those ids to sp_rm_flip_probability for the label-free flip
 * variant.  Allocation-free.
 */
extern sp_status sp_rm_self_retrieval_error(const sp_env *env, const float *gallery, int ng,
											const float *queries, const int32_t *self,
											int nq, int dim, sp_distance_kind metric,
											int64_t *n_wrong, int32_t *nearest,
											sp_error *err);

/*
 * Mean embedding drift: the mean cosine distance (1 - cos, in [0, 2])
 * between each query and its own clean original gallery[self[q]].  Pairs
 * with a zero vector (angle undefined) are skipped and counted in
 * *n_skipped (may be NULL); if every pair is skipped the mean is NaN.
 */
extern sp_status sp_rm_mean_drift(const sp_env *env, const float *gallery, int ng,
								  const float *queries, const int32_t *self, int nq, int dim,
								  double *mean, int64_t *n_skipped, sp_error *err);

#endif							/* SP_ROBUST_METRICS_H */
