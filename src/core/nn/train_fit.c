/*
 * train_fit.c: the training loop shared by tools/train.c and SQL's
 * train_model (nn_train.h's sp_nn_fit): P x K batches drawn from per-class
 * lists, augmentation, the learning-rate schedule, the metric losses (or a
 * cosine-softmax head), AdamW.
 *
 * Batches: each step takes P classes from a shuffled class order (a new
 * order every n_classes / P steps, so every class comes up once per round)
 * and K images of each (fewer if the class has fewer), walking each class's
 * shuffled list and reshuffling it when it runs out.  An epoch is enough
 * steps for the largest class to be seen once.  Every random draw comes from
 * one generator seeded with opts.seed, in a fixed order, so a run is
 * reproducible bit for bit with one BLAS thread.
 */
#include "nn/nn_train.h"
#include "util/rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/*
 * The project's own architectures (docs/training.md) as format-1 configs for
 * 28 x 28 grey images normalised with Fashion-MNIST's mean and std.
 */
bool
sp_nn_arch_config(const char *arch, const char *name, bool bn_layers, char *buf, size_t len)
{
	const char *input = "\"input\":{\"channels\":1,\"height\":28,\"width\":28,\"resize\":\"bilinear\","
		"\"fit\":\"stretch\",\"mean\":[0.2860],\"std\":[0.3530],\"scale\":255}";
	int			n;

	if (strcmp(arch, "cnn") == 0)
	{
		char		bn[4][96];

		for (int i = 0; i < 4; i++)
		{
			if (bn_layers)
				snprintf(bn[i], sizeof(bn[i]), "{\"type\":\"batchnorm\",\"name\":\"bn%d\"},", i + 1);
			else
				bn[i][0] = 0;
		}
		snprintf(buf, len,
				 "{\"name\":\"%s\",\"format_version\":1,%s,\"layers\":["
				 "{\"type\":\"conv2d\",\"name\":\"conv1\",\"in\":1,\"out\":32,\"kernel\":3,\"padding\":1},%s"
				 "{\"type\":\"relu\"},"
				 "{\"type\":\"conv2d\",\"name\":\"conv2\",\"in\":32,\"out\":32,\"kernel\":3,\"padding\":1},%s"
				 "{\"type\":\"relu\"},{\"type\":\"maxpool\",\"kernel\":2},"
				 "{\"type\":\"conv2d\",\"name\":\"conv3\",\"in\":32,\"out\":64,\"kernel\":3,\"padding\":1},%s"
				 "{\"type\":\"relu\"},"
				 "{\"type\":\"conv2d\",\"name\":\"conv4\",\"in\":64,\"out\":64,\"kernel\":3,\"padding\":1},%s"
				 "{\"type\":\"relu\"},{\"type\":\"maxpool\",\"kernel\":2},"
				 "{\"type\":\"flatten\"},{\"type\":\"linear\",\"name\":\"fc\",\"in\":3136,\"out\":128},"
				 "{\"type\":\"l2norm\"}],\"embedding_dim\":128,\"distance\":\"cosine\"}",
				 name, input, bn[0], bn[1], bn[2], bn[3]);
	}
	else if (strcmp(arch, "resnet") == 0)
	{
		/*
		 * A small residual network (He et al. 2016): a 32-channel stem at 28 x 28,
		 * then at 14 x 14 and at 7 x 7 a widening convolution followed by a
		 * residual block (conv, BN, ReLU, conv, BN, identity shortcut, ReLU),
		 * global average pooling and a linear projection.
		 */
		char		block[2][640];
		const int	ch[2] = {64, 128};

		for (int b = 0; b < 2; b++)
			snprintf(block[b], sizeof block[b],
					 "{\"type\":\"conv2d\",\"name\":\"conv%d\",\"in\":%d,\"out\":%d,\"kernel\":3,\"padding\":1,\"bias\":false},"
					 "{\"type\":\"batchnorm\",\"name\":\"bn%d\"},{\"type\":\"relu\"},{\"type\":\"skip\"},"
					 "{\"type\":\"conv2d\",\"name\":\"res%da\",\"in\":%d,\"out\":%d,\"kernel\":3,\"padding\":1,\"bias\":false},"
					 "{\"type\":\"batchnorm\",\"name\":\"res%da_bn\"},{\"type\":\"relu\"},"
					 "{\"type\":\"conv2d\",\"name\":\"res%db\",\"in\":%d,\"out\":%d,\"kernel\":3,\"padding\":1,\"bias\":false},"
					 "{\"type\":\"batchnorm\",\"name\":\"res%db_bn\"},{\"type\":\"add\"},{\"type\":\"relu\"},",
					 b + 2, b ? 64 : 32, ch[b], b + 2, b + 2, ch[b], ch[b], b + 2, b + 2, ch[b], ch[b], b + 2);
		n = snprintf(buf, len,
					 "{\"name\":\"%s\",\"format_version\":1,%s,\"layers\":["
					 "{\"type\":\"conv2d\",\"name\":\"conv1\",\"in\":1,\"out\":32,\"kernel\":3,\"padding\":1,\"bias\":false},"
					 "{\"type\":\"batchnorm\",\"name\":\"bn1\"},{\"type\":\"relu\"},{\"type\":\"maxpool\",\"kernel\":2},"
					 "%s{\"type\":\"maxpool\",\"kernel\":2},%s"
					 "{\"type\":\"avgpool\",\"kernel\":7},{\"type\":\"flatten\"},"
					 "{\"type\":\"linear\",\"name\":\"fc\",\"in\":128,\"out\":128},{\"type\":\"l2norm\"}],"
					 "\"embedding_dim\":128,\"distance\":\"cosine\"}", name, input, block[0], block[1]);
		return n > 0 && (size_t) n < len;
	}
	else if (strcmp(arch, "mlp2d") == 0)
		snprintf(buf, len,
				 "{\"name\":\"%s\",\"format_version\":1,%s,\"layers\":["
				 "{\"type\":\"flatten\"},"
				 "{\"type\":\"linear\",\"name\":\"fc1\",\"in\":784,\"out\":200},{\"type\":\"relu\"},"
				 "{\"type\":\"linear\",\"name\":\"fc2\",\"in\":200,\"out\":100},{\"type\":\"relu\"},"
				 "{\"type\":\"linear\",\"name\":\"fc3\",\"in\":100,\"out\":2}],"
				 "\"embedding_dim\":2,\"distance\":\"l2\"}", name, input);
	else if (strcmp(arch, "mlp") == 0)
		snprintf(buf, len,
				 "{\"name\":\"%s\",\"format_version\":1,%s,\"layers\":["
				 "{\"type\":\"flatten\"},"
				 "{\"type\":\"linear\",\"name\":\"fc1\",\"in\":784,\"out\":256},{\"type\":\"relu\"},"
				 "{\"type\":\"linear\",\"name\":\"fc2\",\"in\":256,\"out\":128},{\"type\":\"l2norm\"}],"
				 "\"embedding_dim\":128,\"distance\":\"cosine\"}", name, input);
	else if (strcmp(arch, "pixels") == 0)
		snprintf(buf, len,
				 "{\"name\":\"%s\",\"format_version\":1,%s,\"layers\":[{\"type\":\"flatten\"}],"
				 "\"embedding_dim\":784,\"distance\":\"l2\"}", name, input);
	else
		return false;
	return true;
}

bool
sp_nn_head_config(const char *head, int in_dim, int out_dim, const char *name, char *buf, size_t len)
{
	int			w = 0,
				n;
	char		input[256];

	if (in_dim < 1 || in_dim > SP_NN_MAX_INPUT_SIDE * SP_NN_MAX_INPUT_SIDE || out_dim < 1 ||
		out_dim > SP_NN_MAX_FEATURES)
		return false;
	/* the features as a 1 x h x w "image" with h, w within the config's limits (the head flattens it) */
	for (int d = in_dim < SP_NN_MAX_INPUT_SIDE ? in_dim : SP_NN_MAX_INPUT_SIDE; d >= 1 && !w; d--)
		if (in_dim % d == 0 && in_dim / d <= SP_NN_MAX_INPUT_SIDE)
			w = d;
	if (!w)
		return false;
	snprintf(input, sizeof input,
			 "\"input\":{\"channels\":1,\"height\":%d,\"width\":%d,\"resize\":\"bilinear\",\"fit\":\"stretch\","
			 "\"mean\":[0],\"std\":[1],\"scale\":1}", in_dim / w, w);
	if (strcmp(head, "linear") == 0)
		n = snprintf(buf, len,
				 "{\"name\":\"%s\",\"format_version\":1,%s,\"layers\":[{\"type\":\"flatten\"},"
				 "{\"type\":\"linear\",\"name\":\"fc\",\"in\":%d,\"out\":%d},{\"type\":\"l2norm\"}],"
				 "\"embedding_dim\":%d,\"distance\":\"cosine\"}", name, input, in_dim, out_dim, out_dim);
	else if (strcmp(head, "mlp") == 0)
		n = snprintf(buf, len,
				 "{\"name\":\"%s\",\"format_version\":1,%s,\"layers\":[{\"type\":\"flatten\"},"
				 "{\"type\":\"linear\",\"name\":\"fc1\",\"in\":%d,\"out\":%d},{\"type\":\"relu\"},"
				 "{\"type\":\"linear\",\"name\":\"fc2\",\"in\":%d,\"out\":%d},{\"type\":\"l2norm\"}],"
				 "\"embedding_dim\":%d,\"distance\":\"cosine\"}", name, input, in_dim, SP_NN_HEAD_HIDDEN,
				 SP_NN_HEAD_HIDDEN, out_dim, out_dim);
	else
		return false;
	return n > 0 && (size_t) n < len;
}

static const char *const loss_names[] = {"batch_all", "batch_hard", "contrastive", "softmax", "cosface",
	"multi_similarity", "batch_all_cosface"};
#define N_LOSSES ((int) (sizeof loss_names / sizeof loss_names[0]))

bool
sp_fit_loss_parse(const char *name, sp_fit_loss *out)
{
	for (int i = 0; i < N_LOSSES; i++)
		if (strcmp(name, loss_names[i]) == 0)
		{
			*out = (sp_fit_loss) i;
			return true;
		}
	return false;
}

void
sp_fit_head_init(float *head, int classes, int D, uint64_t seed)
{
	sp_rng		r;

	sp_rng_seed(&r, seed, 77);
	for (size_t k = 0; k < (size_t) classes * D; k++)
		head[k] = (float) sp_rng_uniform_range(&r, -1.0 / sqrt(D), 1.0 / sqrt(D));
}

bool
sp_fit_loss_has_head(sp_fit_loss l)
{
	return l == SP_FIT_SOFTMAX || l == SP_FIT_COSFACE || l == SP_FIT_BATCH_ALL_COSFACE;
}

const char *
sp_fit_loss_name(sp_fit_loss l)
{
	return (int) l >= 0 && (int) l < N_LOSSES ? loss_names[l] : "?";
}

static double
seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double) t.tv_sec + (double) t.tv_nsec * 1e-9;
}

static void
shuffle(sp_rng *rng, int *a, int n)
{
	for (int i = n - 1; i > 0; i--)
	{
		int			j = (int) sp_rng_uniform_int(rng, (uint64_t) i + 1);
		int			t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

size_t
sp_fit_record_bytes(const sp_fit_data *d)
{
	return (size_t) d->c * d->h * d->w * (d->floats ? sizeof(float) : 1);
}

void
sp_fit_pixel_input(const sp_fit_data *d, const uint8_t *src, float *dst)
{
	const size_t plane = (size_t) d->h * d->w;

	if (d->floats)
	{
		const size_t n = (size_t) d->c * plane;

		memcpy(dst, src, n * sizeof(float));
		if (d->feature_mean)
			for (size_t i = 0; i < n; i++)
				dst[i] = (dst[i] - d->feature_mean[i]) / d->feature_std[i];
		return;
	}

	for (int ch = 0; ch < d->c; ch++)
	{
		const float mean = d->input->mean[ch],
					std = d->input->std[ch],
					scale = d->input->scale;

		for (size_t i = 0; i < plane; i++)
			dst[ch * plane + i] = ((float) src[ch * plane + i] / scale - mean) / std;
	}
}

/*
 * Record idx of the cache: in memory, or read through fetch into buf
 * (sp_fit_record_bytes(d) bytes).  *out points at it.
 */
static sp_status
fit_record(const sp_fit_data *d, int idx, uint8_t *buf, const uint8_t **out, sp_error *err)
{
	if (d->pixels)
	{
		*out = d->pixels + (size_t) idx * sp_fit_record_bytes(d);
		return SP_OK;
	}
	*out = buf;
	return d->fetch(d->fetch_arg, idx, buf, err);
}

sp_status
sp_fit_feature_stats(const sp_env *env, const sp_fit_data *d, float *mean, float *std, sp_error *err)
{
	const size_t n = (size_t) d->c * d->h * d->w;
	double	   *sum = sp_alloc_array(env, n, sizeof(double)),
			   *sq = sp_alloc_array(env, n, sizeof(double));
	float	   *rec = d->pixels ? NULL : sp_alloc_array(env, n, sizeof(float));
	long		count = 0;
	double		scale = 0;
	sp_status	st = SP_OK;

	if (!sum || !sq || (!d->pixels && !rec))
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory for the features' statistics");
		goto done;
	}
	memset(sum, 0, n * sizeof(double));
	memset(sq, 0, n * sizeof(double));
	for (size_t i = 0; i < n; i++)
		mean[i] = 0;
	for (int c = 0; c < d->n_classes; c++)
		for (int k = 0; k < d->ncls[c]; k++)
		{
			const uint8_t *r;
			const float *x;

			if (sp_env_interrupted(env))
			{
				st = sp_set_error(err, SP_ERR_INTERRUPTED, "training interrupted");
				goto done;
			}
			if ((st = fit_record(d, d->cls[c][k], (uint8_t *) rec, &r, err)) != SP_OK)
				goto done;
			x = (const float *) r;
			/* sums about the first record: well conditioned when the values sit far from 0 */
			if (count++ == 0)
				memcpy(mean, x, n * sizeof(float));
			for (size_t i = 0; i < n; i++)
			{
				double		v = (double) x[i] - mean[i];

				sum[i] += v;
				sq[i] += v * v;
			}
		}
	for (size_t i = 0; i < n && count > 0; i++)
	{
		double		m = sum[i] / count;

		sq[i] = sq[i] / count - m * m;	/* the variance */
		mean[i] = (float) (mean[i] + m);
		scale += ((double) mean[i] * mean[i] + (sq[i] > 0 ? sq[i] : 0)) / n;
	}
	/*
	 * A value that varies by less than 1e-5 of the features' RMS is not
	 * scaled up (float rounding would become signal): its std is that floor.
	 */
	scale = 1e-5 * sqrt(scale);
	for (size_t i = 0; i < n; i++)
	{
		double		sd = count > 0 && sq[i] > 0 ? sqrt(sq[i]) : 0;

		std[i] = (float) (sd > scale ? sd : scale > 0 ? scale : 1.0);
	}
done:
	sp_free(env, sum);
	sp_free(env, sq);
	sp_free(env, rec);
	return st;
}

/* One training image, augmented and normalised, into dst (c x h x w floats). */
static void
load_image(const sp_fit_data *d, const uint8_t *src, float *dst, sp_rng *rng, const sp_fit_opts *o)
{
	const int	H = d->h,
				W = d->w;
	const int	cut = H * 10 / 28 > 0 ? H * 10 / 28 : 1;
	int			dx = 0,
				dy = 0,
				fl = 0;

	if (d->floats)
	{
		/* a frozen model's features: no augmentation (they were computed once) */
		sp_fit_pixel_input(d, src, dst);
		return;
	}
	if (o->flip)
		fl = sp_rng_uniform_int(rng, 2) != 0;
	if (o->shift > 0)
	{
		dx = (int) sp_rng_randint(rng, -o->shift, o->shift + 1);
		dy = (int) sp_rng_randint(rng, -o->shift, o->shift + 1);
	}
	for (int ch = 0; ch < d->c; ch++)
	{
		const float mean = d->input->mean[ch],
					std = d->input->std[ch],
					scale = d->input->scale;
		const float zero = (0.0f - mean) / std;
		const uint8_t *sp = src + (size_t) ch * H * W;
		float	   *dp = dst + (size_t) ch * H * W;

		for (int y = 0; y < H; y++)
			for (int x = 0; x < W; x++)
			{
				int			sx = x - dx,
							sy = y - dy;

				if (fl)
					sx = W - 1 - sx;
				if (sx < 0 || sx > W - 1 || sy < 0 || sy > H - 1)
					dp[y * W + x] = zero;
				else
					dp[y * W + x] = ((float) sp[sy * W + sx] / scale - mean) / std;
			}
	}
	/* cutout (DeVries & Taylor 2017): half the images lose a square */
	if (o->cutout && sp_rng_uniform_int(rng, 2))
	{
		int			cx = (int) sp_rng_uniform_int(rng, (uint64_t) W),
					cy = (int) sp_rng_uniform_int(rng, (uint64_t) H);

		for (int ch = 0; ch < d->c; ch++)
		{
			const float zero = (0.0f - d->input->mean[ch]) / d->input->std[ch];
			float	   *dp = dst + (size_t) ch * H * W;

			for (int y = cy - cut / 2; y < cy + (cut + 1) / 2; y++)
				for (int x = cx - cut / 2; x < cx + (cut + 1) / 2; x++)
					if (x >= 0 && x < W && y >= 0 && y < H)
						dp[y * W + x] = zero;
		}
	}
}

sp_status
sp_nn_fit(const sp_env *env, sp_nn_trainer *tr, const sp_fit_data *d, const sp_fit_opts *o,
		  sp_fit_progress progress, void *progress_arg, sp_fit_result *res, sp_error *err)
{
	const int	NC = d->n_classes;
	const int	P = o->P < NC ? o->P : NC;
	const int	D = sp_nn_trainer_config(tr)->embedding_dim;
	const int	batch_max = P * o->K;
	const size_t in_size = (size_t) d->c * d->h * d->w;
	const size_t rec_bytes = sp_fit_record_bytes(d);
	const bool	softmax = sp_fit_loss_has_head(o->loss);
	sp_nn_adam	adam = {.lr = (float) o->lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
	.weight_decay = (float) o->wd, .decoupled = true};
	float	   *input,
			   *emb,
			   *demb,
			   *head_m = NULL,
			   *head_v = NULL,
			   *head_g = NULL,
			   *demb_aux = NULL;	/* the hybrid's CosFace gradient */
	const double aux_weight = o->aux_weight > 0 ? o->aux_weight : SP_FIT_AUX_WEIGHT_DEFAULT;
	int		   *blab,
			   *cursor,
			   *order;
	uint8_t    *fetched = NULL;	/* one image read through d->fetch */
	int			maxn = 0,
				rounds,
				steps_per_epoch,
				warm;
	long		step = 0,
				total_steps;
	sp_rng		rng;
	sp_status	st = SP_OK;
	double		t0 = seconds();

	if (NC < 2 || P < 2 || o->K < 1 || o->epochs < 0 || batch_max > 65536 ||
		(softmax && (!res || !res->head)) || (!d->pixels && !d->fetch))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "training needs at least 2 classes, P >= 2 and K >= 1");
	for (int c = 0; c < NC; c++)
		if (d->ncls[c] > maxn)
			maxn = d->ncls[c];
	rounds = NC / P;
	/* an epoch: every image of the largest class once */
	steps_per_epoch = (maxn + o->K - 1) / o->K * NC / P;
	if (steps_per_epoch < 1)
		steps_per_epoch = 1;
	if (res)
		res->steps_per_epoch = steps_per_epoch;
	total_steps = (long) steps_per_epoch * o->epochs;
	warm = (int) (total_steps / 20);
	if (warm < 1)
		warm = 1;

	input = sp_alloc_array(env, (size_t) batch_max * in_size, sizeof(float));
	emb = sp_alloc_array(env, (size_t) batch_max * D, sizeof(float));
	demb = sp_alloc_array(env, (size_t) batch_max * D, sizeof(float));
	blab = sp_alloc_array(env, (size_t) batch_max, sizeof(int));
	cursor = sp_alloc_array(env, (size_t) NC, sizeof(int));
	order = sp_alloc_array(env, (size_t) NC, sizeof(int));
	fetched = d->pixels ? NULL : sp_alloc(env, rec_bytes);
	if (softmax)
	{
		head_m = sp_alloc_array(env, (size_t) NC * D, sizeof(float));
		head_v = sp_alloc_array(env, (size_t) NC * D, sizeof(float));
		head_g = sp_alloc_array(env, (size_t) NC * D, sizeof(float));
	}
	if (o->loss == SP_FIT_BATCH_ALL_COSFACE)
		demb_aux = sp_alloc_array(env, (size_t) batch_max * D, sizeof(float));
	if (!input || !emb || !demb || !blab || !cursor || !order || (softmax && (!head_m || !head_v || !head_g)) ||
		(o->loss == SP_FIT_BATCH_ALL_COSFACE && !demb_aux) ||
		(!d->pixels && !fetched))
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory starting training");
		goto done;
	}
	memset(cursor, 0, sizeof(int) * (size_t) NC);
	if (softmax)
	{
		memset(head_m, 0, sizeof(float) * (size_t) NC * D);
		memset(head_v, 0, sizeof(float) * (size_t) NC * D);
	}

	sp_rng_seed(&rng, o->seed, 1000);
	for (int c = 0; c < NC; c++)
		shuffle(&rng, d->cls[c], d->ncls[c]);

	for (int ep = 0; ep < o->epochs && st == SP_OK; ep++)
	{
		double		ep_loss = 0,
					te = seconds();
		long		ep_active = 0;

		for (int s = 0; s < steps_per_epoch; s++)
		{
			int			B = 0,
						active = 0;
			float		loss = 0;
			double		frac;

			if (sp_env_interrupted(env))
			{
				st = sp_set_error(err, SP_ERR_INTERRUPTED, "training interrupted");
				goto done;
			}
			/* P classes in a rotating random order */
			if (s % rounds == 0)
			{
				for (int c = 0; c < NC; c++)
					order[c] = c;
				shuffle(&rng, order, NC);
			}
			for (int pi = 0; pi < P; pi++)
			{
				int			c = order[(s % rounds) * P + pi];
				int			k = d->ncls[c] < o->K ? d->ncls[c] : o->K;

				for (int t = 0; t < k; t++)
				{
					if (cursor[c] >= d->ncls[c])
					{
						shuffle(&rng, d->cls[c], d->ncls[c]);
						cursor[c] = 0;
					}
					int			idx = d->cls[c][cursor[c]++];
					const uint8_t *src;

					if ((st = fit_record(d, idx, fetched, &src, err)) != SP_OK)
						goto done;
					load_image(d, src, input + (size_t) B * in_size, &rng, o);
					blab[B++] = c;
				}
			}
			/* linear warm-up to the peak, then cosine decay to 1% of it */
			if (step < warm)
				frac = (double) (step + 1) / warm;
			else
				frac = 0.01 + 0.99 * 0.5 * (1 + cos(M_PI * (double) (step - warm) / (double) (total_steps - warm)));
			adam.lr = (float) (o->lr * frac);

			if ((st = sp_nn_trainer_forward(tr, input, B, true, emb, err)) != SP_OK)
				goto done;
			switch (o->loss)
			{
				case SP_FIT_SOFTMAX:
				case SP_FIT_COSFACE:
					st = sp_nn_loss_softmax_ce(env, emb, blab, B, D, res->head, NULL, NC, (float) o->softmax_scale,
											   o->loss == SP_FIT_COSFACE ? (float) o->margin : 0.0f,
											   &loss, demb, head_g, NULL, &active, err);
					if (st == SP_OK)
						sp_nn_adam_update(res->head, head_g, head_m, head_v, (size_t) NC * D, &adam, step + 1, false);
					break;
				case SP_FIT_BATCH_ALL:
					st = sp_nn_loss_batch_all(env, emb, blab, B, D, (float) o->margin, &loss, demb, &active, err);
					break;
				case SP_FIT_BATCH_HARD:
					st = sp_nn_loss_batch_hard(env, emb, blab, B, D, (float) o->margin, &loss, demb, &active, err);
					break;
				case SP_FIT_CONTRASTIVE:
					st = sp_nn_loss_contrastive(env, emb, blab, B, D, (float) o->margin, &loss, demb, err);
					break;
				case SP_FIT_MULTI_SIMILARITY:
					st = sp_nn_loss_multi_similarity(env, emb, blab, B, D, (float) o->margin, &loss, demb, &active, err);
					break;
				case SP_FIT_BATCH_ALL_COSFACE:
					{
						/*
						 * Triplets shape the neighbourhoods, the proxies pull
						 * each class together; the sum's gradient trains
						 * the network, the CosFace part's the proxies.
						 */
						float		aux_loss;

						st = sp_nn_loss_batch_all(env, emb, blab, B, D, (float) o->margin, &loss, demb, &active, err);
						if (st == SP_OK)
							st = sp_nn_loss_softmax_ce(env, emb, blab, B, D, res->head, NULL, NC,
													   (float) o->softmax_scale, (float) SP_FIT_AUX_COSFACE_MARGIN,
													   &aux_loss, demb_aux, head_g, NULL, NULL, err);
						if (st != SP_OK)
							break;
						for (size_t i = 0; i < (size_t) B * D; i++)
							demb[i] += (float) aux_weight * demb_aux[i];
						for (size_t i = 0; i < (size_t) NC * D; i++)
							head_g[i] *= (float) aux_weight;
						loss += (float) aux_weight * aux_loss;
						sp_nn_adam_update(res->head, head_g, head_m, head_v, (size_t) NC * D, &adam, step + 1, false);
					}
					break;
			}
			if (st != SP_OK)
				goto done;
			sp_nn_trainer_zero_grad(tr);
			if ((st = sp_nn_trainer_backward(tr, demb, err)) != SP_OK)
				goto done;
			sp_nn_trainer_adam_step(tr, &adam);
			if (!isfinite(loss))
			{
				st = sp_set_error(err, SP_ERR_INVALID_ARG, "the training loss is not finite at step %ld", step);
				sp_error_hint(err, "Lower the learning rate.");
				goto done;
			}
			ep_loss += loss;
			ep_active += active;
			step++;
			if (progress)
				progress(progress_arg, ep, s, steps_per_epoch, loss, active, adam.lr);
		}
		ep_loss /= steps_per_epoch;
		if (res && res->epoch_loss)
			res->epoch_loss[ep] = ep_loss;
		if (res && res->epoch_seconds)
			res->epoch_seconds[ep] = seconds() - te;
		if (res)
			res->mean_active = (double) ep_active / steps_per_epoch;
		if (progress)
			progress(progress_arg, ep, steps_per_epoch, steps_per_epoch, ep_loss, ep_active, adam.lr);
	}
done:
	if (res)
		res->train_seconds = seconds() - t0;
	sp_free(env, input);
	sp_free(env, emb);
	sp_free(env, demb);
	sp_free(env, blab);
	sp_free(env, cursor);
	sp_free(env, order);
	sp_free(env, fetched);
	sp_free(env, head_m);
	sp_free(env, head_v);
	sp_free(env, head_g);
	sp_free(env, demb_aux);
	return st;
}
