/*
 * test_canvas.c: the drawing layer used for contact sheets and charts.
 */
#include "unit.h"

#include "draw/canvas.h"
#include "img_fixtures.h"
#include "draw/contact_sheet.h"


SP_TEST(canvas_fill_and_clip)
{
	const sp_env *env = sp_env_default();
	sp_image	c;
	sp_error	err;
	sp_rgb		red = {255, 0, 0};

	REQUIRE(sp_canvas_create(env, &c, 20, 10, (sp_rgb) {255, 255, 255}, &err) == SP_OK);
	CHECK_EQ_INT(fx_count_rgb(&c, (sp_rgb) {255, 255, 255}), 200);
	sp_canvas_fill_rect(&c, 15, 5, 100, 100, red);	/* clipped to 5x5 */
	CHECK_EQ_INT(fx_count_rgb(&c, red), 25);
	sp_canvas_fill_rect(&c, -50, -50, 10, 10, red);	/* fully outside */
	CHECK_EQ_INT(fx_count_rgb(&c, red), 25);
	sp_canvas_line(&c, -100, -100, 300, 300, 3, red);	/* clipped, no crash */
	sp_canvas_fill_circle(&c, 0, 0, 50, red);
	CHECK_EQ_INT(fx_count_rgb(&c, red), 200);
	sp_image_free(env, &c);
}

SP_TEST(canvas_line_endpoints)
{
	const sp_env *env = sp_env_default();
	sp_image	c;
	sp_error	err;
	sp_rgb		k = {0, 0, 0};

	REQUIRE(sp_canvas_create(env, &c, 10, 10, (sp_rgb) {255, 255, 255}, &err) == SP_OK);
	sp_canvas_line(&c, 0, 0, 9, 9, 1, k);
	CHECK_EQ_INT(fx_count_rgb(&c, k), 10);	/* the diagonal, one pixel per row */
	CHECK(c.pixels[0] == 0 && c.pixels[3 * 99] == 0);
	sp_image_free(env, &c);
}

SP_TEST(canvas_text_metrics)
{
	const sp_env *env = sp_env_default();
	sp_image	c;
	sp_error	err;
	sp_rgb		k = {0, 0, 0};
	int			w;

	CHECK_EQ_INT(sp_canvas_text_width("", 1), 0);
	CHECK_EQ_INT(sp_canvas_text_width("A", 1), 5);
	CHECK_EQ_INT(sp_canvas_text_width("AB", 2), 22);
	REQUIRE(sp_canvas_create(env, &c, 40, 20, (sp_rgb) {255, 255, 255}, &err) == SP_OK);
	w = sp_canvas_text(&c, 1, 1, "I", 1, k);
	CHECK_EQ_INT(w, 5);
	/* 'I' is .###. / ..#.. x5 / .###. = 3 + 5 + 3 = 11 pixels */
	CHECK_EQ_INT(fx_count_rgb(&c, k), 11);
	sp_canvas_text(&c, 1, 10, "\x01\xff", 1, k);	/* non-ASCII draws '?', no crash */
	sp_canvas_text_vertical(&c, 30, 19, "Hi", 1, k);
	sp_image_free(env, &c);
}

SP_TEST(canvas_blit_scales)
{
	const sp_env *env = sp_env_default();
	sp_image	c,
				g;
	sp_error	err;

	REQUIRE(sp_canvas_create(env, &c, 8, 8, (sp_rgb) {255, 255, 255}, &err) == SP_OK);
	REQUIRE(sp_image_alloc(env, &g, 2, 2, 1, &err) == SP_OK);
	g.pixels[0] = 0;
	g.pixels[1] = 50;
	g.pixels[2] = 100;
	g.pixels[3] = 150;
	sp_canvas_blit(&c, &g, 2, 2, 3);
	CHECK_EQ_INT(fx_count_rgb(&c, (sp_rgb) {0, 0, 0}), 9);
	CHECK_EQ_INT(fx_count_rgb(&c, (sp_rgb) {150, 150, 150}), 9);
	CHECK_EQ_INT(c.pixels[3 * (2 * 8 + 5)], 50);
	sp_image_free(env, &g);
	sp_image_free(env, &c);
}

SP_TEST(contact_sheet_layout_and_errors)
{
	const sp_env *env = sp_env_default();
	sp_image	img,
				sheet;
	sp_error	err;
	const char *two[] = {"brightness", "contrast"};
	const char *bad[] = {"brightness", "no_such_corruption"};

	REQUIRE(sp_image_alloc(env, &img, 32, 32, 1, &err) == SP_OK);
	for (int i = 0; i < 32 * 32; i++)
		img.pixels[i] = (uint8_t) ((i * 7) & 255);
	REQUIRE(sp_contact_sheet(env, &img, two, 2, 1, SP_PROFILE_AUTO, &sheet, &err) == SP_OK);
	/* 32 px is scaled x3 to 96 px cells: 6 columns, 2 rows plus labels */
	CHECK(sheet.width > 6 * 96 && sheet.width < 6 * 96 + 300);
	CHECK(sheet.height > 2 * 96 && sheet.height < 2 * 96 + 60);
	CHECK_EQ_INT(sheet.channels, 3);
	sp_image_free(env, &sheet);
	CHECK(sp_contact_sheet(env, &img, bad, 2, 1, SP_PROFILE_AUTO, &sheet, &err) == SP_ERR_INVALID_ARG);
	CHECK(strstr(err.message, "no_such_corruption") != NULL);
	sp_image_free(env, &img);
}
