/*
 * fewshot.c: few-shot scoring (see fewshot.h): per label the mean of its k
 * smallest distances, and the model's calibrated temperature.
 */
#include "vector/fewshot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

typedef struct
{
	int			label;
	double		dist;
} labelled_dist;

/* By label, then distance ascending with NaN last. */
static int
cmp_labelled(const void *a, const void *b)
{
	const labelled_dist *x = a,
			   *y = b;
	bool		xn,
				yn;

	if (x->label != y->label)
		return x->label < y->label ? -1 : 1;
	xn = isnan(x->dist);
	yn = isnan(y->dist);
	if (xn || yn)
		return xn - yn;
	return (x->dist > y->dist) - (x->dist < y->dist);
}

sp_status
sp_fewshot_label_distances(const sp_env *env, const double *dist, const int *label,
						   size_t n, int n_labels, int k, double *label_dist, sp_error *err)
{
	labelled_dist *pairs;
	size_t		i = 0;

	if (k < 1)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "k must be at least 1");
	for (int l = 0; l < n_labels; l++)
		label_dist[l] = NAN;
	if (n == 0)
		return SP_OK;
	pairs = sp_alloc_array(env, n, sizeof(labelled_dist));
	if (pairs == NULL)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory for %zu few-shot distances", n);
	for (size_t j = 0; j < n; j++)
	{
		if (label[j] < 0 || label[j] >= n_labels)
		{
			sp_free(env, pairs);
			return sp_set_error(err, SP_ERR_INVALID_ARG, "label %d of example %zu is outside [0, %d)",
								label[j], j, n_labels);
		}
		pairs[j].label = label[j];
		pairs[j].dist = dist[j];
	}
	qsort(pairs, n, sizeof(labelled_dist), cmp_labelled);
	while (i < n)
	{
		int			l = pairs[i].label;
		double		sum = 0;
		int			taken = 0;

		for (; i < n && pairs[i].label == l; i++)
			if (taken < k)
			{
				sum += pairs[i].dist;
				taken++;
			}
		label_dist[l] = sum / taken;
	}
	sp_free(env, pairs);
	return SP_OK;
}

static bool
positive_number(const sp_json *root, const char *key, double *out)
{
	const sp_json *v = sp_json_get(root, key);

	if (v == NULL || v->type != SP_JSON_NUMBER || !(v->number > 0) || isinf(v->number))
		return false;
	*out = v->number;
	return true;
}

double
sp_fewshot_temperature(const sp_env *env, const char *quality_json)
{
	sp_json_doc *doc = NULL;
	sp_error	err;
	double		t = 1.0;

	if (quality_json == NULL ||
		sp_json_parse(env, quality_json, strlen(quality_json), 0, 0, "quality", &doc, &err) != SP_OK)
		return 1.0;
	if (!positive_number(sp_json_root(doc), "temperature", &t) &&
		!positive_number(sp_json_root(doc), "fewshot_temperature", &t))
		t = 1.0;
	sp_json_free(env, doc);
	return t;
}
