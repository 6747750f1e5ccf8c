//! Handing heap memory back to the OS after a burst.
//!
//! glibc's malloc keeps what a process frees for reuse and returns only the
//! free top of each heap to the OS. A burst of connections leaves their
//! buffers behind once they close, free but still resident, and RSS stays
//! there for good. jemalloc and tcmalloc return
//! such memory on their own (a decay timer, a background release rate);
//! with glibc a program must ask, with `malloc_trim(0)`, which gives back
//! every free page of every arena.
//!
//! `malloc_trim` walks and locks every arena, so it must not run while
//! requests are being served. A task reads the process's CPU time once a
//! second ([`QuietAfterBusy`]): a second with at least [`BUSY`] of CPU in it
//! marks the heap as churned, and the first quiet second after that
//! releases, once. Under steady load nothing is released (and the check is
//! one read of `/proc/self/stat` per second); after the load stops the
//! memory goes back within about two seconds. `memory.release_when_idle:
//! false` turns it off, on reload too.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::time::MissedTickBehavior;

use crate::snapshot::Shared;

/// How often the task looks.
pub const TICK: Duration = Duration::from_secs(1);

/// CPU time within one tick that counts as busy: 2% of a core. An idle
/// seawall (health checks, metrics scrapes) stays well below it; any load
/// worth a release goes well above.
pub const BUSY: Duration = Duration::from_millis(20);

/// Tells, tick by tick, when a busy stretch has just ended.
#[derive(Debug, Default)]
pub struct QuietAfterBusy {
    last: Option<Duration>,
    churned: bool,
}

impl QuietAfterBusy {
    /// Feeds the process's total CPU time at a tick; true at the first
    /// quiet tick after one or more busy ones.
    pub fn tick(&mut self, cpu: Duration) -> bool {
        let used = self.last.map(|last| cpu.saturating_sub(last));
        self.last = Some(cpu);
        match used {
            // The first reading only sets the baseline.
            None => false,
            Some(used) if used >= BUSY => {
                self.churned = true;
                false
            }
            Some(_) => std::mem::take(&mut self.churned),
        }
    }
}

/// Watches for quiet after busy and releases then (see the module docs).
/// Ends at once where the process's CPU time cannot be read (not Linux).
pub async fn run(shared: Shared, releases: Counter) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut quiet = QuietAfterBusy::default();
    loop {
        tick.tick().await;
        let Some(cpu) = cpu_time() else {
            return;
        };
        if quiet.tick(cpu) && shared.load().config.memory.release_when_idle {
            let released = release();
            if released {
                releases.inc();
            }
            tracing::debug!(released, "asked malloc to return free heap memory");
        }
    }
}

/// The CPU time (user + system) this process has used, from
/// `/proc/self/stat`; `None` where there is no such file.
pub fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // Clock ticks of USER_HZ, which Linux fixes at 100 for this file.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Asks glibc to return every free page of its heaps to the OS; true when
/// it released something.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "malloc_trim is a C function")]
pub fn release() -> bool {
    // SAFETY: malloc_trim takes a byte count and touches only the
    // allocator's own state, under the allocator's own locks; any pad is
    // valid, and 0 keeps none.
    unsafe { libc::malloc_trim(0) != 0 }
}

/// Other allocators keep no such memory, or return it themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(ticks: &[u64]) -> Vec<bool> {
        let mut quiet = QuietAfterBusy::default();
        ticks
            .iter()
            .map(|&ms| quiet.tick(Duration::from_millis(ms)))
            .collect()
    }

    #[test]
    fn releases_once_at_the_first_quiet_tick_after_busy_ones() {
        // Cumulative CPU: idle, busy, busy, quiet, quiet.
        let out = feed(&[100, 105, 300, 600, 601, 602]);
        assert_eq!(out, [false, false, false, false, true, false]);
    }

    #[test]
    fn never_releases_under_steady_load_or_when_always_idle() {
        assert!(!feed(&[0, 50, 100, 150, 200, 250]).contains(&true));
        assert!(!feed(&[0, 1, 2, 3, 4, 5, 19, 38]).contains(&true));
    }

    #[test]
    fn each_burst_gets_its_own_release() {
        let out = feed(&[0, 100, 100, 200, 200]);
        assert_eq!(out, [false, false, true, false, true]);
    }

    #[test]
    fn reads_this_process_cpu_time() {
        let before = cpu_time().expect("/proc/self/stat");
        let mut x = 0u64;
        // Spin until the reading moves by two busy ticks' worth, however
        // little of a core a loaded machine gives this test.
        for _ in 0..1_000_000 {
            if cpu_time().expect("/proc/self/stat") >= before + 2 * BUSY {
                return;
            }
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        panic!("the CPU time read never moved from {before:?}");
    }
}
