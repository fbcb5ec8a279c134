/* watchdog: on a clock the test drives (cnn_watchdog_set_clock), so no outcome depends on how fast or
 * loaded the machine is. Kicks that keep coming, each within the timeout, never end the process however
 * long the run; no kick for longer than the timeout ends it with CNN_EXIT_STALLED and the message
 * naming run.stall_timeout and the seconds idle, whether the test looks (cnn_watchdog_check) or the
 * watchdog's own thread does; the timeout counts from start, not from the clock's zero; a stopped
 * watchdog and a timeout <= 0 never end anything. Each case runs in a forked child (the watchdog ends
 * its process) and the parent checks the child's exit status and stderr. */
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "testutil.h"

#include "cnn/train.h"
#include "cnn/watchdog.h"

#define SEC 1000000000LL

static _Atomic int64_t fake_ns;

static int64_t fake_clock(void) { return atomic_load(&fake_ns); }

static void advance(double s) { atomic_fetch_add(&fake_ns, (int64_t)(s * 1e9)); }

/* Runs case_fn in a child with stderr captured; returns the child's exit status (or 128 + its signal)
 * and its stderr in err. */
static int in_child(void (*case_fn)(void), char *err, size_t n)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(120); /* a bound against hangs only, so that a child that never ends does not outlive the test */
        close(fd[0]);
        dup2(fd[1], 2);
        atomic_store(&fake_ns, 1000 * SEC);
        cnn_watchdog_set_clock(fake_clock);
        case_fn();
        fflush(NULL);
        _exit(0);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    while ((r = read(fd[0], err + got, n - 1 - got)) > 0) got += (size_t)r;
    err[got] = '\0';
    close(fd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void kicked_for_ever(void)
{
    cnn_watchdog_start(5.0);
    for (int i = 0; i < 1000; i++) { /* 4,999 s of a run whose steps each take just under the timeout */
        advance(4.999);
        cnn_watchdog_check();
        cnn_watchdog_kick();
    }
    cnn_watchdog_stop();
}

static void test_kicks_keep_it_quiet(void **state)
{
    (void)state;
    char err[4096];
    assert_int_equal(in_child(kicked_for_ever, err, sizeof err), 0);
    assert_string_equal(err, "");
}

static void stalled_caught_by_check(void)
{
    cnn_watchdog_start(5.0);
    advance(4.0);
    cnn_watchdog_kick();
    advance(7.4); /* 11.4 s since start, 7.4 s since the last kick */
    cnn_watchdog_check();
    fprintf(stderr, "still alive\n");
}

static void test_stall_ends_the_process(void **state)
{
    (void)state;
    char err[4096];
    assert_int_equal(in_child(stalled_caught_by_check, err, sizeof err), CNN_EXIT_STALLED);
    assert_non_null(strstr(err, "cnn-dist: rank 0: no progress for 7 s (run.stall_timeout)"));
    assert_non_null(strstr(err, "--resume latest"));
    assert_null(strstr(err, "still alive"));
}

static void stalled_left_to_the_thread(void)
{
    cnn_watchdog_start(1.0); /* it looks every 0.1 s of real time */
    advance(3.0);
    for (;;) pause(); /* only the watchdog's thread can end this child */
}

static void test_thread_ends_a_stalled_process(void **state)
{
    (void)state;
    char err[4096];
    assert_int_equal(in_child(stalled_left_to_the_thread, err, sizeof err), CNN_EXIT_STALLED);
    assert_non_null(strstr(err, "cnn-dist: rank 0: no progress for 3 s (run.stall_timeout)"));
}

static void stopped_or_off(void)
{
    cnn_watchdog_start(5.0);
    advance(4.999); /* the timeout counts from start: 1,004.999 s on the clock is 4.999 s idle */
    cnn_watchdog_check();
    cnn_watchdog_stop();
    advance(1000.0);
    cnn_watchdog_check(); /* stopped: nothing looks */
    cnn_watchdog_start(0.0);
    advance(1000.0);
    cnn_watchdog_check();
    cnn_watchdog_stop();
    cnn_watchdog_start(-1.0);
    advance(1000.0);
    cnn_watchdog_check();
    cnn_watchdog_stop();
}

static void test_stopped_or_off_never_ends_it(void **state)
{
    (void)state;
    char err[4096];
    assert_int_equal(in_child(stopped_or_off, err, sizeof err), 0);
    assert_string_equal(err, "");
}

int main(void)
{
    /* bounds against hangs only (the cases take well under a second): each child ends itself after
     * 120 s (exit status 128 + SIGALRM, a failure), and this process after 300 s */
    alarm(300);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kicks_keep_it_quiet),
        cmocka_unit_test(test_stall_ends_the_process),
        cmocka_unit_test(test_thread_ends_a_stalled_process),
        cmocka_unit_test(test_stopped_or_off_never_ends_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
