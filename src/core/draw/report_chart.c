/*
 * report_chart.c: renders the robustness report charts (severity small
 * multiples, flip-probability bars, run history) onto a canvas.  Layout
 * constants and the meaning of the inputs are in report_chart.h; the SQL
 * side is src/pg/draw/report_chart_sql.c.
 *
 * Every size is fixed by the number of series, never by the data, so a chart
 * of the same report always has the same dimensions and, drawing being
 * integer-only after the value -> pixel mapping, the same pixels.
 */
#include "draw/report_chart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draw/canvas.h"

#define NAME_MAX_CHARS 40		/* legend names */
#define TITLE_SCALE 2

static const sp_rgb white = {255, 255, 255};
static const sp_rgb black = {0, 0, 0};
static const sp_rgb grey = {100, 100, 100};
static const sp_rgb light = {222, 222, 222};
static const sp_rgb frame_grey = {150, 150, 150};
static const sp_rgb held_out_bg = {243, 243, 243};

static int
is_val(double v)
{
	return isfinite(v);
}

static double
clamp01(double v)
{
	return v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
}

/* c blended with white: keep = 0..100 percent of the colour */
static sp_rgb
tint(sp_rgb c, int keep)
{
	sp_rgb		t;

	t.r = (uint8_t) ((c.r * keep + 255 * (100 - keep)) / 100);
	t.g = (uint8_t) ((c.g * keep + 255 * (100 - keep)) / 100);
	t.b = (uint8_t) ((c.b * keep + 255 * (100 - keep)) / 100);
	return t;
}

/*
 * Copy s into dst (capacity cap) as printable ASCII that fits max_px pixels at
 * the given scale: one '?' per non-ASCII character (UTF-8 continuation bytes
 * are skipped), and a trailing ".." when shortened.  NULL reads as "".
 */
static void
fit_text(char *dst, size_t cap, const char *s, int max_px, int scale)
{
	int			max_chars = (max_px + 1) / ((SP_FONT_W + 1) * (scale < 1 ? 1 : scale));
	size_t		j = 0;
	int			shortened = 0;

	if (cap == 0)
		return;
	if (max_chars > (int) cap - 1)
		max_chars = (int) cap - 1;
	if (max_chars < 0)
		max_chars = 0;
	for (const unsigned char *p = (const unsigned char *) (s ? s : ""); *p; p++)
	{
		if ((*p & 0xC0) == 0x80)
			continue;
		if ((int) j >= max_chars)
		{
			shortened = 1;
			break;
		}
		dst[j++] = (*p >= 32 && *p <= 126) ? (char) *p : '?';
	}
	if (shortened && max_chars >= 3)
	{
		j = (size_t) max_chars - 2;
		dst[j++] = '.';
		dst[j++] = '.';
	}
	dst[j] = '\0';
}

/* Centred text (already fitted) */
static void
text_centred(sp_image *c, int cx, int y, const char *s, int scale, sp_rgb col)
{
	sp_canvas_text(c, cx - sp_canvas_text_width(s, scale) / 2, y, s, scale, col);
}

/* A 2-pixel dashed line: two 1-pixel dashed lines side by side. */
static void
thick_dashed(sp_image *c, int x0, int y0, int x1, int y1, sp_rgb col)
{
	int			steep = abs(y1 - y0) > abs(x1 - x0);

	sp_canvas_dashed_line(c, x0, y0, x1, y1, 6, 4, col);
	if (steep)
		sp_canvas_dashed_line(c, x0 + 1, y0, x1 + 1, y1, 6, 4, col);
	else
		sp_canvas_dashed_line(c, x0, y0 + 1, x1, y1 + 1, 6, 4, col);
}

/* Legend sample: a short solid / dashed line, or a filled box. */
typedef enum
{
	KEY_SOLID,
	KEY_DASHED,
	KEY_THIN,
	KEY_THIN_DASHED,
	KEY_BOX
} key_style;

/* Point markers of the line charts: none, circle (model), square (second series). */
typedef enum
{
	MARK_NONE,
	MARK_CIRCLE,
	MARK_SQUARE
} mark_style;

static void
draw_marker(sp_image *c, int x, int y, mark_style m, sp_rgb col)
{
	if (m == MARK_CIRCLE)
		sp_canvas_fill_circle(c, x, y, 3, col);
	else if (m == MARK_SQUARE)
		sp_canvas_fill_rect(c, x - 2, y - 2, 5, 5, col);
}

/* One legend item at (x, y) (text top), with an optional marker in the key; returns the x after it. */
static int
legend_item_marked(sp_image *c, int x, int y, key_style style, mark_style m, sp_rgb col,
				   const char *label)
{
	int			ly = y + 3;

	switch (style)
	{
		case KEY_SOLID:
			sp_canvas_line(c, x, ly, x + 26, ly, 2, col);
			break;
		case KEY_DASHED:
			thick_dashed(c, x, ly, x + 26, ly, col);
			break;
		case KEY_THIN:
			sp_canvas_line(c, x, ly, x + 26, ly, 1, col);
			break;
		case KEY_THIN_DASHED:
			sp_canvas_dashed_line(c, x, ly, x + 26, ly, 3, 3, col);
			break;
		case KEY_BOX:
			sp_canvas_fill_rect(c, x + 4, y - 2, 18, 11, col);
			sp_canvas_rect(c, x + 4, y - 2, 18, 11, frame_grey);
			break;
	}
	draw_marker(c, x + 13, ly, m, col);
	x += 32;
	x += sp_canvas_text(c, x, y, label, 1, black);
	return x + 22;
}

static int
legend_item(sp_image *c, int x, int y, key_style style, sp_rgb col, const char *label)
{
	return legend_item_marked(c, x, y, style, MARK_NONE, col, label);
}

/* Title (scale 2) and optional subtitle, centred; the header band. */
static void
draw_header(sp_image *c, const char *title, const char *subtitle)
{
	char		buf[256];

	fit_text(buf, sizeof buf, title, c->width - 20, TITLE_SCALE);
	text_centred(c, c->width / 2, 10, buf, TITLE_SCALE, black);
	if (subtitle && subtitle[0])
	{
		fit_text(buf, sizeof buf, subtitle, c->width - 20, 1);
		text_centred(c, c->width / 2, 36, buf, 1, grey);
	}
}

/* "model: <name>" legend label */
static void
name_label(char *dst, size_t cap, const char *prefix, const char *name)
{
	char		n[NAME_MAX_CHARS + 1];

	fit_text(n, sizeof n, name, NAME_MAX_CHARS * (SP_FONT_W + 1), 1);
	snprintf(dst, cap, "%s%s", prefix, n);
}

/*
 * A "nice" tick step near range / target: 1, 2, 2.5 or 5 times a power of ten.
 * range must be positive and finite.
 */
static double
nice_step(double range, int target)
{
	double		raw = range / target;
	double		p = pow(10.0, floor(log10(raw)));
	double		f = raw / p;

	if (f <= 1.0)
		return p;
	if (f <= 2.0)
		return 2.0 * p;
	if (f <= 2.5)
		return 2.5 * p;
	if (f <= 5.0)
		return 5.0 * p;
	return 10.0 * p;
}

/* Tick label of v (in percent) with as many decimals as step needs. */
static void
tick_label(char *dst, size_t cap, double v, double step, const char *suffix)
{
	int			dec = 0;

	while (dec < 4 && fabs(step * pow(10.0, dec) - round(step * pow(10.0, dec))) > 1e-6)
		dec++;
	if (fabs(v) < step * 1e-6)
		v = 0.0;				/* no "-0" */
	if (fabs(v) >= 1e7)
		snprintf(dst, cap, "%.3g%s", v, suffix);
	else
		snprintf(dst, cap, "%.*f%s", dec, v, suffix);
}

/* ------------------------------------------------------------------------ */
/* Severity small multiples                                                  */

#define SEV_LEFT 30				/* room for the global y caption */
#define SEV_PANEL_W ((SP_CHART_SEV_WIDTH - SEV_LEFT - 10) / SP_CHART_SEV_COLUMNS)
#define SEV_PLOT_L 30			/* inside a panel: room for tick labels */
#define SEV_PLOT_R 12
#define SEV_PLOT_T 20
#define SEV_PLOT_B 26

static int
sev_x(int left, int pw, int s)
{
	/* severities 1..5 spread with an 8 px inset so markers clear the frame */
	return left + 8 + (s - 1) * (pw - 16) / (SP_CHART_SEVERITIES - 1);
}

static int
sev_y(int top, int ph, double err)
{
	return top + ph - (int) lround(clamp01(err) * ph);
}

/* One polyline over severities 1..5, breaking at unmeasured values. */
static void
sev_line(sp_image *c, int left, int top, int pw, int ph, const double *v, int dashed,
		 sp_rgb col)
{
	for (int s = 1; s < SP_CHART_SEVERITIES; s++)
	{
		int			x0,
					y0,
					x1,
					y1;

		if (!is_val(v[s - 1]) || !is_val(v[s]))
			continue;
		x0 = sev_x(left, pw, s);
		y0 = sev_y(top, ph, v[s - 1]);
		x1 = sev_x(left, pw, s + 1);
		y1 = sev_y(top, ph, v[s]);
		if (dashed)
			thick_dashed(c, x0, y0, x1, y1, col);
		else
			sp_canvas_line(c, x0, y0, x1, y1, 2, col);
	}
	for (int s = 1; s <= SP_CHART_SEVERITIES; s++)
	{
		int			x,
					y;

		if (!is_val(v[s - 1]))
			continue;
		x = sev_x(left, pw, s);
		y = sev_y(top, ph, v[s - 1]);
		draw_marker(c, x, y, dashed ? MARK_SQUARE : MARK_CIRCLE, col);
	}
}

static void
sev_panel(sp_image *c, int px, int py, const sp_severity_series *s, const sp_severity_chart *ch)
{
	const sp_rgb mcol = sp_canvas_palette(SP_CHART_MODEL_COLOUR);
	const sp_rgb bcol = sp_canvas_palette(SP_CHART_BASELINE_COLOUR);
	int			left = px + SEV_PLOT_L,
				top = py + SEV_PLOT_T;
	int			pw = SEV_PANEL_W - SEV_PLOT_L - SEV_PLOT_R,
				ph = SP_CHART_SEV_PANEL_H - SEV_PLOT_T - SEV_PLOT_B;
	int			any = 0;
	char		title[80],
				name[48];

	/* panel title */
	if (s->held_out)
	{
		fit_text(name, sizeof name, s->name, pw - sp_canvas_text_width(" (held out)", 1), 1);
		snprintf(title, sizeof title, "%s (held out)", name);
	}
	else
		fit_text(title, sizeof title, s->name, pw + SEV_PLOT_L / 2, 1);
	text_centred(c, left + pw / 2, py + 5, title, 1, s->held_out ? grey : black);

	if (s->held_out)
		sp_canvas_fill_rect(c, left, top, pw, ph, held_out_bg);

	/* grid and y ticks every 25 % */
	for (int t = 0; t <= 4; t++)
	{
		int			y = top + ph - t * ph / 4;
		char		buf[8];

		if (t > 0 && t < 4)
			sp_canvas_line(c, left + 1, y, left + pw - 2, y, 1, light);
		snprintf(buf, sizeof buf, "%d", 25 * t);
		sp_canvas_text(c, left - 4 - sp_canvas_text_width(buf, 1), y - 4, buf, 1, grey);
	}
	/* x ticks: severities */
	for (int sv = 1; sv <= SP_CHART_SEVERITIES; sv++)
	{
		int			x = sev_x(left, pw, sv);
		char		buf[4];

		sp_canvas_line(c, x, top + ph, x, top + ph + 3, 1, frame_grey);
		snprintf(buf, sizeof buf, "%d", sv);
		text_centred(c, x, top + ph + 6, buf, 1, grey);
	}
	sp_canvas_rect(c, left, top, pw, ph + 1, frame_grey);

	/* clean errors: thin reference lines under the data */
	if (is_val(ch->clean_baseline_error))
		sp_canvas_dashed_line(c, left + 1, sev_y(top, ph, ch->clean_baseline_error),
							  left + pw - 2, sev_y(top, ph, ch->clean_baseline_error), 3, 3,
							  tint(bcol, 60));
	if (is_val(ch->clean_model_error))
		sp_canvas_line(c, left + 1, sev_y(top, ph, ch->clean_model_error),
					   left + pw - 2, sev_y(top, ph, ch->clean_model_error), 1, tint(mcol, 55));

	for (int i = 0; i < SP_CHART_SEVERITIES; i++)
		any |= is_val(s->model_error[i]) || is_val(s->baseline_error[i]);
	if (!any)
	{
		text_centred(c, left + pw / 2, top + ph / 2 - 4, "not measured", 1, grey);
		return;
	}
	/* baseline first, so the model line stays on top where they overlap */
	sev_line(c, left, top, pw, ph, s->baseline_error, 1, bcol);
	sev_line(c, left, top, pw, ph, s->model_error, 0, mcol);
}

sp_status
sp_chart_severity(const sp_env *env, const sp_severity_chart *ch, sp_image *out, sp_error *err)
{
	const sp_rgb mcol = sp_canvas_palette(SP_CHART_MODEL_COLOUR);
	const sp_rgb bcol = sp_canvas_palette(SP_CHART_BASELINE_COLOUR);
	sp_image	c;
	int			rows,
				height,
				any_held_out = 0;
	sp_status	st;
	char		buf[96];

	if (!ch || !out)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "severity chart needs a chart description");
	if (ch->n_series < 0 || (ch->n_series > 0 && !ch->series))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "invalid number of corruption series: %d",
							ch->n_series);
	if (ch->n_series > SP_CHART_MAX_SERIES)
	{
		sp_set_error(err, SP_ERR_LIMIT, "a severity chart shows at most %d corruptions, got %d",
					 SP_CHART_MAX_SERIES, ch->n_series);
		sp_error_hint(err, "Chart a run with fewer corruptions.");
		return SP_ERR_LIMIT;
	}
	rows = ch->n_series == 0 ? 1 : (ch->n_series + SP_CHART_SEV_COLUMNS - 1) / SP_CHART_SEV_COLUMNS;
	height = SP_CHART_SEV_HEADER + rows * SP_CHART_SEV_PANEL_H + SP_CHART_SEV_FOOTER;
	st = sp_canvas_create(env, &c, SP_CHART_SEV_WIDTH, height, white, err);
	if (st != SP_OK)
		return st;

	draw_header(&c, ch->title, ch->subtitle);
	for (int i = 0; i < ch->n_series; i++)
		any_held_out |= ch->series[i].held_out != 0;
	{
		int			x = SEV_LEFT + 10,
					y = 60;

		name_label(buf, sizeof buf, "model: ", ch->model_name);
		x = legend_item_marked(&c, x, y, KEY_SOLID, MARK_CIRCLE, mcol, buf);
		name_label(buf, sizeof buf, "baseline: ", ch->baseline_name);
		x = legend_item_marked(&c, x, y, KEY_DASHED, MARK_SQUARE, bcol, buf);
		if (is_val(ch->clean_model_error))
			x = legend_item(&c, x, y, KEY_THIN, tint(mcol, 55), "model clean error");
		if (is_val(ch->clean_baseline_error))
			x = legend_item(&c, x, y, KEY_THIN_DASHED, tint(bcol, 60), "baseline clean error");
		if (any_held_out)
			legend_item(&c, x, y, KEY_BOX, held_out_bg, "held-out corruption");
	}

	/* global axis captions */
	{
		const char *ycap = "error (%)";
		int			top = SP_CHART_SEV_HEADER,
					ph = rows * SP_CHART_SEV_PANEL_H;

		sp_canvas_text_vertical(&c, 8, top + ph / 2 + sp_canvas_text_width(ycap, 1) / 2, ycap, 1,
								black);
		text_centred(&c, SEV_LEFT + SP_CHART_SEV_COLUMNS * SEV_PANEL_W / 2,
					 height - SP_CHART_SEV_FOOTER + 12, "severity", 1, black);
	}

	if (ch->n_series == 0)
		text_centred(&c, SP_CHART_SEV_WIDTH / 2, SP_CHART_SEV_HEADER + SP_CHART_SEV_PANEL_H / 2,
					 "no corruption results", 2, grey);
	for (int i = 0; i < ch->n_series; i++)
	{
		if (sp_env_interrupted(env))
		{
			sp_image_free(env, &c);
			return sp_set_error(err, SP_ERR_INTERRUPTED, "chart drawing interrupted");
		}
		sev_panel(&c, SEV_LEFT + (i % SP_CHART_SEV_COLUMNS) * SEV_PANEL_W,
				  SP_CHART_SEV_HEADER + (i / SP_CHART_SEV_COLUMNS) * SP_CHART_SEV_PANEL_H,
				  &ch->series[i], ch);
	}
	*out = c;
	return SP_OK;
}

/* ------------------------------------------------------------------------ */
/* Flip probability bars                                                     */

#define FP_PLOT_L 190
#define FP_PLOT_R 70			/* room for the value after the longest bar */
#define FP_BAR_H 11

sp_status
sp_chart_perturbation(const sp_env *env, const sp_perturbation_chart *ch, sp_image *out,
					  sp_error *err)
{
	const sp_rgb mcol = sp_canvas_palette(SP_CHART_MODEL_COLOUR);
	const sp_rgb bcol = sp_canvas_palette(SP_CHART_BASELINE_COLOUR);
	sp_image	c;
	int			rows,
				height,
				left = FP_PLOT_L,
				top = SP_CHART_FP_HEADER,
				pw = SP_CHART_FP_WIDTH - FP_PLOT_L - FP_PLOT_R,
				ph;
	double		vmax = 0.0,
				step,
				hi;
	sp_status	st;
	char		buf[96];

	if (!ch || !out)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "perturbation chart needs a chart description");
	if (ch->n_bars < 0 || (ch->n_bars > 0 && !ch->bars))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "invalid number of perturbations: %d",
							ch->n_bars);
	if (ch->n_bars > SP_CHART_MAX_BARS)
		return sp_set_error(err, SP_ERR_LIMIT,
							"a perturbation chart shows at most %d perturbations, got %d",
							SP_CHART_MAX_BARS, ch->n_bars);
	rows = ch->n_bars == 0 ? 1 : ch->n_bars;
	ph = rows * SP_CHART_FP_ROW_H;
	height = SP_CHART_FP_HEADER + ph + SP_CHART_FP_FOOTER;

	/* x scale in percent: 0 .. a nice round value above the largest bar */
	for (int i = 0; i < ch->n_bars; i++)
	{
		if (is_val(ch->bars[i].model_fp))
			vmax = fmax(vmax, 100.0 * clamp01(ch->bars[i].model_fp));
		if (is_val(ch->bars[i].baseline_fp))
			vmax = fmax(vmax, 100.0 * clamp01(ch->bars[i].baseline_fp));
	}
	if (vmax < 1.0)
		vmax = 1.0;				/* flip probabilities near 0: still a 0..1 % axis */
	step = nice_step(vmax, 5);
	hi = ceil(vmax / step - 1e-9) * step;

	st = sp_canvas_create(env, &c, SP_CHART_FP_WIDTH, height, white, err);
	if (st != SP_OK)
		return st;
	draw_header(&c, ch->title, ch->subtitle);
	{
		int			x = left,
					y = 60;

		name_label(buf, sizeof buf, "model: ", ch->model_name);
		x = legend_item(&c, x, y, KEY_BOX, mcol, buf);
		name_label(buf, sizeof buf, "baseline: ", ch->baseline_name);
		legend_item(&c, x, y, KEY_BOX, bcol, buf);
	}

	/* vertical grid and x tick labels */
	for (int t = 0; t * step <= hi + step * 1e-9 && t <= 20; t++)
	{
		int			x = left + (int) lround(t * step / hi * pw);

		if (t > 0)
			sp_canvas_line(&c, x, top, x, top + ph, 1, light);
		sp_canvas_line(&c, x, top + ph, x, top + ph + 3, 1, frame_grey);
		tick_label(buf, sizeof buf, t * step, step, "");
		text_centred(&c, x, top + ph + 7, buf, 1, grey);
	}
	text_centred(&c, left + pw / 2, top + ph + 26, "flip probability (%)", 1, black);

	if (ch->n_bars == 0)
		text_centred(&c, left + pw / 2, top + ph / 2 - 8, "no perturbation results", 2, grey);
	for (int i = 0; i < ch->n_bars; i++)
	{
		const sp_fp_bar *b = &ch->bars[i];
		int			ry = top + i * SP_CHART_FP_ROW_H;
		char		name[64];

		if (sp_env_interrupted(env))
		{
			sp_image_free(env, &c);
			return sp_set_error(err, SP_ERR_INTERRUPTED, "chart drawing interrupted");
		}
		fit_text(name, sizeof name, b->name, left - 20, 1);
		sp_canvas_text(&c, left - 10 - sp_canvas_text_width(name, 1),
					   ry + SP_CHART_FP_ROW_H / 2 - 4, name, 1, black);
		for (int k = 0; k < 2; k++)
		{
			double		v = k == 0 ? b->model_fp : b->baseline_fp;
			int			by = ry + 5 + k * (FP_BAR_H + 1);
			int			w;

			if (!is_val(v))
			{
				sp_canvas_text(&c, left + 4, by + 1, "not measured", 1, grey);
				continue;
			}
			w = (int) lround(100.0 * clamp01(v) / hi * pw);
			sp_canvas_fill_rect(&c, left + 1, by, w, FP_BAR_H, k == 0 ? mcol : bcol);
			snprintf(buf, sizeof buf, "%.1f%%", 100.0 * clamp01(v));
			sp_canvas_text(&c, left + w + 5, by + 1, buf, 1, grey);
		}
	}
	sp_canvas_line(&c, left, top, left, top + ph, 1, black);
	sp_canvas_line(&c, left, top + ph, left + pw, top + ph, 1, black);
	*out = c;
	return SP_OK;
}

/* ------------------------------------------------------------------------ */
/* History of ratios across runs                                             */

#define HIST_L 80
#define HIST_R 80				/* room for the "baseline" label of the reference */
#define HIST_T 88
#define HIST_B 62
#define HIST_MARKERS_MAX 60		/* draw point markers up to this many runs */

typedef struct hist_axis
{
	int			left,
				top,
				pw,
				ph,
				n;
	double		lo,
				hi;
} hist_axis;

static int
hist_x(const hist_axis *a, int i)
{
	if (a->n <= 1)
		return a->left + a->pw / 2;
	return a->left + 10 + (int) ((long) i * (a->pw - 20) / (a->n - 1));
}

static int
hist_y(const hist_axis *a, double pct)
{
	return a->top + a->ph - (int) lround((pct - a->lo) / (a->hi - a->lo) * a->ph);
}

/* value in percent, or NaN when missing or out of the drawable range */
static double
hist_pct(double ratio)
{
	double		p = ratio * 100.0;

	return isfinite(p) && fabs(p) < 1e12 ? p : NAN;
}

static void
hist_series(sp_image *c, const hist_axis *a, const sp_history_point *pts, int second, sp_rgb col)
{
	int			prev_x = 0,
				prev_y = 0,
				have_prev = 0;

	for (int i = 0; i < a->n; i++)
	{
		double		p = hist_pct(second ? pts[i].value2 : pts[i].value);
		int			x,
					y;

		if (!is_val(p))
		{
			have_prev = 0;		/* a missing run breaks the line */
			continue;
		}
		x = hist_x(a, i);
		y = hist_y(a, p);
		if (have_prev)
			sp_canvas_line(c, prev_x, prev_y, x, y, 2, col);
		/* markers when sparse, and always for isolated points */
		if (a->n <= HIST_MARKERS_MAX || !have_prev)
		{
			draw_marker(c, x, y, second ? MARK_SQUARE : MARK_CIRCLE, col);
		}
		prev_x = x;
		prev_y = y;
		have_prev = 1;
	}
}

sp_status
sp_chart_history(const sp_env *env, const sp_history_chart *ch, sp_image *out, sp_error *err)
{
	const sp_rgb c1 = sp_canvas_palette(SP_CHART_MODEL_COLOUR);
	const sp_rgb c2 = sp_canvas_palette(SP_CHART_VALUE2_COLOUR);
	sp_image	c;
	hist_axis	a;
	double		mn = INFINITY,
				mx = -INFINITY,
				step;
	int			n_val = 0,
				label_w = 0,
				every;
	sp_status	st;
	char		buf[96];

	if (!ch || !out)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "history chart needs a chart description");
	if (ch->n_points < 0 || (ch->n_points > 0 && !ch->points))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "invalid number of history points: %d",
							ch->n_points);
	if (ch->n_points > SP_CHART_MAX_POINTS)
		return sp_set_error(err, SP_ERR_LIMIT, "a history chart shows at most %d runs, got %d",
							SP_CHART_MAX_POINTS, ch->n_points);

	a.left = HIST_L;
	a.top = HIST_T;
	a.pw = SP_CHART_HIST_WIDTH - HIST_L - HIST_R;
	a.ph = SP_CHART_HIST_HEIGHT - HIST_T - HIST_B;
	a.n = ch->n_points;

	/* y range in percent: always shows 0 and the 100 % reference */
	for (int i = 0; i < a.n; i++)
		for (int k = 0; k < (ch->name2 ? 2 : 1); k++)
		{
			double		p = hist_pct(k ? ch->points[i].value2 : ch->points[i].value);

			if (!is_val(p))
				continue;
			mn = fmin(mn, p);
			mx = fmax(mx, p);
			n_val++;
		}
	mn = n_val ? fmin(mn, 0.0) : 0.0;
	mx = n_val ? fmax(mx, 100.0) : 100.0;
	mx += (mx - mn) * 0.08;		/* headroom above the highest point */
	step = nice_step(mx - mn, 6);
	a.lo = floor(mn / step + 1e-9) * step;
	a.hi = ceil(mx / step - 1e-9) * step;
	if (!(a.hi > a.lo))
		a.hi = a.lo + step;

	st = sp_canvas_create(env, &c, SP_CHART_HIST_WIDTH, SP_CHART_HIST_HEIGHT, white, err);
	if (st != SP_OK)
		return st;
	draw_header(&c, ch->title, ch->subtitle);
	{
		int			x = a.left,
					y = 60;

		name_label(buf, sizeof buf, "", ch->name ? ch->name : "value");
		x = legend_item_marked(&c, x, y, KEY_SOLID, MARK_CIRCLE, c1, buf);
		if (ch->name2)
		{
			name_label(buf, sizeof buf, "", ch->name2);
			x = legend_item_marked(&c, x, y, KEY_SOLID, MARK_SQUARE, c2, buf);
		}
		legend_item(&c, x, y, KEY_THIN_DASHED, grey, "baseline = 100 %");
	}

	/* horizontal grid and y tick labels */
	for (int t = 0;; t++)
	{
		double		v = a.lo + t * step;
		int			y;

		if (v > a.hi + step * 1e-9 || t > 40)
			break;
		y = hist_y(&a, v);
		if (v > a.lo + step * 1e-9 && v < a.hi - step * 1e-9)
			sp_canvas_line(&c, a.left + 1, y, a.left + a.pw - 1, y, 1, light);
		tick_label(buf, sizeof buf, v, step, "");
		sp_canvas_text(&c, a.left - 6 - sp_canvas_text_width(buf, 1), y - 4, buf, 1, grey);
	}
	{
		const char *ycap = "ratio to the baseline (%)";

		sp_canvas_text_vertical(&c, 14, a.top + a.ph / 2 + sp_canvas_text_width(ycap, 1) / 2,
								ycap, 1, black);
	}
	if (ch->x_title && ch->x_title[0])
	{
		fit_text(buf, sizeof buf, ch->x_title, a.pw, 1);
		text_centred(&c, a.left + a.pw / 2, a.top + a.ph + 28, buf, 1, black);
	}

	/* the baseline reference at 100 % */
	{
		int			y = hist_y(&a, 100.0);

		sp_canvas_dashed_line(&c, a.left + 1, y, a.left + a.pw - 1, y, 6, 4, grey);
		sp_canvas_text(&c, a.left + a.pw + 6, y - 4, "baseline", 1, grey);
	}

	/* x labels, thinned so they do not overlap; the newest run always labelled */
	for (int i = 0; i < a.n; i++)
	{
		char		lab[24];
		int			w;

		fit_text(lab, sizeof lab, ch->points[i].label, 16 * (SP_FONT_W + 1), 1);
		w = sp_canvas_text_width(lab, 1);
		if (w > label_w)
			label_w = w;
	}
	every = a.n <= 1 ? 1 : (int) (((long) (label_w + 12) * (a.n - 1)) / (a.pw - 20)) + 1;
	for (int i = a.n - 1; i >= 0; i -= every)
	{
		char		lab[24];
		int			x = hist_x(&a, i);

		fit_text(lab, sizeof lab, ch->points[i].label, 16 * (SP_FONT_W + 1), 1);
		sp_canvas_line(&c, x, a.top + a.ph, x, a.top + a.ph + 3, 1, frame_grey);
		text_centred(&c, x, a.top + a.ph + 7, lab, 1, grey);
	}

	if (a.n == 0)
		text_centred(&c, a.left + a.pw / 2, a.top + a.ph / 2 - 30, "no runs", 2, grey);
	else if (n_val == 0)
		text_centred(&c, a.left + a.pw / 2, a.top + a.ph / 2 - 30, "no values measured", 2, grey);
	if (sp_env_interrupted(env))
	{
		sp_image_free(env, &c);
		return sp_set_error(err, SP_ERR_INTERRUPTED, "chart drawing interrupted");
	}
	if (ch->name2)
		hist_series(&c, &a, ch->points, 1, c2);
	hist_series(&c, &a, ch->points, 0, c1);
	sp_canvas_rect(&c, a.left, a.top, a.pw + 1, a.ph + 1, black);
	*out = c;
	return SP_OK;
}
