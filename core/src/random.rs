//! The source of randomness for verifiers and `state`: the platform CSPRNG, behind a trait so tests
//! can substitute a deterministic source.
//!
//! On the host [`SystemEntropy`] is the OS generator; in the browser it is `crypto.getRandomValues`
//! (the app enables getrandom's `wasm_js` backend, the core does not need to know).

use thiserror::Error;

/// The platform refused to produce random bytes. Nothing secure can be generated without them.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("this browser could not produce secure random numbers ({0}); sign-in needs them")]
pub struct EntropyError(pub String);

/// Something that fills buffers with cryptographically secure random bytes.
pub trait Entropy {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError>;
}

/// The platform's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemEntropy;

impl Entropy for SystemEntropy {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        getrandom::fill(dest).map_err(|e| EntropyError(e.to_string()))
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A deterministic source for tests: a simple xorshift stream from a seed. Not secure.
    pub struct SeededEntropy(pub u64);

    impl Entropy for SeededEntropy {
        fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
            for b in dest {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                *b = (self.0 >> 24) as u8;
            }
            Ok(())
        }
    }

    /// A source that always fails, as a browser without `crypto` would.
    pub struct BrokenEntropy;

    impl Entropy for BrokenEntropy {
        fn fill(&mut self, _dest: &mut [u8]) -> Result<(), EntropyError> {
            Err(EntropyError("no crypto".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_entropy_fills_and_differs() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        SystemEntropy.fill(&mut a).unwrap();
        SystemEntropy.fill(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
    }
}
