/* whiten: a whitening convolution's weights from its input's patches (init = whiten; src/nn/whiten.c).
 * A k x k conv of c channels with 2 D filters, D = k*k*c: filter i (< D) is the i-th eigenvector of the
 * patches' second-moment matrix (largest eigenvalue first) over sqrt(eigenvalue + eps), filter D + i its
 * negative (Jordan's airbench94, 2024). */
#ifndef CNN_WHITEN_H
#define CNN_WHITEN_H

#include "cnn/util.h"

#define CNN_WHITEN_MAX_DIM 256 /* values per patch */

/* sum[D][D] (upper triangle, row-major) += p p^T over every k x k patch (stride 1, no padding) of
 * img[h][w][c]; a patch's values in (dy, dx, channel) order, the HWIO order of its filter. */
void cnn_whiten_add(double *sum, const float *img, int h, int w, int c, int k);
/* The weights [D][2D] (HWIO with D = kh*kw*cin rows) from sum over count patches. -1 with err if
 * LAPACK fails. */
int cnn_whiten_filters(const double *sum, double count, int D, double eps, float *w, CnnErr *err);

#endif
