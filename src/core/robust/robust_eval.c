/*
 * robust_eval.c: the evaluation engine behind robustness reports
 * (robust_eval.h).  It owns the loops that turn a sample of images and two
 * models into error tables: corrupting / perturbing every image, embedding
 * the results with both models in bounded chunks, measuring k-NN or
 * self-retrieval error, drift, flip probability and top-5 distance, and
 * handing the tables to robust_metrics.c for CE, mCE, FR and T5D.  It also
 * owns the per-item seed (sp_re_item_seed).
 *
 * Both kinds run one sample image at a time (the unit a distributed report
 * ships to the node holding the image), so memory is bounded by the sample:
 * per model one n x dim clean matrix, plus one image's corrupted versions
 * (or one perturbation sequence) and their embeddings.  No corrupted image
 * outlives its image's step.
 *
 * When model[SP_RE_MODEL] and model[SP_RE_BASELINE] are the same object
 * (a report of a model against itself, possibly with one shared workspace),
 * every image is embedded once and the baseline's tables are copies of the
 * model's: identical by construction, which is what makes CE exactly 1.
 */
#include "robust/robust_eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"
#include "vector/distance.h"

/* ---------------------------------------------------------------------- */
/* Seeds */


/*
 * Each input is absorbed in turn: h = sp_mix64(h ^ word + golden), the way
 * splitmix64 advances its state by the golden gamma before mixing.  Every
 * step is a bijection of h for a fixed word, so two items that differ in
 * exactly one of (image, what, severity) never share a seed, and the
 * avalanche makes neighbouring images' seeds unrelated.  what and severity
 * share one 64-bit word (32 bits each): both are small in practice
 * (corruption ids, 1000 + perturbation index; severities 1..5, difficulty).
 */
uint64_t
sp_re_item_seed(uint64_t seed, int image, int what, int severity)
{
	uint64_t	h = sp_mix64(seed + SP_SPLITMIX64_GAMMA);

	h = sp_mix64((h ^ (uint64_t) (uint32_t) image) + SP_SPLITMIX64_GAMMA);
	h = sp_mix64((h ^ (((uint64_t) (uint32_t) what << 32) | (uint64_t) (uint32_t) severity)) + SP_SPLITMIX64_GAMMA);
	return h;
}

/* ---------------------------------------------------------------------- */
/* Shared state of one run */

typedef struct re_ctx
{
	const sp_env *env;
	const sp_re_sample *sample;
	const sp_re_models *models;
	int			nmodels;		/* 1: both roles are one model (shared results) */
	int			dim[2];
	float	   *clean[2];		/* n x dim clean embeddings per model */
	sp_re_progress_fn progress;
	void	   *progress_arg;
	int			step;
	int			nsteps;
	int			per_stage;		/* images per progress stage of the per-image pass */
} re_ctx;

static const char *const role_name[2] = {"model", "baseline model"};

/*
 * Prefix the core error's detail with where it happened, keeping the
 * original code, message and detail (the glue reports the core error; the
 * report run needs to know which image broke).
 */
static void
annotate(sp_error *err, const char *where)
{
	char		old[sizeof(err->detail)];

	if (!err)
		return;
	snprintf(old, sizeof(old), "%s", err->detail);
	if (old[0])
		sp_error_detail(err, "%s %s", where, old);
	else
		sp_error_detail(err, "%s", where);
}

static sp_status
interrupted(sp_error *err)
{
	return sp_set_error(err, SP_ERR_INTERRUPTED, "robustness evaluation was interrupted");
}

static void
progress(re_ctx *cx, const char *stage)
{
	cx->step++;
	if (cx->progress)
		cx->progress(cx->progress_arg, stage, cx->step, cx->nsteps);
}

static void
ctx_free(re_ctx *cx)
{
	sp_free(cx->env, cx->clean[0]);
	if (cx->clean[1] != cx->clean[0])
		sp_free(cx->env, cx->clean[1]);
	cx->clean[0] = cx->clean[1] = NULL;
}

static int
models_count(const sp_re_models *models)
{
	return models->model[0] == models->model[1] ? 1 : 2;
}

/* The smaller of the two workspaces' batch sizes: one chunking for both models. */
static int
models_chunk(const sp_re_models *models)
{
	int			chunk = sp_nn_workspace_max_batch(models->ws[0]);

	if (sp_nn_workspace_max_batch(models->ws[1]) < chunk)
		chunk = sp_nn_workspace_max_batch(models->ws[1]);
	return chunk < 1 ? 1 : chunk;
}

static int
profile_valid(sp_corrupt_profile p)
{
	return p == SP_PROFILE_AUTO || p == SP_PROFILE_CIFAR || p == SP_PROFILE_TINY ||
		p == SP_PROFILE_IMAGENET;
}

/*
 * Checks common to both runs: sample, labels, models and workspaces, k,
 * profile.  Fills the context's sizes; allocates nothing.
 */
static sp_status
validate_common(const sp_env *env, const sp_re_sample *sample, const sp_re_models *models,
				int k, sp_corrupt_profile profile, re_ctx *cx, sp_error *err)
{
	sp_status	st;

	memset(cx, 0, sizeof(*cx));
	if (!env || !sample || !models)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "robustness evaluation: environment, sample or models pointer is NULL");
	if (sample->n < 2 || sample->n > SP_RE_MAX_IMAGES)
	{
		st = sp_set_error(err, SP_ERR_INVALID_ARG, "sample size %d is out of range 2..%d",
						  sample->n, SP_RE_MAX_IMAGES);
		sp_error_detail(err, "Every error is measured against the other clean images of the sample, so at least two are needed.");
		return st;
	}
	if (!sample->images)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "sample images pointer is NULL");
	for (int i = 0; i < sample->n; i++)
	{
		const sp_image *im = &sample->images[i];

		if (!im->pixels || im->width < 1 || im->height < 1 || im->channels < 1 || im->channels > 4)
		{
			st = sp_set_error(err, SP_ERR_INVALID_ARG, "sample image %d is not a valid image", i);
			sp_error_detail(err, "It is %d x %d with %d channels%s.", im->width, im->height,
							im->channels, im->pixels ? "" : " and no pixels");
			return st;
		}
		if (sample->labels && sample->labels[i] < 0)
		{
			st = sp_set_error(err, SP_ERR_INVALID_ARG, "label %d of sample image %d is negative",
							  (int) sample->labels[i], i);
			sp_error_hint(err, "Class labels must be integers >= 0; pass no labels for the self-retrieval error.");
			return st;
		}
	}
	for (int m = 0; m < 2; m++)
	{
		if (!models->model[m] || !models->ws[m])
			return sp_set_error(err, SP_ERR_INVALID_ARG, "the %s or its workspace is NULL", role_name[m]);
		if (sp_nn_workspace_model(models->ws[m]) != models->model[m])
		{
			st = sp_set_error(err, SP_ERR_INVALID_ARG, "the workspace of the %s was created for another model",
							  role_name[m]);
			sp_error_hint(err, "Two different models need two workspaces; one model evaluated against itself may share one.");
			return st;
		}
		cx->dim[m] = sp_nn_model_dim(models->model[m]);
	}
	if (k < 1 || k > SP_RM_MAX_K)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "k = %d is out of range 1..%d", k, SP_RM_MAX_K);
	if (!profile_valid(profile))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "corruption profile %d is not valid", (int) profile);

	cx->env = env;
	cx->sample = sample;
	cx->models = models;
	cx->nmodels = models_count(models);
	return SP_OK;
}

/* The clean matrices (shared when both roles are one model). */
static sp_status
ctx_alloc(re_ctx *cx, sp_error *err)
{
	int			n = cx->sample->n;

	cx->clean[0] = sp_alloc_array(cx->env, (size_t) n * (size_t) cx->dim[0], sizeof(float));
	cx->clean[1] = cx->nmodels == 1 ? cx->clean[0] :
		sp_alloc_array(cx->env, (size_t) n * (size_t) cx->dim[1], sizeof(float));
	if (!cx->clean[0] || !cx->clean[1])
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory for the robustness evaluation of %d images", n);
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* Corruptions */

static void
corruption_result_init(sp_re_corruption_result *out, int n)
{
	memset(out, 0, sizeof(*out));
	out->n = n;
	sp_rm_errors_init(&out->errors[0]);
	sp_rm_errors_init(&out->errors[1]);
	for (int m = 0; m < 2; m++)
		for (int c = 0; c < SP_C_COUNT; c++)
			for (int s = 0; s < SP_CORRUPT_MAX_SEVERITY; s++)
				out->drift[m][c][s] = NAN;
	out->mce = out->relative_mce = NAN;
	out->heldout_mce = out->heldout_relative_mce = NAN;
}

static sp_status
validate_corruption_params(const sp_re_corruption_params *p, sp_error *err)
{
	sp_status	st;

	if (!p)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "corruption parameters pointer is NULL");
	if (!p->corruptions || p->ncorruptions < 1 || p->ncorruptions > SP_C_COUNT)
	{
		st = sp_set_error(err, SP_ERR_INVALID_ARG, "a corruption report needs 1 to %d corruptions, got %d",
						  SP_C_COUNT, p->corruptions ? p->ncorruptions : 0);
		return st;
	}
	for (int i = 0; i < p->ncorruptions; i++)
	{
		int			c = p->corruptions[i];

		if (c < 0 || c >= SP_C_COUNT)
		{
			st = sp_set_error(err, SP_ERR_INVALID_ARG, "corruption id %d is out of range 0..%d",
							  c, SP_C_COUNT - 1);
			return st;
		}
		for (int j = 0; j < i; j++)
			if (p->corruptions[j] == c)
			{
				st = sp_set_error(err, SP_ERR_INVALID_ARG, "corruption \"%s\" is requested twice",
								  sp_corruption_get(c)->name);
				sp_error_detail(err, "Entries %d and %d of the corruption list are the same.", j + 1, i + 1);
				return st;
			}
	}
	if (p->sev_mask == 0 || (p->sev_mask & ~SP_RM_ALL_SEVERITIES) != 0)
	{
		st = sp_set_error(err, SP_ERR_INVALID_ARG, "severity mask 0x%x is not valid", p->sev_mask);
		sp_error_detail(err, "Bit s-1 selects severity s; at least one of severities 1 to 5 must be selected and no other bit set.");
		return st;
	}
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* One image at a time (robust_eval.h): the unit a distributed report runs */

int
sp_re_corruption_ncells(const sp_re_corruption_params *params)
{
	int			nsev = 0;

	for (int s = 1; s <= SP_CORRUPT_MAX_SEVERITY; s++)
		nsev += (params->sev_mask >> (s - 1)) & 1u;
	return params->ncorruptions * nsev;
}

/* cnt images through model m, in chunks of the models' common batch size. */
static sp_status
embed_all(const sp_env *env, const sp_re_models *models, int m, const sp_image *imgs, int cnt,
		  float *out, sp_error *err)
{
	int			chunk = models_chunk(models),
				dim = sp_nn_model_dim(models->model[m]);

	for (int start = 0; start < cnt; start += chunk)
	{
		int			n = cnt - start < chunk ? cnt - start : chunk;
		sp_status	st = sp_nn_embed_images(env, models->model[m], models->ws[m], imgs + start, n,
											out + (size_t) start * dim, err);

		if (st != SP_OK)
			return st;
	}
	return SP_OK;
}

sp_status
sp_re_clean_embed(const sp_env *env, const sp_re_models *models, const sp_image *image,
				  int index, float *out[2], sp_error *err)
{
	for (int m = 0; m < models_count(models); m++)
	{
		sp_status	st = sp_nn_embed_images(env, models->model[m], models->ws[m], image, 1, out[m], err);

		if (st != SP_OK)
		{
			if (st != SP_ERR_INTERRUPTED && st != SP_ERR_NOMEM)
			{
				char		where[96];

				if (index >= 0)
					snprintf(where, sizeof(where), "Embedding sample image %d (clean) with the %s failed.",
							 index, role_name[m]);
				else
					snprintf(where, sizeof(where), "Embedding the clean image with the %s failed.", role_name[m]);
				annotate(err, where);
			}
			return st;
		}
	}
	return SP_OK;
}

/*
 * Error counts of nq queries of model m against the gallery: k-NN excluding
 * each query's own original (self[q]) with labels, self-retrieval without.
 * pred (may be NULL) gets each query's predicted label or nearest index.
 * Neighbours are ranked by the model's own distance, the one pair_distance
 * and classify use: a model is judged as it is used (L2 for "l2" models such
 * as the raw-pixel baseline, cosine for "cosine" ones; for L2-normalised
 * embeddings the two rank alike).  Every pass of both report kinds measures
 * through here.
 */
static sp_status
gallery_measure(const sp_env *env, const sp_re_models *models, int m, const sp_re_gallery *g,
				const float *queries, const int32_t *self, const int32_t *qlabels, int nq, int k,
				int64_t *wrong, int32_t *pred, sp_error *err)
{
	int			dim = sp_nn_model_dim(models->model[m]);
	sp_distance_kind kind = sp_nn_model_config(models->model[m])->distance;

	if (g->labels)
		return sp_rm_knn_error(env, g->clean[m], g->labels, g->n, queries, qlabels, self, nq, dim, k,
							   kind, wrong, pred, err);
	return sp_rm_self_retrieval_error(env, g->clean[m], g->n, queries, self, nq, dim, kind, wrong,
									  pred, err);
}

sp_status
sp_re_clean_error(const sp_env *env, const sp_re_models *models, const sp_re_gallery *gallery, int k,
				  int64_t wrong[2], sp_error *err)
{
	int32_t    *self = sp_alloc_array(env, (size_t) gallery->n, sizeof(int32_t));
	sp_status	st = SP_OK;

	if (!self)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory for the clean error of %d images", gallery->n);
	for (int i = 0; i < gallery->n; i++)
		self[i] = i;
	for (int m = 0; st == SP_OK && m < models_count(models); m++)
		st = gallery_measure(env, models, m, gallery, gallery->clean[m], self, gallery->labels, gallery->n,
							 k, &wrong[m], NULL, err);
	if (st == SP_OK && models_count(models) == 1)
		wrong[1] = wrong[0];
	sp_free(env, self);
	return st;
}

sp_status
sp_re_corruption_image(const sp_env *env, const sp_re_models *models, const sp_image *image, int index,
					   const sp_re_gallery *gallery, const sp_re_corruption_params *params,
					   sp_re_cell *cells, sp_error *err)
{
	int			ncells = sp_re_corruption_ncells(params),
				nm = models_count(models),
				made = 0,
				j = 0;
	sp_image   *buf;
	float	   *corr[2] = {NULL, NULL};
	int32_t    *self,
			   *qlabels,
			   *pred;
	sp_status	st = SP_OK;

	if (index < 0 || index >= gallery->n || ncells < 1)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "sample index %d is out of range 0..%d", index,
							gallery->n - 1);
	buf = sp_alloc_array(env, (size_t) ncells, sizeof(sp_image));
	self = sp_alloc_array(env, (size_t) ncells, sizeof(int32_t));
	qlabels = sp_alloc_array(env, (size_t) ncells, sizeof(int32_t));
	pred = sp_alloc_array(env, (size_t) ncells, sizeof(int32_t));
	for (int m = 0; m < nm; m++)
		corr[m] = sp_alloc_array(env, (size_t) ncells * (size_t) sp_nn_model_dim(models->model[m]),
								 sizeof(float));
	if (!buf || !self || !qlabels || !pred || !corr[0] || (nm == 2 && !corr[1]))
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory for the corrupted versions of sample image %d", index);

	/* every requested cell, once, for both models */
	for (int i = 0; st == SP_OK && i < params->ncorruptions; i++)
	{
		int			c = params->corruptions[i];

		for (int sev = 1; st == SP_OK && sev <= SP_CORRUPT_MAX_SEVERITY; sev++)
		{
			if (!((params->sev_mask >> (sev - 1)) & 1u))
				continue;
			st = sp_corrupt_by_id(env, image, (sp_corruption_id) c, sev,
								  sp_re_item_seed(params->seed, index, c, sev), params->profile,
								  &buf[made], err);
			if (st != SP_OK)
			{
				char		where[160];

				snprintf(where, sizeof(where), "Corrupting sample image %d with %s severity %d failed.",
						 index, sp_corruption_get(c)->name, sev);
				annotate(err, where);
				break;
			}
			self[made] = index;
			qlabels[made] = gallery->labels ? gallery->labels[index] : 0;
			made++;
		}
	}
	for (int m = 0; st == SP_OK && m < nm; m++)
	{
		st = embed_all(env, models, m, buf, ncells, corr[m], err);
		if (st != SP_OK && st != SP_ERR_INTERRUPTED && st != SP_ERR_NOMEM)
		{
			char		where[128];

			snprintf(where, sizeof(where), "Embedding the corrupted versions of sample image %d with the %s failed.",
					 index, role_name[m]);
			annotate(err, where);
		}
	}
	for (int m = 0; st == SP_OK && m < nm; m++)
	{
		int64_t		wrong;
		int			dim = sp_nn_model_dim(models->model[m]);

		st = gallery_measure(env, models, m, gallery, corr[m], self, gallery->labels ? qlabels : NULL,
							 ncells, params->k, &wrong, pred, err);
		for (j = 0; st == SP_OK && j < ncells; j++)
		{
			cells[j].wrong[m] = gallery->labels ? pred[j] != qlabels[j] : pred[j] != index;
			cells[j].drift[m] = sp_dist_cosine(corr[m] + (size_t) j * dim,
											   gallery->clean[m] + (size_t) index * dim, (size_t) dim);
			if (nm == 1)
			{
				cells[j].wrong[1] = cells[j].wrong[0];
				cells[j].drift[1] = cells[j].drift[0];
			}
		}
	}
	for (int i = 0; i < made; i++)
		sp_image_free(env, &buf[i]);
	sp_free(env, buf);
	sp_free(env, self);
	sp_free(env, qlabels);
	sp_free(env, pred);
	sp_free(env, corr[0]);
	sp_free(env, corr[1]);
	return st;
}

void
sp_re_corruption_acc_init(sp_re_corruption_acc *acc)
{
	memset(acc, 0, sizeof(*acc));
}

void
sp_re_corruption_acc_add(sp_re_corruption_acc *acc, const sp_re_corruption_params *params,
						 const sp_re_cell *cells)
{
	int			j = 0;

	for (int i = 0; i < params->ncorruptions; i++)
	{
		int			c = params->corruptions[i];

		for (int sev = 1; sev <= SP_CORRUPT_MAX_SEVERITY; sev++)
		{
			if (!((params->sev_mask >> (sev - 1)) & 1u))
				continue;
			for (int m = 0; m < 2; m++)
			{
				acc->wrong[m][c][sev - 1] += cells[j].wrong[m];
				if (!isnan(cells[j].drift[m]))
				{
					acc->drift_sum[m][c][sev - 1] += cells[j].drift[m];
					acc->drift_used[m][c][sev - 1]++;
				}
			}
			j++;
		}
	}
	acc->n++;
}

/* Mean CE / relative CE over the requested members of a group (NaN if none). */
static sp_status
group_means(const sp_re_corruption_result *out, const sp_re_corruption_params *p,
			const int *group, int ngroup, double *mce, double *rmce, int *n_undefined,
			sp_error *err)
{
	int			members[SP_C_COUNT];
	int			nm = 0;
	int			flags = 0;
	sp_status	st;

	for (int g = 0; g < ngroup; g++)
		for (int i = 0; i < p->ncorruptions; i++)
			if (p->corruptions[i] == group[g])
				members[nm++] = group[g];
	*mce = *rmce = NAN;
	*n_undefined = 0;
	if (nm == 0)
		return SP_OK;
	st = sp_rm_mce(&out->errors[0], &out->errors[1], members, nm, p->sev_mask, 0, mce, &flags,
				   NULL, err);
	if (st == SP_OK)
		st = sp_rm_mce(&out->errors[0], &out->errors[1], members, nm, p->sev_mask, 1, rmce,
					   &flags, NULL, err);

	/*
	 * One count for both means: members whose CE or relative CE is undefined
	 * (relative CE is undefined more often: a baseline that does not degrade
	 * under a mild corruption).  mce is NaN iff a member's CE is undefined,
	 * relative_mce iff a member's relative CE is.
	 */
	for (int i = 0; i < p->ncorruptions; i++)
		for (int g = 0; g < ngroup; g++)
			if (p->corruptions[i] == group[g] &&
				((out->scores[i].ce_flags | out->scores[i].relative_ce_flags) & SP_RM_UNDEFINED))
				(*n_undefined)++;
	return st;
}

sp_status
sp_re_corruption_finish(const sp_re_corruption_params *params, const sp_re_corruption_acc *acc,
						const int64_t clean_wrong[2], int n, int one_model, sp_re_corruption_result *out,
						sp_error *err)
{
	sp_status	st = SP_OK;

	corruption_result_init(out, n);
	if (acc->n != n)
		return sp_set_error(err, SP_ERR_INTERNAL, "%d of %d sample images were evaluated", acc->n, n);
	for (int m = 0; st == SP_OK && m < 2; m++)
		st = sp_rm_errors_record(&out->errors[m], 0, 0, clean_wrong[one_model ? 0 : m], n, err);
	for (int i = 0; st == SP_OK && i < params->ncorruptions; i++)
	{
		int			c = params->corruptions[i];

		for (int sev = 1; st == SP_OK && sev <= SP_CORRUPT_MAX_SEVERITY; sev++)
		{
			if (!((params->sev_mask >> (sev - 1)) & 1u))
				continue;
			for (int m = 0; st == SP_OK && m < 2; m++)
			{
				st = sp_rm_errors_record(&out->errors[m], c, sev, acc->wrong[m][c][sev - 1], n, err);
				out->drift[m][c][sev - 1] = acc->drift_used[m][c][sev - 1] > 0 ?
					acc->drift_sum[m][c][sev - 1] / (double) acc->drift_used[m][c][sev - 1] : NAN;
			}
		}
	}

	/* per-corruption CE and the group means */
	for (int i = 0; st == SP_OK && i < params->ncorruptions; i++)
	{
		sp_re_corruption_score *sc = &out->scores[i];
		int			c = params->corruptions[i];

		sc->corruption = c;
		sc->held_out = !sp_corruption_get(c)->benchmark;
		st = sp_rm_ce(&out->errors[0], &out->errors[1], c, params->sev_mask, &sc->ce,
					  &sc->ce_flags, err);
		if (st == SP_OK)
			st = sp_rm_relative_ce(&out->errors[0], &out->errors[1], c, params->sev_mask,
								   &sc->relative_ce, &sc->relative_ce_flags, err);
		sc->model_error = sp_rm_severity_mean(out->errors[0].err[c], params->sev_mask, NULL);
		sc->baseline_error = sp_rm_severity_mean(out->errors[1].err[c], params->sev_mask, NULL);
		sc->model_drift = sp_rm_severity_mean(out->drift[0][c], params->sev_mask, NULL);
		out->nscores = i + 1;
	}
	if (st == SP_OK)
		st = group_means(out, params, sp_rm_benchmark_corruptions, 15, &out->mce,
						 &out->relative_mce, &out->n_undefined_mce, err);
	if (st == SP_OK)
		st = group_means(out, params, sp_rm_heldout_corruptions, 4, &out->heldout_mce,
						 &out->heldout_relative_mce, &out->n_undefined_heldout, err);
	/* a failed run leaves nothing that could be mistaken for results */
	if (st != SP_OK)
		corruption_result_init(out, 0);
	return st;
}

/* Progress stages of the per-image pass: about ten, each a run of images. */
#define RE_IMAGE_STAGES 10

/* Both runs' progress: "clean", then about ten runs of images. */
static void
progress_init(re_ctx *cx, sp_re_progress_fn fn, void *arg)
{
	int			n = cx->sample->n;

	cx->per_stage = (n + RE_IMAGE_STAGES - 1) / RE_IMAGE_STAGES;
	cx->progress = fn;
	cx->progress_arg = arg;
	cx->nsteps = 1 + (n + cx->per_stage - 1) / cx->per_stage;
}

/* Report the stage "<what> images A to B of N" when image i starts one. */
static void
progress_images(re_ctx *cx, const char *what, int i)
{
	char		stage[96];
	int			n = cx->sample->n,
				last = i + cx->per_stage < n ? i + cx->per_stage : n;

	if (i % cx->per_stage != 0)
		return;
	snprintf(stage, sizeof(stage), "%s images %d to %d of %d", what, i + 1, last, n);
	progress(cx, stage);
}

/*
 * The clean gallery of the sample, one image at a time (as a distributed
 * report computes it), into the context's clean matrices.
 */
static sp_status
clean_gallery(re_ctx *cx, sp_re_gallery *gallery, sp_error *err)
{
	const sp_re_sample *s = cx->sample;
	sp_status	st = SP_OK;

	progress(cx, "clean");
	for (int i = 0; st == SP_OK && i < s->n; i++)
	{
		float	   *out_i[2] = {cx->clean[0] + (size_t) i * cx->dim[0], cx->clean[1] + (size_t) i * cx->dim[1]};

		st = sp_env_interrupted(cx->env) ? interrupted(err) :
			sp_re_clean_embed(cx->env, cx->models, &s->images[i], i, out_i, err);
	}
	gallery->clean[0] = cx->clean[0];
	gallery->clean[1] = cx->clean[1];
	gallery->labels = s->labels;
	gallery->n = s->n;
	return st;
}

sp_status
sp_re_corruption_run(const sp_env *env, const sp_re_sample *sample, const sp_re_models *models,
					 const sp_re_corruption_params *params, sp_re_progress_fn progress_fn,
					 void *progress_arg, sp_re_corruption_result *out, sp_error *err)
{
	re_ctx		cx;
	sp_re_cell *cells = NULL;
	sp_re_corruption_acc *acc = NULL;
	sp_re_gallery gallery;
	int64_t		clean_wrong[2] = {0, 0};
	sp_status	st;

	if (err)
		sp_error_clear(err);
	if (!out)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "corruption result pointer is NULL");
	corruption_result_init(out, 0);
	st = validate_corruption_params(params, err);
	if (st != SP_OK)
		return st;
	st = validate_common(env, sample, models, params->k, params->profile, &cx, err);
	if (st != SP_OK)
		return st;
	progress_init(&cx, progress_fn, progress_arg);

	st = ctx_alloc(&cx, err);
	if (st == SP_OK)
	{
		cells = sp_alloc_array(env, (size_t) sp_re_corruption_ncells(params), sizeof(sp_re_cell));
		acc = sp_alloc_array(env, 1, sizeof(sp_re_corruption_acc));
		if (!cells || !acc)
			st = sp_set_error(err, SP_ERR_NOMEM, "out of memory for the robustness evaluation of %d images",
							  sample->n);
		else
			sp_re_corruption_acc_init(acc);
	}

	/* the clean gallery and its error */
	if (st == SP_OK)
		st = clean_gallery(&cx, &gallery, err);
	if (st == SP_OK)
		st = sp_re_clean_error(env, models, &gallery, params->k, clean_wrong, err);

	/* every image's cells, added in sample order */
	for (int i = 0; st == SP_OK && i < sample->n; i++)
	{
		progress_images(&cx, "corrupted", i);
		if (sp_env_interrupted(env))
			st = interrupted(err);
		else
			st = sp_re_corruption_image(env, models, &sample->images[i], i, &gallery, params, cells, err);
		if (st == SP_OK)
			sp_re_corruption_acc_add(acc, params, cells);
	}
	if (st == SP_OK)
		st = sp_re_corruption_finish(params, acc, clean_wrong, sample->n, cx.nmodels == 1, out, err);

	sp_free(env, cells);
	sp_free(env, acc);
	ctx_free(&cx);
	if (st != SP_OK)
		corruption_result_init(out, 0);
	return st;
}

/* ---------------------------------------------------------------------- */
/* Perturbations */

static void
perturbation_result_init(sp_re_perturbation_result *out, int n)
{
	memset(out, 0, sizeof(*out));
	out->n = n;
	out->mfr = out->mt5d = NAN;
}

static sp_status
validate_perturbation_params(const sp_re_perturbation_params *p, sp_error *err)
{
	sp_status	st;
	int			count = sp_perturbation_count();

	if (!p)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "perturbation parameters pointer is NULL");
	if (!p->perturbations || p->nperturbations < 1 || p->nperturbations > SP_RE_MAX_PERTURBATIONS)
	{
		st = sp_set_error(err, SP_ERR_INVALID_ARG, "a perturbation report needs 1 to %d perturbations, got %d",
						  count < SP_RE_MAX_PERTURBATIONS ? count : SP_RE_MAX_PERTURBATIONS,
						  p->perturbations ? p->nperturbations : 0);
		return st;
	}
	for (int i = 0; i < p->nperturbations; i++)
	{
		int			q = p->perturbations[i];

		if (q < 0 || q >= count)
			return sp_set_error(err, SP_ERR_INVALID_ARG, "perturbation index %d is out of range 0..%d",
								q, count - 1);
		for (int j = 0; j < i; j++)
			if (p->perturbations[j] == q)
			{
				st = sp_set_error(err, SP_ERR_INVALID_ARG, "perturbation \"%s\" is requested twice",
								  sp_perturbation_get(q)->name);
				sp_error_detail(err, "Entries %d and %d of the perturbation list are the same.", j + 1, i + 1);
				return st;
			}
	}
	if (p->difficulty < 1 || p->difficulty > SP_PERTURB_MAX_DIFFICULTY)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "difficulty %d is out of range 1..%d",
							p->difficulty, SP_PERTURB_MAX_DIFFICULTY);
	return SP_OK;
}

static int
cmp_int32(const void *a, const void *b)
{
	int32_t		x = *(const int32_t *) a,
				y = *(const int32_t *) b;

	return (x > y) - (x < y);
}

/* ---------------------------------------------------------------------- */
/* Perturbations, one image at a time (robust_eval.h) */

void
sp_re_prototypes_free(const sp_env *env, sp_re_prototypes *protos)
{
	sp_free(env, protos->classes);
	sp_free(env, protos->proto[0]);
	if (protos->proto[1] != protos->proto[0])
		sp_free(env, protos->proto[1]);
	memset(protos, 0, sizeof(*protos));
}

sp_status
sp_re_prototypes_build(const sp_env *env, const sp_re_models *models, const sp_re_gallery *gallery,
					   sp_re_prototypes *protos, sp_error *err)
{
	int			n = gallery->n,
				ncls = 0,
				nm = models_count(models);
	int		   *count = NULL;
	double	   *acc = NULL;
	sp_status	st = SP_OK;

	memset(protos, 0, sizeof(*protos));
	if (!gallery->labels)
		return SP_OK;			/* no classes: T5D does not exist without labels */
	protos->classes = sp_alloc_array(env, (size_t) n, sizeof(int32_t));
	count = sp_alloc_array(env, (size_t) n, sizeof(int));
	if (!protos->classes || !count)
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory for class prototypes");
	if (st == SP_OK)
	{
		memcpy(protos->classes, gallery->labels, sizeof(int32_t) * (size_t) n);
		qsort(protos->classes, (size_t) n, sizeof(int32_t), cmp_int32);
		for (int i = 0; i < n; i++)
			if (i == 0 || protos->classes[i] != protos->classes[ncls - 1])
				protos->classes[ncls++] = protos->classes[i];
		protos->ncls = ncls;
	}
	for (int m = 0; st == SP_OK && m < nm; m++)
	{
		int			dim = sp_nn_model_dim(models->model[m]);

		protos->proto[m] = sp_alloc_array(env, (size_t) ncls * (size_t) dim, sizeof(float));
		/* sums in double: one class may hold most of a large sample */
		acc = sp_alloc_array(env, (size_t) ncls * (size_t) dim, sizeof(double));
		if (!protos->proto[m] || !acc)
		{
			st = sp_set_error(err, SP_ERR_NOMEM, "out of memory for class prototypes");
			break;
		}
		memset(acc, 0, sizeof(double) * (size_t) ncls * (size_t) dim);
		memset(count, 0, sizeof(int) * (size_t) ncls);
		for (int i = 0; i < n; i++)
		{
			const int32_t *hit = bsearch(&gallery->labels[i], protos->classes, (size_t) ncls,
										 sizeof(int32_t), cmp_int32);
			size_t		c = (size_t) (hit - protos->classes);
			const float *e = gallery->clean[m] + (size_t) i * dim;

			count[c]++;
			for (int d = 0; d < dim; d++)
				acc[c * dim + d] += e[d];
		}
		for (size_t c = 0; c < (size_t) ncls; c++)
			for (int d = 0; d < dim; d++)
				protos->proto[m][c * dim + d] = (float) (acc[c * dim + d] / count[c]);
		sp_free(env, acc);
		acc = NULL;
	}
	if (st == SP_OK && nm == 1)
		protos->proto[1] = protos->proto[0];
	sp_free(env, acc);
	sp_free(env, count);
	if (st != SP_OK)
		sp_re_prototypes_free(env, protos);
	return st;
}

/*
 * Working memory of one image's sequences.  Several sequences are batched
 * (up to cap frames, never splitting one) so the embedding and k-NN calls
 * see full batches; the batching depends only on the parameters and the
 * image, so the same image gives the same numbers wherever it is evaluated.
 */
typedef struct pt_batch
{
	int			cap;			/* frames */
	sp_image   *frames;			/* cap */
	int			nf;				/* frames in the batch */
	int32_t    *self;			/* cap x the image's index */
	int32_t    *qlabel;			/* cap x its label */
	float	   *emb[2];			/* cap x dim */
	int32_t    *pred[2];		/* cap */
	float	   *values;			/* cap x ncls */
	int			nseq;			/* sequences in the batch */
	int		   *seq_item;		/* cap: the request index of each */
	int		   *seq_start;		/* cap */
	int		   *seq_len;		/* cap */
} pt_batch;

static void
pt_batch_free_frames(const sp_env *env, pt_batch *b)
{
	for (int f = 0; f < b->nf; f++)
		sp_image_free(env, &b->frames[f]);
	b->nf = 0;
}

static void
pt_batch_free(const sp_env *env, pt_batch *b)
{
	if (b->frames)
		pt_batch_free_frames(env, b);
	sp_free(env, b->frames);
	sp_free(env, b->self);
	sp_free(env, b->qlabel);
	for (int m = 0; m < 2; m++)
	{
		sp_free(env, b->emb[m]);
		sp_free(env, b->pred[m]);
	}
	sp_free(env, b->values);
	sp_free(env, b->seq_item);
	sp_free(env, b->seq_start);
	sp_free(env, b->seq_len);
	memset(b, 0, sizeof(*b));
}

static sp_status
pt_batch_alloc(const sp_env *env, const sp_re_models *models, const sp_re_prototypes *protos,
			   const sp_re_perturbation_params *p, int index, int label, pt_batch *b, sp_error *err)
{
	int			nm = models_count(models),
				maxlen = 1,
				chunk = models_chunk(models);

	/* the longest sequence any requested perturbation has under any profile */
	for (int i = 0; i < p->nperturbations; i++)
		for (int pr = 0; pr < 3; pr++)
		{
			int			f = sp_perturbation_get(p->perturbations[i])->frames[pr];

			maxlen = f > maxlen ? f : maxlen;
		}
	memset(b, 0, sizeof(*b));
	b->cap = chunk > maxlen ? chunk : maxlen;
	b->frames = sp_alloc_array(env, (size_t) b->cap, sizeof(sp_image));
	b->self = sp_alloc_array(env, (size_t) b->cap, sizeof(int32_t));
	b->qlabel = sp_alloc_array(env, (size_t) b->cap, sizeof(int32_t));
	b->values = sp_alloc_array(env, (size_t) b->cap * (size_t) (protos->ncls > 0 ? protos->ncls : 1),
							   sizeof(float));
	b->seq_item = sp_alloc_array(env, (size_t) b->cap, sizeof(int));
	b->seq_start = sp_alloc_array(env, (size_t) b->cap, sizeof(int));
	b->seq_len = sp_alloc_array(env, (size_t) b->cap, sizeof(int));
	for (int m = 0; m < nm; m++)
	{
		b->emb[m] = sp_alloc_array(env, (size_t) b->cap * (size_t) sp_nn_model_dim(models->model[m]),
								   sizeof(float));
		b->pred[m] = sp_alloc_array(env, (size_t) b->cap, sizeof(int32_t));
	}
	if (!b->frames || !b->self || !b->qlabel || !b->values || !b->seq_item || !b->seq_start ||
		!b->seq_len || !b->emb[0] || !b->pred[0] || (nm == 2 && (!b->emb[1] || !b->pred[1])))
	{
		pt_batch_free(env, b);
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory for the perturbation sequences of sample image %d",
							index);
	}
	for (int f = 0; f < b->cap; f++)
	{
		b->self[f] = index;
		b->qlabel[f] = label;
	}
	return SP_OK;
}

/*
 * Embed the batched frames with both models, predict every frame against
 * the gallery, and give each batched sequence its flip probability and
 * (labels) unnormalised top-5 distance, ranking classes by the model's
 * distance to each class prototype (L2, or cosine with NaN ranked last).
 * Each sequence is measured alone (m = 1) and the sums averaged later,
 * which is exactly the metrics' mean over sequences and allows sequences of
 * different lengths (a sample of mixed image sizes resolves to different
 * profiles under AUTO).
 */
static sp_status
pt_flush(const sp_env *env, const sp_re_models *models, const sp_re_gallery *gallery,
		 const sp_re_prototypes *protos, const sp_re_perturbation_params *p, int index, pt_batch *b,
		 sp_re_pcell *cells, sp_error *err)
{
	int			nm = models_count(models),
				nf = b->nf;
	sp_status	st = SP_OK;

	for (int m = 0; st == SP_OK && m < nm; m++)
	{
		st = embed_all(env, models, m, b->frames, nf, b->emb[m], err);
		if (st != SP_OK && st != SP_ERR_INTERRUPTED && st != SP_ERR_NOMEM)
		{
			char		where[160];

			snprintf(where, sizeof(where), "Embedding the perturbation sequences of sample image %d with the %s failed.",
					 index, role_name[m]);
			annotate(err, where);
		}
	}
	pt_batch_free_frames(env, b);
	for (int m = 0; st == SP_OK && m < nm; m++)
	{
		int			dim = sp_nn_model_dim(models->model[m]);
		sp_distance_kind kind = sp_nn_model_config(models->model[m])->distance;
		int64_t		wrong;

		st = gallery_measure(env, models, m, gallery, b->emb[m], b->self, gallery->labels ? b->qlabel : NULL,
							 nf, p->k, &wrong, b->pred[m], err);
		for (int f = 0; st == SP_OK && gallery->labels && f < nf; f++)
		{
			const float *e = b->emb[m] + (size_t) f * dim;

			for (int c = 0; c < protos->ncls; c++)
			{
				const float *pc = protos->proto[m] + (size_t) c * dim;

				b->values[(size_t) f * protos->ncls + c] = kind == SP_DISTANCE_L2 ?
					(float) sqrt(sp_dist_l2sq(e, pc, (size_t) dim)) :
					(float) sp_dist_rank(kind, e, pc, (size_t) dim);
			}
		}
		for (int q = 0; st == SP_OK && q < b->nseq; q++)
		{
			sp_re_pcell *cell = &cells[b->seq_item[q]];
			int			noise = sp_perturbation_get(p->perturbations[b->seq_item[q]])->noise;

			st = sp_rm_flip_probability(b->pred[m] + b->seq_start[q], 1, b->seq_len[q], noise,
										p->difficulty, &cell->fp[m], err);
			cell->ut5d[m] = NAN;
			if (st == SP_OK && gallery->labels)
				st = sp_rm_top5_distance(env, b->values + (size_t) b->seq_start[q] * protos->ncls, 1,
										 b->seq_len[q], protos->ncls, 0, noise, p->difficulty,
										 &cell->ut5d[m], err);
			if (st == SP_OK && nm == 1)
			{
				cell->fp[1] = cell->fp[0];
				cell->ut5d[1] = cell->ut5d[0];
			}
		}
	}
	b->nseq = 0;
	return st;
}

/* Generate request item i's sequence of the image into the batch (flushing first when it is full). */
static sp_status
pt_add_sequence(const sp_env *env, const sp_re_models *models, const sp_re_gallery *gallery,
				const sp_re_prototypes *protos, const sp_re_perturbation_params *p, const sp_image *image,
				int index, int i, pt_batch *b, sp_re_pcell *cells, sp_error *err)
{
	const sp_perturbation_info *info = sp_perturbation_get(p->perturbations[i]);
	sp_perturb_seq *seq = NULL;
	sp_status	st;
	char		where[160];
	int			len;

	st = sp_perturb_begin(env, image, info->name,
						  sp_re_item_seed(p->seed, index, 1000 + (int) info->id, p->difficulty),
						  p->profile, p->difficulty, &seq, err);
	if (st != SP_OK)
	{
		snprintf(where, sizeof(where), "Preparing the %s sequence of sample image %d failed.", info->name, index);
		annotate(err, where);
		return st;
	}
	len = sp_perturb_seq_length(seq);
	if (len < 1 || len > b->cap)
	{
		sp_perturb_end(seq);
		return sp_set_error(err, SP_ERR_INTERNAL, "perturbation sequence of %d frames exceeds the batch of %d",
							len, b->cap);
	}
	if (b->nf + len > b->cap)
	{
		st = pt_flush(env, models, gallery, protos, p, index, b, cells, err);
		if (st != SP_OK)
		{
			sp_perturb_end(seq);
			return st;
		}
	}
	b->seq_item[b->nseq] = i;
	b->seq_start[b->nseq] = b->nf;
	for (int f = 0; f < len; f++)
	{
		st = sp_perturb_seq_frame(seq, f, &b->frames[b->nf], err);
		if (st != SP_OK)
		{
			snprintf(where, sizeof(where), "Frame %d of the %s sequence of sample image %d failed.",
					 f, info->name, index);
			annotate(err, where);
			sp_perturb_end(seq);
			return st;
		}
		b->nf++;
	}
	b->seq_len[b->nseq++] = len;
	cells[i].frames = len;
	sp_perturb_end(seq);
	return SP_OK;
}

sp_status
sp_re_perturbation_image(const sp_env *env, const sp_re_models *models, const sp_image *image, int index,
						 const sp_re_gallery *gallery, const sp_re_prototypes *protos,
						 const sp_re_perturbation_params *params, sp_re_pcell *cells, sp_error *err)
{
	pt_batch	b;
	sp_status	st;

	st = validate_perturbation_params(params, err);
	if (st != SP_OK)
		return st;
	if (index < 0 || index >= gallery->n)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "sample index %d is out of range 0..%d", index,
							gallery->n - 1);
	if (gallery->labels && protos->ncls < 1)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "a labelled perturbation evaluation needs class prototypes");
	st = pt_batch_alloc(env, models, protos, params, index, gallery->labels ? gallery->labels[index] : 0, &b, err);
	for (int i = 0; st == SP_OK && i < params->nperturbations; i++)
		st = sp_env_interrupted(env) ? interrupted(err) :
			pt_add_sequence(env, models, gallery, protos, params, image, index, i, &b, cells, err);
	if (st == SP_OK && b.nf > 0)
		st = pt_flush(env, models, gallery, protos, params, index, &b, cells, err);
	pt_batch_free(env, &b);
	return st;
}

void
sp_re_perturbation_acc_init(sp_re_perturbation_acc *acc)
{
	memset(acc, 0, sizeof(*acc));
}

void
sp_re_perturbation_acc_add(sp_re_perturbation_acc *acc, const sp_re_perturbation_params *params,
						   const sp_re_pcell *cells)
{
	for (int i = 0; i < params->nperturbations; i++)
	{
		for (int m = 0; m < 2; m++)
		{
			acc->fp_sum[m][i] += cells[i].fp[m];
			acc->t5d_sum[m][i] += cells[i].ut5d[m];
		}
		if (acc->frames[i] == 0)
			acc->frames[i] = cells[i].frames;
	}
	acc->n++;
}

sp_status
sp_re_perturbation_finish(const sp_re_perturbation_params *params, const sp_re_perturbation_acc *acc,
						  int n, int labelled, sp_re_perturbation_result *out, sp_error *err)
{
	double		fp[2][SP_RE_MAX_PERTURBATIONS],
				u[2][SP_RE_MAX_PERTURBATIONS];
	int			flags = 0;
	sp_status	st;

	perturbation_result_init(out, n);
	st = validate_perturbation_params(params, err);
	if (st != SP_OK)
		return st;
	if (acc->n != n || n < 1)
		return sp_set_error(err, SP_ERR_INTERNAL, "%d of %d sample images were evaluated", acc->n, n);
	for (int i = 0; st == SP_OK && i < params->nperturbations; i++)
	{
		sp_re_perturbation_score *sc = &out->scores[i];
		const sp_perturbation_info *info = sp_perturbation_get(params->perturbations[i]);

		sc->perturbation = (int) info->id;
		sc->noise = info->noise;
		sc->frames = acc->frames[i];
		for (int m = 0; m < 2; m++)
		{
			sc->fp[m] = acc->fp_sum[m][i] / n;
			sc->ut5d[m] = labelled ? acc->t5d_sum[m][i] / n : NAN;
			fp[m][i] = sc->fp[m];
			u[m][i] = sc->ut5d[m];
		}
		st = sp_rm_ratio(sc->fp[0], sc->fp[1], &sc->fr, &sc->fr_flags, err);
		if (st == SP_OK && labelled)
			st = sp_rm_ratio(sc->ut5d[0], sc->ut5d[1], &sc->t5d, &sc->t5d_flags, err);
		else
		{
			/* no classes, no ranking: T5D does not exist in the label-free variant */
			sc->t5d = NAN;
			sc->t5d_flags = SP_RM_UNDEFINED;
		}
		out->nscores = i + 1;
	}
	if (st == SP_OK)
		st = sp_rm_mean_ratio(fp[0], fp[1], out->nscores, &out->mfr, &flags, &out->n_undefined_fr, err);
	if (st == SP_OK && labelled)
		st = sp_rm_mean_ratio(u[0], u[1], out->nscores, &out->mt5d, &flags, &out->n_undefined_t5d, err);
	else if (st == SP_OK)
	{
		out->mt5d = NAN;
		out->n_undefined_t5d = out->nscores;
	}
	if (st != SP_OK)
		perturbation_result_init(out, 0);
	return st;
}

/*
 * The whole run, built from the per-image steps exactly as a distributed
 * report composes them (clean embeddings one image at a time, prototypes,
 * every image's sequences, sums in sample order), so both give the same
 * numbers.
 */
sp_status
sp_re_perturbation_run(const sp_env *env, const sp_re_sample *sample, const sp_re_models *models,
					   const sp_re_perturbation_params *params, sp_re_progress_fn progress_fn,
					   void *progress_arg, sp_re_perturbation_result *out, sp_error *err)
{
	re_ctx		cx;
	sp_re_gallery gallery;
	sp_re_prototypes protos;
	sp_re_pcell *cells = NULL;
	sp_re_perturbation_acc *acc = NULL;
	sp_status	st;

	if (err)
		sp_error_clear(err);
	if (!out)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "perturbation result pointer is NULL");
	perturbation_result_init(out, 0);
	memset(&protos, 0, sizeof(protos));
	st = validate_perturbation_params(params, err);
	if (st != SP_OK)
		return st;
	st = validate_common(env, sample, models, params->k, params->profile, &cx, err);
	if (st != SP_OK)
		return st;
	progress_init(&cx, progress_fn, progress_arg);

	st = ctx_alloc(&cx, err);
	if (st == SP_OK)
	{
		cells = sp_alloc_array(env, (size_t) params->nperturbations, sizeof(sp_re_pcell));
		acc = sp_alloc_array(env, 1, sizeof(sp_re_perturbation_acc));
		if (!cells || !acc)
			st = sp_set_error(err, SP_ERR_NOMEM, "out of memory for the perturbation evaluation of %d images",
							  sample->n);
		else
			sp_re_perturbation_acc_init(acc);
	}
	if (st == SP_OK)
		st = clean_gallery(&cx, &gallery, err);
	if (st == SP_OK)
		st = sp_re_prototypes_build(env, models, &gallery, &protos, err);

	for (int i = 0; st == SP_OK && i < sample->n; i++)
	{
		progress_images(&cx, "perturbed", i);
		st = sp_re_perturbation_image(env, models, &sample->images[i], i, &gallery, &protos, params, cells, err);
		if (st == SP_OK)
			sp_re_perturbation_acc_add(acc, params, cells);
	}
	if (st == SP_OK)
		st = sp_re_perturbation_finish(params, acc, sample->n, sample->labels != NULL, out, err);

	sp_re_prototypes_free(env, &protos);
	sp_free(env, cells);
	sp_free(env, acc);
	ctx_free(&cx);
	if (st != SP_OK)
		perturbation_result_init(out, 0);
	return st;
}
