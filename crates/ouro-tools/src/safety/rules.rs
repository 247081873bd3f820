//! User and project rules: `[[rule]]` tables in `rules.toml` that decide for the simple
//! commands they match.
//!
//! ```toml
//! [[rule]]
//! pattern = ["git", ["push", "pull"]]   # an argv prefix; a list element is a set of alternatives
//! decision = "prompt"                   # allow | prompt | forbid
//! reason = "talks to the remote"
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::Decision;

/// One element of a pattern: a word, or a set of alternatives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternElement {
    One(String),
    Any(Vec<String>),
}

impl PatternElement {
    fn matches(&self, word: &str, first: bool) -> bool {
        let same = |p: &str| {
            p == word || (first && basename(p) == basename(word) && !basename(word).is_empty())
        };
        match self {
            PatternElement::One(p) => same(p),
            PatternElement::Any(ps) => ps.iter().any(|p| same(p)),
        }
    }
}

impl fmt::Display for PatternElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternElement::One(p) => write!(f, "{p:?}"),
            PatternElement::Any(ps) => {
                let parts: Vec<String> = ps.iter().map(|p| format!("{p:?}")).collect();
                write!(f, "[{}]", parts.join(", "))
            }
        }
    }
}

fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// One rule, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub pattern: Vec<PatternElement>,
    pub decision: Decision,
    pub reason: String,
    pub source: PathBuf,
    pub line: usize,
}

impl Rule {
    fn matches(&self, argv: &[String]) -> bool {
        self.pattern.len() <= argv.len()
            && self
                .pattern
                .iter()
                .zip(argv)
                .enumerate()
                .all(|(i, (p, w))| p.matches(w, i == 0))
    }

    /// The pattern as written, e.g. `["git", ["push", "pull"]]`.
    pub fn pattern_text(&self) -> String {
        let parts: Vec<String> = self.pattern.iter().map(|p| p.to_string()).collect();
        format!("[{}]", parts.join(", "))
    }
}

/// The rule that matched a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleMatch {
    pub decision: Decision,
    pub reason: String,
    /// The file the rule is in.
    pub source: PathBuf,
    /// Its line there.
    pub line: usize,
    /// Its pattern, as written.
    pub pattern: String,
}

impl RuleMatch {
    /// `file:line pattern [...]`, for messages.
    pub fn location(&self) -> String {
        format!(
            "{}:{}, pattern {}",
            self.source.display(),
            self.line,
            self.pattern
        )
    }
}

/// All rules in force, in the order their files were given.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    pattern: Spanned<toml::Value>,
    decision: Spanned<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |before| before.matches('\n').count() + 1)
}

impl Rules {
    /// Loads the rules of `paths`, in order; a missing file holds no rules. Errors name the
    /// file, the line and the key.
    pub fn load(paths: &[PathBuf]) -> Result<Rules, String> {
        let mut rules = Vec::new();
        for path in paths {
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
            };
            rules.extend(Rules::parse(&text, path)?);
        }
        Ok(Rules { rules })
    }

    /// The rules in force in `workspace`: the user's own `$OURO_HOME/rules.toml`, then the
    /// workspace's `.ouro/rules.toml`. A workspace's rules arrive with its code, from
    /// whoever wrote it, so they may only make commands stricter: their `allow` rules are
    /// dropped.
    pub fn for_workspace(ouro_home: &Path, workspace: &Path) -> Result<Rules, String> {
        let mut rules = Rules::load(&[ouro_home.join("rules.toml")])?.rules;
        let project = Rules::load(&[workspace.join(".ouro").join("rules.toml")])?;
        rules.extend(
            project
                .rules
                .into_iter()
                .filter(|rule| rule.decision != Decision::Allow),
        );
        Ok(Rules { rules })
    }

    /// Parses the text of one rules file; `source` names it in rules and errors.
    pub fn parse(text: &str, source: &Path) -> Result<Vec<Rule>, String> {
        let file: RulesFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            format!("{}:{line}: {}", source.display(), e.message().trim_end())
        })?;
        let mut rules = Vec::new();
        for (n, raw) in file.rule.into_iter().enumerate() {
            let rule_line = line_of(text, raw.span().start);
            let raw = raw.into_inner();
            let error = |span: std::ops::Range<usize>, key: &str, message: String| {
                format!(
                    "{}:{}: rule #{} (line {rule_line}), key `{key}`: {message}",
                    source.display(),
                    line_of(text, span.start),
                    n + 1
                )
            };
            let decision_span = raw.decision.span();
            let decision: Decision = raw
                .decision
                .into_inner()
                .parse()
                .map_err(|e| error(decision_span, "decision", e))?;
            let pattern_span = raw.pattern.span();
            let pattern = parse_pattern(raw.pattern.get_ref())
                .map_err(|e| error(pattern_span, "pattern", e))?;
            rules.push(Rule {
                pattern,
                decision,
                reason: raw
                    .reason
                    .unwrap_or_else(|| format!("rule in {}", source.display())),
                source: source.to_path_buf(),
                line: rule_line,
            });
        }
        Ok(rules)
    }

    pub fn from_rules(rules: Vec<Rule>) -> Rules {
        Rules { rules }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The most restrictive rule whose pattern is a prefix of `argv` (the first on a tie).
    pub fn check(&self, argv: &[String]) -> Option<RuleMatch> {
        let mut best: Option<&Rule> = None;
        for rule in &self.rules {
            if rule.matches(argv) && best.is_none_or(|b| rule.decision > b.decision) {
                best = Some(rule);
            }
        }
        best.map(|rule| RuleMatch {
            decision: rule.decision,
            reason: rule.reason.clone(),
            source: rule.source.clone(),
            line: rule.line,
            pattern: rule.pattern_text(),
        })
    }
}

fn parse_pattern(value: &toml::Value) -> Result<Vec<PatternElement>, String> {
    let shape = "must be a list of words or of lists of alternative words, e.g. [\"git\", [\"push\", \"pull\"]]";
    let toml::Value::Array(items) = value else {
        return Err(format!("{shape}, not a {}", value.type_str()));
    };
    if items.is_empty() {
        return Err("must not be empty".into());
    }
    items
        .iter()
        .map(|item| match item {
            toml::Value::String(s) if !s.is_empty() => Ok(PatternElement::One(s.clone())),
            toml::Value::Array(alternatives) if !alternatives.is_empty() => alternatives
                .iter()
                .map(|a| match a {
                    toml::Value::String(s) if !s.is_empty() => Ok(s.clone()),
                    other => Err(format!(
                        "{shape}; found {} among alternatives",
                        describe(other)
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(PatternElement::Any),
            other => Err(format!("{shape}; found {}", describe(other))),
        })
        .collect()
}

fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) if s.is_empty() => "an empty string".into(),
        toml::Value::Array(a) if a.is_empty() => "an empty list".into(),
        other => format!("a {}", other.type_str()),
    }
}
