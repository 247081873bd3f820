//! Where a path argument points, relative to the workspace, the home directory and the
//! system, without touching the file system.

use std::path::{Component, Path, PathBuf};

use super::analyze::{Analyzer, Seg, Verdict, Word};

/// Where a path lies, from most to least dangerous to destroy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Zone {
    /// `/` itself.
    Root,
    /// An operating-system directory (`/etc`, `/usr`, `/boot`, `/dev`, …) or inside one.
    System,
    /// The home directory or one of its ancestors.
    Home,
    /// Inside the home directory (outside the workspace).
    InHome,
    /// A directory the workspace is in.
    AboveWorkspace,
    /// The workspace root itself.
    Workspace,
    /// Inside the workspace.
    InWorkspace,
    /// Inside a temporary directory (`/tmp/x`, not `/tmp`).
    Temp,
    /// Anywhere else.
    Outside,
    /// Only known when the command runs.
    Unknown,
}

impl Zone {
    /// Whether destroying it recursively loses only workspace or scratch files.
    pub fn is_scratch(self) -> bool {
        matches!(self, Zone::InWorkspace | Zone::Temp)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Zone::Root => "the root directory",
            Zone::System => "a system directory",
            Zone::Home => "the home directory",
            Zone::InHome => "a path in the home directory",
            Zone::AboveWorkspace => "a directory that contains the workspace",
            Zone::Workspace => "the whole workspace",
            Zone::InWorkspace => "a path in the workspace",
            Zone::Temp => "a temporary path",
            Zone::Outside => "a path outside the workspace",
            Zone::Unknown => "a path only known when it runs",
        }
    }
}

/// A resolved path argument.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// The absolute, lexically normalized path, when known (for a glob: the directory the
    /// glob expands in).
    pub path: Option<PathBuf>,
    pub zone: Zone,
    /// A glob or brace expansion: `path` is the directory it expands in.
    pub glob: bool,
    /// A glob that can match `..` (such as `.*`).
    pub dot_glob: bool,
}

const SYSTEM_DIRS: &[&str] = &[
    "bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "libx32", "opt", "proc", "root", "sbin",
    "snap", "srv", "sys", "usr", "var",
];
const TEMP_DIRS: &[&str] = &["/tmp", "/var/tmp", "/dev/shm"];

/// Resolves `.` and `..` without looking at the disk.
pub(super) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Whether `/dev/NAME` is a disk or memory device, whose overwriting destroys data.
pub(super) fn is_block_device(text: &str) -> bool {
    let Some(name) = text.strip_prefix("/dev/") else {
        return false;
    };
    let starts_with_then = |prefix: &str, next: fn(char) -> bool| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.chars().next())
            .is_some_and(next)
    };
    let letter = |c: char| c.is_ascii_lowercase();
    let digit = |c: char| c.is_ascii_digit();
    starts_with_then("sd", letter)
        || starts_with_then("hd", letter)
        || starts_with_then("vd", letter)
        || starts_with_then("xvd", letter)
        || starts_with_then("nvme", digit)
        || starts_with_then("mmcblk", digit)
        || starts_with_then("loop", digit)
        || starts_with_then("md", digit)
        || starts_with_then("nbd", digit)
        || starts_with_then("sr", digit)
        || starts_with_then("zram", digit)
        || name.starts_with("dm-")
        || name.starts_with("disk/")
        || name.starts_with("mapper/")
        || matches!(name, "mem" | "kmem" | "port")
}

/// Files in the home directory whose overwriting breaks logins or plants code.
const PROTECTED_HOME_FILES: &[&str] = &[
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".zlogin",
    ".kshrc",
    ".cshrc",
    ".tcshrc",
    ".inputrc",
    ".gitconfig",
    ".netrc",
    ".xinitrc",
    ".xprofile",
    ".pam_environment",
];
/// Directories in the home directory holding credentials: writing or reading them is never
/// routine.
const SECRET_HOME_DIRS: &[&str] = &[".ssh", ".gnupg", ".aws", ".kube", ".docker", ".azure"];

impl Analyzer<'_> {
    /// Where `word` points when used as a path.
    pub fn resolve(&self, word: &Word) -> Target {
        let word = &self.expand(word);
        let unknown = Target {
            path: None,
            zone: Zone::Unknown,
            glob: false,
            dot_glob: false,
        };
        let home = || self.home.clone();
        // The base the rest of the word is relative to, if it starts with an expansion.
        let (base, rest): (Option<PathBuf>, &[Seg]) = match word.segs.split_first() {
            Some((Seg::Tilde(user), rest)) => {
                let base = if user.is_empty() {
                    home()
                } else if user == "root" {
                    Some(PathBuf::from("/root"))
                } else {
                    Some(PathBuf::from("/home").join(user))
                };
                (base, rest)
            }
            Some((Seg::Var(name), rest)) => {
                let base = match name.as_str() {
                    "HOME" => home(),
                    "PWD" => self.cwd.clone(),
                    "TMPDIR" => Some(PathBuf::from("/tmp")),
                    _ => None,
                };
                (base, rest)
            }
            _ => (None, &word.segs[..]),
        };
        if matches!(word.segs.first(), Some(Seg::Tilde(_) | Seg::Var(_))) && base.is_none() {
            return unknown;
        }
        let mut text = String::new();
        for seg in rest {
            match seg {
                Seg::Lit { text: t, .. } => text.push_str(t),
                _ => return unknown,
            }
        }
        // Words passed as argv are not expanded, but `~` and `$HOME` there still mean home
        // to whoever wrote them: judge them as such.
        let (base, text) = match base {
            Some(base) => (Some(base), text),
            None => {
                let home_rest = ["$HOME", "${HOME}", "~"]
                    .iter()
                    .find_map(|p| text.strip_prefix(p))
                    .filter(|r| r.is_empty() || r.starts_with('/'));
                match home_rest {
                    Some(r) => match home() {
                        Some(h) => (Some(h), r.to_string()),
                        None => return unknown,
                    },
                    None => (None, text),
                }
            }
        };
        let full = match base {
            Some(base) => {
                let mut s = base.to_string_lossy().into_owned();
                s.push_str(&text);
                PathBuf::from(s)
            }
            None if text.starts_with('/') => PathBuf::from(&text),
            None => match &self.cwd {
                Some(cwd) => cwd.join(&text),
                None => return unknown,
            },
        };
        let glob = word.has_glob();
        let mut dot_glob = false;
        let path = if glob {
            // The directory the glob expands in: the components before the first pattern.
            let mut dir = PathBuf::new();
            for component in full.components() {
                let part = component.as_os_str().to_string_lossy();
                if part.contains(['*', '?', '[', '{']) {
                    dot_glob = part.starts_with('.') || part.starts_with("{.");
                    break;
                }
                dir.push(component);
            }
            normalize(&dir)
        } else {
            normalize(&full)
        };
        Target {
            zone: self.zone(&path),
            path: Some(path),
            glob,
            dot_glob,
        }
    }

    /// The zone of an absolute, normalized path.
    pub fn zone(&self, path: &Path) -> Zone {
        if path == Path::new("/") {
            return Zone::Root;
        }
        if path == self.workspace {
            return Zone::Workspace;
        }
        if path.starts_with(&self.workspace) {
            return Zone::InWorkspace;
        }
        if let Some(home) = &self.home {
            if home.starts_with(path) {
                return Zone::Home;
            }
        }
        if self.workspace.starts_with(path) {
            return Zone::AboveWorkspace;
        }
        if let Some(home) = &self.home {
            if path.starts_with(home) {
                return Zone::InHome;
            }
        }
        if TEMP_DIRS
            .iter()
            .any(|t| path.starts_with(t) && path != Path::new(t))
        {
            return Zone::Temp;
        }
        let top = path
            .components()
            .nth(1)
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        if SYSTEM_DIRS.contains(&top.as_str()) {
            return Zone::System;
        }
        Zone::Outside
    }

    /// The path relative to the home directory, if it is inside it.
    fn in_home<'p>(&self, path: &'p Path) -> Option<&'p Path> {
        path.strip_prefix(self.home.as_ref()?).ok()
    }

    /// Whether reading `word` reads credentials.
    pub fn is_secret(&self, word: &Word) -> bool {
        let Some(path) = self.resolve(word).path else {
            return false;
        };
        if let Some(rel) = self.in_home(&path) {
            let first = rel
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            return SECRET_HOME_DIRS.contains(&first.as_str())
                || matches!(first.as_str(), ".netrc" | ".git-credentials" | ".pgpass");
        }
        ["/etc/shadow", "/etc/gshadow", "/etc/sudoers"]
            .iter()
            .any(|p| path.starts_with(p))
    }

    /// Judges writing to `word` (a redirection target or a command's destination);
    /// `append` when existing content is kept.
    pub fn write_target(&self, word: &Word, append: bool, display: &str) -> Verdict {
        let text = word.text();
        let plain = word.is_static();
        if plain
            && (matches!(
                text.as_str(),
                "/dev/null" | "/dev/stdout" | "/dev/stderr" | "/dev/tty" | "-"
            ) || text.starts_with("/dev/fd/"))
        {
            return Verdict::allow(display, "writes nowhere");
        }
        if plain && is_block_device(&text) {
            return Verdict::forbid(display, format!("overwrites the disk device {text}"));
        }
        let target = self.resolve(word);
        let Some(path) = target.path.filter(|_| !target.glob) else {
            return Verdict::prompt(display, format!("writes to `{text}`"));
        };
        if matches!(target.zone, Zone::Root | Zone::System) {
            return Verdict::forbid(display, format!("writes the system file {text}"));
        }
        if let Some(rel) = self.in_home(&path) {
            let rel_text = rel.to_string_lossy();
            let first = rel
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            if SECRET_HOME_DIRS.contains(&first.as_str()) {
                return Verdict::forbid(
                    display,
                    format!("writes into ~/{first}, which holds credentials"),
                );
            }
            let protected = PROTECTED_HOME_FILES.contains(&rel_text.as_ref())
                || rel_text == ".config/fish/config.fish";
            if protected {
                return if append {
                    Verdict::prompt(display, format!("appends to ~/{rel_text}"))
                } else {
                    Verdict::forbid(display, format!("overwrites ~/{rel_text}"))
                };
            }
        }
        Verdict::prompt(display, format!("writes {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyzer() -> Analyzer<'static> {
        Analyzer::with_home(
            Path::new("/home/dev/project"),
            Some(PathBuf::from("/home/dev")),
            None,
        )
    }

    #[test]
    fn zones() {
        let a = analyzer();
        let zone = |t: &str| a.resolve(&Word::plain(t)).zone;
        assert_eq!(zone("/"), Zone::Root);
        assert_eq!(zone("/etc/passwd"), Zone::System);
        assert_eq!(zone("~"), Zone::Home);
        assert_eq!(zone("$HOME/"), Zone::Home);
        assert_eq!(zone("/home"), Zone::Home);
        assert_eq!(zone("~/.cache"), Zone::InHome);
        assert_eq!(zone(".."), Zone::Home);
        assert_eq!(zone("."), Zone::Workspace);
        assert_eq!(zone("src/../target"), Zone::InWorkspace);
        assert_eq!(zone("../../../../etc"), Zone::System);
        assert_eq!(zone("/tmp/build"), Zone::Temp);
        assert_eq!(zone("/tmp"), Zone::Outside);
        assert_eq!(zone("/mnt/data"), Zone::Outside);
    }

    #[test]
    fn block_devices() {
        for dev in [
            "/dev/sda",
            "/dev/sdb1",
            "/dev/nvme0n1",
            "/dev/vda",
            "/dev/mapper/root",
        ] {
            assert!(is_block_device(dev), "{dev}");
        }
        for dev in [
            "/dev/null",
            "/dev/stdout",
            "/dev/shm/x",
            "/dev/tty",
            "/dev/s",
        ] {
            assert!(!is_block_device(dev), "{dev}");
        }
    }
}
