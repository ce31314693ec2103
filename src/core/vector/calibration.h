/*
 * calibration.h: how good a classifier's probabilities are, and the
 * temperature that makes few-shot probabilities calibrated.  The figures
 * tools/ensemble.c reports for few-shot classification, a classifier and
 * their ensemble: accuracy (argmax, ties to the lowest class), mean negative
 * log-likelihood of the true class (probabilities clamped at 1e-12, so a
 * confident miss costs at most 27.6), and the expected calibration error
 * over SP_CALIB_BINS equal-width bins of the top probability (Guo et al.
 * 2017): sum over bins of (n_bin / n) * |accuracy_bin - mean confidence_bin|.
 */
#ifndef SP_VECTOR_CALIBRATION_H
#define SP_VECTOR_CALIBRATION_H

#define SP_CALIB_BINS 15
#define SP_CALIB_MIN_P 1e-12

typedef struct sp_calib
{
	long		n,
				correct;
	double		nll;
	long		bin_n[SP_CALIB_BINS];
	long		bin_correct[SP_CALIB_BINS];
	double		bin_conf[SP_CALIB_BINS];
} sp_calib;

/* Start empty (or memset to 0). */
extern void sp_calib_init(sp_calib *c);
/* One prediction: p[0..n_classes) (summing to 1) and the true class. */
extern void sp_calib_add(sp_calib *c, const double *p, int n_classes, int truth);
/* accuracy, NLL, ECE of what was added (NaN each when nothing was). */
extern void sp_calib_result(const sp_calib *c, double *accuracy, double *nll, double *ece);

/*
 * Mean negative log-likelihood, at the true class y[i], of softmax(-d / T)
 * over the n rows of dist (n_classes distances each).
 */
extern double sp_softmin_nll(const double *dist, const int *y, long n, int n_classes, double T);
/*
 * The temperature minimising sp_softmin_nll on a 401-point logarithmic grid
 * from 1e-5 to 10 (how the few-shot temperature of a model is calibrated).
 */
extern double sp_fit_temperature(const double *dist, const int *y, long n, int n_classes);

#endif							/* SP_VECTOR_CALIBRATION_H */
