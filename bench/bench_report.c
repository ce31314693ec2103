/*
 * bench_report.c: speed of the robustness report engine (robust_eval.c) on
 * real data: the shipped fashion model against the fashion-pixels baseline
 * on the first N Fashion-MNIST test images with their labels.
 *
 *   bench_report [N [NP]]
 *       N  images for the corruption run: 15 benchmark corruptions x 5
 *          severities, k = 1 (default 1000, the size issue 6 asks for);
 *       NP images for the perturbation run over the 10 test perturbations,
 *          difficulty 1 (default 100).
 *
 * One BLAS thread, as in a backend.  Prints total seconds, corrupted images
 * embedded per second (each by both models) and the report's clean error,
 * mCE and relative mCE, then FP/FR per perturbation and mFR / mT5D.  Skips
 * with a message when the models (run from the repository root) or the
 * dataset are missing.  Every figure is measured once: the machine may be
 * shared, so read it together with the load average.
 */
#include "bench_util.h"
#include "idx.h"
#include "model_files.h"
#include "robust/robust_eval.h"

#include <stdlib.h>
#include <string.h>

/* models/<name>.json + .safetensors; NULL (message printed) when missing */
static sp_nn_model *
load_model(const char *name)
{
	char		prefix[256];
	sp_nn_model *m;
	sp_error	err;

	snprintf(prefix, sizeof(prefix), "models/%s", name);
	if (mf_load_model(prefix, &m, NULL, NULL, NULL, NULL, &err) != SP_OK)
		printf("bench_report: skipped: model %s: %s (run from the repository root)\n", name, err.message);
	return m;
}

typedef struct progress_state
{
	double		t0;
	int			shown;
} progress_state;

/* one line per corruption (at its first severity) to stderr, with elapsed time */
static void
on_progress(void *arg, const char *stage, int step, int nsteps)
{
	progress_state *ps = arg;
	const char *sev = strstr(stage, " severity ");

	if (sev && strcmp(sev, " severity 1") != 0)
		return;
	fprintf(stderr, "  [%6.1f s] %d/%d %s\n", bench_now() - ps->t0, step, nsteps, stage);
	ps->shown++;
}

static int
parse_count(const char *s, int def, int max)
{
	int			v = s ? atoi(s) : def;

	return v < 2 ? 2 : v > max ? max : v;
}

int
main(int argc, char **argv)
{
	const sp_env *env = sp_env_default();
	int			n = parse_count(argc > 1 ? argv[1] : NULL, 1000, 10000);
	int			np = parse_count(argc > 2 ? argv[2] : NULL, 100, 10000);
	sp_nn_model *model,
			   *base;
	sp_nn_workspace *ws[2] = {NULL, NULL};
	idx_images	imgs;
	idx_labels	lab;
	sp_image   *sample;
	int32_t    *labels;
	sp_re_models mm;
	sp_re_sample s;
	sp_re_corruption_params cp;
	sp_re_perturbation_params pp;
	sp_re_corruption_result *cr;
	sp_re_perturbation_result *pr;
	int			perts[10];
	sp_error	err;
	progress_state prog;
	double		t;
	char		blas[256];
	int			rc = 0;

	sp_blas_set_threads(1);
	model = load_model("fashion");
	base = model ? load_model("fashion-pixels") : NULL;
	if (!model || !base)
	{
		sp_nn_model_free(env, model);
		return 0;
	}
	if (fashion_mnist_load(NULL, "t10k", &imgs, &lab, &err) != SP_OK)
	{
		printf("bench_report: skipped: Fashion-MNIST not available: %s\n", err.message);
		sp_nn_model_free(env, model);
		sp_nn_model_free(env, base);
		return 0;
	}
	if (n > imgs.count)
		n = imgs.count;
	if (np > imgs.count)
		np = imgs.count;
	sample = calloc((size_t) imgs.count, sizeof(sp_image));
	labels = calloc((size_t) imgs.count, sizeof(int32_t));
	cr = malloc(sizeof(*cr));
	pr = malloc(sizeof(*pr));
	if (!sample || !labels || !cr || !pr)
	{
		fprintf(stderr, "bench_report: out of memory\n");
		return 1;
	}
	for (int i = 0; i < imgs.count; i++)
	{
		/* the sample points into the IDX buffer: nothing is copied */
		sample[i].width = imgs.cols;
		sample[i].height = imgs.rows;
		sample[i].channels = 1;
		sample[i].pixels = imgs.pixels + (size_t) i * imgs.rows * imgs.cols;
		labels[i] = lab.labels[i];
	}
	if (sp_nn_workspace_create(env, model, 256, &ws[0], &err) != SP_OK ||
		sp_nn_workspace_create(env, base, 256, &ws[1], &err) != SP_OK)
	{
		fprintf(stderr, "bench_report: workspace: %s\n", err.message);
		return 1;
	}
	mm.model[SP_RE_MODEL] = model;
	mm.model[SP_RE_BASELINE] = base;
	mm.ws[SP_RE_MODEL] = ws[0];
	mm.ws[SP_RE_BASELINE] = ws[1];
	sp_blas_info(blas, sizeof(blas));
	printf("robustness report engine: model fashion vs baseline fashion-pixels, %s, one thread\n", blas);

	/* corruptions: the 15 benchmark ones x 5 severities, labels, k = 1 */
	memset(&cp, 0, sizeof(cp));
	cp.corruptions = sp_rm_benchmark_corruptions;
	cp.ncorruptions = 15;
	cp.sev_mask = SP_RM_ALL_SEVERITIES;
	cp.seed = 0;
	cp.k = 1;
	cp.profile = SP_PROFILE_AUTO;
	s.images = sample;
	s.labels = labels;
	s.n = n;
	prog.t0 = bench_now();
	prog.shown = 0;
	t = bench_now();
	if (sp_re_corruption_run(env, &s, &mm, &cp, on_progress, &prog, cr, &err) != SP_OK)
	{
		printf("corruption run FAILED: %s (%s)\n", err.message, err.detail);
		rc = 1;
	}
	else
	{
		double		el = bench_now() - t;
		double		cells = 15.0 * 5.0;

		printf("corruption run: %d images x 15 corruptions x 5 severities = %.0f corrupted images\n",
			   n, n * cells);
		printf("  total %.1f s, %.0f corrupted images/s (each embedded by both models, k-NN included)\n",
			   el, n * cells / el);
		printf("  clean error: model %.4f, baseline %.4f\n", cr->errors[0].clean, cr->errors[1].clean);
		printf("  mCE %.1f  relative mCE %.1f  (x100; undefined members: %d)\n",
			   100 * cr->mce, 100 * cr->relative_mce, cr->n_undefined_mce);
		printf("  %-18s %7s %7s %16s %16s\n", "corruption", "CE", "relCE", "model err s1..s5", "base err s1..s5");
		for (int i = 0; i < cr->nscores; i++)
		{
			int			c = cr->scores[i].corruption;

			printf("  %-18s %7.1f %7.1f    %.3f..%.3f    %.3f..%.3f\n", sp_corruption_get(c)->name,
				   100 * cr->scores[i].ce, 100 * cr->scores[i].relative_ce,
				   cr->errors[0].err[c][0], cr->errors[0].err[c][4],
				   cr->errors[1].err[c][0], cr->errors[1].err[c][4]);
		}
	}

	/* perturbations: the 10 test ones, difficulty 1 */
	for (int i = 0; i < 10; i++)
		perts[i] = i;
	memset(&pp, 0, sizeof(pp));
	pp.perturbations = perts;
	pp.nperturbations = 10;
	pp.seed = 0;
	pp.k = 1;
	pp.difficulty = 1;
	pp.profile = SP_PROFILE_AUTO;
	s.n = np;
	t = bench_now();
	if (sp_re_perturbation_run(env, &s, &mm, &pp, NULL, NULL, pr, &err) != SP_OK)
	{
		printf("perturbation run FAILED: %s (%s)\n", err.message, err.detail);
		rc = 1;
	}
	else
	{
		double		el = bench_now() - t;
		long		frames = 0;

		for (int i = 0; i < pr->nscores; i++)
			frames += (long) pr->scores[i].frames * np;
		printf("perturbation run: %d images x 10 test perturbations = %ld frames\n", np, frames);
		printf("  total %.1f s, %.0f frames/s (each embedded by both models)\n", el, frames / el);
		printf("  mFR %.1f  mT5D %.1f  (x100)\n", 100 * pr->mfr, 100 * pr->mt5d);
		printf("  %-15s %6s %8s %8s %7s %7s\n", "perturbation", "frames", "FP", "FP base", "FR", "T5D");
		for (int i = 0; i < pr->nscores; i++)
		{
			const sp_re_perturbation_score *sc = &pr->scores[i];

			printf("  %-15s %6d %8.4f %8.4f %7.1f %7.1f\n", sp_perturbation_get(sc->perturbation)->name,
				   sc->frames, sc->fp[0], sc->fp[1], 100 * sc->fr, 100 * sc->t5d);
		}
	}

	free(cr);
	free(pr);
	free(sample);
	free(labels);
	idx_free_images(&imgs);
	idx_free_labels(&lab);
	sp_nn_workspace_free(env, ws[0]);
	sp_nn_workspace_free(env, ws[1]);
	sp_nn_model_free(env, model);
	sp_nn_model_free(env, base);
	return rc;
}
