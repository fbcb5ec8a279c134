/* dataset: CIFAR-10 binary batches and IDX files (plain or gzip), validated before training.
 *
 * CIFAR-10 files are mmap'ed read-only and used in place (records of 1 label byte + 3072 bytes in CHW
 * order), so ranks on one node share the page cache instead of holding N copies. IDX files are read
 * (through zlib when gzipped) into one HWC uint8 buffer. Every malformed input — missing file, wrong
 * size, bad magic, label out of range, truncated gzip, images/labels count mismatch — is a CnnErr
 * naming the file and the byte offset. */
#ifndef CNN_DATASET_H
#define CNN_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/config.h"
#include "cnn/util.h"

typedef enum { CNN_LAYOUT_HWC, CNN_LAYOUT_CHW } CnnPixelLayout;

typedef struct {
    int n;                      /* samples */
    int h, w, c;                /* image shape */
    int num_classes;
    CnnPixelLayout layout;      /* of the bytes images[i] points at */
    const uint8_t **images;     /* images[i]: h*w*c bytes of sample i */
    uint8_t *labels;            /* labels[i] in [0, num_classes) */
    /* ownership: mappings and buffers to release */
    void **maps;
    size_t *map_sizes;
    int n_maps;
    uint8_t *owned;             /* decoded pixels (IDX) */
} CnnDataset;

/* files: comma-separated names inside dir (spaces around commas are ignored). */
int cnn_dataset_load_cifar10(CnnDataset *ds, const char *dir, const char *files, CnnErr *err);
/* images and labels are paths (".gz" or gzip magic: decompressed with zlib). */
int cnn_dataset_load_idx(CnnDataset *ds, const char *images_path, const char *labels_path,
                         int num_classes, CnnErr *err);
/* Loads cfg->train (test = 0) or cfg->test (test = 1) from cfg->dir by cfg->format; checks the image
 * shape against cfg->height/width/channels. */
int cnn_dataset_load(CnnDataset *ds, const CnnConfig *cfg, int test, CnnErr *err);
void cnn_dataset_free(CnnDataset *ds);
/* Bytes the data set holds: the mapped files (shared by the ranks of a node through the page cache)
 * and what was decoded into memory. */
double cnn_dataset_bytes(const CnnDataset *ds);

#endif
