//! Signals sent into a blocked wait: a SIGALRM handler that only counts, and a helper thread
//! that signals the test thread each time the kernel shows it blocked in a given syscall
//! (`/proc/self/task/<tid>/syscall`), so that every signal really lands inside the wait.
//! Handlers are process-wide: tests using this run in a child process of their own
//! ([`super::child::in_child`]).

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};

use super::proc::{blocked_syscall, gettid};
use super::{wait_until, LIMIT};

/// How many SIGALRMs the handler of [`install_noop_alarm_handler`] has seen.
pub static ALARMS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_alarm(_: libc::c_int) {
    ALARMS.fetch_add(1, Ordering::SeqCst);
}

/// A SIGALRM handler that only counts ([`ALARMS`]), installed without `SA_RESTART` (as CPython
/// installs Python-level handlers), so the signal interrupts a blocked syscall with EINTR.
pub fn install_noop_alarm_handler() {
    let action = SigAction::new(
        SigHandler::Handler(count_alarm),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only increments an atomic, which is async-signal-safe.
    unsafe { signal::sigaction(Signal::SIGALRM, &action) }.expect("sigaction(SIGALRM)");
}

/// The thread that will block, as the helper thread needs to address it.
#[derive(Clone, Copy)]
pub struct Target {
    pub tid: libc::pid_t,
    thread: libc::pthread_t,
}

impl Target {
    /// The calling thread.
    pub fn current() -> Target {
        Target {
            tid: gettid(),
            // SAFETY: pthread_self has no preconditions.
            thread: unsafe { libc::pthread_self() },
        }
    }

    /// Send `sig` to exactly this thread.
    pub fn kill(self, sig: Signal) {
        // SAFETY: the target thread is alive: it is the thread that made the `Signaller`
        // running this helper, which joins the helper before the `Signaller` is gone, in
        // `stop` or, when a test panics, in `Drop` (a `Signaller` cannot leave that thread:
        // it is not `Send`).
        let rc = unsafe { libc::pthread_kill(self.thread, sig as libc::c_int) };
        assert_eq!(
            rc,
            0,
            "pthread_kill: {}",
            std::io::Error::from_raw_os_error(rc)
        );
    }
}

/// From a helper thread: send `sig` to `target` up to `count` times, each time once the
/// previous one has been handled (`handled()` has caught up), the target is blocked in syscall
/// `nr` again, and at least `gap` has passed since the previous one. Stops early when `done` is
/// set (the target left the wait). Returns how many were sent. Bounded by [`LIMIT`].
pub fn send_while_blocked(
    target: Target,
    nr: i64,
    sig: Signal,
    count: usize,
    gap: Duration,
    handled: impl Fn() -> usize,
    done: &AtomicBool,
) -> usize {
    let deadline = Instant::now() + LIMIT;
    let mut sent = 0;
    let mut last = Instant::now();
    while sent < count && Instant::now() < deadline && !done.load(Ordering::SeqCst) {
        if handled() == sent && last.elapsed() >= gap && blocked_syscall(target.tid) == Some(nr) {
            target.kill(sig);
            sent += 1;
            last = Instant::now();
        } else {
            // Check again in a moment (as `crate::poll_until`): the interval decides nothing.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    sent
}

/// A helper thread running [`send_while_blocked`] against the thread that started it, for as
/// long as that thread's wait lasts: start it, make the blocking call, then [`stop`](Self::stop)
/// it, which returns what the helper found (`T`). Dropped without `stop` (a test that
/// panicked), it still stops and joins the helper, so no signal is sent after the wait's
/// thread may be gone.
pub struct Signaller<T> {
    done: Arc<AtomicBool>,
    /// `None` once `stop` joined it.
    helper: Option<JoinHandle<T>>,
    /// Not `Send`: the helper signals the thread that made this, so this is dropped there.
    _on_target_thread: PhantomData<*const ()>,
}

impl Signaller<usize> {
    /// Signal the calling thread with `sig` up to `count` times, each once `handled()` has
    /// caught up, the thread is blocked in syscall `nr` again and `gap` has passed. `stop`
    /// returns how many were sent.
    pub fn start(
        nr: i64,
        sig: Signal,
        count: usize,
        gap: Duration,
        handled: impl Fn() -> usize + Send + 'static,
    ) -> Signaller<usize> {
        Signaller::spawn(move |target, done| {
            send_while_blocked(target, nr, sig, count, gap, handled, done)
        })
    }
}

impl<R: Send + 'static> Signaller<(usize, bool, R)> {
    /// [`start`](Signaller::start) with no gap, and then, once the last signal was handled and
    /// the thread is blocked in `nr` again (bounded by [`LIMIT`]; or as soon as its wait is
    /// over), `then(target)`: the event that should end the wait (data on its fd, a watched
    /// signal). `stop` returns how many were sent, whether the thread was seen back in its
    /// wait (or the wait was over), and what `then` returned.
    pub fn start_then(
        nr: i64,
        sig: Signal,
        count: usize,
        handled: impl Fn() -> usize + Send + 'static,
        then: impl FnOnce(Target) -> R + Send + 'static,
    ) -> Signaller<(usize, bool, R)> {
        Signaller::spawn(move |target, done| {
            let sent = send_while_blocked(target, nr, sig, count, Duration::ZERO, &handled, done);
            let back = wait_until(LIMIT, || {
                done.load(Ordering::SeqCst)
                    || (handled() == sent && blocked_syscall(target.tid) == Some(nr))
            });
            (sent, back, then(target))
        })
    }
}

impl<T: Send + 'static> Signaller<T> {
    fn spawn(body: impl FnOnce(Target, &AtomicBool) -> T + Send + 'static) -> Signaller<T> {
        let target = Target::current();
        let done = Arc::new(AtomicBool::new(false));
        let helper = {
            let done = Arc::clone(&done);
            std::thread::spawn(move || body(target, &done))
        };
        Signaller {
            done,
            helper: Some(helper),
            _on_target_thread: PhantomData,
        }
    }

    /// The wait is over: stop the helper and return what it found.
    pub fn stop(mut self) -> T {
        self.done.store(true, Ordering::SeqCst);
        let helper = self.helper.take().expect("stop runs once");
        helper.join().expect("the signalling thread panicked")
    }
}

impl<T> Drop for Signaller<T> {
    /// Without `stop` (a test panicked before it): stop and join the helper all the same; its
    /// own panic, if any, is left out of an unwind already under way.
    fn drop(&mut self) {
        if let Some(helper) = self.helper.take() {
            self.done.store(true, Ordering::SeqCst);
            let _ = helper.join();
        }
    }
}
