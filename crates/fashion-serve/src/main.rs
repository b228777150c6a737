//! `fashion-serve`: serve the upload-and-rate page for one index.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use fashion_serve::uploads::UploadPolicy;
use fashion_serve::{AppState, ServeConfig};

const NAME: &str = "fashion-serve";

#[derive(Parser)]
#[command(name = NAME, version, about = "Serve a web page that finds catalogue images similar to an uploaded photo and records ratings")]
struct Cli {
    /// Index file built by `fashion-index build`.
    #[arg(long, value_name = "PATH")]
    index: PathBuf,

    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    bind: SocketAddr,

    /// Weights file of the index's model [default: $FASHION_MODELS_DIR/MODEL.safetensors, else models/cache/MODEL.safetensors].
    #[arg(long, value_name = "PATH")]
    weights: Option<PathBuf>,

    /// Number of results per search.
    #[arg(short, default_value_t = fashion_serve::state::DEFAULT_K, value_name = "K")]
    k: usize,

    /// SQLite ratings database, created when missing [default: INDEX.ratings.sqlite].
    #[arg(long, value_name = "PATH")]
    ratings: Option<PathBuf>,

    /// Folder for uploaded photos, created when missing [default: INDEX.uploads].
    #[arg(long, value_name = "PATH")]
    upload_dir: Option<PathBuf>,

    /// Largest accepted photo, in bytes.
    #[arg(long, default_value_t = fashion_serve::state::DEFAULT_MAX_UPLOAD_BYTES, value_name = "N")]
    max_upload_bytes: usize,

    /// Largest accepted photo, in pixels (width x height) [default: the indexer's limit].
    #[arg(long, value_name = "N")]
    max_pixels: Option<u64>,

    /// Maximum number of stored uploads; the oldest are deleted first.
    #[arg(long, default_value_t = UploadPolicy::default().max_files, value_name = "N")]
    max_uploads: usize,

    /// Delete uploads last sent longer ago than this, in hours.
    #[arg(long, default_value_t = 24, value_name = "HOURS")]
    upload_max_age_hours: u64,

    /// Print debug logs, one line per request (same as RUST_LOG=debug).
    #[arg(short, long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = if cli.verbose { "debug" } else { "info" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default)).init();

    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{NAME}: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    anyhow::ensure!(cli.k > 0, "invalid -k 0: expected at least 1");
    anyhow::ensure!(cli.max_uploads > 0, "invalid --max-uploads 0: expected at least 1");

    let mut config = ServeConfig::new(&cli.index);
    config.weights = cli.weights;
    config.k = cli.k;
    config.max_upload_bytes = cli.max_upload_bytes;
    config.upload_policy = UploadPolicy {
        max_files: cli.max_uploads,
        max_age: Duration::from_secs(cli.upload_max_age_hours.saturating_mul(3600)),
    };
    if let Some(ratings) = cli.ratings {
        config.ratings = ratings;
    }
    if let Some(upload_dir) = cli.upload_dir {
        config.upload_dir = upload_dir;
    }
    if let Some(max_pixels) = cli.max_pixels {
        config.max_pixels = max_pixels;
    }

    let state = Arc::new(AppState::load(&config)?);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(serve(state, cli.bind, &config.index))
}

async fn serve(state: Arc<AppState>, bind: SocketAddr, index: &std::path::Path) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr()?;

    log::info!(
        "serving http://{addr}/ : index {} ({} images in {}, {} labels), model {} ({}), ratings {}, uploads {}",
        index.display(),
        state.engine.index().len(),
        state.catalogue.root().display(),
        state.catalogue.label_count(),
        state.engine.architecture(),
        state.engine.weights().display(),
        state.ratings.path().display(),
        state.uploads.path().display(),
    );

    let server = fashion_serve::start(state, listener)?;
    tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
    log::info!("Ctrl-C received, finishing open requests");
    server.stop().await.context("server failed")?;
    log::info!("stopped");
    Ok(())
}
