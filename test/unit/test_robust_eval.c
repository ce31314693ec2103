/*
 * test_robust_eval.c: the robustness evaluation engine (robust_eval.c) on
 * small random models and synthetic 28x28 class patterns: a model against
 * itself gives CE = 1, one cell recomputed by hand, determinism by seed,
 * self-retrieval mode, severity subsets, held-out grouping, perturbation
 * FP / FR / T5D, bad parameters, error annotation, and interrupts at every
 * stage without leaks (counted allocator; valgrind via make unit-valgrind).
 * Sizes are kept tiny so the suite stays fast under valgrind.
 */
#include <stdlib.h>

#include "robust/robust_eval.h"
#include "test_nn_util.h"
#include "unit.h"

/* a tiny CNN for 28x28 gray */
static const char *cfg_cnn =
"{\"name\":\"re_cnn\",\"format_version\":1,"
"\"input\":{\"channels\":1,\"height\":28,\"width\":28,\"mean\":[0.3],\"std\":[0.3]},"
"\"layers\":["
"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":4,\"kernel\":3,\"stride\":2,\"padding\":1},"
"{\"type\":\"relu\"},"
"{\"type\":\"maxpool\",\"kernel\":2},"
"{\"type\":\"flatten\"},"
"{\"type\":\"linear\",\"name\":\"fc\",\"in\":196,\"out\":12},"
"{\"type\":\"l2norm\"}],"
"\"embedding_dim\":12,\"distance\":\"l2\"}";

/* "pixels"-style baseline: no weights, downsampled normalised pixels */
static const char *cfg_pix =
"{\"name\":\"re_pix\",\"format_version\":1,"
"\"input\":{\"channels\":1,\"height\":28,\"width\":28,\"mean\":[0.3],\"std\":[0.3]},"
"\"layers\":[{\"type\":\"avgpool\",\"kernel\":2},{\"type\":\"flatten\"}],"
"\"embedding_dim\":196,\"distance\":\"l2\"}";

/* ---- counting, interruptible environment ---- */
typedef struct tenv
{
	long		live;			/* allocations not yet freed */
	long		polls_left;		/* interrupt when it reaches 0; < 0 = never */
	long		polls;
} tenv;

static void *
t_alloc(void *user, size_t size)
{
	tenv	   *t = user;
	void	   *p = malloc(size ? size : 1);

	if (p)
		t->live++;
	return p;
}

static void
t_free(void *user, void *ptr)
{
	tenv	   *t = user;

	if (ptr)
	{
		t->live--;
		free(ptr);
	}
}

static int
t_interrupted(void *user)
{
	tenv	   *t = user;

	t->polls++;
	if (t->polls_left < 0)
		return 0;
	if (t->polls_left == 0)
		return 1;
	t->polls_left--;
	return 0;
}

static sp_env
make_env(tenv *t)
{
	sp_env		e;

	memset(t, 0, sizeof(*t));
	t->polls_left = -1;
	e.alloc = t_alloc;
	e.free = t_free;
	e.interrupted = t_interrupted;
	e.user = t;
	e.max_pixels = 0;
	return e;
}

/* ---- fixtures ---- */
#define NCLS 3

/*
 * n 28x28 gray images, class i % NCLS: horizontal stripes, vertical stripes
 * or a centred disc, each with its own phase / radius and a little noise so
 * no two images are identical and k-NN has something to learn from.
 */
static void
make_images(sp_image *imgs, int32_t *labels, int n, uint64_t seed)
{
	uint64_t	s = seed;

	for (int i = 0; i < n; i++)
	{
		int			c = i % NCLS;
		int			phase = (int) (tu_next(&s) % 7);
		int			radius = 6 + (int) (tu_next(&s) % 6);

		imgs[i].width = imgs[i].height = 28;
		imgs[i].channels = 1;
		imgs[i].pixels = malloc(28 * 28);
		for (int y = 0; y < 28; y++)
			for (int x = 0; x < 28; x++)
			{
				int			v;

				if (c == 0)
					v = ((y + phase) / 3) % 2 ? 220 : 30;
				else if (c == 1)
					v = ((x + phase) / 3) % 2 ? 220 : 30;
				else
					v = (x - 14) * (x - 14) + (y - 14) * (y - 14) < radius * radius ? 230 : 20;
				v += (int) (tu_next(&s) % 31) - 15;
				imgs[i].pixels[y * 28 + x] = (uint8_t) (v < 0 ? 0 : v > 255 ? 255 : v);
			}
		if (labels)
			labels[i] = c;
	}
}

static void
free_images(sp_image *imgs, int n)
{
	for (int i = 0; i < n; i++)
		free(imgs[i].pixels);
}

typedef struct fixture
{
	sp_nn_model *cnn,
			   *pix;
	sp_nn_workspace *ws_cnn,
			   *ws_pix;
	uint8_t    *w_cnn,
			   *w_pix;
} fixture;

static int
fixture_init(fixture *f, int max_batch)
{
	size_t		len;
	sp_error	err;

	memset(f, 0, sizeof(*f));
	sp_blas_set_threads(1);
	f->cnn = tu_make_model(cfg_cnn, 5, 0, &f->w_cnn, &len);
	f->pix = tu_make_model(cfg_pix, 6, 0, &f->w_pix, &len);
	if (!f->cnn || !f->pix)
		return 0;
	return sp_nn_workspace_create(sp_env_default(), f->cnn, max_batch, &f->ws_cnn, &err) == SP_OK &&
		sp_nn_workspace_create(sp_env_default(), f->pix, max_batch, &f->ws_pix, &err) == SP_OK;
}

static void
fixture_free(fixture *f)
{
	sp_nn_workspace_free(sp_env_default(), f->ws_cnn);
	sp_nn_workspace_free(sp_env_default(), f->ws_pix);
	sp_nn_model_free(sp_env_default(), f->cnn);
	sp_nn_model_free(sp_env_default(), f->pix);
	free(f->w_cnn);
	free(f->w_pix);
}

static sp_re_models
two_models(fixture *f)
{
	sp_re_models m;

	m.model[SP_RE_MODEL] = f->cnn;
	m.ws[SP_RE_MODEL] = f->ws_cnn;
	m.model[SP_RE_BASELINE] = f->pix;
	m.ws[SP_RE_BASELINE] = f->ws_pix;
	return m;
}

static sp_re_models
same_model(fixture *f)
{
	sp_re_models m;

	m.model[0] = m.model[1] = f->cnn;
	m.ws[0] = m.ws[1] = f->ws_cnn;
	return m;
}

static sp_re_corruption_params
cparams(const int *cs, int nc, unsigned mask, uint64_t seed)
{
	sp_re_corruption_params p;

	memset(&p, 0, sizeof(p));
	p.corruptions = cs;
	p.ncorruptions = nc;
	p.sev_mask = mask;
	p.seed = seed;
	p.k = 1;
	p.profile = SP_PROFILE_AUTO;
	return p;
}

typedef struct prog
{
	int			calls;
	int			last_step;
	int			nsteps;
	int			monotonic;
	char		first[64];
	char		last[64];
} prog;

static void
on_progress(void *arg, const char *stage, int step, int nsteps)
{
	prog	   *p = arg;

	if (p->calls == 0)
		snprintf(p->first, sizeof(p->first), "%s", stage);
	snprintf(p->last, sizeof(p->last), "%s", stage);
	if (step != p->last_step + 1)
		p->monotonic = 0;
	p->last_step = step;
	p->nsteps = nsteps;
	p->calls++;
}

/* ---- tests ---- */

SP_TEST(robust_eval_item_seed)
{
	uint64_t	a = sp_re_item_seed(0, 0, 0, 1);

	CHECK(a == sp_re_item_seed(0, 0, 0, 1));
	CHECK(a != sp_re_item_seed(1, 0, 0, 1));
	CHECK(a != sp_re_item_seed(0, 1, 0, 1));
	CHECK(a != sp_re_item_seed(0, 0, 1, 1));
	CHECK(a != sp_re_item_seed(0, 0, 0, 2));
	/* the fields do not alias: (image, what) swapped gives another seed */
	CHECK(sp_re_item_seed(7, 2, 3, 1) != sp_re_item_seed(7, 3, 2, 1));
	CHECK(sp_re_item_seed(7, 0, 1, 0) != sp_re_item_seed(7, 0, 0, 1));
}

/* baseline against itself (one model, one workspace): CE exactly 1 */
SP_TEST(robust_eval_self_baseline)
{
	enum { N = 12 };
	fixture		f;
	sp_image	imgs[N];
	int32_t		labels[N];
	tenv		t;
	sp_env		env = make_env(&t);
	const int	cs[] = {SP_C_GAUSSIAN_NOISE, SP_C_IMPULSE_NOISE, SP_C_CONTRAST, SP_C_SPECKLE_NOISE};
	sp_re_corruption_params p = cparams(cs, 4, SP_RM_ALL_SEVERITIES, 3);
	sp_re_sample s = {imgs, labels, N};
	sp_re_models mm;
	sp_re_corruption_result r;
	sp_error	err;
	prog		pr = {0, 0, 0, 1, "", ""};
	int			ndefined = 0;

	REQUIRE(fixture_init(&f, 5));	/* chunk 5: 12 images = 3 chunks */
	mm = same_model(&f);
	make_images(imgs, labels, N, 1);
	CHECK_EQ_INT(sp_re_corruption_run(&env, &s, &mm, &p, on_progress, &pr, &r, &err), SP_OK);
	CHECK_EQ_INT(r.n, N);
	CHECK_EQ_INT(r.nscores, 4);
	/* "clean", then the images in runs of ceil(12 / 10) = 2 */
	CHECK_EQ_INT(pr.calls, 1 + 6);
	CHECK_EQ_INT(pr.nsteps, 1 + 6);
	CHECK(pr.monotonic);
	CHECK(strcmp(pr.first, "clean") == 0);
	CHECK_MSG(strcmp(pr.last, "corrupted images 11 to 12 of 12") == 0, "%s", pr.last);
	CHECK(r.errors[0].clean >= 0 && r.errors[0].clean <= 1);
	CHECK(memcmp(&r.errors[0], &r.errors[1], sizeof(r.errors[0])) == 0);
	for (int i = 0; i < 4; i++)
	{
		const sp_re_corruption_score *sc = &r.scores[i];

		CHECK_EQ_INT(sc->corruption, cs[i]);
		CHECK_EQ_INT(sc->held_out, cs[i] == SP_C_SPECKLE_NOISE);
		if (!(sc->ce_flags & SP_RM_UNDEFINED))
		{
			CHECK(sc->ce == 1.0);
			ndefined++;
		}
		else
			CHECK(isnan(sc->ce));
		if (!(sc->relative_ce_flags & SP_RM_UNDEFINED))
			CHECK(sc->relative_ce == 1.0);
		for (int sev = 0; sev < 5; sev++)
		{
			CHECK(r.drift[0][cs[i]][sev] == r.drift[1][cs[i]][sev]);
			CHECK(r.drift[0][cs[i]][sev] >= 0 && r.drift[0][cs[i]][sev] <= 2);
		}
	}
	/* the noises at severity 5 must confuse a random 12-d model */
	CHECK(ndefined >= 2);
	/* the three benchmark members have a defined CE: mCE is exactly 1 */
	for (int i = 0; i < 3; i++)
		CHECK(!(r.scores[i].ce_flags & SP_RM_UNDEFINED));
	CHECK(r.mce == 1.0);
	CHECK(isnan(r.relative_mce) || r.relative_mce == 1.0);
	CHECK(isnan(r.heldout_mce) || r.heldout_mce == 1.0);
	{
		int			und = 0;

		for (int i = 0; i < 3; i++)
			und += ((r.scores[i].ce_flags | r.scores[i].relative_ce_flags) & SP_RM_UNDEFINED) != 0;
		CHECK_EQ_INT(r.n_undefined_mce, und);
		CHECK_EQ_INT(isnan(r.relative_mce), und > 0);
	}
	if (sp_unit_verbose)
		for (int i = 0; i < 4; i++)
			fprintf(stderr, "  %s: CE %g relCE %g err %g..%g clean %g\n",
					sp_corruption_get(cs[i])->name, r.scores[i].ce, r.scores[i].relative_ce,
					r.errors[0].err[cs[i]][0], r.errors[0].err[cs[i]][4], r.errors[0].clean);
	/* drift grows with noise severity for the noise corruption */
	CHECK(r.drift[0][SP_C_GAUSSIAN_NOISE][4] > r.drift[0][SP_C_GAUSSIAN_NOISE][0]);
	/* unrequested cells stay NaN */
	CHECK(isnan(r.errors[0].err[SP_C_FOG][0]));
	CHECK(isnan(r.drift[0][SP_C_FOG][0]));
	CHECK_EQ_INT(t.live, 0);
	free_images(imgs, N);
	fixture_free(&f);
}

/* two models: one cell and the clean error equal a recomputation by hand */
SP_TEST(robust_eval_cell_by_hand)
{
	enum { N = 10 };
	fixture		f;
	sp_image	imgs[N],
				cor[N];
	int32_t		labels[N],
				self[N];
	const int	cs[] = {SP_C_FOG, SP_C_SHOT_NOISE};
	sp_re_corruption_params p = cparams(cs, 2, 0x4, 99);	/* severity 3 only */
	sp_re_sample s = {imgs, labels, N};
	sp_re_models mm;
	sp_re_corruption_result r;
	sp_error	err;

	REQUIRE(fixture_init(&f, 4));
	mm = two_models(&f);
	make_images(imgs, labels, N, 2);
	p.k = 3;
	REQUIRE(sp_re_corruption_run(sp_env_default(), &s, &mm, &p, NULL, NULL, &r, &err) == SP_OK);
	for (int i = 0; i < N; i++)
	{
		self[i] = i;
		REQUIRE(sp_corrupt_by_id(sp_env_default(), &imgs[i], SP_C_FOG, 3,
								 sp_re_item_seed(99, i, SP_C_FOG, 3), SP_PROFILE_AUTO, &cor[i], &err) == SP_OK);
	}
	for (int m = 0; m < 2; m++)
	{
		const sp_nn_model *model = mm.model[m];
		int			dim = sp_nn_model_dim(model);
		float	   *clean = malloc(sizeof(float) * N * dim);
		float	   *q = malloc(sizeof(float) * N * dim);
		int64_t		wrong_clean,
					wrong;
		double		drift;

		/* embed in another batching than the engine: batch size must not matter */
		REQUIRE(sp_nn_embed_images(sp_env_default(), model, mm.ws[m], imgs, N, clean, &err) == SP_OK);
		REQUIRE(sp_nn_embed_images(sp_env_default(), model, mm.ws[m], cor, N, q, &err) == SP_OK);
		REQUIRE(sp_rm_knn_error(sp_env_default(), clean, labels, N, clean, labels, self, N, dim, 3,
								SP_DISTANCE_L2, &wrong_clean, NULL, &err) == SP_OK);
		REQUIRE(sp_rm_knn_error(sp_env_default(), clean, labels, N, q, labels, self, N, dim, 3,
								SP_DISTANCE_L2, &wrong, NULL, &err) == SP_OK);
		REQUIRE(sp_rm_mean_drift(sp_env_default(), clean, N, q, self, N, dim, &drift, NULL, &err) == SP_OK);
		CHECK_NEAR(r.errors[m].clean, (double) wrong_clean / N, 1e-15);
		CHECK_NEAR(r.errors[m].err[SP_C_FOG][2], (double) wrong / N, 1e-15);
		CHECK_NEAR(r.drift[m][SP_C_FOG][2], drift, 1e-6);
		CHECK(isnan(r.errors[m].err[SP_C_FOG][1]));
		CHECK(!isnan(r.errors[m].err[SP_C_SHOT_NOISE][2]));
		free(clean);
		free(q);
	}
	/* CE of a single severity is the ratio of the two cells */
	if (!(r.scores[0].ce_flags & SP_RM_UNDEFINED))
		CHECK_NEAR(r.scores[0].ce, r.errors[0].err[SP_C_FOG][2] / r.errors[1].err[SP_C_FOG][2], 1e-12);
	/* the two models differ: their drifts differ */
	CHECK(r.drift[0][SP_C_FOG][2] != r.drift[1][SP_C_FOG][2]);
	free_images(cor, N);
	free_images(imgs, N);
	fixture_free(&f);
}

SP_TEST(robust_eval_determinism)
{
	enum { N = 8 };
	fixture		f;
	sp_image	imgs[N];
	int32_t		labels[N];
	const int	cs[] = {SP_C_GAUSSIAN_NOISE, SP_C_JPEG_COMPRESSION};
	sp_re_corruption_params p = cparams(cs, 2, 0x11, 5);
	sp_re_sample s = {imgs, labels, N};
	sp_re_models mm;
	sp_re_corruption_result *r = malloc(sizeof(*r) * 3);
	sp_error	err;
	int			differs = 0;

	REQUIRE(fixture_init(&f, 8));
	mm = two_models(&f);
	make_images(imgs, labels, N, 3);
	REQUIRE(sp_re_corruption_run(sp_env_default(), &s, &mm, &p, NULL, NULL, &r[0], &err) == SP_OK);
	REQUIRE(sp_re_corruption_run(sp_env_default(), &s, &mm, &p, NULL, NULL, &r[1], &err) == SP_OK);
	p.seed = 6;
	REQUIRE(sp_re_corruption_run(sp_env_default(), &s, &mm, &p, NULL, NULL, &r[2], &err) == SP_OK);
	CHECK(memcmp(r[0].errors, r[1].errors, sizeof(r[0].errors)) == 0);
	CHECK(memcmp(r[0].drift, r[1].drift, sizeof(r[0].drift)) == 0);
	CHECK(memcmp(r[0].scores, r[1].scores, sizeof(r[0].scores)) == 0);
	for (int m = 0; m < 2; m++)
		for (int sev = 0; sev < 5; sev += 4)
			differs |= r[0].drift[m][SP_C_GAUSSIAN_NOISE][sev] != r[2].drift[m][SP_C_GAUSSIAN_NOISE][sev];
	CHECK(differs);
	/* the clean part does not depend on the seed */
	CHECK(r[0].errors[0].clean == r[2].errors[0].clean);
	free(r);
	free_images(imgs, N);
	fixture_free(&f);
}

SP_TEST(robust_eval_self_retrieval)
{
	enum { N = 9 };
	fixture		f;
	sp_image	imgs[N];
	const int	cs[] = {SP_C_IMPULSE_NOISE, SP_C_PIXELATE};
	sp_re_corruption_params p = cparams(cs, 2, 0x18, 11);
	sp_re_sample s = {imgs, NULL, N};
	sp_re_models mm;
	sp_re_corruption_result r;
	sp_error	err;

	REQUIRE(fixture_init(&f, 4));
	mm = two_models(&f);
	make_images(imgs, NULL, N, 4);
	p.k = 5;					/* ignored without labels */
	REQUIRE(sp_re_corruption_run(sp_env_default(), &s, &mm, &p, NULL, NULL, &r, &err) == SP_OK);
	for (int m = 0; m < 2; m++)
	{
		CHECK(r.errors[m].clean == 0.0);	/* distinct images retrieve themselves */
		for (int c = 0; c < 2; c++)
			for (int sev = 4; sev <= 5; sev++)
			{
				double		e = r.errors[m].err[cs[c]][sev - 1];

				CHECK(e >= 0 && e <= 1);
				/* a multiple of 1/N */
				CHECK_NEAR(e * N, round(e * N), 1e-9);
			}
	}
	/* relative CE subtracts a zero clean error: equal to CE */
	for (int c = 0; c < 2; c++)
		if (!(r.scores[c].ce_flags & SP_RM_UNDEFINED))
			CHECK_NEAR(r.scores[c].relative_ce, r.scores[c].ce, 1e-12);
	free_images(imgs, N);
	fixture_free(&f);
}

SP_TEST(robust_eval_severity_subset_and_heldout)
{
	enum { N = 6 };
	fixture		f;
	sp_image	imgs[N];
	int32_t		labels[N];
	const int	cs[] = {SP_C_SATURATE, SP_C_GAUSSIAN_NOISE, SP_C_SPECKLE_NOISE};
	const int	bench_only[] = {SP_C_BRIGHTNESS};
	const int	held_only[] = {SP_C_GAUSSIAN_BLUR, SP_C_SPATTER};
	sp_re_corruption_params p = cparams(cs, 3, 0x5, 2);	/* severities 1 and 3 */
	sp_re_sample s = {imgs, labels, N};
	sp_re_models mm;
	sp_re_corruption_result r;
	sp_error	err;

	REQUIRE(fixture_init(&f, 16));
	mm = two_models(&f);
	make_images(imgs, labels, N, 5);
	REQUIRE(sp_re_corruption_run(sp_env_default(), &s, &mm, &p, NULL, NULL, &r, &err) == SP_OK);
	for (int m = 0; m < 2; m++)
		for (int c = 0; c < 3; c++)
			for (int sev = 1; sev <= 5; sev++)
			{
				int			measured = sev == 1 || sev == 3;

				CHECK_EQ_INT(!isnan(r.errors[m].err[cs[c]][sev - 1]), measured);
				CHECK_EQ_INT(!isnan(r.drift[m][cs[c]][sev - 1]), measured);
			}
	CHECK_EQ_INT(r.scores[0].held_out, 1);
	CHECK_EQ_INT(r.scores[1].held_out, 0);
	CHECK_EQ_INT(r.scores[2].held_out, 1);
	/* the only benchmark member is gaussian_noise: mCE is its CE */
	if (!(r.scores[1].ce_flags & SP_RM_UNDEFINED))
		CHECK(r.mce == r.scores[1].ce);
	else
		CHECK(isnan(r.mce) && r.n_undefined_mce == 1);
	if (!(r.scores[0].ce_flags & SP_RM_UNDEFINED) && !(r.scores[2].ce_flags & SP_RM_UNDEFINED))
		CHECK_NEAR(r.heldout_mce, (r.scores[0].ce + r.scores[2].ce) / 2, 1e-12);
	else
		CHECK(isnan(r.heldout_mce) && r.n_undefined_heldout >= 1);

	/* groups without a requested member are NaN, not 0 and not an error */
	p = cparams(bench_only, 1, 0x1, 2);
	REQUIRE(sp_re_corruption_run(sp_env_default(), &s, &mm, &p, NULL, NULL, &r, &err) == SP_OK);
	CHECK(isnan(r.heldout_mce) && isnan(r.heldout_relative_mce));
	CHECK_EQ_INT(r.n_undefined_heldout, 0);
	p = cparams(held_only, 2, 0x10, 2);
	REQUIRE(sp_re_corruption_run(sp_env_default(), &s, &mm, &p, NULL, NULL, &r, &err) == SP_OK);
	CHECK(isnan(r.mce) && isnan(r.relative_mce));
	CHECK_EQ_INT(r.n_undefined_mce, 0);
	CHECK(r.scores[0].held_out && r.scores[1].held_out);
	free_images(imgs, N);
	fixture_free(&f);
}

SP_TEST(robust_eval_perturbations)
{
	enum { N = 6 };
	fixture		f;
	sp_image	imgs[N];
	int32_t		labels[N];
	const int	ps[] = {SP_P_GAUSSIAN_NOISE, SP_P_ROTATE, SP_P_TRANSLATE};
	sp_re_perturbation_params p;
	sp_re_sample s = {imgs, labels, N};
	sp_re_models mm;
	sp_re_perturbation_result *r = malloc(sizeof(*r));
	sp_error	err;
	prog		pr = {0, 0, 0, 1, "", ""};
	tenv		t;
	sp_env		env = make_env(&t);

	REQUIRE(fixture_init(&f, 40));	/* 40 < 2 sequences: batches hold one or two */
	make_images(imgs, labels, N, 6);
	memset(&p, 0, sizeof(p));
	p.perturbations = ps;
	p.nperturbations = 3;
	p.seed = 1;
	p.k = 1;
	p.difficulty = 1;
	p.profile = SP_PROFILE_AUTO;

	/* two models, labels */
	mm = two_models(&f);
	CHECK_EQ_INT(sp_re_perturbation_run(&env, &s, &mm, &p, on_progress, &pr, r, &err), SP_OK);
	CHECK_EQ_INT(r->nscores, 3);
	CHECK_EQ_INT(pr.calls, 1 + N);	/* clean, then one run of one image each */
	CHECK(pr.monotonic);
	CHECK_MSG(strcmp(pr.last, "perturbed images 6 to 6 of 6") == 0, "%s", pr.last);
	CHECK_EQ_INT(r->scores[0].noise, 1);
	CHECK_EQ_INT(r->scores[1].noise, 0);
	CHECK_EQ_INT(r->scores[1].frames, 31);	/* CIFAR-P profile at 28 px */
	CHECK_EQ_INT(r->scores[2].frames, 16);
	for (int i = 0; i < 3; i++)
		for (int m = 0; m < 2; m++)
		{
			CHECK(r->scores[i].fp[m] >= 0 && r->scores[i].fp[m] <= 1);
			CHECK(r->scores[i].ut5d[m] >= 0 && r->scores[i].ut5d[m] <= 6 * NCLS);
		}
	CHECK_EQ_INT(t.live, 0);

	/* a model against itself: FR = T5D = 1 where defined */
	mm = same_model(&f);
	p.difficulty = 2;
	CHECK_EQ_INT(sp_re_perturbation_run(&env, &s, &mm, &p, NULL, NULL, r, &err), SP_OK);
	for (int i = 0; i < 3; i++)
	{
		CHECK(r->scores[i].fp[0] == r->scores[i].fp[1]);
		if (!(r->scores[i].fr_flags & SP_RM_UNDEFINED))
			CHECK(r->scores[i].fr == 1.0);
		if (!(r->scores[i].t5d_flags & SP_RM_UNDEFINED))
			CHECK(r->scores[i].t5d == 1.0);
	}
	if (r->n_undefined_fr == 0)
		CHECK(r->mfr == 1.0);
	else
		CHECK(isnan(r->mfr));
	/* random models flip on noise and rotation: at least one FR defined */
	CHECK(!(r->scores[0].fr_flags & SP_RM_UNDEFINED) || !(r->scores[1].fr_flags & SP_RM_UNDEFINED));

	/* no labels: nearest-image flips, T5D undefined */
	s.labels = NULL;
	mm = two_models(&f);
	CHECK_EQ_INT(sp_re_perturbation_run(&env, &s, &mm, &p, NULL, NULL, r, &err), SP_OK);
	for (int i = 0; i < 3; i++)
	{
		CHECK(r->scores[i].fp[0] >= 0 && r->scores[i].fp[0] <= 1);
		CHECK(isnan(r->scores[i].ut5d[0]) && isnan(r->scores[i].t5d));
		CHECK(r->scores[i].t5d_flags & SP_RM_UNDEFINED);
	}
	CHECK(isnan(r->mt5d));
	CHECK_EQ_INT(t.live, 0);
	free(r);
	free_images(imgs, N);
	fixture_free(&f);
}

/*
 * The per-image steps a distributed report runs, taken out of order (images
 * evaluated last to first, each node building its own prototypes from the
 * gallery) and added in sample order, give the whole run's result bit for
 * bit: a sequence's verdicts depend on nothing but its image, its index, the
 * gallery and the parameters.
 */
SP_TEST(robust_eval_perturbation_by_image)
{
	enum { N = 6, P = 3 };
	fixture		f;
	sp_image	imgs[N];
	int32_t		labels[N];
	const int	ps[P] = {SP_P_SPECKLE_NOISE, SP_P_SCALE, SP_P_BRIGHTNESS};
	sp_re_perturbation_params p;
	sp_re_sample s = {imgs, labels, N};
	sp_re_models mm;
	sp_re_perturbation_result *whole = malloc(sizeof(*whole)),
			   *parts = malloc(sizeof(*parts));
	sp_re_perturbation_acc *acc = malloc(sizeof(*acc));
	sp_re_pcell cells[N][P];
	sp_error	err;

	REQUIRE(fixture_init(&f, 8));
	make_images(imgs, labels, N, 4);
	memset(&p, 0, sizeof(p));
	p.perturbations = ps;
	p.nperturbations = P;
	p.seed = 11;
	p.k = 1;
	p.difficulty = 2;
	p.profile = SP_PROFILE_AUTO;
	for (int lab = 0; lab < 2; lab++)
	{
		float	   *clean[2];
		sp_re_gallery g;
		sp_re_prototypes protos;

		mm = two_models(&f);
		s.labels = lab ? labels : NULL;
		REQUIRE(sp_re_perturbation_run(sp_env_default(), &s, &mm, &p, NULL, NULL, whole, &err) == SP_OK);
		for (int m = 0; m < 2; m++)
			clean[m] = malloc(sizeof(float) * N * sp_nn_model_dim(mm.model[m]));
		for (int i = 0; i < N; i++)
		{
			float	   *out[2] = {clean[0] + i * sp_nn_model_dim(mm.model[0]),
			clean[1] + i * sp_nn_model_dim(mm.model[1])};

			REQUIRE(sp_re_clean_embed(sp_env_default(), &mm, &imgs[i], i, out, &err) == SP_OK);
		}
		g.clean[0] = clean[0];
		g.clean[1] = clean[1];
		g.labels = s.labels;
		g.n = N;
		for (int i = N - 1; i >= 0; i--)
		{
			REQUIRE(sp_re_prototypes_build(sp_env_default(), &mm, &g, &protos, &err) == SP_OK);
			CHECK_EQ_INT(protos.ncls, lab ? NCLS < N ? NCLS : N : 0);
			REQUIRE(sp_re_perturbation_image(sp_env_default(), &mm, &imgs[i], i, &g, &protos, &p, cells[i],
											 &err) == SP_OK);
			sp_re_prototypes_free(sp_env_default(), &protos);
		}
		sp_re_perturbation_acc_init(acc);
		for (int i = 0; i < N; i++)
			sp_re_perturbation_acc_add(acc, &p, cells[i]);
		REQUIRE(sp_re_perturbation_finish(&p, acc, N, lab, parts, &err) == SP_OK);
		CHECK_EQ_INT(parts->nscores, P);
		for (int q = 0; q < P; q++)
		{
			const sp_re_perturbation_score *a = &whole->scores[q],
					   *b = &parts->scores[q];

			CHECK(a->frames == b->frames && a->frames > 1);
			for (int m = 0; m < 2; m++)
			{
				CHECK(a->fp[m] == b->fp[m]);
				CHECK((isnan(a->ut5d[m]) && isnan(b->ut5d[m])) || a->ut5d[m] == b->ut5d[m]);
			}
		}
		CHECK((isnan(whole->mfr) && isnan(parts->mfr)) || whole->mfr == parts->mfr);
		CHECK((isnan(whole->mt5d) && isnan(parts->mt5d)) || whole->mt5d == parts->mt5d);
		CHECK(lab || isnan(parts->mt5d));
		/* a short accumulator is refused, not averaged over the wrong count */
		CHECK_EQ_INT(sp_re_perturbation_finish(&p, acc, N + 1, lab, parts, &err), SP_ERR_INTERNAL);
		/* a sample index outside the gallery is refused */
		CHECK_EQ_INT(sp_re_perturbation_image(sp_env_default(), &mm, &imgs[0], N, &g, &protos, &p, cells[0], &err),
					 SP_ERR_INVALID_ARG);
		free(clean[0]);
		free(clean[1]);
	}
	free(whole);
	free(parts);
	free(acc);
	free_images(imgs, N);
	fixture_free(&f);
}

/*
 * One perturbation cell recomputed by hand: the rotate sequence of one
 * image generated with the report's seed, its frames embedded, each frame's
 * classes ranked by the model's distance to the class prototypes (nearest
 * first), and the top-5 distance of that ranking (six classes).  The report's cell must
 * equal it, and ranking farthest first must give another value (so the
 * check sees the direction).
 */
SP_TEST(robust_eval_perturbation_cell_by_hand)
{
	enum { N = 12, NC = 6, MAXF = 64 };
	fixture		f;
	sp_image	imgs[N];
	int32_t		labels[N];
	const int	ps[1] = {SP_P_ROTATE};
	sp_re_perturbation_params p;
	sp_re_models mm;
	sp_re_gallery g;
	sp_re_prototypes protos;
	sp_re_pcell cell;
	sp_error	err;
	const int	img = 2;
	int			differs = 0;
	float	   *clean[2];

	REQUIRE(fixture_init(&f, MAXF));
	make_images(imgs, labels, N, 8);
	/* six classes: top-5 distances need more than five classes to tell rankings apart */
	for (int i = 0; i < N; i++)
		labels[i] = i % NC;
	memset(&p, 0, sizeof(p));
	p.perturbations = ps;
	p.nperturbations = 1;
	p.seed = 3;
	p.k = 1;
	p.difficulty = 1;
	p.profile = SP_PROFILE_AUTO;
	mm = two_models(&f);
	for (int m = 0; m < 2; m++)
		clean[m] = malloc(sizeof(float) * N * sp_nn_model_dim(mm.model[m]));
	for (int i = 0; i < N; i++)
	{
		float	   *out[2] = {clean[0] + i * sp_nn_model_dim(mm.model[0]), clean[1] + i * sp_nn_model_dim(mm.model[1])};

		REQUIRE(sp_re_clean_embed(sp_env_default(), &mm, &imgs[i], i, out, &err) == SP_OK);
	}
	g.clean[0] = clean[0];
	g.clean[1] = clean[1];
	g.labels = labels;
	g.n = N;
	REQUIRE(sp_re_prototypes_build(sp_env_default(), &mm, &g, &protos, &err) == SP_OK);
	REQUIRE(protos.ncls == NC);
	REQUIRE(sp_re_perturbation_image(sp_env_default(), &mm, &imgs[img], img, &g, &protos, &p, &cell, &err) == SP_OK);

	{
		sp_image   *frames;
		int			len;

		REQUIRE(sp_perturb_sequence(sp_env_default(), &imgs[img], "rotate",
									sp_re_item_seed(p.seed, img, 1000 + SP_P_ROTATE, p.difficulty),
									p.profile, p.difficulty, &frames, &len, &err) == SP_OK);
		REQUIRE(len == cell.frames && len <= MAXF);
		for (int m = 0; m < 2; m++)
		{
			int			dim = sp_nn_model_dim(mm.model[m]);
			sp_distance_kind kind = sp_nn_model_config(mm.model[m])->distance;
			float	   *emb = malloc(sizeof(float) * (size_t) len * dim);
			float	   *values = malloc(sizeof(float) * (size_t) len * NC);
			double		nearest_first,
						farthest_first;

			REQUIRE(sp_nn_embed_images(sp_env_default(), mm.model[m], mm.ws[m], frames, len, emb, &err) == SP_OK);
			for (int fr = 0; fr < len; fr++)
				for (int c = 0; c < NC; c++)
				{
					const float *e = emb + (size_t) fr * dim,
							   *pc = protos.proto[m] + (size_t) c * dim;

					values[fr * NC + c] = kind == SP_DISTANCE_L2 ?
						(float) sqrt(sp_dist_l2sq(e, pc, (size_t) dim)) :
						(float) sp_dist_rank(kind, e, pc, (size_t) dim);
				}
			REQUIRE(sp_rm_top5_distance(sp_env_default(), values, 1, len, NC, 0, 0, p.difficulty,
										&nearest_first, &err) == SP_OK);
			REQUIRE(sp_rm_top5_distance(sp_env_default(), values, 1, len, NC, 1, 0, p.difficulty,
										&farthest_first, &err) == SP_OK);
			CHECK_MSG(cell.ut5d[m] == nearest_first, "model %d: cell %.9g, by hand %.9g", m, cell.ut5d[m],
					  nearest_first);
			differs |= nearest_first != farthest_first;
			free(emb);
			free(values);
		}
		sp_perturb_free_frames(sp_env_default(), frames, len);
	}
	CHECK_MSG(differs, "ranking nearest first and farthest first agree: the fixture cannot see the direction");
	sp_re_prototypes_free(sp_env_default(), &protos);
	free(clean[0]);
	free(clean[1]);
	free_images(imgs, N);
	fixture_free(&f);
}

SP_TEST(robust_eval_bad_params)
{
	enum { N = 4 };
	fixture		f;
	sp_image	imgs[N];
	int32_t		labels[N];
	const int	cs[] = {SP_C_FOG};
	const int	dup[] = {SP_C_FOG, SP_C_SNOW, SP_C_FOG};
	const int	bad[] = {SP_C_COUNT};
	const int	pdup[] = {SP_P_ROTATE, SP_P_ROTATE};
	int			many[65];
	const int	pbad[] = {SP_P_COUNT};
	sp_re_sample s = {imgs, labels, N};
	sp_re_models mm;
	sp_re_corruption_params p;
	sp_re_perturbation_params q;
	sp_re_corruption_result *r = malloc(sizeof(*r));
	sp_re_perturbation_result *rp = malloc(sizeof(*rp));
	sp_error	err;
	const sp_env *env = sp_env_default();

	REQUIRE(fixture_init(&f, 4));
	mm = two_models(&f);
	make_images(imgs, labels, N, 7);
	for (int i = 0; i < 65; i++)
		many[i] = i % SP_P_COUNT;

#define BAD_C(expr) do { p = cparams(cs, 1, 0x1f, 0); expr; \
		CHECK_EQ_INT(sp_re_corruption_run(env, &s, &mm, &p, NULL, NULL, r, &err), SP_ERR_INVALID_ARG); \
		CHECK(err.message[0] != 0); CHECK(isnan(r->mce) && r->nscores == 0); } while (0)
	BAD_C(s.n = 1);
	s.n = N;
	BAD_C(s.n = SP_RE_MAX_IMAGES + 1);
	s.n = N;
	BAD_C(p.k = 0);
	BAD_C(p.k = SP_RM_MAX_K + 1);
	BAD_C(p.corruptions = dup; p.ncorruptions = 3);
	CHECK(strstr(err.message, "twice") != NULL);
	BAD_C(p.corruptions = bad);
	BAD_C(p.ncorruptions = 0);
	BAD_C(p.corruptions = NULL);
	BAD_C(p.sev_mask = 0);
	BAD_C(p.sev_mask = 0x20);
	BAD_C(p.profile = (sp_corrupt_profile) 9);
	BAD_C(labels[2] = -1);
	CHECK(strstr(err.message, "sample image 2") != NULL);
	labels[2] = 2;
	/* a workspace of the wrong model */
	BAD_C(mm.ws[1] = f.ws_cnn);
	mm = two_models(&f);
	BAD_C(mm.model[0] = NULL);
	mm = two_models(&f);
	CHECK_EQ_INT(sp_re_corruption_run(env, NULL, &mm, &p, NULL, NULL, r, &err), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_re_corruption_run(env, &s, &mm, NULL, NULL, NULL, r, &err), SP_ERR_INVALID_ARG);
	CHECK_EQ_INT(sp_re_corruption_run(env, &s, &mm, &p, NULL, NULL, NULL, &err), SP_ERR_INVALID_ARG);

	memset(&q, 0, sizeof(q));
#define BAD_P(expr) do { q.perturbations = cs; q.nperturbations = 1; q.k = 1; q.difficulty = 1; \
		expr; \
		CHECK_EQ_INT(sp_re_perturbation_run(env, &s, &mm, &q, NULL, NULL, rp, &err), SP_ERR_INVALID_ARG); \
		CHECK(err.message[0] != 0); CHECK(rp->nscores == 0 && isnan(rp->mfr)); } while (0)
	BAD_P(q.perturbations = pdup; q.nperturbations = 2);
	BAD_P(q.perturbations = pbad);
	BAD_P(q.perturbations = many; q.nperturbations = 65);
	BAD_P(q.nperturbations = 0);
	BAD_P(q.difficulty = 0);
	BAD_P(q.difficulty = 4);
	BAD_P(q.k = 0);
	BAD_P(s.n = 1);
	s.n = N;
	BAD_P(labels[0] = -5);
	labels[0] = 0;

	/* a corruption failure names the image: a 2-channel image cannot be corrupted */
	{
		sp_image	keep = imgs[1];
		uint8_t    *px = calloc(28 * 28 * 2, 1);

		imgs[1].channels = 2;
		imgs[1].pixels = px;
		p = cparams(cs, 1, 0x1, 0);
		CHECK(sp_re_corruption_run(env, &s, &mm, &p, NULL, NULL, r, &err) != SP_OK);
		CHECK_MSG(strstr(err.detail, "sample image 1") != NULL, "%s / %s", err.message, err.detail);
		free(px);
		imgs[1] = keep;
	}
	free(r);
	free(rp);
	free_images(imgs, N);
	fixture_free(&f);
}

/* interrupt at many points of both runs: clean SP_ERR_INTERRUPTED, no leak */
SP_TEST(robust_eval_interrupt)
{
	enum { N = 4 };
	fixture		f;
	sp_image	imgs[N];
	int32_t		labels[N];
	const int	cs[] = {SP_C_SHOT_NOISE, SP_C_FOG};
	const int	ps[] = {SP_P_GAUSSIAN_NOISE, SP_P_TRANSLATE};
	sp_re_sample s = {imgs, labels, N};
	sp_re_models mm;
	sp_re_corruption_params p = cparams(cs, 2, 0x3, 1);
	sp_re_perturbation_params q;
	sp_re_corruption_result *r = malloc(sizeof(*r));
	sp_re_perturbation_result *rp = malloc(sizeof(*rp));
	sp_error	err;
	tenv		t;
	sp_env		env = make_env(&t);
	long		total_c,
				total_p;
	int			interrupted = 0;

	REQUIRE(fixture_init(&f, 4));
	mm = two_models(&f);
	make_images(imgs, labels, N, 8);
	memset(&q, 0, sizeof(q));
	q.perturbations = ps;
	q.nperturbations = 2;
	q.k = 1;
	q.difficulty = 1;

	/* count the polls of a full run, then interrupt at spread-out points */
	REQUIRE(sp_re_corruption_run(&env, &s, &mm, &p, NULL, NULL, r, &err) == SP_OK);
	total_c = t.polls;
	t.polls = 0;
	REQUIRE(sp_re_perturbation_run(&env, &s, &mm, &q, NULL, NULL, rp, &err) == SP_OK);
	total_p = t.polls;
	CHECK(total_c > 10 && total_p > 10);
	for (int k = 0; k < 8; k++)
	{
		t.polls = 0;
		t.polls_left = k * total_c / 8;
		CHECK_EQ_INT(sp_re_corruption_run(&env, &s, &mm, &p, NULL, NULL, r, &err), SP_ERR_INTERRUPTED);
		CHECK_EQ_INT(t.live, 0);
		CHECK(r->nscores == 0 && isnan(r->errors[0].clean));
		t.polls = 0;
		t.polls_left = k * total_p / 8;
		CHECK_EQ_INT(sp_re_perturbation_run(&env, &s, &mm, &q, NULL, NULL, rp, &err), SP_ERR_INTERRUPTED);
		CHECK_EQ_INT(t.live, 0);
		interrupted++;
	}
	CHECK_EQ_INT(interrupted, 8);
	/* the same, one model in both roles (shared buffers) */
	mm = same_model(&f);
	t.polls_left = -1;
	t.polls = 0;
	REQUIRE(sp_re_corruption_run(&env, &s, &mm, &p, NULL, NULL, r, &err) == SP_OK);
	total_c = t.polls;
	t.polls = 0;
	REQUIRE(sp_re_perturbation_run(&env, &s, &mm, &q, NULL, NULL, rp, &err) == SP_OK);
	total_p = t.polls;
	for (int k = 1; k < 4; k++)
	{
		t.polls_left = k * total_c / 4;
		CHECK_EQ_INT(sp_re_corruption_run(&env, &s, &mm, &p, NULL, NULL, r, &err), SP_ERR_INTERRUPTED);
		CHECK_EQ_INT(t.live, 0);
		t.polls_left = k * total_p / 4;
		CHECK_EQ_INT(sp_re_perturbation_run(&env, &s, &mm, &q, NULL, NULL, rp, &err), SP_ERR_INTERRUPTED);
		CHECK_EQ_INT(t.live, 0);
	}
	free(r);
	free(rp);
	free_images(imgs, N);
	fixture_free(&f);
}

/*
 * Images of different sizes: the models resize, AUTO resolves per image, so
 * a 28 px image gets the CIFAR-P translate sequence (16 frames) and a 64 px
 * one the Tiny-ImageNet-P one (31 frames) within the same run.
 */
SP_TEST(robust_eval_mixed_sizes)
{
	enum { N = 4 };
	fixture		f;
	sp_image	imgs[N];
	int32_t		labels[N];
	const int	cs[] = {SP_C_BRIGHTNESS};
	const int	ps[] = {SP_P_TRANSLATE};
	sp_re_sample s = {imgs, labels, N};
	sp_re_models mm;
	sp_re_corruption_params p = cparams(cs, 1, 0x2, 4);
	sp_re_perturbation_params q;
	sp_re_corruption_result *r = malloc(sizeof(*r));
	sp_re_perturbation_result *rp = malloc(sizeof(*rp));
	sp_error	err;
	uint64_t	seed = 3;

	REQUIRE(fixture_init(&f, 8));
	mm = two_models(&f);
	make_images(imgs, labels, N, 9);
	free(imgs[2].pixels);
	imgs[2].width = imgs[2].height = 64;
	imgs[2].pixels = malloc(64 * 64);
	for (int i = 0; i < 64 * 64; i++)
		imgs[2].pixels[i] = (uint8_t) (tu_next(&seed) & 0xff);
	CHECK_EQ_INT(sp_re_corruption_run(sp_env_default(), &s, &mm, &p, NULL, NULL, r, &err), SP_OK);
	CHECK(!isnan(r->errors[0].err[SP_C_BRIGHTNESS][1]));
	memset(&q, 0, sizeof(q));
	q.perturbations = ps;
	q.nperturbations = 1;
	q.k = 1;
	q.difficulty = 3;
	CHECK_EQ_INT(sp_re_perturbation_run(sp_env_default(), &s, &mm, &q, NULL, NULL, rp, &err), SP_OK);
	CHECK_EQ_INT(rp->scores[0].frames, 16);
	CHECK(rp->scores[0].fp[0] >= 0 && rp->scores[0].fp[0] <= 1);
	free(r);
	free(rp);
	free_images(imgs, N);
	fixture_free(&f);
}

/* the pixels baseline declared "cosine": unnormalised embeddings, so cosine and L2 rank differently */
static const char *cfg_pix_cosine =
"{\"name\":\"re_pix_cos\",\"format_version\":1,"
"\"input\":{\"channels\":1,\"height\":28,\"width\":28,\"mean\":[0.3],\"std\":[0.3]},"
"\"layers\":[{\"type\":\"avgpool\",\"kernel\":2},{\"type\":\"flatten\"}],"
"\"embedding_dim\":196,\"distance\":\"cosine\"}";

/*
 * Each model's errors are ranked by its own distance (the one classify and
 * pair_distance use), not always by L2: a "cosine" model with unnormalised
 * embeddings against the same network declared "l2".  Every cell equals the
 * k-NN error recomputed by hand with that model's distance, and for this
 * fixture at least one cell differs between the two distances (before, both
 * were ranked by L2 and so were equal).
 */
SP_TEST(robust_eval_ranks_by_model_distance)
{
	enum { N = 12 };
	fixture		f;
	sp_nn_model *cos_model;
	sp_nn_workspace *cos_ws;
	uint8_t    *w_cos;
	size_t		len;
	sp_image	imgs[N],
				cor[N];
	int32_t		labels[N],
				self[N];
	const int	cs[] = {SP_C_CONTRAST, SP_C_BRIGHTNESS};
	sp_re_corruption_params p = cparams(cs, 2, 0x1f, 5);
	sp_re_sample s = {imgs, labels, N};
	sp_re_models mm;
	sp_re_corruption_result r;
	sp_error	err;
	int			differ = 0;

	REQUIRE(fixture_init(&f, 4));
	cos_model = tu_make_model(cfg_pix_cosine, 6, 0, &w_cos, &len);
	REQUIRE(cos_model);
	REQUIRE(sp_nn_workspace_create(sp_env_default(), cos_model, 4, &cos_ws, &err) == SP_OK);
	mm.model[SP_RE_MODEL] = cos_model;
	mm.ws[SP_RE_MODEL] = cos_ws;
	mm.model[SP_RE_BASELINE] = f.pix;
	mm.ws[SP_RE_BASELINE] = f.ws_pix;
	make_images(imgs, labels, N, 21);
	/* vary the brightness so that the norms differ within a class */
	for (int i = 0; i < N; i++)
		for (int j = 0; j < 28 * 28; j++)
			imgs[i].pixels[j] = (uint8_t) (imgs[i].pixels[j] * (4 + i % 5) / 8);
	REQUIRE(sp_re_corruption_run(sp_env_default(), &s, &mm, &p, NULL, NULL, &r, &err) == SP_OK);
	for (int i = 0; i < N; i++)
		self[i] = i;
	for (int c = 0; c < 2; c++)
		for (int sev = 1; sev <= 5; sev++)
		{
			int			dim = sp_nn_model_dim(cos_model);
			float	   *clean = malloc(sizeof(float) * N * dim);
			float	   *q = malloc(sizeof(float) * N * dim);
			int64_t		wrong_cos,
						wrong_l2;

			for (int i = 0; i < N; i++)
				REQUIRE(sp_corrupt_by_id(sp_env_default(), &imgs[i], cs[c], sev,
										 sp_re_item_seed(5, i, cs[c], sev), SP_PROFILE_AUTO, &cor[i],
										 &err) == SP_OK);
			REQUIRE(sp_nn_embed_images(sp_env_default(), cos_model, cos_ws, imgs, N, clean, &err) == SP_OK);
			REQUIRE(sp_nn_embed_images(sp_env_default(), cos_model, cos_ws, cor, N, q, &err) == SP_OK);
			REQUIRE(sp_rm_knn_error(sp_env_default(), clean, labels, N, q, labels, self, N, dim, 1,
									SP_DISTANCE_COSINE, &wrong_cos, NULL, &err) == SP_OK);
			REQUIRE(sp_rm_knn_error(sp_env_default(), clean, labels, N, q, labels, self, N, dim, 1,
									SP_DISTANCE_L2, &wrong_l2, NULL, &err) == SP_OK);
			CHECK_NEAR(r.errors[SP_RE_MODEL].err[cs[c]][sev - 1], (double) wrong_cos / N, 1e-15);
			/* the baseline is the same network declared l2: its cells are the L2 errors */
			CHECK_NEAR(r.errors[SP_RE_BASELINE].err[cs[c]][sev - 1], (double) wrong_l2 / N, 1e-15);
			differ += wrong_cos != wrong_l2;
			free_images(cor, N);
			free(clean);
			free(q);
		}
	CHECK_MSG(differ > 0, "cosine and L2 rank alike on every cell: the fixture does not discriminate");
	free_images(imgs, N);
	sp_nn_workspace_free(sp_env_default(), cos_ws);
	sp_nn_model_free(sp_env_default(), cos_model);
	free(w_cos);
	fixture_free(&f);
}
