/* loss: softmax cross entropy over logits[n][k] with integer labels (or their label-smoothed targets),
 * the sum of the per-row losses in double. Each row subtracts its max before exponentiating and sums in
 * double, so logits of +-1000 give a finite loss and an exact softmax (log-sum-exp). Also counts argmax
 * hits (ties: lowest index). */
#include "cnn/nn/layers.h"

#include <math.h>

#include "cnn/util.h"

double cnn_softmax_xent(float *dlogits, const float *logits, const int *labels, int n, int k,
                        float grad_scale, int *correct)
{
    return cnn_softmax_xent_smoothed(dlogits, logits, labels, n, k, 0.0f, grad_scale, correct);
}

double cnn_softmax_xent_smoothed(float *dlogits, const float *logits, const int *labels, int n, int k,
                                 float smoothing, float grad_scale, int *correct)
{
    CNN_ASSERT(k > 0);
    double total = 0;
    int hits = 0;
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * k;
        const int y = labels[i];
        CNN_ASSERT(y >= 0 && y < k);
        int best = 0;
        for (int c = 1; c < k; c++)
            if (l[c] > l[best]) best = c;
        hits += best == y;
        const double mx = (double)l[best];
        double sum = 0;
        for (int c = 0; c < k; c++) sum += exp((double)l[c] - mx);
        /* q_c = (1 - s) [c == y] + s / k; loss = log(sum) + mx - sum_c q_c l_c. At s = 0 the targets are
         * exactly 1 and 0, so the sum is l[y] and the gradient p - [c == y], bit for bit. */
        const double s = (double)smoothing, off = s / k, on = 1.0 - s + off;
        double ql = 0;
        for (int c = 0; c < k; c++) ql += (c == y ? on : off) * (double)l[c];
        total += log(sum) + mx - ql;
        if (dlogits) {
            float *d = dlogits + (size_t)i * k;
            for (int c = 0; c < k; c++) {
                double p = exp((double)l[c] - mx) / sum;
                d[c] = (float)((p - (c == y ? on : off)) * (double)grad_scale);
            }
        }
    }
    if (correct) *correct = hits;
    return total;
}
