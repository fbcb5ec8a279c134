/* parallel: one thread per part, started and joined per call (see the header). */
#include "cnn/nn/parallel.h"

#include <pthread.h>

typedef struct {
    void (*fn)(void *, int, int);
    void *arg;
    int part, parts;
} Part;

static void *part_main(void *p)
{
    const Part *pt = p;
    pt->fn(pt->arg, pt->part, pt->parts);
    return NULL;
}

void cnn_parallel_run(void (*fn)(void *arg, int part, int parts), void *arg, int parts)
{
    enum { MAX_PARTS = 64 };
    if (parts > MAX_PARTS) parts = MAX_PARTS;
    if (parts < 1) parts = 1;
    pthread_t th[MAX_PARTS];
    Part pt[MAX_PARTS];
    int started[MAX_PARTS] = {0};
    for (int p = 1; p < parts; p++) {
        pt[p] = (Part){fn, arg, p, parts};
        started[p] = pthread_create(&th[p], NULL, part_main, &pt[p]) == 0;
    }
    fn(arg, 0, parts);
    for (int p = 1; p < parts; p++) {
        if (started[p])
            pthread_join(th[p], NULL);
        else
            fn(arg, p, parts);
    }
}
