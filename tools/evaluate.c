/*
 * evaluate.c: measure a model's quality on Fashion-MNIST (the protocol of
 * tools/lib/metrics_eval.h and docs/training.md) from its files, through
 * the same inference path as SQL (sp_nn_model_load + sp_nn_embed_images).
 *
 *   evaluate [--seed S] [--update] PATH_PREFIX
 *
 * Prints the model hash, parameter count and the quality JSON; --update
 * rewrites PATH_PREFIX.json with the new "quality" and "threshold" (the
 * other fields are kept).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idx.h"
#include "metrics_eval.h"
#include "model_files.h"
#include "nn/nn_model.h"

static void
die(const char *what, const sp_error *err)
{
	fprintf(stderr, "evaluate: %s: %s\n", what, err->message);
	if (err->detail[0])
		fprintf(stderr, "DETAIL: %s\n", err->detail);
	exit(1);
}

int
main(int argc, char **argv)
{
	const sp_env *env = sp_env_default();
	const char *prefix = NULL;
	uint64_t	seed = 42;
	int			update = 0;
	char		path[1024];
	char	   *cj;
	uint8_t    *w;
	size_t		cl,
				wl;
	sp_nn_model *model;
	sp_error	err;
	idx_images	tr_img,
				te_img;
	idx_labels	tr_lab,
				te_lab;
	int		   *trl,
			   *tel;
	float	   *tr_emb,
			   *te_emb;
	int			D;
	fm_quality	q;
	char		quality[4096];

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--update") == 0)
			update = 1;
		else if (argv[i][0] != '-' && !prefix)
			prefix = argv[i];
		else
		{
			fprintf(stderr, "usage: evaluate [--seed S] [--update] PATH_PREFIX\n");
			return 2;
		}
	}
	if (!prefix)
	{
		fprintf(stderr, "usage: evaluate [--seed S] [--update] PATH_PREFIX\n");
		return 2;
	}
	sp_blas_set_threads(1);
	if (mf_load_model(prefix, &model, &cj, &cl, &w, &wl, &err) != SP_OK)
		die("loading the model", &err);
	D = sp_nn_model_dim(model);
	printf("model %s: hash %s, %zu parameters (folded), dim %d, blas %s\n",
		   sp_nn_model_config(model)->name, sp_nn_model_hash(model), sp_nn_model_param_count(model), D,
		   sp_blas_corename());

	if (fashion_mnist_load(NULL, "train", &tr_img, &tr_lab, &err) != SP_OK)
		die("loading the training set", &err);
	if (fashion_mnist_load(NULL, "t10k", &te_img, &te_lab, &err) != SP_OK)
		die("loading the test set", &err);
	trl = malloc((size_t) tr_img.count * sizeof(int));
	tel = malloc((size_t) te_img.count * sizeof(int));
	tr_emb = malloc((size_t) tr_img.count * D * sizeof(float));
	te_emb = malloc((size_t) te_img.count * D * sizeof(float));
	if (!trl || !tel || !tr_emb || !te_emb)
	{
		fprintf(stderr, "evaluate: out of memory\n");
		return 1;
	}
	for (int i = 0; i < tr_img.count; i++)
		trl[i] = tr_lab.labels[i];
	for (int i = 0; i < te_img.count; i++)
		tel[i] = te_lab.labels[i];
	if (fm_embed(env, model, tr_img.pixels, tr_img.count, tr_img.rows, tr_img.cols, tr_emb, &err) != SP_OK ||
		fm_embed(env, model, te_img.pixels, te_img.count, te_img.rows, te_img.cols, te_emb, &err) != SP_OK)
		die("embedding", &err);
	if (fm_evaluate(env, tr_emb, trl, tr_img.count, te_emb, tel, te_img.count, D,
					sp_nn_model_config(model)->distance, seed, &q, &err) != SP_OK)
		die("evaluation", &err);
	fm_quality_json(&q, quality, sizeof(quality));
	printf("%s\nthreshold %.6f (calibration accuracy %.4f), %.1f s\n", quality, q.threshold,
		   q.verif_acc_calib, q.seconds);

	if (update)
	{
		sp_nn_config *cfg;
		char	   *out;
		size_t		out_len;
		FILE	   *f;

		if (sp_nn_config_parse(env, cj, cl, &cfg, &err) != SP_OK)
			die("parsing the config", &err);
		sp_free(env, cfg->quality_json);
		cfg->quality_json = sp_alloc(env, strlen(quality) + 1);
		if (!cfg->quality_json)
		{
			fprintf(stderr, "evaluate: out of memory\n");
			return 1;
		}
		strcpy(cfg->quality_json, quality);
		cfg->has_threshold = true;
		cfg->threshold = q.threshold;
		if (sp_nn_config_to_json(env, cfg, true, &out, &out_len, &err) != SP_OK)
			die("serialising the config", &err);
		snprintf(path, sizeof(path), "%s.json", prefix);
		f = fopen(path, "wb");
		if (!f || fwrite(out, 1, out_len, f) != out_len || fclose(f) != 0)
		{
			fprintf(stderr, "evaluate: cannot write %s\n", path);
			return 1;
		}
		printf("updated %s\n", path);
		sp_free(env, out);
		sp_nn_config_free(env, cfg);
	}
	sp_nn_model_free(env, model);
	free(cj);
	free(w);
	free(trl);
	free(tel);
	free(tr_emb);
	free(te_emb);
	idx_free_images(&tr_img);
	idx_free_images(&te_img);
	idx_free_labels(&tr_lab);
	idx_free_labels(&te_lab);
	return 0;
}
