//! Misuse of the safe API that must not compile, each case pinned to its exact error
//! (tests/ui/*.stderr). Regenerate the .stderr files after a deliberate change with
//! `TRYBUILD=overwrite cargo test -p contgc-collector --test compile_fail`.

#[test]
fn misuse_does_not_compile() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
