/*
 * gemm.c: matrix products on BLAS: Gemm (alpha A' B' + beta C, the linear
 * layer of exported classifiers and heads) and MatMul (NumPy semantics:
 * 1-D promotion and broadcast batch dimensions; the attention and MLP
 * blocks of ViT and ConvNeXt).  A single row uses sgemv.  Gemm has a
 * backward (the linear layers of trained models): three sgemm-shaped sums,
 * each adding into its gradient (beta 1).
 */
#include "nn/op.h"
#include "nn/sgemm.h"
#include "nn/ops/conv.h"

#include <string.h>

#pragma GCC diagnostic ignored "-Wunused-parameter"

/* y[M x N] = alpha op(A) op(B) (+ 0), picking sgemv for one row or column. */
static void
matmul_2d(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
		  const float *B, int64_t ldb, float *Y)
{
	if (M == 1 && !ta)
		sp_sgemv(!tb, tb ? (int) N : (int) K, tb ? (int) K : (int) N, alpha, B, (int) ldb, A, 0.0f, Y);
	else
		sp_sgemm(ta, tb, (int) M, (int) N, (int) K, alpha, A, (int) lda, B, (int) ldb, 0.0f, Y, (int) N);
}

/* ---------------------------------------------------------------------- */
/* Gemm */

static sp_status
gemm_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *a = sp_in(g, n, 0),
			   *b = sp_in(g, n, 1),
			   *c = sp_in(g, n, 2);
	bool		ta = sp_attr_int(n, "transA", 0) != 0,
				tb = sp_attr_int(n, "transB", 0) != 0;
	int64_t		M,
				K,
				K2,
				N;
	sp_shape	out = {2, {0, 0}};
	sp_status	st;

	if ((st = sp_check_input(g, n, 0, err, sp_dt_float_only)) != SP_OK ||
		(st = sp_check_input(g, n, 1, err, sp_dt_float_only)) != SP_OK)
		return st;
	if (c && (st = sp_check_input(g, n, 2, err, sp_dt_float_only)) != SP_OK)
		return st;
	if (a->shape.rank != 2 || b->shape.rank != 2)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "A and B must be matrices");
	M = ta ? a->shape.dim[1] : a->shape.dim[0];
	K = ta ? a->shape.dim[0] : a->shape.dim[1];
	K2 = tb ? b->shape.dim[1] : b->shape.dim[0];
	N = tb ? b->shape.dim[0] : b->shape.dim[1];
	if (K != K2)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "inner dimensions %lld and %lld differ", (long long) K,
						   (long long) K2);
	out.dim[0] = M;
	out.dim[1] = N;
	if (c)
	{
		sp_shape	bc;

		if (!sp_broadcast_shape(&out, &c->shape, &bc) || !sp_shape_equal(&bc, &out))
			return sp_op_error(err, SP_ERR_CORRUPT, n, "C does not broadcast to the %lld x %lld result",
							   (long long) M, (long long) N);
	}
	sp_out_set(g, n, 0, SP_DT_FLOAT, &out);
	return SP_OK;
}

static sp_status
gemm_forward(const sp_op_run *r)
{
	const sp_node *n = r->n;
	const sp_value *a = sp_in(r->g, n, 0),
			   *c = sp_in(r->g, n, 2);
	const sp_value *y = sp_out(r->g, n, 0);
	bool		ta = sp_attr_int(n, "transA", 0) != 0,
				tb = sp_attr_int(n, "transB", 0) != 0;
	float		alpha = sp_attr_float(n, "alpha", 1.0f),
				beta = sp_attr_float(n, "beta", 1.0f);
	int64_t		M = y->shape.dim[0],
				N = y->shape.dim[1],
				K = ta ? a->shape.dim[0] : a->shape.dim[1];
	float	   *Y = r->out[0];
	sp_fused_act act;

	matmul_2d(ta, tb, M, N, K, alpha, r->in[0], a->shape.dim[1], r->in[1], sp_in(r->g, n, 1)->shape.dim[1], Y);
	if (c && beta != 0.0f)
	{
		const float *C = r->in[2];
		int64_t		cr = c->shape.rank == 2 ? c->shape.dim[0] : 1,
					cc = c->shape.rank >= 1 ? c->shape.dim[c->shape.rank - 1] : 1;

		for (int64_t i = 0; i < M; i++)
			for (int64_t j = 0; j < N; j++)
				Y[i * N + j] += beta * C[(cr == 1 ? 0 : i) * cc + (cc == 1 ? 0 : j)];
	}
	sp_fused_act_get(n, &act);
	sp_fused_act_apply(&act, Y, (size_t) (M * N));
	return SP_OK;
}

static double
gemm_flops(const sp_graph *g, const sp_node *n)
{
	const sp_value *a = sp_in(g, n, 0);
	const sp_value *y = sp_out(g, n, 0);
	int64_t		K = sp_attr_int(n, "transA", 0) ? a->shape.dim[0] : a->shape.dim[1];

	return 2.0 * (double) sp_shape_numel(&y->shape) * (double) K;
}

/*
 * Y = alpha op(A) op(B) + beta C: dA = alpha dY op(B)', dB = alpha op(A)' dY
 * (each transposed back when the input is stored transposed), dC = beta dY
 * summed over the dimensions C was broadcast along.
 */
static sp_status
gemm_backward(const sp_op_run *r)
{
	const sp_node *n = r->n;
	const sp_value *c = sp_in(r->g, n, 2);
	const sp_value *y = sp_out(r->g, n, 0);
	bool		ta = sp_attr_int(n, "transA", 0) != 0,
				tb = sp_attr_int(n, "transB", 0) != 0;
	float		alpha = sp_attr_float(n, "alpha", 1.0f),
				beta = sp_attr_float(n, "beta", 1.0f);
	int			M = (int) y->shape.dim[0],
				N = (int) y->shape.dim[1],
				K = (int) (ta ? sp_in(r->g, n, 0)->shape.dim[0] : sp_in(r->g, n, 0)->shape.dim[1]);
	const float *A = r->in[0],
			   *B = r->in[1],
			   *dY = r->d_out[0];
	float	   *dA = r->d_in[0],
			   *dB = r->d_in[1],
			   *dC = c ? r->d_in[2] : NULL;
	sp_fused_act act;

	sp_fused_act_get(n, &act);
	if (act.kind != SP_ACT_NONE)
		return sp_op_error(r->err, SP_ERR_UNSUPPORTED, n, "backward of a fused activation is not supported");
	if (!dY)
		return SP_OK;
	if (dA && !ta)				/* dA [M x K] */
		sp_sgemm(false, !tb, M, K, N, alpha, dY, N, B, tb ? K : N, 1.0f, dA, K);
	else if (dA)				/* A stored [K x M] */
		sp_sgemm(tb, true, K, M, N, alpha, B, tb ? K : N, dY, N, 1.0f, dA, M);
	if (dB && tb)				/* B stored [N x K] */
		sp_sgemm(true, ta, N, K, M, alpha, dY, N, A, ta ? M : K, 1.0f, dB, K);
	else if (dB)				/* dB [K x N] */
		sp_sgemm(!ta, false, K, N, M, alpha, A, ta ? M : K, dY, N, 1.0f, dB, N);
	if (dC && beta != 0.0f)
	{
		int64_t		cr = c->shape.rank == 2 ? c->shape.dim[0] : 1,
					cc = c->shape.rank >= 1 ? c->shape.dim[c->shape.rank - 1] : 1;

		/* sums in double, like the statistics elsewhere: a bias sees the whole batch */
		for (int64_t j = 0; j < (cc == 1 ? 1 : N); j++)
			for (int64_t i = 0; i < (cr == 1 ? 1 : M); i++)
			{
				double		s = 0;

				for (int64_t ii = (cr == 1 ? 0 : i); ii < (cr == 1 ? M : i + 1); ii++)
					for (int64_t jj = (cc == 1 ? 0 : j); jj < (cc == 1 ? N : j + 1); jj++)
						s += dY[ii * N + jj];
				dC[i * cc + j] += (float) (beta * s);
			}
	}
	return SP_OK;
}

const sp_op_def sp_op_Gemm = {"Gemm", 2, 3, 1, 1, 0, gemm_infer, NULL, gemm_forward, NULL, gemm_flops,
gemm_backward};

/* ---------------------------------------------------------------------- */
/* MatMul */

/* The two operands as batches of matrices after 1-D promotion. */
typedef struct mm_geom
{
	sp_shape	a,
				b,
				batch;			/* broadcast batch dims */
	int64_t		M,
				K,
				N;
	bool		drop_m,
				drop_n;			/* 1-D operands: drop the promoted dimension */
} mm_geom;

static bool
mm_geometry(const sp_shape *sa, const sp_shape *sb, mm_geom *m)
{
	sp_shape	ba = {0},
				bb = {0};

	m->a = *sa;
	m->b = *sb;
	m->drop_m = m->drop_n = false;
	if (m->a.rank == 0 || m->b.rank == 0)
		return false;
	if (m->a.rank == 1)
	{
		m->a.rank = 2;
		m->a.dim[1] = m->a.dim[0];
		m->a.dim[0] = 1;
		m->drop_m = true;
	}
	if (m->b.rank == 1)
	{
		m->b.rank = 2;
		m->b.dim[1] = 1;
		m->drop_n = true;
	}
	m->M = m->a.dim[m->a.rank - 2];
	m->K = m->a.dim[m->a.rank - 1];
	m->N = m->b.dim[m->b.rank - 1];
	if (m->b.dim[m->b.rank - 2] != m->K)
		return false;
	ba.rank = m->a.rank - 2;
	memcpy(ba.dim, m->a.dim, sizeof(int64_t) * (size_t) ba.rank);
	bb.rank = m->b.rank - 2;
	memcpy(bb.dim, m->b.dim, sizeof(int64_t) * (size_t) bb.rank);
	return sp_broadcast_shape(&ba, &bb, &m->batch);
}

static sp_status
matmul_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *a = sp_in(g, n, 0),
			   *b = sp_in(g, n, 1);
	mm_geom		m;
	sp_shape	out;
	sp_status	st;

	if ((st = sp_check_input(g, n, 0, err, sp_dt_float_only)) != SP_OK ||
		(st = sp_check_input(g, n, 1, err, sp_dt_float_only)) != SP_OK)
		return st;
	if (!mm_geometry(&a->shape, &b->shape, &m) || m.batch.rank + 2 > SP_MAX_RANK)
	{
		char		sa[96],
					sb[96];

		sp_shape_format(&a->shape, sa, sizeof sa);
		sp_shape_format(&b->shape, sb, sizeof sb);
		return sp_op_error(err, SP_ERR_CORRUPT, n, "shapes %s and %s cannot be multiplied", sa, sb);
	}
	out = m.batch;
	if (!m.drop_m)
		out.dim[out.rank++] = m.M;
	if (!m.drop_n)
		out.dim[out.rank++] = m.N;
	sp_out_set(g, n, 0, SP_DT_FLOAT, &out);
	return SP_OK;
}

static sp_status
matmul_forward(const sp_op_run *r)
{
	mm_geom		m;
	int64_t		nb,
				sa[SP_MAX_RANK],
				sb[SP_MAX_RANK];
	const float *A = r->in[0],
			   *B = r->in[1];
	float	   *Y = r->out[0];
	sp_fused_act act;

	mm_geometry(&sp_in(r->g, r->n, 0)->shape, &sp_in(r->g, r->n, 1)->shape, &m);
	nb = sp_shape_numel(&m.batch);
	/* batch strides in matrices, 0 where an operand is broadcast */
	{
		int64_t		s_a = 1,
					s_b = 1;

		for (int i = m.batch.rank - 1; i >= 0; i--)
		{
			int			ia = (m.a.rank - 2) - m.batch.rank + i,
						ib = (m.b.rank - 2) - m.batch.rank + i;
			int64_t		da = ia >= 0 ? m.a.dim[ia] : 1,
						db = ib >= 0 ? m.b.dim[ib] : 1;

			sa[i] = da == 1 ? 0 : s_a;
			sb[i] = db == 1 ? 0 : s_b;
			s_a *= da;
			s_b *= db;
		}
	}
	if (m.batch.rank == 0 || m.b.rank == 2)
	{
		/* one B for every batch (or no batch): one GEMM over all rows of A */
		matmul_2d(false, false, nb * m.M, m.N, m.K, 1.0f, A, m.K, B, m.N, Y);
		goto act;
	}
	for (int64_t i = 0; i < nb; i++)
	{
		int64_t		rem = i,
					oa = 0,
					ob = 0;
		sp_status	st;

		for (int d = m.batch.rank - 1; d >= 0; d--)
		{
			int64_t		idx = rem % m.batch.dim[d];

			rem /= m.batch.dim[d];
			oa += idx * sa[d];
			ob += idx * sb[d];
		}
		if ((i & 15) == 0 && (st = sp_op_interrupted(r)) != SP_OK)
			return st;
		matmul_2d(false, false, m.M, m.N, m.K, 1.0f, A + oa * m.M * m.K, m.K, B + ob * m.K * m.N, m.N,
				  Y + i * m.M * m.N);
	}
act:
	sp_fused_act_get(r->n, &act);
	sp_fused_act_apply(&act, Y, (size_t) sp_shape_numel(&sp_out(r->g, r->n, 0)->shape));
	return SP_OK;
}

static double
matmul_flops(const sp_graph *g, const sp_node *n)
{
	mm_geom		m;

	if (!mm_geometry(&sp_in(g, n, 0)->shape, &sp_in(g, n, 1)->shape, &m))
		return 0;
	return 2.0 * (double) sp_shape_numel(&m.batch) * (double) m.M * (double) m.N * (double) m.K;
}

const sp_op_def sp_op_MatMul = {"MatMul", 2, 2, 1, 1, 0, matmul_infer, NULL, matmul_forward, NULL, matmul_flops, NULL};
