/*
 * train.c: the trainer of nn_train.h on the operator graph.  A format-1
 * config compiles into the same graph as inference (sp_nn_compile_layers);
 * the trainer binds its parameters into it (sp_graph_bind_param), prepares
 * it for training (SP_GRAPH_PREPARE_TRAIN: batch norm unfolded, every
 * activation kept) and runs sp_graph_run_ex / sp_graph_backward, which reach
 * each op's forward and backward through the op table.  This file owns
 * what is the trainer's, not an op's: the parameters (PyTorch names, seeded
 * initialisation, gradients, optimiser state), Adam and SGD, and export to
 * the model format.  The losses are in train_loss.c.
 */
#include "nn/nn_train.h"
#include "nn/graph.h"
#include "nn/nn_layers.h"
#include "util/rng.h"
#include "util/team.h"
#include "util/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_ALLOCS 2048

struct sp_nn_trainer
{
	const sp_env *env;
	sp_nn_config *cfg;
	int			max_batch;
	int			batch;			/* of the last forward, 0 if none */
	bool		training;		/* mode of the last forward */
	int			graph_batch;	/* batch the graph's shapes are bound to */
	int			n_params;
	sp_nn_param *params;
	sp_graph   *g;
	void	   *arena;			/* sp_graph_run_bytes, 64-byte aligned */
	sp_team    *team;			/* the ops' threads; NULL: one */
	long		step;
	void	   *allocs[MAX_ALLOCS];
	int			n_allocs;
};

static void *
talloc(sp_nn_trainer *tr, size_t count, size_t elem)
{
	void	   *p;

	if (tr->n_allocs >= MAX_ALLOCS)
		return NULL;
	if (count == 0)
		count = 1;
	p = sp_alloc_array(tr->env, count, elem);
	if (p)
	{
		memset(p, 0, count * elem);
		tr->allocs[tr->n_allocs++] = p;
	}
	return p;
}

static int
add_param(sp_nn_trainer *tr, const char *layer, const char *sfx, int ndim, const int64_t *shape,
		  bool trainable, bool decay)
{
	sp_nn_param *p = &tr->params[tr->n_params];
	size_t		n = 1;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s.%s", layer, sfx);
	p->ndim = ndim;
	for (int d = 0; d < ndim; d++)
	{
		p->shape[d] = shape[d];
		n *= (size_t) shape[d];
	}
	p->numel = n;
	p->decay = decay;
	p->data = talloc(tr, n, sizeof(float));
	if (!p->data)
		return -1;
	if (trainable)
	{
		p->grad = talloc(tr, n, sizeof(float));
		p->m = talloc(tr, n, sizeof(float));
		p->v = talloc(tr, n, sizeof(float));
		if (!p->grad || !p->m || !p->v)
			return -1;
	}
	return tr->n_params++;
}

void
sp_nn_trainer_free(sp_nn_trainer *tr)
{
	const sp_env *env;

	if (!tr)
		return;
	env = tr->env;
	sp_graph_free(tr->g);
	sp_team_free(tr->team);
	for (int i = 0; i < tr->n_allocs; i++)
		sp_free(env, tr->allocs[i]);
	sp_nn_config_free(env, tr->cfg);
	sp_free(env, tr);
}

/*
 * Parameters in layer order, drawn from one splitmix64 stream: conv/linear
 * weight then bias; batch norm weight 1, bias 0, running mean 0 and
 * variance 1 (the order and draws of PyTorch-compatible exports).
 */
static sp_status
init_params(sp_nn_trainer *tr, uint64_t seed, sp_nn_init init)
{
	uint64_t	rng = seed;

	for (int i = 0; i < tr->cfg->n_layers; i++)
	{
		const sp_nn_layer *l = &tr->cfg->layers[i];

		if (l->type == SP_NN_CONV2D || l->type == SP_NN_LINEAR)
		{
			int64_t		ws[4] = {l->out, l->in, l->kernel, l->kernel};
			int64_t		bs[1] = {l->out};
			size_t		fan = (size_t) l->in * (l->type == SP_NN_CONV2D ? (size_t) l->kernel * l->kernel : 1);
			float		wb = init == SP_NN_INIT_HE ? sqrtf(6.0f / (float) fan) : 1.0f / sqrtf((float) fan);
			float		bb = 1.0f / sqrtf((float) fan);
			int			pw = add_param(tr, l->name, "weight", l->type == SP_NN_CONV2D ? 4 : 2, ws, true, true),
						pb;

			if (pw < 0)
				return SP_ERR_NOMEM;
			for (size_t k = 0; k < tr->params[pw].numel; k++)
				tr->params[pw].data[k] = sp_splitmix64_symmetric(&rng, wb);
			if (l->bias)
			{
				if ((pb = add_param(tr, l->name, "bias", 1, bs, true, false)) < 0)
					return SP_ERR_NOMEM;
				for (size_t k = 0; k < tr->params[pb].numel; k++)
					tr->params[pb].data[k] = sp_splitmix64_symmetric(&rng, bb);
			}
		}
		else if (l->type == SP_NN_BATCHNORM)
		{
			int64_t		cs[1] = {l->in};
			int			pg = add_param(tr, l->name, "weight", 1, cs, true, false),
						pbeta = add_param(tr, l->name, "bias", 1, cs, true, false),
						prm = add_param(tr, l->name, "running_mean", 1, cs, false, false),
						prv = add_param(tr, l->name, "running_var", 1, cs, false, false);

			if (pg < 0 || pbeta < 0 || prm < 0 || prv < 0)
				return SP_ERR_NOMEM;
			for (int c = 0; c < l->in; c++)
			{
				tr->params[pg].data[c] = 1.0f;
				tr->params[prv].data[c] = 1.0f;
			}
		}
	}
	return SP_OK;
}

/*
 * The config's graph over the parameters, bound to them and prepared for
 * batches of max_batch.  The compiler reads tensors from a safetensors
 * view; the parameters are one, without a file.
 */
static sp_status
build_graph(sp_nn_trainer *tr, sp_error *err)
{
	sp_safetensors view;
	sp_st_tensor *ts = talloc(tr, (size_t) tr->n_params, sizeof(sp_st_tensor));
	const sp_preprocess_spec *in = &tr->cfg->input;
	sp_shape	shape = {4, {tr->max_batch, in->channels, in->height, in->width}};
	size_t		bytes;
	sp_status	st;

	if (!ts)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory creating the trainer");
	memset(&view, 0, sizeof(view));
	for (int i = 0; i < tr->n_params; i++)
	{
		ts[i].name = tr->params[i].name;
		ts[i].dtype = SP_ST_F32;
		ts[i].ndim = tr->params[i].ndim;
		for (int d = 0; d < tr->params[i].ndim; d++)
			ts[i].shape[d] = tr->params[i].shape[d];
		ts[i].numel = tr->params[i].numel;
		ts[i].data = tr->params[i].data;
		ts[i].dtype_name = "F32";
	}
	view.n_tensors = tr->n_params;
	view.tensors = ts;
	if ((st = sp_nn_compile_layers(tr->env, tr->cfg, &view, &tr->g, err)) != SP_OK)
		return st;
	for (int i = 0; i < tr->n_params; i++)
	{
		int			id = sp_graph_find(tr->g, tr->params[i].name);

		if (id < 0)
			return sp_set_error(err, SP_ERR_INTERNAL, "parameter \"%s\" is not in the model graph",
								tr->params[i].name);
		if ((st = sp_graph_bind_param(tr->g, id, tr->params[i].data, tr->params[i].grad, err)) != SP_OK)
			return st;
	}
	sp_graph_set_team(tr->g, tr->team);
	if ((st = sp_graph_prepare_ex(tr->g, &shape, SP_GRAPH_PREPARE_TRAIN, err)) != SP_OK)
		return st;
	tr->graph_batch = tr->max_batch;
	/* the arena must be 64-byte aligned */
	bytes = sp_graph_run_bytes(tr->g);
	{
		char	   *raw = talloc(tr, bytes + 64, 1);

		if (!raw)
			return sp_set_error(err, SP_ERR_NOMEM, "out of memory for the trainer's activations (%zu bytes)", bytes);
		tr->arena = (void *) (((uintptr_t) raw + 63) & ~(uintptr_t) 63);
	}
	return SP_OK;
}

sp_status
sp_nn_trainer_create(const sp_env *env, const sp_nn_config *cfg_in, int max_batch, uint64_t seed,
					 sp_nn_init init, int threads, sp_nn_trainer **out, sp_error *err)
{
	sp_nn_trainer *tr;
	sp_status	st;

	*out = NULL;
	if (max_batch < 1 || max_batch > 65536)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "invalid trainer batch size %d", max_batch);
	tr = sp_alloc(env, sizeof(*tr));
	if (!tr)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory creating the trainer");
	memset(tr, 0, sizeof(*tr));
	tr->env = env;
	tr->max_batch = max_batch;
	if ((st = sp_nn_config_copy(env, cfg_in, &tr->cfg, err)) != SP_OK)
	{
		sp_free(env, tr);
		return st;
	}
	tr->params = talloc(tr, (size_t) tr->cfg->n_layers * 4 + 1, sizeof(sp_nn_param));
	if (!tr->params || init_params(tr, seed, init) != SP_OK)
	{
		sp_nn_trainer_free(tr);
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory creating the trainer");
	}
	if (threads > 1 && (st = sp_team_create(threads, &tr->team, err)) != SP_OK)
	{
		sp_nn_trainer_free(tr);
		return st;
	}
	if ((st = build_graph(tr, err)) != SP_OK)
	{
		sp_nn_trainer_free(tr);
		return st;
	}
	*out = tr;
	return SP_OK;
}

int
sp_nn_trainer_params(sp_nn_trainer *tr, sp_nn_param **params)
{
	*params = tr->params;
	return tr->n_params;
}

const sp_nn_config *
sp_nn_trainer_config(const sp_nn_trainer *tr)
{
	return tr->cfg;
}

sp_status
sp_nn_trainer_load_weights(sp_nn_trainer *tr, const uint8_t *weights, size_t len, sp_error *err)
{
	sp_safetensors *st;
	sp_status	rc = sp_st_read_ex(tr->env, weights, len, SP_ST_SKIP_UNSUPPORTED, &st, err);

	if (rc != SP_OK)
		return rc;
	/* check everything first so a failure leaves the parameters untouched */
	for (int i = 0; i < tr->n_params; i++)
	{
		const sp_nn_param *p = &tr->params[i];
		const sp_st_tensor *t = sp_st_find(st, p->name);
		bool		ok = t && t->data && t->ndim == p->ndim;

		for (int d = 0; ok && d < p->ndim; d++)
			ok = t->shape[d] == p->shape[d];
		if (!ok)
		{
			rc = sp_set_error(err, SP_ERR_INVALID_ARG, "weights file lacks an F32/F16/BF16 tensor \"%s\" of the expected shape",
							  p->name);
			goto done;
		}
	}
	for (int i = 0; i < tr->n_params; i++)
		memcpy(tr->params[i].data, sp_st_find(st, tr->params[i].name)->data,
			   tr->params[i].numel * sizeof(float));
done:
	sp_st_free(tr->env, st);
	return rc;
}

void
sp_nn_trainer_zero_grad(sp_nn_trainer *tr)
{
	for (int i = 0; i < tr->n_params; i++)
		if (tr->params[i].grad)
			memset(tr->params[i].grad, 0, tr->params[i].numel * sizeof(float));
}

/* ---------------------------------------------------------------------- */

sp_status
sp_nn_trainer_forward(sp_nn_trainer *tr, const float *input, int batch, bool training,
					  float *out, sp_error *err)
{
	const void *ins[1] = {input};
	void	   *outs[1] = {out};
	sp_status	st;

	if (batch < 1 || batch > tr->max_batch || !input)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "trainer forward: batch %d outside 1..%d", batch,
							tr->max_batch);
	if (training && batch < 2)
	{
		for (int i = 0; i < tr->cfg->n_layers; i++)
			if (tr->cfg->layers[i].type == SP_NN_BATCHNORM)
				return sp_set_error(err, SP_ERR_INVALID_ARG, "batch norm in training mode needs a batch of at least 2");
	}
	tr->batch = 0;
	if (batch != tr->graph_batch)
	{
		if ((st = sp_graph_set_batch(tr->g, batch, err)) != SP_OK)
			return st;
		tr->graph_batch = batch;
	}
	st = sp_graph_run_ex(tr->g, tr->env, tr->arena, ins, outs, training ? SP_GRAPH_RUN_TRAINING : 0, err);
	if (st != SP_OK)
		return st;
	tr->batch = batch;
	tr->training = training;
	return SP_OK;
}

sp_status
sp_nn_trainer_backward(sp_nn_trainer *tr, const float *d_out, sp_error *err)
{
	const float *d[1] = {d_out};

	if (tr->batch < 1)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "trainer backward without a forward pass");
	return sp_graph_backward(tr->g, tr->env, tr->arena, d, tr->training ? SP_GRAPH_RUN_TRAINING : 0, err);
}

/* ---------------------------------------------------------------------- */
/* Optimisers. */

void
sp_nn_adam_update(float *p, const float *g, float *m, float *v, size_t n,
				  const sp_nn_adam *o, long step, bool decay)
{
	double		bc1 = 1.0 - pow(o->beta1, (double) step);
	double		bc2 = 1.0 - pow(o->beta2, (double) step);
	float		wd = decay ? o->weight_decay : 0.0f;

	for (size_t i = 0; i < n; i++)
	{
		float		gi = g[i];
		double		mh,
					vh;

		if (wd != 0.0f && !o->decoupled)
			gi += wd * p[i];
		m[i] = o->beta1 * m[i] + (1.0f - o->beta1) * gi;
		v[i] = o->beta2 * v[i] + (1.0f - o->beta2) * gi * gi;
		mh = m[i] / bc1;
		vh = v[i] / bc2;
		if (wd != 0.0f && o->decoupled)
			p[i] -= o->lr * wd * p[i];
		p[i] -= (float) (o->lr * mh / (sqrt(vh) + o->eps));
	}
}

void
sp_nn_sgd_update(float *p, const float *g, float *mom, size_t n, float lr, float momentum,
				 float weight_decay)
{
	for (size_t i = 0; i < n; i++)
	{
		float		gi = g[i] + weight_decay * p[i];

		mom[i] = momentum * mom[i] + gi;
		p[i] -= lr * mom[i];
	}
}

void
sp_nn_trainer_adam_step(sp_nn_trainer *tr, const sp_nn_adam *opt)
{
	tr->step++;
	for (int i = 0; i < tr->n_params; i++)
	{
		sp_nn_param *p = &tr->params[i];

		if (p->grad)
			sp_nn_adam_update(p->data, p->grad, p->m, p->v, p->numel, opt, tr->step, p->decay);
	}
}

void
sp_nn_trainer_sgd_step(sp_nn_trainer *tr, float lr, float momentum, float weight_decay)
{
	tr->step++;
	for (int i = 0; i < tr->n_params; i++)
	{
		sp_nn_param *p = &tr->params[i];

		if (p->grad)
			sp_nn_sgd_update(p->data, p->grad, p->m, p->numel, lr, momentum,
							 p->decay ? weight_decay : 0.0f);
	}
}

/* ---------------------------------------------------------------------- */
/* Export. */

sp_status
sp_nn_trainer_export(sp_nn_trainer *tr, const char *const *meta_keys, const char *const *meta_values,
					 int n_meta, char **config_json, size_t *config_len,
					 uint8_t **weights, size_t *weights_len, sp_error *err)
{
	sp_st_out_tensor *ts;
	sp_status	st;

	*config_json = NULL;
	*weights = NULL;
	ts = sp_alloc_array(tr->env, (size_t) tr->n_params + 1, sizeof(sp_st_out_tensor));
	if (!ts)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory exporting the model");
	for (int i = 0; i < tr->n_params; i++)
	{
		ts[i].name = tr->params[i].name;
		ts[i].ndim = tr->params[i].ndim;
		for (int d = 0; d < 4; d++)
			ts[i].shape[d] = tr->params[i].shape[d];
		ts[i].data = tr->params[i].data;
	}
	st = sp_st_write(tr->env, ts, tr->n_params, meta_keys, meta_values, n_meta, weights, weights_len, err);
	sp_free(tr->env, ts);
	if (st != SP_OK)
		return st;
	st = sp_nn_config_to_json(tr->env, tr->cfg, true, config_json, config_len, err);
	if (st != SP_OK)
	{
		sp_free(tr->env, *weights);
		*weights = NULL;
	}
	return st;
}

sp_status
sp_nn_trainer_to_model(sp_nn_trainer *tr, sp_nn_model **out, sp_error *err)
{
	char	   *cj;
	size_t		cl,
				wl;
	uint8_t    *w;
	sp_status	st = sp_nn_trainer_export(tr, NULL, NULL, 0, &cj, &cl, &w, &wl, err);

	*out = NULL;
	if (st != SP_OK)
		return st;
	st = sp_nn_model_load(tr->env, cj, cl, w, wl, out, err);
	sp_free(tr->env, cj);
	sp_free(tr->env, w);
	return st;
}

