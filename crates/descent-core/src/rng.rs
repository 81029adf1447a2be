//! Seeded random streams: one rule for every random draw of descent.
//!
//! Every stream derives from a seed and a label naming its use (`"0"` for the first layer's
//! initialization, `"forward/<epoch>/<step>/<n>"` for the `n`-th draw of a training step,
//! `"shuffle/<epoch>"` for a loader's order), through ChaCha8 ([`rand_chacha`]), whose output for
//! a given key and stream is fixed by its specification, not by a crate version. Floats and
//! integers are made from the raw words here, not by a sampler whose algorithm could change: same
//! seed, same numbers, on any machine, with any version of `rand`.
//!
//! ```
//! use descent_core::rng::Seeds;
//! let seeds = Seeds::new(7);
//! let (mut a, mut b) = (seeds.stream("shuffle/0"), seeds.stream("shuffle/0"));
//! let mut order: Vec<usize> = (0..10).collect();
//! a.shuffle(&mut order);
//! let mut again: Vec<usize> = (0..10).collect();
//! b.shuffle(&mut again);
//! assert_eq!(order, again);
//! assert!(seeds.stream("x").next_f64() < 1.0);
//! ```

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// The root of a run's random streams: a seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeds {
    seed: u64,
}

impl Seeds {
    /// The streams of the run seeded with `seed`.
    pub fn new(seed: u64) -> Seeds {
        Seeds { seed }
    }

    /// The stream labelled `label`: the same `(seed, label)` always gives the same numbers, and
    /// different labels give independent streams.
    pub fn stream(&self, label: &str) -> Stream {
        // FNV-1a of the label picks the ChaCha stream; the seed is the key.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in label.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(h);
        Stream { rng }
    }
}

/// One random stream (see [`Seeds::stream`]).
#[derive(Clone, Debug)]
pub struct Stream {
    rng: ChaCha8Rng,
}

impl Stream {
    /// Uniform in `[0, 1)`, from the top 24 bits of the next 32-bit word.
    pub fn next_f32(&mut self) -> f32 {
        (self.rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// Uniform in `[0, 1)`, from the top 53 bits of the next 64-bit word.
    pub fn next_f64(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// The next raw 64-bit word.
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Uniform in `0..n`, without modulo bias (Lemire's multiply-and-reject on 64-bit words).
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Stream::below(0): the range is empty");
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.rng.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Shuffles `items` in place (Fisher-Yates with [`Stream::below`]): the same stream gives the
    /// same permutation on every machine.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// A standard normal draw (Box-Muller on two `f64` draws).
    pub fn next_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]: ln is finite
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut s = Seeds::new(1).stream("t");
        let mut counts = [0usize; 3];
        for _ in 0..30_000 {
            counts[s.below(3) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
        assert_eq!(s.below(1), 0);
    }

    #[test]
    fn shuffle_is_a_permutation_and_pinned() {
        let mut v: Vec<u32> = (0..50).collect();
        Seeds::new(3).stream("shuffle/0").shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(v, sorted);
        // Pinned: a change here changes every seeded run's data order.
        let mut w: Vec<u32> = (0..8).collect();
        Seeds::new(0).stream("shuffle/0").shuffle(&mut w);
        assert_eq!(w, PINNED);
    }

    const PINNED: [u32; 8] = [6, 1, 3, 7, 4, 0, 5, 2];
}
