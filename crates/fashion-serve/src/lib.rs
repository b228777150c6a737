//! `fashion-serve`: a web page that takes a photo, shows the most similar
//! catalogue images, and lets the user rate each result and the whole result set
//! with 1 to 5 stars. Ratings go to SQLite and survive restarts.
//!
//! The binary loads the index and its model once; requests embed and search
//! on tokio's blocking thread pool. See `README.md` for the endpoints and the
//! upload policy.
//!
//! Tests: `cargo test --release -p fashion-serve` runs the HTTP tests, which
//! build a 10-photo index from `dataset/` and need the efficientnet-lite0
//! weights in `models/cache/`. `cargo test --release -p fashion-serve -- --ignored`
//! also runs the browser test, which needs `/usr/bin/chromium` and
//! `/usr/bin/chromedriver` (`./just test-browser` installs them).

pub mod catalogue;
pub mod engine;
pub mod error;
pub mod http;
pub mod ratings;
pub mod state;
pub mod uploads;

pub use error::{ApiError, StartError};
pub use http::{router, start, RunningServer};
pub use state::{AppState, ServeConfig};
