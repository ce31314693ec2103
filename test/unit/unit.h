/*
 * unit.h: a minimal self-registering unit test harness for the pure-C core.
 *
 * Each test file defines tests with SP_TEST(name) { ... } and uses the CHECK
 * macros.  Tests register themselves through a constructor, so adding a file
 * to test/unit/ needs no edit anywhere else.  The runner (runner.c) prints one
 * line per failure and a final "N passed, N failed".
 */
#ifndef SP_UNIT_H
#define SP_UNIT_H

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef void (*sp_test_fn) (int *failed);

extern void sp_unit_register(const char *file, const char *name, sp_test_fn fn);
extern int	sp_unit_verbose;

#define SP_TEST(name) \
	static void test_##name(int *sp_failed__); \
	__attribute__((constructor)) static void register_##name(void) \
	{ sp_unit_register(__FILE__, #name, test_##name); } \
	static void test_##name(int *sp_failed__)

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
	*sp_failed__ = 1; } } while (0)

#define CHECK_MSG(cond, ...) do { if (!(cond)) { \
	fprintf(stderr, "  %s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); \
	*sp_failed__ = 1; } } while (0)

#define CHECK_EQ_INT(a, b) do { long long a__ = (long long) (a), b__ = (long long) (b); \
	if (a__ != b__) { fprintf(stderr, "  %s:%d: %s == %s failed: %lld vs %lld\n", \
		__FILE__, __LINE__, #a, #b, a__, b__); *sp_failed__ = 1; } } while (0)

#define CHECK_NEAR(a, b, tol) do { double a__ = (double) (a), b__ = (double) (b); \
	if (!(fabs(a__ - b__) <= (tol))) { fprintf(stderr, "  %s:%d: |%s - %s| <= %g failed: %.9g vs %.9g\n", \
		__FILE__, __LINE__, #a, #b, (double) (tol), a__, b__); *sp_failed__ = 1; } } while (0)

/* Stop the current test early (e.g. when a later check would crash). */
#define REQUIRE(cond) do { if (!(cond)) { \
	fprintf(stderr, "  %s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #cond); \
	*sp_failed__ = 1; return; } } while (0)

#endif							/* SP_UNIT_H */
