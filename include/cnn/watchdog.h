/* watchdog: ends a rank whose training has stopped moving. MPI has no timeout: when a node's network
 * goes away (a cable, a switch, a partition) its peers wait inside a collective for ever and the job
 * holds its nodes until the scheduler's time limit. The training loop marks progress at every step,
 * evaluation and checkpoint; a thread checks the mark, and when none came for `timeout` seconds
 * (run.stall_timeout) it says so on stderr and ends the process with CNN_EXIT_STALLED, so the launcher
 * ends the job. Like NCCL's and Horovod's stall timeouts, it cannot tell a dead peer from a very slow
 * one: the timeout must exceed the slowest step, evaluation or checkpoint. */
#ifndef CNN_WATCHDOG_H
#define CNN_WATCHDOG_H

#include <stdint.h>

/* timeout <= 0: no watchdog. Starts a thread; the clock starts now. */
void cnn_watchdog_start(double timeout);
/* The loop moved on (cheap: one atomic store). */
void cnn_watchdog_kick(void);
/* Stops and joins the thread (no-op when none runs). */
void cnn_watchdog_stop(void);

/* Test seams (tests/test_watchdog.c), so that a test drives the time instead of waiting for it. The clock
 * that kicks and looks read, in nanoseconds (NULL: CLOCK_MONOTONIC); set it while no watchdog runs. */
void cnn_watchdog_set_clock(int64_t (*now_ns)(void));
/* One look by the calling thread, as the watchdog thread takes one each period: ends the process as the
 * thread would when no kick came for longer than the timeout (no-op when no watchdog runs). */
void cnn_watchdog_check(void);

#endif
