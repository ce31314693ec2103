/*
 * classifier.c: a model's class head (classifier.h): parsing and validating
 * the config's "classifier" object, writing it, and class probabilities as
 * the normalised softmax of the proxies' cosines, through the one stable
 * softmax of the project (sp_softmin over cosine distances at temperature
 * 1 / scale).
 */
#include "nn/classifier.h"
#include "util/json.h"
#include "vector/distance.h"

#include <math.h>
#include <string.h>

static sp_status
bad(sp_error *err, const char *what)
{
	return sp_set_error(err, SP_ERR_INVALID_ARG, "model config: \"classifier\": %s", what);
}

void
sp_nn_classifier_free(const sp_env *env, sp_nn_classifier *c)
{
	if (!c)
		return;
	if (c->classes)
		for (int k = 0; k < c->n_classes; k++)
			sp_free(env, c->classes[k]);
	sp_free(env, c->classes);
	sp_free(env, c->proxies);
	sp_free(env, c);
}

sp_status
sp_nn_classifier_parse(const sp_env *env, const char *json, size_t len, int dim,
					   sp_nn_classifier **out, sp_error *err)
{
	static const char *const members[] = {"kind", "scale", "classes", "proxies", NULL};
	sp_json_doc *doc = NULL;
	const char *unknown;
	const sp_json *root,
			   *v,
			   *classes,
			   *proxies;
	sp_nn_classifier *c = NULL;
	sp_status	st;
	int			n;

	if (out)
		*out = NULL;
	if (dim < 1)
		return bad(err, "the model has no embedding dimension");
	if ((st = sp_json_parse(env, json, len, 8, 0, "classifier", &doc, err)) != SP_OK)
		return st;
	root = sp_json_root(doc);
	if (root->type != SP_JSON_OBJECT)
	{
		st = bad(err, "must be an object");
		goto done;
	}
	if ((unknown = sp_json_unknown_key(root, members)) != NULL)
	{
		st = sp_set_error(err, SP_ERR_INVALID_ARG, "model config: \"classifier\": unknown key \"%.40s\"", unknown);
		goto done;
	}
	v = sp_json_get(root, "kind");
	if (!v || v->type != SP_JSON_STRING || strcmp(v->str, "cosine") != 0)
	{
		st = bad(err, "\"kind\" must be \"cosine\"");
		goto done;
	}
	v = sp_json_get(root, "scale");
	if (!v || v->type != SP_JSON_NUMBER || !(v->number > 0) || !isfinite(v->number))
	{
		st = bad(err, "\"scale\" must be a positive number");
		goto done;
	}
	classes = sp_json_get(root, "classes");
	proxies = sp_json_get(root, "proxies");
	if (!classes || classes->type != SP_JSON_ARRAY || classes->count < 2 ||
		classes->count > SP_NN_CLASSIFIER_MAX_CLASSES)
	{
		st = bad(err, "\"classes\" must be an array of at least two names");
		goto done;
	}
	n = (int) classes->count;
	if (!proxies || proxies->type != SP_JSON_ARRAY || proxies->count != classes->count)
	{
		st = bad(err, "\"proxies\" must be an array with one vector per class");
		goto done;
	}
	for (int k = 0; k < n; k++)
	{
		const sp_json *ck = classes->items[k];

		if (ck->type != SP_JSON_STRING || ck->str_len == 0 || strlen(ck->str) != ck->str_len)
		{
			st = bad(err, "every class name must be a non-empty string");
			goto done;
		}
		for (int j = 0; j < k; j++)
			if (strcmp(classes->items[j]->str, ck->str) == 0)
			{
				st = sp_set_error(err, SP_ERR_INVALID_ARG, "model config: \"classifier\": class \"%.60s\" is listed twice",
								  ck->str);
				goto done;
			}
		if (proxies->items[k]->type != SP_JSON_ARRAY || proxies->items[k]->count != (size_t) dim)
		{
			st = sp_set_error(err, SP_ERR_INVALID_ARG,
							  "model config: \"classifier\": proxy %d must have %d numbers, the embedding's dimension",
							  k, dim);
			goto done;
		}
	}
	if (out)
	{
		c = sp_alloc(env, sizeof(*c));
		if (c)
		{
			memset(c, 0, sizeof(*c));
			c->classes = sp_alloc_array(env, (size_t) n, sizeof(char *));
			c->proxies = sp_alloc_array(env, (size_t) n * dim, sizeof(float));
			if (c->classes)
				memset(c->classes, 0, sizeof(char *) * (size_t) n);
			c->n_classes = n;
			c->dim = dim;
			c->scale = sp_json_get(root, "scale")->number;
		}
		if (!c || !c->classes || !c->proxies)
		{
			st = sp_set_error(err, SP_ERR_NOMEM, "out of memory reading a classifier");
			goto done;
		}
	}
	for (int k = 0; k < n; k++)
	{
		const sp_json *pk = proxies->items[k];
		double		norm = 0;

		for (int j = 0; j < dim; j++)
		{
			const sp_json *x = pk->items[j];

			if (x->type != SP_JSON_NUMBER || !isfinite(x->number) || fabs(x->number) > 1e30)
			{
				st = sp_set_error(err, SP_ERR_INVALID_ARG,
								  "model config: \"classifier\": proxy %d holds a value that is not a finite number", k);
				goto done;
			}
			norm += x->number * x->number;
		}
		if (!(norm > 0))
		{
			st = sp_set_error(err, SP_ERR_INVALID_ARG, "model config: \"classifier\": proxy %d is zero", k);
			goto done;
		}
		if (c)
		{
			size_t		nl = classes->items[k]->str_len;

			if (!(c->classes[k] = sp_alloc(env, nl + 1)))
			{
				st = sp_set_error(err, SP_ERR_NOMEM, "out of memory reading a classifier");
				goto done;
			}
			memcpy(c->classes[k], classes->items[k]->str, nl + 1);
			for (int j = 0; j < dim; j++)
				c->proxies[(size_t) k * dim + j] = (float) (pk->items[j]->number / sqrt(norm));
		}
	}
	if (out)
	{
		*out = c;
		c = NULL;
	}
	st = SP_OK;
done:
	sp_nn_classifier_free(env, c);
	sp_json_free(env, doc);
	return st;
}

void
sp_nn_classifier_probs(const sp_nn_classifier *c, const float *emb, double *p)
{
	double		en = 0;

	for (int j = 0; j < c->dim; j++)
		en += (double) emb[j] * emb[j];
	en = en > 0 ? sqrt(en) : 1;
	/* cosine distances 1 - cos: softmin at T = 1 / scale is softmax(scale * cos) */
	for (int k = 0; k < c->n_classes; k++)
	{
		double		dot = 0;

		for (int j = 0; j < c->dim; j++)
			dot += (double) emb[j] * c->proxies[(size_t) k * c->dim + j];
		p[k] = 1.0 - dot / en;
	}
	sp_softmin(p, (size_t) c->n_classes, 1.0 / c->scale, p);
}

sp_status
sp_nn_classifier_json(const sp_env *env, const char *const *classes, int n, int dim, double scale,
					  const float *proxies, char **out, size_t *out_len, sp_error *err)
{
	sp_jsonw	w;

	sp_jsonw_init(&w, env, false);
	sp_jsonw_begin_object(&w);
	sp_jsonw_key(&w, "kind");
	sp_jsonw_string(&w, "cosine");
	sp_jsonw_key(&w, "scale");
	sp_jsonw_number(&w, scale);
	sp_jsonw_key(&w, "classes");
	sp_jsonw_begin_array(&w);
	for (int k = 0; k < n; k++)
		sp_jsonw_string(&w, classes[k]);
	sp_jsonw_end_array(&w);
	sp_jsonw_key(&w, "proxies");
	sp_jsonw_begin_array(&w);
	for (int k = 0; k < n; k++)
	{
		sp_jsonw_begin_array(&w);
		for (int j = 0; j < dim; j++)
			sp_jsonw_float(&w, proxies[(size_t) k * dim + j]);
		sp_jsonw_end_array(&w);
	}
	sp_jsonw_end_array(&w);
	sp_jsonw_end_object(&w);
	return sp_jsonw_finish(&w, out, out_len, err);
}
