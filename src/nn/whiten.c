/* whiten: the weights of a whitening convolution (init = whiten, airbench94's first layer) from the
 * second moments of the training images' k x k patches.
 *
 * C = (1/N) sum over patches p of p p^T (not centred, as airbench), D = k*k*c, accumulated in double in
 * a fixed order. Its eigenvectors v_i, largest eigenvalue first, scaled by 1/sqrt(lambda_i + eps),
 * are filters 0 .. D-1 and their negatives filters D .. 2D-1: a whitened patch has unit variance
 * along each direction that carries much more than eps. LAPACK's dsyev (OpenBLAS's) gives the
 * eigenvectors; each is signed so that its entry of largest magnitude is positive, so the filters do not
 * depend on LAPACK's sign convention. */
#include "cnn/nn/whiten.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK's symmetric eigensolver, as OpenBLAS exports it (Fortran calling convention). */
extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                   double *work, const int *lwork, int *info);

void cnn_whiten_add(double *sum, const float *img, int h, int w, int c, int k)
{
    const int D = k * k * c;
    double p[CNN_WHITEN_MAX_DIM];
    for (int y = 0; y + k <= h; y++)
        for (int x = 0; x + k <= w; x++) {
            int d = 0;
            for (int dy = 0; dy < k; dy++)
                for (int dx = 0; dx < k; dx++)
                    for (int ci = 0; ci < c; ci++) p[d++] = img[((size_t)(y + dy) * w + (x + dx)) * c + ci];
            for (int i = 0; i < D; i++)
                for (int j = i; j < D; j++) sum[(size_t)i * D + j] += p[i] * p[j];
        }
}

int cnn_whiten_filters(const double *sum, double count, int D, double eps, float *wout, CnnErr *err)
{
    if (D < 1 || D > CNN_WHITEN_MAX_DIM || !(count > 0))
        return cnn_err(err, "whitening: %d values per patch (at most %d) over %g patches", D, CNN_WHITEN_MAX_DIM, count);
    double *a = malloc((size_t)D * D * sizeof *a), *lambda = malloc((size_t)D * sizeof *lambda);
    int lwork = 8 * D, info = 0, n = D;
    double *work = malloc((size_t)lwork * sizeof *work);
    if (!a || !lambda || !work) {
        free(a);
        free(lambda);
        free(work);
        return cnn_err(err, "whitening: out of memory");
    }
    /* sum holds the upper triangle, row-major; LAPACK reads column-major, so this is its lower one */
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) a[(size_t)i * D + j] = (j >= i ? sum[(size_t)i * D + j] : sum[(size_t)j * D + i]) / count;
    dsyev_("V", "U", &n, a, &n, lambda, work, &lwork, &info);
    if (info != 0) {
        free(a);
        free(lambda);
        free(work);
        return cnn_err(err, "whitening: LAPACK's dsyev failed (info %d) on the %dx%d patch covariance", info, D, D);
    }
    /* column e of a (column-major) is the eigenvector of lambda[e], ascending: filter i takes e = D-1-i */
    for (int i = 0; i < D; i++) {
        const double *v = a + (size_t)(D - 1 - i) * D;
        int big = 0;
        for (int j = 1; j < D; j++)
            if (fabs(v[j]) > fabs(v[big])) big = j;
        const double lam = lambda[D - 1 - i] > 0 ? lambda[D - 1 - i] : 0.0;
        const double s = (v[big] < 0 ? -1.0 : 1.0) / sqrt(lam + eps);
        for (int j = 0; j < D; j++) {
            wout[(size_t)j * 2 * D + i] = (float)(v[j] * s);
            wout[(size_t)j * 2 * D + D + i] = (float)(-v[j] * s);
        }
    }
    free(a);
    free(lambda);
    free(work);
    return 0;
}
