/*
 * ranking.h: how well distances rank and separate: verification pairs (ROC
 * AUC, the best-accuracy threshold) and the average precision of a ranked
 * gallery.  Used by the trainer's held-out measurement (nn/train_quality.c)
 * and the Fashion-MNIST evaluation of the tools (tools/lib/metrics_eval.c),
 * so both compute them one way.
 */
#ifndef SP_VECTOR_RANKING_H
#define SP_VECTOR_RANKING_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sp_pair_d
{
	double		d;				/* the pair's distance */
	int			same;			/* 1 when the two share a label */
} sp_pair_d;

/* Sort pairs by ascending distance. */
extern void sp_pairs_sort(sp_pair_d *p, int n);
/* ROC AUC of "same" scored by -distance, ties counting half; sorts the pairs. */
extern double sp_pairs_auc(sp_pair_d *p, int n);
/*
 * On pairs sorted by distance, the threshold t whose rule "same when d <= t"
 * is most accurate (midway between neighbouring distances); *acc its accuracy.
 */
extern double sp_pairs_best_threshold(const sp_pair_d *p, int n, double *acc);

/* A gallery item's sort key for sp_average_precision: its score (higher ranks first) and relevance. */
extern uint64_t sp_ap_key(float score, bool relevant);
/*
 * Average precision of the ranking of keys[0..n) with `relevant` relevant
 * items in all (0 when there are none).  Sorts keys in place (LSD radix),
 * tmp is n words of scratch.
 */
extern double sp_average_precision(uint64_t *keys, uint64_t *tmp, int n, int relevant);

#endif							/* SP_VECTOR_RANKING_H */
