/*
 * calibration.c: accuracy, negative log-likelihood and expected calibration
 * error of predicted class probabilities, and the temperature fit of
 * few-shot probabilities (calibration.h).
 */
#include "vector/calibration.h"

#include <math.h>
#include <string.h>

void
sp_calib_init(sp_calib *c)
{
	memset(c, 0, sizeof(*c));
}

void
sp_calib_add(sp_calib *c, const double *p, int n_classes, int truth)
{
	int			top = 0;
	int			bin;
	double		pt;

	for (int k = 1; k < n_classes; k++)
		if (p[k] > p[top])
			top = k;
	pt = truth >= 0 && truth < n_classes ? p[truth] : 0;
	c->n++;
	c->correct += top == truth;
	c->nll += -log(pt > SP_CALIB_MIN_P ? pt : SP_CALIB_MIN_P);
	bin = (int) (p[top] * SP_CALIB_BINS);
	bin = bin < 0 ? 0 : bin >= SP_CALIB_BINS ? SP_CALIB_BINS - 1 : bin;
	c->bin_n[bin]++;
	c->bin_correct[bin] += top == truth;
	c->bin_conf[bin] += p[top];
}

void
sp_calib_result(const sp_calib *c, double *accuracy, double *nll, double *ece)
{
	double		e = 0;

	if (c->n == 0)
	{
		*accuracy = *nll = *ece = NAN;
		return;
	}
	for (int b = 0; b < SP_CALIB_BINS; b++)
		if (c->bin_n[b] > 0)
			e += fabs((double) c->bin_correct[b] - c->bin_conf[b]) / (double) c->n;
	*accuracy = (double) c->correct / (double) c->n;
	*nll = c->nll / (double) c->n;
	*ece = e;
}

double
sp_softmin_nll(const double *dist, const int *y, long n, int n_classes, double T)
{
	double		s = 0;

	for (long i = 0; i < n; i++)
	{
		const double *dv = dist + i * n_classes;
		double		m = INFINITY,
					z = 0;

		for (int k = 0; k < n_classes; k++)
			if (dv[k] < m)
				m = dv[k];
		for (int k = 0; k < n_classes; k++)
			z += exp(-(dv[k] - m) / T);
		s += (dv[y[i]] - m) / T + log(z);
	}
	return s / (double) n;
}

double
sp_fit_temperature(const double *dist, const int *y, long n, int n_classes)
{
	double		best_nll = INFINITY,
				best_t = 1;

	for (int g = 0; g <= 400; g++)
	{
		double		T = pow(10.0, -5.0 + 6.0 * g / 400.0);	/* 1e-5 .. 10 */
		double		nll = sp_softmin_nll(dist, y, n, n_classes, T);

		if (nll < best_nll)
		{
			best_nll = nll;
			best_t = T;
		}
	}
	return best_t;
}
