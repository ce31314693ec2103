/*
 * test_ranking.c: verification AUC and threshold, average precision
 * (vector/ranking.c) and the few-shot temperature fit
 * (vector/calibration.c), each on a case worked out by hand; and the
 * trainer's held-out measurement built from them (nn/train_quality.c).
 */
#include <math.h>

#include <string.h>

#include "unit.h"
#include "nn/train_quality.h"
#include "test_nn_util.h"
#include "util/rng.h"
#include "vector/calibration.h"
#include "vector/ranking.h"

SP_TEST(ranking_pairs_by_hand)
{
	/* same at 0.1 and 0.3, different at 0.2 and 0.4: 3 of the 4 (same, different) pairs are ordered */
	sp_pair_d	p[4] = {{0.4, 0}, {0.3, 1}, {0.2, 0}, {0.1, 1}};
	sp_pair_d	tie[2] = {{0.2, 1}, {0.2, 0}};
	double		acc,
				t;

	CHECK_NEAR(sp_pairs_auc(p, 4), 0.75, 1e-15);
	CHECK(p[0].d == 0.1 && p[3].d == 0.4);	/* sorted */
	/* "same when d <= t": 0.15 and 0.35 both get 3 of 4 right; the first wins */
	t = sp_pairs_best_threshold(p, 4, &acc);
	CHECK_NEAR(t, 0.15, 1e-15);
	CHECK_NEAR(acc, 0.75, 1e-15);
	CHECK_NEAR(sp_pairs_auc(tie, 2), 0.5, 1e-15);
}

SP_TEST(ranking_average_precision_by_hand)
{
	/* scores 0.9 (relevant), 0.8, 0.7 (relevant), -0.5: AP = (1/1 + 2/3) / 2 */
	uint64_t	k[4] = {sp_ap_key(0.7f, true), sp_ap_key(-0.5f, false), sp_ap_key(0.9f, true), sp_ap_key(0.8f, false)},
				tmp[4];

	CHECK_NEAR(sp_average_precision(k, tmp, 4, 2), (1.0 + 2.0 / 3.0) / 2.0, 1e-15);
	/* a relevant item the gallery lacks counts against it */
	{
		uint64_t	k2[2] = {sp_ap_key(1.0f, true), sp_ap_key(0.0f, false)};

		CHECK_NEAR(sp_average_precision(k2, tmp, 2, 2), 0.5, 1e-15);
		CHECK(sp_average_precision(k2, tmp, 2, 0) == 0);
	}
}

SP_TEST(calibration_temperature_by_hand)
{
	/*
	 * Two classes; three rows right by a distance of 1, one wrong by 1.  With
	 * x = exp(-1/T) the summed NLL is 4 log(1 + x) - log x, least at x = 1/3:
	 * T = 1 / ln 3.  The grid's step is 10^0.015 (3.5 %).
	 */
	const double dist[8] = {0, 1, 0, 1, 0, 1, 1, 0};
	const int	y[4] = {0, 0, 0, 0};
	double		t = sp_fit_temperature(dist, y, 4, 2);

	CHECK_MSG(fabs(t / (1 / log(3.0)) - 1) < 0.036, "T = %g", t);
	CHECK_NEAR(sp_softmin_nll(dist, y, 4, 2, 1 / log(3.0)), (4 * log(4.0 / 3.0) + log(3.0)) / 4, 1e-12);
}

/*
 * The trainer's held-out measurement (nn/train_quality.c): three classes far
 * apart are perfect on every figure (and the temperature goes to the bottom
 * of its grid); random labels are at chance.
 */
SP_TEST(heldout_quality_separable_and_chance)
{
	enum
	{
		N = 300, D = 4
	};
	static float emb[N * D];
	int			label[N],
				held[N];
	uint64_t	s = 3;
	sp_heldout_quality q;
	sp_error	err;

	for (int i = 0; i < N; i++)
	{
		label[i] = i % 3;
		held[i] = i % 4 == 0;
		tu_fill(&s, emb + i * D, D, -0.05f, 0.05f);
		emb[i * D + label[i]] += 1;
	}
	REQUIRE(sp_heldout_quality_measure(sp_env_default(), emb, label, held, N, D, SP_DISTANCE_L2, 3, 7, &q, &err) == SP_OK);
	CHECK_EQ_INT(q.queries, 75);
	CHECK_NEAR(q.nn1, 1, 0);
	CHECK_NEAR(q.map, 1, 1e-12);
	CHECK_EQ_INT(q.pairs, 10000);
	CHECK_NEAR(q.auc, 1, 0);
	CHECK_NEAR(q.verif_acc, 1, 0);
	CHECK_MSG(q.threshold > 0.2 && q.threshold < 1.3, "threshold %g", q.threshold);
	CHECK_EQ_INT(q.way, 3);
	CHECK_NEAR(q.fewshot1, 1, 0);
	CHECK_NEAR(q.temperature, 1e-5, 1e-9);

	/* the same points with labels that mean nothing */
	for (int i = 0; i < N; i++)
		label[i] = (int) (sp_splitmix64(&s) % 3);
	REQUIRE(sp_heldout_quality_measure(sp_env_default(), emb, label, held, N, D, SP_DISTANCE_L2, 3, 7, &q, &err) == SP_OK);
	CHECK_MSG(fabs(q.nn1 - 1.0 / 3) < 0.15, "nn1 %g", q.nn1);
	CHECK_MSG(fabs(q.auc - 0.5) < 0.05, "auc %g", q.auc);
	CHECK_MSG(fabs(q.fewshot1 - 1.0 / 3) < 0.05, "1-shot %g", q.fewshot1);

	/* nothing held out: nothing measured; a label out of range is refused */
	memset(held, 0, sizeof(held));
	REQUIRE(sp_heldout_quality_measure(sp_env_default(), emb, label, held, N, D, SP_DISTANCE_L2, 3, 7, &q, &err) == SP_OK);
	CHECK(q.queries == 0 && q.pairs == 0 && q.way == 0);
	label[5] = 3;
	CHECK(sp_heldout_quality_measure(sp_env_default(), emb, label, held, N, D, SP_DISTANCE_L2, 3, 7, &q, &err) == SP_ERR_INVALID_ARG);
}
