/*
 * bench_quantize.c: the index's candidate codes (vector/quantize.h) against
 * float32, the two things that choose between them (issue 17):
 *
 *  1. speed: million query-to-vector distances per second, one query
 *     against a cache-resident block (256 KiB of float32 vectors, the same
 *     vectors as bf16 and sq8 codes), for every kernel set this CPU has,
 *     beside distance.h's float32 kernels;
 *  2. quality: on the shipped fashion model's embeddings of the 60,000
 *     Fashion-MNIST training images (the stored vectors) and 500 test images
 *     (the queries), the recall@10 of ranking everything by the code's
 *     distance alone, and after re-ranking the code's best R by the exact
 *     float32 distance (R = 10, 20, 40, 80), as an index that keeps codes and
 *     re-ranks from full precision would.
 *
 * sq8 comes in two forms: the per-dimension grid trained on the stored
 * vectors (sp_sq8_*), and the per-vector grid the index stores
 * (sp_vcode_*, "sq8/vec": no training, 20 bytes more per vector).
 *
 * Usage: bench_quantize [seconds-per-cell] [models/fashion]
 * (the quality part is skipped, saying so, without the data set or model).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "idx.h"
#include "model_files.h"
#include "nn/nn_model.h"
#include "vector/distance.h"
#include "vector/quantize.h"

typedef struct codes
{
	size_t		n,
				dim;
	float	   *f32;
	uint16_t   *bf16;
	uint8_t    *sq8;
	float	   *lo,
			   *step;
	uint8_t    *vsq8;			/* stored per-vector sq8 codes (sp_vcode) */
	size_t		vbytes;
} codes;

static void
make_codes(codes *c)
{
	c->bf16 = malloc(sizeof(uint16_t) * c->n * c->dim);
	c->sq8 = malloc(c->n * c->dim);
	c->lo = malloc(sizeof(float) * c->dim);
	c->step = malloc(sizeof(float) * c->dim);
	sp_bf16_encode(c->f32, c->n * c->dim, c->bf16);
	sp_sq8_train(c->f32, c->n, c->dim, c->lo, c->step);
	for (size_t i = 0; i < c->n; i++)
		sp_sq8_encode(c->lo, c->step, c->f32 + i * c->dim, c->dim, c->sq8 + i * c->dim);
	c->vbytes = sp_vcode_bytes(SP_CODE_SQ8, c->dim);
	c->vsq8 = malloc(c->n * c->vbytes);
	for (size_t i = 0; i < c->n; i++)
		sp_vcode_encode(SP_CODE_SQ8, c->f32 + i * c->dim, c->dim, c->vsq8 + i * c->vbytes);
}

static void
free_codes(codes *c)
{
	free(c->f32);
	free(c->bf16);
	free(c->sq8);
	free(c->lo);
	free(c->step);
	free(c->vsq8);
}

/* ---------------------------------------------------------------------- */
/* 1. speed */

static void
speed(double secs)
{
	static const size_t dims[] = {128, 768};

	printf("## kernels: million distances per second (one query against a 256 KiB block of float32 vectors)\n");
	printf("%-6s %-8s %-22s %10s %10s\n", "dim", "set", "kernel", "Mdist/s", "bytes/vec");
	for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
	{
		codes		c = {.dim = dims[di]};
		float	   *q,
				   *qs,
				   *dd,
					bias;
		uint64_t	s = 1;
		volatile float sink = 0;

		c.n = 65536 / c.dim;
		c.f32 = malloc(sizeof(float) * c.n * c.dim);
		q = malloc(sizeof(float) * c.dim);
		qs = malloc(sizeof(float) * c.dim);
		dd = malloc(sizeof(float) * c.dim);
		for (size_t i = 0; i < c.n * c.dim; i++)
		{
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			c.f32[i] = (float) ((s >> 40) & 0xffff) / 32768.0f - 1.0f;
		}
		memcpy(q, c.f32, sizeof(float) * c.dim);
		make_codes(&c);
		sp_sq8_prepare(c.lo, c.step, q, c.dim, qs, dd, &bias);
		for (int isa = SP_ISA_SCALAR; isa < SP_ISA_COUNT; isa++)
		{
			const sp_distance_kernels *fk = sp_distance_kernels_for((sp_isa) isa);
			const sp_quant_kernels *qk = sp_quant_kernels_for((sp_isa) isa);
			double		t;

			if (fk)
			{
				t = BENCH_LOOP(secs, {
					for (size_t i = 0; i < c.n; i++) sink += fk->dot(q, c.f32 + i * c.dim, c.dim);
				});
				printf("%-6zu %-8s %-22s %10.1f %10zu\n", c.dim, sp_isa_name((sp_isa) isa), "f32 dot", c.n / t / 1e6,
					   c.dim * 4);
				t = BENCH_LOOP(secs, {
					for (size_t i = 0; i < c.n; i++) sink += fk->l2sq(q, c.f32 + i * c.dim, c.dim);
				});
				printf("%-6zu %-8s %-22s %10.1f %10zu\n", c.dim, sp_isa_name((sp_isa) isa), "f32 l2sq", c.n / t / 1e6,
					   c.dim * 4);
			}
			if (!qk)
				continue;
			t = BENCH_LOOP(secs, {
				for (size_t i = 0; i < c.n; i++) sink += qk->bf16_dot(q, c.bf16 + i * c.dim, c.dim);
			});
			printf("%-6zu %-8s %-22s %10.1f %10zu\n", c.dim, qk->name, "bf16 dot", c.n / t / 1e6, c.dim * 2);
			t = BENCH_LOOP(secs, {
				for (size_t i = 0; i < c.n; i++) sink += qk->bf16_l2sq(q, c.bf16 + i * c.dim, c.dim);
			});
			printf("%-6zu %-8s %-22s %10.1f %10zu\n", c.dim, qk->name, "bf16 l2sq", c.n / t / 1e6, c.dim * 2);
			t = BENCH_LOOP(secs, {
				for (size_t i = 0; i < c.n; i++) sink += qk->sq8_dot(qs, c.sq8 + i * c.dim, c.dim);
			});
			printf("%-6zu %-8s %-22s %10.1f %10zu\n", c.dim, qk->name, "sq8 dot", c.n / t / 1e6, c.dim);
			t = BENCH_LOOP(secs, {
				for (size_t i = 0; i < c.n; i++) sink += qk->sq8_l2sq(dd, c.step, c.sq8 + i * c.dim, c.dim);
			});
			printf("%-6zu %-8s %-22s %10.1f %10zu\n", c.dim, qk->name, "sq8 l2sq", c.n / t / 1e6, c.dim);
			{
				float		qsum,
							qn2;

				sp_vcode_query_stats(q, c.dim, &qsum, &qn2);
				t = BENCH_LOOP(secs, {
					for (size_t i = 0; i < c.n; i++)
						sink += sp_vcode_dot(qk, SP_CODE_SQ8, q, qsum, c.vsq8 + i * c.vbytes, c.dim);
				});
				printf("%-6zu %-8s %-22s %10.1f %10zu\n", c.dim, qk->name, "sq8/vec dot", c.n / t / 1e6, c.vbytes);
				t = BENCH_LOOP(secs, {
					for (size_t i = 0; i < c.n; i++)
						sink += sp_vcode_l2sq(qk, SP_CODE_SQ8, q, qsum, qn2, c.vsq8 + i * c.vbytes, c.dim);
				});
				printf("%-6zu %-8s %-22s %10.1f %10zu\n", c.dim, qk->name, "sq8/vec l2sq", c.n / t / 1e6, c.vbytes);
			}
		}
		(void) sink;
		free(q);
		free(qs);
		free(dd);
		free_codes(&c);
	}
}

/* ---------------------------------------------------------------------- */
/* 2. quality */

typedef struct scored
{
	float		d;
	int			i;
} scored;

static int
cmp_scored(const void *a, const void *b)
{
	const scored *x = a,
			   *y = b;

	return x->d < y->d ? -1 : x->d > y->d ? 1 : x->i - y->i;
}

/* Embeddings of n images (28 x 28 grey) by m into out (n x dim). */
static bool
embed_all(sp_nn_model *m, const uint8_t *px, int n, float *out)
{
	const sp_nn_config *cfg = sp_nn_model_config(m);
	sp_nn_workspace *ws;
	sp_error	err;
	float		in[64 * 784];
	int			dim = sp_nn_model_dim(m);

	if (sp_nn_workspace_create(sp_env_default(), m, 64, &ws, &err) != SP_OK)
		return false;
	for (int start = 0; start < n; start += 64)
	{
		int			b = n - start < 64 ? n - start : 64;

		for (int k = 0; k < b * 784; k++)
			in[k] = ((float) px[(size_t) start * 784 + k] / cfg->input.scale - cfg->input.mean[0]) / cfg->input.std[0];
		if (sp_nn_forward(m, ws, in, b, out + (size_t) start * dim, &err) != SP_OK)
			return false;
	}
	sp_nn_workspace_free(sp_env_default(), ws);
	return true;
}

static void
quality(const char *model)
{
	idx_images	tr,
				te;
	idx_labels	trl,
				tel;
	sp_error	err;
	sp_nn_model *m;
	char	   *cj;
	uint8_t    *w;
	size_t		cl,
				wl;
	const int	NQ = 500,
				K = 10;
	static const int reranks[] = {10, 20, 40, 80};
	codes		c;
	float	   *qv;
	scored	   *sc;
	const sp_quant_kernels *qk = sp_quant_active();
	double		hits[3][5] = {{0}};
	static const char *const kind_names[] = {"bf16", "sq8", "sq8/vec"};
	double		t0;

	printf("\n## quality: recall@10 on the %s embeddings (60,000 training images stored, 500 test queries)\n", model);
	if (fashion_mnist_load(NULL, "train", &tr, &trl, &err) != SP_OK ||
		fashion_mnist_load(NULL, "t10k", &te, &tel, &err) != SP_OK ||
		mf_load_model(model, &m, &cj, &cl, &w, &wl, &err) != SP_OK)
	{
		printf("skipped: %s\n", err.message);
		return;
	}
	c.dim = (size_t) sp_nn_model_dim(m);
	c.n = (size_t) tr.count;
	c.f32 = malloc(sizeof(float) * c.n * c.dim);
	qv = malloc(sizeof(float) * NQ * c.dim);
	t0 = bench_now();
	if (!embed_all(m, tr.pixels, tr.count, c.f32) || !embed_all(m, te.pixels, NQ, qv))
	{
		printf("skipped: embedding failed\n");
		return;
	}
	printf("(embedded %zu + %d images in %.1f s; distance: the model's %s; kernels: %s)\n", c.n, NQ,
		   bench_now() - t0, sp_distance_kind_name(sp_nn_model_config(m)->distance), qk->name);
	make_codes(&c);
	sc = malloc(sizeof(scored) * c.n);
	for (int qi = 0; qi < NQ; qi++)
	{
		const float *q = qv + (size_t) qi * c.dim;
		int			truth[10];
		float	   *qs = malloc(sizeof(float) * c.dim),
				   *dd = malloc(sizeof(float) * c.dim),
					bias;

		/* the embeddings are L2-normalised: ranking by l2sq is ranking by cosine */
		for (size_t i = 0; i < c.n; i++)
		{
			sc[i].d = sp_distance_active()->l2sq(q, c.f32 + i * c.dim, c.dim);
			sc[i].i = (int) i;
		}
		qsort(sc, c.n, sizeof(scored), cmp_scored);
		for (int k = 0; k < K; k++)
			truth[k] = sc[k].i;
		float		qsum,
					qn2;

		sp_sq8_prepare(c.lo, c.step, q, c.dim, qs, dd, &bias);
		sp_vcode_query_stats(q, c.dim, &qsum, &qn2);
		for (int kind = 0; kind < 3; kind++)
		{
			for (size_t i = 0; i < c.n; i++)
			{
				sc[i].d = kind == 0 ? qk->bf16_l2sq(q, c.bf16 + i * c.dim, c.dim)
					: kind == 1 ? qk->sq8_l2sq(dd, c.step, c.sq8 + i * c.dim, c.dim)
					: sp_vcode_l2sq(qk, SP_CODE_SQ8, q, qsum, qn2, c.vsq8 + i * c.vbytes, c.dim);
				sc[i].i = (int) i;
			}
			qsort(sc, c.n, sizeof(scored), cmp_scored);
			for (int r = 0; r < 5; r++)
			{
				/* r 0: the code's own top 10; then the code's best R re-ranked exactly */
				int			R = r == 0 ? K : reranks[r - 1];
				scored		top[80];

				for (int j = 0; j < R; j++)
				{
					top[j].i = sc[j].i;
					top[j].d = r == 0 ? sc[j].d : sp_distance_active()->l2sq(q, c.f32 + (size_t) sc[j].i * c.dim, c.dim);
				}
				qsort(top, R, sizeof(scored), cmp_scored);
				for (int j = 0; j < K; j++)
					for (int k = 0; k < K; k++)
						hits[kind][r] += top[j].i == truth[k];
			}
		}
		free(qs);
		free(dd);
	}
	printf("%-6s %10s %12s %12s %12s %12s %12s\n", "code", "bytes/vec", "codes only", "rerank 10", "rerank 20",
		   "rerank 40", "rerank 80");
	printf("%-6s %10zu %12.4f %12.4f %12.4f %12.4f %12.4f\n", "f32", c.dim * 4, 1.0, 1.0, 1.0, 1.0, 1.0);
	for (int kind = 0; kind < 3; kind++)
	{
		printf("%-7s %9zu", kind_names[kind], kind == 2 ? c.vbytes :
			   sp_code_bytes(kind == 0 ? SP_CODE_BF16 : SP_CODE_SQ8, c.dim));
		for (int r = 0; r < 5; r++)
			printf(" %12.4f", hits[kind][r] / (NQ * K));
		printf("\n");
	}
	free(sc);
	free(qv);
	free_codes(&c);
	sp_nn_model_free(sp_env_default(), m);
	idx_free_images(&tr);
	idx_free_images(&te);
	idx_free_labels(&trl);
	idx_free_labels(&tel);
}

int
main(int argc, char **argv)
{
	double		secs = argc > 1 ? atof(argv[1]) : 0.3;

	speed(secs > 0 ? secs : 0.3);
	quality(argc > 2 ? argv[2] : "models/fashion");
	return 0;
}
