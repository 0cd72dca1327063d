//! The command line itself: help, exit codes, closed sets of values.

use crate::util::{privsplit, text};

#[test]
fn help_documents_the_exit_codes_and_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let out = privsplit(&["--help"], tmp.path());
    assert!(out.status.success());
    let t = text(&out);
    for needle in [
        "Exit codes",
        "4 installed data",
        "run",
        "sweep",
        "tabular",
        "collateral",
        "fe",
        "serve",
        "infer",
        "bench",
    ] {
        assert!(t.contains(needle), "--help lacks {needle:?}:\n{t}");
    }
}

#[test]
fn closed_sets_are_checked_by_the_parser_with_exit_code_2() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        &["sweep", "--preset", "mnist"][..],
        &["sweep", "--attacks", "cgan,gan"],
        &["collateral", "--synthetic", "--attackers", "svm"],
        &["collateral", "--synthetic", "--defence-adversary", "knn"],
        &[
            "serve",
            "init-weights",
            "--model",
            "vgg",
            "--out",
            "w.safetensors",
        ],
    ] {
        let out = privsplit(args, tmp.path());
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}:\n{t}");
        assert!(
            t.contains("possible values"),
            "{args:?} should list the values:\n{t}"
        );
    }
}

#[test]
fn a_missing_choice_of_data_is_an_input_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = privsplit(&["collateral"], tmp.path());
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("--synthetic"));
}
