//! The tests' one random-number generator: xorshift64, seeded, so that every "random" byte,
//! kill moment or mutation is the same on every run and a failing one can be replayed from
//! its seed. Not for anything but tests.

/// A seeded xorshift64 generator (Marsaglia's 13/7/17 triple).
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed` (0, which xorshift cannot leave, is replaced by 1).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    /// `len` random bytes (the low byte of each draw).
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}
