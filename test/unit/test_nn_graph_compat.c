/*
 * test_nn_graph_compat.c: the shipped models (the models/ folder) give, on
 * the operator-graph engine that runs every model, the embeddings PyTorch
 * computes from the same files (shipped_model_refs.h, written by
 * gen_shipped_refs.py; until 0.2.0 they were the retired layer-list
 * engine's, which agree with PyTorch's to 3e-7).
 *
 * Each model's config compiles into a graph (sp_nn_compile_layers), which is
 * prepared as any imported model (batch norm folded, activations fused, the
 * direct/Winograd kernels chosen) and run on 4 inputs; every embedding must
 * equal the recorded one to 2e-5 relative (they sum in different orders:
 * float rounding, and batch norm folded here).  The model hashes are those
 * of the files, whichever engine runs them.
 */
#include "unit.h"
#include "test_nn_util.h"
#include "nn/graph.h"
#include "nn/nn_layers.h"
#include "util/rng.h"
#include "shipped_model_refs.h"

#include <stdio.h>
#include <stdlib.h>

SP_TEST(nn_graph_shipped_models_same_embeddings)
{
	static const char *const names[] = {"fashion", "fashion-robust", "fashion-2d", "fashion-pixels"};
	static const float *const refs[] = {shipped_ref_0, shipped_ref_1, shipped_ref_2, shipped_ref_3};
	/* models/README.md */
	static const char *const hashes[] = {
		"6fbd94adccc4138d66689fe4e06a6cd62931ba9505afb219a78403005786b705",
		"486e65dcd5c6f96fcbf71848be39d72d58712c42dfba64680389b6aff4fa833b",
		"9ec4108a22d334a0b43b5fd136e377deb756a24d75591c506b62f068ac8f81d8",
		"2caf65e7111071c26edf2d195af8d2813c4eb6208a421f23a87454042e20d54f"};
	const sp_env *env = sp_env_default();
	int			checked = 0;

	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
	{
		char		p1[256],
					p2[256];
		size_t		cl,
					wl;
		uint8_t    *cfgb,
				   *wb;
		sp_nn_model *m;
		sp_nn_workspace *ws;
		sp_error	err;
		sp_rng		rng;
		float	   *x,
				   *got;
		int			dim,
					size;
		double		worst = 0;

		snprintf(p1, sizeof p1, "models/%s.json", names[k]);
		snprintf(p2, sizeof p2, "models/%s.safetensors", names[k]);
		cfgb = tu_read_file(p1, &cl);
		wb = tu_read_file(p2, &wl);
		if (!cfgb || !wb)
		{
			free(cfgb);
			free(wb);
			continue;			/* a checkout without that model */
		}
		REQUIRE(sp_nn_model_load(env, (char *) cfgb, cl, wb, wl, &m, &err) == SP_OK);
		REQUIRE(m->graph != NULL);
		/* the hash is the files', whichever engine runs them */
		CHECK_MSG(strcmp(sp_nn_model_hash(m), hashes[k]) == 0, "%s: hash %s", names[k], sp_nn_model_hash(m));
		dim = sp_nn_model_dim(m);
		size = sp_nn_model_input_size(m);
		x = malloc(sizeof(float) * (size_t) size * 4);
		got = malloc(sizeof(float) * (size_t) dim * 4);
		sp_rng_seed(&rng, 7, k);
		for (int i = 0; i < size * 4; i++)
			x[i] = (float) sp_rng_normal(&rng);
		REQUIRE(sp_nn_workspace_create(env, m, 4, &ws, &err) == SP_OK);
		REQUIRE(sp_nn_forward(m, ws, x, 4, got, &err) == SP_OK);
		for (int i = 0; i < 4 * dim; i++)
		{
			double		d = fabs((double) got[i] - refs[k][i]) / (1.0 + fabs((double) refs[k][i]));

			worst = d > worst ? d : worst;
		}
		CHECK_MSG(worst < 2e-5, "%s: largest difference %g", names[k], worst);
		if (sp_unit_verbose)
			fprintf(stderr, "  %s (%s): largest difference %.3g over 4 x %d values\n", names[k],
					sp_nn_workspace_path(ws), worst, dim);
		checked++;
		sp_nn_workspace_free(env, ws);
		free(x);
		free(got);
		sp_nn_model_free(env, m);
		free(cfgb);
		free(wb);
	}
	CHECK(checked == 4);
}
