//! A small seeded random generator for backoff jitter.
//!
//! The core reads no clock and no entropy source: randomness is an input like
//! time. The scheduler holds one generator seeded from [`Config::seed`](super::Config),
//! so a test with a given seed sees the same pauses every run, while the JS
//! layer may seed each throttler differently so that many clients do not
//! retry in step. The generator is SplitMix64 (Steele, Lea and Flood, "Fast
//! splittable pseudorandom number generators", 2014): one add, three
//! xor-shift-multiplies, a full period of 2^64 and good enough spread for
//! jitter; it is not meant for anything secret.

/// SplitMix64: a deterministic stream of uniform numbers.
#[derive(Clone, Debug)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    pub fn new(seed: u64) -> Jitter {
        Jitter { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in [0, 1).
    pub fn unit(&mut self) -> f64 {
        // The top 53 bits fill an f64 mantissa exactly.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_stream_and_values_stay_in_the_unit_interval() {
        let (mut a, mut b) = (Jitter::new(7), Jitter::new(7));
        for _ in 0..1000 {
            let x = a.unit();
            assert_eq!(x, b.unit());
            assert!((0.0..1.0).contains(&x));
        }
        assert_ne!(Jitter::new(1).next_u64(), Jitter::new(2).next_u64());
    }
}
