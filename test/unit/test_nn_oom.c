/*
 * test_nn_oom.c: out of memory at every allocation of the model paths.
 *
 * An env whose allocator fails at its k-th call, for k = 1, 2, ... until the
 * operation succeeds: ONNX import, model load (an imported graph and a
 * shipped layer-list model), workspace creation and the forward pass with
 * preprocessing.  Every failing run must return SP_ERR_NOMEM (never another
 * code, never a crash) and leave no allocation behind; the run that finally
 * succeeds must give the same output as an unconstrained one.
 * SP_OOM_VERBOSE=1 prints how many allocations each path has.  (Image
 * decoding has the same sweep in test_image_hostile.c.)
 */
#include "unit.h"
#include "test_nn_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "nn/nn_model.h"

typedef struct oom_env
{
	long		calls;			/* allocations attempted */
	long		fail_at;		/* fail the allocation with this number (1-based); 0 = never */
	long		live;			/* allocations not yet freed */
} oom_env;

static void *
oom_alloc(void *user, size_t size)
{
	oom_env    *o = user;
	void	   *p;

	if (++o->calls == o->fail_at)
		return NULL;
	p = malloc(size ? size : 1);
	if (p)
		o->live++;
	return p;
}

static void
oom_free(void *user, void *ptr)
{
	oom_env    *o = user;

	if (ptr)
	{
		o->live--;
		free(ptr);
	}
}

static int
oom_never(void *user)
{
	(void) user;
	return 0;
}

static sp_env
oom_make(oom_env *o, long fail_at)
{
	sp_env		e;

	memset(o, 0, sizeof(*o));
	o->fail_at = fail_at;
	e.alloc = oom_alloc;
	e.free = oom_free;
	e.interrupted = oom_never;
	e.user = o;
	e.max_pixels = SP_DEFAULT_MAX_PIXELS;
	return e;
}

/* Upper bound on the sweep: a path with more allocations than this is a bug in itself. */
#define OOM_MAX_STEPS 20000

#define FIXTURE "test/fixtures/onnx/tiny_net"
static const char *tiny_cfg = "{\"input\": {\"channels\": 3, \"height\": 32, \"width\": 32}}";

/* ONNX import: every allocation of the protobuf reader, the graph passes and the writer. */
SP_TEST(oom_onnx_import)
{
	size_t		len,
				cfg_len,
				w_len;
	uint8_t    *onnx = tu_read_file(FIXTURE ".onnx", &len);
	long		k;
	int			bad_code = 0,
				leaked = 0;

	REQUIRE(onnx);
	for (k = 1; k < OOM_MAX_STEPS; k++)
	{
		oom_env		o;
		sp_env		env = oom_make(&o, k);
		char	   *cfg = NULL;
		uint8_t    *w = NULL;
		sp_error	err;
		sp_status	st = sp_nn_model_from_onnx(&env, onnx, len, tiny_cfg, strlen(tiny_cfg), &cfg, &cfg_len,
											   &w, &w_len, &err);

		if (st == SP_OK)
		{
			sp_free(&env, cfg);
			sp_free(&env, w);
			leaked += o.live != 0;
			break;
		}
		if (st != SP_ERR_NOMEM && !bad_code)
		{
			bad_code = 1;
			CHECK_MSG(0, "allocation %ld failed: status %d (%s)", k, (int) st, err.message);
		}
		if (o.live != 0 && !leaked)
			CHECK_MSG(0, "allocation %ld failed: %ld allocations left behind", k, o.live);
		leaked += o.live != 0;
	}
	CHECK_MSG(k > 10 && k < OOM_MAX_STEPS, "the import succeeded after %ld failing runs", k - 1);
	if (getenv("SP_OOM_VERBOSE"))
		fprintf(stderr, "ONNX import: %ld allocations failed in turn\n", k - 1);
	CHECK_EQ_INT(leaked, 0);
	free(onnx);
}

/*
 * Load, workspace and forward of one model (config + weights) under a
 * failure at every allocation, against the unconstrained embedding of img.
 */
static void
sweep_model(int *sp_failed__, const char *cfg, size_t cfg_len, const uint8_t *w, size_t w_len, const sp_image *img)
{
	float		want[1024],
				got[1024];
	sp_error	err;
	sp_nn_model *m;
	sp_nn_workspace *ws;
	long		k;
	int			bad_code = 0,
				leaked = 0,
				dim;

	REQUIRE(sp_nn_model_load(sp_env_default(), cfg, cfg_len, w, w_len, &m, &err) == SP_OK);
	dim = sp_nn_model_dim(m);
	REQUIRE(dim <= 1024);
	REQUIRE(sp_nn_workspace_create(sp_env_default(), m, 2, &ws, &err) == SP_OK);
	REQUIRE(sp_nn_embed_images(sp_env_default(), m, ws, img, 1, want, &err) == SP_OK);
	sp_nn_workspace_free(sp_env_default(), ws);
	sp_nn_model_free(sp_env_default(), m);

	for (k = 1; k < OOM_MAX_STEPS; k++)
	{
		oom_env		o;
		sp_env		env = oom_make(&o, k);
		sp_status	st;

		m = NULL;
		ws = NULL;
		st = sp_nn_model_load(&env, cfg, cfg_len, w, w_len, &m, &err);
		if (st == SP_OK)
			st = sp_nn_workspace_create(&env, m, 2, &ws, &err);
		if (st == SP_OK)
			st = sp_nn_embed_images(&env, m, ws, img, 1, got, &err);
		if (ws)
			sp_nn_workspace_free(&env, ws);
		if (m)
			sp_nn_model_free(&env, m);
		if (o.live != 0 && !leaked)
			CHECK_MSG(0, "allocation %ld failed: %ld allocations left behind", k, o.live);
		leaked += o.live != 0;
		if (st == SP_OK)
		{
			CHECK(memcmp(got, want, sizeof(float) * dim) == 0);
			break;
		}
		if (st != SP_ERR_NOMEM && !bad_code)
		{
			bad_code = 1;
			CHECK_MSG(0, "allocation %ld failed: status %d (%s)", k, (int) st, err.message);
		}
	}
	CHECK_MSG(k > 3 && k < OOM_MAX_STEPS, "the model ran after %ld failing runs", k - 1);
	if (getenv("SP_OOM_VERBOSE"))
		fprintf(stderr, "model load + workspace + embed: %ld allocations failed in turn\n", k - 1);
	CHECK_EQ_INT(leaked, 0);
}

/* An imported operator graph: graph building, constant folding, the fused kernels' buffers. */
SP_TEST(oom_graph_model_load_and_forward)
{
	size_t		len,
				cfg_len,
				w_len;
	uint8_t    *onnx = tu_read_file(FIXTURE ".onnx", &len);
	char	   *cfg;
	uint8_t    *w;
	sp_error	err;
	sp_image	img;

	REQUIRE(onnx);
	REQUIRE(sp_nn_model_from_onnx(sp_env_default(), onnx, len, tiny_cfg, strlen(tiny_cfg), &cfg, &cfg_len,
								  &w, &w_len, &err) == SP_OK);
	/* a 40 x 24 RGB image: preprocessing resizes it to 32 x 32 */
	REQUIRE(sp_image_alloc(NULL, &img, 40, 24, 3, &err) == SP_OK);
	for (size_t i = 0; i < (size_t) 40 * 24 * 3; i++)
		img.pixels[i] = (uint8_t) (i * 37 % 251);
	sweep_model(sp_failed__, cfg, cfg_len, w, w_len, &img);
	sp_image_free(NULL, &img);
	sp_free(sp_env_default(), cfg);
	sp_free(sp_env_default(), w);
	free(onnx);
}

/* The shipped layer-list model (models/fashion): JSON config, safetensors, conv + BN + pool. */
SP_TEST(oom_layer_model_load_and_forward)
{
	size_t		cfg_len,
				w_len;
	char	   *cfg = (char *) tu_read_file("models/fashion.json", &cfg_len);
	uint8_t    *w = tu_read_file("models/fashion.safetensors", &w_len);
	sp_error	err;
	sp_image	img;

	REQUIRE(cfg && w);
	REQUIRE(sp_image_alloc(NULL, &img, 28, 28, 1, &err) == SP_OK);
	for (size_t i = 0; i < 28 * 28; i++)
		img.pixels[i] = (uint8_t) (i * 13 % 256);
	sweep_model(sp_failed__, cfg, cfg_len, w, w_len, &img);
	sp_image_free(NULL, &img);
	free(cfg);
	free(w);
}
