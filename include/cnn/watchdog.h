/* watchdog: ends a rank whose training has stopped moving. MPI has no timeout: when a node's network
 * goes away (a cable, a switch, a partition) its peers wait inside a collective for ever and the job
 * holds its nodes until the scheduler's time limit. The training loop marks progress at every step,
 * evaluation and checkpoint; a thread checks the mark, and when none came for `timeout` seconds
 * (run.stall_timeout) it says so on stderr and ends the process with CNN_EXIT_STALLED, so the launcher
 * ends the job. Like NCCL's and Horovod's stall timeouts, it cannot tell a dead peer from a very slow
 * one: the timeout must exceed the slowest step, evaluation or checkpoint. */
#ifndef CNN_WATCHDOG_H
#define CNN_WATCHDOG_H

/* timeout <= 0: no watchdog. Starts a thread; the clock starts now. */
void cnn_watchdog_start(double timeout);
/* The loop moved on (cheap: one atomic store). */
void cnn_watchdog_kick(void);
/* Stops and joins the thread (no-op when none runs). */
void cnn_watchdog_stop(void);

#endif
