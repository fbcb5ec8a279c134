/* predict: a trained network on the user's own images (cnn-dist --predict CKPT CONFIG FILE...).
 *
 * Each FILE is a picture (PNG, JPEG, PPM, ... through io/image.h), a CIFAR-10 batch file (*.bin: every
 * record, with its label) or an IDX pair "IMAGES,LABELS". Every image must have the config's size
 * (data.height x data.width; no resizing: a picture of another size is refused, naming the file) and
 * goes through the evaluation preprocessing of the config (central crop, per-image standardization),
 * then forward. Prints, per image, the top-k classes with their softmax probabilities, one line each:
 *   cat.png: cat 0.912, dog 0.051, frog 0.010
 *   test_batch.bin#17 (label ship): ship 0.998, airplane 0.001, automobile 0.000
 * or with json, one JSON object per line (JSON Lines):
 *   {"file": "cat.png", "index": null, "label": null, "top": [{"class": "cat", "id": 3, "p": 0.912},
 *    ...], "logits": [...]}
 * The checkpoint's averaged parameters (train.ema) are used when it has them, unless raw; stderr says
 * which. Class names: data.class_names, else batches.meta.txt in data.dir, else the class numbers. A bad file is
 * one line on stderr naming it; the other files are still classified, and the exit status is 1. Runs on
 * rank 0 only. */
#ifndef CNN_PREDICT_H
#define CNN_PREDICT_H

#include "cnn/config.h"

typedef struct {
    const char *ckpt;
    int top;                    /* classes per image (capped at num_classes) */
    int json;
    int raw;                    /* the trained parameters even where the checkpoint has an average */
    const char *const *files;
    int n_files;
} CnnPredictOpts;

/* Returns an exit status (train.h). */
int cnn_predict_run(const CnnConfig *cfg, const CnnPredictOpts *o);

#endif
