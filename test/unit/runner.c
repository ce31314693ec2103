/*
 * runner.c: runs every registered unit test (optionally only those whose
 * "file:name" contains argv[1]) and prints "N passed, N failed".
 */
#include "unit.h"

#include <stdlib.h>

#define MAX_TESTS 4096

typedef struct
{
	const char *file;
	const char *name;
	sp_test_fn	fn;
} test_entry;

static test_entry tests[MAX_TESTS];
static int	n_tests;
int			sp_unit_verbose;

void
sp_unit_register(const char *file, const char *name, sp_test_fn fn)
{
	if (n_tests >= MAX_TESTS)
	{
		fprintf(stderr, "too many unit tests\n");
		abort();
	}
	tests[n_tests].file = file;
	tests[n_tests].name = name;
	tests[n_tests].fn = fn;
	n_tests++;
}

static int
cmp_tests(const void *a, const void *b)
{
	const test_entry *x = a, *y = b;
	int			c = strcmp(x->file, y->file);

	return c ? c : strcmp(x->name, y->name);
}

int
main(int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	int			passed = 0, failed = 0;

	sp_unit_verbose = getenv("SP_UNIT_VERBOSE") != NULL;
	qsort(tests, n_tests, sizeof(tests[0]), cmp_tests);
	for (int i = 0; i < n_tests; i++)
	{
		char		label[512];
		int			f = 0;

		snprintf(label, sizeof(label), "%s:%s", tests[i].file, tests[i].name);
		if (filter && !strstr(label, filter))
			continue;
		if (sp_unit_verbose)
			fprintf(stderr, "running %s\n", label);
		tests[i].fn(&f);
		if (f)
		{
			failed++;
			fprintf(stderr, "FAIL %s\n", label);
		}
		else
			passed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
