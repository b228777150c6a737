//! The search result type and the bounded selection that keeps the k best
//! results under the crate's total order: ascending distance, then ascending
//! index.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One search result: a stored vector and its Euclidean distance to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    /// Row of the vector in the stored buffer.
    pub index: usize,
    /// Euclidean distance to the query, as computed by
    /// [`euclidean_distance`](crate::euclidean_distance).
    pub distance: f32,
}

/// A [`Neighbour`] ordered by distance, then index, with `f32::total_cmp`, so
/// that equal distances still compare deterministically.
#[derive(Debug, Clone, Copy)]
struct Ranked(Neighbour);

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.distance.total_cmp(&other.0.distance).then(self.0.index.cmp(&other.0.index))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

/// The `k` smallest neighbours offered so far.
#[derive(Debug)]
pub(crate) struct TopK {
    k: usize,
    /// Max-heap, so the worst kept neighbour is on top.
    heap: BinaryHeap<Ranked>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        Self { k, heap: BinaryHeap::with_capacity(k.saturating_add(1).min(4096)) }
    }

    /// Offers a neighbour, which is kept if fewer than `k` are held or if it
    /// ranks before the worst one held.
    #[inline]
    pub(crate) fn offer(&mut self, index: usize, distance: f32) {
        let candidate = Ranked(Neighbour { index, distance });

        if self.heap.len() < self.k {
            self.heap.push(candidate);
            return;
        }

        if let Some(mut worst) = self.heap.peek_mut() {
            if candidate < *worst {
                *worst = candidate;
            }
        }
    }

    /// Returns the distance of the k-th neighbour once `k` are held. No
    /// unseen vector farther than this can enter the result.
    pub(crate) fn kth_distance(&self) -> Option<f32> {
        if self.heap.len() < self.k {
            return None;
        }
        self.heap.peek().map(|worst| worst.0.distance)
    }

    /// Merges the neighbours held by `other` into `self`.
    pub(crate) fn merge(mut self, other: TopK) -> TopK {
        for ranked in other.heap {
            self.offer(ranked.0.index, ranked.0.distance);
        }
        self
    }

    /// Returns the neighbours held, in ascending order.
    pub(crate) fn into_sorted_vec(self) -> Vec<Neighbour> {
        self.heap.into_sorted_vec().into_iter().map(|ranked| ranked.0).collect()
    }
}
