/*
 * test_nn_head.c: a projection head on a frozen model (docs/training.md):
 * the head's configs (sp_nn_head_config), a head trained on float features
 * (sp_fit_data.floats), and the composed model (sp_nn_compose_head), which
 * must embed exactly like the head applied to the base model's embedding,
 * on a layer-list base and on an imported ONNX graph.
 */
#include "unit.h"
#include "test_nn_util.h"
#include "nn/nn_train.h"
#include "util/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

SP_TEST(nn_head_config_layouts)
{
	char		buf[4096];
	sp_nn_config *cfg;
	sp_error	err;
	static const int dims[] = {16, 128, 768, 1024, 1280, 2048, 4096};

	for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
		for (int h = 0; h < 2; h++)
		{
			REQUIRE(sp_nn_head_config(h ? "mlp" : "linear", dims[i], 64, "head", buf, sizeof buf));
			REQUIRE(sp_nn_config_parse(sp_env_default(), buf, strlen(buf), &cfg, &err) == SP_OK);
			CHECK_EQ_INT(cfg->input.channels * cfg->input.height * cfg->input.width, dims[i]);
			CHECK_EQ_INT(cfg->embedding_dim, 64);
			CHECK_EQ_INT(cfg->n_layers, h ? 5 : 3);
			CHECK_EQ_INT(cfg->distance, SP_DISTANCE_COSINE);
			sp_nn_config_free(sp_env_default(), cfg);
		}
	/* a prime above the side limit has no grid; unknown heads and sizes are refused */
	CHECK(!sp_nn_head_config("mlp", 1031, 64, "head", buf, sizeof buf));
	CHECK(!sp_nn_head_config("transformer", 128, 64, "head", buf, sizeof buf));
	CHECK(!sp_nn_head_config("mlp", 0, 64, "head", buf, sizeof buf));
	CHECK(!sp_nn_head_config("mlp", 128, 64, "head", buf, 20));
}

/* head's embedding of features x (in_dim floats) through its own model. */
static void
head_forward(int *sp_failed__, sp_nn_model *head, const float *x, float *out)
{
	sp_nn_workspace *ws;
	sp_error	err;

	REQUIRE(sp_nn_workspace_create(sp_env_default(), head, 1, &ws, &err) == SP_OK);
	REQUIRE(sp_nn_forward(head, ws, x, 1, out, &err) == SP_OK);
	sp_nn_workspace_free(sp_env_default(), ws);
}

/*
 * Compose base (config, weights) with a random mlp head to 24 values; the
 * composed model on 3 random inputs equals head(base(input)) to 1e-5.
 */
static void
check_composed(int *sp_failed__, const char *base_cfg, size_t base_len, const uint8_t *base_w, size_t base_wlen)
{
	const sp_env *env = sp_env_default();
	sp_nn_model *base,
			   *head,
			   *comp;
	sp_nn_workspace *bws,
			   *cws;
	sp_error	err;
	char		hbuf[4096];
	char	   *cc;
	size_t		ccl,
				cwl,
				hwl;
	uint8_t    *cw,
			   *hw;
	int			in_size,
				dim;
	uint64_t	s = 42;
	double		worst = 0;
	float	   *fmean,
			   *fstd;

	REQUIRE(sp_nn_model_load(env, base_cfg, base_len, base_w, base_wlen, &base, &err) == SP_OK);
	dim = sp_nn_model_dim(base);
	in_size = (int) sp_nn_model_input_size(base);
	REQUIRE(sp_nn_head_config("mlp", dim, 24, "composed", hbuf, sizeof hbuf));
	head = tu_make_model(hbuf, 9, 0, &hw, &hwl);
	REQUIRE(head != NULL);
	/* features standardised by made-up statistics on the way into the head */
	fmean = malloc(sizeof(float) * dim);
	fstd = malloc(sizeof(float) * dim);
	tu_fill(&s, fmean, dim, -0.5f, 0.5f);
	tu_fill(&s, fstd, dim, 0.5f, 2.0f);
	REQUIRE(sp_nn_compose_head(env, base_cfg, base_len, base_w, base_wlen, hbuf, strlen(hbuf), hw, hwl, fmean, fstd,
							   "composed", "{\"format\":\"head\"}", &cc, &ccl, &cw, &cwl, &err) == SP_OK);
	REQUIRE(sp_nn_model_load(env, cc, ccl, cw, cwl, &comp, &err) == SP_OK);
	CHECK_EQ_INT(sp_nn_model_dim(comp), 24);
	CHECK_EQ_INT(sp_nn_model_config(comp)->format_version, 2);
	CHECK(strstr(cc, "\"source\":{\"format\":\"head\"}") != NULL);
	REQUIRE(sp_nn_workspace_create(env, base, 1, &bws, &err) == SP_OK);
	REQUIRE(sp_nn_workspace_create(env, comp, 1, &cws, &err) == SP_OK);
	for (int k = 0; k < 3; k++)
	{
		float	   *x = malloc(sizeof(float) * in_size),
				   *f = malloc(sizeof(float) * dim),
					want[24],
					got[24];

		tu_fill(&s, x, in_size, -1.5f, 1.5f);
		REQUIRE(sp_nn_forward(base, bws, x, 1, f, &err) == SP_OK);
		for (int i = 0; i < dim; i++)
			f[i] = (f[i] - fmean[i]) / fstd[i];
		head_forward(sp_failed__, head, f, want);
		REQUIRE(sp_nn_forward(comp, cws, x, 1, got, &err) == SP_OK);
		for (int i = 0; i < 24; i++)
			worst = fmax(worst, fabs((double) got[i] - want[i]));
		free(x);
		free(f);
	}
	CHECK_MSG(worst < 1e-5, "composed model differs from head(base) by %g", worst);
	sp_free(env, cc);
	sp_free(env, cw);
	/* a head that does not read the base's embedding is refused */
	REQUIRE(sp_nn_head_config("mlp", dim * 2, 24, "composed", hbuf, sizeof hbuf));
	CHECK(sp_nn_compose_head(env, base_cfg, base_len, base_w, base_wlen, hbuf, strlen(hbuf), hw, hwl, NULL, NULL,
							 "composed", NULL, &cc, &ccl, &cw, &cwl, &err) == SP_ERR_INVALID_ARG);
	CHECK_MSG(strstr(err.message, "reading the base model's") != NULL, "%s", err.message);
	sp_nn_workspace_free(env, bws);
	sp_nn_workspace_free(env, cws);
	sp_nn_model_free(env, base);
	sp_nn_model_free(env, head);
	sp_nn_model_free(env, comp);
	free(hw);
	free(fmean);
	free(fstd);
}

SP_TEST(nn_head_composed_on_layer_list)
{
	uint8_t    *w;
	size_t		wl;
	sp_nn_model *m = tu_make_model(tu_ref_cnn_config, 3, 0, &w, &wl);

	REQUIRE(m != NULL);
	sp_nn_model_free(sp_env_default(), m);
	check_composed(sp_failed__, tu_ref_cnn_config, strlen(tu_ref_cnn_config), w, wl);
	free(w);
}

SP_TEST(nn_head_composed_on_onnx_graph)
{
	static const char *imp = "{\"input\": {\"channels\": 3, \"height\": 32, \"width\": 32}, \"normalize\": true}";
	size_t		len,
				cl,
				wl;
	uint8_t    *onnx = tu_read_file("test/fixtures/onnx/tiny_net.onnx", &len);
	char	   *cfg;
	uint8_t    *w;
	sp_error	err;

	REQUIRE(onnx != NULL);
	REQUIRE(sp_nn_model_from_onnx(sp_env_default(), onnx, len, imp, strlen(imp), &cfg, &cl, &w, &wl, &err) == SP_OK);
	check_composed(sp_failed__, cfg, cl, w, wl);
	sp_free(sp_env_default(), cfg);
	sp_free(sp_env_default(), w);
	free(onnx);
}

/*
 * A linear head trained on float features: 3 classes of 48-value features,
 * each a class direction plus noise; loss falls and the same seed gives the
 * same weights, in memory and through fetch.
 */
#define HF_D 48
#define HF_N 30
#define HF_C 3
static float hf_feat[HF_C * HF_N * HF_D];

static sp_status
hf_fetch(void *arg, int i, uint8_t *dst, sp_error *err)
{
	(void) arg;
	(void) err;
	memcpy(dst, hf_feat + (size_t) i * HF_D, sizeof(float) * HF_D);
	return SP_OK;
}

SP_TEST(nn_head_trains_on_float_features)
{
	const sp_env *env = sp_env_default();
	char		buf[4096];
	sp_nn_config *cfg;
	sp_error	err;
	sp_rng		r;
	int			lists[HF_C][HF_N],
			   *cls[HF_C],
				ncls[HF_C];
	uint8_t    *w[2];
	size_t		wl[2];
	sp_fit_opts o = {.epochs = 8, .P = 3, .K = 6, .lr = 0.01, .wd = 1e-4, .margin = 0.2,
	.loss = SP_FIT_BATCH_ALL, .seed = 4, .flip = true, .shift = 2, .cutout = true};

	sp_rng_seed(&r, 3, 0);
	for (int c = 0; c < HF_C; c++)
		for (int i = 0; i < HF_N; i++)
			for (int d = 0; d < HF_D; d++)
				hf_feat[((size_t) c * HF_N + i) * HF_D + d] = (float) ((d % HF_C == c ? 1.0 : 0.0) + 0.6 * sp_rng_normal(&r));
	REQUIRE(sp_nn_head_config("linear", HF_D, 8, "h", buf, sizeof buf));
	REQUIRE(sp_nn_config_parse(env, buf, strlen(buf), &cfg, &err) == SP_OK);
	for (int run = 0; run < 2; run++)
	{
		sp_nn_trainer *tr;
		double		loss[8];
		sp_fit_result res = {.epoch_loss = loss};
		sp_fit_data d = {.c = cfg->input.channels, .h = cfg->input.height, .w = cfg->input.width,
			.pixels = run == 0 ? (const uint8_t *) hf_feat : NULL, .fetch = hf_fetch, .n_classes = HF_C,
		.cls = cls, .ncls = ncls, .input = &cfg->input, .floats = true};
		char	   *cj;
		size_t		cl;

		CHECK_EQ_INT(sp_fit_record_bytes(&d), HF_D * sizeof(float));
		for (int c = 0; c < HF_C; c++)
		{
			for (int i = 0; i < HF_N; i++)
				lists[c][i] = c * HF_N + i;
			cls[c] = lists[c];
			ncls[c] = HF_N;
		}
		REQUIRE(sp_nn_trainer_create(env, cfg, o.P * o.K, o.seed, SP_NN_INIT_HE, 1, &tr, &err) == SP_OK);
		REQUIRE(sp_nn_fit(env, tr, &d, &o, NULL, NULL, &res, &err) == SP_OK);
		CHECK_MSG(loss[7] < 0.5 * loss[0], "loss %g -> %g", loss[0], loss[7]);
		REQUIRE(sp_nn_trainer_export(tr, NULL, NULL, 0, &cj, &cl, &w[run], &wl[run], &err) == SP_OK);
		/* the record as network input is the features themselves (augmentation ignored) */
		{
			float		in[HF_D];

			sp_fit_pixel_input(&d, (const uint8_t *) (hf_feat + HF_D), in);
			CHECK(memcmp(in, hf_feat + HF_D, sizeof in) == 0);
		}
		sp_free(env, cj);
		sp_nn_trainer_free(tr);
	}
	CHECK(wl[0] == wl[1] && memcmp(w[0], w[1], wl[0]) == 0);
	/* the statistics: value 0 never varies (its std is the floor), value 1 is 1 or 3 */
	{
		float		rec[4][HF_D],
					mean[HF_D],
					sd[HF_D];
		int			l0[2] = {0, 1},
					l1[2] = {2, 3},
				   *c2[2] = {l0, l1},
					n2[2] = {2, 2};
		sp_fit_data d = {.c = 1, .h = 1, .w = HF_D, .pixels = (const uint8_t *) rec, .n_classes = 2, .cls = c2,
		.ncls = n2, .floats = true};

		for (int i = 0; i < 4; i++)
			for (int k = 0; k < HF_D; k++)
				rec[i][k] = k == 0 ? 1000.0f : k == 1 ? (i % 2 ? 3.0f : 1.0f) : (float) (i * k);
		REQUIRE(sp_fit_feature_stats(env, &d, mean, sd, &err) == SP_OK);
		CHECK_NEAR(mean[0], 1000.0, 1e-9);
		CHECK_MSG(sd[0] > 0 && sd[0] < 1e-2, "std of a constant %g", sd[0]);
		CHECK_NEAR(mean[1], 2.0, 1e-9);
		CHECK_NEAR(sd[1], 1.0, 1e-6);
		CHECK_NEAR(mean[5], 7.5, 1e-6);		/* 0, 5, 10, 15 */
		CHECK_NEAR(sd[5], sqrt(31.25), 1e-5);
	}
	sp_free(env, w[0]);
	sp_free(env, w[1]);
	sp_nn_config_free(env, cfg);
}
