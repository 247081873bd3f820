//! Server-sent events, parsed incrementally from whatever byte chunks the network delivers.
//!
//! Follows the WHATWG event-stream rules that matter to model providers: `event:` and `data:`
//! fields, multi-line data joined with `\n`, `:` comments, and LF, CRLF or lone CR line ends,
//! any of which may be split across chunks. `id:` and `retry:` are ignored: a model stream is
//! never resumed from an id, it is requested again.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, if the event had one.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

#[derive(Default)]
pub(crate) struct SseParser {
    /// Bytes received but not yet parsed: at most one incomplete line.
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no line end.
    scanned: usize,
    /// Whether the first line was seen (a byte-order mark may precede it).
    started: bool,
    pending: Pending,
}

/// The fields of the event being built.
#[derive(Default)]
struct Pending {
    event: Option<String>,
    data: String,
}

impl SseParser {
    /// Parses `chunk`, appending each event it completes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
        self.buf.extend_from_slice(chunk);
        if !self.started {
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            if self.buf.len() < BOM.len() && BOM.starts_with(&self.buf) {
                return;
            }
            self.started = true;
            if self.buf.starts_with(BOM) {
                self.buf.drain(..BOM.len());
            }
        }

        let mut start = 0;
        let mut i = self.scanned;
        while i < self.buf.len() {
            let next = match self.buf[i] {
                b'\n' => i + 1,
                // A CR at the end may be the first half of a CRLF: wait for the next byte.
                b'\r' if i + 1 == self.buf.len() => break,
                b'\r' if self.buf[i + 1] == b'\n' => i + 2,
                b'\r' => i + 1,
                _ => {
                    i += 1;
                    continue;
                }
            };
            self.pending.line(&self.buf[start..i], out);
            start = next;
            i = next;
        }
        self.buf.drain(..start);
        self.scanned = i - start;
    }

    /// Ends the stream: a lone CR left over ends its line, a partial line is dropped, and an
    /// event whose blank line never came is dispatched (some servers close right after the
    /// last `data:` line).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
            self.pending.line(&self.buf, out);
        }
        self.buf.clear();
        self.scanned = 0;
        self.pending.dispatch(out);
    }
}

impl Pending {
    fn line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"data" => {
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop();
        out.push(SseEvent { event, data });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out);
        }
        parser.finish(&mut out);
        out
    }

    fn parse(input: &str) -> Vec<SseEvent> {
        parse_chunks(&[input.as_bytes()])
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_string),
            data: data.to_string(),
        }
    }

    #[test]
    fn named_and_unnamed_events() {
        assert_eq!(
            parse("event: response.created\ndata: {\"a\":1}\n\ndata: {\"b\":2}\n\n"),
            [
                ev(Some("response.created"), "{\"a\":1}"),
                ev(None, "{\"b\":2}")
            ]
        );
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        assert_eq!(
            parse("data: first\ndata:second\ndata\ndata:  indented\n\n"),
            [ev(None, "first\nsecond\n\n indented")]
        );
    }

    #[test]
    fn comments_ids_retries_and_unknown_fields_are_ignored() {
        assert_eq!(
            parse(": keep-alive\n\nid: 7\nretry: 100\nfoo: bar\n: note\ndata: x\n\n"),
            [ev(None, "x")]
        );
    }

    #[test]
    fn an_event_without_data_is_not_dispatched_and_its_name_does_not_leak() {
        assert_eq!(parse("event: ping\n\ndata: x\n\n"), [ev(None, "x")]);
        assert_eq!(parse("data:\n\n"), [ev(None, "")]);
    }

    #[test]
    fn crlf_and_lone_cr_line_ends() {
        let expected = [ev(Some("a"), "1\n2"), ev(None, "3")];
        assert_eq!(
            parse("event: a\r\ndata: 1\r\ndata: 2\r\n\r\ndata: 3\r\n\r\n"),
            expected
        );
        assert_eq!(parse("event: a\rdata: 1\rdata: 2\r\rdata: 3\r\r"), expected);
        assert_eq!(
            parse("event: a\rdata: 1\r\ndata: 2\n\rdata: 3\n\r"),
            expected
        );
    }

    #[test]
    fn every_split_of_a_stream_parses_the_same() {
        let input = "\u{FEFF}event: a\r\ndata: {\"t\":\"héllo ✓\"}\r\n\r\n: c\rdata: 1\rdata: 2\r\rdata: [DONE]\n\n";
        let whole = parse(input);
        assert_eq!(
            whole,
            [
                ev(Some("a"), "{\"t\":\"héllo ✓\"}"),
                ev(None, "1\n2"),
                ev(None, "[DONE]")
            ]
        );
        let bytes = input.as_bytes();
        for cut in 0..=bytes.len() {
            assert_eq!(
                parse_chunks(&[&bytes[..cut], &bytes[cut..]]),
                whole,
                "cut at {cut}"
            );
        }
        let single_bytes: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse_chunks(&single_bytes), whole);
    }

    #[test]
    fn end_of_stream() {
        // A complete event missing only its blank line is kept...
        assert_eq!(parse("data: [DONE]\n"), [ev(None, "[DONE]")]);
        assert_eq!(parse("data: [DONE]\r"), [ev(None, "[DONE]")]);
        // ...a line cut in the middle is not.
        assert_eq!(parse("data: a\n\ndata: {\"ty"), [ev(None, "a")]);
    }

    #[test]
    fn a_long_line_in_many_chunks() {
        let data = "x".repeat(100_000);
        let input = format!("data: {data}\n\n");
        let chunks: Vec<&[u8]> = input.as_bytes().chunks(7).collect();
        assert_eq!(parse_chunks(&chunks), [ev(None, &data)]);
    }
}
