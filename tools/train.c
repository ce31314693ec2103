/*
 * train.c: the Siamese trainer.  Trains the twin network (one network,
 * shared weights) on Fashion-MNIST with a metric-learning loss mined inside
 * P x K batches, exports <out>.safetensors + <out>.json in the model format,
 * and measures the exported model through the inference path SQL uses
 * (sp_nn_embed_images), writing quality, calibrated threshold and few-shot
 * temperature into the JSON.  See docs/training.md.
 *
 *   train --arch cnn|resnet|mlp|mlp2d|pixels --out models/fashion [--name N]
 *         [--loss batch_all|batch_hard|contrastive|multi_similarity|softmax|cosface|batch_all_cosface] [--margin M] [--aux-weight W]
 *         [--epochs E] [--seed S] [--lr 1e-3] [--wd 1e-4] [--P 10] [--K 16]
 *         [--aug flip,shift,cutout] [--no-bn] [--no-eval]
 *         [--imbalance-class C --imbalance-keep N] [--results FILE] [--threads T]
 *
 * Deterministic: one BLAS thread, all randomness from --seed; --threads
 * (default 1) splits each step's ops over T threads, reproducibly for a
 * given T (nn_train.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idx.h"
#include "metrics_eval.h"
#include "nn/classifier.h"
#include "nn/nn_model.h"
#include "nn/nn_train.h"
#include "util/team.h"
#include "util/rng.h"

#define NCLASS 10

typedef struct opts
{
	const char *arch;
	const char *out;
	const char *name;
	const char *loss;
	const char *aug;
	const char *results;
	double		margin;
	int			epochs;
	uint64_t	seed;
	double		lr;
	double		wd;
	int			P,
				K;
	int			bn;
	int			eval;
	int			imb_class;
	int			imb_keep;
	double		softmax_scale;
	double		aux_weight;
	int			threads;
} opts;

static void
die(const char *what, const sp_error *err)
{
	fprintf(stderr, "train: %s: %s\n", what, err->message);
	if (err->detail[0])
		fprintf(stderr, "DETAIL: %s\n", err->detail);
	exit(1);
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: train --arch cnn|resnet|mlp|mlp2d|pixels --out PATH_PREFIX [--name NAME]\n"
			"             [--loss batch_all|batch_hard|contrastive|multi_similarity|softmax|cosface\n"
			"                     |batch_all_cosface] [--margin M] [--aux-weight W] [--epochs E]\n"
			"             [--seed S] [--lr LR] [--wd WD] [--P 10] [--K 16] [--aug flip,shift,cutout]\n"
			"             [--no-bn] [--no-eval] [--imbalance-class C --imbalance-keep N] [--results FILE]\n"
			"             [--threads T]\n");
	exit(2);
}

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double) t.tv_sec + t.tv_nsec * 1e-9;
}

/* sp_nn_fit's progress, printed as the trainer always did */
typedef struct progress_state
{
	bool		is_softmax;
	int			batch;
	double		t;
} progress_state;

static void
print_progress(void *arg, int epoch, int step, int steps_per_epoch, double loss, long active, double lr)
{
	progress_state *ps = arg;

	if (step == steps_per_epoch)
	{
		fprintf(stderr, "epoch %d: mean loss %.4f%s%.4f  %.1f s\n", epoch + 1, loss,
				ps->is_softmax ? " train acc " : " mean active ",
				ps->is_softmax ? (double) active / ((double) steps_per_epoch * ps->batch) :
				(double) active / steps_per_epoch, now() - ps->t);
		ps->t = now();
	}
	else if (step % 50 == 0)
		fprintf(stderr, "  epoch %d step %d/%d loss %.4f active %ld lr %.2e (%.1f s)\n",
				epoch + 1, step, steps_per_epoch, loss, active, lr, now() - ps->t);
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE	   *f = fopen(path, "wb");

	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
	{
		fprintf(stderr, "train: cannot write %s\n", path);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	const sp_env *env = sp_env_default();
	opts		o = {.arch = "cnn", .out = NULL, .name = NULL, .loss = "batch_all", .aug = "",
		.margin = 0.2, .epochs = 5, .seed = 1, .lr = 1e-3, .wd = 1e-4, .P = 10, .K = 16,
	.bn = 1, .eval = 1, .imb_class = -1, .imb_keep = 0, .softmax_scale = SP_FIT_HEAD_SCALE,
	.threads = 1};
	char		cmdline[2048] = "tools/bin/train";
	idx_images	tr_img,
				te_img;
	idx_labels	tr_lab,
				te_lab;
	sp_nn_config *cfg;
	sp_nn_trainer *tr = NULL;
	sp_error	err;
	bool		aug_flip,
				aug_cutout;
	int			aug_shift;
	int		   *cls[NCLASS];
	int			ncls[NCLASS] = {0};
	int		   *train_set;
	int			ntrain = 0;
	int			batch_max,
				D;
	int			steps_per_epoch = 0;
	double		t_start = now(),
				train_seconds = 0;
	char		loss_curve[4096] = "",
				epoch_secs[4096] = "";
	char	   *cj;
	size_t		cl,
				wl;
	uint8_t    *w;
	float	   *head = NULL;
	bool		is_softmax;
	sp_fit_loss loss_kind;
	char		name_buf[128];

	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strlen(cmdline) + strlen(a) + 2 < sizeof(cmdline))
		{
			strcat(cmdline, " ");
			strcat(cmdline, a);
		}
		if (strcmp(a, "--no-bn") == 0)
		{
			o.bn = 0;
			continue;
		}
		if (strcmp(a, "--no-eval") == 0)
		{
			o.eval = 0;
			continue;
		}
		if (!v)
			usage();
		if (strcmp(a, "--arch") == 0)
			o.arch = v;
		else if (strcmp(a, "--out") == 0)
			o.out = v;
		else if (strcmp(a, "--name") == 0)
			o.name = v;
		else if (strcmp(a, "--loss") == 0)
			o.loss = v;
		else if (strcmp(a, "--aug") == 0)
			o.aug = v;
		else if (strcmp(a, "--results") == 0)
			o.results = v;
		else if (strcmp(a, "--margin") == 0)
			o.margin = atof(v);
		else if (strcmp(a, "--epochs") == 0)
			o.epochs = atoi(v);
		else if (strcmp(a, "--seed") == 0)
			o.seed = strtoull(v, NULL, 10);
		else if (strcmp(a, "--lr") == 0)
			o.lr = atof(v);
		else if (strcmp(a, "--wd") == 0)
			o.wd = atof(v);
		else if (strcmp(a, "--P") == 0)
			o.P = atoi(v);
		else if (strcmp(a, "--K") == 0)
			o.K = atoi(v);
		else if (strcmp(a, "--imbalance-class") == 0)
			o.imb_class = atoi(v);
		else if (strcmp(a, "--imbalance-keep") == 0)
			o.imb_keep = atoi(v);
		else if (strcmp(a, "--softmax-scale") == 0)
			o.softmax_scale = atof(v);
		else if (strcmp(a, "--aux-weight") == 0)
			o.aux_weight = atof(v);
		else if (strcmp(a, "--threads") == 0)
			o.threads = atoi(v);
		else
			usage();
		if (strlen(cmdline) + strlen(v) + 2 < sizeof(cmdline))
		{
			strcat(cmdline, " ");
			strcat(cmdline, v);
		}
		i++;
	}
	if (!o.out || o.epochs < 0 || o.epochs > 1000 || o.threads < 1 || o.threads > SP_TEAM_MAX || o.P < 2 || o.P > NCLASS || o.K < 2 || o.K > 64 ||
		(o.imb_class >= NCLASS) || (o.imb_class >= 0 && o.imb_keep < 1))
		usage();
	if (!sp_fit_loss_parse(o.loss, &loss_kind))
		usage();
	is_softmax = sp_fit_loss_has_head(loss_kind);
	aug_flip = strstr(o.aug, "flip") != NULL;
	aug_shift = strstr(o.aug, "shift") ? 2 : 0;
	aug_cutout = strstr(o.aug, "cutout") != NULL;
	if (!o.name)
	{
		const char *slash = strrchr(o.out, '/');

		snprintf(name_buf, sizeof(name_buf), "%s", slash ? slash + 1 : o.out);
		o.name = name_buf;
	}
	sp_blas_set_threads(1);

	if (fashion_mnist_load(NULL, "train", &tr_img, &tr_lab, &err) != SP_OK)
		die("loading the training set", &err);
	if (fashion_mnist_load(NULL, "t10k", &te_img, &te_lab, &err) != SP_OK)
		die("loading the test set", &err);

	/* training set: all images, or with one class cut to its first imb_keep images */
	train_set = malloc((size_t) tr_img.count * sizeof(int));
	for (int c = 0; c < NCLASS; c++)
		cls[c] = malloc((size_t) tr_img.count * sizeof(int));
	for (int i = 0; i < tr_img.count; i++)
	{
		int			c = tr_lab.labels[i];

		if (c >= NCLASS)
			continue;
		if (c == o.imb_class && ncls[c] >= o.imb_keep)
			continue;
		cls[c][ncls[c]++] = i;
		train_set[ntrain++] = i;
	}

	{
		char		cfg_text[8192];

		if (!sp_nn_arch_config(o.arch, o.name, o.bn, cfg_text, sizeof cfg_text))
			usage();
		if (sp_nn_config_parse(env, cfg_text, strlen(cfg_text), &cfg, &err) != SP_OK)
			die("building the config", &err);
	}
	D = cfg->embedding_dim;
	batch_max = o.P * o.K;
	if (sp_nn_trainer_create(env, cfg, batch_max, o.seed, SP_NN_INIT_HE, o.threads, &tr, &err) != SP_OK)
		die("creating the trainer", &err);
	fprintf(stderr, "train: %s arch=%s loss=%s epochs=%d seed=%llu params=%zu train_images=%d blas=%s\n",
			o.name, o.arch, o.loss, o.epochs, (unsigned long long) o.seed, sp_nn_config_param_count(cfg),
			ntrain, sp_blas_corename());

	if (is_softmax)
	{
		head = calloc((size_t) NCLASS * D, sizeof(float));
		sp_fit_head_init(head, NCLASS, D, o.seed);
	}

	if (o.epochs > 0 && strcmp(o.arch, "pixels") != 0)
	{
		sp_preprocess_spec in = cfg->input;
		sp_fit_data data = {.c = 1, .h = 28, .w = 28, .pixels = tr_img.pixels, .n_classes = NCLASS,
		.cls = cls, .ncls = ncls, .input = &in};
		sp_fit_opts fo = {.epochs = o.epochs, .P = o.P, .K = o.K, .lr = o.lr, .wd = o.wd, .margin = o.margin,
			.softmax_scale = o.softmax_scale, .aux_weight = o.aux_weight, .seed = o.seed, .flip = aug_flip, .shift = aug_shift,
		.cutout = aug_cutout};
		double	   *ep_loss = calloc((size_t) o.epochs, sizeof(double));
		double	   *ep_secs = calloc((size_t) o.epochs, sizeof(double));
		sp_fit_result res = {.epoch_loss = ep_loss, .epoch_seconds = ep_secs, .head = head};
		progress_state ps = {.is_softmax = is_softmax && loss_kind != SP_FIT_BATCH_ALL_COSFACE, .batch = o.P * o.K, .t = now()};

		fo.loss = loss_kind;
		if (sp_nn_fit(env, tr, &data, &fo, print_progress, &ps, &res, &err) != SP_OK)
			die("training", &err);
		steps_per_epoch = res.steps_per_epoch;
		train_seconds = res.train_seconds;
		for (int ep = 0; ep < o.epochs; ep++)
		{
			snprintf(loss_curve + strlen(loss_curve), sizeof(loss_curve) - strlen(loss_curve),
					 "%s%.5f", ep ? "," : "", ep_loss[ep]);
			snprintf(epoch_secs + strlen(epoch_secs), sizeof(epoch_secs) - strlen(epoch_secs),
					 "%s%.1f", ep ? "," : "", ep_secs[ep]);
		}
		free(ep_loss);
		free(ep_secs);
	}

	/* export, then evaluate the exported model through the inference path */
	if (sp_nn_trainer_export(tr, NULL, NULL, 0, &cj, &cl, &w, &wl, &err) != SP_OK)
		die("export", &err);
	{
		sp_nn_model *model;
		float	   *tr_emb,
				   *te_emb;
		int		   *trl = malloc((size_t) tr_img.count * sizeof(int));
		int		   *tel = malloc((size_t) te_img.count * sizeof(int));
		fm_quality	q = {0};
		char		training[16384],
					quality[4096] = "",
					extra[2048] = "";
		char	   *final_json;
		size_t		final_len;
		char	   *classifier = NULL;
		size_t		classifier_len;
		char		path[1024];
		sp_distance_kind kind;
		double		te0 = now(),
					embed_seconds;
		uint8_t    *gal_pix;

		if (sp_nn_model_load(env, cj, cl, w, wl, &model, &err) != SP_OK)
			die("loading the exported model", &err);
		kind = sp_nn_model_config(model)->distance;
		/* gallery = the training set actually used (all 60k, or the imbalanced one) */
		gal_pix = malloc((size_t) ntrain * 784);
		for (int i = 0; i < ntrain; i++)
		{
			memcpy(gal_pix + (size_t) i * 784, tr_img.pixels + (size_t) train_set[i] * 784, 784);
			trl[i] = tr_lab.labels[train_set[i]];
		}
		for (int i = 0; i < te_img.count; i++)
			tel[i] = te_lab.labels[i];
		tr_emb = malloc((size_t) ntrain * D * sizeof(float));
		te_emb = malloc((size_t) te_img.count * D * sizeof(float));
		if (!o.eval)
			goto write;
		if (fm_embed(env, model, gal_pix, ntrain, 28, 28, tr_emb, &err) != SP_OK ||
			fm_embed(env, model, te_img.pixels, te_img.count, 28, 28, te_emb, &err) != SP_OK)
			die("embedding", &err);
		embed_seconds = now() - te0;
		fprintf(stderr, "embedded %d + %d images in %.1f s (%.0f images/s)\n", ntrain, te_img.count,
				embed_seconds, (ntrain + te_img.count) / embed_seconds);

		if (o.imb_class >= 0)
		{
			/* imbalance experiment: accuracy on the rare class and overall */
			int		   *idx = malloc((size_t) te_img.count * sizeof(int));
			char		proto_res[256] = "",
						method[64];
			long		ok = 0,
						n_rare = 0,
						ok_rare = 0,
						pred_rare = 0;

			if (is_softmax)
			{
				for (int i = 0; i < te_img.count; i++)
				{
					const float *e = te_emb + (size_t) i * D;
					double		best = -INFINITY;

					idx[i] = 0;
					for (int k = 0; k < NCLASS; k++)
					{
						const float *wk = head + (size_t) k * D;
						double		dot = 0,
									nw = 0;

						for (int t = 0; t < D; t++)
						{
							dot += (double) e[t] * wk[t];
							nw += (double) wk[t] * wk[t];
						}
						dot /= sqrt(nw) > 0 ? sqrt(nw) : 1;
						if (dot > best)
						{
							best = dot;
							idx[i] = k;
						}
					}
				}
			}
			else
			{
				int		   *nn = malloc((size_t) te_img.count * sizeof(int));

				if (fm_knn(env, tr_emb, trl, ntrain, te_emb, tel, te_img.count, D, kind, false, 1, nn, NULL, &err) != SP_OK)
					die("k-NN", &err);
				for (int i = 0; i < te_img.count; i++)
					idx[i] = trl[nn[i]];
				free(nn);
				/* also the class-balanced Siamese classifier: nearest class mean */
				{
					double	   *mean = calloc((size_t) NCLASS * D, sizeof(double));
					float		proto[NCLASS][128];
					long		pok = 0,
								pok_rare = 0,
								pn_rare = 0;

					for (int i = 0; i < ntrain; i++)
						for (int t = 0; t < D; t++)
							mean[(size_t) trl[i] * D + t] += tr_emb[(size_t) i * D + t];
					for (int c = 0; c < NCLASS; c++)
						for (int t = 0; t < D && t < 128; t++)
							proto[c][t] = (float) (mean[(size_t) c * D + t] / (ncls[c] ? ncls[c] : 1));
					for (int i = 0; i < te_img.count && D <= 128; i++)
					{
						int			best = 0;
						double		bd = INFINITY;

						for (int c = 0; c < NCLASS; c++)
						{
							double		dd = sp_dist(kind, te_emb + (size_t) i * D, proto[c], (size_t) D);

							if (dd < bd)
							{
								bd = dd;
								best = c;
							}
						}
						pok += best == tel[i];
						if (tel[i] == o.imb_class)
						{
							pn_rare++;
							pok_rare += best == tel[i];
						}
					}
					free(mean);
					if (pn_rare)
						snprintf(proto_res, sizeof(proto_res),
								 ",\"prototype_rare_class_accuracy\":%.4f,\"prototype_overall_accuracy\":%.4f",
								 (double) pok_rare / pn_rare, (double) pok / te_img.count);
				}
			}
			for (int i = 0; i < te_img.count; i++)
			{
				ok += idx[i] == tel[i];
				if (tel[i] == o.imb_class)
				{
					n_rare++;
					ok_rare += idx[i] == tel[i];
				}
				pred_rare += idx[i] == o.imb_class;
			}
			if (is_softmax)
				snprintf(method, sizeof(method), "%s classifier (cosine head)", sp_fit_loss_name(loss_kind));
			else
				snprintf(method, sizeof(method), "siamese 1-NN over the imbalanced train set");
			snprintf(extra, sizeof(extra),
					 "{\"experiment\":\"imbalance\",\"method\":\"%s\",\"rare_class\":%d,\"rare_train_images\":%d,"
					 "\"rare_class_accuracy\":%.4f,\"rare_class_precision\":%.4f,\"overall_accuracy\":%.4f,"
					 "\"epochs\":%d,\"seed\":%llu,\"train_seconds\":%.1f%s}",
					 method,
					 o.imb_class, ncls[o.imb_class], (double) ok_rare / n_rare,
					 pred_rare ? (double) ok_rare / pred_rare : 0.0, (double) ok / te_img.count,
					 o.epochs, (unsigned long long) o.seed, train_seconds, proto_res);
			fprintf(stderr, "%s\n", extra);
			printf("%s\n", extra);
			free(idx);
		}
		else
		{
			if (fm_evaluate(env, tr_emb, trl, ntrain, te_emb, tel, te_img.count, D, kind, o.seed, &q, &err) != SP_OK)
				die("evaluation", &err);
			fm_quality_json(&q, quality, sizeof(quality));
			fprintf(stderr, "quality (%.1f s): %s\nthreshold %.6f (calibration accuracy %.4f)\n",
					q.seconds, quality, q.threshold, q.verif_acc_calib);
		}
write:
		snprintf(training, sizeof(training),
				 "{\"arch\":\"%s\",\"loss\":\"%s\",\"margin\":%g,\"epochs\":%d,\"seed\":%llu,"
				 "\"batch\":\"P x K = %d classes x %d images\",\"steps_per_epoch\":%d,"
				 "\"optimizer\":\"AdamW (decoupled weight decay %g), lr peak %g, linear warm-up 5%% of steps, cosine decay to 1%%\","
				 "\"init\":\"he\",\"batchnorm\":%s,\"augmentation\":[%s%s%s%s%s],"
				 "\"train_images\":%d,\"loss_curve\":[%s],\"epoch_seconds\":[%s],\"train_seconds\":%.1f,"
				 "\"blas\":\"OpenBLAS core %s, 1 thread\",\"threads\":%d,\"command\":\"%s\"}",
				 o.arch, o.loss, o.margin, o.epochs, (unsigned long long) o.seed, o.P, o.K, steps_per_epoch,
				 o.wd, o.lr, o.bn && strcmp(o.arch, "cnn") == 0 ? "true" : "false",
				 aug_flip ? "\"hflip p=0.5\"" : "",
				 aug_flip && aug_shift ? "," : "", aug_shift ? "\"shift +-2 px\"" : "",
				 (aug_flip || aug_shift) && aug_cutout ? "," : "",
				 aug_cutout ? "\"cutout 10x10 p=0.5\"" : "",
				 ntrain, loss_curve, epoch_secs, train_seconds, sp_blas_corename(), o.threads, cmdline);
		if (strcmp(o.arch, "pixels") == 0)
			snprintf(training, sizeof(training),
					 "{\"arch\":\"pixels\",\"note\":\"no weights: the embedding is the normalised pixels (x/255-0.2860)/0.3530, "
					 "compared with Euclidean distance\",\"command\":\"%s\"}", cmdline);
		/* a loss with class proxies leaves a classifier: the model carries it */
		if (head && sp_nn_classifier_json(env, fashion_mnist_class_names, NCLASS, D, o.softmax_scale, head,
										  &classifier, &classifier_len, &err) != SP_OK)
			die("writing the classifier", &err);
		if (sp_nn_config_set_extras(env, cj, cl, training, o.eval && o.imb_class < 0 ? quality : NULL,
									"{\"dataset\":\"Fashion-MNIST (Xiao et al. 2017, MIT license)\","
									"\"classes\":[\"T-shirt/top\",\"Trouser\",\"Pullover\",\"Dress\",\"Coat\","
									"\"Sandal\",\"Shirt\",\"Sneaker\",\"Bag\",\"Ankle boot\"],"
									"\"trainer\":\"siamese_pg tools/train.c\"}", classifier,
									o.eval && o.imb_class < 0, o.eval && o.imb_class < 0 ? q.threshold : 0,
									&final_json, &final_len, &err) != SP_OK)
			die("writing the final config", &err);
		sp_free(env, classifier);
		snprintf(path, sizeof(path), "%s.json", o.out);
		write_file(path, final_json, final_len);
		snprintf(path, sizeof(path), "%s.safetensors", o.out);
		write_file(path, w, wl);
		fprintf(stderr, "wrote %s.json and %s.safetensors (%zu bytes); total %.1f s\n", o.out, o.out, wl,
				now() - t_start);
		if (o.results && extra[0])
			write_file(o.results, extra, strlen(extra));
		sp_free(env, final_json);
		sp_nn_model_free(env, model);
		free(tr_emb);
		free(te_emb);
		free(trl);
		free(tel);
		free(gal_pix);
	}
	sp_free(env, cj);
	sp_free(env, w);
	sp_nn_trainer_free(tr);
	sp_nn_config_free(env, cfg);
	free(head);
	for (int c = 0; c < NCLASS; c++)
		free(cls[c]);
	free(train_set);
	idx_free_images(&tr_img);
	idx_free_images(&te_img);
	idx_free_labels(&tr_lab);
	idx_free_labels(&te_lab);
	return 0;
}
