#include "common.h"

void mat_mul(const double *a, const double *b, double *out, int n)
{
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < n; j++) {
			double acc = 0.0;

			for (int k = 0; k < n; k++)
				acc += a[i * n + k] * b[k * n + j];
			out[i * n + j] = acc;
		}
	}
}

double mat_trace(const double *m, int n)
{
	double t = 0.0;

	for (int i = 0; i < n; i++)
		t += m[i * n + i];
	return t;
}
