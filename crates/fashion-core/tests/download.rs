//! The weights download, against a one-shot HTTP server on 127.0.0.1.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread;

use fashion_core::download::{download, fetch_resnet50};
use fashion_core::EmbedError;
use sha2::{Digest, Sha256};

/// Serves `response` to the first connection and returns the base URL.
fn serve_once(response: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let mut stream = stream;
        let _ = stream.write_all(&response);
    });
    format!("http://{address}")
}

fn ok_response(body: &[u8], declared_length: usize) -> Vec<u8> {
    let mut response =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {declared_length}\r\nConnection: close\r\n\r\n").into_bytes();
    response.extend_from_slice(body);
    response
}

#[test]
fn download_writes_file_and_returns_digest() {
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let url = serve_once(ok_response(&body, body.len()));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("weights.bin");

    let mut last = 0;
    let sha256 = download(&format!("{url}/model.safetensors"), &dest, |received, _| last = received).unwrap();

    assert_eq!(std::fs::read(&dest).unwrap(), body);
    let expected: String = Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(sha256, expected);
    assert_eq!(last, body.len() as u64);
}

#[test]
fn download_rejects_short_body() {
    let url = serve_once(ok_response(b"only part", 1000));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("weights.bin");

    let error = download(&url, &dest, |_, _| {}).unwrap_err();
    assert!(matches!(error, EmbedError::Download { .. }), "{error}");
    assert!(!dest.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temporary file left behind");
}

#[test]
fn download_reports_http_error_status() {
    let url = serve_once(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec());
    let dir = tempfile::tempdir().unwrap();

    let error = download(&format!("{url}/missing"), &dir.path().join("w"), |_, _| {}).unwrap_err();
    let EmbedError::Download { url: failed_url, message } = &error else { panic!("{error}") };
    assert_eq!(failed_url, &format!("{url}/missing"));
    assert!(message.contains("404"), "{message}");
}

#[test]
fn fetch_without_network_explains_the_workaround() {
    // Nothing listens on this port once the listener is dropped.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("resnet50.safetensors");

    let error = fetch_resnet50(&format!("http://127.0.0.1:{port}/x"), &dest, |_, _| {}).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("pass the file with --weights PATH"), "{message}");
    assert!(!dest.exists());
}

#[test]
fn fetch_rejects_file_that_is_not_resnet50() {
    // A valid safetensors file with one unrelated tensor.
    let header = br#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let mut body = (header.len() as u64).to_le_bytes().to_vec();
    body.extend_from_slice(header);
    body.extend_from_slice(&1f32.to_le_bytes());
    let url = serve_once(ok_response(&body, body.len()));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("resnet50.safetensors");

    let error = fetch_resnet50(&url, &dest, |_, _| {}).unwrap_err();
    assert!(matches!(&error, EmbedError::MissingTensor { name, .. } if name == "conv1.weight"), "{error}");
    assert!(!dest.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "staging file left behind");
}
