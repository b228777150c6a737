//! Start-up errors of the `fashion-serve` binary: one line on stderr, naming
//! the problem and its fix, and exit status 2.

use fashion_testkit::{Run, Workspace};

fn serve(workspace: &Workspace, args: &[&str]) -> Run {
    let mut command = workspace.binary_command(env!("CARGO_BIN_EXE_fashion-serve"), args);
    Run::from_output(command.output().expect("run fashion-serve"))
}

#[test]
fn zero_k_rejected() {
    let workspace = Workspace::new();

    let run = serve(&workspace, &["--index", "shop.fidx", "-k", "0"]);

    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "fashion-serve: invalid -k 0: expected at least 1\n");
}

#[test]
fn missing_index_says_how_to_build() {
    let workspace = Workspace::new();

    let run = serve(&workspace, &["--index", "shop.fidx", "--bind", "127.0.0.1:0"]);

    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "fashion-serve: shop.fidx: index not found; build one with `fashion-index build CATALOGUE --index shop.fidx`\n"
    );
}
