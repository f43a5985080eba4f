//! The harness's own guard: a binary older than a source it was built from, or built from
//! another checkout, is refused before any test runs it (`tests::bin`).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A fake artifact `bin` in a folder of its own, with a dep-info file listing `sources`
/// (escaped as cargo writes them), last modified at `built`.
fn artifact(dir: &Path, sources: &[&Path], built: SystemTime) -> PathBuf {
    let bin = dir.join("profile").join("bin");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::write(&bin, b"").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&bin)
        .unwrap()
        .set_modified(built)
        .unwrap();
    let deps: Vec<String> = sources
        .iter()
        .map(|p| p.display().to_string().replace(' ', "\\ "))
        .collect();
    std::fs::write(
        dir.join("profile").join("bin.d"),
        format!("{}: {}\n", bin.display(), deps.join(" ")),
    )
    .unwrap();
    bin
}

fn mtime(p: &Path) -> SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

#[test]
fn a_binary_older_than_its_sources_is_refused() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let source = root.join("tests").join("lib.rs");
    let other = root.join("tests").join("it").join("main.rs");
    let newest = mtime(&source).max(mtime(&other));
    let dir = tempfile::tempdir().unwrap();
    let later = newest + Duration::from_secs(10);

    let bin = artifact(dir.path(), &[&source, &other], later);
    assert_eq!(tests::stale(&bin), None, "built after its sources");

    let bin = artifact(
        dir.path(),
        &[&source, &other],
        mtime(&source) - Duration::from_secs(10),
    );
    let why = tests::stale(&bin).expect("a source newer than the binary");
    assert!(why.contains("tests/lib.rs changed"), "{why}");

    let gone = root.join("tests").join("no such file.rs");
    let bin = artifact(dir.path(), &[&source, &gone], later);
    let why = tests::stale(&bin).expect("a source that is gone");
    assert!(why.contains("no such file.rs, which is gone"), "{why}");

    // Built from another checkout sharing the target folder: refused however new.
    let elsewhere = tempfile::tempdir().unwrap();
    let foreign = elsewhere.path().join("lib.rs");
    std::fs::write(&foreign, "").unwrap();
    let bin = artifact(
        dir.path(),
        &[&foreign],
        mtime(&foreign) + Duration::from_secs(10),
    );
    let why = tests::stale(&bin).expect("another checkout's binary");
    assert!(why.contains("not from this checkout"), "{why}");

    std::fs::remove_file(dir.path().join("profile").join("bin.d")).unwrap();
    let why = tests::stale(&bin).expect("no dep-info");
    assert!(why.contains("no dep-info file"), "{why}");

    // And the binaries this run uses pass the same check.
    for name in ["igord", "igor"] {
        assert_eq!(tests::stale(&tests::bin(name)), None, "{name}");
    }
}
