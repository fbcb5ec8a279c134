/* fuzz_idx: bytes as an IDX images file and an IDX labels file, plain or gzipped (the first four bytes
 * say where the images end): the loader accepts the pair, every image and label readable, or refuses
 * it with a message, without crashing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnn/data/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void put(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/cnn-fuzz-idx-%d", (int)getpid());
        if (mkdir(dir, 0700) != 0) abort();
    }
    size_t split = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
    data += 4, size -= 4;
    if (split > size) split = size;
    char img[128], lab[128];
    snprintf(img, sizeof img, "%s/images", dir);
    snprintf(lab, sizeof lab, "%s/labels", dir);
    put(img, data, split);
    put(lab, data + split, size - split);
    CnnDataset ds;
    CnnErr err;
    if (cnn_dataset_load_idx(&ds, img, lab, 10, &err) == 0) {
        unsigned sum = 0;
        for (int i = 0; i < ds.n; i++) {
            if (ds.labels[i] >= ds.num_classes) abort();
            for (int j = 0; j < ds.h * ds.w * ds.c; j++) sum += ds.images[i][j];
        }
        if (sum == 0xdeadbeef) fprintf(stderr, "!");
        cnn_dataset_free(&ds);
    } else if (!err.msg[0]) {
        abort();
    }
    return 0;
}
