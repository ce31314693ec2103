/*
 * distance_tmpl.h: the SIMD distance kernels (L2 squared, inner product,
 * cosine parts, squared norm) and their kernel table, written once and
 * included by distance.c once per instruction set (C has no templates).  Not
 * a public header: it expects these macros from the includer and #undefs
 * them at its end, so the next inclusion can define its own.
 *
 *   T_SFX(name)          name with the ISA suffix (name##_avx512 ...)
 *   T_TARGET             __attribute__((target(...))) of the ISA
 *   T_ISA, T_NAME        the sp_isa level and name in the kernel table
 *   T_V, T_VL            vector type and its float lanes
 *   T_ZERO()             all-zero vector
 *   T_LOAD(p)            unaligned load of T_VL floats
 *   T_LOAD_TAIL(p, rem)  the rem (0 < rem < T_VL) floats at p, zeros in the
 *                        other lanes, without reading p[rem] or beyond
 *   T_ADD, T_SUB         lane-wise add / subtract
 *   T_FMA(a, b, c)       a * b + c, fused (one rounding)
 *   T_HSUM(v)            sum of the lanes of v, as a float
 *
 * The shape is the same for every ISA: a main loop over several vectors at a
 * time into independent accumulators (one accumulator would serialise on
 * FMA latency), then whole vectors one at a time, then one partial vector
 * from T_LOAD_TAIL.  The zeros it loads add nothing to any sum, and since it
 * never reads past the end the kernels are safe on any n and alignment and
 * clean under valgrind.  The order of the operations fixes the rounding, so
 * changing which accumulator takes what changes the results.
 */

/*
 * 4 accumulators, so that consecutive FMAs do not wait on each other.
 *
 * l2sq and dot have the same loops but stay two bodies: one body with a
 * difference-or-not flag compiles to other operand orders of the
 * (commutative) adds and FMAs, which changes which NaN payload comes out.
 */
T_TARGET static float
T_SFX(l2sq) (const float *a, const float *b, size_t n)
{
	T_V			s0 = T_ZERO(),
				s1 = T_ZERO(),
				s2 = T_ZERO(),
				s3 = T_ZERO();
	size_t		i = 0;

	for (; i + 4 * T_VL <= n; i += 4 * T_VL)
	{
		T_V			d0 = T_SUB(T_LOAD(a + i), T_LOAD(b + i));
		T_V			d1 = T_SUB(T_LOAD(a + i + T_VL), T_LOAD(b + i + T_VL));
		T_V			d2 = T_SUB(T_LOAD(a + i + 2 * T_VL), T_LOAD(b + i + 2 * T_VL));
		T_V			d3 = T_SUB(T_LOAD(a + i + 3 * T_VL), T_LOAD(b + i + 3 * T_VL));

		s0 = T_FMA(d0, d0, s0);
		s1 = T_FMA(d1, d1, s1);
		s2 = T_FMA(d2, d2, s2);
		s3 = T_FMA(d3, d3, s3);
	}
	for (; i + T_VL <= n; i += T_VL)
	{
		T_V			d = T_SUB(T_LOAD(a + i), T_LOAD(b + i));

		s0 = T_FMA(d, d, s0);
	}
	/* into s1: the tail need not wait for the chain of FMAs on s0 above */
	if (i < n)
	{
		T_V			d = T_SUB(T_LOAD_TAIL(a + i, n - i), T_LOAD_TAIL(b + i, n - i));

		s1 = T_FMA(d, d, s1);
	}
	return T_HSUM(T_ADD(T_ADD(s0, s1), T_ADD(s2, s3)));
}

T_TARGET static float
T_SFX(dot) (const float *a, const float *b, size_t n)
{
	T_V			s0 = T_ZERO(),
				s1 = T_ZERO(),
				s2 = T_ZERO(),
				s3 = T_ZERO();
	size_t		i = 0;

	for (; i + 4 * T_VL <= n; i += 4 * T_VL)
	{
		s0 = T_FMA(T_LOAD(a + i), T_LOAD(b + i), s0);
		s1 = T_FMA(T_LOAD(a + i + T_VL), T_LOAD(b + i + T_VL), s1);
		s2 = T_FMA(T_LOAD(a + i + 2 * T_VL), T_LOAD(b + i + 2 * T_VL), s2);
		s3 = T_FMA(T_LOAD(a + i + 3 * T_VL), T_LOAD(b + i + 3 * T_VL), s3);
	}
	for (; i + T_VL <= n; i += T_VL)
		s0 = T_FMA(T_LOAD(a + i), T_LOAD(b + i), s0);
	if (i < n)
		s1 = T_FMA(T_LOAD_TAIL(a + i, n - i), T_LOAD_TAIL(b + i, n - i), s1);
	return T_HSUM(T_ADD(T_ADD(s0, s1), T_ADD(s2, s3)));
}

/*
 * 2 x 3 accumulators (dot, |a|^2, |b|^2): six independent FMA chains, while
 * 4 x 3 and their loads would not fit in AVX2's 16 vector registers.
 */
T_TARGET static void
T_SFX(cosine) (const float *a, const float *b, size_t n, sp_cosine_parts *out)
{
	T_V			d0 = T_ZERO(),
				d1 = T_ZERO(),
				x0 = T_ZERO(),
				x1 = T_ZERO(),
				y0 = T_ZERO(),
				y1 = T_ZERO();
	size_t		i = 0;

	for (; i + 2 * T_VL <= n; i += 2 * T_VL)
	{
		T_V			va0 = T_LOAD(a + i),
					vb0 = T_LOAD(b + i),
					va1 = T_LOAD(a + i + T_VL),
					vb1 = T_LOAD(b + i + T_VL);

		d0 = T_FMA(va0, vb0, d0);
		x0 = T_FMA(va0, va0, x0);
		y0 = T_FMA(vb0, vb0, y0);
		d1 = T_FMA(va1, vb1, d1);
		x1 = T_FMA(va1, va1, x1);
		y1 = T_FMA(vb1, vb1, y1);
	}
	/* at most one whole vector is left: an if, not a loop */
	if (i + T_VL <= n)
	{
		T_V			va = T_LOAD(a + i),
					vb = T_LOAD(b + i);

		d0 = T_FMA(va, vb, d0);
		x0 = T_FMA(va, va, x0);
		y0 = T_FMA(vb, vb, y0);
		i += T_VL;
	}
	if (i < n)
	{
		T_V			va = T_LOAD_TAIL(a + i, n - i),
					vb = T_LOAD_TAIL(b + i, n - i);

		d1 = T_FMA(va, vb, d1);
		x1 = T_FMA(va, va, x1);
		y1 = T_FMA(vb, vb, y1);
	}
	out->dot = T_HSUM(T_ADD(d0, d1));
	out->norm_a2 = T_HSUM(T_ADD(x0, x1));
	out->norm_b2 = T_HSUM(T_ADD(y0, y1));
}

T_TARGET static float
T_SFX(normsq) (const float *a, size_t n)
{
	return T_SFX(dot) (a, a, n);
}

static const sp_distance_kernels T_SFX(kernels) = {
	T_ISA, T_NAME, T_SFX(l2sq), T_SFX(dot), T_SFX(cosine), T_SFX(normsq)
};

/* Each inclusion defines its own T_* macros: clear them for the next one. */
#undef T_SFX
#undef T_TARGET
#undef T_ISA
#undef T_NAME
#undef T_V
#undef T_VL
#undef T_ZERO
#undef T_LOAD
#undef T_LOAD_TAIL
#undef T_ADD
#undef T_SUB
#undef T_FMA
#undef T_HSUM
