//! `fashion-query`: print the catalogue images most similar to each query
//! photo, nearest first, for use from shell scripts.
//!
//! Output: one `DISTANCE<TAB>PATH` line per result; with several queries,
//! or queries read from stdin, each line starts with `QUERY<TAB>`. `--json`
//! prints JSON Lines instead.
//!
//! Exit status: 0 when results were printed, 1 when no result passed
//! `--max-distance`, 2 on any error (a query that fails is reported and the
//! others still run), including an empty query list or an empty index. A
//! closed stdout, as with `| head -1`, ends the run quietly with the status
//! so far.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Parser;
use fashion_core::error::error_chain as chain;
use fashion_core::index::{index_path, Index};
use fashion_core::pipeline::{parse_resize_mode, prepare_file};
use fashion_core::weights::sha256_file;
use fashion_core::{resolve_weights, Architecture, DecodeOptions, Embedder};
use fashion_store::PayloadCheck;

const NAME: &str = "fashion-query";

/// Queries embedded per model call.
const QUERY_BATCH: usize = 16;

#[derive(Parser)]
#[command(
    name = NAME,
    version,
    about = "Find the catalogue images most similar to a photo",
    after_help = "Exit status: 0 when results were printed, 1 when no result passed --max-distance, 2 on any error \
                  (a query that fails is reported and the others still run)."
)]
struct Cli {
    /// Query image files; `-` reads one path per line from stdin.
    #[arg(required = true, value_name = "QUERY")]
    queries: Vec<PathBuf>,

    /// Number of results per query.
    #[arg(short, default_value_t = 5, value_name = "K")]
    k: usize,

    /// Index file [default: $FASHION_INDEX, else fashion.fidx]
    #[arg(long, value_name = "PATH")]
    index: Option<PathBuf>,

    /// Weights file of the index's model [default: $FASHION_MODELS_DIR/MODEL.safetensors, else models/cache/MODEL.safetensors].
    #[arg(long, value_name = "PATH")]
    weights: Option<PathBuf>,

    /// Print only results at most this Euclidean distance away (0 to 2 for unit vectors).
    #[arg(long, value_name = "D")]
    max_distance: Option<f32>,

    /// Leave out catalogue images whose content is byte-identical to the query.
    #[arg(long)]
    exclude_self: bool,

    /// Worker threads [default: number of CPUs].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// Largest query image accepted, in pixels (width x height), checked before decoding.
    #[arg(long, default_value_t = fashion_image::DEFAULT_MAX_PIXELS, value_name = "N")]
    max_pixels: u64,

    /// Print JSON Lines: {"distance", "path", "query", "rank"}.
    #[arg(long)]
    json: bool,

    /// Print debug logs on stderr (same as RUST_LOG=debug).
    #[arg(short, long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = if cli.verbose { "debug" } else { "warn" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default)).format_target(false).init();

    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{NAME}: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Outcome counters that decide the exit status.
#[derive(Default)]
struct Tally {
    printed: usize,
    failed: usize,
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(threads) = cli.threads {
        anyhow::ensure!(threads > 0, "invalid --threads 0: expected at least 1");
        rayon::ThreadPoolBuilder::new().num_threads(threads).build_global()?;
    }
    anyhow::ensure!(cli.k > 0, "invalid -k 0: expected at least 1");
    if let Some(max) = cli.max_distance {
        anyhow::ensure!(max.is_finite() && max >= 0.0, "invalid --max-distance {max}: expected a number >= 0");
    }

    let queries = collect_queries(&cli.queries)?;
    anyhow::ensure!(!queries.is_empty(), "no query paths on stdin: expected one image path per line");
    let index = open_index(cli.index.as_deref())?;
    let embedder = load_model(&index, cli.weights.as_deref())?;
    let resize = parse_resize_mode(&index.fingerprint().resize)
        .with_context(|| format!("unknown resize mode `{}` in the index", index.fingerprint().resize))?;
    let name_queries = queries.len() > 1 || cli.queries.iter().any(|q| q.as_os_str() == "-");
    let decode = DecodeOptions { max_pixels: cli.max_pixels, ..DecodeOptions::default() };

    let mut tally = Tally::default();
    let mut out = io::BufWriter::new(io::stdout().lock());
    for batch in queries.chunks(QUERY_BATCH) {
        let prepared: Vec<_> =
            batch.iter().map(|path| prepare_file(path, &decode, embedder.input_size(), resize)).collect();
        let images: Vec<_> = prepared.iter().filter_map(|p| p.as_ref().ok()).map(|p| &p.image).collect();
        let mut vectors = embedder.embed(&images)?.into_iter();

        for (query, outcome) in batch.iter().zip(&prepared) {
            let prepared = match outcome {
                Ok(prepared) => prepared,
                Err(error) => {
                    tally.failed += 1;
                    eprintln!("{NAME}: {}: {}", query.display(), chain(error));
                    continue;
                }
            };
            let vector = vectors.next().expect("one vector per decoded query");

            // Fetch extra neighbours when some may be dropped as copies of the query.
            let extra = if cli.exclude_self { index.len().min(64) } else { 0 };
            let neighbours = index.search(&vector, cli.k + extra)?;
            let results = neighbours
                .into_iter()
                .filter(|n| !cli.exclude_self || index.store().records()[n.index].sha256 != prepared.sha256)
                .filter(|n| cli.max_distance.is_none_or(|max| n.distance <= max))
                .take(cli.k);

            for (rank, neighbour) in results.enumerate() {
                let path = index.display_path(neighbour.index);
                let written = if cli.json {
                    let line = serde_json::json!({
                        "query": query.display().to_string(),
                        "rank": rank + 1,
                        "path": path.display().to_string(),
                        "distance": neighbour.distance,
                    });
                    writeln!(out, "{line}")
                } else {
                    write_text_line(&mut out, name_queries.then_some(query.as_path()), neighbour.distance, &path)
                };
                if stdout_closed(written)? {
                    return Ok(exit_code(&tally));
                }
                tally.printed += 1;
            }
        }
    }
    if stdout_closed(out.flush())? {
        return Ok(exit_code(&tally));
    }
    Ok(exit_code(&tally))
}

fn exit_code(tally: &Tally) -> ExitCode {
    if tally.failed > 0 {
        ExitCode::from(2)
    } else if tally.printed == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes one `[QUERY<TAB>]DISTANCE<TAB>PATH` line. Paths are written as
/// their raw bytes on Unix, so a file name that is not UTF-8 can be passed
/// back to another command. JSON output can only replace such bytes with
/// U+FFFD.
fn write_text_line(out: &mut impl Write, query: Option<&Path>, distance: f32, path: &Path) -> io::Result<()> {
    if let Some(query) = query {
        write_path(out, query)?;
        out.write_all(b"\t")?;
    }
    write!(out, "{distance:.6}\t")?;
    write_path(out, path)?;
    out.write_all(b"\n")
}

#[cfg(unix)]
fn write_path(out: &mut impl Write, path: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    out.write_all(path.as_os_str().as_bytes())
}

#[cfg(not(unix))]
fn write_path(out: &mut impl Write, path: &Path) -> io::Result<()> {
    write!(out, "{}", path.display())
}

/// Returns `Ok(true)` when the reader of stdout has gone away, which is not an error.
fn stdout_closed(result: io::Result<()>) -> anyhow::Result<bool> {
    match result {
        Ok(()) => Ok(false),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(true),
        Err(error) => Err(error).context("cannot write to stdout"),
    }
}

/// Expands `-` into the paths listed on stdin, one per line.
fn collect_queries(arguments: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut queries = Vec::new();
    for argument in arguments {
        if argument.as_os_str() != "-" {
            queries.push(argument.clone());
            continue;
        }
        if io::stdin().is_terminal() {
            log::debug!("reading query paths from the terminal; end with Ctrl-D");
        }
        for line in io::stdin().lock().split(b'\n') {
            let mut line = line.context("cannot read query paths from stdin")?;
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if !line.is_empty() {
                queries.push(path_from_line(line)?);
            }
        }
    }
    Ok(queries)
}

/// Converts one line of stdin to a path. On Unix the raw bytes become the
/// path, so names that are not UTF-8 work. Elsewhere the line must be UTF-8.
#[cfg(unix)]
fn path_from_line(line: Vec<u8>) -> anyhow::Result<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    Ok(PathBuf::from(std::ffi::OsString::from_vec(line)))
}

#[cfg(not(unix))]
fn path_from_line(line: Vec<u8>) -> anyhow::Result<PathBuf> {
    let line = String::from_utf8(line).context("invalid query path on stdin: not UTF-8")?;
    Ok(PathBuf::from(line))
}

/// Opens the index without checking the payload checksum, which would read
/// every vector before the first query. `fashion-index verify` checks it.
fn open_index(explicit: Option<&Path>) -> anyhow::Result<Index> {
    let path = index_path(explicit);
    let index = Index::open(&path, PayloadCheck::Skip)?;

    if index.is_empty() {
        bail!("{}: the index is empty; rebuild it from a folder of images with `fashion-index build`", path.display());
    }
    Ok(index)
}

/// Loads the model the index was built with and checks that the weights
/// file is the very one.
fn load_model(index: &Index, explicit: Option<&Path>) -> anyhow::Result<Embedder> {
    let fingerprint = index.fingerprint();
    let architecture: Architecture = fingerprint.architecture.parse()?;
    let weights = resolve_weights(architecture, explicit)?;

    let sha256 = sha256_file(&weights)?;
    if sha256 != fingerprint.weights_sha256 {
        bail!(
            "{}: these weights (sha256 {sha256}) are not the {architecture} weights the index was built with \
             (sha256 {}); pass the original file with --weights or rebuild the index",
            weights.display(),
            fingerprint.weights_sha256
        );
    }
    let embedder = Embedder::load(architecture, &weights, &fingerprint.resize)?;
    debug_assert_eq!(embedder.fingerprint(), fingerprint);
    Ok(embedder)
}
