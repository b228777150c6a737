//! A full check of an opened store: the payload checksum and the values of
//! every vector and section.
//!
//! Opening already enforces the structure (dimension, counts, blob sizes,
//! records sorted by path and so unique), so a [`VerifyReport`] lists only
//! what opening does not check.

use std::fmt;
use std::time::{Duration, Instant};

use crate::parse::check_payload_checksum;
use crate::store::Store;
use crate::StoreError;

/// The largest accepted difference between a vector's L2 norm and 1.
pub const NORM_TOLERANCE: f32 = 1e-3;

/// The result of [`Store::verify`].
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyReport {
    /// Number of vectors checked.
    pub count: usize,
    pub dim: usize,
    /// Number of sections checked.
    pub section_count: usize,
    /// Every problem found, in file order.
    pub issues: Vec<Issue>,
    /// Wall time of the checks.
    pub elapsed: Duration,
}

impl VerifyReport {
    /// Returns whether no issue was found.
    pub fn is_ok(&self) -> bool {
        self.issues.is_empty()
    }
}

/// A problem that [`Store::verify`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Issue {
    /// The payload's CRC-32 differs from the stored one.
    PayloadChecksumMismatch { stored: u32, computed: u32 },
    /// The vector of record `index` contains NaN or an infinity.
    NonFiniteVector { index: usize },
    /// The L2 norm of vector `index` differs from 1 by more than [`NORM_TOLERANCE`].
    NormOutOfTolerance { index: usize, norm: f32 },
    /// Section `name` contains NaN or an infinity at row-major position `index`.
    NonFiniteSection { name: String, index: usize },
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Issue::PayloadChecksumMismatch { stored, computed } => {
                write!(f, "payload checksum mismatch: stored CRC-32 {stored:#010x}, computed {computed:#010x}")
            }
            Issue::NonFiniteVector { index } => {
                write!(f, "vector {index} contains NaN or an infinity")
            }
            Issue::NormOutOfTolerance { index, norm } => {
                write!(f, "vector {index} has L2 norm {norm}, which differs from 1 by more than {NORM_TOLERANCE}")
            }
            Issue::NonFiniteSection { name, index } => {
                write!(f, "section {name:?} contains NaN or an infinity at position {index}")
            }
        }
    }
}

impl Store {
    /// Computes the payload checksum and checks that every vector is finite
    /// with an L2 norm within [`NORM_TOLERANCE`] of 1, and that every section
    /// value is finite.
    ///
    /// This reads the whole file, however the store was opened.
    pub fn verify(&self) -> VerifyReport {
        let started = Instant::now();
        let mut issues = Vec::new();

        let (payload, stored) = self.payload();
        if let Err(StoreError::ChecksumMismatch { stored, computed, .. }) =
            check_payload_checksum(self.path(), payload, stored)
        {
            issues.push(Issue::PayloadChecksumMismatch { stored, computed });
        }

        for (index, vector) in self.vectors().chunks_exact(self.dim()).enumerate() {
            if !vector.iter().all(|value| value.is_finite()) {
                issues.push(Issue::NonFiniteVector { index });
                continue;
            }

            let norm = squared_norm(vector).sqrt();
            if (norm - 1.0).abs() > NORM_TOLERANCE {
                issues.push(Issue::NormOutOfTolerance { index, norm });
            }
        }

        for section in self.sections() {
            if let Some(index) = section.data.iter().position(|value| !value.is_finite()) {
                issues.push(Issue::NonFiniteSection { name: section.name.to_owned(), index });
            }
        }

        let report = VerifyReport {
            count: self.len(),
            dim: self.dim(),
            section_count: self.sections().len(),
            issues,
            elapsed: started.elapsed(),
        };
        log::debug!("verified {} in {:?}: {} issues", self.path().display(), report.elapsed, report.issues.len());
        report
    }
}

/// Sums the squares in 8 independent lanes, which the compiler can vectorise,
/// unlike one sequential f32 sum.
fn squared_norm(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = values.chunks_exact(8);
    let tail = chunks.remainder();

    for chunk in chunks {
        for (lane, value) in lanes.iter_mut().zip(chunk) {
            *lane += value * value;
        }
    }

    lanes.iter().sum::<f32>() + tail.iter().map(|value| value * value).sum::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squared_norm_matches_sequential_sum() {
        for len in [0, 1, 7, 8, 9, 100, 2048] {
            let values: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let expected: f64 = values.iter().map(|&v| f64::from(v) * f64::from(v)).sum();

            let actual = squared_norm(&values);

            assert!(
                (f64::from(actual) - expected).abs() < 1e-4 * expected.max(1.0),
                "length {len}: {actual} vs {expected}"
            );
        }
    }
}
