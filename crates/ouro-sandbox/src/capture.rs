//! Bounded output capture: the first and last bytes of a stream, and a count of the rest.

use std::collections::VecDeque;

/// Keeps at most `cap` bytes: the first half of the cap from the start of the stream and the
/// last half from its end. What falls between is counted, not stored.
#[derive(Debug)]
pub struct HeadTailBuffer {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    head_cap: usize,
    tail_cap: usize,
    omitted_bytes: u64,
    omitted_lines: u64,
}

impl HeadTailBuffer {
    pub fn new(cap: usize) -> Self {
        let head_cap = cap / 2;
        HeadTailBuffer {
            head: Vec::new(),
            tail: VecDeque::new(),
            head_cap,
            tail_cap: cap - head_cap,
            omitted_bytes: 0,
            omitted_lines: 0,
        }
    }

    pub fn push(&mut self, mut bytes: &[u8]) {
        let head_room = self.head_cap - self.head.len();
        if head_room > 0 {
            let take = head_room.min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        if bytes.len() >= self.tail_cap {
            // Everything in the tail, and the front of this chunk, falls out.
            let evicted = bytes.len() - self.tail_cap;
            let old_tail = std::mem::take(&mut self.tail);
            let (front, back) = old_tail.as_slices();
            self.omit(front);
            self.omit(back);
            self.omit(&bytes[..evicted]);
            self.tail.extend(&bytes[evicted..]);
            return;
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.tail_cap);
        if overflow > 0 {
            self.tail.make_contiguous();
            let (evicted, _) = self.tail.as_slices();
            let evicted_bytes = &evicted[..overflow];
            self.omitted_bytes += overflow as u64;
            self.omitted_lines += evicted_bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            self.tail.drain(..overflow);
        }
        self.tail.extend(bytes);
    }

    fn omit(&mut self, bytes: &[u8]) {
        self.omitted_bytes += bytes.len() as u64;
        self.omitted_lines += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    }

    /// The kept output, decoded lossily, with a marker line where bytes were left out.
    pub fn into_string(self) -> String {
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        if self.omitted_bytes > 0 {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!(
                "[... {} bytes and {} lines omitted ...]\n",
                self.omitted_bytes, self.omitted_lines
            ));
        }
        let tail: Vec<u8> = self.tail.into_iter().collect();
        text.push_str(&String::from_utf8_lossy(&tail));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::HeadTailBuffer;

    #[test]
    fn small_output_is_kept_whole() {
        let mut buf = HeadTailBuffer::new(100);
        buf.push(b"hello ");
        buf.push(b"world\n");
        assert_eq!(buf.into_string(), "hello world\n");
    }

    #[test]
    fn the_middle_is_counted_not_kept() {
        let mut buf = HeadTailBuffer::new(8);
        for line in ["aa\n", "bb\n", "cc\n", "dd\n", "ee\n"] {
            buf.push(line.as_bytes());
        }
        // 15 bytes: head "aa\nb" and tail "\nee\n" kept, "b\ncc\ndd" counted.
        assert_eq!(
            buf.into_string(),
            "aa\nb\n[... 7 bytes and 2 lines omitted ...]\n\nee\n"
        );
    }

    #[test]
    fn one_huge_chunk_keeps_its_end() {
        let mut buf = HeadTailBuffer::new(4);
        buf.push(b"0123456789");
        let text = buf.into_string();
        assert_eq!(text, "01\n[... 6 bytes and 0 lines omitted ...]\n89");
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily() {
        let mut buf = HeadTailBuffer::new(100);
        buf.push(&[b'a', 0xff, b'b']);
        assert_eq!(buf.into_string(), "a\u{fffd}b");
    }
}
