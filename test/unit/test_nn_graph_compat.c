/*
 * test_nn_graph_compat.c: the shipped layer-list models (the models/ folder) on
 * the operator-graph engine give the embeddings of the layer-list engine.
 *
 * Each model's config compiles into a graph (sp_nn_compile_layers), which
 * is prepared as any imported model (batch norm folded, activations fused,
 * the direct/Winograd kernels chosen) and run on 4 inputs; every embedding
 * must equal the layer-list engine's to 2e-5 (they sum in different orders:
 * float rounding, and batch norm folded in double here).  The model hashes
 * are those of the files, whichever engine runs them.
 */
#include "unit.h"
#include "nn/graph.h"
#include "nn/nn_layers.h"
#include "util/rng.h"

#include <stdio.h>
#include <stdlib.h>

static uint8_t *
read_all(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *b;
	long		n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t) n + 1);
	if (fread(b, 1, (size_t) n, f) != (size_t) n)
	{
		free(b);
		b = NULL;
	}
	fclose(f);
	*len = (size_t) n;
	return b;
}

SP_TEST(nn_graph_shipped_models_same_embeddings)
{
	static const char *const names[] = {"fashion", "fashion-robust", "fashion-2d", "fashion-pixels"};
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
		sp_safetensors *st;
		sp_graph   *g;
		sp_error	err;
		sp_rng		rng;
		sp_shape	in;
		float	   *x,
				   *want,
				   *got;
		void	   *arena;
		int			dim,
					size;
		double		worst = 0;

		snprintf(p1, sizeof p1, "models/%s.json", names[k]);
		snprintf(p2, sizeof p2, "models/%s.safetensors", names[k]);
		cfgb = read_all(p1, &cl);
		wb = read_all(p2, &wl);
		if (!cfgb || !wb)
		{
			free(cfgb);
			free(wb);
			continue;			/* a checkout without that model */
		}
		REQUIRE(sp_nn_model_load(env, (char *) cfgb, cl, wb, wl, &m, &err) == SP_OK);
		REQUIRE(sp_st_read_ex(env, wb, wl, SP_ST_SKIP_UNSUPPORTED, &st, &err) == SP_OK);
		REQUIRE(sp_nn_compile_layers(env, m->cfg, st, &g, &err) == SP_OK);
		in.rank = 4;
		in.dim[0] = 1;
		in.dim[1] = m->cfg->input.channels;
		in.dim[2] = m->cfg->input.height;
		in.dim[3] = m->cfg->input.width;
		if (sp_graph_prepare(g, &in, &err) != SP_OK)
		{
			fprintf(stderr, "  %s: %s\n", names[k], err.message);
			CHECK(0);
			goto next;
		}
		dim = sp_nn_model_dim(m);
		size = sp_nn_model_input_size(m);
		CHECK_EQ_INT(sp_shape_numel(&g->values[g->outputs[0]].shape), dim);
		x = malloc(sizeof(float) * (size_t) size * 4);
		want = malloc(sizeof(float) * (size_t) dim * 4);
		got = malloc(sizeof(float) * (size_t) dim);
		REQUIRE(posix_memalign(&arena, 64, sp_graph_run_bytes(g) + 64) == 0);
		sp_rng_seed(&rng, 7, k);
		for (int i = 0; i < size * 4; i++)
			x[i] = (float) sp_rng_normal(&rng);
		REQUIRE(sp_nn_workspace_create(env, m, 4, &ws, &err) == SP_OK);
		REQUIRE(sp_nn_forward(m, ws, x, 4, want, &err) == SP_OK);
		for (int b = 0; b < 4; b++)
		{
			const void *ins[1] = {x + (size_t) b * size};
			void	   *outs[1] = {got};

			REQUIRE(sp_graph_run(g, env, arena, ins, outs, &err) == SP_OK);
			for (int i = 0; i < dim; i++)
			{
				double		d = fabs((double) got[i] - want[(size_t) b * dim + i]) /
					(1.0 + fabs((double) want[(size_t) b * dim + i]));

				worst = d > worst ? d : worst;
			}
		}
		CHECK_MSG(worst < 2e-5, "%s: largest difference %g", names[k], worst);
		if (sp_unit_verbose)
			fprintf(stderr, "  %s: largest difference %.3g over 4 x %d values\n", names[k], worst, dim);
		checked++;
		sp_nn_workspace_free(env, ws);
		free(arena);
		free(x);
		free(want);
		free(got);
next:
		sp_graph_free(g);
		sp_st_free(env, st);
		sp_nn_model_free(env, m);
		free(cfgb);
		free(wb);
	}
	CHECK(checked == 4);
}
