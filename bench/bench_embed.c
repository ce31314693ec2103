/*
 * bench_embed.c: the C side of the PyTorch side-by-side benchmark
 * (bench/torch_compare.sh drives it; docs/performance.md).
 *
 *   bench_embed write DIR [MODEL_BASE]
 *       Writes DIR/model.json + DIR/model.safetensors (MODEL_BASE.json /
 *       .safetensors copied verbatim, or without it the reference CNN of
 *       docs/reference/fashion-mnist.md with random He-initialised weights,
 *       seed 7), DIR/input.f32 (256 Fashion-MNIST test images preprocessed
 *       with the model's input spec, NCHW float32 little-endian;
 *       pseudo-random values if the dataset is not installed),
 *       DIR/pixels.u8 (the raw 28x28 pixels, for checking the Python
 *       preprocessing too) and DIR/ours.f32 (our embeddings of
 *       input.f32, 256 x dim, computed by sp_nn_forward).
 *   bench_embed time DIR [SECONDS]
 *       Times sp_nn_forward on DIR/input.f32 at batch 1 and batch 256, one
 *       BLAS thread, and prints one line "ours core=<name> batch1=<images/s>
 *       batch256=<images/s> gflops1=.. gflops256=.. cpu1=.. cpu256=.." (cpu:
 *       images per CPU-second of the thread) after a line with the BLAS
 *       configuration and the convolution path (direct-avx512, direct-avx2 or
 *       im2col; SIAMESE_CONV_PATH=im2col|avx2|avx512 chooses one).
 *   bench_embed            (as run by `make bench`)
 *       The same timing on an in-memory random reference CNN.
 *
 * Every heavy figure is measured once per call (the machine may be shared);
 * timing loops run for SECONDS (default 3) after one warm-up pass.
 */
#include "bench_util.h"
#include "idx.h"
#include "model_files.h"
#include "nn/nn_model.h"
#include "nn/nn_layers.h"
#include "nn/nn_train.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_IMAGES 256


static void
die_err(const char *what, const sp_error *err)
{
	fprintf(stderr, "bench_embed: %s: %s\n", what, err->message);
	exit(1);
}

static void
die_sys(const char *what, const char *path)
{
	fprintf(stderr, "bench_embed: %s \"%s\": %s\n", what, path, strerror(errno));
	exit(1);
}

static void
write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char		path[4096];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		die_sys("cannot create", path);
	if (fwrite(data, 1, len, f) != len || fclose(f) != 0)
		die_sys("cannot write", path);
}

/* The first n images of the Fashion-MNIST test split, or false when the data set is missing. */
static bool
read_test_pixels(uint8_t *out, int n)
{
	idx_images	imgs;
	idx_labels	labels;
	sp_error	err;
	bool		ok;

	if (fashion_mnist_load(NULL, "t10k", &imgs, &labels, &err) != SP_OK)
		return false;
	ok = imgs.count >= n && imgs.rows == 28 && imgs.cols == 28;
	if (ok)
		memcpy(out, imgs.pixels, (size_t) n * 784);
	idx_free_images(&imgs);
	idx_free_labels(&labels);
	return ok;
}

static sp_nn_model *
load_model_files(const char *base, char **cj_out, size_t *cl_out, uint8_t **w_out, size_t *wl_out)
{
	sp_error	err;
	sp_nn_model *m;

	if (mf_load_model(base, &m, cj_out, cl_out, w_out, wl_out, &err) != SP_OK)
		die_err("load model", &err);
	return m;
}

static sp_nn_model *
random_model(char **cj, size_t *cl, uint8_t **w, size_t *wl)
{
	const sp_env *env = sp_env_default();
	sp_error	err;
	sp_nn_config *cfg;
	sp_nn_trainer *tr;
	sp_nn_model *m;

	if (sp_nn_config_parse(env, bench_fashion_cnn_config, strlen(bench_fashion_cnn_config), &cfg, &err) != SP_OK)
		die_err("config", &err);
	if (sp_nn_trainer_create(env, cfg, 1, 7, SP_NN_INIT_HE, 1, &tr, &err) != SP_OK)
		die_err("trainer", &err);
	if (sp_nn_trainer_export(tr, NULL, NULL, 0, cj, cl, w, wl, &err) != SP_OK)
		die_err("export", &err);
	if (sp_nn_model_load(env, *cj, *cl, *w, *wl, &m, &err) != SP_OK)
		die_err("load", &err);
	sp_nn_trainer_free(tr);
	sp_nn_config_free(env, cfg);
	return m;
}

static void
fill_pseudo_random(float *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		in[i] = (float) ((i * 2654435761u) % 1000) / 500.0f - 1.0f;
}

static int
cmd_write(const char *dir, const char *base)
{
	const sp_env *env = sp_env_default();
	sp_error	err;
	sp_nn_model *m;
	sp_nn_workspace *ws;
	const sp_nn_config *cfg;
	char	   *cj;
	size_t		cl,
				wl;
	uint8_t    *w;
	uint8_t    *pix;
	float	   *in,
			   *out;
	int			insz,
				dim;
	bool		real;

	sp_blas_set_threads(1);
	m = base ? load_model_files(base, &cj, &cl, &w, &wl) : random_model(&cj, &cl, &w, &wl);
	cfg = sp_nn_model_config(m);
	insz = sp_nn_model_input_size(m);
	dim = sp_nn_model_dim(m);
	pix = calloc(N_IMAGES, 784);
	in = malloc(sizeof(float) * (size_t) insz * N_IMAGES);
	out = malloc(sizeof(float) * (size_t) dim * N_IMAGES);
	if (!pix || !in || !out)
	{
		fprintf(stderr, "bench_embed: out of memory\n");
		return 1;
	}
	real = read_test_pixels(pix, N_IMAGES);
	if (real)
	{
		for (int i = 0; i < N_IMAGES; i++)
		{
			sp_image	img = {28, 28, 1, pix + (size_t) i * 784};

			if (sp_preprocess_image(&cfg->input, &img, in + (size_t) i * insz, &err) != SP_OK)
				die_err("preprocess", &err);
		}
	}
	else
		fill_pseudo_random(in, (size_t) insz * N_IMAGES);
	if (sp_nn_workspace_create(env, m, N_IMAGES, &ws, &err) != SP_OK)
		die_err("workspace", &err);
	if (sp_nn_forward(m, ws, in, N_IMAGES, out, &err) != SP_OK)
		die_err("forward", &err);

	write_file(dir, "model.json", cj, cl);
	write_file(dir, "model.safetensors", w, wl);
	write_file(dir, "input.f32", in, sizeof(float) * (size_t) insz * N_IMAGES);
	if (real)
		write_file(dir, "pixels.u8", pix, (size_t) N_IMAGES * 784);
	write_file(dir, "ours.f32", out, sizeof(float) * (size_t) dim * N_IMAGES);
	printf("wrote %s: model %s (%zu parameters after folding, hash %.16s...), %d %s inputs of %d floats, embeddings of %d\n",
		   dir, cfg->name, sp_nn_model_param_count(m), sp_nn_model_hash(m), N_IMAGES,
		   real ? "Fashion-MNIST test" : "pseudo-random", insz, dim);

	sp_nn_workspace_free(env, ws);
	sp_nn_model_free(env, m);
	free(cj);
	free(w);
	free(pix);
	free(in);
	free(out);
	return 0;
}

/*
 * images/s of sp_nn_forward on in at the given batch (wall clock); one
 * warm-up pass.  *cpu_rate (nullable) gets images per CPU-second of this
 * thread over the same loop: on a loaded machine the wall figure counts the
 * time the scheduler gave to others, the CPU figure does not.
 */
static double
time_forward(sp_nn_model *m, const float *in, int batch, double seconds, double *cpu_rate)
{
	const sp_env *env = sp_env_default();
	sp_error	err;
	sp_nn_workspace *ws;
	float	   *out = malloc(sizeof(float) * (size_t) sp_nn_model_dim(m) * (size_t) batch);
	double		t,
				c0,
				c1;
	long		iters;

	if (!out)
	{
		fprintf(stderr, "bench_embed: out of memory\n");
		exit(1);
	}
	if (sp_nn_workspace_create(env, m, batch, &ws, &err) != SP_OK)
		die_err("workspace", &err);
	if (sp_nn_forward(m, ws, in, batch, out, &err) != SP_OK)
		die_err("forward", &err);
	if (batch == 1)
	{
		/* cycle through the images so batch 1 does not see one cached input */
		int			i = 0;
		int			insz = sp_nn_model_input_size(m);

		c0 = bench_thread_cpu();
		t = BENCH_LOOP(seconds, {
			if (sp_nn_forward(m, ws, in + (size_t) (i++ % N_IMAGES) * insz, 1, out, &err) != SP_OK)
				die_err("forward", &err);
			bench_consume(out);
		});
		c1 = bench_thread_cpu();
		iters = i;
	}
	else
	{
		iters = 0;
		c0 = bench_thread_cpu();
		t = BENCH_LOOP(seconds, {
			if (sp_nn_forward(m, ws, in, batch, out, &err) != SP_OK)
				die_err("forward", &err);
			bench_consume(out);
			iters++;
		});
		c1 = bench_thread_cpu();
	}
	if (cpu_rate)
		*cpu_rate = c1 > c0 ? (double) iters * batch / (c1 - c0) : 0.0;
	sp_nn_workspace_free(env, ws);
	free(out);
	return batch / t;
}

/* The convolution path a workspace for m gets (SIAMESE_CONV_PATH, CPU). */
static const char *
conv_path(sp_nn_model *m)
{
	static char name[32];
	sp_nn_workspace *ws;
	sp_error	err;

	if (sp_nn_workspace_create(sp_env_default(), m, 1, &ws, &err) != SP_OK)
		die_err("workspace", &err);
	snprintf(name, sizeof(name), "%s", sp_nn_workspace_path(ws));
	sp_nn_workspace_free(sp_env_default(), ws);
	return name;
}

static int
cmd_time(const char *dir, double seconds)
{
	const sp_env *env = sp_env_default();
	char		base[4096],
				path[4200],
				info[512];
	char	   *cj;
	uint8_t    *w;
	size_t		cl,
				wl,
				inlen;
	float	   *in;
	sp_nn_model *m;
	double		b1,
				b256,
				c1,
				c256,
				flops;

	sp_blas_set_threads(1);
	snprintf(base, sizeof(base), "%s/model", dir);
	m = load_model_files(base, &cj, &cl, &w, &wl);
	snprintf(path, sizeof(path), "%s/input.f32", dir);
	in = (float *) mf_read_file(path, &inlen);
	if (!in)
		die_sys("cannot read", path);
	if (inlen != sizeof(float) * (size_t) sp_nn_model_input_size(m) * N_IMAGES)
	{
		fprintf(stderr, "bench_embed: %s has %zu bytes, expected %d images\n", path, inlen, N_IMAGES);
		return 1;
	}
	flops = sp_nn_config_flops(sp_nn_model_config(m));
	sp_blas_info(info, sizeof(info));
	printf("BLAS: %s; OPENBLAS_CORETYPE=%s; %.1f MFLOP per image; convolutions: %s\n", info,
		   getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)", flops / 1e6,
		   conv_path(m));
	fflush(stdout);
	b1 = time_forward(m, in, 1, seconds, &c1);
	b256 = time_forward(m, in, N_IMAGES, seconds, &c256);
	/* cpu1/cpu256: images per CPU-second (see time_forward) */
	printf("ours core=%s batch1=%.0f batch256=%.0f gflops1=%.1f gflops256=%.1f cpu1=%.0f cpu256=%.0f\n",
		   sp_blas_corename(), b1, b256, b1 * flops / 1e9, b256 * flops / 1e9, c1, c256);
	sp_nn_model_free(env, m);
	free(cj);
	free(w);
	free(in);
	return 0;
}

static int
cmd_default(void)
{
	const sp_env *env = sp_env_default();
	char	   *cj;
	uint8_t    *w;
	size_t		cl,
				wl;
	float	   *in = malloc(sizeof(float) * 784 * N_IMAGES);
	sp_nn_model *m;
	char		info[512];

	if (!in)
		return 1;
	sp_blas_set_threads(1);
	m = random_model(&cj, &cl, &w, &wl);
	fill_pseudo_random(in, (size_t) 784 * N_IMAGES);
	sp_blas_info(info, sizeof(info));
	printf("BLAS: %s; convolutions: %s\n", info, conv_path(m));
	printf("REFERENCE CNN, random weights, one thread: batch 1 %.0f images/s, batch 256 %.0f images/s\n",
		   time_forward(m, in, 1, 1.0, NULL), time_forward(m, in, N_IMAGES, 1.0, NULL));
	printf("(side-by-side with PyTorch: bash bench/torch_compare.sh)\n");
	sp_nn_model_free(env, m);
	free(cj);
	free(w);
	free(in);
	return 0;
}

int
main(int argc, char **argv)
{
	/* The benchmark (not the core) takes the path to time from its environment. */
	const char *path = getenv("SIAMESE_CONV_PATH");

	if (path && *path)
		sp_nn_set_default_isa(strcmp(path, "im2col") == 0 ? SP_ISA_SCALAR : sp_isa_from_name(path));
	if (argc >= 3 && strcmp(argv[1], "write") == 0 && argc <= 4)
		return cmd_write(argv[2], argc == 4 ? argv[3] : NULL);
	if (argc >= 3 && strcmp(argv[1], "time") == 0 && argc <= 4)
	{
		double		s = argc == 4 ? atof(argv[3]) : 3.0;

		return cmd_time(argv[2], s > 0 ? s : 3.0);
	}
	if (argc == 1)
		return cmd_default();
	fprintf(stderr, "usage: %s [write DIR [MODEL_BASE] | time DIR [SECONDS]]\n", argv[0]);
	return 2;
}
