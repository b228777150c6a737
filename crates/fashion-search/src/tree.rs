//! The tree index: a kiddo KD-tree over the projected vectors, whose
//! candidates are re-ranked by full distance until the projected lower bound
//! proves that no unseen vector can enter the result.

use std::fmt;
use std::num::NonZero;
use std::time::Instant;

use kiddo::{ImmutableKdTree, QueryResultItem, SquaredEuclidean};

use crate::bound::{PruningBound, COORDINATE_TOLERANCE};
use crate::distance::euclidean_distance;
use crate::neighbour::TopK;
use crate::shape::{check_max_distance, check_query, row_count};
use crate::{FitOptions, Neighbour, Projection, SearchError, DEFAULT_PROJECTED_DIM};

/// The first tree query requests `max(FIRST_ROUND_PER_RESULT * k,
/// FIRST_ROUND_MIN)` candidates, whose full distances give a first k-th
/// distance. A second query then fetches every point within the projected
/// radius that distance allows. The cost of kiddo's `nearest_n` grows quickly
/// with n in 16 to 32 dimensions, so a small first round followed by a
/// radius query was faster in `examples/bench.rs` than a first round large
/// enough to prove the result alone.
// NOTE: tuned on synthetic clustered data, not on real embeddings.
const FIRST_ROUND_PER_RESULT: usize = 2;
const FIRST_ROUND_MIN: usize = 16;

/// Rows whose caller-supplied coordinates [`TreeIndex::from_coordinates`]
/// recomputes, spread evenly over the index including the first and last.
const CHECKED_ROWS: usize = 64;

/// Counters describing the work done by one search.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SearchStats {
    /// KD-tree queries run: 1, or 2 when the first round of candidates was
    /// not enough to prove the result.
    pub tree_queries: usize,
    /// Candidates the tree returned.
    pub candidates: usize,
    /// Full-dimension distances computed.
    pub distances: usize,
}

/// Exact k-nearest-neighbour search over vectors of dimension `dim`, using a
/// KD-tree over their projection onto `P` principal directions.
///
/// `V` is the vector storage, row-major with `dim` floats per row: a slice, a
/// `Vec<f32>`, or any owner of a memory map that implements `AsRef<[f32]>`.
/// Results are identical to [`linear_top_k`](crate::linear_top_k) on the same
/// vectors: same indices, same order, bit-identical distances.
///
/// kiddo needs the projected dimension at compile time. The default is
/// [`DEFAULT_PROJECTED_DIM`].
pub struct TreeIndex<V, const P: usize = DEFAULT_PROJECTED_DIM> {
    vectors: V,
    dim: usize,
    len: usize,
    projection: Projection<P>,
    coordinates: Vec<[f32; P]>,
    /// `None` for an empty index, so that searching it never reaches kiddo.
    tree: Option<ImmutableKdTree<f32, P>>,
}

impl<V, const P: usize> fmt::Debug for TreeIndex<V, P> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TreeIndex")
            .field("len", &self.len)
            .field("dim", &self.dim)
            .field("projected_dim", &P)
            .finish_non_exhaustive()
    }
}

impl<V: AsRef<[f32]>, const P: usize> TreeIndex<V, P> {
    /// Fits a projection to `vectors` (see [`Projection::fit`]), projects
    /// every vector and builds the tree.
    ///
    /// # Errors
    ///
    /// Returns an error if `dim` is zero or `P > dim`, if the buffer is not a
    /// whole number of rows, if a vector is not finite, or if there are more
    /// than `u32::MAX` vectors.
    pub fn fit(vectors: V, dim: usize, options: &FitOptions) -> Result<Self, SearchError> {
        let projection = Projection::fit(vectors.as_ref(), dim, options)?;
        Self::build(vectors, projection)
    }

    /// Projects every vector with `projection` and builds the tree.
    ///
    /// # Errors
    ///
    /// Returns an error if the buffer is not a whole number of rows of the
    /// projection's dimension, if a vector is not finite, or if there are
    /// more than `u32::MAX` vectors.
    pub fn build(vectors: V, projection: Projection<P>) -> Result<Self, SearchError> {
        let started = Instant::now();
        let coordinates = projection.project_all(vectors.as_ref())?;
        log::debug!("projected {} vectors onto {P} directions in {:.1?}", coordinates.len(), started.elapsed());

        Self::from_parts(vectors, projection, coordinates)
    }

    /// Builds the tree from coordinates computed earlier by
    /// [`Projection::project`] with the same basis, for example ones saved
    /// from [`coordinates`](Self::coordinates). `coordinates` contains `P`
    /// floats per vector, row-major.
    ///
    /// Exactness depends on the coordinates matching the vectors, so this
    /// recomputes 64 evenly spread rows and rejects a mismatch.
    /// NOTE: a mismatch confined to rows it does not check goes unnoticed,
    /// and so does a non-finite vector whose saved coordinates are finite.
    ///
    /// # Errors
    ///
    /// Returns an error if the buffers do not have matching shapes, if a
    /// coordinate is not finite, if a checked row differs from its projection
    /// by more than `5e-7` times its norm, or if there are more than
    /// `u32::MAX` vectors.
    pub fn from_coordinates(vectors: V, projection: Projection<P>, coordinates: &[f32]) -> Result<Self, SearchError> {
        let len = row_count(vectors.as_ref(), projection.dim())?;
        if coordinates.len() != len * P {
            return Err(SearchError::CoordinatesShape { len: coordinates.len(), count: len, projected: P });
        }

        let coordinates: Vec<[f32; P]> = coordinates
            .chunks_exact(P)
            .map(|row| row.try_into().expect("chunks_exact yields rows of P floats"))
            .collect();

        check_coordinates(vectors.as_ref(), &projection, &coordinates)?;
        Self::from_parts(vectors, projection, coordinates)
    }

    fn from_parts(vectors: V, projection: Projection<P>, coordinates: Vec<[f32; P]>) -> Result<Self, SearchError> {
        let dim = projection.dim();
        let len = coordinates.len();

        if u32::try_from(len).is_err() {
            return Err(SearchError::TooManyVectors { count: len });
        }
        if let Some(row) = coordinates.iter().position(|point| point.iter().any(|value| !value.is_finite())) {
            return Err(SearchError::NonFiniteCoordinates { row });
        }

        let started = Instant::now();
        let tree = if len == 0 {
            None
        } else {
            let tree = ImmutableKdTree::new_from_slice(&coordinates)
                .map_err(|source| SearchError::TreeConstruction { count: len, source })?;
            Some(tree)
        };
        log::debug!("built a {P}-dimensional KD-tree over {len} points in {:.1?}", started.elapsed());

        Ok(Self { vectors, dim, len, projection, coordinates, tree })
    }

    /// Returns the number of indexed vectors.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns whether the index contains no vectors.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns the dimension of the indexed vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Returns the projection, whose [`basis`](Projection::basis) a caller
    /// saves to restore the index with [`from_coordinates`](Self::from_coordinates).
    pub fn projection(&self) -> &Projection<P> {
        &self.projection
    }

    /// Returns the projected coordinates: `P` floats per vector, row-major.
    pub fn coordinates(&self) -> &[f32] {
        self.coordinates.as_flattened()
    }

    /// Returns the indexed vectors, row-major.
    pub fn vectors(&self) -> &[f32] {
        self.vectors.as_ref()
    }

    /// Returns the `k` vectors nearest to `query`, sorted by ascending
    /// distance, then ascending index: exactly what
    /// [`linear_top_k`](crate::linear_top_k) returns.
    ///
    /// # Errors
    ///
    /// Returns an error if `query` does not have [`dim`](Self::dim) finite
    /// components.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Neighbour>, SearchError> {
        self.search_with_stats(query, k, None).map(|(neighbours, _)| neighbours)
    }

    /// Returns the `k` vectors nearest to `query` among those at distance
    /// `max_distance` or less, in the order of [`search`](Self::search).
    ///
    /// # Errors
    ///
    /// Returns an error if `query` does not have [`dim`](Self::dim) finite
    /// components, or if `max_distance` is NaN or negative.
    pub fn search_within(&self, query: &[f32], k: usize, max_distance: f32) -> Result<Vec<Neighbour>, SearchError> {
        self.search_with_stats(query, k, Some(max_distance)).map(|(neighbours, _)| neighbours)
    }

    /// Runs [`search`](Self::search), or [`search_within`](Self::search_within)
    /// when `max_distance` is given, and also returns how much work it took.
    ///
    /// # Errors
    ///
    /// As for [`search_within`](Self::search_within).
    pub fn search_with_stats(
        &self,
        query: &[f32],
        k: usize,
        max_distance: Option<f32>,
    ) -> Result<(Vec<Neighbour>, SearchStats), SearchError> {
        check_query(query, self.dim)?;
        if let Some(max_distance) = max_distance {
            check_max_distance(max_distance)?;
        }

        let Some(tree) = &self.tree else {
            return Ok((Vec::new(), SearchStats::default()));
        };
        if k == 0 {
            return Ok((Vec::new(), SearchStats::default()));
        }

        let mut search = Search {
            index: self,
            tree,
            query,
            projected: self.projection.project(query),
            bound: PruningBound::new(query, self.dim, P, self.projection.norm_bound()),
            max_distance: max_distance.unwrap_or(f32::INFINITY),
            top: TopK::new(k.min(self.len)),
            seen: Seen::new(self.len),
            stats: SearchStats::default(),
        };
        if !search.first_round(k) {
            search.second_round();
        }

        log::debug!("tree search: {} full distances for k = {k} over {} vectors", search.stats.distances, self.len);
        Ok((search.top.into_sorted_vec(), search.stats))
    }

    fn row(&self, index: usize) -> &[f32] {
        &self.vectors.as_ref()[index * self.dim..(index + 1) * self.dim]
    }
}

/// The state of one search.
struct Search<'a, V, const P: usize> {
    index: &'a TreeIndex<V, P>,
    tree: &'a ImmutableKdTree<f32, P>,
    query: &'a [f32],
    projected: [f32; P],
    bound: PruningBound,
    /// Largest admitted distance, infinite when none was requested.
    max_distance: f32,
    top: TopK,
    seen: Seen,
    stats: SearchStats,
}

impl<V: AsRef<[f32]>, const P: usize> Search<'_, V, P> {
    /// Ranks the `max(FIRST_ROUND_PER_RESULT * k, FIRST_ROUND_MIN)` nearest
    /// projected points (within the radius `max_distance` allows), and
    /// returns whether that proves the result.
    fn first_round(&mut self, k: usize) -> bool {
        let len = self.index.len;
        let requested = k.saturating_mul(FIRST_ROUND_PER_RESULT).max(FIRST_ROUND_MIN).min(len);
        let radius_squared = self.bound.projected_radius_squared(self.max_distance);

        let builder = self
            .tree
            .query(&self.projected)
            .nearest_n::<SquaredEuclidean<f32>>(NonZero::new(requested).expect("k > 0 and len > 0"));
        let candidates =
            if radius_squared.is_finite() { builder.within(radius_squared).execute() } else { builder.execute() };
        self.stats.tree_queries += 1;
        self.stats.candidates += candidates.len();

        // The round also proves the result when it covered every point that
        // matters: all of them, or all inside the radius when the tree
        // returned fewer than requested.
        let stopped = self.rank(&candidates);
        let covered = requested == len || candidates.len() < requested;
        if !stopped && !covered {
            log::debug!("tree search: the first {requested} candidates did not prove the top {k}");
        }
        stopped || covered
    }

    /// Ranks every point within the projected radius that the current k-th
    /// distance allows, which proves the result.
    fn second_round(&mut self) {
        let radius_squared = self.bound.projected_radius_squared(self.threshold());
        let candidates = self.tree.query(&self.projected).within::<SquaredEuclidean<f32>>(radius_squared).execute();
        self.stats.tree_queries += 1;
        self.stats.candidates += candidates.len();

        log::debug!(
            "tree search: second round, {} candidates within projected distance {:.4}",
            candidates.len(),
            radius_squared.sqrt()
        );
        self.rank(&candidates);
    }

    /// Returns the largest full distance an unseen vector may have and still
    /// enter the result.
    fn threshold(&self) -> f32 {
        match self.top.kth_distance() {
            Some(kth) => kth.min(self.max_distance),
            None => self.max_distance,
        }
    }

    /// Computes full distances for `candidates`, which the tree sorted by
    /// projected distance, until the bound shows that no later candidate and
    /// no vector outside the list can enter the result. Returns whether it
    /// stopped for that reason.
    fn rank(&mut self, candidates: &[QueryResultItem<(), u32, f32>]) -> bool {
        for candidate in candidates {
            // Strictly greater: a vector at exactly the threshold distance
            // could still tie with the k-th result and win on a lower index.
            if self.bound.min_distance(candidate.distance) > f64::from(self.threshold()) {
                return true;
            }

            let index = candidate.item as usize;
            if !self.seen.insert(index) {
                continue;
            }

            let distance = euclidean_distance(self.index.row(index), self.query);
            self.stats.distances += 1;
            if distance <= self.max_distance {
                self.top.offer(index, distance);
            }
        }
        false
    }
}

/// A set of row indices, one bit per indexed vector.
struct Seen {
    words: Vec<u64>,
}

impl Seen {
    fn new(len: usize) -> Self {
        Self { words: vec![0; len.div_ceil(64)] }
    }

    /// Adds `index` and returns whether it was absent.
    fn insert(&mut self, index: usize) -> bool {
        let word = &mut self.words[index / 64];
        let bit = 1u64 << (index % 64);
        let absent = *word & bit == 0;
        *word |= bit;
        absent
    }
}

/// Checks caller-supplied coordinates against fresh projections of up to
/// [`CHECKED_ROWS`] rows spread over the index.
fn check_coordinates<const P: usize>(
    vectors: &[f32],
    projection: &Projection<P>,
    coordinates: &[[f32; P]],
) -> Result<(), SearchError> {
    let len = coordinates.len();
    if len == 0 {
        return Ok(());
    }

    let dim = projection.dim();
    let checked = CHECKED_ROWS.min(len);
    for step in 0..checked {
        let row = if checked == 1 { 0 } else { step * (len - 1) / (checked - 1) };
        let vector = &vectors[row * dim..(row + 1) * dim];
        let expected = projection.project(vector);

        let difference = expected
            .iter()
            .zip(&coordinates[row])
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm = vector.iter().map(|&value| f64::from(value).powi(2)).sum::<f64>().sqrt();
        let tolerance = 0.5 * COORDINATE_TOLERANCE * norm;

        if difference.is_nan() || difference > tolerance {
            return Err(SearchError::CoordinatesMismatch { row, difference, tolerance });
        }
    }
    Ok(())
}
