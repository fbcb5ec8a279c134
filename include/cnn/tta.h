/* tta: test-time augmentation (data.tta), airbench94's: the logits of several views of each image,
 * averaged with fixed weights. Level 0: the image; level 1: 1/2 the image + 1/2 its mirror; level 2:
 * 1/4 each of those, and 1/8 each of the image moved one pixel up-left and one down-right (pixels beyond
 * the edge reflected) and of their mirrors. The sums run in a fixed order, so the result does not depend
 * on the rank count. Used by evaluation, --eval and --predict. */
#ifndef CNN_TTA_H
#define CNN_TTA_H

#include <stdint.h>

#include "cnn/data/augment.h"
#include "cnn/nn/model.h"

#define CNN_TTA_MAX_LEVEL 2

/* logits[n][num_classes] of images imgs[0 .. n) (n <= the model's max_batch) at `level`; plain (may be
 * NULL) gets the level-0 logits too. x: scratch of n images after augmentation. */
void cnn_tta_logits(CnnModel *m, const CnnAugment *a, const uint8_t *const *imgs, int n, int level, float *x,
                    float *logits, float *plain);

#endif
