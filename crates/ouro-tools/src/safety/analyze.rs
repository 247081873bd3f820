//! Walking a tree-sitter-bash syntax tree: statements, pipelines, redirections and words.
//!
//! The walk collects one [`Verdict`] per simple command (and per suspicious construct), in the
//! order the shell would meet them. What flows between commands is tracked coarsely as an
//! [`Output`]: whether it carries downloaded or decoded data (`taint`), and its exact text
//! when that is known (`echo 'ls' | sh`), so that a shell reading it can be judged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tree_sitter::{Node, Parser, Tree};

use super::{Assessment, CommandTrace, Decision, Rules};

/// Shells inside shells inside shells: beyond this, stop following and ask.
const MAX_DEPTH: usize = 12;
/// Scripts longer than this are not parsed; they need a person's yes.
const MAX_SCRIPT_BYTES: usize = 256 * 1024;
/// Syntax trees deeper than this (`((((…))))`) are not walked: the walk recurses.
const MAX_TREE_DEPTH: usize = 400;

/// One judgement: what to do, the command it is about, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Verdict {
    pub decision: Decision,
    /// The command as written (shortened), or empty for a judgement about a whole script.
    pub command: String,
    pub why: String,
}

impl Verdict {
    pub fn new(decision: Decision, command: &str, why: impl Into<String>) -> Verdict {
        Verdict {
            decision,
            command: command.to_string(),
            why: why.into(),
        }
    }

    pub fn allow(command: &str, why: impl Into<String>) -> Verdict {
        Verdict::new(Decision::Allow, command, why)
    }

    pub fn prompt(command: &str, why: impl Into<String>) -> Verdict {
        Verdict::new(Decision::Prompt, command, why)
    }

    pub fn forbid(command: &str, why: impl Into<String>) -> Verdict {
        Verdict::new(Decision::Forbid, command, why)
    }

    /// The stricter of the two; the first on a tie.
    pub fn max(self, other: Verdict) -> Verdict {
        if other.decision > self.decision {
            other
        } else {
            self
        }
    }

    pub fn reason(&self) -> String {
        if self.command.is_empty() {
            self.why.clone()
        } else {
            format!("`{}`: {}", self.command, self.why)
        }
    }

    pub fn assessment(&self) -> Assessment {
        Assessment {
            decision: self.decision,
            reason: self.reason(),
        }
    }
}

/// What a command writes to its standard output, as far as it matters here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Output {
    /// Names the download or decoder the data comes from.
    pub taint: Option<String>,
    /// The exact text, when it is known.
    pub literal: Option<String>,
}

/// Where a command's standard input comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) enum Stdin {
    /// Whatever ouro gives commands (nothing: stdin is closed).
    #[default]
    Inherited,
    /// A pipe, a file, a here-document or a here-string.
    Data {
        what: &'static str,
        taint: Option<String>,
        literal: Option<String>,
    },
}

impl Stdin {
    pub fn taint(&self) -> Option<&String> {
        match self {
            Stdin::Inherited => None,
            Stdin::Data { taint, .. } => taint.as_ref(),
        }
    }

    pub fn literal(&self) -> Option<&String> {
        match self {
            Stdin::Inherited => None,
            Stdin::Data { literal, .. } => literal.as_ref(),
        }
    }
}

/// How a simple command is run.
#[derive(Debug, Clone, Default)]
pub(super) struct Ctx {
    pub stdin: Stdin,
    /// `xargs` appends arguments nobody can see in advance.
    pub appended_args: bool,
}

/// A simple command's verdict and output.
#[derive(Debug, Clone)]
pub(super) struct Outcome {
    pub verdict: Verdict,
    pub output: Output,
}

/// A piece of a shell word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg {
    /// Text; `quoted` text is not subject to globbing.
    Lit { text: String, quoted: bool },
    /// `$NAME` or `${NAME}`.
    Var(String),
    /// An unquoted leading `~` or `~user`.
    Tilde(String),
    /// Anything else whose value is only known when it runs (`$(…)`, `${x:-y}`, `$((…))`),
    /// as written, and the text it expands to when that is known (`$(echo rm -rf /)`).
    Dyn(String, Option<String>),
}

/// A shell word after quote removal, with its expansions kept apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Word {
    pub segs: Vec<Seg>,
    /// A command substitution inside it downloads or decodes: names what.
    pub taint: Option<String>,
    /// It is a process substitution (`<(…)`), a `/dev/fd/N` path when it runs.
    pub procsub: bool,
}

impl Word {
    /// A word passed as is (an argv element, not parsed by a shell).
    pub fn plain(text: &str) -> Word {
        Word {
            segs: vec![Seg::Lit {
                text: text.to_string(),
                quoted: true,
            }],
            ..Word::default()
        }
    }

    /// The word as it reads after quote removal, expansions as written.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for seg in &self.segs {
            match seg {
                Seg::Lit { text, .. } => out.push_str(text),
                Seg::Var(name) => {
                    out.push('$');
                    out.push_str(name);
                }
                Seg::Tilde(user) => {
                    out.push('~');
                    out.push_str(user);
                }
                Seg::Dyn(raw, _) => out.push_str(raw),
            }
        }
        out
    }

    /// The word as shell code would see it after expansion, where that is known: for `eval`
    /// and `bash -c`, whose argument is parsed again.
    pub fn code_text(&self) -> String {
        let mut out = String::new();
        for seg in &self.segs {
            match seg {
                Seg::Dyn(_, Some(value)) => out.push_str(value),
                Seg::Lit { text, .. } => out.push_str(text),
                other => out.push_str(
                    &Word {
                        segs: vec![other.clone()],
                        ..Word::default()
                    }
                    .text(),
                ),
            }
        }
        out
    }

    /// Only text (globs allowed).
    pub fn is_static(&self) -> bool {
        self.segs.iter().all(|s| matches!(s, Seg::Lit { .. }))
    }

    /// The exact value, when it has no expansion, glob or brace expansion.
    pub fn literal(&self) -> Option<String> {
        (self.is_static() && !self.has_glob()).then(|| self.text())
    }

    /// [`Word::literal`], with arithmetic expansions (`$((n + 5))`) taken as the number 1:
    /// enough to judge a sed script built with them.
    pub fn literal_with_numbers(&self) -> Option<String> {
        let mut word = self.clone();
        for seg in &mut word.segs {
            if let Seg::Dyn(raw, _) = seg {
                if raw.starts_with("$((") {
                    *seg = Seg::Lit {
                        text: "1".into(),
                        quoted: true,
                    };
                }
            }
        }
        word.literal()
    }

    /// Unquoted glob characters or a brace expansion: it may become several words.
    pub fn has_glob(&self) -> bool {
        let mut shape = String::new();
        for seg in &self.segs {
            match seg {
                Seg::Lit {
                    text,
                    quoted: false,
                } => shape.push_str(text),
                _ => shape.push('x'),
            }
        }
        if shape.contains(['*', '?', '[']) {
            return true;
        }
        // `{a,b}` and `{1..3}` expand; `{}` and a lone brace do not.
        match (shape.find('{'), shape.rfind('}')) {
            (Some(open), Some(close)) if open < close => {
                let inner = &shape[open + 1..close];
                inner.contains(',') || inner.contains("..")
            }
            _ => false,
        }
    }

    pub fn starts_with_dash(&self) -> bool {
        matches!(self.segs.first(), Some(Seg::Lit { text, .. }) if text.starts_with('-'))
    }

    fn lit(&mut self, text: &str, quoted: bool) {
        if !text.is_empty() {
            self.segs.push(Seg::Lit {
                text: text.to_string(),
                quoted,
            });
        }
    }

    /// Unquoted text: backslashes quote the next character; a leading `~` expands.
    fn unquoted(&mut self, text: &str) {
        let mut rest = text;
        if self.segs.is_empty() && rest.starts_with('~') {
            let end = rest.find('/').unwrap_or(rest.len());
            let user = &rest[1..end];
            if user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                self.segs.push(Seg::Tilde(user.to_string()));
                rest = &rest[end..];
            }
        }
        let mut plain = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                self.lit(&std::mem::take(&mut plain), false);
                match chars.next() {
                    Some('\n') | None => {}
                    Some(escaped) => self.lit(&escaped.to_string(), true),
                }
            } else {
                plain.push(c);
            }
        }
        self.lit(&plain, false);
    }
}

/// Shows `words` as a short command line.
pub(super) fn display_words(words: &[Word]) -> String {
    shorten(
        &words
            .iter()
            .map(|w| {
                let t = w.text();
                if t.is_empty() || t.contains(char::is_whitespace) {
                    format!("'{t}'")
                } else {
                    t
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// One line of at most 100 characters.
pub(super) fn shorten(text: &str) -> String {
    let one_line: String = text
        .trim()
        .chars()
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect();
    if one_line.chars().count() > 100 {
        let cut: String = one_line.chars().take(97).collect();
        format!("{cut}…")
    } else {
        one_line
    }
}

/// Node kinds that are statements.
fn is_statement(kind: &str) -> bool {
    matches!(
        kind,
        "command"
            | "pipeline"
            | "list"
            | "redirected_statement"
            | "subshell"
            | "compound_statement"
            | "function_definition"
            | "if_statement"
            | "while_statement"
            | "for_statement"
            | "c_style_for_statement"
            | "case_statement"
            | "negated_command"
            | "test_command"
            | "variable_assignment"
            | "variable_assignments"
            | "declaration_command"
            | "unset_command"
    )
}

fn node_text<'s>(node: Node, src: &'s str) -> &'s str {
    src.get(node.byte_range()).unwrap_or("")
}

fn children<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    let mut cursor = node.walk();
    node.children(&mut cursor).collect()
}

/// Decodes the escapes of `$'…'` and of `printf`/`echo -e`.
pub(super) fn decode_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'e' | 'E' => out.push('\x1b'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            'x' | 'u' | 'U' => {
                let max = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut digits = String::new();
                while digits.len() < max {
                    match chars.peek() {
                        Some(d) if d.is_ascii_hexdigit() => {
                            digits.push(*d);
                            chars.next();
                        }
                        _ => break,
                    }
                }
                match u32::from_str_radix(&digits, 16)
                    .ok()
                    .and_then(char::from_u32)
                {
                    Some(decoded) => out.push(decoded),
                    None => {
                        out.push('\\');
                        out.push(e);
                        out.push_str(&digits);
                    }
                }
            }
            '0'..='7' => {
                let mut digits = String::from(e);
                while digits.len() < 3 {
                    match chars.peek() {
                        Some(d @ '0'..='7') => {
                            digits.push(*d);
                            chars.next();
                        }
                        _ => break,
                    }
                }
                match u32::from_str_radix(&digits, 8)
                    .ok()
                    .and_then(char::from_u32)
                {
                    Some(decoded) => out.push(decoded),
                    None => out.push('?'),
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Removes the backslashes that quote inside double quotes.
fn unescape_double_quoted(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('"' | '\\' | '$' | '`') => {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                }
                Some('\n') => {
                    chars.next();
                }
                _ => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The redirections of one statement.
#[derive(Default)]
struct Redirections<'t> {
    stdin: Option<Stdin>,
    /// Files written: (target, appended rather than truncated).
    writes: Vec<(Word, bool)>,
    /// `cat <<EOF | sh`: the rest of the pipeline hangs off the here-document.
    rest: Vec<Node<'t>>,
    /// `cat <<EOF && ls`: so does the rest of the list.
    right: Vec<Node<'t>>,
}

pub(super) struct Analyzer<'r> {
    pub workspace: PathBuf,
    pub home: Option<PathBuf>,
    /// The directory commands run in, while it is known.
    pub cwd: Option<PathBuf>,
    pub rules: Option<&'r Rules>,
    findings: Vec<Verdict>,
    trace: Vec<CommandTrace>,
    /// Files written from a download: (path, what downloaded it).
    pub downloaded: Vec<(PathBuf, String)>,
    /// Shell variables whose value is known (`dir=build`, `tmp=$(mktemp -d)`); a variable
    /// set in a way not followed is dropped, so that it counts as unknown.
    pub vars: HashMap<String, Word>,
    /// Off once the script defines a function (a call may then set anything).
    pub track_vars: bool,
    depth: usize,
    parser: Option<Parser>,
}

impl<'r> Analyzer<'r> {
    pub fn new(workspace: &Path, rules: Option<&'r Rules>) -> Analyzer<'r> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        Analyzer::with_home(workspace, home, rules)
    }

    pub fn with_home(
        workspace: &Path,
        home: Option<PathBuf>,
        rules: Option<&'r Rules>,
    ) -> Analyzer<'r> {
        let workspace = super::paths::normalize(workspace);
        Analyzer {
            cwd: Some(workspace.clone()),
            workspace,
            home: home.map(|h| super::paths::normalize(&h)),
            rules,
            findings: Vec::new(),
            trace: Vec::new(),
            downloaded: Vec::new(),
            vars: HashMap::new(),
            track_vars: true,
            depth: 0,
            parser: None,
        }
    }

    pub fn into_trace(self) -> Vec<CommandTrace> {
        self.trace
    }

    /// Judges an argv as the `shell` tool receives it.
    pub fn run(&mut self, argv: &[String]) -> Assessment {
        if argv.first().is_none_or(|p| p.trim().is_empty()) {
            return Verdict::prompt("", "the command is empty").assessment();
        }
        let words: Vec<Word> = argv.iter().map(|a| Word::plain(a)).collect();
        let outcome = self.command(words, &Ctx::default());
        self.findings.push(outcome.verdict);
        combine(std::mem::take(&mut self.findings)).assessment()
    }

    /// Records a judgement.
    pub fn push(&mut self, verdict: Verdict) {
        self.findings.push(verdict);
    }

    /// Reserves the trace entry of a command (so outer commands come before what they wrap).
    pub fn trace_slot(&mut self) -> usize {
        self.trace.push(CommandTrace {
            argv: Vec::new(),
            classifier: Verdict::allow("", "").assessment(),
            rule: None,
            decision: Decision::Allow,
        });
        self.trace.len() - 1
    }

    pub fn fill_trace(&mut self, slot: usize, entry: CommandTrace) {
        if let Some(place) = self.trace.get_mut(slot) {
            *place = entry;
        }
    }

    fn parse(&mut self, src: &str) -> Option<Tree> {
        if self.parser.is_none() {
            let mut parser = Parser::new();
            parser
                .set_language(&tree_sitter_bash::LANGUAGE.into())
                .ok()?;
            self.parser = Some(parser);
        }
        self.parser.as_mut()?.parse(src, None)
    }

    /// Judges a shell script (the argument of `bash -c`, `eval`, a here-document fed to a
    /// shell, …) as a whole: the strictest of its parts.
    pub fn script(&mut self, src: &str) -> (Verdict, Output) {
        let display = shorten(src);
        if self.depth >= MAX_DEPTH {
            return (
                Verdict::prompt(&display, "shells are nested too deeply to follow"),
                Output::default(),
            );
        }
        if src.len() > MAX_SCRIPT_BYTES {
            return (
                Verdict::prompt(&display, "the script is too long to check"),
                Output::default(),
            );
        }
        let Some(tree) = self.parse(src) else {
            return (
                Verdict::prompt(&display, "the script could not be parsed"),
                Output::default(),
            );
        };
        let root = tree.root_node();
        if tree_depth(root) > MAX_TREE_DEPTH {
            return (
                Verdict::prompt(&display, "the script is nested too deeply to check"),
                Output::default(),
            );
        }
        let saved_findings = std::mem::take(&mut self.findings);
        let saved_cwd = self.cwd.clone();
        let saved_vars = self.vars.clone();
        self.depth += 1;
        let output = self.block(root, src, &Stdin::Inherited);
        if root.has_error() {
            self.push(Verdict::prompt(
                &display,
                "the shell syntax could not be parsed completely",
            ));
        }
        self.depth -= 1;
        self.cwd = saved_cwd;
        self.vars = saved_vars;
        let inner = std::mem::replace(&mut self.findings, saved_findings);
        (combine(inner), output)
    }

    /// Statements one after another (a program, a list, a `{ …; }` or `( … )` group, a loop
    /// body, the branches of an `if`): every part is judged.
    fn block(&mut self, node: Node, src: &str, stdin: &Stdin) -> Output {
        let mut output = Output::default();
        let mut taint = None;
        let mut literal = Some(String::new());
        let mut last_named: Option<Node> = None;
        for child in children(node) {
            if !child.is_named() {
                if child.kind() == "&" {
                    let what = last_named.map_or("", |n| node_text(n, src));
                    self.push(Verdict::prompt(&shorten(what), "runs in the background"));
                }
                continue;
            }
            last_named = Some(child);
            let kind = child.kind();
            if kind == "comment" {
                continue;
            }
            if is_statement(kind) {
                output = self.statement(child, src, stdin);
                taint = taint.or(output.taint.clone());
                literal = match (literal, &output.literal) {
                    (Some(mut all), Some(more)) => {
                        all.push_str(more);
                        Some(all)
                    }
                    _ => None,
                };
            } else if kind == "ERROR" {
                self.push(Verdict::prompt(
                    &shorten(node_text(child, src)),
                    "the shell syntax could not be parsed",
                ));
                self.block(child, src, stdin);
            } else {
                taint = taint.or(self.scan(child, src));
            }
        }
        Output {
            taint: taint.or(output.taint),
            literal,
        }
    }

    fn statement(&mut self, node: Node, src: &str, stdin: &Stdin) -> Output {
        match node.kind() {
            "command" => self.simple_command(node, src, stdin),
            "pipeline" => {
                let stages: Vec<Node> = children(node)
                    .into_iter()
                    .filter(|c| c.is_named() && c.kind() != "comment")
                    .collect();
                self.pipeline(&stages, src, stdin.clone())
            }
            "redirected_statement" => self.redirected(node, src, stdin),
            "function_definition" => {
                self.function(node, src);
                Output::default()
            }
            "variable_assignment" | "variable_assignments" => {
                let display = shorten(node_text(node, src));
                self.assignments(node, src, &display);
                Output::default()
            }
            "declaration_command" => {
                let display = shorten(node_text(node, src));
                let before = self.findings.len();
                self.assignments(node, src, &display);
                if self.findings.len() == before {
                    self.push(Verdict::allow(&display, "only sets shell variables"));
                }
                Output::default()
            }
            "unset_command" => {
                for child in children(node).into_iter().filter(|c| c.is_named()) {
                    self.vars.remove(node_text(child, src));
                }
                self.scan_children(node, src);
                self.push(Verdict::allow(
                    &shorten(node_text(node, src)),
                    "only unsets shell variables",
                ));
                Output::default()
            }
            "test_command" => {
                self.scan_children(node, src);
                self.push(Verdict::allow(
                    &shorten(node_text(node, src)),
                    "only tests a condition",
                ));
                Output::default()
            }
            "for_statement" => {
                if let Some(var) = node.child_by_field_name("variable") {
                    self.vars.remove(node_text(var, src));
                }
                self.block(node, src, stdin)
            }
            "list"
            | "subshell"
            | "compound_statement"
            | "negated_command"
            | "if_statement"
            | "while_statement"
            | "c_style_for_statement"
            | "case_statement" => self.block(node, src, stdin),
            kind => {
                self.push(Verdict::prompt(
                    &shorten(node_text(node, src)),
                    format!("unsupported shell construct ({kind})"),
                ));
                self.block(node, src, stdin)
            }
        }
    }

    /// Runs the statements of `stages` connected by pipes.
    fn pipeline(&mut self, stages: &[Node], src: &str, stdin: Stdin) -> Output {
        let mut input = stdin;
        let mut output = Output::default();
        for stage in stages {
            output = self.statement(*stage, src, &input);
            input = Stdin::Data {
                what: "a pipe",
                taint: output.taint.clone(),
                literal: output.literal.clone(),
            };
        }
        output
    }

    /// Runs the command substitutions and process substitutions inside `node` (they run
    /// before the command they are part of); returns the taint of their output.
    fn scan(&mut self, node: Node, src: &str) -> Option<String> {
        match node.kind() {
            "command_substitution" | "process_substitution" => {
                self.block(node, src, &Stdin::Inherited).taint
            }
            kind if is_statement(kind) => self.statement(node, src, &Stdin::Inherited).taint,
            _ => self.scan_children(node, src),
        }
    }

    fn scan_children(&mut self, node: Node, src: &str) -> Option<String> {
        let mut taint = None;
        for child in children(node) {
            if child.is_named() {
                taint = taint.or(self.scan(child, src));
            }
        }
        taint
    }

    fn simple_command(&mut self, node: Node, src: &str, stdin: &Stdin) -> Output {
        let display = shorten(node_text(node, src));
        let mut words = Vec::new();
        let mut redirects = Vec::new();
        for (i, child) in children(node).into_iter().enumerate() {
            let field = u32::try_from(i)
                .ok()
                .and_then(|i| node.field_name_for_child(i));
            match (field, child.kind()) {
                (Some("redirect"), _) => redirects.push(child),
                (Some("name" | "argument"), _) => words.push(self.word(child, src)),
                (_, "variable_assignment") => self.assignment(child, src, &display, false),
                (_, "comment") => {}
                (_, kind) if child.is_named() => {
                    self.push(Verdict::prompt(
                        &display,
                        format!("unsupported shell construct ({kind})"),
                    ));
                    self.scan(child, src);
                }
                _ => {}
            }
        }
        let redirections = self.redirections(&redirects, src);
        let ctx = Ctx {
            stdin: redirections.stdin.clone().unwrap_or_else(|| stdin.clone()),
            appended_args: false,
        };
        if words.is_empty() {
            self.push(Verdict::allow(&display, "only sets shell variables"));
            return Output::default();
        }
        let outcome = self.command(words, &ctx);
        self.push(outcome.verdict);
        self.apply_writes(&redirections.writes, &outcome.output, &display);
        outcome.output
    }

    fn redirected(&mut self, node: Node, src: &str, stdin: &Stdin) -> Output {
        let display = shorten(node_text(node, src));
        let body = node.child_by_field_name("body");
        let redirects: Vec<Node> = children(node)
            .into_iter()
            .filter(|c| c.kind().ends_with("_redirect"))
            .collect();
        let redirections = self.redirections(&redirects, src);
        let body_stdin = redirections.stdin.clone().unwrap_or_else(|| stdin.clone());
        let mut output = match body {
            Some(body) => self.statement(body, src, &body_stdin),
            None => Output::default(),
        };
        self.apply_writes(&redirections.writes, &output, &display);
        if !redirections.rest.is_empty() {
            let input = Stdin::Data {
                what: "a pipe",
                taint: output.taint.clone(),
                literal: output.literal.clone(),
            };
            output = self.pipeline(&redirections.rest, src, input);
        }
        for right in redirections.right {
            output = self.statement(right, src, stdin);
        }
        output
    }

    fn redirections<'t>(&mut self, nodes: &[Node<'t>], src: &str) -> Redirections<'t> {
        let mut r = Redirections::default();
        for node in nodes {
            self.redirection(*node, src, &mut r);
        }
        r
    }

    fn redirection<'t>(&mut self, node: Node<'t>, src: &str, r: &mut Redirections<'t>) {
        match node.kind() {
            "file_redirect" => {
                let nodes = children(node);
                let op = nodes
                    .iter()
                    .find(|c| !c.is_named())
                    .map_or(">", |c| c.kind());
                let Some(dest) = node.child_by_field_name("destination") else {
                    return; // `>&-` and the like close a descriptor
                };
                let target = self.word(dest, src);
                let text = target.text();
                match op {
                    "<" => {
                        let taint = target.taint.clone().or_else(|| self.downloaded_by(&target));
                        r.stdin = Some(Stdin::Data {
                            what: "a file",
                            taint,
                            literal: None,
                        });
                    }
                    "<&" | "<&-" | ">&-" => {}
                    // `2>&1`, `>&2`: duplicating a descriptor writes no file.
                    ">&" if text == "-" || text.chars().all(|c| c.is_ascii_digit()) => {}
                    ">>" | "&>>" | "<>" => r.writes.push((target, true)),
                    _ => r.writes.push((target, false)),
                }
            }
            "herestring_redirect" => {
                let value = children(node)
                    .into_iter()
                    .find(|c| c.is_named() && c.kind() != "file_descriptor");
                if let Some(value) = value {
                    let word = self.word(value, src);
                    let literal = word.is_static().then(|| format!("{}\n", word.text()));
                    r.stdin = Some(Stdin::Data {
                        what: "a here-string",
                        taint: word.taint,
                        literal,
                    });
                }
            }
            "heredoc_redirect" => {
                let mut strip_tabs = false;
                let mut body = String::new();
                let mut taint = None;
                for (i, child) in children(node).into_iter().enumerate() {
                    let field = u32::try_from(i)
                        .ok()
                        .and_then(|i| node.field_name_for_child(i));
                    match (field, child.kind()) {
                        (_, "<<-") => strip_tabs = true,
                        (_, "heredoc_body") => {
                            taint = self.scan(child, src);
                            body = node_text(child, src).to_string();
                        }
                        (_, "pipeline") => r.rest.extend(
                            children(child)
                                .into_iter()
                                .filter(|c| c.is_named() && c.kind() != "comment"),
                        ),
                        (Some("redirect"), _) => self.redirection(child, src, r),
                        (Some("right"), _) => r.right.push(child),
                        _ => {}
                    }
                }
                if strip_tabs {
                    body = body
                        .lines()
                        .map(|l| l.trim_start_matches('\t'))
                        .collect::<Vec<_>>()
                        .join("\n");
                }
                r.stdin = Some(Stdin::Data {
                    what: "a here-document",
                    taint,
                    literal: Some(body),
                });
            }
            _ => {
                self.scan(node, src);
            }
        }
    }

    /// Judges the files a statement's redirections write.
    fn apply_writes(&mut self, writes: &[(Word, bool)], output: &Output, display: &str) {
        for (target, append) in writes {
            let verdict = self.write_target(target, *append, display);
            if verdict.decision > Decision::Allow {
                self.push(verdict);
            }
            if let (Some(taint), Some(path)) = (&output.taint, self.resolve(target).path) {
                self.downloaded.push((path, taint.clone()));
            }
        }
    }

    /// `NAME=value` before a command (for it only) or on its own (`store`: for the rest of
    /// the script).
    fn assignment(&mut self, node: Node, src: &str, display: &str, store: bool) {
        let name = node
            .child_by_field_name("name")
            .map_or("", |n| node_text(n, src))
            .to_string();
        let value = node.child_by_field_name("value").map(|v| self.word(v, src));
        if let Some(why) = dangerous_variable(&name, value.as_ref()) {
            self.push(Verdict::prompt(display, why));
        }
        if store {
            let value = value.map(|v| self.expand(&v)).unwrap_or_default();
            let known = value
                .segs
                .iter()
                .all(|s| matches!(s, Seg::Lit { .. } | Seg::Tilde(_)));
            if known && self.track_vars && value.taint.is_none() {
                self.vars.insert(name, value);
            } else {
                self.vars.remove(&name);
            }
        }
    }

    /// `word` with the variables whose value is known replaced by it.
    pub fn expand(&self, word: &Word) -> Word {
        let mut out = Word {
            segs: Vec::new(),
            taint: word.taint.clone(),
            procsub: word.procsub,
        };
        for seg in &word.segs {
            match seg {
                Seg::Var(name) if self.track_vars && self.vars.contains_key(name) => {
                    if let Some(value) = self.vars.get(name) {
                        out.segs.extend(value.segs.iter().cloned());
                    }
                }
                other => out.segs.push(other.clone()),
            }
        }
        out
    }

    /// The assignments inside `export`/`declare`/… or a list of them.
    fn assignments(&mut self, node: Node, src: &str, display: &str) {
        if node.kind() == "variable_assignment" {
            self.assignment(node, src, display, true);
            return;
        }
        for child in children(node) {
            match child.kind() {
                "variable_assignment" => self.assignment(child, src, display, true),
                "variable_name" | "word" => {
                    self.vars.remove(node_text(child, src));
                }
                _ if child.is_named() => {
                    self.scan(child, src);
                }
                _ => {}
            }
        }
    }

    /// A function definition: its body is judged as if it ran; a function that calls itself
    /// through a pipe or in the background is a fork bomb.
    fn function(&mut self, node: Node, src: &str) {
        let display = shorten(node_text(node, src));
        let name = node
            .child_by_field_name("name")
            .map_or("", |n| node_text(n, src))
            .to_string();
        self.track_vars = false;
        self.vars.clear();
        let Some(body) = node.child_by_field_name("body") else {
            self.push(Verdict::prompt(&display, "defines a shell function"));
            return;
        };
        self.statement(body, src, &Stdin::Inherited);
        let body_text = node_text(body, src);
        if calls(body, src, &name) && (body_text.contains('|') || body_text.contains('&')) {
            self.push(Verdict::forbid(
                &display,
                format!("a fork bomb: `{name}` starts copies of itself"),
            ));
        } else {
            self.push(Verdict::prompt(
                &display,
                format!("defines the shell function `{name}`"),
            ));
        }
    }

    /// Evaluates a word node, running the substitutions inside it.
    pub fn word(&mut self, node: Node, src: &str) -> Word {
        let mut word = Word::default();
        self.word_into(node, src, &mut word);
        word
    }

    fn word_into(&mut self, node: Node, src: &str, word: &mut Word) {
        let text = node_text(node, src);
        match node.kind() {
            "command_name" | "translated_string" | "concatenation" => {
                for child in children(node) {
                    self.word_into(child, src, word);
                }
            }
            "word" | "number" | "brace_expression" | "extglob_pattern" => word.unquoted(text),
            "raw_string" => {
                let inner = text.strip_prefix('\'').unwrap_or(text);
                word.lit(inner.strip_suffix('\'').unwrap_or(inner), true);
            }
            "ansi_c_string" => {
                let inner = text.strip_prefix("$'").unwrap_or(text);
                word.lit(
                    &decode_escapes(inner.strip_suffix('\'').unwrap_or(inner)),
                    true,
                );
            }
            "string" => {
                let mut pos = node.start_byte() + 1;
                let end = node.end_byte().saturating_sub(1);
                for child in children(node) {
                    if child.start_byte() < pos || child.end_byte() > end.max(pos) {
                        continue; // the quotes
                    }
                    if child.start_byte() > pos {
                        let gap = src.get(pos..child.start_byte()).unwrap_or("");
                        word.lit(&unescape_double_quoted(gap), true);
                    }
                    match child.kind() {
                        "string_content" => {
                            word.lit(&unescape_double_quoted(node_text(child, src)), true)
                        }
                        _ if child.is_named() => self.word_into(child, src, word),
                        _ => word.lit(node_text(child, src), true),
                    }
                    pos = child.end_byte();
                }
                if end > pos {
                    let gap = src.get(pos..end).unwrap_or("");
                    word.lit(&unescape_double_quoted(gap), true);
                }
            }
            "simple_expansion" => {
                let name = children(node)
                    .into_iter()
                    .find(|c| c.is_named())
                    .map_or("", |c| node_text(c, src));
                word.segs.push(Seg::Var(name.to_string()));
            }
            "expansion" => {
                let parts = children(node);
                let named: Vec<&Node> = parts.iter().filter(|c| c.is_named()).collect();
                let plain =
                    parts.len() == 3 && named.len() == 1 && named[0].kind() == "variable_name";
                if plain {
                    word.segs
                        .push(Seg::Var(node_text(*named[0], src).to_string()));
                } else {
                    let taint = self.scan(node, src);
                    word.taint = word.taint.take().or(taint);
                    word.segs.push(Seg::Dyn(text.to_string(), None));
                }
            }
            "command_substitution" | "process_substitution" => {
                let output = self.block(node, src, &Stdin::Inherited);
                word.taint = word.taint.take().or(output.taint);
                let procsub = node.kind() == "process_substitution";
                word.procsub |= procsub;
                // `$(echo rm)`: when the output is known and one word, it is that word.
                let known = output
                    .literal
                    .as_deref()
                    .map(|l| l.trim_end_matches('\n'))
                    .filter(|l| !procsub && !l.is_empty() && !l.contains(char::is_whitespace));
                match known {
                    Some(value) => word.lit(value, true),
                    None => word.segs.push(Seg::Dyn(
                        text.to_string(),
                        output.literal.map(|l| l.trim_end_matches('\n').to_string()),
                    )),
                }
            }
            _ if !node.is_named() => word.unquoted(text),
            _ => {
                let taint = self.scan(node, src);
                word.taint = word.taint.take().or(taint);
                word.segs.push(Seg::Dyn(text.to_string(), None));
            }
        }
    }

    /// The download that wrote the file `word` names, if one did earlier in the script.
    pub fn downloaded_by(&self, word: &Word) -> Option<String> {
        let path = self.resolve(word).path?;
        self.downloaded
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, what)| what.clone())
    }
}

/// The depth of the tree under `root`, counted without recursion up to just past `MAX_TREE_DEPTH`.
fn tree_depth(root: Node) -> usize {
    let mut cursor = root.walk();
    let (mut depth, mut deepest) = (0, 0);
    loop {
        if cursor.goto_first_child() {
            depth += 1;
            deepest = deepest.max(depth);
            if deepest > MAX_TREE_DEPTH {
                return deepest;
            }
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return deepest;
            }
            depth -= 1;
        }
    }
}

/// Whether `node` contains a call of `name`.
fn calls(node: Node, src: &str, name: &str) -> bool {
    if node.kind() == "command_name" && node_text(node, src) == name {
        return true;
    }
    children(node).into_iter().any(|c| calls(c, src, name))
}

/// Variables whose value changes what later commands run or load.
pub(super) fn dangerous_variable(name: &str, value: Option<&Word>) -> Option<String> {
    let pager_value_ok = || {
        value.is_none_or(|v| {
            v.literal()
                .is_some_and(|t| matches!(t.as_str(), "" | "cat" | "less" | "more" | "less -R"))
        })
    };
    let dangerous = match name {
        "PAGER" | "GIT_PAGER" | "MANPAGER" | "SYSTEMD_PAGER" => !pager_value_ok(),
        "PATH"
        | "BASH_ENV"
        | "ENV"
        | "PROMPT_COMMAND"
        | "SHELLOPTS"
        | "BASHOPTS"
        | "PS4"
        | "LESSOPEN"
        | "LESSCLOSE"
        | "EDITOR"
        | "VISUAL"
        | "GIT_EDITOR"
        | "GIT_SEQUENCE_EDITOR"
        | "GIT_EXTERNAL_DIFF"
        | "GIT_SSH"
        | "GIT_SSH_COMMAND"
        | "GIT_ASKPASS"
        | "SSH_ASKPASS"
        | "GIT_EXEC_PATH"
        | "GIT_DIR"
        | "GIT_WORK_TREE"
        | "GIT_TEMPLATE_DIR"
        | "PYTHONSTARTUP"
        | "PYTHONPATH"
        | "PYTHONHOME"
        | "NODE_OPTIONS"
        | "PERL5OPT"
        | "PERL5LIB"
        | "RUBYOPT"
        | "RUBYLIB"
        | "BROWSER"
        | "HOME"
        | "CDPATH"
        | "GLOBIGNORE"
        | "SUDO_ASKPASS" => true,
        _ => name.starts_with("LD_") || name.starts_with("DYLD_") || name.starts_with("GIT_CONFIG"),
    };
    dangerous.then(|| format!("sets `{name}`, which changes what commands run or load"))
}

/// The strictest of `findings`, or an allow naming the commands that only read.
pub(super) fn combine(findings: Vec<Verdict>) -> Verdict {
    let strictest = findings
        .iter()
        .map(|f| f.decision)
        .max()
        .unwrap_or(Decision::Allow);
    if strictest == Decision::Allow {
        let mut names: Vec<String> = Vec::new();
        for f in &findings {
            if !f.command.is_empty() && !names.contains(&f.command) {
                names.push(f.command.clone());
            }
        }
        return match (findings.len(), names.len()) {
            (0, _) => Verdict::allow("", "nothing to run"),
            (1, _) => findings
                .into_iter()
                .next()
                .unwrap_or_else(|| Verdict::allow("", "")),
            (_, 0) => Verdict::allow("", "only reads"),
            (_, n) => {
                let mut list: Vec<String> =
                    names.iter().take(6).map(|c| format!("`{c}`")).collect();
                if n > 6 {
                    list.push(format!("and {} more", n - 6));
                }
                Verdict::allow("", format!("every part only reads: {}", list.join(", ")))
            }
        };
    }
    findings
        .into_iter()
        .find(|f| f.decision == strictest)
        .unwrap_or_else(|| Verdict::prompt("", "no reason recorded"))
}
