//! The ratings database: one SQLite table of 1-5 star ratings, each of one
//! search result or of a whole result set, kept across restarts.
//!
//! Every rating is a new row, so the table is the full history. Readers that
//! need one value per (query, result) take the latest row, that is the highest
//! `id`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// Lowest and highest number of stars a rating may give.
pub const STARS: std::ops::RangeInclusive<u8> = 1..=5;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ratings (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    query_sha256  TEXT    NOT NULL,
    result_path   TEXT,
    stars         INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    rated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS ratings_by_query ON ratings (query_sha256);
CREATE INDEX IF NOT EXISTS ratings_by_result ON ratings (result_path);
";

#[derive(Debug, thiserror::Error)]
pub enum RatingsError {
    #[error("{}: cannot open the ratings database", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("{}: ratings database query failed", path.display())]
    Query {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// A rating to store. `result_path` is `None` for a rating of the whole result set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRating {
    /// Lowercase hex SHA-256 of the uploaded query photo.
    pub query_sha256: String,
    /// Catalogue-relative path of the rated result, with `/` separators.
    pub result_path: Option<String>,
    pub stars: u8,
}

/// A stored rating, as exported by `GET /ratings.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredRating {
    pub id: i64,
    pub query_sha256: String,
    pub result_path: Option<String>,
    pub stars: u8,
    /// UTC time of the rating, RFC 3339 with milliseconds.
    pub rated_at: String,
}

/// Mean stars of one catalogue item over all its ratings, by any query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemSummary {
    pub path: String,
    pub mean_stars: f64,
    pub count: u64,
}

/// The ratings database. One connection behind a mutex: ratings are small
/// and rare, so the lock is never held for long.
pub struct RatingsDb {
    path: PathBuf,
    connection: Mutex<Connection>,
}

impl RatingsDb {
    /// Opens the database at `path`, creating the file and the table when missing.
    pub fn open(path: &Path) -> Result<Self, RatingsError> {
        let open_error = |source| RatingsError::Open { path: path.to_owned(), source };

        let connection = Connection::open(path).map_err(open_error)?;
        connection.busy_timeout(std::time::Duration::from_secs(5)).map_err(open_error)?;
        connection.execute_batch(SCHEMA).map_err(open_error)?;

        log::debug!("{}: ratings database open", path.display());
        Ok(Self { path: path.to_owned(), connection: Mutex::new(connection) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores `rating` and returns its id. Stars outside [`STARS`] are
    /// rejected by the table's CHECK constraint; callers validate first.
    pub fn insert(&self, rating: &NewRating) -> Result<i64, RatingsError> {
        self.with_connection(|connection| {
            connection.execute(
                "INSERT INTO ratings (query_sha256, result_path, stars) VALUES (?1, ?2, ?3)",
                params![rating.query_sha256, rating.result_path, rating.stars],
            )?;
            Ok(connection.last_insert_rowid())
        })
    }

    /// Returns every rating, oldest first.
    pub fn all(&self) -> Result<Vec<StoredRating>, RatingsError> {
        self.with_connection(|connection| {
            let mut statement =
                connection.prepare("SELECT id, query_sha256, result_path, stars, rated_at FROM ratings ORDER BY id")?;
            let rows = statement.query_map([], |row| {
                Ok(StoredRating {
                    id: row.get(0)?,
                    query_sha256: row.get(1)?,
                    result_path: row.get(2)?,
                    stars: row.get(3)?,
                    rated_at: row.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Returns the number of stored ratings.
    pub fn count(&self) -> Result<u64, RatingsError> {
        self.with_connection(|connection| {
            connection.query_row("SELECT COUNT(*) FROM ratings", [], |row| row.get::<_, i64>(0))
        })
        .map(|count| count.unsigned_abs())
    }

    /// Returns the latest stars given to each result of query `query_sha256`,
    /// and separately the latest stars given to the whole result set.
    pub fn latest_for_query(&self, query_sha256: &str) -> Result<QueryRatings, RatingsError> {
        self.with_connection(|connection| {
            let set_stars = connection
                .query_row(
                    "SELECT stars FROM ratings WHERE query_sha256 = ?1 AND result_path IS NULL ORDER BY id DESC LIMIT 1",
                    [query_sha256],
                    |row| row.get(0),
                )
                .optional()?;

            // SQLite takes the bare columns from the row that has MAX(id).
            let mut statement = connection.prepare(
                "SELECT result_path, stars, MAX(id) FROM ratings
                 WHERE query_sha256 = ?1 AND result_path IS NOT NULL GROUP BY result_path",
            )?;
            let results = statement
                .query_map([query_sha256], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;

            Ok(QueryRatings { set_stars, results })
        })
    }

    /// Returns the mean stars and rating count of every rated catalogue item,
    /// most rated first. Whole-set ratings are not counted.
    pub fn summary(&self) -> Result<Vec<ItemSummary>, RatingsError> {
        self.with_connection(|connection| {
            let mut statement = connection.prepare(
                "SELECT result_path, AVG(stars), COUNT(*) FROM ratings WHERE result_path IS NOT NULL
                 GROUP BY result_path ORDER BY COUNT(*) DESC, result_path",
            )?;
            let rows = statement.query_map([], |row| {
                Ok(ItemSummary {
                    path: row.get(0)?,
                    mean_stars: row.get(1)?,
                    count: row.get::<_, i64>(2)?.unsigned_abs(),
                })
            })?;
            rows.collect()
        })
    }

    fn with_connection<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, RatingsError> {
        // A panic while the lock was held leaves no half-done SQLite statement
        // behind, so the connection is still usable.
        let connection = self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        work(&connection).map_err(|source| RatingsError::Query { path: self.path.clone(), source })
    }
}

/// The latest ratings of one query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryRatings {
    /// Stars given to the whole result set, if rated.
    pub set_stars: Option<u8>,
    /// `(result_path, stars)` for each rated result.
    pub results: Vec<(String, u8)>,
}

impl QueryRatings {
    /// Returns the latest stars given to result `path`.
    pub fn stars_of(&self, path: &str) -> Option<u8> {
        self.results.iter().find(|(rated, _)| rated == path).map(|&(_, stars)| stars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rating(query: &str, path: Option<&str>, stars: u8) -> NewRating {
        NewRating { query_sha256: query.to_owned(), result_path: path.map(str::to_owned), stars }
    }

    #[test]
    fn latest_rating_wins_per_result() {
        let dir = tempfile::tempdir().unwrap();
        let db = RatingsDb::open(&dir.path().join("r.sqlite")).unwrap();
        db.insert(&rating("q1", Some("a.jpg"), 2)).unwrap();
        db.insert(&rating("q1", Some("a.jpg"), 5)).unwrap();
        db.insert(&rating("q1", Some("b.jpg"), 3)).unwrap();
        db.insert(&rating("q1", None, 4)).unwrap();
        db.insert(&rating("q2", Some("a.jpg"), 1)).unwrap();

        let latest = db.latest_for_query("q1").unwrap();
        assert_eq!(latest.set_stars, Some(4));
        assert_eq!(latest.stars_of("a.jpg"), Some(5));
        assert_eq!(latest.stars_of("b.jpg"), Some(3));
        assert_eq!(latest.stars_of("c.jpg"), None);
        assert_eq!(db.count().unwrap(), 5);
    }

    #[test]
    fn summary_averages_per_item() {
        let dir = tempfile::tempdir().unwrap();
        let db = RatingsDb::open(&dir.path().join("r.sqlite")).unwrap();
        db.insert(&rating("q1", Some("a.jpg"), 2)).unwrap();
        db.insert(&rating("q2", Some("a.jpg"), 5)).unwrap();
        db.insert(&rating("q1", Some("b.jpg"), 3)).unwrap();
        db.insert(&rating("q1", None, 1)).unwrap();

        let summary = db.summary().unwrap();
        assert_eq!(summary.len(), 2, "whole-set ratings are not items: {summary:?}");
        assert_eq!(summary[0].path, "a.jpg");
        assert_eq!(summary[0].count, 2);
        assert!((summary[0].mean_stars - 3.5).abs() < 1e-9);
        assert_eq!(summary[1].path, "b.jpg");
        assert_eq!(summary[1].count, 1);
    }

    #[test]
    fn stars_outside_range_rejected_by_table() {
        let dir = tempfile::tempdir().unwrap();
        let db = RatingsDb::open(&dir.path().join("r.sqlite")).unwrap();

        assert!(db.insert(&rating("q", None, 0)).is_err());
        assert!(db.insert(&rating("q", None, 6)).is_err());
        assert_eq!(db.count().unwrap(), 0);
    }
}
