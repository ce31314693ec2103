/*
 * ensemble.c: few-shot classification by a Siamese model, a classifier
 * model's own probabilities, and their ensemble (SQL's classify,
 * predict and classify_ensemble) on Fashion-MNIST: accuracy, negative
 * log-likelihood and expected calibration error of each
 * (vector/calibration.h).
 *
 *   ensemble SIAMESE_PREFIX CLASSIFIER_PREFIX [--shots 1,5,20] [--weight 0.5] [--seed 42]
 *
 * Queries: test images 5000-9999 (the half the trainer does not calibrate
 * on).  For each query and each shot count K, a support set of K training
 * images per class is drawn (seeded); the Siamese probabilities are
 * classify's rule (each class's nearest support example, softmax of
 * -distance / T at the model's calibrated temperature), the classifier's
 * come from its "classifier" (predict's rule), and the ensemble mixes them
 * as classify_ensemble does: (1 - w) p_siamese + w p_classifier.  Prints one
 * JSON line per K.  docs/experiments.md has the figures.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idx.h"
#include "metrics_eval.h"
#include "model_files.h"
#include "nn/classifier.h"
#include "nn/nn_model.h"
#include "util/rng.h"
#include "vector/calibration.h"
#include "vector/distance.h"
#include "vector/fewshot.h"

#define NCLASS 10
#define QUERY_FROM 5000
#define MAX_SHOTS 64

static void
die(const char *what, const sp_error *err)
{
	fprintf(stderr, "ensemble: %s: %s\n", what, err ? err->message : "");
	exit(1);
}

static void
usage(void)
{
	fprintf(stderr, "usage: ensemble SIAMESE_PREFIX CLASSIFIER_PREFIX [--shots 1,5,20] [--weight 0.5] [--seed 42]\n");
	exit(2);
}

/* The images' embeddings by model (n x dim, malloc'd). */
static float *
embed_all(const sp_nn_model *m, const idx_images *img)
{
	float	   *e = malloc((size_t) img->count * sp_nn_model_dim(m) * sizeof(float));
	sp_error	err;

	if (!e)
		die("out of memory", NULL);
	if (fm_embed(sp_env_default(), m, img->pixels, img->count, img->rows, img->cols, e, &err) != SP_OK)
		die("embedding", &err);
	return e;
}

static void
print_calib(const char *name, const sp_calib *c, bool last)
{
	double		acc,
				nll,
				ece;

	sp_calib_result(c, &acc, &nll, &ece);
	printf("\"%s\":{\"accuracy\":%.4f,\"nll\":%.4f,\"ece\":%.4f}%s", name, acc, nll, ece, last ? "" : ",");
}

int
main(int argc, char **argv)
{
	const sp_env *env = sp_env_default();
	const char *sprefix = NULL,
			   *cprefix = NULL,
			   *shots_arg = "1,5,20";
	double		w = 0.5;
	uint64_t	seed = 42;
	sp_nn_model *sm,
			   *cm;
	sp_nn_classifier *clf;
	const sp_nn_config *ccfg;
	sp_error	err;
	idx_images	tr_img,
				te_img;
	idx_labels	tr_lab,
				te_lab;
	int			class_of_proxy[NCLASS];
	int		   *by_class[NCLASS],
				n_by_class[NCLASS] = {0};
	float	   *tr_emb,
			   *te_emb,
			   *cl_emb;
	double		T;
	int			D;
	sp_distance_kind kind;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--shots") == 0 && i + 1 < argc)
			shots_arg = argv[++i];
		else if (strcmp(argv[i], "--weight") == 0 && i + 1 < argc)
			w = atof(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (argv[i][0] != '-' && !sprefix)
			sprefix = argv[i];
		else if (argv[i][0] != '-' && !cprefix)
			cprefix = argv[i];
		else
			usage();
	}
	if (!sprefix || !cprefix || !(w >= 0 && w <= 1))
		usage();
	sp_blas_set_threads(1);
	if (mf_load_model(sprefix, &sm, NULL, NULL, NULL, NULL, &err) != SP_OK)
		die("loading the Siamese model", &err);
	if (mf_load_model(cprefix, &cm, NULL, NULL, NULL, NULL, &err) != SP_OK)
		die("loading the classifier model", &err);
	ccfg = sp_nn_model_config(cm);
	if (!ccfg->classifier_json)
		die("the classifier model has no \"classifier\"", NULL);
	if (sp_nn_classifier_parse(env, ccfg->classifier_json, strlen(ccfg->classifier_json), sp_nn_model_dim(cm),
							   &clf, &err) != SP_OK)
		die("reading the classifier", &err);
	if (clf->n_classes != NCLASS)
		die("the classifier must have the 10 Fashion-MNIST classes", NULL);
	for (int k = 0; k < NCLASS; k++)
	{
		class_of_proxy[k] = -1;
		for (int c = 0; c < NCLASS; c++)
			if (strcmp(clf->classes[k], fashion_mnist_class_names[c]) == 0)
				class_of_proxy[k] = c;
		if (class_of_proxy[k] < 0)
			die("the classifier has a class that is not a Fashion-MNIST class", NULL);
	}
	D = sp_nn_model_dim(sm);
	kind = sp_nn_model_config(sm)->distance;
	T = sp_fewshot_temperature(env, sp_nn_model_config(sm)->quality_json);

	if (fashion_mnist_load(NULL, "train", &tr_img, &tr_lab, &err) != SP_OK ||
		fashion_mnist_load(NULL, "t10k", &te_img, &te_lab, &err) != SP_OK)
		die("loading Fashion-MNIST", &err);
	tr_emb = embed_all(sm, &tr_img);
	te_emb = embed_all(sm, &te_img);
	cl_emb = embed_all(cm, &te_img);
	for (int c = 0; c < NCLASS; c++)
		if (!(by_class[c] = malloc((size_t) tr_img.count * sizeof(int))))
			die("out of memory", NULL);
	for (int i = 0; i < tr_img.count; i++)
		by_class[tr_lab.labels[i]][n_by_class[tr_lab.labels[i]]++] = i;

	for (const char *s = shots_arg; *s;)
	{
		int			K = atoi(s);
		sp_calib	cs,
					cc,
					ce;
		sp_rng		rng;

		if (K < 1 || K > MAX_SHOTS)
			usage();
		sp_calib_init(&cs);
		sp_calib_init(&cc);
		sp_calib_init(&ce);
		sp_rng_seed(&rng, seed, (uint64_t) K);
		for (int q = QUERY_FROM; q < te_img.count; q++)
		{
			const float *qe = te_emb + (size_t) q * D;
			double		ds[NCLASS],
						sd[NCLASS * MAX_SHOTS],
						ps[NCLASS],
						pc_raw[NCLASS],
						pc[NCLASS],
						pe[NCLASS];
			int			sl[NCLASS * MAX_SHOTS];

			/* classify's rule: each class's nearest of its K support images */
			for (int c = 0; c < NCLASS; c++)
				for (int t = 0; t < K; t++)
				{
					int			j = by_class[c][sp_rng_uniform_int(&rng, (uint64_t) n_by_class[c])];

					sd[c * K + t] = sp_dist(kind, qe, tr_emb + (size_t) j * D, (size_t) D);
					sl[c * K + t] = c;
				}
			if (sp_fewshot_label_distances(sp_env_default(), sd, sl, (size_t) NCLASS * K, NCLASS, 1, ds, &err) != SP_OK)
				die("few-shot distances", &err);
			sp_softmin(ds, NCLASS, T, ps);
			sp_nn_classifier_probs(clf, cl_emb + (size_t) q * clf->dim, pc_raw);
			for (int k = 0; k < NCLASS; k++)
				pc[class_of_proxy[k]] = pc_raw[k];
			for (int c = 0; c < NCLASS; c++)
				pe[c] = (1 - w) * ps[c] + w * pc[c];
			sp_calib_add(&cs, ps, NCLASS, te_lab.labels[q]);
			sp_calib_add(&cc, pc, NCLASS, te_lab.labels[q]);
			sp_calib_add(&ce, pe, NCLASS, te_lab.labels[q]);
		}
		printf("{\"shots\":%d,\"queries\":%d,\"weight\":%g,\"temperature\":%.6g,", K, te_img.count - QUERY_FROM, w, T);
		print_calib("siamese", &cs, false);
		print_calib("classifier", &cc, false);
		print_calib("ensemble", &ce, true);
		printf("}\n");
		while (*s && *s != ',')
			s++;
		if (*s == ',')
			s++;
	}
	for (int c = 0; c < NCLASS; c++)
		free(by_class[c]);
	free(tr_emb);
	free(te_emb);
	free(cl_emb);
	sp_nn_classifier_free(env, clf);
	sp_nn_model_free(env, sm);
	sp_nn_model_free(env, cm);
	idx_free_images(&tr_img);
	idx_free_images(&te_img);
	idx_free_labels(&tr_lab);
	idx_free_labels(&te_lab);
	return 0;
}
