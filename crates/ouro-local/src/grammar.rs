//! GBNF grammars for tool calls, generated from the tools' JSON schemas.
//!
//! Small models rarely write a well-formed tool call on their own; constrained to a grammar
//! they nearly always do. [`tool_call_grammar`] builds one for the Hermes/Qwen2.5 layout the
//! chat template asks for:
//!
//! ```text
//! <tool_call>
//! {"name": "shell", "arguments": {"command": ["ls"]}}
//! </tool_call>
//! ```
//!
//! where `name` is one of the tools and `arguments` follows that tool's parameter schema;
//! and, since small models often leave out the tags, the same object bare or in a
//! ```` ```json ```` fence. It is meant to be used lazily: free text is unconstrained until
//! the output matches one of [`TRIGGER_PATTERNS`] (a `<tool_call>` tag, or a reply that
//! opens with a JSON object), after which the rest of the reply must be the call.
//!
//! One call per reply, then the end of the turn: a small model allowed more writes a chain
//! of calls that each assume the previous one's result (run the file, then create it; or
//! the same three calls over and over until the token limit), and the harness can only run
//! them blind. One at a time, every step sees the result of the last.
//!
//! [`schema_rule`] converts the JSON-schema subset ouro's tool schemas use (schemars'
//! output for plain Rust argument structs): `object` with `properties`, `required` and
//! `additionalProperties`, `string`, `number`, `integer`, `boolean`, `null`, `array` with
//! `items` (and `minItems`), `enum`, `const`, `anyOf`/`oneOf`, and type lists such as
//! `["string", "null"]`. Anything else (a `$ref`, `{}`) becomes "any JSON value", which is
//! looser but never rejects a valid call. Properties come in a fixed order: required ones
//! as `required` lists them, then the optional ones; properties not in the schema are not
//! allowed.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use ouro_protocol::ToolSpec;
use serde_json::{Map, Value};

/// The text that opens a tool call.
pub const TOOL_CALL_OPEN: &str = "<tool_call>";
/// The text that closes a tool call.
pub const TOOL_CALL_CLOSE: &str = "</tool_call>";

/// A GBNF grammar with its root rule and what switches it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grammar {
    pub gbnf: String,
    pub root: String,
    /// With lazy sampling, the grammar applies once one of these patterns matches the
    /// output, from the pattern's first capture group on.
    pub trigger_patterns: Vec<String>,
}

/// Whitespace between JSON tokens: none, a space, or a line break and some indentation.
/// Bounded so that a small model cannot wander off into endless blanks.
const SPACE_RULE: &str = r#"| " " | "\n" [ \t]{0,20}"#;
const STRING_RULE: &str = r#""\"" char* "\"" space"#;
const CHAR_RULE: &str = r#"[^"\\\x00-\x1F] | [\\] (["\\/bfnrt] | "u" [0-9a-fA-F]{4})"#;
const INTEGER_RULE: &str = r#""-"? ([0-9] | [1-9] [0-9]{0,15}) space"#;
const NATURAL_RULE: &str = r#"([0-9] | [1-9] [0-9]{0,15}) space"#;
const NUMBER_RULE: &str =
    r#""-"? ([0-9] | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})? space"#;
const BOOLEAN_RULE: &str = r#"("true" | "false") space"#;
const NULL_RULE: &str = r#""null" space"#;
const VALUE_RULE: &str = "object | array | string | number | boolean | null";
const OBJECT_RULE: &str =
    r#""{" space ( string ":" space value ("," space string ":" space value)* )? "}" space"#;
const ARRAY_RULE: &str = r#""[" space ( value ("," space value)* )? "]" space"#;

/// Regular expressions (ECMAScript, as llama.cpp's lazy grammars take them) that switch
/// the grammar on; it applies from the first capture group on. Besides the `<tool_call>`
/// tag anywhere, a reply that *starts* with a JSON object, a fenced one, or one wrapped in
/// `<tools>` (the tag of the tool list in the system prompt) is taken as a call: small
/// models often write calls that way, and unconstrained they get them wrong.
pub const TRIGGER_PATTERNS: [&str; 4] = [
    "(<tool_call>)",
    r"^\s*(\{)",
    r"^\s*(```(?:json)?\s*\{)",
    r"^\s*(<tools>)",
];

/// The grammar of one tool call to `tools`, in any of the layouts the triggers start:
///
/// * `<tool_call>{"name": …, "arguments": …}</tool_call>` (the template's);
/// * `{"name": …, "arguments": …}`;
/// * the same in a ```` ```json ```` fence, or between `<tools>` and `</tools>`.
///
/// Whitespace between the parts is free (bounded), so that whatever a trigger hands over
/// is a valid start; `name` must come first.
pub fn tool_call_grammar(tools: &[ToolSpec]) -> Grammar {
    let mut rules = Rules::default();
    let mut alternatives = Vec::new();
    for tool in tools {
        // `tool-` keeps tool rules apart from the structure's and the primitives'.
        let base = format!("tool-{}", rule_name(&tool.name));
        let args = schema_rule(&tool.parameters, &format!("{base}-args"), &mut rules);
        let call = rules.add(
            &base,
            format!(
                r#"{} space "," space "\"arguments\"" space ":" space {args}"#,
                json_literal(&Value::String(tool.name.clone())),
            ),
        );
        alternatives.push(call);
    }
    let calls = if alternatives.is_empty() {
        // No tools: nothing can follow a trigger. An impossible rule keeps the grammar
        // valid; the engine does not use a grammar without tools anyway.
        literal("\u{1}")
    } else {
        format!("( {} )", alternatives.join(" | "))
    };
    rules.primitive("space");
    let call = rules.add(
        "call",
        format!(r#""{{" space "\"name\"" space ":" space {calls} "}}" space"#),
    );
    let tagged = rules.add(
        "tagged-call",
        format!(
            "{} space {call} {} space",
            literal(TOOL_CALL_OPEN),
            literal(TOOL_CALL_CLOSE)
        ),
    );
    let root = rules.add(
        "root",
        format!(
            r#"{tagged} | {call} | "```" "json"? space {call} "```" | "<tools>" space {call} "</tools>""#
        ),
    );
    Grammar {
        gbnf: rules.finish(),
        root,
        trigger_patterns: TRIGGER_PATTERNS.iter().map(|p| p.to_string()).collect(),
    }
}

/// The rules of a grammar being built, in the order they were added, plus the shared
/// primitives the schema rules refer to.
#[derive(Debug, Default)]
pub struct Rules {
    rules: Vec<(String, String)>,
    names: BTreeSet<String>,
    primitives: BTreeSet<&'static str>,
}

impl Rules {
    /// Adds a rule under `name` (made unique) and returns the name used.
    pub fn add(&mut self, name: &str, body: String) -> String {
        let mut unique = name.to_string();
        let mut n = 1;
        while self.names.contains(&unique) || is_primitive(&unique) {
            n += 1;
            unique = format!("{name}-{n}");
        }
        self.names.insert(unique.clone());
        self.rules.push((unique.clone(), body));
        unique
    }

    /// Refers to a shared primitive rule, adding it (and what it needs) once.
    fn primitive(&mut self, name: &'static str) -> String {
        self.primitives.insert(name);
        self.primitives.insert("space");
        match name {
            "string" => {
                self.primitives.insert("char");
            }
            "value" | "object" | "array" => {
                for needed in [
                    "value", "object", "array", "string", "char", "number", "boolean", "null",
                ] {
                    self.primitives.insert(needed);
                }
            }
            _ => {}
        }
        name.to_string()
    }

    /// The grammar text: the rules in order, then the primitives.
    pub fn finish(mut self) -> String {
        self.primitives.insert("space");
        let mut out = String::new();
        for (name, body) in self.rules.iter().rev() {
            let _ = writeln!(out, "{name} ::= {body}");
        }
        for name in &self.primitives {
            let _ = writeln!(out, "{name} ::= {}", primitive_body(name));
        }
        out
    }
}

fn is_primitive(name: &str) -> bool {
    matches!(
        name,
        "space"
            | "string"
            | "char"
            | "integer"
            | "natural"
            | "number"
            | "boolean"
            | "null"
            | "value"
            | "object"
            | "array"
    )
}

fn primitive_body(name: &str) -> &'static str {
    match name {
        "space" => SPACE_RULE,
        "string" => STRING_RULE,
        "char" => CHAR_RULE,
        "integer" => INTEGER_RULE,
        "natural" => NATURAL_RULE,
        "number" => NUMBER_RULE,
        "boolean" => BOOLEAN_RULE,
        "null" => NULL_RULE,
        "object" => OBJECT_RULE,
        "array" => ARRAY_RULE,
        _ => VALUE_RULE,
    }
}

/// The rule for a value matching `schema`, named after `name` when it needs a rule of its
/// own; returns the rule's name (or a primitive's).
pub fn schema_rule(schema: &Value, name: &str, rules: &mut Rules) -> String {
    let Some(map) = schema.as_object() else {
        // `true`, or anything that is not a schema object: any value.
        return rules.primitive("value");
    };

    if let Some(value) = map.get("const") {
        return rules.add(name, format!("{} space", json_literal(value)));
    }
    if let Some(Value::Array(values)) = map.get("enum") {
        if values.is_empty() {
            return rules.primitive("value");
        }
        let alternatives: Vec<String> = values.iter().map(json_literal).collect();
        return rules.add(name, format!("( {} ) space", alternatives.join(" | ")));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = map.get(key) {
            if options.is_empty() {
                return rules.primitive("value");
            }
            let alternatives: Vec<String> = options
                .iter()
                .enumerate()
                .map(|(i, option)| {
                    // A variant inherits the parent's type keywords it does not set itself.
                    let merged = inherit(map, option);
                    schema_rule(&merged, &format!("{name}-{i}"), rules)
                })
                .collect();
            return rules.add(name, alternatives.join(" | "));
        }
    }

    let nullable = map.get("nullable").and_then(Value::as_bool) == Some(true);
    match map.get("type") {
        Some(Value::String(kind)) if !nullable => typed_rule(kind, map, name, rules),
        Some(Value::String(kind)) => {
            let inner = typed_rule(kind, map, &format!("{name}-value"), rules);
            let null = rules.primitive("null");
            rules.add(name, format!("{inner} | {null}"))
        }
        Some(Value::Array(kinds)) => {
            let mut alternatives: Vec<String> = kinds
                .iter()
                .filter_map(Value::as_str)
                .map(|kind| typed_rule(kind, map, &format!("{name}-{kind}"), rules))
                .collect();
            if nullable && !kinds.iter().any(|k| k == "null") {
                alternatives.push(rules.primitive("null"));
            }
            match alternatives.len() {
                0 => rules.primitive("value"),
                1 => alternatives.remove(0),
                _ => rules.add(name, alternatives.join(" | ")),
            }
        }
        _ if map.contains_key("properties") => typed_rule("object", map, name, rules),
        _ if map.contains_key("items") => typed_rule("array", map, name, rules),
        _ => rules.primitive("value"),
    }
}

/// `option` with the type keywords of `parent` it lacks (schemars writes
/// `{"type": "string", "oneOf": [{"const": "a"}, …]}`).
fn inherit(parent: &Map<String, Value>, option: &Value) -> Value {
    let Some(option_map) = option.as_object() else {
        return option.clone();
    };
    let mut merged = option_map.clone();
    for key in [
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
    ] {
        if let (Some(value), false) = (parent.get(key), merged.contains_key(key)) {
            merged.insert(key.to_string(), value.clone());
        }
    }
    Value::Object(merged)
}

fn typed_rule(kind: &str, map: &Map<String, Value>, name: &str, rules: &mut Rules) -> String {
    match kind {
        "string" => rules.primitive("string"),
        "integer" => {
            let non_negative = map
                .get("minimum")
                .and_then(Value::as_f64)
                .is_some_and(|min| min >= 0.0);
            rules.primitive(if non_negative { "natural" } else { "integer" })
        }
        "number" => rules.primitive("number"),
        "boolean" => rules.primitive("boolean"),
        "null" => rules.primitive("null"),
        "array" => {
            let item = match map.get("items") {
                Some(items) => schema_rule(items, &format!("{name}-item"), rules),
                None => rules.primitive("value"),
            };
            let min_items = map.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            let body = if min_items > 0 {
                format!(r#""[" space {item} ("," space {item})* "]" space"#)
            } else {
                format!(r#""[" space ( {item} ("," space {item})* )? "]" space"#)
            };
            rules.add(name, body)
        }
        "object" => object_rule(map, name, rules),
        _ => rules.primitive("value"),
    }
}

fn object_rule(map: &Map<String, Value>, name: &str, rules: &mut Rules) -> String {
    let properties = map.get("properties").and_then(Value::as_object);
    let additional = map.get("additionalProperties");
    let Some(properties) = properties.filter(|p| !p.is_empty()) else {
        return match additional {
            Some(Value::Bool(false)) => rules.add(name, r#""{" space "}" space"#.to_string()),
            Some(schema @ Value::Object(_)) => {
                let string = rules.primitive("string");
                let value = schema_rule(schema, &format!("{name}-value"), rules);
                let entry = format!(r#"{string} ":" space {value}"#);
                rules.add(
                    name,
                    format!(r#""{{" space ( {entry} ("," space {entry})* )? "}}" space"#),
                )
            }
            _ => rules.primitive("object"),
        };
    };
    // Required properties in the order `required` lists them (schemars: declaration order),
    // then the optional ones in the order of `properties`.
    let mut order: Vec<&str> = Vec::new();
    if let Some(names) = map.get("required").and_then(Value::as_array) {
        for name in names.iter().filter_map(Value::as_str) {
            if properties.contains_key(name) && !order.contains(&name) {
                order.push(name);
            }
        }
    }
    let required_count = order.len();
    for key in properties.keys() {
        if !order.contains(&key.as_str()) {
            order.push(key);
        }
    }

    // One rule per property: `"key" ":" space value`.
    let mut required_pairs = Vec::new();
    let mut optional_pairs = Vec::new();
    for (i, key) in order.into_iter().enumerate() {
        let schema = &properties[key];
        let value = schema_rule(schema, &format!("{name}-{}", rule_name(key)), rules);
        let pair = rules.add(
            &format!("{name}-{}-kv", rule_name(key)),
            format!(
                r#"{} space ":" space {value}"#,
                json_literal(&Value::String(key.to_string()))
            ),
        );
        if i < required_count {
            required_pairs.push(pair);
        } else {
            optional_pairs.push(pair);
        }
    }

    let mut body = String::from(r#""{" space "#);
    if required_pairs.is_empty() {
        // Any subset of the optional properties, in order: the first one present needs no
        // comma, each later one does.
        let alternatives: Vec<String> = (0..optional_pairs.len())
            .map(|first| {
                let mut alt = optional_pairs[first].clone();
                for later in &optional_pairs[first + 1..] {
                    let _ = write!(alt, r#" ( "," space {later} )?"#);
                }
                alt
            })
            .collect();
        let _ = write!(body, "( {} )?", alternatives.join(" | "));
    } else {
        body.push_str(&required_pairs.join(r#" "," space "#));
        for pair in &optional_pairs {
            let _ = write!(body, r#" ( "," space {pair} )?"#);
        }
    }
    body.push_str(r#" "}" space"#);
    rules.add(name, body)
}

/// A rule name from free text: letters, digits and dashes.
fn rule_name(text: &str) -> String {
    let name: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if name.is_empty() {
        "x".into()
    } else {
        name
    }
}

/// A GBNF literal matching exactly `value`'s compact JSON text.
fn json_literal(value: &Value) -> String {
    literal(&value.to_string())
}

/// A GBNF string literal matching exactly `text`.
pub fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
