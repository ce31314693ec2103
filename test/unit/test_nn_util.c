/*
 * test_nn_util.c: see test_nn_util.h.
 */
#include "test_nn_util.h"
#include "util/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tu_ref_cnn_config =
"{\"name\":\"fmnist_cnn\",\"format_version\":1,"
"\"input\":{\"channels\":1,\"height\":28,\"width\":28,\"resize\":\"bilinear\",\"fit\":\"stretch\","
"\"mean\":[0.2860],\"std\":[0.3530],\"scale\":255},"
"\"layers\":["
"{\"type\":\"conv2d\",\"name\":\"conv1\",\"in\":1,\"out\":32,\"kernel\":3,\"stride\":1,\"padding\":1},"
"{\"type\":\"relu\"},"
"{\"type\":\"conv2d\",\"name\":\"conv2\",\"in\":32,\"out\":32,\"kernel\":3,\"stride\":1,\"padding\":1},"
"{\"type\":\"relu\"},"
"{\"type\":\"maxpool\",\"kernel\":2,\"stride\":2},"
"{\"type\":\"conv2d\",\"name\":\"conv3\",\"in\":32,\"out\":64,\"kernel\":3,\"stride\":1,\"padding\":1},"
"{\"type\":\"relu\"},"
"{\"type\":\"conv2d\",\"name\":\"conv4\",\"in\":64,\"out\":64,\"kernel\":3,\"stride\":1,\"padding\":1},"
"{\"type\":\"relu\"},"
"{\"type\":\"maxpool\",\"kernel\":2,\"stride\":2},"
"{\"type\":\"flatten\"},"
"{\"type\":\"linear\",\"name\":\"fc\",\"in\":3136,\"out\":128},"
"{\"type\":\"l2norm\"}],"
"\"embedding_dim\":128,\"distance\":\"cosine\",\"threshold\":0.5}";

uint64_t
tu_next(uint64_t *s)
{
	return sp_splitmix64(s);
}

float
tu_uniform(uint64_t *s, float lo, float hi)
{
	return lo + (hi - lo) * (float) ((tu_next(s) >> 40) * (1.0 / 16777216.0));
}

void
tu_fill(uint64_t *s, float *x, size_t n, float lo, float hi)
{
	for (size_t i = 0; i < n; i++)
		x[i] = tu_uniform(s, lo, hi);
}

uint8_t *
tu_make_weights(const sp_nn_config *cfg, uint64_t seed, size_t *len)
{
	sp_st_out_tensor t[4 * SP_NN_MAX_LAYERS];
	char		names[4 * SP_NN_MAX_LAYERS][96];
	float	   *bufs[4 * SP_NN_MAX_LAYERS];
	int			n = 0;
	uint64_t	s = seed;
	uint8_t    *out = NULL;
	sp_error	err;

	for (int i = 0; i < cfg->n_layers; i++)
	{
		const sp_nn_layer *l = &cfg->layers[i];

		if (l->type == SP_NN_CONV2D || l->type == SP_NN_LINEAR)
		{
			size_t		fan = (size_t) l->in * (l->type == SP_NN_CONV2D ? (size_t) l->kernel * l->kernel : 1);
			float		bound = 1.7f / sqrtf((float) fan);

			snprintf(names[n], 96, "%s.weight", l->name);
			t[n].name = names[n];
			t[n].ndim = l->type == SP_NN_CONV2D ? 4 : 2;
			t[n].shape[0] = l->out;
			t[n].shape[1] = l->in;
			t[n].shape[2] = l->kernel;
			t[n].shape[3] = l->kernel;
			bufs[n] = malloc(sizeof(float) * fan * l->out);
			tu_fill(&s, bufs[n], fan * l->out, -bound, bound);
			t[n].data = bufs[n];
			n++;
			if (l->bias)
			{
				snprintf(names[n], 96, "%s.bias", l->name);
				t[n].name = names[n];
				t[n].ndim = 1;
				t[n].shape[0] = l->out;
				bufs[n] = malloc(sizeof(float) * l->out);
				tu_fill(&s, bufs[n], l->out, -0.2f, 0.2f);
				t[n].data = bufs[n];
				n++;
			}
		}
		else if (l->type == SP_NN_BATCHNORM)
		{
			static const char *sfx[4] = {"weight", "bias", "running_mean", "running_var"};
			static const float lo[4] = {0.5f, -0.5f, -0.5f, 0.3f};
			static const float hi[4] = {1.5f, 0.5f, 0.5f, 2.0f};

			for (int k = 0; k < 4; k++)
			{
				snprintf(names[n], 96, "%s.%s", l->name, sfx[k]);
				t[n].name = names[n];
				t[n].ndim = 1;
				t[n].shape[0] = l->in;
				bufs[n] = malloc(sizeof(float) * l->in);
				tu_fill(&s, bufs[n], l->in, lo[k], hi[k]);
				t[n].data = bufs[n];
				n++;
			}
		}
	}
	if (sp_st_write(sp_env_default(), t, n, NULL, NULL, 0, &out, len, &err) != SP_OK)
		out = NULL;
	for (int i = 0; i < n; i++)
		free(bufs[i]);
	return out;
}

sp_nn_model *
tu_make_model(const char *config, uint64_t seed, int flags, uint8_t **weights, size_t *wlen)
{
	sp_nn_config *cfg;
	sp_error	err;
	sp_nn_model *m = NULL;
	uint8_t    *w;
	size_t		len;

	if (sp_nn_config_parse(sp_env_default(), config, strlen(config), &cfg, &err) != SP_OK)
	{
		fprintf(stderr, "config: %s\n", err.message);
		return NULL;
	}
	w = tu_make_weights(cfg, seed, &len);
	sp_nn_config_free(sp_env_default(), cfg);
	if (!w)
		return NULL;
	if (sp_nn_model_load_ex(sp_env_default(), config, strlen(config), w, len, flags, &m, &err) != SP_OK)
		fprintf(stderr, "load: %s\n", err.message);
	if (weights)
	{
		*weights = w;
		*wlen = len;
	}
	else
		free(w);
	return m;
}

static const float *
tensor(const sp_safetensors *st, const char *layer, const char *sfx)
{
	char		name[128];
	const sp_st_tensor *t;

	snprintf(name, sizeof(name), "%s.%s", layer, sfx);
	t = sp_st_find(st, name);
	return t ? t->data : NULL;
}

void
tu_reference_forward(const sp_nn_config *cfg, const sp_safetensors *st, const float *in, double *out)
{
	int			C = cfg->input.channels,
				H = cfg->input.height,
				W = cfg->input.width;
	double	   *x = malloc(sizeof(double) * (size_t) C * H * W);
	double	   *skipped[SP_NN_MAX_SKIP_DEPTH];	/* copies the open skips remember */
	int			depth = 0;

	for (int i = 0; i < C * H * W; i++)
		x[i] = in[i];
	for (int li = 0; li < cfg->n_layers; li++)
	{
		const sp_nn_layer *l = &cfg->layers[li];
		int			OC = l->out_c,
					OH = l->out_h,
					OW = l->out_w;
		double	   *y = calloc((size_t) OC * OH * OW + 1, sizeof(double));

		switch (l->type)
		{
			case SP_NN_CONV2D:
				{
					const float *w = tensor(st, l->name, "weight");
					const float *b = l->bias ? tensor(st, l->name, "bias") : NULL;
					int			k = l->kernel;

					for (int o = 0; o < OC; o++)
						for (int oy = 0; oy < OH; oy++)
							for (int ox = 0; ox < OW; ox++)
							{
								double		acc = b ? b[o] : 0;

								for (int c = 0; c < C; c++)
									for (int ky = 0; ky < k; ky++)
										for (int kx = 0; kx < k; kx++)
										{
											int			iy = oy * l->stride - l->padding + ky;
											int			ix = ox * l->stride - l->padding + kx;

											if (iy < 0 || iy >= H || ix < 0 || ix >= W)
												continue;
											acc += (double) w[((o * C + c) * k + ky) * k + kx] * x[(c * H + iy) * W + ix];
										}
								y[(o * OH + oy) * OW + ox] = acc;
							}
					break;
				}
			case SP_NN_LINEAR:
				{
					const float *w = tensor(st, l->name, "weight");
					const float *b = l->bias ? tensor(st, l->name, "bias") : NULL;

					for (int o = 0; o < OC; o++)
					{
						double		acc = b ? b[o] : 0;

						for (int i = 0; i < C; i++)
							acc += (double) w[(size_t) o * C + i] * x[i];
						y[o] = acc;
					}
					break;
				}
			case SP_NN_BATCHNORM:
				{
					const float *g = tensor(st, l->name, "weight");
					const float *be = tensor(st, l->name, "bias");
					const float *mu = tensor(st, l->name, "running_mean");
					const float *va = tensor(st, l->name, "running_var");
					int			hw = H * W;

					for (int c = 0; c < C; c++)
						for (int i = 0; i < hw; i++)
							y[c * hw + i] = (x[c * hw + i] - mu[c]) / sqrt((double) va[c] + l->eps) * g[c] + be[c];
					break;
				}
			case SP_NN_RELU:
				for (int i = 0; i < C * H * W; i++)
					y[i] = x[i] > 0 ? x[i] : 0;
				break;
			case SP_NN_MAXPOOL:
			case SP_NN_AVGPOOL:
				for (int c = 0; c < C; c++)
					for (int oy = 0; oy < OH; oy++)
						for (int ox = 0; ox < OW; ox++)
						{
							double		best = -INFINITY,
										sum = 0;

							for (int ky = 0; ky < l->kernel; ky++)
								for (int kx = 0; kx < l->kernel; kx++)
								{
									int			iy = oy * l->stride - l->padding + ky;
									int			ix = ox * l->stride - l->padding + kx;
									double		v;

									if (iy < 0 || iy >= H || ix < 0 || ix >= W)
										continue;
									v = x[(c * H + iy) * W + ix];
									if (v > best)
										best = v;
									sum += v;
								}
							y[(c * OH + oy) * OW + ox] = l->type == SP_NN_MAXPOOL ? best
								: sum / (l->kernel * l->kernel);
						}
				break;
			case SP_NN_FLATTEN:
				memcpy(y, x, sizeof(double) * (size_t) C * H * W);
				break;
			case SP_NN_SKIP:
				memcpy(y, x, sizeof(double) * (size_t) C * H * W);
				skipped[depth] = malloc(sizeof(double) * (size_t) C * H * W);
				memcpy(skipped[depth++], x, sizeof(double) * (size_t) C * H * W);
				break;
			case SP_NN_ADD:
				depth--;
				for (int i = 0; i < C * H * W; i++)
					y[i] = x[i] + skipped[depth][i];
				free(skipped[depth]);
				break;
			case SP_NN_L2NORM:
				{
					double		ss = 0;

					for (int i = 0; i < C; i++)
						ss += x[i] * x[i];
					ss = sqrt(ss);
					if (ss < 1e-12)
						ss = 1e-12;
					for (int i = 0; i < C; i++)
						y[i] = x[i] / ss;
					break;
				}
		}
		free(x);
		x = y;
		C = OC;
		H = OH;
		W = OW;
	}
	memcpy(out, x, sizeof(double) * (size_t) cfg->embedding_dim);
	free(x);
}

/*
 * One BLAS thread for the whole unit-test process: deterministic sums and no
 * OpenBLAS thread buffers in valgrind's leak report.
 */
__attribute__((constructor)) static void
tu_single_blas_thread(void)
{
	sp_blas_set_threads(1);
}

uint8_t *
tu_read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *buf;
	long		n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t) n + 1);
	if (fread(buf, 1, (size_t) n, f) != (size_t) n)
	{
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t) n;
	return buf;
}
