/*
 * test_report_chart.c: the robustness report charts (src/core/draw/report_chart.c):
 * documented sizes, the series colours are drawn, same input gives the same
 * pixels, edge cases (1 / 19 / no corruptions, all values missing, 1 and 200
 * history points, hostile names and values), errors, interrupts, allocation
 * failure, and the PNG round trip.
 */
#include "unit.h"

#include <stdlib.h>

#include "draw/canvas.h"
#include "img_fixtures.h"
#include "draw/report_chart.h"

static const char *const corruption_names[19] = {
	"gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
	"motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
	"elastic_transform", "pixelate", "jpeg_compression", "speckle_noise", "gaussian_blur",
	"spatter", "saturate"
};


static int
same_pixels(const sp_image *a, const sp_image *b)
{
	return a->width == b->width && a->height == b->height && a->channels == b->channels &&
		memcmp(a->pixels, b->pixels, (size_t) a->width * a->height * a->channels) == 0;
}

static void
fill_series(sp_severity_series *s, int n)
{
	for (int i = 0; i < n; i++)
	{
		s[i].name = corruption_names[i % 19];
		s[i].held_out = (i % 19) >= 15;
		for (int k = 0; k < SP_CHART_SEVERITIES; k++)
		{
			s[i].model_error[k] = 0.1 + 0.08 * k + 0.01 * (i % 5);
			s[i].baseline_error[k] = 0.3 + 0.12 * k;
		}
	}
}

static sp_severity_chart
sev_chart(const sp_severity_series *s, int n)
{
	sp_severity_chart ch = {"report 7", "subtitle", "fashion", "fashion-pixels", 0.09, 0.2, s, n};

	return ch;
}

static int
sev_height(int n)
{
	int			rows = n == 0 ? 1 : (n + SP_CHART_SEV_COLUMNS - 1) / SP_CHART_SEV_COLUMNS;

	return SP_CHART_SEV_HEADER + rows * SP_CHART_SEV_PANEL_H + SP_CHART_SEV_FOOTER;
}

SP_TEST(report_chart_severity_sizes_and_colours)
{
	const sp_env *env = sp_env_default();
	sp_severity_series s[19];
	sp_severity_chart ch;
	sp_image	img;
	sp_error	err;
	const int	counts[] = {1, 4, 5, 6, 15, 19};

	fill_series(s, 19);
	for (size_t t = 0; t < sizeof counts / sizeof counts[0]; t++)
	{
		ch = sev_chart(s, counts[t]);
		REQUIRE(sp_chart_severity(env, &ch, &img, &err) == SP_OK);
		CHECK_EQ_INT(img.width, SP_CHART_SEV_WIDTH);
		CHECK_EQ_INT(img.height, sev_height(counts[t]));
		CHECK_EQ_INT(img.channels, 3);
		/* model (solid) and baseline (dashed) lines are drawn in their colours */
		CHECK_MSG(fx_count_rgb(&img, sp_canvas_palette(SP_CHART_MODEL_COLOUR)) > 100 * counts[t],
				  "%d series", counts[t]);
		CHECK_MSG(fx_count_rgb(&img, sp_canvas_palette(SP_CHART_BASELINE_COLOUR)) > 50 * counts[t],
				  "%d series", counts[t]);
		sp_image_free(env, &img);
	}
	/* 19 corruptions: 4 rows, 1000 x 848 as documented in the SQL docs */
	CHECK_EQ_INT(sev_height(19), 848);
	CHECK_EQ_INT(sev_height(15), 668);
	CHECK_EQ_INT(sev_height(2), 308);
}

SP_TEST(report_chart_severity_deterministic)
{
	const sp_env *env = sp_env_default();
	sp_severity_series s[19];
	sp_severity_chart ch;
	sp_image	a,
				b;
	sp_error	err;

	fill_series(s, 19);
	ch = sev_chart(s, 19);
	REQUIRE(sp_chart_severity(env, &ch, &a, &err) == SP_OK);
	REQUIRE(sp_chart_severity(env, &ch, &b, &err) == SP_OK);
	CHECK(same_pixels(&a, &b));
	sp_image_free(env, &b);
	/* a changed value changes the pixels */
	s[3].model_error[2] = 0.9;
	REQUIRE(sp_chart_severity(env, &ch, &b, &err) == SP_OK);
	CHECK(!same_pixels(&a, &b));
	sp_image_free(env, &a);
	sp_image_free(env, &b);
}

SP_TEST(report_chart_severity_missing_values)
{
	const sp_env *env = sp_env_default();
	sp_severity_series s[3];
	sp_severity_chart ch;
	sp_image	img;
	sp_error	err;

	fill_series(s, 3);
	/* everything missing, clean errors included: renders, no series colour */
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < SP_CHART_SEVERITIES; k++)
			s[i].model_error[k] = s[i].baseline_error[k] = NAN;
	ch = sev_chart(s, 3);
	ch.clean_model_error = NAN;
	ch.clean_baseline_error = INFINITY;
	REQUIRE(sp_chart_severity(env, &ch, &img, &err) == SP_OK);
	CHECK_EQ_INT(img.height, sev_height(3));
	/* only the legend keys carry the colours (two short lines of 26 px) */
	CHECK(fx_count_rgb(&img, sp_canvas_palette(SP_CHART_MODEL_COLOUR)) < 100);
	sp_image_free(env, &img);

	/* a single measured severity, out-of-range values clamp, no crash */
	s[0].model_error[4] = 0.5;
	s[1].model_error[0] = -3.0;
	s[1].baseline_error[1] = 1e300;
	s[2].model_error[2] = -INFINITY;
	REQUIRE(sp_chart_severity(env, &ch, &img, &err) == SP_OK);
	sp_image_free(env, &img);
}

SP_TEST(report_chart_severity_edge_cases)
{
	const sp_env *env = sp_env_default();
	sp_severity_series *s = calloc(SP_CHART_MAX_SERIES + 1, sizeof *s);
	sp_severity_chart ch;
	sp_image	img = {0};
	sp_error	err;
	char		longname[300];

	REQUIRE(s);
	fill_series(s, SP_CHART_MAX_SERIES + 1);
	/* no corruptions at all: one empty row with a message */
	ch = sev_chart(s, 0);
	REQUIRE(sp_chart_severity(env, &ch, &img, &err) == SP_OK);
	CHECK_EQ_INT(img.height, sev_height(0));
	sp_image_free(env, &img);

	/* the limit, and one above it */
	ch = sev_chart(s, SP_CHART_MAX_SERIES);
	REQUIRE(sp_chart_severity(env, &ch, &img, &err) == SP_OK);
	CHECK_EQ_INT(img.height, sev_height(SP_CHART_MAX_SERIES));
	sp_image_free(env, &img);
	ch = sev_chart(s, SP_CHART_MAX_SERIES + 1);
	CHECK(sp_chart_severity(env, &ch, &img, &err) == SP_ERR_LIMIT);
	CHECK(strstr(err.message, "at most") != NULL);
	ch = sev_chart(s, -1);
	CHECK(sp_chart_severity(env, &ch, &img, &err) == SP_ERR_INVALID_ARG);
	ch = sev_chart(NULL, 3);
	CHECK(sp_chart_severity(env, &ch, &img, &err) == SP_ERR_INVALID_ARG);
	CHECK(sp_chart_severity(env, NULL, &img, &err) == SP_ERR_INVALID_ARG);

	/* hostile text: long, non-ASCII, NULL names and titles */
	memset(longname, 'x', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	longname[5] = (char) 0xc3;
	longname[6] = (char) 0xa9;
	s[0].name = longname;
	s[1].name = NULL;
	s[2].name = "\x01\x7f\xff";
	ch = sev_chart(s, 3);
	ch.title = longname;
	ch.subtitle = longname;
	ch.model_name = longname;
	ch.baseline_name = NULL;
	REQUIRE(sp_chart_severity(env, &ch, &img, &err) == SP_OK);
	CHECK_EQ_INT(img.width, SP_CHART_SEV_WIDTH);
	sp_image_free(env, &img);
	ch.title = NULL;
	ch.model_name = NULL;
	REQUIRE(sp_chart_severity(env, &ch, &img, &err) == SP_OK);
	sp_image_free(env, &img);
	free(s);
}

SP_TEST(report_chart_interrupt_and_alloc_failure)
{
	fx_env		fx;
	sp_severity_series s[19];
	sp_severity_chart ch;
	sp_fp_bar	bars[3] = {{"a", 0.1, 0.2}, {"b", 0.3, 0.1}, {"c", 0.0, 0.0}};
	sp_perturbation_chart pc = {"t", NULL, "m", "b", bars, 3};
	sp_history_point pts[2] = {{"#1", 0.8, 0.7}, {"#2", 0.9, 0.6}};
	sp_history_chart hc = {"t", NULL, NULL, "mCE", "relative mCE", pts, 2};
	sp_image	img = {0};
	sp_error	err;

	fill_series(s, 19);
	ch = sev_chart(s, 19);
	fx_env_init(&fx, 0);
	fx.interrupt_after = 3;
	CHECK(sp_chart_severity(&fx.env, &ch, &img, &err) == SP_ERR_INTERRUPTED);
	CHECK_EQ_INT(fx.live, 0);
	fx_env_init(&fx, 0);
	fx.interrupt_after = 0;
	CHECK(sp_chart_perturbation(&fx.env, &pc, &img, &err) == SP_ERR_INTERRUPTED);
	CHECK(sp_chart_history(&fx.env, &hc, &img, &err) == SP_ERR_INTERRUPTED);
	CHECK_EQ_INT(fx.live, 0);

	fx_env_init(&fx, 0);
	fx.fail_alloc_after = 0;
	CHECK(sp_chart_severity(&fx.env, &ch, &img, &err) == SP_ERR_NOMEM);
	CHECK(sp_chart_perturbation(&fx.env, &pc, &img, &err) == SP_ERR_NOMEM);
	CHECK(sp_chart_history(&fx.env, &hc, &img, &err) == SP_ERR_NOMEM);
	CHECK_EQ_INT(fx.live, 0);

	/* the canvas is the only allocation: one live image after success */
	fx_env_init(&fx, 0);
	REQUIRE(sp_chart_history(&fx.env, &hc, &img, &err) == SP_OK);
	CHECK_EQ_INT(fx.live, 1);
	sp_image_free(&fx.env, &img);
	CHECK_EQ_INT(fx.live, 0);
}

SP_TEST(report_chart_perturbation_bars)
{
	const sp_env *env = sp_env_default();
	sp_fp_bar	bars[SP_CHART_MAX_BARS + 1];
	sp_perturbation_chart pc = {"perturbations", "sub", "fashion", "fashion-pixels", bars, 10};
	sp_image	a,
				b;
	sp_error	err;

	for (int i = 0; i <= SP_CHART_MAX_BARS; i++)
	{
		bars[i].name = corruption_names[i % 19];
		bars[i].model_fp = 0.01 * (i % 7);
		bars[i].baseline_fp = 0.02 + 0.01 * (i % 5);
	}
	REQUIRE(sp_chart_perturbation(env, &pc, &a, &err) == SP_OK);
	CHECK_EQ_INT(a.width, SP_CHART_FP_WIDTH);
	CHECK_EQ_INT(a.height, SP_CHART_FP_HEADER + 10 * SP_CHART_FP_ROW_H + SP_CHART_FP_FOOTER);
	/* bars are filled rectangles of 11 px: plenty of pixels in each colour */
	CHECK(fx_count_rgb(&a, sp_canvas_palette(SP_CHART_MODEL_COLOUR)) > 1000);
	CHECK(fx_count_rgb(&a, sp_canvas_palette(SP_CHART_BASELINE_COLOUR)) > 1000);
	REQUIRE(sp_chart_perturbation(env, &pc, &b, &err) == SP_OK);
	CHECK(same_pixels(&a, &b));
	sp_image_free(env, &a);
	sp_image_free(env, &b);

	/* 1 bar, 0 bars, all missing or zero, out of range, the limit */
	pc.n_bars = 1;
	REQUIRE(sp_chart_perturbation(env, &pc, &a, &err) == SP_OK);
	CHECK_EQ_INT(a.height, SP_CHART_FP_HEADER + SP_CHART_FP_ROW_H + SP_CHART_FP_FOOTER);
	sp_image_free(env, &a);
	pc.n_bars = 0;
	REQUIRE(sp_chart_perturbation(env, &pc, &a, &err) == SP_OK);
	CHECK_EQ_INT(a.height, SP_CHART_FP_HEADER + SP_CHART_FP_ROW_H + SP_CHART_FP_FOOTER);
	sp_image_free(env, &a);
	for (int i = 0; i < 4; i++)
		bars[i].model_fp = bars[i].baseline_fp = NAN;
	bars[4].model_fp = 7.0;
	bars[4].baseline_fp = -1.0;
	bars[5].model_fp = bars[5].baseline_fp = 0.0;
	pc.n_bars = 6;
	REQUIRE(sp_chart_perturbation(env, &pc, &a, &err) == SP_OK);
	sp_image_free(env, &a);
	pc.n_bars = SP_CHART_MAX_BARS;
	REQUIRE(sp_chart_perturbation(env, &pc, &a, &err) == SP_OK);
	sp_image_free(env, &a);
	pc.n_bars = SP_CHART_MAX_BARS + 1;
	CHECK(sp_chart_perturbation(env, &pc, &a, &err) == SP_ERR_LIMIT);
	pc.n_bars = 2;
	pc.bars = NULL;
	CHECK(sp_chart_perturbation(env, &pc, &a, &err) == SP_ERR_INVALID_ARG);
}

static sp_history_point *
make_points(int n, char (**labels)[16])
{
	sp_history_point *p = calloc((size_t) n + 1, sizeof *p);

	*labels = calloc((size_t) n + 1, sizeof **labels);
	for (int i = 0; i < n && p && *labels; i++)
	{
		snprintf((*labels)[i], sizeof **labels, "#%d", 1000 + i);
		p[i].label = (*labels)[i];
		p[i].value = 0.6 + 0.1 * sin(i * 0.3);
		p[i].value2 = 0.5 + 0.1 * cos(i * 0.2);
	}
	return p;
}

SP_TEST(report_chart_history_sizes)
{
	const sp_env *env = sp_env_default();
	char		(*labels)[16] = NULL;
	sp_history_point *p = make_points(SP_CHART_MAX_POINTS + 1, &labels);
	sp_history_chart hc = {"mCE history", "sub", "run", "mCE", "relative mCE", p, 1};
	sp_image	a,
				b;
	sp_error	err;
	const int	counts[] = {0, 1, 2, 50, 200, SP_CHART_MAX_POINTS};

	REQUIRE(p && labels);
	for (size_t t = 0; t < sizeof counts / sizeof counts[0]; t++)
	{
		hc.n_points = counts[t];
		REQUIRE(sp_chart_history(env, &hc, &a, &err) == SP_OK);
		CHECK_EQ_INT(a.width, SP_CHART_HIST_WIDTH);
		CHECK_EQ_INT(a.height, SP_CHART_HIST_HEIGHT);
		/* the legend keys alone give about 50 px per colour; lines add more */
		if (counts[t] >= 2)
		{
			CHECK_MSG(fx_count_rgb(&a, sp_canvas_palette(SP_CHART_MODEL_COLOUR)) > 150,
					  "%d points", counts[t]);
			CHECK_MSG(fx_count_rgb(&a, sp_canvas_palette(SP_CHART_VALUE2_COLOUR)) > 150,
					  "%d points", counts[t]);
		}
		else if (counts[t] == 1)
		{
			/* a single run still shows as markers */
			CHECK(fx_count_rgb(&a, sp_canvas_palette(SP_CHART_MODEL_COLOUR)) > 54 + 25);
		}
		REQUIRE(sp_chart_history(env, &hc, &b, &err) == SP_OK);
		CHECK(same_pixels(&a, &b));
		sp_image_free(env, &a);
		sp_image_free(env, &b);
	}
	hc.n_points = SP_CHART_MAX_POINTS + 1;
	CHECK(sp_chart_history(env, &hc, &a, &err) == SP_ERR_LIMIT);
	hc.n_points = -2;
	CHECK(sp_chart_history(env, &hc, &a, &err) == SP_ERR_INVALID_ARG);

	/* second series off, missing and extreme values, NULL labels */
	hc.n_points = 200;
	hc.name2 = NULL;
	for (int i = 0; i < 200; i += 3)
		p[i].value = NAN;
	p[1].value = 1e300;
	p[2].label = NULL;
	p[4].value = -5.0;
	p[5].value = 40.0;
	REQUIRE(sp_chart_history(env, &hc, &a, &err) == SP_OK);
	CHECK(fx_count_rgb(&a, sp_canvas_palette(SP_CHART_VALUE2_COLOUR)) == 0);
	sp_image_free(env, &a);
	/* every value missing */
	for (int i = 0; i < 200; i++)
		p[i].value = p[i].value2 = NAN;
	hc.name2 = "relative mCE";
	REQUIRE(sp_chart_history(env, &hc, &a, &err) == SP_OK);
	sp_image_free(env, &a);
	free(p);
	free(labels);
}

SP_TEST(report_chart_png_round_trip)
{
	const sp_env *env = sp_env_default();
	sp_severity_series s[19];
	sp_severity_chart ch;
	sp_image	img,
				back;
	sp_image_info info;
	sp_error	err;
	uint8_t    *png;
	size_t		len;

	fill_series(s, 19);
	ch = sev_chart(s, 19);
	REQUIRE(sp_chart_severity(env, &ch, &img, &err) == SP_OK);
	REQUIRE(sp_png_encode(env, &img, &png, &len, &err) == SP_OK);
	REQUIRE(sp_image_probe(png, len, &info, &err) == SP_OK);
	CHECK(info.format == SP_FORMAT_PNG);
	CHECK_EQ_INT(info.width, 1000);
	CHECK_EQ_INT(info.height, 848);
	REQUIRE(sp_image_decode(env, png, len, &back, &err) == SP_OK);
	CHECK(same_pixels(&img, &back));
	/* a line chart on white compresses well */
	CHECK(len < (size_t) img.width * img.height / 4);
	sp_free(env, png);
	sp_image_free(env, &back);
	sp_image_free(env, &img);
}
