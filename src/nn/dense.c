/* dense: fully connected layer, out[n][nout] = in[n][nin] x w[nin][nout] + b, as sgemm calls. */
#include "cnn/nn/layers.h"

#include <string.h>

#include "cnn/nn/gemm.h"

void cnn_dense_forward(float *out, const float *in, const float *w, const float *b, int n, int nin,
                       int nout)
{
    for (int i = 0; i < n; i++) memcpy(out + (size_t)i * nout, b, (size_t)nout * sizeof *out);
    cnn_sgemm(0, 0, n, nout, nin, 1.0f, in, nin, w, nout, 1.0f, out, nout);
}

void cnn_dense_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, int n, int nin, int nout)
{
    /* db[nout] += column sums of dout[n][nout]; n is a batch, so a double per column is cheap. */
    for (int k = 0; k < nout; k++) {
        double acc = 0;
        for (int i = 0; i < n; i++) acc += (double)dout[(size_t)i * nout + k];
        db[k] += (float)acc;
    }
    /* dw[nin][nout] += in^T [nin][n] x dout[n][nout] */
    cnn_sgemm(1, 0, nin, nout, n, 1.0f, in, nin, dout, nout, 1.0f, dw, nout);
    /* din[n][nin] = dout[n][nout] x w^T [nout][nin] */
    if (din) cnn_sgemm(0, 1, n, nin, nout, 1.0f, dout, nout, w, nout, 0.0f, din, nin);
}
