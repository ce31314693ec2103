/*
 * test_nn_forward.c: the batched inference forward pass against a naive
 * direct-convolution reference (random weights, several layer configs with
 * stride 1/2 and padding 0/1/2), batch-norm folding, batch-size invariance,
 * chunking beyond max_batch, embed_images, and model hash.
 */
#include "unit.h"
#include "test_nn_util.h"
#include "nn_layers.h"

#include <stdlib.h>

static const char *cfg_a =
"{\"name\":\"a\",\"format_version\":1,"
"\"input\":{\"channels\":1,\"height\":12,\"width\":12},"
"\"layers\":["
"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":4,\"kernel\":3,\"stride\":1,\"padding\":1},"
"{\"type\":\"batchnorm\",\"name\":\"bn1\"},"
"{\"type\":\"relu\"},"
"{\"type\":\"maxpool\",\"kernel\":2},"
"{\"type\":\"conv2d\",\"name\":\"c2\",\"in\":4,\"out\":6,\"kernel\":3,\"stride\":2,\"padding\":0},"
"{\"type\":\"relu\"},"
"{\"type\":\"conv2d\",\"name\":\"c3\",\"in\":6,\"out\":5,\"kernel\":1},"
"{\"type\":\"avgpool\",\"kernel\":2},"
"{\"type\":\"flatten\"},"
"{\"type\":\"linear\",\"name\":\"fc1\",\"in\":5,\"out\":8},"
"{\"type\":\"batchnorm\",\"name\":\"bn2\"},"
"{\"type\":\"relu\"},"
"{\"type\":\"linear\",\"name\":\"fc2\",\"in\":8,\"out\":7},"
"{\"type\":\"l2norm\"}],"
"\"embedding_dim\":7,\"distance\":\"l2\"}";

/* RGB, non-square, stride 2 padding 2, padded maxpool, conv without bias + BN, standalone BN */
static const char *cfg_b =
"{\"name\":\"b\",\"format_version\":1,"
"\"input\":{\"channels\":3,\"height\":9,\"width\":11,\"mean\":[0.1,0.2,0.3],\"std\":[0.5,0.6,0.7]},"
"\"layers\":["
"{\"type\":\"batchnorm\",\"name\":\"bn0\"},"
"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":3,\"out\":8,\"kernel\":5,\"stride\":2,\"padding\":2},"
"{\"type\":\"relu\"},"
"{\"type\":\"maxpool\",\"kernel\":3,\"stride\":2,\"padding\":1},"
"{\"type\":\"conv2d\",\"name\":\"c2\",\"in\":8,\"out\":4,\"kernel\":3,\"stride\":1,\"padding\":2,\"bias\":false},"
"{\"type\":\"batchnorm\",\"name\":\"bn2\",\"eps\":0.001},"
"{\"type\":\"relu\"},"
"{\"type\":\"batchnorm\",\"name\":\"bn3\"},"
"{\"type\":\"flatten\"},"
"{\"type\":\"linear\",\"name\":\"fc\",\"in\":100,\"out\":16}],"
"\"embedding_dim\":16}";

/* no flatten at all: conv output is the embedding (implicit flatten) */
static const char *cfg_c =
"{\"name\":\"c\",\"format_version\":1,"
"\"input\":{\"channels\":1,\"height\":5,\"width\":5},"
"\"layers\":["
"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":3,\"kernel\":5,\"padding\":0},"
"{\"type\":\"relu\"}],"
"\"embedding_dim\":3}";

static double
check_against_reference(const char *config, uint64_t seed, int batch, int max_batch, int block, int flags)
{
	uint8_t    *w;
	size_t		wlen;
	sp_nn_model *m = tu_make_model(config, seed, flags, &w, &wlen);
	sp_safetensors *st;
	sp_nn_workspace *ws;
	sp_error	err;
	const sp_nn_config *cfg;
	size_t		in_size;
	float	   *in,
			   *out;
	double	   *ref;
	double		maxdiff = 0;
	uint64_t	s = seed + 1;
	int			dim;

	if (!m)
		return 1e9;
	cfg = sp_nn_model_config(m);
	in_size = (size_t) sp_nn_model_input_size(m);
	dim = sp_nn_model_dim(m);
	if (sp_st_read(sp_env_default(), w, wlen, &st, &err) != SP_OK ||
		sp_nn_workspace_create_ex(sp_env_default(), m, max_batch, block, &ws, &err) != SP_OK)
		return 1e9;
	in = malloc(sizeof(float) * in_size * batch);
	out = malloc(sizeof(float) * dim * batch);
	ref = malloc(sizeof(double) * dim);
	tu_fill(&s, in, in_size * batch, -2, 2);
	if (sp_nn_forward(m, ws, in, batch, out, &err) != SP_OK)
		maxdiff = 1e9;
	for (int b = 0; b < batch && maxdiff < 1e9; b++)
	{
		tu_reference_forward(cfg, st, in + b * in_size, ref);
		for (int j = 0; j < dim; j++)
		{
			double		d = fabs(ref[j] - out[b * dim + j]);

			if (d > maxdiff || isnan(d))
				maxdiff = isnan(d) ? 1e9 : d;
		}
	}
	free(in);
	free(out);
	free(ref);
	free(w);
	sp_st_free(sp_env_default(), st);
	sp_nn_workspace_free(sp_env_default(), ws);
	sp_nn_model_free(sp_env_default(), m);
	return maxdiff;
}

SP_TEST(nn_forward_vs_naive)
{
	const char *cfgs[3] = {cfg_a, cfg_b, cfg_c};

	sp_blas_set_threads(1);
	for (int c = 0; c < 3; c++)
	{
		double		d1 = check_against_reference(cfgs[c], 11 + c, 1, 1, 0, 0);
		double		d2 = check_against_reference(cfgs[c], 21 + c, 9, 4, 3, 0);
		double		d3 = check_against_reference(cfgs[c], 31 + c, 5, 8, 0, SP_NN_LOAD_NO_FOLD);

		CHECK_MSG(d1 < 1e-4, "config %d batch 1: %g", c, d1);
		CHECK_MSG(d2 < 1e-4, "config %d batch 9 chunks: %g", c, d2);
		CHECK_MSG(d3 < 1e-4, "config %d unfolded: %g", c, d3);
	}
}

SP_TEST(nn_forward_reference_cnn_vs_naive)
{
	double		d = check_against_reference(tu_ref_cnn_config, 5, 3, 3, 2, 0);

	CHECK_MSG(d < 1e-4, "%g", d);
}

SP_TEST(nn_bn_folding_equals_unfolded)
{
	const char *cfgs[2] = {cfg_a, cfg_b};

	for (int c = 0; c < 2; c++)
	{
		uint8_t    *w;
		size_t		wlen;
		sp_nn_model *mf = tu_make_model(cfgs[c], 77, 0, &w, &wlen);
		sp_nn_model *mu = NULL;
		sp_nn_workspace *wf,
				   *wu;
		sp_error	err;
		float		in[3 * 12 * 12 * 4],
					of[16 * 4],
					ou[16 * 4];
		uint64_t	s = 3;
		int			n = 4;

		REQUIRE(mf);
		REQUIRE(sp_nn_model_load_ex(sp_env_default(), cfgs[c], strlen(cfgs[c]), w, wlen, SP_NN_LOAD_NO_FOLD, &mu, &err) == SP_OK);
		/* folding removes ops */
		CHECK(mf->n_ops < mu->n_ops);
		CHECK(strcmp(sp_nn_model_hash(mf), sp_nn_model_hash(mu)) == 0);
		REQUIRE(sp_nn_workspace_create(sp_env_default(), mf, n, &wf, &err) == SP_OK);
		REQUIRE(sp_nn_workspace_create(sp_env_default(), mu, n, &wu, &err) == SP_OK);
		tu_fill(&s, in, (size_t) sp_nn_model_input_size(mf) * n, -1, 1);
		REQUIRE(sp_nn_forward(mf, wf, in, n, of, &err) == SP_OK);
		REQUIRE(sp_nn_forward(mu, wu, in, n, ou, &err) == SP_OK);
		for (int i = 0; i < n * sp_nn_model_dim(mf); i++)
			CHECK_NEAR(of[i], ou[i], 1e-5);
		/* a workspace belongs to its model */
		CHECK(sp_nn_forward(mf, wu, in, n, of, &err) == SP_ERR_INVALID_ARG);
		sp_nn_workspace_free(sp_env_default(), wf);
		sp_nn_workspace_free(sp_env_default(), wu);
		sp_nn_model_free(sp_env_default(), mf);
		sp_nn_model_free(sp_env_default(), mu);
		free(w);
	}
}

/* the reference CNN's structure at a quarter of the width (fast under valgrind) */
static const char *cfg_small_cnn =
"{\"name\":\"small\",\"format_version\":1,"
"\"input\":{\"channels\":1,\"height\":28,\"width\":28},"
"\"layers\":["
"{\"type\":\"conv2d\",\"name\":\"conv1\",\"in\":1,\"out\":8,\"kernel\":3,\"padding\":1},{\"type\":\"relu\"},"
"{\"type\":\"conv2d\",\"name\":\"conv2\",\"in\":8,\"out\":8,\"kernel\":3,\"padding\":1},{\"type\":\"relu\"},"
"{\"type\":\"maxpool\",\"kernel\":2},"
"{\"type\":\"conv2d\",\"name\":\"conv3\",\"in\":8,\"out\":16,\"kernel\":3,\"padding\":1},{\"type\":\"relu\"},"
"{\"type\":\"conv2d\",\"name\":\"conv4\",\"in\":16,\"out\":16,\"kernel\":3,\"padding\":1},{\"type\":\"relu\"},"
"{\"type\":\"maxpool\",\"kernel\":2},{\"type\":\"flatten\"},"
"{\"type\":\"linear\",\"name\":\"fc\",\"in\":784,\"out\":128},{\"type\":\"l2norm\"}],"
"\"embedding_dim\":128}";

SP_TEST(nn_batch_size_invariance)
{
	sp_nn_model *m = tu_make_model(cfg_small_cnn, 9, 0, NULL, NULL);
	sp_nn_workspace *ws64,
			   *ws1,
			   *ws7;
	sp_error	err;
	const int	n = 64,
				d = 128;
	size_t		isz;
	float	   *in,
			   *o64,
			   *o1,
			   *o7;
	uint64_t	s = 1;
	double		max1 = 0,
				max7 = 0;

	REQUIRE(m);
	isz = (size_t) sp_nn_model_input_size(m);
	in = malloc(sizeof(float) * isz * n);
	o64 = malloc(sizeof(float) * d * n);
	o1 = malloc(sizeof(float) * d * n);
	o7 = malloc(sizeof(float) * d * n);
	tu_fill(&s, in, isz * n, -1, 2);
	REQUIRE(sp_nn_workspace_create(sp_env_default(), m, 64, &ws64, &err) == SP_OK);
	REQUIRE(sp_nn_workspace_create(sp_env_default(), m, 1, &ws1, &err) == SP_OK);
	REQUIRE(sp_nn_workspace_create_ex(sp_env_default(), m, 7, 3, &ws7, &err) == SP_OK);
	REQUIRE(sp_nn_forward(m, ws64, in, n, o64, &err) == SP_OK);
	for (int b = 0; b < n; b++)
		REQUIRE(sp_nn_forward(m, ws1, in + b * isz, 1, o1 + b * d, &err) == SP_OK);
	REQUIRE(sp_nn_forward(m, ws7, in, n, o7, &err) == SP_OK);	/* chunks of 7 */
	for (int i = 0; i < n * d; i++)
	{
		max1 = fmax(max1, fabs(o64[i] - o1[i]));
		max7 = fmax(max7, fabs(o64[i] - o7[i]));
	}
	CHECK_MSG(max1 < 1e-5, "batch 1 vs 64: %g", max1);
	CHECK_MSG(max7 < 1e-5, "batch 7 vs 64: %g", max7);
	/* embeddings are unit length */
	{
		double		ss = 0;

		for (int j = 0; j < d; j++)
			ss += (double) o64[j] * o64[j];
		CHECK_NEAR(ss, 1.0, 1e-5);
	}
	CHECK(sp_nn_forward(m, ws64, in, 0, o64, &err) == SP_OK);
	CHECK(sp_nn_forward(m, ws64, in, -1, o64, &err) == SP_ERR_INVALID_ARG);
	sp_nn_workspace_free(sp_env_default(), ws64);
	sp_nn_workspace_free(sp_env_default(), ws1);
	sp_nn_workspace_free(sp_env_default(), ws7);
	sp_nn_model_free(sp_env_default(), m);
	free(in);
	free(o64);
	free(o1);
	free(o7);
}

static int	interrupt_after;
static int
count_interrupt(void *user)
{
	(void) user;
	return --interrupt_after < 0;
}

SP_TEST(nn_forward_interrupt)
{
	sp_env		env = *sp_env_default();
	sp_nn_model *m = tu_make_model(cfg_a, 1, 0, NULL, NULL);
	sp_nn_workspace *ws;
	sp_error	err;
	float		in[144 * 8],
				out[7 * 8];

	REQUIRE(m);
	env.interrupted = count_interrupt;
	REQUIRE(sp_nn_workspace_create_ex(&env, m, 8, 2, &ws, &err) == SP_OK);
	memset(in, 0, sizeof(in));
	interrupt_after = 2;
	CHECK(sp_nn_forward(m, ws, in, 8, out, &err) == SP_ERR_INTERRUPTED);
	interrupt_after = 1000;
	CHECK(sp_nn_forward(m, ws, in, 8, out, &err) == SP_OK);
	sp_nn_workspace_free(&env, ws);
	sp_nn_model_free(sp_env_default(), m);
}

SP_TEST(nn_embed_images)
{
	sp_nn_model *m = tu_make_model(tu_ref_cnn_config, 4, 0, NULL, NULL);
	sp_nn_workspace *ws;
	sp_error	err;
	sp_image	imgs[3];
	float		direct[3 * 128],
				via[3 * 128];
	float	   *in;
	uint64_t	s = 8;

	REQUIRE(m);
	REQUIRE(sp_nn_workspace_create(sp_env_default(), m, 2, &ws, &err) == SP_OK);
	in = malloc(sizeof(float) * 784 * 3);
	for (int i = 0; i < 3; i++)
	{
		REQUIRE(sp_image_alloc(sp_env_default(), &imgs[i], 28, 28, 1, &err) == SP_OK);
		for (int p = 0; p < 784; p++)
		{
			imgs[i].pixels[p] = (uint8_t) (tu_next(&s) & 255);
			in[i * 784 + p] = ((float) imgs[i].pixels[p] / 255.0f - 0.2860f) / 0.3530f;
		}
	}
	REQUIRE(sp_nn_embed_images(sp_env_default(), m, ws, imgs, 3, via, &err) == SP_OK);
	REQUIRE(sp_nn_forward(m, ws, in, 3, direct, &err) == SP_OK);
	for (int i = 0; i < 3 * 128; i++)
		CHECK_NEAR(via[i], direct[i], 1e-5);
	for (int i = 0; i < 3; i++)
		sp_image_free(sp_env_default(), &imgs[i]);
	free(in);
	sp_nn_workspace_free(sp_env_default(), ws);
	sp_nn_model_free(sp_env_default(), m);
}

SP_TEST(nn_model_hash)
{
	uint8_t    *w;
	size_t		wlen;
	sp_nn_model *m1 = tu_make_model(cfg_a, 5, 0, &w, &wlen);
	sp_nn_model *m2 = NULL;
	sp_error	err;
	char		h1[65];

	REQUIRE(m1);
	strcpy(h1, sp_nn_model_hash(m1));
	CHECK_EQ_INT(strlen(h1), 64);
	REQUIRE(sp_nn_model_load(sp_env_default(), cfg_a, strlen(cfg_a), w, wlen, &m2, &err) == SP_OK);
	CHECK(strcmp(h1, sp_nn_model_hash(m2)) == 0);
	sp_nn_model_free(sp_env_default(), m2);
	w[wlen - 1] ^= 1;			/* one weight bit */
	REQUIRE(sp_nn_model_load(sp_env_default(), cfg_a, strlen(cfg_a), w, wlen, &m2, &err) == SP_OK);
	CHECK(strcmp(h1, sp_nn_model_hash(m2)) != 0);
	sp_nn_model_free(sp_env_default(), m2);
	sp_nn_model_free(sp_env_default(), m1);
	free(w);
}

SP_TEST(nn_sha256_vectors)
{
	uint8_t		h[32];
	char		hex[65];
	sp_sha256_ctx c;
	static char million[1000000];

	sp_sha256("", 0, h);
	sp_hex(h, 32, hex);
	CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
	sp_sha256("abc", 3, h);
	sp_hex(h, 32, hex);
	CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
	sp_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, h);
	sp_hex(h, 32, hex);
	CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
	memset(million, 'a', sizeof(million));
	sp_sha256_init(&c);
	for (int i = 0; i < 1000; i++)
		sp_sha256_update(&c, million + i * 1000, i % 2 ? 999 : 1001);
	sp_sha256_final(&c, h);
	sp_hex(h, 32, hex);
	CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
}

SP_TEST(nn_blas_info)
{
	char		buf[256];

	sp_blas_set_threads(1);
	sp_blas_info(buf, sizeof(buf));
	CHECK(strstr(buf, "core=") != NULL);
	CHECK(strstr(buf, "threads=1") != NULL);
	CHECK(sp_blas_corename() != NULL);
}
