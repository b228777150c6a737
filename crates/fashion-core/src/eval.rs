//! Retrieval quality: leave-one-out precision@k and mean average precision
//! of an index against category labels.
//!
//! Every labelled image queries the index. The query itself and every image
//! byte-identical to it (the same SHA-256) are left out of its ranking,
//! because catalogues contain exact copies of the same product photo, which
//! would flatter the score. A result is relevant when it has the query's label.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::index::{Index, IndexError};

/// Retrieval scores of one evaluation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evaluation {
    /// Labelled images that served as queries.
    pub queries: usize,
    /// Every how many labelled images one served as a query.
    pub query_step: usize,
    /// `(k, mean precision@k)` for each requested k.
    pub precision: Vec<(usize, f64)>,
    /// Mean average precision over the first `map_depth` results.
    pub mean_average_precision: f64,
    pub map_depth: usize,
    /// Indexed images without a label, which neither query nor count as relevant.
    pub unlabelled: usize,
    /// Results dropped because they were byte-identical to their query.
    pub duplicates_skipped: usize,
}

/// Reads `column` of a CSV labels file, keyed by its `file` column (a path
/// relative to the catalogue root). Empty values and `NA` count as missing.
pub fn read_labels(path: &Path, column: &str) -> Result<HashMap<PathBuf, String>, LabelsError> {
    let error = |message: String| LabelsError { path: path.to_owned(), message };
    let mut reader = csv::Reader::from_path(path).map_err(|e| error(e.to_string()))?;
    let headers = reader.headers().map_err(|e| error(e.to_string()))?.clone();
    let position = |name: &str| headers.iter().position(|h| h == name);
    let file_column = position("file").ok_or_else(|| error("no `file` column".into()))?;
    let label_column = position(column).ok_or_else(|| {
        error(format!("no `{column}` column; the columns are: {}", headers.iter().collect::<Vec<_>>().join(", ")))
    })?;

    let mut labels = HashMap::new();
    for row in reader.records() {
        let row = row.map_err(|e| error(e.to_string()))?;
        let (Some(file), Some(label)) = (row.get(file_column), row.get(label_column)) else {
            continue;
        };
        if !label.is_empty() && label != "NA" {
            labels.insert(PathBuf::from(file), label.to_owned());
        }
    }
    Ok(labels)
}

#[derive(Debug, thiserror::Error)]
#[error("{}: cannot read labels: {message}", path.display())]
pub struct LabelsError {
    pub path: PathBuf,
    pub message: String,
}

/// Runs the leave-one-out evaluation of `index` for each k in `ks`, with
/// every `query_step`-th labelled image (in index order) as a query; 1 uses
/// them all. Every indexed image stays a candidate result either way.
pub fn evaluate(
    index: &Index,
    labels: &HashMap<PathBuf, String>,
    ks: &[usize],
    query_step: usize,
) -> Result<Evaluation, IndexError> {
    let records = index.store().records();
    let label_of: Vec<Option<&String>> = records.iter().map(|r| labels.get(&r.path)).collect();
    let depth = ks.iter().copied().max().unwrap_or(0);

    // Ask for enough extra neighbours to cover the query's own duplicates.
    let mut copies: HashMap<[u8; 32], usize> = HashMap::new();
    for record in records {
        *copies.entry(record.sha256).or_default() += 1;
    }

    let query_step = query_step.max(1);
    let queries: Vec<usize> = (0..records.len()).filter(|&i| label_of[i].is_some()).step_by(query_step).collect();
    let per_query: Vec<(Vec<f64>, f64, usize)> = queries
        .into_par_iter()
        .map(|i| -> Result<_, IndexError> {
            let label = label_of[i];
            let fetch = depth + copies[&records[i].sha256];
            let neighbours = index.search(index.store().vector(i), fetch)?;

            let mut duplicates = 0;
            let relevant: Vec<bool> = neighbours
                .iter()
                .filter(|n| {
                    let same = records[n.index].sha256 == records[i].sha256;
                    duplicates += usize::from(same && n.index != i);
                    !same
                })
                .take(depth)
                .map(|n| label_of[n.index] == label)
                .collect();

            let precisions =
                ks.iter().map(|&k| relevant.iter().take(k).filter(|&&r| r).count() as f64 / k as f64).collect();
            Ok((precisions, average_precision(&relevant), duplicates))
        })
        .collect::<Result<_, _>>()?;

    let queries = per_query.len();
    let mean = |values: &mut dyn Iterator<Item = f64>| values.sum::<f64>() / queries.max(1) as f64;
    let precision = ks.iter().enumerate().map(|(j, &k)| (k, mean(&mut per_query.iter().map(|q| q.0[j])))).collect();
    Ok(Evaluation {
        queries,
        query_step,
        precision,
        mean_average_precision: mean(&mut per_query.iter().map(|q| q.1)),
        map_depth: depth,
        unlabelled: label_of.iter().filter(|l| l.is_none()).count(),
        duplicates_skipped: per_query.iter().map(|q| q.2).sum(),
    })
}

/// Average precision of a ranked relevance list: the mean of precision@r
/// over the ranks r that hold a relevant result, 0 when none does.
pub fn average_precision(relevant: &[bool]) -> f64 {
    let mut hits = 0;
    let mut sum = 0.0;
    for (rank, &is_relevant) in relevant.iter().enumerate() {
        if is_relevant {
            hits += 1;
            sum += hits as f64 / (rank + 1) as f64;
        }
    }
    if hits == 0 {
        0.0
    } else {
        sum / hits as f64
    }
}

#[cfg(test)]
mod tests {
    use super::average_precision;

    #[test]
    fn average_precision_of_known_rankings() {
        assert_eq!(average_precision(&[true, true, true]), 1.0);
        assert_eq!(average_precision(&[false, false]), 0.0);
        // Hits at ranks 2 and 4: (1/2 + 2/4) / 2.
        assert!((average_precision(&[false, true, false, true]) - 0.5).abs() < 1e-12);
    }
}
