//! How far a run has come and how long the rest will take: the whole run's ETA beside
//! the epoch's, and the heartbeat that prints a plain line at most every so often
//! when the output is a log file rather than a terminal (where a progress bar would
//! be a pile of carriage returns).

use std::time::{Duration, Instant};

/// How often, at most, a heartbeat line is printed into a log by default.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// Says when a progress line is due: first after `every`, then `every` after the
/// last line printed (any line: an epoch's line restarts it with [`Heartbeat::reset`]).
#[derive(Debug, Clone)]
pub struct Heartbeat {
    every: Duration,
    last: Instant,
}

impl Heartbeat {
    /// A heartbeat of period `every`, starting now.
    pub fn new(every: Duration) -> Heartbeat {
        Heartbeat {
            every,
            last: Instant::now(),
        }
    }

    /// Whether a line is due now; if so, the period starts again.
    pub fn due(&mut self) -> bool {
        if self.last.elapsed() >= self.every {
            self.last = Instant::now();
            true
        } else {
            false
        }
    }

    /// Something was printed: the next line is due a whole period from now.
    pub fn reset(&mut self) {
        self.last = Instant::now();
    }
}

/// The steps this process has trained and the time they took, to estimate the rest.
#[derive(Debug, Clone)]
pub struct RunClock {
    start: Instant,
    steps: u64,
}

impl RunClock {
    /// Starts counting now.
    pub fn start() -> RunClock {
        RunClock {
            start: Instant::now(),
            steps: 0,
        }
    }

    /// One more step done.
    pub fn step(&mut self) {
        self.steps += 1;
    }

    /// The time `left` more steps will take at the rate so far (validation not
    /// counted); `None` before the first step.
    pub fn eta(&self, left: u64) -> Option<Duration> {
        (self.steps > 0).then(|| {
            self.start
                .elapsed()
                .mul_f64(left as f64 / self.steps as f64)
        })
    }
}

/// `45s`, `3m 07s`, `2h 05m`: a duration as a person reads it.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human(Duration::from_secs_f64(44.6)), "45s");
        assert_eq!(human(Duration::from_secs(187)), "3m 07s");
        assert_eq!(human(Duration::from_secs(7500)), "2h 05m");
    }

    #[test]
    fn a_heartbeat_is_due_once_a_period() {
        let mut h = Heartbeat::new(Duration::from_secs(3600));
        assert!(!h.due());
        let mut h = Heartbeat::new(Duration::ZERO);
        assert!(h.due());
        assert!(h.due());
    }

    #[test]
    fn the_run_eta_scales_the_time_per_step() {
        let mut c = RunClock::start();
        assert_eq!(c.eta(10), None);
        c.step();
        std::thread::sleep(Duration::from_millis(20));
        let eta = c.eta(10).unwrap();
        assert!(eta >= Duration::from_millis(200), "{eta:?}");
    }
}
