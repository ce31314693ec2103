/*
 * metrics_eval.h: retrieval, verification and few-shot quality of an
 * embedding model on Fashion-MNIST (used by tools/train.c and
 * tools/evaluate.c; protocol in docs/training.md).
 *
 * Embeddings are computed through the inference path SQL uses
 * (sp_nn_embed_images), so the figures describe what embed() returns.
 * Distances are in the model's units: cosine distance 1 - cos(a, b), or
 * Euclidean distance for "l2" models.
 */
#ifndef SP_TOOLS_METRICS_EVAL_H
#define SP_TOOLS_METRICS_EVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "util/sp_common.h"
#include "vector/distance.h"
#include "nn/nn_model.h"

typedef struct fm_quality
{
	double		knn1;			/* 1-NN accuracy, test queries vs train gallery */
	double		knn5;			/* 5-NN majority vote (ties: nearest member) */
	double		recall_at_1;	/* test vs rest of test (leave-one-out) */
	double		map;			/* mean average precision, test vs train gallery */
	double		auc;			/* verification ROC AUC, evaluation pairs */
	double		threshold;		/* calibrated on calibration pairs */
	double		verif_acc;		/* accuracy at threshold, evaluation pairs */
	double		verif_acc_calib;	/* same on the calibration pairs */
	double		fewshot1;		/* 10-way 1-shot accuracy */
	double		fewshot5;		/* 10-way 5-shot, nearest support per class */
	double		fewshot5_proto;	/* 10-way 5-shot, nearest class mean */
	double		temperature;	/* softmax(-d / T) calibrated by NLL */
	double		nll_eval;		/* NLL of that softmax on evaluation episodes */
	int			n_pairs;
	int			episodes;
	double		seconds;
} fm_quality;

/* Embed n gray rows x cols images (uint8) with the model: out n x dim. */
extern sp_status fm_embed(const sp_env *env, const sp_nn_model *model, const uint8_t *pixels,
						  int n, int rows, int cols, float *out, sp_error *err);

/*
 * Nearest neighbours: for each query its k (<= 8) nearest gallery items
 * (idx: nq x k).  exclude_self: query i is gallery item i (skipped).
 * ap (nullable, nq): average precision of the full ranking with relevance
 * "same label".  Exact, blocked sgemm.
 */
extern sp_status fm_knn(const sp_env *env, const float *gal, const int *gal_lab, int ng,
						const float *qry, const int *q_lab, int nq, int d, sp_distance_kind kind,
						bool exclude_self, int k, int *idx, double *ap, sp_error *err);

/*
 * All figures of fm_quality.  Test split protocol: calibration (threshold,
 * temperature) uses test images [0, 5000); verification pairs and
 * few-shot queries for the reported figures use test images [5000, 10000);
 * kNN, Recall@1 and mAP use all 10k test images.
 */
extern sp_status fm_evaluate(const sp_env *env, const float *train_emb, const int *train_lab, int ntrain,
							 const float *test_emb, const int *test_lab, int ntest, int d,
							 sp_distance_kind kind, uint64_t seed, fm_quality *q, sp_error *err);


/* Write q as a compact JSON object into buf. */
extern void fm_quality_json(const fm_quality *q, char *buf, size_t len);

#endif							/* SP_TOOLS_METRICS_EVAL_H */
