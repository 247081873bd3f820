//! The schemas the model sees. Each matches the serde type its handler parses.

use ouro_protocol::ToolSpec;
use serde::Deserialize;
use serde_json::json;

pub(crate) fn shell() -> ToolSpec {
    ToolSpec {
        name: "shell".into(),
        description: "Runs a command in the workspace and returns its exit code and output \
            (stdout and stderr interleaved; long output keeps its head and tail). Use \
            [\"bash\", \"-lc\", \"...\"] for pipes, redirections and globbing. Stdin is closed."
            .into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "command": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "The program and its arguments, e.g. [\"cargo\", \"test\"]."
                },
                "workdir": {
                    "type": "string",
                    "description": "Directory to run in, relative to the workspace root. Defaults to the root."
                },
                "timeout_ms": {
                    "type": "number",
                    "description": "Kill the command (and everything it started) after this many milliseconds."
                }
            },
            "required": ["command"],
            "additionalProperties": false
        }),
    }
}

pub(crate) fn apply_patch() -> ToolSpec {
    ToolSpec {
        name: "apply_patch".into(),
        description: r#"Edits files with a patch. The whole patch applies or nothing does.
Format:
*** Begin Patch
*** Add File: path/to/new.txt
+each line of the new file, prefixed with +
*** Update File: path/to/existing.rs
*** Move to: path/to/renamed.rs   (optional)
@@ fn name_of_enclosing_function   (optional anchor)
 unchanged context line (prefix: one space)
-line to remove
+line to add
*** Delete File: path/to/obsolete.txt
*** End Patch
Give about three lines of context around each change; paths are relative to the workspace root."#
            .into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "input": {"type": "string", "description": "The entire patch, from *** Begin Patch to *** End Patch."}
            },
            "required": ["input"],
            "additionalProperties": false
        }),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyPatchArgs {
    input: String,
}

pub(crate) fn parse_apply_patch_args(arguments: &str) -> Result<String, String> {
    serde_json::from_str::<ApplyPatchArgs>(arguments)
        .map(|args| args.input)
        .map_err(|e| {
            format!(
                "invalid arguments for `apply_patch`: {e}. Expected JSON like \
                 {{\"input\": \"*** Begin Patch\\n*** Add File: a.txt\\n+hello\\n*** End Patch\"}}"
            )
        })
}
