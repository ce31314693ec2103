/*
 * test_nn_fit.c: the training loop (sp_nn_fit, nn/train_fit.c) on a small
 * synthetic task: 4 classes of 8 x 8 grey images, each class a bright
 * quadrant plus noise.  The loss falls, the embeddings separate the
 * classes, the same seed gives the same weights (also when the cache is
 * read through a fetch callback), a pending interrupt or a read error stops
 * it at a step, and bad settings are refused.  The hybrid loss (batch-all
 * plus weighted CosFace) trains the network and its class proxies together.
 */
#include "unit.h"
#include "nn/nn_train.h"
#include "util/rng.h"
#include "vector/distance.h"

#include <stdlib.h>
#include <string.h>

static const char *fit_cfg =
"{\"name\":\"fit\",\"format_version\":1,"
"\"input\":{\"channels\":1,\"height\":8,\"width\":8,\"mean\":[0.5],\"std\":[0.25],\"scale\":255},"
"\"layers\":[{\"type\":\"flatten\"},"
"{\"type\":\"linear\",\"name\":\"fc1\",\"in\":64,\"out\":32},{\"type\":\"relu\"},"
"{\"type\":\"linear\",\"name\":\"fc2\",\"in\":32,\"out\":8},{\"type\":\"l2norm\"}],"
"\"embedding_dim\":8,\"distance\":\"cosine\"}";

#define N_PER 24
#define NC 4

typedef struct fit_set
{
	uint8_t		pixels[NC * N_PER * 64];
	int			lists[NC][N_PER];
	int		   *cls[NC];
	int			ncls[NC];
	sp_preprocess_spec in;
	sp_fit_data data;
} fit_set;

static void
make_set(fit_set *s, sp_nn_config *cfg)
{
	sp_rng		r;

	sp_rng_seed(&r, 11, 0);
	for (int c = 0; c < NC; c++)
		for (int i = 0; i < N_PER; i++)
		{
			int			idx = c * N_PER + i;
			uint8_t    *p = s->pixels + idx * 64;

			for (int y = 0; y < 8; y++)
				for (int x = 0; x < 8; x++)
				{
					bool		lit = (y < 4) == (c < 2) && (x < 4) == (c % 2 == 0);
					double		v = (lit ? 200 : 40) + 30 * sp_rng_normal(&r);

					p[y * 8 + x] = (uint8_t) (v < 0 ? 0 : v > 255 ? 255 : v);
				}
			s->lists[c][i] = idx;
		}
	for (int c = 0; c < NC; c++)
	{
		s->cls[c] = s->lists[c];
		s->ncls[c] = N_PER;
	}
	s->in = cfg->input;
	s->data = (sp_fit_data) {.c = 1, .h = 8, .w = 8, .pixels = s->pixels, .n_classes = NC,
	.cls = s->cls, .ncls = s->ncls, .input = &s->in};
}

/* The cache read through sp_fit_data.fetch, as from a file: the same bytes, or a read error. */
static int	fetch_calls;
static bool fetch_fails;
static sp_status
fetch_pixels(void *arg, int i, uint8_t *dst, sp_error *err)
{
	const fit_set *s = arg;

	fetch_calls++;
	if (fetch_fails)
		return sp_set_error(err, SP_ERR_IO, "could not read image %d", i);
	memcpy(dst, s->pixels + (size_t) i * 64, 64);
	return SP_OK;
}

static int	interrupt_now;
static int
interrupt_poll(void *user)
{
	(void) user;
	return interrupt_now;
}

SP_TEST(nn_fit_learns_and_is_reproducible)
{
	const sp_env *env = sp_env_default();
	sp_nn_config *cfg;
	sp_error	err;
	fit_set    *set = malloc(sizeof(fit_set));
	sp_fit_opts o = {.epochs = 6, .P = 4, .K = 6, .lr = 0.01, .wd = 1e-4, .margin = 0.2,
	.loss = SP_FIT_BATCH_HARD, .seed = 5, .flip = false, .shift = 1};
	double		loss[6];
	uint8_t    *w[2] = {NULL, NULL};
	size_t		wl[2] = {0, 0};

	REQUIRE(sp_nn_config_parse(env, fit_cfg, strlen(fit_cfg), &cfg, &err) == SP_OK);
	for (int run = 0; run < 2; run++)
	{
		sp_nn_trainer *tr;
		sp_fit_result res = {.epoch_loss = loss};
		char	   *cj;
		size_t		cl;

		make_set(set, cfg);
		if (run == 1)
		{
			/* the second run reads the cache through fetch: the same weights, bit for bit */
			set->data.pixels = NULL;
			set->data.fetch = fetch_pixels;
			set->data.fetch_arg = set;
			fetch_calls = 0;
		}
		REQUIRE(sp_nn_trainer_create(env, cfg, o.P * o.K, o.seed, SP_NN_INIT_HE, 1, &tr, &err) == SP_OK);
		REQUIRE(sp_nn_fit(env, tr, &set->data, &o, NULL, NULL, &res, &err) == SP_OK);
		if (run == 1)
			CHECK_EQ_INT(fetch_calls, 6 * 4 * 4 * 6);	/* epochs x steps x P x K */
		CHECK_EQ_INT(res.steps_per_epoch, 4);	/* 24 images / K 6, 4 classes / P 4 */
		CHECK_MSG(loss[5] < 0.5 * loss[0], "loss %g -> %g", loss[0], loss[5]);
		REQUIRE(sp_nn_trainer_export(tr, NULL, NULL, 0, &cj, &cl, &w[run], &wl[run], &err) == SP_OK);
		if (run == 0)
		{
			/* the embeddings put each image nearest to its own class */
			sp_nn_model *m;
			sp_nn_workspace *ws;
			float		in[64],
						emb[NC * N_PER * 8];
			int			hits = 0;

			REQUIRE(sp_nn_model_load(env, cj, cl, w[0], wl[0], &m, &err) == SP_OK);
			REQUIRE(sp_nn_workspace_create(env, m, 1, &ws, &err) == SP_OK);
			for (int i = 0; i < NC * N_PER; i++)
			{
				for (int k = 0; k < 64; k++)
					in[k] = ((float) set->pixels[i * 64 + k] / 255.0f - 0.5f) / 0.25f;
				REQUIRE(sp_nn_forward(m, ws, in, 1, emb + i * 8, &err) == SP_OK);
			}
			for (int i = 0; i < NC * N_PER; i++)
			{
				double		best = 1e30;
				int			bj = -1;

				for (int j = 0; j < NC * N_PER; j++)
					if (j != i && sp_dist(SP_DISTANCE_COSINE, emb + i * 8, emb + j * 8, 8) < best)
					{
						best = sp_dist(SP_DISTANCE_COSINE, emb + i * 8, emb + j * 8, 8);
						bj = j;
					}
				hits += bj / N_PER == i / N_PER;
			}
			CHECK_MSG(hits >= NC * N_PER * 9 / 10, "1-NN hits %d of %d", hits, NC * N_PER);
			sp_nn_workspace_free(env, ws);
			sp_nn_model_free(env, m);
		}
		sp_free(env, cj);
		sp_nn_trainer_free(tr);
	}
	CHECK(wl[0] == wl[1] && memcmp(w[0], w[1], wl[0]) == 0);
	sp_free(env, w[0]);
	sp_free(env, w[1]);
	sp_nn_config_free(env, cfg);
	free(set);
}

SP_TEST(nn_fit_interrupt_and_refusals)
{
	sp_env		env = *sp_env_default();
	sp_nn_config *cfg;
	sp_nn_trainer *tr;
	sp_error	err;
	fit_set    *set = malloc(sizeof(fit_set));
	sp_fit_opts o = {.epochs = 3, .P = 4, .K = 4, .lr = 0.01, .margin = 0.2, .loss = SP_FIT_BATCH_ALL, .seed = 1};
	sp_fit_loss l;

	env.interrupted = interrupt_poll;
	REQUIRE(sp_nn_config_parse(&env, fit_cfg, strlen(fit_cfg), &cfg, &err) == SP_OK);
	make_set(set, cfg);
	REQUIRE(sp_nn_trainer_create(&env, cfg, 16, 1, SP_NN_INIT_HE, 1, &tr, &err) == SP_OK);
	interrupt_now = 1;
	CHECK(sp_nn_fit(&env, tr, &set->data, &o, NULL, NULL, NULL, &err) == SP_ERR_INTERRUPTED);
	interrupt_now = 0;
	set->data.n_classes = 1;
	CHECK(sp_nn_fit(&env, tr, &set->data, &o, NULL, NULL, NULL, &err) == SP_ERR_INVALID_ARG);
	set->data.n_classes = NC;
	/* a cache that cannot be read stops training with its error */
	set->data.pixels = NULL;
	CHECK(sp_nn_fit(&env, tr, &set->data, &o, NULL, NULL, NULL, &err) == SP_ERR_INVALID_ARG);	/* no fetch either */
	set->data.fetch = fetch_pixels;
	set->data.fetch_arg = set;
	fetch_fails = true;
	CHECK(sp_nn_fit(&env, tr, &set->data, &o, NULL, NULL, NULL, &err) == SP_ERR_IO);
	CHECK(strstr(err.message, "could not read image") != NULL);
	fetch_fails = false;
	set->data.pixels = set->pixels;
	o.loss = SP_FIT_SOFTMAX;	/* needs a head */
	CHECK(sp_nn_fit(&env, tr, &set->data, &o, NULL, NULL, NULL, &err) == SP_ERR_INVALID_ARG);
	CHECK(sp_fit_loss_parse("batch_hard", &l) && l == SP_FIT_BATCH_HARD);
	CHECK(!sp_fit_loss_parse("arcface", &l));
	CHECK(strcmp(sp_fit_loss_name(SP_FIT_CONTRASTIVE), "contrastive") == 0);
	CHECK(sp_fit_loss_parse("batch_all_cosface", &l) && l == SP_FIT_BATCH_ALL_COSFACE && sp_fit_loss_has_head(l));
	o.loss = SP_FIT_BATCH_ALL_COSFACE;	/* so does the hybrid */
	CHECK(sp_nn_fit(&env, tr, &set->data, &o, NULL, NULL, NULL, &err) == SP_ERR_INVALID_ARG);
	sp_nn_trainer_free(tr);
	sp_nn_config_free(&env, cfg);
	free(set);
}

/*
 * batch_all_cosface: the triplet part separates the classes (1-NN), the
 * CosFace part moves the proxies from their random start to the classes
 * (every image's nearest proxy is its own class), and the loss falls.
 */
SP_TEST(nn_fit_hybrid_loss_trains_network_and_proxies)
{
	const sp_env *env = sp_env_default();
	sp_nn_config *cfg;
	sp_nn_trainer *tr;
	sp_error	err;
	fit_set    *set = malloc(sizeof(fit_set));
	sp_fit_opts o = {.epochs = 6, .P = 4, .K = 6, .lr = 0.01, .wd = 1e-4, .margin = 0.2,
	.softmax_scale = SP_FIT_HEAD_SCALE, .loss = SP_FIT_BATCH_ALL_COSFACE, .seed = 3};
	float		head[NC * 8],
				start[NC * 8];
	double		loss[6];
	sp_fit_result res = {.epoch_loss = loss, .head = head};
	float		emb[NC * N_PER * 8];
	int			own_proxy = 0;

	REQUIRE(sp_nn_config_parse(env, fit_cfg, strlen(fit_cfg), &cfg, &err) == SP_OK);
	make_set(set, cfg);
	sp_fit_head_init(head, NC, 8, o.seed);
	memcpy(start, head, sizeof head);
	REQUIRE(sp_nn_trainer_create(env, cfg, o.P * o.K, o.seed, SP_NN_INIT_HE, 1, &tr, &err) == SP_OK);
	REQUIRE(sp_nn_fit(env, tr, &set->data, &o, NULL, NULL, &res, &err) == SP_OK);
	CHECK_MSG(loss[5] < 0.5 * loss[0], "loss %g -> %g", loss[0], loss[5]);
	CHECK(memcmp(head, start, sizeof head) != 0);
	for (int i = 0; i < NC * N_PER; i++)
	{
		float		in[64];

		for (int k = 0; k < 64; k++)
			in[k] = ((float) set->pixels[i * 64 + k] / 255.0f - 0.5f) / 0.25f;
		REQUIRE(sp_nn_trainer_forward(tr, in, 1, false, emb + i * 8, &err) == SP_OK);
	}
	for (int i = 0; i < NC * N_PER; i++)
	{
		int			best = 0;

		for (int c = 1; c < NC; c++)
			if (sp_dist(SP_DISTANCE_COSINE, emb + i * 8, head + c * 8, 8) <
				sp_dist(SP_DISTANCE_COSINE, emb + i * 8, head + best * 8, 8))
				best = c;
		own_proxy += best == i / N_PER;
	}
	CHECK_MSG(own_proxy >= NC * N_PER * 9 / 10, "nearest proxy is the own class for %d of %d", own_proxy,
			  NC * N_PER);
	sp_nn_trainer_free(tr);
	sp_nn_config_free(env, cfg);
	free(set);
}
