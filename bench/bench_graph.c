/*
 * bench_graph: an ONNX model through the import and the graph engine, as
 * the server runs it (one thread, one image at a time).
 *
 *   bench_graph MODEL.onnx [IMPORT.json] [--batch N] [--seconds S]
 *               [--gemm auto|openblas|blis] [--check INPUT.f32 WANT.f32]
 *
 * Without IMPORT.json the model's own output is used, with a 3 x 224 x 224
 * input.  --check runs INPUT.f32 (raw float32, N x C x H x W) and compares
 * with WANT.f32, printing the largest relative difference; the timing prints
 * "images/s: X" (best of the timed rounds; "cpu images/s" per CPU second of
 * the thread, fair on a loaded machine), the planned activation memory
 * per image and the peak resident set.  bench/onnx_compare.sh runs it
 * beside ONNX Runtime and PyTorch.
 */
#include "bench_util.h"
#include "model_files.h"
#include "nn/nn_layers.h"
#include "nn/nn_model.h"
#include "nn/sgemm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void
die(const char *what, const sp_error *err)
{
	fprintf(stderr, "bench_graph: %s: %s\n", what, err ? err->message : "failed");
	if (err && err->detail[0])
		fprintf(stderr, "DETAIL: %s\n", err->detail);
	exit(1);
}

int
main(int argc, char **argv)
{
	const sp_env *env = sp_env_default();
	const char *onnx_path = NULL,
			   *cfg_path = NULL,
			   *check_in = NULL,
			   *check_want = NULL;
	const char *default_cfg = "{\"input\": {\"channels\": 3, \"height\": 224, \"width\": 224}}";
	int			batch = 1;
	double		seconds = 3.0;
	uint8_t    *onnx,
			   *weights;
	char	   *import_cfg,
			   *config;
	size_t		onnx_len,
				import_len,
				config_len,
				weights_len;
	sp_nn_model *m;
	sp_nn_workspace *ws;
	sp_error	err;
	float	   *in,
			   *out;
	int			dim;
	struct rusage ru;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
			batch = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (strcmp(argv[i], "--gemm") == 0 && i + 1 < argc)
		{
			i++;
			sp_gemm_set_backend(strcmp(argv[i], "blis") == 0 ? SP_GEMM_BLIS :
								strcmp(argv[i], "openblas") == 0 ? SP_GEMM_OPENBLAS : SP_GEMM_AUTO);
		}
		else if (strcmp(argv[i], "--check") == 0 && i + 2 < argc)
		{
			check_in = argv[++i];
			check_want = argv[++i];
		}
		else if (!onnx_path)
			onnx_path = argv[i];
		else if (!cfg_path)
			cfg_path = argv[i];
		else
		{
			fprintf(stderr, "usage: bench_graph MODEL.onnx [IMPORT.json] [--batch N] [--seconds S] [--gemm auto|openblas|blis] [--check IN.f32 WANT.f32]\n");
			return 2;
		}
	}
	if (!onnx_path || batch < 1)
		return 2;
	onnx = mf_read_file(onnx_path, &onnx_len);
	if (!onnx)
		die(onnx_path, NULL);
	if (cfg_path)
	{
		import_cfg = (char *) mf_read_file(cfg_path, &import_len);
		if (!import_cfg)
			die(cfg_path, NULL);
	}
	else
	{
		import_cfg = strdup(default_cfg);
		import_len = strlen(default_cfg);
	}
	if (sp_nn_model_from_onnx(env, onnx, onnx_len, import_cfg, import_len, &config, &config_len,
							  &weights, &weights_len, &err) != SP_OK)
		die("import", &err);
	if (sp_nn_model_load(env, config, config_len, weights, weights_len, &m, &err) != SP_OK)
		die("load", &err);
	if (sp_nn_workspace_create(env, m, batch, &ws, &err) != SP_OK)
		die("workspace", &err);
	dim = sp_nn_model_dim(m);
	in = calloc((size_t) batch * m->in_size, sizeof(float));
	out = calloc((size_t) batch * dim, sizeof(float));
	if (check_in)
	{
		size_t		li,
					lw;
		float	   *x = (float *) mf_read_file(check_in, &li),
				   *want = (float *) mf_read_file(check_want, &lw);
		int			n = (int) (li / sizeof(float) / m->in_size);
		float	   *got;
		double		worst = 0,
					worst_abs = 0;

		if (!x || !want || n < 1 || lw != (size_t) n * dim * sizeof(float))
		{
			fprintf(stderr, "bench_graph: --check: input holds %d images, expected output of %zu bytes, got %zu\n",
					n, (size_t) n * dim * sizeof(float), lw);
			return 1;
		}
		got = calloc((size_t) n * dim, sizeof(float));
		if (sp_nn_forward(m, ws, x, n, got, &err) != SP_OK)
			die("forward", &err);
		{
			double		maxref = 0;

			for (size_t i = 0; i < (size_t) n * dim; i++)
				maxref = fmax(maxref, fabs(want[i]));
			for (size_t i = 0; i < (size_t) n * dim; i++)
			{
				double		d = fabs((double) got[i] - want[i]);

				worst_abs = fmax(worst_abs, d);
				worst = fmax(worst, d / (maxref > 0 ? maxref : 1));
			}
		}
		printf("check: %d images x %d values, max |got - want| %.3g, relative to max |want| %.3g\n",
			   n, dim, worst_abs, worst);
		free(got);
		free(x);
		free(want);
	}
	{
		double		best = 0,
					best_cpu = 0;

		/* warm-up, then rounds of at least seconds / 3 each */
		if (sp_nn_forward(m, ws, in, batch, out, &err) != SP_OK)
			die("forward", &err);
		for (int round = 0; round < 3; round++)
		{
			double		t0 = bench_now(),
						c0 = bench_thread_cpu(),
						t;
			long		iters = 0;

			do
			{
				if (sp_nn_forward(m, ws, in, batch, out, &err) != SP_OK)
					die("forward", &err);
				iters++;
				t = bench_now() - t0;
			} while (t < seconds / 3);
			if (iters * batch / t > best)
				best = iters * batch / t;
			if (iters * batch / (bench_thread_cpu() - c0) > best_cpu)
				best_cpu = iters * batch / (bench_thread_cpu() - c0);
		}
		getrusage(RUSAGE_SELF, &ru);
		{
			char		gemm[160];

			sp_gemm_info(sp_gemm_backend_in_use(), gemm, sizeof gemm);
			printf("matrix multiplies: %s\n", gemm);
		}
		printf("cpu images/s: %.2f\n", best_cpu);
		printf("images/s: %.2f  (batch %d, activation memory %.1f MB per image, peak RSS %.0f MB)\n",
			   best, batch, (double) sp_graph_run_bytes(m->graph) / 1048576.0, ru.ru_maxrss / 1024.0);
	}
	sp_nn_workspace_free(env, ws);
	sp_nn_model_free(env, m);
	free(in);
	free(out);
	free(onnx);
	free(import_cfg);
	sp_free(env, config);
	sp_free(env, weights);
	return 0;
}
