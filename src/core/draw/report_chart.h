/*
 * report_chart.h: the PNG-ready charts of the robustness reports (issue 6),
 * drawn with the canvas (canvas.h).  Pure C: the SQL glue
 * (src/pg/draw/report_chart_sql.c) reads the report tables and fills the inputs.
 *
 *   severity chart     small multiples, one panel per corruption: error (%)
 *                      by severity 1..5, model solid, baseline dashed, thin
 *                      horizontal lines at the clean errors.
 *   perturbation chart grouped horizontal bars: flip probability (%) per
 *                      perturbation, model and baseline.
 *   history chart      two ratio series (e.g. mCE and relative mCE) across
 *                      runs, in percent, dashed reference line at 100 % (the
 *                      baseline).
 *
 * Errors and flip probabilities are fractions (0..1); history values are
 * ratios (1.0 = the baseline).  NaN or infinite values mean "not measured"
 * and are left out of the lines (a line breaks at a gap).  Text is drawn in
 * printable ASCII; other bytes show as '?', long names are shortened.
 *
 * Sizes (pixels), all deterministic:
 *   severity      width SP_CHART_SEV_WIDTH,
 *                 height SP_CHART_SEV_HEADER + rows * SP_CHART_SEV_PANEL_H
 *                        + SP_CHART_SEV_FOOTER,
 *                 rows = ceil(n_series / SP_CHART_SEV_COLUMNS), at least 1.
 *   perturbation  width SP_CHART_FP_WIDTH,
 *                 height SP_CHART_FP_HEADER + max(n_bars, 1) * SP_CHART_FP_ROW_H
 *                        + SP_CHART_FP_FOOTER.
 *   history       SP_CHART_HIST_WIDTH x SP_CHART_HIST_HEIGHT.
 */
#ifndef SP_REPORT_CHART_H
#define SP_REPORT_CHART_H

#include "image/image.h"

#define SP_CHART_SEVERITIES 5
#define SP_CHART_MAX_SERIES 64	/* corruption panels per severity chart */
#define SP_CHART_MAX_BARS 64	/* perturbations per flip-probability chart */
#define SP_CHART_MAX_POINTS 1000	/* runs per history chart */

#define SP_CHART_SEV_COLUMNS 5
#define SP_CHART_SEV_WIDTH 1000
#define SP_CHART_SEV_PANEL_H 180
#define SP_CHART_SEV_HEADER 92
#define SP_CHART_SEV_FOOTER 36

#define SP_CHART_FP_WIDTH 900
#define SP_CHART_FP_ROW_H 34
#define SP_CHART_FP_HEADER 92
#define SP_CHART_FP_FOOTER 50

#define SP_CHART_HIST_WIDTH 900
#define SP_CHART_HIST_HEIGHT 500

/* One corruption: errors at severities 1..5 (index 0 = severity 1). */
typedef struct sp_severity_series
{
	const char *name;
	int			held_out;		/* nonzero: one of the held-out corruptions */
	double		model_error[SP_CHART_SEVERITIES];
	double		baseline_error[SP_CHART_SEVERITIES];
} sp_severity_series;

typedef struct sp_severity_chart
{
	const char *title;
	const char *subtitle;		/* may be NULL */
	const char *model_name;
	const char *baseline_name;
	double		clean_model_error;	/* NaN: not drawn */
	double		clean_baseline_error;
	const sp_severity_series *series;
	int			n_series;		/* 0..SP_CHART_MAX_SERIES */
} sp_severity_chart;

/* One perturbation sequence: flip probabilities of model and baseline. */
typedef struct sp_fp_bar
{
	const char *name;
	double		model_fp;
	double		baseline_fp;
} sp_fp_bar;

typedef struct sp_perturbation_chart
{
	const char *title;
	const char *subtitle;		/* may be NULL */
	const char *model_name;
	const char *baseline_name;
	const sp_fp_bar *bars;
	int			n_bars;			/* 0..SP_CHART_MAX_BARS */
} sp_perturbation_chart;

/* One run of the history: x label and the two ratios. */
typedef struct sp_history_point
{
	const char *label;			/* e.g. "#42" or a date */
	double		value;			/* e.g. mCE (ratio) */
	double		value2;			/* e.g. relative mCE (ratio) */
} sp_history_point;

typedef struct sp_history_chart
{
	const char *title;
	const char *subtitle;		/* may be NULL */
	const char *x_title;		/* caption under the x axis; may be NULL */
	const char *name;			/* legend of value, e.g. "mCE" */
	const char *name2;			/* legend of value2; NULL: value2 not drawn */
	const sp_history_point *points;
	int			n_points;		/* 0..SP_CHART_MAX_POINTS */
} sp_history_chart;

/* The chart colours (also used by the tests to find the lines). */
#define SP_CHART_MODEL_COLOUR 0		/* sp_canvas_palette index */
#define SP_CHART_BASELINE_COLOUR 1
#define SP_CHART_VALUE2_COLOUR 2

/* Each renders a fresh RGB image into *out (from env); *out untouched on error. */
extern sp_status sp_chart_severity(const sp_env *env, const sp_severity_chart *chart,
								   sp_image *out, sp_error *err);
extern sp_status sp_chart_perturbation(const sp_env *env, const sp_perturbation_chart *chart,
									   sp_image *out, sp_error *err);
extern sp_status sp_chart_history(const sp_env *env, const sp_history_chart *chart,
								  sp_image *out, sp_error *err);

#endif							/* SP_REPORT_CHART_H */
