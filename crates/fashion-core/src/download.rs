//! Downloading weights that no package registry ships: torchvision's
//! ImageNet ResNet-50, as published on the Hugging Face hub by timm
//! (`timm/resnet50.tv_in1k`, same tensor names as torchvision).
//!
//! The file is streamed to a temporary file beside the destination, loaded
//! as a ResNet-50 to prove it is one, and only then renamed into place.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use candle_core::Device;
use sha2::{Digest, Sha256};

use crate::error::EmbedError;
use crate::models::resnet::ResNet50;
use crate::weights::{hex, Weights};

/// Environment variable naming the hub's base URL, as the `huggingface_hub`
/// Python package reads it; `https://huggingface.co` when unset.
pub const HUB_ENDPOINT_ENV: &str = "HF_ENDPOINT";

const DEFAULT_HUB_ENDPOINT: &str = "https://huggingface.co";
const RESNET50_REPO_FILE: &str = "timm/resnet50.tv_in1k/resolve/main/model.safetensors";

/// Returns the download URL of the ResNet-50 weights under `$HF_ENDPOINT`.
pub fn resnet50_url() -> String {
    let endpoint = std::env::var(HUB_ENDPOINT_ENV).unwrap_or_else(|_| DEFAULT_HUB_ENDPOINT.to_owned());
    format!("{}/{RESNET50_REPO_FILE}", endpoint.trim_end_matches('/'))
}

/// Downloads `url` to `dest` atomically and returns the SHA-256 of the file.
/// `progress` receives the bytes received so far and the total when known.
pub fn download(url: &str, dest: &Path, mut progress: impl FnMut(u64, Option<u64>)) -> Result<String, EmbedError> {
    let failed = |message: String| EmbedError::Download { url: url.to_owned(), message };
    let io_failed = |source: io::Error| EmbedError::WeightsIo { path: dest.to_owned(), source };

    let response = ureq::get(url).call().map_err(|e| failed(e.to_string()))?;
    let total = response.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse().ok());
    let mut body = response.into_body().into_reader();

    let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_failed)?;
    let temp = TempFile::new(dest);
    let mut file = File::create(&temp.path).map_err(io_failed)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut received = 0u64;
    loop {
        let n = body.read(&mut buffer).map_err(|e| failed(format!("connection failed after {received} bytes: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).map_err(io_failed)?;
        received += n as u64;
        progress(received, total);
    }
    if let Some(total) = total.filter(|&t| t != received) {
        return Err(failed(format!("received {received} of {total} bytes")));
    }
    file.sync_all().map_err(io_failed)?;
    drop(file);

    std::fs::rename(&temp.path, dest).map_err(io_failed)?;
    temp.disarm();
    Ok(hex(&hasher.finalize()))
}

/// Downloads the ResNet-50 weights from `url` to `dest` and checks that
/// they load as a torchvision ResNet-50. Returns the file's SHA-256.
pub fn fetch_resnet50(url: &str, dest: &Path, progress: impl FnMut(u64, Option<u64>)) -> Result<String, EmbedError> {
    let staging = {
        let mut name = dest.as_os_str().to_owned();
        name.push(".download");
        PathBuf::from(name)
    };
    let sha256 = download(url, &staging, progress).map_err(|error| match error {
        EmbedError::Download { url, message } => EmbedError::Download {
            url,
            message: format!(
                "{message}; without internet access, download {RESNET50_REPO_FILE} from the Hugging Face hub \
                 on another machine and pass the file with --weights PATH"
            ),
        },
        other => other,
    })?;

    let check = Weights::load(&staging, &Device::Cpu).and_then(|weights| ResNet50::load(&weights));
    if let Err(error) = check {
        let _ = std::fs::remove_file(&staging);
        return Err(error);
    }
    std::fs::rename(&staging, dest).map_err(|source| EmbedError::WeightsIo { path: dest.to_owned(), source })?;
    Ok(sha256)
}

/// A temporary path next to a destination, removed on drop unless disarmed.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    fn new(dest: &Path) -> Self {
        let mut name = dest.as_os_str().to_owned();
        name.push(format!(".part-{}", std::process::id()));
        Self { path: PathBuf::from(name), armed: true }
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
