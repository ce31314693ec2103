/*
 * test_fewshot.c: the few-shot rule (vector/fewshot.h): per label the mean of
 * its k smallest distances with NaN last, labels without examples NaN, bad
 * labels refused; the model temperature read from "quality"; and the
 * calibration figures of predicted probabilities (vector/calibration.h).
 */
#include <math.h>

#include "unit.h"
#include "vector/calibration.h"
#include "vector/fewshot.h"

SP_TEST(fewshot_mean_of_k_smallest)
{
	/* label 0: 0.5 0.1 0.3; label 1: 0.2 NaN; label 2: none; label 3: NaN only */
	const double dist[] = {0.5, 0.2, 0.1, NAN, 0.3, NAN};
	const int	label[] = {0, 1, 0, 1, 0, 3};
	double		out[4];
	sp_error	err;

	REQUIRE(sp_fewshot_label_distances(sp_env_default(), dist, label, 6, 4, 1, out, &err) == SP_OK);
	CHECK_NEAR(out[0], 0.1, 1e-15);
	CHECK_NEAR(out[1], 0.2, 1e-15);
	CHECK(isnan(out[2]));
	CHECK(isnan(out[3]));
	REQUIRE(sp_fewshot_label_distances(sp_env_default(), dist, label, 6, 4, 2, out, &err) == SP_OK);
	CHECK_NEAR(out[0], 0.2, 1e-15);	/* (0.1 + 0.3) / 2 */
	CHECK(isnan(out[1]));			/* 0.2 and the NaN that sorts last */
	REQUIRE(sp_fewshot_label_distances(sp_env_default(), dist, label, 6, 4, 10, out, &err) == SP_OK);
	CHECK_NEAR(out[0], 0.3, 1e-15);	/* fewer than k: all three */
}

SP_TEST(fewshot_refuses_bad_input)
{
	const double dist[] = {0.5};
	const int	bad[] = {2};
	double		out[2];
	sp_error	err;

	CHECK(sp_fewshot_label_distances(sp_env_default(), dist, bad, 1, 2, 1, out, &err) == SP_ERR_INVALID_ARG);
	CHECK(sp_fewshot_label_distances(sp_env_default(), dist, bad, 1, 3, 0, out, &err) == SP_ERR_INVALID_ARG);
	/* no examples: every label NaN */
	REQUIRE(sp_fewshot_label_distances(sp_env_default(), dist, bad, 0, 2, 1, out, &err) == SP_OK);
	CHECK(isnan(out[0]) && isnan(out[1]));
}

SP_TEST(fewshot_temperature_from_quality)
{
	const sp_env *env = sp_env_default();

	CHECK_NEAR(sp_fewshot_temperature(env, NULL), 1.0, 0);
	CHECK_NEAR(sp_fewshot_temperature(env, "{\"temperature\":0.25}"), 0.25, 0);
	CHECK_NEAR(sp_fewshot_temperature(env, "{\"fewshot_temperature\":0.5,\"x\":1}"), 0.5, 0);
	CHECK_NEAR(sp_fewshot_temperature(env, "{\"temperature\":0.2,\"fewshot_temperature\":0.5}"), 0.2, 0);
	CHECK_NEAR(sp_fewshot_temperature(env, "{\"temperature\":-1,\"fewshot_temperature\":0.5}"), 0.5, 0);
	CHECK_NEAR(sp_fewshot_temperature(env, "{\"temperature\":\"hot\"}"), 1.0, 0);
	CHECK_NEAR(sp_fewshot_temperature(env, "{\"temperature\":0}"), 1.0, 0);
	CHECK_NEAR(sp_fewshot_temperature(env, "not json"), 1.0, 0);
}

/* Accuracy, NLL and ECE of a few predictions, by hand. */
SP_TEST(calibration_by_hand)
{
	sp_calib	c;
	double		acc,
				nll,
				ece;
	const double right_sure[2] = {0.95, 0.05},	/* bin 14, right */
				wrong_sure[2] = {0.9, 0.1},	/* bin 13, wrong (truth 1) */
				right_unsure[2] = {0.55, 0.45},	/* bin 8, right */
				zero[2] = {1.0, 0.0};	/* bin 14, wrong: p(truth) = 0 is clamped */

	sp_calib_init(&c);
	sp_calib_result(&c, &acc, &nll, &ece);
	CHECK(isnan(acc) && isnan(nll) && isnan(ece));
	sp_calib_add(&c, right_sure, 2, 0);
	sp_calib_add(&c, wrong_sure, 2, 1);
	sp_calib_add(&c, right_unsure, 2, 0);
	sp_calib_add(&c, zero, 2, 1);
	sp_calib_result(&c, &acc, &nll, &ece);
	CHECK_NEAR(acc, 0.5, 1e-15);
	CHECK_NEAR(nll, (-log(0.95) - log(0.1) - log(0.55) - log(SP_CALIB_MIN_P)) / 4, 1e-12);
	/* bins: 14 holds 0.95 (right) and 1.0 (wrong): |1 - 1.95| / 4; 13: |0 - 0.9| / 4; 8: |1 - 0.55| / 4 */
	CHECK_NEAR(ece, (0.95 + 0.9 + 0.45) / 4, 1e-12);
	/* ties go to the lowest class */
	sp_calib_init(&c);
	sp_calib_add(&c, (const double[]) {0.5, 0.5}, 2, 0);
	sp_calib_result(&c, &acc, &nll, &ece);
	CHECK_NEAR(acc, 1, 0);
}
