/*
 * train_quality.h: what a trained model is worth on the images training held
 * out (SQL's train_model records it in the model's "quality", and sets the
 * model's threshold and few-shot temperature from it).
 *
 * Every held-out image is a query against the training images as gallery:
 * 1-NN accuracy and mean average precision.  Balanced pairs (a held-out
 * image with a training image, half of the same class) give the
 * verification ROC AUC and the best-accuracy threshold, calibrated on the
 * same pairs.  N-way episodes (N = min(classes, 10)) with 1- and 5-shot
 * support from the training images and held-out queries give the few-shot
 * temperature (vector/calibration.h, fitted on both pooled) and the 1-shot
 * accuracy.  Seeded; deterministic.
 */
#ifndef SP_NN_TRAIN_QUALITY_H
#define SP_NN_TRAIN_QUALITY_H

#include <stdint.h>

#include "util/sp_common.h"
#include "vector/distance.h"

typedef struct sp_heldout_quality
{
	int			queries;		/* held-out images */
	double		nn1;			/* 1-NN accuracy against the training images */
	double		map;			/* mean average precision of that ranking */
	int			pairs;			/* verification pairs (0: not measured) */
	double		auc;
	double		threshold;		/* same when distance <= threshold */
	double		verif_acc;		/* its accuracy on the pairs */
	int			way;			/* classes per episode (0: not measured) */
	int			episodes;		/* per shot count */
	double		fewshot1;		/* 1-shot accuracy */
	double		temperature;	/* of softmax(-distance / T) */
} sp_heldout_quality;

/*
 * emb: n x dim embeddings, label[i] in [0, n_classes), held_out[i] nonzero
 * for the held-out images.  Distances by kind.  Polls env for interrupts.
 */
extern sp_status sp_heldout_quality_measure(const sp_env *env, const float *emb, const int *label,
											const int *held_out, int n, int dim, sp_distance_kind kind,
											int n_classes, uint64_t seed, sp_heldout_quality *q,
											sp_error *err);

#endif							/* SP_NN_TRAIN_QUALITY_H */
