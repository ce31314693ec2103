/*
 * fewshot.h: few-shot scoring of one query against labelled examples, the
 * rule of siamese.classify() and siamese.classify_with(): each label's score
 * is the mean of its k smallest distances to the query; probabilities are
 * sp_softmin() of those scores.
 */
#ifndef SP_FEWSHOT_H
#define SP_FEWSHOT_H

#include <stddef.h>
#include "util/sp_common.h"

/*
 * dist[i] is example i's distance to the query and label[i] its label, in
 * [0, n_labels).  label_dist[l] receives the mean of label l's k smallest
 * distances (all of them when it has fewer than k; NaN distances sort last,
 * as PostgreSQL sorts them; NaN when the label has no example).  k >= 1.
 */
extern sp_status sp_fewshot_label_distances(const sp_env *env, const double *dist, const int *label,
											size_t n, int n_labels, int k, double *label_dist,
											sp_error *err);

/*
 * The temperature of a model's few-shot probabilities from its config's
 * "quality" object (compact JSON, may be NULL): quality.temperature, else
 * quality.fewshot_temperature, else 1.  Only a positive finite number counts.
 */
extern double sp_fewshot_temperature(const sp_env *env, const char *quality_json);

#endif
