/*
 * test_nn_grad.c: gradient checks of the training backward pass against
 * central finite differences (every parameter of tiny networks covering
 * every layer type, batch norm in training and eval mode) and of every
 * loss; trainer export == inference forward; determinism; optimisers.
 */
#include "unit.h"
#include "test_nn_util.h"
#include "nn/nn_train.h"

#include <stdlib.h>

#define TINY_HEAD(c, h, w) "{\"name\":\"tiny\",\"format_version\":1,\"input\":{\"channels\":" #c ",\"height\":" #h ",\"width\":" #w "},"

static const char *net1 = TINY_HEAD(3, 6, 6) "\"layers\":["
"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":3,\"out\":3,\"kernel\":3,\"stride\":1,\"padding\":1},"
"{\"type\":\"relu\"},{\"type\":\"maxpool\",\"kernel\":2},{\"type\":\"flatten\"},"
"{\"type\":\"linear\",\"name\":\"fc\",\"in\":27,\"out\":4}],\"embedding_dim\":4}";

static const char *net2 = TINY_HEAD(3, 6, 6) "\"layers\":["
"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":3,\"out\":3,\"kernel\":3,\"stride\":2,\"padding\":2},"
"{\"type\":\"avgpool\",\"kernel\":2,\"stride\":1},{\"type\":\"flatten\"},"
"{\"type\":\"linear\",\"name\":\"fc\",\"in\":27,\"out\":5},{\"type\":\"l2norm\"}],\"embedding_dim\":5}";

static const char *net3 = TINY_HEAD(1, 6, 6) "\"layers\":["
"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":3,\"kernel\":3,\"padding\":1,\"bias\":false},"
"{\"type\":\"batchnorm\",\"name\":\"bn1\"},{\"type\":\"relu\"},"
"{\"type\":\"maxpool\",\"kernel\":3,\"stride\":2,\"padding\":1},{\"type\":\"flatten\"},"
"{\"type\":\"linear\",\"name\":\"fc1\",\"in\":27,\"out\":6},{\"type\":\"batchnorm\",\"name\":\"bn2\"},"
"{\"type\":\"relu\"},{\"type\":\"linear\",\"name\":\"fc2\",\"in\":6,\"out\":4}],\"embedding_dim\":4}";

static const char *net4 = TINY_HEAD(3, 5, 5) "\"layers\":["
"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":3,\"out\":2,\"kernel\":1},"
"{\"type\":\"avgpool\",\"kernel\":3,\"stride\":2,\"padding\":1},"
"{\"type\":\"conv2d\",\"name\":\"c2\",\"in\":2,\"out\":3,\"kernel\":2,\"stride\":1},{\"type\":\"relu\"},"
"{\"type\":\"flatten\"},{\"type\":\"linear\",\"name\":\"fc\",\"in\":12,\"out\":3},{\"type\":\"l2norm\"}],\"embedding_dim\":3}";

/* no flatten: the conv output is the embedding (CBHW -> rows at the end) */
static const char *net5 = TINY_HEAD(1, 4, 4) "\"layers\":["
"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":2,\"kernel\":3,\"stride\":1},"
"{\"type\":\"batchnorm\",\"name\":\"bn\"},{\"type\":\"relu\"}],\"embedding_dim\":8}";

/*
 * residual connections: a skip around conv + BN (train mode: batch
 * statistics), another around a linear layer after flatten (no ReLU right
 * after a batch norm of 4 images, whose kinks would swamp the check)
 */
static const char *net6 = TINY_HEAD(1, 5, 5) "\"layers\":["
"{\"type\":\"conv2d\",\"name\":\"c0\",\"in\":1,\"out\":2,\"kernel\":3,\"padding\":1},"
"{\"type\":\"skip\"},"
"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":2,\"out\":2,\"kernel\":3,\"padding\":1,\"bias\":false},"
"{\"type\":\"batchnorm\",\"name\":\"bn1\"},{\"type\":\"add\"},"
"{\"type\":\"avgpool\",\"kernel\":2,\"stride\":1},{\"type\":\"flatten\"},"
"{\"type\":\"linear\",\"name\":\"fc1\",\"in\":32,\"out\":8},{\"type\":\"skip\"},"
"{\"type\":\"linear\",\"name\":\"fc2\",\"in\":8,\"out\":8},{\"type\":\"add\"},{\"type\":\"l2norm\"}],"
"\"embedding_dim\":8}";

static sp_nn_trainer *
make_trainer(const char *txt, int max_batch, uint64_t seed)
{
	sp_nn_config *cfg;
	sp_nn_trainer *tr = NULL;
	sp_error	err;

	if (sp_nn_config_parse(sp_env_default(), txt, strlen(txt), &cfg, &err) != SP_OK)
	{
		fprintf(stderr, "%s\n", err.message);
		return NULL;
	}
	if (sp_nn_trainer_create(sp_env_default(), cfg, max_batch, seed, SP_NN_INIT_TORCH, 1, &tr, &err) != SP_OK)
		fprintf(stderr, "%s\n", err.message);
	sp_nn_config_free(sp_env_default(), cfg);
	return tr;
}

static double
proj_loss(sp_nn_trainer *tr, const float *in, int B, bool training, const float *r, int dim)
{
	float		out[64];
	sp_error	err;
	double		s = 0;

	if (sp_nn_trainer_forward(tr, in, B, training, out, &err) != SP_OK)
		return NAN;
	for (int i = 0; i < B * dim; i++)
		s += (double) r[i] * out[i];
	return s;
}

/* Check every trainable parameter; returns the number of mismatches. */
static int
grad_check_net(const char *txt, bool training, uint64_t seed, int *checked, int *kinks)
{
	const int	B = 4;
	sp_nn_trainer *tr = make_trainer(txt, B, seed);
	sp_nn_param *ps;
	int			np,
				bad = 0,
				dim;
	float	   *in,
				r[64],
				out[64];
	size_t		isz;
	uint64_t	s = seed * 7 + 1;
	sp_error	err;
	const float h = 1e-3f;

	if (!tr)
		return 1000;
	dim = sp_nn_trainer_config(tr)->embedding_dim;
	isz = (size_t) sp_nn_trainer_config(tr)->input.channels * sp_nn_trainer_config(tr)->input.height *
		sp_nn_trainer_config(tr)->input.width;
	in = malloc(sizeof(float) * isz * B);
	tu_fill(&s, in, isz * B, -1, 1);
	tu_fill(&s, r, (size_t) B * dim, -1, 1);
	np = sp_nn_trainer_params(tr, &ps);
	/* eval mode needs non-trivial running statistics */
	for (int i = 0; i < np; i++)
		if (!ps[i].grad)
			for (size_t k = 0; k < ps[i].numel; k++)
				ps[i].data[k] = strstr(ps[i].name, "var") ? tu_uniform(&s, 0.5f, 2) : tu_uniform(&s, -0.3f, 0.3f);
		else if (strstr(ps[i].name, "bn") && strstr(ps[i].name, "weight"))
			for (size_t k = 0; k < ps[i].numel; k++)
				ps[i].data[k] = tu_uniform(&s, 0.5f, 1.5f);

	sp_nn_trainer_zero_grad(tr);
	if (sp_nn_trainer_forward(tr, in, B, training, out, &err) != SP_OK ||
		sp_nn_trainer_backward(tr, r, &err) != SP_OK)
	{
		free(in);
		sp_nn_trainer_free(tr);
		return 1000;
	}
	for (int i = 0; i < np; i++)
	{
		if (!ps[i].grad)
			continue;
		for (size_t k = 0; k < ps[i].numel; k++)
		{
			float		save = ps[i].data[k];
			double		lp,
						lm,
						num,
						ana = ps[i].grad[k];

			ps[i].data[k] = save + h;
			lp = proj_loss(tr, in, B, training, r, dim);
			ps[i].data[k] = save - h;
			lm = proj_loss(tr, in, B, training, r, dim);
			ps[i].data[k] = save;
			num = (lp - lm) / (2.0 * h);
			(*checked)++;
			if (!(fabs(num - ana) <= 1e-2 * fmax(fabs(num), fabs(ana)) + 2e-3))
			{
				/*
				 * A ReLU or max-pool switch inside [-h, h] makes the central
				 * difference meaningless there: if a 4x smaller step changes
				 * the numeric value a lot, it is such a kink, not a bug.
				 * Kinks are rare; more than 2% of the parameters fails.
				 */
				double		num2;

				ps[i].data[k] = save + h / 4;
				lp = proj_loss(tr, in, B, training, r, dim);
				ps[i].data[k] = save - h / 4;
				lm = proj_loss(tr, in, B, training, r, dim);
				ps[i].data[k] = save;
				num2 = (lp - lm) / (2.0 * h / 4);
				if (fabs(num2 - num) > 0.05 * fmax(fabs(num), 0.01) && (*kinks)++ < 1 + *checked / 50)
					continue;
				if (bad < 5)
					fprintf(stderr, "    %s[%zu]: analytic %.6g numeric %.6g\n", ps[i].name, k, ana, num);
				bad++;
			}
		}
	}
	free(in);
	sp_nn_trainer_free(tr);
	return bad;
}

SP_TEST(grad_layers)
{
	const char *nets[6] = {net1, net2, net3, net4, net5, net6};

	sp_blas_set_threads(1);
	for (int n = 0; n < 6; n++)
		for (int mode = 0; mode < 2; mode++)
		{
			int			checked = 0,
						kinks = 0;
			int			bad = grad_check_net(nets[n], mode == 0, 100 + n, &checked, &kinks);

			CHECK_MSG(bad == 0 && checked > 10 && kinks <= 1 + checked / 50,
					  "net %d %s: %d of %d parameters mismatch (%d kinks)", n + 1,
					  mode == 0 ? "train" : "eval", bad, checked, kinks);
			if (sp_unit_verbose)
				fprintf(stderr, "    net %d %s: %d parameters, %d kinks\n", n + 1,
						mode == 0 ? "train" : "eval", checked, kinks);
		}
}

/* ---------------------------------------------------------------------- */

typedef enum
{
	L_HARD, L_SOFT, L_ALL, L_CONTRASTIVE, L_CE, L_CE_COS, L_COSFACE, L_MS
} loss_kind;

static float head_w[4 * 5],
			head_b[4];

static float
eval_loss_kind(loss_kind k, const float *e, const int *lab, int B, int D, float *d)
{
	float		loss = NAN;
	sp_error	err;
	const sp_env *env = sp_env_default();

	switch (k)
	{
		case L_HARD:
			sp_nn_loss_batch_hard(env, e, lab, B, D, 0.5f, &loss, d, NULL, &err);
			break;
		case L_SOFT:
			sp_nn_loss_batch_hard(env, e, lab, B, D, -1.0f, &loss, d, NULL, &err);
			break;
		case L_ALL:
			sp_nn_loss_batch_all(env, e, lab, B, D, 0.5f, &loss, d, NULL, &err);
			break;
		case L_CONTRASTIVE:
			sp_nn_loss_contrastive(env, e, lab, B, D, 1.5f, &loss, d, &err);
			break;
		case L_CE:
			sp_nn_loss_softmax_ce(env, e, lab, B, D, head_w, head_b, 4, 0.0f, 0.0f, &loss, d, NULL, NULL, NULL, &err);
			break;
		case L_CE_COS:
			sp_nn_loss_softmax_ce(env, e, lab, B, D, head_w, head_b, 4, 16.0f, 0.0f, &loss, d, NULL, NULL, NULL, &err);
			break;
		case L_COSFACE:
			sp_nn_loss_softmax_ce(env, e, lab, B, D, head_w, head_b, 4, 16.0f, 0.35f, &loss, d, NULL, NULL, NULL, &err);
			break;
		case L_MS:
			/* a mining margin wide enough to keep every pair: smooth, so differentiable */
			sp_nn_loss_multi_similarity(env, e, lab, B, D, 10.0f, &loss, d, NULL, &err);
			break;
	}
	return loss;
}

SP_TEST(grad_losses)
{
	const int	B = 8,
				D = 5;
	int			labels[8] = {0, 1, 2, 3, 0, 1, 2, 3};
	float		e[40],
				d[40],
				dd[40];
	uint64_t	s = 5;

	tu_fill(&s, e, 40, -1, 1);
	tu_fill(&s, head_w, 20, -1, 1);
	tu_fill(&s, head_b, 4, -1, 1);
	for (int k = L_HARD; k <= L_MS; k++)
	{
		int			bad = 0;
		float		l0 = eval_loss_kind((loss_kind) k, e, labels, B, D, d);
		double		gnorm = 0;

		CHECK_MSG(isfinite(l0) && l0 > 0, "loss %d = %g", k, l0);
		for (int i = 0; i < B * D; i++)
		{
			float		save = e[i];
			double		lp,
						lm,
						num;
			const float h = 1e-3f;

			e[i] = save + h;
			lp = eval_loss_kind((loss_kind) k, e, labels, B, D, dd);
			e[i] = save - h;
			lm = eval_loss_kind((loss_kind) k, e, labels, B, D, dd);
			e[i] = save;
			num = (lp - lm) / (2.0 * h);
			gnorm += fabs(d[i]);
			if (!(fabs(num - d[i]) <= 1e-2 * fmax(fabs(num), fabs(d[i])) + 1e-3))
			{
				if (bad < 3)
					fprintf(stderr, "    loss %d e[%d]: analytic %.6g numeric %.6g\n", k, i, d[i], num);
				bad++;
			}
		}
		CHECK_MSG(bad == 0, "loss %d: %d mismatches", k, bad);
		CHECK_MSG(gnorm > 1e-3, "loss %d: zero gradient", k);
	}
}

/*
 * Multi-similarity's pair mining by hand: four points on the unit circle, two
 * classes.  Only anchor 2 keeps pairs (its positive 3, at similarity 0, is
 * below its hardest negative's 0.6 + eps; both negatives are above its
 * positive's 0 - eps); anchors 0, 1 and 3 are easy and add 0.
 */
SP_TEST(loss_multi_similarity_mining)
{
	const float e[8] = {1, 0, 0.8f, 0.6f, 0, 1, -1, 0};
	const int	labels[4] = {0, 0, 1, 1};
	const int	apart[4] = {0, 0, 1, 1};
	float		loss,
				d[8];
	int			active;
	sp_error	err;
	double		l2 = log1p(exp(-SP_MS_ALPHA * (0 - SP_MS_LAMBDA))) / SP_MS_ALPHA +
		log(1 + exp(SP_MS_BETA * (0 - SP_MS_LAMBDA)) + exp(SP_MS_BETA * (0.6 - SP_MS_LAMBDA))) / SP_MS_BETA;

	REQUIRE(sp_nn_loss_multi_similarity(sp_env_default(), e, labels, 4, 2, 0.1f, &loss, d, &active, &err) == SP_OK);
	CHECK_MSG(fabs(loss - l2 / 4) < 1e-6, "loss %.8g, by hand %.8g", loss, l2 / 4);
	CHECK(active == 1);
	/* row 1 only through the kept negative pair (2, 1): its gradient is along e2 = (0, 1), positive (descent pushes it away) */
	CHECK(d[2] == 0 && d[3] > 0);
	/* row 3 only through the kept positive pair (2, 3): pulled towards e2 = (0, 1) */
	CHECK(d[7] < 0);
	/* classes far apart: nothing is mined, the loss and gradient are 0 */
	{
		const float far[8] = {1, 0, 0.99f, 0.141f, -1, 0, -0.99f, 0.141f};

		REQUIRE(sp_nn_loss_multi_similarity(sp_env_default(), far, apart, 4, 2, 0.1f, &loss, d, &active, &err) == SP_OK);
		CHECK(loss == 0 && active == 0);
		for (int i = 0; i < 8; i++)
			CHECK(d[i] == 0);
	}
	CHECK(sp_nn_loss_multi_similarity(sp_env_default(), e, labels, 4, 2, -0.1f, &loss, d, &active, &err) == SP_ERR_INVALID_ARG);
}

/* CosFace with margin 0 is the normalised softmax; a margin raises the loss, never the hits */
SP_TEST(loss_cosface_margin)
{
	const int	B = 6,
				D = 5,
				K = 4;
	int			labels[6] = {0, 1, 2, 3, 0, 2};
	float		e[30],
				d0[30],
				d1[30],
				l0,
				l1,
				lm;
	int			c0,
				c1;
	uint64_t	s = 23;
	sp_error	err;

	tu_fill(&s, e, 30, -1, 1);
	tu_fill(&s, head_w, 20, -1, 1);
	REQUIRE(sp_nn_loss_softmax_ce(sp_env_default(), e, labels, B, D, head_w, NULL, K, 16, 0, &l0, d0, NULL, NULL, &c0, &err) == SP_OK);
	REQUIRE(sp_nn_loss_softmax_ce(sp_env_default(), e, labels, B, D, head_w, NULL, K, 16, 0.35f, &l1, d1, NULL, NULL, &c1, &err) == SP_OK);
	REQUIRE(sp_nn_loss_softmax_ce(sp_env_default(), e, labels, B, D, head_w, NULL, K, 16, 1e-9f, &lm, d1, NULL, NULL, &c1, &err) == SP_OK);
	CHECK_MSG(l1 > l0, "margin 0.35: %g, none: %g", l1, l0);
	CHECK(fabs(lm - l0) < 1e-5 && c1 == c0);
	/* a margin needs cosine logits */
	CHECK(sp_nn_loss_softmax_ce(sp_env_default(), e, labels, B, D, head_w, NULL, K, 0, 0.35f, &l1, d1, NULL, NULL, NULL, &err) == SP_ERR_INVALID_ARG);
}

SP_TEST(grad_softmax_head)
{
	const int	B = 6,
				D = 5,
				K = 4;
	int			labels[6] = {0, 1, 2, 3, 0, 2};
	float		e[30],
				d[30],
				dW[20],
				db[4];
	uint64_t	s = 17;
	sp_error	err;

	tu_fill(&s, e, 30, -1, 1);
	tu_fill(&s, head_w, 20, -1, 1);
	tu_fill(&s, head_b, 4, -1, 1);
	for (int cos = 0; cos < 3; cos++)
	{
		float		scale = cos ? 16.0f : 0.0f;
		float		margin = cos == 2 ? 0.35f : 0.0f;	/* 2: CosFace */
		float		loss;
		int			correct,
					bad = 0;

		REQUIRE(sp_nn_loss_softmax_ce(sp_env_default(), e, labels, B, D, head_w, head_b, K, scale, margin, &loss, d, dW, db,
									  &correct, &err) == SP_OK);
		CHECK(correct >= 0 && correct <= B);
		for (int i = 0; i < K * D + K; i++)
		{
			float	   *p = i < K * D ? &head_w[i] : &head_b[i - K * D];
			float		ana = i < K * D ? dW[i] : db[i - K * D];
			float		save = *p,
						lp,
						lm,
						tmp[30];
			double		num;

			if (cos && i >= K * D)
				continue;		/* no bias with cosine logits */
			*p = save + 1e-3f;
			sp_nn_loss_softmax_ce(sp_env_default(), e, labels, B, D, head_w, head_b, K, scale, margin, &lp, tmp, NULL, NULL, NULL, &err);
			*p = save - 1e-3f;
			sp_nn_loss_softmax_ce(sp_env_default(), e, labels, B, D, head_w, head_b, K, scale, margin, &lm, tmp, NULL, NULL, NULL, &err);
			*p = save;
			num = ((double) lp - lm) / 2e-3;
			if (!(fabs(num - ana) <= 1e-2 * fmax(fabs(num), fabs(ana)) + 1e-3))
			{
				if (bad < 3)
					fprintf(stderr, "    head %d cos %d: analytic %.6g numeric %.6g\n", i, cos, ana, num);
				bad++;
			}
		}
		CHECK_MSG(bad == 0, "cos %d: %d mismatches", cos, bad);
	}
	{
		int			badlab[6] = {0, 1, 2, 3, 4, 0};
		float		loss;

		CHECK(sp_nn_loss_softmax_ce(sp_env_default(), e, badlab, B, D, head_w, head_b, K, 0, 0, &loss, d, dW, db, NULL, &err) == SP_ERR_INVALID_ARG);
	}
}

SP_TEST(train_export_matches_inference)
{
	const char *nets[4] = {net3, net4, net5, net6};

	for (int n = 0; n < 4; n++)
	{
		sp_nn_trainer *tr = make_trainer(nets[n], 8, 3 + n);
		sp_nn_model *m;
		sp_nn_workspace *ws;
		sp_error	err;
		float		in[8 * 75],
					a[64],
					b[64],
					tmp[64];
		uint64_t	s = 99;
		int			dim;

		REQUIRE(tr);
		dim = sp_nn_trainer_config(tr)->embedding_dim;
		tu_fill(&s, in, sizeof(in) / sizeof(in[0]), -1, 1);
		/* a few training-mode passes move the running statistics */
		for (int it = 0; it < 3; it++)
			REQUIRE(sp_nn_trainer_forward(tr, in, 8, true, tmp, &err) == SP_OK);
		REQUIRE(sp_nn_trainer_forward(tr, in, 8, false, a, &err) == SP_OK);
		REQUIRE(sp_nn_trainer_to_model(tr, &m, &err) == SP_OK);
		REQUIRE(sp_nn_workspace_create(sp_env_default(), m, 8, &ws, &err) == SP_OK);
		REQUIRE(sp_nn_forward(m, ws, in, 8, b, &err) == SP_OK);
		for (int i = 0; i < 8 * dim; i++)
			CHECK_NEAR(a[i], b[i], 1e-5);
		sp_nn_workspace_free(sp_env_default(), ws);
		sp_nn_model_free(sp_env_default(), m);
		sp_nn_trainer_free(tr);
	}
}

SP_TEST(train_deterministic_and_reload)
{
	sp_nn_trainer *t1 = make_trainer(net3, 4, 42),
			   *t2 = make_trainer(net3, 4, 42),
			   *t3 = make_trainer(net3, 4, 43);
	sp_nn_param *p1,
			   *p2,
			   *p3;
	int			n = sp_nn_trainer_params(t1, &p1);
	bool		same12 = true,
				same13 = true;
	char	   *cj;
	size_t		cl,
				wl;
	uint8_t    *w;
	sp_error	err;
	const char *mk[1] = {"seed"};
	const char *mv[1] = {"42"};

	REQUIRE(t1 && t2 && t3);
	sp_nn_trainer_params(t2, &p2);
	sp_nn_trainer_params(t3, &p3);
	CHECK_EQ_INT(n, 13);		/* c1.w, bn1 x4, fc1 w/b, bn2 x4, fc2 w/b */
	for (int i = 0; i < n; i++)
	{
		same12 = same12 && memcmp(p1[i].data, p2[i].data, p1[i].numel * 4) == 0;
		same13 = same13 && memcmp(p1[i].data, p3[i].data, p1[i].numel * 4) == 0;
	}
	CHECK(same12);
	CHECK(!same13);
	CHECK(strcmp(p1[0].name, "c1.weight") == 0);
	CHECK(strcmp(p1[4].name, "bn1.running_var") == 0);
	/* export t1, load into t3: identical parameters */
	REQUIRE(sp_nn_trainer_export(t1, mk, mv, 1, &cj, &cl, &w, &wl, &err) == SP_OK);
	REQUIRE(sp_nn_trainer_load_weights(t3, w, wl, &err) == SP_OK);
	for (int i = 0; i < n; i++)
		CHECK(memcmp(p1[i].data, p3[i].data, p1[i].numel * 4) == 0);
	CHECK(strstr(cj, "\"batchnorm\"") != NULL);
	free(cj);
	free(w);
	sp_nn_trainer_free(t1);
	sp_nn_trainer_free(t2);
	sp_nn_trainer_free(t3);
}

SP_TEST(train_optimisers_reduce_loss)
{
	for (int opt = 0; opt < 2; opt++)
	{
		sp_nn_trainer *tr = make_trainer(net2, 8, 7);
		float		in[8 * 108],
					out[8 * 5],
					d[8 * 5],
					first = 0,
					loss = 0;
		int			labels[8] = {0, 0, 1, 1, 2, 2, 3, 3};
		uint64_t	s = 1;
		sp_error	err;
		sp_nn_adam	adam = {0.01f, 0.9f, 0.999f, 1e-8f, 1e-4f, true};

		REQUIRE(tr);
		tu_fill(&s, in, sizeof(in) / sizeof(in[0]), -1, 1);
		for (int it = 0; it < 60; it++)
		{
			REQUIRE(sp_nn_trainer_forward(tr, in, 8, true, out, &err) == SP_OK);
			REQUIRE(sp_nn_loss_batch_all(sp_env_default(), out, labels, 8, 5, 0.2f, &loss, d, NULL, &err) == SP_OK);
			if (it == 0)
				first = loss;
			sp_nn_trainer_zero_grad(tr);
			REQUIRE(sp_nn_trainer_backward(tr, d, &err) == SP_OK);
			if (opt == 0)
				sp_nn_trainer_adam_step(tr, &adam);
			else
				sp_nn_trainer_sgd_step(tr, 0.05f, 0.9f, 1e-4f);
		}
		CHECK_MSG(loss < 0.5f * first, "optimizer %d: loss %g -> %g", opt, first, loss);
		sp_nn_trainer_free(tr);
	}
}

/*
 * Adam against the update worked by hand (Kingma & Ba, Algorithm 1): with a
 * constant gradient the bias-corrected moments are g and g^2 at every step,
 * so each step moves the parameter by lr (up to eps).  Without the bias
 * correction the first step would move it by lr * 0.1 g / sqrt(0.001 g^2),
 * 3.16 lr: the test tells them apart.  Decoupled weight decay (AdamW) shrinks
 * the parameter by lr * wd * p before the step; coupled decay adds wd * p to
 * the gradient.
 */
SP_TEST(adam_update_by_hand)
{
	sp_nn_adam	o = {0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, false};
	float		p = 1.0f,
				g = 0.5f,
				m = 0.0f,
				v = 0.0f;

	sp_nn_adam_update(&p, &g, &m, &v, 1, &o, 1, true);
	CHECK_NEAR(m, 0.05, 1e-7);
	CHECK_NEAR(v, 0.00025, 1e-8);	/* beta2 is a float: 1 - 0.999f = 0.00099999 */
	CHECK_NEAR(p, 0.9, 1e-6);
	sp_nn_adam_update(&p, &g, &m, &v, 1, &o, 2, true);
	CHECK_NEAR(m, 0.095, 1e-7);
	CHECK_NEAR(v, 0.00049975, 1e-8);
	CHECK_NEAR(p, 0.8, 1e-6);

	/* AdamW: p = 1 - 0.1 * 0.1 * 1 = 0.99, then the step of 0.1 */
	o.weight_decay = 0.1f;
	o.decoupled = true;
	p = 1.0f, m = 0.0f, v = 0.0f;
	sp_nn_adam_update(&p, &g, &m, &v, 1, &o, 1, true);
	CHECK_NEAR(p, 0.89, 1e-6);
	/* decay off for this parameter (biases, norms): the plain step */
	p = 1.0f, m = 0.0f, v = 0.0f;
	sp_nn_adam_update(&p, &g, &m, &v, 1, &o, 1, false);
	CHECK_NEAR(p, 0.9, 1e-6);

	/* coupled: the gradient becomes 0.5 + 0.1 * 1 = 0.6 */
	o.decoupled = false;
	p = 1.0f, m = 0.0f, v = 0.0f;
	sp_nn_adam_update(&p, &g, &m, &v, 1, &o, 1, true);
	CHECK_NEAR(m, 0.06, 1e-7);
	CHECK_NEAR(v, 0.00036, 1e-8);
	CHECK_NEAR(p, 0.9, 1e-6);
}

/* An interrupt hook that fires from its nth poll on. */
static int	polls_left;

static int
interrupt_after(void *user)
{
	(void) user;
	return --polls_left < 0;
}

/*
 * Ops split over threads (util/team.h) compute what one thread computes:
 * a network at a batch that splits unevenly, one thread against 2.
 * The forward splits by image, channel, plane or element, each written by
 * one part, so outputs and running statistics are bitwise equal; the
 * convolutions' weight gradients are summed per part and then across
 * parts, so they differ in rounding only.  Two threaded runs are bitwise
 * equal, and an interrupt stops a threaded pass.
 */
static void
team_training_check(const char *arch, int *sp_failed__)
{
	char		txt[8192];
	sp_nn_config *cfg;
	sp_nn_trainer *tr[3];
	const int	B = 3,
				threads[3] = {1, 2, 2};
	float	   *in,
			   *out[3],
			   *d;
	uint64_t	s = 5;
	sp_error	err;
	sp_nn_param *p[3];
	int			np = 0;
	double		worst = 0,
				largest = 0;
	sp_env		env = *sp_env_default();

	REQUIRE(sp_nn_arch_config(arch, "t", true, txt, sizeof txt));
	REQUIRE(sp_nn_config_parse(sp_env_default(), txt, strlen(txt), &cfg, &err) == SP_OK);
	for (int k = 0; k < 3; k++)
	{
		REQUIRE(sp_nn_trainer_create(sp_env_default(), cfg, B, 11, SP_NN_INIT_HE, threads[k], &tr[k], &err) == SP_OK);
		np = sp_nn_trainer_params(tr[k], &p[k]);
		out[k] = malloc(sizeof(float) * B * 128);
	}
	in = malloc(sizeof(float) * B * 28 * 28);
	d = malloc(sizeof(float) * B * 128);
	tu_fill(&s, in, (size_t) B * 28 * 28, -1, 2);
	tu_fill(&s, d, (size_t) B * 128, -1, 1);
	for (int k = 0; k < 3; k++)
	{
		REQUIRE(sp_nn_trainer_forward(tr[k], in, B, true, out[k], &err) == SP_OK);
		sp_nn_trainer_zero_grad(tr[k]);
		REQUIRE(sp_nn_trainer_backward(tr[k], d, &err) == SP_OK);
	}
	CHECK(memcmp(out[0], out[1], sizeof(float) * B * 128) == 0);
	for (int i = 0; i < np; i++)
		for (size_t k = 0; p[0][i].grad && k < p[0][i].numel; k++)
			largest = fmax(largest, fabs(p[0][i].grad[k]));
	for (int i = 0; i < np; i++)
	{
		/* a conv bias before a batch norm has a gradient of rounding noise only: measure it against the net's */
		double		scale = 1e-3 * largest;

		CHECK(strcmp(p[0][i].name, p[1][i].name) == 0);
		if (!p[0][i].grad)
		{
			/* the batch norms' running statistics */
			CHECK_MSG(memcmp(p[0][i].data, p[1][i].data, p[0][i].numel * 4) == 0, "%s", p[0][i].name);
			continue;
		}
		CHECK_MSG(memcmp(p[1][i].grad, p[2][i].grad, p[1][i].numel * 4) == 0, "%s not reproducible", p[1][i].name);
		for (size_t k = 0; k < p[0][i].numel; k++)
			scale = fmax(scale, fabs(p[0][i].grad[k]));
		for (size_t k = 0; k < p[0][i].numel; k++)
			worst = fmax(worst, fabs(p[0][i].grad[k] - p[1][i].grad[k]) / scale);
	}
	CHECK_MSG(worst < 1e-4, "%s: gradients of 1 and 2 threads differ by %g of their largest", arch, worst);
	/* an interrupt during a threaded pass: part 0 sees it, every part stops, the status says so */
	env.interrupted = interrupt_after;
	sp_nn_trainer_free(tr[2]);
	REQUIRE(sp_nn_trainer_create(&env, cfg, B, 11, SP_NN_INIT_HE, 2, &tr[2], &err) == SP_OK);
	polls_left = 4;
	CHECK(sp_nn_trainer_forward(tr[2], in, B, true, out[2], &err) == SP_ERR_INTERRUPTED);
	polls_left = 1 << 30;
	CHECK(sp_nn_trainer_forward(tr[2], in, B, true, out[2], &err) == SP_OK);
	for (int k = 0; k < 3; k++)
	{
		sp_nn_trainer_free(tr[k]);
		free(out[k]);
	}
	free(in);
	free(d);
	sp_nn_config_free(sp_env_default(), cfg);
}

/*
 * The CNN: at a batch of 3 every convolution, batch norm, ReLU and pool of
 * it is large enough to split (SP_OP_SPLIT_MIN), and its convolutions have
 * biases, so their gradients are split too.  (The residual network's are
 * the same ops; it costs twice as much under valgrind.)
 */
SP_TEST(team_training_matches_one_thread)
{
	team_training_check("cnn", sp_failed__);
}
