use super::*;
use proptest::prelude::*;
use serde_json::json;

pub(crate) use matcher::Gbnf;

/// A small GBNF interpreter, enough to check the grammars this module writes without
/// llama.cpp (the model tests compile them in llama.cpp too).
pub(crate) mod matcher {
    use std::collections::{BTreeSet, HashMap};

    #[derive(Debug, Clone)]
    enum Expr {
        Seq(Vec<Expr>),
        Alt(Vec<Expr>),
        Lit(Vec<char>),
        Class {
            negated: bool,
            ranges: Vec<(char, char)>,
        },
        Ref(String),
        Repeat(Box<Expr>, usize, Option<usize>),
    }

    #[derive(Debug)]
    pub struct Gbnf {
        rules: HashMap<String, Expr>,
    }

    impl Gbnf {
        pub fn parse(text: &str) -> Result<Gbnf, String> {
            let mut rules = HashMap::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let (name, body) = line
                    .split_once(" ::= ")
                    .ok_or_else(|| format!("not a rule: {line}"))?;
                let chars: Vec<char> = body.chars().collect();
                let mut pos = 0;
                let expr = alt(&chars, &mut pos)?;
                skip_ws(&chars, &mut pos);
                if pos != chars.len() {
                    return Err(format!("trailing text in {line} at {pos}"));
                }
                if rules.insert(name.trim().to_string(), expr).is_some() {
                    return Err(format!("rule {name} defined twice"));
                }
            }
            let gbnf = Gbnf { rules };
            for expr in gbnf.rules.values() {
                gbnf.check_refs(expr)?;
            }
            Ok(gbnf)
        }

        fn check_refs(&self, expr: &Expr) -> Result<(), String> {
            match expr {
                Expr::Seq(items) | Expr::Alt(items) => {
                    items.iter().try_for_each(|e| self.check_refs(e))
                }
                Expr::Repeat(inner, ..) => self.check_refs(inner),
                Expr::Ref(name) if !self.rules.contains_key(name) => {
                    Err(format!("undefined rule {name}"))
                }
                _ => Ok(()),
            }
        }

        pub fn matches(&self, root: &str, text: &str) -> bool {
            let chars: Vec<char> = text.chars().collect();
            let Some(expr) = self.rules.get(root) else {
                return false;
            };
            self.ends(expr, &chars, 0).contains(&chars.len())
        }

        fn ends(&self, expr: &Expr, text: &[char], pos: usize) -> BTreeSet<usize> {
            let mut out = BTreeSet::new();
            match expr {
                Expr::Lit(lit) => {
                    if text[pos..].starts_with(lit) {
                        out.insert(pos + lit.len());
                    }
                }
                Expr::Class { negated, ranges } => {
                    if let Some(&c) = text.get(pos) {
                        let inside = ranges.iter().any(|&(a, b)| a <= c && c <= b);
                        if inside != *negated {
                            out.insert(pos + 1);
                        }
                    }
                }
                Expr::Ref(name) => return self.ends(&self.rules[name], text, pos),
                Expr::Alt(options) => {
                    for option in options {
                        out.extend(self.ends(option, text, pos));
                    }
                }
                Expr::Seq(items) => {
                    let mut current = BTreeSet::from([pos]);
                    for item in items {
                        let mut next = BTreeSet::new();
                        for &p in &current {
                            next.extend(self.ends(item, text, p));
                        }
                        current = next;
                        if current.is_empty() {
                            break;
                        }
                    }
                    out = current;
                }
                Expr::Repeat(inner, min, max) => {
                    let mut current = BTreeSet::from([pos]);
                    let mut count = 0;
                    if *min == 0 {
                        out.insert(pos);
                    }
                    while !current.is_empty() && max.is_none_or(|m| count < m) {
                        let mut next = BTreeSet::new();
                        for &p in &current {
                            // Only progress counts, so that empty matches cannot loop.
                            next.extend(self.ends(inner, text, p).into_iter().filter(|&e| e > p));
                        }
                        count += 1;
                        if count >= *min {
                            let fresh: BTreeSet<usize> = next.difference(&out).copied().collect();
                            out.extend(fresh.iter().copied());
                            current = if max.is_none() { fresh } else { next };
                        } else {
                            current = next;
                        }
                    }
                }
            }
            out
        }
    }

    fn skip_ws(chars: &[char], pos: &mut usize) {
        while *pos < chars.len() && chars[*pos] == ' ' {
            *pos += 1;
        }
    }

    fn alt(chars: &[char], pos: &mut usize) -> Result<Expr, String> {
        let mut options = vec![seq(chars, pos)?];
        loop {
            skip_ws(chars, pos);
            if chars.get(*pos) == Some(&'|') {
                *pos += 1;
                options.push(seq(chars, pos)?);
            } else {
                break;
            }
        }
        Ok(if options.len() == 1 {
            options.remove(0)
        } else {
            Expr::Alt(options)
        })
    }

    fn seq(chars: &[char], pos: &mut usize) -> Result<Expr, String> {
        let mut items = Vec::new();
        loop {
            skip_ws(chars, pos);
            match chars.get(*pos) {
                None | Some('|') | Some(')') => break,
                _ => {
                    let atom = atom(chars, pos)?;
                    items.push(postfix(chars, pos, atom)?);
                }
            }
        }
        Ok(Expr::Seq(items))
    }

    fn escape(chars: &[char], pos: &mut usize) -> Result<char, String> {
        let c = *chars.get(*pos).ok_or("escape at end")?;
        *pos += 1;
        Ok(match c {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'x' => {
                let hex: String = chars[*pos..*pos + 2].iter().collect();
                *pos += 2;
                char::from_u32(u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?)
                    .ok_or("bad \\x")?
            }
            other => other,
        })
    }

    fn atom(chars: &[char], pos: &mut usize) -> Result<Expr, String> {
        match chars[*pos] {
            '"' => {
                *pos += 1;
                let mut lit = Vec::new();
                loop {
                    let c = *chars.get(*pos).ok_or("unterminated literal")?;
                    *pos += 1;
                    match c {
                        '"' => break,
                        '\\' => lit.push(escape(chars, pos)?),
                        c => lit.push(c),
                    }
                }
                Ok(Expr::Lit(lit))
            }
            '[' => {
                *pos += 1;
                let negated = chars.get(*pos) == Some(&'^');
                if negated {
                    *pos += 1;
                }
                let mut ranges = Vec::new();
                loop {
                    let c = *chars.get(*pos).ok_or("unterminated class")?;
                    *pos += 1;
                    let start = match c {
                        ']' => break,
                        '\\' => escape(chars, pos)?,
                        c => c,
                    };
                    if chars.get(*pos) == Some(&'-') && chars.get(*pos + 1) != Some(&']') {
                        *pos += 1;
                        let c = chars[*pos];
                        *pos += 1;
                        let end = if c == '\\' { escape(chars, pos)? } else { c };
                        ranges.push((start, end));
                    } else {
                        ranges.push((start, start));
                    }
                }
                Ok(Expr::Class { negated, ranges })
            }
            '(' => {
                *pos += 1;
                let inner = alt(chars, pos)?;
                skip_ws(chars, pos);
                if chars.get(*pos) != Some(&')') {
                    return Err(format!("expected ) at {pos}"));
                }
                *pos += 1;
                Ok(inner)
            }
            c if c.is_ascii_alphanumeric() || c == '-' => {
                let start = *pos;
                while *pos < chars.len()
                    && (chars[*pos].is_ascii_alphanumeric() || chars[*pos] == '-')
                {
                    *pos += 1;
                }
                Ok(Expr::Ref(chars[start..*pos].iter().collect()))
            }
            c => Err(format!("unexpected {c:?} at {pos}")),
        }
    }

    fn postfix(chars: &[char], pos: &mut usize, mut expr: Expr) -> Result<Expr, String> {
        loop {
            expr = match chars.get(*pos) {
                Some('*') => Expr::Repeat(Box::new(expr), 0, None),
                Some('+') => Expr::Repeat(Box::new(expr), 1, None),
                Some('?') => Expr::Repeat(Box::new(expr), 0, Some(1)),
                Some('{') => {
                    let end = chars[*pos..]
                        .iter()
                        .position(|&c| c == '}')
                        .ok_or("unterminated {")?;
                    let spec: String = chars[*pos + 1..*pos + end].iter().collect();
                    *pos += end;
                    let (min, max) = match spec.split_once(',') {
                        Some((a, b)) => (
                            a.trim().parse().map_err(|_| "bad {")?,
                            if b.trim().is_empty() {
                                None
                            } else {
                                Some(b.trim().parse().map_err(|_| "bad {")?)
                            },
                        ),
                        None => {
                            let n = spec.trim().parse().map_err(|_| "bad {")?;
                            (n, Some(n))
                        }
                    };
                    Expr::Repeat(Box::new(expr), min, max)
                }
                _ => return Ok(expr),
            };
            *pos += 1;
        }
    }
}

fn shell_tool() -> ToolSpec {
    ToolSpec {
        name: "shell".into(),
        description: "Runs a command.".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "command": {"type": "array", "items": {"type": "string"}},
                "workdir": {"type": ["string", "null"], "default": null},
                "timeout_ms": {"type": ["integer", "null"], "format": "uint64", "minimum": 0},
                "with_escalated_permissions": {"type": ["boolean", "null"]}
            },
            "required": ["command"],
            "additionalProperties": false
        }),
    }
}

fn plan_tool() -> ToolSpec {
    ToolSpec {
        name: "update_plan".into(),
        description: "Records the plan.".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "explanation": {"type": ["string", "null"]},
                "plan": {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "step": {"type": "string"},
                        "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]}
                    },
                    "required": ["step", "status"],
                    "additionalProperties": false
                }}
            },
            "required": ["plan"],
            "additionalProperties": false
        }),
    }
}

fn read_tool() -> ToolSpec {
    ToolSpec {
        name: "read_file".into(),
        description: "Reads a file.".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "offset": {"type": "integer", "minimum": 1},
                "limit": {"type": "number"}
            }
        }),
    }
}

fn call(name: &str, args: &str) -> String {
    format!("<tool_call>\n{{\"name\": \"{name}\", \"arguments\": {args}}}\n</tool_call>")
}

fn grammar() -> (Gbnf, Grammar) {
    let grammar = tool_call_grammar(&[shell_tool(), plan_tool(), read_tool()]);
    let gbnf = Gbnf::parse(&grammar.gbnf).unwrap_or_else(|e| panic!("{e}\n{}", grammar.gbnf));
    (gbnf, grammar)
}

#[test]
fn accepts_well_formed_calls() {
    let (gbnf, grammar) = grammar();
    let ok = [
        call("shell", r#"{"command": ["ls", "-la"]}"#),
        call("shell", r#"{"command":["ls"]}"#),
        call(
            "shell",
            r#"{"command": ["bash", "-lc", "echo \"hi\" > a.txt\n"], "timeout_ms": 1000, "workdir": null}"#,
        ),
        call(
            "shell",
            r#"{"command": [], "with_escalated_permissions": true}"#,
        ),
        call(
            "shell",
            "{\n  \"command\": [\n    \"ls\"\n  ],\n  \"workdir\": \"src\"\n}",
        ),
        call(
            "update_plan",
            r#"{"plan": [{"step": "Read", "status": "in_progress"}, {"step": "Fix", "status": "pending"}]}"#,
        ),
        call("read_file", "{}"),
        call("read_file", r#"{"path": "a.rs"}"#),
        call("read_file", r#"{"limit": -2.5e3, "offset": 3}"#),
        call("read_file", r#"{"limit": 0, "path": "\u00e9\\x"}"#),
    ];
    for text in &ok {
        assert!(
            gbnf.matches(&grammar.root, text),
            "rejected:\n{text}\n{}",
            grammar.gbnf
        );
    }
}

#[test]
fn rejects_malformed_calls() {
    let (gbnf, grammar) = grammar();
    let bad = [
        // unknown tool, missing required property, extra property, wrong types
        call("rm", r#"{"command": ["ls"]}"#),
        call("shell", r#"{"workdir": "x"}"#),
        call("shell", r#"{"command": ["ls"], "force": true}"#),
        call("shell", r#"{"command": "ls"}"#),
        call("shell", r#"{"command": ["ls"], "timeout_ms": -5}"#),
        call("shell", r#"{"command": ["ls"], "timeout_ms": 1.5}"#),
        call(
            "update_plan",
            r#"{"plan": [{"step": "Read", "status": "doing"}]}"#,
        ),
        call("read_file", r#"{"path": "a", "offset": 3}"#), // out of order
        // not JSON, raw control characters, unterminated, trailing text
        call("shell", r#"{"command": ['ls']}"#),
        call("shell", "{\"command\": [\"a\tb\"]}"),
        "<tool_call>\n{\"name\": \"shell\", \"arguments\": {\"command\": [\"ls\"]}}".to_string(),
        format!("{} done", call("read_file", "{}")),
        "Sure, here it is.".to_string(),
        // name first; nothing after the calls; no text before a bare call
        "<tool_call>{\"arguments\": {}, \"name\": \"read_file\"}</tool_call>".to_string(),
        "{\"name\": \"read_file\", \"arguments\": {}} ok".to_string(),
        "Calling: {\"name\": \"read_file\", \"arguments\": {}}".to_string(),
        "```json\n{\"name\": \"read_file\", \"arguments\": {}}\n".to_string(),
        // one call per reply
        format!(
            "{}\n{}",
            call("read_file", r#"{"path": "a"}"#),
            call("shell", r#"{"command": ["cat", "a"]}"#)
        ),
        "{\"name\":\"read_file\",\"arguments\":{}}\n{\"name\": \"read_file\", \"arguments\": {}}"
            .to_string(),
    ];
    for text in &bad {
        assert!(!gbnf.matches(&grammar.root, text), "accepted:\n{text}");
    }
}

#[test]
fn bare_fenced_and_loosely_spaced_calls() {
    let (gbnf, grammar) = grammar();
    let ok = [
        r#"<tool_call>{"name": "read_file", "arguments": {}}</tool_call>"#.to_string(),
        "<tool_call>\n{\n  \"name\": \"read_file\",\n  \"arguments\": {}\n}\n</tool_call>\n".into(),
        r#"{"name": "shell", "arguments": {"command": ["ls"]}}"#.into(),
        "```json\n{\"name\": \"read_file\", \"arguments\": {}}\n```".into(),
        "```{\"name\": \"read_file\", \"arguments\": {}}```".into(),
        "<tools>\n{\"name\": \"read_file\", \"arguments\": {}}\n</tools>".into(),
    ];
    for text in &ok {
        assert!(gbnf.matches(&grammar.root, text), "rejected:\n{text}");
    }
    assert_eq!(grammar.trigger_patterns.len(), 4);
}

#[test]
fn gbnf_text_is_stable_and_readable() {
    let grammar = tool_call_grammar(&[read_tool()]);
    let expected = r#"root ::= tagged-call | call | "```" "json"? space call "```" | "<tools>" space call "</tools>"
tagged-call ::= "<tool_call>" space call "</tool_call>" space
call ::= "{" space "\"name\"" space ":" space ( tool-read-file ) "}" space
tool-read-file ::= "\"read_file\"" space "," space "\"arguments\"" space ":" space tool-read-file-args
tool-read-file-args ::= "{" space ( tool-read-file-args-limit-kv ( "," space tool-read-file-args-offset-kv )? ( "," space tool-read-file-args-path-kv )? | tool-read-file-args-offset-kv ( "," space tool-read-file-args-path-kv )? | tool-read-file-args-path-kv )? "}" space
tool-read-file-args-path-kv ::= "\"path\"" space ":" space string
tool-read-file-args-offset-kv ::= "\"offset\"" space ":" space natural
tool-read-file-args-limit-kv ::= "\"limit\"" space ":" space number
char ::= [^"\\\x00-\x1F] | [\\] (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
natural ::= ([0-9] | [1-9] [0-9]{0,15}) space
number ::= "-"? ([0-9] | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})? space
space ::= | " " | "\n" [ \t]{0,20}
string ::= "\"" char* "\"" space
"#;
    assert_eq!(grammar.gbnf, expected);
    assert_eq!(grammar.trigger_patterns[0], "(<tool_call>)");
}

#[test]
fn schema_keywords_beyond_the_basics() {
    let cases = [
        (json!({"const": "x"}), vec![r#""x""#], vec![r#""y""#]),
        (
            json!({"type": "string", "oneOf": [{"const": "a"}, {"const": "b"}]}),
            vec![r#""a""#, r#""b""#],
            vec![r#""c""#],
        ),
        (
            json!({"anyOf": [{"type": "integer"}, {"type": "null"}]}),
            vec!["-3", "null"],
            vec!["\"3\""],
        ),
        (
            json!({"type": "string", "nullable": true}),
            vec![r#""s""#, "null"],
            vec!["1"],
        ),
        (
            json!({"type": "array", "items": {"type": "boolean"}, "minItems": 1}),
            vec!["[true]", "[true, false]"],
            vec!["[]"],
        ),
        (
            json!({"type": "object", "additionalProperties": {"type": "integer"}}),
            vec!["{}", r#"{"a": 1, "b": 2}"#],
            vec![r#"{"a": "x"}"#],
        ),
        (
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
            vec!["{}"],
            vec![r#"{"a": 1}"#],
        ),
        (
            json!({"$ref": "#/definitions/X"}),
            vec!["{}", "[1, {\"a\": null}]", "\"s\"", "2.5"],
            vec!["nul"],
        ),
        (
            json!({"enum": [1, "two", null, {"k": [true]}]}),
            vec!["1", "\"two\"", "null", "{\"k\":[true]}"],
            vec!["2"],
        ),
    ];
    for (schema, accepted, rejected) in cases {
        let mut rules = Rules::default();
        let root = schema_rule(&schema, "value-root", &mut rules);
        rules.add("root", root);
        let text = rules.finish();
        let gbnf = Gbnf::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        for ok in accepted {
            assert!(gbnf.matches("root", ok), "{schema}: rejected {ok}\n{text}");
        }
        for bad in rejected {
            assert!(
                !gbnf.matches("root", bad),
                "{schema}: accepted {bad}\n{text}"
            );
        }
    }
}

#[test]
fn literals_escape_what_gbnf_needs() {
    assert_eq!(literal("a\"b\\c\nd\te\u{1}"), r#""a\"b\\c\nd\te\x01""#);
    let mut rules = Rules::default();
    rules.add("root", literal("q\"\\\n\u{7f}é"));
    let gbnf = Gbnf::parse(&rules.finish()).unwrap();
    assert!(gbnf.matches("root", "q\"\\\n\u{7f}é"));
}

#[test]
fn odd_tool_names_get_valid_rule_names() {
    let tool = ToolSpec {
        name: "mcp.server/do it".into(),
        description: String::new(),
        parameters: json!({"type": "object", "properties": {"a b": {"type": "string"}}, "required": ["a b"]}),
    };
    let grammar = tool_call_grammar(&[tool.clone(), tool]);
    let gbnf = Gbnf::parse(&grammar.gbnf).unwrap_or_else(|e| panic!("{e}\n{}", grammar.gbnf));
    assert!(gbnf.matches("root", &call("mcp.server/do it", r#"{"a b": "x"}"#)));
}

/// The JSON text of a minimal value for `schema`: required properties only (in the order
/// `required` lists them), first enum value, one item per array.
pub(crate) fn example(schema: &Value) -> String {
    let Some(map) = schema.as_object() else {
        return "null".into();
    };
    if let Some(value) = map.get("const") {
        return value.to_string();
    }
    if let Some(Value::Array(values)) = map.get("enum") {
        return values.first().cloned().unwrap_or(Value::Null).to_string();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = map.get(key) {
            if let Some(first) = options.first() {
                return example(&inherit(map, first));
            }
        }
    }
    let kind = match map.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .next()
            .unwrap_or("null"),
        _ if map.contains_key("properties") => "object",
        _ => "null",
    };
    match kind {
        "string" => json!("some \"text\"\nwith lines").to_string(),
        "integer" => "7".into(),
        "number" => "1.5".into(),
        "boolean" => "true".into(),
        "array" => format!("[{}]", example(map.get("items").unwrap_or(&json!({})))),
        "object" => {
            let properties = map.get("properties").and_then(Value::as_object);
            let fields: Vec<String> = map
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter_map(|key| {
                    let schema = properties?.get(key)?;
                    Some(format!("{}: {}", json!(key), example(schema)))
                })
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        _ => "null".into(),
    }
}

#[test]
fn ouros_real_tool_schemas() {
    for edit in [
        ouro_tools::EditTool::ApplyPatch,
        ouro_tools::EditTool::Edit,
        ouro_tools::EditTool::Whole,
    ] {
        let specs = ouro_tools::ToolRegistry::new(edit).specs();
        let grammar = tool_call_grammar(&specs);
        let gbnf = Gbnf::parse(&grammar.gbnf).unwrap_or_else(|e| panic!("{e}\n{}", grammar.gbnf));
        // Nothing in ouro's schemas needs the any-value fallback.
        assert!(!grammar.gbnf.contains("value ::="), "{}", grammar.gbnf);
        for spec in &specs {
            let args = example(&spec.parameters);
            let text = call(&spec.name, &args);
            assert!(
                gbnf.matches("root", &text),
                "{}: rejected {text}\n{}",
                spec.name,
                grammar.gbnf
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_string_argument_is_accepted(command in proptest::collection::vec(".{0,12}", 0..3), workdir in proptest::option::of("\\PC{0,8}")) {
        let (gbnf, grammar) = grammar();
        let args = json!({"command": command, "workdir": workdir});
        prop_assert!(gbnf.matches(&grammar.root, &call("shell", &args.to_string())));
    }
}
