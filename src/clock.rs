//! Hybrid logical clock.
//!
//! A [`Timestamp`] is a (wall nanoseconds, logical) pair ordered lexicographically. The [`Clock`]
//! hands out strictly increasing timestamps that never run behind the physical clock, and is
//! updated from every timestamp received from elsewhere ([`Clock::update`]) so causality is kept
//! across nodes. A received timestamp further ahead of the local physical clock than the
//! configured maximum offset is refused with [`ClockError::OffsetExceeded`] and does not move the
//! clock: a node whose peers are that far off must not accept their writes.

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A hybrid logical clock timestamp: wall time in nanoseconds since the Unix epoch plus a logical
/// counter that orders events within one nanosecond.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct Timestamp {
    /// Nanoseconds since the Unix epoch.
    pub wall: u64,
    /// Logical counter within `wall`.
    pub logical: u32,
}

impl Timestamp {
    /// The zero timestamp, below every real one.
    pub const MIN: Timestamp = Timestamp {
        wall: 0,
        logical: 0,
    };
    /// The largest timestamp.
    pub const MAX: Timestamp = Timestamp {
        wall: u64::MAX,
        logical: u32::MAX,
    };

    /// A timestamp with the given wall time and logical 0.
    pub const fn from_wall(wall: u64) -> Timestamp {
        Timestamp { wall, logical: 0 }
    }

    /// Whether this is the zero timestamp.
    pub fn is_zero(&self) -> bool {
        *self == Timestamp::MIN
    }

    /// The next timestamp (logical + 1, carrying into wall).
    pub fn next(&self) -> Timestamp {
        if self.logical == u32::MAX {
            Timestamp {
                wall: self.wall.saturating_add(1),
                logical: 0,
            }
        } else {
            Timestamp {
                wall: self.wall,
                logical: self.logical + 1,
            }
        }
    }

    /// The previous timestamp (saturating at zero).
    pub fn prev(&self) -> Timestamp {
        if self.logical > 0 {
            Timestamp {
                wall: self.wall,
                logical: self.logical - 1,
            }
        } else if self.wall > 0 {
            Timestamp {
                wall: self.wall - 1,
                logical: u32::MAX,
            }
        } else {
            Timestamp::MIN
        }
    }

    /// This timestamp moved back by `d` of wall time (saturating), logical 0.
    pub fn sub_duration(&self, d: Duration) -> Timestamp {
        Timestamp::from_wall(self.wall.saturating_sub(d.as_nanos() as u64))
    }

    /// This timestamp moved forward by `d` of wall time.
    pub fn add_duration(&self, d: Duration) -> Timestamp {
        Timestamp {
            wall: self.wall.saturating_add(d.as_nanos() as u64),
            logical: self.logical,
        }
    }

    /// Wall time as fractional seconds since the epoch.
    pub fn as_secs_f64(&self) -> f64 {
        self.wall as f64 / 1e9
    }

    /// The 12-byte big-endian encoding (orders like the timestamp).
    pub fn to_be_bytes(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.wall.to_be_bytes());
        b[8..].copy_from_slice(&self.logical.to_be_bytes());
        b
    }

    /// Decodes [`Timestamp::to_be_bytes`].
    pub fn from_be_bytes(b: [u8; 12]) -> Timestamp {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[..8]);
        let mut l = [0u8; 4];
        l.copy_from_slice(&b[8..]);
        Timestamp {
            wall: u64::from_be_bytes(w),
            logical: u32::from_be_bytes(l),
        }
    }

    /// Parses CockroachDB's decimal form `<wall nanos>.<logical as 10 digits>` (also a bare
    /// integer of nanoseconds).
    pub fn parse_decimal(s: &str) -> Option<Timestamp> {
        let (w, l) = match s.split_once('.') {
            Some((w, l)) => (w, l),
            None => (s, "0"),
        };
        let wall = w.parse().ok()?;
        let logical = if l.is_empty() { 0 } else { l.parse().ok()? };
        Some(Timestamp { wall, logical })
    }
}

impl fmt::Display for Timestamp {
    /// CockroachDB's decimal form: `1700000000000000000.0000000000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:010}", self.wall, self.logical)
    }
}

/// Errors from [`Clock::update`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClockError {
    /// A remote timestamp is further ahead of our physical clock than the maximum offset.
    #[error(
        "clock: remote timestamp {remote} is {ahead:?} ahead of local clock (max offset {max:?})"
    )]
    OffsetExceeded {
        /// The received timestamp.
        remote: Timestamp,
        /// How far ahead of the local physical time it was.
        ahead: Duration,
        /// The configured maximum offset.
        max: Duration,
    },
}

/// The source of physical time; tests substitute a manual one.
pub trait PhysicalClock: Send + Sync + 'static {
    /// Nanoseconds since the Unix epoch.
    fn now_nanos(&self) -> u64;
}

/// The system's real-time clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl PhysicalClock for SystemClock {
    fn now_nanos(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }
}

/// A hybrid logical clock.
pub struct Clock {
    physical: Box<dyn PhysicalClock>,
    max_offset: Duration,
    last: Mutex<Timestamp>,
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clock")
            .field("max_offset", &self.max_offset)
            .field("last", &*self.last.lock())
            .finish()
    }
}

impl Clock {
    /// A clock on the system's physical time with the given maximum offset.
    pub fn new(max_offset: Duration) -> Clock {
        Clock::with_physical(Box::new(SystemClock), max_offset)
    }

    /// A clock on the given physical time source.
    pub fn with_physical(physical: Box<dyn PhysicalClock>, max_offset: Duration) -> Clock {
        Clock {
            physical,
            max_offset,
            last: Mutex::new(Timestamp::MIN),
        }
    }

    /// The configured maximum clock offset.
    pub fn max_offset(&self) -> Duration {
        self.max_offset
    }

    /// The physical time now, as a timestamp with logical 0 (does not tick the clock).
    pub fn physical_now(&self) -> Timestamp {
        Timestamp::from_wall(self.physical.now_nanos())
    }

    /// A new timestamp, strictly greater than every timestamp this clock returned or received.
    pub fn now(&self) -> Timestamp {
        let phys = self.physical.now_nanos();
        let mut last = self.last.lock();
        let next = if phys > last.wall {
            Timestamp::from_wall(phys)
        } else {
            last.next()
        };
        *last = next;
        next
    }

    /// Folds a received timestamp into the clock so later [`Clock::now`] calls are above it.
    pub fn update(&self, remote: Timestamp) -> Result<(), ClockError> {
        let phys = self.physical.now_nanos();
        if remote.wall > phys {
            let ahead = Duration::from_nanos(remote.wall - phys);
            if ahead > self.max_offset {
                return Err(ClockError::OffsetExceeded {
                    remote,
                    ahead,
                    max: self.max_offset,
                });
            }
        }
        let mut last = self.last.lock();
        if remote > *last {
            *last = remote;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Manual(Arc<AtomicU64>);
    impl PhysicalClock for Manual {
        fn now_nanos(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn manual(start: u64) -> (Clock, Arc<AtomicU64>) {
        let t = Arc::new(AtomicU64::new(start));
        (
            Clock::with_physical(Box::new(Manual(t.clone())), Duration::from_millis(500)),
            t,
        )
    }

    #[test]
    fn clock_is_strictly_monotonic_when_physical_stalls() {
        let (c, _t) = manual(1000);
        let a = c.now();
        let b = c.now();
        assert!(b > a);
        assert_eq!(
            b,
            Timestamp {
                wall: 1000,
                logical: 1
            }
        );
    }

    #[test]
    fn clock_follows_physical_time() {
        let (c, t) = manual(1000);
        c.now();
        t.store(2000, Ordering::SeqCst);
        assert_eq!(c.now(), Timestamp::from_wall(2000));
    }

    #[test]
    fn clock_update_moves_past_remote() {
        let (c, _t) = manual(1000);
        let remote = Timestamp {
            wall: 1000 + 100,
            logical: 7,
        };
        c.update(remote).expect("within offset");
        assert!(c.now() > remote);
    }

    #[test]
    fn clock_update_refuses_far_future() {
        let (c, _t) = manual(1000);
        let remote = Timestamp::from_wall(1000 + 600_000_000);
        assert!(matches!(
            c.update(remote),
            Err(ClockError::OffsetExceeded { .. })
        ));
        assert!(c.now() < remote);
    }

    #[test]
    fn timestamp_bytes_roundtrip_and_order() {
        let a = Timestamp {
            wall: 5,
            logical: u32::MAX,
        };
        let b = a.next();
        assert!(a.to_be_bytes() < b.to_be_bytes());
        assert_eq!(Timestamp::from_be_bytes(a.to_be_bytes()), a);
        assert_eq!(b.prev(), a);
        assert_eq!(Timestamp::parse_decimal(&a.to_string()), Some(a));
    }
}
