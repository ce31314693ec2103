/*
 * robust_metrics.c: CE / mCE / relative mCE, flip probability, top-5
 * distance, and the k-NN and self-retrieval error measurements (see
 * robust_metrics.h and docs/robustness-metrics.md).  Also owns the built-in
 * AlexNet ImageNet-C error table of docs/reference/metrics.md.
 *
 * Everything accumulates in double.  The metric functions are pure and
 * allocation-free; only the k-NN search allocates its O(k) neighbour list,
 * once per call.
 */
#include "robust/robust_metrics.h"

#include <math.h>
#include <stdlib.h>

#include "vector/distance.h"

const int	sp_rm_benchmark_corruptions[15] = {
	SP_C_GAUSSIAN_NOISE, SP_C_SHOT_NOISE, SP_C_IMPULSE_NOISE,
	SP_C_DEFOCUS_BLUR, SP_C_GLASS_BLUR, SP_C_MOTION_BLUR, SP_C_ZOOM_BLUR,
	SP_C_SNOW, SP_C_FROST, SP_C_FOG, SP_C_BRIGHTNESS,
	SP_C_CONTRAST, SP_C_ELASTIC_TRANSFORM, SP_C_PIXELATE, SP_C_JPEG_COMPRESSION
};

const int	sp_rm_heldout_corruptions[4] = {
	SP_C_SPECKLE_NOISE, SP_C_GAUSSIAN_BLUR, SP_C_SPATTER, SP_C_SATURATE
};

/*
 * AlexNet top-1 errors on ImageNet-C, severities 1..5, in registry order
 * (hendrycks/robustness README table; docs/reference/metrics.md, "AlexNet
 * ImageNet-C top-1 errors").
 */
static const sp_rm_errors alexnet = {
	.clean = 0.435,
	.err = {
		[SP_C_GAUSSIAN_NOISE] = {.69528, .82542, .93554, .98138, .99452},
		[SP_C_SHOT_NOISE] = {.71224, .85108, .93574, .98182, .99146},
		[SP_C_IMPULSE_NOISE] = {.78374, .89808, .94870, .98720, .99548},
		[SP_C_DEFOCUS_BLUR] = {.65624, .73202, .85036, .91364, .94714},
		[SP_C_GLASS_BLUR] = {.64308, .75054, .88806, .91622, .93344},
		[SP_C_MOTION_BLUR] = {.58430, .70048, .82108, .89750, .92638},
		[SP_C_ZOOM_BLUR] = {.70008, .76992, .80784, .84198, .87198},
		[SP_C_SNOW] = {.71726, .88392, .86468, .91870, .94952},
		[SP_C_FROST] = {.61390, .79734, .88790, .89942, .93430},
		[SP_C_FOG] = {.67474, .76050, .84378, .87260, .94500},
		[SP_C_BRIGHTNESS] = {.45140, .48502, .54048, .62166, .72440},
		[SP_C_CONTRAST] = {.64548, .76150, .88874, .97760, .99270},
		[SP_C_ELASTIC_TRANSFORM] = {.52596, .70116, .55686, .64076, .80554},
		[SP_C_PIXELATE] = {.52218, .54620, .73728, .87092, .91262},
		[SP_C_JPEG_COMPRESSION] = {.51002, .54718, .57294, .65458, .74778},
		[SP_C_SPECKLE_NOISE] = {.66192, .74440, .90246, .94548, .97268},
		[SP_C_GAUSSIAN_BLUR] = {.54732, .70444, .82574, .89864, .95940},
		[SP_C_SPATTER] = {.47196, .62194, .75052, .84132, .90182},
		[SP_C_SATURATE] = {.59342, .65514, .51174, .70834, .82260},
	}
};

/* The README's "avg" column, kept to check the per-severity data against. */
static const double alexnet_avg[SP_C_COUNT] = {
	.886428, .894468, .922640, .819880, .826268, .785948, .798360,
	.866816, .826572, .819324, .564592, .853204, .646056, .717840, .606500,
	.845388, .787108, .717512, .658248
};

const sp_rm_errors *
sp_rm_alexnet_imagenet_c(void)
{
	return &alexnet;
}

double
sp_rm_alexnet_published_average(int corruption)
{
	if (corruption < 0 || corruption >= SP_C_COUNT)
		return NAN;
	return alexnet_avg[corruption];
}

void
sp_rm_errors_init(sp_rm_errors *t)
{
	if (!t)
		return;
	t->clean = NAN;
	for (int c = 0; c < SP_C_COUNT; c++)
		for (int s = 0; s < SP_CORRUPT_MAX_SEVERITY; s++)
			t->err[c][s] = NAN;
}

static int
valid_rate(double r)
{
	return isfinite(r) && r >= 0.0 && r <= 1.0;
}

static const char *
corruption_name(int c)
{
	const sp_corruption_info *info = sp_corruption_get(c);

	return info ? info->name : "?";
}

sp_status
sp_rm_errors_set(sp_rm_errors *t, int corruption, int severity, double rate, sp_error *err)
{
	if (!t)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "error table is NULL");
	if (severity < 0 || severity > SP_CORRUPT_MAX_SEVERITY)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "severity %d is out of range 0..%d",
							severity, SP_CORRUPT_MAX_SEVERITY);
	if (severity > 0 && (corruption < 0 || corruption >= SP_C_COUNT))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "corruption id %d is out of range 0..%d",
							corruption, SP_C_COUNT - 1);
	if (!valid_rate(rate))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "error rate %g is not in [0, 1]", rate);
	if (severity == 0)
		t->clean = rate;
	else
		t->err[corruption][severity - 1] = rate;
	return SP_OK;
}

sp_status
sp_rm_errors_record(sp_rm_errors *t, int corruption, int severity,
					int64_t wrong, int64_t total, sp_error *err)
{
	if (total <= 0 || wrong < 0 || wrong > total)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"error count %lld of %lld is invalid",
							(long long) wrong, (long long) total);
	return sp_rm_errors_set(t, corruption, severity, (double) wrong / (double) total, err);
}

/* Shared argument checks of CE and relative CE. */
static sp_status
check_cells(const sp_rm_errors *model, const sp_rm_errors *base, int c, unsigned mask,
			int need_clean, sp_error *err)
{
	if (!model || !base)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "error table is NULL");
	if (c < 0 || c >= SP_C_COUNT)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "corruption id %d is out of range 0..%d",
							c, SP_C_COUNT - 1);
	if (mask == 0 || (mask & ~SP_RM_ALL_SEVERITIES) != 0)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"severity mask 0x%x selects no severity or one outside 1..5", mask);
	if (need_clean && (!valid_rate(model->clean) || !valid_rate(base->clean)))
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"clean error of the %s is not recorded",
							valid_rate(model->clean) ? "baseline" : "model");
	for (int s = 0; s < SP_CORRUPT_MAX_SEVERITY; s++)
	{
		if (!(mask & (1u << s)))
			continue;
		if (!valid_rate(model->err[c][s]) || !valid_rate(base->err[c][s]))
			return sp_set_error(err, SP_ERR_INVALID_ARG,
								"error of the %s for %s at severity %d is not recorded",
								valid_rate(model->err[c][s]) ? "baseline" : "model",
								corruption_name(c), s + 1);
	}
	return SP_OK;
}

static double
finish_ratio(double num, double den, int *flags)
{
	if (den <= SP_RM_EPSILON)
	{
		if (flags)
			*flags |= SP_RM_UNDEFINED;
		return NAN;
	}
	return num / den;
}

static sp_status
ce_common(const sp_rm_errors *model, const sp_rm_errors *base, int c, unsigned mask,
		  int relative, double *out, int *flags, sp_error *err)
{
	double		num = 0.0,
				den = 0.0;
	sp_status	st;

	if (!out)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "output pointer is NULL");
	st = check_cells(model, base, c, mask, relative, err);
	if (st != SP_OK)
		return st;
	for (int s = 0; s < SP_CORRUPT_MAX_SEVERITY; s++)
	{
		if (!(mask & (1u << s)))
			continue;
		/* relative: the clean error comes off every severity's term */
		num += model->err[c][s] - (relative ? model->clean : 0.0);
		den += base->err[c][s] - (relative ? base->clean : 0.0);
	}
	*out = finish_ratio(num, den, flags);
	return SP_OK;
}

sp_status
sp_rm_ce(const sp_rm_errors *model, const sp_rm_errors *base, int corruption,
		 unsigned sev_mask, double *ce, int *flags, sp_error *err)
{
	return ce_common(model, base, corruption, sev_mask, 0, ce, flags, err);
}

sp_status
sp_rm_relative_ce(const sp_rm_errors *model, const sp_rm_errors *base, int corruption,
				  unsigned sev_mask, double *rce, int *flags, sp_error *err)
{
	return ce_common(model, base, corruption, sev_mask, 1, rce, flags, err);
}

/*
 * Mean of n members whose defined ones sum to sum: NaN with SP_RM_UNDEFINED
 * when undef of them are undefined (a mean over fewer members than asked for
 * would not be the metric); *n_undefined (may be NULL) receives undef.
 */
static double
finish_mean(double sum, int n, int undef, int *flags, int *n_undefined)
{
	if (n_undefined)
		*n_undefined = undef;
	if (undef == 0)
		return sum / n;
	if (flags)
		*flags |= SP_RM_UNDEFINED;
	return NAN;
}

double
sp_rm_severity_mean(const double *row, unsigned sev_mask, int *flags)
{
	double		sum = 0.0;
	int			n = 0,
				undef = 0;

	for (int s = 0; s < SP_CORRUPT_MAX_SEVERITY; s++)
	{
		if (!(sev_mask & (1u << s)))
			continue;
		n++;
		if (isnan(row[s]))
			undef++;
		else
			sum += row[s];
	}
	if (n == 0)
	{
		if (flags)
			*flags |= SP_RM_UNDEFINED;
		return NAN;
	}
	return finish_mean(sum, n, undef, flags, NULL);
}

sp_status
sp_rm_mce(const sp_rm_errors *model, const sp_rm_errors *base,
		  const int *corruptions, int ncorruptions, unsigned sev_mask,
		  int relative, double *mce, int *flags, int *n_undefined, sp_error *err)
{
	double		sum = 0.0;
	int			undef = 0;
	unsigned	seen = 0;

	if (!mce || !corruptions || ncorruptions < 1 || ncorruptions > SP_C_COUNT)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"corruption set must hold 1..%d corruptions", SP_C_COUNT);
	for (int i = 0; i < ncorruptions; i++)
	{
		int			c = corruptions[i];
		int			f = 0;
		double		v;
		sp_status	st;

		if (c >= 0 && c < SP_C_COUNT && (seen & (1u << c)))
			return sp_set_error(err, SP_ERR_INVALID_ARG,
								"corruption %s appears twice in the set", corruption_name(c));
		st = ce_common(model, base, c, sev_mask, relative, &v, &f, err);
		if (st != SP_OK)
			return st;
		seen |= 1u << c;
		if (f & SP_RM_UNDEFINED)
			undef++;
		else
			sum += v;
	}
	/* a mean over fewer corruptions than asked for would not be an mCE */
	*mce = finish_mean(sum, ncorruptions, undef, flags, n_undefined);
	return SP_OK;
}

sp_status
sp_rm_ratio(double num, double den, double *ratio, int *flags, sp_error *err)
{
	if (!ratio)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "output pointer is NULL");
	if (!isfinite(num) || !isfinite(den) || num < 0.0 || den < 0.0)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"ratio of %g and %g: both must be finite and non-negative", num, den);
	*ratio = finish_ratio(num, den, flags);
	return SP_OK;
}

sp_status
sp_rm_mean_ratio(const double *num, const double *den, int n, double *mean,
				 int *flags, int *n_undefined, sp_error *err)
{
	double		sum = 0.0;
	int			undef = 0;

	if (!num || !den || !mean || n < 1)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "mean ratio needs at least one pair");
	for (int i = 0; i < n; i++)
	{
		int			f = 0;
		double		r;
		sp_status	st = sp_rm_ratio(num[i], den[i], &r, &f, err);

		if (st != SP_OK)
			return st;
		if (f & SP_RM_UNDEFINED)
			undef++;
		else
			sum += r;
	}
	*mean = finish_mean(sum, n, undef, flags, n_undefined);
	return SP_OK;
}

/* ---------------------------------------------------------------------
 * ImageNet-P: pairs of frames
 *
 * test.py: for noise every frame j >= 1 is compared with frame 0; otherwise
 * frame j with frame j + d (the d interleaved subsequences vid[i::d], each
 * compared consecutively).  Each sequence contributes the mean over its
 * comparisons, and sequences are averaged.
 * --------------------------------------------------------------------- */
static sp_status
check_sequences(int m, int n, int noise, int difficulty, sp_error *err)
{
	if (m < 1 || n < 2)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"need at least one sequence of at least 2 frames, got %d x %d", m, n);
	if (difficulty < 1)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "difficulty %d must be at least 1", difficulty);
	if (!noise && difficulty >= n)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"difficulty %d needs more than %d frames per sequence",
							difficulty, difficulty);
	return SP_OK;
}

sp_status
sp_rm_flip_probability(const int32_t *pred, int m, int n, int noise, int difficulty,
					   double *fp, sp_error *err)
{
	double		total = 0.0;
	int			step = noise ? 1 : difficulty;
	sp_status	st;

	if (!pred || !fp)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "prediction or output pointer is NULL");
	st = check_sequences(m, n, noise, difficulty, err);
	if (st != SP_OK)
		return st;
	for (int i = 0; i < m; i++)
	{
		const int32_t *v = pred + (size_t) i * n;
		long		flips = 0;

		for (int j = step; j < n; j++)
			flips += v[j] != v[noise ? 0 : j - step];
		total += (double) flips / (double) (n - step);
	}
	*fp = total / m;
	return SP_OK;
}

int
sp_rm_top5_dist_code(const int32_t *sigma, int k)
{
	int			d = 0;
	int			top = k < 5 ? k : 5;

	for (int i = 1; i <= top; i++)
	{
		int			r = sigma[i - 1] - 1;

		if (r > 5)
			r = 5;
		d += abs((i - 1) - r);
	}
	return d;
}

int
sp_rm_top5_dist_paper(const int32_t *sigma, int k)
{
	int			d = 0;
	int			top = k < 5 ? k : 5;

	for (int i = 1; i <= top; i++)
	{
		int			s = sigma[i - 1];
		int			lo = i < s ? i : s;
		int			hi = i < s ? s : i;

		for (int j = lo + 1; j <= hi; j++)
			d += (j - 1 >= 1 && j - 1 <= 5);
	}
	return d;
}

/* Is class a ranked before class b? Ties: lower index first. */
static inline int
better(const float *v, int a, int b, int larger)
{
	if (v[a] != v[b])
		return larger ? v[a] > v[b] : v[a] < v[b];
	return a < b;
}

sp_status
sp_rm_ordinal_ranks(const float *values, int k, int larger_is_better, int32_t *ranks,
					sp_error *err)
{
	if (!values || !ranks || k < 1)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "ranking needs at least one class value");
	for (int c = 0; c < k; c++)
		if (isnan(values[c]))
			return sp_set_error(err, SP_ERR_INVALID_ARG, "class value %d is NaN", c);
	for (int c = 0; c < k; c++)
	{
		int32_t		r = 1;

		for (int o = 0; o < k; o++)
			r += (o != c && better(values, o, c, larger_is_better));
		ranks[c] = r;
	}
	return SP_OK;
}

/*
 * d for one pair of frames: the classes ranked 1..5 in prev, and for each,
 * min(rank in cur - 1, 5), which only needs counting up to 5 better classes.
 */
static int
pair_top5(const float *prev, const float *cur, int k, int larger)
{
	int			top[5];
	int			ntop = k < 5 ? k : 5;
	int			d = 0;

	for (int i = 0; i < ntop; i++)
	{
		int			best = -1;

		for (int c = 0; c < k; c++)
		{
			int			taken = 0;

			for (int t = 0; t < i; t++)
				taken |= top[t] == c;
			if (!taken && (best < 0 || better(prev, c, best, larger)))
				best = c;
		}
		top[i] = best;
	}
	for (int i = 0; i < ntop; i++)
	{
		int			c = top[i];
		int			r = 0;			/* min(rank - 1, 5) in cur */

		for (int o = 0; o < k && r < 5; o++)
			r += (o != c && better(cur, o, c, larger));
		d += abs(i - r);
	}
	return d;
}

sp_status
sp_rm_top5_distance(const sp_env *env, const float *values, int m, int n, int k,
					int larger_is_better, int noise, int difficulty, double *ut5d,
					sp_error *err)
{
	double		total = 0.0;
	int			step = noise ? 1 : difficulty;
	size_t		count;
	sp_status	st;

	if (!values || !ut5d)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "value or output pointer is NULL");
	if (k < 1)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "class count %d must be at least 1", k);
	st = check_sequences(m, n, noise, difficulty, err);
	if (st != SP_OK)
		return st;
	if (!sp_mul_size((size_t) m * (size_t) n, (size_t) k, &count))
		return sp_set_error(err, SP_ERR_LIMIT, "sequence data size overflows");
	for (size_t i = 0; i < count; i++)
		if (isnan(values[i]))
			return sp_set_error(err, SP_ERR_INVALID_ARG,
								"class value %zu (sequence %zu, frame %zu) is NaN",
								i % (size_t) k, i / ((size_t) n * k), (i / k) % (size_t) n);
	for (int i = 0; i < m; i++)
	{
		const float *seq = values + (size_t) i * n * k;
		long		sum = 0;

		if (sp_env_interrupted(env))
			return sp_set_error(err, SP_ERR_INTERRUPTED, "top-5 distance was interrupted");
		for (int j = step; j < n; j++)
		{
			int			p = noise ? 0 : j - step;

			sum += pair_top5(seq + (size_t) p * k, seq + (size_t) j * k, k, larger_is_better);
		}
		total += (double) sum / (double) (n - step);
	}
	*ut5d = total / m;
	return SP_OK;
}

/* ---------------------------------------------------------------------
 * k-NN and self-retrieval over embeddings
 * --------------------------------------------------------------------- */
static sp_status
check_embeddings(const float *gallery, int ng, const float *queries, int nq, int dim,
				 sp_distance_kind metric, int64_t *n_wrong, sp_error *err)
{
	if (!gallery || !queries || !n_wrong)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "gallery, query or output pointer is NULL");
	if (ng < 1 || nq < 1 || dim < 1)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"need at least one gallery item, one query and one dimension (got %d, %d, %d)",
							ng, nq, dim);
	if (metric != SP_DISTANCE_L2 && metric != SP_DISTANCE_COSINE)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "unknown distance metric %d", (int) metric);
	return SP_OK;
}

sp_status
sp_rm_knn_error(const sp_env *env, const float *gallery, const int32_t *gallery_labels, int ng,
				const float *queries, const int32_t *query_labels, const int32_t *self,
				int nq, int dim, int k, sp_distance_kind metric, int64_t *n_wrong,
				int32_t *pred, sp_error *err)
{
	double	   *nd = NULL;
	int		   *ni = NULL;
	int64_t		wrong = 0;
	sp_status	st;

	st = check_embeddings(gallery, ng, queries, nq, dim, metric, n_wrong, err);
	if (st != SP_OK)
		return st;
	if (!gallery_labels || !query_labels)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "labels are required for k-NN error");
	if (k < 1 || k > SP_RM_MAX_K)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "k = %d is out of range 1..%d",
							k, SP_RM_MAX_K);
	/* validate every exclusion index before doing any work */
	for (int q = 0; self && q < nq; q++)
	{
		if (self[q] < -1 || self[q] >= ng)
			return sp_set_error(err, SP_ERR_INVALID_ARG,
								"self index %d of query %d is out of range -1..%d",
								self[q], q, ng - 1);
		if (ng == 1 && self[q] == 0)
			return sp_set_error(err, SP_ERR_INVALID_ARG,
								"query %d has no gallery item left after excluding its original", q);
	}
	nd = sp_alloc_array(env, (size_t) k, sizeof(double));
	ni = sp_alloc_array(env, (size_t) k, sizeof(int));
	if (!nd || !ni)
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory for %d neighbours", k);
		goto done;
	}
	for (int q = 0; q < nq; q++)
	{
		const float *qv = queries + (size_t) q * dim;
		int			excl = self ? self[q] : -1;
		int			cnt = 0;
		int			best_label = 0,
					best_votes = 0;

		if (sp_env_interrupted(env))
		{
			st = sp_set_error(err, SP_ERR_INTERRUPTED, "k-NN error was interrupted");
			goto done;
		}
		for (int g = 0; g < ng; g++)
		{
			double		d;
			int			pos;

			if (g == excl)
				continue;
			d = sp_dist_rank(metric, qv, gallery + (size_t) g * dim, (size_t) dim);
			/* g increases, so an equal distance never displaces an earlier one */
			if (cnt == k && !(d < nd[k - 1]))
				continue;
			pos = cnt < k ? cnt++ : k - 1;
			while (pos > 0 && d < nd[pos - 1])
			{
				nd[pos] = nd[pos - 1];
				ni[pos] = ni[pos - 1];
				pos--;
			}
			nd[pos] = d;
			ni[pos] = g;
		}
		/* majority vote; ties to the label whose nearest member comes first */
		for (int p = 0; p < cnt; p++)
		{
			int32_t		lab = gallery_labels[ni[p]];
			int			votes = 0;

			for (int o = 0; o < cnt; o++)
				votes += gallery_labels[ni[o]] == lab;
			if (votes > best_votes)
			{
				best_votes = votes;
				best_label = lab;
			}
		}
		if (pred)
			pred[q] = best_label;
		wrong += best_label != query_labels[q];
	}
	*n_wrong = wrong;
done:
	sp_free(env, nd);
	sp_free(env, ni);
	return st;
}

sp_status
sp_rm_self_retrieval_error(const sp_env *env, const float *gallery, int ng,
						   const float *queries, const int32_t *self, int nq, int dim,
						   sp_distance_kind metric, int64_t *n_wrong, int32_t *nearest,
						   sp_error *err)
{
	int64_t		wrong = 0;
	sp_status	st;

	st = check_embeddings(gallery, ng, queries, nq, dim, metric, n_wrong, err);
	if (st != SP_OK)
		return st;
	if (!self)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"self-retrieval needs each query's original gallery index");
	for (int q = 0; q < nq; q++)
		if (self[q] < 0 || self[q] >= ng)
			return sp_set_error(err, SP_ERR_INVALID_ARG,
								"self index %d of query %d is out of range 0..%d",
								self[q], q, ng - 1);
	for (int q = 0; q < nq; q++)
	{
		const float *qv = queries + (size_t) q * dim;
		double		bd = 0.0;
		int			bi = -1;

		if (sp_env_interrupted(env))
			return sp_set_error(err, SP_ERR_INTERRUPTED, "self-retrieval error was interrupted");
		for (int g = 0; g < ng; g++)
		{
			double		d = sp_dist_rank(metric, qv, gallery + (size_t) g * dim, (size_t) dim);

			if (bi < 0 || d < bd)
			{
				bd = d;
				bi = g;
			}
		}
		if (nearest)
			nearest[q] = bi;
		wrong += bi != self[q];
	}
	*n_wrong = wrong;
	return SP_OK;
}

sp_status
sp_rm_mean_drift(const sp_env *env, const float *gallery, int ng,
				 const float *queries, const int32_t *self, int nq, int dim,
				 double *mean, int64_t *n_skipped, sp_error *err)
{
	double		sum = 0.0;
	int64_t		used = 0;

	if (!gallery || !queries || !self || !mean)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "gallery, query, self or output pointer is NULL");
	if (ng < 1 || nq < 1 || dim < 1)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"need at least one gallery item, one query and one dimension (got %d, %d, %d)",
							ng, nq, dim);
	for (int q = 0; q < nq; q++)
		if (self[q] < 0 || self[q] >= ng)
			return sp_set_error(err, SP_ERR_INVALID_ARG,
								"self index %d of query %d is out of range 0..%d",
								self[q], q, ng - 1);
	for (int q = 0; q < nq; q++)
	{
		double		d;

		/* one poll per 256 pairs: a pair costs only O(dim) */
		if ((q & 255) == 0 && sp_env_interrupted(env))
			return sp_set_error(err, SP_ERR_INTERRUPTED, "embedding drift was interrupted");
		d = sp_dist_cosine(queries + (size_t) q * dim, gallery + (size_t) self[q] * dim,
						   (size_t) dim);
		if (isnan(d))
			continue;
		sum += d;
		used++;
	}
	if (n_skipped)
		*n_skipped = nq - used;
	*mean = used > 0 ? sum / (double) used : NAN;
	return SP_OK;
}
