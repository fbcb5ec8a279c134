/* fuzz_cifar: bytes as a CIFAR-10 batch file: the loader accepts them (and every image and label it
 * hands out is readable) or refuses them with a message, without crashing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnn/data/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/cnn-fuzz-cifar-%d", (int)getpid());
        if (mkdir(dir, 0700) != 0) abort();
    }
    char path[128];
    snprintf(path, sizeof path, "%s/data_batch_1.bin", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
    CnnDataset ds;
    CnnErr err;
    if (cnn_dataset_load_cifar10(&ds, dir, "data_batch_1.bin", &err) == 0) {
        unsigned sum = 0;
        for (int i = 0; i < ds.n; i++) {
            if (ds.labels[i] >= ds.num_classes) abort();
            for (int j = 0; j < ds.h * ds.w * ds.c; j++) sum += ds.images[i][j];
        }
        if (sum == 0xdeadbeef) fprintf(stderr, "!");
        cnn_dataset_free(&ds);
    } else if (!err.msg[0]) {
        abort(); /* refused without saying why */
    }
    return 0;
}
