/*
 * bench_util.h: timing helpers shared by the benchmark programs.  Benchmarks
 * print figures; they never pass or fail on time.
 */
#ifndef SP_BENCH_UTIL_H
#define SP_BENCH_UTIL_H

#include <stdio.h>
#include <time.h>

static inline double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/*
 * Run body repeatedly until at least min_seconds have passed; returns the
 * seconds per iteration.  Use as:
 *   double t = BENCH_LOOP(0.5, { work(); });
 */
#define BENCH_LOOP(min_seconds, body) __extension__ ({ \
	long bench_iters__ = 0; double bench_t0__ = bench_now(), bench_el__; \
	do { body; bench_iters__++; bench_el__ = bench_now() - bench_t0__; } \
	while (bench_el__ < (min_seconds)); \
	bench_el__ / (double) bench_iters__; })

/* Keep the optimiser from deleting a computed value. */
static inline void
bench_consume(const void *p)
{
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

#endif							/* SP_BENCH_UTIL_H */
