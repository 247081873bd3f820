//! Whether a sed script only prints.

/// True when `script` has no command that writes a file (`w`, `W`, the `w` flag of `s`) or
/// runs one (`e`, the `e` flag of `s`). Anything not understood is false.
pub(super) fn is_read_only(script: &str) -> bool {
    Scanner {
        chars: script.chars().collect(),
        pos: 0,
    }
    .read_only()
    .unwrap_or(false)
}

struct Scanner {
    chars: Vec<char>,
    pos: usize,
}

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += 1;
        c
    }

    fn skip_while(&mut self, f: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
    }

    fn skip_to_end_of_command(&mut self) {
        self.skip_while(|c| c != ';' && c != '\n' && c != '}');
    }

    fn skip_line(&mut self) {
        // `a\`, `i\` and `c\` text may continue over escaped newlines.
        while let Some(c) = self.next() {
            match c {
                '\\' => {
                    self.next();
                }
                '\n' => break,
                _ => {}
            }
        }
    }

    /// Skips a delimited part (`/re/`, the halves of `s` and `y`), the delimiter consumed.
    fn delimited(&mut self, delimiter: char) -> Option<()> {
        loop {
            match self.next()? {
                '\\' => {
                    self.next()?;
                }
                '\n' if delimiter != '\n' => return None,
                c if c == delimiter => return Some(()),
                _ => {}
            }
        }
    }

    fn address(&mut self) -> Option<()> {
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                self.skip_while(|c| c.is_ascii_digit());
                if self.peek() == Some('~') {
                    self.pos += 1;
                    self.skip_while(|c| c.is_ascii_digit());
                }
            }
            Some('$') => self.pos += 1,
            Some('/') => {
                self.pos += 1;
                self.delimited('/')?;
                self.skip_while(|c| c == 'I' || c == 'M');
            }
            Some('\\') => {
                self.pos += 1;
                let delimiter = self.next()?;
                self.delimited(delimiter)?;
                self.skip_while(|c| c == 'I' || c == 'M');
            }
            Some('+' | '~') => {
                self.pos += 1;
                self.skip_while(|c| c.is_ascii_digit());
            }
            _ => {}
        }
        Some(())
    }

    fn read_only(&mut self) -> Option<bool> {
        loop {
            self.skip_while(|c| c.is_whitespace() || c == ';');
            let Some(_) = self.peek() else {
                return Some(true);
            };
            self.address()?;
            self.skip_while(|c| c == ' ' || c == '\t');
            if self.peek() == Some(',') {
                self.pos += 1;
                self.skip_while(|c| c == ' ' || c == '\t');
                self.address()?;
            }
            self.skip_while(|c| c == ' ' || c == '\t' || c == '!');
            let command = self.next()?;
            match command {
                '{' | '}' => {}
                '#' => self.skip_line(),
                ':' | 'b' | 't' | 'T' | 'v' => self.skip_to_end_of_command(),
                'a' | 'i' | 'c' => self.skip_line(),
                'r' | 'R' => self.skip_line(),
                'w' | 'W' | 'e' => return Some(false),
                's' => {
                    let delimiter = self.next()?;
                    if delimiter == '\n' || delimiter == '\\' {
                        return None;
                    }
                    self.delimited(delimiter)?;
                    self.delimited(delimiter)?;
                    loop {
                        match self.peek() {
                            Some('w' | 'e') => return Some(false),
                            Some(c) if c.is_ascii_alphanumeric() => self.pos += 1,
                            _ => break,
                        }
                    }
                }
                'y' => {
                    let delimiter = self.next()?;
                    self.delimited(delimiter)?;
                    self.delimited(delimiter)?;
                }
                'q' | 'Q' | 'l' | 'L' => {
                    self.skip_while(|c| c == ' ');
                    self.skip_while(|c| c.is_ascii_digit());
                }
                '=' | 'd' | 'D' | 'g' | 'G' | 'h' | 'H' | 'x' | 'n' | 'N' | 'p' | 'P' | 'z'
                | 'F' => {}
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_read_only;

    #[test]
    fn printing_scripts_are_read_only() {
        for script in [
            "1,80p",
            "p",
            "/start/,/end/p",
            "s/foo/bar/g",
            "s|a|b|2p",
            "$!d",
            "10q",
            "/^#/d; s/x/y/",
            "y/abc/xyz/",
            "1~2p",
            "/a/{p;q}",
            "s/w/e/",
            "\\,x,p",
        ] {
            assert!(is_read_only(script), "{script}");
        }
    }

    #[test]
    fn writing_or_executing_scripts_are_not() {
        for script in [
            "w out.txt",
            "1,5w /etc/passwd",
            "s/a/b/w out",
            "s/a/b/gw out",
            "e rm -rf /",
            "s/.*/rm -rf ~/e",
            "1e id",
            "/x/W f",
            "p; w f",
            "s/unterminated",
            "k",
        ] {
            assert!(!is_read_only(script), "{script}");
        }
    }
}
