/* parallel: runs the parts of one kernel call on threads started for that call.
 *
 * fn(arg, part, parts) runs for part = 0 .. parts-1: part 0 on the calling thread, the others on
 * threads created for this call and joined before it returns (a few tens of microseconds against the
 * milliseconds of a convolution; nothing waits or spins between calls, unlike a pool, so OpenBLAS's
 * threads keep the cores in between). New threads inherit the caller's flush-to-zero mode. A part
 * whose thread cannot be started runs on the caller. Kernels split their work so that every sum keeps
 * its order whatever `parts` is. */
#ifndef CNN_NN_PARALLEL_H
#define CNN_NN_PARALLEL_H

void cnn_parallel_run(void (*fn)(void *arg, int part, int parts), void *arg, int parts);

#endif
