/*
 * embedding_plot.c: embedding_plot(embeddings, labels, title) -> PNG scatter
 * plot, one colour per label with a legend.  Embeddings of more than two
 * dimensions are projected on their first two principal components
 * (src/core/vector/pca.c); the axis titles say which and how much variance each
 * carries.  Drawing goes through the core canvas (src/core/draw/canvas.c).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "draw/axis.h"
#include "draw/canvas.h"
#include "pg/embedding/embedding.h"
#include "vector/pca.h"
#include "pg/sp_pg.h"

PG_FUNCTION_INFO_V1(siamese_embedding_plot);

#define PLOT_W 800
#define PLOT_H 600
#define PLOT_MAX_POINTS 1000000
#define LEGEND_MAX 24
#define LABEL_MAX_CHARS 24
#define YTITLE_X 8				/* left edge of the vertical y-axis title */
#define YTITLE_GAP 10			/* between the title and the widest y tick label */

typedef struct PlotLabel
{
	char	   *name;
	int			count;
} PlotLabel;

static int
cmp_label(const void *a, const void *b)
{
	return strcmp(((const PlotLabel *) a)->name, ((const PlotLabel *) b)->name);
}

/* index of name in the sorted labels (binary search) */
static int
label_index(PlotLabel *labels, int n, const char *name)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = strcmp(name, labels[mid].name);

		if (c == 0)
			return mid;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return -1;
}

/* Printable ASCII only, shortened for the legend. */
static char *
display_text(const char *s, int max_chars)
{
	int			len = strlen(s);
	char	   *out = palloc(Min(len, max_chars) + 4);
	int			j = 0;

	for (int i = 0; i < len && j < max_chars; i++)
	{
		unsigned char ch = (unsigned char) s[i];

		if ((ch & 0xC0) == 0x80)
			continue;			/* UTF-8 continuation: one '?' per character */
		out[j++] = (ch >= 32 && ch <= 126) ? (char) ch : '?';
	}
	if (len > max_chars)
	{
		out[j++] = '.';
		out[j++] = '.';
	}
	out[j] = '\0';
	return out;
}

Datum
siamese_embedding_plot(PG_FUNCTION_ARGS)
{
	ArrayType  *earr,
			   *larr;
	char	   *title = NULL;
	Datum	   *edatums,
			   *ldatums;
	bool	   *enulls,
			   *lnulls;
	int			ne,
				nl,
				n = 0,
				d = -1,
				n_labels = 0;
	Oid			emb_type;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	float	   *x;
	double	   *xy;				/* 2-d coordinates in double: PCA projections may exceed FLT_MAX */
	int		   *point_label;
	char	  **point_name;
	PlotLabel  *labels;
	double		expl[2] = {0, 0};
	double		x0,
				x1,
				y0,
				y1;
	const sp_env *env = sp_pg_env();
	sp_image	canvas;
	sp_error	err;
	const sp_rgb white = {255, 255, 255},
				black = {0, 0, 0},
				grey = {110, 110, 110},
				light = {225, 225, 225};
	const int	right = 190,
				top = 40,
				bottom = 60;
	int			left,
				pw,
				ph = PLOT_H - top - bottom,
				ylabel_w = 0;
	char		xtitle[64],
				ytitle[64],
				xticks[5][32],
				yticks[5][32];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	earr = PG_GETARG_ARRAYTYPE_P(0);
	larr = PG_GETARG_ARRAYTYPE_P(1);
	if (!PG_ARGISNULL(2))
		title = text_to_cstring(PG_GETARG_TEXT_PP(2));

	if (ARR_NDIM(earr) > 1 || ARR_NDIM(larr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("embedding_plot expects one-dimensional arrays")));
	emb_type = ARR_ELEMTYPE(earr);
	get_typlenbyvalalign(emb_type, &typlen, &typbyval, &typalign);
	deconstruct_array(earr, emb_type, typlen, typbyval, typalign, &edatums, &enulls, &ne);
	deconstruct_array(larr, TEXTOID, -1, false, TYPALIGN_INT, &ldatums, &lnulls, &nl);
	if (ne != nl)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("embedding_plot needs one label per embedding, got %d embeddings and %d labels",
						ne, nl)));
	if (ne > PLOT_MAX_POINTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("embedding_plot draws at most %d points, got %d", PLOT_MAX_POINTS, ne)));

	/* Collect non-NULL embeddings, all of one dimension. */
	for (int i = 0; i < ne; i++)
	{
		Embedding  *e;

		if (enulls[i])
			continue;
		e = DatumGetEmbedding(edatums[i]);
		if (d < 0)
			d = e->dim;
		else if (e->dim != d)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("different embedding dimensions %d and %d", d, e->dim)));
		n++;
	}
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("embedding_plot needs at least one non-NULL embedding")));
	x = palloc_extended(sizeof(float) * (size_t) n * d, MCXT_ALLOC_HUGE);
	point_name = palloc(sizeof(char *) * n);
	for (int i = 0, j = 0; i < ne; i++)
	{
		Embedding  *e;

		if (enulls[i])
			continue;
		e = DatumGetEmbedding(edatums[i]);
		memcpy(x + (size_t) j * d, e->x, sizeof(float) * d);
		point_name[j] = lnulls[i] ? "(null)" : TextDatumGetCString(ldatums[i]);
		j++;
	}

	/* Distinct labels, sorted, with counts. */
	labels = palloc(sizeof(PlotLabel) * n);
	for (int j = 0; j < n; j++)
	{
		labels[j].name = point_name[j];
		labels[j].count = 0;
	}
	qsort(labels, n, sizeof(PlotLabel), cmp_label);
	for (int j = 0; j < n; j++)
		if (n_labels == 0 || strcmp(labels[n_labels - 1].name, labels[j].name) != 0)
			labels[n_labels++] = labels[j];
	point_label = palloc(sizeof(int) * n);
	for (int j = 0; j < n; j++)
	{
		point_label[j] = label_index(labels, n_labels, point_name[j]);
		labels[point_label[j]].count++;
	}

	/* 2-d coordinates */
	xy = palloc_extended(sizeof(double) * (size_t) n * 2, MCXT_ALLOC_HUGE);
	if (d == 1)
	{
		for (int j = 0; j < n; j++)
		{
			xy[2 * j] = x[j];
			xy[2 * j + 1] = 0.0;
		}
		strlcpy(xtitle, "dim 1", sizeof xtitle);
		strlcpy(ytitle, "", sizeof ytitle);
	}
	else if (d == 2)
	{
		for (int j = 0; j < 2 * n; j++)
			xy[j] = x[j];
		strlcpy(xtitle, "dim 1", sizeof xtitle);
		strlcpy(ytitle, "dim 2", sizeof ytitle);
	}
	else
	{
		SP_PG_CHECK(sp_pca_project(env, x, n, d, 2, xy, expl, NULL, &err), &err);
		snprintf(xtitle, sizeof xtitle, "PC1 (%.1f%% of variance, %d dims)", 100 * expl[0], d);
		snprintf(ytitle, sizeof ytitle, "PC2 (%.1f%%)", 100 * expl[1]);
	}
	sp_axis_range(xy, (size_t) n, 2, &x0, &x1);
	sp_axis_range(xy + 1, (size_t) n, 2, &y0, &y1);
	for (int t = 0; t <= 4; t++)
	{
		sp_axis_tick_label(xticks[t], sizeof xticks[t], x0, x1, t, 4);
		sp_axis_tick_label(yticks[t], sizeof yticks[t], y0, y1, t, 4);
		ylabel_w = Max(ylabel_w, sp_canvas_text_width(yticks[t], 1));
	}
	/*
	 * Left margin: the vertical y title, a gap, the widest y tick label and
	 * its 6 px to the frame, so the title never runs into a label ("-3.35e+38"
	 * is 54 px wide).
	 */
	left = Max(70, YTITLE_X + SP_FONT_H + YTITLE_GAP + ylabel_w + 6);
	pw = PLOT_W - left - right;

	SP_PG_CHECK(sp_canvas_create(env, &canvas, PLOT_W, PLOT_H, white, &err), &err);

	/* grid, ticks and tick labels */
	for (int t = 0; t <= 4; t++)
	{
		int			gx = left + (int) lround((double) pw * t / 4);
		int			gy = top + ph - (int) lround((double) ph * t / 4);

		sp_canvas_line(&canvas, gx, top, gx, top + ph, 1, light);
		sp_canvas_line(&canvas, left, gy, left + pw, gy, 1, light);
		sp_canvas_text(&canvas, gx - sp_canvas_text_width(xticks[t], 1) / 2, top + ph + 6, xticks[t], 1,
					   grey);
		sp_canvas_text(&canvas, left - 6 - sp_canvas_text_width(yticks[t], 1), gy - SP_FONT_H / 2,
					   yticks[t], 1, grey);
	}
	sp_canvas_rect(&canvas, left, top, pw + 1, ph + 1, black);
	sp_canvas_text(&canvas, left + pw / 2 - sp_canvas_text_width(xtitle, 1) / 2,
				   top + ph + 26, xtitle, 1, black);
	if (ytitle[0])
		sp_canvas_text_vertical(&canvas, YTITLE_X,
								top + ph / 2 + sp_canvas_text_width(ytitle, 1) / 2, ytitle, 1,
								black);
	if (title)
	{
		char	   *t = display_text(title, 60);

		sp_canvas_text(&canvas, left + pw / 2 - sp_canvas_text_width(t, 2) / 2, 10, t, 2, black);
	}

	/* points (in input order, so later points draw on top) */
	for (int j = 0; j < n; j++)
	{
		int			px = left + (int) lround((xy[2 * j] - x0) / (x1 - x0) * pw);
		int			py = top + ph - (int) lround((xy[2 * j + 1] - y0) / (y1 - y0) * ph);

		if ((j & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		sp_canvas_fill_circle(&canvas, px, py, n > 2000 ? 2 : 3,
							  sp_canvas_palette(point_label[j]));
	}

	/* legend */
	{
		int			lx = left + pw + 16,
					ly = top;
		int			shown = Min(n_labels, LEGEND_MAX);

		for (int i = 0; i < shown; i++)
		{
			char	   *t = display_text(labels[i].name, LABEL_MAX_CHARS);
			char	   *s = psprintf("%s (%d)", t, labels[i].count);

			sp_canvas_fill_circle(&canvas, lx + 4, ly + 4 + i * 16, 4, sp_canvas_palette(i));
			sp_canvas_text(&canvas, lx + 14, ly + i * 16, s, 1, black);
		}
		if (n_labels > shown)
		{
			char	   *s = psprintf("... %d more", n_labels - shown);

			sp_canvas_text(&canvas, lx + 14, ly + shown * 16, s, 1, grey);
		}
		if (n_labels > 10)
			sp_canvas_text(&canvas, lx, ly + (shown + 1) * 16 + 4, "colours repeat", 1, grey);
	}

	PG_RETURN_BYTEA_P(sp_pg_image_to_png(&canvas));
}
