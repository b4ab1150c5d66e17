//! Synchronisation primitives of the lock-free parts, swapped for loom's models under
//! `--cfg loom` so that `cargo test` under loom explores their interleavings.
//!
//! [`SpinLock`] guards a shard's index of active entities and the handle an `EntityRef` keeps:
//! a critical section there is a handful of instructions (one lookup, one push), so a lock
//! whose release is a plain store — one atomic read-modify-write per lock/unlock pair instead
//! of parking_lot's two — is measurably faster on the message path (see `benches/README.md`).
//! A waiter spins briefly, then yields its core, so a preempted holder is not starved;
//! [`SpinLock::try_lock`] does not wait. A mailbox's queues use the same kind of lock, kept as
//! a bit of the mailbox's status word (`dispatch::mailbox`).

use std::ops::{Deref, DerefMut};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering};

#[cfg(loom)]
use loom::cell::UnsafeCell;
#[cfg(not(loom))]
use std::cell::UnsafeCell;

/// Spins this many times on a held lock before yielding the core.
const SPINS_BEFORE_YIELD: u32 = 64;

/// A test-and-test-and-set lock for very short critical sections.
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one thread at a time (acquire on lock,
// release on unlock), exactly like `std::sync::Mutex`, so sharing it needs only `T: Send`.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves the value; nothing in it is tied to a thread.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) -> SpinLockGuard<'_, T> {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        SpinLockGuard {
            lock: self,
            #[cfg(loom)]
            access: self.value.get_mut(),
        }
    }

    /// The lock if it is free now; `None` if another thread holds it (no waiting).
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<SpinLockGuard<'_, T>> {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        Some(SpinLockGuard {
            lock: self,
            #[cfg(loom)]
            access: self.value.get_mut(),
        })
    }

    #[cold]
    fn lock_contended(&self) {
        let mut spins = 0;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                if spins < SPINS_BEFORE_YIELD {
                    spins += 1;
                    spin_hint();
                } else {
                    yield_now();
                }
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

/// Access to the value while the lock is held; unlocks on drop.
pub(crate) struct SpinLockGuard<'a, T> {
    lock: &'a SpinLock<T>,
    #[cfg(loom)]
    access: loom::cell::MutPtr<T>,
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        #[cfg(not(loom))]
        // SAFETY: the guard exists only while this thread holds the lock.
        unsafe {
            &*self.lock.value.get()
        }
        #[cfg(loom)]
        // SAFETY: as above; loom tracks the access through `access`.
        unsafe {
            self.access.deref()
        }
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        #[cfg(not(loom))]
        // SAFETY: the guard exists only while this thread holds the lock, and `&mut self`
        // makes this the only reference through the guard.
        unsafe {
            &mut *self.lock.value.get()
        }
        #[cfg(loom)]
        // SAFETY: as above; loom tracks the access through `access`.
        unsafe {
            self.access.deref()
        }
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(not(loom))]
pub(crate) fn spin_hint() {
    std::hint::spin_loop();
}

/// Under loom, a spinning thread must yield so the model schedules the holder.
#[cfg(loom)]
pub(crate) fn spin_hint() {
    loom::thread::yield_now();
}

#[cfg(not(loom))]
pub(crate) fn yield_now() {
    std::thread::yield_now();
}

#[cfg(loom)]
pub(crate) fn yield_now() {
    loom::thread::yield_now();
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_spin_lock_excludes_writers_under_contention() {
        let lock = Arc::new(SpinLock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..100_000 {
                        *lock.lock() += 1;
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("a counting thread panicked");
        }
        assert_eq!(*lock.lock(), 400_000);
    }

    #[test]
    fn try_lock_takes_a_free_lock_and_refuses_a_held_one() {
        let lock = Arc::new(SpinLock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    let mut taken = 0;
                    for i in 0..100_000u64 {
                        // Half the increments wait for the lock, half only try.
                        if i % 2 == 0 {
                            *lock.lock() += 1;
                            taken += 1;
                        } else if let Some(mut value) = lock.try_lock() {
                            *value += 1;
                            taken += 1;
                        }
                    }
                    taken
                })
            })
            .collect();
        let taken: u64 = threads
            .into_iter()
            .map(|thread| thread.join().expect("a counting thread panicked"))
            .sum();
        assert_eq!(
            *lock.lock(),
            taken,
            "every increment under the lock counted"
        );
        let held = lock.lock();
        assert!(lock.try_lock().is_none(), "a held lock is refused");
        drop(held);
        assert!(lock.try_lock().is_some(), "a free lock is taken");
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;

    /// Two threads incrementing under the lock: loom reports any access to the value that the
    /// lock fails to order.
    #[test]
    fn the_spin_lock_orders_every_access() {
        loom::model(|| {
            let lock = Arc::new(SpinLock::new(0u32));
            let other = {
                let lock = lock.clone();
                loom::thread::spawn(move || *lock.lock() += 1)
            };
            *lock.lock() += 1;
            other.join().unwrap();
            assert_eq!(*lock.lock(), 2);
        });
    }

    /// One thread waits for the lock, the other only tries: every increment made under
    /// the lock is counted, and loom reports any access `try_lock` fails to order.
    #[test]
    fn try_lock_orders_every_access_it_makes() {
        loom::model(|| {
            let lock = Arc::new(SpinLock::new(0u32));
            let other = {
                let lock = lock.clone();
                loom::thread::spawn(move || match lock.try_lock() {
                    Some(mut value) => {
                        *value += 1;
                        1
                    }
                    None => 0,
                })
            };
            *lock.lock() += 1;
            let tried = other.join().unwrap();
            assert_eq!(*lock.lock(), 1 + tried);
        });
    }
}
