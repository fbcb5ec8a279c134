/* dense: fully connected layer, out[n][nout] = in[n][nin] x w[nin][nout] + b, run as its plan says:
 * cnn-dist's tiles (src/nn/kernels/dense.c; operands prepared here: padded copies when nout is not a
 * whole number of panels, dout^T and din^T for the data gradient), or OpenBLAS sgemm. */
#include "cnn/nn/layers.h"

#include <string.h>

#include "cnn/nn/gemm.h"
#include "cnn/nn/plan.h"
#include "cnn/util.h"

/* dst[rows][ld] = src[rows][cols], zeros in columns [cols, ld) */
static void pad_rows(float *dst, size_t ld, const float *src, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        memcpy(dst + (size_t)r * ld, src + (size_t)r * cols, (size_t)cols * sizeof *dst);
        memset(dst + (size_t)r * ld + cols, 0, (ld - (size_t)cols) * sizeof *dst);
    }
}

void cnn_dense_forward(float *out, float *ws, const float *in, const float *w, const float *b, const CnnDensePlan *p,
                       int n)
{
    const int nin = p->nin, nout = p->nout;
    CNN_ASSERT(n > 0 && n <= p->max_n);
    if (p->algo == CNN_ALGO_SGEMM) {
        for (int i = 0; i < n; i++) {
            if (b) memcpy(out + (size_t)i * nout, b, (size_t)nout * sizeof *out);
            else memset(out + (size_t)i * nout, 0, (size_t)nout * sizeof *out);
        }
        cnn_sgemm(0, 0, n, nout, nin, 1.0f, in, nin, w, nout, 1.0f, out, nout);
        return;
    }
    if (p->ldw > (size_t)nout) {
        pad_rows(ws + p->wpad, p->ldw, w, nin, nout);
        w = ws + p->wpad;
    }
    p->k->dense_forward(out, in, w, p->ldw, b, n, nin, nout);
}

void cnn_dense_backward(float *din, float *dw, float *db, float *ws, const float *dout, const float *in,
                        const float *w, const CnnDensePlan *p, int n, CnnGradMode mode)
{
    const int nin = p->nin, nout = p->nout;
    CNN_ASSERT(n > 0 && n <= p->max_n);
    /* db[nout] += column sums of dout[n][nout]; n is a batch, so a double per column is cheap. */
    for (int k = 0; db && k < nout; k++) { /* db NULL: no bias */
        double acc = 0;
        for (int i = 0; i < n; i++) acc += (double)dout[(size_t)i * nout + k];
        db[k] = (mode == CNN_GRAD_OVERWRITE ? 0.0f : db[k]) + (float)acc;
    }
    if (p->algo == CNN_ALGO_SGEMM) {
        /* dw[nin][nout] += in^T [nin][n] x dout[n][nout] */
        cnn_sgemm(1, 0, nin, nout, n, 1.0f, in, nin, dout, nout, mode == CNN_GRAD_OVERWRITE ? 0.0f : 1.0f, dw, nout);
        /* din[n][nin] = dout[n][nout] x w^T [nout][nin] */
        if (din) cnn_sgemm(0, 1, n, nin, nout, 1.0f, dout, nout, w, nout, 0.0f, din, nin);
        return;
    }
    const float *d = dout;
    size_t ldd = (size_t)nout;
    if (p->ldw > (size_t)nout) {
        pad_rows(ws + p->dpad, p->ldw, dout, n, nout);
        d = ws + p->dpad;
        ldd = p->ldw;
    }
    p->k->dense_weight_grad(dw, in, d, ldd, n, nin, nout, mode == CNN_GRAD_OVERWRITE);
    if (!din) return;
    /* samples as lanes: dout^T[nout][npad] in, din^T[nin][npad] out (lanes past n are zeros) */
    const int npad = p->npad;
    float *dt = ws + p->doutt, *it = ws + p->dint;
    for (int j = 0; j < nout; j++) {
        float *row = dt + (size_t)j * npad;
        for (int i = 0; i < n; i++) row[i] = dout[(size_t)i * nout + j];
        memset(row + n, 0, (size_t)(npad - n) * sizeof *row);
    }
    p->k->dense_data_grad_t(it, w, dt, npad, nin, nout);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < nin; k++) din[(size_t)i * nin + k] = it[(size_t)k * npad + i];
}
