//! Shared pieces of the wire fuzz targets (tests/wire_fuzz.rs): a seeded generator, the run's
//! budget from the environment, a panic recorder, and byte-level mutations.
//!
//! Environment: `FUZZ_SEED` (decimal or 0x-hex; default fixed), `FUZZ_SECONDS` (run each target
//! for that long instead of a fixed number of iterations), `FUZZ_ITERATIONS` (override the fixed
//! number). The same seed and iteration index always produce the same input, so a failure
//! report (`seed`, `iteration`) reproduces with `FUZZ_SEED=<seed> FUZZ_START=<iteration>`.
//! Timed runs print their progress now and then, and `FUZZ_TRACE=1` every iteration
//! (for a failure that kills the process, such as an aborted allocation, before it can report).

#![allow(dead_code)]

pub mod pg;
pub mod rpc;

use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// splitmix64: small, fast and good enough to drive mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The generator of iteration `i` of a run seeded with `seed`.
    pub fn for_iteration(seed: u64, i: u64) -> Rng {
        let mut r = Rng(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next();
        r
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An i32 that is often interesting as a length: small, negative, huge, off by one.
    pub fn length(&mut self, around: i32) -> i32 {
        match self.below(8) {
            0 => -1,
            1 => -(self.below(1000) as i32) - 2,
            2 => i32::MAX,
            3 => i32::MIN,
            4 => self.below(4) as i32,
            5 => around.saturating_add(1),
            6 => around.saturating_sub(1).max(0),
            _ => self.next() as i32,
        }
    }
}

/// How long a target runs.
#[derive(Debug, Clone)]
pub struct Budget {
    pub seed: u64,
    pub start: u64,
    iterations: Option<u64>,
    deadline: Option<Instant>,
    trace: bool,
}

impl Budget {
    /// From the environment; `default_iterations` without `FUZZ_SECONDS` / `FUZZ_ITERATIONS`.
    pub fn from_env(default_iterations: u64) -> Budget {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let number = |v: String| {
            let v = v.trim().to_ascii_lowercase();
            match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            }
            .unwrap_or_else(|e| panic!("bad number {v:?}: {e}"))
        };
        let seed = var("FUZZ_SEED").map_or(0x7a6e_6465_6d21, number);
        let start = var("FUZZ_START").map_or(0, number);
        let seconds = var("FUZZ_SECONDS").map(number);
        let iterations = var("FUZZ_ITERATIONS").map(number);
        Budget {
            seed,
            start,
            iterations: match (iterations, seconds) {
                (Some(n), _) => Some(n),
                (None, Some(_)) => None,
                (None, None) => Some(default_iterations),
            },
            deadline: seconds.map(|s| Instant::now() + Duration::from_secs(s)),
            trace: var("FUZZ_TRACE").is_some(),
        }
    }

    /// Notes that iteration `i` of `target` starts (see the module docs); timed runs print every
    /// `every` iterations.
    pub fn progress(&self, target: &str, i: u64, every: u64) {
        if self.trace || (self.deadline.is_some() && i.is_multiple_of(every)) {
            eprintln!("{target} fuzz: iteration {i} (FUZZ_SEED={:#x})", self.seed);
        }
    }

    /// Whether iteration `i` (counted from `start`) should run.
    pub fn more(&self, i: u64) -> bool {
        self.iterations.is_none_or(|n| i < self.start + n)
            && self.deadline.is_none_or(|d| Instant::now() < d)
    }
}

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records every panic of the process (then runs the previous hook), once per process.
pub fn record_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(mut p) = PANICS.lock() {
                p.push(info.to_string());
            }
            previous(info);
        }));
    });
}

/// The panics recorded so far.
pub fn panics() -> Vec<String> {
    PANICS.lock().map(|p| p.clone()).unwrap_or_default()
}

/// Applies one random byte-level mutation to `b`.
pub fn mutate_bytes(rng: &mut Rng, b: &mut Vec<u8>) {
    match rng.below(7) {
        0 if !b.is_empty() => {
            let i = rng.below(b.len());
            b[i] ^= 1 << rng.below(8);
        }
        1 if !b.is_empty() => {
            let i = rng.below(b.len());
            b[i] = rng.byte();
        }
        2 => {
            let i = rng.below(b.len() + 1);
            let n = 1 + rng.below(8);
            let extra = rng.bytes(n);
            b.splice(i..i, extra);
        }
        3 if !b.is_empty() => {
            let i = rng.below(b.len());
            let n = 1 + rng.below((b.len() - i).min(16));
            b.drain(i..i + n);
        }
        4 => {
            let n = rng.below(b.len() + 1);
            b.truncate(n);
        }
        5 if !b.is_empty() => {
            // An interesting 32-bit value at a random offset (lengths, counts).
            let i = rng.below(b.len());
            let v = rng.length(b.len() as i32).to_be_bytes();
            for (k, x) in v.iter().enumerate() {
                if let Some(slot) = b.get_mut(i + k) {
                    *slot = *x;
                }
            }
        }
        _ => {
            let n = rng.below(4);
            let extra = rng.bytes(n);
            b.extend_from_slice(&extra);
        }
    }
}

/// Splits `bytes` into the chunks a client writes them in (sometimes one byte at a time).
pub fn chunks(rng: &mut Rng, bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    let tiny = rng.chance(10);
    while at < bytes.len() {
        let n = if tiny {
            1 + rng.below(3)
        } else if rng.chance(70) {
            bytes.len() - at
        } else {
            1 + rng.below(bytes.len() - at)
        };
        let n = n.min(bytes.len() - at);
        out.push(bytes[at..at + n].to_vec());
        at += n;
    }
    out
}
