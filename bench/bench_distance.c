/*
 * bench_distance.c: throughput of the distance kernels (L2 squared, inner
 * product, cosine parts) for every kernel set this CPU supports, next to a
 * plain one-accumulator scalar loop compiled without auto-vectorisation.
 *
 * One query is compared against a cache-resident block of vectors (about
 * 256 KiB), the access pattern of an index scan.  Figures: million distance
 * computations per second and GFLOP/s (L2: 3 flops per dimension, inner
 * product: 2, cosine: 6).  Usage: bench_distance [seconds-per-cell]
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "vector/distance.h"

/* Reference loops: one accumulator, deliberately left scalar. */
__attribute__((optimize("no-tree-vectorize"), noinline)) static float
ref_l2sq(const float *a, const float *b, size_t n)
{
	float		s = 0.0f;

	for (size_t i = 0; i < n; i++)
	{
		float		d = a[i] - b[i];

		s += d * d;
	}
	return s;
}

__attribute__((optimize("no-tree-vectorize"), noinline)) static float
ref_dot(const float *a, const float *b, size_t n)
{
	float		s = 0.0f;

	for (size_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

__attribute__((optimize("no-tree-vectorize"), noinline)) static void
ref_cosine(const float *a, const float *b, size_t n, sp_cosine_parts *out)
{
	float		d = 0.0f,
				x = 0.0f,
				y = 0.0f;

	for (size_t i = 0; i < n; i++)
	{
		d += a[i] * b[i];
		x += a[i] * a[i];
		y += b[i] * b[i];
	}
	out->dot = d;
	out->norm_a2 = x;
	out->norm_b2 = y;
}

static float
ref_normsq(const float *a, size_t n)
{
	return ref_dot(a, a, n);
}

static const sp_distance_kernels ref_kernels = {
	SP_ISA_SCALAR, "naive loop", ref_l2sq, ref_dot, ref_cosine, ref_normsq
};

typedef enum
{
	OP_L2,
	OP_IP,
	OP_COS
} bench_op;

static const char *const op_names[] = {"l2sq", "inner product", "cosine"};
static const int op_flops[] = {3, 2, 6};

/* Seconds per distance for op over nvec vectors of dimension d. */
static double
time_op(const sp_distance_kernels *k, bench_op op, const float *q, const float *base,
		size_t nvec, size_t d, double min_seconds)
{
	volatile float sink = 0.0f;
	double		t;

	t = BENCH_LOOP(min_seconds, {
		float acc = 0.0f;
		for (size_t v = 0; v < nvec; v++)
		{
			const float *x = base + v * d;

			if (op == OP_L2)
				acc += k->l2sq(q, x, d);
			else if (op == OP_IP)
				acc += k->dot(q, x, d);
			else
			{
				sp_cosine_parts p;

				k->cosine(q, x, d, &p);
				acc += p.dot;
			}
		}
		sink += acc;
	});
	bench_consume((const void *) &sink);
	return t / (double) nvec;
}

int
main(int argc, char **argv)
{
	static const size_t dims[] = {64, 128, 512, 2000};
	double		min_seconds = argc > 1 ? atof(argv[1]) : 0.2;
	const sp_distance_kernels *variants[SP_ISA_COUNT + 1];
	int			nvariants = 0;
	uint64_t	state = 12345;

	if (min_seconds <= 0.0)
		min_seconds = 0.2;
	variants[nvariants++] = &ref_kernels;
	for (int isa = 0; isa < SP_ISA_COUNT; isa++)
	{
		const sp_distance_kernels *k = sp_distance_kernels_for((sp_isa) isa);

		if (k)
			variants[nvariants++] = k;
	}

	printf("distance kernels: auto-selected \"%s\"; %.2f s per cell\n",
		   sp_distance_isa_name(), min_seconds);
	printf("one query vs a cache-resident block of ~256 KiB of vectors\n\n");
	printf("%-14s %5s  %-11s %12s %9s %9s\n",
		   "op", "dim", "kernels", "Mdist/s", "GFLOP/s", "speedup");
	printf("%-14s %5s  %-11s %12s %9s %9s\n",
		   "--------------", "-----", "-----------", "------------", "---------", "---------");

	for (size_t di = 0; di < sizeof(dims) / sizeof(dims[0]); di++)
	{
		size_t		d = dims[di];
		size_t		nvec = (256 * 1024 / sizeof(float)) / d;
		float	   *q = malloc(d * sizeof(float));
		float	   *base = malloc(nvec * d * sizeof(float));

		if (!q || !base)
		{
			fprintf(stderr, "out of memory\n");
			return 1;
		}
		for (size_t i = 0; i < d; i++)
		{
			state = state * 6364136223846793005ull + 1442695040888963407ull;
			q[i] = (float) (state >> 40) / (float) (1 << 24) - 0.5f;
		}
		for (size_t i = 0; i < nvec * d; i++)
		{
			state = state * 6364136223846793005ull + 1442695040888963407ull;
			base[i] = (float) (state >> 40) / (float) (1 << 24) - 0.5f;
		}

		for (int op = OP_L2; op <= OP_COS; op++)
		{
			double		ref_t = 0.0;

			for (int v = 0; v < nvariants; v++)
			{
				double		t = time_op(variants[v], (bench_op) op, q, base, nvec, d, min_seconds);

				if (v == 0)
					ref_t = t;
				printf("%-14s %5zu  %-11s %12.2f %9.2f %8.1fx\n",
					   op_names[op], d, variants[v]->name,
					   1e-6 / t, (double) op_flops[op] * (double) d / t * 1e-9,
					   ref_t / t);
			}
		}
		printf("\n");
		free(q);
		free(base);
	}
	return 0;
}
