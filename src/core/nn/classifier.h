/*
 * classifier.h: a model's optional class head, the "classifier" object of a
 * model config: one proxy vector per class in the embedding space, and
 * class probabilities softmax(scale * cos(embedding, proxy_k)), the
 * normalised-softmax classifier a softmax or CosFace training leaves
 * (nn/train_loss.c).  docs/model-format.md describes the object; SQL's
 * predict and classify_ensemble use it.
 *
 *   "classifier": {"kind": "cosine", "scale": 16,
 *                  "classes": ["a", "b", ...], "proxies": [[...], [...], ...]}
 */
#ifndef SP_NN_CLASSIFIER_H
#define SP_NN_CLASSIFIER_H

#include "util/sp_common.h"

#define SP_NN_CLASSIFIER_MAX_CLASSES 100000

typedef struct sp_nn_classifier
{
	int			n_classes;
	int			dim;
	double		scale;
	char	  **classes;		/* n_classes NUL-terminated names, distinct */
	float	   *proxies;		/* n_classes x dim, each row of unit length */
} sp_nn_classifier;

/*
 * Parse and validate the object (len bytes of JSON) for embeddings of dim
 * dimensions: kind "cosine", a positive finite scale, at least two distinct
 * non-empty class names, one proxy of dim finite numbers per class, none
 * zero.  out may be NULL to validate only.
 */
extern sp_status sp_nn_classifier_parse(const sp_env *env, const char *json, size_t len, int dim,
										sp_nn_classifier **out, sp_error *err);
extern void sp_nn_classifier_free(const sp_env *env, sp_nn_classifier *c);

/* Class probabilities of one embedding (dim floats) into p (n_classes). */
extern void sp_nn_classifier_probs(const sp_nn_classifier *c, const float *emb, double *p);

/*
 * The object for classes[n] and proxies (n x dim, any length; written as
 * given) at scale, compact JSON into *out (env-allocated).
 */
extern sp_status sp_nn_classifier_json(const sp_env *env, const char *const *classes, int n, int dim,
									   double scale, const float *proxies, char **out, size_t *out_len,
									   sp_error *err);

#endif							/* SP_NN_CLASSIFIER_H */
