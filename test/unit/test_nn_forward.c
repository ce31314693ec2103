/*
 * test_nn_forward.c: the batched inference forward pass against a naive
 * direct-convolution reference (random weights, several layer configs with
 * stride 1/2 and padding 0/1/2), batch-norm folding, batch-size invariance,
 * chunking beyond max_batch, embed_images, and model hash; the direct
 * channels-last convolution path (every ISA the CPU has) against the im2col
 * path and the naive reference on odd shapes, NaN handling, path choice.
 */
#include "unit.h"
#include "test_nn_util.h"
#include "nn/nn_layers.h"
#include "util/hash.h"
#include "vector/distance.h"

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

/* residual connections: a block of conv + BN + ReLU + conv + BN around a skip, one nested, one after flatten */
static const char *cfg_res =
"{\"name\":\"res\",\"format_version\":1,"
"\"input\":{\"channels\":1,\"height\":8,\"width\":8},"
"\"layers\":["
"{\"type\":\"conv2d\",\"name\":\"c0\",\"in\":1,\"out\":4,\"kernel\":3,\"padding\":1},"
"{\"type\":\"relu\"},"
"{\"type\":\"skip\"},"
"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":4,\"out\":4,\"kernel\":3,\"padding\":1},"
"{\"type\":\"batchnorm\",\"name\":\"b1\"},"
"{\"type\":\"relu\"},"
"{\"type\":\"skip\"},"
"{\"type\":\"conv2d\",\"name\":\"c2\",\"in\":4,\"out\":4,\"kernel\":1},"
"{\"type\":\"add\"},"
"{\"type\":\"conv2d\",\"name\":\"c3\",\"in\":4,\"out\":4,\"kernel\":3,\"padding\":1},"
"{\"type\":\"batchnorm\",\"name\":\"b3\"},"
"{\"type\":\"add\"},"
"{\"type\":\"relu\"},"
"{\"type\":\"avgpool\",\"kernel\":4},"
"{\"type\":\"flatten\"},"
"{\"type\":\"skip\"},"
"{\"type\":\"linear\",\"name\":\"fc\",\"in\":16,\"out\":16},"
"{\"type\":\"add\"},"
"{\"type\":\"l2norm\"}],"
"\"embedding_dim\":16}";

static double
check_against_reference(const char *config, uint64_t seed, int batch, int max_batch, int flags)
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
		sp_nn_workspace_create(sp_env_default(), m, max_batch, &ws, &err) != SP_OK)
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
	const char *cfgs[4] = {cfg_a, cfg_b, cfg_c, cfg_res};

	sp_blas_set_threads(1);
	for (int c = 0; c < 4; c++)
	{
		double		d1 = check_against_reference(cfgs[c], 11 + c, 1, 1, 0);
		double		d2 = check_against_reference(cfgs[c], 21 + c, 9, 4, 0);

		CHECK_MSG(d1 < 1e-4, "config %d batch 1: %g", c, d1);
		CHECK_MSG(d2 < 1e-4, "config %d batch 9 chunks: %g", c, d2);
	}
}

SP_TEST(nn_forward_reference_cnn_vs_naive)
{
	double		d = check_against_reference(tu_ref_cnn_config, 5, 3, 3, 0);

	CHECK_MSG(d < 1e-4, "%g", d);
}

/*
 * Batch norm after a convolution is folded into it by the graph's passes;
 * the others (before the first layer, after a ReLU, after a linear layer)
 * stay BatchNormalization nodes.  That both give the unfolded arithmetic is
 * nn_forward_vs_naive's business.
 */
static const char *
graph_ops(const sp_nn_model *m, char *buf, size_t len)
{
	sp_graph_op_summary(m->graph, buf, len);
	return buf;
}

SP_TEST(nn_bn_folded_into_conv)
{
	sp_nn_model *ma = tu_make_model(cfg_a, 77, 0, NULL, NULL);
	sp_nn_model *mb = tu_make_model(cfg_b, 77, 0, NULL, NULL);
	sp_nn_workspace *wa;
	sp_error	err;
	char		ops[256];
	float		in[12 * 12] = {0},
				out[7];

	REQUIRE(ma && mb);
	/* cfg_a: bn1 follows conv c1 (folded), bn2 follows linear fc1 (kept) */
	sp_nn_model_ops(ma, ops, sizeof ops);
	CHECK_MSG(strstr(ops, "batchnorm x2") != NULL, "%s", ops);	/* format 1 lists its layers */
	CHECK_MSG(strstr(graph_ops(ma, ops, sizeof ops), "BatchNormalization x1") != NULL, "%s", ops);
	/* cfg_b: bn0 on the input and bn3 after a ReLU stay; bn2 after c2 is folded */
	CHECK_MSG(strstr(graph_ops(mb, ops, sizeof ops), "BatchNormalization x2") != NULL, "%s", ops);
	/* a workspace belongs to its model */
	REQUIRE(sp_nn_workspace_create(sp_env_default(), mb, 1, &wa, &err) == SP_OK);
	CHECK(sp_nn_forward(ma, wa, in, 1, out, &err) == SP_ERR_INVALID_ARG);
	sp_nn_workspace_free(sp_env_default(), wa);
	sp_nn_model_free(sp_env_default(), ma);
	sp_nn_model_free(sp_env_default(), mb);
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
	REQUIRE(sp_nn_workspace_create(sp_env_default(), m, 7, &ws7, &err) == SP_OK);
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
	REQUIRE(sp_nn_workspace_create(&env, m, 8, &ws, &err) == SP_OK);
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
	sp_sha256(million, sizeof(million), h);
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

/* ---------------------------------------------------------------------- */
/* The direct channels-last convolution path (nn_conv_direct.c) against the
 * im2col path and the naive reference, for every ISA this CPU runs. */

/* odd sizes: RGB 13x31 (tile tails), even kernel, O not a multiple of 16,
 * padded maxpool, stride 3, avgpool */
static const char *cfg_odd =
"{\"name\":\"odd\",\"format_version\":1,"
"\"input\":{\"channels\":3,\"height\":13,\"width\":31,\"mean\":[0.1,0.2,0.3],\"std\":[0.5,0.6,0.7]},"
"\"layers\":["
"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":3,\"out\":5,\"kernel\":3,\"stride\":1,\"padding\":1},"
"{\"type\":\"relu\"},"
"{\"type\":\"conv2d\",\"name\":\"c2\",\"in\":5,\"out\":20,\"kernel\":2,\"stride\":1,\"padding\":0},"
"{\"type\":\"maxpool\",\"kernel\":3,\"stride\":2,\"padding\":1},"
"{\"type\":\"conv2d\",\"name\":\"c3\",\"in\":20,\"out\":17,\"kernel\":3,\"stride\":3,\"padding\":1},"
"{\"type\":\"relu\"},"
"{\"type\":\"avgpool\",\"kernel\":2,\"stride\":1},"
"{\"type\":\"flatten\"},"
"{\"type\":\"linear\",\"name\":\"fc\",\"in\":68,\"out\":10}],"
"\"embedding_dim\":10}";

/* wide rows, 5x5 kernel padding 2, O = 48, a 1x1 convolution, BN after it */
static const char *cfg_wide =
"{\"name\":\"wide\",\"format_version\":1,"
"\"input\":{\"channels\":1,\"height\":5,\"width\":47},"
"\"layers\":["
"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":48,\"kernel\":5,\"stride\":1,\"padding\":2},"
"{\"type\":\"relu\"},"
"{\"type\":\"conv2d\",\"name\":\"c2\",\"in\":48,\"out\":16,\"kernel\":1},"
"{\"type\":\"batchnorm\",\"name\":\"bn2\"},"
"{\"type\":\"relu\"},"
"{\"type\":\"maxpool\",\"kernel\":2},"
"{\"type\":\"flatten\"},"
"{\"type\":\"linear\",\"name\":\"fc\",\"in\":736,\"out\":12},"
"{\"type\":\"l2norm\"}],"
"\"embedding_dim\":12}";

/* pools straight on the input image (channel stride 3: the scalar pool) */
static const char *cfg_pool_first =
"{\"name\":\"pool_first\",\"format_version\":1,"
"\"input\":{\"channels\":3,\"height\":9,\"width\":8},"
"\"layers\":["
"{\"type\":\"avgpool\",\"kernel\":3,\"stride\":1,\"padding\":1},"
"{\"type\":\"maxpool\",\"kernel\":2},"
"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":3,\"out\":16,\"kernel\":3,\"padding\":1},"
"{\"type\":\"relu\"},"
"{\"type\":\"flatten\"},"
"{\"type\":\"linear\",\"name\":\"fc\",\"in\":256,\"out\":6}],"
"\"embedding_dim\":6}";

/* no convolution at all: the direct path has nothing to do */
static const char *cfg_mlp =
"{\"name\":\"mlp\",\"format_version\":1,"
"\"input\":{\"channels\":1,\"height\":4,\"width\":4},"
"\"layers\":["
"{\"type\":\"flatten\"},"
"{\"type\":\"linear\",\"name\":\"fc1\",\"in\":16,\"out\":8},{\"type\":\"relu\"},"
"{\"type\":\"linear\",\"name\":\"fc2\",\"in\":8,\"out\":2}],"
"\"embedding_dim\":2}";

/* im2col, then direct with Winograd where it applies, then direct only */
#define N_PATHS 5
static const int all_paths[N_PATHS] = {
	SP_ISA_SCALAR, SP_ISA_AVX2, SP_ISA_AVX512,
	SP_ISA_AVX2 | SP_NN_DIRECT_NO_WINOGRAD, SP_ISA_AVX512 | SP_NN_DIRECT_NO_WINOGRAD
};

/* odd output sizes for Winograd's 2x2 tiles: 9x13, channels 16 -> 20 -> 24 */
static const char *cfg_wino_odd =
"{\"name\":\"wino_odd\",\"format_version\":1,"
"\"input\":{\"channels\":1,\"height\":9,\"width\":13},"
"\"layers\":["
"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":16,\"kernel\":3,\"padding\":1},"
"{\"type\":\"relu\"},"
"{\"type\":\"conv2d\",\"name\":\"c2\",\"in\":16,\"out\":20,\"kernel\":3,\"padding\":1},"
"{\"type\":\"batchnorm\",\"name\":\"bn2\"},"
"{\"type\":\"relu\"},"
"{\"type\":\"conv2d\",\"name\":\"c3\",\"in\":20,\"out\":24,\"kernel\":3,\"padding\":1},"
"{\"type\":\"maxpool\",\"kernel\":2},"
"{\"type\":\"conv2d\",\"name\":\"c4\",\"in\":24,\"out\":8,\"kernel\":3,\"padding\":1},"
"{\"type\":\"relu\"},"
"{\"type\":\"flatten\"},"
"{\"type\":\"linear\",\"name\":\"fc\",\"in\":192,\"out\":10}],"
"\"embedding_dim\":10}";

/* Path names of all_paths. */
static const char *
path_name(int isa)
{
	int			base = isa & ~SP_NN_DIRECT_NO_WINOGRAD;

	if (base == SP_ISA_SCALAR)
		return "im2col";
	return base == SP_ISA_AVX2 ? "direct-avx2" : "direct-avx512";
}

/*
 * The model of config under kernel path isa (chosen when a model loads), or
 * NULL when this CPU lacks the ISA.  *w gets the weights.
 */
static sp_nn_model *
model_on_path(const char *config, uint64_t seed, int isa, uint8_t **w, size_t *wlen)
{
	sp_nn_model *m;
	sp_nn_workspace *ws;
	sp_error	err;
	bool		ok;

	sp_nn_set_default_isa(isa);
	m = tu_make_model(config, seed, 0, w, wlen);
	sp_nn_set_default_isa(SP_ISA_AUTO);
	if (!m)
		return NULL;
	ok = sp_nn_workspace_create(sp_env_default(), m, 1, &ws, &err) == SP_OK &&
		strcmp(sp_nn_workspace_path(ws), path_name(isa)) == 0;
	sp_nn_workspace_free(sp_env_default(), ws);
	if (!ok)
	{
		sp_nn_model_free(sp_env_default(), m);
		if (w)
			free(*w);
		return NULL;
	}
	return m;
}

/*
 * Forward batch random images through every path; *vs_ref gets the largest
 * difference to the naive reference, *vs_im2col the largest difference of a
 * direct path to the im2col path (relative to 1 + |value|).  Returns the
 * number of direct paths run.
 */
static int
check_paths(const char *config, uint64_t seed, int batch, int max_batch, double *vs_ref, double *vs_im2col)
{
	sp_safetensors *st = NULL;
	sp_error	err;
	size_t		in_size = 0;
	float	   *in = NULL,
			   *out[N_PATHS] = {NULL};
	double	   *ref = NULL;
	int			dim = 0,
				ran = 0;
	uint64_t	s = seed * 7 + 1;

	*vs_ref = *vs_im2col = 0;
	for (int p = 0; p < N_PATHS; p++)
	{
		uint8_t    *w;
		size_t		wlen;
		sp_nn_model *m = model_on_path(config, seed, all_paths[p], &w, &wlen);
		sp_nn_workspace *ws;

		if (!m)
		{
			if (p == 0)
				return -1;		/* the portable path always exists */
			continue;
		}
		if (p == 0)
		{
			in_size = (size_t) sp_nn_model_input_size(m);
			dim = sp_nn_model_dim(m);
			in = malloc(sizeof(float) * in_size * batch);
			ref = malloc(sizeof(double) * dim);
			tu_fill(&s, in, in_size * batch, -2, 2);
			if (sp_st_read(sp_env_default(), w, wlen, &st, &err) != SP_OK)
				return -1;
		}
		else
			ran++;
		out[p] = malloc(sizeof(float) * dim * batch);
		if (sp_nn_workspace_create(sp_env_default(), m, max_batch, &ws, &err) != SP_OK ||
			sp_nn_forward(m, ws, in, batch, out[p], &err) != SP_OK)
			*vs_ref = 1e9;
		else
			for (int b = 0; b < batch; b++)
			{
				tu_reference_forward(sp_nn_model_config(m), st, in + b * in_size, ref);
				for (int j = 0; j < dim; j++)
				{
					double		d = fabs(ref[j] - out[p][b * dim + j]);

					*vs_ref = isnan(d) ? 1e9 : fmax(*vs_ref, d);
					if (p > 0)
					{
						float		a = out[0][b * dim + j];

						d = fabs(a - out[p][b * dim + j]) / (1 + fabs(a));
						*vs_im2col = isnan(d) ? 1e9 : fmax(*vs_im2col, d);
					}
				}
			}
		sp_nn_workspace_free(sp_env_default(), ws);
		sp_nn_model_free(sp_env_default(), m);
		free(w);
	}
	for (int p = 0; p < N_PATHS; p++)
		free(out[p]);
	free(in);
	free(ref);
	sp_st_free(sp_env_default(), st);
	return ran;
}

SP_TEST(nn_direct_vs_im2col_vs_naive)
{
	const char *cfgs[] = {cfg_odd, cfg_wide, cfg_pool_first, cfg_wino_odd, cfg_a, cfg_b, cfg_c, cfg_small_cnn};
	const int	batches[] = {1, 2, 3, 7};
	int			n_direct = 0;

	sp_blas_set_threads(1);
	for (size_t c = 0; c < sizeof(cfgs) / sizeof(cfgs[0]); c++)
		for (size_t bi = 0; bi < sizeof(batches) / sizeof(batches[0]); bi++)
		{
			double		vr,
						vi;
			int			b = batches[bi];
			/* max_batch 2 also splits batches into chunks */
			int			ran = check_paths(cfgs[c], 100 + c * 10 + bi, b, bi % 2 ? 2 : 8, &vr, &vi);

			CHECK_MSG(ran >= 0, "config %zu batch %d: setup failed", c, b);
			n_direct += ran > 0;
			CHECK_MSG(vr < 1e-4, "config %zu batch %d: vs naive %g", c, b, vr);
			CHECK_MSG(vi < 1e-5, "config %zu batch %d: direct vs im2col %g", c, b, vi);
		}
#if defined(__x86_64__)
	/* this project's build machines all have AVX2: the direct path really ran */
	if (sp_cpu_supports(SP_ISA_AVX2))
		CHECK(n_direct > 0);
#endif
}

SP_TEST(nn_direct_reference_cnn)
{
	double		vr,
				vi;
	int			ran = check_paths(tu_ref_cnn_config, 3, 2, 2, &vr, &vi);

	CHECK(ran >= 0);
	CHECK_MSG(vr < 1e-4, "vs naive %g", vr);
	CHECK_MSG(vi < 1e-5, "direct vs im2col %g", vi);
}

SP_TEST(nn_direct_path_choice)
{
	sp_nn_model *cnn = tu_make_model(cfg_small_cnn, 1, 0, NULL, NULL);
	sp_nn_model *mlp = tu_make_model(cfg_mlp, 1, 0, NULL, NULL);
	sp_nn_workspace *ws;
	sp_error	err;
	float		in[16] = {0},
				out[2];
	const char *p;

	REQUIRE(cnn && mlp);
	/* a model without convolutions has nothing for the direct kernels */
	REQUIRE(sp_nn_workspace_create(sp_env_default(), mlp, 1, &ws, &err) == SP_OK);
	CHECK(strcmp(sp_nn_workspace_path(ws), "im2col") == 0);
	CHECK(sp_nn_forward(mlp, ws, in, 1, out, &err) == SP_OK);
	sp_nn_workspace_free(sp_env_default(), ws);

	/* models loaded under the default take the best direct ISA the CPU has */
	REQUIRE(sp_nn_workspace_create(sp_env_default(), cnn, 1, &ws, &err) == SP_OK);
	if (sp_cpu_supports(SP_ISA_AVX512))
		CHECK(strcmp(sp_nn_workspace_path(ws), "direct-avx512") == 0);
	else if (sp_cpu_supports(SP_ISA_AVX2))
		CHECK(strcmp(sp_nn_workspace_path(ws), "direct-avx2") == 0);
	else
		CHECK(strcmp(sp_nn_workspace_path(ws), "im2col") == 0);
	/* the kernels are the model's: asking a workspace for others is an error */
	p = sp_nn_workspace_set_path(ws, SP_ISA_AUTO, &err);
	CHECK(p != NULL && strcmp(p, sp_nn_workspace_path(ws)) == 0);
	p = sp_nn_workspace_set_path(ws, SP_ISA_SCALAR, &err);
	CHECK(p == NULL && err.code == SP_ERR_INVALID_ARG);
	sp_nn_workspace_free(sp_env_default(), ws);
	sp_nn_model_free(sp_env_default(), cnn);
	sp_nn_model_free(sp_env_default(), mlp);

	/* a scalar default (siamese.nn.isa = scalar) or an unknown ISA number: portable kernels */
	CHECK((cnn = model_on_path(cfg_small_cnn, 1, SP_ISA_SCALAR, NULL, NULL)) != NULL);
	sp_nn_model_free(sp_env_default(), cnn);
	sp_nn_set_default_isa(42);
	cnn = tu_make_model(cfg_small_cnn, 1, 0, NULL, NULL);
	sp_nn_set_default_isa(SP_ISA_AUTO);
	REQUIRE(cnn);
	REQUIRE(sp_nn_workspace_create(sp_env_default(), cnn, 1, &ws, &err) == SP_OK);
	CHECK(strcmp(sp_nn_workspace_path(ws), "im2col") == 0);
	sp_nn_workspace_free(sp_env_default(), ws);
	sp_nn_model_free(sp_env_default(), cnn);
}

/* NaN and infinity in the input: every path agrees on which outputs are NaN
 * (max pool propagates NaN, ReLU maps it to 0) */
SP_TEST(nn_direct_nan_like_im2col)
{
	static const char *cfg_nan[2] = {
		"{\"name\":\"nan_pool\",\"format_version\":1,"
		"\"input\":{\"channels\":1,\"height\":8,\"width\":8},"
		"\"layers\":["
		"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":16,\"kernel\":1},"
		"{\"type\":\"maxpool\",\"kernel\":2},"
		"{\"type\":\"flatten\"}],"
		"\"embedding_dim\":256}",
		"{\"name\":\"nan_relu\",\"format_version\":1,"
		"\"input\":{\"channels\":1,\"height\":8,\"width\":8},"
		"\"layers\":["
		"{\"type\":\"conv2d\",\"name\":\"c1\",\"in\":1,\"out\":16,\"kernel\":3,\"padding\":1},"
		"{\"type\":\"relu\"},"
		"{\"type\":\"maxpool\",\"kernel\":2},"
		"{\"type\":\"conv2d\",\"name\":\"c2\",\"in\":16,\"out\":16,\"kernel\":1},"
		"{\"type\":\"flatten\"}],"
		"\"embedding_dim\":256}"};

	for (int c = 0; c < 2; c++)
	{
		sp_nn_workspace *ws;
		sp_error	err;
		float		in[64],
					out[N_PATHS][256];
		bool		ran[N_PATHS] = {false};
		uint64_t	s = 3;
		int			n_nan = 0;

		tu_fill(&s, in, 64, -1, 1);
		in[9] = NAN;
		in[30] = INFINITY;
		in[47] = -INFINITY;
		for (int p = 0; p < N_PATHS; p++)
		{
			sp_nn_model *m = model_on_path(cfg_nan[c], 5, all_paths[p], NULL, NULL);

			if (!(ran[p] = m != NULL))
				continue;
			REQUIRE(sp_nn_workspace_create(sp_env_default(), m, 1, &ws, &err) == SP_OK);
			REQUIRE(sp_nn_forward(m, ws, in, 1, out[p], &err) == SP_OK);
			sp_nn_workspace_free(sp_env_default(), ws);
			sp_nn_model_free(sp_env_default(), m);
		}
		REQUIRE(ran[0]);
		for (int j = 0; j < 256; j++)
			n_nan += isnan(out[0][j]);
		/* the pool model shows the NaN pixel (16 channels); in the other one
		 * ReLU zeroes it but inf - inf makes new ones: same set on every path */
		if (c == 0)
			CHECK_MSG(n_nan == 16, "%d NaN", n_nan);
		for (int p = 1; p < N_PATHS; p++)
			if (ran[p])
				for (int j = 0; j < 256; j++)
				{
					CHECK_MSG(isnan(out[p][j]) == isnan(out[0][j]), "config %d path %d output %d: %g vs %g",
							  c, p, j, out[p][j], out[0][j]);
					if (!isnan(out[0][j]))
						CHECK_MSG(out[p][j] == out[0][j] ||
								  fabs(out[p][j] - out[0][j]) < 1e-5 * (1 + fabs(out[0][j])),
								  "config %d path %d output %d: %g vs %g", c, p, j, out[p][j], out[0][j]);
				}
	}
}
