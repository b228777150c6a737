//! Measures embedding time per image at a given batch size.
//!
//! `cargo run --release -p fashion-core --example bench_embed -- MODEL WEIGHTS BATCH ROUNDS [IMAGE]`
//!
//! Prints one JSON line: model, batch size, rounds, rayon threads, the
//! median and minimum wall-clock milliseconds per image over the timed
//! rounds (after one warm-up round), and the process CPU milliseconds per
//! image over the same rounds. CPU time counts the work of all threads
//! together, so on a machine shared with other jobs it varies much less
//! than wall time. Without IMAGE, a deterministic gradient image is used.
//!
//! `RAYON_NUM_THREADS` sets the number of threads.

use std::path::Path;
use std::time::{Duration, Instant};

use fashion_core::{Architecture, Embedder};
use image::imageops::FilterType;
use image::RgbImage;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, weights, batch, rounds, rest @ ..] = args.as_slice() else {
        return Err("usage: bench_embed MODEL WEIGHTS BATCH ROUNDS [IMAGE]".into());
    };
    let architecture: Architecture = model.parse()?;
    let batch: usize = batch.parse()?;
    let rounds: usize = rounds.parse()?;
    if batch == 0 || rounds == 0 {
        return Err("BATCH and ROUNDS must be at least 1".into());
    }
    let embedder = Embedder::load(architecture, Path::new(weights), "squash")?;
    let size = embedder.input_size();

    let image = match rest.first() {
        Some(path) => image::imageops::resize(&image::open(path)?.to_rgb8(), size, size, FilterType::Triangle),
        None => RgbImage::from_fn(size, size, |x, y| image::Rgb([x as u8, y as u8, (x ^ y) as u8])),
    };
    let images: Vec<&RgbImage> = vec![&image; batch];

    embedder.embed(&images)?;
    let cpu_start = process_cpu_time();
    let mut per_image_ms = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        embedder.embed(&images)?;
        per_image_ms.push(start.elapsed().as_secs_f64() * 1e3 / batch as f64);
    }
    let cpu_ms = match (cpu_start, process_cpu_time()) {
        (Some(start), Some(end)) => format!("{:.2}", (end - start).as_secs_f64() * 1e3 / (batch * rounds) as f64),
        _ => "null".to_owned(),
    };
    per_image_ms.sort_by(f64::total_cmp);

    let threads = rayon::current_num_threads();
    let (median, min) = (per_image_ms[rounds / 2], per_image_ms[0]);
    println!(
        "{{\"model\":\"{model}\",\"batch\":{batch},\"rounds\":{rounds},\"threads\":{threads},\
         \"median_ms_per_image\":{median:.2},\"min_ms_per_image\":{min:.2},\"cpu_ms_per_image\":{cpu_ms}}}"
    );
    Ok(())
}

/// User plus system CPU time of the whole process so far, or `None` where
/// it cannot be read.
#[cfg(unix)]
fn process_cpu_time() -> Option<Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes a complete `rusage` into the pointer it gets
    // and returns 0 on success, the only case in which it is read.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let duration = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Some(duration(usage.ru_utime) + duration(usage.ru_stime))
}

#[cfg(not(unix))]
fn process_cpu_time() -> Option<Duration> {
    None
}
