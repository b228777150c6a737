//! Real-browser test of the page: headless Chromium driven over WebDriver.
//!
//! Ignored by default because it needs `/usr/bin/chromium` and
//! `/usr/bin/chromedriver` (Debian packages `chromium` and `chromium-driver`).
//! Run it with `./just test-browser`, which installs them when missing, or
//! `cargo test --release -p fashion-serve -- --ignored`. It saves
//! `target/browser-screenshot.png` (desktop width) and
//! `target/browser-screenshot-phone.png` (phone width).

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{repository_root, start_server, Fixture};
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const TIMEOUT: Duration = Duration::from_secs(60);

/// A chromedriver process, killed on drop.
struct Chromedriver {
    process: Child,
    port: u16,
}

impl Chromedriver {
    fn start() -> Self {
        assert!(
            Path::new(CHROMEDRIVER).is_file() && Path::new(CHROMIUM).is_file(),
            "{CHROMEDRIVER} or {CHROMIUM} missing; install them with \
             `apt-get install -y chromium chromium-driver` or run `./just test-browser`"
        );
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let process = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        Self { process, port }
    }

    async fn connect(&self, user_data_dir: &Path) -> Client {
        let capabilities = serde_json::json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", user_data_dir.display()),
                ],
            }
        });
        let capabilities = capabilities.as_object().unwrap().clone();

        // chromedriver needs a moment before it accepts connections.
        let started = Instant::now();
        loop {
            let attempt = ClientBuilder::native()
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{}", self.port))
                .await;
            match attempt {
                Ok(client) => return client,
                Err(error) if started.elapsed() < Duration::from_secs(20) => {
                    log_retry(&error);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("cannot start a chromium session: {error}"),
            }
        }
    }
}

fn log_retry(error: &dyn std::error::Error) {
    eprintln!("chromedriver not ready yet: {error}");
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Returns the number of lit stars of the star widget at `selector`.
async fn lit_stars(client: &Client, selector: &str) -> usize {
    client.find_all(Locator::Css(&format!("{selector} button.on"))).await.unwrap().len()
}

/// Polls until the widget at `selector` shows `stars` lit stars.
async fn wait_for_stars(client: &Client, selector: &str, stars: usize) {
    let started = Instant::now();
    while lit_stars(client, selector).await != stars {
        assert!(started.elapsed() < TIMEOUT, "{selector} never showed {stars} stars");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver; run with ./just test-browser"]
async fn page_upload_rate_reload() {
    let fixture = Fixture::new();
    let server = start_server(&fixture.config).await;
    let driver = Chromedriver::start();
    let profile = tempfile::tempdir().unwrap();
    let client = driver.connect(profile.path()).await;
    client.set_window_size(1200, 1000).await.unwrap();

    client.goto(&format!("http://{}/", server.addr)).await.unwrap();
    let query = fixture.catalogue.join(&fixture.photo_paths()[2]);
    client.find(Locator::Css("#photo-input")).await.unwrap().send_keys(&query.display().to_string()).await.unwrap();

    client.wait().at_most(TIMEOUT).for_element(Locator::Css("#grid .result")).await.unwrap();
    let results = client.find_all(Locator::Css("#grid .result")).await.unwrap();
    assert_eq!(results.len(), fashion_serve::state::DEFAULT_K);
    let first_name = client.find(Locator::Css("#grid .result .name")).await.unwrap().text().await.unwrap();
    assert!(!first_name.is_empty());

    let second = "#grid .result:nth-child(2) .stars";
    client.find(Locator::Css(&format!("{second} button[data-value='4']"))).await.unwrap().click().await.unwrap();
    wait_for_stars(&client, second, 4).await;
    let set = "#set-rating .stars";
    client.find(Locator::Css(&format!("{set} button[data-value='5']"))).await.unwrap().click().await.unwrap();
    wait_for_stars(&client, set, 5).await;

    client.refresh().await.unwrap();
    client.wait().at_most(TIMEOUT).for_element(Locator::Css("#grid .result")).await.unwrap();
    wait_for_stars(&client, second, 4).await;
    wait_for_stars(&client, set, 5).await;
    assert_eq!(lit_stars(&client, "#grid .result:nth-child(1) .stars").await, 0);

    let error = client.find(Locator::Css("#error")).await.unwrap();
    assert!(!error.is_displayed().await.unwrap(), "no error shown: {}", error.text().await.unwrap());

    // Let the thumbnails finish loading before the screenshot.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Screenshots go to the build directory, wherever CARGO_TARGET_DIR puts it.
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repository_root().join("target"), PathBuf::from);
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("browser-screenshot.png"), client.screenshot().await.unwrap()).unwrap();
    client.set_window_size(390, 1400).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(target.join("browser-screenshot-phone.png"), client.screenshot().await.unwrap()).unwrap();

    client.close().await.unwrap();
    server.stop().await.unwrap();
}
