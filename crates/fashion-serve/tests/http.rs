//! HTTP-level tests: the real server on 127.0.0.1 with a 10-photo index,
//! driven with reqwest, and with raw requests where reqwest would normalise
//! the URL.

mod common;

use std::net::SocketAddr;

use common::{start_server, Fixture};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

async fn upload(addr: SocketAddr, bytes: Vec<u8>, file_name: &str) -> reqwest::Response {
    let form = Form::new().part("photo", Part::bytes(bytes).file_name(file_name.to_owned()));
    reqwest::Client::new().post(url(addr, "/api/search")).multipart(form).send().await.unwrap()
}

async fn rate(addr: SocketAddr, body: Value) -> reqwest::Response {
    reqwest::Client::new().post(url(addr, "/api/ratings")).json(&body).send().await.unwrap()
}

/// Checks that `response` has `status` and a JSON `error` message, and returns the message.
async fn expect_error(response: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status, "unexpected status for {}", response.url());
    let body: Value = response.json().await.expect("error bodies are JSON");
    let message = body["error"].as_str().expect("error body has a message").to_owned();
    assert!(!message.is_empty());
    message
}

/// Sends `GET target` byte for byte, as reqwest would resolve `..` first,
/// and returns the status code and body.
async fn raw_get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();

    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("HTTP status line");
    (status, response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_returns_ranked_results() {
    let fixture = Fixture::new();
    let server = start_server(&fixture.config).await;
    let query = &fixture.photo_paths()[3];

    let response = upload(server.addr, fixture.photo_bytes(query), "../../evil name.jpg").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();

    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), fashion_serve::state::DEFAULT_K);
    assert_eq!(results[0]["path"], query.as_str(), "a catalogue photo finds itself first");
    assert!(results[0]["distance"].as_f64().unwrap() < 1e-3);
    for (position, result) in results.iter().enumerate() {
        assert_eq!(result["rank"], position + 1);
        assert!(result["name"].as_str().is_some_and(|name| !name.is_empty()), "labels give names: {result}");
        assert!(result["category"].as_str().is_some(), "labels give article types: {result}");
        assert!(result["stars"].is_null());
    }
    let distances: Vec<f64> = results.iter().map(|result| result["distance"].as_f64().unwrap()).collect();
    assert!(distances.windows(2).all(|pair| pair[0] <= pair[1]), "nearest first: {distances:?}");

    let image = reqwest::get(url(server.addr, results[1]["url"].as_str().unwrap())).await.unwrap();
    assert_eq!(image.status(), StatusCode::OK);
    assert_eq!(image.headers()["content-type"], "image/jpeg");
    assert_eq!(image.bytes().await.unwrap(), fixture.photo_bytes(results[1]["path"].as_str().unwrap()));

    let sha256 = body["query_sha256"].as_str().unwrap();
    let (_, uploads) = fixture.written_state();
    assert_eq!(uploads, vec![sha256.to_owned()], "the upload is stored under its digest, not the client's name");
    let stored = reqwest::get(url(server.addr, body["query_url"].as_str().unwrap())).await.unwrap();
    assert_eq!(stored.bytes().await.unwrap(), fixture.photo_bytes(query));

    let page = reqwest::get(url(server.addr, "/")).await.unwrap().text().await.unwrap();
    assert!(page.contains("/assets/app.js"));

    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ratings_survive_restart() {
    let fixture = Fixture::new();
    let server = start_server(&fixture.config).await;
    let query = &fixture.photo_paths()[0];

    let body: Value = upload(server.addr, fixture.photo_bytes(query), "q.jpg").await.json().await.unwrap();
    let sha256 = body["query_sha256"].as_str().unwrap().to_owned();
    let second = body["results"][1]["path"].as_str().unwrap().to_owned();

    let created = rate(server.addr, json!({ "query_sha256": sha256, "path": second, "stars": 2 })).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created = rate(server.addr, json!({ "query_sha256": sha256, "path": second, "stars": 4 })).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created = rate(server.addr, json!({ "query_sha256": sha256, "path": null, "stars": 5 })).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    server.stop().await.unwrap();

    let server = start_server(&fixture.config).await;
    let again: Value =
        reqwest::get(url(server.addr, &format!("/api/search/{sha256}"))).await.unwrap().json().await.unwrap();
    assert_eq!(again["set_stars"], 5);
    assert_eq!(again["results"][1]["path"], second.as_str());
    assert_eq!(again["results"][1]["stars"], 4, "the latest rating of a result is shown");
    assert!(again["results"][0]["stars"].is_null());

    let summary: Value = reqwest::get(url(server.addr, "/api/ratings/summary")).await.unwrap().json().await.unwrap();
    assert_eq!(summary["count"], 3);
    assert_eq!(summary["items"][0]["path"], second.as_str());
    assert_eq!(summary["items"][0]["count"], 2);
    assert_eq!(summary["items"][0]["mean_stars"], 3.0);

    let csv = reqwest::get(url(server.addr, "/ratings.csv")).await.unwrap();
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,query_sha256,result_path,stars,rated_at");
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[1].starts_with(&format!("1,{sha256},{second},2,")), "{}", lines[1]);
    assert!(lines[3].starts_with(&format!("3,{sha256},,5,")), "{}", lines[3]);

    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_rejected_without_writes() {
    let mut fixture = Fixture::new();
    let photo = fixture.photo_bytes(&fixture.photo_paths()[0]);
    fixture.config.max_upload_bytes = photo.len() - 1;
    let server = start_server(&fixture.config).await;
    let before = fixture.written_state();

    let message =
        expect_error(upload(server.addr, photo.clone(), "big.jpg").await, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(message.contains("limit"), "{message}");

    // Far past the body limit, so axum rejects the request body itself.
    let huge = vec![0xff; photo.len() + 256 * 1024];
    expect_error(upload(server.addr, huge, "huge.jpg").await, StatusCode::PAYLOAD_TOO_LARGE).await;

    let truncated = photo[..photo.len() / 3].to_vec();
    let message = expect_error(upload(server.addr, truncated, "cut.jpg").await, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("corrupt"), "{message}");

    let text = b"name,price\nshirt,10\n".to_vec();
    let message = expect_error(upload(server.addr, text, "shirt.jpg").await, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert!(message.contains("text"), "{message}");

    expect_error(upload(server.addr, Vec::new(), "empty.jpg").await, StatusCode::BAD_REQUEST).await;

    let wrong_field = Form::new().part("file", Part::bytes(photo.clone()).file_name("a.jpg"));
    let response =
        reqwest::Client::new().post(url(server.addr, "/api/search")).multipart(wrong_field).send().await.unwrap();
    let message = expect_error(response, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("photo"), "{message}");

    let not_multipart = reqwest::Client::new().post(url(server.addr, "/api/search")).body(photo).send().await.unwrap();
    assert!(not_multipart.status().is_client_error(), "{}", not_multipart.status());

    assert_eq!(fixture.written_state(), before, "rejected uploads write nothing");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ratings_rejected_without_writes() {
    let fixture = Fixture::new();
    let server = start_server(&fixture.config).await;
    let paths = fixture.photo_paths();
    let body: Value = upload(server.addr, fixture.photo_bytes(&paths[0]), "q.jpg").await.json().await.unwrap();
    let sha256 = body["query_sha256"].as_str().unwrap().to_owned();
    let before = fixture.written_state();

    let cases = [
        (json!({ "query_sha256": sha256, "path": paths[0], "stars": 0 }), StatusCode::BAD_REQUEST),
        (json!({ "query_sha256": sha256, "path": paths[0], "stars": 6 }), StatusCode::BAD_REQUEST),
        (json!({ "query_sha256": sha256, "path": paths[0], "stars": -1 }), StatusCode::BAD_REQUEST),
        (json!({ "query_sha256": "abc", "path": paths[0], "stars": 3 }), StatusCode::BAD_REQUEST),
        (json!({ "query_sha256": sha256, "path": "images/none.jpg", "stars": 3 }), StatusCode::BAD_REQUEST),
        (json!({ "query_sha256": sha256, "path": "../labels.csv", "stars": 3 }), StatusCode::BAD_REQUEST),
        (json!({ "query_sha256": "0".repeat(64), "path": null, "stars": 3 }), StatusCode::NOT_FOUND),
        (json!({ "query_sha256": sha256, "stars": "five" }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "query_sha256": sha256, "stars": 3, "comment": "x" }), StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (body, status) in cases {
        let response = rate(server.addr, body.clone()).await;
        assert_eq!(response.status(), status, "{body}");
    }
    let not_json = reqwest::Client::new().post(url(server.addr, "/api/ratings")).body("stars=3").send().await.unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    assert_eq!(fixture.written_state(), before, "rejected ratings write nothing");
    assert_eq!(before.0, 0);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_serves_only_records() {
    let fixture = Fixture::new();
    let paths = fixture.photo_paths();

    // A record that became a link to a file outside the catalogue folder.
    let outside = fixture.dir.path().join("secret.jpg");
    std::fs::write(&outside, b"secret").unwrap();
    std::fs::remove_file(fixture.catalogue.join(&paths[1])).unwrap();
    std::os::unix::fs::symlink(&outside, fixture.catalogue.join(&paths[1])).unwrap();

    let server = start_server(&fixture.config).await;
    let before = fixture.written_state();

    let (status, _) = raw_get(server.addr, &format!("/catalogue/{}", paths[0])).await;
    assert_eq!(status, 200, "a record is served");

    let attempts = [
        ("/catalogue/../../etc/passwd", 400),
        ("/catalogue/images/../../../etc/passwd", 400),
        ("/catalogue/%2e%2e/%2e%2e/etc/passwd", 400),
        ("/catalogue/images%2f..%2f..%2fsecret.jpg", 400),
        ("/catalogue/%2Fetc%2Fpasswd", 400),
        ("/catalogue//etc/passwd", 400),
        ("/catalogue/labels.csv", 404),
        ("/catalogue/images/none.jpg", 404),
        ("/catalogue/%ff.jpg", 400),
    ];
    for (target, expected) in attempts {
        let (status, response) = raw_get(server.addr, target).await;
        assert_eq!(status, expected, "{target}: {response}");
        assert!(!response.contains("root:"), "{target} leaked a file");
    }

    let (status, response) = raw_get(server.addr, &format!("/catalogue/{}", paths[1])).await;
    assert_eq!(status, 403, "a link out of the catalogue is not followed: {response}");
    assert!(!response.ends_with("secret"), "the linked file is not sent: {response}");

    let (status, _) = raw_get(server.addr, "/uploads/..%2f..%2fsecret.jpg").await;
    assert_eq!(status, 404);

    assert_eq!(fixture.written_state(), before);
    server.stop().await.unwrap();
}
