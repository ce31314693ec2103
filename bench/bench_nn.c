/*
 * bench_nn.c: inference speed of the reference CNN of
 * docs/reference/fashion-mnist.md (conv3x3 1->32, conv3x3 32->32, maxpool2,
 * conv3x3 32->64, conv3x3 64->64, maxpool2, linear 3136->128, l2norm;
 * random weights), one BLAS thread:
 * images/s at batch 1 and 256 (and per conv block size), achieved GFLOP/s
 * next to a raw 512x512x512 sgemm measured in the same run, a training step
 * (forward + backward) for reference, and the BLAS core name; then a
 * training step of the cnn and resnet architectures at 1 thread and at
 * every thread count up to the cores (train --threads).
 *
 * On CPUs that OpenBLAS misdetects (e.g. as Prescott) the kernels differ a
 * lot, so after the run with the current environment the program runs itself
 * again with the core auto-detected (OPENBLAS_CORETYPE unset) and forced to
 * SkylakeX (AVX-512), printing one table per setting.
 */
#include "bench_util.h"
#include "nn/nn_model.h"
#include "nn/nn_train.h"
#include "util/safetensors.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


static void
die(const char *what, const sp_error *err)
{
	fprintf(stderr, "bench_nn: %s: %s\n", what, err->message);
	exit(1);
}

int
main(int argc, char **argv)
{
	const sp_env *env = sp_env_default();
	sp_error	err;
	sp_nn_config *cfg;
	sp_nn_trainer *tr;
	sp_nn_model *m;
	uint8_t    *w;
	char	   *cj;
	size_t		cl,
				wl;
	char		info[512];
	double		flops,
				t,
				peak;
	float	   *in,
			   *out;
	const int	big = 256;
	bool		child = argc > 1 && strcmp(argv[1], "--child") == 0;

	sp_blas_set_threads(1);
	if (sp_nn_config_parse(env, bench_fashion_cnn_config, strlen(bench_fashion_cnn_config), &cfg, &err) != SP_OK)
		die("config", &err);
	flops = sp_nn_config_flops(cfg);
	/* random (He-initialised) weights through the trainer, exported like a real model */
	if (sp_nn_trainer_create(env, cfg, 160, 1, SP_NN_INIT_HE, 1, &tr, &err) != SP_OK)
		die("trainer", &err);
	if (sp_nn_trainer_export(tr, NULL, NULL, 0, &cj, &cl, &w, &wl, &err) != SP_OK)
		die("export", &err);
	if (sp_nn_model_load(env, cj, cl, w, wl, &m, &err) != SP_OK)
		die("load", &err);

	sp_blas_info(info, sizeof(info));
	printf("BLAS: %s\n", info);
	printf("OPENBLAS_CORETYPE=%s\n", getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)");
	printf("model: %zu parameters, %.1f MFLOP per image, hash %.16s...\n",
		   sp_nn_config_param_count(cfg), flops / 1e6, sp_nn_model_hash(m));

	/* raw sgemm peak, 512^3 */
	{
		const int	n = 512;
		float	   *a = malloc(sizeof(float) * n * n),
				   *b = malloc(sizeof(float) * n * n),
				   *c = malloc(sizeof(float) * n * n);

		for (int i = 0; i < n * n; i++)
		{
			a[i] = (float) (i % 7) * 0.1f;
			b[i] = (float) (i % 5) * 0.1f;
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
		t = BENCH_LOOP(1.0, {
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
			bench_consume(c);
		});
		peak = 2.0 * n * n * n / t / 1e9;
		free(a);
		free(b);
		free(c);
	}

	in = malloc(sizeof(float) * 784 * big);
	out = malloc(sizeof(float) * 128 * big);
	for (int i = 0; i < 784 * big; i++)
		in[i] = (float) ((i * 2654435761u) % 1000) / 500.0f - 1.0f;

	printf("\n%-34s %12s %10s %8s\n", "case", "images/s", "GFLOP/s", "of peak");
	printf("%-34s %12s %10.1f %7.0f%%\n", "sgemm 512x512x512 (peak)", "-", peak, 100.0);
	{
		struct
		{
			const char *label;
			int			batch;
		}			cases[] = {
			{"forward batch 1", 1},
			{"forward batch 256", big},
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		{
			sp_nn_workspace *ws;
			double		ips;

			if (sp_nn_workspace_create(env, m, cases[i].batch, &ws, &err) != SP_OK)
				die("workspace", &err);
			t = BENCH_LOOP(1.0, {
				if (sp_nn_forward(m, ws, in, cases[i].batch, out, &err) != SP_OK)
					die("forward", &err);
				bench_consume(out);
			});
			ips = cases[i].batch / t;
			printf("%-34s %12.0f %10.1f %7.0f%%\n", cases[i].label, ips, ips * flops / 1e9,
				   100.0 * ips * flops / 1e9 / peak);
			sp_nn_workspace_free(env, ws);
		}
	}
	/* training step: forward (batch statistics) + backward, batch 160 */
	{
		float	   *d = malloc(sizeof(float) * 128 * 160);
		double		ips;

		for (int i = 0; i < 128 * 160; i++)
			d[i] = (float) ((i * 7919) % 13) / 13.0f - 0.5f;
		t = BENCH_LOOP(2.0, {
			if (sp_nn_trainer_forward(tr, in, 160, true, out, &err) != SP_OK ||
				sp_nn_trainer_backward(tr, d, &err) != SP_OK)
				die("train", &err);
			bench_consume(out);
		});
		ips = 160 / t;
		printf("%-34s %12.0f %10.1f %7.0f%%\n", "train fwd+bwd batch 160", ips, ips * 3 * flops / 1e9,
			   100.0 * ips * 3 * flops / 1e9 / peak);
		printf("(training GFLOP/s counts 3x the forward FLOPs; one epoch of 60k images ~ %.0f s)\n", 60000 / ips);
		free(d);
	}
	/*
	 * Training steps of the project's architectures split over threads
	 * (util/team.h): the same step at 1 thread and at every count up to the
	 * cores, the speed-up measured in the same run.
	 */
	if (!child)
	{
		const char *archs[2] = {"cnn", "resnet"};
		long		cores = sysconf(_SC_NPROCESSORS_ONLN);
		float	   *d = malloc(sizeof(float) * 128 * 160);

		for (int i = 0; i < 128 * 160; i++)
			d[i] = (float) ((i * 7919) % 13) / 13.0f - 0.5f;
		printf("\n%-34s %12s %10s\n", "training step, batch 160", "images/s", "speed-up");
		for (int a = 0; a < 2; a++)
		{
			char		txt[8192];
			sp_nn_config *acfg;
			double		one = 0;

			if (!sp_nn_arch_config(archs[a], "bench", true, txt, sizeof txt) ||
				sp_nn_config_parse(env, txt, strlen(txt), &acfg, &err) != SP_OK)
				die("arch config", &err);
			for (int threads = 1; threads <= (cores > 1 ? cores : 1) && threads <= 8; threads++)
			{
				sp_nn_trainer *atr;
				char		label[64];
				double		ips;

				if (sp_nn_trainer_create(env, acfg, 160, 1, SP_NN_INIT_HE, threads, &atr, &err) != SP_OK)
					die("trainer", &err);
				t = BENCH_LOOP(3.0, {
					if (sp_nn_trainer_forward(atr, in, 160, true, out, &err) != SP_OK ||
						sp_nn_trainer_backward(atr, d, &err) != SP_OK)
						die("train", &err);
					bench_consume(out);
				});
				ips = 160 / t;
				if (threads == 1)
					one = ips;
				snprintf(label, sizeof label, "%s, %d thread%s", archs[a], threads, threads > 1 ? "s" : "");
				printf("%-34s %12.0f %9.2fx\n", label, ips, ips / one);
				sp_nn_trainer_free(atr);
			}
			sp_nn_config_free(env, acfg);
		}
		printf("(tools/bin/train --threads T; an epoch is 60,000 images)\n");
		free(d);
	}
	free(in);
	free(out);
	free(cj);
	free(w);
	sp_nn_model_free(env, m);
	sp_nn_trainer_free(tr);
	sp_nn_config_free(env, cfg);

	/*
	 * Run again with the core auto-detected (OPENBLAS_CORETYPE unset) and
	 * forced to SkylakeX (AVX-512 kernels), unless that is this run.
	 */
	if (!child)
	{
		const char *cur = getenv("OPENBLAS_CORETYPE");
		const char *variants[2] = {NULL, "SkylakeX"};

		for (int v = 0; v < 2; v++)
		{
			pid_t		pid;

			if ((variants[v] == NULL && cur == NULL) ||
				(variants[v] && cur && strcmp(cur, variants[v]) == 0))
				continue;
			printf("\n== again with OPENBLAS_CORETYPE %s\n", variants[v] ? variants[v] : "unset (auto-detected core)");
			fflush(stdout);
			pid = fork();
			if (pid == 0)
			{
				char	   *args[3] = {argv[0], (char *) "--child", NULL};

				if (variants[v])
					setenv("OPENBLAS_CORETYPE", variants[v], 1);
				else
					unsetenv("OPENBLAS_CORETYPE");
				execv("/proc/self/exe", args);
				_exit(127);
			}
			else if (pid > 0)
			{
				int			status;

				waitpid(pid, &status, 0);
			}
		}
	}
	return 0;
}
