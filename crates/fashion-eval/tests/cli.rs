//! Runs `fashion-eval` on a small labelled catalogue of real photos from two
//! categories that look nothing alike, watches and T-shirts, so that the
//! trained model must find a same-category nearest neighbour for every query.

use std::fs;
use std::path::Path;

use fashion_testkit::{repository_root, Run, Workspace};

/// Photos taken from each category.
const PER_CATEGORY: usize = 5;
const CATEGORIES: [&str; 2] = ["Watches", "Tshirts"];

/// Copies the first [`PER_CATEGORY`] photos of each of [`CATEGORIES`] from
/// `dataset/` into the workspace catalogue, writes their `labels.csv` and
/// indexes them.
fn labelled_workspace() -> Workspace {
    let workspace = Workspace::new();
    let labels = fs::read_to_string(repository_root().join("dataset/labels.csv")).expect("read dataset/labels.csv");
    let mut rows = vec!["file,articleType".to_owned()];

    for category in CATEGORIES {
        let files: Vec<&str> = labels
            .lines()
            .skip(1)
            .filter(|line| line.split(',').nth(4) == Some(category))
            .map(|line| line.split(',').next().unwrap())
            .take(PER_CATEGORY)
            .collect();
        assert_eq!(files.len(), PER_CATEGORY, "dataset/labels.csv has too few {category} photos");

        for file in files {
            let name = Path::new(file).file_name().unwrap().to_str().unwrap();
            fs::copy(repository_root().join("dataset").join(file), workspace.catalogue().join(name))
                .expect("copy a photo");
            rows.push(format!("{name},{category}"));
        }
    }
    fs::write(workspace.catalogue().join("labels.csv"), rows.join("\n") + "\n").expect("write labels.csv");

    workspace.build_index();
    workspace
}

fn eval(workspace: &Workspace, args: &[&str]) -> Run {
    let mut command = workspace.binary_command(env!("CARGO_BIN_EXE_fashion-eval"), ["index.fidx"]);
    command.args(args);
    Run::from_output(command.output().expect("run fashion-eval"))
}

#[test]
fn text_output_per_cutoff() {
    let workspace = labelled_workspace();

    let run = eval(&workspace, &["-k", "1,4"]);

    assert_eq!(run.code, Some(0), "{run:?}");
    let lines = run.stdout_lines();
    assert_eq!(lines.len(), 4, "{run:?}");
    assert_eq!(lines[0], "model efficientnet-lite0 (resize squash), 10 queries");
    assert_eq!(lines[1], "precision@1\t1.0000");
    assert!(lines[2].starts_with("precision@4\t"), "{run:?}");
    assert!(lines[3].starts_with("mAP@4\t"), "{run:?}");
    assert!(run.stderr.starts_with("fashion-eval: 0 unlabelled images, 0 byte-identical results skipped, "), "{run:?}");
}

#[test]
fn json_output_matches_text() {
    let workspace = labelled_workspace();

    let text = eval(&workspace, &["-k", "1,4"]);
    let json = eval(&workspace, &["-k", "1,4", "--json"]);

    assert_eq!(json.code, Some(0), "{json:?}");
    assert_eq!(json.stderr, "");
    let value = json.json();
    assert_eq!(value["queries"], 10);
    assert_eq!(value["model"], "efficientnet-lite0");
    assert_eq!(value["label_column"], "articleType");
    let precision_at_4 = value["precision"][1][1].as_f64().unwrap();
    assert_eq!(text.stdout_lines()[2], format!("precision@4\t{precision_at_4:.4}"));
    let map = value["mean_average_precision"].as_f64().unwrap();
    assert_eq!(text.stdout_lines()[3], format!("mAP@4\t{map:.4}"));
}

#[test]
fn cutoff_beyond_catalogue_rejected() {
    let workspace = labelled_workspace();

    let run = eval(&workspace, &["-k", "5,10"]);

    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "fashion-eval: invalid -k 10: index.fidx holds 10 images, so a query has at most 9 others to rank\n"
    );
}

#[test]
fn zero_cutoff_rejected() {
    let workspace = Workspace::new();

    let run = eval(&workspace, &["-k", "0"]);

    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stderr, "fashion-eval: invalid -k: every cut-off must be at least 1\n");
}
