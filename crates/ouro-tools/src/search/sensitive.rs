//! Paths the read-only tools never read: credentials and ouro's own home.
//!
//! Every check works on the resolved path (symlinks followed, `..` applied), so a link or a
//! detour through a parent directory does not get around it.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

/// The sensitive locations for one home directory and one `$OURO_HOME`.
#[derive(Debug, Clone)]
pub(crate) struct Sensitive {
    home: Option<PathBuf>,
    /// Resolved sensitive paths, plus their lexical spelling when it differs.
    roots: Vec<PathBuf>,
}

impl Sensitive {
    /// The locations of the current user: `$HOME` and `$OURO_HOME` (default `~/.ouro`).
    pub(crate) fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        Self::new(var("HOME").as_deref(), var("OURO_HOME").as_deref())
    }

    pub(crate) fn new(home: Option<&Path>, ouro_home: Option<&Path>) -> Self {
        let mut lexical: Vec<PathBuf> = Vec::new();
        if let Some(home) = home {
            // The same list the sandbox hides from commands.
            lexical.extend(ouro_sandbox::sensitive_paths(home));
        }
        match (ouro_home, home) {
            (Some(ouro_home), _) => lexical.push(ouro_home.to_path_buf()),
            (None, Some(home)) => lexical.push(home.join(".ouro")),
            (None, None) => {}
        }
        let mut roots = Vec::new();
        for path in lexical {
            let absolute = std::path::absolute(&path).unwrap_or(path);
            roots.push(normalize_lexically(&absolute));
            roots.push(resolve(&absolute));
        }
        roots.sort();
        roots.dedup();
        Sensitive {
            home: home.map(Path::to_path_buf),
            roots,
        }
    }

    /// The home directory `~` expands to.
    pub(crate) fn home(&self) -> Option<&Path> {
        self.home.as_deref()
    }

    /// True when `path` (absolute, or relative to the process's directory) is or lies inside
    /// a sensitive location.
    pub(crate) fn contains(&self, path: &Path) -> bool {
        let resolved = resolve(path);
        self.roots.iter().any(|root| resolved.starts_with(root))
    }

    /// Sensitive locations strictly inside the directory `root` (already resolved): the ones a
    /// walk from `root` must not enter.
    pub(crate) fn inside(&self, root: &Path) -> Vec<PathBuf> {
        self.roots
            .iter()
            .filter(|sensitive| sensitive.starts_with(root) && sensitive.as_path() != root)
            .cloned()
            .collect()
    }

    /// Resolves `path` and refuses it when it is sensitive. `shown` is how the caller wrote it.
    pub(crate) fn check(&self, path: &Path, shown: &str) -> Result<PathBuf, String> {
        let resolved = resolve(path);
        if self.roots.iter().any(|root| resolved.starts_with(root)) {
            return Err(format!(
                "Refusing to access `{shown}`: it is (or leads to) a sensitive location \
                 ({}). ouro's file tools never read credential stores (~/.ssh, ~/.gnupg, \
                 ~/.aws, ~/.config/gcloud, ~/.netrc, ~/.docker/config.json) or ouro's own \
                 home directory. Work with other files instead.",
                resolved.display()
            ));
        }
        Ok(resolved)
    }
}

/// See [`crate::search::is_sensitive_path`].
pub(crate) fn is_sensitive_path(path: &Path) -> bool {
    Sensitive::from_env().contains(path)
}

/// The real location of `path`: symlinks followed and `..` applied. For a path that does not
/// exist (yet), the longest existing ancestor is resolved and the rest applied lexically.
pub(crate) fn resolve(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    if let Ok(real) = absolute.canonicalize() {
        return real;
    }
    let components: Vec<Component<'_>> = absolute.components().collect();
    for split in (1..components.len()).rev() {
        let prefix: PathBuf = components[..split].iter().collect();
        if let Ok(mut real) = prefix.canonicalize() {
            for component in &components[split..] {
                apply(&mut real, component);
            }
            return real;
        }
    }
    normalize_lexically(&absolute)
}

/// `path` with `.` and `..` applied as text, without touching the file system.
fn normalize_lexically(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        apply(&mut out, &component);
    }
    out
}

fn apply(path: &mut PathBuf, component: &Component<'_>) {
    match component {
        Component::CurDir => {}
        Component::ParentDir => {
            path.pop();
        }
        other => path.push(other.as_os_str()),
    }
}

/// Version-control directories that walks never show or enter.
pub(crate) fn is_vcs_dir(name: &OsStr) -> bool {
    name == ".git" || name == ".hg" || name == ".svn" || name == ".jj"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home_with_secrets() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().canonicalize().expect("canonical").join("home");
        std::fs::create_dir_all(home.join(".ssh")).expect("mkdir");
        std::fs::write(home.join(".ssh/id_ed25519"), "secret").expect("write");
        std::fs::write(home.join(".netrc"), "machine x").expect("write");
        (dir, home)
    }

    #[test]
    fn home_secrets_and_ouro_home_are_sensitive() {
        let (_dir, home) = home_with_secrets();
        let guard = Sensitive::new(Some(&home), None);
        assert!(guard.contains(&home.join(".ssh")));
        assert!(guard.contains(&home.join(".ssh/id_ed25519")));
        assert!(guard.contains(&home.join(".netrc")));
        assert!(
            guard.contains(&home.join(".aws/credentials")),
            "need not exist"
        );
        assert!(guard.contains(&home.join(".config/gcloud/x.json")));
        assert!(guard.contains(&home.join(".docker/config.json")));
        assert!(guard.contains(&home.join(".ouro/config.toml")));
        assert!(!guard.contains(&home.join(".docker/other.json")));
        assert!(!guard.contains(&home.join("project/src/main.rs")));
        assert!(!guard.contains(&home));
        assert!(
            !guard.contains(&home.join(".sshd")),
            "a prefix of a name is not inside"
        );
    }

    #[test]
    fn ouro_home_override() {
        let (_dir, home) = home_with_secrets();
        let ouro = home.join("state/ouro");
        let guard = Sensitive::new(Some(&home), Some(&ouro));
        assert!(guard.contains(&ouro.join("sessions/a.jsonl")));
        assert!(!guard.contains(&home.join(".ouro/x")));
    }

    #[test]
    fn dot_dot_and_symlinks_do_not_get_around_it() {
        let (dir, home) = home_with_secrets();
        let guard = Sensitive::new(Some(&home), None);
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).expect("mkdir");
        assert!(guard.contains(&work.join("../home/.ssh/id_ed25519")));
        assert!(guard.contains(&work.join("../home/./project/../.ssh")));
        std::os::unix::fs::symlink(home.join(".ssh"), work.join("keys")).expect("symlink");
        assert!(guard.contains(&work.join("keys/id_ed25519")));
        std::os::unix::fs::symlink(home.join(".ssh/id_ed25519"), work.join("key")).expect("ln");
        assert!(guard.contains(&work.join("key")));
        assert!(guard.check(&work.join("key"), "key").is_err());
        assert!(guard.contains(&work.join("keys/missing/../id_ed25519")));
    }

    #[test]
    fn a_symlinked_secret_store_is_sensitive_at_both_spellings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().canonicalize().expect("canonical");
        let home = base.join("home");
        let elsewhere = base.join("vault");
        std::fs::create_dir_all(&home).expect("mkdir");
        std::fs::create_dir_all(&elsewhere).expect("mkdir");
        std::os::unix::fs::symlink(&elsewhere, home.join(".aws")).expect("symlink");
        let guard = Sensitive::new(Some(&home), None);
        assert!(guard.contains(&elsewhere.join("credentials")));
        assert_eq!(guard.inside(&base), {
            let mut expected: Vec<PathBuf> = guard
                .roots
                .iter()
                .filter(|r| r.starts_with(&base))
                .cloned()
                .collect();
            expected.sort();
            expected
        });
        assert!(guard.inside(&base).contains(&elsewhere));
    }

    #[test]
    fn public_check_uses_the_environment() {
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            let home = PathBuf::from(home);
            assert!(is_sensitive_path(&home.join(".ssh/id_rsa")));
            assert!(is_sensitive_path(&home.join(".gnupg")));
        }
        if std::env::var_os("OURO_HOME").is_none() {
            assert!(!is_sensitive_path(Path::new("/usr/bin")));
        }
    }
}
