//! `read_file`: a window of a text file with line numbers, streamed so that a huge file costs
//! only the lines shown.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::sensitive::Sensitive;
use super::{human_size, io_error, resolve_arg, ReadFileArgs};

/// Lines shown when the call gives no `limit`.
pub(crate) const DEFAULT_LIMIT: usize = 2000;
/// Characters of one line shown before it is clipped.
pub(crate) const MAX_LINE_CHARS: usize = 2000;
/// Up to this size, the lines after the window are counted so the footer can say how many
/// there are; beyond it the footer only says that more follow.
pub(crate) const COUNT_LIMIT: u64 = 50 * 1024 * 1024;
/// How much of the file's start decides whether it is text.
const SNIFF_BYTES: usize = 8192;
/// Bytes of one line kept in memory: enough for `MAX_LINE_CHARS` characters of any UTF-8.
const KEEP_LINE_BYTES: usize = MAX_LINE_CHARS * 4 + 4;

/// How far `read_file` reads beyond the window. Tests shrink these.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Up to this file size, the lines after the window are counted for the footer.
    pub count: u64,
    /// Bytes of one line scanned in search of its end before giving up on it.
    pub line_scan: usize,
}

pub(crate) const LIMITS: Limits = Limits {
    count: COUNT_LIMIT,
    line_scan: 64 * 1024 * 1024,
};

pub(crate) fn read_file(
    args: &ReadFileArgs,
    cwd: &Path,
    guard: &Sensitive,
    limits: Limits,
) -> Result<String, String> {
    let shown = args.path.as_str();
    let path = resolve_arg(shown, cwd, guard)?;
    let real = guard.check(&path, shown)?;
    let hint = "Check the spelling, or use find_files to search for the file by name.";
    let meta = std::fs::metadata(&real).map_err(|e| io_error(&e, shown, &path, hint))?;
    if meta.is_dir() {
        return Err(format!(
            "`{shown}` is a directory, not a file. Use list_dir to see what it contains."
        ));
    }
    if !meta.is_file() {
        return Err(format!(
            "`{shown}` is not a regular file (it is a device, socket or pipe), so read_file \
             does not read it."
        ));
    }
    let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 {
        return Err("`limit` must be at least 1 (it is the number of lines to show).".into());
    }
    let offset = args.offset.unwrap_or(1).max(1);

    let mut file = File::open(&real).map_err(|e| io_error(&e, shown, &path, hint))?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut file)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| io_error(&e, shown, &path, hint))?;
    if head.is_empty() {
        return Ok(format!("`{shown}` is empty (0 bytes)."));
    }
    if let Some(kind) = binary_kind(&head) {
        return Ok(format!(
            "`{shown}` is a binary file ({kind}, {}); its contents are not shown. Use a \
             command such as `file` or `xxd` through the shell to inspect it.",
            human_size(meta.len().max(head.len() as u64))
        ));
    }

    let mut reader = BufReader::with_capacity(64 * 1024, head.as_slice().chain(file));
    let window = Window {
        shown,
        offset,
        limit,
        size: meta.len(),
        limits,
    };
    render(&mut reader, &window).map_err(|e| io_error(&e, shown, &path, hint))?
}

struct Window<'a> {
    shown: &'a str,
    offset: usize,
    limit: usize,
    size: u64,
    limits: Limits,
}

/// Numbers and clips the window of lines; the footer says what was left out.
fn render<R: BufRead>(reader: &mut R, window: &Window<'_>) -> io::Result<Result<String, String>> {
    let Window {
        shown,
        offset,
        limit,
        size,
        limits,
    } = *window;
    let past_end = |lines: usize| {
        format!(
            "`{shown}` has only {lines} lines; offset {offset} is past its end. Use an offset \
             from 1 to {lines}."
        )
    };
    let mut line = Vec::new();
    // Skip to the window.
    let mut number = 0usize;
    while number + 1 < offset {
        match next_line(reader, &mut line, 0, limits.line_scan)? {
            None => return Ok(Err(past_end(number))),
            Some(read) if !read.complete => {
                return Ok(Err(format!(
                    "Line {} of `{shown}` is longer than {}, so read_file cannot find where the \
                     lines after it start. Use the shell (e.g. `head -c`, `cut -c` or `fold`) \
                     to look at this file.",
                    number + 1,
                    human_size(limits.line_scan as u64)
                )))
            }
            Some(_) => number += 1,
        }
    }
    let mut out = String::new();
    let mut shown_lines = 0usize;
    let mut gave_up = false;
    while shown_lines < limit {
        let Some(read) = next_line(reader, &mut line, KEEP_LINE_BYTES, limits.line_scan)? else {
            break;
        };
        number += 1;
        shown_lines += 1;
        if line.last() == Some(&b'\r') && read.dropped == 0 {
            line.pop();
        }
        let text = String::from_utf8_lossy(&line);
        let _ = write!(out, "{number:>6}\t");
        match text.char_indices().nth(MAX_LINE_CHARS) {
            None if read.dropped == 0 => out.push_str(&text),
            cut => {
                let cut = cut.map_or(text.len(), |(at, _)| at);
                let more = text[cut..].chars().count() + read.dropped;
                let at_least = if read.complete { "" } else { "at least " };
                let _ = write!(
                    out,
                    "{}… [line clipped: {at_least}{more} more characters]",
                    &text[..cut]
                );
            }
        }
        out.push('\n');
        if !read.complete {
            gave_up = true;
            break;
        }
    }
    if shown_lines == 0 {
        return Ok(Err(past_end(number)));
    }
    let first = offset;
    let last = number;
    if gave_up {
        let _ = write!(
            out,
            "(Showing lines {first}-{last}. Line {last} is longer than {}, so the lines after \
             it are not shown; use the shell (e.g. `tail -n +{}`) to look past it.)",
            human_size(limits.line_scan as u64),
            last + 1
        );
    } else if !reader.fill_buf()?.is_empty() {
        let next = last + 1;
        if size <= limits.count {
            let total = last + count_lines(reader)?;
            let _ = write!(
                out,
                "(Showing lines {first}-{last} of {total}. To read more, call read_file again \
                 with offset={next}.)"
            );
        } else {
            let _ = write!(
                out,
                "(Showing lines {first}-{last}; more lines follow (the file is {}, too large to \
                 count its lines). To read more, call read_file again with offset={next}.)",
                human_size(size)
            );
        }
    } else if first > 1 {
        let _ = write!(
            out,
            "(Showing lines {first}-{last} of {last}: the end of the file.)"
        );
    } else if out.ends_with('\n') {
        out.pop();
    }
    Ok(Ok(out))
}

/// What [`next_line`] read.
struct LineRead {
    /// Characters past the bytes kept.
    dropped: usize,
    /// False when the scan limit was reached before the end of the line.
    complete: bool,
}

/// Reads the next line into `line` (without its `\n`), keeping at most `keep` bytes of it and
/// scanning at most `scan` bytes in search of its end. Returns `None` at the end of the input.
fn next_line<R: BufRead>(
    reader: &mut R,
    line: &mut Vec<u8>,
    keep: usize,
    scan: usize,
) -> io::Result<Option<LineRead>> {
    line.clear();
    let mut dropped = 0usize;
    let mut scanned = 0usize;
    let mut any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(any.then_some(LineRead {
                dropped,
                complete: true,
            }));
        }
        if scanned >= scan {
            return Ok(Some(LineRead {
                dropped,
                complete: false,
            }));
        }
        any = true;
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..end], true),
            None => (available, false),
        };
        let room = keep.saturating_sub(line.len()).min(chunk.len());
        line.extend_from_slice(&chunk[..room]);
        // Characters past what is kept: every byte that does not continue a UTF-8 sequence.
        dropped += chunk[room..].iter().filter(|&&b| b & 0xC0 != 0x80).count();
        scanned += chunk.len();
        let consumed = chunk.len() + usize::from(done);
        reader.consume(consumed);
        if done {
            return Ok(Some(LineRead {
                dropped,
                complete: true,
            }));
        }
    }
}

/// Lines from the reader's position to the end (a last line without `\n` counts).
fn count_lines<R: BufRead>(reader: &mut R) -> io::Result<usize> {
    let mut lines = 0usize;
    let mut last = b'\n';
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let Some(&end) = available.last() else {
            return Ok(lines + usize::from(last != b'\n'));
        };
        lines += available.iter().filter(|&&b| b == b'\n').count();
        last = end;
        let len = available.len();
        reader.consume(len);
    }
}

/// Why the start of a file says it is not text, as a guess of its kind; `None` for text.
pub(crate) fn binary_kind(head: &[u8]) -> Option<String> {
    if let Some(kind) = magic_kind(head) {
        return Some(kind);
    }
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return Some("UTF-16 text, which read_file does not decode".into());
    }
    if head.contains(&0) {
        return Some(weak_magic_kind(head).unwrap_or("binary data").into());
    }
    if invalid_utf8_bytes(head) * 10 > head.len() * 3 {
        return Some("binary data, or text in an encoding other than UTF-8".into());
    }
    None
}

/// Kinds recognised by a signature specific enough to call the file binary on its own.
fn magic_kind(head: &[u8]) -> Option<String> {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if at(0, b"\x7fELF") {
        // e_type, little- or big-endian by EI_DATA.
        let kind = match (head.get(5), head.get(16), head.get(17)) {
            (Some(1), Some(&t), _) | (Some(2), _, Some(&t)) => t,
            _ => 0,
        };
        let kind = match kind {
            1 => "ELF relocatable object",
            2 => "ELF executable",
            3 => "ELF shared object or position-independent executable",
            4 => "ELF core dump",
            _ => "ELF file",
        };
        return Some(kind.into());
    }
    if at(0, b"\x89PNG\r\n\x1a\n") {
        let dims = head.get(16..24).map(|d| {
            let w = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
            let h = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
            format!(", {w}x{h}")
        });
        return Some(format!("PNG image{}", dims.unwrap_or_default()));
    }
    let kind = if at(0, &[0xFF, 0xD8, 0xFF]) {
        "JPEG image"
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        "GIF image"
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        "WebP image"
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        "WAV audio"
    } else if at(0, b"%PDF-") {
        "PDF document"
    } else if at(0, b"PK\x03\x04") {
        "ZIP archive (or a format built on it: jar, docx, xlsx, wheel…)"
    } else if at(0, &[0x1F, 0x8B]) {
        "gzip-compressed data"
    } else if at(0, b"\xFD7zXZ\x00") {
        "xz-compressed data"
    } else if at(0, &[0x28, 0xB5, 0x2F, 0xFD]) {
        "zstd-compressed data"
    } else if at(0, b"7z\xBC\xAF\x27\x1C") {
        "7-Zip archive"
    } else if at(257, b"ustar") {
        "tar archive"
    } else if at(0, b"\x00asm") {
        "WebAssembly module"
    } else if at(0, b"SQLite format 3\x00") {
        "SQLite database"
    } else if at(0, b"OggS") {
        "Ogg media"
    } else if at(0, b"fLaC") {
        "FLAC audio"
    } else if at(4, b"ftyp") {
        "MP4/QuickTime media"
    } else if at(0, &[0xCA, 0xFE, 0xBA, 0xBE]) {
        "Java class file or Mach-O universal binary"
    } else if at(0, &[0xCF, 0xFA, 0xED, 0xFE]) || at(0, &[0xCE, 0xFA, 0xED, 0xFE]) {
        "Mach-O binary"
    } else if at(0, b"GGUF") {
        "GGUF model weights"
    } else {
        return None;
    };
    Some(kind.into())
}

/// Kinds whose signature is too short to decide on, used once the content looks binary.
fn weak_magic_kind(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"MZ") {
        Some("Windows executable (PE)")
    } else if head.starts_with(b"BZh") {
        Some("bzip2-compressed data")
    } else if head.starts_with(b"ID3") {
        Some("MP3 audio")
    } else if head.starts_with(b"!<arch>\n") {
        Some("ar archive (static library or .deb)")
    } else {
        None
    }
}

/// Bytes of `bytes` that are not part of valid UTF-8; a sequence cut off at the end counts as
/// valid (the sniffed head may end in the middle of a character).
fn invalid_utf8_bytes(mut bytes: &[u8]) -> usize {
    let mut invalid = 0;
    loop {
        match std::str::from_utf8(bytes) {
            Ok(_) => return invalid,
            Err(e) => match e.error_len() {
                None => return invalid,
                Some(len) => {
                    invalid += len;
                    bytes = &bytes[e.valid_up_to() + len..];
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::search::fixture::{fixture, Fixture};

    impl Fixture {
        fn read(
            &self,
            path: &str,
            offset: Option<usize>,
            limit: Option<usize>,
        ) -> Result<String, String> {
            self.read_with(path, offset, limit, LIMITS)
        }
        fn read_with(
            &self,
            path: &str,
            offset: Option<usize>,
            limit: Option<usize>,
            limits: Limits,
        ) -> Result<String, String> {
            let args = ReadFileArgs {
                path: path.into(),
                offset,
                limit,
            };
            read_file(&args, &self.work(), &self.guard, limits)
        }
    }

    fn numbered(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn whole_small_file_is_numbered_like_cat_n() {
        let f = fixture();
        f.write("a.txt", "fn main() {\n\tprintln!();\n}\n");
        let out = f.read("a.txt", None, None).expect("read");
        assert_eq!(out, "     1\tfn main() {\n     2\t\tprintln!();\n     3\t}");
    }

    #[test]
    fn last_line_without_newline_and_crlf() {
        let f = fixture();
        f.write("a.txt", "one\r\ntwo\r\n\r\nlast");
        let out = f.read("a.txt", None, None).expect("read");
        assert_eq!(out, "     1\tone\n     2\ttwo\n     3\t\n     4\tlast");
    }

    #[test]
    fn default_window_is_2000_lines_and_footer_says_how_to_go_on() {
        let f = fixture();
        f.write("big.txt", numbered(2500));
        let out = f.read("big.txt", None, None).expect("read");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2001);
        assert_eq!(lines[1999], "  2000\tline 2000");
        assert_eq!(
            lines[2000],
            "(Showing lines 1-2000 of 2500. To read more, call read_file again with offset=2001.)"
        );
    }

    #[test]
    fn offset_and_limit_pick_a_window() {
        let f = fixture();
        f.write("a.txt", numbered(30));
        let out = f.read("a.txt", Some(10), Some(3)).expect("read");
        assert_eq!(
            out,
            "    10\tline 10\n    11\tline 11\n    12\tline 12\n(Showing lines 10-12 of 30. \
             To read more, call read_file again with offset=13.)"
        );
        let tail = f.read("a.txt", Some(29), Some(10)).expect("read");
        assert_eq!(
            tail,
            "    29\tline 29\n    30\tline 30\n(Showing lines 29-30 of 30: the end of the file.)"
        );
        let zero = f
            .read("a.txt", Some(0), Some(1))
            .expect("offset 0 reads from line 1");
        assert!(zero.starts_with("     1\tline 1\n"), "{zero}");
    }

    #[test]
    fn offset_past_the_end_is_an_error_saying_how_long_the_file_is() {
        let f = fixture();
        f.write("a.txt", numbered(5));
        let err = f.read("a.txt", Some(6), None).expect_err("past end");
        assert!(
            err.contains("has only 5 lines") && err.contains("from 1 to 5"),
            "{err}"
        );
        let err = f.read("a.txt", Some(100), None).expect_err("past end");
        assert!(err.contains("has only 5 lines"), "{err}");
        let err = f.read("a.txt", None, Some(0)).expect_err("limit 0");
        assert!(err.contains("limit"), "{err}");
    }

    #[test]
    fn long_lines_are_clipped_with_a_marker() {
        let f = fixture();
        let long = "é".repeat(MAX_LINE_CHARS + 10) + &"x".repeat(100_000);
        f.write("min.js", format!("short\n{long}\nafter\n"));
        let out = f.read("min.js", None, None).expect("read");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "     1\tshort");
        assert!(lines[1].starts_with(&format!("     2\t{}", "é".repeat(MAX_LINE_CHARS))));
        assert!(
            lines[1].ends_with("… [line clipped: 100010 more characters]"),
            "{}",
            &lines[1][lines[1].len() - 80..]
        );
        assert_eq!(lines[2], "     3\tafter");
    }

    #[test]
    fn huge_files_are_not_counted_past_the_limit() {
        let f = fixture();
        f.write("big.txt", numbered(1000));
        let limits = Limits {
            count: 100,
            ..LIMITS
        };
        let out = f
            .read_with("big.txt", Some(1), Some(10), limits)
            .expect("read");
        assert!(
            out.ends_with(
                "(Showing lines 1-10; more lines follow (the file is 8.7 KiB, too large to count \
                 its lines). To read more, call read_file again with offset=11.)"
            ),
            "{out}"
        );
    }

    #[test]
    fn a_line_too_long_to_scan_ends_the_window() {
        let f = fixture();
        let limits = Limits {
            line_scan: 100_000,
            ..LIMITS
        };
        f.write(
            "one.line",
            format!("first\n{}\nlast\n", "x".repeat(300_000)),
        );
        let out = f.read_with("one.line", None, None, limits).expect("read");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        let (_, marker) = lines[1]
            .split_once("… [line clipped: at least ")
            .expect("marker");
        let more: usize = marker
            .strip_suffix(" more characters]")
            .and_then(|n| n.parse().ok())
            .expect("count");
        assert!((98_000..298_000).contains(&more), "{more}");
        assert!(
            lines[2].starts_with("(Showing lines 1-2. Line 2 is longer than 97.7 KiB"),
            "{}",
            lines[2]
        );
        let err = f
            .read_with("one.line", Some(3), None, limits)
            .expect_err("cannot skip");
        assert!(
            err.starts_with("Line 2 of `one.line` is longer than"),
            "{err}"
        );
        // Within the scan limit the same file pages normally.
        let out = f.read("one.line", Some(3), None).expect("read");
        assert_eq!(
            out,
            "     3\tlast\n(Showing lines 3-3 of 3: the end of the file.)"
        );
    }

    #[test]
    fn huge_offsets_and_limits_are_fine() {
        let f = fixture();
        f.write("a.txt", numbered(3));
        let err = f
            .read("a.txt", Some(usize::MAX), None)
            .expect_err("past end");
        assert!(err.contains("has only 3 lines"), "{err}");
        let out = f.read("a.txt", Some(2), Some(usize::MAX)).expect("read");
        assert!(out.starts_with("     2\tline 2\n     3\tline 3\n"), "{out}");
    }

    #[test]
    fn binary_files_are_summarised_not_dumped() {
        let f = fixture();
        let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        png.extend_from_slice(&640u32.to_be_bytes());
        png.extend_from_slice(&480u32.to_be_bytes());
        png.extend_from_slice(&[0u8; 100]);
        f.write("logo.png", &png);
        let out = f.read("logo.png", None, None).expect("read");
        assert!(
            out.contains("binary file (PNG image, 640x480, 124 bytes)"),
            "{out}"
        );

        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.resize(16, 0);
        elf.extend_from_slice(&[2, 0]);
        elf.resize(4096, 7);
        f.write("prog", &elf);
        let out = f.read("prog", None, None).expect("read");
        assert!(out.contains("ELF executable, 4.0 KiB"), "{out}");

        f.write("data.bin", b"some text\x00and more");
        let out = f.read("data.bin", None, None).expect("read");
        assert!(out.contains("binary data"), "{out}");
        assert!(!out.contains("some text"), "{out}");

        // NUL after the first 8 KiB: read as text (like grep tools, only the head is sniffed).
        let mut late = "a\n".repeat(5000).into_bytes();
        late.push(0);
        f.write("late.txt", &late);
        let out = f.read("late.txt", None, Some(1)).expect("read");
        assert!(out.starts_with("     1\ta\n"), "{out}");

        let noise: Vec<u8> = (0..4000u32).map(|i| 0x80 | (i % 64) as u8).collect();
        f.write("noise", &noise);
        let out = f.read("noise", None, None).expect("read");
        assert!(out.contains("encoding other than UTF-8"), "{out}");
    }

    #[test]
    fn a_few_invalid_bytes_do_not_make_text_binary() {
        let f = fixture();
        f.write("latin1.txt", b"caf\xe9 au lait\nna\xefve\n");
        let out = f.read("latin1.txt", None, None).expect("read");
        assert_eq!(out, "     1\tcaf\u{FFFD} au lait\n     2\tna\u{FFFD}ve");
        // A multi-byte character cut by the 8 KiB sniff boundary is still text.
        let mut text = format!("{}\n", "a".repeat(99)).repeat(81);
        text.push_str(&"a".repeat(SNIFF_BYTES - 1 - text.len()));
        text.push_str("é\n");
        assert_eq!(text.as_bytes()[SNIFF_BYTES - 1], 0xC3);
        f.write("cut.txt", &text);
        let out = f.read("cut.txt", None, None).expect("read");
        assert!(
            out.ends_with(&format!("    82\t{}é", "a".repeat(91))),
            "{out}"
        );
    }

    #[test]
    fn empty_missing_directory_and_special_files() {
        let f = fixture();
        f.write("empty.txt", "");
        assert_eq!(
            f.read("empty.txt", None, None).expect("read"),
            "`empty.txt` is empty (0 bytes)."
        );
        let err = f.read("nope.rs", None, None).expect_err("missing");
        assert!(
            err.contains("`nope.rs` does not exist") && err.contains("find_files"),
            "{err}"
        );
        f.write("dir/x", "x");
        let err = f.read("dir", None, None).expect_err("directory");
        assert!(
            err.contains("is a directory") && err.contains("list_dir"),
            "{err}"
        );
        let err = f.read("/dev/null", None, None).expect_err("device");
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn absolute_paths_outside_the_workspace_are_readable() {
        let f = fixture();
        std::fs::write(f.root.join("outside.txt"), "hello\n").expect("write");
        let abs = f.root.join("outside.txt");
        let out = f
            .read(&abs.display().to_string(), None, None)
            .expect("read");
        assert_eq!(out, "     1\thello");
        let out = f.read("../outside.txt", None, None).expect("read");
        assert_eq!(out, "     1\thello");
    }

    #[test]
    fn sensitive_files_are_refused_however_they_are_reached() {
        let f = fixture();
        let ssh = f.root.join("home/.ssh");
        std::fs::create_dir_all(&ssh).expect("mkdir");
        std::fs::write(ssh.join("id_ed25519"), "PRIVATE KEY").expect("write");
        std::os::unix::fs::symlink(ssh.join("id_ed25519"), f.work().join("innocent.txt"))
            .expect("symlink");
        for path in [
            ssh.join("id_ed25519").display().to_string(),
            "../home/.ssh/id_ed25519".into(),
            "~/.ssh/id_ed25519".into(),
            "innocent.txt".into(),
            "~/.ssh/missing".into(),
            "~/.ssh".into(),
        ] {
            let err = f.read(&path, None, None).expect_err("sensitive");
            assert!(
                err.contains("Refusing") && err.contains("sensitive"),
                "{path}: {err}"
            );
            assert!(!err.contains("PRIVATE"), "{err}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn any_content_window_or_path_never_panics(
            content in proptest::collection::vec(0u8..40, 0..3000).prop_map(|codes| {
                codes.into_iter().map(|c| match c {
                    0 | 1 => 0xFF,
                    2 => 0xC3,
                    3 => 0xA9,
                    4..=8 => b'\n',
                    9 => b'\r',
                    c => b'a' + (c - 10),
                }).collect::<Vec<u8>>()
            }),
            offset in proptest::option::of(0usize..60),
            limit in proptest::option::of(0usize..60),
            nul_at in proptest::option::of(0usize..6000),
            path in "[a-z./~ ]{0,8}",
        ) {
            let f = fixture();
            let mut content = content;
            if let Some(at) = nul_at.filter(|&at| at < content.len()) {
                content[at] = 0;
            }
            f.write("f.txt", &content);
            if let Ok(out) = f.read("f.txt", offset, limit) {
                if !out.contains("is a binary file") && !out.ends_with("is empty (0 bytes).") {
                    // The window is exactly the reference split of the content.
                    let mut lines: Vec<&[u8]> = content.split(|&b| b == b'\n').collect();
                    if content.ends_with(b"\n") {
                        lines.pop();
                    }
                    let first = offset.unwrap_or(1).max(1);
                    let expected: Vec<String> = lines
                        .iter()
                        .enumerate()
                        .skip(first - 1)
                        .take(limit.unwrap_or(DEFAULT_LIMIT))
                        .map(|(i, line)| {
                            let line = line.strip_suffix(b"\r").unwrap_or(line);
                            format!("{:>6}\t{}", i + 1, String::from_utf8_lossy(line))
                        })
                        .collect();
                    let shown: Vec<&str> = out.split('\n').take(expected.len()).collect();
                    prop_assert_eq!(shown, expected.iter().map(String::as_str).collect::<Vec<_>>());
                    prop_assert!(out.split('\n').count() <= expected.len() + 1);
                }
            }
            let _ = f.read(&path, offset, limit);
        }
    }
}
