/*
 * onnx_conformance.c: run the ONNX conformance cases of Debian's
 * libonnx-testdata through the importer and the graph engine.
 *
 *   onnx_conformance [-v] [-f FILTER] [DATA_DIR]
 *
 * DATA_DIR (default /usr/share/libonnx-testdata/data) holds the suites node/,
 * pytorch-converted/, pytorch-operator/ and simple/; each case is a folder
 * with model.onnx and test_data_set_N/{input,output}_K.pb.  A case whose
 * model uses an op, element type or feature the engine does not support is
 * skipped (counted per reason); every other case must reproduce each
 * expected output within ONNX's tolerances (|got - want| <= atol + rtol *
 * |want|, rtol 1e-3, atol 1e-7; integers and booleans exactly).  Prints a
 * line per failing case, counts per op, the skip reasons, and
 * "conformance: P passed, F failed, S skipped"; exits 1 when a case failed.
 */
#include "nn/graph.h"
#include "nn/onnx_import.h"
#include "nn/op.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* paths are built into fixed buffers and checked by the file operations that use them */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define RTOL 1e-3
#define ATOL 1e-7
#define MAX_IO 64

static int	verbose = 0;

typedef struct op_count
{
	char		name[64];
	int			pass,
				fail;
} op_count;

static op_count ops[512];
static int	n_ops;

typedef struct reason_count
{
	char		text[160];
	int			n;
	char		example[128];
} reason_count;

static reason_count reasons[1024];
static int	n_reasons;

static void
count_op(const char *name, bool pass)
{
	int			i;

	for (i = 0; i < n_ops && strcmp(ops[i].name, name) != 0; i++)
		;
	if (i == n_ops)
	{
		if (n_ops == 512)
			return;
		snprintf(ops[n_ops++].name, sizeof ops[0].name, "%s", name);
	}
	if (pass)
		ops[i].pass++;
	else
		ops[i].fail++;
}

static void
count_reason(const char *msg, const char *example)
{
	char		key[160];
	const char *p;
	int			i;

	/* group by the message up to the node name: "operator X (node ..." -> "operator X" */
	snprintf(key, sizeof key, "%s", msg);
	if ((p = strstr(key, " (node")) != NULL)
		key[p - key] = '\0';
	else if ((p = strstr(key, " node \"")) != NULL)
		key[p - key] = '\0';
	for (i = 0; i < n_reasons && strcmp(reasons[i].text, key) != 0; i++)
		;
	if (i == n_reasons)
	{
		if (n_reasons == 1024)
			return;
		snprintf(reasons[n_reasons].text, sizeof reasons[0].text, "%s", key);
		snprintf(reasons[n_reasons].example, sizeof reasons[0].example, "%s", example);
		n_reasons++;
	}
	reasons[i].n++;
}

static uint8_t *
read_file(const char *path, size_t *len)
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
	if (buf && fread(buf, 1, (size_t) n, f) != (size_t) n)
	{
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t) n;
	return buf;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sorted subdirectory names of dir (caller frees). */
static char **
list_dirs(const char *dir, int *count)
{
	DIR		   *d = opendir(dir);
	struct dirent *e;
	char	  **names = NULL;
	int			n = 0,
				cap = 0;

	*count = 0;
	if (!d)
		return NULL;
	while ((e = readdir(d)) != NULL)
	{
		char		path[4096];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		if (n == cap)
		{
			cap = cap ? cap * 2 : 64;
			names = realloc(names, sizeof(char *) * (size_t) cap);
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, (size_t) n, sizeof(char *), cmp_name);
	*count = n;
	return names;
}

static bool
close_enough(sp_dtype t, const void *got, const void *want, int64_t n, char *why, size_t whylen)
{
	for (int64_t i = 0; i < n; i++)
	{
		if (t == SP_DT_FLOAT)
		{
			double		g = ((const float *) got)[i],
						w = ((const float *) want)[i];

			if (isnan(w) && isnan(g))
				continue;
			if (isinf(w) && g == w)
				continue;
			if (!(fabs(g - w) <= ATOL + RTOL * fabs(w)))
			{
				snprintf(why, whylen, "element %lld: got %.9g, want %.9g", (long long) i, g, w);
				return false;
			}
		}
		else if (t == SP_DT_INT64)
		{
			if (((const int64_t *) got)[i] != ((const int64_t *) want)[i])
			{
				snprintf(why, whylen, "element %lld: got %lld, want %lld", (long long) i,
						 (long long) ((const int64_t *) got)[i], (long long) ((const int64_t *) want)[i]);
				return false;
			}
		}
		else if (((const uint8_t *) got)[i] != ((const uint8_t *) want)[i])
		{
			snprintf(why, whylen, "element %lld differs", (long long) i);
			return false;
		}
	}
	return true;
}

/* 1 pass, 0 fail, -1 skip */
static int
run_dataset(const char *case_dir, const char *set, const uint8_t *model, size_t model_len,
			char *msg, size_t msglen, sp_graph **graph_out)
{
	const sp_env *env = sp_env_default();
	sp_graph   *g = NULL;
	sp_error	err;
	sp_status	st;
	void	   *in_data[MAX_IO] = {0},
			   *want[MAX_IO] = {0},
			   *got[MAX_IO] = {0};
	sp_shape	in_shape[MAX_IO],
				want_shape[MAX_IO];
	sp_dtype	in_type[MAX_IO],
				want_type[MAX_IO];
	int			n_in = 0,
				n_want = 0,
				result = 0;
	void	   *arena = NULL;

	msg[0] = '\0';
	st = sp_onnx_import(env, model, model_len, NULL, 0, &g, NULL, &err);
	if (st != SP_OK)
	{
		snprintf(msg, msglen, "%s", err.message);
		result = st == SP_ERR_UNSUPPORTED ? -1 : 0;
		goto done;
	}
	/* expected outputs and inputs */
	for (int k = 0; k < MAX_IO; k++)
	{
		char		path[4096];
		size_t		len;
		uint8_t    *buf;

		snprintf(path, sizeof path, "%s/%s/input_%d.pb", case_dir, set, k);
		if ((buf = read_file(path, &len)) != NULL)
		{
			st = sp_onnx_read_tensor(env, buf, len, &in_type[n_in], &in_shape[n_in], &in_data[n_in], &err);
			free(buf);
			if (st != SP_OK)
			{
				snprintf(msg, msglen, "%s", err.message);
				result = st == SP_ERR_UNSUPPORTED ? -1 : 0;
				goto done;
			}
			n_in++;
		}
		snprintf(path, sizeof path, "%s/%s/output_%d.pb", case_dir, set, k);
		if ((buf = read_file(path, &len)) != NULL)
		{
			st = sp_onnx_read_tensor(env, buf, len, &want_type[n_want], &want_shape[n_want], &want[n_want], &err);
			free(buf);
			if (st != SP_OK)
			{
				snprintf(msg, msglen, "%s", err.message);
				result = st == SP_ERR_UNSUPPORTED ? -1 : 0;
				goto done;
			}
			n_want++;
		}
	}
	if (g->n_inputs != n_in || g->n_outputs != n_want)
	{
		snprintf(msg, msglen, "the test data has %d inputs and %d outputs, the model %d and %d",
				 n_in, n_want, g->n_inputs, g->n_outputs);
		goto done;
	}
	for (int k = 0; k < n_in; k++)
		if (g->values[g->inputs[k]].dtype != in_type[k])
		{
			snprintf(msg, msglen, "input %d has element type %s in the data, %s in the model", k,
					 sp_dtype_name(in_type[k]), sp_dtype_name(g->values[g->inputs[k]].dtype));
			goto done;
		}
	/*
	 * Shapes are static here: an int64 input (a shape, axes, pads, repeats)
	 * becomes a constant from the test data, as it is in exported models.
	 */
	for (int k = g->n_inputs - 1; k >= 0; k--)
		if (in_type[k] == SP_DT_INT64)
		{
			int			id = g->inputs[k];

			g->values[id].is_input = false;
			if (sp_graph_set_constant(g, id, SP_DT_INT64, &in_shape[k], in_data[k], &err) != SP_OK)
			{
				snprintf(msg, msglen, "%s", err.message);
				goto done;
			}
			memmove(&g->inputs[k], &g->inputs[k + 1], sizeof(int) * (size_t) (g->n_inputs - k - 1));
			sp_free(env, in_data[k]);
			memmove(&in_data[k], &in_data[k + 1], sizeof(void *) * (size_t) (n_in - k - 1));
			memmove(&in_shape[k], &in_shape[k + 1], sizeof(sp_shape) * (size_t) (n_in - k - 1));
			in_data[n_in - 1] = NULL;
			g->n_inputs--;
			n_in--;
		}
	st = sp_graph_prepare(g, in_shape, &err);
	if (st != SP_OK)
	{
		snprintf(msg, msglen, "%s", err.message);
		result = st == SP_ERR_UNSUPPORTED ? -1 : 0;
		goto done;
	}
	for (int k = 0; k < n_want; k++)
	{
		const sp_value *v = &g->values[g->outputs[k]];

		if (!sp_shape_equal(&v->shape, &want_shape[k]) || v->dtype != want_type[k])
		{
			char		a[96],
						b[96];

			sp_shape_format(&v->shape, a, sizeof a);
			sp_shape_format(&want_shape[k], b, sizeof b);
			snprintf(msg, msglen, "output %d is %s %s, want %s %s", k, sp_dtype_name(v->dtype), a,
					 sp_dtype_name(want_type[k]), b);
			goto done;
		}
		got[k] = malloc((size_t) sp_shape_numel(&v->shape) * sp_dtype_size(v->dtype) + 1);
	}
	if (posix_memalign(&arena, 64, sp_graph_run_bytes(g) + 64) != 0)
		goto done;
	st = sp_graph_run(g, env, arena, (const void *const *) in_data, got, &err);
	if (st != SP_OK)
	{
		snprintf(msg, msglen, "run: %s", err.message);
		goto done;
	}
	result = 1;
	for (int k = 0; k < n_want; k++)
	{
		char		why[200];

		if (!close_enough(want_type[k], got[k], want[k], sp_shape_numel(&want_shape[k]), why, sizeof why))
		{
			snprintf(msg, msglen, "output %d %s", k, why);
			result = 0;
			break;
		}
	}
done:
	for (int k = 0; k < MAX_IO; k++)
	{
		sp_free(env, in_data[k]);
		sp_free(env, want[k]);
		free(got[k]);
	}
	free(arena);
	if (graph_out && result >= 0)
		*graph_out = g;
	else
		sp_graph_free(g);
	return result;
}

int
main(int argc, char **argv)
{
	const char *data = "/usr/share/libonnx-testdata/data";
	const char *filter = NULL;
	static const char *const suites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};
	int			passed = 0,
				failed = 0,
				skipped = 0;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "-f") == 0 && i + 1 < argc)
			filter = argv[++i];
		else
			data = argv[i];
	}
	for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++)
	{
		char		sdir[4096];
		int			ncases;
		char	  **cases;

		snprintf(sdir, sizeof sdir, "%s/%s", data, suites[s]);
		cases = list_dirs(sdir, &ncases);
		for (int c = 0; c < ncases; c++)
		{
			char		cdir[4096],
						mpath[4200],
						msg[600];
			size_t		mlen;
			uint8_t    *model;
			int			nsets;
			char	  **sets;
			int			result = 1;
			sp_graph   *g = NULL;

			if (filter && !strstr(cases[c], filter))
			{
				free(cases[c]);
				continue;
			}
			snprintf(cdir, sizeof cdir, "%s/%s", sdir, cases[c]);
			snprintf(mpath, sizeof mpath, "%s/model.onnx", cdir);
			model = read_file(mpath, &mlen);
			sets = list_dirs(cdir, &nsets);
			msg[0] = '\0';
			if (!model || nsets == 0)
				result = -1, snprintf(msg, sizeof msg, "no model or no test data");
			for (int k = 0; k < nsets && result == 1; k++)
			{
				sp_graph_free(g);
				g = NULL;
				result = run_dataset(cdir, sets[k], model, mlen, msg, sizeof msg, &g);
			}
			if (result == -1)
			{
				skipped++;
				count_reason(msg, cases[c]);
				if (verbose)
					printf("skip %s/%s: %s\n", suites[s], cases[c], msg);
			}
			else
			{
				if (result == 1)
					passed++;
				else
				{
					failed++;
					printf("FAIL %s/%s: %s\n", suites[s], cases[c], msg);
				}
				if (g)
				{
					/* count every op of the imported graph (folded ones too) */
					char		seen[64][64];
					int			ns = 0;

					for (int i = 0; i < g->n_nodes; i++)
					{
						int			k;

						for (k = 0; k < ns && strcmp(seen[k], g->nodes[i].op->name) != 0; k++)
							;
						if (k == ns && ns < 64)
						{
							snprintf(seen[ns++], 64, "%s", g->nodes[i].op->name);
							count_op(g->nodes[i].op->name, result == 1);
						}
					}
				}
				else if (verbose)
					printf("ok %s/%s\n", suites[s], cases[c]);
			}
			sp_graph_free(g);
			for (int k = 0; k < nsets; k++)
				free(sets[k]);
			free(sets);
			free(model);
			free(cases[c]);
		}
		free(cases);
	}
	printf("\ncases per op (passed/failed):\n");
	for (int i = 0; i < n_ops; i++)
		printf("  %-24s %4d / %d\n", ops[i].name, ops[i].pass, ops[i].fail);
	printf("\nskipped, by reason (an example case):\n");
	for (int i = 0; i < n_reasons; i++)
		printf("  %4d  %s  (%s)\n", reasons[i].n, reasons[i].text, reasons[i].example);
	printf("\nconformance: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
