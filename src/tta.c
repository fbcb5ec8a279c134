/* tta: the views of test-time augmentation through the model, their logits summed with their weights
 * (tta.h). */
#include "cnn/tta.h"

#include <string.h>

typedef struct {
    int dy, dx, flip;
    float weight;
} View;

/* level 2's views; level 1 is the first two at twice their weight, level 0 the first at 1 */
static const View views[] = {{0, 0, 0, 0.25f},   {0, 0, 1, 0.25f},  {-1, -1, 0, 0.125f},
                             {-1, -1, 1, 0.125f}, {1, 1, 0, 0.125f}, {1, 1, 1, 0.125f}};

void cnn_tta_logits(CnnModel *m, const CnnAugment *a, const uint8_t *const *imgs, int n, int level, float *x,
                    float *logits, float *plain)
{
    const size_t per = (size_t)m->in_h * m->in_w * m->in_c, k = (size_t)m->num_classes, out = (size_t)n * k;
    const int nv = level <= 0 ? 1 : level == 1 ? 2 : 6;
    const float scale = level <= 0 ? 4.0f : level == 1 ? 2.0f : 1.0f;
    for (int v = 0; v < nv; v++) {
        const View *w = &views[v];
        for (int j = 0; j < n; j++) {
            if (v == 0)
                cnn_augment_eval(a, x + (size_t)j * per, imgs[j]);
            else
                cnn_augment_view(a, x + (size_t)j * per, imgs[j], w->dy, w->dx, w->flip);
        }
        const float *f = cnn_model_forward(m, x, n, 0, 0, NULL);
        if (v == 0) {
            if (plain) memcpy(plain, f, out * sizeof *f);
            for (size_t i = 0; i < out; i++) logits[i] = f[i] * (w->weight * scale);
        } else {
            for (size_t i = 0; i < out; i++) logits[i] += f[i] * (w->weight * scale);
        }
    }
}
