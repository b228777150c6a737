//! `fashion-eval`: leave-one-out retrieval quality of an index against the
//! category labels of its catalogue.
//!
//! Every labelled image queries the index; it and its byte-identical copies
//! are left out of its own results. Prints precision@k for each k and the
//! mean average precision over the deepest k. Exit status: 0 on success, 2
//! on error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use fashion_core::eval::{evaluate, read_labels};
use fashion_core::index::{index_path, Index};
use fashion_store::PayloadCheck;

const NAME: &str = "fashion-eval";

#[derive(Parser)]
#[command(
    name = NAME,
    version,
    about = "Measure leave-one-out precision@k of an index against category labels",
    after_help = "Exit status: 0 on success, 2 on error."
)]
struct Cli {
    /// Index file [default: $FASHION_INDEX, else fashion.fidx]
    index: Option<PathBuf>,

    /// CSV file with a `file` column (path relative to the catalogue) and
    /// the label column [default: labels.csv in the indexed catalogue].
    #[arg(long, value_name = "PATH")]
    labels: Option<PathBuf>,

    /// Column holding the category.
    #[arg(long, default_value = "articleType", value_name = "NAME")]
    label_column: String,

    /// Cut-offs, comma-separated.
    #[arg(short, value_delimiter = ',', default_value = "5,10", value_name = "K")]
    k: Vec<usize>,

    /// Use every N-th labelled image as a query, to sample a large catalogue;
    /// all images remain candidate results.
    #[arg(long, default_value_t = 1, value_name = "N")]
    query_step: usize,

    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{NAME}: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    anyhow::ensure!(cli.k.iter().all(|&k| k > 0), "invalid -k: every cut-off must be at least 1");
    let path = index_path(cli.index.as_deref());
    let index = Index::open(&path, PayloadCheck::Verify)?;
    let candidates = index.len().saturating_sub(1);
    if let Some(&deepest) = cli.k.iter().max() {
        anyhow::ensure!(
            deepest <= candidates,
            "invalid -k {deepest}: {} holds {} images, so a query has at most {candidates} others to rank",
            path.display(),
            index.len()
        );
    }
    let labels_path = cli.labels.unwrap_or_else(|| index.store().header().catalogue_root.join("labels.csv"));
    let labels = read_labels(&labels_path, &cli.label_column)?;

    let started = Instant::now();
    anyhow::ensure!(cli.query_step > 0, "invalid --query-step 0: expected at least 1");
    let evaluation = evaluate(&index, &labels, &cli.k, cli.query_step)?;
    anyhow::ensure!(
        evaluation.queries > 0,
        "{}: no indexed image has a label in {}; do its `file` paths match the index's (relative to {})?",
        labels_path.display(),
        labels_path.display(),
        index.store().header().catalogue_root.display()
    );

    let fingerprint = index.fingerprint();
    if cli.json {
        let mut value = serde_json::to_value(&evaluation)?;
        value["index"] = path.display().to_string().into();
        value["model"] = fingerprint.architecture.clone().into();
        value["resize"] = fingerprint.resize.clone().into();
        value["label_column"] = cli.label_column.clone().into();
        value["seconds"] = started.elapsed().as_secs_f64().into();
        println!("{value}");
    } else {
        println!("model {} (resize {}), {} queries", fingerprint.architecture, fingerprint.resize, evaluation.queries);
        for (k, precision) in &evaluation.precision {
            println!("precision@{k}\t{precision:.4}");
        }
        println!("mAP@{}\t{:.4}", evaluation.map_depth, evaluation.mean_average_precision);
        eprintln!(
            "{NAME}: {} unlabelled images, {} byte-identical results skipped, {:.1} s",
            evaluation.unlabelled,
            evaluation.duplicates_skipped,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
