//! The temporary tree the search tools' tests work in: a workspace with a `.git`, next to
//! a home directory whose credential stores are guarded.

use std::path::PathBuf;

use super::sensitive::Sensitive;

pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    pub(super) root: PathBuf,
    pub(super) guard: Sensitive,
}

pub(super) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    std::fs::create_dir_all(root.join("work/.git/info")).expect("mkdir");
    let guard = Sensitive::new(Some(&root.join("home")), None);
    Fixture {
        _dir: dir,
        root,
        guard,
    }
}

impl Fixture {
    pub(super) fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    pub(super) fn write(&self, rel: &str, contents: impl AsRef<[u8]>) {
        let path = self.work().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }

    pub(super) fn write_empty(&self, rel: &str) {
        self.write(rel, "");
    }
}
